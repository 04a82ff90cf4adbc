//! The module's DWARF rewritten for the JIT code: the same units, scopes,
//! variables and types, with native addresses and native locations, so a
//! native debugger (gdb, lldb through the GDB JIT interface) shows C
//! variables of wasm code as it would for native code.
//!
//! # Addresses
//! A subprogram covers its whole native function. Lexical blocks, inlined
//! subroutines and location-list entries cover the native instructions
//! whose wasm instruction lies in their wasm ranges (the engine's
//! native-to-wasm map), so they stay exact when Cranelift reorders code.
//!
//! # Locations
//! Native debuggers read memory and registers, not wasm state. Each wasm
//! location becomes a native one:
//! - a wasm local: the 16-byte slot where the function keeps it for
//!   debuggers (`FunctionDebugInfo::local_slots`: stored at entry and at
//!   every `local.set`, so always current), at a fixed offset from the frame
//!   pointer: `DW_OP_breg6 OFF`. A local without a slot (the compile did
//!   not keep it) makes the variable `<optimized out>`;
//! - a wasm global: its storage, reached from the instance's `VMContext`;
//! - a linear-memory address (`DW_OP_addr`, `DW_OP_fbreg`, `DW_OP_deref`
//!   of a wasm pointer): the address plus memory 0's base, read from the
//!   `VMContext` each time (the memory never moves, but this is also right
//!   for a memory that is not yet allocated when the image is registered).
//!
//!   The `VMContext` comes from a word the engine keeps per module
//!   (`Module::debug_vmctx_cell`): the module's latest instance. Reading it
//!   needs no frame, so globals print in any frame, even a host one.
//! - the operand stack, entry values, registers, branches, DWARF calls:
//!   not expressible here; the variable reads as `<optimized out>`.
//!
//! # Pointers
//! A C pointer in wasm32 holds a 4-byte linear-memory address; a native
//! debugger would dereference it as a native address. Two cases:
//! - a variable (local, argument, global) that holds a pointer reads as
//!   the native pointer to the same object: its location becomes a
//!   computed value, the wasm address plus the memory base (null stays
//!   null), and its type a native 8-byte pointer to the original target.
//!   `print p`, `print *p`, `p->field`, `p[3]`, `print text` (the string)
//!   and the arguments in `bt` work like native code in gdb and lldb;
//!   `print p` shows a native address, and a computed value is not an
//!   lvalue (`set var p = ...` is refused; `set var p->x = ...` works).
//! - a pointer stored in linear memory (a struct member, an array
//!   element, `*argv`) keeps its 4 bytes. Its pointer type is retargeted at
//!   a copy of its target type that carries `DW_AT_data_location` = the
//!   object's address plus the memory base. gdb reads any object of such a
//!   type at its data location, so `p->next->field`, `*n.next`,
//!   `n.next->next->value` and `*r.count` show the guest's data with no
//!   setup. gdb 13 resolves a data location only on the types it copies
//!   while resolving one (structs, unions, classes, arrays, subranges; on
//!   a plain scalar or an enum it stops on an internal error), so an
//!   integer, boolean or enum target is copied as a subrange of itself,
//!   which gdb prints as the target; a qualifier or typedef on the way is
//!   dropped in the copy. A character target is not copied: gdb prints a
//!   `char *` by reading a string at the pointer's raw value, which no
//!   DWARF can relocate, so `argv[1]` shows the wasm address it holds as
//!   unreadable ("Cannot access memory at address 0x114fc"): never a
//!   wrong value. Nor is a float (gdb widens a subrange through an
//!   integer, which would turn 5.5 into its bits): a stored `double *`
//!   is unreadable the same way.
//!   (gdb's Python could follow it, but gdb loads no script for a JIT
//!   image, nor from a binary outside its auto-load safe path.) A stored
//!   pointer to a pointer keeps its target the same way.
//! - a function pointer holds an index into table 0. A variable holding
//!   one reads as the native code of the function at that index (through
//!   the instance's table), so gdb and lldb print `0x7f.. <add>` as for
//!   native code; a stored one becomes the enumeration `wasm_function`
//!   whose enumerators name the functions the element segments put in the
//!   table as gdb shows a function pointer, value and name
//!   (`measure = 0x3 <perimeter>`): the value is the C pointer's own, and
//!   the name, not an identifier, cannot shadow the function's.
//! - every image has `char *__wasm_memory`, memory 0's native base
//!   ([`memory_variable`]), to follow by hand what the types cannot:
//!   `print __wasm_memory + (long)argv[1]` in gdb, `print *(double
//!   *)(__wasm_memory + r.side)` in lldb.
//!
//! # Calls
//! A compiled function takes the callee's and the caller's `VMContext`
//! before the wasm parameters. For gdb each subprogram gets two unnamed
//! parameters of type `struct wasm_vmctx *` first, so its type is its
//! native signature: `finish` reads the returned value from the native
//! return register, as for native code, and `call f(3)` is refused ("Too
//! few arguments in function call.") rather than run with 3 as the
//! context. A function whose wasm type has no single result (a struct
//! returned through memory) is `DW_CC_nocall`: gdb then says it cannot
//! determine the returned value. lldb shows unnamed parameters in every
//! frame, so its image has none; lldb runs `expression f(3)` anyway, the
//! call faults on the bad context, and lldb puts the process back.
//!
//! lldb (14 and 19) gives every pointer type the target's 8 bytes,
//! whatever `DW_AT_byte_size` says, and ignores `DW_AT_data_location`; a
//! 4-byte pointer stored in memory would read 4 bytes of its neighbour.
//! When lldb is the debugger attached ([`Debugger::attached`]), stored
//! data pointers become `wasm_addr32`, a 4-byte unsigned: the wasm
//! address, right but not followable; pointer variables, as above, are.
//!
//! # Robustness
//! Unknown forms, attributes and operations are dropped (a variable
//! without a location prints as optimized out); nothing here panics or
//! fails the transform on malformed DWARF.

use super::read::{ModuleDwarf, Reader};
use gimli::write::{
    self as w, Address, AttributeValue as W, Expression, FileId, LineProgram, LineString,
    UnitEntryId, UnitId,
};
use gimli::{constants as c, AttributeValue, Operation, Reader as _, Unit, X86_64};
use std::collections::HashMap;
use std::ops::Range;
use wasmscope_engine::wasmparser::{self, Payload, TypeRef};
use wasmscope_engine::{vmoffsets, FunctionDebugInfo};

/// The compiled module, as the transform needs it.
pub struct NativeModule<'a> {
    /// Defined functions, in index order.
    pub funcs: &'a [FunctionDebugInfo],
    /// Address of the word holding the latest instance's `VMContext`.
    pub vmctx_cell: u64,
    /// `VMContext` offset of memory 0's definition pointer, if any.
    pub memory_ptr: Option<u32>,
    /// `VMContext` offset of table 0's definition pointer, if any.
    pub table_ptr: Option<u32>,
    /// `VMContext` offset of each global's storage pointer.
    pub global_ptrs: Vec<u32>,
    /// Facts read from the binary.
    pub facts: ModuleFacts,
    /// The debugger the image is for.
    pub debugger: Debugger,
    /// For lldb: stored pointers as `wasm_ptr32<T>` (which `wasmscope
    /// lldb`'s extension follows) instead of the untyped `wasm_addr32`.
    pub typed_addresses: bool,
    /// Table 0's elements as the module initializes them: (index, name of
    /// the function there).
    pub table_functions: Vec<(u32, String)>,
}

/// Debuggers differ in the pointer types they can read (see the module
/// doc); the image is made for the one attached, gdb's when none is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Debugger {
    #[default]
    Gdb,
    Lldb,
}

impl Debugger {
    /// The debugger tracing this process: lldb if the tracer's name says
    /// so (`lldb`, `lldb-server`), gdb's flavour otherwise.
    pub fn attached() -> Debugger {
        let tracer = std::fs::read_to_string("/proc/self/status")
            .ok()
            .and_then(|s| {
                s.lines()
                    .find_map(|l| l.strip_prefix("TracerPid:"))
                    .and_then(|p| p.trim().parse::<u32>().ok())
            })
            .filter(|&pid| pid != 0);
        let name = tracer.and_then(|pid| std::fs::read_to_string(format!("/proc/{pid}/comm")).ok());
        match name {
            Some(n) if n.contains("lldb") => Debugger::Lldb,
            _ => Debugger::Gdb,
        }
    }
}

/// What the transform reads from the binary itself.
#[derive(Default)]
pub struct ModuleFacts {
    /// Each defined function's body as module offsets, in index order.
    pub bodies: Vec<Range<u32>>,
    /// Byte size of each defined function's locals (parameters first).
    pub local_sizes: Vec<Vec<u8>>,
    /// Byte size of each global's value (imported first).
    pub global_sizes: Vec<u8>,
    /// Number of results of each defined function.
    pub result_counts: Vec<usize>,
}

impl ModuleFacts {
    /// Reads a valid module's function bodies, locals and globals.
    pub fn read(binary: &[u8]) -> ModuleFacts {
        fn size(t: wasmparser::ValType) -> u8 {
            match t {
                wasmparser::ValType::I32 | wasmparser::ValType::F32 => 4,
                wasmparser::ValType::V128 => 16,
                _ => 8,
            }
        }
        let mut facts = ModuleFacts::default();
        // Per type: its parameters' sizes and its number of results.
        let mut types: Vec<(Vec<u8>, usize)> = Vec::new();
        let mut func_types: Vec<u32> = Vec::new();
        for payload in wasmparser::Parser::new(0).parse_all(binary) {
            let Ok(payload) = payload else { break };
            match payload {
                Payload::TypeSection(s) => {
                    for t in s.into_iter_err_on_gc_types() {
                        let t = t
                            .map(|t| {
                                (
                                    t.params().iter().map(|&p| size(p)).collect(),
                                    t.results().len(),
                                )
                            })
                            .unwrap_or_default();
                        types.push(t);
                    }
                }
                Payload::ImportSection(s) => {
                    for i in s.into_iter().flatten() {
                        if let TypeRef::Global(g) = i.ty {
                            facts.global_sizes.push(size(g.content_type));
                        }
                    }
                }
                Payload::FunctionSection(s) => func_types.extend(s.into_iter().flatten()),
                Payload::GlobalSection(s) => {
                    for g in s.into_iter().flatten() {
                        facts.global_sizes.push(size(g.ty.content_type));
                    }
                }
                Payload::CodeSectionEntry(body) => {
                    let i = facts.bodies.len();
                    let range = body.range();
                    facts.bodies.push(range.start as u32..range.end as u32);
                    let (mut locals, results) = func_types
                        .get(i)
                        .and_then(|&t| types.get(t as usize))
                        .cloned()
                        .unwrap_or_default();
                    facts.result_counts.push(results);
                    if let Ok(reader) = body.get_locals_reader() {
                        for (n, t) in reader.into_iter().flatten() {
                            locals.extend(std::iter::repeat_n(size(t), n as usize));
                        }
                    }
                    facts.local_sizes.push(locals);
                }
                _ => {}
            }
        }
        facts
    }
}

