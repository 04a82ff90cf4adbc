//! Target 2, the debugger differential (after "Who's debugging the
//! debuggers?", Di Luna et al., PLDI 2021): a csmith program is built with
//! clang natively and for wasm32-wasi at -O0 and stepped through `func_1`
//! line by line, natively under gdb (the reference) and on wasm under
//! `wasmscope gdb` and through `wasmscope dap`. At every stop the
//! function, the line, the frame depth and the value of every variable
//! in scope (declared on an earlier line) must agree; a value one side
//! calls optimized out is not compared. A crash, a hang or an internal
//! error of any side is a finding. Also: the program's output under
//! `wasmscope run` equals the native output at -O0 and at -O2, the JIT
//! image of both builds passes `llvm-dwarfdump --verify`, and the -O2
//! build steps under gdb without an error (its values are not compared:
//! optimized code is free to lose them).
//!
//! Uninitialized locals are the one source of noise (stack garbage
//! differs): both builds use `-ftrivial-auto-var-init=zero`. Pointers are
//! compared as null or not (addresses differ), and a variable's value at
//! its own declaration line is not compared (its initializer has not run).

use crate::dap_client::{Dap, DapError};
use crate::run::{Finding, Verdict};
use serde_json::{json, Value};
use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// The stepping script gdb runs on both sides.
const STEP_PY: &str = include_str!("step.py");
/// Stops per program (the paper stepped whole programs; `func_1` is where
/// csmith's generated code is).
const MAX_STOPS: usize = 250;
/// Stops of the native reference walk: all of `func_1` in most programs.
const HISTORY_STOPS: usize = 2000;

pub static STOPS_COMPARED: AtomicU64 = AtomicU64::new(0);
pub static VALUES_COMPARED: AtomicU64 = AtomicU64::new(0);

pub struct Tools {
    pub wasmscope: PathBuf,
    pub work: PathBuf,
}

impl Tools {
    pub fn new(out: &Path) -> Tools {
        let wasmscope = std::env::var_os("WASMSCOPE")
            .map(PathBuf::from)
            .unwrap_or_else(|| {
                let exe = std::env::current_exe().expect("the fuzzer's own path");
                exe.with_file_name("wasmscope")
            });
        // Absolute: commands run with the work directory as their own.
        let out = std::env::current_dir()
            .map(|d| d.join(out))
            .unwrap_or_else(|_| out.to_path_buf());
        Tools {
            wasmscope,
            work: out.join("debugger-work"),
        }
    }
}

/// Runs a command with a time limit (coreutils `timeout`); `None` if it
/// ran out of time.
fn run_limited(seconds: u32, program: &Path, args: &[&str], dir: &Path) -> Option<Output> {
    let o = Command::new("timeout")
        .args(["-k", "5", &seconds.to_string()])
        .arg(program)
        .args(args)
        .current_dir(dir)
        // The compiled-code cache of this campaign, not the user's.
        .env("XDG_CACHE_HOME", dir.join("cache"))
        .output()
        .ok()?;
    if o.status.code() == Some(124) || o.status.code() == Some(137) {
        None
    } else {
        Some(o)
    }
}

/// Builds `prog.c` with clang 14 (`clang`) or 22 (`clang-22`, which no
/// longer wants the flag that enabled zero-initialization in 14).
fn clang(compiler: &str, dir: &Path, args: &[&str]) -> bool {
    let mut base = vec![
        "-g",
        "-w",
        "-I/usr/include/csmith",
        "-ftrivial-auto-var-init=zero",
        "prog.c",
    ];
    if compiler == "clang" {
        base.push("-enable-trivial-auto-var-init-zero-knowing-it-will-be-removed-from-clang");
    }
    Command::new(compiler)
        .args(base)
        .args(args)
        .current_dir(dir)
        .status()
        .is_ok_and(|s| s.success())
}

pub fn case(tools: &Tools, seed: u64) -> Verdict {
    let dir = &tools.work;
    let _ = std::fs::remove_dir_all(dir);
    std::fs::create_dir_all(dir).expect("the work directory");
    let csmith = Command::new("csmith")
        .args([
            "--seed",
            &(seed % (1 << 31)).to_string(),
            "--max-funcs",
            "4",
            "-o",
            "prog.c",
        ])
        .current_dir(dir)
        .output();
    if !csmith.is_ok_and(|o| o.status.success()) {
        return Verdict::Skip;
    }
    check_program(tools, dir)
}

/// `--check FILE`: the checks of one case on a C program of the user's (a
/// minimizer's candidate), in `tools.work`.
pub fn check_file(tools: &Tools, file: &Path) -> Result<Verdict, String> {
    let source = std::fs::read(file).map_err(|e| format!("cannot read {}: {e}", file.display()))?;
    let dir = &tools.work;
    let _ = std::fs::remove_dir_all(dir);
    std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    std::fs::write(dir.join("prog.c"), source).map_err(|e| e.to_string())?;
    Ok(check_program(tools, dir))
}

/// The words of a finding's summary that a reduced program must still
/// show: which side and stage differed, and how (the line numbers and
/// names change as creduce cuts the program).
pub fn signature(summary: &str) -> Vec<String> {
    let mut words = Vec::new();
    if let Some((side, _)) = summary.split_once(": ") {
        words.push(format!("{side}: "));
    }
    for kind in [
        " missing",
        " natively, ",
        ": depth ",
        "never stops at",
        "a value the -O0 program never gives it",
        "cannot be read",
        "output or exit status differs",
        " hangs",
        "--verify",
    ] {
        if summary.contains(kind) {
            words.push(kind.to_string());
        }
    }
    words
}

