//! Debug hooks: the per-instruction handler, locals read and written
//! through it, frames, and pausing a guest that never returns.

use std::cell::RefCell;
use std::rc::Rc;
use wasmscope_engine::wasmparser::{self, Operator};
use wasmscope_engine::{
    CompileOptions, Config, DebugLocals, Engine, Error, Instance, Module, Store, Trap, TrapCode,
    Val, ValType,
};

fn debug_engine() -> Engine {
    engine_with(DebugLocals::Mirrored)
}

/// Live code records no operand stack here, as a debugger session's
/// outside the ranges where DWARF puts a variable on it (recording it is
/// tested on its own, below).
fn engine_with(locals: DebugLocals) -> Engine {
    engine_compiling(CompileOptions {
        debug_hooks: true,
        debug_locals: locals,
        debug_stack_ranges: Some(Vec::new().into()),
        ..CompileOptions::default()
    })
}

fn engine_compiling(compile: CompileOptions) -> Engine {
    Engine::new(Config {
        compile,
        ..Config::default()
    })
    .unwrap()
}

/// Mirrored locals are all known.
fn known(locals: Vec<Option<Val>>) -> Vec<Val> {
    locals
        .into_iter()
        .map(|v| v.expect("a mirrored local"))
        .collect()
}

const SUM: &str = r#"(module
  (func $sum (export "sum") (param $n i32) (result i32) (local $i i32) (local $acc i32)
    (block $done
      (loop $top
        (br_if $done (i32.ge_u (local.get $i) (local.get $n)))
        (local.set $acc (i32.add (local.get $acc) (call $square (local.get $i))))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $top)))
    local.get $acc)
  (func $square (param $x i32) (result i32)
    (i32.mul (local.get $x) (local.get $x)))
  (func (export "spin") (loop $l (br $l))))"#;

fn setup() -> (Store<()>, Instance) {
    setup_with(DebugLocals::Mirrored)
}

fn setup_with(locals: DebugLocals) -> (Store<()>, Instance) {
    let engine = engine_with(locals);
    let module = Module::new(&engine, SUM.as_bytes()).unwrap();
    let mut store = Store::new(&engine, ());
    let instance = Instance::new(&mut store, &module, &[]).unwrap();
    (store, instance)
}

#[test]
fn without_the_flag_the_handler_is_never_called() {
    let (mut store, instance) = setup();
    let calls = Rc::new(RefCell::new(0));
    let c = calls.clone();
    store.set_debug_handler(move |_| {
        *c.borrow_mut() += 1;
        Ok(())
    });
    let sum = instance
        .get_typed_func::<i32, i32, _>(&store, "sum")
        .unwrap();
    assert_eq!(sum.call(&mut store, 4).unwrap(), 14);
    assert_eq!(*calls.borrow(), 0);
}

#[test]
fn every_instruction_stops_with_its_locals_and_frames() {
    let (mut store, instance) = setup();
    let seen = Rc::new(RefCell::new(Vec::new()));
    let s = seen.clone();
    store.set_debug_handler(move |stop| {
        let frames: Vec<String> = stop
            .frames()
            .iter()
            .map(|f| f.func_name.clone().unwrap_or_default())
            .collect();
        s.borrow_mut().push((
            stop.func_index(),
            stop.wasm_offset(),
            known(stop.locals()),
            frames,
        ));
        Ok(())
    });
    store.debug_interrupt().set(true);
    let sum = instance
        .get_typed_func::<i32, i32, _>(&store, "sum")
        .unwrap();
    assert_eq!(sum.call(&mut store, 3).unwrap(), 5);
    let seen = seen.borrow();
    assert!(seen.len() > 40, "{}", seen.len());
    // Inside `square`, called from `sum`, with its parameter.
    let (_, _, locals, frames) = seen.iter().find(|s| s.0 == 1).unwrap();
    assert_eq!(frames, &["square", "sum"]);
    assert!(matches!(locals[..], [Val::I32(0)]), "{locals:?}");
    // The last stop of `sum` sees the final locals: n=3, i=3, acc=0+1+4.
    let (_, _, locals, _) = seen.iter().rev().find(|s| s.0 == 0).unwrap();
    let ints: Vec<i32> = locals.iter().map(Val::unwrap_i32).collect();
    assert_eq!(ints, [3, 3, 5]);
    // Offsets grow within a straight-line run and stay inside the code.
    assert!(seen
        .iter()
        .all(|s| s.1 > 0 && (s.1 as usize) < SUM.len() * 4));
}

#[test]
fn the_handler_writes_locals_and_stops_the_guest() {
    let (mut store, instance) = setup();
    // Jump the counter ahead the first time `sum` runs its loop test.
    let done = Rc::new(RefCell::new(false));
    let d = done.clone();
    store.set_debug_handler(move |stop| {
        if stop.func_index() == 0 && !*d.borrow() && known(stop.locals())[1].unwrap_i32() == 1 {
            stop.set_local(1, Val::I32(9)).unwrap();
            assert!(stop.set_local(1, Val::I64(9)).is_err(), "types are checked");
            *d.borrow_mut() = true;
        }
        Ok(())
    });
    store.debug_interrupt().set(true);
    let sum = instance
        .get_typed_func::<i32, i32, _>(&store, "sum")
        .unwrap();
    // 0*0 + (skip to i=9) 9*9 = 81.
    assert_eq!(sum.call(&mut store, 10).unwrap(), 81);
    // A trap from the handler ends the call; the store lives on.
    store.set_debug_handler(|_| Err(Trap::host("terminated by the debugger")));
    let err = sum.call(&mut store, 10).unwrap_err();
    assert!(
        err.to_string().contains("terminated by the debugger"),
        "{err}"
    );
    store.debug_interrupt().set(false);
    assert_eq!(sum.call(&mut store, 4).unwrap(), 14);
}

