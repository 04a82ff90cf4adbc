//! Traps: why guest execution stopped abnormally, and where.
//!
//! Also the process-wide registry of JIT code ranges, which maps a native PC
//! to its trap code and to (module, function, wasm offset). The signal
//! handler reads it, so it must never be written while JIT code of the
//! writing thread is on the stack faulting (it never is: writes happen when a
//! module is created or dropped, in host code).

use crate::compile::SrcLoc;
use crate::module_env::ModuleInfo;
use std::collections::BTreeMap;
use std::fmt;
use std::ops::Range;
use std::sync::{Arc, RwLock};

/// The kinds of trap wasm code can raise.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TrapCode {
    StackOverflow,
    MemoryOutOfBounds,
    HeapMisaligned,
    TableOutOfBounds,
    IndirectCallToNull,
    BadSignature,
    IntegerOverflow,
    IntegerDivisionByZero,
    BadConversionToInteger,
    UnreachableCodeReached,
    Interrupt,
    NullReference,
}

impl TrapCode {
    const ALL: [TrapCode; 12] = [
        Self::StackOverflow,
        Self::MemoryOutOfBounds,
        Self::HeapMisaligned,
        Self::TableOutOfBounds,
        Self::IndirectCallToNull,
        Self::BadSignature,
        Self::IntegerOverflow,
        Self::IntegerDivisionByZero,
        Self::BadConversionToInteger,
        Self::UnreachableCodeReached,
        Self::Interrupt,
        Self::NullReference,
    ];

    /// The code whose `as usize` is `i` (it crosses a register as a number).
    pub(crate) fn from_index(i: usize) -> Option<Self> {
        Self::ALL.get(i).copied().filter(|c| *c as usize == i)
    }

    pub(crate) fn from_cranelift(code: cranelift_codegen::ir::TrapCode) -> Self {
        use cranelift_codegen::ir::TrapCode as C;
        match code {
            C::StackOverflow => Self::StackOverflow,
            C::HeapOutOfBounds => Self::MemoryOutOfBounds,
            C::HeapMisaligned => Self::HeapMisaligned,
            C::TableOutOfBounds => Self::TableOutOfBounds,
            C::IndirectCallToNull => Self::IndirectCallToNull,
            C::BadSignature => Self::BadSignature,
            C::IntegerOverflow => Self::IntegerOverflow,
            C::IntegerDivisionByZero => Self::IntegerDivisionByZero,
            C::BadConversionToInteger => Self::BadConversionToInteger,
            C::UnreachableCodeReached => Self::UnreachableCodeReached,
            C::Interrupt => Self::Interrupt,
            C::NullReference | C::NullI31Ref => Self::NullReference,
            C::User(_) => Self::UnreachableCodeReached,
        }
    }

    /// The message the WebAssembly spec tests use for this trap.
    pub fn message(self) -> &'static str {
        match self {
            Self::StackOverflow => "call stack exhausted",
            Self::MemoryOutOfBounds => "out of bounds memory access",
            Self::HeapMisaligned => "misaligned memory access",
            Self::TableOutOfBounds => "undefined element: out of bounds table access",
            Self::IndirectCallToNull => "uninitialized element",
            Self::BadSignature => "indirect call type mismatch",
            Self::IntegerOverflow => "integer overflow",
            Self::IntegerDivisionByZero => "integer divide by zero",
            Self::BadConversionToInteger => "invalid conversion to integer",
            Self::UnreachableCodeReached => "unreachable",
            Self::Interrupt => "interrupted",
            Self::NullReference => "null reference",
        }
    }
}

impl fmt::Display for TrapCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.message())
    }
}

/// Why execution stopped.
#[derive(Debug)]
pub enum TrapReason {
    /// Wasm code trapped.
    Wasm(TrapCode),
    /// A host function returned an error.
    Host(String),
    /// The guest asked to exit (WASI `proc_exit`).
    Exit(i32),
}