/// The creduce predicate for a finding, written next to it: the candidate
/// must still be a well-defined program (clang's warnings that mark
/// undefined behaviour are errors, and the native build must run clean
/// under UBSan) and must still show the finding's signature.
fn interesting_sh(summary: &str) -> String {
    let fuzz = std::env::current_exe()
        .map(|p| p.display().to_string())
        .unwrap_or_else(|_| "wasmscope-fuzz".into());
    let expect: Vec<String> = signature(summary)
        .iter()
        .map(|w| format!("--expect '{}'", w.replace('\'', "'\\''")))
        .collect();
    format!(
        r#"#!/usr/bin/env bash
# creduce's predicate for this finding: `creduce ./interesting.sh prog.c`
# (in a copy of this directory). Exit 0 when prog.c still shows it.
set -u
clang -m32 -O0 -w -Werror=uninitialized -Werror=return-type \
    -Werror=implicit-function-declaration -Werror=implicit-int -Werror=int-conversion \
    -Werror=incompatible-pointer-types -Werror=array-bounds -Werror=main-return-type \
    -fsanitize=undefined -fno-sanitize-recover=all -I/usr/include/csmith prog.c -o ubsan \
    2>/dev/null || exit 1
timeout 5 ./ubsan >/dev/null 2>&1 || exit 1
WASMSCOPE="${{WASMSCOPE:-{wasmscope}}}" timeout 600 "{fuzz}" debugger --out check \
    --check prog.c {expect} >/dev/null 2>&1
test $? = 1
"#,
        wasmscope = std::env::current_exe()
            .map(|p| p.with_file_name("wasmscope").display().to_string())
            .unwrap_or_else(|_| "wasmscope".into()),
        expect = expect.join(" "),
    )
}

/// Every check of one program, `dir/prog.c`.
fn check_program(tools: &Tools, dir: &Path) -> Verdict {
    let source = std::fs::read(dir.join("prog.c")).unwrap_or_default();
    let wasi = ["--target=wasm32-wasi", "--sysroot=/usr"];
    // Natively as ILP32 (`-m32`), wasm32's data model: `long` and
    // pointers of 4 bytes, so a program computes the same values.
    // -O2 with clang 22: clang 14's wasm backend writes wrong constant
    // locations at -O2 (`DW_OP_lit0` for a pointer to a global), which
    // 22 no longer does; and -O2 users are on a current clang.
    if !clang("clang", dir, &["-m32", "-O0", "-o", "native"])
        || !clang("clang", dir, &[wasi[0], wasi[1], "-O0", "-o", "o0.wasm"])
        || !clang("clang-22", dir, &[wasi[0], wasi[1], "-O2", "-o", "o2.wasm"])
    {
        return Verdict::Skip;
    }
    let finding = |summary: String, details: String| {
        let interesting = interesting_sh(&summary);
        Verdict::Finding(
            Finding::new(summary)
                .details(format!(
                    "{details}\n\nbuild: clang -g -w -I/usr/include/csmith -ftrivial-auto-var-init=zero \
                     -enable-trivial-auto-var-init-zero-knowing-it-will-be-removed-from-clang \
                     --target=wasm32-wasi --sysroot=/usr -O0 prog.c -o o0.wasm (natively: -m32 instead of --target/--sysroot; \
                     -O2: clang-22 without the -enable-trivial... flag)\n\
                     minimize: cp -r THIS_DIR /tmp/reduce && cd /tmp/reduce && creduce ./interesting.sh prog.c"
                ))
                .file("prog.c", source.clone())
                .file("interesting.sh", interesting),
        )
    };

    // The program's own output: native, then wasm at -O0 and -O2.
    let Some(native) = run_limited(5, &dir.join("native"), &[], dir) else {
        return Verdict::Skip; // csmith programs may loop for very long
    };
    for wasm in ["o0.wasm", "o2.wasm"] {
        // The run also writes the JIT image `run -g` would register.
        let image = format!("{wasm}.elf");
        let run = ["run", "--emit-debug-image", &image, wasm];
        let Some(ours) = run_limited(60, &tools.wasmscope, &run, dir) else {
            return finding(
                format!("wasmscope run {wasm} hangs; the native program ends"),
                String::new(),
            );
        };
        if ours.stdout != native.stdout || ours.status.code() != native.status.code() {
            return finding(
                format!("wasmscope run {wasm}: output or exit status differs from native"),
                format!(
                    "native: {:?} {}\nwasmscope: {:?} {}{}",
                    native.status.code(),
                    String::from_utf8_lossy(&native.stdout),
                    ours.status.code(),
                    String::from_utf8_lossy(&ours.stdout),
                    String::from_utf8_lossy(&ours.stderr)
                ),
            );
        }
        match verify(dir, &image) {
            Ok(()) => {}
            Err(e) => {
                return finding(
                    format!("llvm-dwarfdump --verify {image}: {e}"),
                    String::new(),
                )
            }
        }
    }

    // Stepping: native gdb is the reference. It walks further than the
    // wasm side (stepping natively is cheap), so that the values it saw
    // are every value the -O2 walks can show.
    let reference = match gdb_stops(tools, dir, false, "native", HISTORY_STOPS) {
        Ok(w) if !w.stops.is_empty() => w,
        _ => return Verdict::Skip,
    };
    let wasm = match gdb_stops(tools, dir, true, "o0.wasm", MAX_STOPS) {
        Ok(w) => w,
        Err(e) => return finding(format!("gdb on wasmscope, -O0: {e}"), String::new()),
    };
    let oracle = match (
        statement_lines(dir, "o0.wasm"),
        statement_lines(dir, "o0.wasm.elf"),
        declared_variables(dir, "o0.wasm"),
    ) {
        (Ok(wasm_lines), Ok(image_lines), Ok(declared)) => Oracle {
            wasm_lines,
            image_lines,
            declared,
        },
        (Err(e), _, _) | (_, Err(e), _) | (_, _, Err(e)) => {
            return finding(format!("llvm-dwarfdump: {e}"), String::new())
        }
    };
    // A line gdb never stops at is known (fuzz/README.md): the DAP's
    // walk and the -O2 build are still checked before saying so.
    let gdb_skip = match compare(&reference, &wasm, &oracle, true) {
        Some(diff) if diff.0.starts_with("never stops at") => Some(diff),
        Some(diff) => return finding(format!("gdb on wasmscope, -O0: {}", diff.0), diff.1),
        None => None,
    };
    let dap = match dap_stops(tools, dir, "o0.wasm", false) {
        Ok(w) => w,
        Err(e) => return finding(format!("DAP, -O0: {e}"), String::new()),
    };
    if let Some(diff) = compare(&reference, &dap, &oracle, false) {
        return finding(format!("DAP, -O0: {}", diff.0), diff.1);
    }
    // -O2: optimized code may lose a value, never show a wrong one. With
    // the whole native walk as the reference (a shorter one would not
    // know every value a variable takes), every value either side shows
    // must be one the variable holds in the -O0 program.
    let o2_gdb = match gdb_stops(tools, dir, true, "o2.wasm", MAX_STOPS) {
        Ok(w) => w,
        Err(e) => return finding(format!("gdb on wasmscope, -O2: {e}"), String::new()),
    };
    let o2_dap = match dap_stops(tools, dir, "o2.wasm", false) {
        Ok(w) => w,
        Err(e) => return finding(format!("DAP, -O2: {e}"), String::new()),
    };
    // The same walk with every wasm local kept exact: what the module's
    // DWARF says on the wasm state as it is, the oracle for both views.
    let o2_exact = match dap_stops(tools, dir, "o2.wasm", true) {
        Ok(w) => w,
        Err(e) => return finding(format!("DAP with exactLocals, -O2: {e}"), String::new()),
    };
    if let Some((summary, details)) = same_walk(&o2_dap.stops, &o2_exact.stops) {
        return finding(format!("DAP, -O2: {summary}"), details);
    }
    let mut known =
        gdb_skip.map(|(summary, details)| (format!("gdb on wasmscope, -O0: {summary}"), details));
    if reference.complete {
        let history = History::of(&reference.stops);
        let confirm = |o: &Offense| exact_in_line(tools, dir, "o2.wasm", o);
        match check_optimized(
            &history,
            &o2_gdb.stops,
            &o2_dap.stops,
            &o2_exact.stops,
            confirm,
        ) {
            Err((summary, details)) => return finding(summary, details),
            Ok(compiler) => known = known.or(compiler),
        }
    }
    match known {
        Some((summary, details)) => match finding(summary, details) {
            Verdict::Finding(f) => Verdict::Known(f),
            other => other,
        },
        None => Verdict::Pass,
    }
}