impl NativeModule<'_> {
    /// The defined function (index into `funcs`) whose body contains a
    /// module offset; DWARF's `DW_AT_low_pc` of a function points at its
    /// body's local declarations, a few bytes before the first
    /// instruction.
    pub fn function_at(&self, module_offset: u32) -> Option<usize> {
        let bodies = &self.facts.bodies;
        let i = bodies.partition_point(|b| b.end <= module_offset);
        let b = bodies.get(i)?;
        (b.start.saturating_sub(5) <= module_offset && i < self.funcs.len()).then_some(i)
    }

    /// The native ranges of function `f` whose wasm instruction lies in
    /// `wasm` (module offsets), merged and in address order.
    fn native_ranges(&self, f: usize, wasm: &Range<u32>) -> Vec<Range<u64>> {
        let func = &self.funcs[f];
        let base = func.code.start as u64;
        let mut out: Vec<Range<u64>> = Vec::new();
        for s in &func.srclocs {
            if !wasm.contains(&s.wasm_offset) || s.start >= s.end {
                continue;
            }
            let r = base + u64::from(s.start)..base + u64::from(s.end);
            match out.last_mut() {
                Some(last) if last.end == r.start => last.end = r.end,
                _ => out.push(r),
            }
        }
        out
    }

    /// Pushes the `VMContext` of the module's latest instance.
    fn vmctx(&self, e: &mut Expression) {
        // A placeholder the image's writer turns into the cell's address
        // pushed as a constant, remembered for relocation
        // (`jit::DwarfWriter`).
        e.op_addr(Address::Symbol {
            symbol: crate::jit::image_cache::VMCTX_CELL_SYMBOL,
            addend: 0,
        });
        e.op_deref();
    }

    /// Pushes memory 0's base address.
    fn memory_base(&self, e: &mut Expression) -> Option<()> {
        let ptr = self.memory_ptr?;
        self.vmctx(e);
        e.op_plus_uconst(u64::from(ptr));
        e.op_deref();
        e.op_deref();
        Some(())
    }

    /// Pushes the address of table 0's `VMTableDefinition`.
    fn table(&self, e: &mut Expression) -> Option<()> {
        let ptr = self.table_ptr?;
        self.vmctx(e);
        e.op_plus_uconst(u64::from(ptr));
        e.op_deref();
        Some(())
    }

    /// Pushes the address of global `index`'s storage.
    fn global_storage(&self, e: &mut Expression, index: u32) -> Option<()> {
        let ptr = *self.global_ptrs.get(index as usize)?;
        self.vmctx(e);
        e.op_plus_uconst(u64::from(ptr));
        e.op_deref();
        Some(())
    }

    /// The `DW_AT_data_location` of a pointee copy: its wasm address plus
    /// the memory base.
    fn data_location(&self) -> Option<Expression> {
        let mut e = Expression::new();
        e.op(c::DW_OP_push_object_address);
        self.memory_base(&mut e)?;
        e.op(c::DW_OP_plus);
        Some(e)
    }
}

/// What converting a variable's attributes needs.
#[derive(Clone, Copy)]
struct Var<'f> {
    frame: Option<&'f Frame>,
    /// The wasm pointer the variable holds, if it holds one.
    pointer: Option<WasmPointer>,
    /// The variable's size in bytes, when its type says.
    size: Option<u64>,
}

/// The pointer or reference a variable holds.
#[derive(Clone, Copy)]
struct WasmPointer {
    /// Its byte size: 4 in wasm32.
    size: u8,
    /// It points to a function: it holds an index into table 0.
    function: bool,
}

/// The native types made for pointer variables: a variable's type to its
/// native version, a native pointer's target to its copy.
#[derive(Default)]
struct NativeTypes {
    types: HashMap<UnitEntryId, UnitEntryId>,
    targets: HashMap<UnitEntryId, UnitEntryId>,
}

/// The function a variable belongs to, for its locals and frame base.
#[derive(Clone)]
struct Frame {
    func: usize,
    frame_base: Option<gimli::Expression<Reader>>,
}

/// A unit of the output, for the caller to complete with line rows.
pub struct OutUnit {
    pub id: UnitId,
    /// Defined functions (indices into `NativeModule::funcs`) whose code
    /// this unit's subprograms describe; their line rows belong here.
    pub funcs: Vec<usize>,
    pub files: Files,
}

/// A line program's file table, keyed by full path.
#[derive(Default)]
pub struct Files(HashMap<String, FileId>);

impl Files {
    pub fn id(&mut self, program: &mut LineProgram, path: &str) -> FileId {
        if let Some(id) = self.0.get(path) {
            return *id;
        }
        let p = std::path::Path::new(path);
        let dir = p
            .parent()
            .map(|d| d.display().to_string())
            .unwrap_or_default();
        let base = p
            .file_name()
            .map(|f| f.to_string_lossy().into_owned())
            .unwrap_or_else(|| path.into());
        // gimli refuses (panics on) an empty name, an empty directory
        // after the first and a NUL byte: damaged DWARF can give each.
        let clean = |s: String| s.replace('\0', "?").into_bytes();
        let dir_id = if dir.is_empty() {
            program.default_directory()
        } else {
            program.add_directory(LineString::String(clean(dir)))
        };
        let base = if base.is_empty() {
            "<unnamed>".to_string()
        } else {
            base
        };
        let id = program.add_file(LineString::String(clean(base)), dir_id, None);
        self.0.insert(path.to_string(), id);
        id
    }
}

/// The output encoding: DWARF 4, 64-bit addresses.
pub const ENCODING: gimli::Encoding = gimli::Encoding {
    format: gimli::Format::Dwarf32,
    version: 4,
    address_size: 8,
};

/// Rewrites every compile unit of `dwarf` into `out`.
pub fn transform(dwarf: &ModuleDwarf, native: &NativeModule, out: &mut w::Dwarf) -> Vec<OutUnit> {
    let mut result = Vec::new();
    // Absolute .debug_info offsets of every copied entry, for
    // cross-unit references.
    let mut global: HashMap<usize, (UnitId, UnitEntryId)> = HashMap::new();
    let mut cross_refs = Vec::new();
    for unit in dwarf.units() {
        let mut t = UnitTransform::new(dwarf, unit, native, out);
        t.copy_entries();
        t.resolve_unit_refs();
        t.native_pointer_types();
        t.retarget_pointers();
        t.set_unit_ranges();
        let UnitTransform {
            id,
            funcs,
            files,
            map,
            cross,
            ..
        } = t;
        if let Some(base) = unit.header.offset().as_debug_info_offset() {
            for (off, entry) in map {
                global.insert(base.0 + off, (id, entry));
            }
        }
        cross_refs.extend(cross.into_iter().map(|(e, n, o)| (id, e, n, o)));
        result.push(OutUnit { id, funcs, files });
    }
    for (unit, entry, name, target) in cross_refs {
        if let Some(&(u, e)) = global.get(&target) {
            let value = if u == unit {
                W::UnitRef(e)
            } else {
                W::DebugInfoRef(w::Reference::Entry(u, e))
            };
            out.units.get_mut(unit).get_mut(entry).set(name, value);
        }
    }
    result
}

struct UnitTransform<'a> {
    dwarf: &'a ModuleDwarf,
    unit: &'a Unit<Reader>,
    native: &'a NativeModule<'a>,
    out: &'a mut w::Dwarf,
    id: UnitId,
    /// Read entry offset (within the unit) to its copy.
    map: HashMap<usize, UnitEntryId>,
    /// References to resolve once every entry exists: (entry, attribute,
    /// target offset within the unit).
    refs: Vec<(UnitEntryId, c::DwAt, usize)>,
    /// References into other units: (entry, attribute, .debug_info offset).
    cross: Vec<(UnitEntryId, c::DwAt, usize)>,
    /// Pointer and reference types.
    pointers: Vec<UnitEntryId>,
    /// The wasm pointers copied under a native pointer's target (`char
    /// **` to `char *`): each gets pointees of its own (see
    /// `native_target`).
    chain_pointers: std::collections::HashSet<UnitEntryId>,
    /// Variables that hold a pointer; they get native pointer types.
    pointer_vars: Vec<UnitEntryId>,
    funcs: Vec<usize>,
    files: Files,
    /// The read line program's file index to our file, on first use.
    file_map: HashMap<u64, Option<FileId>>,
    /// `struct wasm_vmctx *`, the type of every function's hidden
    /// parameters, once made.
    vmctx_pointer: Option<UnitEntryId>,
}

