//! The embedding API: `Engine`, `Module`, `Store`, `Linker`, `Instance`,
//! `Func`, `Memory`, `Table`, `Global`, `Val` and typed calls.
//!
//! Nothing here requires `unsafe` from the embedder. Objects created in a
//! store (instances, memories, tables, globals, host functions) live until
//! the store is dropped: handles are plain indices checked against the
//! store's id.
//!
//! One file per public type family (see each file's header); this file
//! holds `Error` and the imports the files share through `use super::*`.

use crate::cache::{self, CacheOutcome};
use crate::code_memory::CodeMemory;
use crate::compile::ValueLoc;
use crate::compile::{
    CompileError, CompileOptions, CompiledFunction, Compiler, HostFunc, RelocTarget, SrcLoc,
    VAL_RAW_SIZE,
};
use crate::externref::{self, VMExternRef};
use crate::module_env::{DataKind, ElemKind, ModuleEnv, ModuleInfo};
use crate::runtime::activations::VMExternRefActivationsTable;
use crate::runtime::builtins::Builtins;
use crate::runtime::instance::{InstanceData, VMContextAlloc};
use crate::runtime::traphandlers::{self, RaiseReason, Unwind, VMRuntimeLimits};
use crate::runtime::vm::{MemoryObject, TableObject, VMFuncRef, VMGlobalDefinition};
use crate::trap::{self, CodeInfo, FuncCode, Trap, TrapReason};
use crate::vmoffsets::{self, VMOffsets};
use cranelift_entity::EntityRef;
use cranelift_wasm::{
    ConstExpr, ConstOp, EntityIndex, GlobalIndex, WasmFuncType, WasmHeapTopType, WasmRefType,
    WasmValType,
};
use std::collections::HashMap;
use std::fmt;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

/// Everything that can go wrong between loading a module and running it.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("cannot read {path}: {err}")]
    Io { path: String, err: std::io::Error },
    #[error("{0}")]
    Text(String),
    #[error(transparent)]
    Compile(#[from] CompileError),
    #[error("{0}")]
    Link(String),
    #[error("{0}")]
    Instantiate(String),
    #[error(transparent)]
    Trap(#[from] Trap),
    #[error("{0}")]
    Type(String),
}

mod debug;
mod engine;
mod func;
mod global;
mod handles;
mod instance;
mod linker;
mod memory;
mod module;
mod store;
mod table;
mod typed;
mod types;

pub use debug::*;
pub use engine::*;
use func::*;
pub use handles::*;
use instance::*;
pub use linker::*;
pub use module::*;
pub use store::*;
pub use typed::*;
pub use types::*;

#[cfg(test)]
mod tests {
    use super::*;

    /// Every region of JIT code leaves the PC registry with its mapping:
    /// a stale entry would judge a later mapping at the same address by
    /// the wrong trap tables (and an unclaimed trap kills the process).
    #[test]
    fn dropped_code_leaves_the_registry() {
        let engine = Engine::new(Config::default()).unwrap();
        let module = Module::new(
            &engine,
            br#"(module (func (export "f") (result i32) i32.const 1))"#,
        )
        .unwrap();
        let mut store = Store::new(&engine, ());
        let instance = Instance::new(&mut store, &module, &[]).unwrap();
        let f = instance.get_typed_func::<(), i32, _>(&store, "f").unwrap();
        assert_eq!(f.call(&mut store, ()).unwrap(), 1);
        let mut ranges: Vec<_> = engine
            .trampoline_code()
            .into_iter()
            .map(|(_, r)| r)
            .collect();
        ranges.push(module.inner._code.range());
        assert!(ranges.len() >= 3);
        // Trampoline ranges are functions inside a region: check regions.
        let regions: Vec<_> = ranges
            .iter()
            .filter(|r| trap::is_registered(r))
            .cloned()
            .collect();
        assert!(regions.contains(&module.inner._code.range()));
        let gc = engine.inner.gc_code.range();
        assert!(trap::is_registered(&gc));
        let tramp: Vec<_> = engine
            .inner
            .trampolines
            .lock()
            .unwrap()
            .values()
            .map(|t| t._code.range())
            .collect();
        assert!(tramp.iter().all(trap::is_registered));
        drop((instance, f, store, module, engine));
        assert!(!regions.iter().any(trap::is_registered));
        assert!(!trap::is_registered(&gc), "the engine's GC trampoline");
        assert!(
            !tramp.iter().any(trap::is_registered),
            "the engine's trampolines"
        );
    }
}
