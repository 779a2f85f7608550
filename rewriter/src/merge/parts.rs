//! The output module as a list of byte parts, written to the file without ever concatenating them.
//!
//! The image segment (up to 4 GiB) stays in the image builder's buffer and large app sections
//! (custom sections, the app's data segments, everything on a re-rewrite) stay in the input
//! buffer: the output borrows them. Only what the merge encodes itself (code, imports, names, …)
//! is owned here, so a rewrite holds the input, the image and those new sections — never a
//! second copy of the image or of the app.
//!
//! Section headers are derived from the parts when the module is written, so a section's size
//! always matches its bytes by construction.
//!
//! **Validation without concatenating.** wasmparser's [`Parser`] can be fed incrementally, but it
//! needs every non-code section (and each function body) in one contiguous slice, so feeding it
//! the real parts would copy the data section, image included. The validator never reads the
//! bytes of a passive data segment, only the segment's kind and the segment count, and it ignores
//! custom sections. So [`Module::validate`] validates a *view*: the same module with the image
//! segment emptied (flags `0x01`, length 0) and the custom sections left out, streamed through
//! the parser part by part. A section that straddles two parts is gathered in a small buffer;
//! function bodies are validated in place. The real module differs from the view only in the
//! image segment's length LEB and bytes and in the custom sections, all of whose framing (section
//! sizes, the segment's length) is computed here from the very slices that are written. The unit
//! tests also validate concatenated outputs in full.

use super::error::MergeError;
use super::leb;
use std::borrow::Cow;
#[cfg(test)]
use std::io::{self, Write};
use wasmparser::{
    BinaryReaderError, Chunk, FuncValidatorAllocations, Parser, ValidPayload, Validator,
};

/// Slices shorter than this are copied into the section's own bytes rather than borrowed.
const BORROW_MIN: usize = 4096;

/// A piece of a section payload.
#[derive(Debug, Clone)]
enum Part<'a> {
    /// Bytes written as they are.
    Bytes(Cow<'a, [u8]>),
    /// A passive data segment holding the image: flags `0x01`, length LEB, the bytes.
    Image(&'a [u8]),
}

/// One section: its id and its payload's parts.
#[derive(Debug, Clone)]
struct Section<'a> {
    id: u8,
    parts: Vec<Part<'a>>,
}

/// An encoded module as a sequence of sections made of owned and borrowed parts.
#[derive(Debug, Clone, Default)]
pub struct Module<'a> {
    preamble: Vec<u8>,
    sections: Vec<Section<'a>>,
}

/// A module's bytes as slices in order, and where its image segment lies in them.
pub type Placed<'m> = (Vec<Cow<'m, [u8]>>, Option<ImageSpot>);

/// Where the image segment lies in a written module (byte offsets from its start). Both lengths
/// are 5-byte LEB128s, so they can be overwritten once the image's length is known.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ImageSpot {
    /// Offset of the data section's size.
    pub size_at: u64,
    /// The data section's size less the image's bytes.
    pub size_without_image: u32,
    /// Offset of the image segment's length.
    pub len_at: u64,
    /// Offset of the image's first byte.
    pub image_at: u64,
}

impl ImageSpot {
    /// The two patches that give the module an image of `len` bytes: (offset, 5-byte LEB128)
    /// each; `None` when the data section would reach 4 GiB.
    pub fn patches(&self, len: u32) -> Option<[(u64, [u8; 5]); 2]> {
        let size = self.size_without_image.checked_add(len)?;
        let leb = |v: u32| {
            let mut b = [0u8; 5];
            leb::overwrite_padded(&mut b, v);
            b
        };
        Some([(self.size_at, leb(size)), (self.len_at, leb(len))])
    }
}

/// Appends parts to one section of a [`Module`].
pub struct SectionWriter<'m, 'a> {
    parts: &'m mut Vec<Part<'a>>,
}