impl<'a> UnitTransform<'a> {
    fn new(
        dwarf: &'a ModuleDwarf,
        unit: &'a Unit<Reader>,
        native: &'a NativeModule<'a>,
        out: &'a mut w::Dwarf,
    ) -> Self {
        let string = |v: Option<Reader>| {
            v.and_then(|s| s.to_string_lossy().ok().map(|s| s.into_owned()))
                .unwrap_or_default()
        };
        // No NUL and a name (gimli panics otherwise), as in `Files::id`.
        let comp_dir = string(unit.comp_dir.clone()).replace('\0', "?");
        let name = match string(unit.name.clone()).replace('\0', "?") {
            n if n.is_empty() => "<unnamed>".to_string(),
            n => n,
        };
        let program = LineProgram::new(
            ENCODING,
            gimli::LineEncoding::default(),
            LineString::String(comp_dir.into_bytes()),
            LineString::String(name.into_bytes()),
            None,
        );
        let id = out.units.add(w::Unit::new(ENCODING, program));
        UnitTransform {
            dwarf,
            unit,
            native,
            out,
            id,
            map: HashMap::new(),
            refs: Vec::new(),
            cross: Vec::new(),
            pointers: Vec::new(),
            chain_pointers: Default::default(),
            pointer_vars: Vec::new(),
            funcs: Vec::new(),
            files: Files::default(),
            file_map: HashMap::new(),
            vmctx_pointer: None,
        }
    }

    fn wunit(&mut self) -> &mut w::Unit {
        self.out.units.get_mut(self.id)
    }

    /// Copies the entry tree, converting attributes; references are
    /// recorded for `resolve_unit_refs`.
    fn copy_entries(&mut self) {
        let unit = self.unit;
        let mut cursor = unit.entries();
        // (depth, copy, the frame in effect below it) of the open entries.
        let mut stack: Vec<(isize, UnitEntryId, Option<Frame>)> = Vec::new();
        let mut depth = 0isize;
        // Depth at which a skipped subtree started.
        let mut skipping: Option<isize> = None;
        while let Ok(Some((delta, entry))) = cursor.next_dfs() {
            depth += delta;
            if skipping.is_some_and(|d| depth > d) {
                continue;
            }
            skipping = None;
            while stack.last().is_some_and(|s| s.0 >= depth) {
                stack.pop();
            }
            let tag = entry.tag();
            if matches!(tag, c::DW_TAG_call_site | c::DW_TAG_GNU_call_site) {
                skipping = Some(depth);
                continue;
            }
            let parent_frame = stack.last().and_then(|s| s.2.clone());
            let id = match stack.last() {
                None => self.wunit().root(),
                Some(&(_, parent, _)) => self.wunit().add(parent, tag),
            };
            self.map.insert(entry.offset().0, id);
            if is_pointer(tag) {
                self.pointers.push(id);
                // Without a size a pointer has the unit's address size:
                // 4 in the module, 8 in the image.
                if entry.attr(c::DW_AT_byte_size).ok().flatten().is_none() {
                    let size = self.unit.encoding().address_size;
                    self.wunit()
                        .get_mut(id)
                        .set(c::DW_AT_byte_size, W::Data1(size));
                }
            }
            let frame = self.scope(entry, id, parent_frame);
            let variable = matches!(tag, c::DW_TAG_variable | c::DW_TAG_formal_parameter);
            let var = Var {
                frame: frame.as_ref(),
                pointer: variable.then(|| self.wasm_pointer(entry)).flatten(),
                size: variable
                    .then(|| self.type_size(self.variable_type(entry)?, 0))
                    .flatten(),
            };
            let mut attrs = entry.attrs();
            while let Ok(Some(attr)) = attrs.next() {
                self.copy_attr(id, tag, attr.name(), attr.value(), var);
            }
            if tag == c::DW_TAG_namespace && self.native.debugger == Debugger::Lldb {
                self.hide_libcxx_namespace(id);
            }
            stack.push((depth, id, frame));
        }
    }

    /// For lldb: libc++'s inline namespace (`std::__1`) becomes
    /// `std::__1_wasm32`, still inline, so lldb's own libc++ formatters,
    /// which match `std::__<alnum>::`, leave the image's types alone: they
    /// read the stored pointers (`wasm_addr32` here) as native ones, show
    /// wrong sizes (`size=0` for a vector of 3) and lldb 14 crashes in its
    /// `unordered_map` formatter. lldb shows the names without the inline
    /// namespace as before; `wasmscope lldb`'s extension formats them.
    fn hide_libcxx_namespace(&mut self, id: UnitEntryId) {
        let name = match self.out.units.get(self.id).get(id).get(c::DW_AT_name) {
            Some(W::String(n)) => n.clone(),
            Some(W::StringRef(r)) => self.out.strings.get(*r).to_vec(),
            _ => return,
        };
        if matches!(name.as_slice(), b"__1" | b"__2") {
            let mut renamed = name;
            renamed.extend_from_slice(b"_wasm32");
            self.wunit()
                .get_mut(id)
                .set(c::DW_AT_name, W::String(renamed));
        }
    }

    /// The pointer a variable holds: its type, through typedefs and
    /// qualifiers, is a pointer or reference. `None` for a variable with a
    /// constant value (the constant is the wasm address; it keeps its type).
    fn wasm_pointer(
        &self,
        entry: &gimli::DebuggingInformationEntry<Reader>,
    ) -> Option<WasmPointer> {
        if entry.attr(c::DW_AT_const_value).ok().flatten().is_some() {
            return None;
        }
        let type_of =
            |e: &gimli::DebuggingInformationEntry<Reader>| match e.attr_value(c::DW_AT_type) {
                Ok(Some(AttributeValue::UnitRef(o))) => Some(o),
                _ => None,
            };
        let mut t = self.variable_type(entry)?;
        for _ in 0..16 {
            let e = self.unit.entry(t).ok()?;
            match e.tag() {
                q if is_pointer(q) => {
                    let size = match e.attr_value(c::DW_AT_byte_size) {
                        Ok(Some(v)) => v.udata_value()?,
                        _ => u64::from(self.unit.encoding().address_size),
                    };
                    return matches!(size, 4 | 8).then(|| WasmPointer {
                        size: size as u8,
                        function: type_of(&e).is_some_and(|p| self.is_function(p)),
                    });
                }
                q if is_qualifier(q) => t = type_of(&e)?,
                _ => return None,
            }
        }
        None
    }

    /// A variable's type: its own, or for a concrete instance of an
    /// inlined or out-of-line function's variable (only a location and
    /// `DW_AT_abstract_origin`), its abstract origin's.
    fn variable_type(
        &self,
        entry: &gimli::DebuggingInformationEntry<Reader>,
    ) -> Option<gimli::UnitOffset> {
        let mut e = entry.clone();
        for _ in 0..4 {
            if let Ok(Some(AttributeValue::UnitRef(o))) = e.attr_value(c::DW_AT_type) {
                return Some(o);
            }
            match e.attr_value(c::DW_AT_abstract_origin) {
                Ok(Some(AttributeValue::UnitRef(o))) => e = self.unit.entry(o).ok()?,
                _ => return None,
            }
        }
        None
    }

    /// The byte size of type `t`: through typedefs and qualifiers; an
    /// array's element size times its element count.
    fn type_size(&self, t: gimli::UnitOffset, depth: usize) -> Option<u64> {
        if depth > 16 {
            return None;
        }
        let e = self.unit.entry(t).ok()?;
        if let Ok(Some(v)) = e.attr_value(c::DW_AT_byte_size) {
            return v.udata_value();
        }
        let inner = match e.attr_value(c::DW_AT_type) {
            Ok(Some(AttributeValue::UnitRef(o))) => Some(o),
            _ => None,
        };
        match e.tag() {
            q if is_qualifier(q) => self.type_size(inner?, depth + 1),
            q if is_pointer(q) => Some(u64::from(self.unit.encoding().address_size)),
            c::DW_TAG_array_type => {
                let element = self.type_size(inner?, depth + 1)?;
                let mut count = 1u64;
                let mut tree = self.unit.entries_tree(Some(t)).ok()?;
                let mut children = tree.root().ok()?.children();
                while let Ok(Some(child)) = children.next() {
                    let sub = child.entry();
                    if sub.tag() != c::DW_TAG_subrange_type {
                        continue;
                    }
                    let n = match sub.attr_value(c::DW_AT_count).ok().flatten() {
                        Some(v) => v.udata_value()?,
                        None => sub
                            .attr_value(c::DW_AT_upper_bound)
                            .ok()
                            .flatten()?
                            .udata_value()?
                            .checked_add(1)?,
                    };
                    count = count.checked_mul(n)?;
                }
                element.checked_mul(count)
            }
            _ => None,
        }
    }

    /// Whether type `t`, through typedefs and qualifiers, is a function type.
    fn is_function(&self, mut t: gimli::UnitOffset) -> bool {
        for _ in 0..16 {
            let Ok(e) = self.unit.entry(t) else {
                return false;
            };
            match e.tag() {
                c::DW_TAG_subroutine_type => return true,
                q if is_qualifier(q) => match e.attr_value(c::DW_AT_type) {
                    Ok(Some(AttributeValue::UnitRef(o))) => t = o,
                    _ => return false,
                },
                _ => return false,
            }
        }
        false
    }

    /// Gives each variable that holds a pointer the native pointer type
    /// its computed value has: its type with the pointer (under any
    /// typedefs and qualifiers) replaced by an 8-byte one with the same
    /// target. Runs before `retarget_pointers`, on the original targets.
    fn native_pointer_types(&mut self) {
        let vars = std::mem::take(&mut self.pointer_vars);
        let mut done = NativeTypes::default();
        for var in vars {
            let Some(&W::UnitRef(t)) = self.wunit().get(var).get(c::DW_AT_type) else {
                continue;
            };
            let native = self.native_type(t, &mut done, 0);
            self.wunit()
                .get_mut(var)
                .set(c::DW_AT_type, W::UnitRef(native));
        }
    }

    /// `t` (a variable's type, down to its pointer) with a native pointer.
    fn native_type(&mut self, t: UnitEntryId, done: &mut NativeTypes, depth: u32) -> UnitEntryId {
        if let Some(&native) = done.types.get(&t) {
            return native;
        }
        if depth > 16 {
            return t;
        }
        let unit = self.wunit();
        let root = unit.root();
        let tag = unit.get(t).tag();
        let native = deep_copy(unit, t, root, false);
        let inner = match unit.get(native).get(c::DW_AT_type) {
            Some(&W::UnitRef(inner)) => Some(inner),
            _ => None,
        };
        if is_pointer(tag) {
            unit.get_mut(native)
                .set(c::DW_AT_byte_size, W::Data1(ENCODING.address_size));
            if let Some(target) = inner {
                let target = self.native_target(target, &mut done.targets, 0);
                self.wunit()
                    .get_mut(native)
                    .set(c::DW_AT_type, W::UnitRef(target));
            }
        } else if let Some(inner) = inner {
            let inner = self.native_type(inner, done, depth + 1);
            self.wunit()
                .get_mut(native)
                .set(c::DW_AT_type, W::UnitRef(inner));
        }
        done.types.insert(t, native);
        native
    }

