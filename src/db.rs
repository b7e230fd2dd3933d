//! `Db`, `OpenOptions`: opening a directory, reads, commits, compaction (format-spec.md §8–§10).

use std::path::Path;
use std::sync::Arc;

pub(crate) mod dbs;
pub(crate) mod pages;
pub(crate) mod pending;
pub(crate) mod txn;

use crate::db::txn::WriteTxn;
use crate::engine::expiry::{EXPIRE_BATCH, EXPIRE_BATCH_TIME};
use crate::engine::options::OpenOptions;
use crate::engine::stats::{CompactStats, Metrics, ProcessStats};
use crate::engine::Shared;
use crate::error::{Error, Result};
use crate::format::shm::*;
use crate::format::value::{Value, ValueType};

impl OpenOptions {
    /// Opens (creating if needed, unless read-only) the database directory at `path`.
    ///
    /// # Errors
    /// I/O errors, [`crate::Error::IncompatibleVersion`], corruption that recovery cannot
    /// repair, [`crate::Error::Busy`] if recovery needs the writer lock and cannot get it,
    /// [`crate::Error::Symlink`] or [`crate::Error::NotRegularFile`] for a file of the
    /// database that is a symbolic link or not a regular file, [`crate::Error::ModeMismatch`]
    /// (see [`OpenOptions::mode`](crate::OpenOptions::mode)), [`crate::Error::InvalidArgument`] for a bad mode; for a
    /// read-only open, [`crate::Error::NeedsRecovery`] and [`crate::Error::OpenReadWrite`];
    /// [`crate::Error::OptionsMismatch`] if this process has the directory open already
    /// (with the same `read_only`) with other options: handles on one directory in one
    /// process share one state, and its options.
    ///
    /// # Examples
    ///
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// let db = ziggydb::OpenOptions::new()
    ///     .lock_timeout(None)
    ///     .open(dir.path().join("db"))?;
    /// db.set(b"k", "v")?;
    /// assert!(db.exists(b"k")?);
    /// # Ok::<(), ziggydb::Error>(())
    /// ```
    pub fn open(self, path: impl AsRef<Path>) -> Result<Db> {
        let handle = Shared::open(path.as_ref(), self, expire_batch)?;
        Ok(Db {
            inner: Arc::clone(&handle.shared),
            _handle: handle,
        })
    }
}

/// Pages of the reclaim stack freed per commit while [`Db::compact`] drains it: each such
/// commit holds the writer lock for about as long as a commit of this many deletes.
const RECLAIM_DRAIN: usize = 4096;

/// Deletes the keys of `batch` that are still expired by `now`, under the writer lock for one
/// ordinary commit (through the log, so that a collection's pages are reclaimed): at most
/// [`EXPIRE_BATCH`] keys, and no more re-checks once [`EXPIRE_BATCH_TIME`] has passed (the
/// keys left are for a later pass). Empties `batch`; returns how many keys it deleted. The
/// engine's expiry pass calls it (`crate::engine::expiry::ExpireBatch`).
pub(crate) fn expire_batch(
    shared: &Arc<Shared>,
    batch: &mut Vec<Vec<u8>>,
    now: u64,
    timeout: Option<std::time::Duration>,
) -> Result<u64> {
    let keys = std::mem::take(batch);
    let mut txn = WriteTxn::new(shared.begin_writer(timeout)?)?;
    let held = std::time::Instant::now();
    let mut n = 0;
    for key in keys.iter().take(EXPIRE_BATCH) {
        if held.elapsed() >= EXPIRE_BATCH_TIME {
            break;
        }
        // Re-check under the lock: the key may have been rewritten meanwhile.
        let at = shared.lookup_raw(key)?.map_or(0, |h| h.meta.expires_at);
        if at != 0 && at <= now {
            txn.raw_del(key, false);
            n += 1;
            // Published once the deletes commit (format-spec.md §5.4).
            let flags = crate::engine::notify::notify_flags(shared);
            txn.note_event(
                flags,
                crate::engine::notify::NOTIFY_DB,
                crate::engine::notify::events::EXPIRED,
                "expired",
                key,
            );
        }
    }
    txn.commit()?;
    shared.shm.add(W_EXPIRED, n);
    Ok(n)
}

