# wasmscope's lldb extension, imported by `wasmscope lldb` (the launcher
# writes this file, embedded in the binary, to its cache directory).
#
# lldb reads every pointer type at the native 8 bytes, so the image gives a
# pointer stored in linear memory (4 bytes) to lldb as a struct
# `wasm_ptr32<T> { unsigned int addr; }` when the launcher asks for it (the
# transform's `typed_address`). This extension makes those structs behave
# as `T *`:
#
# - the summary is the native address of the target (memory 0's base,
#   `__wasm_memory`, plus `addr`; null stays null), followed by the string
#   for a character target, as lldb shows a native pointer;
# - the synthetic child `$$dereference$$` is the target, so `frame variable
#   *p`, `p->field` and `p->next->field` follow stored pointers, and the
#   command `wasm-set PATH VALUE` writes through them;
# - Rust containers show as rust-lldb shows them, libc++'s (string,
#   string_view, vector, unique_ptr, shared_ptr, map, set, unordered_map,
#   unordered_set, optional, variant) as lldb 22 shows them natively.
#
# A value this extension cannot read (memory not allocated yet, an address
# outside linear memory) shows as the wasm address alone.

import lldb

WASM_MASK = 0xFFFFFFFF
TEXT_MAX = 4096
CHAR_TYPES = ("char", "signed char", "unsigned char", "const char",
              "const signed char", "const unsigned char")


def memory_base(valobj):
    """Memory 0's native base, from the image's `__wasm_memory`."""
    target = valobj.GetTarget()
    var = target.FindFirstGlobalVariable("__wasm_memory")
    if not var.IsValid():
        return None
    base = var.GetValueAsUnsigned(0)
    return base or None


def wasm_address(valobj):
    raw = valobj.GetNonSyntheticValue().GetChildMemberWithName("addr")
    return raw.GetValueAsUnsigned(0) & WASM_MASK


def target_type(valobj):
    t = valobj.GetNonSyntheticValue().GetType().GetCanonicalType()
    arg = t.GetTemplateArgumentType(0)
    return arg if arg.IsValid() else None


def native_address(valobj):
    """The native address a `wasm_ptr32<T>` points at: 0 for null, None
    when linear memory is not there."""
    addr = wasm_address(valobj)
    if addr == 0:
        return 0
    base = memory_base(valobj)
    if base is None:
        return None
    return base + addr


def c_string(process, address):
    """The NUL-terminated text at native `address`, quoted (None when
    unreadable). (Read in pieces: lldb 14's ReadCStringFromMemory fails
    inside Python on some reads.)"""
    data = b""
    error = lldb.SBError()
    while len(data) < TEXT_MAX:
        piece = process.ReadMemory(address + len(data), 64, error)
        if not error.Success() or not piece:
            if data:
                break
            return None
        end = piece.find(b"\0")
        if end >= 0:
            data += piece[:end]
            break
        data += piece
    return quote(data.decode("utf-8", errors="replace"))


def quote(text):
    out = []
    for ch in text:
        if ch == '"' or ch == "\\":
            out.append("\\" + ch)
        elif ch == "\n":
            out.append("\\n")
        elif ch == "\t":
            out.append("\\t")
        elif ord(ch) < 32:
            out.append("\\x%02x" % ord(ch))
        else:
            out.append(ch)
    return '"%s"' % "".join(out)


def pointer_summary(valobj, _internal_dict):
    native = native_address(valobj)
    if native is None:
        return "wasm 0x%08x" % wasm_address(valobj)
    if native == 0:
        # As lldb shows a null native pointer.
        return "NULL"
    summary = "0x%016x" % native
    t = target_type(valobj)
    if native and t is not None and t.GetUnqualifiedType().GetName() in CHAR_TYPES:
        text = c_string(valobj.GetProcess(), native)
        if text is not None:
            summary += " " + text
    return summary


class WasmPointer:
    """`wasm_ptr32<T>` as `T *`: its only (hidden) child is the target."""

    def __init__(self, valobj, _internal_dict):
        self.valobj = valobj

    def update(self):
        return False

    def num_children(self):
        # As a native pointer: shown by its summary, not expanded.
        return 0

    def has_children(self):
        return False

    def get_child_index(self, name):
        return 0 if name == "$$dereference$$" else -1

    def get_child_at_index(self, index):
        if index != 0:
            return None
        t = target_type(self.valobj)
        native = native_address(self.valobj)
        if t is None or not native:
            return None
        return self.valobj.CreateValueFromAddress(
            "*" + self.valobj.GetName(), native, t
        )


