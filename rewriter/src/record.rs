//! The record a rewrite leaves in the `wasifs` custom section, by which a second rewrite knows the
//! module and replaces its image instead of adding a second shim.

/// The custom section recording that a module was rewritten by wasifs.
pub const WASIFS_SECTION: &str = "wasifs";
/// Version of the `wasifs` custom section's layout.
pub const WASIFS_RECORD_VERSION: u32 = 1;

/// The record a rewrite leaves in the `wasifs` custom section.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WasifsRecord {
    /// Layout version of the record ([`WASIFS_RECORD_VERSION`]).
    pub version: u32,
    /// Hash of the shim and intrinsics that were merged.
    pub shim_hash: u64,
    /// Index of the image data segment.
    pub image_segment: u32,
}

impl WasifsRecord {
    /// Encodes the record: version u32, shim hash u64, image segment index u32, little-endian.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(16);
        out.extend_from_slice(&self.version.to_le_bytes());
        out.extend_from_slice(&self.shim_hash.to_le_bytes());
        out.extend_from_slice(&self.image_segment.to_le_bytes());
        out
    }

    /// Decodes a record; `None` if it is malformed or of another layout version.
    pub fn decode(data: &[u8]) -> Option<Self> {
        let version = u32::from_le_bytes(data.get(0..4)?.try_into().ok()?);
        if version != WASIFS_RECORD_VERSION || data.len() != 16 {
            return None;
        }
        Some(WasifsRecord {
            version,
            shim_hash: u64::from_le_bytes(data.get(4..12)?.try_into().ok()?),
            image_segment: u32::from_le_bytes(data.get(12..16)?.try_into().ok()?),
        })
    }
}
