//! Where a built image goes: appended in order, its header written last — a `Vec`, or a file the
//! image is streamed into.

use std::io;
use std::vec::Vec;

/// The output of [`ImageBuilder::finish_into`](super::ImageBuilder::finish_into). Offsets are from
/// the image's first byte. The builder writes [`HEADER_SIZE`](crate::format::HEADER_SIZE)
/// placeholder bytes first and the real header over them at the end.
pub trait ImageSink {
    /// Bytes written so far.
    fn len(&self) -> u64;
    /// Whether nothing is written yet.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// Appends `bytes`.
    fn append(&mut self, bytes: &[u8]) -> io::Result<()>;
    /// Writes `header` over the image's first bytes.
    fn write_header(&mut self, header: &[u8]) -> io::Result<()>;
}

impl ImageSink for Vec<u8> {
    fn len(&self) -> u64 {
        Vec::len(self) as u64
    }

    fn append(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.extend_from_slice(bytes);
        Ok(())
    }

    fn write_header(&mut self, header: &[u8]) -> io::Result<()> {
        match self.get_mut(..header.len()) {
            Some(head) => {
                head.copy_from_slice(header);
                Ok(())
            }
            None => Err(io::Error::other("image shorter than its header")),
        }
    }
}
