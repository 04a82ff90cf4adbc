//! Values as their language shows them: the library types whose raw
//! layout means nothing to a reader (a Rust `String` is a `Vec<u8>` is a
//! `RawVec` is a pointer and a capacity...) get a summary on the value
//! line (`"hammer"`, `size=3`, `strong=1`) and their elements as
//! children, the way lldb's data formatters and rust-gdb's pretty-printers
//! show them.
//!
//! One table, `FORMATTERS`, keyed by the type's qualified name (typedefs
//! and qualifiers looked through, libc++'s inline `__1` namespace left
//! out): the next formatter is a row. A formatter reads the value only
//! through the DWARF type model (`vars`), by member names with the
//! fallbacks that library versions need; when the internals do not hold
//! together (an uninitialized variable, a library version we do not know)
//! it fails and the raw value shows instead: never a made-up value.

use super::read::ModuleDwarf;
use super::vars::{Kind, Place, Target, Ty, TypeId, Value, Variable};

type Result<T> = std::result::Result<T, String>;

/// Most elements a container may claim before we call it garbage
/// (an uninitialized vector), and most bytes a string shows.
const ELEMENTS_MAX: u64 = 1 << 26;
const TEXT_MAX: u64 = 1024;
/// Most nodes walked in a tree or hash table.
const NODES_MAX: u64 = 1 << 20;

/// What a formatter makes of a value.
pub(crate) struct Synthetic {
    summary: String,
    children: Children,
    /// Where the contents are (a vector's first element, a string's text).
    address: Option<u64>,
    /// What a smart pointer, an optional or a trait object holds: `*v`.
    target: Option<Value>,
}

enum Children {
    None,
    /// Named children (a map's entries, a smart pointer's target).
    Named(Vec<Variable>),
    /// `count` elements of type `elem`, `stride` bytes apart from
    /// `address` in linear memory, read only when shown (paged).
    Elements {
        elem: Option<TypeId>,
        address: u64,
        stride: u64,
        count: u64,
    },
}

impl Synthetic {
    fn text(summary: String) -> Synthetic {
        Synthetic {
            summary,
            children: Children::None,
            address: None,
            target: None,
        }
    }

    pub(crate) fn target(&self) -> Option<&Value> {
        self.target.as_ref()
    }

    pub(crate) fn summary(&self) -> &str {
        &self.summary
    }

    pub(crate) fn has_children(&self) -> bool {
        match &self.children {
            Children::None => false,
            Children::Named(v) => !v.is_empty(),
            Children::Elements { count, .. } => *count > 0,
        }
    }

    /// The element count, for paging (containers only).
    pub(crate) fn indexed(&self) -> Option<u64> {
        match &self.children {
            Children::Elements { count, .. } => Some(*count),
            Children::Named(v) if v.first().is_some_and(|c| c.name.starts_with('[')) => {
                Some(v.len() as u64)
            }
            _ => None,
        }
    }

    pub(crate) fn address(&self) -> Option<u64> {
        self.address
    }

    /// Children `start..start + count`.
    pub(crate) fn children(&self, _d: &ModuleDwarf, start: u64, count: u64) -> Vec<Variable> {
        match &self.children {
            Children::None => Vec::new(),
            Children::Named(v) => v
                .iter()
                .skip(start.min(usize::MAX as u64) as usize)
                .take(count.min(usize::MAX as u64) as usize)
                .cloned()
                .collect(),
            Children::Elements { count: n, .. } => (start..(*n).min(start.saturating_add(count)))
                .filter_map(|i| {
                    Some(Variable {
                        name: format!("[{i}]"),
                        value: self.element(_d, i)?,
                    })
                })
                .collect(),
        }
    }

    /// Element `i` (`v[i]` in expressions).
    pub(crate) fn element(&self, _d: &ModuleDwarf, i: u64) -> Option<Value> {
        match &self.children {
            Children::Elements {
                elem,
                address,
                stride,
                count,
            } if i < *count => Some(Value {
                ty: *elem,
                dims: 0,
                place: Place::Memory(address + i * stride),
            }),
            Children::Named(v) => {
                let name = format!("[{i}]");
                v.iter().find(|c| c.name == name).map(|c| c.value.clone())
            }
            _ => None,
        }
    }
}

/// A formatter: the value, its type (looked through typedefs), the target.
type Format = fn(&Ctx<'_>) -> Result<Synthetic>;

struct Ctx<'a> {
    d: &'a ModuleDwarf,
    v: Value,
    ty: Ty,
    target: &'a dyn Target,
}

