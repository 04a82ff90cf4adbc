//! DWARF for JIT code, registered through the GDB JIT interface.
//!
//! For each compiled module we build a small ELF image: a `.text` section
//! (no bytes, just the address range of the JIT code), DWARF whose addresses
//! are native, and a symbol per function. gdb (and lldb with
//! `plugin.jit-loader.gdb.enable`) read it from memory when
//! `__jit_debug_register_code` is called.
//!
//! What the DWARF describes today: one compile unit per module, a line
//! program mapping every native instruction to the source line of the wasm
//! instruction it came from (through the engine's srcloc map and the
//! module's own line table; functions without DWARF map to a generated
//! `.wat` listing), and a subprogram per function. Variables are not
//! described yet.

use crate::dwarf::read::{LineRange, ModuleDwarf, SourceLocation};
use crate::dwarf::transform::{self, Debugger, Files, ModuleFacts, NativeModule, ENCODING};
use crate::listing::Listing;
use gimli::write::{Address, AttributeValue, LineProgram, LineString, Sections};
use gimli::LineEncoding;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use wasmscope_engine::{FunctionDebugInfo, Module};

pub mod extensions;
pub(crate) mod image_cache;
pub use image_cache::DwarfWriter;

#[repr(C)]
struct JitCodeEntry {
    next: *mut JitCodeEntry,
    prev: *mut JitCodeEntry,
    symfile_addr: *const u8,
    symfile_size: u64,
}

/// The descriptor gdb reads (its layout is fixed by gdb's documentation).
#[repr(C)]
pub struct JitDescriptor {
    version: u32,
    action_flag: u32,
    relevant_entry: *mut JitCodeEntry,
    first_entry: *mut JitCodeEntry,
}

const JIT_NOACTION: u32 = 0;
const JIT_REGISTER_FN: u32 = 1;
const JIT_UNREGISTER_FN: u32 = 2;

/// Read by debuggers by symbol name.
#[no_mangle]
#[used]
pub static mut __jit_debug_descriptor: JitDescriptor = JitDescriptor {
    version: 1,
    action_flag: JIT_NOACTION,
    relevant_entry: std::ptr::null_mut(),
    first_entry: std::ptr::null_mut(),
};

/// Debuggers put a breakpoint here to learn about new code.
#[no_mangle]
#[inline(never)]
pub extern "C" fn __jit_debug_register_code() {
    // Keep the call (and the function) from being optimized away.
    std::hint::black_box(());
}

/// Serializes all changes to the descriptor's list.
static LOCK: Mutex<()> = Mutex::new(());

/// A registered image; unregistered on drop.
pub struct JitRegistration {
    entry: *mut JitCodeEntry,
    _image: Box<[u8]>,
    /// Where the generated listing was written, if one was.
    pub listing_path: Option<PathBuf>,
    /// Whether the image came from the code cache (built by an earlier
    /// run) rather than being built now.
    pub from_cache: bool,
}

impl Drop for JitRegistration {
    fn drop(&mut self) {
        let _guard = LOCK.lock().unwrap_or_else(|e| e.into_inner());
        // SAFETY: `entry` is in the descriptor's list (we inserted it) and
        // the list is only changed under LOCK.
        unsafe {
            let e = &mut *self.entry;
            let d = &mut *std::ptr::addr_of_mut!(__jit_debug_descriptor);
            if e.prev.is_null() {
                d.first_entry = e.next;
            } else {
                (*e.prev).next = e.next;
            }
            if !e.next.is_null() {
                (*e.next).prev = e.prev;
            }
            d.relevant_entry = self.entry;
            d.action_flag = JIT_UNREGISTER_FN;
            __jit_debug_register_code();
            d.action_flag = JIT_NOACTION;
            drop(Box::from_raw(self.entry));
        }
    }
}

