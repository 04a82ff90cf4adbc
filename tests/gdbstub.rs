//! `wasmscope run --gdb-port`: lldb 22's WebAssembly plugin (`process
//! connect --plugin wasm`) debugging wasm as wasm, and the protocol's
//! edges (malformed packets, a second client, a client that goes away)
//! spoken by hand over TCP.

mod debugger;

use debugger::{blocks_in, compare, fixture, line_in, merged_output, native_build, Block};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// A `wasmscope run --gdb-port 0` waiting for (or serving) a debugger.
struct Served {
    child: Child,
    /// `127.0.0.1:PORT`, from its "waiting for a debugger" line.
    address: String,
    stderr: Arc<Mutex<String>>,
    stdout: Arc<Mutex<String>>,
}

/// Collects a pipe on a thread.
fn collect(mut pipe: impl Read + Send + 'static) -> Arc<Mutex<String>> {
    let text = Arc::new(Mutex::new(String::new()));
    let sink = text.clone();
    std::thread::spawn(move || {
        let mut buffer = [0u8; 4096];
        while let Ok(n) = pipe.read(&mut buffer) {
            if n == 0 {
                break;
            }
            sink.lock()
                .unwrap()
                .push_str(&String::from_utf8_lossy(&buffer[..n]));
        }
    });
    text
}

fn serve(flags: &[&str], module: &str, args: &[&str]) -> Served {
    let mut child = Command::new(env!("CARGO_BIN_EXE_wasmscope"))
        .args(["run", "--gdb-port", "0"])
        .args(flags)
        .arg(module)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = collect(child.stdout.take().unwrap());
    let mut stderr = BufReader::new(child.stderr.take().unwrap());
    let mut first = String::new();
    // The first line says where it listens (after compiling).
    stderr.read_line(&mut first).unwrap();
    let address = first
        .split_whitespace()
        .find(|w| w.starts_with("127.0.0.1:"))
        .unwrap_or_else(|| panic!("no address in `{first}`"))
        .to_string();
    let stderr = collect(stderr);
    stderr.lock().unwrap().push_str(&first);
    Served {
        child,
        address,
        stderr,
        stdout,
    }
}

impl Served {
    /// Waits (at most a minute: a hang fails) for the process to end.
    fn finish(mut self) -> (ExitStatus, String, String) {
        let deadline = Instant::now() + Duration::from_secs(60);
        let status = loop {
            if let Some(s) = self.child.try_wait().unwrap() {
                break s;
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                panic!(
                    "wasmscope --gdb-port did not end\nstderr: {}",
                    self.stderr.lock().unwrap()
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        // The pipes' last bytes.
        std::thread::sleep(Duration::from_millis(100));
        let out = self.stdout.lock().unwrap().clone();
        let err = self.stderr.lock().unwrap().clone();
        (status, out, err)
    }
}

fn lldb22() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/lang/lldb22")
}

/// lldb 22's batch arguments: the settings, then `commands`.
fn lldb_args(commands: &[String]) -> Vec<String> {
    let mut args: Vec<String> = vec![
        "--batch".into(),
        "-o".into(),
        "settings set interpreter.stop-command-source-on-error false".into(),
        "-o".into(),
        format!(
            "settings set target.source-map /wasmscope-fixtures {}",
            debugger::sources().display()
        ),
    ];
    for c in commands {
        args.extend(["-o".into(), c.clone()]);
    }
    args
}

/// lldb 22 connected to `served`, running `script`; its output.
fn lldb_on(served: &Served, script: &[&str]) -> String {
    lldb_on_crash(served, script, &[])
}

/// The same, with the commands batch mode runs once the guest crashed
/// (a trap stop), which it runs instead of the rest of `script`.
fn lldb_on_crash(served: &Served, script: &[&str], on_crash: &[&str]) -> String {
    let mut commands = vec![format!(
        "process connect --plugin wasm connect://{}",
        served.address
    )];
    commands.extend(script.iter().map(|c| c.to_string()));
    let mut args = lldb_args(&commands);
    for c in on_crash {
        args.extend(["-k".into(), c.to_string()]);
    }
    merged_output(&lldb22(), &args, &[])
}

/// The lines of `out` from the one echoing `command` to the next command.
fn after<'a>(out: &'a str, command: &str) -> &'a str {
    let start = out
        .find(&format!("(lldb) {command}\n"))
        .unwrap_or_else(|| panic!("`{command}` not run:\n{out}"));
    let rest = &out[start + command.len() + 8..];
    &rest[..rest.find("(lldb) ").unwrap_or(rest.len())]
}

