//! The one error type of the rewriter: every message names the file at fault and what to do about it.

use std::fmt;
use std::path::PathBuf;

/// Everything that can stop a rewrite. `Display` gives the full, user-facing message.
#[derive(Debug)]
#[non_exhaustive]
pub enum Error {
    /// Reading a file failed.
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    /// The input is not a core wasm module; `what` says what it is instead and `hint` the fix.
    NotWasm {
        path: PathBuf,
        what: String,
        hint: String,
    },
    /// The input is a wasm module that wasifs cannot rewrite (component, memory64, shared memory, …).
    Unsupported {
        path: PathBuf,
        what: String,
        hint: String,
    },
    /// The input is malformed wasm; `offset` is the byte offset of the problem.
    Invalid {
        path: PathBuf,
        offset: usize,
        message: String,
    },
    /// A `--mount`, `--include`/`--exclude` or other option is wrong.
    Usage { message: String },
    /// A mount source is missing, unreadable or too large.
    Mount { path: PathBuf, message: String },
    /// Internal invariant broken: the produced module failed validation. A wasifs bug.
    Internal { message: String },
}

impl Error {
    /// Wraps an I/O error with the path it concerns.
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            path: path.into(),
            source,
        }
    }

    /// A usage error with the given message.
    pub(crate) fn usage(message: impl Into<String>) -> Self {
        Error::Usage {
            message: message.into(),
        }
    }

    /// An error about a mount source.
    pub(crate) fn mount(path: impl Into<PathBuf>, message: impl Into<String>) -> Self {
        Error::Mount {
            path: path.into(),
            message: message.into(),
        }
    }

    /// An unsupported-input error.
    pub(crate) fn unsupported(
        path: impl Into<PathBuf>,
        what: impl Into<String>,
        hint: impl Into<String>,
    ) -> Self {
        Error::Unsupported {
            path: path.into(),
            what: what.into(),
            hint: hint.into(),
        }
    }
}

impl Error {
    /// The same error naming `file` where it names a module passed as bytes (`<input module>`,
    /// `<packed module>`): for callers that read the file themselves.
    pub fn in_file(mut self, file: impl Into<PathBuf>) -> Self {
        match &mut self {
            Error::Io { path, .. }
            | Error::NotWasm { path, .. }
            | Error::Unsupported { path, .. }
            | Error::Invalid { path, .. }
            | Error::Mount { path, .. }
                if path
                    .to_str()
                    .is_some_and(|p| p.starts_with('<') && p.ends_with(" module>")) =>
            {
                *path = file.into();
            }
            _ => {}
        }
        self
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Io { path, source } => write!(f, "{}: {source}", path.display()),
            Error::NotWasm { path, what, hint } => {
                write!(f, "{}: not a WebAssembly module: {what}\n  hint: {hint}", path.display())
            }
            Error::Unsupported { path, what, hint } => {
                write!(f, "{}: {what}\n  hint: {hint}", path.display())
            }
            Error::Invalid { path, offset, message } => write!(
                f,
                "{}: invalid WebAssembly at byte offset {offset:#x}: {message}\n  hint: the file is truncated or corrupt; rebuild it",
                path.display()
            ),
            Error::Usage { message } => write!(f, "{message}"),
            Error::Mount { path, message } => write!(f, "{}: {message}", path.display()),
            Error::Internal { message } => write!(
                f,
                "internal error: {message}\n  this is a wasifs bug; please report it with the input module"
            ),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Io { source, .. } => Some(source),
            _ => None,
        }
    }
}

/// Result with the rewriter's error type.
pub type Result<T, E = Error> = std::result::Result<T, E>;
