//! The embedding API: `Engine`, `Module`, `Store`, `Linker`, `Instance`,
//! `Func`, `Memory`, `Table`, `Global`, `Val` and typed calls.
//!
//! Nothing here requires `unsafe` from the embedder. Objects created in a
//! store (instances, memories, tables, globals, host functions) live until
//! the store is dropped: handles are plain indices checked against the
//! store's id.

use crate::code_memory::CodeMemory;
use crate::compile::ValueLoc;
use crate::compile::{
    CompileError, CompileOptions, CompiledFunction, Compiler, RelocTarget, SrcLoc, VAL_RAW_SIZE,
};
use crate::externref::{self, VMExternRef};
use crate::module_env::{DataKind, ElemKind, ModuleEnv, ModuleInfo};
use crate::runtime::activations::VMExternRefActivationsTable;
use crate::runtime::builtins::{self, Builtins};
use crate::runtime::instance::{InstanceData, VMContextAlloc};
use crate::runtime::traphandlers::{self, RaiseReason, Unwind, VMRuntimeLimits};
use crate::runtime::vm::{MemoryObject, TableObject, VMFuncRef, VMGlobalDefinition};
use crate::trap::{self, CodeInfo, FuncCode, Trap, TrapReason};
use crate::vmoffsets::{self, VMOffsets};
use cranelift_entity::EntityRef;
use cranelift_wasm::{
    ConstExpr, ConstOp, EntityIndex, GlobalIndex, WasmFuncType, WasmHeapTopType, WasmRefType,
    WasmValType,
};
use std::collections::HashMap;
use std::fmt;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

/// Everything that can go wrong between loading a module and running it.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("cannot read {path}: {err}")]
    Io { path: String, err: std::io::Error },
    #[error("{0}")]
    Text(String),
    #[error(transparent)]
    Compile(#[from] CompileError),
    #[error("{0}")]
    Link(String),
    #[error("{0}")]
    Instantiate(String),
    #[error(transparent)]
    Trap(#[from] Trap),
    #[error("{0}")]
    Type(String),
}

// ---------------------------------------------------------------- types

/// The type of a wasm value, as the API shows it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ValType {
    I32,
    I64,
    F32,
    F64,
    V128,
    FuncRef,
    ExternRef,
}

impl ValType {
    pub(crate) fn from_wasm(t: &WasmValType) -> ValType {
        match t {
            WasmValType::I32 => ValType::I32,
            WasmValType::I64 => ValType::I64,
            WasmValType::F32 => ValType::F32,
            WasmValType::F64 => ValType::F64,
            WasmValType::V128 => ValType::V128,
            WasmValType::Ref(r) => match r.heap_type.top() {
                WasmHeapTopType::Extern => ValType::ExternRef,
                _ => ValType::FuncRef,
            },
        }
    }

    fn to_wasm(self) -> WasmValType {
        match self {
            ValType::I32 => WasmValType::I32,
            ValType::I64 => WasmValType::I64,
            ValType::F32 => WasmValType::F32,
            ValType::F64 => WasmValType::F64,
            ValType::V128 => WasmValType::V128,
            ValType::FuncRef => WasmValType::Ref(WasmRefType::FUNCREF),
            ValType::ExternRef => WasmValType::Ref(WasmRefType::EXTERNREF),
        }
    }
}

impl fmt::Display for ValType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ValType::I32 => "i32",
            ValType::I64 => "i64",
            ValType::F32 => "f32",
            ValType::F64 => "f64",
            ValType::V128 => "v128",
            ValType::FuncRef => "funcref",
            ValType::ExternRef => "externref",
        })
    }
}

/// A function type.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct FuncType {
    pub params: Vec<ValType>,
    pub results: Vec<ValType>,
}

impl FuncType {
    pub fn new(
        params: impl IntoIterator<Item = ValType>,
        results: impl IntoIterator<Item = ValType>,
    ) -> Self {
        FuncType {
            params: params.into_iter().collect(),
            results: results.into_iter().collect(),
        }
    }

    fn from_wasm(t: &WasmFuncType) -> Self {
        FuncType::new(
            t.params().iter().map(ValType::from_wasm),
            t.returns().iter().map(ValType::from_wasm),
        )
    }

    fn to_wasm(&self) -> WasmFuncType {
        WasmFuncType::new(
            self.params.iter().map(|t| t.to_wasm()).collect(),
            self.results.iter().map(|t| t.to_wasm()).collect(),
        )
    }
}

impl fmt::Display for FuncType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let list = |v: &[ValType]| {
            v.iter()
                .map(|t| t.to_string())
                .collect::<Vec<_>>()
                .join(" ")
        };
        write!(
            f,
            "(func (param {}) (result {}))",
            list(&self.params),
            list(&self.results)
        )
    }
}

/// A host value that wasm can hold: a counted reference (see
/// `externref`). Cloning takes a count; dropping releases one.
#[derive(Clone, Debug)]
pub struct ExternRef(VMExternRef);

impl ExternRef {
    /// Wraps any `'static` value; its type name is registered for debuggers.
    pub fn new<T: std::any::Any>(value: T) -> ExternRef {
        externref::register_type::<T>();
        ExternRef(VMExternRef::new(value))
    }

    /// Like `new`, and debuggers show the value's `Debug` rendering.
    pub fn new_debug<T: std::any::Any + fmt::Debug>(value: T) -> ExternRef {
        externref::register_debug::<T>();
        ExternRef(VMExternRef::new(value))
    }

    /// The host value, for downcasting.
    pub fn data(&self) -> &dyn std::any::Any {
        self.0.data()
    }

    /// Current reference count (tables, globals, activations and handles).
    pub fn strong_count(&self) -> usize {
        self.0.strong_count()
    }

    /// Address, count, type name and `Debug` rendering, for debuggers.
    pub fn describe(&self) -> externref::ExternRefDescription {
        externref::describe(&self.0)
    }

    pub fn ptr_eq(a: &ExternRef, b: &ExternRef) -> bool {
        VMExternRef::ptr_eq(&a.0, &b.0)
    }

    /// The word wasm code holds for this reference (its footer address).
    pub fn as_raw(&self) -> usize {
        self.0.as_raw()
    }

    /// A counted handle to the reference held in a raw word.
    fn clone_from_raw(raw: usize) -> Option<ExternRef> {
        // SAFETY: raw words handed to the API come from tables, globals or
        // activations of a live store, which keep their blocks alive.
        unsafe { VMExternRef::clone_from_raw(raw) }.map(ExternRef)
    }
}

impl PartialEq for ExternRef {
    fn eq(&self, other: &Self) -> bool {
        ExternRef::ptr_eq(self, other)
    }
}

/// A wasm value. Floats are kept as bits so NaN payloads survive.
#[derive(Clone, Debug, PartialEq)]
pub enum Val {
    I32(i32),
    I64(i64),
    F32(u32),
    F64(u64),
    V128(u128),
    FuncRef(Option<Func>),
    ExternRef(Option<ExternRef>),
}

impl Val {
    pub fn ty(&self) -> ValType {
        match self {
            Val::I32(_) => ValType::I32,
            Val::I64(_) => ValType::I64,
            Val::F32(_) => ValType::F32,
            Val::F64(_) => ValType::F64,
            Val::V128(_) => ValType::V128,
            Val::FuncRef(_) => ValType::FuncRef,
            Val::ExternRef(_) => ValType::ExternRef,
        }
    }

    /// The zero value of a type (null for references).
    pub fn default_for(ty: ValType) -> Option<Val> {
        Some(match ty {
            ValType::I32 => Val::I32(0),
            ValType::I64 => Val::I64(0),
            ValType::F32 => Val::F32(0),
            ValType::F64 => Val::F64(0),
            ValType::V128 => Val::V128(0),
            ValType::FuncRef => Val::FuncRef(None),
            ValType::ExternRef => Val::ExternRef(None),
        })
    }

    /// The raw word of this value. Takes no count: callers count externrefs
    /// as the destination requires.
    fn to_raw(&self, store_id: u64) -> Result<u128, Error> {
        Ok(match self {
            Val::I32(v) => *v as u32 as u128,
            Val::I64(v) => *v as u64 as u128,
            Val::F32(v) => *v as u128,
            Val::F64(v) => *v as u128,
            Val::V128(v) => *v,
            Val::FuncRef(None) => 0,
            Val::FuncRef(Some(f)) => {
                if f.store_id != store_id {
                    return Err(Error::Type("funcref belongs to another store".into()));
                }
                f.ptr as usize as u128
            }
            Val::ExternRef(r) => r.as_ref().map_or(0, |r| r.as_raw() as u128),
        })
    }

    fn from_raw(raw: u128, ty: ValType, store_id: u64) -> Result<Val, Error> {
        Ok(match ty {
            ValType::I32 => Val::I32(raw as u32 as i32),
            ValType::I64 => Val::I64(raw as u64 as i64),
            ValType::F32 => Val::F32(raw as u32),
            ValType::F64 => Val::F64(raw as u64),
            ValType::V128 => Val::V128(raw),
            ValType::FuncRef => Val::FuncRef(Func::from_raw(store_id, raw as usize)),
            ValType::ExternRef => Val::ExternRef(ExternRef::clone_from_raw(raw as usize)),
        })
    }

    pub fn unwrap_i32(&self) -> i32 {
        match self {
            Val::I32(v) => *v,
            other => panic!("expected i32, found {other:?}"),
        }
    }
}

// ---------------------------------------------------------------- engine

/// Engine-wide configuration.
#[derive(Clone, Debug)]
pub struct Config {
    pub compile: CompileOptions,
    /// Native stack bytes wasm code may use before it traps with
    /// "call stack exhausted".
    pub max_wasm_stack: usize,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            compile: CompileOptions::default(),
            max_wasm_stack: 1 << 20,
        }
    }
}

/// Compiled trampolines for one signature.
struct Trampolines {
    entry: unsafe extern "C" fn(*const u8, *mut u8, *mut u8, *mut u128),
    host: *const u8,
    /// Native ranges of the entry and host trampolines.
    ranges: [std::ops::Range<usize>; 2],
    _code: CodeMemory,
}

// SAFETY: the pointers refer to immutable code owned by `_code`.
unsafe impl Send for Trampolines {}
// SAFETY: as above.
unsafe impl Sync for Trampolines {}

struct EngineInner {
    compiler: Compiler,
    /// The builtins table every vmctx of this engine points at.
    builtins: Box<Builtins>,
    gc_code: CodeMemory,
    config: Config,
    /// Engine-wide signature ids: index = id.
    signatures: Mutex<(HashMap<WasmFuncType, u32>, Vec<WasmFuncType>)>,
    trampolines: Mutex<HashMap<u32, Arc<Trampolines>>>,
}

/// A compilation environment: the host ISA, settings and shared registries.
#[derive(Clone)]
pub struct Engine {
    inner: Arc<EngineInner>,
}

impl Engine {
    pub fn new(config: Config) -> Result<Engine, Error> {
        let compiler = Compiler::new(config.compile.clone())?;
        let gc = compiler.gc_trampoline(builtins::activations_gc as *const () as usize)?;
        let (gc_code, ranges) = CodeMemory::publish(compiler.isa(), &[&gc], &|_, _| None)
            .map_err(|e| Error::Instantiate(e.to_string()))?;
        register_code(&gc_code, &[&gc], &ranges, &[None], &[0], None);
        let builtins = Box::new(Builtins::new(ranges[0].start as *const ()));
        Ok(Engine {
            inner: Arc::new(EngineInner {
                builtins,
                gc_code,
                compiler,
                config,
                signatures: Mutex::new((HashMap::new(), Vec::new())),
                trampolines: Mutex::new(HashMap::new()),
            }),
        })
    }

    pub fn config(&self) -> &Config {
        &self.inner.config
    }

