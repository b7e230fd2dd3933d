//! ZiggyDB: an embedded key-value database that many processes on one machine open at once.
//!
//! Data lives in append-only, memory-mapped segment files that double as the write-ahead log;
//! a memory-mapped hash index shared by every process finds a key in O(1); writers are
//! serialised by an advisory lock and readers never take one (they validate with a sequence
//! lock in a shared memory-mapped file). The on-disk format and the lock protocol are
//! specified in `format-spec.md`.
//!
//! ```
//! # fn main() -> ziggydb::Result<()> {
//! # let dir = tempfile::tempdir().unwrap();
//! let db = ziggydb::Db::open(dir.path().join("data"))?;
//! db.set(b"greeting", "hello")?;
//! db.transaction(|tx| {
//!     let n = tx.incr_by(b"visits", 1)?; // INCR, atomic across processes
//!     tx.set(b"last-visit", n)?;
//!     Ok(())
//! })?;
//! assert_eq!(db.get(b"greeting")?.as_deref(), Some(&b"hello"[..]));
//!
//! // Collections share the transaction; each call names its Redis command.
//! db.transaction(|tx| {
//!     tx.list(b"jobs").push_back(&[b"job-1", b"job-2"])?; // RPUSH
//!     tx.hash(b"user:1").set(&[(b"name", b"ada")])?; // HSET
//!     tx.zset(b"scores").add(Default::default(), &[(42.0, b"ada")])?; // ZADD
//!     Ok(())
//! })?;
//! assert_eq!(db.list(b"jobs").range(0, -1)?.len(), 2); // LRANGE, no writer lock
//! # Ok(()) }
//! ```
//!
//! It is not: a server, a distributed store, or usable over a network file system (advisory
//! locks and shared mappings need one kernel). Keys are at most 64 KiB; a value or a whole
//! transaction must fit in one segment (64 MiB by default).
//!
//! # Keys, values and collections
//!
//! A key is up to 64 KiB of bytes; anything that is `AsRef<[u8]>` will do (`b"k"`, `"k"`,
//! a `Vec<u8>`). A key holds one [`Value`] (bytes, text, an integer, a float, a boolean, a
//! timestamp or a JSON document: [`ValueType`] names them) or one collection: a list, a set,
//! a sorted set or a hash, as in Redis. A read returns a scalar as it was stored; the Redis
//! style commands ([`WriteTxn::append`], [`WriteTxn::incr_by`], [`Db::get_range`], …) see
//! it as `GET` shows it ([`commands::redis_bytes`]), and [`WriteTxn::incr_by`] stores an int.
//!
//! A collection is not one big value: it is a small metadata record under its key plus
//! counted B+trees whose nodes are records of their own, so one push, add or remove rewrites
//! O(log n) small nodes whatever the size, and a range or rank costs O(log n + m). A sorted
//! set keeps two trees (by member and by score). Each collection has a handle for writing,
//! from a write transaction ([`WriteTxn::list`], [`WriteTxn::set_of`], [`WriteTxn::zset`],
//! [`WriteTxn::hash`]: [`List`], [`Set`], [`SortedSet`], [`Hash`](struct@Hash)), and a view
//! for reading without the writer lock ([`Db::list`], …, or [`Read::list_view`] on a
//! [`Snapshot`]:
//! [`ListView`], [`SetView`], [`SortedSetView`], [`HashView`]). A collection is created by its
//! first write and removed when it becomes empty; deleting one frees its nodes lazily, a
//! bounded number per commit. Using a key as the wrong type is [`Error::WrongType`].
//!
//! ```
//! # fn main() -> ziggydb::Result<()> {
//! # let dir = tempfile::tempdir().unwrap();
//! let db = ziggydb::Db::open(dir.path().join("data"))?;
//! let len = db.transaction(|tx| tx.append(b"log", b"started;"))?; // APPEND
//! assert_eq!(len, 8);
//! assert_eq!(db.strlen(b"log")?, 8); // STRLEN
//! assert!(db.transaction(|tx| tx.list(b"log").push_back(&["x"])).is_err()); // WRONGTYPE
//! # Ok(()) }
//! ```
//!
//! # Expiry
//!
//! Any key may expire at a Unix time in milliseconds ([`WriteTxn::set_with_expiry`],
//! [`WriteTxn::expire_at`], [`WriteTxn::persist`]; read it with [`Read::expire_time`]). An
//! expired key reads as absent at once, in every process, even before it is deleted (each
//! process judges by its own wall clock). Deleting expired keys is the active expiry: a
//! background thread of each read-write process ([`OpenOptions::active_expiry`], every
//! 100 ms by default) samples keys as Redis does and deletes expired ones through the log;
//! [`Db::expire_now`] runs one pass. Because that deletion is for every process, it is also
//! bounded by a **database clock** that no process can set (the machine's boot-time clock,
//! offset by the slowest wall clock of any process that attached): no key is deleted before
//! its expiry time minus 60 s by the clock of any attached process, so one process with a
//! clock far ahead cannot delete the keys of the others.
//!
//! # Transactions and isolation
//!
//! There is one writer at a time per database, across every process: [`Db::begin_write`]
//! (and [`Db::transaction`], [`Db::update`], and every write method of [`Db`], each of which
//! is a transaction of its own) takes the writer lock, waiting up to
//! [`OpenOptions::lock_timeout`] (10 s by default) before [`Error::Busy`]. A [`WriteTxn`]
//! therefore sees the committed state and its own writes, and nothing can change under it:
//! transactions are serializable, and a read-modify-write in one never loses an update. Its
//! writes become visible to every process at once when it commits, all or nothing; dropping
//! it (or returning `Err` from the closure, or a panic) rolls it back, and
//! [`WriteTxn::savepoint`] undoes part of it. Inside a transaction closure, a second write
//! on the same database that is not through `tx` fails with [`Error::TxnActive`] instead of
//! waiting for itself.
//!
//! Readers take no lock and never wait for a writer. Each read on [`Db`] sees one committed
//! state; several reads that must agree go through [`Db::view`], which gives them one
//! [`Snapshot`]. Values returned by [`Db::get`] ([`ValueRef`]) borrow the mapped file and
//! stay valid while compaction runs.
//!
//! # Durability and recovery
//!
//! With [`Durability::Immediate`] (the default) a commit returns once it is on stable
//! storage; commits of several threads and processes that arrive together share one fsync.
//! With [`Durability::Batched`] a commit returns once it is visible to every process and is
//! fsynced at most `max_delay` later ([`Db::sync`] forces it): a crash of the process loses
//! nothing, a crash of the machine may lose the last `max_delay` of commits. The segments
//! are the write-ahead log: after a crash, the next open finds where the log ends, drops a
//! transaction that was cut short and rebuilds what it must; nothing has to be replayed by
//! hand. Old versions are reclaimed by compaction, in the background
//! ([`OpenOptions::auto_compact`]) or by [`Db::compact`], while other processes keep
//! reading and writing. [`Db::check`] verifies a database, and [`repair`] salvages one that
//! no longer opens.
//!
//! # Many processes
//!
//! Every process that opens the same directory sees the same data: processes share the
//! segment files, the index and `ziggy.shm` through memory maps, and the writer lock through
//! `flock`. Within one process, every [`Db`] handle on a directory shares one state (clone
//! a handle freely; it is `Send + Sync`), so a second [`Db::open`] of the same directory with
//! other options is [`Error::OptionsMismatch`]. A handle must not cross `fork()` (see below).
//! A process that dies holding the writer lock releases it (the kernel drops its `flock`),
//! and the next writer repairs what it left: a transaction it had not finished publishing is
//! completed or discarded, never half applied; a process that is
//! stopped (`SIGSTOP`) while holding it makes writers wait until their lock timeout, as any
//! lock holder would. [`OpenOptions::read_only`] opens a database on a read-only mount or
//! without write permission. All processes must be on one machine: a network file system
//! does not give advisory locks and shared mappings the meaning they need. A live copy of
//! a database is [`Db::backup`]; [`Db::export`] and [`Db::import`] move keys between
//! databases as JSON Lines (or to Redis, as RESP).
//!
//! # Scanning keys
//!
//! [`Db::keys`] and [`Read::keys_matching`] read every key at once. [`Db::scan`] visits
//! them a page at a time, like Redis `SCAN`: in the order of their hash with the bits
//! reversed, so a cursor keeps its meaning when the index grows or shrinks. Each call reads
//! one consistent state and costs O(count), not O(n). Every key that exists for the whole
//! scan is returned exactly once, whatever other processes write meanwhile; a key created or
//! deleted during the scan may or may not be.
//!
//! # Reads, transactions, errors
//!
//! Every read is a method of [`Read`], which [`Db`] (each call one consistent read of the
//! committed state), [`Snapshot`] (several reads of one state, from [`Db::view`]) and
//! [`WriteTxn`] (reads that see the transaction's writes) implement with the same answers.
//! Writes go through a [`WriteTxn`]: [`Db::transaction`] and [`Db::update`] (for a closure with
//! its own error type) commit it when the closure returns `Ok`. A transaction belongs to no
//! thread and may be moved to another and committed there. Every [`Error`] has a stable
//! numeric code and name ([`Error::code`], [`ErrorCode`]) for bindings.
//!
//! # Safety and trust model
//!
//! The API is safe Rust, but it rests on a contract with every other process that can write
//! the database's files: the processes of the owner, and of the group if the database's
//! mode ([`OpenOptions::mode`]) lets the group write. Processes share memory maps of the
//! segment files, the index and `ziggy.shm`, and a [`ValueRef`] is a slice of a segment's
//! mapping. ZiggyDB itself never shrinks a file that may be mapped, never rewrites a
//! published record (compaction writes new files and unlinks old ones whole; a mapping of an
//! unlinked file stays valid), creates every file with `O_EXCL` and opens none through a
//! symbolic link. Other programs must not, while any process has the database open:
//!
//! - **truncate** a segment or index file (or `ziggy.shm`): every process that touches a
//!   page past the new end is killed by **SIGBUS**, as with LMDB or any database that maps its
//!   files; the records past the end are lost, and the next open or `CHECK` reports them;
//! - **write** into a file: damage is detected where it can be (records carry a CRC-32,
//!   index slots a check byte, `ziggy.shm` words are range-checked), giving
//!   [`Error::ChecksumMismatch`], [`Error::CorruptSegment`], [`Error::CorruptIndex`],
//!   [`Error::CorruptShm`] or [`Error::CorruptCollection`] instead of data; but a record
//!   rewritten with a recomputed checksum reads as whatever it now says (**wrong data**),
//!   bytes changed under an outstanding [`ValueRef`] change what it reads (in Rust's terms a
//!   data race, undefined behaviour), and a damaged lock or sequence word in `ziggy.shm` can
//!   make readers retry or writers wait until [`Error::Busy`];
//! - **replace** a file (rename another over it) or delete one: processes that have the old
//!   file mapped go on reading it while new opens read the new one, so processes disagree
//!   about the data until every process has closed the database.
//!
//! Files are created with the database's mode (`0600` by default: the owner alone). Give a
//! group write access only to processes you trust with the data. Reading needs only read
//! access, and values are not encrypted. A handle must not be used across `fork()`: in the
//! child it fails with [`Error::Forked`] and releases nothing of the parent's; open the
//! database again in the child.
#![deny(missing_docs)]
#![deny(unsafe_code)]

