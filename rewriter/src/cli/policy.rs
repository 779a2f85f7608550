//! The WASI policy flags of `wasifs rewrite` (`--env`, `--arg`, `--stdin`, `--clock`, …), each a
//! thin layer over the matching [`Rewriter`] method.

use wasifs::{Clock, Deny, EnvFromHost, Random, Rewriter, Stdio, Trace};

/// `NAME=VALUE` of `--env`: split at the first `=` (the rewriter checks the name).
fn env_var(s: &str) -> Result<(String, String), String> {
    match s.split_once('=') {
        Some((k, v)) => Ok((k.to_string(), v.to_string())),
        None => Err(format!("`{s}` has no `=`; write NAME=VALUE")),
    }
}

/// The WASI policies, recorded in the packed module and enforced by the shim.
#[derive(clap::Args, Debug)]
#[command(next_help_heading = "WASI policies")]
pub struct PolicyArgs {
    /// Give the program the environment variable NAME=VALUE. Repeatable; baked variables come
    /// first, in order, and hide a runtime variable of the same name.
    #[arg(long = "env", value_name = "NAME=VALUE", value_parser = env_var)]
    env: Vec<(String, String)>,
    /// Which of the runtime's environment variables the program sees: `allow` (all), `deny`
    /// (none) or a comma list of names (e.g. `HOME,LANG`).
    #[arg(long, value_name = "allow|deny|LIST", default_value = "allow")]
    env_from_host: EnvFromHost,
    /// Bake one argument. Repeatable. The program sees the runtime's argv[0], then the baked
    /// arguments, then the runtime's other arguments (like a wrapper `exec prog BAKED "$@"`).
    #[arg(long = "arg", value_name = "ARG", allow_hyphen_values = true)]
    arg: Vec<String>,
    /// Bake several arguments at once, split on whitespace (use --arg for one with spaces).
    #[arg(
        long,
        value_name = "\"ARG ARG…\"",
        allow_hyphen_values = true,
        conflicts_with = "arg"
    )]
    args: Option<String>,
    /// The program's stdin: `inherit` (the runtime's), `null` (reads see end of file) or `deny`
    /// (reads fail, see --deny).
    #[arg(long, value_name = "inherit|null|deny", default_value = "inherit")]
    stdin: Stdio,
    /// The program's stdout: `inherit`, `null` (writes succeed and are dropped) or `deny`.
    #[arg(long, value_name = "inherit|null|deny", default_value = "inherit")]
    stdout: Stdio,
    /// The program's stderr: `inherit`, `null` or `deny`.
    #[arg(long, value_name = "inherit|null|deny", default_value = "inherit")]
    stderr: Stdio,
    /// The clocks: `host`, `deny`, or `fixed:RFC3339` (e.g. `fixed:2024-01-02T03:04:05Z`): every
    /// clock (realtime, monotonic, CPU) then reads that time plus 1 µs per earlier read, the same
    /// on every run; resolution 1 µs. Sleeps (poll_oneoff) still take real time.
    #[arg(long, value_name = "host|deny|fixed:RFC3339", default_value = "host")]
    clock: Clock,
    /// random_get: `host`, `deny`, or `seed:N` (xoshiro256** seeded by SplitMix64 from N, the same
    /// bytes on every run; not for secrets).
    #[arg(long, value_name = "host|deny|seed:N", default_value = "host")]
    random: Random,
    /// What a denied call does: `errno` answers ENOTCAPABLE (76) — clocks, random, stdio — and
    /// `trap` stops the program at the call.
    #[arg(long, value_name = "errno|trap", default_value = "errno")]
    deny: Deny,
    /// Log every WASI call the program makes to stderr, one strace-like line each (paths as
    /// strings, flags by name, `= 0` or `= -1 ENAME (errno N)`): `--trace` (or `on`) always,
    /// `--trace=env` only when the runtime sets WASIFS_TRACE (e.g. `wasmtime run --env
    /// WASIFS_TRACE=1`). WASIFS_TRACE=/dir/file (under a runtime preopen /dir) writes the trace
    /// there instead. Untraced modules carry none of the trace code.
    #[arg(long, value_name = "on|env|off", num_args = 0..=1, require_equals = true,
          default_value = "off", default_missing_value = "on")]
    trace: Trace,
}

impl PolicyArgs {
    /// `rewriter` with these policies set.
    pub fn apply(self, mut rewriter: Rewriter) -> Rewriter {
        for (k, v) in self.env {
            rewriter = rewriter.env(k, v);
        }
        let args = self
            .args
            .map(|a| a.split_whitespace().map(String::from).collect())
            .unwrap_or(self.arg);
        rewriter
            .env_from_host(self.env_from_host)
            .args(args)
            .stdin(self.stdin)
            .stdout(self.stdout)
            .stderr(self.stderr)
            .clock(self.clock)
            .random(self.random)
            .deny(self.deny)
            .trace(self.trace)
    }
}
