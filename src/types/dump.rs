//! A key's value as a portable payload and back (Redis `DUMP` and `RESTORE`), and the bytes a
//! key takes on disk (Redis `MEMORY USAGE`).
//!
//! The payload is ZiggyDB's own, not Redis's RDB encoding (format-spec.md §16): a magic, a
//! version, the value's type tag (§3.5), the value, and a CRC-32 over everything before it.
//! A payload that is not ZiggyDB's, is of a later version or is damaged is refused before any
//! of it is decoded; lengths read from it are checked against the bytes that are there, so a
//! hostile payload cannot make a restore allocate more than the payload's own size.

use crate::db::pages::Source as _;
use crate::db::txn::WriteTxn;
use crate::db::Db;
use crate::error::{Error, Result};
use crate::format::record::RECORD_HEADER_LEN;
use crate::format::tree::{Page, PageRead, Tree};
use crate::format::value::{Value, ValueType};
use crate::types::read::sealed::{Sealed as _, Src};
use crate::types::read::Read;
use crate::ZAddFlags;

/// The first bytes of every payload.
pub const DUMP_MAGIC: [u8; 4] = *b"ZDMP";
/// The payload version this build writes and the highest it reads.
pub const DUMP_VERSION: u8 = 1;
/// Magic, version and type tag.
const HEAD_LEN: usize = 6;
/// The CRC-32 at the end.
const CRC_LEN: usize = 4;

/// Why a payload cannot be restored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PayloadError {
    /// Not a ZiggyDB payload, a later version, or its checksum does not match (Redis: `DUMP
    /// payload version or checksum are wrong`).
    VersionOrChecksum,
    /// The checksum matches but the content does not decode (Redis: `Bad data format`).
    BadFormat,
}

impl PayloadError {
    /// The message Redis gives for it.
    ///
    /// # Examples
    ///
    /// ```
    /// use ziggydb::PayloadError;
    /// assert_eq!(
    ///     PayloadError::VersionOrChecksum.message(),
    ///     "DUMP payload version or checksum are wrong"
    /// );
    /// ```
    pub fn message(self) -> &'static str {
        match self {
            PayloadError::VersionOrChecksum => "DUMP payload version or checksum are wrong",
            PayloadError::BadFormat => "Bad data format",
        }
    }
}

impl From<PayloadError> for Error {
    fn from(e: PayloadError) -> Self {
        Error::InvalidArgument(e.message().to_owned())
    }
}

/// A decoded payload: what a restore writes.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Dumped {
    Scalar(Value),
    List(Vec<Vec<u8>>),
    Set(Vec<Vec<u8>>),
    ZSet(Vec<(f64, Vec<u8>)>),
    Hash(Vec<(Vec<u8>, Vec<u8>)>),
}

fn put_bytes(out: &mut Vec<u8>, b: &[u8]) -> Result<()> {
    let len = u32::try_from(b.len()).map_err(|_| Error::ValueTooLarge {
        len: b.len(),
        max: u32::MAX as usize,
    })?;
    out.extend_from_slice(&len.to_le_bytes());
    out.extend_from_slice(b);
    Ok(())
}

/// The payload of `key` read from `r`, `None` if the key does not exist.
fn dump_of<R: Read>(r: &R, key: &[u8]) -> Result<Option<Vec<u8>>> {
    let Some(ty) = r.value_type(key)? else {
        return Ok(None);
    };
    let mut out = Vec::new();
    out.extend_from_slice(&DUMP_MAGIC);
    out.push(DUMP_VERSION);
    out.push(ty.tag());
    match ty {
        ValueType::List => {
            let items = r.list_view(key).range(0, -1)?;
            out.extend_from_slice(&(items.len() as u64).to_le_bytes());
            for item in &items {
                put_bytes(&mut out, item)?;
            }
        }
        ValueType::Set => {
            let members = r.set_view(key).members()?;
            out.extend_from_slice(&(members.len() as u64).to_le_bytes());
            for m in &members {
                put_bytes(&mut out, m)?;
            }
        }
        ValueType::ZSet => {
            let members = r.zset_view(key).range(0, -1, false)?;
            out.extend_from_slice(&(members.len() as u64).to_le_bytes());
            for (m, score) in &members {
                out.extend_from_slice(&score.to_bits().to_le_bytes());
                put_bytes(&mut out, m)?;
            }
        }
        ValueType::Hash => {
            let pairs = r.hash_view(key).get_all()?;
            out.extend_from_slice(&(pairs.len() as u64).to_le_bytes());
            for (f, v) in &pairs {
                put_bytes(&mut out, f)?;
                put_bytes(&mut out, v)?;
            }
        }
        _ => {
            let Some(value) = r.get(key)? else {
                return Ok(None);
            };
            out.extend_from_slice(&value.encode_payload());
        }
    }
    let crc = crc32fast::hash(&out);
    out.extend_from_slice(&crc.to_le_bytes());
    Ok(Some(out))
}

