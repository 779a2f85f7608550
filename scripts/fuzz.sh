#!/usr/bin/env bash
# Longer fuzz runs than CI's (CI runs each target with its default, bounded case count).
#   scripts/fuzz.sh [CASES]    CASES per target (default 2000000); WASIFS_FUZZ_SEED picks the seed
# Targets:
#   shim path resolution (issue 8 item 9c): random trees and paths (.., ., //, symlinks, loops,
#   NUL bytes, long names) against a reference model (shim-runtime/src/path_fuzz.rs).
set -euo pipefail
cd "$(dirname "$0")/.."
cases="${1:-2000000}"

echo "== shim path resolution: $cases paths (seed ${WASIFS_FUZZ_SEED:-default})"
WASIFS_FUZZ_CASES="$cases" cargo test --release --manifest-path shim-runtime/Cargo.toml \
    path_fuzz -- --nocapture

# Rewriter on corrupted input modules (issue 8 item 9b): fixtures/bin with bits flipped, cut short,
# section lengths rewritten (rewriter/tests/fuzz_input.rs); a clear error or a valid output, never a panic.
echo "== rewriter on corrupted modules: $cases cases (seed ${WASIFS_FUZZ_SEED:-default})"
WASIFS_FUZZ_CASES="$cases" cargo test --release -p wasifs --test fuzz_input -- --nocapture

# Image reader on corrupted images (issue 8 item 9d): random small trees built by the image
# builder, then bits flipped, cut short, header/record fields set to extreme values
# (image/tests/fuzz_image.rs); every read Ok or a clean FormatError, bounded work per image.
echo "== image reader on corrupted images: $cases cases (seed ${WASIFS_FUZZ_SEED:-default})"
WASIFS_FUZZ_CASES="$cases" cargo test --release -p wasifs-image --test fuzz_image -- --nocapture

# Rewriter on wasm-smith modules that import WASI (issue 8 item 9a): random modules with a memory
# "memory" and wasi_snapshot_preview1 imports (tests/tests/fuzz_smith.rs), rewritten with no mounts;
# no panic, the output validates, and exported functions that do not call WASI give the same
# results, traps and memory under wasmtime (with fuel) before and after the rewrite.
echo "== rewriter on wasm-smith modules: $cases cases (seed ${WASIFS_FUZZ_SEED:-default})"
WASIFS_FUZZ_CASES="$cases" cargo test --release -p wasifs-tests --test fuzz_smith -- --nocapture