fn register_image(
    image: Box<[u8]>,
    listing_path: Option<PathBuf>,
    from_cache: bool,
) -> JitRegistration {
    let entry = Box::into_raw(Box::new(JitCodeEntry {
        next: std::ptr::null_mut(),
        prev: std::ptr::null_mut(),
        symfile_addr: image.as_ptr(),
        symfile_size: image.len() as u64,
    }));
    let _guard = LOCK.lock().unwrap_or_else(|e| e.into_inner());
    // SAFETY: the descriptor is only changed under LOCK; `entry` and the
    // image stay alive until the registration is dropped.
    unsafe {
        let d = &mut *std::ptr::addr_of_mut!(__jit_debug_descriptor);
        (*entry).next = d.first_entry;
        if !d.first_entry.is_null() {
            (*d.first_entry).prev = entry;
        }
        d.first_entry = entry;
        d.relevant_entry = entry;
        d.action_flag = JIT_REGISTER_FN;
        __jit_debug_register_code();
        d.action_flag = JIT_NOACTION;
    }
    JitRegistration {
        entry,
        _image: image,
        listing_path,
        from_cache,
    }
}

/// How `wasmscope run -g` compiles: no optimization (stepping follows the
/// source) and, for a module with DWARF, every wasm local that a variable
/// location or a frame base names kept in the frame's home slot, where the
/// image's locations read it (always current, at every instruction).
pub fn compile_options(dwarf: Option<&ModuleDwarf>) -> wasmscope_engine::CompileOptions {
    let mut options = wasmscope_engine::CompileOptions {
        debug_info: true,
        // The image reads locals from their home slots only.
        debug_value_labels: false,
        ..Default::default()
    };
    if let Some(dwarf) = dwarf {
        options.debug_hooks = true;
        options.debug_hook_sites = Some(std::sync::Arc::from(Vec::new()));
        options.debug_forced_sites = false;
        options.debug_locals = wasmscope_engine::DebugLocals::Live;
        options.debug_keep_locals = Some(dwarf.located_locals().into());
    }
    options
}

/// Builds and registers the debug image of `module` (compiled with debug
/// info), whose DWARF is `dwarf`. `module_path` names the module in the
/// debugger and decides where the generated listing goes. With `emit`,
/// the image is also written to that file. With the engine's code cache,
/// the image comes from there when an earlier run built it (see
/// `image_cache`).
pub fn register(
    module: &Module,
    module_path: &Path,
    dwarf: Option<&ModuleDwarf>,
    emit: Option<&Path>,
) -> Result<JitRegistration, String> {
    let (image, listing_path, from_cache) = cached_image(module, module_path, dwarf)?;
    if let Some(path) = emit {
        std::fs::write(path, &image)
            .map_err(|e| format!("cannot write the debug image to {}: {e}", path.display()))?;
    }
    Ok(register_image(
        image.into_boxed_slice(),
        listing_path,
        from_cache,
    ))
}

/// The image from the cache, relocated to this process, or built (and
/// then cached); also says which.
fn cached_image(
    module: &Module,
    module_path: &Path,
    dwarf: Option<&ModuleDwarf>,
) -> Result<(Vec<u8>, Option<PathBuf>, bool), String> {
    use image_cache::Template;
    use wasmscope_engine::cache;
    let config = module.engine().config().cache.as_ref();
    let debugger = format!(
        "{:?} typed={}",
        Debugger::attached(),
        std::env::var_os(extensions::LLDB_TYPED_ADDRESSES).is_some()
    );
    let key = config
        .zip(module.cache_key())
        .map(|(c, k)| (c, image_cache::key(module, k, module_path, &debugger)));
    let regions = image_cache::regions(module);
    let size = module.binary().len() as u64;
    if let Some((config, key)) = key {
        let cached = cache::load_blob(config, key, size)
            .ok()
            .flatten()
            .and_then(|bytes| Template::decode(&bytes))
            .and_then(|t| t.relocate(&regions))
            .filter(|t| t.listing.as_ref().is_none_or(|p| p.is_file()));
        if let Some(t) = cached {
            return Ok((elf_image(module, &t.sections), t.listing, true));
        }
    }
    let (sections, listing_path) = sections(module, module_path, dwarf)?;
    if let Some((config, key)) = key {
        if let Some(t) = Template::new(&sections, &regions, listing_path.clone()) {
            // A failure to write was reported with the code's own store.
            let _ = cache::store_blob(config, key, size, &t.encode());
        }
    }
    let sections: Vec<(String, Vec<u8>)> = sections
        .into_iter()
        .map(|(n, w)| (n, w.bytes().to_vec()))
        .collect();
    Ok((elf_image(module, &sections), listing_path, false))
}

