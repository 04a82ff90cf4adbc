//! `Store`: owns everything instances create; `Caller`, what a host
//! function sees of its caller.

use super::*;

static NEXT_STORE_ID: AtomicU64 = AtomicU64::new(1);

pub(super) struct GlobalObject {
    pub(super) def: VMGlobalDefinition,
    pub(super) ty: ValType,
    pub(super) mutable: bool,
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

pub(super) type HostClosure<T> = Arc<dyn Fn(Caller<'_, T>, &[Val], &mut [Val]) -> Result<(), Trap>>;

/// A host function living in a store. `funcref.vmctx` points at the struct
/// itself, which is how the host trampoline finds it.
#[repr(C)]
pub(super) struct VMHostFunc {
    pub(super) funcref: VMFuncRef,
    pub(super) call: unsafe fn(*const VMHostFunc, *mut u8, *mut u128, usize) -> Result<(), Trap>,
    pub(super) ty: FuncType,
    pub(super) store: *mut u8,
    pub(super) closure: Box<dyn std::any::Any>,
}

/// Store-owned objects. Each is boxed because compiled code holds raw
/// pointers to them (vmctx slots, funcrefs): they must never move.
#[allow(clippy::vec_box)]
pub(crate) struct StoreObjects {
    pub(super) id: u64,
    pub(super) engine: Engine,
    /// Shared with `DebugInterrupt` handles (which touch only the flag).
    pub(super) limits: Arc<VMRuntimeLimits>,
    pub(super) activations: Box<VMExternRefActivationsTable>,
    pub(super) memories: Vec<Box<MemoryObject>>,
    pub(super) tables: Vec<(Box<TableObject>, ValType)>,
    pub(super) globals: Vec<Box<GlobalObject>>,
    pub(super) instances: Vec<Box<InstanceData>>,
    pub(super) host_funcs: Vec<Box<VMHostFunc>>,
}

pub(super) struct StoreInner<T> {
    pub(super) objects: StoreObjects,
    pub(super) data: T,
    /// The debug handler; taken out while it runs.
    pub(super) debug_handler: Option<Box<DebugHandler<T>>>,
}

type DebugHandler<T> = dyn FnMut(&mut DebugStop<'_, T>) -> Result<(), Trap>;

/// Owns everything instances create; `T` is the embedder's data, reachable
/// from host functions through [`Caller`].
pub struct Store<T> {
    pub(super) inner: Box<StoreInner<T>>,
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

    pub(super) fn objects(&self) -> &StoreObjects {
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
        crate::runtime::watch::forget(&self.inner.objects.limits);
    }
}

impl StoreObjects {
    pub(super) fn global_get(&self, index: u32) -> Val {
        let g = &self.globals[index as usize];
        Val::from_raw(u128::from_le_bytes(g.def.bytes), g.ty, self.id).unwrap_or(Val::I32(0))
    }

    pub(super) fn global_set(&mut self, index: u32, val: Val) -> Result<(), Error> {
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

/// What a host function sees of its caller.
pub struct Caller<'a, T> {
    pub(super) objects: &'a mut StoreObjects,
    pub(super) data: &'a mut T,
    pub(super) instance: Option<u32>,
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
