//! Every trap kind comes back as a clean error with the right wasm offset,
//! and the process survives many traps and deep recursion.

use crate::instantiate;
use wasmscope_engine::wasmparser::{Operator, Parser, Payload};
use wasmscope_engine::{
    Error, Func, FuncType, Linker, Module, Store, Trap, TrapCode, Val, ValType,
};

/// Byte offset (in the module binary) of the first operator of defined
/// function `func` for which `pick` is true.
fn op_offset(wasm: &[u8], func: usize, pick: impl Fn(&Operator) -> bool) -> u32 {
    let mut index = 0;
    for payload in Parser::new(0).parse_all(wasm) {
        if let Payload::CodeSectionEntry(body) = payload.unwrap() {
            if index == func {
                let mut ops = body.get_operators_reader().unwrap();
                while !ops.eof() {
                    let (op, off) = ops.read_with_offset().unwrap();
                    if pick(&op) {
                        return off as u32;
                    }
                }
            }
            index += 1;
        }
    }
    panic!("operator not found");
}

fn trap_of(r: Result<(), Error>) -> Trap {
    match r {
        Err(Error::Trap(t)) => t,
        other => panic!("expected a trap, got {other:?}"),
    }
}

const TRAPS: &str = r#"
(module
  (type $i2i (func (param i32) (result i32)))
  (type $v2v (func))
  (memory 1)
  (table 2 funcref)
  (elem (i32.const 0) $v)
  (func $v)
  (func (export "unreachable") unreachable)
  (func (export "oob_load") (drop (i32.load (i32.const 0xfffffff0))))
  (func (export "oob_store") (i64.store offset=8 (i32.const 65530) (i64.const 1)))
  (func (export "div_zero") (drop (i32.div_u (i32.const 1) (i32.const 0))))
  (func (export "overflow") (drop (i32.div_s (i32.const 0x80000000) (i32.const -1))))
  (func (export "bad_conv") (drop (i32.trunc_f32_s (f32.const nan))))
  (func (export "table_oob") (call_indirect (type $v2v) (i32.const 7)))
  (func (export "null_elem") (call_indirect (type $v2v) (i32.const 1)))
  (func (export "bad_sig") (drop (call_indirect (type $i2i) (i32.const 5) (i32.const 0))))
  (func (export "table_get_oob") (drop (table.get 0 (i32.const 99))))
  (func $rec (export "recurse") (param i32) (result i32)
    (i32.add (call $rec (i32.add (local.get 0) (i32.const 1))) (i32.const 1)))
  (func (export "ok") (result i32) (i32.const 42))
)
"#;

#[test]
fn each_trap_kind_reports_its_code_and_offset() {
    let (mut store, instance, module) = instantiate(TRAPS);
    let wasm = module.binary().to_vec();
    // Defined function indices: $v is 0, the exports follow in order.
    type Pick = Box<dyn Fn(&Operator) -> bool>;
    let cases: Vec<(&str, usize, TrapCode, Pick)> = vec![
        (
            "unreachable",
            1,
            TrapCode::UnreachableCodeReached,
            Box::new(|o| matches!(o, Operator::Unreachable)),
        ),
        (
            "oob_load",
            2,
            TrapCode::MemoryOutOfBounds,
            Box::new(|o| matches!(o, Operator::I32Load { .. })),
        ),
        (
            "oob_store",
            3,
            TrapCode::MemoryOutOfBounds,
            Box::new(|o| matches!(o, Operator::I64Store { .. })),
        ),
        (
            "div_zero",
            4,
            TrapCode::IntegerDivisionByZero,
            Box::new(|o| matches!(o, Operator::I32DivU)),
        ),
        (
            "overflow",
            5,
            TrapCode::IntegerOverflow,
            Box::new(|o| matches!(o, Operator::I32DivS)),
        ),
        (
            "bad_conv",
            6,
            TrapCode::BadConversionToInteger,
            Box::new(|o| matches!(o, Operator::I32TruncF32S)),
        ),
        (
            "table_oob",
            7,
            TrapCode::TableOutOfBounds,
            Box::new(|o| matches!(o, Operator::CallIndirect { .. })),
        ),
        (
            "null_elem",
            8,
            TrapCode::IndirectCallToNull,
            Box::new(|o| matches!(o, Operator::CallIndirect { .. })),
        ),
        (
            "bad_sig",
            9,
            TrapCode::BadSignature,
            Box::new(|o| matches!(o, Operator::CallIndirect { .. })),
        ),
        (
            "table_get_oob",
            10,
            TrapCode::TableOutOfBounds,
            Box::new(|o| matches!(o, Operator::TableGet { .. })),
        ),
    ];
    for (name, func, code, pick) in cases {
        let f = instance.get_func(&store, name).unwrap();
        let t = trap_of(f.call(&mut store, &[], &mut []));
        assert_eq!(t.code(), Some(code), "{name}: {t}");
        let top = &t.backtrace[0];
        assert_eq!(top.func_name.as_deref(), Some(name), "{name}");
        assert_eq!(
            top.wasm_offset,
            Some(op_offset(&wasm, func, pick)),
            "{name}: offset"
        );
    }
}

