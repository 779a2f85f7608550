//! Fuzzing the rewriter on `wasm-smith` modules that import WASI (issue 8 item 9a): random modules
//! with a memory exported as "memory", imports drawn from `wasi_snapshot_preview1` with their real
//! signatures and a fixed set of exported functions. Each is rewritten with no mounts; the rewrite
//! must not panic, its output must validate with the rewriter's features, and every exported
//! function run with zero arguments must give the same results or trap, and leave the same memory,
//! in both modules (under wasmtime, with fuel). A function is compared only while the original has
//! not called WASI (its WASI imports trap there): the test pins non-WASI behaviour. CI runs a
//! bounded number of cases; `WASIFS_FUZZ_CASES=N` (and `WASIFS_FUZZ_SEED=S`) run more.

use std::collections::BTreeMap;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::OnceLock;
use std::time::{Duration, Instant};
use wasifs_image::fuzz::{knobs, Rng};

use wasifs::{Error, Rewriter};
use wasmtime::{
    Config, Engine, Instance, Linker, Module, Store, StoreLimits, StoreLimitsBuilder, Trap, Val,
};
use wasmtime_wasi::p1::{self, WasiP1Ctx};
use wasmtime_wasi::WasiCtxBuilder;

/// Cases run by `cargo test` (a debug build takes a few seconds for these).
const CI_CASES: u64 = 40;
/// Seed when `WASIFS_FUZZ_SEED` is not set.
const DEFAULT_SEED: u64 = 0x5741_5349_4653_000a;
/// Fuel for one call in the original module; the rewritten one gets more (its shim may run too).
const FUEL: u64 = 200_000;

