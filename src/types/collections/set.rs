//! Sets (Redis `SADD`, `SREM`, `SISMEMBER`, …): a counted B+tree keyed by member, so a
//! membership test, add or remove costs O(log n) and a random member is one rank lookup.

use std::collections::BTreeSet;

use crate::db::pages::{load_or_create, store, Source};
use crate::db::txn::WriteTxn;
use crate::db::Db;
use crate::error::Result;
use crate::format::tree::Target;
use crate::format::value::ValueType;
use crate::types::read::Read;

const TY: ValueType = ValueType::Set;

/// A set in a write transaction; see [`WriteTxn::set_of`].
///
/// Stored as a counted B+tree keyed by member, so a membership test, add or remove costs
/// O(log n) and a random member is one rank lookup; see
/// [Keys, values and collections](crate#keys-values-and-collections).
pub struct Set<'t> {
    txn: &'t mut WriteTxn,
    key: Vec<u8>,
}

/// A set for reading: from the committed state ([`Db::set_of`]), one
/// [`crate::Snapshot`], or a write transaction ([`Read::set_view`]). Every set read
/// is written here once.
pub struct SetView<'a, S = Db> {
    src: &'a S,
    key: std::borrow::Cow<'a, [u8]>,
}

impl<'a, S: Read> SetView<'a, S> {
    pub(crate) fn new(src: &'a S, key: std::borrow::Cow<'a, [u8]>) -> Self {
        Self { src, key }
    }
}

impl WriteTxn {
    /// The set at `key`.
    ///
    /// # Examples
    ///
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// # let db = ziggydb::Db::open(dir.path().join("db"))?;
    /// db.transaction(|tx| {
    ///     let mut tags = tx.set_of(b"tags");
    ///     assert_eq!(tags.add(&["rust", "db", "rust"])?, 2);
    ///     Ok(())
    /// })?;
    /// assert_eq!(db.set_of(b"tags").len()?, 2);
    /// # Ok::<(), ziggydb::Error>(())
    /// ```
    pub fn set_of(&mut self, key: impl AsRef<[u8]>) -> Set<'_> {
        Set {
            txn: self,
            key: key.as_ref().to_vec(),
        }
    }

    /// Members of the sets at `keys`, combined (Redis `SINTER`, `SUNION`, `SDIFF`).
    ///
    /// # Errors
    /// [`crate::Error::WrongType`] if a key holds another type.
    ///
    /// # Examples
    ///
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// # let db = ziggydb::Db::open(dir.path().join("db"))?;
    /// use ziggydb::SetOp;
    /// db.transaction(|tx| {
    ///     tx.set_of(b"a").add(&["1", "2"])?;
    ///     tx.set_of(b"b").add(&["2", "3"])?;
    ///     assert_eq!(tx.set_combine(SetOp::Inter, &[b"a", b"b"])?, vec![b"2".to_vec()]);
    ///     Ok(())
    /// })?;
    /// # Ok::<(), ziggydb::Error>(())
    /// ```
    pub fn set_combine(&self, op: SetOp, keys: &[&[u8]]) -> Result<Vec<Vec<u8>>> {
        Read::set_combine(self, op, keys)
    }

    /// Stores the combination of the sets at `keys` in `dest` (Redis `SINTERSTORE`, …);
    /// returns its size.
    ///
    /// # Errors
    /// As [`WriteTxn::set_combine`].
    ///
    /// # Examples
    ///
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// # let db = ziggydb::Db::open(dir.path().join("db"))?;
    /// use ziggydb::SetOp;
    /// db.transaction(|tx| {
    ///     tx.set_of(b"a").add(&["1", "2"])?;
    ///     tx.set_of(b"b").add(&["2", "3"])?;
    ///     assert_eq!(tx.set_combine_store(SetOp::Union, b"all", &[b"a", b"b"])?, 3);
    ///     Ok(())
    /// })?;
    /// assert_eq!(db.set_of(b"all").len()?, 3);
    /// # Ok::<(), ziggydb::Error>(())
    /// ```
    pub fn set_combine_store(&mut self, op: SetOp, dest: &[u8], keys: &[&[u8]]) -> Result<u64> {
        let members = combine(self, op, keys)?;
        self.delete(dest)?;
        let refs: Vec<&[u8]> = members.iter().map(Vec::as_slice).collect();
        self.set_of(dest).add(&refs)
    }

    /// Moves `member` from the set at `src` to the set at `dst` (Redis `SMOVE`); returns
    /// whether it was in `src`. `src` disappears once empty; `dst` is created if needed.
    ///
    /// # Errors
    /// [`crate::Error::WrongType`] if either key holds another type (also when the member
    /// is not in `src`, as in Redis; but a missing `src` moves nothing before `dst` is
    /// looked at); write errors.
    ///
    /// # Examples
    ///
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// # let db = ziggydb::Db::open(dir.path().join("db"))?;
    /// db.transaction(|tx| tx.set_of(b"todo").add(&["a"]))?;
    /// assert!(db.transaction(|tx| tx.set_move(b"todo", b"done", b"a"))?);
    /// assert!(!db.transaction(|tx| tx.set_move(b"todo", b"done", b"a"))?);
    /// assert_eq!(db.set_of(b"done").members()?, vec![b"a".to_vec()]);
    /// assert_eq!(db.key_type(b"todo")?, "none");
    /// # Ok::<(), ziggydb::Error>(())
    /// ```
    pub fn set_move(&mut self, src: &[u8], dst: &[u8], member: &[u8]) -> Result<bool> {
        // In Redis's order: a missing source moves nothing; then both types are checked.
        if self.set_of(src).is_empty()? {
            return Ok(false);
        }
        self.set_of(dst).len()?;
        if !self.set_of(src).contains(member)? {
            return Ok(false);
        }
        if src == dst {
            return Ok(true);
        }
        self.set_of(src).remove(&[member])?;
        self.set_of(dst).add(&[member])?;
        Ok(true)
    }
}

