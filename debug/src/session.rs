//! A protocol-free debug session over the engine's debug hooks: launch a
//! module on its own thread, set breakpoints (source line, function name,
//! module offset), continue, step in/over/out by source line (by
//! instruction where there is no DWARF), pause, inspect, terminate. Events
//! (stops, guest output, exit) arrive on a channel. The DAP server is a thin
//! layer over this; tests drive it directly.
//!
//! The guest thread owns the store. When it stops, the debug handler blocks
//! on the command channel, answering inspection requests until a resume
//! command (or `terminate`, which ends the guest with a trap).

use crate::dwarf::read::{ModuleDwarf, SourceLocation};
use std::collections::{BTreeSet, HashMap};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::{Arc, Mutex};
use wasmscope_engine::wasi::{self, WasiCtx};
use wasmscope_engine::{
    CompileOptions, Config, DebugInterrupt, DebugStop, Engine, Error, Linker, Module, Store, Trap,
    Val,
};

/// What to run.
#[derive(Clone, Debug, Default)]
pub struct LaunchConfig {
    pub program: PathBuf,
    pub args: Vec<String>,
    pub env: Vec<(String, String)>,
    /// (host, guest, read-only)
    pub dirs: Vec<(PathBuf, String, bool)>,
    pub stop_on_entry: bool,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StopReason {
    Entry,
    Breakpoint,
    Step,
    Pause,
}

/// One frame of a stopped guest, innermost first.
#[derive(Clone, Debug)]
pub struct Frame {
    pub func_index: u32,
    pub func_name: Option<String>,
    pub wasm_offset: Option<u32>,
    pub location: Option<SourceLocation>,
}

#[derive(Debug)]
pub enum Event {
    Stopped {
        reason: StopReason,
        frames: Vec<Frame>,
    },
    Output {
        stderr: bool,
        text: String,
    },
    /// The guest trapped: message and frames.
    Trapped {
        message: String,
        frames: Vec<Frame>,
    },
    Exited(i32),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Step {
    In,
    Over,
    Out,
}

/// A breakpoint as asked for.
#[derive(Clone, Debug)]
pub enum BreakpointSpec {
    Line { file: String, line: u32 },
    Function(String),
    Offset(u32),
}

/// Where a breakpoint ended up: `None` when it cannot be placed, with why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Placed {
    pub offset: Option<u32>,
    /// The line it moved to (nearest line with code), for line breakpoints.
    pub line: Option<u32>,
    /// The DWARF file it was placed in, for line breakpoints.
    pub file: Option<String>,
    pub message: Option<String>,
}

enum Command {
    /// Configuration is done: run the guest (DAP's `configurationDone`).
    Start,
    Resume(Option<Step>),
    Locals(Sender<Vec<(String, String)>>),
    Terminate,
}

struct Shared {
    breakpoints: Mutex<BTreeSet<u32>>,
    pause: AtomicBool,
}

/// A launched guest.
pub struct Session {
    commands: Sender<Command>,
    pub events: Receiver<Event>,
    shared: Arc<Shared>,
    interrupt: DebugInterrupt,
    /// Module facts for placing breakpoints.
    dwarf_lines: Vec<(u32, SourceLocation)>,
    functions: HashMap<String, u32>,
    thread: Option<std::thread::JoinHandle<()>>,
}

struct ChannelWriter {
    events: Sender<Event>,
    stderr: bool,
}

impl Write for ChannelWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let _ = self.events.send(Event::Output {
            stderr: self.stderr,
            text: String::from_utf8_lossy(buf).into_owned(),
        });
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn frames_of<T>(stop: &DebugStop<'_, T>, dwarf: Option<&ModuleDwarf>) -> Vec<Frame> {
    stop.frames()
        .into_iter()
        .map(|f| Frame {
            location: f
                .wasm_offset
                .and_then(|o| dwarf.and_then(|d| d.location(o))),
            func_index: f.func_index,
            func_name: f.func_name,
            wasm_offset: f.wasm_offset,
        })
        .collect()
}

/// A step in progress: its kind, and the frame depth and source line
/// (file, line) it started from.
struct ActiveStep {
    kind: Step,
    depth: usize,
    line: Option<(String, u32)>,
}

impl Session {
    pub fn launch(config: LaunchConfig) -> Result<Session, String> {
        let bytes = std::fs::read(&config.program)
            .map_err(|e| format!("{}: {e}", config.program.display()))?;
        let engine = Engine::new(Config {
            compile: CompileOptions {
                debug_hooks: true,
                ..CompileOptions::default()
            },
            ..Config::default()
        })
        .map_err(|e| e.to_string())?;
        let module = Module::new(&engine, &bytes).map_err(|e| e.to_string())?;
        // Facts for breakpoints, read once on this thread.
        let (dwarf_lines, functions) = {
            let dwarf = ModuleDwarf::parse(module.binary(), module.info());
            let lines = dwarf
                .as_ref()
                .map(|d| {
                    d.line_ranges()
                        .into_iter()
                        .map(|r| (d.module_offset(r.start), r.location))
                        .collect()
                })
                .unwrap_or_default();
            // Each function's first instruction, by name.
            let mut functions = HashMap::new();
            let info = module.info();
            let bodies = wasmscope_engine::wasmparser::Parser::new(0)
                .parse_all(module.binary())
                .filter_map(|p| match p {
                    Ok(wasmscope_engine::wasmparser::Payload::CodeSectionEntry(b)) => Some(b),
                    _ => None,
                });
            for (i, body) in bodies.enumerate() {
                let index = (info.num_imported_funcs + i) as u32;
                let first = body
                    .get_operators_reader()
                    .ok()
                    .and_then(|mut r| r.read_with_offset().ok())
                    .map(|(_, at)| at as u32);
                if let (Some(name), Some(first)) = (info.func_name_by_index(index), first) {
                    functions.insert(name.to_string(), first);
                }
            }
            (lines, functions)
        };
        let (commands, command_rx) = mpsc::channel();
        let (event_tx, events) = mpsc::channel();
        let shared = Arc::new(Shared {
            breakpoints: Mutex::new(BTreeSet::new()),
            pause: AtomicBool::new(config.stop_on_entry),
        });
        let (interrupt_tx, interrupt_rx) = mpsc::channel();
        let thread_shared = shared.clone();
        let thread = std::thread::Builder::new()
            .name("wasmscope-guest".into())
            .spawn(move || {
                guest(
                    config,
                    engine,
                    module,
                    bytes,
                    command_rx,
                    event_tx,
                    thread_shared,
                    interrupt_tx,
                )
            })
            .map_err(|e| e.to_string())?;
        let interrupt = interrupt_rx
            .recv()
            .map_err(|_| "the guest thread ended before it started".to_string())?;
        Ok(Session {
            commands,
            events,
            shared,
            interrupt,
            dwarf_lines,
            functions,
            thread: Some(thread),
        })
    }