/// How a row matches a type name.
enum Pattern {
    Exact(&'static str),
    Prefix(&'static str),
    Contains(&'static str),
}

/// The formatters, by qualified type name. libc++'s inline namespace
/// (`std::__1::`) is dropped before matching.
const FORMATTERS: &[(Pattern, Format)] = &[
    // Rust.
    (Pattern::Exact("alloc::string::String"), rust_string),
    (Pattern::Exact("&str"), rust_str),
    (Pattern::Exact("&mut str"), rust_str),
    (Pattern::Prefix("&["), rust_slice),
    (Pattern::Prefix("&mut ["), rust_slice),
    (Pattern::Prefix("alloc::vec::Vec<"), rust_vec),
    (Pattern::Prefix("&dyn "), rust_dyn),
    (Pattern::Prefix("&mut dyn "), rust_dyn),
    (Pattern::Prefix("alloc::boxed::Box<dyn "), rust_dyn),
    (Pattern::Prefix("alloc::boxed::Box<"), pointer_target),
    (Pattern::Prefix("alloc::rc::Rc<"), rust_rc),
    (Pattern::Prefix("alloc::sync::Arc<"), rust_rc),
    (
        Pattern::Prefix("std::collections::hash::map::HashMap<"),
        rust_hash,
    ),
    (
        Pattern::Prefix("std::collections::hash::set::HashSet<"),
        rust_hash,
    ),
    (Pattern::Prefix("core::cell::Cell<"), rust_cell),
    (Pattern::Prefix("core::cell::RefCell<"), rust_cell),
    // C++ (libc++).
    (Pattern::Exact("std::string"), cpp_string),
    (Pattern::Prefix("std::basic_string<"), cpp_string),
    (Pattern::Exact("std::string_view"), cpp_string_view),
    (Pattern::Prefix("std::basic_string_view<"), cpp_string_view),
    (Pattern::Prefix("std::vector<"), cpp_vector),
    (Pattern::Prefix("std::array<"), cpp_array),
    (Pattern::Prefix("std::unique_ptr<"), pointer_target),
    (Pattern::Prefix("std::shared_ptr<"), cpp_shared_ptr),
    (Pattern::Prefix("std::optional<"), cpp_optional),
    (Pattern::Prefix("std::variant<"), cpp_variant),
    (Pattern::Prefix("std::map<"), cpp_tree),
    (Pattern::Prefix("std::set<"), cpp_tree),
    (Pattern::Prefix("std::multimap<"), cpp_tree),
    (Pattern::Prefix("std::multiset<"), cpp_tree),
    (Pattern::Prefix("std::unordered_map<"), cpp_hash),
    (Pattern::Prefix("std::unordered_set<"), cpp_hash),
    (Pattern::Prefix("std::unordered_multimap<"), cpp_hash),
    (Pattern::Prefix("std::unordered_multiset<"), cpp_hash),
    (Pattern::Prefix("std::pair<"), cpp_pair),
    // Zig.
    (Pattern::Prefix("[]"), zig_slice),
    (Pattern::Prefix("[:"), zig_slice),
    (Pattern::Prefix("?"), zig_optional),
    (Pattern::Contains("!"), zig_error_union),
];

/// Formatters chosen by a type's shape where its name says nothing (a
/// Zig tagged union is named like any struct).
const SHAPES: &[(Shape, Format)] = &[(is_zig_tagged_union, zig_tagged_union)];

/// Whether a type has a shape a formatter knows.
type Shape = fn(&Ty) -> bool;

fn is_zig_tagged_union(t: &Ty) -> bool {
    match &t.kind {
        Kind::Struct(agg) => {
            t.lang == super::names::Lang::Zig
                && agg.members.len() == 2
                && agg.members.iter().any(|m| m.name == "payload")
                && agg.members.iter().any(|m| m.name == "tag")
        }
        _ => false,
    }
}

/// libc++ declares everything in an inline namespace (`std::__1`).
fn normalized(name: &str) -> std::borrow::Cow<'_, str> {
    let name = name.strip_prefix("const ").unwrap_or(name);
    if let Some(rest) = name.strip_prefix("std::__") {
        if let Some(i) = rest.find("::") {
            if rest[..i].bytes().all(|b| b.is_ascii_alphanumeric()) {
                return format!("std::{}", &rest[i + 2..]).into();
            }
        }
    }
    name.into()
}

/// The formatter's view of `v`, if a row matches its type: `None` when no
/// formatter applies, `Some(Err)` when one applies but the value does not
/// hold together.
pub(crate) fn synthetic(
    d: &ModuleDwarf,
    v: &Value,
    ty: &Ty,
    target: &dyn Target,
) -> Option<Result<Synthetic>> {
    let id = d.canonical(d.value_type_id(v)?);
    let canonical = d.ty(id)?;
    // Only aggregates and named pointers (Rust's `Box`) have formatters.
    if !matches!(canonical.kind, Kind::Struct(_) | Kind::Pointer(_)) {
        return None;
    }
    let name = normalized(&canonical.name);
    let format = FORMATTERS
        .iter()
        .find_map(|(p, f)| {
            let hit = match p {
                Pattern::Exact(n) => name == *n,
                Pattern::Prefix(n) => name.starts_with(n),
                Pattern::Contains(n) => name.contains(n),
            };
            hit.then_some(*f)
        })
        .or_else(|| {
            SHAPES
                .iter()
                .find_map(|(is, f)| is(&canonical).then_some(*f))
        })?;
    let _ = ty;
    let ctx = Ctx {
        d,
        v: Value {
            ty: Some(id),
            dims: 0,
            place: v.place.clone(),
        },
        ty: canonical,
        target,
    };
    Some(format(&ctx))
}

impl Ctx<'_> {
    fn member(&self, v: &Value, name: &str) -> Result<Value> {
        self.d.member_raw(v, name, self.target)
    }

    /// The first of `names` that `v` has.
    fn member_any(&self, v: &Value, names: &[&str]) -> Result<Value> {
        names
            .iter()
            .find_map(|n| self.member(v, n).ok())
            .ok_or_else(|| format!("none of the members {names:?}"))
    }

    /// Follows a path of member names, each step trying its alternatives
    /// (`a|b`), and looking through one level of unnamed or single-member
    /// wrappers (`__compressed_pair`, `__value_`) when a step is missing.
    fn path(&self, v: &Value, path: &str) -> Result<Value> {
        let mut at = v.clone();
        for step in path.split('.') {
            let names: Vec<&str> = step.split('|').collect();
            at = match self.member_any(&at, &names) {
                Ok(next) => next,
                Err(e) => self.find_member(&at, &names, 3).ok_or(e)?,
            };
        }
        Ok(at)
    }

    /// A member named one of `names` somewhere below `v` (depth-first,
    /// through members, at most `depth` levels).
    fn find_member(&self, v: &Value, names: &[&str], depth: usize) -> Option<Value> {
        if depth == 0 {
            return None;
        }
        for m in self.d.struct_members(v)? {
            let child = self.d.member_value(v, &m, self.target).ok()?;
            if names.contains(&m.name.as_str()) {
                return Some(child);
            }
            if let Some(found) = self.find_member(&child, names, depth - 1) {
                return Some(found);
            }
        }
        None
    }

    /// The first pointer found depth-first in `v` (a `Unique<T>` or
    /// `NonNull<T>` wrapper's raw pointer), or `v` itself if a pointer.
    fn first_pointer(&self, v: &Value, depth: usize) -> Option<(u64, Option<TypeId>)> {
        let t = self.d.value_ty(v)?;
        match t.kind {
            Kind::Pointer(pointee) => {
                let a = self.d.scalar(v, self.target).ok()?.as_int() as u64;
                Some((a, pointee))
            }
            Kind::Struct(_) if depth > 0 => {
                for m in self.d.struct_members(v)? {
                    let child = self.d.member_value(v, &m, self.target).ok()?;
                    if let Some(p) = self.first_pointer(&child, depth - 1) {
                        return Some(p);
                    }
                }
                None
            }
            _ => None,
        }
    }

    fn uint(&self, v: &Value) -> Result<u64> {
        Ok(self.d.scalar(v, self.target)?.as_int() as u64)
    }

    fn size_of(&self, ty: Option<TypeId>) -> Result<u64> {
        let t = self.d.ty(ty.ok_or("unknown element type")?);
        Ok(t.ok_or("unknown element type")?.size)
    }

    /// Text from `len` bytes at `address`, quoted (cut at `TEXT_MAX`).
    fn text_at(&self, address: u64, len: u64) -> Result<String> {
        if len > ELEMENTS_MAX {
            return Err(format!("implausible length {len}"));
        }
        if len == 0 {
            return Ok("\"\"".into());
        }
        let shown = len.min(TEXT_MAX);
        let bytes = self
            .target
            .read(address, shown as usize)
            .ok_or_else(|| format!("cannot read memory at {address:#x}"))?;
        let more = if len > shown { "…" } else { "" };
        Ok(format!("{:?}{more}", String::from_utf8_lossy(&bytes)))
    }

    /// A sequence of `count` elements of `elem` at `address`.
    fn elements(&self, elem: Option<TypeId>, address: u64, count: u64) -> Result<Synthetic> {
        if count > ELEMENTS_MAX {
            return Err(format!("implausible length {count}"));
        }
        let stride = self.size_of(elem)?;
        if count > 0 && (address == 0 || self.target.read(address, 1).is_none()) {
            return Err(format!("cannot read memory at {address:#x}"));
        }
        Ok(Synthetic {
            summary: format!("size={count}"),
            children: Children::Elements {
                elem,
                address,
                stride,
                count,
            },
            address: Some(address),
            target: None,
        })
    }

    /// A value of type `ty` at `address`.
    fn at(&self, ty: Option<TypeId>, address: u64) -> Value {
        Value {
            ty,
            dims: 0,
            place: Place::Memory(address),
        }
    }

    fn shallow(&self, v: &Value) -> String {
        self.d.render_shallow(v, self.target)
    }

    /// A list of values as `[i]` children, summarized by their count.
    fn entries(&self, values: Vec<Value>) -> Synthetic {
        let summary = format!("size={}", values.len());
        Synthetic {
            summary,
            children: Children::Named(
                values
                    .into_iter()
                    .enumerate()
                    .map(|(i, value)| Variable {
                        name: format!("[{i}]"),
                        value,
                    })
                    .collect(),
            ),
            address: None,
            target: None,
        }
    }

    /// A template parameter of the value's type (`T` of `Vec<T>`), by
    /// name or, failing that, the first one.
    fn param(&self, name: &str) -> Option<TypeId> {
        match &self.ty.kind {
            Kind::Struct(agg) => agg.param(name).or_else(|| agg.first_param()),
            _ => None,
        }
    }
}

impl Ctx<'_> {
    /// The type a container's allocator allocates: its `value_type`
    /// (`std::pair<const K, V>` for maps), which the container's own
    /// node types may only declare.
    fn allocated(&self) -> Option<TypeId> {
        let Kind::Struct(agg) = &self.ty.kind else {
            return None;
        };
        let alloc = agg
            .params
            .iter()
            .find(|(n, _)| n == "_Allocator" || n == "_Alloc")
            .and_then(|p| p.1)?;
        match self.d.ty(self.d.canonical(alloc))?.kind {
            Kind::Struct(a) => a.first_param(),
            _ => None,
        }
    }
}