    /// The target of a native pointer: a type no wasm pointer type
    /// targets, since gdb keeps one pointer type per target type (a 4-byte
    /// and an 8-byte pointer to one `char` would get one size).
    /// Aggregates need no copy: wasm pointers target their data-location
    /// copies (`retarget_pointers`). lldb needs none at all (its pointers
    /// all have the target's size, and stored ones become integers), and a
    /// copied typedef or base type would make its name ambiguous in lldb
    /// expressions (`(node *)`).
    fn native_target(
        &mut self,
        t: UnitEntryId,
        done: &mut HashMap<UnitEntryId, UnitEntryId>,
        depth: u32,
    ) -> UnitEntryId {
        if let Some(&copy) = done.get(&t) {
            return copy;
        }
        if depth > 16 || self.native.debugger == Debugger::Lldb {
            return t;
        }
        let unit = self.wunit();
        let root = unit.root();
        let copy = match unit.get(t).tag() {
            c::DW_TAG_structure_type
            | c::DW_TAG_union_type
            | c::DW_TAG_class_type
            | c::DW_TAG_array_type
            | c::DW_TAG_enumeration_type => t,
            q if is_qualifier(q) => {
                let copy = deep_copy(unit, t, root, false);
                if let Some(&W::UnitRef(inner)) = unit.get(copy).get(c::DW_AT_type) {
                    let inner = self.native_target(inner, done, depth + 1);
                    self.wunit()
                        .get_mut(copy)
                        .set(c::DW_AT_type, W::UnitRef(inner));
                }
                copy
            }
            // A wasm pointer (`char **` to `char *`): retargeted like any,
            // but its whole chain is copied down to a pointee of its own.
            // gdb keeps one pointer type per target type, so a copy that
            // shared its target with a stored pointer of the same type
            // would be that pointer's type to gdb, and the native pointer
            // to it would become the 8-byte type of every stored `T **`
            // (an array of them would read 8 bytes per element).
            q if is_pointer(q) => {
                let copy = deep_copy(unit, t, root, false);
                self.pointers.push(copy);
                self.chain_pointers.insert(copy);
                if let Some(&W::UnitRef(inner)) = self.wunit().get(copy).get(c::DW_AT_type) {
                    let inner = self.native_target(inner, done, depth + 1);
                    self.wunit()
                        .get_mut(copy)
                        .set(c::DW_AT_type, W::UnitRef(inner));
                }
                copy
            }
            _ => deep_copy(unit, t, root, true),
        };
        done.insert(t, copy);
        copy
    }

    /// Sets a scope's native addresses; returns the frame for the entries
    /// below it.
    fn scope(
        &mut self,
        entry: &gimli::DebuggingInformationEntry<Reader>,
        id: UnitEntryId,
        parent: Option<Frame>,
    ) -> Option<Frame> {
        let tag = entry.tag();
        if tag == c::DW_TAG_subprogram {
            let low = entry
                .attr_value(c::DW_AT_low_pc)
                .ok()
                .flatten()
                .and_then(|v| self.dwarf.dwarf.attr_address(self.unit, v).ok().flatten());
            let func = low
                .and_then(|l| self.dwarf.live_module_offset(l))
                .and_then(|l| self.native.function_at(l));
            let Some(func) = func else {
                return parent;
            };
            let code = self.native.funcs[func].code.clone();
            // A C function returns its value in the native return
            // register when the wasm function has one result; a struct
            // returned through memory (no result) cannot be read back.
            let returns = self.returns_value(entry);
            let results = self.native.facts.result_counts.get(func).copied();
            let callable = !returns || results == Some(1);
            native_function(self.wunit().get_mut(id), &code, callable);
            self.hidden_parameters(id);
            if !self.funcs.contains(&func) {
                self.funcs.push(func);
            }
            let frame_base = match entry.attr_value(c::DW_AT_frame_base) {
                Ok(Some(AttributeValue::Exprloc(e))) => Some(e),
                _ => None,
            };
            return Some(Frame { func, frame_base });
        }
        let frame = parent?;
        if matches!(
            tag,
            c::DW_TAG_lexical_block | c::DW_TAG_inlined_subroutine | c::DW_TAG_try_block
        ) {
            let mut native: Vec<Range<u64>> = Vec::new();
            if let Ok(mut ranges) = self.dwarf.dwarf.die_ranges(self.unit, entry) {
                while let Ok(Some(r)) = ranges.next() {
                    if let Some(wasm) = self.wasm_range(r.begin, r.end) {
                        native.extend(self.native.native_ranges(frame.func, &wasm));
                    }
                }
            }
            native.sort_by_key(|r| r.start);
            self.set_ranges(id, native);
        }
        Some(frame)
    }

    /// Whether a subprogram returns a value: it has a type, itself or
    /// through its abstract origin or specification (as debuggers read it).
    fn returns_value(&self, entry: &gimli::DebuggingInformationEntry<Reader>) -> bool {
        let mut entry = entry.clone();
        for _ in 0..4 {
            if entry.attr(c::DW_AT_type).ok().flatten().is_some() {
                return true;
            }
            let origin = [c::DW_AT_abstract_origin, c::DW_AT_specification]
                .into_iter()
                .find_map(|a| match entry.attr_value(a) {
                    Ok(Some(AttributeValue::UnitRef(o))) => Some(o),
                    _ => None,
                });
            match origin.and_then(|o| self.unit.entry(o).ok()) {
                Some(e) => entry = e,
                None => return false,
            }
        }
        false
    }

    /// The two parameters every compiled function takes before the wasm
    /// ones, the callee's and the caller's `VMContext`, as unnamed
    /// parameters of `subprogram`: debuggers show no variable for them,
    /// but the function's type is its native signature, so gdb and lldb
    /// refuse `call f(3)` ("too few arguments") instead of calling it with
    /// 3 as the context. gdb only: lldb shows unnamed parameters in every
    /// frame (`(null)=<unavailable>`), artificial or not, and calls a
    /// function whatever its type says (the call faults, and lldb puts
    /// the process back as it was).
    fn hidden_parameters(&mut self, subprogram: UnitEntryId) {
        if self.native.debugger == Debugger::Lldb {
            return;
        }
        let pointer = match self.vmctx_pointer {
            Some(p) => p,
            None => {
                let unit = self.wunit();
                let root = unit.root();
                let s = unit.add(root, c::DW_TAG_structure_type);
                let name = W::String(b"wasm_vmctx".to_vec());
                unit.get_mut(s).set(c::DW_AT_name, name);
                unit.get_mut(s).set(c::DW_AT_declaration, W::Flag(true));
                let p = native_pointer_to(unit, s);
                *self.vmctx_pointer.insert(p)
            }
        };
        let unit = self.wunit();
        for _ in 0..2 {
            let param = unit.add(subprogram, c::DW_TAG_formal_parameter);
            unit.get_mut(param).set(c::DW_AT_type, W::UnitRef(pointer));
        }
    }

    /// `DW_AT_low_pc`/`DW_AT_high_pc` for one range, `DW_AT_ranges` for
    /// several; nothing for none (the scope covers no code).
    fn set_ranges(&mut self, id: UnitEntryId, ranges: Vec<Range<u64>>) {
        let unit = self.wunit();
        match ranges.as_slice() {
            [] => {}
            [r] => {
                let e = unit.get_mut(id);
                e.set(c::DW_AT_low_pc, W::Address(Address::Constant(r.start)));
                e.set(c::DW_AT_high_pc, W::Udata(r.end - r.start));
            }
            _ => {
                let list = range_list(unit, &ranges);
                unit.get_mut(id).set(c::DW_AT_ranges, W::RangeListRef(list));
            }
        }
    }

    fn copy_attr(
        &mut self,
        id: UnitEntryId,
        tag: c::DwTag,
        name: c::DwAt,
        value: AttributeValue<Reader>,
        var: Var,
    ) {
        let converted = match name {
            // Addresses and ranges are set by `scope`; the line program is
            // the caller's; the rest name read-side tables.
            c::DW_AT_low_pc
            | c::DW_AT_high_pc
            | c::DW_AT_ranges
            | c::DW_AT_entry_pc
            | c::DW_AT_frame_base
            | c::DW_AT_stmt_list
            | c::DW_AT_sibling
            | c::DW_AT_str_offsets_base
            | c::DW_AT_addr_base
            | c::DW_AT_rnglists_base
            | c::DW_AT_loclists_base
            | c::DW_AT_GNU_all_call_sites
            | c::DW_AT_call_all_calls => return,
            // Subprograms are marked not callable (see `scope`).
            c::DW_AT_calling_convention if tag == c::DW_TAG_subprogram => return,
            c::DW_AT_location => {
                self.location(id, value, var);
                return;
            }
            c::DW_AT_type if var.pointer.is_some() => {
                self.pointer_vars.push(id);
                match self.convert(id, name, value) {
                    Some(v) => v,
                    None => return,
                }
            }
            c::DW_AT_decl_file | c::DW_AT_call_file => match value {
                AttributeValue::FileIndex(i) => W::FileIndex(self.file(i)),
                _ => return,
            },
            _ => match self.convert(id, name, value) {
                Some(v) => v,
                None => return,
            },
        };
        self.wunit().get_mut(id).set(name, converted);
    }

