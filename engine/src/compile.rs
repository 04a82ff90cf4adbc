//! Compilation of wasm functions and trampolines with Cranelift.
//!
//! Produces plain data ([`CompiledFunction`]): machine code, relocations,
//! trap sites, the wasm-offset map, unwind info and (in debug compiles)
//! value-label ranges. Placing code in memory is `code_memory`'s job.

use crate::func_env::{self, wasm_signature, FuncEnv};
use crate::module_env::{FunctionBodyInput, ModuleInfo};
use crate::trap::TrapCode;
use crate::vmoffsets::VMOffsets;
use cranelift_codegen::binemit::Reloc;
use cranelift_codegen::control::ControlPlane;
use cranelift_codegen::ir::{
    self, AbiParam, InstBuilder, MemFlags, Signature, StackSlotData, StackSlotKind, UserFuncName,
};
use cranelift_codegen::isa::{unwind::UnwindInfo, OwnedTargetIsa, TargetIsa};
use cranelift_codegen::settings::{self, Configurable};
use cranelift_codegen::{Context, FinalizedRelocTarget};
use cranelift_frontend::{FunctionBuilder, FunctionBuilderContext};
use cranelift_wasm::{FuncIndex, FuncTranslator, WasmFuncType};
use std::sync::Mutex;

/// Optimization and debug-info choices for one engine.
#[derive(Clone, Debug)]
pub struct CompileOptions {
    /// Compile for debuggers: no optimization (value-label ranges survive) and
    /// value-label ranges kept for every function (unless
    /// `debug_value_labels` is off).
    pub debug_info: bool,
    /// With `debug_info` or `DebugLocals::Live`: collect value-label ranges,
    /// where each wasm local lives in the native code, which is where a
    /// debug-hook stop reads the locals not kept in the home slot. A
    /// compile for native debuggers, which read only the kept locals' home
    /// slots, asks for none: collecting them was 19% of a 5 MB module's
    /// `run -g`.
    pub debug_value_labels: bool,
    /// Instrument every instruction with a check of the store's debug flag
    /// and a cold call into the host's debug handler (see
    /// `Store::set_debug_handler`). Independent of `debug_info`: code stays
    /// optimized, values are read where the hook spills them.
    pub debug_hooks: bool,
    /// With `debug_hooks`: the module offsets (sorted) that get a hook, for
    /// example where each source line starts; `None`: every instruction.
    /// Each function's first instruction, loop heads and the instruction
    /// after each call always get one (so entering a function, any loop
    /// and returning from a call can stop). Fewer sites: far less code, a
    /// faster compile and a faster run.
    pub debug_hook_sites: Option<std::sync::Arc<[u32]>>,
    /// With `debug_hooks`: whether function entries, loop heads and the
    /// instruction after each call get a hook besides `debug_hook_sites`.
    /// A compile for native debuggers (which stop by breakpoints of their
    /// own and only need `debug_keep_locals`) asks for none: each forced
    /// site keeps every local set since the last one alive up to it, which
    /// made a 5 MB module compile 4x slower.
    pub debug_forced_sites: bool,
    /// With `debug_hooks`: how a stop reads the frame's locals.
    pub debug_locals: DebugLocals,
    /// With `DebugLocals::Live`: locals kept in the frame's home slot all
    /// the same, as (a module offset within the function, local index),
    /// sorted. A stop reads them even where the optimized code no longer
    /// needs them; each `local.set` of one costs a store. Debuggers pass
    /// each function's DWARF frame base.
    pub debug_keep_locals: Option<std::sync::Arc<[(u32, u32)]>>,
    /// With `DebugLocals::Live`: the module offset ranges (start, end),
    /// sorted and disjoint, where the operand stack is recorded: a site
    /// in one branches to a cold block that stores its stack's values in
    /// the home slot when it stops (which can cost a caller's local its
    /// location). Debuggers pass where DWARF places a variable on the
    /// operand stack; `None`: at every site. `DebugLocals::Mirrored` code
    /// records it at every site (on the way to the hook).
    pub debug_stack_ranges: Option<std::sync::Arc<[(u32, u32)]>>,
    /// Number of threads used to compile a module's functions.
    pub parallelism: usize,
}

impl Default for CompileOptions {
    fn default() -> Self {
        CompileOptions {
            debug_info: false,
            debug_value_labels: true,
            debug_hooks: false,
            debug_hook_sites: None,
            debug_forced_sites: true,
            debug_locals: DebugLocals::Mirrored,
            debug_keep_locals: None,
            debug_stack_ranges: None,
            parallelism: std::thread::available_parallelism().map_or(1, |n| n.get()),
        }
    }
}

/// How code compiled with debug hooks keeps its locals for the debugger.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum DebugLocals {
    /// Every `local.set` also stores into the frame's home slots, so every
    /// local of every frame reads exactly; a hook site is a flag check and
    /// a cold call that reloads locals the debugger changed (functions with
    /// up to 16 locals). Costs 2-10x the plain run: for wasm-level
    /// debugging (`.wat`, modules without DWARF variables).
    #[default]
    Mirrored,
    /// Nothing is stored for the debugger: a hook site is a load of the
    /// flag and a conditional trap whose signal enters the debugger (which
    /// saves every register), and a local is read, or written, where the
    /// optimized code keeps it at the stop (Cranelift's value-label ranges;
    /// callers' registers through their saved callee-saved registers). A
    /// local whose value is dead there reads as unavailable; locals named
    /// in `CompileOptions::debug_keep_locals` are stored all the same and
    /// always read. 1.0-1.3x the plain run with sites where statements
    /// start. x86_64 only; elsewhere this acts as `Mirrored`.
    Live,
}

/// Where a live local is at a stop (see [`DebugLocals::Live`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ValueLoc {
    /// A general-purpose register, by hardware encoding.
    Gpr(u8),
    /// A vector register, by hardware encoding.
    Vec(u8),
    /// The stack, at this offset from the frame's CFA (caller's SP).
    Cfa(i32),
}

