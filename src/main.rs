//! The `wasmscope` command line: argument parsing and dispatch only.

mod commands;

use clap::{Parser, Subcommand};
use std::process::ExitCode;

#[derive(Parser)]
#[command(
    name = "wasmscope",
    version,
    about = "A WebAssembly runtime built for debugging"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run a WebAssembly module (.wasm or .wat)
    Run(Box<commands::run::RunArgs>),
    /// Debug a module's source in gdb, with wasmscope's extensions loaded:
    /// `wasmscope gdb [GDB-ARGS] -- app.wasm [ARGS]`
    Gdb(commands::debugger::DebuggerArgs),
    /// Debug a module's source in lldb (JIT loader on):
    /// `wasmscope lldb [LLDB-ARGS] -- app.wasm [ARGS]`
    Lldb(commands::debugger::DebuggerArgs),
    /// Check .wat, .wast and .wasm files and report every problem
    Check(commands::check::CheckArgs),
    /// Show or clear the cache of compiled modules
    Cache(commands::cache::CacheCommand),
    /// Serve the Language Server Protocol on stdin/stdout
    Lsp,
    /// Serve the Debug Adapter Protocol on stdin/stdout (or a TCP port)
    Dap {
        /// Listen on 127.0.0.1:PORT instead, serving one client at a time
        #[arg(long, value_name = "PORT")]
        port: Option<u16>,
    },
}

/// LLDB's wasm platform (`platform select wasm`, with
/// `platform.plugin.wasm.runtime-path` set to wasmscope and `port-arg` to
/// `--gdb-port=`) starts the runtime as `wasmscope --gdb-port=PORT
/// [RUNTIME-ARGS] MODULE ARGS`: the port first. That form means `run
/// --gdb-port=PORT --gdb-output terminal [RUNTIME-ARGS] MODULE ARGS`
/// (LLDB shows the runtime's terminal, so no `O` packets are needed).
fn platform_form(mut args: Vec<std::ffi::OsString>) -> Vec<std::ffi::OsString> {
    let first = args.get(1).and_then(|a| a.to_str()).unwrap_or("");
    if !first.starts_with("--gdb-port") {
        return args;
    }
    let mut port = vec![args.remove(1)];
    if !port[0].to_string_lossy().contains('=') && args.len() > 1 {
        port.push(args.remove(1));
    }
    if args.get(1).and_then(|a| a.to_str()) != Some("run") {
        args.insert(1, "run".into());
    }
    let explicit = args
        .iter()
        .any(|a| a.to_string_lossy().starts_with("--gdb-output"));
    let mut tail = args.split_off(2);
    args.extend(port);
    if !explicit {
        args.extend(["--gdb-output".into(), "terminal".into()]);
    }
    args.append(&mut tail);
    args
}

fn main() -> ExitCode {
    let cli = Cli::parse_from(platform_form(std::env::args_os().collect()));
    match cli.command {
        Command::Run(args) => commands::run::run(*args),
        Command::Check(args) => commands::check::check(args),
        Command::Cache(cmd) => commands::cache::cache(cmd),
        Command::Gdb(args) => commands::debugger::launch(commands::debugger::Debugger::Gdb, args),
        Command::Lldb(args) => commands::debugger::launch(commands::debugger::Debugger::Lldb, args),
        Command::Dap { port: None } => {
            wasmscope_debug::dap::run_stdio();
            ExitCode::SUCCESS
        }
        Command::Dap { port: Some(port) } => match wasmscope_debug::dap::run_tcp(port) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("error: cannot serve DAP on 127.0.0.1:{port}: {e}");
                ExitCode::FAILURE
            }
        },
        Command::Lsp => match wasmscope_lsp::server::run_stdio() {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("error: language server: {e}");
                ExitCode::FAILURE
            }
        },
    }
}

#[cfg(test)]
mod tests {
    use super::platform_form;

    fn form(args: &[&str]) -> Vec<String> {
        platform_form(args.iter().map(|a| a.into()).collect())
            .into_iter()
            .map(|a| a.into_string().unwrap())
            .collect()
    }

    #[test]
    fn lldb_platform_arguments() {
        assert_eq!(
            form(&["wasmscope", "--gdb-port=4000", "app.wasm", "x"]),
            [
                "wasmscope",
                "run",
                "--gdb-port=4000",
                "--gdb-output",
                "terminal",
                "app.wasm",
                "x"
            ]
        );
        assert_eq!(
            form(&[
                "wasmscope",
                "--gdb-port",
                "4000",
                "run",
                "--dir",
                ".",
                "app.wasm"
            ]),
            [
                "wasmscope",
                "run",
                "--gdb-port",
                "4000",
                "--gdb-output",
                "terminal",
                "--dir",
                ".",
                "app.wasm"
            ]
        );
        assert_eq!(
            form(&[
                "wasmscope",
                "--gdb-port=1",
                "run",
                "--gdb-output=both",
                "a.wasm"
            ]),
            [
                "wasmscope",
                "run",
                "--gdb-port=1",
                "--gdb-output=both",
                "a.wasm"
            ]
        );
        assert_eq!(
            form(&["wasmscope", "run", "a.wasm"]),
            ["wasmscope", "run", "a.wasm"]
        );
    }
}