fn app_line(needle: &str) -> usize {
    line_in("app.c", needle)
}

#[test]
fn lldb_22_breaks_steps_reads_and_writes_a_c_program() {
    let served = serve(&[], &fixture("dbg/app-O0.wasm"), &[]);
    let area = app_line("int a = p->x * p->y;");
    let call = app_line("int a = area(&p);");
    let counter = app_line("global_counter += s;");
    let out = lldb_on(
        &served,
        &[
            &format!("breakpoint set -f app.c -l {area}"),
            "breakpoint set -n factorial -c 'n == 17'",
            "continue",
            "frame variable *p",
            "memory read -s4 -fx -c2 p",
            "memory region p",
            "memory region $pc",
            "memory region --all",
            "next",
            "frame variable a",
            "finish",
            "continue",
            "bt 5",
            "frame variable n",
            // Each frame's own parameter, as the stub answers it (lldb 22
            // itself shows frame 0's `n` in every `factorial` frame: its
            // wasm unwinder gives all frames CFA 0, so frames of one
            // function share a StackID and lldb finds the innermost).
            "process plugin packet send qWasmLocal:1;3",
            "process plugin packet send qWasmLocal:3;3",
            "target variable global_counter file_scale",
            "expr global_counter = 100",
            "watchpoint set variable global_counter",
            "continue",
            "frame variable s",
            "continue",
        ],
    );
    let (status, stdout, stderr) = served.finish();
    let stop = after(&out, "continue");
    assert!(stop.contains("stop reason = breakpoint 1.1"), "{out}");
    assert!(stop.contains("area(p=0x000"), "{out}");
    assert!(
        after(&out, "frame variable *p").contains("(point) *p = (x = 3, y = 4)"),
        "{out}"
    );
    assert!(
        after(&out, "memory read -s4 -fx -c2 p").contains(": 0x00000003 0x00000004"),
        "{out}"
    );
    // Linear memory (read-write) from 0, the module's code (read-only,
    // named) at its code address, nothing mapped between.
    let region = after(&out, "memory region p");
    assert!(
        region.contains("[0x0000000000000000-0x") && region.contains(") rw-"),
        "{out}"
    );
    let region = after(&out, "memory region $pc");
    assert!(
        region.contains("[0x4000000000000000-0x40000000000"),
        "{out}"
    );
    assert!(
        region.contains(") r-x ") && region.contains("app-O0.wasm"),
        "{out}"
    );
    let all = after(&out, "memory region --all");
    assert_eq!(all.matches(") ---").count(), 2, "{out}");
    assert!(
        after(&out, "next").contains(&format!("app.c:{}", area + 1)),
        "{out}"
    );
    assert!(
        after(&out, "frame variable a").contains("(int) a = 12"),
        "{out}"
    );
    assert!(
        after(&out, "finish").contains(&format!("app.c:{call}")),
        "{out}"
    );
    // The recursion: every frame's own pc, the breakpoint's condition
    // evaluated by lldb at each hit.
    let bt = after(&out, "bt 5");
    assert!(
        bt.contains("frame #0: ") && bt.contains("factorial(n=17)"),
        "{out}"
    );
    assert_eq!(bt.matches("`factorial(").count(), 4, "{out}");
    assert!(bt.contains("__main_argc_argv(argc=1"), "{out}");
    assert!(after(&out, "frame variable n").contains("n = 17"), "{out}");
    // Each frame's own frame base (local 3, where `n` is stored): the
    // frames of factorial are 16 bytes each, so frame 1's lies 32 below
    // frame 3's. (The parameter's own local 0 is dead once stored to the
    // frame at -O0, so the optimized debug code no longer has it.)
    let frame_base = |frame: u32| {
        let text = after(
            &out,
            &format!("process plugin packet send qWasmLocal:{frame};3"),
        );
        let hex = text
            .split("response: ")
            .nth(1)
            .and_then(|r| r.get(..8))
            .unwrap_or_else(|| panic!("no frame base of frame {frame}: {out}"));
        let bytes: Vec<u8> = (0..4)
            .map(|i| u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).expect("hex"))
            .collect();
        u32::from_le_bytes(bytes.try_into().expect("4 bytes"))
    };
    assert_eq!(frame_base(1) + 32, frame_base(3), "{out}");
    let globals = after(&out, "target variable global_counter file_scale");
    assert!(globals.contains("global_counter = 7"), "{out}");
    assert!(globals.contains("file_scale = 1.5"), "{out}");
    // The write reached the guest, and the watchpoint stopped the store
    // that changed it (at the next statement).
    let watch = out
        .split("(lldb) continue\n")
        .nth(3)
        .expect("a third continue");
    assert!(watch.contains("stop reason = watchpoint 1"), "{out}");
    assert!(watch.contains("old value: 100"), "{out}");
    assert!(watch.contains("new value: 160"), "{out}");
    assert!(watch.contains(&format!("app.c:{}", counter + 1)), "{out}");
    assert!(
        after(&out, "frame variable s").contains("(int) s = 60"),
        "{out}"
    );
    assert!(out.contains("exited with status = 0"), "{out}");
    assert!(status.success(), "{stderr}");
    assert!(stdout.contains("counter=160"), "{stdout}");
}

