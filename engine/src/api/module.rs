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
    /// Where each wasm local lives, by native range, sorted by (local,
    /// start); debug compiles that collect value labels only.
    pub value_labels: Vec<crate::compile::LocalLoc>,
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
    pub(super) wasm: Arc<Vec<u8>>,
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
    /// The bytes of code of the live hook sites, which a store's
    /// `DebugSites` patches.
    pub(super) live_sites: Arc<crate::runtime::traphandlers::LiveSites>,
    pub(super) cache: CacheOutcome,
    pub(super) cache_key: Option<u128>,
}

/// A compiled module.
#[derive(Clone)]
pub struct Module {
    pub(super) inner: Arc<ModuleInner>,
}

impl Module {
    /// Compiles a module from binary or text (`.wat`) bytes.
    pub fn new(engine: &Engine, bytes: &[u8]) -> Result<Module, Error> {
        Self::from_vec(engine, bytes.to_vec(), None)
    }

    /// [`Module::new`] with compile options of its own in place of the
    /// engine's, for the options that describe one module (a debug
    /// compile's hook sites, kept locals and operand-stack ranges come
    /// from that module's DWARF): several modules so compiled can link in
    /// one store. The engine's glue (trampolines) is shared as always.
    pub fn with_options(
        engine: &Engine,
        bytes: Vec<u8>,
        options: crate::CompileOptions,
    ) -> Result<Module, Error> {
        let compiler = crate::compile::Compiler::new(options)?;
        Self::from_vec(engine, bytes, Some(&compiler))
    }

    /// `new`, taking the bytes (a binary module is kept without a copy),
    /// compiled by `compiler` (else the engine's).
    fn from_vec(
        engine: &Engine,
        bytes: Vec<u8>,
        compiler: Option<&crate::compile::Compiler>,
    ) -> Result<Module, Error> {
        let wasm = if bytes.starts_with(b"\0asm") {
            bytes
        } else {
            text_to_binary(&bytes)?
        };
        Self::from_binary(engine, Arc::new(wasm), compiler)
    }

    /// Reads and compiles a `.wasm` or `.wat` file.
    pub fn from_file(engine: &Engine, path: impl AsRef<Path>) -> Result<Module, Error> {
        let path = path.as_ref();
        let bytes = std::fs::read(path).map_err(|err| Error::Io {
            path: path.display().to_string(),
            err,
        })?;
        Self::from_file_bytes(engine, path, bytes)
    }

    /// [`Module::from_file`] for a file the caller has already read
    /// (`bytes`), kept without a copy.
    pub fn from_file_bytes(
        engine: &Engine,
        path: impl AsRef<Path>,
        bytes: Vec<u8>,
    ) -> Result<Module, Error> {
        let path = path.as_ref();
        let is_binary_name = path.extension().is_some_and(|e| e == "wasm");
        if is_binary_name && !bytes.starts_with(b"\0asm") {
            let head: Vec<String> = bytes.iter().take(4).map(|b| format!("{b:02x}")).collect();
            return Err(Error::Text(format!(
                "not a WebAssembly binary: expected the `\\0asm` header, found bytes {}",
                head.join(" ")
            )));
        }
        Self::from_vec(engine, bytes, None)
    }

