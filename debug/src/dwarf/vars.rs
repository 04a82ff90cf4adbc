//! Source variables from the module's DWARF, evaluated against a paused
//! guest: which variables are in scope at a wasm offset, where each one
//! lives (a wasm local, a wasm global, linear memory, or a computed value),
//! and how its type renders: integers, floats, bools, chars and strings,
//! enums, structs, unions, arrays, pointers followed into linear memory,
//! function pointers by name.
//!
//! The DWARF that clang emits for wasm describes locations with
//! `DW_OP_WASM_location` (locals, globals, operand stack), `DW_OP_fbreg`
//! over a frame base that is itself a wasm local or global, and
//! `DW_OP_addr` for C globals and statics (addresses in linear memory).
//! gimli's evaluator rejects the wasm operations, so the expressions are
//! evaluated here. Anything that cannot be evaluated (an operand-stack
//! slot, an unknown operation, a location list with no entry for the
//! offset) makes the variable `<optimized out>` or `<unavailable: why>`:
//! fewer answers, never a panic.

use super::formatters;
use super::names::Lang;
use super::read::{ModuleDwarf, Reader};
use gimli::{AttributeValue, DebuggingInformationEntry, Operation, Reader as _, Unit, UnitOffset};
use std::rc::Rc;

/// What a paused guest offers for evaluating locations and reading values.
pub trait Target {
    /// The bits of wasm local `index` of the frame being inspected.
    fn local(&self, index: u32) -> Option<u64>;
    /// The bits of wasm global `index`.
    fn global(&self, index: u32) -> Option<u64>;
    /// The bits of operand-stack entry `index`, counted from the bottom
    /// (as `DW_OP_WASM_location 0x2` counts), of the frame being inspected.
    fn stack_value(&self, index: u32) -> Option<u64>;
    /// `len` bytes of linear memory 0 at `address`.
    fn read(&self, address: u64, len: usize) -> Option<Vec<u8>>;
    /// The name of the function in slot `index` of table 0 (what a C
    /// function pointer holds on wasm32).
    fn function_name(&self, index: u32) -> Option<String>;
}

/// A type DIE: its unit (index in `ModuleDwarf::units`) and offset.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct TypeId {
    unit: usize,
    offset: usize,
}

impl TypeId {
    pub(crate) fn unit(self) -> usize {
        self.unit
    }
    pub(crate) fn offset(self) -> usize {
        self.offset
    }
}

/// Where a value is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Place {
    /// Linear memory (address in memory 0).
    Memory(u64),
    /// Computed bytes (little-endian), e.g. a wasm local holding the value.
    Bytes(Vec<u8>),
    /// Why it cannot be shown.
    Unavailable(String),
}

/// A typed value: a type (`None`: unknown) and a place. `dims` counts the
/// leading dimensions of a multi-dimensional array already indexed away.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Value {
    pub ty: Option<TypeId>,
    pub dims: usize,
    pub place: Place,
}

/// A variable in scope.
#[derive(Clone, Debug)]
pub struct Variable {
    pub name: String,
    pub value: Value,
}

/// How a value shows.
#[derive(Clone, Debug, Default)]
pub struct Rendered {
    pub value: String,
    pub type_name: String,
    /// Whether `children` has something to show.
    pub expandable: bool,
    /// For arrays: the element count (for paging).
    pub indexed: Option<u64>,
    /// The memory address of the value, when it lives in memory, or the
    /// pointee's address for pointers.
    pub memory_address: Option<u64>,
}

/// A scalar read out of a value, for expressions and conditions.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Scalar {
    Int(i128),
    Float(f64),
}

impl Scalar {
    pub fn as_int(self) -> i128 {
        match self {
            Scalar::Int(i) => i,
            Scalar::Float(f) => f as i128,
        }
    }
    pub fn as_float(self) -> f64 {
        match self {
            Scalar::Int(i) => i as f64,
            Scalar::Float(f) => f,
        }
    }
    pub fn is_true(self) -> bool {
        match self {
            Scalar::Int(i) => i != 0,
            Scalar::Float(f) => f != 0.0,
        }
    }
}

#[derive(Clone, Debug)]
pub(crate) struct Member {
    pub(crate) name: String,
    pub(crate) offset: u64,
    pub(crate) ty: Option<TypeId>,
    /// (bit offset from the member's storage start, bit size) of bitfields.
    bits: Option<(u64, u64)>,
}

/// A static data member: no storage in the object. Its value is the
/// member's `DW_AT_const_value`, or the variable that defines it
/// (`DW_AT_specification` pointing at the declaration).
#[derive(Clone, Debug)]
pub(crate) struct Static {
    name: String,
    ty: Option<TypeId>,
    unit: usize,
    decl: usize,
}

/// A Rust enum's `DW_TAG_variant_part`: the discriminant and, per variant,
/// the discriminant value that selects it (`None`: the default variant)
/// and the member (a struct of the variant's fields).
#[derive(Clone, Debug)]
pub(crate) struct Variants {
    discr: Option<Member>,
    cases: Vec<(Option<u64>, Member)>,
}

/// A struct, class or union: its data members, static members, variant
/// part and template type parameters.
#[derive(Clone, Debug, Default)]
pub(crate) struct Aggregate {
    pub(crate) members: Vec<Member>,
    statics: Vec<Static>,
    variants: Option<Variants>,
    pub(crate) params: Vec<(String, Option<TypeId>)>,
}

impl Aggregate {
    pub(crate) fn param(&self, name: &str) -> Option<TypeId> {
        self.params
            .iter()
            .find(|(n, _)| n == name)
            .and_then(|p| p.1)
    }
    /// The first template type parameter, whatever its name.
    pub(crate) fn first_param(&self) -> Option<TypeId> {
        self.params.first().and_then(|p| p.1)
    }
}

/// Types and static-member definitions, computed once per module.
#[derive(Default)]
pub(crate) struct TypeCache {
    types: std::cell::RefCell<std::collections::HashMap<TypeId, Ty>>,
    langs: std::cell::RefCell<std::collections::HashMap<usize, Lang>>,
    /// How deep a summary nests other summaries.
    pub(crate) render_depth: std::cell::Cell<usize>,
    /// Rust vtables by address: the concrete type behind a `dyn Trait`.
    pub(crate) vtables: std::cell::OnceCell<std::collections::HashMap<u64, TypeId>>,
    /// Per unit: declaration entry -> the entry that defines it.
    definitions: super::names::UnitMaps,
}

#[derive(Clone, Debug)]
pub(crate) enum Kind {
    Void,
    Base(gimli::DwAte),
    Pointer(Option<TypeId>),
    Struct(Box<Aggregate>),
    Array {
        elem: Option<TypeId>,
        dims: Vec<Option<u64>>,
    },
    Enum {
        items: Vec<(String, i128)>,
        signed: bool,
    },
    Function,
}

#[derive(Clone, Debug)]
pub(crate) struct Ty {
    pub(crate) name: String,
    pub(crate) size: u64,
    pub(crate) kind: Kind,
    pub(crate) lang: Lang,
}

/// Most elements shown in an array preview, and most bytes read for a
/// C string.
const PREVIEW_ITEMS: usize = 8;
const STRING_MAX: usize = 200;
/// Guards against cyclic or absurdly deep type chains in broken DWARF.
const TYPE_DEPTH_MAX: usize = 32;
/// Guards against absurdly deep scope nesting (Rust opens a lexical block
/// for every `let`: a long function nests hundreds deep).
const SCOPE_DEPTH_MAX: usize = 1024;
/// How deep a value's summary shows nested summaries.
const RENDER_DEPTH_MAX: usize = 6;

type Result<T> = std::result::Result<T, String>;

/// A variable as declared: name, type, location and constant value.
struct Declared {
    name: String,
    ty: Option<TypeId>,
    loc: Option<AttributeValue<Reader>>,
    constant: Option<Vec<u8>>,
}

/// Globals are evaluated with no code offset: a location list (which
/// globals do not have) matches nothing.
fn pc_none() -> u64 {
    u64::MAX
}

fn attr_u64(entry: &DebuggingInformationEntry<Reader>, at: gimli::DwAt) -> Option<u64> {
    let v = entry.attr_value(at).ok()??;
    v.udata_value()
        .or_else(|| v.sdata_value().map(|s| s as u64))
}

impl ModuleDwarf {
    /// Every wasm local that a location of a subprogram's variables, or
    /// its frame base, names (`DW_OP_WASM_location 0x0`), as (module
    /// offset of the subprogram's code, local), sorted. A native debugger
    /// reads exactly these, so the JIT keeps them where it can find them.
    pub fn located_locals(&self) -> Vec<(u32, u32)> {
        self.locals_named(false)
    }

    /// The locals of `located_locals` that hold a variable over its whole
    /// scope (a single-location `DW_AT_location`, as -O0 code has) or a
    /// frame base. Optimized code's location lists name the others only
    /// for the ranges where the compiler keeps them, which the engine's
    /// value labels follow without a copy in memory.
    pub fn whole_scope_locals(&self) -> Vec<(u32, u32)> {
        self.locals_named(true)
    }

