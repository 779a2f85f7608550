//! Converts every unit of the input's DWARF with gimli, moving code addresses by an [`AddressMap`].

use super::{AddressMap, DwarfError};
use gimli::constants;
use gimli::read::{self, Reader};
use gimli::write::{
    self, Address, AttributeValue, ConvertLineSequenceEnd, ConvertResult, ConvertUnit,
    ConvertUnitEntry, Location, LocationList, Range, RangeList, Sections,
};
use std::collections::HashMap;

/// The new `.debug_info` offset of each unit, by its old offset.
pub type UnitOffsets = HashMap<usize, usize>;

/// Converts every unit of `read` into `sections` (units are written one by one, to keep memory
/// low); returns where each unit went.
pub fn convert<R: Reader<Offset = usize>>(
    read: &read::Dwarf<R>,
    map: &AddressMap,
    sections: &mut Sections<write::EndianVec<gimli::LittleEndian>>,
) -> Result<UnitOffsets, DwarfError> {
    let mut dwarf = write::Dwarf::new();
    let mut offsets = UnitOffsets::new();
    {
        let mut units = dwarf.convert(read)?;
        while let Some((mut unit, root)) = units.read_unit()? {
            if let Some(what) = unwritable_line_program(read, unit.read_unit) {
                return Err(DwarfError::Unsupported(what));
            }
            line_program(&mut unit, map)?;
            let old = unit.read_unit.header.offset().0;
            let root_id = unit.unit.root();
            attributes(&mut unit, root_id, &root, map)?;
            let mut entry = root;
            while let Some(id) = unit.read_entry(&mut entry)? {
                let id = unit.add_entry(id, &entry);
                attributes(&mut unit, id, &entry, map)?;
            }
            let new = sections.debug_info.offset().0;
            unit.write(sections)?;
            offsets.insert(old, new);
        }
    }
    dwarf.write(sections)?;
    Ok(offsets)
}

fn constant(addr: u64) -> Option<Address> {
    Some(Address::Constant(addr))
}

/// What in `unit`'s line program gimli would refuse to write by panicking, if anything: it
/// asserts that a line advance of 0 has a special opcode (`line_base <= 0 < line_base +
/// line_range`, in an `i8`) and that DWARF 2-4 names no directory or file by an empty path. Address
/// steps of more than one byte or operations per instruction are not wasm's, and not followed.
fn unwritable_line_program<R: Reader<Offset = usize>>(
    read: &read::Dwarf<R>,
    unit: read::UnitRef<'_, R>,
) -> Option<&'static str> {
    let header = unit.line_program.as_ref()?.header();
    let (base, range) = (
        i16::from(header.line_base()),
        i16::from(header.line_range()),
    );
    if base > 0 || range > i16::from(i8::MAX) || base + range <= 0 {
        return Some(
            "a line program with no special opcode for a row on the same line as the one before",
        );
    }
    let step = header.line_encoding();
    if (
        step.minimum_instruction_length,
        step.maximum_operations_per_instruction,
    ) != (1, 1)
    {
        return Some("a line program whose addresses advance by more than a byte at a time");
    }
    let empty = |path: read::AttributeValue<R>| {
        read.attr_line_string(path)
            .and_then(|s| s.to_slice().map(|b| b.is_empty()))
            .unwrap_or(false)
    };
    let dirs = header.include_directories().iter().cloned();
    let files = header.file_names().iter().map(|f| f.path_name());
    if header.version() <= 4 && dirs.chain(files).any(empty) {
        return Some("a line program that names a directory or file by an empty path");
    }
    None
}