// The layers, from the top: `commands` (the Redis command layer every front end shares) ->
// `tools` (check, repair, export and import: they walk every layer below) -> `types` (strings,
// keys, expiry, collections and the one read path) -> `db` (the handle and its write
// transactions) -> `engine` (attach, read, commit, group sync, recovery, rotation,
// compaction, backup, expiry) -> `format` (records, segments, manifest, index, `ziggy.shm`,
// values, collection pages) -> `os` (maps, locks, the I/O seam). `error` and `value_type`
// are the vocabulary of all of them. A module uses only its own layer and the layers below
// it: the test `layers` (tests/it/layers.rs) checks that.
pub mod commands;
mod db;
mod engine;
mod error;
mod format;
mod os;
pub mod progress;
mod tools;
mod types;
mod value_type;

pub use db::txn::{Savepoint, WriteTxn};
pub use db::Db;
pub use engine::backup::BackupStats;
/// Keyspace notification classes (Redis's `notify-keyspace-events` letters): see
/// [`Db::set_keyspace_events`].
pub use engine::notify::events as pubsub_events;
pub use engine::options::{Durability, OpenOptions};
pub use engine::stats::{CompactStats, Metrics, ProcessStats};
pub use error::{Error, ErrorCode, Result};
pub use format::value::{Value, ValueRef, ValueType};
pub use tools::check::CheckReport;
pub use tools::dump::{ExportFormat, ImportStats};
pub use tools::repair::{repair, DamagedCollection, DamagedRange, DroppedTxn, RepairReport};
pub use types::blocking::{CancelToken, End, Wait};
pub use types::collections::{
    Aggregate, Hash, HashScanPage, HashView, LexBound, List, ListView, ScoreBound, Set, SetOp,
    SetView, SortedSet, SortedSetScanPage, SortedSetView, ZAddFlags,
};
pub use types::dump::PayloadError;
pub use types::read::{Expiry, Read, ReadView, Snapshot};
pub use types::{
    BitOp, BitUnit, BitfieldOp, BitfieldType, LcsMatch, LcsMatches, Overflow, HLL_SIZE,
    MAX_BIT_OFFSET, MAX_LCS_TABLE,
};
pub use types::{Message, Subscriber, MAX_CHANNEL_NAME, MAX_MESSAGE};
pub use types::{ScanPage, SetCommand, SetOutcome, MAX_STRING_LEN};