    fn locals_named(&self, whole_scope: bool) -> Vec<(u32, u32)> {
        let mut out = Vec::new();
        for unit in self.units() {
            let mut entries = unit.entries();
            let mut depth = 0isize;
            // (depth, module offset) of the enclosing subprograms.
            let mut subprograms: Vec<(isize, u32)> = Vec::new();
            while let Ok(Some((delta, e))) = entries.next_dfs() {
                depth += delta;
                while subprograms.last().is_some_and(|s| s.0 >= depth) {
                    subprograms.pop();
                }
                if e.tag() == gimli::DW_TAG_subprogram {
                    let low = e
                        .attr_value(gimli::DW_AT_low_pc)
                        .ok()
                        .flatten()
                        .and_then(|v| self.dwarf.attr_address(unit, v).ok().flatten());
                    if let Some(low) = low.and_then(|l| self.live_module_offset(l)) {
                        subprograms.push((depth, low));
                    }
                }
                let Some(&(_, func)) = subprograms.last() else {
                    continue;
                };
                for at in [gimli::DW_AT_location, gimli::DW_AT_frame_base] {
                    let mut exprs = Vec::new();
                    match e.attr_value(at) {
                        Ok(Some(AttributeValue::Exprloc(x))) => exprs.push(x),
                        Ok(Some(_)) if whole_scope && at == gimli::DW_AT_location => {}
                        Ok(Some(v)) => {
                            if let Ok(Some(offset)) = self.dwarf.attr_locations_offset(unit, v) {
                                if let Ok(mut list) = self.dwarf.locations(unit, offset) {
                                    while let Ok(Some(entry)) = list.next() {
                                        exprs.push(entry.data);
                                    }
                                }
                            }
                        }
                        _ => {}
                    }
                    for x in exprs {
                        let mut ops = x.operations(unit.encoding());
                        while let Ok(Some(op)) = ops.next() {
                            if let Operation::WasmLocal { index } = op {
                                out.push((func, index));
                            }
                        }
                    }
                }
            }
        }
        out.sort_unstable();
        out.dedup();
        out
    }

    /// Where a location list places a variable on the wasm operand stack
    /// (`DW_OP_WASM_location 0x2`): module offset ranges, sorted and
    /// merged. The engine records the stack at the hook sites in them.
    pub fn stack_located_ranges(&self) -> Vec<(u32, u32)> {
        let mut out: Vec<(u32, u32)> = Vec::new();
        for unit in self.units() {
            let mut entries = unit.entries();
            while let Ok(Some((_, e))) = entries.next_dfs() {
                let Ok(Some(v)) = e.attr_value(gimli::DW_AT_location) else {
                    continue;
                };
                let Ok(Some(offset)) = self.dwarf.attr_locations_offset(unit, v) else {
                    continue;
                };
                let Ok(mut list) = self.dwarf.locations(unit, offset) else {
                    continue;
                };
                while let Ok(Some(entry)) = list.next() {
                    let mut ops = entry.data.operations(unit.encoding());
                    let on_stack = std::iter::from_fn(|| ops.next().ok().flatten())
                        .any(|op| matches!(op, Operation::WasmStack { .. }));
                    if let (true, Some(start), Some(end)) = (
                        on_stack,
                        self.live_module_offset(entry.range.begin),
                        self.live_module_offset(entry.range.end),
                    ) {
                        out.push((start, end));
                    }
                }
            }
        }
        out.sort_unstable();
        let mut merged: Vec<(u32, u32)> = Vec::with_capacity(out.len());
        for (start, end) in out {
            match merged.last_mut() {
                Some(last) if start <= last.1 => last.1 = last.1.max(end),
                _ => merged.push((start, end)),
            }
        }
        merged
    }

    /// The units, parsed once.
    pub(crate) fn units(&self) -> &[Unit<Reader>] {
        self.units.get_or_init(|| {
            let mut out = Vec::new();
            let mut headers = self.dwarf.units();
            while let Ok(Some(h)) = headers.next() {
                if let Ok(u) = Unit::new(&self.dwarf, h) {
                    out.push(u);
                }
            }
            out
        })
    }

    pub(crate) fn name_of(
        &self,
        unit: &Unit<Reader>,
        entry: &DebuggingInformationEntry<Reader>,
    ) -> Option<String> {
        let mut current = entry.clone();
        // Names of concrete inlined or out-of-line instances live on the
        // abstract origin (or the declaration).
        for _ in 0..4 {
            if let Ok(Some(v)) = current.attr_value(gimli::DW_AT_name) {
                let s = self.dwarf.attr_string(unit, v).ok()?;
                return Some(s.to_string_lossy().ok()?.into_owned());
            }
            let origin = current
                .attr_value(gimli::DW_AT_abstract_origin)
                .ok()
                .flatten()
                .or_else(|| {
                    current
                        .attr_value(gimli::DW_AT_specification)
                        .ok()
                        .flatten()
                });
            match origin {
                Some(AttributeValue::UnitRef(o)) => current = unit.entry(o).ok()?,
                _ => return None,
            }
        }
        None
    }

    /// The entry at a `.debug_info` offset, as a type reference into the
    /// unit that holds it.
    fn type_in_any_unit(&self, at: gimli::DebugInfoOffset) -> Option<TypeId> {
        let units = self.units();
        let start = |u: &Unit<Reader>| u.header.offset().as_debug_info_offset().map_or(0, |o| o.0);
        let i = units.partition_point(|u| start(u) <= at.0).checked_sub(1)?;
        let offset = at.to_unit_offset(&units[i].header)?;
        Some(TypeId {
            unit: i,
            offset: offset.0,
        })
    }

    /// Builds a type reference (for the formatters' lookups).
    pub(crate) fn type_id(unit: usize, offset: usize) -> TypeId {
        TypeId { unit, offset }
    }

    pub(crate) fn type_of(
        &self,
        unit_index: usize,
        entry: &DebuggingInformationEntry<Reader>,
    ) -> Option<TypeId> {
        let unit = &self.units()[unit_index];
        let mut current = entry.clone();
        for _ in 0..4 {
            match current.attr_value(gimli::DW_AT_type).ok().flatten() {
                Some(AttributeValue::UnitRef(o)) => {
                    return Some(TypeId {
                        unit: unit_index,
                        offset: o.0,
                    })
                }
                // A type in another unit (`DW_FORM_ref_addr`, as optimized
                // Rust builds emit).
                Some(AttributeValue::DebugInfoRef(o)) => return self.type_in_any_unit(o),
                Some(_) => return None,
                None => {}
            }
            let origin = current
                .attr_value(gimli::DW_AT_abstract_origin)
                .ok()
                .flatten()
                .or_else(|| {
                    current
                        .attr_value(gimli::DW_AT_specification)
                        .ok()
                        .flatten()
                });
            match origin {
                Some(AttributeValue::UnitRef(o)) => current = unit.entry(o).ok()?,
                _ => return None,
            }
        }
        None
    }

    /// The unit whose code covers a code offset.
    pub(crate) fn unit_at(&self, code_offset: u64) -> Option<usize> {
        self.units().iter().position(|u| {
            let Ok(mut ranges) = self.dwarf.unit_ranges(u) else {
                return false;
            };
            while let Ok(Some(r)) = ranges.next() {
                if r.begin <= code_offset && code_offset < r.end {
                    return true;
                }
            }
            false
        })
    }

    fn die_covers(
        &self,
        unit: &Unit<Reader>,
        entry: &DebuggingInformationEntry<Reader>,
        code_offset: u64,
    ) -> bool {
        let Ok(mut ranges) = self.dwarf.die_ranges(unit, entry) else {
            return false;
        };
        while let Ok(Some(r)) = ranges.next() {
            if r.begin <= code_offset && code_offset < r.end {
                return true;
            }
        }
        false
    }

    /// The chain of scopes covering code offset `pc` in `unit`: the
    /// subprogram, then its lexical blocks and inlined subroutines down to
    /// the innermost, found through namespaces and types (Rust nests
    /// functions in modules and impls, C++ in namespaces and classes).
    pub(crate) fn scope_chain(&self, unit: &Unit<Reader>, pc: u64) -> Vec<UnitOffset> {
        let mut chain = Vec::new();
        let Ok(mut tree) = unit.entries_tree(None) else {
            return chain;
        };
        let Ok(root) = tree.root() else { return chain };
        self.find_scopes(unit, root, pc, &mut chain, 0);
        chain
    }

    fn find_scopes(
        &self,
        unit: &Unit<Reader>,
        node: gimli::EntriesTreeNode<Reader>,
        pc: u64,
        chain: &mut Vec<UnitOffset>,
        depth: usize,
    ) -> bool {
        if depth > SCOPE_DEPTH_MAX {
            return false;
        }
        let mut children = node.children();
        while let Ok(Some(child)) = children.next() {
            let e = child.entry();
            let tag = e.tag();
            let scope = matches!(
                tag,
                gimli::DW_TAG_subprogram
                    | gimli::DW_TAG_lexical_block
                    | gimli::DW_TAG_inlined_subroutine
            );
            let container = matches!(
                tag,
                gimli::DW_TAG_namespace
                    | gimli::DW_TAG_module
                    | gimli::DW_TAG_structure_type
                    | gimli::DW_TAG_class_type
                    | gimli::DW_TAG_union_type
            );
            let inside = !chain.is_empty() || tag == gimli::DW_TAG_subprogram;
            if scope && inside && self.die_covers(unit, e, pc) {
                chain.push(e.offset());
                self.find_scopes(unit, child, pc, chain, depth + 1);
                return true;
            }
            if container && chain.is_empty() && self.find_scopes(unit, child, pc, chain, depth + 1)
            {
                return true;
            }
        }
        false
    }

    /// The variables declared directly in scope entry `scope`.
    fn declared_in(&self, ui: usize, unit: &Unit<Reader>, scope: UnitOffset) -> Vec<Declared> {
        let mut vars = Vec::new();
        let Ok(mut tree) = unit.entries_tree(Some(scope)) else {
            return vars;
        };
        let Ok(root) = tree.root() else { return vars };
        let mut children = root.children();
        while let Ok(Some(child)) = children.next() {
            let e = child.entry();
            if matches!(
                e.tag(),
                gimli::DW_TAG_formal_parameter | gimli::DW_TAG_variable
            ) {
                if let Some(name) = self.name_of(unit, e) {
                    vars.push(Declared {
                        name,
                        ty: self.type_of(ui, e),
                        loc: e.attr_value(gimli::DW_AT_location).ok().flatten(),
                        constant: self.const_of(unit, e),
                    });
                }
            }
        }
        vars
    }

    /// The file an entry is declared in (`DW_AT_decl_file`), as a path.
    fn decl_path(
        &self,
        unit: &Unit<Reader>,
        e: &DebuggingInformationEntry<Reader>,
    ) -> Option<String> {
        let index = match e.attr_value(gimli::DW_AT_decl_file).ok()?? {
            AttributeValue::FileIndex(i) => i,
            v => v.udata_value()?,
        };
        self.file_path(unit, unit.line_program.as_ref()?.header(), index)
    }

