//! Power-loss simulation for tests: a journal of every effect on disk that a power cut could
//! undo, and the cut itself (format-spec.md §1 media assumptions, §9.4 durability).
//!
//! A process kill keeps everything in the page cache; a power cut keeps only what was synced.
//! With the journal on, the seam records, before each effect, what undoing it needs, and once
//! the call returned, that it is complete:
//!
//! | call | recorded before the call | undone at the cut unless |
//! |---|---|---|
//! | `pwrite` | the bytes it overwrites and the old length | a later sync of the file covers it |
//! | `fallocate` | the old length | a later sync of the file covers it |
//! | creating a file | its name | a later sync of its directory covers it |
//! | `rename` | both names; a hard link to the replaced file | a later sync of the directory covers it |
//! | `unlink` | a hard link to the file | a later sync of the directory covers it |
//! | mapping an index file | its whole content (the base) | — |
//! | `fsync`/`fdatasync`/`msync` | that it starts | — (after it succeeded: that it completed, with the msynced bytes) |
//!
//! # Several processes
//!
//! Every process of a run journals into the same directory: each appends to its own file
//! (`journal-<pid>`), and every record takes its place in one order from a counter shared by
//! all of them (an atomic word in a mapped file, incremented once per record). A sync covers
//! an effect only if the effect's completion record comes before the sync's *start* record
//! in that order, and the sync completed. That is sound across processes and threads: the
//! completion record is taken after the effect's call returned, the start record before the
//! sync's call is made, and the counter is one atomic sequence, so "completion numbered
//! before start" implies "the effect was in the page cache before the sync began", and a sync
//! writes back everything dirty when it begins. (An effect recorded before its call and a sync
//! recorded after it, as a single-process journal may do, is not enough: another process's
//! or thread's fsync that began before a write and ended after it would seem to cover it.) An
//! effect without a completion record (its process died during the call) is covered by no
//! sync. Effects on one file are ordered by the writer lock (segment, manifest and index
//! files are written only under it, compaction output only by the holder of `compact.lock`),
//! so a covered effect is never preceded by an uncovered one of the same file, except one of
//! a process that died during its call before another process took over; the cut refuses to
//! guess in that case and fails. Killing every process of a run at one instant (a process
//! group, [`crate::os::io::FaultAction::KillGroup`]) is what a power cut does and avoids it.
//!
//! Stores into a mapped index file are not journaled one by one: the journal keeps the base
//! (the content when the first process of the run mapped it, read before any process of the
//! run stored into it, since each maps, records and only then stores) and the bytes of each
//! range after its msync. Stores and msyncs of index files happen only under the writer
//! lock, so no store of another process falls between an msync and the reading of its bytes.
//!
//! The journal files are written with plain `write` (no fsync: a killed process's writes stay
//! in the page cache, which is all the later cut needs). A record torn by a kill is the last
//! of its process's file and is ignored.
//!
//! [`power_cut`] runs in another process once every journaled one is dead (so none can write
//! meanwhile). It walks the records backwards and undoes every effect not covered by a sync
//! of its file (or directory, for names); then it rewrites every mapped index file as its
//! base overlaid with the ranges msynced since, in order: stores into a shared mapping that
//! were never msynced are lost, as if the kernel had written none of those pages back (the
//! other extreme, every page written back, is what a process kill tests). Finally it deletes
//! `ziggy.shm`, which is what a reboot amounts to (§5, §10.2: a new boot id makes the shared
//! state cold). Lock files need nothing: locks do not outlive a boot. Files as they were when
//! the journal was turned on count as durable.
//!
//! Not modelled: writes reordered or torn within a file's unsynced range (all of it is lost),
//! a subset of unsynced mapped pages written back, and files that bypass the seam (lock files,
//! `ziggy.shm`, and the hard links and directories a repair makes).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::ffi::OsStr;
use std::fs::File;
use std::io::Write;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;

use crate::os::map::SharedWords;

static ON: AtomicBool = AtomicBool::new(false);
static JOURNAL: Mutex<Option<Journal>> = Mutex::new(None);