impl Db {
    /// The set at `key`, read without taking the writer lock (each call one consistent
    /// read; see [`Db::view`] for several).
    ///
    /// # Examples
    ///
    /// ```
    /// # fn main() -> ziggydb::Result<()> {
    /// # let dir = tempfile::tempdir().unwrap();
    /// let db = ziggydb::Db::open(dir.path().join("data"))?;
    /// db.transaction(|tx| tx.set_of(b"s").add(&[b"m"]))?;
    /// assert!(db.set_of(b"s").contains(b"m")?);
    /// # Ok(()) }
    /// ```
    pub fn set_of(&self, key: impl AsRef<[u8]>) -> SetView<'_> {
        self.set_view(key)
    }

    /// As [`WriteTxn::set_combine`], from the committed state.
    ///
    /// # Errors
    /// As [`WriteTxn::set_combine`].
    ///
    /// # Examples
    ///
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// # let db = ziggydb::Db::open(dir.path().join("db"))?;
    /// use ziggydb::SetOp;
    /// db.transaction(|tx| {
    ///     tx.set_of(b"a").add(&["1", "2"])?;
    ///     tx.set_of(b"b").add(&["2"])
    /// })?;
    /// assert_eq!(db.set_combine(SetOp::Diff, &[b"a", b"b"])?, vec![b"1".to_vec()]);
    /// # Ok::<(), ziggydb::Error>(())
    /// ```
    pub fn set_combine(&self, op: SetOp, keys: &[&[u8]]) -> Result<Vec<Vec<u8>>> {
        Read::set_combine(self, op, keys)
    }
}

/// How [`WriteTxn::set_combine`] combines sets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SetOp {
    /// Members in every set (`SINTER`).
    Inter,
    /// Members in any set (`SUNION`).
    Union,
    /// Members of the first set in none of the others (`SDIFF`).
    Diff,
}

