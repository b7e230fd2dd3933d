//! `WriteTxn`: a write transaction holding the writer lock (format-spec.md §9).

use std::time::Instant;

use crate::db::pending::{Mark, Pending};
use crate::engine::options::Durability;
use crate::engine::{now_ms, OpRef, WriterGuard};
use crate::error::{Error, Result};
use crate::format::record::{record_len, MAX_KEY_LEN};
use crate::format::shm::{W_COMMIT_MICROS, W_ROLLBACKS};
use crate::format::value::{Value, ValueType};

/// Decodes a stored scalar; a collection is [`Error::WrongType`].
pub(crate) fn decode_value(vtype: u8, payload: &[u8]) -> Result<Value> {
    let ty = crate::format::value::value_type_of(vtype)?;
    if ty.is_collection() {
        return Err(Error::WrongType {
            expected: ValueType::String,
            actual: ty,
        });
    }
    Value::decode_payload(ty, payload)
}

/// A stored value seen inside a transaction: its type tag, payload and expiry (0 = none).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Raw {
    pub vtype: u8,
    pub payload: Vec<u8>,
    pub expires_at: u64,
}

/// One change of a transaction's pending writes: the entry written and the one it replaced.
type UndoEntry = (u32, Option<u32>);

/// A point inside a write transaction; see [`WriteTxn::savepoint`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Savepoint {
    undo: usize,
    retired: usize,
    pending: Mark,
    /// The transaction that took it ([`WriteTxn::serial`]) and its number there: a
    /// savepoint of another transaction, or one a rollback to an earlier savepoint
    /// invalidated, undoes writes but never truncates the pending arena.
    owner: u64,
    id: u64,
}

/// Numbers the transactions of this process, for [`Savepoint::owner`].
static NEXT_SERIAL: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// A write transaction. Holds the database's writer lock (across processes) until it is
/// committed, rolled back or dropped (dropping rolls back). Reads inside see the
/// transaction's own writes; no other process can commit meanwhile, so a read-modify-write
/// in a transaction never loses an update. See
/// [Transactions and isolation](crate#transactions-and-isolation).
pub struct WriteTxn {
    guard: Option<WriterGuard>,
    /// Pending writes by (internal namespace?, key).
    ops: Pending,
    /// While a savepoint exists: every change to `ops`, with the entry it replaced.
    undo: Option<Vec<UndoEntry>>,
    /// Root pages of collections created or changed in this transaction and then replaced.
    retired: Vec<(u64, u64)>,
    /// Writes to the internal namespace so far (collection pages), for a collection command
    /// to tell whether it changed anything.
    internal_writes: u64,
    /// This transaction's number in the process.
    serial: u64,
    /// Savepoints taken so far.
    savepoints: u64,
    /// Ranges of savepoint numbers that a rollback to an earlier savepoint invalidated.
    invalid: Vec<std::ops::Range<u64>>,
    /// A write replaced another with no savepoint: see whether the dead entries are worth
    /// reclaiming once the replaced one has been looked at.
    compact_after: bool,
    started: Instant,
    /// Keyspace notifications of the commands run in this transaction (channel, message),
    /// published in order once it commits (format-spec.md §5.4).
    pub(crate) notes: Vec<(Vec<u8>, Vec<u8>)>,
    /// The selected database ([`WriteTxn::select`]): its logical number and, for a physical
    /// database other than 0, the prefix of its keys in the internal namespace
    /// (format-spec.md §4.5). Every user key goes through [`WriteTxn::key_id`].
    db: u32,
    ns: Option<Vec<u8>>,
}

impl WriteTxn {
    pub(crate) fn new(guard: WriterGuard) -> Result<Self> {
        Ok(Self {
            guard: Some(guard),
            ops: Pending::default(),
            undo: None,
            retired: Vec::new(),
            internal_writes: 0,
            compact_after: false,
            serial: NEXT_SERIAL.fetch_add(1, std::sync::atomic::Ordering::Relaxed),
            savepoints: 0,
            invalid: Vec::new(),
            started: Instant::now(),
            notes: Vec::new(),
            db: 0,
            ns: None,
        })
    }

    fn guard(&self) -> Result<&WriterGuard> {
        self.guard.as_ref().ok_or(Error::Poisoned)
    }

    pub(crate) fn shared(&self) -> Result<&std::sync::Arc<crate::engine::Shared>> {
        Ok(self.guard()?.shared())
    }

    /// The record stored under `key` in a namespace, seeing this transaction's writes;
    /// expired records read as absent.
    pub(crate) fn raw_get(&self, key: &[u8], internal: bool) -> Result<Option<Raw>> {
        self.peek(key, internal, |vtype, payload, expires_at| {
            Ok(Raw {
                vtype,
                payload: crate::error::try_copy(payload)?,
                expires_at,
            })
        })
    }

    /// Runs `f` on the type tag, payload and expiry of the record stored under `key` in a
    /// namespace, seeing this transaction's writes, without copying the payload: it is
    /// borrowed from the pending write or from the segment map. Expired records read as
    /// absent (`Ok(None)`, `f` not called).
    pub(crate) fn peek<R>(
        &self,
        key: &[u8],
        internal: bool,
        f: impl FnOnce(u8, &[u8], u64) -> Result<R>,
    ) -> Result<Option<R>> {
        let live = |expires_at: u64| expires_at == 0 || expires_at > now_ms();
        let (key, internal) = self.key_id(key, internal);
        let key = &*key;
        match self.ops.get(key, internal) {
            Some(OpRef::Del { .. }) => Ok(None),
            Some(OpRef::Put {
                vtype,
                payload,
                expires_at,
                ..
            }) => live(expires_at)
                .then(|| f(vtype, payload, expires_at))
                .transpose(),
            None => {
                let s = self.shared()?;
                let hit = if internal {
                    s.lookup_internal(key)?
                } else {
                    s.lookup_raw(key)?
                };
                match hit {
                    Some(h) if live(h.meta.expires_at) => {
                        f(h.meta.vtype, h.meta.value(&h.map), h.meta.expires_at).map(Some)
                    }
                    _ => Ok(None),
                }
            }
        }
    }

