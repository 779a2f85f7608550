//! Joining the app's data segments: only when there are too many, never changing what memory holds.

use super::*;
use std::path::Path;
use wasm_encoder::{
    CodeSection, DataCountSection, EntityType, Function, FunctionSection, ImportSection,
    Instruction, MemorySection, MemoryType, Module, TypeSection,
};

/// A segment of a test module: active at an offset of memory 0 (a constant, or the imported
/// global `env.base`), or passive.
#[derive(Clone)]
enum Seg {
    At(u32, Vec<u8>),
    AtGlobal(Vec<u8>),
    Passive(Vec<u8>),
}

/// A module with `segs`, memory 0 imported or its own (8 pages), and when `init` names a segment,
/// a data count section and a function that `memory.init`s it.
fn module(segs: &[Seg], imported: bool, init: Option<u32>) -> Vec<u8> {
    let mut m = Module::new();
    let mut types = TypeSection::new();
    types.ty().function([], []);
    m.section(&types);
    let memory = MemoryType {
        minimum: 8,
        maximum: None,
        memory64: false,
        shared: false,
        page_size_log2: None,
    };
    let global = segs.iter().any(|s| matches!(s, Seg::AtGlobal(_)));
    if imported || global {
        let mut imports = ImportSection::new();
        if global {
            let ty = wasm_encoder::GlobalType {
                val_type: wasm_encoder::ValType::I32,
                mutable: false,
                shared: false,
            };
            imports.import("env", "base", EntityType::Global(ty));
        }
        if imported {
            imports.import("env", "memory", EntityType::Memory(memory));
        }
        m.section(&imports);
    }
    if init.is_some() {
        let mut funcs = FunctionSection::new();
        funcs.function(0);
        m.section(&funcs);
    }
    if !imported {
        let mut mems = MemorySection::new();
        mems.memory(memory);
        m.section(&mems);
    }
    if init.is_some() {
        m.section(&DataCountSection {
            count: segs.len() as u32,
        });
    }
    if let Some(seg) = init {
        let mut code = CodeSection::new();
        let mut f = Function::new([]);
        for i in [
            Instruction::I32Const(0),
            Instruction::I32Const(0),
            Instruction::I32Const(0),
            Instruction::MemoryInit {
                mem: 0,
                data_index: seg,
            },
            Instruction::End,
        ] {
            f.instruction(&i);
        }
        code.function(&f);
        m.section(&code);
    }
    let mut data = DataSection::new();
    for s in segs {
        match s {
            Seg::At(at, bytes) => data.active(0, &ConstExpr::i32_const(*at as i32), bytes.clone()),
            Seg::AtGlobal(bytes) => data.active(0, &ConstExpr::global_get(0), bytes.clone()),
            Seg::Passive(bytes) => data.passive(bytes.clone()),
        };
    }
    m.section(&data);
    m.finish()
}

