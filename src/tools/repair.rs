//! `repair`: salvage what is intact in a damaged database directory into a new, consistent
//! database, and keep every original file aside (format-spec.md §12.2).
//!
//! Repair works on a directory that may not open. It reads the segment files themselves,
//! record by record, checking every checksum and resynchronising past damage; keeps the
//! transactions that are complete; takes the newest version of each key; walks every
//! collection's trees; writes the survivors into a new database through the engine's commit
//! path, with their original transaction ids; checks it; and swaps it in with an order of
//! links and renames after which a crash leaves the old or the new database in place, and
//! the originals under `damaged-<unix-ms>/` in every case. No original file is deleted: each
//! keeps its bytes under `damaged-<unix-ms>/` (a hard link made before its name leaves the
//! database directory).
//!
//! Memory is proportional to the number of records in the largest segment plus the number
//! of distinct keys (their bytes and locations; values are read back one transaction at a
//! time).

use crate::progress::{self, Task, Unit};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fs::File;
use std::os::unix::fs::{FileExt, MetadataExt};
use std::path::{Path, PathBuf};

use crate::db::pages as collections;
use crate::db::Db;
use crate::engine::{now_ms, Op, COMMIT_LEN, SEAL_LEN};
use crate::error::{Error, Result};
use crate::format::manifest::{Manifest, MANIFEST_NAME};
use crate::format::record::{
    decode_record, decode_segment_header, le_u64, parse_head, HeaderError, KIND_COMMIT, KIND_DEL,
    KIND_PUT, KIND_SEAL, SEGMENT_HEADER_LEN, SEG_COMPACTED, SEG_LOG,
};
use crate::format::segment::{self, Segments};
use crate::format::shm::{SHM_LEN, W_MAGIC, W_READY};
use crate::format::value::ValueType;
use crate::os::lock::LockFile;
use crate::os::map::SegmentMap;

/// Resynchronising past damage checksums at most this many bytes per byte of the file, plus
/// [`RESYNC_BASE`], so that crafted lengths cannot make the search quadratic.
const RESYNC_PER_BYTE: u64 = 8;
const RESYNC_BASE: u64 = 16 << 20;
/// Segment size of the repaired database unless a salvaged transaction needs more.
const DEFAULT_SEGMENT_SIZE: u64 = 64 << 20;

/// A byte range of a segment file that holds no valid record.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct DamagedRange {
    /// The segment file (in the database directory, as it was named before the repair).
    pub file: PathBuf,
    /// Offset of the first damaged byte.
    pub offset: u64,
    /// Bytes in the range.
    pub len: u64,
    /// What was found there.
    pub reason: &'static str,
}

/// A transaction left out because it was not complete.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct DroppedTxn {
    /// The segment file.
    pub file: PathBuf,
    /// Offset of its first intact record.
    pub offset: u64,
    /// Its transaction id.
    pub txn: u64,
    /// Intact PUT/DEL records found for it.
    pub records: u64,
    /// Why it is incomplete.
    pub reason: &'static str,
}

/// A collection left out of the repaired database (format-spec.md §4.4).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct DamagedCollection {
    /// Its key; `None` for tree pages found without any metadata record naming them.
    pub key: Option<Vec<u8>>,
    /// Its collection id, if readable.
    pub collection: Option<u64>,
    /// Why it cannot be trusted.
    pub reason: String,
}

/// What [`repair`] found and did.
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct RepairReport {
    /// Segment files read.
    pub segments_read: u64,
    /// Records that decoded with a valid checksum.
    pub records_scanned: u64,
    /// Complete transactions found in the salvaged log segments.
    pub transactions_salvaged: u64,
    /// Records written into the repaired database: the newest intact version of each key.
    pub records_salvaged: u64,
    /// User keys in the repaired database.
    pub keys_recovered: u64,
    /// Byte ranges that hold no valid record.
    pub damaged: Vec<DamagedRange>,
    /// Transactions left out because they were incomplete.
    pub dropped: Vec<DroppedTxn>,
    /// User keys written by a dropped transaction: each now holds its newest intact value,
    /// which is older, or is absent.
    pub keys_affected: Vec<Vec<u8>>,
    /// User keys read from records that failed their checksum (the key bytes themselves
    /// may be among the damaged ones).
    pub keys_in_damaged_records: Vec<Vec<u8>>,
    /// Collections left out, with why.
    pub collections_damaged: Vec<DamagedCollection>,
    /// Other problems: the manifest missing or damaged, a listed segment file missing.
    pub problems: Vec<String>,
    /// Findings that are not damage: segment files the manifest does not list.
    pub notes: Vec<String>,
    /// The directory the original files were moved into.
    pub moved_to: PathBuf,
    /// Names of the original files moved there.
    pub files_moved: Vec<String>,
}

impl RepairReport {
    /// True when nothing was damaged or left out: the salvage kept everything.
    ///
    /// # Examples
    ///
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// let path = dir.path().join("db");
    /// ziggydb::Db::open(&path)?.set(b"k", "v")?; // the handle is dropped: closed
    /// let report = ziggydb::repair(&path)?;
    /// assert!(report.is_clean());
    /// # Ok::<(), ziggydb::Error>(())
    /// ```
    pub fn is_clean(&self) -> bool {
        self.damaged.is_empty()
            && self.dropped.is_empty()
            && self.keys_in_damaged_records.is_empty()
            && self.collections_damaged.is_empty()
            && self.problems.is_empty()
    }
}