/// Reads the parts of a payload's body, each length checked against what is left.
struct Body<'a> {
    b: &'a [u8],
}

impl<'a> Body<'a> {
    fn take(&mut self, n: usize) -> std::result::Result<&'a [u8], PayloadError> {
        if n > self.b.len() {
            return Err(PayloadError::BadFormat);
        }
        let (head, rest) = self.b.split_at(n);
        self.b = rest;
        Ok(head)
    }
    fn u64(&mut self) -> std::result::Result<u64, PayloadError> {
        let b = self.take(8)?;
        Ok(u64::from_le_bytes(
            b.try_into().map_err(|_| PayloadError::BadFormat)?,
        ))
    }
    fn bytes(&mut self) -> std::result::Result<Vec<u8>, PayloadError> {
        let len = self.take(4)?;
        let len = u32::from_le_bytes(len.try_into().map_err(|_| PayloadError::BadFormat)?);
        Ok(self.take(len as usize)?.to_vec())
    }
    /// The count of items that follows, refused if it is 0 or if the bytes left cannot hold that many
    /// items of at least `min` bytes each (so a count read off the payload never sizes an
    /// allocation beyond the payload).
    fn count(&mut self, min: usize) -> std::result::Result<usize, PayloadError> {
        let n = self.u64()?;
        let n = usize::try_from(n).map_err(|_| PayloadError::BadFormat)?;
        // An empty collection does not exist, so no DUMP holds one.
        if n == 0 || n.checked_mul(min).is_none_or(|need| need > self.b.len()) {
            return Err(PayloadError::BadFormat);
        }
        Ok(n)
    }
}

/// Checks and decodes a payload.
///
/// # Errors
/// [`PayloadError::VersionOrChecksum`] for a payload that is not ZiggyDB's, of a later version
/// or damaged; [`PayloadError::BadFormat`] for one whose checksum matches but whose content does
/// not decode (an unknown type, a length past the end, bytes left over, a NaN score, invalid
/// UTF-8 or JSON for a typed value).
pub(crate) fn decode(payload: &[u8]) -> std::result::Result<Dumped, PayloadError> {
    use PayloadError::{BadFormat, VersionOrChecksum};
    if payload.len() < HEAD_LEN + CRC_LEN || payload[..4] != DUMP_MAGIC {
        return Err(VersionOrChecksum);
    }
    let (data, crc) = payload.split_at(payload.len() - CRC_LEN);
    let crc = u32::from_le_bytes(crc.try_into().map_err(|_| VersionOrChecksum)?);
    if payload[4] == 0 || payload[4] > DUMP_VERSION || crc32fast::hash(data) != crc {
        return Err(VersionOrChecksum);
    }
    let ty = ValueType::from_tag(data[5]).ok_or(BadFormat)?;
    let mut body = Body {
        b: &data[HEAD_LEN..],
    };
    let dumped = match ty {
        ValueType::List | ValueType::Set => {
            let n = body.count(4)?;
            let mut items = Vec::with_capacity(n);
            for _ in 0..n {
                items.push(body.bytes()?);
            }
            if ty == ValueType::List {
                Dumped::List(items)
            } else {
                Dumped::Set(items)
            }
        }
        ValueType::ZSet => {
            let n = body.count(12)?;
            let mut items = Vec::with_capacity(n);
            for _ in 0..n {
                let score = f64::from_bits(body.u64()?);
                if score.is_nan() {
                    return Err(BadFormat);
                }
                items.push((score, body.bytes()?));
            }
            Dumped::ZSet(items)
        }
        ValueType::Hash => {
            let n = body.count(8)?;
            let mut items = Vec::with_capacity(n);
            for _ in 0..n {
                let field = body.bytes()?;
                items.push((field, body.bytes()?));
            }
            Dumped::Hash(items)
        }
        _ => {
            let all = body.take(body.b.len())?;
            let value = Value::decode_payload(ty, all).map_err(|_| BadFormat)?;
            if let Value::Json(text) = &value {
                crate::format::value::validate_json(text).map_err(|_| BadFormat)?;
            }
            Dumped::Scalar(value)
        }
    };
    if !body.b.is_empty() {
        return Err(BadFormat);
    }
    Ok(dumped)
}

