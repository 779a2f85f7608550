//! The `wasifs rewrite` command line: bad inputs fail with a message naming the culprit and write nothing.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// A minimal valid wasip1 command: exported memory, one WASI import, `_start`.
const GOOD_WAT: &str = r#"(module
  (import "wasi_snapshot_preview1" "fd_write" (func (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 2)
  (global $__stack_pointer (mut i32) (i32.const 131072))
  (func (export "_start")))"#;

struct Case {
    dir: tempfile::TempDir,
}

impl Case {
    fn new() -> Self {
        let case = Case {
            dir: tempfile::tempdir().unwrap(),
        };
        std::fs::create_dir(case.path("assets")).unwrap();
        std::fs::write(case.path("assets/hello.txt"), "hello\n").unwrap();
        case
    }

    fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    fn write(&self, rel: &str, bytes: impl AsRef<[u8]>) -> PathBuf {
        let p = self.path(rel);
        std::fs::write(&p, bytes).unwrap();
        p
    }

    /// `wasifs rewrite INPUT --mount MOUNT... -o out.wasm`.
    fn rewrite(&self, input: &Path, mounts: &[String]) -> Output {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_wasifs"));
        cmd.arg("rewrite").arg(input);
        for m in mounts {
            cmd.arg("--mount").arg(m);
        }
        cmd.arg("-o").arg(self.path("out.wasm"));
        cmd.output().expect("running wasifs")
    }

    fn default_mount(&self) -> Vec<String> {
        vec![format!("/={}", self.path("assets").display())]
    }

    /// Asserts the run failed, its stderr names `culprit`, and no output (or temp file) was left.
    fn assert_rejected(&self, out: &Output, culprit: &str) {
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            !out.status.success(),
            "wasifs accepted it; stderr:\n{stderr}"
        );
        assert!(
            stderr.contains(culprit),
            "the message does not name {culprit:?}:\n{stderr}"
        );
        assert!(
            !self.path("out.wasm").exists(),
            "an output file was written"
        );
        let leftovers: Vec<_> = std::fs::read_dir(self.dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n.starts_with("out") || n.ends_with(".tmp"))
            .collect();
        assert!(leftovers.is_empty(), "left behind: {leftovers:?}");
    }

    /// Writes `bytes` as the input file `name`, rewrites it and expects a rejection naming that file
    /// and mentioning `reason`.
    fn assert_input_rejected(&self, name: &str, bytes: impl AsRef<[u8]>, reason: &str) {
        let input = self.write(name, bytes);
        let out = self.rewrite(&input, &self.default_mount());
        self.assert_rejected(&out, &input.display().to_string());
        self.assert_rejected(&out, reason);
    }
}

#[test]
fn good_module_is_rewritten_into_a_valid_output() {
    let case = Case::new();
    let input = case.write("app.wasm", wat::parse_str(GOOD_WAT).unwrap());
    let out = case.rewrite(&input, &case.default_mount());
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let packed = std::fs::read(case.path("out.wasm")).unwrap();
    wasmparser::Validator::new_with_features(wasmparser::WasmFeatures::all())
        .validate_all(&packed)
        .expect("the output validates");
}