/// Salvages the database in `dir` into a new, consistent database in the same directory,
/// moving every original segment, index and manifest file into `dir/damaged-<unix-ms>/`
/// (format-spec.md §12.2). Works on a directory that [`Db::open`] refuses. Keeps every
/// complete transaction's records that are the newest intact version of their key; leaves
/// out incomplete transactions and any collection whose trees are not intact, and lists
/// both in the report.
///
/// # Errors
/// [`Error::InUse`] while any process (this one included) has the database open;
/// [`Error::InvalidArgument`] if `dir` holds no database; [`Error::IncompatibleVersion`]
/// for files of a newer format (nothing is touched); I/O errors. A failure before the swap's
/// commit point (the rename of the new manifest) leaves the directory's database files as
/// they were; after it, the repaired database is in place and the originals are aside.
///
/// # Examples
///
/// ```
/// # let dir = tempfile::tempdir().unwrap();
/// let path = dir.path().join("db");
/// {
///     let db = ziggydb::Db::open(&path)?;
///     db.set(b"a", "1")?;
///     db.set(b"b", "2")?;
/// }
/// let report = ziggydb::repair(&path)?; // no process may have it open
/// assert_eq!(report.keys_recovered, 2);
/// assert!(report.moved_to.exists()); // the original files, kept aside
/// assert_eq!(ziggydb::Db::open(&path)?.len(), 2);
/// # Ok::<(), ziggydb::Error>(())
/// ```
pub fn repair(dir: impl AsRef<Path>) -> Result<RepairReport> {
    let dir = dir.as_ref();
    // Progress counts the segment files read; the rebuild and the check after them are
    // within the last step.
    let segment_bytes = DirFiles::list(dir).map_or(0, |files| {
        files
            .segments
            .iter()
            .map(|&id| std::fs::metadata(dir.join(segment::file_name(id))).map_or(0, |m| m.len()))
            .sum()
    });
    progress::task(Task::Repair, Unit::Bytes, segment_bytes, || repair_dir(dir))
}

/// [`repair`], its progress metered.
fn repair_dir(dir: &Path) -> Result<RepairReport> {
    if !std::fs::metadata(dir)
        .map_err(|e| Error::io(dir, e))?
        .is_dir()
    {
        return Err(Error::InvalidArgument(format!(
            "{} is not a directory",
            dir.display()
        )));
    }
    let files = DirFiles::list(dir)?;
    if files.segments.is_empty() && !files.manifest {
        return Err(Error::InvalidArgument(format!(
            "{} holds no ZiggyDB database",
            dir.display()
        )));
    }
    let mode = repair_mode(dir, &files)?;
    // §6: holding `ziggy.lock` and an exclusive lock on `ziggy.shm` means nobody is
    // attached, and nobody can attach until they are released.
    let open_lock = LockFile::open(&dir.join("ziggy.lock"), mode)?;
    if !open_lock.try_lock_exclusive()? {
        return Err(Error::InUse {
            path: dir.to_path_buf(),
        });
    }
    let shm_lock = LockFile::open(&dir.join("ziggy.shm"), mode)?;
    if !shm_lock.try_lock_exclusive()? {
        return Err(Error::InUse {
            path: dir.to_path_buf(),
        });
    }
    let files = DirFiles::list(dir)?;
    let mut s = Salvage::default();
    s.scan(dir, &files)?;
    let base = files
        .segments
        .iter()
        .copied()
        .chain(s.listed.iter().copied())
        .max()
        .unwrap_or(0)
        .checked_add(1)
        .ok_or_else(|| Error::InvalidArgument("segment ids exhausted".into()))?;
    let tmp = fresh_dir(dir, "repair-", ".tmp", mode)?;
    let built = s.build(dir, &tmp, base, mode);
    if let Err(e) = built {
        // Only files this repair created are in `tmp`.
        let _ = std::fs::remove_dir_all(&tmp);
        return Err(e);
    }
    // From here `tmp` holds only files this repair created, none of them needed once it
    // returns: a failure removes it too (the swap undoes its own steps before its commit
    // point, and leaves the completed repair after it).
    let swapped = invalidate_shared_state(&shm_lock).and_then(|()| swap(dir, &tmp, &files, mode));
    let (aside, moved) = match swapped {
        Ok(x) => x,
        Err(e) => {
            let _ = std::fs::remove_dir_all(&tmp);
            return Err(e);
        }
    };
    s.report.moved_to = aside;
    s.report.files_moved = moved;
    drop(shm_lock);
    drop(open_lock);
    Ok(s.report)
}

/// The database files in a directory.
struct DirFiles {
    segments: Vec<u32>,
    /// Index files, `MANIFEST.tmp`: derived or temporary files, moved aside too.
    others: Vec<String>,
    manifest: bool,
}

impl DirFiles {
    fn list(dir: &Path) -> Result<Self> {
        let mut f = DirFiles {
            segments: Vec::new(),
            others: Vec::new(),
            manifest: false,
        };
        for e in std::fs::read_dir(dir).map_err(|e| Error::io(dir, e))? {
            let e = e.map_err(|e| Error::io(dir, e))?;
            if !e.file_type().map_err(|x| Error::io(e.path(), x))?.is_file() {
                continue;
            }
            let name = e.file_name().to_string_lossy().into_owned();
            if let Some(id) = segment::parse_file_name(&name) {
                f.segments.push(id);
            } else if name == MANIFEST_NAME {
                f.manifest = true;
            } else if crate::format::index::parse_file_name(&name).is_some()
                || name == "MANIFEST.tmp"
            {
                f.others.push(name);
            }
        }
        f.segments.sort_unstable();
        f.others.sort();
        Ok(f)
    }
}

