//! Externref costs: 10 million `table.set` + `table.get` pairs of counted
//! externrefs (against the same loop on an uncounted funcref table), and
//! host calls passing a reference in and out. Prints the median of 5 runs
//! in nanoseconds per operation.
//!
//!     cargo run --release -p wasmscope-engine --example externref_bench

use std::time::Instant;
use wasmscope_engine::{Engine, ExternRef, FuncType, Linker, Module, Store, Val, ValType};

const WAT: &str = r#"(module
  (import "h" "id" (func $id (param externref) (result externref)))
  (table $e 16 externref)
  (table $f 16 funcref)
  (elem declare func $nop)
  (func $nop)
  (func (export "externref_set_get") (param $r externref) (param $n i32)
    (loop $l
      (table.set $e (i32.and (local.get $n) (i32.const 15)) (local.get $r))
      (local.set $r (table.get $e (i32.and (i32.add (local.get $n) (i32.const 1)) (i32.const 15))))
      (if (ref.is_null (local.get $r)) (then (local.set $r (table.get $e (i32.const 0)))))
      (local.set $n (i32.sub (local.get $n) (i32.const 1)))
      (br_if $l (local.get $n))))
  (func (export "funcref_set_get") (param $n i32) (local $r funcref)
    (local.set $r (ref.func $nop))
    (loop $l
      (table.set $f (i32.and (local.get $n) (i32.const 15)) (local.get $r))
      (local.set $r (table.get $f (i32.and (i32.add (local.get $n) (i32.const 1)) (i32.const 15))))
      (if (ref.is_null (local.get $r)) (then (local.set $r (table.get $f (i32.const 0)))))
      (local.set $n (i32.sub (local.get $n) (i32.const 1)))
      (br_if $l (local.get $n))))
  (func (export "host_calls") (param $r externref) (param $n i32)
    (loop $l
      (local.set $r (call $id (local.get $r)))
      (local.set $n (i32.sub (local.get $n) (i32.const 1)))
      (br_if $l (local.get $n)))))"#;

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[v.len() / 2]
}

fn main() {
    let engine = Engine::new(Default::default()).unwrap();
    let module = Module::new(&engine, WAT.as_bytes()).unwrap();
    let mut store = Store::new(&engine, ());
    let mut linker = Linker::new();
    linker.func_new(
        "h",
        "id",
        FuncType::new([ValType::ExternRef], [ValType::ExternRef]),
        |_, a, r| {
            r[0] = a[0].clone();
            Ok(())
        },
    );
    let instance = linker.instantiate(&mut store, &module).unwrap();
    let value = ExternRef::new(42u64);
    let cases: [(&str, Vec<Val>, u64); 3] = [
        (
            "externref_set_get",
            vec![Val::ExternRef(Some(value.clone())), Val::I32(10_000_000)],
            10_000_000,
        ),
        ("funcref_set_get", vec![Val::I32(10_000_000)], 10_000_000),
        (
            "host_calls",
            vec![Val::ExternRef(Some(value.clone())), Val::I32(2_000_000)],
            2_000_000,
        ),
    ];
    println!("{:<20} {:>14} {:>12}", "case", "ns/operation", "runs");
    for (name, args, ops) in cases {
        let f = instance.get_func(&store, name).unwrap();
        let mut times = Vec::new();
        for _ in 0..5 {
            let start = Instant::now();
            f.call(&mut store, &args, &mut []).unwrap();
            times.push(start.elapsed().as_secs_f64() * 1e9 / ops as f64);
        }
        println!("{name:<20} {:>14.2} {:>12}", median(times), 5);
    }
    // Fresh references made by the host and dropped by wasm, 1 million in
    // one call: peak memory must not grow with the count.
    let fresh = Module::new(
        &engine,
        br#"(module (import "h" "make" (func $make (result externref)))
             (func (export "run") (param $n i32)
               (loop $l (drop (call $make))
                 (local.set $n (i32.sub (local.get $n) (i32.const 1))) (br_if $l (local.get $n)))))"#,
    )
    .unwrap();
    let mut linker = Linker::new();
    linker.func_new(
        "h",
        "make",
        FuncType::new([], [ValType::ExternRef]),
        |_, _, r| {
            r[0] = Val::ExternRef(Some(ExternRef::new([0u64; 8])));
            Ok(())
        },
    );
    let inst = linker.instantiate(&mut store, &fresh).unwrap();
    let run = inst.get_func(&store, "run").unwrap();
    let before = peak_rss_kib();
    let start = Instant::now();
    run.call(&mut store, &[Val::I32(1_000_000)], &mut [])
        .unwrap();
    let ns = start.elapsed().as_secs_f64() * 1e9 / 1e6;
    println!("{:<20} {:>14.2} {:>12}", "fresh_refs_1M", ns, 1);
    println!(
        "peak RSS before/after 1M fresh 64-byte refs: {before} KiB / {} KiB",
        peak_rss_kib()
    );
    let (_, collections) = store.activations_stats();
    println!(
        "activations-table collections: {collections}; value count now {}",
        value.strong_count()
    );
}

/// VmHWM of this process, in KiB.
fn peak_rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches(" kB").trim().parse().ok())
        .unwrap_or(0)
}
