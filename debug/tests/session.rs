//! The engine-driven debugger without any protocol: breakpoints, stepping,
//! pause, locals, output, traps and exit codes, on the C fixtures.

use std::path::{Path, PathBuf};
use std::time::Duration;
use wasmscope_debug::session::{
    Breakpoint, BreakpointSpec, Event, LaunchConfig, Session, Step, StopReason, VarView,
};

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../tests/fixtures")
        .join(name)
}

fn launch(program: PathBuf, stop_on_entry: bool) -> Session {
    Session::launch(LaunchConfig {
        program,
        stop_on_entry,
        ..LaunchConfig::default()
    })
    .unwrap()
}

/// The next event that is not guest output (collected into `out`).
fn next(s: &Session, out: &mut String) -> Event {
    loop {
        match s
            .events
            .recv_timeout(Duration::from_secs(60))
            .expect("an event")
        {
            Event::Output { text, .. } => out.push_str(&text),
            e => return e,
        }
    }
}

/// `function@line` of the innermost frame of a stop.
fn where_(e: &Event) -> String {
    let Event::Stopped { frames, .. } = e else {
        panic!("not a stop: {e:?}")
    };
    let f = &frames[0];
    format!(
        "{}@{}",
        f.func_name.as_deref().unwrap_or("?"),
        f.location.as_ref().map_or(0, |l| l.line)
    )
}

#[test]
fn line_breakpoint_then_step_over_out_and_run_to_exit() {
    let s = launch(fixture("dbg/app-O0.wasm"), false);
    let placed = s.set_breakpoints(&[BreakpointSpec::Line {
        file: "/somewhere/else/app.c".into(),
        line: 21,
    }
    .into()]);
    assert_eq!(placed[0].line, Some(21));
    s.start();
    let mut out = String::new();
    let e = next(&s, &mut out);
    assert!(matches!(
        e,
        Event::Stopped {
            reason: StopReason::Breakpoint,
            ..
        }
    ));
    assert_eq!(where_(&e), "area@21");
    let Event::Stopped { frames, .. } = &e else {
        unreachable!()
    };
    assert_eq!(
        frames[1].location.as_ref().map(|l| l.line),
        Some(47),
        "called from main's line 47"
    );
    let wasm_locals = s.scopes(0).unwrap()[1].reference;
    assert!(
        !s.variables(wasm_locals, 0, 0).unwrap().is_empty(),
        "wasm locals of `area`"
    );
    s.set_breakpoints(&[]);
    s.step(Step::Over);
    let e = next(&s, &mut out);
    assert_eq!(where_(&e), "area@22");
    s.step(Step::Out);
    let e = next(&s, &mut out);
    assert!(where_(&e).ends_with("@47"), "{}", where_(&e));
    s.resume();
    let e = next(&s, &mut out);
    assert!(matches!(e, Event::Exited(0)), "{e:?}");
    assert!(out.contains("area=12 sum=60"), "{out}");
    s.terminate();
}

#[test]
fn step_in_function_breakpoints_and_moved_lines() {
    let s = launch(fixture("dbg/app-O0.wasm"), false);
    let placed = s.set_breakpoints(&[
        BreakpointSpec::Line {
            file: "app.c".into(),
            line: 51,
        }
        .into(),
        BreakpointSpec::Function("factorial".into()).into(),
        BreakpointSpec::Line {
            file: "app.c".into(),
            line: 999,
        }
        .into(),
    ]);
    assert!(placed[1].offset.is_some());
    assert!(placed[2].offset.is_none() && placed[2].message.is_some());
    s.start();
    let mut out = String::new();
    assert_eq!(where_(&next(&s, &mut out)), "main@51");
    s.step(Step::In);
    assert!(where_(&next(&s, &mut out)).starts_with("sum_list@"));
    s.resume();
    let e = next(&s, &mut out);
    assert!(where_(&e).starts_with("factorial@"), "{e:?}");
    // A blank line moves to the next line with code.
    let moved = s.set_breakpoints(&[BreakpointSpec::Line {
        file: "app.c".into(),
        line: 24,
    }
    .into()]);
    assert_eq!(moved[0].line, Some(25));
    s.terminate();
}