    /// A variable's `DW_AT_const_value`, here or on its abstract origin.
    fn const_of(
        &self,
        unit: &Unit<Reader>,
        e: &DebuggingInformationEntry<Reader>,
    ) -> Option<Vec<u8>> {
        if let Some(b) = const_bytes(e) {
            return Some(b);
        }
        match e.attr_value(gimli::DW_AT_abstract_origin).ok()?? {
            AttributeValue::UnitRef(o) => const_bytes(&unit.entry(o).ok()?),
            _ => None,
        }
    }

    /// The unit, code offset and scope chain (subprogram first) at a
    /// module offset.
    fn scopes_at(&self, module_offset: u32) -> Option<(usize, u64, Vec<UnitOffset>)> {
        let pc = self.code_offset(module_offset)?;
        let ui = self.unit_at(pc)?;
        Some((ui, pc, self.scope_chain(&self.units()[ui], pc)))
    }

    /// Whether any source variable is declared in scope at a module
    /// offset, in the source frame `level` (0 = the innermost inlined
    /// function there): `variables` without evaluating a place.
    pub fn has_variables(&self, module_offset: u32, level: usize) -> bool {
        self.scopes_at(module_offset).is_some_and(|(ui, _, chain)| {
            let unit = &self.units()[ui];
            inline_level(unit, &chain, level)
                .iter()
                .any(|&scope| !self.declared_in(ui, unit, scope).is_empty())
        })
    }

    /// The source variables (locals and parameters) in scope at a module
    /// offset, innermost scope first, shadowed names dropped; their places
    /// are evaluated against `target` (the frame's wasm locals). `level`
    /// picks the source frame where functions are inlined: 0 is the
    /// innermost inlined function, each next one its caller, up to the
    /// function whose code this is; each shows its own variables only, as
    /// gdb's and lldb's inlined frames do.
    pub fn variables(
        &self,
        module_offset: u32,
        level: usize,
        target: &dyn Target,
    ) -> Vec<Variable> {
        let Some((ui, pc, chain)) = self.scopes_at(module_offset) else {
            return Vec::new();
        };
        let unit = &self.units()[ui];
        // The frame base comes from the subprogram (the chain's first).
        let frame_base = chain.first().and_then(|&o| {
            unit.entry(o)
                .ok()?
                .attr_value(gimli::DW_AT_frame_base)
                .ok()
                .flatten()
        });
        let fb = frame_base.and_then(|fb| match fb {
            AttributeValue::Exprloc(e) => match self.eval(unit, e, None, target) {
                Place::Bytes(b) => Some(le_u64(&b)),
                Place::Memory(a) => Some(a),
                Place::Unavailable(_) => None,
            },
            _ => None,
        });
        // An inner scope's variable hides an outer one of the same name;
        // the survivors show outer scopes first, in declaration order, as
        // the source reads.
        let mut seen = std::collections::HashSet::new();
        let mut scopes = Vec::new();
        for &scope in inline_level(unit, &chain, level).iter().rev() {
            let mut kept = Vec::new();
            for d in self.declared_in(ui, unit, scope) {
                if seen.insert(d.name.clone()) {
                    kept.push(d);
                }
            }
            scopes.push(kept);
        }
        let mut out = Vec::new();
        for scope in scopes.into_iter().rev() {
            for d in scope {
                let place = match d.constant {
                    Some(bytes) if d.loc.is_none() => Place::Bytes(bytes),
                    _ => self.place(unit, d.loc, pc, fb, target),
                };
                out.push(Variable {
                    name: d.name,
                    value: Value {
                        ty: d.ty,
                        dims: 0,
                        place,
                    },
                });
            }
        }
        out
    }

    /// The globals and statics of the unit that covers a module offset:
    /// C globals and file statics; C++ and Rust statics in namespaces
    /// (with their qualified names); constants (`DW_AT_const_value`).
    /// Compiler-made variables (Rust vtables) are left out.
    pub fn globals(&self, module_offset: u32, target: &dyn Target) -> Vec<Variable> {
        let Some(pc) = self.code_offset(module_offset) else {
            return Vec::new();
        };
        let Some(ui) = self.unit_at(pc) else {
            return Vec::new();
        };
        let unit = &self.units()[ui];
        let mut out = Vec::new();
        let Ok(mut tree) = unit.entries_tree(None) else {
            return out;
        };
        let Ok(root) = tree.root() else { return out };
        let qualify = !self.lang(ui).keyword_types();
        self.collect_globals(ui, unit, root, qualify, target, &mut out, 0);
        out
    }

    #[allow(clippy::too_many_arguments)]
    fn collect_globals(
        &self,
        ui: usize,
        unit: &Unit<Reader>,
        node: gimli::EntriesTreeNode<Reader>,
        qualify: bool,
        target: &dyn Target,
        out: &mut Vec<Variable>,
        depth: usize,
    ) {
        if depth > TYPE_DEPTH_MAX {
            return;
        }
        let mut children = node.children();
        while let Ok(Some(child)) = children.next() {
            let e = child.entry();
            match e.tag() {
                gimli::DW_TAG_namespace | gimli::DW_TAG_module => {
                    self.collect_globals(ui, unit, child, qualify, target, out, depth + 1);
                }
                gimli::DW_TAG_variable => {
                    if matches!(
                        e.attr_value(gimli::DW_AT_artificial),
                        Ok(Some(AttributeValue::Flag(true)))
                    ) {
                        continue;
                    }
                    let loc = e.attr_value(gimli::DW_AT_location).ok().flatten();
                    let constant = const_bytes(e);
                    if loc.is_none() && constant.is_none() {
                        continue;
                    }
                    let Some(name) = self.name_of(unit, e) else {
                        continue;
                    };
                    if name.contains("{vtable}") || name.starts_with("_vtable$") {
                        continue;
                    }
                    // A static member's definition is named by the member
                    // it defines, in its class.
                    let declared_at = match e.attr_value(gimli::DW_AT_specification) {
                        Ok(Some(AttributeValue::UnitRef(o))) => o.0,
                        _ => e.offset().0,
                    };
                    let name = if qualify {
                        self.qualified(ui, declared_at, &name)
                    } else {
                        name
                    };
                    // The language's runtime library: thousands of them in
                    // a Rust, C++ or Zig program, none the user's.
                    if is_library_name(&name)
                        || name.contains("::_vtable$")
                        || self.decl_path(unit, e).is_some_and(|p| is_library_path(&p))
                    {
                        continue;
                    }
                    let place = match constant {
                        Some(bytes) if loc.is_none() => Place::Bytes(bytes),
                        _ => self.place(unit, loc, pc_none(), None, target),
                    };
                    out.push(Variable {
                        name,
                        value: Value {
                            ty: self.type_of(ui, e),
                            dims: 0,
                            place,
                        },
                    });
                }
                _ => {}
            }
        }
    }

    fn place(
        &self,
        unit: &Unit<Reader>,
        loc: Option<AttributeValue<Reader>>,
        pc: u64,
        frame_base: Option<u64>,
        target: &dyn Target,
    ) -> Place {
        let Some(loc) = loc else {
            return Place::Unavailable("optimized out".into());
        };
        if let AttributeValue::Exprloc(e) = loc {
            return self.eval(unit, e, frame_base, target);
        }
        match self.dwarf.attr_locations(unit, loc) {
            Ok(Some(mut list)) => {
                while let Ok(Some(entry)) = list.next() {
                    if entry.range.begin <= pc && pc < entry.range.end {
                        return self.eval(unit, entry.data, frame_base, target);
                    }
                }
                Place::Unavailable("optimized out".into())
            }
            _ => Place::Unavailable("unsupported location form".into()),
        }
    }

