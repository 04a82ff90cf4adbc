//! Entering wasm and leaving it abnormally.
//!
//! `catch_traps` runs a call into wasm under a jump buffer (see
//! `csrc/setjmp.c`). A fault in JIT code is turned into a trap by the signal
//! handler, which records the trap and jumps back; a host function's error is
//! raised the same way by `raise`. Only JIT frames and trampolines lie
//! between the jump and its target, and they own nothing that needs dropping.
//!
//! Invariants:
//! - the handler only claims a signal when the faulting PC is a recorded trap
//!   site of JIT code *and* this thread is inside `catch_traps`; anything else
//!   goes to the previous handler (a host bug is never swallowed);
//! - the handler allocates nothing and takes only a read lock;
//! - guest code raises no signal unless it traps, so a native debugger
//!   attached to wasmscope never stops on a spurious one.

use crate::trap::{self, FrameInfo, TrapCode};
use std::any::Any;
use std::cell::{Cell, UnsafeCell};
use std::ffi::c_void;
use std::mem::MaybeUninit;
use std::ptr;
use std::sync::atomic::Ordering;
use std::sync::Once;

extern "C" {
    fn wasmscope_catch(
        jmp_buf_out: *mut *mut c_void,
        body: unsafe extern "C" fn(*mut c_void),
        payload: *mut c_void,
    ) -> i32;
    fn wasmscope_unwind(jmp_buf: *mut c_void) -> !;
}

/// Most frames recorded for one trap.
const MAX_FRAMES: usize = 128;

/// Why a call into wasm did not return normally.
pub enum Unwind {
    /// JIT code trapped; `frames` are native PCs, innermost first (the first
    /// is the faulting PC, the others return addresses).
    Wasm {
        code: TrapCode,
        frames: Vec<FrameInfo>,
    },
    /// A host function raised a trap.
    Host {
        trap: crate::Trap,
        frames: Vec<FrameInfo>,
    },
    /// A host function panicked; the panic resumes in the host.
    Panic(Box<dyn Any + Send>),
}

struct RawFrames {
    pcs: [usize; MAX_FRAMES],
    len: usize,
    /// Whether `pcs[0]` is the faulting instruction (not a return address).
    first_is_fault: bool,
}

enum Pending {
    None,
    Signal(TrapCode),
    Host(crate::Trap),
    Panic(Box<dyn Any + Send>),
}

struct CallState {
    jmp_buf: Cell<*mut c_void>,
    raw: UnsafeCell<RawFrames>,
    pending: UnsafeCell<Pending>,
}

thread_local! {
    static CURRENT: Cell<*const CallState> = const { Cell::new(ptr::null()) };
}

/// The limits a call into wasm must respect, shared by every instance of a
/// store (`vmoffsets::limits`).
#[repr(C)]
pub struct VMRuntimeLimits {
    pub stack_limit: Cell<usize>,
    /// Unused by compiled code (kept for the layout `vmoffsets` fixes);
    /// "every site" is a fill of `debug_sites`.
    pub debug_flags: std::sync::atomic::AtomicU32,
    /// The store's activations table (`vmoffsets::limits::ACTIVATIONS`).
    pub activations: *const crate::runtime::activations::VMExternRefActivationsTable,
    /// One byte per module offset (`vmoffsets::limits::DEBUG_SITES`):
    /// non-zero makes the hook site at that offset call the handler; all
    /// on while stepping or pausing, else only breakpoints' sites (a
    /// breakpoint costs only its own site).
    /// Covers every module compiled with hooks that the store instantiated
    /// (`DebugSites::cover`); null until then (no hook code runs before).
    pub debug_sites: std::sync::atomic::AtomicPtr<std::sync::atomic::AtomicU8>,
    /// The store's debug handler (host only; compiled code never reads it).
    pub debug_handler: Cell<Option<crate::runtime::debug::HandlerRef>>,
    /// Whether a trap in debug-hook code stops in the debug handler before
    /// the stack unwinds (`runtime::debug::trap_stop`). Set from a
    /// debugger's thread; read by the signal handler.
    pub trap_stops: std::sync::atomic::AtomicBool,
    /// Owns the tables `debug_sites` has pointed at (host only).
    pub debug_site_tables: DebugSites,
}

/// The per-offset site switches of a store. "Every site" (a step, a
/// pause) fills the table; otherwise only the pinned offsets (breakpoints)
/// are on. A table is replaced by a larger copy when a larger module is
/// instantiated; old tables are kept until the store is dropped, because
/// compiled code on another thread may have just read the old pointer.
///
/// Live hook sites have no load: each is one byte of code (`LiveSites`),
/// written here right after the table byte, in the same order, so the
/// table stays the truth and the code follows it.
#[derive(Default)]
pub struct DebugSites {
    state: std::sync::Mutex<SitesState>,
    /// Every site on until the next stop, asked for by the signal handler
    /// (a watchpoint's access, `force_all`): kept through `refresh`.
    forced: std::sync::atomic::AtomicBool,
    /// The current table and its length, for `force_all`, which cannot
    /// take the lock.
    current: std::sync::atomic::AtomicPtr<std::sync::atomic::AtomicU8>,
    current_len: std::sync::atomic::AtomicUsize,
    /// The newest of `SitesState::covered`'s lists, for `force_all`.
    current_covered: std::sync::atomic::AtomicPtr<Box<[std::sync::Arc<Covered>]>>,
}