# ---- libc++ (its inline namespace is `std::__1_wasm32` in the image) ----


def child(valobj, *names):
    """The first of `names` that `valobj` has (directly or inside an
    anonymous member; layouts differ between libc++ versions)."""
    v = valobj.GetNonSyntheticValue()
    for name in names:
        c = v.GetChildMemberWithName(name)
        if c.IsValid():
            return c
    raise ValueError("no member %s" % "|".join(names))


def pointee(stored):
    """What a stored `wasm_ptr32<T>` member points at: (native address,
    T)."""
    return native_address(stored), target_type(stored)


def text_at(process, address, length):
    if length > TEXT_MAX * 256:
        raise ValueError("implausible length")
    if length == 0:
        return '""'
    error = lldb.SBError()
    data = process.ReadMemory(address, length, error)
    if not error.Success():
        raise ValueError(error.GetCString())
    return quote(data.decode("utf-8", errors="replace"))


def string_summary(valobj, _internal_dict):
    """libc++'s string: short (inline, `__is_long_` clear) or long."""
    try:
        rep = child(valobj, "__rep_", "__r_")
        value = rep.GetChildMemberWithName("__value_")
        if value.IsValid():
            rep = value
        short, long_ = rep.GetChildMemberWithName("__s"), rep.GetChildMemberWithName("__l")
        is_long = short.GetChildMemberWithName("__is_long_")
        if is_long.IsValid():
            is_long = is_long.GetValueAsUnsigned(0) != 0
        else:
            is_long = short.GetChildMemberWithName("__size_").GetValueAsUnsigned(0) & 1
        if is_long:
            address, _ = pointee(long_.GetChildMemberWithName("__data_"))
            length = long_.GetChildMemberWithName("__size_").GetValueAsUnsigned(0)
        else:
            address = short.GetChildMemberWithName("__data_").GetLoadAddress()
            length = short.GetChildMemberWithName("__size_").GetValueAsUnsigned(0)
        return text_at(valobj.GetProcess(), address, length)
    except ValueError:
        return None


def string_view_summary(valobj, _internal_dict):
    try:
        address, _ = pointee(child(valobj, "__data_", "__data"))
        length = child(valobj, "__size_", "__size").GetValueAsUnsigned(0)
        return text_at(valobj.GetProcess(), address, length)
    except ValueError:
        return None


class Elements:
    """`count` objects of type `elem` from native `address`, `[i]`."""

    def __init__(self, valobj, _internal_dict):
        self.valobj = valobj
        self.count, self.address, self.elem = 0, 0, None

    def locate(self):
        """(native address, element type, count) of the value."""
        raise NotImplementedError

    def update(self):
        self.count, self.address, self.elem = 0, 0, None
        try:
            self.address, self.elem, count = self.locate()
            if self.elem is not None and self.address:
                self.count = min(count, TEXT_MAX * 256)
        except (ValueError, TypeError):
            pass
        return False

    def num_children(self):
        return self.count

    def has_children(self):
        return True

    def get_child_index(self, name):
        try:
            return int(name.strip("[]"))
        except ValueError:
            return -1

    def get_child_at_index(self, index):
        if not 0 <= index < self.count:
            return None
        size = max(self.elem.GetByteSize(), 1)
        return self.valobj.CreateValueFromAddress(
            "[%d]" % index, self.address + index * size, self.elem
        )


def sequence_summary(valobj, _internal_dict):
    return "size=%d" % valobj.GetNumChildren()


class Vector(Elements):
    """libc++'s vector: `size=N` and its elements."""

    def locate(self):
        address, elem = pointee(child(self.valobj, "__begin_"))
        end, _ = pointee(child(self.valobj, "__end_"))
        size = elem.GetByteSize() if elem else 0
        if not size or end < address:
            raise ValueError("vector does not hold together")
        return address, elem, (end - address) // size


