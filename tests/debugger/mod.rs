//! What the native-debugger tests (`gdb.rs`, `lldb.rs`) share: the
//! fixtures, the lines they break on, and the differential check (one
//! script, natively and on wasm, value by value).

#![allow(dead_code)] // each test binary uses its own part

use std::path::{Path, PathBuf};
use std::process::Command;

pub fn fixture(name: &str) -> String {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
        .display()
        .to_string()
}

/// The 1-based line of `dbg/FILE` that contains `needle`.
pub fn line_in(file: &str, needle: &str) -> usize {
    let src = std::fs::read_to_string(fixture(&format!("dbg/{file}"))).unwrap();
    src.lines()
        .position(|l| l.contains(needle))
        .unwrap_or_else(|| panic!("`{needle}` in {file}"))
        + 1
}

/// The 1-based line of `dbg/app.c` that contains `needle`.
pub fn line_of(needle: &str) -> usize {
    line_in("app.c", needle)
}

/// Every debugger fixture.
pub const FULL_RUNS: [&str; 4] = [
    "dbg/app-O0.wasm",
    "dbg/app-O2.wasm",
    "dbg/kinds-O0.wasm",
    "dbg/kinds-O2.wasm",
];

/// What `wasmscope run MODULE` prints without a debugger.
pub fn plain_run(module: &str) -> String {
    let o = Command::new(env!("CARGO_BIN_EXE_wasmscope"))
        .arg("run")
        .arg(fixture(module))
        .output()
        .unwrap();
    assert!(o.status.success());
    let out = String::from_utf8_lossy(&o.stdout).into_owned();
    assert!(!out.is_empty());
    out
}

/// Where the tests keep the listings that `run -g` writes, out of the
/// user's cache.
pub fn cache_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("cache")
}

/// The directory of the `dbg/` sources, which the fixtures name
/// `/wasmscope-fixtures` (see `tests/fixtures/dbg/build.sh`).
pub fn sources() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/dbg")
}

/// `dbg/NAME.c` built natively with the host's clang at `-OPT`.
pub fn native_build(name: &str, opt: &str) -> PathBuf {
    let exe = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("{name}-native-{opt}"));
    let status = Command::new("clang")
        .args(["-g", &format!("-{opt}"), "-o"])
        .arg(&exe)
        .arg(fixture(&format!("dbg/{name}.c")))
        .status()
        .expect("clang is installed by .ci/setup");
    assert!(status.success());
    exe
}

/// Runs `program` with its stdout and stderr in one stream, so a
/// debugger's error messages stay in order with its output.
pub fn merged_output(program: &Path, args: &[String], envs: &[(&str, String)]) -> String {
    let mut cmd = Command::new("sh");
    cmd.arg("-c")
        .arg("exec \"$0\" \"$@\" 2>&1")
        .arg(program)
        .args(args);
    for (k, v) in envs {
        cmd.env(k, v);
    }
    let o = cmd
        .output()
        .expect("the debugger is installed by .ci/setup");
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// One command's printed values, masked.
pub type Block = (String, Vec<String>);

/// Masks what differs between a native process and linear memory:
/// addresses, value-history numbers (`$3`) and module names before a
/// backtick (`kinds` or `JIT(0x55..)` in lldb's `kinds\`add`).
pub fn mask(line: &str) -> String {
    let mut s = String::new();
    let mut rest = line;
    while let Some(i) = rest.find("0x") {
        s.push_str(&rest[..i]);
        s.push_str("ADDR");
        rest = rest[i + 2..].trim_start_matches(|c: char| c.is_ascii_hexdigit());
    }
    s.push_str(rest);
    let mut out = String::new();
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        out.push(c);
        if c == '$' {
            while chars.peek().is_some_and(|d| d.is_ascii_digit()) {
                chars.next();
            }
        }
    }
    // `(kinds`add at ...` and `(JIT(ADDR)`add at ...`.
    while let Some(tick) = out.find('`') {
        let start = out[..tick].rfind('(').map_or(0, |open| {
            // `JIT(ADDR)`: the module name opens before `JIT`.
            if out[..open].ends_with("JIT") {
                out[..open].rfind('(').map_or(open, |o| o + 1)
            } else {
                open + 1
            }
        });
        out.replace_range(start..=tick, "MODULE:");
    }
    out
}

/// How one script compared natively and on wasm.
pub struct Comparison {
    pub values: usize,
    pub matching: usize,
    /// Commands with at least one differing value.
    pub differing: Vec<String>,
}

/// Compares the blocks command by command. A command one run did not
/// reach (an optimized build may skip a breakpoint) counts as differing.
pub fn compare(native: &[Block], wasm: &[Block]) -> Comparison {
    let mut c = Comparison {
        values: 0,
        matching: 0,
        differing: Vec::new(),
    };
    let mut rest = wasm;
    for (cmd, n) in native {
        c.values += n.len();
        let w = match rest.iter().position(|b| &b.0 == cmd) {
            Some(i) => {
                let w = &rest[i].1;
                rest = &rest[i + 1..];
                w
            }
            None => {
                c.differing.push(cmd.clone());
                continue;
            }
        };
        let same = n.iter().zip(w).filter(|(a, b)| a == b).count();
        c.matching += same;
        if same != n.len() || n.len() != w.len() {
            c.differing.push(cmd.clone());
        }
    }
    c
}

/// `wasmscope run -g PATH` for a module at `path`.
pub fn run_g(path: &str) -> Vec<String> {
    [env!("CARGO_BIN_EXE_wasmscope"), "run", "-g", path]
        .map(String::from)
        .to_vec()
}

