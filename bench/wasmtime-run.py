"""Runs a WASI command module under Wasmtime (the PyPI `wasmtime` wheel),
the way `wasmscope run` does, for whole-process comparisons:

    python3 bench/wasmtime-run.py [--debug-info] [--dir HOST::GUEST]... MODULE [ARGS...]

`--debug-info` compiles as `wasmtime run -D debug-info` does: the module's
DWARF transformed for the native code and registered for gdb and lldb.
"""
import os
import sys

import wasmtime


def main() -> int:
    argv = sys.argv[1:]
    config = wasmtime.Config()
    if argv and argv[0] == "--debug-info":
        config.debug_info = True
        argv = argv[1:]
    preopens = []
    while argv and argv[0] == "--dir":
        host, _, guest = argv[1].partition("::")
        preopens.append((host, guest or host))
        argv = argv[2:]
    module_path, args = argv[0], argv[1:]
    engine = wasmtime.Engine(config)
    store = wasmtime.Store(engine)
    wasi = wasmtime.WasiConfig()
    wasi.argv = [os.path.basename(module_path), *args]
    wasi.inherit_stdout()
    wasi.inherit_stderr()
    wasi.inherit_stdin()
    for host, guest in preopens:
        wasi.preopen_dir(host, guest)
    store.set_wasi(wasi)
    linker = wasmtime.Linker(engine)
    linker.define_wasi()
    module = wasmtime.Module.from_file(engine, module_path)
    instance = linker.instantiate(store, module)
    start = instance.exports(store)["_start"]
    try:
        start(store)
    except wasmtime.ExitTrap as e:
        return e.code
    return 0


if __name__ == "__main__":
    sys.exit(main())
