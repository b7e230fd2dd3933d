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

/// Kind byte of a short PUT with its value type in the next byte (format-spec.md §3.2.1),
/// the flag bits added to it: a PUT with its lengths and txn id as varints, written by
/// compaction into compacted segments only.
pub(crate) const KIND_SHORT_PUT: u8 = 0x10;
/// The kind bits of a short PUT's kind byte; the low two bits are its flags.
const SHORT_KIND_MASK: u8 = 0xFC;
/// Kind byte bit of a short PUT whose value type (below [`PACKED_VTYPES`]) is in bits 2–6 of
/// the kind byte itself.
pub(crate) const KIND_PACKED_PUT: u8 = 0x80;
/// Value types a packed short PUT can hold.
const PACKED_VTYPES: u8 = 32;
/// Segment read and write version of a compacted segment that holds short PUTs
/// (format-spec.md §3.1, §15): builds that do not know the short form refuse such a segment.
pub(crate) const SHORT_RECORD_VERSION: u16 = 3;
/// The highest segment read version this build reads.
pub(crate) const MAX_SEGMENT_VERSION: u16 = if SHORT_RECORD_VERSION > LARGE_SEGMENT_VERSION {
    SHORT_RECORD_VERSION
} else {
    LARGE_SEGMENT_VERSION
};

/// The largest value, as the largest string Redis builds by `APPEND` or `SETRANGE` (its
/// `proto-max-bulk-len`, 512 MiB). A value longer than a segment goes into a large segment
/// (format-spec.md §3.3, §14).
pub const MAX_STRING_LEN: usize = 512 << 20;

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
    /// Encoded as a short PUT (format-spec.md §3.2.1); `kind` is then `KIND_PUT`.
    pub short: bool,
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

/// A record's header as read from its first bytes, before its key and value: what a
/// reader needs to find them (format-spec.md §3.2, §3.2.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Head {
    /// 1 PUT (a short PUT too), 2 DEL, 3 COMMIT, 4 SEAL.
    pub kind: u8,
    pub vtype: u8,
    /// Flag bits (`FLAG_EXPIRES`, `FLAG_INTERNAL`).
    pub flags: u8,
    pub txn: u64,
    pub key_len: usize,
    pub val_len: usize,
    /// Bytes before the expiry time (or before the key if there is none).
    pub fixed_len: usize,
    pub short: bool,
}

impl Head {
    /// Offset of the key from the start of the record.
    pub(crate) fn key_offset(&self) -> usize {
        self.fixed_len + if self.flags & FLAG_EXPIRES != 0 { 8 } else { 0 }
    }

    /// Total encoded length, `None` if it overflows.
    pub(crate) fn len(&self) -> Option<usize> {
        self.key_offset()
            .checked_add(self.key_len)?
            .checked_add(self.val_len)
    }

    pub(crate) fn expires(&self) -> bool {
        self.flags & FLAG_EXPIRES != 0
    }

    pub(crate) fn internal(&self) -> bool {
        self.flags & FLAG_INTERNAL != 0
    }
}

/// An unsigned LEB128 varint at `*at` of at most `max_bytes` bytes and at most `max`,
/// advancing `*at`. Overlong encodings (a last byte of zero after the first) are refused,
/// so that every value has exactly one encoding.
fn get_varint(b: &[u8], at: &mut usize, max_bytes: usize, max: u64) -> Result<u64, DecodeError> {
    let mut v = 0u64;
    for i in 0..max_bytes {
        let byte = *b.get(*at + i).ok_or(DecodeError::Truncated)?;
        let bits = u64::from(byte & 0x7F);
        let shift = 7 * i as u32;
        if shift >= 64 || (shift > 0 && bits >> (64 - shift) != 0) {
            return Err(DecodeError::Malformed);
        }
        v |= bits << shift;
        if byte & 0x80 == 0 {
            if i > 0 && byte == 0 {
                return Err(DecodeError::Malformed);
            }
            *at += i + 1;
            return if v > max {
                Err(DecodeError::Malformed)
            } else {
                Ok(v)
            };
        }
    }
    Err(DecodeError::Malformed)
}

fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

const fn varint_len(v: u64) -> usize {
    (64 - (v | 1).leading_zeros() as usize).div_ceil(7)
}