fn members_of(src: &impl Source, key: &[u8]) -> Result<Vec<Vec<u8>>> {
    let Some(m) = src.meta(key, TY)? else {
        return Ok(Vec::new());
    };
    Ok(m.a
        .range(src, 0, m.len)?
        .into_iter()
        .map(|(k, _)| k)
        .collect())
}

fn contains(src: &impl Source, key: &[u8], member: &[u8]) -> Result<bool> {
    let Some(m) = src.meta(key, TY)? else {
        return Ok(false);
    };
    Ok(m.a.get(src, member)?.is_some())
}

pub(crate) fn combine(src: &impl Source, op: SetOp, keys: &[&[u8]]) -> Result<Vec<Vec<u8>>> {
    let mut sets = Vec::with_capacity(keys.len());
    for k in keys {
        sets.push(members_of(src, k)?.into_iter().collect::<BTreeSet<_>>());
    }
    let mut it = sets.into_iter();
    let Some(first) = it.next() else {
        return Ok(Vec::new());
    };
    let out = it.fold(first, |acc, s| match op {
        SetOp::Inter => acc.intersection(&s).cloned().collect(),
        SetOp::Union => acc.union(&s).cloned().collect(),
        SetOp::Diff => acc.difference(&s).cloned().collect(),
    });
    Ok(out.into_iter().collect())
}

/// A page of a scan of the set at `key`; see [`SetView::scan`].
fn scan_of(
    src: &impl Source,
    key: &[u8],
    cursor: u64,
    count: usize,
    pattern: Option<&[u8]>,
) -> Result<(Vec<Vec<u8>>, u64)> {
    let Some(m) = src.meta(key, TY)? else {
        return Ok((Vec::new(), 0));
    };
    let (page, next) = super::scan_tree(src, &m.a, m.len, cursor, count)?;
    let members = page
        .into_iter()
        .map(|(k, _)| k)
        .filter(|k| super::scan_match(pattern, k))
        .collect();
    Ok((members, next))
}

/// Random members of the set at `key`; see [`Set::random`].
fn random_of(src: &impl Source, key: &[u8], count: i64) -> Result<Vec<Vec<u8>>> {
    let Some(m) = src.meta(key, TY)? else {
        return Ok(Vec::new());
    };
    let mut out = Vec::new();
    for r in crate::os::random::positions(m.len, count.unsigned_abs(), count >= 0) {
        out.extend(m.a.range(src, r, 1)?.into_iter().map(|(k, _)| k));
    }
    Ok(out)
}