/// One wasm frame of a backtrace, innermost first.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FrameInfo {
    /// The module whose code the frame runs.
    pub module: Option<crate::ModuleId>,
    pub module_name: Option<String>,
    pub func_index: u32,
    pub func_name: Option<String>,
    /// Byte offset of the instruction in the module binary.
    pub wasm_offset: Option<u32>,
    /// Offset relative to the start of the function body (its size field).
    pub func_offset: Option<u32>,
}

/// A trap, with the wasm backtrace at the point it happened.
#[derive(Debug)]
pub struct Trap {
    pub reason: TrapReason,
    pub backtrace: Vec<FrameInfo>,
}

impl Trap {
    pub fn host(msg: impl Into<String>) -> Self {
        Trap {
            reason: TrapReason::Host(msg.into()),
            backtrace: Vec::new(),
        }
    }

    pub fn exit(code: i32) -> Self {
        Trap {
            reason: TrapReason::Exit(code),
            backtrace: Vec::new(),
        }
    }

    /// The wasm trap code, if wasm code trapped.
    pub fn code(&self) -> Option<TrapCode> {
        match self.reason {
            TrapReason::Wasm(c) => Some(c),
            _ => None,
        }
    }

    /// The exit status, if the guest exited.
    pub fn exit_status(&self) -> Option<i32> {
        match self.reason {
            TrapReason::Exit(c) => Some(c),
            _ => None,
        }
    }

    /// The backtrace rendered one frame a line; runs of identical frames
    /// (deep recursion) are folded into one line.
    pub fn display_backtrace(&self) -> String {
        let mut s = String::new();
        let mut i = 0;
        while i < self.backtrace.len() {
            let f = &self.backtrace[i];
            let run = self.backtrace[i..].iter().take_while(|g| *g == f).count();
            let name = match (&f.func_name, &f.module_name) {
                (Some(n), Some(m)) => format!("{m}!{n}"),
                (Some(n), None) => n.clone(),
                (None, Some(m)) => format!("{m}!<wasm function {}>", f.func_index),
                (None, None) => format!("<wasm function {}>", f.func_index),
            };
            let offset = f
                .wasm_offset
                .map_or_else(|| format!("{:>8}", "?"), |o| format!("{o:#8x}"));
            s.push_str(&format!("  {i:>2}: {offset} - {name}\n"));
            if run > 2 {
                s.push_str(&format!("      ... {} more identical frames\n", run - 1));
                i += run;
            } else {
                i += 1;
            }
        }
        s
    }
}

impl fmt::Display for Trap {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.reason {
            TrapReason::Wasm(c) => write!(f, "wasm trap: {c}"),
            TrapReason::Host(m) => write!(f, "{m}"),
            TrapReason::Exit(c) => write!(f, "exited with status {c}"),
        }?;
        if let Some(top) = self.backtrace.first() {
            if let Some(o) = top.wasm_offset {
                write!(f, " at wasm offset {o:#x}")?;
            }
        }
        Ok(())
    }
}

impl std::error::Error for Trap {}

/// Per-function facts kept for trap handling and symbolization.
pub(crate) struct FuncCode {
    /// Absolute native address range.
    pub range: Range<usize>,
    /// `None` for trampolines (they are not wasm frames).
    pub func_index: Option<u32>,
    pub traps: Vec<(u32, TrapCode)>,
    pub srclocs: Vec<SrcLoc>,
    /// Offset of the function body in the module binary.
    pub body_offset: u32,
    /// Live externref slots (SP offsets) by return-address offset, sorted.
    pub stack_maps: Vec<(u32, Vec<u32>)>,
    /// Debug-hook code: (FP minus the locals' home slot, local count).
    pub debug_locals: Option<(u32, u32)>,
    /// `DebugLocals::Live` code: its sites and where its locals are.
    pub live: Option<Arc<crate::compile::LiveDebug>>,
    /// Debug-hook code: the operand stack at its sites, by module offset.
    pub stack_sites: Vec<crate::compile::StackSite>,
    /// Live code: the operand stack below its calls' arguments, by the
    /// call's module offset (`compile::CompiledFunction::call_stacks`).
    pub call_stacks: Vec<crate::compile::StackSite>,
}

