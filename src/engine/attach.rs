//! Attaching to a database directory (format-spec.md §6, §10): the registry of this process's
//! open handles, preparing and classifying the directory's files, the first opener's recovery
//! or rebuild and the later openers' warm attach, the process table in `ziggy.shm`, fork
//! detection, and detaching.

#[allow(clippy::wildcard_imports)]
use super::*;

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
const RUNTIME_FILES: [&str; 7] = [
    "ziggy.lock",
    "ziggy.shm",
    "writer.lock",
    "sync.lock",
    "compact.lock",
    "ziggy.pubsub",
    "ziggy.views",
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
            return crate::os::io::create_db_dir(dir, mode).map_err(|e| not_a_directory(dir, e));
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
        crate::os::io::open_file(path, false)
            .is_ok_and(|f| f.read_exact_at(&mut b, 0).is_ok() && b[..] == *magic)
    };
    if name == segment::file_name(1) {
        if let Some(b) = read() {
            let (head, rest) = b.split_at(b.len().min(SEGMENT_HEADER_LEN));
            if zeros(rest) {
                if zeros(head) {
                    return Entry::Leftover(0);
                }
                if let Ok(h) = crate::format::record::decode_segment_header(head) {
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
        return if has_magic(&crate::format::manifest::MAGIC) {
            Entry::Database
        } else {
            Entry::Foreign
        };
    }
    let magic: &[u8] = if segment::parse_file_name(name).is_some() {
        &crate::format::record::SEGMENT_MAGIC
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
    let Ok(f) = crate::os::io::open_file(path, false) else {
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
    /// The opener watched was once found holding the lock without its phase.
    phase_cleared: bool,
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
        Self {
            last,
            own: 0,
            phase_cleared: false,
        }
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
        crate::os::pause::point("opener-give-up");
        let doing = pid.and_then(|p| opener_phase(dir, p));
        // The opener watched so far, found holding the lock but no longer saying what it does:
        // it cleared its phase to let go of the lock (format-spec.md §6.5) after the holder
        // was read. Wait once more, instead of blaming a lock that is being let go of; a
        // holder that stays without a phase through that wait gets the plain timeout.
        if doing.is_none()
            && !timeout.is_zero()
            && !self.phase_cleared
            && pid.is_some_and(|p| self.last.is_some_and(|(lp, _)| lp == p))
        {
            self.phase_cleared = true;
            return Ok(());
        }
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
pub(super) fn holder_pid(holder: &str) -> Option<u32> {
    let rest = holder.strip_prefix("process ")?;
    let end = rest
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(rest.len());
    rest.get(..end)?.parse().ok()
}

/// What process `pid` says in `ziggy.shm` word `W_OPENER` that it is doing, for a message.
pub(super) fn opener_phase(dir: &Path, pid: u32) -> Option<&'static str> {
    use std::os::unix::fs::FileExt;
    let file = crate::os::io::open_file(&dir.join("ziggy.shm"), false).ok()?;
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

impl Shared {
    /// Opens `dir`, sharing the state with other handles of this process.
    pub(crate) fn open(
        dir: &Path,
        opts: OpenOptions,
        expire_batch: expiry::ExpireBatch,
    ) -> Result<Arc<Handle>> {
        if opts.segment_size < 64 << 10 || opts.segment_size > u64::from(u32::MAX) {
            return Err(Error::InvalidArgument(
                "segment size must be between 64 KiB and 4 GiB - 1".into(),
            ));
        }
        if let Some(mode) = opts.mode {
            crate::os::io::check_mode(mode)?;
        }
        let read_only = opts.read_only;
        if !read_only {
            prepare_dir(dir, opts.mode.unwrap_or(crate::os::io::DEFAULT_FILE_MODE))?;
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
            workers.extend(spawn_worker(&s, "ziggydb-expire", every, move |s| {
                // Never wait long for the writer lock: another process may be expiring. Nor
                // for a rebuild (§10.4), which its sample would wait for.
                if s.rebuilding() {
                    return;
                }
                let _ = s.expire_pass(Some(Duration::from_millis(10)), expire_batch);
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
        let mode = crate::format::manifest::database_mode(dir, opts.mode)?;
        if let Some(s) = Self::attach_warm(dir, &opts, mode)? {
            return Ok(s);
        }
        let open_lock = LockFile::open(&dir.join("ziggy.lock"), mode)?;
        wait_for_open_lock(&open_lock, dir, opts.lock_timeout)?;
        crate::os::pause::point("attach");
        // Again under the lock: a process creating the database meanwhile has finished.
        let mode = crate::format::manifest::database_mode(dir, opts.mode)?;
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
            crate::os::io::allocate(&shm_lock.file, SHM_LEN, &shm_path)?;
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
        let Ok(file) = crate::os::io::open_file(&shm_path, true) else {
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
        crate::os::pause::point("attach-headers");
        let open_lock = LockFile::open(&dir.join("ziggy.lock"), mode)?;
        let shm_lock = LockFile {
            file,
            path: shm_path,
            waiter: Default::default(),
        };
        let mut s = Self::with_state(dir, opts.clone(), mode, open_lock, shm_lock, shm)?;
        s.check_listed_headers(man)?;
        s.join(Arc::new(idx));
        Ok(Some(s))
    }

    /// Checks the header of every segment `man` lists, as a first attacher does (§6.3), so
    /// that a damaged or newer segment is refused at the open whoever attached before; it
    /// maps each segment, which reads would anyway. A warm attacher holds no lock that stops
    /// a compaction in another process, which may replace the manifest and delete a listed
    /// segment between the read of the manifest and the check: a segment gone is looked up
    /// in the manifest again, and only one that is still listed there is an error.
    fn check_listed_headers(&self, mut man: Manifest) -> Result<()> {
        // A compaction at most every few milliseconds: more rereads than this means the
        // file is missing for good, and the error says so.
        let mut rereads = 1000;
        'check: loop {
            for &(id, _) in &man.segments {
                match self.segs.check_header(id) {
                    Ok(_) => {}
                    Err(Error::Io { ref source, .. })
                        if source.kind() == std::io::ErrorKind::NotFound && rereads > 0 =>
                    {
                        rereads -= 1;
                        let now = self.read_manifest()?;
                        if now.segments.iter().any(|&(listed, _)| listed == id) {
                            // Still listed: missing for good, and its error stands.
                            self.segs.check_header(id)?;
                        }
                        man = now;
                        continue 'check;
                    }
                    Err(e) => return Err(e),
                }
            }
            return Ok(());
        }
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
            fork_gen: crate::os::map::fork_generation(),
            pubsub: Mutex::new(None),
            wake: Default::default(),
            views: Default::default(),
        }
    }

    /// Whether this process is a `fork()` of the one that opened the handle.
    pub(crate) fn forked(&self) -> bool {
        crate::os::map::fork_generation() != self.fork_gen
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
        crate::engine::expiry::join_clock(&self.shm);
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
        crate::os::pause::point("first-open");
        crate::os::pause::busy("first-open");
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
                crate::os::io::remove_file(&path).map_err(|e| Error::io(&path, e))?;
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
                if found > crate::format::record::FORMAT_VERSION)
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
        match hint {
            Some(idx) if readable(&idx) => self.publish_rebuilding(idx, &man, seg_bytes)?,
            old => self.publish_unproved(
                &man,
                newest.unwrap_or(0) + 1,
                old.as_ref(),
                ckpt.unwrap_or(0),
                seg_bytes,
            )?,
        }
        Ok(true)
    }

    /// Sets the shared state for a rebuild beside which nothing can be read (format-spec.md
    /// §10.4): the database has no index whose checkpoint lies in the active segment (it is
    /// missing, damaged, older, of another database, or checkpointed before the last
    /// rotation), so nothing tells which logged transactions an index held. The state names a
    /// new, empty index of generation `gen`, never checkpointed, which proves no read: every
    /// read waits for the rebuild, but other processes can open meanwhile. `rebuild_from`
    /// keeps `ckpt`, the checkpoint of this database's newest index `old` if its header is
    /// readable (0 if none), which the rebuild checks the log against; the counters are
    /// `old`'s checkpoint's, or zero, until the rebuild.
    fn publish_unproved(
        &self,
        man: &Manifest,
        gen: u64,
        old: Option<&IndexMap>,
        ckpt: u64,
        seg_bytes: u64,
    ) -> Result<()> {
        let idx = self.create_index(gen, index::MIN_CAPACITY)?;
        let h = |i| old.map_or(0, |o| o.h(i).load(Ordering::Relaxed));
        // No commit runs before the rebuild publishes the log's real end.
        let log_pos = pos(man.active, SEGMENT_HEADER_LEN as u32);
        self.shm.set(W_INDEX_GEN, gen);
        self.shm.set(W_LOG_POS, log_pos);
        self.shm.set(W_DURABLE_POS, log_pos);
        self.shm.set(W_NEXT_TXN, h(index::H_NEXT_TXN).max(1));
        self.shm.set(
            W_NEXT_SEG,
            h(index::H_NEXT_SEG).max(u64::from(self.max_seg_id()?.max(man.active)) + 1),
        );
        self.set_counts(old.unwrap_or(&idx), man, seg_bytes);
        self.shm.set(W_REBUILD_FROM, ckpt);
        self.index.store(Some(Arc::new(idx)));
        Ok(())
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
    pub(super) fn finish_rebuild(&self) -> Result<()> {
        let me = u64::from(std::process::id());
        self.shm.set(W_OPENER, OPENER_RECOVERING << 32 | me);
        let r = (|| {
            let man = self.read_manifest()?;
            let old = self.current_index()?;
            let (_, gens) = self.list_files()?;
            let gen = gens.into_iter().max().unwrap_or(0).max(old.gen) + 1;
            self.rebuild(&man, gen, Some(self.shm.get(W_REBUILD_FROM)))?;
            self.shm.set(W_SEGMENT_BYTES, self.segment_file_bytes(&man));
            let _ = crate::os::io::remove_file(&old.path);
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
    pub(super) fn adopt(&self, idx: IndexMap, man: &Manifest, seg_bytes: u64) -> Result<()> {
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
        let db_id = crate::format::manifest::new_db_id(&self.dir);
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
        crate::os::io::sync_dir(&self.dir)?;
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
    pub(super) fn list_files(&self) -> Result<(Vec<u32>, Vec<u64>)> {
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

    pub(super) fn max_seg_id(&self) -> Result<u32> {
        Ok(self.list_files()?.0.into_iter().max().unwrap_or(0))
    }

    pub(super) fn segment_file_bytes(&self, man: &Manifest) -> u64 {
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
        // Victims of a compaction that a read view may still read (format-spec.md §8.2).
        let pinned = self.views_pin(None);
        for id in segs.into_iter().filter(|_| !pinned) {
            let path = self.segs.path(id);
            if !man.segments.iter().any(|&(s, _)| s == id)
                && id != rotating
                && (segment::is_ours(&path, id, man.db_id) || is_link(&path))
            {
                self.segs.forget(id);
                removed |= crate::os::io::remove_file(&path).is_ok();
            }
        }
        if include_index {
            let cur = self.shm.get(W_INDEX_GEN);
            for g in gens.into_iter().filter(|&g| g != cur) {
                let path = self.dir.join(index::file_name(g));
                if index_is_ours(&path, g, man.db_id) || is_link(&path) {
                    removed |= crate::os::io::remove_file(&path).is_ok();
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
                let _ = crate::os::io::remove_file(&tmp);
            }
        }
        if removed {
            let _ = crate::os::io::sync_dir(&self.dir);
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
        // Waiters of a process that died while they waited are no longer waiting.
        let waiting = self
            .shm
            .proc_word(slot, P_WAITING)
            .swap(0, Ordering::SeqCst);
        self.shm.sub(W_WAKE_SLEEPERS, waiting);
    }

    /// Number of processes attached: every one holds a shared lock on `ziggy.shm`, so count
    /// those where the system says, since the process table has only `PROC_SLOTS` slots.
    pub(crate) fn processes(&self) -> u64 {
        let listed = self.attached().len() as u64;
        self.shm_lock.holders().map_or(listed, |n| n.max(listed))
    }

    /// Waiters on the wake table of the processes attached now (format-spec.md §9.6).
    pub(crate) fn live_waiters(&self) -> u64 {
        (0..PROC_SLOTS)
            .filter(|&slot| self.shm.proc_word(slot, P_WAITING).load(Ordering::Relaxed) != 0)
            .filter(|&slot| {
                let pid = self.shm.proc_word(slot, P_PID).load(Ordering::Acquire);
                pid != 0
                    && process_start(pid as u32)
                        == Some(self.shm.proc_word(slot, P_START).load(Ordering::Relaxed))
            })
            .map(|slot| self.shm.proc_word(slot, P_WAITING).load(Ordering::Relaxed))
            .sum()
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

    /// Last-process checkpoint and detach (format-spec.md §6.2). Without `ziggy.lock`: the
    /// exclusive try on `ziggy.shm` alone decides "last", so a stalled opener never delays a
    /// close, and the lock goes back to shared at once, so a close delays no open.
    pub(super) fn detach(&self) {
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
            crate::os::pause::point("detach");
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
