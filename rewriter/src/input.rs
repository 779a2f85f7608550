//! Reads the input file and says clearly what it is when it is not a core wasm module.

use crate::{Error, Result};
use std::path::Path;

/// The 4-byte preamble of every WebAssembly binary.
const WASM_MAGIC: &[u8; 4] = b"\0asm";
/// Version field of a core module (MVP encoding).
const CORE_VERSION: [u8; 4] = [1, 0, 0, 0];
/// Version + layer fields of a component (component-model encoding, layer 1).
const COMPONENT_LAYER: [u8; 2] = [1, 0];

/// The fix offered for anything that is not a wasip1 core module.
const BUILD_HINT: &str =
    "pass the .wasm built for wasm32-wasip1 (e.g. target/wasm32-wasip1/release/app.wasm)";

/// Where a rewrite reads its module.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Input {
    /// A file.
    File(std::path::PathBuf),
    /// Standard input (`-` on the command line), read to its end.
    Stdin,
}

/// The name errors give a module read from stdin.
const STDIN_NAME: &str = "<stdin>";

/// Reads `input` whole and checks that it is a core module; returns the name errors give it.
pub(crate) fn read(input: &Input) -> Result<(std::path::PathBuf, Vec<u8>)> {
    match input {
        Input::File(path) => Ok((path.clone(), read_module(path)?)),
        Input::Stdin => {
            let mut bytes = Vec::new();
            std::io::Read::read_to_end(&mut std::io::stdin().lock(), &mut bytes)
                .map_err(|e| Error::io(STDIN_NAME, e))?;
            let name = std::path::PathBuf::from(STDIN_NAME);
            check_core_module(&name, &bytes)?;
            Ok((name, bytes))
        }
    }
}

/// Reads `path` and checks that it is a core WebAssembly module, saying what it is otherwise.
pub(crate) fn read_module(path: &Path) -> Result<Vec<u8>> {
    let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    check_core_module(path, &bytes)?;
    Ok(bytes)
}

/// Checks the preamble of `bytes`; deeper validation happens in [`crate::plan`].
pub(crate) fn check_core_module(path: &Path, bytes: &[u8]) -> Result<()> {
    if !bytes.starts_with(WASM_MAGIC) {
        if bytes.len() < 4 && WASM_MAGIC.starts_with(bytes) && !bytes.is_empty() {
            return Err(truncated(path, bytes.len()));
        }
        return Err(Error::NotWasm {
            path: path.into(),
            what: describe_non_wasm(bytes),
            hint: BUILD_HINT.into(),
        });
    }
    if bytes.len() < 8 {
        return Err(truncated(path, bytes.len()));
    }
    let version = &bytes[4..8];
    if version == CORE_VERSION {
        return Ok(());
    }
    if version[2..4] == COMPONENT_LAYER {
        return Err(component(path));
    }
    Err(Error::unsupported(
        path,
        format!("has an unknown WebAssembly version {version:02x?}"),
        BUILD_HINT,
    ))
}

/// The error for a component given where a core module is expected (the one place that says so).
pub(crate) fn component(path: &Path) -> Error {
    Error::unsupported(
        path,
        "is a WebAssembly component, not a core module",
        "wasifs rewrites core modules such as those built for wasm32-wasip1; build for that target \
         instead of wasm32-wasip2, or pass the core module before it was componentized",
    )
}

/// A module that ends inside its 8-byte preamble.
fn truncated(path: &Path, len: usize) -> Error {
    Error::Invalid {
        path: path.into(),
        offset: len,
        message: "unexpected end of file in the module header".into(),
    }
}

