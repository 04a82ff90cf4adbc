//! `wasmscope-fuzz`: the project's fuzzers, as one plain binary on stable
//! Rust. Every case is a pure function of its seed: `--seed N --cases 1`
//! reruns a finding. See `fuzz/README.md`.

mod dap_client;
mod debugger;
mod engine;
mod rng;
mod run;

use clap::{Args, Parser, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Parser)]
#[command(name = "wasmscope-fuzz", about = "wasmscope's fuzzers")]
struct Cli {
    #[command(subcommand)]
    target: Target,
}

#[derive(Subcommand)]
enum Target {
    /// The engine against the wasmi interpreter on wasm-smith modules.
    Engine {
        #[command(flatten)]
        budget: BudgetArgs,
        /// Check one module instead of generating (a minimizer's predicate:
        /// exit 1 when the engines disagree).
        #[arg(long, value_name = "FILE.wasm")]
        check: Option<PathBuf>,
        /// With --check: plain, mirrored or live.
        #[arg(long, default_value = "plain")]
        mode: String,
    },
    /// gdb and the DAP on wasm against gdb natively, on csmith programs.
    Debugger {
        #[command(flatten)]
        budget: BudgetArgs,
    },
}

#[derive(Args)]
struct BudgetArgs {
    /// The first seed; case i uses seed + i.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Stop after this many cases.
    #[arg(long)]
    cases: Option<u64>,
    /// Stop after this many seconds.
    #[arg(long)]
    seconds: Option<f64>,
    /// Where findings and summary.jsonl go.
    #[arg(long, default_value = "target/fuzz")]
    out: PathBuf,
    /// Keep going after a finding.
    #[arg(long)]
    keep_going: bool,
}

impl BudgetArgs {
    fn budget(&self) -> run::Budget {
        run::Budget {
            seed: self.seed,
            cases: self.cases.or(if self.seconds.is_none() {
                Some(100)
            } else {
                None
            }),
            seconds: self.seconds,
            out: self.out.clone(),
            stop_on_finding: !self.keep_going,
        }
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let summary = match cli.target {
        Target::Engine {
            budget,
            check: Some(file),
            mode,
        } => {
            let Some(mode) = engine::parse_mode(&mode) else {
                eprintln!("error: --mode must be plain, mirrored or live");
                return ExitCode::from(2);
            };
            let wasm = match std::fs::read(&file) {
                Ok(w) => w,
                Err(e) => {
                    eprintln!("error: cannot read {}: {e}", file.display());
                    return ExitCode::from(2);
                }
            };
            return match engine::check(&wasm, mode, budget.seed) {
                run::Verdict::Finding(f) => {
                    println!("{}", f.summary);
                    ExitCode::from(1)
                }
                run::Verdict::Skip => {
                    println!("inconclusive");
                    ExitCode::SUCCESS
                }
                run::Verdict::Pass => {
                    println!("agree");
                    ExitCode::SUCCESS
                }
            };
        }
        Target::Engine { budget, .. } => run::campaign("engine", &budget.budget(), engine::case),
        Target::Debugger { budget } => {
            let tools = debugger::Tools::new(&budget.out);
            let s = run::campaign("debugger", &budget.budget(), |seed| {
                debugger::case(&tools, seed)
            });
            use std::sync::atomic::Ordering::Relaxed;
            println!(
                "debugger: {} stops and {} values compared",
                debugger::STOPS_COMPARED.load(Relaxed),
                debugger::VALUES_COMPARED.load(Relaxed)
            );
            s
        }
    };
    if summary.findings.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}
