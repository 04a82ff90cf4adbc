//! `wasmscope run`: compile, link WASI, and run `_start` or an export.

use anyhow::{anyhow, bail, Context, Result};
use clap::Args;
use std::path::PathBuf;
use std::process::ExitCode;
use wasmscope_engine::wasi::{self, WasiCtx};
use wasmscope_engine::{host, Config, Engine, Error, Linker, Module, Store, Val};

/// Exit status of a guest that trapped (as Wasmtime's: 128 + SIGABRT).
const TRAP_EXIT: u8 = 134;

#[derive(Args)]
pub struct RunArgs {
    /// Call this exported function instead of `_start`; ARGS are its arguments.
    #[arg(long, value_name = "NAME")]
    invoke: Option<String>,
    /// Pass an environment variable to the guest.
    #[arg(long = "env", value_name = "NAME=VALUE")]
    env: Vec<String>,
    /// Preopen a host directory for the guest: `HOST[::GUEST]`, read-only
    /// with a `:ro` suffix. The guest reaches no other file.
    #[arg(long = "dir", value_name = "HOST[::GUEST][:ro]")]
    dirs: Vec<String>,
    /// Preopen a host directory read-only: `HOST[::GUEST]`.
    #[arg(long = "dir-ro", value_name = "HOST[::GUEST]")]
    dirs_ro: Vec<String>,
    /// Pass the host's whole environment to the guest (then `--env` adds).
    #[arg(long)]
    inherit_env: bool,
    /// Compile for native debuggers: keep debug info and register the JIT
    /// code's DWARF with gdb/lldb (GDB JIT interface).
    #[arg(short = 'g', long = "debug-info")]
    debug_info: bool,
    /// Also write the ELF image that `-g` registers with debuggers (the
    /// module's DWARF transformed for the JIT code) to FILE, e.g. for
    /// `llvm-dwarfdump --verify FILE`. Implies `-g`.
    #[arg(long, value_name = "FILE")]
    emit_debug_image: Option<PathBuf>,
    /// Compile as `wasmscope dap` does (a flag check where each source
    /// statement starts, at function entries, loop heads and call returns;
    /// before every instruction in code without DWARF), without stopping
    /// anywhere: shows what debugging costs when nothing is being looked at.
    #[arg(long)]
    debug_hooks: bool,
    /// Serve the GDB remote protocol with LLDB's WebAssembly extensions on
    /// [HOST:]PORT (loopback unless a host is given; 0 picks a free port)
    /// and wait for a debugger before running: `lldb` then `process connect
    /// --plugin wasm connect://127.0.0.1:PORT`. Breakpoints, steps, every
    /// frame's locals, globals, memory reads and writes, watchpoints.
    #[arg(long, value_name = "[HOST:]PORT", conflicts_with_all = ["debug_info", "debug_hooks"])]
    gdb_port: Option<String>,
    /// With --gdb-port: where the guest's stdout and stderr go: `lldb` (as
    /// `O` packets, shown by lldb while the program runs), `terminal`
    /// (wasmscope's own stdout and stderr) or `both`.
    #[arg(long, value_name = "WHERE", default_value = "both", requires = "gdb_port",
          value_parser = ["lldb", "terminal", "both"])]
    gdb_output: String,
    /// With --debug-hooks or --gdb-port: a hook before every instruction,
    /// DWARF or not (a single step then stops at each instruction).
    #[arg(long)]
    every_instruction: bool,
    /// With --debug-hooks or --gdb-port: keep an exact copy of every local
    /// for the debugger, as `wasmscope dap` does for modules without
    /// DWARF, instead of reading locals where the optimized code keeps
    /// them (in optimized code, every variable held in a local is then
    /// available; slower to run).
    #[arg(long)]
    mirrored_locals: bool,
    /// Instantiate the module at PATH first, under NAME, for the program
    /// to import from (`(import "NAME" "f" ...)`); repeat for several, in
    /// order (each may import from those before it). Every way of running
    /// takes them: under --gdb-port each is one more library for LLDB,
    /// with its own module id, code and memory; with -g each registers
    /// its own DWARF.
    #[arg(long = "preload", value_name = "NAME=PATH")]
    preload: Vec<String>,
    /// Give every import the host does not provide a stand-in: functions
    /// return zeros (externref results: a fresh labelled host value such as
    /// `env.get_handle#3`) and log each call on stderr.
    #[arg(long)]
    stub_imports: bool,
    #[command(flatten)]
    cache: super::cache::CacheArgs,
    /// Say on stderr where the compiled code came from (the cache or
    /// Cranelift) and how long loading, compiling and running took.
    #[arg(short, long)]
    verbose: bool,
    /// The module to run (.wasm or .wat).
    module: PathBuf,
    /// Arguments for the guest (or for the invoked function).
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    args: Vec<String>,
}

