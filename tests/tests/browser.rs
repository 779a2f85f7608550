//! The browser as a target: `examples/browser/` (@bjorn3/browser_wasi_shim, no host files) runs every
//! packed fixture in headless Chromium with the same stdout, stderr and exit code as wasmtime.
//!
//! Each fixture is packed once (read-only ones with `fixtures/tree` at `/`, the writing ones with a
//! writable `/data` and a read-only `/ro` from `fixtures/rwtree`), then the same bytes run under
//! wasmtime with no preopens and in Chromium. The page reports its result by POSTing it to the small
//! HTTP server below, which also serves the page and the packed modules.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use wasifs_tests::{
    copy_tree, diff_between, pack_comparable, pack_specs, run, skip_or_fail, workspace_root, Entry,
    Outcome, RunOptions,
};

/// Fixtures that write into `/data` (packed writable) and read `/ro`, as tests/tests/conformance.rs runs them.
const WRITE_FIXTURES: &[&str] = &[
    "c_conformance",
    "go_write",
    "rust_conformance",
    "rust_stress",
];

/// Directories of `fixtures/rwtree` that git cannot keep (they are empty).
const RWTREE_EMPTY_DIRS: &[&str] = &["empty-dir", "sub/empty"];

/// How long one page may take to load, run its module and report.
const PAGE_TIMEOUT: Duration = Duration::from_secs(120);

/// `$WASIFS_BROWSER` (a Chromium or Firefox binary), else the first of `chromium`,
/// `chromium-browser`, `google-chrome` that runs.
fn find_browser() -> Option<PathBuf> {
    let mut candidates: Vec<PathBuf> = Vec::new();
    if let Some(p) = std::env::var_os("WASIFS_BROWSER") {
        candidates.push(PathBuf::from(p));
    }
    candidates.extend(
        ["chromium", "chromium-browser", "google-chrome"]
            .iter()
            .map(PathBuf::from),
    );
    candidates.into_iter().find(|c| {
        Command::new(c)
            .arg("--version")
            .stderr(Stdio::null())
            .output()
            .is_ok_and(|o| o.status.success())
    })
}

/// Whether `browser` is a Firefox (its own command-line flags), not a Chromium.
fn is_firefox(browser: &Path) -> bool {
    browser
        .file_name()
        .is_some_and(|n| n.to_string_lossy().contains("firefox"))
}

/// A command fixture, or a reactor (`*reactor*`): `_initialize`, then its first exported function
/// whose name does not start with `_` (as tests/tests/differential.rs runs it).
fn entry_for(name: &str, module: &[u8]) -> Entry {
    if !name.contains("reactor") {
        return Entry::Command;
    }
    for payload in wasmparser::Parser::new(0).parse_all(module) {
        if let Ok(wasmparser::Payload::ExportSection(exports)) = payload {
            for export in exports.into_iter().flatten() {
                if export.kind == wasmparser::ExternalKind::Func && !export.name.starts_with('_') {
                    return Entry::Reactor(export.name.to_string());
                }
            }
        }
    }
    panic!("{name}: a reactor fixture must export a function besides _initialize");
}

/// The MIME type a browser needs for each file the page loads (module scripts must be JavaScript).
fn content_type(path: &Path) -> &'static str {
    match path.extension().and_then(|e| e.to_str()) {
        Some("html") => "text/html; charset=utf-8",
        Some("js") => "text/javascript",
        Some("wasm") => "application/wasm",
        _ => "application/octet-stream",
    }
}

/// Serves `GET /m/NAME` from `modules`, any other `GET` from `site`, and sends the body of every
/// `POST /report` to `reports`. One request per connection.
fn serve(listener: TcpListener, site: PathBuf, modules: PathBuf, reports: mpsc::Sender<Vec<u8>>) {
    for stream in listener.incoming() {
        let Ok(stream) = stream else { continue };
        let (site, modules, reports) = (site.clone(), modules.clone(), reports.clone());
        std::thread::spawn(move || {
            let _ = handle(stream, &site, &modules, &reports);
        });
    }
}

