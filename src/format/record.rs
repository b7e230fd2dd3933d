//! Segment records and headers: encoding and checked decoding (format-spec.md §3).
//!
//! Decoders take bytes that may be garbage (a torn tail, a damaged file, a racing read) and
//! return `None` or an error for them; they never panic and never allocate from a length read
//! off disk before checking it against the bytes actually available.

use zerocopy::little_endian::{U16, U32, U64};
use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout};

/// Record kinds (format-spec.md §3.2).
pub(crate) const KIND_PUT: u8 = 1;
pub(crate) const KIND_DEL: u8 = 2;
pub(crate) const KIND_COMMIT: u8 = 3;
pub(crate) const KIND_SEAL: u8 = 4;

/// Flag bit: an 8-byte expiry time follows the fixed header.
pub(crate) const FLAG_EXPIRES: u8 = 1;
/// Flag bit: the key is in the internal namespace (collection pages), not a user key.
pub(crate) const FLAG_INTERNAL: u8 = 2;

/// Fixed part of a record header: crc 4, kind 1, vtype 1, flags 1, reserved 1, key_len 2,
/// reserved 2, val_len 4, txn 8.
pub(crate) const RECORD_HEADER_LEN: usize = 4 + 1 + 1 + 1 + 1 + 2 + 2 + 4 + 8;

/// Largest key accepted.
pub(crate) const MAX_KEY_LEN: usize = u16::MAX as usize;

/// Segment header length (format-spec.md §3.1).
pub(crate) const SEGMENT_HEADER_LEN: usize = 64;
pub(crate) const SEGMENT_MAGIC: [u8; 8] = *b"ZGSEG\r\n\x1a";
/// The format version of the manifest, the segment header (read and write version) and the
/// index header (format-spec.md §15): every change to any on-disk layout bumps it.
pub(crate) const FORMAT_VERSION: u16 = 2;
/// The read and write version of a **large** segment: one started for a transaction (or,
/// compacted, a record) longer than the segment size, which the file outgrows
/// (format-spec.md §3.3, §15). Other segments keep [`FORMAT_VERSION`]; a build that knows
/// only that refuses a large segment (`IncompatibleVersion`) instead of misjudging it.
pub(crate) const LARGE_SEGMENT_VERSION: u16 = 3;

/// Segment kinds.
pub(crate) const SEG_LOG: u8 = 1;
pub(crate) const SEG_COMPACTED: u8 = 2;

/// A decoded record borrowing its key and value from the buffer it was read from
/// (format-spec.md §3.2). Public only through the hidden `internals` module.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Record<'a> {
    /// 1 PUT, 2 DEL, 3 COMMIT, 4 SEAL.
    pub kind: u8,
    /// Value type.
    pub vtype: u8,
    /// Transaction id.
    pub txn: u64,
    /// Expiry in milliseconds since the Unix epoch; 0 = none.
    pub expires_at: u64,
    /// The key is in the internal namespace.
    pub internal: bool,
    /// Key bytes.
    pub key: &'a [u8],
    /// Value bytes.
    pub value: &'a [u8],
    /// Total encoded length.
    pub len: usize,
    /// Offset of the value within the buffer the record was decoded from.
    pub value_offset: usize,
}

/// Why a record could not be decoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum DecodeError {
    /// Fewer bytes than the header or the lengths need: a torn or unwritten tail.
    Truncated,
    /// Kind byte is zero: unwritten (preallocated) space.
    Empty,
    /// Unknown kind, reserved bits set, or impossible lengths.
    Malformed,
    /// The checksum does not match.
    Checksum { expected: u32, found: u32 },
}

impl DecodeError {
    pub(crate) fn reason(self) -> &'static str {
        match self {
            DecodeError::Truncated => "record runs past the end of the file",
            DecodeError::Empty => "unwritten space where a record was expected",
            DecodeError::Malformed => "malformed record header",
            DecodeError::Checksum { .. } => "record checksum mismatch",
        }
    }
}

/// Encoded size of a record.
pub(crate) const fn record_len(key_len: usize, val_len: usize, has_expiry: bool) -> usize {
    RECORD_HEADER_LEN + if has_expiry { 8 } else { 0 } + key_len + val_len
}

/// Appends one encoded record for a user key to `out`.
pub(crate) fn encode_record(
    out: &mut Vec<u8>,
    kind: u8,
    vtype: u8,
    txn: u64,
    expires_at: u64,
    key: &[u8],
    value: &[u8],
) {
    encode_record_ns(out, kind, vtype, txn, expires_at, false, key, value);
}