pub fn run(args: RunArgs) -> ExitCode {
    match execute(args) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(1)
        }
    }
}

fn execute(mut args: RunArgs) -> Result<ExitCode> {
    use wasmscope_debug::dwarf::read::ModuleDwarf;
    if args.mirrored_locals && !args.debug_hooks && args.gdb_port.is_none() {
        bail!("--mirrored-locals needs --debug-hooks or --gdb-port");
    }
    if args.every_instruction && !args.debug_hooks && args.gdb_port.is_none() {
        bail!("--every-instruction goes with --debug-hooks or --gdb-port");
    }
    if let Some(listen) = args.gdb_port.clone() {
        return serve_gdb(listen, &args);
    }
    args.debug_info |= args.emit_debug_image.is_some();
    let mut config = Config::default();
    // A debug compile is decided by the module's DWARF, read once from the
    // file before compiling and used again for the JIT image and for trap
    // backtraces.
    let early_dwarf = if args.debug_info || args.debug_hooks {
        let bytes = std::fs::read(&args.module)
            .with_context(|| format!("failed to read {}", args.module.display()))?;
        let dwarf = ModuleDwarf::from_binary(&bytes);
        config.compile = debug_options(&args, &bytes, dwarf.as_ref());
        Some((dwarf, bytes))
    } else {
        None
    };
    config.cache = args.cache.config();
    let started = std::time::Instant::now();
    let engine = Engine::new(config)?;
    let (early_dwarf, module) = match early_dwarf {
        Some((dwarf, bytes)) => (
            Some(dwarf),
            Module::from_file_bytes(&engine, &args.module, bytes),
        ),
        None => (None, Module::from_file(&engine, &args.module)),
    };
    let module = module.with_context(|| format!("failed to load {}", args.module.display()))?;
    report_cache(&module, args.verbose, started.elapsed());
    let preloads = preloaded_modules(&args, &engine)?;
    // The module's DWARF: read before compiling for a debug compile, else
    // only when a trap's backtrace needs it.
    let dwarf = std::cell::OnceCell::new();
    if let Some(d) = early_dwarf {
        let _ = dwarf.set(d);
    }
    let dwarf = || dwarf.get_or_init(|| ModuleDwarf::parse(module.binary(), module.info()));
    let started = std::time::Instant::now();
    let _jit = if args.debug_info {
        Some(
            wasmscope_debug::jit::register(
                &module,
                &args.module,
                dwarf().as_ref(),
                args.emit_debug_image.as_deref(),
            )
            .map_err(|e| anyhow!("cannot describe the JIT code to debuggers: {e}"))?,
        )
    } else {
        None
    };
    let _preloads_jit = if args.debug_info {
        preloads
            .iter()
            .map(|p| {
                wasmscope_debug::jit::register(&p.module, &p.path, p.dwarf(), None)
                    .map_err(|e| anyhow!("{}: cannot describe the JIT code: {e}", p.path.display()))
            })
            .collect::<Result<Vec<_>>>()?
    } else {
        Vec::new()
    };
    if let (true, Some(jit)) = (args.verbose, &_jit) {
        eprintln!(
            "wasmscope: debug image {} and registered in {:.1} ms",
            if jit.from_cache {
                "loaded from the cache"
            } else {
                "built"
            },
            ms(started.elapsed())
        );
    }
    let started = std::time::Instant::now();
    let result = run_module(&args, &module, &preloads, &engine);
    if args.verbose {
        eprintln!("wasmscope: ran in {:.1} ms", ms(started.elapsed()));
    }
    match result {
        Err(e) => match e.downcast::<Error>() {
            Ok(Error::Trap(t)) if t.exit_status().is_none() => {
                eprintln!("error: {t}");
                if !t.backtrace.is_empty() {
                    // Each frame's source from its own module's DWARF.
                    let dwarf_of = |id: Option<wasmscope_engine::ModuleId>| {
                        if id == Some(module.id()) {
                            return dwarf().as_ref();
                        }
                        preloads.iter().find(|p| Some(p.module.id()) == id)?.dwarf()
                    };
                    eprintln!("wasm backtrace:\n{}", backtrace(&t, dwarf_of).trim_end());
                }
                Ok(ExitCode::from(TRAP_EXIT))
            }
            Ok(other) => Err(other.into()),
            Err(e) => Err(e),
        },
        ok => ok,
    }
}

