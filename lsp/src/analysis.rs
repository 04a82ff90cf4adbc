//! Diagnostics for WebAssembly sources: syntax errors at their exact span,
//! validation errors mapped from binary offsets back to the instruction's
//! text (through the DWARF line table the text encoder can emit), every
//! invalid function rather than only the first, and `.wast` assertions that
//! contradict the module they assert about.

use crate::facts;
use crate::index::{Index, Space};
use crate::syntax::Tree;
use std::ops::Range;
use std::path::Path;
use wasmscope_engine::wasmparser::{Parser, Payload, Validator};
use wast::parser::{self, ParseBuffer};
use wast::{QuoteWat, Wast, WastDirective, Wat};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Severity {
    Error,
    Warning,
}

/// One finding. `range` is a byte range of the input: of the text for
/// `.wat`/`.wast`, of the binary for `.wasm`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Diagnostic {
    pub severity: Severity,
    pub message: String,
    pub range: Range<usize>,
}

impl Diagnostic {
    fn error(message: impl Into<String>, range: Range<usize>) -> Self {
        Diagnostic {
            severity: Severity::Error,
            message: message.into(),
            range,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SourceKind {
    Wat,
    Wast,
    Wasm,
}

impl SourceKind {
    /// By content first (a binary module is a binary module), then by name.
    pub fn detect(path: &Path, bytes: &[u8]) -> SourceKind {
        if bytes.starts_with(b"\0asm") {
            return SourceKind::Wasm;
        }
        match path.extension().and_then(|e| e.to_str()) {
            Some("wast") => SourceKind::Wast,
            Some("wasm") => SourceKind::Wasm,
            _ => SourceKind::Wat,
        }
    }
}

/// All diagnostics of one input.
pub fn check(kind: SourceKind, bytes: &[u8]) -> Vec<Diagnostic> {
    if kind == SourceKind::Wasm {
        return validate(bytes)
            .into_iter()
            .map(|(offset, message)| Diagnostic::error(message, offset..offset + 1))
            .collect();
    }
    let text = match std::str::from_utf8(bytes) {
        Ok(t) => t,
        Err(e) => {
            let at = e.valid_up_to();
            return vec![Diagnostic::error(
                format!("not UTF-8 text: invalid byte {:#04x}", bytes[at]),
                at..at + 1,
            )];
        }
    };
    match kind {
        SourceKind::Wast => check_wast(text),
        _ => check_wat(text),
    }
}

/// The byte range of the token starting at `offset`.
fn token(text: &str, offset: usize) -> Range<usize> {
    let offset = offset.min(text.len());
    let rest = &text[offset..];
    let len = rest
        .char_indices()
        .find(|(i, c)| c.is_whitespace() || ((*c == '(' || *c == ')') && *i > 0))
        .map_or(rest.len(), |(i, _)| i)
        .max(rest.chars().next().map_or(0, char::len_utf8));
    offset..offset + len
}

/// The token an error is about. `wast` reports some errors at the token
/// after the culprit (an immediate's error at the closing paren) and
/// errors at the end of the text on nothing: both move back to the
/// previous token.
fn syntax(text: &str, e: &wast::Error) -> Diagnostic {
    let message = e.message();
    let at = e.span().offset().min(text.len());
    let here = token(text, at);
    let previous = || {
        let before = text[..at].trim_end();
        let start = before
            .char_indices()
            .rev()
            .find(|(_, c)| c.is_whitespace() || *c == '(')
            .map_or(0, |(i, c)| i + c.len_utf8());
        token(text, start)
    };
    let empty = here.is_empty() || text[here.clone()].trim().is_empty();
    let misplaced = text[here.clone()].starts_with(')') && !message.contains('`');
    let range = if (empty || misplaced) && !text[..at].trim().is_empty() {
        previous()
    } else {
        here
    };
    Diagnostic::error(message, range)
}

fn check_wat(text: &str) -> Vec<Diagnostic> {
    let mut buf = match ParseBuffer::new(text) {
        Ok(b) => b,
        Err(e) => return vec![syntax(text, &e)],
    };
    buf.track_instr_spans(true);
    let mut wat = match parser::parse::<Wat>(&buf) {
        Ok(w) => w,
        Err(e) => return vec![syntax(text, &e)],
    };
    if text.len() <= LINT_MAX_BYTES {
        // One validating pass that also collects the lints' facts; only an
        // invalid module pays for the second, error-collecting pass.
        let binary = match wat.encode() {
            Ok(b) => b,
            Err(e) => return vec![syntax(text, &e)],
        };
        if let Some(facts) = facts::module_facts(&binary, &instruction_spans(&wat)) {
            return lint(text, &facts, &Index::build(&Tree::parse(text)));
        }
    }
    check_module(text, &mut wat, 0..text.len()).0
}

/// Lints (warnings) stop above this size; errors are always reported.
pub const LINT_MAX_BYTES: usize = 8 << 20;

fn warning(message: impl Into<String>, range: Range<usize>) -> Diagnostic {
    Diagnostic {
        severity: Severity::Warning,
        message: message.into(),
        range,
    }
}

/// Warnings for a valid module: unreachable code, and functions, globals,
/// locals and types that nothing uses (exports and imports count as uses).
fn lint(text: &str, facts: &facts::ModuleFacts, index: &Index) -> Vec<Diagnostic> {
    let mut out = Vec::new();
    for run in facts::unreachable_runs(facts) {
        // To the end of the last instruction's line, without closing parens.
        let line_end = text[run.end..]
            .find('\n')
            .map_or(text.len(), |i| run.end + i);
        let end = run.end
            + text[run.end..line_end]
                .trim_end_matches([' ', '\t', '\r', ')'])
                .len();
        out.push(warning(
            "unreachable code",
            run.start..end.max(token(text, run.end).end),
        ));
    }
    let mut referenced = vec![false; index.defs.len()];
    for r in &index.refs {
        if let Some(d) = r.def {
            referenced[d] = true;
        }
    }
    for (i, d) in index.defs.iter().enumerate() {
        let used = referenced[i] || !d.exports.is_empty() || d.import.is_some();
        let what = match d.space {
            Space::Func => "function",
            Space::Global => "global",
            Space::Local if !d.is_param => "local",
            Space::Type => {
                let unused =
                    facts.used_types.get(d.index as usize) == Some(&false) && !referenced[i];
                if let (true, Some(name)) = (unused, &d.name) {
                    out.push(warning(
                        format!("type {name} is never used"),
                        d.name_range.clone(),
                    ));
                }
                continue;
            }
            _ => continue,
        };
        // Only named definitions: unnamed ones are mostly machine-written.
        if let (false, Some(name)) = (used, &d.name) {
            out.push(warning(
                format!("{what} {name} is never used"),
                d.name_range.clone(),
            ));
        }
    }
    out.sort_by_key(|d| d.range.start);
    out
}

/// The text spans of each defined function's instructions, in order.
pub(crate) fn instruction_spans(wat: &Wat) -> Vec<Vec<usize>> {
    let Wat::Module(m) = wat else {
        return Vec::new();
    };
    let wast::core::ModuleKind::Text(fields) = &m.kind else {
        return Vec::new();
    };
    fields
        .iter()
        .filter_map(|f| match f {
            wast::core::ModuleField::Func(func) => match &func.kind {
                wast::core::FuncKind::Inline { expression, .. } => Some(
                    expression
                        .instr_spans
                        .as_deref()
                        .unwrap_or(&[])
                        .iter()
                        .map(|s| s.offset())
                        .collect(),
                ),
                wast::core::FuncKind::Import(_) => None,
            },
            _ => None,
        })
        .collect()
}

/// The (function, operator) indices of the instruction at a binary offset.
fn operator_at(binary: &[u8], offset: usize) -> Option<(usize, usize)> {
    let mut func = 0;
    for payload in Parser::new(0).parse_all(binary) {
        if let Payload::CodeSectionEntry(body) = payload.ok()? {
            if body.range().contains(&offset) {
                let mut ops = body.get_operators_reader().ok()?;
                let mut index = None;
                let mut k = 0;
                while !ops.eof() {
                    let (_, at) = ops.read_with_offset().ok()?;
                    if at > offset {
                        break;
                    }
                    index = Some(k);
                    k += 1;
                }
                return Some((func, index.unwrap_or(0)));
            }
            func += 1;
        }
    }
    None
}

/// Encodes and validates one module of `text`; validation errors land on
/// the instruction (or, outside code, on `fallback`).
fn check_module(
    text: &str,
    wat: &mut Wat,
    fallback: Range<usize>,
) -> (Vec<Diagnostic>, Option<Vec<u8>>) {
    let binary = match wat.encode() {
        Ok(b) => b,
        Err(e) => return (vec![syntax(text, &e)], None),
    };
    let errors = validate(&binary);
    if errors.is_empty() {
        return (Vec::new(), Some(binary));
    }
    let spans = instruction_spans(wat);
    let diagnostics = errors
        .into_iter()
        .map(|(offset, message)| {
            let at = operator_at(&binary, offset).and_then(|(f, k)| {
                let s = spans.get(f)?;
                s.get(k).or(s.last()).copied()
            });
            let range = at.map_or(fallback.clone(), |a| token(text, a));
            Diagnostic::error(message, range)
        })
        .collect();
    (diagnostics, Some(binary))
}

fn check_wast(text: &str) -> Vec<Diagnostic> {
    let mut buf = match ParseBuffer::new(text) {
        Ok(b) => b,
        Err(e) => return vec![syntax(text, &e)],
    };
    buf.track_instr_spans(true);
    let wast = match parser::parse::<Wast>(&buf) {
        Ok(w) => w,
        Err(e) => return vec![syntax(text, &e)],
    };
    let mut out = Vec::new();
    for directive in wast.directives {
        let span = directive.span().offset();
        match directive {
            WastDirective::Module(QuoteWat::Wat(mut wat))
            | WastDirective::ModuleDefinition(QuoteWat::Wat(mut wat)) => {
                out.extend(check_module(text, &mut wat, token(text, span)).0);
            }
            WastDirective::AssertInvalid {
                mut module,
                message,
                ..
            }
            | WastDirective::AssertMalformed {
                mut module,
                message,
                ..
            } => {
                let valid = module.encode().is_ok_and(|b| validate(&b).is_empty());
                if valid {
                    out.push(Diagnostic {
                        severity: Severity::Warning,
                        message: format!("this module is valid, but the assertion expects it to fail with \"{message}\""),
                        range: token(text, span),
                    });
                }
            }
            _ => {}
        }
    }
    out
}

/// Validates with the engine's feature set; returns (binary offset,
/// message) for the first module-level error and for every invalid function.
pub fn validate(bytes: &[u8]) -> Vec<(usize, String)> {
    let mut validator = Validator::new_with_features(wasmscope_engine::supported_features());
    let mut errors = Vec::new();
    for payload in Parser::new(0).parse_all(bytes) {
        let payload = match payload {
            Ok(p) => p,
            Err(e) => {
                errors.push((e.offset(), e.message().to_string()));
                break;
            }
        };
        if let Payload::CodeSectionEntry(body) = &payload {
            match validator.code_section_entry(body) {
                Ok(func) => {
                    let mut func = func.into_validator(Default::default());
                    if let Err(e) = func.validate(body) {
                        errors.push((e.offset(), e.message().to_string()));
                    }
                }
                Err(e) => {
                    errors.push((e.offset(), e.message().to_string()));
                    break;
                }
            }
            continue;
        }
        if let Err(e) = validator.payload(&payload) {
            errors.push((e.offset(), e.message().to_string()));
            break;
        }
    }
    errors
}

#[cfg(test)]
mod tests {
    use super::*;
    use expect_test::{expect, Expect};

    /// Renders diagnostics as `severity line:col-line:col "token": message`.
    fn check_text(kind: SourceKind, text: &str, expect: Expect) {
        let lines: Vec<usize> = std::iter::once(0)
            .chain(text.match_indices('\n').map(|(i, _)| i + 1))
            .collect();
        let pos = |o: usize| {
            let l = lines.partition_point(|s| *s <= o) - 1;
            format!("{}:{}", l + 1, o - lines[l] + 1)
        };
        let rendered: Vec<String> = check(kind, text.as_bytes())
            .into_iter()
            .map(|d| {
                format!(
                    "{:?} {}-{} {:?}: {}",
                    d.severity,
                    pos(d.range.start),
                    pos(d.range.end),
                    &text[d.range.clone()],
                    d.message
                )
            })
            .collect();
        expect.assert_eq(&rendered.join("\n"));
    }

    /// Renders diagnostics of `bytes` (text positions for text, byte
    /// offsets for binaries).
    fn render(kind: SourceKind, bytes: &[u8]) -> String {
        let text = String::from_utf8_lossy(bytes);
        let lines: Vec<usize> = std::iter::once(0)
            .chain(text.match_indices('\n').map(|(i, _)| i + 1))
            .collect();
        let pos = |o: usize| {
            let l = lines.partition_point(|s| *s <= o) - 1;
            format!("{}:{}", l + 1, o - lines[l] + 1)
        };
        check(kind, bytes)
            .into_iter()
            .map(|d| match kind {
                SourceKind::Wasm => {
                    format!("{:?} @{:#x}: {}", d.severity, d.range.start, d.message)
                }
                _ => format!(
                    "{:?} {}-{} {:?}: {}",
                    d.severity,
                    pos(d.range.start),
                    pos(d.range.end),
                    &text[d.range.clone()],
                    d.message
                ),
            })
            .collect::<Vec<_>>()
            .join("\n")
    }

    #[test]
    fn fixtures() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data");
        let mut seen = 0;
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            let ext = path.extension().and_then(|e| e.to_str()).unwrap_or("");
            if !matches!(ext, "wat" | "wast" | "wasm") {
                continue;
            }
            let bytes = std::fs::read(&path).unwrap();
            let kind = SourceKind::detect(&path, &bytes);
            let expected = path.with_extension(format!("{ext}.expected"));
            expect_test::expect_file![expected].assert_eq(&(render(kind, &bytes) + "\n"));
            seen += 1;
        }
        assert!(seen >= 7);
    }

    #[test]
    fn syntax_errors_point_at_the_token() {
        check_text(
            SourceKind::Wat,
            "(module\n  (func (result i32)\n    i32.bogus 1))",
            expect![[r#"Error 3:5-3:14 "i32.bogus": unknown operator or unexpected token"#]],
        );
        check_text(
            SourceKind::Wat,
            "(module (func call $nowhere))",
            expect![[
                r#"Error 1:20-1:28 "$nowhere": unknown func: failed to find name `$nowhere`"#
            ]],
        );
    }

    #[test]
    fn validation_errors_point_at_the_instruction_in_every_function() {
        check_text(
            SourceKind::Wat,
            "(module\n  (func (result i32)\n    i64.const 1)\n  (func\n    i32.const 1\n    i32.add\n    drop))",
            expect![[r#"
                Error 3:5-3:14 "i64.const": type mismatch: expected i32, found i64
                Error 6:5-6:12 "i32.add": type mismatch: expected i32 but nothing on stack"#]],
        );
    }

    #[test]
    fn valid_modules_get_lint_warnings() {
        check_text(
            SourceKind::Wat,
            r#"(module
  (type $unused (func (param f64)))
  (type $used (func (param i32)))
  (global $g i32 (i32.const 1))
  (global $dead i32 (i32.const 2))
  (func $helper (type $used) (local $x i32) (local $never i64)
    local.get 0
    local.set $x)
  (func $orphan)
  (func (export "main") (result i32)
    global.get $g
    call $helper
    i32.const 0
    return
    i32.const 7
    drop
    i32.const 1))"#,
            expect![[r#"
                Warning 2:9-2:16 "$unused": type $unused is never used
                Warning 5:11-5:16 "$dead": global $dead is never used
                Warning 6:52-6:58 "$never": local $never is never used
                Warning 9:9-9:16 "$orphan": function $orphan is never used
                Warning 15:5-17:16 "i32.const 7\n    drop\n    i32.const 1": unreachable code"#]],
        );
    }

    #[test]
    fn wast_flags_assertions_about_valid_modules() {
        check_text(
            SourceKind::Wast,
            "(assert_invalid (module (func)) \"type mismatch\")\n(module (func (result i32) i64.const 0))",
            expect![[r#"
                Warning 1:2-1:16 "assert_invalid": this module is valid, but the assertion expects it to fail with "type mismatch"
                Error 2:28-2:37 "i64.const": type mismatch: expected i32, found i64"#]],
        );
    }

    #[test]
    fn binary_modules_report_byte_offsets() {
        let errors = check(SourceKind::Wasm, b"\0asm\x01\0\0\0\x01\x05");
        assert_eq!(errors.len(), 1);
        assert!(errors[0].message.contains("unexpected end"), "{errors:?}");
        assert_eq!(errors[0].range.start, 10);
    }

    #[test]
    fn garbage_never_panics() {
        let mut x: u32 = 1;
        for len in 0..300 {
            let bytes: Vec<u8> = (0..len)
                .map(|_| {
                    x = x.wrapping_mul(1_103_515_245).wrapping_add(12345);
                    (x >> 16) as u8
                })
                .collect();
            for kind in [SourceKind::Wat, SourceKind::Wast, SourceKind::Wasm] {
                let _ = check(kind, &bytes);
            }
        }
        let _ = check(SourceKind::Wat, "(module (func".as_bytes());
        let _ = check(SourceKind::Wat, "\u{feff}(module)".as_bytes());
    }
}
