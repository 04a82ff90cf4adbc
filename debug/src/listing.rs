//! A generated `.wat` listing of a module, one instruction a line, with the
//! module offset of each line: the source that native debuggers step
//! through when a function has no DWARF, and that the DAP server shows for
//! such frames (`source`), disassembles (`disassemble`) and places
//! breakpoints in.

/// The listing and its line table.
pub struct Listing {
    pub text: String,
    /// (module offset, 1-based line), sorted by offset.
    lines: Vec<(u32, u32)>,
    /// Offsets of the lines' starts in `text`, by line - 1.
    line_starts: Vec<usize>,
}

impl Listing {
    pub fn generate(binary: &[u8]) -> Option<Listing> {
        let mut storage = String::new();
        let config = wasmprinter::Config::new();
        let mut lines = Vec::new();
        let mut text = String::new();
        let mut line_starts = Vec::new();
        let iter = config.offsets_and_lines(binary, &mut storage).ok()?;
        for (i, (offset, line)) in iter.enumerate() {
            if let Some(o) = offset {
                lines.push((o as u32, i as u32 + 1));
            }
            line_starts.push(text.len());
            text.push_str(line.trim_end_matches('\n'));
            text.push('\n');
        }
        lines.sort_by_key(|l| l.0);
        lines.dedup_by_key(|l| l.0);
        Some(Listing {
            text,
            lines,
            line_starts,
        })
    }

    /// The listing line of the instruction at a module offset (the last line
    /// starting at or before it).
    pub fn line_of(&self, module_offset: u32) -> Option<u32> {
        let i = self.lines.partition_point(|l| l.0 <= module_offset);
        i.checked_sub(1).map(|i| self.lines[i].1)
    }

    /// The module offset of the first line at or after `line` that has one
    /// among `candidates` (sorted offsets, e.g. instruction starts), and
    /// that line.
    pub fn offset_at_or_after(&self, line: u32, candidates: &[u32]) -> Option<(u32, u32)> {
        self.lines
            .iter()
            .filter(|(o, l)| *l >= line && candidates.binary_search(o).is_ok())
            .min_by_key(|(_, l)| *l)
            .copied()
    }

    /// The text of a 1-based line, without indentation.
    pub fn line_text(&self, line: u32) -> Option<&str> {
        let i = (line as usize).checked_sub(1)?;
        let start = *self.line_starts.get(i)?;
        let end = self
            .line_starts
            .get(i + 1)
            .copied()
            .unwrap_or(self.text.len());
        Some(self.text[start..end].trim())
    }
}

/// One instruction of a module's code.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Instruction {
    pub offset: u32,
    pub func: u32,
    /// Always a debug-hook site: a function's first instruction, a loop's
    /// first, or the one after a call (see `CompileOptions::debug_hook_sites`).
    pub always_hooked: bool,
}

/// Every instruction of a module's code, sorted by offset.
pub fn instructions(binary: &[u8]) -> Vec<Instruction> {
    use wasmscope_engine::wasmparser::{Parser, Payload};
    let mut out = Vec::new();
    let mut func = 0;
    for payload in Parser::new(0).parse_all(binary) {
        match payload {
            Ok(Payload::ImportSection(imports)) => {
                func += imports
                    .into_iter()
                    .flatten()
                    .filter(|i| matches!(i.ty, wasmscope_engine::wasmparser::TypeRef::Func(_)))
                    .count() as u32;
            }
            Ok(Payload::CodeSectionEntry(body)) => {
                if let Ok(mut ops) = body.get_operators_reader() {
                    let mut forced = true;
                    while !ops.eof() {
                        use wasmscope_engine::wasmparser::Operator as O;
                        match ops.read_with_offset() {
                            Ok((op, at)) => {
                                out.push(Instruction {
                                    offset: at as u32,
                                    func,
                                    always_hooked: forced,
                                });
                                forced = matches!(
                                    op,
                                    O::Loop { .. }
                                        | O::Call { .. }
                                        | O::CallIndirect { .. }
                                        | O::CallRef { .. }
                                );
                            }
                            Err(_) => break,
                        }
                    }
                }
                func += 1;
            }
            Err(_) => break,
            _ => {}
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_and_instructions_agree() {
        let binary = wat::parse_str(
            r#"(module (import "m" "f" (func)) (func $a (result i32) i32.const 1 i32.const 2 i32.add))"#,
        )
        .unwrap();
        let listing = Listing::generate(&binary).unwrap();
        let code = instructions(&binary);
        // Three operators and the `end`, all in function 1.
        assert_eq!(code.len(), 4);
        assert!(code.iter().all(|i| i.func == 1));
        assert_eq!(
            code.iter().map(|i| i.always_hooked).collect::<Vec<_>>(),
            [true, false, false, false]
        );
        let offsets: Vec<u32> = code.iter().map(|c| c.offset).collect();
        let add_line = listing.line_of(offsets[2]).unwrap();
        assert_eq!(listing.line_text(add_line), Some("i32.add"));
        assert_eq!(
            listing.offset_at_or_after(add_line, &offsets),
            Some((offsets[2], add_line))
        );
        // A line above the code moves to the first instruction.
        let first = listing.offset_at_or_after(1, &offsets).unwrap();
        assert_eq!(first.0, offsets[0]);
    }
}