/// Reads the header at the start of `b`, in either form, checking kind, flags and reserved
/// bytes but not the checksum. Needs only the header's own bytes (at most
/// `RECORD_HEADER_LEN`; a short PUT's may be fewer).
pub(crate) fn parse_head(b: &[u8]) -> Result<Head, DecodeError> {
    let kind = *b.get(4).ok_or(DecodeError::Truncated)?;
    if kind == 0 {
        return Err(DecodeError::Empty);
    }
    let packed = kind & KIND_PACKED_PUT != 0;
    if packed || kind & SHORT_KIND_MASK == KIND_SHORT_PUT {
        let (vtype, mut at) = if packed {
            ((kind >> 2) & (PACKED_VTYPES - 1), 5)
        } else {
            let vtype = *b.get(5).ok_or(DecodeError::Truncated)?;
            // A type that fits the kind byte is always written there (one encoding each).
            if vtype < PACKED_VTYPES {
                return Err(DecodeError::Malformed);
            }
            (vtype, 6)
        };
        let key_len = get_varint(b, &mut at, 3, MAX_KEY_LEN as u64)? as usize;
        let val_len = get_varint(b, &mut at, 5, u64::from(u32::MAX))? as usize;
        let txn = get_varint(b, &mut at, 10, u64::MAX)?;
        // Txn ids start at 1; only a SEAL, never a short PUT, carries 0.
        if txn == 0 {
            return Err(DecodeError::Malformed);
        }
        return Ok(Head {
            kind: KIND_PUT,
            vtype,
            flags: kind & (FLAG_EXPIRES | FLAG_INTERNAL),
            txn,
            key_len,
            val_len,
            fixed_len: at,
            short: true,
        });
    }
    let hdr = b.get(..RECORD_HEADER_LEN).ok_or(DecodeError::Truncated)?;
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
    Ok(Head {
        kind,
        vtype,
        flags,
        txn,
        key_len,
        val_len,
        fixed_len: RECORD_HEADER_LEN,
        short: false,
    })
}

/// Encoded size of a short PUT (format-spec.md §3.2.1).
pub(crate) const fn short_record_len(
    vtype: u8,
    key_len: usize,
    val_len: usize,
    txn: u64,
    has_expiry: bool,
) -> usize {
    5 + if vtype < PACKED_VTYPES { 0 } else { 1 }
        + varint_len(key_len as u64)
        + varint_len(val_len as u64)
        + varint_len(txn)
        + if has_expiry { 8 } else { 0 }
        + key_len
        + val_len
}

/// Appends a short PUT (format-spec.md §3.2.1) without its value, which the caller writes
/// right after it: the header (its checksum covering `value` too) and the key. Callers
/// check `MAX_KEY_LEN` and the segment size before encoding.
pub(crate) fn encode_short_head(
    out: &mut Vec<u8>,
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
    if vtype < PACKED_VTYPES {
        out.push(KIND_PACKED_PUT | vtype << 2 | flags);
    } else {
        out.push(KIND_SHORT_PUT | flags);
        out.push(vtype);
    }
    put_varint(out, key.len() as u64);
    put_varint(out, value.len() as u64);
    put_varint(out, txn);
    if expires_at != 0 {
        out.extend_from_slice(&expires_at.to_le_bytes());
    }
    out.extend_from_slice(key);
    let mut crc = crc32fast::Hasher::new();
    crc.update(&out[start + 4..]);
    crc.update(value);
    out[start..start + 4].copy_from_slice(&crc.finalize().to_le_bytes());
}

/// Appends a whole short PUT (format-spec.md §3.2.1).
pub(crate) fn encode_short_put(
    out: &mut Vec<u8>,
    vtype: u8,
    txn: u64,
    expires_at: u64,
    internal: bool,
    key: &[u8],
    value: &[u8],
) {
    encode_short_head(out, vtype, txn, expires_at, internal, key, value);
    out.extend_from_slice(value);
}

