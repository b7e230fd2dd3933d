//! The per-directory engine shared by every handle in one process (format-spec.md §6–§10).
//! This file holds the shared state, the read path (sequence lock, overlays, reads beside a
//! rebuild), the writer lock, and the commit path (append, publish, group fsync); beside it:
//! `attach` (open, recovery at first open, warm attach, detach), `recovery` (log scans,
//! index rebuild, tail repair), `rotation` (segment rotation, checkpoints, index growth),
//! `readonly`, `compaction`, `backup`, `expiry`, `options` and `stats`.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{fence, AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock, Weak};
use std::time::{Duration, Instant};

use arc_swap::ArcSwapOption;

use crate::engine::options::{Durability, OpenOptions};
use crate::error::{Error, Result};
use crate::format::index::{self, IndexMap, Probe};
use crate::format::manifest::{Manifest, MANIFEST_TMP};
use crate::format::record::{
    decode_record, encode_record, encode_record_head, encode_record_ns, record_len, DecodeError,
    KIND_COMMIT, KIND_DEL, KIND_PUT, KIND_SEAL, MAX_KEY_LEN, RECORD_HEADER_LEN, SEGMENT_HEADER_LEN,
    SEG_COMPACTED, SEG_LOG,
};
use crate::format::segment::{self, RecMeta, Segments};
use crate::format::shm::*;
use crate::os::lock::{stats as lock_stats, LockFile, ProcLock};
use crate::os::map::{SegmentMap, SharedWords};

mod attach;
pub(crate) mod backup;
pub(crate) mod compaction;
pub(crate) mod expiry;
pub(crate) mod notify;
pub(crate) mod options;
pub(crate) mod pubsub;
mod readonly;
pub(crate) mod recovery;
mod rotation;
pub(crate) mod wake;

use attach::{holder_pid, opener_phase};
pub(crate) use attach::{index_belongs, unadoptable};
pub(crate) use recovery::{parse_txn, scan_log, TxnParse};
pub(crate) mod stats;
pub(crate) mod views;

/// Length of a seal record (no key, 8-byte value).
pub(crate) const SEAL_LEN: usize = RECORD_HEADER_LEN + 8;
/// Length of a commit record.
pub(crate) const COMMIT_LEN: usize = RECORD_HEADER_LEN + 8;
/// `W_PUB_START` value for a publish that is not a logged transaction.
const NO_TXN: u64 = u64::MAX;
/// Growth step of the active segment file.
const GROW_STEP: u64 = 4 << 20;
/// Initial allocation of a new log segment (small, so a fresh segment wastes little space).
const INITIAL_ALLOC: u64 = 64 << 10;
/// Largest reserve kept at the end of the active segment (format-spec.md §9.2 step 2).
const RESERVE_MAX: u64 = 32 << 10;

/// The reserve of a database with `segment_size`-byte segments: room at the end of the
/// active segment, always allocated, that only a transaction that deletes and nothing else
/// may use, and only when the file system has no room for a new segment or a larger active
/// one (format-spec.md §9.2 step 2): a full disk never stops keys from being deleted.
/// A sixteenth of the segment, at most 32 KiB, so that a new segment's first allocation
/// (64 KiB) always covers its header, a SEAL and the reserve.
pub(crate) fn reserve_bytes(segment_size: u64) -> u64 {
    (segment_size / 16).min(RESERVE_MAX)
}

/// Bytes a new log segment is allocated with (§3.4).
pub(crate) fn new_segment_bytes(segment_size: u64) -> u64 {
    INITIAL_ALLOC.min(segment_size)
}
/// How long a committer waits for another process's fsync, the sync epoch unchanged, before
/// it fsyncs itself without `sync.lock` (format-spec.md §9.4): far above an fsync's usual
/// time, so that batching holds, yet short beside a stopped syncer.
const SYNCER_STALL: Duration = Duration::from_millis(200);

/// The longest a committer sleeps on the sync epoch before it looks again (format-spec.md
/// §9.4). A syncer's end wakes it at once; the bound only covers a syncer that died, which
/// bumps no epoch, so it need not be short, and every needless wake-up is a context switch
/// that, on a loaded machine, queues for a CPU beside the syncer itself.
const SYNC_SLEEP: Duration = Duration::from_millis(20);

/// This process's wall clock, Unix ms (see [`crate::engine::expiry::wall_ms`]).
pub(crate) fn now_ms() -> u64 {
    crate::engine::expiry::wall_ms()
}

/// A value at least this long is written to the log from where it is, not copied into the
/// transaction's buffer first (a big value would otherwise cost its size twice).
const LARGE_VALUE: usize = 64 << 10;

/// A commit encodes and writes its transaction about this many bytes at a time.
const WRITE_PIECE: usize = 1 << 20;

/// Log bytes [`Shared::key_written_since`] reads at most before it gives up.
const WATCH_LOG_LIMIT: u64 = 64 << 20;

/// Where a record goes in the index, found before a publish: the key's hash, its slot (or
/// the free slot for it) and the header of the record it replaces.
pub(crate) struct Probed {
    hash: u64,
    probe: Probe,
    old: Option<crate::format::segment::Head>,
}

/// A record found by a read.
#[derive(Clone)]
pub(crate) struct Hit {
    pub map: Arc<SegmentMap>,
    pub meta: RecMeta,
}

impl Hit {
    /// Whether the record's expiry time has passed (reads the clock only if it has one).
    pub(crate) fn expired(&self) -> bool {
        self.meta.expires_at != 0 && self.meta.expires_at <= now_ms()
    }
}

/// A write handed to [`Shared::commit_ops`] (repair's salvaged records).
#[derive(Debug, Clone)]
pub(crate) enum Op {
    Put {
        vtype: u8,
        payload: Vec<u8>,
        expires_at: u64,
        /// The key is in the internal namespace (format-spec.md §3.2 flags).
        internal: bool,
    },
    // Repair writes only puts; a delete stays expressible for any other caller.
    #[allow(dead_code)]
    Del { internal: bool },
}

/// A pending write as [`Shared::commit_iter`] reads it: an [`Op`] or a value borrowed from
/// wherever the caller holds it (a bulk `MSET` writes its arguments without copying them).
#[derive(Debug, Clone, Copy)]
pub(crate) enum OpRef<'a> {
    Put {
        vtype: u8,
        payload: &'a [u8],
        expires_at: u64,
        internal: bool,
    },
    Del {
        internal: bool,
    },
}

impl Op {
    /// The write, borrowed.
    pub(crate) fn as_op_ref(&self) -> OpRef<'_> {
        match self {
            Op::Put {
                vtype,
                payload,
                expires_at,
                internal,
            } => OpRef::Put {
                vtype: *vtype,
                payload,
                expires_at: *expires_at,
                internal: *internal,
            },
            Op::Del { internal } => OpRef::Del {
                internal: *internal,
            },
        }
    }
}

/// The position and metadata of each record of a transaction that a commit of `ops` under
/// id `txn` wrote from offset `off` of segment `seg` (what reading it back would give).
fn logged_records<'a, I: Iterator<Item = (&'a [u8], OpRef<'a>)> + Clone>(
    ops: I,
    seg: u32,
    off: usize,
    txn: u64,
) -> impl Iterator<Item = (u64, RecMeta)> + Clone + use<'a, I> {
    ops.scan(off, move |at, (key, op)| {
        let meta = match op {
            OpRef::Put {
                vtype,
                payload,
                expires_at,
                internal,
            } => RecMeta::encoded(
                *at,
                KIND_PUT,
                vtype,
                txn,
                expires_at,
                internal,
                key.len(),
                payload.len(),
            ),
            OpRef::Del { internal } => {
                RecMeta::encoded(*at, KIND_DEL, 0, txn, 0, internal, key.len(), 0)
            }
        };
        let p = pos(seg, *at as u32);
        *at += meta.len;
        Some((p, meta))
    })
}

/// A complete transaction read back from the log.
pub(crate) struct LoggedTxn {
    pub txn: u64,
    /// Position and metadata of each PUT/DEL record.
    pub records: Vec<(u64, RecMeta)>,
    pub map: Arc<SegmentMap>,
    /// Offset just past the commit record.
    pub end: u32,
}

/// How the log scan at a position ended.
pub(crate) enum TxnRead {
    Txn(LoggedTxn),
    /// A seal record: the segment ends here.
    Seal,
    /// No complete, valid transaction here: the end of the log (or damage).
    End,
}

/// A reader that meets a publish in progress spins this long before it reads the
/// transaction being published (a normal publish lasts microseconds).
pub(crate) const PUBLISH_SPIN: Duration = Duration::from_micros(20);

/// How long a reader keeps retrying when the transaction being published cannot be read
/// while the sequence stays put, before it reports that (damage, format-spec.md §8).
const OVERLAY_RETRY: Duration = Duration::from_millis(100);

/// The transaction being published (`seq` odd, `pub_start` a log position): the keys it
/// writes, which a reader answers from it, so that it reads the state after the publish
/// without waiting for the publisher (format-spec.md §8).
pub(crate) struct Overlay {
    /// The odd sequence value, `pub_start` and `next_txn` it was read under.
    seq: u64,
    start: u64,
    txn: u64,
    map: Arc<SegmentMap>,
    records: Vec<RecMeta>,
    /// `(hash_for(key, internal), record)`, sorted.
    by_hash: Vec<(u64, u32)>,
}

impl Overlay {
    fn new(seq: u64, start: u64, t: LoggedTxn) -> Self {
        let records: Vec<RecMeta> = t.records.into_iter().map(|(_, m)| m).collect();
        let mut by_hash: Vec<(u64, u32)> = records
            .iter()
            .enumerate()
            .map(|(i, m)| (index::hash_for(m.key(&t.map), m.internal), i as u32))
            .collect();
        by_hash.sort_unstable();
        Overlay {
            seq,
            start,
            txn: t.txn,
            map: t.map,
            records,
            by_hash,
        }
    }

    /// The record the transaction writes for `key` (with hash `hash`), if it writes it.
    fn get(&self, key: &[u8], hash: u64, internal: bool) -> Option<&RecMeta> {
        let from = self.by_hash.partition_point(|&(h, _)| h < hash);
        self.by_hash[from..]
            .iter()
            .take_while(|&&(h, _)| h == hash)
            .map(|&(_, i)| &self.records[i as usize])
            .find(|m| m.internal == internal && m.key(&self.map) == key)
    }

    /// Whether the transaction writes the user key `key`.
    fn writes_user_key(&self, key: &[u8]) -> bool {
        self.get(key, index::hash_key(key), false).is_some()
    }

    /// The user keys the transaction PUTs without an expiry at or before `now`, with their
    /// scan positions (format-spec.md §8.1).
    fn user_puts(&self, now: u64) -> impl Iterator<Item = (u64, &[u8])> + '_ {
        self.records
            .iter()
            .filter(move |m| {
                m.kind == KIND_PUT && !m.internal && !(m.expires_at != 0 && m.expires_at <= now)
            })
            .map(|m| {
                let key = m.key(&self.map);
                (index::scan_order(key), key)
            })
    }
}

