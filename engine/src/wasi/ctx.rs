//! The guest's view of the world: arguments, environment, and the
//! descriptor table (stdio streams, preopened directories, opened files).
//!
//! Sandbox invariant: every path the guest names is resolved by `cap-std`
//! relative to a directory descriptor the guest holds, so `..`, absolute
//! paths and symlinks can never reach outside a preopened directory.
//! Descriptors under a read-only preopen can never write.

use cap_std::fs::Dir;
use std::collections::BTreeMap;
use std::fs::File;
use std::io::{Read, Write};
use std::path::Path;

/// WASI errno values (`wasi_snapshot_preview1`).
pub mod errno {
    pub const SUCCESS: u16 = 0;
    pub const TOOBIG: u16 = 1;
    pub const ACCES: u16 = 2;
    pub const AGAIN: u16 = 6;
    pub const BADF: u16 = 8;
    pub const BUSY: u16 = 10;
    pub const EXIST: u16 = 20;
    pub const FAULT: u16 = 21;
    pub const FBIG: u16 = 22;
    pub const ILSEQ: u16 = 25;
    pub const INTR: u16 = 27;
    pub const INVAL: u16 = 28;
    pub const IO: u16 = 29;
    pub const ISDIR: u16 = 31;
    pub const LOOP: u16 = 32;
    pub const MLINK: u16 = 34;
    pub const NAMETOOLONG: u16 = 37;
    pub const NOENT: u16 = 44;
    pub const NOMEM: u16 = 48;
    pub const NOSPC: u16 = 51;
    pub const NOSYS: u16 = 52;
    pub const NOTDIR: u16 = 54;
    pub const NOTEMPTY: u16 = 55;
    pub const NOTSUP: u16 = 58;
    pub const NXIO: u16 = 60;
    pub const OVERFLOW: u16 = 61;
    pub const PERM: u16 = 63;
    pub const PIPE: u16 = 64;
    pub const ROFS: u16 = 69;
    pub const SPIPE: u16 = 70;
    pub const XDEV: u16 = 75;
    pub const NOTCAPABLE: u16 = 76;
}

/// Maps a host I/O error to a WASI errno.
pub fn errno_of(e: &std::io::Error) -> u16 {
    use errno::*;
    if let Some(code) = e.raw_os_error() {
        return match code {
            libc::EPERM => PERM,
            libc::ENOENT => NOENT,
            libc::EIO => IO,
            libc::ENXIO => NXIO,
            libc::E2BIG => TOOBIG,
            libc::EBADF => BADF,
            libc::EAGAIN => AGAIN,
            libc::ENOMEM => NOMEM,
            libc::EACCES => ACCES,
            libc::EFAULT => FAULT,
            libc::EBUSY => BUSY,
            libc::EEXIST => EXIST,
            libc::EXDEV => XDEV,
            libc::ENOTDIR => NOTDIR,
            libc::EISDIR => ISDIR,
            libc::EINVAL => INVAL,
            libc::EFBIG => FBIG,
            libc::ENOSPC => NOSPC,
            libc::ESPIPE => SPIPE,
            libc::EROFS => ROFS,
            libc::EMLINK => MLINK,
            libc::EPIPE => PIPE,
            libc::ENAMETOOLONG => NAMETOOLONG,
            libc::ENOSYS => NOSYS,
            libc::ENOTEMPTY => NOTEMPTY,
            libc::ELOOP => LOOP,
            libc::EOVERFLOW => OVERFLOW,
            libc::EILSEQ => ILSEQ,
            libc::EINTR => INTR,
            libc::EOPNOTSUPP => NOTSUP,
            _ => IO,
        };
    }
    match e.kind() {
        // cap-std reports a path that would leave the sandbox this way.
        std::io::ErrorKind::PermissionDenied => NOTCAPABLE,
        std::io::ErrorKind::NotFound => NOENT,
        std::io::ErrorKind::AlreadyExists => EXIST,
        std::io::ErrorKind::InvalidInput => INVAL,
        _ => IO,
    }
}

/// What a descriptor refers to.
pub enum Descriptor {
    Stdin(Box<dyn Read>),
    Stdout(Box<dyn Write>),
    Stderr(Box<dyn Write>),
    Dir(DirDesc),
    File(FileDesc),
}

pub struct DirDesc {
    pub dir: Dir,
    /// The guest path of a preopened directory.
    pub preopen: Option<String>,
    pub read_only: bool,
}

pub struct FileDesc {
    pub file: File,
    pub append: bool,
    pub nonblock: bool,
    pub readable: bool,
    pub writable: bool,
}

/// The guest's arguments, environment and descriptors.
pub struct WasiCtx {
    pub args: Vec<String>,
    pub env: Vec<(String, String)>,
    pub(crate) fds: BTreeMap<u32, Descriptor>,
}

impl WasiCtx {
    /// Arguments and environment as given; stdio inherited from the host;
    /// no directory preopened.
    pub fn new(args: Vec<String>, env: Vec<(String, String)>) -> Self {
        let mut fds = BTreeMap::new();
        fds.insert(0, Descriptor::Stdin(Box::new(std::io::stdin())));
        fds.insert(1, Descriptor::Stdout(Box::new(std::io::stdout())));
        fds.insert(2, Descriptor::Stderr(Box::new(std::io::stderr())));
        WasiCtx { args, env, fds }
    }

    /// Replaces the guest's standard input.
    pub fn set_stdin(&mut self, r: Box<dyn Read>) {
        self.fds.insert(0, Descriptor::Stdin(r));
    }

    /// Replaces the guest's standard output (the debugger captures it).
    pub fn set_stdout(&mut self, w: Box<dyn Write>) {
        self.fds.insert(1, Descriptor::Stdout(w));
    }

    /// Replaces the guest's standard error.
    pub fn set_stderr(&mut self, w: Box<dyn Write>) {
        self.fds.insert(2, Descriptor::Stderr(w));
    }

    /// Gives the guest the host directory `host` under the name `guest`.
    pub fn preopen_dir(
        &mut self,
        host: &Path,
        guest: &str,
        read_only: bool,
    ) -> std::io::Result<()> {
        let dir = Dir::open_ambient_dir(host, cap_std::ambient_authority())?;
        let fd = self.next_fd();
        self.fds.insert(
            fd,
            Descriptor::Dir(DirDesc {
                dir,
                preopen: Some(guest.to_string()),
                read_only,
            }),
        );
        Ok(())
    }

    pub(crate) fn next_fd(&self) -> u32 {
        (0..)
            .find(|fd| !self.fds.contains_key(fd))
            .unwrap_or(u32::MAX)
    }

    pub(crate) fn get(&mut self, fd: u32) -> Result<&mut Descriptor, u16> {
        self.fds.get_mut(&fd).ok_or(errno::BADF)
    }

    pub(crate) fn dir(&mut self, fd: u32) -> Result<&mut DirDesc, u16> {
        match self.get(fd)? {
            Descriptor::Dir(d) => Ok(d),
            _ => Err(errno::NOTDIR),
        }
    }

    pub(crate) fn file(&mut self, fd: u32) -> Result<&mut FileDesc, u16> {
        match self.get(fd)? {
            Descriptor::File(f) => Ok(f),
            Descriptor::Dir(_) => Err(errno::ISDIR),
            _ => Err(errno::SPIPE),
        }
    }

    pub(crate) fn insert(&mut self, d: Descriptor) -> u32 {
        let fd = self.next_fd();
        self.fds.insert(fd, d);
        fd
    }
}
