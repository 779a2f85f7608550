//! The `--mount GUEST=HOST[:ro|:rw]` and `--preopen GUEST=HOSTNAME` values and their parsing.

use crate::{Error, Result};
use std::path::PathBuf;
use std::str::FromStr;

/// The form every `--mount` must have, shown in each parse error.
const MOUNT_FORM: &str =
    "expected GUEST=HOST[:ro|:rw], e.g. --mount /=./assets or --mount /data=./data:ro";
/// One `--mount GUEST=HOST[:ro|:rw]`, with GUEST normalised.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MountSpec {
    /// Guest path: absolute (`/`, `/usr/lib`) or relative (`.`, `data`), normalised.
    pub guest: String,
    /// Host directory or file.
    pub host: PathBuf,
    /// True for `:ro`: recorded in the preopen flags.
    pub readonly: bool,
}

impl MountSpec {
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
    pub guest: String,
    /// The name the runtime gives the preopen, exactly (e.g. `/tmp/out` for `--dir /tmp/out`).
    pub host: String,
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
