//! Real crashes: a child process is killed with SIGKILL (at a random moment, at an I/O call
//! chosen by the fault plan, or inside a compaction), then the directory is reopened, or
//! repaired by a process that stayed attached, and checked against a model of the
//! transactions the child ran.
//!
//! Transaction `s` of a writer sets a few keys `<prefix>k/<i>` to values naming `s` (and
//! sometimes deletes one), and sets `<prefix>m = s`, all in one transaction; the writer prints
//! `ACK s` once the commit returned. After a crash, `m` must be at least the last acknowledged
//! `s`, and every key must hold exactly what transactions `1..=m` wrote: nothing lost,
//! nothing partial, no key from a later transaction.

use std::collections::BTreeMap;
use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::time::Duration;

use ziggydb::testing::{set_fault_plan, FaultAction, FaultOp, FaultPlan};
use ziggydb::{Db, Durability, Value};

use crate::util::{self, child_param, child_role, report, Child, Rng, TestResult};

/// Rounds of a crash test: `base`, times `ZIGGY_SOAK` when set (a long soak runs
/// `ZIGGY_SOAK=100 cargo nextest run --release --test it crash`).
fn rounds(base: usize) -> usize {
    base * usize::try_from(util::soak()).unwrap_or(usize::MAX)
}

const KEYSPACE: u64 = 64;
const LONG: Duration = Duration::from_secs(60);
const WRITER: &str = "crash::child_crash_writer";

fn key(prefix: &str, k: u64) -> Vec<u8> {
    format!("{prefix}k/{k}").into_bytes()
}

