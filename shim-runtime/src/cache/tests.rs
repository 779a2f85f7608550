//! Tests of the chunk cache: lookups, CLOCK eviction, growth, the budget.

use super::*;

const K4: usize = 4096;

fn put(c: &mut ChunkCache, node: u32, idx: u32) -> usize {
    put_len(c, node, idx, 4)
}

fn put_len(c: &mut ChunkCache, node: u32, idx: u32, len: usize) -> usize {
    let (i, buf) = c.fill(node, idx, len).unwrap();
    // A reused buffer still holds its last chunk, never more than its capacity.
    assert!(buf.len() <= len && buf.capacity() >= len);
    buf.clear();
    buf.resize(len, idx as u8);
    c.filled(i, idx);
    i
}

fn held(c: &ChunkCache) -> usize {
    let sum = c.slots.iter().map(|s| s.1.capacity()).sum();
    assert_eq!(c.bytes(), sum, "the running total matches the buffers");
    sum
}

#[test]
fn the_index_finds_exactly_the_filled_slots_through_evictions_and_forgets() {
    // 3,000 chunks of 4 bytes over 60 nodes through a cache of 700: every find must agree with
    // a scan of the slots, whatever was evicted, dropped (mixed sizes) or forgotten.
    index_agrees_with_a_scan(4);
    // The same in 4 KiB chunks: past `GROW_FREELY`, slots are added only for ghosts.
    index_agrees_with_a_scan(K4);
}

fn index_agrees_with_a_scan(unit: usize) {
    let mut c = ChunkCache::new(700 * unit as u32);
    let mut x: u32 = 0x1234_5678;
    let mut rand = || {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        x
    };
    let mut most = 0;
    for step in 0..30_000u32 {
        let (node, idx) = (rand() % 60, rand() % 50);
        match step % 97 {
            0 => c.forget(node),
            _ if c.find(node, idx).is_some() => {}
            1 => {
                put_len(&mut c, node, idx, 3 * unit);
            }
            _ => {
                put_len(&mut c, node, idx, unit);
            }
        }
        most = most.max(held(&c));
        if step % 1000 == 0 || step % 97 < 2 {
            assert!(held(&c) <= 700 * unit + 3 * unit);
            let filled: std::collections::HashMap<_, _> = (0..c.slots.len())
                .filter(|&s| c.meta[2 * s] != FILLING)
                .map(|s| ((c.slots[s].0, c.meta[2 * s]), s))
                .collect();
            let count = (0..c.slots.len()).filter(|&s| c.meta[2 * s] != FILLING);
            assert_eq!(filled.len(), count.count(), "no key held twice");
            for n in 0..60 {
                for i in 0..50 {
                    let scan = filled.get(&(n, i)).copied();
                    assert_eq!(c.find(n, i), scan, "step {step}: ({n}, {i})");
                }
            }
        }
    }
    assert!(most > 600 * unit, "the cache filled its budget: {most}");
}

#[test]
fn holds_budget_over_chunk_size_slots_and_evicts_one_not_used_again() {
    let mut c = ChunkCache::new(3 * 4);
    for idx in 0..3 {
        put(&mut c, 1, idx);
    }
    assert!(c.find(1, 0).is_some(), "chunk 0 used again");
    put(&mut c, 1, 3);
    assert!(c.find(1, 1).is_none(), "chunk 1 was not used again");
    for idx in [0, 2, 3] {
        let i = c.find(1, idx).unwrap();
        assert_eq!(c.data(i), [idx as u8; 4]);
    }
    assert_eq!(c.slots.len(), 3);
}

#[test]
fn past_its_free_share_the_cache_grows_only_for_chunks_it_evicts_and_meets_again_often() {
    // 4 KiB chunks, a 4 MiB budget: 256 fill freely; a stream of chunks never seen again
    // (reads spread over a file many times the budget) leaves it at that size.
    let free = GROW_FREELY / K4;
    let mut c = ChunkCache::new(4 << 20);
    for idx in 0..4 * free as u32 {
        put_len(&mut c, 1, idx, K4);
    }
    assert_eq!(held(&c), GROW_FREELY, "no growth without a ghost");
    // A chunk evicted a moment ago is asked for again, once after a long stream of others: a
    // larger cache would have hit, but no more often than chance (as in a file many times the
    // cache read uniformly at random).
    let last = 4 * free as u32 - 1;
    assert!(c.find(1, last - free as u32).is_none());
    put_len(&mut c, 1, last - free as u32, K4);
    assert_eq!(held(&c), GROW_FREELY, "a ghost by chance");
    // Then one in two misses is a chunk evicted a moment ago: once that is the recent share, one
    // more slot for each of those.
    for k in 0..64u32 {
        put_len(&mut c, 1, 10_000 + k, K4);
        let again = last - free as u32 + 1 + k;
        if c.find(1, again).is_none() {
            put_len(&mut c, 1, again, K4);
        }
    }
    assert!(held(&c) > GROW_FREELY, "ghosts met often");
    // A working set of 600 chunks read round and round: it ends up cached whole.
    let mut c = ChunkCache::new(4 << 20);
    let mut misses = 0;
    for round in 0..40 {
        misses = 0;
        for idx in 0..600 {
            if c.find(2, idx).is_none() {
                put_len(&mut c, 2, idx, K4);
                misses += 1;
            }
        }
        assert!(held(&c) <= 4 << 20, "round {round}");
    }
    assert_eq!((misses, held(&c)), (0, 600 * K4));
}