/// The live hook sites of one module's code: for each, its module offset,
/// the address of its byte (`int3` when on, `nop` when off: see
/// `compile::CompiledFunction::site_traps`) and how many stores have it
/// on. The code is shared by every store that instantiates the module, so
/// the byte is `int3` while any of them has the site on; a store whose own
/// switch is off resumes at once when its thread meets it
/// (`runtime::debug::debug_entry`).
pub struct LiveSites {
    /// Sorted by module offset.
    sites: Box<[LiveSite]>,
    on: Box<[std::sync::atomic::AtomicU32]>,
}

/// One byte of a live site's code: the site's module offset, the byte's
/// address in the code's read+write view, and its value when the site is off and when on (`nop` and
/// `int3` for the site itself; a branch's condition and its inverse for
/// the one to a stack-recording cold block,
/// `compile::CompiledFunction::site_flips`).
pub type LiveSite = (u32, usize, [u8; 2]);

impl LiveSites {
    /// `sites`: bytes of code in the read+write view `CodeMemory::publish`
    /// made, each as it is when its site is off.
    pub fn new(mut sites: Vec<LiveSite>) -> LiveSites {
        sites.sort_unstable();
        let on = sites.iter().map(|_| Default::default()).collect();
        LiveSites {
            sites: sites.into(),
            on,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.sites.is_empty()
    }
}

/// A module's live sites as one store switches them: which it has on.
struct Covered {
    live: std::sync::Arc<LiveSites>,
    mine: Box<[std::sync::atomic::AtomicBool]>,
    /// Owns the module's code: the sites' bytes stay mapped until this
    /// store's switches are off (`DebugSites`'s drop).
    _code: std::sync::Arc<dyn Any + Send + Sync>,
}

impl Covered {
    /// This store's switch of site `i`: the shared count follows, and the
    /// byte from it. Two stores switching one site at once can leave its
    /// byte `int3` with no store on (a stop each resumes from) or `nop`
    /// with one on (missed until its next switch); a debugger drives one
    /// store.
    fn switch(&self, i: usize, on: bool) {
        if self.mine[i].swap(on, Ordering::SeqCst) == on {
            return;
        }
        let count = &self.live.on[i];
        let now = if on {
            count.fetch_add(1, Ordering::SeqCst) + 1
        } else {
            count.fetch_sub(1, Ordering::SeqCst) - 1
        };
        let (_, addr, bytes) = self.live.sites[i];
        let byte = bytes[usize::from(now > 0)];
        // SAFETY: `addr` is a live site's byte in the read+write view of a
        // module's code (`CodeMemory::writable`), which `_code` keeps
        // mapped. The CPU running the other view sees either byte whole:
        // an `int3`/`nop` is one instruction, a condition byte is written
        // in one store.
        unsafe { (*(addr as *const std::sync::atomic::AtomicU8)).store(byte, Ordering::SeqCst) };
    }

    /// Switches every site from the table.
    fn follow(&self, t: &[std::sync::atomic::AtomicU8]) {
        for (i, &(o, ..)) in self.live.sites.iter().enumerate() {
            let on = t
                .get(o as usize)
                .is_some_and(|b| b.load(Ordering::Relaxed) != 0);
            self.switch(i, on);
        }
    }
}

#[derive(Default)]
pub struct SitesState {
    tables: Vec<Box<[std::sync::atomic::AtomicU8]>>,
    /// Every site on (`DebugInterrupt::set(true)`).
    all: bool,
    /// The offsets switched on one by one (breakpoints).
    pinned: std::collections::BTreeSet<u32>,
    /// The live sites of each module the store instantiated, one list per
    /// `cover` that added a module (the last is current); kept until the
    /// store is dropped, like `tables`. Boxed twice: `DebugSites::
    /// current_covered` points at the slice's fat pointer, which must not
    /// move.
    #[allow(clippy::vec_box)]
    covered: Vec<Box<Box<[std::sync::Arc<Covered>]>>>,
}

impl SitesState {
    fn covered(&self) -> &[std::sync::Arc<Covered>] {
        self.covered.last().map_or(&[], |c| &c[..])
    }

    /// Writes every switch of the current table from `all` and `pinned`
    /// (or all on while `forced`), and every live site after it. A
    /// `force_all` racing with this either sees its fill survive or is
    /// seen by the check after the fence.
    fn refresh(&self, forced: &std::sync::atomic::AtomicBool) {
        let Some(t) = self.tables.last() else { return };
        let fill = u8::from(self.all || forced.load(Ordering::SeqCst));
        for b in t.iter() {
            b.store(fill, Ordering::Relaxed);
        }
        if fill == 0 {
            for &o in &self.pinned {
                if let Some(b) = t.get(o as usize) {
                    b.store(1, Ordering::Relaxed);
                }
            }
        }
        for c in self.covered() {
            c.follow(t);
        }
        std::sync::atomic::fence(Ordering::SeqCst);
        if fill == 0 && forced.load(Ordering::SeqCst) {
            fill_all(t, self.covered());
        }
    }

