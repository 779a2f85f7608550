//! Opens a module rewritten by wasifs — its record, its embedded image and its imports — for
//! `inspect`, `ls`, `extract` and `strip`.

use crate::module::ModuleInfo;
use crate::record::{Record, RecordError, WASIFS_RECORD_VERSION, WASIFS_SECTION};
use crate::{Error, Result};
use std::path::Path;
use wasifs_image::Image;
use wasm_encoder::SectionId;
use wasmparser::{BinaryReader, DataKind, DataSectionReader};

/// The name errors give a module passed as bytes.
pub(crate) const BYTES_NAME: &str = "<packed module>";

/// A module rewritten by wasifs, opened.
pub(crate) struct Packed<'a> {
    /// The parsed module (not validated).
    pub info: ModuleInfo<'a>,
    /// Its `wasifs` record.
    pub record: Record,
    /// Its embedded image.
    pub image: Image<&'a [u8]>,
}

impl<'a> Packed<'a> {
    /// Opens `bytes` (read from `path`): finds the record and opens the image it names.
    pub fn open(path: &Path, bytes: &'a [u8]) -> Result<Self> {
        crate::input::check_core_module(path, bytes)?;
        let info = ModuleInfo::parse(path, bytes, false, false)?;
        let (data, _) = info.custom(WASIFS_SECTION).ok_or_else(|| {
            Error::unsupported(
                path,
                "was not rewritten by wasifs (it has no `wasifs` custom section)",
                "pass a module written by `wasifs rewrite`",
            )
        })?;
        let record = Record::parse(data).map_err(|e| match e {
            RecordError::Version(v) => Error::unsupported(
                path,
                format!(
                    "was rewritten by another wasifs version (record version {v}; this wasifs reads version {WASIFS_RECORD_VERSION})"
                ),
                "rewrite the original module with this wasifs",
            ),
            RecordError::Malformed => Error::unsupported(
                path,
                "has a corrupt `wasifs` record",
                "rewrite the original module with this wasifs",
            ),
        })?;
        let segment = image_segment(&info, record.header.image_segment).ok_or_else(|| {
            Error::unsupported(
                path,
                format!(
                    "has no passive data segment {} holding its image, as its `wasifs` record says",
                    record.header.image_segment
                ),
                "the module was changed after the rewrite; rewrite the original module again",
            )
        })?;
        let image = Image::open(segment).map_err(|e| {
            Error::unsupported(
                path,
                format!("has a corrupt embedded image: {e}"),
                "rewrite the original module again",
            )
        })?;
        Ok(Packed {
            info,
            record,
            image,
        })
    }
}

/// The bytes of passive data segment `index` of `info`.
fn image_segment<'a>(info: &ModuleInfo<'a>, index: u32) -> Option<&'a [u8]> {
    let data = info
        .sections
        .iter()
        .find(|s| s.id == u8::from(SectionId::Data))?;
    let reader = BinaryReader::new(&info.bytes[data.payload.clone()], data.payload.start as u64);
    let segment = DataSectionReader::new(reader)
        .ok()?
        .into_iter()
        .nth(index as usize)?
        .ok()?;
    matches!(segment.kind, DataKind::Passive).then_some(segment.data)
}

/// A corrupt-image error for `path`.
pub(crate) fn corrupt(path: &Path, e: impl std::fmt::Display) -> Error {
    Error::unsupported(
        path,
        format!("has a corrupt embedded image: {e}"),
        "rewrite the original module again",
    )
}