/// A handle on an open database. Cheap to clone; `Send + Sync`. All handles on one directory
/// in one process share one set of locks and mappings, and one set of options: a second
/// open with other options is [`Error::OptionsMismatch`](crate::Error::OptionsMismatch). A handle is this process's: in a
/// child made by `fork()` it fails with [`Error::Forked`](crate::Error::Forked) (open the database again there).
#[derive(Clone)]
pub struct Db {
    pub(crate) inner: Arc<Shared>,
    /// Keeps the background threads; the last handle dropped stops them.
    pub(crate) _handle: Arc<crate::engine::Handle>,
}

impl Db {
    /// Opens (creating if needed) the database at `path` with default options.
    ///
    /// # Errors
    /// As [`OpenOptions::open`](crate::OpenOptions::open).
    ///
    /// # Examples
    ///
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// let path = dir.path().join("db");
    /// let db = ziggydb::Db::open(&path)?; // creates the directory
    /// db.set(b"k", "v")?;
    /// let again = ziggydb::Db::open(&path)?; // a second handle shares the state
    /// assert!(again.exists(b"k")?);
    /// # Ok::<(), ziggydb::Error>(())
    /// ```
    pub fn open(path: impl AsRef<Path>) -> Result<Db> {
        OpenOptions::new().open(path)
    }
    /// Options builder.
    ///
    /// # Examples
    ///
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// let db = ziggydb::Db::options().segment_size(4 << 20).open(dir.path().join("db"))?;
    /// assert_eq!(db.len(), 0);
    /// # Ok::<(), ziggydb::Error>(())
    /// ```
    pub fn options() -> OpenOptions {
        OpenOptions::new()
    }
    /// The database directory.
    ///
    /// # Examples
    ///
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// # let db = ziggydb::Db::open(dir.path().join("db"))?;
    /// assert_eq!(db.path(), dir.path().join("db"));
    /// # Ok::<(), ziggydb::Error>(())
    /// ```
    pub fn path(&self) -> &Path {
        &self.inner.dir
    }
    /// Reads several keys atomically (Redis `MGET`): all from one committed state.
    ///
    /// # Errors
    /// As [`Db::get`](crate::Db::get).
    ///
    /// # Examples
    ///
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// # let db = ziggydb::Db::open(dir.path().join("db"))?;
    /// use ziggydb::Value;
    /// db.set(b"a", "1")?;
    /// db.transaction(|tx| tx.list(b"l").push_back(&["x"]))?;
    /// let got = db.mget(&[b"a", b"l", b"missing"])?; // a collection reads as None, as in Redis
    /// assert_eq!(got, vec![Some(Value::String("1".into())), None, None]);
    /// # Ok::<(), ziggydb::Error>(())
    /// ```
    pub fn mget(&self, keys: &[&[u8]]) -> Result<Vec<Option<Value>>> {
        let mut values = crate::error::try_vec(keys.len())?;
        self.mget_each(keys.iter().copied(), |value| {
            values.push(value?);
            Ok(())
        })?;
        Ok(values)
    }
    /// As [`Db::mget`], each value handed to `f` as it is read, key by key in order, so that
    /// a caller writing the values somewhere (`MGET`'s reply) needs no list of them. The
    /// records are all found first, in one committed state; an error of the lookup is
    /// returned before `f` is called, and one decoding a value is handed to `f` in its
    /// place (it may have been given values before it).
    pub(crate) fn mget_each<'k>(
        &self,
        keys: impl ExactSizeIterator<Item = &'k [u8]> + Clone,
        mut f: impl FnMut(Result<Option<Value>>) -> Result<()>,
    ) -> Result<()> {
        self.inner.lookup_many(keys, |found| {
            let value = found.map(|(vtype, payload)| crate::db::txn::decode_value(vtype, payload));
            f(match value.transpose() {
                // As in Redis, a key of another type reads as nil in MGET.
                Err(Error::WrongType { .. }) => Ok(None),
                r => r,
            })
        })
    }

    /// The id of the transaction that last wrote `key` (`None` if absent or expired): a token
    /// that changes whenever the key is written, in any process. Read it, compute, then
    /// compare it again inside a write transaction (which holds the writer lock, so it cannot
    /// change before the commit) for optimistic concurrency; Redis `WATCH` is built on it.
    /// A key written and deleted again in between reads `None` both times.
    ///
    /// # Errors
    /// As [`Db::get`](crate::Db::get).
    ///
    /// # Examples
    ///
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// # let db = ziggydb::Db::open(dir.path().join("db"))?;
    /// db.set(b"k", "v1")?;
    /// let v1 = db.key_version(b"k")?.unwrap();
    /// db.set(b"k", "v2")?;
    /// assert_ne!(db.key_version(b"k")?, Some(v1)); // written since
    /// assert_eq!(db.key_version(b"missing")?, None);
    /// # Ok::<(), ziggydb::Error>(())
    /// ```
    pub fn key_version(&self, key: &[u8]) -> Result<Option<u64>> {
        Ok(self
            .inner
            .lookup_raw(key)?
            .filter(|h| !h.expired())
            .map(|h| h.meta.txn))
    }

    /// A mark of the log as published now, for [`Db::key_written_since`] (the command
    /// layer's `WATCH`).
    pub(crate) fn log_mark(&self) -> u64 {
        self.inner.shm.get(W_LOG_POS)
    }

    /// Whether a transaction committed since `mark` (from [`Db::log_mark`](crate::Db::log_mark)) wrote or deleted
    /// `key`, read from the log: `Some(true)` or `Some(false)`, or `None` when that can no
    /// longer be told (the log since then was compacted, or is longer than 64 MiB). Redis's
    /// `WATCH` needs it for a key that was absent and is absent again.
    pub(crate) fn key_written_since(&self, key: &[u8], internal: bool, mark: u64) -> Option<bool> {
        self.inner.key_written_since(key, internal, mark)
    }

    /// A random key (Redis `RANDOMKEY`), every key equally likely; `None` if the database
    /// holds none. A few random slots of the index are looked at until one holds a key: O(1)
    /// while the index is at least a few percent full, O(slots) in an index that deletions
    /// left nearly empty.
    ///
    /// # Errors
    /// Checksum or I/O errors on a record.
    ///
    /// # Examples
    ///
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// # let db = ziggydb::Db::open(dir.path().join("db"))?;
    /// assert_eq!(db.random_key()?, None);
    /// db.set(b"only", "1")?;
    /// assert_eq!(db.random_key()?, Some(b"only".to_vec()));
    /// # Ok::<(), ziggydb::Error>(())
    /// ```
    pub fn random_key(&self) -> Result<Option<Vec<u8>>> {
        self.inner.random_key()
    }

    /// Runs one active expiry pass now: deletes expired keys through the log, sampling as
    /// Redis does. Returns the number of keys deleted.
    ///
    /// # Errors
    /// [`Error::Busy`](crate::Error::Busy) and the errors of a commit.
    ///
    /// # Examples
    ///
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// # let db = ziggydb::Db::open(dir.path().join("db"))?;
    /// db.transaction(|tx| tx.set_with_expiry(b"old", "v", Some(1)))?; // already past
    /// db.set(b"new", "v")?;
    /// assert_eq!(db.expire_now()?, 1);
    /// assert_eq!(db.keys()?, vec![b"new".to_vec()]);
    /// # Ok::<(), ziggydb::Error>(())
    /// ```
    pub fn expire_now(&self) -> Result<u64> {
        self.inner
            .expire_pass(self.inner.opts.lock_timeout, expire_batch)
    }
    /// Sets `key` in its own transaction (Redis `SET`).
    ///
    /// # Errors
    /// As [`WriteTxn::commit`](crate::WriteTxn::commit).
    ///
    /// # Examples
    ///
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// # let db = ziggydb::Db::open(dir.path().join("db"))?;
    /// db.set(b"greeting", "hello")?; // its own transaction, committed when this returns
    /// db.set("counter", 1i64)?; // keys are anything that is AsRef<[u8]>
    /// assert_eq!(db.get(b"greeting")?.as_deref(), Some(&b"hello"[..]));
    /// # Ok::<(), ziggydb::Error>(())
    /// ```
    pub fn set(&self, key: impl AsRef<[u8]>, value: impl Into<Value>) -> Result<()> {
        let (key, value) = (key.as_ref(), value.into());
        self.transaction(|tx| tx.set(key, value))
    }
    /// Deletes `key` in its own transaction (Redis `DEL`); true if it existed.
    ///
    /// # Errors
    /// As [`WriteTxn::commit`](crate::WriteTxn::commit).
    ///
    /// # Examples
    ///
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// # let db = ziggydb::Db::open(dir.path().join("db"))?;
    /// db.set(b"k", "v")?;
    /// assert!(db.delete(b"k")?);
    /// assert!(!db.delete(b"k")?); // no longer there
    /// # Ok::<(), ziggydb::Error>(())
    /// ```
    pub fn delete(&self, key: impl AsRef<[u8]>) -> Result<bool> {
        self.transaction(|tx| tx.delete(key.as_ref()))
    }
    /// Adds `delta` to the integer at `key` (Redis `INCRBY`), atomically across processes.
    ///
    /// # Errors
    /// [`crate::Error::NotAnInteger`], [`crate::Error::Overflow`], or as [`WriteTxn::commit`](crate::WriteTxn::commit).
    ///
    /// # Examples
    ///
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// # let db = ziggydb::Db::open(dir.path().join("db"))?;
    /// assert_eq!(db.incr_by(b"hits", 1)?, 1); // absent counts as 0
    /// assert_eq!(db.incr_by(b"hits", 10)?, 11);
    /// # Ok::<(), ziggydb::Error>(())
    /// ```
    pub fn incr_by(&self, key: impl AsRef<[u8]>, delta: i64) -> Result<i64> {
        self.transaction(|tx| tx.incr_by(key.as_ref(), delta))
    }
    /// Subtracts `delta` from the integer at `key` (Redis `DECRBY`), atomically across
    /// processes.
    ///
    /// # Examples
    ///
    /// ```
    /// # fn main() -> ziggydb::Result<()> {
    /// # let dir = tempfile::tempdir().unwrap();
    /// let db = ziggydb::Db::open(dir.path().join("data"))?;
    /// assert_eq!(db.decr_by(b"n", 2)?, -2);
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// As [`Db::incr_by`](crate::Db::incr_by).
    pub fn decr_by(&self, key: impl AsRef<[u8]>, delta: i64) -> Result<i64> {
        self.transaction(|tx| tx.decr_by(key.as_ref(), delta))
    }
    /// Number of keys (Redis `DBSIZE`).
    ///
    /// # Examples
    ///
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// # let db = ziggydb::Db::open(dir.path().join("db"))?;
    /// db.set(b"a", "1")?;
    /// db.set(b"b", "2")?;
    /// assert_eq!(db.len(), 2);
    /// # Ok::<(), ziggydb::Error>(())
    /// ```
    pub fn len(&self) -> u64 {
        self.inner.shm.get(W_KEYS)
    }
    /// Keys as reads see them: [`Db::len`] less the keys whose expiry time has passed but
    /// that no expiry pass has deleted yet; with the keys that have an expiry time (not yet
    /// passed) and their average remaining milliseconds. What `DBSIZE` and `INFO keyspace`
    /// report. O(1) when no key has an expiry time, else a walk of the index.
    pub(crate) fn keyspace(&self) -> Result<(u64, u64, u64)> {
        let (expired, live, ttl_sum) = self.inner.expiry_census()?;
        let avg_ttl = ttl_sum.checked_div(live).unwrap_or(0);
        Ok((self.len().saturating_sub(expired), live, avg_ttl))
    }
    /// True when the database holds no key.
    ///
    /// # Examples
    ///
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// # let db = ziggydb::Db::open(dir.path().join("db"))?;
    /// assert!(db.is_empty());
    /// db.set(b"a", "1")?;
    /// assert!(!db.is_empty());
    /// # Ok::<(), ziggydb::Error>(())
    /// ```
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// All keys, in no particular order (Redis `KEYS *`).
    ///
    /// # Errors
    /// Checksum or I/O errors on a record.
    ///
    /// # Examples
    ///
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// # let db = ziggydb::Db::open(dir.path().join("db"))?;
    /// db.set(b"b", "2")?;
    /// db.set(b"a", "1")?;
    /// let mut keys = db.keys()?;
    /// keys.sort();
    /// assert_eq!(keys, vec![b"a".to_vec(), b"b".to_vec()]);
    /// # Ok::<(), ziggydb::Error>(())
    /// ```
    pub fn keys(&self) -> Result<Vec<Vec<u8>>> {
        self.inner.all_keys()
    }
    /// Starts a write transaction, taking the writer lock (waits up to the lock timeout).
    ///
    /// # Errors
    /// [`crate::Error::Busy`], [`crate::Error::Poisoned`], I/O errors.
    ///
    /// # Examples
    ///
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// # let db = ziggydb::Db::open(dir.path().join("db"))?;
    /// let mut tx = db.begin_write()?; // holds the writer lock of every process
    /// tx.set(b"a", "1")?;
    /// tx.set(b"b", "2")?;
    /// assert!(!db.exists(b"a")?); // not visible before the commit
    /// tx.commit()?;
    /// assert!(db.exists(b"a")? && db.exists(b"b")?);
    /// # Ok::<(), ziggydb::Error>(())
    /// ```
    pub fn begin_write(&self) -> Result<WriteTxn> {
        WriteTxn::new(self.inner.begin_writer(self.inner.opts.lock_timeout)?)
    }
    /// Runs `f` in a write transaction and commits it if `f` returns `Ok`; rolls back on `Err`
    /// (and on a panic). For a closure that returns its own error type, see [`Db::update`](crate::Db::update).
    ///
    /// Inside `f`, a write on this database that is not through `tx` (a second
    /// [`Db::begin_write`](crate::Db::begin_write), [`Db::set`](crate::Db::set), …) is [`Error::TxnActive`](crate::Error::TxnActive) at once rather than a
    /// wait for the lock `tx` holds.
    ///
    /// # Examples
    ///
    /// ```
    /// # fn main() -> ziggydb::Result<()> {
    /// # let dir = tempfile::tempdir().unwrap();
    /// let db = ziggydb::Db::open(dir.path().join("data"))?;
    /// let n = db.transaction(|tx| {
    ///     tx.set(b"a", 1i64)?;
    ///     tx.incr_by(b"a", 1)
    /// })?;
    /// assert_eq!(n, 2);
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// What `f` returns, or as [`Db::begin_write`](crate::Db::begin_write) and [`WriteTxn::commit`](crate::WriteTxn::commit).
    pub fn transaction<T>(&self, f: impl FnOnce(&mut WriteTxn) -> Result<T>) -> Result<T> {
        self.update(f)
    }
    /// [`Db::transaction`](crate::Db::transaction) for a closure that returns the caller's own error type `E` (any
    /// type a [`ziggydb::Error`](Error) converts into): commits if `f` returns `Ok`, rolls
    /// back on `Err`, and returns `f`'s error as it is.
    ///
    /// # Examples
    ///
    /// ```
    /// #[derive(Debug)]
    /// enum AppError { Db(ziggydb::Error), OutOfStock }
    /// impl From<ziggydb::Error> for AppError {
    ///     fn from(e: ziggydb::Error) -> Self { AppError::Db(e) }
    /// }
    /// # fn main() -> Result<(), AppError> {
    /// # let dir = tempfile::tempdir().unwrap();
    /// let db = ziggydb::Db::open(dir.path().join("data"))?;
    /// let r = db.update(|tx| {
    ///     let left = tx.decr_by(b"stock", 1)?;
    ///     if left < 0 {
    ///         return Err(AppError::OutOfStock); // rolled back
    ///     }
    ///     Ok(left)
    /// });
    /// assert!(matches!(r, Err(AppError::OutOfStock)));
    /// assert_eq!(db.get_value(b"stock")?, None);
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// What `f` returns, or as [`Db::begin_write`](crate::Db::begin_write) and [`WriteTxn::commit`](crate::WriteTxn::commit) (converted).
    pub fn update<T, E: From<Error>>(
        &self,
        f: impl FnOnce(&mut WriteTxn) -> Result<T, E>,
    ) -> Result<T, E> {
        let mut tx = self.begin_write()?;
        // This thread holds the writer lock until `f` returns, whatever `f` does with `tx`.
        let scope = self.inner.writer.scope();
        let r = f(&mut tx);
        drop(scope);
        match r {
            Ok(v) => {
                tx.commit()?;
                Ok(v)
            }
            Err(e) => {
                tx.rollback();
                Err(e)
            }
        }
    }
    /// Compacts now: rewrites every sealed segment's live records and deletes the old files.
    /// Other processes keep reading and writing meanwhile.
    ///
    /// # Errors
    /// I/O errors; the database stays consistent whatever the failure.
    ///
    /// # Examples
    ///
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// # let db = ziggydb::Db::open(dir.path().join("db"))?;
    /// for i in 0..100i64 {
    ///     db.set(b"k", i)?; // 99 dead versions
    /// }
    /// let stats = db.compact()?;
    /// assert_eq!(db.get_value(b"k")?, Some(ziggydb::Value::Int(99)));
    /// assert!(stats.bytes_after <= stats.bytes_before);
    /// # Ok::<(), ziggydb::Error>(())
    /// ```
    pub fn compact(&self) -> Result<CompactStats> {
        // The pages of deleted collections still on the reclaim stack are freed first, in
        // commits of a bounded size, so that this compaction drops them rather than later
        // ones (an emptied database gives its space back at once).
        // On a full file system there may be no room for those commits: the compaction
        // then goes on without them, with the room it has.
        loop {
            match self.transaction(|tx| crate::db::pages::reclaim(tx, RECLAIM_DRAIN)) {
                Ok(true) => {}
                Ok(false) | Err(Error::DiskFull { .. }) => break,
                Err(e) => return Err(e),
            }
        }
        self.inner.compact()
    }
    /// Makes every commit so far durable (for [`Durability::Batched`](crate::Durability::Batched)).
    ///
    /// # Errors
    /// I/O errors from fsync (the handle is then poisoned).
    ///
    /// # Examples
    ///
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// # let db = ziggydb::Db::open(dir.path().join("db"))?;
    /// db.set(b"k", "v")?;
    /// db.sync()?; // with Durability::Batched, makes the set durable now
    /// assert!(db.exists(b"k")?);
    /// # Ok::<(), ziggydb::Error>(())
    /// ```
    pub fn sync(&self) -> Result<()> {
        self.inner.sync_to(self.inner.shm.get(W_LOG_POS))
    }
    /// Shared metrics.
    ///
    /// # Examples
    ///
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// # let db = ziggydb::Db::open(dir.path().join("db"))?;
    /// db.set(b"a", "1")?;
    /// db.transaction(|tx| tx.list(b"l").push_back(&["x"]))?;
    /// let m = db.metrics();
    /// assert_eq!(m.keys, 2);
    /// assert!(m.commits >= 2);
    /// # Ok::<(), ziggydb::Error>(())
    /// ```
    pub fn metrics(&self) -> Metrics {
        let s = &self.inner;
        let (reads, hits, misses) = s.read_counters();
        let g = |w| s.shm.get(w);
        let idx = s.current_index().ok();
        Metrics {
            keys: g(W_KEYS),
            live_bytes: g(W_LIVE_BYTES),
            dead_bytes: g(W_DEAD_BYTES),
            segments: g(W_SEGMENTS),
            segment_file_bytes: g(W_SEGMENT_BYTES),
            wal_bytes: g(W_WAL_BYTES),
            last_checkpoint_ms: g(W_LAST_CHECKPOINT_MS),
            commits: g(W_COMMITS),
            rollbacks: g(W_ROLLBACKS),
            commit_micros: g(W_COMMIT_MICROS),
            reads,
            hits,
            misses,
            compactions: g(W_COMPACTIONS),
            expired: g(W_EXPIRED),
            processes: s.processes(),
            index_capacity: idx.as_ref().map_or(0, |i| i.cap),
            mapped_bytes: (s.segs.mapped_bytes() + idx.as_ref().map_or(0, |i| i.mapped_len()))
                as u64,
            keys_by_type: ValueType::ALL
                .iter()
                .map(|&t| (t, g(W_TYPE_KEYS + usize::from(t.tag()))))
                .filter(|&(_, n)| n > 0)
                .collect(),
            expiring_keys: g(W_EXPIRING),
            commands: g(W_COMMANDS),
            checkpoints: g(W_CHECKPOINTS),
            unsynced_bytes: s.unsynced_bytes(),
            index_file_bytes: idx.as_ref().map_or(0, |i| i.mapped_len()) as u64,
            rebuilding: s.rebuilding(),
            waiters: s.live_waiters(),
            attached: s
                .attached()
                .into_iter()
                .map(|(pid, reads, hits, misses)| ProcessStats {
                    pid,
                    reads,
                    hits,
                    misses,
                })
                .collect(),
        }
    }

    /// Adds `n` to the shared count of commands that [`Metrics::commands`] reports: each
    /// command a [`Session`](crate::commands::Session) runs.
    pub(crate) fn count_commands(&self, n: u64) {
        self.inner.shm.add(W_COMMANDS, n);
    }
    /// Copies the database into the directory `dest` (which must not exist, or be empty)
    /// while other processes go on reading and writing, as `sqlite3 .backup` or `mdb_copy`
    /// do: the copy holds every transaction committed before the backup started and none
    /// after, and opens as a database of its own, with its index already built. The copy
    /// has this database's mode ([`OpenOptions::mode`](crate::OpenOptions::mode)), and so does `dest` if the backup
    /// creates it.
    ///
    /// # Errors
    /// [`Error::InvalidArgument`](crate::Error::InvalidArgument) if `dest` is not empty; I/O errors (a failed copy is
    /// removed).
    ///
    /// # Examples
    ///
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// # let db = ziggydb::Db::open(dir.path().join("db"))?;
    /// db.set(b"k", "v")?;
    /// let copy = dir.path().join("backup");
    /// let stats = db.backup(&copy)?; // a consistent copy while others keep writing
    /// assert_eq!(stats.keys, 1);
    /// assert!(ziggydb::Db::open(&copy)?.exists(b"k")?);
    /// # Ok::<(), ziggydb::Error>(())
    /// ```
    pub fn backup(&self, dest: impl AsRef<Path>) -> Result<crate::BackupStats> {
        let dest = dest.as_ref();
        let mut stats = self.inner.backup(dest)?;
        // Opening the copy builds its index from the segments, and closing it seals the
        // index, so the backup opens without a scan; it also proves the copy reads.
        let copy = match Db::options().active_expiry(None).open(dest) {
            Ok(copy) => copy,
            Err(e) => {
                // The copy is not known to open, and the caller is told it failed: like a
                // failed copy, it must not be left looking like a database (§12.1).
                let _ = std::fs::remove_dir_all(dest);
                return Err(e);
            }
        };
        stats.keys = copy.len();
        Ok(stats)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn small(dir: &Path) -> Result<Db> {
        Db::options()
            .segment_size(64 << 10)
            .auto_compact(false, 0.5, 0)
            .open(dir)
    }

    #[test]
    fn set_get_delete_reopen() -> Result<()> {
        let dir = tempfile::tempdir().map_err(|e| Error::io("tmp", e))?;
        {
            let db = Db::open(dir.path())?;
            db.set(b"a", "one")?;
            db.set(b"n", 41i64)?;
            assert_eq!(db.incr_by(b"n", 1)?, 42);
            assert_eq!(db.get_value(b"a")?, Some(Value::String("one".into())));
            assert!(db.delete(b"a")?);
            assert!(!db.delete(b"a")?);
            assert_eq!(db.len(), 1);
        }
        let db = Db::open(dir.path())?;
        assert_eq!(db.get_value(b"n")?, Some(Value::Int(42)));
        assert_eq!(db.get(b"a")?.map(|v| v.to_vec()), None);
        assert!(db.check()?.is_ok(), "{:?}", db.check()?.problems);
        Ok(())
    }

    #[test]
    fn rotation_resize_compaction_and_cold_rebuild() -> Result<()> {
        let dir = tempfile::tempdir().map_err(|e| Error::io("tmp", e))?;
        {
            let db = small(dir.path())?;
            for round in 0..3u8 {
                for i in 0..3000u32 {
                    db.transaction(|tx| tx.set(format!("key-{i}").as_bytes(), vec![round; 40]))?;
                }
            }
            for i in 0..1000u32 {
                db.delete(format!("key-{i}").as_bytes())?;
            }
            let before = db.metrics();
            assert!(before.segments > 3, "{before:?}");
            let st = db.compact()?;
            assert!(st.bytes_after < st.bytes_before, "{st:?}");
            let r = db.check()?;
            assert!(r.is_ok(), "{:?}", r.problems);
            assert_eq!(db.len(), 2000);
            assert_eq!(db.get(b"key-2500")?.as_deref(), Some(&[2u8; 40][..]));
        }
        // Cold open without the shared state and without the index: rebuild from segments.
        std::fs::remove_file(dir.path().join("ziggy.shm")).map_err(|e| Error::io("shm", e))?;
        for e in std::fs::read_dir(dir.path()).map_err(|e| Error::io("dir", e))? {
            let p = e.map_err(|e| Error::io("dir", e))?.path();
            if p.extension().is_some_and(|x| x == "zdx") {
                std::fs::remove_file(p).map_err(|e| Error::io("idx", e))?;
            }
        }
        let db = small(dir.path())?;
        assert_eq!(db.len(), 2000);
        assert_eq!(db.get(b"key-10")?.map(|v| v.to_vec()), None);
        assert_eq!(db.get(b"key-2999")?.as_deref(), Some(&[2u8; 40][..]));
        let r = db.check()?;
        assert!(r.is_ok(), "{:?}", r.problems);
        Ok(())
    }

    #[test]
    fn active_expiry_deletes_through_the_log_and_versions_change() -> Result<()> {
        let dir = tempfile::tempdir().map_err(|e| Error::io("tmp", e))?;
        let db = Db::options().active_expiry(None).open(dir.path())?;
        let past = crate::engine::now_ms() - 1;
        db.transaction(|tx| {
            for i in 0..50u32 {
                tx.set_with_expiry(format!("gone-{i}").as_bytes(), "x", Some(past))?;
            }
            tx.set(b"stays", "y")
        })?;
        assert_eq!(db.len(), 51);
        let v1 = db.key_version(b"stays")?;
        assert!(v1.is_some());
        assert_eq!(db.key_version(b"gone-3")?, None);
        let mut deleted = 0;
        for _ in 0..20 {
            deleted += db.expire_now()?;
        }
        assert_eq!(deleted, 50);
        assert_eq!(db.len(), 1);
        assert_eq!(db.metrics().expired, 50);
        assert_eq!(db.random_key()?, Some(b"stays".to_vec()));
        db.set(b"stays", "z")?;
        assert!(db.key_version(b"stays")? > v1);
        Ok(())
    }

    #[test]
    fn active_expiry_catches_up_when_expiring_keys_are_few() -> Result<()> {
        let dir = tempfile::tempdir().map_err(|e| Error::io("tmp", e))?;
        let db = Db::options().active_expiry(None).open(dir.path())?;
        let past = crate::engine::now_ms() - 1;
        for chunk in 0..10u32 {
            db.transaction(|tx| {
                for i in chunk * 2000..(chunk + 1) * 2000 {
                    let key = format!("k{i}");
                    // One key in ten has (already passed) expiry.
                    let ttl = (i % 10 == 0).then_some(past);
                    tx.set_with_expiry(key.as_bytes(), "v", ttl)?;
                }
                Ok(())
            })?;
        }
        let mut passes = 0;
        while db.metrics().expired < 2000 {
            db.expire_now()?;
            passes += 1;
            assert!(
                passes <= 60,
                "{} of 2000 deleted after {passes} passes",
                db.metrics().expired
            );
        }
        assert_eq!(db.len(), 18_000);
        Ok(())
    }

    #[test]
    fn the_log_tells_whether_a_key_was_written_since_a_mark() -> Result<()> {
        let dir = tempfile::tempdir().map_err(|e| Error::io("tmp", e))?;
        let db = small(dir.path())?;
        db.set(b"before", 1i64)?;
        let mark = db.log_mark();
        assert_eq!(db.key_written_since(b"k", false, mark), Some(false));
        // Across several sealed segments (64 KiB each).
        for i in 0..400u32 {
            db.set(format!("fill-{i}").as_bytes(), vec![b'x'; 1000])?;
        }
        assert!(pos_seg(db.log_mark()) > pos_seg(mark), "the log rotated");
        assert_eq!(db.key_written_since(b"k", false, mark), Some(false));
        assert_eq!(db.key_written_since(b"before", false, mark), Some(false));
        db.set(b"k", 1i64)?;
        db.delete(b"k")?;
        assert_eq!(db.key_written_since(b"k", false, mark), Some(true));
        assert_eq!(
            db.key_written_since(b"k", false, db.log_mark()),
            Some(false)
        );
        // Once the log since the mark is compacted away, it can no longer be told.
        db.compact()?;
        assert_eq!(db.key_written_since(b"other", false, mark), None);
        Ok(())
    }

    #[test]
    fn rollback_to_a_savepoint_undoes_only_later_writes() -> Result<()> {
        let dir = tempfile::tempdir().map_err(|e| Error::io("tmp", e))?;
        let db = small(dir.path())?;
        db.set(b"kept", "old")?;
        let mut tx = db.begin_write()?;
        tx.set(b"a", 1i64)?;
        tx.list(b"l").push_back(&[b"x"])?;
        let sp = tx.savepoint();
        tx.set(b"a", 2i64)?;
        tx.delete(b"kept")?;
        tx.list(b"l").push_back(&[b"y"])?;
        tx.set_of(b"s").add(&[b"m"])?;
        tx.rollback_to(sp);
        assert_eq!(tx.get(b"a")?, Some(Value::Int(1)));
        assert_eq!(tx.list(b"l").range(0, -1)?, vec![b"x".to_vec()]);
        tx.commit()?;
        assert_eq!(db.get_value(b"kept")?, Some(Value::String("old".into())));
        assert_eq!(db.get_value(b"a")?, Some(Value::Int(1)));
        assert_eq!(db.list(b"l").range(0, -1)?, vec![b"x".to_vec()]);
        assert_eq!(db.set_of(b"s").len()?, 0);
        assert!(db.check()?.is_ok(), "{:?}", db.check()?.problems);
        Ok(())
    }
}
