//! Where a file's contents come from (a host path or memory): its size, its chunks, and whether two
//! sources hold the same bytes.

use std::boxed::Box;
use std::fs::File;
use std::io::{self, Read, Seek};
use std::path::{Path, PathBuf};
use std::string::{String, ToString};
use std::vec::Vec;

use super::BuildError;
use crate::format::len_u32;

/// Where a file's contents come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FileData {
    /// A host file, read while the image is written (never held whole in memory).
    Path(PathBuf),
    /// Bytes in memory.
    Bytes(Vec<u8>),
}

impl FileData {
    /// The length of the contents (a host file is stat'ed); a file of 4 GiB or more is an error
    /// naming its path, or `name` for bytes in memory.
    pub(super) fn size(&self, name: &[u8]) -> Result<u64, BuildError> {
        let size = match self {
            FileData::Bytes(b) => b.len() as u64,
            FileData::Path(p) => std::fs::metadata(p).map_err(|e| io_error(p, e))?.len(),
        };
        self.checked_size(name, size)
    }

    /// `size`, the length of the contents, or the error [`Self::size`] gives for 4 GiB or more.
    pub(super) fn checked_size(&self, name: &[u8], size: u64) -> Result<u64, BuildError> {
        if len_u32(size).is_err() {
            let what = match self {
                FileData::Path(p) => p.display().to_string(),
                FileData::Bytes(_) => String::from_utf8_lossy(name).into_owned(),
            };
            return Err(BuildError::FileTooLarge { what, size });
        }
        Ok(size)
    }

    /// The contents, `chunk_size` bytes at a time (the last piece shorter); a host file (opened
    /// now) must still be exactly `size` bytes long.
    pub(super) fn pieces(&self, size: u64, chunk_size: usize) -> Result<Pieces<'_>, BuildError> {
        let from = match self {
            FileData::Bytes(b) => Source::Bytes(b),
            FileData::Path(p) => Source::File(File::open(p).map_err(|e| io_error(p, e))?, p),
        };
        Ok(Pieces {
            from,
            size,
            left: size,
            chunk_size: chunk_size as u64,
            ended: false,
        })
    }

    /// Fills `dst` with the contents from byte `off` (within the size the file was found to have).
    pub(super) fn read_at(&self, off: u64, dst: &mut [u8]) -> Result<(), BuildError> {
        match self {
            FileData::Bytes(b) => {
                let piece = usize::try_from(off)
                    .ok()
                    .and_then(|o| b.get(o..o + dst.len()))
                    .ok_or_else(bytes_short)?;
                dst.copy_from_slice(piece);
                Ok(())
            }
            FileData::Path(p) => {
                let mut f = File::open(p).map_err(|e| io_error(p, e))?;
                // A file opens at its start: most reads here are of a whole small file.
                if off > 0 {
                    f.seek(io::SeekFrom::Start(off))
                        .map_err(|e| io_error(p, e))?;
                }
                if read_full(&mut f, dst).map_err(|e| io_error(p, e))? != dst.len() {
                    return Err(BuildError::SizeChanged {
                        path: p.to_path_buf(),
                        expected: off + dst.len() as u64,
                    });
                }
                Ok(())
            }
        }
    }

    /// Bytes of the `chunk`-byte chunks of the contents (`size` bytes) that are not all zeros,
    /// counted until they pass `limit`: the chunks a host file's data lies in (its holes, as its
    /// file system reports them, are skipped) are read one by one, so a file with more than
    /// `limit` bytes of data costs `limit` bytes of reading, and one of zeros is read whole.
    pub(super) fn nonzero_chunks_len(
        &self,
        size: u64,
        chunk: u64,
        limit: u64,
    ) -> Result<u64, BuildError> {
        let extents = match self {
            FileData::Bytes(_) => None,
            FileData::Path(p) => {
                let f = File::open(p).map_err(|e| io_error(p, e))?;
                super::holes::data_extents(&f, size)
            }
        };
        let chunk = chunk.max(1);
        let mut buf = std::vec![0u8; chunk.min(size) as usize];
        let (mut total, mut next) = (0u64, 0u64);
        for (start, end) in extents.unwrap_or_else(|| std::vec![(0, size)]) {
            // The chunks this extent touches, from the first one not looked at yet.
            for idx in (start / chunk).max(next)..end.min(size).div_ceil(chunk) {
                let at = idx * chunk;
                let piece = &mut buf[..chunk.min(size - at) as usize];
                self.read_at(at, piece)?;
                if !super::holes::all_zeros(piece) {
                    total += piece.len() as u64;
                    if total > limit {
                        return Ok(total);
                    }
                }
                next = idx + 1;
            }
        }
        Ok(total)
    }

    /// True when the contents are exactly `bytes` (read again; a file of another length is not).
    pub(super) fn holds(&self, bytes: &[u8]) -> Result<bool, BuildError> {
        let mut buf = std::vec![0u8; bytes.len() + 1];
        let n = self.head(&mut buf)?;
        Ok(buf.get(..n) == Some(bytes))
    }

    /// Fills `dst` with the first bytes of the contents; returns how many there were (fewer when
    /// the contents are shorter).
    pub(super) fn head(&self, dst: &mut [u8]) -> Result<usize, BuildError> {
        read_full(&mut *self.open()?, dst).map_err(|e| self.read_error(e))
    }

    /// A reader over the contents, from the start.
    fn open(&self) -> Result<Box<dyn Read + '_>, BuildError> {
        Ok(match self {
            FileData::Bytes(b) => Box::new(b.as_slice()),
            FileData::Path(p) => Box::new(File::open(p).map_err(|e| io_error(p, e))?),
        })
    }

    /// A read error on these contents as a [`BuildError`].
    fn read_error(&self, e: io::Error) -> BuildError {
        match self {
            FileData::Path(p) => io_error(p, e),
            FileData::Bytes(_) => BuildError::Compress(e),
        }
    }
}