#[test]
fn lldb_22_read_and_access_watchpoints_stop_after_the_load() {
    let served = serve(&[], &fixture("dbg/app-O0.wasm"), &[]);
    let counter = app_line("global_counter += s;");
    let printf = app_line("printf(\"area=");
    let out = lldb_on(
        &served,
        &[
            &format!("breakpoint set -f app.c -l {counter}"),
            "continue",
            "watchpoint set variable -w read global_counter",
            "continue",
            "watchpoint delete 1",
            // The program stored global_counter just before this stop and
            // loads it again for printf: it must load what is set here.
            "expr global_counter = 1000",
            "watchpoint set variable -w read_write global_counter",
            "continue",
            "continue",
        ],
    );
    let (status, stdout, stderr) = served.finish();
    let stops: Vec<&str> = out.split("(lldb) continue\n").collect();
    assert_eq!(stops.len(), 5, "{out}");
    assert!(stops[1].contains("stop reason = breakpoint 1.1"), "{out}");
    // The read of `global_counter += s` (the load before the store).
    assert!(stops[2].contains("stop reason = watchpoint 1"), "{out}");
    assert!(stops[2].contains(&format!("app.c:{printf}")), "{out}");
    // printf's argument, read after the write above.
    assert!(stops[3].contains("stop reason = watchpoint 2"), "{out}");
    assert!(stops[3].contains(&format!("app.c:{printf}")), "{out}");
    assert!(out.contains("exited with status = 0"), "{out}");
    assert!(status.success(), "{stderr}");
    assert!(stdout.contains("counter=1000"), "{stdout}");
}

/// clang -O2 keeps `t` on the wasm operand stack across the next call's
/// argument (`DW_OP_WASM_location 0x2 0x1`): lldb reads it with
/// `qWasmStackValue`, which counts from the bottom of the stack.
#[test]
fn lldb_22_reads_a_variable_clang_keeps_on_the_operand_stack() {
    let served = serve(&[], &fixture("dbg/optimized-O2.wasm"), &[]);
    let line = line_in("optimized.c", "return t + observe(bytes[0][0]);");
    let out = lldb_on(
        &served,
        &[
            &format!("breakpoint set -f optimized.c -l {line}"),
            "continue",
            "frame variable t",
            "process plugin packet send qWasmStackValue:0;2",
            "process plugin packet send qWasmStackValue:0;3",
            "process plugin packet send qWasmStackValue:1;0",
            "continue",
        ],
    );
    let (status, stdout, stderr) = served.finish();
    assert!(out.contains("stop reason = breakpoint 1.1"), "{out}");
    assert!(
        after(&out, "frame variable t").contains("(int) t = 4"),
        "{out}"
    );
    // The next call's argument, bytes[0][0] = 0xC9, on top.
    assert!(
        after(&out, "process plugin packet send qWasmStackValue:0;2")
            .contains("response: c9000000"),
        "{out}"
    );
    // Past the top, and a caller with nothing below its call's
    // arguments (`_start`): errors, never made-up bytes.
    assert!(
        after(&out, "process plugin packet send qWasmStackValue:0;3").contains("response: E"),
        "{out}"
    );
    assert!(
        after(&out, "process plugin packet send qWasmStackValue:1;0").contains("response: E"),
        "{out}"
    );
    assert!(out.contains("exited with status = 0"), "{out}");
    assert!(status.success(), "{stderr}");
    assert_eq!(stdout.trim(), "608");
}