#[test]
fn stop_on_entry_pause_and_terminate() {
    let dir = std::env::temp_dir().join(format!("wasmscope-session-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let spin = dir.join("spin.wat");
    std::fs::write(
        &spin,
        r#"(module (func (export "_start") (loop $l (br $l))))"#,
    )
    .unwrap();
    let s = launch(spin, true);
    s.start();
    let mut out = String::new();
    let e = next(&s, &mut out);
    assert!(
        matches!(
            e,
            Event::Stopped {
                reason: StopReason::Entry,
                ..
            }
        ),
        "{e:?}"
    );
    s.resume();
    std::thread::sleep(Duration::from_millis(50));
    s.pause();
    let e = next(&s, &mut out);
    assert!(
        matches!(
            e,
            Event::Stopped {
                reason: StopReason::Pause,
                ..
            }
        ),
        "{e:?}"
    );
    s.terminate();
}

#[test]
fn traps_and_exit_codes_are_reported() {
    let s = launch(fixture("trap.wasm"), false);
    s.start();
    let mut out = String::new();
    match next(&s, &mut out) {
        Event::Trapped { message, frames } => {
            assert!(message.contains("divide by zero"), "{message}");
            assert_eq!(frames[0].func_name.as_deref(), Some("divide"));
        }
        e => panic!("{e:?}"),
    }
    s.terminate();
    let s = launch(fixture("exitcode.wasm"), false);
    s.start();
    let mut out = String::new();
    assert!(matches!(next(&s, &mut out), Event::Exited(7)));
    assert!(
        out.contains("to stdout") && out.contains("to stderr"),
        "{out}"
    );
    s.terminate();
}

fn find(vars: &[VarView], name: &str) -> VarView {
    vars.iter()
        .find(|v| v.name == name)
        .unwrap_or_else(|| panic!("no `{name}` in {vars:#?}"))
        .clone()
}

fn stop_at(s: &Session, breakpoints: &[Breakpoint], out: &mut String) -> Event {
    s.set_breakpoints(breakpoints);
    s.start();
    next(s, out)
}

fn line(line: u32) -> Breakpoint {
    BreakpointSpec::Line {
        file: "app.c".into(),
        line,
    }
    .into()
}

#[test]
fn source_variables_evaluate_and_set() {
    let s = launch(fixture("dbg/app-O0.wasm"), false);
    let mut out = String::new();
    let e = stop_at(&s, &[line(53)], &mut out);
    assert_eq!(where_(&e), "main@53");
    let scopes = s.scopes(0).unwrap();
    let names: Vec<&str> = scopes.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "Locals",
            "Wasm locals",
            "Operand stack",
            "Globals",
            "Wasm globals",
            "Tables",
            "Memory"
        ]
    );
    let locals = s.variables(scopes[0].reference, 0, 0).unwrap();
    assert_eq!(find(&locals, "a").value, "12");
    assert_eq!(find(&locals, "a").type_name, "int");
    assert_eq!(find(&locals, "s").value, "60");
    assert_eq!(find(&locals, "f").value, "2432902008176640000");
    assert_eq!(find(&locals, "f").type_name, "uint64_t");
    let p = find(&locals, "p");
    assert_eq!(p.value, "{x: 3, y: 4}");
    assert_eq!(p.type_name, "struct point");
    let fields = s.variables(p.reference, 0, 0).unwrap();
    assert_eq!(find(&fields, "y").value, "4");
    // A pointer to a struct expands to the pointee's fields.
    let n1 = find(&locals, "n1");
    let next1 = find(&s.variables(n1.reference, 0, 0).unwrap(), "next");
    assert_eq!(next1.type_name, "struct node *");
    assert_eq!(
        find(&s.variables(next1.reference, 0, 0).unwrap(), "value").value,
        "20"
    );

    let globals = s.variables(scopes[3].reference, 0, 0).unwrap();
    assert_eq!(find(&globals, "global_counter").value, "7");
    assert_eq!(find(&globals, "file_scale").value, "1.5");
    let wasm_globals = s.variables(scopes[4].reference, 0, 0).unwrap();
    assert!(
        wasm_globals.iter().any(|g| g.name == "$__stack_pointer"),
        "{wasm_globals:?}"
    );

    // Expressions: members through pointers, arithmetic, comparisons,
    // indexing through `char **`, casts, wasm globals.
    assert_eq!(s.evaluate("n1.next->next->value").unwrap().value, "30");
    assert_eq!(s.evaluate("p.x * p.y + 1").unwrap().value, "13");
    assert_eq!(s.evaluate("s == 60 && a < 13").unwrap().value, "1");
    assert_eq!(s.evaluate("(unsigned char)300").unwrap().value, "44");
    assert!(s
        .evaluate("argv[0]")
        .unwrap()
        .value
        .contains("\"app-O0.wasm\""));
    assert_eq!(s.evaluate("*argv[0]").unwrap().value, "97 'a'");
    assert_eq!(
        s.evaluate("$__stack_pointer").unwrap().value,
        find(&wasm_globals, "$__stack_pointer").value
    );
    assert!(s
        .evaluate("nope")
        .unwrap_err()
        .contains("no variable `nope`"));
    assert!(s.evaluate("p->").is_err());

    // Memory: `&p` is an address whose 8 bytes are {3, 4}.
    let at: u64 = s.evaluate("&p").unwrap().value.parse().unwrap();
    assert_eq!(s.read_memory(at, 8).unwrap(), [3, 0, 0, 0, 4, 0, 0, 0]);
    s.write_memory(at + 4, vec![5, 0, 0, 0]).unwrap();
    assert_eq!(s.evaluate("p.y").unwrap().value, "5");

    // Set a source variable in memory and a wasm global; the program sees them.
    assert_eq!(
        s.set_variable(scopes[0].reference, "a", "2 + 3")
            .unwrap()
            .value,
        "5"
    );
    assert_eq!(
        s.set_variable(scopes[3].reference, "global_counter", "100")
            .unwrap()
            .value,
        "100"
    );
    s.set_breakpoints(&[]);
    s.resume();
    assert!(matches!(next(&s, &mut out), Event::Exited(0)));
    assert!(out.contains("area=5 sum=60"), "{out}");
    assert!(out.contains("scaled=7.5 counter=160"), "{out}");
}

