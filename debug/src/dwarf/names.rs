//! Names as the source language writes them: demangled symbols (Rust
//! legacy and v0, Itanium C++), and the qualified names of DWARF entries
//! (`alloc::string::String`, `std::__1::basic_string<char>`), found by
//! walking up through namespaces and enclosing types.

use super::read::{ModuleDwarf, Reader};
use gimli::{AttributeValue, Unit, UnitOffset};
use std::collections::HashMap;
use std::rc::Rc;

/// The source language of a compile unit, as far as display goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Lang {
    C,
    Cpp,
    Rust,
    Zig,
    Other,
}

impl Lang {
    /// Whether aggregate type names carry a keyword (`struct point`), as
    /// C writes them; other languages show the qualified name alone.
    pub fn keyword_types(self) -> bool {
        matches!(self, Lang::C | Lang::Other)
    }
}

/// A C++ type name as people write it: libc++'s inline namespace left
/// out (`std::__1::vector` is `std::vector`), and the standard string's
/// default arguments folded (`std::string`).
pub fn tidy_cpp(name: &str) -> String {
    let mut s = name
        .replace("std::__1::", "std::")
        .replace("std::__2::", "std::");
    for (long, short) in [
        (
            "std::basic_string<char, std::char_traits<char>, std::allocator<char> >",
            "std::string",
        ),
        (
            "std::basic_string_view<char, std::char_traits<char> >",
            "std::string_view",
        ),
    ] {
        s = s.replace(long, short);
    }
    s
}

/// A demangled C++ function as a call stack shows it: without the return
/// type that template functions carry (`int largest<int>(...)`), libc++'s
/// inline namespace left out.
pub fn tidy_cpp_function(demangled: &str) -> String {
    let head = without_parameters(demangled);
    // A space outside template brackets ends a return type.
    let mut depth = 0i32;
    let mut cut = 0;
    for (i, b) in head.bytes().enumerate() {
        match b {
            b'<' => depth += 1,
            b'>' => depth -= 1,
            b' ' if depth == 0 => cut = i + 1,
            _ => {}
        }
    }
    if head.ends_with("operator()") || head[cut..].starts_with("operator") {
        cut = 0;
    }
    tidy_cpp(&demangled[cut..])
}

/// A function name as its language writes it: Rust symbols (legacy
/// `_ZN...17h<hash>E` and v0 `_R...`) without their hash, Itanium C++
/// symbols with their parameter types; anything else unchanged.
pub fn demangle(name: &str) -> String {
    if let Ok(d) = rustc_demangle::try_demangle(name) {
        // `{:#}` leaves out the hash, as backtraces print Rust frames.
        return format!("{d:#}");
    }
    if name.starts_with("_Z") {
        if let Ok(sym) = cpp_demangle::Symbol::new(name) {
            if let Ok(text) = sym.demangle() {
                return text;
            }
        }
    }
    name.to_string()
}

/// A demangled C++ function name without its parameter list
/// (`ns::Shop::total(int) const` is `ns::Shop::total`), for matching
/// function breakpoints written the way people type them.
pub fn without_parameters(name: &str) -> &str {
    // The parameter list is the last top-level `(...)`; template
    // arguments may hold parentheses of their own, so count depth.
    let bytes = name.as_bytes();
    let mut depth = 0i32;
    let mut cut = None;
    for (i, &b) in bytes.iter().enumerate() {
        match b {
            b'<' => depth += 1,
            b'>' => depth -= 1,
            b'(' if depth == 0 && cut.is_none() && i > 0 => cut = Some(i),
            _ => {}
        }
    }
    match cut {
        // `operator()` keeps its own parentheses.
        Some(i) if !name[..i].ends_with("operator") => &name[..i],
        _ => name,
    }
}

/// A map between entries of one unit, per unit.
pub(crate) type UnitMaps = std::cell::RefCell<HashMap<usize, Rc<HashMap<usize, usize>>>>;

