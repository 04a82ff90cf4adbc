//! The embedding API: typed calls, host functions, memories, globals,
//! imports and link errors.

use crate::{engine, instantiate};
use wasmscope_engine::{
    Config, Engine, Error, Extern, FuncType, Global, Instance, Linker, Memory, Module, Store, Val,
    ValType,
};

#[test]
fn typed_calls_with_multiple_values() {
    let (mut store, instance, _) = instantiate(
        r#"(module (func (export "swap") (param i64 f64) (result f64 i64) local.get 1 local.get 0))"#,
    );
    let swap = instance
        .get_typed_func::<(i64, f64), (f64, i64), _>(&store, "swap")
        .unwrap();
    assert_eq!(swap.call(&mut store, (3, 1.5)).unwrap(), (1.5, 3));
    assert!(instance
        .get_typed_func::<i32, i32, _>(&store, "swap")
        .is_err());
}

#[test]
fn many_results_use_the_return_area() {
    let (mut store, instance, _) = instantiate(
        r#"(module (func (export "many") (result i32 i32 i32 i32 i32 i32 i32 i32)
            i32.const 1 i32.const 2 i32.const 3 i32.const 4 i32.const 5 i32.const 6 i32.const 7 i32.const 8))"#,
    );
    let f = instance.get_func(&store, "many").unwrap();
    let mut out = vec![Val::I32(0); 8];
    f.call(&mut store, &[], &mut out).unwrap();
    assert_eq!(
        out.iter().map(Val::unwrap_i32).collect::<Vec<_>>(),
        (1..=8).collect::<Vec<_>>()
    );
}

#[test]
fn wrong_argument_types_are_errors() {
    let (mut store, instance, _) = instantiate(r#"(module (func (export "f") (param i32)))"#);
    let f = instance.get_func(&store, "f").unwrap();
    assert!(matches!(
        f.call(&mut store, &[Val::I64(1)], &mut []),
        Err(Error::Type(_))
    ));
    assert!(matches!(
        f.call(&mut store, &[], &mut []),
        Err(Error::Type(_))
    ));
}

#[test]
fn memory_grows_and_is_shared_with_the_host() {
    let (mut store, instance, _) = instantiate(
        r#"(module (memory (export "mem") 1 4)
            (func (export "grow") (param i32) (result i32) (memory.grow (local.get 0)))
            (func (export "peek") (param i32) (result i32) (i32.load8_u (local.get 0))))"#,
    );
    let mem = instance.get_memory(&store, "mem").unwrap();
    let grow = instance
        .get_typed_func::<i32, i32, _>(&store, "grow")
        .unwrap();
    let peek = instance
        .get_typed_func::<i32, i32, _>(&store, "peek")
        .unwrap();
    assert_eq!(grow.call(&mut store, 2).unwrap(), 1);
    assert_eq!(mem.size_pages(&store), 3);
    assert_eq!(grow.call(&mut store, 2).unwrap(), -1);
    mem.data_mut(&mut store)[3 * 65536 - 1] = 9;
    assert_eq!(peek.call(&mut store, 3 * 65536 - 1).unwrap(), 9);
}

#[test]
fn imports_link_by_name_and_type() {
    let engine = engine();
    let module = Module::new(
        &engine,
        br#"(module
            (import "env" "add" (func $add (param i32 i32) (result i32)))
            (import "env" "g" (global $g (mut i32)))
            (import "env" "mem" (memory 1))
            (func (export "run") (result i32)
              (global.set $g (i32.add (global.get $g) (i32.const 1)))
              (i32.store (i32.const 0) (i32.const 77))
              (call $add (global.get $g) (i32.load (i32.const 0)))))"#,
    )
    .unwrap();
    let mut store = Store::new(&engine, 0u32);
    let mut linker = Linker::new();
    linker.func_new(
        "env",
        "add",
        FuncType::new([ValType::I32, ValType::I32], [ValType::I32]),
        |mut caller, a, r| {
            *caller.data_mut() += 1;
            r[0] = Val::I32(a[0].unwrap_i32() + a[1].unwrap_i32());
            Ok(())
        },
    );
    let g = Global::new(&mut store, Val::I32(10), true).unwrap();
    let mem = Memory::new(&mut store, 1, None).unwrap();
    linker
        .define("env", "g", Extern::Global(g))
        .define("env", "mem", Extern::Memory(mem));
    let instance = linker.instantiate(&mut store, &module).unwrap();
    let run = instance
        .get_typed_func::<(), i32, _>(&store, "run")
        .unwrap();
    assert_eq!(run.call(&mut store, ()).unwrap(), 88);
    assert_eq!(*store.data(), 1);
    assert_eq!(g.get(&store), Val::I32(11));
    assert_eq!(mem.data(&store)[0], 77);
}