fn ms(d: std::time::Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// With `--verbose`, where the code came from; a cache that cannot be
/// written is a warning either way (once per process: the engine reports
/// only the first failure).
fn report_cache(module: &Module, verbose: bool, took: std::time::Duration) {
    use wasmscope_engine::CacheOutcome;
    let took = ms(took);
    match module.cache_outcome() {
        CacheOutcome::Disabled => {
            if verbose {
                eprintln!("wasmscope: compiled in {took:.1} ms (code cache off)");
            }
        }
        CacheOutcome::Loaded { path } => {
            if verbose {
                eprintln!(
                    "wasmscope: loaded compiled code from the cache ({}) in {took:.1} ms",
                    path.display()
                );
            }
        }
        CacheOutcome::Compiled {
            path,
            rejected,
            stored,
            write_error,
        } => {
            if let Some(e) = write_error {
                eprintln!("warning: {e}; compiling every time");
            }
            if verbose {
                if let Some(why) = rejected {
                    eprintln!("wasmscope: ignored the cached code: {why}");
                }
                let whereto = if *stored {
                    format!("stored in the cache ({})", path.display())
                } else {
                    "not stored in the cache".to_string()
                };
                eprintln!("wasmscope: compiled in {took:.1} ms, {whereto}");
            }
        }
    }
}

/// The trap's backtrace, each frame followed by its source frames (inlined
/// ones first) when the module has DWARF.
fn backtrace<'d>(
    t: &wasmscope_engine::Trap,
    dwarf_of: impl Fn(
        Option<wasmscope_engine::ModuleId>,
    ) -> Option<&'d wasmscope_debug::dwarf::read::ModuleDwarf>,
) -> String {
    if t.backtrace.iter().all(|f| dwarf_of(f.module).is_none()) {
        return t.display_backtrace();
    }
    let mut s = String::new();
    let mut i = 0;
    while i < t.backtrace.len() {
        let f = &t.backtrace[i];
        let run = t.backtrace[i..].iter().take_while(|g| *g == f).count();
        let name = f
            .func_name
            .clone()
            .unwrap_or_else(|| format!("<wasm function {}>", f.func_index));
        let offset = f
            .wasm_offset
            .map_or_else(|| format!("{:>8}", "?"), |o| format!("{o:#8x}"));
        s.push_str(&format!("  {i:>2}: {offset} - {name}\n"));
        let dwarf = dwarf_of(f.module);
        for sf in f
            .wasm_offset
            .and_then(|o| Some(dwarf?.frames(o)))
            .unwrap_or_default()
        {
            let func = sf.function.unwrap_or_else(|| "??".into());
            match sf.location {
                Some(l) => s.push_str(&format!(
                    "              at {}:{}:{} in {func}\n",
                    l.file, l.line, l.column
                )),
                None => s.push_str(&format!("              in {func}\n")),
            }
        }
        if run > 2 {
            s.push_str(&format!("      ... {} more identical frames\n", run - 1));
            i += run;
        } else {
            i += 1;
        }
    }
    s
}