impl<S: Read> SetView<'_, S> {
    /// Random members (Redis `SRANDMEMBER`): `count > 0` distinct members, `count < 0`
    /// `|count|` members possibly repeated.
    ///
    /// # Errors
    /// As [`SetView::len`].
    ///
    /// # Examples
    ///
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// # let db = ziggydb::Db::open(dir.path().join("db"))?;
    /// db.transaction(|tx| tx.set_of(b"s").add(&["a", "b", "c"]))?;
    /// let some = db.set_of(b"s").random(2)?; // two distinct members
    /// assert_eq!(some.len(), 2);
    /// assert_ne!(some[0], some[1]);
    /// assert_eq!(db.set_of(b"s").random(-5)?.len(), 5); // negative: may repeat
    /// # Ok::<(), ziggydb::Error>(())
    /// ```
    pub fn random(&self, count: i64) -> Result<Vec<Vec<u8>>> {
        self.src.section(&mut |s| random_of(&s, &self.key, count))
    }
    /// Number of members (Redis `SCARD`).
    ///
    /// # Errors
    /// [`crate::Error::WrongType`]; read errors.
    ///
    /// # Examples
    ///
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// # let db = ziggydb::Db::open(dir.path().join("db"))?;
    /// db.transaction(|tx| tx.set_of(b"s").add(&["a", "b"]))?;
    /// assert_eq!(db.set_of(b"s").len()?, 2);
    /// # Ok::<(), ziggydb::Error>(())
    /// ```
    pub fn len(&self) -> Result<u64> {
        self.src
            .section(&mut |s| Ok(s.meta(&self.key, TY)?.map_or(0, |m| m.len)))
    }
    /// True when the set is absent.
    ///
    /// # Errors
    /// As [`SetView::len`].
    ///
    /// # Examples
    ///
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// # let db = ziggydb::Db::open(dir.path().join("db"))?;
    /// assert!(db.set_of(b"s").is_empty()?);
    /// db.transaction(|tx| tx.set_of(b"s").add(&["a"]))?;
    /// assert!(!db.set_of(b"s").is_empty()?);
    /// # Ok::<(), ziggydb::Error>(())
    /// ```
    pub fn is_empty(&self) -> Result<bool> {
        Ok(self.len()? == 0)
    }
    /// Whether `member` is in the set (Redis `SISMEMBER`).
    ///
    /// # Errors
    /// As [`SetView::len`].
    ///
    /// # Examples
    ///
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// # let db = ziggydb::Db::open(dir.path().join("db"))?;
    /// db.transaction(|tx| tx.set_of(b"s").add(&["a"]))?;
    /// assert!(db.set_of(b"s").contains(b"a")?);
    /// assert!(!db.set_of(b"s").contains(b"b")?);
    /// # Ok::<(), ziggydb::Error>(())
    /// ```
    pub fn contains(&self, member: &[u8]) -> Result<bool> {
        self.src.section(&mut |s| contains(&s, &self.key, member))
    }
    /// All members in byte order (Redis `SMEMBERS`).
    ///
    /// # Errors
    /// As [`SetView::len`].
    ///
    /// # Examples
    ///
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// # let db = ziggydb::Db::open(dir.path().join("db"))?;
    /// db.transaction(|tx| tx.set_of(b"s").add(&["b", "a"]))?;
    /// let mut m = db.set_of(b"s").members()?;
    /// m.sort();
    /// assert_eq!(m, vec![b"a".to_vec(), b"b".to_vec()]);
    /// # Ok::<(), ziggydb::Error>(())
    /// ```
    pub fn members(&self) -> Result<Vec<Vec<u8>>> {
        self.src.section(&mut |s| members_of(&s, &self.key))
    }
    /// One page of an incremental scan of the members (Redis `SSCAN key cursor [MATCH
    /// pattern] [COUNT count]`): from `cursor` (0 to start) on, in scan order (a member's
    /// hash with the bits reversed, as keys are scanned), about `count` members (at least a
    /// 64th of the set), of which those that match the glob `pattern` if one is given.
    /// Returns them and the cursor of the next call, 0 when the scan is complete.
    ///
    /// Every member present from the first call to the last is returned at least once,
    /// whatever other processes write meanwhile; one added or removed meanwhile may or may
    /// not be. Each call reads one consistent state, and every member of it (O(n)).
    ///
    /// # Errors
    /// As [`SetView::len`].
    ///
    /// # Examples
    ///
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// # let db = ziggydb::Db::open(dir.path().join("db"))?;
    /// let members: Vec<String> = (0..100).map(|i| format!("m{i}")).collect();
    /// db.transaction(|tx| tx.set_of(b"s").add(&members))?;
    /// let (mut seen, mut cursor) = (Vec::new(), 0);
    /// loop {
    ///     let (page, next) = db.set_of(b"s").scan(cursor, 10, Some(b"m1*"))?;
    ///     seen.extend(page);
    ///     if next == 0 { break; }
    ///     cursor = next;
    /// }
    /// seen.sort();
    /// assert_eq!(seen.len(), 11); // m1, m10..m19
    /// # Ok::<(), ziggydb::Error>(())
    /// ```
    pub fn scan(
        &self,
        cursor: u64,
        count: usize,
        pattern: Option<&[u8]>,
    ) -> Result<(Vec<Vec<u8>>, u64)> {
        self.src
            .section(&mut |s| scan_of(&s, &self.key, cursor, count, pattern))
    }
}

