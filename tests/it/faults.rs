//! ENOSPC and EIO at every I/O call in turn: a child process runs a fixed workload on a fresh
//! database once for each N = 1, 2, 3, … with a plan that fails the Nth call of the seam
//! (write, fsync/fdatasync/msync, fallocate, rename; `FaultOp::Any`) once, with EIO and
//! then with ENOSPC, until the workload runs without reaching call N.
//!
//! The workload (64 KiB segments, so the log rotates; background threads off, so the calls
//! come in the same order every time): creating the database, eight accounts, then for each
//! step a single-key SET of a 3 KB value, every third step a transfer between two accounts
//! (a multi-key transaction keeping the sum at 800, with a marker key), every fourth an
//! RPUSH, every fifth a DEL of an older key, two transactions of 450 keys (so the index
//! grows), a compaction three quarters of the way, a close and a reopen.
//!
//! Checks for each N: the operation that met the fault returns `DiskFull` for ENOSPC and
//! `Io` (EIO) or `Poisoned` for EIO (no operation that met it returns Ok), and the database
//! shows it wholly or not at all. Then, in every other run (so each site gets both, one per
//! errno), the database is closed at once and reopened cold (`ziggy.shm` deleted, as after a
//! reboot); in the others the handle goes on, and if it refuses commits (a failed fsync
//! poisons it by design) it is dropped and the database reopened. A failed operation the
//! handle did not show must not appear after a reopen; one it showed (published, then the
//! fsync failed) may or may not. A failed operation that was not applied is run again. After
//! the workload: every commit acknowledged before or after the fault is present after the
//! close and reopen, with nothing else (every key, the list, the account sum, the key count);
//! `check()` passes; a commit after that survives a cold reopen, and `check()` passes again.
//!
//! Fault plans are process-wide, so all of this runs in a child process. The databases live
//! on tmpfs where there is one (`/dev/shm`): the calls that fail are the seam's, and some
//! hundred thousand real fsyncs would take minutes on a disk.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use ziggydb::testing::{fault_plan_calls, set_fault_plan, FaultAction, FaultOp, FaultPlan};
use ziggydb::{Db, Error, Value};

use crate::util::{self, child_role, report, Child, TestResult};

const ENTRY: &str = "faults::child_fault_at_every_io_call";
const ROLE: &str = "faults-every-call";
pub(crate) const ENOSPC: i32 = 28;
pub(crate) const EIO: i32 = 5;
const ACCOUNTS: u32 = 8;
const SUM: i64 = 100 * ACCOUNTS as i64;
const BULK: u32 = 450;
const PAD: usize = 3000;
/// Steps of the workload at `ZIGGY_SOAK=1`.
const STEPS: u32 = 16;

#[derive(Debug, Clone, Copy)]
enum Step {
    Accounts,
    Set(u32),
    Transfer(u32),
    Push(u32),
    Delete(u32),
    Bulk(u32),
    Compact,
}

impl Step {
    fn kind(self) -> &'static str {
        match self {
            Step::Accounts => "accounts",
            Step::Set(_) => "set",
            Step::Transfer(_) => "transfer",
            Step::Push(_) => "push",
            Step::Delete(_) => "delete",
            Step::Bulk(_) => "bulk",
            Step::Compact => "compact",
        }
    }
}

fn workload(steps: u32) -> Vec<Step> {
    let mut w = vec![Step::Accounts];
    for s in 0..steps {
        w.push(Step::Set(s));
        if s % 3 == 1 {
            w.push(Step::Transfer(s));
        }
        if s % 4 == 2 {
            w.push(Step::Push(s));
        }
        if s % 5 == 4 {
            w.push(Step::Delete(s - 3));
        }
        if s == steps / 4 {
            w.push(Step::Bulk(0));
        }
        if s == steps / 2 {
            w.push(Step::Bulk(1));
        }
        if s == 3 * steps / 4 {
            w.push(Step::Compact);
        }
    }
    w
}

