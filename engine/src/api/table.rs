//! `Table`: a table of a store.

use super::*;

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