    /// Evaluates a location expression.
    fn eval(
        &self,
        unit: &Unit<Reader>,
        expr: gimli::Expression<Reader>,
        frame_base: Option<u64>,
        target: &dyn Target,
    ) -> Place {
        let mut stack: Vec<u64> = Vec::new();
        let mut ops = expr.operations(unit.encoding());
        // `DW_OP_WASM_location` pushes the local's (or global's) value,
        // as `DW_OP_bregN 0` would: without `DW_OP_stack_value` it is the
        // address of the variable in linear memory. LLVM emits the bare
        // form for indirect locations (a Rust `String` or a Zig optional
        // whose address sits in a local) and appends `DW_OP_stack_value`
        // when the local holds the value itself.
        let mut is_value = false;
        let mut pieces: Vec<u8> = Vec::new();
        let mut pieced = false;
        let pop = |s: &mut Vec<u64>| s.pop().ok_or("empty DWARF expression stack".to_string());
        let step = |op: Operation<Reader>,
                    stack: &mut Vec<u64>,
                    is_value: &mut bool|
         -> Result<Option<Place>> {
            let unavailable = |what: &str| Ok(Some(Place::Unavailable(what.to_string())));
            match op {
                Operation::WasmLocal { index } => {
                    let v = target
                        .local(index)
                        .ok_or_else(|| format!("wasm local {index} is not available"))?;
                    stack.push(v);
                }
                Operation::WasmGlobal { index } => {
                    let v = target
                        .global(index)
                        .ok_or_else(|| format!("wasm global {index} is not available"))?;
                    stack.push(v);
                }
                Operation::WasmStack { index } => match target.stack_value(index) {
                    Some(v) => stack.push(v),
                    None => return unavailable("on the wasm operand stack, not recorded here"),
                },
                Operation::FrameOffset { offset } => {
                    let fb = frame_base.ok_or("no frame base")?;
                    stack.push(fb.wrapping_add(offset as u64));
                }
                Operation::Address { address } => {
                    // The linker's tombstone: the object was discarded
                    // (Zig's comptime constants, unused data).
                    if address >= 0xffff_fffe {
                        return unavailable("not in the module (discarded by the linker)");
                    }
                    stack.push(address)
                }
                Operation::UnsignedConstant { value } => stack.push(value),
                Operation::SignedConstant { value } => stack.push(value as u64),
                Operation::PlusConstant { value } => {
                    let a = pop(stack)?;
                    stack.push(a.wrapping_add(value));
                }
                Operation::Plus
                | Operation::Minus
                | Operation::Mul
                | Operation::And
                | Operation::Or
                | Operation::Xor
                | Operation::Shl
                | Operation::Shr
                | Operation::Div
                | Operation::Mod => {
                    let b = pop(stack)?;
                    let a = pop(stack)?;
                    let r = match op {
                        Operation::Plus => a.wrapping_add(b),
                        Operation::Minus => a.wrapping_sub(b),
                        Operation::Mul => a.wrapping_mul(b),
                        Operation::And => a & b,
                        Operation::Or => a | b,
                        Operation::Xor => a ^ b,
                        Operation::Shl => a.wrapping_shl(b as u32),
                        Operation::Shr => a.wrapping_shr(b as u32),
                        Operation::Div => {
                            (a as i64).checked_div(b as i64).ok_or("division by zero")? as u64
                        }
                        _ => a.checked_rem(b).ok_or("division by zero")?,
                    };
                    stack.push(r);
                }
                Operation::Neg => {
                    let a = pop(stack)?;
                    stack.push((a as i64).wrapping_neg() as u64);
                }
                Operation::Not => {
                    let a = pop(stack)?;
                    stack.push(!a);
                }
                Operation::Drop => {
                    pop(stack)?;
                }
                Operation::Pick { index } => {
                    let i = stack
                        .len()
                        .checked_sub(1 + index as usize)
                        .ok_or("DW_OP_pick out of range")?;
                    stack.push(stack[i]);
                }
                Operation::Swap => {
                    let b = pop(stack)?;
                    let a = pop(stack)?;
                    stack.push(b);
                    stack.push(a);
                }
                Operation::Deref { size, .. } => {
                    let a = pop(stack)?;
                    let bytes = target
                        .read(a, size as usize)
                        .ok_or_else(|| format!("cannot read memory at {a:#x}"))?;
                    stack.push(le_u64(&bytes));
                }
                Operation::StackValue => *is_value = true,
                Operation::ImplicitValue { data } => {
                    return Ok(Some(Place::Bytes(
                        data.to_slice().map_err(|e| e.to_string())?.to_vec(),
                    )));
                }
                Operation::Nop => {}
                other => return unavailable(&format!("unsupported DWARF operation {other:?}")),
            }
            Ok(None)
        };
        loop {
            let op = match ops.next() {
                Ok(Some(op)) => op,
                Ok(None) => break,
                Err(e) => return Place::Unavailable(format!("bad DWARF expression: {e}")),
            };
            if let Operation::Piece { size_in_bits, .. } = op {
                // Pieces of the value in turn: only whole-byte pieces whose
                // parts are values (locals, computed) or memory we can read.
                pieced = true;
                let n = (size_in_bits / 8) as usize;
                let part = if stack.is_empty() {
                    None
                } else if is_value {
                    Some(stack.last().copied().unwrap_or(0).to_le_bytes().to_vec())
                } else {
                    target.read(stack.last().copied().unwrap_or(0), n)
                };
                match part {
                    Some(mut b) => {
                        b.resize(n, 0);
                        pieces.extend(b);
                    }
                    None => return Place::Unavailable("partly optimized out".into()),
                }
                stack.clear();
                is_value = false;
                continue;
            }
            match step(op, &mut stack, &mut is_value) {
                Ok(Some(place)) => return place,
                Ok(None) => {}
                Err(e) => return Place::Unavailable(e),
            }
        }
        if pieced {
            return Place::Bytes(pieces);
        }
        match stack.last() {
            None => Place::Unavailable("optimized out".into()),
            Some(&v) if is_value => Place::Bytes(v.to_le_bytes().to_vec()),
            Some(&a) => Place::Memory(a),
        }
    }

    pub(crate) fn ty(&self, id: TypeId) -> Option<Ty> {
        if let Some(t) = self.types.types.borrow().get(&id) {
            return Some(t.clone());
        }
        let t = self.ty_depth(id, 0)?;
        self.types.types.borrow_mut().insert(id, t.clone());
        Some(t)
    }

    /// The language of unit `unit`, computed once.
    pub(crate) fn lang(&self, unit: usize) -> Lang {
        if let Some(&l) = self.types.langs.borrow().get(&unit) {
            return l;
        }
        let l = self
            .units()
            .get(unit)
            .map_or(Lang::Other, |u| self.unit_lang(u));
        self.types.langs.borrow_mut().insert(unit, l);
        l
    }

    fn ty_depth(&self, id: TypeId, depth: usize) -> Option<Ty> {
        if depth > TYPE_DEPTH_MAX {
            return None;
        }
        if depth > 0 {
            if let Some(t) = self.types.types.borrow().get(&id) {
                return Some(t.clone());
            }
        }
        let unit = self.units().get(id.unit)?;
        let lang = self.lang(id.unit);
        let e = unit.entry(UnitOffset(id.offset)).ok()?;
        let name = self.name_of(unit, &e);
        // C names aggregates with a keyword; C++, Rust and Zig by their
        // qualified names.
        let qualified = |n: &str| -> String {
            match lang {
                Lang::C | Lang::Other => n.to_string(),
                Lang::Cpp => super::names::tidy_cpp(&self.qualified(id.unit, id.offset, n)),
                Lang::Rust | Lang::Zig => self.qualified(id.unit, id.offset, n),
            }
        };
        let size = attr_u64(&e, gimli::DW_AT_byte_size);
        let target = self.type_of(id.unit, &e);
        let inner = |prefix: &str| -> Option<Ty> {
            let mut t = match target {
                Some(t) => self.ty_depth(t, depth + 1)?,
                None => Ty {
                    name: "void".into(),
                    size: 0,
                    kind: Kind::Void,
                    lang,
                },
            };
            t.name = format!("{prefix}{}", t.name);
            Some(t)
        };
        let ty = match e.tag() {
            gimli::DW_TAG_base_type => {
                let enc = match e.attr_value(gimli::DW_AT_encoding).ok()?? {
                    AttributeValue::Encoding(enc) => enc,
                    _ => return None,
                };
                Ty {
                    name: name.unwrap_or_else(|| "?".into()),
                    size: size.unwrap_or(0),
                    kind: Kind::Base(enc),
                    lang,
                }
            }
            gimli::DW_TAG_unspecified_type => Ty {
                name: name.unwrap_or_else(|| "void".into()),
                size: 0,
                kind: Kind::Void,
                lang,
            },
            gimli::DW_TAG_pointer_type
            | gimli::DW_TAG_reference_type
            | gimli::DW_TAG_rvalue_reference_type => {
                // Rust names its pointer types (`&str` is a struct, but
                // `&u32`, `*const u8` and `Box<T>` are pointers).
                let shown = match name {
                    Some(n) if !lang.keyword_types() => qualified(&n),
                    _ => {
                        let pointee = match target {
                            Some(t) => self.type_name_depth(t, depth + 1),
                            None => "void".into(),
                        };
                        let sigil = match e.tag() {
                            gimli::DW_TAG_reference_type => "&",
                            gimli::DW_TAG_rvalue_reference_type => "&&",
                            _ => "*",
                        };
                        format!("{pointee} {sigil}")
                    }
                };
                Ty {
                    name: shown,
                    size: size.unwrap_or(4),
                    kind: Kind::Pointer(target),
                    lang,
                }
            }
            gimli::DW_TAG_ptr_to_member_type => Ty {
                name: "member pointer".into(),
                size: size.unwrap_or(4),
                kind: Kind::Base(gimli::DW_ATE_unsigned),
                lang,
            },
            gimli::DW_TAG_typedef => {
                let mut t = inner("")?;
                t.name = name.map(|n| qualified(&n)).unwrap_or(t.name);
                t
            }
            gimli::DW_TAG_const_type => inner("const ")?,
            gimli::DW_TAG_volatile_type => inner("volatile ")?,
            gimli::DW_TAG_restrict_type | gimli::DW_TAG_atomic_type => inner("")?,
            gimli::DW_TAG_structure_type | gimli::DW_TAG_class_type | gimli::DW_TAG_union_type => {
                let word = match e.tag() {
                    gimli::DW_TAG_union_type => "union",
                    gimli::DW_TAG_class_type => "class",
                    _ => "struct",
                };
                let agg = self.aggregate(id.unit, unit, &e);
                let shown = match name {
                    Some(n) if !lang.keyword_types() => qualified(&n),
                    n => format!("{word} {}", n.unwrap_or_else(|| "<anonymous>".into())),
                };
                Ty {
                    name: shown,
                    size: size.unwrap_or(0),
                    kind: Kind::Struct(Box::new(agg)),
                    lang,
                }
            }
            gimli::DW_TAG_array_type => {
                let mut dims = Vec::new();
                let mut tree = unit.entries_tree(Some(e.offset())).ok()?;
                let root = tree.root().ok()?;
                let mut children = root.children();
                while let Ok(Some(child)) = children.next() {
                    let s = child.entry();
                    if s.tag() != gimli::DW_TAG_subrange_type {
                        continue;
                    }
                    let count = attr_u64(s, gimli::DW_AT_count).or_else(|| {
                        attr_u64(s, gimli::DW_AT_upper_bound)
                            .map(|u| u + 1 - attr_u64(s, gimli::DW_AT_lower_bound).unwrap_or(0))
                    });
                    dims.push(count);
                }
                if dims.is_empty() {
                    dims.push(None);
                }
                let elem_name = match target {
                    Some(t) => self.type_name_depth(t, depth + 1),
                    None => "?".into(),
                };
                let shape: String = dims
                    .iter()
                    .map(|d| d.map_or("[]".to_string(), |n| format!("[{n}]")))
                    .collect();
                let elem_size = target
                    .and_then(|t| self.ty_depth(t, depth + 1))
                    .map_or(0, |t| t.size);
                Ty {
                    name: format!("{elem_name}{shape}"),
                    size: size.unwrap_or_else(|| {
                        dims.iter().map(|d| d.unwrap_or(0)).product::<u64>() * elem_size
                    }),
                    kind: Kind::Array { elem: target, dims },
                    lang,
                }
            }
            gimli::DW_TAG_enumeration_type => {
                let mut items = Vec::new();
                let mut tree = unit.entries_tree(Some(e.offset())).ok()?;
                let root = tree.root().ok()?;
                let mut children = root.children();
                let signed = target
                    .and_then(|t| self.ty_depth(t, depth + 1))
                    .is_some_and(|t| {
                        matches!(
                            t.kind,
                            Kind::Base(gimli::DW_ATE_signed | gimli::DW_ATE_signed_char)
                        )
                    });
                while let Ok(Some(child)) = children.next() {
                    let en = child.entry();
                    if en.tag() != gimli::DW_TAG_enumerator {
                        continue;
                    }
                    let v = match en.attr_value(gimli::DW_AT_const_value).ok().flatten() {
                        Some(AttributeValue::Sdata(v)) => i128::from(v),
                        Some(v) => v.udata_value().map(i128::from).unwrap_or(0),
                        None => continue,
                    };
                    items.push((self.name_of(unit, en).unwrap_or_default(), v));
                }
                Ty {
                    name: match name {
                        Some(n) if !lang.keyword_types() => qualified(&n),
                        n => format!("enum {}", n.unwrap_or_else(|| "<anonymous>".into())),
                    },
                    size: size.unwrap_or(4),
                    kind: Kind::Enum { items, signed },
                    lang,
                }
            }
            gimli::DW_TAG_subroutine_type => Ty {
                name: "function".into(),
                size: 0,
                kind: Kind::Function,
                lang,
            },
            _ => return None,
        };
        Some(ty)
    }