#[test]
fn random_reads_fill_the_budget_when_their_file_fits_sequential_ones_continue_the_last() {
    // `reads` 4 KiB reads at odd offsets of a file of `chunks` 4 KiB chunks, uniformly at random.
    let read_at_random = |c: &mut ChunkCache, chunks: u32, reads: u32| {
        let mut rng = wasifs_image::fuzz::Rng(1);
        for _ in 0..reads {
            let idx = rng.below(chunks as usize) as u32;
            c.reading(
                1,
                u64::from(chunks) * 4096,
                u64::from(idx) * 4096 + 100,
                4096,
            );
            put_len(c, 1, idx, K4);
        }
    };
    // A database's pages read at random: cached up to the budget when all of it fits.
    let mut c = ChunkCache::new(4 << 20);
    read_at_random(&mut c, 1024, 3000);
    assert_eq!(held(&c), 4 << 20);
    // P9's file, 8 times the budget, read uniformly at random: a full cache would hit an eighth
    // of the time, and chunks just evicted come back no more often than chance: it stays at 1 MiB.
    let mut c = ChunkCache::new(8 << 20);
    read_at_random(&mut c, 16384, 10_000);
    assert_eq!(held(&c), GROW_FREELY);
    // A file read start to end in 1000-byte reads: sequential, so its chunks take no more.
    let db = 1 << 30;
    let mut c = ChunkCache::new(4 << 20);
    let mut off = 0u64;
    for idx in 0..2000u32 {
        c.reading(2, db, off, 1000);
        off += 1000;
        c.reading(2, db, off, 3096);
        off += 3096;
        put_len(&mut c, 2, idx, K4);
    }
    assert_eq!(held(&c), GROW_FREELY);
    // Another file's read, then this one's continuation: random (the last read was elsewhere)
    // of a file that fits.
    c.reading(3, db, 0, 10);
    c.reading(2, 4 << 20, off, 4096);
    put_len(&mut c, 2, 2000, K4);
    assert_eq!(held(&c), GROW_FREELY + K4);
}

#[test]
fn a_hot_set_among_reads_spread_over_a_large_file_grows_the_cache_until_it_stays() {
    // A database's lookups: each reads one of 400 hot pages (the inner pages of its index) and one
    // leaf of 16,384 at random; 1.6 MiB of hot pages do not fit in the 1 MiB filled freely.
    let mut c = ChunkCache::new(8 << 20);
    let mut rng = wasifs_image::fuzz::Rng(7);
    let mut hot_misses = 0;
    for round in 0..20 {
        hot_misses = 0;
        for _ in 0..2000 {
            let hot = rng.below(400) as u32;
            let leaf = 400 + rng.below(16384) as u32;
            if c.find(1, hot).is_none() {
                put_len(&mut c, 1, hot, K4);
                hot_misses += 1;
            }
            if c.find(1, leaf).is_none() {
                put_len(&mut c, 1, leaf, K4);
            }
            assert!(held(&c) <= 8 << 20, "round {round}");
        }
    }
    // The hot pages found again as ghosts grew it; the leaves alone would not have.
    assert!(
        hot_misses < 20,
        "{hot_misses} misses of hot pages in the last round"
    );
    assert!(held(&c) > 400 * K4, "{}", held(&c));
}