/// The bytes of a record with a key of `key_len` bytes and a value of `value_len` (§3.2).
fn record_len(key_len: usize, value_len: usize, expires: bool) -> u64 {
    (RECORD_HEADER_LEN + if expires { 8 } else { 0 } + key_len + value_len) as u64
}

/// The bytes of the page records of `tree`.
fn tree_bytes(s: &impl PageRead, tree: Tree) -> Result<u64> {
    /// As `Tree::walk`: a taller tree is damage, and bounds the walk.
    const MAX_HEIGHT: u32 = 64;
    if tree.root == 0 {
        return Ok(0);
    }
    if tree.height > MAX_HEIGHT {
        return Err(Error::CorruptCollection {
            reason: "implausible tree height",
        });
    }
    let mut total = 0u64;
    let mut stack = vec![(tree.root, tree.height)];
    while let Some((page, height)) = stack.pop() {
        let bytes = s.page_bytes(tree.coll, page)?;
        total += record_len(crate::db::pages::page_key(0, 0).len(), bytes.len(), false);
        if height > 0 {
            let node = Page::parse(bytes.to_vec())?;
            stack.extend(node.children().map(|c| (c, height - 1)));
        }
    }
    Ok(total)
}

/// The bytes `key` takes in the segments: its record (header, expiry, key and value, §3.2),
/// plus for a collection the records of every page of its trees (§4.4).
fn usage_of(s: Src<'_>, key: &[u8]) -> Result<Option<u64>> {
    let Some((vtype, len, at)) =
        s.peek(key, |vtype, payload, at| Ok((vtype, payload.len(), at)))?
    else {
        return Ok(None);
    };
    let mut total = record_len(key.len(), len, at != 0);
    if let Some(ty) = ValueType::from_tag(vtype).filter(|t| t.is_collection()) {
        if let Some(meta) = s.meta(key, ty)? {
            total += tree_bytes(&s, meta.a)? + tree_bytes(&s, meta.b)?;
        }
    }
    Ok(Some(total))
}

/// Writes `dumped` under `key` (absent) with the expiry `at` (Unix ms, 0: none).
fn write(tx: &mut WriteTxn, key: &[u8], dumped: Dumped, at: u64) -> Result<()> {
    match dumped {
        Dumped::Scalar(value) => {
            return tx.set_with_expiry(key, value, (at != 0).then_some(at));
        }
        Dumped::List(items) => {
            tx.list(key).push_back(&items)?;
        }
        Dumped::Set(items) => {
            tx.set_of(key).add(&items)?;
        }
        Dumped::ZSet(items) => {
            tx.zset(key).add(ZAddFlags::default(), &items)?;
        }
        Dumped::Hash(pairs) => {
            tx.hash(key).set(&pairs)?;
        }
    }
    if at != 0 {
        tx.set_expiry(key, Some(at))?;
    }
    Ok(())
}

impl Db {
    /// The value of `key` as a payload that [`WriteTxn::restore`] turns back into the same
    /// value, in this database or another (Redis `DUMP`); `None` if the key does not exist.
    /// The payload holds the value and its type, not the key's expiry. Its format is
    /// ZiggyDB's own (format-spec.md §16), not Redis's. A collection is read from one state.
    ///
    /// # Examples
    ///
    /// ```
    /// # fn main() -> ziggydb::Result<()> {
    /// # let dir = tempfile::tempdir().unwrap();
    /// let db = ziggydb::Db::open(dir.path().join("data"))?;
    /// db.transaction(|tx| tx.list(b"jobs").push_back(&[b"a", b"b"]))?;
    /// let payload = db.dump(b"jobs")?.expect("the key exists");
    /// db.transaction(|tx| tx.restore(b"copy", &payload, None, false))?;
    /// assert_eq!(db.list(b"copy").range(0, -1)?, vec![b"a".to_vec(), b"b".to_vec()]);
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// Checksum or I/O errors.
    pub fn dump(&self, key: impl AsRef<[u8]>) -> Result<Option<Vec<u8>>> {
        let key = key.as_ref();
        self.view(|s| dump_of(s, key))
    }

