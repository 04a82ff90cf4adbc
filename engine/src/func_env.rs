//! The `FuncEnvironment` that tells cranelift-wasm how a function reaches
//! the runtime: the `VMContext`, linear memories, tables, globals, calls and
//! the builtins.
//!
//! Every offset comes from `vmoffsets`; this module never writes a literal.
//! Code generated here must not raise a signal unless the wasm traps: bounds
//! are checked by guard pages (memories) or explicit compares (tables), and
//! traps are `trap`/`trapz`/`trapnz` with a trap code the signal handler maps.

use crate::module_env::ModuleInfo;
use crate::vmoffsets::{self, builtin, VMOffsets};
use cranelift_codegen::cursor::FuncCursor;
use cranelift_codegen::ir::{
    self, condcodes::IntCC, types, AbiParam, ArgumentPurpose, Function, InstBuilder, MemFlags,
    Signature, TrapCode, Type,
};
use cranelift_codegen::isa::{CallConv, TargetFrontendConfig, TargetIsa};
use cranelift_entity::EntityRef;
use cranelift_entity::PrimaryMap;
use cranelift_frontend::FunctionBuilder;
use cranelift_wasm::{
    wasmparser, EngineOrModuleTypeIndex, FuncEnvironment, FuncIndex, FuncTranslationState,
    GlobalIndex, GlobalVariable, Heap, HeapData, HeapStyle, MemoryIndex, ModuleInternedTypeIndex,
    TableIndex, TargetEnvironment, TypeConvert, TypeIndex, WasmError, WasmFuncType,
    WasmHeapTopType, WasmHeapType, WasmResult, WasmValType,
};
use std::collections::HashMap;

/// Bytes of address space reserved for each 32-bit linear memory: the whole
/// 4 GiB index space, so no access with a 32-bit index needs a bounds check.
pub const MEMORY_RESERVATION: u64 = 1 << 32;
/// Guard region after the reservation: accesses with a static offset below
/// this need no bounds check either.
pub const MEMORY_GUARD: u64 = 2 << 30;

/// Namespaces of `UserExternalName`s in compiled code.
pub mod namespace {
    /// A defined wasm function; `index` is its `FuncIndex`.
    pub const WASM_FUNC: u32 = 0;
    /// A host runtime function; `index` is a `compile::HostFunc`.
    pub const HOST_FUNC: u32 = 1;
}

/// The native signature of a wasm function:
/// `(callee_vmctx, caller_vmctx, params...) -> results`.
///
/// The caller's vmctx lets host functions find the calling instance (WASI
/// reads the caller's memory through it); it is null for calls from the host.
pub fn wasm_signature(isa: &dyn TargetIsa, ty: &WasmFuncType) -> Signature {
    let mut sig = Signature::new(isa.default_call_conv());
    sig.params.push(AbiParam::special(
        isa.pointer_type(),
        ArgumentPurpose::VMContext,
    ));
    sig.params.push(AbiParam::new(isa.pointer_type()));
    for p in ty.params() {
        sig.params.push(AbiParam::new(value_type(isa, p)));
    }
    for r in ty.returns() {
        sig.returns.push(AbiParam::new(value_type(isa, r)));
    }
    sig
}

/// The Cranelift type of a wasm value. References are native pointers.
pub fn value_type(isa: &dyn TargetIsa, ty: &WasmValType) -> Type {
    match ty {
        WasmValType::I32 => types::I32,
        WasmValType::I64 => types::I64,
        WasmValType::F32 => types::F32,
        WasmValType::F64 => types::F64,
        WasmValType::V128 => types::I8X16,
        WasmValType::Ref(_) => isa.pointer_type(),
    }
}

pub struct FuncEnv<'a> {
    isa: &'a dyn TargetIsa,
    module: &'a ModuleInfo,
    offsets: &'a VMOffsets,
    /// Engine-wide signature id of each of the module's types.
    sig_ids: &'a [u32],
    heaps: PrimaryMap<Heap, HeapData>,
    vmctx: Option<ir::GlobalValue>,
    builtin_sigs: [Option<ir::SigRef>; builtin::COUNT],
    /// The type and index of the function being compiled.
    func_type: Option<TypeIndex>,
    func_index: Option<FuncIndex>,
    /// Wasm types of the signatures and callees imported into the function,
    /// to tell which call results are externrefs.
    sig_types: HashMap<ir::SigRef, WasmFuncType>,
    callee_types: HashMap<ir::FuncRef, WasmFuncType>,
    /// Debug hooks: set by `enable_debug_hooks`.
    debug: Option<DebugHooks>,
}

/// State of the per-instruction debug instrumentation of one function.
struct DebugHooks {
    /// Module offset of each operator, in order.
    offsets: Vec<u32>,
    /// Index of the next operator.
    next: usize,
    /// Module offsets that get a hook (sorted); `None`: all.
    sites: Option<std::sync::Arc<[u32]>>,
    /// The next operator gets a hook whatever `sites` says: it heads a
    /// loop or follows a call.
    force_next: bool,
    /// Whether entries, loop heads and call returns are forced sites
    /// (`CompileOptions::debug_forced_sites`).
    forced: bool,
    /// Per local: whether it holds a reference (never written back).
    local_is_ref: Vec<bool>,
    /// Per local: its Cranelift type (set at function entry).
    local_types: Vec<Type>,
    /// The store's `VMRuntimeLimits`, loaded once at function entry.
    limits: Option<ir::Value>,
    /// The locals' home: 16 bytes per local, written at entry and by every
    /// `local.set`/`local.tee`, so the hook costs O(1) in code size however
    /// many locals and instructions the function has; then the vmctx.
    /// With `live`, only the vmctx.
    slot: Option<ir::StackSlot>,
    /// `DebugLocals::Live`: a site is a flag check and a trap; locals
    /// stay where the optimized code keeps them.
    live: bool,
    /// Live: locals kept in the home slot anyway (see
    /// `CompileOptions::debug_keep_locals`), in slot order.
    kept: Vec<u32>,
    /// Live: locals set since the last site.
    set_since_site: Vec<u32>,
    /// Live: each site's anchors (see `anchor_locals`): the anchoring
    /// instruction and the local whose value it holds.
    anchors: Vec<(ir::Inst, u32)>,
    /// The validator's operand-stack heights and types per operator.
    stack_types: crate::compile::OperandTypes,
    /// Live: where sites record the stack (`CompileOptions::
    /// debug_stack_ranges`, this function's part); `None`: everywhere.
    stack_ranges: Option<Vec<(u32, u32)>>,
    /// The shadow of cranelift-wasm's value stack (which it keeps
    /// private): the SSA value of each wasm operand-stack entry, bottom
    /// first, `None` where the translation of an operator could not be
    /// followed. See `track_operand_stack`.
    stack: Vec<Option<ir::Value>>,
    /// The function's instruction count before the current operator: an
    /// operator's result is an instruction it made.
    insts_before: usize,
    /// Whether the current operator was reachable.
    was_reachable: bool,
    /// One past the last home-slot entry a site's stack is stored in.
    max_entry: usize,
    /// The operand stack at each site where it is not empty.
    stack_sites: Vec<crate::compile::StackSite>,
    /// Live: the operand stack below each call's arguments where it is
    /// recorded (see `record_call_stack`).
    call_stacks: Vec<crate::compile::StackSite>,
}

impl DebugHooks {
    /// The operand stack before operator `at` (the shadow stack, with the
    /// validator's types), bottom first; a value the shadow could not
    /// follow is `None`. `None` when the types are not known.
    fn stack_before(&self, at: usize) -> Option<Vec<(wasmparser::ValType, Option<ir::Value>)>> {
        let types = self.stack_types.before(at)?;
        let follows = types.len() == self.stack.len();
        Some(
            types
                .iter()
                .enumerate()
                .map(|(d, &t)| (t, self.stack.get(d).copied().flatten().filter(|_| follows)))
                .collect(),
        )
    }

    /// Whether live code records the operand stack at module offset
    /// `offset`: inside `stack_ranges` (everywhere without them).
    fn records_stack_at(&self, offset: u32) -> bool {
        self.stack_ranges
            .as_ref()
            .is_none_or(|r| r.iter().any(|&(a, b)| a <= offset && offset < b))
    }
}

/// Offset in a live function's home slot of its `k`th kept local (the
/// vmctx is at 0).
pub fn kept_slot_offset(k: usize) -> usize {
    16 * (k + 1)
}

/// Marks the source location of a `DebugLocals::Live` hook site's
/// `debugtrap` (the site's module offset, this bit set), so the compiler
/// finds the one byte it became (`compile::CompiledFunction::site_traps`)
/// and maps it back to the plain offset. Module offsets stay below it: a
/// site at a larger offset is not made (no module is 2 GiB).
pub const SITE_SRCLOC_MARK: u32 = 1 << 31;

/// Marks the source location of the branch by which a live site that
/// records its operand stack reaches the cold block that stores it: a
/// comparison that is never true (the home slot's address with zero: a
/// value the site's function holds anyway, see `home_addr`), so the
/// compiler finds the branch's condition byte
/// (`compile::CompiledFunction::site_flips`), which the store's site
/// switch inverts to take the branch (no load at the site).
pub const STACK_SRCLOC_MARK: u32 = 1 << 30;

