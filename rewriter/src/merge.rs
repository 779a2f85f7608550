//! Lays out the index spaces of app + shim + intrinsics + image and encodes the output module.

mod code;
mod data;
mod dwarf;
mod elements;
mod encode;
mod error;
pub mod layout;
mod leb;
mod names;
pub mod parts;
mod reach;
mod reimage;
pub mod single_memory;
#[cfg(test)]
mod tests;

use crate::module::{invalid, validate_bodies};
use crate::plan::{self, ModuleInfo, Plan, Served};
use crate::Result;
use encode::Merger;
pub use error::MergeError;
use layout::Layout;
pub use parts::ImageSpot;
use parts::Module;
use std::path::Path;
use wasm_encoder::{Encode, SectionId};
use wasmparser::BinaryReader;

/// The merged module and what happened on the way.
#[derive(Debug, Clone, Default)]
pub struct MergeOutput<'a> {
    /// The output module, as parts borrowing the image and large app sections.
    pub module: Module<'a>,
    /// Non-fatal problems, e.g. DWARF sections dropped.
    pub warnings: Vec<String>,
    /// Names of the `wasi_snapshot_preview1` imports now served by the shim.
    pub redirected: Vec<String>,
    /// The input was already rewritten by this wasifs: only its image was replaced.
    pub image_replaced: bool,
}

/// Merges the committed shim and the intrinsics into `app` with `image` as the filesystem image;
/// `served` says which calls go to which shim entry points besides the default ones.
pub fn rewrite_module<'a>(
    path: &Path,
    app: &'a [u8],
    image: &'a [u8],
    served: &Served<'_>,
) -> Result<MergeOutput<'a>> {
    let (shim, intrinsics) = shim_and_intrinsics(path, served.trace)?;
    merge_modules_with(path, app, shim, &intrinsics, image, served)
}

/// Puts `image` into the image segment of `packed`, which this wasifs has just made (the
/// single-memory layout, folded from a merge with an empty image; `trace`: with the traced shim):
/// only that segment changes, whatever policies it was made with (they are in the image).
pub fn fill_image<'a>(
    path: &Path,
    packed: &'a [u8],
    image: &'a [u8],
    trace: bool,
) -> Result<MergeOutput<'a>> {
    let (shim, intrinsics) = shim_and_intrinsics(path, trace)?;
    let out = merge_modules_with(path, packed, shim, &intrinsics, image, &Served::default())?;
    if !out.image_replaced {
        return Err(crate::Error::Internal {
            message: format!("{}: the folded module has no wasifs record", path.display()),
        });
    }
    Ok(out)
}

/// The committed shim (`trace`: its traced variant) and the compiled intrinsics.
fn shim_and_intrinsics(path: &Path, trace: bool) -> Result<(&'static [u8], Vec<u8>)> {
    let shim = if trace {
        crate::SHIM_TRACE_WASM
    } else {
        crate::SHIM_WASM
    };
    if shim.is_empty() {
        return Err(MergeError::ShimMissing.into_error(path));
    }
    let intrinsics = intrinsics_wasm().map_err(|e| e.into_error(path))?;
    Ok((shim, intrinsics))
}

/// Compiles `shim-wat/intrinsics.wat`.
pub fn intrinsics_wasm() -> Result<Vec<u8>, MergeError> {
    wat::parse_str(crate::INTRINSICS_WAT).map_err(|e| MergeError::Intrinsics(e.to_string()))
}

/// Merges `shim` and `intrinsics` (compiled) into `app` with `image` as the image segment.
///
/// If `app` was already rewritten with the same shim and intrinsics, only its image is replaced.
/// This is the one place where a [`MergeError`] becomes the user-facing error.
#[cfg(test)]
pub fn merge_modules<'a>(
    path: &Path,
    app: &'a [u8],
    shim: &[u8],
    intrinsics: &[u8],
    image: &'a [u8],
) -> Result<MergeOutput<'a>> {
    merge_modules_with(path, app, shim, intrinsics, image, &Served::default())
}