/// The engine's hot paths on their own, for the micro-benchmarks in `benches/` and the fuzz
/// targets in `fuzz/` (record encoding and decoding, the log scan, index files and probes).
/// Not part of the stable API: these may change or go away in any release. Only with the
/// `test-hooks` feature.
#[cfg(feature = "test-hooks")]
#[doc(hidden)]
pub mod internals {
    use std::path::Path;

    /// One encoded PUT record of `key` and `value` (format-spec.md §3.2).
    pub fn encode_put(key: &[u8], value: &[u8]) -> Vec<u8> {
        let mut out = Vec::with_capacity(crate::format::record::record_len(
            key.len(),
            value.len(),
            false,
        ));
        crate::format::record::encode_record(
            &mut out,
            crate::format::record::KIND_PUT,
            1,
            1,
            0,
            key,
            value,
        );
        out
    }

    /// Decodes the record at the start of `buf`, checking its checksum; its key and value
    /// lengths.
    pub fn decode(buf: &[u8]) -> Option<(usize, usize)> {
        crate::format::record::decode_record(buf)
            .ok()
            .map(|r| (r.key.len(), r.value.len()))
    }

    pub use crate::format::record::Record;

    /// Decodes the record at the start of `buf` exactly as the engine does; why not, if not.
    ///
    /// # Errors
    /// The reason the bytes are no record.
    pub fn decode_record(buf: &[u8]) -> Result<Record<'_>, &'static str> {
        crate::format::record::decode_record(buf)
            .map_err(crate::format::record::DecodeError::reason)
    }

