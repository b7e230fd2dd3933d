//! A read-only open (format-spec.md §6.4): the database as a cold start would find it, with
//! no file created, opened for writing or written, for a read-only mount or a user who may
//! only read.
//!
//! It needs no read-write process to be attached (the shared-lock test of `ziggy.shm`, §6.1)
//! and an index that a cold start would adopt as it is (§6.3); otherwise it refuses with
//! [`Error::OpenReadWrite`] or [`Error::NeedsRecovery`] and changes nothing. The index is
//! copied into private memory and every segment of the manifest is mapped during the open,
//! while `ziggy.lock` and an exclusive lock on `ziggy.shm` keep read-write processes from
//! attaching; `ziggy.shm` is replaced by private memory holding the words a cold start sets. So the handle reads one state, the
//! one of its open, whatever read-write processes that attach later do: they never change a
//! byte that it reads (records up to the checkpoint are never rewritten, and deleted
//! segment files stay readable through their maps).

use std::fs::File;
use std::os::unix::fs::{FileExt, OpenOptionsExt};
use std::path::Path;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use super::{unadoptable, Shared, WriterGuard};
use crate::engine::options::OpenOptions;
use crate::error::{Error, Result};
use crate::format::index::IndexMap;
use crate::format::manifest::Manifest;
use crate::format::shm::*;
use crate::os::lock::LockFile;
use crate::os::map::SharedWords;