#[test]
fn survives_ten_thousand_traps_in_a_row() {
    let (mut store, instance, _) = instantiate(TRAPS);
    let oob = instance.get_func(&store, "oob_load").unwrap();
    let div = instance.get_func(&store, "div_zero").unwrap();
    for i in 0..10_000 {
        let f = if i % 2 == 0 { oob } else { div };
        assert!(trap_of(f.call(&mut store, &[], &mut [])).code().is_some());
    }
    let ok = instance.get_typed_func::<(), i32, _>(&store, "ok").unwrap();
    assert_eq!(ok.call(&mut store, ()).unwrap(), 42);
}

#[test]
fn deep_recursion_traps_and_the_host_stack_survives() {
    let (mut store, instance, _) = instantiate(TRAPS);
    let rec = instance.get_func(&store, "recurse").unwrap();
    for _ in 0..3 {
        let mut out = [Val::I32(0)];
        let t = trap_of(rec.call(&mut store, &[Val::I32(0)], &mut out));
        assert_eq!(t.code(), Some(TrapCode::StackOverflow));
        assert!(t.backtrace.len() > 10, "backtrace walks the recursion");
    }
    let ok = instance.get_typed_func::<(), i32, _>(&store, "ok").unwrap();
    assert_eq!(ok.call(&mut store, ()).unwrap(), 42);
}

const HOST: &str = r#"
(module
  (import "host" "fail" (func $fail (param i32)))
  (import "host" "reenter" (func $reenter))
  (func $inner (export "inner") (call $fail (i32.const 3)))
  (func (export "outer") (call $reenter))
  (func (export "divide") (param i32) (result i32) (i32.div_u (i32.const 1) (local.get 0)))
)
"#;

fn host_instance() -> (Store<Option<Func>>, wasmscope_engine::Instance) {
    let engine = crate::engine();
    let module = Module::new(&engine, HOST.as_bytes()).unwrap();
    let mut store: Store<Option<Func>> = Store::new(&engine, None);
    let mut linker = Linker::new();
    linker.func_new(
        "host",
        "fail",
        FuncType::new([ValType::I32], []),
        |_, args, _| Err(Trap::host(format!("host refused {}", args[0].unwrap_i32()))),
    );
    linker.func_new("host", "reenter", FuncType::new([], []), |_, _, _| Ok(()));
    let instance = linker.instantiate(&mut store, &module).unwrap();
    (store, instance)
}

#[test]
fn host_errors_unwind_with_a_wasm_backtrace() {
    let (mut store, instance) = host_instance();
    let inner = instance.get_func(&store, "inner").unwrap();
    let t = trap_of(inner.call(&mut store, &[], &mut []));
    assert!(
        t.to_string()
            .starts_with("host refused 3 at wasm offset 0x"),
        "{t}"
    );
    assert_eq!(t.backtrace[0].func_name.as_deref(), Some("inner"));
    // And the store is usable afterwards.
    let divide = instance
        .get_typed_func::<u32, u32, _>(&store, "divide")
        .unwrap();
    assert_eq!(divide.call(&mut store, 1).unwrap(), 1);
}

#[test]
fn host_panics_resume_in_the_host() {
    let engine = crate::engine();
    let module = Module::new(
        &engine,
        br#"(module (import "h" "p" (func $p)) (func (export "f") (call $p)))"#,
    )
    .unwrap();
    let mut store = Store::new(&engine, ());
    let mut linker = Linker::new();
    linker.func_new("h", "p", FuncType::new([], []), |_, _, _| {
        panic!("host bug")
    });
    let instance = linker.instantiate(&mut store, &module).unwrap();
    let f = instance.get_func(&store, "f").unwrap();
    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        f.call(&mut store, &[], &mut [])
    }));
    assert!(r.is_err(), "the panic reaches the caller");
    let f = instance.get_func(&store, "f");
    assert!(f.is_some());
}