/// Whether a corpus program is an optimized build (a breakpoint there
/// may be skipped).
pub fn optimized(program: &str) -> bool {
    program.contains("O2") || program.contains("Release")
}

/// `wasmscope run -g MODULE ARGS` as a command line.
pub fn wasm_program(module: &str, args: &[&str]) -> Vec<String> {
    let mut p: Vec<String> = vec![
        env!("CARGO_BIN_EXE_wasmscope").into(),
        "run".into(),
        "-g".into(),
        fixture(module),
    ];
    p.extend(args.iter().map(|a| a.to_string()));
    p
}

/// The same script under `debugger` natively and on wasm, for `dbg/NAME.c`
/// at -O0 and -O2: the table rows. `blocks` runs the debugger with a
/// script against a command line. At -O0 only the `known` commands differ.
pub fn differential(
    debugger: &str,
    blocks: impl Fn(&[String], &[String]) -> Vec<Block>,
    (name, args): (&str, &[&str]),
    script: &[String],
    known: &[&str],
) -> String {
    let mut rows = String::new();
    for opt in ["O0", "O2"] {
        let mut native = vec![native_build(name, opt).display().to_string()];
        native.extend(args.iter().map(|a| a.to_string()));
        let wasm = wasm_program(&format!("dbg/{name}-{opt}.wasm"), args);
        let native = blocks(script, &native);
        let wasm = blocks(script, &wasm);
        let c = compare(&native, &wasm);
        let row = format!("{name}.c {debugger}");
        rows.push_str(&check(&row, opt, &c, known, &native, &wasm));
    }
    rows
}

/// Checks a comparison at `-opt`: at -O0 exactly the `known` commands
/// differ (each for a reason its caller states); returns the table row.
fn check(
    row: &str,
    opt: &str,
    c: &Comparison,
    known: &[&str],
    native: &[Block],
    wasm: &[Block],
) -> String {
    if opt == "O0" {
        let differing: Vec<&str> = c.differing.iter().map(String::as_str).collect();
        assert_eq!(
            differing, known,
            "{row}: at -O0 only the known commands differ\nnative: {native:#?}\nwasm: {wasm:#?}"
        );
        assert!(c.values >= 20, "{row}: {native:#?}");
    }
    format!("| {row} -{opt} | {} | {} |\n", c.values, c.matching)
}

/// Where `tests/fixtures/lang/build.sh` put the language corpus
/// (`LANG_FIXTURES`, by default `target/fixtures/lang`).
pub fn lang_built() -> PathBuf {
    std::env::var_os("LANG_FIXTURES")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/fixtures/lang"))
}

/// A built corpus program; fails with what to run when it is missing.
pub fn lang_program(name: &str) -> String {
    let path = lang_built().join(name);
    assert!(
        path.exists(),
        "{} is missing: run tests/fixtures/lang/setup.sh and build.sh",
        path.display()
    );
    path.display().to_string()
}

/// The source of corpus language `lang` (`rust`, `cpp`, `zig`).
pub fn lang_source(lang: &str) -> PathBuf {
    let file = match lang {
        "rust" => "inventory.rs",
        "cpp" => "inventory.cpp",
        _ => "inventory.zig",
    };
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/lang")
        .join(lang)
        .join(file)
}

/// The line of `// STOP: name` in corpus language `lang`'s source.
pub fn stop_line(lang: &str, name: &str) -> usize {
    let src = std::fs::read_to_string(lang_source(lang)).unwrap();
    let marker = format!("// STOP: {name}");
    src.lines()
        .position(|l| l.trim_end().ends_with(&marker) && !l.trim_start().starts_with('*'))
        .unwrap_or_else(|| panic!("no `{marker}` in {lang}"))
        + 1
}

/// Every wasm program of the corpus with DWARF from a source-level
/// toolchain, with its language: the images gdb and lldb must load.
pub const LANG_PROGRAMS: [(&str, &str); 10] = [
    ("rust-O0.wasm", "rust"),
    ("rust-O2.wasm", "rust"),
    ("rust163-O0.wasm", "rust"),
    ("cpp-O0.wasm", "cpp"),
    ("cpp-O2.wasm", "cpp"),
    ("zig-Debug.wasm", "zig"),
    ("zig-ReleaseSafe.wasm", "zig"),
    ("zig-Debug-keep.wasm", "zig"),
    ("c22-app-O0.wasm", "c"),
    ("c22-kinds-O2.wasm", "c"),
];

/// Whether lldb prints values for `cmd` (the differential compares those).
fn prints_values(cmd: &str) -> bool {
    ["frame variable", "target variable", "print", "finish"]
        .iter()
        .any(|p| cmd.starts_with(p))
}

/// The value blocks of lldb's output for `script`.
pub fn blocks_in(out: &str, script: &[String]) -> Vec<Block> {
    let mut blocks: Vec<Block> = Vec::new();
    let mut open = false;
    for line in out.lines() {
        if let Some(cmd) = line.strip_prefix("(lldb) ") {
            open = prints_values(cmd) && script.iter().any(|c| c == cmd);
            if open {
                blocks.push((cmd.to_string(), Vec::new()));
            }
        } else if open {
            // Values, not the stop report (`* thread ...`) or source lines.
            let line = line.trim();
            let source = line.starts_with(|c: char| c.is_ascii_digit() || c == '*')
                || line.starts_with("->");
            let value = line.contains(" = ") || line.starts_with("error:");
            if value && !source {
                blocks.last_mut().unwrap().1.push(mask(line));
            }
        }
    }
    blocks
}
