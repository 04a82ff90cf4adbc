//! WASI preview1 (`wasi_snapshot_preview1`): every function wasi-libc can
//! call, with Wasmtime's semantics where they are observable.
//!
//! The seam: [`WasiCtx`] holds the guest's view of the world (arguments,
//! environment, stdio streams, preopened directories), so a debugger can
//! capture stdio and an embedder can use the engine without WASI at all.
//! Filesystem access goes through `cap-std` only (see `ctx`).

mod ctx;

pub use ctx::{errno, Descriptor, WasiCtx};

use crate::{Caller, Extern, FuncType, Linker, Trap, Val, ValType};
use cap_fs_ext::{
    DirExt, FollowSymlinks, OpenOptionsFollowExt, OpenOptionsMaybeDirExt, SystemTimeSpec,
};
use ctx::{errno_of, DirDesc, FileDesc};
use std::io::{Read, Seek, SeekFrom, Write};
use std::os::unix::fs::{FileExt, MetadataExt};
use std::time::{Duration, SystemTime};

type Errno = u16;

/// Bounds-checked views of guest memory.
struct Guest<'a>(&'a mut [u8]);

impl Guest<'_> {
    fn slice(&mut self, ptr: u32, len: u32) -> Result<&mut [u8], Errno> {
        let start = ptr as usize;
        let end = start.checked_add(len as usize).ok_or(errno::FAULT)?;
        self.0.get_mut(start..end).ok_or(errno::FAULT)
    }
    fn read<const N: usize>(&mut self, ptr: u32) -> Result<[u8; N], Errno> {
        self.slice(ptr, N as u32)?
            .try_into()
            .map_err(|_| errno::FAULT)
    }
    fn u8(&mut self, ptr: u32) -> Result<u8, Errno> {
        Ok(self.read::<1>(ptr)?[0])
    }

    fn u32(&mut self, ptr: u32) -> Result<u32, Errno> {
        Ok(u32::from_le_bytes(self.read(ptr)?))
    }
    fn u64(&mut self, ptr: u32) -> Result<u64, Errno> {
        Ok(u64::from_le_bytes(self.read(ptr)?))
    }
    fn put(&mut self, ptr: u32, bytes: &[u8]) -> Result<(), Errno> {
        self.slice(ptr, bytes.len() as u32)?.copy_from_slice(bytes);
        Ok(())
    }
    fn put_u32(&mut self, ptr: u32, v: u32) -> Result<(), Errno> {
        self.put(ptr, &v.to_le_bytes())
    }
    fn put_u64(&mut self, ptr: u32, v: u64) -> Result<(), Errno> {
        self.put(ptr, &v.to_le_bytes())
    }
    /// A guest string (UTF-8 path).
    fn str(&mut self, ptr: u32, len: u32) -> Result<String, Errno> {
        let bytes = self.slice(ptr, len)?.to_vec();
        String::from_utf8(bytes).map_err(|_| errno::ILSEQ)
    }
    /// An iovec array: (ptr, len) pairs.
    fn iovecs(&mut self, iovs: u32, count: u32) -> Result<Vec<(u32, u32)>, Errno> {
        (0..count)
            .map(|i| {
                let at = iovs.wrapping_add(i * 8);
                Ok((self.u32(at)?, self.u32(at.wrapping_add(4))?))
            })
            .collect()
    }
    /// NUL-terminated strings and the pointer array to them.
    fn strings(&mut self, ptrs: u32, buf: u32, items: &[String]) -> Result<(), Errno> {
        let mut at = buf;
        for (i, s) in items.iter().enumerate() {
            self.put_u32(ptrs.wrapping_add(i as u32 * 4), at)?;
            self.put(at, s.as_bytes())?;
            self.put(at + s.len() as u32, &[0])?;
            at = at.wrapping_add(s.len() as u32 + 1);
        }
        Ok(())
    }
}

fn io<T>(r: std::io::Result<T>) -> Result<T, Errno> {
    r.map_err(|e| errno_of(&e))
}

// Filetypes.
const FT_UNKNOWN: u8 = 0;
const FT_BLOCK: u8 = 1;
const FT_CHAR: u8 = 2;
const FT_DIR: u8 = 3;
const FT_FILE: u8 = 4;
const FT_SYMLINK: u8 = 7;
// fdflags.
const FDFLAG_APPEND: u16 = 1;
const FDFLAG_NONBLOCK: u16 = 4;
// oflags.
const O_CREAT: u16 = 1;
const O_DIRECTORY: u16 = 2;
const O_EXCL: u16 = 4;
const O_TRUNC: u16 = 8;
// lookupflags.
const LOOKUP_SYMLINK_FOLLOW: u32 = 1;
// rights.
const RIGHT_FD_READ: u64 = 1 << 1;
const RIGHT_FD_WRITE: u64 = 1 << 6;
const ALL_RIGHTS: u64 = (1 << 30) - 1;
// fstflags.
const FST_ATIM: u16 = 1;
const FST_ATIM_NOW: u16 = 2;
const FST_MTIM: u16 = 4;
const FST_MTIM_NOW: u16 = 8;

fn filetype_of(ft: std::fs::FileType) -> u8 {
    use std::os::unix::fs::FileTypeExt;
    if ft.is_dir() {
        FT_DIR
    } else if ft.is_file() {
        FT_FILE
    } else if ft.is_symlink() {
        FT_SYMLINK
    } else if ft.is_char_device() {
        FT_CHAR
    } else if ft.is_block_device() {
        FT_BLOCK
    } else {
        FT_UNKNOWN
    }
}

