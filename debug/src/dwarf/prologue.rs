//! Where a function's body starts: its line table's `prologue_end` row,
//! moved past parameter stores the compiler placed after it.
//!
//! A debugger stops at `prologue_end` for a breakpoint on a function's
//! name and for a step into a call, and there the DWARF must already
//! describe the parameters. Zig's own wasm backend (its Debug builds)
//! marks `prologue_end` *before* the code that stores each parameter into
//! the frame slot its `DW_OP_fbreg` location names, so at that row every
//! parameter reads as whatever the slot held before: `b factorial` showed
//! `n = 4615626668101337088`. Clang and rustc place the row after those
//! stores, so nothing moves for them.
//!
//! The fix-up is narrow on purpose: it moves a row only past instructions
//! of the form `local.get FB; local.get X; STORE offset=K`, where `FB` is
//! the subprogram's frame-base local (`DW_AT_frame_base` is
//! `DW_OP_WASM_location 0x0 FB`) and `K` is the `DW_OP_fbreg` offset of
//! one of its formal parameters, each parameter once. The new body start
//! is the first line-table row at or after those stores, so a debugger
//! that reads the rows finds it. Every reader of `prologue_end` in
//! wasmscope (the DAP, the JIT's transformed line table, the gdbstub) uses
//! these moved rows; the gdbstub also serves lldb a module whose line
//! program carries the flag on the moved row (`with_moved_prologue_ends`).

use crate::dwarf::read::{ModuleDwarf, Reader};
use gimli::{AttributeValue, Operation};
use wasmscope_engine::wasmparser::{BinaryReader, Operator};

/// One `prologue_end` row that moves: code offsets (as DWARF counts).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PrologueMove {
    /// The row the compiler marked.
    pub marked: u64,
    /// The first row after the parameter stores that follow it.
    pub body: u64,
}

/// A subprogram whose parameters live in its frame: its code range, its
/// frame-base local and its parameters' `DW_OP_fbreg` offsets.
struct FramedSubprogram {
    low: u64,
    high: u64,
    frame_base: u32,
    params: Vec<i64>,
}

impl ModuleDwarf {
    /// Code offsets where functions' bodies start, sorted: each line-table
    /// row marked `prologue_end`, moved past the parameter stores that
    /// follow it (see the module documentation). `binary` is the module
    /// this DWARF was read from.
    pub fn prologue_ends(&self, binary: &[u8]) -> Vec<u64> {
        let moves = self.prologue_moves(binary);
        let mut out = self.marked_prologue_ends();
        for m in moves {
            if let Ok(i) = out.binary_search(&m.marked) {
                out[i] = m.body;
            }
        }
        out.sort_unstable();
        out.dedup();
        out
    }

    /// The module offsets of `prologue_ends`, sorted.
    pub fn prologue_end_offsets(&self, binary: &[u8]) -> Vec<u32> {
        self.prologue_ends(binary)
            .into_iter()
            .filter_map(|o| self.live_module_offset(o))
            .collect()
    }

    /// The `prologue_end` rows that move, sorted by `marked`; found on
    /// the first call (`binary` must be the module this DWARF was read
    /// from, as for every method here).
    pub fn prologue_moves(&self, binary: &[u8]) -> &[PrologueMove] {
        self.prologue_moves
            .get_or_init(|| self.find_prologue_moves(binary))
    }

    fn find_prologue_moves(&self, binary: &[u8]) -> Vec<PrologueMove> {
        let mut out = Vec::new();
        for unit in self.units() {
            let Some(program) = unit.line_program.clone() else {
                continue;
            };
            // Every row's address, by sequence, and the marked rows whose
            // first instructions look like a parameter store.
            let mut sequences: Vec<Vec<u64>> = vec![Vec::new()];
            let mut candidates = Vec::new();
            let mut rows = program.rows();
            while let Ok(Some((_, row))) = rows.next_row() {
                if row.end_sequence() {
                    sequences.push(Vec::new());
                    continue;
                }
                let sequence = sequences.len() - 1;
                sequences[sequence].push(row.address());
                if row.prologue_end() && self.stores_at(binary, row.address()) {
                    candidates.push((row.address(), sequence));
                }
            }
            if candidates.is_empty() {
                continue;
            }
            let subprograms = self.framed_subprograms(unit);
            for (marked, sequence) in candidates {
                let i = subprograms.partition_point(|s| s.low <= marked);
                let Some(s) = i.checked_sub(1).map(|i| &subprograms[i]) else {
                    continue;
                };
                if marked >= s.high {
                    continue;
                }
                let Some(stored) = self.past_parameter_stores(binary, marked, s) else {
                    continue;
                };
                let body = sequences[sequence]
                    .iter()
                    .copied()
                    .filter(|&a| a >= stored && a < s.high)
                    .min();
                if let Some(body) = body.filter(|&b| b > marked) {
                    out.push(PrologueMove { marked, body });
                }
            }
        }
        out.sort_unstable_by_key(|m| m.marked);
        out.dedup();
        out
    }

