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
use crate::listing::Listing;
use gimli::write::{
    Address, AttributeValue, DwarfUnit, EndianVec, LineProgram, LineString, Sections,
};
use gimli::{Encoding, Format, LineEncoding, RunTimeEndian};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use wasmscope_engine::Module;

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

fn register_image(image: Box<[u8]>, listing_path: Option<PathBuf>) -> JitRegistration {
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
    }
}

/// Builds and registers the debug image of `module` (compiled with debug
/// info). `module_path` names the module in the debugger and decides where
/// the generated listing goes.
pub fn register(module: &Module, module_path: &Path) -> Result<JitRegistration, String> {
    let info = module.info();
    let binary = module.binary();
    let dwarf = ModuleDwarf::parse(binary, info);
    let ranges = dwarf.as_ref().map(|d| d.line_ranges()).unwrap_or_default();
    let listing = Listing::generate(binary);
    let listing_path = listing
        .as_ref()
        .and_then(|l| write_listing(module_path, &l.text));
    let image = build_image(
        module,
        &ranges,
        dwarf.as_ref(),
        listing.as_ref().zip(listing_path.as_deref()),
        module_path,
    )?;
    Ok(register_image(image.into_boxed_slice(), listing_path))
}

/// Writes the listing to the cache dir (`$XDG_CACHE_HOME/wasmscope` or
/// `~/.cache/wasmscope`), named after the module and its content.
fn write_listing(module_path: &Path, text: &str) -> Option<PathBuf> {
    let base = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))?
        .join("wasmscope");
    std::fs::create_dir_all(&base).ok()?;
    let stem = module_path.file_stem()?.to_string_lossy();
    let hash = text.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
    });
    let path = base.join(format!("{stem}-{hash:016x}.wat"));
    if !path.exists() {
        std::fs::write(&path, text).ok()?;
    }
    Some(path)
}

/// Finds the source position of a code offset in the sorted line ranges.
fn lookup(ranges: &[LineRange], code_offset: u64) -> Option<&SourceLocation> {
    let i = ranges.partition_point(|r| r.start <= code_offset);
    let r = ranges.get(i.checked_sub(1)?)?;
    (code_offset < r.start + r.len.max(1)).then_some(&r.location)
}

fn build_image(
    module: &Module,
    ranges: &[LineRange],
    dwarf: Option<&ModuleDwarf>,
    listing: Option<(&Listing, &Path)>,
    module_path: &Path,
) -> Result<Vec<u8>, String> {
    let info = module.info();
    let funcs = module.functions_debug_info();
    let encoding = Encoding {
        format: Format::Dwarf32,
        version: 4,
        address_size: 8,
    };
    let mut unit = DwarfUnit::new(encoding);
    let name = module_path.display().to_string();
    let comp_dir = std::env::current_dir()
        .map(|d| d.display().to_string())
        .unwrap_or_default();
    let mut program = LineProgram::new(
        encoding,
        LineEncoding::default(),
        LineString::String(comp_dir.clone().into_bytes()),
        LineString::String(name.clone().into_bytes()),
        None,
    );
    let mut files: HashMap<String, gimli::write::FileId> = HashMap::new();
    let mut file_id = |program: &mut LineProgram, path: &str| -> gimli::write::FileId {
        if let Some(id) = files.get(path) {
            return *id;
        }
        let p = Path::new(path);
        let dir = p
            .parent()
            .map(|d| d.display().to_string())
            .unwrap_or_default();
        let base = p
            .file_name()
            .map(|f| f.to_string_lossy().into_owned())
            .unwrap_or_else(|| path.into());
        let dir_id = program.add_directory(LineString::String(dir.into_bytes()));
        let id = program.add_file(LineString::String(base.into_bytes()), dir_id, None);
        files.insert(path.to_string(), id);
        id
    };
    let glue = module.engine().trampoline_code();
    let (low, high) = funcs
        .iter()
        .map(|f| f.code.clone())
        .chain(glue.iter().map(|g| g.1.clone()))
        .fold((usize::MAX, 0), |(lo, hi), r| {
            (lo.min(r.start), hi.max(r.end))
        });
    let root = unit.unit.root();
    let e = unit.unit.get_mut(root);
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
        AttributeValue::Address(Address::Constant(low as u64)),
    );
    e.set(
        gimli::DW_AT_high_pc,
        AttributeValue::Udata((high.saturating_sub(low)) as u64),
    );
    let mut symbols = Vec::new();
    for f in funcs {
        let fname = info
            .func_name_by_index(f.func_index)
            .map(str::to_string)
            .unwrap_or_else(|| format!("wasm-function[{}]", f.func_index));
        symbols.push((fname.clone(), f.code.start as u64, f.code.len() as u64));
        program.begin_sequence(Some(Address::Constant(f.code.start as u64)));
        let mut last: Option<(gimli::write::FileId, u32)> = None;
        for s in &f.srclocs {
            let loc = dwarf
                .and_then(|d| d.code_offset(s.wasm_offset))
                .and_then(|off| lookup(ranges, off))
                .map(|l| (file_id(&mut program, &l.file), l.line, l.column));
            let loc = loc.or_else(|| {
                let (listing, path) = listing?;
                let line = listing.line_of(s.wasm_offset)?;
                Some((file_id(&mut program, &path.display().to_string()), line, 0))
            });
            let Some((file, line, column)) = loc else {
                continue;
            };
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
            row.is_statement = last != Some((file, line));
            program.generate_row();
            last = Some((file, line));
        }
        program.end_sequence(f.code.len() as u64);
        let sub = unit.unit.add(root, gimli::DW_TAG_subprogram);
        let e = unit.unit.get_mut(sub);
        e.set(
            gimli::DW_AT_name,
            AttributeValue::String(fname.into_bytes()),
        );
        e.set(gimli::DW_AT_external, AttributeValue::Flag(true));
        e.set(
            gimli::DW_AT_low_pc,
            AttributeValue::Address(Address::Constant(f.code.start as u64)),
        );
        e.set(
            gimli::DW_AT_high_pc,
            AttributeValue::Udata(f.code.len() as u64),
        );
        // The frame base is the frame pointer (all JIT code keeps it).
        let mut fb = gimli::write::Expression::new();
        fb.op_reg(gimli::X86_64::RBP);
        e.set(gimli::DW_AT_frame_base, AttributeValue::Exprloc(fb));
    }
    for (gname, range) in &glue {
        symbols.push((gname.clone(), range.start as u64, range.len() as u64));
        let sub = unit.unit.add(root, gimli::DW_TAG_subprogram);
        let e = unit.unit.get_mut(sub);
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
    unit.unit.line_program = program;
    let mut sections = Sections::new(EndianVec::new(RunTimeEndian::Little));
    unit.write(&mut sections)
        .map_err(|e| format!("writing DWARF: {e}"))?;
    let mut debug = Vec::new();
    sections
        .for_each(|id, data| {
            if !data.slice().is_empty() {
                debug.push((id.name().to_string(), data.slice().to_vec()));
            }
            Ok::<(), gimli::write::Error>(())
        })
        .map_err(|e| format!("writing DWARF: {e}"))?;
    Ok(crate::jit::elf::write(
        low as u64,
        (high - low) as u64,
        &debug,
        &symbols,
    ))
}

mod elf;