/// Where local `local` is while the PC (the end of the last completed
/// instruction) lies in `start..end`, relative to the function start.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LocalLoc {
    pub local: u32,
    pub start: u32,
    pub end: u32,
    pub loc: ValueLoc,
}

/// A `DebugLocals::Live` function's facts for the debugger.
#[derive(Clone, Debug, Default)]
pub struct LiveDebug {
    /// Sorted by (local, start).
    pub locals: Vec<LocalLoc>,
    /// Callee-saved registers the prologue saves: (hardware encoding,
    /// offset from the CFA).
    pub saved_regs: Vec<(u8, i32)>,
    /// Out-of-line traps: (trap offset, offset just past the jump to it),
    /// sorted; locals at such a trap are looked up past the jump.
    pub trap_jumps: Vec<(u32, u32)>,
    /// Hook sites: (the site's `int3`, the offset just past it, where the
    /// site resumes), sorted.
    pub site_jumps: Vec<(u32, u32)>,
    /// Locals also kept in the home slot, in slot order (see
    /// `kept_offset`, `CompileOptions::debug_keep_locals`).
    pub kept: Vec<u32>,
}

impl LiveDebug {
    /// Where kept local `local` is in the home slot, if it is kept.
    pub fn kept_offset(&self, local: u32) -> Option<usize> {
        let k = self.kept.iter().position(|&l| l == local)?;
        Some(func_env::kept_slot_offset(k))
    }

    /// Where `local` is when the last completed instruction ends at `off`.
    pub fn loc_of(&self, local: u32, off: u32) -> Option<ValueLoc> {
        let first = self.locals.partition_point(|l| l.local < local);
        self.locals[first..]
            .iter()
            .take_while(|l| l.local == local)
            .find(|l| l.start <= off && off < l.end)
            .map(|l| l.loc)
    }
}

/// What a relocation points at.
#[derive(Clone, Debug, PartialEq)]
pub enum RelocTarget {
    /// A defined function of the same module, by `FuncIndex`.
    WasmFunc(FuncIndex),
    /// A Cranelift libcall (floor, ceil, ... on hosts without SSE4.1).
    LibCall(ir::LibCall),
    /// A function of the host runtime (trampolines only).
    Host(HostFunc),
}

#[derive(Clone, Debug)]
pub struct Relocation {
    pub offset: u32,
    pub kind: Reloc,
    pub target: RelocTarget,
    pub addend: i64,
}

/// One entry of the sorted map from native code offsets to wasm offsets.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SrcLoc {
    /// Native code range, relative to the function start.
    pub start: u32,
    pub end: u32,
    /// Byte offset of the wasm instruction in the module binary.
    pub wasm_offset: u32,
}

/// The output of compiling one function.
pub struct CompiledFunction {
    pub code: Vec<u8>,
    pub relocs: Vec<Relocation>,
    /// Trap sites, sorted by native offset.
    pub traps: Vec<(u32, TrapCode)>,
    /// Sorted by `start`.
    pub srclocs: Vec<SrcLoc>,
    /// The function's `.eh_frame` records (a CIE and an FDE) with the
    /// FDE's start address 0, absolute and 8 bytes (`code_memory` adds the
    /// function's address); empty when Cranelift made no unwind info.
    pub unwind: Vec<u8>,
    /// Where each wasm local lives, by native code range, sorted by
    /// (local, start). Empty unless compiled with `debug_info` (or `Live`
    /// locals) and `debug_value_labels`.
    pub value_labels: Vec<LocalLoc>,
    /// Size of the fixed stack frame, in bytes.
    pub frame_size: u32,
    /// Live externrefs at each call: (return address offset, SP offsets).
    pub stack_maps: Vec<(u32, Vec<u32>)>,
    /// Debug-hook compiles: (frame pointer minus the locals' home slot
    /// address, number of locals).
    pub debug_locals: Option<(u32, u32)>,
    /// `DebugLocals::Live` compiles only.
    pub live: Option<LiveDebug>,
    /// `DebugLocals::Live` hook sites: the offset of each one's `int3`
    /// (`INT3`; published as `NOP` and patched by the store's site
    /// switches unless the site records its stack: see
    /// `patched_site_traps`), sorted; never in `traps`.
    pub site_traps: Vec<u32>,
    /// `DebugLocals::Live` sites that record their operand stack: (module
    /// offset, offset of the condition byte of the branch to the cold
    /// block that records it), sorted. The branch is never taken as
    /// compiled; the store's switch inverts the condition (`x ^ 1`).
    pub site_flips: Vec<(u32, u32)>,
    /// Debug-hook compiles: the operand stack at each hook site where it
    /// is not empty, sorted by module offset.
    pub stack_sites: Vec<StackSite>,
    /// `DebugLocals::Live` compiles: the operand stack below the
    /// arguments of each call that records it (in the stack ranges), by
    /// the call's module offset, sorted; an entry's `loc` is its entry in
    /// the home slot, as in `stack_sites`.
    pub call_stacks: Vec<StackSite>,
}

impl CompiledFunction {
    /// The live sites' `int3`s that the code memory publishes as `nop`s
    /// and the store's switches patch: all but those of sites that record
    /// their stack, whose `int3` ends the cold block their branch leads
    /// to (`site_flips`) and stays as compiled.
    pub fn patched_site_traps(&self) -> impl Iterator<Item = u32> + '_ {
        self.site_traps.iter().copied().filter(|&t| {
            self.wasm_offset_at(t)
                .is_none_or(|o| self.site_flips.binary_search_by_key(&o, |f| f.0).is_err())
        })
    }

    /// Whether a live site that records its operand stack lost its
    /// branch: `compile` did not find its condition byte, so nothing
    /// could switch it on and its `int3`, behind the branch, is never
    /// reached.
    fn lost_site(&self) -> bool {
        self.live.is_some()
            && self.stack_sites.iter().any(|s| {
                s.entries.iter().any(|e| e.loc.is_some())
                    && self
                        .site_flips
                        .binary_search_by_key(&s.offset, |f| f.0)
                        .is_err()
            })
    }

    /// The module offset of the code at `off` (from the function start).
    pub fn wasm_offset_at(&self, off: u32) -> Option<u32> {
        let i = self.srclocs.partition_point(|s| s.end <= off);
        self.srclocs
            .get(i)
            .filter(|s| s.start <= off)
            .map(|s| s.wasm_offset)
    }
}

