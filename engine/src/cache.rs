//! The on-disk cache of compiled modules.
//!
//! A cache file holds what compiling a module produces (`CompiledFunction`s
//! before relocation, plus the entry and host trampolines of every type the
//! module declares), so a later run of the same module with the same
//! compile options maps code instead of running Cranelift.
//!
//! # Format (all integers little-endian)
//! ```text
//! magic "WSCACHE\0" | format version u32 | engine build (u16 length, bytes)
//! | key u128 | module length u64 | payload length u64
//! | checksum u128 of the payload | payload (the artifact)
//! ```
//! The file is named after the key (`KEY.wsc`). The key is a 128-bit hash
//! of the module's bytes, the engine build (the crate version and a hash
//! of the engine's sources, see `build.rs`), the target and its CPU
//! features and every compile option that changes code. The module itself
//! is not stored (for a module with DWARF it is most of the bytes, and
//! reading and comparing it cost more than all the rest of a cached
//! load): two modules share code only if their keys collide, which
//! `hash128` makes as unlikely as 128 bits allow for accidental input; a
//! collision crafted on purpose can only make one module the user ran
//! run as another module the user ran.
//!
//! # Invariants
//! - A file is used only if its magic, format version, engine build, key,
//!   length and checksum all match and the module bytes are identical;
//!   anything else (truncated, flipped, foreign, stale, empty, a directory)
//!   is a miss, never executed and never an error.
//! - Files are written to a temporary name and renamed into place, so a
//!   reader sees a whole file or none; concurrent writers of one key both
//!   succeed (the last rename wins, with identical content).
//! - A cache that cannot be written degrades to compiling; the first such
//!   failure of the process is reported once (`CacheOutcome::Compiled`'s
//!   `write_error`), later ones are silent.
//! - After each write, least-recently-used files (by modification time; a
//!   hit refreshes it) are removed until the directory fits its limit.

use crate::compile::{
    CompileOptions, CompiledFunction, HostFunc, LiveDebug, LocalLoc, RelocTarget, Relocation,
    SrcLoc, StackEntry, StackSite, ValueLoc,
};
use crate::trap::TrapCode;
use cranelift_codegen::binemit::Reloc;
use cranelift_codegen::ir::LibCall;
use cranelift_codegen::isa::TargetIsa;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::time::{Duration, SystemTime};

const MAGIC: &[u8; 8] = b"WSCACHE\0";
const FORMAT_VERSION: u32 = 6;
/// The engine build: any change to the engine's sources changes it.
pub const ENGINE_BUILD: &str = env!("WASMSCOPE_ENGINE_BUILD");
const EXTENSION: &str = "wsc";
/// The default size limit: 1 GiB.
pub const DEFAULT_MAX_BYTES: u64 = 1 << 30;

/// Where the cache lives and how large it may grow.
#[derive(Clone, Debug)]
pub struct CacheConfig {
    pub dir: PathBuf,
    /// Least-recently-used files go once the directory holds more.
    pub max_bytes: u64,
}

impl CacheConfig {
    /// `dir` with the default size limit.
    pub fn new(dir: impl Into<PathBuf>) -> CacheConfig {
        CacheConfig {
            dir: dir.into(),
            max_bytes: DEFAULT_MAX_BYTES,
        }
    }

