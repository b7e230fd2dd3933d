//! The I/O seam: every write, fsync, allocation, creation, rename and unlink of a durable
//! file goes through here, so tests can make the Nth one fail (ENOSPC, EIO), kill the process
//! at that point, or journal it to simulate a power cut afterwards ([`powerloss`]).

pub(crate) mod powerloss;

use std::fs::File;
use std::os::unix::fs::{DirBuilderExt, FileExt, OpenOptionsExt};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;

use crate::error::{Error, Result};

/// Which calls a [`FaultPlan`] counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
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

static ENABLED: AtomicBool = AtomicBool::new(false);
static PLAN: Mutex<Option<State>> = Mutex::new(None);
static ENV_READ: std::sync::Once = std::sync::Once::new();

/// Installs (or with `None` removes) the process-wide fault plan.
pub fn set_fault_plan(plan: Option<FaultPlan>) {
    set_fault_steps(plan.into_iter().map(FaultStep::from).collect());
}

/// Installs a sequence of fault steps, replacing any plan; an empty sequence removes it.
/// Expresses what one [`FaultPlan`] cannot: a fault that lasts a given number of calls and
/// then clears by itself, and a second fault after the first (e.g. a failed fsync, then the
/// next write, wherever it happens: in the same operation, or in a retry or a recovery).
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
pub fn fault_plan_calls() -> u64 {
    PLAN.lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .as_ref()
        .map_or(0, |st| st.seen_total)
}

/// How many calls the installed plan or steps have failed (or killed at) so far.
pub fn fault_hits() -> u64 {
    PLAN.lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .as_ref()
        .map_or(0, |st| st.hits)
}

/// Reads `ZIGGY_FAULT=op:nth:action[:sticky]` (op: write|sync|allocate|rename|any; action:
/// enospc|eio|kill|killgroup), so child processes of tests can be given a plan.
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
        FaultAction::Kill => {
            // SAFETY-free: kill(2) on ourselves; the point of the plan is a real SIGKILL.
            let _ = std::process::Command::new("kill")
                .args(["-9", &std::process::id().to_string()])
                .status();
            std::process::abort();
        }
        FaultAction::KillGroup => {
            // Process id 0 names the caller's process group; kill(2) signals all of it in one
            // call, this process included.
            let _ = std::process::Command::new("kill")
                .args(["-9", "0"])
                .status();
            std::process::abort();
        }
        FaultAction::Fail(errno) => Err(std::io::Error::from_raw_os_error(errno)),
    }
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

/// Writes `parts` one after the other from `offset`: one write of their total length, as
/// fault injection and the power-loss journal see it, without joining them in memory first.
pub(crate) fn write_parts_at(file: &File, parts: &[&[u8]], offset: u64, path: &Path) -> Result<()> {
    check_fault(FaultOp::Write).map_err(|e| Error::io(path, e))?;
    let len: usize = parts.iter().map(|p| p.len()).sum();
    let pending = powerloss::before_write(file, path, offset, len);
    let mut at = offset;
    let mut r = Ok(());
    for part in parts {
        r = file.write_all_at(part, at);
        if r.is_err() {
            break;
        }
        at += part.len() as u64;
    }
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

/// `fsync` of a directory, so that created, renamed and deleted names are durable.
pub(crate) fn sync_dir(dir: &Path) -> Result<()> {
    check_fault(FaultOp::Sync).map_err(|e| Error::io(dir, e))?;
    let d = File::open(dir).map_err(|e| Error::io(dir, e))?;
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
    let r = crate::map::fallocate(file, len);
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

/// Mode of every file the engine creates, before the umask: never writable by others, even
/// with a umask of 0; group-writable so a group of users can share a database (a umask of
/// 022 makes it 0644, of 077 0600).
pub(crate) const FILE_MODE: u32 = 0o664;
/// Mode of every directory the engine creates, before the umask (see [`FILE_MODE`]).
pub(crate) const DIR_MODE: u32 = 0o775;

/// Creates `dir` and its missing parents with [`DIR_MODE`].
pub(crate) fn create_dir_all(dir: &Path) -> Result<()> {
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(DIR_MODE)
        .create(dir)
        .map_err(|e| Error::io(dir, e))
}

/// Creates the directory `dir` (its parent must exist) with [`DIR_MODE`].
pub(crate) fn create_dir(dir: &Path) -> std::io::Result<()> {
    std::fs::DirBuilder::new().mode(DIR_MODE).create(dir)
}

/// Opens `path` for reading and writing, creating it (empty, or truncated if it exists).
/// The new name is durable only once the directory is synced ([`sync_dir`]).
pub(crate) fn create(path: &Path) -> Result<File> {
    let pending = powerloss::before_create(path);
    let r = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(true)
        .mode(FILE_MODE)
        .open(path);
    powerloss::done(pending, path, r.is_ok());
    r.map_err(|e| Error::io(path, e))
}

/// Unlinks `path`; durable only once the directory is synced ([`sync_dir`]).
pub(crate) fn remove_file(path: &Path) -> std::io::Result<()> {
    let pending = powerloss::before_remove(path);
    let r = std::fs::remove_file(path);
    powerloss::done(pending, path, r.is_ok());
    r
}
