//! Generic key commands: `TYPE`, `RENAMENX`, `COPY`, `KEYS` and `SCAN` with Redis glob
//! patterns, `DBSIZE`, `RANDOMKEY` and `FLUSHDB` inside a transaction. (`DEL`, `EXISTS` and
//! `RENAME` are [`WriteTxn::delete`], [`WriteTxn::exists`] and [`WriteTxn::rename_key`];
//! `DBSIZE` and `RANDOMKEY` outside a transaction are [`Db::len`] and [`Db::random_key`].)
//!
//! # Scanning
//!
//! `SCAN` visits keys in the order of their hash with the bits reversed (format-spec.md
//! §8.1), which is the order of the index's home slots taken in bit-reversed order, as
//! Redis's cursor does: a cursor is a position in that order, and it keeps its meaning when
//! the index grows or shrinks. Each call reads one consistent state and returns the keys
//! from the cursor on, home slot by home slot, until `count` keys (or about 4096 slots) were
//! looked at. Every key that exists for the whole scan is returned exactly once, whatever
//! other processes write meanwhile; a key created or deleted during the scan may or may not
//! be. A call costs O(count), not O(n).

use std::collections::BTreeSet;

use crate::db::txn::WriteTxn;
use crate::db::Db;
use crate::error::{Error, Result};
use crate::format::value::ValueType;
use crate::types::collections::ZAddFlags;
use crate::types::read::Read;

/// True if `text` matches the Redis glob `pattern`, byte by byte (case-sensitive): `*` any
/// run of bytes, `?` one byte, `[abc]`, `[^a-z]` a class, `\` quotes the next byte.
///
/// Backtracks only to the most recent `*`, so a match takes O(pattern × text) steps at worst.
///
/// # Examples
///
/// ```
/// use ziggydb::commands::glob_match;
/// assert!(glob_match(b"user:*", b"user:42"));
/// assert!(glob_match(b"h?llo", b"hello"));
/// assert!(glob_match(b"[^a]bc", b"xbc"));
/// assert!(!glob_match(b"user:*", b"session:1"));
/// ```
pub fn glob_match(pattern: &[u8], text: &[u8]) -> bool {
    let (mut p, mut t) = (0, 0);
    // Where to resume after the last `*`: the pattern after it, and the text position it has
    // consumed up to.
    let mut star: Option<(usize, usize)> = None;
    while t < text.len() {
        if pattern.get(p) == Some(&b'*') {
            p += 1;
            star = Some((p, t));
            continue;
        }
        if p < pattern.len() {
            let (matched, next) = match_one(pattern, p, text[t]);
            if matched {
                p = next;
                t += 1;
                continue;
            }
        }
        match star {
            Some((after_star, consumed)) => {
                p = after_star;
                t = consumed + 1;
                star = Some((after_star, t));
            }
            None => return false,
        }
    }
    pattern[p.min(pattern.len())..].iter().all(|&b| b == b'*')
}

/// Matches the single-byte token at `pattern[p]` (not `*`) against `c`; returns whether it
/// matched and where the next token starts.
fn match_one(pattern: &[u8], p: usize, c: u8) -> (bool, usize) {
    match pattern[p] {
        b'?' => (true, p + 1),
        b'\\' if p + 1 < pattern.len() => (pattern[p + 1] == c, p + 2),
        b'[' => {
            let mut q = p + 1;
            let negate = pattern.get(q) == Some(&b'^');
            if negate {
                q += 1;
            }
            let mut matched = false;
            // An unterminated class runs to the end of the pattern, as in Redis.
            while q < pattern.len() {
                match pattern[q] {
                    b']' => {
                        q += 1;
                        break;
                    }
                    b'\\' if q + 1 < pattern.len() => {
                        matched |= pattern[q + 1] == c;
                        q += 2;
                    }
                    lo if q + 2 < pattern.len() && pattern[q + 1] == b'-' => {
                        let hi = pattern[q + 2];
                        let (lo, hi) = if lo <= hi { (lo, hi) } else { (hi, lo) };
                        matched |= (lo..=hi).contains(&c);
                        q += 3;
                    }
                    other => {
                        matched |= other == c;
                        q += 1;
                    }
                }
            }
            (matched != negate, q)
        }
        literal => (literal == c, p + 1),
    }
}

