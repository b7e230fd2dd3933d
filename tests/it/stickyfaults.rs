//! Sticky and double faults through the I/O seam, checked against a power cut.
//!
//! Window tests: from the Nth fsync (and, separately, the Nth write) of a workload on, every
//! such call fails with EIO for the rest of the workload (a fault that persists); then the
//! fault clears. Every operation that meets the window must fail with the specific error
//! (`Io` with EIO, or `Poisoned` once a failed fsync poisoned the handle; no operation
//! returns Ok while fsyncs fail, `Db::sync` included); a failed fsync keeps the handle
//! refusing commits after the fault cleared (format-spec.md §9.4: the kernel may have dropped
//! the pages, so no later fsync could prove them durable); a failed write does not. The
//! database must then work again: the acknowledged commits are all there on the same handle
//! and after a reopen, `check` passes, commits succeed.
//!
//! Double-fault tests: a first fault at the Nth call of one kind, then a second one at the
//! very next call of another kind (a failed fsync then the next write, a failed write then
//! the next fsync, two fsyncs in a row, a full disk on allocation then the next write),
//! wherever it falls: in the same operation, in the retry of the failed operation, or in the
//! reopen a poisoned handle needs (an open that meets it must fail with the specific error,
//! and the next open must work).
//!
//! Every round runs in a child process with the seam's power-loss journal on. The child
//! reports each acknowledged commit, and each failed one with whether its handle showed it;
//! when its workload is done the parent kills it (no close, no checkpoint), cuts the power
//! (every effect no completed fsync covered is undone) and reopens: every acknowledged
//! commit must be there, so no commit was acknowledged on the strength of an fsync that
//! failed; a failed commit that was never visible must be absent; a failed transaction is
//! all there or not at all; `check` passes and a commit succeeds.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, Instant};

use ziggydb::testing::{
    fault_hits, power_cut, set_fault_steps, set_power_loss_journal, FaultAction, FaultOp, FaultStep,
};
use ziggydb::{Db, Error};

use crate::util::{self, child_param, child_role, read_command, report, Child, TestResult};

const ENTRY: &str = "stickyfaults::child_fault_round";
const ROLE: &str = "sticky-faults";
const ENOSPC: i32 = 28;
const EIO: i32 = 5;
const PAD: usize = 3000;
const TXN_KEYS: u64 = 3;

fn open(dir: &Path) -> ziggydb::Result<Db> {
    Db::options()
        .segment_size(64 << 10)
        .auto_compact(false, 0.5, 0)
        .active_expiry(None)
        .open(dir)
}

fn value(seed: u64) -> Vec<u8> {
    let mut v = format!("{seed}:").into_bytes();
    v.resize(PAD, b'a' + (seed % 26) as u8);
    v
}

fn set_key(seed: u64) -> String {
    format!("s/{seed}")
}

fn txn_key(seed: u64, i: u64) -> String {
    format!("t/{seed}/{i}")
}

#[derive(Debug, Clone, Copy)]
enum Op {
    Set,
    Txn,
    /// Delete the key of an earlier acknowledged SET.
    Del,
    Compact,
    /// `Db::sync`.
    Sync,
}

/// The workload that meets the faults: single-key SETs of 3 KB (the 64 KiB log rotates
/// after about twenty), transactions, deletes, a compaction, explicit syncs.
const WORKLOAD: [Op; 16] = [
    Op::Set,
    Op::Set,
    Op::Txn,
    Op::Sync,
    Op::Set,
    Op::Del,
    Op::Set,
    Op::Set,
    Op::Compact,
    Op::Set,
    Op::Txn,
    Op::Set,
    Op::Del,
    Op::Set,
    Op::Sync,
    Op::Set,
];

// ---------------------------------------------------------------------------------------------
// What the database must hold, built from the child's reports (by the child and the parent)