/// The JIT image's DWARF passes LLVM's verifier (`llvm-dwarfdump-22`,
/// which knows DWARF 5 and the GNU extensions).
fn verify(dir: &Path, image: &str) -> Result<(), String> {
    let o = run_limited(
        120,
        Path::new("llvm-dwarfdump-22"),
        &["--verify", image],
        dir,
    )
    .ok_or("llvm-dwarfdump hangs")?;
    let out = String::from_utf8_lossy(&o.stdout);
    if o.status.success() && out.contains("No errors.") {
        return Ok(());
    }
    let first = out
        .lines()
        .find(|l| l.contains("error:"))
        .unwrap_or("no \"No errors.\" line");
    Err(first.trim().to_string())
}

/// A walk through `func_1`: its stops, and whether it got back to `main`
/// (or the program's end) rather than running out of budget.
struct Walk {
    stops: Vec<Stop>,
    complete: bool,
}

/// One stop: where, how deep (relative to the first stop), and values.
#[derive(Debug)]
struct Stop {
    func: String,
    line: u64,
    depth: i64,
    /// Reached by returning from a callee: mid-statement, where the two
    /// targets may have evaluated different parts of it.
    returned: bool,
    vars: serde_json::Map<String, Value>,
}

fn gdb_stops(
    tools: &Tools,
    dir: &Path,
    wasm: bool,
    program: &str,
    max: usize,
) -> Result<Walk, String> {
    let script = dir.join("step.py");
    std::fs::write(&script, STEP_PY).map_err(|e| e.to_string())?;
    let out = dir.join(format!("{program}.stops"));
    let _ = std::fs::remove_file(&out);
    let setup = format!(
        "python OUT={:?}; MAX={max}; SOURCE='prog.c'",
        out.display().to_string()
    );
    let script = script.display().to_string();
    let mut args = vec!["-batch", "-nx", "-ex", &setup, "-x", &script];
    let o = if wasm {
        args.extend(["--", program]);
        let mut all = vec!["gdb"];
        all.extend(args);
        run_limited(180, &tools.wasmscope, &all, dir)
    } else {
        args.extend(["--args", program]);
        run_limited(180, Path::new("gdb"), &args, dir)
    }
    .ok_or("gdb hangs")?;
    let stderr = String::from_utf8_lossy(&o.stderr);
    for bad in [
        "internal-error",
        "Python Exception",
        "Traceback",
        "Fatal signal",
        "panicked",
    ] {
        if let Some(at) = stderr.find(bad) {
            let line = stderr[at..].lines().next().unwrap_or("");
            return Err(format!("{bad}: {line}"));
        }
    }
    let text = std::fs::read_to_string(&out).map_err(|_| {
        format!(
            "no stops written (gdb exit {:?}): {}",
            o.status.code(),
            stderr.lines().last().unwrap_or("")
        )
    })?;
    let mut stops = Vec::new();
    let mut complete = false;
    for line in text.lines() {
        let v: Value = serde_json::from_str(line).map_err(|e| e.to_string())?;
        if let Some(e) = v["error"].as_str() {
            return Err(e.to_string());
        }
        if let Some(end) = v["end"].as_str() {
            complete = end == "main";
            break;
        }
        stops.push(Stop {
            func: v["fn"].as_str().unwrap_or("?").to_string(),
            line: v["line"].as_u64().unwrap_or(0),
            depth: v["depth"].as_i64().unwrap_or(0),
            returned: false,
            vars: v["vars"].as_object().cloned().unwrap_or_default(),
        });
    }
    relative_depths(&mut stops);
    Ok(Walk { stops, complete })
}

