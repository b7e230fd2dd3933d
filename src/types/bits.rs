//! Bitmaps, HyperLogLog and the longest common subsequence, over string values as Redis has
//! them: `SETBIT`, `GETBIT`, `BITCOUNT`, `BITPOS`, `BITOP`, `BITFIELD` (and `BITFIELD_RO`),
//! `PFADD`, `PFCOUNT`, `PFMERGE` and `LCS`.
//!
//! Bit commands see every scalar through [`Value::to_redis_bytes`], as the string commands do:
//! `INCR n` stores an integer, and `GETBIT n 0` reads the first bit of its digits, as Redis
//! does with the string it stores. A command that changes bits stores bytes (a string stays a
//! string while it is valid UTF-8) and keeps the key's time to live. Bit 0 is the most
//! significant bit of the first byte. The highest bit offset is [`MAX_BIT_OFFSET`] (a 512 MiB
//! string, Redis's `proto-max-bulk-len`), which may be larger than a segment (format-spec.md
//! §3.3); a longer value is refused before it is built.
//!
//! A HyperLogLog is a bytes value of ZiggyDB's own encoding (format-spec.md, "HyperLogLog
//! values"): an 8-byte header (`ZHLL`, version 1, encoding 0) and 16384 registers of 6 bits,
//! 12,296 bytes in all. Elements hash and registers count as in Redis (MurmurHash64A, seed
//! `0xadc83b19`, Ertl's estimator), so a count is the one Redis gives for the same elements,
//! with its standard error of 0.81%.

use crate::db::txn::{decode_value, WriteTxn};
use crate::db::Db;
use crate::error::{try_with_capacity, Error, Result};
use crate::format::value::{Value, ValueType};
use crate::types::read::sealed::{Sealed, Src};

/// The highest bit offset `SETBIT`, `GETBIT` and `BITFIELD` accept: the last bit of a
/// 512 MiB string, as in Redis.
pub const MAX_BIT_OFFSET: u64 = (512u64 << 20) * 8 - 1;

/// The most memory `LCS` takes for its table ((len(a) + 1) × (len(b) + 1) 32-bit cells):
/// 512 MiB, Redis's `proto-max-bulk-len`; longer inputs are refused with
/// [`Error::OutOfMemory`] before anything is allocated.
pub const MAX_LCS_TABLE: u64 = 512 << 20;

/// Whether a bit range counts bytes or bits (`BITCOUNT`/`BITPOS` ... `BYTE|BIT`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum BitUnit {
    /// Positions are byte indexes (the default).
    #[default]
    Byte,
    /// Positions are bit indexes.
    Bit,
}

/// `BITOP`'s operations.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BitOp {
    /// Bitwise and; a shorter source reads as zero bytes past its end.
    And,
    /// Bitwise or.
    Or,
    /// Bitwise exclusive or.
    Xor,
    /// Bitwise not of a single source.
    Not,
}

/// A `BITFIELD` integer type: `i1`..`i64` or `u1`..`u63`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BitfieldType {
    /// Two's complement if true.
    pub signed: bool,
    /// Width in bits.
    pub bits: u8,
}

impl BitfieldType {
    /// Reads `i8`, `u16`... as Redis does (lower-case `i` or `u`, then 1 to 64 bits signed or
    /// 1 to 63 unsigned); `None` otherwise.
    ///
    /// # Examples
    ///
    /// ```
    /// use ziggydb::BitfieldType;
    /// assert_eq!(BitfieldType::parse(b"i64"), Some(BitfieldType { signed: true, bits: 64 }));
    /// assert_eq!(BitfieldType::parse(b"u64"), None);
    /// ```
    pub fn parse(text: &[u8]) -> Option<BitfieldType> {
        let (&sign, digits) = text.split_first()?;
        let signed = match sign {
            b'i' => true,
            b'u' => false,
            _ => return None,
        };
        let bits = crate::format::value::parse_int(digits)?;
        let max = if signed { 64 } else { 63 };
        (1..=max).contains(&bits).then_some(BitfieldType {
            signed,
            bits: bits as u8,
        })
    }

    fn valid(self) -> bool {
        self.bits >= 1 && self.bits <= if self.signed { 64 } else { 63 }
    }
}

/// What `BITFIELD` does when a `SET` or `INCRBY` leaves the type's range.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Overflow {
    /// Wrap around, as integers of that width do (the default).
    #[default]
    Wrap,
    /// Saturate at the type's minimum or maximum.
    Sat,
    /// Write nothing and give `None` for that operation.
    Fail,
}

/// One `BITFIELD` operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BitfieldOp {
    /// The integer at `offset`.
    Get {
        /// Its type.
        ty: BitfieldType,
        /// Its first bit.
        offset: u64,
    },
    /// Store `value`, giving the previous integer.
    Set {
        /// Its type.
        ty: BitfieldType,
        /// Its first bit.
        offset: u64,
        /// The new value.
        value: i64,
        /// What to do if `value` does not fit.
        overflow: Overflow,
    },
    /// Add `delta`, giving the new integer.
    IncrBy {
        /// Its type.
        ty: BitfieldType,
        /// Its first bit.
        offset: u64,
        /// What to add.
        delta: i64,
        /// What to do if the sum does not fit.
        overflow: Overflow,
    },
}

impl BitfieldOp {
    fn ty_offset(&self) -> (BitfieldType, u64) {
        match *self {
            BitfieldOp::Get { ty, offset }
            | BitfieldOp::Set { ty, offset, .. }
            | BitfieldOp::IncrBy { ty, offset, .. } => (ty, offset),
        }
    }
}

/// One range of matching bytes found by [`Db::lcs_matches`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LcsMatch {
    /// First and last byte of the match in the first value.
    pub a: (u64, u64),
    /// First and last byte of the match in the second value.
    pub b: (u64, u64),
    /// Its length in bytes.
    pub len: u64,
}

/// The matches of [`Db::lcs_matches`] (from the end of the values to their start, as Redis
/// gives them) and the length of the whole common subsequence.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct LcsMatches {
    /// The matching ranges at least as long as asked for.
    pub matches: Vec<LcsMatch>,
    /// The length of the longest common subsequence.
    pub len: u64,
}

// ---------------------------------------------------------------------------------------------
// Reading values as string commands see them

/// Runs `f` on the value of `key` as string commands see it, in place for bytes, strings and
/// JSON; `None` if the key is absent. A collection is [`Error::WrongType`].
fn peek_bytes<T>(
    src: Src<'_>,
    key: &[u8],
    f: impl FnOnce(&[u8]) -> Result<T>,
) -> Result<Option<T>> {
    src.peek(key, |vtype, payload, _| match ValueType::from_tag(vtype) {
        Some(ValueType::Bytes | ValueType::String | ValueType::Json) => f(payload),
        _ => f(&decode_value(vtype, payload)?.to_redis_bytes()),
    })
}

/// [`peek_bytes`] in one consistent read of `r`.
fn read_bytes<R: Sealed + ?Sized, T>(
    r: &R,
    key: &[u8],
    f: impl Fn(&[u8]) -> Result<T>,
) -> Result<Option<T>> {
    r.section(&mut |s| peek_bytes(s, key, &f))
}

