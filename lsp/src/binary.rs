//! Binary modules as text: a `.wasm` rendered as `.wat` (one instruction a
//! line), its validation errors moved from byte offsets onto the lines that
//! print those bytes, and the DWARF source position of each function.

use crate::analysis::{validate, Diagnostic, Severity};
use wasmscope_debug::dwarf::read::ModuleDwarf;
use wasmscope_debug::listing::Listing;
use wasmscope_engine::wasmparser::{Parser, Payload};

/// Where a function of the listing came from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FunctionSource {
    /// 0-based line of the listing where the function's code starts.
    pub line: u32,
    pub name: Option<String>,
    pub file: String,
    /// 1-based source line.
    pub source_line: u32,
}

pub struct Disassembly {
    pub text: String,
    /// Byte ranges of `text`.
    pub diagnostics: Vec<Diagnostic>,
    pub functions: Vec<FunctionSource>,
}

/// Byte range of the trimmed content of 1-based `line`.
fn line_range(text: &str, line: u32) -> std::ops::Range<usize> {
    let start = text
        .match_indices('\n')
        .nth((line as usize).wrapping_sub(2))
        .map_or(0, |(i, _)| i + 1);
    let start = if line <= 1 { 0 } else { start };
    let end = text[start..].find('\n').map_or(text.len(), |i| start + i);
    let indent = text[start..end].len() - text[start..end].trim_start().len();
    (start + indent)..end.max(start + indent)
}

pub fn disassemble(bytes: &[u8]) -> Disassembly {
    let errors = validate(bytes);
    let Some(listing) = Listing::generate(bytes) else {
        // Not printable: say why in the text itself, errors on line 1.
        let mut text = String::from(";; wasmscope cannot print this module as text:\n");
        for (offset, message) in &errors {
            text.push_str(&format!(";;   at byte {offset:#x}: {message}\n"));
        }
        let diagnostics = errors
            .into_iter()
            .map(|(offset, message)| Diagnostic {
                severity: Severity::Error,
                message: format!("{message} (at byte {offset:#x})"),
                range: line_range(&text, 1),
            })
            .collect();
        return Disassembly {
            text,
            diagnostics,
            functions: Vec::new(),
        };
    };
    let diagnostics = errors
        .into_iter()
        .map(|(offset, message)| Diagnostic {
            severity: Severity::Error,
            message: format!("{message} (at byte {offset:#x})"),
            range: line_range(&listing.text, listing.line_of(offset as u32).unwrap_or(1)),
        })
        .collect();
    let mut functions = Vec::new();
    if let Some(dwarf) = ModuleDwarf::from_binary(bytes) {
        for payload in Parser::new(0).parse_all(bytes) {
            let Ok(payload) = payload else { break };
            if let Payload::CodeSectionEntry(body) = payload {
                // The first instruction, after the locals.
                let Some(first) = body
                    .get_operators_reader()
                    .ok()
                    .and_then(|mut r| r.read_with_offset().ok())
                    .map(|(_, at)| at as u32)
                else {
                    continue;
                };
                let frame = dwarf.frames(first).into_iter().last();
                let location = dwarf.location(first);
                if let (Some(loc), Some(line)) = (location, listing.line_of(first)) {
                    functions.push(FunctionSource {
                        line: line.saturating_sub(1),
                        name: frame.and_then(|f| f.function),
                        file: loc.file,
                        source_line: loc.line,
                    });
                }
            }
        }
    }
    Disassembly {
        text: listing.text,
        diagnostics,
        functions,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture(name: &str) -> Vec<u8> {
        let p = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../tests/fixtures")
            .join(name);
        std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
    }

    #[test]
    fn functions_know_their_source_line() {
        let d = disassemble(&fixture("dbg/app-O0.wasm"));
        assert!(d.diagnostics.is_empty());
        let main = d
            .functions
            .iter()
            .find(|f| f.name.as_deref() == Some("parse_header"))
            .expect("parse_header has DWARF");
        assert!(main.file.ends_with("app.c"), "{main:?}");
        let line = d.text.lines().nth(main.line as usize).unwrap();
        assert!(!line.trim().is_empty());
    }

    #[test]
    fn errors_land_on_the_printed_line() {
        // A function whose body pops from an empty stack.
        let wasm = wat::parse_str("(module (func (result i32) i32.const 1 i32.add))").unwrap();
        let d = disassemble(&wasm);
        assert_eq!(d.diagnostics.len(), 1);
        let at = &d.text[d.diagnostics[0].range.clone()];
        assert_eq!(at, "i32.add", "{}", d.text);
        let broken = disassemble(b"\0asm\x01\0\0\0\x01\x05");
        assert!(broken.text.contains("cannot print"));
        assert_eq!(broken.diagnostics.len(), 1);
    }
}
