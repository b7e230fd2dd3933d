//! The writer lock between processes (format-spec.md §6.2): a waiter sleeps in the kernel
//! (blocked in `flock`, not polling) and gets the lock as soon as the holder commits, rolls
//! back or dies; a waiter with a timeout gets Busy naming the holder and leaves nothing
//! held behind; a stopped waiter takes the lock from no one; many contending processes all
//! make progress. And the active expiry pass (format-spec.md §9.1): it takes the writer lock
//! only when it has keys to delete, and holds it for one bounded batch at a time.

use std::path::Path;
use std::time::{Duration, Instant};

use ziggydb::{Db, Error, Value};

use crate::util::{self, child_param, child_role, report, Child, TestResult};

const LONG: Duration = Duration::from_secs(120);

/// A database handle for the children: no background thread but the one under test, so
/// that what the process does while waiting is the lock wait alone.
fn quiet(dir: &Path, timeout: Option<Duration>) -> Db {
    Db::options()
        .lock_timeout(timeout)
        .active_expiry(None)
        .auto_compact(false, 0.5, 16 << 20)
        .open(dir)
        .expect("open")
}

fn int_of(v: Option<Value>) -> i64 {
    match v {
        None => 0,
        Some(Value::Int(i)) => i,
        Some(other) => panic!("expected an integer, found {other:?}"),
    }
}

/// The `/proc/locks` id ("…:INODE") of `DIR/name`.
fn inode_suffix(dir: &Path, name: &str) -> String {
    use std::os::unix::fs::MetadataExt;
    let ino = std::fs::metadata(dir.join(name)).expect("lock file").ino();
    format!(":{ino}")
}

/// Processes blocked in `flock` on `DIR/name` (the "->" lines of `/proc/locks`), and the
/// processes holding it. `/proc/locks` is read a page at a time, and locks taken or dropped
/// anywhere between two reads shift its lines, so that a line can be missed: the union of
/// three readings is taken (right for the stable states the tests look at).
fn flock_state(dir: &Path, name: &str) -> (Vec<u32>, Vec<u32>) {
    let id = inode_suffix(dir, name);
    let locks: String = (0..3)
        .map(|_| std::fs::read_to_string("/proc/locks").unwrap_or_default())
        .collect::<Vec<_>>()
        .join("\n");
    let (mut blocked, mut holders) = (Vec::new(), Vec::new());
    for line in locks.lines() {
        let f: Vec<&str> = line.split_whitespace().collect();
        // "N: FLOCK ADVISORY WRITE PID MAJ:MIN:INO 0 EOF"; a waiter: "N: -> FLOCK ...".
        let (waiting, f) = match f.get(1) {
            Some(&"->") => (true, &f[1..]),
            _ => (false, &f[..]),
        };
        if f.len() >= 6 && f[1] == "FLOCK" && f[5].ends_with(&id) {
            if let Ok(pid) = f[4].parse() {
                if waiting {
                    blocked.push(pid);
                } else {
                    holders.push(pid);
                }
            }
        }
    }
    (blocked, holders)
}