/// The value to store after a bit command changed the bytes of a value of type `was`: a
/// string if it was one and is still UTF-8, bytes otherwise.
fn rewritten(was: Option<ValueType>, bytes: Vec<u8>) -> Value {
    if was == Some(ValueType::String) {
        match String::from_utf8(bytes) {
            Ok(s) => Value::String(s),
            Err(e) => Value::Bytes(e.into_bytes()),
        }
    } else {
        Value::Bytes(bytes)
    }
}

fn check_offset(offset: u64) -> Result<()> {
    if offset > MAX_BIT_OFFSET {
        return Err(Error::InvalidArgument(format!(
            "bit offset {offset} is past the largest, {MAX_BIT_OFFSET}"
        )));
    }
    Ok(())
}

/// A value a bit command rewrites: its bytes, its type (`None` if absent), its expiry, and
/// whether it is new or grew.
struct Grown {
    bytes: Vec<u8>,
    ty: Option<ValueType>,
    ttl: Option<u64>,
    changed: bool,
}

/// The value at `key` in `tx` as bytes, zero-padded to at least `min_len`, with its type and
/// time to live. Refused before it is grown if the database could not store it; grown
/// without aborting the process when memory is short.
fn grown(tx: &WriteTxn, key: &[u8], min_len: usize) -> Result<Grown> {
    let current = tx.get(key)?;
    let ty = current.as_ref().map(Value::value_type);
    let mut bytes = current.map(Value::into_redis_bytes).unwrap_or_default();
    let before = bytes.len();
    if before < min_len {
        tx.check_value_size(key, min_len)?;
        bytes
            .try_reserve_exact(min_len - before)
            .map_err(|_| Error::OutOfMemory { bytes: min_len })?;
        bytes.resize(min_len, 0);
    }
    let ttl = if ty.is_some() { tx.expiry(key)? } else { None };
    Ok(Grown {
        bytes,
        ty,
        ttl,
        changed: ty.is_none() || before < min_len,
    })
}

// ---------------------------------------------------------------------------------------------
// Bit arithmetic on byte slices

fn bit_at(bytes: &[u8], offset: u64) -> bool {
    usize::try_from(offset >> 3)
        .ok()
        .and_then(|i| bytes.get(i))
        .is_some_and(|b| b & (0x80 >> (offset & 7)) != 0)
}

fn popcount(bytes: &[u8]) -> u64 {
    let mut chunks = bytes.chunks_exact(8);
    let mut n: u64 = 0;
    for c in &mut chunks {
        n += u64::from(u64::from_le_bytes(c.try_into().unwrap_or([0; 8])).count_ones());
    }
    n + chunks
        .remainder()
        .iter()
        .map(|b| u64::from(b.count_ones()))
        .sum::<u64>()
}

/// A range given as `start`/`end` (inclusive, negative from the end) in `unit`, clamped to
/// `len` bytes as Redis clamps it: the first and last bit, or `None` if it is empty.
fn bit_range(len: usize, start: i64, end: i64, unit: BitUnit) -> Option<(u64, u64)> {
    let mut total = i64::try_from(len).unwrap_or(i64::MAX >> 3);
    if unit == BitUnit::Bit {
        total <<= 3;
    }
    let fix = |i: i64| if i < 0 { (total + i).max(0) } else { i };
    let (start, end) = (fix(start), fix(end).min(total - 1));
    if start > end {
        return None;
    }
    Some(match unit {
        BitUnit::Bit => (start as u64, end as u64),
        BitUnit::Byte => (start as u64 * 8, end as u64 * 8 + 7),
    })
}

/// `BITCOUNT`: the set bits of `bytes`, or of the bits `first..=last`.
fn count_bits(bytes: &[u8], range: Option<(u64, u64)>) -> u64 {
    let Some((first, last)) = range else {
        return popcount(bytes);
    };
    let (fb, lb) = ((first >> 3) as usize, (last >> 3) as usize);
    let mut n = popcount(&bytes[fb..=lb]);
    // The bits of the edge bytes outside the range.
    let head = !(0xffu8 >> (first & 7));
    let tail = 0xffu8.checked_shr((last & 7) as u32 + 1).unwrap_or(0);
    n -= u64::from((bytes[fb] & head).count_ones());
    n -= u64::from((bytes[lb] & tail).count_ones());
    n
}

/// The first bit equal to `bit` in bits `first..=last` of `bytes`.
fn find_bit(bytes: &[u8], bit: bool, first: u64, last: u64) -> Option<u64> {
    let skip = if bit { 0u8 } else { 0xff };
    let mut pos = first;
    while pos <= last {
        let byte = bytes[(pos >> 3) as usize];
        if pos & 7 == 0 && pos + 7 <= last && byte == skip {
            pos += 8;
            continue;
        }
        if (byte & (0x80 >> (pos & 7)) != 0) == bit {
            return Some(pos);
        }
        pos += 1;
    }
    None
}

/// `BITPOS`'s answer on an existing value: the first bit equal to `bit` in the range, or
/// -1; looking for a 0 without an end past the last byte, the first bit after the value.
fn bit_position(bytes: &[u8], bit: bool, start: i64, end: Option<i64>, unit: BitUnit) -> i64 {
    let (start, end_given) = match end {
        Some(_) => (start, true),
        None => (start, false),
    };
    let end = end.unwrap_or(-1);
    let Some((first, last)) = bit_range(bytes.len(), start, end, unit) else {
        return -1;
    };
    match find_bit(bytes, bit, first, last) {
        Some(pos) => pos as i64,
        None if bit || end_given => -1,
        None => last as i64 + 1,
    }
}

fn get_field(bytes: &[u8], offset: u64, ty: BitfieldType) -> i64 {
    let mut value: u64 = 0;
    for i in 0..u64::from(ty.bits) {
        value = (value << 1) | u64::from(bit_at(bytes, offset + i));
    }
    if ty.signed && ty.bits < 64 && value & (1 << (ty.bits - 1)) != 0 {
        value |= u64::MAX << ty.bits;
    }
    value as i64
}

fn set_field(bytes: &mut [u8], offset: u64, bits: u8, value: u64) {
    for i in 0..u64::from(bits) {
        let bit = (value >> (u64::from(bits) - 1 - i)) & 1;
        let pos = offset + i;
        let byte = &mut bytes[(pos >> 3) as usize];
        let mask = 0x80u8 >> (pos & 7);
        if bit == 1 {
            *byte |= mask;
        } else {
            *byte &= !mask;
        }
    }
}

/// Redis's `checkUnsignedBitfieldOverflow`: whether `value + incr` leaves `bits` unsigned
/// bits, and what to store instead under `ow`.
fn unsigned_overflow(value: u64, incr: i64, bits: u8, ow: Overflow) -> (bool, u64) {
    let max = (1u64 << bits) - 1;
    let maxincr = max.wrapping_sub(value) as i64;
    let minincr = (value as i64).wrapping_neg();
    let wrap = || value.wrapping_add(incr as u64) & max;
    if value > max || (incr > 0 && incr > maxincr) {
        (true, if ow == Overflow::Sat { max } else { wrap() })
    } else if incr < 0 && incr < minincr {
        (true, if ow == Overflow::Sat { 0 } else { wrap() })
    } else {
        (false, 0)
    }
}