    pub(crate) fn sig_id(&self, ty: &WasmFuncType) -> u32 {
        let mut sigs = self.inner.signatures.lock().unwrap();
        if let Some(id) = sigs.0.get(ty) {
            return *id;
        }
        let id = sigs.1.len() as u32;
        sigs.1.push(ty.clone());
        sigs.0.insert(ty.clone(), id);
        id
    }

    pub(crate) fn sig_type(&self, id: u32) -> WasmFuncType {
        self.inner.signatures.lock().unwrap().1[id as usize].clone()
    }

    /// Names and native ranges of the engine's generated glue code
    /// (host/wasm trampolines, the GC trampoline), for debuggers' symbol
    /// tables: without them a backtrace has nameless frames between the
    /// host and wasm code.
    pub fn trampoline_code(&self) -> Vec<(String, std::ops::Range<usize>)> {
        let mut out = vec![(
            "wasmscope::activations_gc_trampoline".to_string(),
            self.inner.gc_code.range(),
        )];
        let sigs = self.inner.signatures.lock().unwrap();
        for (id, t) in self.inner.trampolines.lock().unwrap().iter() {
            let ty = FuncType::from_wasm(&sigs.1[*id as usize]);
            out.push((format!("wasmscope::host_to_wasm {ty}"), t.ranges[0].clone()));
            out.push((format!("wasmscope::wasm_to_host {ty}"), t.ranges[1].clone()));
        }
        out
    }

    fn trampolines(&self, sig_id: u32) -> Result<Arc<Trampolines>, Error> {
        if let Some(t) = self.inner.trampolines.lock().unwrap().get(&sig_id) {
            return Ok(t.clone());
        }
        let ty = self.sig_type(sig_id);
        let c = &self.inner.compiler;
        let entry = c.entry_trampoline(&ty)?;
        let host = c.host_trampoline(&ty, host_call as *const () as usize)?;
        let (code, ranges) = CodeMemory::publish(c.isa(), &[&entry, &host], &|_, _| None)
            .map_err(|e| Error::Instantiate(e.to_string()))?;
        register_code(
            &code,
            &[&entry, &host],
            &ranges,
            &[None, None],
            &[0, 0],
            None,
        );
        // SAFETY: ranges[0] holds the entry trampoline, compiled with the
        // host's default (C) calling convention and this exact signature.
        let entry_fn = unsafe {
            std::mem::transmute::<usize, unsafe extern "C" fn(*const u8, *mut u8, *mut u8, *mut u128)>(
                ranges[0].start,
            )
        };
        let t = Arc::new(Trampolines {
            entry: entry_fn,
            host: ranges[1].start as *const u8,
            ranges: [ranges[0].clone(), ranges[1].clone()],
            _code: code,
        });
        self.inner
            .trampolines
            .lock()
            .unwrap()
            .insert(sig_id, t.clone());
        Ok(t)
    }
}

fn register_code(
    code: &CodeMemory,
    funcs: &[&CompiledFunction],
    ranges: &[std::ops::Range<usize>],
    indices: &[Option<u32>],
    body_offsets: &[u32],
    module: Option<Arc<ModuleInfo>>,
) {
    let mut fcs: Vec<FuncCode> = funcs
        .iter()
        .zip(ranges)
        .zip(indices.iter().zip(body_offsets))
        .map(|((f, r), (i, b))| FuncCode {
            range: r.clone(),
            func_index: *i,
            traps: f.traps.clone(),
            srclocs: f.srclocs.clone(),
            body_offset: *b,
            stack_maps: f.stack_maps.clone(),
            debug_locals: f.debug_locals,
            live: f.live.clone().map(Arc::new),
        })
        .collect();
    fcs.sort_by_key(|f| f.range.start);
    trap::register_code(Arc::new(CodeInfo {
        range: code.range(),
        funcs: fcs,
        module,
    }));
}

// ---------------------------------------------------------------- module

/// Facts a debugger needs about one compiled function.
#[derive(Debug)]
pub struct FunctionDebugInfo {
    pub func_index: u32,
    /// Absolute native address range of the function's code.
    pub code: std::ops::Range<usize>,
    /// Native offset (relative to `code.start`) to wasm offset map, sorted.
    pub srclocs: Vec<SrcLoc>,
    /// Trap sites (native offsets relative to `code.start`).
    pub traps: Vec<(u32, crate::TrapCode)>,
    /// Value-label ranges (label = wasm local index); debug compiles only.
    pub value_labels: cranelift_codegen::ValueLabelsRanges,
    pub frame_size: u32,
    /// Debug-hook compiles: the wasm locals this function stores in its
    /// home slot at entry and at every `local.set`/`local.tee` (every local
    /// under `DebugLocals::Mirrored`, the kept ones under `Live`), as
    /// (local, offset of its 16-byte slot from the frame pointer), sorted
    /// by local. Valid once the prologue has run.
    pub local_slots: Vec<(u32, i32)>,
}

struct ModuleInner {
    engine: Engine,
    info: Arc<ModuleInfo>,
    wasm: Arc<[u8]>,
    offsets: VMOffsets,
    sig_ids: Vec<u32>,
    /// Owns the mapping (and, through its drop, the PC registration).
    _code: CodeMemory,
    /// Native entry of each defined function.
    func_starts: Vec<usize>,
    debug: Vec<FunctionDebugInfo>,
    /// The `VMContext` of this module's most recent instance, for native
    /// debuggers (see `Module::debug_vmctx_cell`).
    debug_vmctx: Box<std::sync::atomic::AtomicUsize>,
}

/// A compiled module.
#[derive(Clone)]
pub struct Module {
    inner: Arc<ModuleInner>,
}

impl Module {
    /// Compiles a module from binary or text (`.wat`) bytes.
    pub fn new(engine: &Engine, bytes: &[u8]) -> Result<Module, Error> {
        let wasm: Arc<[u8]> = if bytes.starts_with(b"\0asm") {
            bytes.into()
        } else {
            text_to_binary(bytes)?.into()
        };
        Self::from_binary(engine, wasm)
    }

    /// Reads and compiles a `.wasm` or `.wat` file.
    pub fn from_file(engine: &Engine, path: impl AsRef<Path>) -> Result<Module, Error> {
        let path = path.as_ref();
        let bytes = std::fs::read(path).map_err(|err| Error::Io {
            path: path.display().to_string(),
            err,
        })?;
        let is_binary_name = path.extension().is_some_and(|e| e == "wasm");
        if is_binary_name && !bytes.starts_with(b"\0asm") {
            let head: Vec<String> = bytes.iter().take(4).map(|b| format!("{b:02x}")).collect();
            return Err(Error::Text(format!(
                "not a WebAssembly binary: expected the `\\0asm` header, found bytes {}",
                head.join(" ")
            )));
        }
        Self::new(engine, &bytes)
    }

    fn from_binary(engine: &Engine, wasm: Arc<[u8]>) -> Result<Module, Error> {
        let mut env = ModuleEnv::new(&wasm);
        crate::module_env::translate(&wasm, &mut env).map_err(CompileError::from)?;
        let ModuleEnv { info, bodies, .. } = env;
        let sig_ids: Vec<u32> = info.types.iter().map(|t| engine.sig_id(t)).collect();
        let offsets = VMOffsets {
            num_memories: info.memories.len() as u32,
            num_tables: info.tables.len() as u32,
            num_globals: info.globals.len() as u32,
            num_funcs: info.functions.len() as u32,
        };
        let body_offsets: Vec<u32> = bodies.iter().map(|b| b.body.range().start as u32).collect();
        let compiler = &engine.inner.compiler;
        let funcs = compiler.compile_functions(&info, &offsets, &sig_ids, bodies)?;
        let refs: Vec<&CompiledFunction> = funcs.iter().collect();
        let num_imported = info.num_imported_funcs;
        let (code, ranges) =
            CodeMemory::publish(compiler.isa(), &refs, &|target, starts| match target {
                RelocTarget::WasmFunc(f) => {
                    starts.get(f.index().checked_sub(num_imported)?).copied()
                }
                RelocTarget::LibCall(l) => libcall_address(*l),
            })
            .map_err(|e| CompileError::Codegen(e.to_string()))?;
        if compiler.options().debug_info {
            // Debug builds compile all glue up front, so the debugger's view
            // of the code is complete before anything runs.
            for id in sig_ids.iter().copied() {
                engine.trampolines(id)?;
            }
        }
        let info = Arc::new(info);
        let indices: Vec<Option<u32>> = (0..funcs.len())
            .map(|i| Some((num_imported + i) as u32))
            .collect();
        register_code(
            &code,
            &refs,
            &ranges,
            &indices,
            &body_offsets,
            Some(info.clone()),
        );
        let debug = funcs
            .into_iter()
            .zip(&ranges)
            .enumerate()
            .map(|(i, (f, r))| FunctionDebugInfo {
                func_index: (num_imported + i) as u32,
                code: r.clone(),
                srclocs: f.srclocs,
                traps: f.traps,
                value_labels: f.value_labels,
                frame_size: f.frame_size,
                local_slots: local_slots(&f.debug_locals, f.live.as_ref()),
            })
            .collect();
        Ok(Module {
            inner: Arc::new(ModuleInner {
                engine: engine.clone(),
                info,
                wasm,
                offsets,
                sig_ids,
                func_starts: ranges.iter().map(|r| r.start).collect(),
                _code: code,
                debug,
                debug_vmctx: Default::default(),
            }),
        })
    }

    pub fn engine(&self) -> &Engine {
        &self.inner.engine
    }

    /// Declarations of the module (types, imports, exports, segments, names).
    pub fn info(&self) -> &ModuleInfo {
        &self.inner.info
    }

    /// The module binary (text modules are encoded first).
    pub fn binary(&self) -> &[u8] {
        &self.inner.wasm
    }

    /// Per-function facts for debuggers, one per defined function.
    pub fn functions_debug_info(&self) -> &[FunctionDebugInfo] {
        &self.inner.debug
    }

    /// The address of a word holding the `VMContext` of this module's most
    /// recent instance (0 before the first), set before its start function
    /// runs. Native debuggers reach wasm globals and linear memory from it
    /// without a frame (see [`Module::vmctx_layout`]).
    pub fn debug_vmctx_cell(&self) -> usize {
        &*self.inner.debug_vmctx as *const std::sync::atomic::AtomicUsize as usize
    }

    /// Where a `VMContext` points at this module's memories and globals:
    /// `vmctx + memory_ptr(i)` holds a pointer to a word holding memory
    /// `i`'s base address; `vmctx + global_ptr(i)` holds a pointer to
    /// global `i`'s storage (little-endian, at offset 0).
    pub fn vmctx_layout(&self) -> &VMOffsets {
        &self.inner.offsets
    }

    /// The imports, as (module, field, kind) triples.
    pub fn imports(&self) -> impl Iterator<Item = (&str, &str, ExternType)> + '_ {
        let info = &self.inner.info;
        info.imports.iter().map(move |i| {
            (
                i.module.as_str(),
                i.field.as_str(),
                extern_type(info, i.index),
            )
        })
    }

    /// The exports, in order.
    pub fn exports(&self) -> impl Iterator<Item = (&str, ExternType)> + '_ {
        let info = &self.inner.info;
        info.exports
            .iter()
            .map(move |(n, e)| (n.as_str(), extern_type(info, *e)))
    }
}

/// Encodes the text format, with a one-line error naming line and column.
fn text_to_binary(bytes: &[u8]) -> Result<Vec<u8>, Error> {
    let text = std::str::from_utf8(bytes).map_err(|_| {
        Error::Text("not a WebAssembly module: no `\\0asm` header, and not UTF-8 text".into())
    })?;
    let located = |e: wast::Error| {
        let (line, col) = e.span().linecol_in(text);
        Error::Text(format!(
            "invalid text format at line {}, column {}: {}",
            line + 1,
            col + 1,
            e.message()
        ))
    };
    let buf = wast::parser::ParseBuffer::new(text).map_err(located)?;
    let mut wat = wast::parser::parse::<wast::Wat>(&buf).map_err(located)?;
    wat.encode().map_err(located)
}