    /// Code offsets of the rows the compiler marked `prologue_end`.
    fn marked_prologue_ends(&self) -> Vec<u64> {
        self.row_addresses(|_, row| row.prologue_end() && !row.end_sequence())
    }

    /// The instructions at code offset `at`, decoded in order, up to
    /// `end` (a code offset); stops at the first that does not decode.
    fn operators_at<'a>(
        &self,
        binary: &'a [u8],
        at: u64,
        end: u64,
    ) -> impl Iterator<Item = (Operator<'a>, u64)> + 'a {
        let start = self.live_module_offset(at).map(|o| o as usize);
        let end = self
            .live_module_offset(end)
            .map_or(binary.len(), |e| (e as usize).min(binary.len()));
        let bytes = start.and_then(|s| binary.get(s..end.max(s)));
        let mut reader = BinaryReader::new(bytes.unwrap_or(&[]), start.unwrap_or(0));
        let base = self.module_offset(0) as usize;
        std::iter::from_fn(move || {
            if reader.eof() {
                return None;
            }
            let op = reader.read_operator().ok()?;
            Some((op, (reader.original_position() - base) as u64))
        })
    }

    /// Whether the instructions at code offset `at` start with the shape
    /// of a store of one local into memory at another (`local.get;
    /// local.get; store`): the cheap test before the DWARF is read.
    fn stores_at(&self, binary: &[u8], at: u64) -> bool {
        let mut ops = self.operators_at(binary, at, u64::MAX).map(|(op, _)| op);
        matches!(
            (
                ops.next(),
                ops.next(),
                ops.next().as_ref().and_then(store_offset)
            ),
            (
                Some(Operator::LocalGet { .. }),
                Some(Operator::LocalGet { .. }),
                Some(_)
            )
        )
    }

    /// Where the stores of `s`'s parameters into their frame slots that
    /// start at code offset `at` end, if any do.
    fn past_parameter_stores(&self, binary: &[u8], at: u64, s: &FramedSubprogram) -> Option<u64> {
        let mut left = s.params.clone();
        let mut ops = self.operators_at(binary, at, s.high);
        let mut end = None;
        while let (Some((a, _)), Some((b, _)), Some((store, after))) =
            (ops.next(), ops.next(), ops.next())
        {
            let stored = match (a, b, store_offset(&store)) {
                (
                    Operator::LocalGet { local_index },
                    Operator::LocalGet { local_index: x },
                    Some(k),
                ) if local_index == s.frame_base && x != s.frame_base => {
                    left.iter().position(|&p| i64::try_from(k) == Ok(p))
                }
                _ => None,
            };
            let Some(i) = stored else { break };
            left.swap_remove(i);
            end = Some(after);
        }
        end
    }

    /// The unit's subprograms whose frame base is a wasm local and that
    /// have parameters at `DW_OP_fbreg` offsets, sorted by code offset.
    fn framed_subprograms(&self, unit: &gimli::Unit<Reader>) -> Vec<FramedSubprogram> {
        let mut out: Vec<FramedSubprogram> = Vec::new();
        let mut entries = unit.entries();
        let mut depth = 0isize;
        // The subprogram being read and its depth.
        let mut open: Option<(isize, FramedSubprogram)> = None;
        while let Ok(Some((delta, e))) = entries.next_dfs() {
            depth += delta;
            if open.as_ref().is_some_and(|(d, _)| depth <= *d) {
                out.extend(open.take().map(|(_, s)| s).filter(|s| !s.params.is_empty()));
            }
            match e.tag() {
                gimli::DW_TAG_subprogram => {
                    let frame_base = match e.attr_value(gimli::DW_AT_frame_base) {
                        Ok(Some(AttributeValue::Exprloc(x))) => {
                            match x.operations(unit.encoding()).next() {
                                Ok(Some(Operation::WasmLocal { index })) => Some(index),
                                _ => None,
                            }
                        }
                        _ => None,
                    };
                    let range = self.dwarf.die_ranges(unit, e).ok().and_then(|mut r| {
                        let r = r.next().ok()??;
                        Some((r.begin, r.end))
                    });
                    if let (Some(frame_base), Some((low, high))) = (frame_base, range) {
                        open = Some((
                            depth,
                            FramedSubprogram {
                                low,
                                high,
                                frame_base,
                                params: Vec::new(),
                            },
                        ));
                    }
                }
                gimli::DW_TAG_formal_parameter => {
                    let Some((d, s)) = open.as_mut() else {
                        continue;
                    };
                    if depth != *d + 1 {
                        continue;
                    }
                    if let Ok(Some(AttributeValue::Exprloc(x))) =
                        e.attr_value(gimli::DW_AT_location)
                    {
                        let mut ops = x.operations(unit.encoding());
                        if let (Ok(Some(Operation::FrameOffset { offset })), Ok(None)) =
                            (ops.next(), ops.next())
                        {
                            s.params.push(offset);
                        }
                    }
                }
                _ => {}
            }
        }
        out.extend(open.map(|(_, s)| s).filter(|s| !s.params.is_empty()));
        out.sort_unstable_by_key(|s| s.low);
        out
    }
}

