//! Lists (Redis `LPUSH`, `RPUSH`, `LPOP`, `LRANGE`, …): a positional counted B+tree, so a
//! push or pop at either end, an index or a set costs O(log n).

use std::borrow::Cow;

use crate::db::pages::{load_or_create, store, Meta, Source};
use crate::db::txn::WriteTxn;
use crate::db::Db;
use crate::error::{Error, Result};
use crate::format::tree::{PageRead, Target};
use crate::format::value::ValueType;
use crate::types::collections::index_range;
use crate::types::read::Read;

const TY: ValueType = ValueType::List;

/// A list in a write transaction; see [`WriteTxn::list`].
///
/// Stored as a positional counted B+tree, so a push or pop at either end, an index or a
/// set costs O(log n) whatever the length; see
/// [Keys, values and collections](crate#keys-values-and-collections).
pub struct List<'t> {
    txn: &'t mut WriteTxn,
    key: Vec<u8>,
}

/// A list for reading: from the committed state ([`Db::list`]), one [`crate::Snapshot`],
/// or a write transaction ([`Read::list_view`]). Every list read is written here once;
/// [`List`] forwards its reads to it.
pub struct ListView<'a, S = Db> {
    src: &'a S,
    key: Cow<'a, [u8]>,
}

impl<'a, S: Read> ListView<'a, S> {
    pub(crate) fn new(src: &'a S, key: Cow<'a, [u8]>) -> Self {
        Self { src, key }
    }
}

impl WriteTxn {
    /// The list at `key` (created by the first push; removed when it becomes empty).
    ///
    /// # Examples
    ///
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// # let db = ziggydb::Db::open(dir.path().join("db"))?;
    /// db.transaction(|tx| {
    ///     let mut jobs = tx.list(b"jobs");
    ///     jobs.push_back(&["a", "b"])?;
    ///     assert_eq!(jobs.len()?, 2);
    ///     Ok(())
    /// })?;
    /// # Ok::<(), ziggydb::Error>(())
    /// ```
    pub fn list(&mut self, key: impl AsRef<[u8]>) -> List<'_> {
        List {
            txn: self,
            key: key.as_ref().to_vec(),
        }
    }
}

impl Db {
    /// The list at `key`, read without taking the writer lock (each call one consistent
    /// read; see [`Db::view`] for several).
    ///
    /// # Examples
    ///
    /// ```
    /// # fn main() -> ziggydb::Result<()> {
    /// # let dir = tempfile::tempdir().unwrap();
    /// let db = ziggydb::Db::open(dir.path().join("data"))?;
    /// db.transaction(|tx| tx.list(b"l").push_back(&[b"a"]))?;
    /// assert_eq!(db.list(b"l").get(0)?, Some(b"a".to_vec()));
    /// # Ok(()) }
    /// ```
    pub fn list(&self, key: impl AsRef<[u8]>) -> ListView<'_> {
        self.list_view(key)
    }
}

impl ListView<'_, Db> {
    /// Removes and returns the first element, waiting for one to be pushed (by any process)
    /// if the list is empty (Redis `BLPOP key timeout`); `None` if `wait` ended first. See
    /// [`Db::pop_lists_blocking`] for several lists and for the rules.
    ///
    /// # Errors
    /// As [`Db::pop_lists_blocking`].
    ///
    /// # Examples
    ///
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// # let db = ziggydb::Db::open(dir.path().join("db"))?;
    /// use std::time::Duration;
    /// let producer = db.clone();
    /// let t = std::thread::spawn(move || producer.transaction(|tx| tx.list(b"jobs").push_back(&["j1"])));
    /// let job = db.list(b"jobs").pop_front_blocking(Duration::from_secs(30))?;
    /// assert_eq!(job, Some(b"j1".to_vec()));
    /// # t.join().unwrap()?;
    /// # Ok::<(), ziggydb::Error>(())
    /// ```
    pub fn pop_front_blocking(&self, wait: impl Into<crate::Wait>) -> Result<Option<Vec<u8>>> {
        self.pop_blocking(crate::End::Front, wait.into())
    }

    /// Removes and returns the last element, waiting for one to be pushed if the list is
    /// empty (Redis `BRPOP key timeout`); `None` if `wait` ended first.
    ///
    /// # Errors
    /// As [`Db::pop_lists_blocking`].
    ///
    /// # Examples
    ///
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// # let db = ziggydb::Db::open(dir.path().join("db"))?;
    /// db.transaction(|tx| tx.list(b"l").push_back(&["a", "b"]))?;
    /// assert_eq!(db.list(b"l").pop_back_blocking(ziggydb::Wait::forever())?, Some(b"b".to_vec()));
    /// # Ok::<(), ziggydb::Error>(())
    /// ```
    pub fn pop_back_blocking(&self, wait: impl Into<crate::Wait>) -> Result<Option<Vec<u8>>> {
        self.pop_blocking(crate::End::Back, wait.into())
    }

    fn pop_blocking(&self, end: crate::End, wait: crate::Wait) -> Result<Option<Vec<u8>>> {
        let got = self.src.pop_lists_blocking(&[&*self.key], end, 1, wait)?;
        Ok(got.and_then(|(_, v)| v.into_iter().next()))
    }
}