/// Alignment of a type on wasm32: the largest scalar it holds (at most 8).
fn align_of(d: &ModuleDwarf, ty: Option<TypeId>, depth: usize) -> u64 {
    let Some(t) = ty.and_then(|t| d.ty(t)) else {
        return 1;
    };
    if depth > 8 {
        return 1;
    }
    match &t.kind {
        Kind::Base(_) | Kind::Enum { .. } => t.size.clamp(1, 8),
        Kind::Pointer(_) => 4,
        Kind::Array { elem, .. } => align_of(d, *elem, depth + 1),
        Kind::Struct(agg) => agg
            .members
            .iter()
            .map(|m| align_of(d, m.ty, depth + 1))
            .max()
            .unwrap_or(1),
        _ => 1,
    }
}

fn align_up(x: u64, a: u64) -> u64 {
    x.div_ceil(a.max(1)) * a.max(1)
}

// ---- Rust ----

fn rust_vec_parts(c: &Ctx<'_>, v: &Value) -> Result<(u64, u64)> {
    let len = c.uint(&c.member(v, "len")?)?;
    let buf = c.member(v, "buf")?;
    let (ptr, _) = c.first_pointer(&buf, 6).ok_or("no buffer pointer")?;
    Ok((ptr, len))
}

fn rust_string(c: &Ctx<'_>) -> Result<Synthetic> {
    let vec = c.member(&c.v, "vec")?;
    let (ptr, len) = rust_vec_parts(c, &vec)?;
    let mut s = Synthetic::text(c.text_at(ptr, len)?);
    s.address = Some(ptr);
    Ok(s)
}