    fn from_binary(
        engine: &Engine,
        wasm: Arc<Vec<u8>>,
        compiler: Option<&crate::compile::Compiler>,
    ) -> Result<Module, Error> {
        let mut env = ModuleEnv::new(&wasm);
        crate::module_env::translate(&wasm, &mut env).map_err(CompileError::from)?;
        let ModuleEnv {
            mut info, bodies, ..
        } = env;
        info.id = crate::ModuleId::fresh();
        let sig_ids: Vec<u32> = info.types.iter().map(|t| engine.sig_id(t)).collect();
        let offsets = VMOffsets {
            num_memories: info.memories.len() as u32,
            num_tables: info.tables.len() as u32,
            num_globals: info.globals.len() as u32,
            num_funcs: info.functions.len() as u32,
        };
        let body_offsets: Vec<u32> = bodies.iter().map(|b| b.body.range().start as u32).collect();
        let compiler = compiler.unwrap_or(&engine.inner.compiler);
        let cache_key = engine
            .inner
            .config
            .cache
            .as_ref()
            .map(|_| cache::key(compiler.isa(), compiler.options(), &sig_ids, &wasm));
        let (funcs, cache) = compiled_code(
            engine, compiler, &info, &offsets, &sig_ids, &wasm, cache_key, bodies,
        )?;
        let refs: Vec<&CompiledFunction> = funcs.iter().collect();
        let num_imported = info.num_imported_funcs;
        let (code, ranges) = CodeMemory::publish(&refs, &|target, starts| {
            reloc_address(target, starts, num_imported)
        })
        .map_err(|e| CompileError::Codegen(e.to_string()))?;
        if compiler.options().debug_info {
            // Debug builds compile all glue up front, so the debugger's view
            // of the code is complete before anything runs.
            let compiled = sig_ids
                .iter()
                .map(|id| engine.compile_trampolines(*id))
                .collect::<Result<Vec<_>, _>>()?;
            install_trampolines(engine, &sig_ids, &compiled)?;
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
        let live_sites: Vec<crate::runtime::traphandlers::LiveSite> = funcs
            .iter()
            .zip(&ranges)
            .flat_map(|(f, r)| {
                let int3s = f.patched_site_traps().filter_map(|t| {
                    Some((
                        f.wasm_offset_at(t)?,
                        code.writable(r.start + t as usize)?,
                        [crate::compile::NOP, crate::compile::INT3],
                    ))
                });
                let flips = f.site_flips.iter().filter_map(|&(offset, c)| {
                    let byte = f.code[c as usize];
                    Some((
                        offset,
                        code.writable(r.start + c as usize)?,
                        [byte, byte ^ 1],
                    ))
                });
                int3s.chain(flips)
            })
            .collect();
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
                live_sites: Arc::new(crate::runtime::traphandlers::LiveSites::new(live_sites)),
                cache,
                cache_key,
            }),
        })
    }

    /// What the code cache did for this module (loaded, compiled and
    /// stored, or not configured).
    pub fn cache_outcome(&self) -> &CacheOutcome {
        &self.inner.cache
    }

    /// The code cache's key of this module's code (its bytes, the engine
    /// build, the target and the compile options), when the engine has a
    /// cache: what anything derived from the code is cached under.
    pub fn cache_key(&self) -> Option<u128> {
        self.inner.cache_key
    }

    pub fn engine(&self) -> &Engine {
        &self.inner.engine
    }

    /// The module's identity, as [`crate::FrameInfo::module`] names it.
    pub fn id(&self) -> crate::ModuleId {
        self.inner.info.id
    }

    /// Declarations of the module (types, imports, exports, segments, names).
    pub fn info(&self) -> &ModuleInfo {
        &self.inner.info
    }

    /// The module binary (text modules are encoded first).
    pub fn binary(&self) -> &[u8] {
        &self.inner.wasm
    }

    /// The native mapping that holds all of this module's code.
    pub fn code_range(&self) -> std::ops::Range<usize> {
        self.inner._code.range()
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

/// The module's compiled functions: from the code cache when the engine
/// has one and it holds this module (its trampolines are installed too),
/// else compiled with Cranelift and, with a cache, stored there along with
/// the trampolines of every type the module declares.
#[allow(clippy::too_many_arguments)]
fn compiled_code(
    engine: &Engine,
    compiler: &crate::compile::Compiler,
    info: &ModuleInfo,
    offsets: &VMOffsets,
    sig_ids: &[u32],
    wasm: &[u8],
    key: Option<u128>,
    bodies: Vec<crate::module_env::FunctionBodyInput<'_>>,
) -> Result<(Vec<CompiledFunction>, CacheOutcome), Error> {
    let (Some(config), Some(key)) = (&engine.inner.config.cache, key) else {
        let funcs = compiler.compile_functions(info, offsets, sig_ids, bodies)?;
        return Ok((funcs, CacheOutcome::Disabled));
    };
    let path = config.dir.join(format!("{key:032x}.wsc"));
    let rejected = match cache::load(config, key, wasm) {
        Ok(Some(artifact))
            if artifact.funcs.len() == bodies.len()
                && artifact.trampolines.len() == sig_ids.len() =>
        {
            install_trampolines(engine, sig_ids, &artifact.trampolines)?;
            return Ok((artifact.funcs, CacheOutcome::Loaded { path }));
        }
        Ok(Some(_)) => Some("the file does not match the module's functions".to_string()),
        Ok(None) => None,
        Err(why) => Some(why),
    };
    let funcs = compiler.compile_functions(info, offsets, sig_ids, bodies)?;
    let trampolines = sig_ids
        .iter()
        .map(|id| engine.compile_trampolines(*id))
        .collect::<Result<Vec<_>, _>>()?;
    let artifact = cache::Artifact { funcs, trampolines };
    let (stored, write_error) = match cache::store(config, key, wasm, &artifact) {
        Ok(stored) => (stored, None),
        Err(e) => (false, cache::first_write_error(&e, &config.dir)),
    };
    install_trampolines(engine, sig_ids, &artifact.trampolines)?;
    Ok((
        artifact.funcs,
        CacheOutcome::Compiled {
            path,
            rejected,
            stored,
            write_error,
        },
    ))
}

fn install_trampolines(
    engine: &Engine,
    sig_ids: &[u32],
    trampolines: &[[CompiledFunction; 2]],
) -> Result<(), Error> {
    let list: Vec<_> = sig_ids
        .iter()
        .zip(trampolines)
        .map(|(id, [entry, host])| (*id, entry, host))
        .collect();
    engine.install_trampolines(&list)
}

/// The address a relocation of a module (whose functions start at
/// `starts`, after `num_imported` imports) or of engine glue resolves to.
pub(super) fn reloc_address(
    target: &RelocTarget,
    starts: &[usize],
    num_imported: usize,
) -> Option<usize> {
    match target {
        RelocTarget::WasmFunc(f) => starts.get(f.index().checked_sub(num_imported)?).copied(),
        RelocTarget::LibCall(l) => libcall_address(*l),
        RelocTarget::Host(HostFunc::HostCall) => Some(super::func::host_call as *const () as usize),
        RelocTarget::Host(HostFunc::ActivationsGc) => {
            Some(crate::runtime::builtins::activations_gc as *const () as usize)
        }
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