fn nanos(secs: i64, nsecs: i64) -> u64 {
    (secs as u64)
        .wrapping_mul(1_000_000_000)
        .wrapping_add(nsecs as u64)
}

/// Writes a 64-byte `filestat`.
fn put_filestat(g: &mut Guest, ptr: u32, m: &std::fs::Metadata) -> Result<(), Errno> {
    let mut b = [0u8; 64];
    b[0..8].copy_from_slice(&m.dev().to_le_bytes());
    b[8..16].copy_from_slice(&m.ino().to_le_bytes());
    b[16] = filetype_of(m.file_type());
    b[24..32].copy_from_slice(&m.nlink().to_le_bytes());
    b[32..40].copy_from_slice(&m.size().to_le_bytes());
    b[40..48].copy_from_slice(&nanos(m.atime(), m.atime_nsec()).to_le_bytes());
    b[48..56].copy_from_slice(&nanos(m.mtime(), m.mtime_nsec()).to_le_bytes());
    b[56..64].copy_from_slice(&nanos(m.ctime(), m.ctime_nsec()).to_le_bytes());
    g.put(ptr, &b)
}

fn cap_metadata_to_std(
    dir: &cap_std::fs::Dir,
    path: &str,
    follow: bool,
) -> Result<std::fs::Metadata, Errno> {
    // cap-std metadata lacks some fields we need (nlink, ctime): open the
    // path (or the link itself) and ask the host for its metadata.
    let mut opts = cap_std::fs::OpenOptions::new();
    opts.read(true).maybe_dir(true);
    opts.follow(if follow {
        FollowSymlinks::Yes
    } else {
        FollowSymlinks::No
    });
    match dir.open_with(path, &opts) {
        Ok(f) => io(f.into_std().metadata()),
        Err(e) if !follow && e.raw_os_error() == Some(libc::ELOOP) => {
            // A symlink itself: cap-std's symlink metadata carries what we need.
            let m = io(dir.symlink_metadata(path))?;
            Err(if m.is_symlink() {
                errno::LOOP
            } else {
                errno::IO
            })
        }
        Err(e) => Err(errno_of(&e)),
    }
}

fn time_spec(flags: u16, set: u16, now: u16, t: u64) -> Result<Option<SystemTimeSpec>, Errno> {
    match (flags & set != 0, flags & now != 0) {
        (true, true) => Err(errno::INVAL),
        (true, false) => Ok(Some(SystemTimeSpec::Absolute(
            cap_std::time::SystemTime::from_std(SystemTime::UNIX_EPOCH + Duration::from_nanos(t)),
        ))),
        (false, true) => Ok(Some(SystemTimeSpec::SymbolicNow)),
        (false, false) => Ok(None),
    }
}

fn to_timespec(spec: Option<SystemTimeSpec>) -> libc::timespec {
    match spec {
        None => libc::timespec {
            tv_sec: 0,
            tv_nsec: libc::UTIME_OMIT,
        },
        Some(SystemTimeSpec::SymbolicNow) => libc::timespec {
            tv_sec: 0,
            tv_nsec: libc::UTIME_NOW,
        },
        Some(SystemTimeSpec::Absolute(t)) => {
            let d = t
                .into_std()
                .duration_since(SystemTime::UNIX_EPOCH)
                .unwrap_or_default();
            libc::timespec {
                tv_sec: d.as_secs() as libc::time_t,
                tv_nsec: d.subsec_nanos() as libc::c_long,
            }
        }
    }
}

fn clock_now(id: u32) -> Result<u64, Errno> {
    let clock = match id {
        0 => libc::CLOCK_REALTIME,
        1 => libc::CLOCK_MONOTONIC,
        2 => libc::CLOCK_PROCESS_CPUTIME_ID,
        3 => libc::CLOCK_THREAD_CPUTIME_ID,
        _ => return Err(errno::INVAL),
    };
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes one timespec to the pointer we pass.
    if unsafe { libc::clock_gettime(clock, &mut ts) } != 0 {
        return Err(errno::INVAL);
    }
    Ok(nanos(ts.tv_sec, ts.tv_nsec))
}

fn clock_res(id: u32) -> Result<u64, Errno> {
    let clock = match id {
        0 => libc::CLOCK_REALTIME,
        1 => libc::CLOCK_MONOTONIC,
        2 => libc::CLOCK_PROCESS_CPUTIME_ID,
        3 => libc::CLOCK_THREAD_CPUTIME_ID,
        _ => return Err(errno::INVAL),
    };
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_getres writes one timespec to the pointer we pass.
    if unsafe { libc::clock_getres(clock, &mut ts) } != 0 {
        return Err(errno::INVAL);
    }
    Ok(nanos(ts.tv_sec, ts.tv_nsec).max(1))
}

/// Read access to a file descriptor's bytes, or an error.
fn readable(d: &mut Descriptor) -> Result<(), Errno> {
    match d {
        Descriptor::Stdin(_) => Ok(()),
        Descriptor::File(f) if f.readable => Ok(()),
        Descriptor::File(_) => Err(errno::BADF),
        Descriptor::Dir(_) => Err(errno::ISDIR),
        _ => Err(errno::BADF),
    }
}

