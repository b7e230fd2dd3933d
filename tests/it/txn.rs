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

fn bytes_of(v: Value) -> Vec<u8> {
    match v {
        Value::Bytes(b) => b,
        other => panic!("a value written as bytes reads as {other:?}"),
    }
}

/// A transaction's pending writes against a model: many writes of few keys (each key
/// rewritten hundreds of times, with values small and big), deletes, nested savepoints
/// rolled back and kept, lists beside the scalars; every read inside the transaction and the
/// committed state after it must match the model.
#[test]
fn pending_writes_match_a_model_through_overwrites_and_savepoints() -> TestResult {
    use std::collections::BTreeMap;

    let tmp = util::tempdir();
    let path = util::db_path(&tmp);
    let db = Db::options().segment_size(64 << 20).open(&path)?;
    db.set(b"committed-0", "before")?;
    db.set(b"committed-1", "before")?;
    let mut rng = 0x2545_f491_4f6c_dd1du64;
    let mut next = move |n: u64| {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        rng % n
    };
    let value = |round: u64, len: usize| -> Vec<u8> {
        let mut v = round.to_le_bytes().repeat(len / 8 + 1);
        v.truncate(len);
        v
    };
    let keys: Vec<Vec<u8>> = (0..40u32)
        .map(|i| format!("committed-{i}").into_bytes())
        .collect();
    let mut model: BTreeMap<Vec<u8>, Option<Vec<u8>>> = BTreeMap::new();
    for k in &keys {
        let v = db.get(k)?.map(|v| v.to_vec());
        model.insert(k.clone(), v);
    }
    let mut list_model: Vec<Vec<u8>> = Vec::new();
    let mut tx = db.begin_write()?;
    // (savepoint, the model and list model when it was taken)
    type Saved = (
        ziggydb::Savepoint,
        BTreeMap<Vec<u8>, Option<Vec<u8>>>,
        Vec<Vec<u8>>,
    );
    let mut saved: Vec<Saved> = Vec::new();
    for round in 0..20_000u64 {
        let k = &keys[next(keys.len() as u64) as usize];
        match next(100) {
            0..=59 => {
                // Mostly small values, some kept as chunks of their own (4 KiB and up).
                let len = if next(10) == 0 {
                    4096 + next(9000) as usize
                } else {
                    next(300) as usize
                };
                let v = value(round, len);
                tx.set(k, v.clone())?;
                model.insert(k.clone(), Some(v));
            }
            60..=74 => {
                let existed = tx.delete(k)?;
                assert_eq!(existed, model[k].is_some(), "delete of {k:?} at {round}");
                model.insert(k.clone(), None);
            }
            75..=79 => {
                let item = round.to_le_bytes().to_vec();
                tx.list(b"the-list").push_back(&[&item])?;
                list_model.push(item);
            }
            80..=82 if saved.len() < 6 => {
                saved.push((tx.savepoint(), model.clone(), list_model.clone()));
            }
            83..=85 if !saved.is_empty() => {
                let (sp, m, l) = saved.pop().ok_or("no savepoint")?;
                tx.rollback_to(sp);
                model = m;
                list_model = l;
            }
            86 if !saved.is_empty() => {
                // Kept: the writes since it stay.
                saved.pop();
            }
            _ => {
                let got = tx.get(k)?.map(bytes_of);
                assert_eq!(got, model[k], "read of {k:?} at round {round}");
                assert_eq!(tx.exists(k)?, model[k].is_some(), "exists {k:?} at {round}");
            }
        }
    }
    for k in &keys {
        let got = tx.get(k)?.map(bytes_of);
        assert_eq!(got, model[k], "read of {k:?} before commit");
    }
    let live =
        model.values().filter(|v| v.is_some()).count() as u64 + u64::from(!list_model.is_empty());
    assert_eq!(tx.len()?, live);
    assert_eq!(tx.list(b"the-list").range(0, -1)?, list_model);
    tx.commit()?;
    for k in &keys {
        let got = db.get(k)?.map(|v| v.to_vec());
        assert_eq!(got, model[k], "committed {k:?}");
    }
    assert_eq!(db.len(), live);
    assert_eq!(db.list(b"the-list").range(0, -1)?, list_model);
    assert!(db.check()?.is_ok(), "{:?}", db.check()?.problems);
    Ok(())
}

/// One key written 100,000 times in one transaction, with no savepoint, then a load of
/// distinct keys in the same transaction: the transaction holds the last write of each key
/// only, commits exactly those records, and reads the right values throughout.
#[test]
fn a_key_written_many_times_in_one_transaction_commits_its_last_value() -> TestResult {
    let tmp = util::tempdir();
    let path = util::db_path(&tmp);
    let db = Db::open(&path)?;
    let mut tx = db.begin_write()?;
    for i in 0..100_000i64 {
        tx.set(b"counter", i)?;
        tx.set(b"blob", vec![(i % 251) as u8; 5000 + (i % 7) as usize])?;
        if i % 10_000 == 0 {
            assert_eq!(tx.get(b"counter")?, int(i));
        }
    }
    for i in 0..20_000u32 {
        tx.set(format!("k{i}").as_bytes(), i.to_le_bytes().to_vec())?;
    }
    assert_eq!(tx.incr_by(b"counter", 1)?, 100_000);
    let before = db.metrics().wal_bytes;
    tx.commit()?;
    // Only the last version of each key went to the log: far less than one blob per write.
    let logged = db.metrics().wal_bytes - before;
    assert!(logged < 2 << 20, "{logged} bytes logged");
    assert_eq!(db.get_value(b"counter")?, int(100_000));
    assert_eq!(
        db.get(b"blob")?.map(|v| v.to_vec()),
        Some(vec![(99_999 % 251) as u8; 5000 + 99_999 % 7])
    );
    for i in (0..20_000u32).step_by(997) {
        assert_eq!(
            db.get(format!("k{i}").as_bytes())?.map(|v| v.to_vec()),
            Some(i.to_le_bytes().to_vec())
        );
    }
    assert_eq!(db.len(), 20_002);
    Ok(())
}

