//! Analyses the app module: which imports to redirect, its memory.

use crate::module::{parse_module, FuncJob, Validation};
use crate::{Error, Result};
use std::path::Path;
use wasmparser::{ExternalKind, Payload, TypeRef};

pub(crate) use crate::module::{features, invalid, same_sig, validate_bodies, ModuleInfo};
pub(crate) use crate::record::{WasifsRecord, WASIFS_RECORD_VERSION, WASIFS_SECTION};

/// The import module of WASI preview 1, which the shim serves.
pub const WASI_P1: &str = "wasi_snapshot_preview1";
/// The pre-standard WASI import module, which wasifs does not serve.
pub const WASI_UNSTABLE: &str = "wasi_unstable";

/// An app import that the shim will serve.
#[derive(Debug, Clone)]
pub struct Redirect {
    /// The app's function index of the import.
    pub app_func: u32,
    /// The WASI function name.
    pub name: String,
    /// The shim's function index of `shim_<name>`.
    pub shim_func: u32,
}

/// Everything decided about the app before encoding.
#[derive(Debug, Clone)]
pub struct Plan<'a> {
    /// The parsed, validated app.
    pub app: ModuleInfo<'a>,
    /// Index of the memory exported as `memory`.
    pub memory: u32,
    /// Imports to redirect to the shim, in import order.
    pub redirects: Vec<Redirect>,
    /// Set when the app was already rewritten by this same shim: replace the image only.
    pub rewritten: Option<WasifsRecord>,
}

impl Plan<'_> {
    /// The redirect of app function `func`, if it is a redirected import.
    pub fn redirect_of(&self, func: u32) -> Option<&Redirect> {
        self.redirects
            .binary_search_by_key(&func, |r| r.app_func)
            .ok()
            .map(|i| &self.redirects[i])
    }
}

/// Calls the shim exports but serves only when a WASI policy asks (see `policy::policy_calls`).
pub const POLICY_CALLS: &[&str] = &[
    "args_get",
    "args_sizes_get",
    "environ_get",
    "environ_sizes_get",
    "clock_time_get",
    "clock_res_get",
    "random_get",
];

/// Which calls go to which shim entry points besides the default ones.
#[derive(Debug, Clone, Default)]
pub struct Served<'s> {
    /// The policy calls ([`POLICY_CALLS`]) to redirect.
    pub policy_calls: &'s [&'static str],
    /// Redirect every call to its traced entry point `shim_trace_<call>` (`--trace`).
    pub trace: bool,
}

/// The plan for the app `bytes` (read from `path`) and `shim`, redirecting the calls `served`
/// names; the app's function bodies are not validated but handed to `bodies` (see
/// [`Validation::BodiesLater`]).
pub fn analyse_with<'a>(
    path: &Path,
    bytes: &'a [u8],
    shim: &ModuleInfo<'_>,
    shim_hash: u64,
    served: &Served<'_>,
    bodies: &mut Vec<FuncJob<'a>>,
) -> Result<Plan<'a>> {
    let policy_calls = served.policy_calls;
    let mut check = |payload: &Payload<'a>| check_payload(path, payload);
    let validate = Validation::BodiesLater(bodies);
    let app = parse_module(path, bytes, validate, false, &mut check)?;

    let rewritten = match app.custom(WASIFS_SECTION) {
        None => None,
        Some((data, _)) => match WasifsRecord::decode(data) {
            Some(rec) if rec.shim_hash == shim_hash && rec.image_segment < app.data => Some(rec),
            _ => {
                return Err(Error::unsupported(
                    path,
                    "was rewritten by another wasifs version, or with the other shim variant (with or without --trace)",
                    "rewrite the original module",
                ))
            }
        },
    };

    let memory = app.export("memory", ExternalKind::Memory).ok_or_else(|| {
        Error::unsupported(
            path,
            "exports no memory named `memory`",
            "WASI hosts resolve every pointer against the export `memory`; link the module so it exports its memory (wasm-ld does by default)",
        )
    })?;
    if rewritten.is_some() && (!policy_calls.is_empty() || served.trace) {
        return Err(Error::usage(format!(
            "{}: was rewritten by wasifs before, and its calls are redirected once and for all: --trace and the args, env, clock and random policies can only be set on the original module; rewrite the original",
            path.display()
        )));
    }
    let mut redirects = Vec::new();
    if rewritten.is_none() {
        for (func, import) in app
            .imports
            .iter()
            .filter(|i| matches!(i.ty, TypeRef::Func(_) | TypeRef::FuncExact(_)))
            .enumerate()
        {
            let func = func as u32;
            if import.module != WASI_P1
                || (!served.trace
                    && POLICY_CALLS.contains(&import.name)
                    && !policy_calls.contains(&import.name))
            {
                continue;
            }
            let entry = if served.trace { "shim_trace_" } else { "shim_" };
            let Some(shim_func) =
                shim.export(&format!("{entry}{}", import.name), ExternalKind::Func)
            else {
                continue;
            };
            let matches = match (app.func_sig(func), shim.func_sig(shim_func)) {
                (Some(a), Some(s)) => same_sig(a, s),
                _ => false,
            };
            if !matches {
                return Err(Error::unsupported(
                    path,
                    format!(
                        "imports `{WASI_P1}.{}` with a signature different from WASI preview 1's",
                        import.name
                    ),
                    "rebuild the module against the standard wasm32-wasip1 target",
                ));
            }
            redirects.push(Redirect {
                app_func: func,
                name: import.name.to_string(),
                shim_func,
            });
        }
    }
    Ok(Plan {
        app,
        memory,
        redirects,
        rewritten,
    })
}

/// Rejects what wasifs cannot rewrite, as soon as the parser sees it.
fn check_payload(path: &Path, payload: &Payload<'_>) -> Result<()> {
    let memory = |m: &wasmparser::MemoryType| -> Result<()> {
        if m.memory64 {
            return Err(Error::unsupported(
                path,
                "uses a 64-bit memory (memory64)",
                "wasifs supports 32-bit memories only; build for wasm32-wasip1",
            ));
        }
        if m.shared {
            return Err(Error::unsupported(
                path,
                "uses a shared memory (threads)",
                "threads are not supported yet; build without atomics/shared memory (wasm32-wasip1)",
            ));
        }
        Ok(())
    };
    match payload {
        Payload::ImportSection(r) => {
            for import in r.clone().into_imports() {
                let Ok(import) = import else { return Ok(()) };
                if import.module == WASI_UNSTABLE {
                    return Err(Error::unsupported(
                        path,
                        format!(
                            "imports `{WASI_UNSTABLE}.{}` (the pre-standard WASI)",
                            import.name
                        ),
                        "rebuild the module for wasm32-wasip1 (wasi_snapshot_preview1)",
                    ));
                }
                if let TypeRef::Memory(m) = &import.ty {
                    memory(m)?;
                }
            }
        }
        Payload::MemorySection(r) => {
            for m in r.clone() {
                let Ok(m) = m else { return Ok(()) };
                memory(&m)?;
            }
        }
        _ => {}
    }
    Ok(())
}
