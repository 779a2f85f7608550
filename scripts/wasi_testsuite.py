#!/usr/bin/env python3
"""Differential check of wasifs against the WASI testsuite (github.com/WebAssembly/wasi-testsuite).

    scripts/wasi_testsuite.py SUITE [--work DIR] [--only NAME]...

SUITE is a checkout of wasi-testsuite (its sources; nothing of it is kept in this repository).
Builds its wasm32-wasip1 tests into DIR (default /tmp/wasi-testsuite-run): the Rust ones
(tests/rust/wasm32-wasip1, with cargo and the crates they name) and the C ones (tests/c, with
clang and wasi-libc). Each test runs as the suite's wasmtime adapter runs it, under Python
wasmtime with its `root` directory preopened read-write at `/` (the reference), and packed with
`wasifs rewrite --mount /=ROOT` run with no preopen at all; each run gets a fresh copy of the
directory. Exit code, stdout and stderr must match. A test whose output may differ from run to run
(it prints something random, such as a hash map's order) passes when, over up to 8 runs of each,
some packed result is one the reference also gave. Prints one line per test and exits 1 if any
differs.

Needs target/release/wasifs (built if missing), the wasm32-wasip1 Rust target, clang with
wasi-libc, and the project venv with wasmtime (scripts/install-toolchains.sh --fixtures).
"""
import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RUN_WASM = os.path.join(ROOT, "scripts", "run_wasm.py")
WASIFS = os.path.join(ROOT, "target", "release", "wasifs")

# The Rust tests' manifest: the suite builds them with Buck; these are the crates it names
# (third-party/rust/Cargo.toml).
RUST_MANIFEST = """[package]
name = "wasi_tests"
version = "0.0.0"
edition = "2024"
publish = false

[dependencies]
libc = "0.2"
once_cell = "1"
wasip1 = "1"

[workspace]
"""


def build_rust(suite, work):
    """The Rust tests as (name, module, config) triples."""
    src = os.path.join(suite, "tests", "rust", "wasm32-wasip1", "src")
    proj = os.path.join(work, "rust")
    shutil.rmtree(proj, ignore_errors=True)
    shutil.copytree(src, os.path.join(proj, "src"), symlinks=True)
    with open(os.path.join(proj, "Cargo.toml"), "w") as f:
        f.write(RUST_MANIFEST)
    # The suite's sources are not ours: their warnings are not shown.
    subprocess.run(["cargo", "build", "--quiet", "--release", "--target", "wasm32-wasip1"],
                   cwd=proj, check=True, env=dict(os.environ, RUSTFLAGS="-A warnings"))
    out = os.path.join(proj, "target", "wasm32-wasip1", "release")
    bins = os.path.join(proj, "src", "bin")
    return [(f"rust/{n[:-3]}", os.path.join(out, n[:-3] + ".wasm"), os.path.join(bins, n[:-3] + ".json"))
            for n in sorted(os.listdir(bins)) if n.endswith(".rs")]


def build_c(suite, work):
    """The C tests as (name, module, config) triples."""
    src = os.path.join(suite, "tests", "c", "src")
    out = os.path.join(work, "c")
    os.makedirs(out, exist_ok=True)
    tests = []
    for n in sorted(os.listdir(src)):
        if not n.endswith(".c"):
            continue
        module = os.path.join(out, n[:-2] + ".wasm")
        subprocess.run(["clang", "--target=wasm32-wasi", "-O2", "-o", module, os.path.join(src, n)],
                       check=True)
        tests.append((f"c/{n[:-2]}", module, os.path.join(src, n[:-2] + ".json")))
    return tests


def run(cmd, env):
    p = subprocess.run(cmd, capture_output=True, timeout=300, env=env)
    return p.returncode, p.stdout, p.stderr


def check(module, config, scratch):
    """(reference, packed, runs) of one test: its first (exit code, stdout, stderr) results, and 1
    when those match, else the number of runs of each after which a packed result was one of the
    reference's (0: none was)."""
    cfg = {}
    if os.path.exists(config):
        with open(config) as f:
            cfg = json.load(f)
    args = [str(a) for a in cfg.get("args", [])]
    args = ["--", *args] if args else []
    env = dict(os.environ, **{k: str(v) for k, v in cfg.get("env", {}).items()})
    root = cfg.get("root") and os.path.join(os.path.dirname(config), cfg["root"])

    def fresh(name):
        d = os.path.join(scratch, name)
        shutil.rmtree(d, ignore_errors=True)
        if root:
            shutil.copytree(root, d, symlinks=True)
        else:
            os.makedirs(d)
        return d

    def reference():
        dirs = ["--rw", "--dir", f"{fresh('ref')}::/"] if root else []
        return run([sys.executable, RUN_WASM, module, *dirs, *args], env)

    packed = os.path.join(scratch, "packed.wasm")
    mount = ["--mount", f"/={fresh('tree')}"] if root else []
    rw = run([WASIFS, "rewrite", "-q", module, *mount, "-o", packed], env)
    first = reference()
    if rw[0] != 0:
        return first, rw, 0
    refs, gots = [first], [run([sys.executable, RUN_WASM, packed, *args], env)]
    while refs[0] != gots[0] and not set(refs) & set(gots) and len(refs) < 8:
        refs.append(reference())
        gots.append(run([sys.executable, RUN_WASM, packed, *args], env))
    return refs[0], gots[0], len(refs) if set(refs) & set(gots) else 0


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("suite", help="a checkout of github.com/WebAssembly/wasi-testsuite")
    ap.add_argument("--work", default="/tmp/wasi-testsuite-run")
    ap.add_argument("--only", action="append", default=[], metavar="NAME",
                    help="run only this test (e.g. rust/path_link or c/lseek); repeatable")
    a = ap.parse_args()
    if not os.path.isdir(os.path.join(a.suite, "tests")):
        sys.exit(f"wasi_testsuite.py: {a.suite} has no tests/ directory; give a checkout of "
                 "github.com/WebAssembly/wasi-testsuite")
    if not os.path.exists(WASIFS):
        subprocess.run(["cargo", "build", "--quiet", "--release", "-p", "wasifs"], cwd=ROOT, check=True)
    os.makedirs(a.work, exist_ok=True)
    tests = build_rust(a.suite, a.work) + build_c(a.suite, a.work)
    if a.only:
        tests = [t for t in tests if t[0] in a.only]
    diffs = 0
    for name, module, config in tests:
        with tempfile.TemporaryDirectory(dir=a.work) as scratch:
            ref, got, runs = check(module, config, scratch)
        how = f" (output varies from run to run: matched after {runs} runs)" if runs > 1 else ""
        print(f"{'SAME' if runs else 'DIFF'} {name}: exit {ref[0]} / packed {got[0]}{how}", flush=True)
        if not runs:
            diffs += 1
            for label, (code, out, err) in (("reference", ref), ("packed", got)):
                print(f"  {label}: exit {code}\n    stdout: {out[-400:]!r}\n    stderr: {err[-400:]!r}")
    print(f"{len(tests) - diffs} of {len(tests)} the same")
    sys.exit(1 if diffs else 0)


if __name__ == "__main__":
    main()