fn libcall_address(l: cranelift_codegen::ir::LibCall) -> Option<usize> {
    use cranelift_codegen::ir::LibCall as L;
    extern "C" fn floor_f32(x: f32) -> f32 {
        x.floor()
    }
    extern "C" fn floor_f64(x: f64) -> f64 {
        x.floor()
    }
    extern "C" fn ceil_f32(x: f32) -> f32 {
        x.ceil()
    }
    extern "C" fn ceil_f64(x: f64) -> f64 {
        x.ceil()
    }
    extern "C" fn trunc_f32(x: f32) -> f32 {
        x.trunc()
    }
    extern "C" fn trunc_f64(x: f64) -> f64 {
        x.trunc()
    }
    extern "C" fn nearest_f32(x: f32) -> f32 {
        x.round_ties_even()
    }
    extern "C" fn nearest_f64(x: f64) -> f64 {
        x.round_ties_even()
    }
    extern "C" fn fma_f32(a: f32, b: f32, c: f32) -> f32 {
        a.mul_add(b, c)
    }
    extern "C" fn fma_f64(a: f64, b: f64, c: f64) -> f64 {
        a.mul_add(b, c)
    }
    Some(match l {
        L::FloorF32 => floor_f32 as *const () as usize,
        L::FloorF64 => floor_f64 as *const () as usize,
        L::CeilF32 => ceil_f32 as *const () as usize,
        L::CeilF64 => ceil_f64 as *const () as usize,
        L::TruncF32 => trunc_f32 as *const () as usize,
        L::TruncF64 => trunc_f64 as *const () as usize,
        L::NearestF32 => nearest_f32 as *const () as usize,
        L::NearestF64 => nearest_f64 as *const () as usize,
        L::FmaF32 => fma_f32 as *const () as usize,
        L::FmaF64 => fma_f64 as *const () as usize,
        _ => return None,
    })
}

/// The type of an import or export.
#[derive(Clone, Debug, PartialEq)]
pub enum ExternType {
    Func(FuncType),
    Table {
        element: ValType,
        minimum: u32,
        maximum: Option<u32>,
    },
    Memory {
        minimum: u64,
        maximum: Option<u64>,
    },
    Global {
        ty: ValType,
        mutable: bool,
    },
}

fn extern_type(info: &ModuleInfo, e: EntityIndex) -> ExternType {
    match e {
        EntityIndex::Function(f) => ExternType::Func(FuncType::from_wasm(info.func_type(f))),
        EntityIndex::Table(t) => {
            let t = &info.tables[t.index()];
            ExternType::Table {
                element: ValType::from_wasm(&WasmValType::Ref(t.wasm_ty)),
                minimum: t.minimum,
                maximum: t.maximum,
            }
        }
        EntityIndex::Memory(m) => {
            let m = &info.memories[m.index()];
            ExternType::Memory {
                minimum: m.minimum,
                maximum: m.maximum,
            }
        }
        EntityIndex::Global(g) => {
            let g = &info.globals[g.index()];
            ExternType::Global {
                ty: ValType::from_wasm(&g.wasm_ty),
                mutable: g.mutability,
            }
        }
    }
}

// ---------------------------------------------------------------- store

static NEXT_STORE_ID: AtomicU64 = AtomicU64::new(1);

struct GlobalObject {
    def: VMGlobalDefinition,
    ty: ValType,
    mutable: bool,
}

impl GlobalObject {
    fn raw(&self) -> usize {
        usize::from_le_bytes(self.def.bytes[..8].try_into().unwrap())
    }
}

impl Drop for GlobalObject {
    fn drop(&mut self) {
        if self.ty == ValType::ExternRef {
            // SAFETY: an externref global owns one count of its value.
            unsafe { externref::drop_raw(self.raw()) };
        }
    }
}

