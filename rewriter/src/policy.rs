//! The runtime policy the shim enforces, recorded in the image: what the app sees of the runtime's
//! own preopens (`--host-fs`, `--preopen`), how much memory its writes may take
//! (`--max-write-memory`) and the rest of its WASI world (env, args, stdio, clocks, random, trace:
//! [`Policies`]).

use crate::mount::HostPreopen;
use crate::{Error, Result};
use std::fmt;
use std::str::FromStr;
use wasifs_image::policy::Policies;
use wasifs_image::ImageBuilder;

/// A `--max-write-memory` size: how much memory the packed module's in-memory layer (the files it
/// writes, and the shim's bookkeeping) may take; past it, writes answer ENOMEM. Written as bytes
/// with an optional `K`, `M` or `G` (powers of 1024, `KiB`… also accepted): `64M`, `1G`. Between
/// 256 KiB (the shim keeps 64 KiB of it for bookkeeping) and 4 GiB (the address space).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MemorySize(u64);

impl MemorySize {
    /// The smallest size accepted.
    pub const MIN: MemorySize = MemorySize(256 << 10);
    /// The largest size accepted: the shim's whole address space.
    pub const MAX: MemorySize = MemorySize(4 << 30);

    /// The size in bytes.
    pub fn bytes(self) -> u64 {
        self.0
    }
}

impl FromStr for MemorySize {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        let bad = |why: &str| {
            Error::usage(format!(
                "memory size {s:?}: {why}; write one such as 64M or 1G (K, M, G are powers of 1024)"
            ))
        };
        let t = s.trim();
        let digits = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
        let (num, unit) = t.split_at(digits);
        let n: u64 = num.parse().map_err(|_| bad("not a number"))?;
        let shift = match unit.to_ascii_uppercase().as_str() {
            "" | "B" => 0,
            "K" | "KB" | "KIB" => 10,
            "M" | "MB" | "MIB" => 20,
            "G" | "GB" | "GIB" => 30,
            _ => return Err(bad("unknown unit")),
        };
        let bytes = n
            .checked_mul(1 << shift)
            .filter(|&b| b <= Self::MAX.0)
            .ok_or_else(|| bad("more than 4G, the shim's whole address space"))?;
        if bytes < Self::MIN.0 {
            return Err(bad(
                "less than 256K (the shim keeps 64K of it for its bookkeeping)",
            ));
        }
        Ok(MemorySize(bytes))
    }
}

impl fmt::Display for MemorySize {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            b if b % (1 << 30) == 0 => write!(f, "{}G", b >> 30),
            b if b % (1 << 20) == 0 => write!(f, "{}M", b >> 20),
            b if b % (1 << 10) == 0 => write!(f, "{}K", b >> 10),
            b => write!(f, "{b}"),
        }
    }
}

/// Whether the runtime's own preopens (its `--dir`s) stay visible after the embedded ones.
#[derive(clap::ValueEnum, Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum HostFs {
    /// The runtime's preopens stay visible after the embedded ones, renumbered.
    #[default]
    Allow,
    /// Only the runtime preopens named by `--preopen` are visible.
    Deny,
}

/// What the app sees of the host runtime's own preopens; made only by [`HostPolicy::new`], which
/// refuses overlapping aliases.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct HostPolicy {
    /// Hide every host preopen that `preopens` does not name (`--host-fs=deny`).
    deny: bool,
    /// Host preopens shown to the app under another name, in command-line order.
    preopens: Vec<HostPreopen>,
    /// The WASI policies, checked by [`check_policies`].
    wasi: Policies,
    /// Cap of the shim's in-memory layer (`--max-write-memory`; none: the address space).
    max_write_memory: Option<MemorySize>,
}

