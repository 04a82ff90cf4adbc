//! The real gdb debugging wasm source through the GDB JIT interface:
//! `gdb --args wasmscope run -g app.wasm`. Batch scripts, matched against
//! what gdb prints.

mod debugger;

use debugger::{fixture, line_of};
use std::path::PathBuf;
use std::process::Command;

/// Runs gdb in batch mode with `commands` against `wasmscope run -g MODULE ARGS`.
fn gdb(commands: &[&str], module: &str, args: &[&str]) -> String {
    let mut cmd = Command::new("gdb");
    let sources = debugger::sources();
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
    cmd.env("XDG_CACHE_HOME", debugger::cache_dir());
    let o = cmd.output().expect("gdb is installed by .ci/setup");
    String::from_utf8_lossy(&o.stdout).into_owned()
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
    assert!(out.contains("hit Breakpoint 1, area (p=0x"), "{out}");
    assert!(out.contains(&format!("app.c:{area_line}\n")), "{out}");
    assert!(
        out.contains("#1  0x") && out.contains("in __main_argc_argv (argc=1, argv=0x"),
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
    assert!(out.contains("area (p=0x"), "step enters area:\n{out}");
    assert!(
        out.contains(&format!("{area_body}\t    int a = p->x * p->y;")),
        "{out}"
    );
    assert!(out.contains(&format!("{area_ret}\t    return a;")), "{out}");
    assert!(
        out.contains("__main_argc_argv (argc=1, argv=0x")
            && out.contains("struct node n3 = {30, NULL};"),
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
    // The wasm prologue (the argument spills) is skipped through the line
    // table's `prologue_end`: the stop is on the first body line, with the
    // argument already readable.
    assert!(out.contains("hit Breakpoint 1, sum_list (head=0x"), "{out}");
    let line = line_of("int total = 0;");
    assert!(
        out.contains(&format!("app.c:{line}\n")),
        "stops at the first body line:\n{out}"
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
        out.contains("parse_header (text=0x")
            && out.contains("divisor=0) at ")
            && out.contains(&format!("app.c:{line}")),
        "{out}"
    );
}

#[test]
fn functions_without_dwarf_step_through_the_generated_listing() {
    let out = gdb(&["break fputs", "run", "bt 1", "quit"], "hello.wasm", &[]);
    assert!(
        out.contains("hit Breakpoint 1") && out.contains("fputs ("),
        "{out}"
    );
    // hello.wasm's libc has DWARF; `__main_void`, a wasm-ld stub, has none
    // and lives in the listing.
    let out = gdb(
        &["break __main_void", "run", "bt 1", "quit"],
        "hello.wasm",
        &[],
    );
    assert!(
        out.contains("hit Breakpoint 1") && out.contains("__main_void () at "),
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

/// Every line that gdb prints for `print`, `info args` and `info locals`.
fn values_of(out: &str) -> Vec<&str> {
    out.lines()
        // Source lines (`21\t    int a = ...`) are not values.
        .filter(|l| {
            l.split('\t')
                .next()
                .is_none_or(|n| n.parse::<u32>().is_err())
        })
        .filter(|l| l.starts_with('$') || l.contains(" = "))
        .collect()
}

#[test]
fn prints_locals_args_structs_through_pointers_and_globals_at_o0() {
    let area_line = line_of("int a = p->x * p->y;");
    let sum_line = line_of("total += head->value;");
    let out = gdb(
        &[
            &format!("break app.c:{area_line}"),
            &format!("break app.c:{sum_line} if total == 30"),
            "break factorial if n == 17",
            "run",
            "info args",
            "print *p",
            "print p->y",
            "print global_counter",
            "print file_scale",
            "set var p->x = 5",
            "finish",
            "continue",
            "info locals",
            "print *head",
            "print head->next",
            "print head->value",
            "up",
            "print n1.next->next->value",
            "print *n1.next",
            "print p",
            "continue",
            "bt 3",
            "info args",
            "continue",
        ],
        "dbg/app-O0.wasm",
        &[],
    );
    let values = values_of(&out).join("\n");
    for expected in [
        "p = 0x",
        "$1 = {x = 3, y = 4}",
        "$2 = 4",
        "$3 = 7",
        "$4 = 1.5",
        // The conditional breakpoint on the third node.
        "total = 30",
        "$5 = {value = 30, next = 0x0}",
        "$6 = (struct node *) 0x0",
        "$7 = 30",
        "$8 = 30",
        "$9 = {value = 20, next = 0x",
        // The write through the pointer reached the guest: area = 5 * 4.
        "$10 = {x = 5, y = 4}",
        "n = 17",
    ] {
        assert!(values.contains(expected), "missing `{expected}`:\n{out}");
    }
    // `finish` returns to the call; the value is not shown because the
    // functions are marked not callable (their native signature takes
    // the vmctx first).
    let call_line = line_of("int a = area(&p);");
    assert!(
        out.contains(&format!("app.c:{call_line}\n{call_line}\t")),
        "{out}"
    );
    assert!(out.contains("Value returned has type: int."), "{out}");
    assert!(
        out.contains("factorial (n=17) at ") && out.contains("factorial (n=18) at "),
        "recursion in bt:\n{out}"
    );
    assert!(
        out.contains("area=20 sum=60"),
        "the guest saw the write:\n{out}"
    );
    assert!(!out.contains("internal-error"), "{out}");
}

#[test]
fn optimized_code_reads_what_survives_and_says_optimized_out_otherwise() {
    let sum_line = line_of("total += head->value;");
    let out = gdb(
        &[
            &format!("break app.c:{sum_line}"),
            "run",
            "bt 2",
            "info locals",
            "print global_counter",
            "up",
            "info locals",
            "continue",
        ],
        "dbg/app-O2.wasm",
        &[],
    );
    // sum_list is inlined into main at -O2.
    assert!(out.contains("sum_list (head="), "{out}");
    assert!(out.contains("$1 = 7"), "{out}");
    assert!(out.contains("<optimized out>"), "{out}");
    assert!(!out.contains("internal-error"), "{out}");
    assert!(out.contains("exited normally"), "{out}");
}

/// Runs `commands` under gdb against a native build of `dbg/app.c` (clang
/// from the host) and returns gdb's output.
fn gdb_native(commands: &[&str], opt: &str) -> String {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"));
    let exe = dir.join(format!("app-native-{opt}"));
    let status = Command::new("clang")
        .args(["-g", &format!("-{opt}"), "-o"])
        .arg(&exe)
        .arg(fixture("dbg/app.c"))
        .status()
        .expect("clang is installed by .ci/setup");
    assert!(status.success());
    let mut cmd = Command::new("gdb");
    cmd.args(["-batch", "-nx", "-ex", "set breakpoint pending on"]);
    for c in commands {
        cmd.args(["-ex", c]);
    }
    cmd.arg("--args").arg(&exe);
    let o = cmd.output().expect("gdb");
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// The printed values, addresses masked (they differ between a native
/// process and linear memory).
fn masked_values(out: &str) -> Vec<String> {
    let mut v = Vec::new();
    for line in values_of(out) {
        let mut s = String::new();
        let mut rest = line;
        while let Some(i) = rest.find("0x") {
            s.push_str(&rest[..i]);
            s.push_str("ADDR");
            rest = rest[i + 2..].trim_start_matches(|c: char| c.is_ascii_hexdigit());
        }
        s.push_str(rest);
        v.push(s);
    }
    v
}

/// The same script, natively and on wasm: at -O0 every value matches.
/// Prints the table the closing note quotes (`--nocapture`).
#[test]
fn the_same_script_prints_the_same_values_natively_and_on_wasm() {
    let script = [
        format!("break app.c:{}", line_of("int a = p->x * p->y;")),
        format!(
            "break app.c:{} if total == 30",
            line_of("total += head->value;")
        ),
        format!(
            "break app.c:{} if n == 17",
            line_of("if (n <= 1) return 1;")
        ),
        format!("break app.c:{}", line_of("global_counter += s;")),
        "run".into(),
        "info args".into(),
        "print *p".into(),
        "print p->x".into(),
        "print p->y".into(),
        "print global_counter".into(),
        "print file_scale".into(),
        "continue".into(),
        "print total".into(),
        "print *head".into(),
        "print head->value".into(),
        "print head->next".into(),
        "continue".into(),
        "print n".into(),
        "print n * 2".into(),
        "continue".into(),
        "print p".into(),
        "print a".into(),
        "print n3".into(),
        "print n2.value".into(),
        "print n1.next->value".into(),
        "print n1.next->next->value".into(),
        "print *n1.next".into(),
        "print s".into(),
        "print f".into(),
        "print scaled".into(),
        "print scaled / 4".into(),
        "print global_counter + s".into(),
        "continue".into(),
    ];
    let script: Vec<&str> = script.iter().map(String::as_str).collect();
    let mut table = String::from("| build | values | matching |\n|---|---|---|\n");
    for opt in ["O0", "O2"] {
        let native = masked_values(&gdb_native(&script, opt));
        let wasm = masked_values(&gdb(&script, &format!("dbg/app-{opt}.wasm"), &[]));
        let matching = native.iter().zip(&wasm).filter(|(a, b)| a == b).count();
        table.push_str(&format!(
            "| gdb -{opt} | native {} / wasm {} | {matching} |\n",
            native.len(),
            wasm.len()
        ));
        if opt == "O0" {
            assert!(native.len() >= 24, "{native:#?}");
            assert_eq!(native, wasm, "every value matches at -O0");
        }
    }
    println!("{table}");
}