fn key(s: u32) -> Vec<u8> {
    format!("k/{s}").into_bytes()
}

fn value(s: u32) -> Value {
    let fill = char::from(b'a' + (s % 26) as u8);
    Value::String(format!("{s}:{}", fill.to_string().repeat(PAD)))
}

fn acct(i: u32) -> Vec<u8> {
    format!("acct/{i}").into_bytes()
}

fn marker(s: u32) -> Vec<u8> {
    format!("xfer/{s}").into_bytes()
}

fn bulk_key(b: u32, j: u32) -> Vec<u8> {
    format!("bulk/{b}/{j}").into_bytes()
}

fn job(s: u32) -> Vec<u8> {
    format!("job-{s}").into_bytes()
}

/// Amount, from, to of the transfer of step `s`.
fn transfer(s: u32) -> (i64, u32, u32) {
    let from = s % ACCOUNTS;
    let to = (s * 3 + 1) % ACCOUNTS;
    let to = if to == from { (to + 1) % ACCOUNTS } else { to };
    (i64::from(s % 7 + 1), from, to)
}

fn exec(db: &Db, step: Step) -> ziggydb::Result<()> {
    match step {
        Step::Accounts => db.transaction(|tx| {
            for i in 0..ACCOUNTS {
                tx.set(&acct(i), 100i64)?;
            }
            Ok(())
        }),
        Step::Set(s) => db.set(&key(s), value(s)),
        Step::Transfer(s) => db.transaction(|tx| {
            let (amount, from, to) = transfer(s);
            tx.incr_by(&acct(from), -amount)?;
            tx.incr_by(&acct(to), amount)?;
            tx.set(&marker(s), i64::from(s))
        }),
        Step::Push(s) => db.transaction(|tx| {
            tx.list(b"jobs").push_back(&[job(s)])?;
            Ok(())
        }),
        Step::Delete(s) => db.delete(&key(s)).map(|_| ()),
        Step::Bulk(b) => db.transaction(|tx| {
            for j in 0..BULK {
                tx.set(&bulk_key(b, j), i64::from(j))?;
            }
            Ok(())
        }),
        Step::Compact => db.compact().map(|_| ()),
    }
}

/// What the database must hold: every key (the list apart) and the list.
#[derive(Debug, Clone, Default, PartialEq)]
struct Model {
    keys: BTreeMap<Vec<u8>, Value>,
    jobs: Vec<Vec<u8>>,
}

impl Model {
    fn after(&self, step: Step) -> Model {
        let mut m = self.clone();
        match step {
            Step::Accounts => {
                for i in 0..ACCOUNTS {
                    m.keys.insert(acct(i), Value::Int(100));
                }
            }
            Step::Set(s) => {
                m.keys.insert(key(s), value(s));
            }
            Step::Transfer(s) => {
                let (amount, from, to) = transfer(s);
                for (i, d) in [(from, -amount), (to, amount)] {
                    let Some(Value::Int(v)) = m.keys.get_mut(&acct(i)) else {
                        unreachable!("accounts are set first")
                    };
                    *v += d;
                }
                m.keys.insert(marker(s), Value::Int(i64::from(s)));
            }
            Step::Push(s) => m.jobs.push(job(s)),
            Step::Delete(s) => {
                m.keys.remove(&key(s));
            }
            Step::Bulk(b) => {
                for j in 0..BULK {
                    m.keys.insert(bulk_key(b, j), Value::Int(i64::from(j)));
                }
            }
            Step::Compact => {}
        }
        m
    }

    fn len(&self) -> u64 {
        self.keys.len() as u64 + u64::from(!self.jobs.is_empty())
    }
}

/// Differences between what `db` holds and `m` (at most a few), empty if it matches.
fn diff(db: &Db, m: &Model) -> Vec<String> {
    diff_on(db, m, None)
}