fn write_to(d: &mut Descriptor, bytes: &[u8]) -> Result<usize, Errno> {
    match d {
        Descriptor::Stdout(w) | Descriptor::Stderr(w) => {
            io(w.write_all(bytes))?;
            io(w.flush())?;
            Ok(bytes.len())
        }
        Descriptor::File(f) if f.writable => {
            if f.append {
                io(f.file.seek(SeekFrom::End(0)))?;
            }
            io(f.file.write(bytes))
        }
        Descriptor::Dir(_) => Err(errno::ISDIR),
        _ => Err(errno::BADF),
    }
}

fn read_from(d: &mut Descriptor, buf: &mut [u8]) -> Result<usize, Errno> {
    readable(d)?;
    match d {
        Descriptor::Stdin(r) => io(r.read(buf)),
        Descriptor::File(f) => io(f.file.read(buf)),
        _ => Err(errno::BADF),
    }
}

type Args<'a> = &'a [Val];

fn u32a(a: Args, i: usize) -> u32 {
    match a[i] {
        Val::I32(v) => v as u32,
        _ => 0,
    }
}

fn u64a(a: Args, i: usize) -> u64 {
    match a[i] {
        Val::I64(v) => v as u64,
        _ => 0,
    }
}

type Getter<T> = fn(&mut T) -> &mut WasiCtx;

/// Defines one WASI function returning an errno.
fn def<T: 'static>(
    linker: &mut Linker<T>,
    get: Getter<T>,
    name: &str,
    params: &[ValType],
    f: impl Fn(&mut Guest, &mut WasiCtx, Args) -> Result<(), Errno> + 'static,
) {
    linker.func_new(
        "wasi_snapshot_preview1",
        name,
        FuncType::new(params.iter().copied(), [ValType::I32]),
        move |mut caller: Caller<'_, T>, a, r| {
            let e = match caller.get_export("memory") {
                Some(Extern::Memory(mem)) => {
                    let (bytes, data) = caller.memory_and_data(mem);
                    f(&mut Guest(bytes), get(data), a)
                        .err()
                        .unwrap_or(errno::SUCCESS)
                }
                _ => errno::FAULT,
            };
            r[0] = Val::I32(i32::from(e));
            Ok(())
        },
    );
}

/// Opens `path` under directory `fd` per the guest's flags.
fn path_open(
    ctx: &mut WasiCtx,
    fd: u32,
    lookup: u32,
    path: &str,
    oflags: u16,
    rights: u64,
    fdflags: u16,
) -> Result<u32, Errno> {
    let parent = ctx.dir(fd)?;
    let read_only = parent.read_only;
    let follow = if lookup & LOOKUP_SYMLINK_FOLLOW != 0 {
        FollowSymlinks::Yes
    } else {
        FollowSymlinks::No
    };
    let wants_write = rights & RIGHT_FD_WRITE != 0
        || oflags & (O_CREAT | O_TRUNC) != 0
        || fdflags & FDFLAG_APPEND != 0;
    if read_only && wants_write {
        return Err(errno::NOTCAPABLE);
    }
    if oflags & O_DIRECTORY != 0 {
        if oflags & (O_CREAT | O_TRUNC) != 0 {
            return Err(errno::INVAL);
        }
        let dir = if follow == FollowSymlinks::Yes {
            io(parent.dir.open_dir(path))?
        } else {
            io(parent.dir.open_dir_nofollow(path))?
        };
        return Ok(ctx.insert(Descriptor::Dir(DirDesc {
            dir,
            preopen: None,
            read_only,
        })));
    }
    let mut opts = cap_std::fs::OpenOptions::new();
    let write = rights & RIGHT_FD_WRITE != 0 && !read_only || oflags & O_TRUNC != 0;
    let read = rights & RIGHT_FD_READ != 0 || !write;
    opts.read(read).write(write);
    if fdflags & FDFLAG_APPEND != 0 {
        opts.append(true);
    }
    if oflags & O_CREAT != 0 {
        if oflags & O_EXCL != 0 {
            opts.create_new(true);
        } else {
            opts.create(true);
        }
        opts.write(true);
    }
    if oflags & O_TRUNC != 0 {
        opts.truncate(true);
    }
    opts.follow(follow);
    opts.maybe_dir(!write && oflags & O_CREAT == 0);
    let file = io(parent.dir.open_with(path, &opts))?.into_std();
    let meta = io(file.metadata())?;
    if meta.is_dir() {
        let dir = cap_std::fs::Dir::from_std_file(file);
        return Ok(ctx.insert(Descriptor::Dir(DirDesc {
            dir,
            preopen: None,
            read_only,
        })));
    }
    Ok(ctx.insert(Descriptor::File(FileDesc {
        file,
        append: fdflags & FDFLAG_APPEND != 0,
        nonblock: fdflags & FDFLAG_NONBLOCK != 0,
        readable: read,
        writable: write || oflags & O_CREAT != 0,
    })))
}

