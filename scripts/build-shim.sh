#!/usr/bin/env bash
# Builds shim-runtime (the WASI shim) for wasm32-unknown-unknown and installs the result as
# rewriter/assets/shim.wasm, which the rewriter include_bytes!. Reproducible: paths of the checkout
# and of CARGO_HOME are remapped, the shim's own Cargo.lock is used (--locked), and LTO/strip leave
# nothing that depends on where or when it was built; binaryen's wasm-opt -Oz then shrinks it.
# Needs clang + llvm-ar (zstd's C decoder; override with WASM_CC / WASM_AR) and wasm-opt (WASM_OPT).
#
# Usage: scripts/build-shim.sh [--out FILE]
#   --out FILE   write the shim to FILE (and the trace variant to FILE without .wasm + -trace.wasm)
#                instead of rewriter/assets/shim.wasm (used by the freshness test)
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
out="$root/rewriter/assets/shim.wasm"
# The artifact holds every export; the merge keeps only what the app reaches. The WASI-policy
# exports (args, environ, clocks, random: ~12 KiB) are reached only when a policy redirects those
# calls, so what the merge adds to an app without policies stays under 64 KiB (tests/tests/policies.rs).
budget=81920
# The chunk cache (shim-runtime/src/cache.rs, issue 10) adds ~1.5 KiB to each variant.
# The `--trace` variant adds the shim_trace_* entry points and their formatting (~15 KiB). 97 KiB since
# small files share blocks (issue 10: +1 KiB of block decoding, which the plain budget absorbs).
trace_budget=99328

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

# Two variants: the shim (no trace code at all) and, next to it as `*-trace.wasm`, the shim built
# with the `trace` feature (the shim_trace_* entry points), merged only under `wasifs rewrite --trace`.
build_variant() { # $1: cargo features ("" or "trace"), $2: output file, $3: budget in bytes
    local features="$1" dest="$2" limit="$3"
    (
        cd "$root/shim-runtime"
        unset RUSTFLAGS CARGO_BUILD_RUSTFLAGS CFLAGS TARGET_CFLAGS CFLAGS_wasm32_unknown_unknown
        export CC_wasm32_unknown_unknown="$wasm_cc" AR_wasm32_unknown_unknown="$wasm_ar"
        CARGO_ENCODED_RUSTFLAGS="$flags" cargo build --release --locked \
            --target wasm32-unknown-unknown --target-dir "$target_dir" --features "$features"
    )
    local built="$target_dir/wasm32-unknown-unknown/release/wasifs_shim.wasm"
    mkdir -p "$(dirname "$dest")"
    # binaryen shrinks rustc's output by ~15% (the budget needs it). Its version is part of the
    # reproducibility contract: the committed shim was made with Debian bookworm's binaryen 108.
    # --low-memory-unused (-800 B) folds `p + C` (C < 1 KiB) into a load/store's offset; the two
    # differ only when p + C wraps past 4 GiB into the first KiB, which the shim never addresses
    # that way (its first KiB is the far end of its 64 KiB stack, reached, if ever, directly).
    "$wasm_opt" -Oz --low-memory-unused --strip-debug --strip-producers \
        --enable-bulk-memory --enable-sign-ext --enable-mutable-globals \
        --enable-nontrapping-float-to-int --enable-multivalue --enable-reference-types \
        "$built" -o "$dest.tmp.$$"
    mv "$dest.tmp.$$" "$dest"
    local size
    size=$(wc -c < "$dest")
    echo "build-shim.sh: wrote $dest ($size bytes, budget $limit)"
    if [ "$size" -gt "$limit" ]; then
        echo "build-shim.sh: error: $dest is over its $limit-byte budget" >&2
        exit 1
    fi
}

build_variant "" "$out" "$budget"

# Running out of memory must be an errno, never a trap (issue 8 item 8): the same build with its
# symbols kept (a separate target dir; the committed bytes come from the stripped build above),
# optimised the same way, may hold no alloc error handler and no panic (the panic handler traps).
# The trace variant (a diagnostic build, which formats with core::fmt) is not held to this.
(
    cd "$root/shim-runtime"
    unset RUSTFLAGS CARGO_BUILD_RUSTFLAGS CFLAGS TARGET_CFLAGS CFLAGS_wasm32_unknown_unknown
    export CC_wasm32_unknown_unknown="$wasm_cc" AR_wasm32_unknown_unknown="$wasm_ar"
    CARGO_PROFILE_RELEASE_STRIP=false CARGO_ENCODED_RUSTFLAGS="$flags" cargo build --release \
        --locked --target wasm32-unknown-unknown --target-dir "$target_dir/with-symbols"
)
features=(--enable-bulk-memory --enable-sign-ext --enable-mutable-globals
    --enable-nontrapping-float-to-int --enable-multivalue --enable-reference-types)
named="$target_dir/with-symbols/named.wasm"
"$wasm_opt" -Oz --low-memory-unused -g "${features[@]}" \
    "$target_dir/with-symbols/wasm32-unknown-unknown/release/wasifs_shim.wasm" -o "$named"
traps="$("$wasm_opt" --print-function-map "${features[@]}" "$named" -o /dev/null |
    grep -E 'alloc_error|handle_alloc|capacity_overflow|panic|begin_unwind|4core3fmt' || true)"
if [ -n "$traps" ]; then
    echo "$traps" >&2
    echo "build-shim.sh: error: the shim can trap: the functions above (a panic, or an allocation" \
        "that is not fallible) are linked in; allocate through shim-runtime/src/fallible.rs" >&2
    exit 1
fi

build_variant "trace" "${out%.wasm}-trace.wasm" "$trace_budget"
