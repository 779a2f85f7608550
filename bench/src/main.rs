//! `wasifs-bench`: the measuring half of `scripts/bench` — generates deterministic trees and modules,
//! and times modules on wasmtime (crate, with its compiled-code cache) and wasmi.
//!
//! ```text
//! wasifs-bench gen-tree mixed|meta|tiny BYTES OUT_DIR   deterministic tree (same bytes every run)
//! wasifs-bench pad-module IN OUT BYTES                   IN plus a BYTES-long custom section
//! wasifs-bench start wasmtime|wasmi MODULE ITERS [--dir H::G]... -- ARGS
//!     compile once, then ITERS × (instantiate + run); prints the median in ns
//! wasifs-bench run MODULE [--cache DIR] [--mem] [--dir H::G]... [--dir-rw H::G]... -- ARGS
//!     one whole run like `wasmtime run` (compiled-code cache in DIR; a `.cwasm` is mapped, not read);
//!     --mem prints `linear-memory BYTES` (all memories' final sizes, shim's included) to stderr;
//!     --dir preopens read-only, --dir-rw read-write (the SQLite guest's `gen` writes its database)
//! (WASIFS_BENCH_PERFMAP=1 names JIT code for `perf record`.)
//! wasifs-bench fuel MODULE -- ARGS
//!     one instantiate + run on wasmi with fuel metering; prints the fuel used (≈ wasm instructions
//!     executed: deterministic, so start-up costs compare without timing noise)
//! wasifs-bench precompile IN OUT                        IN compiled to OUT (`.cwasm`, like `wasmtime compile`)
//! ```

mod gen;

use anyhow::{bail, Context, Result};
use std::path::PathBuf;
use std::time::Instant;

fn main() {
    if let Err(e) = real_main() {
        eprintln!("wasifs-bench: {e:#}");
        std::process::exit(1);
    }
}

/// Parsed `[--dir H::G]... [--cache DIR] -- ARGS` tail.
#[derive(Default)]
struct RunArgs {
    /// Preopens: host path, guest path, writable.
    dirs: Vec<(PathBuf, String, bool)>,
    cache: Option<PathBuf>,
    mem: bool,
    args: Vec<String>,
}

fn parse_run_args(mut it: impl Iterator<Item = String>) -> Result<RunArgs> {
    let mut r = RunArgs::default();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--dir" | "--dir-rw" => {
                let spec = it
                    .next()
                    .with_context(|| format!("{a} needs HOST::GUEST"))?;
                let (h, g) = spec.split_once("::").unwrap_or((&spec, &spec));
                r.dirs
                    .push((PathBuf::from(h), g.to_string(), a == "--dir-rw"));
            }
            "--mem" => r.mem = true,
            "--cache" => r.cache = Some(PathBuf::from(it.next().context("--cache needs a dir")?)),
            "--" => {
                r.args.extend(it.by_ref());
            }
            other => bail!("unknown argument {other}"),
        }
    }
    Ok(r)
}

