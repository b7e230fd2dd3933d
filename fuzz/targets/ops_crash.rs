//! Random operation sequences with I/O faults and crashes, against a `BTreeMap` model.
//!
//! Operations: set, delete, INCRBY, begin, commit, rollback, a bulk transaction (so the index
//! grows), compact, reopen (a clean close), crash, and "fault": the next operation that
//! writes (or the reopen) meets a fault plan that fails the Nth I/O call of a kind with EIO
//! or ENOSPC. A crash copies the database directory as the process left it, without
//! `ziggy.shm` (a cold start, as after a reboot: recovery reads the log instead of trusting
//! shared memory), drops the old handle and goes on in the copy.
//!
//! After a fault, depending on the input: the plan stays on for every later call and the
//! directory is copied at once (the process died at call N), or it is removed and the
//! directory is copied (a crash after the error), or the handle goes on (and, if it refuses
//! commits, is closed and the database reopened). An operation that met the fault must fail
//! with `DiskFull` (ENOSPC) or `Io`/`Poisoned` (EIO). It must show wholly or not at all, and
//! one the handle reported failed and did not show must not appear after a restart (unless
//! the process "died" at the fault: then nobody was told, and what it wrote before the fault
//! may complete the transaction). After every restart the
//! database holds every acknowledged commit and nothing else, and `check()` passes.
//!
//! Fault plans are process-wide: the database runs with no background threads, and the plan
//! is removed after each use.
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::Input;
use ziggydb::testing::{fault_hits, set_fault_plan, FaultAction, FaultOp, FaultPlan};
use ziggydb::{Db, Error, Value, WriteTxn};

const EIO: i32 = 5;
const ENOSPC: i32 = 28;

type Model = BTreeMap<Vec<u8>, Value>;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum After {
    /// The plan stays on; the directory is copied at once.
    Die,
    /// The plan is removed; the directory is copied.
    Crash,
    /// The plan is removed; the handle goes on.
    GoOn,
}

#[derive(Debug)]
enum Op {
    Set(Vec<u8>, Vec<u8>),
    Delete(Vec<u8>),
    IncrBy(Vec<u8>, i64),
    Begin,
    Commit,
    Rollback,
    Bulk(u8, usize),
    Compact,
    Reopen,
    Crash,
    Fault(FaultOp, u64, i32, After),
}

fn decode(input: &mut Input<'_>) -> Option<Op> {
    let op = input.byte()?;
    Some(match op % 12 {
        0 | 1 => {
            let k = format!("k{}", input.byte()? % 16).into_bytes();
            let len = usize::from(input.byte()?) * 37;
            let fill = input.byte()?;
            Op::Set(k, (0..len).map(|i| fill.wrapping_add(i as u8)).collect())
        }
        2 => {
            let b = input.byte()?;
            let k = if b & 16 != 0 { "n" } else { "k" };
            Op::Delete(format!("{k}{}", b % 16).into_bytes())
        }
        3 => {
            let k = format!("n{}", input.byte()? % 8).into_bytes();
            Op::IncrBy(k, i64::from(input.byte()? as i8))
        }
        4 => Op::Begin,
        5 => Op::Commit,
        6 => Op::Rollback,
        7 => {
            let b = input.byte()?;
            Op::Bulk(b % 4, 50 * (1 + usize::from(b >> 2) % 8))
        }
        8 => Op::Compact,
        9 => Op::Reopen,
        10 => Op::Crash,
        _ => {
            let kind = input.byte()?;
            let nth = 1 + u64::from(input.byte()? % 24);
            let op = [
                FaultOp::Write,
                FaultOp::Sync,
                FaultOp::Allocate,
                FaultOp::Rename,
                FaultOp::Any,
            ][usize::from(kind % 5)];
            let errno = if kind & 8 != 0 { ENOSPC } else { EIO };
            let after = [After::Die, After::Crash, After::GoOn][usize::from(kind >> 4) % 3];
            Op::Fault(op, nth, errno, after)
        }
    })
}

fn options() -> ziggydb::OpenOptions {
    Db::options()
        .segment_size(64 << 10)
        .lock_timeout(Some(Duration::from_secs(5)))
        .auto_compact(false, 0.5, 0)
        .active_expiry(None)
}