/// Where in a live function's home slot a site that recorded its operand
/// stack writes its module offset plus one (the 8 bytes after the vmctx):
/// zero at entry and after each stop, so a stop reads the stack only if
/// it was recorded on the way to that very stop (its branch may have
/// been switched on just after the thread passed it).
pub const LIVE_STACK_RECORDED: i32 = 8;

/// Whether the hook site at module offset `offset` calls the handler: its
/// own switch in the store's site table, on for a breakpoint there and for
/// every site while stepping or pausing (`runtime::traphandlers::
/// DebugSites`); non-zero for yes. Mirrored sites read it; live sites
/// are patched bytes of code instead.
///
/// Each site reads its own byte, so no site's load is merged with
/// another's (plain loads of one flag were merged across the trap by the
/// mid-end: a step from a breakpoint skipped the rest of its function),
/// and a load is never hoisted out of a loop (a paused loop sees its
/// switch).
///
/// The byte is read with an atomic load, which the mid-end's alias
/// analysis treats as a memory fence: no load of linear memory after a
/// site is answered from a store or load before it: without one a
/// debugger's write at a stop (`expr x = 5`, a watchpoint's page
/// protection) went unseen by code that had forwarded the stored value.
///
/// The table's address is read as a read-only value, so a function loads
/// it once, not at every site (the fence would force a reload each
/// time). A table replaced while the function runs (a larger module
/// instantiated by a host call) stays valid, and the function sees the
/// new one from its next call on.
fn site_switch(builder: &mut FunctionBuilder, limits: ir::Value, offset: u32) -> ir::Value {
    let sites = builder.ins().load(
        types::I64,
        MemFlags::trusted().with_readonly(),
        limits,
        vmoffsets::limits::DEBUG_SITES as i32,
    );
    // u32::MAX (no offset known) never reaches here.
    let byte = builder.ins().iadd_imm(sites, i64::from(offset));
    builder
        .ins()
        .atomic_load(types::I8, MemFlags::trusted(), byte)
}

/// The address of a function's home slot. Every access to the slot goes
/// through this one value and an immediate offset: `stack_store` and
/// `stack_load` become an address and a memory access before the
/// mid-end, which numbers each (slot, offset) address as its own pure
/// value and hoists it out of loops, so a function with a few kept locals
/// held as many addresses live across its loops (spilled, and reloaded at
/// every store). One address is at most one register.
fn home_addr(builder: &mut FunctionBuilder, ptr: ir::Type, slot: ir::StackSlot) -> ir::Value {
    builder.ins().stack_addr(ptr, slot, 0)
}

/// Stores `v` at `offset` in the home slot (see `home_addr`).
fn home_store(
    builder: &mut FunctionBuilder,
    ptr: ir::Type,
    slot: ir::StackSlot,
    v: ir::Value,
    offset: i32,
) {
    let base = home_addr(builder, ptr, slot);
    builder.ins().store(home_flags(), v, base, offset);
}

/// Loads a `ty` from `offset` in the home slot (see `home_addr`).
fn home_load(
    builder: &mut FunctionBuilder,
    ptr: ir::Type,
    slot: ir::StackSlot,
    ty: ir::Type,
    offset: i32,
) -> ir::Value {
    let base = home_addr(builder, ptr, slot);
    builder.ins().load(ty, home_flags(), base, offset)
}

/// Stores the mark of a live stack record (the module offset plus one of
/// the site or call that stores it) at `LIVE_STACK_RECORDED`.
fn store_mark(builder: &mut FunctionBuilder, ptr: ir::Type, slot: ir::StackSlot, offset: u32) {
    let mark = builder.ins().iconst(types::I32, i64::from(offset + 1));
    home_store(builder, ptr, slot, mark, LIVE_STACK_RECORDED);
}

/// A home-slot access cannot trap (the slot is in the frame), as the
/// `stack_store` it stands for.
fn home_flags() -> MemFlags {
    let mut flags = MemFlags::new();
    flags.set_notrap();
    flags
}

/// Branches to a new cold block when `flag` is non-zero and goes on in
/// it; returns the block both paths join in (`leave_cold_block`).
fn enter_cold_block(builder: &mut FunctionBuilder, flag: ir::Value) -> ir::Block {
    let cold = builder.create_block();
    let cont = builder.create_block();
    builder.set_cold_block(cold);
    builder.ins().brif(flag, cold, &[], cont, &[]);
    builder.switch_to_block(cold);
    builder.seal_block(cold);
    cont
}

/// Ends a cold block entered with `enter_cold_block`: on in `cont`.
fn leave_cold_block(builder: &mut FunctionBuilder, cont: ir::Block) {
    builder.ins().jump(cont, &[]);
    builder.switch_to_block(cont);
    builder.seal_block(cont);
}

/// Functions with more locals than this have read-only locals under the
/// debugger: reloading every local after each hook would grow the code by
/// locals x instructions.
const WRITABLE_LOCALS_MAX: usize = 16;

/// Whether a value of this type is a counted host reference.
pub fn is_externref(ty: &WasmValType) -> bool {
    matches!(ty, WasmValType::Ref(r) if r.heap_type.top() == WasmHeapTopType::Extern)
}

impl<'a> FuncEnv<'a> {
    pub fn new(
        isa: &'a dyn TargetIsa,
        module: &'a ModuleInfo,
        offsets: &'a VMOffsets,
        sig_ids: &'a [u32],
    ) -> Self {
        FuncEnv {
            isa,
            module,
            offsets,
            sig_ids,
            heaps: PrimaryMap::new(),
            vmctx: None,
            builtin_sigs: [None; builtin::COUNT],
            func_type: None,
            func_index: None,
            sig_types: HashMap::new(),
            callee_types: HashMap::new(),
            debug: None,
        }
    }

    /// Instruments the function about to be translated (whose body is
    /// `body`) with debug hooks.
    pub fn enable_debug_hooks(
        &mut self,
        body: &wasmparser::FunctionBody,
        (sites, forced): (Option<std::sync::Arc<[u32]>>, bool),
        live: bool,
        kept: Vec<u32>,
        (stack_types, stack_ranges): (crate::compile::OperandTypes, Option<Vec<(u32, u32)>>),
    ) -> Result<(), wasmparser::BinaryReaderError> {
        let func_type = self.func_type.expect("set_function comes first");
        let mut local_is_ref: Vec<bool> = self.module.types[func_type.index()]
            .params()
            .iter()
            .map(|t| matches!(t, WasmValType::Ref(_)))
            .collect();
        for local in body.get_locals_reader()? {
            let (count, ty) = local?;
            let is_ref = matches!(ty, wasmparser::ValType::Ref(_));
            local_is_ref.extend(std::iter::repeat_n(is_ref, count as usize));
        }
        let mut offsets = Vec::new();
        let mut ops = body.get_operators_reader()?;
        while !ops.eof() {
            offsets.push(ops.read_with_offset()?.1 as u32);
        }
        // The parameters too: a debugger shows every frame's arguments,
        // and code compiled at -O0 stores them to memory once and never
        // reads the locals again (one store each per call). Numbers only:
        // a reference in the slot would be a root no stack map knows of.
        let params = self.module.types[func_type.index()].params().len() as u32;
        let mut kept: Vec<u32> = kept
            .into_iter()
            .chain(0..params)
            .filter(|&l| local_is_ref.get(l as usize) == Some(&false))
            .collect();
        kept.sort_unstable();
        kept.dedup();
        self.debug = Some(DebugHooks {
            offsets,
            next: 0,
            sites,
            // The function's first instruction.
            force_next: forced,
            forced,
            local_is_ref,
            local_types: Vec::new(),
            limits: None,
            slot: None,
            live,
            kept,
            set_since_site: Vec::new(),
            anchors: Vec::new(),
            stack_types,
            stack_ranges,
            stack: Vec::new(),
            insts_before: 0,
            was_reachable: true,
            max_entry: 0,
            stack_sites: Vec::new(),
            call_stacks: Vec::new(),
        });
        Ok(())
    }

    /// After translation: the operand stack at each site, and the home
    /// slot grown to hold the deepest one stored.
    pub fn finish_stack_sites(&mut self, func: &mut Function) -> Vec<crate::compile::StackSite> {
        let Some(d) = self.debug.as_mut() else {
            return Vec::new();
        };
        if let Some(slot) = d.slot {
            let data = &mut func.sized_stack_slots[slot];
            data.size = data.size.max(16 * d.max_entry as u32);
        }
        std::mem::take(&mut d.stack_sites)
    }

    /// The locals' home slot and the number of locals, once translated
    /// with debug hooks.
    pub fn debug_slot(&self) -> Option<(ir::StackSlot, u32)> {
        let d = self.debug.as_ref()?;
        Some((
            d.slot?,
            if d.live {
                0
            } else {
                d.local_is_ref.len() as u32
            },
        ))
    }

