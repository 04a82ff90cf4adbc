//! wasmscope-debug: DWARF in and out, for native debuggers.
//!
//! - `dwarf::read`: the module's own DWARF (line table, functions, inlined
//!   frames), keyed by wasm code offsets.
//! - `session`: the engine-driven debugger (breakpoints, stepping, pause,
//!   inspection) over the engine's debug hooks; no protocol in it.
//! - `dap`, `gdbstub`: the Debug Adapter Protocol and the GDB remote
//!   protocol (LLDB's wasm plugin) on top of `session`.
//! - `jit`: an ELF image whose DWARF describes the JIT code (native
//!   addresses), registered through the GDB JIT interface so gdb and lldb
//!   can break on source lines, step and show backtraces.
//!
//! Architecture invariant: this crate reads the engine's facts through its
//! public API (`Module::functions_debug_info`, `Module::binary`,
//! `ModuleInfo`); it never reaches into engine internals, and it never
//! panics on malformed DWARF: it degrades to less information.

pub mod dap;
pub mod dwarf;
pub mod expr;
pub mod gdbstub;
pub mod inspect;
pub mod jit;
pub mod listing;
pub mod session;
