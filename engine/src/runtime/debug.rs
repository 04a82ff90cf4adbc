//! The runtime side of debug hooks: the builtin that code compiled with
//! `CompileOptions::debug_hooks` calls before an instruction while the
//! store's debug flag is set, and the raw view of the stopped frame that
//! `api::DebugStop` wraps.

use crate::runtime::traphandlers::{self, RaiseReason, VMRuntimeLimits};
use crate::trap::TrapCode;
use crate::Trap;

/// The paused instruction, as the hook passes it.
pub struct RawStop {
    pub vmctx: *mut u8,
    pub func_index: u32,
    pub wasm_offset: u32,
    /// 16 bytes per local.
    pub slots: *mut u128,
    pub num_locals: u32,
    /// Whether the function reads `slots` back when the hook returns.
    pub writable: bool,
    /// Frame pointer of the paused wasm function.
    pub fp: usize,
    /// Set when the instruction at `wasm_offset` has trapped: the stop
    /// happens before the stack unwinds, and resuming lets the trap go on.
    pub trap: Option<TrapCode>,
    /// `DebugLocals::Live` code: every register of the paused frame as the
    /// debug trampoline saved them (restored from here when it resumes),
    /// and the PC the locals' locations are looked up at (the end of the
    /// last completed instruction). Null and 0 otherwise.
    pub regs: *mut SavedRegs,
    pub pc: usize,
}

/// The registers `debug_trampoline` saves, in its stack order: the vector
/// registers, the general-purpose ones (r15 first, rax last), the flags,
/// then what the interrupted code had in rbp, and the two words the signal
/// handler pushed: where to resume (or the faulting PC) and the code.
#[cfg(target_arch = "x86_64")]
#[repr(C)]
pub struct SavedRegs {
    pub xmm: [[u64; 2]; 16],
    gprs: [u64; 14],
    rflags: u64,
    pub rbp: u64,
    pub ret: u64,
    pub code: u64,
}

#[cfg(target_arch = "x86_64")]
impl SavedRegs {
    /// The general-purpose register with hardware encoding `enc` (rax = 0,
    /// ..., r15 = 15), as the interrupted code had it.
    pub fn gpr(&mut self, enc: u8) -> Option<&mut u64> {
        match enc {
            // rsp is not saved: the code above it is the frame's.
            4 => None,
            5 => Some(&mut self.rbp),
            0..=3 => Some(&mut self.gprs[13 - enc as usize]),
            6..=15 => Some(&mut self.gprs[15 - enc as usize]),
            _ => None,
        }
    }

    pub fn vec(&mut self, enc: u8) -> Option<&mut [u64; 2]> {
        self.xmm.get_mut(enc as usize)
    }
}

/// Other hosts compile no live debug code, so this is never built.
#[cfg(not(target_arch = "x86_64"))]
pub struct SavedRegs {
    _never: std::convert::Infallible,
}

#[cfg(not(target_arch = "x86_64"))]
impl SavedRegs {
    pub fn gpr(&mut self, _enc: u8) -> Option<&mut u64> {
        None
    }

    pub fn vec(&mut self, _enc: u8) -> Option<&mut [u64; 2]> {
        None
    }
}

