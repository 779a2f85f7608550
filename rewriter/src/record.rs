//! The record a rewrite leaves in the `wasifs` custom section, by which a second rewrite knows the
//! module and replaces its image instead of adding a second shim, and from which `inspect` and
//! `strip` read what was done.
//!
//! Layout (little-endian): version u32, shim hash u64, image segment index u32 — the 16-byte
//! header every record version starts with — then, from version 2 on, tagged fields until the
//! end: tag u8, length u32, bytes. A reader skips tags it does not know, so a field is added
//! with a new tag, without a version bump.

use crate::merge::layout::Layout;
use crate::plan::Plan;
use wasm_encoder::SectionId;
use wasmparser::{BinaryReader, KnownCustom, Name};

/// The custom section recording that a module was rewritten by wasifs.
pub const WASIFS_SECTION: &str = "wasifs";
/// Version of the `wasifs` custom section's layout (2: tagged fields after the header).
pub const WASIFS_RECORD_VERSION: u32 = 2;
/// Length of the header every record version starts with.
const HEADER_LEN: usize = 16;
/// Field tag: the version of wasifs that wrote the record (UTF-8).
const TAG_WRITER: u8 = 1;
/// Field tag: what `strip` needs to give back the original module ([`StripInfo`]).
const TAG_STRIP: u8 = 2;

/// The record a rewrite leaves in the `wasifs` custom section (its header).
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
    /// Encodes the header: version u32, shim hash u64, image segment index u32, little-endian.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(HEADER_LEN);
        out.extend_from_slice(&self.version.to_le_bytes());
        out.extend_from_slice(&self.shim_hash.to_le_bytes());
        out.extend_from_slice(&self.image_segment.to_le_bytes());
        out
    }

    /// Decodes a record's header; `None` if it is malformed or of another layout version.
    pub fn decode(data: &[u8]) -> Option<Self> {
        let header = Self::decode_any(data)?;
        if header.version != WASIFS_RECORD_VERSION {
            return None;
        }
        fields(&data[HEADER_LEN..])?;
        Some(header)
    }

    /// Decodes the header of a record of any version.
    fn decode_any(data: &[u8]) -> Option<Self> {
        Some(WasifsRecord {
            version: u32::from_le_bytes(data.get(0..4)?.try_into().ok()?),
            shim_hash: u64::from_le_bytes(data.get(4..12)?.try_into().ok()?),
            image_segment: u32::from_le_bytes(data.get(12..16)?.try_into().ok()?),
        })
    }
}

/// Splits the tagged fields after the header; `None` if one runs past the end.
fn fields(mut data: &[u8]) -> Option<Vec<(u8, &[u8])>> {
    let mut out = Vec::new();
    while let Some((&tag, rest)) = data.split_first() {
        let len = u32::from_le_bytes(rest.get(0..4)?.try_into().ok()?) as usize;
        let value = rest.get(4..4usize.checked_add(len)?)?;
        out.push((tag, value));
        data = &rest[4 + len..];
    }
    Some(out)
}

/// Appends field `tag` holding `value`.
fn field(out: &mut Vec<u8>, tag: u8, value: &[u8]) {
    out.push(tag);
    out.extend_from_slice(&(value.len() as u32).to_le_bytes());
    out.extend_from_slice(value);
}

/// A whole record: the header and the fields this wasifs knows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Record {
    /// The header.
    pub header: WasifsRecord,
    /// The version of wasifs that wrote it.
    pub writer: Option<String>,
    /// What `strip` needs.
    pub strip: Option<StripInfo>,
}

/// Why a record cannot be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum RecordError {
    /// A record of another layout version.
    Version(u32),
    /// A record cut short or otherwise malformed.
    Malformed,
}

