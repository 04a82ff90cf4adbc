//! End-to-end tests of the `wasmscope` binary: exit codes, output, and a
//! one-line error for every kind of bad input.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn wasmscope(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_wasmscope"))
        .args(args)
        .output()
        .expect("run wasmscope")
}

fn fixture(name: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
        .display()
        .to_string()
}

/// Writes `bytes` to a fresh file in the target dir and returns its path.
fn temp_file(name: &str, bytes: &[u8]) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("cli");
    std::fs::create_dir_all(&dir).unwrap();
    let p = dir.join(name);
    std::fs::write(&p, bytes).unwrap();
    p
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// A bad input gets exactly one line on stderr, starting with `error:`,
/// exit code 1, and no panic.
fn assert_one_line_error(o: &Output, needle: &str) {
    let err = stderr(o);
    assert_eq!(o.status.code(), Some(1), "stderr: {err}");
    assert_eq!(err.lines().count(), 1, "one line: {err}");
    assert!(err.starts_with("error: "), "{err}");
    assert!(err.contains(needle), "expected `{needle}` in: {err}");
    assert!(!err.contains("panicked"), "{err}");
}

const CALC: &str = r#"(module
  (func (export "add") (param i32 i64) (result i64) (i64.add (i64.extend_i32_s (local.get 0)) (local.get 1)))
  (func (export "half") (param f64) (result f64) (f64.div (local.get 0) (f64.const 2)))
  (func (export "div") (param i32 i32) (result i32) (i32.div_s (local.get 0) (local.get 1))))"#;

#[test]
fn invoke_parses_arguments_by_signature_and_prints_results() {
    let calc = temp_file("calc.wat", CALC.as_bytes());
    let o = wasmscope(&[
        "run",
        "--invoke",
        "add",
        calc.to_str().unwrap(),
        "-2",
        "0x10",
    ]);
    assert_eq!(String::from_utf8_lossy(&o.stdout), "14\n", "{}", stderr(&o));
    let o = wasmscope(&["run", "--invoke", "half", calc.to_str().unwrap(), "5"]);
    assert_eq!(String::from_utf8_lossy(&o.stdout), "2.5\n");
}

#[test]
fn a_trap_prints_its_kind_and_backtrace_and_exits_non_zero() {
    let calc = temp_file("calc-trap.wat", CALC.as_bytes());
    let o = wasmscope(&["run", "--invoke", "div", calc.to_str().unwrap(), "1", "0"]);
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(134), "{err}");
    assert!(
        err.starts_with("error: wasm trap: integer divide by zero at wasm offset 0x"),
        "{err}"
    );
    assert!(
        err.contains("wasm backtrace:") && err.contains(" - div"),
        "{err}"
    );
}

#[test]
fn bad_inputs_get_one_line_errors() {
    let calc = temp_file("calc-bad.wat", CALC.as_bytes());
    let calc = calc.to_str().unwrap();
    assert_one_line_error(&wasmscope(&["run", "/no/such/module.wasm"]), "No such file");
    assert_one_line_error(
        &wasmscope(&["run", "--invoke", "nope", calc]),
        "no exported function `nope`",
    );
    assert_one_line_error(
        &wasmscope(&["run", "--invoke", "div", calc, "1"]),
        "takes 2 argument(s)",
    );
    assert_one_line_error(
        &wasmscope(&["run", "--invoke", "div", calc, "x", "1"]),
        "must be i32, got `x`",
    );
    assert_one_line_error(
        &wasmscope(&["run", "--env", "NOEQUALS", calc]),
        "NAME=VALUE",
    );

    let truncated = temp_file("truncated.wasm", b"\0asm\x01\0\0\0\x01\x05");
    assert_one_line_error(
        &wasmscope(&["run", truncated.to_str().unwrap()]),
        "byte offset",
    );
    let garbage = temp_file("garbage.wasm", b"\x7fELF\x02\x01\x01garbage");
    assert_one_line_error(
        &wasmscope(&["run", garbage.to_str().unwrap()]),
        "not a WebAssembly binary",
    );
    let invalid = temp_file("invalid.wat", b"(module (func (result i32) (i64.const 0)))");
    assert_one_line_error(
        &wasmscope(&["run", invalid.to_str().unwrap()]),
        "type mismatch",
    );
    let bad_text = temp_file("bad.wat", b"(module (func (i32.bogus)))");
    assert_one_line_error(
        &wasmscope(&["run", bad_text.to_str().unwrap()]),
        "invalid text format",
    );
    let unlinkable = temp_file(
        "unlinkable.wat",
        b"(module (import \"env\" \"missing\" (func)))",
    );
    assert_one_line_error(
        &wasmscope(&["run", unlinkable.to_str().unwrap()]),
        "env::missing",
    );
}

