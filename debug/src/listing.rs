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
        let mut out = Recorder::default();
        wasmprinter::Config::new().print(binary, &mut out).ok()?;
        let Recorder {
            mut text,
            mut lines,
            mut line_starts,
        } = out;
        if !text.ends_with('\n') {
            text.push('\n');
        }
        lines.sort_by_key(|l| l.0);
        lines.dedup_by_key(|l| l.0);
        // Kept for the whole session: no room left from doubling.
        text.shrink_to_fit();
        lines.shrink_to_fit();
        line_starts.shrink_to_fit();
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

/// What the printer writes: the text, where each line starts and the
/// module offset of the lines that have one. DWARF sections (`.debug_*`)
/// are one comment line each, not their escaped bytes (which were most of
/// a small `-g` module's text).
#[derive(Default)]
struct Recorder {
    text: String,
    /// (module offset, 1-based line).
    lines: Vec<(u32, u32)>,
    line_starts: Vec<usize>,
}

impl wasmprinter::Print for Recorder {
    fn write_str(&mut self, s: &str) -> std::io::Result<()> {
        self.text.push_str(s);
        Ok(())
    }

    fn start_line(&mut self, offset: Option<usize>) {
        self.line_starts.push(self.text.len());
        if let Some(o) = offset {
            self.lines.push((o as u32, self.line_starts.len() as u32));
        }
    }

    fn print_custom_section(
        &mut self,
        name: &str,
        offset: usize,
        data: &[u8],
    ) -> std::io::Result<bool> {
        if !name.starts_with(".debug_") {
            return Ok(false);
        }
        self.newline()?;
        self.start_line(Some(offset));
        let size = data.len();
        write!(
            self,
            "  ;; custom section {name:?}: {size} bytes of DWARF, not shown"
        )?;
        Ok(true)
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
    /// May send control elsewhere: a branch, call, return, `if`/`else`,
    /// `unreachable`, or the function's final `end` (where a debugger that
    /// steps by instructions puts its "run to the next branch" breakpoint).
    pub control: bool,
    /// What it changes that a debugger shows, besides the operand stack.
    pub effect: Effect,
}

/// What an instruction changes besides the operand stack.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Effect {
    /// Nothing (it may trap): code up to the next hook site made of such
    /// instructions looks, to a debugger, the same as that site
    /// (`gdbstub`'s stand-in stops).
    None,
    /// This local (`local.set`, `local.tee`).
    Local(u32),
    /// Memory, a global, a table, or where control goes.
    Other,
}

/// Whether the instruction starting with `opcode` changes nothing but the
/// operand stack (`Effect::None`).
fn is_pure(opcode: u8) -> bool {
    matches!(
        opcode,
        0x01 | 0x02 | 0x0b // nop, block, end (of a block)
            | 0x1a..=0x1c // drop, select
            | 0x20 | 0x23 | 0x25 // local.get, global.get, table.get
            | 0x28..=0x35 // loads
            | 0x3f // memory.size
            | 0x41..=0xc4 // constants, comparisons, arithmetic, conversions
            | 0xd0..=0xd2 // ref.null, ref.is_null, ref.func
    )
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
                                let control = matches!(
                                    op,
                                    O::Br { .. }
                                        | O::BrIf { .. }
                                        | O::BrTable { .. }
                                        | O::BrOnNull { .. }
                                        | O::BrOnNonNull { .. }
                                        | O::If { .. }
                                        | O::Else
                                        | O::Return
                                        | O::Unreachable
                                        | O::Call { .. }
                                        | O::CallIndirect { .. }
                                        | O::CallRef { .. }
                                        | O::ReturnCall { .. }
                                        | O::ReturnCallIndirect { .. }
                                        | O::ReturnCallRef { .. }
                                ) || (matches!(op, O::End) && ops.eof());
                                let effect = match op {
                                    O::LocalSet { local_index } | O::LocalTee { local_index } => {
                                        Effect::Local(local_index)
                                    }
                                    _ if binary.get(at).copied().is_some_and(is_pure) => {
                                        Effect::None
                                    }
                                    _ => Effect::Other,
                                };
                                out.push(Instruction {
                                    offset: at as u32,
                                    func,
                                    always_hooked: forced,
                                    control,
                                    effect,
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

    /// Appends a custom section to a module.
    fn custom(binary: &mut Vec<u8>, name: &str, data: &[u8]) {
        let size = 1 + name.len() + data.len();
        assert!(size < 128, "one-byte sizes");
        binary.extend([0, size as u8, name.len() as u8]);
        binary.extend(name.as_bytes());
        binary.extend(data);
    }

    #[test]
    fn dwarf_is_one_comment_line_and_offsets_stay() {
        let mut binary = wat::parse_str(
            r#"(module (func $add_two (result i32) i32.const 1 i32.const 2 i32.add))"#,
        )
        .unwrap();
        custom(&mut binary, ".debug_info", b"\x01\x02DWARF-BYTES");
        custom(&mut binary, "kept", b"KEPT-BYTES");
        let listing = Listing::generate(&binary).unwrap();
        assert!(!listing.text.contains("DWARF-BYTES"), "{}", listing.text);
        assert!(
            listing
                .text
                .contains("\n  ;; custom section \".debug_info\": 13 bytes of DWARF, not shown\n"),
            "{}",
            listing.text
        );
        assert!(listing.text.contains("KEPT-BYTES"), "{}", listing.text);
        assert!(listing.text.contains("$add_two"), "{}", listing.text);
        let add = instructions(&binary)[2].offset;
        let line = listing.line_of(add).unwrap();
        assert_eq!(listing.line_text(line), Some("i32.add"));
        // The written text has the same line numbers (debuggers show it).
        let nth = listing.text.lines().nth(line as usize - 1);
        assert_eq!(nth.map(str::trim), Some("i32.add"));
        assert!(
            wat::parse_str(&listing.text).is_ok(),
            "the listing stays valid text:\n{}",
            listing.text
        );
    }
}
