//! The WASI policies (`--env`, `--env-from-host`, `--arg`, `--stdin/--stdout/--stderr`, `--clock`,
//! `--random`, `--deny`) as a C, a Rust and a WAT program see them. `c_policy` and `rust_policy`
//! print one line per fact (`arg I V`, `env K=V`, `realtime NS`, `monotonic NS`, `random HEX`,
//! `stdin N`, `stderr ok N`, or `… errno N`); the WAT program makes the raw calls itself.

use std::path::PathBuf;

use wasifs::{Clock, Deny, EnvFromHost, Random, Rewriter, Stdio};
use wasifs_tests::{run, workspace_root, Outcome, RunOptions};

/// ENOTCAPABLE, the errno of a denied call.
const ENOTCAPABLE: i32 = 76;

/// The fixtures that print the report, one per language built by scripts/build-fixtures.sh.
const FIXTURES: &[&str] = &["c_policy", "rust_policy"];

fn fixture(name: &str) -> PathBuf {
    workspace_root().join(format!("fixtures/bin/{name}.wasm"))
}

/// `name` packed with no mounts and `rewriter`'s policies.
fn packed(name: &str, rewriter: &Rewriter) -> Vec<u8> {
    rewriter
        .rewrite_file(fixture(name))
        .unwrap_or_else(|e| panic!("rewriting {name}: {e}"))
        .bytes
}

/// Runs `module` with argv `prog h1 h2`, host env `HOME=/home/u`, `PATH=/bin`, `SECRET=s`, and
/// `stdin` on stdin.
fn run_host(module: &[u8], stdin: &[u8]) -> Outcome {
    let opts = RunOptions {
        args: vec!["prog".into(), "h1".into(), "h2".into()],
        env: vec![
            ("HOME".into(), "/home/u".into()),
            ("PATH".into(), "/bin".into()),
            ("SECRET".into(), "s".into()),
        ],
        stdin: Some(stdin.to_vec()),
        ..RunOptions::default()
    };
    let out = run(module, &opts).expect("the packed module runs");
    assert_eq!(out.exit_code, 0, "stderr: {}", out.stderr_str());
    out
}

/// The report's lines starting with `key ` (without it).
fn lines(out: &Outcome, key: &str) -> Vec<String> {
    out.stdout_str()
        .lines()
        .filter_map(|l| l.strip_prefix(key).and_then(|r| r.strip_prefix(' ')))
        .map(String::from)
        .collect()
}

/// The one report line `key`.
fn one(out: &Outcome, key: &str) -> String {
    let l = lines(out, key);
    assert_eq!(l.len(), 1, "one `{key}` line in:\n{}", out.stdout_str());
    l[0].clone()
}

#[test]
fn without_policies_the_app_sees_the_hosts_args_env_clocks_random_and_stdio() {
    for name in FIXTURES {
        let out = run_host(&packed(name, &Rewriter::new()), b"hello");
        assert_eq!(lines(&out, "arg"), ["0 prog", "1 h1", "2 h2"], "{name}");
        assert_eq!(
            lines(&out, "env"),
            ["HOME=/home/u", "PATH=/bin", "SECRET=s"],
            "{name}"
        );
        assert!(one(&out, "realtime").parse::<u64>().unwrap() > 1_600_000_000_000_000_000);
        assert_eq!(one(&out, "random").len(), 32, "{name}");
        assert_eq!(one(&out, "stdin"), "5", "{name}");
        assert_eq!(one(&out, "stderr"), "ok 10", "{name}");
        assert_eq!(out.stderr_str(), "to stderr\n", "{name}");
    }
}

#[test]
fn baked_env_comes_first_and_wins_and_env_from_host_filters_the_rest() {
    for name in FIXTURES {
        let r = Rewriter::new().env("MODE", "test").env("HOME", "/baked");
        let out = run_host(&packed(name, &r), b"");
        assert_eq!(
            lines(&out, "env"),
            ["MODE=test", "HOME=/baked", "PATH=/bin", "SECRET=s"],
            "{name}"
        );
        let only = r.clone().env_from_host("PATH".parse().unwrap());
        let out = run_host(&packed(name, &only), b"");
        assert_eq!(
            lines(&out, "env"),
            ["MODE=test", "HOME=/baked", "PATH=/bin"],
            "{name}"
        );
        let none = Rewriter::new().env_from_host(EnvFromHost::Deny);
        let out = run_host(&packed(name, &none), b"");
        assert_eq!(lines(&out, "env"), Vec::<String>::new(), "{name}");
    }
}

