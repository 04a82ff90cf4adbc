//! Integration tests of the engine, one module per area.

mod api;
mod debug;
mod externref;
mod traps;

use wasmscope_engine::{Config, Engine, Instance, Module, Store};

pub fn engine() -> Engine {
    Engine::new(Config::default()).unwrap()
}

/// Compiles and instantiates `wat` (no imports) in a fresh store.
pub fn instantiate(wat: &str) -> (Store<()>, Instance, Module) {
    let engine = engine();
    let module = Module::new(&engine, wat.as_bytes()).unwrap();
    let mut store = Store::new(&engine, ());
    let instance = Instance::new(&mut store, &module, &[]).unwrap();
    (store, instance, module)
}
