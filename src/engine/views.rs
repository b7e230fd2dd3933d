//! Read views (format-spec.md §8.2): a reader that answers as of one commit while others
//! write and compact.
//!
//! The index is updated in place, so a view at txn `T` that meets a key written after `T`
//! needs the key's older slot value. A view registers in `ziggy.views` (its process, `T`,
//! where the undo ring stood and the compaction epoch) and counts itself in `ziggy.shm` word
//! `views`. A writer that publishes while that word is not 0 first saves, for every slot its
//! transaction changes, the slot's old position with the replacing txn into the undo ring of
//! `ziggy.views`; a view's read finds there the first change after `T` of each key it reads.
//! The ring is bounded: a view older than the ring's length of slot changes gets
//! [`Error::SnapshotTooOld`]. Compaction keeps the files of its victims while a view that
//! registered before it relocated may still read them, and the next compaction's sweep
//! deletes them once no such view is left (a view of a dead process does not count).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{fence, AtomicU64, AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::engine::{Hit, Shared, PUBLISH_SPIN};
use crate::error::{Error, Result};
use crate::format::index::{IndexMap, Probe};
use crate::format::segment::RecMeta;
use crate::format::shm::{W_NEXT_TXN, W_SEQ, W_UNDO_SEQ, W_VIEWS, W_VIEWS_LOST};
use crate::os::lock::LockFile;
use crate::os::map::{SegmentMap, SharedWords};

/// The runtime file of read views, created by the first view of the directory.
pub(crate) const VIEWS_FILE: &str = "ziggy.views";

const MAGIC: u64 = u64::from_le_bytes(*b"ZGVIEW\r\n");
const VERSION: u64 = 1;

// Header words.
const H_MAGIC: usize = 0;
const H_VERSION: usize = 1;
const H_BOOT0: usize = 2;
const H_BOOT1: usize = 3;
const H_SLOTS: usize = 4;
const H_RING: usize = 5;
/// Undo entries written so far (entry `j` is at ring slot `j mod RING`).
const H_HEAD: usize = 8;
/// Compactions that relocated records since the file was initialised.
const H_EPOCH: usize = 9;

/// Views open at once in all processes.
pub(crate) const VIEW_SLOTS: usize = 512;
const SLOT_BASE: usize = 512;
const SLOT_WORDS: usize = 8;
// Slot words: 0 owner (pid << 32 | low 32 bits of its start time; 0 free, `TOMB` while a
// dead owner's slot is freed), 1 txn `T`, 2 the ring head when the view began, 3 the
// compaction epoch then, 4 kind: 0 a view, 1 its process's count in `ziggy.shm` word
// `views`. A free slot holds epoch 0 and head `u64::MAX` (a view that has not yet stored
// its own pins everything).
const S_OWNER: usize = 0;
const S_TXN: usize = 1;
const S_HEAD0: usize = 2;
const S_EPOCH: usize = 3;
const S_KIND: usize = 4;
const KIND_COUNT: u64 = 1;
const TOMB: u64 = u64::MAX;

/// Undo entries the ring holds: a view answers until this many slot changes were committed
/// after it began.
pub(crate) const RING: u64 = 1 << 18;
const RING_BASE: usize = SLOT_BASE + VIEW_SLOTS * SLOT_WORDS;
// Entry words: 0 stamp (entry number + 1 once written, 0 while being written), 1 replacing
// txn, 2 key hash (`hash_for`), 3 old position (0: the key was absent), 4 the replacing
// record's position.
const ENTRY_WORDS: usize = 5;
const FILE_LEN: u64 = ((RING_BASE + RING as usize * ENTRY_WORDS) * 8) as u64;

/// This process's `ziggy.views`.
pub(crate) struct ViewsFile {
    map: SharedWords,
    path: PathBuf,
}

/// One undo entry: a slot change of txn `txn`.
#[derive(Clone, Copy)]
struct Entry {
    txn: u64,
    hash: u64,
    old: u64,
    new: u64,
}

impl ViewsFile {
    /// Opens `ziggy.views`, creating it if `create` (otherwise `None` if it does not exist),
    /// and initialising it under its lock if it is new, half-initialised or from before a
    /// reboot.
    fn open(
        dir: &Path,
        mode: u32,
        timeout: Option<Duration>,
        create: bool,
    ) -> Result<Option<Self>> {
        let path = dir.join(VIEWS_FILE);
        if !create && std::fs::symlink_metadata(&path).is_err() {
            return Ok(None);
        }
        let file = LockFile::open(&path, mode)?;
        file.lock_exclusive(timeout, &path)?;
        let r = Self::prepare(&file, &path);
        file.unlock();
        Ok(Some(ViewsFile { map: r?, path }))
    }