fn relative_depths(stops: &mut [Stop]) {
    if let Some(base) = stops.first().map(|s| s.depth) {
        for s in stops.iter_mut() {
            s.depth -= base;
        }
    }
    for i in 1..stops.len() {
        stops[i].returned = stops[i - 1].depth > stops[i].depth;
    }
}

fn dap_err(e: DapError) -> String {
    e.to_string()
}

/// `wasmscope dap` initialized and launched on `dir/program`, with the
/// launch attributes `extra` besides `program` and `cwd`; up to its
/// `initialized` event.
fn launch(tools: &Tools, dir: &Path, program: &str, mut extra: Value) -> Result<Dap, String> {
    let mut dap =
        Dap::start(&tools.wasmscope, Duration::from_secs(60)).map_err(|e| e.to_string())?;
    dap.request(
        "initialize",
        json!({"adapterID": "wasmscope", "linesStartAt1": true, "columnsStartAt1": true}),
    )
    .map_err(dap_err)?;
    extra["program"] = json!(dir.join(program).display().to_string());
    extra["cwd"] = json!(dir.display().to_string());
    dap.request("launch", extra).map_err(dap_err)?;
    dap.event(&["initialized"]).map_err(dap_err)?;
    Ok(dap)
}

/// The same walk through the adapter: a function breakpoint on `func_1`,
/// then `stepIn` until `main` (or the budget); library frames (no source
/// of ours) are left with `stepOut`, as gdb's script leaves them.
fn dap_stops(tools: &Tools, dir: &Path, program: &str, exact: bool) -> Result<Walk, String> {
    let mut dap = launch(tools, dir, program, json!({"exactLocals": exact}))?;
    dap.request(
        "setFunctionBreakpoints",
        json!({"breakpoints": [{"name": "func_1"}]}),
    )
    .map_err(dap_err)?;
    dap.request("configurationDone", json!({}))
        .map_err(dap_err)?;
    let mut stops = Vec::new();
    let mut stopped = dap.event(&["stopped", "terminated"]).map_err(dap_err)?;
    let mut steps = 0;
    let mut complete = stopped["event"] == "terminated";
    while stopped["event"] == "stopped" && steps < 4 * MAX_STOPS {
        steps += 1;
        let trace = dap
            .request("stackTrace", json!({"threadId": 1}))
            .map_err(dap_err)?;
        let frames = trace["stackFrames"].as_array().cloned().unwrap_or_default();
        let top = frames.first().ok_or("a stop without frames")?;
        let func = top["name"].as_str().unwrap_or("?").to_string();
        let ours = top["source"]["path"]
            .as_str()
            .is_some_and(|p| p.ends_with("prog.c"));
        if func == "main" || func == "__main_argc_argv" {
            complete = true;
            break;
        }
        if stops.len() >= MAX_STOPS {
            break;
        }
        let command = if ours {
            let vars = dap_locals(&mut dap, top["id"].clone())?;
            stops.push(Stop {
                func,
                line: top["line"].as_u64().unwrap_or(0),
                depth: frames.len() as i64,
                returned: false,
                vars,
            });
            "stepIn"
        } else {
            "stepOut"
        };
        dap.request(command, json!({"threadId": 1}))
            .map_err(dap_err)?;
        stopped = dap.event(&["stopped", "terminated"]).map_err(dap_err)?;
        if command == "stepOut" && stopped["event"] == "stopped" {
            // Back in the caller: mid-line, on to its next line, as
            // step.py does.
            let trace = dap
                .request("stackTrace", json!({"threadId": 1}))
                .map_err(dap_err)?;
            let top = &trace["stackFrames"][0];
            let last = stops.last().map(|s: &Stop| (s.func.as_str(), s.line));
            if Some((
                top["name"].as_str().unwrap_or(""),
                top["line"].as_u64().unwrap_or(0),
            )) == last
            {
                dap.request("stepIn", json!({"threadId": 1}))
                    .map_err(dap_err)?;
                stopped = dap.event(&["stopped", "terminated"]).map_err(dap_err)?;
            }
        }
        complete |= stopped["event"] == "terminated";
    }
    let _ = dap.request("disconnect", json!({"terminateDebuggee": true}));
    relative_depths(&mut stops);
    // For triage, as gdb's walks are kept in `PROGRAM.stops`.
    let text: String = stops
        .iter()
        .map(|s| {
            format!(
                "{}\n",
                json!({"fn": s.func, "line": s.line, "depth": s.depth, "vars": s.vars})
            )
        })
        .collect();
    let name = if exact { "dap-exact" } else { "dap" };
    let _ = std::fs::write(dir.join(format!("{program}.{name}.stops")), text);
    Ok(Walk { stops, complete })
}

/// The source variables of a frame (the adapter's first scope when DWARF
/// describes variables), flattened as step.py flattens gdb's values.
fn dap_locals(dap: &mut Dap, frame: Value) -> Result<serde_json::Map<String, Value>, String> {
    let scopes = dap
        .request("scopes", json!({"frameId": frame}))
        .map_err(dap_err)?;
    let mut out = serde_json::Map::new();
    let Some(scope) = scopes["scopes"].as_array().and_then(|s| s.first()) else {
        return Ok(out);
    };
    if scope["presentationHint"] != "locals" {
        return Ok(out);
    }
    for v in dap_children(dap, &scope["variablesReference"])? {
        let name = v["name"].as_str().unwrap_or("").to_string();
        let value = dap_flat(dap, &v, 0)?;
        // A name shown twice (a shadowed variable): which is which is
        // not known here.
        if out.contains_key(&name) {
            out.insert(name, json!("<ambiguous>"));
        } else {
            out.insert(name, value);
        }
    }
    Ok(out)
}