/// The imports wasm-smith may choose from: WASI preview 1 functions with their real signatures.
const WASI_IMPORTS: &str = r#"(module
  (import "wasi_snapshot_preview1" "fd_write" (func (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_read" (func (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_close" (func (param i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_seek" (func (param i32 i64 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_fdstat_get" (func (param i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_prestat_get" (func (param i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_prestat_dir_name" (func (param i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_readdir" (func (param i32 i32 i32 i64 i32) (result i32)))
  (import "wasi_snapshot_preview1" "path_open"
    (func (param i32 i32 i32 i32 i32 i64 i64 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "path_filestat_get" (func (param i32 i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "args_sizes_get" (func (param i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "args_get" (func (param i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "environ_sizes_get" (func (param i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "environ_get" (func (param i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "clock_time_get" (func (param i32 i64 i32) (result i32)))
  (import "wasi_snapshot_preview1" "random_get" (func (param i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "sched_yield" (func (result i32)))
  (import "wasi_snapshot_preview1" "proc_exit" (func (param i32)))
)"#;

/// The exports every generated module has: its memory as "memory", `_start` and a few functions.
const EXPORTS: &str = r#"(module
  (memory (export "memory") 1 16)
  (func (export "_start"))
  (func (export "f_i32") (result i32) unreachable)
  (func (export "f_i64") (param i32) (result i64) unreachable)
  (func (export "f_mix") (param i64 f64) (result f32 i32) unreachable)
  (func (export "f_v128") (param v128) (result v128) unreachable)
)"#;

/// The wasm-smith configuration: no multi-memory, threads, memory64, GC or components.
fn smith_config() -> wasm_smith::Config {
    wasm_smith::Config {
        available_imports: Some(wat::parse_str(WASI_IMPORTS).expect("WASI_IMPORTS parses")),
        exports: Some(wat::parse_str(EXPORTS).expect("EXPORTS parses")),
        min_memories: 1,
        max_memories: 1,
        max_memory32_bytes: 16 << 16,
        memory64_enabled: false,
        threads_enabled: false,
        shared_everything_threads_enabled: false,
        gc_enabled: false,
        custom_page_sizes_enabled: false,
        relaxed_simd_enabled: false,
        compact_imports_enabled: false,
        max_funcs: 16,
        max_instructions: 200,
        max_imports: 18,
        max_tables: 2,
        ..wasm_smith::Config::default()
    }
}

/// An engine like the tests' one, with fuel.
fn engine() -> &'static Engine {
    static ENGINE: OnceLock<Engine> = OnceLock::new();
    ENGINE.get_or_init(|| {
        let mut config = Config::new();
        config
            .consume_fuel(true)
            .wasm_multi_memory(true)
            .wasm_bulk_memory(true)
            .wasm_reference_types(true)
            .wasm_simd(true)
            .wasm_tail_call(true)
            .wasm_function_references(true)
            .wasm_exceptions(true)
            .wasm_extended_const(true)
            .wasm_wide_arithmetic(true)
            .cranelift_opt_level(wasmtime::OptLevel::None);
        Engine::new(&config).expect("wasmtime engine configuration is valid")
    })
}

struct Host {
    wasi: WasiP1Ctx,
    limits: StoreLimits,
}

fn store() -> Store<Host> {
    let host = Host {
        wasi: WasiCtxBuilder::new().build_p1(),
        limits: StoreLimitsBuilder::new().memory_size(64 << 20).build(),
    };
    let mut store = Store::new(engine(), host);
    store.limiter(|h| &mut h.limits);
    store
}

/// Marks a WASI call made by the original module (whose WASI imports all trap).
#[derive(Debug)]
struct WasiCalled;

impl std::fmt::Display for WasiCalled {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("the original module called WASI")
    }
}

impl std::error::Error for WasiCalled {}

/// A value as text (references by nullness only: they are not comparable across instances).
fn show(v: &Val) -> String {
    match v {
        Val::I32(x) => format!("i32 {x}"),
        Val::I64(x) => format!("i64 {x}"),
        Val::F32(x) => format!("f32 {x:#x}"),
        Val::F64(x) => format!("f64 {x:#x}"),
        Val::V128(x) => format!("v128 {:#x}", x.as_u128()),
        Val::FuncRef(f) => format!("funcref null={}", f.is_none()),
        Val::ExternRef(r) => format!("externref null={}", r.is_none()),
        Val::AnyRef(r) => format!("anyref null={}", r.is_none()),
        Val::ExnRef(r) => format!("exnref null={}", r.is_none()),
        Val::ContRef(r) => format!("contref null={}", r.is_none()),
    }
}

/// What one call did.
#[derive(Debug, PartialEq, Eq)]
enum Outcome {
    Returned(Vec<String>),
    Trapped(String),
    OutOfFuel,
    CalledWasi,
    /// An error that is neither a trap nor a WASI call (e.g. `proc_exit` in the rewritten module).
    Other(String),
}

fn outcome(r: wasmtime::Result<Vec<Val>>) -> Outcome {
    match r {
        Ok(vals) => Outcome::Returned(vals.iter().map(show).collect()),
        Err(e) if e.downcast_ref::<WasiCalled>().is_some() => Outcome::CalledWasi,
        Err(e) => match e.downcast_ref::<Trap>() {
            Some(Trap::OutOfFuel) => Outcome::OutOfFuel,
            Some(t) => Outcome::Trapped(format!("{t:?}")),
            // The root cause only: the backtrace names offsets and function indices, which the
            // rewrite shifts.
            None => Outcome::Other(e.root_cause().to_string()),
        },
    }
}

/// Calls export `name` with zero arguments, with `fuel`.
fn call(store: &mut Store<Host>, inst: &Instance, name: &str, fuel: u64) -> Option<Outcome> {
    let func = inst.get_func(&mut *store, name)?;
    let ty = func.ty(&*store);
    let params: Option<Vec<Val>> = ty.params().map(|t| Val::default_for_ty(&t)).collect();
    let params = params?;
    let mut results: Vec<Val> = ty.results().map(|_| Val::I32(0)).collect();
    store.set_fuel(fuel).ok()?;
    Some(outcome(
        func.call(&mut *store, &params, &mut results)
            .map(|()| results),
    ))
}

fn memory(store: &mut Store<Host>, inst: &Instance) -> Option<Vec<u8>> {
    let m = inst.get_memory(&mut *store, "memory")?;
    Some(m.data(&*store).to_vec())
}

/// Instantiates the original with every import trapping as [`WasiCalled`].
fn instantiate_original(module: &Module, store: &mut Store<Host>) -> wasmtime::Result<Instance> {
    let mut linker: Linker<Host> = Linker::new(engine());
    for import in module.imports() {
        if let Some(ty) = import.ty().func() {
            linker.func_new(import.module(), import.name(), ty.clone(), |_, _, _| {
                Err(WasiCalled.into())
            })?;
        }
    }
    store.set_fuel(FUEL)?;
    linker.instantiate(store, module)
}

/// Instantiates the rewritten module with wasmtime's own WASI preview 1 (no preopens).
fn instantiate_rewritten(module: &Module, store: &mut Store<Host>) -> wasmtime::Result<Instance> {
    let mut linker: Linker<Host> = Linker::new(engine());
    p1::add_to_linker_sync(&mut linker, |h| &mut h.wasi)?;
    linker.define_unknown_imports_as_traps(module)?;
    store.set_fuel(FUEL * 4 + 10_000_000)?;
    linker.instantiate(store, module)
}

fn kind(e: &Error) -> &'static str {
    match e {
        Error::Io { .. } => "io",
        Error::NotWasm { .. } => "not wasm",
        Error::Unsupported { .. } => "unsupported",
        Error::Invalid { .. } => "invalid",
        Error::Usage { .. } => "usage",
        Error::Mount { .. } => "mount",
        Error::Internal { .. } => "internal",
        _ => "other",
    }
}

#[derive(Default)]
struct Tally {
    generated: u64,
    rewritten: u64,
    refused: BTreeMap<String, u64>,
    calls_compared: u64,
    calls_skipped: BTreeMap<&'static str, u64>,
    slowest_rewrite: Duration,
}

/// Runs the exports of both modules side by side; returns a finding when they differ.
fn compare(original: &[u8], rewritten: &[u8], order: &[&str], tally: &mut Tally) -> Option<String> {
    let orig_mod = match Module::new(engine(), original) {
        Ok(m) => m,
        Err(e) => return Some(format!("the original does not compile: {e:#}")),
    };
    let new_mod = match Module::new(engine(), rewritten) {
        Ok(m) => m,
        Err(e) => return Some(format!("the rewritten module does not compile: {e:#}")),
    };
    let mut so = store();
    let mut sn = store();
    let io = match instantiate_original(&orig_mod, &mut so) {
        Ok(i) => i,
        Err(_) => {
            // A start function that traps, calls WASI or runs out of fuel: nothing to compare.
            *tally
                .calls_skipped
                .entry("start function did not finish")
                .or_default() += 1;
            return None;
        }
    };
    let inew = match instantiate_rewritten(&new_mod, &mut sn) {
        Ok(i) => i,
        Err(e) => {
            return Some(format!(
                "the original instantiates but the rewritten module does not: {e:#}"
            ))
        }
    };
    if memory(&mut so, &io) != memory(&mut sn, &inew) {
        return Some("memory differs after instantiation".into());
    }
    for name in order {
        let Some(a) = call(&mut so, &io, name, FUEL) else {
            continue;
        };
        match a {
            Outcome::CalledWasi => {
                // From here on the two runs see different hosts: stop comparing this module.
                *tally.calls_skipped.entry("called WASI").or_default() += 1;
                return None;
            }
            Outcome::OutOfFuel => {
                *tally.calls_skipped.entry("out of fuel").or_default() += 1;
                return None;
            }
            _ => {}
        }
        let b = call(&mut sn, &inew, name, FUEL * 4 + 10_000_000);
        if b.as_ref() != Some(&a) {
            return Some(format!("{name}: original {a:?}, rewritten {b:?}"));
        }
        if memory(&mut so, &io) != memory(&mut sn, &inew) {
            return Some(format!("{name}: memory differs after the call ({a:?})"));
        }
        tally.calls_compared += 1;
    }
    None
}

#[test]
fn wasm_smith_modules_importing_wasi_rewrite_to_valid_modules_with_the_same_non_wasi_behaviour() {
    let (cases, seed) = knobs(CI_CASES, DEFAULT_SEED);
    let config = smith_config();
    let rewriter = Rewriter::new().clamp_mtime(None);
    let mut rng = Rng(seed);
    let mut tally = Tally::default();
    let mut findings: Vec<String> = Vec::new();
    let started = Instant::now();
    let names = ["_start", "f_i32", "f_i64", "f_mix", "f_v128"];
    for case in 0..cases {
        let len = 256 + rng.below(8192);
        let bytes: Vec<u8> = (0..len).map(|_| rng.next() as u8).collect();
        let mut u = arbitrary::Unstructured::new(&bytes);
        let Ok(module) = wasm_smith::Module::new(config.clone(), &mut u) else {
            continue;
        };
        let wasm = module.to_bytes();
        tally.generated += 1;
        let what = format!("case {case} (seed {seed:#x})");
        let t = Instant::now();
        let result = catch_unwind(AssertUnwindSafe(|| rewriter.rewrite(&wasm)));
        tally.slowest_rewrite = tally.slowest_rewrite.max(t.elapsed());
        let out = match result {
            Err(_) => {
                findings.push(format!("{what}: the rewriter panicked"));
                continue;
            }
            Ok(Err(e)) => {
                let msg = e.to_string();
                if matches!(e, Error::Internal { .. }) {
                    findings.push(format!("{what}: internal error: {msg}"));
                }
                // The first words say which refusal this is, for the share in the summary.
                let key: String = msg.split_whitespace().take(8).collect::<Vec<_>>().join(" ");
                *tally
                    .refused
                    .entry(format!("{}: {key}", kind(&e)))
                    .or_default() += 1;
                continue;
            }
            Ok(Ok(out)) => out.bytes,
        };
        tally.rewritten += 1;
        let features = wasmparser::WasmFeatures::WASM3
            | wasmparser::WasmFeatures::LEGACY_EXCEPTIONS
            | wasmparser::WasmFeatures::WIDE_ARITHMETIC;
        if let Err(e) = wasmparser::Validator::new_with_features(features).validate_all(&out) {
            findings.push(format!("{what}: the output does not validate: {e}"));
            continue;
        }
        let mut order = names.to_vec();
        for i in (1..order.len()).rev() {
            order.swap(i, rng.below(i + 1));
        }
        if let Some(f) = compare(&wasm, &out, &order, &mut tally) {
            let keep = std::env::temp_dir().join(format!("fuzz_smith_{seed:x}_{case}.wasm"));
            let _ = std::fs::write(&keep, &wasm);
            findings.push(format!("{what}: {f} (input kept at {})", keep.display()));
        }
    }
    let refused: u64 = tally.refused.values().sum();
    eprintln!(
        "fuzz_smith: {cases} cases (seed {seed:#x}) in {:.1?}: {} modules generated, {} rewritten, \
         {refused} refused ({:.1}%), {} calls compared, skipped {:?}, slowest rewrite {:.1?}, \
         {} findings",
        started.elapsed(),
        tally.generated,
        tally.rewritten,
        100.0 * refused as f64 / tally.generated.max(1) as f64,
        tally.calls_compared,
        tally.calls_skipped,
        tally.slowest_rewrite,
        findings.len()
    );
    for (why, n) in &tally.refused {
        eprintln!("  refused {n}: {why}");
    }
    assert!(
        tally.rewritten > 0,
        "no generated module was rewritten: the test compares nothing"
    );
    assert!(findings.is_empty(), "findings:\n{}", findings.join("\n"));
}
