//! Reads a module's DWARF sections (`.debug_*` custom sections) and answers
//! questions by wasm code offset (relative to the code section's contents,
//! as DWARF for wasm counts them).

use gimli::{EndianRcSlice, RunTimeEndian};
use std::rc::Rc;
use wasmscope_engine::ModuleInfo;

pub(crate) type Reader = EndianRcSlice<RunTimeEndian>;

/// A source position.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SourceLocation {
    pub file: String,
    pub line: u32,
    pub column: u32,
}

/// One source-level frame at a code offset; inlined frames come first.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SourceFrame {
    pub function: Option<String>,
    pub location: Option<SourceLocation>,
}

/// A run of code with one source position.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LineRange {
    /// Code-section-relative wasm offsets.
    pub start: u64,
    pub len: u64,
    pub location: SourceLocation,
}

pub struct ModuleDwarf {
    ctx: addr2line::Context<Reader>,
    /// The same sections, for variables and types (`dwarf::vars`).
    pub(crate) dwarf: gimli::Dwarf<Reader>,
    /// Parsed on first use by `dwarf::vars`.
    pub(crate) units: std::cell::OnceCell<Vec<gimli::Unit<Reader>>>,
    /// Pointer types found by name for casts (`dwarf::vars::pointer_to`).
    pub(crate) pointer_types:
        std::cell::RefCell<std::collections::HashMap<String, Option<crate::dwarf::vars::TypeId>>>,
    /// Module offset of the code section's contents.
    code_section_offset: u64,
    /// Parent entries, for qualified names (`dwarf::names`).
    pub(crate) names: crate::dwarf::names::NameCache,
    /// Types, static-member definitions (`dwarf::vars`).
    pub(crate) types: crate::dwarf::vars::TypeCache,
    /// The `prologue_end` rows that move (`dwarf::prologue`), found once.
    pub(crate) prologue_moves: std::cell::OnceCell<Vec<crate::dwarf::prologue::PrologueMove>>,
    /// Where `.debug_line`'s contents start in the module (for
    /// `with_moved_prologue_ends`).
    pub(crate) debug_line_at: Option<usize>,
}

impl ModuleDwarf {
    /// Like `parse`, for a binary that has not been compiled: finds the
    /// custom sections and the code section itself.
    pub fn from_binary(binary: &[u8]) -> Option<ModuleDwarf> {
        let mut info = ModuleInfo::default();
        for payload in wasmscope_engine::wasmparser::Parser::new(0).parse_all(binary) {
            match payload.ok()? {
                wasmscope_engine::wasmparser::Payload::CustomSection(s) => {
                    let start = s.data_offset();
                    info.custom_sections
                        .push((s.name().to_string(), start..start + s.data().len()));
                }
                wasmscope_engine::wasmparser::Payload::CodeSectionStart { range, .. } => {
                    info.code_section_offset = range.start as u64;
                }
                _ => {}
            }
        }
        Self::parse(binary, &info)
    }

    /// Parses the module's DWARF; `None` when it has no `.debug_info`, or
    /// when the DWARF is too broken to use (never a panic).
    pub fn parse(binary: &[u8], info: &ModuleInfo) -> Option<ModuleDwarf> {
        let section = |name: &str| -> Option<&[u8]> {
            info.custom_sections
                .iter()
                .find(|(n, _)| n == name)
                .and_then(|(_, r)| binary.get(r.clone()))
        };
        section(".debug_info")?;
        // Each section is copied out once; both readers share the copy.
        let mut copies: std::collections::HashMap<gimli::SectionId, Rc<[u8]>> =
            std::collections::HashMap::new();
        let mut load = |id: gimli::SectionId| -> Result<Reader, gimli::Error> {
            let bytes = copies
                .entry(id)
                .or_insert_with(|| section(id.name()).unwrap_or(&[]).into())
                .clone();
            Ok(EndianRcSlice::new(bytes, RunTimeEndian::Little))
        };
        let ctx = addr2line::Context::from_dwarf(gimli::Dwarf::load(&mut load).ok()?).ok()?;
        let dwarf = gimli::Dwarf::load(&mut load).ok()?;
        Some(ModuleDwarf {
            ctx,
            dwarf,
            units: std::cell::OnceCell::new(),
            pointer_types: Default::default(),
            code_section_offset: info.code_section_offset,
            names: Default::default(),
            types: Default::default(),
            prologue_moves: Default::default(),
            debug_line_at: info
                .custom_sections
                .iter()
                .find(|(n, _)| n == ".debug_line")
                .map(|(_, r)| r.start),
        })
    }

    /// Converts a module offset (as traps and srclocs report) to a code
    /// offset (as DWARF counts).
    pub fn code_offset(&self, module_offset: u32) -> Option<u64> {
        u64::from(module_offset).checked_sub(self.code_section_offset)
    }

    /// Like `module_offset`, but `None` for a code offset that is no code:
    /// the linker's tombstone for a discarded function (`-1` or `-2`) and
    /// offsets that overflow the module.
    pub fn live_module_offset(&self, code_offset: u64) -> Option<u32> {
        if code_offset >= 0xffff_fffe {
            return None;
        }
        u32::try_from(code_offset + self.code_section_offset).ok()
    }

    /// Converts a code offset (as DWARF counts) to a module offset.
    pub fn module_offset(&self, code_offset: u64) -> u32 {
        (code_offset + self.code_section_offset) as u32
    }

    /// The source position of the instruction at a module offset.
    pub fn location(&self, module_offset: u32) -> Option<SourceLocation> {
        let at = self.code_offset(module_offset)?;
        let loc = self.ctx.find_location(at).ok()??;
        convert(&loc)
    }