fn real_main() -> Result<()> {
    let mut args = std::env::args().skip(1);
    let cmd = args
        .next()
        .context("no command; see the doc comment of bench/src/main.rs")?;
    match cmd.as_str() {
        "gen-tree" => {
            let kind = args.next().context("gen-tree KIND BYTES OUT")?;
            let bytes: u64 = args.next().context("BYTES")?.parse()?;
            let out = PathBuf::from(args.next().context("OUT")?);
            gen::tree(&kind, bytes, &out)
        }
        "pad-module" => {
            let input = args.next().context("pad-module IN OUT BYTES")?;
            let out = args.next().context("OUT")?;
            let bytes: usize = args.next().context("BYTES")?.parse()?;
            gen::pad_module(input.as_ref(), out.as_ref(), bytes)
        }
        "start" => {
            let engine = args.next().context("start ENGINE MODULE ITERS")?;
            let module = PathBuf::from(args.next().context("MODULE")?);
            let iters: usize = args.next().context("ITERS")?.parse()?;
            let r = parse_run_args(args)?;
            let bytes = std::fs::read(&module).with_context(|| module.display().to_string())?;
            let times = match engine.as_str() {
                "wasmtime" => wt::start_times(&bytes, &r, iters)?,
                "wasmi" => wi::start_times(&bytes, &r, iters)?,
                e => bail!("unknown engine {e}"),
            };
            println!("{}", median(times));
            Ok(())
        }
        "fuel" => {
            let module = PathBuf::from(args.next().context("fuel MODULE")?);
            let r = parse_run_args(args)?;
            let bytes = std::fs::read(&module).with_context(|| module.display().to_string())?;
            println!("{}", wi::fuel(&bytes, &r)?);
            Ok(())
        }
        "precompile" => {
            let input = PathBuf::from(args.next().context("precompile IN OUT")?);
            let out = PathBuf::from(args.next().context("OUT")?);
            wt::precompile(&input, &out)
        }
        "run" => {
            let module = PathBuf::from(args.next().context("run MODULE")?);
            let r = parse_run_args(args)?;
            let code = wt::run_once(&module, &r)?;
            std::process::exit(code);
        }
        other => bail!("unknown command {other}"),
    }
}

/// Median of nanosecond samples.
fn median(mut v: Vec<u128>) -> u128 {
    v.sort_unstable();
    v[v.len() / 2]
}

/// wasmtime: the same preview1 host as `wasmtime run`.
mod wt {
    use super::*;
    use wasmtime::{Cache, CacheConfig, Config, Engine, Linker, Module, ResourceLimiter, Store};
    use wasmtime_wasi::p1::{self, WasiP1Ctx};
    use wasmtime_wasi::{FsPerms, I32Exit, WasiCtxBuilder};

    fn engine(cache: Option<&PathBuf>) -> Result<Engine> {
        let mut c = Config::new();
        c.wasm_multi_memory(true);
        // WASIFS_BENCH_PERFMAP=1: JIT code named in /tmp/perf-PID.map, for `perf record`.
        if std::env::var_os("WASIFS_BENCH_PERFMAP").is_some() {
            c.profiler(wasmtime::ProfilingStrategy::PerfMap);
        }
        if let Some(dir) = cache {
            let mut cc = CacheConfig::new();
            cc.with_directory(dir);
            c.cache(Some(Cache::new(cc)?));
        }
        Ok(Engine::new(&c)?)
    }

    /// The store's data: the WASI context and the bytes of linear memory created and grown so far.
    struct Ctx {
        wasi: WasiP1Ctx,
        memory: usize,
    }

    impl ResourceLimiter for Ctx {
        fn memory_growing(
            &mut self,
            current: usize,
            desired: usize,
            _max: Option<usize>,
        ) -> wasmtime::Result<bool> {
            // Called on creation too (current 0), so the sum is every memory's size.
            self.memory += desired - current;
            Ok(true)
        }

        fn table_growing(
            &mut self,
            _: usize,
            _: usize,
            _: Option<usize>,
        ) -> wasmtime::Result<bool> {
            Ok(true)
        }
    }

    /// Instantiates and runs `_start` once; returns the exit code.
    fn run(engine: &Engine, module: &Module, r: &RunArgs) -> Result<i32> {
        let mut b = WasiCtxBuilder::new();
        let mut argv = vec!["main.wasm".to_string()];
        argv.extend(r.args.iter().cloned());
        b.args(&argv).inherit_stdout().inherit_stderr();
        for (h, g, rw) in &r.dirs {
            let perms = if *rw {
                FsPerms::ReadWrite
            } else {
                FsPerms::ReadOnly
            };
            b.preopened_dir(h, g, perms)?;
        }
        let mut linker: Linker<Ctx> = Linker::new(engine);
        p1::add_to_linker_sync(&mut linker, |c| &mut c.wasi)?;
        let ctx = Ctx {
            wasi: b.build_p1(),
            memory: 0,
        };
        let mut store = Store::new(engine, ctx);
        store.limiter(|c| c as &mut dyn ResourceLimiter);
        let inst = linker.instantiate(&mut store, module)?;
        let start = inst.get_typed_func::<(), ()>(&mut store, "_start")?;
        let code = match start.call(&mut store, ()) {
            Ok(()) => 0,
            Err(e) => match e.downcast_ref::<I32Exit>() {
                Some(x) => x.0,
                None => return Err(e.into()),
            },
        };
        if r.mem {
            eprintln!("linear-memory {}", store.data().memory);
        }
        Ok(code)
    }