/// Redis's `checkSignedBitfieldOverflow`.
fn signed_overflow(value: i64, incr: i64, bits: u8, ow: Overflow) -> (bool, i64) {
    let max = if bits == 64 {
        i64::MAX
    } else {
        (1i64 << (bits - 1)) - 1
    };
    let min = -max - 1;
    let maxincr = (max as u64).wrapping_sub(value as u64) as i64;
    let minincr = min.wrapping_sub(value);
    let wrap = || {
        let mut c = (value as u64).wrapping_add(incr as u64);
        if bits < 64 {
            let mask = u64::MAX << bits;
            if c & (1 << (bits - 1)) != 0 {
                c |= mask;
            } else {
                c &= !mask;
            }
        }
        c as i64
    };
    if value > max || (bits != 64 && incr > maxincr) || (value >= 0 && incr > 0 && incr > maxincr) {
        (true, if ow == Overflow::Sat { max } else { wrap() })
    } else if value < min
        || (bits != 64 && incr < minincr)
        || (value < 0 && incr < 0 && incr < minincr)
    {
        (true, if ow == Overflow::Sat { min } else { wrap() })
    } else {
        (false, 0)
    }
}

/// Runs one `SET` or `INCRBY` of `BITFIELD` on `bytes` (long enough for it).
fn apply_field(bytes: &mut [u8], op: &BitfieldOp) -> Option<i64> {
    let (ty, offset, arg, incr, ow) = match *op {
        BitfieldOp::Get { ty, offset } => return Some(get_field(bytes, offset, ty)),
        BitfieldOp::Set {
            ty,
            offset,
            value,
            overflow,
        } => (ty, offset, value, false, overflow),
        BitfieldOp::IncrBy {
            ty,
            offset,
            delta,
            overflow,
        } => (ty, offset, delta, true, overflow),
    };
    let old = get_field(bytes, offset, ty);
    let (overflowed, new, reply) = if ty.signed {
        if incr {
            let (o, wrapped) = signed_overflow(old, arg, ty.bits, ow);
            let new = if o { wrapped } else { old.wrapping_add(arg) };
            (o, new as u64, new)
        } else {
            let (o, wrapped) = signed_overflow(arg, 0, ty.bits, ow);
            (o, if o { wrapped } else { arg } as u64, old)
        }
    } else {
        let old = old as u64;
        if incr {
            let (o, wrapped) = unsigned_overflow(old, arg, ty.bits, ow);
            let new = if o {
                wrapped
            } else {
                old.wrapping_add(arg as u64)
            };
            (o, new, new as i64)
        } else {
            let (o, wrapped) = unsigned_overflow(arg as u64, 0, ty.bits, ow);
            (o, if o { wrapped } else { arg as u64 }, old as i64)
        }
    };
    if overflowed && ow == Overflow::Fail {
        return None;
    }
    set_field(bytes, offset, ty.bits, new);
    Some(reply)
}

fn check_field(ty: BitfieldType, offset: u64) -> Result<()> {
    if !ty.valid() {
        return Err(Error::InvalidArgument(format!(
            "invalid bitfield type of {} bits",
            ty.bits
        )));
    }
    check_offset(offset)
}

// ---------------------------------------------------------------------------------------------
// HyperLogLog

const HLL_P: u32 = 14;
const HLL_Q: usize = 64 - HLL_P as usize;
const HLL_REGISTERS: usize = 1 << HLL_P;
const HLL_BITS: usize = 6;
/// The header of a HyperLogLog value: magic, version 1, encoding 0 (dense, 6-bit
/// registers), two reserved zero bytes.
const HLL_HEADER: [u8; 8] = *b"ZHLL\x01\x00\x00\x00";
/// The size of a HyperLogLog value: header and 16384 registers of 6 bits.
pub const HLL_SIZE: usize = HLL_HEADER.len() + HLL_REGISTERS * HLL_BITS / 8;

/// MurmurHash64A as Redis computes it for HyperLogLog (little-endian words).
fn murmur64a(key: &[u8], seed: u64) -> u64 {
    const M: u64 = 0xc6a4a7935bd1e995;
    const R: u32 = 47;
    let mut h = seed ^ (key.len() as u64).wrapping_mul(M);
    let mut chunks = key.chunks_exact(8);
    for c in &mut chunks {
        let mut k = u64::from_le_bytes(c.try_into().unwrap_or([0; 8]));
        k = k.wrapping_mul(M);
        k ^= k >> R;
        k = k.wrapping_mul(M);
        h ^= k;
        h = h.wrapping_mul(M);
    }
    let tail = chunks.remainder();
    if !tail.is_empty() {
        for (i, b) in tail.iter().enumerate() {
            h ^= u64::from(*b) << (8 * i);
        }
        h = h.wrapping_mul(M);
    }
    h ^= h >> R;
    h = h.wrapping_mul(M);
    h ^= h >> R;
    h
}

/// The register an element lands in and the run length it counts (Redis's `hllPatLen`).
fn hll_pattern(element: &[u8]) -> (usize, u8) {
    let hash = murmur64a(element, 0xadc83b19);
    let index = (hash & (HLL_REGISTERS as u64 - 1)) as usize;
    let rest = (hash >> HLL_P) | (1 << HLL_Q);
    (index, rest.trailing_zeros() as u8 + 1)
}

/// The registers of a HyperLogLog, one per byte while in memory.
struct Hll(Vec<u8>);

impl Hll {
    fn new() -> Result<Hll> {
        let mut r = try_with_capacity(HLL_REGISTERS)?;
        r.resize(HLL_REGISTERS, 0);
        Ok(Hll(r))
    }

    /// Whether a stored value is a HyperLogLog.
    fn is_one(bytes: &[u8]) -> bool {
        bytes.len() == HLL_SIZE && bytes[..HLL_HEADER.len()] == HLL_HEADER
    }

    /// The registers of a stored value; `None` if it is not a HyperLogLog.
    #[cfg(test)]
    fn decode(bytes: &[u8]) -> Result<Option<Hll>> {
        if !Hll::is_one(bytes) {
            return Ok(None);
        }
        let mut hll = Hll::new()?;
        hll.merge_packed(&bytes[HLL_HEADER.len()..]);
        Ok(Some(hll))
    }

    /// Each register the maximum of its own and the packed register's: four registers of 6
    /// bits in each 3 bytes, least significant bit first.
    fn merge_packed(&mut self, packed: &[u8]) {
        for (regs, bytes) in self.0.chunks_exact_mut(4).zip(packed.chunks_exact(3)) {
            let w = u32::from(bytes[0]) | u32::from(bytes[1]) << 8 | u32::from(bytes[2]) << 16;
            for (k, r) in regs.iter_mut().enumerate() {
                *r = (*r).max((w >> (6 * k)) as u8 & 0x3f);
            }
        }
    }

    fn encode(&self) -> Result<Vec<u8>> {
        let mut out = try_with_capacity(HLL_SIZE)?;
        out.extend_from_slice(&HLL_HEADER);
        out.resize(HLL_SIZE, 0);
        let packed = &mut out[HLL_HEADER.len()..];
        for (i, &r) in self.0.iter().enumerate() {
            let bit = i * HLL_BITS;
            let v = u16::from(r & 0x3f) << (bit % 8);
            packed[bit / 8] |= v as u8;
            if let Some(next) = packed.get_mut(bit / 8 + 1) {
                *next |= (v >> 8) as u8;
            }
        }
        Ok(out)
    }