type HostClosure<T> = Arc<dyn Fn(Caller<'_, T>, &[Val], &mut [Val]) -> Result<(), Trap>>;

/// A host function living in a store. `funcref.vmctx` points at the struct
/// itself, which is how the host trampoline finds it.
#[repr(C)]
struct VMHostFunc {
    funcref: VMFuncRef,
    call: unsafe fn(*const VMHostFunc, *mut u8, *mut u128, usize) -> Result<(), Trap>,
    ty: FuncType,
    store: *mut u8,
    closure: Box<dyn std::any::Any>,
}

/// Store-owned objects. Each is boxed because compiled code holds raw
/// pointers to them (vmctx slots, funcrefs): they must never move.
#[allow(clippy::vec_box)]
pub(crate) struct StoreObjects {
    id: u64,
    engine: Engine,
    /// Shared with `DebugInterrupt` handles (which touch only the flag).
    limits: Arc<VMRuntimeLimits>,
    activations: Box<VMExternRefActivationsTable>,
    memories: Vec<Box<MemoryObject>>,
    tables: Vec<(Box<TableObject>, ValType)>,
    globals: Vec<Box<GlobalObject>>,
    instances: Vec<Box<InstanceData>>,
    host_funcs: Vec<Box<VMHostFunc>>,
}

struct StoreInner<T> {
    objects: StoreObjects,
    data: T,
    /// The debug handler; taken out while it runs.
    debug_handler: Option<Box<DebugHandler<T>>>,
}

type DebugHandler<T> = dyn FnMut(&mut DebugStop<'_, T>) -> Result<(), Trap>;

/// Owns everything instances create; `T` is the embedder's data, reachable
/// from host functions through [`Caller`].
pub struct Store<T> {
    inner: Box<StoreInner<T>>,
}

impl<T: 'static> Store<T> {
    pub fn new(engine: &Engine, data: T) -> Self {
        let activations = VMExternRefActivationsTable::new();
        // Not `Send`: only `DebugInterrupt` crosses threads, and it touches
        // nothing but the atomic flag.
        #[allow(clippy::arc_with_non_send_sync)]
        let limits = Arc::new(VMRuntimeLimits {
            stack_limit: std::cell::Cell::new(0),
            debug_flags: std::sync::atomic::AtomicU32::new(0),
            activations: &*activations,
            debug_sites: std::sync::atomic::AtomicPtr::new(std::ptr::null_mut()),
            debug_handler: std::cell::Cell::new(None),
            trap_stops: std::sync::atomic::AtomicBool::new(false),
            debug_site_tables: Default::default(),
        });
        Store {
            inner: Box::new(StoreInner {
                objects: StoreObjects {
                    id: NEXT_STORE_ID.fetch_add(1, Ordering::Relaxed),
                    engine: engine.clone(),
                    limits,
                    activations,
                    memories: Vec::new(),
                    tables: Vec::new(),
                    globals: Vec::new(),
                    instances: Vec::new(),
                    host_funcs: Vec::new(),
                },
                data,
                debug_handler: None,
            }),
        }
    }

    /// Installs the handler that code compiled with debug hooks calls
    /// before each instruction while the debug flag is set (see
    /// [`Store::debug_interrupt`]). The handler may block (the guest waits),
    /// inspect and change the frame, and stop the guest by returning a trap.
    pub fn set_debug_handler(
        &mut self,
        handler: impl FnMut(&mut DebugStop<'_, T>) -> Result<(), Trap> + 'static,
    ) {
        self.inner.debug_handler = Some(Box::new(handler));
        let store = &mut *self.inner as *mut StoreInner<T> as *mut u8;
        self.inner
            .objects
            .limits
            .debug_handler
            .set(Some(crate::runtime::debug::HandlerRef {
                call: call_debug_handler::<T>,
                store,
            }));
    }

    /// A handle that sets or clears the debug flag, from any thread: while
    /// set, debug-hook code calls the handler at every instruction (so a
    /// guest in an endless loop stops within one instruction).
    pub fn debug_interrupt(&self) -> DebugInterrupt {
        DebugInterrupt(self.inner.objects.limits.clone())
    }

    pub fn data(&self) -> &T {
        &self.inner.data
    }

    pub fn data_mut(&mut self) -> &mut T {
        &mut self.inner.data
    }

    pub fn engine(&self) -> &Engine {
        &self.inner.objects.engine
    }

    fn objects(&self) -> &StoreObjects {
        &self.inner.objects
    }

    /// Externrefs currently held by wasm activations, and the number of
    /// collections run so far (for tests and benchmarks).
    pub fn activations_stats(&self) -> (usize, u64) {
        let a = &self.inner.objects.activations;
        (a.len(), a.collections.get())
    }
}

impl<T> Drop for Store<T> {
    fn drop(&mut self) {
        // `DebugInterrupt` handles may keep the limits alive: they must not
        // point at a dead store.
        self.inner.objects.limits.debug_handler.set(None);
    }
}

/// Sets or clears a store's debug flag; `Send` and `Sync`, for a debugger's
/// "pause" from another thread.
#[derive(Clone)]
pub struct DebugInterrupt(Arc<VMRuntimeLimits>);

// SAFETY: the handle only touches atomics (`trap_stops`, `debug_sites`)
// and `debug_site_tables`, behind its mutex; the other
// fields are only used by the store's own thread. Dropping the last
// reference frees only the site tables, plain memory owned by the mutex.
unsafe impl Send for DebugInterrupt {}
// SAFETY: as above.
unsafe impl Sync for DebugInterrupt {}

impl DebugInterrupt {
    /// Makes every hook site call the handler (steps, pause), or only
    /// those switched on with [`Self::set_site`].
    pub fn set(&self, on: bool) {
        self.0.debug_site_tables.set_all(on);
    }

    /// Makes the hook site at module offset `offset` call the handler
    /// (a breakpoint), whatever [`Self::set`] says. In a store with
    /// several modules compiled with hooks, the switch is shared by the
    /// sites at that offset of each: the handler sees which one stopped.
    pub fn set_site(&self, offset: u32, on: bool) {
        self.0.debug_site_tables.set(offset, on);
    }

    /// Turns every site switch off.
    pub fn clear_sites(&self) {
        self.0.debug_site_tables.clear();
    }

    pub fn is_set(&self) -> bool {
        self.0.debug_site_tables.all()
    }

    /// Whether a trap in debug-hook code calls the handler (with
    /// [`DebugStop::trap`] set) before the stack unwinds. Off by default.
    pub fn set_trap_stops(&self, on: bool) {
        self.0.trap_stops.store(on, Ordering::SeqCst);
    }
}

/// The paused instruction, as the debug handler sees it.
pub struct DebugStop<'a, T> {
    raw: &'a mut crate::runtime::debug::RawStop,
    instance: &'a InstanceData,
    caller: Caller<'a, T>,
}

impl<'a, T> DebugStop<'a, T> {
    pub fn func_index(&self) -> u32 {
        self.raw.func_index
    }

    /// Module offset of the instruction about to run (or that trapped).
    pub fn wasm_offset(&self) -> u32 {
        self.raw.wasm_offset
    }

    /// The trap of the instruction at [`Self::wasm_offset`], for a stop
    /// made before a trap unwinds (see [`DebugInterrupt::set_trap_stops`]).
    /// Resuming lets the trap go on.
    pub fn trap(&self) -> Option<crate::TrapCode> {
        self.raw.trap
    }

    /// The binary of the paused function's module.
    pub fn module_binary(&self) -> &[u8] {
        &self.instance.wasm
    }

    pub fn module_info(&self) -> &ModuleInfo {
        &self.instance.info
    }

    /// The wasm types of the paused function's locals (parameters first).
    pub fn local_types(&self) -> Vec<ValType> {
        self.local_types_of(self.raw.func_index)
    }

    fn local_types_of(&self, func_index: u32) -> Vec<ValType> {
        let info = &self.instance.info;
        let func = cranelift_wasm::FuncIndex::from_u32(func_index);
        let mut out: Vec<ValType> = info
            .func_type(func)
            .params()
            .iter()
            .map(ValType::from_wasm)
            .collect();
        let defined = func_index as usize - info.num_imported_funcs;
        let body = wasmparser::Parser::new(0)
            .parse_all(&self.instance.wasm)
            .filter_map(|p| match p {
                Ok(wasmparser::Payload::CodeSectionEntry(b)) => Some(b),
                _ => None,
            })
            .nth(defined);
        if let Some(locals) = body.and_then(|b| b.get_locals_reader().ok()) {
            for l in locals.into_iter().flatten() {
                let ty = match l.1 {
                    wasmparser::ValType::I32 => ValType::I32,
                    wasmparser::ValType::I64 => ValType::I64,
                    wasmparser::ValType::F32 => ValType::F32,
                    wasmparser::ValType::F64 => ValType::F64,
                    wasmparser::ValType::V128 => ValType::V128,
                    wasmparser::ValType::Ref(r) if r.is_extern_ref() => ValType::ExternRef,
                    wasmparser::ValType::Ref(_) => ValType::FuncRef,
                };
                out.extend(std::iter::repeat_n(ty, l.0 as usize));
            }
        }
        out
    }

    fn slots(&self) -> &[u128] {
        let n = self.raw.num_locals as usize;
        if n == 0 {
            return &[];
        }
        // SAFETY: the hook's contract: `slots` has this many entries and
        // lives until the hook returns, which outlives `self`.
        unsafe { std::slice::from_raw_parts(self.raw.slots, n) }
    }

    /// Whether the paused code is `DebugLocals::Live` code (its registers
    /// are saved, its locals are where the optimized code keeps them).
    fn is_live(&self) -> bool {
        !self.raw.regs.is_null()
    }

    /// The locals' current values, parameters first. `None`: the
    /// optimized code keeps no copy of that local's value here (only with
    /// `DebugLocals::Live`: it is dead, or was folded into the code).
    pub fn locals(&self) -> Vec<Option<Val>> {
        let types = self.local_types();
        if !self.is_live() {
            let id = self.caller.objects.id;
            return types
                .into_iter()
                .zip(self.slots())
                .map(|(t, raw)| Val::from_raw(*raw, t, id).ok())
                .collect();
        }
        // SAFETY: `regs` is the trampoline's save area, alive until the
        // handler returns, which outlives `self`.
        let regs = RegFile::of(unsafe { &mut *self.raw.regs });
        self.live_locals(&types, self.raw.pc, self.raw.fp, &regs)
    }

    /// Locals of the live-debug frame at `fp` whose last completed
    /// instruction ends at `pc`, given its registers.
    fn live_locals(
        &self,
        types: &[ValType],
        pc: usize,
        fp: usize,
        regs: &RegFile,
    ) -> Vec<Option<Val>> {
        let id = self.caller.objects.id;
        let Some((start, live)) = crate::trap::live_debug_of(pc - 1) else {
            return vec![None; types.len()];
        };
        let off = (pc - start) as u32;
        types
            .iter()
            .enumerate()
            .map(|(i, &t)| {
                // Kept locals are read from the home slot: exact at every
                // stop.
                if let Some(addr) = kept_local_addr(&live, i as u32, pc, fp) {
                    let mut bytes = [0u8; 16];
                    // SAFETY: live code stores each kept local in its home
                    // slot entry at entry and at every set
                    // (`FuncEnv::mirror_local`).
                    unsafe {
                        std::ptr::copy_nonoverlapping(
                            addr as *const u8,
                            bytes.as_mut_ptr(),
                            val_size(t),
                        )
                    };
                    return Val::from_raw(u128::from_le_bytes(bytes), t, id).ok();
                }
                let raw = match live.loc_of(i as u32, off)? {
                    ValueLoc::Gpr(r) => u128::from(regs.gpr[r as usize & 15]?),
                    ValueLoc::Vec(r) => {
                        let [lo, hi] = regs.vec[r as usize & 15]?;
                        u128::from(lo) | u128::from(hi) << 64
                    }
                    ValueLoc::Cfa(o) => {
                        let addr = (fp + 16).checked_add_signed(o as isize)?;
                        let mut bytes = [0u8; 16];
                        let n = val_size(t);
                        // SAFETY: Cranelift's value-label ranges place the
                        // value in this live frame's spill area, `n` bytes.
                        unsafe {
                            std::ptr::copy_nonoverlapping(addr as *const u8, bytes.as_mut_ptr(), n)
                        };
                        u128::from_le_bytes(bytes)
                    }
                };
                Val::from_raw(raw, t, id).ok()
            })
            .collect()
    }

    /// Changes a local of a number or vector type; it takes effect when
    /// the guest resumes. With `DebugLocals::Live`, only a local the code
    /// keeps in a place of its own here can change.
    pub fn set_local(&mut self, index: u32, value: Val) -> Result<(), Error> {
        let types = self.local_types();
        let Some(&ty) = types.get(index as usize) else {
            return Err(Error::Type(format!("no local {index}")));
        };
        if matches!(ty, ValType::FuncRef | ValType::ExternRef) {
            return Err(Error::Type(
                "references cannot be set from the debugger".into(),
            ));
        }
        if self.raw.trap.is_some() {
            return Err(Error::Type(
                "the function has trapped: its locals can no longer change".into(),
            ));
        }
        if !self.raw.writable {
            return Err(Error::Type(
                "this function has too many locals to change them from the debugger".into(),
            ));
        }
        if value.ty() != ty {
            return Err(Error::Type(format!(
                "local {index} is {ty}, not {}",
                value.ty()
            )));
        }
        let raw = value.to_raw(self.caller.objects.id)?;
        if self.is_live() {
            return self.set_live_local(index, types.len() as u32, ty, raw);
        }
        // SAFETY: `index` < num_locals (checked against the types, whose
        // length is the function's local count); see `slots`.
        unsafe { *self.raw.slots.add(index as usize) = raw };
        Ok(())
    }

    fn set_live_local(
        &mut self,
        index: u32,
        count: u32,
        ty: ValType,
        raw: u128,
    ) -> Result<(), Error> {
        let pc = self.raw.pc;
        let (start, live) = crate::trap::live_debug_of(pc - 1)
            .ok_or_else(|| Error::Type("no debug facts for the paused code".into()))?;
        let off = (pc - start) as u32;
        let loc = live.loc_of(index, off).ok_or_else(|| {
            Error::Type(format!(
                "local {index} has no value here: the optimized code no longer keeps it"
            ))
        })?;
        if let Some(other) = (0..count).find(|&j| j != index && live.loc_of(j, off) == Some(loc)) {
            return Err(Error::Type(format!(
                "local {index} shares its place with local {other} here: it cannot change alone"
            )));
        }
        // SAFETY: see `locals`.
        let regs = unsafe { &mut *self.raw.regs };
        match loc {
            ValueLoc::Gpr(r) => {
                *regs.gpr(r).ok_or_else(|| {
                    Error::Type(format!("local {index} is in the stack pointer"))
                })? = raw as u64
            }
            ValueLoc::Vec(r) => {
                if let Some(v) = regs.vec(r) {
                    *v = [raw as u64, (raw >> 64) as u64];
                }
            }
            ValueLoc::Cfa(o) => {
                let addr = (self.raw.fp + 16)
                    .checked_add_signed(o as isize)
                    .ok_or_else(|| Error::Type("bad stack offset".into()))?;
                let bytes = raw.to_le_bytes();
                // SAFETY: as in `live_locals`: the value's spill slot in
                // the paused frame, `val_size(ty)` bytes.
                unsafe {
                    std::ptr::copy_nonoverlapping(bytes.as_ptr(), addr as *mut u8, val_size(ty))
                };
            }
        }
        if let Some(addr) = kept_local_addr(&live, index, pc, self.raw.fp) {
            let bytes = raw.to_le_bytes();
            // SAFETY: as in `live_locals`: the kept local's home-slot entry.
            unsafe { std::ptr::copy_nonoverlapping(bytes.as_ptr(), addr as *mut u8, val_size(ty)) };
        }
        Ok(())
    }

    /// The paused frame, then its callers, innermost first.
    pub fn frames(&self) -> Vec<crate::FrameInfo> {
        let info = &self.instance.info;
        let func = cranelift_wasm::FuncIndex::from_u32(self.raw.func_index);
        let mut out = vec![crate::FrameInfo {
            module_name: info.name.clone(),
            func_index: self.raw.func_index,
            func_name: info.func_name(func).map(str::to_string),
            wasm_offset: Some(self.raw.wasm_offset),
            func_offset: None,
        }];
        let mut fp = self.raw.fp;
        while fp != 0 && out.len() < 10_000 {
            // SAFETY: wasm frames keep the caller's frame pointer at [fp] and
            // the return address at [fp + 8]; the chain starts at the paused
            // wasm frame and we stop at the first non-wasm return address.
            let ret = unsafe { *((fp + 8) as *const usize) };
            if !crate::trap::is_wasm_pc(ret - 1) {
                break;
            }
            if let Some(f) = crate::trap::frame_info(ret, true) {
                out.push(f);
            }
            // SAFETY: as above.
            fp = unsafe { *(fp as *const usize) };
        }
        out
    }

    /// The paused instance's globals in index order (imported first):
    /// type, mutability and value.
    pub fn globals(&self) -> Vec<(ValType, bool, Val)> {
        let objects = &*self.caller.objects;
        self.instance
            .globals
            .iter()
            .map(|&g| {
                let o = &objects.globals[g as usize];
                (o.ty, o.mutable, objects.global_get(g))
            })
            .collect()
    }

    /// Changes a mutable global of the paused instance.
    pub fn set_global(&mut self, index: u32, value: Val) -> Result<(), Error> {
        let Some(&g) = self.instance.globals.get(index as usize) else {
            return Err(Error::Type(format!("no global {index}")));
        };
        self.caller.objects.global_set(g, value)
    }

    /// The bytes of the paused instance's memory `index` (`None` when it
    /// has none); writes are seen by the guest when it resumes.
    pub fn memory(&mut self, index: u32) -> Option<&mut [u8]> {
        let &m = self.instance.memories.get(index as usize)?;
        Some(self.caller.objects.memories[m as usize].data_mut())
    }

    /// Read-only view of the paused instance's memory `index`.
    pub fn memory_bytes(&self, index: u32) -> Option<&[u8]> {
        let &m = self.instance.memories.get(index as usize)?;
        Some(self.caller.objects.memories[m as usize].data())
    }

    /// The paused instance's tables: element type and current size.
    pub fn tables(&self) -> Vec<(ValType, u32)> {
        let objects = &*self.caller.objects;
        self.instance
            .tables
            .iter()
            .map(|&t| {
                let (o, ty) = &objects.tables[t as usize];
                (*ty, o.size())
            })
            .collect()
    }

    /// Entry `index` of the paused instance's table `table`.
    pub fn table_get(&self, table: u32, index: u32) -> Option<Val> {
        let &t = self.instance.tables.get(table as usize)?;
        let (o, ty) = &self.caller.objects.tables[t as usize];
        let raw = *o.elements().get(index as usize)?;
        Val::from_raw(raw as u128, *ty, self.caller.objects.id).ok()
    }

    /// The index of `func` in the paused instance's function space, when
    /// it is one of the instance's own or imported functions.
    pub fn func_index_of(&self, func: &Func) -> Option<u32> {
        let n = self.instance.info.functions.len() as u32;
        (0..n).find(|&i| {
            self.instance
                .funcref_ptr(cranelift_wasm::FuncIndex::from_u32(i))
                == func.ptr
        })
    }

    /// The locals of frame `depth` (0 = the paused frame, then its callers
    /// as `frames` lists them); `None` for frames of another module or past
    /// the last wasm frame. Callers' locals are read-only: with
    /// `DebugLocals::Mirrored` they come from each frame's home slots, with
    /// `DebugLocals::Live` from where each frame keeps them, its registers
    /// recovered from the callee-saved registers its callees saved.
    pub fn frame_locals(&self, depth: usize) -> Option<Vec<Option<Val>>> {
        if depth == 0 {
            return Some(self.locals());
        }
        let mut regs = if self.is_live() {
            // SAFETY: see `locals`.
            Some(RegFile::of(unsafe { &mut *self.raw.regs }))
        } else {
            None
        };
        let mut fp = self.raw.fp;
        let mut pc = self.raw.pc;
        for level in 1..=depth {
            if fp == 0 {
                return None;
            }
            if let Some(regs) = regs.as_mut() {
                let (_, live) = crate::trap::live_debug_of(pc - 1)?;
                regs.unwind(fp, &live);
            }
            // SAFETY: as in `frames`: the wasm frame chain from the paused
            // frame, [fp] the caller's FP and [fp + 8] the return address.
            let ret = unsafe { *((fp + 8) as *const usize) };
            if !crate::trap::is_wasm_pc(ret - 1) {
                return None;
            }
            // SAFETY: as above.
            fp = unsafe { *(fp as *const usize) };
            pc = ret;
            if level == depth {
                return match &regs {
                    Some(regs) => {
                        let module = crate::trap::frame_info(ret, true)?;
                        let types = self.local_types_of(module.func_index);
                        Some(self.live_locals(&types, ret, fp, regs))
                    }
                    None => self.locals_at(fp, ret),
                };
            }
        }
        None
    }

    /// The locals of the wasm frame whose frame pointer is `fp` and which
    /// is running at return address `ret`.
    fn locals_at(&self, fp: usize, ret: usize) -> Option<Vec<Option<Val>>> {
        let (delta, num_locals, module) = crate::trap::debug_locals_at(ret)?;
        if !module.is_some_and(|m| Arc::ptr_eq(&m, &self.instance.info)) {
            return None;
        }
        let func_index = crate::trap::frame_info(ret, true)?.func_index;
        let types = self.local_types_of(func_index);
        if types.len() != num_locals as usize {
            return None;
        }
        let slots = fp.checked_sub(delta as usize)? as *const u128;
        let id = self.caller.objects.id;
        Some(
            types
                .into_iter()
                .enumerate()
                // SAFETY: a debug-hook frame keeps `num_locals` 16-byte
                // home slots `delta` bytes below its frame pointer (see
                // `compile::CompiledFunction::debug_locals`), written at
                // entry; the frame is live (we are called from a callee).
                .map(|(i, t)| Val::from_raw(unsafe { *slots.add(i) }, t, id).ok())
                .collect(),
        )
    }

    /// The store: memories, globals, tables, exports and the embedder's data.
    pub fn caller(&mut self) -> &mut Caller<'a, T> {
        &mut self.caller
    }
}