fn handle(
    stream: TcpStream,
    site: &Path,
    modules: &Path,
    reports: &mpsc::Sender<Vec<u8>>,
) -> std::io::Result<()> {
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut request_line = String::new();
    reader.read_line(&mut request_line)?;
    let mut content_length = 0usize;
    loop {
        let mut header = String::new();
        if reader.read_line(&mut header)? == 0 || header.trim().is_empty() {
            break;
        }
        if let Some((key, value)) = header.split_once(':') {
            if key.trim().eq_ignore_ascii_case("content-length") {
                content_length = value.trim().parse().unwrap_or(0);
            }
        }
    }
    let mut parts = request_line.split_whitespace();
    let (method, target) = (parts.next().unwrap_or(""), parts.next().unwrap_or("/"));
    let path = target.split('?').next().unwrap_or("/");
    let mut stream = stream;
    if method == "POST" && path == "/report" {
        let mut body = vec![0; content_length];
        reader.read_exact(&mut body)?;
        let _ = reports.send(body);
        return stream.write_all(
            b"HTTP/1.1 204 No Content\r\nConnection: close\r\nContent-Length: 0\r\n\r\n",
        );
    }
    let file = match path.strip_prefix("/m/") {
        Some(name) => modules.join(name),
        None if path == "/" => site.join("index.html"),
        None => site.join(path.trim_start_matches('/')),
    };
    let body = if path.contains("..") {
        None
    } else {
        std::fs::read(&file).ok()
    };
    match body {
        Some(body) => {
            let head = format!(
                "HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Type: {}\r\nContent-Length: {}\r\n\r\n",
                content_type(&file),
                body.len()
            );
            stream.write_all(head.as_bytes())?;
            stream.write_all(&body)
        }
        None => stream
            .write_all(b"HTTP/1.1 404 Not Found\r\nConnection: close\r\nContent-Length: 0\r\n\r\n"),
    }
}

fn from_hex(s: &str) -> Vec<u8> {
    (0..s.len() / 2)
        .map(|i| u8::from_str_radix(&s[2 * i..2 * i + 2], 16).expect("the page sends hex"))
        .collect()
}

/// Parses the page's report (`key value` lines, bytes in hex) into an outcome, or the page's error.
fn parse_report(body: &[u8]) -> Result<Outcome, String> {
    let text = String::from_utf8_lossy(body);
    let fields: HashMap<&str, &str> = text
        .lines()
        .map(|l| l.split_once(' ').unwrap_or((l, "")))
        .collect();
    let field = |k: &str| fields.get(k).copied().unwrap_or("");
    if !field("error").is_empty() {
        return Err(String::from_utf8_lossy(&from_hex(field("error"))).into_owned());
    }
    Ok(Outcome {
        stdout: from_hex(field("stdout")),
        stderr: from_hex(field("stderr")),
        exit_code: field("exit_code")
            .parse()
            .expect("the page sends an exit code"),
        results: field("results")
            .split_whitespace()
            .map(|r| r.parse().expect("the page sends integer results"))
            .collect(),
    })
}

/// Kills the browser when the test is done with it, even on a panic.
struct Browser(Child);

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The example page served on a local port, and the Chromium that opens it.
struct Page {
    browser: PathBuf,
    dir: tempfile::TempDir,
    port: u16,
    reports: mpsc::Receiver<Vec<u8>>,
    opened: usize,
}

