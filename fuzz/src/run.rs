//! The loop every target shares: seeds in order, a time or case budget,
//! findings saved with what reproduces them, one summary line at the end.

use std::path::PathBuf;
use std::time::{Duration, Instant};

/// What one case concluded.
pub enum Verdict {
    /// Both sides agreed (or the target's checks held).
    Pass,
    /// The case proved nothing (the reference cannot run it, say): counted,
    /// not a finding.
    Skip,
    Finding(Finding),
    /// A disagreement of a kind already known and documented as open
    /// (`fuzz/README.md`): saved as `TARGET-known-SEED`, counted, and
    /// neither a failure nor a reason to stop.
    Known(Finding),
}

pub struct Finding {
    /// One line: what differed.
    pub summary: String,
    /// Details, written to `finding.txt` after the summary.
    pub details: String,
    /// Files that reproduce the case (name, contents).
    pub files: Vec<(String, Vec<u8>)>,
}

impl Finding {
    pub fn new(summary: impl Into<String>) -> Finding {
        Finding {
            summary: summary.into(),
            details: String::new(),
            files: Vec::new(),
        }
    }

    pub fn details(mut self, details: impl Into<String>) -> Finding {
        self.details = details.into();
        self
    }

    pub fn file(mut self, name: &str, contents: impl Into<Vec<u8>>) -> Finding {
        self.files.push((name.to_string(), contents.into()));
        self
    }
}

/// The verdict on a conversation with a wasmscope server: its `result`,
/// failed too by a panic in the server's stderr (at `stderr`). A finding
/// is named `what: ...` and carries the stderr and the messages sent
/// (`transcript`, saved as `file`).
pub fn server_verdict(
    what: &str,
    result: Result<(), String>,
    stderr: &std::path::Path,
    file: &str,
    transcript: &[String],
) -> Verdict {
    let stderr = std::fs::read_to_string(stderr).unwrap_or_default();
    let result = result.and_then(|()| match stderr.find("panicked") {
        Some(at) => Err(format!(
            "a panic: {}",
            stderr[at..].lines().next().unwrap_or("")
        )),
        None => Ok(()),
    });
    match result {
        Ok(()) => Verdict::Pass,
        Err(e) => Verdict::Finding(
            Finding::new(format!("{what}: {e}"))
                .details(format!("server stderr:\n{stderr}"))
                .file(file, transcript.join("\n")),
        ),
    }
}

pub struct Budget {
    pub seed: u64,
    pub cases: Option<u64>,
    pub seconds: Option<f64>,
    pub out: PathBuf,
    /// Stop at the first finding (what CI wants: the reproducer, fast).
    pub stop_on_finding: bool,
    /// A case running longer than this is a hang: it is saved as a
    /// finding and the process exits with status 3 (a hung thread cannot
    /// be stopped); the campaign script goes on from the next seed.
    pub case_timeout: Duration,
}

pub struct Summary {
    pub cases: u64,
    pub skipped: u64,
    pub known: u64,
    pub findings: Vec<(u64, String)>,
    pub elapsed: Duration,
}