/// Opens `path` for reading only, never through a symbolic link; `None` if it does not exist.
fn open_for_reading(path: &Path) -> Result<Option<File>> {
    match std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
        .open(path)
    {
        Ok(f) => Ok(Some(f)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(Error::io(path, e)),
    }
}

/// The error for a directory that is missing or holds no database.
pub(super) fn no_database(dir: &Path) -> Error {
    Error::InvalidArgument(format!(
        "no database at {} (a read-only open does not create one)",
        dir.display()
    ))
}

/// Refuses if a process is attached read-write: it holds a shared `flock` on `ziggy.shm`
/// (format-spec.md §6.1). With `ziggy.lock` held (`locked`), the test is an exclusive lock,
/// kept until the file is closed at the end of the open: read-write processes attach
/// without `ziggy.lock` (§6.1), and this lock alone keeps them out while the index is copied.
/// A process holding it exclusively is the last one closing (checkpointing): wait for it
/// as long as the lock timeout allows. Without `ziggy.lock`, taking it could make a
/// read-write process attaching that instant wait for this one, so the test reads
/// `/proc/locks` instead, and falls back to the lock only where that cannot be read.
fn no_writer_attached(
    dir: &Path,
    shm: Option<&LockFile>,
    locked: bool,
    timeout: Option<std::time::Duration>,
) -> Result<()> {
    let Some(shm) = shm else {
        return Ok(());
    };
    let attached = match shm.locked_by_anyone().filter(|_| !locked) {
        Some(any) => any,
        None => {
            let deadline = timeout.map(|t| std::time::Instant::now() + t);
            let mut free = shm.try_lock_exclusive()?;
            while !free
                && locked
                && shm.holder().is_some()
                && deadline.is_none_or(|d| std::time::Instant::now() < d)
            {
                std::thread::sleep(std::time::Duration::from_millis(1));
                free = shm.try_lock_exclusive()?;
            }
            if free && !locked {
                shm.unlock();
            }
            !free
        }
    };
    if !attached {
        return Ok(());
    }
    Err(Error::OpenReadWrite {
        path: dir.to_path_buf(),
        holders: holders(&shm.file),
    })
}

/// The live processes in the process table of the shared state file (§5.2), for a message.
fn holders(file: &File) -> String {
    let mut bytes = vec![0u8; SHM_LEN as usize];
    if file.read_exact_at(&mut bytes, 0).is_err() {
        return "by another process".into();
    }
    let word = |i: usize| {
        bytes
            .get(i * 8..i * 8 + 8)
            .and_then(|b| b.try_into().ok())
            .map_or(0, u64::from_le_bytes)
    };
    let pids: Vec<String> = (0..PROC_SLOTS)
        .filter_map(|slot| {
            let base = PROC_BASE + slot * PROC_WORDS;
            let pid = u32::try_from(word(base + P_PID)).ok().filter(|&p| p != 0)?;
            (process_start(pid) == Some(word(base + P_START))).then(|| format!("process {pid}"))
        })
        .collect();
    if pids.is_empty() {
        "by another process".into()
    } else {
        format!("by {}", pids.join(", "))
    }
}

impl Shared {
    /// Refuses a write on a read-only handle.
    pub(crate) fn writable(&self) -> Result<()> {
        if self.read_only {
            Err(Error::ReadOnly)
        } else {
            Ok(())
        }
    }

    /// On a read-only handle, what stands in for the writer role for a read that runs in a
    /// write transaction (an export): only this process's writer mutex, since the snapshot
    /// never changes. A commit through it is refused ([`Shared::commit_ops`]).
    pub(crate) fn read_only_section(self: &Arc<Self>) -> Result<WriterGuard> {
        if !self.read_only {
            return Err(Error::InvalidArgument(
                "a read-only section on a read-write handle".into(),
            ));
        }
        self.writer
            .acquire(self.opts.lock_timeout)
            .map_err(|_| Error::Busy {
                path: self.dir.clone(),
                lock: "writer.lock",
                holder: Some(format!(
                    "another thread of this process ({})",
                    std::process::id()
                )),
            })?;
        Ok(WriterGuard {
            shared: Arc::clone(self),
        })
    }

    /// Opens `dir` read-only (format-spec.md §6.4).
    pub(super) fn attach_read_only(dir: &Path, opts: OpenOptions) -> Result<Shared> {
        // `ziggy.lock` keeps read-write processes from attaching or detaching while the state
        // is read. Where it is missing or this user may not read it, go on without it; then
        // the test for attached processes is repeated at the end.
        let lock_path = dir.join("ziggy.lock");
        let open_lock = match open_for_reading(&lock_path) {
            Ok(f) => f.map(|file| LockFile {
                file,
                path: lock_path,
                waiter: Default::default(),
            }),
            Err(Error::PermissionDenied { .. }) => None,
            Err(e) => return Err(e),
        };
        if let Some(l) = &open_lock {
            l.lock_exclusive(opts.lock_timeout, dir)?;
        }
        let shm_path = dir.join("ziggy.shm");
        let shm_file = open_for_reading(&shm_path)?.map(|file| LockFile {
            file,
            path: shm_path,
            waiter: Default::default(),
        });
        no_writer_attached(
            dir,
            shm_file.as_ref(),
            open_lock.is_some(),
            opts.lock_timeout,
        )?;
        let Some(man) = Manifest::read(dir)? else {
            return Err(no_database(dir));
        };
        // Never locked, written or synced (every path that would is refused first): the
        // directory itself stands in for each lock file.
        let inert = || -> Result<LockFile> {
            Ok(LockFile {
                file: File::open(dir).map_err(|e| Error::io(dir, e))?,
                path: dir.to_path_buf(),
                waiter: Default::default(),
            })
        };
        let mode = crate::format::manifest::database_mode(dir, opts.mode)?;
        let locks = [inert()?, inert()?, inert()?, inert()?, inert()?];
        let shm = Shm {
            map: SharedWords::private(SHM_LEN as usize)?,
        };
        let mut s = Shared::assemble(dir, opts, mode, locks, shm, true);
        s.adopt_read_only(&man)?;
        s.snapshot_manifest = Some(man);
        if open_lock.is_none() {
            no_writer_attached(dir, shm_file.as_ref(), false, None)?;
        }
        // Closing `ziggy.lock` and `ziggy.shm` releases them, after the index was copied.
        drop(shm_file);
        Ok(s)
    }

    /// A cold start's adoption of the newest index (format-spec.md §6.3), into private memory;
    /// refuses where a cold start would rebuild.
    fn adopt_read_only(&self, man: &Manifest) -> Result<()> {
        // Checking each header maps the whole segment file as it is now: a compaction in a
        // later read-write process may delete the file, never the bytes mapped here.
        for &(id, _) in &man.segments {
            self.segs.check_header(id)?;
        }
        let recovery = |reason| Error::NeedsRecovery {
            path: self.dir.clone(),
            reason,
        };
        let Some(gen) = self.list_files()?.1.into_iter().max() else {
            return Err(recovery("it has no index file"));
        };
        let idx = match IndexMap::open_snapshot(&self.dir, gen) {
            Ok(idx) => idx,
            Err(Error::CorruptIndex { .. }) => return Err(recovery("its index file is damaged")),
            Err(e) => return Err(e),
        };
        if let Some(reason) = unadoptable(&idx, man) {
            return Err(recovery(reason));
        }
        self.shm.set(W_DB_ID, u64::from(man.db_id));
        self.adopt(idx, man, self.segment_file_bytes(man))?;
        let (b0, b1) = boot_id();
        self.shm.set(W_BOOT0, b0);
        self.shm.set(W_BOOT1, b1);
        self.shm.set(W_VERSION, SHM_VERSION);
        self.shm.set(W_MAGIC, SHM_MAGIC);
        self.shm.set(W_READY, 1);
        self.seg_epoch
            .store(self.shm.get(W_SEG_EPOCH), Ordering::Relaxed);
        Ok(())
    }
}
