//! What the engine counts and reports: shared [`Metrics`], one process's [`ProcessStats`],
//! and the outcome of a compaction ([`CompactStats`]).

use crate::format::value::ValueType;

/// Counters kept in shared memory, summed over every process attached to the directory.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Metrics {
    /// Live keys (including expired keys not yet deleted).
    pub keys: u64,
    /// Bytes of records the index points to.
    pub live_bytes: u64,
    /// Bytes of overwritten or deleted records not yet reclaimed by compaction.
    pub dead_bytes: u64,
    /// Segment files in the manifest.
    pub segments: u64,
    /// Bytes on disk of segment files (allocated size).
    pub segment_file_bytes: u64,
    /// Bytes of log written since the last checkpoint.
    pub wal_bytes: u64,
    /// Unix time in ms of the last checkpoint (0 if none since the shared state was created).
    pub last_checkpoint_ms: u64,
    /// Transactions committed.
    pub commits: u64,
    /// Transactions rolled back.
    pub rollbacks: u64,
    /// Total time spent in committed write transactions, in microseconds.
    pub commit_micros: u64,
    /// Point reads.
    pub reads: u64,
    /// Reads that found a key.
    pub hits: u64,
    /// Reads that found nothing.
    pub misses: u64,
    /// Compactions completed.
    pub compactions: u64,
    /// Keys deleted because they expired.
    pub expired: u64,
    /// Processes attached now, all of them (from the shared locks on `ziggy.shm` where the
    /// system lists them); [`Metrics::attached`] lists at most the process table's slots.
    pub processes: u64,
    /// Slots in the hash index.
    pub index_capacity: u64,
    /// Bytes mapped by this process.
    pub mapped_bytes: u64,
    /// Live keys of each type (types without keys are left out).
    pub keys_by_type: Vec<(ValueType, u64)>,
    /// Live keys with an expiry time (including expired keys not yet deleted).
    pub expiring_keys: u64,
    /// Commands run through [`commands::Session`](crate::commands::Session), by every
    /// process (the `ziggy` shell, a binding, a server).
    pub commands: u64,
    /// Checkpoints taken.
    pub checkpoints: u64,
    /// Log bytes appended but not yet known to be fsynced.
    pub unsynced_bytes: u64,
    /// Bytes of the index file.
    pub index_file_bytes: u64,
    /// The index is being rebuilt after a crash beside this process (format-spec.md §10.4):
    /// `keys`, `keys_by_type`, `expiring_keys`, `live_bytes` and `dead_bytes` are those of the
    /// old index's checkpoint, provisional until the rebuild ends (they miss the writes of the
    /// log after the checkpoint).
    pub rebuilding: bool,
    /// Blocking calls waiting now (blocking pops and [`Db::wait_for_change`](crate::Db::wait_for_change)) in the
    /// processes listed in [`Metrics::attached`]; a waiter of a process that died is not
    /// counted.
    pub waiters: u64,
    /// Processes attached now: pid, and reads, hits and misses since each attached. The
    /// shared process table has 112 slots: processes attached beyond those are counted in
    /// [`Metrics::processes`] but not listed here.
    pub attached: Vec<ProcessStats>,
}

/// One attached process, as [`Metrics::attached`] lists it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ProcessStats {
    /// Process id.
    pub pid: u32,
    /// Point reads.
    pub reads: u64,
    /// Reads that found a key.
    pub hits: u64,
    /// Reads that found nothing.
    pub misses: u64,
}

/// What a compaction did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct CompactStats {
    /// Segment files removed.
    pub segments_removed: u64,
    /// Segment files written.
    pub segments_written: u64,
    /// Records copied.
    pub records_copied: u64,
    /// Segment bytes on disk before.
    pub bytes_before: u64,
    /// Segment bytes on disk after.
    pub bytes_after: u64,
    /// Bytes of the index file before ([`Db::compact`](crate::Db::compact) only; 0 from an
    /// automatic compaction, which leaves the index be).
    pub index_bytes_before: u64,
    /// Bytes of the index file after: smaller once the index was at least four times the
    /// size its live keys need (format-spec.md §4.3).
    pub index_bytes_after: u64,
}