/// A caller's operand stack: stopped in `observe(201)`, its caller
/// (`main`, with `pieces` inlined) has `t` (4) on the stack below the
/// call's argument, at the index clang's `DW_OP_WASM_location 0x2 0x1`
/// names. The live code records it before the call; lldb 22 reads it
/// with `qWasmStackValue` for frame 1. (clang's location list for `t`
/// ends where the call starts, so `frame variable t` in frame 1 asks
/// for nothing: lldb says not available, as for the native build.)
#[test]
fn lldb_22_reads_a_callers_operand_stack() {
    let served = serve(&[], &fixture("dbg/optimized-O2.wasm"), &[]);
    let out = lldb_on(
        &served,
        &[
            "breakpoint set -n observe -c 'v == 201'",
            "continue",
            "process plugin packet send qWasmStackValue:1;1",
            "process plugin packet send qWasmStackValue:1;2",
            "continue",
        ],
    );
    let (status, stdout, stderr) = served.finish();
    assert!(out.contains("observe(v=201)"), "{out}");
    assert!(
        after(&out, "process plugin packet send qWasmStackValue:1;1")
            .contains("response: 04000000"),
        "{out}"
    );
    // The argument (201) is the callee's, not the caller's stack.
    assert!(
        after(&out, "process plugin packet send qWasmStackValue:1;2").contains("response: E"),
        "{out}"
    );
    assert!(out.contains("exited with status = 0"), "{out}");
    assert!(status.success(), "{stderr}");
    assert_eq!(stdout.trim(), "608");
}

/// Two modules (`--preload acc=...`): lldb lists each as a library with
/// its own module id, breaks and steps across the import, reads each
/// frame's locals and each module's own memory, and writes into the
/// preloaded module's memory.
#[test]
fn lldb_22_debugs_a_program_and_the_module_it_imports_from() {
    let preload = format!("acc={}", fixture("dbg/acc-O0.wasm"));
    let served = serve(
        &["--preload", &preload],
        &fixture("dbg/libmain-O0.wasm"),
        &[],
    );
    let call = line_in("libmain.c", "sum = accumulate(i);");
    let first = line_in("acc.c", "struct tally step =");
    let calls = line_in("acc.c", "state.calls += step.calls;");
    let out = lldb_on(
        &served,
        &[
            "image list",
            &format!("breakpoint set -f libmain.c -l {call}"),
            "continue",
            "step",
            "bt",
            "next",
            "next",
            "frame variable",
            "p state",
            "expr state.total = 100",
            "up",
            "frame variable",
            "down",
            "finish",
            "breakpoint set -n accumulate",
            "continue",
            "continue",
            "frame variable",
            "p state",
            "breakpoint delete 1 2",
            "continue",
        ],
    );
    let (status, stdout, stderr) = served.finish();
    let images = after(&out, "image list");
    assert!(
        images.contains("libmain-O0.wasm") && images.contains("acc-O0.wasm"),
        "{out}"
    );
    let into = after(&out, "step");
    assert!(into.contains("stop reason = step in"), "{out}");
    assert!(into.contains(&format!("acc.c:{first}")), "{out}");
    let bt = after(&out, "bt");
    assert!(bt.contains("frame #0: 0x40000001"), "{out}");
    assert!(bt.contains("acc-O0.wasm`accumulate(x=1)"), "{out}");
    assert!(
        bt.contains(&format!("libmain-O0.wasm`main at libmain.c:{call}")),
        "{out}"
    );
    let stopped = out.split("(lldb) frame variable\n").collect::<Vec<_>>();
    assert_eq!(stopped.len(), 4, "{out}");
    // The preloaded module's frame: its locals, and its memory.
    assert!(stopped[0].contains(&format!("acc.c:{calls}:")), "{out}");
    assert!(stopped[1].contains("(int) x = 1"), "{out}");
    assert!(
        stopped[1].contains("step = (total = 2, calls = 1)"),
        "{out}"
    );
    assert!(
        after(&out, "p state").contains("(total = 2, calls = 0)"),
        "{out}"
    );
    // Its caller, in the program: the program's memory.
    let main_frame = after(&out, "up");
    assert!(main_frame.contains("libmain-O0.wasm`main"), "{out}");
    assert!(stopped[2].contains("(int) sum = 0"), "{out}");
    assert!(stopped[2].contains("(int) i = 1"), "{out}");
    assert!(
        after(&out, "finish").contains(&format!("libmain.c:{call}")),
        "{out}"
    );
    assert!(
        out.contains("Breakpoint 2: where = acc-O0.wasm`accumulate"),
        "{out}"
    );
    // The second call, at the function breakpoint: the write above is
    // in the module's memory.
    assert!(stopped[2].contains("stop reason = breakpoint 2.1"), "{out}");
    assert!(stopped[3].contains("(int) x = 2"), "{out}");
    assert!(
        stopped[3].contains("(tally)  (total = 100, calls = 1)"),
        "{out}"
    );
    assert!(out.contains("exited with status = 0"), "{out}");
    assert!(status.success(), "{stderr}");
    // 100, then + 4, + 6.
    assert!(stdout.contains("sum 110"), "{stdout}");
}

