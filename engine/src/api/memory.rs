//! `Memory`: a linear memory of a store.

use super::*;

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