    /// The members, static members, variant part and template parameters
    /// of a struct, class or union entry.
    fn aggregate(
        &self,
        unit_index: usize,
        unit: &Unit<Reader>,
        e: &DebuggingInformationEntry<Reader>,
    ) -> Aggregate {
        let mut agg = Aggregate::default();
        let Ok(mut tree) = unit.entries_tree(Some(e.offset())) else {
            return agg;
        };
        let Ok(root) = tree.root() else { return agg };
        let mut children = root.children();
        while let Ok(Some(child)) = children.next() {
            let m = child.entry();
            match m.tag() {
                gimli::DW_TAG_member | gimli::DW_TAG_variable => {
                    let flag =
                        |at| matches!(m.attr_value(at), Ok(Some(AttributeValue::Flag(true))));
                    let is_static = m.tag() == gimli::DW_TAG_variable
                        || flag(gimli::DW_AT_external)
                        || flag(gimli::DW_AT_declaration);
                    let name = self
                        .name_of(unit, m)
                        .unwrap_or_else(|| "<anonymous>".into());
                    if is_static && (flag(gimli::DW_AT_artificial) || name.starts_with("_vtable$"))
                    {
                        // The compiler's own (clang's `_vtable$`).
                    } else if is_static {
                        agg.statics.push(Static {
                            name,
                            ty: self.type_of(unit_index, m),
                            unit: unit_index,
                            decl: m.offset().0,
                        });
                    } else {
                        agg.members.push(self.member_of(unit_index, m, name));
                    }
                }
                gimli::DW_TAG_inheritance => {
                    // A base class is a member named after its type.
                    let ty = self.type_of(unit_index, m);
                    let name = ty
                        .and_then(|t| self.ty(t))
                        .map_or_else(|| "<base>".into(), |t| t.name);
                    agg.members.push(Member {
                        name,
                        offset: attr_u64(m, gimli::DW_AT_data_member_location).unwrap_or(0),
                        ty,
                        bits: None,
                    });
                }
                gimli::DW_TAG_template_type_parameter => {
                    let name = self.name_of(unit, m).unwrap_or_default();
                    agg.params.push((name, self.type_of(unit_index, m)));
                }
                gimli::DW_TAG_variant_part => {
                    agg.variants = Some(self.variant_part(unit_index, unit, m));
                }
                _ => {}
            }
        }
        agg
    }

    fn member_of(
        &self,
        unit_index: usize,
        m: &DebuggingInformationEntry<Reader>,
        name: String,
    ) -> Member {
        let mut offset = attr_u64(m, gimli::DW_AT_data_member_location).unwrap_or(0);
        // Bitfields: (shift within the 8 bytes at `offset`, size).
        let bits = attr_u64(m, gimli::DW_AT_bit_size).map(|bit_size| {
            if let Some(data_bit) = attr_u64(m, gimli::DW_AT_data_bit_offset) {
                // DWARF 5: bits from the start of the struct.
                offset = data_bit / 8;
                (data_bit % 8, bit_size)
            } else {
                // DWARF 4: counted from the storage unit's most
                // significant bit (little-endian target).
                let storage = attr_u64(m, gimli::DW_AT_byte_size).unwrap_or(4);
                let from_top = attr_u64(m, gimli::DW_AT_bit_offset).unwrap_or(0);
                ((storage * 8).saturating_sub(from_top + bit_size), bit_size)
            }
        });
        Member {
            name,
            offset,
            ty: self.type_of(unit_index, m),
            bits,
        }
    }

    fn variant_part(
        &self,
        unit_index: usize,
        unit: &Unit<Reader>,
        part: &DebuggingInformationEntry<Reader>,
    ) -> Variants {
        let discr_at = match part.attr_value(gimli::DW_AT_discr) {
            Ok(Some(AttributeValue::UnitRef(o))) => Some(o),
            _ => None,
        };
        let mut out = Variants {
            discr: None,
            cases: Vec::new(),
        };
        let Ok(mut tree) = unit.entries_tree(Some(part.offset())) else {
            return out;
        };
        let Ok(root) = tree.root() else { return out };
        let mut children = root.children();
        while let Ok(Some(child)) = children.next() {
            let e = child.entry();
            match e.tag() {
                gimli::DW_TAG_member if Some(e.offset()) == discr_at => {
                    out.discr = Some(self.member_of(unit_index, e, "<discriminant>".into()));
                }
                gimli::DW_TAG_variant => {
                    let value = e
                        .attr_value(gimli::DW_AT_discr_value)
                        .ok()
                        .flatten()
                        .and_then(|v| match v {
                            AttributeValue::Sdata(s) => Some(s as u64),
                            v => v.udata_value(),
                        });
                    let mut members = child.children();
                    while let Ok(Some(m)) = members.next() {
                        let m = m.entry();
                        if m.tag() == gimli::DW_TAG_member {
                            let name = self.name_of(unit, m).unwrap_or_default();
                            out.cases.push((value, self.member_of(unit_index, m, name)));
                        }
                    }
                }
                _ => {}
            }
        }
        out
    }

    /// Which variant of an enum with a variant part a value holds: its
    /// member (a struct of the variant's fields).
    pub(crate) fn active_variant(
        &self,
        v: &Value,
        variants: &Variants,
        target: &dyn Target,
    ) -> Result<Member> {
        let value = match &variants.discr {
            Some(d) => {
                let dv = self.member_value(v, d, target)?;
                let size = d.ty.and_then(|t| self.ty(t)).map_or(4, |t| t.size).min(8);
                let raw = le_u64(&self.bytes(&dv, size, target)?);
                Some(raw)
            }
            None => None,
        };
        let mask = |x: u64| -> u64 {
            let size = variants
                .discr
                .as_ref()
                .and_then(|d| d.ty)
                .and_then(|t| self.ty(t))
                .map_or(8, |t| t.size);
            if size >= 8 {
                x
            } else {
                x & ((1u64 << (size * 8)) - 1)
            }
        };
        let chosen = variants
            .cases
            .iter()
            .find(|(dv, _)| dv.is_some() && dv.map(mask) == value.map(mask))
            .or_else(|| variants.cases.iter().find(|(dv, _)| dv.is_none()))
            .or_else(|| {
                // An enum with a single variant has no discriminant.
                (variants.cases.len() == 1).then(|| &variants.cases[0])
            });
        chosen
            .map(|(_, m)| m.clone())
            .ok_or_else(|| format!("no variant for discriminant {}", value.unwrap_or(0)))
    }

    /// Each declaration's defining entry in unit `unit` (through
    /// `DW_AT_specification`), computed once.
    fn definitions(&self, unit: usize) -> Rc<std::collections::HashMap<usize, usize>> {
        super::names::per_unit(&self.types.definitions, unit, || {
            let mut map = std::collections::HashMap::new();
            if let Some(u) = self.units().get(unit) {
                let mut entries = u.entries();
                while let Ok(Some((_, e))) = entries.next_dfs() {
                    if let Ok(Some(AttributeValue::UnitRef(o))) =
                        e.attr_value(gimli::DW_AT_specification)
                    {
                        map.insert(o.0, e.offset().0);
                    }
                }
            }
            map
        })
    }

    /// The value of a static data member: its constant, or the variable
    /// that defines it.
    fn static_value(&self, s: &Static, target: &dyn Target) -> Value {
        let value = |place| Value {
            ty: s.ty,
            dims: 0,
            place,
        };
        let Some(unit) = self.units().get(s.unit) else {
            return value(Place::Unavailable("no unit".into()));
        };
        let Ok(decl) = unit.entry(UnitOffset(s.decl)) else {
            return value(Place::Unavailable("bad DWARF reference".into()));
        };
        if let Some(bytes) = const_bytes(&decl) {
            return value(Place::Bytes(bytes));
        }
        let Some(&def) = self.definitions(s.unit).get(&s.decl) else {
            return value(Place::Unavailable(
                "static member not defined in this module".into(),
            ));
        };
        let Ok(def) = unit.entry(UnitOffset(def)) else {
            return value(Place::Unavailable("bad DWARF reference".into()));
        };
        if let Some(bytes) = const_bytes(&def) {
            return value(Place::Bytes(bytes));
        }
        let loc = def.attr_value(gimli::DW_AT_location).ok().flatten();
        value(self.place(unit, loc, 0, None, target))
    }

    fn type_name_depth(&self, id: TypeId, depth: usize) -> String {
        self.ty_depth(id, depth)
            .map_or_else(|| "?".to_string(), |t| t.name)
    }

