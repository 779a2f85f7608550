//! Rewrites the app's DWARF for the output's code offsets (read and written with gimli).
//!
//! In wasm, a DWARF address is an offset into the code section's payload. The merge moves code:
//! the function count may grow, and a body whose call operands no longer fit their LEBs is
//! spliced longer, which shifts everything after the operand. [`AddressMap`] records exactly where
//! each input offset went (built by `code::encode`); [`rewrite`] converts every unit with it:
//! addresses (`DW_AT_low_pc`, `DW_FORM_addr*`), `DW_AT_high_pc` lengths, range and location lists,
//! line programs, and `.debug_aranges`. Addresses in DWARF expressions (`DW_OP_addr`) are
//! linear-memory addresses, not code offsets, and are kept as they are.
//!
//! The sections gimli regenerates (`.debug_info`, `.debug_abbrev`, `.debug_str`, …) replace the
//! input's; index sections that name DIEs by offset (`.debug_pubnames`, `.debug_names`, …) and
//! `.debug_macro` are left out, and any other `.debug_*` section is copied unchanged. A rewrite is
//! impossible (and the DWARF dropped, with a warning) only when gimli cannot read or convert it:
//! malformed DWARF, DWARF 4 type units (`.debug_types`), 64-bit `.debug_aranges`.

mod aranges;
mod convert;
mod map;

pub use map::AddressMap;

use crate::plan::ModuleInfo;
use gimli::write::{EndianVec, Sections};
use gimli::{EndianSlice, LittleEndian, SectionId};
use std::fmt;

/// The sections a rewrite replaces (gimli reads them and writes new ones).
const REWRITTEN: [&str; 12] = [
    ".debug_abbrev",
    ".debug_addr",
    ".debug_aranges",
    ".debug_info",
    ".debug_line",
    ".debug_line_str",
    ".debug_loc",
    ".debug_loclists",
    ".debug_ranges",
    ".debug_rnglists",
    ".debug_str",
    ".debug_str_offsets",
];

/// Sections left out of a rewrite: accelerator tables that name DIEs by their `.debug_info`
/// offset (consumers rebuild them), and `.debug_macro`, whose string offsets into the old
/// `.debug_str` no longer hold (its `DW_AT_macros` attributes are left out with it).
const DROPPED: [&str; 6] = [
    ".debug_macro",
    ".debug_pubnames",
    ".debug_pubtypes",
    ".debug_names",
    ".debug_gnu_pubnames",
    ".debug_gnu_pubtypes",
];

/// Why the DWARF could not be rewritten.
#[derive(Debug)]
pub enum DwarfError {
    /// The input's DWARF does not parse.
    Read(gimli::Error),
    /// Something in the input's DWARF has no equivalent gimli can write.
    Convert(gimli::write::ConvertError),
    /// Writing the new sections failed.
    Write(gimli::write::Error),
    /// The input has a section whose references this rewrite cannot follow.
    Unsupported(&'static str),
}

impl fmt::Display for DwarfError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DwarfError::Read(e) => write!(f, "the input's DWARF does not parse: {e}"),
            DwarfError::Convert(e) => write!(f, "the input's DWARF cannot be converted: {e}"),
            DwarfError::Write(e) => write!(f, "writing the new DWARF failed: {e}"),
            DwarfError::Unsupported(what) => write!(f, "the input has {what}"),
        }
    }
}

impl From<gimli::Error> for DwarfError {
    fn from(e: gimli::Error) -> Self {
        DwarfError::Read(e)
    }
}

impl From<gimli::write::ConvertError> for DwarfError {
    fn from(e: gimli::write::ConvertError) -> Self {
        DwarfError::Convert(e)
    }
}

impl From<gimli::write::Error> for DwarfError {
    fn from(e: gimli::write::Error) -> Self {
        DwarfError::Write(e)
    }
}

/// What to do with one input custom section named `.debug_*`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fate {
    /// Replaced by the rewritten sections (written where the first of them was).
    Rewritten,
    /// Left out: offsets in it no longer hold (see `DROPPED`).
    Dropped,
    /// Copied as it is (it holds no code offsets and no offsets into rewritten sections).
    Kept,
}

/// What happens to the custom section `name` when the DWARF is rewritten.
pub fn fate(name: &str) -> Fate {
    if REWRITTEN.contains(&name) {
        Fate::Rewritten
    } else if DROPPED.contains(&name) {
        Fate::Dropped
    } else {
        Fate::Kept
    }
}

/// The rewritten DWARF sections of `app` (name, payload after the name), for code moved as
/// `map` says; sections that come out empty are left out.
pub fn rewrite(
    app: &ModuleInfo<'_>,
    map: &AddressMap,
) -> Result<Vec<(&'static str, Vec<u8>)>, DwarfError> {
    if app.custom(".debug_types").is_some() {
        return Err(DwarfError::Unsupported(
            "DWARF 4 type units (.debug_types), which gimli cannot rewrite",
        ));
    }
    let section = |id: SectionId| -> Result<EndianSlice<'_, LittleEndian>, gimli::Error> {
        let data = app.custom(id.name()).map_or(&[][..], |(data, _)| data);
        Ok(EndianSlice::new(data, LittleEndian))
    };
    let read = gimli::read::Dwarf::load(section)?;
    let mut sections = Sections::new(EndianVec::new(LittleEndian));
    let unit_offsets = convert::convert(&read, map, &mut sections)?;
    let aranges = match app.custom(".debug_aranges") {
        Some((data, _)) => aranges::rewrite(data, map, &unit_offsets)?,
        None => Vec::new(),
    };

    let mut out: Vec<(&'static str, Vec<u8>)> = Vec::new();
    sections.for_each_mut(|id, s| -> Result<(), DwarfError> {
        let bytes = s.take();
        if !bytes.is_empty() {
            out.push((id.name(), bytes));
        }
        Ok(())
    })?;
    if !aranges.is_empty() {
        out.push((".debug_aranges", aranges));
    }
    Ok(out)
}
