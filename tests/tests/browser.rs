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
    copy_tree, diff_between, pack_specs, run, skip_or_fail, workspace_root, Entry, Outcome,
    RunOptions,
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

/// `$WASIFS_CHROMIUM`, else the first of `chromium`, `chromium-browser`, `google-chrome` that runs.
fn find_chromium() -> Option<PathBuf> {
    let mut candidates: Vec<PathBuf> = Vec::new();
    if let Some(p) = std::env::var_os("WASIFS_CHROMIUM") {
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

/// Opens `url` in a fresh headless Chromium and waits for the page's report.
fn run_in_chromium(
    chromium: &Path,
    profile: &Path,
    url: &str,
    reports: &mpsc::Receiver<Vec<u8>>,
) -> Result<Outcome, String> {
    let child = Command::new(chromium)
        .args([
            "--headless=new",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            "--no-default-browser-check",
            "--disable-crash-reporter",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .arg(url)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| format!("starting {}: {e}", chromium.display()))?;
    let _browser = Browser(child);
    let body = reports
        .recv_timeout(PAGE_TIMEOUT)
        .map_err(|_| format!("no report from the page within {PAGE_TIMEOUT:?} ({url})"))?;
    parse_report(&body)
}

#[test]
fn browser_page_runs_every_packed_fixture_like_wasmtime() {
    let root = workspace_root();
    let site = root.join("examples/browser");
    if !site
        .join("node_modules/@bjorn3/browser_wasi_shim/dist/index.js")
        .exists()
    {
        skip_or_fail(
            "examples/browser/node_modules is missing (run `npm ci` in examples/browser, or \
             scripts/install-toolchains.sh --test)",
        );
        return;
    }
    let Some(chromium) = find_chromium() else {
        skip_or_fail("no chromium found (apt install chromium, or set WASIFS_CHROMIUM)");
        return;
    };

    let dir = tempfile::tempdir().unwrap();
    let modules = dir.path().join("modules");
    std::fs::create_dir(&modules).unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let (send, reports) = mpsc::channel();
    {
        let (site, modules) = (site.clone(), modules.clone());
        std::thread::spawn(move || serve(listener, site, modules, send));
    }

    let mut fixtures: Vec<PathBuf> = std::fs::read_dir(root.join("fixtures/bin"))
        .expect("fixtures/bin exists")
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "wasm"))
        .collect();
    fixtures.sort();
    assert!(fixtures.len() >= 14, "fixtures/bin has too few fixtures");

    let tree = root.join("fixtures/tree");
    let mut failures = Vec::new();
    for (i, fixture) in fixtures.iter().enumerate() {
        let stem = fixture.file_stem().unwrap().to_string_lossy().into_owned();
        let name = format!("{stem}.wasm");
        let specs = if WRITE_FIXTURES.contains(&stem.as_str()) {
            let seed = dir.path().join(format!("seed-{stem}"));
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
        let packed = pack_specs(fixture, &specs);
        std::fs::write(modules.join(&name), &packed).unwrap();
        let entry = entry_for(&stem, &packed);
        let opts = RunOptions {
            args: vec![name.clone()],
            entry: entry.clone(),
            ..RunOptions::default()
        };
        let wasmtime = run(&packed, &opts)
            .unwrap_or_else(|e| panic!("{name}: the packed module failed under wasmtime: {e:?}"));

        let mut url = format!("http://127.0.0.1:{port}/index.html?module=/m/{name}&report=/report");
        if let Entry::Reactor(export) = &entry {
            url += &format!("&invoke={export}");
        }
        let profile = dir.path().join(format!("profile-{i}"));
        let browser = match run_in_chromium(&chromium, &profile, &url, &reports) {
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
            eprintln!("{name}: same in Chromium as under wasmtime");
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