class SmartPointer:
    """unique_ptr, shared_ptr: the child `pointer` (a native `T *`), and
    `$$dereference$$` for `*p` and `p->f`."""

    def __init__(self, valobj, _internal_dict):
        self.valobj = valobj
        self.address, self.type = 0, None

    def update(self):
        self.address, self.type = 0, None
        try:
            stored = child(self.valobj, "__ptr_")
            self.address, self.type = pointee(stored)
        except ValueError:
            pass
        return False

    def num_children(self):
        return 1 if self.address else 0

    def get_child_index(self, name):
        return {"pointer": 0, "$$dereference$$": 1}.get(name, -1)

    def get_child_at_index(self, index):
        if not self.address or self.type is None:
            return None
        if index == 0:
            data = lldb.SBData.CreateDataFromUInt64Array(
                lldb.eByteOrderLittle, 8, [self.address]
            )
            return self.valobj.CreateValueFromData(
                "pointer", data, self.type.GetPointerType()
            )
        if index == 1:
            return self.valobj.CreateValueFromAddress("*pointer", self.address, self.type)
        return None


def unique_ptr_summary(valobj, _internal_dict):
    try:
        address, t = pointee(child(valobj, "__ptr_"))
    except ValueError:
        return None
    if not address or t is None:
        return "nullptr"
    return "%s @ 0x%016x" % (t.GetDisplayTypeName(), address)


def shared_ptr_summary(valobj, _internal_dict):
    try:
        address, t = pointee(child(valobj, "__ptr_"))
        control, _ = pointee(child(valobj, "__cntrl_"))
    except ValueError:
        return None
    if not address or t is None:
        return "nullptr"
    target = valobj.CreateValueFromAddress("value", address, t)
    summary = target.GetSummary() or "%s @ 0x%016x" % (t.GetDisplayTypeName(), address)
    if control:
        # The control block: vtable, shared owners - 1, weak owners - 1.
        error = lldb.SBError()
        data = valobj.GetProcess().ReadMemory(control + 4, 8, error)
        if error.Success():
            shared = int.from_bytes(data[:4], "little", signed=True)
            weak = int.from_bytes(data[4:], "little", signed=True)
            summary += " strong=%d weak=%d" % (shared + 1, weak + 1 - 1)
    return summary


# ---- Rust (as rust-lldb's providers show them natively) ----


def first_stored_pointer(valobj, depth=6):
    """The first `wasm_ptr32<T>` inside `valobj`, depth-first (RawVec ->
    Unique -> NonNull -> pointer)."""
    v = valobj.GetNonSyntheticValue()
    if v.GetType().GetCanonicalType().GetName().startswith("wasm_ptr32<"):
        return v
    if depth == 0:
        return None
    for i in range(v.GetNumChildren()):
        found = first_stored_pointer(v.GetChildAtIndex(i), depth - 1)
        if found is not None:
            return found
    return None


def first_number(valobj, depth=4):
    v = valobj.GetNonSyntheticValue()
    if v.GetNumChildren() == 0:
        return v.GetValueAsUnsigned(0)
    if depth == 0:
        raise ValueError("no number")
    return first_number(v.GetChildAtIndex(0), depth - 1)


class RustVec(Elements):
    def locate(self):
        v = self.valobj.GetNonSyntheticValue()
        stored = first_stored_pointer(v.GetChildMemberWithName("buf"))
        elem = v.GetType().GetCanonicalType().GetTemplateArgumentType(0)
        count = v.GetChildMemberWithName("len").GetValueAsUnsigned(0)
        return native_address(stored), elem if elem.IsValid() else None, count


class RustSlice(Elements):
    def locate(self):
        v = self.valobj.GetNonSyntheticValue()
        stored = v.GetChildMemberWithName("data_ptr")
        count = v.GetChildMemberWithName("length").GetValueAsUnsigned(0)
        return native_address(stored), target_type(stored), count


class RustString(Elements):
    """String and &str: the characters, summarized as the text."""

    def locate(self):
        v = self.valobj.GetNonSyntheticValue()
        if v.GetChildMemberWithName("vec").IsValid():
            vec = v.GetChildMemberWithName("vec")
            stored = first_stored_pointer(vec.GetChildMemberWithName("buf"))
            count = vec.GetChildMemberWithName("len").GetValueAsUnsigned(0)
        else:
            stored = v.GetChildMemberWithName("data_ptr")
            count = v.GetChildMemberWithName("length").GetValueAsUnsigned(0)
        return native_address(stored), target_type(stored), count