fn len_of(src: &impl Source, key: &[u8]) -> Result<u64> {
    Ok(src.meta(key, TY)?.map_or(0, |m| m.len))
}

fn range_of(src: &impl Source, key: &[u8], start: i64, stop: i64) -> Result<Vec<Vec<u8>>> {
    let Some(m) = src.meta(key, TY)? else {
        return Ok(Vec::new());
    };
    let (s, n) = index_range(start, stop, m.len);
    Ok(m.a.range(src, s, n)?.into_iter().map(|(_, v)| v).collect())
}

fn position(index: i64, len: u64) -> Option<u64> {
    let i = if index < 0 { len as i64 + index } else { index };
    (i >= 0 && (i as u64) < len).then_some(i as u64)
}

fn index_of(src: &impl Source, key: &[u8], index: i64) -> Result<Option<Vec<u8>>> {
    let Some(m) = src.meta(key, TY)? else {
        return Ok(None);
    };
    let Some(i) = position(index, m.len) else {
        return Ok(None);
    };
    Ok(m.a.range(src, i, 1)?.pop().map(|(_, v)| v))
}

fn all(src: &impl PageRead, m: &Meta) -> Result<Vec<Vec<u8>>> {
    Ok(m.a
        .range(src, 0, m.len)?
        .into_iter()
        .map(|(_, v)| v)
        .collect())
}

impl<S: Read> ListView<'_, S> {
    /// Length (Redis `LLEN`).
    ///
    /// # Errors
    /// [`Error::WrongType`]; read errors.
    ///
    /// # Examples
    ///
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// # let db = ziggydb::Db::open(dir.path().join("db"))?;
    /// db.transaction(|tx| tx.list(b"l").push_back(&["a", "b", "c"]))?;
    /// assert_eq!(db.list(b"l").len()?, 3);
    /// assert_eq!(db.list(b"missing").len()?, 0);
    /// # Ok::<(), ziggydb::Error>(())
    /// ```
    pub fn len(&self) -> Result<u64> {
        self.src.section(&mut |s| len_of(&s, &self.key))
    }
    /// True when the list is absent.
    ///
    /// # Errors
    /// As [`ListView::len`].
    ///
    /// # Examples
    ///
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// # let db = ziggydb::Db::open(dir.path().join("db"))?;
    /// assert!(db.list(b"l").is_empty()?);
    /// db.transaction(|tx| tx.list(b"l").push_back(&["a"]))?;
    /// assert!(!db.list(b"l").is_empty()?);
    /// # Ok::<(), ziggydb::Error>(())
    /// ```
    pub fn is_empty(&self) -> Result<bool> {
        Ok(self.len()? == 0)
    }
    /// Elements `start..=stop`, negative indexes from the end (Redis `LRANGE`).
    ///
    /// # Errors
    /// As [`ListView::len`].
    ///
    /// # Examples
    ///
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// # let db = ziggydb::Db::open(dir.path().join("db"))?;
    /// db.transaction(|tx| tx.list(b"l").push_back(&["a", "b", "c"]))?;
    /// assert_eq!(db.list(b"l").range(0, -1)?, vec![b"a".to_vec(), b"b".to_vec(), b"c".to_vec()]);
    /// assert_eq!(db.list(b"l").range(-2, -1)?, vec![b"b".to_vec(), b"c".to_vec()]);
    /// # Ok::<(), ziggydb::Error>(())
    /// ```
    pub fn range(&self, start: i64, stop: i64) -> Result<Vec<Vec<u8>>> {
        self.src
            .section(&mut |s| range_of(&s, &self.key, start, stop))
    }
    /// Element at `index` (Redis `LINDEX`).
    ///
    /// # Errors
    /// As [`ListView::len`].
    ///
    /// # Examples
    ///
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// # let db = ziggydb::Db::open(dir.path().join("db"))?;
    /// db.transaction(|tx| tx.list(b"l").push_back(&["a", "b"]))?;
    /// assert_eq!(db.list(b"l").get(-1)?, Some(b"b".to_vec()));
    /// assert_eq!(db.list(b"l").get(5)?, None);
    /// # Ok::<(), ziggydb::Error>(())
    /// ```
    pub fn get(&self, index: i64) -> Result<Option<Vec<u8>>> {
        self.src.section(&mut |s| index_of(&s, &self.key, index))
    }
    /// Positions of elements equal to `value` (Redis `LPOS` with RANK, COUNT and MAXLEN;
    /// `count` 0 means all).
    ///
    /// # Errors
    /// As [`ListView::len`]; [`Error::InvalidArgument`] for a rank of 0.
    ///
    /// # Examples
    ///
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// # let db = ziggydb::Db::open(dir.path().join("db"))?;
    /// db.transaction(|tx| tx.list(b"l").push_back(&["x", "y", "x", "x"]))?;
    /// assert_eq!(db.list(b"l").positions(b"x", 1, 0, 0)?, vec![0, 2, 3]); // all, from the head
    /// assert_eq!(db.list(b"l").positions(b"x", -1, 1, 0)?, vec![3]); // the first from the tail
    /// # Ok::<(), ziggydb::Error>(())
    /// ```
    pub fn positions(&self, value: &[u8], rank: i64, count: u64, maxlen: u64) -> Result<Vec<u64>> {
        if rank == 0 {
            return Err(Error::InvalidArgument("RANK can't be zero".into()));
        }
        self.src
            .section(&mut |s| positions(&s, &self.key, value, rank, count, maxlen))
    }
}

