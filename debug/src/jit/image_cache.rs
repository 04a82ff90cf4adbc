//! The JIT debug image, cached with the module's compiled code.
//!
//! Building the image (the DWARF transform, the listing, the line tables)
//! costs as much as loading cached code many times over, so `run -g`
//! caches it too. The image holds native addresses, which change with
//! every process (ASLR, fresh mappings), so what is cached is a
//! *template*: the DWARF sections as written, plus a relocation for every
//! native address in them, expressed as (region, offset into it). Regions
//! are what the addresses point into: the module's code, each of the
//! engine's trampolines (by name) and the cell holding the latest vmctx.
//!
//! Addresses are found exactly, while gimli writes them: [`DwarfWriter`]
//! sees every address gimli writes (`write_address`), and the vmctx cell,
//! which a location expression pushes as a constant, is written as a
//! placeholder address that the writer turns into `DW_OP_const8u` plus a
//! relocation. The ELF wrapper (symbols, the `.text` range) is rebuilt
//! from the live module on every load.
//!
//! **Invariants:** a template is used only when every region it names
//! exists in this process; an address that lies in two regions at once
//! (the end of one mapping that another starts at) makes the image
//! uncacheable (it is built every time), never guessed;
//! the template's key covers the code's cache key, this crate's build,
//! the module path, the working directory, the debugger and the listing's
//! directory, everything else the image is made of.

use gimli::write::{Address, EndianVec, Writer};
use gimli::RunTimeEndian;
use std::ops::Range;
use std::path::{Path, PathBuf};
use wasmscope_engine::Module;

/// The placeholder symbol for the vmctx cell (`NativeModule::vmctx`).
pub const VMCTX_CELL_SYMBOL: usize = usize::MAX;

/// gimli's output for one section, recording where native addresses go.
#[derive(Clone)]
pub struct DwarfWriter {
    out: EndianVec<RunTimeEndian>,
    vmctx_cell: u64,
    /// (offset, value) of each 8-byte address written.
    addresses: Vec<(usize, u64)>,
}

impl DwarfWriter {
    /// A writer for an image whose vmctx cell is at `vmctx_cell`.
    pub fn new(vmctx_cell: u64) -> DwarfWriter {
        DwarfWriter {
            out: EndianVec::new(RunTimeEndian::Little),
            vmctx_cell,
            addresses: Vec::new(),
        }
    }

    pub fn bytes(&self) -> &[u8] {
        self.out.slice()
    }
}

impl Writer for DwarfWriter {
    type Endian = RunTimeEndian;

    fn endian(&self) -> RunTimeEndian {
        self.out.endian()
    }

    fn len(&self) -> usize {
        self.out.len()
    }

    fn write(&mut self, bytes: &[u8]) -> gimli::write::Result<()> {
        self.out.write(bytes)
    }

    fn write_at(&mut self, offset: usize, bytes: &[u8]) -> gimli::write::Result<()> {
        self.out.write_at(offset, bytes)
    }

    fn write_address(&mut self, address: Address, size: u8) -> gimli::write::Result<()> {
        match address {
            Address::Constant(v) => {
                if size == 8 {
                    self.addresses.push((self.len(), v));
                }
                self.write_udata(v, size)
            }
            Address::Symbol {
                symbol: VMCTX_CELL_SYMBOL,
                addend: 0,
            } if size == 8 => {
                // The operation just written is `DW_OP_addr`; pushing the
                // cell as a constant (`DW_OP_const8u`, the same length)
                // keeps it a plain number for lldb, which would take a
                // `DW_OP_addr` for an address in the image's file.
                let at = self
                    .len()
                    .checked_sub(1)
                    .ok_or(gimli::write::Error::InvalidAddress)?;
                if self.out.slice()[at] != gimli::DW_OP_addr.0 {
                    return Err(gimli::write::Error::InvalidAddress);
                }
                self.out.write_at(at, &[gimli::DW_OP_const8u.0])?;
                self.addresses.push((self.len(), self.vmctx_cell));
                self.write_udata(self.vmctx_cell, 8)
            }
            Address::Symbol { .. } => Err(gimli::write::Error::InvalidAddress),
        }
    }
}