/// As [`diff`], comparing only the keys `only` (absent from `m`: must be absent) besides the
/// list, the key count and the account sum.
fn diff_on(db: &Db, m: &Model, only: Option<&[Vec<u8>]>) -> Vec<String> {
    let mut out = Vec::new();
    let picked: Vec<(&Vec<u8>, Option<&Value>)> = match only {
        None => m.keys.iter().map(|(k, v)| (k, Some(v))).collect(),
        Some(keys) => keys.iter().map(|k| (k, m.keys.get(k))).collect(),
    };
    for (k, want) in picked {
        let want = want.cloned();
        match db.get_value(k) {
            Ok(got) if got == want => {}
            Ok(got) => out.push(format!(
                "{}: {:?}, not {:?}",
                String::from_utf8_lossy(k),
                got.map(short),
                want.map(short)
            )),
            Err(e) => out.push(format!("{}: {e}", String::from_utf8_lossy(k))),
        }
        if out.len() >= 5 {
            return out;
        }
    }
    match db.list(b"jobs").range(0, -1) {
        Ok(jobs) if jobs == m.jobs => {}
        Ok(jobs) => out.push(format!("jobs: {} items, not {}", jobs.len(), m.jobs.len())),
        Err(e) => out.push(format!("jobs: {e}")),
    }
    if db.len() != m.len() {
        out.push(format!("{} keys, not {}", db.len(), m.len()));
    }
    let sum: i64 = (0..ACCOUNTS)
        .filter_map(|i| match db.get_value(&acct(i)) {
            Ok(Some(Value::Int(v))) => Some(v),
            _ => None,
        })
        .sum();
    if m.keys.contains_key(&acct(0)) && sum != SUM {
        out.push(format!("account sum {sum}, not {SUM}"));
    }
    out
}

fn short(v: Value) -> String {
    let s = format!("{v:?}");
    if s.len() > 40 {
        format!("{}…", &s[..40])
    } else {
        s
    }
}

/// The keys `step` writes (`None`: compare every key).
fn touched(step: Step) -> Option<Vec<Vec<u8>>> {
    Some(match step {
        Step::Accounts | Step::Compact => return None,
        Step::Set(s) | Step::Delete(s) => vec![key(s)],
        Step::Transfer(s) => {
            let (_, from, to) = transfer(s);
            vec![acct(from), acct(to), marker(s)]
        }
        Step::Push(_) => vec![],
        Step::Bulk(b) => (0..BULK).map(|j| bulk_key(b, j)).collect(),
    })
}

/// Which of `without` (`step` failed and was not applied) and `with` (applied) `db` shows.
fn outcome(db: &Db, step: Step, without: &Model, with: &Model, what: &str) -> Result<bool, String> {
    let only = touched(step);
    let d0 = diff_on(db, without, only.as_deref());
    if d0.is_empty() {
        return Ok(false);
    }
    let d1 = diff_on(db, with, only.as_deref());
    if d1.is_empty() {
        return Ok(true);
    }
    Err(format!(
        "{what}: neither without the failed operation ({d0:?}) nor with it ({d1:?})"
    ))
}

pub(crate) fn errno_name(errno: i32) -> &'static str {
    if errno == ENOSPC {
        "ENOSPC"
    } else {
        "EIO"
    }
}

/// The error an operation that met the fault must return.
pub(crate) fn expected_error(e: &Error, errno: i32) -> bool {
    match e {
        Error::DiskFull { .. } => errno == ENOSPC,
        Error::Io { source, .. } => errno == EIO && source.raw_os_error() == Some(EIO),
        Error::Poisoned => errno == EIO,
        _ => false,
    }
}

#[derive(Default)]
struct Tally {
    /// N values whose call was reached, per errno.
    sites: BTreeMap<&'static str, u64>,
    /// Where the fault was met: operation kind → count.
    at: BTreeMap<String, u64>,
    /// Handles that refused commits after the fault and were reopened.
    reopened: u64,
    /// Handles closed right after the fault and reopened.
    closed_at_once: u64,
    /// Failed operations that the database showed applied (a failed fsync after the write).
    failed_but_applied: u64,
    /// Of those, shown applied by a handle that went on committing.
    applied_on_a_live_handle: u64,
    /// Faults absorbed without an error (close, which cannot return one).
    absorbed: u64,
    /// Failed operations run again once the fault was gone.
    retried: u64,
    keys_checked: u64,
}