/// The log since the old index's checkpoint, as a process reads it while the index is
/// rebuilt (format-spec.md §10.4).
struct RebuildTail {
    from: u64,
    end: u64,
    /// The manifest as read then (nothing changes it during a rebuild).
    man: Manifest,
    map: Arc<SegmentMap>,
    /// Every PUT and DEL of the tail, in log order.
    records: Vec<RecMeta>,
    /// `(hash_for(key, internal), index in records)`, sorted.
    by_hash: Vec<(u64, u32)>,
}

impl RebuildTail {
    /// The newest record the tail holds for `key` (with hash `hash`), if any.
    fn get(&self, key: &[u8], hash: u64, internal: bool) -> Option<&RecMeta> {
        let from = self.by_hash.partition_point(|&(h, _)| h < hash);
        let to = from + self.by_hash[from..].partition_point(|&(h, _)| h == hash);
        // Sorted by position within one hash: the last match is the newest.
        self.by_hash[from..to]
            .iter()
            .rev()
            .map(|&(_, i)| &self.records[i as usize])
            .find(|m| m.internal == internal && m.key(&self.map) == key)
    }
}

/// What a read section (`Shared::read_consistent`) reads: the index, and during a publish
/// the transaction being published, whose keys it answers (format-spec.md §8). Derefs to
/// the index for code that walks slots; `probe` here accepts a slot that a publish is
/// repointing.
pub(crate) struct ReadView<'a> {
    pub(crate) idx: &'a IndexMap,
    overlay: Option<&'a Overlay>,
    /// `seq` was odd: a slot may be torn by the publisher.
    publishing: bool,
    shared: &'a Shared,
    /// The index is being rebuilt and `idx` is the old one (format-spec.md §10.4): point
    /// reads answer only what the log proves, and anything else marks the view unproven.
    rebuilding: bool,
    /// Set by a read of a rebuilding view that only the rebuilt index can answer: the section
    /// is then run again once the rebuild ends, whatever `f` made of the error it got.
    unproven: std::cell::Cell<bool>,
    /// A read view (format-spec.md §8.2): point reads answer as of its txn.
    at: Option<&'a views::At<'a>>,
    /// The state read is not the view's own: point reads consult the undo ring.
    changed: bool,
}

impl std::ops::Deref for ReadView<'_> {
    type Target = IndexMap;
    fn deref(&self) -> &IndexMap {
        self.idx
    }
}

impl ReadView<'_> {
    /// A view of `idx` in a read section, not beside a rebuild.
    fn new<'a>(
        idx: &'a IndexMap,
        overlay: Option<&'a Overlay>,
        publishing: bool,
        shared: &'a Shared,
    ) -> ReadView<'a> {
        ReadView {
            idx,
            overlay,
            publishing,
            shared,
            rebuilding: false,
            unproven: std::cell::Cell::new(false),
            at: None,
            changed: false,
        }
    }

    /// For a read of a rebuilding view that needs the rebuilt index (§10.4): marks the view
    /// unproven and returns the error its reader gets meanwhile (the section then waits for
    /// the rebuild and runs again, so the error is not seen outside).
    fn unproven(&self) -> Error {
        self.unproven.set(true);
        Error::Busy {
            path: self.shared.dir.clone(),
            lock: "writer.lock",
            holder: Some("the index rebuild".into()),
        }
    }

    /// Probes the index for `hash` ([`IndexMap::probe`]); during a publish a slot that fails
    /// its check byte is accepted if the record at its position holds a key of the slot's
    /// hash (the publisher stored the new position and not yet the new tag).
    pub(crate) fn probe(
        &self,
        hash: u64,
        matches: impl FnMut(u64) -> Result<bool>,
    ) -> Result<Probe> {
        if self.publishing {
            self.idx
                .probe_during(hash, matches, |h, loc| self.shared.torn_slot(h, loc))
        } else {
            self.idx.probe(hash, matches)
        }
    }

    /// The record of the transaction being published for `key`, if it writes the key.
    fn pending(
        &self,
        key: &[u8],
        hash: u64,
        internal: bool,
    ) -> Option<(&Arc<SegmentMap>, RecMeta)> {
        let o = self.overlay?;
        o.get(key, hash, internal).map(|m| (&o.map, *m))
    }

    /// Whether this section reads for a read view (format-spec.md §8.2).
    pub(crate) fn is_view(&self) -> bool {
        self.at.is_some()
    }

    /// Whether the transaction being published writes the user key `key`.
    pub(crate) fn pending_user_key(&self, key: &[u8]) -> bool {
        self.overlay.is_some_and(|o| o.writes_user_key(key))
    }

    /// Whether the transaction being published deletes the user key `key`.
    pub(crate) fn pending_user_delete(&self, key: &[u8]) -> bool {
        self.pending(key, index::hash_key(key), false)
            .is_some_and(|(_, m)| m.kind != KIND_PUT)
    }
}

/// State shared by all handles on one directory in this process.
pub(crate) struct Shared {
    pub dir: PathBuf,
    pub opts: OpenOptions,
    /// Mode of every file this process creates in the directory (format-spec.md §2.2).
    pub(crate) mode: u32,
    open_lock: LockFile,
    shm_lock: LockFile,
    writer_lock: LockFile,
    sync_lock: LockFile,
    pub(crate) compact_lock: LockFile,
    pub shm: Shm,
    index: ArcSwapOption<IndexMap>,
    /// The transaction of the publish in progress, parsed once for every reader of this
    /// process that meets it (format-spec.md §8).
    overlay: Mutex<Option<Arc<Overlay>>>,
    /// The log since the old index's checkpoint while the index is rebuilt (format-spec.md
    /// §10.4), read once per process.
    rebuild_tail: Mutex<Option<Arc<RebuildTail>>>,
    attached: bool,
    seg_epoch: AtomicU64,
    pub segs: Segments,
    pub(crate) writer: ProcLock,
    sync_mutex: Mutex<()>,
    pub(crate) compact_mutex: Mutex<()>,
    slot: Option<usize>,
    local_reads: [AtomicU64; 3],
    poisoned: AtomicBool,
    flusher_stop: Arc<AtomicBool>,
    /// The thread that compacts automatically, woken by commits that pass the thresholds.
    pub(crate) compactor: OnceLock<std::thread::Thread>,
    /// Opened with `OpenOptions::read_only`: a snapshot in private memory, no locks held,
    /// every write refused (format-spec.md §6.4, [`readonly`]).
    pub(crate) read_only: bool,
    /// A read-only handle's manifest, read at its open: the segments its snapshot reads.
    snapshot_manifest: Option<Manifest>,
    /// The process that opened the handle, and its fork generation then: in a child forked
    /// since, the handle's locks and process slot are the parent's ([`Shared::check_fork`]).
    pid: u32,
    fork_gen: u64,
    /// `ziggy.pubsub`, opened at the first publish or subscribe (format-spec.md §5.4).
    pub(crate) pubsub: Mutex<Option<Arc<crate::engine::pubsub::PubSub>>>,
    /// This process's waiters on the wake table (format-spec.md §9.6).
    pub(crate) wake: wake::Local,
    /// `ziggy.views`, opened at the first read view or the first publish beside one
    /// (format-spec.md §8.2).
    pub(crate) views: views::Local,
}

/// The engine of each directory open in this process, read-write and read-only apart.
type Registry = HashMap<(PathBuf, bool), Weak<Handle>>;

static REGISTRY: OnceLock<Mutex<Registry>> = OnceLock::new();

/// What the handles on one directory in one process share: the engine and its background
/// threads. The threads hold only weak references; dropping the last handle stops and joins
/// them, so the engine detaches (and checkpoints) before `drop` returns.
pub(crate) struct Handle {
    pub(crate) shared: Arc<Shared>,
    /// In a mutex so that a `Db` stays unwind-safe.
    workers: Mutex<Vec<std::thread::JoinHandle<()>>>,
}

impl Drop for Handle {
    fn drop(&mut self) {
        if self.shared.forked() {
            // The threads were not forked: nothing to stop or join.
            std::mem::forget(std::mem::take(
                &mut *self
                    .workers
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner),
            ));
            return;
        }
        self.shared.flusher_stop.store(true, Ordering::Relaxed);
        let workers = std::mem::take(
            &mut *self
                .workers
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner),
        );
        for w in &workers {
            w.thread().unpark();
        }
        for w in workers {
            let _ = w.join();
        }
    }
}

/// Runs `work` on the engine every `every` until the handle stops it.
pub(crate) fn spawn_worker(
    s: &Arc<Shared>,
    name: &str,
    every: Duration,
    work: impl Fn(&Arc<Shared>) + Send + 'static,
) -> Option<std::thread::JoinHandle<()>> {
    let weak = Arc::downgrade(s);
    std::thread::Builder::new()
        .name(name.into())
        .spawn(move || loop {
            std::thread::park_timeout(every);
            let Some(s) = weak.upgrade() else { return };
            if s.flusher_stop.load(Ordering::Relaxed) {
                return;
            }
            work(&s);
        })
        .ok()
}

/// Holds the writer role (in-process lock plus the `writer.lock` flock).
pub(crate) struct WriterGuard {
    shared: Arc<Shared>,
}

impl Drop for WriterGuard {
    fn drop(&mut self) {
        if self.shared.forked() {
            // The flock is on a file the parent shares: unlocking it here would release the
            // parent's lock.
            return;
        }
        self.shared.writer_lock.unlock();
        self.shared.writer.release();
    }
}

impl WriterGuard {
    pub(crate) fn shared(&self) -> &Arc<Shared> {
        &self.shared
    }
}

impl Shared {
    /// Log bytes published but not yet known to be durable.
    pub(crate) fn unsynced_bytes(&self) -> u64 {
        let (log, durable) = (self.shm.get(W_LOG_POS), self.shm.get(W_DURABLE_POS));
        if pos_seg(log) == pos_seg(durable) {
            u64::from(pos_off(log).saturating_sub(pos_off(durable)))
        } else {
            u64::from(pos_off(log))
        }
    }

    /// (reads, hits, misses) over all processes, live and exited.
    pub(crate) fn read_counters(&self) -> (u64, u64, u64) {
        let mut t = [
            self.shm.get(W_RETIRED_READS),
            self.shm.get(W_RETIRED_HITS),
            self.shm.get(W_RETIRED_MISSES),
        ];
        for slot in 0..PROC_SLOTS {
            if self.shm.proc_word(slot, P_PID).load(Ordering::Relaxed) != 0 {
                t[0] += self.shm.proc_word(slot, P_READS).load(Ordering::Relaxed);
                t[1] += self.shm.proc_word(slot, P_HITS).load(Ordering::Relaxed);
                t[2] += self.shm.proc_word(slot, P_MISSES).load(Ordering::Relaxed);
            }
        }
        for (i, l) in self.local_reads.iter().enumerate() {
            t[i] += l.load(Ordering::Relaxed);
        }
        (t[0], t[1], t[2])
    }

