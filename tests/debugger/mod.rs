//! What the native-debugger tests (`gdb.rs`, `lldb.rs`) share: the
//! fixtures and the lines of `dbg/app.c` they break on.

use std::path::PathBuf;

pub fn fixture(name: &str) -> String {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
        .display()
        .to_string()
}

/// The 1-based line of `dbg/app.c` that contains `needle`.
pub fn line_of(needle: &str) -> usize {
    let src = std::fs::read_to_string(fixture("dbg/app.c")).unwrap();
    src.lines()
        .position(|l| l.contains(needle))
        .expect("needle in app.c")
        + 1
}

/// Where the tests keep the listings that `run -g` writes, out of the
/// user's cache.
pub fn cache_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("cache")
}

/// The directory of `dbg/app.c`, which the fixtures name
/// `/wasmscope-fixtures` (see `tests/fixtures/dbg/build.sh`).
pub fn sources() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/dbg")
}