fn plan(n: u64, errno: i32) -> Option<FaultPlan> {
    Some(FaultPlan {
        op: FaultOp::Any,
        nth: n,
        action: FaultAction::Fail(errno),
        sticky: false,
    })
}

fn open(dir: &Path) -> ziggydb::Result<Db> {
    Db::options()
        .segment_size(64 << 10)
        .auto_compact(false, 0.5, 0)
        .active_expiry(None)
        .open(dir)
}

/// Opens `dir`; if the open meets the fault it must fail with the right error, and a second
/// open must succeed.
fn open_through(dir: &Path, n: u64, errno: i32, what: &str, tally: &mut Tally) -> TestResult<Db> {
    let before = fault_plan_calls();
    match open(dir) {
        Ok(db) => Ok(db),
        Err(e) => {
            let met = before < n && fault_plan_calls() >= n;
            if !met || !expected_error(&e, errno) {
                return Err(format!("N={n} {}: {what} gave {e:?}", errno_name(errno)).into());
            }
            *tally.at.entry(format!("{what} (failed)")).or_default() += 1;
            open(dir).map_err(|e2| {
                format!(
                    "N={n} {}: {what} failed with {e}, and again with {e2}",
                    errno_name(errno)
                )
                .into()
            })
        }
    }
}

/// One run of the workload with the Nth call failing; false if call N was never reached.
fn run_case(
    root: &Path,
    n: u64,
    errno: i32,
    steps: &[Step],
    tally: &mut Tally,
) -> TestResult<bool> {
    let name = errno_name(errno);
    let dir = root.join(format!("{name}-{n}"));
    set_fault_plan(plan(n, errno));
    let ctx = |msg: String| format!("N={n} {name}: {msg}");
    let mut model = Model::default();
    let mut db = open_through(&dir, n, errno, "creating the database", tally)?;
    for (i, &step) in steps.iter().enumerate() {
        let before = fault_plan_calls();
        let r = exec(&db, step);
        let met = before < n && fault_plan_calls() >= n;
        let e = match r {
            Ok(()) => {
                if met {
                    return Err(
                        ctx(format!("step {i} ({step:?}) met the fault and returned Ok")).into(),
                    );
                }
                model = model.after(step);
                continue;
            }
            Err(e) => e,
        };
        if !met || !expected_error(&e, errno) {
            return Err(ctx(format!("step {i} ({step:?}) gave {e:?} (fault met: {met})")).into());
        }
        *tally.at.entry(step.kind().to_owned()).or_default() += 1;
        let with = model.after(step);
        let shown = outcome(&db, step, &model, &with, "the handle after the fault").map_err(ctx)?;
        // Every other run (each site gets both, one per errno) closes the database at once:
        // then nothing written after the fault can hide what the failed operation left.
        let close_at_once = (n + u64::from(errno == ENOSPC)) % 2 == 0;
        let applied = match if close_at_once {
            Err(Error::Poisoned)
        } else {
            db.set(b"probe", n as i64)
        } {
            Ok(()) => {
                // The handle goes on: what it showed is what the database holds.
                if shown {
                    tally.applied_on_a_live_handle += 1;
                }
                shown
            }
            Err(Error::Poisoned) => {
                drop(db);
                if close_at_once {
                    // And cold, as after a reboot: recovery reads the log from the last
                    // checkpoint instead of trusting the shared state.
                    std::fs::remove_file(dir.join("ziggy.shm"))?;
                }
                db = open(&dir).map_err(|e| ctx(format!("reopen after {e:?}")))?;
                if close_at_once {
                    tally.closed_at_once += 1;
                } else {
                    tally.reopened += 1;
                }
                let kept =
                    outcome(&db, step, &model, &with, "reopened after the fault").map_err(ctx)?;
                if kept && !shown {
                    // Told it failed and never visible, yet it comes back: a caller that
                    // retries would apply it twice.
                    return Err(ctx(format!(
                        "step {i} ({step:?}) failed with {e:?}, was not visible, and is \
                         there after a reopen"
                    ))
                    .into());
                }
                db.set(b"probe", n as i64)
                    .map_err(|e| ctx(format!("first commit after the reopen: {e:?}")))?;
                kept
            }
            Err(e) => return Err(ctx(format!("commit after the fault: {e:?}")).into()),
        };
        if applied {
            tally.failed_but_applied += 1;
            model = with;
        }
        model.keys.insert(b"probe".to_vec(), Value::Int(n as i64));
        if !applied {
            // Not applied: with the fault gone, the same operation now succeeds (so the rest
            // of the workload runs as written).
            exec(&db, step).map_err(|e| ctx(format!("step {i} ({step:?}) again: {e:?}")))?;
            model = model.after(step);
            tally.retried += 1;
        }
    }
    let before = fault_plan_calls();
    drop(db);
    if before < n && fault_plan_calls() >= n {
        // Close cannot report an error; what it failed to do, the next open must redo.
        tally.absorbed += 1;
        *tally.at.entry("close".to_owned()).or_default() += 1;
    }
    let db = open_through(&dir, n, errno, "reopening", tally)?;
    let d = diff(&db, &model);
    if !d.is_empty() {
        return Err(ctx(format!("after close and reopen: {d:?}")).into());
    }
    let r = db.check()?;
    if !r.is_ok() {
        return Err(ctx(format!("check after reopen: {:?}", r.problems)).into());
    }
    tally.keys_checked += model.len();
    let reached = fault_plan_calls() >= n;
    set_fault_plan(None);
    db.set(b"after", 1i64)
        .map_err(|e| ctx(format!("commit once the fault is gone: {e:?}")))?;
    drop(db);
    std::fs::remove_file(dir.join("ziggy.shm"))?;
    let db = open(&dir)?;
    model.keys.insert(b"after".to_vec(), Value::Int(1));
    let d = diff(&db, &model);
    if !d.is_empty() {
        return Err(ctx(format!("after a last commit and a cold reopen: {d:?}")).into());
    }
    let r = db.check()?;
    if !r.is_ok() {
        return Err(ctx(format!("check after a cold reopen: {:?}", r.problems)).into());
    }
    drop(db);
    std::fs::remove_dir_all(&dir)?;
    Ok(reached)
}