fn rust_str(c: &Ctx<'_>) -> Result<Synthetic> {
    let ptr = c.uint(&c.member(&c.v, "data_ptr")?)?;
    let len = c.uint(&c.member(&c.v, "length")?)?;
    let mut s = Synthetic::text(c.text_at(ptr, len)?);
    s.address = Some(ptr);
    Ok(s)
}

fn rust_slice(c: &Ctx<'_>) -> Result<Synthetic> {
    let data = c.member(&c.v, "data_ptr")?;
    let ptr = c.uint(&data)?;
    let elem = match c.d.value_ty(&data).map(|t| t.kind) {
        Some(Kind::Pointer(p)) => p,
        _ => None,
    };
    let len = c.uint(&c.member(&c.v, "length")?)?;
    c.elements(elem, ptr, len)
}

fn rust_vec(c: &Ctx<'_>) -> Result<Synthetic> {
    let (ptr, len) = rust_vec_parts(c, &c.v)?;
    c.elements(c.param("T"), ptr, len)
}

/// `Box<T>`, `std::unique_ptr<T>`: the target's own summary and children.
fn pointer_target(c: &Ctx<'_>) -> Result<Synthetic> {
    let (addr, pointee) = c.first_pointer(&c.v, 4).ok_or("no pointer")?;
    let pointee = match c.d.value_ty(&c.v).map(|t| t.kind) {
        Some(Kind::Struct(agg)) => agg.first_param().or(pointee),
        _ => pointee,
    };
    if addr == 0 {
        return Ok(Synthetic::text("nullptr".into()));
    }
    target_summary(c, c.at(pointee, addr), String::new())
}

/// A smart pointer's target: its summary (with `suffix`), and its
/// children (a scalar target is one child, `*`).
fn target_summary(c: &Ctx<'_>, target: Value, suffix: String) -> Result<Synthetic> {
    if c.target
        .read(
            match target.place {
                Place::Memory(a) => a,
                _ => 0,
            },
            1,
        )
        .is_none()
    {
        return Err("cannot read the target".into());
    }
    let rendered = c.d.render(&target, c.target);
    let children = if rendered.expandable {
        c.d.children(&target, c.target, 0, u64::MAX)
    } else {
        vec![Variable {
            name: "*".into(),
            value: target.clone(),
        }]
    };
    Ok(Synthetic {
        summary: format!("{}{suffix}", rendered.value),
        children: Children::Named(children),
        address: match target.place {
            Place::Memory(a) => Some(a),
            _ => None,
        },
        target: Some(target),
    })
}