    /// The user's cache: `$WASMSCOPE_CACHE_DIR`, else
    /// `$XDG_CACHE_HOME/wasmscope/code`, else `~/.cache/wasmscope/code`;
    /// the limit from `$WASMSCOPE_CACHE_MAX_MB` (mebibytes), else 1 GiB.
    pub fn user_default() -> CacheConfig {
        let dir = std::env::var_os("WASMSCOPE_CACHE_DIR")
            .filter(|d| !d.is_empty())
            .map(PathBuf::from)
            .unwrap_or_else(|| {
                std::env::var_os("XDG_CACHE_HOME")
                    .filter(|d| !d.is_empty())
                    .map(PathBuf::from)
                    .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))
                    .unwrap_or_else(std::env::temp_dir)
                    .join("wasmscope")
                    .join("code")
            });
        let max_bytes = std::env::var("WASMSCOPE_CACHE_MAX_MB")
            .ok()
            .and_then(|v| v.trim().parse::<f64>().ok())
            .filter(|mb| mb.is_finite() && *mb >= 0.0)
            .map_or(DEFAULT_MAX_BYTES, |mb| (mb * (1u64 << 20) as f64) as u64);
        CacheConfig { dir, max_bytes }
    }

    /// Entries and their total size.
    pub fn info(&self) -> std::io::Result<CacheInfo> {
        let mut info = CacheInfo::default();
        match std::fs::read_dir(&self.dir) {
            Ok(rd) => {
                for e in entries(rd) {
                    info.entries += 1;
                    info.bytes += e.size;
                }
                Ok(info)
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(info),
            Err(e) => Err(e),
        }
    }

    /// Removes every cache file (and abandoned temporary file); returns
    /// how many cache files went.
    pub fn clear(&self) -> std::io::Result<usize> {
        let rd = match std::fs::read_dir(&self.dir) {
            Ok(rd) => rd,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(0),
            Err(e) => return Err(e),
        };
        let mut removed = 0;
        for e in rd.flatten() {
            let path = e.path();
            match cache_file_kind(&path) {
                Some(FileKind::Entry) => {
                    std::fs::remove_file(&path)?;
                    removed += 1;
                }
                Some(FileKind::Temp) => {
                    let _ = std::fs::remove_file(&path);
                }
                None => {}
            }
        }
        Ok(removed)
    }

    fn path_of(&self, key: u128) -> PathBuf {
        self.dir.join(format!("{key:032x}.{EXTENSION}"))
    }
}

/// What `CacheConfig::info` counts.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CacheInfo {
    pub entries: usize,
    pub bytes: u64,
}

/// What the cache did for one module.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CacheOutcome {
    /// No cache configured, or the module cannot be cached.
    Disabled,
    /// The code was loaded from this file; Cranelift did not run.
    Loaded { path: PathBuf },
    /// The module was compiled. `rejected`: why a file that was there was
    /// not used (damaged, stale, foreign). `stored`: whether the result is
    /// now in the cache. `write_error`: the first write failure of this
    /// process, to be shown once.
    Compiled {
        path: PathBuf,
        rejected: Option<String>,
        stored: bool,
        write_error: Option<String>,
    },
}

/// What compiling produced, as cached: the defined functions in order and,
/// per type of the module (in type order), its entry and host trampolines.
pub struct Artifact {
    pub funcs: Vec<CompiledFunction>,
    pub trampolines: Vec<[CompiledFunction; 2]>,
}

/// The cache key of compiling `wasm` with `options` for `isa`, its types
/// having the engine's signature ids `sig_ids` (compiled code compares a
/// `call_indirect` callee's id with its type's, an immediate; the ids are
/// the engine's order of first use, which differs when several modules
/// share an engine).
pub fn key(isa: &dyn TargetIsa, options: &CompileOptions, sig_ids: &[u32], wasm: &[u8]) -> u128 {
    let mut m = Vec::new();
    let mut text = |s: &str| {
        m.extend_from_slice(&(s.len() as u64).to_le_bytes());
        m.extend_from_slice(s.as_bytes());
    };
    text(ENGINE_BUILD);
    text(&isa.triple().to_string());
    text(&isa.flags().to_string());
    for v in isa.isa_flags() {
        text(&v.to_string());
    }
    let CompileOptions {
        debug_info,
        debug_value_labels,
        debug_hooks,
        debug_hook_sites,
        debug_forced_sites,
        debug_locals,
        debug_keep_locals,
        debug_stack_ranges,
        parallelism: _,
    } = options;
    text(&format!(
        "{debug_info} {debug_value_labels} {debug_hooks} {debug_forced_sites} {debug_locals:?}"
    ));
    let mut w = Writer(m);
    w.opt(debug_hook_sites.as_ref(), |w, s| w.u32s(s));
    w.opt(debug_keep_locals.as_ref(), |w, k| w.pairs(k));
    w.opt(debug_stack_ranges.as_ref(), |w, r| w.pairs(r));
    w.u32s(sig_ids);
    let options = hash128(&w.0);
    let module = hash128(wasm);
    hash128(&[options.to_le_bytes(), module.to_le_bytes()].concat())
}