/// What `register` registers: the ELF image with the module's DWARF
/// transformed for its native code (and the listing's line table), and
/// where the listing was written. Built every time (no cache); public for
/// the transform's benchmark and tests.
pub fn image(
    module: &Module,
    module_path: &Path,
    dwarf: Option<&ModuleDwarf>,
) -> Result<(Vec<u8>, Option<PathBuf>), String> {
    let (sections, listing_path) = sections(module, module_path, dwarf)?;
    let sections: Vec<(String, Vec<u8>)> = sections
        .into_iter()
        .map(|(n, w)| (n, w.bytes().to_vec()))
        .collect();
    Ok((elf_image(module, &sections), listing_path))
}

/// DWARF sections by name, as gimli wrote them.
type DwarfSections = Vec<(String, DwarfWriter)>;

/// The image's DWARF sections, as written (with where their addresses
/// are), and the listing's path.
fn sections(
    module: &Module,
    module_path: &Path,
    dwarf: Option<&ModuleDwarf>,
) -> Result<(DwarfSections, Option<PathBuf>), String> {
    let binary = module.binary();
    let ranges = dwarf.map(|d| d.line_ranges()).unwrap_or_default();
    let listing = Listing::generate(binary);
    let listing_path = listing
        .as_ref()
        .and_then(|l| write_listing(module_path, &l.text));
    let sections = build_sections(
        module,
        &ranges,
        dwarf,
        listing.as_ref().zip(listing_path.as_deref()),
        module_path,
    )?;
    Ok((sections, listing_path))
}

/// Writes the listing to the cache dir ([`extensions::cache_dir`]), named
/// after the module and its content.
fn write_listing(module_path: &Path, text: &str) -> Option<PathBuf> {
    let stem = module_path.file_stem()?.to_string_lossy();
    extensions::cached_file(&stem, "wat", text).ok()
}

/// Finds the source position of a code offset in the sorted line ranges.
fn lookup(ranges: &[LineRange], code_offset: u64) -> Option<&SourceLocation> {
    let i = ranges.partition_point(|r| r.start <= code_offset);
    let r = ranges.get(i.checked_sub(1)?)?;
    (code_offset < r.start + r.len.max(1)).then_some(&r.location)
}

/// What the DWARF transform needs of the compiled `module`.
pub fn native_module(module: &Module) -> NativeModule<'_> {
    let info = module.info();
    let funcs = module.functions_debug_info();
    let layout = module.vmctx_layout();
    NativeModule {
        funcs,
        vmctx_cell: module.debug_vmctx_cell() as u64,
        memory_ptr: (!info.memories.is_empty()).then(|| layout.memory_ptr(0)),
        table_ptr: (!info.tables.is_empty()).then(|| layout.table_ptr(0)),
        global_ptrs: (0..info.globals.len() as u32)
            .map(|g| layout.global_ptr(g))
            .collect(),
        facts: ModuleFacts::read(module.binary()),
        debugger: Debugger::attached(),
        typed_addresses: std::env::var_os(extensions::LLDB_TYPED_ADDRESSES).is_some(),
        table_functions: table_functions(module),
    }
}

/// Table 0's function elements as the module's active element segments
/// with constant offsets put them, with the functions' names.
fn table_functions(module: &Module) -> Vec<(u32, String)> {
    use wasmscope_engine::{ElemItem, ElemKind};
    let info = module.info();
    let mut out = Vec::new();
    for segment in &info.elems {
        let ElemKind::Active {
            table,
            base: None,
            offset,
        } = segment.kind
        else {
            continue;
        };
        if table.as_u32() != 0 {
            continue;
        }
        for (i, item) in segment.elements.iter().enumerate() {
            if let ElemItem::Func(f) = item {
                let name = info
                    .func_name_by_index(f.as_u32())
                    .map(str::to_string)
                    .unwrap_or_else(|| format!("wasm-function[{}]", f.as_u32()));
                out.push((offset.saturating_add(i as u32), name));
            }
        }
    }
    out
}