#[test]
fn link_errors_name_the_import() {
    let engine = engine();
    let module = Module::new(&engine, br#"(module (import "env" "missing" (func)))"#).unwrap();
    let mut store = Store::new(&engine, ());
    let err = Linker::new().instantiate(&mut store, &module).unwrap_err();
    assert!(err.to_string().contains("env::missing"), "{err}");
    let g = Global::new(&mut store, Val::I64(1), false).unwrap();
    let module = Module::new(&engine, br#"(module (import "env" "g" (global i32)))"#).unwrap();
    let err = Instance::new(&mut store, &module, &[Extern::Global(g)]).unwrap_err();
    assert!(matches!(err, Error::Link(_)), "{err}");
}

#[test]
fn invalid_modules_report_the_byte_offset() {
    let engine = engine();
    let err = Module::new(&engine, br#"(module (func (result i32) (i64.const 1)))"#)
        .err()
        .unwrap();
    assert!(err.to_string().contains("type mismatch"), "{err}");
    assert!(err.to_string().contains("at byte offset 0x"), "{err}");
    let err = Module::new(&engine, b"\0asm\x01\0\0\0\x01").err().unwrap();
    assert!(err.to_string().contains("byte offset"), "{err}");
}

#[test]
fn debug_facts_are_exposed_per_function() {
    let engine = wasmscope_engine::Engine::new(wasmscope_engine::Config {
        compile: wasmscope_engine::CompileOptions {
            debug_info: true,
            ..Default::default()
        },
        ..Default::default()
    })
    .unwrap();
    let module = Module::new(
        &engine,
        br#"(module (func (export "f") (param i32) (result i32) (local i32)
              (local.set 1 (i32.mul (local.get 0) (i32.const 3)))
              (i32.add (local.get 1) (i32.const 1))))"#,
    )
    .unwrap();
    let info = &module.functions_debug_info()[0];
    assert!(!info.code.is_empty());
    assert!(
        info.srclocs.windows(2).all(|w| w[0].start <= w[1].start),
        "sorted"
    );
    assert!(!info.srclocs.is_empty());
    assert!(
        !info.value_labels.is_empty(),
        "debug compiles keep value-label ranges"
    );
    let mut store = Store::new(&engine, ());
    let instance = Instance::new(&mut store, &module, &[]).unwrap();
    let f = instance.get_typed_func::<i32, i32, _>(&store, "f").unwrap();
    assert_eq!(f.call(&mut store, 5).unwrap(), 16);
}

/// A module's code compares a `call_indirect` callee's signature id with an
/// immediate, the engine's id of the type: the same bytes compiled in an
/// engine that gave its types other ids (another module compiled first)
/// must not load the cached code of the first.
#[test]
fn cached_code_is_keyed_by_the_engines_signature_ids() {
    const INDIRECT: &str = r#"(module
      (type $t (func (param i32) (result i32)))
      (table 1 funcref) (elem (i32.const 0) $inc)
      (func $inc (type $t) (i32.add (local.get 0) (i32.const 1)))
      (func (export "go") (param i32) (result i32)
        (call_indirect (type $t) (local.get 0) (i32.const 0))))"#;
    const OTHER: &str = r#"(module (func (export "f") (param f64 f64 i64)))"#;
    let dir = std::env::temp_dir().join(format!("wasmscope-sig-cache-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let engine = || {
        Engine::new(Config {
            cache: Some(wasmscope_engine::CacheConfig::new(&dir)),
            ..Config::default()
        })
        .unwrap()
    };
    let go = |engine: &Engine, module: &Module| {
        let mut store = Store::new(engine, ());
        let instance = Instance::new(&mut store, module, &[]).unwrap();
        let go = instance
            .get_typed_func::<i32, i32, _>(&store, "go")
            .unwrap();
        go.call(&mut store, 41).unwrap()
    };
    // Alone: its type has id 0; stored.
    let first = engine();
    assert_eq!(
        go(&first, &Module::new(&first, INDIRECT.as_bytes()).unwrap()),
        42
    );
    // After another module's type took id 0.
    let second = engine();
    Module::new(&second, OTHER.as_bytes()).unwrap();
    let module = Module::new(&second, INDIRECT.as_bytes()).unwrap();
    assert_eq!(go(&second, &module), 42);
    // The same order again: a hit.
    let third = engine();
    Module::new(&third, OTHER.as_bytes()).unwrap();
    let module = Module::new(&third, INDIRECT.as_bytes()).unwrap();
    assert!(
        matches!(
            module.cache_outcome(),
            wasmscope_engine::CacheOutcome::Loaded { .. }
        ),
        "{:?}",
        module.cache_outcome()
    );
    assert_eq!(go(&third, &module), 42);
    let _ = std::fs::remove_dir_all(&dir);
}
