//! Real crashes: a child process is killed with SIGKILL (at a random moment, at an I/O call
//! chosen by the fault plan, or inside a compaction), then the directory is reopened and
//! checked against a model of the transactions the child ran.
//!
//! Transaction `s` of the child sets a few keys `k/<i>` to values naming `s` (and sometimes
//! deletes one), and sets `m = s`, all in one transaction; the child prints `ACK s` once the
//! commit returned. After a crash, `m` must be at least the last acknowledged `s`, and every
//! key must hold exactly what transactions `1..=m` wrote: nothing lost, nothing partial, no
//! key from a later transaction.

use std::collections::BTreeMap;
use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::time::Duration;

use ziggydb::testing::{set_fault_plan, FaultAction, FaultOp, FaultPlan};
use ziggydb::{Db, Value};

use crate::util::{self, child_param, child_role, report, Child, Rng, TestResult};

const KEYSPACE: u64 = 64;
const LONG: Duration = Duration::from_secs(60);
const WRITER: &str = "crash::child_crash_writer";

fn key(k: u64) -> Vec<u8> {
    format!("k/{k}").into_bytes()
}

fn value(s: u64, k: u64, pad: usize) -> String {
    let fill = char::from(b'a' + (s % 26) as u8);
    format!("{s}:{k}:{}", fill.to_string().repeat(pad))
}

enum Op {
    Put(u64),
    Del(u64),
}

/// What transaction `s` does, in order.
fn txn_ops(s: u64) -> Vec<Op> {
    let mut ops: Vec<Op> = (0..1 + s % 5)
        .map(|j| Op::Put((s * 7 + j * 13) % KEYSPACE))
        .collect();
    if s % 11 == 0 {
        ops.push(Op::Del((s * 3 + 5) % KEYSPACE));
    }
    ops
}

/// The key space after transactions `1..=m`.
fn model(m: u64, pad: usize) -> BTreeMap<Vec<u8>, String> {
    let mut state = BTreeMap::new();
    for s in 1..=m {
        for op in txn_ops(s) {
            match op {
                Op::Put(k) => {
                    state.insert(key(k), value(s, k, pad));
                }
                Op::Del(k) => {
                    state.remove(&key(k));
                }
            }
        }
    }
    state
}

fn read_m(db: &Db) -> u64 {
    match db.get_value(b"m").expect("read m") {
        None => 0,
        Some(Value::Int(i)) => u64::try_from(i).expect("m is not negative"),
        Some(other) => panic!("m holds {other:?}"),
    }
}

/// The writer: runs transactions from `m + 1` on until it is killed.
#[test]
fn child_crash_writer() {
    let Some(dir) = child_role("crash-writer") else {
        return;
    };
    let pad: usize = child_param("ZIGGY_PAD");
    let compact_every: u64 = child_param("ZIGGY_COMPACT_EVERY");
    let kill_in_compact: u64 = child_param("ZIGGY_KILL_IN_COMPACT");
    let db = Db::options()
        .segment_size(64 << 10)
        .auto_compact(true, 0.5, 256 << 10)
        .open(&dir)
        .expect("open after a crash");
    let start = read_m(&db);
    report(format!("READY {start}"));
    for s in start + 1..start + 1_000_000 {
        db.transaction(|tx| {
            for op in txn_ops(s) {
                match op {
                    Op::Put(k) => tx.set(&key(k), value(s, k, pad))?,
                    Op::Del(k) => {
                        tx.delete(&key(k))?;
                    }
                }
            }
            tx.set(b"m", s as i64)
        })
        .expect("commit");
        report(format!("ACK {s}"));
        if compact_every > 0 && s % compact_every == 0 {
            if kill_in_compact > 0 {
                set_fault_plan(Some(FaultPlan {
                    op: FaultOp::Any,
                    nth: kill_in_compact,
                    action: FaultAction::Kill,
                    sticky: false,
                }));
            }
            report("COMPACTING");
            db.compact().expect("compact");
            set_fault_plan(None);
            report("COMPACTED");
        }
    }
    report("PASS");
}

fn writer_env(pad: usize, compact_every: u64, kill_in_compact: u64) -> Vec<(&'static str, String)> {
    vec![
        ("ZIGGY_PAD", pad.to_string()),
        ("ZIGGY_COMPACT_EVERY", compact_every.to_string()),
        ("ZIGGY_KILL_IN_COMPACT", kill_in_compact.to_string()),
    ]
}

/// Reopens after a crash and checks the directory against the model: `m` within
/// `lo..=hi`, every key exactly as transactions `1..=m` left it, nothing else, and a clean
/// `check()`. With `compact`, also compacts and checks again. Returns `m`.
fn verify(dir: &Path, lo: u64, hi: u64, pad: usize, compact: bool, label: &str) -> TestResult<u64> {
    let db =
        Db::open(dir).map_err(|e| format!("{label}: reopening after the crash failed: {e}"))?;
    verify_db(&db, lo, hi, pad, compact, label)
}

