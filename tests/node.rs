//! The language server and the debug adapter end to end, through real
//! clients written by others, run from Node: Microsoft's
//! `vscode-languageserver-protocol` (tests/node/lsp.test.mjs) and its DAP
//! test client `@vscode/debugadapter-testsupport` (tests/node/dap.test.mjs).
//! Needs `npm ci --prefix tests/node` (done by .ci/run).

use std::path::Path;
use std::process::Command;

/// One suite at a time (as when each had its own test binary): on a
/// 2-core machine the two suites' servers would compete for the CPU.
static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// Runs one `node --test` suite against the built binary; fails with its
/// output unless every test passed.
fn node_suite(suite: &str, package: &str, env: &[(&str, &str)]) {
    let _turn = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let modules = root.join("tests/node/node_modules").join(package);
    assert!(
        modules.exists(),
        "missing npm packages: run `npm ci --prefix tests/node`"
    );
    let out = Command::new("node")
        .arg("--test")
        .arg(root.join("tests/node").join(suite))
        .env("WASMSCOPE", env!("CARGO_BIN_EXE_wasmscope"))
        .envs(env.iter().copied())
        .output()
        .expect("run node (is nodejs installed?)");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("# fail 0"), "{stdout}");
}

#[test]
fn lsp_through_a_real_client() {
    node_suite(
        "lsp.test.mjs",
        "vscode-languageserver-protocol",
        &[("RUST_BACKTRACE", "0")],
    );
}

#[test]
fn dap_through_a_real_client() {
    node_suite("dap.test.mjs", "@vscode/debugadapter-testsupport", &[]);
}

/// lldb-dap (LLVM 22) attached to `wasmscope run --gdb-port`, through the
/// same client; needs the lldb 22 that `tests/fixtures/lang/setup.sh`
/// unpacks (done by .ci/run).
#[test]
fn lldb_dap_attached_to_the_gdb_stub() {
    node_suite("lldb-dap.test.mjs", "@vscode/debugadapter-testsupport", &[]);
}

/// Rust, C++ (libc++), Zig and clang-22 programs through the DAP client;
/// needs the programs `tests/fixtures/lang/build.sh` builds (done by
/// .ci/run, after `tests/fixtures/lang/setup.sh`).
#[test]
fn dap_on_every_toolchain() {
    lang_suite("lang.test.mjs");
}

/// A suite on the language corpus that `tests/fixtures/lang/build.sh`
/// built (into `LANG_FIXTURES`, by default `target/fixtures/lang`).
fn lang_suite(suite: &str) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let built = std::env::var("LANG_FIXTURES")
        .unwrap_or_else(|_| root.join("target/fixtures/lang").display().to_string());
    node_suite(
        suite,
        "@vscode/debugadapter-testsupport",
        &[("LANG_FIXTURES", &built)],
    );
}

/// Verified breakpoints are hit in every launch while a parallel build
/// loads the machine (STRESS_RUNS launches per program, 20 by default).
#[test]
fn dap_stops_at_every_breakpoint_under_load() {
    lang_suite("stress.test.mjs");
}