/// A store's static offset (`memarg.offset`), for a store to memory 0.
fn store_offset(op: &Operator) -> Option<u64> {
    use Operator as O;
    let memarg = match op {
        O::I32Store { memarg }
        | O::I64Store { memarg }
        | O::F32Store { memarg }
        | O::F64Store { memarg }
        | O::I32Store8 { memarg }
        | O::I32Store16 { memarg }
        | O::I64Store8 { memarg }
        | O::I64Store16 { memarg }
        | O::I64Store32 { memarg }
        | O::V128Store { memarg } => memarg,
        _ => return None,
    };
    (memarg.memory == 0).then_some(memarg.offset)
}

impl ModuleDwarf {
    /// `binary` (the module this DWARF was read from) with its
    /// `.debug_line` rewritten so the `prologue_end` flag sits on each
    /// moved row (`prologue_moves`) instead of the marked one; `None`
    /// when no row moves or the line programs cannot be walked. Only
    /// flag bytes move within a line program: no length, offset or other
    /// section changes, so every address in the module stays where it
    /// was.
    pub fn with_moved_prologue_ends(&self, binary: &[u8]) -> Option<Vec<u8>> {
        let moves = self.prologue_moves(binary);
        if moves.is_empty() {
            return None;
        }
        let section = self.debug_line_at?;
        let mut out = binary.to_vec();
        let whole = gimli::Section::reader(&self.dwarf.debug_line).clone();
        let mut moved = 0;
        for unit in self.units() {
            let Some(program) = unit.line_program.as_ref() else {
                continue;
            };
            let header = program.header();
            let raw = header.raw_program_buf();
            let start = section + gimli::Reader::offset_from(&raw, &whole);
            let end = start + gimli::Reader::len(&raw);
            let bytes = out.get_mut(start..end)?;
            let events = line_program_events(bytes, header)?;
            for m in moves {
                if let Some((from, to)) = flag_move(&events, m) {
                    // The flag byte leaves `from` and lands just before
                    // the opcode that emits the moved row.
                    bytes.copy_within(from + 1..to, from);
                    bytes[to - 1] = gimli::DW_LNS_set_prologue_end.0;
                    moved += 1;
                }
            }
        }
        (moved > 0).then_some(out)
    }
}

/// What a line program does, in order, at byte positions of its opcodes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum LineEvent {
    /// `DW_LNS_set_prologue_end` at this position.
    PrologueEnd(usize),
    /// A row at `address` is emitted by the opcode at `at`.
    Row { at: usize, address: u64 },
    /// `DW_LNE_end_sequence`.
    EndSequence,
}