fn m_key(prefix: &str) -> Vec<u8> {
    format!("{prefix}m").into_bytes()
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

/// Runs transaction `s` of the writer with `prefix`.
fn run_txn(db: &Db, prefix: &str, s: u64, pad: usize) -> ziggydb::Result<()> {
    db.transaction(|tx| {
        for op in txn_ops(s) {
            match op {
                Op::Put(k) => tx.set(&key(prefix, k), value(s, k, pad))?,
                Op::Del(k) => {
                    tx.delete(&key(prefix, k))?;
                }
            }
        }
        tx.set(&m_key(prefix), s as i64)
    })
}

/// A writer's keys after its transactions `1..=m`, including `m` itself.
fn model(prefix: &str, m: u64, pad: usize) -> BTreeMap<Vec<u8>, String> {
    let mut state = BTreeMap::new();
    for s in 1..=m {
        for op in txn_ops(s) {
            match op {
                Op::Put(k) => {
                    state.insert(key(prefix, k), value(s, k, pad));
                }
                Op::Del(k) => {
                    state.remove(&key(prefix, k));
                }
            }
        }
    }
    state
}

fn read_m(db: &Db, prefix: &str) -> u64 {
    match db.get_value(&m_key(prefix)).expect("read m") {
        None => 0,
        Some(Value::Int(i)) => u64::try_from(i).expect("m is not negative"),
        Some(other) => panic!("{prefix}m holds {other:?}"),
    }
}

/// The writer: runs transactions from `m + 1` on until it is killed.
#[test]
fn child_crash_writer() {
    let Some(dir) = child_role("crash-writer") else {
        return;
    };
    let prefix = std::env::var("ZIGGY_PREFIX").unwrap_or_default();
    let pad: usize = child_param("ZIGGY_PAD");
    let compact_every: u64 = child_param("ZIGGY_COMPACT_EVERY");
    let kill_in_compact: u64 = child_param("ZIGGY_KILL_IN_COMPACT");
    let mut options = Db::options()
        .segment_size(64 << 10)
        .auto_compact(true, 0.5, 256 << 10);
    if std::env::var("ZIGGY_BATCHED").is_ok() {
        options = options.durability(Durability::Batched {
            max_delay: Duration::from_millis(50),
        });
    }
    // `Busy`: another writer of the round kept the open or writer lock for the whole lock
    // timeout, which a loaded machine can make happen; the parent bounds the wait.
    let db = loop {
        match options.clone().open(&dir) {
            Err(ziggydb::Error::Busy { .. }) => continue,
            r => break r.expect("open after a crash"),
        }
    };
    let start = read_m(&db, &prefix);
    report(format!("READY {start}"));
    for s in start + 1..start + 1_000_000 {
        run_txn(&db, &prefix, s, pad).expect("commit");
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

/// What one writer may have left: its `m` must lie in `lo..=hi`.
struct Expect<'a> {
    prefix: &'a str,
    lo: u64,
    hi: u64,
}

/// Reopens after a crash and checks the directory against the model (see [`verify_db`]).
fn verify(dir: &Path, lo: u64, hi: u64, pad: usize, compact: bool, label: &str) -> TestResult<u64> {
    let db =
        Db::open(dir).map_err(|e| format!("{label}: reopening after the crash failed: {e}"))?;
    let ms = verify_db(&db, &[Expect { prefix: "", lo, hi }], pad, compact, label)?;
    Ok(ms[0])
}

/// Checks a database against the writers' models: each `m` within its bounds, every key
/// exactly as that writer's transactions `1..=m` left it, no other key, and a clean
/// `check()`. With `compact`, also compacts and checks again. Returns each writer's `m`.
fn verify_db(
    db: &Db,
    writers: &[Expect<'_>],
    pad: usize,
    compact: bool,
    label: &str,
) -> TestResult<Vec<u64>> {
    let mut ms = Vec::new();
    let mut want = BTreeMap::new();
    for w in writers {
        let m = read_m(db, w.prefix);
        assert!(
            (w.lo..=w.hi).contains(&m),
            "{label}: writer {:?} recovered to transaction {m}; acknowledged up to {}, at most {} may have committed",
            w.prefix,
            w.lo,
            w.hi
        );
        want.extend(model(w.prefix, m, pad));
        if m > 0 {
            want.insert(m_key(w.prefix), m.to_string());
        }
        ms.push(m);
    }
    let check_state = |db: &Db, when: &str| -> TestResult {
        for (w, m) in writers.iter().zip(&ms) {
            for k in 0..KEYSPACE {
                let kk = key(w.prefix, k);
                let got = db
                    .get(&kk)?
                    .map(|v| String::from_utf8_lossy(&v).into_owned());
                assert_eq!(
                    got.as_ref(),
                    want.get(&kk),
                    "{label}{when}: {}k/{k} after recovering to transaction {m}",
                    w.prefix
                );
            }
        }
        let mut keys = db.keys()?;
        keys.sort();
        let want_keys: Vec<Vec<u8>> = want.keys().cloned().collect();
        assert_eq!(keys, want_keys, "{label}{when}: the key set");
        // CHECK takes the writer lock, which finishes a publish the killed writer left half
        // done (§10.1); until then the key count is the one counter a reader may find off,
        // since readers answer from the transaction being published and never repair
        // (format-spec.md §8).
        let report = db.check()?;
        assert!(
            report.is_ok(),
            "{label}{when}: check found {:?}",
            report.problems
        );
        assert_eq!(db.len(), want_keys.len() as u64, "{label}{when}: len()");
        Ok(())
    };
    check_state(db, "")?;
    if compact {
        db.compact()?;
        check_state(db, " (compacted after recovery)")?;
    }
    Ok(ms)
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
    for round in 0..rounds(8) {
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
    for round in 0..rounds(8) {
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
        let warm = read_m(&db, "");
        let expect = [Expect {
            prefix: "",
            lo: last,
            hi: last + 1,
        }];
        match std::panic::catch_unwind(|| verify_db(&db, &expect, 40, false, &fault)) {
            Ok(Ok(_)) => {}
            Ok(Err(e)) => failures.push(e.to_string()),
            Err(p) => failures.push(panic_text(&*p)),
        }
        drop(db);
        std::fs::remove_file(dir.join("ziggy.shm"))?;
        let cold = read_m(&Db::open(&dir)?, "");
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
    for round in 0..rounds(6) {
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

/// Runs `f` on another thread and fails if it takes longer than `limit` (a reader spinning
/// on a dead writer's half-done publish would otherwise hang the test).
fn within<T: Send + 'static>(
    limit: Duration,
    what: &str,
    f: impl FnOnce() -> T + Send + 'static,
) -> T {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)));
    });
    match rx.recv_timeout(limit) {
        Ok(Ok(v)) => v,
        Ok(Err(p)) => std::panic::resume_unwind(p),
        Err(_) => panic!("{what} did not finish within {limit:?}"),
    }
}

#[test]
fn killed_writer_is_repaired_by_a_process_that_stays_attached() -> TestResult {
    // This process keeps the database open throughout, so recovery is the repair of a dead
    // writer's state by a live process, not a first open.
    let tmp = util::tempdir();
    let dir = util::db_path(&tmp);
    let db = Db::options()
        .segment_size(64 << 10)
        .lock_timeout(Some(Duration::from_secs(10)))
        .open(&dir)?;
    let mut rng = Rng::from_env("killed_writer_is_repaired");
    let mut m = 0;
    for round in 0..rounds(10) {
        let mut env = writer_env(40, 0, 0);
        let label = if round % 2 == 0 {
            format!("round {round} (SIGKILL)")
        } else {
            let fault = format!("any:{}:kill", rng.range(1, 80));
            env.push(("ZIGGY_FAULT", fault.clone()));
            format!("round {round} ({fault})")
        };
        let mut child = Child::spawn(WRITER, "crash-writer", &dir, &env);
        if round % 2 == 0 {
            let start: u64 = child.expect("READY", LONG).parse()?;
            assert_eq!(start, m, "{label}: the child started from another state");
            std::thread::sleep(Duration::from_millis(rng.range(5, 200)));
            child.kill();
        } else {
            let status = child.wait(Duration::from_secs(30));
            assert!(
                status.signal().is_some(),
                "{label}: the child was not killed ({status}); stderr:\n{}",
                child.stderr()
            );
        }
        let last = acked(&child.drain()).unwrap_or(m);
        let reader = db.clone();
        let l = label.clone();
        m = within(
            Duration::from_secs(60),
            "reading after the kill",
            move || {
                verify_db(
                    &reader,
                    &[Expect {
                        prefix: "",
                        lo: last,
                        hi: last + 1,
                    }],
                    40,
                    false,
                    &l,
                )
                .map(|ms| ms[0])
                .map_err(|e| e.to_string())
            },
        )?;
        // This process carries on writing the same sequence.
        let writer = db.clone();
        within(
            Duration::from_secs(60),
            "a commit after the kill",
            move || run_txn(&writer, "", m + 1, 40).map_err(|e| e.to_string()),
        )?;
        m += 1;
        let reader = db.clone();
        let l = format!("{label}, after this process committed");
        within(
            Duration::from_secs(60),
            "reading after the commit",
            move || {
                verify_db(
                    &reader,
                    &[Expect {
                        prefix: "",
                        lo: m,
                        hi: m,
                    }],
                    40,
                    false,
                    &l,
                )
                .map(|_| ())
                .map_err(|e| e.to_string())
            },
        )?;
    }
    Ok(())
}

#[test]
fn several_writers_killed_together_are_each_recovered() -> TestResult {
    const PREFIXES: [&str; 3] = ["a/", "b/", "c/"];
    let tmp = util::tempdir();
    let dir = util::db_path(&tmp);
    let mut rng = Rng::from_env("several_writers_killed_together");
    let mut ms = vec![0u64; PREFIXES.len()];
    for round in 0..rounds(5) {
        let mut children: Vec<Child> = PREFIXES
            .iter()
            .map(|p| {
                let mut env = writer_env(40, 0, 0);
                env.push(("ZIGGY_PREFIX", (*p).to_owned()));
                Child::spawn(WRITER, "crash-writer", &dir, &env)
            })
            .collect();
        for (c, m) in children.iter_mut().zip(&ms) {
            let start: u64 = c.expect("READY", LONG).parse()?;
            assert_eq!(
                start, *m,
                "round {round}: a writer started from another state"
            );
        }
        std::thread::sleep(Duration::from_millis(rng.range(20, 300)));
        for c in &mut children {
            let status = c.kill();
            assert_eq!(
                status.signal(),
                Some(9),
                "round {round}: writer {} was not running ({status}); stderr:\n{}",
                c.name(),
                c.stderr()
            );
        }
        let lasts: Vec<u64> = children
            .iter_mut()
            .zip(&ms)
            .map(|(c, m)| acked(&c.drain()).unwrap_or(*m))
            .collect();
        let expect: Vec<Expect<'_>> = PREFIXES
            .iter()
            .zip(&lasts)
            .map(|(p, &l)| Expect {
                prefix: p,
                lo: l,
                hi: l + 1,
            })
            .collect();
        let db = Db::open(&dir)?;
        ms = verify_db(&db, &expect, 40, false, &format!("round {round}"))?;
    }
    assert!(
        ms.iter().all(|&m| m > 0),
        "some writer never committed: {ms:?}"
    );
    Ok(())
}

#[test]
fn sigkill_in_batched_mode_loses_no_acknowledged_commit() -> TestResult {
    // Batched durability may lose the last commits to an OS crash, never to a process crash.
    let tmp = util::tempdir();
    let dir = util::db_path(&tmp);
    let mut rng = Rng::from_env("sigkill_in_batched_mode");
    let mut m = 0;
    for round in 0..rounds(5) {
        let mut env = writer_env(40, 0, 0);
        env.push(("ZIGGY_BATCHED", "1".to_owned()));
        let mut child = Child::spawn(WRITER, "crash-writer", &dir, &env);
        let start: u64 = child.expect("READY", LONG).parse()?;
        assert_eq!(
            start, m,
            "round {round}: the child started from another state"
        );
        std::thread::sleep(Duration::from_millis(rng.range(20, 200)));
        let status = child.kill();
        assert_eq!(
            status.signal(),
            Some(9),
            "round {round}: the child was not running ({status}); stderr:\n{}",
            child.stderr()
        );
        let last = acked(&child.drain()).unwrap_or(m);
        m = verify(
            &dir,
            last,
            last + 1,
            40,
            false,
            &format!("batched round {round}"),
        )?;
    }
    assert!(m > 0, "no transaction was ever acknowledged");
    Ok(())
}

#[test]
fn compaction_in_one_process_while_another_writes() -> TestResult {
    // The child writes (and is killed at the end); this process compacts all along.
    let tmp = util::tempdir();
    let dir = util::db_path(&tmp);
    let db = Db::options()
        .segment_size(64 << 10)
        .auto_compact(false, 0.5, 0)
        .open(&dir)?;
    let mut m = 0;
    let mut compactions = 0;
    for round in 0..rounds(3) {
        let mut child = Child::spawn(WRITER, "crash-writer", &dir, &writer_env(600, 0, 0));
        let start: u64 = child.expect("READY", LONG).parse()?;
        assert_eq!(
            start, m,
            "round {round}: the child started from another state"
        );
        let until = std::time::Instant::now() + Duration::from_millis(600);
        while std::time::Instant::now() < until {
            let compactor = db.clone();
            within(Duration::from_secs(60), "a compaction", move || {
                compactor.compact().map(|_| ()).map_err(|e| e.to_string())
            })?;
            compactions += 1;
            std::thread::sleep(Duration::from_millis(20));
        }
        child.kill();
        let last = acked(&child.drain()).unwrap_or(m);
        let reader = db.clone();
        let label = format!("round {round}");
        m = within(
            Duration::from_secs(60),
            "checking after the kill",
            move || {
                verify_db(
                    &reader,
                    &[Expect {
                        prefix: "",
                        lo: last,
                        hi: last + 1,
                    }],
                    600,
                    true,
                    &label,
                )
                .map(|ms| ms[0])
                .map_err(|e| e.to_string())
            },
        )?;
    }
    assert!(
        compactions >= 3 && m > 0,
        "{compactions} compactions, {m} commits"
    );
    Ok(())
}