impl Record {
    /// Parses a record of the current layout version.
    pub fn parse(data: &[u8]) -> Result<Self, RecordError> {
        let header = WasifsRecord::decode_any(data).ok_or(RecordError::Malformed)?;
        if header.version != WASIFS_RECORD_VERSION {
            return Err(RecordError::Version(header.version));
        }
        let mut record = Record {
            header,
            writer: None,
            strip: None,
        };
        for (tag, value) in fields(&data[HEADER_LEN..]).ok_or(RecordError::Malformed)? {
            match tag {
                TAG_WRITER => {
                    let s = std::str::from_utf8(value).map_err(|_| RecordError::Malformed)?;
                    record.writer = Some(s.to_string());
                }
                TAG_STRIP => record.strip = Some(StripInfo::decode(value)?),
                _ => {}
            }
        }
        Ok(record)
    }
}

/// The sections whose leading entries are the app's, in the order of [`StripInfo::counts`].
pub(crate) const COUNTED: [SectionId; 8] = [
    SectionId::Type,
    SectionId::Function,
    SectionId::Table,
    SectionId::Memory,
    SectionId::Tag,
    SectionId::Global,
    SectionId::Element,
    SectionId::Data,
];

/// What `strip` needs to give back the app: how many leading entries of each merged section are
/// the app's, the app's import section, and where each redirected import went.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct StripInfo {
    /// The app's entry count of each section of [`COUNTED`] (0 when it had none).
    pub counts: [u32; 8],
    /// Whether the app had a data count section.
    pub data_count: bool,
    /// Byte width of the app's code section entry count (0 if it had no code section).
    pub code_count_width: u32,
    /// The app's import section payload (count and entries), empty if it had none.
    pub imports: Vec<u8>,
    /// The app's payloads of the sections the merge re-encodes with new function indices
    /// ([`VERBATIM`]), by section id; a section the app did not have is absent.
    pub verbatim: Vec<(u8, Vec<u8>)>,
    /// Each redirected import: the app's function index, the output's function index it became
    /// (a shim entry point), and its name in the app's name section ("" if none).
    pub redirects: Vec<(u32, u32, String)>,
    /// Operands that name a redirected import other than the first one redirected to the same
    /// entry point (an app that imports a function twice, as Go does): (body index, ordinal of
    /// the call/return_call/ref.func operand in the body, the app's function index).
    pub aliases: Vec<(u32, u32, u32)>,
    /// Index of the name section among the app's custom sections (`u32::MAX`: it had none).
    pub name_at: u32,
    /// Sections whose size the app wrote wider than needed (Go pads them to 5 bytes): (ordinal
    /// among the app's sections, section id, width of the size).
    pub widths: Vec<(u32, u8, u8)>,
    /// The same for the subsections of the app's name section: (subsection id, width).
    pub name_widths: Vec<(u8, u8)>,
}

/// The sections whose app payload the record keeps as it was: the merge re-encodes them.
pub(crate) const VERBATIM: [SectionId; 5] = [
    SectionId::Table,
    SectionId::Global,
    SectionId::Export,
    SectionId::Start,
    SectionId::Element,
];

/// Flag bit of [`StripInfo::data_count`].
const FLAG_DATA_COUNT: u32 = 1;
/// Where [`StripInfo::code_count_width`] sits in the flags (bits 8–15).
const WIDTH_SHIFT: u32 = 8;

