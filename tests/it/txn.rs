//! Transactions in one process: atomic commit, rollback, drop, the closure API, reads of a
//! transaction's own writes, MGET and threads.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use ziggydb::{Db, Durability, Error, Value};

use crate::util::{self, TestResult};

fn int(v: i64) -> Option<Value> {
    Some(Value::Int(v))
}

#[test]
fn commit_publishes_every_write_at_once() -> TestResult {
    let tmp = util::tempdir();
    let path = util::db_path(&tmp);
    {
        let db = Db::open(&path)?;
        db.set(b"c", "doomed")?;
        db.set(b"d", 1i64)?;
        let mut tx = db.begin_write()?;
        tx.set(b"a", 1i64)?;
        tx.set(b"b", 2i64)?;
        assert!(tx.delete(b"c")?);
        tx.incr_by(b"d", 10)?;
        // Readers (they take no lock) see the state before the transaction.
        assert_eq!(db.get_value(b"a")?, None);
        assert_eq!(db.get_value(b"c")?, Some(Value::String("doomed".into())));
        assert_eq!(
            db.mget(&[b"a", b"b", b"c", b"d"])?,
            vec![None, None, Some(Value::String("doomed".into())), int(1)]
        );
        tx.commit()?;
        assert_eq!(
            db.mget(&[b"a", b"b", b"c", b"d"])?,
            vec![int(1), int(2), None, int(11)]
        );
    }
    let db = Db::open(&path)?;
    assert_eq!(
        db.mget(&[b"a", b"b", b"c", b"d"])?,
        vec![int(1), int(2), None, int(11)],
        "after reopen"
    );
    Ok(())
}

fn rollback_case(discard: impl FnOnce(ziggydb::WriteTxn)) -> TestResult {
    let tmp = util::tempdir();
    let path = util::db_path(&tmp);
    {
        let db = Db::options()
            .lock_timeout(Some(Duration::from_secs(2)))
            .open(&path)?;
        db.set(b"x", 1i64)?;
        db.set(b"z", "kept")?;
        let m0 = db.metrics();
        let mut tx = db.begin_write()?;
        tx.set(b"x", 2i64)?;
        tx.set(b"y", "never")?;
        assert!(tx.delete(b"z")?);
        tx.incr_by(b"n", 5)?;
        discard(tx);
        assert_eq!(
            db.mget(&[b"x", b"y", b"z", b"n"])?,
            vec![int(1), None, Some(Value::String("kept".into())), None]
        );
        let m1 = db.metrics();
        assert_eq!(m1.rollbacks - m0.rollbacks, 1, "one rollback counted");
        assert_eq!(m1.commits, m0.commits, "no commit counted");
        // The writer lock was released: a new transaction starts (well within the timeout).
        let started = std::time::Instant::now();
        let mut tx = db.begin_write()?;
        assert!(started.elapsed() < Duration::from_secs(1));
        tx.set(b"after", true)?;
        tx.commit()?;
    }
    let db = Db::open(&path)?;
    assert_eq!(
        db.mget(&[b"x", b"y", b"z", b"n", b"after"])?,
        vec![
            int(1),
            None,
            Some(Value::String("kept".into())),
            None,
            Some(Value::Bool(true))
        ],
        "after reopen"
    );
    Ok(())
}

#[test]
fn rollback_discards_every_write() -> TestResult {
    rollback_case(|tx| tx.rollback())
}

#[test]
fn dropping_a_transaction_rolls_it_back() -> TestResult {
    rollback_case(drop)
}

