//! Externrefs: counting from compiled code, lifetimes, and leaks.

use crate::instantiate;
use std::cell::Cell;
use std::rc::Rc;
use wasmscope_engine::{ExternRef, Val};

#[derive(Debug)]
struct Tracked(Rc<Cell<u32>>, u32);

impl Drop for Tracked {
    fn drop(&mut self) {
        self.0.set(self.0.get() + 1);
    }
}

#[test]
fn table_fill_then_get() {
    let (mut store, instance, _) = instantiate(
        r#"(module (table $t 10 externref)
          (func (export "fill") (param i32 externref i32) (table.fill $t (local.get 0) (local.get 1) (local.get 2)))
          (func (export "get") (param i32) (result externref) (table.get $t (local.get 0))))"#,
    );
    let drops = Rc::new(Cell::new(0));
    let r = ExternRef::new(Tracked(drops.clone(), 7));
    let fill = instance.get_func(&store, "fill").unwrap();
    fill.call(
        &mut store,
        &[Val::I32(2), Val::ExternRef(Some(r.clone())), Val::I32(3)],
        &mut [],
    )
    .unwrap();
    assert_eq!(r.strong_count(), 4, "three slots and our handle");
    let get = instance.get_func(&store, "get").unwrap();
    let mut out = [Val::I32(0)];
    get.call(&mut store, &[Val::I32(3)], &mut out).unwrap();
    let Val::ExternRef(Some(got)) = &out[0] else {
        panic!("{out:?}")
    };
    assert!(ExternRef::ptr_eq(got, &r));
    assert_eq!(got.data().downcast_ref::<Tracked>().unwrap().1, 7);
    drop(out);
    drop(r);
    assert_eq!(drops.get(), 0);
    drop(store);
    assert_eq!(drops.get(), 1, "the table's references go with the store");
}

use wasmscope_engine::{Engine, FuncType, Linker, Module, Store, ValType};

/// Live `Tracked` values: created minus dropped.
#[derive(Default, Clone)]
struct Census {
    created: Rc<Cell<u32>>,
    dropped: Rc<Cell<u32>>,
}

impl Census {
    fn make(&self, tag: u32) -> ExternRef {
        self.created.set(self.created.get() + 1);
        ExternRef::new_debug(Tracked(self.dropped.clone(), tag))
    }
    fn live(&self) -> u32 {
        self.created.get() - self.dropped.get()
    }
}

fn tag_of(v: &Val) -> Option<u32> {
    match v {
        Val::ExternRef(Some(r)) => r.data().downcast_ref::<Tracked>().map(|t| t.1),
        _ => None,
    }
}

/// A module whose `run` keeps a reference only in a local, overwrites the
/// only table slot holding it, then churns the activations table (forcing
/// collections) before handing the local to the host.
const LOCAL_OUTLIVES_SLOT: &str = r#"
(module
  (import "h" "check" (func $check (param externref)))
  (table $t 1 externref)
  (table $many 8 externref)
  (func $churn (param $n i32)
    (loop $l
      (drop (table.get $many (i32.and (local.get $n) (i32.const 7))))
      (local.set $n (i32.sub (local.get $n) (i32.const 1)))
      (br_if $l (local.get $n))))
  (func (export "run")
    (local $r externref)
    (local.set $r (table.get $t (i32.const 0)))
    (table.set $t (i32.const 0) (ref.null extern))
    (call $churn (i32.const 5000))
    (call $check (local.get $r)))
  (func (export "put") (param externref) (table.set $t (i32.const 0) (local.get 0)))
  (func (export "fill_many") (param externref)
    (table.fill $many (i32.const 0) (local.get 0) (i32.const 8)))
)"#;

fn census_store(wat: &str) -> (Store<Census>, Linker<Census>, Module, Census) {
    let engine = crate::engine();
    let module = Module::new(&engine, wat.as_bytes()).unwrap();
    let census = Census::default();
    let store = Store::new(&engine, census.clone());
    (store, Linker::new(), module, census)
}