/// The `count` segments `entries` holds (a data section's payload after its count), in order.
fn each_segment(entries: &[u8], count: u32, mut f: impl FnMut(wasmparser::Data<'_>)) {
    let mut payload = Vec::new();
    wasm_encoder::Encode::encode(&count, &mut payload);
    payload.extend_from_slice(entries);
    let reader = wasmparser::DataSectionReader::new(wasmparser::BinaryReader::new(&payload, 0))
        .expect("a data section");
    for data in reader {
        f(data.expect("a segment"));
    }
}

/// What memory 0 holds once `entries` (a data section's segments, in order) are applied.
fn memory_after(entries: &[u8], count: u32) -> Vec<u8> {
    let mut memory = vec![0u8; 8 << 16];
    each_segment(entries, count, |data| {
        // A segment at `env.base` is left out: the tests that have one compare no memory.
        if let DataKind::Active { offset_expr, .. } = data.kind {
            if let Some((at, _)) = constant(&offset_expr) {
                memory[at as usize..at as usize + data.data.len()].copy_from_slice(data.data);
            }
        }
    });
    memory
}

/// The bytes of the `count` segments `entries` holds.
fn data_bytes(entries: &[u8], count: u32) -> usize {
    let mut total = 0;
    each_segment(entries, count, |data| total += data.data.len());
    total
}

/// The bytes of the test segments `segs`.
fn raw_bytes(segs: &[Seg]) -> usize {
    segs.iter()
        .map(|s| match s {
            Seg::At(_, b) | Seg::Passive(b) | Seg::AtGlobal(b) => b.len(),
        })
        .sum()
}

/// The app's segments as [`app_data`] gives them beside `others` more, and memory before and after.
fn joined(bytes: &[u8], others: u32) -> Result<(AppData, Vec<u8>, Vec<u8>), MergeError> {
    let app = ModuleInfo::parse(Path::new("app.wasm"), bytes, true, false).expect("parses");
    let out = app_data(&app, others)?;
    let section = app
        .sections
        .iter()
        .find(|s| s.id == 11)
        .expect("data section");
    let payload = &bytes[section.payload.clone()];
    let mut r = wasmparser::BinaryReader::new(payload, 0);
    let count = r.read_var_u32().expect("count");
    let before = memory_after(&payload[r.current_position()..], count);
    let entries = out
        .joined
        .clone()
        .unwrap_or_else(|| payload[r.current_position()..].to_vec());
    let after = memory_after(&entries, out.count);
    Ok((out, before, after))
}

/// `n` one- to three-byte segments, each after the previous one by a gap of 0-5 bytes (gap `i % 6`,
/// so the smallest gaps come first in every run of six).
fn many(n: u32) -> Vec<Seg> {
    let mut at = 16;
    (0..n)
        .map(|i| {
            let bytes = vec![(i % 251) as u8 + 1; 1 + (i % 3) as usize];
            let seg = Seg::At(at, bytes.clone());
            at += bytes.len() as u32 + (i * 7) % 6;
            seg
        })
        .collect()
}

#[test]
fn segments_within_the_limit_go_into_the_output_as_they_are() {
    let (out, _, _) = joined(&module(&many(1000), false, None), 13).unwrap();
    assert_eq!(out.count, 1000);
    assert!(out.joined.is_none());
}

#[test]
fn segments_past_the_limit_are_joined_just_enough_without_changing_what_memory_holds() {
    let segs = many(MAX_SEGMENTS);
    let (out, before, after) = joined(&module(&segs, false, None), 13).unwrap();
    assert_eq!(out.count, MAX_SEGMENTS - 13);
    assert!(before == after, "memory holds the same bytes");
    // Thirteen joins over gaps of no bytes (there are enough): not one byte more.
    let joined_bytes = data_bytes(out.joined.as_deref().unwrap(), out.count);
    assert_eq!(joined_bytes, raw_bytes(&segs));
    // Each segment maps to the one holding it; the joined ones' followers are dropped.
    let IndexMap::Table(table) = &out.remap else {
        panic!("a table")
    };
    assert_eq!(table.iter().filter(|&&t| t == DROPPED).count(), 13);
}

#[test]
fn a_gap_that_another_segment_writes_is_never_filled_with_zeros() {
    // Segment 0 writes byte 100; segments 1 and 2 are 90..100 and 101..110, neighbours by index
    // with that byte between them: joining them over it would zero it.
    let mut segs = vec![
        Seg::At(100, vec![7]),
        Seg::At(90, vec![1; 10]),
        Seg::At(101, vec![2; 9]),
    ];
    // The others two bytes apart: that one-byte gap is the smallest.
    segs.extend((0..MAX_SEGMENTS - 3).map(|i| Seg::At(4096 + 3 * i, vec![3])));
    let (out, before, after) = joined(&module(&segs, false, None), 13).unwrap();
    assert!(before == after);
    let IndexMap::Table(table) = &out.remap else {
        panic!("a table")
    };
    assert_eq!(&table[..3], &[0, 1, 2], "the first three stay apart");
}

#[test]
fn segments_that_memory_init_names_keep_their_indices() {
    let mut segs = many(10);
    segs.push(Seg::Passive(b"passive".to_vec()));
    segs.extend(many(MAX_SEGMENTS - 11).into_iter().map(|s| match s {
        Seg::At(at, b) => Seg::At(at + 65536, b),
        other => other,
    }));
    let (out, before, after) = joined(&module(&segs, false, Some(10)), 13).unwrap();
    assert!(before == after);
    let IndexMap::Table(table) = &out.remap else {
        panic!("a table")
    };
    let kept: Vec<u32> = (0..=10).collect();
    assert_eq!(
        &table[..=10],
        &kept[..],
        "segments up to the named one keep their indices"
    );
    assert_eq!(out.count, MAX_SEGMENTS - 13);
}

#[test]
fn in_an_imported_memory_only_touching_segments_are_joined() {
    // The host may have written the gaps: only segments that touch may join.
    let mut segs = many(MAX_SEGMENTS);
    let (out, before, after) = joined(&module(&segs, true, None), 13).unwrap();
    assert!(before == after);
    assert_eq!(out.count, MAX_SEGMENTS - 13);
    // Spread apart, none touch: an error that names the limit.
    for (i, s) in segs.iter_mut().enumerate() {
        if let Seg::At(at, _) = s {
            *at = 16 + 4 * i as u32;
        }
    }
    let err = joined(&module(&segs, true, None), 13).expect_err("too many");
    let message = err.to_string();
    assert!(
        message.contains("100000 data segments") && message.contains("99987"),
        "{message}"
    );
}

#[test]
fn passive_segments_are_never_joined() {
    let segs = vec![Seg::Passive(vec![1]); MAX_SEGMENTS as usize];
    assert!(matches!(
        joined(&module(&segs, false, None), 13),
        Err(MergeError::TooManySegments {
            have: MAX_SEGMENTS,
            room: 99_987
        })
    ));
}

#[test]
fn random_layouts_are_joined_only_where_memory_ends_up_the_same() {
    // Segments in the first few KiB (overlapping, touching, apart), some passive, some named by
    // memory.init, in a memory of the module's own or imported; `excess` joins asked.
    let mut state = 0x2545_f491_4f6c_dd1d_u64;
    let mut next = |n: u64| {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state % n
    };
    let mut joined_cases = 0;
    for _ in 0..300 {
        let n = 20 + next(60) as u32;
        let mut end = 0;
        let segs: Vec<Seg> = (0..n)
            .map(|i| {
                let bytes = vec![1 + (i % 250) as u8; next(40) as usize];
                // Mostly after the one before, as linkers lay them out; now and then anywhere.
                let at = match next(4) {
                    0 => next(2000) as u32,
                    _ => end + next(8) as u32,
                };
                match next(8) {
                    0 => Seg::Passive(bytes),
                    _ => {
                        end = at + bytes.len() as u32;
                        Seg::At(at, bytes)
                    }
                }
            })
            .collect();
        let init = (next(3) == 0).then(|| next(u64::from(n)) as u32);
        let imported = next(4) == 0;
        let excess = 1 + next(6) as u32;
        let others = MAX_SEGMENTS - n + excess;
        match joined(&module(&segs, imported, init), others) {
            Ok((out, before, after)) => {
                joined_cases += 1;
                assert!(before == after, "memory holds the same bytes");
                assert_eq!(out.count, n - excess);
                let IndexMap::Table(table) = &out.remap else {
                    panic!("a table")
                };
                let named = init.map_or(0, |k| k as usize + 1);
                let kept: Vec<u32> = (0..named as u32).collect();
                assert_eq!(
                    &table[..named],
                    &kept[..],
                    "up to the named segment: as they were"
                );
            }
            Err(MergeError::TooManySegments { have, .. }) => assert_eq!(have, n),
            Err(e) => panic!("{e}"),
        }
    }
    assert!(
        joined_cases > 100,
        "only {joined_cases} cases joined anything"
    );
}

#[test]
fn a_segment_at_an_unknown_offset_leaves_only_touching_segments_to_join() {
    // Where `global.get` puts it is known only at instantiation: no gap may be zeroed.
    let mut segs = many(MAX_SEGMENTS - 1);
    segs.insert(5, Seg::AtGlobal(vec![9; 4]));
    let (out, _, _) = joined(&module(&segs, false, None), 13).unwrap();
    assert_eq!(out.count, MAX_SEGMENTS - 13);
    let data = raw_bytes(&segs);
    assert_eq!(
        data_bytes(out.joined.as_deref().unwrap(), out.count),
        data,
        "no zeros added"
    );
}
