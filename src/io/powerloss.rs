//! Power-loss simulation for tests: a journal of every effect on disk that a power cut could
//! undo, and the cut itself (format-spec.md §1 media assumptions, §9.4 durability).
//!
//! A process kill keeps everything in the page cache; a power cut keeps only what was synced.
//! With the journal on, the seam records, before each effect, what undoing it needs:
//!
//! | call | recorded | undone at the cut unless |
//! |---|---|---|
//! | `pwrite` | the bytes it overwrites and the old length | the file is fsynced/msynced later |
//! | `fallocate` | the old length | the file is fsynced/msynced later |
//! | creating a file | its name | its directory is fsynced later |
//! | `rename` | both names; a hard link to the replaced file | the directory is fsynced later |
//! | `unlink` | a hard link to the file | the directory is fsynced later |
//! | mapping an index file | its whole content (the base) | — |
//! | `msync` of an index range | the bytes of the range | — |
//!
//! A recorded sync is written after the call succeeded, a recorded effect before the call is
//! made, so whatever kills the process, the journal never claims more durability than the
//! kernel gave. The journal is an append-only file written with plain `write` (no fsync: a
//! killed process's writes stay in the page cache, which is all the later cut needs).
//!
//! [`power_cut`] runs in another process once the journaled one is dead (so no thread of it
//! can write meanwhile). It walks the journal backwards and undoes every effect not covered
//! by a later sync of its file (or directory, for names); then it rewrites every mapped index
//! file as its base overlaid with the ranges msynced since, in order: stores into a shared
//! mapping that were never msynced are lost, as if the kernel had written none of those
//! pages back (the other extreme, every page written back, is what a process kill tests).
//! Finally it deletes `ziggy.shm`, which is what a reboot amounts to (§5, §10.2: a new boot
//! id makes the shared state cold). Lock files need nothing: locks do not outlive a boot.
//!
//! Not modelled: writes reordered or torn within a file's unsynced range (all of it is lost),
//! a subset of unsynced mapped pages written back, and files that bypass the seam (lock files,
//! `ziggy.shm`, and the hard links and directories a repair makes).

use std::collections::{HashMap, HashSet};
use std::ffi::OsStr;
use std::fs::File;
use std::io::Write;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;

static ON: AtomicBool = AtomicBool::new(false);
static JOURNAL: Mutex<Option<Journal>> = Mutex::new(None);

const K_WRITE: u8 = 1;
const K_ALLOC: u8 = 2;
const K_SYNC: u8 = 3;
const K_SYNC_DIR: u8 = 4;
const K_CREATE: u8 = 5;
const K_RENAME: u8 = 6;
const K_REMOVE: u8 = 7;
const K_MAP_BASE: u8 = 8;
const K_MAP_SYNC: u8 = 9;
const K_NOTE: u8 = 10;
const NO_ASIDE: u64 = u64::MAX;
const JOURNAL_NAME: &str = "journal";

struct Journal {
    dir: PathBuf,
    file: File,
    next_aside: u64,
    mapped: HashSet<PathBuf>,
}

impl Journal {
    fn aside_path(dir: &Path, n: u64) -> PathBuf {
        dir.join(format!("aside-{n}"))
    }

    /// Keeps the file at `path` alive under the journal directory; its number, or
    /// `NO_ASIDE` if there is no such file.
    fn keep_aside(&mut self, path: &Path) -> u64 {
        if !path.exists() {
            return NO_ASIDE;
        }
        let n = self.next_aside;
        self.next_aside += 1;
        let to = Self::aside_path(&self.dir, n);
        if std::fs::hard_link(path, &to).is_err() && std::fs::copy(path, &to).is_err() {
            return NO_ASIDE;
        }
        n
    }

    fn append(&mut self, kind: u8, path: &Path, a: u64, b: u64, data: &[u8]) {
        let p = path.as_os_str().as_bytes();
        let mut buf = Vec::with_capacity(29 + p.len() + data.len());
        buf.push(kind);
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
    }
}