/// One page of a [`Db::scan`]: the keys, and the cursor for the next call (0 once the scan
/// is complete).
pub type ScanPage = (Vec<Vec<u8>>, u64);

/// Slots a scan page looks at, at least (more for a large `count`).
const SCAN_VISIT: u64 = 4096;

/// A page of a scan over a list of keys, in scan order: the keys from `cursor` on that
/// match `pattern`, `count` of them (at least one), and the cursor where the next page
/// starts (0 at the end).
fn scan_page(keys: Vec<Vec<u8>>, cursor: u64, count: usize, pattern: Option<&[u8]>) -> ScanPage {
    let mut ordered: Vec<(u64, Vec<u8>)> = keys
        .into_iter()
        .map(|k| (crate::format::index::scan_order(&k), k))
        .filter(|(order, k)| *order >= cursor && pattern.is_none_or(|p| glob_match(p, k)))
        .collect();
    ordered.sort_unstable();
    let count = count.max(1);
    let next = ordered.get(count).map_or(0, |(order, _)| *order);
    ordered.truncate(count);
    (ordered.into_iter().map(|(_, k)| k).collect(), next)
}

/// The keys of a scan page whose [`Read::key_type`] in `src` is `of_type` (`SCAN ... TYPE`),
/// or all of them if no type is asked for.
fn of_type_only(
    src: &impl Read,
    page: Vec<Vec<u8>>,
    of_type: Option<&str>,
) -> Result<Vec<Vec<u8>>> {
    let Some(want) = of_type else {
        return Ok(page);
    };
    let mut kept = Vec::with_capacity(page.len());
    for key in page {
        if src.key_type(&key)? == want {
            kept.push(key);
        }
    }
    Ok(kept)
}

