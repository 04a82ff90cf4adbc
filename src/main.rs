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
    Run(commands::run::RunArgs),
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

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Run(args) => commands::run::run(args),
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
