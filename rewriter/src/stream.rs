//! Writes a merged module into its output file while the image is built: the module's bytes up to
//! the image, the image streamed in as it is compressed, the rest, then the image's lengths.
//!
//! The module is merged with an empty image, on a thread of its own while the tree is walked and
//! the image's first bytes are made; its data section's size and the image segment's length are
//! 5-byte LEB128s (see `merge::parts`), so they are overwritten in place once the image's length
//! is known, and the file has the same bytes as a module merged with the finished image. Until
//! the merge is done the image is kept in memory; after that it is never held whole, and writing
//! it overlaps compressing it.

use crate::merge::{ImageSpot, MergeError, MergeOutput};
use crate::mount::{build_err, BuiltImage};
use crate::output::{write_atomic_with, OutFile};
use crate::{Error, Result};
use std::io;
use std::path::Path;
use std::thread::ScopedJoinHandle;
use wasifs_image::{BuildError, ImageSink};

/// The merge running on its own thread.
pub(crate) type Merging<'s, 'm> = ScopedJoinHandle<'s, Result<MergeOutput<'m>>>;

/// Where the image goes so far.
enum State<'s, 'm> {
    /// The merge is still running: the image's bytes wait here.
    Merging(Merging<'s, 'm>, Vec<u8>),
    /// The module's bytes up to the image are written; the image starts at byte `base`.
    Writing(MergeOutput<'m>, u64),
    /// The merge failed (its error is taken from here once the build stops).
    Failed(Option<Error>),
}

/// The image's part of an output file.
struct ImageOut<'f, 's, 'm> {
    file: &'f mut OutFile,
    /// The input module and the output file, for errors.
    module: &'f Path,
    out: &'f Path,
    state: State<'s, 'm>,
}

impl<'s, 'm> ImageOut<'_, 's, 'm> {
    /// Once the merge is done (at once when `wait`), writes the module's bytes up to the image
    /// and the image so far. An error here is the merge's, or a write to the output.
    fn settle(&mut self, wait: bool) -> Result<()> {
        match &self.state {
            State::Merging(handle, _) if wait || handle.is_finished() => {}
            _ => return Ok(()),
        }
        let State::Merging(handle, waiting) =
            std::mem::replace(&mut self.state, State::Failed(None))
        else {
            return Ok(());
        };
        let merged = match handle.join() {
            Ok(merged) => merged?,
            Err(panic) => std::panic::resume_unwind(panic),
        };
        let (parts, spot) = placed(self.module, &merged)?;
        let io_err = |e| Error::io(self.out, e);
        let mut end = 0u64;
        for part in parts.iter().take_while(|p| {
            end += p.len() as u64;
            end <= spot.image_at
        }) {
            self.file.write(part).map_err(io_err)?;
        }
        if self.file.len() != spot.image_at {
            return Err(Error::Internal {
                message: format!(
                    "{}: the merged module has no place for the image at byte {}",
                    self.module.display(),
                    spot.image_at
                ),
            });
        }
        drop(parts);
        let base = self.file.len();
        self.file.write(&waiting).map_err(io_err)?;
        self.state = State::Writing(merged, base);
        Ok(())
    }

    /// [`Self::settle`] for the image sink: a failed merge stops the build with an I/O error, and
    /// is reported in its place.
    fn settle_io(&mut self, wait: bool) -> io::Result<()> {
        self.settle(wait).map_err(|e| {
            self.state = State::Failed(Some(e));
            io::Error::other("the module could not be merged")
        })
    }
}

impl ImageSink for ImageOut<'_, '_, '_> {
    fn len(&self) -> u64 {
        match &self.state {
            State::Merging(_, waiting) => waiting.len() as u64,
            State::Writing(_, base) => self.file.len() - base,
            State::Failed(_) => 0,
        }
    }

    fn append(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.settle_io(false)?;
        match &mut self.state {
            State::Merging(_, waiting) => {
                waiting.extend_from_slice(bytes);
                Ok(())
            }
            State::Writing(..) => self.file.write(bytes),
            State::Failed(_) => Err(io::Error::other("the module could not be merged")),
        }
    }

    fn write_header(&mut self, header: &[u8]) -> io::Result<()> {
        match &mut self.state {
            State::Merging(_, waiting) => match waiting.get_mut(..header.len()) {
                Some(head) => {
                    head.copy_from_slice(header);
                    Ok(())
                }
                None => Err(io::Error::other(
                    "the image header is longer than the image",
                )),
            },
            State::Writing(_, base) => self.file.patch(*base, header),
            State::Failed(_) => Err(io::Error::other("the module could not be merged")),
        }
    }
}

/// The parts of `merged` (with an empty image) and where its image goes.
fn placed<'a>(
    module: &Path,
    merged: &'a MergeOutput<'_>,
) -> Result<(Vec<std::borrow::Cow<'a, [u8]>>, ImageSpot)> {
    let (parts, spot) = merged
        .module
        .parts_around_image()
        .map_err(|e| e.into_error(module))?;
    let spot = spot.ok_or_else(|| Error::Internal {
        message: format!(
            "{}: the merged module has no image segment",
            module.display()
        ),
    })?;
    Ok((parts, spot))
}

/// Writes `module` merged with an empty image (by `merging`) to `out` (replaced atomically,
/// permission bits `mode`), with the image `build` makes streamed in at the image's place; returns
/// the image, the merge and the output's length. Errors name `module` for a failed merge (reported
/// before any error of the build) or a module that cannot hold the image, `out` for a failed
/// write.
pub(crate) fn write_with_image<'m>(
    module: &Path,
    out: &Path,
    mode: Option<u32>,
    merging: Merging<'_, 'm>,
    build: impl FnOnce(&mut dyn ImageSink) -> std::result::Result<BuiltImage, BuildError>,
) -> Result<(BuiltImage, MergeOutput<'m>, u64)> {
    let mut done = None;
    write_atomic_with(out, mode, |file| {
        let io_err = |e| Error::io(out, e);
        let mut sink = ImageOut {
            file,
            module,
            out,
            state: State::Merging(merging, Vec::new()),
        };
        let built = build(&mut sink);
        // The merge's error first, as when it ran before the build.
        let settled = sink.settle(true);
        if let State::Failed(e) = &mut sink.state {
            return Err(e
                .take()
                .or(settled.err())
                .unwrap_or_else(|| Error::Internal {
                    message: "the merge failed without an error".into(),
                }));
        }
        settled?;
        let image = built.map_err(|e| match e {
            BuildError::Write(e) => Error::io(out, e),
            e => build_err(e),
        })?;
        let State::Writing(merged, _) = sink.state else {
            return Err(Error::Internal {
                message: "the merged module was not written".into(),
            });
        };
        let (parts, spot) = placed(module, &merged)?;
        let mut at = 0u64;
        for part in &parts {
            let here = at;
            at += part.len() as u64;
            if here >= spot.image_at {
                sink.file.write(part).map_err(io_err)?;
            }
        }
        let patches = u32::try_from(image.len)
            .ok()
            .and_then(|len| spot.patches(len))
            .ok_or_else(|| MergeError::ImageTooLarge.into_error(module))?;
        for (at, leb) in patches {
            sink.file.patch(at, &leb).map_err(io_err)?;
        }
        drop(parts);
        done = Some((image, merged, at));
        Ok(())
    })?;
    done.ok_or_else(|| Error::Internal {
        message: "the image was written but not returned".into(),
    })
}