#[test]
fn a_grown_cache_makes_room_for_a_larger_chunk_without_shrinking() {
    let mut c = ChunkCache::new(4 << 20);
    for idx in 0..600 {
        for _ in 0..3 {
            if c.find(1, idx).is_none() {
                put_len(&mut c, 1, idx, K4);
            }
        }
    }
    for idx in 0..600 {
        if c.find(1, idx).is_none() {
            put_len(&mut c, 1, idx, K4);
        }
    }
    let grown = held(&c);
    assert!(grown > GROW_FREELY, "{grown}");
    // A 256 KiB chunk no one evicted: room made by dropping 4 KiB ones, no more, no fewer.
    put_len(&mut c, 2, 0, 64 * K4);
    assert!(
        (grown - K4..=grown).contains(&held(&c)),
        "{grown} -> {}",
        held(&c)
    );
}

#[test]
fn a_budget_below_one_chunk_still_caches_one() {
    let mut c = ChunkCache::new(1);
    put(&mut c, 1, 0);
    assert!(c.find(1, 0).is_some());
    put(&mut c, 1, 1);
    assert!(c.find(1, 0).is_none());
    assert!(c.find(1, 1).is_some());
}

#[test]
fn a_slot_not_marked_filled_is_never_found() {
    let mut c = ChunkCache::new(8);
    let _ = c.fill(1, 0, 4).unwrap();
    assert!(c.find(1, 0).is_none());
}

#[test]
fn forgetting_a_file_frees_only_its_chunks() {
    let mut c = ChunkCache::new(16);
    put(&mut c, 1, 0);
    put(&mut c, 2, 0);
    put(&mut c, 1, 1);
    c.forget(1);
    assert_eq!(c.slots.len(), 1);
    assert!(c.find(2, 0).is_some());
    assert!(c.find(1, 0).is_none());
}

#[test]
fn chunks_of_mixed_sizes_stay_within_the_byte_budget_dropping_ones_not_used_again() {
    let mut c = ChunkCache::new(32);
    for idx in 0..4 {
        put_len(&mut c, 1, idx, 8);
    }
    assert!(c.find(1, 0).is_some(), "chunk 0 used again");
    put_len(&mut c, 2, 0, 16);
    assert_eq!(held(&c), 32);
    assert!(
        c.find(1, 1).is_none() && c.find(1, 2).is_none(),
        "two oldest dropped"
    );
    assert!(c.find(1, 0).is_some() && c.find(1, 3).is_some());
    let i = c.find(2, 0).unwrap();
    assert_eq!(c.data(i), [0; 16]);
    put_len(&mut c, 3, 0, 32);
    assert_eq!(
        (c.slots.len(), held(&c)),
        (1, 32),
        "one chunk as large as the budget"
    );
    put_len(&mut c, 3, 1, 40);
    assert_eq!(
        (c.slots.len(), held(&c)),
        (1, 40),
        "a larger one still gets one slot"
    );
    put_len(&mut c, 3, 2, 8);
    assert_eq!((c.slots.len(), held(&c)), (1, 8));
}

#[test]
fn reads_skewed_toward_some_chunks_of_a_large_file_grow_the_cache_uniform_ones_do_not() {
    // 40,000 reads of a file 8× the budget, chunk ranks drawn from a Zipf law (exponent `s`,
    // ranks scattered over the file); the hit rate of the last 20,000 and the bytes held.
    let run = |s: f64| {
        let n = 16384usize;
        let weights: Vec<f64> = (1..=n).map(|k| (k as f64).powf(-s)).collect();
        let total: f64 = weights.iter().sum();
        let mut acc = 0.0;
        let cdf: Vec<f64> = weights
            .iter()
            .map(|w| {
                acc += w / total;
                acc
            })
            .collect();
        let mut rng = wasifs_image::fuzz::Rng(3);
        let mut c = ChunkCache::new(8 << 20);
        let mut hits = 0;
        for i in 0..40_000 {
            let u = rng.below(1 << 30) as f64 / f64::from(1u32 << 30);
            let rank = cdf.partition_point(|&p| p < u).min(n - 1);
            let idx = (rank as u64 * 2_654_435_761 % n as u64) as u32;
            c.reading(1, n as u64 * 4096, u64::from(idx) * 4096 + 100, 4096);
            if c.find(1, idx).is_some() {
                hits += u32::from(i >= 20_000);
            } else {
                put_len(&mut c, 1, idx, K4);
            }
        }
        (f64::from(hits) / 20_000.0, held(&c))
    };
    // Uniform: no chunk comes back more often than chance; the cache stays at what it fills freely.
    assert_eq!(run(0.0).1, GROW_FREELY);
    // Mildly skewed (a key-value store's lookups): it grows to the budget and hits ~30 % (at 1 MiB
    // it hit 7 %).
    let (rate, held) = run(0.6);
    assert!(rate > 0.2 && held > 4 << 20, "{rate} {held}");
}
