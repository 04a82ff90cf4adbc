//! The real lldb (Debian's lldb 14) debugging wasm source through the GDB
//! JIT interface: `lldb -- wasmscope run -g app.wasm`, in batch mode.

mod debugger;

use debugger::{fixture, line_of};
use std::process::Command;

/// Runs lldb in batch mode with `commands` against `wasmscope run -g MODULE`.
fn lldb(commands: &[&str], module: &str) -> String {
    let sources = debugger::sources();
    let mut cmd = Command::new("lldb");
    cmd.arg("--batch")
        // lldb 14 reads JIT images only when asked.
        .args(["-o", "settings set plugin.jit-loader.gdb.enable on"])
        .args([
            "-o",
            &format!(
                "settings set target.source-map /wasmscope-fixtures {}",
                sources.display()
            ),
        ]);
    for c in commands {
        cmd.args(["-o", c]);
    }
    cmd.args(["--", env!("CARGO_BIN_EXE_wasmscope"), "run", "-g"])
        .arg(fixture(module));
    // Debian's lldb 14 finds its Python module only there.
    cmd.env(
        "PYTHONPATH",
        "/usr/lib/llvm-14/lib/python3.11/dist-packages",
    );
    cmd.env("XDG_CACHE_HOME", debugger::cache_dir());
    let o = cmd.output().expect("lldb is installed by .ci/setup");
    String::from_utf8_lossy(&o.stdout).into_owned() + &String::from_utf8_lossy(&o.stderr)
}

#[test]
fn breaks_reads_locals_and_globals_and_finishes_with_the_value() {
    let line = line_of("total += head->value;");
    let out = lldb(
        &[
            &format!("breakpoint set -f app.c -l {line} -c 'total == 30'"),
            "run",
            "frame variable total",
            "target variable global_counter file_scale",
            "finish",
            "continue",
        ],
        "dbg/app-O0.wasm",
    );
    assert!(out.contains("`sum_list(head=0x"), "{out}");
    assert!(out.contains(&format!("at app.c:{line}:")), "{out}");
    assert!(out.contains("(int) total = 30"), "{out}");
    assert!(out.contains("(int) global_counter = 7"), "{out}");
    assert!(out.contains("(double) file_scale = 1.5"), "{out}");
    assert!(out.contains("Return value: (int) $0 = 60"), "{out}");
    assert!(out.contains("exited with status = 0"), "{out}");
}

#[test]
fn a_full_run_under_lldb_stops_on_no_signal() {
    for m in ["dbg/app-O0.wasm", "dbg/app-O2.wasm"] {
        let out = lldb(&["run"], m);
        assert!(!out.contains("stop reason = signal"), "{m}: {out}");
        assert!(
            out.contains("area=12 sum=60 fact=2432902008176640000 scaled=18.0 counter=67"),
            "{m}: {out}"
        );
        assert!(out.contains("exited with status = 0"), "{m}: {out}");
    }
}