fn call(
    store: &mut Store<Census>,
    instance: &wasmscope_engine::Instance,
    name: &str,
    args: &[Val],
) -> Vec<Val> {
    let f = instance.get_func(store, name).unwrap();
    let mut out = vec![Val::I32(0); f.ty(store).results.len()];
    f.call(store, args, &mut out).unwrap();
    out
}

#[test]
fn a_local_keeps_its_reference_alive_across_collections() {
    let (mut store, mut linker, module, census) = census_store(LOCAL_OUTLIVES_SLOT);
    linker.func_new(
        "h",
        "check",
        FuncType::new([ValType::ExternRef], []),
        |caller, args, _| {
            // Still alive: the tag is readable and nothing was dropped yet.
            assert_eq!(tag_of(&args[0]), Some(1));
            assert_eq!(caller.data().dropped.get(), 0);
            Ok(())
        },
    );
    let instance = linker.instantiate(&mut store, &module).unwrap();
    call(
        &mut store,
        &instance,
        "fill_many",
        &[Val::ExternRef(Some(census.make(2)))],
    );
    call(
        &mut store,
        &instance,
        "put",
        &[Val::ExternRef(Some(census.make(1)))],
    );
    assert_eq!(census.live(), 2);
    call(&mut store, &instance, "run", &[]);
    let (held, collections) = store.activations_stats();
    assert!(collections > 0, "the churn forced collections");
    assert_eq!(held, 0, "activations are released on return to the host");
    assert_eq!(
        census.live(),
        1,
        "the local's value died when the call ended"
    );
    drop(store);
    assert_eq!(census.live(), 0);
    assert_eq!(census.dropped.get(), 2, "each Drop ran once");
}

#[test]
fn tables_grow_fill_and_copy_count_references() {
    let (mut store, linker, module, census) = census_store(
        r#"(module (table $t 0 externref)
          (func (export "grow") (param externref i32) (result i32) (table.grow $t (local.get 0) (local.get 1)))
          (func (export "fill") (param i32 externref i32) (table.fill $t (local.get 0) (local.get 1) (local.get 2)))
          (func (export "copy") (param i32 i32 i32) (table.copy $t $t (local.get 0) (local.get 1) (local.get 2)))
          (func (export "get") (param i32) (result externref) (table.get $t (local.get 0))))"#,
    );
    let instance = linker.instantiate(&mut store, &module).unwrap();
    let a = census.make(1);
    let out = call(
        &mut store,
        &instance,
        "grow",
        &[Val::ExternRef(Some(a.clone())), Val::I32(10)],
    );
    assert_eq!(out[0], Val::I32(0));
    assert_eq!(a.strong_count(), 11, "ten slots and the handle");
    let b = census.make(2);
    call(
        &mut store,
        &instance,
        "fill",
        &[Val::I32(0), Val::ExternRef(Some(b.clone())), Val::I32(4)],
    );
    assert_eq!((a.strong_count(), b.strong_count()), (7, 5));
    call(
        &mut store,
        &instance,
        "copy",
        &[Val::I32(4), Val::I32(0), Val::I32(6)],
    );
    // Slots are now b b b b b b b b a a.
    assert_eq!((a.strong_count(), b.strong_count()), (3, 9));
    assert_eq!(
        tag_of(&call(&mut store, &instance, "get", &[Val::I32(9)])[0]),
        Some(1)
    );
    drop(a);
    assert_eq!(census.dropped.get(), 0, "two slots still hold `a`");
    call(
        &mut store,
        &instance,
        "fill",
        &[Val::I32(0), Val::ExternRef(None), Val::I32(10)],
    );
    assert_eq!(census.dropped.get(), 1, "`a` went with its last slot");
    assert_eq!(b.strong_count(), 1);
    drop(b);
    assert_eq!(census.live(), 0);
}