impl Page {
    /// Serves `examples/browser/` and an empty module directory; `None` (after a skip notice, or a
    /// panic under CI) when Chromium or the page's npm dependencies are missing.
    fn start() -> Option<Page> {
        let site = workspace_root().join("examples/browser");
        if !site
            .join("node_modules/@bjorn3/browser_wasi_shim/dist/index.js")
            .exists()
        {
            skip_or_fail(
                "examples/browser/node_modules is missing (run `npm ci` in examples/browser, or \
                 scripts/install-toolchains.sh --test)",
            );
            return None;
        }
        let Some(browser) = find_browser() else {
            skip_or_fail("no chromium found (apt install chromium, or set WASIFS_BROWSER)");
            return None;
        };
        let dir = tempfile::tempdir().unwrap();
        let modules = dir.path().join("modules");
        std::fs::create_dir(&modules).unwrap();
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let (send, reports) = mpsc::channel();
        std::thread::spawn(move || serve(listener, site, modules, send));
        Some(Page {
            browser,
            dir,
            port,
            reports,
            opened: 0,
        })
    }

    /// Runs `module` (as `name`, argv = [name]) on the page in a fresh headless Chromium and waits
    /// for the page's report.
    fn run(&mut self, name: &str, module: &[u8], entry: &Entry) -> Result<Outcome, String> {
        std::fs::write(self.dir.path().join("modules").join(name), module).unwrap();
        let mut url = format!(
            "http://127.0.0.1:{}/index.html?module=/m/{name}&report=/report",
            self.port
        );
        if let Entry::Reactor(export) = entry {
            url += &format!("&invoke={export}");
        }
        self.opened += 1;
        let profile = self.dir.path().join(format!("profile-{}", self.opened));
        let mut command = Command::new(&self.browser);
        if is_firefox(&self.browser) {
            std::fs::create_dir_all(&profile).unwrap();
            command.args(["--headless", "--no-remote", "--profile"]);
            command.arg(&profile);
        } else {
            command.args([
                "--headless=new",
                "--no-sandbox",
                "--disable-gpu",
                "--no-first-run",
                "--no-default-browser-check",
                "--disable-crash-reporter",
            ]);
            command.arg(format!("--user-data-dir={}", profile.display()));
        }
        let child = command
            .arg(&url)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| format!("starting {}: {e}", self.browser.display()))?;
        let _browser = Browser(child);
        let body = self
            .reports
            .recv_timeout(PAGE_TIMEOUT)
            .map_err(|_| format!("no report from the page within {PAGE_TIMEOUT:?} ({url})"))?;
        parse_report(&body)
    }
}