    fn prepare(file: &LockFile, path: &PathBuf) -> Result<SharedWords> {
        let len = file.file.metadata().map_err(|e| Error::io(path, e))?.len();
        let boot = crate::os::proc::boot_id();
        if len == FILE_LEN {
            let map = SharedWords::open(&file.file, path)?;
            let w = map.words();
            let get = |i: usize| w[i].load(Ordering::Acquire);
            if get(H_MAGIC) == MAGIC && (get(H_BOOT0), get(H_BOOT1)) == boot {
                if get(H_VERSION) != VERSION {
                    return Err(Error::IncompatibleVersion {
                        file: path.clone(),
                        found: u16::try_from(get(H_VERSION)).unwrap_or(u16::MAX),
                        supported: VERSION as u16,
                    });
                }
                if get(H_SLOTS) != VIEW_SLOTS as u64 || get(H_RING) != RING {
                    return Err(Error::CorruptShm {
                        file: path.clone(),
                        reason: "ziggy.views has another number of view slots or ring entries",
                    });
                }
                return Ok(map);
            }
        }
        // New, half-initialised, or from an earlier boot: no process of this boot maps it,
        // since every process maps it only after seeing this boot's magic under the lock.
        file.file.set_len(0).map_err(|e| Error::io(path, e))?;
        crate::os::map::fallocate(&file.file, FILE_LEN).map_err(|e| Error::io(path, e))?;
        let map = SharedWords::open(&file.file, path)?;
        let w = map.words();
        w[H_VERSION].store(VERSION, Ordering::Relaxed);
        w[H_BOOT0].store(boot.0, Ordering::Relaxed);
        w[H_BOOT1].store(boot.1, Ordering::Relaxed);
        w[H_SLOTS].store(VIEW_SLOTS as u64, Ordering::Relaxed);
        w[H_RING].store(RING, Ordering::Relaxed);
        for s in 0..VIEW_SLOTS {
            w[SLOT_BASE + s * SLOT_WORDS + S_HEAD0].store(u64::MAX, Ordering::Relaxed);
        }
        w[H_MAGIC].store(MAGIC, Ordering::Release);
        Ok(map)
    }

    fn w(&self, i: usize) -> &AtomicU64 {
        &self.map.words()[i]
    }

    fn slot(&self, s: usize, i: usize) -> &AtomicU64 {
        self.w(SLOT_BASE + s * SLOT_WORDS + i)
    }

    fn head(&self) -> u64 {
        self.w(H_HEAD).load(Ordering::SeqCst)
    }

    /// Writes entry `j` (the writer lock is held: one writer at a time).
    fn write_entry(&self, j: u64, e: Entry) {
        let base = RING_BASE + (j % RING) as usize * ENTRY_WORDS;
        let stamp = self.w(base);
        stamp.store(0, Ordering::Relaxed);
        fence(Ordering::Release);
        self.w(base + 1).store(e.txn, Ordering::Relaxed);
        self.w(base + 2).store(e.hash, Ordering::Relaxed);
        self.w(base + 3).store(e.old, Ordering::Relaxed);
        self.w(base + 4).store(e.new, Ordering::Relaxed);
        stamp.store(j + 1, Ordering::Release);
    }

    /// Entry `j`, unless it was overwritten (the ring wrapped past it).
    fn read_entry(&self, j: u64) -> Option<Entry> {
        let base = RING_BASE + (j % RING) as usize * ENTRY_WORDS;
        let stamp = self.w(base);
        if stamp.load(Ordering::Acquire) != j + 1 {
            return None;
        }
        let e = Entry {
            txn: self.w(base + 1).load(Ordering::Relaxed),
            hash: self.w(base + 2).load(Ordering::Relaxed),
            old: self.w(base + 3).load(Ordering::Relaxed),
            new: self.w(base + 4).load(Ordering::Relaxed),
        };
        fence(Ordering::Acquire);
        (stamp.load(Ordering::Relaxed) == j + 1).then_some(e)
    }