// Entered (never called) from the signal handler with the stack as a call
// with one stack argument leaves it: [rsp] = where to resume, [rsp + 8] =
// 0 for a hook site or 1 + trap code. Saves everything the interrupted
// code may have live (the flags, every general-purpose and vector
// register), calls `debug_entry` with the save area on a 16-aligned
// stack, restores everything (with the debugger's changes) and returns
// past the argument word. rbp is pushed first so that frame-pointer walks
// go through the interrupted frame.
#[cfg(target_arch = "x86_64")]
std::arch::global_asm!(
    ".text",
    ".p2align 4",
    ".globl wasmscope_debug_trampoline",
    ".hidden wasmscope_debug_trampoline",
    "wasmscope_debug_trampoline:",
    "push rbp",
    "mov rbp, rsp",
    "pushfq",
    "push rax",
    "push rcx",
    "push rdx",
    "push rbx",
    "push rsi",
    "push rdi",
    "push r8",
    "push r9",
    "push r10",
    "push r11",
    "push r12",
    "push r13",
    "push r14",
    "push r15",
    "sub rsp, 256",
    "movdqu [rsp + 0], xmm0",
    "movdqu [rsp + 16], xmm1",
    "movdqu [rsp + 32], xmm2",
    "movdqu [rsp + 48], xmm3",
    "movdqu [rsp + 64], xmm4",
    "movdqu [rsp + 80], xmm5",
    "movdqu [rsp + 96], xmm6",
    "movdqu [rsp + 112], xmm7",
    "movdqu [rsp + 128], xmm8",
    "movdqu [rsp + 144], xmm9",
    "movdqu [rsp + 160], xmm10",
    "movdqu [rsp + 176], xmm11",
    "movdqu [rsp + 192], xmm12",
    "movdqu [rsp + 208], xmm13",
    "movdqu [rsp + 224], xmm14",
    "movdqu [rsp + 240], xmm15",
    "mov rdi, rsp",
    "mov rbx, rsp",
    "and rsp, -16",
    "call {entry}",
    "mov rsp, rbx",
    "movdqu xmm0, [rsp + 0]",
    "movdqu xmm1, [rsp + 16]",
    "movdqu xmm2, [rsp + 32]",
    "movdqu xmm3, [rsp + 48]",
    "movdqu xmm4, [rsp + 64]",
    "movdqu xmm5, [rsp + 80]",
    "movdqu xmm6, [rsp + 96]",
    "movdqu xmm7, [rsp + 112]",
    "movdqu xmm8, [rsp + 128]",
    "movdqu xmm9, [rsp + 144]",
    "movdqu xmm10, [rsp + 160]",
    "movdqu xmm11, [rsp + 176]",
    "movdqu xmm12, [rsp + 192]",
    "movdqu xmm13, [rsp + 208]",
    "movdqu xmm14, [rsp + 224]",
    "movdqu xmm15, [rsp + 240]",
    "add rsp, 256",
    "pop r15",
    "pop r14",
    "pop r13",
    "pop r12",
    "pop r11",
    "pop r10",
    "pop r9",
    "pop r8",
    "pop rdi",
    "pop rsi",
    "pop rbx",
    "pop rdx",
    "pop rcx",
    "pop rax",
    "popfq",
    "pop rbp",
    "ret 8",
    entry = sym debug_entry,
);

#[cfg(target_arch = "x86_64")]
extern "C" {
    fn wasmscope_debug_trampoline();
}

#[cfg(target_arch = "x86_64")]
pub(crate) fn debug_trampoline_address() -> usize {
    wasmscope_debug_trampoline as *const () as usize
}

/// Where `debug_trampoline` goes with the saved registers: a hook site of
/// live debug code (`code == 0`, `ret` where it resumes) or a trap in it
/// (`code == 1 + TrapCode`, `ret` the faulting PC).
///
/// # Safety
/// Reached only through the trampoline, as the signal handler set it up:
/// `regs` is the save area of a live-debug JIT frame on this thread,
/// inside `catch_traps`.
#[cfg(target_arch = "x86_64")]
unsafe extern "C" fn debug_entry(regs: *mut SavedRegs) {
    // SAFETY: per the contract.
    let (ret, fp, code) = unsafe { ((*regs).ret as usize, (*regs).rbp as usize, (*regs).code) };
    let trap = code
        .checked_sub(1)
        .map(|c| TrapCode::from_index(c as usize).unwrap_or(TrapCode::UnreachableCodeReached));
    // A site's wasm offset is its `int3`'s (the byte before `ret`).
    let at = if trap.is_some() { ret } else { ret - 1 };
    let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let (delta, _) = crate::trap::debug_locals_of(at)?;
        // SAFETY: live debug code keeps its vmctx in its home slot.
        let vmctx = unsafe { *((fp - delta as usize) as *const *mut u8) };
        // SAFETY: the live frame's vmctx.
        let limits = unsafe { VMRuntimeLimits::of_vmctx(vmctx) };
        let handler = limits.debug_handler.get()?;
        let info = crate::trap::frame_info(at, false)?;
        // A site's code is shared by every store running its module: one
        // that another store switched on is not a stop of this one.
        if trap.is_none() && !limits.debug_site_tables.is_on(info.wasm_offset?) {
            return None;
        }
        let mut stop = RawStop {
            vmctx,
            func_index: info.func_index,
            wasm_offset: info.wasm_offset?,
            slots: std::ptr::null_mut(),
            num_locals: 0,
            writable: trap.is_none(),
            fp,
            trap,
            regs,
            pc: match trap {
                Some(_) => crate::trap::trap_lookup_pc(ret),
                None => ret,
            },
        };
        // SAFETY: as in `debug_hook`.
        let result = unsafe { (handler.call)(handler.store, &mut stop) };
        if trap.is_none() {
            // The stack recorded for this stop is spent (see
            // `func_env::LIVE_STACK_RECORDED`).
            // SAFETY: the live frame's home slot, 16 bytes or more.
            unsafe {
                ((fp - delta as usize + crate::func_env::LIVE_STACK_RECORDED as usize) as *mut u32)
                    .write_unaligned(0)
            };
        }
        Some(result)
    }));
    let reason = raise_reason(outcome);
    // SAFETY: inside `catch_traps`; nothing of this frame needs dropping.
    unsafe {
        match (reason, trap) {
            (None, None) => {}
            (None, Some(code)) => traphandlers::raise_fault(code, ret, fp),
            (Some(r), _) => traphandlers::raise(r, fp),
        }
    }
}

