//! The I/O seam: every write, fsync, allocation, creation, rename and unlink of a durable
//! file goes through here, so tests can make the Nth one fail (ENOSPC, EIO), kill the process
//! at that point, or journal it to simulate a power cut afterwards ([`powerloss`]).
//!
//! Fault injection and the journal exist only with the `test-hooks` feature, which tests,
//! benches and fuzz targets enable. Without it (every build users install) the seam is empty
//! inline functions: no `ZIGGY_FAULT`, no atomic load or lock on any I/O call.
//! Every open and creation of a file inside a database directory goes through here too, so
//! that none follows a link or reaches anything but a regular file, and every created file
//! and directory gets the database's mode whatever the umask (format-spec.md §2.2).

#[cfg(feature = "test-hooks")]
pub(crate) mod powerloss;

/// The power-loss journal's seam without the test hooks: nothing is journaled.
#[cfg(not(feature = "test-hooks"))]
pub(crate) mod powerloss {
    use std::fs::File;
    use std::path::Path;

    /// Always `None`: there is no journal.
    pub(crate) type Pending = Option<u64>;

    #[inline(always)]
    pub(crate) fn before_write(_: &File, _: &Path, _: u64, _: usize) -> Pending {
        None
    }
    #[inline(always)]
    pub(crate) fn before_allocate(_: &File, _: &Path) -> Pending {
        None
    }
    #[inline(always)]
    pub(crate) fn before_sync(_: &Path) -> Pending {
        None
    }
    #[inline(always)]
    pub(crate) fn before_sync_dir(_: &Path) -> Pending {
        None
    }
    #[inline(always)]
    pub(crate) fn before_create(_: &Path) -> Pending {
        None
    }
    #[inline(always)]
    pub(crate) fn before_rename(_: &Path, _: &Path) -> Pending {
        None
    }
    #[inline(always)]
    pub(crate) fn before_remove(_: &Path) -> Pending {
        None
    }
    #[inline(always)]
    pub(crate) fn done(_: Pending, _: &Path, _: bool) {}
    #[inline(always)]
    pub(crate) fn after_map(_: &File, _: &Path) {}
    #[inline(always)]
    pub(crate) fn before_msync(_: &Path) -> Pending {
        None
    }
    #[inline(always)]
    pub(crate) fn after_msync(_: Pending, _: &Path, _: usize, _: usize) {}
    #[inline(always)]
    pub(crate) fn power_loss_note(_: &str) {}
}

use std::fs::File;
use std::os::unix::fs::{DirBuilderExt, FileExt, OpenOptionsExt};
use std::path::Path;
#[cfg(feature = "test-hooks")]
use std::sync::atomic::{AtomicBool, Ordering};
#[cfg(feature = "test-hooks")]
use std::sync::Mutex;

use crate::error::{Error, Result};

/// Which calls a [`FaultPlan`] counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(
    not(feature = "test-hooks"),
    allow(dead_code, reason = "only the test hooks read it")
)]
pub enum FaultOp {
    /// `pwrite` of data into a file.
    Write,
    /// `fsync`/`fdatasync`/`msync`.
    Sync,
    /// `fallocate` (growing a file).
    Allocate,
    /// `rename` (manifest replacement).
    Rename,
    /// Any of the above.
    Any,
}

/// What happens at the chosen call.
#[cfg(feature = "test-hooks")]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FaultAction {
    /// The call fails with this errno (e.g. `libc::ENOSPC`, `libc::EIO`) and does nothing.
    Fail(i32),
    /// The process is killed with SIGKILL before the call is made.
    Kill,
    /// Every process of the caller's process group is killed with SIGKILL before the call is
    /// made, at one instant, as a power cut stops them: for child processes a test started in
    /// a group of their own (never in the test runner's group).
    KillGroup,
}

/// Fail or kill at the `nth` (1-based) matching call; with `sticky`, every later matching
/// call fails too.
#[cfg(feature = "test-hooks")]
#[derive(Debug, Clone, Copy)]
pub struct FaultPlan {
    /// Calls counted.
    pub op: FaultOp,
    /// 1-based index of the first call hit.
    pub nth: u64,
    /// What happens then.
    pub action: FaultAction,
    /// Keep failing after the first hit.
    pub sticky: bool,
}