    /// Whether some view that began before compaction epoch `epoch`, in a live process and
    /// still within the ring's bound, may read records of segments compacted since. Frees
    /// the slots of dead processes on the way.
    fn pinned_before(&self, epoch: u64, shared: &Shared) -> bool {
        let head = self.head();
        let mut pinned = false;
        for s in 0..VIEW_SLOTS {
            let owner = self.slot(s, S_OWNER).load(Ordering::SeqCst);
            if owner == 0 || owner == TOMB {
                continue;
            }
            if !owner_alive(owner) {
                release_dead(self, s, owner, shared);
                continue;
            }
            if self.slot(s, S_KIND).load(Ordering::SeqCst) != KIND_COUNT
                && self.slot(s, S_EPOCH).load(Ordering::SeqCst) < epoch
                && head.saturating_sub(self.slot(s, S_HEAD0).load(Ordering::SeqCst)) <= RING
            {
                pinned = true;
            }
        }
        pinned
    }
}

/// This process's owner word: pid and the low 32 bits of its start time (`pid` is the
/// handle's: a forked child is refused before it gets here).
fn own_owner(pid: u32) -> u64 {
    static OWN: AtomicU64 = AtomicU64::new(0);
    let w = OWN.load(Ordering::Relaxed);
    if w != 0 && (w >> 32) as u32 == pid {
        return w;
    }
    let start = crate::os::proc::process_start(pid).unwrap_or(0);
    let w = u64::from(pid) << 32 | (start & 0xFFFF_FFFF);
    OWN.store(w, Ordering::Relaxed);
    w
}

/// Whether the process of an owner word is alive (the same pid and start time).
fn owner_alive(owner: u64) -> bool {
    let pid = (owner >> 32) as u32;
    crate::os::proc::process_start(pid).is_some_and(|s| s & 0xFFFF_FFFF == owner & 0xFFFF_FFFF)
}

/// Frees slot `s` of a dead process (owner word `owner`), uncounting the process if it is
/// its count.
fn release_dead(file: &ViewsFile, s: usize, owner: u64, shared: &Shared) {
    if file
        .slot(s, S_OWNER)
        .compare_exchange(owner, TOMB, Ordering::SeqCst, Ordering::SeqCst)
        .is_ok()
    {
        if file.slot(s, S_KIND).load(Ordering::SeqCst) == KIND_COUNT {
            uncount(shared);
        }
        free_slot(file, s);
    }
}

/// Frees slot `s`, held by the caller, leaving it the values of a free slot.
fn free_slot(file: &ViewsFile, s: usize) {
    file.slot(s, S_KIND).store(0, Ordering::Relaxed);
    file.slot(s, S_EPOCH).store(0, Ordering::Relaxed);
    file.slot(s, S_HEAD0).store(u64::MAX, Ordering::Relaxed);
    file.slot(s, S_OWNER).store(0, Ordering::Release);
}

fn uncount(shared: &Shared) {
    let _ = shared
        .shm
        .w(W_VIEWS)
        .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |c| {
            Some(c.saturating_sub(1))
        });
}

/// The slot this process freed last, tried first by its next view.
static HINT: AtomicUsize = AtomicUsize::new(0);

/// A registered view: the txn it reads at, and what its reads found in the undo ring.
pub(crate) struct At<'a> {
    pub(crate) txn: u64,
    head0: u64,
    lost0: u64,
    /// `None` for a read-only handle, whose state never changes.
    reg: Option<(&'a ViewsFile, usize)>,
    shared: &'a Shared,
    /// Made at the first read that needs the ring (a view with no commit after it never
    /// needs one).
    cache: Mutex<Option<Box<Cache>>>,
}

#[derive(Default)]
struct Cache {
    /// Ring entries read so far.
    ingested: u64,
    /// Per key hash, the (old, new) positions of the slot changes after the view's txn, in
    /// txn order.
    changes: HashMap<u64, Vec<(u64, u64)>>,
}