    /// Adds an element; true if a register changed.
    fn add(&mut self, element: &[u8]) -> bool {
        let (index, count) = hll_pattern(element);
        if self.0[index] < count {
            self.0[index] = count;
            true
        } else {
            false
        }
    }

    /// The estimated number of distinct elements (Redis's `hllCount`, Ertl's estimator).
    fn count(&self) -> u64 {
        let m = HLL_REGISTERS as f64;
        let mut histogram = [0u32; 64];
        for &r in &self.0 {
            histogram[usize::from(r & 0x3f)] += 1;
        }
        let mut z = m * tau((m - f64::from(histogram[HLL_Q + 1])) / m);
        for j in (1..=HLL_Q).rev() {
            z += f64::from(histogram[j]);
            z *= 0.5;
        }
        z += m * sigma(f64::from(histogram[0]) / m);
        const ALPHA_INF: f64 = 0.721_347_520_444_481_7;
        (ALPHA_INF * m * m / z).round() as u64
    }
}

fn sigma(mut x: f64) -> f64 {
    if x == 1.0 {
        return f64::INFINITY;
    }
    let mut y = 1.0;
    let mut z = x;
    loop {
        x *= x;
        let before = z;
        z += x * y;
        y += y;
        if before == z {
            return z;
        }
    }
}

fn tau(mut x: f64) -> f64 {
    if x == 0.0 || x == 1.0 {
        return 0.0;
    }
    let mut y = 1.0;
    let mut z = 1.0 - x;
    loop {
        x = x.sqrt();
        let before = z;
        y *= 0.5;
        z -= (1.0 - x) * (1.0 - x) * y;
        if before == z {
            return z / 3.0;
        }
    }
}

/// The error for a value that is not a HyperLogLog: [`Error::WrongType`] with the value's
/// own type as `actual` (a collection's is Redis's plain `WRONGTYPE`).
fn not_hll(actual: ValueType) -> Error {
    Error::WrongType {
        expected: ValueType::Bytes,
        actual,
    }
}

/// Merges the HyperLogLog at `key` in `src` into `into`, read in place; false if absent.
fn merge_hll(src: Src<'_>, key: &[u8], into: &mut Hll) -> Result<bool> {
    let found = src.peek(key, |vtype, payload, _| {
        let ty = crate::format::value::value_type_of(vtype)?;
        // A collection, or a scalar of another type, is never a HyperLogLog.
        if ty != ValueType::Bytes || !Hll::is_one(payload) {
            return Err(not_hll(ty));
        }
        into.merge_packed(&payload[HLL_HEADER.len()..]);
        Ok(())
    })?;
    Ok(found.is_some())
}

/// The HyperLogLog at `key` in `src`: `None` if absent.
fn peek_hll(src: Src<'_>, key: &[u8]) -> Result<Option<Hll>> {
    let mut hll = Hll::new()?;
    Ok(merge_hll(src, key, &mut hll)?.then_some(hll))
}

/// The union of the HyperLogLogs at `keys` (absent ones count as empty).
fn union<R: Sealed + ?Sized>(r: &R, keys: &[&[u8]]) -> Result<Hll> {
    r.section(&mut |s| {
        let mut all = Hll::new()?;
        for key in keys {
            merge_hll(s, key, &mut all)?;
        }
        Ok(all)
    })
}

// ---------------------------------------------------------------------------------------------
// Longest common subsequence

/// Redis's dynamic-programming table for the LCS of `a` and `b`, refused past
/// [`MAX_LCS_TABLE`] and allocated without aborting.
fn lcs_table(a: &[u8], b: &[u8]) -> Result<Vec<u32>> {
    if a.len() >= u32::MAX as usize - 1 || b.len() >= u32::MAX as usize - 1 {
        return Err(Error::InvalidArgument("string too long for LCS".into()));
    }
    let cells = (a.len() as u64 + 1) * (b.len() as u64 + 1);
    let bytes = cells.saturating_mul(4);
    if bytes > MAX_LCS_TABLE {
        return Err(Error::OutOfMemory {
            bytes: usize::try_from(bytes).unwrap_or(usize::MAX),
        });
    }
    let cells = cells as usize;
    let mut t: Vec<u32> = Vec::new();
    t.try_reserve_exact(cells)
        .map_err(|_| Error::OutOfMemory { bytes: cells * 4 })?;
    t.resize(cells, 0);
    let w = b.len() + 1;
    for i in 1..=a.len() {
        for j in 1..=b.len() {
            t[i * w + j] = if a[i - 1] == b[j - 1] {
                t[(i - 1) * w + j - 1] + 1
            } else {
                t[(i - 1) * w + j].max(t[i * w + j - 1])
            };
        }
    }
    Ok(t)
}

/// Walks Redis's table back from the end: the common subsequence and the matching ranges
/// at least `min_len` long, as Redis's `LCS` finds them.
fn lcs_walk(a: &[u8], b: &[u8], t: &[u32], min_len: u64) -> Result<(Vec<u8>, Vec<LcsMatch>)> {
    let w = b.len() + 1;
    let total = t[a.len() * w + b.len()] as usize;
    let mut out = try_with_capacity(total)?;
    out.resize(total, 0);
    let mut matches = Vec::new();
    let (mut i, mut j, mut idx) = (a.len(), b.len(), total);
    // The open range: start and end in a, start and end in b; `None` when there is none.
    let mut range: Option<(usize, usize, usize, usize)> = None;
    while i > 0 && j > 0 {
        let mut emit = false;
        if a[i - 1] == b[j - 1] {
            out[idx - 1] = a[i - 1];
            match &mut range {
                None => range = Some((i - 1, i - 1, j - 1, j - 1)),
                Some((a0, _, b0, _)) => {
                    if *a0 == i && *b0 == j {
                        *a0 -= 1;
                        *b0 -= 1;
                    } else {
                        emit = true;
                    }
                }
            }
            if let Some((a0, _, b0, _)) = range {
                if a0 == 0 || b0 == 0 {
                    emit = true;
                }
            }
            idx -= 1;
            i -= 1;
            j -= 1;
        } else {
            if t[(i - 1) * w + j] > t[i * w + j - 1] {
                i -= 1;
            } else {
                j -= 1;
            }
            if range.is_some() {
                emit = true;
            }
        }
        if emit {
            if let Some((a0, a1, b0, b1)) = range.take() {
                let len = (a1 - a0 + 1) as u64;
                if min_len == 0 || len >= min_len {
                    matches.push(LcsMatch {
                        a: (a0 as u64, a1 as u64),
                        b: (b0 as u64, b1 as u64),
                        len,
                    });
                }
            }
        }
    }
    Ok((out, matches))
}

/// The values at `a` and `b` (empty if absent), read from one state.
fn two_values<R: Sealed + ?Sized>(r: &R, a: &[u8], b: &[u8]) -> Result<(Vec<u8>, Vec<u8>)> {
    r.section(&mut |s| {
        let va = peek_bytes(s, a, crate::error::try_copy)?.unwrap_or_default();
        let vb = peek_bytes(s, b, crate::error::try_copy)?.unwrap_or_default();
        Ok((va, vb))
    })
}

// ---------------------------------------------------------------------------------------------
// Reads, on the committed state and in a transaction

