//! A real program of real size: the zstd library (built from its public
//! sources by `tests/fixtures/real/build.sh`, which `.ci/run` runs first)
//! compresses and decompresses a generated file through WASI files, under
//! wasmscope and under node; the outputs and the compressed frames match.

use std::path::{Path, PathBuf};
use std::process::Command;

fn zstd_wasm() -> PathBuf {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/fixtures/zstd.wasm");
    assert!(
        p.exists(),
        "{} is missing: run tests/fixtures/real/build.sh (as .ci/run does)",
        p.display()
    );
    p
}

/// About 2 MB of deterministic text with a small vocabulary.
fn input() -> Vec<u8> {
    let mut x: u32 = 12345;
    let mut next = move || {
        x = x.wrapping_mul(1_103_515_245).wrapping_add(12345);
        x >> 16
    };
    let words: Vec<String> = (0..500)
        .map(|_| {
            (0..2 + next() % 8)
                .map(|_| (b'a' + (next() % 26) as u8) as char)
                .collect()
        })
        .collect();
    let mut out = Vec::new();
    for _ in 0..40_000 {
        for i in 0..8 {
            if i > 0 {
                out.push(b' ');
            }
            out.extend_from_slice(words[(next() % 500) as usize].as_bytes());
        }
        out.push(b'\n');
    }
    out
}

fn run(runtime: &str) -> (String, Vec<u8>) {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("zstd-{runtime}"));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("input.txt"), input()).unwrap();
    let preopen = format!("{}::/data", dir.display());
    let wasm = zstd_wasm();
    let args = ["/data/input.txt", "/data", "1", "3", "9"];
    let o = if runtime == "wasmscope" {
        Command::new(env!("CARGO_BIN_EXE_wasmscope"))
            .args(["run", "--dir", &preopen])
            .arg(&wasm)
            .args(args)
            .output()
            .unwrap()
    } else {
        let runner = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/node-wasi.mjs");
        Command::new("node")
            .args(["--no-warnings", runner.to_str().unwrap(), "--dir", &preopen])
            .arg(&wasm)
            .args(args)
            .output()
            .unwrap()
    };
    assert!(
        o.status.success(),
        "{runtime}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    let frame = std::fs::read(dir.join("out-9.zst")).unwrap();
    (String::from_utf8_lossy(&o.stdout).into_owned(), frame)
}

#[test]
fn zstd_round_trips_files_like_node() {
    let (ours, our_frame) = run("wasmscope");
    assert!(
        ours.contains("level 9:") && ours.contains("round trip ok"),
        "{ours}"
    );
    assert!(!ours.contains("MISMATCH"));
    let (node, node_frame) = run("node");
    assert_eq!(ours, node);
    assert_eq!(our_frame, node_frame, "byte-identical compressed frames");
}