/// Serializes directory entries starting at `cookie` into `buf`.
fn readdir(dir: &cap_std::fs::Dir, cookie: u64) -> Result<Vec<u8>, Errno> {
    let mut entries: Vec<(u64, u8, Vec<u8>)> = Vec::new();
    let meta = io(dir.dir_metadata())?;
    entries.push((cap_std::fs::MetadataExt::ino(&meta), FT_DIR, b".".to_vec()));
    entries.push((0, FT_DIR, b"..".to_vec()));
    for e in io(dir.entries())? {
        let e = io(e)?;
        use cap_fs_ext::DirEntryExt;
        let ft = io(e.file_type()).map(|t| {
            if t.is_dir() {
                FT_DIR
            } else if t.is_symlink() {
                FT_SYMLINK
            } else if t.is_file() {
                FT_FILE
            } else {
                FT_UNKNOWN
            }
        })?;
        use std::os::unix::ffi::OsStrExt;
        entries.push((
            e.full_metadata()
                .map(|m| cap_std::fs::MetadataExt::ino(&m))
                .unwrap_or(0),
            ft,
            e.file_name().as_bytes().to_vec(),
        ));
    }
    let mut out = Vec::new();
    for (i, (ino, ft, name)) in entries.into_iter().enumerate().skip(cookie as usize) {
        out.extend_from_slice(&(i as u64 + 1).to_le_bytes());
        out.extend_from_slice(&ino.to_le_bytes());
        out.extend_from_slice(&(name.len() as u32).to_le_bytes());
        out.extend_from_slice(&[ft, 0, 0, 0]);
        out.extend_from_slice(&name);
    }
    Ok(out)
}