    pub(crate) fn count_read(&self, hit: bool) {
        let words = match self.slot {
            Some(slot) => [
                self.shm.proc_word(slot, P_READS),
                self.shm
                    .proc_word(slot, if hit { P_HITS } else { P_MISSES }),
            ],
            None => [
                &self.local_reads[0],
                &self.local_reads[if hit { 1 } else { 2 }],
            ],
        };
        for w in words {
            w.fetch_add(1, Ordering::Relaxed);
        }
    }

    // ----- read path -------------------------------------------------------------------

    /// The index of the current generation, mapping a new one if a writer swapped it.
    pub(crate) fn current_index(&self) -> Result<Arc<IndexMap>> {
        let gen = self.shm.get(W_INDEX_GEN);
        if let Some(cur) = &*self.index.load() {
            if cur.gen == gen {
                return Ok(Arc::clone(cur));
            }
        }
        let epoch = self.shm.get(W_SEG_EPOCH);
        if self.seg_epoch.swap(epoch, Ordering::Relaxed) != epoch {
            self.segs.prune();
        }
        let idx = Arc::new(IndexMap::open(&self.dir, gen)?);
        self.index.store(Some(Arc::clone(&idx)));
        Ok(idx)
    }

    /// Probes for `key` in the current state, without validation.
    pub(crate) fn probe_key(
        &self,
        idx: &ReadView<'_>,
        key: &[u8],
        hash: u64,
        internal: bool,
    ) -> Result<Option<Hit>> {
        let hit = self.probe_current(idx, key, hash, internal)?;
        match idx.at {
            Some(at) if idx.changed => at.resolve(self, key, hash, internal, hit),
            _ => Ok(hit),
        }
    }

    /// [`Self::probe_key`] in the state the section reads, whatever view it is for.
    fn probe_current(
        &self,
        idx: &ReadView<'_>,
        key: &[u8],
        hash: u64,
        internal: bool,
    ) -> Result<Option<Hit>> {
        if idx.rebuilding {
            return self
                .proven_while_rebuilding(key, hash, internal)
                .ok_or_else(|| idx.unproven());
        }
        if let Some((map, meta)) = idx.pending(key, hash, internal) {
            return Ok((meta.kind == KIND_PUT).then(|| Hit {
                map: Arc::clone(map),
                meta,
            }));
        }
        let mut found = None;
        // A slot's tag is the key's full 64-bit hash, so the first candidate is almost always
        // the key: read it whole (one map lookup; large records are checked once) and compare.
        let probe = idx.probe(hash, |loc| {
            let (map, meta) = self.segs.record_at(loc)?;
            if meta.internal == internal && meta.key(&map) == key {
                found = Some(Hit { map, meta });
                Ok(true)
            } else {
                Ok(false)
            }
        })?;
        Ok(match probe {
            Probe::Found { .. } => found,
            Probe::Absent { .. } => None,
        })
    }

