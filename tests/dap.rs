//! `wasmscope dap` end to end, through Microsoft's DAP test client
//! (`@vscode/debugadapter-testsupport`, tests/node/dap.test.mjs).
//! Needs `npm ci --prefix tests/node` (done by .ci/run).

use std::path::Path;
use std::process::Command;

#[test]
fn dap_through_a_real_client() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let modules = root.join("tests/node/node_modules/@vscode/debugadapter-testsupport");
    assert!(
        modules.exists(),
        "missing npm packages: run `npm ci --prefix tests/node`"
    );
    let out = Command::new("node")
        .arg("--test")
        .arg(root.join("tests/node/dap.test.mjs"))
        .env("WASMSCOPE", env!("CARGO_BIN_EXE_wasmscope"))
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