#[test]
fn lldb_22_steps_into_a_call_and_kills() {
    let served = serve(&[], &fixture("dbg/app-O0.wasm"), &[]);
    let call = app_line("int a = area(&p);");
    let out = lldb_on(
        &served,
        &[
            &format!("breakpoint set -f app.c -l {call}"),
            "continue",
            "step",
            "frame variable p->x",
            "memory write -s4 &p->x 9",
            "frame variable *p",
            "expr p->y = 5",
            "finish",
            "process kill",
        ],
    );
    let (status, stdout, stderr) = served.finish();
    let step = after(&out, "step");
    assert!(step.contains("area(p=0x000"), "{out}");
    assert!(
        step.contains(&format!("app.c:{}", app_line("int a = p->x * p->y;"))),
        "{out}"
    );
    assert!(
        after(&out, "frame variable p->x").contains("p->x = 3"),
        "{out}"
    );
    assert!(
        after(&out, "frame variable *p").contains("(point) *p = (x = 9, y = 4)"),
        "{out}"
    );
    // `finish` prints the returned value through the written field.
    assert!(
        after(&out, "finish").contains(&format!("app.c:{call}")),
        "{out}"
    );
    assert!(after(&out, "process kill").contains("killed"), "{out}");
    assert_eq!(status.code(), Some(137), "{stderr}");
    assert!(
        !stdout.contains("area="),
        "killed before it printed: {stdout}"
    );
    assert!(stderr.contains("killed the program"), "{stderr}");
}

#[test]
fn a_trap_stops_before_the_stack_unwinds() {
    let served = serve(&[], &fixture("trap.wasm"), &[]);
    let out = lldb_on_crash(&served, &["continue"], &["bt", "continue"]);
    let (status, _, stderr) = served.finish();
    let stop = after(&out, "continue");
    assert!(
        stop.contains("stop reason = wasm trap: integer divide by zero"),
        "{out}"
    );
    let bt = after(&out, "bt");
    assert!(bt.contains("`divide"), "{out}");
    assert!(bt.contains("`main"), "{out}");
    assert!(out.contains("exited with status = 134"), "{out}");
    assert_eq!(status.code(), Some(134), "{stderr}");
    assert!(stderr.contains("integer divide by zero"), "{stderr}");
}

#[test]
fn lldb_22_reads_a_rust_program() {
    let program = debugger::lang_program("rust-O0.wasm");
    let line = debugger::stop_line("rust", "method");
    let served = serve(&[], &program, &[]);
    let out = lldb_on(
        &served,
        &[
            &format!("breakpoint set -f inventory.rs -l {line}"),
            "continue",
            "frame variable qty each",
            "frame variable self->qty self->price",
            "bt 2",
            "process kill",
        ],
    );
    let _ = served.finish();
    assert!(
        after(&out, "continue").contains("inventory::Item::value"),
        "{out}"
    );
    let locals = after(&out, "frame variable qty each");
    assert!(locals.contains("qty = 3"), "{out}");
    assert!(locals.contains("each = 12.5"), "{out}");
    let fields = after(&out, "frame variable self->qty self->price");
    assert!(fields.contains("self->qty = 3"), "{out}");
    assert!(fields.contains("self->price = 12.5"), "{out}");
    assert!(after(&out, "bt 2").contains("inventory::main"), "{out}");
}