#[derive(Debug, Clone, PartialEq)]
enum Want {
    /// Holds exactly this seed's value.
    Is(u64),
    Absent,
    /// A failed, visible DEL: the old value or nothing.
    IsOrAbsent(u64),
}

#[derive(Default)]
struct Expect {
    keys: BTreeMap<String, Want>,
    /// Values of failed commits never shown: must never be seen.
    forbidden: Vec<(String, u64)>,
    /// Keys of failed transactions that were shown: all or none.
    groups: Vec<Vec<(String, u64)>>,
    /// Failed SETs that were shown: may or may not be there.
    maybe_sets: Vec<(String, u64)>,
    /// Count of the keys of failed commits that were shown.
    maybe: u64,
    acked: u64,
    failed: u64,
}

impl Expect {
    /// Applies one report line; false if it is not one of these.
    fn apply(&mut self, line: &str) -> bool {
        let w: Vec<&str> = line.split_whitespace().collect();
        let num = |s: &str| s.parse::<u64>().unwrap_or(u64::MAX);
        match w.as_slice() {
            ["ACK", "SET", seed] => {
                self.keys.insert(set_key(num(seed)), Want::Is(num(seed)));
                self.acked += 1;
            }
            ["ACK", "TXN", seed] => {
                for i in 0..TXN_KEYS {
                    self.keys.insert(txn_key(num(seed), i), Want::Is(num(seed)));
                }
                self.acked += 1;
            }
            ["ACK", "DEL", seed] => {
                self.keys.insert(set_key(num(seed)), Want::Absent);
                self.acked += 1;
            }
            ["FAILED", "SET", seed, shown] => {
                self.failed += 1;
                if *shown == "1" {
                    self.maybe += 1;
                    self.maybe_sets.push((set_key(num(seed)), num(seed)));
                } else {
                    self.forbidden.push((set_key(num(seed)), num(seed)));
                }
            }
            ["FAILED", "TXN", seed, shown] => {
                self.failed += 1;
                let keys: Vec<(String, u64)> = (0..TXN_KEYS)
                    .map(|i| (txn_key(num(seed), i), num(seed)))
                    .collect();
                if *shown == "1" {
                    self.maybe += TXN_KEYS;
                    self.groups.push(keys);
                } else {
                    self.forbidden.extend(keys);
                }
            }
            ["FAILED", "DEL", seed, shown] => {
                self.failed += 1;
                if *shown == "1" {
                    self.keys
                        .insert(set_key(num(seed)), Want::IsOrAbsent(num(seed)));
                }
            }
            ["FAILED", ..] => self.failed += 1,
            // `Db::sync` returned Ok: everything published so far is durable, the failed
            // commits the handle showed included; they must survive a power cut now.
            ["SYNCED"] => {
                for (k, seed) in self
                    .maybe_sets
                    .drain(..)
                    .chain(self.groups.drain(..).flatten())
                {
                    self.keys.insert(k, Want::Is(seed));
                }
                self.maybe = 0;
                for w in self.keys.values_mut() {
                    if matches!(w, Want::IsOrAbsent(_)) {
                        *w = Want::Absent;
                    }
                }
            }
            _ => return false,
        }
        true
    }

