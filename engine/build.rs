//! Compiles the setjmp/longjmp helper and fingerprints the engine build.

use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};

fn main() {
    println!("cargo:rerun-if-changed=csrc/setjmp.c");
    cc::Build::new()
        .file("csrc/setjmp.c")
        .warnings(true)
        .compile("wasmscope_setjmp");

    // The code cache (src/cache.rs) accepts a file only from the same
    // engine build: the crate version plus a hash of every source file
    // that can change generated code, and of the dependency versions.
    let mut files = Vec::new();
    collect(Path::new("src"), &mut files);
    files.push(PathBuf::from("csrc/setjmp.c"));
    files.push(PathBuf::from("Cargo.toml"));
    files.push(PathBuf::from("../Cargo.lock"));
    files.sort();
    let mut h = std::collections::hash_map::DefaultHasher::new();
    for f in &files {
        println!("cargo:rerun-if-changed={}", f.display());
        f.hash(&mut h);
        std::fs::read(f).unwrap_or_default().hash(&mut h);
    }
    println!("cargo:rerun-if-changed=src");
    println!(
        "cargo:rustc-env=WASMSCOPE_ENGINE_BUILD={}-{:016x}",
        std::env::var("CARGO_PKG_VERSION").unwrap_or_default(),
        h.finish()
    );
}

fn collect(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return;
    };
    for e in rd.flatten() {
        let p = e.path();
        if p.is_dir() {
            collect(&p, out);
        } else {
            out.push(p);
        }
    }
}