/// Names the format of a file that is not wasm, as precisely as the first bytes allow.
fn describe_non_wasm(bytes: &[u8]) -> String {
    if bytes.is_empty() {
        return "the file is empty".into();
    }
    if let Some(what) = describe_executable(bytes) {
        return what;
    }
    let magic: &[(&[u8], &str)] = &[
        (b"\x1f\x8b", "a gzip-compressed file"),
        (b"\x28\xb5\x2f\xfd", "a zstd-compressed file"),
        (b"PK\x03\x04", "a zip archive"),
        (b"\x89PNG", "a PNG image"),
        (b"%PDF", "a PDF document"),
        (b"BC\xc0\xde", "LLVM bitcode"),
    ];
    if let Some((_, what)) = magic.iter().find(|(m, _)| bytes.starts_with(m)) {
        return (*what).into();
    }
    if let Ok(text) = std::str::from_utf8(&bytes[..bytes.len().min(4096)]) {
        let trimmed = text.trim_start();
        if trimmed.starts_with("(module") || trimmed.starts_with("(component") {
            return "WebAssembly text (WAT), not a binary module; compile it first, e.g. \
                    `wasm-tools parse app.wat -o app.wasm`"
                .into();
        }
        if trimmed.starts_with("#!") {
            return "a script (starts with #!)".into();
        }
        return "a text file".into();
    }
    "an unrecognised binary file".into()
}

/// Uses goblin to name native executables and archives, from their headers only (a whole parse
/// of a large or damaged binary is slow, and none of it is needed here).
fn describe_executable(bytes: &[u8]) -> Option<String> {
    use goblin::{elf, pe, Hint};
    let head: &[u8; 16] = bytes.get(..16)?.try_into().ok()?;
    let what = match goblin::peek_bytes(head).ok()? {
        Hint::Elf(_) => {
            let header = elf::Elf::parse_header(bytes).ok()?;
            let kind = match header.e_type {
                elf::header::ET_EXEC => "executable",
                elf::header::ET_DYN => "executable or shared library",
                elf::header::ET_REL => "object file",
                _ => "file",
            };
            let machine = elf::header::machine_to_str(header.e_machine);
            format!("an ELF {kind} for {machine}")
        }
        Hint::Mach(_) | Hint::MachFat(_) => "a Mach-O binary (macOS)".into(),
        Hint::PE => {
            let header = pe::header::Header::parse(bytes).ok()?;
            let dll = header.coff_header.characteristics & pe::characteristic::IMAGE_FILE_DLL;
            let kind = if dll != 0 { "DLL" } else { "executable" };
            format!("a Windows PE {kind}")
        }
        Hint::COFF => "a COFF object file".into(),
        Hint::Archive => "an `ar` archive (a static library?)".into(),
        _ => return None,
    };
    Some(format!("{what}; wasifs rewrites WebAssembly modules"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(bytes: &[u8]) -> String {
        match check_core_module(Path::new("x"), bytes) {
            Ok(()) => "ok".into(),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn core_module_header_is_accepted() {
        assert_eq!(message(b"\0asm\x01\0\0\0"), "ok");
    }

    #[test]
    fn component_is_named_as_a_component() {
        assert!(message(b"\0asm\x0d\0\x01\0").contains("component"));
    }

    #[test]
    fn truncated_header_reports_offset() {
        assert!(message(b"\0asm\x01").contains("offset 0x5"));
    }

    #[test]
    fn text_and_wat_and_empty_files_are_named() {
        assert!(message(b"hello world\n").contains("a text file"));
        assert!(message(b"  (module)").contains("WAT"));
        assert!(message(b"").contains("empty"));
        assert!(message(b"#!/bin/sh\n").contains("script"));
    }

    #[test]
    fn native_executable_is_named_by_goblin() {
        let elf = std::fs::read("/bin/true").expect("/bin/true exists on Linux");
        let msg = message(&elf);
        assert!(
            msg.contains("an ELF executable") && msg.contains("X86_64"),
            "{msg}"
        );
        // Its header is enough: the rest of the file is not read.
        assert_eq!(message(&elf[..64]), msg);
        assert!(message(b"!<arch>\nrest of an archive").contains("`ar` archive"));
    }
}
