#!/usr/bin/env bash
# Pack examples/hello/hello.wasm with examples/hello/assets at / and run it with no --dir.
#   scripts/example.sh            use the committed examples/hello/hello.wasm
#   scripts/example.sh --rebuild  first rebuild it from hello.c (clang + wasi-libc, e.g. Debian's
#                                 clang lld wasi-libc libclang-rt-dev-wasm32, or WASI_SDK_PATH)
set -euo pipefail
cd "$(dirname "$0")/.."

if [[ "${1:-}" == "--rebuild" ]]; then
    if [[ -n "${WASI_SDK_PATH:-}" ]]; then
        cc=("$WASI_SDK_PATH/bin/clang" --target=wasm32-wasip1)
    else
        cc=(clang --target=wasm32-wasi --sysroot=/usr)
    fi
    "${cc[@]}" -O2 -Wl,--strip-debug -o examples/hello/hello.wasm examples/hello/hello.c
    echo "rebuilt examples/hello/hello.wasm"
elif [[ $# -gt 0 ]]; then
    echo "usage: $0 [--rebuild]" >&2
    exit 2
fi

mkdir -p target
set -x
cargo run --quiet --release -p wasifs -- rewrite examples/hello/hello.wasm \
    --mount /=examples/hello/assets -o target/hello.packed.wasm
cargo run --quiet --release -p wasifs-tests --bin wasirun -- target/hello.packed.wasm
