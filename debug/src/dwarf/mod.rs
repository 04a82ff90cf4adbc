//! The module's DWARF: reading it, and rewriting it for the JIT code.

pub mod read;
pub mod transform;
pub mod vars;
