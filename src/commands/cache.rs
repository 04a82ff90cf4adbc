//! `wasmscope cache {info,clear}` and the cache options `run` shares.

use anyhow::{Context, Result};
use clap::{Args, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;
use wasmscope_engine::CacheConfig;

/// How a command that compiles uses the compiled-code cache.
#[derive(Args, Clone, Debug, Default)]
pub struct CacheArgs {
    /// Compile every time: neither read nor write the compiled-code cache.
    #[arg(long)]
    pub no_cache: bool,
    /// The compiled-code cache's directory [default: $WASMSCOPE_CACHE_DIR,
    /// else $XDG_CACHE_HOME/wasmscope/code, else ~/.cache/wasmscope/code].
    #[arg(long, value_name = "DIR")]
    pub cache_dir: Option<PathBuf>,
}

impl CacheArgs {
    /// The cache to use, `None` with `--no-cache`.
    pub fn config(&self) -> Option<CacheConfig> {
        if self.no_cache {
            return None;
        }
        let mut config = CacheConfig::user_default();
        if let Some(dir) = &self.cache_dir {
            config.dir = dir.clone();
        }
        Some(config)
    }
}

#[derive(Args)]
pub struct CacheCommand {
    #[command(subcommand)]
    action: Action,
    /// The cache directory [default: as `run` uses it].
    #[arg(long, value_name = "DIR", global = true)]
    cache_dir: Option<PathBuf>,
}

#[derive(Subcommand)]
enum Action {
    /// Where the cache is, how many entries it holds and its size
    Info,
    /// Remove every cached module and debug image
    Clear,
}

pub fn cache(cmd: CacheCommand) -> ExitCode {
    match execute(cmd) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(1)
        }
    }
}

fn execute(cmd: CacheCommand) -> Result<()> {
    let config = CacheArgs {
        no_cache: false,
        cache_dir: cmd.cache_dir,
    }
    .config()
    .expect("a cache is configured");
    let dir = config.dir.display();
    match cmd.action {
        Action::Info => {
            let info = config
                .info()
                .with_context(|| format!("cannot read the cache directory {dir}"))?;
            println!("directory: {dir}");
            println!(
                "entries:   {} (compiled modules and debug images)",
                info.entries
            );
            println!("size:      {}", mib(info.bytes));
            println!(
                "limit:     {} (least recently used entries go first; set WASMSCOPE_CACHE_MAX_MB)",
                mib(config.max_bytes)
            );
            println!("engine:    {}", wasmscope_engine::cache::ENGINE_BUILD);
        }
        Action::Clear => {
            let n = config
                .clear()
                .with_context(|| format!("cannot clear the cache directory {dir}"))?;
            println!(
                "removed {n} cache entr{} from {dir}",
                if n == 1 { "y" } else { "ies" }
            );
        }
    }
    Ok(())
}

fn mib(bytes: u64) -> String {
    format!("{:.1} MiB", bytes as f64 / (1u64 << 20) as f64)
}
