#!/usr/bin/env bash
# Builds shim-runtime (the WASI shim) for wasm32-unknown-unknown and installs the result as
# rewriter/assets/shim.wasm, which the rewriter include_bytes!. Reproducible: paths of the checkout
# and of CARGO_HOME are remapped, the shim's own Cargo.lock is used (--locked), and LTO/strip leave
# nothing that depends on where or when it was built; binaryen's wasm-opt -Oz then shrinks it.
# Needs clang + llvm-ar (zstd's C decoder; override with WASM_CC / WASM_AR) and wasm-opt (WASM_OPT).
#
# Usage: scripts/build-shim.sh [--out FILE]
#   --out FILE   write the shim to FILE instead of rewriter/assets/shim.wasm (used by the freshness test)
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
out="$root/rewriter/assets/shim.wasm"
# 66 KiB: 64 KiB until the chunk cache (shim-runtime/src/cache.rs, issue 10) added ~1.5 KiB.
budget=67584

while [ $# -gt 0 ]; do
    case "$1" in
        --out) [ $# -ge 2 ] || { echo "build-shim.sh: --out needs a file name" >&2; exit 2; }; out="$2"; shift 2 ;;
        --out=*) out="${1#--out=}"; shift ;;
        -h|--help) sed -n '2,9p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) echo "build-shim.sh: unknown argument '$1' (try --help)" >&2; exit 2 ;;
    esac
done

if ! rustup target list --installed 2>/dev/null | grep -qx wasm32-unknown-unknown; then
    echo "build-shim.sh: the wasm32-unknown-unknown target is missing; run: rustup target add wasm32-unknown-unknown" >&2
    exit 1
fi

wasm_opt="${WASM_OPT:-wasm-opt}"
if ! command -v "$wasm_opt" >/dev/null 2>&1; then
    echo "build-shim.sh: wasm-opt is missing; install binaryen (Debian: apt-get install binaryen)" >&2
    exit 1
fi

# zstd's C decoder (image/zstd-wasm/ around third_party/zstd/, compiled by image/build.rs) needs
# clang with the WebAssembly backend and llvm-ar. Like wasm-opt, their version is part of the reproducibility contract: the
# committed shim was made with Debian bookworm's clang 14.0.6 / llvm 14.
wasm_cc="${WASM_CC:-clang}"
wasm_ar="${WASM_AR:-llvm-ar}"
for tool in "$wasm_cc" "$wasm_ar"; do
    if ! command -v "$tool" >/dev/null 2>&1; then
        echo "build-shim.sh: $tool is missing; install clang and llvm (Debian: apt-get install clang llvm)" >&2
        exit 1
    fi
done

cargo_home="${CARGO_HOME:-$HOME/.cargo}"
cargo_home="$(cd "$cargo_home" && pwd)"
# CARGO_ENCODED_RUSTFLAGS (0x1f-separated) keeps paths with spaces intact.
sep=$'\x1f'
flags="-Clink-arg=-zstack-size=65536${sep}--remap-path-prefix=$root=/wasifs${sep}--remap-path-prefix=$cargo_home=/cargo"
# Registry sources get a short prefix too: their paths end up in panic locations (bytes of the shim).
for reg in "$cargo_home"/registry/src/*/; do
    [ -d "$reg" ] && flags="$flags${sep}--remap-path-prefix=${reg%/}=/r"
done
target_dir="$root/shim-runtime/target"

(
    cd "$root/shim-runtime"
    unset RUSTFLAGS CARGO_BUILD_RUSTFLAGS CFLAGS TARGET_CFLAGS CFLAGS_wasm32_unknown_unknown
    export CC_wasm32_unknown_unknown="$wasm_cc" AR_wasm32_unknown_unknown="$wasm_ar"
    CARGO_ENCODED_RUSTFLAGS="$flags" cargo build --release --locked \
        --target wasm32-unknown-unknown --target-dir "$target_dir"
)

built="$target_dir/wasm32-unknown-unknown/release/wasifs_shim.wasm"
mkdir -p "$(dirname "$out")"
# binaryen shrinks rustc's output by ~15% (the budget needs it). Its version is part of the
# reproducibility contract: the committed shim was made with Debian bookworm's binaryen 108.
"$wasm_opt" -Oz --strip-debug --strip-producers \
    --enable-bulk-memory --enable-sign-ext --enable-mutable-globals \
    --enable-nontrapping-float-to-int --enable-multivalue --enable-reference-types \
    "$built" -o "$out.tmp.$$"
mv "$out.tmp.$$" "$out"
size=$(wc -c < "$out")
echo "build-shim.sh: wrote $out ($size bytes, budget $budget)"
if [ "$size" -gt "$budget" ]; then
    echo "build-shim.sh: error: the shim is over its $budget-byte budget" >&2
    exit 1
fi