    pub fn start_times(bytes: &[u8], r: &RunArgs, iters: usize) -> Result<Vec<u128>> {
        let engine = engine(None)?;
        let module = Module::new(&engine, bytes)?;
        let mut out = Vec::new();
        for _ in 0..iters {
            let t = Instant::now();
            let code = run(&engine, &module, r)?;
            out.push(t.elapsed().as_nanos());
            if code != 0 {
                bail!("guest exited with {code}");
            }
        }
        Ok(out)
    }

    pub fn precompile(input: &PathBuf, out: &PathBuf) -> Result<()> {
        let bytes = std::fs::read(input)?;
        let compiled = engine(None)?.precompile_module(&bytes)?;
        std::fs::write(out, compiled)?;
        Ok(())
    }

    pub fn run_once(path: &PathBuf, r: &RunArgs) -> Result<i32> {
        let engine = engine(r.cache.as_ref())?;
        let module = if path.extension().is_some_and(|e| e == "cwasm") {
            // SAFETY: the file was written by `precompile` with the same engine configuration.
            unsafe { Module::deserialize_file(&engine, path)? }
        } else {
            Module::from_file(&engine, path)?
        };
        let code = run(&engine, &module, r)?;
        Ok(code)
    }
}

/// wasmi: no WASI crate for wasmi 1.x, so a minimal preview1 host: args, exit, stdio writes; every
/// other import answers ENOSYS (52). Enough for the shim (it serves the files) and the guest's `first`.
mod wi {
    use super::*;
    use wasmi::{Caller, Config, Engine, Error, ExternType, Linker, Module, Store, Val};

    struct Host {
        args: Vec<Vec<u8>>,
    }

    fn mem<'a>(c: &'a mut Caller<'_, Host>) -> &'a mut [u8] {
        let m = c
            .get_export("memory")
            .and_then(|e| e.into_memory())
            .expect("module exports memory");
        m.data_mut(c)
    }

    fn i(v: &Val) -> u32 {
        v.i32().unwrap_or(0) as u32
    }

    fn put(buf: &mut [u8], at: u32, bytes: &[u8]) {
        buf[at as usize..at as usize + bytes.len()].copy_from_slice(bytes);
    }