#[test]
fn closure_returning_err_rolls_back() -> TestResult {
    let tmp = util::tempdir();
    let db = Db::open(util::db_path(&tmp))?;
    db.set(b"text", "abc")?;
    let r = db.transaction(|tx| {
        tx.set(b"first", 1i64)?;
        tx.incr_by(b"text", 1)?; // fails: not an integer
        tx.set(b"never-reached", 1i64)?;
        Ok(())
    });
    assert!(matches!(r, Err(Error::NotAnInteger)), "got {r:?}");
    assert_eq!(
        db.get_value(b"first")?,
        None,
        "the write before the error is rolled back"
    );

    let r: Result<(), Error> = db.transaction(|tx| {
        tx.set(b"second", 2i64)?;
        Err(Error::InvalidArgument("changed my mind".into()))
    });
    assert!(matches!(r, Err(Error::InvalidArgument(ref m)) if m == "changed my mind"));
    assert_eq!(db.get_value(b"second")?, None);

    let n = db.transaction(|tx| {
        tx.set(b"third", 3i64)?;
        tx.incr_by(b"third", 4)
    })?;
    assert_eq!(n, 7, "the closure's value is returned");
    assert_eq!(db.get_value(b"third")?, int(7));
    Ok(())
}

#[test]
fn transaction_reads_its_own_writes() -> TestResult {
    let tmp = util::tempdir();
    let db = Db::open(util::db_path(&tmp))?;
    db.set(b"committed", "before")?;
    db.set(b"victim", 1i64)?;
    let mut tx = db.begin_write()?;
    assert_eq!(tx.get(b"committed")?, Some(Value::String("before".into())));
    assert_eq!(tx.get(b"new")?, None);
    tx.set(b"new", "mine")?;
    assert_eq!(tx.get(b"new")?, Some(Value::String("mine".into())));
    assert!(tx.exists(b"new")?);
    tx.set(b"new", 5i64)?;
    assert_eq!(
        tx.incr_by(b"new", 1)?,
        6,
        "incr sees the transaction's own write"
    );
    assert!(tx.delete(b"victim")?);
    assert_eq!(tx.get(b"victim")?, None);
    assert!(!tx.exists(b"victim")?);
    assert!(
        !tx.delete(b"victim")?,
        "already deleted in this transaction"
    );
    assert_eq!(
        tx.incr_by(b"victim", 3)?,
        3,
        "a key deleted here counts from 0"
    );
    assert!(tx.delete(b"new")?, "deleting this transaction's own insert");
    assert_eq!(tx.get(b"new")?, None);
    tx.set(b"new", "again")?;
    tx.commit()?;
    assert_eq!(
        db.mget(&[b"committed", b"new", b"victim"])?,
        vec![
            Some(Value::String("before".into())),
            Some(Value::String("again".into())),
            int(3)
        ]
    );
    Ok(())
}

#[test]
fn mget_edge_cases() -> TestResult {
    let tmp = util::tempdir();
    let db = Db::open(util::db_path(&tmp))?;
    assert!(db.mget(&[])?.is_empty());
    db.set(b"a", 1i64)?;
    assert_eq!(
        db.mget(&[b"a", b"missing", b"a"])?,
        vec![int(1), None, int(1)]
    );
    Ok(())
}