fn dap_children(dap: &mut Dap, reference: &Value) -> Result<Vec<Value>, String> {
    let body = dap
        .request("variables", json!({"variablesReference": reference}))
        .map_err(dap_err)?;
    Ok(body["variables"].as_array().cloned().unwrap_or_default())
}

fn dap_flat(dap: &mut Dap, v: &Value, depth: usize) -> Result<Value, String> {
    let ty = v["type"].as_str().unwrap_or("");
    let value = v["value"].as_str().unwrap_or("");
    if value.starts_with('<') {
        return Ok(json!(value)); // optimized out, unavailable, an error
    }
    if ty.trim_end().ends_with('*') {
        // C shows null as NULL, C++ as nullptr, others as an address.
        let first = value.split_whitespace().next().unwrap_or("");
        let zero = matches!(first, "NULL" | "nullptr" | "null")
            || u64::from_str_radix(first.trim_start_matches("0x"), 16).ok() == Some(0);
        return Ok(json!(if zero { "null" } else { "ptr" }));
    }
    let reference = &v["variablesReference"];
    if reference.as_u64().unwrap_or(0) > 0 && depth < 8 {
        let children = dap_children(dap, reference)?;
        if ty.contains('[') {
            let mut items = Vec::new();
            for c in children.iter().take(15) {
                items.push(dap_flat(dap, c, depth + 1)?);
            }
            return Ok(Value::Array(items));
        }
        let mut fields = serde_json::Map::new();
        for c in &children {
            let name = c["name"].as_str().unwrap_or("").to_string();
            fields.insert(name, dap_flat(dap, c, depth + 1)?);
        }
        return Ok(Value::Object(fields));
    }
    Ok(json!(value))
}

/// A scalar as a number when it reads as one: `65 'A'` and `65` agree,
/// and so do `1.5` and `1.50`.
fn scalar(s: &str) -> Option<f64> {
    let first = s.split_whitespace().next()?;
    if let Ok(i) = first.parse::<i128>() {
        return Some(i as f64);
    }
    first.parse::<f64>().ok()
}

fn optimized_out(v: &Value) -> bool {
    v.as_str().is_some_and(|s| s.contains("optimized out"))
}

fn same_value(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::String(x), Value::String(y)) => {
            if x == y {
                return true;
            }
            match (scalar(x), scalar(y)) {
                (Some(p), Some(q)) => p == q || (p.is_nan() && q.is_nan()),
                _ => false,
            }
        }
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(p, q)| same_value(p, q))
        }
        (Value::Object(x), Value::Object(y)) => x
            .iter()
            .all(|(k, v)| y.get(k).is_some_and(|w| same_value(v, w))),
        _ => false,
    }
}

/// The lines of `prog.c` the line table of `file` (a wasm module or an
/// ELF image) marks as statements, by `llvm-dwarfdump-22 --debug-line`.
fn statement_lines(dir: &Path, file: &str) -> Result<HashSet<u64>, String> {
    let o = run_limited(
        120,
        Path::new("llvm-dwarfdump-22"),
        &["--debug-line", file],
        dir,
    )
    .ok_or("llvm-dwarfdump hangs")?;
    let text = String::from_utf8_lossy(&o.stdout);
    let mut lines = HashSet::new();
    // Each line program names its files; rows give (address, line, column,
    // file index, ...). Only rows of prog.c count.
    let mut prog_files = HashSet::new();
    let mut index = None;
    // A row covers code up to the next row's address: a row with none
    // (the next starts at the same address) is no place to stop.
    let mut pending: Option<(u64, u64)> = None;
    for line in text.lines() {
        let t = line.trim();
        if t.starts_with("debug_line[") {
            prog_files.clear();
        } else if let Some(rest) = t.strip_prefix("file_names[") {
            index = rest
                .split(']')
                .next()
                .and_then(|n| n.trim().parse::<u64>().ok());
        } else if t.starts_with("name:") && t.contains("prog.c") {
            if let Some(i) = index {
                prog_files.insert(i);
            }
        } else if t.starts_with("0x") {
            let f: Vec<&str> = t.split_whitespace().collect();
            let address = u64::from_str_radix(f[0].trim_start_matches("0x"), 16).unwrap_or(0);
            if let Some((start, l)) = pending.take() {
                if address > start {
                    lines.insert(l);
                }
            }
            if t.contains("end_sequence") || !t.contains("is_stmt") {
                continue;
            }
            if let (Some(l), Some(file)) = (f.get(1), f.get(3)) {
                if let (Ok(l), Ok(file)) = (l.parse::<u64>(), file.parse::<u64>()) {
                    if prog_files.contains(&file) && l > 0 {
                        pending = Some((address, l));
                    }
                }
            }
        }
    }
    Ok(lines)
}