/// As [`verify`], on a database already reopened.
fn verify_db(db: &Db, lo: u64, hi: u64, pad: usize, compact: bool, label: &str) -> TestResult<u64> {
    let m = read_m(db);
    assert!(
        (lo..=hi).contains(&m),
        "{label}: recovered to transaction {m}; acknowledged up to {lo}, at most {hi} may have committed"
    );
    let want = model(m, pad);
    let check_state = |db: &Db, when: &str| -> TestResult {
        for k in 0..KEYSPACE {
            let got = db
                .get(&key(k))?
                .map(|v| String::from_utf8_lossy(&v).into_owned());
            assert_eq!(
                got.as_ref(),
                want.get(&key(k)),
                "{label}{when}: k/{k} after recovering to transaction {m}"
            );
        }
        let mut keys = db.keys()?;
        keys.sort();
        let mut want_keys: Vec<Vec<u8>> = want.keys().cloned().collect();
        if m > 0 {
            want_keys.push(b"m".to_vec());
        }
        want_keys.sort();
        assert_eq!(keys, want_keys, "{label}{when}: the key set");
        assert_eq!(db.len(), want_keys.len() as u64, "{label}{when}: len()");
        let report = db.check()?;
        assert!(
            report.is_ok(),
            "{label}{when}: check found {:?}",
            report.problems
        );
        Ok(())
    };
    check_state(db, "")?;
    if compact {
        db.compact()?;
        check_state(db, " (compacted after recovery)")?;
    }
    Ok(m)
}

fn acked(lines: &[String]) -> Option<u64> {
    lines
        .iter()
        .filter_map(|l| l.strip_prefix("ACK "))
        .map(|n| n.parse().expect("an ACK number"))
        .max()
}

#[test]
fn sigkill_at_random_moments_loses_no_acknowledged_commit() -> TestResult {
    let tmp = util::tempdir();
    let dir = util::db_path(&tmp);
    let mut rng = Rng::from_env("sigkill_at_random_moments");
    let mut m = 0;
    let mut total_acks = 0;
    for round in 0..8 {
        let mut child = Child::spawn(WRITER, "crash-writer", &dir, &writer_env(40, 0, 0));
        // Most rounds die while committing; every fourth may die inside open/recovery.
        if round % 4 != 3 {
            let start: u64 = child.expect("READY", LONG).parse()?;
            assert_eq!(
                start, m,
                "round {round}: the child recovered to another state"
            );
        }
        std::thread::sleep(Duration::from_millis(rng.range(5, 250)));
        let status = child.kill();
        assert_eq!(
            status.signal(),
            Some(9),
            "round {round}: the child was not running when killed ({status}); stderr:\n{}",
            child.stderr()
        );
        let lines = child.drain();
        let last = acked(&lines).unwrap_or(m);
        total_acks += last - m;
        m = verify(&dir, last, last + 1, 40, false, &format!("round {round}"))?;
    }
    assert!(total_acks > 0, "no transaction was ever acknowledged");
    Ok(())
}

#[test]
fn kill_at_io_fault_points_recovers_cleanly() -> TestResult {
    let tmp = util::tempdir();
    let dir = util::db_path(&tmp);
    let mut rng = Rng::from_env("kill_at_io_fault_points");
    let mut m = 0;
    for round in 0..8 {
        let op = ["any", "write", "sync", "any"][round % 4];
        let nth = rng.range(1, 120);
        let fault = format!("{op}:{nth}:kill");
        let mut env = writer_env(40, 0, 0);
        env.push(("ZIGGY_FAULT", fault.clone()));
        let mut child = Child::spawn(WRITER, "crash-writer", &dir, &env);
        let status = child.wait(Duration::from_secs(30));
        assert!(
            status.signal().is_some(),
            "round {round} ({fault}): the child was not killed at the fault point ({status}); stderr:\n{}",
            child.stderr()
        );
        let lines = child.drain();
        let last = acked(&lines).unwrap_or(m);
        m = verify(
            &dir,
            last,
            last + 1,
            40,
            false,
            &format!("round {round} ({fault})"),
        )?;
    }
    Ok(())
}

fn panic_text(p: &(dyn std::any::Any + Send)) -> String {
    p.downcast_ref::<String>()
        .cloned()
        .or_else(|| p.downcast_ref::<&str>().map(|s| (*s).to_owned()))
        .unwrap_or_else(|| "panicked".to_owned())
}

