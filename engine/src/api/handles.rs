//! The handles of store objects (`Func`, `Memory`, `Table`, `Global`,
//! `Instance`) and `Extern`.

use super::*;

/// A function: wasm or host, identified by its `VMFuncRef`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Func {
    pub(super) store_id: u64,
    pub(super) ptr: *const VMFuncRef,
}

/// A linear memory of a store.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Memory {
    pub(super) store_id: u64,
    pub(super) index: u32,
}

/// A table of a store.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Table {
    pub(super) store_id: u64,
    pub(super) index: u32,
}

/// A global of a store.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Global {
    pub(super) store_id: u64,
    pub(super) index: u32,
}

/// An instance of a store.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Instance {
    pub(super) store_id: u64,
    pub(super) index: u32,
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

pub(super) fn check_store(objects: &StoreObjects, id: u64) {
    assert_eq!(
        objects.id, id,
        "object used with a store it does not belong to"
    );
}