#[test]
fn baked_args_follow_the_hosts_argv0_and_precede_the_hosts_args() {
    for name in FIXTURES {
        let r = Rewriter::new()
            .arg("--config")
            .args(["/etc/app.toml", "two words"]);
        let out = run_host(&packed(name, &r), b"");
        assert_eq!(
            lines(&out, "arg"),
            [
                "0 prog",
                "1 --config",
                "2 /etc/app.toml",
                "3 two words",
                "4 h1",
                "5 h2"
            ],
            "{name}"
        );
    }
}

#[test]
fn null_stdio_reads_end_of_file_and_swallows_writes() {
    for name in FIXTURES {
        let r = Rewriter::new().stdin(Stdio::Null).stderr(Stdio::Null);
        let out = run_host(&packed(name, &r), b"hello");
        assert_eq!(one(&out, "stdin"), "0", "{name}");
        assert_eq!(one(&out, "stderr"), "ok 10", "{name}");
        assert_eq!(out.stderr, b"", "{name}");
        let out = run_host(&packed(name, &Rewriter::new().stdout(Stdio::Null)), b"");
        assert_eq!(out.stdout, b"", "{name}");
        assert_eq!(
            out.stderr_str(),
            "to stderr\n",
            "{name}: a null write succeeds"
        );
    }
}

/// Denied stdio answers ENOTCAPABLE, as the C fixture's raw calls show. Rust's std hides stdio
/// errors from the program (a failed read is end of file, a failed write is complete), so for
/// `rust_policy` the denial shows as nothing read and nothing written.
#[test]
fn denied_stdio_answers_enotcapable() {
    let denied = format!("errno {ENOTCAPABLE}");
    for name in FIXTURES {
        let raw = *name == "c_policy";
        let r = Rewriter::new().stdin(Stdio::Deny).stderr(Stdio::Deny);
        let out = run_host(&packed(name, &r), b"hello");
        let all = format!("{}\nstderr: {}", out.stdout_str(), out.stderr_str());
        let (stdin, stderr) = if raw {
            (denied.clone(), denied.clone())
        } else {
            ("0".to_string(), "ok 10".to_string())
        };
        assert_eq!(one(&out, "stdin"), stdin, "{name}: {all}");
        assert_eq!(one(&out, "stderr"), stderr, "{name}: {all}");
        assert_eq!(out.stderr, b"", "{name}");
        let out = run_host(&packed(name, &Rewriter::new().stdout(Stdio::Deny)), b"");
        assert_eq!(out.stdout, b"", "{name}");
        if raw {
            assert_eq!(out.stderr_str(), format!("to stderr\nstdout {denied}\n"));
        }
    }
}

#[test]
fn a_fixed_clock_reads_the_same_times_every_run_ticking_one_microsecond_per_read() {
    let base = 1_704_164_645_000_000_000u64; // 2024-01-02T03:04:05Z
    for name in FIXTURES {
        let r = Rewriter::new().clock("fixed:2024-01-02T03:04:05Z".parse().unwrap());
        assert_eq!(r.policies().clock, Clock::Fixed(base));
        let module = packed(name, &r);
        let a = run_host(&module, b"");
        let b = run_host(&module, b"");
        let (rt, mono) = (one(&a, "realtime"), one(&a, "monotonic"));
        assert_eq!(
            (rt.clone(), mono.clone()),
            (one(&b, "realtime"), one(&b, "monotonic"))
        );
        let rt: u64 = rt.parse().unwrap();
        let mono: u64 = mono.parse().unwrap();
        assert!(rt >= base && rt < base + 1_000_000, "{name}: realtime {rt}");
        assert_eq!(mono, rt + 1000, "{name}: the next read is 1 µs later");
    }
}

#[test]
fn a_seeded_random_gives_the_same_bytes_every_run_and_other_seeds_others() {
    for name in FIXTURES {
        let module = packed(name, &Rewriter::new().random(Random::Seed(42)));
        let a = one(&run_host(&module, b""), "random");
        assert_eq!(a, one(&run_host(&module, b""), "random"), "{name}");
        let other = packed(name, &Rewriter::new().random(Random::Seed(43)));
        assert_ne!(a, one(&run_host(&other, b""), "random"), "{name}");
    }
}

