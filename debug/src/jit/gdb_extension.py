# wasmscope's gdb extension, loaded by `wasmscope gdb` (the launcher writes
# this file, embedded in the binary, to its cache directory and sources it).
#
# The JIT image describes wasm32 code: a pointer stored in linear memory is
# a 4-byte wasm address, which gdb alone would read as a native address.
# gdb follows most of them through the image's DWARF (`DW_AT_data_location`
# on copies of the targets, see the transform); this extension covers the
# rest, and the Rust and libc++ containers gdb has no printer for here:
#
# - a stored 4-byte pointer whose target the image does not relocate (a
#   `char *`, a `double *`, a `u8` buffer, a pointer to a pointer) prints as
#   the native pointer to the same object, so gdb shows the string a
#   `char *` points at;
# - Rust: String, &str, slices, Vec, Rc, Arc, HashMap, HashSet, Cell and
#   RefCell print as rust-gdb prints them natively;
# - libc++: std::string, std::vector, std::unique_ptr, std::shared_ptr,
#   std::map, std::set, std::unordered_map, std::unordered_set,
#   std::optional, std::variant;
# - the convenience function `$wasm_deref(p)` follows any pointer, where
#   gdb's `*p` cannot (`print $wasm_deref(r.side)` for a stored `double *`).
#
# Every printer reads a value natively as well: a pointer of 8 bytes is a
# native address, one of 4 bytes is a wasm address (plus memory 0's base,
# `__wasm_memory`, which every image defines). A printer that cannot make
# sense of a value (memory not readable, an implausible size) lets gdb
# print it as it would without the extension.

import re

import gdb

WASM_MASK = 0xFFFFFFFF
ELEMENTS_MAX = 1 << 20
DEBUG = False
_base = None


def _forget_base(_event=None):
    global _base
    _base = None


gdb.events.exited.connect(_forget_base)
gdb.events.new_objfile.connect(_forget_base)


def memory():
    """`__wasm_memory`: memory 0's native base as a native `char *`."""
    # By symbol, not by expression: Rust's parser does not find a C name
    # of another unit.
    symbol = gdb.lookup_global_symbol("__wasm_memory")
    if symbol is None:
        return None
    try:
        value = symbol.value()
    except gdb.error:
        return None
    return value if int(value) != 0 else None


def memory_base():
    """Memory 0's native base."""
    global _base
    if _base is None:
        value = memory()
        if value is None:
            return None
        _base = int(value)
    return _base


def is_wasm_pointer(t):
    t = t.strip_typedefs()
    return t.code == gdb.TYPE_CODE_PTR and t.sizeof == 4


def address_of_target(ptr):
    """The native address `ptr` (a pointer value) points at; 0 for null."""
    raw = int(ptr)
    if ptr.type.strip_typedefs().sizeof == 4:
        raw &= WASM_MASK
        if raw == 0:
            return 0
        base = memory_base()
        if base is None:
            raise gdb.error("linear memory is not allocated yet")
        return base + raw
    return raw


def at(address, t):
    """The object of type `t` at native `address`."""
    t = t.strip_typedefs() if t.code == gdb.TYPE_CODE_TYPEDEF else t
    if t.sizeof > ELEMENTS_MAX:
        raise gdb.error("implausible size")
    if t.code not in (gdb.TYPE_CODE_STRUCT, gdb.TYPE_CODE_UNION, gdb.TYPE_CODE_ARRAY):
        # A scalar: its bytes.
        data = gdb.selected_inferior().read_memory(address, t.sizeof)
        return gdb.Value(bytes(data), t)
    pointer = t.pointer()
    if pointer.sizeof == 8:
        return gdb.Value(address).cast(pointer).dereference()
    # gdb gives a type of the image that has a 4-byte pointer in its DWARF
    # that pointer type: reach the address from `__wasm_memory` (a native
    # `char *`) instead; gdb reads a `char` in memory cast to an aggregate
    # as the aggregate at its address.
    base = memory()
    if base is None or not int(base) <= address < int(base) + (1 << 32):
        raise gdb.error("not in linear memory")
    v = (base + (address - int(base))).dereference().cast(t)
    if int(v.address) != address:
        # `t` is a copy the image relocates (a stored pointer's target):
        # gdb adds the base itself to the wasm address.
        v = gdb.Value(address - int(base)).cast(pointer).dereference()
        if int(v.address) != address:
            raise gdb.error("relocated type gdb cannot read")
    return v


