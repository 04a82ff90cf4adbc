//! The Python extensions `wasmscope gdb` and `wasmscope lldb` load into the
//! debugger: embedded in the binary, written on demand to the cache
//! directory (named by their content, so a stale copy is never read), and
//! sourced by the launcher. Nothing to install.
//!
//! They read what the image's DWARF cannot describe: pointers stored in
//! linear memory that the image leaves as 4-byte wasm addresses, and the
//! Rust and libc++ containers behind them (see each script's header).
//! They rely on the image defining `char *__wasm_memory` (memory 0's
//! native base, [`crate::dwarf::transform::memory_variable`]).

use std::io;
use std::path::{Path, PathBuf};

/// gdb's extension: pretty-printers.
pub const GDB: &str = include_str!("gdb_extension.py");

/// lldb's extension: summaries and synthetic children.
pub const LLDB: &str = include_str!("lldb_extension.py");

/// Set by `wasmscope lldb` in the environment the debugger passes to
/// `wasmscope run -g`: the image then types stored pointers for the
/// extension (`wasm_ptr32<T>`).
pub const LLDB_TYPED_ADDRESSES: &str = "WASMSCOPE_LLDB_EXTENSION";

/// The cache directory for files wasmscope writes for debuggers:
/// `$XDG_CACHE_HOME/wasmscope`, else `~/.cache/wasmscope`, else the
/// system's temporary directory.
pub fn cache_dir() -> PathBuf {
    std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))
        .unwrap_or_else(std::env::temp_dir)
        .join("wasmscope")
}

/// FNV-1a of `text`: names a cached file after its content.
pub fn content_hash(text: &str) -> u64 {
    text.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
    })
}

/// Writes `text` as `STEM-HASH.EXT` in the cache directory (unless that
/// file is already there) and returns its path.
pub fn cached_file(stem: &str, ext: &str, text: &str) -> io::Result<PathBuf> {
    cached_as(&format!("{stem}-{:016x}.{ext}", content_hash(text)), text)
}

/// An extension in the cache directory: `wasmscope_KIND_HASH.py` (a
/// Python module name, which lldb's `command script import` needs).
pub fn extension_file(kind: &str, text: &str) -> io::Result<PathBuf> {
    cached_as(
        &format!("wasmscope_{kind}_{:016x}.py", content_hash(text)),
        text,
    )
}

fn cached_as(name: &str, text: &str) -> io::Result<PathBuf> {
    let dir = cache_dir();
    std::fs::create_dir_all(&dir)?;
    let path = dir.join(name);
    if !path.exists() {
        write_atomically(&path, text)?;
    }
    Ok(path)
}

/// Writes through a temporary name and a rename, so a concurrent reader
/// never sources half a file.
fn write_atomically(path: &Path, text: &str) -> io::Result<()> {
    let tmp = path.with_extension(format!("tmp{}", std::process::id()));
    std::fs::write(&tmp, text)?;
    std::fs::rename(&tmp, path)
}
