//! `Func`: calls into wasm, host functions and the host-call trampoline's
//! entry.

use super::*;

impl Func {
    pub(super) fn from_raw(store_id: u64, ptr: usize) -> Option<Func> {
        (ptr != 0).then_some(Func {
            store_id,
            ptr: ptr as *const VMFuncRef,
        })
    }

    pub(super) fn funcref(&self) -> VMFuncRef {
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

pub(super) fn new_host_func<T: 'static>(
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
pub(super) unsafe extern "C" fn host_call(
    callee_vmctx: *mut u8,
    caller_vmctx: *mut u8,
    values: *mut u128,
    fp: usize,
) {
    let host = callee_vmctx as *const VMHostFunc;
    // Host code sees watched pages open (a syscall into a closed one fails).
    let watching = crate::runtime::watch::suspend();
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        // SAFETY: host trampolines are only reachable through a VMHostFunc's
        // funcref, whose vmctx is the VMHostFunc.
        unsafe { ((*host).call)(host, caller_vmctx, values, fp) }
    }));
    crate::runtime::watch::resume(watching);
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