#[test]
fn another_thread_pauses_an_endless_loop() {
    let (mut store, instance) = setup();
    pause_spin_from_another_thread(&mut store, &instance);
}

/// Runs `spin` and sets the debug flag from another thread after 50 ms:
/// the handler sees `spin` stopped and ends the call.
fn pause_spin_from_another_thread(store: &mut Store<()>, instance: &Instance) {
    let interrupt = store.debug_interrupt();
    store.set_debug_handler(|stop| {
        assert_eq!(stop.frames()[0].func_index, 2);
        Err(Trap::host("paused"))
    });
    let pauser = std::thread::spawn(move || {
        std::thread::sleep(std::time::Duration::from_millis(50));
        interrupt.set(true);
    });
    let spin = instance
        .get_typed_func::<(), (), _>(&*store, "spin")
        .unwrap();
    let err = spin.call(&mut *store, ()).unwrap_err();
    assert!(err.to_string().contains("paused"), "{err}");
    pauser.join().unwrap();
}

#[test]
fn functions_with_many_locals_have_read_only_locals() {
    let engine = debug_engine();
    let locals = " (local i32)".repeat(20);
    let wat = format!(
        r#"(module (func (export "f") (result i32) {locals} i32.const 7 local.set 19 local.get 19))"#
    );
    let module = Module::new(&engine, wat.as_bytes()).unwrap();
    let mut store = Store::new(&engine, ());
    let instance = Instance::new(&mut store, &module, &[]).unwrap();
    let last = Rc::new(RefCell::new(Vec::new()));
    let l = last.clone();
    store.set_debug_handler(move |stop| {
        let err = stop.set_local(0, Val::I32(1)).unwrap_err();
        assert!(err.to_string().contains("too many locals"), "{err}");
        *l.borrow_mut() = known(stop.locals());
        Ok(())
    });
    store.debug_interrupt().set(true);
    let f = instance.get_typed_func::<(), i32, _>(&store, "f").unwrap();
    assert_eq!(f.call(&mut store, ()).unwrap(), 7);
    // Read-only, but current: the hook before `local.get 19` sees the 7.
    assert_eq!(last.borrow()[19].unwrap_i32(), 7);
}

/// Callers' locals come from their home slots (found from their frame
/// pointers): in `square`, frame 1 is `sum` with its current `$n`, `$i`
/// and `$acc`.
#[test]
fn callers_locals_are_read_from_their_frames() {
    let (mut store, instance) = setup();
    let seen = Rc::new(RefCell::new(Vec::new()));
    let s = seen.clone();
    store.set_debug_handler(move |stop| {
        if stop.func_index() == 1 && stop.frames().len() == 2 {
            let caller = known(stop.frame_locals(1).expect("the caller's locals"));
            s.borrow_mut().push(caller);
            assert!(
                stop.frame_locals(2).is_none(),
                "no frame past the first wasm one"
            );
        }
        Ok(())
    });
    store.debug_interrupt().set(true);
    let sum = instance
        .get_typed_func::<i32, i32, _>(&store, "sum")
        .unwrap();
    assert_eq!(sum.call(&mut store, 3).unwrap(), 5);
    let seen = seen.borrow();
    // `square`'s two instructions (and its end) per call, for i = 0, 1, 2;
    // acc before each call: 0, 0, 1.
    let firsts: Vec<Vec<Val>> = seen.iter().step_by(seen.len() / 3).cloned().collect();
    assert_eq!(
        firsts,
        [
            vec![Val::I32(3), Val::I32(0), Val::I32(0)],
            vec![Val::I32(3), Val::I32(1), Val::I32(0)],
            vec![Val::I32(3), Val::I32(2), Val::I32(1)],
        ]
    );
}

const DIVIDE: &str = r#"(module
  (func $div (param $a i32) (param $b i32) (result i32) (local $scaled i32)
    (local.set $scaled (i32.mul (local.get $a) (i32.const 10)))
    (i32.div_s (local.get $scaled) (local.get $b)))
  (func (export "run") (param $b i32) (result i32) (local $k i32)
    (local.set $k (i32.const 4))
    (call $div (local.get $k) (local.get $b))))"#;

