//! The per-directory engine shared by every handle in one process: open and close, the
//! read path (sequence lock), the commit path (append, publish, group fsync), crash repair,
//! checkpoints, segment rotation, index resizing and rebuilding (format-spec.md §6–§10).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{fence, AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock, Weak};
use std::time::{Duration, Instant};

use arc_swap::ArcSwapOption;

use crate::db::{Durability, OpenOptions};
use crate::error::{Error, Result};
use crate::index::{self, IndexMap, Probe};
use crate::lock::{stats as lock_stats, LockFile, ProcLock};
use crate::manifest::{Manifest, MANIFEST_TMP};
use crate::map::{SegmentMap, SharedWords};
use crate::record::{
    decode_record, encode_record, encode_record_head, encode_record_ns, record_len, DecodeError,
    KIND_COMMIT, KIND_DEL, KIND_PUT, KIND_SEAL, MAX_KEY_LEN, RECORD_HEADER_LEN, SEGMENT_HEADER_LEN,
    SEG_COMPACTED, SEG_LOG,
};
use crate::segment::{self, RecMeta, Segments};
use crate::shm::*;

mod readonly;

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

/// This process's wall clock, Unix ms (see [`crate::expiry::wall_ms`]).
pub(crate) fn now_ms() -> u64 {
    crate::expiry::wall_ms()
}

/// Whether index file `idx` belongs to the database of manifest `man`: the same database id,
/// unless the database has none (it was created before ids existed).
pub(crate) fn index_belongs(idx: &IndexMap, man: &Manifest) -> bool {
    let id = idx.h(index::H_DB_ID).load(Ordering::Relaxed);
    man.db_id == 0 || id == u64::from(man.db_id)
}

/// Why the cleanly checkpointed-index test of a cold start fails for `idx`, index of the
/// database of `man`; `None` if it passes and the index can be adopted as it is (format-spec.md
/// §10.2 step 3).
pub(crate) fn unadoptable(idx: &IndexMap, man: &Manifest) -> Option<&'static str> {
    if !idx.is_clean() {
        Some("its index was not closed cleanly")
    } else if idx.h(index::H_SLOT_FORMAT).load(Ordering::Relaxed) != index::SLOT_FORMAT_CHECKED {
        Some("its index has slots of an older format")
    } else if pos_seg(idx.h(index::H_CKPT_POS).load(Ordering::Relaxed)) != man.active {
        Some("its index was checkpointed before the last segment rotation")
    } else if !index_belongs(idx, man) {
        Some("its index belongs to another database")
    } else {
        None
    }
}

/// Files the engine creates in a database directory before (and besides) its manifest;
/// none of them holds data (format-spec.md §2).
const RUNTIME_FILES: [&str; 5] = [
    "ziggy.lock",
    "ziggy.shm",
    "writer.lock",
    "sync.lock",
    "compact.lock",
];

/// What a directory entry can be when a directory has no manifest.
enum Entry {
    /// Created by an attach (lock files, shared state).
    Runtime,
    /// Written by a creation that was interrupted before its manifest: holds no record.
    /// The database id it carries, if any (0 if none).
    Leftover(u32),
    /// A segment, index or manifest file of a ZiggyDB database: may hold data.
    Database,
    /// Anything else.
    Foreign,
}

/// Makes sure `dir` can hold a database before anything is created in it: a missing
/// directory is created; an existing one must be a directory, and either hold a ZiggyDB
/// manifest, or be empty, or hold `ziggy.lock` (a database being created, decided under
/// that lock). Anything else is refused and left exactly as it was (format-spec.md §6.1).
fn prepare_dir(dir: &Path, mode: u32) -> Result<()> {
    match std::fs::metadata(dir) {
        Ok(m) if !m.is_dir() => {
            return Err(Error::NotADirectory {
                path: dir.to_path_buf(),
            })
        }
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return crate::io::create_db_dir(dir, mode).map_err(|e| not_a_directory(dir, e));
        }
        Err(e) => return Err(not_a_directory(dir, Error::io(dir, e))),
    }
    // Errors name the directory as attach would.
    let dir = &dir.canonicalize().map_err(|e| Error::io(dir, e))?;
    if Manifest::read(dir)?.is_some() {
        return Ok(());
    }
    let entries = dir_entries(dir)?;
    // `ziggy.lock` is the first file an attach creates, so a creation in progress has it
    // whatever the listing showed of its other files (looked for after listing).
    if entries.is_empty() || dir.join(RUNTIME_FILES[0]).exists() {
        return Ok(());
    }
    creation_leftovers(dir, false).map(drop)
}

/// The error for a path that could not be used as a directory: "not a directory" naming the
/// path or the nearest parent that exists and is not one, if there is one, else `e`.
fn not_a_directory(dir: &Path, e: Error) -> Error {
    dir.ancestors()
        .find(|p| std::fs::metadata(p).is_ok_and(|m| !m.is_dir()))
        .map_or(e, |p| Error::NotADirectory {
            path: p.to_path_buf(),
        })
}

/// Names of the entries of `dir` (a mount point's `lost+found` left out).
fn dir_entries(dir: &Path) -> Result<Vec<std::ffi::OsString>> {
    let mut names = Vec::new();
    for e in std::fs::read_dir(dir).map_err(|e| Error::io(dir, e))? {
        let name = e.map_err(|e| Error::io(dir, e))?.file_name();
        if name != "lost+found" {
            names.push(name);
        }
    }
    Ok(names)
}

/// For a directory without a manifest: the files an interrupted creation left there, which
/// hold no record and may be replaced by a new database. Refuses with
/// [`Error::ManifestMissing`] if any file may hold data of a database (the manifest was
/// lost: `ziggy repair` rebuilds it), and with [`Error::NotADatabase`] if the directory
/// holds other files. `locked`: the caller holds `ziggy.lock`, so no creation is running;
/// without it only the refusals count (a creation may be running, whose files are not
/// leftovers).
///
/// A creation writes, in order: `seg-00000001.zdb` (header: id 1, log, created at txn 1, the
/// new database id; then zeros), `MANIFEST.tmp` (listing that one segment), renamed to
/// `MANIFEST`. So a leftover is `seg-00000001.zdb` of at most 64 KiB that is all zeros after
/// a header that is either such a header or all zeros (torn), and `MANIFEST.tmp` that is
/// empty, all zeros, or such a manifest; both of one database id when both carry one.
fn creation_leftovers(dir: &Path, locked: bool) -> Result<Vec<PathBuf>> {
    let mut leftovers = Vec::new();
    let mut ids = Vec::new();
    let (mut database, mut foreign) = (false, false);
    for name in dir_entries(dir)? {
        let path = dir.join(&name);
        match classify(&path, &name.to_string_lossy()) {
            Entry::Runtime => {}
            Entry::Leftover(id) => {
                ids.extend((id != 0).then_some(id));
                leftovers.push(path);
            }
            Entry::Database => database = true,
            Entry::Foreign => foreign = true,
        }
    }
    ids.sort_unstable();
    ids.dedup();
    if database || ids.len() > 1 {
        return Err(Error::ManifestMissing {
            dir: dir.to_path_buf(),
        });
    }
    if foreign || (!locked && !leftovers.is_empty()) {
        return Err(Error::NotADatabase {
            dir: dir.to_path_buf(),
        });
    }
    Ok(leftovers)
}

/// What the entry `name` at `path` of a directory without a manifest is (see [`Entry`]).
fn classify(path: &Path, name: &str) -> Entry {
    if RUNTIME_FILES.contains(&name) {
        return Entry::Runtime;
    }
    let Ok(md) = std::fs::symlink_metadata(path) else {
        return Entry::Foreign;
    };
    if !md.file_type().is_file() {
        return Entry::Foreign;
    }
    // Anything longer than what a creation writes is not a leftover, and is not read whole.
    let small = md.len() <= INITIAL_ALLOC;
    let read = || small.then(|| std::fs::read(path).ok()).flatten();
    let zeros = |b: &[u8]| b.iter().all(|&x| x == 0);
    let has_magic = |magic: &[u8]| {
        use std::os::unix::fs::FileExt;
        let mut b = [0u8; 8];
        crate::io::open_file(path, false)
            .is_ok_and(|f| f.read_exact_at(&mut b, 0).is_ok() && b[..] == *magic)
    };
    if name == segment::file_name(1) {
        if let Some(b) = read() {
            let (head, rest) = b.split_at(b.len().min(SEGMENT_HEADER_LEN));
            if zeros(rest) {
                if zeros(head) {
                    return Entry::Leftover(0);
                }
                if let Ok(h) = crate::record::decode_segment_header(head) {
                    if h.id == 1 && h.kind == SEG_LOG && h.created_txn == 1 {
                        return Entry::Leftover(h.db_id);
                    }
                }
            }
        }
    }
    if name == MANIFEST_TMP {
        if let Some(b) = read() {
            if zeros(&b) {
                return Entry::Leftover(0);
            }
            if let Ok(m) = Manifest::decode(&b, path) {
                if m.active == 1 && m.segments == [(1, SEG_LOG)] {
                    return Entry::Leftover(m.db_id);
                }
            }
        }
        return if has_magic(&crate::manifest::MAGIC) {
            Entry::Database
        } else {
            Entry::Foreign
        };
    }
    let magic: &[u8] = if segment::parse_file_name(name).is_some() {
        &crate::record::SEGMENT_MAGIC
    } else if index::parse_file_name(name).is_some() {
        &index::INDEX_MAGIC.to_le_bytes()
    } else {
        return Entry::Foreign;
    };
    if has_magic(magic) {
        Entry::Database
    } else {
        Entry::Foreign
    }
}

/// Whether `path` is a symbolic link. One under a segment or index file name that the
/// database does not use is swept with its leftovers: unlinking a link never touches what it
/// points to, and the database never follows one (format-spec.md §2.2).
fn is_link(path: &Path) -> bool {
    std::fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_symlink())
}

