//! What can stop a merge, typed; turned into the user-facing [`crate::Error`] in one place.

use crate::Error;
use std::fmt;
use std::path::Path;
use wasm_encoder::SectionId;
use wasmparser::BinaryReaderError;

/// Everything that can go wrong between a plan and the output's bytes.
#[derive(Debug)]
pub enum MergeError {
    /// The committed `rewriter/assets/shim.wasm` is empty.
    ShimMissing,
    /// `shim-wat/intrinsics.wat` does not compile.
    Intrinsics(String),
    /// The embedded shim or intrinsics module is not a usable core module.
    OwnModule { what: &'static str, message: String },
    /// The index spaces of app, shim and intrinsics cannot be laid out together.
    Layout(String),
    /// The app is malformed where the merge reads it.
    Invalid(BinaryReaderError),
    /// The app's code section has bytes after its last body.
    TrailingCode { offset: u64 },
    /// An app function has no index in the output.
    Unmapped { func: u32 },
    /// Re-encoding a section of the app, shim or intrinsics failed.
    Reencode { section: SectionId, message: String },
    /// An index inside the shim or the app points outside its index space.
    OutOfRange(&'static str),
    /// The input carries a wasifs record this version cannot honour.
    StaleRecord,
    /// The merged module does not validate.
    Validate(String),
    /// The image does not fit a data segment (4 GiB or more).
    ImageTooLarge,
    /// A section of the output would be 4 GiB or larger.
    SectionTooLarge { section: u8 },
    /// The app has `have` data segments, more than the `room` the output has for them, and not
    /// enough of them can be joined.
    TooManySegments { have: u32, room: u32 },
}

impl MergeError {
    /// The user-facing error for a merge of the module at `path`.
    pub fn into_error(self, path: &Path) -> Error {
        let internal = |message: String| Error::Internal { message };
        match self {
            MergeError::Invalid(e) => crate::plan::invalid(path, e),
            MergeError::TrailingCode { offset } => Error::Invalid {
                path: path.to_path_buf(),
                offset: offset as usize,
                message: "trailing bytes at the end of the code section".into(),
            },
            MergeError::StaleRecord => Error::unsupported(
                path,
                "was rewritten by another wasifs version",
                "rewrite the original module",
            ),
            MergeError::ImageTooLarge | MergeError::SectionTooLarge { .. } => {
                Error::unsupported(path, self.to_string(), "mount less data, or --exclude some")
            }
            MergeError::TooManySegments { .. } => Error::unsupported(
                path,
                self.to_string(),
                "build the program with fewer data segments",
            ),
            MergeError::ShimMissing
            | MergeError::Intrinsics(_)
            | MergeError::OwnModule { .. }
            | MergeError::Layout(_)
            | MergeError::Unmapped { .. }
            | MergeError::Reencode { .. }
            | MergeError::OutOfRange(_)
            | MergeError::Validate(_) => internal(self.to_string()),
        }
    }
}

impl fmt::Display for MergeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MergeError::ShimMissing => f.write_str(
                "the embedded shim (rewriter/assets/shim.wasm) is empty; build it with scripts/build-shim.sh",
            ),
            MergeError::Intrinsics(e) => write!(f, "shim-wat/intrinsics.wat does not compile: {e}"),
            MergeError::OwnModule { what, message } => {
                write!(f, "the embedded {what} is not a usable core module: {message}")
            }
            MergeError::Layout(m) => write!(f, "cannot merge the shim: {m}"),
            MergeError::Invalid(e) => write!(f, "{e}"),
            MergeError::TrailingCode { offset } => {
                write!(f, "trailing bytes at the end of the code section at {offset:#x}")
            }
            MergeError::Unmapped { func } => {
                write!(f, "app function {func} has no place in the output")
            }
            MergeError::Reencode { section, message } => {
                write!(f, "re-encoding the {section:?} section: {message}")
            }
            MergeError::OutOfRange(what) => write!(f, "{what} out of range"),
            MergeError::StaleRecord => f.write_str("was rewritten by another wasifs version"),
            MergeError::Validate(e) => write!(f, "the merged module does not validate: {e}"),
            MergeError::ImageTooLarge => f.write_str("the filesystem image is 4 GiB or larger"),
            MergeError::SectionTooLarge { section } => {
                write!(f, "section {section} of the output would be 4 GiB or larger")
            }
            MergeError::TooManySegments { have, room } => write!(
                f,
                "has {have} data segments and the output room for {room} (engines accept {}); \
                 not enough of them are neighbours in memory to be joined",
                super::data::MAX_SEGMENTS
            ),
        }
    }
}

impl std::error::Error for MergeError {}

impl From<BinaryReaderError> for MergeError {
    fn from(e: BinaryReaderError) -> Self {
        MergeError::Invalid(e)
    }
}