impl<'a> At<'a> {
    /// Registers a view of the current state of `shared`.
    #[inline]
    pub(crate) fn register(shared: &'a Shared) -> Result<At<'a>> {
        shared.check_fork()?;
        if shared.read_only {
            return Ok(At {
                txn: shared.shm.get(W_NEXT_TXN).saturating_sub(1),
                head0: 0,
                lost0: 0,
                reg: None,
                shared,
                cache: Mutex::new(None),
            });
        }
        let file = shared.views_file(true)?.ok_or(Error::Poisoned)?;
        let head0 = file.head();
        let epoch = file.w(H_EPOCH).load(Ordering::SeqCst);
        let lost0 = shared.shm.w(W_VIEWS_LOST).load(Ordering::Acquire);
        let me = own_owner(shared.pid);
        let slot = claim(file, me, shared).ok_or_else(|| {
            Error::InvalidArgument(format!(
                "too many read views open at once ({VIEW_SLOTS} in all processes)"
            ))
        })?;
        file.slot(slot, S_HEAD0).store(head0, Ordering::Release);
        file.slot(slot, S_EPOCH).store(epoch, Ordering::Release);
        // The process is counted before the txn is read: a writer that publishes after this
        // sees the count and saves what it overwrites. Its store of the odd sequence, a
        // sequentially consistent fence and its load of the count; here the count (a
        // sequentially consistent read-modify-write, by this view or an earlier one of the
        // process whose count this load reads) and a sequentially consistent load of the
        // sequence: one of the two sees the other. The process stays counted while it has
        // views, and is uncounted about a second after its last ([`Shared::views_idle`]).
        let counted = match shared.views.count.load(Ordering::SeqCst) {
            0 => count_process(shared, file, me),
            _ => Ok(()),
        };
        let txn = match counted.and_then(|()| current_txn(shared)) {
            Ok(t) => t,
            Err(e) => {
                unregister(shared, file, slot);
                return Err(e);
            }
        };
        file.slot(slot, S_TXN).store(txn, Ordering::Relaxed);
        Ok(At {
            txn,
            head0,
            lost0,
            reg: Some((file, slot)),
            shared,
            cache: Mutex::new(None),
        })
    }

    fn too_old(&self) -> Error {
        Error::SnapshotTooOld {
            txn: self.txn,
            limit: RING,
        }
    }

    /// The record of `key` at the view's txn, given `cur`, what the current state holds.
    pub(crate) fn resolve(
        &self,
        shared: &Shared,
        key: &[u8],
        hash: u64,
        internal: bool,
        cur: Option<Hit>,
    ) -> Result<Option<Hit>> {
        if cur.as_ref().is_some_and(|h| h.meta.txn <= self.txn) {
            return Ok(cur);
        }
        let Some((file, _)) = &self.reg else {
            return Ok(cur);
        };
        if shared.shm.w(W_VIEWS_LOST).load(Ordering::Acquire) != self.lost0 {
            return Err(self.too_old());
        }
        let mut guard = self.cache.lock().unwrap_or_else(|e| e.into_inner());
        let c = guard.get_or_insert_with(Box::default);
        let head = file.head();
        if head.saturating_sub(self.head0) > RING {
            return Err(self.too_old());
        }
        if c.ingested < self.head0 {
            c.ingested = self.head0;
        }
        while c.ingested < head {
            let e = file.read_entry(c.ingested).ok_or_else(|| self.too_old())?;
            if e.txn > self.txn {
                c.changes.entry(e.hash).or_default().push((e.old, e.new));
            }
            c.ingested += 1;
        }
        if let Some(list) = c.changes.get(&hash) {
            for &(old, new) in list {
                if shared.segs.key_at(new, key, internal)?.holds {
                    if old == 0 {
                        return Ok(None);
                    }
                    let (map, meta) = shared.segs.record_at(old)?;
                    return Ok(Some(Hit { map, meta }));
                }
            }
        }
        match cur {
            None => Ok(None),
            Some(_) => Err(Error::CorruptShm {
                file: file.path.clone(),
                reason: "a key written after a read view began has no saved older version",
            }),
        }
    }
}

impl Drop for At<'_> {
    fn drop(&mut self) {
        if let Some((file, slot)) = self.reg.take() {
            unregister(self.shared, file, slot);
        }
    }
}

/// Frees the view slot `slot` of this process.
fn unregister(shared: &Shared, file: &ViewsFile, slot: usize) {
    if shared.forked() {
        return;
    }
    free_slot(file, slot);
    HINT.store(slot, Ordering::Relaxed);
}