impl HostPolicy {
    /// The policy `host_fs` with the aliases `preopens`; each guest path and each host preopen
    /// may be named once.
    pub fn new(host_fs: HostFs, preopens: Vec<HostPreopen>, wasi: Policies) -> Result<Self> {
        check_policies(&wasi)?;
        for (i, p) in preopens.iter().enumerate() {
            if let Some(q) = preopens[..i]
                .iter()
                .find(|q| q.guest == p.guest || q.host == p.host)
            {
                return Err(Error::usage(format!(
                    "--preopen {}={} and --preopen {}={} overlap; name each guest path and host preopen once",
                    q.guest, q.host, p.guest, p.host
                )));
            }
        }
        Ok(HostPolicy {
            deny: host_fs == HostFs::Deny,
            preopens,
            wasi,
            max_write_memory: None,
        })
    }

    /// The same policy with the in-memory layer capped at `size` (`None`: no cap).
    pub fn max_write_memory(mut self, size: Option<MemorySize>) -> Self {
        self.max_write_memory = size;
        self
    }

    /// The aliased host preopens, in command-line order.
    pub fn preopens(&self) -> &[HostPreopen] {
        &self.preopens
    }

    /// Records the policy in the image: the aliases in order, then whether to deny the rest.
    pub fn record(&self, b: &mut ImageBuilder) {
        for p in &self.preopens {
            b.add_host_alias(p.guest.as_bytes(), p.host.as_bytes());
        }
        if self.deny {
            b.deny_host_fs();
        }
        b.set_policies(&self.wasi);
        if let Some(size) = self.max_write_memory {
            b.set_max_write_memory(size.bytes());
        }
    }
}

/// The preview1 calls the shim serves only when a policy asks: an app without those policies keeps
/// calling the host directly, and the merge leaves their code out.
pub(crate) fn policy_calls(p: &Policies) -> Vec<&'static str> {
    let mut calls = Vec::new();
    if p.serves_args() {
        calls.extend(["args_get", "args_sizes_get"]);
    }
    if p.serves_env() {
        calls.extend(["environ_get", "environ_sizes_get"]);
    }
    if p.serves_clock() {
        calls.extend(["clock_time_get", "clock_res_get"]);
    }
    if p.serves_random() {
        calls.push("random_get");
    }
    calls
}

/// Checks what the types cannot: variable names non-empty and without `=`, no NUL anywhere (C
/// strings end there).
fn check_policies(p: &Policies) -> Result<()> {
    for (k, v) in &p.env {
        if k.is_empty() || k.contains('=') || k.contains('\0') || v.contains('\0') {
            return Err(Error::usage(format!(
                "--env {k}={v}: the name must be non-empty and hold no `=`, and neither may hold a NUL byte"
            )));
        }
    }
    if let Some(a) = p.args.iter().find(|a| a.contains('\0')) {
        return Err(Error::usage(format!(
            "--arg {a:?} holds a NUL byte, which C programs would cut there; remove it"
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn max_write_memory_takes_bytes_or_k_m_g_between_256k_and_4g() {
        for (text, bytes) in [
            ("64M", 64 << 20),
            ("1G", 1 << 30),
            ("4g", 4 << 30),
            ("512KiB", 512 << 10),
            ("1048576", 1 << 20),
            (" 2mb ", 2 << 20),
        ] {
            let size: MemorySize = text.parse().unwrap();
            assert_eq!(size.bytes(), bytes, "{text}");
        }
        assert_eq!(MemorySize(64 << 20).to_string(), "64M");
        assert_eq!(MemorySize(1536 << 10).to_string(), "1536K");
        for (bad, why) in [
            ("", "not a number"),
            ("M", "not a number"),
            ("12X", "unknown unit"),
            ("5G", "more than 4G"),
            ("99999999999999999999", "not a number"),
            ("100K", "less than 256K"),
        ] {
            let e = bad.parse::<MemorySize>().unwrap_err().to_string();
            assert!(e.contains(why) && e.contains("64M"), "{bad:?}: {e}");
        }
    }
}