/// With trap stops on, a trap calls the handler before the stack unwinds:
/// on the faulting instruction, with every frame and its current locals,
/// with no debug flag set (a full-speed run); the trap then goes on.
#[test]
fn a_trap_stops_before_unwinding() {
    let engine = debug_engine();
    let module = Module::new(&engine, DIVIDE.as_bytes()).unwrap();
    let mut store = Store::new(&engine, ());
    let instance = Instance::new(&mut store, &module, &[]).unwrap();
    let seen = Rc::new(RefCell::new(Vec::new()));
    let s = seen.clone();
    store.set_debug_handler(move |stop| {
        let trap = stop.trap().expect("only the trap stops: the flag is off");
        let err = stop.set_local(0, Val::I32(1)).unwrap_err();
        assert!(err.to_string().contains("trapped"), "{err}");
        let names: Vec<_> = stop.frames().iter().map(|f| f.func_index).collect();
        s.borrow_mut().push((
            trap,
            stop.wasm_offset(),
            names,
            known(stop.locals()),
            stop.frame_locals(1).map(known),
        ));
        Ok(())
    });
    store.debug_interrupt().set_trap_stops(true);
    let run = instance
        .get_typed_func::<i32, i32, _>(&store, "run")
        .unwrap();
    assert_eq!(run.call(&mut store, 2).unwrap(), 20);
    assert!(seen.borrow().is_empty(), "no trap, no stop");
    let Err(Error::Trap(trap)) = run.call(&mut store, 0) else {
        panic!("the division traps");
    };
    assert_eq!(trap.code(), Some(TrapCode::IntegerDivisionByZero), "{trap}");
    let seen = seen.borrow();
    assert_eq!(seen.len(), 1);
    let (code, offset, frames, locals, caller) = &seen[0];
    assert_eq!(*code, TrapCode::IntegerDivisionByZero);
    // The `i32.div_s`: the last instruction of $div before its `end`.
    let div_at = offset_of(&module, |op| matches!(op, Operator::I32DivS));
    assert_eq!(*offset, div_at);
    assert_eq!(frames, &[0, 1]);
    assert_eq!(locals, &[Val::I32(4), Val::I32(0), Val::I32(40)]);
    assert_eq!(caller.as_deref(), Some(&[Val::I32(0), Val::I32(4)][..]));
    // The backtrace of the trap itself is unchanged by the stop.
    assert_eq!(trap.backtrace.len(), 2);
    assert_eq!(trap.backtrace[0].wasm_offset, Some(div_at));
}

/// A handler's error at a trap stop (a debugger's terminate) ends the call
/// with that error instead.
#[test]
fn a_trap_stop_can_end_the_guest_its_own_way() {
    let engine = debug_engine();
    let module = Module::new(&engine, DIVIDE.as_bytes()).unwrap();
    let mut store = Store::new(&engine, ());
    let instance = Instance::new(&mut store, &module, &[]).unwrap();
    store.set_debug_handler(|_| Err(Trap::host("terminated by the debugger")));
    store.debug_interrupt().set_trap_stops(true);
    let run = instance
        .get_typed_func::<i32, i32, _>(&store, "run")
        .unwrap();
    let err = run.call(&mut store, 0).unwrap_err();
    assert!(
        err.to_string().contains("terminated by the debugger"),
        "{err}"
    );
    // Stack overflow never stops (no stack to stop on) and still traps.
    let module = Module::new(
        &engine,
        r#"(module (func $f (export "f") (call $f)))"#.as_bytes(),
    )
    .unwrap();
    let instance = Instance::new(&mut store, &module, &[]).unwrap();
    let f = instance.get_typed_func::<(), (), _>(&store, "f").unwrap();
    let Err(Error::Trap(trap)) = f.call(&mut store, ()) else {
        panic!("runaway recursion traps");
    };
    assert_eq!(trap.code(), Some(TrapCode::StackOverflow));
}

/// Module offset of the first operator `pick` selects.
fn offset_of(module: &Module, pick: impl Fn(&Operator) -> bool) -> u32 {
    for payload in wasmparser::Parser::new(0).parse_all(module.binary()) {
        if let Ok(wasmparser::Payload::CodeSectionEntry(body)) = payload {
            let mut ops = body.get_operators_reader().unwrap();
            while !ops.eof() {
                let (op, at) = ops.read_with_offset().unwrap();
                if pick(&op) {
                    return at as u32;
                }
            }
        }
    }
    panic!("no such operator");
}

// ------------------------------------------------- DebugLocals::Live

/// Live code stops at every site with the registers it had, and reads a
/// local where the optimized code keeps it: in `square`, `$x`; in `sum`
/// (frame 1, through the registers `square` saved), `$i` and `$acc`, live
/// across the call. `$n` is live too, but where Cranelift's value-label
/// ranges lose track of a value it is unavailable: never a wrong value.
#[test]
fn live_locals_are_read_where_the_code_keeps_them() {
    let (mut store, instance) = setup_with(DebugLocals::Live);
    let seen = Rc::new(RefCell::new(Vec::new()));
    let s = seen.clone();
    store.set_debug_handler(move |stop| {
        if stop.func_index() == 1 {
            let frames: Vec<_> = stop.frames().iter().map(|f| f.func_index).collect();
            s.borrow_mut()
                .push((stop.locals(), stop.frame_locals(1), frames));
        }
        Ok(())
    });
    store.debug_interrupt().set(true);
    let sum = instance
        .get_typed_func::<i32, i32, _>(&store, "sum")
        .unwrap();
    assert_eq!(sum.call(&mut store, 3).unwrap(), 5);
    let seen = seen.borrow();
    // The first stop of each call to `square`: x = i, and sum's locals.
    let firsts: Vec<_> = seen.iter().step_by(seen.len() / 3).cloned().collect();
    assert_eq!(firsts.len(), 3, "{seen:?}");
    for (i, (locals, caller, frames)) in firsts.iter().enumerate() {
        assert_eq!(frames, &[1, 0]);
        assert_eq!(locals, &[Some(Val::I32(i as i32))]);
        let acc = [0, 0, 1][i];
        let caller = caller.as_deref().expect("sum is a live frame");
        assert!(
            matches!(caller[0], None | Some(Val::I32(3))),
            "call {i}: {caller:?}"
        );
        assert_eq!(
            caller[1..],
            [Some(Val::I32(i as i32)), Some(Val::I32(acc))],
            "call {i}"
        );
    }
}