/// An I/O error on host file `path`.
fn io_error(path: &Path, source: io::Error) -> BuildError {
    BuildError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// A file's contents read piece by piece into buffers the caller provides.
pub(super) struct Pieces<'d> {
    from: Source<'d>,
    /// The length the file must have.
    size: u64,
    /// Bytes not read yet.
    left: u64,
    chunk_size: u64,
    /// Whether reading the last piece met the end of the file.
    ended: bool,
}

/// Where [`Pieces`] reads from.
enum Source<'d> {
    Bytes(&'d [u8]),
    File(File, &'d Path),
}

impl Pieces<'_> {
    /// The length of the next piece, or `None` after the last.
    pub(super) fn next_len(&self) -> Option<usize> {
        (self.left > 0).then(|| self.left.min(self.chunk_size) as usize)
    }

    /// Fills `dst[..n]`, `n` = [`Self::next_len`], with the next piece; `dst[n]` is scratch: the
    /// last piece of a host file is read asking for one byte more, and a read that stops short of
    /// it has met the end of the file (no further read needed to check that).
    pub(super) fn read_into(&mut self, dst: &mut [u8]) -> Result<(), BuildError> {
        let at = (self.size - self.left) as usize;
        let n = dst.len().saturating_sub(1);
        let last = self.left == n as u64;
        match &mut self.from {
            Source::Bytes(b) => {
                let piece = b.get(at..at + n).ok_or_else(bytes_short)?;
                dst[..n].copy_from_slice(piece);
            }
            Source::File(f, path) => {
                let want = if last { n + 1 } else { n };
                let got = read_at_least(f, &mut dst[..want], n).map_err(|e| io_error(path, e))?;
                // `got == n` on the last piece: the read asked for n + 1 and stopped at the end.
                if got != n {
                    return Err(self.changed());
                }
                self.ended = last;
            }
        }
        self.left -= n as u64;
        Ok(())
    }

    /// After the last piece: checks that a host file ends there.
    pub(super) fn end(self) -> Result<(), BuildError> {
        if self.ended {
            return Ok(());
        }
        if let Source::File(mut f, path) = self.from {
            let mut probe = [0u8; 1];
            if read_full(&mut f, &mut probe).map_err(|e| io_error(path, e))? != 0 {
                return Err(BuildError::SizeChanged {
                    path: path.to_path_buf(),
                    expected: self.size,
                });
            }
        }
        Ok(())
    }

    /// The error for a host file shorter than it was.
    fn changed(&self) -> BuildError {
        match &self.from {
            Source::File(_, path) => BuildError::SizeChanged {
                path: path.to_path_buf(),
                expected: self.size,
            },
            Source::Bytes(_) => bytes_short(),
        }
    }
}

/// The error for bytes in memory shorter than their recorded size (a bug, not bad input).
fn bytes_short() -> BuildError {
    BuildError::Compress(io::ErrorKind::UnexpectedEof.into())
}

/// True when two sources of `size` bytes hold the same bytes (read again, piece by piece).
pub(super) fn same_contents(a: &FileData, b: &FileData, size: u64) -> Result<bool, BuildError> {
    let (mut ra, mut rb) = (a.open()?, b.open()?);
    let (mut ba, mut bb) = (std::vec![0u8; 64 * 1024], std::vec![0u8; 64 * 1024]);
    let mut left = size;
    while left > 0 {
        let n = left.min(ba.len() as u64) as usize;
        let ga = read_full(&mut *ra, &mut ba[..n]).map_err(|e| a.read_error(e))?;
        let gb = read_full(&mut *rb, &mut bb[..n]).map_err(|e| b.read_error(e))?;
        if ga != n || gb != n || ba[..n] != bb[..n] {
            return Ok(false);
        }
        left -= n as u64;
    }
    // `b` (the later file) must also end there: one that grew is not a copy (reading it as a file
    // then reports the change).
    Ok(read_full(&mut *rb, &mut bb[..1]).map_err(|e| b.read_error(e))? == 0)
}

/// Reads into `buf` until it holds at least `want` bytes or the input ends; returns the bytes read.
fn read_at_least(r: &mut (impl Read + ?Sized), buf: &mut [u8], want: usize) -> io::Result<usize> {
    let mut done = 0;
    while done < want {
        match r.read(&mut buf[done..]) {
            Ok(0) => break,
            Ok(n) => done += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(done)
}

/// Reads into `buf` until it is full or the input ends; returns the bytes read.
fn read_full(r: &mut (impl Read + ?Sized), buf: &mut [u8]) -> io::Result<usize> {
    let want = buf.len();
    read_at_least(r, buf, want)
}
