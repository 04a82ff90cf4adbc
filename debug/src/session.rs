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

use crate::dwarf::names;
use crate::dwarf::read::{ModuleDwarf, SourceFrame, SourceLocation};
use crate::inspect::{Inspector, WasmNames};
pub use crate::inspect::{ScopeView, VarView};
use crate::listing::{self, Listing};
use std::collections::{BTreeMap, HashSet};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::{Arc, Mutex};
use wasmscope_engine::wasi::{self, WasiCtx};
use wasmscope_engine::{
    host, CompileOptions, Config, DebugInterrupt, DebugLocals, DebugStop, Engine, Error,
    ExternType, Linker, MemoryWatch, Module, ModuleId, Store, Trap, Val, WatchHit,
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
    /// Give every import the host lacks a stand-in (see
    /// `wasmscope_engine::host::define_stubs`); its calls are logged on
    /// the guest's stderr.
    pub stub_imports: bool,
    /// Call this export instead of `_start`, with `args` parsed by its
    /// signature; its results are printed on stdout.
    pub invoke: Option<String>,
    /// Put a debug hook on every instruction, not only where DWARF lines
    /// start (and at function entries, loop heads and call returns): every
    /// instruction can then take a breakpoint or end an instruction step.
    /// Slower to compile and to run.
    pub every_instruction: bool,
    /// Also put a hook on every instruction that may send control
    /// elsewhere (`listing::Instruction::control`): a debugger that steps
    /// by instructions and runs to the next branch (LLDB over the GDB
    /// remote protocol) can then place a breakpoint wherever it needs one.
    pub control_sites: bool,
    /// Keep an exact copy of every wasm local (`DebugLocals::Mirrored`)
    /// even when the module has DWARF: in optimized code every variable
    /// that lives in a local is then shown, where the fast default (the
    /// locals where the optimized code keeps them) may call it
    /// unavailable. Slower to run.
    pub exact_locals: bool,
    /// The compiled-code cache (`None`: compile every launch).
    pub cache: Option<wasmscope_engine::CacheConfig>,
    /// Modules instantiated before the program, in order, each under a
    /// name its successors import from (`NAME`, `.wasm` or `.wat`): a
    /// program split into several modules. Each is compiled with hooks
    /// from its own DWARF; the debugger's modules are numbered in this
    /// order after the program (module 0).
    pub preload: Vec<(String, PathBuf)>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StopReason {
    Entry,
    Breakpoint,
    Step,
    Pause,
    /// The instruction trapped (with the trap's description); the stack is
    /// still there to inspect. Resuming lets the trap end the guest.
    Trap(String),
    /// A load or store touched the watched range at this linear-memory
    /// address (`Session::set_watchpoints`); the guest stops at the first
    /// hook site after the access.
    Watchpoint(WatchHit),
}

/// A function's names, for function breakpoints.
struct FunctionName {
    symbol: String,
    qualified: String,
    offset: u32,
}

/// One frame of a stopped guest, innermost first.
#[derive(Clone, Debug)]
pub struct Frame {
    /// The session's module the frame runs (0 = the program, then the
    /// preloaded modules in order).
    pub module: usize,
    pub func_index: u32,
    pub func_name: Option<String>,
    pub wasm_offset: Option<u32>,
    /// The source position of the frame's instruction.
    pub location: Option<SourceLocation>,
    /// Where functions are inlined at the frame's instruction: the source
    /// frames inside this one, the innermost inlined function first (at
    /// `location`), then each caller at its call site, the last being the
    /// frame's own function. Empty when nothing is inlined there.
    pub inlined: Vec<SourceFrame>,
}

/// How many source frames the code at a module offset is: 1, plus one
/// per function inlined there.
fn inline_depth(dwarf: Option<&ModuleDwarf>, offset: u32) -> usize {
    dwarf.map_or(1, |d| d.frames(offset).len().max(1))
}

/// One frame as the source shows it (`source_frames`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SourceFrameRef {
    /// The wasm frame it is part of (0 = innermost).
    pub frame: usize,
    /// 0: the innermost function inlined at that frame's instruction (or
    /// the frame's own function when nothing is); each next level is the
    /// caller it was inlined into.
    pub level: usize,
    pub name: Option<String>,
    pub location: Option<SourceLocation>,
}

/// The source frames of a stack, innermost first: each wasm frame once,
/// or, where functions are inlined at its instruction, once per inlined
/// function and then once for its own function (as gdb and lldb show
/// them). A DAP frame id is an index into this list.
pub fn source_frames(frames: &[Frame]) -> Vec<SourceFrameRef> {
    let mut out = Vec::new();
    for (i, f) in frames.iter().enumerate() {
        if f.inlined.len() < 2 {
            out.push(SourceFrameRef {
                frame: i,
                level: 0,
                name: f.func_name.clone(),
                location: f.location.clone(),
            });
            continue;
        }
        let last = f.inlined.len() - 1;
        for (level, s) in f.inlined.iter().enumerate() {
            out.push(SourceFrameRef {
                frame: i,
                level,
                name: if level == last {
                    f.func_name.clone()
                } else {
                    s.function.as_deref().map(source_function_name)
                },
                location: s.location.clone(),
            });
        }
    }
    out
}

/// An inlined function's DWARF name (a linkage name for C++ and Rust) as
/// its language writes it.
fn source_function_name(raw: &str) -> String {
    let demangled = names::demangle(raw);
    if demangled.contains('(') && !demangled.contains("{{") {
        names::tidy_cpp_function(&demangled)
    } else {
        names::without_parameters(&demangled).to_string()
    }
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
    /// The debugger ended the guest (`Session::terminate`, or the session
    /// dropped): not a fault of the program.
    Terminated,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Step {
    In,
    Over,
    Out,
}

/// What one step covers: a source line (where there is DWARF; an
/// instruction elsewhere), or one wasm instruction.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Granularity {
    #[default]
    Line,
    Instruction,
}

/// A breakpoint as asked for.
#[derive(Clone, Debug)]
pub enum BreakpointSpec {
    /// A source line: DWARF's, which for a `.wat` program is its text.
    Line {
        file: String,
        line: u32,
    },
    Function(String),
    /// The instruction at this module offset.
    Offset(u32),
    /// The instruction at an offset of one of the session's modules (0 =
    /// the program, then the preloaded ones).
    InModule {
        module: usize,
        offset: u32,
    },
    /// A line of the generated listing (`Session::listing`).
    ListingLine(u32),
}

/// A breakpoint with its options: stop only when `condition` (a C-like
/// expression, see `expr`) holds, or on the hits `hit_condition` selects
/// (`5`, `>= 5`, `% 5`, ...); a logpoint (`log_message`, with `{expr}`
/// interpolated) prints instead of stopping.
#[derive(Clone, Debug)]
pub struct Breakpoint {
    pub spec: BreakpointSpec,
    pub condition: Option<String>,
    pub hit_condition: Option<String>,
    pub log_message: Option<String>,
}

impl From<BreakpointSpec> for Breakpoint {
    fn from(spec: BreakpointSpec) -> Self {
        Breakpoint {
            spec,
            condition: None,
            hit_condition: None,
            log_message: None,
        }
    }
}

/// A placed breakpoint's options and hit count.
#[derive(Clone, Debug, Default)]
struct Armed {
    condition: Option<String>,
    hit_condition: Option<String>,
    log_message: Option<String>,
    hits: u64,
}

/// Where a breakpoint ended up: `None` when it cannot be placed, with why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Placed {
    /// The session's module `offset` is in (0 = the program).
    pub module: usize,
    pub offset: Option<u32>,
    /// Further places of the same breakpoint: the same line in the other
    /// functions that have it (each instance of a Rust generic or C++
    /// template, each inlined copy).
    pub more: Vec<u32>,
    /// The line it moved to (nearest line with code), for line breakpoints.
    pub line: Option<u32>,
    /// The DWARF file it was placed in, for line breakpoints.
    pub file: Option<String>,
    pub message: Option<String>,
}

