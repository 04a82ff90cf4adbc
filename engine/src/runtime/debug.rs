//! The runtime side of debug hooks: the builtin that code compiled with
//! `CompileOptions::debug_hooks` calls before an instruction while the
//! store's debug flag is set, and the raw view of the stopped frame that
//! `api::DebugStop` wraps.

use crate::runtime::traphandlers::{self, RaiseReason, VMRuntimeLimits};
use crate::{vmoffsets, Trap};

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
    // SAFETY: the RUNTIME_LIMITS slot of a live vmctx points at its store's
    // limits, which outlive every call into the store's instances.
    let limits = unsafe {
        &**(vmctx.add(vmoffsets::vmctx::RUNTIME_LIMITS as usize) as *const *const VMRuntimeLimits)
    };
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