    /// Runs `f` inside a sequence-lock read section and retries until no commit was
    /// published meanwhile, so `f` sees exactly one committed state. Never waits for a
    /// publisher: during a publish of a logged transaction `f` reads the state after it
    /// (format-spec.md §8).
    pub(crate) fn read_consistent<T>(
        &self,
        f: impl FnMut(&ReadView<'_>) -> Result<T>,
    ) -> Result<T> {
        self.read_section(false, None, f)
    }

    /// As [`Self::read_consistent`] for `f` that reads only through [`Self::probe_key`] or
    /// [`Self::keys_in`]: beside a rebuild it first runs on the old index, where point reads
    /// answer what the log proves (format-spec.md §10.4), and waits for the rebuilt index
    /// only if one of them cannot be proved (or `f` scans).
    pub(crate) fn read_points<T>(&self, f: impl FnMut(&ReadView<'_>) -> Result<T>) -> Result<T> {
        self.read_section(true, None, f)
    }

    /// As [`Self::read_points`] for the read view `at`: point reads answer as of its txn
    /// (format-spec.md §8.2).
    pub(crate) fn read_points_at<T>(
        &self,
        at: &views::At<'_>,
        f: impl FnMut(&ReadView<'_>) -> Result<T>,
    ) -> Result<T> {
        self.read_section(true, Some(at), f)
    }

    fn read_section<T>(
        &self,
        points: bool,
        at: Option<&views::At<'_>>,
        mut f: impl FnMut(&ReadView<'_>) -> Result<T>,
    ) -> Result<T> {
        self.check_fork()?;
        if self.shm.get(W_READY) == SHM_READY_REBUILDING {
            if points {
                if let Some(r) = self.read_beside_rebuild(&mut f) {
                    return r;
                }
            }
            // Only what the log proves is answered from the old index while it is rebuilt
            // (§10.4); the rest waits for the rebuilt one, or rebuilds it if its rebuilder
            // died.
            if self.rebuilding() {
                drop(self.writer_section(self.opts.lock_timeout)?);
            }
        }
        let seq = self.shm.w(W_SEQ);
        let mut spun: Option<Instant> = None;
        let mut unreadable: Option<Instant> = None;
        loop {
            let s1 = seq.load(Ordering::Acquire);
            let publishing = s1 & 1 == 1;
            let mut overlay = None;
            if publishing {
                if !self.overlay_cached(s1) {
                    let t0 = *spun.get_or_insert_with(Instant::now);
                    if t0.elapsed() < PUBLISH_SPIN {
                        std::hint::spin_loop();
                        continue;
                    }
                }
                match self.publish_overlay(s1) {
                    Ok(o) => overlay = o,
                    Err(e) => {
                        // The publish may have ended (or a repair moved it on) meanwhile.
                        if seq.load(Ordering::Acquire) == s1 {
                            let t0 = *unreadable.get_or_insert_with(Instant::now);
                            if t0.elapsed() >= OVERLAY_RETRY {
                                return Err(e);
                            }
                            std::thread::yield_now();
                        }
                        continue;
                    }
                }
            }
            // A view older than the transaction being published reads the state before it
            // while its old slot values are not saved yet: no slot of it has changed then
            // (format-spec.md §8.2).
            let before = at.is_some_and(|a| {
                overlay.as_ref().is_some_and(|o| o.txn > a.txn) && !views::undo_saved(self, s1)
            });
            if before {
                overlay = None;
            }
            let changed = at
                .is_some_and(|a| publishing || self.shm.get(W_NEXT_TXN).saturating_sub(1) != a.txn);
            let pub_view = publishing && !before;
            let guard = self.index.load();
            let r = match &*guard {
                Some(idx) if idx.gen == self.shm.get(W_INDEX_GEN) => f(&ReadView {
                    at,
                    changed,
                    ..ReadView::new(idx, overlay.as_deref(), pub_view, self)
                }),
                _ => {
                    drop(guard);
                    self.current_index().and_then(|idx| {
                        f(&ReadView {
                            at,
                            changed,
                            ..ReadView::new(&idx, overlay.as_deref(), pub_view, self)
                        })
                    })
                }
            };
            fence(Ordering::Acquire);
            if seq.load(Ordering::Relaxed) == s1 && !(before && views::undo_saved(self, s1)) {
                return r;
            }
        }
    }

    /// Runs `f` once on the old index while the state says it is rebuilt (format-spec.md
    /// §10.4), point reads answering what the log proves: `None` if one could not be proved,
    /// `f` scanned, or the rebuild ended meanwhile (the caller then reads the rebuilt index).
    /// Nobody commits during a rebuild, so a run that found the state unchanged around it
    /// read one state.
    fn read_beside_rebuild<T>(
        &self,
        f: &mut impl FnMut(&ReadView<'_>) -> Result<T>,
    ) -> Option<Result<T>> {
        let seq = self.shm.w(W_SEQ);
        let s1 = seq.load(Ordering::Acquire);
        if s1 & 1 == 1 || !self.rebuilding() {
            return None;
        }
        let idx = self.current_index().ok()?;
        let view = ReadView {
            rebuilding: true,
            ..ReadView::new(&idx, None, false, self)
        };
        let r = f(&view);
        fence(Ordering::Acquire);
        let same = seq.load(Ordering::Relaxed) == s1 && self.rebuilding();
        (same && !view.unproven.get()).then_some(r)
    }

    /// Whether the state says the index is being rebuilt beside this process (§10.4).
    pub(crate) fn rebuilding(&self) -> bool {
        self.shm.get(W_READY) == SHM_READY_REBUILDING
    }

    /// The process that says in word 80 that it rebuilds the index, while the state says it
    /// is rebuilt (§10.4); `None` otherwise, or once it died without a taker yet.
    pub(crate) fn rebuilder(&self) -> Option<u32> {
        let w = self.shm.get(W_OPENER);
        let pid = w as u32;
        (self.rebuilding() && w >> 32 == OPENER_RECOVERING && process_progress(pid).is_some())
            .then_some(pid)
    }

    /// A point read while the index is rebuilt (format-spec.md §10.4): `Some` with the
    /// answer when the log since the old index's checkpoint and the old index prove it,
    /// `None` when only the rebuilt index can tell (or the state is not rebuilding).
    fn read_while_rebuilding(&self, key: &[u8], hash: u64, internal: bool) -> Option<Option<Hit>> {
        let seq = self.shm.w(W_SEQ);
        let s1 = seq.load(Ordering::Acquire);
        if s1 & 1 == 1 || self.shm.get(W_READY) != SHM_READY_REBUILDING {
            return None;
        }
        let answer = self.proven_while_rebuilding(key, hash, internal);
        fence(Ordering::Acquire);
        let same =
            seq.load(Ordering::Relaxed) == s1 && self.shm.get(W_READY) == SHM_READY_REBUILDING;
        answer.filter(|_| same)
    }

    /// The answer for `key` that the log tail and the old index prove (§10.4), if any.
    fn proven_while_rebuilding(
        &self,
        key: &[u8],
        hash: u64,
        internal: bool,
    ) -> Option<Option<Hit>> {
        let (from, end) = (self.shm.get(W_REBUILD_FROM), self.shm.get(W_LOG_POS));
        let idx = self.current_index().ok()?;
        // Only an old index checkpointed at `rebuild_from` proves anything; the empty one of
        // a rebuild without a usable index (never checkpointed) proves nothing.
        if from == 0 || idx.h(index::H_CKPT_POS).load(Ordering::Relaxed) != from {
            return None;
        }
        let tail = self.rebuild_tail(from, end).ok()?;
        if let Some(meta) = tail.get(key, hash, internal) {
            return Some((meta.kind == KIND_PUT).then(|| Hit {
                map: Arc::clone(&tail.map),
                meta: *meta,
            }));
        }
        // `Some(true)` for a position before the checkpoint, `Some(false)` for one in the
        // tail; `None` for one the log on disk does not hold (a write lost in a crash) or in a
        // segment the manifest does not list.
        let settled = |loc: u64| {
            let seg = pos_seg(loc);
            if seg == tail.man.active {
                (loc < end).then_some(loc < from)
            } else {
                tail.man
                    .segments
                    .iter()
                    .any(|&(id, _)| id == seg)
                    .then_some(true)
            }
        };
        let h = index::slot_hash(hash);
        for (tag, loc) in idx.probe_path(hash) {
            if tag == index::TAG_DELETED {
                // A key deleted here (the slot keeps the position it pointed at): if it may
                // be this one, whether the delete reached the log only the rebuild can tell.
                settled(loc)?;
                if self.segs.key_at(loc, key, internal).ok()?.holds {
                    return None;
                }
                continue;
            }
            if !index::slot_intact(tag, loc) {
                return None;
            }
            let before = settled(loc)?;
            if tag & index::TAG_HASH_BITS == h {
                let (map, meta) = self.segs.record_at(loc).ok()?;
                if meta.internal == internal && meta.key(&map) == key {
                    // A key the tail does not write is proved by a slot from before the
                    // checkpoint only.
                    return before.then_some((meta.kind == KIND_PUT).then_some(Hit { map, meta }));
                }
            }
        }
        Some(None)
    }

    /// The newest record of each key in the log from `from` to `end` (in one segment), read
    /// once per process while the index is rebuilt (§10.4).
    fn rebuild_tail(&self, from: u64, end: u64) -> Result<Arc<RebuildTail>> {
        let mut cache = self
            .rebuild_tail
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(t) = cache.as_ref().filter(|t| t.from == from && t.end == end) {
            return Ok(Arc::clone(t));
        }
        let man = self.read_manifest()?;
        let (seg, stop) = (pos_seg(end), pos_off(end) as usize);
        if pos_seg(from) != seg || seg != man.active || from > end {
            return Err(Error::CorruptIndex {
                file: self.dir.join("ziggy.shm"),
                reason: "the log being rebuilt from does not end in the active segment",
            });
        }
        let map = self.segs.map(seg, stop)?;
        let mut records = Vec::new();
        scan_log(
            map.slice(0, stop).unwrap_or(&[]),
            seg,
            pos_off(from) as usize,
            |_, recs| {
                // Bounded by the tail, at most a segment; a failure is an error (the read
                // then waits for the rebuilt index), never an abort.
                records
                    .try_reserve(recs.len())
                    .map_err(|_| Error::OutOfMemory {
                        bytes: recs.len() * std::mem::size_of::<RecMeta>(),
                    })?;
                records.extend(recs.iter().map(|&(_, meta)| meta));
                Ok(())
            },
        )?;
        let mut by_hash: Vec<(u64, u32)> = crate::error::try_vec(records.len())?;
        by_hash.extend(
            records
                .iter()
                .enumerate()
                .map(|(i, m)| (index::hash_for(m.key(&map), m.internal), i as u32)),
        );
        by_hash.sort_unstable();
        let t = Arc::new(RebuildTail {
            from,
            end,
            man,
            map,
            records,
            by_hash,
        });
        *cache = Some(Arc::clone(&t));
        Ok(t)
    }

    /// Whether this process already read the transaction of the publish at odd `seq`.
    fn overlay_cached(&self, seq: u64) -> bool {
        self.overlay
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .as_ref()
            .is_some_and(|o| o.seq == seq)
    }

    /// The transaction being published under the odd sequence value `seq`, read once per
    /// process and publish; `None` for a publish that is not a logged transaction, whose
    /// every intermediate state is valid (§10.1). An error means the transaction at
    /// `pub_start` is not the one being published, which the caller confirms is not just a
    /// publish that ended meanwhile.
    fn publish_overlay(&self, seq: u64) -> Result<Option<Arc<Overlay>>> {
        let start = self.shm.get(W_PUB_START);
        if start == NO_TXN {
            return Ok(None);
        }
        let next = self.shm.get(W_NEXT_TXN);
        let mut cache = self
            .overlay
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(o) = cache
            .as_ref()
            .filter(|o| o.seq == seq && o.start == start && o.txn == next)
        {
            return Ok(Some(Arc::clone(o)));
        }
        let unreadable = || Error::CorruptWal {
            file: self.segs.path(pos_seg(start)),
            offset: u64::from(pos_off(start)),
            reason: "the transaction being published cannot be read",
        };
        match self.read_txn(start) {
            Ok(TxnRead::Txn(t)) if t.txn == next => {
                let o = Arc::new(Overlay::new(seq, start, t));
                *cache = Some(Arc::clone(&o));
                Ok(Some(o))
            }
            // `next_txn` moves on only once every record is applied (by the publisher, or by
            // a repair after it died): the index alone is the state after the transaction.
            Ok(TxnRead::Txn(t)) if t.txn.wrapping_add(1) == next => Ok(None),
            Ok(_) => Err(unreadable()),
            Err(e) => Err(e),
        }
    }

    /// Whether a live slot with slot hash `h` that fails its check byte is one a publish is
    /// repointing: the record at `loc` holds a key of that slot hash (the proof §10.1 step 2
    /// uses to renew such a slot).
    fn torn_slot(&self, h: u64, loc: u64) -> bool {
        self.segs.record_at(loc).is_ok_and(|(map, meta)| {
            meta.kind == KIND_PUT
                && index::slot_hash(index::hash_for(meta.key(&map), meta.internal)) == h
        })
    }

    /// Reads `key` from the committed state.
    pub(crate) fn lookup(&self, key: &[u8]) -> Result<Option<Hit>> {
        let hash = index::hash_key(key);
        let r = match self.read_while_rebuilding(key, hash, false) {
            Some(r) => r,
            None => self.read_consistent(|idx| self.probe_key(idx, key, hash, false))?,
        };
        let r = r.filter(|h| h.meta.kind == KIND_PUT && !h.expired());
        self.count_read(r.is_some());
        Ok(r)
    }

    /// Reads `key` including an expired record (no read counted).
    pub(crate) fn lookup_raw(&self, key: &[u8]) -> Result<Option<Hit>> {
        let hash = index::hash_key(key);
        let r = match self.read_while_rebuilding(key, hash, false) {
            Some(r) => r,
            None => self.read_consistent(|idx| self.probe_key(idx, key, hash, false))?,
        };
        Ok(r.filter(|h| h.meta.kind == KIND_PUT))
    }

    /// Whether the user key `key` holds an unexpired value in the committed state, from the
    /// record's header alone (no value is read or checked).
    pub(crate) fn exists_committed(&self, key: &[u8]) -> Result<bool> {
        let hash = index::hash_key(key);
        let head = self.read_consistent(|idx| {
            if let Some((_, m)) = idx.pending(key, hash, false) {
                return Ok(Some((m.kind, m.expires_at)));
            }
            let mut found = None;
            idx.probe(hash, |loc| {
                let head = self.segs.key_at(loc, key, false)?;
                if head.holds {
                    found = Some((head.kind, head.expires_at));
                }
                Ok(head.holds)
            })?;
            Ok(found)
        })?;
        Ok(head.is_some_and(|(kind, at)| kind == KIND_PUT && (at == 0 || at > now_ms())))
    }

    /// Reads an internal key (a collection page).
    pub(crate) fn lookup_internal(&self, key: &[u8]) -> Result<Option<Hit>> {
        let hash = index::hash_for(key, true);
        let r = match self.read_while_rebuilding(key, hash, true) {
            Some(r) => r,
            None => self.read_consistent(|idx| self.probe_key(idx, key, hash, true))?,
        };
        Ok(r.filter(|h| h.meta.kind == KIND_PUT))
    }

    /// Whether the record at `loc` holds `key` in the given namespace.
    pub(crate) fn record_holds(&self, loc: u64, key: &[u8], internal: bool) -> Result<bool> {
        Ok(self.segs.key_at(loc, key, internal)?.holds)
    }

    /// Reads several keys from one committed state: hands `f`, key by key in order, the
    /// type tag and value of each key's record, `None` for a key that is absent or expired.
    /// The records are found in one read section and kept as a few words each (not a
    /// [`Hit`] each), so that a read of many keys costs little more than the keys.
    pub(crate) fn lookup_many<'k, K>(
        &self,
        keys: K,
        mut f: impl FnMut(Option<(u8, &[u8])>) -> Result<()>,
    ) -> Result<()>
    where
        K: ExactSizeIterator<Item = &'k [u8]> + Clone,
    {
        /// Where a found value is, in 12 bytes: `map_vtype` holds the index of its map among
        /// those held (`NONE`: not found) above its type tag's 8 bits.
        #[derive(Clone, Copy)]
        struct Found {
            map_vtype: u32,
            start: u32,
            len: u32,
        }
        const NONE: u32 = u32::MAX >> 8;
        let none = Found {
            map_vtype: NONE << 8,
            start: 0,
            len: 0,
        };
        let mut maps: Vec<Arc<SegmentMap>> = Vec::new();
        // Each map's place in `maps`, by its address.
        let mut map_at: HashMap<usize, usize> = HashMap::new();
        let mut found: Vec<Found> = crate::error::try_vec(keys.len())?;
        self.read_points(|idx| {
            maps.clear();
            map_at.clear();
            found.clear();
            for k in keys.clone() {
                let hit = self.probe_key(idx, k, index::hash_key(k), false)?;
                let Some(h) = hit.filter(|h| h.meta.kind == KIND_PUT && !h.expired()) else {
                    found.push(none);
                    continue;
                };
                // The records are in a few segments: each map is held once.
                let map = *map_at
                    .entry(Arc::as_ptr(&h.map) as usize)
                    .or_insert_with(|| {
                        maps.push(h.map);
                        maps.len() - 1
                    });
                let beyond = || Error::InvalidArgument("a value lies beyond 4 GiB".into());
                let map = u32::try_from(map)
                    .ok()
                    .filter(|&m| m < NONE)
                    .ok_or_else(|| Error::InvalidArgument("values in too many segments".into()))?;
                found.push(Found {
                    map_vtype: map << 8 | u32::from(h.meta.vtype),
                    start: u32::try_from(h.meta.value_start).map_err(|_| beyond())?,
                    len: u32::try_from(h.meta.value_len).map_err(|_| beyond())?,
                });
            }
            Ok(())
        })?;
        for v in found {
            let value = maps.get((v.map_vtype >> 8) as usize).map(|m| {
                let value = m.slice(v.start as usize, v.len as usize).unwrap_or(&[]);
                (v.map_vtype as u8, value)
            });
            self.count_read(value.is_some());
            f(value)?;
        }
        Ok(())
    }

    /// All live, unexpired keys.
    /// One page of a scan in hash order (format-spec.md §8.1): the unexpired user keys that
    /// `keep` accepts, from scan position `from` on, until `count` were found at a home
    /// slot's end or about `max_visit` slots were looked at. Returns them and the position
    /// where the next page starts, `None` at the end.
    pub(crate) fn scan_keys(
        &self,
        from: u64,
        count: usize,
        max_visit: u64,
        keep: impl Fn(&[u8]) -> bool,
    ) -> Result<(Vec<Vec<u8>>, Option<u64>)> {
        let now = now_ms();
        self.read_consistent(|idx| {
            if idx.rebuilding {
                return Err(idx.unproven());
            }
            let mut out: Vec<Vec<u8>> = Vec::new();
            let torn = |h, loc| idx.publishing && self.torn_slot(h, loc);
            let next = idx.scan_ordered(from, max_visit, torn, |order, loc| {
                if order >= from {
                    if let Some(key) = self.segs.user_key_at(loc, now)? {
                        // A key of the transaction being published is taken from it below.
                        if keep(&key) && !idx.pending_user_key(&key) {
                            out.push(key);
                        }
                    }
                }
                Ok(out.len() < count)
            })?;
            if let Some(o) = idx.overlay {
                // The page covers scan positions [from, next): add the keys the transaction
                // puts there, whether or not their slots exist yet (format-spec.md §8.1).
                let end = next.unwrap_or(u64::MAX);
                for (order, key) in o.user_puts(now) {
                    let inside = order >= from && (order < end || next.is_none());
                    if inside && keep(key) {
                        out.push(key.to_vec());
                    }
                }
            }
            Ok((out, next))
        })
    }

    /// Whether a transaction published after log position `mark` wrote or deleted the user
    /// key `key`: read from the log itself, up to the end published now. `None` when that
    /// can no longer be told: the log since `mark` was compacted away, is damaged, or is
    /// longer than [`WATCH_LOG_LIMIT`].
    pub(crate) fn key_written_since(&self, key: &[u8], internal: bool, mark: u64) -> Option<bool> {
        let end = self.shm.get(W_LOG_POS);
        let man = self.read_manifest().ok()?;
        let is_log = |id: u32| man.segments.iter().any(|&(s, k)| s == id && k == SEG_LOG);
        let mut at = mark;
        let mut read = 0u64;
        while at != end {
            let seg = pos_seg(at);
            if !is_log(seg) || read > WATCH_LOG_LIMIT {
                return None;
            }
            match self.read_txn(at).ok()? {
                TxnRead::Txn(t) => {
                    if t.records
                        .iter()
                        .any(|(_, m)| m.internal == internal && m.key(&t.map) == key)
                    {
                        return Some(true);
                    }
                    read += u64::from(t.end.saturating_sub(pos_off(at)));
                    at = pos(seg, t.end);
                }
                TxnRead::Seal => {
                    let next = man
                        .segments
                        .iter()
                        .filter(|&&(id, k)| k == SEG_LOG && id > seg)
                        .map(|&(id, _)| id)
                        .min()?;
                    at = pos(next, SEGMENT_HEADER_LEN as u32);
                }
                TxnRead::End => return None,
            }
        }
        Some(false)
    }

    pub(crate) fn all_keys(&self) -> Result<Vec<Vec<u8>>> {
        self.read_consistent(|idx| self.keys_in(idx))
    }

    /// The live, unexpired user keys of one read section's view.
    pub(crate) fn keys_in(&self, idx: &ReadView<'_>) -> Result<Vec<Vec<u8>>> {
        // A scan needs every key: only the rebuilt index has them (§10.4).
        if idx.rebuilding {
            return Err(idx.unproven());
        }
        let now = now_ms();
        {
            let mut out = Vec::with_capacity(idx.used().min(idx.cap) as usize);
            for (_, _, loc) in idx.live_slots() {
                let (map, meta) = self.segs.record_at(loc)?;
                if meta.kind == KIND_PUT
                    && !meta.internal
                    && !(meta.expires_at != 0 && meta.expires_at <= now)
                {
                    // A key of the transaction being published is taken from it below.
                    if !idx.pending_user_key(meta.key(&map)) {
                        out.push(meta.key(&map).to_vec());
                    }
                }
            }
            // During a publish: the transaction's keys as it leaves them (format-spec.md §8).
            if let Some(o) = idx.overlay {
                out.extend(o.user_puts(now).map(|(_, k)| k.to_vec()));
            }
            Ok(out)
        }
    }

    /// The live keys of the internal namespace that start with `prefix` (the keys of
    /// numbered databases, format-spec.md §4.5), unexpired unless `expired`, in one
    /// committed state: each with the prefix cut off, and its expiry time (0: none).
    pub(crate) fn prefixed_keys(
        &self,
        prefix: &[u8],
        expired: bool,
    ) -> Result<Vec<(Vec<u8>, u64)>> {
        self.read_consistent(|idx| {
            if idx.rebuilding {
                return Err(idx.unproven());
            }
            let now = now_ms();
            let live = |m: &RecMeta, key: &[u8]| {
                m.kind == KIND_PUT
                    && m.internal
                    && key.starts_with(prefix)
                    && (expired || !(m.expires_at != 0 && m.expires_at <= now))
            };
            let mut out = Vec::new();
            for (_, _, loc) in idx.live_slots() {
                let (map, meta) = self.segs.record_at(loc)?;
                let key = meta.key(&map);
                // A key of the transaction being published is taken from it below.
                if live(&meta, key) && idx.pending(key, index::hash_for(key, true), true).is_none()
                {
                    out.push((key[prefix.len()..].to_vec(), meta.expires_at));
                }
            }
            if let Some(o) = idx.overlay {
                for m in &o.records {
                    let key = m.key(&o.map);
                    if live(m, key) {
                        out.push((key[prefix.len()..].to_vec(), m.expires_at));
                    }
                }
            }
            Ok(out)
        })
    }

    // ----- writer role -----------------------------------------------------------------

    fn lock_writer(&self, timeout: Option<Duration>) -> Result<()> {
        self.lock_writer_only(timeout)?;
        if let Err(e) = self.repair() {
            self.writer_lock.unlock();
            self.writer.release();
            return Err(e);
        }
        Ok(())
    }

    /// Takes the writer role without repairing. While the state says the index is being
    /// rebuilt, a wait for the rebuilder goes on past `timeout` as a wait for an opener does
    /// (format-spec.md §6.5, §10.4): while it runs and makes progress.
    fn lock_writer_only(&self, timeout: Option<Duration>) -> Result<()> {
        self.check_fork()?;
        self.writable()?;
        match self.writer.acquire(timeout) {
            Ok(()) => {}
            Err(crate::os::lock::AcquireError::TimedOut) => {
                return Err(Error::Busy {
                    path: self.dir.clone(),
                    lock: "writer.lock",
                    holder: Some(format!(
                        "another write transaction of this process ({}), perhaps one this \
                         thread began and has not committed or dropped",
                        std::process::id()
                    )),
                })
            }
            Err(crate::os::lock::AcquireError::Reentrant) => {
                return Err(Error::TxnActive {
                    path: self.dir.clone(),
                })
            }
        }
        // The rebuilder and its CPU time as the wait starts, to tell progress at its end. It
        // is taken from word 80, not from `/proc/locks`, which can miss a holder's line.
        let mut rebuilding = self.rebuilding();
        let mut seen = self.rebuilder_progress();
        loop {
            // Fair between processes: a writer that has waited long claims the lock in
            // `ziggy.shm`, and the others let it have it (format-spec.md §6.6).
            let claim = self.shm.w(W_LOCK_CLAIM);
            let queue = crate::os::lock::queue::Queue {
                next: self.shm.w(W_LOCK_TICKET),
                procs: &self.shm.map.words()[PROC_BASE..],
                slot: self.slot,
                slot_words: PROC_WORDS,
                pid_word: crate::format::shm::P_PID,
                ticket_word: crate::format::shm::P_TICKET,
            };
            match self
                .writer_lock
                .lock_exclusive_fair(timeout, &self.dir, claim, queue)
            {
                Ok(()) => return Ok(()),
                Err(e @ Error::Busy { .. })
                    if rebuilding && timeout.is_some_and(|t| !t.is_zero()) =>
                {
                    if !self.rebuilding() {
                        // It ended during this wait: the rebuilder lets go of the lock next.
                        rebuilding = false;
                        continue;
                    }
                    let now = self.rebuilder_progress();
                    let moved = match (seen, now) {
                        (Some((p0, c0)), Some((p1, c1))) => p0 != p1 || c1 > c0,
                        (None, Some(_)) => true,
                        _ => false,
                    };
                    seen = now;
                    if !moved {
                        self.writer.release();
                        return Err(self.while_rebuilding(e));
                    }
                }
                Err(e) => {
                    self.writer.release();
                    return Err(e);
                }
            }
        }
    }

    /// The pid and CPU time of the process that says in word 80 that it is recovering (a
    /// rebuild, §10.4), if it runs (not stopped, not gone).
    fn rebuilder_progress(&self) -> Option<(u32, u64)> {
        let w = self.shm.get(W_OPENER);
        if w >> 32 != OPENER_RECOVERING {
            return None;
        }
        let pid = w as u32;
        process_progress(pid)
            .filter(|&(stopped, _)| !stopped)
            .map(|(_, cpu)| (pid, cpu))
    }

    /// A `Busy` for the writer lock during a rebuild, saying so if its holder is the
    /// rebuilder.
    fn while_rebuilding(&self, e: Error) -> Error {
        match e {
            Error::Busy {
                path,
                lock,
                holder: Some(h),
            } => {
                let doing = holder_pid(&h).and_then(|pid| opener_phase(&self.dir, pid));
                Error::Busy {
                    path,
                    lock,
                    holder: Some(match doing {
                        Some(doing) => format!("{h}, while {doing}"),
                        None => h,
                    }),
                }
            }
            e => e,
        }
    }

    /// Takes the writer role (waiting at most `timeout`) and repairs what a writer that died
    /// left behind.
    pub(crate) fn writer_section(
        self: &Shared,
        timeout: Option<Duration>,
    ) -> Result<WriterGuardLocal<'_>> {
        self.lock_writer(timeout)?;
        Ok(WriterGuardLocal { shared: self })
    }

    pub(crate) fn begin_writer(self: &Arc<Self>, timeout: Option<Duration>) -> Result<WriterGuard> {
        self.lock_writer(timeout)?;
        Ok(WriterGuard {
            shared: Arc::clone(self),
        })
    }

    /// Finishes a publish whose writer died with the sequence odd.
    fn finish_publish(&self, seq: u64) -> Result<()> {
        let start = self.shm.get(W_PUB_START);
        // A slot the dead writer was repointing may hold its new position under the old
        // check byte (§4.2): renew those, proved by the key at the new position.
        let idx = self.current_index()?;
        idx.renew_torn_slots(|loc| {
            let (map, meta) = self.segs.record_at(loc).ok()?;
            (meta.kind == KIND_PUT)
                .then(|| index::slot_hash(index::hash_for(meta.key(&map), meta.internal)))
        });
        if start != NO_TXN {
            let next = self.shm.get(W_NEXT_TXN);
            match self.read_txn(start)? {
                TxnRead::Txn(t) if t.txn == next => {
                    // The dead writer saved the old slot values before it changed any slot,
                    // or a view may not have them yet (format-spec.md §8.2).
                    if !views::undo_saved(self, seq) {
                        self.save_undo(&idx, &t.map, t.records.iter().copied(), seq, t.txn);
                    }
                    for &(p, meta) in &t.records {
                        self.apply_record(&idx, &t.map, p, &meta)?;
                    }
                    // The dead writer may have changed a slot but not yet the counters that
                    // go with it; applying the record again sees the slot done and skips
                    // them. Count again from the index (§10.1).
                    self.recount(&idx)?;
                    self.shm.set(W_LOG_POS, pos(pos_seg(start), t.end));
                    self.shm.set(W_NEXT_TXN, next + 1);
                }
                TxnRead::Txn(t) if t.txn + 1 == next => {}
                _ => {
                    return Err(Error::CorruptWal {
                        file: self.segs.path(pos_seg(start)),
                        offset: u64::from(pos_off(start)),
                        reason: "transaction being published when its writer died cannot be read",
                    })
                }
            }
        } else {
            // A compaction's relocation (§11 step 4) moves keys to shorter copies and lowers
            // the live byte count in the same section: count again from the index.
            self.recount(&idx)?;
        }
        // Wrapping: a damaged shared state may hold any odd value, u64::MAX included.
        self.shm
            .w(W_SEQ)
            .store(seq.wrapping_add(1), Ordering::Release);
        Ok(())
    }

    /// Sets the index header's slot counts, and the key, live-byte, per-type and expiry
    /// counters, from the index, reading each live slot's record header. Writer lock held.
    fn recount(&self, idx: &IndexMap) -> Result<()> {
        idx.recount_slots();
        let (mut keys, mut live, mut expiring) = (0u64, 0u64, 0u64);
        let mut by_type = [0u64; TYPE_TAGS];
        for (_, _, loc) in idx.live_slots() {
            let h = self.segs.head_at(loc)?;
            if h.kind != KIND_PUT {
                continue;
            }
            live += h.len as u64;
            if !h.internal {
                keys += 1;
                expiring += u64::from(h.expires);
                if let Some(n) = by_type.get_mut(usize::from(h.vtype)) {
                    *n += 1;
                }
            }
        }
        self.shm.set(W_KEYS, keys);
        self.shm.set(W_LIVE_BYTES, live);
        self.shm.set(W_EXPIRING, expiring);
        for (t, n) in by_type.iter().enumerate() {
            self.shm.set(W_TYPE_KEYS + t, *n);
        }
        Ok(())
    }

    pub(crate) fn unlock_writer(&self) {
        self.writer_lock.unlock();
        self.writer.release();
    }

    /// Current length of segment file `id` (the active one grows).
    fn segment_len(&self, id: u32) -> Result<usize> {
        // A read-only handle reads each segment as it mapped it at its open (format-spec.md
        // §6.4), even if a compaction deleted the file since.
        if let Some(len) = self.segs.mapped_len(id).filter(|_| self.read_only) {
            return Ok(len);
        }
        let path = self.segs.path(id);
        let len = std::fs::metadata(&path)
            .map_err(|e| Error::io(&path, e))?
            .len();
        Ok((len as usize).max(SEGMENT_HEADER_LEN))
    }

    /// Reads the transaction starting at `start`.
    pub(crate) fn read_txn(&self, start: u64) -> Result<TxnRead> {
        let id = pos_seg(start);
        let map = self.segs.map(id, self.segment_len(id)?)?;
        self.read_txn_in(map, start)
    }

    /// Reads the transaction starting at `start` from `map`, a map of its segment covering
    /// the whole file as it was when the caller looked.
    fn read_txn_in(&self, map: Arc<SegmentMap>, start: u64) -> Result<TxnRead> {
        let parsed = parse_txn(
            map.slice(0, map.len()).unwrap_or(&[]),
            pos_seg(start),
            pos_off(start) as usize,
        );
        Ok(match parsed {
            TxnParse::Txn { txn, records, end } => TxnRead::Txn(LoggedTxn {
                txn,
                records,
                map,
                end: end as u32,
            }),
            TxnParse::Seal => TxnRead::Seal,
            TxnParse::End(_) => TxnRead::End,
        })
    }

    /// Applies one logged PUT or DEL to the index (idempotent), keeping the counters.
    pub(crate) fn apply_record(
        &self,
        idx: &IndexMap,
        map: &SegmentMap,
        p: u64,
        meta: &RecMeta,
    ) -> Result<()> {
        let probed = self.probe_record(idx, map, meta)?;
        self.apply_probed(idx, p, meta, probed)
    }

    /// Finds where the record `meta` goes in the index: its slot (or the free slot for it)
    /// and the record it replaces.
    fn probe_record(&self, idx: &IndexMap, map: &SegmentMap, meta: &RecMeta) -> Result<Probed> {
        let key = meta.key(map);
        let hash = index::hash_for(key, meta.internal);
        let mut old = None;
        let probe = idx.probe(hash, |loc| {
            let head = self.segs.key_at(loc, key, meta.internal)?;
            if head.holds {
                old = Some(head);
            }
            Ok(head.holds)
        })?;
        Ok(Probed { hash, probe, old })
    }

    /// Applies one logged PUT or DEL at the place `probe_record` found for it.
    fn apply_probed(&self, idx: &IndexMap, p: u64, meta: &RecMeta, probed: Probed) -> Result<()> {
        let Probed { hash, probe, old } = probed;
        let user = u64::from(!meta.internal);
        let old_len = old.map_or(0, |h| h.len as u64);
        let len = meta.len as u64;
        match (meta.kind, probe) {
            (KIND_PUT, Probe::Found { slot, loc }) => {
                if loc != p {
                    idx.set_loc(slot, p);
                    self.shm.add(W_LIVE_BYTES, len);
                    self.shm.sub(W_LIVE_BYTES, old_len);
                    self.shm.add(W_DEAD_BYTES, old_len);
                    if let (Some(h), false) = (old, meta.internal) {
                        self.count_key(h.vtype, h.expires, false);
                        self.count_key(meta.vtype, meta.expires_at != 0, true);
                    }
                }
            }
            (KIND_PUT, Probe::Absent { free: Some(slot) }) => {
                idx.insert(slot, hash, p);
                self.shm.add(W_KEYS, user);
                self.shm.add(W_LIVE_BYTES, len);
                if !meta.internal {
                    self.count_key(meta.vtype, meta.expires_at != 0, true);
                }
            }
            (KIND_PUT, Probe::Absent { free: None }) => {
                return Err(Error::CorruptIndex {
                    file: idx.path.clone(),
                    reason: "index is full",
                })
            }
            (_, Probe::Found { slot, .. }) => {
                idx.remove(slot);
                if let (Some(h), false) = (old, meta.internal) {
                    self.count_key(h.vtype, h.expires, false);
                }
                self.shm.sub(W_KEYS, user);
                self.shm.sub(W_LIVE_BYTES, old_len);
                self.shm.add(W_DEAD_BYTES, old_len + len);
            }
            (_, Probe::Absent { .. }) => self.shm.add(W_DEAD_BYTES, len),
        }
        Ok(())
    }

    /// Adds (or with `add` false, removes) a user key of type tag `vtype` to the per-type
    /// and expiry counters.
    fn count_key(&self, vtype: u8, expires: bool, add: bool) {
        let words = [
            Some(W_TYPE_KEYS + usize::from(vtype)).filter(|_| usize::from(vtype) < TYPE_TAGS),
            Some(W_EXPIRING).filter(|_| expires),
        ];
        for w in words.into_iter().flatten() {
            if add {
                self.shm.add(w, 1);
            } else {
                self.shm.sub(w, 1);
            }
        }
    }

    /// Appends a transaction to the log and publishes it. The caller holds the writer lock.
    /// Returns the log position just past the transaction.
    pub(crate) fn commit_ops(&self, ops: &[(Vec<u8>, Op)]) -> Result<u64> {
        self.commit_iter(ops.iter().map(|(k, o)| (k.as_slice(), o.as_op_ref())))
    }

    /// [`Shared::commit_ops`] of the records `ops` yields, read where they are (a write
    /// transaction's pending map), so that no second list of them is built.
    pub(crate) fn commit_iter<'a>(
        &self,
        ops: impl ExactSizeIterator<Item = (&'a [u8], OpRef<'a>)> + Clone,
    ) -> Result<u64> {
        self.check_fork()?;
        self.writable()?;
        if self.poisoned.load(Ordering::Relaxed) || self.shm.get(W_POISONED) != 0 {
            return Err(Error::Poisoned);
        }
        let txn = self.shm.get(W_NEXT_TXN);
        let count = ops.len();
        // The exact encoded size, so that a transaction too large for a segment is refused
        // before anything is written for it.
        let len = ops
            .clone()
            .map(|(k, o)| match &o {
                OpRef::Put {
                    payload,
                    expires_at,
                    ..
                } => record_len(k.len(), payload.len(), *expires_at != 0),
                OpRef::Del { .. } => record_len(k.len(), 0, false),
            })
            .fold(COMMIT_LEN, usize::saturating_add);
        let max = self.max_txn_bytes();
        if len > max {
            return Err(Error::ValueTooLarge { len, max });
        }
        // A transaction longer than a segment holds goes alone into a large segment, which
        // grows past the segment size to hold it (format-spec.md §3.3, §9.2 step 2).
        let large = len > self.segment_txn_bytes();
        let limit = if large {
            u64::from(u32::MAX)
        } else {
            self.opts.segment_size
        };
        // A transaction that only deletes may use the reserve when the file system has no
        // room for more log (§9.2 steps 2-3): deleting is how room is made.
        let deletes_only = count > 0 && ops.clone().all(|(_, o)| matches!(o, OpRef::Del { .. }));
        // The transaction is encoded and written a piece of about `WRITE_PIECE` bytes at a
        // time, and values of at least `LARGE_VALUE` bytes are written from where they are,
        // so that its size in memory is bounded whatever its size in the log.
        let mut buf = crate::error::try_with_capacity(
            len.min(WRITE_PIECE + record_len(MAX_KEY_LEN, LARGE_VALUE, true)),
        )?;
        let reserve = reserve_bytes(self.opts.segment_size);
        let mut log_pos = self.shm.get(W_LOG_POS);
        // The end of the transaction and the SEAL after it, at the published end.
        let sealed_end = |log_pos: u64| u64::from(pos_off(log_pos)) + (len + SEAL_LEN) as u64;
        // An empty segment is never sealed for a transaction that would not leave the
        // reserve free in the next one either; it may use part of the reserve (§9.2).
        if large {
            // Into a large segment of its own: the active one if it is large and holds
            // nothing yet (a large transaction that failed left it so), a new one otherwise.
            if pos_off(log_pos) as usize > SEGMENT_HEADER_LEN
                || !self.segs.is_large(pos_seg(log_pos))?
            {
                self.rotate_as(true)?;
                log_pos = self.shm.get(W_LOG_POS);
            }
            crate::os::pause::point("bigtxn-rotated");
        } else if sealed_end(log_pos) + reserve > self.opts.segment_size
            && pos_off(log_pos) as usize > SEGMENT_HEADER_LEN
        {
            match self.rotate() {
                Ok(()) => log_pos = self.shm.get(W_LOG_POS),
                // A large segment (§3.3) may end past the segment size; its reserve is
                // allocated after its end all the same.
                Err(Error::DiskFull { .. })
                    if deletes_only
                        && sealed_end(log_pos) <= self.shm.get(W_ACTIVE_ALLOC)
                        && (sealed_end(log_pos) <= self.opts.segment_size
                            || self.segs.is_large(pos_seg(log_pos))?) => {}
                Err(e) => return Err(e),
            }
        }
        let seg = pos_seg(log_pos);
        let off = u64::from(pos_off(log_pos));
        let end = off + len as u64;
        let file = self.segs.file(seg)?;
        let path = self.segs.path(seg);
        let alloc = self.shm.get(W_ACTIVE_ALLOC);
        // The reserve stays allocated after the transaction (§3.4), so that a full disk
        // cannot take it.
        let need = (end + SEAL_LEN as u64 + reserve).min(limit);
        if need > alloc {
            let want = need
                .max(alloc + alloc.clamp(INITIAL_ALLOC, GROW_STEP))
                .min(limit);
            match crate::os::io::allocate(&file, want, &path) {
                Ok(()) => {
                    self.shm.set(W_ACTIVE_ALLOC, want);
                    self.shm.add(W_SEGMENT_BYTES, want - alloc);
                }
                Err(Error::DiskFull { .. }) if deletes_only && end + SEAL_LEN as u64 <= alloc => {}
                Err(e) => return Err(e),
            }
        }
        // One write of the whole transaction, as the log sees it: buffer, value, buffer, ...
        crate::os::io::write_stream_at(&file, len, off, &path, |sink| {
            let mut written = 0;
            let mut halfway = large;
            let mut put = |piece: &[u8]| -> std::io::Result<()> {
                written += piece.len();
                sink(piece)?;
                if halfway && written >= len / 2 {
                    // Half of a large transaction is in the log, no COMMIT yet (tests).
                    halfway = false;
                    crate::os::pause::point("bigtxn-append");
                }
                Ok(())
            };
            for (key, op) in ops.clone() {
                match op {
                    OpRef::Put {
                        vtype,
                        payload,
                        expires_at,
                        internal,
                    } if payload.len() >= LARGE_VALUE => {
                        encode_record_head(
                            &mut buf, KIND_PUT, vtype, txn, expires_at, internal, key, payload,
                        );
                        put(&buf)?;
                        buf.clear();
                        put(payload)?;
                    }
                    OpRef::Put {
                        vtype,
                        payload,
                        expires_at,
                        internal,
                    } => encode_record_ns(
                        &mut buf, KIND_PUT, vtype, txn, expires_at, internal, key, payload,
                    ),
                    OpRef::Del { internal } => {
                        encode_record_ns(&mut buf, KIND_DEL, 0, txn, 0, internal, key, &[])
                    }
                }
                if buf.len() >= WRITE_PIECE {
                    put(&buf)?;
                    buf.clear();
                }
            }
            encode_record(
                &mut buf,
                KIND_COMMIT,
                0,
                txn,
                0,
                &[],
                &(count as u64).to_le_bytes(),
            );
            put(&buf)?;
            debug_assert_eq!(written, len);
            Ok(())
        })?;
        drop(buf);
        if large {
            crate::os::pause::point("bigtxn-appended");
        }

        let end_pos = pos(seg, end as u32);
        // The records as they now sit in the segment, worked out again from `ops` by each
        // pass that needs them, so that no list of them is kept (format-spec.md §9.2).
        let records = logged_records(ops, seg, off as usize, txn);
        let prepared = self.segs.map(seg, end as usize).and_then(|map| {
            let idx = self.prepare_publish(&map, records.clone())?;
            Ok((map, idx))
        });
        let (map, idx) = match prepared {
            Ok(p) => p,
            Err(e) => {
                // Not published: make sure no later recovery adopts the appended bytes as a
                // committed transaction (§10.1), since the caller is told it failed.
                if crate::os::io::write_all_at(&file, &[0u8; RECORD_HEADER_LEN], off, &path)
                    .is_err()
                {
                    self.poison();
                }
                return Err(e);
            }
        };
        self.publish_txn(&idx, &map, records, count, log_pos, end_pos, txn)?;
        self.shm.add(W_COMMITS, 1);
        self.shm.add(W_WAL_BYTES, len as u64);
        Ok(end_pos)
    }

    /// Appends and publishes a transaction under the id `txn`, which must not be below the
    /// next one: `repair` rewrites salvaged transactions with their original ids into a
    /// database that no other process can have open yet (format-spec.md §12.2). Skipping
    /// ids keeps them increasing along the log (§3.3). The caller holds the writer lock.
    pub(crate) fn commit_ops_as(&self, txn: u64, ops: &[(Vec<u8>, Op)]) -> Result<u64> {
        if txn < self.shm.get(W_NEXT_TXN) {
            return Err(Error::InvalidArgument(format!(
                "transaction id {txn} is below the next one, {}",
                self.shm.get(W_NEXT_TXN)
            )));
        }
        self.shm.set(W_NEXT_TXN, txn);
        self.commit_ops(ops)
    }

    /// Before publishing `records`: grow the index if needed, probe the index for each
    /// record, reading every record the publish will read (so that the publish cannot fail
    /// half way), mark the index dirty. Writer lock held.
    fn prepare_publish(
        &self,
        map: &SegmentMap,
        records: impl Iterator<Item = (u64, RecMeta)> + Clone,
    ) -> Result<Arc<IndexMap>> {
        let mut idx = self.current_index()?;
        // A DEL takes no slot, so a transaction that only deletes never needs a larger
        // index (nor room on the file system for one).
        let puts = records.clone().filter(|(_, m)| m.kind != KIND_DEL).count() as u64;
        if idx.needs_resize(puts) {
            self.resize_index(puts)?;
            idx = self.current_index()?;
        }
        // What each probe finds is not kept (it would cost more than the records
        // themselves): the publish probes again, reading the same records.
        for (_, meta) in records {
            self.probe_record(&idx, map, &meta)?;
        }
        idx.mark_dirty()?;
        Ok(idx)
    }

    /// Publishes a logged transaction of `count` records (format-spec.md §9.2 step 6):
    /// sequence odd, index updates, end of log, sequence even. The sequence is made even
    /// again whatever happens; an error here (which `prepare_publish` rules out) poisons the
    /// shared state so that the next first attacher rebuilds the index.
    #[allow(clippy::too_many_arguments)]
    fn publish_txn(
        &self,
        idx: &IndexMap,
        map: &SegmentMap,
        records: impl Iterator<Item = (u64, RecMeta)> + Clone,
        count: usize,
        start: u64,
        end: u64,
        txn: u64,
    ) -> Result<()> {
        self.shm.set(W_PUB_START, start);
        let seq = self.shm.w(W_SEQ);
        let s = seq.load(Ordering::Relaxed);
        // Release: a reader that sees the odd value sees `pub_start` (and `next_txn`) of
        // this publish, and reads the transaction there (format-spec.md §8).
        seq.store(s + 1, Ordering::Release);
        fence(Ordering::Release);
        self.save_undo(idx, map, records.clone(), s + 1, txn);
        let mut result = Ok(());
        let half = if count >= 2 { count / 2 } else { usize::MAX };
        for (i, (p, meta)) in records.enumerate() {
            if i == half {
                crate::os::pause::point("publish");
            }
            // Probed here, against the index as the earlier records of this transaction
            // left it (keys within a transaction are distinct).
            if let Err(e) = self.apply_record(idx, map, p, &meta) {
                result = Err(e);
            }
        }
        self.shm.add(W_DEAD_BYTES, COMMIT_LEN as u64);
        self.shm.set(W_LOG_POS, end);
        self.shm.set(W_NEXT_TXN, txn + 1);
        seq.store(s + 2, Ordering::Release);
        if result.is_err() {
            self.poison();
        }
        result
    }
    /// Largest transaction (encoded) that fits in one segment of the segment size; a
    /// longer one goes to a large segment (format-spec.md §3.3).
    pub(crate) fn segment_txn_bytes(&self) -> usize {
        (self.opts.segment_size as usize).saturating_sub(SEGMENT_HEADER_LEN + SEAL_LEN)
    }

    /// Largest transaction (encoded): what a large segment holds, whose offsets are 32-bit
    /// (format-spec.md §14), with its header, a SEAL and the reserve.
    pub(crate) fn max_txn_bytes(&self) -> usize {
        let large = (u32::MAX as usize).saturating_sub(
            SEGMENT_HEADER_LEN + SEAL_LEN + reserve_bytes(self.opts.segment_size) as usize,
        );
        large.max(self.segment_txn_bytes())
    }

    /// Makes everything published up to `target` durable; shares the fsync with every other
    /// committer in every process (format-spec.md §9.4). One committer at a time (in this
    /// process the holder of `sync_mutex`, across processes the holder of `sync.lock`) is
    /// the syncer: it fsyncs the log up to what was published when it began, for everyone,
    /// then bumps the sync epoch and wakes the others, who sleep on it as a futex instead of
    /// queueing on the lock, and return at once if that fsync covered them.
    pub(crate) fn sync_to(&self, target: u64) -> Result<()> {
        self.check_fork()?;
        let durable = self.shm.w(W_DURABLE_POS);
        let epoch = self.shm.w(W_SYNC_EPOCH);
        // The sync epoch this thread has seen unchanged since when, while another synced.
        let mut stalled: Option<(u32, Instant)> = None;
        loop {
            if durable.load(Ordering::Acquire) >= target {
                return Ok(());
            }
            if self.poisoned.load(Ordering::Relaxed) || self.shm.get(W_POISONED) != 0 {
                return Err(Error::Poisoned);
            }
            // Read before trying to become the syncer: an fsync that ends after this point
            // changes it, so the sleep below cannot miss it.
            let seen = epoch.load(Ordering::Acquire) as u32;
            let in_process = match self.sync_mutex.try_lock() {
                Ok(g) => Some(g),
                Err(std::sync::TryLockError::Poisoned(p)) => Some(p.into_inner()),
                Err(std::sync::TryLockError::WouldBlock) => None,
            };
            if let Some(_g) = in_process {
                if self.sync_lock.try_lock_exclusive()? {
                    crate::os::pause::point("sync");
                    let r = self.sync_log(target);
                    self.sync_lock.unlock();
                    epoch.fetch_add(1, Ordering::AcqRel);
                    crate::os::map::futex_wake_all(epoch);
                    r?;
                    continue;
                }
            }
            // Another thread or process is the syncer: sleep until its fsync ends. The bound
            // covers a syncer that died (the kernel released its lock; no one bumps the epoch).
            if durable.load(Ordering::Acquire) >= target {
                return Ok(());
            }
            // A syncer that stays in its fsync for long may be stopped (SIGSTOP, Ctrl-Z of a
            // shell whose background thread was syncing) and hold `sync.lock` indefinitely:
            // then fsync without it (a second fsync is harmless and `durable_pos` only moves
            // forward) and wake the other sleepers, so that no commit waits for it
            // (format-spec.md §9.4).
            match stalled {
                Some((e, since)) if e == seen => {
                    if since.elapsed() >= SYNCER_STALL {
                        let r = self.sync_log(target);
                        epoch.fetch_add(1, Ordering::AcqRel);
                        crate::os::map::futex_wake_all(epoch);
                        r?;
                        continue;
                    }
                }
                _ => stalled = Some((seen, Instant::now())),
            }
            let t = lock_stats::now();
            crate::os::map::futex_wait(epoch, seen, SYNC_SLEEP);
            let c = lock_stats::C::SyncSleeps;
            lock_stats::time(
                t,
                Some(c),
                lock_stats::C::SyncSleepNs,
                lock_stats::C::SyncSleepMax,
            );
        }
    }

    /// The syncer's part of [`Shared::sync_to`]: fdatasyncs the active segment and advances
    /// `durable_pos` to the log end read before it, unless that already covers `target`.
    /// `sync.lock` held.
    fn sync_log(&self, target: u64) -> Result<()> {
        let durable = self.shm.w(W_DURABLE_POS);
        if durable.load(Ordering::Acquire) >= target {
            return Ok(());
        }
        let upto = self.shm.get(W_LOG_POS);
        let seg = pos_seg(upto);
        let file = self.segs.file(seg)?;
        let t = lock_stats::now();
        let synced = crate::os::io::sync_data(&file, &self.segs.path(seg));
        lock_stats::time(
            t,
            Some(lock_stats::C::Syncs),
            lock_stats::C::SyncNs,
            lock_stats::C::SyncMax,
        );
        if let Err(e) = synced {
            // fsync errors are not retryable: the kernel may have dropped the pages.
            self.poisoned.store(true, Ordering::Relaxed);
            self.shm.set(W_POISONED, 1);
            return Err(e);
        }
        durable.fetch_max(upto, Ordering::AcqRel);
        Ok(())
    }

    /// The database id (the manifest's), as the first attacher put it in the shared state.
    pub(crate) fn db_id(&self) -> u32 {
        self.shm.get(W_DB_ID) as u32
    }

    pub(crate) fn read_manifest(&self) -> Result<Manifest> {
        if let Some(man) = &self.snapshot_manifest {
            return Ok(man.clone());
        }
        Manifest::read(&self.dir)?.ok_or_else(|| Error::ManifestMissing {
            dir: self.dir.clone(),
        })
    }

    fn poison(&self) {
        self.poisoned.store(true, Ordering::Relaxed);
        self.shm.set(W_POISONED, 1);
    }

    /// Publishes a change that is not a logged transaction (index swap, relocations).
    pub(crate) fn publish_without_txn(&self, f: impl FnOnce()) {
        self.shm.set(W_PUB_START, NO_TXN);
        let seq = self.shm.w(W_SEQ);
        let s = seq.load(Ordering::Relaxed);
        seq.store(s + 1, Ordering::Release);
        fence(Ordering::Release);
        f();
        seq.store(s + 2, Ordering::Release);
    }
}

impl Drop for Shared {
    fn drop(&mut self) {
        if self.forked() {
            // The process slot and the locks are the parent's (closing the inherited files
            // releases no flock the parent holds through them).
            return;
        }
        self.views_idle(true);
        self.detach();
    }
}

/// A writer-role guard that borrows the engine (for internal short critical sections).
pub(crate) struct WriterGuardLocal<'a> {
    shared: &'a Shared,
}

impl Drop for WriterGuardLocal<'_> {
    fn drop(&mut self) {
        self.shared.unlock_writer();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Db;

    /// What a publish changes besides the slots themselves and that a repair must get right:
    /// the shared counters and the index header's slot counts (not the dead bytes, which a
    /// repair may count differently), as `(in the index header, word, value)`.
    fn counters(db: &Db) -> Result<Vec<(bool, usize, u64)>> {
        let s = &db.inner;
        let idx = s.current_index()?;
        let mut words: Vec<(bool, usize, u64)> =
            [W_LOG_POS, W_NEXT_TXN, W_KEYS, W_LIVE_BYTES, W_EXPIRING]
                .into_iter()
                .chain((0..TYPE_TAGS).map(|t| W_TYPE_KEYS + t))
                .map(|w| (false, w, s.shm.get(w)))
                .collect();
        for h in [index::H_USED, index::H_TOMBS] {
            words.push((true, h, idx.h(h).load(Ordering::Relaxed)));
        }
        Ok(words)
    }

    /// Runs `op`, one transaction, then puts every counter back as it was before and makes
    /// the sequence odd: the state of a writer killed inside the publish right after its
    /// last slot store, before the counts that go with it (§9.2 step 6). The next writer
    /// repairs it (§10.1): afterwards every counter must be what the publish made it.
    fn publish_torn_after_the_slots(db: &Db, op: impl FnOnce() -> Result<()>) -> Result<()> {
        let s = &db.inner;
        let before = counters(db)?;
        let start = s.shm.get(W_LOG_POS);
        op()?;
        let published = counters(db)?;
        let idx = s.current_index()?;
        for (header, w, v) in before {
            if header {
                idx.h(w).store(v, Ordering::Relaxed);
            } else {
                s.shm.set(w, v);
            }
        }
        s.shm.set(W_PUB_START, start);
        s.shm.w(W_SEQ).fetch_add(1, Ordering::Release);
        drop(s.writer_section(None)?);
        assert_eq!(s.shm.get(W_SEQ) & 1, 0, "the publish was not finished");
        assert_eq!(counters(db)?, published, "(in index header, word, value)");
        assert_eq!(idx.used(), idx.live_slots().count() as u64);
        let r = db.check()?;
        assert!(r.is_ok(), "{:?}", r.problems);
        Ok(())
    }

    /// The slot, tag and position of the user key `key`.
    fn slot_of(s: &Shared, key: &[u8]) -> Result<(u64, u64, u64)> {
        let idx = s.current_index()?;
        let found = idx.live_slots().find(|&(_, _, loc)| {
            s.segs
                .key_at(loc, key, false)
                .is_ok_and(|h| h.holds && h.kind == KIND_PUT)
        });
        Ok(found.expect("the key has a slot"))
    }

    /// A reader that meets a publish in progress (this thread holds the writer lock and
    /// stands for a writer stopped in the middle of it, with one slot torn: new position,
    /// old check byte) answers from the state after the transaction at once, never with
    /// Busy; it accepts the torn slot of a key being repointed, but not a damaged slot.
    #[test]
    fn a_reader_during_a_publish_reads_the_state_after_it_and_accepts_torn_slots() -> Result<()> {
        let dir = tempfile::tempdir().map_err(|e| Error::io("tmp", e))?;
        let db = Db::options()
            .auto_compact(false, 0.5, 0)
            .lock_timeout(Some(Duration::from_millis(200)))
            .open(dir.path())?;
        let s = &db.inner;
        db.set(b"other", "x")?;
        // A commit of `k` whose new position changes the slot's check byte.
        let mut round = 0;
        let (slot, old_tag, start, txn) = loop {
            round += 1;
            db.set(b"k", format!("old{round}"))?;
            let (slot, old_tag, _) = slot_of(s, b"k")?;
            let (start, txn) = (s.shm.get(W_LOG_POS), s.shm.get(W_NEXT_TXN));
            db.transaction(|tx| {
                tx.set(b"k", "new")?;
                tx.set(b"born", "b")?;
                tx.delete(b"other").map(|_| ())
            })?;
            let (_, tag, loc) = slot_of(s, b"k")?;
            if !index::slot_intact(old_tag, loc) {
                assert_eq!(tag & index::TAG_HASH_BITS, old_tag & index::TAG_HASH_BITS);
                break (slot, old_tag, start, txn);
            }
            db.transaction(|tx| tx.set(b"other", "x"))?;
            db.delete(b"born")?;
        };
        let guard = s.writer_section(None)?;
        // Back to the middle of that publish: the end of the log and the next txn id as
        // before it, the slot of `k` torn, the sequence odd.
        let idx = s.current_index()?;
        idx.store_tag(slot, old_tag);
        s.shm.set(W_LOG_POS, start);
        s.shm.set(W_NEXT_TXN, txn);
        s.shm.set(W_PUB_START, start);
        s.shm.w(W_SEQ).fetch_add(1, Ordering::Release);
        let seq = s.shm.get(W_SEQ);
        let get =
            |k: &[u8]| -> Result<Option<Vec<u8>>> { Ok(db.get(k)?.map(|v| v.as_bytes().to_vec())) };
        let text = |v: Option<crate::Value>| match v {
            Some(crate::Value::String(t)) => Some(t.into_bytes()),
            Some(crate::Value::Bytes(b)) => Some(b),
            other => other.map(|o| format!("{o:?}").into_bytes()),
        };
        std::thread::scope(|sc| {
            sc.spawn(|| -> Result<()> {
                assert_eq!(get(b"k")?, Some(b"new".to_vec()));
                assert_eq!(get(b"born")?, Some(b"b".to_vec()));
                assert_eq!(get(b"other")?, None);
                let got = db.mget(&[b"k".as_slice(), b"born", b"other"])?;
                assert_eq!(
                    got.into_iter().map(text).collect::<Vec<_>>(),
                    [Some(b"new".to_vec()), Some(b"b".to_vec()), None]
                );
                assert!(db.exists(b"born")? && !db.exists(b"other")?);
                let mut keys = db.keys()?;
                keys.sort();
                assert_eq!(keys, [b"born".to_vec(), b"k".to_vec()]);
                let (page, next) = db.scan(0, 1000, None, None)?;
                assert_eq!((page.len(), next), (2, 0));
                Ok(())
            })
            .join()
            .expect("reader thread")
        })?;
        assert_eq!(s.shm.get(W_SEQ), seq, "a reader changed the shared state");
        // A publish that is not a logged transaction (a relocation): the index as it is, the
        // torn slot accepted.
        s.shm.set(W_PUB_START, NO_TXN);
        assert_eq!(get(b"k")?, Some(b"new".to_vec()));
        // A failing slot whose position holds another key's record is damage.
        let (bslot, btag, bloc) = slot_of(s, b"born")?;
        assert!(index::slot_intact(btag, bloc));
        idx.store_tag(bslot, btag ^ (1 << 8));
        assert!(matches!(get(b"born"), Err(Error::CorruptIndex { .. })));
        idx.store_tag(bslot, btag);
        // The writer "dies": the next writer finishes the publish.
        s.shm.set(W_PUB_START, start);
        drop(guard);
        drop(s.writer_section(None)?);
        assert_eq!(s.shm.get(W_SEQ) & 1, 0);
        assert_eq!(get(b"k")?, Some(b"new".to_vec()));
        let r = db.check()?;
        assert!(r.is_ok(), "{:?}", r.problems);
        Ok(())
    }

    #[test]
    fn a_writer_killed_between_a_slot_and_its_counts_leaves_no_count_off() -> Result<()> {
        let dir = tempfile::tempdir().map_err(|e| Error::io("tmp", e))?;
        let db = Db::options().auto_compact(false, 0.5, 0).open(dir.path())?;
        db.transaction(|tx| {
            tx.set(b"gone", "x")?;
            tx.set(b"kept", "y")
        })?;
        // A delete: the slot is a deleted one, the header still counts it live (as in the
        // failure "index header says 192 records", with 191 reachable).
        publish_torn_after_the_slots(&db, || db.delete(b"gone").map(|_| ()))?;
        // An insert: the header does not count the new slot yet.
        publish_torn_after_the_slots(&db, || db.set(b"new", "z"))?;
        // An insert and a delete in one transaction.
        publish_torn_after_the_slots(&db, || {
            db.transaction(|tx| {
                tx.set(b"gone", "again")?;
                tx.delete(b"kept").map(|_| ())
            })
        })?;
        assert_eq!(db.len(), 2);
        Ok(())
    }
}
