//! Re-rewriting: replaces the image segment of an already-rewritten module, streaming the rest.

use super::parts::Module;
use crate::plan::{Plan, WasifsRecord};
use crate::{Error, Result};
use std::path::Path;
use wasmparser::{BinaryReader, DataKind, DataSectionReader};

/// Copies every section of `plan.app` unchanged except the image segment, which becomes `image`.
pub fn replace_image<'a>(
    path: &Path,
    plan: &Plan<'a>,
    record: WasifsRecord,
    image: &'a [u8],
) -> Result<Module<'a>> {
    let app = &plan.app;
    let stale = || {
        Error::unsupported(
            path,
            "was rewritten by another wasifs version",
            "rewrite the original module",
        )
    };
    let data = app.sections.iter().find(|s| s.id == 11).ok_or_else(stale)?;
    let payload = &app.bytes[data.payload.clone()];
    let reader = DataSectionReader::new(BinaryReader::new(payload, data.payload.start as u64))
        .map_err(|e| crate::plan::invalid(path, e))?;
    let segment = reader
        .into_iter()
        .nth(record.image_segment as usize)
        .ok_or_else(stale)?
        .map_err(|e| crate::plan::invalid(path, e))?;
    if !matches!(segment.kind, DataKind::Passive) {
        return Err(stale());
    }
    let start = segment.range.start as usize - data.payload.start;
    let end = segment.range.end as usize - data.payload.start;

    // Every section is borrowed from the input, the new image from the image buffer: nothing
    // of the (possibly large) input or image is copied.
    let mut out = Module::new(&app.bytes[..8]);
    for section in &app.sections {
        let bytes = &app.bytes[section.payload.clone()];
        if section.id == 11 {
            out.section(11)
                .borrow(&payload[..start])
                .image(image)
                .borrow(&payload[end..]);
        } else {
            out.section(section.id).borrow(bytes);
        }
    }
    Ok(out)
}