/// Turns the power-loss journal on, recording into the directory `dir` (created if missing,
/// and best on the same file system as the database, for hard links); `None` turns it off.
/// Process-wide: meant for a child process that a test then treats with [`power_cut`].
///
/// # Errors
/// The journal file cannot be created.
pub fn set_power_loss_journal(dir: Option<&Path>) -> std::io::Result<()> {
    let mut g = lock();
    *g = None;
    ON.store(false, Ordering::SeqCst);
    if let Some(dir) = dir {
        std::fs::create_dir_all(dir)?;
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(dir.join(JOURNAL_NAME))?;
        *g = Some(Journal {
            dir: dir.to_path_buf(),
            file,
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

fn with(f: impl FnOnce(&mut Journal)) {
    if !ON.load(Ordering::Relaxed) {
        return;
    }
    if let Some(j) = lock().as_mut() {
        f(j);
    }
}

/// Before `pwrite` of `len` bytes at `offset`.
pub(crate) fn before_write(file: &File, path: &Path, offset: u64, len: usize) {
    with(|j| {
        let old_len = file.metadata().map_or(0, |m| m.len());
        let end = offset.saturating_add(len as u64).min(old_len);
        let mut pre = vec![0u8; end.saturating_sub(offset) as usize];
        if !pre.is_empty() && file.read_exact_at(&mut pre, offset).is_err() {
            pre.clear();
        }
        j.append(K_WRITE, path, offset, old_len, &pre);
    });
}

/// Before `fallocate`.
pub(crate) fn before_allocate(file: &File, path: &Path) {
    with(|j| {
        let old_len = file.metadata().map_or(0, |m| m.len());
        j.append(K_ALLOC, path, old_len, 0, &[]);
    });
}

/// After a successful `fsync`/`fdatasync` of `path`.
pub(crate) fn after_sync(path: &Path) {
    with(|j| j.append(K_SYNC, path, 0, 0, &[]));
}

/// After a successful `fsync` of the directory `dir`.
pub(crate) fn after_sync_dir(dir: &Path) {
    with(|j| j.append(K_SYNC_DIR, dir, 0, 0, &[]));
}

/// Before a file that may not exist yet is opened with `create`.
pub(crate) fn before_create(path: &Path) {
    with(|j| {
        if !path.exists() {
            j.append(K_CREATE, path, 0, 0, &[]);
        }
    });
}

/// Before `rename(from, to)`.
pub(crate) fn before_rename(from: &Path, to: &Path) {
    with(|j| {
        let aside = j.keep_aside(to);
        j.append(K_RENAME, to, aside, 0, from.as_os_str().as_bytes());
    });
}

/// Before `unlink(path)`.
pub(crate) fn before_remove(path: &Path) {
    with(|j| {
        let aside = j.keep_aside(path);
        if aside != NO_ASIDE {
            j.append(K_REMOVE, path, aside, 0, &[]);
        }
    });
}

/// After an index file is mapped: its content now is its base (what is on disk, for a file
/// this process did not store into yet). Only the first mapping of a path counts.
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

/// After a successful `msync` of `len` bytes at `offset` of the mapped file `path`.
pub(crate) fn after_msync(path: &Path, offset: usize, len: usize) {
    with(|j| {
        let Ok(file) = File::open(path) else { return };
        let mut image = vec![0u8; len];
        // The page cache and the shared mapping are one: this reads what msync wrote.
        if file.read_exact_at(&mut image, offset as u64).is_ok() {
            j.append(K_MAP_SYNC, path, offset as u64, 0, &image);
        }
    });
}

/// One journal entry.
struct Entry {
    kind: u8,
    path: PathBuf,
    a: u64,
    b: u64,
    data: Vec<u8>,
}

fn parse(bytes: &[u8]) -> Vec<Entry> {
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
    // A torn last entry (the process died while appending it) is ignored: its effect was
    // not made yet.
    while let Some(e) = (|| {
        let kind = *take(&mut rest, 1)?.first()?;
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

/// An event of the journaled process, in the order it happened, as [`power_cut`] reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PowerLossEvent {
    /// A note (see [`power_loss_note`]).
    Note(String),
    /// `fsync`/`fdatasync`/`msync` of this file completed.
    Sync(PathBuf),
    /// `fsync` of this directory completed.
    SyncDir(PathBuf),
}

/// What [`power_cut`] did.
#[derive(Debug, Default, Clone)]
pub struct PowerCut {
    /// Journal entries read.
    pub entries: usize,
    /// `pwrite`s whose bytes were put back.
    pub writes_undone: usize,
    /// `fallocate`s and extending writes undone (file shortened).
    pub truncations: usize,
    /// Creations, renames and unlinks undone.
    pub names_undone: usize,
    /// Mapped index files reset to their last msynced state.
    pub maps_restored: usize,
    /// Calls made by the journaled process, by kind: writes, syncs (file, directory and
    /// msync), allocations, renames; the counts a `FaultPlan` with that op goes through.
    pub calls: [u64; 4],
    /// Notes and syncs, in order.
    pub events: Vec<PowerLossEvent>,
}

/// Simulates a power cut for the process (now dead, or no longer touching `db_dir`) that
/// journaled into `journal_dir`: undoes every unsynced effect it had on files under `db_dir`,
/// then deletes `db_dir/ziggy.shm` as a reboot would (see the module documentation for the
/// model). The journal is consumed.
///
/// # Errors
/// The journal cannot be read, or a file cannot be restored.
pub fn power_cut(journal_dir: &Path, db_dir: &Path) -> std::io::Result<PowerCut> {
    let entries = parse(&std::fs::read(journal_dir.join(JOURNAL_NAME))?);
    let mut cut = PowerCut {
        entries: entries.len(),
        ..PowerCut::default()
    };
    let mut synced: HashSet<&Path> = HashSet::new();
    let mut synced_dirs: HashSet<&Path> = HashSet::new();
    let parent = |p: &Path| p.parent().map(Path::to_path_buf).unwrap_or_default();
    let open_rw = |p: &Path| std::fs::OpenOptions::new().read(true).write(true).open(p);
    // Only files of this database: other tests of the process may have journaled too.
    let entries: Vec<Entry> = entries
        .into_iter()
        .filter(|e| e.kind == K_NOTE || e.path.starts_with(db_dir))
        .collect();
    for e in entries.iter().rev() {
        match e.kind {
            K_SYNC | K_MAP_SYNC => {
                synced.insert(&e.path);
            }
            K_SYNC_DIR => {
                synced_dirs.insert(&e.path);
            }
            K_WRITE if !synced.contains(e.path.as_path()) => {
                let Ok(f) = open_rw(&e.path) else { continue };
                f.write_all_at(&e.data, e.a)?;
                cut.writes_undone += 1;
                if f.metadata()?.len() > e.b {
                    f.set_len(e.b)?;
                    cut.truncations += 1;
                }
            }
            K_ALLOC if !synced.contains(e.path.as_path()) => {
                let Ok(f) = open_rw(&e.path) else { continue };
                if f.metadata()?.len() > e.a {
                    f.set_len(e.a)?;
                    cut.truncations += 1;
                }
            }
            K_CREATE
                if !synced_dirs.contains(parent(&e.path).as_path())
                    && std::fs::remove_file(&e.path).is_ok() =>
            {
                cut.names_undone += 1;
            }
            K_RENAME if !synced_dirs.contains(parent(&e.path).as_path()) => {
                let from = Path::new(OsStr::from_bytes(&e.data));
                std::fs::rename(&e.path, from)?;
                if e.a != NO_ASIDE {
                    std::fs::hard_link(Journal::aside_path(journal_dir, e.a), &e.path)?;
                }
                cut.names_undone += 1;
            }
            K_REMOVE if !synced_dirs.contains(parent(&e.path).as_path()) && !e.path.exists() => {
                std::fs::hard_link(Journal::aside_path(journal_dir, e.a), &e.path)?;
                cut.names_undone += 1;
            }
            _ => {}
        }
    }
    let mut bases: HashMap<&Path, &[u8]> = HashMap::new();
    let mut images: Vec<&Entry> = Vec::new();
    for e in &entries {
        match e.kind {
            K_WRITE => cut.calls[0] += 1,
            K_SYNC | K_SYNC_DIR | K_MAP_SYNC => cut.calls[1] += 1,
            K_ALLOC => cut.calls[2] += 1,
            K_RENAME => cut.calls[3] += 1,
            _ => {}
        }
        match e.kind {
            K_MAP_BASE => {
                bases.insert(&e.path, &e.data);
            }
            K_MAP_SYNC => images.push(e),
            K_NOTE => cut.events.push(PowerLossEvent::Note(
                String::from_utf8_lossy(&e.data).into(),
            )),
            K_SYNC => cut.events.push(PowerLossEvent::Sync(e.path.clone())),
            K_SYNC_DIR => cut.events.push(PowerLossEvent::SyncDir(e.path.clone())),
            _ => {}
        }
    }
    for (path, base) in bases {
        let Ok(f) = open_rw(path) else { continue };
        // A file shortened above (its allocation was never synced) stays short.
        if f.metadata()?.len() < base.len() as u64 {
            continue;
        }
        f.write_all_at(base, 0)?;
        for e in images.iter().filter(|e| e.path == path) {
            f.write_all_at(&e.data, e.a)?;
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
    use crate::io::{create, remove_file, rename, sync_data, sync_dir, write_all_at};

    #[test]
    fn a_cut_undoes_exactly_what_was_not_synced() -> crate::Result<()> {
        let tmp = tempfile::tempdir().map_err(|e| crate::Error::io("tmp", e))?;
        let db = tmp.path().join("db");
        std::fs::create_dir(&db).map_err(|e| crate::Error::io(&db, e))?;
        std::fs::write(db.join("old"), b"old").map_err(|e| crate::Error::io(&db, e))?;
        let journal = tmp.path().join("journal");
        set_power_loss_journal(Some(&journal)).map_err(|e| crate::Error::io(&journal, e))?;
        let (a, b, c) = (db.join("a"), db.join("b"), db.join("c"));
        let fa = create(&a)?;
        write_all_at(&fa, b"hello", 0, &a)?;
        sync_data(&fa, &a)?;
        sync_dir(&db)?;
        write_all_at(&fa, b"XY", 0, &a)?; // overwrite, never synced
        write_all_at(&fa, b"tail", 5, &a)?; // extension, never synced
        let fb = create(&b)?;
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
}
