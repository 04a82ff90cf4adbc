//! `Config` and `Engine`: the host ISA, settings, trampolines and the
//! registries shared by every module.

use super::*;

/// Engine-wide configuration.
#[derive(Clone, Debug)]
pub struct Config {
    pub compile: CompileOptions,
    /// Native stack bytes wasm code may use before it traps with
    /// "call stack exhausted".
    pub max_wasm_stack: usize,
    /// The on-disk cache of compiled code (see `cache`); `None`: every
    /// module is compiled. Off by default for embedders; `wasmscope run`
    /// and the debug adapter turn it on.
    pub cache: Option<crate::cache::CacheConfig>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            compile: CompileOptions::default(),
            max_wasm_stack: 1 << 20,
            cache: None,
        }
    }
}

/// Compiled trampolines for one signature.
pub(super) struct Trampolines {
    pub(super) entry: unsafe extern "C" fn(*const u8, *mut u8, *mut u8, *mut u128),
    pub(super) host: *const u8,
    /// Native ranges of the entry and host trampolines.
    pub(super) ranges: [std::ops::Range<usize>; 2],
    pub(super) _code: Arc<CodeMemory>,
}

// SAFETY: the pointers refer to immutable code owned by `_code`.
unsafe impl Send for Trampolines {}
// SAFETY: as above.
unsafe impl Sync for Trampolines {}

pub(super) struct EngineInner {
    pub(super) compiler: Compiler,
    /// The builtins table every vmctx of this engine points at.
    pub(super) builtins: Box<Builtins>,
    pub(super) gc_code: CodeMemory,
    pub(super) config: Config,
    /// Engine-wide signature ids: index = id.
    signatures: Mutex<(HashMap<WasmFuncType, u32>, Vec<WasmFuncType>)>,
    pub(super) trampolines: Mutex<HashMap<u32, Arc<Trampolines>>>,
}

/// A compilation environment: the host ISA, settings and shared registries.
#[derive(Clone)]
pub struct Engine {
    pub(super) inner: Arc<EngineInner>,
}

impl Engine {
    pub fn new(config: Config) -> Result<Engine, Error> {
        let compiler = Compiler::new(config.compile.clone())?;
        let gc = compiler.gc_trampoline()?;
        let (gc_code, ranges) = CodeMemory::publish(&[&gc], &|t, _| reloc_address(t, &[], 0))
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
        // By name, so what is built from it does not depend on the order
        // the signatures were met in.
        out[1..].sort_by(|a, b| a.0.cmp(&b.0));
        out
    }

    /// The mappings that hold the engine's glue code, each named after
    /// the first (lowest-addressed) piece of glue in it, as in
    /// [`Engine::trampoline_code`]: what a relocatable description of the
    /// code (the debugger's cached image) is relative to.
    pub fn trampoline_mappings(&self) -> Vec<(String, std::ops::Range<usize>)> {
        let code = self.trampoline_code();
        let mut out = vec![(code[0].0.clone(), self.inner.gc_code.range())];
        let mut seen = Vec::new();
        for t in self.inner.trampolines.lock().unwrap().values() {
            let range = t._code.range();
            if seen.contains(&range.start) {
                continue;
            }
            seen.push(range.start);
            let first = code
                .iter()
                .filter(|(_, r)| range.contains(&r.start))
                .min_by_key(|(_, r)| r.start);
            if let Some((name, _)) = first {
                out.push((name.clone(), range));
            }
        }
        out.sort_by(|a, b| a.0.cmp(&b.0));
        out
    }

    pub(super) fn trampolines(&self, sig_id: u32) -> Result<Arc<Trampolines>, Error> {
        if let Some(t) = self.inner.trampolines.lock().unwrap().get(&sig_id) {
            return Ok(t.clone());
        }
        let [entry, host] = self.compile_trampolines(sig_id)?;
        self.install_trampolines(&[(sig_id, &entry, &host)])?;
        Ok(self.inner.trampolines.lock().unwrap()[&sig_id].clone())
    }

    /// Compiles the entry and host trampolines of signature `sig_id`.
    pub(super) fn compile_trampolines(&self, sig_id: u32) -> Result<[CompiledFunction; 2], Error> {
        let ty = self.sig_type(sig_id);
        let c = &self.inner.compiler;
        Ok([c.entry_trampoline(&ty)?, c.host_trampoline(&ty)?])
    }

    /// Publishes compiled trampolines, (signature, entry, host), in one
    /// mapping (freshly compiled or from the code cache); signatures that
    /// already have trampolines keep them.
    pub(super) fn install_trampolines(
        &self,
        list: &[(u32, &CompiledFunction, &CompiledFunction)],
    ) -> Result<(), Error> {
        let mut seen = std::collections::HashSet::new();
        let list: Vec<_> = {
            let have = self.inner.trampolines.lock().unwrap();
            list.iter()
                .filter(|(id, _, _)| !have.contains_key(id) && seen.insert(*id))
                .collect()
        };
        if list.is_empty() {
            return Ok(());
        }
        let funcs: Vec<&CompiledFunction> = list.iter().flat_map(|(_, e, h)| [*e, *h]).collect();
        let (code, ranges) = CodeMemory::publish(&funcs, &|t, _| reloc_address(t, &[], 0))
            .map_err(|e| Error::Instantiate(e.to_string()))?;
        register_code(
            &code,
            &funcs,
            &ranges,
            &vec![None; funcs.len()],
            &vec![0; funcs.len()],
            None,
        );
        let code = Arc::new(code);
        let mut have = self.inner.trampolines.lock().unwrap();
        for ((id, _, _), r) in list.iter().zip(ranges.chunks(2)) {
            // SAFETY: r[0] holds the entry trampoline, compiled with the
            // host's default (C) calling convention for this exact
            // signature: by `compile_trampolines`, or by the same engine
            // build for the same module type, loaded from the code cache
            // (whose key covers the module bytes, the engine build and the
            // target).
            let entry = unsafe {
                std::mem::transmute::<
                    usize,
                    unsafe extern "C" fn(*const u8, *mut u8, *mut u8, *mut u128),
                >(r[0].start)
            };
            have.entry(*id).or_insert_with(|| {
                Arc::new(Trampolines {
                    entry,
                    host: r[1].start as *const u8,
                    ranges: [r[0].clone(), r[1].clone()],
                    _code: code.clone(),
                })
            });
        }
        Ok(())
    }
}

pub(super) fn register_code(
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
            stack_sites: f.stack_sites.clone(),
            call_stacks: f.call_stacks.clone(),
        })
        .collect();
    fcs.sort_by_key(|f| f.range.start);
    trap::register_code(Arc::new(CodeInfo {
        range: code.range(),
        funcs: fcs,
        module,
    }));
}