impl<'a> SectionWriter<'_, 'a> {
    /// Appends a copy of `bytes`.
    pub fn copy(&mut self, bytes: &[u8]) -> &mut Self {
        if bytes.is_empty() {
            return self;
        }
        if let Some(Part::Bytes(Cow::Owned(last))) = self.parts.last_mut() {
            last.extend_from_slice(bytes);
        } else {
            self.parts.push(Part::Bytes(Cow::Owned(bytes.to_vec())));
        }
        self
    }

    /// Appends `bytes` without copying them (small slices are copied).
    pub fn borrow(&mut self, bytes: &'a [u8]) -> &mut Self {
        if bytes.len() < BORROW_MIN {
            return self.copy(bytes);
        }
        self.parts.push(Part::Bytes(Cow::Borrowed(bytes)));
        self
    }

    /// Appends `bytes`, taking ownership.
    pub fn owned(&mut self, bytes: Vec<u8>) -> &mut Self {
        if bytes.len() < BORROW_MIN {
            return self.copy(&bytes);
        }
        self.parts.push(Part::Bytes(Cow::Owned(bytes)));
        self
    }

    /// Appends the passive image segment (flags, length and `image`, borrowed).
    pub fn image(&mut self, image: &'a [u8]) -> &mut Self {
        self.parts.push(Part::Image(image));
        self
    }

    /// Appends `v` as an unsigned LEB128.
    pub fn leb(&mut self, v: u32) -> &mut Self {
        let mut b = Vec::with_capacity(5);
        leb::write(&mut b, v);
        self.copy(&b)
    }
}

impl<'a> Module<'a> {
    /// An empty module with the 8-byte `preamble` (magic and version).
    pub fn new(preamble: &[u8]) -> Self {
        Module {
            preamble: preamble.to_vec(),
            sections: Vec::new(),
        }
    }

    /// Starts section `id`; its size is computed from what is appended.
    pub fn section(&mut self, id: u8) -> SectionWriter<'_, 'a> {
        self.sections.push(Section {
            id,
            parts: Vec::new(),
        });
        let last = self.sections.len() - 1;
        SectionWriter {
            parts: &mut self.sections[last].parts,
        }
    }

    /// The module's bytes, in order, as slices (section headers and segment headers are small
    /// owned pieces; everything else is borrowed from the parts), and where the image lies in
    /// them. With `view`, the module that [`Module::validate`] checks: the image segment emptied,
    /// custom sections left out.
    ///
    /// The image's section size and segment length are LEB128s padded to 5 bytes (in the real
    /// module, not the view), so a module written before its image is built (see
    /// [`ImageSpot`]) has the same bytes as one written after.
    fn chunks(&self, view: bool) -> Result<Placed<'_>, MergeError> {
        let mut out: Vec<Cow<'_, [u8]>> = vec![Cow::Borrowed(&self.preamble[..])];
        let mut at = self.preamble.len() as u64;
        let mut spot = None;
        for section in &self.sections {
            if view && section.id == 0 {
                continue;
            }
            let mut size = 0u64;
            let mut body: Vec<Cow<'_, [u8]>> = Vec::with_capacity(section.parts.len() + 1);
            // (offset in the section body of the segment's length LEB, the image's length)
            let mut image_in_body = None;
            for part in &section.parts {
                match part {
                    Part::Bytes(b) => {
                        size += b.len() as u64;
                        body.push(Cow::Borrowed(&b[..]));
                    }
                    Part::Image(image) => {
                        let len =
                            u32::try_from(image.len()).map_err(|_| MergeError::ImageTooLarge)?;
                        let mut head = vec![0x01];
                        if view {
                            leb::write(&mut head, 0);
                        } else {
                            image_in_body = Some((size + 1, len));
                            leb::write_padded(&mut head, len, 5);
                        }
                        size += head.len() as u64;
                        body.push(Cow::Owned(head));
                        if !view {
                            size += image.len() as u64;
                            body.push(Cow::Borrowed(image));
                        }
                    }
                }
            }
            let size = u32::try_from(size).map_err(|_| MergeError::SectionTooLarge {
                section: section.id,
            })?;
            let mut head = vec![section.id];
            match image_in_body {
                Some((len_in_body, image_len)) => {
                    leb::write_padded(&mut head, size, 5);
                    let body_at = at + head.len() as u64;
                    spot = Some(ImageSpot {
                        size_at: at + 1,
                        size_without_image: size - image_len,
                        len_at: body_at + len_in_body,
                        image_at: body_at + len_in_body + 5,
                    });
                }
                None => leb::write(&mut head, size),
            }
            at += head.len() as u64 + u64::from(size);
            out.push(Cow::Owned(head));
            out.extend(body);
        }
        out.retain(|c| !c.is_empty());
        Ok((out, spot))
    }

    /// The module's bytes as slices to write in order; errors if a section reaches 4 GiB.
    pub fn parts(&self) -> Result<Vec<Cow<'_, [u8]>>, MergeError> {
        Ok(self.chunks(false)?.0)
    }

    /// The module's bytes as slices to write in order, with the image segment's bytes left out,
    /// and where they go: for a module merged with an empty image, written before its image is
    /// built (streamed into the output between the slices) and patched afterwards.
    pub fn parts_around_image(&self) -> Result<Placed<'_>, MergeError> {
        self.chunks(false)
    }

    /// Writes the module to `w`.
    #[cfg(test)]
    pub fn write_to(&self, w: &mut impl Write) -> io::Result<()> {
        let parts = self
            .parts()
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
        for p in &parts {
            w.write_all(p)?;
        }
        Ok(())
    }

    /// The module's bytes in one buffer (for tests and small modules).
    #[cfg(test)]
    pub fn to_vec(&self) -> Vec<u8> {
        let mut out = Vec::new();
        // Writing to a Vec cannot fail; a 4 GiB section cannot be built in memory in a test.
        let _ = self.write_to(&mut out);
        out
    }

    /// Validates the module (with wasifs' features) without concatenating it: see the module
    /// documentation. Error offsets are in the view (image emptied, custom sections left out).
    pub fn validate(&self) -> Result<(), MergeError> {
        let (chunks, _) = self.chunks(true)?;
        let chunks: Vec<&[u8]> = chunks.iter().map(|c| &c[..]).collect();
        validate_chunks(&chunks).map_err(|e| MergeError::Validate(e.to_string()))
    }
}

