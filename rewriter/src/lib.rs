//! wasifs: give any wasm32-wasip1 core module its files by merging a WASI shim and an embedded,
//! zstd-compressed filesystem image into it.
//!
//! Use it through [`Rewriter`]: add [`MountSpec`]s and options, then rewrite a module. The
//! pipeline runs one way: `input` (read + sniff) → `mount` (walk the host tree, build the image,
//! record the `policy`) → `plan` (analyse the app, parsed by `module`) → `merge` (lay out and
//! encode, leaving a `record`) → `output` (atomic write).

mod error;
mod extract;
mod input;
mod inspect;
mod listing;
mod merge;
mod module;
mod mount;
mod output;
mod packed;
mod plan;
mod policy;
mod record;
mod report;
mod rewrite;
mod stream;
mod strip;
mod timestamp;

pub use error::{Error, Result};
pub use extract::{extract, Extracted};
pub use input::Input;
pub use inspect::{inspect, versions, HostFsPolicy, Inspection, Layout, Mount, Versions, LARGEST};
pub use listing::{list, ImageEntry, ImageEntryKind};
pub use mount::{DryRun, Entry, EntryKind, Glob, HostPreopen, MountSpec, Skipped};
pub use output::Output;
pub use policy::{HostFs, MemoryLayout, MemorySize};
pub use report::{Report, Rewritten};
pub use rewrite::Rewriter;
pub use strip::{strip, Stripped};
pub use timestamp::Timestamp;
pub use wasifs_image::policy::{
    Clock, Deny, EnvFromHost, Policies, PolicyError, Random, Stdio, Trace,
};
pub use wasifs_image::{BlockSize, CacheSize, ChunkSize, Dictionaries, Level};

/// The committed build of `shim-runtime` (rebuilt by `scripts/build-shim.sh`).
const SHIM_WASM: &[u8] = include_bytes!("../assets/shim.wasm");
/// The same shim with the `shim_trace_*` entry points, merged under `--trace` (same script).
const SHIM_TRACE_WASM: &[u8] = include_bytes!("../assets/shim-trace.wasm");
/// The hand-written intrinsics through which the shim touches app memory and the image.
const INTRINSICS_WAT: &str = include_str!("../../shim-wat/intrinsics.wat");