impl StripInfo {
    /// What the merge of `plan` laid out as `layout` must remember for `strip`.
    pub fn new(plan: &Plan<'_>, layout: &Layout) -> Self {
        let app = &plan.app;
        let payload = |id: SectionId| {
            app.sections
                .iter()
                .find(|s| s.id == u8::from(id))
                .map(|s| &app.bytes[s.payload.clone()])
        };
        let mut counts = [0; 8];
        for (count, id) in counts.iter_mut().zip(COUNTED) {
            *count = payload(id)
                .and_then(|p| BinaryReader::new(p, 0).read_var_u32().ok())
                .unwrap_or(0);
            if id == SectionId::Data {
                // As the output holds them (joined if there were too many).
                *count = layout.app_data.count;
            }
        }
        let names = import_names(plan);
        let redirects: Vec<_> = plan
            .redirects
            .iter()
            .map(|r| {
                let out = layout.app.funcs.get(r.app_func).unwrap_or(u32::MAX);
                let name = names
                    .iter()
                    .find(|(f, _)| *f == r.app_func)
                    .map(|(_, n)| n.clone())
                    .unwrap_or_default();
                (r.app_func, out, name)
            })
            .collect();
        let code_count_width = payload(SectionId::Code).map_or(0, |p| {
            let mut r = BinaryReader::new(p, 0);
            r.read_var_u32().map_or(0, |_| r.current_position() as u32)
        });
        StripInfo {
            counts,
            code_count_width,
            data_count: payload(SectionId::DataCount).is_some(),
            imports: payload(SectionId::Import).unwrap_or_default().to_vec(),
            verbatim: VERBATIM
                .iter()
                .filter_map(|&id| Some((u8::from(id), payload(id)?.to_vec())))
                .collect(),
            aliases: aliases(plan, &redirects),
            name_at: app
                .sections
                .iter()
                .filter(|s| s.id == 0)
                .position(|s| s.custom_name == Some("name"))
                .map_or(u32::MAX, |i| i as u32),
            widths: padded_sections(app.bytes),
            name_widths: app
                .custom("name")
                .map_or_else(Vec::new, |(d, _)| padded_subsections(d)),
            redirects,
        }
    }

    /// The app's entry count of section `id` (0 for a section not in [`COUNTED`]).
    pub fn count(&self, id: SectionId) -> u32 {
        COUNTED
            .iter()
            .position(|&c| c == id)
            .map_or(0, |i| self.counts[i])
    }

    /// Encodes the field: the 8 counts, flags, imports (length-prefixed), then the redirects.
    fn encode(&self) -> Vec<u8> {
        let mut out = Vec::new();
        let u32le = |out: &mut Vec<u8>, v: u32| out.extend_from_slice(&v.to_le_bytes());
        for c in self.counts {
            u32le(&mut out, c);
        }
        u32le(
            &mut out,
            (u32::from(self.data_count) * FLAG_DATA_COUNT) | (self.code_count_width << WIDTH_SHIFT),
        );
        u32le(&mut out, self.imports.len() as u32);
        out.extend_from_slice(&self.imports);
        u32le(&mut out, self.redirects.len() as u32);
        for (app, merged, name) in &self.redirects {
            u32le(&mut out, *app);
            u32le(&mut out, *merged);
            u32le(&mut out, name.len() as u32);
            out.extend_from_slice(name.as_bytes());
        }
        u32le(&mut out, self.verbatim.len() as u32);
        for (id, payload) in &self.verbatim {
            out.push(*id);
            u32le(&mut out, payload.len() as u32);
            out.extend_from_slice(payload);
        }
        u32le(&mut out, self.aliases.len() as u32);
        for &(body, ordinal, func) in &self.aliases {
            u32le(&mut out, body);
            u32le(&mut out, ordinal);
            u32le(&mut out, func);
        }
        u32le(&mut out, self.name_at);
        u32le(&mut out, self.widths.len() as u32);
        for &(ordinal, id, width) in &self.widths {
            u32le(&mut out, ordinal);
            out.extend_from_slice(&[id, width]);
        }
        u32le(&mut out, self.name_widths.len() as u32);
        for &(id, width) in &self.name_widths {
            out.extend_from_slice(&[id, width]);
        }
        out
    }