/// One step of a fault sequence ([`set_fault_steps`]): from the moment it becomes active it
/// counts the calls matching `op`; from the `nth` (1-based) on, it applies `action` to
/// `calls` matching calls in a row (`u64::MAX`: until the sequence is removed), and then the
/// next step becomes active, counting from zero. One step with `calls` of 1 is a
/// non-sticky [`FaultPlan`]; with `u64::MAX`, a sticky one.
#[cfg(feature = "test-hooks")]
#[derive(Debug, Clone, Copy)]
pub struct FaultStep {
    /// Calls counted.
    pub op: FaultOp,
    /// 1-based index, among the calls counted by this step, of the first call hit.
    pub nth: u64,
    /// How many calls in a row are hit.
    pub calls: u64,
    /// What happens to each of them.
    pub action: FaultAction,
}

#[cfg(feature = "test-hooks")]
impl From<FaultPlan> for FaultStep {
    fn from(p: FaultPlan) -> Self {
        FaultStep {
            op: p.op,
            nth: p.nth,
            calls: if p.sticky { u64::MAX } else { 1 },
            action: p.action,
        }
    }
}

#[cfg(feature = "test-hooks")]
struct State {
    steps: Vec<FaultStep>,
    /// Index of the active step (`steps.len()`: all done).
    at: usize,
    /// Calls counted by the active step.
    seen: u64,
    /// Calls counted by every step so far.
    seen_total: u64,
    /// Calls hit so far.
    hits: u64,
}

#[cfg(feature = "test-hooks")]
static ENABLED: AtomicBool = AtomicBool::new(false);
#[cfg(feature = "test-hooks")]
static PLAN: Mutex<Option<State>> = Mutex::new(None);
#[cfg(feature = "test-hooks")]
static ENV_READ: std::sync::Once = std::sync::Once::new();

/// Installs (or with `None` removes) the process-wide fault plan.
#[cfg(feature = "test-hooks")]
pub fn set_fault_plan(plan: Option<FaultPlan>) {
    set_fault_steps(plan.into_iter().map(FaultStep::from).collect());
}

/// Installs a sequence of fault steps, replacing any plan; an empty sequence removes it.
/// Expresses what one [`FaultPlan`] cannot: a fault that lasts a given number of calls and
/// then clears by itself, and a second fault after the first (e.g. a failed fsync, then the
/// next write, wherever it happens: in the same operation, or in a retry or a recovery).
#[cfg(feature = "test-hooks")]
pub fn set_fault_steps(steps: Vec<FaultStep>) {
    let mut g = PLAN
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    ENABLED.store(!steps.is_empty(), Ordering::SeqCst);
    *g = (!steps.is_empty()).then_some(State {
        steps,
        at: 0,
        seen: 0,
        seen_total: 0,
        hits: 0,
    });
}

/// How many calls the installed plan has counted so far (0 without a plan): a test compares
/// it with the plan's `nth` to learn whether, and during which operation, the fault was hit.
/// With several steps, the calls counted by all of them.
#[cfg(feature = "test-hooks")]
pub fn fault_plan_calls() -> u64 {
    PLAN.lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .as_ref()
        .map_or(0, |st| st.seen_total)
}

/// How many calls the installed plan or steps have failed (or killed at) so far.
#[cfg(feature = "test-hooks")]
pub fn fault_hits() -> u64 {
    PLAN.lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .as_ref()
        .map_or(0, |st| st.hits)
}

/// Reads `ZIGGY_FAULT=op:nth:action[:sticky]` (op: write|sync|allocate|rename|any; action:
/// enospc|eio|kill|killgroup), so child processes of tests can be given a plan.
#[cfg(feature = "test-hooks")]
fn read_env() {
    let Ok(spec) = std::env::var("ZIGGY_FAULT") else {
        return;
    };
    let parts: Vec<&str> = spec.split(':').collect();
    let op = match parts.first().copied() {
        Some("write") => FaultOp::Write,
        Some("sync") => FaultOp::Sync,
        Some("allocate") => FaultOp::Allocate,
        Some("rename") => FaultOp::Rename,
        Some("any") => FaultOp::Any,
        _ => return,
    };
    let Some(nth) = parts.get(1).and_then(|n| n.parse().ok()) else {
        return;
    };
    let action = match parts.get(2).copied() {
        Some("enospc") => FaultAction::Fail(libc::ENOSPC),
        Some("eio") => FaultAction::Fail(libc::EIO),
        Some("kill") => FaultAction::Kill,
        Some("killgroup") => FaultAction::KillGroup,
        _ => return,
    };
    let sticky = parts.get(3) == Some(&"sticky");
    set_fault_plan(Some(FaultPlan {
        op,
        nth,
        action,
        sticky,
    }));
}