/// One registered code region.
pub(crate) struct CodeInfo {
    pub range: Range<usize>,
    /// Sorted by address.
    pub funcs: Vec<FuncCode>,
    pub module: Option<Arc<ModuleInfo>>,
}

impl CodeInfo {
    fn func_at(&self, pc: usize) -> Option<&FuncCode> {
        let i = self.funcs.partition_point(|f| f.range.end <= pc);
        self.funcs.get(i).filter(|f| f.range.contains(&pc))
    }
}

/// Registry keyed by the end address of each region.
static CODE: RwLock<BTreeMap<usize, Arc<CodeInfo>>> = RwLock::new(BTreeMap::new());

pub(crate) fn register_code(info: Arc<CodeInfo>) {
    CODE.write()
        .unwrap_or_else(|e| e.into_inner())
        .insert(info.range.end, info);
}

/// Whether a region is registered for exactly `range`.
#[cfg(test)]
pub(crate) fn is_registered(range: &Range<usize>) -> bool {
    let map = CODE.read().unwrap_or_else(|e| e.into_inner());
    map.get(&range.end).is_some_and(|info| info.range == *range)
}

/// Removes the region registered for exactly `range`, if any.
pub(crate) fn unregister_code(range: &Range<usize>) {
    let mut map = CODE.write().unwrap_or_else(|e| e.into_inner());
    if map.get(&range.end).is_some_and(|info| info.range == *range) {
        map.remove(&range.end);
    }
}

fn with_code<R>(pc: usize, f: impl FnOnce(&CodeInfo) -> Option<R>) -> Option<R> {
    let map = CODE.read().unwrap_or_else(|e| e.into_inner());
    let (_, info) = map.range(pc + 1..).next()?;
    if !info.range.contains(&pc) {
        return None;
    }
    f(info)
}

/// The trap code of the instruction at `pc`, if `pc` is a trap site of JIT
/// code. Called from the signal handler: takes a read lock, allocates nothing.
pub(crate) fn trap_code_at(pc: usize) -> Option<TrapCode> {
    with_code(pc, |info| {
        let func = info.func_at(pc)?;
        let off = (pc - func.range.start) as u32;
        let i = func.traps.binary_search_by_key(&off, |t| t.0).ok()?;
        Some(func.traps[i].1)
    })
}

/// Whether `pc` lies in a wasm function (not a trampoline).
pub(crate) fn is_wasm_pc(pc: usize) -> bool {
    with_code(pc, |info| info.func_at(pc)?.func_index.map(|_| ())).is_some()
}

/// The stack map of the call whose return address is `ret`: SP-relative
/// offsets of the externrefs live across it.
pub(crate) fn stack_map_at(ret: usize) -> Option<Vec<u32>> {
    with_code(ret - 1, |info| {
        let func = info.func_at(ret - 1)?;
        let off = (ret - func.range.start) as u32;
        let i = func.stack_maps.binary_search_by_key(&off, |m| m.0).ok()?;
        Some(func.stack_maps[i].1.clone())
    })
}

/// For a return address into debug-hook code: where that frame keeps its
/// locals (FP minus home slot), how many, and the function's module.
pub(crate) fn debug_locals_at(ret: usize) -> Option<(u32, u32, Option<Arc<ModuleInfo>>)> {
    let pc = ret - 1;
    with_code(pc, |info| {
        let func = info.func_at(pc)?;
        let (delta, n) = func.debug_locals?;
        Some((delta, n, info.module.clone()))
    })
}

/// For a PC in debug-hook code: (FP minus the locals' home slot, local
/// count). Called from the signal handler: allocates nothing.
pub(crate) fn debug_locals_of(pc: usize) -> Option<(u32, u32)> {
    with_code(pc, |info| info.func_at(pc)?.debug_locals)
}

/// For a PC in `DebugLocals::Live` code: the function's start address and
/// its debug facts.
pub(crate) fn live_debug_of(pc: usize) -> Option<(usize, Arc<crate::compile::LiveDebug>)> {
    with_code(pc, |info| {
        let func = info.func_at(pc)?;
        Some((func.range.start, func.live.clone()?))
    })
}