/// A live local held in a place of its own can be changed; the change is
/// what the code goes on with.
#[test]
fn live_locals_can_be_written() {
    let (mut store, instance) = setup_with(DebugLocals::Live);
    let done = Rc::new(RefCell::new(false));
    let d = done.clone();
    store.set_debug_handler(move |stop| {
        if stop.func_index() == 1 && !*d.borrow() && stop.locals()[0] == Some(Val::I32(1)) {
            // square(1) computes 7 * 7 instead.
            stop.set_local(0, Val::I32(7)).unwrap();
            assert!(stop.set_local(0, Val::I64(7)).is_err(), "types are checked");
            *d.borrow_mut() = true;
        }
        Ok(())
    });
    store.debug_interrupt().set(true);
    let sum = instance
        .get_typed_func::<i32, i32, _>(&store, "sum")
        .unwrap();
    // 0 + 49 + 4.
    assert_eq!(sum.call(&mut store, 3).unwrap(), 53);
    assert!(*done.borrow());
    store.debug_interrupt().set(false);
    assert_eq!(sum.call(&mut store, 3).unwrap(), 5);
}

#[test]
fn live_code_pauses_an_endless_loop() {
    let (mut store, instance) = setup_with(DebugLocals::Live);
    pause_spin_from_another_thread(&mut store, &instance);
    // The store goes on: hooks off, the guest runs to its end.
    store.set_debug_handler(|_| Ok(()));
    let sum = instance
        .get_typed_func::<i32, i32, _>(&store, "sum")
        .unwrap();
    assert_eq!(sum.call(&mut store, 4).unwrap(), 14);
}

/// A live site is one byte of the module's code, patched on and off by
/// the store that switches it: one breakpoint stops only there, each time
/// it runs; switched off it never stops again; and a second store running
/// the same module's code (so the same patched byte) while the first
/// one's site is on goes through it without a stop of its own.
#[test]
fn a_live_breakpoint_stops_its_own_store_only() {
    let engine = engine_with(DebugLocals::Live);
    let module = Module::new(&engine, SUM.as_bytes()).unwrap();
    let mul = offset_of(&module, |op| matches!(op, Operator::I32Mul));
    let mut store = Store::new(&engine, ());
    let instance = Instance::new(&mut store, &module, &[]).unwrap();
    let stops = Rc::new(RefCell::new(Vec::new()));
    let s = stops.clone();
    store.set_debug_handler(move |stop| {
        s.borrow_mut()
            .push((stop.wasm_offset(), stop.locals()[0].clone()));
        Ok(())
    });
    store.debug_interrupt().set_site(mul, true);
    let sum = instance
        .get_typed_func::<i32, i32, _>(&store, "sum")
        .unwrap();

    let mut other = Store::new(&engine, ());
    let other_instance = Instance::new(&mut other, &module, &[]).unwrap();
    let other_calls = Rc::new(RefCell::new(0));
    let c = other_calls.clone();
    other.set_debug_handler(move |_| {
        *c.borrow_mut() += 1;
        Ok(())
    });
    let other_sum = other_instance
        .get_typed_func::<i32, i32, _>(&other, "sum")
        .unwrap();
    assert_eq!(other_sum.call(&mut other, 4).unwrap(), 14);
    assert_eq!(*other_calls.borrow(), 0, "the other store has no site on");

    assert_eq!(sum.call(&mut store, 3).unwrap(), 5);
    assert_eq!(
        *stops.borrow(),
        (0..3).map(|x| (mul, Some(Val::I32(x)))).collect::<Vec<_>>()
    );
    store.debug_interrupt().set_site(mul, false);
    assert_eq!(sum.call(&mut store, 3).unwrap(), 5);
    assert_eq!(stops.borrow().len(), 3, "off, the site never stops");
}

/// A trap in live code stops on the faulting instruction with its live
/// locals (`$a` is dead after the multiplication, and so is everything of
/// the caller after the call) and the trap then goes on.
#[test]
fn a_trap_in_live_code_stops_with_its_live_locals() {
    let engine = engine_with(DebugLocals::Live);
    let module = Module::new(&engine, DIVIDE.as_bytes()).unwrap();
    let mut store = Store::new(&engine, ());
    let instance = Instance::new(&mut store, &module, &[]).unwrap();
    let seen = Rc::new(RefCell::new(Vec::new()));
    let s = seen.clone();
    store.set_debug_handler(move |stop| {
        let trap = stop.trap().expect("only the trap stops");
        let err = stop.set_local(1, Val::I32(1)).unwrap_err();
        assert!(err.to_string().contains("trapped"), "{err}");
        s.borrow_mut().push((
            trap,
            stop.wasm_offset(),
            stop.locals(),
            stop.frame_locals(1),
        ));
        Ok(())
    });
    store.debug_interrupt().set_trap_stops(true);
    let run = instance
        .get_typed_func::<i32, i32, _>(&store, "run")
        .unwrap();
    assert_eq!(run.call(&mut store, 2).unwrap(), 20);
    let Err(Error::Trap(trap)) = run.call(&mut store, 0) else {
        panic!("the division traps");
    };
    assert_eq!(trap.code(), Some(TrapCode::IntegerDivisionByZero), "{trap}");
    let seen = seen.borrow();
    assert_eq!(seen.len(), 1);
    let (code, offset, locals, caller) = &seen[0];
    assert_eq!(*code, TrapCode::IntegerDivisionByZero);
    assert_eq!(
        *offset,
        offset_of(&module, |op| matches!(op, Operator::I32DivS))
    );
    // `a` is dead after the multiplication, but parameters are kept for
    // the debugger (home slot); so is the caller's `b`, not its `k`.
    assert_eq!(
        locals,
        &[Some(Val::I32(4)), Some(Val::I32(0)), Some(Val::I32(40))]
    );
    assert_eq!(caller.as_deref(), Some(&[Some(Val::I32(0)), None][..]));
    assert_eq!(trap.backtrace.len(), 2);
}