/// Zig's Debug code marks `prologue_end` before it stores a parameter to
/// the frame slot its DWARF names: the module the stub serves carries the
/// flag past those stores, so a breakpoint on the function and a step
/// into it show `n` itself, and the module lldb loads is a copy that goes
/// away with the stub (and the copies of a stub that was killed go with
/// the next one).
#[test]
fn lldb_22_breaks_on_a_zig_function_after_its_parameters_are_stored() {
    let program = debugger::lang_program("zig-Debug.wasm");
    // No process has this id (above Linux's largest pid_max, 2^22).
    let stale = std::env::temp_dir().join("wasmscope-lldb-999999999");
    std::fs::create_dir_all(stale.join("0")).unwrap();
    std::fs::write(stale.join("0/zig-Debug.wasm"), b"left by a killed stub").unwrap();
    let body = debugger::stop_line("zig", "recurse") - 1;
    let source = std::fs::read_to_string(debugger::lang_source("zig")).unwrap();
    let call = 1 + source
        .lines()
        .position(|l| l.contains("= factorial(5);"))
        .unwrap();
    let served = serve(&[], &program, &[]);
    let out = lldb_on(
        &served,
        &[
            &format!("breakpoint set -f inventory.zig -l {call}"),
            "breakpoint set -n inventory.factorial",
            "continue",
            "step",
            "frame variable n",
            "continue",
            "frame variable",
            "image list",
            "process kill",
        ],
    );
    let (_, _, stderr) = served.finish();
    let set = after(&out, "breakpoint set -n inventory.factorial");
    assert!(set.contains(&format!("inventory.zig:{body}:")), "{out}");
    // The step into the call ends where the breakpoint is (as natively:
    // lldb reports the breakpoint), with the argument stored.
    let step = after(&out, "step");
    assert!(
        step.contains(&format!("factorial(n=5) at inventory.zig:{body}:")),
        "{out}"
    );
    assert!(
        after(&out, "frame variable n").contains("(unsigned long long) n = 5"),
        "{out}"
    );
    assert!(
        after(&out, "continue").contains(&format!("inventory.zig:{call}:")),
        "{out}"
    );
    assert!(out.contains("factorial(n=4) at inventory.zig:"), "{out}");
    assert!(
        after(&out, "frame variable").contains("(unsigned long long) n = 4"),
        "{out}"
    );
    let image = after(&out, "image list");
    let copy = image
        .split_whitespace()
        .find(|w| w.ends_with("zig-Debug.wasm"))
        .unwrap_or_else(|| panic!("{out}"));
    assert_ne!(
        copy, program,
        "lldb loaded the original, not the served copy"
    );
    assert!(
        !Path::new(copy).exists(),
        "{copy} outlived the stub\n{stderr}"
    );
    assert!(!stale.exists(), "a dead stub's copies are left");
}

/// `script` under lldb 22 on the native program (`run`) and on the
/// module through the stub (`run` becomes `continue`): the native output
/// and both sides' value blocks.
fn natively_and_through_the_stub(
    script: &[String],
    native: &str,
    module: &str,
    args: &[&str],
) -> (String, Vec<Block>, Vec<Block>) {
    let mut native_args = lldb_args(script);
    native_args.push("--".into());
    native_args.push(native.to_string());
    native_args.extend(args.iter().map(|a| a.to_string()));
    let native_out = merged_output(&lldb22(), &native_args, &[]);
    let native_blocks = blocks_in(&native_out, script);
    let served = serve(&[], module, args);
    let wasm_script: Vec<&str> = script
        .iter()
        .map(|c| if c == "run" { "continue" } else { c.as_str() })
        .collect();
    let wasm_out = lldb_on(&served, &wasm_script);
    let _ = served.finish();
    let wasm_blocks = blocks_in(&wasm_out, script);
    (native_out, native_blocks, wasm_blocks)
}

/// lldb 22 on the native build and on `--gdb-port`, one script: at -O0
/// every value matches (the native `run` is the stub's `continue`).
#[test]
fn lldb_22_prints_the_same_values_natively_and_through_the_stub() {
    let app = app_line;
    let script: Vec<String> = [
        format!("breakpoint set -f app.c -l {}", app("int a = p->x * p->y;")),
        format!(
            "breakpoint set -f app.c -l {} -c 'total == 30'",
            app("total += head->value;")
        ),
        "breakpoint set -n factorial -c 'n == 17'".into(),
        format!("breakpoint set -f app.c -l {}", app("global_counter += s;")),
        format!(
            "breakpoint set -f app.c -l {}",
            app("while (text[length]) length++;")
        ),
        "run".into(),
        "frame variable p".into(),
        "print *p".into(),
        "print p->x * p->y".into(),
        "target variable global_counter file_scale".into(),
        "continue".into(),
        "frame variable total".into(),
        "print *head".into(),
        "print head->value".into(),
        "continue".into(),
        "frame variable n".into(),
        "print n == 17".into(),
        "continue".into(),
        "frame variable a s f scaled".into(),
        "frame variable n3 n2.value".into(),
        "print n1.value + n2.value".into(),
        "print *n1.next".into(),
        "print argc".into(),
        "continue".into(),
        "frame variable text divisor".into(),
        "print *text".into(),
        "print text[4]".into(),
        "continue".into(),
    ]
    .into();
    let (native_out, native_blocks, wasm_blocks) = natively_and_through_the_stub(
        &script,
        &native_build("app", "O0").display().to_string(),
        &fixture("dbg/app-O0.wasm"),
        &["hello", "3"],
    );
    let c = compare(&native_blocks, &wasm_blocks);
    assert!(c.values >= 20, "{native_out}");
    assert!(
        c.differing.is_empty() && c.matching == c.values,
        "differing: {:?}\nnative: {native_blocks:#?}\nwasm: {wasm_blocks:#?}",
        c.differing
    );
    println!(
        "app.c -O0 lldb 22 native vs --gdb-port: {} of {} values match",
        c.matching, c.values
    );
}