impl Set<'_> {
    /// Adds members (Redis `SADD`); returns how many were new.
    ///
    /// # Errors
    /// [`crate::Error::WrongType`]; write errors.
    ///
    /// # Examples
    ///
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// # let db = ziggydb::Db::open(dir.path().join("db"))?;
    /// let added = db.transaction(|tx| tx.set_of(b"s").add(&["a", "b"]))?;
    /// assert_eq!(added, 2);
    /// assert_eq!(db.transaction(|tx| tx.set_of(b"s").add(&["b", "c"]))?, 1); // b was there
    /// # Ok::<(), ziggydb::Error>(())
    /// ```
    pub fn add<M: AsRef<[u8]>>(&mut self, members: &[M]) -> Result<u64> {
        let (mut m, exp) = load_or_create(self.txn, &self.key, TY)?;
        let mut added = 0;
        for member in members {
            if m.a
                .insert(
                    self.txn,
                    &mut m.next_page,
                    Target::Key(member.as_ref()),
                    member.as_ref(),
                    &[],
                )?
                .is_none()
            {
                added += 1;
                m.len += 1;
            }
        }
        store(self.txn, &self.key, TY, &m, exp)?;
        Ok(added)
    }

    /// Removes members (Redis `SREM`); returns how many were present.
    ///
    /// # Errors
    /// As [`Set::add`].
    ///
    /// # Examples
    ///
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// # let db = ziggydb::Db::open(dir.path().join("db"))?;
    /// db.transaction(|tx| tx.set_of(b"s").add(&["a", "b"]))?;
    /// assert_eq!(db.transaction(|tx| tx.set_of(b"s").remove(&["a", "zz"]))?, 1);
    /// assert_eq!(db.set_of(b"s").members()?, vec![b"b".to_vec()]);
    /// # Ok::<(), ziggydb::Error>(())
    /// ```
    pub fn remove<M: AsRef<[u8]>>(&mut self, members: &[M]) -> Result<u64> {
        let Some(mut m) = self.txn.meta(&self.key, TY)? else {
            return Ok(0);
        };
        let exp = self.txn.expiry(&self.key)?.unwrap_or(0);
        let mut removed = 0;
        for member in members {
            if m.a
                .remove(self.txn, Target::Key(member.as_ref()))?
                .is_some()
            {
                removed += 1;
                m.len -= 1;
            }
        }
        store(self.txn, &self.key, TY, &m, exp)?;
        Ok(removed)
    }

    /// Whether `member` is in the set (Redis `SISMEMBER`).
    ///
    /// # Errors
    /// As [`Set::add`].
    ///
    /// # Examples
    ///
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// # let db = ziggydb::Db::open(dir.path().join("db"))?;
    /// db.transaction(|tx| {
    ///     let mut s = tx.set_of(b"s");
    ///     s.add(&["a"])?;
    ///     assert!(s.contains(b"a")?);
    ///     Ok(())
    /// })?;
    /// # Ok::<(), ziggydb::Error>(())
    /// ```
    pub fn contains(&self, member: &[u8]) -> Result<bool> {
        contains(&*self.txn, &self.key, member)
    }

    /// Number of members (Redis `SCARD`).
    ///
    /// # Errors
    /// As [`Set::add`].
    ///
    /// # Examples
    ///
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// # let db = ziggydb::Db::open(dir.path().join("db"))?;
    /// db.transaction(|tx| {
    ///     let mut s = tx.set_of(b"s");
    ///     s.add(&["a", "b", "a"])?;
    ///     assert_eq!(s.len()?, 2);
    ///     Ok(())
    /// })?;
    /// # Ok::<(), ziggydb::Error>(())
    /// ```
    pub fn len(&self) -> Result<u64> {
        Ok(self.txn.meta(&self.key, TY)?.map_or(0, |m| m.len))
    }

    /// True when the set is absent.
    ///
    /// # Errors
    /// As [`Set::add`].
    ///
    /// # Examples
    ///
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// # let db = ziggydb::Db::open(dir.path().join("db"))?;
    /// db.transaction(|tx| {
    ///     let mut s = tx.set_of(b"s");
    ///     assert!(s.is_empty()?);
    ///     s.add(&["a"])?;
    ///     assert!(!s.is_empty()?);
    ///     Ok(())
    /// })?;
    /// # Ok::<(), ziggydb::Error>(())
    /// ```
    pub fn is_empty(&self) -> Result<bool> {
        Ok(self.len()? == 0)
    }

    /// All members in byte order (Redis `SMEMBERS`).
    ///
    /// # Errors
    /// As [`Set::add`].
    ///
    /// # Examples
    ///
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// # let db = ziggydb::Db::open(dir.path().join("db"))?;
    /// db.transaction(|tx| {
    ///     let mut s = tx.set_of(b"s");
    ///     s.add(&["a"])?;
    ///     assert_eq!(s.members()?, vec![b"a".to_vec()]);
    ///     Ok(())
    /// })?;
    /// # Ok::<(), ziggydb::Error>(())
    /// ```
    pub fn members(&self) -> Result<Vec<Vec<u8>>> {
        members_of(&*self.txn, &self.key)
    }

    /// Random members (Redis `SRANDMEMBER`): `count > 0` distinct members, `count < 0`
    /// `|count|` members possibly repeated.
    ///
    /// # Errors
    /// As [`Set::add`].
    ///
    /// # Examples
    ///
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// # let db = ziggydb::Db::open(dir.path().join("db"))?;
    /// db.transaction(|tx| {
    ///     let mut s = tx.set_of(b"s");
    ///     s.add(&["only"])?;
    ///     assert_eq!(s.random(1)?, vec![b"only".to_vec()]);
    ///     Ok(())
    /// })?;
    /// # Ok::<(), ziggydb::Error>(())
    /// ```
    pub fn random(&self, count: i64) -> Result<Vec<Vec<u8>>> {
        random_of(&*self.txn, &self.key, count)
    }

    /// One page of a scan of the members as this transaction sees them (Redis `SSCAN`);
    /// see [`SetView::scan`].
    ///
    /// # Errors
    /// As [`Set::add`].
    ///
    /// # Examples
    ///
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// # let db = ziggydb::Db::open(dir.path().join("db"))?;
    /// db.transaction(|tx| {
    ///     let mut s = tx.set_of(b"s");
    ///     s.add(&["a", "b"])?;
    ///     let (mut page, next) = s.scan(0, 10, None)?;
    ///     page.sort();
    ///     assert_eq!((page, next), (vec![b"a".to_vec(), b"b".to_vec()], 0));
    ///     Ok(())
    /// })?;
    /// # Ok::<(), ziggydb::Error>(())
    /// ```
    pub fn scan(
        &self,
        cursor: u64,
        count: usize,
        pattern: Option<&[u8]>,
    ) -> Result<(Vec<Vec<u8>>, u64)> {
        scan_of(&*self.txn, &self.key, cursor, count, pattern)
    }

    /// Removes and returns up to `count` random members (Redis `SPOP`).
    ///
    /// # Errors
    /// As [`Set::add`].
    ///
    /// # Examples
    ///
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// # let db = ziggydb::Db::open(dir.path().join("db"))?;
    /// db.transaction(|tx| tx.set_of(b"s").add(&["a", "b", "c"]))?;
    /// let popped = db.transaction(|tx| tx.set_of(b"s").pop(2))?;
    /// assert_eq!(popped.len(), 2);
    /// assert_eq!(db.set_of(b"s").len()?, 1);
    /// # Ok::<(), ziggydb::Error>(())
    /// ```
    pub fn pop(&mut self, count: u64) -> Result<Vec<Vec<u8>>> {
        let picked = self.random(i64::try_from(count).unwrap_or(i64::MAX))?;
        let refs: Vec<&[u8]> = picked.iter().map(Vec::as_slice).collect();
        self.remove(&refs)?;
        Ok(picked)
    }
}