    /// Source frames (inlined first) at a module offset.
    pub fn frames(&self, module_offset: u32) -> Vec<SourceFrame> {
        let Some(at) = self.code_offset(module_offset) else {
            return Vec::new();
        };
        let Ok(mut iter) = self.ctx.find_frames(at).skip_all_loads() else {
            return Vec::new();
        };
        let mut out = Vec::new();
        while let Ok(Some(f)) = iter.next() {
            out.push(SourceFrame {
                function: f
                    .function
                    .as_ref()
                    .and_then(|n| n.raw_name().ok().map(|s| s.into_owned())),
                location: f.location.as_ref().and_then(convert),
            });
        }
        out
    }

    /// Where statements start (code offsets, sorted): line-table rows
    /// marked `is_stmt`, with a line, whose (file, line) differs from the
    /// row before them in their sequence. A debugger stops here when it
    /// steps by line or breaks at a line, as gdb and lldb do; rows that
    /// only move the column or that the compiler did not mark as a
    /// statement are left out. Malformed line programs yield what was read
    /// before the error.
    pub fn statement_starts(&self) -> Vec<u64> {
        let mut previous = None;
        self.row_addresses(|new_unit, row| {
            if new_unit {
                previous = None;
            }
            if row.end_sequence() {
                previous = None;
                return false;
            }
            let here = (row.file_index(), row.line());
            let start = row.is_stmt() && here.1.is_some() && previous != Some(here);
            previous = Some(here);
            start
        })
    }

    /// The addresses of the line-table rows `keep` accepts, sorted and
    /// deduplicated; `keep` sees every row of every unit in order, told
    /// whether the row is its unit's first. Malformed line programs yield
    /// what was read before the error.
    pub(crate) fn row_addresses(
        &self,
        mut keep: impl FnMut(bool, &gimli::LineRow) -> bool,
    ) -> Vec<u64> {
        let mut out = Vec::new();
        for unit in self.units() {
            let Some(program) = unit.line_program.clone() else {
                continue;
            };
            let mut rows = program.rows();
            let mut new_unit = true;
            while let Ok(Some((_, row))) = rows.next_row() {
                let kept = keep(new_unit, row);
                new_unit = false;
                if kept {
                    out.push(row.address());
                }
            }
        }
        out.sort_unstable();
        out.dedup();
        out
    }

    /// Every line-table range of the module, sorted by offset: each row
    /// with a line up to the next row of its sequence. Walks every unit's
    /// line program itself (addr2line's range iterator leaves out rows of
    /// units whose code is split over many ranges, such as a C++ unit's
    /// inline member functions); sequences of discarded code (at the
    /// linker's tombstone) are left out.
    pub fn line_ranges(&self) -> Vec<LineRange> {
        let mut out = Vec::new();
        for unit in self.units() {
            let Some(program) = unit.line_program.clone() else {
                continue;
            };
            let mut paths: std::collections::HashMap<u64, Option<String>> =
                std::collections::HashMap::new();
            let mut rows = program.rows();
            let mut previous: Option<(u64, u64, u32, u32)> = None;
            while let Ok(Some((header, row))) = rows.next_row() {
                if let Some((start, file, line, column)) = previous.take() {
                    let end = row.address();
                    let path = paths
                        .entry(file)
                        .or_insert_with(|| self.file_path(unit, header, file))
                        .clone();
                    if let Some(file) = path.filter(|_| end > start && start < 0xffff_fffe) {
                        out.push(LineRange {
                            start,
                            len: end - start,
                            location: SourceLocation { file, line, column },
                        });
                    }
                }
                if row.end_sequence() {
                    continue;
                }
                let line = row.line().map_or(0, |l| l.get()) as u32;
                if line > 0 {
                    let column = match row.column() {
                        gimli::ColumnType::LeftEdge => 0,
                        gimli::ColumnType::Column(c) => c.get() as u32,
                    };
                    previous = Some((row.address(), row.file_index(), line, column));
                }
            }
        }
        out.sort_by_key(|r| r.start);
        out
    }

    /// The path of file `index` of a line program: joined with its
    /// directory and the unit's compilation directory when relative.
    pub(crate) fn file_path(
        &self,
        unit: &gimli::Unit<Reader>,
        header: &gimli::LineProgramHeader<Reader>,
        index: u64,
    ) -> Option<String> {
        let file = header.file(index)?;
        let text = |v| -> Option<String> {
            let s = self.dwarf.attr_string(unit, v).ok()?;
            Some(gimli::Reader::to_string_lossy(&s).ok()?.into_owned())
        };
        let name = text(file.path_name())?;
        if name.starts_with('/') {
            return Some(name);
        }
        let dir = file.directory(header).and_then(text).unwrap_or_default();
        let dir = if dir.starts_with('/') {
            dir
        } else {
            let comp = unit
                .comp_dir
                .as_ref()
                .and_then(|d| {
                    gimli::Reader::to_string_lossy(d)
                        .ok()
                        .map(|d| d.into_owned())
                })
                .unwrap_or_default();
            match (comp.is_empty(), dir.is_empty()) {
                (true, _) => dir,
                (false, true) => comp,
                (false, false) => format!("{comp}/{dir}"),
            }
        };
        Some(if dir.is_empty() {
            name
        } else {
            format!("{}/{name}", dir.trim_end_matches('/'))
        })
    }
}

fn convert(loc: &addr2line::Location) -> Option<SourceLocation> {
    Some(SourceLocation {
        file: loc.file?.to_string(),
        line: loc.line?,
        column: loc.column.unwrap_or(0),
    })
}