/// Waits (up to 30 s) until process `pid` is blocked in `flock` on `DIR/writer.lock`.
fn wait_blocked(dir: &Path, pid: u32) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !flock_state(dir, "writer.lock").0.contains(&pid) {
        assert!(
            Instant::now() < deadline,
            "process {pid} never blocked in flock on writer.lock (is it polling?): {}",
            std::fs::read_to_string("/proc/locks").unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// Context switches of every thread of process `pid` so far.
fn context_switches(pid: u32) -> u64 {
    let mut total = 0;
    let tasks = std::fs::read_dir(format!("/proc/{pid}/task")).expect("tasks");
    for t in tasks.flatten() {
        let status = std::fs::read_to_string(t.path().join("status")).unwrap_or_default();
        for line in status.lines() {
            if let Some(n) = line
                .strip_prefix("voluntary_ctxt_switches:")
                .or_else(|| line.strip_prefix("nonvoluntary_ctxt_switches:"))
            {
                total += n.trim().parse::<u64>().unwrap_or(0);
            }
        }
    }
    total
}

/// Holds a write transaction (with `held` set) until told `commit` or `rollback`.
#[test]
fn child_hold() {
    let Some(dir) = child_role("lock-hold") else {
        return;
    };
    let db = quiet(&dir, Some(LONG));
    let mut tx = db.begin_write().expect("begin");
    tx.set(b"held", 1i64).expect("set");
    report("HOLDING");
    match util::read_command().as_deref() {
        Some("commit") => tx.commit().expect("commit"),
        _ => tx.rollback(),
    }
    report("RELEASED");
    report("PASS");
}

/// Waits for the writer lock (timeout `LOCK_MS`, 0 for none), increments `n`, and says so.
/// With a timeout it reports the error instead of failing, and then waits for a command:
/// `again` waits once more without a timeout.
#[test]
fn child_wait() {
    let Some(dir) = child_role("lock-wait") else {
        return;
    };
    let ms: u64 = child_param("LOCK_MS");
    let db = quiet(&dir, (ms > 0).then(|| Duration::from_millis(ms)));
    report("WAITING");
    match db.begin_write() {
        Ok(mut tx) => {
            tx.incr_by(b"n", 1).expect("incr");
            tx.commit().expect("commit");
            report("COMMITTED");
            // What this process counted (all 0 unless `ZIGGY_LOCK_STATS` is set).
            let stats: Vec<String> = ziggydb::testing::lock_stats()
                .into_iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect();
            report(format!("STATS {}", stats.join(" ")));
        }
        Err(e) => {
            report(format!("ERROR {e}"));
            if util::read_command().as_deref() == Some("again") {
                // Another lock timeout: a handle of its own, not a second open beside the
                // first (which would be OptionsMismatch).
                drop(db);
                let db = quiet(&dir, None);
                db.incr_by(b"n", 1).expect("incr without a timeout");
                report("COMMITTED");
            }
        }
    }
    report("PASS");
}

fn spawn_wait(dir: &Path, lock_ms: u64) -> Child {
    Child::spawn(
        "locking::child_wait",
        "lock-wait",
        dir,
        &[("LOCK_MS", lock_ms.to_string())],
    )
}

/// A waiter sleeps in the kernel while the lock is held (no polling: its threads hardly
/// run), and commits as soon as the holder commits.
#[test]
fn a_waiter_sleeps_in_flock_and_commits_when_the_holder_commits() -> TestResult {
    let tmp = util::tempdir();
    let dir = util::db_path(&tmp);
    drop(quiet(&dir, None));
    let mut holder = Child::spawn("locking::child_hold", "lock-hold", &dir, &[]);
    holder.expect("HOLDING", LONG);
    let mut waiter = spawn_wait(&dir, LONG.as_millis() as u64);
    waiter.expect("WAITING", LONG);
    wait_blocked(&dir, waiter.id());
    // Two seconds of waiting: a poller wakes hundreds of times; a blocked waiter not at all
    // (the margin covers the runtime's own threads).
    let before = context_switches(waiter.id());
    std::thread::sleep(Duration::from_secs(2));
    let switches = context_switches(waiter.id()) - before;
    assert!(
        switches < 50,
        "the waiting process switched {switches} times in 2 s: it polls"
    );
    assert!(waiter.next_line(Duration::ZERO).is_none(), "not before");
    holder.send("commit");
    holder.finish(LONG)?;
    waiter.expect("COMMITTED", LONG);
    waiter.finish(LONG)?;
    let db = quiet(&dir, None);
    assert_eq!(int_of(db.get_value(b"held")?), 1);
    assert_eq!(int_of(db.get_value(b"n")?), 1);
    Ok(())
}

/// A holder killed with SIGKILL: the kernel drops its lock and the blocked waiter commits;
/// the holder's transaction is not there.
#[test]
fn a_waiter_commits_when_the_holder_is_killed() -> TestResult {
    let tmp = util::tempdir();
    let dir = util::db_path(&tmp);
    drop(quiet(&dir, None));
    let mut holder = Child::spawn("locking::child_hold", "lock-hold", &dir, &[]);
    holder.expect("HOLDING", LONG);
    let mut waiter = spawn_wait(&dir, 0);
    waiter.expect("WAITING", LONG);
    wait_blocked(&dir, waiter.id());
    holder.kill();
    waiter.expect("COMMITTED", LONG);
    waiter.finish(LONG)?;
    let db = quiet(&dir, None);
    assert_eq!(db.get_value(b"held")?, None);
    assert_eq!(int_of(db.get_value(b"n")?), 1);
    Ok(())
}

/// A waiter with a timeout gets Busy naming the lock and the holder (stopped, here); the
/// lock its waiter thread gets later, after the holder goes, is released at once (another
/// process commits), and the same process can wait again and commit.
#[test]
fn a_waiter_that_times_out_gets_busy_and_keeps_nothing() -> TestResult {
    let tmp = util::tempdir();
    let dir = util::db_path(&tmp);
    drop(quiet(&dir, None));
    let mut holder = Child::spawn("locking::child_hold", "lock-hold", &dir, &[]);
    holder.expect("HOLDING", LONG);
    holder.signal(libc::SIGSTOP);
    let mut waiter = spawn_wait(&dir, 300);
    let error = waiter.expect("ERROR", LONG);
    assert!(error.contains("writer.lock"), "{error}");
    let named = format!("process {}", holder.id());
    assert!(error.contains(&named), "{error}");
    assert!(error.contains("which is stopped"), "{error}");
    // Its waiter thread is still in flock; the holder goes away, the thread gets the lock
    // and must release it at once.
    wait_blocked(&dir, waiter.id());
    holder.kill();
    let mut other = spawn_wait(&dir, LONG.as_millis() as u64);
    other.expect("COMMITTED", LONG);
    other.finish(LONG)?;
    assert!(
        !flock_state(&dir, "writer.lock").1.contains(&waiter.id()),
        "the timed-out process kept the lock"
    );
    waiter.send("again");
    waiter.expect("COMMITTED", LONG);
    waiter.finish(LONG)?;
    assert_eq!(int_of(quiet(&dir, None).get_value(b"n")?), 2);
    Ok(())
}

/// A waiter stopped while blocked in flock takes the lock from no one: when the holder
/// commits, another process gets it; the stopped one commits after it is continued.
#[test]
fn a_stopped_waiter_does_not_take_the_lock() -> TestResult {
    let tmp = util::tempdir();
    let dir = util::db_path(&tmp);
    drop(quiet(&dir, None));
    let mut holder = Child::spawn("locking::child_hold", "lock-hold", &dir, &[]);
    holder.expect("HOLDING", LONG);
    let mut stopped = spawn_wait(&dir, 0);
    stopped.expect("WAITING", LONG);
    wait_blocked(&dir, stopped.id());
    stopped.signal(libc::SIGSTOP);
    // Every thread stopped: one still running could take the lock on its way to the stop.
    let deadline = Instant::now() + LONG;
    while !is_stopped(stopped.id()) {
        assert!(Instant::now() < deadline, "the waiter never stopped");
        std::thread::sleep(Duration::from_millis(1));
    }
    holder.send("commit");
    holder.finish(LONG)?;
    let mut other = spawn_wait(&dir, LONG.as_millis() as u64);
    other.expect("COMMITTED", LONG);
    other.finish(LONG)?;
    stopped.signal(libc::SIGCONT);
    stopped.expect("COMMITTED", LONG);
    stopped.finish(LONG)?;
    assert_eq!(int_of(quiet(&dir, None).get_value(b"n")?), 2);
    Ok(())
}

/// Increments `n` `COUNT` times, one transaction each, and reports how many it made.
#[test]
fn child_incr_loop() {
    let Some(dir) = child_role("lock-incr") else {
        return;
    };
    let count: u64 = child_param("COUNT");
    let db = Db::options()
        .lock_timeout(Some(LONG))
        .open(&dir)
        .expect("open");
    report("READY");
    util::read_command();
    for _ in 0..count {
        db.incr_by(b"n", 1).expect("incr");
    }
    report(format!("DONE {count}"));
    report("PASS");
}

/// Eight processes commit in tight loops on one key: none is starved into a timeout, and
/// every increment counts.
#[test]
fn contending_processes_all_make_progress() -> TestResult {
    let tmp = util::tempdir();
    let dir = util::db_path(&tmp);
    drop(quiet(&dir, None));
    const PROCS: u64 = 8;
    const COUNT: u64 = 300;
    let mut kids: Vec<Child> = (0..PROCS)
        .map(|_| {
            Child::spawn(
                "locking::child_incr_loop",
                "lock-incr",
                &dir,
                &[("COUNT", COUNT.to_string())],
            )
        })
        .collect();
    for k in &mut kids {
        k.expect("READY", LONG);
    }
    for k in &mut kids {
        k.send("go");
    }
    for k in &mut kids {
        k.expect("DONE", LONG);
        k.finish(LONG)?;
    }
    let db = quiet(&dir, None);
    assert_eq!(int_of(db.get_value(b"n")?), (PROCS * COUNT) as i64);
    Ok(())
}

/// Busy is what a waiter that runs out of time gets, never another error.
#[test]
fn a_zero_timeout_tries_once() -> TestResult {
    let tmp = util::tempdir();
    let dir = util::db_path(&tmp);
    drop(quiet(&dir, None));
    let mut holder = Child::spawn("locking::child_hold", "lock-hold", &dir, &[]);
    holder.expect("HOLDING", LONG);
    let db = quiet(&dir, Some(Duration::ZERO));
    let r = db.begin_write().map(|_| ());
    assert!(
        matches!(
            r,
            Err(Error::Busy {
                lock: "writer.lock",
                ..
            })
        ),
        "{r:?}"
    );
    // Nothing was left waiting: no thread of this process is blocked in flock.
    assert!(!flock_state(&dir, "writer.lock")
        .0
        .contains(&std::process::id()));
    holder.send("rollback");
    holder.finish(LONG)?;
    db.set(b"k", 1i64)?;
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Active expiry (issue 12 item 5)

/// A process with active expiry every millisecond, and nothing else to do.
#[test]
fn child_expirer() {
    let Some(dir) = child_role("lock-expirer") else {
        return;
    };
    let db = Db::options()
        .lock_timeout(Some(LONG))
        .active_expiry(Some(Duration::from_millis(1)))
        .auto_compact(false, 0.5, 16 << 20)
        .open(&dir)
        .expect("open");
    report("READY");
    util::read_command();
    drop(db);
    report("PASS");
}

/// Sets keys that expire a millisecond later, 40 to a commit, until told to stop.
#[test]
fn child_feeder() {
    let Some(dir) = child_role("lock-feeder") else {
        return;
    };
    let db = quiet(&dir, Some(LONG));
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let watcher = {
        let stop = std::sync::Arc::clone(&stop);
        std::thread::spawn(move || {
            util::read_command();
            stop.store(true, std::sync::atomic::Ordering::Relaxed);
        })
    };
    report("READY");
    let mut i = 0u64;
    while !stop.load(std::sync::atomic::Ordering::Relaxed) {
        let mut tx = db.begin_write().expect("begin");
        for _ in 0..40 {
            i += 1;
            let key = format!("ttl-{}", i % 4000);
            tx.set_with_expiry(key.as_bytes(), "v", Some(util::now_ms() + 1))
                .expect("set");
        }
        tx.commit().expect("commit");
        std::thread::sleep(Duration::from_millis(1));
    }
    watcher.join().expect("watcher");
    report("PASS");
}

/// Whether every thread of process `pid` is stopped (state T in `/proc/PID/task/*/stat`):
/// a group stop reaches the threads one by one, and a thread still running may yet take a
/// lock.
fn is_stopped(pid: u32) -> bool {
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return false;
    };
    tasks.flatten().all(|t| {
        let stat = std::fs::read_to_string(t.path().join("stat")).unwrap_or_default();
        stat.rfind(')')
            .and_then(|i| stat[i + 1..].trim_start().chars().next())
            .is_some_and(|c| c == 'T' || c == 't')
    })
}

/// Stops `child` `stops` times at random moments; each time, once it is stopped, notes
/// whether it holds `writer.lock` and checks that this process can still commit (with a
/// long timeout: it must get the lock if the stopped process does not hold it). Returns how
/// many times it was found holding the lock, and the longest a commit here waited while
/// the child ran.
fn stop_at_random(dir: &Path, child: &Child, stops: u32) -> (u32, Duration) {
    let db = quiet(dir, Some(LONG));
    let mut rng = util::Rng::from_env("lock-stops");
    let (mut caught, mut worst) = (0, Duration::ZERO);
    for i in 0..stops {
        std::thread::sleep(Duration::from_micros(rng.range(0, 3000)));
        child.signal(libc::SIGSTOP);
        let deadline = Instant::now() + LONG;
        while !is_stopped(child.id()) {
            assert!(Instant::now() < deadline, "the child never stopped");
            std::thread::yield_now();
        }
        let holds = flock_state(dir, "writer.lock").1.contains(&child.id());
        if holds {
            caught += 1;
        } else {
            db.set(format!("stop-{i}").as_bytes(), 1i64)
                .expect("a commit beside a stopped process that does not hold the lock");
        }
        child.signal(libc::SIGCONT);
        let t = Instant::now();
        db.set(b"running", i64::from(i))
            .expect("a commit beside the running process");
        worst = worst.max(t.elapsed());
    }
    (caught, worst)
}

/// A process whose active expiry finds nothing to delete (every key expires in an hour)
/// never holds the writer lock: stopped at any moment, it holds nothing and another process
/// commits at once.
#[test]
fn an_idle_expiry_pass_never_holds_the_writer_lock() -> TestResult {
    let tmp = util::tempdir();
    let dir = util::db_path(&tmp);
    {
        let db = quiet(&dir, None);
        db.transaction(|tx| {
            for i in 0..500 {
                let key = format!("later-{i}");
                tx.set_with_expiry(key.as_bytes(), "v", Some(util::now_ms() + 3_600_000))?;
            }
            Ok(())
        })?;
    }
    let mut expirer = Child::spawn("locking::child_expirer", "lock-expirer", &dir, &[]);
    expirer.expect("READY", LONG);
    let (caught, _) = stop_at_random(&dir, &expirer, 200);
    assert_eq!(
        caught, 0,
        "an expiry pass with nothing to delete held the lock"
    );
    expirer.close_stdin();
    expirer.finish(LONG)?;
    Ok(())
}

/// With keys expiring all the time, the expiry pass takes the lock for one short batch at
/// a time: a process stopped at random moments is found holding it in few of them, and a
/// commit beside the running process never waits long.
#[test]
fn a_busy_expiry_pass_holds_the_writer_lock_in_short_batches() -> TestResult {
    let tmp = util::tempdir();
    let dir = util::db_path(&tmp);
    drop(quiet(&dir, None));
    let mut feeder = Child::spawn("locking::child_feeder", "lock-feeder", &dir, &[]);
    feeder.expect("READY", LONG);
    let mut expirer = Child::spawn("locking::child_expirer", "lock-expirer", &dir, &[]);
    expirer.expect("READY", LONG);
    let (caught, worst) = stop_at_random(&dir, &expirer, 200);
    let expired = quiet(&dir, None).metrics().expired;
    eprintln!(
        "expiry: stopped 200 times, holding writer.lock {caught} times; worst commit beside \
         it {worst:?}; {expired} keys expired"
    );
    assert!(expired > 0, "nothing expired: the test tested nothing");
    assert!(caught < 100, "held the lock at {caught} of 200 stops");
    // Seconds of slack for a loaded machine; the batches themselves take about a millisecond.
    assert!(worst < Duration::from_secs(5), "a commit waited {worst:?}");
    feeder.close_stdin();
    feeder.finish(LONG)?;
    expirer.close_stdin();
    expirer.finish(LONG)?;
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// The shared fsync (format-spec.md §9.4)

/// Commits once; run with `ZIGGY_TEST_STOP=sync`, it stops itself as the syncer, holding
/// `sync.lock`, before its fsync.
#[test]
fn child_commit_once() {
    let Some(dir) = child_role("lock-commit-once") else {
        return;
    };
    let db = quiet(&dir, Some(LONG));
    db.set(b"synced-by-child", 1i64).expect("commit");
    report("COMMITTED");
    report("PASS");
}

/// A process stopped in the middle of the shared fsync (as a Ctrl-Z'd shell whose expiry
/// thread was syncing its commit) holds `sync.lock`: a commit in another process must not
/// wait for it forever, but fsync on its own and return.
#[test]
fn a_stopped_syncer_does_not_hold_up_other_commits() -> TestResult {
    let tmp = util::tempdir();
    let dir = util::db_path(&tmp);
    drop(quiet(&dir, None));
    let mut syncer = Child::spawn(
        "locking::child_commit_once",
        "lock-commit-once",
        &dir,
        &[("ZIGGY_TEST_STOP", "sync".to_string())],
    );
    let deadline = Instant::now() + LONG;
    while !is_stopped(syncer.id()) {
        assert!(
            Instant::now() < deadline,
            "the child never stopped in its fsync"
        );
        std::thread::sleep(Duration::from_millis(2));
    }
    // It holds `sync.lock`: read until `/proc/locks` shows it (a reading can miss a line).
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut seen = false;
    while !seen && Instant::now() < deadline {
        seen = flock_state(&dir, "sync.lock").1.contains(&syncer.id());
        std::thread::sleep(Duration::from_millis(10));
    }
    assert!(
        seen,
        "the stopped syncer was not seen holding sync.lock in /proc/locks"
    );
    let (tx, rx) = std::sync::mpsc::channel();
    let d = dir.clone();
    std::thread::spawn(move || {
        let r = quiet(&d, Some(LONG)).set(b"mine", 2i64);
        let _ = tx.send(r);
    });
    let r = rx.recv_timeout(Duration::from_secs(60));
    assert!(
        matches!(r, Ok(Ok(()))),
        "a commit beside a stopped syncer did not return: {r:?}"
    );
    syncer.signal(libc::SIGCONT);
    syncer.expect("COMMITTED", LONG);
    syncer.finish(LONG)?;
    let db = quiet(&dir, None);
    assert_eq!(int_of(db.get_value(b"mine")?), 2);
    assert_eq!(int_of(db.get_value(b"synced-by-child")?), 1);
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// The counters the contention bench reads (`ziggydb::testing::lock_stats`)

/// A process that waited for the writer lock counts one acquisition, made by waiting (not by
/// its first try), a wait at least as long as the holder kept the lock after the waiter was
/// seen blocked, the hand-over from its waiter thread, the time it held the lock, and its
/// fsync: what the contention bench reports as where writers lose time must be what happened.
#[test]
fn the_lock_counters_count_a_wait_as_a_wait() -> TestResult {
    let tmp = util::tempdir();
    let dir = util::db_path(&tmp);
    drop(quiet(&dir, None));
    let mut holder = Child::spawn("locking::child_hold", "lock-hold", &dir, &[]);
    holder.expect("HOLDING", LONG);
    let mut waiter = Child::spawn(
        "locking::child_wait",
        "lock-wait",
        &dir,
        &[
            ("LOCK_MS", "0".to_string()),
            ("ZIGGY_LOCK_STATS", "1".to_string()),
        ],
    );
    waiter.expect("WAITING", LONG);
    wait_blocked(&dir, waiter.id());
    let held_on = Instant::now();
    std::thread::sleep(Duration::from_millis(200));
    holder.send("commit");
    let kept = held_on.elapsed();
    holder.expect("RELEASED", LONG);
    waiter.expect("COMMITTED", LONG);
    let line = waiter.expect("STATS", LONG);
    waiter.finish(LONG)?;
    holder.finish(LONG)?;
    let stat = |name: &str| -> u64 {
        line.split_whitespace()
            .find_map(|kv| kv.strip_prefix(&format!("{name}=")))
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("no counter {name} in {line:?}"))
    };
    assert_eq!(stat("acquires"), 1, "{line}");
    assert_eq!(
        stat("fast"),
        0,
        "the lock was held: no first try can succeed ({line})"
    );
    assert!(
        stat("wait_ns") >= kept.as_nanos() as u64,
        "the wait counted is shorter than the {kept:?} the holder kept the lock: {line}"
    );
    assert_eq!(stat("wait_max"), stat("wait_ns"), "{line}");
    assert!(stat("handoff_ns") <= stat("wait_ns"), "{line}");
    assert!(stat("held_ns") > 0, "{line}");
    // Its commit's fsync, unless the holder's, made just after, covered it already.
    assert!(
        stat("syncs") <= 1,
        "one Immediate commit, one fsync at most ({line})"
    );
    let db = quiet(&dir, None);
    assert_eq!(int_of(db.get_value(b"n")?), 1);
    Ok(())
}

/// Commits once (Immediate durability) beside a stopped syncer and reports how many times it
/// went to sleep on the sync epoch (`ZIGGY_LOCK_STATS` set): `SLEEPS n`.
#[test]
fn child_commit_count_sleeps() {
    let Some(dir) = child_role("lock-commit-count-sleeps") else {
        return;
    };
    let db = quiet(&dir, Some(LONG));
    db.set(b"mine", 2i64).expect("commit");
    let sleeps = ziggydb::testing::lock_stats()
        .into_iter()
        .find(|(name, _)| *name == "sync_sleeps")
        .map_or(0, |(_, n)| n);
    report(format!("SLEEPS {sleeps}"));
    report("PASS");
}

/// A committer waiting for another process's fsync sleeps until that fsync ends, not in short
/// naps: each wake-up is a context switch, and on a loaded machine it queues for a CPU beside
/// the syncer it waits for (format-spec.md §9.4). Beside a syncer stopped for good, it sleeps
/// until it fsyncs on its own after 200 ms: a handful of sleeps, not one per millisecond.
#[test]
fn a_committer_waiting_for_an_fsync_does_not_wake_every_millisecond() -> TestResult {
    let tmp = util::tempdir();
    let dir = util::db_path(&tmp);
    drop(quiet(&dir, None));
    let mut syncer = Child::spawn(
        "locking::child_commit_once",
        "lock-commit-once",
        &dir,
        &[("ZIGGY_TEST_STOP", "sync".to_string())],
    );
    let deadline = Instant::now() + LONG;
    while !is_stopped(syncer.id()) {
        assert!(
            Instant::now() < deadline,
            "the child never stopped in its fsync"
        );
        std::thread::sleep(Duration::from_millis(2));
    }
    let mut waiter = Child::spawn(
        "locking::child_commit_count_sleeps",
        "lock-commit-count-sleeps",
        &dir,
        &[("ZIGGY_LOCK_STATS", "1".to_string())],
    );
    let sleeps: u64 = waiter.expect("SLEEPS", LONG).parse()?;
    waiter.finish(LONG)?;
    syncer.signal(libc::SIGCONT);
    syncer.expect("COMMITTED", LONG);
    syncer.finish(LONG)?;
    // 200 ms of waiting in sleeps of up to 20 ms is about 10; naps of 1 ms made it about 200.
    assert!(
        (1..=30).contains(&sleeps),
        "the committer slept {sleeps} times on the sync epoch while the syncer was stopped"
    );
    let db = quiet(&dir, None);
    assert_eq!(int_of(db.get_value(b"mine")?), 2);
    assert_eq!(int_of(db.get_value(b"synced-by-child")?), 1);
    Ok(())
}

/// A writer that holds `writer.lock` for `HOLD_MS` per transaction (a transaction that reads,
/// works and writes) and begins the next one the moment it commits, for `SECS` seconds from
/// the parent's go; it reports how many it committed and the longest it waited to begin one.
#[test]
fn child_lock_hog() {
    let Some(dir) = child_role("lock-hog") else {
        return;
    };
    let hold = Duration::from_millis(child_param("HOLD_MS"));
    let secs: u64 = child_param("SECS");
    // Batched: the commit returns once published, so the only gap between two holds is
    // the return and the next begin (an Immediate commit would fsync outside the lock).
    let db = Db::options()
        .lock_timeout(Some(LONG))
        .durability(ziggydb::Durability::Batched {
            max_delay: Duration::from_millis(50),
        })
        .active_expiry(None)
        .auto_compact(false, 0.5, 16 << 20)
        .open(&dir)
        .expect("open");
    let key = format!("hog-{}", std::process::id());
    report("READY");
    util::read_command();
    let end = Instant::now() + Duration::from_secs(secs);
    let mut commits = 0u64;
    let mut longest = Duration::ZERO;
    while Instant::now() < end {
        let asked = Instant::now();
        db.transaction(|t| {
            longest = longest.max(asked.elapsed());
            t.incr_by(&key, 1)?;
            std::thread::sleep(hold);
            Ok(())
        })
        .expect("commit");
        commits += 1;
    }
    report(format!("DONE {commits} {}", longest.as_millis()));
    report("PASS");
}

/// Spins on a CPU for `SECS` seconds from the parent's go: load, so that a process woken by a
/// release waits for a CPU as it does on a busy machine.
#[test]
fn child_cpu_burner() {
    let Some(_dir) = child_role("cpu-burner") else {
        return;
    };
    let secs: u64 = child_param("SECS");
    report("READY");
    util::read_command();
    let end = Instant::now() + Duration::from_secs(secs);
    let mut x = 0u64;
    while Instant::now() < end {
        for i in 0..10_000u64 {
            x = std::hint::black_box(x.wrapping_mul(31).wrapping_add(i));
        }
    }
    report(format!("DONE {x}"));
    report("PASS");
}

/// One round of [`no_writer_starves_beside_writers_that_retake_the_lock`]: `HOGS` writers
/// beside `BURNERS` CPU burners for `SECS` seconds; the commits and the longest wait (ms) of
/// each writer.
fn hog_round(dir: &Path) -> TestResult<(Vec<u64>, Vec<u64>)> {
    const HOGS: usize = 5;
    const BURNERS: usize = 6;
    let secs = HOG_SECS.to_string();
    let mut hogs: Vec<Child> = (0..HOGS)
        .map(|_| {
            Child::spawn(
                "locking::child_lock_hog",
                "lock-hog",
                dir,
                &[("HOLD_MS", "1".into()), ("SECS", secs.clone())],
            )
        })
        .collect();
    let mut burners: Vec<Child> = (0..BURNERS)
        .map(|_| {
            Child::spawn(
                "locking::child_cpu_burner",
                "cpu-burner",
                dir,
                &[("SECS", (HOG_SECS + 1).to_string())],
            )
        })
        .collect();
    for k in hogs.iter_mut().chain(&mut burners) {
        k.expect("READY", LONG);
    }
    for k in burners.iter_mut().chain(&mut hogs) {
        k.send("go");
    }
    let (mut counts, mut waits) = (Vec::new(), Vec::new());
    for k in &mut hogs {
        let line = k.expect("DONE", LONG);
        let (n, ms) = line.split_once(' ').ok_or("DONE N MS")?;
        counts.push(n.parse::<u64>()?);
        waits.push(ms.parse::<u64>()?);
        k.finish(LONG)?;
    }
    for b in &mut burners {
        b.expect("DONE", LONG);
        b.finish(LONG)?;
    }
    Ok((counts, waits))
}

/// How long each round of the fairness test runs, in seconds.
const HOG_SECS: u64 = 3;

/// No writer starves (format-spec.md §6.6, the hand-off): five processes that each take the
/// lock again the moment they commit (holding it 1 ms), beside six CPU burners, share it.
/// Without a hand-off, the process that releases the lock is still running and takes it
/// again before a waiter woken by the release gets a CPU: in 3 s rounds, the least served
/// got 0.01–0.36 of the mean (a quarter or more in 4 rounds of 17) and some writer waited
/// 0.9–2.8 s for one commit; with it, 0.51–0.95 (96 rounds). The target is 1/3 of the
/// mean; what is asserted is lenient, a quarter of the mean in each of three rounds (the old
/// lock passes all three about once in 80 runs). The waits are printed, not asserted: on a
/// machine loaded far beyond its cores a fair round's longest wait reached 1.8 s.
#[test]
fn no_writer_starves_beside_writers_that_retake_the_lock() -> TestResult {
    let tmp = util::tempdir();
    let dir = util::db_path(&tmp);
    drop(quiet(&dir, None));
    for round in 0..3 {
        let (counts, waits) = hog_round(&dir)?;
        let mean = counts.iter().sum::<u64>() as f64 / counts.len() as f64;
        let least = *counts.iter().min().expect("counts") as f64;
        eprintln!(
            "round {round}: commits per writer {counts:?}, least/mean {:.2}, longest waits \
             {waits:?} ms",
            least / mean
        );
        assert!(mean > 0.0, "no commits at all: {counts:?}");
        assert!(
            least >= mean / 4.0,
            "a writer starved: commits per writer {counts:?}, least/mean {:.2} (< 0.25)",
            least / mean
        );
    }
    Ok(())
}

/// The hand-off word (`ziggy.shm` word 47, format-spec.md §6.6): the pid of the process
/// whose claim it holds, 0 for none.
fn claimant(dir: &Path) -> u32 {
    let shm = std::fs::read(dir.join("ziggy.shm")).expect("read ziggy.shm");
    let word = u64::from_le_bytes(shm[47 * 8..48 * 8].try_into().expect("8 bytes"));
    (word >> 32) as u32
}

/// A process stops itself (`ZIGGY_TEST_STOP=claim`) the moment it has claimed the lock after
/// a long wait; the holder commits; then `end` is done to it (continued after another
/// process committed, or killed). The other process must get the lock: a claim binds no one
/// whose claimant is stopped or gone.
fn a_claimant_that_stops(end: &str) -> TestResult {
    let tmp = util::tempdir();
    let dir = util::db_path(&tmp);
    drop(quiet(&dir, None));
    let mut holder = Child::spawn("locking::child_hold", "lock-hold", &dir, &[]);
    holder.expect("HOLDING", LONG);
    let mut claimant_proc = Child::spawn(
        "locking::child_wait",
        "lock-wait",
        &dir,
        &[
            ("LOCK_MS", LONG.as_millis().to_string()),
            ("ZIGGY_TEST_STOP", "claim".into()),
        ],
    );
    claimant_proc.expect("WAITING", LONG);
    let deadline = Instant::now() + LONG;
    while !is_stopped(claimant_proc.id()) {
        assert!(
            Instant::now() < deadline,
            "the waiter never claimed the lock (no hand-off word?)"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    assert_eq!(
        claimant(&dir),
        claimant_proc.id(),
        "the claim names the waiter"
    );
    if end == "kill" {
        claimant_proc.kill();
    }
    // The holder lets go: the stopped (or dead) claimant cannot take the lock, and must not
    // keep this writer from it.
    holder.send("commit");
    holder.finish(LONG)?;
    let mut other = spawn_wait(&dir, LONG.as_millis() as u64);
    other.expect("WAITING", LONG);
    other.expect("COMMITTED", LONG);
    other.finish(LONG)?;
    let mut expected = 1;
    if end == "continue" {
        claimant_proc.signal(libc::SIGCONT);
        claimant_proc.expect("COMMITTED", LONG);
        claimant_proc.finish(LONG)?;
        expected = 2;
        assert_eq!(
            claimant(&dir),
            0,
            "a claimant that got the lock withdrew its claim"
        );
    }
    let db = quiet(&dir, None);
    assert_eq!(int_of(db.get_value(b"n")?), expected);
    assert_eq!(int_of(db.get_value(b"held")?), 1);
    Ok(())
}

#[test]
fn a_stopped_claimant_holds_no_one_up_and_commits_when_continued() -> TestResult {
    a_claimant_that_stops("continue")
}

#[test]
fn a_killed_claimant_holds_no_one_up() -> TestResult {
    a_claimant_that_stops("kill")
}

/// Waits for the writer lock; once it has it, takes the next number of `served` in the same
/// transaction, says it, holds the lock `HOLD_MS` more and commits.
#[test]
fn child_served() {
    let Some(dir) = child_role("lock-served") else {
        return;
    };
    let hold = Duration::from_millis(child_param("HOLD_MS"));
    let db = quiet(&dir, Some(LONG));
    report("WAITING");
    let mut tx = db.begin_write().expect("begin");
    let n = tx.incr_by(b"served", 1).expect("incr");
    report(format!("SERVED {n}"));
    std::thread::sleep(hold);
    tx.commit().expect("commit");
    report("PASS");
}

/// Whether every thread of process `pid` sleeps (state S): a waiter for the lock sleeps in
/// `flock`, on a condition variable or on the claim word; one on its way there runs.
fn is_asleep(pid: u32) -> bool {
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return false;
    };
    tasks.flatten().all(|t| {
        let stat = std::fs::read_to_string(t.path().join("stat")).unwrap_or_default();
        stat.rfind(')')
            .and_then(|i| stat[i + 1..].trim_start().chars().next())
            .is_some_and(|c| c == 'S')
    })
}

/// Waits (up to 30 s) until process `pid` has slept through three looks 20 ms apart.
fn wait_asleep(pid: u32) {
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut asleep = 0;
    while asleep < 3 {
        assert!(Instant::now() < deadline, "process {pid} never slept");
        asleep = if is_asleep(pid) { asleep + 1 } else { 0 };
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Claims are served in the order the writers began to wait (format-spec.md §6.6, the order
/// of claims): five processes begin to wait one after the other behind a holder, and each,
/// once served, holds the lock long enough for the next to claim it. Without the tickets,
/// the first waiter's claim is served first, and then whichever of the others gets a CPU
/// first after its withdrawal claims next (the scheduler's order, not the queue's), beside
/// two CPU burners.
#[test]
fn claims_are_served_in_the_order_the_writers_began_to_wait() -> TestResult {
    const WAITERS: usize = 5;
    let tmp = util::tempdir();
    let dir = util::db_path(&tmp);
    drop(quiet(&dir, None));
    let mut burners: Vec<Child> = (0..2)
        .map(|_| {
            Child::spawn(
                "locking::child_cpu_burner",
                "cpu-burner",
                &dir,
                &[("SECS", "3600".into())],
            )
        })
        .collect();
    for b in &mut burners {
        b.expect("READY", LONG);
        b.send("go");
    }
    let mut holder = Child::spawn("locking::child_hold", "lock-hold", &dir, &[]);
    holder.expect("HOLDING", LONG);
    let mut waiters = Vec::new();
    for _ in 0..WAITERS {
        let mut w = Child::spawn(
            "locking::child_served",
            "lock-served",
            &dir,
            &[("HOLD_MS", "500".into())],
        );
        w.expect("WAITING", LONG);
        // Asleep: it waits for the lock (in `flock`, or on the first waiter's claim).
        wait_asleep(w.id());
        waiters.push(w);
    }
    holder.send("commit");
    holder.finish(LONG)?;
    let mut order = Vec::new();
    for w in &mut waiters {
        let line = w.expect("SERVED", LONG);
        order.push(line.trim().parse::<i64>()?);
        w.finish(LONG)?;
    }
    for b in &mut burners {
        b.kill();
    }
    let fifo: Vec<i64> = (1..=WAITERS as i64).collect();
    assert_eq!(
        order, fifo,
        "the waiters, in the order they began to wait, were served as these numbers say"
    );
    Ok(())
}