impl List<'_> {
    fn load(&mut self) -> Result<(Meta, u64)> {
        load_or_create(self.txn, &self.key, TY)
    }

    fn save(&mut self, m: &Meta, exp: u64) -> Result<()> {
        store(self.txn, &self.key, TY, m, exp)
    }

    fn push<V: AsRef<[u8]>>(&mut self, values: &[V], front: bool) -> Result<u64> {
        let (mut m, exp) = self.load()?;
        for v in values {
            let at = if front { 0 } else { m.len };
            m.a.insert(
                self.txn,
                &mut m.next_page,
                Target::Rank(at),
                &[],
                v.as_ref(),
            )?;
            m.len += 1;
        }
        self.save(&m, exp)?;
        Ok(m.len)
    }

    /// Inserts each value at the head, in order (Redis `LPUSH`); returns the new length.
    ///
    /// # Errors
    /// [`Error::WrongType`]; write errors.
    ///
    /// # Examples
    ///
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// # let db = ziggydb::Db::open(dir.path().join("db"))?;
    /// let len = db.transaction(|tx| tx.list(b"l").push_front(&["a", "b"]))?;
    /// assert_eq!(len, 2);
    /// assert_eq!(db.list(b"l").range(0, -1)?, vec![b"b".to_vec(), b"a".to_vec()]);
    /// # Ok::<(), ziggydb::Error>(())
    /// ```
    pub fn push_front<V: AsRef<[u8]>>(&mut self, values: &[V]) -> Result<u64> {
        self.push(values, true)
    }

    /// Appends each value (Redis `RPUSH`); returns the new length.
    ///
    /// # Errors
    /// As [`List::push_front`].
    ///
    /// # Examples
    ///
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// # let db = ziggydb::Db::open(dir.path().join("db"))?;
    /// let len = db.transaction(|tx| tx.list(b"l").push_back(&["a", "b"]))?;
    /// assert_eq!(len, 2);
    /// assert_eq!(db.list(b"l").range(0, -1)?, vec![b"a".to_vec(), b"b".to_vec()]);
    /// # Ok::<(), ziggydb::Error>(())
    /// ```
    pub fn push_back<V: AsRef<[u8]>>(&mut self, values: &[V]) -> Result<u64> {
        self.push(values, false)
    }

    fn pop(&mut self, count: u64, front: bool) -> Result<Vec<Vec<u8>>> {
        let Some(mut m) = self.txn.meta(&self.key, TY)? else {
            return Ok(Vec::new());
        };
        let exp = self.txn.expiry(&self.key)?.unwrap_or(0);
        let mut out = Vec::new();
        while (out.len() as u64) < count && m.len > 0 {
            let at = if front { 0 } else { m.len - 1 };
            if let Some((_, v)) = m.a.remove(self.txn, Target::Rank(at))? {
                out.push(v);
            }
            m.len -= 1;
        }
        self.save(&m, exp)?;
        Ok(out)
    }

    /// Removes and returns up to `count` elements from the head (Redis `LPOP`).
    ///
    /// # Errors
    /// As [`List::push_front`].
    ///
    /// # Examples
    ///
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// # let db = ziggydb::Db::open(dir.path().join("db"))?;
    /// db.transaction(|tx| tx.list(b"queue").push_back(&["j1", "j2", "j3"]))?;
    /// let got = db.transaction(|tx| tx.list(b"queue").pop_front(2))?; // a worker takes two jobs
    /// assert_eq!(got, vec![b"j1".to_vec(), b"j2".to_vec()]);
    /// # Ok::<(), ziggydb::Error>(())
    /// ```
    pub fn pop_front(&mut self, count: u64) -> Result<Vec<Vec<u8>>> {
        self.pop(count, true)
    }

    /// Removes and returns up to `count` elements from the tail (Redis `RPOP`).
    ///
    /// # Errors
    /// As [`List::push_front`].
    ///
    /// # Examples
    ///
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// # let db = ziggydb::Db::open(dir.path().join("db"))?;
    /// db.transaction(|tx| tx.list(b"stack").push_back(&["a", "b"]))?;
    /// let got = db.transaction(|tx| tx.list(b"stack").pop_back(1))?;
    /// assert_eq!(got, vec![b"b".to_vec()]);
    /// # Ok::<(), ziggydb::Error>(())
    /// ```
    pub fn pop_back(&mut self, count: u64) -> Result<Vec<Vec<u8>>> {
        self.pop(count, false)
    }

    /// Length (Redis `LLEN`).
    ///
    /// # Errors
    /// [`Error::WrongType`].
    ///
    /// # Examples
    ///
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// # let db = ziggydb::Db::open(dir.path().join("db"))?;
    /// db.transaction(|tx| {
    ///     let mut l = tx.list(b"l");
    ///     l.push_back(&["a", "b"])?;
    ///     assert_eq!(l.len()?, 2);
    ///     Ok(())
    /// })?;
    /// # Ok::<(), ziggydb::Error>(())
    /// ```
    pub fn len(&self) -> Result<u64> {
        self.view().len()
    }

    /// True when the list is absent.
    ///
    /// # Errors
    /// As [`List::len`].
    ///
    /// # Examples
    ///
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// # let db = ziggydb::Db::open(dir.path().join("db"))?;
    /// db.transaction(|tx| {
    ///     let mut l = tx.list(b"l");
    ///     assert!(l.is_empty()?);
    ///     l.push_back(&["a"])?;
    ///     l.pop_front(1)?; // an emptied list is removed
    ///     assert!(l.is_empty()?);
    ///     Ok(())
    /// })?;
    /// assert!(!db.exists(b"l")?);
    /// # Ok::<(), ziggydb::Error>(())
    /// ```
    pub fn is_empty(&self) -> Result<bool> {
        Ok(self.len()? == 0)
    }

    /// Elements `start..=stop` (Redis `LRANGE`).
    ///
    /// # Errors
    /// As [`List::len`].
    ///
    /// # Examples
    ///
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// # let db = ziggydb::Db::open(dir.path().join("db"))?;
    /// db.transaction(|tx| {
    ///     let mut l = tx.list(b"l");
    ///     l.push_back(&["a", "b", "c"])?;
    ///     assert_eq!(l.range(1, 1)?, vec![b"b".to_vec()]);
    ///     Ok(())
    /// })?;
    /// # Ok::<(), ziggydb::Error>(())
    /// ```
    pub fn range(&self, start: i64, stop: i64) -> Result<Vec<Vec<u8>>> {
        self.view().range(start, stop)
    }

    /// Element at `index` (Redis `LINDEX`).
    ///
    /// # Errors
    /// As [`List::len`].
    ///
    /// # Examples
    ///
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// # let db = ziggydb::Db::open(dir.path().join("db"))?;
    /// db.transaction(|tx| {
    ///     let mut l = tx.list(b"l");
    ///     l.push_back(&["a", "b"])?;
    ///     assert_eq!(l.get(0)?, Some(b"a".to_vec()));
    ///     Ok(())
    /// })?;
    /// # Ok::<(), ziggydb::Error>(())
    /// ```
    pub fn get(&self, index: i64) -> Result<Option<Vec<u8>>> {
        self.view().get(index)
    }

    /// Replaces the element at `index` (Redis `LSET`).
    ///
    /// # Errors
    /// [`Error::NoSuchKey`], [`Error::IndexOutOfRange`], [`Error::WrongType`].
    ///
    /// # Examples
    ///
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// # let db = ziggydb::Db::open(dir.path().join("db"))?;
    /// db.transaction(|tx| {
    ///     let mut l = tx.list(b"l");
    ///     l.push_back(&["a", "b"])?;
    ///     l.set(-1, b"z")?; // LSET
    ///     assert!(l.set(9, b"z").is_err()); // out of range
    ///     Ok(())
    /// })?;
    /// assert_eq!(db.list(b"l").range(0, -1)?, vec![b"a".to_vec(), b"z".to_vec()]);
    /// # Ok::<(), ziggydb::Error>(())
    /// ```
    pub fn set(&mut self, index: i64, value: &[u8]) -> Result<()> {
        let Some(mut m) = self.txn.meta(&self.key, TY)? else {
            return Err(Error::NoSuchKey);
        };
        let exp = self.txn.expiry(&self.key)?.unwrap_or(0);
        let i = position(index, m.len).ok_or(Error::IndexOutOfRange)?;
        m.a.remove(self.txn, Target::Rank(i))?;
        m.a.insert(self.txn, &mut m.next_page, Target::Rank(i), &[], value)?;
        self.save(&m, exp)
    }

    /// Removes up to `|count|` elements equal to `value`, from the head if `count > 0`, from
    /// the tail if `count < 0`, all if 0 (Redis `LREM`); returns how many.
    ///
    /// # Errors
    /// As [`List::len`].
    ///
    /// # Examples
    ///
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// # let db = ziggydb::Db::open(dir.path().join("db"))?;
    /// db.transaction(|tx| tx.list(b"l").push_back(&["x", "a", "x", "x"]))?;
    /// let n = db.transaction(|tx| tx.list(b"l").remove(-2, b"x"))?; // two, from the tail
    /// assert_eq!(n, 2);
    /// assert_eq!(db.list(b"l").range(0, -1)?, vec![b"x".to_vec(), b"a".to_vec()]);
    /// # Ok::<(), ziggydb::Error>(())
    /// ```
    pub fn remove(&mut self, count: i64, value: &[u8]) -> Result<u64> {
        let Some(mut m) = self.txn.meta(&self.key, TY)? else {
            return Ok(0);
        };
        let exp = self.txn.expiry(&self.key)?.unwrap_or(0);
        let items = all(&*self.txn, &m)?;
        let mut hits: Vec<usize> = items
            .iter()
            .enumerate()
            .filter(|(_, v)| v.as_slice() == value)
            .map(|(i, _)| i)
            .collect();
        if count < 0 {
            hits.reverse();
        }
        if count != 0 {
            hits.truncate(count.unsigned_abs() as usize);
        }
        // Remove from the back so earlier positions stay valid.
        hits.sort_unstable();
        for &i in hits.iter().rev() {
            m.a.remove(self.txn, Target::Rank(i as u64))?;
            m.len -= 1;
        }
        self.save(&m, exp)?;
        Ok(hits.len() as u64)
    }

    /// Keeps only `start..=stop` (Redis `LTRIM`).
    ///
    /// # Errors
    /// As [`List::len`].
    ///
    /// # Examples
    ///
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// # let db = ziggydb::Db::open(dir.path().join("db"))?;
    /// db.transaction(|tx| tx.list(b"log").push_back(&["1", "2", "3", "4"]))?;
    /// db.transaction(|tx| tx.list(b"log").trim(-2, -1))?; // keep the last two
    /// assert_eq!(db.list(b"log").range(0, -1)?, vec![b"3".to_vec(), b"4".to_vec()]);
    /// # Ok::<(), ziggydb::Error>(())
    /// ```
    pub fn trim(&mut self, start: i64, stop: i64) -> Result<()> {
        let Some(mut m) = self.txn.meta(&self.key, TY)? else {
            return Ok(());
        };
        let exp = self.txn.expiry(&self.key)?.unwrap_or(0);
        let (s, n) = index_range(start, stop, m.len);
        let tail = m.len - s - n;
        for _ in 0..tail {
            m.a.remove(self.txn, Target::Rank(m.len - 1))?;
            m.len -= 1;
        }
        for _ in 0..s {
            m.a.remove(self.txn, Target::Rank(0))?;
            m.len -= 1;
        }
        self.save(&m, exp)
    }

    /// Inserts `value` before (or after) the first element equal to `pivot` (Redis
    /// `LINSERT`); returns the new length, -1 if the pivot is absent, 0 if the key is.
    ///
    /// # Errors
    /// As [`List::len`].
    ///
    /// # Examples
    ///
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// # let db = ziggydb::Db::open(dir.path().join("db"))?;
    /// db.transaction(|tx| tx.list(b"l").push_back(&["a", "c"]))?;
    /// let len = db.transaction(|tx| tx.list(b"l").insert(true, b"c", b"b"))?;
    /// assert_eq!(len, 3);
    /// assert_eq!(db.transaction(|tx| tx.list(b"l").insert(true, b"nope", b"x"))?, -1);
    /// assert_eq!(db.list(b"l").get(1)?, Some(b"b".to_vec()));
    /// # Ok::<(), ziggydb::Error>(())
    /// ```
    pub fn insert(&mut self, before: bool, pivot: &[u8], value: &[u8]) -> Result<i64> {
        let Some(mut m) = self.txn.meta(&self.key, TY)? else {
            return Ok(0);
        };
        let exp = self.txn.expiry(&self.key)?.unwrap_or(0);
        let items = all(&*self.txn, &m)?;
        let Some(i) = items.iter().position(|v| v.as_slice() == pivot) else {
            return Ok(-1);
        };
        let at = if before { i } else { i + 1 } as u64;
        m.a.insert(self.txn, &mut m.next_page, Target::Rank(at), &[], value)?;
        m.len += 1;
        self.save(&m, exp)?;
        Ok(m.len as i64)
    }

    /// Positions of elements equal to `value` (Redis `LPOS` with RANK, COUNT and MAXLEN;
    /// `count` 0 means all).
    ///
    /// # Errors
    /// As [`List::len`]; [`Error::InvalidArgument`] for a rank of 0.
    ///
    /// # Examples
    ///
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// # let db = ziggydb::Db::open(dir.path().join("db"))?;
    /// db.transaction(|tx| {
    ///     let mut l = tx.list(b"l");
    ///     l.push_back(&["x", "y", "x"])?;
    ///     assert_eq!(l.positions(b"x", 2, 0, 0)?, vec![2]); // from the second match on
    ///     Ok(())
    /// })?;
    /// # Ok::<(), ziggydb::Error>(())
    /// ```
    pub fn positions(&self, value: &[u8], rank: i64, count: u64, maxlen: u64) -> Result<Vec<u64>> {
        self.view().positions(value, rank, count, maxlen)
    }

    /// This list as a read-only view (its reads are written there once).
    fn view(&self) -> ListView<'_, WriteTxn> {
        ListView::new(&*self.txn, Cow::Borrowed(&self.key))
    }
}

fn positions(
    src: &impl Source,
    key: &[u8],
    value: &[u8],
    rank: i64,
    count: u64,
    maxlen: u64,
) -> Result<Vec<u64>> {
    let Some(m) = src.meta(key, TY)? else {
        return Ok(Vec::new());
    };
    let items = all(src, &m)?;
    let n = items.len();
    let limit = if maxlen == 0 {
        n
    } else {
        (maxlen as usize).min(n)
    };
    let order: Box<dyn Iterator<Item = usize>> = if rank > 0 {
        Box::new(0..limit)
    } else {
        Box::new((n - limit..n).rev())
    };
    let mut skip = rank.unsigned_abs() - 1;
    let mut out = Vec::new();
    for i in order {
        if items[i] == value {
            if skip > 0 {
                skip -= 1;
                continue;
            }
            out.push(i as u64);
            if count != 0 && out.len() as u64 >= count {
                break;
            }
        }
    }
    Ok(out)
}