/// Converts the unit's line program: every row keeps its file, line and column, at its new address.
fn line_program<R: Reader<Offset = usize>>(
    unit: &mut ConvertUnit<'_, R>,
    map: &AddressMap,
) -> ConvertResult<()> {
    let Some(mut program) = unit.read_line_program(None, None)? else {
        return Ok(());
    };
    // The new offset of `old_start + offset` from `new_start`. gimli subtracts each row's offset
    // and line from the previous row's: offsets must never go back within a sequence, and lines
    // are kept below 2^32.
    let moved = |old_start: u64, offset: u64, new_start: u64, after: u64| {
        let at = old_start.checked_add(offset).map(|a| map.map(a));
        at.and_then(|a| a.checked_sub(new_start))
            .filter(|&o| o >= after)
            .ok_or(write::ConvertError::InvalidAddress)
    };
    while let Some(sequence) = program.read_sequence()? {
        // Without DW_LNE_set_address, row addresses count from 0.
        let old_start = sequence.start.unwrap_or(0);
        let new_start = map.map(old_start);
        if sequence.start.is_some() {
            program.set_address(Address::Constant(new_start));
        }
        let mut after = 0;
        for mut row in sequence.rows {
            row.address_offset = moved(old_start, row.address_offset, new_start, after)?;
            if row.line > u64::from(u32::MAX) {
                return Err(write::ConvertError::UnsupportedLineInstruction);
            }
            after = row.address_offset;
            program.generate_row(row);
        }
        if let ConvertLineSequenceEnd::Length(length) = sequence.end {
            program.end_sequence(moved(old_start, length, new_start, after)?);
        }
    }
    if program.in_sequence() {
        return Err(write::ConvertError::MissingLineEndSequence);
    }
    let (program, files) = program.program();
    unit.set_line_program(program, files);
    Ok(())
}

/// Converts the attributes of `entry` into the written entry `id`.
fn attributes<R: Reader<Offset = usize>>(
    unit: &mut ConvertUnit<'_, R>,
    id: write::UnitEntryId,
    entry: &ConvertUnitEntry<'_, R>,
    map: &AddressMap,
) -> ConvertResult<()> {
    let read_unit = entry.read_unit;
    let moved = |addr: u64| constant(map.map(addr));
    let low_pc = entry
        .attrs
        .iter()
        .find(|a| a.name() == constants::DW_AT_low_pc)
        .and_then(|a| match a.value() {
            read::AttributeValue::Addr(addr) => Some(addr),
            read::AttributeValue::DebugAddrIndex(index) => read_unit.address(index).ok(),
            _ => None,
        });
    for attr in &entry.attrs {
        let name = attr.name();
        if name == constants::DW_AT_GNU_locviews {
            // A GNU extension gimli does not write (and LLVM does not emit).
            continue;
        }
        if name == constants::DW_AT_macros || name == constants::DW_AT_GNU_macros {
            // .debug_macro is left out of a rewrite (see `DROPPED`).
            continue;
        }
        let value = match attr.value() {
            // A length from DW_AT_low_pc: the function's new length.
            v if name == constants::DW_AT_high_pc
                && low_pc.is_some()
                && v.udata_value().is_some() =>
            {
                let (low, len) = (low_pc.unwrap_or(0), v.udata_value().unwrap_or(0));
                let high = map.map(low.saturating_add(len));
                AttributeValue::Udata(high.saturating_sub(map.map(low)))
            }
            read::AttributeValue::RangeListsRef(raw) => {
                let offset = read_unit.ranges_offset_from_raw(raw);
                let list = ranges(read_unit, read_unit.ranges(offset)?, map)?;
                AttributeValue::RangeListRef(unit.unit.ranges.add(list))
            }
            read::AttributeValue::DebugRngListsIndex(index) => {
                let offset = read_unit.ranges_offset(index)?;
                let list = ranges(read_unit, read_unit.ranges(offset)?, map)?;
                AttributeValue::RangeListRef(unit.unit.ranges.add(list))
            }
            read::AttributeValue::LocationListsRef(offset) => {
                let list = locations(unit, read_unit, offset, map)?;
                AttributeValue::LocationListRef(unit.unit.locations.add(list))
            }
            read::AttributeValue::DebugLocListsIndex(index) => {
                let offset = read_unit.locations_offset(index)?;
                let list = locations(unit, read_unit, offset, map)?;
                AttributeValue::LocationListRef(unit.unit.locations.add(list))
            }
            // DW_OP_addr in an expression is a linear-memory address: kept.
            read::AttributeValue::Exprloc(_) => {
                unit.convert_attribute_value(read_unit, attr, &constant)?
            }
            _ => unit.convert_attribute_value(read_unit, attr, &moved)?,
        };
        unit.unit.get_mut(id).set(name, value);
    }
    Ok(())
}

