//! Watchpoints on linear memory by page protection (x86-64 Linux).
//!
//! While the guest runs, the pages of watched ranges are read-only (only
//! write watchpoints on the page) or inaccessible (a read or access
//! watchpoint on it). An access to such a page faults. The signal handler
//! (`on_fault`) notes whether a load may touch a watched range, opens the
//! page and lets the faulting instruction run once with the CPU's trap
//! flag set; the trap right after it (`on_step`, SIGTRAP) compares the
//! write watches' bytes (a store is a hit when it changed them, as lldb's
//! default `modify` watchpoints and gdb's `watch` stop) and closes the
//! page again. After a possible hit it switches every
//! hook site on (`DebugSites::force_all`), so the guest stops at the next
//! site, where the store's debug handler is given the hit (`take_hits`,
//! made exact by `api::DebugStop::watch_hit`). An access elsewhere on a
//! watched page costs two signals and three `mprotect`s; other pages cost
//! nothing.
//!
//! Pages are open whenever host code runs for the guest: in the debug
//! handler (the debugger reads memory), in host functions (the kernel
//! fails a WASI call's `read` into a closed page with `EFAULT`; what a
//! host function writes is found by comparing the watched bytes, `resume`)
//! and outside wasm. Host code that wasm calls without a host function
//! (`memory.copy`, `memory.fill`) faults like wasm code and is stepped the
//! same way.
//!
//! The state is the guest thread's own (`thread_local!`, plain data with
//! no destructor), so the signal handler reads it without a lock; it is
//! changed only on that thread, never while the handler can run (no
//! watched page is closed then).

use crate::runtime::traphandlers::VMRuntimeLimits;
use std::cell::UnsafeCell;

/// Most watched ranges at once.
pub const MAX_WATCHES: usize = 8;
/// Longest watched range (compared in full around host calls).
pub const MAX_WATCH_LEN: usize = 64;
/// Possible hits remembered between two hook sites.
const MAX_HITS: usize = 4;
/// Pages one instruction may touch while it is stepped.
const MAX_OPEN: usize = 4;
/// How far before and after the faulting address an access may reach
/// (the widest x86 access, a 64-byte vector move).
pub const REACH: usize = 64;

/// A watched range, in the host's address space.
#[derive(Clone, Copy, Default)]
pub struct Watch {
    pub start: usize,
    pub len: usize,
    /// Stop on loads from the range.
    pub read: bool,
    /// Stop on stores to it.
    pub write: bool,
}

/// A fault on a watched page that may have touched a watched range.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RawHit {
    /// The faulting address (the first byte of the access on that page).
    pub addr: usize,
    /// The instruction loaded from memory (a store that is not a plain
    /// move also loads: x86 adds, ors, increments in place).
    pub read: bool,
    pub write: bool,
    /// The faulting instruction; 0 for a host function's access (found by
    /// comparing bytes, `addr` is then the watch's start).
    pub pc: usize,
}

struct State {
    watches: [Watch; MAX_WATCHES],
    count: usize,
    /// The store whose memory is watched.
    owner: *const VMRuntimeLimits,
    page: usize,
    /// Watched pages are closed.
    armed: bool,
    /// Pages opened for the instruction being stepped.
    open: [usize; MAX_OPEN],
    open_count: usize,
    /// The trap flag is ours: set by `on_fault`, cleared by `on_step`.
    stepping: bool,
    /// The stepped instruction, when it stores (its write is judged by
    /// the watched bytes once it ran).
    step_pc: usize,
    hits: [Option<RawHit>; MAX_HITS],
    /// The watched bytes at the last arm or write hit.
    before: [[u8; MAX_WATCH_LEN]; MAX_WATCHES],
}

thread_local! {
    static STATE: UnsafeCell<State> = const {
        UnsafeCell::new(State {
            watches: [Watch { start: 0, len: 0, read: false, write: false }; MAX_WATCHES],
            count: 0,
            owner: std::ptr::null(),
            page: 4096,
            armed: false,
            open: [0; MAX_OPEN],
            open_count: 0,
            stepping: false,
            step_pc: 0,
            hits: [None; MAX_HITS],
            before: [[0; MAX_WATCH_LEN]; MAX_WATCHES],
        })
    };
}

/// Runs `f` on this thread's state.
///
/// Callers never nest: the signal handler runs only on a fault of a closed
/// page, and no function here touches one.
fn with<R>(f: impl FnOnce(&mut State) -> R) -> R {
    // SAFETY: the state is this thread's; the only other code that reaches
    // it on this thread is the signal handler, which interrupts only wasm
    // or host code accessing a closed page, never these functions (they
    // touch no linear memory while pages are closed).
    STATE.with(|s| f(unsafe { &mut *s.get() }))
}

