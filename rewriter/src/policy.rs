//! The runtime policy the shim enforces, recorded in the image: what the app sees of the runtime's
//! own preopens (`--host-fs`, `--preopen`).

use crate::mount::HostPreopen;
use crate::{Error, Result};
use wasifs_image::ImageBuilder;

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
}

impl HostPolicy {
    /// The policy `host_fs` with the aliases `preopens`; each guest path and each host preopen
    /// may be named once.
    pub fn new(host_fs: HostFs, preopens: Vec<HostPreopen>) -> Result<Self> {
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
        })
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
    }
}