/// Counts this process in `ziggy.shm` word `views`, with a slot of kind count that a
/// cleaner uncounts if the process dies.
fn count_process(shared: &Shared, file: &ViewsFile, me: u64) -> Result<()> {
    let _g = shared.views.lock.lock().unwrap_or_else(|e| e.into_inner());
    if shared.views.count.load(Ordering::SeqCst) != 0 {
        return Ok(());
    }
    let s = claim(file, me, shared).ok_or_else(|| {
        Error::InvalidArgument(format!(
            "too many read views open at once ({VIEW_SLOTS} in all processes)"
        ))
    })?;
    // Counted, then marked: a process that dies between the two is counted until the
    // state is created anew (harmless: commits save old values for no one).
    shared.shm.w(W_VIEWS).fetch_add(1, Ordering::SeqCst);
    file.slot(s, S_KIND).store(KIND_COUNT, Ordering::SeqCst);
    shared.views.count.store(s + 1, Ordering::SeqCst);
    Ok(())
}

/// This process's part in read views: its `ziggy.views` and its count.
#[derive(Default)]
pub(crate) struct Local {
    file: std::sync::OnceLock<ViewsFile>,
    /// The slot of kind count of this process, plus one; 0 if it is not counted.
    count: AtomicUsize,
    /// Held while the process is counted or uncounted.
    lock: Mutex<()>,
    /// The thread that uncounts the process once it has no view.
    worker: std::sync::OnceLock<()>,
}

impl Shared {
    /// Uncounts this process if it has no view open (`all`: whatever it has, at close).
    pub(crate) fn views_idle(&self, all: bool) {
        let _g = self.views.lock.lock().unwrap_or_else(|e| e.into_inner());
        let c = self.views.count.load(Ordering::SeqCst);
        let Some(file) = self.views.file.get().filter(|_| c != 0) else {
            return;
        };
        self.views.count.store(0, Ordering::SeqCst);
        let me = own_owner(self.pid);
        // A view that began counted claimed its slot before it read the count: either it
        // is seen here, or it saw 0 and counts the process again.
        let open = (0..VIEW_SLOTS).any(|s| {
            s != c - 1
                && file.slot(s, S_OWNER).load(Ordering::SeqCst) == me
                && file.slot(s, S_KIND).load(Ordering::SeqCst) != KIND_COUNT
        });
        if open && !all {
            self.views.count.store(c, Ordering::SeqCst);
            return;
        }
        self.shm.w(W_VIEWS).fetch_sub(1, Ordering::SeqCst);
        free_slot(file, c - 1);
    }
}

/// Starts (once per handle) the thread that uncounts the process a second after its last
/// view.
pub(crate) fn start_worker(s: &std::sync::Arc<Shared>, handle: &crate::engine::Handle) {
    if s.read_only {
        return;
    }
    s.views.worker.get_or_init(|| {
        let t = crate::engine::spawn_worker(s, "ziggydb-views", Duration::from_secs(1), |s| {
            s.views_idle(false)
        });
        if let Some(t) = t {
            handle
                .workers
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .push(t);
        }
    });
}

/// Claims a free slot (or one of a dead process) for owner `me`; it holds the values of a
/// free slot.
fn claim(file: &ViewsFile, me: u64, shared: &Shared) -> Option<usize> {
    let hint = HINT.load(Ordering::Relaxed) % VIEW_SLOTS;
    let free = |s: usize| {
        file.slot(s, S_OWNER)
            .compare_exchange(0, me, Ordering::SeqCst, Ordering::SeqCst)
            .is_ok()
    };
    if let Some(s) = (hint..VIEW_SLOTS).chain(0..hint).find(|&s| free(s)) {
        return Some(s);
    }
    for s in 0..VIEW_SLOTS {
        let owner = file.slot(s, S_OWNER).load(Ordering::SeqCst);
        if owner != 0 && !owner_alive(owner) {
            release_dead(file, s, owner, shared);
            if free(s) {
                return Some(s);
            }
        }
    }
    None
}

/// The txn of the current state, read after the view was counted: the last published one,
/// or during a publish the one being published (its writer may have decided before the
/// view was counted, so the view must see it).
fn current_txn(shared: &Shared) -> Result<u64> {
    let seq = shared.shm.w(W_SEQ);
    let mut spun: Option<Instant> = None;
    loop {
        let s1 = seq.load(Ordering::SeqCst);
        let txn = if s1 & 1 == 0 {
            shared.shm.get(W_NEXT_TXN).saturating_sub(1)
        } else {
            let t0 = *spun.get_or_insert_with(Instant::now);
            if t0.elapsed() < PUBLISH_SPIN {
                std::hint::spin_loop();
                continue;
            }
            match shared.publish_overlay(s1) {
                Ok(Some(o)) => o.txn,
                // A relocation or an index swap: no txn changes.
                Ok(None) => shared.shm.get(W_NEXT_TXN).saturating_sub(1),
                Err(e) => {
                    if seq.load(Ordering::Acquire) == s1 {
                        return Err(e);
                    }
                    continue;
                }
            }
        };
        fence(Ordering::Acquire);
        if seq.load(Ordering::Relaxed) == s1 {
            return Ok(txn);
        }
    }
}

