//! Rewrites `.debug_aranges` (which gimli does not write): each range at its new addresses, each
//! set pointing at its unit's new `.debug_info` offset.

use super::convert::UnitOffsets;
use super::{AddressMap, DwarfError};
use gimli::read::DebugAranges;
use gimli::{Format, LittleEndian};

/// The new `.debug_aranges` payload for the old one, `data`.
pub fn rewrite(data: &[u8], map: &AddressMap, units: &UnitOffsets) -> Result<Vec<u8>, DwarfError> {
    let aranges = DebugAranges::new(data, LittleEndian);
    let mut headers = aranges.headers();
    let mut out = Vec::new();
    while let Some(header) = headers.next()? {
        let encoding = header.encoding();
        let size = usize::from(encoding.address_size);
        if encoding.format != Format::Dwarf32 || !matches!(size, 4 | 8) {
            return Err(DwarfError::Unsupported("a 64-bit DWARF .debug_aranges set"));
        }
        let Some(&unit) = units.get(&header.debug_info_offset().0) else {
            // A set for a unit that does not exist: nothing to point it at.
            continue;
        };
        let mut ranges = Vec::new();
        let mut entries = header.entries();
        while let Some(entry) = entries.next()? {
            let r = entry.range();
            let (begin, end) = (map.map(r.begin), map.map(r.end));
            if begin < end {
                ranges.push((begin, end - begin));
            }
        }
        let start = out.len();
        out.extend_from_slice(&[0; 4]); // unit_length, patched below
        out.extend_from_slice(&2u16.to_le_bytes());
        out.extend_from_slice(&(unit as u32).to_le_bytes());
        out.push(encoding.address_size);
        out.push(0); // segment selector size
                     // The first tuple is aligned to twice the address size, from the set's start.
        while (out.len() - start) % (2 * size) != 0 {
            out.push(0);
        }
        let word = |out: &mut Vec<u8>, v: u64| out.extend_from_slice(&v.to_le_bytes()[..size]);
        for (begin, length) in ranges {
            word(&mut out, begin);
            word(&mut out, length);
        }
        word(&mut out, 0);
        word(&mut out, 0);
        let length = (out.len() - start - 4) as u32;
        out[start..start + 4].copy_from_slice(&length.to_le_bytes());
    }
    Ok(out)
}