/// A store's handler: a monomorphic entry point and the store it serves.
#[derive(Clone, Copy)]
pub struct HandlerRef {
    pub call: unsafe fn(store: *mut u8, stop: &mut RawStop) -> Result<(), Trap>,
    pub store: *mut u8,
}

/// `builtin::DEBUG_HOOK`.
///
/// # Safety
/// Called only by debug-hook code: `vmctx` is the caller's live vmctx,
/// `slots` has `num_locals` 16-byte entries, `fp` is the
/// caller's frame pointer, and we are inside `catch_traps`.
pub unsafe extern "C" fn debug_hook(
    vmctx: *mut u8,
    func_index: u32,
    wasm_offset: u32,
    slots: *mut u128,
    num_locals: u32,
    writable: u32,
    fp: usize,
) {
    // SAFETY: the caller's live vmctx.
    let limits = unsafe { VMRuntimeLimits::of_vmctx(vmctx) };
    let Some(handler) = limits.debug_handler.get() else {
        return;
    };
    let mut stop = RawStop {
        vmctx,
        func_index,
        wasm_offset,
        slots,
        num_locals,
        writable: writable != 0,
        fp,
        trap: None,
        regs: std::ptr::null_mut(),
        pc: 0,
    };
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        // SAFETY: `handler.store` is the store that installed the handler
        // (it clears it before it goes away), and wasm called us, so no
        // other borrow of the store is active on this thread.
        unsafe { (handler.call)(handler.store, &mut stop) }
    }));
    let reason = match result {
        Ok(Ok(())) => return,
        Ok(Err(trap)) => RaiseReason::Trap(trap),
        Err(panic) => RaiseReason::Panic(panic),
    };
    // SAFETY: inside `catch_traps` (wasm called us); this frame holds
    // nothing that needs dropping. The walk from `fp` records the paused
    // function's callers; the paused frame itself is reported by the trap.
    unsafe { traphandlers::raise(reason, fp) }
}

/// What a stop's handler run (caught for panics; `None` when no handler
/// ran) asks for: going on (`None`), or leaving the guest with its trap or
/// panic.
fn raise_reason(outcome: std::thread::Result<Option<Result<(), Trap>>>) -> Option<RaiseReason> {
    match outcome {
        Ok(None | Some(Ok(()))) => None,
        Ok(Some(Err(trap))) => Some(RaiseReason::Trap(trap)),
        Err(panic) => Some(RaiseReason::Panic(panic)),
    }
}

/// Where a trap in debug-hook code goes when its store asks for trap stops
/// (`traphandlers::redirect_to_trap_stop` makes the faulting instruction
/// "call" this): runs the debug handler on the trapping frame, whose locals
/// are current in their home slots, then lets the trap unwind as usual (or
/// ends with the handler's own trap, e.g. the debugger's terminate).
///
/// # Safety
/// Reached only through the redirect: `vmctx` is the faulting frame's
/// live vmctx, `pc` the faulting instruction, `fp` the frame's pointer,
/// `code` a `TrapCode as usize`, inside `catch_traps`.
pub unsafe extern "C" fn trap_stop(vmctx: *mut u8, pc: usize, fp: usize, code: usize) -> ! {
    let code = TrapCode::from_index(code).unwrap_or(TrapCode::UnreachableCodeReached);
    let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        // SAFETY: the faulting frame's live vmctx.
        let limits = unsafe { VMRuntimeLimits::of_vmctx(vmctx) };
        let handler = limits.debug_handler.get()?;
        let info = crate::trap::frame_info(pc, false)?;
        let (delta, num_locals) = crate::trap::debug_locals_of(pc)?;
        let mut stop = RawStop {
            vmctx,
            func_index: info.func_index,
            wasm_offset: info.wasm_offset?,
            slots: (fp - delta as usize) as *mut u128,
            num_locals,
            // The trapping instruction never resumes.
            writable: false,
            fp,
            trap: Some(code),
            regs: std::ptr::null_mut(),
            pc: 0,
        };
        // SAFETY: as in `debug_hook`: the store installed the handler and
        // wasm is running on this thread with no other borrow of it.
        Some(unsafe { (handler.call)(handler.store, &mut stop) })
    }));
    let reason = raise_reason(outcome);
    // SAFETY: inside `catch_traps`; every value of this frame is gone.
    unsafe {
        match reason {
            None => traphandlers::raise_fault(code, pc, fp),
            Some(r) => traphandlers::raise(r, fp),
        }
    }
}