/// The type of the value at `key`, `None` if absent.
pub(crate) fn value_type(r: &(impl Sealed + ?Sized), key: &[u8]) -> Result<Option<ValueType>> {
    r.section(&mut |s| {
        s.peek(key, |vtype, _, _| {
            crate::format::value::value_type_of(vtype)
        })
    })
}

pub(crate) fn getbit(r: &(impl Sealed + ?Sized), key: &[u8], offset: u64) -> Result<bool> {
    check_offset(offset)?;
    Ok(read_bytes(r, key, |b| Ok(bit_at(b, offset)))?.unwrap_or(false))
}

pub(crate) fn bitcount(
    r: &(impl Sealed + ?Sized),
    key: &[u8],
    range: Option<(i64, i64, BitUnit)>,
) -> Result<u64> {
    Ok(read_bytes(r, key, |b| {
        Ok(match range {
            None => count_bits(b, None),
            Some((start, end, unit)) => {
                if start < 0 && end < 0 && start > end {
                    return Ok(0);
                }
                bit_range(b.len(), start, end, unit).map_or(0, |r| count_bits(b, Some(r)))
            }
        })
    })?
    .unwrap_or(0))
}

pub(crate) fn bitpos(
    r: &(impl Sealed + ?Sized),
    key: &[u8],
    bit: bool,
    range: Option<(i64, Option<i64>, BitUnit)>,
) -> Result<i64> {
    let found = read_bytes(r, key, |b| {
        Ok(match range {
            None => bit_position(b, bit, 0, None, BitUnit::Byte),
            Some((start, end, unit)) => bit_position(b, bit, start, end, unit),
        })
    })?;
    Ok(found.unwrap_or(if bit { -1 } else { 0 }))
}

pub(crate) fn bitfield_get(
    r: &(impl Sealed + ?Sized),
    key: &[u8],
    fields: &[(BitfieldType, u64)],
) -> Result<Vec<i64>> {
    for &(ty, offset) in fields {
        check_field(ty, offset)?;
    }
    let values = read_bytes(r, key, |b| {
        Ok(fields
            .iter()
            .map(|&(ty, offset)| get_field(b, offset, ty))
            .collect::<Vec<_>>())
    })?;
    Ok(values.unwrap_or_else(|| vec![0; fields.len()]))
}

pub(crate) fn pfcount(r: &(impl Sealed + ?Sized), keys: &[&[u8]]) -> Result<u64> {
    Ok(union(r, keys)?.count())
}

pub(crate) fn lcs(r: &(impl Sealed + ?Sized), a: &[u8], b: &[u8]) -> Result<Vec<u8>> {
    let (va, vb) = two_values(r, a, b)?;
    let t = lcs_table(&va, &vb)?;
    Ok(lcs_walk(&va, &vb, &t, 0)?.0)
}

pub(crate) fn lcs_len(r: &(impl Sealed + ?Sized), a: &[u8], b: &[u8]) -> Result<u64> {
    let (va, vb) = two_values(r, a, b)?;
    let t = lcs_table(&va, &vb)?;
    Ok(u64::from(t[t.len() - 1]))
}

pub(crate) fn lcs_matches(
    r: &(impl Sealed + ?Sized),
    a: &[u8],
    b: &[u8],
    min_len: u64,
) -> Result<LcsMatches> {
    let (va, vb) = two_values(r, a, b)?;
    let t = lcs_table(&va, &vb)?;
    let matches = lcs_walk(&va, &vb, &t, min_len)?.1;
    Ok(LcsMatches {
        matches,
        len: u64::from(t[t.len() - 1]),
    })
}