/// `--gdb-port`: the module under the debug session, served to LLDB.
fn serve_gdb(listen: String, args: &RunArgs) -> Result<ExitCode> {
    let launch = wasmscope_debug::session::LaunchConfig {
        program: args.module.clone(),
        args: args.args.clone(),
        env: guest_env(args)?,
        dirs: guest_dirs(args),
        stop_on_entry: true,
        stub_imports: args.stub_imports,
        invoke: args.invoke.clone(),
        every_instruction: args.every_instruction,
        control_sites: true,
        exact_locals: args.mirrored_locals,
        cache: args.cache.config(),
        preload: args
            .preload
            .iter()
            .map(|p| wasmscope_debug::session::parse_preload(p))
            .collect::<Result<_, _>>()
            .map_err(|e| anyhow!("--preload {e}"))?,
    };
    let options = wasmscope_debug::gdbstub::Options {
        listen,
        launch,
        output_packets: args.gdb_output != "terminal",
        output_local: args.gdb_output != "lldb",
    };
    let status = wasmscope_debug::gdbstub::run(options).map_err(|e| anyhow!(e))?;
    Ok(exit_code(status))
}

/// The guest's environment: the host's with `--inherit-env`, then `--env`.
fn guest_env(args: &RunArgs) -> Result<Vec<(String, String)>> {
    let mut env: Vec<(String, String)> = if args.inherit_env {
        std::env::vars().collect()
    } else {
        Vec::new()
    };
    for kv in &args.env {
        let (k, v) = kv
            .split_once('=')
            .ok_or_else(|| anyhow!("--env expects NAME=VALUE, got `{kv}`"))?;
        env.push((k.to_string(), v.to_string()));
    }
    Ok(env)
}

/// The preopened directories: (host, guest, read-only).
fn guest_dirs(args: &RunArgs) -> Vec<(PathBuf, String, bool)> {
    let dirs = args
        .dirs
        .iter()
        .map(|d| (d, false))
        .chain(args.dirs_ro.iter().map(|d| (d, true)));
    dirs.map(|(spec, ro)| {
        let (spec, ro) = match spec.strip_suffix(":ro") {
            Some(s) => (s, true),
            None => (spec.as_str(), ro),
        };
        let (host, guest) = spec.split_once("::").unwrap_or((spec, spec));
        (PathBuf::from(host), guest.to_string(), ro)
    })
    .collect()
}

/// A `--preload` module, compiled as the program is (a debug compile from
/// its own DWARF).
struct Preload {
    name: String,
    path: PathBuf,
    module: Module,
    /// Read before compiling for a debug compile, else only when a trap's
    /// backtrace needs it (as the program's).
    dwarf: std::cell::OnceCell<Option<wasmscope_debug::dwarf::read::ModuleDwarf>>,
}

impl Preload {
    fn dwarf(&self) -> Option<&wasmscope_debug::dwarf::read::ModuleDwarf> {
        self.dwarf
            .get_or_init(|| {
                wasmscope_debug::dwarf::read::ModuleDwarf::parse(
                    self.module.binary(),
                    self.module.info(),
                )
            })
            .as_ref()
    }
}

/// How `-g` or `--debug-hooks` compiles a module with `dwarf`.
fn debug_options(
    args: &RunArgs,
    bytes: &[u8],
    dwarf: Option<&wasmscope_debug::dwarf::read::ModuleDwarf>,
) -> wasmscope_engine::CompileOptions {
    if !args.debug_hooks {
        return wasmscope_debug::jit::compile_options(dwarf);
    }
    let text = !bytes.starts_with(b"\0asm");
    let mut options =
        wasmscope_debug::session::debug_compile_options(dwarf, args.every_instruction, text);
    options.debug_info = args.debug_info;
    if args.mirrored_locals {
        options.debug_locals = wasmscope_engine::DebugLocals::Mirrored;
    }
    options
}

/// Reads and compiles the `--preload` modules, in order.
fn preloaded_modules(args: &RunArgs, engine: &Engine) -> Result<Vec<Preload>> {
    use wasmscope_debug::dwarf::read::ModuleDwarf;
    args.preload
        .iter()
        .map(|spec| {
            let (name, path) = wasmscope_debug::session::parse_preload(spec)
                .map_err(|e| anyhow!("--preload {e}"))?;
            let bytes = std::fs::read(&path)
                .with_context(|| format!("failed to read {}", path.display()))?;
            let dwarf = std::cell::OnceCell::new();
            let module = if args.debug_info || args.debug_hooks {
                let early = dwarf.get_or_init(|| ModuleDwarf::from_binary(&bytes));
                let options = debug_options(args, &bytes, early.as_ref());
                Module::with_options(engine, bytes, options)
            } else {
                Module::from_file_bytes(engine, &path, bytes)
            }
            .with_context(|| format!("failed to load {} (--preload {name})", path.display()))?;
            Ok(Preload {
                name,
                path,
                module,
                dwarf,
            })
        })
        .collect()
}