def rust_string_summary(valobj, _internal_dict):
    v = valobj.GetNonSyntheticValue()
    try:
        provider = RustString(v, None)
        address, _, count = provider.locate()
        return text_at(valobj.GetProcess(), address, count) if address or not count else None
    except (ValueError, TypeError):
        return None


class RustRc:
    """Rc and Arc: `strong=N, weak=M` and the value (`value` for Rc,
    `data` for Arc, as rust-lldb names them)."""

    def __init__(self, valobj, _internal_dict):
        self.valobj = valobj
        self.inner = None

    def update(self):
        self.inner = None
        stored = first_stored_pointer(self.valobj.GetNonSyntheticValue().GetChildMemberWithName("ptr"))
        if stored is not None:
            address, t = pointee(stored)
            if address and t is not None:
                self.inner = self.valobj.CreateValueFromAddress("inner", address, t)
        return False

    def num_children(self):
        return 1 if self.inner is not None else 0

    def get_child_index(self, name):
        return 0 if name in ("value", "data") else -1

    def get_child_at_index(self, index):
        if index != 0 or self.inner is None:
            return None
        for name in ("value", "data"):
            v = self.inner.GetChildMemberWithName(name)
            if v.IsValid():
                return v.Clone(name)
        return None


def rust_rc_summary(valobj, _internal_dict):
    v = valobj.GetNonSyntheticValue()
    stored = first_stored_pointer(v.GetChildMemberWithName("ptr"))
    if stored is None:
        return None
    address, t = pointee(stored)
    if not address or t is None:
        return None
    inner = valobj.CreateValueFromAddress("inner", address, t)
    try:
        strong = first_number(inner.GetChildMemberWithName("strong"))
        weak = first_number(inner.GetChildMemberWithName("weak")) - 1
    except ValueError:
        return None
    return "strong=%d, weak=%d" % (strong, weak)


def raw_table(valobj, depth=5):
    v = valobj.GetNonSyntheticValue()
    if v.GetType().GetCanonicalType().GetName().startswith("hashbrown::raw::RawTable<"):
        return v
    if depth == 0:
        return None
    for i in range(v.GetNumChildren()):
        found = raw_table(v.GetChildAtIndex(i), depth - 1)
        if found is not None:
            return found
    return None


class RustHash(Elements):
    """hashbrown's table: the buckets whose control byte has its top bit
    clear, each stored before the control bytes, highest index first."""

    def locate(self):
        table = raw_table(self.valobj)
        if table is None:
            raise ValueError("no RawTable")
        pair = table.GetType().GetCanonicalType().GetTemplateArgumentType(0)
        inner = table.GetChildMemberWithName("table")
        items = inner.GetChildMemberWithName("items").GetValueAsUnsigned(0)
        buckets = inner.GetChildMemberWithName("bucket_mask").GetValueAsUnsigned(0) + 1
        ctrl = native_address(first_stored_pointer(inner.GetChildMemberWithName("ctrl")))
        if items > buckets or buckets > TEXT_MAX * 256 or not ctrl:
            raise ValueError("implausible table")
        error = lldb.SBError()
        control = self.valobj.GetProcess().ReadMemory(ctrl, buckets, error) if items else b""
        if not error.Success():
            raise ValueError(error.GetCString())
        size = pair.GetByteSize()
        self.slots = [ctrl - (i + 1) * size for i, c in enumerate(control) if c & 0x80 == 0]
        return ctrl, pair, len(self.slots)

    def get_child_at_index(self, index):
        if not 0 <= index < self.count:
            return None
        return self.valobj.CreateValueFromAddress("[%d]" % index, self.slots[index], self.elem)


class RustTuple:
    """A tuple's fields `__0`, `__1`, ... as `0`, `1`, ..."""

    def __init__(self, valobj, _internal_dict):
        self.valobj = valobj

    def update(self):
        return False

    def num_children(self):
        return self.valobj.GetNonSyntheticValue().GetNumChildren()

    def get_child_index(self, name):
        try:
            return int(name)
        except ValueError:
            return -1

    def get_child_at_index(self, index):
        field = self.valobj.GetNonSyntheticValue().GetChildAtIndex(index)
        return field.Clone(str(index)) if field.IsValid() else None