const K_WRITE: u8 = 1;
const K_ALLOC: u8 = 2;
/// Start of an `fsync`/`fdatasync` of a file.
const K_SYNC: u8 = 3;
/// Start of an `fsync` of a directory.
const K_SYNC_DIR: u8 = 4;
const K_CREATE: u8 = 5;
const K_RENAME: u8 = 6;
const K_REMOVE: u8 = 7;
const K_MAP_BASE: u8 = 8;
/// Start of an `msync`.
const K_MAP_SYNC: u8 = 9;
const K_NOTE: u8 = 10;
/// Completion of the call whose record has sequence number `a`; `b` is 1 if a name change
/// failed (and so did nothing); for an msync, `b` is the offset and the data the bytes.
const K_DONE: u8 = 11;
const NO_ASIDE: u64 = u64::MAX;
const JOURNAL_PREFIX: &str = "journal-";
const COUNTER_NAME: &str = "counter";

/// A call recorded as started: pass it to [`done`] once the call returned. `None` when the
/// journal is off (or the call needs no undoing).
pub(crate) type Pending = Option<u64>;

struct Journal {
    dir: PathBuf,
    file: File,
    counter: SharedWords,
    _counter_file: File,
    pid: u32,
    next_aside: u64,
    mapped: HashSet<PathBuf>,
}

impl Journal {
    fn aside_path(dir: &Path, pid: u32, n: u64) -> PathBuf {
        dir.join(format!("aside-{pid}-{n}"))
    }

    /// Keeps the file at `path` alive under the journal directory; its number, or
    /// `NO_ASIDE` if there is no such file.
    fn keep_aside(&mut self, path: &Path) -> u64 {
        if !path.exists() {
            return NO_ASIDE;
        }
        let n = self.next_aside;
        self.next_aside += 1;
        let to = Self::aside_path(&self.dir, self.pid, n);
        if std::fs::hard_link(path, &to).is_err() && std::fs::copy(path, &to).is_err() {
            return NO_ASIDE;
        }
        n
    }

    /// Appends one record; its sequence number in the order shared by every process.
    fn append(&mut self, kind: u8, path: &Path, a: u64, b: u64, data: &[u8]) -> u64 {
        let seq = self.counter.words()[0].fetch_add(1, Ordering::SeqCst);
        let p = path.as_os_str().as_bytes();
        let mut buf = Vec::with_capacity(37 + p.len() + data.len());
        buf.push(kind);
        buf.extend_from_slice(&seq.to_le_bytes());
        buf.extend_from_slice(&(p.len() as u32).to_le_bytes());
        buf.extend_from_slice(p);
        buf.extend_from_slice(&a.to_le_bytes());
        buf.extend_from_slice(&b.to_le_bytes());
        buf.extend_from_slice(&(data.len() as u64).to_le_bytes());
        buf.extend_from_slice(data);
        // A journal that cannot be written makes the simulation meaningless: stop loudly.
        if let Err(e) = self.file.write_all(&buf) {
            eprintln!("power-loss journal: {e}");
            std::process::abort();
        }
        seq
    }
}

/// Turns the power-loss journal on, recording into the directory `dir` (created if missing,
/// and best on the same file system as the database, for hard links); `None` turns it off.
/// Process-wide: meant for child processes that a test then treats with [`power_cut`].
/// Several processes may journal into one directory at once: their records share one order.
///
/// # Errors
/// The journal files cannot be created or mapped.
pub fn set_power_loss_journal(dir: Option<&Path>) -> std::io::Result<()> {
    let mut g = lock();
    *g = None;
    ON.store(false, Ordering::SeqCst);
    if let Some(dir) = dir {
        std::fs::create_dir_all(dir)?;
        let counter_path = dir.join(COUNTER_NAME);
        let counter_file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&counter_path)?;
        // Every process of the run may do this at once: growing to the same length changes
        // nothing in a file another one already grew (and counts in).
        if counter_file.metadata()?.len() < 4096 {
            counter_file.set_len(4096)?;
        }
        let counter = SharedWords::open(&counter_file, &counter_path)
            .map_err(|e| std::io::Error::other(e.to_string()))?;
        let pid = std::process::id();
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(dir.join(format!("{JOURNAL_PREFIX}{pid}")))?;
        *g = Some(Journal {
            dir: dir.to_path_buf(),
            file,
            counter,
            _counter_file: counter_file,
            pid,
            next_aside: 0,
            mapped: HashSet::new(),
        });
        ON.store(true, Ordering::SeqCst);
    }
    Ok(())
}