    /// Replaces every breakpoint; returns where each one landed.
    pub fn set_breakpoints(&self, specs: &[BreakpointSpec]) -> Vec<Placed> {
        let placed: Vec<Placed> = specs.iter().map(|s| self.place(s)).collect();
        let mut set = self
            .shared
            .breakpoints
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        set.clear();
        set.extend(placed.iter().filter_map(|p| p.offset));
        if !set.is_empty() {
            self.interrupt.set(true);
        }
        placed
    }

    fn place(&self, spec: &BreakpointSpec) -> Placed {
        let none = |m: String| Placed {
            offset: None,
            line: None,
            file: None,
            message: Some(m),
        };
        let at = |o: u32| Placed {
            offset: Some(o),
            line: None,
            file: None,
            message: None,
        };
        match spec {
            BreakpointSpec::Offset(o) => at(*o),
            BreakpointSpec::Function(name) => match self.functions.get(name) {
                Some(&o) => at(o),
                None => none(format!("no function named `{name}`")),
            },
            BreakpointSpec::Line { file, line } => {
                if self.dwarf_lines.is_empty() {
                    return none("the module has no DWARF line table".into());
                }
                let same_file =
                    |f: &str| f == file || Path::new(f).file_name() == Path::new(file).file_name();
                // The nearest line at or after the one asked for that has code.
                let best = self
                    .dwarf_lines
                    .iter()
                    .filter(|(_, l)| same_file(&l.file) && l.line >= *line)
                    .min_by_key(|(o, l)| (l.line, *o));
                match best {
                    Some((o, l)) => Placed {
                        offset: Some(*o),
                        line: Some(l.line),
                        file: Some(l.file.clone()),
                        message: None,
                    },
                    None => none(format!("no code at or after {file}:{line}")),
                }
            }
        }
    }