/// A trait object (`&dyn T`, `Box<dyn T>`): the value behind it, as its
/// concrete type, found from the vtable it points to (rustc describes
/// each vtable as a variable whose type names the concrete type).
fn rust_dyn(c: &Ctx<'_>) -> Result<Synthetic> {
    let addr = c.uint(&c.member(&c.v, "pointer")?)?;
    let vtable = c.uint(&c.member(&c.v, "vtable")?)?;
    let concrete =
        c.d.vtables()
            .get(&vtable)
            .copied()
            .ok_or("unknown vtable")?;
    let name = c.d.ty(concrete).map(|t| t.name).unwrap_or_default();
    let mut s = target_summary(c, c.at(Some(concrete), addr), String::new())?;
    s.summary = format!("{name} {}", s.summary);
    Ok(s)
}

/// `Rc<T>` and `Arc<T>`: the value, and the counts (`weak` as Rust's
/// `Rc::weak_count` says it: the stored count less the one all strong
/// references share).
fn rust_rc(c: &Ctx<'_>) -> Result<Synthetic> {
    let ptr = c.member(&c.v, "ptr")?;
    let (addr, inner_ty) = c.first_pointer(&ptr, 6).ok_or("no pointer")?;
    let inner = c.at(inner_ty, addr);
    let strong = c.uint(&c.path(&inner, "strong")?).or_else(|_| {
        let s = c.path(&inner, "strong")?;
        c.first_scalar(&s)
    })?;
    let weak = c.first_scalar(&c.path(&inner, "weak")?)?.saturating_sub(1);
    let value = c.member_any(&inner, &["value", "data"])?;
    let mut s = target_summary(c, value.clone(), format!(" (strong={strong}, weak={weak})"))?;
    if let Children::Named(children) = &mut s.children {
        children.insert(
            0,
            Variable {
                name: "value".into(),
                value,
            },
        );
        children.truncate(1);
    }
    Ok(s)
}

impl Ctx<'_> {
    /// The first integer found depth-first (a `Cell<usize>`'s count).
    fn first_scalar(&self, v: &Value) -> Result<u64> {
        if let Ok(x) = self.uint(v) {
            return Ok(x);
        }
        for m in self.d.struct_members(v).ok_or("not a number")? {
            if let Ok(x) = self
                .d
                .member_value(v, &m, self.target)
                .and_then(|m| self.first_scalar(&m))
            {
                return Ok(x);
            }
        }
        Err("not a number".into())
    }
}

/// `Cell<T>`, `RefCell<T>`: the value inside.
fn rust_cell(c: &Ctx<'_>) -> Result<Synthetic> {
    let value = c.path(&c.v, "value.value")?;
    let rendered = c.d.render(&value, c.target);
    Ok(Synthetic {
        summary: rendered.value,
        children: Children::Named(vec![Variable {
            name: "value".into(),
            value: value.clone(),
        }]),
        address: None,
        target: Some(value),
    })
}

/// hashbrown's table (`HashMap`, `HashSet`): the full buckets, found by
/// their control bytes (a top bit of 0), with each bucket stored before
/// the control bytes, highest index first.
fn rust_hash(c: &Ctx<'_>) -> Result<Synthetic> {
    let (table, elem) = c.raw_table(&c.v, 5).ok_or("no hashbrown RawTable inside")?;
    let inner = c.member(&table, "table")?;
    let mask = c.uint(&c.member(&inner, "bucket_mask")?)?;
    let items = c.uint(&c.member(&inner, "items")?)?;
    let (ctrl, _) = c
        .first_pointer(&c.member(&inner, "ctrl")?, 3)
        .ok_or("no control bytes")?;
    let buckets = mask.checked_add(1).ok_or("bad bucket mask")?;
    if items > buckets || buckets > NODES_MAX || (buckets & mask) != 0 {
        return Err("implausible table".into());
    }
    let size = c.size_of(elem)?;
    let control = if items == 0 {
        Vec::new()
    } else {
        c.target
            .read(ctrl, buckets as usize)
            .ok_or("cannot read control bytes")?
    };
    let mut values = Vec::new();
    for (i, &b) in control.iter().enumerate() {
        if b & 0x80 == 0 {
            let addr = ctrl
                .checked_sub((i as u64 + 1) * size)
                .ok_or("bucket below memory")?;
            values.push(c.at(elem, addr));
        }
    }
    if values.len() as u64 != items {
        return Err("table does not hold together".into());
    }
    Ok(c.entries(values))
}

impl Ctx<'_> {
    /// The `RawTable<T>` inside a hashbrown map, and its `T`.
    fn raw_table(&self, v: &Value, depth: usize) -> Option<(Value, Option<TypeId>)> {
        let t = self.d.value_ty(v)?;
        if normalized(&t.name).starts_with("hashbrown::raw::RawTable<") {
            let Kind::Struct(agg) = t.kind else {
                return None;
            };
            return Some((v.clone(), agg.param("T")));
        }
        if depth == 0 {
            return None;
        }
        for m in self.d.struct_members(v)? {
            let child = self.d.member_value(v, &m, self.target).ok()?;
            if let Some(found) = self.raw_table(&child, depth - 1) {
                return Some(found);
            }
        }
        None
    }
}