    /// Decodes the field written by [`encode`](Self::encode).
    fn decode(data: &[u8]) -> Result<Self, RecordError> {
        let mut at = 0usize;
        let mut take = |n: usize| -> Result<&[u8], RecordError> {
            let s = data
                .get(at..at.checked_add(n).ok_or(RecordError::Malformed)?)
                .ok_or(RecordError::Malformed)?;
            at += n;
            Ok(s)
        };
        fn u32_of(b: &[u8]) -> u32 {
            u32::from_le_bytes([b[0], b[1], b[2], b[3]])
        }
        let mut info = StripInfo::default();
        for c in info.counts.iter_mut() {
            *c = u32_of(take(4)?);
        }
        let flags = u32_of(take(4)?);
        info.data_count = flags & FLAG_DATA_COUNT != 0;
        info.code_count_width = flags >> WIDTH_SHIFT & 0xff;
        let len = u32_of(take(4)?) as usize;
        info.imports = take(len)?.to_vec();
        let n = u32_of(take(4)?);
        for _ in 0..n {
            let app = u32_of(take(4)?);
            let merged = u32_of(take(4)?);
            let len = u32_of(take(4)?) as usize;
            let name = std::str::from_utf8(take(len)?).map_err(|_| RecordError::Malformed)?;
            info.redirects.push((app, merged, name.to_string()));
        }
        let n = u32_of(take(4)?);
        for _ in 0..n {
            let id = take(1)?[0];
            let len = u32_of(take(4)?) as usize;
            info.verbatim.push((id, take(len)?.to_vec()));
        }
        let n = u32_of(take(4)?);
        for _ in 0..n {
            let body = u32_of(take(4)?);
            let ordinal = u32_of(take(4)?);
            info.aliases.push((body, ordinal, u32_of(take(4)?)));
        }
        info.name_at = u32_of(take(4)?);
        let n = u32_of(take(4)?);
        for _ in 0..n {
            let ordinal = u32_of(take(4)?);
            let b = take(2)?;
            info.widths.push((ordinal, b[0], b[1]));
        }
        let n = u32_of(take(4)?);
        for _ in 0..n {
            let b = take(2)?;
            info.name_widths.push((b[0], b[1]));
        }
        Ok(info)
    }
}

/// The fields after the header that a rewrite of `plan` laid out as `layout` writes: the writer's
/// version and the [`StripInfo`].
pub(crate) fn fields_of(plan: &Plan<'_>, layout: &Layout) -> Vec<u8> {
    let mut out = Vec::new();
    field(&mut out, TAG_WRITER, env!("CARGO_PKG_VERSION").as_bytes());
    field(&mut out, TAG_STRIP, &StripInfo::new(plan, layout).encode());
    out
}

/// The operands of the app's code that name a redirected import other than the first one
/// redirected to the same entry point (see [`StripInfo::aliases`]); none, without reading the
/// code, when no two imports share an entry point.
fn aliases(plan: &Plan<'_>, redirects: &[(u32, u32, String)]) -> Vec<(u32, u32, u32)> {
    let mut first: std::collections::HashMap<u32, u32> = std::collections::HashMap::new();
    let mut later = std::collections::HashSet::new();
    for (app, merged, _) in redirects {
        if *first.entry(*merged).or_insert(*app) != *app {
            later.insert(*app);
        }
    }
    let mut out = Vec::new();
    let Some(code) = &plan.app.code else {
        return out;
    };
    if later.is_empty() {
        return out;
    }
    let payload = &plan.app.bytes[code.clone()];
    let mut r = BinaryReader::new(payload, code.start as u64);
    let Ok(count) = r.read_var_u32() else {
        return out;
    };
    for body in 0..count {
        let Ok(size) = r.read_var_u32() else { break };
        let at = r.original_position();
        let Ok(bytes) = r.read_bytes(size as usize) else {
            break;
        };
        let fb = wasmparser::FunctionBody::new(BinaryReader::new(bytes, at));
        let Ok(mut ops) = fb.get_operators_reader() else {
            break;
        };
        let mut ordinal = 0;
        while !ops.eof() {
            let Ok(op) = ops.read() else { break };
            let f = match op {
                wasmparser::Operator::Call { function_index }
                | wasmparser::Operator::ReturnCall { function_index }
                | wasmparser::Operator::RefFunc { function_index } => function_index,
                _ => continue,
            };
            if later.contains(&f) {
                out.push((body, ordinal, f));
            }
            ordinal += 1;
        }
    }
    out
}