#[test]
fn rewrite_without_any_mount_is_valid_and_embeds_the_shim() {
    let case = Case::new();
    let input = case.write("app.wasm", wat::parse_str(GOOD_WAT).unwrap());
    let out = case.rewrite(&input, &[]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let packed = std::fs::read(case.path("out.wasm")).unwrap();
    wasmparser::Validator::new_with_features(wasmparser::WasmFeatures::all())
        .validate_all(&packed)
        .expect("the output validates");
    let has_record = wasmparser::Parser::new(0)
        .parse_all(&packed)
        .any(|p| matches!(p, Ok(wasmparser::Payload::CustomSection(c)) if c.name() == "wasifs"));
    assert!(
        has_record,
        "the shim was merged in (the wasifs record is there)"
    );
}

#[test]
fn bad_exclude_glob_is_refused_naming_the_flag_before_anything_is_written() {
    let case = Case::new();
    let input = case.write("app.wasm", wat::parse_str(GOOD_WAT).unwrap());
    let out = Command::new(env!("CARGO_BIN_EXE_wasifs"))
        .arg("rewrite")
        .arg(&input)
        .args(
            case.default_mount()
                .iter()
                .flat_map(|m| ["--mount", m.as_str()]),
        )
        .args(["--exclude", "a["])
        .arg("-o")
        .arg(case.path("out.wasm"))
        .output()
        .expect("running wasifs");
    case.assert_rejected(&out, "--exclude");
}

#[test]
fn elf_executable_is_rejected() {
    let case = Case::new();
    case.assert_input_rejected("true.wasm", std::fs::read("/bin/true").unwrap(), "ELF");
}

#[test]
fn text_file_is_rejected() {
    Case::new().assert_input_rejected("notes.wasm", "this is not wasm, just some text\n", "text");
}

#[test]
fn truncated_module_is_rejected() {
    let wasm = wat::parse_str(GOOD_WAT).unwrap();
    Case::new().assert_input_rejected("cut.wasm", &wasm[..wasm.len() - 5], "truncated");
}

#[test]
fn component_is_rejected() {
    Case::new().assert_input_rejected("component.wasm", b"\0asm\x0d\0\x01\0", "component");
}

#[test]
fn module_without_exported_memory_is_rejected() {
    let wat = r#"(module
      (import "wasi_snapshot_preview1" "fd_write" (func (param i32 i32 i32 i32) (result i32)))
      (memory 2)
      (global $__stack_pointer (mut i32) (i32.const 131072))
      (func (export "_start")))"#;
    Case::new().assert_input_rejected("nomem.wasm", wat::parse_str(wat).unwrap(), "memory");
}

#[test]
fn wasi_unstable_module_is_rejected() {
    let wat = r#"(module
      (import "wasi_unstable" "fd_write" (func (param i32 i32 i32 i32) (result i32)))
      (memory (export "memory") 2)
      (global $__stack_pointer (mut i32) (i32.const 131072))
      (func (export "_start")))"#;
    Case::new().assert_input_rejected("old.wasm", wat::parse_str(wat).unwrap(), "wasi_unstable");
}

#[test]
fn missing_mount_source_is_rejected() {
    let case = Case::new();
    let input = case.write("app.wasm", wat::parse_str(GOOD_WAT).unwrap());
    let missing = case.path("no-such-dir");
    let out = case.rewrite(&input, &[format!("/={}", missing.display())]);
    case.assert_rejected(&out, &missing.display().to_string());
}

#[test]
fn two_mounts_at_the_same_guest_path_are_rejected() {
    let case = Case::new();
    let input = case.write("app.wasm", wat::parse_str(GOOD_WAT).unwrap());
    std::fs::create_dir(case.path("other")).unwrap();
    let mounts = [
        format!("/data={}", case.path("assets").display()),
        format!("/data={}", case.path("other").display()),
    ];
    let out = case.rewrite(&input, &mounts);
    case.assert_rejected(&out, "/data");
}

#[test]
fn file_of_4_gib_or_more_is_rejected_naming_it() {
    let case = Case::new();
    let input = case.write("app.wasm", wat::parse_str(GOOD_WAT).unwrap());
    std::fs::create_dir(case.path("huge")).unwrap();
    let big = case.path("huge/big.bin");
    // Sparse: takes no disk space, but reports 5 GiB.
    std::fs::File::create(&big)
        .unwrap()
        .set_len(5 << 30)
        .unwrap();
    let out = case.rewrite(&input, &[format!("/={}", case.path("huge").display())]);
    case.assert_rejected(&out, "big.bin");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("4 GiB"), "the message says why: {stderr}");
}

#[test]
fn non_utf8_file_name_is_refused_naming_it_and_the_fix() {
    use std::os::unix::ffi::OsStrExt;
    let case = Case::new();
    let input = case.write("app.wasm", wat::parse_str(GOOD_WAT).unwrap());
    let name = std::ffi::OsStr::from_bytes(b"na\xefve.txt");
    std::fs::write(case.path("assets").join(name), "x").unwrap();
    let out = case.rewrite(&input, &case.default_mount());
    case.assert_rejected(&out, "na\\xefve.txt");
    case.assert_rejected(&out, "not valid UTF-8");
    case.assert_rejected(&out, "--exclude");
}