/// The file mode of the database being repaired (§2.2): its manifest's, or without one the
/// first segment file's.
fn repair_mode(dir: &Path, files: &DirFiles) -> Result<u32> {
    use std::os::unix::fs::PermissionsExt;
    if files.manifest {
        return crate::format::manifest::database_mode(dir, None);
    }
    Ok(files
        .segments
        .first()
        .and_then(|&id| std::fs::symlink_metadata(dir.join(segment::file_name(id))).ok())
        .map_or(crate::os::io::DEFAULT_FILE_MODE, |md| {
            (md.permissions().mode() & 0o666) | 0o600
        }))
}

/// A new directory `dir/<prefix><unix-ms><suffix>` (the next millisecond if taken), for
/// files of mode `mode`.
fn fresh_dir(dir: &Path, prefix: &str, suffix: &str, mode: u32) -> Result<PathBuf> {
    let mut ms = now_ms();
    loop {
        let p = dir.join(format!("{prefix}{ms}{suffix}"));
        match crate::os::io::create_dir(&p, mode) {
            Ok(()) => return Ok(p),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => ms += 1,
            Err(e) => return Err(Error::io(&p, e)),
        }
    }
}

/// Makes the next first attacher cold start (§10.2) instead of adopting shared state that
/// describes the old files. Nobody maps `ziggy.shm` now: we hold it exclusively.
fn invalidate_shared_state(shm: &LockFile) -> Result<()> {
    let len = shm
        .file
        .metadata()
        .map_err(|e| Error::io(&shm.path, e))?
        .len();
    if len == SHM_LEN {
        for w in [W_MAGIC, W_READY] {
            crate::os::io::write_all_at(&shm.file, &[0; 8], (w * 8) as u64, &shm.path)?;
        }
        crate::os::io::sync_data(&shm.file, &shm.path)?;
    }
    Ok(())
}

/// Swaps the salvaged database in `tmp` into `dir` and the originals out into a new
/// `dir/damaged-<unix-ms>/` (format-spec.md §12.2 gives the order and why it is safe).
/// Returns that directory and the names of the files moved into it.
fn swap(dir: &Path, tmp: &Path, files: &DirFiles, mode: u32) -> Result<(PathBuf, Vec<String>)> {
    let aside = fresh_dir(dir, "damaged-", "", mode)?;
    let segs: Vec<String> = files
        .segments
        .iter()
        .map(|&id| segment::file_name(id))
        .collect();
    let mut moved: Vec<String> = segs.clone();
    moved.extend(files.others.iter().cloned());
    if files.manifest {
        moved.push(MANIFEST_NAME.into());
    }
    let mut unlinked: Vec<String> = Vec::new();
    let mut moved_in: Vec<String> = Vec::new();
    let up_to_commit = swap_to_commit(
        dir,
        tmp,
        files,
        &aside,
        &moved,
        &mut unlinked,
        &mut moved_in,
    );
    if let Err(e) = up_to_commit {
        undo_swap(dir, &aside, &unlinked, &moved_in);
        return Err(e);
    }
    // Past the commit point a failure leaves the repaired database in place.
    crate::os::io::sync_dir(dir)?;
    // 5. The old segments' names leave `dir` (they are unlisted now).
    for name in &segs {
        unlink_aside(dir, &aside, name)?;
    }
    crate::os::io::sync_dir(dir)?;
    // Left in `tmp`: the temporary database's lock files and shared state, ours alone.
    let _ = std::fs::remove_dir_all(tmp);
    Ok((aside, moved))
}

/// Steps 1 to 4 of [`swap`], up to and including the rename of the new manifest (the commit
/// point); records the names it unlinks from and moves into `dir`, for [`undo_swap`].
fn swap_to_commit(
    dir: &Path,
    tmp: &Path,
    files: &DirFiles,
    aside: &Path,
    moved: &[String],
    unlinked: &mut Vec<String>,
    moved_in: &mut Vec<String>,
) -> Result<()> {
    // 1. Every original gets a second name under `aside`: from here on its bytes survive
    //    whatever happens to its name in `dir`.
    for name in moved {
        std::fs::hard_link(dir.join(name), aside.join(name))
            .map_err(|e| Error::io(aside.join(name), e))?;
    }
    crate::os::io::sync_dir(aside)?;
    // 2. Old index files and MANIFEST.tmp leave `dir` (derived data: the old database
    //    still opens, rebuilding its index), freeing their names.
    for name in &files.others {
        unlink_aside(dir, aside, name)?;
        unlinked.push(name.clone());
    }
    crate::os::io::sync_dir(dir)?;
    // 3. The new segments (ids above every old one) and index move in, unlisted by the
    //    old manifest; the new index cannot be adopted with it (§10.2 step 3).
    let mut new_files: Vec<String> = Vec::new();
    for e in std::fs::read_dir(tmp).map_err(|e| Error::io(tmp, e))? {
        let name = e.map_err(|e| Error::io(tmp, e))?.file_name();
        let name = name.to_string_lossy().into_owned();
        if segment::parse_file_name(&name).is_some()
            || crate::format::index::parse_file_name(&name).is_some()
        {
            new_files.push(name);
        }
    }
    for name in &new_files {
        crate::os::io::rename(&tmp.join(name), &dir.join(name))?;
        moved_in.push(name.clone());
    }
    crate::os::io::sync_dir(dir)?;
    // 4. The commit point: the new manifest replaces the old one (whose bytes live on
    //    under `aside`).
    crate::os::io::rename(&tmp.join(MANIFEST_NAME), &dir.join(MANIFEST_NAME))
}