/// Counts one call of kind `op` against the plan; an error means "fail this call".
#[cfg(feature = "test-hooks")]
pub(crate) fn check_fault(op: FaultOp) -> std::io::Result<()> {
    ENV_READ.call_once(read_env);
    if !ENABLED.load(Ordering::Relaxed) {
        return Ok(());
    }
    let mut g = PLAN
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let Some(st) = g.as_mut() else { return Ok(()) };
    // Once every step is done, the calls matching the last one are still counted.
    let done = st.at >= st.steps.len();
    let Some(step) = st.steps.get(st.at.min(st.steps.len() - 1)).copied() else {
        return Ok(());
    };
    if step.op != FaultOp::Any && step.op != op {
        return Ok(());
    }
    st.seen_total += 1;
    if done {
        return Ok(());
    }
    st.seen += 1;
    if st.seen < step.nth {
        return Ok(());
    }
    st.hits += 1;
    if st.seen - step.nth + 1 >= step.calls {
        st.at += 1;
        st.seen = 0;
    }
    match step.action {
        FaultAction::Kill => sigkill(std::process::id().cast_signed()),
        // Process id 0 names the caller's process group: kill(2) signals all of it in one
        // call, this process included.
        FaultAction::KillGroup => sigkill(0),
        FaultAction::Fail(errno) => Err(std::io::Error::from_raw_os_error(errno)),
    }
}

/// Without the test hooks no call ever fails here.
#[cfg(not(feature = "test-hooks"))]
#[inline(always)]
pub(crate) fn check_fault(_: FaultOp) -> std::io::Result<()> {
    Ok(())
}

/// Sends SIGKILL to `pid` (0: the caller's process group) with kill(2) itself, not a `kill`
/// program found on `PATH`; never returns.
#[cfg(feature = "test-hooks")]
#[allow(unsafe_code, reason = "kill(2) has no safe wrapper in std")]
fn sigkill(pid: libc::pid_t) -> ! {
    // SAFETY: kill(2) takes plain integers and touches no memory of this process; a failure
    // (none is expected for ourselves or our own group) is caught by the abort below.
    unsafe {
        libc::kill(pid, libc::SIGKILL);
    }
    std::process::abort();
}

/// Writes all of `buf` at `offset`.
pub(crate) fn write_all_at(file: &File, buf: &[u8], offset: u64, path: &Path) -> Result<()> {
    check_fault(FaultOp::Write).map_err(|e| Error::io(path, e))?;
    let pending = powerloss::before_write(file, path, offset, buf.len());
    let r = file.write_all_at(buf, offset);
    // Done even if it failed: whatever part of it was made is in the page cache.
    powerloss::done(pending, path, true);
    r.map_err(|e| Error::io(path, e))
}

/// Writes `len` bytes from `offset` that `produce` hands, a piece at a time, to the sink it
/// is given: one write of `len` bytes, as fault injection and the power-loss journal see it
/// (as [`write_all_at`]), made of pieces that need not all be in memory at once.
pub(crate) fn write_stream_at(
    file: &File,
    len: usize,
    offset: u64,
    path: &Path,
    produce: impl FnOnce(&mut dyn FnMut(&[u8]) -> std::io::Result<()>) -> std::io::Result<()>,
) -> Result<()> {
    check_fault(FaultOp::Write).map_err(|e| Error::io(path, e))?;
    let pending = powerloss::before_write(file, path, offset, len);
    let mut at = offset;
    let r = produce(&mut |piece: &[u8]| {
        file.write_all_at(piece, at)?;
        at += piece.len() as u64;
        Ok(())
    });
    // Done even if it failed: whatever part of it was made is in the page cache.
    powerloss::done(pending, path, true);
    r.map_err(|e| Error::io(path, e))
}

