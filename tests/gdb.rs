//! The real gdb debugging wasm source through the GDB JIT interface:
//! `gdb --args wasmscope run -g app.wasm`. Batch scripts, matched against
//! what gdb prints.

use std::path::PathBuf;
use std::process::Command;

fn fixture(name: &str) -> String {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
        .display()
        .to_string()
}

/// Runs gdb in batch mode with `commands` against `wasmscope run -g MODULE ARGS`.
fn gdb(commands: &[&str], module: &str, args: &[&str]) -> String {
    let mut cmd = Command::new("gdb");
    let sources = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/dbg");
    let substitute = format!(
        "set substitute-path /wasmscope-fixtures {}",
        sources.display()
    );
    cmd.args([
        "-batch",
        "-nx",
        "-ex",
        "set breakpoint pending on",
        "-ex",
        "set pagination off",
    ]);
    cmd.args(["-ex", &substitute]);
    for c in commands {
        cmd.args(["-ex", c]);
    }
    cmd.args(["--args", env!("CARGO_BIN_EXE_wasmscope"), "run", "-g"])
        .arg(fixture(module))
        .args(args);
    // Keep the generated listings out of the user's cache.
    cmd.env(
        "XDG_CACHE_HOME",
        PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("cache"),
    );
    let o = cmd.output().expect("gdb is installed by .ci/setup");
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn line_of(needle: &str) -> usize {
    let src = std::fs::read_to_string(fixture("dbg/app.c")).unwrap();
    src.lines()
        .position(|l| l.contains(needle))
        .expect("needle in app.c")
        + 1
}

#[test]
fn breaks_on_a_source_line_and_shows_the_backtrace() {
    let area_line = line_of("int a = p->x * p->y;");
    let call_line = line_of("int a = area(&p);");
    let out = gdb(
        &[&format!("break app.c:{area_line}"), "run", "bt", "quit"],
        "dbg/app-O0.wasm",
        &[],
    );
    assert!(out.contains("hit Breakpoint 1, area () at "), "{out}");
    assert!(out.contains(&format!("app.c:{area_line}\n")), "{out}");
    assert!(
        out.contains("#1  0x") && out.contains("in main () at "),
        "{out}"
    );
    assert!(out.contains(&format!("app.c:{call_line}\n")), "{out}");
    // The walk goes from guest frames through our trampoline to the host's
    // `main` without nameless frames.
    assert!(out.contains("wasmscope::host_to_wasm"), "{out}");
    assert!(!out.contains(" ?? ()"), "no unnamed frames:\n{out}");
    assert!(out.contains("in main () at src/main.rs"), "{out}");
}

#[test]
fn next_and_step_move_by_source_lines() {
    let call_line = line_of("int a = area(&p);");
    let out = gdb(
        &[
            &format!("break app.c:{call_line}"),
            "run",
            "step",
            "next",
            "next",
            "next",
            "quit",
        ],
        "dbg/app-O0.wasm",
        &[],
    );
    let area_body = line_of("int a = p->x * p->y;");
    let area_ret = line_of("return a;");
    assert!(out.contains("area () at "), "step enters area:\n{out}");
    assert!(
        out.contains(&format!("{area_body}\t    int a = p->x * p->y;")),
        "{out}"
    );
    assert!(out.contains(&format!("{area_ret}\t    return a;")), "{out}");
    assert!(
        out.contains("main () at ") && out.contains("struct node n3 = {30, NULL};"),
        "back in main:\n{out}"
    );
}

#[test]
fn breaks_on_a_function_by_name() {
    let out = gdb(
        &["break sum_list", "run", "bt 1", "quit"],
        "dbg/app-O0.wasm",
        &[],
    );
    assert!(
        out.contains("hit Breakpoint 1") && out.contains("sum_list () at "),
        "{out}"
    );
    // FIXME: gdb stops on the opening line, before the wasm prologue that
    // spills the arguments; honouring the line table's `prologue_end` would
    // move it to the first body line, as for native code.
    let lines = [
        line_of("int sum_list(struct node *head)"),
        line_of("int total = 0;"),
    ];
    assert!(
        lines.iter().any(|l| out.contains(&format!("app.c:{l}\n"))),
        "stops at the function:\n{out}"
    );
}

#[test]
fn a_trap_stops_at_its_source_line() {
    let line = line_of("return length / divisor;");
    let out = gdb(&["run", "bt 2", "quit"], "dbg/app-O0.wasm", &["text"]);
    assert!(
        out.contains("received signal SIGFPE") || out.contains("received signal SIGILL"),
        "{out}"
    );
    assert!(
        out.contains("parse_header () at ") && out.contains(&format!("app.c:{line}")),
        "{out}"
    );
}

#[test]
fn functions_without_dwarf_step_through_the_generated_listing() {
    let out = gdb(&["break fputs", "run", "bt 1", "quit"], "hello.wasm", &[]);
    assert!(
        out.contains("hit Breakpoint 1") && out.contains("fputs () at "),
        "{out}"
    );
    assert!(out.contains(".wat:"), "listing line:\n{out}");
}

#[test]
fn a_full_run_under_gdb_stops_on_no_signal() {
    for m in ["dbg/app-O0.wasm", "dbg/app-O2.wasm"] {
        let out = gdb(&["run"], m, &[]);
        assert!(!out.contains("received signal"), "{m}: {out}");
        assert!(
            out.contains("area=12 sum=60 fact=2432902008176640000 scaled=18.0 counter=67"),
            "{m}: {out}"
        );
        assert!(out.contains("exited normally"), "{m}: {out}");
    }
}