/// After a failure before the commit point, puts `dir` back as it was: the new files leave
/// it, the old index names come back (links to the same inodes), and `aside`, which then
/// only holds second names, is removed. If a name cannot be restored, `aside` stays: it
/// keeps the bytes. The old manifest is in place either way, so the old database opens.
fn undo_swap(dir: &Path, aside: &Path, unlinked: &[String], moved_in: &[String]) {
    for name in moved_in {
        let _ = crate::os::io::remove_file(&dir.join(name));
    }
    let mut restored = true;
    for name in unlinked {
        restored &= std::fs::hard_link(aside.join(name), dir.join(name)).is_ok();
    }
    if crate::os::io::sync_dir(dir).is_ok() && restored {
        let _ = std::fs::remove_dir_all(aside);
    }
}

/// Removes the name `dir/name` of a file that is also `aside/name` (checked: same device
/// and inode), so no bytes are lost.
fn unlink_aside(dir: &Path, aside: &Path, name: &str) -> Result<()> {
    let here = dir.join(name);
    let there = aside.join(name);
    let a = std::fs::metadata(&here).map_err(|e| Error::io(&here, e))?;
    let b = std::fs::metadata(&there).map_err(|e| Error::io(&there, e))?;
    if (a.dev(), a.ino()) != (b.dev(), b.ino()) {
        return Err(Error::InvalidArgument(format!(
            "{} changed during the repair; it is left in place",
            here.display()
        )));
    }
    std::fs::remove_file(&here).map_err(|e| Error::io(&here, e))
}

/// Where a salvaged record is.
#[derive(Debug, Clone, Copy)]
struct Loc {
    seg: u32,
    off: u64,
    len: usize,
    txn: u64,
    kind: u8,
    vtype: u8,
}

/// A record that decoded, as the scan keeps it.
struct Found {
    off: usize,
    len: usize,
    kind: u8,
    vtype: u8,
    txn: u64,
    internal: bool,
    key: Vec<u8>,
    /// The value of a COMMIT (record count) or SEAL (its own offset).
    word: u64,
}

/// PUT/DEL records of a transaction awaiting its COMMIT.
struct Pending {
    txn: u64,
    off: usize,
    recs: Vec<usize>,
}

#[derive(Default)]
struct Salvage {
    report: RepairReport,
    /// Newest intact record of each (internal?, key).
    newest: HashMap<(bool, Vec<u8>), Loc>,
    affected: BTreeSet<Vec<u8>>,
    suspects: BTreeSet<Vec<u8>>,
    /// Segment ids the manifest lists, if it could be read.
    listed: Vec<u32>,
    /// The database id of the manifest, if it could be read (0 otherwise).
    manifest_db_id: u32,
    /// Nonzero database ids in the headers of the salvaged segments.
    header_db_ids: BTreeSet<u32>,
}

impl Salvage {
    /// Reads every segment file; salvages those of the database (§12.2: the manifest's list
    /// when it can be read, every segment file otherwise).
    fn scan(&mut self, dir: &Path, files: &DirFiles) -> Result<()> {
        let manifest = match Manifest::read(dir) {
            Ok(Some(m)) => Some(m),
            Ok(None) => {
                self.report
                    .problems
                    .push("the manifest is missing: every segment file is salvaged".into());
                None
            }
            Err(e @ Error::IncompatibleVersion { .. }) => return Err(e),
            Err(e) => {
                self.report.problems.push(format!(
                    "{}: every segment file is salvaged",
                    crate::error::with_causes(&e)
                ));
                None
            }
        };
        if let Some(m) = &manifest {
            self.listed = m.segments.iter().map(|&(id, _)| id).collect();
            self.manifest_db_id = m.db_id;
            for &(id, _) in &m.segments {
                if !files.segments.contains(&id) {
                    self.report.problems.push(format!(
                        "{} is listed in the manifest but missing",
                        segment::file_name(id)
                    ));
                }
            }
        }
        for &id in &files.segments {
            let listed = manifest
                .as_ref()
                .and_then(|m| m.segments.iter().find(|&&(s, _)| s == id).map(|&(_, k)| k));
            let salvage = manifest.is_none() || listed.is_some();
            if !salvage {
                self.report.notes.push(format!(
                    "{} is not listed in the manifest (left by an interrupted rotation or \
                     compaction): read and moved aside, not salvaged",
                    segment::file_name(id)
                ));
            }
            self.scan_file(dir, id, listed, salvage)?;
        }
        self.report.keys_affected = std::mem::take(&mut self.affected).into_iter().collect();
        self.report.keys_in_damaged_records =
            std::mem::take(&mut self.suspects).into_iter().collect();
        Ok(())
    }