/// A frame's registers, as far as they are known: all of them in the
/// paused frame, the callee-saved ones in its callers.
#[derive(Clone)]
struct RegFile {
    gpr: [Option<u64>; 16],
    vec: [Option<[u64; 2]>; 16],
}

impl RegFile {
    fn of(saved: &mut crate::runtime::debug::SavedRegs) -> Self {
        RegFile {
            gpr: std::array::from_fn(|i| saved.gpr(i as u8).map(|r| *r)),
            vec: std::array::from_fn(|i| saved.vec(i as u8).map(|v| *v)),
        }
    }

    /// From the live-debug frame at `fp` to its caller: the registers its
    /// prologue saved are the caller's; the caller-saved ones (and every
    /// vector register, under the System V ABI) hold nothing of the caller
    /// at a call.
    fn unwind(&mut self, fp: usize, live: &crate::compile::LiveDebug) {
        let cfa = fp + 16;
        for &(reg, off) in &live.saved_regs {
            if let Some(addr) = cfa.checked_add_signed(off as isize) {
                // SAFETY: the frame's prologue saved `reg` there, and the
                // frame is live (a callee of it is paused).
                self.gpr[reg as usize & 15] = Some(unsafe { *(addr as *const u64) });
            }
        }
        for caller_saved in [0, 1, 2, 6, 7, 8, 9, 10, 11] {
            self.gpr[caller_saved] = None;
        }
        self.vec = [None; 16];
        // SAFETY: the frame's saved frame pointer.
        self.gpr[5] = Some(unsafe { *(fp as *const u64) });
    }
}

/// Bytes a value of type `ty` takes in a spill slot.
/// The address of kept local `local` (see `LiveDebug::kept_offset`) of the
/// live frame at `fp` paused at `pc`, if it is kept.
/// `FunctionDebugInfo::local_slots` from the compiler's facts: the home
/// slot sits `delta` below the frame pointer; `Mirrored` code keeps local
/// `i` at `16 * i`, `Live` code keeps its kept locals after the vmctx.
fn local_slots(
    debug_locals: &Option<(u32, u32)>,
    live: Option<&crate::compile::LiveDebug>,
) -> Vec<(u32, i32)> {
    let Some((delta, num_locals)) = *debug_locals else {
        return Vec::new();
    };
    let base = -(delta as i32);
    let mut out: Vec<(u32, i32)> = match live {
        Some(live) => live
            .kept
            .iter()
            .filter_map(|&l| Some((l, base + live.kept_offset(l)? as i32)))
            .collect(),
        None => (0..num_locals).map(|i| (i, base + 16 * i as i32)).collect(),
    };
    out.sort_unstable();
    out
}

fn kept_local_addr(
    live: &crate::compile::LiveDebug,
    local: u32,
    pc: usize,
    fp: usize,
) -> Option<usize> {
    let (delta, _) = crate::trap::debug_locals_of(pc - 1)?;
    Some(fp.checked_sub(delta as usize)? + live.kept_offset(local)?)
}

fn val_size(ty: ValType) -> usize {
    match ty {
        ValType::I32 | ValType::F32 => 4,
        ValType::V128 => 16,
        _ => 8,
    }
}

/// The monomorphic entry of `Store::<T>::set_debug_handler`'s handler.
///
/// # Safety
/// `store` is the live `StoreInner<T>` that installed the handler, called
/// from its own thread while wasm runs (no other borrow is active).
unsafe fn call_debug_handler<T>(
    store: *mut u8,
    raw: &mut crate::runtime::debug::RawStop,
) -> Result<(), Trap> {
    // SAFETY: per the contract.
    let store = unsafe { &mut *(store as *mut StoreInner<T>) };
    let Some(mut handler) = store.debug_handler.take() else {
        return Ok(());
    };
    // SAFETY: the hook's vmctx is a live instance's.
    let instance = unsafe { InstanceData::from_vmctx(raw.vmctx) };
    let index = instance.index;
    let mut stop = DebugStop {
        raw,
        instance,
        caller: Caller {
            objects: &mut store.objects,
            data: &mut store.data,
            instance: Some(index),
        },
    };
    let result = handler(&mut stop);
    if store.debug_handler.is_none() {
        store.debug_handler = Some(handler);
    }
    result
}

/// What a host function sees of its caller.
pub struct Caller<'a, T> {
    objects: &'a mut StoreObjects,
    data: &'a mut T,
    instance: Option<u32>,
}

impl<T> Caller<'_, T> {
    pub fn data(&self) -> &T {
        self.data
    }

    pub fn data_mut(&mut self) -> &mut T {
        self.data
    }

    /// An export of the calling instance (WASI uses its `memory`).
    pub fn get_export(&self, name: &str) -> Option<Extern> {
        let inst = self.instance?;
        instance_export(self.objects, inst, name)
    }

    /// The bytes of a memory, with the embedder's data.
    pub fn memory_and_data(&mut self, memory: Memory) -> (&mut [u8], &mut T) {
        assert_eq!(memory.store_id, self.objects.id, "memory of another store");
        (
            self.objects.memories[memory.index as usize].data_mut(),
            self.data,
        )
    }
}

// ---------------------------------------------------------------- handles

/// A function: wasm or host, identified by its `VMFuncRef`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Func {
    store_id: u64,
    ptr: *const VMFuncRef,
}

/// A linear memory of a store.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Memory {
    store_id: u64,
    index: u32,
}

/// A table of a store.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Table {
    store_id: u64,
    index: u32,
}

/// A global of a store.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Global {
    store_id: u64,
    index: u32,
}

/// An instance of a store.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Instance {
    store_id: u64,
    index: u32,
}

/// Anything that can be imported or exported.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Extern {
    Func(Func),
    Memory(Memory),
    Table(Table),
    Global(Global),
}

impl Extern {
    pub fn into_func(self) -> Option<Func> {
        match self {
            Extern::Func(f) => Some(f),
            _ => None,
        }
    }
    pub fn into_memory(self) -> Option<Memory> {
        match self {
            Extern::Memory(m) => Some(m),
            _ => None,
        }
    }
    pub fn into_table(self) -> Option<Table> {
        match self {
            Extern::Table(t) => Some(t),
            _ => None,
        }
    }
    pub fn into_global(self) -> Option<Global> {
        match self {
            Extern::Global(g) => Some(g),
            _ => None,
        }
    }
}

fn check_store(objects: &StoreObjects, id: u64) {
    assert_eq!(
        objects.id, id,
        "object used with a store it does not belong to"
    );
}

impl Func {
    fn from_raw(store_id: u64, ptr: usize) -> Option<Func> {
        (ptr != 0).then_some(Func {
            store_id,
            ptr: ptr as *const VMFuncRef,
        })
    }

    fn funcref(&self) -> VMFuncRef {
        // SAFETY: funcrefs live in vmctx blocks or host function boxes owned
        // by the store, which outlives every handle used with it.
        unsafe { *self.ptr }
    }

    /// Creates a host function.
    pub fn new<T: 'static>(
        store: &mut Store<T>,
        ty: FuncType,
        f: impl Fn(Caller<'_, T>, &[Val], &mut [Val]) -> Result<(), Trap> + 'static,
    ) -> Result<Func, Error> {
        let closure: HostClosure<T> = Arc::new(f);
        new_host_func(&mut store.inner, ty, closure)
    }

