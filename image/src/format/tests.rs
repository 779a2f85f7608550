//! Tests of the image layout: header field offsets, record encodings and the 4 GiB length limit.

use super::*;

#[test]
fn header_encodes_fields_at_documented_offsets() {
    let h = Header {
        version: VERSION,
        total_len: 0x1122_3344,
        chunk_size: 7,
        flags: 0,
        max_write_kib: 0x5566,
        cache_size: 0x0102_0304,
        meta_block_size: 0x4000,
        meta_len: 0x0a0b_0c0d,
        meta_index_off: 0x0e0f_1011,
        dict_off: 0x68,
        dict_len: 0xf000,
        block_dict_off: 0x1_0000,
        block_dict_len: 0x2345,
        block_dict_size: 0x10_0000,
        ..Header::default()
    };
    let b = h.encode();
    assert_eq!(&b[..8], &MAGIC);
    assert_eq!(&b[72..76], &0x5566u32.to_le_bytes());
    assert_eq!(&b[12..16], &0x1122_3344u32.to_le_bytes());
    assert_eq!(total_len(&b), 0x1122_3344);
    assert_eq!(&b[56..60], &7u32.to_le_bytes());
    assert_eq!(&b[80..84], &0x0102_0304u32.to_le_bytes());
    assert_eq!(&b[84..88], &0x4000u32.to_le_bytes());
    assert_eq!(&b[88..92], &0x0a0b_0c0du32.to_le_bytes());
    assert_eq!(&b[92..96], &0x0e0f_1011u32.to_le_bytes());
    assert_eq!(&b[96..100], &0x68u32.to_le_bytes());
    assert_eq!(&b[100..104], &0xf000u32.to_le_bytes());
    assert_eq!(&b[104..108], &0x1_0000u32.to_le_bytes());
    assert_eq!(&b[108..112], &0x2345u32.to_le_bytes());
    assert_eq!(&b[112..116], &0x10_0000u32.to_le_bytes());
    assert_eq!(Header::decode(&b), Ok(h));
}

#[test]
fn policy_block_runs_to_the_end_of_the_metadata_space() {
    let raw = Header {
        total_len: 1000,
        policy_off: 900,
        ..Header::default()
    };
    assert_eq!(raw.policy_len(), 100);
    let compressed = Header {
        meta_block_size: DEFAULT_META_BLOCK_SIZE,
        meta_len: 950,
        ..raw
    };
    assert_eq!(compressed.meta_end(), 950);
    assert_eq!(compressed.policy_len(), 50);
}

#[test]
fn lengths_fit_the_image_up_to_4_gib_minus_one() {
    assert_eq!(len_u32(0), Ok(0));
    assert_eq!(len_u32(MAX_LEN), Ok(u32::MAX));
    assert_eq!(len_u32(MAX_LEN + 1), Err(TooLarge(1 << 32)));
    assert_eq!(len_u32(u64::MAX), Err(TooLarge(u64::MAX)));
}

#[test]
fn node_record_round_trips_and_rejects_unknown_kind() {
    let n = Node {
        id: 9,
        kind: Kind::Symlink,
        chunk_log2: 0,
        mode: 0o777,
        nlink: 1,
        size: 5,
        mtime_ns: 1,
        atime_ns: 2,
        ctime_ns: 3,
        parent: 0,
        a: 100,
        b: 5,
    };
    let mut r = n.encode();
    assert_eq!(Node::decode(9, &r), Ok(n));
    assert_eq!(n.ino(), 10);
    let f = Node {
        kind: Kind::File,
        chunk_log2: 13,
        ..n
    };
    assert_eq!(f.encode()[1], 13, "a file's chunk size (log2) is byte 1");
    assert_eq!(Node::decode(9, &f.encode()), Ok(f));
    assert_eq!(f.chunk_size(), 8192);
    r[0] = 4;
    assert_eq!(Node::decode(9, &r), Err(FormatError::BadNode));
}

#[test]
fn chunk_record_rejects_unknown_codec() {
    let c = Chunk {
        stored_off: 64,
        stored_len: 3,
        codec: Codec::Zstd,
        block_off: 0,
    };
    let mut r = c.encode();
    assert_eq!(Chunk::decode(&r), Ok(c));
    r[8] = CODEC_LZ4;
    assert_eq!(Chunk::decode(&r).map(|c| c.codec), Ok(Codec::Lz4));
    r[8] = CODEC_ZSTD_DICT;
    assert_eq!(Chunk::decode(&r).map(|c| c.codec), Ok(Codec::ZstdDict));
    r[8] = CODEC_ZERO;
    assert_eq!(Chunk::decode(&r).map(|c| c.codec), Ok(Codec::Zero));
    r[8] = 6;
    assert_eq!(Chunk::decode(&r), Err(FormatError::BadChunk));
}

#[test]
fn chunk_record_keeps_codec_in_byte_8_and_block_offset_in_the_24_bits_after() {
    let c = Chunk {
        stored_off: 64,
        stored_len: 3,
        codec: Codec::Packed,
        block_off: 0x0A_BCDE,
    };
    let r = c.encode();
    assert_eq!(&r[8..12], &[CODEC_PACKED, 0xDE, 0xBC, 0x0A]);
    assert_eq!(Chunk::decode(&r), Ok(c));
}

#[test]
fn preopen_readonly_is_flag_bit_zero() {
    let p = Preopen {
        name_off: 1,
        name_len: 2,
        node: 3,
        readonly: true,
    };
    let r = p.encode();
    assert_eq!(&r[12..16], &1u32.to_le_bytes());
    assert_eq!(Preopen::decode(&r), p);
}