// ---- C++ (libc++) ----

/// libc++'s string: a union of the short form (the characters inline, the
/// size in a 7-bit field, `__is_long_` clear) and the long form (pointer,
/// size, capacity with `__is_long_` set).
fn cpp_string(c: &Ctx<'_>) -> Result<Synthetic> {
    let rep = c.path(&c.v, "__rep_|__r_")?;
    let rep = c.member(&rep, "__value_").unwrap_or(rep);
    let short = c.member(&rep, "__s")?;
    let long = c.member(&rep, "__l")?;
    let is_long = match c.member(&short, "__is_long_") {
        Ok(bit) => c.uint(&bit)? != 0,
        Err(_) => {
            // Older layout: the long bit is the low bit of the first byte.
            let b = c.d.bytes(&short, 1, c.target)?;
            b[0] & 1 != 0
        }
    };
    let (ptr, len) = if is_long {
        let p = c.uint(&c.member(&long, "__data_")?)?;
        let n = c.uint(&c.member(&long, "__size_")?)?;
        (p, n)
    } else {
        let data = c.member(&short, "__data_")?;
        let n = c.uint(&c.member(&short, "__size_")?)?;
        let Place::Memory(p) = data.place else {
            return Err("short string not in memory".into());
        };
        (p, n)
    };
    let mut s = Synthetic::text(c.text_at(ptr, len)?);
    s.address = Some(ptr);
    Ok(s)
}

fn cpp_string_view(c: &Ctx<'_>) -> Result<Synthetic> {
    let ptr = c.uint(&c.member_any(&c.v, &["__data_", "__data"])?)?;
    let len = c.uint(&c.member_any(&c.v, &["__size_", "__size"])?)?;
    let mut s = Synthetic::text(c.text_at(ptr, len)?);
    s.address = Some(ptr);
    Ok(s)
}

fn cpp_vector(c: &Ctx<'_>) -> Result<Synthetic> {
    let begin = c.member(&c.v, "__begin_")?;
    let end = c.uint(&c.member(&c.v, "__end_")?)?;
    let elem = match c.d.value_ty(&begin).map(|t| t.kind) {
        Some(Kind::Pointer(p)) => p,
        _ => return Err("`__begin_` is not a pointer".into()),
    };
    let begin = c.uint(&begin)?;
    let stride = c.size_of(elem)?.max(1);
    if end < begin || (end - begin) % stride != 0 {
        return Err("vector does not hold together".into());
    }
    c.elements(elem, begin, (end - begin) / stride)
}

fn cpp_array(c: &Ctx<'_>) -> Result<Synthetic> {
    let elems = c.member(&c.v, "__elems_")?;
    let Some(Ty {
        kind: Kind::Array { elem, dims },
        ..
    }) = c.d.value_ty(&elems)
    else {
        return Err("`__elems_` is not an array".into());
    };
    let Place::Memory(addr) = elems.place else {
        return Err("array not in memory".into());
    };
    c.elements(elem, addr, dims.first().copied().flatten().unwrap_or(0))
}

fn cpp_shared_ptr(c: &Ctx<'_>) -> Result<Synthetic> {
    let ptr = c.member(&c.v, "__ptr_")?;
    let (addr, pointee) = c.first_pointer(&ptr, 2).ok_or("no pointer")?;
    if addr == 0 {
        return Ok(Synthetic::text("nullptr".into()));
    }
    let cntrl = c.member(&c.v, "__cntrl_")?;
    let (cb, cb_ty) = c.first_pointer(&cntrl, 1).ok_or("no control block")?;
    // Both counts are stored less one. The control block's type may be
    // only declared in this unit: then no counts.
    let block = c.at(cb_ty, cb);
    let count = |name: &str| -> Result<i64> {
        Ok(c.uint(&c.path(&block, name)?)? as u32 as i32 as i64 + 1)
    };
    let counts = match (
        cb,
        count("__shared_owners_"),
        count("__shared_weak_owners_"),
    ) {
        (0, _, _) => String::new(),
        (_, Ok(strong), Ok(weak)) => format!(" (strong={strong}, weak={})", weak - 1),
        _ => String::new(),
    };
    target_summary(c, c.at(pointee, addr), counts)
}

fn cpp_optional(c: &Ctx<'_>) -> Result<Synthetic> {
    let engaged = c.uint(&c.path(&c.v, "__engaged_")?)? != 0;
    if !engaged {
        return Ok(Synthetic::text("nullopt".into()));
    }
    let value = c.path(&c.v, "__val_")?;
    target_summary(c, value, String::new())
}

