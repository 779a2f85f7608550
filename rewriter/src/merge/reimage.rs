//! Re-rewriting: replaces the image segment of an already-rewritten module, streaming the rest.

use super::{leb, write_section};
use crate::plan::{Plan, WasifsRecord};
use crate::{Error, Result};
use std::path::Path;
use wasmparser::{BinaryReader, DataKind, DataSectionReader};

/// Copies every section of `plan.app` unchanged except the image segment, which becomes `image`.
pub fn replace_image(
    path: &Path,
    plan: &Plan<'_>,
    record: WasifsRecord,
    image: &[u8],
) -> Result<Vec<u8>> {
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

    let mut out = Vec::with_capacity(app.bytes.len() - (end - start) + image.len() + 16);
    out.extend_from_slice(&app.bytes[..8]);
    for section in &app.sections {
        let bytes = &app.bytes[section.payload.clone()];
        if section.id == 11 {
            let mut head = vec![0x01];
            leb::write(&mut head, image.len() as u32);
            write_section(
                &mut out,
                11,
                &[&payload[..start], &head, image, &payload[end..]],
            );
        } else {
            write_section(&mut out, section.id, &[bytes]);
        }
    }
    Ok(out)
}