/// Loads the artifact for `key` and `wasm`: `Ok(None)` when there is no
/// file, `Err(why)` when there is one that cannot be used.
pub fn load(config: &CacheConfig, key: u128, wasm: &[u8]) -> Result<Option<Artifact>, String> {
    let Some((file, start)) = load_payload(config, key, wasm.len() as u64)? else {
        return Ok(None);
    };
    let mut r = Reader(&file[start..]);
    let artifact = read_artifact(&mut r).ok_or_else(damaged)?;
    if !r.0.is_empty() {
        return Err(damaged());
    }
    Ok(Some(artifact))
}

/// Writes the artifact for `key` (atomically), then trims the cache to
/// its limit. `Ok(false)`: the artifact holds something the format cannot
/// express, and was not written.
pub fn store(
    config: &CacheConfig,
    key: u128,
    wasm: &[u8],
    artifact: &Artifact,
) -> std::io::Result<bool> {
    let mut payload = Writer(Vec::with_capacity(wasm.len()));
    if write_artifact(&mut payload, artifact).is_none() {
        return Ok(false);
    }
    store_payload(config, key, wasm.len() as u64, &payload.0)?;
    Ok(true)
}

/// Another layer's cached bytes (the debugger's JIT image) under `key`,
/// with the same header, checksum and eviction as compiled code; `size`
/// is checked like a module's length. `Ok(None)`: no file.
pub fn load_blob(config: &CacheConfig, key: u128, size: u64) -> Result<Option<Vec<u8>>, String> {
    Ok(load_payload(config, key, size)?.map(|(mut file, start)| {
        file.drain(..start);
        file
    }))
}

/// Stores `bytes` as [`load_blob`] reads them.
pub fn store_blob(config: &CacheConfig, key: u128, size: u64, bytes: &[u8]) -> std::io::Result<()> {
    store_payload(config, key, size, bytes)
}

fn damaged() -> String {
    "the file is truncated or damaged".to_string()
}

/// The file's bytes and where its (checked) payload starts.
fn load_payload(
    config: &CacheConfig,
    key: u128,
    size: u64,
) -> Result<Option<(Vec<u8>, usize)>, String> {
    let path = config.path_of(key);
    let bytes = match std::fs::read(&path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(format!("cannot read {}: {e}", path.display())),
    };
    let start = check_header(&bytes, key, size)?;
    // Least recently used is by modification time: a hit refreshes it.
    if let Ok(f) = std::fs::File::options().append(true).open(&path) {
        let _ = f.set_modified(SystemTime::now());
    }
    Ok(Some((bytes, start)))
}