/// A kept local (`CompileOptions::debug_keep_locals`, what a debugger asks
/// for a function's DWARF frame base) is read from the home slot at every
/// stop, even where the optimized code no longer needs it, and follows
/// each `local.set`.
#[test]
fn kept_locals_are_read_at_every_stop() {
    let wat = r#"(module (func (export "f") (param $p i32) (result i32) (local $x i32)
        (local.set $x (i32.mul (local.get $p) (i32.const 3)))
        (local.set $p (i32.add (local.get $p) (i32.const 1)))
        nop
        (local.get $x)))"#;
    let probe = Module::new(&engine_with(DebugLocals::Live), wat.as_bytes()).unwrap();
    let nop = offset_of(&probe, |op| matches!(op, Operator::Nop));
    let engine = engine_compiling(CompileOptions {
        debug_hooks: true,
        debug_locals: DebugLocals::Live,
        debug_keep_locals: Some(vec![(nop, 0)].into()),
        ..CompileOptions::default()
    });
    let module = Module::new(&engine, wat.as_bytes()).unwrap();
    let mut store = Store::new(&engine, ());
    let instance = Instance::new(&mut store, &module, &[]).unwrap();
    let seen = Rc::new(RefCell::new(Vec::new()));
    let s = seen.clone();
    store.set_debug_handler(move |stop| {
        s.borrow_mut()
            .push((stop.wasm_offset(), stop.locals()[0].clone()));
        Ok(())
    });
    store.debug_interrupt().set(true);
    let f = instance.get_typed_func::<i32, i32, _>(&store, "f").unwrap();
    assert_eq!(f.call(&mut store, 5).unwrap(), 15);
    let seen = seen.borrow();
    assert!(seen.iter().all(|(_, p)| p.is_some()), "{seen:?}");
    let at_nop = seen
        .iter()
        .find(|(o, _)| *o == nop)
        .expect("a stop at the nop");
    assert_eq!(at_nop.1, Some(Val::I32(6)));
    assert_eq!(seen.first().unwrap().1, Some(Val::I32(5)));
}

/// `debug_info` keeps where each local lives (value-label ranges) unless
/// `debug_value_labels` is off, as `run -g` compiles; the code runs the
/// same either way.
#[test]
fn value_labels_are_collected_only_when_asked() {
    let labels = |wanted: bool| {
        let engine = engine_compiling(CompileOptions {
            debug_info: true,
            debug_value_labels: wanted,
            ..CompileOptions::default()
        });
        let module = Module::new(&engine, SUM.as_bytes()).unwrap();
        let mut store = Store::new(&engine, ());
        let instance = Instance::new(&mut store, &module, &[]).unwrap();
        let sum = instance
            .get_typed_func::<i32, i32, _>(&store, "sum")
            .unwrap();
        assert_eq!(sum.call(&mut store, 4).unwrap(), 14);
        module
            .functions_debug_info()
            .iter()
            .map(|f| f.value_labels.len())
            .sum::<usize>()
    };
    assert!(labels(true) > 0);
    assert_eq!(labels(false), 0);
}

/// Loads and stores around a watched word [100, 104), a host function
/// writing into it and a `memory.fill` over it.
const WATCHED: &str = r#"(module
  (import "host" "poke" (func $poke (param i32 i32)))
  (memory (export "memory") 1)
  (func (export "run")
    (i32.store (i32.const 96) (i32.const 1))
    (drop (i32.load (i32.const 104)))
    (drop (i32.load16_u (i32.const 102)))
    (i32.store8 (i32.const 103) (i32.const 7))
    (call $poke (i32.const 101) (i32.const 9))
    (i32.store (i32.const 100) (i32.load (i32.const 100)))
    (memory.fill (i32.const 64) (i32.const 0) (i32.const 64))
    (nop)))"#;

