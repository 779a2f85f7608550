//! The `--mount GUEST=HOST[:ro|:rw]` and `--preopen GUEST=HOSTNAME` values and their parsing.

use crate::{Error, Result};
use std::path::PathBuf;
use std::str::FromStr;

/// The form every `--mount` must have, shown in each parse error.
const MOUNT_FORM: &str =
    "expected GUEST=HOST[:ro|:rw], e.g. --mount /=./assets or --mount /data=./data:ro";

/// One mount: a host directory or file embedded at a guest path. Made by parsing
/// `GUEST=HOST[:ro|:rw]` (as `--mount` takes it) or by [`MountSpec::new`]; either way the guest
/// path is checked and normalised.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MountSpec {
    /// Guest path: absolute (`/`, `/usr/lib`) or relative (`.`, `data`), normalised.
    pub(crate) guest: String,
    /// Host directory or file.
    pub(crate) host: PathBuf,
    /// True for `:ro`: recorded in the preopen flags.
    pub(crate) readonly: bool,
}

impl MountSpec {
    /// Embeds `host` (a directory or a file) at `guest`, read-write; `guest` is absolute (`/`,
    /// `/usr/share/app`) or relative (`.`, `data`) and must not contain `..`.
    pub fn new(guest: &str, host: impl Into<PathBuf>) -> Result<Self> {
        let host = host.into();
        let bad = |why: &str| Error::usage(format!("mount at {guest:?}: {why}"));
        if host.as_os_str().is_empty() {
            return Err(bad("HOST is empty"));
        }
        Ok(MountSpec {
            guest: normalise_guest(guest).map_err(bad)?,
            host,
            readonly: false,
        })
    }

    /// The same mount, read-only (like `:ro`).
    pub fn read_only(mut self) -> Self {
        self.readonly = true;
        self
    }

    /// The normalised guest path.
    pub fn guest(&self) -> &str {
        &self.guest
    }

    /// The host directory or file.
    pub fn host(&self) -> &std::path::Path {
        &self.host
    }

    /// Whether the mount is read-only.
    pub fn is_read_only(&self) -> bool {
        self.readonly
    }

    /// True when the guest path is absolute (part of the shared `/` tree).
    pub fn is_absolute(&self) -> bool {
        self.guest.starts_with('/')
    }
}

impl std::fmt::Display for MountSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let ro = if self.readonly { ":ro" } else { "" };
        write!(f, "{}={}{ro}", self.guest, self.host.display())
    }
}

/// Normalises a guest path: collapses `//`, drops `.` components and a trailing `/`.
fn normalise_guest(guest: &str) -> std::result::Result<String, &'static str> {
    if guest.is_empty() {
        return Err("GUEST is empty");
    }
    let mut parts = Vec::new();
    for part in guest.split('/') {
        match part {
            "" | "." => {}
            ".." => return Err("GUEST must not contain `..`"),
            p => parts.push(p),
        }
    }
    Ok(match (guest.starts_with('/'), parts.is_empty()) {
        (true, _) => format!("/{}", parts.join("/")),
        (false, true) => ".".to_string(),
        (false, false) => parts.join("/"),
    })
}

impl FromStr for MountSpec {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        let bad = |why: &str| Error::usage(format!("--mount {s:?}: {why}; {MOUNT_FORM}"));
        if s.contains('\0') {
            return Err(bad("contains a NUL byte"));
        }
        let (guest, host) = s.split_once('=').ok_or_else(|| bad("missing `=`"))?;
        let (host, readonly) = if let Some(h) = host.strip_suffix(":ro") {
            (h, true)
        } else if let Some(h) = host.strip_suffix(":rw") {
            (h, false)
        } else {
            (host, false)
        };
        if host.is_empty() {
            return Err(bad("HOST is empty"));
        }
        let guest = normalise_guest(guest).map_err(bad)?;
        Ok(MountSpec {
            guest,
            host: PathBuf::from(host),
            readonly,
        })
    }
}

/// One `--preopen GUEST=HOSTNAME`: the runtime's preopen HOSTNAME appears to the app as GUEST.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostPreopen {
    /// The name the app sees (normalised like a mount's GUEST).
    pub(crate) guest: String,
    /// The name the runtime gives the preopen, exactly (e.g. `/tmp/out` for `--dir /tmp/out`).
    pub(crate) host: String,
}

impl HostPreopen {
    /// The name the app sees.
    pub fn guest(&self) -> &str {
        &self.guest
    }

    /// The runtime's name of the preopen.
    pub fn host(&self) -> &str {
        &self.host
    }
}

/// The form of `--preopen`, shown in its errors.
const PREOPEN_FORM: &str =
    "expected GUEST=HOSTNAME, e.g. --preopen /out=/tmp/out for a runtime given --dir /tmp/out";

impl FromStr for HostPreopen {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        let bad = |why: &str| Error::usage(format!("--preopen {s:?}: {why}; {PREOPEN_FORM}"));
        if s.contains('\0') {
            return Err(bad("contains a NUL byte"));
        }
        let (guest, host) = s.split_once('=').ok_or_else(|| bad("missing `=`"))?;
        if host.is_empty() {
            return Err(bad("HOSTNAME is empty"));
        }
        Ok(HostPreopen {
            guest: normalise_guest(guest).map_err(bad)?,
            host: host.to_string(),
        })
    }
}