/// libc++'s variant: the active index, and the alternatives as a chain
/// of unions (`__head` holds one, `__tail` the rest).
fn cpp_variant(c: &Ctx<'_>) -> Result<Synthetic> {
    let imp = c.path(&c.v, "__impl_")?;
    let index = c.path(&imp, "__index")?;
    let index = c.uint(&index)?;
    let size =
        c.d.value_ty(&c.path(&imp, "__index")?)
            .map_or(4, |t| t.size);
    if index >= (1u64 << (size * 8).min(63)) - 1 {
        return Ok(Synthetic::text("valueless_by_exception".into()));
    }
    let mut data = c.path(&imp, "__data")?;
    for _ in 0..index {
        data = c.member(&data, "__tail")?;
    }
    let value = c.path(&data, "__head.__value")?;
    let mut s = target_summary(c, value, String::new())?;
    s.summary = format!("index={index} {}", s.summary);
    Ok(s)
}

fn cpp_pair(c: &Ctx<'_>) -> Result<Synthetic> {
    let first = c.member(&c.v, "first")?;
    let second = c.member(&c.v, "second")?;
    Ok(Synthetic {
        summary: format!("({}, {})", c.shallow(&first), c.shallow(&second)),
        children: Children::Named(vec![
            Variable {
                name: "first".into(),
                value: first,
            },
            Variable {
                name: "second".into(),
                value: second,
            },
        ]),
        address: None,
        target: None,
    })
}

/// A tree node's stored value: after the three links and the colour,
/// aligned for the value type. A map's `__value_type` shows as its pair.
fn node_value(c: &Ctx<'_>, value_ty: Option<TypeId>, node: u64, header: u64) -> Value {
    let offset = align_up(header, align_of(c.d, value_ty, 0));
    let v = c.at(value_ty, node + offset);
    c.member_any(&v, &["__cc_", "__cc"]).unwrap_or(v)
}

/// A libc++ node container's inner object (`member`: `__tree_`,
/// `__table_`), the type its nodes hold, and its element count (at
/// `size`, or the first number inside the wrapper older versions keep it
/// in).
fn node_container(c: &Ctx<'_>, member: &str, size: &str) -> Result<(Value, Option<TypeId>, u64)> {
    let inner = c.member(&c.v, member)?;
    let value_ty = c.allocated().or_else(|| {
        c.d.struct_params(&inner)
            .and_then(|p| p.first().and_then(|p| p.1))
    });
    let count = c.path(&inner, size)?;
    let count = c.uint(&count).or_else(|_| c.first_scalar(&count))?;
    if count > NODES_MAX {
        return Err("implausible size".into());
    }
    Ok((inner, value_ty, count))
}

impl Ctx<'_> {
    /// A 4-byte pointer stored in linear memory (a node's link).
    fn read_u32(&self, address: u64) -> Result<u64> {
        let b = self
            .target
            .read(address, 4)
            .ok_or_else(|| format!("cannot read a node at {address:#x}"))?;
        Ok(u64::from(u32::from_le_bytes([b[0], b[1], b[2], b[3]])))
    }
}

/// `std::map`, `std::set` (libc++'s red-black tree): in-order from the
/// leftmost node.
fn cpp_tree(c: &Ctx<'_>) -> Result<Synthetic> {
    let (tree, value_ty, size) = node_container(c, "__tree_", "__size_|__pair3_")?;
    let begin = c.uint(&c.path(&tree, "__begin_node_")?)?;
    let read_u32 = |a| c.read_u32(a);
    // Node layout on wasm32: left, right, parent, is_black, value.
    let (left, right, parent) = (0, 4, 8);
    let mut values = Vec::new();
    let mut node = begin;
    for _ in 0..size {
        values.push(node_value(c, value_ty, node, 13));
        // The in-order successor.
        let r = read_u32(node + right)?;
        if r != 0 {
            node = r;
            loop {
                let l = read_u32(node + left)?;
                if l == 0 {
                    break;
                }
                node = l;
            }
        } else {
            let mut child = node;
            let mut up = read_u32(child + parent)?;
            let mut guard = 0;
            while read_u32(up + left)? != child {
                child = up;
                up = read_u32(child + parent)?;
                guard += 1;
                if guard > 64 {
                    return Err("tree does not hold together".into());
                }
            }
            node = up;
        }
    }
    Ok(c.entries(values))
}

/// `std::unordered_map`, `std::unordered_set`: the singly linked list of
/// nodes from the table's first node (next, hash, value).
fn cpp_hash(c: &Ctx<'_>) -> Result<Synthetic> {
    let (table, value_ty, size) = node_container(c, "__table_", "__size_|__p2_")?;
    let first = c.path(&table, "__first_node_|__p1_")?;
    let (mut node, _) = c.first_pointer(&first, 4).ok_or("no first node")?;
    let mut values = Vec::new();
    for _ in 0..size {
        if node == 0 {
            return Err("list ends early".into());
        }
        values.push(node_value(c, value_ty, node, 8));
        node = c.read_u32(node)?;
    }
    Ok(c.entries(values))
}

// ---- Zig ----