#[test]
fn browser_page_runs_every_packed_fixture_like_wasmtime() {
    let Some(mut page) = Page::start() else {
        return;
    };
    let root = workspace_root();
    let seeds = tempfile::tempdir().unwrap();
    let mut fixtures: Vec<PathBuf> = std::fs::read_dir(root.join("fixtures/bin"))
        .expect("fixtures/bin exists")
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "wasm"))
        .collect();
    fixtures.sort();
    assert!(fixtures.len() >= 14, "fixtures/bin has too few fixtures");

    let tree = root.join("fixtures/tree");
    let mut failures = Vec::new();
    for fixture in &fixtures {
        let stem = fixture.file_stem().unwrap().to_string_lossy().into_owned();
        let name = format!("{stem}.wasm");
        let specs = if WRITE_FIXTURES.contains(&stem.as_str()) {
            let seed = seeds.path().join(&stem);
            copy_tree(&root.join("fixtures/rwtree"), &seed, RWTREE_EMPTY_DIRS).unwrap();
            vec![
                format!("/data={}", seed.display()),
                format!("/ro={}:ro", seed.display()),
            ]
        } else {
            // Read-only, as in the differential test: a writable mount would give new files the
            // clock's time, which differs between two runs.
            vec![format!("/={}:ro", tree.display())]
        };
        let packed = pack_comparable(fixture, &specs);
        let entry = entry_for(&stem, &packed);
        let opts = RunOptions {
            args: vec![name.clone()],
            entry: entry.clone(),
            ..RunOptions::default()
        };
        let wasmtime = run(&packed, &opts)
            .unwrap_or_else(|e| panic!("{name}: the packed module failed under wasmtime: {e:?}"));

        let browser = match page.run(&name, &packed, &entry) {
            Ok(outcome) => outcome,
            Err(e) => {
                failures.push(format!("{name}: {e}"));
                continue;
            }
        };
        let expected = wasmtime;
        if expected != browser {
            let mut msg = format!(
                "{name}: exit code wasmtime {}, browser {}; results wasmtime {:?}, browser {:?}\n",
                expected.exit_code, browser.exit_code, expected.results, browser.results
            );
            msg += &diff_between(
                "stdout (wasmtime)",
                "stdout (browser)",
                &expected.stdout,
                &browser.stdout,
            );
            msg += &diff_between(
                "stderr (wasmtime)",
                "stderr (browser)",
                &expected.stderr,
                &browser.stderr,
            );
            failures.push(msg);
        } else {
            eprintln!(
                "{name}: same in {} as under wasmtime",
                page.browser.display()
            );
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// Probes what a program sees besides its files: stdin/stdout/stderr (`fd_fdstat_get`: errno and
/// file type), a read from stdin, a seek on stdout, the environment's size and the preopens after
/// the one embedded mount (fd 3). One `label errno value` line each.
const HOST_PROBE_WAT: &str = r#"(module
  (import "wasi_snapshot_preview1" "fd_write" (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_read" (func $fd_read (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_fdstat_get" (func $fdstat (param i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_seek" (func $seek (param i32 i64 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_prestat_get" (func $prestat (param i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "environ_sizes_get" (func $envsz (param i32 i32) (result i32)))
  (memory (export "memory") 2)
  (global $__stack_pointer (mut i32) (i32.const 131072))
  (data (i32.const 256) "stdin-fdstatstdout-fdstatstderr-fdstatstdin-readstdout-seekenvironfd3-prestatfd4-prestat")
  ;; writes `n` in decimal at `at`, returns the end
  (func $dec (param $n i32) (param $at i32) (result i32) (local $div i32)
    (local.set $div (i32.const 1))
    (block $done (loop $up
      (br_if $done (i32.lt_u (i32.div_u (local.get $n) (local.get $div)) (i32.const 10)))
      (local.set $div (i32.mul (local.get $div) (i32.const 10)))
      (br $up)))
    (loop $digits
      (i32.store8 (local.get $at)
        (i32.add (i32.const 48) (i32.rem_u (i32.div_u (local.get $n) (local.get $div)) (i32.const 10))))
      (local.set $at (i32.add (local.get $at) (i32.const 1)))
      (local.set $div (i32.div_u (local.get $div) (i32.const 10)))
      (br_if $digits (local.get $div)))
    (local.get $at))
  ;; prints "LABEL A B\n"
  (func $say (param $label i32) (param $len i32) (param $a i32) (param $b i32) (local $at i32)
    (memory.copy (i32.const 1024) (local.get $label) (local.get $len))
    (local.set $at (i32.add (i32.const 1024) (local.get $len)))
    (i32.store8 (local.get $at) (i32.const 32))
    (local.set $at (call $dec (local.get $a) (i32.add (local.get $at) (i32.const 1))))
    (i32.store8 (local.get $at) (i32.const 32))
    (local.set $at (call $dec (local.get $b) (i32.add (local.get $at) (i32.const 1))))
    (i32.store8 (local.get $at) (i32.const 10))
    (i32.store (i32.const 0) (i32.const 1024))
    (i32.store (i32.const 4) (i32.sub (i32.add (local.get $at) (i32.const 1)) (i32.const 1024)))
    (drop (call $fd_write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8))))
  (func $fdstat_line (param $fd i32) (param $label i32) (param $len i32) (local $e i32)
    (i32.store8 (i32.const 64) (i32.const 255))
    (local.set $e (call $fdstat (local.get $fd) (i32.const 64)))
    (call $say (local.get $label) (local.get $len) (local.get $e) (i32.load8_u (i32.const 64))))
  (func (export "_start") (local $e i32)
    (call $fdstat_line (i32.const 0) (i32.const 256) (i32.const 12))
    (call $fdstat_line (i32.const 1) (i32.const 268) (i32.const 13))
    (call $fdstat_line (i32.const 2) (i32.const 281) (i32.const 13))
    ;; read up to 16 bytes from stdin
    (i32.store (i32.const 32) (i32.const 512))
    (i32.store (i32.const 36) (i32.const 16))
    (i32.store (i32.const 48) (i32.const 99))
    (local.set $e (call $fd_read (i32.const 0) (i32.const 32) (i32.const 1) (i32.const 48)))
    (call $say (i32.const 294) (i32.const 10) (local.get $e) (i32.load (i32.const 48)))
    (local.set $e (call $seek (i32.const 1) (i64.const 0) (i32.const 1) (i32.const 56)))
    (call $say (i32.const 304) (i32.const 11) (local.get $e) (i32.const 0))
    (i32.store (i32.const 72) (i32.const 99))
    (local.set $e (call $envsz (i32.const 72) (i32.const 76)))
    (call $say (i32.const 315) (i32.const 7) (local.get $e) (i32.load (i32.const 72)))
    (i32.store8 (i32.const 96) (i32.const 255))
    (local.set $e (call $prestat (i32.const 3) (i32.const 96)))
    (call $say (i32.const 322) (i32.const 11) (local.get $e) (i32.load8_u (i32.const 96)))
    (local.set $e (call $prestat (i32.const 4) (i32.const 96)))
    (call $say (i32.const 333) (i32.const 11) (local.get $e) (i32.const 0))))"#;

/// What the page gives a program differs from wasmtime only in the file types of stdio
/// (examples/browser/README.md): stdin is an empty regular file, stdout/stderr are character devices
/// (they answer a seek with ESPIPE, 70, as wasmtime's pipes do). Like wasmtime with no `--dir` and no
/// `--env`, there is no environment and no preopen besides the embedded mount (fd 4: EBADF, 8).
#[test]
fn browser_page_gives_stdio_environment_and_preopens_as_documented() {
    let Some(mut page) = Page::start() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let module = dir.path().join("probe.wasm");
    std::fs::write(&module, wat::parse_str(HOST_PROBE_WAT).unwrap()).unwrap();
    std::fs::write(dir.path().join("a.txt"), "a").unwrap();
    let packed = pack_specs(&module, &[format!("/={}:ro", dir.path().display())]);
    let opts = RunOptions {
        args: vec!["probe.wasm".into()],
        ..RunOptions::default()
    };
    let wasmtime = run(&packed, &opts).unwrap();
    let browser = page
        .run("probe.wasm", &packed, &Entry::Command)
        .unwrap_or_else(|e| panic!("{e}"));
    // The same on both sides: a read of stdin gives end of file, a seek on stdout ESPIPE, no
    // environment, the embedded mount at fd 3 and nothing at fd 4.
    let common =
        "stdin-read 0 0\nstdout-seek 70 0\nenviron 0 0\nfd3-prestat 0 0\nfd4-prestat 8 0\n";
    // File types (fd_fdstat_get): 0 unknown (the harness's in-memory pipes), 2 character device,
    // 4 regular file.
    assert_eq!(
        wasmtime.stdout_str(),
        format!("stdin-fdstat 0 0\nstdout-fdstat 0 0\nstderr-fdstat 0 0\n{common}"),
        "wasmtime"
    );
    assert_eq!(
        browser.stdout_str(),
        format!("stdin-fdstat 0 4\nstdout-fdstat 0 2\nstderr-fdstat 0 2\n{common}"),
        "browser"
    );
    assert_eq!((wasmtime.exit_code, browser.exit_code), (0, 0));
}