    /// Live: the locals kept in the home slot anyway, in slot order.
    pub fn kept_locals(&self) -> &[u32] {
        self.debug.as_ref().map_or(&[], |d| &d.kept)
    }

    /// After translation: the operand stack below each live call's
    /// arguments (`record_call_stack`), sorted by the call's offset.
    pub fn finish_call_stacks(&mut self) -> Vec<crate::compile::StackSite> {
        self.debug
            .as_mut()
            .map(|d| std::mem::take(&mut d.call_stacks))
            .unwrap_or_default()
    }

    /// Live code, before a `call` or `call_indirect` in the stack ranges
    /// (where DWARF puts a variable on the stack): stores each known
    /// operand-stack value below the call's arguments in the home slot,
    /// as a site records its stack, and the call's mark (its offset plus
    /// one, at `LIVE_STACK_RECORDED`), and lists them. A stop deeper in
    /// the stack reads a caller's operand stack from there
    /// (`DebugStop::frame_operand_stack`): the caller runs nothing while
    /// its call does, so its record is current. Value-label ranges do not
    /// serve: Cranelift gave a value live across a call none (tried with
    /// a label per value and call). A store per value per such call.
    fn record_call_stack(
        &mut self,
        op: &wasmparser::Operator,
        builder: &mut FunctionBuilder,
        state: &FuncTranslationState,
    ) {
        use wasmparser::Operator as O;
        let popped = match *op {
            O::Call { function_index } => self
                .module
                .functions
                .get(function_index as usize)
                .map(|t| self.module.types[t.index()].params().len()),
            // The callee's index is on top of its arguments.
            O::CallIndirect { type_index, .. } => self
                .module
                .types
                .get(type_index as usize)
                .map(|t| t.params().len() + 1),
            _ => return,
        };
        let Some(popped) = popped else { return };
        let first = 1 + self.kept_locals().len();
        let Some(d) = self.debug.as_ref().filter(|d| d.live) else {
            return;
        };
        let (Some(at), Some(slot), true) = (d.next.checked_sub(1), d.slot, state.reachable())
        else {
            return;
        };
        let Some(&offset) = d.offsets.get(at).filter(|&&o| d.records_stack_at(o)) else {
            return;
        };
        let Some(mut stack) = d.stack_before(at) else {
            return;
        };
        stack.truncate(stack.len().saturating_sub(popped));
        if stack.iter().all(|e| e.1.is_none()) {
            return;
        }
        let entries = self.store_stack(builder, slot, first, stack);
        store_mark(builder, self.ptr(), slot, offset);
        let d = self.debug.as_mut().expect("checked above");
        d.call_stacks
            .push(crate::compile::StackSite { offset, entries });
    }

    /// Live sites' anchors: instructions that keep the value each local was
    /// last set to computed before the site (Cranelift's mid-end would
    /// otherwise sink it past the site, or rewrite it and drop its value
    /// label). `compile` takes them out again before lowering, see
    /// `compile::settle_anchors`.
    pub fn take_anchors(&mut self) -> Vec<(ir::Inst, u32)> {
        self.debug
            .as_mut()
            .map(|d| std::mem::take(&mut d.anchors))
            .unwrap_or_default()
    }

    /// Before each reachable instruction: if the store's debug flag is set,
    /// call the debug hook with the locals' home slot (see `DebugHooks`);
    /// in small functions, reload the (non-reference) locals it may have
    /// changed.
    ///
    /// The operand stack's values are recorded too, from the shadow stack
    /// (`track_operand_stack`): stored in the home slot on the way to the
    /// stop (past the locals and the vmctx, or in live code past the kept
    /// locals); the site's `StackSite` says where each one is.
    fn emit_debug_hook(&mut self, builder: &mut FunctionBuilder, state: &FuncTranslationState) {
        let ptr = self.ptr();
        let Some(debug) = self.debug.as_mut() else {
            return;
        };
        let Some(offset) = debug.offsets.get(debug.next).copied() else {
            // Past the instructions the validator listed: no site.
            return;
        };
        debug.next += 1;
        let site = std::mem::take(&mut debug.force_next)
            || debug
                .sites
                .as_ref()
                .is_none_or(|s| s.binary_search(&offset).is_ok());
        if !site {
            return;
        }
        let (Some(limits), Some(slot), true) = (debug.limits, debug.slot, state.reachable()) else {
            return;
        };
        // The operand stack here, with its types; `None` when its types
        // are not known.
        let stack = debug.stack_before(debug.next - 1);
        let wanted = !debug.live || debug.records_stack_at(offset);
        // Unwanted: its types only, nothing stored.
        let stack = stack.filter(|s| !s.is_empty()).map(|s| {
            s.into_iter()
                .map(|(t, v)| (t, v.filter(|_| wanted)))
                .collect::<Vec<_>>()
        });
        if debug.live {
            // One `debugtrap` (`int3`, one byte), which the code memory
            // turns into a `nop` when it publishes the code and the
            // store's site switches patch back and forth (`traphandlers::
            // DebugSites`): a site that is off costs one `nop`, no load,
            // no branch, no split block. An `int3` that is on enters the
            // debugger with every register saved and resumes just past it
            // (`traphandlers::enter_debugger_at_site`); the locals are
            // where the value-label ranges put them there. The mid-end's
            // alias analysis treats `debugtrap` as a memory fence, so no
            // load of linear memory after a site is answered from before
            // it (a debugger's write at a stop is seen).
            if offset >= STACK_SRCLOC_MARK {
                return;
            }
            let set = std::mem::take(&mut debug.set_since_site);
            for local in set {
                let v = builder.use_var(cranelift_frontend::Variable::new(local as usize));
                let ty = builder.func.dfg.value_type(v);
                let word = match ty {
                    types::F32 => builder.ins().bitcast(types::I32, MemFlags::new(), v),
                    types::F64 => builder.ins().bitcast(types::I64, MemFlags::new(), v),
                    types::I32 | types::I64 => v,
                    _ => continue,
                };
                let anchor = builder.ins().set_pinned_reg(word);
                let debug = self.debug.as_mut().expect("checked above");
                debug.anchors.push((anchor, local));
            }
            if let Some(stack) = stack {
                // A stack to record (only in `stack_ranges`): when the
                // site's switch is on, a cold block on the way to the
                // `debugtrap` stores it in the home slot past the kept
                // locals, and the site's mark. Cranelift's value-label
                // ranges lose track of most stack values between
                // statements. The branch is on a comparison that is never
                // true, which the switch inverts in the code (no load).
                let first = 1 + self.kept_locals().len();
                if stack.iter().any(|e| e.1.is_some()) {
                    builder.set_srcloc(ir::SourceLoc::new(offset | STACK_SRCLOC_MARK));
                    let home = home_addr(builder, self.ptr(), slot);
                    let never = builder.ins().icmp_imm(ir::condcodes::IntCC::Equal, home, 0);
                    let cont = enter_cold_block(builder, never);
                    builder.set_srcloc(ir::SourceLoc::new(offset));
                    self.record_stack(builder, slot, offset, first, stack);
                    store_mark(builder, self.ptr(), slot, offset);
                    // The site's `int3` is in the cold block, after the
                    // stores, and stays an `int3`: the branch alone is
                    // the site's switch, and the straight-line code has
                    // no `nop` for it (`compile::CompiledFunction::
                    // patched_site_traps`).
                    builder.set_srcloc(ir::SourceLoc::new(offset | SITE_SRCLOC_MARK));
                    builder.ins().debugtrap();
                    builder.set_srcloc(ir::SourceLoc::new(offset));
                    leave_cold_block(builder, cont);
                    return;
                } else {
                    self.record_stack(builder, slot, offset, first, stack);
                }
            }
            builder.set_srcloc(ir::SourceLoc::new(offset | SITE_SRCLOC_MARK));
            builder.ins().debugtrap();
            builder.set_srcloc(ir::SourceLoc::new(offset));
            return;
        }
        let debug = self.debug.as_mut().expect("checked above");
        let flag = site_switch(builder, limits, offset);
        let writable = debug.local_types.len() <= WRITABLE_LOCALS_MAX;
        let local_types = if writable {
            debug.local_types.clone()
        } else {
            Vec::new()
        };
        let local_is_ref = debug.local_is_ref.clone();
        let num_locals = debug.local_is_ref.len();
        let cont = enter_cold_block(builder, flag);
        if let Some(stack) = stack {
            // Past the locals and the vmctx.
            self.record_stack(builder, slot, offset, num_locals + 1, stack);
        }
        let addr = home_addr(builder, ptr, slot);
        let fp = builder.ins().get_frame_pointer(ptr);
        let func_index = self.func_index.map_or(u32::MAX, |f| f.as_u32());
        let args = [
            builder.ins().iconst(types::I32, i64::from(func_index)),
            builder.ins().iconst(types::I32, i64::from(offset)),
            addr,
            builder.ins().iconst(types::I32, num_locals as i64),
            builder.ins().iconst(types::I32, i64::from(writable)),
            fp,
        ];
        let mut pos = builder.cursor();
        self.call_builtin(&mut pos, builtin::DEBUG_HOOK, &args);
        for (i, ty) in local_types.into_iter().enumerate() {
            if local_is_ref[i] {
                continue;
            }
            let v = home_load(builder, ptr, slot, ty, (16 * i) as i32);
            builder.def_var(cranelift_frontend::Variable::new(i), v);
        }
        leave_cold_block(builder, cont);
    }