    fn scan_file(&mut self, dir: &Path, id: u32, listed: Option<u8>, salvage: bool) -> Result<()> {
        let path = dir.join(segment::file_name(id));
        let file = crate::os::io::open_file(&path, false)?;
        let len = file.metadata().map_err(|e| Error::io(&path, e))?.len();
        self.report.segments_read += 1;
        progress::advance(len);
        if len < SEGMENT_HEADER_LEN as u64 {
            self.damage(&path, 0, len, "segment file shorter than its header");
            return Ok(());
        }
        let map = SegmentMap::open(&file, len, &path)?;
        let buf = map.slice(0, map.len()).unwrap_or(&[]);
        let header_kind = match decode_segment_header(buf) {
            Ok(h) if h.id == id => {
                if salvage && h.db_id != 0 {
                    self.header_db_ids.insert(h.db_id);
                }
                Some(h.kind)
            }
            Ok(_) => {
                self.damage(&path, 0, 64, "segment header names another segment id");
                None
            }
            Err(HeaderError::Version(v, supported)) => {
                return Err(Error::IncompatibleVersion {
                    file: path,
                    found: v,
                    supported,
                })
            }
            Err(_) => {
                self.damage(&path, 0, 64, "segment header damaged");
                None
            }
        };
        let found = self.read_records(buf, &path);
        self.report.records_scanned += found.len() as u64;
        if !salvage {
            return Ok(());
        }
        // Without a readable header or manifest entry, a segment holding COMMIT records is
        // a log; one holding only PUTs is a compacted copy.
        let kind = header_kind.or(listed).unwrap_or_else(|| {
            if found.iter().any(|f| f.kind == KIND_COMMIT) {
                SEG_LOG
            } else {
                SEG_COMPACTED
            }
        });
        if kind == SEG_COMPACTED {
            for f in &found {
                match f.kind {
                    // Each record of a compacted segment is a copy of a committed record.
                    KIND_PUT => self.offer(id, f),
                    KIND_SEAL => {}
                    _ => self.damage(
                        &path,
                        f.off as u64,
                        f.len as u64,
                        "record of a kind that compacted segments never hold",
                    ),
                }
            }
            return Ok(());
        }
        self.assemble(id, &path, &found);
        Ok(())
    }

    /// Groups the records of a log segment into transactions (§3.3) and keeps the complete
    /// ones.
    fn assemble(&mut self, id: u32, path: &Path, found: &[Found]) {
        let mut pending: Option<Pending> = None;
        let mut prev = 0u64;
        for (i, f) in found.iter().enumerate() {
            match f.kind {
                KIND_PUT | KIND_DEL => {
                    if pending.as_ref().is_some_and(|p| p.txn != f.txn) {
                        let p = pending.take();
                        self.drop_txn(
                            path,
                            p,
                            found,
                            "no commit record before the next transaction",
                        );
                    }
                    pending
                        .get_or_insert(Pending {
                            txn: f.txn,
                            off: f.off,
                            recs: Vec::new(),
                        })
                        .recs
                        .push(i);
                }
                KIND_COMMIT => match pending.take() {
                    Some(p) if p.txn == f.txn && p.recs.len() as u64 == f.word && f.txn > prev => {
                        prev = f.txn;
                        self.report.transactions_salvaged += 1;
                        for &r in &p.recs {
                            if let Some(rec) = found.get(r) {
                                self.offer(id, rec);
                            }
                        }
                    }
                    Some(p) if p.txn == f.txn && p.recs.len() as u64 == f.word => self.drop_txn(
                        path,
                        Some(p),
                        found,
                        "transaction id not above the one before it (stale bytes of an \
                         earlier crash)",
                    ),
                    Some(p) if p.txn == f.txn => self.drop_txn(
                        path,
                        Some(p),
                        found,
                        "its commit record counts a different number of records",
                    ),
                    other => {
                        self.drop_txn(
                            path,
                            other,
                            found,
                            "no commit record before the next transaction",
                        );
                        self.report.dropped.push(DroppedTxn {
                            file: path.to_path_buf(),
                            offset: f.off as u64,
                            txn: f.txn,
                            records: 0,
                            reason: "a commit record without any of its records",
                        });
                    }
                },
                _ => {
                    let p = pending.take();
                    self.drop_txn(path, p, found, "no commit record before the seal");
                }
            }
        }
        let p = pending.take();
        self.drop_txn(path, p, found, "no commit record: the log ends inside it");
    }

    fn drop_txn(&mut self, path: &Path, p: Option<Pending>, found: &[Found], reason: &'static str) {
        let Some(p) = p else { return };
        for f in p.recs.iter().filter_map(|&r| found.get(r)) {
            if !f.internal {
                self.affected.insert(f.key.clone());
            }
        }
        self.report.dropped.push(DroppedTxn {
            file: path.to_path_buf(),
            offset: p.off as u64,
            txn: p.txn,
            records: p.recs.len() as u64,
            reason,
        });
    }

    /// A committed record: it replaces the one known for its key if it is newer.
    fn offer(&mut self, seg: u32, f: &Found) {
        let loc = Loc {
            seg,
            off: f.off as u64,
            len: f.len,
            txn: f.txn,
            kind: f.kind,
            vtype: f.vtype,
        };
        self.newest
            .entry((f.internal, f.key.clone()))
            .and_modify(|old| {
                if loc.txn > old.txn {
                    *old = loc;
                }
            })
            .or_insert(loc);
    }

    fn damage(&mut self, path: &Path, offset: u64, len: u64, reason: &'static str) {
        self.report.damaged.push(DamagedRange {
            file: path.to_path_buf(),
            offset,
            len,
            reason,
        });
    }