/// Every key and value `db` holds.
fn snapshot(db: &Db) -> ziggydb::Result<Model> {
    let mut out = Model::new();
    for k in db.keys()? {
        if let Some(v) = db.get_value(&k)? {
            out.insert(k, v);
        }
    }
    Ok(out)
}

fn show(m: &Model) -> Vec<(String, String)> {
    m.iter()
        .map(|(k, v)| {
            let v: String = format!("{v:?}").chars().take(24).collect();
            (String::from_utf8_lossy(k).into_owned(), v)
        })
        .collect()
}

/// The error an operation that met the fault must return.
fn expected_error(e: &Error, errno: i32) -> bool {
    match e {
        Error::DiskFull { .. } => errno == ENOSPC,
        Error::Io { source, .. } => errno == EIO && source.raw_os_error() == Some(EIO),
        Error::Poisoned => errno == EIO,
        _ => false,
    }
}

/// Whether the faulted operation shows in `db`: `without` it or `with` it, nothing else.
fn shows(db: &Db, without: &Model, with: &Model, what: &str) -> bool {
    let got = snapshot(db).unwrap_or_else(|e| panic!("{what}: reading: {e:?}"));
    if &got == without {
        false
    } else if &got == with {
        true
    } else {
        panic!(
            "{what}: neither without the failed operation nor with it:\n  got     {:?}\n  \
             without {:?}\n  with    {:?}",
            show(&got),
            show(without),
            show(with)
        )
    }
}

struct Harness {
    root: PathBuf,
    /// Directories made so far (a crash moves to a new one).
    dirs: u32,
    path: PathBuf,
    db: Option<Db>,
    tx: Option<WriteTxn>,
    model: Model,
    /// Writes of the open transaction; `None` marks a delete.
    overlay: BTreeMap<Vec<u8>, Option<Value>>,
    fault: Option<(FaultPlan, After)>,
}

impl Harness {
    fn db(&self) -> &Db {
        self.db.as_ref().expect("database is open")
    }

    /// The model with `op` applied; `None` if `op` changes nothing or is refused before any
    /// I/O (a transaction too large), so that a fault cannot meet it.
    fn after(&self, op: &Op) -> Model {
        let mut m = self.model.clone();
        match op {
            Op::Set(k, v) => {
                m.insert(k.clone(), Value::Bytes(v.clone()));
            }
            Op::Delete(k) => {
                m.remove(k);
            }
            Op::IncrBy(k, d) => {
                let n = m.get(k).and_then(|v| v.as_int().ok()).unwrap_or(0);
                m.insert(k.clone(), Value::Int(n + d));
            }
            Op::Commit => {
                for (k, v) in &self.overlay {
                    match v {
                        Some(v) => m.insert(k.clone(), v.clone()),
                        None => m.remove(k),
                    };
                }
            }
            Op::Bulk(b, n) => {
                for j in 0..*n {
                    m.insert(bulk_key(*b, j), Value::Int(j as i64));
                }
            }
            _ => {}
        }
        m
    }

    /// Runs a writing operation outside a transaction (or the commit).
    fn exec(&mut self, op: &Op) -> ziggydb::Result<()> {
        match op {
            Op::Set(k, v) => self.db().set(k, v.clone()),
            Op::Delete(k) => self.db().delete(k).map(|_| ()),
            Op::IncrBy(k, d) => self.db().incr_by(k, *d).map(|_| ()),
            Op::Commit => self.tx.take().expect("open transaction").commit(),
            Op::Bulk(b, n) => self.db().transaction(|tx| {
                for j in 0..*n {
                    tx.set(&bulk_key(*b, j), j as i64)?;
                }
                Ok(())
            }),
            Op::Compact => self.db().compact().map(|_| ()),
            _ => unreachable!("not a writing operation: {op:?}"),
        }
    }

