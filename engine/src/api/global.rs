//! `Global`: a global of a store.

use super::*;

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
