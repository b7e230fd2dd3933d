//! Hashes (Redis `HSET`, `HGET`, `HDEL`, …): a counted B+tree keyed by field, so reading or
//! writing one field costs O(log n) whatever the number of fields.

use crate::db::pages::{load_or_create, store, Source};
use crate::db::txn::WriteTxn;
use crate::db::Db;
use crate::error::{Error, Result};
use crate::format::tree::Target;
use crate::format::value::{format_float, parse_f64, parse_i64, ValueType};
use crate::types::read::Read;

const TY: ValueType = ValueType::Hash;

/// A hash in a write transaction; see [`WriteTxn::hash`].
///
/// Stored as a counted B+tree keyed by field, so reading or writing one field costs
/// O(log n) whatever the number of fields; see
/// [Keys, values and collections](crate#keys-values-and-collections).
pub struct Hash<'t> {
    txn: &'t mut WriteTxn,
    key: Vec<u8>,
}

/// A hash for reading: from the committed state ([`Db::hash`]), one
/// [`crate::Snapshot`], or a write transaction ([`Read::hash_view`]). Every hash read
/// is written here once.
pub struct HashView<'a, S = Db> {
    src: &'a S,
    key: std::borrow::Cow<'a, [u8]>,
}

impl<'a, S: Read> HashView<'a, S> {
    pub(crate) fn new(src: &'a S, key: std::borrow::Cow<'a, [u8]>) -> Self {
        Self { src, key }
    }
}

impl WriteTxn {
    /// The hash at `key`.
    ///
    /// # Examples
    ///
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// # let db = ziggydb::Db::open(dir.path().join("db"))?;
    /// db.transaction(|tx| {
    ///     let mut user = tx.hash(b"user:1");
    ///     user.set(&[("name", "ada"), ("lang", "en")])?;
    ///     assert_eq!(user.get(b"name")?, Some(b"ada".to_vec()));
    ///     Ok(())
    /// })?;
    /// # Ok::<(), ziggydb::Error>(())
    /// ```
    pub fn hash(&mut self, key: impl AsRef<[u8]>) -> Hash<'_> {
        Hash {
            txn: self,
            key: key.as_ref().to_vec(),
        }
    }
}

impl Db {
    /// The hash at `key`, read without taking the writer lock (each call one consistent
    /// read; see [`Db::view`] for several).
    ///
    /// # Examples
    ///
    /// ```
    /// # fn main() -> ziggydb::Result<()> {
    /// # let dir = tempfile::tempdir().unwrap();
    /// let db = ziggydb::Db::open(dir.path().join("data"))?;
    /// db.transaction(|tx| tx.hash(b"h").set(&[(b"f", b"v")]))?;
    /// assert_eq!(db.hash(b"h").get(b"f")?, Some(b"v".to_vec()));
    /// # Ok(()) }
    /// ```
    pub fn hash(&self, key: impl AsRef<[u8]>) -> HashView<'_> {
        self.hash_view(key)
    }
}

fn get(src: &impl Source, key: &[u8], field: &[u8]) -> Result<Option<Vec<u8>>> {
    let Some(m) = src.meta(key, TY)? else {
        return Ok(None);
    };
    m.a.get(src, field)
}

/// Random fields with their values; see [`HashView::random`].
fn random_of(src: &impl Source, key: &[u8], count: i64) -> Result<Vec<(Vec<u8>, Vec<u8>)>> {
    let Some(m) = src.meta(key, TY)? else {
        return Ok(Vec::new());
    };
    let picks = crate::os::random::positions(m.len, count.unsigned_abs(), count >= 0);
    // A hash's tree keeps no counts (format-spec.md §4.4), so the picked positions are found
    // in one walk in key order, a bounded chunk at a time: O(fields) for any count.
    let mut wanted = picks.clone();
    wanted.sort_unstable();
    wanted.dedup();
    let mut found = std::collections::HashMap::with_capacity(wanted.len());
    let (mut next, mut pos, mut after) = (0, 0u64, None::<Vec<u8>>);
    while next < wanted.len() {
        let chunk = m.a.range_after(src, after.as_deref(), 1024)?;
        if chunk.is_empty() {
            break;
        }
        for (field, value) in chunk {
            if wanted.get(next) == Some(&pos) {
                found.insert(pos, (field.clone(), value));
                next += 1;
            }
            pos += 1;
            after = Some(field);
        }
    }
    Ok(picks.iter().filter_map(|p| found.get(p).cloned()).collect())
}