    /// A writing operation, meeting the armed fault if there is one.
    fn write(&mut self, op: Op) {
        let with = self.after(&op);
        let Some((plan, after)) = self.fault.take() else {
            match self.exec(&op) {
                Ok(()) => self.model = with,
                Err(e) => panic!("{op:?}: {e:?}"),
            }
            self.overlay.clear();
            return;
        };
        set_fault_plan(Some(FaultPlan {
            sticky: after == After::Die,
            ..plan
        }));
        let r = self.exec(&op);
        let met = fault_hits() > 0;
        if after != After::Die {
            set_fault_plan(None);
        }
        let what = format!("{op:?} with {plan:?}, then {after:?}");
        match r {
            Ok(()) => {
                set_fault_plan(None);
                assert!(!met, "{what}: met the fault and returned Ok");
                self.model = with;
                self.overlay.clear();
                return;
            }
            Err(e) => assert!(
                met && expected_error(&e, errno_of(&plan)),
                "{what}: gave {e:?} (fault met: {met})"
            ),
        }
        self.overlay.clear();
        let without = std::mem::take(&mut self.model);
        let applied = match after {
            After::Die | After::Crash => {
                // The directory as the process left it; then what the handle shows.
                let copy = self.copy_dir();
                set_fault_plan(None);
                let shown = shows(self.db(), &without, &with, &format!("{what}: the handle"));
                self.switch_to(copy);
                let kept = shows(
                    self.db(),
                    &without,
                    &with,
                    &format!("{what}: after a crash"),
                );
                // A process that died at call N never told anyone the operation failed: what
                // it wrote before N may complete the transaction after the restart. One that
                // reported the failure must not bring it back unseen.
                assert!(
                    !kept || shown || after == After::Die,
                    "{what}: failed, was not visible, and is there after a crash"
                );
                kept
            }
            After::GoOn => {
                let shown = shows(self.db(), &without, &with, &format!("{what}: the handle"));
                self.go_on(shown, &without, &with, &what)
            }
        };
        self.model = if applied { with } else { without };
        if after == After::GoOn {
            self.model.insert(b"probe".to_vec(), Value::Int(1));
        }
        self.verify();
    }

    /// After a fault the handle goes on: a commit, and if the handle refuses it (a failed
    /// fsync poisons it), a reopen. Whether the failed operation is applied.
    fn go_on(&mut self, shown: bool, without: &Model, with: &Model, what: &str) -> bool {
        match self.db().set(b"probe", 1i64) {
            Ok(()) => shown,
            Err(Error::Poisoned) => {
                self.db = None;
                self.db = Some(options().open(&self.path).expect("reopen after a fault"));
                let kept = shows(
                    self.db(),
                    &without,
                    &with,
                    &format!("{what}: after a reopen"),
                );
                assert!(
                    !kept || shown,
                    "{what}: failed, was not visible, and is there after a reopen"
                );
                self.db()
                    .set(b"probe", 1i64)
                    .expect("commit after a reopen");
                kept
            }
            Err(e) => panic!("{what}: commit after the fault: {e:?}"),
        }
    }

    /// Copies the directory as it is now, without `ziggy.shm` (what a cold start after a
    /// crash finds; the page cache survives a process crash).
    fn copy_dir(&mut self) -> PathBuf {
        self.dirs += 1;
        let to = self.root.join(format!("db{}", self.dirs));
        std::fs::create_dir_all(&to).expect("create copy");
        for entry in std::fs::read_dir(&self.path).expect("read dir") {
            let entry = entry.expect("dir entry");
            if entry.file_type().expect("file type").is_file() && entry.file_name() != "ziggy.shm" {
                std::fs::copy(entry.path(), to.join(entry.file_name())).expect("copy file");
            }
        }
        to
    }

    /// Drops the handle and any open transaction without committing, and opens `to`.
    fn switch_to(&mut self, to: PathBuf) {
        set_fault_plan(None);
        self.tx = None;
        self.overlay.clear();
        self.db = None;
        let _ = std::fs::remove_dir_all(&self.path);
        self.path = to;
        self.db = Some(options().open(&self.path).expect("open after a crash"));
    }

    /// A crash between operations.
    fn crash(&mut self) {
        let to = self.copy_dir();
        self.switch_to(to);
    }