    /// Every record of a segment that decodes with a valid checksum, up to its SEAL.
    /// Damaged ranges are reported, and skipped by searching forward for the next offset
    /// where a record decodes.
    fn read_records(&mut self, buf: &[u8], path: &Path) -> Vec<Found> {
        let mut found = Vec::new();
        let mut budget = RESYNC_BASE + buf.len() as u64 * RESYNC_PER_BYTE;
        let mut off = SEGMENT_HEADER_LEN;
        while off < buf.len() {
            let rest = buf.get(off..).unwrap_or(&[]);
            match decode_record(rest) {
                Ok(r) => {
                    let word = le_u64(r.value, 0).unwrap_or(u64::MAX);
                    let f = Found {
                        off,
                        len: r.len,
                        kind: r.kind,
                        vtype: r.vtype,
                        txn: r.txn,
                        internal: r.internal,
                        key: r.key.to_vec(),
                        word,
                    };
                    off += r.len;
                    if f.kind == KIND_SEAL && f.word == f.off as u64 {
                        // Nothing after a seal is part of the segment (§3.3); the space
                        // there is unwritten, so anything but zeros is reported.
                        found.push(f);
                        let after = buf.get(off..).unwrap_or(&[]);
                        if let Some(first) = after.iter().position(|&b| b != 0) {
                            let last = after.iter().rposition(|&b| b != 0).unwrap_or(first);
                            self.damage(
                                path,
                                (off + first) as u64,
                                (last + 1 - first) as u64,
                                "bytes after the seal that ends the segment",
                            );
                        }
                        break;
                    }
                    if f.kind == KIND_SEAL {
                        self.damage(
                            path,
                            f.off as u64,
                            f.len as u64,
                            "seal record at the wrong offset",
                        );
                        continue;
                    }
                    found.push(f);
                }
                Err(e) => {
                    if let Some(key) = damaged_key(rest) {
                        self.suspects.insert(key);
                    }
                    if let Some(next) = resync(buf, off + 1, &mut budget) {
                        self.damage(path, off as u64, (next - off) as u64, e.reason());
                        off = next;
                        continue;
                    }
                    // No record follows: unwritten space (zeros) is the normal end; anything
                    // else is damage or a torn append.
                    let Some(first) = rest.iter().position(|&b| b != 0) else {
                        break;
                    };
                    let last = rest.iter().rposition(|&b| b != 0).unwrap_or(first);
                    let reason = if budget == 0 {
                        "damaged; the search for the next record gave up here"
                    } else if first == 0 {
                        e.reason()
                    } else {
                        "bytes that are not records after the end of the log"
                    };
                    self.damage(
                        path,
                        (off + first) as u64,
                        (last + 1 - first) as u64,
                        reason,
                    );
                    break;
                }
            }
        }
        found
    }
}

/// The user key of a record that failed its checksum, if its header is plausible and its
/// key lies inside the file. The bytes are unverified.
fn damaged_key(rest: &[u8]) -> Option<Vec<u8>> {
    let h = parse_head(rest).ok()?;
    if !matches!(h.kind, KIND_PUT | KIND_DEL) || h.internal() {
        return None;
    }
    let at = h.key_offset();
    let key = rest.get(at..at.checked_add(h.key_len)?)?;
    (!key.is_empty()).then(|| key.to_vec())
}

/// The first offset at or after `from` where a record decodes with a valid checksum.
/// Checksumming costs are taken from `budget`; `None` when none is found or the budget ran
/// out (then `budget` is 0).
fn resync(buf: &[u8], from: usize, budget: &mut u64) -> Option<usize> {
    let mut o = from;
    while let Some(rest) = buf.get(o..).filter(|r| r.len() > 4) {
        // Cheap tests of the header first (§3.2: kind, flags, reserved bytes, lengths).
        if let Some(len) = parse_head(rest).ok().and_then(|h| h.len()) {
            let len = len as u64;
            if o as u64 + len <= buf.len() as u64 {
                if *budget < len {
                    *budget = 0;
                    return None;
                }
                *budget -= len;
                if decode_record(rest).is_ok() {
                    return Some(o);
                }
            }
        }
        o += 1;
    }
    None
}

/// Reads salvaged records back from the original segment files.
struct Reader {
    dir: PathBuf,
    files: HashMap<u32, File>,
}

/// A salvaged PUT, read back and verified.
struct Put {
    internal: bool,
    key: Vec<u8>,
    vtype: u8,
    expires_at: u64,
    value: Vec<u8>,
}

impl Reader {
    fn read(&mut self, loc: &Loc) -> Result<Put> {
        let path = self.dir.join(segment::file_name(loc.seg));
        let f = match self.files.entry(loc.seg) {
            std::collections::hash_map::Entry::Occupied(e) => e.into_mut(),
            std::collections::hash_map::Entry::Vacant(e) => {
                e.insert(crate::os::io::open_file(&path, false)?)
            }
        };
        let mut buf = vec![0u8; loc.len];
        f.read_exact_at(&mut buf, loc.off)
            .map_err(|e| Error::io(&path, e))?;
        let r = decode_record(&buf).map_err(|e| Error::CorruptSegment {
            file: path.clone(),
            offset: loc.off,
            reason: e.reason(),
        })?;
        Ok(Put {
            internal: r.internal,
            key: r.key.to_vec(),
            vtype: r.vtype,
            expires_at: r.expires_at,
            value: r.value.to_vec(),
        })
    }
}