/// Decodes the record at the start of `buf`; with `verify` false the checksum is not
/// computed (for a record this process has already verified: records never change).
pub(crate) fn decode_record_checked(buf: &[u8], verify: bool) -> Result<Record<'_>, DecodeError> {
    let head = parse_head(buf)?;
    let len = head.len().ok_or(DecodeError::Malformed)?;
    let body = buf.get(..len).ok_or(DecodeError::Truncated)?;
    if verify {
        let expected = le_u32(body, 0).ok_or(DecodeError::Truncated)?;
        let found = crc32fast::hash(body.get(4..).ok_or(DecodeError::Truncated)?);
        if expected != found {
            return Err(DecodeError::Checksum { expected, found });
        }
    }
    let mut at = head.fixed_len;
    let expires_at = if head.expires() {
        let e = le_u64(body, at).ok_or(DecodeError::Truncated)?;
        at += 8;
        e
    } else {
        0
    };
    let key = body
        .get(at..at + head.key_len)
        .ok_or(DecodeError::Truncated)?;
    let value_offset = at + head.key_len;
    let value = body.get(value_offset..len).ok_or(DecodeError::Truncated)?;
    Ok(Record {
        kind: head.kind,
        vtype: head.vtype,
        txn: head.txn,
        expires_at,
        internal: head.internal(),
        key,
        value,
        len,
        value_offset,
        short: head.short,
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
    // A large segment, and a compacted one (which may hold short PUTs, §3.2.1), say so in
    // their version, so that a build that knows neither refuses them instead of misreading.
    let version = if large {
        LARGE_SEGMENT_VERSION
    } else if kind == SEG_COMPACTED {
        SHORT_RECORD_VERSION
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
    /// The version found, and the highest this build reads in a segment of its kind.
    Version(u16, u16),
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
    // Version 3: a log segment is large (§3.3); a compacted one may hold short PUTs
    // (§3.2.1) and may be large too. A short PUT is refused in a log segment whatever its
    // version (the record decoder of the log's scan).
    let supported = MAX_SEGMENT_VERSION;
    if read_version > supported || read_version == 0 {
        return Err(HeaderError::Version(read_version, supported));
    }
    if h.kind != SEG_LOG && h.kind != SEG_COMPACTED {
        return Err(HeaderError::Malformed);
    }
    Ok(SegmentHeader {
        id: h.segment_id.get(),
        kind: h.kind,
        created_txn: h.created_txn.get(),
        db_id: h.db_id.get(),
        large: read_version == LARGE_SEGMENT_VERSION && h.kind == SEG_LOG,
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
    fn short_puts_round_trip_with_the_sizes_of_the_spec() {
        let mut buf = Vec::new();
        // The comparison bench's shape: a 24-byte key, a 150-byte value, a txn id below 2^14.
        let (key, value) = ([b'k'; 24], [b'v'; 150]);
        encode_short_put(&mut buf, 1, 1000, 0, false, &key, &value);
        assert_eq!(buf.len(), 4 + 1 + 1 + 2 + 2 + 24 + 150);
        assert_eq!(buf.len(), short_record_len(1, 24, 150, 1000, false));
        assert_eq!(buf[4], KIND_PACKED_PUT | 1 << 2);
        let r = decode_record(&buf).unwrap();
        assert_eq!(
            (r.kind, r.vtype, r.txn, r.expires_at, r.internal, r.short),
            (KIND_PUT, 1, 1000, 0, false, true)
        );
        assert_eq!((r.key, r.value, r.len), (&key[..], &value[..], buf.len()));
        // Extremes: every flag, the longest key, the largest txn id, an empty value, the
        // value types on either side of the packed ones.
        let long_key = vec![b'x'; MAX_KEY_LEN];
        for (vtype, txn, exp, internal, key, value) in [
            (33, u64::MAX, u64::MAX, true, &long_key[..], &b""[..]),
            (31, 1, 1, false, &b""[..], &b"v"[..]),
            (32, 127, 0, true, &b"a"[..], &[0u8; 128][..]),
            (0, 128, 3, true, &b"a"[..], &[0u8; 127][..]),
        ] {
            buf.clear();
            encode_short_put(&mut buf, vtype, txn, exp, internal, key, value);
            let len = short_record_len(vtype, key.len(), value.len(), txn, exp != 0);
            assert_eq!(buf.len(), len);
            assert_eq!(buf[4] & KIND_PACKED_PUT != 0, vtype < 32);
            let r = decode_record(&buf).unwrap();
            assert_eq!(
                (r.txn, r.expires_at, r.internal, r.key, r.value, r.vtype),
                (txn, exp, internal, key, value, vtype)
            );
            assert_eq!(parse_head(&buf).unwrap().len(), Some(buf.len()));
        }
        // The header, varints included, never exceeds the long form's 24 bytes.
        let most = short_record_len(33, MAX_KEY_LEN, u32::MAX as usize, u64::MAX, false);
        assert_eq!(most - MAX_KEY_LEN - u32::MAX as usize, RECORD_HEADER_LEN);
    }

    #[test]
    fn a_short_head_written_apart_from_its_value_is_the_same_record() {
        let value = vec![9u8; 100_000];
        let mut whole = Vec::new();
        encode_short_put(&mut whole, 1, 5, 77, false, b"key", &value);
        let mut head = Vec::new();
        encode_short_head(&mut head, 1, 5, 77, false, b"key", &value);
        head.extend_from_slice(&value);
        assert_eq!(head, whole);
    }

    #[test]
    fn every_single_bit_flip_of_a_short_put_is_detected() {
        let mut buf = Vec::new();
        encode_short_put(&mut buf, 1, 300, 5, false, b"abc", b"0123456789");
        for i in 0..buf.len() * 8 {
            let mut b = buf.clone();
            b[i / 8] ^= 1 << (i % 8);
            let ok = matches!(decode_record(&b), Ok(r) if r.key == b"abc" && r.value == b"0123456789" && r.txn == 300 && r.expires_at == 5);
            assert!(!ok || b == buf, "flip of bit {i} went unnoticed");
        }
        for n in 0..buf.len() {
            assert!(
                decode_record(&buf[..n]).is_err(),
                "a short PUT cut at {n} decoded"
            );
        }
    }

    #[test]
    fn short_put_lengths_are_checked_before_use() {
        // Overlong varints, a key longer than the limit, a value length past u32 and a txn
        // id past u64 are malformed, not read.
        let with = |varints: &[u8]| {
            let mut b = vec![0, 0, 0, 0, KIND_SHORT_PUT, 40];
            b.extend_from_slice(varints);
            b.extend_from_slice(&[0; 64]);
            let crc = crc32fast::hash(&b[4..]);
            b[..4].copy_from_slice(&crc.to_le_bytes());
            parse_head(&b)
        };
        assert!(with(&[1, 1, 1]).is_ok());
        assert_eq!(with(&[1, 1, 0]), Err(DecodeError::Malformed), "txn id 0");
        // A type that fits the kind byte, written in a byte of its own, is malformed.
        let mut b = Vec::new();
        encode_short_put(&mut b, 40, 1, 0, false, b"k", b"v");
        b[5] = 7;
        assert_eq!(parse_head(&b), Err(DecodeError::Malformed));
        assert_eq!(with(&[0x81, 0x00, 1, 1]), Err(DecodeError::Malformed));
        assert_eq!(with(&[0x80, 0x80, 0x04, 1, 1]), Err(DecodeError::Malformed));
        assert_eq!(
            with(&[1, 0x80, 0x80, 0x80, 0x80, 0x10, 1]),
            Err(DecodeError::Malformed)
        );
        let mut huge_txn = vec![1, 1];
        huge_txn.extend_from_slice(&[0xFF; 9]);
        huge_txn.push(0x02);
        assert_eq!(with(&huge_txn), Err(DecodeError::Malformed));
        let mut max_txn = vec![1, 1];
        max_txn.extend_from_slice(&[0xFF; 9]);
        max_txn.push(0x01);
        assert_eq!(with(&max_txn).map(|h| h.txn), Ok(u64::MAX));
        // A length past the buffer is a truncation, never a read past it.
        let mut buf = Vec::new();
        encode_short_put(&mut buf, 1, 1, 0, false, b"k", b"v");
        buf[6] = 100;
        assert!(decode_record(&buf).is_err());
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
        // A compacted segment may hold short PUTs: its versions say so.
        assert_eq!(&h[8..12], &[3, 0, 3, 0]);
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
        assert_eq!(decode_segment_header(&bad), Err(HeaderError::Version(9, 3)));
        let mut torn = h;
        torn[20] ^= 1;
        assert_eq!(decode_segment_header(&torn), Err(HeaderError::Checksum));
    }
}