/// `fdatasync`.
pub(crate) fn sync_data(file: &File, path: &Path) -> Result<()> {
    check_fault(FaultOp::Sync).map_err(|e| Error::io(path, e))?;
    let pending = powerloss::before_sync(path);
    file.sync_data().map_err(|e| Error::io(path, e))?;
    powerloss::done(pending, path, true);
    Ok(())
}

/// Space on the file system holding `dir`: (bytes an unprivileged process may still
/// allocate, the allocation unit in bytes), as `statvfs(3)` reports them.
#[allow(unsafe_code, reason = "statvfs(3) has no safe wrapper in std")]
pub(crate) fn free_space(dir: &Path) -> Result<(u64, u64)> {
    use std::os::unix::ffi::OsStrExt;
    let c = std::ffi::CString::new(dir.as_os_str().as_bytes()).map_err(|e| {
        Error::io(
            dir,
            std::io::Error::new(std::io::ErrorKind::InvalidInput, e),
        )
    })?;
    let mut st = std::mem::MaybeUninit::<libc::statvfs>::zeroed();
    // SAFETY: `c` is a NUL-terminated path that outlives the call, and `st` points to a
    // zeroed `statvfs` the call fills in (only read after it returned 0).
    let r = unsafe { libc::statvfs(c.as_ptr(), st.as_mut_ptr()) };
    if r != 0 {
        return Err(Error::io(dir, std::io::Error::last_os_error()));
    }
    // SAFETY: statvfs returned 0, so it filled in the whole structure (and it was zeroed).
    let st = unsafe { st.assume_init() };
    // Both are `fsblkcnt_t`/`c_ulong`, 64 bits on the Linux targets this crate supports.
    let unit = st.f_frsize.max(1);
    Ok((st.f_bavail.saturating_mul(unit), unit))
}

/// `fsync` of a directory, so that created, renamed and deleted names are durable.
pub(crate) fn sync_dir(dir: &Path) -> Result<()> {
    check_fault(FaultOp::Sync).map_err(|e| Error::io(dir, e))?;
    // O_DIRECTORY: whatever else is at the name is refused at once, never waited on.
    let d = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_DIRECTORY)
        .open(dir)
        .map_err(|e| Error::io(dir, e))?;
    let pending = powerloss::before_sync_dir(dir);
    d.sync_all().map_err(|e| Error::io(dir, e))?;
    powerloss::done(pending, dir, true);
    Ok(())
}

/// Grows `file` to at least `len` bytes with real blocks (posix_fallocate), so a full disk
/// shows up here as ENOSPC and never later as SIGBUS on a mapped page.
pub(crate) fn allocate(file: &File, len: u64, path: &Path) -> Result<()> {
    check_fault(FaultOp::Allocate).map_err(|e| Error::io(path, e))?;
    let pending = powerloss::before_allocate(file, path);
    let r = crate::os::map::fallocate(file, len);
    powerloss::done(pending, path, true);
    r.map_err(|e| Error::io(path, e))
}

/// Atomically replaces `to` with `from`.
pub(crate) fn rename(from: &Path, to: &Path) -> Result<()> {
    check_fault(FaultOp::Rename).map_err(|e| Error::io(to, e))?;
    let pending = powerloss::before_rename(from, to);
    let r = std::fs::rename(from, to);
    powerloss::done(pending, to, r.is_ok());
    r.map_err(|e| Error::io(to, e))
}

/// Mode of the files of a new database when [`crate::OpenOptions::mode`] gives none: the
/// owner alone may read them (README "File modes" says why).
pub(crate) const DEFAULT_FILE_MODE: u32 = 0o600;
/// Mode of the parent directories created on the way to a new database directory, before
/// the umask (as `mkdir -p` makes them; they hold no data). Never writable by others.
const PARENT_DIR_MODE: u32 = 0o755;

/// The mode of a directory holding files of mode `file_mode`: searchable by whoever may read
/// the files (0600 gives 0700, 0660 gives 0770, 0644 gives 0755).
pub(crate) fn dir_mode(file_mode: u32) -> u32 {
    file_mode | ((file_mode & 0o444) >> 2)
}

