//! wasmscope-engine: compiles WebAssembly with Cranelift and runs it.
//!
//! Architecture invariant: this crate knows nothing of DAP, LSP or DWARF
//! writing. It exposes the facts debuggers need (code ranges, the wasm
//! offset map, value-label ranges, trap sites) through [`Module::functions_debug_info`].
//!
//! `unsafe` lives in `runtime`, `code_memory` and the host-call path of
//! `api`; the public API never requires it.

mod api;
pub mod cache;
mod code_memory;
pub mod compile;
pub mod externref;
pub mod func_env;
pub mod host;
pub mod module_env;
mod runtime;
mod trap;
pub mod vmoffsets;
pub mod wasi;

pub use api::{
    Caller, Config, DebugInterrupt, DebugStop, Engine, Error, Extern, ExternRef, ExternType, Func,
    FuncType, FunctionDebugInfo, Global, Instance, Linker, Memory, MemoryWatch, Module, Store,
    Table, TypedFunc, Val, ValType, WasmParams, WasmResults, WasmTy, WatchHit,
};
pub use cache::{CacheConfig, CacheInfo, CacheOutcome};
pub use compile::{CompileError, CompileOptions, DebugLocals, SrcLoc};
pub use module_env::{supported_features, ElemItem, ElemKind, ModuleId, ModuleInfo};
pub use trap::{FrameInfo, Trap, TrapCode, TrapReason};
pub use wasmparser;
