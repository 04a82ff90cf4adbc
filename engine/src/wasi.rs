//! A minimal WASI preview1 (`wasi_snapshot_preview1`): enough for a C program
//! built against wasi-libc that prints, reads its arguments, environment,
//! clocks and random bytes, and exits with a status.
//!
//! The seam: [`WasiCtx`] holds the guest's view of the world (arguments,
//! environment, stdio streams), so a debugger can capture stdio and an
//! embedder can leave WASI out entirely. Filesystem access is not offered:
//! no directory is preopened, so the guest can reach no file.

use crate::{Caller, Extern, FuncType, Linker, Trap, Val, ValType};
use std::io::{Read, Write};

/// WASI errno values used here.
mod errno {
    pub const SUCCESS: i32 = 0;
    pub const BADF: i32 = 8;
    pub const FAULT: i32 = 21;
    pub const INVAL: i32 = 28;
    pub const IO: i32 = 29;
    pub const SPIPE: i32 = 70;
}

/// The guest's arguments, environment and standard streams.
pub struct WasiCtx {
    pub args: Vec<String>,
    pub env: Vec<(String, String)>,
    pub stdin: Box<dyn Read>,
    pub stdout: Box<dyn Write>,
    pub stderr: Box<dyn Write>,
}

impl WasiCtx {
    /// Arguments and environment as given; stdio inherited from the host.
    pub fn new(args: Vec<String>, env: Vec<(String, String)>) -> Self {
        WasiCtx {
            args,
            env,
            stdin: Box::new(std::io::stdin()),
            stdout: Box::new(std::io::stdout()),
            stderr: Box::new(std::io::stderr()),
        }
    }
}

fn mem_error(_: std::array::TryFromSliceError) -> i32 {
    errno::FAULT
}

/// Bounds-checked views of guest memory.
struct Guest<'a>(&'a mut [u8]);

impl Guest<'_> {
    fn slice(&mut self, ptr: i32, len: u32) -> Result<&mut [u8], i32> {
        let start = ptr as u32 as usize;
        let end = start.checked_add(len as usize).ok_or(errno::FAULT)?;
        self.0.get_mut(start..end).ok_or(errno::FAULT)
    }
    fn read_u32(&mut self, ptr: i32) -> Result<u32, i32> {
        Ok(u32::from_le_bytes(
            self.slice(ptr, 4)?.try_into().map_err(mem_error)?,
        ))
    }
    fn write_u32(&mut self, ptr: i32, v: u32) -> Result<(), i32> {
        self.slice(ptr, 4)?.copy_from_slice(&v.to_le_bytes());
        Ok(())
    }
    fn write_u64(&mut self, ptr: i32, v: u64) -> Result<(), i32> {
        self.slice(ptr, 8)?.copy_from_slice(&v.to_le_bytes());
        Ok(())
    }
    /// Reads an iovec array: (ptr, len) pairs.
    fn iovecs(&mut self, iovs: i32, count: i32) -> Result<Vec<(i32, u32)>, i32> {
        (0..count as u32)
            .map(|i| {
                let at = iovs.wrapping_add((i * 8) as i32);
                Ok((
                    self.read_u32(at)? as i32,
                    self.read_u32(at.wrapping_add(4))?,
                ))
            })
            .collect()
    }
    /// Writes a list of NUL-terminated strings and the pointer array to them.
    fn write_strings(&mut self, ptrs: i32, buf: i32, items: &[String]) -> Result<(), i32> {
        let mut at = buf;
        for (i, s) in items.iter().enumerate() {
            self.write_u32(ptrs.wrapping_add((i * 4) as i32), at as u32)?;
            let dst = self.slice(at, s.len() as u32 + 1)?;
            dst[..s.len()].copy_from_slice(s.as_bytes());
            dst[s.len()] = 0;
            at = at.wrapping_add(s.len() as i32 + 1);
        }
        Ok(())
    }
}

type Getter<T> = fn(&mut T) -> &mut WasiCtx;

/// Runs `f` with the caller's memory and WASI context; returns its errno.
fn with_guest<T>(
    caller: &mut Caller<'_, T>,
    get: Getter<T>,
    f: impl FnOnce(&mut Guest, &mut WasiCtx) -> Result<(), i32>,
) -> i32 {
    let Some(Extern::Memory(mem)) = caller.get_export("memory") else {
        return errno::FAULT;
    };
    let (bytes, data) = caller.memory_and_data(mem);
    match f(&mut Guest(bytes), get(data)) {
        Ok(()) => errno::SUCCESS,
        Err(e) => e,
    }
}

fn env_strings(ctx: &WasiCtx) -> Vec<String> {
    ctx.env.iter().map(|(k, v)| format!("{k}={v}")).collect()
}

fn clock_now(id: i32) -> Result<u64, i32> {
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
    Ok(ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64)
}