/// The variables (and parameters) each function of `file` declares, by
/// LLVM's own reader: a variable the wasm build's DWARF does not declare
/// (clang drops some, e.g. an unused union passed by value) is not
/// expected from wasmscope.
fn declared_variables(dir: &Path, file: &str) -> Result<HashMap<String, HashSet<String>>, String> {
    let o = run_limited(
        120,
        Path::new("llvm-dwarfdump-22"),
        &["--debug-info", file],
        dir,
    )
    .ok_or("llvm-dwarfdump hangs")?;
    let text = String::from_utf8_lossy(&o.stdout);
    let mut out: HashMap<String, HashSet<String>> = HashMap::new();
    // (indentation, tag, name) of the open entries.
    let mut stack: Vec<(usize, String, String)> = Vec::new();
    for line in text.lines() {
        if let Some(at) = line.find("DW_TAG_") {
            while stack.last().is_some_and(|(i, _, _)| *i >= at) {
                stack.pop();
            }
            let tag = line[at..]
                .split_whitespace()
                .next()
                .unwrap_or("")
                .to_string();
            stack.push((at, tag, String::new()));
        } else if let Some(at) = line.find("DW_AT_name") {
            let name = line[at..].split('"').nth(1).unwrap_or("").to_string();
            if let Some(top) = stack.last_mut() {
                top.2 = name.clone();
            }
            let Some((_, tag, _)) = stack.last() else {
                continue;
            };
            if tag == "DW_TAG_variable" || tag == "DW_TAG_formal_parameter" {
                if let Some((_, _, func)) = stack
                    .iter()
                    .rev()
                    .find(|(_, t, _)| t == "DW_TAG_subprogram")
                {
                    out.entry(func.clone()).or_default().insert(name);
                }
            }
        }
    }
    Ok(out)
}

/// What the wasm side is compared against, besides the native stops.
struct Oracle {
    /// Statement lines of the wasm module's own line table.
    wasm_lines: HashSet<u64>,
    /// Statement lines of the JIT image (where gdb can stop at all).
    image_lines: HashSet<u64>,
    /// Variables the wasm DWARF declares, per function.
    declared: HashMap<String, HashSet<String>>,
}

/// Compares the stops of one wasm-side run with the native ones, in step
/// over the lines both stop at, since the two targets' line tables differ
/// (a `for` header or a `continue` is a statement on one and not the
/// other). At every stop compared the frame depth and every variable must
/// agree; a line the native program stops at and
/// the wasm side never does is a finding when the wasm line table (for
/// gdb: the JIT image's) marks it as a statement.
fn compare(reference: &Walk, ours: &Walk, oracle: &Oracle, gdb: bool) -> Option<(String, String)> {
    let (complete, reference, ours) = (
        reference.complete && ours.complete,
        &reference.stops[..],
        &ours.stops[..],
    );
    let path = |stops: &[Stop]| {
        stops
            .iter()
            .map(|s| format!("{}:{}", s.func, s.line))
            .collect::<Vec<_>>()
            .join(" ")
    };
    let paths = format!(
        "native stops: {}\nwasm stops:   {}",
        path(reference),
        path(ours)
    );
    // The walks restricted to the lines both ever stop at (statement
    // starts only), compared in step while they agree: lines one target's
    // line table has and the other's lacks drop out; where the walks part
    // (the program took another path: csmith compares addresses of
    // different objects, whose order differs natively and in linear
    // memory), the comparison ends.
    let lines = |stops: &[Stop]| -> HashSet<(String, u64)> {
        stops
            .iter()
            .filter(|s| !s.returned)
            .map(|s| (s.func.clone(), s.line))
            .collect()
    };
    let (native_lines, wasm_lines) = (lines(reference), lines(ours));
    let common = |s: &&Stop| {
        let key = (s.func.clone(), s.line);
        !s.returned && native_lines.contains(&key) && wasm_lines.contains(&key)
    };
    let walk_a: Vec<&Stop> = reference.iter().filter(common).collect();
    let walk_b: Vec<&Stop> = ours.iter().filter(common).collect();
    let mut visits: HashMap<(String, u64), usize> = HashMap::new();
    for (a, b) in walk_a.iter().zip(&walk_b) {
        if (&a.func, a.line) != (&b.func, b.line) {
            break;
        }
        let (func, line) = (a.func.clone(), a.line);
        let n = {
            let v = visits.entry((func.clone(), line)).or_default();
            *v += 1;
            *v
        };
        let both = format!("native: {a:?}\nwasm:   {b:?}\n{paths}");
        if a.depth != b.depth {
            return Some((
                format!(
                    "{func}:{line} (visit {n}): depth {} natively, {} on wasm",
                    a.depth, b.depth
                ),
                both,
            ));
        }
        STOPS_COMPARED.fetch_add(1, Ordering::Relaxed);
        for (name, value) in &a.vars {
            if optimized_out(value) || value == "<undeclared>" {
                continue;
            }
            let Some(theirs) = b.vars.get(name) else {
                let declared = oracle
                    .declared
                    .get(&func)
                    .is_some_and(|vars| vars.contains(name));
                if declared {
                    return Some((
                        format!("{func}:{line} (visit {n}): variable {name} missing"),
                        both,
                    ));
                }
                continue;
            };
            if optimized_out(theirs) || theirs == "<ambiguous>" || theirs == "<undeclared>" {
                continue;
            }
            VALUES_COMPARED.fetch_add(1, Ordering::Relaxed);
            if !same_value(value, theirs) {
                return Some((
                    format!(
                        "{func}:{line} (visit {n}): {name} = {value} natively, {theirs} on wasm"
                    ),
                    both,
                ));
            }
        }
    }
    // Lines skipped: only over whole walks (a truncated one may not have
    // got there yet).
    if complete {
        let visited: HashSet<(&str, u64)> =
            ours.iter().map(|s| (s.func.as_str(), s.line)).collect();
        let lines = if gdb {
            &oracle.image_lines
        } else {
            &oracle.wasm_lines
        };
        for a in reference {
            if !visited.contains(&(a.func.as_str(), a.line)) && lines.contains(&a.line) {
                return Some((
                    format!(
                        "never stops at {}:{}, a statement of the {}",
                        a.func,
                        a.line,
                        if gdb { "JIT image" } else { "wasm line table" }
                    ),
                    paths,
                ));
            }
        }
    }
    None
}

/// Every value each variable of the reference walk holds at some stop,
/// leaf by leaf (`s.f`, `a[3]`): what the -O2 walks are held to.
struct History {
    values: HashMap<(String, String), Vec<Value>>,
}