    /// Follows the operand stack through the operator just translated,
    /// as cranelift-wasm's own value stack moved: the validator's heights
    /// say how many entries it popped and pushed (with `results_pushed`),
    /// and a pushed entry is the value of the last instruction the
    /// operator made, when that instruction has exactly the results the
    /// validator expects; block results are the joining block's
    /// parameters, `local.get` the local's current value. Anything else
    /// becomes `None`: shown as not recorded, never as a wrong value.
    fn track_operand_stack(
        &mut self,
        op: &wasmparser::Operator,
        builder: &mut FunctionBuilder,
        state: &FuncTranslationState,
    ) {
        use wasmparser::Operator as O;
        let ptr = self.ptr();
        let pushed = self.results_pushed(op);
        let Some(d) = self.debug.as_mut() else {
            return;
        };
        let i = d.next.wrapping_sub(1);
        let (Some(&h), Some(&h2)) = (d.stack_types.height.get(i), d.stack_types.height.get(i + 1))
        else {
            d.stack.clear();
            return;
        };
        if !state.reachable() {
            // Nothing runs until a block's end or else: fixed up there.
            return;
        }
        let (h, h2) = (h as usize, h2 as usize);
        // A block's values arrive as the parameters of the block the
        // translation is now in.
        let joined = |d: &mut DebugHooks, base: usize, builder: &FunctionBuilder| {
            let k = h2.saturating_sub(base);
            d.stack.resize(base, None);
            let params = builder
                .current_block()
                .map(|b| builder.func.dfg.block_params(b))
                .unwrap_or(&[]);
            if params.len() == k {
                d.stack.extend(params.iter().map(|&v| Some(v)));
            } else {
                d.stack.resize(h2, None);
            }
        };
        match op {
            O::End | O::Else => {
                let base = d.stack_types.frame_base[i] as usize;
                joined(d, base, builder);
            }
            O::Loop { .. } => {
                let base = d
                    .stack_types
                    .frame_base
                    .get(i + 1)
                    .map_or(h2, |&b| b as usize);
                joined(d, base, builder);
            }
            _ if !d.was_reachable => d.stack.resize(h2, None),
            O::Block { .. } | O::Nop | O::LocalTee { .. } => {}
            O::LocalGet { local_index } => {
                let v = builder.use_var(cranelift_frontend::Variable::new(*local_index as usize));
                d.stack.resize(h, None);
                d.stack.push(Some(v));
            }
            _ => {
                let q = pushed.unwrap_or(usize::MAX);
                let Some(keep) = h2.checked_sub(q).filter(|&k| k <= h) else {
                    d.stack.clear();
                    d.stack.resize(h2, None);
                    return;
                };
                d.stack.resize(keep, None);
                if q == 0 {
                    return;
                }
                let expected = d
                    .stack_types
                    .before(i + 1)
                    .map(|t| &t[keep..])
                    .unwrap_or(&[]);
                let last = builder
                    .current_block()
                    .and_then(|b| builder.func.layout.last_inst(b))
                    .filter(|inst| inst.index() >= d.insts_before);
                let results = last.map_or(&[][..], |inst| builder.func.dfg.inst_results(inst));
                let matches = results.len() == q
                    && expected.len() == q
                    && results.iter().zip(expected).all(|(&v, t)| {
                        let ty = builder.func.dfg.value_type(v);
                        match t {
                            wasmparser::ValType::I32 => ty == types::I32,
                            wasmparser::ValType::I64 => ty == types::I64,
                            wasmparser::ValType::F32 => ty == types::F32,
                            wasmparser::ValType::F64 => ty == types::F64,
                            wasmparser::ValType::V128 => ty.is_vector() && ty.bits() == 128,
                            wasmparser::ValType::Ref(_) => ty == ptr,
                        }
                    });
                if matches {
                    d.stack.extend(results.iter().map(|&v| Some(v)));
                } else {
                    d.stack.resize(h2, None);
                }
            }
        }
    }

    /// How many values `op` pushes, for the operators `track_operand_stack`
    /// handles generally (not blocks, `local.get`/`local.tee`, or those
    /// after which nothing runs); `None` when unknown.
    fn results_pushed(&self, op: &wasmparser::Operator) -> Option<usize> {
        use wasmparser::Operator as O;
        Some(match op {
            O::Call { function_index } => self
                .module
                .func_type(FuncIndex::from_u32(*function_index))
                .returns()
                .len(),
            O::CallIndirect { type_index, .. } => {
                self.module.types.get(*type_index as usize)?.returns().len()
            }
            O::Nop
            | O::Drop
            | O::If { .. }
            | O::BrIf { .. }
            | O::LocalSet { .. }
            | O::GlobalSet { .. }
            | O::I32Store { .. }
            | O::I64Store { .. }
            | O::F32Store { .. }
            | O::F64Store { .. }
            | O::I32Store8 { .. }
            | O::I32Store16 { .. }
            | O::I64Store8 { .. }
            | O::I64Store16 { .. }
            | O::I64Store32 { .. }
            | O::V128Store { .. }
            | O::V128Store8Lane { .. }
            | O::V128Store16Lane { .. }
            | O::V128Store32Lane { .. }
            | O::V128Store64Lane { .. }
            | O::MemoryInit { .. }
            | O::DataDrop { .. }
            | O::MemoryCopy { .. }
            | O::MemoryFill { .. }
            | O::TableInit { .. }
            | O::ElemDrop { .. }
            | O::TableCopy { .. }
            | O::TableSet { .. }
            | O::TableFill { .. } => 0,
            O::CallRef { .. }
            | O::Unreachable
            | O::Br { .. }
            | O::BrTable { .. }
            | O::Return
            | O::ReturnCall { .. }
            | O::ReturnCallIndirect { .. }
            | O::ReturnCallRef { .. }
            | O::Try { .. }
            | O::Catch { .. }
            | O::Throw { .. }
            | O::Rethrow { .. }
            | O::Delegate { .. }
            | O::CatchAll
            | O::TryTable { .. }
            | O::ThrowRef
            | O::BrOnNull { .. }
            | O::BrOnNonNull { .. }
            | O::BrOnCast { .. }
            | O::BrOnCastFail { .. } => return None,
            // Every other supported operator yields one value.
            _ => 1,
        })
    }

    /// Stores a site's operand stack in the home slot from entry `first`
    /// on (a value the shadow stack lost is left out) and notes where.
    fn record_stack(
        &mut self,
        builder: &mut FunctionBuilder,
        slot: ir::StackSlot,
        offset: u32,
        first: usize,
        stack: Vec<(wasmparser::ValType, Option<ir::Value>)>,
    ) {
        let entries = self.store_stack(builder, slot, first, stack);
        let debug = self.debug.as_mut().expect("debug hooks are on");
        debug
            .stack_sites
            .push(crate::compile::StackSite { offset, entries });
    }

    /// Stores the known values of `stack` in the home slot from entry
    /// `first` on, grows the slot's need to hold them, and says where
    /// each one is (a site's record or a call's).
    fn store_stack(
        &mut self,
        builder: &mut FunctionBuilder,
        slot: ir::StackSlot,
        first: usize,
        stack: Vec<(wasmparser::ValType, Option<ir::Value>)>,
    ) -> Vec<crate::compile::StackEntry> {
        let ptr = self.ptr();
        let entries: Vec<_> = stack
            .into_iter()
            .enumerate()
            .map(|(d, (ty, v))| {
                if let Some(v) = v {
                    home_store(builder, ptr, slot, v, (16 * (first + d)) as i32);
                }
                crate::compile::StackEntry {
                    ty,
                    loc: v.map(|_| (first + d) as u32),
                }
            })
            .collect();
        let debug = self.debug.as_mut().expect("debug hooks are on");
        debug.max_entry = debug.max_entry.max(first + entries.len());
        entries
    }

    /// Keeps the home slot of a local current after `local.set`/`local.tee`.
    fn mirror_local(
        &mut self,
        op: &wasmparser::Operator,
        builder: &mut FunctionBuilder,
        state: &FuncTranslationState,
    ) {
        let ptr = self.ptr();
        if let Some(d) = self.debug.as_mut().filter(|d| d.live) {
            if let wasmparser::Operator::LocalSet { local_index }
            | wasmparser::Operator::LocalTee { local_index } = op
            {
                if !d.set_since_site.contains(local_index) {
                    d.set_since_site.push(*local_index);
                }
                if let (Some(k), Some(slot), true) = (
                    d.kept.iter().position(|l| l == local_index),
                    d.slot,
                    state.reachable(),
                ) {
                    let v =
                        builder.use_var(cranelift_frontend::Variable::new(*local_index as usize));
                    home_store(builder, ptr, slot, v, kept_slot_offset(k) as i32);
                }
            }
            return;
        }
        let Some(slot) = self.debug.as_ref().and_then(|d| d.slot) else {
            return;
        };
        let (wasmparser::Operator::LocalSet { local_index }
        | wasmparser::Operator::LocalTee { local_index }) = op
        else {
            return;
        };
        if !state.reachable() {
            return;
        }
        let v = builder.use_var(cranelift_frontend::Variable::new(*local_index as usize));
        home_store(builder, ptr, slot, v, (16 * *local_index) as i32);
    }