    /// This transaction's own write of `key` in a namespace, if it made one.
    fn pending(&self, key: &[u8], internal: bool) -> Option<OpRef<'_>> {
        let (key, internal) = self.key_id(key, internal);
        self.ops.get(&key, internal)
    }

    /// Where a key is stored: a user key of the selected database, if that is not physical
    /// database 0, is an internal key under the database's prefix (format-spec.md §4.5);
    /// every other key is where it is named. The one place keys of numbered databases are
    /// translated.
    pub(crate) fn key_id<'k>(
        &self,
        key: &'k [u8],
        internal: bool,
    ) -> (std::borrow::Cow<'k, [u8]>, bool) {
        match &self.ns {
            Some(prefix) if !internal => {
                let mut k = Vec::with_capacity(prefix.len() + key.len());
                k.extend_from_slice(prefix);
                k.extend_from_slice(key);
                (std::borrow::Cow::Owned(k), true)
            }
            _ => (std::borrow::Cow::Borrowed(key), internal),
        }
    }

    /// The logical database this transaction's commands read and write (Redis `SELECT`).
    ///
    /// # Examples
    ///
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// # let db = ziggydb::Db::open(dir.path().join("db"))?;
    /// db.transaction(|tx| {
    ///     assert_eq!(tx.database(), 0);
    ///     tx.select(9)?;
    ///     assert_eq!(tx.database(), 9);
    ///     Ok(())
    /// })?;
    /// # Ok::<(), ziggydb::Error>(())
    /// ```
    pub fn database(&self) -> u32 {
        self.db
    }

    /// Selects database `index` for the commands that follow in this transaction (Redis
    /// `SELECT`): its keys are read and written from now on, through the database map that
    /// `SWAPDB` changes (format-spec.md §4.5). A transaction may write several databases
    /// and commits them together.
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] if `index` is not below
    /// [`OpenOptions::databases`](crate::OpenOptions::databases); a damaged database map.
    ///
    /// # Examples
    ///
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// # let db = ziggydb::Db::open(dir.path().join("db"))?;
    /// db.transaction(|tx| {
    ///     tx.select(3)?;
    ///     tx.set(b"k", "in 3")
    /// })?;
    /// assert!(!db.exists(b"k")?); // database 0
    /// db.transaction(|tx| {
    ///     tx.select(3)?;
    ///     assert_eq!(tx.get(b"k")?, Some("in 3".into()));
    ///     Ok(())
    /// })?;
    /// # Ok::<(), ziggydb::Error>(())
    /// ```
    pub fn select(&mut self, index: u32) -> Result<()> {
        let phys = self.db_map()?.physical(self.check_database(index)?);
        self.db = index;
        self.ns = (phys != 0).then(|| crate::db::dbs::prefix(phys));
        Ok(())
    }

    /// `index` if it is a database of this open, else the error `SELECT` gives.
    pub(crate) fn check_database(&self, index: u32) -> Result<u32> {
        if index < self.shared()?.opts.databases {
            Ok(index)
        } else {
            Err(Error::InvalidArgument("DB index is out of range".into()))
        }
    }

    /// The database map as this transaction sees it.
    pub(crate) fn db_map(&self) -> Result<crate::db::dbs::DbMap> {
        match self.raw_get(crate::db::dbs::DB_MAP_KEY, true)? {
            Some(raw) => crate::db::dbs::DbMap::decode(&raw.payload),
            None => Ok(crate::db::dbs::DbMap::default()),
        }
    }

    /// Swaps the keys of logical databases `a` and `b` (Redis `SWAPDB`): one record, the
    /// database map, is rewritten, whatever the number of keys; every process sees the swap
    /// at the commit. Database 0 is the library's default keyspace, read without the map, so
    /// it cannot be swapped.
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] for a database out of range or database 0.
    ///
    /// # Examples
    ///
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// # let db = ziggydb::Db::open(dir.path().join("db"))?;
    /// db.transaction(|tx| {
    ///     tx.select(1)?;
    ///     tx.set(b"k", "was in 1")?;
    ///     tx.swap_databases(1, 2)?;
    ///     tx.select(2)?;
    ///     assert_eq!(tx.get(b"k")?, Some("was in 1".into()));
    ///     Ok(())
    /// })?;
    /// # Ok::<(), ziggydb::Error>(())
    /// ```
    pub fn swap_databases(&mut self, a: u32, b: u32) -> Result<()> {
        self.check_database(a)?;
        self.check_database(b)?;
        if a == 0 || b == 0 {
            return Err(Error::InvalidArgument(
                "SWAPDB with database 0 is not supported: database 0 is the default keyspace \
                 every handle reads without the database map"
                    .into(),
            ));
        }
        let mut map = self.db_map()?;
        map.swap(a, b);
        let value = map.encode();
        if value.is_empty() {
            self.raw_del(crate::db::dbs::DB_MAP_KEY, true);
        } else {
            self.raw_put(
                crate::db::dbs::DB_MAP_KEY,
                true,
                crate::db::pages::VTYPE_INTERNAL,
                value,
                0,
            )?;
        }
        // A test stops here with the new map pending, before anything is committed.
        crate::os::pause::point("swapdb");
        // The selected database follows its number, as a Redis client's does.
        self.select(self.db)
    }

    /// Moves `key` (any type, with its expiry) from the selected database to database `to`
    /// (Redis `MOVE`), in this transaction: false if it is absent here or present there.
    /// A collection moves without its pages being copied.
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] for a database out of range or the selected one.
    ///
    /// # Examples
    ///
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// # let db = ziggydb::Db::open(dir.path().join("db"))?;
    /// db.set(b"k", "v")?;
    /// assert!(db.transaction(|tx| tx.move_key(b"k", 5))?);
    /// assert!(!db.exists(b"k")?);
    /// # Ok::<(), ziggydb::Error>(())
    /// ```
    pub fn move_key(&mut self, key: &[u8], to: u32) -> Result<bool> {
        self.check_database(to)?;
        if to == self.db {
            return Err(Error::InvalidArgument(
                "source and destination objects are the same".into(),
            ));
        }
        let Some(raw) = self.raw_get(key, false)? else {
            return Ok(false);
        };
        let from = self.db;
        self.select(to)?;
        let moved = match self.exists_any(key) {
            Ok(false) => self
                .raw_put(key, false, raw.vtype, raw.payload, raw.expires_at)
                .map(|()| true),
            other => other.map(|_| false),
        };
        self.select(from)?;
        if moved? {
            // As RENAME: a pending write here is replaced without its collection being
            // taken for one the transaction dropped (the record moved still names it).
            self.set_op(key, false, None);
            // A test stops here with both writes pending, before anything is committed.
            crate::os::pause::point("move");
            return Ok(true);
        }
        Ok(false)
    }

    /// Copies `src` of the selected database to `dst` of database `to` (Redis `COPY ... DB`),
    /// with its expiry; false if `src` is absent or `dst` exists and not `replace`.
    ///
    /// # Errors
    /// As [`WriteTxn::copy`] and [`WriteTxn::select`].
    ///
    /// # Examples
    ///
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// # let db = ziggydb::Db::open(dir.path().join("db"))?;
    /// db.transaction(|tx| tx.list(b"l").push_back(&["a", "b"]))?;
    /// db.transaction(|tx| {
    ///     assert!(tx.copy_to_database(b"l", b"copy", 2, false)?);
    ///     tx.select(2)?;
    ///     assert_eq!(tx.list(b"copy").len()?, 2);
    ///     Ok(())
    /// })?;
    /// assert_eq!(db.list(b"l").len()?, 2); // the source stays
    /// # Ok::<(), ziggydb::Error>(())
    /// ```
    pub fn copy_to_database(
        &mut self,
        src: &[u8],
        dst: &[u8],
        to: u32,
        replace: bool,
    ) -> Result<bool> {
        self.check_database(to)?;
        if to == self.db {
            return self.copy(src, dst, replace);
        }
        let Some(payload) = self.dump(src)? else {
            return Ok(false);
        };
        let at = self.expiry(src)?;
        let from = self.db;
        self.select(to)?;
        let copied = self.restore(dst, &payload, at, replace);
        self.select(from)?;
        copied
    }

    /// A collection page (internal key `key`) as this transaction sees it: its own pending
    /// version, or the committed record read in place from its mapping (which the `Arc`
    /// keeps alive; pages carry no expiry).
    pub(crate) fn page_buf(&self, key: &[u8]) -> Result<Option<crate::format::tree::PageBuf>> {
        use crate::format::tree::PageBuf;
        Ok(match self.pending(key, true) {
            Some(OpRef::Del { .. }) => None,
            Some(OpRef::Put { payload, .. }) => Some(PageBuf::Owned(payload.to_vec())),
            None => self
                .shared()?
                .lookup_internal(key)?
                .map(|h| PageBuf::Mapped {
                    start: h.meta.value_start,
                    len: h.meta.value_len,
                    map: h.map,
                }),
        })
    }

    /// Stores a record under `key` in a namespace.
    pub(crate) fn raw_put(
        &mut self,
        key: &[u8],
        internal: bool,
        vtype: u8,
        payload: Vec<u8>,
        expires_at: u64,
    ) -> Result<()> {
        self.check_record(key, payload.len(), expires_at != 0)?;
        if let Some(old) = self.set_op(key, internal, Some((vtype, payload, expires_at))) {
            self.note_replaced(old);
        }
        Ok(())
    }

    /// Refuses a record that no segment could hold, before anything is built for it.
    fn check_record(&self, key: &[u8], payload_len: usize, has_expiry: bool) -> Result<()> {
        // A numbered database's prefix is part of the stored key (format-spec.md §4.5).
        let key_len = key.len() + self.ns.as_ref().map_or(0, Vec::len);
        if key_len > MAX_KEY_LEN {
            return Err(Error::KeyTooLarge {
                len: key.len(),
                max: MAX_KEY_LEN - (key_len - key.len()),
            });
        }
        // A value may be longer than a segment (it then goes to a large segment with its
        // transaction, format-spec.md §3.3), up to Redis's 512 MiB.
        if payload_len > crate::format::record::MAX_STRING_LEN {
            return Err(Error::ValueTooLarge {
                len: payload_len,
                max: crate::format::record::MAX_STRING_LEN,
            });
        }
        let max = self.shared()?.max_txn_bytes();
        let len = record_len(key_len, payload_len, has_expiry);
        if len > max {
            return Err(Error::ValueTooLarge { len, max });
        }
        Ok(())
    }

    /// Checks that a value of `value_len` bytes (as stored: the length of bytes or text) can
    /// be set under `key`, so that a front end can refuse an oversized value before it makes
    /// a copy of it.
    ///
    /// # Errors
    /// [`Error::KeyTooLarge`], [`Error::ValueTooLarge`], as [`WriteTxn::set`] would return.
    ///
    /// # Examples
    ///
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// # let db = ziggydb::Db::open(dir.path().join("db"))?;
    /// let tx = db.begin_write()?;
    /// assert!(tx.check_value_size(b"k", 100).is_ok());
    /// assert!(matches!(
    ///     tx.check_value_size(b"k", 1 << 30), // more than a value may hold (512 MiB)
    ///     Err(ziggydb::Error::ValueTooLarge { .. })
    /// ));
    /// # Ok::<(), ziggydb::Error>(())
    /// ```
    pub fn check_value_size(&self, key: &[u8], value_len: usize) -> Result<()> {
        self.check_record(key, value_len, false)
    }

    /// Writes to the internal namespace so far.
    pub(crate) fn internal_writes(&self) -> u64 {
        self.internal_writes
    }

    /// Records a pending write (`None`: a delete), keeping the undo log while a savepoint
    /// exists. Returns the entry of the write it replaced, readable until the next write.
    fn set_op(
        &mut self,
        key: &[u8],
        internal: bool,
        value: Option<(u8, Vec<u8>, u64)>,
    ) -> Option<u32> {
        self.internal_writes += u64::from(internal);
        let (key, internal) = self.key_id(key, internal);
        let (old, new) = self.ops.put(&key, internal, value);
        match &mut self.undo {
            Some(undo) => undo.push((new, old)),
            // Entries are renumbered by a compaction, which no savepoint may see.
            None => {
                if old.is_some() {
                    self.compact_after = true;
                }
            }
        }
        old
    }

    /// Marks a point in the transaction that [`WriteTxn::rollback_to`] returns to, so one
    /// command of an interactive transaction can fail without leaving half its writes.
    ///
    /// # Examples
    ///
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// # let db = ziggydb::Db::open(dir.path().join("db"))?;
    /// db.transaction(|tx| {
    ///     tx.set(b"a", "1")?;
    ///     let sp = tx.savepoint();
    ///     tx.set(b"b", "2")?;
    ///     tx.rollback_to(sp); // undoes the write of b only
    ///     Ok(())
    /// })?;
    /// assert!(db.exists(b"a")? && !db.exists(b"b")?);
    /// # Ok::<(), ziggydb::Error>(())
    /// ```
    pub fn savepoint(&mut self) -> Savepoint {
        self.savepoints += 1;
        Savepoint {
            undo: self.undo.get_or_insert_with(Vec::new).len(),
            retired: self.retired.len(),
            pending: self.ops.mark(),
            owner: self.serial,
            id: self.savepoints,
        }
    }

    /// Undoes every write made since `sp` was taken (later savepoints become invalid).
    ///
    /// # Examples
    ///
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// # let db = ziggydb::Db::open(dir.path().join("db"))?;
    /// let mut tx = db.begin_write()?;
    /// tx.set(b"k", "before")?;
    /// let sp = tx.savepoint();
    /// tx.set(b"k", "after")?;
    /// tx.delete(b"other")?;
    /// tx.rollback_to(sp);
    /// assert_eq!(tx.get(b"k")?, Some("before".into()));
    /// tx.commit()?;
    /// # Ok::<(), ziggydb::Error>(())
    /// ```
    pub fn rollback_to(&mut self, sp: Savepoint) {
        if let Some(mut undo) = self.undo.take() {
            while undo.len() > sp.undo {
                let Some((new, old)) = undo.pop() else { break };
                self.ops.undo(new, old);
            }
            // Every write since the savepoint is in the undo log, so what it appended is
            // all undone: the arena returns to where it was, unless the savepoint is not
            // one whose mark still describes the arena (its entries then stay, dead).
            let valid = sp.owner == self.serial && !self.invalid.iter().any(|r| r.contains(&sp.id));
            if valid {
                self.ops.truncate(sp.pending);
                // The savepoints taken since are invalid now.
                if sp.id < self.savepoints {
                    match self.invalid.last_mut() {
                        Some(r) if r.end == sp.id + 1 || r.contains(&(sp.id + 1)) => {
                            r.end = r.end.max(self.savepoints + 1);
                        }
                        _ => self.invalid.push(sp.id + 1..self.savepoints + 1),
                    }
                }
            }
            self.undo = Some(undo);
        }
        self.retired.truncate(sp.retired);
    }

    /// Deletes `key` in a namespace (whether or not it exists).
    pub(crate) fn raw_del(&mut self, key: &[u8], internal: bool) {
        if let Some(old) = self.set_op(key, internal, None) {
            self.note_replaced(old);
        }
    }

    /// A pending collection record replaced by another write: remember its pages, which
    /// `coll::before_commit` frees unless a pending record still names the collection.
    fn note_replaced(&mut self, old: u32) {
        // A collection's metadata is a user key, or an internal key of a numbered database
        // (pages and counters have their own type tags).
        if let OpRef::Put { vtype, payload, .. } = self.ops.op_at(old) {
            self.retired
                .extend(crate::db::pages::retired_roots(vtype, payload));
        }
        if std::mem::take(&mut self.compact_after) && self.undo.is_none() {
            self.ops.maybe_compact();
        }
    }

    /// The pending write of a key of the selected database: `Some(None)` for a delete,
    /// `Some(Some((vtype, payload)))` for a put, `None` if the transaction does not touch it.
    pub(crate) fn raw_get_pending(&self, key: &[u8]) -> Option<Option<(u8, Vec<u8>)>> {
        self.raw_get_pending_in(key, false)
    }

    /// As [`WriteTxn::raw_get_pending`] for a key named in a namespace.
    pub(crate) fn raw_get_pending_in(
        &self,
        key: &[u8],
        internal: bool,
    ) -> Option<Option<(u8, Vec<u8>)>> {
        match self.pending(key, internal)? {
            OpRef::Del { .. } => Some(None),
            OpRef::Put { vtype, payload, .. } => Some(Some((vtype, payload.to_vec()))),
        }
    }

    /// Collection roots noted by `note_replaced`.
    pub(crate) fn take_retired(&mut self) -> Vec<(u64, u64)> {
        std::mem::take(&mut self.retired)
    }

    /// Pending user records of a collection type (for `coll::before_commit`). Scalars are
    /// left out rather than copied: a bulk load would otherwise copy every value once more.
    pub(crate) fn pending_user_puts(&self) -> Vec<(u8, Vec<u8>)> {
        self.ops
            .iter()
            .filter_map(|(_, op)| match op {
                // Collection metadata of any database (format-spec.md §4.5).
                OpRef::Put { vtype, payload, .. }
                    if ValueType::from_tag(vtype).is_some_and(ValueType::is_collection) =>
                {
                    Some((vtype, payload.to_vec()))
                }
                _ => None,
            })
            .collect()
    }

    /// Moves the value at `from` (of any type, with its expiry) to `to`, replacing what `to`
    /// held (Redis `RENAME`). Returns false if `from` does not exist.
    ///
    /// # Errors
    /// As [`crate::Db::get`].
    ///
    /// # Examples
    ///
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// # let db = ziggydb::Db::open(dir.path().join("db"))?;
    /// db.set(b"old", "v")?;
    /// db.transaction(|tx| {
    ///     assert!(tx.rename_key(b"old", b"new")?);
    ///     assert!(!tx.rename_key(b"missing", b"x")?);
    ///     Ok(())
    /// })?;
    /// assert_eq!(db.keys()?, vec![b"new".to_vec()]);
    /// # Ok::<(), ziggydb::Error>(())
    /// ```
    pub fn rename_key(&mut self, from: &[u8], to: &[u8]) -> Result<bool> {
        let Some(raw) = self.raw_get(from, false)? else {
            return Ok(false);
        };
        if from == to {
            return Ok(true);
        }
        // Delete first, so the record moved is not mistaken for a replaced collection.
        self.set_op(from, false, None);
        self.raw_put(to, false, raw.vtype, raw.payload, raw.expires_at)?;
        Ok(true)
    }

    /// Sets the expiry of an existing key (Unix ms; `None` removes it, Redis `PERSIST`).
    /// Returns false if the key does not exist.
    ///
    /// # Errors
    /// As [`crate::Db::get`].
    ///
    /// # Examples
    ///
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// # let db = ziggydb::Db::open(dir.path().join("db"))?;
    /// db.set(b"k", "v")?;
    /// db.transaction(|tx| {
    ///     assert!(tx.set_expiry(b"k", Some(4_000_000_000_000))?);
    ///     assert!(!tx.set_expiry(b"missing", None)?);
    ///     Ok(())
    /// })?;
    /// assert_eq!(db.expiry(b"k")?, Some(4_000_000_000_000));
    /// # Ok::<(), ziggydb::Error>(())
    /// ```
    pub fn set_expiry(&mut self, key: &[u8], expires_at_ms: Option<u64>) -> Result<bool> {
        let Some(raw) = self.raw_get(key, false)? else {
            return Ok(false);
        };
        self.raw_put(
            key,
            false,
            raw.vtype,
            raw.payload,
            expires_at_ms.unwrap_or(0),
        )?;
        Ok(true)
    }

    /// Whether the user key `key` exists (any type), seeing this transaction's writes: the
    /// transaction's source for [`Read::exists`].
    pub(crate) fn exists_any(&self, key: &[u8]) -> Result<bool> {
        match self.pending(key, false) {
            Some(OpRef::Del { .. }) => Ok(false),
            Some(OpRef::Put { expires_at, .. }) => Ok(expires_at == 0 || expires_at > now_ms()),
            None if self.ns.is_some() => Ok(self.raw_get(key, false)?.is_some()),
            None => self.shared()?.exists_committed(key),
        }
    }

    /// Sets `key` (no expiry).
    ///
    /// # Errors
    /// [`Error::KeyTooLarge`], [`Error::ValueTooLarge`], [`Error::InvalidJson`].
    ///
    /// # Examples
    ///
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// # let db = ziggydb::Db::open(dir.path().join("db"))?;
    /// use ziggydb::Value;
    /// db.transaction(|tx| {
    ///     tx.set(b"name", "ada")?;
    ///     tx.set(b"age", 36i64)?;
    ///     tx.set(b"doc", Value::json(r#"{"a":1}"#)?)
    /// })?;
    /// assert_eq!(db.get_value(b"age")?, Some(Value::Int(36)));
    /// # Ok::<(), ziggydb::Error>(())
    /// ```
    pub fn set(&mut self, key: impl AsRef<[u8]>, value: impl Into<Value>) -> Result<()> {
        self.set_with_expiry(key, value, None)
    }

    /// Sets `key`, expiring at `expires_at_ms` (Unix ms) if given.
    ///
    /// # Errors
    /// As [`WriteTxn::set`].
    ///
    /// # Examples
    ///
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// # let db = ziggydb::Db::open(dir.path().join("db"))?;
    /// use std::time::{Duration, SystemTime, UNIX_EPOCH};
    /// let in_a_minute = (SystemTime::now() + Duration::from_secs(60))
    ///     .duration_since(UNIX_EPOCH).unwrap().as_millis() as u64;
    /// db.transaction(|tx| tx.set_with_expiry(b"session", "token", Some(in_a_minute)))?;
    /// assert_eq!(db.expiry(b"session")?, Some(in_a_minute));
    /// # Ok::<(), ziggydb::Error>(())
    /// ```
    pub fn set_with_expiry(
        &mut self,
        key: impl AsRef<[u8]>,
        value: impl Into<Value>,
        expires_at_ms: Option<u64>,
    ) -> Result<()> {
        let key = key.as_ref();
        let value = value.into();
        if let Value::Json(text) = &value {
            crate::format::value::validate_json(text)?;
        }
        let at = expires_at_ms.unwrap_or(0);
        // Refused before the payload is taken, and taken without a copy.
        self.check_record(key, value.encode_payload().len(), at != 0)?;
        let vtype = value.value_type().tag();
        self.raw_put(key, false, vtype, value.into_payload(), at)
    }

    /// Deletes `key` (Redis `DEL`); true if it existed. Deleting a collection frees its pages
    /// lazily, a bounded number per commit.
    ///
    /// # Errors
    /// As [`crate::Db::get`].
    ///
    /// # Examples
    ///
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// # let db = ziggydb::Db::open(dir.path().join("db"))?;
    /// db.set(b"k", "v")?;
    /// db.transaction(|tx| {
    ///     assert!(tx.delete(b"k")?);
    ///     assert!(!tx.exists(b"k")?);
    ///     Ok(())
    /// })?;
    /// assert!(!db.exists(b"k")?);
    /// # Ok::<(), ziggydb::Error>(())
    /// ```
    pub fn delete(&mut self, key: impl AsRef<[u8]>) -> Result<bool> {
        let key = key.as_ref();
        if key.len() > MAX_KEY_LEN {
            return Err(Error::KeyTooLarge {
                len: key.len(),
                max: MAX_KEY_LEN,
            });
        }
        let existed = self.exists(key)?;
        if existed || self.pending(key, false).is_some() {
            self.raw_del(key, false);
        }
        Ok(existed)
    }

    /// Adds `delta` to the integer at `key` (absent = 0) and returns the new value (Redis
    /// `INCRBY`). The result is stored as an int.
    ///
    /// # Errors
    /// [`Error::NotAnInteger`], [`Error::Overflow`].
    ///
    /// # Examples
    ///
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// # let db = ziggydb::Db::open(dir.path().join("db"))?;
    /// let n = db.transaction(|tx| {
    ///     tx.incr_by(b"n", 5)?;
    ///     tx.incr_by(b"n", -2)
    /// })?;
    /// assert_eq!(n, 3);
    /// # Ok::<(), ziggydb::Error>(())
    /// ```
    pub fn incr_by(&mut self, key: impl AsRef<[u8]>, delta: i64) -> Result<i64> {
        let key = key.as_ref();
        let cur = match self.get(key)? {
            None => 0,
            Some(v) => v.as_int()?,
        };
        let n = cur.checked_add(delta).ok_or(Error::Overflow)?;
        // Like Redis, INCR keeps the key's time to live.
        let ttl = self.expiry(key)?;
        self.set_with_expiry(key, n, ttl)?;
        Ok(n)
    }

    /// Keys of the selected database this transaction writes or deletes.
    pub(crate) fn pending_user_keys(&self) -> Vec<Vec<u8>> {
        let ns = self.ns.as_deref();
        self.ops
            .iter()
            .filter_map(|(k, op)| {
                let internal = match op {
                    OpRef::Put { internal, .. } | OpRef::Del { internal } => internal,
                };
                match ns {
                    None => (!internal).then(|| k.to_vec()),
                    Some(p) => (internal && k.starts_with(p)).then(|| k[p.len()..].to_vec()),
                }
            })
            .collect()
    }

    /// The committed keys of the selected database (unexpired), without this
    /// transaction's writes.
    pub(crate) fn committed_keys(&self) -> Result<Vec<Vec<u8>>> {
        match &self.ns {
            None => self.shared()?.all_keys(),
            Some(p) => Ok(self
                .shared()?
                .prefixed_keys(p, false)?
                .into_iter()
                .map(|(k, _)| k)
                .collect()),
        }
    }

    /// Keys of every database this transaction writes or deletes, as they are stored:
    /// `(internal, key)`.
    pub(crate) fn pending_keyspace_keys(&self) -> Vec<(bool, Vec<u8>)> {
        self.ops
            .iter()
            .filter_map(|(k, op)| {
                let internal = match op {
                    OpRef::Put { internal, .. } | OpRef::Del { internal } => internal,
                };
                crate::db::dbs::is_keyspace(k, internal).then(|| (internal, k.to_vec()))
            })
            .collect()
    }

    /// Whether this transaction reads and writes a numbered database's keys, which the
    /// fast paths that write user keys straight to the log do not know.
    pub(crate) fn in_numbered_database(&self) -> bool {
        self.ns.is_some()
    }

    /// Commits: appends the transaction to the log, publishes it to every process, and (in
    /// [`Durability::Immediate`]) waits until it is on stable storage.
    ///
    /// # Errors
    /// [`Error::DiskFull`] (nothing is published; the database stays usable),
    /// [`Error::Poisoned`], I/O errors.
    ///
    /// # Examples
    ///
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// # let db = ziggydb::Db::open(dir.path().join("db"))?;
    /// let mut tx = db.begin_write()?;
    /// tx.set(b"k", "v")?;
    /// tx.commit()?; // durable (with Durability::Immediate) and visible to every process
    /// assert!(db.exists(b"k")?);
    /// # Ok::<(), ziggydb::Error>(())
    /// ```
    pub fn commit(mut self) -> Result<()> {
        if !self.notes.is_empty() {
            // Published only once the writes they describe are (format-spec.md §5.4).
            let notes = std::mem::take(&mut self.notes);
            let shared = std::sync::Arc::clone(self.shared()?);
            self.commit()?;
            crate::engine::notify::publish_notes(&shared, &notes);
            return Ok(());
        }
        if self.ops.is_empty() {
            self.guard.take();
            return Ok(());
        }
        // From here keys are named as they are stored.
        self.ns = None;
        // Collections replaced or deleted by this transaction hand their pages to the
        // reclaimer, which also frees a bounded number of pages per commit.
        if let Err(e) = crate::db::pages::before_commit(&mut self) {
            self.abort();
            return Err(e);
        }
        // Encoded from the pending writes themselves: a copy of them would cost as much
        // again.
        let ops = std::mem::take(&mut self.ops);
        self.commit_records(ops.iter())
    }

    /// Appends `records` (distinct keys) to the log and publishes them, then syncs as the
    /// durability asks.
    fn commit_records<'a>(
        &mut self,
        records: impl ExactSizeIterator<Item = (&'a [u8], OpRef<'a>)> + Clone,
    ) -> Result<()> {
        let guard = self.guard.take().ok_or(Error::Poisoned)?;
        let shared = std::sync::Arc::clone(guard.shared());
        let end = match shared.commit_iter(records.clone()) {
            Ok(end) => end,
            Err(e) => {
                shared.shm.add(W_ROLLBACKS, 1);
                return Err(e);
            }
        };
        shared
            .shm
            .add(W_COMMIT_MICROS, self.started.elapsed().as_micros() as u64);
        drop(guard);
        // After the writer lock is released, so that a woken waiter finds it free; only
        // while someone waits (format-spec.md §9.6): the buckets of the user keys written.
        if shared.anyone_waits() {
            shared.wake_buckets(crate::engine::wake::mask_of(records.filter_map(
                |(k, op)| {
                    let internal = match op {
                        OpRef::Put { internal, .. } | OpRef::Del { internal } => internal,
                    };
                    crate::db::dbs::is_keyspace(k, internal).then_some(k)
                },
            )));
        }
        if shared.opts.durability == Durability::Immediate {
            shared.sync_to(end)?;
        }
        shared.nudge_compactor();
        Ok(())
    }

    /// Sets `key` to `value`, expiring at `expires_at_ms` if given, and commits, writing the
    /// value from where it is: no pending copy of it is made (as [`WriteTxn::set_with_expiry`]
    /// then [`WriteTxn::commit`] makes). With writes already pending, or if the key holds a
    /// collection, it is those two.
    ///
    /// # Errors
    /// As [`WriteTxn::set`] and [`WriteTxn::commit`].
    ///
    /// # Examples
    ///
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// # let db = ziggydb::Db::open(dir.path().join("db"))?;
    /// use ziggydb::Value;
    /// let value = Value::from(vec![7u8; 4096]);
    /// db.begin_write()?.commit_set_value(b"blob", &value, None)?;
    /// assert_eq!(db.get(b"blob")?.unwrap().len(), 4096);
    /// # Ok::<(), ziggydb::Error>(())
    /// ```
    pub fn commit_set_value(
        mut self,
        key: &[u8],
        value: &Value,
        expires_at_ms: Option<u64>,
    ) -> Result<()> {
        if let Value::Json(text) = value {
            crate::format::value::validate_json(text)?;
        }
        let at = expires_at_ms.unwrap_or(0);
        let payload = value.encode_payload();
        self.check_record(key, payload.len(), at != 0)?;
        let alone = self.ops.is_empty()
            && self.undo.is_none()
            && self.retired.is_empty()
            && self.ns.is_none();
        if !alone || !crate::db::pages::scalar_writes_need_nothing(&self, std::iter::once(key))? {
            let copy = match value {
                Value::Bytes(b) => Value::Bytes(crate::error::try_copy(b)?),
                other => other.clone(),
            };
            self.set_with_expiry(key, copy, expires_at_ms)?;
            return self.commit();
        }
        let op = OpRef::Put {
            vtype: value.value_type().tag(),
            payload: &payload,
            expires_at: at,
            internal: false,
        };
        self.commit_records(std::iter::once((key, op)))
    }

    /// Sets every key to its value as bytes and commits (Redis `MSET` as a transaction of its
    /// own), later pairs winning over earlier ones with the same key; clears their times to
    /// live. Nothing is written if any pair is refused.
    ///
    /// The records are encoded straight from `pairs`, with no pending copy of each key and
    /// value (as [`WriteTxn::set_many`] then [`WriteTxn::commit`] makes): a load of a million
    /// small pairs costs a few bytes per pair beside its records. When the transaction already
    /// has writes, or a key holds a collection (whose pages a commit must free), it is
    /// `set_many` then `commit`.
    ///
    /// # Errors
    /// As [`WriteTxn::set`] and [`WriteTxn::commit`].
    ///
    /// # Examples
    ///
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// # let db = ziggydb::Db::open(dir.path().join("db"))?;
    /// db.begin_write()?.commit_set_many(&[(b"a", b"1"), (b"b", b"2")])?;
    /// assert_eq!(db.len(), 2);
    /// # Ok::<(), ziggydb::Error>(())
    /// ```
    pub fn commit_set_many<K: AsRef<[u8]>, V: AsRef<[u8]>>(self, pairs: &[(K, V)]) -> Result<()> {
        self.commit_pairs(pairs)
    }

    /// As [`WriteTxn::commit_set_many`], with the keys and values alternating in one slice
    /// (`MSET`'s arguments: key, value, key, value...), so that no list of pairs is built
    /// beside them. An odd last element is ignored.
    pub(crate) fn commit_set_alternating(self, keys_and_values: &[&[u8]]) -> Result<()> {
        self.commit_pairs(Alternating(keys_and_values))
    }

    /// As [`WriteTxn::commit_set_alternating`], pair `i` being `pair(i)` for `i < count`
    /// (`MSET` of a packed line, whose arguments are not slices).
    pub(crate) fn commit_set_by<'p>(
        self,
        count: usize,
        pair: impl Fn(usize) -> (&'p [u8], &'p [u8]) + Copy,
    ) -> Result<()> {
        self.commit_pairs(ByIndex(count, pair, std::marker::PhantomData))
    }

    fn commit_pairs<P: PairAt>(mut self, pairs: P) -> Result<()> {
        let n = pairs.count();
        for i in 0..n {
            let (key, value) = pairs.pair(i);
            self.check_record(key, value.len(), false)?;
        }
        let key = |i: usize| pairs.pair(i).0;
        let alone = self.ops.is_empty()
            && self.undo.is_none()
            && self.retired.is_empty()
            && self.ns.is_none();
        let indexable = u32::try_from(n).is_ok();
        if !alone
            || !indexable
            || !crate::db::pages::scalar_writes_need_nothing(&self, (0..n).map(key))?
        {
            for i in 0..n {
                let (key, value) = pairs.pair(i);
                let value = crate::error::try_copy(value)?;
                self.set(key, Value::Bytes(value))?;
            }
            return self.commit();
        }
        // Keys must be distinct within a transaction: of pairs with the same key only the
        // last is written. Found by sorting positions (4 bytes a pair), not by a map of keys.
        let mut order: Vec<u32> = Vec::new();
        order
            .try_reserve_exact(n)
            .map_err(|_| Error::OutOfMemory { bytes: n * 4 })?;
        order.extend(0..n as u32);
        order.sort_unstable_by(|&a, &b| key(a as usize).cmp(key(b as usize)).then(a.cmp(&b)));
        let mut dead = vec![0u64; n.div_ceil(64)];
        let mut live = n;
        for w in order.windows(2) {
            let (a, b) = (w[0] as usize, w[1] as usize);
            if key(a) == key(b) {
                dead[a / 64] |= 1 << (a % 64);
                live -= 1;
            }
        }
        drop(order);
        let records = LivePairs {
            pairs: &pairs,
            dead: &dead,
            next: 0,
            left: live,
        };
        self.commit_records(records)
    }

    /// Discards the transaction's writes and releases the writer lock.
    ///
    /// # Examples
    ///
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// # let db = ziggydb::Db::open(dir.path().join("db"))?;
    /// let mut tx = db.begin_write()?;
    /// tx.set(b"k", "v")?;
    /// tx.rollback(); // as dropping it does
    /// assert!(!db.exists(b"k")?);
    /// # Ok::<(), ziggydb::Error>(())
    /// ```
    pub fn rollback(mut self) {
        self.abort();
    }

    fn abort(&mut self) {
        if let Some(g) = self.guard.take() {
            if !g.shared().forked() {
                g.shared().shm.add(W_ROLLBACKS, 1);
            }
        }
    }
}

