//! `wasmscope gdb` and `wasmscope lldb`: the user's debugger on
//! `wasmscope run -g`, set up for wasm with nothing to install.

use anyhow::{bail, Context, Result};
use clap::Args;
use std::process::{Command, ExitCode};
use wasmscope_debug::jit::extensions;

#[derive(Args)]
pub struct DebuggerArgs {
    /// `[--no-extensions] [DEBUGGER-ARGS] -- [RUN-ARGS]`: the arguments for
    /// the debugger itself (e.g. `-batch -ex 'break main.rs:12'`), then
    /// after `--` what `wasmscope run` takes, the module first (`--
    /// app.wasm ARGS`, `-- --dir . app.wasm ARGS`). `--no-extensions`
    /// starts the debugger without wasmscope's Python extensions (the
    /// pretty-printers that follow pointers stored in linear memory and
    /// show Rust and libc++ containers).
    #[arg(
        trailing_var_arg = true,
        allow_hyphen_values = true,
        num_args = 1..,
        required = true,
        value_name = "ARGS"
    )]
    args: Vec<String>,
}

/// The launcher's arguments, split at the first `--`.
struct Split {
    no_extensions: bool,
    debugger_args: Vec<String>,
    program: Vec<String>,
}

impl DebuggerArgs {
    fn split(self) -> Result<Split> {
        // Without a `--` (or when it came first: the parser drops a leading
        // `--`), every argument is the program's: `wasmscope gdb app.wasm`.
        let (mut debugger_args, program) = match self.args.iter().position(|a| a == "--") {
            Some(d) => (self.args[..d].to_vec(), self.args[d + 1..].to_vec()),
            None => (Vec::new(), self.args),
        };
        if program.is_empty() {
            bail!("expected the module after `--`");
        }
        let before = debugger_args.len();
        debugger_args.retain(|a| a != "--no-extensions");
        Ok(Split {
            no_extensions: debugger_args.len() != before,
            debugger_args,
            program,
        })
    }
}

/// Which debugger a launcher starts.
#[derive(Clone, Copy)]
pub enum Debugger {
    Gdb,
    Lldb,
}

impl Debugger {
    /// The debugger's executable: `$WASMSCOPE_GDB` / `$WASMSCOPE_LLDB`, else
    /// `gdb` / `lldb` from PATH.
    fn program(self) -> String {
        let (var, default) = match self {
            Debugger::Gdb => ("WASMSCOPE_GDB", "gdb"),
            Debugger::Lldb => ("WASMSCOPE_LLDB", "lldb"),
        };
        std::env::var(var).unwrap_or_else(|_| default.to_string())
    }
}

pub fn launch(debugger: Debugger, args: DebuggerArgs) -> ExitCode {
    match execute(debugger, args) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(1)
        }
    }
}

fn execute(debugger: Debugger, args: DebuggerArgs) -> Result<ExitCode> {
    let args = args.split()?;
    let me = std::env::current_exe().context("cannot find the wasmscope executable")?;
    let mut inferior = vec![me.display().to_string(), "run".into(), "-g".into()];
    inferior.extend(args.program.iter().cloned());
    let program = debugger.program();
    let mut cmd = Command::new(&program);
    match debugger {
        Debugger::Gdb => {
            // Before the user's arguments (and any .gdbinit): breakpoints on
            // wasm source wait for the JIT image; the host binary's own
            // auto-load entry (Rust's printers, absent here) stays quiet.
            cmd.args(["-iex", "set breakpoint pending on"]);
            cmd.args(["-iex", "set auto-load python-scripts off"]);
            if !args.no_extensions {
                let script = extensions::extension_file("gdb", extensions::GDB)
                    .context("cannot write the gdb extension to the cache directory")?;
                cmd.args(["-iex", &format!("source {}", script.display())]);
            }
            cmd.args(&args.debugger_args).arg("--args").args(&inferior);
        }
        Debugger::Lldb => {
            // lldb reads JIT images only when asked.
            cmd.args(["-O", "settings set plugin.jit-loader.gdb.enable on"]);
            if !args.no_extensions {
                let script = extensions::extension_file("lldb", extensions::LLDB)
                    .context("cannot write the lldb extension to the cache directory")?;
                cmd.args(["-O", &format!("command script import {}", script.display())]);
                // The image types stored pointers for the extension; lldb
                // passes its environment to `wasmscope run -g`.
                cmd.env(extensions::LLDB_TYPED_ADDRESSES, "1");
                python_path_for_debian_lldb(&program, &mut cmd);
            }
            cmd.args(&args.debugger_args).arg("--").args(&inferior);
        }
    }
    let status = cmd.status().with_context(|| {
        format!("cannot start `{program}` (set WASMSCOPE_GDB / WASMSCOPE_LLDB to choose another)")
    })?;
    Ok(match status.code() {
        Some(code) => ExitCode::from(code.clamp(0, 255) as u8),
        None => ExitCode::from(1),
    })
}

/// Debian's lldb 14 looks for its Python module where its package does not
/// put it (`lldb -P` names a `dist-packages` under `/usr/lib/local`):
/// without `PYTHONPATH`, `command script import` fails. When the user set
/// none and the lldb is an LLVM installation's (`.../llvm-N/bin/lldb`),
/// point it at that installation's module. Found on the file system, not by
/// asking lldb (each run of lldb costs 50 ms).
fn python_path_for_debian_lldb(program: &str, cmd: &mut Command) {
    if std::env::var_os("PYTHONPATH").is_some() {
        return;
    }
    let found = if program.contains('/') {
        Some(std::path::PathBuf::from(program))
    } else {
        std::env::var_os("PATH").and_then(|paths| {
            std::env::split_paths(&paths)
                .map(|d| d.join(program))
                .find(|p| p.is_file())
        })
    };
    let Some(llvm) = found
        .and_then(|p| std::fs::canonicalize(p).ok())
        .and_then(|p| Some(p.parent()?.parent()?.to_path_buf()))
    else {
        return;
    };
    let Ok(entries) = std::fs::read_dir(llvm.join("lib")) else {
        return;
    };
    let mut candidates: Vec<std::path::PathBuf> = entries
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with("python3"))
        .flat_map(|e| {
            [
                e.path().join("dist-packages"),
                e.path().join("site-packages"),
            ]
        })
        .filter(|dir| dir.join("lldb/embedded_interpreter.py").exists())
        .collect();
    candidates.sort();
    if let Some(dir) = candidates.pop() {
        // Debian's lldb module imports `six` from the system's packages,
        // which an embedded Python started from another installation's
        // environment (pyenv) does not search.
        let mut path = vec![dir];
        let system = std::path::PathBuf::from("/usr/lib/python3/dist-packages");
        if system.is_dir() {
            path.push(system);
        }
        if let Ok(joined) = std::env::join_paths(path) {
            cmd.env("PYTHONPATH", joined);
        }
    }
}