/// The operand stack at one hook site (see `func_env`'s shadow stack).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StackSite {
    /// Module offset of the site's instruction.
    pub offset: u32,
    /// Bottom first: the wasm operand stack before that instruction.
    pub entries: Vec<StackEntry>,
}

/// One operand-stack value at a hook site.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StackEntry {
    pub ty: wasmparser::ValType,
    /// Its 16-byte entry in the function's home slot, where the site
    /// stores it on the way to a stop; `None`: not recorded (a value the
    /// translation could not follow).
    pub loc: Option<u32>,
}

/// A validator for the same function as `validator`, from its start (a
/// second pass over a body already validated once).
fn fresh_validator<T: wasmparser::WasmModuleResources>(
    validator: &wasmparser::FuncValidator<T>,
) -> wasmparser::FuncValidator<&T> {
    let resources = validator.resources();
    let index = validator.index();
    wasmparser::FuncToValidate {
        resources,
        index,
        ty: wasmparser::WasmModuleResources::type_index_of_function(resources, index)
            .expect("a validated function has a type"),
        features: crate::module_env::supported_features(),
    }
    .into_validator(Default::default())
}

/// The operand stack's height and types before each operator of a
/// function, and after its last, from a validation pass of its own: what
/// the translation's shadow stack follows (see `func_env`).
#[derive(Default)]
pub struct OperandTypes {
    /// Per operator, then one past the last: the stack's height.
    pub height: Vec<u32>,
    /// Per operator: the innermost control frame's base height.
    pub frame_base: Vec<u32>,
    /// Per operator: where its stack's types start in `types` (bottom
    /// first, `height` of them), or `u32::MAX` when the stack was too deep
    /// to record or held an unknown (unreachable) type.
    pub start: Vec<u32>,
    pub types: Vec<wasmparser::ValType>,
}

impl OperandTypes {
    /// Deeper stacks are not recorded (sites there show no stack).
    const MAX_RECORDED: u32 = 256;

    /// The pass over `body`, with the module's resources from `validator`.
    fn of(
        validator: &wasmparser::FuncValidator<impl wasmparser::WasmModuleResources>,
        body: &wasmparser::FunctionBody<'_>,
    ) -> Result<Self, wasmparser::BinaryReaderError> {
        let mut v = fresh_validator(validator);
        v.read_locals(&mut body.get_binary_reader())?;
        let mut out = OperandTypes::default();
        let mut ops = body.get_operators_reader()?;
        while !ops.eof() {
            let (op, at) = ops.read_with_offset()?;
            out.record(&v);
            v.op(at, &op)?;
        }
        out.height.push(v.operand_stack_height());
        Ok(out)
    }

    fn record<T: wasmparser::WasmModuleResources>(&mut self, v: &wasmparser::FuncValidator<T>) {
        let height = v.operand_stack_height();
        self.height.push(height);
        self.frame_base
            .push(v.get_control_frame(0).map_or(0, |f| f.height as u32));
        let start = self.types.len();
        let known = height <= Self::MAX_RECORDED
            && (0..height as usize)
                .rev()
                .all(|depth| match v.get_operand_type(depth) {
                    Some(Some(t)) => {
                        self.types.push(t);
                        true
                    }
                    _ => false,
                });
        if known {
            self.start.push(start as u32);
        } else {
            self.types.truncate(start);
            self.start.push(u32::MAX);
        }
    }

    /// The types before operator `i`, bottom first, if recorded.
    pub fn before(&self, i: usize) -> Option<&[wasmparser::ValType]> {
        let start = *self.start.get(i)?;
        let height = *self.height.get(i)? as usize;
        (start != u32::MAX).then(|| &self.types[start as usize..start as usize + height])
    }
}

#[derive(Debug, thiserror::Error)]
pub enum CompileError {
    #[error("{message} (at byte offset {offset:#x})")]
    Invalid { message: String, offset: usize },
    #[error("unsupported feature: {0}")]
    Unsupported(String),
    #[error("code generation failed: {0}")]
    Codegen(String),
}

impl From<cranelift_wasm::WasmError> for CompileError {
    fn from(e: cranelift_wasm::WasmError) -> Self {
        use cranelift_wasm::WasmError as W;
        match e {
            W::InvalidWebAssembly { message, offset } => CompileError::Invalid { message, offset },
            W::Unsupported(s) => CompileError::Unsupported(s),
            W::ImplLimitExceeded => {
                CompileError::Unsupported("implementation limit exceeded".into())
            }
            W::User(s) => CompileError::Codegen(s),
        }
    }
}

/// Owns the target ISA; shared by all compiles of an engine.
pub struct Compiler {
    isa: OwnedTargetIsa,
    options: CompileOptions,
}