/// Checks everything but the payload's own structure; returns where the
/// payload starts.
fn check_header(bytes: &[u8], key: u128, size: u64) -> Result<usize, String> {
    let mut r = Reader(bytes);
    if r.take(8).ok_or_else(damaged)? != MAGIC {
        return Err("not a wasmscope cache file".into());
    }
    let version = r.u32().ok_or_else(damaged)?;
    if version != FORMAT_VERSION {
        return Err(format!(
            "cache format {version}, this wasmscope reads {FORMAT_VERSION}"
        ));
    }
    let build_len = r.u16().ok_or_else(damaged)? as usize;
    let build = r.take(build_len).ok_or_else(damaged)?;
    if build != ENGINE_BUILD.as_bytes() {
        return Err(format!(
            "written by engine build {}, this is {ENGINE_BUILD}",
            String::from_utf8_lossy(build)
        ));
    }
    if r.u128().ok_or_else(damaged)? != key {
        return Err("the file's key differs from its name".into());
    }
    if r.u64().ok_or_else(damaged)? != size {
        return Err("written for a module of another size".into());
    }
    let len = r.u64().ok_or_else(damaged)?;
    let checksum = r.u128().ok_or_else(damaged)?;
    if r.0.len() as u64 != len {
        return Err(damaged());
    }
    if hash128(r.0) != checksum {
        return Err("checksum mismatch: the file is damaged".into());
    }
    Ok(bytes.len() - r.0.len())
}

fn store_payload(
    config: &CacheConfig,
    key: u128,
    size: u64,
    payload: &[u8],
) -> std::io::Result<()> {
    let mut head = Writer(Vec::with_capacity(64));
    head.bytes_raw(MAGIC);
    head.u32(FORMAT_VERSION);
    head.u16(ENGINE_BUILD.len() as u16);
    head.bytes_raw(ENGINE_BUILD.as_bytes());
    head.u128(key);
    head.u64(size);
    head.u64(payload.len() as u64);
    head.u128(hash128(payload));
    std::fs::create_dir_all(&config.dir)?;
    let path = config.path_of(key);
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let tmp = config.dir.join(format!(
        "{key:032x}.{}.{}.tmp",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    ));
    let written = (|| {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(&head.0)?;
        f.write_all(payload)?;
        drop(f);
        std::fs::rename(&tmp, &path)
    })();
    if let Err(e) = written {
        let _ = std::fs::remove_file(&tmp);
        return Err(e);
    }
    evict(config);
    Ok(())
}

/// Reports a write failure the first time in this process only.
pub fn first_write_error(e: &std::io::Error, dir: &Path) -> Option<String> {
    static WARNED: AtomicBool = AtomicBool::new(false);
    (!WARNED.swap(true, Ordering::Relaxed))
        .then(|| format!("cannot write the code cache in {}: {e}", dir.display()))
}

enum FileKind {
    Entry,
    Temp,
}

fn cache_file_kind(path: &Path) -> Option<FileKind> {
    let name = path.file_name()?.to_str()?;
    let stem = name.get(..32)?;
    if !stem.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    match &name[32..] {
        ".wsc" => Some(FileKind::Entry),
        rest if rest.ends_with(".tmp") => Some(FileKind::Temp),
        _ => None,
    }
}

struct Entry {
    path: PathBuf,
    size: u64,
    used: SystemTime,
}

fn entries(rd: std::fs::ReadDir) -> impl Iterator<Item = Entry> {
    rd.flatten().filter_map(|e| {
        let path = e.path();
        let Some(FileKind::Entry) = cache_file_kind(&path) else {
            return None;
        };
        let meta = e.metadata().ok().filter(|m| m.is_file())?;
        Some(Entry {
            path,
            size: meta.len(),
            used: meta.modified().unwrap_or(SystemTime::UNIX_EPOCH),
        })
    })
}