/// Inherent methods on both [`Db`] and [`WriteTxn`] that forward to the shared reads above.
macro_rules! bit_reads {
    ($ty:ty, $what:literal) => {
        impl $ty {
            /// The bit at `offset` of the value at `key` (Redis `GETBIT`); false past its end
            /// or if the key is absent. Reads
            #[doc = $what]
            ///
            /// # Errors
            /// [`Error::WrongType`] for a collection; [`Error::InvalidArgument`] past
            /// [`MAX_BIT_OFFSET`].
            ///
            /// # Examples
            ///
            /// ```
            /// # let dir = tempfile::tempdir().unwrap();
            /// # let db = ziggydb::Db::open(dir.path().join("db"))?;
            /// db.transaction(|tx| tx.setbit(b"k", 1, true))?;
            /// assert!(db.getbit(b"k", 1)?);
            /// assert!(!db.getbit(b"k", 1000)?);
            /// assert!(db.transaction(|tx| tx.getbit(b"k", 1))?);
            /// # Ok::<(), ziggydb::Error>(())
            /// ```
            pub fn getbit(&self, key: impl AsRef<[u8]>, offset: u64) -> Result<bool> {
                getbit(self, key.as_ref(), offset)
            }

            /// The number of set bits in the value at `key` (Redis `BITCOUNT`), or in the
            /// range `(start, end, unit)`: inclusive, negative positions from the end, in
            /// bytes or bits. 0 if the key is absent.
            ///
            /// # Errors
            /// [`Error::WrongType`] for a collection.
            ///
            /// # Examples
            ///
            /// ```
            /// # let dir = tempfile::tempdir().unwrap();
            /// # let db = ziggydb::Db::open(dir.path().join("db"))?;
            /// use ziggydb::BitUnit;
            /// db.set(b"k", "foobar")?;
            /// assert_eq!(db.bitcount(b"k", None)?, 26);
            /// assert_eq!(db.bitcount(b"k", Some((1, 1, BitUnit::Byte)))?, 6);
            /// assert_eq!(db.transaction(|tx| tx.bitcount(b"k", Some((5, 30, BitUnit::Bit))))?, 17);
            /// # Ok::<(), ziggydb::Error>(())
            /// ```
            pub fn bitcount(
                &self,
                key: impl AsRef<[u8]>,
                range: Option<(i64, i64, BitUnit)>,
            ) -> Result<u64> {
                bitcount(self, key.as_ref(), range)
            }

            /// The position of the first bit equal to `bit` in the value at `key` (Redis
            /// `BITPOS`), in the range `(start, end, unit)` if given, or -1. An absent key
            /// is all zeros (0 for a 0, -1 for a 1); looking for a 0 with no end given, a
            /// value of all ones answers the bit just past it.
            ///
            /// # Errors
            /// [`Error::WrongType`] for a collection.
            ///
            /// # Examples
            ///
            /// ```
            /// # let dir = tempfile::tempdir().unwrap();
            /// # let db = ziggydb::Db::open(dir.path().join("db"))?;
            /// use ziggydb::BitUnit;
            /// db.set(b"k", b"\xff\xf0\x00".to_vec())?;
            /// assert_eq!(db.bitpos(b"k", false, None)?, 12);
            /// assert_eq!(db.bitpos(b"k", true, Some((2, None, BitUnit::Byte)))?, -1);
            /// assert_eq!(db.transaction(|tx| tx.bitpos(b"missing", true, None))?, -1);
            /// # Ok::<(), ziggydb::Error>(())
            /// ```
            pub fn bitpos(
                &self,
                key: impl AsRef<[u8]>,
                bit: bool,
                range: Option<(i64, Option<i64>, BitUnit)>,
            ) -> Result<i64> {
                bitpos(self, key.as_ref(), bit, range)
            }

            /// The integers of the given types at the given bit offsets of the value at
            /// `key` (Redis `BITFIELD_RO ... GET`); bits past the end read as 0.
            ///
            /// # Errors
            /// [`Error::WrongType`] for a collection; [`Error::InvalidArgument`] for a type
            /// other than `i1`..`i64`, `u1`..`u63` or an offset past [`MAX_BIT_OFFSET`].
            ///
            /// # Examples
            ///
            /// ```
            /// # let dir = tempfile::tempdir().unwrap();
            /// # let db = ziggydb::Db::open(dir.path().join("db"))?;
            /// use ziggydb::BitfieldType;
            /// db.set(b"k", b"\xff\x01".to_vec())?;
            /// let i8t = BitfieldType { signed: true, bits: 8 };
            /// let u4 = BitfieldType { signed: false, bits: 4 };
            /// assert_eq!(db.bitfield_get(b"k", &[(i8t, 0), (u4, 12)])?, vec![-1, 1]);
            /// assert_eq!(db.transaction(|tx| tx.bitfield_get(b"k", &[(i8t, 64)]))?, vec![0]);
            /// # Ok::<(), ziggydb::Error>(())
            /// ```
            pub fn bitfield_get(
                &self,
                key: impl AsRef<[u8]>,
                fields: &[(BitfieldType, u64)],
            ) -> Result<Vec<i64>> {
                bitfield_get(self, key.as_ref(), fields)
            }

            /// The estimated number of distinct elements added to the HyperLogLogs at
            /// `keys` (Redis `PFCOUNT`; of their union if several), with a standard error of
            /// 0.81%. Absent keys count as empty.
            ///
            /// # Errors
            /// [`Error::WrongType`] if a key holds anything but a HyperLogLog (its `actual`
            /// is the type held: a scalar that is not a HyperLogLog, or a collection).
            ///
            /// # Examples
            ///
            /// ```
            /// # let dir = tempfile::tempdir().unwrap();
            /// # let db = ziggydb::Db::open(dir.path().join("db"))?;
            /// db.transaction(|tx| {
            ///     tx.pfadd(b"mon", &[b"ada", b"grace"])?;
            ///     tx.pfadd(b"tue", &[b"ada", b"linus"])?;
            ///     assert_eq!(tx.pfcount(&[b"mon"])?, 2);
            ///     Ok(())
            /// })?;
            /// assert_eq!(db.pfcount(&[b"mon", b"tue"])?, 3);
            /// # Ok::<(), ziggydb::Error>(())
            /// ```
            pub fn pfcount(&self, keys: &[&[u8]]) -> Result<u64> {
                pfcount(self, keys)
            }

            /// The longest common subsequence of the values at `a` and `b` (Redis `LCS`);
            /// an absent key is empty.
            ///
            /// # Errors
            /// [`Error::WrongType`] for a collection; [`Error::OutOfMemory`] if the table
            /// would take more than [`MAX_LCS_TABLE`] bytes.
            ///
            /// # Examples
            ///
            /// ```
            /// # let dir = tempfile::tempdir().unwrap();
            /// # let db = ziggydb::Db::open(dir.path().join("db"))?;
            /// db.set(b"a", "ohmytext")?;
            /// db.set(b"b", "mynewtext")?;
            /// assert_eq!(db.lcs(b"a", b"b")?, b"mytext");
            /// assert_eq!(db.transaction(|tx| tx.lcs(b"a", b"missing"))?, b"");
            /// # Ok::<(), ziggydb::Error>(())
            /// ```
            pub fn lcs(&self, a: impl AsRef<[u8]>, b: impl AsRef<[u8]>) -> Result<Vec<u8>> {
                lcs(self, a.as_ref(), b.as_ref())
            }

            /// The length of [`Self::lcs`] (Redis `LCS ... LEN`).
            ///
            /// # Errors
            /// As [`Self::lcs`].
            ///
            /// # Examples
            ///
            /// ```
            /// # let dir = tempfile::tempdir().unwrap();
            /// # let db = ziggydb::Db::open(dir.path().join("db"))?;
            /// db.set(b"a", "ohmytext")?;
            /// db.set(b"b", "mynewtext")?;
            /// assert_eq!(db.lcs_len(b"a", b"b")?, 6);
            /// assert_eq!(db.transaction(|tx| tx.lcs_len(b"a", b"a"))?, 8);
            /// # Ok::<(), ziggydb::Error>(())
            /// ```
            pub fn lcs_len(&self, a: impl AsRef<[u8]>, b: impl AsRef<[u8]>) -> Result<u64> {
                lcs_len(self, a.as_ref(), b.as_ref())
            }

            /// The matching ranges of [`Self::lcs`] at least `min_len` bytes long (0: all),
            /// and its length (Redis `LCS ... IDX MINMATCHLEN`).
            ///
            /// # Errors
            /// As [`Self::lcs`].
            ///
            /// # Examples
            ///
            /// ```
            /// # let dir = tempfile::tempdir().unwrap();
            /// # let db = ziggydb::Db::open(dir.path().join("db"))?;
            /// use ziggydb::LcsMatch;
            /// db.set(b"a", "ohmytext")?;
            /// db.set(b"b", "mynewtext")?;
            /// let m = db.lcs_matches(b"a", b"b", 4)?;
            /// assert_eq!(m.len, 6);
            /// assert_eq!(m.matches, vec![LcsMatch { a: (4, 7), b: (5, 8), len: 4 }]);
            /// assert_eq!(db.transaction(|tx| tx.lcs_matches(b"a", b"b", 0))?.matches.len(), 2);
            /// # Ok::<(), ziggydb::Error>(())
            /// ```
            pub fn lcs_matches(
                &self,
                a: impl AsRef<[u8]>,
                b: impl AsRef<[u8]>,
                min_len: u64,
            ) -> Result<LcsMatches> {
                lcs_matches(self, a.as_ref(), b.as_ref(), min_len)
            }
        }
    };
}

bit_reads!(Db, "the committed state.");
bit_reads!(
    WriteTxn,
    "what the transaction sees, its own writes included."
);

impl WriteTxn {
    /// Sets or clears the bit at `offset` of the value at `key` and returns its previous
    /// state (Redis `SETBIT`). The value grows with zero bytes as needed; an absent key is
    /// created. Keeps the time to live.
    ///
    /// # Errors
    /// [`Error::WrongType`] for a collection; [`Error::InvalidArgument`] past
    /// [`MAX_BIT_OFFSET`]; [`Error::ValueTooLarge`] if the grown value would be longer than
    /// a value may be (512 MiB); [`Error::OutOfMemory`].
    ///
    /// # Examples
    ///
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// # let db = ziggydb::Db::open(dir.path().join("db"))?;
    /// let was = db.transaction(|tx| tx.setbit(b"flags", 7, true))?;
    /// assert!(!was);
    /// assert_eq!(db.get(b"flags")?.as_deref(), Some(&b"\x01"[..]));
    /// assert!(db.getbit(b"flags", 7)?);
    /// # Ok::<(), ziggydb::Error>(())
    /// ```
    pub fn setbit(&mut self, key: impl AsRef<[u8]>, offset: u64, bit: bool) -> Result<bool> {
        let key = key.as_ref();
        check_offset(offset)?;
        let byte =
            usize::try_from(offset >> 3).map_err(|_| Error::OutOfMemory { bytes: usize::MAX })?;
        let Grown {
            mut bytes,
            ty,
            ttl,
            changed,
        } = grown(self, key, byte + 1)?;
        let mask = 0x80u8 >> (offset & 7);
        let was = bytes[byte] & mask != 0;
        if changed || was != bit {
            if bit {
                bytes[byte] |= mask;
            } else {
                bytes[byte] &= !mask;
            }
            self.set_with_expiry(key, rewritten(ty, bytes), ttl)?;
        }
        Ok(was)
    }