    /// Attribute values with no address or location meaning.
    fn convert(
        &mut self,
        id: UnitEntryId,
        name: c::DwAt,
        value: AttributeValue<Reader>,
    ) -> Option<W> {
        Some(match value {
            AttributeValue::Block(b) => W::Block(b.to_slice().ok()?.into_owned()),
            AttributeValue::Data1(v) => W::Data1(v),
            AttributeValue::Data2(v) => W::Data2(v),
            AttributeValue::Data4(v) => W::Data4(v),
            AttributeValue::Data8(v) => W::Data8(v),
            AttributeValue::Sdata(v) => W::Sdata(v),
            AttributeValue::Udata(v) => W::Udata(v),
            AttributeValue::Flag(v) => W::Flag(v),
            AttributeValue::Exprloc(e) => W::Exprloc(plain_expression(&e, self.unit.encoding())?),
            AttributeValue::UnitRef(o) => {
                self.refs.push((id, name, o.0));
                return None;
            }
            AttributeValue::DebugInfoRef(o) => {
                self.cross.push((id, name, o.0));
                return None;
            }
            AttributeValue::String(_)
            | AttributeValue::DebugStrRef(_)
            | AttributeValue::DebugStrOffsetsIndex(_)
            | AttributeValue::DebugLineStrRef(_) => {
                let s = self.dwarf.dwarf.attr_string(self.unit, value).ok()?;
                let s = s.to_slice().ok()?.into_owned();
                W::StringRef(self.out.strings.add(s))
            }
            AttributeValue::Encoding(v) => W::Encoding(v),
            AttributeValue::DecimalSign(v) => W::DecimalSign(v),
            AttributeValue::Endianity(v) => W::Endianity(v),
            AttributeValue::Accessibility(v) => W::Accessibility(v),
            AttributeValue::Visibility(v) => W::Visibility(v),
            AttributeValue::Virtuality(v) => W::Virtuality(v),
            AttributeValue::Language(v) => W::Language(v),
            AttributeValue::AddressClass(v) => W::AddressClass(v),
            AttributeValue::IdentifierCase(v) => W::IdentifierCase(v),
            AttributeValue::CallingConvention(v) => W::CallingConvention(v),
            AttributeValue::Inline(v) => W::Inline(v),
            AttributeValue::Ordering(v) => W::Ordering(v),
            _ => return None,
        })
    }

    /// Our file for the read line program's file `index`.
    fn file(&mut self, index: u64) -> Option<FileId> {
        if let Some(f) = self.file_map.get(&index) {
            return *f;
        }
        let path = self.file_path(index);
        let id = path.map(|p| {
            let program = &mut self.out.units.get_mut(self.id).line_program;
            self.files.id(program, &p)
        });
        self.file_map.insert(index, id);
        id
    }

    /// The full path of a file of the unit's line program, built as
    /// addr2line builds the paths of line rows (so both name one file).
    fn file_path(&self, index: u64) -> Option<String> {
        let program = self.unit.line_program.as_ref()?;
        let header = program.header();
        let file = header.file(index)?;
        let string = |v| {
            self.dwarf
                .dwarf
                .attr_string(self.unit, v)
                .ok()
                .and_then(|s| s.to_string_lossy().ok().map(|s| s.into_owned()))
        };
        let mut path = self
            .unit
            .comp_dir
            .as_ref()
            .and_then(|d| d.to_string_lossy().ok().map(|s| s.into_owned()))
            .unwrap_or_default();
        if file.directory_index() != 0 {
            if let Some(dir) = file.directory(header).and_then(string) {
                push_path(&mut path, &dir);
            }
        }
        push_path(&mut path, &string(file.path_name())?);
        Some(path)
    }

    /// `DW_AT_location`, an expression or a location list, made native;
    /// left out (the variable is optimized out) where it cannot be.
    fn location(&mut self, id: UnitEntryId, value: AttributeValue<Reader>, var: Var) {
        let Var {
            frame,
            pointer,
            size,
        } = var;
        let located = match value {
            AttributeValue::Exprloc(e) => match self.expression(&e, frame, pointer, size) {
                Some(x) => W::Exprloc(x),
                None => return,
            },
            _ => {
                let Some(frame) = frame else { return };
                let Ok(Some(offset)) = self.dwarf.dwarf.attr_locations_offset(self.unit, value)
                else {
                    return;
                };
                let Ok(mut entries) = self.dwarf.dwarf.locations(self.unit, offset) else {
                    return;
                };
                let mut list = Vec::new();
                while let Ok(Some(entry)) = entries.next() {
                    let Some(x) = self.expression(&entry.data, Some(frame), pointer, size) else {
                        continue;
                    };
                    let Some(wasm) = self.wasm_range(entry.range.begin, entry.range.end) else {
                        continue;
                    };
                    for r in self.native.native_ranges(frame.func, &wasm) {
                        list.push(w::Location::StartEnd {
                            begin: Address::Constant(r.start),
                            end: Address::Constant(r.end),
                            data: x.clone(),
                        });
                    }
                }
                if list.is_empty() {
                    return;
                }
                W::LocationListRef(self.wunit().locations.add(w::LocationList(list)))
            }
        };
        self.wunit().get_mut(id).set(c::DW_AT_location, located);
    }

    /// A DWARF code range as module offsets; `None` for discarded code.
    fn wasm_range(&self, begin: u64, end: u64) -> Option<Range<u32>> {
        let begin = self.dwarf.live_module_offset(begin)?;
        let end = self.dwarf.live_module_offset(end).unwrap_or(u32::MAX);
        (begin < end).then_some(begin..end)
    }

    /// A wasm location expression made native (see the module doc); with
    /// `pointer` (the wasm pointer the variable holds), the native
    /// pointer's value. `size` is the variable's.
    fn expression(
        &self,
        e: &gimli::Expression<Reader>,
        frame: Option<&Frame>,
        pointer: Option<WasmPointer>,
        size: Option<u64>,
    ) -> Option<Expression> {
        let ops = self.operations(e)?;
        let mut out = Expression::new();
        // A constant stack value for a variable wider than the stack's
        // values (clang writes `DW_OP_lit0, DW_OP_stack_value` for a
        // zeroed array at -O2): the constant, zero-extended to the
        // variable's size, as the DAP reads it. gdb would fill the bytes
        // past its 8-byte stack value with whatever its buffer held.
        if let (None, Some(size @ 9..=4096), [constant, Operation::StackValue]) =
            (pointer, size, ops.as_slice())
        {
            let value = match *constant {
                Operation::UnsignedConstant { value } => value,
                Operation::SignedConstant { value } => value as u64,
                _ => return self.expression_ops(&ops, frame, pointer, Some(size), out),
            };
            let mut bytes = vec![0u8; size as usize];
            bytes[..8].copy_from_slice(&value.to_le_bytes());
            out.op_implicit_value(bytes.into());
            return Some(out);
        }
        self.expression_ops(&ops, frame, pointer, size, out)
    }

    fn expression_ops(
        &self,
        ops: &[Operation<Reader>],
        frame: Option<&Frame>,
        pointer: Option<WasmPointer>,
        size: Option<u64>,
        mut out: Expression,
    ) -> Option<Expression> {
        let pieces = ops.iter().any(|op| matches!(op, Operation::Piece { .. }));
        if let Some(p) = pointer {
            // A pointer split into pieces is not worth a native value.
            if pieces {
                return None;
            }
            self.pointer_value(ops, frame, p, &mut out)?;
            return Some(out);
        }
        if !pieces {
            self.piece(ops, frame, &mut out)?;
            return Some(out);
        }
        let mut start = 0;
        let mut covered = 0u64;
        for (i, op) in ops.iter().enumerate() {
            let Operation::Piece {
                size_in_bits,
                bit_offset,
            } = *op
            else {
                continue;
            };
            let part = &ops[start..i];
            if !part.is_empty() {
                self.piece(part, frame, &mut out)?;
            }
            match bit_offset {
                None if size_in_bits % 8 == 0 => out.op_piece(size_in_bits / 8),
                _ => out.op_bit_piece(size_in_bits, bit_offset.unwrap_or(0)),
            }
            covered = covered.saturating_add(size_in_bits);
            start = i + 1;
        }
        // Pieces that stop short of the variable: the rest is not
        // available (DWARF 5, 2.6.1.2), which an empty piece says; gdb
        // would show those bytes as zeros (found by the debugger
        // differential: `uint8_t a[9]` described by one byte at -O2).
        if let Some(rest) = size.and_then(|s| s.checked_sub(covered / 8)) {
            if rest > 0 && covered.is_multiple_of(8) {
                out.op_piece(rest);
            }
        }
        Some(out)
    }

    fn operations(&self, e: &gimli::Expression<Reader>) -> Option<Vec<Operation<Reader>>> {
        let mut ops = e.clone().operations(self.unit.encoding());
        let mut out = Vec::new();
        loop {
            match ops.next() {
                Ok(Some(op)) => out.push(op),
                Ok(None) => return Some(out),
                Err(_) => return None,
            }
        }
    }

    /// One piece's location: a wasm local's slot, a global's storage, a
    /// linear-memory address, or a computed value.
    fn piece(
        &self,
        ops: &[Operation<Reader>],
        frame: Option<&Frame>,
        out: &mut Expression,
    ) -> Option<()> {
        match ops {
            [] => None,
            // The local (global) holds the value. Without
            // `DW_OP_stack_value` it holds the variable's address in
            // linear memory (LLVM's indirect form), handled below.
            [Operation::WasmLocal { index }, Operation::StackValue] => {
                let slot = self.local_slot(frame?, *index)?;
                out.op_breg(X86_64::RBP, slot.into());
                Some(())
            }
            [Operation::WasmGlobal { index }, Operation::StackValue] => {
                self.native.global_storage(out, *index)
            }
            [Operation::ImplicitValue { data }] => {
                out.op_implicit_value(data.to_slice().ok()?.into_owned().into());
                Some(())
            }
            [body @ .., Operation::StackValue] => {
                self.values(body, frame, out)?;
                out.op(c::DW_OP_stack_value);
                Some(())
            }
            _ => {
                // What is left is a linear-memory address.
                self.values(ops, frame, out)?;
                self.native.memory_base(out)?;
                out.op(c::DW_OP_plus);
                Some(())
            }
        }
    }