#[test]
fn denied_clocks_and_random_answer_enotcapable_or_trap_when_asked() {
    for name in FIXTURES {
        let r = Rewriter::new().clock(Clock::Deny).random(Random::Deny);
        let out = run_host(&packed(name, &r), b"");
        let denied = format!("errno {ENOTCAPABLE}");
        assert_eq!(one(&out, "realtime"), denied, "{name}");
        assert_eq!(one(&out, "monotonic"), denied, "{name}");
        assert_eq!(one(&out, "random"), denied, "{name}");
        let trap = packed(name, &r.deny(Deny::Trap));
        let err = run(&trap, &RunOptions::default()).expect_err("a denied call traps");
        assert!(
            format!("{err:?}").contains("unreachable"),
            "{name}: {err:?}"
        );
    }
}

/// A WAT program making the raw calls: `main` returns the errno of `clock_time_get(realtime)`,
/// and stores the time at 8, `random_get` fills 16..32 and `args_sizes_get` stores at 32, 36;
/// `slept_*` read a clock, sleep until 2 ms later on it and then 1 ms more (poll_oneoff, absolute
/// then relative), and return how much later the clock reads.
const WAT: &str = r#"(module
  (import "wasi_snapshot_preview1" "clock_time_get" (func $clock (param i32 i64 i32) (result i32)))
  (import "wasi_snapshot_preview1" "random_get" (func $random (param i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "args_sizes_get" (func $args (param i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "poll_oneoff" (func $poll (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (global $__stack_pointer (mut i32) (i32.const 65536))
  (func (export "clock") (result i64)
    (drop (call $clock (i32.const 0) (i64.const 1) (i32.const 8)))
    (i64.load (i32.const 8)))
  (func (export "clock_errno") (result i32)
    (call $clock (i32.const 0) (i64.const 1) (i32.const 8)))
  (func (export "random") (result i64)
    (drop (call $random (i32.const 16) (i32.const 16)))
    (i64.load (i32.const 16)))
  (func (export "argc") (result i32)
    (drop (call $args (i32.const 32) (i32.const 36)))
    (i32.load (i32.const 32)))
  (func (export "slept_realtime") (result i64) (call $slept (i32.const 0)))
  (func (export "slept_monotonic") (result i64) (call $slept (i32.const 1)))
  (func $slept (param $id i32) (result i64)
    (drop (call $clock (local.get $id) (i64.const 1) (i32.const 8)))
    ;; one clock subscription at 64 (clock id @80, timeout @88, flags @104): until 2 ms later
    (i32.store8 (i32.const 72) (i32.const 0))
    (i32.store (i32.const 80) (local.get $id))
    (i64.store (i32.const 88) (i64.add (i64.load (i32.const 8)) (i64.const 2000000)))
    (i32.store16 (i32.const 104) (i32.const 1))
    (drop (call $poll (i32.const 64) (i32.const 128) (i32.const 1) (i32.const 192)))
    ;; then 1 ms more, relative
    (i64.store (i32.const 88) (i64.const 1000000))
    (i32.store16 (i32.const 104) (i32.const 0))
    (drop (call $poll (i32.const 64) (i32.const 128) (i32.const 1) (i32.const 192)))
    (drop (call $clock (local.get $id) (i64.const 1) (i32.const 16)))
    (i64.sub (i64.load (i32.const 16)) (i64.load (i32.const 8)))))"#;

fn wat_call(r: &Rewriter, export: &str) -> i64 {
    let module = r
        .rewrite(&wat::parse_str(WAT).expect("valid WAT"))
        .expect("rewrites")
        .bytes;
    let opts = RunOptions {
        entry: wasifs_tests::Entry::Reactor(export.into()),
        ..RunOptions::default()
    };
    run(&module, &opts).expect("runs").results[0]
}

#[test]
fn raw_calls_from_wat_see_the_fixed_clock_the_seeded_stream_baked_args_and_denials() {
    let fixed = Rewriter::new().clock(Clock::Fixed(5_000_000_000));
    assert_eq!(wat_call(&fixed, "clock"), 5_000_000_000);
    let seeded = Rewriter::new().random(Random::Seed(7));
    assert_eq!(wat_call(&seeded, "random"), wat_call(&seeded, "random"));
    let args = Rewriter::new().args(["a", "b"]);
    // main.wasm (the runner's argv[0]) and the two baked ones.
    assert_eq!(wat_call(&args, "argc"), 3);
    let deny = Rewriter::new().clock(Clock::Deny);
    assert_eq!(wat_call(&deny, "clock_errno"), i64::from(ENOTCAPABLE));
}

#[test]
fn sleeps_under_a_fixed_clock_wait_on_it_and_advance_it_by_the_time_slept() {
    // 2099: an absolute deadline read on the host's clock would be 73 years away.
    let fixed = Rewriter::new().clock("fixed:2099-01-02T03:04:05Z".parse().unwrap());
    for export in ["slept_realtime", "slept_monotonic"] {
        assert_eq!(
            wat_call(&fixed, export),
            3_000_000,
            "{export}: exactly the time slept"
        );
        let host = wat_call(&Rewriter::new(), export);
        assert!(
            (3_000_000..1_000_000_000).contains(&host),
            "{export}: {host} ns on the host"
        );
    }
}

/// A WAT program that reads the realtime clock once (its errno ignored), creates `new` in the first
/// preopen (fd 3) and returns the mtime of the new file (`fd_filestat_get`); -1000 - errno when
/// path_open fails, -1 when fd_filestat_get does.
const CREATE_WAT: &str = r#"(module
  (import "wasi_snapshot_preview1" "path_open"
    (func $open (param i32 i32 i32 i32 i32 i64 i64 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_filestat_get" (func $stat (param i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "clock_time_get" (func $clock (param i32 i64 i32) (result i32)))
  (memory (export "memory") 1)
  (global $__stack_pointer (mut i32) (i32.const 65536))
  (data (i32.const 0) "new")
  (func (export "created_mtime") (result i64)
    ;; path_open(3, follow, "new", O_CREAT, every right, every right, 0, fd out at 8): its errno
    ;; as -1000 - errno
    (local $e i32)
    (drop (call $clock (i32.const 0) (i64.const 1) (i32.const 256)))
    (local.set $e (call $open (i32.const 3) (i32.const 1) (i32.const 0) (i32.const 3) (i32.const 1)
                    (i64.const 0x1fffffff) (i64.const 0x1fffffff) (i32.const 0) (i32.const 8)))
    (if (local.get $e) (then (return (i64.sub (i64.const -1000) (i64.extend_i32_u (local.get $e))))))
    (if (call $stat (i32.load (i32.const 8)) (i32.const 64))
      (then (return (i64.const -1))))
    ;; filestat: dev, ino, filetype, nlink, size, atim, mtim (at 48), ctim
    (i64.load (i32.const 112))))"#;

/// The mtime a file created under `clock` gets, in a writable mount of an empty directory.
fn created_mtime(clock: Clock) -> i64 {
    let dir = tempfile::tempdir().expect("temp dir");
    let module = Rewriter::new()
        .clock(clock)
        .mount(wasifs::MountSpec::new("/", dir.path()).unwrap())
        .rewrite(&wat::parse_str(CREATE_WAT).expect("valid WAT"))
        .expect("rewrites")
        .bytes;
    let opts = RunOptions {
        entry: wasifs_tests::Entry::Reactor("created_mtime".into()),
        ..RunOptions::default()
    };
    run(&module, &opts).expect("runs").results[0]
}

#[test]
fn files_the_app_creates_get_their_times_from_the_clock_policy() {
    // What the fixed clock reads next: one read (5 s) came before, so 5 s + 1 µs, never earlier
    // than a reading made before the change.
    assert_eq!(created_mtime(Clock::Fixed(5_000_000_000)), 5_000_001_000);
    // Denied clocks: the times never show the host's clock.
    assert_eq!(created_mtime(Clock::Deny), 0);
    let host = created_mtime(Clock::Host);
    assert!(
        host > 1_600_000_000_000_000_000,
        "the host's realtime: {host}"
    );
}

#[test]
fn an_app_without_policies_calls_the_host_for_args_env_clocks_and_random() {
    let app = std::fs::read(fixture("c_policy")).unwrap();
    let plain = Rewriter::new().rewrite(&app).unwrap();
    for call in ["clock_time_get", "random_get", "args_get", "environ_get"] {
        assert!(
            !plain.report.redirected.iter().any(|r| r == call),
            "{call} redirected: {:?}",
            plain.report.redirected
        );
    }
    let policed = Rewriter::new()
        .clock(Clock::Deny)
        .random(Random::Seed(1))
        .arg("x")
        .env("A", "1")
        .rewrite(&app)
        .unwrap();
    for call in ["clock_time_get", "random_get", "args_get", "environ_get"] {
        assert!(
            policed.report.redirected.iter().any(|r| r == call),
            "{call}"
        );
    }
    // The policy code is pruned when unused: the packed module without policies stays within
    // 64 KiB of the app plus its image.
    let added = plain.report.output_len - plain.report.input_len - plain.report.image_len;
    assert!(added <= 64 * 1024, "the merge added {added} bytes");
}

#[test]
fn bad_policy_values_are_usage_errors_naming_the_fix() {
    let err = Rewriter::new()
        .env("A=B", "1")
        .rewrite_file(fixture("c_policy"))
        .expect_err("a name with `=` is refused");
    assert!(err.to_string().contains("--env"), "{err}");
    assert!("fixed:yesterday".parse::<Clock>().is_err());
    assert!("seed:-1".parse::<Random>().is_err());
    assert!("sometimes".parse::<Stdio>().is_err());
}

/// Zig's std (`zig_fs`, which lists `/`) under stdio and env/clock policies: a null stdout takes the
/// report and the program succeeds; a denied one makes its writes fail (Zig's `WriteFailed`).
#[test]
fn zig_sees_a_null_stdout_succeed_and_a_denied_one_fail() {
    let tree = workspace_root().join("fixtures/tree");
    let pack = |r: Rewriter| {
        let r = r.mount(wasifs::MountSpec::new("/", &tree).unwrap().read_only());
        packed("zig_fs", &r)
    };
    let plain = run(&pack(Rewriter::new()), &RunOptions::default()).unwrap();
    assert_eq!(plain.exit_code, 0, "{}", plain.stderr_str());
    assert!(!plain.stdout.is_empty());
    let policed = Rewriter::new()
        .env_from_host(EnvFromHost::Deny)
        .env("A", "1")
        .clock(Clock::Fixed(0));
    let same = run(&pack(policed), &RunOptions::default()).unwrap();
    assert_eq!(
        same.stdout, plain.stdout,
        "env and clock policies leave the listing alone"
    );
    let null = run(
        &pack(Rewriter::new().stdout(Stdio::Null)),
        &RunOptions::default(),
    )
    .unwrap();
    assert_eq!(
        (null.exit_code, null.stdout.len()),
        (0, 0),
        "{}",
        null.stderr_str()
    );
    let deny = run(
        &pack(Rewriter::new().stdout(Stdio::Deny)),
        &RunOptions::default(),
    )
    .unwrap();
    assert_ne!(deny.exit_code, 0);
    assert_eq!(deny.stdout, b"");
    assert!(
        deny.stderr_str().contains("WriteFailed"),
        "{}",
        deny.stderr_str()
    );
}

/// A packed module can get a new image (and new stdio policies, served by calls it already
/// redirects), but a policy needing new redirects is refused with the fix.
#[test]
fn repacking_keeps_the_redirects_and_refuses_policies_that_need_new_ones() {
    let once = packed("c_policy", &Rewriter::new().clock(Clock::Deny));
    let again = Rewriter::new()
        .stdout(Stdio::Null)
        .rewrite(&once)
        .expect("a new image and stdio policy");
    assert!(again.report.image_replaced);
    assert_eq!(run_host(&again.bytes, b"").stdout, b"");
    let host_clock = run_host(&Rewriter::new().rewrite(&once).unwrap().bytes, b"");
    assert!(
        one(&host_clock, "realtime").parse::<u64>().is_ok(),
        "the new image's default clock"
    );
    let err = Rewriter::new()
        .random(Random::Seed(1))
        .rewrite(&once)
        .expect_err("a random policy needs a redirect the packed module does not have");
    assert!(err.to_string().contains("rewrite the original"), "{err}");
}

/// Go (`go_read`, which reads `/`): its runtime reads the baked args and env at start-up (exact
/// counts and sizes, or it would crash) and runs under a fixed clock and seeded random unchanged; a
/// null or denied stdout takes its report (Go's fmt ignores write errors, so it still exits 0).
#[test]
fn go_runs_under_env_args_clock_and_random_policies_and_loses_a_null_or_denied_stdout() {
    let tree = workspace_root().join("fixtures/tree");
    let pack = |r: Rewriter| {
        let r = r.mount(wasifs::MountSpec::new("/", &tree).unwrap().read_only());
        packed("go_read", &r)
    };
    let plain = run_host(&pack(Rewriter::new()), b"");
    assert!(!plain.stdout.is_empty());
    let policed = Rewriter::new()
        .env("A", "1")
        .env_from_host(EnvFromHost::Deny)
        .args(["x", "y"])
        .clock("fixed:2024-01-02T03:04:05Z".parse().unwrap())
        .random(Random::Seed(1));
    assert_eq!(run_host(&pack(policed), b"").stdout, plain.stdout);
    for stdio in [Stdio::Null, Stdio::Deny] {
        let out = run_host(&pack(Rewriter::new().stdout(stdio)), b"");
        assert_eq!(out.stdout, b"", "{stdio}");
    }
}