/// Runs `WATCHED` with a watch on [100, 104) of the given kinds, set at
/// the first instruction; returns every hit, with the opcode at its
/// offset.
fn watch_hits(locals: DebugLocals, read: bool, write: bool) -> Vec<(bool, Option<u8>)> {
    use wasmscope_engine::{FuncType, Linker, MemoryWatch, ValType};
    let engine = engine_with(locals);
    let module = Module::new(&engine, WATCHED.as_bytes()).unwrap();
    let binary = module.binary().to_vec();
    let mut store = Store::new(&engine, ());
    let mut linker = Linker::new();
    linker.func_new(
        "host",
        "poke",
        FuncType::new([ValType::I32, ValType::I32], []),
        |mut caller, a, _| {
            let Some(wasmscope_engine::Extern::Memory(m)) = caller.get_export("memory") else {
                panic!("no memory");
            };
            let (bytes, _) = caller.memory_and_data(m);
            bytes[a[0].unwrap_i32() as usize] = a[1].unwrap_i32() as u8;
            Ok(())
        },
    );
    let instance = linker.instantiate(&mut store, &module).unwrap();
    let interrupt = store.debug_interrupt();
    interrupt.set(true);
    let hits = Rc::new(RefCell::new(Vec::new()));
    let h = hits.clone();
    let mut first = true;
    store.set_debug_handler(move |stop| {
        if std::mem::take(&mut first) {
            let watch = MemoryWatch {
                address: 100,
                len: 4,
                read,
                write,
            };
            stop.set_watchpoints(&[watch]).unwrap();
            interrupt.set(false);
        } else if let Some(hit) = stop.watch_hit() {
            assert_eq!(hit.address, 100);
            h.borrow_mut()
                .push((hit.write, hit.offset.map(|o| binary[o as usize])));
        }
        Ok(())
    });
    let run = instance.get_typed_func::<(), (), _>(&store, "run").unwrap();
    run.call(&mut store, ()).unwrap();
    // The pages are open again once wasm is left: the host reads them.
    let Some(wasmscope_engine::Extern::Memory(m)) = instance.get_export(&store, "memory") else {
        panic!("no memory");
    };
    assert_eq!(&m.data(&store)[96..104], &[0; 8]);
    let hits = hits.borrow().clone();
    hits
}

#[test]
fn watchpoints_stop_after_each_read_of_the_range_and_each_write_that_changes_it() {
    const LOAD: Option<u8> = Some(0x28);
    const LOAD16: Option<u8> = Some(0x2f);
    const STORE8: Option<u8> = Some(0x3a);
    for locals in [DebugLocals::Mirrored, DebugLocals::Live] {
        // The store to [96, 100) and the load of [104, 108) are next to the
        // range, not in it; the host's write and memory.fill have no wasm
        // offset of their own; the last store writes back what it loaded.
        assert_eq!(
            watch_hits(locals, true, true),
            [
                (false, LOAD16),
                (true, STORE8),
                (true, None),
                (false, LOAD),
                (true, None),
            ],
            "{locals:?}"
        );
        // A store of the bytes already there changes nothing: no stop.
        assert_eq!(
            watch_hits(locals, false, true),
            [(true, STORE8), (true, None), (true, None)],
            "{locals:?}"
        );
        assert_eq!(
            watch_hits(locals, true, false),
            [(false, LOAD16), (false, LOAD)],
            "{locals:?}"
        );
    }
}

// ------------------------------------------------------- operand stack

/// Exercises what the compile must follow to know the operand stack: a
/// multi-value call, a block's result, an if/else, a loop with a
/// parameter, references, memory and a select.
const STACK: &str = r#"(module
  (memory 1)
  (global $g (mut i32) (i32.const 100))
  (func $pair (param i32) (result i32 i64)
    local.get 0
    i64.const 9)
  (func (export "f") (param $a i32) (param $b i64) (param $c f32) (param $d f64) (result i32)
    local.get $a
    i32.const 7
    i32.add
    local.get $b
    i64.const 3
    i64.mul
    local.get $c
    f32.const 0.5
    f32.add
    local.get $d
    f64.sqrt
    drop
    drop
    drop
    i32.const 1
    call $pair
    drop
    block (result i32)
      global.get $g
      i32.const 2
      i32.add
    end
    i32.add
    local.tee $a
    if (result i32)
      i32.const 8
    else
      i32.const 9
    end
    i32.add
    loop (param i32) (result i32)
      i32.const 1
      i32.sub
      local.tee $a
      local.get $a
      i32.const 15
      i32.gt_u
      br_if 0
    end
    ref.null extern
    ref.is_null
    i32.add
    i32.const 64
    i32.const 77
    i32.store
    i32.const 64
    i32.load
    memory.size
    select))"#;

/// Every stop of `f`'s run: the operand stack, each value as text (`?`
/// when not recorded).
fn operand_stacks(locals: DebugLocals) -> Vec<String> {
    // Recorded at every site.
    operand_stacks_with(engine_compiling(CompileOptions {
        debug_hooks: true,
        debug_locals: locals,
        ..CompileOptions::default()
    }))
}

