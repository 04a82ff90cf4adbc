//! `Module`: a compiled module and the facts debuggers read of it.

use super::*;

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

pub(super) struct ModuleInner {
    pub(super) engine: Engine,
    pub(super) info: Arc<ModuleInfo>,
    pub(super) wasm: Arc<[u8]>,
    pub(super) offsets: VMOffsets,
    pub(super) sig_ids: Vec<u32>,
    /// Owns the mapping (and, through its drop, the PC registration).
    pub(super) _code: CodeMemory,
    /// Native entry of each defined function.
    pub(super) func_starts: Vec<usize>,
    pub(super) debug: Vec<FunctionDebugInfo>,
    /// The `VMContext` of this module's most recent instance, for native
    /// debuggers (see `Module::debug_vmctx_cell`).
    pub(super) debug_vmctx: Box<std::sync::atomic::AtomicUsize>,
}

/// A compiled module.
#[derive(Clone)]
pub struct Module {
    pub(super) inner: Arc<ModuleInner>,
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