    pub fn ty<T: 'static>(&self, store: &Store<T>) -> FuncType {
        check_store(store.objects(), self.store_id);
        FuncType::from_wasm(&store.engine().sig_type(self.funcref().type_index))
    }

    /// Calls the function with dynamically typed values.
    pub fn call<T: 'static>(
        &self,
        store: &mut Store<T>,
        params: &[Val],
        results: &mut [Val],
    ) -> Result<(), Error> {
        check_store(store.objects(), self.store_id);
        let ty = self.ty(store);
        if params.len() != ty.params.len()
            || params.iter().zip(&ty.params).any(|(v, t)| v.ty() != *t)
        {
            return Err(Error::Type(format!(
                "expected arguments ({}), got ({})",
                ty.params
                    .iter()
                    .map(|t| t.to_string())
                    .collect::<Vec<_>>()
                    .join(", "),
                params
                    .iter()
                    .map(|v| v.ty().to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            )));
        }
        if results.len() != ty.results.len() {
            return Err(Error::Type(format!(
                "function returns {} values, {} slots given",
                ty.results.len(),
                results.len()
            )));
        }
        let id = self.store_id;
        let mut raw = vec![0u128; params.len().max(results.len()).max(1)];
        for (slot, v) in raw.iter_mut().zip(params) {
            *slot = v.to_raw(id)?;
            if let Val::ExternRef(Some(r)) = v {
                // The activation keeps the argument alive while wasm runs.
                store.inner.objects.activations.insert(r.0.clone());
            }
        }
        let fr = self.funcref();
        let tramp = store.engine().trampolines(fr.type_index)?;
        let limits: *const VMRuntimeLimits = &*store.inner.objects.limits;
        let max_stack = store.engine().config().max_wasm_stack;
        let values = raw.as_mut_ptr();
        let outermost = store.inner.objects.limits.stack_limit.get() == 0;
        // SAFETY: `limits` is owned by the store, alive for this call.
        let r = traphandlers::catch_traps(unsafe { &*limits }, max_stack, &mut || {
            // SAFETY: the trampoline matches the function's signature; `values`
            // has room for every parameter and result.
            unsafe { (tramp.entry)(fr.wasm_call, fr.vmctx, std::ptr::null_mut(), values) }
        });
        // Results take their own counts before the activations are released.
        let converted: Result<Vec<Val>, Error> = if r.is_ok() {
            raw.iter()
                .zip(&ty.results)
                .map(|(slot, t)| Val::from_raw(*slot, *t, id))
                .collect()
        } else {
            Ok(Vec::new())
        };
        if outermost {
            store.inner.objects.activations.reset();
        }
        match r {
            Ok(()) => {}
            Err(Unwind::Wasm { code, frames }) => {
                return Err(Error::Trap(Trap {
                    reason: TrapReason::Wasm(code),
                    backtrace: frames,
                }))
            }
            Err(Unwind::Host { mut trap, frames }) => {
                trap.backtrace = frames;
                return Err(Error::Trap(trap));
            }
            Err(Unwind::Panic(p)) => std::panic::resume_unwind(p),
        }
        for (r, v) in results.iter_mut().zip(converted?) {
            *r = v;
        }
        Ok(())
    }

    /// A typed view of the function; fails if the types differ.
    pub fn typed<P: WasmParams, R: WasmResults, T: 'static>(
        &self,
        store: &Store<T>,
    ) -> Result<TypedFunc<P, R>, Error> {
        let ty = self.ty(store);
        if ty.params != P::types() || ty.results != R::types() {
            return Err(Error::Type(format!(
                "function type is {ty}, not {}",
                FuncType::new(P::types(), R::types())
            )));
        }
        Ok(TypedFunc {
            func: *self,
            _marker: std::marker::PhantomData,
        })
    }
}

fn new_host_func<T: 'static>(
    store: &mut StoreInner<T>,
    ty: FuncType,
    closure: HostClosure<T>,
) -> Result<Func, Error> {
    let engine = store.objects.engine.clone();
    let sig = engine.sig_id(&ty.to_wasm());
    let tramp = engine.trampolines(sig)?;
    let store_ptr = store as *mut StoreInner<T> as *mut u8;
    let mut host = Box::new(VMHostFunc {
        funcref: VMFuncRef {
            wasm_call: tramp.host,
            vmctx: std::ptr::null_mut(),
            type_index: sig,
        },
        call: call_host::<T>,
        ty,
        store: store_ptr,
        closure: Box::new(closure),
    });
    host.funcref.vmctx = &mut *host as *mut VMHostFunc as *mut u8;
    let ptr = &host.funcref as *const VMFuncRef;
    store.objects.host_funcs.push(host);
    Ok(Func {
        store_id: store.objects.id,
        ptr,
    })
}

/// Runs a host closure with arguments from a `ValRaw` array.
///
/// # Safety
/// `host` must be a live `VMHostFunc` created for a `StoreInner<T>`;
/// `values` must hold its parameters and have room for its results.
unsafe fn call_host<T: 'static>(
    host: *const VMHostFunc,
    caller_vmctx: *mut u8,
    values: *mut u128,
    fp: usize,
) -> Result<(), Trap> {
    // SAFETY: per the contract. The store is not otherwise accessed while
    // wasm code runs: the embedder's `&mut Store` is parked in `Func::call`.
    let (host, store) = unsafe {
        (
            &*host,
            &mut *(host.as_ref().unwrap().store as *mut StoreInner<T>),
        )
    };
    let closure = host
        .closure
        .downcast_ref::<HostClosure<T>>()
        .expect("host closure of the store's type")
        .clone();
    let id = store.objects.id;
    let mut params = Vec::with_capacity(host.ty.params.len());
    for (i, t) in host.ty.params.iter().enumerate() {
        // SAFETY: `values` holds one slot per parameter.
        let raw = unsafe { *values.add(i) };
        params.push(Val::from_raw(raw, *t, id).map_err(|e| Trap::host(e.to_string()))?);
    }
    let mut results: Vec<Val> = host
        .ty
        .results
        .iter()
        .map(|t| Val::default_for(*t).unwrap_or(Val::I32(0)))
        .collect();
    let instance = if caller_vmctx.is_null() {
        None
    } else {
        // SAFETY: a non-null caller vmctx is a live instance's.
        Some(unsafe { InstanceData::from_vmctx(caller_vmctx) }.index)
    };
    store.objects.activations.enter_host(fp);
    let caller = Caller {
        objects: &mut store.objects,
        data: &mut store.data,
        instance,
    };
    let outcome = closure(caller, &params, &mut results);
    drop(params);
    let outcome = outcome.and_then(|()| {
        for (i, (v, t)) in results.iter().zip(&host.ty.results).enumerate() {
            if v.ty() != *t {
                return Err(Trap::host(format!(
                    "host function returned {} where {} was expected",
                    v.ty(),
                    t
                )));
            }
            let raw = v.to_raw(id).map_err(|e| Trap::host(e.to_string()))?;
            if let Val::ExternRef(Some(r)) = v {
                // The result enters wasm frames: an activation owns it.
                store.objects.activations.insert(r.0.clone());
            }
            // SAFETY: `values` has room for every result.
            unsafe { *values.add(i) = raw };
        }
        Ok(())
    });
    store.objects.activations.leave_host();
    outcome
}

/// Called by every host trampoline. Never returns by unwinding: errors and
/// panics leave through `traphandlers::raise`.
unsafe extern "C" fn host_call(
    callee_vmctx: *mut u8,
    caller_vmctx: *mut u8,
    values: *mut u128,
    fp: usize,
) {
    let host = callee_vmctx as *const VMHostFunc;
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        // SAFETY: host trampolines are only reachable through a VMHostFunc's
        // funcref, whose vmctx is the VMHostFunc.
        unsafe { ((*host).call)(host, caller_vmctx, values, fp) }
    }));
    let reason = match result {
        Ok(Ok(())) => return,
        Ok(Err(trap)) => RaiseReason::Trap(trap),
        Err(panic) => RaiseReason::Panic(panic),
    };
    // SAFETY: we are called from a host trampoline (frame pointer `fp`) inside
    // `catch_traps`; `reason` is moved into the call state and this frame holds
    // nothing else that needs dropping.
    unsafe { traphandlers::raise(reason, fp) }
}

const _: () = assert!(VAL_RAW_SIZE == std::mem::size_of::<u128>());

impl Memory {
    /// Creates a memory owned by the store.
    pub fn new<T: 'static>(
        store: &mut Store<T>,
        minimum: u64,
        maximum: Option<u64>,
    ) -> Result<Memory, Error> {
        let m = MemoryObject::new(minimum, maximum).map_err(Error::Instantiate)?;
        let objs = &mut store.inner.objects;
        objs.memories.push(m);
        Ok(Memory {
            store_id: objs.id,
            index: objs.memories.len() as u32 - 1,
        })
    }

    pub fn data<'a, T: 'static>(&self, store: &'a Store<T>) -> &'a [u8] {
        check_store(store.objects(), self.store_id);
        store.objects().memories[self.index as usize].data()
    }

    pub fn data_mut<'a, T: 'static>(&self, store: &'a mut Store<T>) -> &'a mut [u8] {
        check_store(store.objects(), self.store_id);
        store.inner.objects.memories[self.index as usize].data_mut()
    }

    pub fn size_pages<T: 'static>(&self, store: &Store<T>) -> u64 {
        check_store(store.objects(), self.store_id);
        store.objects().memories[self.index as usize].pages()
    }

    /// Grows by `delta` pages; returns the old size, or `None` past the maximum.
    pub fn grow<T: 'static>(&self, store: &mut Store<T>, delta: u64) -> Option<u64> {
        check_store(store.objects(), self.store_id);
        store.inner.objects.memories[self.index as usize].grow(delta)
    }

    pub fn ty<T: 'static>(&self, store: &Store<T>) -> ExternType {
        let m = &store.objects().memories[self.index as usize];
        ExternType::Memory {
            minimum: m.pages(),
            maximum: m.maximum_pages,
        }
    }
}

impl Table {
    /// Creates a table owned by the store, filled with `init`.
    pub fn new<T: 'static>(
        store: &mut Store<T>,
        element: ValType,
        minimum: u32,
        maximum: Option<u32>,
        init: Val,
    ) -> Result<Table, Error> {
        let id = store.inner.objects.id;
        if init.ty() != element {
            return Err(Error::Type(format!(
                "table of {element} initialized with {}",
                init.ty()
            )));
        }
        let raw = init.to_raw(id)? as usize;
        let externref = element == ValType::ExternRef;
        let mut t = TableObject::new(minimum, maximum, 0, externref).map_err(Error::Instantiate)?;
        for i in 0..minimum as usize {
            t.set(i, raw);
        }
        let objs = &mut store.inner.objects;
        objs.tables.push((t, element));
        Ok(Table {
            store_id: id,
            index: objs.tables.len() as u32 - 1,
        })
    }

    pub fn size<T: 'static>(&self, store: &Store<T>) -> u32 {
        check_store(store.objects(), self.store_id);
        store.objects().tables[self.index as usize].0.size()
    }

    pub fn get<T: 'static>(&self, store: &Store<T>, index: u32) -> Option<Val> {
        check_store(store.objects(), self.store_id);
        let (t, ty) = &store.objects().tables[self.index as usize];
        let raw = *t.elements().get(index as usize)?;
        Val::from_raw(raw as u128, *ty, self.store_id).ok()
    }

    /// Stores `val` in slot `index`; fails out of bounds or on a type mismatch.
    pub fn set<T: 'static>(&self, store: &mut Store<T>, index: u32, val: Val) -> Result<(), Error> {
        check_store(store.objects(), self.store_id);
        let id = self.store_id;
        let (t, ty) = &mut store.inner.objects.tables[self.index as usize];
        if val.ty() != *ty {
            return Err(Error::Type(format!("table holds {ty}, not {}", val.ty())));
        }
        if index >= t.size() {
            return Err(Error::Type(format!(
                "table index {index} out of bounds (size {})",
                t.size()
            )));
        }
        t.set(index as usize, val.to_raw(id)? as usize);
        Ok(())
    }

    pub fn ty<T: 'static>(&self, store: &Store<T>) -> ExternType {
        let (t, ty) = &store.objects().tables[self.index as usize];
        ExternType::Table {
            element: *ty,
            minimum: t.size(),
            maximum: t.maximum,
        }
    }
}

impl Global {
    pub fn new<T: 'static>(store: &mut Store<T>, val: Val, mutable: bool) -> Result<Global, Error> {
        let id = store.inner.objects.id;
        let raw = val.to_raw(id)?;
        if val.ty() == ValType::ExternRef {
            crate::runtime::vm::retain(raw as usize);
        }
        let objs = &mut store.inner.objects;
        objs.globals.push(Box::new(GlobalObject {
            def: VMGlobalDefinition {
                bytes: raw.to_le_bytes(),
            },
            ty: val.ty(),
            mutable,
        }));
        Ok(Global {
            store_id: id,
            index: objs.globals.len() as u32 - 1,
        })
    }

    pub fn get<T: 'static>(&self, store: &Store<T>) -> Val {
        check_store(store.objects(), self.store_id);
        store.objects().global_get(self.index)
    }

    pub fn set<T: 'static>(&self, store: &mut Store<T>, val: Val) -> Result<(), Error> {
        check_store(store.objects(), self.store_id);
        store.inner.objects.global_set(self.index, val)
    }

    pub fn ty<T: 'static>(&self, store: &Store<T>) -> ExternType {
        let g = &store.objects().globals[self.index as usize];
        ExternType::Global {
            ty: g.ty,
            mutable: g.mutable,
        }
    }
}