/// Unit `unit`'s map in `cache`, built by `build` the first time.
pub(crate) fn per_unit(
    cache: &UnitMaps,
    unit: usize,
    build: impl FnOnce() -> HashMap<usize, usize>,
) -> Rc<HashMap<usize, usize>> {
    if let Some(m) = cache.borrow().get(&unit) {
        return m.clone();
    }
    let map = Rc::new(build());
    cache.borrow_mut().insert(unit, map.clone());
    map
}

#[derive(Default)]
pub(crate) struct NameCache {
    /// Function names by module offset (`function_name`).
    functions: std::cell::RefCell<HashMap<u32, Option<String>>>,
    /// Per unit: each entry's parent entry.
    parents: UnitMaps,
}

impl ModuleDwarf {
    /// The language of unit `unit` (`DW_AT_language`, or the producer for
    /// compilers that claim another language).
    pub fn unit_lang(&self, unit: &Unit<Reader>) -> Lang {
        let mut entries = unit.entries();
        let Ok(Some((_, root))) = entries.next_dfs() else {
            return Lang::Other;
        };
        if let Ok(Some(v)) = root.attr_value(gimli::DW_AT_producer) {
            if let Ok(s) = self.dwarf.attr_string(unit, v) {
                if gimli::Reader::to_string_lossy(&s).is_ok_and(|p| p.starts_with("zig ")) {
                    return Lang::Zig;
                }
            }
        }
        match root.attr_value(gimli::DW_AT_language) {
            Ok(Some(AttributeValue::Language(l))) => match l {
                gimli::DW_LANG_Rust => Lang::Rust,
                gimli::DW_LANG_C_plus_plus
                | gimli::DW_LANG_C_plus_plus_03
                | gimli::DW_LANG_C_plus_plus_11
                | gimli::DW_LANG_C_plus_plus_14 => Lang::Cpp,
                gimli::DW_LANG_C89 | gimli::DW_LANG_C | gimli::DW_LANG_C99 | gimli::DW_LANG_C11 => {
                    Lang::C
                }
                _ if l.0 == 0x21 || l.0 == 0x2a => Lang::Cpp, // C++17, C++20
                _ if l.0 == 0x2c || l.0 == 0x1d => Lang::C,   // C17, C11
                _ => Lang::Other,
            },
            _ => Lang::Other,
        }
    }

    /// Each entry's parent in unit `unit_index`, computed once.
    fn parents(&self, unit_index: usize) -> Rc<HashMap<usize, usize>> {
        per_unit(&self.names.parents, unit_index, || {
            let mut map = HashMap::new();
            if let Some(unit) = self.units().get(unit_index) {
                let mut entries = unit.entries();
                let mut stack: Vec<usize> = Vec::new();
                let mut depth = 0isize;
                while let Ok(Some((delta, e))) = entries.next_dfs() {
                    depth += delta;
                    stack.truncate(depth.max(0) as usize);
                    if let Some(&parent) = stack.last() {
                        map.insert(e.offset().0, parent);
                    }
                    stack.push(e.offset().0);
                }
            }
            map
        })
    }

    /// The `::`-joined names of the namespaces and types enclosing entry
    /// `offset` (empty at the unit's top level).
    pub(crate) fn scope_prefix(&self, unit_index: usize, offset: usize) -> String {
        let Some(unit) = self.units().get(unit_index) else {
            return String::new();
        };
        let parents = self.parents(unit_index);
        let mut parts = Vec::new();
        let mut at = offset;
        for _ in 0..32 {
            let Some(&p) = parents.get(&at) else { break };
            let Ok(e) = unit.entry(UnitOffset(p)) else {
                break;
            };
            match e.tag() {
                gimli::DW_TAG_namespace
                | gimli::DW_TAG_structure_type
                | gimli::DW_TAG_class_type
                | gimli::DW_TAG_union_type
                | gimli::DW_TAG_enumeration_type => {
                    let name = e
                        .attr_value(gimli::DW_AT_name)
                        .ok()
                        .flatten()
                        .and_then(|v| self.dwarf.attr_string(unit, v).ok())
                        .and_then(|s| {
                            gimli::Reader::to_string_lossy(&s)
                                .ok()
                                .map(|s| s.into_owned())
                        });
                    // An anonymous namespace is `(anonymous namespace)` in
                    // C++ debuggers.
                    parts.push(name.unwrap_or_else(|| "(anonymous namespace)".into()));
                }
                gimli::DW_TAG_compile_unit | gimli::DW_TAG_partial_unit => break,
                _ => {}
            }
            at = p;
        }
        parts.reverse();
        parts.join("::")
    }