    /// The effective type of a value: the array's element type (with
    /// fewer dimensions) when dimensions were indexed away.
    /// The type of a value as one DWARF type: its own, or the array's
    /// element type once every dimension is indexed away (`None` for a
    /// partly indexed multi-dimensional array).
    pub(crate) fn value_type_id(&self, v: &Value) -> Option<TypeId> {
        let id = v.ty?;
        if v.dims == 0 {
            return Some(id);
        }
        match self.ty(id)?.kind {
            Kind::Array { elem, dims } if dims.len() == v.dims => elem,
            _ => None,
        }
    }

    pub(crate) fn value_ty(&self, v: &Value) -> Option<Ty> {
        let mut t = self.ty(v.ty?)?;
        if v.dims > 0 {
            let Kind::Array { elem, dims } = &t.kind else {
                return None;
            };
            let rest: Vec<Option<u64>> = dims.iter().skip(v.dims).copied().collect();
            let elem = *elem;
            if rest.is_empty() {
                return match elem {
                    Some(e) => self.ty(e),
                    None => None,
                };
            }
            let elem_ty = elem.and_then(|e| self.ty(e));
            let elem_size = elem_ty.as_ref().map_or(0, |e| e.size);
            let shape: String = rest
                .iter()
                .map(|d| d.map_or("[]".to_string(), |n| format!("[{n}]")))
                .collect();
            t = Ty {
                name: format!("{}{shape}", elem_ty.map_or("?".into(), |e| e.name)),
                size: rest.iter().map(|d| d.unwrap_or(0)).product::<u64>() * elem_size,
                kind: Kind::Array { elem, dims: rest },
                lang: t.lang,
            };
        }
        Some(t)
    }

    pub(crate) fn bytes(&self, v: &Value, size: u64, target: &dyn Target) -> Result<Vec<u8>> {
        match &v.place {
            Place::Memory(a) => target
                .read(*a, size as usize)
                .ok_or_else(|| format!("cannot read memory at {a:#x}")),
            Place::Bytes(b) => {
                let mut b = b.clone();
                b.resize(size as usize, 0);
                Ok(b)
            }
            Place::Unavailable(why) => Err(why.clone()),
        }
    }

    /// The value as a number: integers, bools, chars, enums, floats and
    /// pointers (their address).
    pub fn scalar(&self, v: &Value, target: &dyn Target) -> Result<Scalar> {
        let t = self.value_ty(v).ok_or("unknown type")?;
        let bytes = self.bytes(v, t.size, target)?;
        let raw = le_u64(&bytes);
        let sign = |bits: u64| -> i128 {
            if bits == 0 || bits >= 64 {
                return raw as i64 as i128;
            }
            let shift = 64 - bits;
            i128::from(((raw << shift) as i64) >> shift)
        };
        Ok(match t.kind {
            Kind::Base(gimli::DW_ATE_float) => match t.size {
                4 => Scalar::Float(f64::from(f32::from_bits(raw as u32))),
                8 => Scalar::Float(f64::from_bits(raw)),
                _ => return Err(format!("{}-byte floats are not supported", t.size)),
            },
            Kind::Base(gimli::DW_ATE_signed | gimli::DW_ATE_signed_char) => {
                if t.size == 16 {
                    Scalar::Int(i128::from_le_bytes(
                        bytes[..16].try_into().unwrap_or([0; 16]),
                    ))
                } else {
                    Scalar::Int(sign(t.size * 8))
                }
            }
            Kind::Enum { signed: true, .. } => Scalar::Int(sign(t.size * 8)),
            Kind::Base(_) | Kind::Enum { .. } | Kind::Pointer(_) => {
                if t.size == 16 {
                    Scalar::Int(
                        u128::from_le_bytes(bytes[..16].try_into().unwrap_or([0; 16])) as i128,
                    )
                } else {
                    Scalar::Int(i128::from(raw))
                }
            }
            _ => return Err(format!("`{}` is not a number", t.name)),
        })
    }

