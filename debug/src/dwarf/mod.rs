//! The module's DWARF: reading it, and rewriting it for the JIT code.

pub mod formatters;
pub mod names;
pub mod prologue;
pub mod read;
pub mod transform;
pub mod vars;