/// Whether this host can watch memory (the trap flag is x86's).
pub const fn supported() -> bool {
    cfg!(all(target_os = "linux", target_arch = "x86_64"))
}

impl State {
    fn watches(&self) -> &[Watch] {
        &self.watches[..self.count]
    }

    /// The protection a page gets while armed; `None` for a page no
    /// watch touches.
    fn protection(&self, page: usize) -> Option<libc::c_int> {
        let mut prot = None;
        for w in self.watches() {
            let first = w.start & !(self.page - 1);
            let last = (w.start + w.len - 1) & !(self.page - 1);
            if (first..=last).contains(&page) {
                prot = Some(if w.read || prot == Some(libc::PROT_NONE) {
                    libc::PROT_NONE
                } else {
                    libc::PROT_READ
                });
            }
        }
        prot
    }

    fn protect(&self, page: usize, prot: libc::c_int) {
        // SAFETY: `page` is a page of a watched range, inside the owner's
        // linear memory, whose accessible pages are read-write; only the
        // protection changes.
        unsafe { libc::mprotect(page as *mut libc::c_void, self.page, prot) };
    }

    /// Closes (or opens) every watched page.
    fn protect_all(&mut self, close: bool) {
        for i in 0..self.count {
            let w = self.watches[i];
            let mut page = w.start & !(self.page - 1);
            while page < w.start + w.len {
                let prot = match close {
                    true => self
                        .protection(page)
                        .unwrap_or(libc::PROT_READ | libc::PROT_WRITE),
                    false => libc::PROT_READ | libc::PROT_WRITE,
                };
                self.protect(page, prot);
                page += self.page;
            }
        }
        self.open_count = 0;
    }

    /// Remembers the watched bytes (pages readable).
    fn snapshot(&mut self) {
        for i in 0..self.count {
            let w = self.watches[i];
            // SAFETY: the range lies in the owner's linear memory, which is
            // readable (a watched page is at most write-protected when this
            // runs); `len <= MAX_WATCH_LEN`.
            unsafe {
                std::ptr::copy_nonoverlapping(
                    w.start as *const u8,
                    self.before[i].as_mut_ptr(),
                    w.len,
                )
            };
        }
    }

    /// Write hits: the write watches whose bytes changed since the last
    /// snapshot (which then takes the new bytes).
    fn changed(&mut self, pc: usize) -> bool {
        let mut hit = false;
        for i in 0..self.count {
            let w = self.watches[i];
            // SAFETY: as in `snapshot`.
            let now = unsafe { std::slice::from_raw_parts(w.start as *const u8, w.len) };
            if w.write && now != &self.before[i][..w.len] {
                self.before[i][..w.len].copy_from_slice(now);
                hit |= self.note(RawHit {
                    addr: w.start,
                    read: false,
                    write: true,
                    pc,
                });
            }
        }
        hit
    }

    fn note(&mut self, hit: RawHit) -> bool {
        match self.hits.iter_mut().find(|h| h.is_none()) {
            Some(slot) => {
                *slot = Some(hit);
                true
            }
            None => false,
        }
    }

    /// Asks the owner's hook sites to stop the guest at the next one.
    fn request_stop(&self) {
        if !self.owner.is_null() {
            // SAFETY: the owner store outlives its watches (`forget` runs
            // when it is dropped).
            unsafe { (*self.owner).debug_site_tables.force_all() };
        }
    }
}

/// Replaces the watches of `owner`'s memory. Called with the pages open
/// (in the debug handler). Fails for too many or too long ranges.
pub fn set(owner: &VMRuntimeLimits, watches: &[Watch]) -> Result<(), String> {
    if !watches.is_empty() && !supported() {
        return Err("watchpoints need an x86-64 Linux host".into());
    }
    if watches.len() > MAX_WATCHES {
        return Err(format!("at most {MAX_WATCHES} watchpoints at once"));
    }
    if let Some(w) = watches.iter().find(|w| w.len == 0 || w.len > MAX_WATCH_LEN) {
        return Err(format!(
            "a watchpoint covers 1 to {MAX_WATCH_LEN} bytes, not {}",
            w.len
        ));
    }
    crate::runtime::traphandlers::init_step_handler();
    let page = region::page::size();
    with(|s| {
        let was_armed = s.armed;
        if was_armed {
            s.protect_all(false);
        }
        s.count = watches.len();
        s.watches[..watches.len()].copy_from_slice(watches);
        s.owner = if watches.is_empty() {
            std::ptr::null()
        } else {
            owner
        };
        s.page = page;
        s.hits = [None; MAX_HITS];
        s.armed = was_armed && s.count > 0;
        if s.armed {
            s.snapshot();
            s.protect_all(true);
        }
    });
    Ok(())
}