#[test]
fn globals_and_host_calls_pass_references() {
    let (mut store, mut linker, module, census) = census_store(
        r#"(module
          (import "h" "make" (func $make (param i32) (result externref)))
          (import "h" "tag" (func $tag (param externref) (result i32)))
          (global $g (mut externref) (ref.null extern))
          (func (export "roundtrip") (param i32) (result i32)
            (global.set $g (call $make (local.get 0)))
            (call $tag (global.get $g)))
          (func (export "clear") (global.set $g (ref.null extern)))
          (func (export "get") (result externref) (global.get $g)))"#,
    );
    linker.func_new(
        "h",
        "make",
        FuncType::new([ValType::I32], [ValType::ExternRef]),
        |caller, a, r| {
            r[0] = Val::ExternRef(Some(caller.data().make(a[0].unwrap_i32() as u32)));
            Ok(())
        },
    );
    linker.func_new(
        "h",
        "tag",
        FuncType::new([ValType::ExternRef], [ValType::I32]),
        |_, a, r| {
            r[0] = Val::I32(tag_of(&a[0]).map_or(-1, |t| t as i32));
            Ok(())
        },
    );
    let instance = linker.instantiate(&mut store, &module).unwrap();
    assert_eq!(
        call(&mut store, &instance, "roundtrip", &[Val::I32(5)])[0],
        Val::I32(5)
    );
    assert_eq!(census.live(), 1, "held by the global");
    assert_eq!(
        call(&mut store, &instance, "roundtrip", &[Val::I32(6)])[0],
        Val::I32(6)
    );
    assert_eq!(census.live(), 1, "the overwritten value was dropped");
    let held = call(&mut store, &instance, "get", &[]);
    call(&mut store, &instance, "clear", &[]);
    assert_eq!(census.live(), 1, "the host handle keeps it");
    drop(held);
    assert_eq!(census.live(), 0);
}

#[test]
fn references_outlive_the_store_while_the_host_holds_them() {
    let (mut store, linker, module, census) = census_store(
        r#"(module (table (export "t") 2 externref)
             (func (export "put") (param externref) (table.set 0 (i32.const 1) (local.get 0))))"#,
    );
    let instance = linker.instantiate(&mut store, &module).unwrap();
    let r = census.make(9);
    call(
        &mut store,
        &instance,
        "put",
        &[Val::ExternRef(Some(r.clone()))],
    );
    assert_eq!(r.strong_count(), 2);
    drop(store);
    assert_eq!(r.strong_count(), 1, "the table released its count");
    assert_eq!(census.dropped.get(), 0);
    drop(r);
    assert_eq!(census.dropped.get(), 1);
}

#[test]
fn a_trap_releases_the_activations() {
    let (mut store, linker, module, census) =
        census_store(r#"(module (func (export "boom") (param externref) unreachable))"#);
    let instance = linker.instantiate(&mut store, &module).unwrap();
    let f = instance.get_func(&store, "boom").unwrap();
    let r = census.make(3);
    assert!(f
        .call(&mut store, &[Val::ExternRef(Some(r.clone()))], &mut [])
        .is_err());
    assert_eq!(r.strong_count(), 1);
    assert_eq!(store.activations_stats().0, 0);
}

/// 100,000 references made by the host and passed back to it inside one
/// wasm call: collections keep the number alive bounded.
#[test]
fn a_hundred_thousand_references_through_host_calls_stay_bounded() {
    let (mut store, mut linker, module, census) = census_store(
        r#"(module
          (import "h" "make" (func $make (param i32) (result externref)))
          (import "h" "eat" (func $eat (param externref)))
          (func (export "run") (param $n i32)
            (loop $l
              (call $eat (call $make (local.get $n)))
              (local.set $n (i32.sub (local.get $n) (i32.const 1)))
              (br_if $l (local.get $n)))))"#,
    );
    let peak = Rc::new(Cell::new(0));
    linker.func_new(
        "h",
        "make",
        FuncType::new([ValType::I32], [ValType::ExternRef]),
        |caller, a, r| {
            r[0] = Val::ExternRef(Some(caller.data().make(a[0].unwrap_i32() as u32)));
            Ok(())
        },
    );
    let p = peak.clone();
    linker.func_new(
        "h",
        "eat",
        FuncType::new([ValType::ExternRef], []),
        move |caller, a, _| {
            assert!(tag_of(&a[0]).is_some());
            p.set(p.get().max(caller.data().live()));
            Ok(())
        },
    );
    let instance = linker.instantiate(&mut store, &module).unwrap();
    call(&mut store, &instance, "run", &[Val::I32(100_000)]);
    assert_eq!(census.created.get(), 100_000);
    assert_eq!(census.live(), 0, "all dropped once the call returned");
    assert!(
        peak.get() <= 2 * 512 + 8,
        "live references stayed bounded: peak {}",
        peak.get()
    );
    assert!(store.activations_stats().1 >= 100_000 / 512 - 1);
}

