//! Inputs the merge refuses, and the error each gets.

use super::*;

#[test]
fn output_validation_sees_a_broken_module() {
    // A function section without its code section: the view (image emptied) must not validate.
    let mut m = parts::Module::new(b"\0asm\x01\0\0\0");
    m.section(1).leb(1).copy(&[0x60, 0, 0]);
    m.section(3).leb(1).leb(0);
    m.section(5).leb(1).copy(&[0, 1]);
    m.section(12).leb(1);
    m.section(11).leb(1).image(&[1u8; 5000]);
    assert!(m.validate().is_err());
}

#[test]
fn component_is_unsupported() {
    let err = merge(&wasm("(component)"), IMAGE).expect_err("refused");
    assert!(unsupported_what(err).contains("component, not a core module"));
}

#[test]
fn memory64_is_unsupported() {
    let err = merge(
        &wasm("(module (memory (export \"memory\") i64 1) (global (mut i32) (i32.const 0)))"),
        IMAGE,
    )
    .expect_err("refused");
    assert!(unsupported_what(err).contains("memory64"));
}

#[test]
fn shared_memory_is_unsupported() {
    let err = merge(
        &wasm("(module (memory (export \"memory\") 1 1 shared) (global (mut i32) (i32.const 0)))"),
        IMAGE,
    )
    .expect_err("refused");
    assert!(unsupported_what(err).contains("threads"));
}

#[test]
fn wasi_unstable_import_is_unsupported() {
    let app = r#"(module (import "wasi_unstable" "fd_write" (func (param i32 i32 i32 i32) (result i32)))
      (memory (export "memory") 1) (global (mut i32) (i32.const 0)))"#;
    let err = merge(&wasm(app), IMAGE).expect_err("refused");
    assert!(unsupported_what(err).contains("wasm32-wasip1"));
}

#[test]
fn missing_memory_export_is_unsupported() {
    let app = "(module (memory 1) (global (mut i32) (i32.const 0)))";
    let err = merge(&wasm(app), IMAGE).expect_err("refused");
    assert!(unsupported_what(err).contains("`memory`"));
}

#[test]
fn a_module_without_a_stack_pointer_is_packed() {
    // The shim borrows app memory and gives it back; it needs no stack pointer (issue 8 item 4).
    let app = "(module (memory (export \"memory\") 1) (global i32 (i32.const 0)))";
    merge(&wasm(app), IMAGE).expect("merges");
}

#[test]
fn import_with_a_different_signature_is_unsupported_naming_it() {
    let app = r#"(module (import "wasi_snapshot_preview1" "fd_read" (func (param i32) (result i32)))
      (memory (export "memory") 1) (global (mut i32) (i32.const 0)))"#;
    let err = merge(&wasm(app), IMAGE).expect_err("refused");
    assert!(unsupported_what(err).contains("wasi_snapshot_preview1.fd_read"));
}

#[test]
fn truncated_module_is_invalid_at_the_truncation_offset() {
    let app = wasm(APP);
    let cut = &app[..app.len() - 3];
    match merge(cut, IMAGE).expect_err("refused") {
        Error::Invalid { offset, .. } => {
            assert!(offset <= cut.len() && offset > 8, "offset {offset}")
        }
        other => panic!("expected Invalid, got {other}"),
    }
}

#[test]
fn invalid_code_is_invalid_not_internal() {
    let app = r#"(module (memory (export "memory") 1) (global (mut i32) (i32.const 0))
      (func (result i32) (i64.const 1)))"#;
    match merge(&wasm(app), IMAGE).expect_err("refused") {
        Error::Invalid {
            offset, message, ..
        } => {
            assert!(offset > 8);
            assert!(message.contains("type mismatch"), "{message}");
        }
        other => panic!("expected Invalid, got {other}"),
    }
}

#[test]
fn too_large_output_is_unsupported_naming_the_input_not_a_usage_error() {
    for e in [
        MergeError::SectionTooLarge { section: 11 },
        MergeError::ImageTooLarge,
    ] {
        match e.into_error(Path::new("big.wasm")) {
            Error::Unsupported { path, what, hint } => {
                assert_eq!(path, Path::new("big.wasm"));
                assert!(what.contains("4 GiB"), "{what}");
                assert!(hint.contains("mount less"), "{hint}");
            }
            other => panic!("expected Unsupported, got {other:?}"),
        }
    }
}

#[test]
fn malformed_shim_is_an_internal_error() {
    let Err(err) = merge_with(&wasm(APP), "(module (func (export \"x\") (call 9)))", IMAGE) else {
        panic!("a shim calling a missing function is refused");
    };
    assert!(matches!(err, Error::Internal { .. }), "{err}");
}

#[test]
fn invalid_code_calling_a_redirected_import_is_invalid_at_the_input_offset() {
    // The body is checked in the merged module first; the error still names the input's offset.
    let app = r#"(module
      (import "wasi_snapshot_preview1" "fd_close" (func $close (param i32) (result i32)))
      (memory (export "memory") 1) (global (mut i32) (i32.const 0))
      (func (result i32) (call $close (i64.const 1))))"#;
    let bytes = wasm(app);
    match merge(&bytes, IMAGE).expect_err("refused") {
        Error::Invalid {
            offset, message, ..
        } => {
            assert!(offset > 8 && offset < bytes.len(), "offset {offset}");
            assert!(message.contains("type mismatch"), "{message}");
        }
        other => panic!("expected Invalid, got {other}"),
    }
}