/// Appends one encoded record to `out`, in the internal namespace if `internal`.
#[allow(clippy::too_many_arguments)]
pub(crate) fn encode_record_ns(
    out: &mut Vec<u8>,
    kind: u8,
    vtype: u8,
    txn: u64,
    expires_at: u64,
    internal: bool,
    key: &[u8],
    value: &[u8],
) {
    encode_record_head(out, kind, vtype, txn, expires_at, internal, key, value);
    out.extend_from_slice(value);
}

/// Appends one encoded record to `out` without its value, which the caller writes right
/// after it: the header (its checksum covering `value` too) and the key.
#[allow(clippy::too_many_arguments)]
pub(crate) fn encode_record_head(
    out: &mut Vec<u8>,
    kind: u8,
    vtype: u8,
    txn: u64,
    expires_at: u64,
    internal: bool,
    key: &[u8],
    value: &[u8],
) {
    let start = out.len();
    let flags =
        if expires_at != 0 { FLAG_EXPIRES } else { 0 } | if internal { FLAG_INTERNAL } else { 0 };
    out.extend_from_slice(&[0; 4]); // crc, filled below
    out.push(kind);
    out.push(vtype);
    out.push(flags);
    out.push(0);
    // Callers check MAX_KEY_LEN and the segment size before encoding.
    out.extend_from_slice(&u16::try_from(key.len()).unwrap_or(u16::MAX).to_le_bytes());
    out.extend_from_slice(&[0; 2]);
    out.extend_from_slice(&u32::try_from(value.len()).unwrap_or(u32::MAX).to_le_bytes());
    out.extend_from_slice(&txn.to_le_bytes());
    if expires_at != 0 {
        out.extend_from_slice(&expires_at.to_le_bytes());
    }
    out.extend_from_slice(key);
    let mut crc = crc32fast::Hasher::new();
    crc.update(&out[start + 4..]);
    crc.update(value);
    out[start..start + 4].copy_from_slice(&crc.finalize().to_le_bytes());
}

fn le_u16(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_le_bytes(b.get(at..at + 2)?.try_into().ok()?))
}
fn le_u32(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_le_bytes(b.get(at..at + 4)?.try_into().ok()?))
}
pub(crate) fn le_u64(b: &[u8], at: usize) -> Option<u64> {
    Some(u64::from_le_bytes(b.get(at..at + 8)?.try_into().ok()?))
}

/// Decodes the record at the start of `buf`, checking its checksum.
pub(crate) fn decode_record(buf: &[u8]) -> Result<Record<'_>, DecodeError> {
    decode_record_checked(buf, true)
}

/// Decodes the record at the start of `buf`; with `verify` false the checksum is not
/// computed (for a record this process has already verified: records never change).
pub(crate) fn decode_record_checked(buf: &[u8], verify: bool) -> Result<Record<'_>, DecodeError> {
    let hdr = buf.get(..RECORD_HEADER_LEN).ok_or(DecodeError::Truncated)?;
    let kind = hdr[4];
    if kind == 0 {
        return Err(DecodeError::Empty);
    }
    let vtype = hdr[5];
    let flags = hdr[6];
    if !(KIND_PUT..=KIND_SEAL).contains(&kind)
        || flags & !(FLAG_EXPIRES | FLAG_INTERNAL) != 0
        || hdr[7] != 0
    {
        return Err(DecodeError::Malformed);
    }
    let key_len = usize::from(le_u16(hdr, 8).ok_or(DecodeError::Truncated)?);
    if le_u16(hdr, 10) != Some(0) {
        return Err(DecodeError::Malformed);
    }
    let val_len = le_u32(hdr, 12).ok_or(DecodeError::Truncated)? as usize;
    let txn = le_u64(hdr, 16).ok_or(DecodeError::Truncated)?;
    let has_exp = flags & FLAG_EXPIRES != 0;
    let len = RECORD_HEADER_LEN
        .checked_add(if has_exp { 8 } else { 0 })
        .and_then(|l| l.checked_add(key_len))
        .and_then(|l| l.checked_add(val_len))
        .ok_or(DecodeError::Malformed)?;
    let body = buf.get(..len).ok_or(DecodeError::Truncated)?;
    if verify {
        let expected = le_u32(body, 0).ok_or(DecodeError::Truncated)?;
        let found = crc32fast::hash(body.get(4..).ok_or(DecodeError::Truncated)?);
        if expected != found {
            return Err(DecodeError::Checksum { expected, found });
        }
    }
    let mut at = RECORD_HEADER_LEN;
    let expires_at = if has_exp {
        let e = le_u64(body, at).ok_or(DecodeError::Truncated)?;
        at += 8;
        e
    } else {
        0
    };
    let key = body.get(at..at + key_len).ok_or(DecodeError::Truncated)?;
    let value_offset = at + key_len;
    let value = body.get(value_offset..len).ok_or(DecodeError::Truncated)?;
    Ok(Record {
        kind,
        vtype,
        txn,
        expires_at,
        internal: flags & FLAG_INTERNAL != 0,
        key,
        value,
        len,
        value_offset,
    })
}