    /// Encodes `r` as the engine's writer does (`r.len` is ignored), as a short PUT if
    /// `r.short` (as compaction writes it).
    pub fn encode_record(r: &Record<'_>) -> Vec<u8> {
        let mut out = Vec::new();
        if r.short {
            crate::format::record::encode_short_put(
                &mut out,
                r.vtype,
                r.txn,
                r.expires_at,
                r.internal,
                r.key,
                r.value,
            );
            return out;
        }
        crate::format::record::encode_record_ns(
            &mut out,
            r.kind,
            r.vtype,
            r.txn,
            r.expires_at,
            r.internal,
            r.key,
            r.value,
        );
        out
    }

    /// The log of a log segment as a cold start reads it ([`scan_log`]).
    #[derive(Debug, Clone, PartialEq, Eq)]
    pub struct LogScan {
        /// Each transaction: its id and the offsets of its PUT/DEL records.
        pub txns: Vec<(u64, Vec<usize>)>,
        /// Offset where the log ends.
        pub end: usize,
        /// Why it ends there.
        pub stop: String,
    }

    /// Scans `segment`, the bytes of a whole log segment file (its header is not checked), with
    /// the engine's log scan: transactions from offset 64 up to the first that ends the log
    /// (format-spec.md §3.3).
    pub fn scan_log(segment: &[u8]) -> LogScan {
        let mut txns = Vec::new();
        let scanned = crate::engine::scan_log(
            segment,
            0,
            crate::format::record::SEGMENT_HEADER_LEN,
            |txn, records| {
                txns.push((txn, records.iter().map(|&(p, _)| p as usize).collect()));
                Ok(())
            },
        );
        let (end, stop) = match scanned {
            Ok(s) => s,
            Err(e) => unreachable!("the callback never fails: {e}"),
        };
        LogScan {
            txns,
            end,
            stop: match stop {
                crate::engine::recovery::LogStop::Seal => "seal".into(),
                crate::engine::recovery::LogStop::Backwards => "transaction id not greater".into(),
                crate::engine::recovery::LogStop::End(reason) => reason.into(),
            },
        }
    }

    /// A hash index file (format-spec.md §4) to probe.
    pub struct Index(crate::format::index::IndexMap);

    impl Index {
        /// Creates an index file with room for `keys` keys in `dir`.
        ///
        /// # Errors
        /// I/O errors.
        pub fn create(dir: &Path, keys: u64) -> crate::Result<Self> {
            let cap = crate::format::index::capacity_for(keys);
            crate::format::index::IndexMap::create(dir, 1, cap, crate::os::io::DEFAULT_FILE_MODE)
                .map(Index)
        }

