//! `wasirun MODULE [--dir HOST::GUEST]... [-- ARGS]`: run a wasip1 module like `wasmtime run`.

use std::io::{Read, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use wasifs_tests::{run, Entry, RunOptions};

const USAGE: &str =
    "usage: wasirun MODULE [--dir|--ro-dir HOST[::GUEST]]... [--env K=V]... [--invoke F] [--stdin] [-- ARGS...]
Runs a wasm32-wasip1 command module under wasmtime (preview1), like `wasmtime run`.
  --dir HOST[::GUEST]  preopen the host directory HOST as GUEST (default: HOST)
  --ro-dir HOST[::GUEST]  the same, read-only (as an embedded wasifs image is)
  --env KEY=VALUE      set an environment variable
  --invoke FUNC        a reactor: call _initialize, then FUNC (no arguments); print its results
  --stdin              pass this process's stdin to the guest (default: empty)";

fn main() -> ExitCode {
    match real_main() {
        Ok(code) => code,
        Err(e) => {
            eprintln!("wasirun: {e:#}");
            ExitCode::from(1)
        }
    }
}

fn real_main() -> anyhow::Result<ExitCode> {
    let mut args = std::env::args().skip(1);
    let mut module: Option<PathBuf> = None;
    let mut opts = RunOptions::default();
    let mut guest_args = Vec::new();
    let mut pass_stdin = false;
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "-h" | "--help" => {
                println!("{USAGE}");
                return Ok(ExitCode::SUCCESS);
            }
            "--dir" | "--ro-dir" => {
                let spec = args
                    .next()
                    .ok_or_else(|| anyhow::anyhow!("{arg} needs a value\n{USAGE}"))?;
                let (host, guest) = match spec.split_once("::") {
                    Some((h, g)) => (h.to_string(), g.to_string()),
                    None => (spec.clone(), spec.clone()),
                };
                if arg == "--ro-dir" {
                    opts.read_only.push(guest.clone());
                }
                opts.preopens.push((PathBuf::from(host), guest));
            }
            "--env" => {
                let spec = args
                    .next()
                    .ok_or_else(|| anyhow::anyhow!("--env needs a value\n{USAGE}"))?;
                let (k, v) = spec.split_once('=').unwrap_or((spec.as_str(), ""));
                opts.env.push((k.to_string(), v.to_string()));
            }
            "--stdin" => pass_stdin = true,
            "--invoke" => {
                let func = args
                    .next()
                    .ok_or_else(|| anyhow::anyhow!("--invoke needs a value\n{USAGE}"))?;
                opts.entry = Entry::Reactor(func);
            }
            "--" => {
                guest_args.extend(args.by_ref());
            }
            _ if module.is_none() && !arg.starts_with('-') => module = Some(PathBuf::from(arg)),
            _ if module.is_some() => {
                guest_args.push(arg);
                guest_args.extend(args.by_ref());
            }
            _ => anyhow::bail!("unknown option {arg}\n{USAGE}"),
        }
    }
    let module = module.ok_or_else(|| anyhow::anyhow!("no module given\n{USAGE}"))?;
    let bytes = std::fs::read(&module).map_err(|e| anyhow::anyhow!("{}: {e}", module.display()))?;
    let name = module
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    opts.args = std::iter::once(name).chain(guest_args).collect();
    if pass_stdin {
        let mut input = Vec::new();
        std::io::stdin().read_to_end(&mut input)?;
        opts.stdin = Some(input);
    }
    let out = run(&bytes, &opts).map_err(|e| e.context(module.display().to_string()))?;
    std::io::stdout().write_all(&out.stdout)?;
    std::io::stderr().write_all(&out.stderr)?;
    if let Entry::Reactor(func) = &opts.entry {
        let results: Vec<String> = out.results.iter().map(i64::to_string).collect();
        println!("{func}() = {}", results.join(", "));
    }
    std::io::stdout().flush()?;
    // Exit codes outside 0..=255 wrap as they would for a native process.
    Ok(ExitCode::from(out.exit_code as u8))
}