/// Runs `case(seed)` for `budget.seed`, `budget.seed + 1`, ... until the
/// budget is spent. Before each case the seed is written to
/// `OUT/TARGET.current`, so a case that kills the whole process (which is a
/// finding too) is still named by the campaign script.
pub fn campaign(target: &str, budget: &Budget, mut case: impl FnMut(u64) -> Verdict) -> Summary {
    std::fs::create_dir_all(&budget.out).ok();
    let current = budget.out.join(format!("{target}.current"));
    let start = Instant::now();
    let running = watchdog(target, budget);
    let mut summary = Summary {
        cases: 0,
        skipped: 0,
        known: 0,
        findings: Vec::new(),
        elapsed: Duration::ZERO,
    };
    let mut seed = budget.seed;
    loop {
        if budget.cases.is_some_and(|n| summary.cases >= n)
            || budget
                .seconds
                .is_some_and(|s| start.elapsed().as_secs_f64() >= s)
        {
            break;
        }
        std::fs::write(&current, seed.to_string()).ok();
        *running.lock().unwrap_or_else(|e| e.into_inner()) = Some((seed, Instant::now()));
        let verdict = case(seed);
        *running.lock().unwrap_or_else(|e| e.into_inner()) = None;
        match verdict {
            Verdict::Pass => {}
            Verdict::Skip => summary.skipped += 1,
            Verdict::Known(finding) => {
                summary.known += 1;
                save(&format!("{target}-known"), seed, &finding, &budget.out);
            }
            Verdict::Finding(finding) => {
                let dir = save(target, seed, &finding, &budget.out);
                eprintln!(
                    "{target}: FINDING at seed {seed}: {}\n  saved in {}\n  reproduce: wasmscope-fuzz {target} --seed {seed} --cases 1",
                    finding.summary,
                    dir.display()
                );
                summary.findings.push((seed, finding.summary));
                if budget.stop_on_finding {
                    summary.cases += 1;
                    break;
                }
            }
        }
        summary.cases += 1;
        seed += 1;
    }
    std::fs::remove_file(&current).ok();
    summary.elapsed = start.elapsed();
    let secs = summary.elapsed.as_secs_f64();
    let line = format!(
        "{target}: {} cases from seed {} in {:.1} s ({:.1}/s), {} skipped, {} known, {} findings",
        summary.cases,
        budget.seed,
        secs,
        summary.cases as f64 / secs.max(1e-9),
        summary.skipped,
        summary.known,
        summary.findings.len()
    );
    println!("{line}");
    let json = format!(
        "{{\"target\":\"{target}\",\"seed\":{},\"cases\":{},\"seconds\":{:.1},\"skipped\":{},\"known\":{},\"findings\":[{}]}}\n",
        budget.seed,
        summary.cases,
        secs,
        summary.skipped,
        summary.known,
        summary
            .findings
            .iter()
            .map(|(s, _)| s.to_string())
            .collect::<Vec<_>>()
            .join(",")
    );
    use std::io::Write;
    if let Ok(mut f) = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(budget.out.join("summary.jsonl"))
    {
        f.write_all(json.as_bytes()).ok();
    }
    summary
}

type Running = std::sync::Arc<std::sync::Mutex<Option<(u64, Instant)>>>;

/// Watches the case in progress; past the budget's case timeout it saves
/// the case as a hang and ends the process.
fn watchdog(target: &str, budget: &Budget) -> Running {
    let running: Running = Default::default();
    let watched = running.clone();
    let (target, out, limit) = (target.to_string(), budget.out.clone(), budget.case_timeout);
    std::thread::spawn(move || loop {
        std::thread::sleep(Duration::from_millis(500));
        let now = *watched.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((seed, since)) = now {
            if since.elapsed() > limit {
                let finding = Finding::new(format!("case hangs (over {} s)", limit.as_secs()));
                let dir = save(&target, seed, &finding, &out);
                eprintln!(
                    "{target}: FINDING at seed {seed}: {}\n  saved in {}",
                    finding.summary,
                    dir.display()
                );
                std::process::exit(3);
            }
        }
    });
    running
}

fn save(target: &str, seed: u64, finding: &Finding, out: &std::path::Path) -> PathBuf {
    let dir = out.join(format!("{target}-{seed}"));
    std::fs::create_dir_all(&dir).ok();
    for (name, contents) in &finding.files {
        let path = dir.join(name);
        std::fs::write(&path, contents).ok();
        if name.ends_with(".sh") {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).ok();
        }
    }
    let text = format!(
        "{}\n\nreproduce: wasmscope-fuzz {} --seed {seed} --cases 1\n\n{}\n",
        finding.summary,
        target.trim_end_matches("-known"),
        finding.details
    );
    std::fs::write(dir.join("finding.txt"), text).ok();
    dir
}