pub(crate) fn scratch_root() -> tempfile::TempDir {
    let shm = Path::new("/dev/shm");
    let b = tempfile::Builder::new().prefix("ziggy-faults-").to_owned();
    if shm.is_dir() {
        if let Ok(t) = b.tempdir_in(shm) {
            return t;
        }
    }
    util::tempdir()
}

/// Without a fault, the workload does what it is meant to exercise: the log rotates before
/// the compaction, the compaction runs, the index grows.
fn workload_shape(root: &Path, steps: &[Step]) -> TestResult<String> {
    set_fault_plan(None);
    let dir = root.join("no-fault");
    let db = open(&dir)?;
    let first_capacity = db.metrics().index_capacity;
    let mut most_segments = 0;
    for &step in steps {
        exec(&db, step)?;
        if matches!(step, Step::Compact) {
            assert!(
                most_segments >= 2,
                "only {most_segments} segments before compacting"
            );
        }
        most_segments = most_segments.max(db.metrics().segments);
    }
    let m = db.metrics();
    assert_eq!(m.compactions, 1, "compactions");
    assert!(
        m.index_capacity > first_capacity,
        "the index did not grow from {first_capacity} slots"
    );
    let shape = format!(
        "{} operations, up to {most_segments} segments, index {first_capacity} -> {} slots",
        steps.len(),
        m.index_capacity
    );
    drop(db);
    std::fs::remove_dir_all(&dir)?;
    Ok(shape)
}