#[test]
fn describe_shows_address_count_type_and_debug() {
    let census = Census::default();
    let r = census.make(4);
    let d = r.describe();
    assert_eq!(d.address, r.as_raw());
    assert_eq!(d.ref_count, 1);
    assert!(d.type_name.ends_with("Tracked"), "{}", d.type_name);
    assert!(
        d.debug.as_deref().unwrap().contains(", 4)"),
        "{:?}",
        d.debug
    );
    let _ = Engine::new(Default::default()).unwrap();
}

/// A reference that lives only on the operand stack, as the result of a
/// typed `select`, survives a collection in a callee that also clears the
/// table slot it came from.
#[test]
fn an_operand_stack_select_result_survives_collections() {
    let (mut store, mut linker, module, census) = census_store(
        r#"(module
          (import "h" "take" (func $take (param externref i32)))
          (table $t 1 externref)
          (table $many 8 externref)
          (func $clear_and_churn (result i32) (local $n i32)
            (table.set $t (i32.const 0) (ref.null extern))
            (local.set $n (i32.const 5000))
            (loop $l
              (drop (table.get $many (i32.and (local.get $n) (i32.const 7))))
              (local.set $n (i32.sub (local.get $n) (i32.const 1)))
              (br_if $l (local.get $n)))
            (i32.const 7))
          (func (export "run")
            (call $take
              (select (result externref) (table.get $t (i32.const 0)) (ref.null extern) (i32.const 1))
              (call $clear_and_churn)))
          (func (export "put") (param externref) (table.set $t (i32.const 0) (local.get 0)))
          (func (export "fill_many") (param externref)
            (table.fill $many (i32.const 0) (local.get 0) (i32.const 8))))"#,
    );
    linker.func_new(
        "h",
        "take",
        FuncType::new([ValType::ExternRef, ValType::I32], []),
        |caller, a, _| {
            assert_eq!(tag_of(&a[0]), Some(1), "the selected reference is intact");
            assert_eq!(caller.data().dropped.get(), 0);
            Ok(())
        },
    );
    let instance = linker.instantiate(&mut store, &module).unwrap();
    call(
        &mut store,
        &instance,
        "fill_many",
        &[Val::ExternRef(Some(census.make(2)))],
    );
    call(
        &mut store,
        &instance,
        "put",
        &[Val::ExternRef(Some(census.make(1)))],
    );
    call(&mut store, &instance, "run", &[]);
    assert!(store.activations_stats().1 > 0);
    assert_eq!(census.live(), 1);
}

#[test]
fn typed_calls_take_and_return_optional_references() {
    let (mut store, linker, module, census) = census_store(
        r#"(module (func (export "id") (param externref) (result externref) (local.get 0))
             (func (export "is_null") (param externref) (result i32) (ref.is_null (local.get 0))))"#,
    );
    let instance = linker.instantiate(&mut store, &module).unwrap();
    let id = instance
        .get_typed_func::<Option<ExternRef>, Option<ExternRef>, _>(&store, "id")
        .unwrap();
    let is_null = instance
        .get_typed_func::<Option<ExternRef>, i32, _>(&store, "is_null")
        .unwrap();
    let r = census.make(8);
    let back = id.call(&mut store, Some(r.clone())).unwrap().unwrap();
    assert!(ExternRef::ptr_eq(&back, &r));
    assert_eq!(id.call(&mut store, None).unwrap(), None);
    assert_eq!(is_null.call(&mut store, None).unwrap(), 1);
    assert_eq!(is_null.call(&mut store, Some(r.clone())).unwrap(), 0);
    drop((back, r));
    assert_eq!(census.live(), 0);
}