/// A page of a scan of the hash at `key`; see [`HashView::scan`].
fn scan_of(
    src: &impl Source,
    key: &[u8],
    cursor: u64,
    count: usize,
    pattern: Option<&[u8]>,
) -> Result<super::HashScanPage> {
    let Some(m) = src.meta(key, TY)? else {
        return Ok((Vec::new(), 0));
    };
    let (mut page, next) = super::scan_tree(src, &m.a, m.len, cursor, count)?;
    page.retain(|(field, _)| super::scan_match(pattern, field));
    Ok((page, next))
}

fn all(src: &impl Source, key: &[u8]) -> Result<Vec<(Vec<u8>, Vec<u8>)>> {
    let Some(m) = src.meta(key, TY)? else {
        return Ok(Vec::new());
    };
    m.a.range(src, 0, m.len)
}

impl<S: Read> HashView<'_, S> {
    /// The value of `field` (Redis `HGET`).
    ///
    /// # Errors
    /// [`Error::WrongType`]; read errors.
    ///
    /// # Examples
    ///
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// # let db = ziggydb::Db::open(dir.path().join("db"))?;
    /// db.transaction(|tx| tx.hash(b"h").set(&[("f", "v")]))?;
    /// assert_eq!(db.hash(b"h").get(b"f")?, Some(b"v".to_vec()));
    /// assert_eq!(db.hash(b"h").get(b"nope")?, None);
    /// # Ok::<(), ziggydb::Error>(())
    /// ```
    pub fn get(&self, field: &[u8]) -> Result<Option<Vec<u8>>> {
        self.src.section(&mut |s| get(&s, &self.key, field))
    }
    /// Fields and values in field order (Redis `HGETALL`).
    ///
    /// # Errors
    /// As [`HashView::get`].
    ///
    /// # Examples
    ///
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// # let db = ziggydb::Db::open(dir.path().join("db"))?;
    /// db.transaction(|tx| tx.hash(b"h").set(&[("b", "2"), ("a", "1")]))?;
    /// let mut all = db.hash(b"h").get_all()?;
    /// all.sort();
    /// assert_eq!(all, vec![(b"a".to_vec(), b"1".to_vec()), (b"b".to_vec(), b"2".to_vec())]);
    /// # Ok::<(), ziggydb::Error>(())
    /// ```
    pub fn get_all(&self) -> Result<Vec<(Vec<u8>, Vec<u8>)>> {
        self.src.section(&mut |s| all(&s, &self.key))
    }
    /// Random fields with their values (Redis `HRANDFIELD`), each field equally likely:
    /// `count >= 0` gives `min(count, len)` different fields, `count < 0` gives `|count|`
    /// fields drawn independently (a field may repeat).
    ///
    /// # Errors
    /// As [`HashView::get`].
    ///
    /// # Examples
    ///
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// # let db = ziggydb::Db::open(dir.path().join("db"))?;
    /// db.transaction(|tx| tx.hash(b"h").set(&[("a", "1"), ("b", "2"), ("c", "3")]))?;
    /// let two = db.hash(b"h").random(2)?;
    /// assert_eq!(two.len(), 2);
    /// assert_ne!(two[0], two[1]);
    /// assert_eq!(db.hash(b"h").random(-10)?.len(), 10);
    /// # Ok::<(), ziggydb::Error>(())
    /// ```
    pub fn random(&self, count: i64) -> Result<Vec<(Vec<u8>, Vec<u8>)>> {
        self.src.section(&mut |s| random_of(&s, &self.key, count))
    }
    /// One page of an incremental scan of the fields and their values (Redis `HSCAN key
    /// cursor [MATCH pattern] [COUNT count]`), with the guarantees and costs of
    /// [`SetView::scan`](crate::SetView::scan): every field present for the whole scan is
    /// returned at least once. Returns the page and the next cursor, 0 at the end.
    ///
    /// # Errors
    /// As [`HashView::get`].
    ///
    /// # Examples
    ///
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// # let db = ziggydb::Db::open(dir.path().join("db"))?;
    /// db.transaction(|tx| tx.hash(b"h").set(&[("a", "1"), ("b", "2")]))?;
    /// let (page, next) = db.hash(b"h").scan(0, 10, Some(b"a"))?;
    /// assert_eq!((page, next), (vec![(b"a".to_vec(), b"1".to_vec())], 0));
    /// # Ok::<(), ziggydb::Error>(())
    /// ```
    pub fn scan(
        &self,
        cursor: u64,
        count: usize,
        pattern: Option<&[u8]>,
    ) -> Result<super::HashScanPage> {
        self.src
            .section(&mut |s| scan_of(&s, &self.key, cursor, count, pattern))
    }
    /// Number of fields (Redis `HLEN`).
    ///
    /// # Errors
    /// As [`HashView::get`].
    ///
    /// # Examples
    ///
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// # let db = ziggydb::Db::open(dir.path().join("db"))?;
    /// db.transaction(|tx| tx.hash(b"h").set(&[("a", "1"), ("b", "2")]))?;
    /// assert_eq!(db.hash(b"h").len()?, 2);
    /// # Ok::<(), ziggydb::Error>(())
    /// ```
    pub fn len(&self) -> Result<u64> {
        self.src
            .section(&mut |s| Ok(s.meta(&self.key, TY)?.map_or(0, |m| m.len)))
    }
    /// True when the hash is absent.
    ///
    /// # Errors
    /// As [`HashView::get`].
    ///
    /// # Examples
    ///
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// # let db = ziggydb::Db::open(dir.path().join("db"))?;
    /// assert!(db.hash(b"h").is_empty()?);
    /// db.transaction(|tx| tx.hash(b"h").set(&[("a", "1")]))?;
    /// assert!(!db.hash(b"h").is_empty()?);
    /// # Ok::<(), ziggydb::Error>(())
    /// ```
    pub fn is_empty(&self) -> Result<bool> {
        Ok(self.len()? == 0)
    }
}

