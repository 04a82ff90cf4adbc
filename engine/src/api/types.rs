//! Values and types as the API shows them: `ValType`, `FuncType`,
//! `ExternRef`, `Val`, `ExternType`.

use super::*;

/// The type of a wasm value, as the API shows it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ValType {
    I32,
    I64,
    F32,
    F64,
    V128,
    FuncRef,
    ExternRef,
}

impl ValType {
    pub(crate) fn from_wasm(t: &WasmValType) -> ValType {
        match t {
            WasmValType::I32 => ValType::I32,
            WasmValType::I64 => ValType::I64,
            WasmValType::F32 => ValType::F32,
            WasmValType::F64 => ValType::F64,
            WasmValType::V128 => ValType::V128,
            WasmValType::Ref(r) => match r.heap_type.top() {
                WasmHeapTopType::Extern => ValType::ExternRef,
                _ => ValType::FuncRef,
            },
        }
    }

    /// A reference type is known by its top type.
    pub(crate) fn from_wasmparser(t: wasmparser::ValType) -> ValType {
        match t {
            wasmparser::ValType::I32 => ValType::I32,
            wasmparser::ValType::I64 => ValType::I64,
            wasmparser::ValType::F32 => ValType::F32,
            wasmparser::ValType::F64 => ValType::F64,
            wasmparser::ValType::V128 => ValType::V128,
            wasmparser::ValType::Ref(r) if r.is_extern_ref() => ValType::ExternRef,
            wasmparser::ValType::Ref(_) => ValType::FuncRef,
        }
    }

    pub(super) fn to_wasm(self) -> WasmValType {
        match self {
            ValType::I32 => WasmValType::I32,
            ValType::I64 => WasmValType::I64,
            ValType::F32 => WasmValType::F32,
            ValType::F64 => WasmValType::F64,
            ValType::V128 => WasmValType::V128,
            ValType::FuncRef => WasmValType::Ref(WasmRefType::FUNCREF),
            ValType::ExternRef => WasmValType::Ref(WasmRefType::EXTERNREF),
        }
    }
}

impl fmt::Display for ValType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ValType::I32 => "i32",
            ValType::I64 => "i64",
            ValType::F32 => "f32",
            ValType::F64 => "f64",
            ValType::V128 => "v128",
            ValType::FuncRef => "funcref",
            ValType::ExternRef => "externref",
        })
    }
}

/// A function type.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct FuncType {
    pub params: Vec<ValType>,
    pub results: Vec<ValType>,
}

impl FuncType {
    pub fn new(
        params: impl IntoIterator<Item = ValType>,
        results: impl IntoIterator<Item = ValType>,
    ) -> Self {
        FuncType {
            params: params.into_iter().collect(),
            results: results.into_iter().collect(),
        }
    }

    pub(super) fn from_wasm(t: &WasmFuncType) -> Self {
        FuncType::new(
            t.params().iter().map(ValType::from_wasm),
            t.returns().iter().map(ValType::from_wasm),
        )
    }

    pub(super) fn to_wasm(&self) -> WasmFuncType {
        WasmFuncType::new(
            self.params.iter().map(|t| t.to_wasm()).collect(),
            self.results.iter().map(|t| t.to_wasm()).collect(),
        )
    }
}

impl fmt::Display for FuncType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let list = |v: &[ValType]| {
            v.iter()
                .map(|t| t.to_string())
                .collect::<Vec<_>>()
                .join(" ")
        };
        write!(
            f,
            "(func (param {}) (result {}))",
            list(&self.params),
            list(&self.results)
        )
    }
}

/// A host value that wasm can hold: a counted reference (see
/// `externref`). Cloning takes a count; dropping releases one.
#[derive(Clone, Debug)]
pub struct ExternRef(pub(super) VMExternRef);

impl ExternRef {
    /// Wraps any `'static` value; its type name is registered for debuggers.
    pub fn new<T: std::any::Any>(value: T) -> ExternRef {
        externref::register_type::<T>();
        ExternRef(VMExternRef::new(value))
    }

    /// Like `new`, and debuggers show the value's `Debug` rendering.
    pub fn new_debug<T: std::any::Any + fmt::Debug>(value: T) -> ExternRef {
        externref::register_debug::<T>();
        ExternRef(VMExternRef::new(value))
    }

    /// The host value, for downcasting.
    pub fn data(&self) -> &dyn std::any::Any {
        self.0.data()
    }

    /// Current reference count (tables, globals, activations and handles).
    pub fn strong_count(&self) -> usize {
        self.0.strong_count()
    }

    /// Address, count, type name and `Debug` rendering, for debuggers.
    pub fn describe(&self) -> externref::ExternRefDescription {
        externref::describe(&self.0)
    }

    pub fn ptr_eq(a: &ExternRef, b: &ExternRef) -> bool {
        VMExternRef::ptr_eq(&a.0, &b.0)
    }