fn operand_stacks_with(engine: Engine) -> Vec<String> {
    let module = Module::new(&engine, STACK.as_bytes()).unwrap();
    let mut store = Store::new(&engine, ());
    let instance = Instance::new(&mut store, &module, &[]).unwrap();
    let seen = Rc::new(RefCell::new(Vec::new()));
    let s = seen.clone();
    store.set_debug_handler(move |stop| {
        if stop.func_index() == 1 {
            let stack = stop.operand_stack().expect("a hook site");
            let text: Vec<String> = stack
                .iter()
                .map(|(ty, v)| match v {
                    Some(Val::I32(x)) => format!("{x}"),
                    Some(Val::I64(x)) => format!("{x}L"),
                    Some(Val::F32(x)) => format!("{}f", f32::from_bits(*x)),
                    Some(Val::F64(x)) => format!("{}d", f64::from_bits(*x)),
                    Some(Val::ExternRef(None)) => "null".into(),
                    Some(v) => format!("{v:?}"),
                    None => format!("?{ty:?}"),
                })
                .collect();
            s.borrow_mut().push(text.join(" "));
        }
        Ok(())
    });
    store.debug_interrupt().set(true);
    let f = instance
        .get_typed_func::<(i32, i64, f32, f64), i32, _>(&store, "f")
        .unwrap();
    assert_eq!(f.call(&mut store, (5, 10, 1.5, 16.0)).unwrap(), 16);
    let seen = seen.borrow().clone();
    seen
}

/// The stack before each instruction `f` runs, in order: what a reader
/// works out from the program (the loop runs five times, from 20 down to
/// 16; the `if` takes its first arm).
fn expected_stacks() -> Vec<String> {
    let mut out: Vec<String> = [
        "",                 // local.get $a
        "5",                // i32.const 7
        "5 7",              // i32.add
        "12",               // local.get $b
        "12 10L",           // i64.const 3
        "12 10L 3L",        // i64.mul
        "12 30L",           // local.get $c
        "12 30L 1.5f",      // f32.const 0.5
        "12 30L 1.5f 0.5f", // f32.add
        "12 30L 2f",        // local.get $d
        "12 30L 2f 16d",    // f64.sqrt
        "12 30L 2f 4d",     // drop
        "12 30L 2f",        // drop
        "12 30L",           // drop
        "12",               // i32.const 1
        "12 1",             // call $pair
        "12 1 9L",          // drop
        "12 1",             // block
        "12 1",             // global.get $g
        "12 1 100",         // i32.const 2
        "12 1 100 2",       // i32.add
        "12 1 102",         // end
        "12 1 102",         // i32.add
        "12 103",           // local.tee $a
        "12 103",           // if
        "12",               // i32.const 8
        "12 8",             // else
        "12 8",             // i32.add
        "20",               // loop
    ]
    .map(String::from)
    .into();
    for n in (16..=20).rev() {
        let m = n - 1;
        out.extend([
            format!("{n}"),                      // i32.const 1
            format!("{n} 1"),                    // i32.sub
            format!("{m}"),                      // local.tee $a
            format!("{m}"),                      // local.get $a
            format!("{m} {m}"),                  // i32.const 15
            format!("{m} {m} 15"),               // i32.gt_u
            format!("{m} {}", u8::from(m > 15)), // br_if 0
        ]);
    }
    out.extend(
        [
            "15",       // end
            "15",       // ref.null extern
            "15 null",  // ref.is_null
            "15 1",     // i32.add
            "16",       // i32.const 64
            "16 64",    // i32.const 77
            "16 64 77", // i32.store
            "16",       // i32.const 64
            "16 64",    // i32.load
            "16 77",    // memory.size
            "16 77 1",  // select
            "16",       // end
        ]
        .map(String::from),
    );
    out
}

#[test]
fn mirrored_code_records_every_operand_stack_value() {
    assert_eq!(operand_stacks(DebugLocals::Mirrored), expected_stacks());
}

/// Optimized code records the stack the same way, on the way to the
/// stop, at no cost while the site is off.
#[test]
fn live_code_records_every_operand_stack_value() {
    assert_eq!(operand_stacks(DebugLocals::Live), expected_stacks());
}

/// Live code stores the stack only in the ranges it is given (where
/// DWARF puts a variable on it): elsewhere a stop knows the stack's types
/// and says its values were not recorded.
#[test]
fn live_code_records_the_operand_stack_only_where_asked() {
    let probe = Module::new(&engine_with(DebugLocals::Live), STACK.as_bytes()).unwrap();
    let sqrt = offset_of(&probe, |op| matches!(op, Operator::F64Sqrt));
    let got = operand_stacks_with(engine_compiling(CompileOptions {
        debug_hooks: true,
        debug_locals: DebugLocals::Live,
        debug_stack_ranges: Some(vec![(sqrt, sqrt + 1)].into()),
        ..CompileOptions::default()
    }));
    let expected = expected_stacks();
    assert_eq!(got.len(), expected.len());
    for (i, (got, want)) in got.iter().zip(&expected).enumerate() {
        if want == "12 30L 2f 16d" {
            assert_eq!(got, want);
        } else {
            assert!(
                got.split(' ').all(|t| t.is_empty() || t.starts_with('?')),
                "stop {i}: {got}"
            );
            assert_eq!(got.split(' ').count(), want.split(' ').count(), "stop {i}");
        }
    }
}

