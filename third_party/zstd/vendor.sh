#!/usr/bin/env bash
# Copies the decompression half of zstd 1.5.7 (BSD-3-Clause OR GPL-2.0) from the zstd-sys crate that
# Cargo already downloaded for the image builder (zstd-sys 2.1.2+zstd.1.5.7, see README.md) into this
# directory: LICENSE, COPYING and lib/ (replaced whole). Commit the result.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
src=$(echo "${CARGO_HOME:-$HOME/.cargo}"/registry/src/*/zstd-sys-2.1.2+zstd.1.5.7/zstd)
[ -d "$src/lib" ] || { echo "vendor.sh: zstd-sys 2.1.2+zstd.1.5.7 sources not found (run cargo fetch in the repository root)" >&2; exit 1; }
rm -rf "$here/lib"; mkdir -p "$here/lib/common" "$here/lib/decompress"
cp "$src/LICENSE" "$src/COPYING" "$here/"
cp "$src/lib/zstd.h" "$src/lib/zstd_errors.h" "$here/lib/"
cp "$src"/lib/common/{allocations,bits,bitstream,compiler,cpu,debug,error_private,fse,huf,mem,portability_macros,xxhash,zstd_deps,zstd_internal,zstd_trace}.h \
   "$src"/lib/common/{entropy_common,fse_decompress,error_private,zstd_common}.c "$here/lib/common/"
cp "$src"/lib/decompress/*.[ch] "$here/lib/decompress/"