/// Removes least-recently-used entries until the cache fits its limit,
/// and temporary files abandoned for an hour (a writer that died).
fn evict(config: &CacheConfig) {
    let Ok(rd) = std::fs::read_dir(&config.dir) else {
        return;
    };
    let now = SystemTime::now();
    let mut all = Vec::new();
    for e in rd.flatten() {
        let path = e.path();
        match cache_file_kind(&path) {
            Some(FileKind::Temp) => {
                let old = e
                    .metadata()
                    .and_then(|m| m.modified())
                    .ok()
                    .and_then(|t| now.duration_since(t).ok())
                    .is_some_and(|age| age > Duration::from_secs(3600));
                if old {
                    let _ = std::fs::remove_file(&path);
                }
            }
            Some(FileKind::Entry) => all.push(path),
            None => {}
        }
    }
    let mut list: Vec<Entry> = all
        .into_iter()
        .filter_map(|path| {
            let meta = std::fs::metadata(&path).ok().filter(|m| m.is_file())?;
            Some(Entry {
                path,
                size: meta.len(),
                used: meta.modified().unwrap_or(SystemTime::UNIX_EPOCH),
            })
        })
        .collect();
    let mut total: u64 = list.iter().map(|e| e.size).sum();
    if total <= config.max_bytes {
        return;
    }
    list.sort_by_key(|e| e.used);
    for e in list {
        if total <= config.max_bytes {
            break;
        }
        if std::fs::remove_file(&e.path).is_ok() {
            total -= e.size;
        }
    }
}

/// A 128-bit hash of `bytes`: two independent 64-bit lanes of
/// multiply-fold mixing over 16-byte blocks. Not cryptographic: it names
/// and checksums cache files; the module bytes themselves are compared.
pub fn hash128(bytes: &[u8]) -> u128 {
    const P: [u64; 4] = [
        0xa076_1d64_78bd_642f,
        0xe703_7ed1_a0b4_28db,
        0x8ebc_6af0_9c88_c6e3,
        0x5899_65cc_7537_4cc3,
    ];
    fn fold(a: u64, b: u64) -> u64 {
        let r = u128::from(a) * u128::from(b);
        (r as u64) ^ ((r >> 64) as u64)
    }
    let word = |c: &[u8]| u64::from_le_bytes(c.try_into().unwrap());
    let len = bytes.len() as u64;
    let mut a = P[0] ^ len;
    let mut b = P[3] ^ len.rotate_left(32);
    let mut blocks = bytes.chunks_exact(16);
    for c in &mut blocks {
        let (x, y) = (word(&c[..8]), word(&c[8..]));
        a = fold(x ^ P[1], y ^ a);
        b = fold(y ^ P[2], x ^ b);
    }
    let mut tail = [0u8; 16];
    let rest = blocks.remainder();
    tail[..rest.len()].copy_from_slice(rest);
    let (x, y) = (word(&tail[..8]), word(&tail[8..]));
    a = fold(x ^ P[1], y ^ a);
    b = fold(y ^ P[2], x ^ b);
    let lo = fold(a ^ P[3], len ^ P[1]);
    let hi = fold(b ^ P[0], lo ^ P[2]);
    (u128::from(hi) << 64) | u128::from(lo)
}

// ---- the artifact's encoding ----

struct Writer(Vec<u8>);

impl Writer {
    fn u8(&mut self, v: u8) {
        self.0.push(v);
    }
    fn u16(&mut self, v: u16) {
        self.0.extend_from_slice(&v.to_le_bytes());
    }
    fn u32(&mut self, v: u32) {
        self.0.extend_from_slice(&v.to_le_bytes());
    }
    fn i32(&mut self, v: i32) {
        self.0.extend_from_slice(&v.to_le_bytes());
    }
    fn u64(&mut self, v: u64) {
        self.0.extend_from_slice(&v.to_le_bytes());
    }
    fn u128(&mut self, v: u128) {
        self.0.extend_from_slice(&v.to_le_bytes());
    }
    fn len(&mut self, n: usize) {
        self.u32(n as u32);
    }
    fn bytes_raw(&mut self, b: &[u8]) {
        self.0.extend_from_slice(b);
    }
    fn bytes(&mut self, b: &[u8]) {
        self.len(b.len());
        self.bytes_raw(b);
    }
    fn u32s(&mut self, v: &[u32]) {
        self.len(v.len());
        for x in v {
            self.u32(*x);
        }
    }
    fn pairs(&mut self, v: &[(u32, u32)]) {
        self.len(v.len());
        for (x, y) in v {
            self.u32(*x);
            self.u32(*y);
        }
    }
    fn opt<T>(&mut self, v: Option<T>, f: impl FnOnce(&mut Self, T)) {
        match v {
            None => self.u8(0),
            Some(v) => {
                self.u8(1);
                f(self, v);
            }
        }
    }
    fn locals(&mut self, v: &[LocalLoc]) {
        self.len(v.len());
        for l in v {
            self.u32(l.local);
            self.u32(l.start);
            self.u32(l.end);
            let (tag, x) = match l.loc {
                ValueLoc::Gpr(r) => (0, i32::from(r)),
                ValueLoc::Vec(r) => (1, i32::from(r)),
                ValueLoc::Cfa(o) => (2, o),
            };
            self.u8(tag);
            self.i32(x);
        }
    }
}

struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        if self.0.len() < n {
            return None;
        }
        let (a, b) = self.0.split_at(n);
        self.0 = b;
        Some(a)
    }
    fn array<const N: usize>(&mut self) -> Option<[u8; N]> {
        self.take(N)?.try_into().ok()
    }
    fn u8(&mut self) -> Option<u8> {
        Some(self.take(1)?[0])
    }
    fn u16(&mut self) -> Option<u16> {
        self.array().map(u16::from_le_bytes)
    }
    fn u32(&mut self) -> Option<u32> {
        self.array().map(u32::from_le_bytes)
    }
    fn i32(&mut self) -> Option<i32> {
        self.array().map(i32::from_le_bytes)
    }
    fn u64(&mut self) -> Option<u64> {
        self.array().map(u64::from_le_bytes)
    }
    fn i64(&mut self) -> Option<i64> {
        self.array().map(i64::from_le_bytes)
    }
    fn u128(&mut self) -> Option<u128> {
        self.array().map(u128::from_le_bytes)
    }
    /// A count of items of at least `item` bytes each, checked against
    /// what is left (a damaged count never allocates wildly).
    fn len(&mut self, item: usize) -> Option<usize> {
        let n = self.u32()? as usize;
        (n.checked_mul(item)? <= self.0.len()).then_some(n)
    }
    fn bytes(&mut self) -> Option<Vec<u8>> {
        let n = self.len(1)?;
        Some(self.take(n)?.to_vec())
    }
    fn list<T>(&mut self, item: usize, f: impl Fn(&mut Self) -> Option<T>) -> Option<Vec<T>> {
        let n = self.len(item)?;
        (0..n).map(|_| f(self)).collect()
    }
    fn u32s(&mut self) -> Option<Vec<u32>> {
        self.list(4, |r| r.u32())
    }
    fn pairs(&mut self) -> Option<Vec<(u32, u32)>> {
        self.list(8, |r| Some((r.u32()?, r.u32()?)))
    }
    fn opt<T>(&mut self, f: impl FnOnce(&mut Self) -> Option<T>) -> Option<Option<T>> {
        match self.u8()? {
            0 => Some(None),
            1 => f(self).map(Some),
            _ => None,
        }
    }
    fn locals(&mut self) -> Option<Vec<LocalLoc>> {
        self.list(17, |r| {
            let (local, start, end) = (r.u32()?, r.u32()?, r.u32()?);
            let (tag, x) = (r.u8()?, r.i32()?);
            let loc = match tag {
                0 => ValueLoc::Gpr(u8::try_from(x).ok()?),
                1 => ValueLoc::Vec(u8::try_from(x).ok()?),
                2 => ValueLoc::Cfa(x),
                _ => return None,
            };
            Some(LocalLoc {
                local,
                start,
                end,
                loc,
            })
        })
    }
}

const RELOCS: [Reloc; 5] = [
    Reloc::Abs8,
    Reloc::X86CallPCRel4,
    Reloc::X86PCRel4,
    Reloc::X86CallPLTRel4,
    Reloc::Arm64Call,
];

