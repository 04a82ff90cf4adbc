//! The engine-driven debugger without any protocol: breakpoints, stepping,
//! pause, locals, output, traps and exit codes, on the C fixtures.

use std::path::{Path, PathBuf};
use std::time::Duration;
use wasmscope_debug::session::{BreakpointSpec, Event, LaunchConfig, Session, Step, StopReason};

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
    }]);
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
    assert!(!s.locals().is_empty(), "wasm locals of `area`");
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
        },
        BreakpointSpec::Function("factorial".into()),
        BreakpointSpec::Line {
            file: "app.c".into(),
            line: 999,
        },
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
    }]);
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