/// Records a line of text in the journal (e.g. "ACK 7"), so that a test can tell which of its
/// events came before which sync. Does nothing when the journal is off.
pub fn power_loss_note(text: &str) {
    with(|j| j.append(K_NOTE, Path::new(""), 0, 0, text.as_bytes()));
}

fn lock() -> std::sync::MutexGuard<'static, Option<Journal>> {
    JOURNAL
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn with<R>(f: impl FnOnce(&mut Journal) -> R) -> Option<R> {
    if !ON.load(Ordering::Relaxed) {
        return None;
    }
    lock().as_mut().map(f)
}

/// Before `pwrite` of `len` bytes at `offset`.
pub(crate) fn before_write(file: &File, path: &Path, offset: u64, len: usize) -> Pending {
    with(|j| {
        let old_len = file.metadata().map_or(0, |m| m.len());
        let end = offset.saturating_add(len as u64).min(old_len);
        let mut pre = vec![0u8; end.saturating_sub(offset) as usize];
        if !pre.is_empty() && file.read_exact_at(&mut pre, offset).is_err() {
            pre.clear();
        }
        j.append(K_WRITE, path, offset, old_len, &pre)
    })
}

/// Before `fallocate`.
pub(crate) fn before_allocate(file: &File, path: &Path) -> Pending {
    with(|j| {
        let old_len = file.metadata().map_or(0, |m| m.len());
        j.append(K_ALLOC, path, old_len, 0, &[])
    })
}

/// Before `fsync`/`fdatasync` of `path`.
pub(crate) fn before_sync(path: &Path) -> Pending {
    with(|j| j.append(K_SYNC, path, 0, 0, &[]))
}

/// Before `fsync` of the directory `dir`.
pub(crate) fn before_sync_dir(dir: &Path) -> Pending {
    with(|j| j.append(K_SYNC_DIR, dir, 0, 0, &[]))
}

/// Before a file that may not exist yet is opened with `create`.
pub(crate) fn before_create(path: &Path) -> Pending {
    with(|j| (!path.exists()).then(|| j.append(K_CREATE, path, 0, 0, &[]))).flatten()
}

/// Before `rename(from, to)`.
pub(crate) fn before_rename(from: &Path, to: &Path) -> Pending {
    with(|j| {
        let aside = j.keep_aside(to);
        j.append(K_RENAME, to, aside, 0, from.as_os_str().as_bytes())
    })
}

/// Before `unlink(path)`.
pub(crate) fn before_remove(path: &Path) -> Pending {
    with(|j| {
        let aside = j.keep_aside(path);
        (aside != NO_ASIDE).then(|| j.append(K_REMOVE, path, aside, 0, &[]))
    })
    .flatten()
}

/// After the call recorded as `pending` returned; `ok` false for a name change that failed
/// (and so did nothing). Syncs call this only when they succeeded.
pub(crate) fn done(pending: Pending, path: &Path, ok: bool) {
    if let Some(seq) = pending {
        with(|j| j.append(K_DONE, path, seq, u64::from(!ok), &[]));
    }
}

/// After an index file is mapped: its content now is its base (what is on disk, for a file
/// no process of the run stored into yet). Only the first mapping of a path counts.
pub(crate) fn after_map(file: &File, path: &Path) {
    with(|j| {
        if !j.mapped.insert(path.to_path_buf()) {
            return;
        }
        let len = file.metadata().map_or(0, |m| m.len());
        let mut image = vec![0u8; len as usize];
        if file.read_exact_at(&mut image, 0).is_ok() {
            j.append(K_MAP_BASE, path, 0, 0, &image);
        }
    });
}