/// Where native addresses can point in this process, by name: the
/// mappings of the module's code and of the engine's glue, and the vmctx
/// cell. Each runs from its mapping's start to the end of the code in it
/// (an end address of the last function included); code keeps its place
/// within its mapping from one process to the next (the same compiled
/// code, laid out the same way). Mappings are often adjacent, but two
/// regions touch only if code fills a mapping to its last byte.
pub fn regions(module: &Module) -> Vec<(String, Range<u64>)> {
    let code = module.code_range();
    let used = |mapping: &Range<usize>, ends: &mut dyn Iterator<Item = usize>| {
        let end = ends
            .filter(|e| mapping.start < *e && *e <= mapping.end)
            .max();
        mapping.start as u64..end.unwrap_or(mapping.start) as u64
    };
    let funcs = module.functions_debug_info();
    let mut out = vec![(
        "module code".to_string(),
        used(&code, &mut funcs.iter().map(|f| f.code.end)),
    )];
    let glue = module.engine().trampoline_code();
    for (name, r) in module.engine().trampoline_mappings() {
        out.push((name, used(&r, &mut glue.iter().map(|g| g.1.end))));
    }
    let cell = module.debug_vmctx_cell() as u64;
    out.push(("vmctx cell".to_string(), cell..cell + 8));
    out
}

/// Debug sections with their native addresses as relocations.
pub struct Template {
    pub sections: Vec<(String, Vec<u8>)>,
    regions: Vec<String>,
    /// (section, offset, region, offset into the region)
    relocs: Vec<(u32, u32, u32, u64)>,
    pub listing: Option<PathBuf>,
}

impl Template {
    /// The template of freshly written `sections`; `None` when an address
    /// lies in more than one region.
    pub fn new(
        sections: &[(String, DwarfWriter)],
        regions: &[(String, Range<u64>)],
        listing: Option<PathBuf>,
    ) -> Option<Template> {
        let mut relocs = Vec::new();
        for (s, (_, w)) in sections.iter().enumerate() {
            for &(offset, v) in &w.addresses {
                let mut hits = regions
                    .iter()
                    .enumerate()
                    .filter(|(_, (_, r))| r.start <= v && v <= r.end);
                let Some((region, (_, r))) = hits.next() else {
                    continue;
                };
                if hits.next().is_some() {
                    return None;
                }
                relocs.push((s as u32, offset as u32, region as u32, v - r.start));
            }
        }
        Some(Template {
            sections: sections
                .iter()
                .map(|(n, w)| (n.clone(), w.bytes().to_vec()))
                .collect(),
            regions: regions.iter().map(|(n, _)| n.clone()).collect(),
            relocs,
            listing,
        })
    }