/// A caller's operand stack is the part below its call's arguments: live
/// code records it before the call (here, everywhere: no stack ranges
/// given), read at a stop in the callee; mirrored code keeps none.
#[test]
fn a_stop_in_a_callee_reads_the_callers_operand_stack() {
    const CALLS: &str = r#"(module
      (func $g (param i32) (result i32) (i32.add (local.get 0) (i32.const 1)))
      (func (export "f") (param $a i32) (param $b i64) (param $c f64) (result i32)
        (local $r i32)
        local.get $a
        i32.const 7
        i32.add
        local.get $b
        local.get $c
        i32.const 40
        call $g
        local.set $r
        drop
        drop
        local.get $r
        i32.add))"#;
    for (locals, stack_ranges) in [
        (DebugLocals::Live, None),
        (DebugLocals::Mirrored, Some(Vec::new().into())),
    ] {
        let engine = engine_compiling(CompileOptions {
            debug_hooks: true,
            debug_locals: locals,
            debug_stack_ranges: stack_ranges,
            ..CompileOptions::default()
        });
        let module = Module::new(&engine, CALLS.as_bytes()).unwrap();
        let mut store = Store::new(&engine, ());
        let instance = Instance::new(&mut store, &module, &[]).unwrap();
        let seen = Rc::new(RefCell::new(None));
        let s = seen.clone();
        store.set_debug_handler(move |stop| {
            if stop.func_index() == 0 && s.borrow().is_none() {
                *s.borrow_mut() = Some((stop.frame_operand_stack(1), stop.frame_operand_stack(3)));
            }
            Ok(())
        });
        store.debug_interrupt().set(true);
        let f = instance
            .get_typed_func::<(i32, i64, f64), i32, _>(&store, "f")
            .unwrap();
        assert_eq!(f.call(&mut store, (5, 10, 2.5)).unwrap(), 53);
        let (caller, past) = seen.borrow_mut().take().expect("a stop in $g");
        assert_eq!(past, None, "{locals:?}: no frame 3");
        if locals == DebugLocals::Mirrored {
            assert_eq!(caller, None);
            continue;
        }
        let caller = caller.expect("live code records a caller's stack");
        assert_eq!(
            caller,
            vec![
                (ValType::I32, Some(Val::I32(12))),
                (ValType::I64, Some(Val::I64(10))),
                (ValType::F64, Some(Val::F64(2.5f64.to_bits()))),
            ]
        );
    }
}

/// Two modules in one store, the program calling the library's export:
/// at a stop in the library, frames name their modules, the caller's
/// locals are the program's function's, and each module's globals and
/// memory are its own.
#[test]
fn a_stop_in_an_imported_module_reads_every_modules_frames_globals_and_memory() {
    const LIB: &str = r#"(module
      (memory (export "mem") 1) (data (i32.const 0) "lib!")
      (global $g (mut i64) (i64.const 42))
      (func (export "twice") (param $x i32) (result i32)
        (i32.add (local.get $x) (local.get $x))))"#;
    const MAIN: &str = r#"(module
      (import "lib" "twice" (func $twice (param i32) (result i32)))
      (memory 1) (data (i32.const 0) "main")
      (global $h (mut i32) (i32.const 7))
      (func (export "run") (param $a i32) (result i32) (local $b f64)
        (local.set $b (f64.const 2.5))
        (call $twice (local.get $a))))"#;
    for locals_kind in [DebugLocals::Mirrored, DebugLocals::Live] {
        let engine = engine_with(locals_kind);
        let lib = Module::new(&engine, LIB.as_bytes()).unwrap();
        let main = Module::new(&engine, MAIN.as_bytes()).unwrap();
        assert_ne!(lib.id(), main.id());
        let mut store = Store::new(&engine, ());
        let mut linker = wasmscope_engine::Linker::new();
        let l = linker.instantiate(&mut store, &lib).unwrap();
        linker.instance(&store, "lib", l);
        let m = linker.instantiate(&mut store, &main).unwrap();
        let seen = Rc::new(RefCell::new(None));
        let s = seen.clone();
        let (lib_id, main_id) = (lib.id(), main.id());
        store.set_debug_handler(move |stop| {
            if stop.module_info().id == lib_id && s.borrow().is_none() {
                let modules: Vec<_> = stop.frames().iter().map(|f| f.module).collect();
                *s.borrow_mut() = Some((
                    modules,
                    stop.locals(),
                    stop.frame_locals(1),
                    stop.globals_in(main_id).map(|g| g[0].2.clone()),
                    stop.globals()[0].2.clone(),
                    stop.memory_bytes_in(main_id, 0).map(|m| m[..4].to_vec()),
                    stop.memory_bytes(0).map(|m| m[..4].to_vec()),
                ));
            }
            Ok(())
        });
        store.debug_interrupt().set(true);
        let run = m.get_typed_func::<i32, i32, _>(&store, "run").unwrap();
        assert_eq!(run.call(&mut store, 21).unwrap(), 42);
        let (modules, locals, caller, main_global, lib_global, main_mem, lib_mem) =
            seen.borrow_mut().take().expect("a stop in the library");
        assert_eq!(modules, [Some(lib.id()), Some(main.id())], "{locals:?}");
        assert_eq!(locals, [Some(Val::I32(21))], "{locals:?}");
        // The program's function's two locals (live code may no longer
        // keep them across the call; mirrored code always does).
        let caller = caller.expect("the caller's locals");
        assert_eq!(caller.len(), 2, "{caller:?}");
        if locals_kind == DebugLocals::Mirrored {
            assert_eq!(
                caller,
                [Some(Val::I32(21)), Some(Val::F64(2.5f64.to_bits()))]
            );
        }
        assert_eq!(main_global, Some(Val::I32(7)));
        assert_eq!(lib_global, Val::I64(42));
        assert_eq!(main_mem.as_deref(), Some(&b"main"[..]));
        assert_eq!(lib_mem.as_deref(), Some(&b"lib!"[..]));
    }
}