/// For a PC in debug-hook code: the operand stack at its hook site at
/// module offset `offset`; `None` when the stack there is empty or the
/// site is not this function's.
pub(crate) fn stack_site_at(pc: usize, offset: u32) -> Option<crate::compile::StackSite> {
    stack_record_at(pc, offset, |f| &f.stack_sites)
}

/// The operand stack below the arguments of the call at module offset
/// `offset` in the live code at `pc` (`FuncCode::call_stacks`).
pub(crate) fn call_stack_at(pc: usize, offset: u32) -> Option<crate::compile::StackSite> {
    stack_record_at(pc, offset, |f| &f.call_stacks)
}

/// The record at module offset `offset` in the list `records` picks of
/// the function whose code `pc` is in.
fn stack_record_at(
    pc: usize,
    offset: u32,
    records: impl FnOnce(&FuncCode) -> &[crate::compile::StackSite],
) -> Option<crate::compile::StackSite> {
    with_code(pc, |info| {
        let sites = records(info.func_at(pc)?);
        let i = sites.binary_search_by_key(&offset, |s| s.offset).ok()?;
        Some(sites[i].clone())
    })
}

/// Where the locals of live debug code that trapped at `pc` are looked
/// up: past the jump to an out-of-line trap, else `pc` itself.
pub(crate) fn trap_lookup_pc(pc: usize) -> usize {
    past_jump(pc, |live| &live.trap_jumps).unwrap_or(pc)
}

/// For `pc`, an out-of-line trap of live debug code listed in `jumps` (one
/// of `LiveDebug`'s jump tables): the address just past the jump to it.
/// Allocates nothing.
fn past_jump(
    pc: usize,
    jumps: impl FnOnce(&crate::compile::LiveDebug) -> &[(u32, u32)],
) -> Option<usize> {
    with_code(pc, |info| {
        let func = info.func_at(pc)?;
        let off = (pc - func.range.start) as u32;
        let jumps = jumps(func.live.as_ref()?);
        let i = jumps.binary_search_by_key(&off, |j| j.0).ok()?;
        Some(func.range.start + jumps[i].1 as usize)
    })
}

/// Whether `pc` lies in `DebugLocals::Live` code. Called from the signal
/// handler: allocates nothing.
pub(crate) fn is_live_debug(pc: usize) -> bool {
    with_code(pc, |info| info.func_at(pc)?.live.as_ref().map(|_| ())).is_some()
}

/// If `pc` is a hook site's trap in `DebugLocals::Live` code: where the
/// site resumes (just past its `int3`). Called from the signal handler:
/// allocates nothing.
pub(crate) fn site_resume(pc: usize) -> Option<usize> {
    past_jump(pc, |live| &live.site_jumps)
}

/// Symbolizes a native PC. `is_return_address` moves the lookup back into
/// the call instruction.
pub(crate) fn frame_info(pc: usize, is_return_address: bool) -> Option<FrameInfo> {
    let pc = if is_return_address { pc - 1 } else { pc };
    with_code(pc, |info| {
        let func = info.func_at(pc)?;
        let func_index = func.func_index?;
        let off = (pc - func.range.start) as u32;
        let i = func.srclocs.partition_point(|s| s.end <= off);
        let wasm_offset = func
            .srclocs
            .get(i)
            .filter(|s| s.start <= off)
            .or_else(|| i.checked_sub(1).and_then(|j| func.srclocs.get(j)))
            .map(|s| s.wasm_offset);
        let module = info.module.as_ref();
        Some(FrameInfo {
            module: module.map(|m| m.id),
            module_name: module.and_then(|m| m.name.clone()),
            func_index,
            func_name: module
                .and_then(|m| m.func_name(cranelift_wasm::FuncIndex::from_u32(func_index)))
                .map(str::to_string),
            wasm_offset,
            func_offset: wasm_offset.map(|o| o.saturating_sub(func.body_offset)),
        })
    })
}
