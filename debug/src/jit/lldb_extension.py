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
#   *p`, `p->field` and `p->next->field` follow stored pointers.
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
    error = lldb.SBError()
    text = process.ReadCStringFromMemory(address, TEXT_MAX, error)
    if not error.Success():
        return None
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
    debugger.HandleCommand("type category enable wasmscope")