    /// Shows a value: its text, type name, whether it expands, and its
    /// address.
    pub fn render(&self, v: &Value, target: &dyn Target) -> Rendered {
        // Summaries nest (a tree of boxed nodes shows its nodes): past a
        // depth, and always on cyclic data (`Rc` cycles), the rest is
        // elided and left to expanding.
        let depth = self.types.render_depth.get();
        if depth >= RENDER_DEPTH_MAX {
            return Rendered {
                value: "{…}".into(),
                type_name: self.value_ty(v).map(|t| t.name).unwrap_or_default(),
                expandable: true,
                ..Rendered::default()
            };
        }
        // Restored on the way out, a panic included.
        struct Depth<'a>(&'a std::cell::Cell<usize>, usize);
        impl Drop for Depth<'_> {
            fn drop(&mut self) {
                self.0.set(self.1);
            }
        }
        let _restore = Depth(&self.types.render_depth, depth);
        self.types.render_depth.set(depth + 1);
        self.render_at_depth(v, target)
    }

    fn render_at_depth(&self, v: &Value, target: &dyn Target) -> Rendered {
        let Some(t) = self.value_ty(v) else {
            return Rendered {
                value: match &v.place {
                    Place::Unavailable(why) => unavailable_text(why),
                    _ => "<unknown type>".into(),
                },
                ..Rendered::default()
            };
        };
        let memory_address = match v.place {
            Place::Memory(a) => Some(a),
            _ => None,
        };
        let mut r = Rendered {
            type_name: t.name.clone(),
            memory_address,
            ..Rendered::default()
        };
        if let Place::Unavailable(why) = &v.place {
            r.value = unavailable_text(why);
            return r;
        }
        // A value the language's library gives a shape (a string, a
        // vector, a map, a smart pointer) shows that shape; when its
        // internals do not hold together (uninitialized, or a library
        // version we do not know), the raw value shows instead.
        if let Some(Ok(s)) = formatters::synthetic(self, v, &t, target) {
            r.value = s.summary().to_string();
            r.expandable = s.has_children();
            r.indexed = s.indexed();
            if let Some(a) = s.address() {
                r.memory_address = Some(a);
            }
            return r;
        }
        match &t.kind {
            Kind::Void => r.value = "void".into(),
            Kind::Function => r.value = "<function>".into(),
            Kind::Base(enc) => {
                r.value = match self.scalar(v, target) {
                    Ok(s) => render_base(*enc, s),
                    Err(e) => format!("<error: {e}>"),
                }
            }
            Kind::Enum { items, .. } => {
                r.value = match self.scalar(v, target) {
                    Ok(s) => {
                        let n = s.as_int();
                        match items.iter().find(|(_, v)| *v == n) {
                            Some((name, _)) => format!("{name} ({n})"),
                            None => n.to_string(),
                        }
                    }
                    Err(e) => format!("<error: {e}>"),
                }
            }
            Kind::Pointer(target_ty) => {
                let addr = self.scalar(v, target).map(|s| s.as_int() as u64);
                match addr {
                    Err(e) => r.value = format!("<error: {e}>"),
                    Ok(0) => {
                        r.value = match t.lang {
                            Lang::Cpp => "nullptr",
                            Lang::Rust | Lang::Zig => "null",
                            Lang::C | Lang::Other => "NULL",
                        }
                        .into()
                    }
                    Ok(a) => {
                        r.memory_address = Some(a);
                        let pointee = target_ty.and_then(|t| self.ty(t));
                        r.value = format!("{a:#010x}");
                        match pointee.as_ref().map(|p| &p.kind) {
                            Some(Kind::Base(enc))
                                if is_char(*enc, pointee.as_ref().map_or(0, |p| p.size)) =>
                            {
                                r.value = format!("{a:#010x} {}", c_string(target, a));
                            }
                            Some(Kind::Function) => {
                                r.value = match target.function_name(a as u32) {
                                    Some(name) => format!("{name} (table slot {a})"),
                                    None => format!("table slot {a}"),
                                };
                            }
                            Some(Kind::Void) | None => {}
                            Some(_) => r.expandable = true,
                        }
                    }
                }
            }
            Kind::Struct(agg) => {
                if let Some(variants) = &agg.variants {
                    match self.active_variant(v, variants, target) {
                        Ok(m) => match self.member_value(v, &m, target) {
                            Ok(inner) => {
                                r.value = self.variant_text(&m.name, &inner, target);
                                r.expandable =
                                    self.struct_members(&inner).is_some_and(|m| !m.is_empty());
                            }
                            Err(e) => r.value = format!("<error: {e}>"),
                        },
                        Err(e) => r.value = format!("<error: {e}>"),
                    }
                    return r;
                }
                let members = &agg.members;
                r.expandable = !members.is_empty() || !agg.statics.is_empty();
                let parts: Vec<String> = members
                    .iter()
                    .take(PREVIEW_ITEMS)
                    .filter_map(|m| {
                        let child = self.member_value(v, m, target).ok()?;
                        let shown = self.render_shallow(&child, target);
                        Some(if is_tuple_field(&m.name) {
                            shown
                        } else {
                            format!("{}: {shown}", m.name)
                        })
                    })
                    .collect();
                let more = if members.len() > PREVIEW_ITEMS {
                    ", …"
                } else {
                    ""
                };
                // Rust tuples and tuple structs show as `(a, b)`.
                r.value = if !members.is_empty() && members.iter().all(|m| is_tuple_field(&m.name))
                {
                    format!("({}{more})", parts.join(", "))
                } else {
                    format!("{{{}{more}}}", parts.join(", "))
                };
            }
            Kind::Array { elem, dims } => {
                let count = dims.first().copied().flatten();
                r.indexed = count;
                r.expandable = count.is_some_and(|c| c > 0);
                let elem_ty = elem.and_then(|e| self.ty(e));
                if dims.len() == 1 {
                    if let (Some(et), Some(n)) = (&elem_ty, count) {
                        if let Kind::Base(enc) = et.kind {
                            if is_char(enc, et.size) {
                                if let Ok(b) = self.bytes(v, n, target) {
                                    let end = b.iter().position(|&c| c == 0).unwrap_or(b.len());
                                    r.value = format!("{:?}", String::from_utf8_lossy(&b[..end]));
                                    return r;
                                }
                            }
                        }
                    }
                }
                let shown: Vec<String> = (0..count.unwrap_or(0).min(PREVIEW_ITEMS as u64))
                    .filter_map(|i| self.index(v, i, target).ok())
                    .map(|c| self.render_shallow(&c, target))
                    .collect();
                let more = if count.unwrap_or(0) > PREVIEW_ITEMS as u64 {
                    ", …"
                } else {
                    ""
                };
                r.value = format!("{{{}{more}}}", shown.join(", "));
            }
        }
        r
    }

    /// One line for an aggregate's preview: scalars in full, aggregates
    /// elided.
    /// A Rust enum's variant as Rust writes it: `None`, `Some(5)`,
    /// `Circle { r: 1.5 }`.
    fn variant_text(&self, name: &str, inner: &Value, target: &dyn Target) -> String {
        let Some(members) = self.struct_members(inner) else {
            return name.to_string();
        };
        if members.is_empty() {
            return name.to_string();
        }
        let shown: Vec<(String, String)> = members
            .iter()
            .map(|m| {
                let text = self
                    .member_value(inner, m, target)
                    .map(|c| self.render_shallow(&c, target))
                    .unwrap_or_else(|e| format!("<error: {e}>"));
                (m.name.clone(), text)
            })
            .collect();
        if members.iter().all(|m| is_tuple_field(&m.name)) {
            let parts: Vec<String> = shown.into_iter().map(|(_, t)| t).collect();
            format!("{name}({})", parts.join(", "))
        } else {
            let parts: Vec<String> = shown
                .into_iter()
                .map(|(n, t)| format!("{n}: {t}"))
                .collect();
            format!("{name} {{ {} }}", parts.join(", "))
        }
    }

    /// The data members of a struct value's type.
    pub(crate) fn struct_members(&self, v: &Value) -> Option<Vec<Member>> {
        match self.value_ty(v)?.kind {
            Kind::Struct(agg) => Some(agg.members),
            _ => None,
        }
    }

    /// Whether a member is a base-class subobject (named after its type).
    fn is_base(&self, m: &Member) -> bool {
        m.ty.and_then(|t| self.ty(t))
            .is_some_and(|t| t.name == m.name)
    }

    pub(crate) fn render_shallow(&self, v: &Value, target: &dyn Target) -> String {
        let Some(t) = self.value_ty(v) else {
            return self.render(v, target).value;
        };
        if let Some(Ok(s)) = formatters::synthetic(self, v, &t, target) {
            return s.summary().to_string();
        }
        match t.kind {
            Kind::Struct(agg) if agg.variants.is_none() => "{…}".into(),
            Kind::Array { .. } => "[…]".into(),
            _ => self.render(v, target).value,
        }
    }

    pub(crate) fn member_value(&self, v: &Value, m: &Member, target: &dyn Target) -> Result<Value> {
        let place = match &v.place {
            Place::Memory(a) => Place::Memory(a + m.offset),
            Place::Bytes(b) => bytes_from(b, m.offset),
            Place::Unavailable(w) => Place::Unavailable(w.clone()),
        };
        let Some((shift, bit_size)) = m.bits else {
            return Ok(Value {
                ty: m.ty,
                dims: 0,
                place,
            });
        };
        // A bitfield: its bits, extracted from the 8 bytes at its storage
        // start, become a computed value of the member's type.
        let storage = Value {
            ty: None,
            dims: 0,
            place,
        };
        let raw = le_u64(&self.bytes(&storage, 8, target).or_else(|_| {
            // At the very end of memory: fewer bytes.
            self.bytes(&storage, 4, target)
        })?);
        let mask = if bit_size >= 64 {
            u64::MAX
        } else {
            (1u64 << bit_size) - 1
        };
        let mut bits = (raw >> shift) & mask;
        let signed = m.ty.and_then(|t| self.ty(t)).is_some_and(|t| {
            matches!(
                t.kind,
                Kind::Base(gimli::DW_ATE_signed | gimli::DW_ATE_signed_char)
                    | Kind::Enum { signed: true, .. }
            )
        });
        if signed && bit_size < 64 && bits >> (bit_size - 1) & 1 == 1 {
            bits |= !mask;
        }
        Ok(Value {
            ty: m.ty,
            dims: 0,
            place: Place::Bytes(bits.to_le_bytes().to_vec()),
        })
    }

    /// The fields of a struct (or of the struct a pointer points to), the
    /// elements of an array (`start`, at most `count`), or a pointer's
    /// pointee.
    pub fn children(
        &self,
        v: &Value,
        target: &dyn Target,
        start: u64,
        count: u64,
    ) -> Vec<Variable> {
        let Some(t) = self.value_ty(v) else {
            return Vec::new();
        };
        if let Some(Ok(s)) = formatters::synthetic(self, v, &t, target) {
            return s.children(self, start, count);
        }
        match &t.kind {
            Kind::Struct(agg) => {
                if let Some(variants) = &agg.variants {
                    return match self
                        .active_variant(v, variants, target)
                        .and_then(|m| self.member_value(v, &m, target))
                    {
                        Ok(inner) => self.children(&inner, target, start, count),
                        Err(_) => Vec::new(),
                    };
                }
                let mut out: Vec<Variable> = agg
                    .members
                    .iter()
                    .filter_map(|m| {
                        Some(Variable {
                            name: m.name.clone(),
                            value: self.member_value(v, m, target).ok()?,
                        })
                    })
                    .collect();
                out.extend(agg.statics.iter().map(|s| Variable {
                    name: format!("static {}", s.name),
                    value: self.static_value(s, target),
                }));
                out
            }
            Kind::Array { dims, .. } => {
                let n = dims.first().copied().flatten().unwrap_or(0);
                (start..n.min(start.saturating_add(count)))
                    .filter_map(|i| {
                        Some(Variable {
                            name: format!("[{i}]"),
                            value: self.index(v, i, target).ok()?,
                        })
                    })
                    .collect()
            }
            Kind::Pointer(_) => match self.deref(v, target) {
                Ok(p) => {
                    // A pointer to a struct expands straight to its fields.
                    if matches!(self.value_ty(&p).map(|t| t.kind), Some(Kind::Struct(_))) {
                        self.children(&p, target, start, count)
                    } else {
                        vec![Variable {
                            name: "*".into(),
                            value: p,
                        }]
                    }
                }
                Err(_) => Vec::new(),
            },
            _ => Vec::new(),
        }
    }

    /// `v.name` (or `v->name` for a pointer to a struct), and through
    /// what a smart pointer or trait object holds (`tree->left`).
    pub fn member(&self, v: &Value, name: &str, target: &dyn Target) -> Result<Value> {
        self.member_raw(v, name, target).or_else(|e| {
            let t = self.value_ty(v).ok_or("unknown type")?;
            match formatters::synthetic(self, v, &t, target) {
                Some(Ok(s)) => match s.target() {
                    Some(held) => self.member(held, name, target),
                    None => Err(e),
                },
                _ => Err(e),
            }
        })
    }

    /// `v.name` on the type's own members only (what formatters read: it
    /// never consults a formatter, so formatters cannot recurse).
    pub(crate) fn member_raw(&self, v: &Value, name: &str, target: &dyn Target) -> Result<Value> {
        let t = self.value_ty(v).ok_or("unknown type")?;
        match &t.kind {
            Kind::Struct(agg) => {
                if let Some(m) = agg.members.iter().find(|m| m.name == name) {
                    return self.member_value(v, m, target);
                }
                if let Some(s) = agg.statics.iter().find(|s| s.name == name) {
                    return Ok(self.static_value(s, target));
                }
                if let Some(variants) = &agg.variants {
                    // A field of the variant the enum holds.
                    let m = self.active_variant(v, variants, target)?;
                    let inner = self.member_value(v, &m, target)?;
                    return self.member_raw(&inner, name, target);
                }
                // A member of an anonymous struct or union, or of a base
                // class, as C and C++ name it.
                for m in agg
                    .members
                    .iter()
                    .filter(|m| m.name == "<anonymous>" || m.name == "<base>" || self.is_base(m))
                {
                    if let Ok(found) = self
                        .member_value(v, m, target)
                        .and_then(|b| self.member_raw(&b, name, target))
                    {
                        return Ok(found);
                    }
                }
                Err(format!("`{}` has no member `{name}`", t.name))
            }
            Kind::Pointer(_) => self.member_raw(&self.deref(v, target)?, name, target),
            _ => Err(format!("`{}` is not a struct or union", t.name)),
        }
    }

    /// `v[i]` for arrays and pointers.
    pub fn index(&self, v: &Value, i: u64, target: &dyn Target) -> Result<Value> {
        let t = self.value_ty(v).ok_or("unknown type")?;
        // `items[1]` on a vector, a slice or a string indexes the
        // formatter's elements.
        if let Some(Ok(s)) = formatters::synthetic(self, v, &t, target) {
            return s
                .element(self, i)
                .ok_or_else(|| format!("index {i} is out of bounds of `{}`", t.name));
        }
        match &t.kind {
            Kind::Array { elem, dims } => {
                let elem_ty = elem
                    .and_then(|e| self.ty(e))
                    .ok_or("unknown element type")?;
                let stride =
                    dims.iter().skip(1).map(|d| d.unwrap_or(0)).product::<u64>() * elem_ty.size;
                if let Some(n) = dims.first().copied().flatten() {
                    if i >= n {
                        return Err(format!("index {i} is out of bounds of `{}`", t.name));
                    }
                }
                let place = match &v.place {
                    Place::Memory(a) => Place::Memory(a + i * stride),
                    Place::Bytes(b) => bytes_from(b, i * stride),
                    Place::Unavailable(w) => Place::Unavailable(w.clone()),
                };
                Ok(Value {
                    ty: v.ty,
                    dims: v.dims + 1,
                    place,
                })
            }
            Kind::Pointer(_) => {
                let moved = self.offset_pointer(v, i128::from(i), target)?;
                self.deref(&moved, target)
            }
            _ => Err(format!("`{}` cannot be indexed", t.name)),
        }
    }

    /// `*v` for pointers (and the first element of arrays).
    pub fn deref(&self, v: &Value, target: &dyn Target) -> Result<Value> {
        let t = self.value_ty(v).ok_or("unknown type")?;
        match &t.kind {
            Kind::Pointer(pointee) => {
                let addr = self.scalar(v, target)?.as_int() as u64;
                if addr == 0 {
                    return Err("NULL pointer".into());
                }
                Ok(Value {
                    ty: *pointee,
                    dims: 0,
                    place: Place::Memory(addr),
                })
            }
            Kind::Array { .. } => self.index(v, 0, target),
            // A smart pointer, an optional, a trait object: what it holds.
            _ => match formatters::synthetic(self, v, &t, target) {
                Some(Ok(s)) => s
                    .target()
                    .cloned()
                    .ok_or_else(|| format!("`{}` holds nothing to dereference", t.name)),
                _ => Err(format!("`{}` is not a pointer", t.name)),
            },
        }
    }

    /// `(T *)address`: a value of the module's pointer type named `name`
    /// (spaces ignored: `struct node*` is `struct node *`) holding
    /// `address`. The type must exist in the DWARF: the program declares a
    /// `T *` somewhere.
    pub fn pointer_to(&self, name: &str, address: u32) -> Result<Value> {
        let squash = |s: &str| s.split_whitespace().collect::<String>();
        let want = squash(name);
        let found = {
            let cache = self.pointer_types.borrow();
            cache.get(&want).copied()
        };
        let id = match found {
            Some(id) => id,
            None => {
                let id = self.units().iter().enumerate().find_map(|(u, unit)| {
                    let mut entries = unit.entries();
                    while let Ok(Some((_, e))) = entries.next_dfs() {
                        if e.tag() != gimli::DW_TAG_pointer_type {
                            continue;
                        }
                        let id = TypeId {
                            unit: u,
                            offset: e.offset().0,
                        };
                        if self.ty(id).is_some_and(|t| squash(&t.name) == want) {
                            return Some(id);
                        }
                    }
                    None
                });
                self.pointer_types.borrow_mut().insert(want, id);
                id
            }
        };
        let id = id.ok_or_else(|| format!("the program declares no type `{}`", name.trim()))?;
        Ok(Value {
            ty: Some(id),
            dims: 0,
            place: Place::Bytes(address.to_le_bytes().to_vec()),
        })
    }

    /// `v + n` for pointers: the address moved by `n` elements.
    pub fn offset_pointer(&self, v: &Value, n: i128, target: &dyn Target) -> Result<Value> {
        let t = self.value_ty(v).ok_or("unknown type")?;
        let Kind::Pointer(pointee) = t.kind else {
            return Err(format!("`{}` is not a pointer", t.name));
        };
        let size = pointee
            .and_then(|p| self.ty(p))
            .map_or(1, |p| p.size.max(1));
        let addr = self.scalar(v, target)?.as_int();
        let moved = (addr + n * i128::from(size)) as u32;
        Ok(Value {
            ty: v.ty,
            dims: 0,
            place: Place::Bytes(moved.to_le_bytes().to_vec()),
        })
    }

    /// Where a scalar in memory can be written, with its encoding: for
    /// setting variables from the debugger.
    pub fn encode_scalar(&self, v: &Value, s: Scalar) -> Result<(u64, Vec<u8>)> {
        let t = self.value_ty(v).ok_or("unknown type")?;
        let Place::Memory(addr) = v.place else {
            return Err("only variables in linear memory can be changed".into());
        };
        let bytes = match (&t.kind, t.size) {
            (Kind::Base(gimli::DW_ATE_float), 4) => (s.as_float() as f32).to_le_bytes().to_vec(),
            (Kind::Base(gimli::DW_ATE_float), 8) => s.as_float().to_le_bytes().to_vec(),
            (Kind::Base(_) | Kind::Enum { .. } | Kind::Pointer(_), n @ (1 | 2 | 4 | 8 | 16)) => {
                s.as_int().to_le_bytes()[..n as usize].to_vec()
            }
            _ => return Err(format!("`{}` cannot be set from a number", t.name)),
        };
        Ok((addr, bytes))
    }
}