    /// Differences between `db` and what it must hold (at most a few).
    fn diff(&self, db: &Db) -> Vec<String> {
        let mut out = Vec::new();
        let holds = |k: &str, seed: u64| -> Result<bool, String> {
            match db.get(k.as_bytes()) {
                Ok(Some(v)) => Ok(*v == value(seed)[..]),
                Ok(None) => Ok(false),
                Err(e) => Err(format!("{k}: {e}")),
            }
        };
        let absent = |k: &str| -> Result<bool, String> {
            db.get(k.as_bytes())
                .map(|v| v.is_none())
                .map_err(|e| format!("{k}: {e}"))
        };
        let mut present = 0u64;
        for (k, want) in &self.keys {
            let ok = match want {
                Want::Is(seed) => holds(k, *seed),
                Want::Absent => absent(k),
                Want::IsOrAbsent(seed) => holds(k, *seed).and_then(|h| Ok(h || absent(k)?)),
            };
            match ok {
                Ok(true) => {}
                Ok(false) => out.push(format!("{k}: not {want:?}")),
                Err(e) => out.push(e),
            }
            if !matches!(want, Want::Absent) {
                present += 1;
            }
        }
        for (k, seed) in &self.forbidden {
            if holds(k, *seed).unwrap_or(false) {
                out.push(format!(
                    "{k}: holds the value of a failed commit that was never shown"
                ));
            }
        }
        for g in &self.groups {
            let n = g
                .iter()
                .filter(|(k, s)| holds(k, *s).unwrap_or(false))
                .count();
            if n != 0 && n != g.len() {
                out.push(format!("failed transaction {g:?}: {n} of {} keys", g.len()));
            }
        }
        // Present keys: the certain ones, give or take the failed ones that were shown.
        let len = db.len();
        let lo = self
            .keys
            .values()
            .filter(|w| matches!(w, Want::Is(_)))
            .count() as u64;
        if len < lo || len > present + self.maybe {
            out.push(format!(
                "{len} keys, not between {lo} and {}",
                present + self.maybe
            ));
        }
        out.truncate(6);
        out
    }
}

// ---------------------------------------------------------------------------------------------
// Child side

fn expected_error(e: &Error, errno: i32) -> bool {
    match e {
        Error::DiskFull { .. } => errno == ENOSPC,
        Error::Io { source, .. } => errno == EIO && source.raw_os_error() == Some(EIO),
        Error::Poisoned => errno == EIO,
        _ => false,
    }
}

/// The child's workload state.
struct Work {
    dir: std::path::PathBuf,
    db: Option<Db>,
    expect: Expect,
    seed: u64,
    /// Seeds of acknowledged SETs not deleted yet, for DEL to pick from.
    live: Vec<u64>,
    errors: BTreeMap<String, u64>,
    reopens: u64,
    failed_opens: u64,
    /// The last operation failed with `Poisoned`.
    poisoned: bool,
    /// Stop (to be killed) while the fault is on, before any recovery.
    kill_at_fault: bool,
}

impl Work {
    fn db(&self) -> &Db {
        self.db.as_ref().expect("the database is open")
    }

    fn say(&mut self, line: String) {
        assert!(self.expect.apply(&line), "not a model line: {line}");
        report(line);
    }

    /// Runs `op` once; Ok(true) if acknowledged, Ok(false) if it failed with an error
    /// `accept` takes (reported with whether the handle shows its effect).
    fn run(&mut self, op: Op, accept: &dyn Fn(&Error) -> bool) -> TestResult<bool> {
        self.seed += 1;
        self.poisoned = false;
        let seed = self.seed;
        let db = self.db();
        let (r, what, subject) = match op {
            Op::Set => (db.set(set_key(seed).as_bytes(), value(seed)), "SET", seed),
            Op::Txn => (
                db.transaction(|tx| {
                    for i in 0..TXN_KEYS {
                        tx.set(txn_key(seed, i).as_bytes(), value(seed))?;
                    }
                    Ok(())
                }),
                "TXN",
                seed,
            ),
            Op::Del => {
                let Some(&victim) = self.live.first() else {
                    return Ok(true);
                };
                (
                    db.delete(set_key(victim).as_bytes()).map(|_| ()),
                    "DEL",
                    victim,
                )
            }
            Op::Compact => (db.compact().map(|_| ()), "COMPACT", 0),
            Op::Sync => (db.sync(), "SYNC", 0),
        };
        match r {
            Ok(()) => {
                match op {
                    Op::Set => self.live.push(seed),
                    Op::Del => {
                        self.live.remove(0);
                    }
                    _ => {}
                }
                if matches!(op, Op::Set | Op::Txn | Op::Del) {
                    self.say(format!("ACK {what} {subject}"));
                } else if let Op::Sync = op {
                    self.say("SYNCED".to_owned());
                }
                Ok(true)
            }
            Err(e) => {
                if !accept(&e) {
                    return Err(format!("{what} {subject} failed with {e:?}").into());
                }
                self.poisoned = matches!(e, Error::Poisoned);
                let kind = match &e {
                    Error::Io { .. } => "Io(EIO)",
                    Error::Poisoned => "Poisoned",
                    Error::DiskFull { .. } => "DiskFull",
                    _ => "other",
                };
                *self.errors.entry(format!("{what}:{kind}")).or_default() += 1;
                let db = self.db();
                let shown = match op {
                    Op::Set => db.get(set_key(seed).as_bytes())?.is_some(),
                    Op::Txn => db.get(txn_key(seed, 0).as_bytes())?.is_some(),
                    Op::Del => db.get(set_key(subject).as_bytes())?.is_none(),
                    Op::Compact | Op::Sync => false,
                };
                if let Op::Del = op {
                    if shown {
                        self.live.remove(0);
                    }
                }
                self.say(format!("FAILED {what} {subject} {}", u8::from(shown)));
                Ok(false)
            }
        }
    }