/// Drops `owner`'s watches (its store is going away).
pub fn forget(owner: &VMRuntimeLimits) {
    with(|s| {
        if std::ptr::eq(s.owner, owner) {
            if s.armed {
                s.protect_all(false);
            }
            s.count = 0;
            s.owner = std::ptr::null();
            s.armed = false;
            s.open_count = 0;
            s.stepping = false;
            s.hits = [None; MAX_HITS];
        }
    });
}

/// Closes the watched pages if they are `owner`'s (wasm code of that
/// store is about to run); returns whether they were closed before.
pub fn arm(owner: &VMRuntimeLimits) -> bool {
    with(|s| {
        let was = s.armed;
        if !was && s.count > 0 && std::ptr::eq(s.owner, owner) {
            s.snapshot();
            s.protect_all(true);
            s.armed = true;
        }
        was
    })
}

/// Opens the watched pages; returns whether they were closed.
pub fn disarm() -> bool {
    with(|s| {
        let was = s.armed;
        if was {
            s.protect_all(false);
            s.armed = false;
        }
        was
    })
}

/// Puts the pages back as `arm`/`disarm` found them.
pub fn restore(closed: bool, owner: &VMRuntimeLimits) {
    if closed {
        arm(owner);
    } else {
        disarm();
    }
}

/// Before a host function runs: opens the pages (the watched bytes were
/// remembered when they closed). Returns whether they were closed.
pub fn suspend() -> bool {
    with(|s| {
        if !s.armed {
            return false;
        }
        s.protect_all(false);
        s.armed = false;
        true
    })
}

/// After a host function: a watched range it wrote (its bytes changed)
/// is a hit; the pages close again if `suspend` opened them.
pub fn resume(closed: bool) {
    if !closed {
        return;
    }
    with(|s| {
        let hit = s.changed(0);
        if hit {
            s.request_stop();
        }
        s.protect_all(true);
        s.armed = true;
    });
}

/// The possible hits since the last call, oldest first.
pub fn take_hits() -> Vec<RawHit> {
    let hits = with(|s| std::mem::replace(&mut s.hits, [None; MAX_HITS]));
    hits.into_iter().flatten().collect()
}

/// The host address range `[start, start + len)` of watch `i` of the
/// current set, with its kinds.
pub fn watch(i: usize) -> Option<Watch> {
    with(|s| s.watches().get(i).copied())
}

/// The signal handler's part for a fault at `addr` by the instruction at
/// `pc`: whether it was a watched page's (then the page is open and the
/// instruction will run once under the trap flag, see `on_step`).
///
/// Signal context: allocates nothing, takes no lock.
///
/// # Safety
/// `ctx` is the handler's ucontext, on this thread.
pub unsafe fn on_fault(ctx: *mut libc::c_void, addr: usize, pc: usize) -> bool {
    if !supported() {
        return false;
    }
    with(|s| {
        if !s.armed {
            return false;
        }
        let page = addr & !(s.page - 1);
        if s.protection(page).is_none() || s.open_count == MAX_OPEN {
            return false;
        }
        // SAFETY: per the contract.
        let write = unsafe { fault_is_write(ctx) };
        // SAFETY: `pc` faulted on an access, so it is an instruction in
        // mapped, readable code.
        let read = !write || !unsafe { is_plain_store(pc) };
        // A write counts when it changed a write watch's bytes (`on_step`
        // compares); a read when it may touch a read watch's range.
        s.step_pc = if write { pc } else { 0 };
        let touches = read
            && s.watches().iter().any(|w| {
                w.read && addr.saturating_sub(REACH - 1) < w.start + w.len && w.start < addr + REACH
            });
        if touches {
            s.note(RawHit {
                addr,
                read,
                write,
                pc,
            });
        }
        s.protect(page, libc::PROT_READ | libc::PROT_WRITE);
        s.open[s.open_count] = page;
        s.open_count += 1;
        s.stepping = true;
        // SAFETY: per the contract.
        unsafe { set_trap_flag(ctx, true) };
        true
    })
}

/// The signal handler's part for SIGTRAP: whether it ends the step of an
/// instruction `on_fault` let through (then its pages close again, and a
/// possible hit asks for a stop at the next hook site).
///
/// # Safety
/// `ctx` is the handler's ucontext, on this thread.
pub unsafe fn on_step(ctx: *mut libc::c_void) -> bool {
    with(|s| {
        if !s.stepping {
            return false;
        }
        let wrote = s.step_pc != 0 && s.changed(s.step_pc);
        s.step_pc = 0;
        // SAFETY: per the contract.
        unsafe { end_step(s, ctx) };
        if wrote || s.hits[0].is_some() {
            s.request_stop();
        }
        true
    })
}

