//! The runtime policy the shim enforces, recorded in the image: what the app sees of the runtime's
//! own preopens (`--host-fs`, `--preopen`) and of the rest of its WASI world (env, args, stdio,
//! clocks, random: [`Policies`]).

use crate::mount::HostPreopen;
use crate::{Error, Result};
use wasifs_image::policy::Policies;
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
    /// The WASI policies, checked by [`check_policies`].
    wasi: Policies,
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
        b.set_policies(&self.wasi);
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