    /// Drops the handle and opens again; an open that fails with an error `accept` takes
    /// is retried (at most three times).
    fn reopen(&mut self, accept: &dyn Fn(&Error) -> bool) -> TestResult {
        self.db = None;
        self.reopens += 1;
        for _ in 0..3 {
            match open(&self.dir) {
                Ok(db) => {
                    self.db = Some(db);
                    return Ok(());
                }
                Err(e) if accept(&e) => self.failed_opens += 1,
                Err(e) => return Err(format!("reopen failed with {e:?}").into()),
            }
        }
        Err("three opens in a row failed".into())
    }

    fn verify(&self, when: &str) -> TestResult {
        let d = self.expect.diff(self.db());
        if d.is_empty() {
            Ok(())
        } else {
            Err(format!("{when}: {d:?}").into())
        }
    }

    fn check(&self, when: &str) -> TestResult {
        let r = self
            .db()
            .check()
            .map_err(|e| format!("check {when}: {e}"))?;
        if r.is_ok() {
            Ok(())
        } else {
            Err(format!("check {when}: {:?}", r.problems).into())
        }
    }
}

fn fault_op(name: &str) -> (FaultOp, i32) {
    match name {
        "sync" => (FaultOp::Sync, EIO),
        "write" => (FaultOp::Write, EIO),
        "allocate" => (FaultOp::Allocate, ENOSPC),
        other => panic!("unknown fault kind {other}"),
    }
}