impl StoreObjects {
    fn global_get(&self, index: u32) -> Val {
        let g = &self.globals[index as usize];
        Val::from_raw(u128::from_le_bytes(g.def.bytes), g.ty, self.id).unwrap_or(Val::I32(0))
    }

    fn global_set(&mut self, index: u32, val: Val) -> Result<(), Error> {
        let id = self.id;
        let g = &mut self.globals[index as usize];
        if !g.mutable {
            return Err(Error::Type("global is immutable".into()));
        }
        if val.ty() != g.ty {
            return Err(Error::Type(format!(
                "global holds {}, not {}",
                g.ty,
                val.ty()
            )));
        }
        let raw = val.to_raw(id)?;
        if g.ty == ValType::ExternRef {
            crate::runtime::vm::retain(raw as usize);
            // SAFETY: the global owned one count of its old value.
            unsafe { externref::drop_raw(g.raw()) };
        }
        g.def.bytes = raw.to_le_bytes();
        Ok(())
    }
}

// ---------------------------------------------------------------- instances

fn extern_of(objects: &StoreObjects, inst: &InstanceData, e: EntityIndex) -> Extern {
    let id = objects.id;
    match e {
        EntityIndex::Function(f) => Extern::Func(Func {
            store_id: id,
            ptr: inst.funcref_ptr(f),
        }),
        EntityIndex::Memory(m) => Extern::Memory(Memory {
            store_id: id,
            index: inst.memories[m.index()],
        }),
        EntityIndex::Table(t) => Extern::Table(Table {
            store_id: id,
            index: inst.tables[t.index()],
        }),
        EntityIndex::Global(g) => Extern::Global(Global {
            store_id: id,
            index: inst.globals[g.index()],
        }),
    }
}

fn instance_export(objects: &StoreObjects, index: u32, name: &str) -> Option<Extern> {
    let inst = &objects.instances[index as usize];
    let e = inst.info.export(name)?;
    Some(extern_of(objects, inst, e))
}

fn limits_match(actual_min: u64, actual_max: Option<u64>, min: u64, max: Option<u64>) -> bool {
    actual_min >= min
        && match max {
            None => true,
            Some(m) => actual_max.is_some_and(|a| a <= m),
        }
}

impl Instance {
    /// Instantiates `module` with `imports` given in the module's import order.
    pub fn new<T: 'static>(
        store: &mut Store<T>,
        module: &Module,
        imports: &[Extern],
    ) -> Result<Instance, Error> {
        let m = &module.inner;
        let info = &m.info;
        if imports.len() != info.imports.len() {
            return Err(Error::Link(format!(
                "module has {} imports, {} given",
                info.imports.len(),
                imports.len()
            )));
        }
        let objs = &mut store.inner.objects;
        let id = objs.id;
        let engine = objs.engine.clone();
        // Hook sites read their switch at their module offset.
        if engine.config().compile.debug_hooks {
            objs.limits
                .debug_site_tables
                .cover(&objs.limits, module.binary().len());
        }
        // Type-check imports first: nothing is created for a module that
        // cannot link.
        for (imp, ext) in info.imports.iter().zip(imports) {
            let ok = match (imp.index, ext) {
                (EntityIndex::Function(f), Extern::Func(func)) => {
                    check_store(objs, func.store_id);
                    func.funcref().type_index == m.sig_ids[info.functions[f.index()].index()]
                }
                (EntityIndex::Memory(mi), Extern::Memory(mem)) => {
                    check_store(objs, mem.store_id);
                    let want = &info.memories[mi.index()];
                    let have = &objs.memories[mem.index as usize];
                    limits_match(have.pages(), have.maximum_pages, want.minimum, want.maximum)
                }
                (EntityIndex::Table(ti), Extern::Table(t)) => {
                    check_store(objs, t.store_id);
                    let want = &info.tables[ti.index()];
                    let (have, ty) = &objs.tables[t.index as usize];
                    *ty == ValType::from_wasm(&WasmValType::Ref(want.wasm_ty))
                        && limits_match(
                            have.size() as u64,
                            have.maximum.map(u64::from),
                            want.minimum as u64,
                            want.maximum.map(u64::from),
                        )
                }
                (EntityIndex::Global(gi), Extern::Global(g)) => {
                    check_store(objs, g.store_id);
                    let want = &info.globals[gi.index()];
                    let have = &objs.globals[g.index as usize];
                    have.ty == ValType::from_wasm(&want.wasm_ty) && have.mutable == want.mutability
                }
                _ => false,
            };
            if !ok {
                return Err(Error::Link(format!(
                    "incompatible import type for `{}::{}`",
                    imp.module, imp.field
                )));
            }
        }

        let offsets = m.offsets.clone();
        let mut vmctx = VMContextAlloc::new(offsets.size());
        vmctx.set_ptr(
            vmoffsets::vmctx::RUNTIME_LIMITS,
            &*objs.limits as *const _ as usize,
        );
        vmctx.set_ptr(
            vmoffsets::vmctx::BUILTINS,
            &*engine.inner.builtins as *const Builtins as usize,
        );
        let mut memories = Vec::new();
        let mut tables = Vec::new();
        let mut globals = Vec::new();

        // Functions first: globals and tables may refer to them.
        let vmctx_ptr = vmctx.as_ptr();
        m.debug_vmctx
            .store(vmctx_ptr as usize, std::sync::atomic::Ordering::Relaxed);
        for (i, ty) in info.functions.iter().enumerate() {
            let fr = if i < info.num_imported_funcs {
                let Extern::Func(f) = imports
                    .iter()
                    .filter(|e| matches!(e, Extern::Func(_)))
                    .nth(i)
                    .copied()
                    .unwrap()
                else {
                    unreachable!()
                };
                f.funcref()
            } else {
                VMFuncRef {
                    wasm_call: m.func_starts[i - info.num_imported_funcs] as *const u8,
                    vmctx: vmctx_ptr,
                    type_index: m.sig_ids[ty.index()],
                }
            };
            let off = offsets.funcref(i as u32) as usize;
            // SAFETY: `off` is the slot of function i inside the vmctx block.
            unsafe { (vmctx_ptr.add(off) as *mut VMFuncRef).write(fr) };
        }
        for ext in imports {
            match ext {
                Extern::Memory(mem) => memories.push(mem.index),
                Extern::Table(t) => tables.push(t.index),
                Extern::Global(g) => globals.push(g.index),
                Extern::Func(_) => {}
            }
        }
        for mem in &info.memories[info.num_imported_memories..] {
            let obj = MemoryObject::new(mem.minimum, mem.maximum).map_err(Error::Instantiate)?;
            objs.memories.push(obj);
            memories.push(objs.memories.len() as u32 - 1);
        }
        for (i, g) in info.globals[info.num_imported_globals..].iter().enumerate() {
            let value = eval_const(&info.global_inits[i], objs, &globals, &offsets, vmctx_ptr);
            objs.globals.push(Box::new(GlobalObject {
                def: VMGlobalDefinition {
                    bytes: value.to_le_bytes(),
                },
                ty: ValType::from_wasm(&g.wasm_ty),
                mutable: g.mutability,
            }));
            globals.push(objs.globals.len() as u32 - 1);
        }
        for t in &info.tables[info.num_imported_tables..] {
            let ty = ValType::from_wasm(&WasmValType::Ref(t.wasm_ty));
            let obj = TableObject::new(t.minimum, t.maximum, 0, ty == ValType::ExternRef)
                .map_err(Error::Instantiate)?;
            objs.tables.push((obj, ty));
            tables.push(objs.tables.len() as u32 - 1);
        }
        for (i, &mi) in memories.iter().enumerate() {
            let p = &*objs.memories[mi as usize] as *const MemoryObject as usize;
            vmctx.set_ptr(offsets.memory_ptr(i as u32), p);
        }
        for (i, &ti) in tables.iter().enumerate() {
            let p = &*objs.tables[ti as usize].0 as *const TableObject as usize;
            vmctx.set_ptr(offsets.table_ptr(i as u32), p);
        }
        for (i, &gi) in globals.iter().enumerate() {
            let p = &objs.globals[gi as usize].def as *const VMGlobalDefinition as usize;
            vmctx.set_ptr(offsets.global_ptr(i as u32), p);
        }

        let index = objs.instances.len() as u32;
        let mut data = Box::new(InstanceData {
            info: info.clone(),
            wasm: m.wasm.clone(),
            offsets: offsets.clone(),
            vmctx,
            dropped_data: vec![false; info.data.len()],
            dropped_elems: vec![false; info.elems.len()],
            memories,
            tables,
            globals,
            index,
            _code: m.clone(),
        });
        let data_ptr = &mut *data as *mut InstanceData as usize;
        data.vmctx.set_ptr(vmoffsets::vmctx::INSTANCE, data_ptr);
        // The instance joins the store before segments are applied: an
        // imported table may receive references into its vmctx even if a
        // later segment traps.
        objs.instances.push(data);
        let instance = Instance {
            store_id: id,
            index,
        };

        let trap = |code: crate::TrapCode| {
            Error::Trap(Trap {
                reason: TrapReason::Wasm(code),
                backtrace: Vec::new(),
            })
        };
        for (si, seg) in info.elems.iter().enumerate() {
            match &seg.kind {
                ElemKind::Active {
                    table,
                    base,
                    offset,
                } => {
                    let start = match base {
                        Some(g) => global_value_u32(
                            &objs.globals,
                            &objs.instances[index as usize].globals,
                            *g,
                        ),
                        None => *offset,
                    };
                    let inst = &objs.instances[index as usize];
                    let values: Vec<usize> =
                        seg.elements.iter().map(|e| inst.elem_value(*e)).collect();
                    let ti = inst.tables[table.index()];
                    let t = &mut objs.tables[ti as usize].0;
                    let end = start as u64 + values.len() as u64;
                    if end > t.size() as u64 {
                        return Err(trap(crate::TrapCode::TableOutOfBounds));
                    }
                    for (i, v) in values.into_iter().enumerate() {
                        t.set(start as usize + i, v);
                    }
                    objs.instances[index as usize].dropped_elems[si] = true;
                }
                ElemKind::Declared => objs.instances[index as usize].dropped_elems[si] = true,
                ElemKind::Passive => {}
            }
        }
        for (si, seg) in info.data.iter().enumerate() {
            if let DataKind::Active {
                memory,
                base,
                offset,
            } = &seg.kind
            {
                let inst = &objs.instances[index as usize];
                let start = match base {
                    Some(g) => global_value_u32(&objs.globals, &inst.globals, *g) as u64,
                    None => *offset,
                };
                let mi = inst.memories[memory.index()];
                let bytes = &m.wasm[seg.bytes.clone()];
                let mem = &mut objs.memories[mi as usize];
                let end = start + bytes.len() as u64;
                if end > mem.data().len() as u64 {
                    return Err(trap(crate::TrapCode::MemoryOutOfBounds));
                }
                mem.data_mut()[start as usize..end as usize].copy_from_slice(bytes);
                objs.instances[index as usize].dropped_data[si] = true;
            }
        }
        let _ = engine;
        if let Some(start) = info.start {
            let f = Func {
                store_id: id,
                ptr: objs.instances[index as usize].funcref_ptr(start),
            };
            f.call(store, &[], &mut [])?;
        }
        Ok(instance)
    }

    pub fn get_export<T: 'static>(&self, store: &Store<T>, name: &str) -> Option<Extern> {
        check_store(store.objects(), self.store_id);
        instance_export(store.objects(), self.index, name)
    }

    pub fn get_func<T: 'static>(&self, store: &Store<T>, name: &str) -> Option<Func> {
        self.get_export(store, name)?.into_func()
    }

    pub fn get_memory<T: 'static>(&self, store: &Store<T>, name: &str) -> Option<Memory> {
        self.get_export(store, name)?.into_memory()
    }

    pub fn get_global<T: 'static>(&self, store: &Store<T>, name: &str) -> Option<Global> {
        self.get_export(store, name)?.into_global()
    }

    pub fn get_typed_func<P: WasmParams, R: WasmResults, T: 'static>(
        &self,
        store: &Store<T>,
        name: &str,
    ) -> Result<TypedFunc<P, R>, Error> {
        let f = self
            .get_func(store, name)
            .ok_or_else(|| Error::Link(format!("no exported function `{name}`")))?;
        f.typed(store)
    }

    /// The exports of this instance, in the module's order.
    pub fn exports<T: 'static>(&self, store: &Store<T>) -> Vec<(String, Extern)> {
        check_store(store.objects(), self.store_id);
        let objs = store.objects();
        let inst = &objs.instances[self.index as usize];
        inst.info
            .exports
            .iter()
            .map(|(n, e)| (n.clone(), extern_of(objs, inst, *e)))
            .collect()
    }

    /// The module this is an instance of, described.
    pub fn module_info<'a, T: 'static>(&self, store: &'a Store<T>) -> &'a ModuleInfo {
        &store.objects().instances[self.index as usize].info
    }
}