fn every_call(_dir: &Path) -> TestResult {
    // `ZIGGY_SOAK` multiplies the steps: the fault sites grow with it, the run time with
    // its square.
    let steps = workload(STEPS * u32::try_from(util::soak()).unwrap_or(u32::MAX));
    let root = scratch_root();
    report(format!("WORKLOAD {}", workload_shape(root.path(), &steps)?));
    let mut tally = Tally::default();
    let start = Instant::now();
    for errno in [EIO, ENOSPC] {
        let mut n = 1;
        while run_case(root.path(), n, errno, &steps, &mut tally)? {
            *tally.sites.entry(errno_name(errno)).or_default() += 1;
            n += 1;
        }
    }
    let sites: Vec<String> = tally
        .sites
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect();
    let at: Vec<String> = tally.at.iter().map(|(k, v)| format!("{k}={v}")).collect();
    report(format!(
        "SITES {} FAULTS {} CLOSED_AT_ONCE {} REOPENED_POISONED {} FAILED_BUT_APPLIED {} (LIVE {}) RETRIED {} ABSORBED {} KEYS_CHECKED {} SECS {:.1}",
        sites.join(","),
        tally.sites.values().sum::<u64>(),
        tally.closed_at_once,
        tally.reopened,
        tally.failed_but_applied,
        tally.applied_on_a_live_handle,
        tally.retried,
        tally.absorbed,
        tally.keys_checked,
        start.elapsed().as_secs_f64()
    ));
    report(format!("AT {}", at.join(",")));
    Ok(())
}

#[test]
fn child_fault_at_every_io_call() {
    let Some(dir) = child_role(ROLE) else {
        return;
    };
    util::end_child(every_call(&dir));
}

#[test]
fn enospc_and_eio_at_every_io_call_lose_no_acknowledged_commit() -> TestResult {
    let tmp = util::tempdir();
    let dir: PathBuf = util::db_path(&tmp);
    let mut child = Child::spawn(ENTRY, ROLE, &dir, &[]);
    let lines = child.finish(Duration::from_secs(300 * util::soak() * util::soak()))?;
    for l in &lines {
        eprintln!("{l}");
    }
    let figures = lines
        .iter()
        .find(|l| l.starts_with("SITES "))
        .ok_or("no figures from the child")?;
    // Every fault site of the workload, each with both errnos: far more than the handful of
    // calls of one commit.
    let faults: u64 = figures
        .split_whitespace()
        .skip_while(|w| *w != "FAULTS")
        .nth(1)
        .and_then(|w| w.parse().ok())
        .ok_or("no fault count")?;
    assert!(faults >= 200, "only {faults} faults injected: {figures}");
    Ok(())
}

/// A `kill` or `killgroup` fault sends SIGKILL with kill(2) itself: whatever `kill` program
/// is on `PATH`, or none, plays no part. Run on the `ziggy` binary of the tests (built with
/// the test hooks), in a process group of its own so that `killgroup` reaches nothing else.
#[test]
fn kill_faults_are_a_sigkill_whatever_is_on_path() -> TestResult {
    use std::os::unix::process::{CommandExt, ExitStatusExt};
    const SIGKILL: i32 = 9;
    for action in ["kill", "killgroup"] {
        let tmp = util::tempdir();
        let no_programs = tmp.path().join("bin");
        std::fs::create_dir(&no_programs)?;
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_ziggy"))
            .arg("-d")
            .arg(util::db_path(&tmp))
            .args(["SET", "a", "1"])
            .env("ZIGGY_FAULT", format!("any:1:{action}"))
            .env("PATH", &no_programs)
            .env_remove("ZIGGY_DIR")
            .process_group(0)
            .stdin(std::process::Stdio::null())
            .output()?;
        assert_eq!(
            out.status.signal(),
            Some(SIGKILL),
            "{action}: {:?}, stdout {:?}, stderr {:?}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(())
}