    /// The native address a wasm pointer variable designates: for data,
    /// its wasm value plus the memory base; for a function (a table-0
    /// index), the native code of the function at that index. Null stays
    /// null, so a debugger reports it as null, not as the memory's first
    /// byte; an index outside the table stays as it is.
    fn pointer_value(
        &self,
        ops: &[Operation<Reader>],
        frame: Option<&Frame>,
        p: WasmPointer,
        out: &mut Expression,
    ) -> Option<()> {
        match ops {
            [] => return None,
            [Operation::ImplicitValue { data }] => {
                let bytes = data.to_slice().ok()?;
                let mut value = [0u8; 8];
                let n = bytes.len().min(usize::from(p.size));
                value[..n].copy_from_slice(&bytes[..n]);
                out.op_constu(u64::from_le_bytes(value));
            }
            [body @ .., Operation::StackValue] => self.values(body, frame, out)?,
            _ => {
                self.piece(ops, frame, out)?;
                out.op_deref_size(p.size);
            }
        }
        let mut ends = Vec::new();
        if p.function {
            // In range: v < the table's current length.
            out.op(c::DW_OP_dup);
            self.native.table(out)?;
            out.op_plus_uconst(u64::from(vmoffsets::table::CURRENT_ELEMENTS));
            out.op_deref_size(4);
            out.op(c::DW_OP_lt);
            let inside = out.op_bra();
            ends.push(out.op_skip());
            out.set_target(inside, out.next_index());
            // The element: a `VMFuncRef` pointer, or null.
            self.native.table(out)?;
            out.op_plus_uconst(u64::from(vmoffsets::table::BASE));
            out.op_deref();
            out.op(c::DW_OP_swap);
            out.op_constu(u64::from(vmoffsets::table::ELEMENT_SIZE));
            out.op(c::DW_OP_mul);
            out.op(c::DW_OP_plus);
            out.op_deref();
        }
        out.op(c::DW_OP_dup);
        let nonzero = out.op_bra();
        ends.push(out.op_skip());
        out.set_target(nonzero, out.next_index());
        if p.function {
            out.op_plus_uconst(u64::from(vmoffsets::funcref::WASM_CALL));
            out.op_deref();
        } else {
            self.native.memory_base(out)?;
            out.op(c::DW_OP_plus);
        }
        for end in ends {
            out.set_target(end, out.next_index());
        }
        out.op(c::DW_OP_stack_value);
        Some(())
    }

    /// Emits operations that leave the same values as the wasm ones
    /// (addresses stay wasm addresses).
    fn values(
        &self,
        ops: &[Operation<Reader>],
        frame: Option<&Frame>,
        out: &mut Expression,
    ) -> Option<()> {
        for op in ops {
            match *op {
                Operation::Address { address } => out.op_constu(address),
                Operation::AddressIndex { index } | Operation::ConstantIndex { index } => {
                    out.op_constu(self.dwarf.dwarf.address(self.unit, index).ok()?)
                }
                Operation::FrameOffset { offset } => {
                    let frame = frame?;
                    let base = self.operations(frame.frame_base.as_ref()?)?;
                    let base = match base.as_slice() {
                        [b @ .., Operation::StackValue] => b,
                        b => b,
                    };
                    if base
                        .iter()
                        .any(|op| matches!(op, Operation::FrameOffset { .. }))
                    {
                        return None;
                    }
                    self.values(base, Some(frame), out)?;
                    if offset >= 0 {
                        out.op_plus_uconst(offset as u64);
                    } else {
                        out.op_consts(offset);
                        out.op(c::DW_OP_plus);
                    }
                }
                Operation::WasmLocal { index } => {
                    let frame = frame?;
                    let slot = self.local_slot(frame, index)?;
                    let size = *self
                        .native
                        .facts
                        .local_sizes
                        .get(frame.func)?
                        .get(index as usize)?;
                    out.op_breg(X86_64::RBP, slot.into());
                    out.op_deref_size(size.min(8));
                }
                Operation::WasmGlobal { index } => {
                    self.native.global_storage(out, index)?;
                    let size = *self.native.facts.global_sizes.get(index as usize)?;
                    out.op_deref_size(size.min(8));
                }
                Operation::Deref {
                    base_type,
                    size,
                    space: false,
                } if base_type.0 == 0 => {
                    self.native.memory_base(out)?;
                    out.op(c::DW_OP_plus);
                    out.op_deref_size(size);
                }
                ref other => {
                    if !simple_op(other, out) {
                        return None;
                    }
                }
            }
        }
        Some(())
    }

    /// The frame-pointer offset of wasm local `index`'s slot in `frame`.
    fn local_slot(&self, frame: &Frame, index: u32) -> Option<i32> {
        let slots = &self.native.funcs[frame.func].local_slots;
        let i = slots.binary_search_by_key(&index, |s| s.0).ok()?;
        Some(slots[i].1)
    }

    fn resolve_unit_refs(&mut self) {
        let refs = std::mem::take(&mut self.refs);
        for (entry, name, target) in refs {
            if let Some(&t) = self.map.get(&target) {
                self.wunit().get_mut(entry).set(name, W::UnitRef(t));
            }
        }
    }

    /// Points every pointer type at a pointee copy that lives in linear
    /// memory (see the module doc).
    fn retarget_pointers(&mut self) {
        self.function_pointers_as_names();
        if self.native.debugger == Debugger::Lldb {
            self.pointers_as_addresses();
            return;
        }
        let Some(location) = self.native.data_location() else {
            return;
        };
        let (chains, pointers): (Vec<_>, Vec<_>) = std::mem::take(&mut self.pointers)
            .into_iter()
            .partition(|p| self.chain_pointers.contains(p));
        // Stored pointers share pointee copies; the chains under native
        // pointers get their own, so no gdb type of theirs is shared.
        for group in [pointers, chains] {
            let mut copies = Copies {
                unit: self.out.units.get_mut(self.id),
                strings: &mut self.out.strings,
                done: HashMap::new(),
                location: location.clone(),
            };
            for p in group {
                let Some(&W::UnitRef(t)) = copies.unit.get(p).get(c::DW_AT_type) else {
                    continue;
                };
                if let Some(copy) = copies.pointee(t, 0) {
                    copies.unit.get_mut(p).set(c::DW_AT_type, W::UnitRef(copy));
                }
            }
        }
    }

    /// A function pointer stored in linear memory holds a table-0 index,
    /// which no native debugger can resolve: it becomes an enumeration
    /// whose enumerators name the functions the module puts in the table,
    /// so `print s.callback` shows `perimeter` (an index outside them
    /// shows as a number).
    fn function_pointers_as_names(&mut self) {
        if self.native.table_functions.is_empty() {
            return;
        }
        let unit = self.out.units.get_mut(self.id);
        let mut names = None;
        let mut replaced = HashMap::new();
        self.pointers.retain(|&p| {
            let function = unit.get(p).get(c::DW_AT_byte_size) == Some(&W::Data1(4))
                && points_to_function(unit, p);
            if function {
                let e =
                    *names.get_or_insert_with(|| function_enum(unit, &self.native.table_functions));
                replaced.insert(p, e);
            }
            !function
        });
        replace_refs(unit, &replaced);
    }

    /// For lldb, which gives every pointer the target's size and ignores
    /// `DW_AT_byte_size` and `DW_AT_data_location`: each 4-byte pointer
    /// stored in linear memory becomes a 4-byte unsigned integer, its wasm
    /// address, so members and elements after it keep their values.
    fn pointers_as_addresses(&mut self) {
        let pointers = std::mem::take(&mut self.pointers);
        let typed = self.native.typed_addresses;
        let strings = &self.out.strings;
        let unit = self.out.units.get_mut(self.id);
        let root = unit.root();
        let mut address = None;
        let mut by_target: HashMap<Option<UnitEntryId>, UnitEntryId> = HashMap::new();
        let mut base = None;
        let mut replaced = HashMap::new();
        for p in pointers {
            if unit.get(p).get(c::DW_AT_byte_size) != Some(&W::Data1(4)) {
                continue;
            }
            if typed {
                let target = match unit.get(p).get(c::DW_AT_type) {
                    Some(W::UnitRef(t)) => Some(*t),
                    _ => None,
                };
                let base = *base.get_or_insert_with(|| unsigned32(unit));
                let a = *by_target
                    .entry(target)
                    .or_insert_with(|| typed_address(unit, strings, target, base));
                replaced.insert(p, a);
                continue;
            }
            let a = *address.get_or_insert_with(|| {
                // lldb names a base type after its size (`unsigned int`);
                // a typedef keeps the name.
                let base = unsigned32(unit);
                let a = unit.add(root, c::DW_TAG_typedef);
                let e = unit.get_mut(a);
                e.set(c::DW_AT_name, W::String(b"wasm_addr32".to_vec()));
                e.set(c::DW_AT_type, W::UnitRef(base));
                a
            });
            replaced.insert(p, a);
        }
        replace_refs(unit, &replaced);
    }

    /// The unit's code: the native ranges of its functions.
    fn set_unit_ranges(&mut self) {
        let mut ranges: Vec<Range<u64>> = self
            .funcs
            .iter()
            .map(|&f| {
                let code = &self.native.funcs[f].code;
                code.start as u64..code.end as u64
            })
            .collect();
        ranges.sort_by_key(|r| r.start);
        let root = self.wunit().root();
        self.wunit()
            .get_mut(root)
            .set(c::DW_AT_low_pc, W::Address(Address::Constant(0)));
        if ranges.is_empty() {
            return;
        }
        let unit = self.wunit();
        let list = range_list(unit, &ranges);
        unit.get_mut(root)
            .set(c::DW_AT_ranges, W::RangeListRef(list));
    }
}

/// Copies of pointee types that read their data from linear memory.
struct Copies<'u> {
    unit: &'u mut w::Unit,
    strings: &'u mut w::StringTable,
    /// Pointee to its copy (`None`: it needs none or cannot have one).
    done: HashMap<UnitEntryId, Option<UnitEntryId>>,
    location: Expression,
}