    /// The bytes `key` takes in the database's segments (Redis `MEMORY USAGE`, which counts
    /// memory; ZiggyDB's data lives in files): its record, and for a collection the records
    /// of its tree pages. `None` if the key does not exist. Older versions of the records,
    /// not yet compacted away, and the key's 16-byte index slot are not counted.
    ///
    /// # Examples
    ///
    /// ```
    /// # fn main() -> ziggydb::Result<()> {
    /// # let dir = tempfile::tempdir().unwrap();
    /// let db = ziggydb::Db::open(dir.path().join("data"))?;
    /// db.set(b"k", "value")?;
    /// // A 24-byte record header, 1 byte of key, 5 of value.
    /// assert_eq!(db.memory_usage(b"k")?, Some(30));
    /// assert_eq!(db.memory_usage(b"missing")?, None);
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// Checksum or I/O errors; [`Error::CorruptCollection`] for a damaged tree.
    pub fn memory_usage(&self, key: impl AsRef<[u8]>) -> Result<Option<u64>> {
        let key = key.as_ref();
        self.section(&mut |s| usage_of(s, key))
    }
}

impl WriteTxn {
    /// As [`Db::dump`], seeing this transaction's writes.
    ///
    /// # Examples
    ///
    /// ```
    /// # fn main() -> ziggydb::Result<()> {
    /// # let dir = tempfile::tempdir().unwrap();
    /// let db = ziggydb::Db::open(dir.path().join("data"))?;
    /// let mut tx = db.begin_write()?;
    /// tx.set(b"k", 5i64)?;
    /// assert!(tx.dump(b"k")?.is_some());
    /// assert_eq!(db.dump(b"k")?, None); // not committed
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// As [`Db::dump`].
    pub fn dump(&self, key: impl AsRef<[u8]>) -> Result<Option<Vec<u8>>> {
        dump_of(self, key.as_ref())
    }

    /// As [`Db::memory_usage`], seeing this transaction's writes.
    ///
    /// # Examples
    ///
    /// ```
    /// # fn main() -> ziggydb::Result<()> {
    /// # let dir = tempfile::tempdir().unwrap();
    /// let db = ziggydb::Db::open(dir.path().join("data"))?;
    /// let mut tx = db.begin_write()?;
    /// tx.set(b"k", 5i64)?;
    /// // A 24-byte record header, 1 byte of key, 8 of integer.
    /// assert_eq!(tx.memory_usage(b"k")?, Some(33));
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// As [`Db::memory_usage`].
    pub fn memory_usage(&self, key: impl AsRef<[u8]>) -> Result<Option<u64>> {
        let key = key.as_ref();
        self.section(&mut |s| usage_of(s, key))
    }