    /// Switches the live sites at module offset `offset`.
    fn switch_offset(&self, offset: u32, on: bool) {
        for c in self.covered() {
            let first = c.live.sites.partition_point(|s| s.0 < offset);
            for i in (first..c.live.sites.len()).take_while(|&i| c.live.sites[i].0 == offset) {
                c.switch(i, on);
            }
        }
    }
}

/// Every switch and every live site on.
fn fill_all(t: &[std::sync::atomic::AtomicU8], covered: &[std::sync::Arc<Covered>]) {
    for b in t {
        b.store(1, Ordering::Relaxed);
    }
    for c in covered {
        for i in 0..c.mine.len() {
            c.switch(i, true);
        }
    }
    std::sync::atomic::fence(Ordering::SeqCst);
}

impl Drop for DebugSites {
    /// The store's sites go off: code another store runs stops no more
    /// for this one.
    fn drop(&mut self) {
        let state = self.state();
        for c in state.covered() {
            for i in 0..c.mine.len() {
                c.switch(i, false);
            }
        }
    }
}

impl DebugSites {
    fn state(&self) -> std::sync::MutexGuard<'_, SitesState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Every site on until `unforce`, from a signal handler: no lock, no
    /// allocation (the table may be filled twice by a racing `refresh`,
    /// never emptied).
    pub fn force_all(&self) {
        self.forced.store(true, Ordering::SeqCst);
        let covered = self.current_covered.load(Ordering::SeqCst);
        // SAFETY: `current_covered` is null or the newest list of
        // `state.covered`, kept until the store is dropped.
        let covered = unsafe { covered.as_ref() }.map_or(&[][..], |c| &c[..]);
        if let Some(t) = self.current_table() {
            fill_all(t, covered);
        }
    }

    /// The current table, without the lock (`force_all`, `is_on`).
    fn current_table(&self) -> Option<&[std::sync::atomic::AtomicU8]> {
        let start = self.current.load(Ordering::SeqCst);
        let len = self.current_len.load(Ordering::SeqCst);
        // SAFETY: `current` is null or the newest table of `state.tables`,
        // `len` its length; tables live until the store is dropped.
        (!start.is_null()).then(|| unsafe { std::slice::from_raw_parts(start, len) })
    }

    /// Whether the switch of the sites at module offset `offset` is on.
    pub fn is_on(&self, offset: u32) -> bool {
        self.current_table()
            .and_then(|t| t.get(offset as usize))
            .is_some_and(|b| b.load(Ordering::SeqCst) != 0)
    }

    /// Ends `force_all`: the switches go back to what `set_all` and the
    /// pins say. Returns whether it was forced.
    pub fn unforce(&self) -> bool {
        let was = self.forced.swap(false, Ordering::SeqCst);
        if was {
            self.state().refresh(&self.forced);
        }
        was
    }

    /// Makes `limits.debug_sites` cover offsets below `len`, and the
    /// switches drive `live` (a module's live sites).
    /// `code` owns the code `live` is in.
    pub fn cover(
        &self,
        limits: &VMRuntimeLimits,
        len: usize,
        live: &std::sync::Arc<LiveSites>,
        code: std::sync::Arc<dyn Any + Send + Sync>,
    ) {
        use std::sync::atomic::AtomicU8;
        if !live.is_empty() {
            init_step_handler();
        }
        let mut state = self.state();
        if !live.is_empty()
            && !state
                .covered()
                .iter()
                .any(|c| std::sync::Arc::ptr_eq(&c.live, live))
        {
            let mut list = state.covered().to_vec();
            list.push(std::sync::Arc::new(Covered {
                live: live.clone(),
                mine: live.sites.iter().map(|_| Default::default()).collect(),
                _code: code,
            }));
            let list = Box::new(list.into_boxed_slice());
            let at = &*list as *const Box<[std::sync::Arc<Covered>]> as *mut _;
            state.covered.push(list);
            self.current_covered.store(at, Ordering::SeqCst);
        }
        let current = state.tables.last().map_or(0, |t| t.len());
        if len <= current && current > 0 {
            state.refresh(&self.forced);
            return;
        }
        let table: Box<[AtomicU8]> = (0..len.max(current).max(1))
            .map(|_| AtomicU8::new(0))
            .collect();
        let start = table.as_ptr() as *mut AtomicU8;
        let len = table.len();
        state.tables.push(table);
        state.refresh(&self.forced);
        self.current_len.store(len, Ordering::SeqCst);
        self.current.store(start, Ordering::SeqCst);
        limits.debug_sites.store(start, Ordering::SeqCst);
    }