impl Salvage {
    /// Decides what survives, writes it into a new database in `tmp` whose segment ids
    /// start at `base`, and checks that database.
    fn build(&mut self, dir: &Path, tmp: &Path, base: u32, mode: u32) -> Result<()> {
        let mut reader = Reader {
            dir: dir.to_path_buf(),
            files: HashMap::new(),
        };
        let newest = std::mem::take(&mut self.newest);
        let mut live: Vec<((bool, Vec<u8>), Loc)> = newest
            .into_iter()
            .filter(|(_, l)| l.kind == KIND_PUT)
            .collect();
        live.sort_by_key(|(_, l)| (l.txn, l.seg, l.off));
        let page_of = |key: &[u8]| collections::parse_page_key(key);
        let pages: HashMap<(u64, u64), Loc> = live
            .iter()
            .filter(|((internal, _), l)| *internal && l.vtype == collections::VTYPE_PAGE)
            .filter_map(|((_, k), l)| page_of(k).map(|p| (p, *l)))
            .collect();

        // Collections: a metadata record whose trees are not intact is left out, with its
        // pages (§12.2).
        let mut good: BTreeSet<u64> = BTreeSet::new();
        let mut bad: BTreeSet<u64> = BTreeSet::new();
        let mut drop_keys: BTreeSet<(bool, Vec<u8>)> = BTreeSet::new();
        for ((internal, key), loc) in &live {
            // A collection's metadata is a user key or a key of a numbered database (§4.5).
            if !crate::db::dbs::is_keyspace(key, *internal)
                || !ValueType::from_tag(loc.vtype).is_some_and(ValueType::is_collection)
            {
                continue;
            }
            let meta = reader.read(loc)?;
            let walked = collections::walk_for_repair(loc.vtype, &meta.value, &mut |c, p| {
                let l = pages.get(&(c, p))?;
                reader.read(l).ok().map(|put| put.value)
            });
            let id = le_u64(&meta.value, 0);
            match walked {
                Ok((c, _)) if !bad.contains(&c) && good.insert(c) => {}
                Ok(_) => {
                    self.report.collections_damaged.push(DamagedCollection {
                        key: Some(key.clone()),
                        collection: id,
                        reason: "another key names the same collection".into(),
                    });
                    drop_keys.insert((*internal, key.clone()));
                }
                Err(reason) => {
                    self.report.collections_damaged.push(DamagedCollection {
                        key: Some(key.clone()),
                        collection: id,
                        reason,
                    });
                    bad.extend(id);
                    drop_keys.insert((*internal, key.clone()));
                }
            }
        }
        // Pages of a collection being reclaimed have no metadata, legitimately.
        let mut reclaiming: BTreeSet<u64> = BTreeSet::new();
        let mut next_coll_at: Option<Loc> = None;
        for ((internal, key), loc) in &live {
            if *internal && key == collections::TRASH_KEY {
                let put = reader.read(loc)?;
                reclaiming.extend(
                    collections::decode_trash(&put.value)
                        .into_iter()
                        .map(|(c, _)| c),
                );
            }
            if *internal && key == collections::NEXT_COLL_KEY {
                next_coll_at = Some(*loc);
            }
        }
        let mut orphans: BTreeMap<u64, u64> = BTreeMap::new();
        for &(c, _) in pages.keys() {
            if !good.contains(&c) && !bad.contains(&c) && !reclaiming.contains(&c) {
                *orphans.entry(c).or_default() += 1;
            }
        }
        for (&c, &n) in &orphans {
            self.report.collections_damaged.push(DamagedCollection {
                key: None,
                collection: Some(c),
                reason: format!("{n} tree pages without a metadata record naming them"),
            });
        }
        let max_coll = good
            .iter()
            .chain(&bad)
            .chain(&reclaiming)
            .chain(orphans.keys())
            .copied()
            .max()
            .unwrap_or(0);

        // Group the survivors by transaction id, in order.
        let mut txns: BTreeMap<u64, Vec<Loc>> = BTreeMap::new();
        for ((internal, key), loc) in &live {
            let left_out = drop_keys.contains(&(*internal, key.clone()))
                || *internal
                    && page_of(key)
                        .is_some_and(|(c, _)| bad.contains(&c) || orphans.contains_key(&c));
            if !left_out {
                txns.entry(loc.txn).or_default().push(*loc);
            }
        }
        // The last collection id must stay above every id in use, or a new collection
        // would share pages with an old one.
        let mut fix_next_coll = None;
        if max_coll > 0 {
            let stored = match next_coll_at {
                Some(l) => le_u64(&reader.read(&l)?.value, 0).unwrap_or(0),
                None => 0,
            };
            if stored < max_coll {
                self.report.problems.push(format!(
                    "the last collection id was {stored}, below the id {max_coll} in use: \
                     raised to {max_coll}"
                ));
                if let Some(l) = next_coll_at {
                    if let Some(v) = txns.get_mut(&l.txn) {
                        v.retain(|x| x.seg != l.seg || x.off != l.off);
                    }
                }
                fix_next_coll = Some(max_coll);
            }
        }
        let largest = txns
            .values()
            .map(|v| v.iter().map(|l| l.len as u64).sum::<u64>())
            .max()
            .unwrap_or(0);
        let segment_size = (largest + (SEGMENT_HEADER_LEN + COMMIT_LEN + SEAL_LEN) as u64)
            .max(DEFAULT_SEGMENT_SIZE)
            .min(u64::from(u32::MAX));

        // A fresh database whose segment ids start above every original one (§12.2).
        // The repaired database keeps its id (the manifest's, or the one its salvaged
        // segments agree on), so that its first attacher may sweep the old segment names
        // still in `dir` after a crash late in the swap (§6.3, §12.2 step 4).
        let db_id = match (self.manifest_db_id, self.header_db_ids.len()) {
            (0, 1) => self.header_db_ids.first().copied().unwrap_or(0),
            (id, _) => id,
        };
        let db_id = if db_id == 0 {
            crate::format::manifest::new_db_id(tmp)
        } else {
            db_id
        };
        Segments::new(tmp, mode).create(base, SEG_LOG, 1, db_id, 64 << 10)?;
        Manifest {
            db_id,
            active: base,
            segments: vec![(base, SEG_LOG)],
        }
        .write(tmp, mode)?;
        let db = Db::options()
            .mode(mode)
            .segment_size(segment_size)
            .auto_compact(false, 0.5, 0)
            .active_expiry(None)
            .open(tmp)?;
        let shared = std::sync::Arc::clone(&db.inner);
        let guard = shared.begin_writer(shared.opts.lock_timeout)?;
        let mut end = 0;
        let mut last_txn = 0;
        for (&txn, locs) in &txns {
            let mut ops = Vec::with_capacity(locs.len());
            for loc in locs {
                let put = reader.read(loc)?;
                self.report.keys_recovered += u64::from(!put.internal);
                ops.push((
                    put.key,
                    Op::Put {
                        vtype: put.vtype,
                        payload: put.value,
                        expires_at: put.expires_at,
                        internal: put.internal,
                    },
                ));
            }
            self.report.records_salvaged += ops.len() as u64;
            end = shared.commit_ops_as(txn, &ops)?;
            last_txn = txn;
        }
        if let Some(id) = fix_next_coll {
            let op = Op::Put {
                vtype: collections::VTYPE_INTERNAL,
                payload: id.to_le_bytes().to_vec(),
                expires_at: 0,
                internal: true,
            };
            end =
                shared.commit_ops_as(last_txn + 1, &[(collections::NEXT_COLL_KEY.to_vec(), op)])?;
            self.report.records_salvaged += 1;
        }
        drop(guard);
        if end != 0 {
            shared.sync_to(end)?;
        }
        let check = db.check()?;
        if !check.is_ok() {
            return Err(Error::InvalidArgument(format!(
                "the salvaged database fails its check: {}",
                check.problems.join("; ")
            )));
        }
        // Closing the last handle checkpoints the index, so the repaired database opens
        // without a scan.
        drop(shared);
        drop(db);
        Ok(())
    }
}