    /// Sets `key` to the value a [`Db::dump`] payload holds (Redis `RESTORE`), expiring at
    /// `expires_at_ms` (Unix ms) if given. If the key exists it is replaced when `replace`
    /// is true, and left alone otherwise (the result is then false). An expiry already past
    /// leaves the key absent (deleting it if `replace`), as Redis does.
    ///
    /// # Examples
    ///
    /// ```
    /// # fn main() -> ziggydb::Result<()> {
    /// # let dir = tempfile::tempdir().unwrap();
    /// let db = ziggydb::Db::open(dir.path().join("data"))?;
    /// db.set(b"k", "v")?;
    /// let payload = db.dump(b"k")?.expect("k exists");
    /// db.transaction(|tx| {
    ///     assert!(!tx.restore(b"k", &payload, None, false)?); // k exists
    ///     assert!(tx.restore(b"copy", &payload, Some(u64::MAX / 2), false)?);
    ///     assert!(tx.restore(b"x", b"not a payload", None, false).is_err());
    ///     Ok(())
    /// })?;
    /// assert_eq!(db.expiry(b"copy")?, Some(u64::MAX / 2));
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] with Redis's message (see [`PayloadError`]) for a payload
    /// that is not ZiggyDB's, of a later version, damaged, or malformed; the payload is
    /// checked before anything is written. Otherwise as the writes of the value's type.
    pub fn restore(
        &mut self,
        key: impl AsRef<[u8]>,
        payload: &[u8],
        expires_at_ms: Option<u64>,
        replace: bool,
    ) -> Result<bool> {
        let key = key.as_ref();
        let dumped = decode(payload)?;
        if self.exists(key)? {
            if !replace {
                return Ok(false);
            }
            self.delete(key)?;
        }
        match expires_at_ms {
            Some(at) if at <= crate::engine::now_ms() => Ok(true),
            at => {
                write(self, key, dumped, at.unwrap_or(0))?;
                Ok(true)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn payload(ty: u8, body: &[u8]) -> Vec<u8> {
        let mut p = DUMP_MAGIC.to_vec();
        p.push(DUMP_VERSION);
        p.push(ty);
        p.extend_from_slice(body);
        let crc = crc32fast::hash(&p);
        p.extend_from_slice(&crc.to_le_bytes());
        p
    }

    #[test]
    fn payloads_not_ours_or_damaged_are_refused_before_decoding() {
        let good = payload(1, b"abc");
        assert_eq!(
            decode(&good),
            Ok(Dumped::Scalar(Value::Bytes(b"abc".to_vec())))
        );
        for i in 0..good.len() {
            let mut bad = good.clone();
            bad[i] ^= 0x10;
            assert_eq!(
                decode(&bad),
                Err(PayloadError::VersionOrChecksum),
                "byte {i}"
            );
        }
        let mut later = good.clone();
        later[4] = DUMP_VERSION + 1;
        let n = later.len() - 4;
        let crc = crc32fast::hash(&later[..n]);
        later[n..].copy_from_slice(&crc.to_le_bytes());
        assert_eq!(decode(&later), Err(PayloadError::VersionOrChecksum));
        // A Redis 7 payload of the string "abc": type, value, RDB version 10, CRC-64.
        let redis = b"\x00\x03abc\n\x00\xbd\xcf\x99\x8a\x87\x8c\x1e\xd3";
        assert_eq!(decode(redis), Err(PayloadError::VersionOrChecksum));
        assert_eq!(decode(b""), Err(PayloadError::VersionOrChecksum));
    }

    #[test]
    fn random_bodies_with_good_checksums_decode_or_are_refused_without_panic() {
        let mut x = 0x9E37_79B9_7F4A_7C15u64;
        let mut next = move || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        let tags = [1u8, 2, 3, 4, 5, 6, 7, 16, 17, 18, 19, 0, 99];
        for _ in 0..20_000 {
            let len = (next() % 40) as usize;
            let mut body: Vec<u8> = (0..len).map(|_| (next() % 256) as u8).collect();
            // Small counts and lengths now and then, so that bodies also decode.
            if next() % 2 == 0 && body.len() >= 8 {
                body[..8].copy_from_slice(&(next() % 3).to_le_bytes());
            }
            let ty = tags[(next() % tags.len() as u64) as usize];
            let _ = decode(&payload(ty, &body));
        }
    }

    #[test]
    fn malformed_bodies_with_good_checksums_are_bad_format() {
        let huge_count = u64::MAX.to_le_bytes();
        for (ty, body) in [
            (99u8, &b""[..]),
            (16, &huge_count[..]),
            (16, &[1, 0, 0, 0, 0, 0, 0, 0, 9, 0, 0, 0, b'a'][..]),
            (3, &[1, 2, 3][..]),
            (2, &[0xff][..]),
            (7, &b"{not json"[..]),
            (5, &[2][..]),
            (16, &[0, 0, 0, 0, 0, 0, 0, 0, 7][..]),
            (17, &[0; 8][..]),
            (19, &[0; 8][..]),
        ] {
            assert_eq!(
                decode(&payload(ty, body)),
                Err(PayloadError::BadFormat),
                "{ty} {body:?}"
            );
        }
        let mut nan = 1u64.to_le_bytes().to_vec();
        nan.extend_from_slice(&f64::NAN.to_bits().to_le_bytes());
        nan.extend_from_slice(&[1, 0, 0, 0, b'm']);
        assert_eq!(decode(&payload(18, &nan)), Err(PayloadError::BadFormat));
    }
}