    /// Runs the guest: call once breakpoints are set (the guest waits for it,
    /// so no early breakpoint is missed).
    pub fn start(&self) {
        let _ = self.commands.send(Command::Start);
    }

    /// Asks a running guest to stop at its next instruction.
    pub fn pause(&self) {
        self.shared.pause.store(true, Ordering::SeqCst);
        self.interrupt.set(true);
    }

    pub fn resume(&self) {
        let _ = self.commands.send(Command::Resume(None));
    }

    pub fn step(&self, kind: Step) {
        let _ = self.commands.send(Command::Resume(Some(kind)));
    }

    /// The innermost frame's wasm locals, as (name, value) text.
    pub fn locals(&self) -> Vec<(String, String)> {
        let (tx, rx) = mpsc::channel();
        if self.commands.send(Command::Locals(tx)).is_err() {
            return Vec::new();
        }
        rx.recv().unwrap_or_default()
    }

    /// Ends the guest (if it still runs) and waits for its thread.
    pub fn terminate(mut self) {
        self.pause();
        let _ = self.commands.send(Command::Terminate);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn render(v: &Val) -> String {
    match v {
        Val::I32(x) => x.to_string(),
        Val::I64(x) => x.to_string(),
        Val::F32(x) => f32::from_bits(*x).to_string(),
        Val::F64(x) => f64::from_bits(*x).to_string(),
        Val::V128(x) => format!("{x:#034x}"),
        Val::FuncRef(f) => if f.is_some() { "funcref" } else { "null" }.to_string(),
        Val::ExternRef(r) => r.as_ref().map_or("null".into(), |r| {
            let d = r.describe();
            format!(
                "externref {:#x} (count {}, {}){}",
                d.address,
                d.ref_count,
                d.type_name,
                d.debug.map(|s| format!(" {s}")).unwrap_or_default()
            )
        }),
    }
}

#[allow(clippy::too_many_arguments)]
fn guest(
    config: LaunchConfig,
    engine: Engine,
    module: Module,
    _bytes: Vec<u8>,
    commands: Receiver<Command>,
    events: Sender<Event>,
    shared: Arc<Shared>,
    interrupt_tx: Sender<DebugInterrupt>,
) {
    let program = config
        .program
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let mut ctx = WasiCtx::new(
        std::iter::once(program)
            .chain(config.args.iter().cloned())
            .collect(),
        config.env.clone(),
    );
    ctx.set_stdout(Box::new(ChannelWriter {
        events: events.clone(),
        stderr: false,
    }));
    ctx.set_stderr(Box::new(ChannelWriter {
        events: events.clone(),
        stderr: true,
    }));
    for (host, guest, ro) in &config.dirs {
        if let Err(e) = ctx.preopen_dir(host, guest, *ro) {
            let _ = events.send(Event::Output {
                stderr: true,
                text: format!("cannot preopen {}: {e}\n", host.display()),
            });
        }
    }
    let mut store = Store::new(&engine, ctx);
    let interrupt = store.debug_interrupt();
    if config.stop_on_entry {
        interrupt.set(true);
    }
    let _ = interrupt_tx.send(interrupt.clone());
    let dwarf = ModuleDwarf::parse(module.binary(), module.info());
    let mut stepping: Option<ActiveStep> = None;
    // The handler and the start-up wait both read commands (never at once:
    // the handler runs only after the start).
    let commands = std::rc::Rc::new(commands);
    let start_rx = commands.clone();
    // The first stop of a `stop_on_entry` launch is the entry stop.
    let mut first = config.stop_on_entry;
    let handler_events = events.clone();
    store.set_debug_handler(move |stop| {
        let offset = stop.wasm_offset();
        let paused = shared.pause.swap(false, Ordering::SeqCst);
        let at_breakpoint = shared
            .breakpoints
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .contains(&offset);
        let here = dwarf
            .as_ref()
            .and_then(|d| d.location(offset))
            .map(|l| (l.file, l.line));
        let stepped = stepping.as_ref().is_some_and(|s| {
            let now = stop.frames().len();
            // Where there is DWARF, stop only on code that has a source line.
            let has_source = dwarf.is_none() || here.is_some();
            has_source
                && match s.kind {
                    Step::Out => now < s.depth,
                    Step::Over => now < s.depth || (now == s.depth && here != s.line),
                    Step::In => now != s.depth || here != s.line,
                }
        });
        if !(paused || at_breakpoint || stepped) {
            return Ok(());
        }
        let reason = if first && paused {
            StopReason::Entry
        } else if stepped {
            StopReason::Step
        } else if at_breakpoint {
            StopReason::Breakpoint
        } else {
            StopReason::Pause
        };
        first = false;
        stepping = None;
        let frames = frames_of(stop, dwarf.as_ref());
        let _ = handler_events.send(Event::Stopped { reason, frames });
        loop {
            match commands.recv() {
                Ok(Command::Locals(reply)) => {
                    let locals = stop
                        .locals()
                        .iter()
                        .enumerate()
                        .map(|(i, v)| (format!("${i}"), render(v)))
                        .collect();
                    let _ = reply.send(locals);
                }
                Ok(Command::Resume(step)) => {
                    stepping = step.map(|kind| ActiveStep {
                        kind,
                        depth: stop.frames().len(),
                        line: here.clone(),
                    });
                    let keep_hooks = step.is_some()
                        || !shared
                            .breakpoints
                            .lock()
                            .unwrap_or_else(|e| e.into_inner())
                            .is_empty();
                    interrupt.set(keep_hooks);
                    return Ok(());
                }
                Ok(Command::Start) => {}
                Ok(Command::Terminate) | Err(_) => {
                    return Err(Trap::host("terminated by the debugger"));
                }
            }
        }
    });
    // Wait for the configuration to be done (or abandoned).
    let start_rx = &*start_rx;
    loop {
        match start_rx.recv() {
            Ok(Command::Start) => break,
            Ok(Command::Locals(reply)) => {
                let _ = reply.send(Vec::new());
            }
            Ok(Command::Resume(_)) => {}
            Ok(Command::Terminate) | Err(_) => return,
        }
    }
    let mut linker = Linker::new();
    wasi::add_to_linker(&mut linker, |ctx: &mut WasiCtx| ctx);
    let outcome = linker
        .instantiate(&mut store, &module)
        .and_then(|instance| {
            let start = instance
                .get_func(&store, "_start")
                .ok_or_else(|| Error::Type("the module exports no `_start`".into()))?;
            start.call(&mut store, &[], &mut [])
        });
    let dwarf = ModuleDwarf::parse(module.binary(), module.info());
    let _ = match outcome {
        Ok(()) => events.send(Event::Exited(0)),
        Err(Error::Trap(t)) if t.exit_status().is_some() => {
            events.send(Event::Exited(t.exit_status().unwrap_or(0)))
        }
        Err(Error::Trap(t)) => {
            let frames = t
                .backtrace
                .iter()
                .map(|f| Frame {
                    location: f
                        .wasm_offset
                        .and_then(|o| dwarf.as_ref().and_then(|d| d.location(o))),
                    func_index: f.func_index,
                    func_name: f.func_name.clone(),
                    wasm_offset: f.wasm_offset,
                })
                .collect();
            events.send(Event::Trapped {
                message: t.to_string(),
                frames,
            })
        }
        Err(e) => events.send(Event::Trapped {
            message: e.to_string(),
            frames: Vec::new(),
        }),
    };
}