fn build_sections(
    module: &Module,
    ranges: &[LineRange],
    dwarf: Option<&ModuleDwarf>,
    listing: Option<(&Listing, &Path)>,
    module_path: &Path,
) -> Result<DwarfSections, String> {
    let info = module.info();
    let native = native_module(module);
    let funcs = native.funcs;
    let mut out = gimli::write::Dwarf::new();
    let mut units = dwarf
        .map(|d| transform::transform(d, &native, &mut out))
        .unwrap_or_default();
    let prologue_ends = dwarf
        .map(|d| d.prologue_ends(module.binary()))
        .unwrap_or_default();
    let rows = Rows {
        ranges,
        dwarf,
        listing,
        prologue_ends: &prologue_ends,
    };
    for unit in &mut units {
        let program = &mut out.units.get_mut(unit.id).line_program;
        for &f in &unit.funcs {
            rows.function(program, &mut unit.files, &funcs[f]);
        }
    }

    // Everything no DWARF unit describes: functions without DWARF (their
    // lines are the listing's) and the engine's trampolines.
    let owned: std::collections::HashSet<usize> =
        units.iter().flat_map(|u| u.funcs.iter().copied()).collect();
    let name = module_path.display().to_string();
    let comp_dir = std::env::current_dir()
        .map(|d| d.display().to_string())
        .unwrap_or_default();
    let program = LineProgram::new(
        ENCODING,
        LineEncoding::default(),
        LineString::String(comp_dir.clone().into_bytes()),
        LineString::String(name.clone().into_bytes()),
        None,
    );
    let id = out.units.add(gimli::write::Unit::new(ENCODING, program));
    let mut files = Files::default();
    let unit = out.units.get_mut(id);
    let root = unit.root();
    let e = unit.get_mut(root);
    e.set(
        gimli::DW_AT_producer,
        AttributeValue::String(b"wasmscope".to_vec()),
    );
    e.set(gimli::DW_AT_name, AttributeValue::String(name.into_bytes()));
    e.set(
        gimli::DW_AT_comp_dir,
        AttributeValue::String(comp_dir.into_bytes()),
    );
    e.set(
        gimli::DW_AT_language,
        AttributeValue::Language(gimli::DW_LANG_C99),
    );
    e.set(
        gimli::DW_AT_low_pc,
        AttributeValue::Address(Address::Constant(0)),
    );
    transform::memory_variable(unit, &native);
    let mut covered = Vec::new();
    for (i, f) in funcs.iter().enumerate() {
        let fname = info
            .func_name_by_index(f.func_index)
            .map(str::to_string)
            .unwrap_or_else(|| format!("wasm-function[{}]", f.func_index));
        if owned.contains(&i) {
            continue;
        }
        covered.push(f.code.start as u64..f.code.end as u64);
        rows.function(&mut unit.line_program, &mut files, f);
        let sub = unit.add(root, gimli::DW_TAG_subprogram);
        let e = unit.get_mut(sub);
        e.set(
            gimli::DW_AT_name,
            AttributeValue::String(fname.into_bytes()),
        );
        e.set(gimli::DW_AT_external, AttributeValue::Flag(true));
        // No DWARF: its parameters and result are unknown to a debugger.
        transform::native_function(e, &f.code, false);
    }
    let glue = module.engine().trampoline_code();
    for (gname, range) in &glue {
        covered.push(range.start as u64..range.end as u64);
        let sub = unit.add(root, gimli::DW_TAG_subprogram);
        let e = unit.get_mut(sub);
        e.set(
            gimli::DW_AT_name,
            AttributeValue::String(gname.clone().into_bytes()),
        );
        e.set(gimli::DW_AT_artificial, AttributeValue::Flag(true));
        e.set(
            gimli::DW_AT_low_pc,
            AttributeValue::Address(Address::Constant(range.start as u64)),
        );
        e.set(
            gimli::DW_AT_high_pc,
            AttributeValue::Udata(range.len() as u64),
        );
    }
    covered.sort_by_key(|r| r.start);
    if !covered.is_empty() {
        let list = transform::range_list(unit, &covered);
        unit.get_mut(root)
            .set(gimli::DW_AT_ranges, AttributeValue::RangeListRef(list));
    }
    let mut sections = Sections::new(DwarfWriter::new(native.vmctx_cell));
    out.write(&mut sections)
        .map_err(|e| format!("writing DWARF: {e}"))?;
    let mut debug = Vec::new();
    sections
        .for_each(|id, data| {
            if !data.bytes().is_empty() {
                debug.push((id.name().to_string(), data.clone()));
            }
            Ok::<(), gimli::write::Error>(())
        })
        .map_err(|e| format!("writing DWARF: {e}"))?;
    Ok(debug)
}