/// Encodes a segment header (format-spec.md §3.1). `db_id` is the manifest's database id:
/// it is what lets a sweep tell this database's leftover files from anyone else's (§6.3).
#[cfg(test)]
pub(crate) fn encode_segment_header(
    id: u32,
    kind: u8,
    created_txn: u64,
    db_id: u32,
) -> [u8; SEGMENT_HEADER_LEN] {
    encode_segment_header_as(id, kind, created_txn, db_id, false)
}

/// [`encode_segment_header`] of a large segment (read and write version
/// [`LARGE_SEGMENT_VERSION`]) if `large`, of an ordinary one otherwise.
pub(crate) fn encode_segment_header_as(
    id: u32,
    kind: u8,
    created_txn: u64,
    db_id: u32,
    large: bool,
) -> [u8; SEGMENT_HEADER_LEN] {
    let version = if large {
        LARGE_SEGMENT_VERSION
    } else {
        FORMAT_VERSION
    };
    let mut h = RawSegmentHeader {
        magic: SEGMENT_MAGIC,
        read_version: U16::new(version),
        write_version: U16::new(version),
        kind,
        reserved0: [0; 3],
        segment_id: U32::new(id),
        db_id: U32::new(db_id),
        created_txn: U64::new(created_txn),
        reserved2: [0; 28],
        header_crc: U32::new(0),
    };
    h.header_crc = U32::new(crc32fast::hash(&h.as_bytes()[..60]));
    let mut out = [0u8; SEGMENT_HEADER_LEN];
    out.copy_from_slice(h.as_bytes());
    out
}

/// The 64-byte segment header exactly as laid out on disk (format-spec.md §3.1); every
/// multi-byte field is little-endian whatever the host.
#[derive(FromBytes, IntoBytes, KnownLayout, Immutable)]
#[repr(C)]
struct RawSegmentHeader {
    magic: [u8; 8],
    read_version: U16,
    write_version: U16,
    kind: u8,
    reserved0: [u8; 3],
    segment_id: U32,
    db_id: U32,
    created_txn: U64,
    reserved2: [u8; 28],
    header_crc: U32,
}

/// A decoded segment header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct SegmentHeader {
    pub id: u32,
    pub kind: u8,
    pub created_txn: u64,
    /// The id of the database that wrote the segment (0 if written before segments carried
    /// one).
    pub db_id: u32,
    /// A large segment (read version [`LARGE_SEGMENT_VERSION`]): it may be longer than the
    /// segment size (format-spec.md §3.3).
    pub large: bool,
}

/// Why a segment header was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum HeaderError {
    Short,
    Magic,
    Checksum,
    Version(u16),
    Malformed,
}