/// Merges `shim` and `intrinsics` (compiled) into `app` with `image` as the image segment,
/// redirecting the calls `served` names; only the image is replaced when `app` was rewritten with
/// the same shim and intrinsics before.
pub fn merge_modules_with<'a>(
    path: &Path,
    app: &'a [u8],
    shim: &[u8],
    intrinsics: &[u8],
    image: &'a [u8],
    served: &Served<'_>,
) -> Result<MergeOutput<'a>> {
    let shim_info = parse_own(shim, "shim").map_err(|e| e.into_error(path))?;
    let intr_info = parse_own(intrinsics, "intrinsics").map_err(|e| e.into_error(path))?;
    if u32::try_from(image.len()).is_err() {
        return Err(MergeError::ImageTooLarge.into_error(path));
    }
    let hash = shim_hash(shim, intrinsics);
    let mut bodies = Vec::new();
    let plan = plan::analyse_with(path, app, &shim_info, hash, served, &mut bodies)?;
    // The merged module is validated whole, the app's bodies with it; only when the merge fails
    // are they validated in the input, so that an invalid input is reported as such.
    merge_planned(&plan, &shim_info, &intr_info, image, hash).or_else(|e| {
        validate_bodies(bodies).map_err(|err| invalid(path, err))?;
        Err(e.into_error(path))
    })
}

/// Encodes the output for an analysed `plan` and validates it.
fn merge_planned<'a>(
    plan: &Plan<'a>,
    shim: &ModuleInfo<'_>,
    intr: &ModuleInfo<'_>,
    image: &'a [u8],
    hash: u64,
) -> Result<MergeOutput<'a>, MergeError> {
    let image_replaced = plan.rewritten.is_some();
    let (module, warnings, redirected) = match plan.rewritten {
        Some(record) => (
            reimage::replace_image(plan, record, image)?,
            Vec::new(),
            Vec::new(),
        ),
        None => {
            let app_data = data::app_data(&plan.app, shim.data + intr.data)?;
            let layout = Layout::new(plan, shim, intr, app_data).map_err(MergeError::Layout)?;
            let (module, warnings) = Merger::new(plan, shim, intr, layout, image, hash).encode()?;
            let redirected = plan.redirects.iter().map(|r| r.name.clone()).collect();
            (module, warnings, redirected)
        }
    };
    // Validated part by part, with the image segment emptied: see `parts`.
    module.validate()?;
    Ok(MergeOutput {
        module,
        warnings,
        redirected,
        image_replaced,
    })
}

/// FNV-1a (64-bit) of the shim and the intrinsics: identifies the shim a module was rewritten with.
pub fn shim_hash(shim: &[u8], intrinsics: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in shim.iter().chain(&[0xff]).chain(intrinsics) {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

fn parse_own<'a>(bytes: &'a [u8], what: &'static str) -> Result<ModuleInfo<'a>, MergeError> {
    ModuleInfo::parse(Path::new(what), bytes, false, true).map_err(|e| MergeError::OwnModule {
        what,
        message: e.to_string(),
    })
}

/// The entries of an encoded wasm-encoder section: its encoding without size and count.
pub(crate) fn entries(section: &impl Encode) -> Vec<u8> {
    let mut buf = Vec::new();
    section.encode(&mut buf);
    let mut r = BinaryReader::new(&buf, 0);
    let skip = r
        .read_var_u32()
        .and_then(|_| r.read_var_u32())
        .map(|_| r.current_position());
    match skip {
        Ok(at) => buf.split_off(at),
        Err(_) => Vec::new(),
    }
}

/// A section reader over `module`'s section `id`, if it has one.
fn reader<'a>(module: &ModuleInfo<'a>, id: SectionId) -> Option<BinaryReader<'a>> {
    let s = module.sections.iter().find(|s| s.id == u8::from(id))?;
    Some(BinaryReader::new(
        &module.bytes[s.payload.clone()],
        s.payload.start as u64,
    ))
}