fn zig_slice(c: &Ctx<'_>) -> Result<Synthetic> {
    let ptr = c.member(&c.v, "ptr")?;
    let len = c.uint(&c.member(&c.v, "len")?)?;
    let elem = match c.d.value_ty(&ptr).map(|t| t.kind) {
        Some(Kind::Pointer(p)) => p,
        _ => return Err("`ptr` is not a pointer".into()),
    };
    let addr = c.uint(&ptr)?;
    let is_bytes = elem
        .and_then(|e| c.d.ty(c.d.canonical(e)))
        .is_some_and(|t| t.name == "u8");
    if is_bytes {
        // Text, shown whole on the value line.
        let mut s = Synthetic::text(c.text_at(addr, len)?);
        s.address = Some(addr);
        return Ok(s);
    }
    c.elements(elem, addr, len)
}

fn zig_optional(c: &Ctx<'_>) -> Result<Synthetic> {
    let some = c.uint(&c.member(&c.v, "some")?)? != 0;
    if !some {
        return Ok(Synthetic::text("null".into()));
    }
    let data = c.member_any(&c.v, &["payload", "data"])?;
    target_summary(c, data, String::new())
}

/// `E!T`: the error when it is set (nonzero), else the payload.
fn zig_error_union(c: &Ctx<'_>) -> Result<Synthetic> {
    let error = c.member(&c.v, "error")?;
    let payload = c.member_any(&c.v, &["payload", "value"])?;
    if c.uint(&error)? != 0 {
        let shown = c.d.render(&error, c.target).value;
        // The enumerator's name without its number.
        let name = shown.split(" (").next().unwrap_or(&shown).to_string();
        return Ok(Synthetic::text(name));
    }
    target_summary(c, payload, String::new())
}

/// `union(enum)`: the active field (the payload's member named by the
/// tag), as Zig writes it: `.rect = {w: 2, h: 3}`.
fn zig_tagged_union(c: &Ctx<'_>) -> Result<Synthetic> {
    let tag = c.member(&c.v, "tag")?;
    let shown = c.d.render(&tag, c.target).value;
    let name = shown.split(" (").next().unwrap_or(&shown).to_string();
    let payload = c.member(&c.v, "payload")?;
    match c.member(&payload, &name) {
        Ok(field) if c.d.value_ty(&field).is_some_and(|t| t.size > 0) => {
            let mut s = target_summary(c, field, String::new())?;
            s.summary = format!(".{name} = {}", s.summary);
            Ok(s)
        }
        // A field of type `void`: nothing to show but the tag.
        _ => Ok(Synthetic::text(format!(".{name}"))),
    }
}

impl ModuleDwarf {
    /// Rust's vtables by address (`<T as Trait>::{vtable}` variables):
    /// the concrete type each one serves (`DW_AT_containing_type` of the
    /// vtable's type).
    pub(crate) fn vtables(&self) -> &std::collections::HashMap<u64, TypeId> {
        self.types.vtables.get_or_init(|| {
            let mut map = std::collections::HashMap::new();
            for (ui, unit) in self.units().iter().enumerate() {
                let mut entries = unit.entries();
                while let Ok(Some((_, e))) = entries.next_dfs() {
                    if e.tag() != gimli::DW_TAG_variable {
                        continue;
                    }
                    let Ok(Some(gimli::AttributeValue::Exprloc(x))) =
                        e.attr_value(gimli::DW_AT_location)
                    else {
                        continue;
                    };
                    let Ok(Some(gimli::AttributeValue::UnitRef(ty))) =
                        e.attr_value(gimli::DW_AT_type)
                    else {
                        continue;
                    };
                    let Ok(vt) = unit.entry(ty) else { continue };
                    let Ok(Some(gimli::AttributeValue::UnitRef(concrete))) =
                        vt.attr_value(gimli::DW_AT_containing_type)
                    else {
                        continue;
                    };
                    if let Ok(Some(gimli::Operation::Address { address })) =
                        x.operations(unit.encoding()).next()
                    {
                        map.insert(address, ModuleDwarf::type_id(ui, concrete.0));
                    }
                }
            }
            map
        })
    }

    /// A type with its typedefs and qualifiers looked through.
    pub(crate) fn canonical(&self, id: TypeId) -> TypeId {
        let mut at = id;
        for _ in 0..16 {
            let Some(unit) = self.units().get(at.unit()) else {
                break;
            };
            let Ok(e) = unit.entry(gimli::UnitOffset(at.offset())) else {
                break;
            };
            match e.tag() {
                gimli::DW_TAG_typedef
                | gimli::DW_TAG_const_type
                | gimli::DW_TAG_volatile_type
                | gimli::DW_TAG_restrict_type
                | gimli::DW_TAG_atomic_type => match self.type_of(at.unit(), &e) {
                    Some(next) => at = next,
                    None => break,
                },
                _ => break,
            }
        }
        at
    }

    /// The template type parameters of a struct value's type.
    pub(crate) fn struct_params(&self, v: &Value) -> Option<Vec<(String, Option<TypeId>)>> {
        match self.ty(self.canonical(v.ty?))?.kind {
            Kind::Struct(agg) => Some(agg.params),
            _ => None,
        }
    }
}