/// Keys with their values, by position: a slice of pairs, or keys and values alternating.
trait PairAt: Copy {
    fn count(&self) -> usize;
    /// Pair `i` (`i < count()`).
    fn pair(&self, i: usize) -> (&[u8], &[u8]);
}

impl<K: AsRef<[u8]>, V: AsRef<[u8]>> PairAt for &[(K, V)] {
    fn count(&self) -> usize {
        self.len()
    }
    fn pair(&self, i: usize) -> (&[u8], &[u8]) {
        let (key, value) = &self[i];
        (key.as_ref(), value.as_ref())
    }
}

/// Keys and values alternating in one slice, as `MSET`'s arguments are.
#[derive(Clone, Copy)]
struct Alternating<'a>(&'a [&'a [u8]]);

impl PairAt for Alternating<'_> {
    fn count(&self) -> usize {
        self.0.len() / 2
    }
    fn pair(&self, i: usize) -> (&[u8], &[u8]) {
        (self.0[2 * i], self.0[2 * i + 1])
    }
}

/// `count` pairs by position, from a function of the pairs' lifetime `'p`.
#[derive(Clone, Copy)]
struct ByIndex<'p, F>(usize, F, std::marker::PhantomData<&'p [u8]>);

impl<'p, F: Fn(usize) -> (&'p [u8], &'p [u8]) + Copy> PairAt for ByIndex<'p, F> {
    fn count(&self) -> usize {
        self.0
    }
    fn pair(&self, i: usize) -> (&[u8], &[u8]) {
        (self.1)(i)
    }
}