/// A round with a persistent fault window: from the Nth `kind` call of the workload on,
/// every such call fails until the workload is done.
fn window_round(w: &mut Work, kind: &str, n: u64) -> TestResult<bool> {
    let (op, errno) = fault_op(kind);
    set_fault_steps(vec![FaultStep {
        op,
        nth: n,
        calls: u64::MAX,
        action: FaultAction::Fail(errno),
    }]);
    let accept = move |e: &Error| expected_error(e, errno);
    let mut failed_in_window = 0;
    for op in WORKLOAD {
        let hit_before = fault_hits() > 0;
        let ok = w.run(op, &accept)?;
        if ok && hit_before && fault_hits() > 0 {
            // The window was open before the operation began: every commit and compaction
            // must fail (each needs a write and an fsync). A sync may succeed when nothing
            // is left to sync; it then claims every commit the handle showed is durable,
            // which the power cut checks.
            if !matches!(op, Op::Sync) {
                return Err(format!("{op:?} returned Ok inside the {kind} fault window").into());
            }
        }
        failed_in_window += u64::from(!ok);
    }
    if fault_hits() == 0 {
        set_fault_steps(Vec::new());
        return Ok(false);
    }
    if failed_in_window < 3 {
        return Err(format!("only {failed_in_window} operations failed in the window").into());
    }
    // Still inside the window, the handle shows every acknowledged commit.
    w.verify("inside the fault window")?;
    if w.kill_at_fault {
        return Ok(true);
    }
    set_fault_steps(Vec::new());
    // The fault is gone. After a failed write the handle goes on. After a failed fsync of
    // the log (a commit failed and was shown, or reported `Poisoned`) it must keep
    // refusing: nothing it syncs now could prove the lost pages durable. A failed fsync of
    // another file (a new segment, the manifest, a compaction output) leaves nothing
    // published unsynced, and the handle may go on.
    let log_sync_failed = w.expect.maybe > 0 || w.errors.keys().any(|k| k.ends_with(":Poisoned"));
    let r = w.db().set(b"probe", 1i64);
    match (kind, &r) {
        ("sync", Err(Error::Poisoned)) => {
            w.reopen(&|_| false)?;
        }
        ("sync", Ok(())) if !log_sync_failed => {
            w.db().delete(b"probe")?;
        }
        ("sync", other) => {
            return Err(format!(
                "a commit once the fsync fault cleared gave {other:?} (a log fsync had \
                 failed: {log_sync_failed})"
            )
            .into())
        }
        (_, Ok(())) => {
            w.db().delete(b"probe")?;
        }
        (_, Err(Error::Poisoned)) => {
            w.reopen(&|_| false)?;
        }
        (_, other) => {
            return Err(format!("a commit once the write fault cleared gave {other:?}").into())
        }
    }
    w.verify("once the fault cleared")?;
    w.check("once the fault cleared")?;
    for _ in 0..3 {
        if !w.run(Op::Set, &|_| false)? {
            unreachable!("no error is accepted");
        }
    }
    w.reopen(&|_| false)?;
    w.verify("after a reopen")?;
    w.check("after a reopen")?;
    Ok(true)
}

/// A round with two faults: the Nth `first` call fails, then the very next `second` call.
fn double_round(w: &mut Work, first: &str, second: &str, n: u64) -> TestResult<bool> {
    let (op1, errno1) = fault_op(first);
    let (op2, errno2) = fault_op(second);
    set_fault_steps(vec![
        FaultStep {
            op: op1,
            nth: n,
            calls: 1,
            action: FaultAction::Fail(errno1),
        },
        FaultStep {
            op: op2,
            nth: 1,
            calls: 1,
            action: FaultAction::Fail(errno2),
        },
    ]);
    let accept = move |e: &Error| expected_error(e, errno1) || expected_error(e, errno2);
    for op in WORKLOAD {
        let mut tries = 0;
        while !w.run(op, &accept)? {
            tries += 1;
            if tries > 4 {
                return Err(format!("{op:?} failed {tries} times with two faults").into());
            }
            // The handle shows every acknowledged commit after each failure.
            w.verify(&format!("after {op:?} failed"))?;
            if w.kill_at_fault && fault_hits() >= 2 {
                return Ok(true);
            }
            // What a caller does: retry; once the handle says it is poisoned, reopen (the
            // second fault may hit the reopen) and retry.
            if w.poisoned {
                w.reopen(&accept)?;
                w.verify(&format!("reopened after {op:?} failed"))?;
            }
        }
    }
    let hits = fault_hits();
    set_fault_steps(Vec::new());
    if hits < 2 {
        return Ok(false);
    }
    w.verify("after the workload")?;
    w.check("after the workload")?;
    w.reopen(&|_| false)?;
    w.verify("after a reopen")?;
    w.check("after a reopen")?;
    Ok(true)
}