const LIBCALLS: [LibCall; 10] = [
    LibCall::FloorF32,
    LibCall::FloorF64,
    LibCall::CeilF32,
    LibCall::CeilF64,
    LibCall::TruncF32,
    LibCall::TruncF64,
    LibCall::NearestF32,
    LibCall::NearestF64,
    LibCall::FmaF32,
    LibCall::FmaF64,
];

fn write_artifact(w: &mut Writer, a: &Artifact) -> Option<()> {
    w.len(a.funcs.len());
    for f in &a.funcs {
        write_function(w, f)?;
    }
    w.len(a.trampolines.len());
    for pair in &a.trampolines {
        for f in pair {
            write_function(w, f)?;
        }
    }
    Some(())
}

fn read_artifact(r: &mut Reader) -> Option<Artifact> {
    let funcs = r.list(1, read_function)?;
    let trampolines = r.list(2, |r| Some([read_function(r)?, read_function(r)?]))?;
    Some(Artifact { funcs, trampolines })
}

fn write_function(w: &mut Writer, f: &CompiledFunction) -> Option<()> {
    w.bytes(&f.code);
    w.len(f.relocs.len());
    for r in &f.relocs {
        w.u32(r.offset);
        w.u8(RELOCS.iter().position(|k| *k == r.kind)? as u8);
        match &r.target {
            RelocTarget::WasmFunc(i) => {
                w.u8(0);
                w.u32(i.as_u32());
            }
            RelocTarget::LibCall(l) => {
                w.u8(1);
                w.u32(LIBCALLS.iter().position(|k| k == l)? as u32);
            }
            RelocTarget::Host(h) => {
                w.u8(2);
                w.u32(*h as u32);
            }
        }
        w.u64(r.addend as u64);
    }
    w.len(f.traps.len());
    for (off, code) in &f.traps {
        w.u32(*off);
        w.u8(*code as u8);
    }
    w.len(f.srclocs.len());
    for s in &f.srclocs {
        w.u32(s.start);
        w.u32(s.end);
        w.u32(s.wasm_offset);
    }
    w.bytes(&f.unwind);
    w.locals(&f.value_labels);
    w.u32(f.frame_size);
    w.len(f.stack_maps.len());
    for (ret, slots) in &f.stack_maps {
        w.u32(*ret);
        w.u32s(slots);
    }
    w.opt(f.debug_locals, |w, (a, b)| {
        w.u32(a);
        w.u32(b);
    });
    w.opt(f.live.as_ref(), |w, l| {
        w.locals(&l.locals);
        w.len(l.saved_regs.len());
        for (reg, off) in &l.saved_regs {
            w.u8(*reg);
            w.i32(*off);
        }
        w.pairs(&l.trap_jumps);
        w.pairs(&l.site_jumps);
        w.u32s(&l.kept);
    });
    w.u32s(&f.site_traps);
    w.pairs(&f.site_flips);
    for sites in [&f.stack_sites, &f.call_stacks] {
        w.len(sites.len());
        for site in sites {
            w.u32(site.offset);
            w.len(site.entries.len());
            for e in &site.entries {
                w.u8(stack_type_code(e.ty));
                w.opt(e.loc, |w, l| w.u32(l));
            }
        }
    }
    Some(())
}

/// An operand-stack entry's type as one byte (a typed reference is kept as
/// its top type, all a debugger shows).
fn stack_type_code(t: wasmparser::ValType) -> u8 {
    use wasmparser::ValType as V;
    match t {
        V::I32 => 0,
        V::I64 => 1,
        V::F32 => 2,
        V::F64 => 3,
        V::V128 => 4,
        V::Ref(r) if r.is_extern_ref() => 6,
        V::Ref(_) => 5,
    }
}

fn stack_type(code: u8) -> Option<wasmparser::ValType> {
    use wasmparser::ValType as V;
    Some(match code {
        0 => V::I32,
        1 => V::I64,
        2 => V::F32,
        3 => V::F64,
        4 => V::V128,
        5 => V::FUNCREF,
        6 => V::EXTERNREF,
        _ => return None,
    })
}