/// Walks a line program's opcodes (`bytes`, after its header), tracking
/// only the address; `None` for an opcode that runs past the end or a
/// header this walk does not handle (several operations per instruction).
fn line_program_events(
    bytes: &[u8],
    header: &gimli::LineProgramHeader<Reader>,
) -> Option<Vec<LineEvent>> {
    if header.maximum_operations_per_instruction() > 1 || header.line_range() == 0 {
        return None;
    }
    let opcode_base = header.opcode_base();
    let min_length = u64::from(header.minimum_instruction_length());
    let line_range = header.line_range();
    let lengths: Vec<u8> = gimli::Reader::to_slice(header.standard_opcode_lengths())
        .ok()?
        .into_owned();
    let mut r = Bytes { bytes, at: 0 };
    let mut address = 0u64;
    let mut out = Vec::new();
    while r.at < bytes.len() {
        let at = r.at;
        let op = r.byte()?;
        if op >= opcode_base {
            let adjusted = op - opcode_base;
            address = address.wrapping_add(u64::from(adjusted / line_range) * min_length);
            out.push(LineEvent::Row { at, address });
            continue;
        }
        match gimli::DwLns(op) {
            gimli::DW_LNS_copy => out.push(LineEvent::Row { at, address }),
            gimli::DW_LNS_advance_pc => {
                address = address.wrapping_add(r.uleb()?.wrapping_mul(min_length));
            }
            gimli::DW_LNS_const_add_pc => {
                let adjusted = 255 - opcode_base;
                address = address.wrapping_add(u64::from(adjusted / line_range) * min_length);
            }
            gimli::DW_LNS_fixed_advance_pc => {
                let lo = r.byte()?;
                let hi = r.byte()?;
                address = address.wrapping_add(u64::from(u16::from_le_bytes([lo, hi])));
            }
            gimli::DW_LNS_set_prologue_end => out.push(LineEvent::PrologueEnd(at)),
            _ if op == 0 => {
                let len = usize::try_from(r.uleb()?).ok()?;
                let body = r.at;
                if len > 0 {
                    match r.byte()? {
                        1 => {
                            out.push(LineEvent::EndSequence);
                            address = 0;
                        }
                        2 => {
                            let size = len - 1;
                            let raw = bytes.get(r.at..r.at + size)?;
                            let mut le = [0u8; 8];
                            le.get_mut(..size)?.copy_from_slice(raw);
                            address = u64::from_le_bytes(le);
                        }
                        _ => {}
                    }
                }
                r.at = body.checked_add(len)?;
            }
            _ => {
                // Any other standard opcode: its operands are ULEB128s,
                // as many as the header says.
                for _ in 0..*lengths.get(usize::from(op) - 1)? {
                    r.uleb()?;
                }
            }
        }
    }
    (r.at == bytes.len()).then_some(out)
}

/// Where the flag byte of move `m` is (`from`) and where the opcode of
/// its new row is (`to`), in one sequence, when both are found.
fn flag_move(events: &[LineEvent], m: &PrologueMove) -> Option<(usize, usize)> {
    let mut flag = None;
    let mut from = None;
    for e in events {
        match *e {
            LineEvent::PrologueEnd(at) => flag = Some(at),
            LineEvent::Row { at, address } => {
                match from {
                    None if address == m.marked && flag.is_some() => from = flag,
                    // The moved row already carries a flag: leave it.
                    Some(_) if address == m.body && flag.is_some() => return None,
                    Some(f) if address == m.body => return Some((f, at)),
                    _ => {}
                }
                flag = None;
            }
            LineEvent::EndSequence => {
                if from.is_some() {
                    return None;
                }
                flag = None;
            }
        }
    }
    None
}

/// A byte cursor over a line program.
struct Bytes<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl Bytes<'_> {
    fn byte(&mut self) -> Option<u8> {
        let b = *self.bytes.get(self.at)?;
        self.at += 1;
        Some(b)
    }

    fn uleb(&mut self) -> Option<u64> {
        let mut value = 0u64;
        for shift in (0..64).step_by(7) {
            let b = self.byte()?;
            value |= u64::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                return Some(value);
            }
        }
        None
    }
}
