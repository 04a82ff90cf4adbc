//! The runtime half of the engine: the structures compiled code touches,
//! the builtins it calls, and trap handling. All of the engine's `unsafe`
//! that touches guest state lives here.

pub mod activations;
pub mod builtins;
pub mod debug;
pub mod instance;
pub mod traphandlers;
pub mod vm;
pub mod watch;
