//! Several real processes on one directory: no lost updates, atomic visibility, readers that
//! stay correct through compaction and index growth, immediate visibility, the writer lock
//! and the attached-process count.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use ziggydb::{Db, Durability, Error, Value};

use crate::util::{self, child_param, child_role, report, Child, Rng, TestResult};

const LONG: Duration = Duration::from_secs(120);

fn batched() -> Durability {
    Durability::Batched {
        max_delay: Duration::from_millis(10),
    }
}

fn int_of(v: Option<Value>) -> i64 {
    match v {
        None => 0,
        Some(Value::Int(i)) => i,
        Some(other) => panic!("expected an integer, found {other:?}"),
    }
}

// ---------------------------------------------------------------------------------------------
// INCR from 8 processes

#[test]
fn child_incr() {
    let Some(dir) = child_role("incr") else {
        return;
    };
    let n: u32 = child_param("ZIGGY_N");
    let db = Db::open(&dir).expect("open");
    report("READY");
    // Start together, so that the processes really contend.
    assert_eq!(util::read_command().as_deref(), Some("go"));
    let mut got = Vec::new();
    for _ in 0..n {
        let v = db
            .transaction(|tx| tx.incr_by(b"counter", 1))
            .expect("incr in a transaction");
        got.push(v.to_string());
    }
    report(format!("VALUES {}", got.join(",")));
    report("PASS");
}