    /// The word wasm code holds for this reference (its footer address).
    pub fn as_raw(&self) -> usize {
        self.0.as_raw()
    }

    /// A counted handle to the reference held in a raw word.
    fn clone_from_raw(raw: usize) -> Option<ExternRef> {
        // SAFETY: raw words handed to the API come from tables, globals or
        // activations of a live store, which keep their blocks alive.
        unsafe { VMExternRef::clone_from_raw(raw) }.map(ExternRef)
    }
}

impl PartialEq for ExternRef {
    fn eq(&self, other: &Self) -> bool {
        ExternRef::ptr_eq(self, other)
    }
}

/// A wasm value. Floats are kept as bits so NaN payloads survive.
#[derive(Clone, Debug, PartialEq)]
pub enum Val {
    I32(i32),
    I64(i64),
    F32(u32),
    F64(u64),
    V128(u128),
    FuncRef(Option<Func>),
    ExternRef(Option<ExternRef>),
}

impl Val {
    pub fn ty(&self) -> ValType {
        match self {
            Val::I32(_) => ValType::I32,
            Val::I64(_) => ValType::I64,
            Val::F32(_) => ValType::F32,
            Val::F64(_) => ValType::F64,
            Val::V128(_) => ValType::V128,
            Val::FuncRef(_) => ValType::FuncRef,
            Val::ExternRef(_) => ValType::ExternRef,
        }
    }

    /// The zero value of a type (null for references).
    pub fn default_for(ty: ValType) -> Option<Val> {
        Some(match ty {
            ValType::I32 => Val::I32(0),
            ValType::I64 => Val::I64(0),
            ValType::F32 => Val::F32(0),
            ValType::F64 => Val::F64(0),
            ValType::V128 => Val::V128(0),
            ValType::FuncRef => Val::FuncRef(None),
            ValType::ExternRef => Val::ExternRef(None),
        })
    }

    /// The raw word of this value. Takes no count: callers count externrefs
    /// as the destination requires.
    pub(super) fn to_raw(&self, store_id: u64) -> Result<u128, Error> {
        Ok(match self {
            Val::I32(v) => *v as u32 as u128,
            Val::I64(v) => *v as u64 as u128,
            Val::F32(v) => *v as u128,
            Val::F64(v) => *v as u128,
            Val::V128(v) => *v,
            Val::FuncRef(None) => 0,
            Val::FuncRef(Some(f)) => {
                if f.store_id != store_id {
                    return Err(Error::Type("funcref belongs to another store".into()));
                }
                f.ptr as usize as u128
            }
            Val::ExternRef(r) => r.as_ref().map_or(0, |r| r.as_raw() as u128),
        })
    }

    pub(super) fn from_raw(raw: u128, ty: ValType, store_id: u64) -> Result<Val, Error> {
        Ok(match ty {
            ValType::I32 => Val::I32(raw as u32 as i32),
            ValType::I64 => Val::I64(raw as u64 as i64),
            ValType::F32 => Val::F32(raw as u32),
            ValType::F64 => Val::F64(raw as u64),
            ValType::V128 => Val::V128(raw),
            ValType::FuncRef => Val::FuncRef(Func::from_raw(store_id, raw as usize)),
            ValType::ExternRef => Val::ExternRef(ExternRef::clone_from_raw(raw as usize)),
        })
    }

    pub fn unwrap_i32(&self) -> i32 {
        match self {
            Val::I32(v) => *v,
            other => panic!("expected i32, found {other:?}"),
        }
    }
}

/// The type of an import or export.
#[derive(Clone, Debug, PartialEq)]
pub enum ExternType {
    Func(FuncType),
    Table {
        element: ValType,
        minimum: u32,
        maximum: Option<u32>,
    },
    Memory {
        minimum: u64,
        maximum: Option<u64>,
    },
    Global {
        ty: ValType,
        mutable: bool,
    },
}

pub(super) fn extern_type(info: &ModuleInfo, e: EntityIndex) -> ExternType {
    match e {
        EntityIndex::Function(f) => ExternType::Func(FuncType::from_wasm(info.func_type(f))),
        EntityIndex::Table(t) => {
            let t = &info.tables[t.index()];
            ExternType::Table {
                element: ValType::from_wasm(&WasmValType::Ref(t.wasm_ty)),
                minimum: t.minimum,
                maximum: t.maximum,
            }
        }
        EntityIndex::Memory(m) => {
            let m = &info.memories[m.index()];
            ExternType::Memory {
                minimum: m.minimum,
                maximum: m.maximum,
            }
        }
        EntityIndex::Global(g) => {
            let g = &info.globals[g.index()];
            ExternType::Global {
                ty: ValType::from_wasm(&g.wasm_ty),
                mutable: g.mutability,
            }
        }
    }
}