/// A `DW_AT_const_value` as little-endian bytes (integers widened to 16
/// bytes, sign-extended when signed).
fn const_bytes(e: &DebuggingInformationEntry<Reader>) -> Option<Vec<u8>> {
    match e.attr_value(gimli::DW_AT_const_value).ok()?? {
        AttributeValue::Block(b) => b.to_slice().ok().map(|b| b.to_vec()),
        AttributeValue::Sdata(v) => Some(i128::from(v).to_le_bytes().to_vec()),
        AttributeValue::Data1(v) => Some(u128::from(v).to_le_bytes().to_vec()),
        AttributeValue::Data2(v) => Some(u128::from(v).to_le_bytes().to_vec()),
        AttributeValue::Data4(v) => Some(u128::from(v).to_le_bytes().to_vec()),
        AttributeValue::Data8(v) => Some(u128::from(v).to_le_bytes().to_vec()),
        AttributeValue::Udata(v) => Some(u128::from(v).to_le_bytes().to_vec()),
        _ => None,
    }
}

/// Whether a qualified name belongs to a language's standard library
/// (`std::`, libc++'s `std::__1::`, Rust's `core::` and `alloc::`) or is
/// reserved to the implementation (`__x`).
fn is_library_name(name: &str) -> bool {
    ["std::", "core::", "alloc::", "__"]
        .iter()
        .any(|p| name.starts_with(p))
}

/// Whether a source path is a toolchain's library: Rust's standard
/// library (`/rustc/<hash>/library`), Zig's (`lib/std`, its build cache),
/// libc++'s headers.
fn is_library_path(path: &str) -> bool {
    path.starts_with("/rustc/")
        || path.contains("/lib/std/")
        || path.contains("/.cache/zig/")
        || path.contains("/include/c++/")
        || path.contains("/lib/libcxx/")
        || path.contains("/lib/libc/")
}

/// Rust names the fields of tuples and tuple structs `__0`, `__1`, ...
fn is_tuple_field(name: &str) -> bool {
    name.strip_prefix("__")
        .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
}

/// The part of a scope chain (subprogram first) that belongs to source
/// frame `level`: the chain is cut before each inlined subroutine, and
/// level 0 is the last piece (the innermost inlined function). A level
/// past the outermost gives the outermost.
fn inline_level<'c>(
    unit: &Unit<Reader>,
    chain: &'c [UnitOffset],
    level: usize,
) -> &'c [UnitOffset] {
    let mut starts = vec![0];
    for (i, &o) in chain.iter().enumerate().skip(1) {
        if unit
            .entry(o)
            .is_ok_and(|e| e.tag() == gimli::DW_TAG_inlined_subroutine)
        {
            starts.push(i);
        }
    }
    let piece = starts.len().saturating_sub(1 + level);
    let end = starts.get(piece + 1).copied().unwrap_or(chain.len());
    &chain[starts[piece]..end]
}

/// The part of a value held as bytes that starts at `offset`: a part
/// starting past them was described by no piece (DWARF 5, 2.6.1.2: the
/// rest of a variable that its pieces stop short of is not available), so
/// it is optimized out, not zeros (found by the debugger differential:
/// `uint8_t a[9]` described by its first byte at -O2).
fn bytes_from(b: &[u8], offset: u64) -> Place {
    match usize::try_from(offset).ok().and_then(|o| b.get(o..)) {
        Some(rest) if !rest.is_empty() => Place::Bytes(rest.to_vec()),
        _ => Place::Unavailable("optimized out".into()),
    }
}

fn unavailable_text(why: &str) -> String {
    if why == "optimized out" {
        "<optimized out>".into()
    } else {
        format!("<unavailable: {why}>")
    }
}

fn le_u64(bytes: &[u8]) -> u64 {
    let mut b = [0u8; 8];
    let n = bytes.len().min(8);
    b[..n].copy_from_slice(&bytes[..n]);
    u64::from_le_bytes(b)
}

fn is_char(enc: gimli::DwAte, size: u64) -> bool {
    size == 1
        && matches!(
            enc,
            gimli::DW_ATE_signed_char | gimli::DW_ATE_unsigned_char | gimli::DW_ATE_UTF
        )
}

/// A float as debuggers print it: the shortest text that reads back the
/// same, in exponent form when very large or very small.
fn float_text(f: f64) -> String {
    let a = f.abs();
    if f == 0.0 || !f.is_finite() || (1e-5..1e16).contains(&a) {
        format!("{f}")
    } else {
        format!("{f:e}")
    }
}

fn render_base(enc: gimli::DwAte, s: Scalar) -> String {
    match (enc, s) {
        (gimli::DW_ATE_boolean, s) => (s.as_int() != 0).to_string(),
        (gimli::DW_ATE_signed_char | gimli::DW_ATE_unsigned_char, Scalar::Int(c)) => {
            let ch = (c as u8) as char;
            if (c as u8).is_ascii_graphic() || c as u8 == b' ' {
                format!("{c} '{ch}'")
            } else {
                format!("{c} '\\x{:02x}'", c as u8)
            }
        }
        (_, Scalar::Float(f)) => float_text(f),
        (_, Scalar::Int(i)) => i.to_string(),
    }
}

/// A C string at `addr`, quoted, cut at `STRING_MAX` bytes.
fn c_string(target: &dyn Target, addr: u64) -> String {
    let mut out = Vec::new();
    for chunk in 0..(STRING_MAX / 40) as u64 {
        let Some(bytes) = target.read(addr + chunk * 40, 40) else {
            // Near the end of memory: byte by byte.
            for i in 0..40 {
                match target.read(addr + chunk * 40 + i, 1) {
                    Some(b) if b[0] != 0 => out.push(b[0]),
                    _ => return format!("{:?}", String::from_utf8_lossy(&out)),
                }
            }
            continue;
        };
        if let Some(end) = bytes.iter().position(|&c| c == 0) {
            out.extend_from_slice(&bytes[..end]);
            return format!("{:?}", String::from_utf8_lossy(&out));
        }
        out.extend_from_slice(&bytes);
    }
    format!("{:?}…", String::from_utf8_lossy(&out))
}