/// The pairs of [`WriteTxn::commit_set_many`] not overwritten by a later pair, as records.
struct LivePairs<'a, P> {
    pairs: &'a P,
    /// Bit `i` set: pair `i` is overwritten by a later one.
    dead: &'a [u64],
    next: usize,
    left: usize,
}

impl<P> Clone for LivePairs<'_, P> {
    fn clone(&self) -> Self {
        Self { ..*self }
    }
}

impl<'a, P: PairAt> Iterator for LivePairs<'a, P> {
    type Item = (&'a [u8], OpRef<'a>);

    fn next(&mut self) -> Option<Self::Item> {
        while self.next < self.pairs.count() {
            let i = self.next;
            self.next += 1;
            if self.dead[i / 64] & (1 << (i % 64)) == 0 {
                self.left -= 1;
                let (key, value) = self.pairs.pair(i);
                let op = OpRef::Put {
                    vtype: ValueType::Bytes.tag(),
                    payload: value,
                    expires_at: 0,
                    internal: false,
                };
                return Some((key, op));
            }
        }
        None
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.left, Some(self.left))
    }
}

impl<P: PairAt> ExactSizeIterator for LivePairs<'_, P> {}

impl Drop for WriteTxn {
    fn drop(&mut self) {
        self.abort();
    }
}