impl Compiler {
    pub fn new(options: CompileOptions) -> Result<Self, CompileError> {
        let mut flags = settings::builder();
        let set = |f: &mut settings::Builder, k: &str, v: &str| {
            f.set(k, v)
                .map_err(|e| CompileError::Codegen(format!("setting {k}={v}: {e}")))
        };
        set(
            &mut flags,
            "opt_level",
            if options.debug_info { "none" } else { "speed" },
        )?;
        set(&mut flags, "preserve_frame_pointers", "true")?;
        set(&mut flags, "unwind_info", "true")?;
        set(
            &mut flags,
            "enable_verifier",
            if cfg!(debug_assertions) {
                "true"
            } else {
                "false"
            },
        )?;
        set(&mut flags, "enable_probestack", "false")?;
        set(&mut flags, "enable_heap_access_spectre_mitigation", "false")?;
        set(
            &mut flags,
            "enable_table_access_spectre_mitigation",
            "false",
        )?;
        set(&mut flags, "use_colocated_libcalls", "false")?;
        let isa_builder = cranelift_native::builder()
            .map_err(|e| CompileError::Unsupported(format!("host machine: {e}")))?;
        let isa = isa_builder
            .finish(settings::Flags::new(flags))
            .map_err(|e| CompileError::Codegen(e.to_string()))?;
        if isa.pointer_bytes() != 8 {
            return Err(CompileError::Unsupported("32-bit hosts".into()));
        }
        Ok(Compiler { isa, options })
    }

    pub fn isa(&self) -> &dyn TargetIsa {
        &*self.isa
    }

    pub fn options(&self) -> &CompileOptions {
        &self.options
    }