/// Decodes and checks a segment header.
pub(crate) fn decode_segment_header(b: &[u8]) -> Result<SegmentHeader, HeaderError> {
    let bytes = b.get(..SEGMENT_HEADER_LEN).ok_or(HeaderError::Short)?;
    let h = RawSegmentHeader::ref_from_bytes(bytes).map_err(|_| HeaderError::Short)?;
    if h.magic != SEGMENT_MAGIC {
        return Err(HeaderError::Magic);
    }
    if h.header_crc.get() != crc32fast::hash(&bytes[..60]) {
        return Err(HeaderError::Checksum);
    }
    let read_version = h.read_version.get();
    if read_version > LARGE_SEGMENT_VERSION || read_version == 0 {
        return Err(HeaderError::Version(read_version));
    }
    if h.kind != SEG_LOG && h.kind != SEG_COMPACTED {
        return Err(HeaderError::Malformed);
    }
    Ok(SegmentHeader {
        id: h.segment_id.get(),
        kind: h.kind,
        created_txn: h.created_txn.get(),
        db_id: h.db_id.get(),
        large: read_version == LARGE_SEGMENT_VERSION,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn record_round_trips_and_sizes_match_spec() {
        assert_eq!(RECORD_HEADER_LEN, 24);
        let mut buf = Vec::new();
        encode_record(&mut buf, KIND_PUT, 2, 77, 0, b"key", b"value");
        assert_eq!(buf.len(), record_len(3, 5, false));
        let r = decode_record(&buf).unwrap();
        assert_eq!(
            (r.kind, r.vtype, r.txn, r.key, r.value),
            (KIND_PUT, 2, 77, &b"key"[..], &b"value"[..])
        );
        buf.clear();
        encode_record(&mut buf, KIND_PUT, 1, 1, 12345, b"k", b"");
        assert_eq!(buf.len(), record_len(1, 0, true));
        assert_eq!(decode_record(&buf).unwrap().expires_at, 12345);
    }

    #[test]
    fn a_head_written_apart_from_its_value_is_the_same_record() {
        let value = vec![7u8; 100_000];
        let mut whole = Vec::new();
        encode_record_ns(&mut whole, KIND_PUT, 1, 9, 1234, true, b"k", &value);
        let mut head = Vec::new();
        encode_record_head(&mut head, KIND_PUT, 1, 9, 1234, true, b"k", &value);
        assert_eq!(head.len() + value.len(), whole.len());
        head.extend_from_slice(&value);
        assert_eq!(head, whole);
        assert_eq!(decode_record(&head).unwrap().value, &value[..]);
    }

    #[test]
    fn every_single_bit_flip_is_detected() {
        let mut buf = Vec::new();
        encode_record(&mut buf, KIND_PUT, 1, 9, 0, b"abc", b"0123456789");
        for i in 0..buf.len() * 8 {
            let mut b = buf.clone();
            b[i / 8] ^= 1 << (i % 8);
            let ok = matches!(decode_record(&b), Ok(r) if r.key == b"abc" && r.value == b"0123456789" && r.txn == 9);
            assert!(!ok || b == buf, "flip of bit {i} went unnoticed");
        }
    }

    #[test]
    fn truncations_are_reported_not_panics() {
        let mut buf = Vec::new();
        encode_record(&mut buf, KIND_DEL, 0, 3, 0, b"gone", b"");
        for n in 0..buf.len() {
            assert!(decode_record(&buf[..n]).is_err());
        }
        assert_eq!(decode_record(&[0u8; 64]), Err(DecodeError::Empty));
    }

    #[test]
    fn segment_header_layout_matches_spec() {
        assert_eq!(std::mem::size_of::<RawSegmentHeader>(), SEGMENT_HEADER_LEN);
        let h = encode_segment_header(
            0x0102_0304,
            SEG_COMPACTED,
            0x1122_3344_5566_7788,
            0x0a0b_0c0d,
        );
        assert_eq!(&h[0..8], &SEGMENT_MAGIC);
        assert_eq!(&h[8..12], &[2, 0, 2, 0]);
        assert_eq!(h[12], SEG_COMPACTED);
        assert_eq!(&h[16..20], &[4, 3, 2, 1]);
        assert_eq!(&h[20..24], &[0x0d, 0x0c, 0x0b, 0x0a]);
        assert_eq!(&h[24..32], &0x1122_3344_5566_7788u64.to_le_bytes());
        assert!(h[32..60].iter().all(|&b| b == 0));
        assert_eq!(&h[60..64], &crc32fast::hash(&h[..60]).to_le_bytes());
    }

    #[test]
    fn segment_header_checks_version_and_crc() {
        let h = encode_segment_header(7, SEG_LOG, 42, 99);
        assert_eq!(
            decode_segment_header(&h),
            Ok(SegmentHeader {
                id: 7,
                kind: SEG_LOG,
                created_txn: 42,
                db_id: 99,
                large: false,
            })
        );
        let large = encode_segment_header_as(7, SEG_LOG, 42, 99, true);
        assert_eq!(&large[8..12], &[3, 0, 3, 0]);
        assert!(decode_segment_header(&large).is_ok_and(|h| h.large && h.id == 7));
        let mut bad = h;
        bad[8] = 9;
        let crc = crc32fast::hash(&bad[..60]);
        bad[60..64].copy_from_slice(&crc.to_le_bytes());
        assert_eq!(decode_segment_header(&bad), Err(HeaderError::Version(9)));
        let mut torn = h;
        torn[20] ^= 1;
        assert_eq!(decode_segment_header(&torn), Err(HeaderError::Checksum));
    }
}