    /// Stores at `dest` the bitwise `op` of the values at `sources` (Redis `BITOP`) and
    /// returns its length: the longest source's, shorter ones read as zero bytes past their
    /// end. An empty result deletes `dest`. The result is bytes without a time to live.
    ///
    /// # Errors
    /// [`Error::WrongType`] if a source is a collection; [`Error::InvalidArgument`] for
    /// [`BitOp::Not`] with other than one source, or no source.
    ///
    /// # Examples
    ///
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// # let db = ziggydb::Db::open(dir.path().join("db"))?;
    /// use ziggydb::BitOp;
    /// db.set(b"a", b"\x0f\xff".to_vec())?;
    /// db.set(b"b", b"\x3c".to_vec())?;
    /// let len = db.transaction(|tx| tx.bitop(BitOp::And, b"c", &[b"a", b"b"]))?;
    /// assert_eq!(len, 2);
    /// assert_eq!(db.get(b"c")?.as_deref(), Some(&b"\x0c\x00"[..]));
    /// # Ok::<(), ziggydb::Error>(())
    /// ```
    pub fn bitop(&mut self, op: BitOp, dest: impl AsRef<[u8]>, sources: &[&[u8]]) -> Result<usize> {
        if sources.is_empty() || (op == BitOp::Not && sources.len() != 1) {
            return Err(Error::InvalidArgument(
                "BITOP NOT takes one source key, the others at least one".into(),
            ));
        }
        // One source at a time, read in place: the result is the only copy made, however
        // many sources (or repeats of one) there are.
        let mut len = 0;
        for key in sources {
            len = len.max(self.strlen(key)?);
        }
        let dest = dest.as_ref();
        if len == 0 {
            self.delete(dest)?;
            return Ok(0);
        }
        self.check_value_size(dest, len)?;
        let mut out = try_with_capacity(len)?;
        out.resize(len, 0);
        for (n, key) in sources.iter().enumerate() {
            let mut fold = |bytes: &[u8]| {
                for (i, o) in out.iter_mut().enumerate() {
                    let b = bytes.get(i).copied().unwrap_or(0);
                    *o = match op {
                        _ if n == 0 => b,
                        BitOp::And => *o & b,
                        BitOp::Or => *o | b,
                        BitOp::Xor => *o ^ b,
                        BitOp::Not => b,
                    };
                }
            };
            let found = self.section(&mut |s| {
                peek_bytes(s, key, |bytes| {
                    fold(bytes);
                    Ok(())
                })
            })?;
            if found.is_none() {
                fold(&[]);
            }
        }
        if op == BitOp::Not {
            for o in &mut out {
                *o = !*o;
            }
        }
        self.set(dest, Value::Bytes(out))?;
        Ok(len)
    }

    /// Runs `ops` in order on the value at `key` (Redis `BITFIELD`): each `GET` gives the
    /// integer read, each `SET` the previous integer, each `INCRBY` the new one, and an
    /// operation that overflows under [`Overflow::Fail`] gives `None` and writes nothing.
    /// If any operation writes, the value first grows with zero bytes to hold every
    /// writing operation's bits (an absent key is created, even if they all fail). Keeps
    /// the time to live.
    ///
    /// # Errors
    /// As [`WriteTxn::setbit`], and [`Error::InvalidArgument`] for a type other than
    /// `i1`..`i64`, `u1`..`u63`.
    ///
    /// # Examples
    ///
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// # let db = ziggydb::Db::open(dir.path().join("db"))?;
    /// use ziggydb::{BitfieldOp, BitfieldType, Overflow};
    /// let u8t = BitfieldType { signed: false, bits: 8 };
    /// let out = db.transaction(|tx| {
    ///     tx.bitfield(b"counters", &[
    ///         BitfieldOp::IncrBy { ty: u8t, offset: 0, delta: 250, overflow: Overflow::Sat },
    ///         BitfieldOp::IncrBy { ty: u8t, offset: 0, delta: 10, overflow: Overflow::Sat },
    ///         BitfieldOp::IncrBy { ty: u8t, offset: 0, delta: 10, overflow: Overflow::Fail },
    ///     ])
    /// })?;
    /// assert_eq!(out, vec![Some(250), Some(255), None]);
    /// # Ok::<(), ziggydb::Error>(())
    /// ```
    pub fn bitfield(
        &mut self,
        key: impl AsRef<[u8]>,
        ops: &[BitfieldOp],
    ) -> Result<Vec<Option<i64>>> {
        let key = key.as_ref();
        let mut highest: Option<u64> = None;
        for op in ops {
            let (ty, offset) = op.ty_offset();
            check_field(ty, offset)?;
            if !matches!(op, BitfieldOp::Get { .. }) {
                let last = offset + u64::from(ty.bits) - 1;
                highest = Some(highest.map_or(last, |h| h.max(last)));
            }
        }
        let Some(highest) = highest else {
            let fields: Vec<_> = ops.iter().map(BitfieldOp::ty_offset).collect();
            return Ok(bitfield_get(self, key, &fields)?
                .into_iter()
                .map(Some)
                .collect());
        };
        let len = usize::try_from((highest >> 3) + 1)
            .map_err(|_| Error::OutOfMemory { bytes: usize::MAX })?;
        let Grown {
            mut bytes, ty, ttl, ..
        } = grown(self, key, len)?;
        let replies = ops.iter().map(|op| apply_field(&mut bytes, op)).collect();
        self.set_with_expiry(key, rewritten(ty, bytes), ttl)?;
        Ok(replies)
    }

    /// Adds `elements` to the HyperLogLog at `key` (Redis `PFADD`), created if absent; true
    /// if its estimate may have changed (a register changed, or it was created). Keeps the
    /// time to live.
    ///
    /// # Errors
    /// [`Error::WrongType`] if the key holds anything but a HyperLogLog.
    ///
    /// # Examples
    ///
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// # let db = ziggydb::Db::open(dir.path().join("db"))?;
    /// db.transaction(|tx| tx.pfadd(b"visitors", &[b"ada", b"grace", b"ada"]))?;
    /// assert_eq!(db.pfcount(&[b"visitors"])?, 2);
    /// # Ok::<(), ziggydb::Error>(())
    /// ```
    pub fn pfadd(&mut self, key: impl AsRef<[u8]>, elements: &[&[u8]]) -> Result<bool> {
        let key = key.as_ref();
        let current = self.section(&mut |s| peek_hll(s, key))?;
        let (mut hll, mut changed) = match current {
            Some(h) => (h, false),
            None => (Hll::new()?, true),
        };
        for e in elements {
            changed |= hll.add(e);
        }
        if changed {
            let ttl = self.expiry(key)?;
            self.set_with_expiry(key, Value::Bytes(hll.encode()?), ttl)?;
        }
        Ok(changed)
    }