    /// Compiles all function bodies, on `options.parallelism` threads.
    pub fn compile_functions(
        &self,
        info: &ModuleInfo,
        offsets: &VMOffsets,
        sig_ids: &[u32],
        bodies: Vec<FunctionBodyInput<'_>>,
    ) -> Result<Vec<CompiledFunction>, CompileError> {
        let n = bodies.len();
        // Largest bodies first (popped from the end), so one big function
        // does not start last and leave the other threads idle.
        let mut queue: Vec<(usize, FunctionBodyInput<'_>)> =
            bodies.into_iter().enumerate().collect();
        queue.sort_by_key(|(_, b)| b.body.range().len());
        let work = Mutex::new(queue);
        let results: Mutex<Vec<Option<Result<CompiledFunction, CompileError>>>> =
            Mutex::new((0..n).map(|_| None).collect());
        let threads = self.options.parallelism.clamp(1, n.max(1));
        let worker = || {
            let mut translator = FuncTranslator::new();
            let mut ctx = Context::new();
            loop {
                let Some((i, input)) = work.lock().unwrap().pop() else {
                    return;
                };
                let index = FuncIndex::from_u32((info.num_imported_funcs + i) as u32);
                let r = self.compile_function(
                    info,
                    offsets,
                    sig_ids,
                    index,
                    input,
                    &mut translator,
                    &mut ctx,
                );
                let failed = r.is_err();
                results.lock().unwrap()[i] = Some(r);
                if failed {
                    // Stop early: the module is rejected anyway.
                    work.lock().unwrap().clear();
                }
            }
        };
        if threads == 1 {
            worker();
        } else {
            std::thread::scope(|s| {
                for _ in 1..threads {
                    s.spawn(worker);
                }
                worker();
            });
        }
        let mut out = Vec::with_capacity(n);
        let mut first_error: Option<CompileError> = None;
        for r in results.into_inner().unwrap() {
            match r {
                Some(Ok(f)) => out.push(f),
                Some(Err(e)) => {
                    // Report the error of the lowest-indexed failing function.
                    first_error.get_or_insert(e);
                }
                None => {}
            }
        }
        match first_error {
            Some(e) => Err(e),
            None => Ok(out),
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn compile_function(
        &self,
        info: &ModuleInfo,
        offsets: &VMOffsets,
        sig_ids: &[u32],
        index: FuncIndex,
        mut input: FunctionBodyInput<'_>,
        translator: &mut FuncTranslator,
        ctx: &mut Context,
    ) -> Result<CompiledFunction, CompileError> {
        let live = self.options.debug_hooks && self.live_locals();
        let f = self.compile_function_as(
            (info, offsets, sig_ids, index),
            &mut input.validator,
            input.body.clone(),
            translator,
            ctx,
            (live, true),
        )?;
        if !f.lost_site() {
            return Ok(f);
        }
        // A site whose branch to its stack-recording block was not found
        // could never stop (its `int3` is behind the branch): the
        // function again, recording no operand stack.
        self.compile_function_as(
            (info, offsets, sig_ids, index),
            &mut fresh_validator(&input.validator),
            input.body,
            translator,
            ctx,
            (live, false),
        )
    }

    fn compile_function_as(
        &self,
        (info, offsets, sig_ids, index): (&ModuleInfo, &VMOffsets, &[u32], FuncIndex),
        validator: &mut wasmparser::FuncValidator<impl wasmparser::WasmModuleResources>,
        body: wasmparser::FunctionBody<'_>,
        translator: &mut FuncTranslator,
        ctx: &mut Context,
        // Live locals; live sites may record their operand stack.
        (live, record_stacks): (bool, bool),
    ) -> Result<CompiledFunction, CompileError> {
        ctx.clear();
        ctx.func.signature = wasm_signature(self.isa(), info.func_type(index));
        ctx.func.name = UserFuncName::user(func_env::namespace::WASM_FUNC, index.as_u32());
        if self.options.debug_value_labels && (self.options.debug_info || live) {
            ctx.func.collect_debug_info();
        }
        let mut env = FuncEnv::new(self.isa(), info, offsets, sig_ids);
        env.set_function(index);
        if self.options.debug_hooks {
            let kept = if live {
                let range = body.range();
                let within = range.start.saturating_sub(5) as u32..range.end as u32;
                let mut kept: Vec<u32> = self
                    .options
                    .debug_keep_locals
                    .iter()
                    .flat_map(|k| k.iter())
                    .filter(|(o, _)| within.contains(o))
                    .map(|k| k.1)
                    .collect();
                kept.dedup();
                kept
            } else {
                Vec::new()
            };
            let sites = (
                self.options.debug_hook_sites.clone(),
                self.options.debug_forced_sites,
            );
            let stack =
                OperandTypes::of(validator, &body).map_err(cranelift_wasm::WasmError::from)?;
            // Live code records the stack only where asked (it costs a
            // store per value each time such a site runs).
            let range = body.range();
            let stack_ranges = match &self.options.debug_stack_ranges {
                Some(_) if live && !record_stacks => Some(Vec::new()),
                Some(all) if live => {
                    let start = all.partition_point(|r| r.1 <= range.start as u32);
                    Some(
                        all[start..]
                            .iter()
                            .take_while(|r| r.0 < range.end as u32)
                            .copied()
                            .collect(),
                    )
                }
                _ => None,
            };
            env.enable_debug_hooks(&body, sites, live, kept, (stack, stack_ranges))
                .map_err(cranelift_wasm::WasmError::from)?;
        }
        translator.translate_body(validator, body, &mut ctx.func, &mut env)?;
        let stack_sites = env.finish_stack_sites(&mut ctx.func);
        let call_stacks = env.finish_call_stacks();
        let anchors = env.take_anchors();
        let (mut f, code) = self.finish_with(ctx, &anchors, |name, params| match name {
            ir::ExternalName::User(r) => {
                let n = &params.user_named_funcs()[*r];
                (n.namespace == func_env::namespace::WASM_FUNC)
                    .then(|| RelocTarget::WasmFunc(FuncIndex::from_u32(n.index)))
            }
            ir::ExternalName::LibCall(l) => Some(RelocTarget::LibCall(*l)),
            _ => None,
        })?;
        // Where the locals' home slot sits below the frame pointer: the
        // fixed frame (clobbers, then stack slots) ends at FP, and the
        // sized stack slots start `sized_stackslot_offsets` above its
        // bottom, so FP - slot = frame_size - slot offset on every frame
        // of this function (checked by the engine's debug tests).
        if let Some((slot, num_locals)) = env.debug_slot() {
            f.debug_locals = Some((
                code.frame_size - code.sized_stackslot_offsets[slot],
                num_locals,
            ));
            if live {
                f.live = Some(live_debug(&code, &f, env.kept_locals().to_vec()));
            }
            f.stack_sites = stack_sites;
            f.call_stacks = call_stacks;
        }
        Ok(f)
    }

    /// Whether debug-hook compiles use `DebugLocals::Live`.
    fn live_locals(&self) -> bool {
        self.options.debug_locals == DebugLocals::Live && cfg!(target_arch = "x86_64")
    }

    /// Runs Cranelift on `ctx.func` and extracts everything we keep.
    fn finish(
        &self,
        ctx: &mut Context,
        resolve: impl Fn(&ir::ExternalName, &ir::function::FunctionParameters) -> Option<RelocTarget>,
    ) -> Result<CompiledFunction, CompileError> {
        Ok(self.finish_with(ctx, &[], resolve)?.0)
    }

    /// `finish`, settling a live debug compile's anchors between the
    /// mid-end and lowering (see `settle_anchors`); also returns
    /// Cranelift's output.
    fn finish_with(
        &self,
        ctx: &mut Context,
        anchors: &[(ir::Inst, u32)],
        resolve: impl Fn(&ir::ExternalName, &ir::function::FunctionParameters) -> Option<RelocTarget>,
    ) -> Result<(CompiledFunction, cranelift_codegen::CompiledCode), CompileError> {
        let mut ctrl = ControlPlane::default();
        let params = ctx.func.params.clone();
        let codegen = |e: cranelift_codegen::CodegenError| CompileError::Codegen(format!("{e:?}"));
        // `Context::compile`, in its steps.
        ctx.verify_if(self.isa()).map_err(codegen)?;
        ctx.optimize(self.isa(), &mut ctrl).map_err(codegen)?;
        settle_anchors(&mut ctx.func, anchors, self.options.debug_value_labels);
        let compiled = self
            .isa()
            .compile_function(&ctx.func, &ctx.domtree, false, &mut ctrl)
            .map_err(codegen)?
            .apply_params(&ctx.func.params);
        let buffer = &compiled.buffer;
        let mut relocs = Vec::new();
        for r in buffer.relocs() {
            let target = match &r.target {
                FinalizedRelocTarget::ExternalName(name) => {
                    resolve(name, &params).ok_or_else(|| {
                        CompileError::Codegen(format!("unresolvable call target {name:?}"))
                    })?
                }
                FinalizedRelocTarget::Func(_) => {
                    return Err(CompileError::Codegen(
                        "unexpected intra-function relocation".into(),
                    ))
                }
            };
            relocs.push(Relocation {
                offset: r.offset,
                kind: r.kind,
                target,
                addend: r.addend,
            });
        }
        let mut traps: Vec<(u32, TrapCode)> = buffer
            .traps()
            .iter()
            .map(|t| (t.offset, TrapCode::from_cranelift(t.code)))
            .collect();
        traps.sort_by_key(|t| t.0);
        let code = buffer.data();
        let mut site_traps = Vec::new();
        // Per module offset, the condition bytes of the branches marked
        // as a stack-recording site's (one expected).
        let mut flips: std::collections::BTreeMap<u32, Vec<u32>> = Default::default();
        let srclocs = buffer
            .get_srclocs_sorted()
            .iter()
            .filter(|s| !s.loc.is_default())
            .map(|s| {
                let bits = s.loc.bits();
                if bits & func_env::STACK_SRCLOC_MARK != 0 {
                    let offset = bits & !func_env::STACK_SRCLOC_MARK;
                    let found = flips.entry(offset).or_default();
                    found.extend(
                        branch_condition(&code[s.start as usize..s.end as usize])
                            .map(|c| s.start + c),
                    );
                    return Ok(SrcLoc {
                        start: s.start,
                        end: s.end,
                        wasm_offset: offset,
                    });
                }
                if bits & func_env::SITE_SRCLOC_MARK == 0 {
                    return Ok(SrcLoc {
                        start: s.start,
                        end: s.end,
                        wasm_offset: bits,
                    });
                }
                // A live hook site's `debugtrap`: an `int3`, which
                // `CodeMemory::publish` patches to a `nop`. It opens its
                // range (the register allocator's moves after it carry
                // its location, those before it the previous one's).
                if code.get(s.start as usize) != Some(&INT3) {
                    return Err(CompileError::Codegen(format!(
                        "hook site at module offset {:#x} does not start with int3",
                        bits & !func_env::SITE_SRCLOC_MARK
                    )));
                }
                site_traps.push(s.start);
                Ok(SrcLoc {
                    start: s.start,
                    end: s.end,
                    wasm_offset: bits & !func_env::SITE_SRCLOC_MARK,
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        let site_flips: Vec<(u32, u32)> = flips
            .into_iter()
            .filter_map(|(offset, found)| match found[..] {
                [c] => Some((offset, c)),
                _ => None,
            })
            .collect();
        let stack_maps = buffer
            .user_stack_maps()
            .iter()
            .map(|(ret, _span, map)| (*ret, map.entries().map(|(_, off)| off).collect()))
            .collect();
        let unwind = compiled
            .create_unwind_info(self.isa())
            .map_err(|e| CompileError::Codegen(e.to_string()))?;
        let unwind = match unwind {
            Some(UnwindInfo::SystemV(info)) => eh_frame_records(self.isa(), &info),
            _ => Vec::new(),
        };
        let f = CompiledFunction {
            code: buffer.data().to_vec(),
            relocs,
            traps,
            srclocs,
            unwind,
            value_labels: local_locs(&compiled.value_labels_ranges),
            frame_size: compiled.frame_size,
            stack_maps,
            debug_locals: None,
            live: None,
            site_traps,
            site_flips,
            stack_sites: Vec::new(),
            call_stacks: Vec::new(),
        };
        Ok((f, compiled))
    }

    /// The host-to-wasm trampoline for functions of type `ty`:
    /// `extern "C" fn(code, callee_vmctx, caller_vmctx, values: *mut ValRaw)`
    /// loads the arguments from `values`, calls `code` with the wasm
    /// convention and stores the results back into `values`.
    pub fn entry_trampoline(&self, ty: &WasmFuncType) -> Result<CompiledFunction, CompileError> {
        let isa = self.isa();
        let ptr = isa.pointer_type();
        let mut sig = Signature::new(isa.default_call_conv());
        sig.params.extend([AbiParam::new(ptr); 4]);
        let mut ctx = Context::new();
        ctx.func.signature = sig;
        let mut fctx = FunctionBuilderContext::new();
        let mut b = FunctionBuilder::new(&mut ctx.func, &mut fctx);
        let block = b.create_block();
        b.append_block_params_for_function_params(block);
        b.switch_to_block(block);
        b.seal_block(block);
        let [code, callee_vmctx, caller_vmctx, values] = b.block_params(block).try_into().unwrap();
        let flags = MemFlags::trusted();
        let mut args = vec![callee_vmctx, caller_vmctx];
        for (i, p) in ty.params().iter().enumerate() {
            let t = func_env::value_type(isa, p);
            args.push(b.ins().load(t, flags, values, (i * VAL_RAW_SIZE) as i32));
        }
        let callee_sig = b.import_signature(wasm_signature(isa, ty));
        let call = b.ins().call_indirect(callee_sig, code, &args);
        let results = b.inst_results(call).to_vec();
        for (i, r) in results.into_iter().enumerate() {
            b.ins().store(flags, r, values, (i * VAL_RAW_SIZE) as i32);
        }
        b.ins().return_(&[]);
        b.finalize();
        self.finish(&mut ctx, |_, _| None)
    }

    /// The wasm-to-host trampoline for host functions of type `ty`: a
    /// function with the wasm convention that spills its arguments into a
    /// `ValRaw` array on its stack, calls `host_call(callee_vmctx,
    /// caller_vmctx, values, frame_pointer)` and returns the results the host
    /// left in the array.
    pub fn host_trampoline(&self, ty: &WasmFuncType) -> Result<CompiledFunction, CompileError> {
        let isa = self.isa();
        let ptr = isa.pointer_type();
        let mut ctx = Context::new();
        ctx.func.signature = wasm_signature(isa, ty);
        let mut fctx = FunctionBuilderContext::new();
        let mut b = FunctionBuilder::new(&mut ctx.func, &mut fctx);
        let block = b.create_block();
        b.append_block_params_for_function_params(block);
        b.switch_to_block(block);
        b.seal_block(block);
        let params = b.block_params(block).to_vec();
        let slots = ty.params().len().max(ty.returns().len()).max(1);
        let slot = b.create_sized_stack_slot(StackSlotData::new(
            StackSlotKind::ExplicitSlot,
            (slots * VAL_RAW_SIZE) as u32,
            4,
        ));
        let values = b.ins().stack_addr(ptr, slot, 0);
        let flags = MemFlags::trusted();
        for (i, v) in params[2..].iter().enumerate() {
            b.ins().store(flags, *v, values, (i * VAL_RAW_SIZE) as i32);
        }
        let mut host_sig = Signature::new(cranelift_codegen::isa::CallConv::triple_default(
            isa.triple(),
        ));
        host_sig.params.extend([AbiParam::new(ptr); 4]);
        let callee = import_host_func(&mut b, HostFunc::HostCall, host_sig);
        let fp = b.ins().get_frame_pointer(ptr);
        b.ins().call(callee, &[params[0], params[1], values, fp]);
        let mut results = Vec::new();
        for (i, r) in ty.returns().iter().enumerate() {
            let t = func_env::value_type(isa, r);
            results.push(b.ins().load(t, flags, values, (i * VAL_RAW_SIZE) as i32));
        }
        b.ins().return_(&results);
        b.finalize();
        self.finish(&mut ctx, resolve_host_func)
    }
}

impl Compiler {
    /// The trampoline compiled code calls when its activations table is
    /// full: `(vmctx)` with the builtin convention; it passes its own frame
    /// pointer to `collect(vmctx, fp)` so the collector can find the wasm
    /// frames above it.
    pub fn gc_trampoline(&self) -> Result<CompiledFunction, CompileError> {
        let isa = self.isa();
        let ptr = isa.pointer_type();
        let call_conv = cranelift_codegen::isa::CallConv::triple_default(isa.triple());
        let mut sig = Signature::new(call_conv);
        sig.params.push(AbiParam::new(ptr));
        let mut ctx = Context::new();
        ctx.func.signature = sig;
        let mut fctx = FunctionBuilderContext::new();
        let mut b = FunctionBuilder::new(&mut ctx.func, &mut fctx);
        let block = b.create_block();
        b.append_block_params_for_function_params(block);
        b.switch_to_block(block);
        b.seal_block(block);
        let vmctx = b.block_params(block)[0];
        let mut callee_sig = Signature::new(call_conv);
        callee_sig.params.extend([AbiParam::new(ptr); 2]);
        let callee = import_host_func(&mut b, HostFunc::ActivationsGc, callee_sig);
        let fp = b.ins().get_frame_pointer(ptr);
        b.ins().call(callee, &[vmctx, fp]);
        b.ins().return_(&[]);
        b.finalize();
        self.finish(&mut ctx, resolve_host_func)
    }
}

/// A host function that generated glue calls: reached through an
/// absolute relocation, never an address baked into the code, so
/// compiled code stays valid in another process (see `cache`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HostFunc {
    /// `api::func::host_call`: `(callee_vmctx, caller_vmctx, values, fp)`.
    HostCall,
    /// `runtime::builtins::activations_gc`: `(vmctx, fp)`.
    ActivationsGc,
}

impl HostFunc {
    pub const ALL: [HostFunc; 2] = [HostFunc::HostCall, HostFunc::ActivationsGc];
}

/// Declares `func` in the function being built, callable with `sig`.
fn import_host_func(b: &mut FunctionBuilder, func: HostFunc, sig: Signature) -> ir::FuncRef {
    let signature = b.import_signature(sig);
    let name = b.func.declare_imported_user_function(ir::UserExternalName {
        namespace: func_env::namespace::HOST_FUNC,
        index: func as u32,
    });
    b.import_function(ir::ExtFuncData {
        name: ir::ExternalName::User(name),
        signature,
        colocated: false,
    })
}

fn resolve_host_func(
    name: &ir::ExternalName,
    params: &ir::function::FunctionParameters,
) -> Option<RelocTarget> {
    let ir::ExternalName::User(r) = name else {
        return None;
    };
    let n = &params.user_named_funcs()[*r];
    (n.namespace == func_env::namespace::HOST_FUNC)
        .then(|| HostFunc::ALL.get(n.index as usize).copied())
        .flatten()
        .map(RelocTarget::Host)
}

/// Takes a live debug compile's anchors (`FuncEnv::take_anchors`) out of
/// the optimized function. Each held the value its local was last set to
/// before a site, so the mid-end computed that value before the site; the
/// local's value label goes onto the value the anchor ends up holding (the
/// mid-end may have replaced the labelled one with an equivalent, and the
/// label would be lost with it). Without `labels` the anchors just go.
fn settle_anchors(func: &mut ir::Function, anchors: &[(ir::Inst, u32)], labels: bool) {
    for &(inst, local) in anchors {
        if func.layout.inst_block(inst).is_none() {
            continue;
        }
        if !labels {
            func.layout.remove_inst(inst);
            continue;
        }
        let mut v = func.dfg.resolve_aliases(func.dfg.inst_args(inst)[0]);
        // Floats are anchored through a bitcast to an integer.
        if let ir::ValueDef::Result(def, 0) = func.dfg.value_def(v) {
            if func.dfg.insts[def].opcode() == ir::Opcode::Bitcast {
                v = func.dfg.resolve_aliases(func.dfg.inst_args(def)[0]);
            }
        }
        let from = func.srclocs[inst];
        let label = ir::ValueLabel::from_u32(local);
        let labels = func.dfg.values_labels.get_or_insert_with(Default::default);
        match labels
            .entry(v)
            .or_insert_with(|| ir::ValueLabelAssignments::Starts(Vec::new()))
        {
            ir::ValueLabelAssignments::Starts(starts) => {
                if !starts.iter().any(|s| s.label == label) {
                    starts.push(ir::ValueLabelStart { from, label });
                }
            }
            ir::ValueLabelAssignments::Alias { .. } => {}
        }
        func.layout.remove_inst(inst);
    }
}

/// Where the condition byte is of the conditional branch that ends
/// `code` (a `jcc rel32`, maybe followed by a `jmp rel32` to its other
/// target): the code of a block's final branch.
fn branch_condition(code: &[u8]) -> Option<u32> {
    let jcc = |at: usize| is_jcc_rel32(&code[at..]);
    let n = code.len();
    if n >= 6 && jcc(n - 6) {
        return Some((n - 5) as u32);
    }
    if n >= 11 && code[n - 5] == 0xE9 && jcc(n - 11) {
        return Some((n - 10) as u32);
    }
    None
}

/// Whether `code` starts with a `jcc rel32` (`0F 8x`, a 4-byte offset).
fn is_jcc_rel32(code: &[u8]) -> bool {
    code.len() >= 6 && code[0] == 0x0F && code[1] & 0xF0 == 0x80
}

/// x86's `int3`: a live hook site as compiled (`debugtrap`), and when on.
pub const INT3: u8 = 0xCC;
/// x86's one-byte `nop`: a live hook site when off.
pub const NOP: u8 = 0x90;

/// Size of one slot of a `ValRaw` array, enough for any wasm value.
pub const VAL_RAW_SIZE: usize = 16;

/// Collects a `DebugLocals::Live` function's local locations, saved
/// registers, where its out-of-line traps are jumped to from, and its
/// kept locals.
fn live_debug(
    code: &cranelift_codegen::CompiledCode,
    f: &CompiledFunction,
    kept: Vec<u32>,
) -> LiveDebug {
    use cranelift_codegen::isa::unwind::UnwindInst;
    let buffer = &code.buffer;
    let locals = f.value_labels.clone();
    let mut saved_regs = Vec::new();
    let mut clobbers_to_cfa = 0i64;
    for (_, inst) in &buffer.unwind_info {
        match *inst {
            UnwindInst::DefineNewFrame {
                offset_upward_to_caller_sp,
                offset_downward_to_clobbers,
            } => {
                clobbers_to_cfa =
                    i64::from(offset_upward_to_caller_sp) + i64::from(offset_downward_to_clobbers)
            }
            UnwindInst::SaveReg {
                clobber_offset,
                reg,
            } if reg.class() == regalloc2::RegClass::Int => saved_regs.push((
                reg.hw_enc(),
                (i64::from(clobber_offset) - clobbers_to_cfa) as i32,
            )),
            _ => {}
        }
    }
    let traps: Vec<u32> = f.traps.iter().map(|t| t.0).collect();
    LiveDebug {
        locals,
        saved_regs,
        trap_jumps: jumps_to(f, &traps),
        site_jumps: f.site_traps.iter().map(|&t| (t, t + 1)).collect(),
        kept,
    }
}

/// Cranelift's value-label ranges as our own data: where each wasm local
/// is, by native range, sorted by (local, start); ranges in no real
/// register (or at an offset out of range) are left out.
fn local_locs(ranges: &cranelift_codegen::ValueLabelsRanges) -> Vec<LocalLoc> {
    use cranelift_codegen::LabelValueLoc;
    use cranelift_codegen::Reg;
    let loc = |l: &LabelValueLoc| match *l {
        LabelValueLoc::Reg(r) => {
            let r: Reg = r;
            let real = r.to_real_reg()?;
            Some(match real.class() {
                regalloc2::RegClass::Int => ValueLoc::Gpr(real.hw_enc()),
                _ => ValueLoc::Vec(real.hw_enc()),
            })
        }
        LabelValueLoc::CFAOffset(o) => i32::try_from(o).ok().map(ValueLoc::Cfa),
    };
    let mut locals = Vec::new();
    for (label, ranges) in ranges {
        // The vmctx parameter carries a label of its own, past any local.
        if *label == cranelift_wasm::get_vmctx_value_label() {
            continue;
        }
        let local = ir::ValueLabel::as_u32(*label);
        locals.extend(ranges.iter().filter_map(|r| {
            Some(LocalLoc {
                local,
                start: r.start,
                end: r.end,
                loc: loc(&r.loc)?,
            })
        }));
    }
    locals.sort_unstable_by_key(|l| (l.local, l.start));
    locals
}

/// One function's `.eh_frame` records: the ISA's CIE and the function's
/// FDE, its start address written as an absolute 8-byte 0 at offset 8 of
/// the FDE (see `code_memory::link_eh_frame`).
fn eh_frame_records(
    isa: &dyn TargetIsa,
    info: &cranelift_codegen::isa::unwind::systemv::UnwindInfo,
) -> Vec<u8> {
    use gimli::write::{Address, EhFrame, EndianVec, FrameTable};
    let Some(mut cie) = isa.create_systemv_cie() else {
        return Vec::new();
    };
    cie.fde_address_encoding = gimli::constants::DW_EH_PE_absptr;
    let mut table = FrameTable::default();
    let cie_id = table.add_cie(cie);
    table.add_fde(cie_id, info.to_fde(Address::Constant(0)));
    let mut eh = EhFrame(EndianVec::new(gimli::RunTimeEndian::Little));
    match table.write_eh_frame(&mut eh) {
        Ok(()) => eh.0.into_vec(),
        Err(_) => Vec::new(),
    }
}

/// For each of `traps` that Cranelift placed out of line (x64 `TrapIf`: a
/// `jcc rel32`, 0F 8x, to a `ud2` in an island after the blocks, see
/// cranelift's `one_way_jmp`; each such trap has an island of its own):
/// the offset just past the jump that reaches it, where the registers are
/// as at the trap. Found by the jump's encoding, within code of the same
/// wasm instruction as the trap; a trap that more than one such byte
/// pattern points at (another instruction's bytes can look like a jump)
/// is left out.
fn jumps_to(f: &CompiledFunction, traps: &[u32]) -> Vec<(u32, u32)> {
    if !cfg!(target_arch = "x86_64") {
        return Vec::new();
    }
    let mut found: std::collections::HashMap<u32, Option<u32>> =
        traps.iter().map(|t| (*t, None)).collect();
    let mut ambiguous = Vec::new();
    for (i, w) in f.code.windows(6).enumerate() {
        if is_jcc_rel32(w) {
            let rel = i32::from_le_bytes([w[2], w[3], w[4], w[5]]);
            let target = i as i64 + 6 + i64::from(rel);
            let Ok(target) = u32::try_from(target) else {
                continue;
            };
            let Some(slot) = found.get_mut(&target) else {
                continue;
            };
            if f.wasm_offset_at(i as u32) != f.wasm_offset_at(target) {
                continue;
            }
            if slot.replace(i as u32 + 6).is_some() {
                ambiguous.push(target);
            }
        }
    }
    let mut out: Vec<(u32, u32)> = found
        .into_iter()
        .filter(|(t, _)| !ambiguous.contains(t))
        .filter_map(|(t, j)| Some((t, j?)))
        .collect();
    out.sort_unstable();
    out
}