fn read_function(r: &mut Reader) -> Option<CompiledFunction> {
    let code = r.bytes()?;
    let relocs = r.list(17, |r| {
        let offset = r.u32()?;
        let kind = *RELOCS.get(r.u8()? as usize)?;
        let target = match (r.u8()?, r.u32()?) {
            (0, i) => RelocTarget::WasmFunc(cranelift_wasm::FuncIndex::from_u32(i)),
            (1, l) => RelocTarget::LibCall(*LIBCALLS.get(l as usize)?),
            (2, h) => RelocTarget::Host(*HostFunc::ALL.get(h as usize)?),
            _ => return None,
        };
        let addend = r.i64()?;
        // A relocation must lie inside the code it patches.
        let width = if kind == Reloc::Abs8 { 8 } else { 4 };
        (offset as usize + width <= code.len()).then_some(())?;
        Some(Relocation {
            offset,
            kind,
            target,
            addend,
        })
    })?;
    let traps = r.list(5, |r| {
        Some((r.u32()?, TrapCode::from_index(r.u8()? as usize)?))
    })?;
    let srclocs = r.list(12, |r| {
        Some(SrcLoc {
            start: r.u32()?,
            end: r.u32()?,
            wasm_offset: r.u32()?,
        })
    })?;
    let unwind = r.bytes()?;
    let value_labels = r.locals()?;
    let frame_size = r.u32()?;
    let stack_maps = r.list(8, |r| Some((r.u32()?, r.u32s()?)))?;
    let debug_locals = r.opt(|r| Some((r.u32()?, r.u32()?)))?;
    let live = r.opt(|r| {
        Some(LiveDebug {
            locals: r.locals()?,
            saved_regs: r.list(5, |r| Some((r.u8()?, r.i32()?)))?,
            trap_jumps: r.pairs()?,
            site_jumps: r.pairs()?,
            kept: r.u32s()?,
        })
    })?;
    let site_traps = r.u32s()?;
    let site_flips = r.pairs()?;
    let sites = |r: &mut Reader| {
        r.list(8, |r| {
            Some(StackSite {
                offset: r.u32()?,
                entries: r.list(2, |r| {
                    Some(StackEntry {
                        ty: stack_type(r.u8()?)?,
                        loc: r.opt(|r| r.u32())?,
                    })
                })?,
            })
        })
    };
    let stack_sites = sites(r)?;
    let call_stacks = sites(r)?;
    Some(CompiledFunction {
        code,
        relocs,
        traps,
        srclocs,
        unwind,
        value_labels,
        frame_size,
        stack_maps,
        debug_locals,
        live,
        site_traps,
        site_flips,
        stack_sites,
        call_stacks,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hash_depends_on_every_byte_and_the_length() {
        let base = vec![7u8; 100];
        let h = hash128(&base);
        for i in 0..base.len() {
            let mut b = base.clone();
            b[i] ^= 1;
            assert_ne!(hash128(&b), h, "byte {i}");
        }
        assert_ne!(hash128(&base[..99]), h);
        assert_ne!(hash128(&[]), hash128(&[0]));
        assert_ne!(hash128(&[0; 16]), hash128(&[0; 17]));
    }

    #[test]
    fn file_names_are_recognized() {
        let key = format!("{:032x}", 0x1234u128);
        assert!(matches!(
            cache_file_kind(Path::new(&format!("{key}.wsc"))),
            Some(FileKind::Entry)
        ));
        assert!(matches!(
            cache_file_kind(Path::new(&format!("{key}.42.0.tmp"))),
            Some(FileKind::Temp)
        ));
        assert!(cache_file_kind(Path::new("notes.wsc")).is_none());
        assert!(cache_file_kind(Path::new(&format!("{key}.txt"))).is_none());
    }
}
