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
        };
        // SAFETY: as in `debug_hook`: the store installed the handler and
        // wasm is running on this thread with no other borrow of it.
        Some(unsafe { (handler.call)(handler.store, &mut stop) })
    }));
    let reason = match outcome {
        Ok(None | Some(Ok(()))) => None,
        Ok(Some(Err(trap))) => Some(RaiseReason::Trap(trap)),
        Err(panic) => Some(RaiseReason::Panic(panic)),
    };
    // SAFETY: inside `catch_traps`; every value of this frame is gone.
    unsafe {
        match reason {
            None => traphandlers::raise_fault(code, pc, fp),
            Some(r) => traphandlers::raise(r, fp),
        }
    }
}
