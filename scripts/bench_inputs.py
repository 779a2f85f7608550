"""What scripts/bench measures: the guest modules it builds and the trees it generates under its work
directory (the same bytes every run), for `Bench` to pack, run and compare."""
import json
import os
import shutil
import subprocess

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MIB = 1 << 20


def sh(cmd, **kw):
    return subprocess.run(cmd, check=True, **kw)


def out_of(cmd):
    return subprocess.run(cmd, check=True, capture_output=True, text=True).stdout.strip()


class Inputs:
    """The guest modules (release builds) and trees, under `a.work`; what could not be made is
    noted in `notes` (a list shared with the report)."""

    def __init__(self, a, runner, notes):
        self.a = a
        self.w = a.work
        self.runner = runner
        self.notes = notes
        self.sqlite = None  # bench/sqlite-guest's module, once built
        self.copy_size = 0  # bytes of the file the copies tree repeats (gen_copies)

    def p(self, *parts):
        return os.path.join(self.w, *parts)

    def build(self):
        sh(["cargo", "build", "--release", "-q", "-p", "wasifs", "-p", "wasifs-bench"], cwd=ROOT)
        sh(["cargo", "build", "--release", "-q", "--target", "wasm32-wasip1", "--target-dir",
            self.p("guest-target")], cwd=os.path.join(ROOT, "bench/guest"))
        shutil.copy(self.p("guest-target/wasm32-wasip1/release/bench_guest.wasm"), self.p("guest.wasm"))
        self.sqlite = self.build_sqlite()

    def build_sqlite(self):
        """Builds bench/sqlite-guest into sqlite.wasm; None (and a note) without clang and wasi-libc."""
        wasi_libc = any(os.path.exists(d) for d in ("/usr/share/wasi-sysroot", "/usr/include/wasm32-wasi"))
        if not shutil.which("clang") or not wasi_libc:
            self.notes.append("clang or wasi-libc missing (scripts/install-toolchains.sh --fixtures): "
                              "the SQLite rows of P9 not measured.")
            return None
        # libsqlite3-sys compiles SQLite's amalgamation with cc-rs, which passes clang
        # --target=wasm32-wasip1; clang 14 (Debian 12) knows only wasm32-wasi, whose triple also
        # finds Debian's wasi-libc, so the later flag wins. An upstream wasi-sysroot goes by --sysroot.
        cflags = "--target=wasm32-wasi"
        if os.path.exists("/usr/share/wasi-sysroot"):
            cflags += " --sysroot=/usr/share/wasi-sysroot"
        env = dict(os.environ, CC_wasm32_wasip1="clang", CFLAGS_wasm32_wasip1=cflags)
        sh(["cargo", "build", "--release", "-q", "--locked", "--target", "wasm32-wasip1", "--target-dir",
            self.p("sqlite-guest-target")], cwd=os.path.join(ROOT, "bench/sqlite-guest"), env=env)
        out = self.p("sqlite.wasm")
        shutil.copy(self.p("sqlite-guest-target/wasm32-wasip1/release/sqlite_guest.wasm"), out)
        return out

    def gen(self):
        trees = [("tiny", 1000), ("m50", 50_000_000), ("meta", 25_600_000), ("random", 64 * MIB),
                 ("tinyfiles", 50_000), ("shared", 20_000_000)]
        if not self.a.no_200:
            trees.append(("m200", 200_000_000))
        for name, size in trees:
            kind = name if name in ("tiny", "meta", "random", "tinyfiles", "shared") else "mixed"
            sh([self.runner, "gen-tree", kind, str(size), self.p("trees", name)])
        sh([self.runner, "pad-module", self.p("guest.wasm"), self.p("big80.wasm"), str(80 * 1000 * 1000)])
        self.gen_sqlite()
        self.gen_crates()
        self.gen_realfile()
        self.gen_realtext()
        self.gen_copies()
        self.gen_sparse()
        self.gen_mid()
        self.gen_binaries()
        self.gen_npm()
        # Warm the page cache: every comparison below reads the trees from memory. (Through a pipe:
        # GNU tar writing to /dev/null skips reading the files' contents.)
        sh(f"tar -C {self.p('trees')} -cf - . | cat > /dev/null", shell=True)

    def gen_sqlite(self):
        """The SQLite guest writes its database (same bytes every run) through a writable preopen."""
        if self.sqlite:
            db = self.p("trees", "sqlite")
            os.makedirs(db, exist_ok=True)
            sh([self.runner, "run", self.sqlite, "--dir-rw", f"{db}::/", "--", "gen", "/db.sqlite", "32"],
               stdout=subprocess.DEVNULL)
            db7 = self.p("trees", "sqlite7")
            os.makedirs(db7, exist_ok=True)
            sh([self.runner, "run", self.sqlite, "--dir-rw", f"{db7}::/", "--", "gen", "/db.sqlite", "7"],
               stdout=subprocess.DEVNULL)

    def gen_realfile(self):
        """One 64 MiB file of real content for P9: the `crates` tree's files (Rust sources, manifests,
        import libraries) back to back in path order, cut at 64 MiB; same bytes every run."""
        self.crates_back_to_back("realfile", "db.bin", lambda b: True)

    def gen_realtext(self):
        """One 64 MiB text file of real content, larger than the cache (P1/P2/P4 "realtext", the way a log,
        a CSV or a JSON dump is): the `crates` tree's files without a NUL byte (sources, manifests,
        documentation) back to back in path order, cut at 64 MiB; same bytes every run."""
        self.crates_back_to_back("realtext", "all.txt", lambda b: b"\0" not in b)

    def crates_back_to_back(self, tree, name, keep):
        """Writes trees/`tree`/`name`: the `crates` tree's files whose bytes `keep` accepts, back to back
        in path order, cut at 64 MiB."""
        crates = self.p("trees", "crates")
        files = sorted(os.path.join(d, f) for d, _, fs in os.walk(crates) for f in fs)
        out = self.p("trees", tree)
        os.makedirs(out, exist_ok=True)
        left = 64 * MIB
        with open(os.path.join(out, name), "wb") as w:
            for f in files:
                if left == 0:
                    break
                if os.path.islink(f) or not os.path.isfile(f):
                    continue
                with open(f, "rb") as r:
                    b = r.read()
                if keep(b):
                    w.write(b[:left])
                    left -= min(len(b), left)

    def gen_copies(self):
        """Eight copies of the m50 tree's largest text file: a tree whose bytes are mostly whole files
        repeated (vendored dependencies, build outputs), for P1's copies row."""
        text = self.p("trees", "m50", "large", "text")
        files = sorted(os.path.join(d, f) for d, _, fs in os.walk(text) for f in fs)
        largest = max(files, key=os.path.getsize)
        out = self.p("trees", "copies")
        shutil.rmtree(out, ignore_errors=True)
        os.makedirs(out)
        for i in range(8):
            shutil.copyfile(largest, os.path.join(out, f"copy{i}.dat"))
        self.copy_size = os.path.getsize(largest)

    def gen_sparse(self):
        """A 256 MiB sparse file (a preallocated database or disk image): 16 regions of 64 KiB of the
        real file's bytes, one every 16 MiB, zeros between them; same bytes every run."""
        out = self.p("trees", "sparse")
        shutil.rmtree(out, ignore_errors=True)
        os.makedirs(out)
        with open(self.p("trees", "realfile", "db.bin"), "rb") as f:
            real = f.read(16 * 64 * 1024)
        with open(os.path.join(out, "disk.img"), "wb") as f:
            f.truncate(256 * MIB)
            for k in range(16):
                f.seek(k * 16 * MIB)
                f.write(real[k * 65536:(k + 1) * 65536])

    def gen_mid(self):
        """A 6 MiB file within the cache, which `auto` gives 256 KiB zstd chunks: the first 6 MiB of
        the `random` tree's file (P9 \"within the cache\")."""
        out = self.p("trees", "mid")
        os.makedirs(out, exist_ok=True)
        with open(self.p("trees", "random", "db.bin"), "rb") as f:
            head = f.read(6 * MIB)
        with open(os.path.join(out, "db.bin"), "wb") as f:
            f.write(head)

    def gen_binaries(self):
        """LLVM 14's libraries and tools from Debian's clang (installed for the C fixtures): ~380 MB of
        ELF and ar files, nine of them larger than the cache (P1/P2 \"binaries\"); linked, not copied."""
        src, out = "/usr/lib/llvm-14", self.p("trees", "binaries")
        if os.path.islink(out):
            os.unlink(out)
        if os.path.isdir(src):
            os.symlink(src, out)
        else:
            self.notes.append(f"{src} missing (Debian clang-14): the P1/P2 binaries rows not measured.")

    def gen_npm(self):
        """A real node_modules (P1/P11 `npm`): webpack, TypeScript, ESLint and Babel as
        bench/npm/package-lock.json pins them (165 packages, ~6,500 files, 76 MiB: scripts, type
        declarations, source maps, each package's builds for several module systems, TypeScript's
        native compiler), installed by `npm ci --ignore-scripts`, and installed again only when the
        lockfile changed. Without npm or its registry the rows are left out, with a note."""
        src, work = os.path.join(ROOT, "bench", "npm"), self.p("npm")
        out = self.p("trees", "npm")
        lock = os.path.join(src, "package-lock.json")
        done = os.path.join(work, "installed.json")
        if not (os.path.isfile(done) and open(done, "rb").read() == open(lock, "rb").read()):
            if shutil.which("npm") is None:
                self.notes.append("npm missing: the P1/P11 `npm` rows not measured.")
                return
            shutil.rmtree(work, ignore_errors=True)
            os.makedirs(work)
            shutil.copy(os.path.join(src, "package.json"), work)
            shutil.copy(lock, work)
            r = subprocess.run(["npm", "ci", "--ignore-scripts", "--no-audit", "--no-fund"], cwd=work,
                               capture_output=True, text=True)
            if r.returncode != 0:
                self.notes.append(f"`npm ci` failed ({r.stderr.strip()[-200:]}): the P1/P11 `npm` rows not measured.")
                return
            # The lockfile of a finished install, for the next run to compare.
            shutil.copy(lock, done)
        if os.path.islink(out):
            os.unlink(out)
        os.symlink(os.path.join(work, "node_modules"), out)

    def gen_crates(self):
        """A real source tree: the sources of every registry crate this workspace's Cargo.lock names
        (cargo has them unpacked for the build), one directory per crate, same files every run."""
        meta = json.loads(out_of(["cargo", "metadata", "--format-version", "1", "--locked",
                                  "--manifest-path", os.path.join(ROOT, "Cargo.toml")]))
        dirs = sorted({os.path.dirname(p["manifest_path"]) for p in meta["packages"]
                       if (p.get("source") or "").startswith("registry+")})
        out = self.p("trees", "crates")
        shutil.rmtree(out, ignore_errors=True)
        os.makedirs(out)
        for d in dirs:
            shutil.copytree(d, os.path.join(out, os.path.basename(d)), symlinks=True)
