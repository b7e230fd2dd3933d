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
#![deny(missing_docs)]
#![deny(unsafe_code)]

mod backup;
mod check;
mod coll;
mod compaction;
mod db;
mod dump;
mod engine;
mod error;
mod expiry;
mod index;
mod io;
mod lock;
mod manifest;
mod map;
mod record;
mod repair;
mod segment;
mod shm;
mod txn;
mod types;
mod value;

pub use backup::BackupStats;
pub use coll::{
    Hash, HashView, LexBound, List, ListView, ScoreBound, Set, SetOp, SetView, SortedSet,
    SortedSetView, ZAddFlags,
};
pub use db::{CheckReport, CompactStats, Db, Durability, Metrics, OpenOptions, ProcessStats};
pub use dump::{ExportFormat, ImportStats};
pub use error::{Error, Result};
pub use repair::{repair, DamagedCollection, DamagedRange, DroppedTxn, RepairReport};
pub use txn::{Savepoint, WriteTxn};
pub use types::{glob_match, ScanPage, SetCommand, SetOutcome, MAX_STRING_LEN};
pub use value::{format_float, Value, ValueRef, ValueType};

/// The engine's hot paths on their own, for the micro-benchmarks in `benches/` (record
/// encoding and decoding, index probes). Not part of the stable API.
#[doc(hidden)]
pub mod internals {
    use std::path::Path;

    /// One encoded PUT record of `key` and `value` (format-spec.md §3.2).
    pub fn encode_put(key: &[u8], value: &[u8]) -> Vec<u8> {
        let mut out = Vec::with_capacity(crate::record::record_len(key.len(), value.len(), false));
        crate::record::encode_record(&mut out, crate::record::KIND_PUT, 1, 1, 0, key, value);
        out
    }

    /// Decodes the record at the start of `buf`, checking its checksum; its key and value
    /// lengths.
    pub fn decode(buf: &[u8]) -> Option<(usize, usize)> {
        crate::record::decode_record(buf)
            .ok()
            .map(|r| (r.key.len(), r.value.len()))
    }

    /// A hash index file (format-spec.md §4) to probe.
    pub struct Index(crate::index::IndexMap);

    impl Index {
        /// Creates an index file with room for `keys` keys in `dir`.
        ///
        /// # Errors
        /// I/O errors.
        pub fn create(dir: &Path, keys: u64) -> crate::Result<Self> {
            let cap = crate::index::capacity_for(keys);
            crate::index::IndexMap::create(dir, 1, cap).map(Index)
        }

        /// Inserts `key` at record position `loc`.
        pub fn insert(&self, key: &[u8], loc: u64) {
            self.0.insert_fresh(
                crate::index::tag_for(crate::index::slot_hash(crate::index::hash_key(key)), loc),
                loc,
            );
        }

        /// The position stored for `key` (the first slot whose tag matches).
        ///
        /// # Errors
        /// Never, in practice (the match callback cannot fail).
        pub fn probe(&self, key: &[u8]) -> crate::Result<Option<u64>> {
            Ok(
                match self.0.probe(crate::index::hash_key(key), |_| Ok(true))? {
                    crate::index::Probe::Found { loc, .. } => Some(loc),
                    crate::index::Probe::Absent { .. } => None,
                },
            )
        }
    }
}

/// Fault injection for tests: make the Nth write, fsync or allocation fail or kill the
/// process, or journal every effect on disk so that a power cut can be simulated afterwards.
/// Not part of the stable API.
#[doc(hidden)]
pub mod testing {
    pub use crate::dump::check_line as check_import_line;
    pub use crate::io::powerloss::{
        power_cut, power_loss_note, set_power_loss_journal, PowerCut, PowerLossEvent,
    };
    pub use crate::io::{
        fault_hits, fault_plan_calls, set_fault_plan, set_fault_steps, FaultAction, FaultOp,
        FaultPlan, FaultStep,
    };
}