    /// Sets the function about to be translated.
    pub fn set_function(&mut self, func: FuncIndex) {
        self.func_type = Some(self.module.functions[func.index()]);
        self.func_index = Some(func);
    }

    fn table_is_extern(&self, table: TableIndex) -> bool {
        self.module.tables[table.index()].wasm_ty.heap_type.top() == WasmHeapTopType::Extern
    }

    fn global_is_extern(&self, global: GlobalIndex) -> bool {
        is_externref(&self.module.globals[global.index()].wasm_ty)
    }

    /// Address of a global's storage.
    fn global_addr(&mut self, pos: &mut FuncCursor, global: GlobalIndex) -> ir::Value {
        self.load_vmctx_ptr(pos, self.offsets.global_ptr(global.as_u32()))
    }

    /// `v` (an externref read from a table or global) enters wasm frames:
    /// take a count for it and record it in the activations table, running
    /// a collection first if the table is full. See `runtime::activations`.
    fn activate_externref(&mut self, builder: &mut FunctionBuilder, v: ir::Value) {
        let ptr = self.ptr();
        let flags = MemFlags::trusted();
        let counted = builder.create_block();
        let full = builder.create_block();
        let store = builder.create_block();
        let done = builder.create_block();
        builder.ins().brif(v, counted, &[], done, &[]);

        builder.switch_to_block(counted);
        builder.seal_block(counted);
        self.adjust_count(builder, v, 1);
        let table = self.activations_table(builder);
        let next = builder
            .ins()
            .load(ptr, flags, table, vmoffsets::activations::NEXT as i32);
        let end = builder
            .ins()
            .load(ptr, flags, table, vmoffsets::activations::END as i32);
        let is_full = builder.ins().icmp(IntCC::Equal, next, end);
        builder.ins().brif(is_full, full, &[], store, &[]);

        builder.switch_to_block(full);
        builder.seal_block(full);
        builder.set_cold_block(full);
        let mut pos = builder.cursor();
        self.call_builtin(&mut pos, builtin::ACTIVATIONS_GC, &[]);
        builder.ins().jump(store, &[]);

        builder.switch_to_block(store);
        builder.seal_block(store);
        let table = self.activations_table(builder);
        let next = builder
            .ins()
            .load(ptr, flags, table, vmoffsets::activations::NEXT as i32);
        builder.ins().store(flags, v, next, 0);
        let bumped = builder.ins().iadd_imm(next, i64::from(vmoffsets::PTR));
        builder
            .ins()
            .store(flags, bumped, table, vmoffsets::activations::NEXT as i32);
        builder.ins().jump(done, &[]);

        builder.switch_to_block(done);
        builder.seal_block(done);
        builder.declare_value_needs_stack_map(v);
    }

    fn activations_table(&mut self, builder: &mut FunctionBuilder) -> ir::Value {
        let mut pos = builder.cursor();
        let limits = self.load_vmctx_ptr(&mut pos, vmoffsets::vmctx::RUNTIME_LIMITS);
        let ptr = self.ptr();
        builder.ins().load(
            ptr,
            MemFlags::trusted().with_readonly(),
            limits,
            vmoffsets::limits::ACTIVATIONS as i32,
        )
    }

    /// Adds `delta` to the count of the (non-null) externref `v`.
    fn adjust_count(
        &mut self,
        builder: &mut FunctionBuilder,
        v: ir::Value,
        delta: i64,
    ) -> ir::Value {
        let ptr = self.ptr();
        let flags = MemFlags::trusted();
        let off = vmoffsets::externref::REF_COUNT as i32;
        let count = builder.ins().load(ptr, flags, v, off);
        let count = builder.ins().iadd_imm(count, delta);
        builder.ins().store(flags, count, v, off);
        count
    }

    /// Stores externref `new` at `addr`, counting it, and releases the
    /// reference it replaces (freeing the block when that was the last).
    fn replace_externref(
        &mut self,
        builder: &mut FunctionBuilder,
        addr: ir::Value,
        new: ir::Value,
    ) {
        let ptr = self.ptr();
        let flags = MemFlags::trusted();
        let inc = builder.create_block();
        let swap = builder.create_block();
        let dec = builder.create_block();
        let free = builder.create_block();
        let done = builder.create_block();
        builder.ins().brif(new, inc, &[], swap, &[]);

        builder.switch_to_block(inc);
        builder.seal_block(inc);
        self.adjust_count(builder, new, 1);
        builder.ins().jump(swap, &[]);

        builder.switch_to_block(swap);
        builder.seal_block(swap);
        let old = builder.ins().load(ptr, flags, addr, 0);
        builder.ins().store(flags, new, addr, 0);
        builder.ins().brif(old, dec, &[], done, &[]);

        builder.switch_to_block(dec);
        builder.seal_block(dec);
        let count = self.adjust_count(builder, old, -1);
        builder.ins().brif(count, done, &[], free, &[]);

        builder.switch_to_block(free);
        builder.seal_block(free);
        builder.set_cold_block(free);
        let mut pos = builder.cursor();
        self.call_builtin(&mut pos, builtin::DROP_EXTERNREF, &[old]);
        builder.ins().jump(done, &[]);

        builder.switch_to_block(done);
        builder.seal_block(done);
    }

    fn ptr(&self) -> Type {
        self.isa.pointer_type()
    }

    fn vmctx_gv(&mut self, func: &mut Function) -> ir::GlobalValue {
        *self
            .vmctx
            .get_or_insert_with(|| func.create_global_value(ir::GlobalValueData::VMContext))
    }

    fn vmctx_val(&mut self, pos: &mut FuncCursor) -> ir::Value {
        pos.func
            .special_param(ArgumentPurpose::VMContext)
            .expect("wasm functions take a vmctx parameter")
    }

    /// A `readonly` load of a pointer stored at `vmctx + offset`.
    fn vmctx_load_gv(&mut self, func: &mut Function, offset: u32) -> ir::GlobalValue {
        let vmctx = self.vmctx_gv(func);
        func.create_global_value(ir::GlobalValueData::Load {
            base: vmctx,
            offset: (offset as i32).into(),
            global_type: self.isa.pointer_type(),
            flags: MemFlags::trusted().with_readonly(),
        })
    }

    /// Loads the pointer at `vmctx + offset` (a definition pointer that never
    /// changes for the life of the instance).
    fn load_vmctx_ptr(&mut self, pos: &mut FuncCursor, offset: u32) -> ir::Value {
        let vmctx = self.vmctx_val(pos);
        let ptr = self.ptr();
        pos.ins().load(
            ptr,
            MemFlags::trusted().with_readonly(),
            vmctx,
            offset as i32,
        )
    }

    fn builtin_signature(&self, index: u32) -> Signature {
        use types::I32;
        let ptr = self.ptr();
        let (params, returns): (&[Type], &[Type]) = match index {
            // (vmctx, memory, delta) -> old pages or -1
            builtin::MEMORY_GROW => (&[I32, I32], &[I32]),
            // (vmctx, dst_mem, dst, src_mem, src, len) -> ok
            builtin::MEMORY_COPY => (&[I32, I32, I32, I32, I32], &[I32]),
            // (vmctx, mem, dst, val, len) -> ok
            builtin::MEMORY_FILL => (&[I32, I32, I32, I32], &[I32]),
            // (vmctx, mem, seg, dst, src, len) -> ok
            builtin::MEMORY_INIT => (&[I32, I32, I32, I32, I32], &[I32]),
            // (vmctx, seg)
            builtin::DATA_DROP | builtin::ELEM_DROP => (&[I32], &[]),
            // (vmctx, table, delta, init) -> old size or -1
            builtin::TABLE_GROW => (&[I32, I32, types::I64], &[I32]),
            // (vmctx, table, dst, val, len) -> ok
            builtin::TABLE_FILL => (&[I32, I32, types::I64, I32], &[I32]),
            // (vmctx, dst_table, src_table, dst, src, len) -> ok
            builtin::TABLE_COPY => (&[I32, I32, I32, I32, I32], &[I32]),
            // (vmctx, table, seg, dst, src, len) -> ok
            builtin::TABLE_INIT => (&[I32, I32, I32, I32, I32], &[I32]),
            // (vmctx, externref whose count reached zero)
            builtin::DROP_EXTERNREF => (&[types::I64], &[]),
            // (vmctx)
            builtin::ACTIVATIONS_GC => (&[], &[]),
            // (vmctx, func, offset, slots, num_locals, writable, fp)
            builtin::DEBUG_HOOK => (&[I32, I32, ptr, I32, I32, ptr], &[]),
            _ => unreachable!("unknown builtin {index}"),
        };
        let mut sig = Signature::new(CallConv::triple_default(self.isa.triple()));
        sig.params.push(AbiParam::new(ptr));
        sig.params.extend(params.iter().map(|t| AbiParam::new(*t)));
        sig.returns
            .extend(returns.iter().map(|t| AbiParam::new(*t)));
        sig
    }

