//! `wasmscope-fuzz`: the project's fuzzers, as one plain binary on stable
//! Rust. Every case is a pure function of its seed: `--seed N --cases 1`
//! reruns a finding. See `fuzz/README.md`.

mod dap_client;
mod debugger;
mod dwarf;
mod engine;
mod gdbstub;
mod protocol;
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
        /// Check one C program instead of generating (creduce's predicate,
        /// as a finding's interesting.sh calls it): exit 1 when it shows a
        /// finding whose summary contains every --expect.
        #[arg(long, value_name = "FILE.c")]
        check: Option<PathBuf>,
        /// With --check: a word the finding's summary must contain.
        #[arg(long, value_name = "TEXT")]
        expect: Vec<String>,
    },
    /// Random and malformed DAP and LSP message sequences.
    Protocol {
        #[command(flatten)]
        budget: BudgetArgs,
        /// Send a finding's messages.txt again instead of generating.
        #[arg(long, value_name = "FILE")]
        replay: Option<PathBuf>,
    },
    /// Random and malformed GDB remote packets to `run --gdb-port`.
    Gdbstub {
        #[command(flatten)]
        budget: BudgetArgs,
    },
    /// The DWARF reader and transform on mutated .debug_* sections.
    Dwarf {
        #[command(flatten)]
        budget: BudgetArgs,
        /// Directories of .wasm files with DWARF (default: the fixtures and
        /// the language corpus).
        #[arg(long, value_name = "DIR")]
        corpus: Vec<PathBuf>,
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
    fn budget(&self, case_timeout: u64) -> run::Budget {
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
            case_timeout: std::time::Duration::from_secs(case_timeout),
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
                run::Verdict::Finding(f) | run::Verdict::Known(f) => {
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
        Target::Engine { budget, .. } => run::campaign("engine", &budget.budget(60), engine::case),
        Target::Debugger {
            budget,
            check: Some(file),
            expect,
        } => {
            let tools = debugger::Tools::new(&budget.out);
            return match debugger::check_file(&tools, &file) {
                Err(e) => {
                    eprintln!("error: {e}");
                    ExitCode::from(2)
                }
                Ok(run::Verdict::Finding(f) | run::Verdict::Known(f)) => {
                    println!("{}", f.summary);
                    if expect.iter().all(|w| f.summary.contains(w.as_str())) {
                        ExitCode::from(1)
                    } else {
                        ExitCode::SUCCESS
                    }
                }
                Ok(run::Verdict::Skip) => {
                    println!("inconclusive (does not build, or the native program runs too long)");
                    ExitCode::SUCCESS
                }
                Ok(run::Verdict::Pass) => {
                    println!("agree");
                    ExitCode::SUCCESS
                }
            };
        }
        Target::Debugger { budget, .. } => {
            let tools = debugger::Tools::new(&budget.out);
            let s = run::campaign("debugger", &budget.budget(900), |seed| {
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
        Target::Protocol { budget, replay } => {
            let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
            let wasmscope = debugger::Tools::new(&budget.out).wasmscope;
            let tools = protocol::Tools::new(wasmscope, &root, &budget.out);
            if let Some(file) = replay {
                return match protocol::replay(&tools, &file) {
                    Ok(()) => ExitCode::SUCCESS,
                    Err(e) => {
                        println!("{e}");
                        ExitCode::from(1)
                    }
                };
            }
            run::campaign("protocol", &budget.budget(120), |seed| {
                protocol::case(&tools, seed)
            })
        }
        Target::Gdbstub { budget } => {
            let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
            let wasmscope = debugger::Tools::new(&budget.out).wasmscope;
            let tools = gdbstub::Tools::new(wasmscope, &root, &budget.out);
            run::campaign("gdbstub", &budget.budget(120), |seed| {
                gdbstub::case(&tools, seed)
            })
        }
        Target::Dwarf { budget, corpus } => {
            let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
            let dirs = if corpus.is_empty() {
                dwarf::default_dirs(&root, &root.join("target"))
            } else {
                corpus
            };
            let mut corpus = match dwarf::Corpus::new(&dirs) {
                Ok(c) => c,
                Err(e) => {
                    eprintln!("error: {e}");
                    return ExitCode::from(2);
                }
            };
            let cache = budget.out.join("dwarf-work");
            std::fs::create_dir_all(&cache).ok();
            std::env::set_var("XDG_CACHE_HOME", &cache);
            run::campaign("dwarf", &budget.budget(60), |seed| {
                dwarf::case(&mut corpus, seed, &cache)
            })
        }
    };
    if summary.findings.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}