#[test]
fn mget_never_sees_half_a_transaction_across_threads() -> TestResult {
    let tmp = util::tempdir();
    let db = Db::options()
        .durability(Durability::Batched {
            max_delay: Duration::from_millis(5),
        })
        .open(util::db_path(&tmp))?;
    const ROUNDS: i64 = 1000;
    let done = Arc::new(AtomicBool::new(false));
    // Each reader counts here once it has seen a state strictly between the first and the
    // last; the writer waits for both half way, so the readers surely overlap it.
    let mid_seen = Arc::new(AtomicUsize::new(0));
    let mut readers = Vec::new();
    for _ in 0..2 {
        let db = db.clone();
        let done = Arc::clone(&done);
        let mid_seen = Arc::clone(&mid_seen);
        readers.push(std::thread::spawn(move || -> Result<(), String> {
            let mut last = 0;
            let mut saw_mid = false;
            loop {
                let finished = done.load(Ordering::SeqCst);
                let got = db.mget(&[b"a", b"b", b"neg"]).map_err(|e| e.to_string())?;
                let (a, b, neg) = match (&got[0], &got[1], &got[2]) {
                    (None, None, None) => (0, 0, 0),
                    (Some(Value::Int(a)), Some(Value::Int(b)), Some(Value::Int(n))) => (*a, *b, *n),
                    other => return Err(format!("mget returned a torn state {other:?}")),
                };
                if a != b || neg != -a {
                    return Err(format!("mget returned a={a} b={b} neg={neg}"));
                }
                if a < last {
                    return Err(format!("went back in time from {last} to {a}"));
                }
                last = a;
                if !saw_mid && a > 0 && a < ROUNDS {
                    saw_mid = true;
                    mid_seen.fetch_add(1, Ordering::SeqCst);
                }
                if finished {
                    if a != ROUNDS {
                        return Err(format!("final state {a}, expected {ROUNDS}"));
                    }
                    if !saw_mid {
                        return Err("never saw a state while the writer ran".into());
                    }
                    return Ok(());
                }
            }
        }));
    }
    for i in 1..=ROUNDS {
        db.transaction(|tx| {
            tx.set(b"a", i)?;
            tx.set(b"neg", -i)?;
            tx.set(b"b", i)?;
            Ok(())
        })?;
        if i == ROUNDS / 2 {
            let deadline = std::time::Instant::now() + Duration::from_secs(20);
            while mid_seen.load(Ordering::SeqCst) < 2 && std::time::Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(1));
            }
        }
    }
    done.store(true, Ordering::SeqCst);
    for r in readers {
        r.join().expect("reader thread")?;
    }
    db.sync()?;
    Ok(())
}

#[test]
fn threads_never_lose_increments() -> TestResult {
    let tmp = util::tempdir();
    let db = Db::open(util::db_path(&tmp))?;
    const THREADS: i64 = 4;
    const EACH: i64 = 150;
    let handles: Vec<_> = (0..THREADS)
        .map(|_| {
            let db = db.clone();
            std::thread::spawn(move || -> Result<Vec<i64>, String> {
                let mut got = Vec::new();
                for _ in 0..EACH {
                    let n = db
                        .transaction(|tx| {
                            let n = tx.incr_by(b"counter", 1)?;
                            tx.set(b"shadow", n)?;
                            Ok(n)
                        })
                        .map_err(|e| e.to_string())?;
                    got.push(n);
                }
                Ok(got)
            })
        })
        .collect();
    let mut all = Vec::new();
    for h in handles {
        let got = h.join().expect("writer thread")?;
        assert!(
            got.windows(2).all(|w| w[0] < w[1]),
            "one thread's results increase"
        );
        all.extend(got);
    }
    all.sort_unstable();
    let want: Vec<i64> = (1..=THREADS * EACH).collect();
    assert_eq!(all, want, "every increment returned a distinct value");
    assert_eq!(
        db.mget(&[b"counter", b"shadow"])?,
        vec![int(THREADS * EACH); 2]
    );
    Ok(())
}

#[test]
fn writer_lock_times_out_with_busy_across_threads() -> TestResult {
    let tmp = util::tempdir();
    let db = Db::options()
        .lock_timeout(Some(Duration::from_millis(200)))
        .open(util::db_path(&tmp))?;
    let mut tx = db.begin_write()?;
    tx.set(b"held", 1i64)?;
    let other = db.clone();
    let started = std::time::Instant::now();
    let r = std::thread::spawn(move || other.begin_write().map(|_| ()))
        .join()
        .expect("thread");
    let waited = started.elapsed();
    assert!(matches!(r, Err(Error::Busy { .. })), "got {r:?}");
    assert!(
        waited >= Duration::from_millis(150) && waited < Duration::from_secs(5),
        "waited {waited:?} for a 200 ms lock timeout"
    );
    // Reads go on while the writer holds the lock.
    assert_eq!(db.get_value(b"held")?, None);
    tx.commit()?;
    assert_eq!(db.get_value(b"held")?, int(1));
    db.set(b"after", 2i64)?;
    Ok(())
}