    /// Calls builtin `index` with `vmctx` prepended to `args`.
    fn call_builtin(&mut self, pos: &mut FuncCursor, index: u32, args: &[ir::Value]) -> ir::Inst {
        let sig = match self.builtin_sigs[index as usize] {
            Some(sig) => sig,
            None => {
                let sig = pos.func.import_signature(self.builtin_signature(index));
                self.builtin_sigs[index as usize] = Some(sig);
                sig
            }
        };
        let vmctx = self.vmctx_val(pos);
        let ptr = self.ptr();
        let table = pos.ins().load(
            ptr,
            MemFlags::trusted().with_readonly(),
            vmctx,
            vmoffsets::vmctx::BUILTINS as i32,
        );
        let callee = pos.ins().load(
            ptr,
            MemFlags::trusted().with_readonly(),
            table,
            (index * vmoffsets::PTR) as i32,
        );
        let mut all = vec![vmctx];
        all.extend_from_slice(args);
        pos.ins().call_indirect(sig, callee, &all)
    }

    /// Calls a builtin that returns 0 on failure and traps with `code` then.
    fn call_checked_builtin(
        &mut self,
        pos: &mut FuncCursor,
        index: u32,
        args: &[ir::Value],
        code: TrapCode,
    ) {
        let call = self.call_builtin(pos, index, args);
        let ok = pos.func.dfg.first_result(call);
        pos.ins().trapz(ok, code);
    }

    fn i32_const(pos: &mut FuncCursor, v: u32) -> ir::Value {
        pos.ins().iconst(types::I32, i64::from(v))
    }

    /// Computes the address of table element `index`, trapping when out of
    /// bounds.
    fn table_element_addr(
        &mut self,
        pos: &mut FuncCursor,
        table: TableIndex,
        index: ir::Value,
    ) -> ir::Value {
        let def = self.load_vmctx_ptr(pos, self.offsets.table_ptr(table.as_u32()));
        let len = pos.ins().load(
            types::I32,
            MemFlags::trusted(),
            def,
            vmoffsets::table::CURRENT_ELEMENTS as i32,
        );
        let oob = pos
            .ins()
            .icmp(IntCC::UnsignedGreaterThanOrEqual, index, len);
        pos.ins().trapnz(oob, TrapCode::TableOutOfBounds);
        let ptr = self.ptr();
        let base = pos
            .ins()
            .load(ptr, MemFlags::trusted(), def, vmoffsets::table::BASE as i32);
        let index = pos.ins().uextend(ptr, index);
        let scaled = pos
            .ins()
            .imul_imm(index, vmoffsets::table::ELEMENT_SIZE as i64);
        pos.ins().iadd(base, scaled)
    }

    fn sig_id(&self, ty: TypeIndex) -> u32 {
        self.sig_ids[ty.index()]
    }
}

impl TypeConvert for FuncEnv<'_> {
    fn lookup_heap_type(&self, index: wasmparser::UnpackedIndex) -> WasmHeapType {
        WasmHeapType::ConcreteFunc(self.lookup_type_index(index))
    }

    fn lookup_type_index(&self, index: wasmparser::UnpackedIndex) -> EngineOrModuleTypeIndex {
        let i = match index {
            wasmparser::UnpackedIndex::Module(i) => i,
            _ => 0,
        };
        EngineOrModuleTypeIndex::Module(ModuleInternedTypeIndex::from_u32(i))
    }
}

impl TargetEnvironment for FuncEnv<'_> {
    fn target_config(&self) -> TargetFrontendConfig {
        self.isa.frontend_config()
    }

    fn heap_access_spectre_mitigation(&self) -> bool {
        false
    }

    fn proof_carrying_code(&self) -> bool {
        false
    }

    fn reference_type(&self, ty: WasmHeapType) -> (Type, bool) {
        // Externrefs are counted lazily and must appear in stack maps;
        // funcrefs point into vmctx blocks that live as long as the store.
        (self.isa.pointer_type(), ty.top() == WasmHeapTopType::Extern)
    }
}

fn unsupported<T>(what: &str) -> WasmResult<T> {
    Err(WasmError::Unsupported(what.to_string()))
}

/// The number of leading native parameters that are not wasm parameters.
pub const HIDDEN_PARAMS: usize = 2;