#[test]
fn kill_at_each_io_call_of_a_new_database_recovers_cleanly() -> TestResult {
    // Every I/O call from creating the directory through the first commits, one per run.
    // After each kill: the recovered state is right (see `verify`), and a later cold open
    // (the shared state gone, as after a reboot) agrees with the recovery already observed.
    const POINTS: u64 = 24;
    let mut failures = Vec::new();
    for nth in 1..=POINTS {
        let tmp = util::tempdir();
        let dir = util::db_path(&tmp);
        let fault = format!("any:{nth}:kill");
        let mut env = writer_env(40, 0, 0);
        env.push(("ZIGGY_FAULT", fault.clone()));
        let mut child = Child::spawn(WRITER, "crash-writer", &dir, &env);
        let status = child.wait(Duration::from_secs(30));
        assert!(
            status.signal().is_some(),
            "{fault}: the child was not killed at the fault point ({status}); stderr:\n{}",
            child.stderr()
        );
        let last = acked(&child.drain()).unwrap_or(0);
        let db = match Db::open(&dir) {
            Ok(db) => db,
            Err(e) => {
                failures.push(format!("{fault}: reopening after the crash failed: {e}"));
                continue;
            }
        };
        let warm = read_m(&db);
        match std::panic::catch_unwind(|| verify_db(&db, last, last + 1, 40, false, &fault)) {
            Ok(Ok(_)) => {}
            Ok(Err(e)) => failures.push(e.to_string()),
            Err(p) => failures.push(panic_text(&*p)),
        }
        drop(db);
        std::fs::remove_file(dir.join("ziggy.shm"))?;
        let cold = read_m(&Db::open(&dir)?);
        if warm != cold {
            failures.push(format!(
                "{fault}: the first open after the crash recovered to transaction {warm}; \
                 a cold open after it (shared state removed, as after a reboot) shows {cold}"
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {POINTS} kill points failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
    Ok(())
}

#[test]
fn kill_during_compaction_recovers_cleanly() -> TestResult {
    let tmp = util::tempdir();
    let dir = util::db_path(&tmp);
    let mut rng = Rng::from_env("kill_during_compaction");
    let mut m = 0;
    let mut killed_compacting = 0;
    for round in 0..6 {
        let label;
        let mut child;
        if round % 2 == 0 {
            // Killed at the nth I/O call of a compaction.
            let nth = rng.range(1, 9);
            label = format!("round {round} (kill at I/O call {nth} of a compaction)");
            child = Child::spawn(WRITER, "crash-writer", &dir, &writer_env(600, 10, nth));
            child.expect("READY", LONG);
            let deadline = std::time::Instant::now() + Duration::from_secs(8);
            let mut exited = None;
            while std::time::Instant::now() < deadline {
                if let Some(s) = child.try_status() {
                    exited = Some(s);
                    break;
                }
                std::thread::sleep(Duration::from_millis(10));
            }
            match exited {
                Some(s) => assert!(
                    s.signal().is_some(),
                    "{label}: the child exited with {s}; stderr:\n{}",
                    child.stderr()
                ),
                None => {
                    // Compactions made fewer I/O calls than nth: end the round by hand.
                    child.kill();
                }
            }
        } else {
            // Killed at a random moment while it compacts every third transaction.
            let delay = rng.range(50, 400);
            label = format!("round {round} (SIGKILL after {delay} ms)");
            child = Child::spawn(WRITER, "crash-writer", &dir, &writer_env(600, 3, 0));
            child.expect("READY", LONG);
            std::thread::sleep(Duration::from_millis(delay));
            let status = child.kill();
            assert_eq!(
                status.signal(),
                Some(9),
                "{label}: the child was not running ({status}); stderr:\n{}",
                child.stderr()
            );
        }
        let lines = child.drain();
        if lines.last().map(String::as_str) == Some("COMPACTING") {
            killed_compacting += 1;
        }
        let last = acked(&lines).unwrap_or(m);
        m = verify(&dir, last, last + 1, 600, true, &label)?;
    }
    assert!(
        killed_compacting > 0,
        "no round killed the child inside a compaction"
    );
    Ok(())
}

#[test]
fn writer_killed_holding_the_lock_releases_it() -> TestResult {
    let tmp = util::tempdir();
    let dir = util::db_path(&tmp);
    {
        let db = Db::open(&dir)?;
        db.set(b"before", 1i64)?;
    }
    let mut child = Child::spawn("multiprocess::child_hold_writer", "hold-writer", &dir, &[]);
    child.expect("HOLDING", LONG);
    child.kill();
    let db = Db::options()
        .lock_timeout(Some(Duration::from_secs(5)))
        .open(&dir)?;
    assert_eq!(
        db.mget(&[b"before", b"held", b"held-too"])?,
        vec![Some(Value::Int(1)), None, None],
        "the dead writer's uncommitted transaction is invisible"
    );
    let mut tx = db.begin_write()?;
    tx.set(b"after", 2i64)?;
    tx.commit()?;
    assert_eq!(db.get_value(b"after")?, Some(Value::Int(2)));
    let report = db.check()?;
    assert!(report.is_ok(), "check: {:?}", report.problems);
    Ok(())
}