/// (ordinal, id, width) of each section of `module` whose size is a wider LEB than needed.
fn padded_sections(module: &[u8]) -> Vec<(u32, u8, u8)> {
    padded(module.get(8..).unwrap_or_default())
        .into_iter()
        .enumerate()
        .filter_map(|(i, (id, width, minimal))| (width > minimal).then_some((i as u32, id, width)))
        .collect()
}

/// (id, width) of each subsection of name section data `data` (after the section's name) whose
/// size is a wider LEB than needed.
fn padded_subsections(data: &[u8]) -> Vec<(u8, u8)> {
    padded(data)
        .into_iter()
        .filter_map(|(id, width, minimal)| (width > minimal).then_some((id, width)))
        .collect()
}

/// (id, width of the size LEB, minimal width) of each `id, size, payload` item of `bytes`.
pub(crate) fn padded(bytes: &[u8]) -> Vec<(u8, u8, u8)> {
    let mut out = Vec::new();
    let mut r = BinaryReader::new(bytes, 0);
    while !r.eof() {
        let Ok(id) = r.read_u8() else { break };
        let start = r.current_position();
        let Ok(size) = r.read_var_u32() else { break };
        let width = (r.current_position() - start) as u8;
        let minimal = (1..5u8)
            .find(|&n| u64::from(size) < 1u64 << (7 * n))
            .unwrap_or(5);
        out.push((id, width, minimal));
        if r.read_bytes(size as usize).is_err() {
            break;
        }
    }
    out
}

/// The app's function names of its redirected imports, from its name section.
fn import_names(plan: &Plan<'_>) -> Vec<(u32, String)> {
    let mut out = Vec::new();
    let Some(section) = plan
        .app
        .sections
        .iter()
        .find(|s| s.custom_name == Some("name"))
    else {
        return out;
    };
    let payload = &plan.app.bytes[section.payload.clone()];
    let reader = BinaryReader::new(payload, section.payload.start as u64);
    let Ok(custom) = wasmparser::CustomSectionReader::new(reader) else {
        return out;
    };
    if let KnownCustom::Name(names) = custom.as_known() {
        for sub in names.into_iter().flatten() {
            if let Name::Function(map) = sub {
                for naming in map.into_iter().flatten() {
                    if plan.redirect_of(naming.index).is_some() {
                        out.push((naming.index, naming.name.to_string()));
                    }
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn record_round_trips_and_skips_unknown_fields() {
        let header = WasifsRecord {
            version: WASIFS_RECORD_VERSION,
            shim_hash: 7,
            image_segment: 3,
        };
        let strip = StripInfo {
            counts: [1, 2, 3, 4, 5, 6, 7, 8],
            data_count: true,
            code_count_width: 2,
            imports: vec![0],
            verbatim: vec![(7, vec![0])],
            aliases: vec![(3, 1, 14)],
            name_at: 1,
            widths: vec![(0, 1, 5)],
            name_widths: vec![(1, 5)],
            redirects: vec![(0, 9, "fd_write".into())],
        };
        let mut bytes = header.encode();
        field(&mut bytes, 200, b"from the future");
        field(&mut bytes, TAG_WRITER, b"9.9.9");
        field(&mut bytes, TAG_STRIP, &strip.encode());
        let record = Record::parse(&bytes).expect("parses");
        assert_eq!(record.header, header);
        assert_eq!(record.writer.as_deref(), Some("9.9.9"));
        assert_eq!(record.strip, Some(strip));
        assert_eq!(WasifsRecord::decode(&bytes), Some(header));
    }

    #[test]
    fn version_1_and_cut_records_are_refused() {
        let mut v1 = WasifsRecord {
            version: 1,
            shim_hash: 7,
            image_segment: 3,
        }
        .encode();
        assert_eq!(Record::parse(&v1), Err(RecordError::Version(1)));
        assert_eq!(WasifsRecord::decode(&v1), None);
        v1[0] = 2;
        v1.extend_from_slice(&[TAG_WRITER, 9, 0, 0, 0, b'x']);
        assert_eq!(Record::parse(&v1), Err(RecordError::Malformed));
        assert_eq!(WasifsRecord::decode(&v1), None);
    }
}
