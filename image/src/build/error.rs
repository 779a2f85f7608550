//! Why an image could not be built: one error type for every stage of the builder.

use std::fmt;
use std::io;
use std::path::PathBuf;
use std::string::String;
use std::vec::Vec;

/// Why an image could not be built.
#[derive(Debug)]
pub enum BuildError {
    /// A name that cannot be a directory entry (empty, `.`, `..`, or containing `/` or NUL).
    InvalidName(Vec<u8>),
    /// A directory already has an entry with this name.
    Duplicate(Vec<u8>),
    /// A node used as a parent or preopen is not a directory.
    NotADirectory,
    /// A node marked as read at random is not a file.
    NotAFile,
    /// A hard link target is a directory.
    LinkToDirectory,
    /// A `NodeRef` from another builder.
    UnknownNode,
    /// A file is 4 GiB or larger.
    FileTooLarge {
        /// The host path (or the entry name for in-memory data).
        what: String,
        /// Its length in bytes.
        size: u64,
    },
    /// The image would be 4 GiB or larger.
    ImageTooLarge,
    /// A host file's length changed between adding it and reading it.
    SizeChanged {
        /// The host file.
        path: PathBuf,
        /// Its length when it was added.
        expected: u64,
    },
    /// Reading a host file failed.
    Io {
        /// The host file.
        path: PathBuf,
        /// What went wrong.
        source: io::Error,
    },
    /// zstd failed.
    Compress(io::Error),
    /// Writing the image to its [`ImageSink`](super::ImageSink) failed.
    Write(io::Error),
    /// A metadata block size (`MetaMode::Compressed`) that is not a power of two in 512..=1 MiB.
    InvalidMetaBlockSize(u32),
}

impl fmt::Display for BuildError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BuildError::InvalidName(n) => {
                write!(f, "invalid name {:?} for a directory entry", String::from_utf8_lossy(n))
            }
            BuildError::Duplicate(n) => write!(f, "duplicate name {:?} in a directory", String::from_utf8_lossy(n)),
            BuildError::NotADirectory => f.write_str("parent or preopen node is not a directory"),
            BuildError::NotAFile => f.write_str("only a file can be marked as read at random"),
            BuildError::LinkToDirectory => f.write_str("cannot hard-link a directory"),
            BuildError::UnknownNode => f.write_str("node reference from another image builder"),
            BuildError::FileTooLarge { what, size } => {
                write!(f, "{what}: file of {size} bytes is too large (the image holds files under 4 GiB)")
            }
            BuildError::ImageTooLarge => f.write_str("image would be 4 GiB or larger; mount less or compress more"),
            BuildError::SizeChanged { path, expected } => write!(
                f,
                "{}: file changed size while being read (expected {expected} bytes); retry when it is not being written",
                path.display()
            ),
            BuildError::Io { path, source } => write!(f, "{}: {source}", path.display()),
            BuildError::Compress(e) => write!(f, "zstd compression failed: {e}"),
            BuildError::Write(e) => write!(f, "writing the image failed: {e}"),
            BuildError::InvalidMetaBlockSize(bs) => write!(
                f,
                "metadata block size {bs} (use a power of two in 512..=1048576)"
            ),
        }
    }
}

impl std::error::Error for BuildError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            BuildError::Io { source, .. }
            | BuildError::Compress(source)
            | BuildError::Write(source) => Some(source),
            _ => None,
        }
    }
}

/// A length, offset or count as the image's `u32`; past [`crate::format::MAX_LEN`] the image would
/// be too large.
pub(super) fn to_u32(v: u64) -> Result<u32, BuildError> {
    crate::format::len_u32(v).map_err(|_| BuildError::ImageTooLarge)
}