impl Hash<'_> {
    /// Sets fields (Redis `HSET`); returns how many were new.
    ///
    /// # Errors
    /// [`Error::WrongType`]; write errors.
    ///
    /// # Examples
    ///
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// # let db = ziggydb::Db::open(dir.path().join("db"))?;
    /// let added = db.transaction(|tx| tx.hash(b"h").set(&[("a", "1"), ("b", "2")]))?;
    /// assert_eq!(added, 2);
    /// let added = db.transaction(|tx| tx.hash(b"h").set(&[("a", "9")]))?; // an update
    /// assert_eq!(added, 0);
    /// assert_eq!(db.hash(b"h").get(b"a")?, Some(b"9".to_vec()));
    /// # Ok::<(), ziggydb::Error>(())
    /// ```
    pub fn set<F: AsRef<[u8]>, V: AsRef<[u8]>>(&mut self, pairs: &[(F, V)]) -> Result<u64> {
        let (mut m, exp) = load_or_create(self.txn, &self.key, TY)?;
        let mut added = 0;
        for (f, v) in pairs {
            let (f, v) = (f.as_ref(), v.as_ref());
            if m.a
                .insert(self.txn, &mut m.next_page, Target::Key(f), f, v)?
                .is_none()
            {
                added += 1;
                m.len += 1;
            }
        }
        // Redis counts every HSET (and HINCRBY) as a change of the key, also one that
        // stores the value already there: so does WATCH here.
        m.mark_changed();
        store(self.txn, &self.key, TY, &m, exp)?;
        Ok(added)
    }

    /// Sets `field` only if it is absent (Redis `HSETNX`); true if it was set.
    ///
    /// # Errors
    /// As [`Hash::set`].
    ///
    /// # Examples
    ///
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// # let db = ziggydb::Db::open(dir.path().join("db"))?;
    /// db.transaction(|tx| {
    ///     let mut h = tx.hash(b"h");
    ///     assert!(h.set_if_absent(b"f", b"first")?);
    ///     assert!(!h.set_if_absent(b"f", b"second")?);
    ///     assert_eq!(h.get(b"f")?, Some(b"first".to_vec()));
    ///     Ok(())
    /// })?;
    /// # Ok::<(), ziggydb::Error>(())
    /// ```
    pub fn set_if_absent(&mut self, field: &[u8], value: &[u8]) -> Result<bool> {
        if self.get(field)?.is_some() {
            return Ok(false);
        }
        self.set(&[(field, value)])?;
        Ok(true)
    }

    /// The value of `field` (Redis `HGET`).
    ///
    /// # Errors
    /// As [`Hash::set`].
    ///
    /// # Examples
    ///
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// # let db = ziggydb::Db::open(dir.path().join("db"))?;
    /// db.transaction(|tx| {
    ///     let mut h = tx.hash(b"h");
    ///     h.set(&[("f", "v")])?;
    ///     assert_eq!(h.get(b"f")?, Some(b"v".to_vec())); // sees the pending write
    ///     Ok(())
    /// })?;
    /// # Ok::<(), ziggydb::Error>(())
    /// ```
    pub fn get(&self, field: &[u8]) -> Result<Option<Vec<u8>>> {
        get(&*self.txn, &self.key, field)
    }

    /// Fields and values in field order (Redis `HGETALL`; `HKEYS`/`HVALS` take one side).
    ///
    /// # Errors
    /// As [`Hash::set`].
    ///
    /// # Examples
    ///
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// # let db = ziggydb::Db::open(dir.path().join("db"))?;
    /// db.transaction(|tx| {
    ///     let mut h = tx.hash(b"h");
    ///     h.set(&[("f", "v")])?;
    ///     assert_eq!(h.get_all()?, vec![(b"f".to_vec(), b"v".to_vec())]);
    ///     Ok(())
    /// })?;
    /// # Ok::<(), ziggydb::Error>(())
    /// ```
    pub fn get_all(&self) -> Result<Vec<(Vec<u8>, Vec<u8>)>> {
        all(&*self.txn, &self.key)
    }

    /// [`HashView::random`] inside the transaction.
    ///
    /// # Errors
    /// As [`Hash::set`].
    ///
    /// # Examples
    ///
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// # let db = ziggydb::Db::open(dir.path().join("db"))?;
    /// db.transaction(|tx| {
    ///     let mut h = tx.hash(b"h");
    ///     h.set(&[("f", "v")])?;
    ///     assert_eq!(h.random(1)?, vec![(b"f".to_vec(), b"v".to_vec())]);
    ///     Ok(())
    /// })?;
    /// # Ok::<(), ziggydb::Error>(())
    /// ```
    pub fn random(&self, count: i64) -> Result<Vec<(Vec<u8>, Vec<u8>)>> {
        random_of(&*self.txn, &self.key, count)
    }

    /// One page of a scan of the fields as this transaction sees them (Redis `HSCAN`); see
    /// [`HashView::scan`].
    ///
    /// # Errors
    /// As [`Hash::set`].
    ///
    /// # Examples
    ///
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// # let db = ziggydb::Db::open(dir.path().join("db"))?;
    /// db.transaction(|tx| {
    ///     let mut h = tx.hash(b"h");
    ///     h.set(&[("f", "v")])?;
    ///     assert_eq!(h.scan(0, 10, None)?, (vec![(b"f".to_vec(), b"v".to_vec())], 0));
    ///     Ok(())
    /// })?;
    /// # Ok::<(), ziggydb::Error>(())
    /// ```
    pub fn scan(
        &self,
        cursor: u64,
        count: usize,
        pattern: Option<&[u8]>,
    ) -> Result<super::HashScanPage> {
        scan_of(&*self.txn, &self.key, cursor, count, pattern)
    }

    /// Number of fields (Redis `HLEN`).
    ///
    /// # Errors
    /// As [`Hash::set`].
    ///
    /// # Examples
    ///
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// # let db = ziggydb::Db::open(dir.path().join("db"))?;
    /// db.transaction(|tx| {
    ///     let mut h = tx.hash(b"h");
    ///     h.set(&[("a", "1"), ("b", "2")])?;
    ///     assert_eq!(h.len()?, 2);
    ///     Ok(())
    /// })?;
    /// # Ok::<(), ziggydb::Error>(())
    /// ```
    pub fn len(&self) -> Result<u64> {
        Ok(self.txn.meta(&self.key, TY)?.map_or(0, |m| m.len))
    }

    /// True when the hash is absent.
    ///
    /// # Errors
    /// As [`Hash::set`].
    ///
    /// # Examples
    ///
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// # let db = ziggydb::Db::open(dir.path().join("db"))?;
    /// db.transaction(|tx| {
    ///     let mut h = tx.hash(b"h");
    ///     assert!(h.is_empty()?);
    ///     h.set(&[("a", "1")])?;
    ///     assert!(!h.is_empty()?);
    ///     Ok(())
    /// })?;
    /// # Ok::<(), ziggydb::Error>(())
    /// ```
    pub fn is_empty(&self) -> Result<bool> {
        Ok(self.len()? == 0)
    }

    /// Deletes fields (Redis `HDEL`); returns how many existed.
    ///
    /// # Errors
    /// As [`Hash::set`].
    ///
    /// # Examples
    ///
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// # let db = ziggydb::Db::open(dir.path().join("db"))?;
    /// db.transaction(|tx| tx.hash(b"h").set(&[("a", "1"), ("b", "2")]))?;
    /// assert_eq!(db.transaction(|tx| tx.hash(b"h").delete(&["a", "zz"]))?, 1);
    /// assert_eq!(db.hash(b"h").len()?, 1);
    /// # Ok::<(), ziggydb::Error>(())
    /// ```
    pub fn delete<F: AsRef<[u8]>>(&mut self, fields: &[F]) -> Result<u64> {
        let Some(mut m) = self.txn.meta(&self.key, TY)? else {
            return Ok(0);
        };
        let exp = self.txn.expiry(&self.key)?.unwrap_or(0);
        let mut n = 0;
        for f in fields {
            if m.a.remove(self.txn, Target::Key(f.as_ref()))?.is_some() {
                n += 1;
                m.len -= 1;
            }
        }
        store(self.txn, &self.key, TY, &m, exp)?;
        Ok(n)
    }

    /// Adds `delta` to the integer in `field` (Redis `HINCRBY`).
    ///
    /// # Errors
    /// [`Error::NotAnInteger`] ("hash value is not an integer"), [`Error::Overflow`].
    ///
    /// # Examples
    ///
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// # let db = ziggydb::Db::open(dir.path().join("db"))?;
    /// db.transaction(|tx| {
    ///     let mut h = tx.hash(b"stats");
    ///     h.incr_by(b"views", 1)?;
    ///     assert_eq!(h.incr_by(b"views", 4)?, 5);
    ///     Ok(())
    /// })?;
    /// # Ok::<(), ziggydb::Error>(())
    /// ```
    pub fn incr_by(&mut self, field: &[u8], delta: i64) -> Result<i64> {
        let cur = match self.get(field)? {
            Some(v) => parse_i64(&v)?,
            None => 0,
        };
        let n = cur.checked_add(delta).ok_or(Error::Overflow)?;
        self.set(&[(field, n.to_string().as_bytes())])?;
        Ok(n)
    }

    /// Adds `delta` to the float in `field` (Redis `HINCRBYFLOAT`).
    ///
    /// # Errors
    /// [`Error::NotAFloat`]; a result that is not finite.
    ///
    /// # Examples
    ///
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// # let db = ziggydb::Db::open(dir.path().join("db"))?;
    /// let v = db.transaction(|tx| {
    ///     let mut h = tx.hash(b"h");
    ///     h.incr_by_float(b"price", 10.5)?;
    ///     h.incr_by_float(b"price", 0.25)
    /// })?;
    /// assert_eq!(v, 10.75);
    /// assert_eq!(db.hash(b"h").get(b"price")?, Some(b"10.75".to_vec()));
    /// # Ok::<(), ziggydb::Error>(())
    /// ```
    pub fn incr_by_float(&mut self, field: &[u8], delta: f64) -> Result<f64> {
        let cur = match self.get(field)? {
            Some(v) => parse_f64(&v)?,
            None => 0.0,
        };
        let n = crate::format::value::add_as_decimals(cur, delta);
        if !n.is_finite() {
            return Err(Error::InvalidArgument(
                "increment would produce NaN or Infinity".into(),
            ));
        }
        self.set(&[(field, format_float(n).as_bytes())])?;
        Ok(n)
    }
}