/// Checks a file mode given by the user: permission bits of a file (no execute, setuid,
/// setgid or sticky bit) that let the owner read and write.
pub(crate) fn check_mode(mode: u32) -> Result<()> {
    if mode & !0o666 != 0 || mode & 0o600 != 0o600 {
        return Err(Error::InvalidArgument(format!(
            "file mode {mode:04o}: give the read and write bits of the database's files \
             (such as 0600 or 0660), including the owner's read and write bits; \
             directories get a search bit for each read bit"
        )));
    }
    Ok(())
}

/// Flags of every open of a file inside a database directory: never through a symbolic
/// link (ELOOP, made [`Error::Symlink`]); never blocking (a FIFO planted under a database
/// name opens at once and is then refused as not a regular file; on regular files, the only
/// ones kept, `O_NONBLOCK` has no effect); never taking a terminal as the controlling one.
/// `std` adds `O_CLOEXEC`.
const OPEN_FLAGS: i32 = libc::O_NOFOLLOW | libc::O_NONBLOCK | libc::O_NOCTTY;

/// The error for a failed open of `path` inside a database directory.
fn open_error(path: &Path, e: std::io::Error) -> Error {
    match e.raw_os_error() {
        Some(libc::ELOOP) => Error::Symlink {
            path: path.to_path_buf(),
        },
        Some(libc::EISDIR) => Error::NotRegularFile {
            path: path.to_path_buf(),
            what: "a directory",
        },
        _ => Error::io(path, e),
    }
}

/// What a file that is not a regular file is, for [`Error::NotRegularFile`].
pub(crate) fn kind_of(ft: std::fs::FileType) -> &'static str {
    use std::os::unix::fs::FileTypeExt;
    if ft.is_dir() {
        "a directory"
    } else if ft.is_fifo() {
        "a FIFO"
    } else if ft.is_socket() {
        "a socket"
    } else if ft.is_block_device() || ft.is_char_device() {
        "a device"
    } else if ft.is_symlink() {
        "a symbolic link"
    } else {
        "of an unknown kind"
    }
}

/// Refuses an opened `file` that is not a regular file (fstat, so it is the file opened, not
/// whatever the name points at by now); with `sole`, also one with other names (hard links).
fn check_regular(file: &File, path: &Path, sole: bool) -> Result<()> {
    use std::os::unix::fs::MetadataExt;
    let md = file.metadata().map_err(|e| Error::io(path, e))?;
    let what = if !md.file_type().is_file() {
        kind_of(md.file_type())
    } else if sole && md.nlink() > 1 {
        "a file with other names (hard links)"
    } else {
        return Ok(());
    };
    Err(Error::NotRegularFile {
        path: path.to_path_buf(),
        what,
    })
}

/// Opens the existing database file `path` (read-only, or for reading and writing), never
/// through a symbolic link, and only if it is a regular file.
pub(crate) fn open_file(path: &Path, write: bool) -> Result<File> {
    let file = std::fs::OpenOptions::new()
        .read(true)
        .write(write)
        .custom_flags(OPEN_FLAGS)
        .open(path)
        .map_err(|e| open_error(path, e))?;
    check_regular(&file, path, false)?;
    Ok(file)
}

/// Gives the file just created at `path` the database's `mode`, whatever the umask was.
///
/// A file system without Unix permissions (FAT) refuses `fchmod` (EPERM, EOPNOTSUPP): the
/// file then keeps the bits it was created with, `mode` less the umask, never more open than
/// `mode`, and the database still works there.
fn set_mode(file: &File, mode: u32, path: &Path) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    match file.set_permissions(std::fs::Permissions::from_mode(mode)) {
        Err(e) if matches!(e.raw_os_error(), Some(libc::EPERM | libc::EOPNOTSUPP)) => Ok(()),
        r => r.map_err(|e| Error::io(path, e)),
    }
}

