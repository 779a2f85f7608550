#!/usr/bin/env python3
"""Run a wasm32-wasip1 module under Python wasmtime (the PyPI `wasmtime` package).

    run_wasm.py MODULE [--dir HOST::GUEST]... [--rw] [--invoke FUNC] [-- ARGS...]

Preopens are READ-ONLY unless --rw is given: a wasifs image is read-only, so this is
the reference the packed module is compared with (and the fixtures' write probes must
not modify fixtures/tree). stdout/stderr are inherited. A command module's `_start` is
run; a reactor (no `_start`) gets `_initialize` and then `--invoke FUNC` (no
arguments; its i32/i64 results are printed). Exits with the module's exit code
(0 when `_start` returns), or 134 after printing a trap.

Any python3 can start it: when `wasmtime` is not importable it re-runs itself with the
project venv that scripts/install-toolchains.sh creates ($WASIFS_TOOLS_DIR/venv, default
.tools/venv in the checkout).
"""
import argparse
import os
import sys

try:
    import wasmtime
except ImportError:
    _root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    _tools = os.environ.get("WASIFS_TOOLS_DIR") or os.path.join(_root, ".tools")
    _venv_python = os.path.join(os.path.abspath(_tools), "venv", "bin", "python")
    if os.path.exists(_venv_python) and os.path.realpath(sys.prefix) != os.path.realpath(
        os.path.dirname(os.path.dirname(_venv_python))
    ):
        os.execv(_venv_python, [_venv_python, os.path.abspath(__file__), *sys.argv[1:]])
    sys.exit(
        "run_wasm.py: the Python package `wasmtime` is not installed; run "
        "scripts/install-toolchains.sh --python (it installs it into " + _venv_python + ")"
    )


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("module")
    ap.add_argument("--dir", action="append", default=[], metavar="HOST::GUEST")
    ap.add_argument("--rw", action="store_true", help="make the preopens writable")
    ap.add_argument("--invoke", metavar="FUNC", help="reactor export to call after _initialize")
    ap.add_argument("args", nargs="*")
    a = ap.parse_args()

    engine = wasmtime.Engine()  # multi-memory is on by default in wasmtime >= 15
    module = wasmtime.Module.from_file(engine, a.module)
    wasi = wasmtime.WasiConfig()
    wasi.argv = [a.module.rsplit("/", 1)[-1]] + a.args
    wasi.inherit_stdout()
    wasi.inherit_stderr()
    for d in a.dir:
        host, sep, guest = d.partition("::")
        wasi.preopen_dir(host, guest if sep else host, fs_mutable=a.rw)
    store = wasmtime.Store(engine)
    store.set_wasi(wasi)
    linker = wasmtime.Linker(engine)
    linker.define_wasi()

    try:
        inst = linker.instantiate(store, module)
        exports = inst.exports(store)
        if "_start" in exports:
            exports["_start"](store)
        else:
            if "_initialize" in exports:
                exports["_initialize"](store)
            if a.invoke:
                res = exports[a.invoke](store)
                print(f"{a.invoke}() = {res}", flush=True)
    except wasmtime.ExitTrap as e:
        sys.stdout.flush()
        sys.exit(e.code)
    except (wasmtime.Trap, wasmtime.WasmtimeError) as e:
        sys.stdout.flush()
        print(f"trap: {e}", file=sys.stderr)
        sys.exit(134)
    sys.exit(0)


if __name__ == "__main__":
    main()