/// Adds the `wasi_snapshot_preview1` functions to `linker`; `get` finds the
/// context in the store's data.
pub fn add_to_linker<T: 'static>(linker: &mut Linker<T>, get: Getter<T>) {
    use ValType::{I32, I64};
    const M: &str = "wasi_snapshot_preview1";
    let ty = |p: &[ValType]| FuncType::new(p.iter().copied(), [I32]);
    let ret = |r: &mut [Val], e: i32| r[0] = Val::I32(e);

    linker.func_new(M, "args_sizes_get", ty(&[I32, I32]), move |mut c, a, r| {
        let e = with_guest(&mut c, get, |g, ctx| {
            let size: usize = ctx.args.iter().map(|s| s.len() + 1).sum();
            g.write_u32(a[0].unwrap_i32(), ctx.args.len() as u32)?;
            g.write_u32(a[1].unwrap_i32(), size as u32)
        });
        ret(r, e);
        Ok(())
    });
    linker.func_new(M, "args_get", ty(&[I32, I32]), move |mut c, a, r| {
        let e = with_guest(&mut c, get, |g, ctx| {
            g.write_strings(a[0].unwrap_i32(), a[1].unwrap_i32(), &ctx.args)
        });
        ret(r, e);
        Ok(())
    });
    linker.func_new(
        M,
        "environ_sizes_get",
        ty(&[I32, I32]),
        move |mut c, a, r| {
            let e = with_guest(&mut c, get, |g, ctx| {
                let env = env_strings(ctx);
                let size: usize = env.iter().map(|s| s.len() + 1).sum();
                g.write_u32(a[0].unwrap_i32(), env.len() as u32)?;
                g.write_u32(a[1].unwrap_i32(), size as u32)
            });
            ret(r, e);
            Ok(())
        },
    );
    linker.func_new(M, "environ_get", ty(&[I32, I32]), move |mut c, a, r| {
        let e = with_guest(&mut c, get, |g, ctx| {
            g.write_strings(a[0].unwrap_i32(), a[1].unwrap_i32(), &env_strings(ctx))
        });
        ret(r, e);
        Ok(())
    });
    linker.func_new(
        M,
        "fd_write",
        ty(&[I32, I32, I32, I32]),
        move |mut c, a, r| {
            let e = with_guest(&mut c, get, |g, ctx| {
                let out: &mut dyn Write = match a[0].unwrap_i32() {
                    1 => &mut *ctx.stdout,
                    2 => &mut *ctx.stderr,
                    _ => return Err(errno::BADF),
                };
                let mut total = 0u32;
                for (ptr, len) in g.iovecs(a[1].unwrap_i32(), a[2].unwrap_i32())? {
                    let bytes = g.slice(ptr, len)?;
                    out.write_all(bytes).map_err(|_| errno::IO)?;
                    total += len;
                }
                out.flush().map_err(|_| errno::IO)?;
                g.write_u32(a[3].unwrap_i32(), total)
            });
            ret(r, e);
            Ok(())
        },
    );
    linker.func_new(
        M,
        "fd_read",
        ty(&[I32, I32, I32, I32]),
        move |mut c, a, r| {
            let e = with_guest(&mut c, get, |g, ctx| {
                if a[0].unwrap_i32() != 0 {
                    return Err(errno::BADF);
                }
                let mut total = 0u32;
                for (ptr, len) in g.iovecs(a[1].unwrap_i32(), a[2].unwrap_i32())? {
                    let buf = g.slice(ptr, len)?;
                    let n = ctx.stdin.read(buf).map_err(|_| errno::IO)?;
                    total += n as u32;
                    if n < len as usize {
                        break;
                    }
                }
                g.write_u32(a[3].unwrap_i32(), total)
            });
            ret(r, e);
            Ok(())
        },
    );
    linker.func_new(M, "fd_fdstat_get", ty(&[I32, I32]), move |mut c, a, r| {
        let e = with_guest(&mut c, get, |g, _| {
            if !(0..=2).contains(&a[0].unwrap_i32()) {
                return Err(errno::BADF);
            }
            let buf = g.slice(a[1].unwrap_i32(), 24)?;
            buf.fill(0);
            buf[0] = 2; // filetype: character device
            let rights: u64 = 0x1ff_ffff;
            buf[8..16].copy_from_slice(&rights.to_le_bytes());
            Ok(())
        });
        ret(r, e);
        Ok(())
    });
    linker.func_new(M, "fd_seek", ty(&[I32, I64, I32, I32]), move |_, a, r| {
        ret(
            r,
            if (0..=2).contains(&a[0].unwrap_i32()) {
                errno::SPIPE
            } else {
                errno::BADF
            },
        );
        Ok(())
    });
    linker.func_new(M, "fd_close", ty(&[I32]), move |_, a, r| {
        ret(
            r,
            if (0..=2).contains(&a[0].unwrap_i32()) {
                errno::SUCCESS
            } else {
                errno::BADF
            },
        );
        Ok(())
    });
    linker.func_new(M, "fd_prestat_get", ty(&[I32, I32]), move |_, _, r| {
        ret(r, errno::BADF);
        Ok(())
    });
    linker.func_new(
        M,
        "fd_prestat_dir_name",
        ty(&[I32, I32, I32]),
        move |_, _, r| {
            ret(r, errno::BADF);
            Ok(())
        },
    );
    linker.func_new(M, "proc_exit", FuncType::new([I32], []), move |_, a, _| {
        Err(Trap::exit(a[0].unwrap_i32()))
    });
    linker.func_new(
        M,
        "clock_time_get",
        ty(&[I32, I64, I32]),
        move |mut c, a, r| {
            let e = with_guest(&mut c, get, |g, _| {
                g.write_u64(a[2].unwrap_i32(), clock_now(a[0].unwrap_i32())?)
            });
            ret(r, e);
            Ok(())
        },
    );
    linker.func_new(M, "clock_res_get", ty(&[I32, I32]), move |mut c, a, r| {
        let e = with_guest(&mut c, get, |g, _| {
            clock_now(a[0].unwrap_i32())?;
            g.write_u64(a[1].unwrap_i32(), 1)
        });
        ret(r, e);
        Ok(())
    });
    linker.func_new(M, "random_get", ty(&[I32, I32]), move |mut c, a, r| {
        let e = with_guest(&mut c, get, |g, _| {
            let buf = g.slice(a[0].unwrap_i32(), a[1].unwrap_i32() as u32)?;
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
        ret(r, e);
        Ok(())
    });
    linker.func_new(
        M,
        "sched_yield",
        FuncType::new([], [I32]),
        move |_, _, r| {
            ret(r, errno::SUCCESS);
            Ok(())
        },
    );
}