    /// Compiles `bytes` on `engine` and links the minimal host.
    fn link(engine: &Engine, bytes: &[u8], r: &RunArgs) -> Result<(Module, Linker<Host>)> {
        if !r.dirs.is_empty() {
            bail!("the wasmi runner has no --dir");
        }
        let module = Module::new(engine, bytes).map_err(|e| anyhow::anyhow!("{e}"))?;
        let mut linker: Linker<Host> = Linker::new(engine);
        for imp in module.imports() {
            let ExternType::Func(ty) = imp.ty() else {
                continue;
            };
            let (m, name) = (imp.module().to_string(), imp.name().to_string());
            let ty2 = ty.clone();
            let f =
                move |mut c: Caller<'_, Host>, p: &[Val], out: &mut [Val]| -> Result<(), Error> {
                    let errno = match name.as_str() {
                        "proc_exit" => return Err(Error::i32_exit(i(&p[0]) as i32)),
                        "args_sizes_get" => {
                            let args = c.data().args.clone();
                            let total: usize = args.iter().map(|a| a.len() + 1).sum();
                            let b = mem(&mut c);
                            put(b, i(&p[0]), &(args.len() as u32).to_le_bytes());
                            put(b, i(&p[1]), &(total as u32).to_le_bytes());
                            0
                        }
                        "args_get" => {
                            let args = c.data().args.clone();
                            let b = mem(&mut c);
                            let (mut ptrs, mut buf) = (i(&p[0]), i(&p[1]));
                            for a in &args {
                                put(b, ptrs, &buf.to_le_bytes());
                                put(b, buf, a);
                                put(b, buf + a.len() as u32, &[0]);
                                ptrs += 4;
                                buf += a.len() as u32 + 1;
                            }
                            0
                        }
                        "environ_sizes_get" => {
                            let b = mem(&mut c);
                            put(b, i(&p[0]), &0u32.to_le_bytes());
                            put(b, i(&p[1]), &0u32.to_le_bytes());
                            0
                        }
                        "fd_write" if i(&p[0]) <= 2 => {
                            let b = mem(&mut c);
                            let (iovs, n) = (i(&p[1]) as usize, i(&p[2]) as usize);
                            let mut total = 0u32;
                            for k in 0..n {
                                let at = iovs + 8 * k;
                                let len = u32::from_le_bytes(
                                    b[at + 4..at + 8].try_into().unwrap_or_default(),
                                );
                                total += len;
                            }
                            put(b, i(&p[3]), &total.to_le_bytes());
                            0
                        }
                        "fd_prestat_get" => 8, // EBADF: no host preopens
                        _ => 52,
                    };
                    if let Some(o) = out.first_mut() {
                        *o = Val::I32(errno);
                    }
                    Ok(())
                };
            linker
                .func_new(&m, imp.name(), ty2, f)
                .map_err(|e| anyhow::anyhow!("{e}"))?;
        }
        Ok((module, linker))
    }

    /// argv for the guest: a program name, then ARGS.
    fn argv(r: &RunArgs) -> Vec<Vec<u8>> {
        let mut argv = vec![b"main.wasm".to_vec()];
        argv.extend(r.args.iter().map(|a| a.as_bytes().to_vec()));
        argv
    }

    /// Instantiates and runs `_start` once; the guest's exit code.
    fn run(store: &mut Store<Host>, module: &Module, linker: &Linker<Host>) -> Result<i32> {
        let inst = linker
            .instantiate_and_start(&mut *store, module)
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        let start = inst
            .get_typed_func::<(), ()>(&*store, "_start")
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        match start.call(&mut *store, ()) {
            Ok(()) => Ok(0),
            Err(e) => e.i32_exit_status().ok_or_else(|| anyhow::anyhow!("{e}")),
        }
    }

    /// Fuel used by one instantiate + run (wasmi charges about one unit per instruction).
    pub fn fuel(bytes: &[u8], r: &RunArgs) -> Result<u64> {
        let mut config = Config::default();
        config.consume_fuel(true);
        let engine = Engine::new(&config);
        let (module, linker) = link(&engine, bytes, r)?;
        let mut store = Store::new(&engine, Host { args: argv(r) });
        let budget = u64::MAX / 2;
        store.set_fuel(budget).map_err(|e| anyhow::anyhow!("{e}"))?;
        let code = run(&mut store, &module, &linker)?;
        if code != 0 {
            bail!("guest exited with {code}");
        }
        Ok(budget - store.get_fuel().map_err(|e| anyhow::anyhow!("{e}"))?)
    }

    pub fn start_times(bytes: &[u8], r: &RunArgs, iters: usize) -> Result<Vec<u128>> {
        let engine = Engine::new(&Config::default());
        let (module, linker) = link(&engine, bytes, r)?;
        let argv = argv(r);
        let mut out = Vec::new();
        for _ in 0..iters {
            let t = Instant::now();
            let mut store = Store::new(&engine, Host { args: argv.clone() });
            let code = run(&mut store, &module, &linker)?;
            out.push(t.elapsed().as_nanos());
            if code != 0 {
                bail!("guest exited with {code}");
            }
        }
        Ok(out)
    }
}