/// The wake table of `ziggy.shm` (words 84–111, format-spec.md §9.6), read from the file,
/// which shares its pages with every process's map of it.
fn wake_words(path: &std::path::Path) -> TestResult<Vec<u64>> {
    let shm = std::fs::read(path.join("ziggy.shm"))?;
    Ok(shm[84 * 8..112 * 8]
        .chunks(8)
        .map(|w| u64::from_le_bytes(w.try_into().unwrap_or_default()))
        .collect())
}

/// Commits bump the wake table only while someone waits (format-spec.md §9.6 step C2):
/// with no waiter the words stay as they were; with one, a commit to its key moves its
/// bucket's word and ends the wait.
#[test]
fn commits_bump_the_wake_table_only_while_someone_waits() -> TestResult {
    let tmp = util::tempdir();
    let path = util::db_path(&tmp);
    let db = Db::open(&path)?;
    let before = wake_words(&path)?;
    for i in 0..200u32 {
        db.set(format!("key-{i}").as_bytes(), i as i64)?;
    }
    db.transaction(|tx| {
        for i in 0..1000u32 {
            tx.set(format!("bulk-{i}").as_bytes(), "v")?;
        }
        Ok(())
    })?;
    assert_eq!(
        wake_words(&path)?,
        before,
        "commits with no waiter bumped the table"
    );

    let db2 = db.clone();
    let waiter = std::thread::spawn(move || {
        db2.wait_for_change(
            &[b"watched"],
            ziggydb::Wait::timeout(Duration::from_secs(60)),
        )
    });
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while db.metrics().waiters < 1 {
        assert!(
            std::time::Instant::now() < deadline,
            "the waiter never waited"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    db.set(b"watched", "now")?;
    let woke = waiter.join().map_err(|_| "waiter panicked")??;
    assert_eq!(woke, Some(0), "the wait ended by the commit");
    assert_ne!(
        wake_words(&path)?,
        before,
        "a commit beside a waiter bumped nothing"
    );
    Ok(())
}

/// A savepoint made invalid by a rollback to an earlier one, or taken in another
/// transaction, undoes the writes its undo position names and leaves every other write
/// readable (the pending arena is not cut back to its stale mark).
#[test]
fn stale_and_foreign_savepoints_undo_writes_without_losing_others() -> TestResult {
    let tmp = util::tempdir();
    let path = util::db_path(&tmp);
    let db = Db::open(&path)?;
    let mut first = db.begin_write()?;
    first.set(b"first", "x")?;
    let foreign = first.savepoint();
    first.rollback();

    let big = |c: u8| vec![c; 6000];
    let mut tx = db.begin_write()?;
    tx.set(b"a", big(1))?;
    let sp1 = tx.savepoint();
    tx.set(b"b", big(2))?;
    let sp2 = tx.savepoint();
    tx.set(b"c", big(3))?;
    tx.rollback_to(sp1);
    tx.set(b"d", big(4))?;
    for i in 0..300u32 {
        tx.set(format!("n{i}").as_bytes(), i.to_le_bytes().to_vec())?;
    }
    // Stale: undoes the writes after the first one since sp1, as an undo log position.
    tx.rollback_to(sp2);
    assert_eq!(tx.get(b"a")?.map(bytes_of), Some(big(1)));
    assert_eq!(tx.get(b"d")?.map(bytes_of), Some(big(4)));
    assert_eq!(tx.get(b"b")?, None);
    assert_eq!(tx.get(b"c")?, None);
    assert_eq!(tx.get(b"n0")?, None);
    assert_eq!(tx.get(b"n299")?, None);
    tx.set(b"e", big(5))?;
    // Foreign (position 0 of this transaction's undo log): undoes every write since this
    // transaction's first savepoint.
    tx.rollback_to(foreign);
    assert_eq!(tx.get(b"a")?.map(bytes_of), Some(big(1)));
    assert_eq!(tx.get(b"d")?, None);
    assert_eq!(tx.get(b"e")?, None);
    tx.set(b"f", big(6))?;
    tx.commit()?;
    assert_eq!(db.get(b"a")?.map(|v| v.to_vec()), Some(big(1)));
    assert_eq!(db.get(b"f")?.map(|v| v.to_vec()), Some(big(6)));
    assert_eq!(db.len(), 2);
    assert!(db.check()?.is_ok(), "{:?}", db.check()?.problems);
    Ok(())
}
