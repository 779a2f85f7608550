//! Writes a merged module into its output file while the image is built: the module's bytes up to
//! the image, the image streamed in as it is compressed, the rest, then the image's lengths.
//!
//! The module is merged first with an empty image; its data section's size and the image
//! segment's length are 5-byte LEB128s (see `merge::parts`), so they are overwritten in place
//! once the image's length is known, and the file has the same bytes as a module merged with the
//! finished image. The image is never held in memory whole, and writing it overlaps compressing it.

use crate::merge::{ImageSpot, MergeError};
use crate::mount::{build_err, BuiltImage};
use crate::output::{write_atomic_with, OutFile};
use crate::{Error, Result};
use std::borrow::Cow;
use std::io;
use std::path::Path;
use wasifs_image::{BuildError, ImageSink};

/// The image's part of an output file, which starts at `base`.
struct ImageOut<'f> {
    file: &'f mut OutFile,
    base: u64,
}

impl ImageSink for ImageOut<'_> {
    fn len(&self) -> u64 {
        self.file.len() - self.base
    }

    fn append(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.file.write(bytes)
    }

    fn write_header(&mut self, header: &[u8]) -> io::Result<()> {
        self.file.patch(self.base, header)
    }
}

/// Writes the module made of `parts` (merged with an empty image at `spot`) to `out` (replaced
/// atomically, permission bits `mode`), with the image `build` makes streamed in at `spot`.
/// Errors name `module` for a module that cannot hold the image, `out` for a failed write.
pub(crate) fn write_with_image(
    module: &Path,
    out: &Path,
    mode: Option<u32>,
    (parts, spot): (&[Cow<'_, [u8]>], ImageSpot),
    build: impl FnOnce(&mut dyn ImageSink) -> std::result::Result<BuiltImage, BuildError>,
) -> Result<BuiltImage> {
    // The parts before the image end exactly at its first byte (the segment's length ends a part).
    let mut at = 0u64;
    let split = parts
        .iter()
        .position(|p| {
            let here = at;
            at += p.len() as u64;
            here >= spot.image_at
        })
        .unwrap_or(parts.len());
    let mut built = None;
    write_atomic_with(out, mode, |file| {
        let io_err = |e| Error::io(out, e);
        for part in &parts[..split] {
            file.write(part).map_err(io_err)?;
        }
        if file.len() != spot.image_at {
            return Err(Error::Internal {
                message: format!(
                    "{}: the merged module has no place for the image at byte {}",
                    module.display(),
                    spot.image_at
                ),
            });
        }
        let base = file.len();
        let image = build(&mut ImageOut { file, base }).map_err(|e| match e {
            BuildError::Write(e) => Error::io(out, e),
            e => build_err(e),
        })?;
        for part in &parts[split..] {
            file.write(part).map_err(io_err)?;
        }
        let patches = u32::try_from(image.len)
            .ok()
            .and_then(|len| spot.patches(len))
            .ok_or_else(|| MergeError::ImageTooLarge.into_error(module))?;
        for (at, leb) in patches {
            file.patch(at, &leb).map_err(io_err)?;
        }
        built = Some(image);
        Ok(())
    })?;
    built.ok_or_else(|| Error::Internal {
        message: "the image was written but not returned".into(),
    })
}