/// The scalar leaves of a flattened value, with their paths.
fn leaves(path: String, v: &Value, out: &mut Vec<(String, Value)>) {
    match v {
        Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                leaves(format!("{path}[{i}]"), item, out);
            }
        }
        Value::Object(fields) => {
            for (name, field) in fields {
                leaves(format!("{path}.{name}"), field, out);
            }
        }
        _ => out.push((path, v.clone())),
    }
}

impl History {
    fn of(stops: &[Stop]) -> History {
        let mut values: HashMap<(String, String), Vec<Value>> = HashMap::new();
        for stop in stops {
            for (name, value) in &stop.vars {
                let mut found = Vec::new();
                leaves(name.clone(), value, &mut found);
                for (path, leaf) in found {
                    if leaf.as_str().is_some_and(|s| s.starts_with('<')) {
                        continue; // undeclared, unreadable
                    }
                    let seen = values.entry((stop.func.clone(), path)).or_default();
                    if !seen.contains(&leaf) {
                        seen.push(leaf);
                    }
                }
            }
        }
        History { values }
    }

    /// The values of `stops` the reference never shows for that variable,
    /// and the variables that cannot be read for another reason than
    /// optimization (`value: None`).
    fn offenses(&self, stops: &[Stop]) -> Vec<Offense> {
        let mut out = Vec::new();
        for stop in stops {
            for (name, value) in &stop.vars {
                let mut found = Vec::new();
                leaves(name.clone(), value, &mut found);
                for (path, leaf) in found {
                    let text = leaf.as_str().unwrap_or("");
                    if optimized_out(&leaf)
                        || text.starts_with("<unavailable")
                        || text == "<undeclared>"
                        || text == "<ambiguous>"
                    {
                        continue;
                    }
                    let Some(seen) = self.values.get(&(stop.func.clone(), path.clone())) else {
                        continue; // never shown natively: nothing to hold it to
                    };
                    let offense = |value: Option<Value>, what: String| Offense {
                        func: stop.func.clone(),
                        line: stop.line,
                        path: path.clone(),
                        value,
                        summary: format!("{}:{}: {path} {what}", stop.func, stop.line),
                        details: format!(
                            "the values it holds natively at -O0: {}\nstop: {stop:?}",
                            seen.iter()
                                .map(|v| v.to_string())
                                .collect::<Vec<_>>()
                                .join(" ")
                        ),
                    };
                    // The DAP names why it cannot show a value (on the
                    // operand stack, discarded by the linker): lost, not
                    // wrong. A DWARF operation it does not know is a gap.
                    if text.starts_with("<error") || text.contains("unsupported DWARF") {
                        out.push(offense(None, format!("cannot be read: {text}")));
                        continue;
                    }
                    VALUES_COMPARED.fetch_add(1, Ordering::Relaxed);
                    if !seen.iter().any(|s| same_value(s, &leaf)) {
                        out.push(offense(
                            Some(leaf.clone()),
                            format!("= {leaf}, a value the -O0 program never gives it"),
                        ));
                    }
                }
            }
        }
        out
    }
}

/// A value of an -O2 walk that the -O0 program never shows.
struct Offense {
    func: String,
    line: u64,
    path: String,
    /// `None`: the variable could not be read at all.
    value: Option<Value>,
    summary: String,
    details: String,
}

impl Offense {
    /// Whether the other view of the same module shows the same value for
    /// the same variable on the same line (without `same_line`: anywhere
    /// in the function): gdb reads the JIT image's
    /// transformed DWARF on native frames, the DAP evaluates the module's
    /// own DWARF on the engine's wasm state. When both agree, the value is
    /// what the module's DWARF says, and the DWARF (the compiler's) is
    /// what disagrees with the source; typically a store the optimizer
    /// moved past the line that a variable in memory is described at.
    fn shared_with(&self, other: &[Stop], same_line: bool) -> bool {
        let Some(value) = &self.value else {
            return false;
        };
        other
            .iter()
            .filter(|s| s.func == self.func && (!same_line || s.line == self.line))
            .any(|s| {
                let mut found = Vec::new();
                for (name, v) in &s.vars {
                    leaves(name.clone(), v, &mut found);
                }
                found
                    .iter()
                    .any(|(p, v)| *p == self.path && same_value(v, value))
            })
    }
}

/// The -O2 rule over the three walks. An offense is the compiler's when
/// the module's DWARF, evaluated on the exact wasm state, gives the same
/// value on that line: seen by the other view there (for gdb and the
/// DAP: the walk with exact locals; for that walk: gdb), or else found by
/// `exact_in_line`, which steps the line instruction by instruction (the
/// views stop at different instructions of a line, and a value may change
/// within it). Such offenses are known (Ok with the first); any other is a
/// finding (Err).
fn check_optimized(
    history: &History,
    gdb: &[Stop],
    dap: &[Stop],
    exact: &[Stop],
    mut exact_in_line: impl FnMut(&Offense) -> Result<bool, String>,
) -> Result<Option<(String, String)>, (String, String)> {
    let mut known = None;
    for (side, ours, other) in [
        ("gdb on wasmscope, -O2", gdb, exact),
        ("DAP, -O2", dap, exact),
        ("DAP with exactLocals, -O2", exact, gdb),
    ] {
        for offense in history.offenses(ours) {
            let text = (
                format!("{side}: {}", offense.summary),
                offense.details.clone(),
            );
            // Cheapest first: the other view on this line, the other view
            // anywhere in the function (a variable in memory read before
            // the store of its initial value, at a line the adapter does
            // not stop on: gdb names an inlined call's line where the
            // adapter stops on the callee's), then the line stepped
            // instruction by instruction.
            let why = if offense.shared_with(other, true) {
                "the other view shows the same on this line"
            } else if offense.shared_with(other, false) {
                "the other view shows the same elsewhere in the function"
            } else {
                match exact_in_line(&offense) {
                    Ok(true) => {
                        "the exact wasm state gives the same at an instruction of this line"
                    }
                    Ok(false) => return Err(text),
                    Err(e) => return Err((text.0, format!("{}\nconfirming it: {e}", text.1))),
                }
            };
            known.get_or_insert((
                format!("{} ({why}: the module's DWARF, not wasmscope)", text.0),
                text.1,
            ));
        }
    }
    Ok(known)
}

