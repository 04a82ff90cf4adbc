//! A generated `.wat` listing of a module, one instruction a line, with the
//! module offset of each line: the source that native debuggers step
//! through when a function has no DWARF.

/// The listing and its line table.
pub struct Listing {
    pub text: String,
    /// (module offset, 1-based line), sorted by offset.
    lines: Vec<(u32, u32)>,
}

impl Listing {
    pub fn generate(binary: &[u8]) -> Option<Listing> {
        let mut storage = String::new();
        let config = wasmprinter::Config::new();
        let mut lines = Vec::new();
        let mut text = String::new();
        let iter = config.offsets_and_lines(binary, &mut storage).ok()?;
        for (i, (offset, line)) in iter.enumerate() {
            if let Some(o) = offset {
                lines.push((o as u32, i as u32 + 1));
            }
            text.push_str(line.trim_end_matches('\n'));
            text.push('\n');
        }
        lines.sort_by_key(|l| l.0);
        lines.dedup_by_key(|l| l.0);
        Some(Listing { text, lines })
    }

    /// The listing line of the instruction at a module offset (the last line
    /// starting at or before it).
    pub fn line_of(&self, module_offset: u32) -> Option<u32> {
        let i = self.lines.partition_point(|l| l.0 <= module_offset);
        i.checked_sub(1).map(|i| self.lines[i].1)
    }
}