def rust_tuple_summary(valobj, _internal_dict):
    v = valobj.GetNonSyntheticValue()
    parts = []
    for i in range(v.GetNumChildren()):
        field = v.GetChildAtIndex(i)
        parts.append(field.GetSummary() or field.GetValue() or "")
    return "(%s)" % ", ".join(parts)


RUST_SUMMARIES = [
    ("^alloc::string::String$", "rust_string_summary", ""),
    ("^&(mut )?str$", "rust_string_summary", ""),
    ("^alloc::vec::Vec<.+>$", "sequence_summary", "-e "),
    ("^&(mut )?\\[.+\\]$", "sequence_summary", "-e "),
    ("^alloc::rc::Rc<.+>$", "rust_rc_summary", "-e "),
    ("^alloc::sync::Arc<.+>$", "rust_rc_summary", "-e "),
    ("^std::collections::hash::(map::HashMap|set::HashSet)<.+>$", "sequence_summary", "-e "),
    ("^\\(.+\\)$", "rust_tuple_summary", "-e "),
]

RUST_SYNTHETICS = [
    ("^alloc::string::String$", "RustString"),
    ("^&(mut )?str$", "RustString"),
    ("^alloc::vec::Vec<.+>$", "RustVec"),
    ("^&(mut )?\\[.+\\]$", "RustSlice"),
    ("^alloc::rc::Rc<.+>$", "RustRc"),
    ("^alloc::sync::Arc<.+>$", "RustRc"),
    ("^std::collections::hash::(map::HashMap|set::HashSet)<.+>$", "RustHash"),
    ("^\\(.+\\)$", "RustTuple"),
]


def align_of(t, depth=0):
    """A type's alignment (lldb 14 has no SBType.GetByteAlign)."""
    t = t.GetCanonicalType()
    if hasattr(t, "GetByteAlign"):
        a = t.GetByteAlign()
        if a:
            return a
    if t.GetNumberOfFields() == 0 and t.GetNumberOfDirectBaseClasses() == 0 or depth > 8:
        size = t.GetByteSize()
        if t.IsArrayType():
            return align_of(t.GetArrayElementType(), depth + 1)
        a = 1
        while a * 2 <= min(size, 8):
            a *= 2
        return a
    parts = [t.GetFieldAtIndex(i).GetType() for i in range(t.GetNumberOfFields())]
    parts += [t.GetDirectBaseClassAtIndex(i).GetType() for i in range(t.GetNumberOfDirectBaseClasses())]
    return max([align_of(p, depth + 1) for p in parts] + [1])


def node_value(valobj, name, address, t):
    """A node's value at `address`: its `__cc_` pair if it wraps one."""
    v = valobj.CreateValueFromAddress(name, address, t)
    cc = v.GetChildMemberWithName("__cc_")
    if not cc.IsValid():
        cc = v.GetChildMemberWithName("__cc")
    return cc.Clone(name) if cc.IsValid() else v


def read_word(process, address, size):
    error = lldb.SBError()
    data = process.ReadMemory(address, size, error)
    if not error.Success():
        raise ValueError(error.GetCString())
    return int.from_bytes(data, "little")


def allocated_type(valobj):
    """The type a container's allocator allocates (its last template
    argument's first): complete where the node's own value type may be
    only declared."""
    t = valobj.GetNonSyntheticValue().GetType().GetCanonicalType()
    n = t.GetNumberOfTemplateArguments()
    if n == 0:
        return None
    allocated = t.GetTemplateArgumentType(n - 1).GetTemplateArgumentType(0)
    return allocated if allocated.IsValid() else None


def node_container(valobj, member, size_names):
    """A libc++ node container's inner object, node value type and size."""
    inner = child(valobj, member)
    value_type = allocated_type(valobj)
    if value_type is None:
        value_type = inner.GetType().GetCanonicalType().GetTemplateArgumentType(0)
    size = None
    for name in size_names:
        c = inner.GetChildMemberWithName(name)
        if c.IsValid():
            size = first_number(c)
            break
    if size is None or not value_type.IsValid() or size > TEXT_MAX * 256:
        raise ValueError("not a node container")
    return inner, value_type, size