/// Lists longer than this print their first entries and a count of the rest.
const SHOWN: usize = 100;

/// A key as printed in the report: quoted, bytes that are not printable ASCII as `\xHH`.
fn show_key(key: &[u8]) -> String {
    let mut s = String::with_capacity(key.len() + 2);
    s.push('"');
    for &b in key {
        match b {
            b'"' | b'\\' => {
                s.push('\\');
                s.push(char::from(b));
            }
            0x20..=0x7e => s.push(char::from(b)),
            _ => s.push_str(&format!("\\x{b:02x}")),
        }
    }
    s.push('"');
    s
}

fn file_label(p: &Path) -> String {
    p.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| p.display().to_string())
}

/// Writes a titled list, one entry per indented line, at most [`SHOWN`] of them.
fn list<T>(
    f: &mut std::fmt::Formatter<'_>,
    title: &str,
    items: &[T],
    show: impl Fn(&T) -> String,
) -> std::fmt::Result {
    writeln!(f, "{title}: {}", items.len())?;
    for item in items.iter().take(SHOWN) {
        writeln!(f, "  {}", show(item))?;
    }
    if items.len() > SHOWN {
        writeln!(f, "  ... and {} more", items.len() - SHOWN)?;
    }
    Ok(())
}

/// One line per finding: the counts, then every damaged range, dropped transaction, key
/// and collection (at most 100 of each, then a count), then where the originals went.
impl std::fmt::Display for RepairReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.is_clean() {
            writeln!(f, "nothing was damaged: every record was salvaged")?;
        } else {
            writeln!(
                f,
                "damage found: what was intact was salvaged, the rest is listed below"
            )?;
        }
        writeln!(f, "segments read: {}", self.segments_read)?;
        writeln!(f, "records scanned: {}", self.records_scanned)?;
        writeln!(f, "transactions salvaged: {}", self.transactions_salvaged)?;
        writeln!(f, "records salvaged: {}", self.records_salvaged)?;
        writeln!(f, "keys recovered: {}", self.keys_recovered)?;
        list(f, "damaged ranges", &self.damaged, |d| {
            format!(
                "{} at byte {}, {} bytes: {}",
                file_label(&d.file),
                d.offset,
                d.len,
                d.reason
            )
        })?;
        list(f, "transactions dropped", &self.dropped, |t| {
            format!(
                "txn {} in {} at byte {} ({} records): {}",
                t.txn,
                file_label(&t.file),
                t.offset,
                t.records,
                t.reason
            )
        })?;
        list(
            f,
            "keys written by dropped transactions (now older or absent)",
            &self.keys_affected,
            |k| show_key(k),
        )?;
        list(
            f,
            "keys in damaged records (unverified)",
            &self.keys_in_damaged_records,
            |k| show_key(k),
        )?;
        list(f, "collections left out", &self.collections_damaged, |c| {
            let key = c.key.as_deref().map_or("(key unknown)".into(), show_key);
            match c.collection {
                Some(id) => format!("{key} (collection {id}): {}", c.reason),
                None => format!("{key}: {}", c.reason),
            }
        })?;
        list(f, "problems", &self.problems, String::clone)?;
        list(f, "notes", &self.notes, String::clone)?;
        write!(
            f,
            "originals moved to: {} ({} files)",
            self.moved_to.display(),
            self.files_moved.len()
        )
    }
}