impl Copies<'_> {
    fn pointee(&mut self, t: UnitEntryId, depth: u32) -> Option<UnitEntryId> {
        if let Some(&d) = self.done.get(&t) {
            return d;
        }
        if depth > 16 {
            return None;
        }
        // A cycle through qualifiers ends here.
        self.done.insert(t, None);
        let tag = self.unit.get(t).tag();
        let copy = match tag {
            // gdb resolves a data location only on the type itself, not
            // through a qualifier or a typedef (it stops on an internal
            // error): the copy is of the type underneath, so `const char *`
            // shows as `char *` and `node_t *` as `struct node *`.
            q if is_qualifier(q) => {
                let inner = match self.unit.get(t).get(c::DW_AT_type) {
                    Some(W::UnitRef(i)) => *i,
                    _ => return None,
                };
                self.pointee(inner, depth + 1)?
            }
            // gdb 13 resolves a data location only on the types it
            // copies when resolving (aggregates, subranges); on a plain
            // scalar or an enum it stops on an internal error. An integer
            // or enum target becomes a subrange of itself, which gdb
            // prints as the scalar (`*r.count` is `5`, `*r.color` is
            // `GREEN`). A character or float target is not copied (see
            // `prints_as_subrange`): gdb reports the wasm address the
            // pointer holds as unreadable.
            c::DW_TAG_base_type | c::DW_TAG_enumeration_type if self.prints_as_subrange(t) => {
                let root = self.unit.root();
                let copy = self.unit.add(root, c::DW_TAG_subrange_type);
                // gdb names a subrange as it is named: a C enum keeps its
                // `enum` (`(enum color *) 0x11344`).
                let name = match self.unit.get(t).get(c::DW_AT_name) {
                    Some(W::StringRef(n)) if tag == c::DW_TAG_enumeration_type => {
                        let named = [&b"enum "[..], self.strings.get(*n)].concat();
                        Some(W::StringRef(self.strings.add(named)))
                    }
                    other => other.cloned(),
                };
                let e = self.unit.get_mut(copy);
                if let Some(name) = name {
                    e.set(c::DW_AT_name, name);
                }
                e.set(c::DW_AT_type, W::UnitRef(t));
                e.set(c::DW_AT_data_location, W::Exprloc(self.location.clone()));
                // gdb takes a subrange's sign from its bounds (a lower
                // bound of 0 makes it unsigned, and `*p + 1` of -5 would
                // be 4294967292): the bounds of the target's own range.
                let (low, high) = self.bounds(t);
                let e = self.unit.get_mut(copy);
                e.set(c::DW_AT_lower_bound, W::Sdata(low));
                e.set(c::DW_AT_upper_bound, W::Sdata(high));
                copy
            }
            c::DW_TAG_structure_type
            | c::DW_TAG_union_type
            | c::DW_TAG_class_type
            | c::DW_TAG_array_type => {
                let root = self.unit.root();
                let copy = deep_copy(self.unit, t, root, true);
                self.unit
                    .get_mut(copy)
                    .set(c::DW_AT_data_location, W::Exprloc(self.location.clone()));
                copy
            }
            _ => return None,
        };
        self.done.insert(t, Some(copy));
        Some(copy)
    }

    /// The values of integer, boolean or enum type `t`: signed by its
    /// encoding, or for an enum by its underlying type's (clang's is
    /// `unsigned int` when no enumerator is negative; signed without one).
    /// An unsigned 64-bit range ends at `i64::MAX`: gdb reads it unsigned
    /// anyway, from its unsigned target.
    fn bounds(&self, t: UnitEntryId) -> (i64, i64) {
        let e = self.unit.get(t);
        let size = byte_size(e).unwrap_or(4).clamp(1, 8) as u32;
        let base = match (e.tag(), e.get(c::DW_AT_type)) {
            (c::DW_TAG_enumeration_type, Some(W::UnitRef(u))) => *u,
            _ => t,
        };
        let signed = match self.unit.get(base).get(c::DW_AT_encoding) {
            Some(W::Encoding(x)) => *x == c::DW_ATE_signed || *x == c::DW_ATE_signed_char,
            _ => e.tag() == c::DW_TAG_enumeration_type,
        };
        let bits = size * 8;
        if signed {
            let high = i64::MAX >> (64 - bits);
            (-high - 1, high)
        } else if bits == 64 {
            (0, i64::MAX)
        } else {
            (0, (1i64 << bits) - 1)
        }
    }

    /// Whether gdb prints a subrange of `t` as it prints `t`: integers
    /// and booleans (widened to the subrange's target), enums. Not a
    /// character type (gdb prints a `char *` as a string read at the
    /// pointer's raw value, a subrange pointer as a bare address), nor a
    /// float (gdb would widen its bits as an integer: a wrong value).
    fn prints_as_subrange(&self, t: UnitEntryId) -> bool {
        let e = self.unit.get(t);
        // gdb stops on an internal error for a subrange of a type without
        // bytes (Rust's `()`, Zig's `void` and `u0`, an empty enum).
        if !matches!(byte_size(e), Some(1..=8)) {
            return false;
        }
        if e.tag() == c::DW_TAG_enumeration_type {
            return true;
        }
        let encoding = match e.get(c::DW_AT_encoding) {
            Some(W::Encoding(x)) => *x,
            _ => return false,
        };
        let one_byte = byte_size(e) == Some(1);
        match encoding {
            c::DW_ATE_boolean => true,
            c::DW_ATE_signed | c::DW_ATE_unsigned => !one_byte,
            _ => false,
        }
    }
}

/// Tags that name another type with a qualifier or a new name.
fn is_qualifier(tag: c::DwTag) -> bool {
    matches!(
        tag,
        c::DW_TAG_typedef
            | c::DW_TAG_const_type
            | c::DW_TAG_volatile_type
            | c::DW_TAG_restrict_type
            | c::DW_TAG_atomic_type
    )
}

/// Pointer and C++ reference types: what holds a wasm address.
fn is_pointer(tag: c::DwTag) -> bool {
    matches!(
        tag,
        c::DW_TAG_pointer_type | c::DW_TAG_reference_type | c::DW_TAG_rvalue_reference_type
    )
}

/// For `wasmscope lldb`'s extension: a stored pointer to `target` as
/// `struct wasm_ptr32<T> { unsigned int addr; }`, the wasm address with
/// its target type as the template parameter `T` (lldb reads the struct
/// at its 4 bytes, and the extension follows `addr` through the memory
/// base as a pointer to `T`).
fn typed_address(
    unit: &mut w::Unit,
    strings: &w::StringTable,
    target: Option<UnitEntryId>,
    base: UnitEntryId,
) -> UnitEntryId {
    let root = unit.root();
    let name = format!(
        "wasm_ptr32<{}>",
        target.map_or_else(|| "void".to_string(), |t| type_name(unit, strings, t, 0))
    );
    let s = unit.add(root, c::DW_TAG_structure_type);
    let e = unit.get_mut(s);
    e.set(c::DW_AT_name, W::String(name.into_bytes()));
    e.set(c::DW_AT_byte_size, W::Data1(4));
    if let Some(t) = target {
        let param = unit.add(s, c::DW_TAG_template_type_parameter);
        let e = unit.get_mut(param);
        e.set(c::DW_AT_name, W::String(b"T".to_vec()));
        e.set(c::DW_AT_type, W::UnitRef(t));
    }
    let addr = unit.add(s, c::DW_TAG_member);
    let e = unit.get_mut(addr);
    e.set(c::DW_AT_name, W::String(b"addr".to_vec()));
    e.set(c::DW_AT_type, W::UnitRef(base));
    e.set(c::DW_AT_data_member_location, W::Udata(0));
    s
}

/// A C-like name of type `t` for display (`const char`, `node *`).
fn type_name(unit: &w::Unit, strings: &w::StringTable, t: UnitEntryId, depth: u32) -> String {
    let e = unit.get(t);
    let inner = |unit: &w::Unit| match e.get(c::DW_AT_type) {
        Some(W::UnitRef(i)) if depth < 8 => type_name(unit, strings, *i, depth + 1),
        _ => "void".to_string(),
    };
    match e.tag() {
        c::DW_TAG_const_type => format!("const {}", inner(unit)),
        c::DW_TAG_volatile_type => format!("volatile {}", inner(unit)),
        c::DW_TAG_pointer_type => format!("{} *", inner(unit)),
        c::DW_TAG_reference_type => format!("{} &", inner(unit)),
        _ => match e.get(c::DW_AT_name) {
            Some(W::String(n)) => String::from_utf8_lossy(n).into_owned(),
            Some(W::StringRef(r)) => String::from_utf8_lossy(strings.get(*r)).into_owned(),
            _ => "?".to_string(),
        },
    }
}

/// A new 4-byte `unsigned int` base type.
fn unsigned32(unit: &mut w::Unit) -> UnitEntryId {
    base_type(unit, b"unsigned int", c::DW_ATE_unsigned, 4)
}

/// A new base type.
fn base_type(unit: &mut w::Unit, name: &[u8], encoding: c::DwAte, size: u8) -> UnitEntryId {
    let root = unit.root();
    let base = unit.add(root, c::DW_TAG_base_type);
    let e = unit.get_mut(base);
    e.set(c::DW_AT_name, W::String(name.to_vec()));
    e.set(c::DW_AT_encoding, W::Encoding(encoding));
    e.set(c::DW_AT_byte_size, W::Data1(size));
    base
}

/// A new native (8-byte) pointer type to `target`.
fn native_pointer_to(unit: &mut w::Unit, target: UnitEntryId) -> UnitEntryId {
    let root = unit.root();
    let p = unit.add(root, c::DW_TAG_pointer_type);
    let e = unit.get_mut(p);
    e.set(c::DW_AT_type, W::UnitRef(target));
    e.set(c::DW_AT_byte_size, W::Data1(ENCODING.address_size));
    p
}

/// An entry's constant `DW_AT_byte_size`.
fn byte_size(e: &w::DebuggingInformationEntry) -> Option<u64> {
    match e.get(c::DW_AT_byte_size)? {
        W::Data1(n) => Some(u64::from(*n)),
        W::Data2(n) => Some(u64::from(*n)),
        W::Data4(n) => Some(u64::from(*n)),
        W::Data8(n) | W::Udata(n) => Some(*n),
        _ => None,
    }
}

