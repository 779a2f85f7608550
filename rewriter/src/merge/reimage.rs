//! Re-rewriting: replaces the image segment of an already-rewritten module, streaming the rest.

use super::error::MergeError;
use super::parts::Module;
use crate::plan::{Plan, WasifsRecord};
use wasm_encoder::SectionId;
use wasmparser::{BinaryReader, DataKind, DataSectionReader};

/// Copies every section of `plan.app` unchanged except the image segment, which becomes `image`.
pub fn replace_image<'a>(
    plan: &Plan<'a>,
    record: WasifsRecord,
    image: &'a [u8],
) -> Result<Module<'a>, MergeError> {
    let app = &plan.app;
    let data_id = u8::from(SectionId::Data);
    let data = app
        .sections
        .iter()
        .find(|s| s.id == data_id)
        .ok_or(MergeError::StaleRecord)?;
    let payload = &app.bytes[data.payload.clone()];
    let reader = DataSectionReader::new(BinaryReader::new(payload, data.payload.start as u64))?;
    let segment = reader
        .into_iter()
        .nth(record.image_segment as usize)
        .ok_or(MergeError::StaleRecord)??;
    if !matches!(segment.kind, DataKind::Passive) {
        return Err(MergeError::StaleRecord);
    }
    let start = segment.range.start as usize - data.payload.start;
    let end = segment.range.end as usize - data.payload.start;

    // Every section is borrowed from the input, the new image from the image buffer: nothing
    // of the (possibly large) input or image is copied.
    let mut out = Module::new(&app.bytes[..8]);
    for section in &app.sections {
        let bytes = &app.bytes[section.payload.clone()];
        if section.id == data_id {
            out.section(data_id)
                .borrow(&payload[..start])
                .image(image)
                .borrow(&payload[end..]);
        } else {
            out.section(section.id).borrow(bytes);
        }
    }
    Ok(out)
}