#[test]
fn traps_between_host_calls_leave_the_store_usable() {
    let engine = crate::engine();
    let module = Module::new(
        &engine,
        br#"(module
          (import "h" "call_back" (func $cb (result i32)))
          (func (export "outer") (result i32) (call $cb))
          (func (export "trap") unreachable))"#,
    )
    .unwrap();
    let mut store: Store<Option<Func>> = Store::new(&engine, None);
    let mut linker = Linker::new();
    linker.func_new(
        "h",
        "call_back",
        FuncType::new([], [ValType::I32]),
        |_, _, results| {
            results[0] = Val::I32(7);
            Ok(())
        },
    );
    let instance = linker.instantiate(&mut store, &module).unwrap();
    let outer = instance
        .get_typed_func::<(), i32, _>(&store, "outer")
        .unwrap();
    assert_eq!(outer.call(&mut store, ()).unwrap(), 7);
    let trap = instance.get_func(&store, "trap").unwrap();
    assert_eq!(
        trap_of(trap.call(&mut store, &[], &mut [])).code(),
        Some(TrapCode::UnreachableCodeReached)
    );
    assert_eq!(outer.call(&mut store, ()).unwrap(), 7);
}

/// A segfault in host code while wasm is on the stack must not be turned
/// into a trap: the process dies of it. Runs in a child process.
#[test]
fn host_fault_is_not_swallowed() {
    if std::env::var_os("WASMSCOPE_FAULT_CHILD").is_some() {
        let engine = crate::engine();
        let module = Module::new(
            &engine,
            br#"(module (import "h" "f" (func $f)) (func (export "run") (call $f)))"#,
        )
        .unwrap();
        let mut store = Store::new(&engine, ());
        let mut linker = Linker::new();
        linker.func_new("h", "f", FuncType::new([], []), |_, _, _| {
            // SAFETY: deliberately faulting to test the signal handler.
            unsafe { std::ptr::read_volatile(std::ptr::null::<u8>().wrapping_add(8)) };
            Ok(())
        });
        let instance = linker.instantiate(&mut store, &module).unwrap();
        let _ = instance
            .get_func(&store, "run")
            .unwrap()
            .call(&mut store, &[], &mut []);
        unreachable!("the host fault must kill the process");
    }
    let out = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "traps::host_fault_is_not_swallowed",
            "--nocapture",
        ])
        .env("WASMSCOPE_FAULT_CHILD", "1")
        .output()
        .unwrap();
    use std::os::unix::process::ExitStatusExt;
    const SIGSEGV: i32 = 11;
    assert_eq!(
        out.status.signal(),
        Some(SIGSEGV),
        "child status {:?}",
        out.status
    );
}

/// `.eh_frame` is registered for JIT code, so a native unwinder started in a
/// host function called by wasm walks through the wasm frames back to the
/// Rust test that made the call.
#[test]
fn native_unwinder_walks_through_jit_frames() {
    let engine = crate::engine();
    let module = Module::new(
        &engine,
        br#"(module (import "h" "bt" (func $bt))
              (func $a (call $bt)) (func $b (call $a)) (func (export "run") (call $b)))"#,
    )
    .unwrap();
    let mut store: Store<String> = Store::new(&engine, String::new());
    let mut linker = Linker::new();
    linker.func_new("h", "bt", FuncType::new([], []), |mut caller, _, _| {
        *caller.data_mut() = std::backtrace::Backtrace::force_capture().to_string();
        Ok(())
    });
    let instance = linker.instantiate(&mut store, &module).unwrap();
    run_and_capture(&mut store, instance);
    let bt = store.data();
    assert!(
        bt.contains("run_and_capture"),
        "the unwinder stopped inside JIT code:\n{bt}"
    );
}

#[inline(never)]
fn run_and_capture(store: &mut Store<String>, instance: wasmscope_engine::Instance) {
    let run = instance.get_func(store, "run").unwrap();
    run.call(store, &[], &mut []).unwrap();
}

/// Engines created and dropped on several threads while others trap: a
/// dropped engine's code must leave the PC registry, or a new mapping at
/// the same address is judged by stale tables and its trap kills the
/// process (found by the debug-session tests).
#[test]
fn traps_stay_caught_while_engines_come_and_go() {
    let threads: Vec<_> = (0..2)
        .map(|_| {
            std::thread::spawn(|| {
                for _ in 0..40 {
                    let (mut store, instance, _m) = crate::instantiate(
                        r#"(module (func (export "f") (param i32) (result i32)
                            (i32.div_u (i32.const 1) (local.get 0))))"#,
                    );
                    let f = instance.get_typed_func::<i32, i32, _>(&store, "f").unwrap();
                    assert!(f.call(&mut store, 0).is_err());
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
}