/// How a list's entries are written, given the unit's base address for DWARF 2-4 lists.
#[derive(Clone, Copy)]
enum Form {
    /// Offsets from the unit's base address, at its new place.
    Relative(u64),
    /// A base-address entry of 0 first, then absolute addresses as offsets (some entry lies
    /// below the unit's base address).
    ResetBase,
    /// Absolute addresses (DWARF 5, or a unit without a base address).
    Absolute,
}

/// The form of a list of `[begin, end)` entries of `read_unit`, mapped by `map`.
fn form<R: Reader<Offset = usize>>(
    read_unit: read::UnitRef<'_, R>,
    begins: impl Iterator<Item = u64>,
    map: &AddressMap,
) -> Form {
    let base = read_unit.low_pc;
    if read_unit.encoding().version > 4 || base == 0 {
        Form::Absolute
    } else if begins.into_iter().all(|b| b >= base) {
        Form::Relative(map.map(base))
    } else {
        Form::ResetBase
    }
}

/// A range list with each range at its new addresses (gimli leaves tombstoned ranges out).
fn ranges<R: Reader<Offset = usize>>(
    read_unit: read::UnitRef<'_, R>,
    mut iter: read::RngListIter<R>,
    map: &AddressMap,
) -> ConvertResult<RangeList> {
    let mut moved = Vec::new();
    while let Some(r) = iter.next()? {
        let (begin, end) = (map.map(r.begin), map.map(r.end));
        if begin < end {
            moved.push((r.begin, begin, end));
        }
    }
    let form = form(read_unit, moved.iter().map(|m| m.0), map);
    let mut out = Vec::with_capacity(moved.len() + 1);
    if let Form::ResetBase = form {
        out.push(Range::BaseAddress {
            address: Address::Constant(0),
        });
    }
    for (_, begin, end) in moved {
        out.push(match form {
            Form::Relative(base) => Range::OffsetPair {
                begin: begin.saturating_sub(base),
                end: end.saturating_sub(base),
            },
            Form::ResetBase => Range::OffsetPair { begin, end },
            Form::Absolute => Range::StartEnd {
                begin: Address::Constant(begin),
                end: Address::Constant(end),
            },
        });
    }
    Ok(RangeList(out))
}

/// A location list with each entry at its new addresses; expressions keep their operands.
fn locations<R: Reader<Offset = usize>>(
    unit: &ConvertUnit<'_, R>,
    read_unit: read::UnitRef<'_, R>,
    offset: gimli::LocationListsOffset,
    map: &AddressMap,
) -> ConvertResult<LocationList> {
    let mut iter = read_unit.locations(offset)?;
    let mut moved = Vec::new();
    while let Some(l) = iter.next()? {
        let (begin, end) = (map.map(l.range.begin), map.map(l.range.end));
        if begin < end {
            let data = unit.convert_expression(read_unit, l.data, &constant)?;
            moved.push((l.range.begin, begin, end, data));
        }
    }
    let form = form(read_unit, moved.iter().map(|m| m.0), map);
    let mut out = Vec::with_capacity(moved.len() + 1);
    if let Form::ResetBase = form {
        out.push(Location::BaseAddress {
            address: Address::Constant(0),
        });
    }
    for (_, begin, end, data) in moved {
        out.push(match form {
            Form::Relative(base) => Location::OffsetPair {
                begin: begin.saturating_sub(base),
                end: end.saturating_sub(base),
                data,
            },
            Form::ResetBase => Location::OffsetPair { begin, end, data },
            Form::Absolute => Location::StartEnd {
                begin: Address::Constant(begin),
                end: Address::Constant(end),
                data,
            },
        });
    }
    Ok(LocationList(out))
}