    /// Stores at `dest` the union of the HyperLogLogs at `dest` and `sources` (Redis
    /// `PFMERGE`); absent keys count as empty, and `dest` is created if absent. Keeps the
    /// time to live of `dest`.
    ///
    /// # Errors
    /// [`Error::WrongType`] if a key holds anything but a HyperLogLog.
    ///
    /// # Examples
    ///
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// # let db = ziggydb::Db::open(dir.path().join("db"))?;
    /// db.transaction(|tx| {
    ///     tx.pfadd(b"mon", &[b"ada", b"grace"])?;
    ///     tx.pfadd(b"tue", &[b"ada", b"linus"])?;
    ///     tx.pfmerge(b"week", &[b"mon", b"tue"])
    /// })?;
    /// assert_eq!(db.pfcount(&[b"week"])?, 3);
    /// # Ok::<(), ziggydb::Error>(())
    /// ```
    pub fn pfmerge(&mut self, dest: impl AsRef<[u8]>, sources: &[&[u8]]) -> Result<()> {
        let dest = dest.as_ref();
        let mut keys = Vec::with_capacity(sources.len() + 1);
        keys.push(dest);
        keys.extend_from_slice(sources);
        let all = union(self, &keys)?;
        let ttl = self.expiry(dest)?;
        self.set_with_expiry(dest, Value::Bytes(all.encode()?), ttl)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn elements_land_where_redis_puts_them() {
        // Register and run length of each element as redis-server 7.0 stores them (read
        // off its sparse encoding after `PFADD x <element>`): every tail length of the hash.
        let cases: [(&[u8], usize, u8); 5] = [
            (b"hello", 9216, 1),
            (b"a", 12711, 2),
            (b"", 5938, 2),
            (b"12345678", 10579, 3),
            (b"abcdefghi", 6903, 1),
        ];
        for (element, index, count) in cases {
            assert_eq!(hll_pattern(element), (index, count), "{element:?}");
        }
    }

    #[test]
    fn hll_round_trips_its_encoding() -> Result<()> {
        let mut h = Hll::new()?;
        for i in 0..5000u32 {
            h.add(&i.to_le_bytes());
        }
        h.0[HLL_REGISTERS - 1] = 51;
        let bytes = h.encode()?;
        assert_eq!(bytes.len(), HLL_SIZE);
        let back = Hll::decode(&bytes)?.expect("a HyperLogLog");
        assert_eq!(back.0, h.0);
        assert!(Hll::decode(&bytes[1..])?.is_none());
        let mut bad = bytes.clone();
        bad[4] = 2;
        assert!(Hll::decode(&bad)?.is_none());
        Ok(())
    }

    #[test]
    fn empty_and_small_counts() -> Result<()> {
        let mut h = Hll::new()?;
        assert_eq!(h.count(), 0);
        for e in [&b"a"[..], b"b", b"c", b"a"] {
            h.add(e);
        }
        assert_eq!(h.count(), 3);
        Ok(())
    }

    #[test]
    fn bit_ranges_clamp_like_redis() {
        assert_eq!(bit_range(3, 0, -1, BitUnit::Byte), Some((0, 23)));
        assert_eq!(bit_range(3, 1, 1, BitUnit::Byte), Some((8, 15)));
        assert_eq!(bit_range(3, 5, 30, BitUnit::Bit), Some((5, 23)));
        assert_eq!(bit_range(3, -100, -90, BitUnit::Byte), Some((0, 7)));
        assert_eq!(bit_range(3, 4, 5, BitUnit::Byte), None);
        assert_eq!(bit_range(0, 0, -1, BitUnit::Byte), None);
    }

    #[test]
    fn counts_and_positions() {
        let v = b"foobar";
        assert_eq!(count_bits(v, None), 26);
        assert_eq!(count_bits(v, bit_range(6, 1, 1, BitUnit::Byte)), 6);
        assert_eq!(count_bits(v, bit_range(6, 5, 30, BitUnit::Bit)), 17);
        let v = b"\xff\xf0\x00";
        assert_eq!(bit_position(v, false, 0, None, BitUnit::Byte), 12);
        assert_eq!(bit_position(v, true, 2, None, BitUnit::Byte), -1);
        assert_eq!(bit_position(b"\xff\xff", false, 0, None, BitUnit::Byte), 16);
        assert_eq!(
            bit_position(b"\xff\xff", false, 0, Some(-1), BitUnit::Byte),
            -1
        );
        assert_eq!(
            bit_position(b"\x00\xff\xff", true, 7, Some(15), BitUnit::Bit),
            8
        );
    }

    #[test]
    fn bitfield_overflows_as_redis_does() {
        let mut b = vec![0u8; 2];
        let u8t = BitfieldType {
            signed: false,
            bits: 8,
        };
        let i8t = BitfieldType {
            signed: true,
            bits: 8,
        };
        let incr = |ty, delta, overflow| BitfieldOp::IncrBy {
            ty,
            offset: 0,
            delta,
            overflow,
        };
        assert_eq!(
            apply_field(&mut b, &incr(u8t, 300, Overflow::Wrap)),
            Some(44)
        );
        assert_eq!(apply_field(&mut b, &incr(u8t, -50, Overflow::Sat)), Some(0));
        assert_eq!(apply_field(&mut b, &incr(i8t, 200, Overflow::Fail)), None);
        assert_eq!(
            apply_field(&mut b, &incr(i8t, 127, Overflow::Wrap)),
            Some(127)
        );
        assert_eq!(
            apply_field(&mut b, &incr(i8t, 1, Overflow::Wrap)),
            Some(-128)
        );
        assert_eq!(
            apply_field(&mut b, &incr(i8t, -1, Overflow::Sat)),
            Some(-128)
        );
        let set = BitfieldOp::Set {
            ty: u8t,
            offset: 4,
            value: -1,
            overflow: Overflow::Wrap,
        };
        assert_eq!(apply_field(&mut b, &set), Some(0));
        assert_eq!(b, [0x8f, 0xf0]);
        let i64t = BitfieldType {
            signed: true,
            bits: 64,
        };
        let mut w = vec![0u8; 8];
        set_field(&mut w, 0, 64, i64::MAX as u64);
        assert_eq!(
            apply_field(&mut w, &incr(i64t, 1, Overflow::Sat)),
            Some(i64::MAX)
        );
        assert_eq!(
            apply_field(&mut w, &incr(i64t, 1, Overflow::Wrap)),
            Some(i64::MIN)
        );
    }

    #[test]
    fn lcs_finds_redis_ranges() -> Result<()> {
        let (a, b) = (&b"ohmytext"[..], &b"mynewtext"[..]);
        let t = lcs_table(a, b)?;
        let (text, matches) = lcs_walk(a, b, &t, 0)?;
        assert_eq!(text, b"mytext");
        assert_eq!(
            matches,
            [
                LcsMatch {
                    a: (4, 7),
                    b: (5, 8),
                    len: 4
                },
                LcsMatch {
                    a: (2, 3),
                    b: (0, 1),
                    len: 2
                }
            ]
        );
        let big = vec![b'x'; 12_000];
        assert!(matches!(
            lcs_table(&big, &big),
            Err(Error::OutOfMemory { .. })
        ));
        Ok(())
    }
}