    /// The name of the function whose code covers a module offset, as its
    /// language writes it, from DWARF: Rust's qualified names carry
    /// generic arguments and closures that its symbols leave out
    /// (`inventory::largest<i32>`, `inventory::main::{closure#0}`). C's
    /// names are its source names, where a symbol may not be (wasi-libc
    /// links `int main(void)` as `__original_main`). `None` for other
    /// languages (their symbols say as much or more: C++ parameter types,
    /// Zig's qualified names) and where DWARF has no name.
    pub fn function_name(&self, module_offset: u32) -> Option<String> {
        if let Some(n) = self.names.functions.borrow().get(&module_offset) {
            return n.clone();
        }
        let name = self.function_name_uncached(module_offset);
        self.names
            .functions
            .borrow_mut()
            .insert(module_offset, name.clone());
        name
    }

    fn function_name_uncached(&self, module_offset: u32) -> Option<String> {
        let pc = self.code_offset(module_offset)?;
        let ui = self.unit_at(pc)?;
        let lang = self.lang(ui);
        // Zig's DWARF names are unqualified (`largest__func_221`); its
        // symbols say more (`inventory.largest__func_221`).
        if lang != Lang::Rust && lang != Lang::C {
            return None;
        }
        let unit = &self.units()[ui];
        let subprogram = *self.scope_chain(unit, pc).first()?;
        let entry = unit.entry(subprogram).ok()?;
        let name = self.name_of(unit, &entry)?;
        // A definition's name is qualified where it is declared.
        let declared = match entry.attr_value(gimli::DW_AT_specification) {
            Ok(Some(AttributeValue::UnitRef(o))) => o.0,
            _ => subprogram.0,
        };
        Some(self.qualified(ui, declared, &name))
    }

    /// An entry's name qualified by its enclosing namespaces and types.
    pub(crate) fn qualified(&self, unit_index: usize, offset: usize, name: &str) -> String {
        let prefix = self.scope_prefix(unit_index, offset);
        if prefix.is_empty() {
            name.to_string()
        } else {
            format!("{prefix}::{name}")
        }
    }
}

/// Where one inlined copy of a function starts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InlinedEntry {
    /// The function's `DW_AT_name` (`func_9`, `largest<i32>`).
    pub name: String,
    /// The same, qualified by its namespaces and types (`inventory::largest<i32>`).
    pub qualified: String,
    /// The function's linkage name (its symbol), when DWARF gives one.
    pub linkage: Option<String>,
    /// The module offset the copy's code starts at (`DW_AT_entry_pc`, else
    /// its lowest address).
    pub offset: u32,
}