/// The Rust corpus program under lldb 22, natively and through the stub:
/// the same values; `usize` is named `unsigned int` (4 bytes) in wasm32.
#[test]
fn lldb_22_prints_rust_values_as_natively() {
    let line = debugger::stop_line("rust", "method");
    let script: Vec<String> = [
        format!("breakpoint set -f inventory.rs -l {line}"),
        "run".into(),
        "frame variable qty each".into(),
        "frame variable self->qty self->price self->name.vec.len".into(),
        "frame variable *self".into(),
        "frame variable self->tags.len".into(),
    ]
    .into();
    let (native_out, native_blocks, wasm_blocks) = natively_and_through_the_stub(
        &script,
        &debugger::lang_program("rust-O0.native"),
        &debugger::lang_program("rust-O0.wasm"),
        &[],
    );
    let c = compare(&native_blocks, &wasm_blocks);
    assert!(c.values >= 15, "{native_out}");
    assert_eq!(
        c.differing,
        [
            "frame variable self->qty self->price self->name.vec.len",
            "frame variable self->tags.len"
        ],
        "native: {native_blocks:#?}\nwasm: {wasm_blocks:#?}"
    );
    assert_eq!(c.matching, c.values - 2, "{native_blocks:#?}");
    // Those two differ only in `len`'s type.
    let as_wasm32: Vec<Block> = native_blocks
        .iter()
        .map(|(c, lines)| {
            let lines = lines
                .iter()
                .map(|l| l.replace("(unsigned long) ", "(unsigned int) "))
                .collect();
            (c.clone(), lines)
        })
        .collect();
    assert_eq!(as_wasm32, wasm_blocks);
    println!(
        "rust lldb 22 native vs --gdb-port: {} of {} values match",
        c.matching, c.values
    );
}

/// A hand-written client: framing, acknowledgements, replies.
struct Client {
    stream: TcpStream,
    buffer: Vec<u8>,
}

impl Client {
    fn connect(address: &str) -> Client {
        let stream = TcpStream::connect(address).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(30)))
            .unwrap();
        Client {
            stream,
            buffer: Vec::new(),
        }
    }

    fn send_raw(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).unwrap();
    }

    fn send(&mut self, payload: &str) {
        let sum = payload.bytes().fold(0u8, |s, b| s.wrapping_add(b));
        self.send_raw(format!("${payload}#{sum:02x}").as_bytes());
    }

    /// The next packet's payload (acknowledgements skipped).
    fn reply(&mut self) -> String {
        loop {
            if let Some(start) = self.buffer.iter().position(|&b| b == b'$') {
                if let Some(end) = self.buffer[start..].iter().position(|&b| b == b'#') {
                    let end = start + end;
                    if self.buffer.len() >= end + 3 {
                        let payload =
                            String::from_utf8_lossy(&self.buffer[start + 1..end]).into_owned();
                        self.buffer.drain(..end + 3);
                        return payload;
                    }
                }
            }
            let mut chunk = [0u8; 4096];
            let n = self.stream.read(&mut chunk).expect("a reply in time");
            assert!(n > 0, "the stub closed the connection");
            self.buffer.extend_from_slice(&chunk[..n]);
        }
    }

    fn ask(&mut self, payload: &str) -> String {
        self.send(payload);
        self.reply()
    }
}