#[test]
fn conditions_hit_counts_and_logpoints() {
    let s = launch(fixture("dbg/app-O0.wasm"), false);
    let mut out = String::new();
    let mut cond = line(28);
    cond.condition = Some("head->value == 20".into());
    let mut log = line(36);
    log.log_message = Some("factorial n={n}".into());
    let e = stop_at(&s, &[cond, log], &mut out);
    assert_eq!(where_(&e), "sum_list@28");
    let locals = s
        .variables(s.scopes(0).unwrap()[0].reference, 0, 0)
        .unwrap();
    assert_eq!(find(&locals, "total").value, "10");

    // The hit count: the 5th time line 36 runs, n is 16.
    let mut hit = line(36);
    hit.hit_condition = Some("5".into());
    s.set_breakpoints(&[hit]);
    s.resume();
    let e = next(&s, &mut out);
    assert_eq!(where_(&e), "factorial@36");
    assert_eq!(s.evaluate("n").unwrap().value, "16");
    // Each recursive caller has its own `n`.
    assert_eq!(s.evaluate_in(1, "n").unwrap().value, "17");
    assert_eq!(s.evaluate_in(4, "n").unwrap().value, "20");
    assert!(s.evaluate_in(5, "n").unwrap_err().contains("no variable"));
    // Logpoints printed and did not stop (none since the hit-count one).
    assert!(!out.contains("factorial n="), "{out}");

    let mut log = line(35);
    log.log_message = Some("n={n} {{braces}}".into());
    s.set_breakpoints(&[log]);
    s.resume();
    assert!(matches!(next(&s, &mut out), Event::Exited(0)));
    assert!(out.contains("n=15 {braces}\n"), "{out}");
    assert!(out.contains("n=1 {braces}\n"), "{out}");
}