class Tree(Elements):
    """std::map, std::set: libc++'s red-black tree in order from its
    leftmost node (left, right, parent, is_black, then the value)."""

    def locate(self):
        tree, self.value_type, size = node_container(self.valobj, "__tree_", ["__size_", "__pair3_"])
        begin = child(tree, "__begin_node_")
        node, _ = pointee(begin)
        word = 4
        process = self.valobj.GetProcess()
        base = memory_base(self.valobj) or 0
        native = lambda raw: base + raw if raw else 0
        offset = word * 3 + 1
        align = align_of(self.value_type)
        offset = (offset + align - 1) // align * align
        self.slots = []
        for _ in range(size):
            if not node:
                raise ValueError("tree ends early")
            self.slots.append(node + offset)
            right = native(read_word(process, node + word, word))
            if right:
                node = right
                while True:
                    left = native(read_word(process, node, word))
                    if not left:
                        break
                    node = left
            else:
                for _ in range(64):
                    parent = native(read_word(process, node + 2 * word, word))
                    if native(read_word(process, parent, word)) == node:
                        node = parent
                        break
                    node = parent
                else:
                    raise ValueError("tree does not hold together")
        return 1, self.value_type, len(self.slots)

    def get_child_at_index(self, index):
        if not 0 <= index < self.count:
            return None
        return node_value(self.valobj, "[%d]" % index, self.slots[index], self.value_type)


class HashTable(Elements):
    """std::unordered_map, std::unordered_set: the list of nodes from the
    table's first node (next, hash, then the value)."""

    def locate(self):
        table, self.value_type, size = node_container(self.valobj, "__table_", ["__size_", "__p2_"])
        first = child(table, "__first_node_", "__p1_")
        stored = first_stored_pointer(first)
        if stored is None:
            raise ValueError("no first node")
        node, _ = pointee(stored)
        word = 4
        process = self.valobj.GetProcess()
        base = memory_base(self.valobj) or 0
        align = align_of(self.value_type)
        offset = (2 * word + align - 1) // align * align
        self.slots = []
        for _ in range(size):
            if not node:
                raise ValueError("list ends early")
            self.slots.append(node + offset)
            raw = read_word(process, node, word)
            node = base + raw if raw else 0
        return 1, self.value_type, len(self.slots)

    def get_child_at_index(self, index):
        if not 0 <= index < self.count:
            return None
        return node_value(self.valobj, "[%d]" % index, self.slots[index], self.value_type)


def find_member(v, name, depth=8):
    """Member `name` of `v`, through base classes and anonymous members
    (libc++'s optional keeps its value in a union of a base's base)."""
    direct = v.GetChildMemberWithName(name)
    if direct.IsValid():
        return direct
    if depth == 0:
        return None
    for i in range(v.GetNumChildren()):
        c = v.GetChildAtIndex(i)
        label = c.GetName() or ""
        if label == "" or label.startswith("std::") or c.GetType().GetName() == label:
            found = find_member(c, name, depth - 1)
            if found is not None:
                return found
    return None


class Optional:
    """std::optional: `Value` when engaged."""

    def __init__(self, valobj, _internal_dict):
        self.valobj = valobj

    def update(self):
        return False

    def engaged(self):
        engaged = find_member(self.valobj.GetNonSyntheticValue(), "__engaged_")
        return engaged is not None and engaged.GetValueAsUnsigned(0) != 0

    def num_children(self):
        return 1 if self.engaged() else 0

    def get_child_index(self, name):
        return 0 if name == "Value" else -1

    def get_child_at_index(self, index):
        if index != 0 or not self.engaged():
            return None
        value = find_member(self.valobj.GetNonSyntheticValue(), "__val_")
        return value.Clone("Value") if value is not None else None


def optional_summary(valobj, _internal_dict):
    engaged = Optional(valobj, None).engaged()
    return " Has Value=%s " % ("true" if engaged else "false")


class Variant:
    """std::variant: the active alternative as `Value`."""

    def __init__(self, valobj, _internal_dict):
        self.valobj = valobj

    def update(self):
        return False

    def active(self):
        """(index, value) of the active alternative, or None."""
        try:
            impl = child(self.valobj, "__impl_", "__impl")
            index = child(impl, "__index").GetValueAsUnsigned(0)
            data = child(impl, "__data")
        except ValueError:
            return None
        for _ in range(index):
            data = data.GetChildMemberWithName("__tail")
        value = data.GetChildMemberWithName("__head").GetChildMemberWithName("__value")
        return (index, value) if value.IsValid() else None

    def num_children(self):
        return 1 if self.active() else 0

    def get_child_index(self, name):
        return 0 if name == "Value" else -1

    def get_child_at_index(self, index):
        active = self.active()
        if index != 0 or active is None:
            return None
        return active[1].Clone("Value")