#[test]
fn bad_packets_a_second_client_and_a_client_that_leaves() {
    let served = serve(&[], &fixture("dbg/app-O0.wasm"), &[]);
    let mut c = Client::connect(&served.address);
    assert!(c.ask("qSupported").contains("PacketSize=4000"));
    assert_eq!(c.ask("QStartNoAckMode"), "OK");
    assert_eq!(c.ask("QEnableErrorStrings"), "OK");
    // Stopped at entry, in the module's code space.
    let stop = c.ask("?");
    assert!(stop.starts_with("T05thread:1;"), "{stop}");
    // The module's bytes at its code address; linear memory below it.
    assert_eq!(c.ask("m4000000000000000,4"), "0061736d");
    assert!(c.ask("m4000000000000000,ffffffff").starts_with("E01;"));
    assert!(c.ask("m4000000100000000,4").starts_with("E01;"));
    assert!(c.ask("mfffffff0,4").starts_with("E01;"));
    // Malformed: not hex, missing fields, a bad checksum (dropped), a
    // packet over the advertised size, unknown packets.
    assert!(c.ask("mzz,4").starts_with("E01;"));
    assert!(c.ask("M10,4:zz").starts_with("E01;"));
    assert!(c.ask("qWasmLocal:x").starts_with("E01;"));
    assert!(c.ask("Z0,12").starts_with("E01;"));
    assert!(c.ask("qMemoryRegionInfo:zz").starts_with("E01;"));
    assert!(c.ask("qXfer:features:read::0,100").starts_with("E01;"));
    assert!(c.ask("qXfer:memory-map:read::x,1").starts_with("E01;"));
    // The map in pieces: memory from 0, the code at its address.
    let map = c.ask("qXfer:memory-map:read::0,1e");
    assert_eq!(map, "m<memory-map><memory type=\"ram\"");
    let rest = c.ask("qXfer:memory-map:read::1e,1000");
    assert!(rest.starts_with("l start=\"0x0\""), "{rest}");
    assert!(
        rest.contains("type=\"rom\" start=\"0x4000000000000000\""),
        "{rest}"
    );
    c.send_raw(b"$m0,4#00");
    let huge = "X".repeat(0x5000);
    assert!(c.ask(&huge).starts_with("E01;"));
    assert_eq!(c.ask("qNoSuchPacket"), "");
    assert_eq!(c.ask("vMustReplyEmpty"), "");
    // Still serving: a wasm local of frame 0 (`_start`'s has none).
    let stack = c.ask("qWasmCallStack:1");
    assert_eq!(stack.len() % 16, 0, "{stack}");
    assert!(stack.len() >= 16, "{stack}");
    assert!(c.ask("qWasmStackValue:0;0").starts_with("E01;"));
    // A second client is told it is not served.
    let mut second = Client::connect(&served.address);
    assert!(second.reply().starts_with("E01;"));
    // The first leaves without a word: the program runs to its end.
    drop(c);
    let (status, stdout, stderr) = served.finish();
    assert!(status.success(), "{stderr}");
    assert!(stdout.contains("area=12"), "{stdout}");
    assert!(stderr.contains("a packet of 20480 bytes"), "{stderr}");
    assert!(stderr.contains("bad packet `mzz,4`"), "{stderr}");
    assert!(stderr.contains("one client at a time"), "{stderr}");
    assert!(
        stderr.contains("went away; the program runs on"),
        "{stderr}"
    );
}

#[test]
fn a_client_that_leaves_while_the_program_runs_detaches() {
    let served = serve(&[], &fixture("dbg/app-O0.wasm"), &[]);
    let mut c = Client::connect(&served.address);
    assert_eq!(c.ask("QStartNoAckMode"), "OK");
    // Continue, then leave while it runs (or after it stopped at exit).
    c.send("vCont;c");
    drop(c);
    let (status, stdout, stderr) = served.finish();
    assert!(status.success(), "{stderr}");
    assert!(stdout.contains("area=12"), "{stdout}");
}

/// lldb 22 starts wasmscope itself (`platform select wasm`): the port
/// argument comes first (`wasmscope --gdb-port=PORT MODULE ARGS`), and a
/// plain `run` works.
#[test]
fn lldb_22_platform_runs_wasmscope_itself() {
    let area = app_line("int a = p->x * p->y;");
    let commands: Vec<String> = [
        "platform select wasm".to_string(),
        format!(
            "settings set platform.plugin.wasm.runtime-path {}",
            env!("CARGO_BIN_EXE_wasmscope")
        ),
        "settings set -- platform.plugin.wasm.port-arg --gdb-port=".into(),
        format!("target create {}", fixture("dbg/app-O0.wasm")),
        format!("breakpoint set -f app.c -l {area}"),
        "run".into(),
        "frame variable *p".into(),
        "continue".into(),
    ]
    .into();
    let out = merged_output(&lldb22(), &lldb_args(&commands), &[]);
    let stop = after(&out, "run");
    assert!(stop.contains("stop reason = breakpoint 1.1"), "{out}");
    assert!(
        after(&out, "frame variable *p").contains("(point) *p = (x = 3, y = 4)"),
        "{out}"
    );
    let end = after(&out, "continue");
    // The guest's output once (the runtime's terminal is lldb's), then
    // its exit.
    assert_eq!(end.matches("area=12 sum=60").count(), 1, "{out}");
    assert!(end.contains("exited with status = 0"), "{out}");
}