/// A fault other than a watched page's while an instruction is stepped
/// (it trapped): the step ends here.
///
/// # Safety
/// `ctx` is the handler's ucontext, on this thread.
pub unsafe fn cancel_step(ctx: *mut libc::c_void) {
    with(|s| {
        if s.stepping {
            // SAFETY: per the contract.
            unsafe { end_step(s, ctx) };
        }
    })
}

/// # Safety
/// `ctx` is the handler's ucontext, on this thread.
unsafe fn end_step(s: &mut State, ctx: *mut libc::c_void) {
    for i in 0..s.open_count {
        let page = s.open[i];
        if s.armed {
            if let Some(prot) = s.protection(page) {
                s.protect(page, prot);
            }
        }
    }
    s.open_count = 0;
    s.stepping = false;
    // SAFETY: per the contract.
    unsafe { set_trap_flag(ctx, false) };
}

#[cfg(all(target_os = "linux", target_arch = "x86_64"))]
unsafe fn fault_is_write(ctx: *mut libc::c_void) -> bool {
    // SAFETY: caller passes the handler's ucontext.
    let uc = unsafe { &*(ctx as *const libc::ucontext_t) };
    // The page fault's error code: bit 1 is set for a write.
    uc.uc_mcontext.gregs[libc::REG_ERR as usize] & 2 != 0
}

#[cfg(not(all(target_os = "linux", target_arch = "x86_64")))]
unsafe fn fault_is_write(_ctx: *mut libc::c_void) -> bool {
    true
}

/// Whether the x86 instruction at `pc` only stores (a `mov` to memory,
/// scalar or vector), as opposed to reading the memory it writes (`add
/// [m], r`, `inc [m]`, ...). Unknown encodings count as reading: a read
/// watchpoint may then stop once too often, never once too few.
///
/// # Safety
/// `pc` points at an instruction in readable code.
#[cfg(all(target_os = "linux", target_arch = "x86_64"))]
unsafe fn is_plain_store(pc: usize) -> bool {
    // SAFETY: per the contract; x86 instructions are at most 15 bytes,
    // and the code region extends past the faulting one.
    let code = unsafe { std::slice::from_raw_parts(pc as *const u8, 15) };
    let mut i = 0;
    // Legacy prefixes, then REX.
    while i < 4
        && matches!(
            code[i],
            0x66 | 0x67 | 0xf2 | 0xf3 | 0x2e | 0x3e | 0x26 | 0x36 | 0x64 | 0x65
        )
    {
        i += 1;
    }
    if code[i] & 0xf0 == 0x40 {
        i += 1;
    }
    // Vector stores: movups/movupd/movss/movsd (0f 11), movaps (0f 29),
    // movdqa/movdqu (0f 7f), movq (0f d6), movntdq (0f e7); their VEX and
    // EVEX forms too.
    let vector_store = |op: u8| matches!(op, 0x11 | 0x29 | 0x7f | 0xd6 | 0xe7);
    match code[i] {
        // mov r/m8, r8; mov r/m, r; mov r/m8, imm8; mov r/m, imm; and the
        // string stores and moves (`rep stos`, `rep movs`: a write fault
        // is on the destination, which they do not read).
        0x88 | 0x89 | 0xc6 | 0xc7 | 0xa4 | 0xa5 | 0xaa | 0xab => true,
        // movnti, then the vector stores.
        0x0f => code[i + 1] == 0xc3 || vector_store(code[i + 1]),
        // Three-byte VEX: map 1 (0f) only.
        0xc4 => code[i + 1] & 0x1f == 1 && vector_store(code[i + 3]),
        // Two-byte VEX: always map 1.
        0xc5 => vector_store(code[i + 2]),
        // EVEX (AVX-512, glibc's memset and memcpy): map 1 only.
        0x62 => code[i + 1] & 0x07 == 1 && vector_store(code[i + 4]),
        _ => false,
    }
}

#[cfg(not(all(target_os = "linux", target_arch = "x86_64")))]
unsafe fn is_plain_store(_pc: usize) -> bool {
    false
}

#[cfg(all(target_os = "linux", target_arch = "x86_64"))]
unsafe fn set_trap_flag(ctx: *mut libc::c_void, on: bool) {
    const TF: i64 = 0x100;
    // SAFETY: caller passes the handler's ucontext.
    let uc = unsafe { &mut *(ctx as *mut libc::ucontext_t) };
    let flags = &mut uc.uc_mcontext.gregs[libc::REG_EFL as usize];
    *flags = if on { *flags | TF } else { *flags & !TF };
}

#[cfg(not(all(target_os = "linux", target_arch = "x86_64")))]
unsafe fn set_trap_flag(_ctx: *mut libc::c_void, _on: bool) {}