/// Validates the module made of `chunks` in order, streaming it through the parser.
pub(crate) fn validate_chunks(chunks: &[&[u8]]) -> std::result::Result<(), BinaryReaderError> {
    let chunks: Vec<&[u8]> = chunks.iter().copied().filter(|c| !c.is_empty()).collect();
    let mut parser = Parser::new(0);
    let mut validator = Validator::new_with_features(crate::plan::features());
    // Bodies lying inside one chunk are validated at the end, on two threads when there are many;
    // a body that had to be gathered in `buf` is validated at once.
    let mut deferred = Vec::new();
    let mut allocs = FuncValidatorAllocations::default();
    // Bytes gathered across a chunk boundary; the input continues at chunks[i][at..].
    let mut buf: Vec<u8> = Vec::new();
    let (mut i, mut at) = (0usize, 0usize);

    fn fill(buf: &mut Vec<u8>, chunks: &[&[u8]], i: &mut usize, at: &mut usize, hint: usize) {
        let mut want = hint.max(1);
        while want > 0 && *i < chunks.len() {
            let rest = &chunks[*i][*at..];
            let take = rest.len().min(want);
            buf.extend_from_slice(&rest[..take]);
            want -= take;
            *at += take;
            if *at == chunks[*i].len() {
                *i += 1;
                *at = 0;
            }
        }
    }

    loop {
        if buf.is_empty() {
            let data: &[u8] = chunks.get(i).map_or(&[][..], |c| &c[at..]);
            let eof = i + 1 >= chunks.len();
            match parser.parse(data, eof)? {
                Chunk::Parsed { consumed, payload } => {
                    at += consumed;
                    if i < chunks.len() && at == chunks[i].len() {
                        i += 1;
                        at = 0;
                    }
                    match validator.payload(&payload)? {
                        ValidPayload::Func(func, body) => deferred.push((func, body)),
                        ValidPayload::End(_) => break,
                        _ => {}
                    }
                }
                Chunk::NeedMoreData(hint) => {
                    buf.extend_from_slice(data);
                    i += 1;
                    at = 0;
                    fill(&mut buf, &chunks, &mut i, &mut at, hint);
                }
            }
        } else {
            let eof = i >= chunks.len();
            match parser.parse(&buf, eof)? {
                Chunk::Parsed { consumed, payload } => {
                    match validator.payload(&payload)? {
                        ValidPayload::Func(func, body) => {
                            let mut v = func.into_validator(allocs);
                            v.validate(&body)?;
                            allocs = v.into_allocations();
                        }
                        ValidPayload::End(_) => break,
                        _ => {}
                    }
                    buf.drain(..consumed);
                }
                Chunk::NeedMoreData(hint) => fill(&mut buf, &chunks, &mut i, &mut at, hint),
            }
        }
    }
    crate::plan::validate_bodies(deferred)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn module(wat: &str) -> Vec<u8> {
        wat::parse_str(wat).expect("test WAT compiles")
    }

    const VALID: &str = r#"(module
      (memory (export "memory") 1)
      (global (mut i32) (i32.const 0))
      (data (i32.const 8) "some data that is long enough to be split")
      (data "passive")
      (@custom "note" "custom bytes")
      (func $f (param i32) (result i32) (i32.add (local.get 0) (i32.const 1)))
      (func (export "g") (result i32) (call $f (i32.const 41))))"#;

    /// Every split of a module into two and three chunks validates as the whole does.
    #[test]
    fn chunked_validation_agrees_with_whole_validation_at_every_split() {
        let valid = module(VALID);
        let invalid = module(
            r#"(module (memory 1) (data (i32.const 0) "x")
               (func (result i32) (i64.const 1)))"#,
        );
        for bytes in [&valid, &invalid] {
            let whole = Validator::new_with_features(crate::plan::features())
                .validate_all(bytes)
                .is_ok();
            assert_eq!(validate_chunks(&[bytes]).is_ok(), whole);
            for a in 0..=bytes.len() {
                let (x, y) = bytes.split_at(a);
                assert_eq!(validate_chunks(&[x, y]).is_ok(), whole, "split at {a}");
                for b in (a..=bytes.len()).step_by(7) {
                    let (y, z) = y.split_at(b - a);
                    assert_eq!(validate_chunks(&[x, y, z]).is_ok(), whole, "{a}/{b}");
                }
            }
        }
    }

    #[test]
    fn truncated_modules_validate_in_chunks_as_they_do_whole() {
        let bytes = module(VALID);
        for cut in 0..bytes.len() {
            let cut_bytes = &bytes[..cut];
            let whole = Validator::new_with_features(crate::plan::features())
                .validate_all(cut_bytes)
                .is_ok();
            let (x, y) = cut_bytes.split_at(cut / 2);
            assert_eq!(validate_chunks(&[x, y]).is_ok(), whole, "cut at {cut}");
        }
    }

    #[test]
    fn image_is_written_with_its_length_and_left_out_of_the_view() {
        let image = vec![7u8; 300];
        let mut m = Module::new(b"\0asm\x01\0\0\0");
        m.section(5).leb(1).copy(&[0x00, 0x01]);
        m.section(12).leb(1);
        m.section(11).leb(1).image(&image);
        m.section(0).copy(b"\x04note").borrow(&[9u8; 5000]);
        let bytes = m.to_vec();
        let parsed: Vec<_> = Parser::new(0)
            .parse_all(&bytes)
            .map(|p| p.expect("parses"))
            .collect();
        let data = parsed.iter().find_map(|p| match p {
            wasmparser::Payload::DataSection(r) => Some(r.clone()),
            _ => None,
        });
        let seg = data
            .expect("data section")
            .into_iter()
            .next()
            .expect("one segment")
            .expect("segment");
        assert!(matches!(seg.kind, wasmparser::DataKind::Passive));
        assert_eq!(seg.data, &image[..]);
        Validator::new_with_features(crate::plan::features())
            .validate_all(&bytes)
            .expect("valid");
        m.validate().expect("view valid");
        let view: Vec<u8> = m.chunks(true).expect("view").0.concat();
        assert_eq!(
            view,
            b"\0asm\x01\0\0\0\x05\x03\x01\x00\x01\x0c\x01\x01\x0b\x03\x01\x01\x00".to_vec()
        );
    }
}