impl ModuleDwarf {
    /// Every `DW_TAG_inlined_subroutine` of the module with the function it
    /// is a copy of, in `.debug_info` order. A breakpoint on a function's
    /// name stops in each copy too, as gdb's and lldb's do: in optimized
    /// code a small function may have no code of its own at all.
    pub fn inlined_entries(&self) -> Vec<InlinedEntry> {
        let mut out = Vec::new();
        for (ui, unit) in self.units().iter().enumerate() {
            let mut entries = unit.entries();
            while let Ok(Some((_, entry))) = entries.next_dfs() {
                if entry.tag() != gimli::DW_TAG_inlined_subroutine {
                    continue;
                }
                let Some(start) = self.inlined_start(unit, entry) else {
                    continue;
                };
                let Some((origin, name)) = self.origin_named(unit, entry) else {
                    continue;
                };
                let Ok(abstract_entry) = unit.entry(origin) else {
                    continue;
                };
                let declared = match abstract_entry.attr_value(gimli::DW_AT_specification) {
                    Ok(Some(AttributeValue::UnitRef(o))) => o.0,
                    _ => origin.0,
                };
                let linkage = [gimli::DW_AT_linkage_name, gimli::DW_AT_MIPS_linkage_name]
                    .iter()
                    .find_map(|&at| abstract_entry.attr_value(at).ok().flatten())
                    .and_then(|v| self.dwarf.attr_string(unit, v).ok())
                    .and_then(|s| {
                        gimli::Reader::to_string_lossy(&s)
                            .ok()
                            .map(|s| s.into_owned())
                    });
                out.push(InlinedEntry {
                    qualified: self.qualified(ui, declared, &name),
                    name,
                    linkage,
                    offset: self.module_offset(start),
                });
            }
        }
        out
    }

    /// The code offset an inlined copy starts at.
    fn inlined_start(
        &self,
        unit: &Unit<Reader>,
        entry: &gimli::DebuggingInformationEntry<Reader>,
    ) -> Option<u64> {
        let low = match entry.attr_value(gimli::DW_AT_low_pc).ok().flatten() {
            Some(v) => self.dwarf.attr_address(unit, v).ok().flatten(),
            None => None,
        };
        match entry.attr_value(gimli::DW_AT_entry_pc).ok().flatten() {
            // DWARF 5 may give the entry as an offset from the base.
            Some(AttributeValue::Udata(d)) => return low.map(|l| l + d),
            Some(v) => {
                if let Ok(Some(a)) = self.dwarf.attr_address(unit, v) {
                    return Some(a);
                }
            }
            None => {}
        }
        if low.is_some() {
            return low;
        }
        let mut ranges = self.dwarf.die_ranges(unit, entry).ok()?;
        let mut first: Option<u64> = None;
        while let Ok(Some(r)) = ranges.next() {
            if r.begin < r.end {
                first = Some(first.map_or(r.begin, |f| f.min(r.begin)));
            }
        }
        first
    }

    /// The abstract function an entry is a copy of (through
    /// `DW_AT_abstract_origin`), with its name.
    fn origin_named(
        &self,
        unit: &Unit<Reader>,
        entry: &gimli::DebuggingInformationEntry<Reader>,
    ) -> Option<(UnitOffset, String)> {
        let Ok(Some(AttributeValue::UnitRef(origin))) =
            entry.attr_value(gimli::DW_AT_abstract_origin)
        else {
            return None;
        };
        let abstract_entry = unit.entry(origin).ok()?;
        let name = self.name_of(unit, &abstract_entry)?;
        Some((origin, name))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn demangles_rust_and_cpp() {
        assert_eq!(demangle("_ZN3inv5value17h8153dbf75a6adfeaE"), "inv::value");
        assert_eq!(
            demangle("_RNvNtCset5xJoy1xWQ_3std2rt19lang_start_internal"),
            "std::rt::lang_start_internal"
        );
        assert_eq!(demangle("_ZN4Shop5totalEi"), "Shop::total(int)");
        assert_eq!(demangle("main"), "main");
        assert_eq!(demangle("__original_main"), "__original_main");
    }

    #[test]
    fn parameters_are_cut_at_the_top_level() {
        assert_eq!(without_parameters("Shop::total(int) const"), "Shop::total");
        assert_eq!(
            without_parameters("int largest<int>(std::vector<int> const&)"),
            "int largest<int>"
        );
        assert_eq!(without_parameters("Fn::operator()"), "Fn::operator()");
        assert_eq!(without_parameters("plain"), "plain");
    }
}