    /// The sections with this process's addresses; `None` when a region
    /// is missing here.
    pub fn relocate(mut self, regions: &[(String, Range<u64>)]) -> Option<Template> {
        let bases: Vec<u64> = self
            .regions
            .iter()
            .map(|n| regions.iter().find(|(m, _)| m == n).map(|(_, r)| r.start))
            .collect::<Option<_>>()?;
        for &(s, offset, region, delta) in &self.relocs {
            let data = &mut self.sections.get_mut(s as usize)?.1;
            let at = offset as usize..offset as usize + 8;
            let value = bases.get(region as usize)?.checked_add(delta)?;
            data.get_mut(at)?.copy_from_slice(&value.to_le_bytes());
        }
        Some(self)
    }

    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::new();
        let put = |out: &mut Vec<u8>, b: &[u8]| {
            out.extend_from_slice(&(b.len() as u32).to_le_bytes());
            out.extend_from_slice(b);
        };
        out.extend_from_slice(&(self.sections.len() as u32).to_le_bytes());
        for (n, d) in &self.sections {
            put(&mut out, n.as_bytes());
            put(&mut out, d);
        }
        out.extend_from_slice(&(self.regions.len() as u32).to_le_bytes());
        for n in &self.regions {
            put(&mut out, n.as_bytes());
        }
        out.extend_from_slice(&(self.relocs.len() as u32).to_le_bytes());
        for &(s, o, r, d) in &self.relocs {
            for x in [s, o, r] {
                out.extend_from_slice(&x.to_le_bytes());
            }
            out.extend_from_slice(&d.to_le_bytes());
        }
        let listing = self.listing.as_ref().map(|p| p.display().to_string());
        put(&mut out, listing.unwrap_or_default().as_bytes());
        out
    }

    /// Reads what `encode` wrote; `None` for anything malformed (a
    /// relocation outside its section included).
    pub fn decode(bytes: &[u8]) -> Option<Template> {
        let mut r = bytes;
        let mut take = |n: usize| -> Option<&[u8]> {
            if r.len() < n {
                return None;
            }
            let (a, b) = r.split_at(n);
            r = b;
            Some(a)
        };
        fn u32_of(b: &[u8]) -> u32 {
            u32::from_le_bytes(b.try_into().unwrap())
        }
        // Lists are read with explicit loops below (lengths bounded by the
        // bytes left, so a damaged count cannot allocate wildly).
        let mut sections = Vec::new();
        let n = u32_of(take(4)?) as usize;
        for _ in 0..n.min(bytes.len()) {
            let len = u32_of(take(4)?) as usize;
            let name = String::from_utf8(take(len)?.to_vec()).ok()?;
            let len = u32_of(take(4)?) as usize;
            sections.push((name, take(len)?.to_vec()));
        }
        let mut regions = Vec::new();
        let n = u32_of(take(4)?) as usize;
        for _ in 0..n.min(bytes.len()) {
            let len = u32_of(take(4)?) as usize;
            regions.push(String::from_utf8(take(len)?.to_vec()).ok()?);
        }
        let mut relocs = Vec::new();
        let n = u32_of(take(4)?) as usize;
        for _ in 0..n.min(bytes.len()) {
            let (s, o, g) = (u32_of(take(4)?), u32_of(take(4)?), u32_of(take(4)?));
            let d = u64::from_le_bytes(take(8)?.try_into().ok()?);
            let section: &(String, Vec<u8>) = sections.get(s as usize)?;
            (o as usize + 8 <= section.1.len() && (g as usize) < regions.len()).then_some(())?;
            relocs.push((s, o, g, d));
        }
        let len = u32_of(take(4)?) as usize;
        let listing = String::from_utf8(take(len)?.to_vec()).ok()?;
        if !r.is_empty() {
            return None;
        }
        Some(Template {
            sections,
            regions,
            relocs,
            listing: (!listing.is_empty()).then(|| PathBuf::from(listing)),
        })
    }
}

/// The image template's cache key: everything the image is made of.
pub fn key(module: &Module, code_key: u128, module_path: &Path, debugger: &str) -> u128 {
    let mut m = Vec::new();
    let cwd = std::env::current_dir().unwrap_or_default();
    let listing_dir = super::extensions::cache_dir();
    for part in [
        env!("WASMSCOPE_DEBUG_BUILD"),
        &module_path.display().to_string(),
        &cwd.display().to_string(),
        debugger,
        &listing_dir.display().to_string(),
        &format!("{}", module.binary().len()),
    ] {
        m.extend_from_slice(&(part.len() as u64).to_le_bytes());
        m.extend_from_slice(part.as_bytes());
    }
    m.extend_from_slice(&code_key.to_le_bytes());
    wasmscope_engine::cache::hash128(&m)
}