impl Db {
    /// The type of the value at `key` as Redis's `TYPE` names it: `"none"` if the key does
    /// not exist, `"string"` for every scalar, or the collection's name (`"list"`, `"set"`,
    /// `"zset"`, `"hash"`).
    ///
    /// # Errors
    /// As [`Db::get`].
    ///
    /// # Examples
    ///
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// # let db = ziggydb::Db::open(dir.path().join("db"))?;
    /// db.set(b"n", 1i64)?;
    /// db.transaction(|tx| tx.list(b"l").push_back(&["x"]))?;
    /// assert_eq!(db.key_type(b"n")?, "string"); // every scalar, as Redis names it
    /// assert_eq!(db.key_type(b"l")?, "list");
    /// assert_eq!(db.key_type(b"missing")?, "none");
    /// # Ok::<(), ziggydb::Error>(())
    /// ```
    pub fn key_type(&self, key: impl AsRef<[u8]>) -> Result<&'static str> {
        Read::key_type(self, key)
    }

    /// How many of `keys` exist, counting a key as often as it is given (Redis `EXISTS`),
    /// all read from one committed state.
    ///
    /// # Errors
    /// As [`Db::get`].
    ///
    /// # Examples
    ///
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// # let db = ziggydb::Db::open(dir.path().join("db"))?;
    /// db.set(b"a", "1")?;
    /// assert_eq!(db.count_existing(&[b"a", b"a", b"b"])?, 2);
    /// # Ok::<(), ziggydb::Error>(())
    /// ```
    pub fn count_existing(&self, keys: &[&[u8]]) -> Result<u64> {
        Read::count_existing(self, keys)
    }

    /// The keys matching the glob `pattern`, in byte order (Redis `KEYS`), from one
    /// consistent snapshot. Reads every key.
    ///
    /// # Errors
    /// As [`Db::keys`].
    ///
    /// # Examples
    ///
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// # let db = ziggydb::Db::open(dir.path().join("db"))?;
    /// db.set(b"user:2", "b")?;
    /// db.set(b"user:1", "a")?;
    /// db.set(b"session:1", "s")?;
    /// assert_eq!(db.keys_matching("user:*")?, vec![b"user:1".to_vec(), b"user:2".to_vec()]);
    /// # Ok::<(), ziggydb::Error>(())
    /// ```
    pub fn keys_matching(&self, pattern: impl AsRef<[u8]>) -> Result<Vec<Vec<u8>>> {
        Read::keys_matching(self, pattern)
    }

    /// One step of an incremental scan of the keys (Redis `SCAN cursor [MATCH pattern]
    /// [COUNT count] [TYPE type]`): from `cursor` (0 to start) on, in scan order (see
    /// [Scanning keys](crate#scanning-keys)), keys that match `pattern` if given until about
    /// `count` were found, and of those only the ones whose [`Db::key_type`] is `of_type`, if
    /// given. Returns the keys and the cursor for the next call, 0 when the scan is complete.
    ///
    /// Every key that exists from the first call to the last is returned exactly once, also
    /// while other processes write. A page may hold fewer keys than `count` (even none)
    /// before the end, as in Redis.
    ///
    /// # Errors
    /// As [`Db::keys`].
    ///
    /// # Examples
    ///
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// # let db = ziggydb::Db::open(dir.path().join("db"))?;
    /// for i in 0..100 {
    ///     db.set(format!("k{i}"), i as i64)?;
    /// }
    /// db.transaction(|tx| tx.list(b"k-list").push_back(&["x"]))?;
    /// let (mut seen, mut cursor) = (Vec::new(), 0);
    /// loop {
    ///     let (keys, next) = db.scan(cursor, 10, Some(b"k*"), Some("string"))?;
    ///     seen.extend(keys);
    ///     if next == 0 { break; }
    ///     cursor = next;
    /// }
    /// assert_eq!(seen.len(), 100); // every key once; not the list
    /// # Ok::<(), ziggydb::Error>(())
    /// ```
    pub fn scan(
        &self,
        cursor: u64,
        count: usize,
        pattern: Option<&[u8]>,
        of_type: Option<&str>,
    ) -> Result<ScanPage> {
        let count = count.max(1);
        let visit = SCAN_VISIT.max(count as u64 * 4);
        let (page, next) = self.inner.scan_keys(cursor, count, visit, |k| {
            pattern.is_none_or(|p| glob_match(p, k))
        })?;
        Ok((of_type_only(self, page, of_type)?, next.unwrap_or(0)))
    }

    /// Deletes every key (Redis `FLUSHDB`); returns how many it deleted.
    ///
    /// Atomic when the deletions fit in one transaction (a segment); otherwise it deletes in
    /// several transactions, halving their size until they fit, and a key another process
    /// writes meanwhile may survive.
    ///
    /// # Errors
    /// As [`Db::transaction`].
    ///
    /// # Examples
    ///
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// # let db = ziggydb::Db::open(dir.path().join("db"))?;
    /// db.set(b"a", "1")?;
    /// db.transaction(|tx| tx.hash(b"h").set(&[("f", "v")]))?;
    /// assert_eq!(db.clear()?, 2);
    /// assert!(db.is_empty());
    /// # Ok::<(), ziggydb::Error>(())
    /// ```
    pub fn clear(&self) -> Result<u64> {
        let mut batch = usize::MAX;
        let mut deleted = 0;
        loop {
            let attempt = self.transaction(|tx| {
                // The writer lock is held: the committed key set cannot change under us.
                let keys = self.keys()?;
                let mut n = 0;
                for key in keys.iter().take(batch) {
                    n += u64::from(tx.delete(key)?);
                }
                Ok((n, keys.len() <= batch))
            });
            match attempt {
                Ok((n, done)) => {
                    deleted += n;
                    if done {
                        return Ok(deleted);
                    }
                }
                Err(Error::ValueTooLarge { .. }) if batch > 1 => {
                    batch = batch.min(self.len() as usize) / 2;
                    batch = batch.max(1);
                }
                Err(e) => return Err(e),
            }
        }
    }
}