fn child_round(dir: &Path) -> TestResult {
    let journal: String = child_param("ZIGGY_STICKY_JOURNAL");
    let mode: String = child_param("ZIGGY_STICKY_MODE");
    let n: u64 = child_param("ZIGGY_STICKY_N");
    set_power_loss_journal(Some(Path::new(&journal)))?;
    let mut w = Work {
        dir: dir.to_path_buf(),
        db: Some(open(dir)?),
        expect: Expect::default(),
        seed: 0,
        live: Vec::new(),
        errors: BTreeMap::new(),
        reopens: 0,
        failed_opens: 0,
        poisoned: false,
        kill_at_fault: child_param::<u8>("ZIGGY_STICKY_KILL_AT_FAULT") == 1,
    };
    // Before the faults: a dozen acknowledged SETs.
    for _ in 0..12 {
        w.run(Op::Set, &|_| false)?;
    }
    let parts: Vec<&str> = mode.split(':').collect();
    let reached = match parts.as_slice() {
        ["window", kind] => window_round(&mut w, kind, n)?,
        ["double", first, second] => double_round(&mut w, first, second, n)?,
        _ => return Err(format!("unknown mode {mode}").into()),
    };
    if !reached {
        report("NOT_REACHED");
        return Ok(());
    }
    if !w.kill_at_fault {
        // And after all that, a last acknowledged commit.
        w.run(Op::Set, &|_| false)?;
    }
    let errors: Vec<String> = w.errors.iter().map(|(k, v)| format!("{k}={v}")).collect();
    report(format!(
        "FIGURES errors={} reopens={} failed_opens={}",
        errors.join(","),
        w.reopens,
        w.failed_opens
    ));
    // Wait to be killed: no close, no checkpoint; the power cut sees what the commits synced.
    report("DONE");
    let _ = read_command();
    Ok(())
}

#[test]
fn child_fault_round() {
    let Some(dir) = child_role(ROLE) else {
        return;
    };
    util::end_child(child_round(&dir));
}

// ---------------------------------------------------------------------------------------------
// Parent side

#[derive(Default, Debug)]
struct Tally {
    rounds: u64,
    acked: u64,
    failed: u64,
    errors: BTreeMap<String, u64>,
    reopens: u64,
    failed_opens: u64,
    writes_undone: u64,
}

/// One round in a child; false if the faults were not reached. Kills the child, cuts the
/// power and checks the database.
fn round(mode: &str, n: u64, kill_at_fault: bool, tally: &mut Tally) -> TestResult<bool> {
    let tmp = scratch();
    let dir = tmp.path().join("db");
    let journal = tmp.path().join("journal");
    let mut child = Child::spawn(
        ENTRY,
        ROLE,
        &dir,
        &[
            ("ZIGGY_STICKY_JOURNAL", journal.display().to_string()),
            ("ZIGGY_STICKY_MODE", mode.to_owned()),
            ("ZIGGY_STICKY_N", n.to_string()),
            (
                "ZIGGY_STICKY_KILL_AT_FAULT",
                u8::from(kill_at_fault).to_string(),
            ),
        ],
    );
    let ctx = |m: String| format!("{mode} N={n} (killed at the fault: {kill_at_fault}): {m}");
    let mut expect = Expect::default();
    let mut done = false;
    while let Some(line) = child.next_line(Duration::from_secs(60)) {
        if expect.apply(&line) {
            continue;
        }
        if line == "NOT_REACHED" {
            child.wait_success(Duration::from_secs(30));
            return Ok(false);
        }
        if let Some(f) = line.strip_prefix("FAIL ") {
            return Err(ctx(format!("child: {f}")).into());
        }
        if let Some(figs) = line.strip_prefix("FIGURES ") {
            for w in figs.split_whitespace() {
                match w.split_once('=') {
                    Some(("errors", list)) => {
                        for e in list.split(',').filter(|e| !e.is_empty()) {
                            if let Some((k, v)) = e.split_once('=') {
                                *tally.errors.entry(k.to_owned()).or_default() +=
                                    v.parse::<u64>().unwrap_or(0);
                            }
                        }
                    }
                    Some(("reopens", v)) => tally.reopens += v.parse::<u64>()?,
                    Some(("failed_opens", v)) => tally.failed_opens += v.parse::<u64>()?,
                    _ => {}
                }
            }
        }
        if line == "DONE" {
            done = true;
            break;
        }
    }
    if !done {
        let status = child.wait(Duration::from_secs(10));
        return Err(ctx(format!(
            "the child ended ({status}) without finishing; stderr:\n{}",
            child.stderr()
        ))
        .into());
    }
    child.kill();
    let cut = power_cut(&journal, &dir)?;
    tally.writes_undone += cut.writes_undone as u64;
    let db = open(&dir).map_err(|e| ctx(format!("open after the power cut: {e}")))?;
    let d = expect.diff(&db);
    if !d.is_empty() {
        return Err(ctx(format!("after the power cut: {d:?}")).into());
    }
    let r = db.check()?;
    if !r.is_ok() {
        return Err(ctx(format!("check after the power cut: {:?}", r.problems)).into());
    }
    db.set(b"after", 1i64)
        .map_err(|e| ctx(format!("commit after the power cut: {e}")))?;
    tally.rounds += 1;
    tally.acked += expect.acked;
    tally.failed += expect.failed;
    Ok(true)
}