/// Opens the lock file or shared-state file `path` for reading and writing, creating it with
/// `mode` if it does not exist. An existing one must be a regular file with no other name:
/// `ziggy.shm` is resized and written by the first process to attach.
pub(crate) fn open_or_create(path: &Path, mode: u32) -> Result<File> {
    loop {
        let created = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .mode(mode)
            .custom_flags(OPEN_FLAGS)
            .open(path);
        match created {
            Ok(file) => {
                set_mode(&file, mode, path)?;
                return Ok(file);
            }
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(open_error(path, e)),
        }
        let opened = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .custom_flags(OPEN_FLAGS)
            .open(path);
        match opened {
            Ok(file) => {
                check_regular(&file, path, true)?;
                return Ok(file);
            }
            // Removed since (a repair moving the directory's files): create it after all.
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(open_error(path, e)),
        }
    }
}

/// Creates the directory `dir` of a new database and its missing parents; `dir` itself gets
/// [`dir_mode`] of the database's file `mode`, whatever the umask. An existing `dir` is left
/// as it is.
pub(crate) fn create_db_dir(dir: &Path, mode: u32) -> Result<()> {
    if let Some(parent) = dir.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(PARENT_DIR_MODE)
            .create(parent)
            .map_err(|e| Error::io(parent, e))?;
    }
    match create_dir(dir, mode) {
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists && dir.is_dir() => Ok(()),
        r => r.map_err(|e| Error::io(dir, e)),
    }
}

/// Creates the directory `dir` (its parent must exist) with [`dir_mode`] of the file `mode`,
/// whatever the umask.
pub(crate) fn create_dir(dir: &Path, mode: u32) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::DirBuilder::new()
        .mode(dir_mode(mode))
        .create(dir)?;
    // Through a descriptor of the directory just made, never a link put in its place.
    let d = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_DIRECTORY | libc::O_NOFOLLOW)
        .open(dir)?;
    // Keep the set-group-ID bit a directory inherits from a group-shared parent: it gives
    // the files made in it the directory's group.
    let setgid = d.metadata()?.permissions().mode() & 0o2000;
    match d.set_permissions(std::fs::Permissions::from_mode(dir_mode(mode) | setgid)) {
        // As in `set_mode`: no Unix permissions here; the directory is no more open.
        Err(e) if matches!(e.raw_os_error(), Some(libc::EPERM | libc::EOPNOTSUPP)) => Ok(()),
        r => r,
    }
}

/// Creates the new file `path` (`O_CREAT | O_EXCL`, so never through a link and never
/// another's file) for reading and writing, with `mode` whatever the umask. The new name is
/// durable only once the directory is synced ([`sync_dir`]).
pub(crate) fn create_new(path: &Path, mode: u32) -> Result<File> {
    let pending = powerloss::before_create(path);
    let r = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create_new(true)
        .mode(mode)
        .custom_flags(OPEN_FLAGS)
        .open(path);
    powerloss::done(pending, path, r.is_ok());
    let file = r.map_err(|e| match e.kind() {
        std::io::ErrorKind::AlreadyExists => match std::fs::symlink_metadata(path) {
            Ok(md) if md.file_type().is_symlink() => Error::Symlink {
                path: path.to_path_buf(),
            },
            Ok(md) if !md.is_file() => Error::NotRegularFile {
                path: path.to_path_buf(),
                what: kind_of(md.file_type()),
            },
            _ => Error::io(path, e),
        },
        _ => open_error(path, e),
    })?;
    set_mode(&file, mode, path)?;
    Ok(file)
}

/// Creates `path` as [`create_new`] does; a regular file already there is a leftover of an
/// interrupted creation (a segment, index generation or `MANIFEST.tmp` of a process that
/// died) and is unlinked first, never truncated: the name may be another name of a file
/// that is not the database's. A symbolic link or anything else there is refused.
pub(crate) fn create(path: &Path, mode: u32) -> Result<File> {
    match create_new(path, mode) {
        Err(Error::Io { source, .. }) if source.kind() == std::io::ErrorKind::AlreadyExists => {
            remove_file(path).map_err(|e| Error::io(path, e))?;
            create_new(path, mode)
        }
        r => r,
    }
}

/// Unlinks `path`; durable only once the directory is synced ([`sync_dir`]).
pub(crate) fn remove_file(path: &Path) -> std::io::Result<()> {
    let pending = powerloss::before_remove(path);
    let r = std::fs::remove_file(path);
    powerloss::done(pending, path, r.is_ok());
    r
}