/// The ELF image around `debug` (section name, bytes): the `.text` range
/// and a symbol per function and trampoline, from the live module.
fn elf_image(module: &Module, debug: &[(String, Vec<u8>)]) -> Vec<u8> {
    let info = module.info();
    let funcs = module.functions_debug_info();
    let glue = module.engine().trampoline_code();
    let mut symbols = Vec::new();
    for f in funcs {
        let fname = info
            .func_name_by_index(f.func_index)
            .map(str::to_string)
            .unwrap_or_else(|| format!("wasm-function[{}]", f.func_index));
        symbols.push((fname, f.code.start as u64, f.code.len() as u64));
    }
    for (gname, range) in &glue {
        symbols.push((gname.clone(), range.start as u64, range.len() as u64));
    }
    let (low, high) = funcs
        .iter()
        .map(|f| f.code.clone())
        .chain(glue.iter().map(|g| g.1.clone()))
        .fold((usize::MAX, 0), |(lo, hi), r| {
            (lo.min(r.start), hi.max(r.end))
        });
    crate::jit::elf::write(low as u64, high.saturating_sub(low) as u64, debug, &symbols)
}

/// Builds line rows: each native instruction gets the source line of its
/// wasm instruction (the module's line table, else the listing).
struct Rows<'a> {
    ranges: &'a [LineRange],
    dwarf: Option<&'a ModuleDwarf>,
    listing: Option<(&'a Listing, &'a Path)>,
    /// Code offsets the module's line table marks `prologue_end`, sorted.
    prologue_ends: &'a [u64],
}

impl Rows<'_> {
    fn function(&self, program: &mut LineProgram, files: &mut Files, f: &FunctionDebugInfo) {
        program.begin_sequence(Some(Address::Constant(f.code.start as u64)));
        let mut last: Option<(gimli::write::FileId, u32)> = None;
        let mut last_column = 0;
        // Where the compiler ended the wasm prologue (the argument spills):
        // a breakpoint on the function stops at the first native code of
        // that wasm instruction, or of the first one after it with code.
        let code_offsets = || {
            f.srclocs
                .iter()
                .filter_map(|s| self.dwarf?.code_offset(s.wasm_offset))
        };
        let mut prologue_end = code_offsets().min().and_then(|lo| {
            let hi = code_offsets().max()?;
            let i = self.prologue_ends.partition_point(|&p| p <= lo);
            self.prologue_ends.get(i).copied().filter(|&p| p <= hi)
        });
        let source_line = |s: &wasmscope_engine::SrcLoc| {
            let off = self.dwarf?.code_offset(s.wasm_offset)?;
            lookup(self.ranges, off)
        };
        let described = f.srclocs.iter().any(|s| source_line(s).is_some());
        for s in &f.srclocs {
            let code_offset = self.dwarf.and_then(|d| d.code_offset(s.wasm_offset));
            let loc = source_line(s).map(|l| (files.id(program, &l.file), l.line, l.column));
            let loc = loc.or_else(|| {
                // Code of a function the line table describes that it
                // gives no line (line 0: what the compiler made up) keeps
                // line 0, as native compilers write it, and debuggers step
                // through it; the listing's line would stop `step` in the
                // middle of a statement, in another file (found by the
                // debugger differential).
                if described {
                    return last.map(|(file, _)| (file, 0, 0));
                }
                let (listing, path) = self.listing?;
                let line = listing.line_of(s.wasm_offset)?;
                Some((files.id(program, &path.display().to_string()), line, 0))
            });
            let Some((file, line, column)) = loc else {
                continue;
            };
            let at_prologue_end = prologue_end
                .is_some_and(|end| last.is_some() && code_offset.is_some_and(|o| o >= end));
            // One row per change of position: lldb looks for `prologue_end`
            // in the first few rows of a function only.
            if last == Some((file, line)) && last_column == column && !at_prologue_end {
                continue;
            }
            let row = program.row();
            // The first row covers the native prologue too, so a breakpoint
            // on the function's address has a line.
            row.address_offset = if last.is_none() {
                0
            } else {
                u64::from(s.start)
            };
            row.file = file;
            row.line = u64::from(line);
            row.column = u64::from(column);
            row.is_statement = line != 0 && last != Some((file, line));
            if at_prologue_end {
                row.prologue_end = true;
                row.is_statement = true;
                prologue_end = None;
            }
            program.generate_row();
            last = Some((file, line));
            last_column = column;
        }
        program.end_sequence(f.code.len() as u64);
    }
}

mod elf;