def variant_summary(valobj, _internal_dict):
    active = Variant(valobj, None).active()
    if active is None:
        return " No Value "
    t = valobj.GetNonSyntheticValue().GetType().GetCanonicalType()
    name = t.GetTemplateArgumentType(active[0]).GetDisplayTypeName()
    return " Active Type = %s " % name


LIBCXX = "^std::__1_wasm32::"


def wasm_set(debugger, command, result, _internal_dict):
    """wasm-set PATH VALUE: writes VALUE to the variable path PATH as
    `frame variable` reads it, through stored pointers too (lldb's
    `expression` cannot follow a `wasm_ptr32<T>`)."""
    parts = command.strip().rsplit(None, 1)
    if len(parts) != 2:
        result.SetError("usage: wasm-set PATH VALUE (e.g. wasm-set n1.next->value 21)")
        return
    path, value = parts
    frame = debugger.GetSelectedTarget().GetProcess().GetSelectedThread().GetSelectedFrame()
    target = frame.GetValueForVariablePath(path)
    if not target.IsValid() or target.GetError().Fail():
        result.SetError("no variable path `%s`" % path)
        return
    error = lldb.SBError()
    if not target.SetValueFromCString(value, error) or error.Fail():
        result.SetError("cannot set `%s`: %s" % (path, error.GetCString() or "refused"))
        return
    result.AppendMessage("%s = %s" % (path, frame.GetValueForVariablePath(path).GetValue()))


def __lldb_init_module(debugger, _internal_dict):
    module = __name__
    debugger.HandleCommand(
        'type summary add -w wasmscope -x "^wasm_ptr32<.*>$" -F %s.pointer_summary'
        % module
    )
    debugger.HandleCommand(
        'type synthetic add -w wasmscope -x "^wasm_ptr32<.*>$" -l %s.WasmPointer'
        % module
    )
    # (`-e`: children shown under the summary, as lldb's own.)
    summaries = [
        ("basic_string<char, .*>$", "string_summary", ""),
        ("basic_string_view<char, .*>$", "string_view_summary", ""),
        ("vector<.+>$", "sequence_summary", "-e "),
        ("unique_ptr<.+>$", "unique_ptr_summary", "-e "),
        ("shared_ptr<.+>$", "shared_ptr_summary", "-e "),
        ("(multi)?(map|set)<.+>$", "sequence_summary", "-e "),
        ("unordered_(multi)?(map|set)<.+>$", "sequence_summary", "-e "),
        ("optional<.+>$", "optional_summary", "-e "),
        ("variant<.+>$", "variant_summary", "-e "),
    ]
    for pattern, function, expand in summaries:
        debugger.HandleCommand(
            'type summary add -w wasmscope %s-x "%s%s" -F %s.%s'
            % (expand, LIBCXX, pattern, module, function)
        )
    synthetics = [
        ("vector<.+>$", "Vector"),
        ("unique_ptr<.+>$", "SmartPointer"),
        ("shared_ptr<.+>$", "SmartPointer"),
        ("(multi)?(map|set)<.+>$", "Tree"),
        ("unordered_(multi)?(map|set)<.+>$", "HashTable"),
        ("optional<.+>$", "Optional"),
        ("variant<.+>$", "Variant"),
    ]
    for pattern, provider in synthetics:
        debugger.HandleCommand(
            'type synthetic add -w wasmscope -x "%s%s" -l %s.%s'
            % (LIBCXX, pattern, module, provider)
        )
    for pattern, function, expand in RUST_SUMMARIES:
        debugger.HandleCommand(
            'type summary add -w wasmscope %s-x "%s" -F %s.%s'
            % (expand, pattern, module, function)
        )
    for pattern, provider in RUST_SYNTHETICS:
        debugger.HandleCommand(
            'type synthetic add -w wasmscope -x "%s" -l %s.%s' % (pattern, module, provider)
        )
    debugger.HandleCommand("command script add -f %s.wasm_set wasm-set" % module)
    debugger.HandleCommand("type category enable wasmscope")