#[test]
fn wasm_scopes_operand_stack_and_tables() {
    let s = launch(fixture("dbg/app-O0.wasm"), false);
    let mut out = String::new();
    stop_at(
        &s,
        &[BreakpointSpec::Function("area".into()).into()],
        &mut out,
    );
    let scopes = s.scopes(0).unwrap();
    let wasm = s.variables(scopes[1].reference, 0, 0).unwrap();
    assert!(wasm[0].name.starts_with('$'), "{wasm:?}");
    assert_eq!(wasm[0].type_name, "i32");
    // The parameter is read (kept for the debugger) but, stored to the
    // frame at -O0 and never read again, it has no live value to write:
    // a clear refusal, not a write the program would never see.
    let name = wasm[0].name.clone();
    let refused = s
        .set_variable(scopes[1].reference, &name, "77")
        .unwrap_err();
    assert!(refused.contains("no longer keeps it"), "{refused}");
    let stack = s.variables(scopes[2].reference, 0, 0).unwrap();
    assert!(stack.iter().all(|v| v.value.contains("value not recorded")));
    let tables = s.variables(scopes[5].reference, 0, 0).unwrap();
    assert_eq!(tables[0].name, "table0");
    let memory = s.variables(scopes[6].reference, 0, 0).unwrap();
    assert!(memory[0].value.ends_with("bytes)"), "{memory:?}");
    assert_eq!(memory[0].memory_reference, Some(0));
    // The caller's frame: its locals from its home slot (read-only for
    // wasm locals), its source variables through its own frame base.
    let outer = s.scopes(1).unwrap();
    let names: Vec<&str> = outer.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "Locals",
            "Wasm locals",
            "Globals",
            "Wasm globals",
            "Tables",
            "Memory"
        ]
    );
    let main_locals = s.variables(outer[0].reference, 0, 0).unwrap();
    assert_eq!(find(&main_locals, "p").value, "{x: 3, y: 4}");
    assert_eq!(s.evaluate_in(1, "p.y * 10").unwrap().value, "40");
    let main_wasm = s.variables(outer[1].reference, 0, 0).unwrap();
    assert!(!main_wasm.is_empty());
    assert!(s
        .set_variable(outer[1].reference, &main_wasm[0].name, "1")
        .unwrap_err()
        .contains("read-only"));
    // Stale references and running guests are errors, not hangs.
    assert!(s.variables(9999, 0, 0).is_err());
    s.set_breakpoints(&[]);
    s.resume();
    assert!(matches!(next(&s, &mut out), Event::Exited(0)));
    assert!(s.scopes(0).is_err());
}

/// Optimized code: variables live in wasm locals, location lists or
/// nowhere; every scope still answers, with values or `<optimized out>`.
#[test]
fn optimized_code_degrades_to_fewer_values() {
    let s = launch(fixture("dbg/app-O2.wasm"), false);
    let mut out = String::new();
    let names = ["area", "sum_list", "factorial", "parse_header", "main"];
    let breakpoints: Vec<Breakpoint> = names
        .iter()
        .map(|n| BreakpointSpec::Function((*n).into()).into())
        .collect();
    s.set_breakpoints(&breakpoints);
    s.start();
    let mut shown = 0;
    loop {
        match next(&s, &mut out) {
            Event::Stopped { .. } => {
                for scope in s.scopes(0).unwrap() {
                    for v in s.variables(scope.reference, 0, 0).unwrap() {
                        assert!(!v.value.is_empty() || v.reference != 0, "{v:?}");
                        shown += 1;
                    }
                }
                s.resume();
            }
            Event::Exited(code) => {
                assert_eq!(code, 0);
                break;
            }
            other => panic!("{other:?}"),
        }
    }
    assert!(shown > 0);
    assert!(out.contains("area=12 sum=60"), "{out}");
}