fn global_value_u32(globals: &[Box<GlobalObject>], inst_globals: &[u32], g: GlobalIndex) -> u32 {
    let obj = &globals[inst_globals[g.index()] as usize];
    u32::from_le_bytes(obj.def.bytes[..4].try_into().unwrap())
}

fn eval_const(
    expr: &ConstExpr,
    objs: &StoreObjects,
    globals: &[u32],
    offsets: &VMOffsets,
    vmctx: *mut u8,
) -> u128 {
    let mut stack: Vec<u128> = Vec::new();
    for op in expr.ops() {
        let v = match op {
            ConstOp::I32Const(v) => *v as u32 as u128,
            ConstOp::I64Const(v) => *v as u64 as u128,
            ConstOp::F32Const(v) => *v as u128,
            ConstOp::F64Const(v) => *v as u128,
            ConstOp::V128Const(v) => *v,
            ConstOp::GlobalGet(g) => {
                u128::from_le_bytes(objs.globals[globals[g.index()] as usize].def.bytes)
            }
            ConstOp::RefNull => 0,
            ConstOp::RefFunc(f) => vmctx as usize as u128 + offsets.funcref(f.as_u32()) as u128,
            ConstOp::RefI31
            | ConstOp::I32Add
            | ConstOp::I32Sub
            | ConstOp::I32Mul
            | ConstOp::I64Add
            | ConstOp::I64Sub
            | ConstOp::I64Mul => {
                let b = stack.pop().unwrap_or(0);
                let a = stack.pop().unwrap_or(0);
                match op {
                    ConstOp::I32Add => (a as u32).wrapping_add(b as u32) as u128,
                    ConstOp::I32Sub => (a as u32).wrapping_sub(b as u32) as u128,
                    ConstOp::I32Mul => (a as u32).wrapping_mul(b as u32) as u128,
                    ConstOp::I64Add => (a as u64).wrapping_add(b as u64) as u128,
                    ConstOp::I64Sub => (a as u64).wrapping_sub(b as u64) as u128,
                    ConstOp::I64Mul => (a as u64).wrapping_mul(b as u64) as u128,
                    _ => 0,
                }
            }
        };
        stack.push(v);
    }
    stack.pop().unwrap_or(0)
}

// ---------------------------------------------------------------- linker

enum Definition<T> {
    Extern(Extern),
    HostFunc(FuncType, HostClosure<T>),
}

impl<T> Clone for Definition<T> {
    fn clone(&self) -> Self {
        match self {
            Definition::Extern(e) => Definition::Extern(*e),
            Definition::HostFunc(t, c) => Definition::HostFunc(t.clone(), c.clone()),
        }
    }
}

/// Resolves imports by (module, name).
pub struct Linker<T> {
    defs: HashMap<(String, String), Definition<T>>,
}

impl<T: 'static> Default for Linker<T> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T: 'static> Linker<T> {
    pub fn new() -> Self {
        Linker {
            defs: HashMap::new(),
        }
    }

    /// Defines an import.
    pub fn define(&mut self, module: &str, name: &str, item: Extern) -> &mut Self {
        self.defs
            .insert((module.into(), name.into()), Definition::Extern(item));
        self
    }

    /// Defines a host function import, created in each store on use.
    pub fn func_new(
        &mut self,
        module: &str,
        name: &str,
        ty: FuncType,
        f: impl Fn(Caller<'_, T>, &[Val], &mut [Val]) -> Result<(), Trap> + 'static,
    ) -> &mut Self {
        self.defs.insert(
            (module.into(), name.into()),
            Definition::HostFunc(ty, Arc::new(f)),
        );
        self
    }

    /// Defines every export of `instance` under `module`.
    pub fn instance(&mut self, store: &Store<T>, module: &str, instance: Instance) -> &mut Self {
        for (name, e) in instance.exports(store) {
            self.define(module, &name, e);
        }
        self
    }

    pub fn get(&self, module: &str, name: &str) -> bool {
        self.defs
            .contains_key(&(module.to_string(), name.to_string()))
    }

    /// Resolves the module's imports and instantiates it.
    pub fn instantiate(&self, store: &mut Store<T>, module: &Module) -> Result<Instance, Error> {
        let mut imports = Vec::new();
        let mut host_cache: Vec<((String, String), Func)> = Vec::new();
        for (m, n, _ty) in module.imports() {
            let key = (m.to_string(), n.to_string());
            let def = self.defs.get(&key).cloned().ok_or_else(|| {
                Error::Link(format!("unknown import: `{m}::{n}` has not been defined"))
            })?;
            let e = match def {
                Definition::Extern(e) => e,
                Definition::HostFunc(ty, c) => {
                    if let Some((_, f)) = host_cache.iter().find(|(k, _)| *k == key) {
                        Extern::Func(*f)
                    } else {
                        let f = new_host_func(&mut store.inner, ty, c)?;
                        host_cache.push((key, f));
                        Extern::Func(f)
                    }
                }
            };
            imports.push(e);
        }
        Instance::new(store, module, &imports)
    }
}

// ---------------------------------------------------------------- typed calls

/// A Rust type that is a wasm value type.
pub trait WasmTy: Sized {
    const TYPE: ValType;
    fn into_val(self) -> Val;
    fn from_val(v: Val) -> Self;
}

macro_rules! wasm_ty {
    ($t:ty, $vt:ident, $v:ident => $into:expr, $x:ident => $from:expr) => {
        impl WasmTy for $t {
            const TYPE: ValType = ValType::$vt;
            fn into_val(self) -> Val {
                let $v = self;
                Val::$vt($into)
            }
            fn from_val(v: Val) -> Self {
                match v {
                    Val::$vt($x) => $from,
                    other => unreachable!("type checked at TypedFunc creation: {other:?}"),
                }
            }
        }
    };
}
wasm_ty!(i32, I32, v => v, x => x);
wasm_ty!(u32, I32, v => v as i32, x => x as u32);
wasm_ty!(i64, I64, v => v, x => x);
wasm_ty!(u64, I64, v => v as i64, x => x as u64);
wasm_ty!(f32, F32, v => v.to_bits(), x => f32::from_bits(x));
wasm_ty!(f64, F64, v => v.to_bits(), x => f64::from_bits(x));

impl WasmTy for Option<ExternRef> {
    const TYPE: ValType = ValType::ExternRef;
    fn into_val(self) -> Val {
        Val::ExternRef(self)
    }
    fn from_val(v: Val) -> Self {
        match v {
            Val::ExternRef(r) => r,
            other => unreachable!("type checked at TypedFunc creation: {other:?}"),
        }
    }
}

pub trait WasmParams {
    fn types() -> Vec<ValType>;
    fn into_vals(self) -> Vec<Val>;
}

pub trait WasmResults: Sized {
    fn types() -> Vec<ValType>;
    fn from_vals(v: &[Val]) -> Self;
}

impl<A: WasmTy> WasmParams for A {
    fn types() -> Vec<ValType> {
        vec![A::TYPE]
    }
    fn into_vals(self) -> Vec<Val> {
        vec![self.into_val()]
    }
}

impl<A: WasmTy> WasmResults for A {
    fn types() -> Vec<ValType> {
        vec![A::TYPE]
    }
    fn from_vals(v: &[Val]) -> Self {
        A::from_val(v[0].clone())
    }
}

macro_rules! tuples {
    ($($n:ident $i:tt),*) => {
        impl<$($n: WasmTy),*> WasmParams for ($($n,)*) {
            fn types() -> Vec<ValType> { vec![$($n::TYPE),*] }
            #[allow(clippy::unused_unit)]
            fn into_vals(self) -> Vec<Val> { vec![$(self.$i.into_val()),*] }
        }
        impl<$($n: WasmTy),*> WasmResults for ($($n,)*) {
            fn types() -> Vec<ValType> { vec![$($n::TYPE),*] }
            #[allow(unused_variables, clippy::unused_unit)]
            fn from_vals(v: &[Val]) -> Self { ($($n::from_val(v[$i].clone()),)*) }
        }
    };
}
tuples!();
tuples!(A 0, B 1);
tuples!(A 0, B 1, C 2);
tuples!(A 0, B 1, C 2, D 3);

/// A function with static parameter and result types.
pub struct TypedFunc<P, R> {
    func: Func,
    _marker: std::marker::PhantomData<fn(P) -> R>,
}

impl<P: WasmParams, R: WasmResults> TypedFunc<P, R> {
    pub fn call<T: 'static>(&self, store: &mut Store<T>, params: P) -> Result<R, Error> {
        let args = params.into_vals();
        let mut results: Vec<Val> = R::types()
            .iter()
            .map(|t| Val::default_for(*t).unwrap_or(Val::I32(0)))
            .collect();
        self.func.call(store, &args, &mut results)?;
        Ok(R::from_vals(&results))
    }

    pub fn func(&self) -> Func {
        self.func
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every region of JIT code leaves the PC registry with its mapping:
    /// a stale entry would judge a later mapping at the same address by
    /// the wrong trap tables (and an unclaimed trap kills the process).
    #[test]
    fn dropped_code_leaves_the_registry() {
        let engine = Engine::new(Config::default()).unwrap();
        let module = Module::new(
            &engine,
            br#"(module (func (export "f") (result i32) i32.const 1))"#,
        )
        .unwrap();
        let mut store = Store::new(&engine, ());
        let instance = Instance::new(&mut store, &module, &[]).unwrap();
        let f = instance.get_typed_func::<(), i32, _>(&store, "f").unwrap();
        assert_eq!(f.call(&mut store, ()).unwrap(), 1);
        let mut ranges: Vec<_> = engine
            .trampoline_code()
            .into_iter()
            .map(|(_, r)| r)
            .collect();
        ranges.push(module.inner._code.range());
        assert!(ranges.len() >= 3);
        // Trampoline ranges are functions inside a region: check regions.
        let regions: Vec<_> = ranges
            .iter()
            .filter(|r| trap::is_registered(r))
            .cloned()
            .collect();
        assert!(regions.contains(&module.inner._code.range()));
        let gc = engine.inner.gc_code.range();
        assert!(trap::is_registered(&gc));
        let tramp: Vec<_> = engine
            .inner
            .trampolines
            .lock()
            .unwrap()
            .values()
            .map(|t| t._code.range())
            .collect();
        assert!(tramp.iter().all(trap::is_registered));
        drop((instance, f, store, module, engine));
        assert!(!regions.iter().any(trap::is_registered));
        assert!(!trap::is_registered(&gc), "the engine's GC trampoline");
        assert!(
            !tramp.iter().any(trap::is_registered),
            "the engine's trampolines"
        );
    }
}