/// Runs `poll_oneoff`: returns the events to report.
fn poll(ctx: &mut WasiCtx, subs: &[(u64, u8, [u8; 40])]) -> Result<Vec<[u8; 32]>, Errno> {
    const EV_CLOCK: u8 = 0;
    const EV_FD_READ: u8 = 1;
    const EV_FD_WRITE: u8 = 2;
    let event = |userdata: u64, err: u16, ty: u8, nbytes: u64| {
        let mut e = [0u8; 32];
        e[0..8].copy_from_slice(&userdata.to_le_bytes());
        e[8..10].copy_from_slice(&err.to_le_bytes());
        e[10] = ty;
        e[16..24].copy_from_slice(&nbytes.to_le_bytes());
        e
    };
    let mut ready = Vec::new();
    let mut deadline: Option<(u64, Vec<u64>)> = None;
    let mut stdin_waiters = Vec::new();
    for &(userdata, tag, body) in subs {
        let u32_at = |o: usize| u32::from_le_bytes(body[o..o + 4].try_into().unwrap());
        let u64_at = |o: usize| u64::from_le_bytes(body[o..o + 8].try_into().unwrap());
        match tag {
            EV_CLOCK => {
                // body: id @0, timeout @8, precision @16, flags @24.
                let id = u32_at(0);
                let timeout = u64_at(8);
                let abstime = u16::from_le_bytes([body[24], body[25]]) & 1 != 0;
                let now = match clock_now(id) {
                    Ok(n) => n,
                    Err(e) => {
                        ready.push(event(userdata, e, EV_CLOCK, 0));
                        continue;
                    }
                };
                let wait = if abstime {
                    timeout.saturating_sub(now)
                } else {
                    timeout
                };
                match &mut deadline {
                    Some((d, users)) if *d == wait => users.push(userdata),
                    Some((d, _)) if *d < wait => {}
                    _ => deadline = Some((wait, vec![userdata])),
                }
            }
            EV_FD_READ | EV_FD_WRITE => {
                let fd = u32_at(0);
                match ctx.get(fd) {
                    Err(e) => ready.push(event(userdata, e, tag, 0)),
                    Ok(Descriptor::Stdin(_)) if tag == EV_FD_READ => stdin_waiters.push(userdata),
                    Ok(Descriptor::File(f)) => {
                        let n = if tag == EV_FD_READ {
                            let len = f.file.metadata().map(|m| m.len()).unwrap_or(0);
                            let pos = f.file.stream_position().unwrap_or(0);
                            len.saturating_sub(pos)
                        } else {
                            0
                        };
                        ready.push(event(userdata, 0, tag, n));
                    }
                    Ok(Descriptor::Stdout(_) | Descriptor::Stderr(_)) if tag == EV_FD_WRITE => {
                        ready.push(event(userdata, 0, tag, 0))
                    }
                    Ok(_) => ready.push(event(userdata, errno::BADF, tag, 0)),
                }
            }
            _ => return Err(errno::INVAL),
        }
    }
    if !stdin_waiters.is_empty() && ready.is_empty() {
        let timeout_ms = deadline
            .as_ref()
            .map_or(-1, |(ns, _)| (ns / 1_000_000).min(i32::MAX as u64) as i32);
        let mut pfd = libc::pollfd {
            fd: 0,
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: one valid pollfd.
        let n = unsafe { libc::poll(&mut pfd, 1, timeout_ms) };
        if n > 0 {
            for u in &stdin_waiters {
                ready.push(event(*u, 0, EV_FD_READ, 1));
            }
            return Ok(ready);
        }
    }
    if ready.is_empty() {
        if let Some((wait, users)) = deadline {
            std::thread::sleep(Duration::from_nanos(wait));
            for u in users {
                ready.push(event(u, 0, EV_CLOCK, 0));
            }
        }
    }
    Ok(ready)
}

/// Adds every `wasi_snapshot_preview1` function to `linker`; `get` finds
/// the context in the store's data.
pub fn add_to_linker<T: 'static>(linker: &mut Linker<T>, get: Getter<T>) {
    use ValType::{I32, I64};

    def(linker, get, "args_sizes_get", &[I32, I32], |g, ctx, a| {
        let size: usize = ctx.args.iter().map(|s| s.len() + 1).sum();
        g.put_u32(u32a(a, 0), ctx.args.len() as u32)?;
        g.put_u32(u32a(a, 1), size as u32)
    });
    def(linker, get, "args_get", &[I32, I32], |g, ctx, a| {
        g.strings(u32a(a, 0), u32a(a, 1), &ctx.args)
    });
    def(
        linker,
        get,
        "environ_sizes_get",
        &[I32, I32],
        |g, ctx, a| {
            let env: Vec<String> = ctx.env.iter().map(|(k, v)| format!("{k}={v}")).collect();
            g.put_u32(u32a(a, 0), env.len() as u32)?;
            g.put_u32(u32a(a, 1), env.iter().map(|s| s.len() as u32 + 1).sum())
        },
    );
    def(linker, get, "environ_get", &[I32, I32], |g, ctx, a| {
        let env: Vec<String> = ctx.env.iter().map(|(k, v)| format!("{k}={v}")).collect();
        g.strings(u32a(a, 0), u32a(a, 1), &env)
    });
    def(linker, get, "clock_res_get", &[I32, I32], |g, _, a| {
        g.put_u64(u32a(a, 1), clock_res(u32a(a, 0))?)
    });
    def(
        linker,
        get,
        "clock_time_get",
        &[I32, I64, I32],
        |g, _, a| g.put_u64(u32a(a, 2), clock_now(u32a(a, 0))?),
    );
    def(linker, get, "random_get", &[I32, I32], |g, _, a| {
        let buf = g.slice(u32a(a, 0), u32a(a, 1))?;
        let mut filled = 0;
        while filled < buf.len() {
            let rest = &mut buf[filled..];
            // SAFETY: getrandom writes at most `rest.len()` bytes into `rest`.
            let n = unsafe { libc::getrandom(rest.as_mut_ptr().cast(), rest.len(), 0) };
            if n < 0 {
                return Err(errno::IO);
            }
            filled += n as usize;
        }
        Ok(())
    });
    def(
        linker,
        get,
        "fd_advise",
        &[I32, I64, I64, I32],
        |_, ctx, a| {
            let f = ctx.file(u32a(a, 0))?;
            if u32a(a, 3) > 5 {
                return Err(errno::INVAL);
            }
            let _ = f;
            Ok(())
        },
    );
    def(linker, get, "fd_allocate", &[I32, I64, I64], |_, ctx, a| {
        let f = ctx.file(u32a(a, 0))?;
        let end = u64a(a, 1).checked_add(u64a(a, 2)).ok_or(errno::FBIG)?;
        let len = io(f.file.metadata())?.len();
        if end > len {
            io(f.file.set_len(end))?;
        }
        Ok(())
    });
    def(linker, get, "fd_close", &[I32], |_, ctx, a| {
        ctx.fds.remove(&u32a(a, 0)).map(|_| ()).ok_or(errno::BADF)
    });
    def(linker, get, "fd_datasync", &[I32], |_, ctx, a| {
        match ctx.get(u32a(a, 0))? {
            Descriptor::File(f) => io(f.file.sync_data()),
            Descriptor::Stdout(w) | Descriptor::Stderr(w) => io(w.flush()),
            _ => Ok(()),
        }
    });
    def(linker, get, "fd_sync", &[I32], |_, ctx, a| {
        match ctx.get(u32a(a, 0))? {
            Descriptor::File(f) => io(f.file.sync_all()),
            Descriptor::Stdout(w) | Descriptor::Stderr(w) => io(w.flush()),
            _ => Ok(()),
        }
    });
    def(linker, get, "fd_fdstat_get", &[I32, I32], |g, ctx, a| {
        let (ft, flags, base) = match ctx.get(u32a(a, 0))? {
            Descriptor::Stdin(_) | Descriptor::Stdout(_) | Descriptor::Stderr(_) => {
                (FT_CHAR, 0, ALL_RIGHTS)
            }
            Descriptor::Dir(d) => (
                FT_DIR,
                0,
                if d.read_only {
                    ALL_RIGHTS & !RIGHT_FD_WRITE
                } else {
                    ALL_RIGHTS
                },
            ),
            Descriptor::File(f) => {
                let mut flags = 0;
                if f.append {
                    flags |= FDFLAG_APPEND;
                }
                if f.nonblock {
                    flags |= FDFLAG_NONBLOCK;
                }
                let mut rights = ALL_RIGHTS;
                if !f.writable {
                    rights &= !RIGHT_FD_WRITE;
                }
                if !f.readable {
                    rights &= !RIGHT_FD_READ;
                }
                (FT_FILE, flags, rights)
            }
        };
        let mut b = [0u8; 24];
        b[0] = ft;
        b[2..4].copy_from_slice(&flags.to_le_bytes());
        b[8..16].copy_from_slice(&base.to_le_bytes());
        b[16..24].copy_from_slice(&base.to_le_bytes());
        g.put(u32a(a, 1), &b)
    });
    def(
        linker,
        get,
        "fd_fdstat_set_flags",
        &[I32, I32],
        |_, ctx, a| {
            let flags = u32a(a, 1) as u16;
            match ctx.get(u32a(a, 0))? {
                Descriptor::File(f) => {
                    if flags & !(FDFLAG_APPEND | FDFLAG_NONBLOCK) != 0 {
                        return Err(errno::NOTSUP);
                    }
                    f.append = flags & FDFLAG_APPEND != 0;
                    f.nonblock = flags & FDFLAG_NONBLOCK != 0;
                    Ok(())
                }
                Descriptor::Dir(_) => Err(errno::BADF),
                _ => Ok(()),
            }
        },
    );
    def(
        linker,
        get,
        "fd_fdstat_set_rights",
        &[I32, I64, I64],
        |_, ctx, a| ctx.get(u32a(a, 0)).map(|_| ()),
    );
    def(linker, get, "fd_filestat_get", &[I32, I32], |g, ctx, a| {
        let meta = match ctx.get(u32a(a, 0))? {
            Descriptor::File(f) => io(f.file.metadata())?,
            Descriptor::Dir(d) => {
                let std_dir = io(d.dir.try_clone())?.into_std_file();
                io(std_dir.metadata())?
            }
            _ => {
                let mut b = [0u8; 64];
                b[16] = FT_CHAR;
                return g.put(u32a(a, 1), &b);
            }
        };
        put_filestat(g, u32a(a, 1), &meta)
    });
    def(
        linker,
        get,
        "fd_filestat_set_size",
        &[I32, I64],
        |_, ctx, a| {
            let f = ctx.file(u32a(a, 0))?;
            if !f.writable {
                return Err(errno::BADF);
            }
            io(f.file.set_len(u64a(a, 1)))
        },
    );
    def(
        linker,
        get,
        "fd_filestat_set_times",
        &[I32, I64, I64, I32],
        |_, ctx, a| {
            let flags = u32a(a, 3) as u16;
            let atime = time_spec(flags, FST_ATIM, FST_ATIM_NOW, u64a(a, 1))?;
            let mtime = time_spec(flags, FST_MTIM, FST_MTIM_NOW, u64a(a, 2))?;
            use std::os::fd::AsRawFd;
            let raw = match ctx.get(u32a(a, 0))? {
                Descriptor::File(f) => f.file.as_raw_fd(),
                Descriptor::Dir(d) => d.dir.as_raw_fd(),
                _ => return Err(errno::BADF),
            };
            let times = [to_timespec(atime), to_timespec(mtime)];
            // SAFETY: `raw` is an open descriptor we own; `times` has two entries.
            if unsafe { libc::futimens(raw, times.as_ptr()) } != 0 {
                return Err(errno_of(&std::io::Error::last_os_error()));
            }
            Ok(())
        },
    );
    def(
        linker,
        get,
        "fd_pread",
        &[I32, I32, I32, I64, I32],
        |g, ctx, a| {
            let f = ctx.file(u32a(a, 0))?;
            if !f.readable {
                return Err(errno::BADF);
            }
            let mut offset = u64a(a, 3);
            let mut total = 0u32;
            for (ptr, len) in g.iovecs(u32a(a, 1), u32a(a, 2))? {
                let buf = g.slice(ptr, len)?;
                let n = io(f.file.read_at(buf, offset))?;
                total += n as u32;
                offset += n as u64;
                if n < len as usize {
                    break;
                }
            }
            g.put_u32(u32a(a, 4), total)
        },
    );
    def(
        linker,
        get,
        "fd_pwrite",
        &[I32, I32, I32, I64, I32],
        |g, ctx, a| {
            let f = ctx.file(u32a(a, 0))?;
            if !f.writable {
                return Err(errno::BADF);
            }
            let mut offset = u64a(a, 3);
            let mut total = 0u32;
            for (ptr, len) in g.iovecs(u32a(a, 1), u32a(a, 2))? {
                let buf = g.slice(ptr, len)?.to_vec();
                let n = io(f.file.write_at(&buf, offset))?;
                total += n as u32;
                offset += n as u64;
            }
            g.put_u32(u32a(a, 4), total)
        },
    );
    def(linker, get, "fd_prestat_get", &[I32, I32], |g, ctx, a| {
        let Descriptor::Dir(DirDesc {
            preopen: Some(name),
            ..
        }) = ctx.get(u32a(a, 0))?
        else {
            return Err(errno::BADF);
        };
        let len = name.len() as u32;
        g.put_u32(u32a(a, 1), 0)?;
        g.put_u32(u32a(a, 1) + 4, len)
    });
    def(
        linker,
        get,
        "fd_prestat_dir_name",
        &[I32, I32, I32],
        |g, ctx, a| {
            let Descriptor::Dir(DirDesc {
                preopen: Some(name),
                ..
            }) = ctx.get(u32a(a, 0))?
            else {
                return Err(errno::BADF);
            };
            let n = name.len().min(u32a(a, 2) as usize);
            let bytes = name.as_bytes()[..n].to_vec();
            g.put(u32a(a, 1), &bytes)
        },
    );
    def(
        linker,
        get,
        "fd_read",
        &[I32, I32, I32, I32],
        |g, ctx, a| {
            let d = ctx.get(u32a(a, 0))?;
            let mut total = 0u32;
            for (ptr, len) in g.iovecs(u32a(a, 1), u32a(a, 2))? {
                let buf = g.slice(ptr, len)?;
                let n = read_from(d, buf)?;
                total += n as u32;
                if n < len as usize {
                    break;
                }
            }
            g.put_u32(u32a(a, 3), total)
        },
    );
    def(
        linker,
        get,
        "fd_write",
        &[I32, I32, I32, I32],
        |g, ctx, a| {
            let d = ctx.get(u32a(a, 0))?;
            let mut total = 0u32;
            for (ptr, len) in g.iovecs(u32a(a, 1), u32a(a, 2))? {
                let bytes = g.slice(ptr, len)?.to_vec();
                let n = write_to(d, &bytes)?;
                total += n as u32;
                if n < bytes.len() {
                    break;
                }
            }
            g.put_u32(u32a(a, 3), total)
        },
    );
    def(
        linker,
        get,
        "fd_readdir",
        &[I32, I32, I32, I64, I32],
        |g, ctx, a| {
            let d =
                ctx.dir(u32a(a, 0))
                    .map_err(|e| if e == errno::NOTDIR { errno::NOTDIR } else { e })?;
            let bytes = readdir(&d.dir, u64a(a, 3))?;
            let n = bytes.len().min(u32a(a, 2) as usize);
            g.put(u32a(a, 1), &bytes[..n])?;
            g.put_u32(u32a(a, 4), n as u32)
        },
    );
    def(linker, get, "fd_renumber", &[I32, I32], |_, ctx, a| {
        let (from, to) = (u32a(a, 0), u32a(a, 1));
        if !ctx.fds.contains_key(&to) {
            return Err(errno::BADF);
        }
        let d = ctx.fds.remove(&from).ok_or(errno::BADF)?;
        ctx.fds.insert(to, d);
        Ok(())
    });
    def(
        linker,
        get,
        "fd_seek",
        &[I32, I64, I32, I32],
        |g, ctx, a| {
            let f = ctx.file(u32a(a, 0))?;
            let offset = u64a(a, 1) as i64;
            let pos = match u32a(a, 2) {
                0 => SeekFrom::Start(u64::try_from(offset).map_err(|_| errno::INVAL)?),
                1 => SeekFrom::Current(offset),
                2 => SeekFrom::End(offset),
                _ => return Err(errno::INVAL),
            };
            let new = io(f.file.seek(pos))?;
            g.put_u64(u32a(a, 3), new)
        },
    );
    def(linker, get, "fd_tell", &[I32, I32], |g, ctx, a| {
        let f = ctx.file(u32a(a, 0))?;
        let pos = io(f.file.stream_position())?;
        g.put_u64(u32a(a, 1), pos)
    });
    def(
        linker,
        get,
        "path_create_directory",
        &[I32, I32, I32],
        |g, ctx, a| {
            let path = g.str(u32a(a, 1), u32a(a, 2))?;
            let d = ctx.dir(u32a(a, 0))?;
            if d.read_only {
                return Err(errno::NOTCAPABLE);
            }
            io(d.dir.create_dir(path))
        },
    );
    def(
        linker,
        get,
        "path_filestat_get",
        &[I32, I32, I32, I32, I32],
        |g, ctx, a| {
            let path = g.str(u32a(a, 2), u32a(a, 3))?;
            let d = ctx.dir(u32a(a, 0))?;
            let follow = u32a(a, 1) & LOOKUP_SYMLINK_FOLLOW != 0;
            match cap_metadata_to_std(&d.dir, &path, follow) {
                Ok(meta) => put_filestat(g, u32a(a, 4), &meta),
                Err(errno::LOOP) if !follow => {
                    // The path names a symlink: report the link itself.
                    let m = io(d.dir.symlink_metadata(&path))?;
                    let mut b = [0u8; 64];
                    b[8..16].copy_from_slice(&cap_std::fs::MetadataExt::ino(&m).to_le_bytes());
                    b[16] = FT_SYMLINK;
                    b[24..32].copy_from_slice(&cap_std::fs::MetadataExt::nlink(&m).to_le_bytes());
                    b[32..40].copy_from_slice(&m.len().to_le_bytes());
                    g.put(u32a(a, 4), &b)
                }
                Err(e) => Err(e),
            }
        },
    );
    def(
        linker,
        get,
        "path_filestat_set_times",
        &[I32, I32, I32, I32, I64, I64, I32],
        |g, ctx, a| {
            let path = g.str(u32a(a, 2), u32a(a, 3))?;
            let flags = u32a(a, 6) as u16;
            let atime = time_spec(flags, FST_ATIM, FST_ATIM_NOW, u64a(a, 4))?;
            let mtime = time_spec(flags, FST_MTIM, FST_MTIM_NOW, u64a(a, 5))?;
            let d = ctx.dir(u32a(a, 0))?;
            if d.read_only {
                return Err(errno::NOTCAPABLE);
            }
            if u32a(a, 1) & LOOKUP_SYMLINK_FOLLOW != 0 {
                io(d.dir.set_times(path, atime, mtime))
            } else {
                io(d.dir.set_symlink_times(path, atime, mtime))
            }
        },
    );
    def(
        linker,
        get,
        "path_link",
        &[I32, I32, I32, I32, I32, I32, I32],
        |g, ctx, a| {
            let old = g.str(u32a(a, 2), u32a(a, 3))?;
            let new = g.str(u32a(a, 5), u32a(a, 6))?;
            if u32a(a, 1) & LOOKUP_SYMLINK_FOLLOW != 0 {
                return Err(errno::INVAL);
            }
            let new_dir = io(ctx.dir(u32a(a, 4))?.dir.try_clone())?;
            if ctx.dir(u32a(a, 4))?.read_only {
                return Err(errno::NOTCAPABLE);
            }
            io(ctx.dir(u32a(a, 0))?.dir.hard_link(old, &new_dir, new))
        },
    );
    def(
        linker,
        get,
        "path_open",
        &[I32, I32, I32, I32, I32, I64, I64, I32, I32],
        |g, ctx, a| {
            let path = g.str(u32a(a, 2), u32a(a, 3))?;
            let fd = path_open(
                ctx,
                u32a(a, 0),
                u32a(a, 1),
                &path,
                u32a(a, 4) as u16,
                u64a(a, 5),
                u32a(a, 7) as u16,
            )?;
            g.put_u32(u32a(a, 8), fd)
        },
    );
    def(
        linker,
        get,
        "path_readlink",
        &[I32, I32, I32, I32, I32, I32],
        |g, ctx, a| {
            let path = g.str(u32a(a, 1), u32a(a, 2))?;
            let target = io(ctx.dir(u32a(a, 0))?.dir.read_link_contents(path))?;
            use std::os::unix::ffi::OsStrExt;
            let bytes = target.as_os_str().as_bytes();
            let n = bytes.len().min(u32a(a, 4) as usize);
            let bytes = bytes[..n].to_vec();
            g.put(u32a(a, 3), &bytes)?;
            g.put_u32(u32a(a, 5), n as u32)
        },
    );
    def(
        linker,
        get,
        "path_remove_directory",
        &[I32, I32, I32],
        |g, ctx, a| {
            let path = g.str(u32a(a, 1), u32a(a, 2))?;
            let d = ctx.dir(u32a(a, 0))?;
            if d.read_only {
                return Err(errno::NOTCAPABLE);
            }
            io(d.dir.remove_dir(path))
        },
    );
    def(
        linker,
        get,
        "path_rename",
        &[I32, I32, I32, I32, I32, I32],
        |g, ctx, a| {
            let old = g.str(u32a(a, 1), u32a(a, 2))?;
            let new = g.str(u32a(a, 4), u32a(a, 5))?;
            let target = ctx.dir(u32a(a, 3))?;
            if target.read_only {
                return Err(errno::NOTCAPABLE);
            }
            let target = io(target.dir.try_clone())?;
            let src = ctx.dir(u32a(a, 0))?;
            if src.read_only {
                return Err(errno::NOTCAPABLE);
            }
            io(src.dir.rename(old, &target, new))
        },
    );
    def(
        linker,
        get,
        "path_symlink",
        &[I32, I32, I32, I32, I32],
        |g, ctx, a| {
            let old = g.str(u32a(a, 0), u32a(a, 1))?;
            let new = g.str(u32a(a, 3), u32a(a, 4))?;
            let d = ctx.dir(u32a(a, 2))?;
            if d.read_only {
                return Err(errno::NOTCAPABLE);
            }
            if old.starts_with('/') {
                // An absolute target could never be followed inside the sandbox.
                return Err(errno::PERM);
            }
            io(d.dir.symlink(old, new))
        },
    );
    def(
        linker,
        get,
        "path_unlink_file",
        &[I32, I32, I32],
        |g, ctx, a| {
            let path = g.str(u32a(a, 1), u32a(a, 2))?;
            let d = ctx.dir(u32a(a, 0))?;
            if d.read_only {
                return Err(errno::NOTCAPABLE);
            }
            io(d.dir.remove_file(path))
        },
    );
    def(
        linker,
        get,
        "poll_oneoff",
        &[I32, I32, I32, I32],
        |g, ctx, a| {
            let (input, output, n) = (u32a(a, 0), u32a(a, 1), u32a(a, 2));
            if n == 0 {
                return Err(errno::INVAL);
            }
            let mut subs = Vec::new();
            for i in 0..n {
                let at = input + i * 48;
                let userdata = g.u64(at)?;
                let tag = g.u8(at + 8)?;
                let body: [u8; 40] = g.read(at + 8)?;
                let mut b = [0u8; 40];
                b[..32].copy_from_slice(&body[8..40]);
                subs.push((userdata, tag, b));
            }
            let events = poll(ctx, &subs)?;
            for (i, e) in events.iter().enumerate() {
                g.put(output + i as u32 * 32, e)?;
            }
            g.put_u32(u32a(a, 3), events.len() as u32)
        },
    );
    def(linker, get, "proc_raise", &[I32], |_, _, _| {
        Err(errno::NOSYS)
    });
    def(linker, get, "sched_yield", &[], |_, _, _| {
        std::thread::yield_now();
        Ok(())
    });
    def(linker, get, "sock_accept", &[I32, I32, I32], |_, _, _| {
        Err(errno::NOSYS)
    });
    def(
        linker,
        get,
        "sock_recv",
        &[I32, I32, I32, I32, I32, I32],
        |_, _, _| Err(errno::NOSYS),
    );
    def(
        linker,
        get,
        "sock_send",
        &[I32, I32, I32, I32, I32],
        |_, _, _| Err(errno::NOSYS),
    );
    def(linker, get, "sock_shutdown", &[I32, I32], |_, _, _| {
        Err(errno::NOSYS)
    });
    linker.func_new(
        "wasi_snapshot_preview1",
        "proc_exit",
        FuncType::new([I32], []),
        |_, a, _| Err(Trap::exit(a[0].unwrap_i32())),
    );
}