/// A scratch directory on tmpfs where there is one (thousands of real fsyncs).
fn scratch() -> tempfile::TempDir {
    let shm = Path::new("/dev/shm");
    let b = tempfile::Builder::new().prefix("ziggy-sticky-").to_owned();
    if shm.is_dir() {
        if let Ok(t) = b.tempdir_in(shm) {
            return t;
        }
    }
    util::tempdir()
}

/// Rounds of `mode` for N = 1, 2, … up to `max` (or until the faults are no longer
/// reached); the tally.
fn rounds(mode: &str, max: u64) -> TestResult<Tally> {
    let start = Instant::now();
    let mut tally = Tally::default();
    // Each N twice: killed while the fault is on (what the power cut undoes is what the
    // failed fsyncs did not cover), and killed once the workload recovered and finished.
    'n: for n in 1..=max {
        for kill_at_fault in [true, false] {
            if !round(mode, n, kill_at_fault, &mut tally)? {
                break 'n;
            }
        }
    }
    eprintln!(
        "{mode}: {} rounds, {} acknowledged commits kept through a power cut, {} failed \
         operations, errors {:?}, {} reopens ({} opens failed), {} unsynced writes undone, \
         {:.1} s",
        tally.rounds,
        tally.acked,
        tally.failed,
        tally.errors,
        tally.reopens,
        tally.failed_opens,
        tally.writes_undone,
        start.elapsed().as_secs_f64()
    );
    Ok(tally)
}

#[test]
fn every_fsync_failing_from_the_nth_on_acknowledges_nothing_it_did_not_sync() -> TestResult {
    let t = rounds("window:sync", 12)?;
    assert!(t.rounds >= 20, "{t:?}");
    assert!(t.errors.contains_key("SET:Poisoned"), "{t:?}");
    assert!(t.writes_undone > 0, "the power cuts undid nothing: {t:?}");
    Ok(())
}

#[test]
fn every_write_failing_from_the_nth_on_fails_each_commit_and_then_clears() -> TestResult {
    let t = rounds("window:write", 12)?;
    assert!(t.rounds >= 20, "{t:?}");
    assert!(t.errors.contains_key("SET:Io(EIO)"), "{t:?}");
    Ok(())
}

#[test]
fn a_second_fault_during_the_recovery_from_the_first_loses_nothing() -> TestResult {
    let mut total = 0;
    for (mode, max) in [
        ("double:sync:write", 10),
        ("double:write:sync", 10),
        ("double:sync:sync", 8),
        ("double:allocate:write", 4),
    ] {
        let t = rounds(mode, max)?;
        assert!(t.rounds >= 1, "{mode}: {t:?}");
        total += t.rounds;
    }
    assert!(total >= 40, "only {total} rounds");
    Ok(())
}