def deref(ptr):
    """What pointer value `ptr` points at."""
    t = ptr.type.strip_typedefs()
    target = t.target()
    address = address_of_target(ptr)
    if address == 0:
        raise gdb.error("null pointer")
    if t.sizeof == 4 and target.dynamic:
        # The image relocates most targets itself (a copy of the type with
        # a data location); then gdb reads the object where it is.
        # (An original with a dynamic part, e.g. a Rust enum, is read at
        # the wasm address and fails, or stays there.)
        try:
            v = ptr.dereference()
            if int(v.address) == address:
                return v
        except gdb.error:
            pass
    v = at(address, target)
    if v.address is not None and int(v.address) != address:
        # A copy the image relocates, which gdb fails to read (it resolves
        # a dynamic part inside at the wasm address): not readable whole.
        raise gdb.error("relocated type gdb cannot read")
    return v


def deref_fields(ptr):
    """The fields of the struct `ptr` points at, by name: read one by one
    where the whole struct cannot be (see `deref`)."""
    try:
        v = deref(ptr)
        return {f.name: v[f.name] for f in v.type.strip_typedefs().fields() if f.name}
    except gdb.error:
        address = address_of_target(ptr)
        target = ptr.type.strip_typedefs().target().strip_typedefs()
        return {
            f.name: at(address + f.bitpos // 8, f.type)
            for f in target.fields()
            if f.name and not f.bitsize
        }


def native_string_pointer(ptr):
    """A stored wasm `char *` as the native `char *` to the same
    characters (from `__wasm_memory`, a native `char *`)."""
    raw = int(ptr) & WASM_MASK
    base = memory()
    if base is None:
        raise gdb.error("linear memory is not allocated yet")
    if raw == 0:
        return gdb.Value(0).cast(base.type)
    return base + raw


def first_pointer(v, depth=6):
    """The first pointer inside `v` depth-first (Unique -> NonNull ->
    *const T; libc++'s compressed pairs, anonymous structs)."""
    t = v.type.strip_typedefs()
    if t.code == gdb.TYPE_CODE_PTR:
        return v
    if depth == 0 or t.code not in (gdb.TYPE_CODE_STRUCT, gdb.TYPE_CODE_UNION):
        return None
    for f in t.fields():
        if f.is_base_class or f.bitsize or (f.name or "").startswith("static"):
            continue
        try:
            field = v[f]
        except gdb.error:
            continue
        p = first_pointer(field, depth - 1)
        if p is not None:
            return p
    return None


def first_number(v, depth=4):
    """The first integer inside `v` depth-first (Cell<usize>'s count)."""
    t = v.type.strip_typedefs()
    if t.code in (gdb.TYPE_CODE_INT, gdb.TYPE_CODE_ENUM, gdb.TYPE_CODE_BOOL):
        return int(v)
    if depth == 0 or t.code != gdb.TYPE_CODE_STRUCT:
        raise gdb.error("no number inside")
    for f in t.fields():
        if f.name and not f.is_base_class:
            try:
                return first_number(v[f.name], depth - 1)
            except gdb.error:
                pass
    raise gdb.error("no number inside")


def has_field(v, name):
    t = v.type.strip_typedefs()
    return t.code in (gdb.TYPE_CODE_STRUCT, gdb.TYPE_CODE_UNION) and any(
        f.name == name for f in t.fields()
    )


def member(v, *names):
    """The first of `names` that `v` has, directly or in an anonymous
    member (layouts differ by version)."""
    for n in names:
        try:
            return v[n]
        except gdb.error:
            continue
    raise gdb.error("no member %s" % "|".join(names))


def text(address, length, encoding="utf-8"):
    """`length` bytes at native `address` as text (printed by gdb as a
    string literal of the frame's language under the "string" hint)."""
    if length > ELEMENTS_MAX:
        raise gdb.error("implausible length")
    if length == 0:
        return ""
    data = bytes(gdb.selected_inferior().read_memory(address, length))
    return data.decode(encoding, errors="replace")


def elements(address, t, count):
    size = max(t.sizeof, 1)
    if count > ELEMENTS_MAX:
        raise gdb.error("implausible length")
    for i in range(count):
        yield "[%d]" % i, at(address + i * size, t)


def template_type(v, index):
    return v.type.strip_typedefs().template_argument(index)


# ---- pointers stored in linear memory ----


class WasmStringPointerPrinter:
    """A stored 4-byte `char *`: gdb prints the characters it points at."""

    def __init__(self, v):
        self.v = v

    def to_string(self):
        # As text: gdb prints a pointer a printer returns without its
        # address, and a `char *` shows both.
        return native_string_pointer(self.v).format_string()


# ---- Rust ----


def rust_vec_parts(vec):
    ptr = first_pointer(vec["buf"])
    if ptr is None:
        raise gdb.error("no buffer")
    return address_of_target(ptr), int(vec["len"])


class RustStringPrinter:
    def __init__(self, v):
        self.v = v

    def to_string(self):
        address, length = rust_vec_parts(self.v["vec"])
        return text(address, length)

    def display_hint(self):
        return "string"


class RustStrPrinter:
    def __init__(self, v):
        self.v = v

    def to_string(self):
        ptr = self.v["data_ptr"]
        return text(address_of_target(ptr), int(self.v["length"]))

    def display_hint(self):
        return "string"


class RustSlicePrinter:
    def __init__(self, v):
        self.v = v
        self.length = int(v["length"])

    def to_string(self):
        return "%s(size=%d)" % (self.v.type, self.length)

    def children(self):
        ptr = self.v["data_ptr"]
        target = ptr.type.strip_typedefs().target()
        return elements(address_of_target(ptr), target, self.length)

    def display_hint(self):
        return "array"


class RustVecPrinter:
    def __init__(self, v):
        self.v = v
        self.address, self.length = rust_vec_parts(v)

    def to_string(self):
        return "Vec(size=%d)" % self.length

    def children(self):
        return elements(self.address, template_type(self.v, 0), self.length)

    def display_hint(self):
        return "array"


class RustRcPrinter:
    def __init__(self, v, kind):
        self.kind = kind
        inner = deref_fields(first_pointer(v["ptr"]))
        self.value = inner["value"] if "value" in inner else inner["data"]
        self.strong = first_number(inner["strong"])
        self.weak = first_number(inner["weak"]) - 1

    def to_string(self):
        return "%s(strong=%d, weak=%d)" % (self.kind, self.strong, self.weak)

    def children(self):
        yield "value", self.value
        yield "strong", self.strong
        yield "weak", self.weak


def raw_table(v, depth=5):
    t = v.type.strip_typedefs()
    if (t.name or "").startswith("hashbrown::raw::RawTable<"):
        return v
    if depth == 0 or t.code != gdb.TYPE_CODE_STRUCT:
        return None
    for f in t.fields():
        if f.name and not f.is_base_class:
            found = raw_table(v[f.name], depth - 1)
            if found is not None:
                return found
    return None


class RustHashPrinter:
    """hashbrown's table: the buckets whose control byte has its top bit
    clear, each stored before the control bytes, highest index first."""

    def __init__(self, v, kind):
        self.kind = kind
        table = raw_table(v)
        if table is None:
            raise gdb.error("no RawTable")
        self.pair = template_type(table, 0)
        inner = table["table"]
        self.items = int(inner["items"])
        self.buckets = int(inner["bucket_mask"]) + 1
        if self.items > self.buckets or self.buckets > ELEMENTS_MAX:
            raise gdb.error("implausible table")
        self.ctrl = address_of_target(first_pointer(inner["ctrl"]))

    def to_string(self):
        return "%s(size=%d)" % (self.kind, self.items)

    def children(self):
        if self.items == 0:
            return
        control = bytes(
            gdb.selected_inferior().read_memory(self.ctrl, self.buckets)
        )
        size = self.pair.sizeof
        found = 0
        for i, c in enumerate(control):
            if c & 0x80:
                continue
            entry = at(self.ctrl - (i + 1) * size, self.pair)
            if self.kind == "HashMap":
                yield "[%d]" % found, entry["__0"]
                yield "[%d]" % found, entry["__1"]
            else:
                yield "[%d]" % found, entry
            found += 1

    def display_hint(self):
        return "map" if self.kind == "HashMap" else "array"


class RustCellPrinter:
    def __init__(self, v, kind):
        self.v = v
        self.kind = kind

    def to_string(self):
        if self.kind == "RefCell":
            return "RefCell(borrow=%d)" % first_number(self.v["borrow"])
        return None

    def children(self):
        yield "value", self.v["value"]["value"]
        if self.kind == "RefCell":
            yield "borrow", first_number(self.v["borrow"])


# ---- C++ (libc++) ----


class CppStringPrinter:
    """libc++'s string: the short form (characters inline, `__is_long_`
    clear) or the long form (pointer, size, capacity)."""

    def __init__(self, v):
        rep = member(v, "__rep_", "__r_")
        try:
            rep = rep["__value_"]
        except gdb.error:
            pass
        short, long_ = rep["__s"], rep["__l"]
        try:
            is_long = int(short["__is_long_"]) != 0
        except gdb.error:
            is_long = int(short["__size_"]) & 1 != 0
        if is_long:
            self.address = address_of_target(long_["__data_"])
            self.length = int(long_["__size_"])
        else:
            self.address = int(short["__data_"].address)
            self.length = int(short["__size_"])

    def to_string(self):
        return text(self.address, self.length)

    def display_hint(self):
        return "string"


class CppVectorPrinter:
    def __init__(self, v):
        self.v = v
        begin, end = v["__begin_"], v["__end_"]
        self.elem = template_type(v, 0)
        size = max(self.elem.sizeof, 1)
        self.address = address_of_target(begin)
        self.length = (int(end) - int(begin)) // size

    def to_string(self):
        return "std::vector of length %d" % self.length

    def children(self):
        return elements(self.address, self.elem, self.length)

    def display_hint(self):
        return "array"


class CppUniquePtrPrinter:
    def __init__(self, v):
        self.ptr = first_pointer(v)

    def to_string(self):
        if self.ptr is None or int(self.ptr) == 0:
            return "std::unique_ptr (empty)"
        return "std::unique_ptr"

    def children(self):
        if self.ptr is not None and int(self.ptr) != 0:
            yield "*", deref(self.ptr)


class CppSharedPtrPrinter:
    def __init__(self, v):
        self.ptr = v["__ptr_"]
        self.control = v["__cntrl_"]

    def to_string(self):
        if int(self.ptr) == 0:
            return "std::shared_ptr (empty)"
        counts = ""
        if int(self.control) != 0:
            # libc++'s control block: vtable, shared owners - 1, weak owners - 1.
            word = 4 if self.control.type.strip_typedefs().sizeof == 4 else 8
            raw = gdb.selected_inferior().read_memory(
                address_of_target(self.control) + word, 2 * word
            )
            shared = int.from_bytes(bytes(raw[:word]), "little", signed=True)
            weak = int.from_bytes(bytes(raw[word:]), "little", signed=True)
            counts = " (use count %d, weak count %d)" % (shared + 1, weak)
        return "std::shared_ptr%s" % counts

    def children(self):
        if int(self.ptr) != 0:
            yield "*", deref(self.ptr)


def template_count(t):
    n = 0
    while True:
        try:
            t.template_argument(n)
        except (RuntimeError, gdb.error):
            return n
        n += 1


def allocated_type(v):
    """What a container's allocator allocates (its last template
    argument's first): complete where a node's value type may be only
    declared."""
    t = v.type.strip_typedefs()
    n = template_count(t)
    if n == 0:
        raise gdb.error("no template arguments")
    return t.template_argument(n - 1).template_argument(0)


def node_value(address, t):
    v = at(address, t)
    for name in ("__cc_", "__cc"):
        try:
            return v[name]
        except gdb.error:
            pass
    return v


def read_word(address, size):
    data = bytes(gdb.selected_inferior().read_memory(address, size))
    return int.from_bytes(data, "little")


def word_address(raw, size):
    """A node link read from memory as a native address (0 for null)."""
    if raw == 0:
        return 0
    if size == 4:
        base = memory_base()
        if base is None:
            raise gdb.error("linear memory is not allocated yet")
        return base + raw
    return raw


def container_size(inner, names):
    for name in names:
        try:
            return first_number(inner[name])
        except gdb.error:
            pass
    raise gdb.error("no size")


class CppTreePrinter:
    """std::map, std::set: libc++'s red-black tree in order from its
    leftmost node (left, right, parent, is_black, then the value)."""

    def __init__(self, v, kind):
        self.kind = kind
        tree = v["__tree_"]
        self.value_type = allocated_type(v)
        self.size = container_size(tree, ("__size_", "__pair3_"))
        if self.size > ELEMENTS_MAX:
            raise gdb.error("implausible size")
        begin = first_pointer(tree["__begin_node_"])
        self.word = begin.type.strip_typedefs().sizeof
        self.begin = address_of_target(begin)

    def to_string(self):
        return "std::%s with %d elements" % (self.kind, self.size)

    def nodes(self):
        w = self.word
        offset = 3 * w + 1
        align = max(self.value_type.alignof, 1)
        offset = (offset + align - 1) // align * align
        node = self.begin
        for _ in range(self.size):
            if not node:
                return
            yield node_value(node + offset, self.value_type)
            right = word_address(read_word(node + w, w), w)
            if right:
                node = right
                while True:
                    left = word_address(read_word(node, w), w)
                    if not left:
                        break
                    node = left
            else:
                for _ in range(64):
                    parent = word_address(read_word(node + 2 * w, w), w)
                    if word_address(read_word(parent, w), w) == node:
                        node = parent
                        break
                    node = parent
                else:
                    return

    def children(self):
        for i, value in enumerate(self.nodes()):
            if self.kind.endswith("map"):
                yield "[%d]" % i, value["first"]
                yield "[%d]" % i, value["second"]
            else:
                yield "[%d]" % i, value

    def display_hint(self):
        return "map" if self.kind.endswith("map") else "array"


class CppHashPrinter(CppTreePrinter):
    """std::unordered_map, std::unordered_set: the list of nodes from the
    table's first node (next, hash, then the value)."""

    def __init__(self, v, kind):
        self.kind = kind
        table = v["__table_"]
        self.value_type = allocated_type(v)
        self.size = container_size(table, ("__size_", "__p2_"))
        if self.size > ELEMENTS_MAX:
            raise gdb.error("implausible size")
        first = first_pointer(member(table, "__first_node_", "__p1_"))
        self.word = first.type.strip_typedefs().sizeof
        self.first = address_of_target(first)

    def nodes(self):
        w = self.word
        align = max(self.value_type.alignof, 1)
        offset = (2 * w + align - 1) // align * align
        node = self.first
        for _ in range(self.size):
            if not node:
                return
            yield node_value(node + offset, self.value_type)
            node = word_address(read_word(node, w), w)


class CppOptionalPrinter:
    def __init__(self, v):
        self.v = v
        self.engaged = int(v["__engaged_"]) != 0

    def to_string(self):
        name = "std::optional<%s>" % template_type(self.v, 0)
        return name if self.engaged else name + " [no contained value]"

    def children(self):
        if self.engaged:
            yield "[contained value]", self.v["__val_"]


class CppVariantPrinter:
    def __init__(self, v):
        self.v = v
        impl = member(v, "__impl_", "__impl")
        self.index = int(impl["__index"])
        data = impl["__data"]
        for _ in range(self.index):
            data = data["__tail"]
        self.value = data["__head"]["__value"]

    def to_string(self):
        return "std::variant [index %d]" % self.index

    def children(self):
        yield "[%d]" % self.index, self.value


# ---- lookup ----

RUST = [
    (re.compile(r"^alloc::string::String$"), lambda v: RustStringPrinter(v)),
    (re.compile(r"^&(mut )?str$"), lambda v: RustStrPrinter(v)),
    (re.compile(r"^&(mut )?\["), lambda v: RustSlicePrinter(v)),
    (re.compile(r"^alloc::vec::Vec<"), lambda v: RustVecPrinter(v)),
    (re.compile(r"^alloc::rc::Rc<"), lambda v: RustRcPrinter(v, "Rc")),
    (re.compile(r"^alloc::sync::Arc<"), lambda v: RustRcPrinter(v, "Arc")),
    (
        re.compile(r"^std::collections::hash::map::HashMap<"),
        lambda v: RustHashPrinter(v, "HashMap"),
    ),
    (
        re.compile(r"^std::collections::hash::set::HashSet<"),
        lambda v: RustHashPrinter(v, "HashSet"),
    ),
    (re.compile(r"^core::cell::Cell<"), lambda v: RustCellPrinter(v, "Cell")),
    (re.compile(r"^core::cell::RefCell<"), lambda v: RustCellPrinter(v, "RefCell")),
]

# libc++'s types, in its inline namespace `std::__1`.
CPP = [
    (re.compile(r"^(std::__1::)?basic_string<char[,>].*>$"), lambda v: CppStringPrinter(v)),
    (re.compile(r"^(std::__1::)?vector<.*>$"), lambda v: CppVectorPrinter(v)),
    (re.compile(r"^(std::__1::)?unique_ptr<.*>$"), lambda v: CppUniquePtrPrinter(v)),
    (re.compile(r"^(std::__1::)?shared_ptr<.*>$"), lambda v: CppSharedPtrPrinter(v)),
    (re.compile(r"^(std::__1::)?(multi)?map<.*>$"), lambda v: CppTreePrinter(v, "map")),
    (re.compile(r"^(std::__1::)?(multi)?set<.*>$"), lambda v: CppTreePrinter(v, "set")),
    (
        re.compile(r"^(std::__1::)?unordered_(multi)?map<.*>$"),
        lambda v: CppHashPrinter(v, "unordered_map"),
    ),
    (
        re.compile(r"^(std::__1::)?unordered_(multi)?set<.*>$"),
        lambda v: CppHashPrinter(v, "unordered_set"),
    ),
    (re.compile(r"^(std::__1::)?optional<.*>$"), lambda v: CppOptionalPrinter(v)),
    (re.compile(r"^(std::__1::)?variant<.*>$"), lambda v: CppVariantPrinter(v)),
]


def lookup(v):
    t = v.type.strip_typedefs()
    code = t.code
    try:
        if code == gdb.TYPE_CODE_PTR:
            if t.sizeof != 4:
                return None
            target = t.target().strip_typedefs()
            # gdb prints a `char *` as the string it points at; other
            # targets it relocates (see RELOCATED) or prints as the wasm
            # address, as natively.
            if target.name in ("char", "signed char", "unsigned char"):
                return WasmStringPointerPrinter(v)
            return None
        if code != gdb.TYPE_CODE_STRUCT:
            return None
        name = t.name or t.tag or ""
        # (A relocated copy of a type is named without its namespaces.)
        for pattern, make in RUST + CPP:
            if pattern.match(name):
                return make(v)
    except (gdb.error, gdb.MemoryError, RuntimeError, ValueError) as e:
        if DEBUG:
            print("wasmscope: no printer for %s: %s" % (t, e))
        return None
    return None


class WasmDeref(gdb.Function):
    """$wasm_deref(P): what the pointer P points at, a pointer stored in
    linear memory included (gdb's own `*P` reads a stored 4-byte pointer as
    a native address when the image cannot relocate its target: a
    `double *`, a `char *`, a pointer to a pointer)."""

    def __init__(self):
        super().__init__("wasm_deref")

    def invoke(self, ptr):
        if ptr.type.strip_typedefs().code != gdb.TYPE_CODE_PTR:
            raise gdb.GdbError("$wasm_deref takes a pointer")
        return deref(ptr)


WasmDeref()
gdb.pretty_printers.insert(0, lookup)