/// Whether index file `gen` at `path` provably belongs to database `db_id`: a regular file
/// whose header has the index magic, that generation and that database id (§4.1).
fn index_is_ours(path: &Path, gen: u64, db_id: u32) -> bool {
    use std::os::unix::fs::FileExt;
    if db_id == 0 || !std::fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_file()) {
        return false;
    }
    let mut b = [0u8; 8 * (index::H_DB_ID + 1)];
    let Ok(f) = crate::io::open_file(path, false) else {
        return false;
    };
    let Ok(()) = f.read_exact_at(&mut b, 0) else {
        return false;
    };
    let word = |i: usize| {
        let mut w = [0u8; 8];
        w.copy_from_slice(&b[8 * i..8 * i + 8]);
        u64::from_le_bytes(w)
    };
    word(index::H_MAGIC) == index::INDEX_MAGIC
        && word(index::H_GEN) == gen
        && word(index::H_DB_ID) == u64::from(db_id)
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
    old: Option<crate::segment::Head>,
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

/// A pending write of a transaction.
#[derive(Debug, Clone)]
pub(crate) enum Op {
    Put {
        vtype: u8,
        payload: Vec<u8>,
        expires_at: u64,
        /// The key is in the internal namespace (format-spec.md §3.2 flags).
        internal: bool,
    },
    Del {
        internal: bool,
    },
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
const PUBLISH_SPIN: Duration = Duration::from_micros(20);

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
}

impl std::ops::Deref for ReadView<'_> {
    type Target = IndexMap;
    fn deref(&self) -> &IndexMap {
        self.idx
    }
}

