//! `-o` and INPUT as a CI step meets them: devices, FIFOs, symlinks, stdin/stdout, directories,
//! permission bits, and a mount that holds the input or the output.

use std::fs;
use std::os::unix::fs::{FileTypeExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

/// A minimal valid wasip1 command.
const GOOD_WAT: &str = r#"(module
  (import "wasi_snapshot_preview1" "fd_write" (func (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 2)
  (global $__stack_pointer (mut i32) (i32.const 131072))
  (func (export "_start")))"#;

/// A temp dir with `app.wasm` and `assets/hello.txt`.
struct Case {
    dir: tempfile::TempDir,
}

impl Case {
    fn new() -> Self {
        let case = Case {
            dir: tempfile::tempdir().unwrap(),
        };
        fs::create_dir(case.path("assets")).unwrap();
        fs::write(case.path("assets/hello.txt"), "hello\n").unwrap();
        fs::write(case.path("app.wasm"), wat::parse_str(GOOD_WAT).unwrap()).unwrap();
        case
    }

    fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    /// `wasifs rewrite INPUT --mount /=assets ARGS...` in the case's directory.
    fn run(&self, input: &str, args: &[&str]) -> Output {
        self.command(input, args).output().expect("running wasifs")
    }

    fn command(&self, input: &str, args: &[&str]) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_wasifs"));
        cmd.current_dir(self.dir.path())
            .arg("rewrite")
            .arg(input)
            .args(["--mount", "/=assets"])
            .args(args)
            .stdin(Stdio::null());
        cmd
    }

    /// The module a rewrite into a plain file gives (the reference bytes).
    fn reference(&self) -> Vec<u8> {
        let out = self.run("app.wasm", &["-o", "reference.wasm"]);
        assert_ok(&out);
        let bytes = fs::read(self.path("reference.wasm")).unwrap();
        fs::remove_file(self.path("reference.wasm")).unwrap();
        bytes
    }
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn assert_ok(out: &Output) {
    assert!(out.status.success(), "failed:\n{}", stderr(out));
}

/// Asserts the run failed with a message holding every one of `needles`.
fn assert_refused(out: &Output, needles: &[&str]) {
    let err = stderr(out);
    assert!(!out.status.success(), "accepted:\n{err}");
    for n in needles {
        assert!(err.contains(n), "no {n:?} in:\n{err}");
    }
}

fn is_wasm(bytes: &[u8]) -> bool {
    wasmparser::Validator::new_with_features(wasmparser::WasmFeatures::all())
        .validate_all(bytes)
        .is_ok()
}

#[test]
fn dev_null_is_written_through_and_stays_a_device() {
    let case = Case::new();
    assert_ok(&case.run("app.wasm", &["-o", "/dev/null"]));
    let md = fs::symlink_metadata("/dev/null").unwrap();
    assert!(md.file_type().is_char_device(), "/dev/null was replaced");
}

#[test]
fn dev_stdout_on_a_pipe_writes_the_module_to_the_pipe() {
    let case = Case::new();
    let reference = case.reference();
    let out = case.run("app.wasm", &["-o", "/dev/stdout", "-q"]);
    assert_ok(&out);
    assert_eq!(out.stdout, reference);
    assert!(fs::symlink_metadata("/dev/stdout")
        .unwrap()
        .file_type()
        .is_symlink());
}

#[test]
fn fifo_is_written_through_and_stays_a_fifo() {
    let case = Case::new();
    let reference = case.reference();
    let fifo = case.path("pipe.wasm");
    let made = Command::new("mkfifo").arg(&fifo).status().expect("mkfifo");
    assert!(made.success());
    let reader = {
        let fifo = fifo.clone();
        std::thread::spawn(move || fs::read(fifo).expect("read the FIFO"))
    };
    assert_ok(&case.run("app.wasm", &["-o", "pipe.wasm"]));
    assert_eq!(reader.join().unwrap(), reference);
    assert!(fs::symlink_metadata(&fifo).unwrap().file_type().is_fifo());
}

#[test]
fn symlink_output_replaces_its_target_and_stays_a_link() {
    let case = Case::new();
    fs::create_dir(case.path("dist")).unwrap();
    fs::write(case.path("dist/app.wasm"), "old").unwrap();
    std::os::unix::fs::symlink("dist/app.wasm", case.path("latest.wasm")).unwrap();
    assert_ok(&case.run("app.wasm", &["-o", "latest.wasm"]));
    let link = fs::symlink_metadata(case.path("latest.wasm")).unwrap();
    assert!(link.file_type().is_symlink(), "the link was replaced");
    assert!(is_wasm(&fs::read(case.path("dist/app.wasm")).unwrap()));
    // A dangling link: its target is created.
    std::os::unix::fs::symlink("dist/new.wasm", case.path("next.wasm")).unwrap();
    assert_ok(&case.run("app.wasm", &["-o", "next.wasm"]));
    assert!(fs::symlink_metadata(case.path("next.wasm"))
        .unwrap()
        .file_type()
        .is_symlink());
    assert!(is_wasm(&fs::read(case.path("dist/new.wasm")).unwrap()));
}

#[test]
fn output_keeps_the_input_permission_bits() {
    let case = Case::new();
    for mode in [0o755, 0o600] {
        fs::set_permissions(case.path("app.wasm"), fs::Permissions::from_mode(mode)).unwrap();
        assert_ok(&case.run("app.wasm", &["-o", "out.wasm"]));
        let got = fs::metadata(case.path("out.wasm"))
            .unwrap()
            .permissions()
            .mode()
            & 0o777;
        assert_eq!(got, mode, "{mode:o}");
    }
}

#[test]
fn dash_output_writes_stdout_and_no_file_named_dash() {
    let case = Case::new();
    let reference = case.reference();
    let out = case.run("app.wasm", &["-o", "-"]);
    assert_ok(&out);
    assert_eq!(out.stdout, reference);
    assert!(!case.path("-").exists());
    assert!(stderr(&out).contains("wrote <stdout>"), "{}", stderr(&out));
}

#[test]
fn dash_input_reads_stdin_and_writes_stdout_by_default() {
    let case = Case::new();
    let reference = case.reference();
    let out = case
        .command("-", &[])
        .stdin(fs::File::open(case.path("app.wasm")).unwrap())
        .output()
        .unwrap();
    assert_ok(&out);
    assert_eq!(out.stdout, reference);
    let out = case
        .command("-", &["-o", "piped.wasm"])
        .stdin(fs::File::open(case.path("app.wasm")).unwrap())
        .output()
        .unwrap();
    assert_ok(&out);
    assert_eq!(fs::read(case.path("piped.wasm")).unwrap(), reference);
    // Not wasm on stdin: the error names stdin.
    let out = case.command("-", &["-o", "x.wasm"]).output().unwrap();
    assert_refused(&out, &["<stdin>", "empty"]);
}

#[test]
fn directory_trailing_slash_and_missing_directory_are_refused_naming_path_and_fix() {
    let case = Case::new();
    fs::create_dir(case.path("outdir")).unwrap();
    let out = case.run("app.wasm", &["-o", "outdir"]);
    assert_refused(
        &out,
        &["outdir", "is a directory", "-o outdir/app.packed.wasm"],
    );
    assert!(fs::metadata(case.path("outdir")).unwrap().is_dir());
    let out = case.run("app.wasm", &["-o", "new.wasm/"]);
    assert_refused(&out, &["new.wasm/", "ends with `/`"]);
    let out = case.run("app.wasm", &["-o", "no/such/dir/out.wasm"]);
    assert_refused(&out, &["no/such/dir", "does not exist", "mkdir -p"]);
    let left: Vec<_> = fs::read_dir(case.dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n != "app.wasm" && n != "assets" && n != "outdir")
        .collect();
    assert!(left.is_empty(), "left behind: {left:?}");
}

#[test]
fn input_and_output_inside_the_mount_are_not_embedded_and_the_output_does_not_grow() {
    let case = Case::new();
    let size = |p: &Path| fs::metadata(p).unwrap().len();
    let mut sizes = Vec::new();
    for _ in 0..3 {
        let out = case
            .command("app.wasm", &["--mount", "/src=.", "-o", "app.packed.wasm"])
            .output()
            .unwrap();
        assert_ok(&out);
        sizes.push(size(&case.path("app.packed.wasm")));
        let err = stderr(&out);
        assert!(
            err.contains("app.wasm: not embedded: it is the input module"),
            "{err}"
        );
        if sizes.len() > 1 {
            assert!(
                err.contains("app.packed.wasm: not embedded: it is the output"),
                "{err}"
            );
        }
    }
    assert!(sizes.windows(2).all(|w| w[0] == w[1]), "{sizes:?}");
}

#[test]
fn dash_output_is_refused_when_stdout_is_a_terminal() {
    // util-linux `script` runs the command on a pseudo-terminal.
    let case = Case::new();
    let cmd = format!(
        "{} rewrite app.wasm --mount /=assets -o -",
        env!("CARGO_BIN_EXE_wasifs")
    );
    let out = Command::new("script")
        .current_dir(case.dir.path())
        .args(["-qec", &cmd, "/dev/null"])
        .stdin(Stdio::null())
        .output()
        .expect("util-linux script runs the command on a terminal");
    let shown = String::from_utf8_lossy(&out.stdout);
    assert!(!out.status.success(), "{shown}");
    assert!(shown.contains("stdout is a terminal"), "{shown}");
    let magic = out.stdout.windows(4).any(|w| w == b"\0asm");
    assert!(!magic, "no module bytes on the terminal");
}