#[test]
fn c_hello_prints_and_exits_like_node() {
    let o = wasmscope(&[
        "run",
        "--env",
        "GREETING=hi",
        &fixture("hello.wasm"),
        "one",
        "two",
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert!(stdout.contains("Hello from wasmscope!"), "{stdout}");
    let n = Command::new("node")
        .args([
            "--no-warnings",
            &fixture("../node-wasi.mjs"),
            "--env",
            "GREETING=hi",
            &fixture("hello.wasm"),
            "one",
            "two",
        ])
        .output()
        .expect("node is installed by .ci/run");
    assert_eq!(
        String::from_utf8_lossy(&n.stdout),
        stdout,
        "same output as node's WASI"
    );
    assert_eq!(n.status.code(), o.status.code());
}

#[test]
fn c_exit_code_and_stderr_pass_through() {
    let o = wasmscope(&["run", &fixture("exitcode.wasm")]);
    assert_eq!(o.status.code(), Some(7), "{}", stderr(&o));
    assert!(!o.stdout.is_empty() && !o.stderr.is_empty());
}

#[test]
fn c_traps_are_reported_with_function_names() {
    for (f, kind) in [
        ("trap.wasm", "integer divide by zero"),
        ("oob.wasm", "out of bounds memory access"),
        ("recurse.wasm", "call stack exhausted"),
    ] {
        let o = wasmscope(&["run", &fixture(f)]);
        let err = stderr(&o);
        assert_eq!(o.status.code(), Some(134), "{f}: {err}");
        assert!(err.contains(kind), "{f}: {err}");
        assert!(err.contains("wasm backtrace:"), "{f}: {err}");
    }
}

/// Normal execution raises no signal: gdb attached to wasmscope runs a whole
/// program (with memory accesses through guard-page-protected memory) and
/// never stops.
#[test]
fn gdb_sees_no_signal_in_a_normal_run() {
    for kernel in ["hello.wasm", "../../bench/kernels/sieve.wasm"] {
        let o = Command::new("gdb")
            .args([
                "-batch",
                "-nx",
                "-ex",
                "run",
                "--args",
                env!("CARGO_BIN_EXE_wasmscope"),
                "run",
            ])
            .arg(fixture(kernel))
            .output()
            .expect("gdb is installed by .ci/setup");
        let out = String::from_utf8_lossy(&o.stdout);
        assert!(!out.contains("received signal"), "{kernel}: {out}");
        assert!(out.contains("exited normally"), "{kernel}: {out}");
    }
}

const STUBS: &str = r#"(module
  (import "env" "get_handle" (func $get (param i32) (result externref)))
  (import "env" "use_handle" (func $use (param externref) (result i32)))
  (import "env" "mem" (memory 1))
  (func (export "main") (result i32)
    (drop (call $use (call $get (i32.const 1))))
    (call $use (call $get (i32.const 2)))))"#;

#[test]
fn missing_imports_are_link_errors_unless_stubbed() {
    let m = temp_file("stubs.wat", STUBS.as_bytes());
    let m = m.to_str().unwrap();
    assert_one_line_error(
        &wasmscope(&["run", "--invoke", "main", m]),
        "env::get_handle",
    );
    let o = wasmscope(&["run", "--stub-imports", "--invoke", "main", m]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_eq!(String::from_utf8_lossy(&o.stdout), "0\n");
    assert_eq!(
        stderr(&o),
        "stub: env.get_handle(1) -> (externref(env.get_handle#1))\n\
         stub: env.use_handle(externref(env.get_handle#1)) -> (0)\n\
         stub: env.get_handle(2) -> (externref(env.get_handle#2))\n\
         stub: env.use_handle(externref(env.get_handle#2)) -> (0)\n"
    );
}

#[test]
fn traps_in_modules_with_dwarf_show_source_lines() {
    let o = wasmscope(&["run", &fixture("dbg/app-O0.wasm"), "text"]);
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(134), "{err}");
    let src = std::fs::read_to_string(fixture("dbg/app.c")).unwrap();
    let line = src
        .lines()
        .position(|l| l.contains("return length / divisor;"))
        .unwrap()
        + 1;
    assert!(
        err.contains(&format!("app.c:{line}:")) && err.contains("in parse_header"),
        "{err}"
    );
}

const TWO_ERRORS: &str = "(module\n  (func (result i32)\n    i64.const 1)\n  (func\n    i32.const 1\n    i32.add\n    drop))\n";

#[test]
fn check_reports_every_error_like_rustc() {
    let bad = temp_file("two-errors.wat", TWO_ERRORS.as_bytes());
    let o = wasmscope(&["check", bad.to_str().unwrap()]);
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(
        err.contains("error: type mismatch: expected i32, found i64"),
        "{err}"
    );
    assert!(err.contains("two-errors.wat:3:5"), "{err}");
    assert!(
        err.contains("    i64.const 1)") && err.contains("^^^^^^^^^"),
        "{err}"
    );
    assert!(
        err.contains("two-errors.wat:6:5") && err.contains("^^^^^^^"),
        "{err}"
    );
    let o = wasmscope(&["check", "--format", "json", bad.to_str().unwrap()]);
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(
        out.starts_with("[{\"file\":") && out.contains("\"line\":6,\"column\":5"),
        "{out}"
    );
    assert_eq!(o.status.code(), Some(1));
}

#[test]
fn check_accepts_valid_text_and_binary_and_reports_binary_offsets() {
    let good = temp_file("good.wat", b"(module (func (export \"f\")))");
    let o = wasmscope(&["check", good.to_str().unwrap(), &fixture("hello.wasm")]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let truncated = temp_file("truncated-check.wasm", b"\0asm\x01\0\0\0\x01\x05");
    let o = wasmscope(&["check", truncated.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("error at byte offset 0xa"),
        "{}",
        stderr(&o)
    );
}

/// The debugger launchers: a missing debugger or module is a one-line
/// error; with a module they run the debugger on `wasmscope run -g`
/// (here gdb in batch mode, which runs the guest to its end).
#[test]
fn debugger_launchers_report_bad_arguments_and_run_the_guest() {
    let o = Command::new(env!("CARGO_BIN_EXE_wasmscope"))
        .args(["gdb", "--", &fixture("hello.wasm")])
        .env("WASMSCOPE_GDB", "/nonexistent/gdb")
        .output()
        .unwrap();
    assert_one_line_error(&o, "cannot start `/nonexistent/gdb`");
    let o = wasmscope(&["lldb", "-batch", "--"]);
    assert_one_line_error(&o, "expected the module after `--`");
    let cache = Path::new(env!("CARGO_TARGET_TMPDIR")).join("cache");
    for extensions in [true, false] {
        let mut args = vec!["gdb", "-batch", "-nx", "-ex", "run", "--"];
        if !extensions {
            args.insert(1, "--no-extensions");
        }
        let hello = fixture("hello.wasm");
        args.push(&hello);
        let o = Command::new(env!("CARGO_BIN_EXE_wasmscope"))
            .args(&args)
            .env("XDG_CACHE_HOME", &cache)
            .output()
            .unwrap();
        let out = String::from_utf8_lossy(&o.stdout);
        assert!(o.status.success(), "{o:?}");
        assert!(out.contains("exited normally"), "{out}");
    }
}

/// `--preload NAME=PATH`: modules instantiated first, under the names the
/// program imports from; a trap in one of them shows the frames of both;
/// a bad or missing preload is one line.
#[test]
fn preloaded_modules_link_by_name_and_their_traps_show_every_frame() {
    let acc = format!("acc={}", fixture("dbg/acc-O0.wasm"));
    let program = fixture("dbg/libmain-O0.wasm");
    for flags in [&[][..], &["--debug-hooks"], &["-g"]] {
        let mut args = vec!["run", "--preload", &acc];
        args.extend_from_slice(flags);
        args.push(&program);
        let o = wasmscope(&args);
        assert!(o.status.success(), "{flags:?}: {}", stderr(&o));
        assert_eq!(String::from_utf8_lossy(&o.stdout), "sum 12\n", "{flags:?}");
    }
    assert_one_line_error(
        &wasmscope(&["run", &program]),
        "`acc::accumulate` has not been defined",
    );
    assert_one_line_error(
        &wasmscope(&["run", "--preload", "acc", &program]),
        "NAME=PATH",
    );
    assert_one_line_error(
        &wasmscope(&["run", "--preload", "acc=/nonexistent/acc.wasm", &program]),
        "/nonexistent/acc.wasm",
    );
    let lib = temp_file(
        "fail-lib.wat",
        br#"(module (func $fail (export "fail") unreachable))"#,
    );
    let main = temp_file(
        "fail-main.wat",
        br#"(module (import "lib" "fail" (func $fail)) (func $go (export "go") call $fail))"#,
    );
    let o = wasmscope(&[
        "run",
        "--preload",
        &format!("lib={}", lib.display()),
        "--invoke",
        "go",
        main.to_str().unwrap(),
    ]);
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(134), "{err}");
    assert!(err.contains("unreachable"), "{err}");
    // The library's frame, then the program's.
    let fail = err.find(" - fail\n").unwrap_or_else(|| panic!("{err}"));
    let go = err.find(" - go").unwrap_or_else(|| panic!("{err}"));
    assert!(fail < go, "{err}");
}