/// A trap stops before unwinding (with trap stops on): its frames and
/// source variables are there; resuming lets it end the guest.
#[test]
fn trap_stop_then_the_trap_ends_the_guest() {
    let s = Session::launch(LaunchConfig {
        program: fixture("dbg/app-O0.wasm"),
        args: vec!["abc".into()],
        ..LaunchConfig::default()
    })
    .unwrap();
    s.set_trap_stops(true);
    s.start();
    let mut out = String::new();
    let e = next(&s, &mut out);
    let Event::Stopped {
        reason: StopReason::Trap(message),
        ..
    } = &e
    else {
        panic!("a trap stop: {e:?}");
    };
    assert_eq!(message, "integer divide by zero");
    assert_eq!(where_(&e), "parse_header@42");
    assert_eq!(s.evaluate("length").unwrap().value, "3");
    assert_eq!(s.evaluate_in(1, "argc").unwrap().value, "2");
    s.resume();
    match next(&s, &mut out) {
        Event::Trapped { message, frames } => {
            assert!(message.contains("integer divide by zero"), "{message}");
            assert_eq!(frames[0].func_name.as_deref(), Some("parse_header"));
        }
        e => panic!("the trap goes on: {e:?}"),
    }
}

/// A `.wat` program gets a line table of its text: breakpoints by `.wat`
/// line, steps by line or by instruction, and an invoked export.
#[test]
fn wat_lines_and_instruction_steps() {
    let dir = std::env::temp_dir().join(format!("wasmscope-session-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let wat = dir.join("count.wat");
    std::fs::write(
        &wat,
        "(module\n  (func (export \"count\") (param $n i32) (result i32) (local $i i32)\n    (loop $l\n      (local.set $i (i32.add (local.get $i) (i32.const 1)))\n      (br_if $l (i32.lt_u (local.get $i) (local.get $n))))\n    (local.get $i)))\n",
    )
    .unwrap();
    let s = Session::launch(LaunchConfig {
        program: wat.clone(),
        args: vec!["3".into()],
        invoke: Some("count".into()),
        ..LaunchConfig::default()
    })
    .unwrap();
    let placed = s.set_breakpoints(&[BreakpointSpec::Line {
        file: wat.to_string_lossy().into_owned(),
        line: 5,
    }
    .into()]);
    assert_eq!(placed[0].line, Some(5));
    s.start();
    let mut out = String::new();
    let first = next(&s, &mut out);
    assert_eq!(where_(&first), "count@5");
    assert_eq!(s.evaluate("$i").unwrap().value, "1");
    // By instruction: the next offset, same line.
    let Event::Stopped { frames, .. } = &first else {
        unreachable!()
    };
    let at = frames[0].wasm_offset.unwrap();
    s.step_by(Step::In, wasmscope_debug::session::Granularity::Instruction);
    let Event::Stopped { frames, .. } = next(&s, &mut out) else {
        panic!("a step stop")
    };
    assert!(frames[0].wasm_offset.unwrap() > at);
    assert_eq!(frames[0].location.as_ref().map(|l| l.line), Some(5));
    // By line: back to the loop body's line 4, then line 5 with $i = 2.
    s.step(Step::Over);
    assert_eq!(where_(&next(&s, &mut out)), "count@4");
    s.set_breakpoints(&[]);
    s.resume();
    match next(&s, &mut out) {
        Event::Exited(0) => {}
        e => panic!("exit: {e:?}"),
    }
    assert_eq!(out, "3\n");
    std::fs::remove_dir_all(&dir).ok();
}