/// Points every reference to a key of `replaced` at its value.
fn replace_refs(unit: &mut w::Unit, replaced: &HashMap<UnitEntryId, UnitEntryId>) {
    if replaced.is_empty() {
        return;
    }
    let mut stack = vec![unit.root()];
    while let Some(id) = stack.pop() {
        for attr in unit.get_mut(id).attrs_mut() {
            if let W::UnitRef(t) = attr.get() {
                if let Some(&r) = replaced.get(t) {
                    attr.set(W::UnitRef(r));
                }
            }
        }
        stack.extend(unit.get(id).children().copied());
    }
}

/// Whether pointer type `p` points, through typedefs and qualifiers, to
/// a function type.
fn points_to_function(unit: &w::Unit, p: UnitEntryId) -> bool {
    let mut t = p;
    for _ in 0..16 {
        let Some(&W::UnitRef(next)) = unit.get(t).get(c::DW_AT_type) else {
            return false;
        };
        t = next;
        match unit.get(t).tag() {
            c::DW_TAG_subroutine_type => return true,
            q if is_qualifier(q) => {}
            _ => return false,
        }
    }
    false
}

/// The 4-byte enumeration `wasm_function` naming table-0 indices.
fn function_enum(unit: &mut w::Unit, functions: &[(u32, String)]) -> UnitEntryId {
    let base = unsigned32(unit);
    let root = unit.root();
    let id = unit.add(root, c::DW_TAG_enumeration_type);
    let e = unit.get_mut(id);
    e.set(c::DW_AT_name, W::String(b"wasm_function".to_vec()));
    e.set(c::DW_AT_byte_size, W::Data1(4));
    e.set(c::DW_AT_type, W::UnitRef(base));
    for (index, name) in functions {
        let k = unit.add(id, c::DW_TAG_enumerator);
        let e = unit.get_mut(k);
        // The pointer's value, the table index, and the function, as gdb
        // shows a function pointer: not an identifier, so it cannot
        // shadow the function's own name in expressions.
        let shown = format!("{index:#x} <{name}>");
        e.set(c::DW_AT_name, W::String(shown.into_bytes()));
        e.set(c::DW_AT_const_value, W::Udata(u64::from(*index)));
    }
    id
}

/// The most entries one `deep_copy` writes. A real type has far fewer
/// (its members, nested types and methods); damaged DWARF can make a
/// "type" whose children are the rest of the unit, and copying that for
/// every pointer to it once took all memory (found by the DWARF fuzzer).
const DEEP_COPY_LIMIT: usize = 10_000;

/// A copy of entry `t` (with its children if `children`, up to
/// [`DEEP_COPY_LIMIT`] entries in all) under `parent`.
fn deep_copy(
    unit: &mut w::Unit,
    t: UnitEntryId,
    parent: UnitEntryId,
    children: bool,
) -> UnitEntryId {
    let mut budget = DEEP_COPY_LIMIT;
    copy_within(unit, t, parent, children, &mut budget)
}

fn copy_within(
    unit: &mut w::Unit,
    t: UnitEntryId,
    parent: UnitEntryId,
    children: bool,
    budget: &mut usize,
) -> UnitEntryId {
    *budget = budget.saturating_sub(1);
    let tag = unit.get(t).tag();
    let attrs: Vec<(c::DwAt, W)> = unit
        .get(t)
        .attrs()
        .map(|a| (a.name(), a.get().clone()))
        .collect();
    let copy = unit.add(parent, tag);
    for (name, value) in attrs {
        unit.get_mut(copy).set(name, value);
    }
    if children {
        let kids: Vec<UnitEntryId> = unit.get(t).children().copied().collect();
        for k in kids {
            if *budget == 0 {
                break;
            }
            copy_within(unit, k, copy, true, budget);
        }
    }
    copy
}

/// Describes a subprogram as the native function at `code`: its address
/// range and the frame pointer as its frame base (variables are located
/// without it: `DW_OP_fbreg` is rewritten through the wasm frame base).
/// A function that is not `callable` (its parameters or its returned
/// value are not where the native calling convention has them) is
/// `DW_CC_nocall`: gdb neither calls it nor reads its returned value.
pub fn native_function(e: &mut w::DebuggingInformationEntry, code: &Range<usize>, callable: bool) {
    e.set(
        c::DW_AT_low_pc,
        W::Address(Address::Constant(code.start as u64)),
    );
    e.set(c::DW_AT_high_pc, W::Udata(code.len() as u64));
    let mut fb = Expression::new();
    fb.op_reg(X86_64::RBP);
    e.set(c::DW_AT_frame_base, W::Exprloc(fb));
    if !callable {
        e.set(
            c::DW_AT_calling_convention,
            W::CallingConvention(c::DW_CC_nocall),
        );
    }
}

/// Adds `char *__wasm_memory` to `unit`: the native address of memory 0
/// (a computed value read through the instance, like the globals), so
/// any wasm address turns into a native one in an expression, in every
/// frame and in both debuggers: `print __wasm_memory + (long)argv[1]`
/// shows the string a stored `char *` points to, and under lldb `print
/// *(double *)(__wasm_memory + r.side)` follows a stored pointer. Nothing
/// for a module without memory.
pub fn memory_variable(unit: &mut w::Unit, native: &NativeModule) {
    let mut location = Expression::new();
    if native.memory_base(&mut location).is_none() {
        return;
    }
    location.op(c::DW_OP_stack_value);
    let char_type = base_type(unit, b"char", c::DW_ATE_signed_char, 1);
    let pointer = native_pointer_to(unit, char_type);
    let root = unit.root();
    let var = unit.add(root, c::DW_TAG_variable);
    let e = unit.get_mut(var);
    e.set(c::DW_AT_name, W::String(b"__wasm_memory".to_vec()));
    e.set(c::DW_AT_type, W::UnitRef(pointer));
    e.set(c::DW_AT_external, W::Flag(true));
    e.set(c::DW_AT_location, W::Exprloc(location));
}

/// Adds sorted native address ranges to `unit` as a range list.
pub fn range_list(unit: &mut w::Unit, ranges: &[Range<u64>]) -> w::RangeListId {
    unit.ranges.add(w::RangeList(
        ranges
            .iter()
            .map(|r| w::Range::StartEnd {
                begin: Address::Constant(r.start),
                end: Address::Constant(r.end),
            })
            .collect(),
    ))
}

/// An expression with no address, register or wasm operation (member
/// offsets, array bounds), copied as is; `None` if it has any.
fn plain_expression(
    e: &gimli::Expression<Reader>,
    encoding: gimli::Encoding,
) -> Option<Expression> {
    let mut out = Expression::new();
    let mut ops = e.clone().operations(encoding);
    while let Ok(Some(op)) = ops.next() {
        if !simple_op(&op, &mut out) {
            return None;
        }
    }
    Some(out)
}

/// Emits an operation that means the same natively; false if it has no
/// such meaning.
fn simple_op(op: &Operation<Reader>, out: &mut Expression) -> bool {
    match *op {
        Operation::UnsignedConstant { value } => out.op_constu(value),
        Operation::SignedConstant { value } => out.op_consts(value),
        Operation::PlusConstant { value } => out.op_plus_uconst(value),
        Operation::Pick { index } => out.op_pick(index),
        Operation::Drop => out.op(c::DW_OP_drop),
        Operation::Swap => out.op(c::DW_OP_swap),
        Operation::Rot => out.op(c::DW_OP_rot),
        Operation::Abs => out.op(c::DW_OP_abs),
        Operation::And => out.op(c::DW_OP_and),
        Operation::Div => out.op(c::DW_OP_div),
        Operation::Minus => out.op(c::DW_OP_minus),
        Operation::Mod => out.op(c::DW_OP_mod),
        Operation::Mul => out.op(c::DW_OP_mul),
        Operation::Neg => out.op(c::DW_OP_neg),
        Operation::Not => out.op(c::DW_OP_not),
        Operation::Or => out.op(c::DW_OP_or),
        Operation::Plus => out.op(c::DW_OP_plus),
        Operation::Shl => out.op(c::DW_OP_shl),
        Operation::Shr => out.op(c::DW_OP_shr),
        Operation::Shra => out.op(c::DW_OP_shra),
        Operation::Xor => out.op(c::DW_OP_xor),
        Operation::Eq => out.op(c::DW_OP_eq),
        Operation::Ge => out.op(c::DW_OP_ge),
        Operation::Gt => out.op(c::DW_OP_gt),
        Operation::Le => out.op(c::DW_OP_le),
        Operation::Lt => out.op(c::DW_OP_lt),
        Operation::Ne => out.op(c::DW_OP_ne),
        Operation::Nop => {}
        _ => return false,
    }
    true
}

/// `path_push` as addr2line does it: an absolute part replaces the path.
fn push_path(path: &mut String, part: &str) {
    if part.starts_with('/') {
        *path = part.to_string();
    } else {
        if !path.is_empty() && !path.ends_with('/') {
            path.push('/');
        }
        path.push_str(part);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Damaged DWARF can make a "type" of a huge subtree; a copy of it
    /// stops at the limit (the DWARF fuzzer once saw one take all memory).
    #[test]
    fn a_deep_copy_is_bounded() {
        let mut unit = w::Unit::new(ENCODING, LineProgram::none());
        let root = unit.root();
        let s = unit.add(root, c::DW_TAG_structure_type);
        for _ in 0..20_000 {
            let m = unit.add(s, c::DW_TAG_member);
            unit.add(m, c::DW_TAG_member);
        }
        let before = unit.count();
        deep_copy(&mut unit, s, root, true);
        assert_eq!(unit.count() - before, DEEP_COPY_LIMIT);
        // A small type is copied whole.
        let small = unit.add(root, c::DW_TAG_structure_type);
        unit.add(small, c::DW_TAG_member);
        let before = unit.count();
        deep_copy(&mut unit, small, root, true);
        assert_eq!(unit.count() - before, 2);
    }
}
