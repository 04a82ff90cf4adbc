//! `wasmscope check FILE...`: the language server's diagnostics on the
//! command line, rendered like rustc's (or as JSON for scripts).

use anyhow::Result;
use clap::{Args, ValueEnum};
use codespan_reporting::diagnostic::{Diagnostic as Report, Label};
use codespan_reporting::files::SimpleFiles;
use codespan_reporting::term::{self, termcolor};
use std::path::PathBuf;
use std::process::ExitCode;
use wasmscope_lsp::analysis::{self, Severity, SourceKind};

#[derive(Clone, Copy, ValueEnum)]
pub enum Format {
    Human,
    Json,
}

#[derive(Args)]
pub struct CheckArgs {
    /// `.wat`, `.wast` or `.wasm` files to check.
    #[arg(required = true)]
    files: Vec<PathBuf>,
    /// Output format.
    #[arg(long, value_enum, default_value = "human")]
    format: Format,
}

fn json_string(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

pub fn check(args: CheckArgs) -> ExitCode {
    match run(args) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(1)
        }
    }
}

fn run(args: CheckArgs) -> Result<ExitCode> {
    let mut files = SimpleFiles::new();
    let mut any_error = false;
    let mut json = Vec::new();
    use std::io::IsTerminal;
    let color = if std::io::stderr().is_terminal() {
        termcolor::ColorChoice::Auto
    } else {
        termcolor::ColorChoice::Never
    };
    let writer = termcolor::StandardStream::stderr(color);
    let config = term::Config::default();
    for path in &args.files {
        let bytes = match std::fs::read(path) {
            Ok(b) => b,
            Err(e) => {
                eprintln!("error: cannot read {}: {e}", path.display());
                any_error = true;
                continue;
            }
        };
        let kind = SourceKind::detect(path, &bytes);
        let diagnostics = analysis::check(kind, &bytes);
        any_error |= diagnostics.iter().any(|d| d.severity == Severity::Error);
        let name = path.display().to_string();
        // Binary modules have no text to underline: show the byte offset.
        let source = match kind {
            SourceKind::Wasm => None,
            _ => Some(files.add(name.clone(), String::from_utf8_lossy(&bytes).into_owned())),
        };
        for d in diagnostics {
            if let Format::Json = args.format {
                let (line, col) = match source {
                    Some(id) => {
                        let text = files.get(id).map(|f| f.source().as_str()).unwrap_or("");
                        let before = &text[..d.range.start.min(text.len())];
                        let line = before.matches('\n').count() + 1;
                        let col = before.len() - before.rfind('\n').map_or(0, |i| i + 1) + 1;
                        (line, col)
                    }
                    None => (0, 0),
                };
                json.push(format!(
                    "{{\"file\":{},\"severity\":\"{}\",\"message\":{},\"start\":{},\"end\":{},\"line\":{line},\"column\":{col}}}",
                    json_string(&name),
                    if d.severity == Severity::Error { "error" } else { "warning" },
                    json_string(&d.message),
                    d.range.start,
                    d.range.end
                ));
                continue;
            }
            match source {
                Some(id) => {
                    let report = match d.severity {
                        Severity::Error => Report::error(),
                        Severity::Warning => Report::warning(),
                    }
                    .with_message(&d.message)
                    .with_labels(vec![Label::primary(id, d.range.clone())]);
                    term::emit(&mut writer.lock(), &config, &files, &report)?;
                }
                None => eprintln!(
                    "{name}: error at byte offset {:#x}: {}",
                    d.range.start, d.message
                ),
            }
        }
    }
    if let Format::Json = args.format {
        println!("[{}]", json.join(","));
    }
    Ok(if any_error {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}