impl ReadView<'_> {
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
fn spawn_worker(
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
    /// Opens `dir`, sharing the state with other handles of this process.
    pub(crate) fn open(dir: &Path, opts: OpenOptions) -> Result<Arc<Handle>> {
        if opts.segment_size < 64 << 10 || opts.segment_size > u64::from(u32::MAX) {
            return Err(Error::InvalidArgument(
                "segment size must be between 64 KiB and 4 GiB - 1".into(),
            ));
        }
        if let Some(mode) = opts.mode {
            crate::io::check_mode(mode)?;
        }
        let read_only = opts.read_only;
        if !read_only {
            prepare_dir(dir, opts.mode.unwrap_or(crate::io::DEFAULT_FILE_MODE))?;
        }
        let dir = dir.canonicalize().map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound if read_only => readonly::no_database(dir),
            _ => Error::io(dir, e),
        })?;
        let reg = REGISTRY.get_or_init(|| Mutex::new(HashMap::new()));
        let mut reg = reg
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let key = (dir, read_only);
        // A handle inherited through fork() is the parent's: attach afresh.
        let open = reg.get(&key).and_then(Weak::upgrade);
        if let Some(h) = open.filter(|h| !h.shared.forked()) {
            if let Some(option) = opts.difference(&h.shared.opts) {
                return Err(Error::OptionsMismatch {
                    path: key.0,
                    option,
                });
            }
            return match opts.mode {
                Some(requested) if requested != h.shared.mode => Err(Error::ModeMismatch {
                    path: key.0,
                    found: h.shared.mode,
                    requested,
                }),
                _ => Ok(h),
            };
        }
        let dir = &key.0;
        if read_only {
            // No background thread: each of them writes (format-spec.md §6.4).
            let h = Arc::new(Handle {
                shared: Arc::new(Self::attach_read_only(dir, opts)?),
                workers: Mutex::new(Vec::new()),
            });
            reg.insert(key, Arc::downgrade(&h));
            return Ok(h);
        }
        let s = Arc::new(Self::attach(dir, opts)?);
        let mut workers = Vec::new();
        if let Durability::Batched { max_delay } = s.opts.durability {
            workers.extend(spawn_worker(&s, "ziggydb-flush", max_delay, |s| {
                let target = s.shm.get(W_LOG_POS);
                if s.shm.get(W_DURABLE_POS) < target {
                    let _ = s.sync_to(target);
                }
            }));
        }
        if let Some(every) = s.opts.active_expiry {
            workers.extend(spawn_worker(&s, "ziggydb-expire", every, |s| {
                // Never wait long for the writer lock: another process may be expiring. Nor
                // for a rebuild (§10.4), which its sample would wait for.
                if s.rebuilding() {
                    return;
                }
                let _ = s.expire_pass(Some(Duration::from_millis(10)));
            }));
        }
        if s.opts.auto_compact {
            // Compaction runs here rather than in the commit that passed the threshold, so
            // that no commit waits for it (it copies whole segments).
            let compactor = spawn_worker(&s, "ziggydb-compact", Duration::from_secs(1), |s| {
                if s.rebuilding() {
                    return;
                }
                let _ = s.maybe_compact();
            });
            if let Some(t) = compactor {
                let _ = s.compactor.set(t.thread().clone());
                workers.push(t);
            }
        }
        let h = Arc::new(Handle {
            shared: s,
            workers: Mutex::new(workers),
        });
        reg.insert(key, Arc::downgrade(&h));
        Ok(h)
    }

    fn attach(dir: &Path, opts: OpenOptions) -> Result<Shared> {
        // On any error below, dropping the lock files closes them, which releases the locks.
        let mode = crate::manifest::database_mode(dir, opts.mode)?;
        if let Some(s) = Self::attach_warm(dir, &opts, mode)? {
            return Ok(s);
        }
        let open_lock = LockFile::open(&dir.join("ziggy.lock"), mode)?;
        wait_for_open_lock(&open_lock, dir, opts.lock_timeout)?;
        crate::pause::point("attach");
        // Again under the lock: a process creating the database meanwhile has finished.
        let mode = crate::manifest::database_mode(dir, opts.mode)?;
        // Holding `ziggy.lock`, no creation runs: a directory without a manifest is now either
        // an interrupted creation or a lost manifest. Decide before creating anything more.
        if Manifest::read(dir)?.is_none() {
            creation_leftovers(dir, true)?;
        }
        let shm_path = dir.join("ziggy.shm");
        let shm_lock = LockFile::open(&shm_path, mode)?;
        let first = Self::first_or_attached(&shm_lock, dir, opts.lock_timeout)?;
        let len = shm_lock
            .file
            .metadata()
            .map_err(|e| Error::io(&shm_path, e))?
            .len();
        if first && len != SHM_LEN {
            shm_lock
                .file
                .set_len(0)
                .map_err(|e| Error::io(&shm_path, e))?;
            crate::io::allocate(&shm_lock.file, SHM_LEN, &shm_path)?;
        } else if len != SHM_LEN {
            return Err(Error::CorruptShm {
                file: shm_path,
                reason: "shared state file has the wrong size while other processes use it",
            });
        }
        let shm = Shm {
            map: SharedWords::open(&shm_lock.file, &shm_path)?,
        };
        let mut s = Self::with_state(dir, opts, mode, open_lock, shm_lock, shm)?;
        let mut rebuild = false;
        if first {
            rebuild = s.first_open()?;
        } else {
            s.check_attached_layout(&shm_path)?;
        }
        // Downgrades a first attacher's lock; a process that found others attached holds it
        // shared already.
        s.shm_lock.lock_shared()?;
        let gen = s.shm.get(W_INDEX_GEN);
        let idx = match s.index.load_full() {
            Some(idx) if idx.gen == gen => idx,
            _ => Arc::new(IndexMap::open(&s.dir, gen)?),
        };
        s.join(idx);
        if first && !rebuild {
            s.shm.set(W_OPENER, 0);
        }
        s.open_lock.unlock();
        if rebuild {
            // The state is published and `ziggy.lock` released: other processes attach and
            // read while the index is rebuilt, holding only the writer lock (§10.4).
            let r = s.repair();
            s.unlock_writer();
            r?;
        }
        Ok(s)
    }

    /// The fast attach (format-spec.md §6.1 step 1): if no process holds `ziggy.shm`
    /// exclusively (no first attacher is initialising it, no repair or read-only open is
    /// looking at it) and the state in it is warm, attach holding
    /// only its shared lock, without `ziggy.lock`, so that a process stalled or rebuilding
    /// while it holds `ziggy.lock` delays nobody who can attach to what is already there.
    /// `None` (having changed nothing and kept no lock) where the slow path must decide.
    fn attach_warm(dir: &Path, opts: &OpenOptions, mode: u32) -> Result<Option<Shared>> {
        use std::os::unix::fs::MetadataExt;
        let shm_path = dir.join("ziggy.shm");
        let Ok(file) = crate::io::open_file(&shm_path, true) else {
            return Ok(None);
        };
        if fs2::FileExt::try_lock_shared(&file).is_err() {
            return Ok(None);
        }
        // The lock is on the file we opened: the name must still lead to it (nobody removed
        // or replaced it since), and it must have its size, or this is not the shared state.
        let same = match (file.metadata(), std::fs::symlink_metadata(&shm_path)) {
            (Ok(a), Ok(b)) => a.dev() == b.dev() && a.ino() == b.ino() && a.len() == SHM_LEN,
            _ => false,
        };
        if !same {
            return Ok(None);
        }
        let Ok(map) = SharedWords::open(&file, &shm_path) else {
            return Ok(None);
        };
        let shm = Shm { map };
        let Some((idx, man)) = warm_index(&shm, dir) else {
            return Ok(None);
        };
        let open_lock = LockFile::open(&dir.join("ziggy.lock"), mode)?;
        let shm_lock = LockFile {
            file,
            path: shm_path,
            waiter: Default::default(),
        };
        let mut s = Self::with_state(dir, opts.clone(), mode, open_lock, shm_lock, shm)?;
        // As a first attacher does (§6.3), so that a damaged or newer segment is refused at
        // the open whoever attached before; it maps each segment, which reads would anyway.
        for &(id, _) in &man.segments {
            s.segs.check_header(id)?;
        }
        s.join(Arc::new(idx));
        Ok(Some(s))
    }

    /// Holding `ziggy.lock`: whether this process is the first to attach (it then holds
    /// `ziggy.shm` exclusively) or others are attached (it then holds it shared). Neither at
    /// once when a process holds it exclusively without `ziggy.lock` (the last process, for
    /// the instant it decides it is the last), or holds it shared only to look at a state
    /// that is not attachable (a fast attacher that finds it stale and leaves): try again.
    fn first_or_attached(shm: &LockFile, dir: &Path, timeout: Option<Duration>) -> Result<bool> {
        let mut deadline = timeout.map(|t| Instant::now() + t);
        let mut watch = None;
        let mut pause = Duration::from_micros(20);
        loop {
            if shm.try_lock_exclusive()? {
                return Ok(true);
            }
            if fs2::FileExt::try_lock_shared(&shm.file).is_ok() {
                if attached_state(&shm.file) {
                    return Ok(false);
                }
                shm.unlock();
            }
            let watch = watch.get_or_insert_with(|| Progress::start(shm));
            if let (Some(d), Some(t)) = (deadline, timeout) {
                if Instant::now() >= d {
                    watch.give_up(shm, "ziggy.shm", dir, t)?;
                    deadline = Some(Instant::now() + t);
                }
            }
            std::thread::sleep(pause);
            pause = (pause * 2).min(Duration::from_millis(2));
        }
    }

    /// A `Shared` for `dir` around the lock files and the mapped shared state, not yet
    /// registered.
    fn with_state(
        dir: &Path,
        opts: OpenOptions,
        mode: u32,
        open_lock: LockFile,
        shm_lock: LockFile,
        shm: Shm,
    ) -> Result<Shared> {
        let locks = [
            open_lock,
            shm_lock,
            LockFile::open(&dir.join("writer.lock"), mode)?,
            LockFile::open(&dir.join("sync.lock"), mode)?,
            LockFile::open(&dir.join("compact.lock"), mode)?,
        ];
        Ok(Self::assemble(dir, opts, mode, locks, shm, false))
    }

    /// A `Shared` with nothing done yet: `locks` are `ziggy.lock`, `ziggy.shm`,
    /// `writer.lock`, `sync.lock` and `compact.lock`, in that order.
    pub(crate) fn assemble(
        dir: &Path,
        opts: OpenOptions,
        mode: u32,
        locks: [LockFile; 5],
        shm: Shm,
        read_only: bool,
    ) -> Shared {
        let [open_lock, shm_lock, writer_lock, sync_lock, compact_lock] = locks;
        Shared {
            dir: dir.to_path_buf(),
            open_lock,
            shm_lock,
            writer_lock,
            sync_lock,
            compact_lock,
            shm,
            index: ArcSwapOption::empty(),
            overlay: Mutex::new(None),
            rebuild_tail: Mutex::new(None),
            attached: false,
            seg_epoch: AtomicU64::new(0),
            segs: Segments::new(dir, mode),
            writer: ProcLock::default(),
            sync_mutex: Mutex::new(()),
            compact_mutex: Mutex::new(()),
            slot: None,
            local_reads: Default::default(),
            poisoned: AtomicBool::new(false),
            flusher_stop: Arc::new(AtomicBool::new(false)),
            compactor: OnceLock::new(),
            opts,
            read_only,
            snapshot_manifest: None,
            mode,
            pid: std::process::id(),
            fork_gen: crate::map::fork_generation(),
        }
    }

    /// Whether this process is a `fork()` of the one that opened the handle.
    pub(crate) fn forked(&self) -> bool {
        crate::map::fork_generation() != self.fork_gen
    }

    /// [`Error::Forked`] in a forked child: the handle's locks (flocks on open files the
    /// parent shares), process slot and threads are the parent's. An atomic load, cheap
    /// enough for every read.
    pub(crate) fn check_fork(&self) -> Result<()> {
        if self.forked() {
            return Err(Error::Forked {
                opened_in: self.pid,
                now: std::process::id(),
            });
        }
        Ok(())
    }

    /// The last steps of an attach, holding `ziggy.shm` shared: join the database clock,
    /// claim a process slot, use `idx` (the index the state names).
    fn join(&mut self, idx: Arc<IndexMap>) {
        crate::expiry::join_clock(&self.shm);
        self.slot = self.register_process();
        self.attached = true;
        self.index.store(Some(idx));
        self.seg_epoch
            .store(self.shm.get(W_SEG_EPOCH), Ordering::Relaxed);
    }

    /// Run by a process that is not the first to attach: the shared state must be ready
    /// and of this build's layout (format-spec.md §6.1). A process of a build with another
    /// layout is attached; attaching beside it would misread and corrupt the shared state.
    fn check_attached_layout(&self, shm_path: &Path) -> Result<()> {
        let (magic, version, ready) = (
            self.shm.get(W_MAGIC),
            self.shm.get(W_VERSION),
            self.shm.get(W_READY),
        );
        let ready_now = ready == SHM_READY || ready == SHM_READY_REBUILDING;
        if magic == SHM_MAGIC && version == SHM_VERSION && ready_now {
            return Ok(());
        }
        if magic == SHM_MAGIC && (version != SHM_VERSION || ready != 0) {
            return Err(Error::IncompatibleVersion {
                file: shm_path.to_path_buf(),
                found: u16::try_from(version).unwrap_or(u16::MAX),
                supported: SHM_VERSION as u16,
            });
        }
        Err(Error::CorruptShm {
            file: shm_path.to_path_buf(),
            reason: "shared state is not initialised although another process is attached",
        })
    }

    /// Run by the first process to attach (no other process has the directory open). `true`
    /// if the index is still to be rebuilt (format-spec.md §10.4): the state is then published
    /// as rebuilding and this process holds the writer lock, to rebuild once it has let go of
    /// `ziggy.lock` and `ziggy.shm`.
    fn first_open(&self) -> Result<bool> {
        let (b0, b1) = boot_id();
        let warm = warm_index(&self.shm, &self.dir);
        let me = u64::from(std::process::id());
        let phase = if warm.is_some() {
            OPENER_OPENING
        } else {
            OPENER_RECOVERING
        };
        self.shm.set(W_OPENER, phase << 32 | me);
        crate::pause::point("first-open");
        crate::pause::busy("first-open");
        for slot in 0..PROC_SLOTS {
            for w in 0..PROC_WORDS {
                self.shm.proc_word(slot, w).store(0, Ordering::Relaxed);
            }
        }
        let rebuild;
        if let Some((idx, _)) = warm {
            self.index.store(Some(Arc::new(idx)));
            // A rebuild its first attacher did not finish (it died): finished below.
            rebuild = self.shm.get(W_READY) == SHM_READY_REBUILDING;
        } else {
            rebuild = self.cold_start()?;
            self.shm.set(W_BOOT0, b0);
            self.shm.set(W_BOOT1, b1);
            self.shm.set(W_VERSION, SHM_VERSION);
            self.shm.set(W_MAGIC, SHM_MAGIC);
            self.shm.set(
                W_READY,
                if rebuild {
                    SHM_READY_REBUILDING
                } else {
                    SHM_READY
                },
            );
        }
        if rebuild {
            // Nothing to repair in a state published as rebuilding but the rebuild itself
            // (and a swap to the rebuilt index that a dead rebuilder left half done), which
            // the caller runs, with this lock, once others can attach.
            self.lock_writer_only(self.opts.lock_timeout)?;
        } else {
            // Repair what a dead writer left (§10.1) before anyone reads, so every process
            // sees the same state as a cold open would.
            drop(self.writer_section(self.opts.lock_timeout)?);
        }
        let man = self.read_manifest()?;
        for &(id, _) in &man.segments {
            self.segs.check_header(id)?;
        }
        self.remove_orphans(&man, true);
        Ok(rebuild)
    }

    /// Builds the shared state from the files on disk: adopt a cleanly checkpointed index, or
    /// rebuild one from the segments. `true` if the rebuild is left to run after the state is
    /// published (format-spec.md §10.4): the old index is this database's, of this slot
    /// format, with its checkpoint in the active segment.
    fn cold_start(&self) -> Result<bool> {
        // `W_OPENER` says what this process is doing to a process waiting for it.
        for w in (0..PROC_BASE).filter(|&w| w != W_OPENER) {
            self.shm.w(w).store(0, Ordering::Relaxed);
        }
        let Some(man) = Manifest::read(&self.dir)? else {
            // MANIFEST is written when a database is created, before its first commit, and is
            // only ever replaced by a rename. Without it, only the files of an interrupted
            // creation, which hold no record, may be replaced (§10.2).
            for path in creation_leftovers(&self.dir, true)? {
                if let Some(id) = path
                    .file_name()
                    .and_then(|n| segment::parse_file_name(&n.to_string_lossy()))
                {
                    self.segs.forget(id);
                }
                crate::io::remove_file(&path).map_err(|e| Error::io(&path, e))?;
            }
            return self.create_new().map(|()| false);
        };
        for &(id, _) in &man.segments {
            self.segs.check_header(id)?;
        }
        self.shm.set(W_DB_ID, u64::from(man.db_id));
        let (_, gens) = self.list_files()?;
        let newest = gens.iter().copied().max();
        // An index of a newer format is a newer build's file: refuse rather than rebuild
        // over it (§10.2 step 3). One of an older format is rebuilt like a damaged one.
        if let Some(Err(e)) = newest.map(|gen| IndexMap::open(&self.dir, gen)) {
            if matches!(e, Error::IncompatibleVersion { found, .. }
                if found > crate::record::FORMAT_VERSION)
            {
                return Err(e);
            }
        }
        let adopted = newest
            .and_then(|gen| IndexMap::open(&self.dir, gen).ok())
            .filter(|idx| unadoptable(idx, &man).is_none());
        let seg_bytes = self.segment_file_bytes(&man);
        if let Some(idx) = adopted {
            return self.adopt(idx, &man, seg_bytes).map(|()| false);
        }
        // Only an index of this database says how far its log reached: another database's
        // index file (planted, or left by a copy) must not make its log look damaged.
        let hint = newest
            .and_then(|gen| IndexMap::open(&self.dir, gen).ok())
            .filter(|idx| index_belongs(idx, &man));
        let ckpt = hint
            .as_ref()
            .map(|i| i.h(index::H_CKPT_POS).load(Ordering::Relaxed));
        // Only a header that says dirty (a crash while the database was open): one that says
        // clean but fails its checksum is damaged, and its checkpoint words are not believed.
        let readable = |i: &IndexMap| {
            let ckpt = i.h(index::H_CKPT_POS).load(Ordering::Relaxed);
            i.h(index::H_DIRTY).load(Ordering::Relaxed) == 1
                && i.h(index::H_SLOT_FORMAT).load(Ordering::Relaxed) == index::SLOT_FORMAT_CHECKED
                && pos_seg(ckpt) == man.active
                && pos_off(ckpt) as usize >= SEGMENT_HEADER_LEN
                && i.h(index::H_NEXT_TXN).load(Ordering::Relaxed) > 0
        };
        if let Some(idx) = hint.filter(readable) {
            self.publish_rebuilding(idx, &man, seg_bytes)?;
            return Ok(true);
        }
        let gen = newest.unwrap_or(0) + 1;
        self.rebuild(&man, gen, ckpt)?;
        self.shm.set(W_SEGMENT_BYTES, seg_bytes);
        Ok(false)
    }

    /// Sets the shared state for reading while the index is rebuilt (format-spec.md §10.4):
    /// `idx` is the old index, not adoptable (dirty) but of this database, whose checkpoint
    /// lies in the active segment. The log is read from that checkpoint to its end (at most
    /// one segment) for where it ends and the next transaction id; the counters are the
    /// checkpoint's until the rebuild recomputes them.
    fn publish_rebuilding(&self, idx: IndexMap, man: &Manifest, seg_bytes: u64) -> Result<()> {
        let h = |i| idx.h(i).load(Ordering::Relaxed);
        let ckpt = h(index::H_CKPT_POS);
        let next = h(index::H_NEXT_TXN);
        let map = self.segs.map(man.active, self.segment_len(man.active)?)?;
        let from = pos_off(ckpt) as usize;
        // As a scan of the whole segment would: a transaction at the checkpoint continues
        // the ids of those before it in the segment (stale bytes there end the log).
        let prev = if from == SEGMENT_HEADER_LEN {
            0
        } else {
            next - 1
        };
        let (mut first, mut last) = (None, 0);
        let (mut end, _) = scan_log(
            map.slice(0, map.len()).unwrap_or(&[]),
            man.active,
            from,
            |txn, _| {
                first.get_or_insert(txn);
                last = txn;
                Ok(())
            },
        )?;
        if first.is_some_and(|t| t <= prev) {
            (end, last) = (from, 0);
        }
        let log_pos = pos(man.active, end as u32);
        self.shm.set(W_INDEX_GEN, idx.gen);
        self.shm.set(W_LOG_POS, log_pos);
        self.shm.set(W_DURABLE_POS, log_pos);
        self.shm.set(W_NEXT_TXN, next.max(last + 1));
        self.shm.set(
            W_NEXT_SEG,
            h(index::H_NEXT_SEG).max(u64::from(self.max_seg_id()?.max(man.active)) + 1),
        );
        self.set_counts(&idx, man, seg_bytes);
        self.shm.set(W_REBUILD_FROM, ckpt);
        self.index.store(Some(Arc::new(idx)));
        Ok(())
    }

    /// Under the writer lock, with the state published as rebuilding (format-spec.md §10.4):
    /// rebuilds the index from the segments into a new generation and publishes it, which
    /// ends the rebuilding state; then deletes the old index file. Run by the first attacher
    /// once others may attach, or by whichever process takes the writer lock after it died.
    fn finish_rebuild(&self) -> Result<()> {
        let me = u64::from(std::process::id());
        self.shm.set(W_OPENER, OPENER_RECOVERING << 32 | me);
        crate::pause::point("rebuild");
        crate::pause::busy("rebuild");
        let r = (|| {
            let man = self.read_manifest()?;
            let old = self.current_index()?;
            let (_, gens) = self.list_files()?;
            let gen = gens.into_iter().max().unwrap_or(0).max(old.gen) + 1;
            self.rebuild(&man, gen, Some(self.shm.get(W_REBUILD_FROM)))?;
            self.shm.set(W_SEGMENT_BYTES, self.segment_file_bytes(&man));
            let _ = crate::io::remove_file(&old.path);
            Ok(())
        })();
        let _ = self.shm.w(W_OPENER).compare_exchange(
            OPENER_RECOVERING << 32 | me,
            0,
            Ordering::AcqRel,
            Ordering::Relaxed,
        );
        r
    }

    /// Sets the shared state's counts (keys, expiring keys, keys by type, live and dead
    /// bytes, segments and their bytes, the active segment's allocation) from the header of
    /// `idx` and from `man`, as an adopted or a to-be-rebuilt index leaves them.
    fn set_counts(&self, idx: &IndexMap, man: &Manifest, seg_bytes: u64) {
        let h = |i| idx.h(i).load(Ordering::Relaxed);
        self.shm.set(W_KEYS, h(index::H_KEYS));
        self.shm.set(W_EXPIRING, h(index::H_EXPIRING));
        for t in 0..TYPE_TAGS {
            self.shm.set(W_TYPE_KEYS + t, h(index::H_TYPE_KEYS + t));
        }
        self.shm.set(W_LIVE_BYTES, h(index::H_LIVE));
        self.shm.set(W_DEAD_BYTES, h(index::H_DEAD));
        self.shm.set(W_SEGMENTS, man.segments.len() as u64);
        self.shm.set(W_SEGMENT_BYTES, seg_bytes);
        let alloc = std::fs::metadata(self.segs.path(man.active))
            .map(|m| m.len())
            .unwrap_or(0);
        self.shm.set(W_ACTIVE_ALLOC, alloc);
    }

    /// Sets the shared state from `idx`, a cleanly checkpointed index of the database of
    /// `man` (see [`unadoptable`]), and makes it the current index.
    fn adopt(&self, idx: IndexMap, man: &Manifest, seg_bytes: u64) -> Result<()> {
        let h = |i| idx.h(i).load(Ordering::Relaxed);
        let log_pos = h(index::H_CKPT_POS);
        self.shm.set(W_INDEX_GEN, idx.gen);
        self.shm.set(W_LOG_POS, log_pos);
        self.shm.set(W_DURABLE_POS, log_pos);
        self.shm.set(W_NEXT_TXN, h(index::H_NEXT_TXN));
        self.shm.set(
            W_NEXT_SEG,
            h(index::H_NEXT_SEG).max(u64::from(self.max_seg_id()?) + 1),
        );
        self.set_counts(&idx, man, seg_bytes);
        self.index.store(Some(Arc::new(idx)));
        Ok(())
    }

    fn create_new(&self) -> Result<()> {
        let id = 1;
        let db_id = crate::manifest::new_db_id(&self.dir);
        self.segs.create(
            id,
            SEG_LOG,
            1,
            db_id,
            INITIAL_ALLOC.min(self.opts.segment_size),
        )?;
        let man = Manifest {
            db_id,
            active: id,
            segments: vec![(id, SEG_LOG)],
        };
        man.write(&self.dir, self.mode)?;
        self.shm.set(W_DB_ID, u64::from(man.db_id));
        let idx = self.create_index(1, index::MIN_CAPACITY)?;
        let log_pos = pos(id, SEGMENT_HEADER_LEN as u32);
        idx.checkpoint(&[
            (index::H_CKPT_POS, log_pos),
            (index::H_NEXT_TXN, 1),
            (index::H_NEXT_SEG, 2),
            (index::H_DB_ID, u64::from(man.db_id)),
        ])?;
        crate::io::sync_dir(&self.dir)?;
        self.shm.set(W_INDEX_GEN, 1);
        self.shm.set(W_LOG_POS, log_pos);
        self.shm.set(W_DURABLE_POS, log_pos);
        self.shm.set(W_NEXT_TXN, 1);
        self.shm.set(W_NEXT_SEG, 2);
        self.shm.set(W_SEGMENTS, 1);
        self.shm
            .set(W_ACTIVE_ALLOC, INITIAL_ALLOC.min(self.opts.segment_size));
        self.shm
            .set(W_SEGMENT_BYTES, INITIAL_ALLOC.min(self.opts.segment_size));
        self.index.store(Some(Arc::new(idx)));
        Ok(())
    }

    /// Segment ids and index generations present in the directory.
    fn list_files(&self) -> Result<(Vec<u32>, Vec<u64>)> {
        let mut segs = Vec::new();
        let mut gens = Vec::new();
        let rd = std::fs::read_dir(&self.dir).map_err(|e| Error::io(&self.dir, e))?;
        for e in rd.flatten() {
            let name = e.file_name();
            let name = name.to_string_lossy();
            if let Some(id) = segment::parse_file_name(&name) {
                segs.push(id);
            } else if let Some(g) = index::parse_file_name(&name) {
                gens.push(g);
            }
        }
        segs.sort_unstable();
        gens.sort_unstable();
        Ok((segs, gens))
    }

    fn max_seg_id(&self) -> Result<u32> {
        Ok(self.list_files()?.0.into_iter().max().unwrap_or(0))
    }

    fn segment_file_bytes(&self, man: &Manifest) -> u64 {
        man.segments
            .iter()
            .filter_map(|&(id, _)| std::fs::metadata(self.segs.path(id)).ok())
            .map(|m| m.len())
            .sum()
    }

    /// Deletes this database's segment files not in the manifest and its index files other
    /// than the current one: only files whose header proves them this database's (magic and
    /// the manifest's database id, format-spec.md §6.3); anything else is left alone. Only
    /// safe when no other process could be creating such a file: at first open, or under the
    /// writer and compaction locks.
    pub(crate) fn remove_orphans(&self, man: &Manifest, include_index: bool) {
        let Ok((segs, gens)) = self.list_files() else {
            return;
        };
        let rotating = self.shm.get(W_ROTATING) as u32;
        let mut removed = false;
        for id in segs {
            let path = self.segs.path(id);
            if !man.segments.iter().any(|&(s, _)| s == id)
                && id != rotating
                && (segment::is_ours(&path, id, man.db_id) || is_link(&path))
            {
                self.segs.forget(id);
                removed |= crate::io::remove_file(&path).is_ok();
            }
        }
        if include_index {
            let cur = self.shm.get(W_INDEX_GEN);
            for g in gens.into_iter().filter(|&g| g != cur) {
                let path = self.dir.join(index::file_name(g));
                if index_is_ours(&path, g, man.db_id) || is_link(&path) {
                    removed |= crate::io::remove_file(&path).is_ok();
                }
            }
            // A manifest of this database that was never renamed into place; the next
            // replacement of the manifest overwrites the name anyway.
            let tmp = self.dir.join(MANIFEST_TMP);
            if man.db_id != 0
                && Manifest::read_file(&tmp)
                    .ok()
                    .flatten()
                    .is_some_and(|m| m.db_id == man.db_id)
            {
                let _ = crate::io::remove_file(&tmp);
            }
        }
        if removed {
            let _ = crate::io::sync_dir(&self.dir);
        }
    }

    fn register_process(&self) -> Option<usize> {
        let pid = u64::from(std::process::id());
        let start = process_start(std::process::id()).unwrap_or(0);
        for slot in 0..PROC_SLOTS {
            let w = self.shm.proc_word(slot, P_PID);
            let cur = w.load(Ordering::Acquire);
            let free = cur == 0
                || process_start(cur as u32)
                    != Some(self.shm.proc_word(slot, P_START).load(Ordering::Relaxed));
            if free
                && w.compare_exchange(cur, pid, Ordering::AcqRel, Ordering::Relaxed)
                    .is_ok()
            {
                if cur != 0 {
                    self.retire_counters(slot);
                }
                self.shm
                    .proc_word(slot, P_START)
                    .store(start, Ordering::Relaxed);
                return Some(slot);
            }
        }
        None
    }

    fn retire_counters(&self, slot: usize) {
        for (w, g) in [
            (P_READS, W_RETIRED_READS),
            (P_HITS, W_RETIRED_HITS),
            (P_MISSES, W_RETIRED_MISSES),
        ] {
            let v = self.shm.proc_word(slot, w).swap(0, Ordering::Relaxed);
            self.shm.add(g, v);
        }
    }

    /// Number of processes attached: every one holds a shared lock on `ziggy.shm`, so count
    /// those where the system says, since the process table has only `PROC_SLOTS` slots.
    pub(crate) fn processes(&self) -> u64 {
        let listed = self.attached().len() as u64;
        self.shm_lock.holders().map_or(listed, |n| n.max(listed))
    }

    /// Attached processes now: (pid, reads, hits, misses) of each.
    pub(crate) fn attached(&self) -> Vec<(u32, u64, u64, u64)> {
        (0..PROC_SLOTS)
            .filter_map(|slot| {
                let pid = self.shm.proc_word(slot, P_PID).load(Ordering::Acquire);
                let alive = pid != 0
                    && process_start(pid as u32)
                        == Some(self.shm.proc_word(slot, P_START).load(Ordering::Relaxed));
                alive.then(|| {
                    let w = |i| self.shm.proc_word(slot, i).load(Ordering::Relaxed);
                    (pid as u32, w(P_READS), w(P_HITS), w(P_MISSES))
                })
            })
            .collect()
    }

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
        mut f: impl FnMut(&ReadView<'_>) -> Result<T>,
    ) -> Result<T> {
        self.check_fork()?;
        if self.shm.get(W_READY) == SHM_READY_REBUILDING {
            // Only point reads are answered from the old index while it is rebuilt (§10.4);
            // the rest waits for the rebuilt one, or rebuilds it if its rebuilder died.
            drop(self.writer_section(self.opts.lock_timeout)?);
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
            let guard = self.index.load();
            let r = match &*guard {
                Some(idx) if idx.gen == self.shm.get(W_INDEX_GEN) => f(&ReadView {
                    idx,
                    overlay: overlay.as_deref(),
                    publishing,
                    shared: self,
                }),
                _ => {
                    drop(guard);
                    self.current_index().and_then(|idx| {
                        f(&ReadView {
                            idx: &idx,
                            overlay: overlay.as_deref(),
                            publishing,
                            shared: self,
                        })
                    })
                }
            };
            fence(Ordering::Acquire);
            if seq.load(Ordering::Relaxed) == s1 {
                return r;
            }
        }
    }

    /// Whether the state says the index is being rebuilt beside this process (§10.4).
    pub(crate) fn rebuilding(&self) -> bool {
        self.shm.get(W_READY) == SHM_READY_REBUILDING
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
        let tail = self.rebuild_tail(from, end).ok()?;
        if let Some(meta) = tail.get(key, hash, internal) {
            return Some((meta.kind == KIND_PUT).then(|| Hit {
                map: Arc::clone(&tail.map),
                meta: *meta,
            }));
        }
        let idx = self.current_index().ok()?;
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
    pub(crate) fn lookup_many(
        &self,
        keys: &[&[u8]],
        mut f: impl FnMut(Option<(u8, &[u8])>) -> Result<()>,
    ) -> Result<()> {
        /// Where a found value is: `map` indexes the maps held (`u32::MAX`: not found).
        #[derive(Clone, Copy)]
        struct Found {
            map: u32,
            start: u32,
            len: u32,
            vtype: u8,
        }
        let none = Found {
            map: u32::MAX,
            start: 0,
            len: 0,
            vtype: 0,
        };
        let mut maps: Vec<Arc<SegmentMap>> = Vec::new();
        // Each map's place in `maps`, by its address.
        let mut map_at: HashMap<usize, usize> = HashMap::new();
        let mut found: Vec<Found> = crate::error::try_vec(keys.len())?;
        self.read_consistent(|idx| {
            maps.clear();
            map_at.clear();
            found.clear();
            for k in keys {
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
                found.push(Found {
                    map: u32::try_from(map).map_err(|_| beyond())?,
                    start: u32::try_from(h.meta.value_start).map_err(|_| beyond())?,
                    len: u32::try_from(h.meta.value_len).map_err(|_| beyond())?,
                    vtype: h.meta.vtype,
                });
            }
            Ok(())
        })?;
        for v in found {
            let value = maps.get(v.map as usize).map(|m| {
                let value = m.slice(v.start as usize, v.len as usize).unwrap_or(&[]);
                (v.vtype, value)
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
    pub(crate) fn key_written_since(&self, key: &[u8], mark: u64) -> Option<bool> {
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
                        .any(|(_, m)| !m.internal && m.key(&t.map) == key)
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
            Err(crate::lock::AcquireError::TimedOut) => {
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
            Err(crate::lock::AcquireError::Reentrant) => {
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
            match self
                .writer_lock
                .lock_exclusive_fair(timeout, &self.dir, claim)
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

    /// Under the writer lock: finishes a publish or a segment rotation that a dead writer left
    /// half done (format-spec.md §10.1).
    fn repair(&self) -> Result<()> {
        let rotating = self.shm.get(W_ROTATING);
        if rotating != 0 {
            // A rotation's id was allocated from `next_segment` and is at least the manifest's
            // active id; any other value is damage, and must not create a file under it.
            let active = u64::from(self.read_manifest()?.active);
            if rotating < active || rotating >= self.shm.get(W_NEXT_SEG) {
                return Err(Error::CorruptShm {
                    file: self.dir.join("ziggy.shm"),
                    reason: "the segment being rotated to is not one that could be allocated",
                });
            }
            // A rotation that cannot be finished (a full disk while its file is created) is
            // undone if the manifest does not name its segment yet, so that no commit and no
            // open fails because of it (§10.1 step 1).
            if let Err(e) = self.finish_rotation(rotating as u32) {
                if !self.undo_rotation(rotating as u32)? {
                    return Err(e);
                }
            }
        }
        let seq = self.shm.get(W_SEQ);
        if seq & 1 == 1 {
            self.finish_publish(seq)?;
        }
        if self.shm.get(W_READY) == SHM_READY_REBUILDING {
            self.finish_rebuild()?;
        }
        self.discard_unpublished()
    }

    /// A complete transaction right after the published end was appended by a writer that
    /// died before publishing it. It was never visible and never acknowledged, so it is not
    /// committed; but a cold rebuild would find its commit record and adopt it. Zero its first
    /// record header, durably, so that every path agrees it does not exist (§10.1 step 3).
    fn discard_unpublished(&self) -> Result<()> {
        let log_pos = self.shm.get(W_LOG_POS);
        let (seg, off) = (pos_seg(log_pos), pos_off(log_pos) as usize);
        let Ok(map) = self.segs.map(seg, off + RECORD_HEADER_LEN) else {
            return Ok(());
        };
        if map.slice(off + 4, 1).is_none_or(|kind| kind == [0]) {
            return Ok(());
        }
        match self.read_txn(log_pos)? {
            TxnRead::Txn(t) if t.txn == self.shm.get(W_NEXT_TXN) => {
                let file = self.segs.file(seg)?;
                let path = self.segs.path(seg);
                crate::io::write_all_at(&file, &[0u8; RECORD_HEADER_LEN], off as u64, &path)?;
                crate::io::sync_data(&file, &path).inspect_err(|_| self.poison())
            }
            _ => Ok(()),
        }
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
        if sealed_end(log_pos) + reserve > self.opts.segment_size
            && pos_off(log_pos) as usize > SEGMENT_HEADER_LEN
        {
            match self.rotate() {
                Ok(()) => log_pos = self.shm.get(W_LOG_POS),
                Err(Error::DiskFull { .. })
                    if deletes_only
                        && sealed_end(log_pos) <= self.shm.get(W_ACTIVE_ALLOC)
                        && sealed_end(log_pos) <= self.opts.segment_size => {}
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
        let need = (end + SEAL_LEN as u64 + reserve).min(self.opts.segment_size);
        if need > alloc {
            let want = need
                .max(alloc + alloc.clamp(INITIAL_ALLOC, GROW_STEP))
                .min(self.opts.segment_size);
            match crate::io::allocate(&file, want, &path) {
                Ok(()) => {
                    self.shm.set(W_ACTIVE_ALLOC, want);
                    self.shm.add(W_SEGMENT_BYTES, want - alloc);
                }
                Err(Error::DiskFull { .. }) if deletes_only && end + SEAL_LEN as u64 <= alloc => {}
                Err(e) => return Err(e),
            }
        }
        // One write of the whole transaction, as the log sees it: buffer, value, buffer, ...
        crate::io::write_stream_at(&file, len, off, &path, |sink| {
            let mut written = 0;
            let mut put = |piece: &[u8]| {
                written += piece.len();
                sink(piece)
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
                if crate::io::write_all_at(&file, &[0u8; RECORD_HEADER_LEN], off, &path).is_err() {
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
        records: impl Iterator<Item = (u64, RecMeta)>,
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
        let mut result = Ok(());
        let half = if count >= 2 { count / 2 } else { usize::MAX };
        for (i, (p, meta)) in records.enumerate() {
            if i == half {
                crate::pause::point("publish");
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
    /// Largest transaction (encoded) that fits in one segment.
    pub(crate) fn max_txn_bytes(&self) -> usize {
        (self.opts.segment_size as usize).saturating_sub(SEGMENT_HEADER_LEN + SEAL_LEN)
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
                    crate::pause::point("sync");
                    let r = self.sync_log(target);
                    self.sync_lock.unlock();
                    epoch.fetch_add(1, Ordering::AcqRel);
                    crate::map::futex_wake_all(epoch);
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
                        crate::map::futex_wake_all(epoch);
                        r?;
                        continue;
                    }
                }
                _ => stalled = Some((seen, Instant::now())),
            }
            let t = lock_stats::now();
            crate::map::futex_wait(epoch, seen, SYNC_SLEEP);
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
        let synced = crate::io::sync_data(&file, &self.segs.path(seg));
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

    /// Seals the active log segment and starts a new one. Writer lock held.
    pub(crate) fn rotate(&self) -> Result<()> {
        let log_pos = self.shm.get(W_LOG_POS);
        let old = pos_seg(log_pos);
        let off = pos_off(log_pos);
        let file = self.segs.file(old)?;
        let path = self.segs.path(old);
        let mut seal = Vec::with_capacity(SEAL_LEN);
        encode_record(
            &mut seal,
            KIND_SEAL,
            0,
            self.shm.get(W_NEXT_TXN),
            0,
            &[],
            &u64::from(off).to_le_bytes(),
        );
        crate::io::write_all_at(&file, &seal, u64::from(off), &path)?;
        crate::io::sync_data(&file, &path).inspect_err(|_| self.poison())?;
        self.shm
            .w(W_DURABLE_POS)
            .fetch_max(log_pos, Ordering::AcqRel);
        let id = self.shm.w(W_NEXT_SEG).fetch_add(1, Ordering::AcqRel) as u32;
        self.shm.set(W_ROTATING, u64::from(id));
        crate::pause::point("rotate");
        self.finish_rotation(id).inspect_err(|_| {
            // Before the manifest names the new segment, a failed rotation is undone, not
            // left for the next writer or opener to redo (§9.5): on a full disk that would
            // fail again and stop every commit and every open.
            let _ = self.undo_rotation(id);
        })
    }

    /// Undoes a rotation to segment `id` that failed (or whose writer died) before the
    /// manifest named `id` (format-spec.md §9.5): removes the file if it is provably this
    /// rotation's (this database's header with that id, or empty: a creation that got no
    /// further), and clears `rotating`. The SEAL written past the published end stays; the
    /// next commit overwrites it. `id` is not reused: `next_segment` has moved past it.
    /// Returns false, changing nothing, if the manifest already names `id`: then the rotation
    /// must be finished. Writer lock held.
    fn undo_rotation(&self, id: u32) -> Result<bool> {
        let man = self.read_manifest()?;
        if man.active == id || man.segments.iter().any(|&(s, _)| s == id) {
            return Ok(false);
        }
        self.segs.forget(id);
        let path = self.segs.path(id);
        let empty = std::fs::symlink_metadata(&path).is_ok_and(|m| m.is_file() && m.len() == 0);
        if (empty || segment::is_ours(&path, id, self.db_id()))
            && crate::io::remove_file(&path).is_ok()
        {
            let _ = crate::io::sync_dir(&self.dir);
        }
        self.shm.set(W_ROTATING, 0);
        Ok(true)
    }

    /// Second half of a rotation to segment `id`; idempotent, so a writer that finds
    /// `W_ROTATING` set after a crash can redo it.
    fn finish_rotation(&self, id: u32) -> Result<()> {
        let alloc = INITIAL_ALLOC.min(self.opts.segment_size);
        if self.segs.check_header(id).is_err() {
            self.segs
                .create(id, SEG_LOG, self.shm.get(W_NEXT_TXN), self.db_id(), alloc)?;
        } else {
            // The creation may have failed after the header (a full disk at the allocation,
            // a failed fsync): finish it rather than adopt the file as it is.
            self.segs.finish_create(id, alloc)?;
        }
        let mut man = self.read_manifest()?;
        if man.active != id {
            if !man.segments.iter().any(|&(s, _)| s == id) {
                man.segments.push((id, SEG_LOG));
                man.segments.sort_unstable();
            }
            man.active = id;
            man.write(&self.dir, self.mode)?;
        }
        let log_pos = pos(id, SEGMENT_HEADER_LEN as u32);
        if pos_seg(self.shm.get(W_LOG_POS)) != id {
            self.shm.set(W_LOG_POS, log_pos);
            self.shm
                .w(W_DURABLE_POS)
                .fetch_max(log_pos, Ordering::AcqRel);
            self.shm.set(W_ACTIVE_ALLOC, alloc);
            self.shm.add(W_SEGMENT_BYTES, alloc);
        }
        self.shm.set(W_SEGMENTS, man.segments.len() as u64);
        self.shm.set(W_ROTATING, 0);
        self.checkpoint()
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

    /// Makes the index on disk match the log up to the published end, so a cold open after
    /// an OS crash needs no rebuild (format-spec.md §9.3). Writer lock held.
    pub(crate) fn checkpoint(&self) -> Result<()> {
        let log_pos = self.shm.get(W_LOG_POS);
        let seg = pos_seg(log_pos);
        let file = self.segs.file(seg)?;
        crate::io::sync_data(&file, &self.segs.path(seg)).inspect_err(|_| self.poison())?;
        self.shm
            .w(W_DURABLE_POS)
            .fetch_max(log_pos, Ordering::AcqRel);
        let idx = self.current_index()?;
        idx.checkpoint(&self.checkpoint_fields())?;
        self.shm.set(W_WAL_BYTES, 0);
        self.shm.set(W_LAST_CHECKPOINT_MS, now_ms());
        self.shm.add(W_CHECKPOINTS, 1);
        Ok(())
    }

    fn checkpoint_fields(&self) -> Vec<(usize, u64)> {
        let mut fields = vec![
            (index::H_CKPT_POS, self.shm.get(W_LOG_POS)),
            (index::H_NEXT_TXN, self.shm.get(W_NEXT_TXN)),
            (index::H_NEXT_SEG, self.shm.get(W_NEXT_SEG)),
            (index::H_KEYS, self.shm.get(W_KEYS)),
            (index::H_LIVE, self.shm.get(W_LIVE_BYTES)),
            (index::H_DEAD, self.shm.get(W_DEAD_BYTES)),
            (index::H_EXPIRING, self.shm.get(W_EXPIRING)),
            (index::H_DB_ID, self.shm.get(W_DB_ID)),
        ];
        fields.extend(
            (0..TYPE_TAGS).map(|t| (index::H_TYPE_KEYS + t, self.shm.get(W_TYPE_KEYS + t))),
        );
        fields
    }

    /// Replaces the index with a larger (or tombstone-free) copy. Writer lock held. Readers
    /// keep using the old file until they see the new generation (format-spec.md §4.3).
    fn resize_index(&self, extra: u64) -> Result<()> {
        let old = self.current_index()?;
        let cap = index::capacity_for(old.used() + extra);
        let gen = old.gen + 1;
        let new = self.create_index(gen, cap)?;
        for (_, tag, loc) in old.live_slots() {
            new.insert_fresh(tag, loc);
        }
        let log_pos = self.shm.get(W_LOG_POS);
        let seg = pos_seg(log_pos);
        crate::io::sync_data(&*self.segs.file(seg)?, &self.segs.path(seg))
            .inspect_err(|_| self.poison())?;
        new.checkpoint(&self.checkpoint_fields())?;
        crate::io::sync_dir(&self.dir)?;
        self.publish_without_txn(|| self.shm.set(W_INDEX_GEN, gen));
        self.index.store(Some(Arc::new(new)));
        let _ = crate::io::remove_file(&old.path);
        Ok(())
    }

    /// Creates index file `gen` with `cap` slots, marked with the database id at once, so
    /// that a sweep can tell it this database's even if a crash comes before its first
    /// checkpoint (§6.3).
    fn create_index(&self, gen: u64, cap: u64) -> Result<IndexMap> {
        let idx = IndexMap::create(&self.dir, gen, cap, self.mode)?;
        idx.h(index::H_DB_ID)
            .store(self.shm.get(W_DB_ID), Ordering::Relaxed);
        Ok(idx)
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

    /// Rebuilds the index from the segments listed in `man` into generation `gen`
    /// (format-spec.md §10.2). `ckpt` is the checkpoint position of a previous index, if
    /// any: the log must reach at least that far.
    fn rebuild(&self, man: &Manifest, gen: u64, ckpt: Option<u64>) -> Result<()> {
        let mut puts = 0u64;
        self.scan_segments(man, ckpt, |_, _, meta| {
            puts += u64::from(meta.kind == KIND_PUT);
            Ok(())
        })?;
        let idx = self.create_index(gen, index::capacity_for(puts + 1))?;
        let mut max_txn = 0u64;
        let mut total = 0u64;
        let scan = self.scan_segments(man, ckpt, |map, p, meta| {
            max_txn = max_txn.max(meta.txn);
            total += meta.len as u64;
            let key = meta.key(map);
            let hash = index::hash_for(key, meta.internal);
            let mut old_txn = 0;
            let probe = idx.probe(hash, |loc| {
                let (m, old) = self.segs.record_at(loc)?;
                old_txn = old.txn;
                Ok(old.internal == meta.internal && old.key(&m) == key)
            })?;
            match probe {
                Probe::Found { slot, .. } if meta.txn >= old_txn => idx.set_loc(slot, p),
                Probe::Found { .. } => {}
                Probe::Absent { free: Some(slot) } => idx.insert(slot, hash, p),
                Probe::Absent { free: None } => {
                    return Err(Error::CorruptIndex {
                        file: idx.path.clone(),
                        reason: "index is full",
                    })
                }
            }
            Ok(())
        })?;
        // Keys whose newest record is a delete are absent.
        let mut keys = 0;
        let mut live = 0;
        let mut expiring = 0;
        let mut by_type = [0u64; TYPE_TAGS];
        let slots: Vec<(u64, u64)> = idx.live_slots().map(|(s, _, l)| (s, l)).collect();
        for (slot, loc) in slots {
            let (_, meta) = self.segs.record_at(loc)?;
            if meta.kind == KIND_PUT {
                keys += u64::from(!meta.internal);
                live += meta.len as u64;
                if !meta.internal {
                    expiring += u64::from(meta.expires_at != 0);
                    if let Some(n) = by_type.get_mut(usize::from(meta.vtype)) {
                        *n += 1;
                    }
                }
            } else {
                idx.remove(slot);
            }
        }
        // The table was sized for every record; shrink it to fit the live keys.
        let (idx, gen) = if index::capacity_for(keys) < idx.cap {
            let small = self.create_index(gen + 1, index::capacity_for(keys))?;
            for (_, tag, loc) in idx.live_slots() {
                small.insert_fresh(tag, loc);
            }
            let _ = crate::io::remove_file(&idx.path);
            (small, gen + 1)
        } else {
            (idx, gen)
        };
        let log_pos = pos(man.active, scan.log_end);
        let next_seg = u64::from(self.max_seg_id()?.max(man.active)) + 1;
        let alloc = std::fs::metadata(self.segs.path(man.active))
            .map(|m| m.len())
            .unwrap_or(0);
        // In a sequence section: other processes may be reading the old index (§10.4), and
        // this ends the rebuilding state.
        self.publish_without_txn(|| {
            self.shm.set(W_INDEX_GEN, gen);
            self.shm.set(W_LOG_POS, log_pos);
            self.shm.set(W_DURABLE_POS, log_pos);
            self.shm.set(W_NEXT_TXN, max_txn.max(scan.max_txn) + 1);
            self.shm.set(W_NEXT_SEG, next_seg);
            self.shm.set(W_KEYS, keys);
            self.shm.set(W_EXPIRING, expiring);
            for (t, n) in by_type.iter().enumerate() {
                self.shm.set(W_TYPE_KEYS + t, *n);
            }
            self.shm.set(W_LIVE_BYTES, live);
            self.shm
                .set(W_DEAD_BYTES, total.saturating_sub(live) + scan.other_bytes);
            self.shm.set(W_SEGMENTS, man.segments.len() as u64);
            self.shm.set(W_ACTIVE_ALLOC, alloc);
            if self.shm.get(W_READY) == SHM_READY_REBUILDING {
                self.shm.set(W_REBUILD_FROM, 0);
                self.shm.set(W_READY, SHM_READY);
            }
        });
        let file = self.segs.file(man.active)?;
        crate::io::sync_data(&file, &self.segs.path(man.active))?;
        idx.checkpoint(&self.checkpoint_fields())?;
        crate::io::sync_dir(&self.dir)?;
        self.index.store(Some(Arc::new(idx)));
        Ok(())
    }

    /// Calls `f` for every committed PUT/DEL record of every segment in `man`.
    pub(crate) fn scan_segments(
        &self,
        man: &Manifest,
        ckpt: Option<u64>,
        mut f: impl FnMut(&SegmentMap, u64, &RecMeta) -> Result<()>,
    ) -> Result<ScanEnd> {
        let mut end = ScanEnd {
            log_end: SEGMENT_HEADER_LEN as u32,
            max_txn: 0,
            other_bytes: 0,
        };
        for &(id, kind) in &man.segments {
            let hkind = self.segs.check_header(id)?;
            if hkind != kind {
                return Err(Error::CorruptSegment {
                    file: self.segs.path(id),
                    offset: 0,
                    reason: "segment kind in header differs from the manifest",
                });
            }
            if kind == SEG_COMPACTED {
                self.scan_compacted(id, &mut f, &mut end)?;
                continue;
            }
            let map = self.segs.map(id, self.segment_len(id)?)?;
            let (stop_at, stop) = scan_log(
                map.slice(0, map.len()).unwrap_or(&[]),
                id,
                SEGMENT_HEADER_LEN,
                |txn, records| {
                    for (p, meta) in records {
                        f(&map, *p, meta)?;
                    }
                    end.other_bytes += COMMIT_LEN as u64;
                    end.max_txn = end.max_txn.max(txn);
                    Ok(())
                },
            )?;
            let off = stop_at as u32;
            match stop {
                // A sealed segment ends at its seal; so does the active one after a rotation
                // that did not finish.
                LogStop::Seal => {}
                // The end of the active segment's log: whatever follows was never committed.
                _ if id == man.active => {}
                LogStop::Backwards => {
                    return Err(Error::CorruptWal {
                        file: self.segs.path(id),
                        offset: u64::from(off),
                        reason: "transaction ids go backwards in a sealed segment",
                    })
                }
                LogStop::End(reason) => {
                    return Err(Error::CorruptWal {
                        file: self.segs.path(id),
                        offset: u64::from(off),
                        reason,
                    })
                }
            }
            if id == man.active {
                end.log_end = off;
                if let Some(c) = ckpt.filter(|&c| pos_seg(c) == id) {
                    if off < pos_off(c) {
                        return Err(Error::CorruptWal {
                            file: self.segs.path(id),
                            offset: u64::from(off),
                            reason:
                                "log ends before the last checkpoint: a committed record is damaged",
                        });
                    }
                }
            }
        }
        Ok(end)
    }

    fn scan_compacted(
        &self,
        id: u32,
        f: &mut impl FnMut(&SegmentMap, u64, &RecMeta) -> Result<()>,
        end: &mut ScanEnd,
    ) -> Result<()> {
        let map = self.segs.map(id, self.segment_len(id)?)?;
        let mut off = SEGMENT_HEADER_LEN;
        loop {
            let buf = map.slice(off, map.len().saturating_sub(off)).unwrap_or(&[]);
            match decode_record(buf) {
                Ok(r) if r.kind == KIND_SEAL => return Ok(()),
                Ok(r) if r.kind == KIND_PUT => {
                    let meta = RecMeta::from_record(&r, off);
                    end.max_txn = end.max_txn.max(r.txn);
                    f(&map, pos(id, off as u32), &meta)?;
                    off += r.len;
                }
                Ok(_) => {
                    return Err(Error::CorruptSegment {
                        file: self.segs.path(id),
                        offset: off as u64,
                        reason: "unexpected record kind in a compacted segment",
                    })
                }
                Err(DecodeError::Checksum { expected, found }) => {
                    return Err(Error::ChecksumMismatch {
                        file: self.segs.path(id),
                        offset: off as u64,
                        expected,
                        found,
                    })
                }
                Err(e) => {
                    return Err(Error::CorruptSegment {
                        file: self.segs.path(id),
                        offset: off as u64,
                        reason: e.reason(),
                    })
                }
            }
        }
    }

    /// Last-process checkpoint and detach (format-spec.md §6.2). Without `ziggy.lock`: the
    /// exclusive try on `ziggy.shm` alone decides "last", so a stalled opener never delays a
    /// close, and the lock goes back to shared at once, so a close delays no open.
    fn detach(&self) {
        if !self.attached {
            return;
        }
        self.flusher_stop.store(true, Ordering::Relaxed);
        if matches!(self.opts.durability, Durability::Batched { .. }) {
            let _ = self.sync_to(self.shm.get(W_LOG_POS));
        }
        if let Some(slot) = self.slot {
            self.retire_counters(slot);
            self.shm.proc_word(slot, P_PID).store(0, Ordering::Release);
        }
        // On Linux a failed conversion from shared to exclusive has already dropped the
        // shared lock: fine, this process is leaving either way.
        if matches!(self.shm_lock.try_lock_exclusive(), Ok(true)) {
            // Last process: checkpoint so the next open (even after a reboot) is O(1). The
            // checkpoint needs only the writer lock (a rotation's runs beside other
            // processes), so go back to shared first: a process attaching meanwhile need
            // not wait for it, and checkpoints when it is the last to leave.
            let _ = self.shm_lock.lock_shared();
            crate::pause::point("detach");
            if self.lock_writer(Some(Duration::from_millis(100))).is_ok() {
                let idx = self.current_index();
                let dirty = idx.map(|i| !i.is_clean()).unwrap_or(false);
                if dirty && self.shm.get(W_POISONED) == 0 {
                    let _ = self.checkpoint();
                }
                self.unlock_writer();
            }
        }
        self.shm_lock.unlock();
    }
}

/// The index of a warm shared state (format-spec.md §6.3): magic, version and `ready` of
/// this layout, the current boot, not poisoned, and the index file it names exists and
/// belongs to the manifest's database (returned with it). `None` if the state is not warm.
fn warm_index(shm: &Shm, dir: &Path) -> Option<(IndexMap, Manifest)> {
    let (b0, b1) = boot_id();
    let words = shm.get(W_MAGIC) == SHM_MAGIC
        && shm.get(W_VERSION) == SHM_VERSION
        && matches!(shm.get(W_READY), SHM_READY | SHM_READY_REBUILDING)
        && shm.get(W_BOOT0) == b0
        && shm.get(W_BOOT1) == b1
        && shm.get(W_POISONED) == 0;
    if !words {
        return None;
    }
    let idx = IndexMap::open(dir, shm.get(W_INDEX_GEN)).ok()?;
    let man = Manifest::read(dir).ok().flatten()?;
    index_belongs(&idx, &man).then_some((idx, man))
}

/// Whether the shared state in `file` (locked shared by an opener holding `ziggy.lock`) is
/// what attached processes use: initialised for this boot, or of another layout (which
/// [`Shared::check_attached_layout`] refuses). Otherwise the other holder is only looking
/// at a state it will not attach to (a stale one from before a reboot, one a repair
/// invalidated or a crashed cold start left half written) and is about to let go of it.
fn attached_state(file: &std::fs::File) -> bool {
    use std::os::unix::fs::FileExt;
    let mut b = [0u8; 40];
    if file.read_exact_at(&mut b, 0).is_err() {
        return false;
    }
    let w = |i: usize| u64::from_le_bytes(b[i * 8..i * 8 + 8].try_into().unwrap_or([0; 8]));
    let (b0, b1) = boot_id();
    let (magic, version, ready) = (w(W_MAGIC), w(W_VERSION), w(W_READY));
    let ours = matches!(ready, SHM_READY | SHM_READY_REBUILDING);
    let other_layout = version != SHM_VERSION || (ready != 0 && !ours);
    let current = ours && w(W_BOOT0) == b0 && w(W_BOOT1) == b1;
    magic == SHM_MAGIC && (other_layout || current)
}

/// Takes `ziggy.lock` (format-spec.md §6.1 step 2), waiting as [`Progress`] says: past
/// `timeout` while its holder runs and makes progress (a cold start's rebuild is bounded
/// by the data size), never for a stopped or stalled one.
fn wait_for_open_lock(lock: &LockFile, dir: &Path, timeout: Option<Duration>) -> Result<()> {
    if lock.try_lock_exclusive()? {
        return Ok(());
    }
    let Some(t) = timeout else {
        return lock.lock_exclusive(None, dir);
    };
    let mut watch = Progress::start(lock);
    loop {
        match lock.lock_exclusive(Some(t), dir) {
            Err(Error::Busy { .. }) => watch.give_up(lock, "ziggy.lock", dir, t)?,
            r => return r,
        }
    }
}

/// The holder of a lock that a process holds while it opens or recovers the database, as
/// last seen: its pid and the CPU time it had used.
struct Progress {
    last: Option<(u32, u64)>,
    /// Waits in a row that ended with this process itself holding the lock.
    own: u32,
}

impl Progress {
    fn start(lock: &LockFile) -> Self {
        let last = lock
            .holder()
            .as_deref()
            .and_then(holder_pid)
            .and_then(|pid| {
                process_progress(pid)
                    .filter(|&(stopped, _)| !stopped)
                    .map(|(_, cpu)| (pid, cpu))
            });
        Self { last, own: 0 }
    }

    /// At the end of a wait of `timeout`: `Ok` to wait once more, if the holder is another
    /// process than last time or the same one running and using CPU since, or the one
    /// watched let go just now; otherwise the `Busy` error for `lock`, naming the holder and
    /// what it was doing. A zero timeout never waits again.
    fn give_up(
        &mut self,
        lock: &LockFile,
        name: &'static str,
        dir: &Path,
        timeout: Duration,
    ) -> Result<()> {
        let holder = lock.holder();
        if holder.is_none() && self.last.take().is_some() && !timeout.is_zero() {
            // The holder watched has let go since the wait ended: try again.
            return Ok(());
        }
        // This process's own waiter thread can hold the lock for a moment when the wait timed
        // out just as the holder let go: its `flock` returned after the requester gave up,
        // and it lets go again at once (`LockFile::lock_exclusive`). That is the lock coming
        // free, not a holder to blame: wait again (a few times, so that a lock this process
        // keeps through another handle still ends in `Busy`).
        let holder_pid_now = holder.as_deref().and_then(holder_pid);
        if holder_pid_now == Some(std::process::id()) && !timeout.is_zero() && self.own < 3 {
            self.own += 1;
            return Ok(());
        }
        self.own = 0;
        let pid = holder_pid_now.filter(|&p| p != std::process::id());
        let doing = pid.and_then(|p| opener_phase(dir, p));
        // Only a holder that says it is opening or recovering (work of ours, bounded by the
        // data size) earns more time, and only while it runs: any other holder (a
        // repair, a read-only open, a process stalled before it said anything) gets the
        // plain timeout, as does one that is stopped or used no CPU during the whole wait.
        if let (Some(pid), Some(_)) = (pid, doing) {
            if let Some((false, cpu)) = process_progress(pid) {
                let moved = self.last.is_none_or(|(lp, lc)| lp != pid || cpu > lc);
                self.last = Some((pid, cpu));
                if moved && !timeout.is_zero() {
                    return Ok(());
                }
            }
        }
        Err(Error::Busy {
            path: dir.to_path_buf(),
            lock: name,
            holder: holder.map(|h| match doing {
                Some(doing) => format!("{h}, while {doing}"),
                None => h,
            }),
        })
    }
}

/// The pid in a holder description of [`LockFile::holder`] ("process PID ...").
fn holder_pid(holder: &str) -> Option<u32> {
    let rest = holder.strip_prefix("process ")?;
    let end = rest
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(rest.len());
    rest.get(..end)?.parse().ok()
}

/// What process `pid` says in `ziggy.shm` word `W_OPENER` that it is doing, for a message.
fn opener_phase(dir: &Path, pid: u32) -> Option<&'static str> {
    use std::os::unix::fs::FileExt;
    let file = crate::io::open_file(&dir.join("ziggy.shm"), false).ok()?;
    let mut b = [0u8; 8];
    file.read_exact_at(&mut b, (W_OPENER * 8) as u64).ok()?;
    let w = u64::from_le_bytes(b);
    if w as u32 != pid {
        return None;
    }
    match w >> 32 {
        OPENER_OPENING => Some("opening the database (checking and repairing its shared state)"),
        OPENER_RECOVERING => {
            Some("recovering the database (rebuilding its shared state and index after a restart)")
        }
        _ => None,
    }
}

impl Drop for Shared {
    fn drop(&mut self) {
        if self.forked() {
            // The process slot and the locks are the parent's (closing the inherited files
            // releases no flock the parent holds through them).
            return;
        }
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

/// How reading one transaction from the bytes of a log segment ended.
pub(crate) enum TxnParse {
    /// A complete transaction: its id, the position and metadata of each PUT/DEL record, and
    /// the offset just past its commit record.
    Txn {
        txn: u64,
        records: Vec<(u64, RecMeta)>,
        end: usize,
    },
    /// A seal record: the segment ends here.
    Seal,
    /// No complete, valid transaction here: the end of the log (or damage).
    End(&'static str),
}

/// Reads the transaction at offset `off` of `buf`, the bytes of log segment `id` (which only
/// names the records' positions), checking each record and the transaction's shape
/// (format-spec.md §3.3).
pub(crate) fn parse_txn(buf: &[u8], id: u32, mut off: usize) -> TxnParse {
    let mut records = Vec::new();
    let mut txn = None;
    loop {
        let Some(rest) = buf.get(off..) else {
            return TxnParse::End(DecodeError::Truncated.reason());
        };
        let r = match decode_record(rest) {
            Ok(r) => r,
            Err(e) => return TxnParse::End(e.reason()),
        };
        if r.kind == KIND_SEAL {
            return if records.is_empty() {
                TxnParse::Seal
            } else {
                TxnParse::End("seal inside a transaction")
            };
        }
        if *txn.get_or_insert(r.txn) != r.txn {
            return TxnParse::End("transaction id changes before its commit record");
        }
        let meta = RecMeta::from_record(&r, off);
        let here = pos(id, off as u32);
        off += r.len;
        if r.kind == KIND_COMMIT {
            let count = crate::record::le_u64(r.value, 0).unwrap_or(u64::MAX);
            if count != records.len() as u64 {
                return TxnParse::End("commit record count does not match");
            }
            return TxnParse::Txn {
                txn: r.txn,
                records,
                end: off,
            };
        }
        records.push((here, meta));
    }
}

/// Why the log of a segment ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum LogStop {
    /// At a seal record.
    Seal,
    /// At bytes that are no complete, valid transaction.
    End(&'static str),
    /// At a transaction whose id is not greater than the previous one's.
    Backwards,
}

/// Scans the log of segment `id` in `buf` from offset `start`, calling `f` with the id and
/// the records of each transaction in order, up to the first that ends the log (format-spec.md
/// §3.3). Returns where the log ends and why.
pub(crate) fn scan_log(
    buf: &[u8],
    id: u32,
    start: usize,
    mut f: impl FnMut(u64, &[(u64, RecMeta)]) -> Result<()>,
) -> Result<(usize, LogStop)> {
    let mut off = start;
    let mut prev = 0u64;
    loop {
        match parse_txn(buf, id, off) {
            TxnParse::Txn { txn, records, end } if txn > prev => {
                f(txn, &records)?;
                prev = txn;
                off = end;
            }
            TxnParse::Txn { .. } => return Ok((off, LogStop::Backwards)),
            TxnParse::Seal => return Ok((off, LogStop::Seal)),
            TxnParse::End(reason) => return Ok((off, LogStop::End(reason))),
        }
    }
}

/// Where a full scan ended.
pub(crate) struct ScanEnd {
    pub log_end: u32,
    pub max_txn: u64,
    pub other_bytes: u64,
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