    fn reopen(&mut self) {
        self.tx = None;
        self.overlay.clear();
        let Some((plan, _)) = self.fault.take() else {
            self.db = None;
            self.db = Some(options().open(&self.path).expect("reopen"));
            return;
        };
        set_fault_plan(Some(plan));
        // A close cannot report an error: what it failed to do, the next open must redo.
        self.db = None;
        let r = options().open(&self.path);
        let met = fault_hits() > 0;
        set_fault_plan(None);
        self.db = Some(match r {
            Ok(db) => db,
            Err(e) => {
                assert!(
                    met && expected_error(&e, errno_of(&plan)),
                    "reopen with {plan:?}: {e:?} (fault met: {met})"
                );
                options().open(&self.path).expect("second reopen")
            }
        });
    }

    fn apply(&mut self, op: Op) {
        match op {
            Op::Set(k, v) if self.tx.is_some() => {
                self.tx.as_mut().unwrap().set(&k, v.clone()).expect("set");
                self.overlay.insert(k, Some(Value::Bytes(v)));
            }
            Op::Delete(k) if self.tx.is_some() => {
                self.tx.as_mut().unwrap().delete(&k).expect("delete");
                self.overlay.insert(k, None);
            }
            Op::IncrBy(k, d) if self.tx.is_some() => {
                let n = self.tx.as_mut().unwrap().incr_by(&k, d).expect("incr_by");
                self.overlay.insert(k, Some(Value::Int(n)));
            }
            Op::Begin if self.tx.is_none() => {
                self.tx = Some(self.db().begin_write().expect("begin_write"));
            }
            Op::Rollback => {
                if let Some(tx) = self.tx.take() {
                    tx.rollback();
                }
                self.overlay.clear();
            }
            Op::Commit if self.tx.is_none() => {}
            // Both take the writer lock, which the open transaction holds.
            Op::Bulk(..) | Op::Compact if self.tx.is_some() => {}
            Op::Set(..) | Op::Delete(_) | Op::IncrBy(..) | Op::Commit | Op::Bulk(..) => {
                self.write(op)
            }
            Op::Compact => self.write(op),
            Op::Begin => {}
            Op::Reopen => {
                self.reopen();
                self.verify();
            }
            Op::Crash => {
                self.crash();
                self.verify();
            }
            Op::Fault(op, nth, errno, after) => {
                self.fault = Some((
                    FaultPlan {
                        op,
                        nth,
                        action: FaultAction::Fail(errno),
                        sticky: false,
                    },
                    after,
                ));
            }
        }
    }

    fn verify(&self) {
        let got = snapshot(self.db()).expect("read every key");
        assert!(
            got == self.model,
            "database differs from the model:\n  got   {:?}\n  model {:?}",
            show(&got),
            show(&self.model)
        );
        assert_eq!(self.db().len(), self.model.len() as u64, "len");
        let report = self.db().check().expect("check");
        assert!(report.is_ok(), "check: {:?}", report.problems);
    }
}

fn errno_of(plan: &FaultPlan) -> i32 {
    match plan.action {
        FaultAction::Fail(e) => e,
        _ => 0,
    }
}

fn bulk_key(b: u8, j: usize) -> Vec<u8> {
    format!("b{b}/{j}").into_bytes()
}

fn run(data: &[u8], root: &Path) {
    let path = root.join("db0");
    let db = options().open(&path).expect("open");
    let mut h = Harness {
        root: root.to_path_buf(),
        dirs: 0,
        path,
        db: Some(db),
        tx: None,
        model: Model::new(),
        overlay: BTreeMap::new(),
        fault: None,
    };
    let mut input = Input(data);
    while let Some(op) = decode(&mut input) {
        h.apply(op);
    }
    h.fault = None;
    h.apply(Op::Rollback);
    h.apply(Op::Reopen);
    h.apply(Op::Crash);
}

/// One input.
pub fn fuzz(data: &[u8]) {
    // On tmpfs where there is one: every commit fsyncs, and the faults are the seam's anyway.
    let dir = tempfile::Builder::new()
        .prefix("ziggy-fuzz-")
        .tempdir_in("/dev/shm")
        .or_else(|_| tempfile::tempdir())
        .expect("tempdir");
    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| run(data, dir.path())));
    // Never leave a plan behind for the next input (or the next target of `replay`).
    set_fault_plan(None);
    if let Err(p) = r {
        std::panic::resume_unwind(p);
    }
}