fn run_module(
    args: &RunArgs,
    module: &Module,
    preloads: &[Preload],
    engine: &Engine,
) -> Result<ExitCode> {
    let env = guest_env(args)?;
    let program = args
        .module
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let mut guest_args = vec![program];
    if args.invoke.is_none() {
        guest_args.extend(args.args.iter().cloned());
    }
    let mut ctx = WasiCtx::new(guest_args, env);
    for (host, guest, ro) in guest_dirs(args) {
        ctx.preopen_dir(&host, &guest, ro)
            .with_context(|| format!("cannot preopen directory `{}`", host.display()))?;
    }
    let mut store = Store::new(engine, ctx);
    let mut linker = Linker::new();
    wasi::add_to_linker(&mut linker, |ctx: &mut WasiCtx| ctx);
    for p in preloads {
        let instance = instantiate(args, &mut store, &mut linker, &p.module)
            .with_context(|| format!("cannot instantiate {} (--preload)", p.path.display()))?;
        match instance {
            Ok(instance) => {
                linker.instance(&store, &p.name, instance);
            }
            Err(exited) => return Ok(exited),
        }
    }
    let instance = match instantiate(args, &mut store, &mut linker, module)? {
        Ok(i) => i,
        Err(exited) => return Ok(exited),
    };

    let name = args.invoke.as_deref().unwrap_or("_start");
    let Some(func) = instance.get_func(&store, name) else {
        if args.invoke.is_some() {
            let exports: Vec<String> = module
                .exports()
                .filter(|(_, t)| matches!(t, wasmscope_engine::ExternType::Func(_)))
                .map(|(n, _)| n.to_string())
                .collect();
            bail!(
                "no exported function `{name}` in {} (exported functions: {})",
                args.module.display(),
                if exports.is_empty() {
                    "none".into()
                } else {
                    exports.join(", ")
                }
            );
        }
        // A module without `_start` (a library, or one run for its start
        // function) has done its work by being instantiated.
        return Ok(ExitCode::SUCCESS);
    };
    let ty = func.ty(&store);
    let params = if args.invoke.is_some() {
        host::parse_args(name, &ty.params, &args.args).map_err(|e| anyhow!(e))?
    } else {
        Vec::new()
    };
    let mut results: Vec<Val> = ty
        .results
        .iter()
        .map(|t| Val::default_for(*t).unwrap_or(Val::I32(0)))
        .collect();
    match func.call(&mut store, &params, &mut results) {
        Ok(()) => {}
        Err(Error::Trap(t)) if t.exit_status().is_some() => {
            return Ok(exit_code(t.exit_status().unwrap_or(0)));
        }
        Err(e) => return Err(e.into()),
    }
    for r in &results {
        println!("{}", host::format_val(r));
    }
    Ok(ExitCode::SUCCESS)
}

/// Instantiates `module`, with stand-ins for the imports the linker lacks
/// when asked: the instance, or the guest's exit status when its start
/// function exited.
fn instantiate(
    args: &RunArgs,
    store: &mut Store<WasiCtx>,
    linker: &mut Linker<WasiCtx>,
    module: &Module,
) -> Result<Result<wasmscope_engine::Instance, ExitCode>, Error> {
    if args.stub_imports {
        host::define_stubs(store, linker, module, |line| eprintln!("{line}"))?;
    }
    match linker.instantiate(store, module) {
        Ok(i) => Ok(Ok(i)),
        Err(Error::Trap(t)) if t.exit_status().is_some() => {
            Ok(Err(exit_code(t.exit_status().unwrap_or(0))))
        }
        Err(e) => Err(e),
    }
}

fn exit_code(status: i32) -> ExitCode {
    ExitCode::from((status & 0xff) as u8)
}
