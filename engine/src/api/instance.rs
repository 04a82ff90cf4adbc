//! `Instance`: instantiation (imports, segments, start) and exports.

use super::*;

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

pub(super) fn instance_export(objects: &StoreObjects, index: u32, name: &str) -> Option<Extern> {
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
            objs.limits.debug_site_tables.cover(
                &objs.limits,
                module.binary().len(),
                &m.live_sites,
                module.inner.clone(),
            );
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