impl WriteTxn {
    /// The type of the value at `key` as Redis's `TYPE` names it, seeing this transaction's
    /// writes; see [`Db::key_type`].
    ///
    /// # Errors
    /// As [`WriteTxn::get`].
    ///
    /// # Examples
    ///
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// # let db = ziggydb::Db::open(dir.path().join("db"))?;
    /// db.transaction(|tx| {
    ///     tx.hash(b"h").set(&[("f", "v")])?;
    ///     assert_eq!(tx.key_type(b"h")?, "hash");
    ///     Ok(())
    /// })?;
    /// # Ok::<(), ziggydb::Error>(())
    /// ```
    pub fn key_type(&self, key: impl AsRef<[u8]>) -> Result<&'static str> {
        Read::key_type(self, key)
    }

    /// How many of `keys` exist, counting a key as often as it is given (Redis `EXISTS`),
    /// seeing this transaction's writes.
    ///
    /// # Errors
    /// As [`WriteTxn::exists`].
    ///
    /// # Examples
    ///
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// # let db = ziggydb::Db::open(dir.path().join("db"))?;
    /// db.transaction(|tx| {
    ///     tx.set(b"a", "1")?;
    ///     assert_eq!(tx.count_existing(&[b"a", b"b"])?, 1);
    ///     Ok(())
    /// })?;
    /// # Ok::<(), ziggydb::Error>(())
    /// ```
    pub fn count_existing(&self, keys: &[&[u8]]) -> Result<u64> {
        Read::count_existing(self, keys)
    }

    /// Renames `src` to `dst` if `dst` does not exist (Redis `RENAMENX`), keeping the value's
    /// type and time to live. Returns false, changing nothing, if `src` does not exist or
    /// `dst` does (so also for `src == dst`).
    ///
    /// # Errors
    /// As [`WriteTxn::rename_key`].
    ///
    /// # Examples
    ///
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// # let db = ziggydb::Db::open(dir.path().join("db"))?;
    /// db.set(b"a", "1")?;
    /// db.set(b"taken", "2")?;
    /// db.transaction(|tx| {
    ///     assert!(!tx.rename_key_if_absent(b"a", b"taken")?);
    ///     assert!(tx.rename_key_if_absent(b"a", b"b")?);
    ///     Ok(())
    /// })?;
    /// assert!(db.exists(b"b")? && !db.exists(b"a")?);
    /// # Ok::<(), ziggydb::Error>(())
    /// ```
    pub fn rename_key_if_absent(&mut self, src: &[u8], dst: &[u8]) -> Result<bool> {
        if !self.exists(src)? || self.exists(dst)? {
            return Ok(false);
        }
        self.rename_key(src, dst)
    }

    /// Copies the value of `src`, of any type, to `dst` with its time to live (Redis
    /// `COPY`); an existing `dst` is replaced only if `replace` is true. Returns whether it
    /// copied. A collection is copied member by member: O(n) for n members, all of them
    /// held in memory at once.
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] if `src == dst`; as [`WriteTxn::get`] and
    /// [`WriteTxn::set`].
    ///
    /// # Examples
    ///
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// # let db = ziggydb::Db::open(dir.path().join("db"))?;
    /// db.transaction(|tx| tx.list(b"src").push_back(&["a", "b"]))?;
    /// db.transaction(|tx| {
    ///     assert!(tx.copy(b"src", b"dst", false)?);
    ///     assert!(!tx.copy(b"src", b"dst", false)?); // dst exists, no replace
    ///     Ok(())
    /// })?;
    /// assert_eq!(db.list(b"dst").len()?, 2);
    /// # Ok::<(), ziggydb::Error>(())
    /// ```
    pub fn copy(&mut self, src: &[u8], dst: &[u8], replace: bool) -> Result<bool> {
        if src == dst {
            return Err(Error::InvalidArgument(
                "source and destination objects are the same".into(),
            ));
        }
        let Some(ty) = self.value_type(src)? else {
            return Ok(false);
        };
        if self.exists(dst)? {
            if !replace {
                return Ok(false);
            }
            self.delete(dst)?;
        }
        match ty {
            ValueType::List => {
                let items = self.list(src).range(0, -1)?;
                let refs: Vec<&[u8]> = items.iter().map(Vec::as_slice).collect();
                self.list(dst).push_back(&refs)?;
            }
            ValueType::Set => {
                let members = self.set_of(src).members()?;
                let refs: Vec<&[u8]> = members.iter().map(Vec::as_slice).collect();
                self.set_of(dst).add(&refs)?;
            }
            ValueType::Hash => {
                let pairs = self.hash(src).get_all()?;
                let refs: Vec<(&[u8], &[u8])> = pairs
                    .iter()
                    .map(|(f, v)| (f.as_slice(), v.as_slice()))
                    .collect();
                self.hash(dst).set(&refs)?;
            }
            ValueType::ZSet => {
                let items = self.zset(src).range(0, -1, false)?;
                let refs: Vec<(f64, &[u8])> =
                    items.iter().map(|(m, s)| (*s, m.as_slice())).collect();
                self.zset(dst).add(ZAddFlags::default(), &refs)?;
            }
            _ => {
                let value = self.get(src)?.ok_or(Error::Poisoned)?;
                self.set(dst, value)?;
            }
        }
        let ttl = self.expiry(src)?;
        if ttl.is_some() {
            self.set_expiry(dst, ttl)?;
        }
        Ok(true)
    }

    /// The keys this transaction sees, in byte order: the committed keys (which cannot
    /// change while the transaction holds the writer lock) with its own writes applied.
    pub(crate) fn visible_keys(&self) -> Result<Vec<Vec<u8>>> {
        let mut keys: BTreeSet<Vec<u8>> = self.committed_keys()?.into_iter().collect();
        for key in self.pending_user_keys() {
            if self.exists(&key)? {
                keys.insert(key);
            } else {
                keys.remove(&key);
            }
        }
        Ok(keys.into_iter().collect())
    }

    /// The keys matching the glob `pattern`, in byte order, seeing this transaction's writes
    /// (Redis `KEYS`). Reads every key.
    ///
    /// # Errors
    /// As [`Db::keys`].
    ///
    /// # Examples
    ///
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// # let db = ziggydb::Db::open(dir.path().join("db"))?;
    /// db.transaction(|tx| {
    ///     tx.set(b"a1", "x")?;
    ///     tx.set(b"b1", "x")?;
    ///     assert_eq!(tx.keys_matching("a*")?, vec![b"a1".to_vec()]);
    ///     Ok(())
    /// })?;
    /// # Ok::<(), ziggydb::Error>(())
    /// ```
    pub fn keys_matching(&self, pattern: impl AsRef<[u8]>) -> Result<Vec<Vec<u8>>> {
        Read::keys_matching(self, pattern)
    }

    /// One step of a scan of the keys this transaction sees (Redis `SCAN`), in the same
    /// order and with the same cursors as [`Db::scan`]. Reads every key: a scan inside a
    /// transaction costs O(n) per call.
    ///
    /// # Errors
    /// As [`Db::keys`].
    ///
    /// # Examples
    ///
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// # let db = ziggydb::Db::open(dir.path().join("db"))?;
    /// db.transaction(|tx| {
    ///     tx.set(b"a", "1")?;
    ///     tx.set(b"b", "2")?;
    ///     let (mut seen, mut cursor) = (Vec::new(), 0);
    ///     loop {
    ///         let (keys, next) = tx.scan(cursor, 1, None, None)?;
    ///         seen.extend(keys);
    ///         if next == 0 { break; }
    ///         cursor = next;
    ///     }
    ///     seen.sort();
    ///     assert_eq!(seen, vec![b"a".to_vec(), b"b".to_vec()]);
    ///     Ok(())
    /// })?;
    /// # Ok::<(), ziggydb::Error>(())
    /// ```
    pub fn scan(
        &self,
        cursor: u64,
        count: usize,
        pattern: Option<&[u8]>,
        of_type: Option<&str>,
    ) -> Result<ScanPage> {
        let (page, next) = scan_page(self.visible_keys()?, cursor, count, pattern);
        Ok((of_type_only(self, page, of_type)?, next))
    }

    /// Number of keys once this transaction commits (Redis `DBSIZE`), counted as
    /// [`Db::len`] counts them (expired keys not yet deleted included). Costs one lookup per
    /// key the transaction writes.
    ///
    /// # Errors
    /// As [`Db::get`].
    ///
    /// # Examples
    ///
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// # let db = ziggydb::Db::open(dir.path().join("db"))?;
    /// db.set(b"a", "1")?;
    /// db.transaction(|tx| {
    ///     tx.set(b"b", "2")?;
    ///     assert_eq!(tx.len()?, 2);
    ///     Ok(())
    /// })?;
    /// # Ok::<(), ziggydb::Error>(())
    /// ```
    pub fn len(&self) -> Result<u64> {
        if self.in_numbered_database() {
            return Ok(self.visible_keys()?.len() as u64);
        }
        let shared = self.shared()?;
        let mut n = shared.shm.get(crate::format::shm::W_KEYS);
        for key in self.pending_user_keys() {
            let before = shared.lookup_raw(&key)?.is_some();
            let after = matches!(self.raw_get_pending(&key), Some(Some(_)));
            n = (n + u64::from(after)).saturating_sub(u64::from(before));
        }
        Ok(n)
    }

    /// True when [`WriteTxn::len`] is 0.
    ///
    /// # Errors
    /// As [`WriteTxn::len`].
    ///
    /// # Examples
    ///
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// # let db = ziggydb::Db::open(dir.path().join("db"))?;
    /// db.transaction(|tx| {
    ///     assert!(tx.is_empty()?);
    ///     tx.set(b"a", "1")?;
    ///     assert!(!tx.is_empty()?);
    ///     Ok(())
    /// })?;
    /// # Ok::<(), ziggydb::Error>(())
    /// ```
    pub fn is_empty(&self) -> Result<bool> {
        Ok(self.len()? == 0)
    }

    /// A random key this transaction sees (Redis `RANDOMKEY`), every one equally likely; `None`
    /// if there is none. As [`Db::random_key`] when the transaction has written nothing, else
    /// it reads every key.
    ///
    /// # Errors
    /// As [`Db::random_key`].
    ///
    /// # Examples
    ///
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// # let db = ziggydb::Db::open(dir.path().join("db"))?;
    /// db.transaction(|tx| {
    ///     assert_eq!(tx.random_key()?, None);
    ///     tx.set(b"k", "v")?;
    ///     assert_eq!(tx.random_key()?, Some(b"k".to_vec()));
    ///     Ok(())
    /// })?;
    /// # Ok::<(), ziggydb::Error>(())
    /// ```
    pub fn random_key(&self) -> Result<Option<Vec<u8>>> {
        if self.pending_user_keys().is_empty() && !self.in_numbered_database() {
            return self.shared()?.random_key();
        }
        let mut keys = self.visible_keys()?;
        if keys.is_empty() {
            return Ok(None);
        }
        let at = crate::os::random::below(keys.len() as u64) as usize;
        Ok(Some(keys.swap_remove(at)))
    }

    /// Deletes every key this transaction sees (Redis `FLUSHDB` inside `MULTI`); returns how
    /// many. The deletions must fit in the transaction (see [`Db::clear`]).
    ///
    /// # Errors
    /// As [`WriteTxn::delete`].
    ///
    /// # Examples
    ///
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// # let db = ziggydb::Db::open(dir.path().join("db"))?;
    /// db.set(b"a", "1")?;
    /// db.transaction(|tx| {
    ///     tx.set(b"b", "2")?;
    ///     assert_eq!(tx.clear()?, 2);
    ///     Ok(())
    /// })?;
    /// assert!(db.is_empty());
    /// # Ok::<(), ziggydb::Error>(())
    /// ```
    pub fn clear(&mut self) -> Result<u64> {
        let keys = self.visible_keys()?;
        let n = keys.len() as u64;
        crate::progress::task(
            crate::progress::Task::Flush,
            crate::progress::Unit::Keys,
            n,
            || {
                for key in &keys {
                    self.delete(key)?;
                    crate::progress::advance(1);
                }
                Ok(n)
            },
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::format::value::Value;

    fn m(p: &str, t: &str) -> bool {
        glob_match(p.as_bytes(), t.as_bytes())
    }

    #[test]
    fn stars_and_question_marks() {
        assert!(m("*", "anything"));
        assert!(m("*", ""));
        assert!(m("h?llo", "hello"));
        assert!(!m("h?llo", "hllo"));
        assert!(m("h*llo", "hllo"));
        assert!(m("h*llo", "heeeello"));
        assert!(m("a*b*c", "axxbyyc"));
        assert!(!m("a*b*c", "axxbyy"));
        assert!(m("user:**", "user:1"));
        assert!(!m("abc", "abcd"));
        assert!(!m("abcd", "abc"));
        assert!(m("*a", "banana"));
    }

    #[test]
    fn classes() {
        assert!(m("h[ae]llo", "hello"));
        assert!(m("h[ae]llo", "hallo"));
        assert!(!m("h[ae]llo", "hillo"));
        assert!(m("h[^e]llo", "hallo"));
        assert!(!m("h[^e]llo", "hello"));
        assert!(m("h[a-b]llo", "hbllo"));
        assert!(m("h[b-a]llo", "hallo"));
        assert!(!m("h[a-b]llo", "hcllo"));
        assert!(m("[\\]]", "]"));
        assert!(m("x[ab", "xb"));
    }

    #[test]
    fn escapes() {
        assert!(m("a\\*b", "a*b"));
        assert!(!m("a\\*b", "axb"));
        assert!(m("a\\?", "a?"));
        assert!(m("a\\", "a\\"));
    }

    #[test]
    fn many_stars_stay_fast() {
        let text = "a".repeat(200);
        let pattern = format!("{}b", "*a".repeat(30));
        assert!(!m(&pattern, &text));
    }

    fn keys(names: &[&str]) -> Vec<Vec<u8>> {
        names.iter().map(|n| n.as_bytes().to_vec()).collect()
    }

    #[test]
    fn scan_pages_follow_the_scan_order_until_exhausted() {
        let all = keys(&["d", "a", "c", "e", "b"]);
        let mut want = all.clone();
        want.sort_by_key(|k| crate::format::index::scan_order(k));
        let (page, next) = scan_page(all.clone(), 0, 2, None);
        assert_eq!(page, want[..2].to_vec());
        assert_eq!(next, crate::format::index::scan_order(&want[2]));
        let (page, next) = scan_page(all.clone(), next, 2, None);
        assert_eq!(page, want[2..4].to_vec());
        let (page, next) = scan_page(all.clone(), next, 2, None);
        assert_eq!(page, want[4..].to_vec());
        assert_eq!(next, 0);
        let (page, _) = scan_page(all, 0, 0, Some(b"[bd]"));
        assert_eq!(page.len(), 1, "COUNT 0 still returns a key");
    }

    #[test]
    fn rename_copy_and_type() -> Result<()> {
        let dir = tempfile::tempdir().map_err(|e| Error::io("tmp", e))?;
        let db = Db::open(dir.path())?;
        db.transaction(|tx| tx.set_with_expiry(b"a", 7i64, Some(u64::MAX / 2)))?;
        assert_eq!(db.key_type(b"a")?, "string");
        assert_eq!(db.key_type(b"zz")?, "none");
        assert!(db.transaction(|tx| tx.rename_key(b"a", b"b"))?);
        assert!(!db.exists(b"a")?);
        assert_eq!(db.get_value(b"b")?, Some(Value::Int(7)));
        assert_eq!(db.expiry(b"b")?, Some(u64::MAX / 2));
        assert!(!db.transaction(|tx| tx.rename_key(b"a", b"b"))?);
        db.set(b"c", "x")?;
        assert!(!db.transaction(|tx| tx.rename_key_if_absent(b"b", b"c"))?);
        assert!(!db.transaction(|tx| tx.copy(b"b", b"c", false))?);
        assert!(db.transaction(|tx| tx.copy(b"b", b"c", true))?);
        assert_eq!(db.get_value(b"c")?, Some(Value::Int(7)));
        assert_eq!(db.expiry(b"c")?, Some(u64::MAX / 2));
        assert!(db.transaction(|tx| tx.copy(b"b", b"b", true)).is_err());
        assert_eq!(db.clear()?, 2);
        assert!(db.is_empty());
        Ok(())
    }

    #[test]
    fn copy_collections_member_by_member() -> Result<()> {
        let dir = tempfile::tempdir().map_err(|e| Error::io("tmp", e))?;
        let db = Db::open(dir.path())?;
        db.transaction(|tx| {
            tx.list(b"l").push_back(&[b"x", b"y"])?;
            tx.set_of(b"s").add(&[b"m"])?;
            tx.hash(b"h").set(&[(b"f", b"v")])?;
            tx.zset(b"z")
                .add(ZAddFlags::default(), &[(1.5, b"a"), (-2.0, b"b")])?;
            tx.set_expiry(b"z", Some(u64::MAX / 2))?;
            for (src, dst) in [("l", "l2"), ("s", "s2"), ("h", "h2"), ("z", "z2")] {
                assert!(tx.copy(src.as_bytes(), dst.as_bytes(), false)?);
            }
            Ok(())
        })?;
        assert_eq!(db.list(b"l2").range(0, -1)?, [b"x".to_vec(), b"y".to_vec()]);
        assert_eq!(db.set_of(b"s2").members()?, [b"m".to_vec()]);
        assert_eq!(db.hash(b"h2").get(b"f")?, Some(b"v".to_vec()));
        assert_eq!(
            db.zset(b"z2").range(0, -1, false)?,
            [(b"b".to_vec(), -2.0), (b"a".to_vec(), 1.5)]
        );
        assert_eq!(db.expiry(b"z2")?, Some(u64::MAX / 2));
        assert_eq!(db.key_type(b"z2")?, "zset");
        // A replaced collection is a fresh copy: changing one leaves the other alone.
        db.transaction(|tx| tx.list(b"l").push_back(&[b"z"]).map(drop))?;
        assert_eq!(db.list(b"l2").len()?, 2);
        Ok(())
    }

    #[test]
    fn keyspace_inside_a_transaction_sees_its_writes() -> Result<()> {
        let dir = tempfile::tempdir().map_err(|e| Error::io("tmp", e))?;
        let db = Db::open(dir.path())?;
        db.transaction(|tx| tx.set_many([("a", 1i64), ("b", 2), ("c", 3)]))?;
        let mut tx = db.begin_write()?;
        tx.delete(b"b")?;
        tx.set(b"d", "x")?;
        tx.list(b"e").push_back(&[b"1"])?;
        assert_eq!(tx.len()?, 4);
        assert_eq!(tx.count_existing(&[b"a", b"b", b"e", b"a"])?, 3);
        assert_eq!(db.count_existing(&[b"a", b"b", b"e", b"a"])?, 3);
        assert_eq!(tx.keys_matching(b"*")?, keys(&["a", "c", "d", "e"]));
        assert_eq!(tx.keys_matching(b"[b-d]")?, keys(&["c", "d"]));
        let (mut page, next) = tx.scan(0, 10, None, None)?;
        page.sort();
        assert_eq!((page, next), (keys(&["a", "c", "d", "e"]), 0));
        let (page, next) = tx.scan(0, 10, None, Some("list"))?;
        assert_eq!((page, next), (keys(&["e"]), 0));
        let random = tx.random_key()?.expect("a key");
        assert!(tx.exists(&random)?);
        assert_eq!(tx.clear()?, 4);
        assert_eq!(tx.len()?, 0);
        assert_eq!(tx.random_key()?, None);
        tx.rollback();
        assert_eq!(db.keys_matching(b"*")?, keys(&["a", "b", "c"]));
        Ok(())
    }
}