        /// Inserts `key` at record position `loc`.
        pub fn insert(&self, key: &[u8], loc: u64) {
            self.0.insert_fresh(
                crate::format::index::tag_for(
                    crate::format::index::slot_hash(crate::format::index::hash_key(key)),
                    loc,
                ),
                loc,
            );
        }

        /// The position stored for `key` (the first slot whose tag matches).
        ///
        /// # Errors
        /// Never, in practice (the match callback cannot fail).
        pub fn probe(&self, key: &[u8]) -> crate::Result<Option<u64>> {
            self.probe_where(key, |_| true)
        }

        /// Opens index file `gen` in `dir` with the engine's checks of its header and size.
        ///
        /// # Errors
        /// As the engine's open: `CorruptIndex`, `IncompatibleVersion`, I/O errors.
        pub fn open(dir: &Path, gen: u64) -> crate::Result<Self> {
            crate::format::index::IndexMap::open(dir, gen).map(Index)
        }

        /// The file's path.
        pub fn path(&self) -> &Path {
            &self.0.path
        }

        /// Number of slots.
        pub fn capacity(&self) -> u64 {
            self.0.cap
        }

        /// The position stored for `key`: the first slot whose tag matches and whose position
        /// `holds(loc)` says holds the key (as the engine checks the record there).
        ///
        /// # Errors
        /// `CorruptIndex` for a slot that fails its check byte.
        pub fn probe_where(
            &self,
            key: &[u8],
            mut holds: impl FnMut(u64) -> bool,
        ) -> crate::Result<Option<u64>> {
            Ok(
                match self
                    .0
                    .probe(crate::format::index::hash_key(key), |loc| Ok(holds(loc)))?
                {
                    crate::format::index::Probe::Found { loc, .. } => Some(loc),
                    crate::format::index::Probe::Absent { .. } => None,
                },
            )
        }

        /// Deletes `key`, stored at `loc`, as the engine does (its slot becomes a deleted
        /// one); false if it is not found.
        ///
        /// # Errors
        /// `CorruptIndex` for a slot that fails its check byte.
        pub fn remove(&self, key: &[u8], loc: u64) -> crate::Result<bool> {
            match self
                .0
                .probe(crate::format::index::hash_key(key), |l| Ok(l == loc))?
            {
                crate::format::index::Probe::Found { slot, .. } => {
                    self.0.remove(slot);
                    Ok(true)
                }
                crate::format::index::Probe::Absent { .. } => Ok(false),
            }
        }
    }
}

/// Fault injection for tests: make the Nth write, fsync or allocation fail or kill the
/// process, or journal every effect on disk so that a power cut can be simulated afterwards.
/// Not part of the stable API. Only with the `test-hooks` feature: a build without it reads no
/// `ZIGGY_FAULT` and journals nothing.
#[cfg(feature = "test-hooks")]
#[doc(hidden)]
pub mod testing {
    pub use crate::os::io::powerloss::{
        power_cut, power_loss_note, set_power_loss_journal, PowerCut, PowerLossEvent,
    };
    pub use crate::os::io::{
        fault_hits, fault_plan_calls, set_fault_plan, set_fault_steps, FaultAction, FaultOp,
        FaultPlan, FaultStep,
    };
    pub use crate::tools::dump::check_line as check_import_line;

    /// This process's clock as the engine reads it (Unix ms): the wall clock moved by
    /// `ZIGGY_CLOCK_OFFSET_MS` (signed milliseconds, read once) if that is set.
    pub fn clock_ms() -> u64 {
        crate::engine::now_ms()
    }

    /// This process's lock and sync counters, by name (nanoseconds for `*_ns` and `*_max`),
    /// counted only when `ZIGGY_LOCK_STATS` is set: `writer.lock` acquisitions (and those
    /// without waiting), time waiting for it, time from the waiter thread getting it to the
    /// asking thread holding it, time held; log fsyncs and their time; sleeps on another
    /// process's fsync.
    pub fn lock_stats() -> Vec<(&'static str, u64)> {
        crate::os::lock::stats::snapshot()
    }

    /// A named stop point for code outside the library (the `ziggy` binary): see
    /// `ZIGGY_TEST_STOP` in `os::pause`.
    pub fn stop_point(name: &str) {
        crate::os::pause::point(name);
    }
}
