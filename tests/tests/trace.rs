//! `--trace`: a module packed with [`Trace::On`] logs every WASI call to stderr, one strace-like
//! line each (paths quoted, flags by name, results read back, errno by name), and behaves as the
//! untraced one otherwise; [`Trace::Env`] logs only when the runtime sets `WASIFS_TRACE`.

use std::path::PathBuf;

use wasifs::{MountSpec, Rewriter, Trace};
use wasifs_tests::{run, workspace_root, Outcome, RunOptions};

fn fixture(name: &str) -> PathBuf {
    workspace_root().join(format!("fixtures/bin/{name}.wasm"))
}

/// `name` packed with `fixtures/tree` read-only at `/` and trace mode `trace`.
fn packed(name: &str, trace: Trace) -> Vec<u8> {
    let tree = workspace_root().join("fixtures/tree");
    Rewriter::new()
        .mount(MountSpec::new("/", tree).unwrap().read_only())
        .trace(trace)
        .rewrite_file(fixture(name))
        .unwrap_or_else(|e| panic!("rewriting {name}: {e}"))
        .bytes
}

fn run_env(module: &[u8], env: &[(&str, &str)]) -> Outcome {
    let opts = RunOptions {
        env: env
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        ..RunOptions::default()
    };
    run(module, &opts).expect("the packed module runs")
}

/// stderr lines that are trace lines (`call(...) = ...`).
fn trace_lines(out: &Outcome) -> Vec<String> {
    out.stderr_str()
        .lines()
        .filter(|l| l.contains(") = "))
        .map(String::from)
        .collect()
}

#[test]
fn a_traced_c_program_logs_its_calls_with_paths_flags_results_and_errno_names() {
    let plain = run_env(&packed("c_posix", Trace::Off), &[]);
    let traced = run_env(&packed("c_posix", Trace::On), &[]);
    assert_eq!(
        traced.stdout, plain.stdout,
        "tracing changes nothing the program sees"
    );
    assert_eq!(traced.exit_code, plain.exit_code);
    let lines = trace_lines(&traced);
    let has = |s: &str| lines.iter().any(|l| l.starts_with(s));
    assert!(has("fd_prestat_dir_name(3, \"/\") = 0"), "{lines:#?}");
    assert!(
        has("path_open(3, SYMLINK_FOLLOW, \"hello.txt\", 0, "),
        "{lines:#?}"
    );
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("path_open(") && l.ends_with("-1 ENOENT (errno 44)")),
        "a failing open shows its errno by name: {lines:#?}"
    );
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("path_open(") && l.contains(", CREAT")),
        "oflags by name: {lines:#?}"
    );
    assert!(has("fd_read(") && has("fd_close("), "{lines:#?}");
    assert!(
        trace_lines(&plain).is_empty(),
        "the untraced module logs nothing"
    );
}

#[test]
fn a_traced_rust_program_logs_its_writes_with_the_byte_counts() {
    let traced = run_env(&packed("rust_read", Trace::On), &[]);
    let lines = trace_lines(&traced);
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("fd_write(1, ") && l.ends_with(") = 0")),
        "{lines:#?}"
    );
    assert!(
        lines.iter().any(|l| l.starts_with("path_open(")),
        "{lines:#?}"
    );
}

#[test]
fn trace_env_logs_only_when_the_runtime_sets_wasifs_trace() {
    let module = packed("c_posix", Trace::Env);
    assert!(trace_lines(&run_env(&module, &[])).is_empty());
    assert!(trace_lines(&run_env(&module, &[("WASIFS_TRACE", "0")])).is_empty());
    let on = run_env(&module, &[("WASIFS_TRACE", "1")]);
    assert!(trace_lines(&on).len() > 10, "{}", on.stderr_str());
}

#[test]
fn the_untraced_module_carries_no_trace_code() {
    let app = fixture("wat_cat");
    let plain = Rewriter::new().rewrite_file(&app).unwrap().bytes;
    let traced = Rewriter::new()
        .trace(Trace::On)
        .rewrite_file(&app)
        .unwrap()
        .bytes;
    let has = |m: &[u8], s: &[u8]| m.windows(s.len()).any(|w| w == s);
    assert!(
        has(&traced, b"ENOTCAPABLE"),
        "the traced one has the errno names"
    );
    assert!(!has(&plain, b"ENOTCAPABLE"), "the untraced one has none");
}

#[test]
fn wasifs_trace_naming_a_file_under_a_runtime_preopen_writes_the_trace_there() {
    let dir = tempfile::tempdir().unwrap();
    let opts = RunOptions {
        env: vec![("WASIFS_TRACE".into(), "/trace/app.log".into())],
        preopens: vec![(dir.path().to_path_buf(), "/trace".into())],
        ..RunOptions::default()
    };
    let out = run(&packed("c_posix", Trace::Env), &opts).expect("runs");
    assert!(
        trace_lines(&out).is_empty(),
        "nothing on stderr: {}",
        out.stderr_str()
    );
    let log = std::fs::read_to_string(dir.path().join("app.log")).expect("the trace file");
    assert!(log.lines().count() > 10, "{log}");
    assert!(
        log.contains("path_open(3, SYMLINK_FOLLOW, \"hello.txt\""),
        "{log}"
    );
}