    /// Every site on (steps, pause), or only the pinned ones.
    pub fn set_all(&self, on: bool) {
        let mut state = self.state();
        if state.all != on {
            state.all = on;
            state.refresh(&self.forced);
        }
    }

    pub fn all(&self) -> bool {
        self.state().all
    }

    /// Pins the site at `offset` on, or unpins it.
    pub fn set(&self, offset: u32, on: bool) {
        let mut state = self.state();
        if on {
            state.pinned.insert(offset);
        } else {
            state.pinned.remove(&offset);
        }
        if !state.all && !self.forced.load(Ordering::SeqCst) {
            if let Some(b) = state.tables.last().and_then(|t| t.get(offset as usize)) {
                b.store(u8::from(on), Ordering::SeqCst);
                state.switch_offset(offset, on);
                if self.forced.load(Ordering::SeqCst) {
                    b.store(1, Ordering::SeqCst);
                    state.switch_offset(offset, true);
                }
            }
        }
    }

    /// Unpins every site.
    pub fn clear(&self) {
        let mut state = self.state();
        state.pinned.clear();
        state.refresh(&self.forced);
    }
}

impl VMRuntimeLimits {
    /// The limits of the store a vmctx belongs to.
    ///
    /// # Safety
    /// `vmctx` is a live instance's vmctx: its RUNTIME_LIMITS slot points at
    /// its store's limits, which outlive every call into the store's
    /// instances (and so the returned reference's use).
    pub unsafe fn of_vmctx<'a>(vmctx: *mut u8) -> &'a VMRuntimeLimits {
        // SAFETY: per the contract.
        unsafe {
            &**(vmctx.add(crate::vmoffsets::vmctx::RUNTIME_LIMITS as usize)
                as *const *const VMRuntimeLimits)
        }
    }
}

/// Runs `f` (which calls into wasm) and reports how it ended.
///
/// The outermost call sets the stack limit `max_wasm_stack` bytes below the
/// current stack pointer; nested calls (wasm -> host -> wasm) keep it.
pub fn catch_traps(
    limits: &VMRuntimeLimits,
    max_wasm_stack: usize,
    f: &mut dyn FnMut(),
) -> Result<(), Unwind> {
    init_handlers();
    ensure_alt_stack();
    let here = &limits as *const _ as usize;
    let outermost = limits.stack_limit.get() == 0;
    if outermost {
        limits.stack_limit.set(here.saturating_sub(max_wasm_stack));
    }
    let mut state = CallState {
        jmp_buf: Cell::new(ptr::null_mut()),
        raw: UnsafeCell::new(RawFrames {
            pcs: [0; MAX_FRAMES],
            len: 0,
            first_is_fault: false,
        }),
        pending: UnsafeCell::new(Pending::None),
    };
    let prev = CURRENT.with(|c| c.replace(&state));
    // Watched pages close while this store's wasm runs.
    let watching = crate::runtime::watch::arm(limits);

    unsafe extern "C" fn body(payload: *mut c_void) {
        // SAFETY: `payload` is the `&mut &mut dyn FnMut()` passed below, alive
        // for the duration of `wasmscope_catch`.
        let f = unsafe { &mut *(payload as *mut &mut dyn FnMut()) };
        f();
    }
    let mut f = f;
    // SAFETY: `state.jmp_buf` receives a pointer to the C frame's jump buffer,
    // valid while `body` runs; `body` only runs `f`.
    let ok = unsafe {
        wasmscope_catch(
            state.jmp_buf.as_ptr(),
            body,
            &mut f as *mut &mut dyn FnMut() as *mut c_void,
        )
    };
    crate::runtime::watch::restore(watching, limits);
    CURRENT.with(|c| c.set(prev));
    if outermost {
        limits.stack_limit.set(0);
    }
    if ok == 1 {
        return Ok(());
    }
    let pending = std::mem::replace(state.pending.get_mut(), Pending::None);
    let raw = state.raw.get_mut();
    let frames = symbolize(raw);
    match pending {
        Pending::Signal(code) => Err(Unwind::Wasm { code, frames }),
        Pending::Host(trap) => Err(Unwind::Host { trap, frames }),
        Pending::Panic(p) => Err(Unwind::Panic(p)),
        Pending::None => Err(Unwind::Host {
            trap: crate::Trap::host("wasm call unwound without a reason"),
            frames,
        }),
    }
}

fn symbolize(raw: &RawFrames) -> Vec<FrameInfo> {
    raw.pcs[..raw.len]
        .iter()
        .enumerate()
        .filter_map(|(i, &pc)| trap::frame_info(pc, !(i == 0 && raw.first_is_fault)))
        .collect()
}

/// Records the wasm frames reachable from `fp` by the frame-pointer chain.
///
/// # Safety
/// `fp` must be the frame pointer of a JIT frame (wasm function or
/// trampoline) of the current thread, whose chain ends in a non-wasm frame.
unsafe fn walk(raw: &mut RawFrames, mut fp: usize) {
    while raw.len < MAX_FRAMES && fp != 0 {
        // SAFETY: every JIT frame keeps the saved frame pointer at [fp] and
        // the return address at [fp + 8] (preserve_frame_pointers).
        let ret = unsafe { *((fp + 8) as *const usize) };
        if !trap::is_wasm_pc(ret - 1) {
            break;
        }
        raw.pcs[raw.len] = ret;
        raw.len += 1;
        // SAFETY: as above.
        fp = unsafe { *(fp as *const usize) };
    }
}

/// Leaves wasm with `reason`, from a host function called by wasm.
///
/// # Safety
/// Must be called on a thread inside `catch_traps`, from host code called by
/// a host trampoline whose frame pointer is `fp`, with nothing on the stack
/// between here and the trampoline that needs dropping.
pub unsafe fn raise(reason: RaiseReason, fp: usize) -> ! {
    // The walk starts at the caller of the frame at `fp`; for a builtin
    // called straight from wasm, that frame is the wasm function itself.
    let state = CURRENT.with(|c| c.get());
    assert!(!state.is_null(), "raise outside of a wasm call");
    // SAFETY: `state` is the live CallState of the innermost `catch_traps`.
    let state = unsafe { &*state };
    // SAFETY: only this thread touches its CallState, and no other reference
    // to these cells is live.
    unsafe {
        let raw = &mut *state.raw.get();
        raw.len = 0;
        raw.first_is_fault = false;
        walk(raw, fp);
        *state.pending.get() = match reason {
            RaiseReason::Trap(t) => Pending::Host(t),
            RaiseReason::Panic(p) => Pending::Panic(p),
        };
        wasmscope_unwind(state.jmp_buf.get())
    }
}

/// Leaves wasm with the trap `code` of the instruction at `pc` in the wasm
/// frame whose frame pointer is `fp`, as the signal handler would have.
///
/// # Safety
/// Must be called on a thread inside `catch_traps`, with `pc`/`fp` a live
/// wasm frame of this thread and nothing on the stack between here and
/// that frame that needs dropping.
pub unsafe fn raise_fault(code: TrapCode, pc: usize, fp: usize) -> ! {
    let state = CURRENT.with(|c| c.get());
    assert!(!state.is_null(), "raise_fault outside of a wasm call");
    // SAFETY: as in `raise`.
    unsafe {
        let state = &*state;
        let raw = &mut *state.raw.get();
        raw.pcs[0] = pc;
        raw.len = 1;
        raw.first_is_fault = true;
        walk(raw, fp);
        *state.pending.get() = Pending::Signal(code);
        wasmscope_unwind(state.jmp_buf.get())
    }
}

/// When the faulting frame was compiled with debug hooks and its store asks
/// for trap stops, rewrites the signal context so that, once the handler
/// returns, the thread calls `debug::trap_stop(vmctx, pc, fp, code)` on its
/// own stack, as if the faulting instruction had called it. Signal context
/// is no place to run a debugger (it blocks, allocates, takes locks); the
/// redirected call is ordinary code. Stack overflow never stops: there is
/// no stack left to stop on.
///
/// # Safety
/// `ctx` is the handler's ucontext; `pc` a trap site of JIT code and `fp`
/// its frame pointer, on this thread, inside `catch_traps`.
unsafe fn redirect_to_trap_stop(ctx: *mut c_void, code: TrapCode, pc: usize, fp: usize) -> bool {
    if code == TrapCode::StackOverflow {
        return false;
    }
    let Some((delta, num_locals)) = trap::debug_locals_of(pc) else {
        return false;
    };
    let Some(home) = fp.checked_sub(delta as usize) else {
        return false;
    };
    // SAFETY: a debug-hook frame stores its vmctx after its locals' home
    // slots at entry (`FuncEnv::before_translate_function`), and the only
    // trap before that store is the prologue's stack check, excluded above.
    let vmctx = unsafe { *((home + 16 * num_locals as usize) as *const *mut u8) };
    // SAFETY: the vmctx of the live faulting frame.
    let limits = unsafe { VMRuntimeLimits::of_vmctx(vmctx) };
    if !limits.trap_stops.load(std::sync::atomic::Ordering::SeqCst)
        || limits.debug_handler.get().is_none()
    {
        return false;
    }
    if trap::is_live_debug(pc) {
        // SAFETY: per the contract; live code never uses the red zone.
        return unsafe { call_debug_trampoline(ctx, pc, 1 + code as usize) };
    }
    let entry = crate::runtime::debug::trap_stop as *const () as usize;
    // SAFETY: per the contract; the new frame goes below the faulting
    // frame's stack pointer (past a red zone), which the JIT code no longer
    // uses once it is redirected.
    unsafe { set_call(ctx, entry, [vmctx as usize, pc, fp, code as usize]) };
    true
}

/// A `DebugLocals::Live` hook site's `int3` at `pc` has fired (its
/// switch is on): when the store has a debug handler, the thread goes on in
/// `runtime::debug::debug_trampoline`, which saves every register, runs
/// the handler and resumes at `resume`; otherwise it resumes at once.
///
/// # Safety
/// `ctx` is the handler's ucontext, `pc` a hook site of live JIT code whose
/// frame pointer is `fp`, on this thread, inside `catch_traps`.
unsafe fn enter_debugger_at_site(ctx: *mut c_void, fp: usize, pc: usize, resume: usize) {
    let handled = trap::debug_locals_of(pc)
        .and_then(|(delta, _)| fp.checked_sub(delta as usize))
        .is_some_and(|home| {
            // SAFETY: live debug code stores its vmctx in its home slot at
            // entry, before its first site.
            let vmctx = unsafe { *(home as *const *mut u8) };
            // SAFETY: the vmctx of the live frame.
            let limits = unsafe { VMRuntimeLimits::of_vmctx(vmctx) };
            limits.debug_handler.get().is_some()
        });
    // SAFETY: per the contract.
    if !(handled && unsafe { call_debug_trampoline(ctx, resume, 0) }) {
        // SAFETY: per the contract; `resume` follows the site's check.
        unsafe { set_pc(ctx, resume) };
    }
}

/// Makes the interrupted thread go on in the debug trampoline, which finds
/// `ret` (where to resume, or the faulting PC) and `code` (0 for a hook
/// site, 1 + `TrapCode` for a trap) on the stack: they are pushed as a
/// call to it would push its return address, after one argument word.
///
/// # Safety
/// `ctx` is the handler's ucontext, interrupting live-debug JIT code,
/// which keeps nothing below its stack pointer.
#[cfg(all(target_os = "linux", target_arch = "x86_64"))]
unsafe fn call_debug_trampoline(ctx: *mut c_void, ret: usize, code: usize) -> bool {
    // SAFETY: caller passes the handler's ucontext.
    let uc = unsafe { &mut *(ctx as *mut libc::ucontext_t) };
    let g = &mut uc.uc_mcontext.gregs;
    let sp = g[libc::REG_RSP as usize] as usize - 16;
    // SAFETY: below the interrupted stack pointer, in this thread's stack.
    unsafe {
        *(sp as *mut usize) = ret;
        *((sp + 8) as *mut usize) = code;
    }
    g[libc::REG_RSP as usize] = sp as i64;
    g[libc::REG_RIP as usize] = crate::runtime::debug::debug_trampoline_address() as i64;
    true
}

/// Live debug code is compiled on x86_64 only.
#[cfg(not(all(target_os = "linux", target_arch = "x86_64")))]
unsafe fn call_debug_trampoline(_ctx: *mut c_void, _ret: usize, _code: usize) -> bool {
    false
}

#[cfg(all(target_os = "linux", target_arch = "x86_64"))]
unsafe fn set_pc(ctx: *mut c_void, pc: usize) {
    // SAFETY: caller passes the handler's ucontext.
    let uc = unsafe { &mut *(ctx as *mut libc::ucontext_t) };
    uc.uc_mcontext.gregs[libc::REG_RIP as usize] = pc as i64;
}

#[cfg(all(target_os = "linux", target_arch = "aarch64"))]
unsafe fn set_pc(ctx: *mut c_void, pc: usize) {
    // SAFETY: caller passes the handler's ucontext.
    let uc = unsafe { &mut *(ctx as *mut libc::ucontext_t) };
    uc.uc_mcontext.pc = pc as u64;
}

#[cfg(all(target_os = "linux", target_arch = "x86_64"))]
unsafe fn set_call(ctx: *mut c_void, entry: usize, args: [usize; 4]) {
    // SAFETY: caller passes the handler's ucontext.
    let uc = unsafe { &mut *(ctx as *mut libc::ucontext_t) };
    let g = &mut uc.uc_mcontext.gregs;
    let pc = g[libc::REG_RIP as usize];
    // Past the red zone, 16-aligned, then the "return address" a call
    // would push: the faulting instruction, so unwinders see its frame.
    let sp = ((g[libc::REG_RSP as usize] as usize - 128) & !15) - 8;
    // SAFETY: `sp` lies in this thread's stack below everything in use.
    unsafe { *(sp as *mut i64) = pc };
    g[libc::REG_RSP as usize] = sp as i64;
    g[libc::REG_RDI as usize] = args[0] as i64;
    g[libc::REG_RSI as usize] = args[1] as i64;
    g[libc::REG_RDX as usize] = args[2] as i64;
    g[libc::REG_RCX as usize] = args[3] as i64;
    g[libc::REG_RIP as usize] = entry as i64;
}

#[cfg(all(target_os = "linux", target_arch = "aarch64"))]
unsafe fn set_call(ctx: *mut c_void, entry: usize, args: [usize; 4]) {
    // SAFETY: caller passes the handler's ucontext.
    let uc = unsafe { &mut *(ctx as *mut libc::ucontext_t) };
    let m = &mut uc.uc_mcontext;
    m.sp = (m.sp - 128) & !15;
    m.regs[30] = m.pc;
    m.regs[..4].copy_from_slice(&args.map(|a| a as u64));
    m.pc = entry as u64;
}

pub enum RaiseReason {
    Trap(crate::Trap),
    Panic(Box<dyn Any + Send>),
}

const SIGNALS: [libc::c_int; 4] = [libc::SIGSEGV, libc::SIGBUS, libc::SIGILL, libc::SIGFPE];
static mut PREV_ACTIONS: [MaybeUninit<libc::sigaction>; 4] = [const { MaybeUninit::uninit() }; 4];
static INIT: Once = Once::new();

fn init_handlers() {
    INIT.call_once(|| {
        for (i, &sig) in SIGNALS.iter().enumerate() {
            // SAFETY: plain sigaction setup; PREV_ACTIONS[i] is written once,
            // here, before our handler (its only reader) is installed.
            unsafe {
                let mut action: libc::sigaction = std::mem::zeroed();
                action.sa_sigaction = handler as *const () as usize;
                action.sa_flags = libc::SA_SIGINFO | libc::SA_NODEFER | libc::SA_ONSTACK;
                libc::sigemptyset(&mut action.sa_mask);
                let prev = &raw mut PREV_ACTIONS[i];
                if libc::sigaction(sig, &action, (*prev).as_mut_ptr()) != 0 {
                    panic!("cannot install the handler for signal {sig}");
                }
            }
        }
    });
}

static STEP_INIT: Once = Once::new();
static mut PREV_TRAP_ACTION: MaybeUninit<libc::sigaction> = MaybeUninit::uninit();

/// Installs the SIGTRAP handler that ends a watchpoint's single step
/// (`runtime::watch`) and enters the debugger at a live hook site's
/// `int3`. Only a store that sets watchpoints or runs live hook sites
/// needs it; other SIGTRAPs go to the previous handler.
pub(crate) fn init_step_handler() {
    STEP_INIT.call_once(|| {
        // SAFETY: plain sigaction setup; PREV_TRAP_ACTION is written once,
        // here, before `step_handler` (its only reader) is installed.
        unsafe {
            let mut action: libc::sigaction = std::mem::zeroed();
            action.sa_sigaction = step_handler as *const () as usize;
            action.sa_flags = libc::SA_SIGINFO | libc::SA_NODEFER | libc::SA_ONSTACK;
            libc::sigemptyset(&mut action.sa_mask);
            let prev = &raw mut PREV_TRAP_ACTION;
            if libc::sigaction(libc::SIGTRAP, &action, (*prev).as_mut_ptr()) != 0 {
                panic!("cannot install the handler for SIGTRAP");
            }
        }
    });
}

unsafe extern "C" fn step_handler(sig: libc::c_int, info: *mut libc::siginfo_t, ctx: *mut c_void) {
    // SAFETY: the kernel's ucontext, on this thread.
    if unsafe { crate::runtime::watch::on_step(ctx) } {
        return;
    }
    if !CURRENT.with(|c| c.get()).is_null() {
        // SAFETY: the kernel passes a valid ucontext for SA_SIGINFO handlers.
        let (pc, fp) = unsafe { pc_and_fp(ctx) };
        // A live hook site that is on: its `int3` is the byte before `pc`.
        let site = pc.wrapping_sub(1);
        if trap::site_resume(site) == Some(pc) {
            // SAFETY: the kernel's ucontext; `site` is a hook site's `int3`
            // in the live JIT frame at `fp`, `pc` just past it.
            unsafe { enter_debugger_at_site(ctx, fp, site, pc) };
            return;
        }
    }
    // SAFETY: PREV_TRAP_ACTION was initialized before this handler was
    // installed.
    unsafe {
        let slot: *const MaybeUninit<libc::sigaction> = &raw const PREV_TRAP_ACTION;
        forward(sig, info, ctx, (*slot).assume_init_ref())
    }
}

/// Hands a signal that is not ours to the handler installed before us.
///
/// # Safety
/// The arguments are a signal handler's; `prev` the action it replaced.
unsafe fn forward(
    sig: libc::c_int,
    info: *mut libc::siginfo_t,
    ctx: *mut c_void,
    prev: &libc::sigaction,
) {
    // SAFETY: per the contract: `prev` was a valid action.
    unsafe {
        if prev.sa_flags & libc::SA_SIGINFO != 0 {
            let f: unsafe extern "C" fn(libc::c_int, *mut libc::siginfo_t, *mut c_void) =
                std::mem::transmute(prev.sa_sigaction);
            f(sig, info, ctx);
        } else if prev.sa_sigaction == libc::SIG_DFL || prev.sa_sigaction == libc::SIG_IGN {
            // Restore the default and return: the instruction faults again
            // and the process dies as it would have without us.
            libc::sigaction(sig, prev, ptr::null_mut());
        } else {
            let f: unsafe extern "C" fn(libc::c_int) = std::mem::transmute(prev.sa_sigaction);
            f(sig);
        }
    }
}

unsafe extern "C" fn handler(sig: libc::c_int, info: *mut libc::siginfo_t, ctx: *mut c_void) {
    let state = CURRENT.with(|c| c.get());
    if !state.is_null() {
        // SAFETY: the kernel passes a valid ucontext for SA_SIGINFO handlers.
        let (pc, fp) = unsafe { pc_and_fp(ctx) };
        if sig == libc::SIGSEGV || sig == libc::SIGBUS {
            // SAFETY: a SIGSEGV/SIGBUS siginfo carries the faulting address.
            let addr = unsafe { (*info).si_addr() } as usize;
            // SAFETY: the kernel's ucontext, on this thread.
            if unsafe { crate::runtime::watch::on_fault(ctx, addr, pc) } {
                return;
            }
        }
        // A stepped access that faulted for another reason: the step ends.
        // SAFETY: the kernel's ucontext, on this thread.
        unsafe { crate::runtime::watch::cancel_step(ctx) };
        if let Some(code) = trap::trap_code_at(pc) {
            // SAFETY: the kernel's ucontext; `pc`/`fp` are the faulting JIT
            // frame's.
            if unsafe { redirect_to_trap_stop(ctx, code, pc, fp) } {
                return;
            }
            // SAFETY: this thread is inside `catch_traps` (`state` is set);
            // the handler interrupted JIT code at `pc`/`fp`, which holds no
            // reference to the CallState and nothing that needs dropping.
            unsafe { raise_fault(code, pc, fp) }
        }
    }
    // Not a wasm trap: hand it to whoever handled it before us.
    let i = SIGNALS.iter().position(|&s| s == sig).unwrap_or(0);
    // SAFETY: PREV_ACTIONS was initialized before this handler was installed.
    unsafe {
        let slot: *const MaybeUninit<libc::sigaction> = &raw const PREV_ACTIONS[i];
        forward(sig, info, ctx, (*slot).assume_init_ref());
    }
}

#[cfg(all(target_os = "linux", target_arch = "x86_64"))]
unsafe fn pc_and_fp(ctx: *mut c_void) -> (usize, usize) {
    // SAFETY: caller passes the handler's ucontext.
    let uc = unsafe { &*(ctx as *const libc::ucontext_t) };
    (
        uc.uc_mcontext.gregs[libc::REG_RIP as usize] as usize,
        uc.uc_mcontext.gregs[libc::REG_RBP as usize] as usize,
    )
}

#[cfg(all(target_os = "linux", target_arch = "aarch64"))]
unsafe fn pc_and_fp(ctx: *mut c_void) -> (usize, usize) {
    // SAFETY: caller passes the handler's ucontext.
    let uc = unsafe { &*(ctx as *const libc::ucontext_t) };
    (uc.uc_mcontext.pc as usize, uc.uc_mcontext.regs[29] as usize)
}

/// Size of the alternate signal stack we install when the thread has none
/// (or a small one): the handler walks frames and takes a lock.
const ALT_STACK_SIZE: usize = 64 * 1024;

struct AltStack {
    mapping: *mut c_void,
    len: usize,
}

impl Drop for AltStack {
    fn drop(&mut self) {
        // SAFETY: disable the alternate stack before unmapping it; the
        // mapping was created by `ensure_alt_stack` and is used by nothing else.
        unsafe {
            let disable = libc::stack_t {
                ss_sp: ptr::null_mut(),
                ss_flags: libc::SS_DISABLE,
                ss_size: ALT_STACK_SIZE,
            };
            libc::sigaltstack(&disable, ptr::null_mut());
            libc::munmap(self.mapping, self.len);
        }
    }
}

thread_local! {
    static ALT_STACK: Cell<bool> = const { Cell::new(false) };
    static ALT_STACK_OWNED: std::cell::RefCell<Option<AltStack>> = const { std::cell::RefCell::new(None) };
}

fn ensure_alt_stack() {
    if ALT_STACK.with(|c| c.get()) {
        return;
    }
    ALT_STACK.with(|c| c.set(true));
    // SAFETY: querying and installing this thread's alternate signal stack;
    // the new stack is a fresh mapping with a guard page below it.
    unsafe {
        let mut old: libc::stack_t = std::mem::zeroed();
        libc::sigaltstack(ptr::null(), &mut old);
        if old.ss_flags & libc::SS_DISABLE == 0 && old.ss_size >= ALT_STACK_SIZE {
            return;
        }
        let page = region::page::size();
        let len = ALT_STACK_SIZE + page;
        let mapping = libc::mmap(
            ptr::null_mut(),
            len,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
            -1,
            0,
        );
        if mapping == libc::MAP_FAILED {
            return;
        }
        libc::mprotect(mapping, page, libc::PROT_NONE);
        let new = libc::stack_t {
            ss_sp: (mapping as *mut u8).add(page).cast(),
            ss_flags: 0,
            ss_size: ALT_STACK_SIZE,
        };
        libc::sigaltstack(&new, ptr::null_mut());
        ALT_STACK_OWNED.with(|o| *o.borrow_mut() = Some(AltStack { mapping, len }));
    }
}