enum Command {
    /// Configuration is done: run the guest (DAP's `configurationDone`).
    Start,
    Resume(Option<(Step, Granularity)>),
    Scopes(usize, Sender<Vec<ScopeView>>),
    Variables(u64, u64, u64, Sender<Result<Vec<VarView>, String>>),
    SetVariable(u64, String, String, Sender<Result<VarView, String>>),
    Evaluate(usize, String, Sender<Result<VarView, String>>),
    /// Any inspection: runs on the guest thread with the stop.
    With(StopFn),
    Terminate,
}

/// A closure run on the guest thread at a stop (`Session::with_stop`).
type StopFn = Box<dyn FnOnce(&mut DebugStop<'_, WasiCtx>) + Send>;

struct Shared {
    /// Breakpoints by (session module, module offset); several at one
    /// place share one.
    breakpoints: Mutex<BTreeMap<(usize, u32), Armed>>,
    pause: AtomicBool,
    /// Whether the guest is stopped and serving inspection commands.
    stopped: AtomicBool,
    /// Set when a stop handler ends the guest on the debugger's word.
    terminated: AtomicBool,
}

/// A launched guest.
pub struct Session {
    commands: Sender<Command>,
    pub events: Receiver<Event>,
    shared: Arc<Shared>,
    interrupt: DebugInterrupt,
    /// Module facts for placing breakpoints.
    dwarf_lines: Vec<(u32, SourceLocation)>,
    /// Module offsets where the line table says functions' bodies start
    /// (`prologue_end`, moved past parameter stores: `dwarf::prologue`),
    /// sorted.
    prologue_ends: Vec<u32>,
    /// Each named function's first instruction, built on first use.
    functions: std::cell::OnceCell<Vec<FunctionName>>,
    /// Where each inlined copy of a function starts (DWARF).
    inlined: Vec<names::InlinedEntry>,
    module: Module,
    /// Built on first use: a large module's listing takes a while.
    listing: std::cell::OnceCell<Option<Listing>>,
    instructions: std::cell::OnceCell<Vec<listing::Instruction>>,
    /// Where hooks are besides the `always_hooked` instructions (`None`:
    /// everywhere).
    sites: Option<Arc<[u32]>>,
    /// With `LaunchConfig::control_sites`: the locals the program's DWARF
    /// places variables in, as (function index, local)
    /// (`located_by_function`).
    located: Option<HashSet<(u32, u32)>>,
    /// The engine's ids of the session's modules, the program's first.
    module_ids: Vec<ModuleId>,
    thread: Option<std::thread::JoinHandle<()>>,
    program: PathBuf,
    /// The preloaded modules (`LaunchConfig::preload`): modules 1, 2, ...
    libraries: Vec<Library>,
}

/// A module preloaded for the program to import from.
struct Library {
    path: PathBuf,
    module: Module,
    instructions: Vec<listing::Instruction>,
    /// Its hook sites besides the `always_hooked` instructions.
    sites: Option<Arc<[u32]>>,
    /// As `Session::located`.
    located: Option<HashSet<(u32, u32)>>,
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

impl Frame {
    /// The frame `f`, in session module `module`, whose DWARF (if any) is
    /// `dwarf`.
    fn new(f: &wasmscope_engine::FrameInfo, module: usize, dwarf: Option<&ModuleDwarf>) -> Frame {
        let inlined = match (f.wasm_offset, dwarf) {
            (Some(o), Some(d)) => {
                let frames = d.frames(o);
                if frames.len() > 1 {
                    frames
                } else {
                    Vec::new()
                }
            }
            _ => Vec::new(),
        };
        Frame {
            module,
            location: f
                .wasm_offset
                .and_then(|o| dwarf.and_then(|d| d.location(o))),
            func_index: f.func_index,
            func_name: frame_name(f, dwarf),
            wasm_offset: f.wasm_offset,
            inlined,
        }
    }
}

/// A frame's function as its source language writes it: from DWARF for
/// Rust and Zig (generic arguments, closures), else the demangled symbol
/// (C++ without its return type).
fn frame_name(f: &wasmscope_engine::FrameInfo, dwarf: Option<&ModuleDwarf>) -> Option<String> {
    if let Some(name) = f
        .wasm_offset
        .and_then(|o| dwarf.and_then(|d| d.function_name(o)))
    {
        return Some(name);
    }
    let symbol = f.func_name.as_deref()?;
    let demangled = names::demangle(symbol);
    // A C++ signature (wasm-ld writes demangled names in the name
    // section; a symbol may also still be mangled).
    Some(if demangled.contains('(') && !demangled.contains("{{") {
        names::tidy_cpp_function(&demangled)
    } else {
        demangled
    })
}

/// The stop's frames; `modules` are the session's modules' ids (the
/// program's first, whose DWARF `dwarf` is).
pub(crate) fn frames_of<T>(
    stop: &DebugStop<'_, T>,
    modules: &[ModuleId],
    dwarf: Option<&ModuleDwarf>,
) -> Vec<Frame> {
    stop.frames()
        .iter()
        .map(|f| frame_in(f, modules, dwarf))
        .collect()
}

/// `f` as a session frame: its module's number, and source positions
/// from `dwarf` for the program's frames only.
fn frame_in(
    f: &wasmscope_engine::FrameInfo,
    modules: &[ModuleId],
    dwarf: Option<&ModuleDwarf>,
) -> Frame {
    let module = module_number(modules, f.module);
    Frame::new(f, module, dwarf.filter(|_| module == 0))
}

/// The session's number of the module `id` (0, the program, when it is
/// not one of the session's).
fn module_number(modules: &[ModuleId], id: Option<ModuleId>) -> usize {
    id.and_then(|id| modules.iter().position(|&m| m == id))
        .unwrap_or(0)
}

/// A step in progress: its kind, and the frame depth and source line
/// (file, line) it started from.
struct ActiveStep {
    /// The session module the step started in.
    module: usize,
    kind: Step,
    granularity: Granularity,
    depth: usize,
    /// How many source frames the innermost wasm frame was (inlined
    /// functions, `inline_depth`): a line step over or out of an inlined
    /// function ends where fewer are, as in gdb and lldb.
    inline: usize,
    line: Option<(String, u32)>,
    offset: u32,
}

impl Session {
    pub fn launch(config: LaunchConfig) -> Result<Session, String> {
        let (bytes, from_text) = read_program(&config.program)?;
        let program = config.program.clone();
        // The DWARF, read once: the line table for placing breakpoints,
        // and how to compile (`debug_compile_options`).
        let dwarf = ModuleDwarf::from_binary(&bytes);
        let dwarf_lines = dwarf.as_ref().map(line_starts).unwrap_or_default();
        let prologue_ends = dwarf
            .as_ref()
            .map(|d| d.prologue_end_offsets(&bytes))
            .unwrap_or_default();
        let inlined = dwarf
            .as_ref()
            .map(ModuleDwarf::inlined_entries)
            .unwrap_or_default();
        // The instructions, read now when the compile needs them (else
        // on first use: a large module's take a while).
        let instructions = std::cell::OnceCell::new();
        if config.control_sites {
            let _ = instructions.set(listing::instructions(&bytes));
        }
        let (compile, located) = launch_compile_options(
            &config,
            instructions.get().map(Vec::as_slice),
            dwarf.as_ref(),
            from_text,
        );
        drop(dwarf);
        let sites = compile.debug_hook_sites.clone();
        let engine = Engine::new(Config {
            compile,
            cache: config.cache.clone(),
            ..Config::default()
        })
        .map_err(|e| e.to_string())?;
        let mut libraries = Vec::new();
        for (name, path) in &config.preload {
            let (bytes, from_text) = read_program(path)?;
            let dwarf = ModuleDwarf::from_binary(&bytes);
            let instructions = listing::instructions(&bytes);
            let (compile, located) =
                launch_compile_options(&config, Some(&instructions), dwarf.as_ref(), from_text);
            let sites = compile.debug_hook_sites.clone();
            let module = Module::with_options(&engine, bytes, compile)
                .map_err(|e| format!("{} (preloaded as `{name}`): {e}", path.display()))?;
            libraries.push(Library {
                path: path.clone(),
                module,
                instructions,
                sites,
                located,
            });
        }
        let module = Module::new(&engine, &bytes).map_err(|e| e.to_string())?;
        if let Some(name) = &config.invoke {
            let ty = module
                .exports()
                .find_map(|(n, t)| match t {
                    ExternType::Func(ty) if n == name => Some(ty),
                    _ => None,
                })
                .ok_or_else(|| format!("the module exports no function `{name}`"))?;
            host::parse_args(name, &ty.params, &config.args)?;
        }
        let (commands, command_rx) = mpsc::channel();
        let (event_tx, events) = mpsc::channel();
        let shared = Arc::new(Shared {
            breakpoints: Mutex::new(BTreeMap::new()),
            pause: AtomicBool::new(config.stop_on_entry),
            stopped: AtomicBool::new(false),
            terminated: AtomicBool::new(false),
        });
        let (interrupt_tx, interrupt_rx) = mpsc::channel();
        let thread_shared = shared.clone();
        let guest_module = module.clone();
        let guest_libraries: Vec<Module> = libraries.iter().map(|l| l.module.clone()).collect();
        let module_ids: Vec<ModuleId> = std::iter::once(module.id())
            .chain(libraries.iter().map(|l| l.module.id()))
            .collect();
        let guest_ids = module_ids.clone();
        let thread = std::thread::Builder::new()
            .name("wasmscope-guest".into())
            .spawn(move || {
                guest(
                    config,
                    engine,
                    guest_module,
                    guest_libraries,
                    guest_ids,
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
            prologue_ends,
            functions: std::cell::OnceCell::new(),
            inlined,
            module,
            listing: std::cell::OnceCell::new(),
            instructions,
            sites,
            thread: Some(thread),
            program,
            libraries,
            located,
            module_ids,
        })
    }

    /// How many modules the session runs: the program (module 0) and the
    /// preloaded ones.
    pub fn module_count(&self) -> usize {
        1 + self.libraries.len()
    }

    /// Module `index`'s binary (0: the program's, as [`Self::binary`]).
    pub fn module_binary(&self, index: usize) -> Option<&[u8]> {
        match index {
            0 => Some(self.binary()),
            i => Some(self.libraries.get(i - 1)?.module.binary()),
        }
    }

    /// The path module `index` was loaded from.
    pub fn module_path(&self, index: usize) -> Option<&Path> {
        match index {
            0 => Some(&self.program),
            i => Some(&self.libraries.get(i - 1)?.path),
        }
    }

    /// The module's binary (with the DWARF `wat` generated for a text
    /// program).
    pub fn binary(&self) -> &[u8] {
        self.module.binary()
    }

    /// The module's generated `.wat` listing, one instruction a line.
    /// What the compiled-code cache did for this launch.
    pub fn cache_outcome(&self) -> &wasmscope_engine::CacheOutcome {
        self.module.cache_outcome()
    }

    pub fn listing(&self) -> Option<&Listing> {
        self.listing
            .get_or_init(|| Listing::generate(self.module.binary()))
            .as_ref()
    }

    /// Every instruction, by offset.
    pub fn instructions(&self) -> &[listing::Instruction] {
        self.instructions
            .get_or_init(|| listing::instructions(self.module.binary()))
    }

    /// Each function's entry offset, by its symbol and by its demangled
    /// name without parameters (`inventory::Item::total`,
    /// `Shop::total`).
    fn functions(&self) -> &[FunctionName] {
        self.functions.get_or_init(|| {
            let mut out = Vec::new();
            let mut previous = None;
            for i in self.instructions() {
                if previous != Some(i.func) {
                    previous = Some(i.func);
                    if let Some(name) = self.function_name(i.func) {
                        let demangled = names::demangle(name);
                        out.push(FunctionName {
                            symbol: name.to_string(),
                            qualified: names::without_parameters(&demangled).to_string(),
                            offset: i.offset,
                        });
                    }
                }
            }
            out
        })
    }

    /// Where a breakpoint on a function's name stops: past the prologue
    /// of the function's own code, and at the first statement of each
    /// inlined copy of it; empty when nothing matches. The name is a
    /// function's symbol, its demangled name, or a tail of it after `::`
    /// (`total`, `Item::total`) or after Zig's `.` (`factorial` for
    /// `inventory.factorial`). Among several, a function with source
    /// lines from the program (not the language's runtime library) and an
    /// exact match come first.
    fn find_function(&self, name: &str) -> Vec<u32> {
        let name = name.trim();
        let wanted = names::without_parameters(name);
        let from_library = |o: u32| {
            self.location(o).is_none_or(|l| {
                l.file.starts_with("/rustc/")
                    || l.file.contains("/lib/libcxx")
                    || l.file.contains("/std/")
            })
        };
        let matches = |symbol: &str, qualified: &str| {
            let exact = symbol == name || qualified == wanted;
            let tail = qualified
                .strip_suffix(wanted)
                .is_some_and(|head| head.ends_with("::") || head.ends_with('.'));
            (exact, tail)
        };
        let own = self
            .functions()
            .iter()
            .filter_map(|f| {
                let (exact, tail) = matches(&f.symbol, &f.qualified);
                (exact || tail).then_some((from_library(f.offset), !exact, f.offset))
            })
            .min()
            .map(|(_, _, o)| self.after_prologue(o));
        let mut out: Vec<u32> = own.into_iter().collect();
        for copy in &self.inlined {
            let symbol = copy.linkage.as_deref().unwrap_or(&copy.name);
            let (exact, tail) = matches(symbol, names::without_parameters(&copy.qualified));
            if !(exact || tail || copy.name == wanted) {
                continue;
            }
            if let Some(o) = self.first_site_from(copy.offset) {
                if !out.contains(&o) {
                    out.push(o);
                }
            }
        }
        out
    }

    /// The first hook site at or after `offset` in the same function
    /// where a source statement starts (or any site when the line table
    /// has none there).
    fn first_site_from(&self, offset: u32) -> Option<u32> {
        let code = self.instructions();
        let func = self.function_at(offset)?;
        let start = code.partition_point(|i| i.offset < offset);
        let statement = |o: u32| {
            self.dwarf_lines
                .binary_search_by_key(&o, |(x, _)| *x)
                .is_ok()
        };
        let mut any = None;
        for i in code[start..].iter().take_while(|i| i.func == func) {
            if self.is_site(i) {
                if statement(i.offset) {
                    return Some(i.offset);
                }
                any.get_or_insert(i.offset);
            }
        }
        any
    }

    /// Where a function's body starts, which is where a breakpoint on its
    /// name stops (as in gdb and lldb): the line table's `prologue_end`
    /// row in the function when there is one at a hook site, else its
    /// first instruction. Stopping at the entry would show the source
    /// variables before the frame is set up.
    fn after_prologue(&self, entry: u32) -> u32 {
        let i = self.prologue_ends.partition_point(|&p| p < entry);
        match self.prologue_ends.get(i) {
            Some(&p)
                if self.function_at(p) == self.function_at(entry)
                    && self
                        .sites
                        .as_ref()
                        .is_none_or(|s| s.binary_search(&p).is_ok()) =>
            {
                p
            }
            _ => entry,
        }
    }

    /// The function whose code holds module offset `offset`.
    fn function_at(&self, offset: u32) -> Option<u32> {
        let all = self.instructions();
        let i = all.partition_point(|x| x.offset <= offset).checked_sub(1)?;
        Some(all[i].func)
    }

    /// Whether the instruction at `offset` has a debug hook (can stop).
    fn is_site(&self, i: &listing::Instruction) -> bool {
        is_site(i, &self.sites)
    }

    /// The offsets of the instructions that can stop, sorted.
    pub fn stop_offsets(&self) -> Vec<u32> {
        self.instructions()
            .iter()
            .filter(|i| self.is_site(i))
            .map(|i| i.offset)
            .collect()
    }

    /// The name of function `index` (from the name section), if any.
    pub fn function_name(&self, index: u32) -> Option<&str> {
        self.module.info().func_name_by_index(index)
    }

    /// The source position of a module offset, from DWARF.
    pub fn location(&self, offset: u32) -> Option<&SourceLocation> {
        let i = self.dwarf_lines.partition_point(|(o, _)| *o <= offset);
        let (_, l) = self.dwarf_lines.get(i.checked_sub(1)?)?;
        Some(l)
    }

    /// Whether the module has DWARF lines for some of its code.
    pub fn has_line_table(&self) -> bool {
        !self.dwarf_lines.is_empty()
    }

    /// Source files named by the module's DWARF line table.
    pub fn source_files(&self) -> Vec<String> {
        let mut files: Vec<String> = self
            .dwarf_lines
            .iter()
            .map(|(_, l)| l.file.clone())
            .collect();
        files.sort();
        files.dedup();
        files
    }

    /// Replaces every breakpoint; returns where each one landed. Hit
    /// counts survive for breakpoints that stay at the same place.
    pub fn set_breakpoints(&self, breakpoints: &[Breakpoint]) -> Vec<Placed> {
        let placed: Vec<Placed> = breakpoints.iter().map(|b| self.place(&b.spec)).collect();
        let mut set = self
            .shared
            .breakpoints
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        let old = std::mem::take(&mut *set);
        // Only the breakpoints' own sites call the handler: the program
        // runs at full speed between them.
        self.interrupt.clear_sites();
        for (b, p) in breakpoints.iter().zip(&placed) {
            for o in p.offset.into_iter().chain(p.more.iter().copied()) {
                // The switch is shared by this offset of every module; the
                // handler stops only in the breakpoint's.
                self.interrupt.set_site(o, true);
                let at = (p.module, o);
                set.insert(
                    at,
                    Armed {
                        condition: b.condition.clone().filter(|c| !c.trim().is_empty()),
                        hit_condition: b.hit_condition.clone().filter(|c| !c.trim().is_empty()),
                        log_message: b.log_message.clone(),
                        hits: old.get(&at).map_or(0, |a| a.hits),
                    },
                );
            }
        }
        placed
    }

    fn place(&self, spec: &BreakpointSpec) -> Placed {
        let none = |m: String| Placed {
            module: 0,
            offset: None,
            more: Vec::new(),
            line: None,
            file: None,
            message: Some(m),
        };
        let at = |o: u32| Placed {
            module: 0,
            offset: Some(o),
            more: Vec::new(),
            line: None,
            file: None,
            message: None,
        };
        match spec {
            BreakpointSpec::Offset(offset) => self.place(&BreakpointSpec::InModule {
                module: 0,
                offset: *offset,
            }),
            BreakpointSpec::InModule { module, offset: o } => {
                let Some((code, sites, _)) = self.module_code(*module) else {
                    return none(format!("no module {module}"));
                };
                let placed = match code.binary_search_by_key(o, |i| i.offset) {
                    Ok(i) if is_site(&code[i], sites) => at(*o),
                    Ok(_) => none(format!(
                        "{o:#x} is not a debug-hook site: in code with DWARF, hooks sit where \
                         source lines start (launch with every instruction hooked to stop here)"
                    )),
                    Err(_) => none(format!("no instruction starts at {o:#x}")),
                };
                Placed {
                    module: *module,
                    ..placed
                }
            }
            BreakpointSpec::ListingLine(line) => {
                let offsets = self.stop_offsets();
                match self
                    .listing()
                    .and_then(|l| l.offset_at_or_after(*line, &offsets))
                {
                    Some((o, l)) => Placed {
                        module: 0,
                        offset: Some(o),
                        more: Vec::new(),
                        line: Some(l),
                        file: None,
                        message: None,
                    },
                    None => none(format!("no instruction at or after listing line {line}")),
                }
            }
            BreakpointSpec::Function(name) => match self.find_function(name)[..] {
                [] => none(format!("no function named `{name}`")),
                [first, ref rest @ ..] => Placed {
                    more: rest.to_vec(),
                    ..at(first)
                },
            },
            BreakpointSpec::Line { file, line } => {
                if self.dwarf_lines.is_empty() {
                    return none("the module has no DWARF line table".into());
                }
                let same_file =
                    |f: &str| f == file || Path::new(f).file_name() == Path::new(file).file_name();
                // The nearest line at or after the one asked for where a
                // statement starts.
                let is_site = |o: &u32| {
                    self.sites
                        .as_ref()
                        .is_none_or(|s| s.binary_search(o).is_ok())
                };
                let best = self
                    .dwarf_lines
                    .iter()
                    .filter(|(o, l)| same_file(&l.file) && l.line >= *line && is_site(o))
                    .min_by_key(|(o, l)| (l.line, *o));
                match best {
                    Some((o, l)) => {
                        // The same line in every other function that has
                        // it: its first statement there.
                        let mut first: BTreeMap<u32, u32> = BTreeMap::new();
                        for (other, _) in self
                            .dwarf_lines
                            .iter()
                            .filter(|(x, m)| m.line == l.line && m.file == l.file && is_site(x))
                        {
                            if let Some(func) = self.function_at(*other) {
                                let e = first.entry(func).or_insert(*other);
                                *e = (*e).min(*other);
                            }
                        }
                        let here = self.function_at(*o);
                        Placed {
                            module: 0,
                            offset: Some(*o),
                            more: first
                                .into_iter()
                                .filter(|&(f, _)| Some(f) != here)
                                .map(|(_, x)| x)
                                .collect(),
                            line: Some(l.line),
                            file: Some(l.file.clone()),
                            message: None,
                        }
                    }
                    None => none(format!("no code at or after {file}:{line}")),
                }
            }
        }
    }

    /// Replaces the watchpoints, each on linear memory 0 of a session
    /// module (0: the program). The guest stops
    /// (`StopReason::Watchpoint`) at the first hook site after a load or
    /// store (as each watch's kinds say) touched a range, by the engine's
    /// page protection: nothing is slower until the watched pages are
    /// touched. Call while stopped.
    pub fn set_watchpoints_in(&self, watches: &[(usize, MemoryWatch)]) -> Result<(), String> {
        let watches = watches
            .iter()
            .map(|&(m, w)| Ok((self.module_id(m)?, w)))
            .collect::<Result<Vec<_>, String>>()?;
        self.with_stop(move |stop| stop.set_watchpoints_in(&watches).map_err(|e| e.to_string()))?
    }

    /// The path the module was launched from.
    pub fn program_path(&self) -> &Path {
        &self.program
    }

    /// Runs the guest: call once breakpoints are set (the guest waits for it,
    /// so no early breakpoint is missed).
    pub fn start(&self) {
        let _ = self.commands.send(Command::Start);
    }

    /// Whether a trap stops the guest (`StopReason::Trap`) before its stack
    /// unwinds; off by default. Costs nothing while no trap happens.
    pub fn set_trap_stops(&self, on: bool) {
        self.interrupt.set_trap_stops(on);
    }

    /// Asks a running guest to stop at its next instruction.
    pub fn pause(&self) {
        self.shared.pause.store(true, Ordering::SeqCst);
        self.interrupt.set(true);
    }

    /// Whether the guest is stopped (at a breakpoint, a step, a pause),
    /// so that it takes a resume or a step.
    pub fn is_stopped(&self) -> bool {
        self.shared.stopped.load(Ordering::SeqCst)
    }

    /// Lets a stopped guest run; nothing if it runs already (a resume sent
    /// then would wait in the queue for the next stop and run past it, and
    /// a later terminate would wait behind it).
    pub fn resume(&self) {
        if self.shared.stopped.swap(false, Ordering::SeqCst) {
            let _ = self.commands.send(Command::Resume(None));
        }
    }

    /// Steps by source line (by instruction where there is no DWARF).
    pub fn step(&self, kind: Step) {
        self.step_by(kind, Granularity::Line);
    }

    /// Steps a stopped guest; nothing if it runs (see `resume`).
    pub fn step_by(&self, kind: Step, granularity: Granularity) {
        if self.shared.stopped.swap(false, Ordering::SeqCst) {
            let _ = self
                .commands
                .send(Command::Resume(Some((kind, granularity))));
        }
    }

    /// Sends an inspection command to the stopped guest and waits for the
    /// answer; an error while the guest runs.
    fn ask<R>(&self, command: impl FnOnce(Sender<R>) -> Command) -> Result<R, String> {
        if !self.shared.stopped.load(Ordering::SeqCst) {
            return Err("the program is running: pause it first".into());
        }
        let (tx, rx) = mpsc::channel();
        self.commands
            .send(command(tx))
            .map_err(|_| "the program has ended".to_string())?;
        rx.recv_timeout(std::time::Duration::from_secs(30))
            .map_err(|_| "the program is not stopped".to_string())
    }

    /// The scopes of a source frame of the stopped guest (an index into
    /// `source_frames`; 0 = innermost).
    pub fn scopes(&self, frame: usize) -> Result<Vec<ScopeView>, String> {
        self.ask(|tx| Command::Scopes(frame, tx))
    }

    /// The variables of a scope or an expandable value; `start`/`count`
    /// page arrays and tables (`count` 0 = all).
    pub fn variables(
        &self,
        reference: u64,
        start: u64,
        count: u64,
    ) -> Result<Vec<VarView>, String> {
        self.ask(|tx| Command::Variables(reference, start, count, tx))?
    }

    /// Sets variable `name` of a scope or value to `value` (an expression).
    pub fn set_variable(&self, reference: u64, name: &str, value: &str) -> Result<VarView, String> {
        self.ask(|tx| Command::SetVariable(reference, name.into(), value.into(), tx))?
    }

    /// Evaluates an expression in the innermost frame.
    pub fn evaluate(&self, expression: &str) -> Result<VarView, String> {
        self.evaluate_in(0, expression)
    }

    /// Evaluates an expression in source frame `frame` (an index into
    /// `source_frames`; 0 = innermost).
    pub fn evaluate_in(&self, frame: usize, expression: &str) -> Result<VarView, String> {
        self.ask(|tx| Command::Evaluate(frame, expression.into(), tx))?
    }

    /// Reads the paused instance's linear memory 0 (the bytes that exist,
    /// up to `len`).
    pub fn read_memory(&self, address: u64, len: usize) -> Result<Vec<u8>, String> {
        self.with_stop(move |stop| read_bytes(stop.memory_bytes(0), address, len))?
    }

    pub fn write_memory(&self, address: u64, bytes: Vec<u8>) -> Result<(), String> {
        self.with_stop(move |stop| write_bytes(stop.memory(0), address, &bytes))?
    }

    /// [`Self::read_memory`] of module `module`'s memory 0 (0: the
    /// program's; a preloaded module may have its own).
    pub fn read_memory_in(
        &self,
        module: usize,
        address: u64,
        len: usize,
    ) -> Result<Vec<u8>, String> {
        let id = self.module_id(module)?;
        self.with_stop(move |stop| read_bytes(stop.memory_bytes_in(id, 0), address, len))?
    }

    /// The size in bytes of module `module`'s memory 0 (`None`: it has
    /// none).
    pub fn memory_size_in(&self, module: usize) -> Result<Option<u64>, String> {
        let id = self.module_id(module)?;
        self.with_stop(move |stop| stop.memory_bytes_in(id, 0).map(|m| m.len() as u64))
    }

    /// [`Self::write_memory`] into module `module`'s memory 0.
    pub fn write_memory_in(
        &self,
        module: usize,
        address: u64,
        bytes: Vec<u8>,
    ) -> Result<(), String> {
        let id = self.module_id(module)?;
        self.with_stop(move |stop| write_bytes(stop.memory_in(id, 0), address, &bytes))?
    }

    /// Module `index`'s instructions, by offset (0: [`Self::instructions`]).
    pub fn module_instructions(&self, index: usize) -> &[listing::Instruction] {
        self.module_code(index).map_or(&[], |c| c.0)
    }

    /// Module `index`'s instructions, its hook sites besides the
    /// `always_hooked` ones, and its `located` locals.
    #[allow(clippy::type_complexity)]
    fn module_code(
        &self,
        index: usize,
    ) -> Option<(
        &[listing::Instruction],
        &Option<Arc<[u32]>>,
        &Option<HashSet<(u32, u32)>>,
    )> {
        match index {
            0 => Some((self.instructions(), &self.sites, &self.located)),
            i => {
                let l = self.libraries.get(i - 1)?;
                Some((&l.instructions, &l.sites, &l.located))
            }
        }
    }

    /// The hook that can stand in for the instruction at `offset` of
    /// module `module`: the first at or after it in its function, when
    /// nothing before it from `offset` on has an effect (`has_effect`: a
    /// stop there shows what a stop at `offset` would); `offset` itself
    /// when it has a hook. Only in a session launched with
    /// `LaunchConfig::control_sites` (else `None`).
    pub fn stand_in(&self, module: usize, offset: u32) -> Option<u32> {
        let (code, sites, located) = self.module_code(module)?;
        let located = located.as_ref()?;
        let start = code.partition_point(|i| i.offset < offset);
        let first = code.get(start).filter(|i| i.offset == offset)?;
        for i in code[start..].iter().take_while(|i| i.func == first.func) {
            if is_site(i, sites) {
                return Some(i.offset);
            }
            if has_effect(i, located) {
                return None;
            }
        }
        None
    }

    /// The engine's id of session module `module`.
    pub fn module_id(&self, module: usize) -> Result<ModuleId, String> {
        self.module_ids
            .get(module)
            .copied()
            .ok_or_else(|| format!("no module {module}"))
    }

    /// Runs `f` on the guest thread with the stopped instruction (its
    /// frames, locals, globals and memories, `DebugStop`) and returns what
    /// it returns; an error while the guest runs.
    pub fn with_stop<R: Send + 'static>(
        &self,
        f: impl FnOnce(&mut DebugStop<'_, WasiCtx>) -> R + Send + 'static,
    ) -> Result<R, String> {
        self.ask(|tx: Sender<R>| {
            Command::With(Box::new(move |stop| {
                let _ = tx.send(f(stop));
            }))
        })
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

#[allow(clippy::too_many_arguments)]
fn guest(
    config: LaunchConfig,
    engine: Engine,
    module: Module,
    libraries: Vec<Module>,
    module_ids: Vec<ModuleId>,
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
    // `args` are the guest's argv, or the invoked export's arguments.
    let argv = match config.invoke {
        None => config.args.clone(),
        Some(_) => Vec::new(),
    };
    let mut ctx = WasiCtx::new(
        std::iter::once(program).chain(argv).collect(),
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
    // Parsed once on this thread: the handler and the exit report share it.
    let dwarf = ModuleDwarf::parse(module.binary(), module.info()).map(std::rc::Rc::new);
    let handler_dwarf = dwarf.clone();
    let prologues = dwarf
        .as_deref()
        .map(|d| body_prologues(module.binary(), d))
        .unwrap_or_default();
    let mut stepping: Option<ActiveStep> = None;
    // The handler and the start-up wait both read commands (never at once:
    // the handler runs only after the start).
    let commands = std::rc::Rc::new(commands);
    let start_rx = commands.clone();
    // The first stop of a `stop_on_entry` launch is the entry stop.
    let mut first = config.stop_on_entry;
    let handler_events = events.clone();
    let names: Vec<WasmNames> = std::iter::once(&module)
        .chain(&libraries)
        .map(|m| WasmNames::read(m.binary()))
        .collect();
    let handler_ids = module_ids.clone();
    // The handler takes `shared`; this copy tells, once the run is over,
    // whether the debugger ended it.
    let ended_by_debugger = shared.clone();
    store.set_debug_handler(move |stop| {
        let offset = stop.wasm_offset();
        // The session module stopped in; DWARF is the program's only.
        let in_module = module_number(&handler_ids, Some(stop.module_info().id));
        let dwarf_here = handler_dwarf.as_deref().filter(|_| in_module == 0);
        let trapped = stop.trap().map(|code| code.message().to_string());
        let paused = trapped.is_none() && shared.pause.swap(false, Ordering::SeqCst);
        let watched = trapped.is_none().then(|| stop.watch_hit()).flatten();
        let armed = shared
            .breakpoints
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&(in_module, offset))
            .cloned();
        let at_breakpoint = match armed.filter(|_| trapped.is_none()) {
            Some(armed) => breakpoint_fires(
                &shared,
                (in_module, offset),
                armed,
                &Inspector::new(handler_dwarf.as_deref(), &names)
                    .program(handler_ids[0])
                    .in_module(in_module),
                stop,
                &handler_events,
            ),
            None => false,
        };
        let here = dwarf_here
            .and_then(|d| d.location(offset))
            .map(|l| (l.file, l.line));
        let stepped = trapped.is_none()
            && stepping.as_ref().is_some_and(|s| {
                let now = stop.frames().len();
                // A line step that starts where no source line is (code
                // without DWARF, shown in the listing) steps by instruction:
                // each instruction is a line of the listing.
                if s.granularity == Granularity::Instruction || s.line.is_none() {
                    return match s.kind {
                        Step::Out => now < s.depth,
                        Step::Over => {
                            now < s.depth
                                || (now == s.depth && (in_module, offset) != (s.module, s.offset))
                        }
                        Step::In => true,
                    };
                }
                // Where there is DWARF, stop only on code that has a source line.
                let has_source = dwarf_here.is_none() || here.is_some();
                // Out of the wasm frame, or (same frame) out of the
                // inlined function the step started in.
                let shallower = || {
                    now < s.depth || (now == s.depth && inline_depth(dwarf_here, offset) < s.inline)
                };
                has_source
                    && match s.kind {
                        Step::Out => shallower(),
                        Step::Over => {
                            shallower()
                                || (now == s.depth
                                    && here != s.line
                                    && inline_depth(dwarf_here, offset) <= s.inline)
                        }
                        // Into a call: past its prologue, where the
                        // frame is set up (as gdb and lldb stop; found by
                        // the debugger differential).
                        Step::In => {
                            (now != s.depth || here != s.line)
                                && (now <= s.depth
                                    || in_module != 0
                                    || past_prologue(&prologues, offset))
                        }
                    }
            });
        if !(paused || at_breakpoint || stepped || trapped.is_some() || watched.is_some()) {
            return Ok(());
        }
        let reason = if let Some(message) = trapped {
            StopReason::Trap(message)
        } else if let Some(hit) = watched {
            StopReason::Watchpoint(hit)
        } else if first && paused {
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
        let frames = frames_of(stop, &handler_ids, handler_dwarf.as_deref());
        let mut inspector = Inspector::new(handler_dwarf.as_deref(), &names)
            .program(handler_ids[0])
            .with_frames(&frames);
        shared.stopped.store(true, Ordering::SeqCst);
        let _ = handler_events.send(Event::Stopped { reason, frames });
        let resume = |stopped: &AtomicBool| stopped.store(false, Ordering::SeqCst);
        loop {
            match commands.recv() {
                Ok(Command::Scopes(frame, reply)) => {
                    let _ = reply.send(inspector.scopes(stop, frame));
                }
                Ok(Command::Variables(reference, start, count, reply)) => {
                    let _ = reply.send(inspector.variables(stop, reference, start, count));
                }
                Ok(Command::SetVariable(reference, name, value, reply)) => {
                    let _ = reply.send(inspector.set_variable(stop, reference, &name, &value));
                }
                Ok(Command::Evaluate(frame, text, reply)) => {
                    let _ = reply.send(inspector.evaluate(stop, frame, &text));
                }
                Ok(Command::With(f)) => f(stop),
                Ok(Command::Resume(step)) => {
                    stepping = step.map(|(kind, granularity)| ActiveStep {
                        module: in_module,
                        kind,
                        granularity,
                        depth: stop.frames().len(),
                        inline: inline_depth(dwarf_here, offset),
                        line: here.clone(),
                        offset,
                    });
                    // Every site for a step; breakpoints have their own
                    // switches.
                    interrupt.set(step.is_some());
                    // A pause asked for while the guest was still here (a
                    // client's pause right behind its continue, Stop) must
                    // survive the line above, or the guest never stops
                    // again. Checked after it: a pause after the check sets
                    // the switch itself.
                    if shared.pause.load(Ordering::SeqCst) {
                        interrupt.set(true);
                    }
                    resume(&shared.stopped);
                    return Ok(());
                }
                Ok(Command::Start) => {}
                Ok(Command::Terminate) | Err(_) => {
                    shared.terminated.store(true, Ordering::SeqCst);
                    resume(&shared.stopped);
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
            Ok(Command::Terminate) | Err(_) => return,
            // Inspection before the start: the dropped reply is the answer.
            Ok(_) => {}
        }
    }
    let mut linker = Linker::new();
    wasi::add_to_linker(&mut linker, |ctx: &mut WasiCtx| ctx);
    let outcome = link_and_call(
        &config,
        &mut store,
        &mut linker,
        &module,
        &libraries,
        &events,
    );
    let _ = match outcome {
        Ok(()) => events.send(Event::Exited(0)),
        Err(Error::Trap(t)) if t.exit_status().is_some() => {
            events.send(Event::Exited(t.exit_status().unwrap_or(0)))
        }
        Err(Error::Trap(_)) if ended_by_debugger.terminated.load(Ordering::SeqCst) => {
            events.send(Event::Terminated)
        }
        Err(Error::Trap(t)) => {
            let frames = t
                .backtrace
                .iter()
                .map(|f| frame_in(f, &module_ids, dwarf.as_deref()))
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

/// Each function body's module range and the offset of its line table's
/// first `prologue_end` row (`dwarf::prologue`), for the bodies that have
/// one; sorted.
fn body_prologues(binary: &[u8], dwarf: &ModuleDwarf) -> Vec<(u32, u32, u32)> {
    let ends = dwarf.prologue_end_offsets(binary);
    let mut out = Vec::new();
    for payload in wasmscope_engine::wasmparser::Parser::new(0).parse_all(binary) {
        let Ok(wasmscope_engine::wasmparser::Payload::CodeSectionEntry(body)) = payload else {
            continue;
        };
        let r = body.range();
        let (start, end) = (r.start as u32, r.end as u32);
        let i = ends.partition_point(|&e| e < start);
        if let Some(&e) = ends.get(i).filter(|&&e| e < end) {
            out.push((start, end, e));
        }
    }
    out
}

/// Whether `offset` is at or past its function's prologue end (true in a
/// function without one).
fn past_prologue(prologues: &[(u32, u32, u32)], offset: u32) -> bool {
    let i = prologues.partition_point(|b| b.0 <= offset);
    match i.checked_sub(1).map(|i| prologues[i]) {
        Some((_, end, prologue)) if offset < end => offset >= prologue,
        _ => true,
    }
}

/// How `wasmscope dap` compiles a module (`wasmscope run --debug-hooks`
/// too), given its DWARF:
/// - hooks where statements start (`sites_of`), or before every
///   instruction without a line table, for a text program (each
///   instruction is a statement of its own) or when asked;
/// - locals: with DWARF, where the optimized code keeps them
///   (`DebugLocals::Live`, the fast mode: source variables are found in
///   linear memory through the frame base; it and every local a
///   variable's location names are kept alive); without DWARF
///   or from text, the wasm locals are what the user reads, so each is
///   kept exact (`DebugLocals::Mirrored`).
pub fn debug_compile_options(
    dwarf: Option<&ModuleDwarf>,
    every_instruction: bool,
    from_text: bool,
) -> CompileOptions {
    let source = dwarf.filter(|_| !from_text);
    CompileOptions {
        debug_hooks: true,
        debug_hook_sites: source.and_then(sites_of).filter(|_| !every_instruction),
        debug_locals: if source.is_some() {
            DebugLocals::Live
        } else {
            DebugLocals::Mirrored
        },
        // Every local a variable is in over its whole scope, not just
        // frame bases: a struct argument passed by value is found through
        // a pointer local that the code may no longer need (found by the
        // debugger differential: `p_14 <unavailable>` at -O0). Not those
        // of optimized code's location lists: a copy at each of their
        // `local.set`s cost sha256 -O2 a third of its run time under the
        // debugger, and the value labels place them where the code still
        // has them.
        debug_keep_locals: source.map(|d| d.whole_scope_locals().into()),
        // The operand stack where a variable lives on it (recording it
        // elsewhere can cost a caller's local its location).
        debug_stack_ranges: source.map(|d| d.stack_located_ranges().into()),
        ..CompileOptions::default()
    }
}

/// Whether instruction `i` of a module whose hook sites are `sites`
/// (besides the `always_hooked` ones; `None`: every instruction) can stop.
fn is_site(i: &listing::Instruction, sites: &Option<Arc<[u32]>>) -> bool {
    i.always_hooked
        || sites
            .as_ref()
            .is_none_or(|s| s.binary_search(&i.offset).is_ok())
}

/// How a launch compiles a module with `dwarf`: `debug_compile_options`
/// and the launch's own choices. With `control_sites`, `code` is the
/// module's instructions, and the locals its DWARF places variables in
/// come back too (`located_by_function`, for `Session::stand_in`).
fn launch_compile_options(
    config: &LaunchConfig,
    code: Option<&[listing::Instruction]>,
    dwarf: Option<&ModuleDwarf>,
    from_text: bool,
) -> (CompileOptions, Option<HashSet<(u32, u32)>>) {
    let mut compile = debug_compile_options(dwarf, config.every_instruction, from_text);
    if config.exact_locals {
        compile.debug_locals = DebugLocals::Mirrored;
    }
    let Some(code) = code.filter(|_| config.control_sites) else {
        return (compile, None);
    };
    // Every located local, kept or not: a `local.set` of one changes
    // what a variable shows (`Session::stand_in`).
    let located = dwarf.filter(|_| !from_text).map(|d| d.located_locals());
    let located = located_by_function(code, located.as_deref());
    if let Some(sites) = &compile.debug_hook_sites {
        let mut all: Vec<u32> = code
            .iter()
            .filter(|i| i.control)
            .map(|i| i.offset)
            .chain(sites.iter().copied())
            .collect();
        all.sort_unstable();
        let rows: Vec<u32> = dwarf
            .map(|d| line_starts(d).into_iter().map(|(o, _)| o).collect())
            .unwrap_or_default();
        all.extend(rows_before_effects(code, &located, &all, &rows));
        all.sort_unstable();
        all.dedup();
        compile.debug_hook_sites = Some(all.into());
    }
    (compile, Some(located))
}

/// The (function index, local) pairs of `located` ((module offset of a
/// subprogram, local): `ModuleDwarf::located_locals`), the function
/// being the one whose code starts at or after the subprogram's offset.
fn located_by_function(
    code: &[listing::Instruction],
    located: Option<&[(u32, u32)]>,
) -> HashSet<(u32, u32)> {
    let Some(located) = located else {
        return HashSet::new();
    };
    let mut firsts: Vec<(u32, u32)> = Vec::new();
    for i in code {
        if firsts.last().is_none_or(|f| f.1 != i.func) {
            firsts.push((i.offset, i.func));
        }
    }
    located
        .iter()
        .filter_map(|&(at, local)| {
            let f = firsts.get(firsts.partition_point(|f| f.0 < at))?;
            Some((f.1, local))
        })
        .collect()
}

/// Whether instruction `i` changes what a source debugger can show:
/// memory, a global, a table, where control goes, or a local that DWARF
/// places a variable in (`located`, by `located_by_function`); a
/// compiler's temporaries (`local.set` of a local no variable lives in)
/// change nothing it shows.
fn has_effect(i: &listing::Instruction, located: &HashSet<(u32, u32)>) -> bool {
    match i.effect {
        listing::Effect::None => false,
        listing::Effect::Local(local) => located.contains(&(i.func, local)),
        listing::Effect::Other => true,
    }
}

/// The line-table rows (`rows`, module offsets) to hook besides `sites`
/// (sorted): those from which code with an effect (`has_effect`) runs
/// before the next site. LLDB's
/// line step puts a breakpoint where the row it runs through ends; a row
/// whose code up to the next site is pure can be stood in for by that
/// site (the stub shows the stop at the row), and hooking every row
/// instead doubled the cost of a debugged run.
fn rows_before_effects(
    code: &[listing::Instruction],
    located: &HashSet<(u32, u32)>,
    sites: &[u32],
    rows: &[u32],
) -> Vec<u32> {
    let mut rows: Vec<u32> = rows.to_vec();
    rows.sort_unstable();
    let mut out = Vec::new();
    // Backwards: whether an effect lies between here and the next site.
    let mut effect = false;
    let mut func = None;
    for i in code.iter().rev() {
        if func != Some(i.func) {
            func = Some(i.func);
            effect = false;
        }
        effect |= has_effect(i, located);
        if i.always_hooked || sites.binary_search(&i.offset).is_ok() {
            effect = false;
        } else if effect && rows.binary_search(&i.offset).is_ok() {
            out.push(i.offset);
            effect = false;
        }
    }
    out
}

/// Where each row of the line table starts: module offset and position.
fn line_starts(d: &ModuleDwarf) -> Vec<(u32, SourceLocation)> {
    d.line_ranges()
        .into_iter()
        .map(|r| (d.module_offset(r.start), r.location))
        .collect()
}

/// The module offsets where statements start, sorted; `None` when there
/// are none.
fn sites_of(d: &ModuleDwarf) -> Option<Arc<[u32]>> {
    let starts: Vec<u32> = d
        .statement_starts()
        .into_iter()
        .map(|o| d.module_offset(o))
        .collect();
    (!starts.is_empty()).then(|| starts.into())
}

/// Reads a `.wasm` program, or compiles a `.wat`/`.wast` one (then the
/// flag is set) with a DWARF line table of its text, so that breakpoints by `.wat` line and stepping
/// through the text work like C source.
fn read_program(path: &Path) -> Result<(Vec<u8>, bool), String> {
    let bytes = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
    if bytes.starts_with(b"\0asm") {
        return Ok((bytes, false));
    }
    wat::Parser::new()
        .generate_dwarf(wat::GenerateDwarf::Lines)
        .parse_file(path)
        .map(|b| (b, true))
        .map_err(|e| e.to_string())
}

/// Instantiates the preloaded modules, each under its name, then the
/// module (with stubs for missing imports when asked), and runs `_start`
/// or the export to invoke, whose results go to stdout.
fn link_and_call(
    config: &LaunchConfig,
    store: &mut Store<WasiCtx>,
    linker: &mut Linker<WasiCtx>,
    module: &Module,
    libraries: &[Module],
    events: &Sender<Event>,
) -> Result<(), Error> {
    for (library, (name, _)) in libraries.iter().zip(&config.preload) {
        stub_imports(config, store, linker, library, events)?;
        let instance = linker.instantiate(store, library)?;
        linker.instance(&*store, name, instance);
    }
    stub_imports(config, store, linker, module, events)?;
    let instance = linker.instantiate(store, module)?;
    let Some(name) = &config.invoke else {
        let start = instance
            .get_func(store, "_start")
            .ok_or_else(|| Error::Type("the module exports no `_start`".into()))?;
        return start.call(store, &[], &mut []);
    };
    let func = instance
        .get_func(store, name)
        .ok_or_else(|| Error::Type(format!("the module exports no function `{name}`")))?;
    let ty = func.ty(store);
    let params = host::parse_args(name, &ty.params, &config.args).map_err(Error::Type)?;
    let mut results: Vec<Val> = ty
        .results
        .iter()
        .map(|t| Val::default_for(*t).unwrap_or(Val::I32(0)))
        .collect();
    func.call(store, &params, &mut results)?;
    for r in &results {
        let _ = events.send(Event::Output {
            stderr: false,
            text: format!("{}\n", host::format_val(r)),
        });
    }
    Ok(())
}

/// A `--preload` argument: `NAME=PATH`, the name the other modules
/// import from and the module's file.
pub fn parse_preload(text: &str) -> Result<(String, PathBuf), String> {
    match text.split_once('=') {
        Some((name, path)) if !name.is_empty() && !path.is_empty() => {
            Ok((name.to_string(), PathBuf::from(path)))
        }
        _ => Err(format!(
            "`{text}`: a preloaded module is NAME=PATH (the name its importers use)"
        )),
    }
}

/// Up to `len` bytes of `memory` from `address` (those that exist).
fn read_bytes(memory: Option<&[u8]>, address: u64, len: usize) -> Result<Vec<u8>, String> {
    let m = memory.ok_or("the module has no memory")?;
    let start = (address as usize).min(m.len());
    Ok(m[start..start.saturating_add(len).min(m.len())].to_vec())
}

/// Writes `bytes` into `memory` at `address`, all or nothing.
fn write_bytes(memory: Option<&mut [u8]>, address: u64, bytes: &[u8]) -> Result<(), String> {
    let m = memory.ok_or("the module has no memory")?;
    let size = m.len();
    let start = usize::try_from(address).unwrap_or(usize::MAX);
    let dst = m
        .get_mut(start..start.saturating_add(bytes.len()))
        .ok_or_else(|| {
            format!(
                "{} bytes at {address:#x} are outside memory ({size} bytes)",
                bytes.len()
            )
        })?;
    dst.copy_from_slice(bytes);
    Ok(())
}

/// With `stub_imports`, defines a logging stand-in for each import of
/// `module` the linker lacks.
fn stub_imports(
    config: &LaunchConfig,
    store: &mut Store<WasiCtx>,
    linker: &mut Linker<WasiCtx>,
    module: &Module,
    events: &Sender<Event>,
) -> Result<(), Error> {
    if config.stub_imports {
        let log = events.clone();
        host::define_stubs(store, linker, module, move |line| {
            let _ = log.send(Event::Output {
                stderr: true,
                text: format!("{line}\n"),
            });
        })?;
    }
    Ok(())
}

/// Whether an armed breakpoint stops the guest now: counts the hit, checks
/// the hit condition and the condition (a condition that cannot be
/// evaluated stops, with the error on stderr), prints a logpoint's message.
fn breakpoint_fires(
    shared: &Shared,
    at: (usize, u32),
    armed: Armed,
    inspector: &Inspector,
    stop: &DebugStop<'_, WasiCtx>,
    events: &Sender<Event>,
) -> bool {
    let hits = armed.hits + 1;
    if let Some(a) = shared
        .breakpoints
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .get_mut(&at)
    {
        a.hits = hits;
    }
    if let Some(h) = &armed.hit_condition {
        match hit_condition_holds(h, hits) {
            Ok(false) => return false,
            Ok(true) => {}
            Err(e) => {
                let _ = events.send(Event::Output {
                    stderr: true,
                    text: format!("hit condition `{h}`: {e}\n"),
                });
            }
        }
    }
    if let Some(c) = &armed.condition {
        match inspector.condition(stop, c) {
            Ok(false) => return false,
            Ok(true) => {}
            Err(e) => {
                let _ = events.send(Event::Output {
                    stderr: true,
                    text: format!("condition `{c}` cannot be evaluated: {e}\n"),
                });
            }
        }
    }
    if let Some(message) = &armed.log_message {
        let _ = events.send(Event::Output {
            stderr: false,
            text: format!(
                "{}\n",
                interpolate(message, |e| inspector_value(inspector, stop, e))
            ),
        });
        return false;
    }
    true
}

fn inspector_value(inspector: &Inspector, stop: &DebugStop<'_, WasiCtx>, expr: &str) -> String {
    match inspector.evaluate_text(stop, expr) {
        Ok(v) => v,
        Err(e) => format!("<{e}>"),
    }
}

/// `{expr}` replaced by its value; `{{` and `}}` are literal braces.
fn interpolate(message: &str, mut value: impl FnMut(&str) -> String) -> String {
    let mut out = String::new();
    let mut rest = message;
    while let Some(i) = rest.find(['{', '}']) {
        out.push_str(&rest[..i]);
        let tail = &rest[i..];
        if tail.starts_with("{{") || tail.starts_with("}}") {
            out.push_str(&tail[..1]);
            rest = &tail[2..];
        } else if let (true, Some(end)) = (tail.starts_with('{'), tail.find('}')) {
            out.push_str(&value(&tail[1..end]));
            rest = &tail[end + 1..];
        } else {
            out.push_str(&tail[..1]);
            rest = &tail[1..];
        }
    }
    out.push_str(rest);
    out
}

/// DAP hit conditions: `N` or `== N` (that hit), `>= N`, `> N`, `% N`
/// (every Nth).
fn hit_condition_holds(condition: &str, hits: u64) -> Result<bool, String> {
    let c = condition.trim();
    let (op, n) = ["==", ">=", "<=", ">", "<", "%", "="]
        .iter()
        .find_map(|op| c.strip_prefix(op).map(|rest| (*op, rest)))
        .unwrap_or(("==", c));
    let n: u64 = n
        .trim()
        .parse()
        .map_err(|_| format!("expected a number, `>= N` or `% N`, not `{c}`"))?;
    Ok(match op {
        ">=" => hits >= n,
        "<=" => hits <= n,
        ">" => hits > n,
        "<" => hits < n,
        "%" => n != 0 && hits.is_multiple_of(n),
        _ => hits == n,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A row is hooked when code with an effect runs from it before the
    /// next hook: a store always, a `local.set` only of a local DWARF
    /// places a variable in.
    #[test]
    fn rows_are_hooked_only_before_an_effect() {
        let wasm = wat::parse_str(
            r#"(module (memory 1) (func (local i32)
                 nop
                 i32.const 1 local.set 0
                 i32.const 0 i32.const 5 i32.store
                 nop))"#,
        )
        .unwrap();
        let code = listing::instructions(&wasm);
        // nop, const, local.set, const, const, store, nop, end
        let (temp_row, store_row) = (code[1].offset, code[3].offset);
        let rows = [temp_row, store_row];
        let none = HashSet::new();
        assert_eq!(rows_before_effects(&code, &none, &[], &rows), [store_row]);
        let located: HashSet<(u32, u32)> = [(code[1].func, 0)].into();
        let mut both = rows_before_effects(&code, &located, &[], &rows);
        both.sort_unstable();
        assert_eq!(both, [temp_row, store_row]);
        assert!(has_effect(&code[5], &none), "a store");
        assert!(!has_effect(&code[2], &none), "a temporary");
        assert!(has_effect(&code[2], &located), "a variable's local");
    }

    #[test]
    fn hit_conditions() {
        assert!(hit_condition_holds("3", 3).unwrap());
        assert!(!hit_condition_holds("3", 2).unwrap());
        assert!(hit_condition_holds(">= 2", 5).unwrap());
        assert!(hit_condition_holds("% 2", 4).unwrap());
        assert!(!hit_condition_holds("% 2", 3).unwrap());
        assert!(hit_condition_holds("x", 1).is_err());
    }

    #[test]
    fn logpoint_interpolation() {
        let text = interpolate("n={n} {{literal}} p->x={p->x} {", |e| format!("<{e}>"));
        assert_eq!(text, "n=<n> {literal} p->x=<p->x> {");
    }
}