#[test]
fn eight_processes_never_lose_an_increment() -> TestResult {
    const PROCS: usize = 8;
    const N: i64 = 200;
    let tmp = util::tempdir();
    let dir = util::db_path(&tmp);
    drop(Db::open(&dir)?);
    let mut children: Vec<Child> = (0..PROCS)
        .map(|_| {
            Child::spawn(
                "multiprocess::child_incr",
                "incr",
                &dir,
                &[("ZIGGY_N", N.to_string())],
            )
        })
        .collect();
    for c in &mut children {
        c.expect("READY", LONG);
    }
    for c in &mut children {
        c.send("go");
    }
    let mut all = Vec::new();
    for c in &mut children {
        let values = c.expect("VALUES", LONG);
        c.wait_success(LONG);
        let mine: Vec<i64> = values
            .split(',')
            .map(|v| v.parse().expect("a number"))
            .collect();
        assert_eq!(mine.len() as i64, N);
        assert!(
            mine.windows(2).all(|w| w[0] < w[1]),
            "one process's results increase"
        );
        all.extend(mine);
    }
    all.sort_unstable();
    let want: Vec<i64> = (1..=PROCS as i64 * N).collect();
    assert_eq!(all, want, "every increment returned a distinct value");
    let db = Db::open(&dir)?;
    assert_eq!(
        db.get_value(b"counter")?,
        Some(Value::Int(PROCS as i64 * N))
    );
    assert!(db.check()?.is_ok());
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// MGET in one process while another commits pairs

#[test]
fn child_pair_writer() {
    let Some(dir) = child_role("pair-writer") else {
        return;
    };
    let rounds: i64 = child_param("ZIGGY_N");
    let db = Db::options()
        .durability(batched())
        .open(&dir)
        .expect("open");
    for i in 1..=rounds {
        db.transaction(|tx| {
            tx.set(b"a", i)?;
            tx.set(b"pad", vec![b'p'; (i % 97) as usize])?;
            tx.set(b"b", i)
        })
        .expect("commit a pair");
        if i == rounds / 2 {
            // Half way: wait until the reader has seen a state of this run.
            report("HALF");
            assert_eq!(util::read_command().as_deref(), Some("go"));
        }
    }
    db.sync().expect("sync");
    report("PASS");
}

#[test]
fn child_pair_reader() {
    let Some(dir) = child_role("pair-reader") else {
        return;
    };
    let rounds: i64 = child_param("ZIGGY_N");
    let db = Db::open(&dir).expect("open");
    report("READY");
    let deadline = Instant::now() + Duration::from_secs(90);
    let mut last = 0;
    let mut seen = HashSet::new();
    let mut saw_mid = false;
    let mut reads = 0u64;
    loop {
        let got = db.mget(&[b"a", b"b"]).expect("mget");
        reads += 1;
        let (a, b) = (int_of(got[0].clone()), int_of(got[1].clone()));
        assert_eq!(a, b, "mget saw half a transaction: {got:?}");
        assert!(a >= last, "went back in time from {last} to {a}");
        last = a;
        if a > 0 && a < rounds && !saw_mid {
            saw_mid = true;
            report("MID");
        }
        seen.insert(a);
        if a == rounds {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the writer's last commit never became visible (last seen {a})"
        );
    }
    report(format!("DISTINCT {}", seen.len()));
    report(format!("READS {reads}"));
    report("PASS");
}

#[test]
fn mget_in_another_process_never_sees_half_a_transaction() -> TestResult {
    const ROUNDS: i64 = 2000;
    let tmp = util::tempdir();
    let dir = util::db_path(&tmp);
    drop(Db::open(&dir)?);
    let env = [("ZIGGY_N", ROUNDS.to_string())];
    let mut reader = Child::spawn("multiprocess::child_pair_reader", "pair-reader", &dir, &env);
    reader.expect("READY", LONG);
    let mut writer = Child::spawn("multiprocess::child_pair_writer", "pair-writer", &dir, &env);
    writer.expect("HALF", LONG);
    reader.expect("MID", LONG);
    writer.send("go");
    writer.wait_success(LONG);
    let distinct: usize = reader.expect("DISTINCT", LONG).parse()?;
    reader.wait_success(LONG);
    assert!(distinct >= 2, "the reader saw {distinct} distinct states");
    let db = Db::open(&dir)?;
    assert_eq!(
        db.mget(&[b"a", b"b"])?,
        vec![Some(Value::Int(ROUNDS)), Some(Value::Int(ROUNDS))]
    );
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// A reader in another process while this one grows the index and compacts

const GROW_KEYS: u64 = 100_000;
const GROW_BATCH: u64 = 1_000;
const STABLE_KEYS: u64 = 500;

fn stable_key(i: u64) -> Vec<u8> {
    format!("s/{i}").into_bytes()
}
fn stable_value(i: u64) -> Vec<u8> {
    format!("stable-{i}-{}", "x".repeat(100)).into_bytes()
}
fn grow_key(i: u64) -> Vec<u8> {
    format!("n/{i}").into_bytes()
}
fn grow_value(i: u64) -> String {
    format!("value-of-{i}-{}", i.wrapping_mul(2_654_435_761) % 1_000_003)
}

#[test]
fn child_growth_reader() {
    let Some(dir) = child_role("growth-reader") else {
        return;
    };
    let db = Db::open(&dir).expect("open");
    let guard = db
        .get(&stable_key(0))
        .expect("read s/0")
        .expect("s/0 exists");
    let mut rng = Rng::new(u64::from(std::process::id()));
    report("READY");
    let deadline = Instant::now() + Duration::from_secs(110);
    let mut last = 0u64;
    let mut counts = HashSet::new();
    let mut saw_mid = false;
    let mut reads = 0u64;
    loop {
        // One snapshot: the count and the keys around it.
        let c = int_of(db.get_value(b"count").expect("read count")) as u64;
        assert!(c >= last, "count went back from {last} to {c}");
        assert_eq!(c % GROW_BATCH, 0, "count is published with its batch");
        last = c;
        if counts.insert(c) && c > 0 && c < GROW_KEYS && !saw_mid {
            saw_mid = true;
            report("MID");
        }
        let probe_hi = grow_key(c);
        let probe_lo = grow_key(c.saturating_sub(1));
        let snap = db
            .mget(&[b"count", &probe_lo[..], &probe_hi[..]])
            .expect("mget");
        let sc = int_of(snap[0].clone()) as u64;
        if sc == c {
            // Same state: key c-1 exists (if c > 0) and key c does not.
            if c > 0 {
                assert_eq!(
                    snap[1],
                    Some(Value::String(grow_value(c - 1))),
                    "n/{} with count {c}",
                    c - 1
                );
            }
            assert_eq!(snap[2], None, "n/{c} visible before count moved past it");
        }
        for _ in 0..20 {
            if c > 0 {
                let r = rng.range(0, c);
                let got = db.get_value(&grow_key(r)).expect("read n/r");
                assert_eq!(
                    got,
                    Some(Value::String(grow_value(r))),
                    "n/{r} with count {c}"
                );
            }
            let s = rng.range(0, STABLE_KEYS);
            let got = db.get(&stable_key(s)).expect("read s/i");
            assert_eq!(
                got.as_deref(),
                Some(&stable_value(s)[..]),
                "stable key s/{s}"
            );
            reads += 2;
        }
        if c == GROW_KEYS {
            break;
        }
        assert!(Instant::now() < deadline, "stuck at count {c}");
    }
    assert_eq!(
        &*guard,
        &stable_value(0)[..],
        "a value held across compactions changed"
    );
    report(format!("COUNTS {}", counts.len()));
    report(format!("READS {reads}"));
    report("PASS");
}

#[test]
fn reader_in_another_process_survives_compaction_and_index_growth() -> TestResult {
    let tmp = util::tempdir();
    let dir = util::db_path(&tmp);
    let db = Db::options()
        .segment_size(1 << 20)
        .durability(batched())
        .auto_compact(false, 0.5, 1 << 20)
        .open(&dir)?;
    db.transaction(|tx| {
        for i in 0..STABLE_KEYS {
            tx.set(&stable_key(i), stable_value(i))?;
        }
        Ok(())
    })?;
    let capacity_before = db.metrics().index_capacity;
    let mut reader = Child::spawn(
        "multiprocess::child_growth_reader",
        "growth-reader",
        &dir,
        &[],
    );
    reader.expect("READY", LONG);
    let mut compactions = 0;
    let mut removed = 0;
    for b in 0..GROW_KEYS / GROW_BATCH {
        db.transaction(|tx| {
            for j in 0..GROW_BATCH {
                let i = b * GROW_BATCH + j;
                tx.set(&grow_key(i), grow_value(i))?;
            }
            // Garbage for compaction to reclaim.
            for j in 0..8 {
                tx.set(format!("churn/{j}").as_bytes(), vec![b as u8; 4096])?;
            }
            tx.set(b"count", ((b + 1) * GROW_BATCH) as i64)
        })?;
        if b == GROW_KEYS / GROW_BATCH / 2 {
            // Half way: make sure the reader runs alongside.
            reader.expect("MID", LONG);
        }
        if b % 10 == 9 {
            let stats = db.compact()?;
            compactions += 1;
            removed += stats.segments_removed;
        }
    }
    db.sync()?;
    let counts: usize = reader.expect("COUNTS", LONG).parse()?;
    reader.wait_success(LONG);
    assert!(counts >= 2, "the reader saw only {counts} states");
    assert_eq!(compactions, 10);
    assert!(removed > 0, "compaction removed no segment file");
    let m = db.metrics();
    assert!(
        m.index_capacity > capacity_before && m.index_capacity >= GROW_KEYS,
        "index capacity went from {capacity_before} to {} for {} keys",
        m.index_capacity,
        m.keys
    );
    assert_eq!(db.len(), STABLE_KEYS + GROW_KEYS + 9);
    for i in 0..GROW_KEYS {
        assert_eq!(
            db.get_value(&grow_key(i))?,
            Some(Value::String(grow_value(i))),
            "n/{i}"
        );
    }
    let report = db.check()?;
    assert!(report.is_ok(), "check: {:?}", report.problems);
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// A commit is visible in another process as soon as commit() returns

#[test]
fn child_ping_pong() {
    let Some(dir) = child_role("ping-pong") else {
        return;
    };
    let db = Db::open(&dir).expect("open");
    report("READY");
    while let Some(cmd) = util::read_command() {
        let i: i64 = cmd.parse().expect("a round number");
        let seen = db.get_value(b"ping").expect("read ping");
        assert_eq!(
            seen,
            Some(Value::Int(i)),
            "ping of round {i} not visible yet"
        );
        db.set(b"pong", i).expect("write pong");
        report(format!("ACK {i}"));
    }
    report("PASS");
}

#[test]
fn commits_are_visible_in_other_processes_when_commit_returns() -> TestResult {
    const ROUNDS: i64 = 300;
    let tmp = util::tempdir();
    let dir = util::db_path(&tmp);
    let db = Db::open(&dir)?;
    let mut child = Child::spawn("multiprocess::child_ping_pong", "ping-pong", &dir, &[]);
    child.expect("READY", LONG);
    for i in 1..=ROUNDS {
        if i % 2 == 0 {
            db.set(b"ping", i)?;
        } else {
            let mut tx = db.begin_write()?;
            tx.set(b"ping", i)?;
            tx.commit()?;
        }
        child.send(&i.to_string());
        let ack: i64 = child.expect("ACK", LONG).parse()?;
        assert_eq!(ack, i);
        assert_eq!(
            db.get_value(b"pong")?,
            Some(Value::Int(i)),
            "the other process's commit of round {i} is not visible here"
        );
    }
    child.close_stdin();
    child.wait_success(LONG);
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// The writer lock across processes

#[test]
fn child_hold_writer() {
    let Some(dir) = child_role("hold-writer") else {
        return;
    };
    let db = Db::open(&dir).expect("open");
    let mut tx = db.begin_write().expect("begin");
    tx.set(b"held", 1i64).expect("set");
    tx.set(b"held-too", 2i64).expect("set");
    report("HOLDING");
    match util::read_command().as_deref() {
        Some("commit") => {
            tx.commit().expect("commit");
            report("COMMITTED");
        }
        _ => tx.rollback(),
    }
    report("PASS");
}

#[test]
fn writer_lock_excludes_other_processes_until_commit() -> TestResult {
    let tmp = util::tempdir();
    let dir = util::db_path(&tmp);
    let db = Db::options()
        .lock_timeout(Some(Duration::from_millis(300)))
        .open(&dir)?;
    let mut child = Child::spawn("multiprocess::child_hold_writer", "hold-writer", &dir, &[]);
    child.expect("HOLDING", LONG);
    let started = Instant::now();
    let r = db.begin_write().map(|_| ());
    let waited = started.elapsed();
    assert!(matches!(r, Err(Error::Busy { .. })), "got {r:?}");
    assert!(
        waited >= Duration::from_millis(250) && waited < Duration::from_secs(5),
        "waited {waited:?} for a 300 ms lock timeout"
    );
    // The error names the holder, and says when it is stopped (it keeps the lock until it is
    // continued or killed).
    let holder = format!("process {}", child.id());
    let message = r.expect_err("busy").to_string();
    assert!(message.contains(&holder), "{message}");
    assert!(!message.contains("stopped"), "{message}");
    child.signal(libc::SIGSTOP);
    let message = db.begin_write().map(|_| ()).expect_err("busy").to_string();
    child.signal(libc::SIGCONT);
    assert!(
        message.contains(&format!("{holder} (")) && message.contains("which is stopped"),
        "{message}"
    );
    let started = Instant::now();
    assert_eq!(db.mget(&[b"held", b"held-too"])?, vec![None, None]);
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "a read waited for the writer"
    );
    child.send("commit");
    child.expect("COMMITTED", LONG);
    assert_eq!(
        db.mget(&[b"held", b"held-too"])?,
        vec![Some(Value::Int(1)), Some(Value::Int(2))]
    );
    child.wait_success(LONG);
    db.set(b"mine", 3i64)?;
    assert_eq!(db.get_value(b"mine")?, Some(Value::Int(3)));
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// metrics().processes

#[test]
fn child_attach() {
    let Some(dir) = child_role("attach") else {
        return;
    };
    let db = Db::open(&dir).expect("open");
    db.get(b"anything").expect("read");
    report("ATTACHED");
    while util::read_command().is_some() {}
    drop(db);
    report("PASS");
}

fn wait_for_processes(db: &Db, want: u64) -> u64 {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let n = db.metrics().processes;
        if n == want || Instant::now() >= deadline {
            return n;
        }
        // Give the engine occasions to notice dead processes.
        let _ = db.get(b"poll");
        let _ = db.set(b"poll", 1i64);
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn metrics_count_attached_processes() -> TestResult {
    let tmp = util::tempdir();
    let dir = util::db_path(&tmp);
    let db = Db::open(&dir)?;
    assert_eq!(db.metrics().processes, 1);
    let mut children: Vec<Child> = (0..3)
        .map(|_| Child::spawn("multiprocess::child_attach", "attach", &dir, &[]))
        .collect();
    for c in &mut children {
        c.expect("ATTACHED", LONG);
    }
    assert_eq!(db.metrics().processes, 4, "this process and three children");
    // Two leave cleanly.
    for c in children.iter_mut().take(2) {
        c.close_stdin();
        c.wait_success(LONG);
    }
    assert_eq!(wait_for_processes(&db, 2), 2, "after two children detached");
    // One dies without detaching.
    children[2].kill();
    assert_eq!(
        wait_for_processes(&db, 1),
        1,
        "a process killed with SIGKILL is still counted as attached"
    );
    Ok(())
}