/// Whether the module's DWARF, on the exact wasm state (the adapter with
/// `exactLocals` and a hook on every instruction), gives `offense`'s value
/// at some instruction of its line: each time the line is reached (a line
/// breakpoint), every instruction up to leaving it, within a budget.
fn exact_in_line(
    tools: &Tools,
    dir: &Path,
    program: &str,
    offense: &Offense,
) -> Result<bool, String> {
    let Some(value) = &offense.value else {
        return Ok(false);
    };
    let root = offense
        .path
        .split(['[', '.'])
        .next()
        .unwrap_or(&offense.path)
        .to_string();
    let mut dap = launch(
        tools,
        dir,
        program,
        json!({"exactLocals": true, "everyInstruction": true}),
    )?;
    let source = dir.join("prog.c").display().to_string();
    dap.request(
        "setBreakpoints",
        json!({"source": {"path": source}, "breakpoints": [{"line": offense.line}]}),
    )
    .map_err(dap_err)?;
    dap.request("configurationDone", json!({}))
        .map_err(dap_err)?;
    let mut found = false;
    let mut stopped = dap.event(&["stopped", "terminated"]).map_err(dap_err)?;
    let mut steps = 0;
    // A budget of steps and of time: a long loop over the line is not
    // worth minutes of a campaign (unconfirmed is reported as a finding).
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while stopped["event"] == "stopped"
        && steps < 8 * MAX_STOPS
        && std::time::Instant::now() < deadline
        && !found
    {
        steps += 1;
        let trace = dap
            .request("stackTrace", json!({"threadId": 1}))
            .map_err(dap_err)?;
        let frames = trace["stackFrames"].as_array().cloned().unwrap_or_default();
        let Some(top) = frames.first() else { break };
        let at_line = |f: &Value| {
            f["name"] == offense.func.as_str() && f["line"].as_u64() == Some(offense.line)
        };
        let here = at_line(top);
        // Optimized code interleaves lines: every instruction of the
        // function is stepped while it runs (inlined callees too: the same
        // wasm frame, the same instruction pointer); a wasm call is left,
        // and once the function returns, on to the line's next hit.
        let ours = frames.iter().find(|f| f["name"] == offense.func.as_str());
        let command = match ours {
            Some(f) if f["instructionPointerReference"] != top["instructionPointerReference"] => {
                json!(["stepOut", {"threadId": 1}])
            }
            Some(_) => json!(["stepIn", {"threadId": 1, "granularity": "instruction"}]),
            None => json!(["continue", {"threadId": 1}]),
        };
        if here {
            let vars = dap_locals(&mut dap, top["id"].clone())?;
            if let Some(v) = vars.get(&root) {
                let mut found_leaves = Vec::new();
                leaves(root.clone(), v, &mut found_leaves);
                found = found_leaves
                    .iter()
                    .any(|(p, v)| *p == offense.path && same_value(v, value));
            }
        }
        if found {
            break;
        }
        dap.request(command[0].as_str().unwrap_or(""), command[1].clone())
            .map_err(dap_err)?;
        stopped = dap.event(&["stopped", "terminated"]).map_err(dap_err)?;
    }
    let _ = dap.request("disconnect", json!({"terminateDebuggee": true}));
    Ok(found)
}

/// The DAP's walk with the fast locals against the same walk with exact
/// locals: the same stops (the hook sites and the line table are the
/// same), and every value the fast walk shows is the exact one. Only
/// "unavailable" may differ: never a wrong value, and no compiler in the
/// way of the comparison.
fn same_walk(fast: &[Stop], exact: &[Stop]) -> Option<(String, String)> {
    for (i, (a, b)) in fast.iter().zip(exact).enumerate() {
        let at = format!("stop {i}, {}:{}", a.func, a.line);
        if (&a.func, a.line, a.depth) != (&b.func, b.line, b.depth) {
            return Some((
                format!(
                    "{at}: the walk with exact locals is at {}:{} instead",
                    b.func, b.line
                ),
                format!("fast:  {a:?}\nexact: {b:?}"),
            ));
        }
        for (name, value) in &a.vars {
            let mut fast_leaves = Vec::new();
            leaves(name.clone(), value, &mut fast_leaves);
            let mut exact_leaves = Vec::new();
            if let Some(v) = b.vars.get(name) {
                leaves(name.clone(), v, &mut exact_leaves);
            }
            for (path, leaf) in fast_leaves {
                let text = leaf.as_str().unwrap_or("");
                if optimized_out(&leaf) || text.starts_with("<unavailable") {
                    continue;
                }
                let theirs = exact_leaves
                    .iter()
                    .find(|(p, _)| *p == path)
                    .map(|(_, v)| v);
                VALUES_COMPARED.fetch_add(1, Ordering::Relaxed);
                if theirs.is_none_or(|t| !same_value(t, &leaf)) {
                    return Some((
                        format!(
                            "{at}: {path} = {leaf} with the fast locals, {} with exact locals",
                            theirs.map_or("nothing".into(), |t| t.to_string())
                        ),
                        format!("fast:  {a:?}\nexact: {b:?}"),
                    ));
                }
            }
        }
    }
    if fast.len() != exact.len() {
        return Some((
            format!(
                "{} stops with the fast locals, {} with exact locals",
                fast.len(),
                exact.len()
            ),
            String::new(),
        ));
    }
    None
}