/// Before `msync` of a range of the mapped file `path`.
pub(crate) fn before_msync(path: &Path) -> Pending {
    with(|j| j.append(K_MAP_SYNC, path, 0, 0, &[]))
}

/// After a successful `msync` of `len` bytes at `offset` of the mapped file `path`.
pub(crate) fn after_msync(pending: Pending, path: &Path, offset: usize, len: usize) {
    let Some(seq) = pending else { return };
    with(|j| {
        let Ok(file) = File::open(path) else { return };
        let mut image = vec![0u8; len];
        // The page cache and the shared mapping are one: this reads what msync wrote (the
        // writer lock keeps other processes from storing meanwhile).
        if file.read_exact_at(&mut image, offset as u64).is_ok() {
            j.append(K_DONE, path, seq, offset as u64, &image);
        }
    });
}

/// One journal record.
struct Entry {
    kind: u8,
    seq: u64,
    pid: u32,
    path: PathBuf,
    a: u64,
    b: u64,
    data: Vec<u8>,
}

fn parse(bytes: &[u8], pid: u32) -> Vec<Entry> {
    fn take<'a>(b: &mut &'a [u8], n: usize) -> Option<&'a [u8]> {
        let (h, t) = b.split_at_checked(n)?;
        *b = t;
        Some(h)
    }
    fn u64_of(b: &[u8]) -> u64 {
        let mut w = [0u8; 8];
        w.copy_from_slice(b);
        u64::from_le_bytes(w)
    }
    let mut out = Vec::new();
    let mut rest = bytes;
    // A torn last record (the process died while appending it) is ignored: the call it
    // announces was not made yet, or the one it completes counts as unfinished.
    while let Some(e) = (|| {
        let kind = *take(&mut rest, 1)?.first()?;
        let seq = u64_of(take(&mut rest, 8)?);
        let mut w = [0u8; 4];
        w.copy_from_slice(take(&mut rest, 4)?);
        let plen = u32::from_le_bytes(w) as usize;
        let path = PathBuf::from(OsStr::from_bytes(take(&mut rest, plen)?));
        let a = u64_of(take(&mut rest, 8)?);
        let b = u64_of(take(&mut rest, 8)?);
        let dlen = usize::try_from(u64_of(take(&mut rest, 8)?)).ok()?;
        let data = take(&mut rest, dlen)?.to_vec();
        Some(Entry {
            kind,
            seq,
            pid,
            path,
            a,
            b,
            data,
        })
    })() {
        out.push(e);
    }
    out
}

/// An event of the journaled processes, in the order they happened, as [`power_cut`] reports
/// them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PowerLossEvent {
    /// A note (see [`power_loss_note`]).
    Note(String),
    /// An `fsync`/`fdatasync` of this file began here, and completed later: it covers every
    /// effect on the file that completed before this point, and commits acknowledged
    /// before this point.
    Sync(PathBuf),
    /// An `fsync` of this directory began here, and completed later.
    SyncDir(PathBuf),
}

/// What [`power_cut`] did.
#[derive(Debug, Default, Clone)]
pub struct PowerCut {
    /// Journal records read.
    pub entries: usize,
    /// `pwrite`s whose bytes were put back.
    pub writes_undone: usize,
    /// `fallocate`s and extending writes undone (file shortened).
    pub truncations: usize,
    /// Creations, renames and unlinks undone.
    pub names_undone: usize,
    /// Mapped index files reset to their last msynced state.
    pub maps_restored: usize,
    /// Calls made by the journaled processes, by kind: writes, syncs (file, directory and
    /// msync), allocations, renames; the counts a `FaultPlan` with that op goes through.
    pub calls: [u64; 4],
    /// The same counts per journaled process, by process id.
    pub calls_by_process: BTreeMap<u32, [u64; 4]>,
    /// Syncs (of a file or directory) whose start record was written by one process and which
    /// covered an effect completed by another: the shared fsyncs of group commit.
    pub shared_syncs: usize,
    /// Notes and completed syncs (at their start), in order.
    pub events: Vec<PowerLossEvent>,
}

