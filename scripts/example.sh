#!/usr/bin/env bash
# Pack examples/hello/hello.wasm with examples/hello/assets at / and run it with no --dir.
#
#   scripts/example.sh [--engine auto|python|node] [--release] [--rebuild]
#
# Builds only the wasifs CLI, then runs the packed module with
#   python: the PyPI `wasmtime` package in the project venv (scripts/run_wasm.py), or
#   node:   Node 24 from the npm registry (scripts/run_wasm_node.js, node:wasi).
# Both are installed into .tools/ (WASIFS_TOOLS_DIR) by scripts/install-toolchains.sh on first use,
# in seconds. auto (the default): python, or node when the Python one cannot be installed.
# The CLI is built in the profile `example` (target/example/): dev with unoptimised dependencies,
# the quickest build from scratch. Measured from a fresh clone on 2 busy cores: the whole script
# 35 s (load ~2.7) and 53 s (load ~4), 43 s with --engine node; with the workspace's dev profile
# (dependencies optimised for the tests) 2 min 46 s; a --release build of the CLI alone 2 min 20 s.
# --rebuild first rebuilds hello.wasm from hello.c (clang + wasi-libc, e.g. Debian's clang lld
# wasi-libc libclang-rt-dev-wasm32, or WASI_SDK_PATH).
set -euo pipefail
cd "$(dirname "$0")/.."
TOOLS="${WASIFS_TOOLS_DIR:-$PWD/.tools}"

engine=auto
profile=(--config 'profile.example.inherits="dev"' --config 'profile.example.package."*".opt-level=0'
         --profile example)
rebuild=0
while [[ $# -gt 0 ]]; do
    case "$1" in
        --engine) engine="${2:-}"; shift 2 || { echo "$0: --engine needs auto, python or node" >&2; exit 2; } ;;
        --engine=*) engine="${1#*=}"; shift ;;
        --release) profile=(--release); shift ;;
        --rebuild) rebuild=1; shift ;;
        -h|--help) sed -n '2,16p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) echo "usage: $0 [--engine auto|python|node] [--release] [--rebuild]" >&2; exit 2 ;;
    esac
done
case "$engine" in
    auto|python|node) ;;
    *) echo "$0: unknown engine '$engine' (auto, python or node)" >&2; exit 2 ;;
esac

if [[ $rebuild == 1 ]]; then
    if [[ -n "${WASI_SDK_PATH:-}" ]]; then
        cc=("$WASI_SDK_PATH/bin/clang" --target=wasm32-wasip1)
    else
        cc=(clang --target=wasm32-wasi --sysroot=/usr)
    fi
    "${cc[@]}" -O2 -Wl,--strip-debug -o examples/hello/hello.wasm examples/hello/hello.c
    echo "rebuilt examples/hello/hello.wasm"
fi

# The engine first: it installs in seconds, and a failure shows before the build.
if [[ $engine == auto ]]; then
    if bash scripts/install-toolchains.sh --python; then
        engine=python-ready
    else
        echo "example.sh: the Python wasmtime engine could not be installed (above); trying Node 24" >&2
        engine=node
    fi
fi
case "$engine" in
    python|python-ready)
        [[ $engine == python ]] && bash scripts/install-toolchains.sh --python
        run=("$TOOLS/venv/bin/python" scripts/run_wasm.py) ;;
    node)
        bash scripts/install-toolchains.sh --node
        run=("$TOOLS/node24/node_modules/.bin/node" --no-warnings scripts/run_wasm_node.js) ;;
esac

mkdir -p target
set -x
cargo run --quiet "${profile[@]}" -p wasifs --bin wasifs -- rewrite examples/hello/hello.wasm \
    --mount /=examples/hello/assets -o target/hello.packed.wasm
"${run[@]}" target/hello.packed.wasm
