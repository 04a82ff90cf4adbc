# Steps through `func_1` of a csmith program line by line (gdb's `step`,
# which enters functions with line information) and writes one JSON line
# per stop: function, line, frame depth, and every variable in scope that
# was declared on an earlier line (its initialization has run), flattened
# to strings. Stops outside SOURCE (library code) are left with `finish`.
# The last line says how the walk ended: {"end": "main"} (back in main, or
# the program ended) or {"end": "budget"} (MAX stops written first).
# The caller sets OUT (the output file), MAX (stops) and SOURCE.
import json

import gdb

gdb.execute("set breakpoint pending on")
gdb.execute("set confirm off")
gdb.execute("set width 0")


def flat(v, depth=0):
    t = v.type.strip_typedefs()
    c = t.code
    if c == gdb.TYPE_CODE_PTR:
        # Addresses differ natively and in linear memory; null does not.
        return "null" if int(v) == 0 else "ptr"
    if c == gdb.TYPE_CODE_ARRAY:
        lo, hi = t.range()
        return [flat(v[i], depth + 1) for i in range(lo, min(hi, lo + 15) + 1)]
    if c in (gdb.TYPE_CODE_STRUCT, gdb.TYPE_CODE_UNION):
        return {f.name: flat(v[f.name], depth + 1) for f in t.fields() if f.name}
    if c == gdb.TYPE_CODE_FLT:
        return repr(float(v))
    return str(int(v))


def variables(frame, line):
    out = {}
    try:
        block = frame.block()
    except RuntimeError:
        return out
    while block is not None:
        for sym in block:
            if not (sym.is_variable or sym.is_argument) or sym.name in out:
                continue
            if not sym.is_argument and sym.line >= line:
                # In scope (it shadows any outer one) but not initialized.
                out[sym.name] = "<undeclared>"
                continue
            try:
                out[sym.name] = flat(sym.value(frame))
            except Exception as e:  # noqa: BLE001 (gdb raises several kinds)
                out[sym.name] = "<error: %s>" % str(e).splitlines()[0]
        if block.function is not None:
            break
        block = block.superblock
    return out


def depth(frame):
    n = 0
    while frame is not None:
        n += 1
        frame = frame.older()
    return n


out = open(OUT, "w")
gdb.execute("break func_1", to_string=True)
try:
    gdb.execute("run", to_string=True)
except gdb.error as e:
    out.write(json.dumps({"error": "run: " + str(e)}) + "\n")
last = None
written = 0
iterations = 0
end = "main"
while True:
    try:
        frame = gdb.selected_frame()
    except gdb.error:
        break  # the program ended
    iterations += 1
    if written >= MAX or iterations > 20 * MAX:
        end = "budget"
        break
    sal = frame.find_sal()
    name = frame.name()
    line = sal.line if sal.symtab is not None else 0
    if name in ("main", "__main_argc_argv"):
        break
    if sal.symtab is None or not sal.symtab.filename.endswith(SOURCE):
        # Library code (glibc natively, wasi-libc in wasm): out of it, and
        # if that lands mid-line, on to the caller's next line, as if the
        # call had been stepped over.
        try:
            gdb.execute("finish", to_string=True)
            back = gdb.selected_frame()
            if (back.name(), back.find_sal().line) == last:
                gdb.execute("step", to_string=True)
        except gdb.error:
            end = "stuck in library code"
            break
        continue
    last = (name, line)
    out.write(
        json.dumps(
            {"fn": name, "line": line, "depth": depth(frame), "vars": variables(frame, line)},
            sort_keys=True,
        )
        + "\n"
    )
    out.flush()
    written += 1
    try:
        gdb.execute("step", to_string=True)
    except gdb.error as e:
        out.write(json.dumps({"error": "step: " + str(e)}) + "\n")
        break
out.write(json.dumps({"end": end}) + "\n")
out.close()
try:
    gdb.execute("kill", to_string=True)
except gdb.error:
    pass  # the program ended