/// Simulates a power cut for the processes (now dead, or no longer touching `db_dir`) that
/// journaled into `journal_dir`: undoes every unsynced effect they had on files under
/// `db_dir`, then deletes `db_dir/ziggy.shm` as a reboot would (see the module documentation
/// for the model). The journal is consumed.
///
/// # Errors
/// The journal cannot be read, a file cannot be restored, or the journal shows an effect the
/// model cannot place (one left unfinished by a dead process, on a file another process
/// changed and synced afterwards).
pub fn power_cut(journal_dir: &Path, db_dir: &Path) -> std::io::Result<PowerCut> {
    let mut entries = Vec::new();
    for f in std::fs::read_dir(journal_dir)? {
        let f = f?;
        let name = f.file_name();
        let Some(pid) = name
            .to_str()
            .and_then(|n| n.strip_prefix(JOURNAL_PREFIX))
            .and_then(|n| n.parse().ok())
        else {
            continue;
        };
        entries.extend(parse(&std::fs::read(f.path())?, pid));
    }
    entries.sort_by_key(|e| e.seq);
    let mut cut = PowerCut {
        entries: entries.len(),
        ..PowerCut::default()
    };
    // Only files of this database: other tests of the process may have journaled too.
    let entries: Vec<Entry> = entries
        .into_iter()
        .filter(|e| e.kind == K_NOTE || e.path.starts_with(db_dir))
        .collect();
    let open_rw = |p: &Path| std::fs::OpenOptions::new().read(true).write(true).open(p);
    let parent = |p: &Path| p.parent().map(Path::to_path_buf).unwrap_or_default();
    // The completion record of each started call that returned.
    let done: HashMap<u64, &Entry> = entries
        .iter()
        .filter(|e| e.kind == K_DONE)
        .map(|e| (e.a, e))
        .collect();
    // The start of the last completed sync of each file and directory, and its process.
    let mut last_sync: HashMap<&Path, (u64, u32)> = HashMap::new();
    let mut last_sync_dir: HashMap<&Path, (u64, u32)> = HashMap::new();
    for e in &entries {
        let map = match e.kind {
            K_SYNC | K_MAP_SYNC => &mut last_sync,
            K_SYNC_DIR => &mut last_sync_dir,
            _ => continue,
        };
        if done.contains_key(&e.seq) {
            map.insert(&e.path, (e.seq, e.pid));
        }
    }
    let mut shared: HashSet<u64> = HashSet::new();
    // Files (for contents) and names with a covered effect later in the walk: an uncovered
    // one before it would break the model (see the module documentation).
    let mut kept_data: HashSet<&Path> = HashSet::new();
    let mut kept_names: HashSet<&Path> = HashSet::new();
    for e in entries.iter().rev() {
        let (syncs, of, kept) = match e.kind {
            K_WRITE | K_ALLOC => (&last_sync, e.path.clone(), &mut kept_data),
            K_CREATE | K_RENAME | K_REMOVE => {
                if done.get(&e.seq).is_some_and(|d| d.b != 0) {
                    continue; // the call failed: nothing changed
                }
                (&last_sync_dir, parent(&e.path), &mut kept_names)
            }
            _ => continue,
        };
        // Covered: the effect completed before the start of a sync that completed.
        if let (Some(d), Some(&(start, by))) = (done.get(&e.seq), syncs.get(of.as_path())) {
            if d.seq < start {
                if by != e.pid {
                    shared.insert(start);
                }
                kept.insert(&e.path);
                continue;
            }
        }
        if kept.contains(e.path.as_path()) {
            return Err(std::io::Error::other(format!(
                "power-loss journal: an unfinished change of {} by process {} is followed by \
                 a synced one; kill every process of a run at once",
                e.path.display(),
                e.pid
            )));
        }
        match e.kind {
            K_WRITE => {
                let Ok(f) = open_rw(&e.path) else { continue };
                f.write_all_at(&e.data, e.a)?;
                cut.writes_undone += 1;
                if f.metadata()?.len() > e.b {
                    f.set_len(e.b)?;
                    cut.truncations += 1;
                }
            }
            K_ALLOC => {
                let Ok(f) = open_rw(&e.path) else { continue };
                if f.metadata()?.len() > e.a {
                    f.set_len(e.a)?;
                    cut.truncations += 1;
                }
            }
            K_CREATE if std::fs::remove_file(&e.path).is_ok() => {
                cut.names_undone += 1;
            }
            K_RENAME => {
                let from = Path::new(OsStr::from_bytes(&e.data));
                std::fs::rename(&e.path, from)?;
                if e.a != NO_ASIDE {
                    std::fs::hard_link(Journal::aside_path(journal_dir, e.pid, e.a), &e.path)?;
                }
                cut.names_undone += 1;
            }
            K_REMOVE if !e.path.exists() => {
                std::fs::hard_link(Journal::aside_path(journal_dir, e.pid, e.a), &e.path)?;
                cut.names_undone += 1;
            }
            _ => {}
        }
    }
    cut.shared_syncs = shared.len();
    let mut bases: HashMap<&Path, &[u8]> = HashMap::new();
    let mut images: Vec<&Entry> = Vec::new();
    for e in &entries {
        let slot = match e.kind {
            K_WRITE => Some(0),
            K_SYNC | K_SYNC_DIR | K_MAP_SYNC => Some(1),
            K_ALLOC => Some(2),
            K_RENAME => Some(3),
            _ => None,
        };
        if let Some(i) = slot {
            cut.calls[i] += 1;
            cut.calls_by_process.entry(e.pid).or_default()[i] += 1;
        }
        let completed = done.contains_key(&e.seq);
        match e.kind {
            // The first base of the run: read before any process stored into the file.
            K_MAP_BASE => {
                bases.entry(&e.path).or_insert(&e.data);
            }
            K_MAP_SYNC => {
                if let Some(d) = done.get(&e.seq) {
                    images.push(d);
                }
            }
            K_NOTE => cut.events.push(PowerLossEvent::Note(
                String::from_utf8_lossy(&e.data).into(),
            )),
            K_SYNC if completed => cut.events.push(PowerLossEvent::Sync(e.path.clone())),
            K_SYNC_DIR if completed => cut.events.push(PowerLossEvent::SyncDir(e.path.clone())),
            _ => {}
        }
    }
    images.sort_by_key(|d| d.seq);
    for (path, base) in bases {
        let Ok(f) = open_rw(path) else { continue };
        // A file shortened above (its allocation was never synced) stays short.
        if f.metadata()?.len() < base.len() as u64 {
            continue;
        }
        f.write_all_at(base, 0)?;
        for d in images.iter().filter(|d| d.path == path) {
            f.write_all_at(&d.data, d.b)?;
        }
        cut.maps_restored += 1;
    }
    match std::fs::remove_file(db_dir.join("ziggy.shm")) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(e),
    }
    std::fs::remove_dir_all(journal_dir)?;
    Ok(cut)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::os::io::{create, remove_file, rename, sync_data, sync_dir, write_all_at};

    /// The journal is process-wide: the tests that turn it on take turns.
    static SERIAL: Mutex<()> = Mutex::new(());

    #[test]
    fn a_cut_undoes_exactly_what_was_not_synced() -> crate::Result<()> {
        let _turn = SERIAL
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let tmp = tempfile::tempdir().map_err(|e| crate::Error::io("tmp", e))?;
        let db = tmp.path().join("db");
        std::fs::create_dir(&db).map_err(|e| crate::Error::io(&db, e))?;
        std::fs::write(db.join("old"), b"old").map_err(|e| crate::Error::io(&db, e))?;
        let journal = tmp.path().join("journal");
        set_power_loss_journal(Some(&journal)).map_err(|e| crate::Error::io(&journal, e))?;
        let (a, b, c) = (db.join("a"), db.join("b"), db.join("c"));
        let fa = create(&a, 0o600)?;
        write_all_at(&fa, b"hello", 0, &a)?;
        sync_data(&fa, &a)?;
        sync_dir(&db)?;
        write_all_at(&fa, b"XY", 0, &a)?; // overwrite, never synced
        write_all_at(&fa, b"tail", 5, &a)?; // extension, never synced
        let fb = create(&b, 0o600)?;
        write_all_at(&fb, b"bee", 0, &b)?;
        sync_data(&fb, &b)?;
        rename(&b, &c)?; // the directory is never synced again
        remove_file(&db.join("old")).map_err(|e| crate::Error::io(&db, e))?;
        power_loss_note("end");
        set_power_loss_journal(None).map_err(|e| crate::Error::io(&journal, e))?;
        let cut = power_cut(&journal, &db).map_err(|e| crate::Error::io(&journal, e))?;
        assert_eq!(std::fs::read(&a).ok().as_deref(), Some(&b"hello"[..]));
        assert!(
            !b.exists() && !c.exists(),
            "an unsynced creation and rename survived"
        );
        assert_eq!(
            std::fs::read(db.join("old")).ok().as_deref(),
            Some(&b"old"[..])
        );
        assert_eq!(cut.calls, [4, 3, 0, 1]);
        assert_eq!(cut.events.first(), Some(&PowerLossEvent::Sync(a.clone())));
        assert_eq!(cut.events.last(), Some(&PowerLossEvent::Note("end".into())));
        Ok(())
    }

    #[test]
    fn a_sync_covers_only_what_completed_before_it_began() -> crate::Result<()> {
        let _turn = SERIAL
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let tmp = tempfile::tempdir().map_err(|e| crate::Error::io("tmp", e))?;
        let db = tmp.path().join("db");
        std::fs::create_dir(&db).map_err(|e| crate::Error::io(&db, e))?;
        let journal = tmp.path().join("journal");
        set_power_loss_journal(Some(&journal)).map_err(|e| crate::Error::io(&journal, e))?;
        let (a, b) = (db.join("a"), db.join("b"));
        let fa = create(&a, 0o600)?;
        let fb = create(&b, 0o600)?;
        sync_dir(&db)?;
        write_all_at(&fa, b"one", 0, &a)?;
        sync_data(&fa, &a)?;
        // A sync of `a` begins (in another process, say); a write completes meanwhile; the
        // sync completes. The write may have missed the sync: the cut must undo it.
        let pending = before_sync(&a);
        write_all_at(&fa, b"two", 0, &a)?;
        fa.sync_data().map_err(|e| crate::Error::io(&a, e))?;
        done(pending, &a, true);
        // A write completed before a sync began is covered, whoever syncs.
        write_all_at(&fb, b"bee", 0, &b)?;
        let pending = before_sync(&b);
        power_loss_note("b synced");
        fb.sync_data().map_err(|e| crate::Error::io(&b, e))?;
        done(pending, &b, true);
        // A sync that never completed covers nothing.
        write_all_at(&fb, b"BEE", 0, &b)?;
        let _never = before_sync(&b);
        set_power_loss_journal(None).map_err(|e| crate::Error::io(&journal, e))?;
        let cut = power_cut(&journal, &db).map_err(|e| crate::Error::io(&journal, e))?;
        assert_eq!(std::fs::read(&a).ok().as_deref(), Some(&b"one"[..]));
        assert_eq!(std::fs::read(&b).ok().as_deref(), Some(&b"bee"[..]));
        // Syncs are reported where they began, and only those that completed.
        assert_eq!(
            cut.events.iter().rev().take(2).collect::<Vec<_>>(),
            [
                &PowerLossEvent::Note("b synced".into()),
                &PowerLossEvent::Sync(b.clone())
            ]
        );
        assert_eq!(cut.calls, [4, 5, 0, 0]);
        Ok(())
    }
}