impl Shared {
    /// This process's `ziggy.views`; created if `create`, otherwise `None` if no view was
    /// ever opened on the directory.
    pub(crate) fn views_file(&self, create: bool) -> Result<Option<&ViewsFile>> {
        if let Some(v) = self.views.file.get() {
            return Ok(Some(v));
        }
        let Some(v) = ViewsFile::open(&self.dir, self.mode, self.opts.lock_timeout, create)? else {
            return Ok(None);
        };
        // Two threads may both open it: one map is kept, the other dropped.
        let _ = self.views.file.set(v);
        Ok(self.views.file.get())
    }

    /// Publish hook (format-spec.md §8.2), with `seq` odd at `seq_odd` and before any slot of
    /// txn `txn` changes: if a view is registered, saves the old position of every slot the
    /// records will change into the undo ring, then marks the txn saved (`undo_seq`).
    pub(crate) fn save_undo(
        &self,
        idx: &IndexMap,
        map: &SegmentMap,
        records: impl Iterator<Item = (u64, RecMeta)>,
        seq_odd: u64,
        txn: u64,
    ) {
        fence(Ordering::SeqCst);
        if self.shm.w(W_VIEWS).load(Ordering::SeqCst) == 0 {
            return;
        }
        crate::os::pause::point("view-undo");
        let saved = self.views_file(false).ok().flatten().map(|file| {
            let mut j = file.w(H_HEAD).load(Ordering::Relaxed);
            for (p, meta) in records {
                let Ok(probed) = self.probe_record(idx, map, &meta) else {
                    return false;
                };
                let old = match probed.probe {
                    Probe::Found { loc, .. } => loc,
                    Probe::Absent { .. } => 0,
                };
                let put = meta.kind == crate::format::record::KIND_PUT;
                if (put && old == p) || (!put && old == 0) {
                    continue;
                }
                file.write_entry(
                    j,
                    Entry {
                        txn,
                        hash: probed.hash,
                        old,
                        new: p,
                    },
                );
                j += 1;
            }
            file.w(H_HEAD).store(j, Ordering::SeqCst);
            true
        });
        if saved != Some(true) {
            // The views cannot be answered: every registered one is now too old.
            self.shm.w(W_VIEWS_LOST).fetch_add(1, Ordering::SeqCst);
        }
        self.shm.w(W_UNDO_SEQ).store(seq_odd, Ordering::SeqCst);
        // Slot stores follow: a reader that sees one of them sees `undo_seq`.
        fence(Ordering::Release);
    }

    /// Compaction, after relocating (§11 step 4): starts a new compaction epoch, so that
    /// views that begin from now on do not pin this compaction's victims. Returns the epoch
    /// (0 if no view was ever opened here).
    pub(crate) fn views_new_epoch(&self) -> u64 {
        match self.views_file(false) {
            Ok(Some(v)) => v.w(H_EPOCH).fetch_add(1, Ordering::SeqCst) + 1,
            _ => 0,
        }
    }

    /// Whether a live view that began before compaction epoch `epoch` (the current one if
    /// `None`) may still read records of segments compacted since.
    pub(crate) fn views_pin(&self, epoch: Option<u64>) -> bool {
        match self.views_file(false) {
            Ok(Some(v)) => {
                let e = epoch.unwrap_or_else(|| v.w(H_EPOCH).load(Ordering::SeqCst));
                e != 0 && v.pinned_before(e, self)
            }
            Ok(None) => false,
            // Unknown: keep the files (the next compaction tries again).
            Err(_) => true,
        }
    }
}

/// Whether the undo of the publish at odd sequence `s1` is saved.
pub(crate) fn undo_saved(shared: &Shared, s1: u64) -> bool {
    shared.shm.w(W_UNDO_SEQ).load(Ordering::Acquire) == s1
}