impl FuncEnvironment for FuncEnv<'_> {
    fn is_wasm_parameter(&self, _signature: &Signature, index: usize) -> bool {
        index >= HIDDEN_PARAMS
    }

    fn param_needs_stack_map(&self, _signature: &Signature, index: usize) -> bool {
        let Some(ty) = self.func_type else {
            return false;
        };
        index >= HIDDEN_PARAMS
            && self.module.types[ty.index()]
                .params()
                .get(index - HIDDEN_PARAMS)
                .is_some_and(is_externref)
    }

    fn sig_ref_result_needs_stack_map(&self, sig_ref: ir::SigRef, index: usize) -> bool {
        self.sig_types
            .get(&sig_ref)
            .and_then(|t| t.returns().get(index))
            .is_some_and(is_externref)
    }

    fn func_ref_result_needs_stack_map(
        &self,
        _func: &Function,
        func_ref: ir::FuncRef,
        index: usize,
    ) -> bool {
        self.callee_types
            .get(&func_ref)
            .and_then(|t| t.returns().get(index))
            .is_some_and(is_externref)
    }

    fn after_translate_operator(
        &mut self,
        op: &wasmparser::Operator,
        builder: &mut FunctionBuilder,
        state: &FuncTranslationState,
    ) -> WasmResult<()> {
        self.track_operand_stack(op, builder, state);
        self.mirror_local(op, builder, state);
        // A typed `select` of externrefs makes a new SSA value: it must be in
        // stack maps like any other reference held by the frame.
        let wasmparser::Operator::TypedSelect {
            ty: wasmparser::ValType::Ref(r),
        } = op
        else {
            return Ok(());
        };
        if !r.is_extern_ref() || !state.reachable() {
            return Ok(());
        }
        let last = builder
            .current_block()
            .and_then(|block| builder.func.layout.last_inst(block));
        if let Some(&v) = last.and_then(|inst| builder.func.dfg.inst_results(inst).first()) {
            builder.declare_value_needs_stack_map(v);
        }
        Ok(())
    }

    fn before_translate_function(
        &mut self,
        builder: &mut FunctionBuilder,
        _state: &FuncTranslationState,
    ) -> WasmResult<()> {
        // Stack overflow is a prologue check against the store's limit, so
        // the host stack survives runaway recursion.
        let limits = self.vmctx_load_gv(builder.func, vmoffsets::vmctx::RUNTIME_LIMITS);
        let limit = builder.func.create_global_value(ir::GlobalValueData::Load {
            base: limits,
            offset: (vmoffsets::limits::STACK_LIMIT as i32).into(),
            global_type: self.ptr(),
            flags: MemFlags::trusted(),
        });
        builder.func.stack_limit = Some(limit);
        if let Some(d) = self.debug.as_ref() {
            if d.live {
                // cranelift-wasm labels locals at `local.set`/`local.tee`
                // and declared locals at entry; parameters too, here.
                let params = self.module.types[self.func_type.expect("set").index()]
                    .params()
                    .len();
                for i in 0..params {
                    let v = builder.use_var(cranelift_frontend::Variable::new(i));
                    builder.set_val_label(v, ir::ValueLabel::from_u32(i as u32));
                }
            }
            let live = d.live;
            let num_locals = if live { 0 } else { d.local_is_ref.len() };
            let kept = d.kept.clone();
            let ptr = self.ptr();
            let gv = self.vmctx_load_gv(builder.func, vmoffsets::vmctx::RUNTIME_LIMITS);
            let limits = builder.ins().global_value(ptr, gv);
            // One 16-byte entry per local, then the vmctx: a trap stop
            // finds its instance through the faulting frame (see
            // `runtime::debug::trap_stop`).
            // Live code: the vmctx, then the kept locals.
            let slot = builder.create_sized_stack_slot(ir::StackSlotData::new(
                ir::StackSlotKind::ExplicitSlot,
                16 * ((num_locals + kept.len()) as u32 + 1),
                4,
            ));
            for (k, &local) in kept.iter().enumerate() {
                let v = builder.use_var(cranelift_frontend::Variable::new(local as usize));
                home_store(builder, ptr, slot, v, kept_slot_offset(k) as i32);
            }
            let mut local_types = Vec::with_capacity(num_locals);
            for i in 0..num_locals {
                let v = builder.use_var(cranelift_frontend::Variable::new(i));
                local_types.push(builder.func.dfg.value_type(v));
                home_store(builder, ptr, slot, v, (16 * i) as i32);
            }
            let vmctx = builder
                .func
                .special_param(ir::ArgumentPurpose::VMContext)
                .expect("wasm functions take a vmctx");
            home_store(builder, ptr, slot, vmctx, (16 * num_locals) as i32);
            if live {
                let none = builder.ins().iconst(types::I32, 0);
                home_store(builder, ptr, slot, none, LIVE_STACK_RECORDED);
            }
            if let Some(d) = self.debug.as_mut() {
                d.limits = Some(limits);
                d.slot = Some(slot);
                d.local_types = local_types;
            }
        }
        Ok(())
    }

    fn before_translate_operator(
        &mut self,
        op: &wasmparser::Operator,
        builder: &mut FunctionBuilder,
        state: &FuncTranslationState,
    ) -> WasmResult<()> {
        self.emit_debug_hook(builder, state);
        self.record_call_stack(op, builder, state);
        if let Some(d) = self.debug.as_mut() {
            d.insts_before = builder.func.dfg.num_insts();
            d.was_reachable = state.reachable();
            use wasmparser::Operator as O;
            d.force_next = d.forced
                && matches!(
                    op,
                    O::Loop { .. } | O::Call { .. } | O::CallIndirect { .. } | O::CallRef { .. }
                );
        }
        Ok(())
    }

    fn make_global(
        &mut self,
        func: &mut Function,
        index: GlobalIndex,
    ) -> WasmResult<GlobalVariable> {
        if self.global_is_extern(index) {
            return Ok(GlobalVariable::Custom);
        }
        let gv = self.vmctx_load_gv(func, self.offsets.global_ptr(index.as_u32()));
        let ty = value_type(self.isa, &self.module.globals[index.index()].wasm_ty);
        Ok(GlobalVariable::Memory {
            gv,
            offset: 0.into(),
            ty,
        })
    }

    fn heaps(&self) -> &PrimaryMap<Heap, HeapData> {
        &self.heaps
    }

    fn make_heap(&mut self, func: &mut Function, index: MemoryIndex) -> WasmResult<Heap> {
        let def = self.vmctx_load_gv(func, self.offsets.memory_ptr(index.as_u32()));
        // The base never moves: the whole reservation is mapped up front.
        let base = func.create_global_value(ir::GlobalValueData::Load {
            base: def,
            offset: (vmoffsets::memory::BASE as i32).into(),
            global_type: self.ptr(),
            flags: MemFlags::trusted().with_readonly(),
        });
        let memory = &self.module.memories[index.index()];
        Ok(self.heaps.push(HeapData {
            base,
            min_size: memory.minimum << 16,
            max_size: memory.maximum.map(|m| m << 16),
            offset_guard_size: MEMORY_GUARD,
            style: HeapStyle::Static {
                bound: MEMORY_RESERVATION,
            },
            index_type: types::I32,
            memory_type: None,
            page_size_log2: 16,
        }))
    }

    fn make_indirect_sig(
        &mut self,
        func: &mut Function,
        index: TypeIndex,
    ) -> WasmResult<ir::SigRef> {
        let ty = &self.module.types[index.index()];
        let sig = func.import_signature(wasm_signature(self.isa, ty));
        self.sig_types.insert(sig, ty.clone());
        Ok(sig)
    }

    fn make_direct_func(
        &mut self,
        func: &mut Function,
        index: FuncIndex,
    ) -> WasmResult<ir::FuncRef> {
        let ty = self.module.func_type(index);
        let signature = func.import_signature(wasm_signature(self.isa, ty));
        self.sig_types.insert(signature, ty.clone());
        let name = ir::ExternalName::User(func.declare_imported_user_function(
            ir::UserExternalName::new(namespace::WASM_FUNC, index.as_u32()),
        ));
        let fref = func.import_function(ir::ExtFuncData {
            name,
            signature,
            // All defined functions of a module share one code region, so a
            // PC-relative call reaches them. Imported ones are never called
            // through this reference (see `translate_call`).
            colocated: true,
        });
        self.callee_types.insert(fref, ty.clone());
        Ok(fref)
    }

    fn translate_call(
        &mut self,
        builder: &mut FunctionBuilder,
        callee_index: FuncIndex,
        callee: ir::FuncRef,
        call_args: &[ir::Value],
    ) -> WasmResult<ir::Inst> {
        let mut pos = builder.cursor();
        let vmctx = self.vmctx_val(&mut pos);
        if !self.module.is_imported_func(callee_index) {
            let mut args = vec![vmctx, vmctx];
            args.extend_from_slice(call_args);
            return Ok(builder.ins().call(callee, &args));
        }
        // Imports go through the instance's funcref slot, filled at link time.
        let offset = self.offsets.funcref(callee_index.as_u32()) as i32;
        let ptr = self.ptr();
        let flags = MemFlags::trusted().with_readonly();
        let code = pos.ins().load(
            ptr,
            flags,
            vmctx,
            offset + vmoffsets::funcref::WASM_CALL as i32,
        );
        let callee_vmctx =
            pos.ins()
                .load(ptr, flags, vmctx, offset + vmoffsets::funcref::VMCTX as i32);
        let sig = pos.func.dfg.ext_funcs[callee].signature;
        let mut args = vec![callee_vmctx, vmctx];
        args.extend_from_slice(call_args);
        Ok(builder.ins().call_indirect(sig, code, &args))
    }

    fn translate_call_indirect(
        &mut self,
        builder: &mut FunctionBuilder,
        table_index: TableIndex,
        sig_index: TypeIndex,
        sig_ref: ir::SigRef,
        callee: ir::Value,
        call_args: &[ir::Value],
    ) -> WasmResult<Option<ir::Inst>> {
        let mut pos = builder.cursor();
        let addr = self.table_element_addr(&mut pos, table_index, callee);
        let ptr = self.ptr();
        let funcref = pos.ins().load(ptr, MemFlags::trusted(), addr, 0);
        pos.ins().trapz(funcref, TrapCode::IndirectCallToNull);
        let flags = MemFlags::trusted().with_readonly();
        let actual = pos.ins().load(
            types::I32,
            flags,
            funcref,
            vmoffsets::funcref::TYPE_INDEX as i32,
        );
        let expected = self.sig_id(sig_index);
        let mismatch = pos
            .ins()
            .icmp_imm(IntCC::NotEqual, actual, i64::from(expected));
        pos.ins().trapnz(mismatch, TrapCode::BadSignature);
        let code = pos
            .ins()
            .load(ptr, flags, funcref, vmoffsets::funcref::WASM_CALL as i32);
        let callee_vmctx = pos
            .ins()
            .load(ptr, flags, funcref, vmoffsets::funcref::VMCTX as i32);
        let caller_vmctx = self.vmctx_val(&mut pos);
        let mut args = vec![callee_vmctx, caller_vmctx];
        args.extend_from_slice(call_args);
        Ok(Some(builder.ins().call_indirect(sig_ref, code, &args)))
    }

    fn translate_return_call_indirect(
        &mut self,
        _builder: &mut FunctionBuilder,
        _table_index: TableIndex,
        _sig_index: TypeIndex,
        _sig_ref: ir::SigRef,
        _callee: ir::Value,
        _call_args: &[ir::Value],
    ) -> WasmResult<()> {
        unsupported("tail calls")
    }

    fn translate_return_call_ref(
        &mut self,
        _builder: &mut FunctionBuilder,
        _sig_ref: ir::SigRef,
        _callee: ir::Value,
        _call_args: &[ir::Value],
    ) -> WasmResult<()> {
        unsupported("tail calls")
    }

    fn translate_return_call(
        &mut self,
        _builder: &mut FunctionBuilder,
        _callee_index: FuncIndex,
        _callee: ir::FuncRef,
        _call_args: &[ir::Value],
    ) -> WasmResult<()> {
        unsupported("tail calls")
    }

    fn translate_call_ref(
        &mut self,
        _builder: &mut FunctionBuilder,
        _sig_ref: ir::SigRef,
        _callee: ir::Value,
        _call_args: &[ir::Value],
    ) -> WasmResult<ir::Inst> {
        unsupported("typed function references")
    }

    fn translate_memory_grow(
        &mut self,
        mut pos: FuncCursor,
        index: MemoryIndex,
        _heap: Heap,
        val: ir::Value,
    ) -> WasmResult<ir::Value> {
        let mem = Self::i32_const(&mut pos, index.as_u32());
        let call = self.call_builtin(&mut pos, builtin::MEMORY_GROW, &[mem, val]);
        Ok(pos.func.dfg.first_result(call))
    }

    fn translate_memory_size(
        &mut self,
        mut pos: FuncCursor,
        index: MemoryIndex,
        _heap: Heap,
    ) -> WasmResult<ir::Value> {
        let def = self.load_vmctx_ptr(&mut pos, self.offsets.memory_ptr(index.as_u32()));
        let ptr = self.ptr();
        let bytes = pos.ins().load(
            ptr,
            MemFlags::trusted(),
            def,
            vmoffsets::memory::CURRENT_LENGTH as i32,
        );
        let pages = pos.ins().ushr_imm(bytes, 16);
        Ok(pos.ins().ireduce(types::I32, pages))
    }

    fn translate_memory_copy(
        &mut self,
        mut pos: FuncCursor,
        src_index: MemoryIndex,
        _src_heap: Heap,
        dst_index: MemoryIndex,
        _dst_heap: Heap,
        dst: ir::Value,
        src: ir::Value,
        len: ir::Value,
    ) -> WasmResult<()> {
        let dst_mem = Self::i32_const(&mut pos, dst_index.as_u32());
        let src_mem = Self::i32_const(&mut pos, src_index.as_u32());
        self.call_checked_builtin(
            &mut pos,
            builtin::MEMORY_COPY,
            &[dst_mem, dst, src_mem, src, len],
            TrapCode::HeapOutOfBounds,
        );
        Ok(())
    }

    fn translate_memory_fill(
        &mut self,
        mut pos: FuncCursor,
        index: MemoryIndex,
        _heap: Heap,
        dst: ir::Value,
        val: ir::Value,
        len: ir::Value,
    ) -> WasmResult<()> {
        let mem = Self::i32_const(&mut pos, index.as_u32());
        self.call_checked_builtin(
            &mut pos,
            builtin::MEMORY_FILL,
            &[mem, dst, val, len],
            TrapCode::HeapOutOfBounds,
        );
        Ok(())
    }

    fn translate_memory_init(
        &mut self,
        mut pos: FuncCursor,
        index: MemoryIndex,
        _heap: Heap,
        seg_index: u32,
        dst: ir::Value,
        src: ir::Value,
        len: ir::Value,
    ) -> WasmResult<()> {
        let mem = Self::i32_const(&mut pos, index.as_u32());
        let seg = Self::i32_const(&mut pos, seg_index);
        self.call_checked_builtin(
            &mut pos,
            builtin::MEMORY_INIT,
            &[mem, seg, dst, src, len],
            TrapCode::HeapOutOfBounds,
        );
        Ok(())
    }

    fn translate_data_drop(&mut self, mut pos: FuncCursor, seg_index: u32) -> WasmResult<()> {
        let seg = Self::i32_const(&mut pos, seg_index);
        self.call_builtin(&mut pos, builtin::DATA_DROP, &[seg]);
        Ok(())
    }

    fn translate_table_size(
        &mut self,
        mut pos: FuncCursor,
        index: TableIndex,
    ) -> WasmResult<ir::Value> {
        let def = self.load_vmctx_ptr(&mut pos, self.offsets.table_ptr(index.as_u32()));
        Ok(pos.ins().load(
            types::I32,
            MemFlags::trusted(),
            def,
            vmoffsets::table::CURRENT_ELEMENTS as i32,
        ))
    }

    fn translate_table_grow(
        &mut self,
        mut pos: FuncCursor,
        table_index: TableIndex,
        delta: ir::Value,
        init_value: ir::Value,
    ) -> WasmResult<ir::Value> {
        let table = Self::i32_const(&mut pos, table_index.as_u32());
        let call = self.call_builtin(&mut pos, builtin::TABLE_GROW, &[table, delta, init_value]);
        Ok(pos.func.dfg.first_result(call))
    }

    fn translate_table_get(
        &mut self,
        builder: &mut FunctionBuilder,
        table_index: TableIndex,
        index: ir::Value,
    ) -> WasmResult<ir::Value> {
        let mut pos = builder.cursor();
        let addr = self.table_element_addr(&mut pos, table_index, index);
        let ptr = self.ptr();
        let v = pos.ins().load(ptr, MemFlags::trusted(), addr, 0);
        if self.table_is_extern(table_index) {
            self.activate_externref(builder, v);
        }
        Ok(v)
    }

    fn translate_table_set(
        &mut self,
        builder: &mut FunctionBuilder,
        table_index: TableIndex,
        value: ir::Value,
        index: ir::Value,
    ) -> WasmResult<()> {
        let mut pos = builder.cursor();
        let addr = self.table_element_addr(&mut pos, table_index, index);
        if self.table_is_extern(table_index) {
            self.replace_externref(builder, addr, value);
        } else {
            pos.ins().store(MemFlags::trusted(), value, addr, 0);
        }
        Ok(())
    }

    fn translate_table_copy(
        &mut self,
        mut pos: FuncCursor,
        dst_table_index: TableIndex,
        src_table_index: TableIndex,
        dst: ir::Value,
        src: ir::Value,
        len: ir::Value,
    ) -> WasmResult<()> {
        let dst_table = Self::i32_const(&mut pos, dst_table_index.as_u32());
        let src_table = Self::i32_const(&mut pos, src_table_index.as_u32());
        self.call_checked_builtin(
            &mut pos,
            builtin::TABLE_COPY,
            &[dst_table, src_table, dst, src, len],
            TrapCode::TableOutOfBounds,
        );
        Ok(())
    }

    fn translate_table_fill(
        &mut self,
        mut pos: FuncCursor,
        table_index: TableIndex,
        dst: ir::Value,
        val: ir::Value,
        len: ir::Value,
    ) -> WasmResult<()> {
        let table = Self::i32_const(&mut pos, table_index.as_u32());
        self.call_checked_builtin(
            &mut pos,
            builtin::TABLE_FILL,
            &[table, dst, val, len],
            TrapCode::TableOutOfBounds,
        );
        Ok(())
    }

    fn translate_table_init(
        &mut self,
        mut pos: FuncCursor,
        seg_index: u32,
        table_index: TableIndex,
        dst: ir::Value,
        src: ir::Value,
        len: ir::Value,
    ) -> WasmResult<()> {
        let table = Self::i32_const(&mut pos, table_index.as_u32());
        let seg = Self::i32_const(&mut pos, seg_index);
        self.call_checked_builtin(
            &mut pos,
            builtin::TABLE_INIT,
            &[table, seg, dst, src, len],
            TrapCode::TableOutOfBounds,
        );
        Ok(())
    }

    fn translate_elem_drop(&mut self, mut pos: FuncCursor, seg_index: u32) -> WasmResult<()> {
        let seg = Self::i32_const(&mut pos, seg_index);
        self.call_builtin(&mut pos, builtin::ELEM_DROP, &[seg]);
        Ok(())
    }

    fn translate_ref_null(
        &mut self,
        mut pos: FuncCursor,
        _ty: WasmHeapType,
    ) -> WasmResult<ir::Value> {
        let ptr = self.ptr();
        Ok(pos.ins().iconst(ptr, 0))
    }

    fn translate_ref_is_null(
        &mut self,
        mut pos: FuncCursor,
        value: ir::Value,
    ) -> WasmResult<ir::Value> {
        let is_null = pos.ins().icmp_imm(IntCC::Equal, value, 0);
        Ok(pos.ins().uextend(types::I32, is_null))
    }

    fn translate_ref_func(
        &mut self,
        mut pos: FuncCursor,
        func_index: FuncIndex,
    ) -> WasmResult<ir::Value> {
        let vmctx = self.vmctx_val(&mut pos);
        let offset = self.offsets.funcref(func_index.as_u32());
        Ok(pos.ins().iadd_imm(vmctx, i64::from(offset)))
    }

    /// Externref globals (the only custom ones): reads activate the
    /// reference, writes count it.
    fn translate_custom_global_get(
        &mut self,
        builder: &mut FunctionBuilder,
        global_index: GlobalIndex,
    ) -> WasmResult<ir::Value> {
        let mut pos = builder.cursor();
        let addr = self.global_addr(&mut pos, global_index);
        let ptr = self.ptr();
        let v = builder.ins().load(ptr, MemFlags::trusted(), addr, 0);
        self.activate_externref(builder, v);
        Ok(v)
    }

    fn translate_custom_global_set(
        &mut self,
        builder: &mut FunctionBuilder,
        global_index: GlobalIndex,
        val: ir::Value,
    ) -> WasmResult<()> {
        let mut pos = builder.cursor();
        let addr = self.global_addr(&mut pos, global_index);
        self.replace_externref(builder, addr, val);
        Ok(())
    }

    fn translate_atomic_wait(
        &mut self,
        _pos: FuncCursor,
        _index: MemoryIndex,
        _heap: Heap,
        _addr: ir::Value,
        _expected: ir::Value,
        _timeout: ir::Value,
    ) -> WasmResult<ir::Value> {
        unsupported("threads")
    }

    fn translate_atomic_notify(
        &mut self,
        _pos: FuncCursor,
        _index: MemoryIndex,
        _heap: Heap,
        _addr: ir::Value,
        _count: ir::Value,
    ) -> WasmResult<ir::Value> {
        unsupported("threads")
    }

    fn translate_ref_i31(&mut self, _pos: FuncCursor, _val: ir::Value) -> WasmResult<ir::Value> {
        unsupported("gc")
    }

    fn translate_i31_get_s(
        &mut self,
        _pos: FuncCursor,
        _i31ref: ir::Value,
    ) -> WasmResult<ir::Value> {
        unsupported("gc")
    }

    fn translate_i31_get_u(
        &mut self,
        _pos: FuncCursor,
        _i31ref: ir::Value,
    ) -> WasmResult<ir::Value> {
        unsupported("gc")
    }

    fn is_x86(&self) -> bool {
        self.isa.triple().architecture == target_lexicon::Architecture::X86_64
    }
}
