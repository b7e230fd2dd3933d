//! Attaching (format-spec.md §6.1–§6.4): a process stalled while it opens or recovers the
//! database delays no process that can attach to the warm shared state, names itself and
//! what it was doing to those that must wait for it, and races with closing processes and
//! read-only opens lose nothing.

use std::fs::File;
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use fs2::FileExt;
use ziggydb::{Db, Error, Read};

use crate::util::{self, TestResult};

fn ziggy(dir: &Path) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_ziggy"));
    c.arg("-d")
        .arg(dir)
        .env_remove("ZIGGY_DIR")
        .env_remove("ZIGGY_TEST_STOP")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    c
}

/// Runs `ziggy -d DIR ARGS` to its end.
fn run(dir: &Path, args: &[&str]) -> TestResult<Output> {
    Ok(ziggy(dir).args(args).output()?)
}

/// Runs `ziggy -d DIR ARGS`, which must succeed; its standard output.
fn ok(dir: &Path, args: &[&str]) -> TestResult<String> {
    let out = run(dir, args)?;
    if !out.status.success() {
        return Err(format!(
            "ziggy {args:?} failed ({}): {}{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
        .into());
    }
    Ok(String::from_utf8(out.stdout)?.trim_end().to_owned())
}

/// Starts `ziggy -d DIR ARGS` that stops itself at pause point `point`, and waits until it
/// has stopped there.
fn stopped_at(dir: &Path, point: &str, args: &[&str]) -> TestResult<Child> {
    let mut child = ziggy(dir)
        .args(args)
        .env("ZIGGY_TEST_STOP", point)
        .spawn()?;
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        if let Some(status) = child.try_wait()? {
            return Err(
                format!("ziggy {args:?} ended ({status}) before stopping at {point}").into(),
            );
        }
        if state(child.id()) == Some('T') {
            return Ok(child);
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            return Err(format!("ziggy {args:?} did not stop at {point}").into());
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// The state letter of process `pid` (field 3 of `/proc/PID/stat`).
fn state(pid: u32) -> Option<char> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    stat.get(stat.rfind(')')? + 2..)?.chars().next()
}

/// Whether process `pid` holds an exclusive `flock` on `path`, as `/proc/locks` says.
fn holds_exclusive(pid: u32, path: &Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    let Ok(ino) = std::fs::metadata(path).map(|m| m.ino()) else {
        return false;
    };
    let locks = std::fs::read_to_string("/proc/locks").unwrap_or_default();
    locks.lines().any(|line| {
        let f: Vec<&str> = line.split_whitespace().collect();
        f.len() >= 6
            && f[1] == "FLOCK"
            && f[3] == "WRITE"
            && f[4] == pid.to_string()
            && f[5].rsplit(':').next() == Some(&ino.to_string())
    })
}

fn signal(child: &Child, sig: libc::c_int) {
    let pid = libc::pid_t::try_from(child.id()).expect("pid fits");
    // SAFETY: kill(2) only sends a signal; the child is not reaped yet, so its pid is ours.
    let rc = unsafe { libc::kill(pid, sig) };
    assert_eq!(rc, 0, "signal {sig}");
}

fn check_clean(dir: &Path) -> TestResult {
    let report = Db::open(dir)?.check()?;
    assert!(report.is_ok(), "check: {:?}", report.problems);
    Ok(())
}

/// A warm database, attached by no process: `a` = 1, counter `c` = 10.
fn warm_db(dir: &Path) -> TestResult {
    let db = Db::open(dir)?;
    db.set(b"a", "1")?;
    db.set(b"c", "10")?;
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// A process stopped holding ziggy.lock

/// An opener stopped right after it took `ziggy.lock` (as the probe's `strace -e
/// inject=flock:delay_exit=...` held it) must not delay any other open of the warm database:
/// `ziggy` reads and writes and the library opens within a 2 s lock timeout. Then the
/// stopped one is continued (its INCR lands, after the others) or killed (nothing lost).
#[test]
fn an_opener_stopped_holding_ziggy_lock_delays_no_other_open() -> TestResult {
    for kill in [false, true] {
        let tmp = util::tempdir();
        let dir = util::db_path(&tmp);
        warm_db(&dir)?;
        // A last process checkpointing holds ziggy.shm exclusively: an opener meeting that
        // takes ziggy.lock (the slow path), where this one stops.
        let shm = File::options()
            .read(true)
            .write(true)
            .open(dir.join("ziggy.shm"))?;
        shm.lock_exclusive()?;
        let mut stalled = stopped_at(&dir, "attach", &["INCR", "c"])?;
        drop(shm);

        assert_eq!(ok(&dir, &["--lock-timeout-ms", "2000", "GET", "a"])?, "1");
        assert_eq!(
            ok(&dir, &["--lock-timeout-ms", "2000", "SET", "b", "2"])?,
            "OK"
        );
        assert_eq!(ok(&dir, &["--lock-timeout-ms", "2000", "INCR", "c"])?, "11");
        {
            let db = Db::options()
                .lock_timeout(Some(Duration::from_secs(2)))
                .open(&dir)?;
            assert_eq!(db.get(b"b")?.as_deref(), Some(&b"2"[..]));
            db.set(b"lib", "yes")?;
        }
        assert_eq!(
            ok(&dir, &["--lock-timeout-ms", "2000", "GET", "lib"])?,
            "yes"
        );

        if kill {
            signal(&stalled, libc::SIGKILL);
            let status = stalled.wait()?;
            assert!(!status.success(), "killed: {status}");
            assert_eq!(ok(&dir, &["GET", "c"])?, "11");
        } else {
            signal(&stalled, libc::SIGCONT);
            let out = stalled.wait_with_output()?;
            assert!(
                out.status.success(),
                "continued: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            assert_eq!(String::from_utf8(out.stdout)?.trim_end(), "12");
            assert_eq!(ok(&dir, &["GET", "c"])?, "12");
        }
        assert_eq!(ok(&dir, &["MGET", "a", "b", "lib"])?, "1\n2\nyes");
        check_clean(&dir)?;
    }
    Ok(())
}

/// The last process stopped while it closes (where it checkpoints) delays no open: others
/// attach, read and write, and when it is continued it finishes its close.
#[test]
fn the_last_process_stopped_while_it_closes_delays_no_open() -> TestResult {
    let tmp = util::tempdir();
    let dir = util::db_path(&tmp);
    warm_db(&dir)?;
    let closing = stopped_at(&dir, "detach", &["INCR", "c"])?;
    assert_eq!(ok(&dir, &["--lock-timeout-ms", "2000", "GET", "c"])?, "11");
    assert_eq!(ok(&dir, &["--lock-timeout-ms", "2000", "INCR", "c"])?, "12");
    {
        let db = Db::options()
            .lock_timeout(Some(Duration::from_secs(2)))
            .open(&dir)?;
        db.set(b"lib", "yes")?;
    }
    signal(&closing, libc::SIGCONT);
    let out = closing.wait_with_output()?;
    assert!(out.status.success());
    assert_eq!(String::from_utf8(out.stdout)?.trim_end(), "11");
    assert_eq!(ok(&dir, &["MGET", "c", "lib"])?, "12\nyes");
    check_clean(&dir)?;
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// A first attacher stopped while it recovers

/// A first attacher stopped while it cold starts (no `ziggy.shm`, as after a reboot) holds
/// `ziggy.lock` and `ziggy.shm`: nobody can attach before it is done, so the others wait, and
/// their timeout error names `ziggy.lock`, the stopped process and that it was recovering
/// the database, never a writer. Once it is killed, the next open recovers.
#[test]
fn a_first_attacher_stopped_while_recovering_is_named_and_the_next_open_recovers() -> TestResult {
    let tmp = util::tempdir();
    let dir = util::db_path(&tmp);
    warm_db(&dir)?;
    std::fs::remove_file(dir.join("ziggy.shm"))?;
    let mut stalled = stopped_at(&dir, "first-open", &["GET", "a"])?;
    let pid = stalled.id();

    let out = run(&dir, &["--lock-timeout-ms", "1000", "GET", "a"])?;
    assert_eq!(out.status.code(), Some(1));
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    for part in [
        "busy",
        "ziggy.lock",
        &format!("process {pid}"),
        "which is stopped",
        "recovering the database",
    ] {
        assert!(text.contains(part), "{part:?} missing from: {text}");
    }
    assert!(!text.contains("writer"), "{text}");

    let err = Db::options()
        .lock_timeout(Some(Duration::from_millis(300)))
        .open(&dir)
        .err()
        .ok_or("attached while the first attacher was stopped")?;
    match &err {
        Error::Busy {
            lock: "ziggy.lock",
            holder: Some(h),
            ..
        } => assert!(h.contains("recovering"), "{err}"),
        _ => panic!("{err:?}"),
    }

    signal(&stalled, libc::SIGKILL);
    stalled.wait()?;
    assert_eq!(ok(&dir, &["--lock-timeout-ms", "2000", "GET", "a"])?, "1");
    assert_eq!(ok(&dir, &["INCR", "c"])?, "11");
    check_clean(&dir)?;
    Ok(())
}

/// An opener whose wait for a first attacher times out just as the first attacher finishes:
/// it reads the lock's holder (still the first attacher), and then, stopped there
/// (`opener-give-up`) until the first attacher is done, finds no phase in `ziggy.shm`. That
/// is the first attacher letting go, not a stalled holder: the opener waits once more and
/// opens. (Found by the lock tests run 500 times beside CPU burners: the busy first attacher
/// cleared its phase between the waiter's two reads, and the open failed with `Busy`.)
#[test]
fn an_opener_whose_wait_ends_as_the_first_attacher_finishes_opens() -> TestResult {
    let tmp = util::tempdir();
    let dir = util::db_path(&tmp);
    warm_db(&dir)?;
    std::fs::remove_file(dir.join("ziggy.shm"))?;
    let busy = ziggy(&dir)
        .args(["GET", "a"])
        .env("ZIGGY_TEST_BUSY", "first-open:1500")
        .spawn()?;
    let deadline = Instant::now() + Duration::from_secs(60);
    while !holds_exclusive(busy.id(), &dir.join("ziggy.lock")) {
        assert!(
            Instant::now() < deadline,
            "the first attacher never took ziggy.lock"
        );
        std::thread::sleep(Duration::from_millis(2));
    }
    // Its first wait (200 ms) ends while the first attacher is busy: it stops after reading
    // the holder.
    let waiter = stopped_at(
        &dir,
        "opener-give-up",
        &["--lock-timeout-ms", "200", "GET", "a"],
    )?;
    let out = busy.wait_with_output()?;
    assert!(out.status.success());
    signal(&waiter, libc::SIGCONT);
    let out = waiter.wait_with_output()?;
    assert!(
        out.status.success(),
        "the opener gave up: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8(out.stdout)?.trim_end(), "1");
    Ok(())
}

/// A first attacher that takes long to recover but runs (a rebuild of a large index; here
/// kept busy on the CPU for 4 s at the same point) is waited for past the lock timeout:
/// its progress is bounded by the data size, and an open that fails beside it would make a
/// large database unopenable. The waiter's lock timeout is 1 s.
#[test]
fn an_opener_waits_past_its_timeout_for_a_first_attacher_that_is_recovering() -> TestResult {
    let tmp = util::tempdir();
    let dir = util::db_path(&tmp);
    warm_db(&dir)?;
    std::fs::remove_file(dir.join("ziggy.shm"))?;
    let mut busy = ziggy(&dir)
        .args(["GET", "a"])
        .env("ZIGGY_TEST_BUSY", "first-open:4000")
        .spawn()?;
    // Until the holder has taken ziggy.lock (and then kept busy) as a first attacher.
    let deadline = Instant::now() + Duration::from_secs(60);
    while !holds_exclusive(busy.id(), &dir.join("ziggy.lock")) {
        assert!(
            Instant::now() < deadline,
            "the first attacher never took ziggy.lock"
        );
        assert!(busy.try_wait()?.is_none(), "the first attacher ended early");
        std::thread::sleep(Duration::from_millis(2));
    }
    let waited = Instant::now();
    let out = run(&dir, &["--lock-timeout-ms", "1000", "GET", "a"])?;
    let waited = waited.elapsed();
    assert!(
        out.status.success(),
        "gave up after {waited:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8(out.stdout)?.trim_end(), "1");
    let out = busy.wait_with_output()?;
    assert!(out.status.success());
    assert_eq!(String::from_utf8(out.stdout)?.trim_end(), "1");
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Fast attaches racing with closing processes

/// Many short-lived `ziggy INCR` processes at once, first with nobody else attached (so
/// processes keep closing as the last one, checkpointing, while others attach), then beside
/// a long-lived process: every increment acknowledged is counted exactly once, and the
/// database checks clean.
#[test]
fn short_lived_processes_attaching_and_closing_at_once_lose_no_increment() -> TestResult {
    let tmp = util::tempdir();
    let dir = util::db_path(&tmp);
    ok(&dir, &["SET", "n", "0"])?;
    let acked = Arc::new(AtomicU64::new(0));
    let burst = |rounds: usize| -> TestResult {
        for _ in 0..rounds {
            let children: Vec<Child> = (0..6)
                .map(|i| {
                    let args: &[&str] = if i % 3 == 2 {
                        &["GET", "n"]
                    } else {
                        &["INCR", "n"]
                    };
                    ziggy(&dir).args(args).spawn()
                })
                .collect::<Result<_, _>>()?;
            for (i, c) in children.into_iter().enumerate() {
                let out = c.wait_with_output()?;
                assert!(
                    out.status.success(),
                    "{}",
                    String::from_utf8_lossy(&out.stderr)
                );
                if i % 3 != 2 {
                    acked.fetch_add(1, Ordering::Relaxed);
                }
            }
        }
        Ok(())
    };
    burst(6)?;
    // Beside a long-lived process that increments too.
    let stop = Arc::new(AtomicBool::new(false));
    let long = {
        let (dir, stop, acked) = (dir.clone(), Arc::clone(&stop), Arc::clone(&acked));
        std::thread::spawn(move || -> Result<(), String> {
            let mut child = ziggy(&dir)
                .stdin(Stdio::piped())
                .spawn()
                .map_err(|e| e.to_string())?;
            let mut stdin = child.stdin.take().ok_or("stdin")?;
            let mut sent = 0;
            while !stop.load(Ordering::Relaxed) {
                use std::io::Write;
                writeln!(stdin, "INCR n").map_err(|e| e.to_string())?;
                sent += 1;
                std::thread::sleep(Duration::from_millis(2));
            }
            drop(stdin);
            let out = child.wait_with_output().map_err(|e| e.to_string())?;
            let replies = String::from_utf8_lossy(&out.stdout)
                .lines()
                .filter(|l| l.trim().parse::<u64>().is_ok())
                .count();
            if !out.status.success() || replies != sent {
                return Err(format!(
                    "long-lived: {} of {sent} replies, {}",
                    replies,
                    String::from_utf8_lossy(&out.stderr)
                ));
            }
            acked.fetch_add(sent as u64, Ordering::Relaxed);
            Ok(())
        })
    };
    let bursts = burst(6);
    stop.store(true, Ordering::Relaxed);
    long.join().map_err(|_| "long-lived thread panicked")??;
    bursts?;
    burst(2)?;
    assert_eq!(
        ok(&dir, &["GET", "n"])?,
        acked.load(Ordering::Relaxed).to_string()
    );
    check_clean(&dir)?;
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// A read-only open racing with read-write attaches

/// Read-only opens while short-lived read-write processes attach without `ziggy.lock` and
/// commit pairs: each read-only open either refuses (a process is attached) or reads one
/// consistent snapshot, both keys of every pair equal and the snapshot checking clean.
#[test]
fn a_read_only_open_racing_with_attaching_writers_reads_a_consistent_snapshot() -> TestResult {
    let tmp = util::tempdir();
    let dir = util::db_path(&tmp);
    {
        // An index of some megabytes, so that copying it takes a while.
        let db = Db::open(&dir)?;
        let mut txn = db.begin_write()?;
        for i in 0..100_000u32 {
            txn.set(format!("filler{i}").as_bytes(), "x")?;
        }
        txn.set(b"a", "0")?;
        txn.set(b"b", "0")?;
        txn.commit()?;
    }
    let stop = Arc::new(AtomicBool::new(false));
    let writers: Vec<_> = (0..2)
        .map(|w| {
            let (dir, stop) = (dir.clone(), Arc::clone(&stop));
            std::thread::spawn(move || -> Result<u64, String> {
                let mut i = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    i += 1;
                    let v = format!("{w}-{i}");
                    let out = ziggy(&dir)
                        .args(["MSET", "a", &v, "b", &v])
                        .output()
                        .map_err(|e| e.to_string())?;
                    if !out.status.success() {
                        return Err(String::from_utf8_lossy(&out.stderr).into_owned());
                    }
                }
                Ok(i)
            })
        })
        .collect();
    let (mut snapshots, mut refused) = (0, 0);
    let deadline = Instant::now() + Duration::from_secs(6);
    while Instant::now() < deadline {
        match Db::options().read_only(true).open(&dir) {
            Ok(db) => {
                let a = db.get(b"a")?.map(|v| v.to_vec());
                let b = db.get(b"b")?.map(|v| v.to_vec());
                assert_eq!(a, b, "a torn pair in a read-only snapshot");
                // A whole check of the snapshot takes long in a debug build: a few of them.
                if snapshots % 8 == 0 {
                    let report = db.check()?;
                    assert!(report.is_ok(), "snapshot check: {:?}", report.problems);
                }
                snapshots += 1;
            }
            Err(Error::OpenReadWrite { .. } | Error::NeedsRecovery { .. }) => refused += 1,
            Err(e) => return Err(e.into()),
        }
    }
    stop.store(true, Ordering::Relaxed);
    for w in writers {
        w.join().map_err(|_| "writer thread panicked")??;
    }
    eprintln!("{snapshots} read-only snapshots, {refused} refused");
    check_clean(&dir)?;
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// A cold open that rebuilds the index

/// Runs `ziggy -d DIR ARGS` and kills it while it closes, before its checkpoint: the index
/// stays dirty, as after a crash.
fn killed_at_close(dir: &Path, args: &[&str]) -> TestResult {
    let mut child = stopped_at(dir, "detach", args)?;
    signal(&child, libc::SIGKILL);
    child.wait()?;
    Ok(())
}

/// A database whose next open must rebuild its index (format-spec.md §10.2 step 4): 2,000
/// keys `k0`.. = `v0`.., `a` = 1, `c` = 10, `x` = old, `y` = yv, `z` = zv and `gone` deleted, closed
/// cleanly (the checkpoint); then `late` = v and `k5` deleted by processes killed before
/// their close (the log tail past the checkpoint, the index dirty); then no `ziggy.shm`, as
/// after a reboot.
fn db_needing_a_rebuild(dir: &Path) -> TestResult {
    {
        let db = Db::open(dir)?;
        for i in 0..2000 {
            db.set(format!("k{i}").as_bytes(), format!("v{i}"))?;
        }
        db.set(b"a", "1")?;
        db.set(b"c", "10")?;
        db.set(b"x", "old")?;
        db.set(b"y", "yv")?;
        db.set(b"z", "zv")?;
        db.set(b"gone", "soon")?;
        db.delete(b"gone")?;
    }
    killed_at_close(dir, &["SET", "late", "v"])?;
    killed_at_close(dir, &["DEL", "k5"])?;
    Ok(())
}

/// `ziggy -d DIR --lock-timeout-ms MS GET key`: `Ok(value)`, or `Err(message)` if it failed.
fn get_within(dir: &Path, ms: u64, key: &str) -> TestResult<Result<String, String>> {
    let out = run(dir, &["--lock-timeout-ms", &ms.to_string(), "GET", key])?;
    let text = String::from_utf8(out.stdout)?.trim_end().to_owned();
    Ok(if out.status.success() {
        Ok(text)
    } else {
        Err(format!("{text}{}", String::from_utf8_lossy(&out.stderr)))
    })
}

/// A first attacher rebuilding the index after a crash (stopped in the rebuild) keeps no
/// other process from opening and reading: `ziggy GET` and a library open answer keys
/// committed before the checkpoint and in the log after it, a deleted key and a key never
/// written, with a lock timeout far shorter than the wait a rebuild would be. Writers wait
/// for the rebuild (here: `Busy` naming the stopped rebuilder). Then the rebuilder is
/// continued, or killed, and the next writer finishes the rebuild: nothing is lost.
#[test]
fn a_rebuild_in_progress_keeps_no_other_process_from_opening_and_reading() -> TestResult {
    for kill in [false, true] {
        let tmp = util::tempdir();
        let dir = util::db_path(&tmp);
        db_needing_a_rebuild(&dir)?;
        std::fs::remove_file(dir.join("ziggy.shm"))?;
        let mut rebuilder = stopped_at(&dir, "rebuild", &["GET", "a"])?;

        for (key, want) in [
            ("a", "1"),
            ("k7", "v7"),
            ("k1999", "v1999"),
            ("late", "v"),
            ("k5", ""),
            ("never", ""),
        ] {
            assert_eq!(
                get_within(&dir, 1000, key)?,
                Ok(want.to_owned()),
                "GET {key} beside a rebuild"
            );
        }
        {
            let db = Db::options()
                .lock_timeout(Some(Duration::from_millis(500)))
                .open(&dir)?;
            assert_eq!(db.get(b"y")?.as_deref(), Some(&b"yv"[..]));
            assert_eq!(db.get(b"late")?.as_deref(), Some(&b"v"[..]));
            assert!(db.get(b"k5")?.is_none());
        }
        let out = run(&dir, &["--lock-timeout-ms", "300", "INCR", "c"])?;
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(!out.status.success(), "a write beside a stopped rebuild");
        assert!(
            text.contains("writer.lock") && text.contains("which is stopped"),
            "{text}"
        );
        assert_eq!(state(rebuilder.id()), Some('T'), "the rebuilder went on");

        if kill {
            signal(&rebuilder, libc::SIGKILL);
            rebuilder.wait()?;
            // `gone` is deleted before the checkpoint: only the rebuilt index answers it,
            // and this reader finishes the rebuild the killed process left.
            assert_eq!(get_within(&dir, 5000, "gone")?, Ok(String::new()));
        } else {
            signal(&rebuilder, libc::SIGCONT);
            let out = rebuilder.wait_with_output()?;
            assert!(
                out.status.success(),
                "continued: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            assert_eq!(String::from_utf8(out.stdout)?.trim_end(), "1");
        }
        assert_eq!(ok(&dir, &["INCR", "c"])?, "11");
        let db = Db::open(&dir)?;
        for i in (0..2000).filter(|&i| i != 5) {
            let want = format!("v{i}");
            assert_eq!(
                db.get(format!("k{i}").as_bytes())?.as_deref(),
                Some(want.as_bytes())
            );
        }
        assert!(db.get(b"k5")?.is_none());
        assert!(db.get(b"gone")?.is_none());
        assert_eq!(db.get(b"late")?.as_deref(), Some(&b"v"[..]));
        assert_eq!(db.get(b"x")?.as_deref(), Some(&b"old"[..]));
        drop(db);
        assert_eq!(
            util::index_files(&dir).len(),
            1,
            "{:?}",
            util::index_files(&dir)
        );
        check_clean(&dir)?;
    }
    Ok(())
}

/// After a power loss the index file may hold slots of transactions whose log never reached
/// the disk (its pages written back before the log's). A reader beside a rebuild must not
/// answer from such a slot: here `x` = new, a delete of `y`, and `z` = zz then deleted were
/// published (the index has them) and their log then lost (zeroed, as an unwritten page
/// reads). While the rebuild is stopped, `GET x`, `y` and `z` answer the committed values
/// or fail with `Busy`, never the lost ones; after it, they read `old`, `yv` and `zv`.
#[test]
fn a_reader_beside_a_rebuild_never_answers_from_a_write_the_log_lost() -> TestResult {
    let tmp = util::tempdir();
    let dir = util::db_path(&tmp);
    db_needing_a_rebuild(&dir)?;
    killed_at_close(&dir, &["SET", "x", "new"])?;
    killed_at_close(&dir, &["DEL", "y"])?;
    killed_at_close(&dir, &["SET", "z", "zz"])?;
    killed_at_close(&dir, &["DEL", "z"])?;
    let (seg, rec) = util::find_put(&dir, b"x").ok_or("no PUT of x")?;
    assert_eq!(rec.value_len, 3, "the newest PUT of x is the lost one");
    util::write_at(&seg, rec.offset as u64, &[0u8; util::RECORD_HEADER_LEN]);
    std::fs::remove_file(dir.join("ziggy.shm"))?;
    let mut rebuilder = stopped_at(&dir, "rebuild", &["GET", "a"])?;

    assert_eq!(get_within(&dir, 1000, "late")?, Ok("v".to_owned()));
    for (key, committed) in [("x", "old"), ("y", "yv"), ("z", "zv")] {
        match get_within(&dir, 300, key)? {
            Ok(v) => assert_eq!(v, committed, "GET {key} answered a lost write"),
            Err(e) => assert!(e.contains("busy") && e.contains("writer.lock"), "{e}"),
        }
    }
    signal(&rebuilder, libc::SIGCONT);
    assert!(rebuilder.wait()?.success());
    assert_eq!(
        ok(&dir, &["MGET", "x", "y", "z", "late"])?,
        "old\nyv\nzv\nv"
    );
    check_clean(&dir)?;
    Ok(())
}

/// A writer beside a rebuild that runs (kept busy on the CPU for 3 s inside it, as a large
/// rebuild is) waits for it past its lock timeout while the rebuilder makes progress, then
/// commits: the rebuild holds the writer lock, and failing a write only because a rebuild
/// took longer than the timeout would make a large database unwritable after a crash. A GET
/// beside it answers without waiting.
#[test]
fn a_writer_waits_past_its_timeout_for_a_rebuild_that_runs() -> TestResult {
    let tmp = util::tempdir();
    let dir = util::db_path(&tmp);
    db_needing_a_rebuild(&dir)?;
    std::fs::remove_file(dir.join("ziggy.shm"))?;
    let mut busy = ziggy(&dir)
        .args(["GET", "a"])
        .env("ZIGGY_TEST_BUSY", "rebuild:3000")
        .spawn()?;
    // Until the rebuilder has published the state and holds the writer lock to rebuild.
    let deadline = Instant::now() + Duration::from_secs(60);
    while !holds_exclusive(busy.id(), &dir.join("writer.lock"))
        || holds_exclusive(busy.id(), &dir.join("ziggy.lock"))
    {
        assert!(
            Instant::now() < deadline,
            "the rebuilder never got to its rebuild"
        );
        assert!(busy.try_wait()?.is_none(), "the rebuilder ended early");
        std::thread::sleep(Duration::from_millis(2));
    }
    assert_eq!(get_within(&dir, 500, "k42")?, Ok("v42".to_owned()));
    assert_eq!(ok(&dir, &["--lock-timeout-ms", "500", "INCR", "c"])?, "11");
    let out = busy.wait_with_output()?;
    assert!(out.status.success());
    assert_eq!(String::from_utf8(out.stdout)?.trim_end(), "1");
    assert_eq!(ok(&dir, &["GET", "late"])?, "v");
    check_clean(&dir)?;
    Ok(())
}

/// `ziggy -d DIR --lock-timeout-ms MS ARGS`: `Ok(stdout)`, or `Err(stdout and stderr)` if it
/// failed.
fn within(dir: &Path, ms: u64, args: &[&str]) -> TestResult<Result<String, String>> {
    let ms = ms.to_string();
    let mut all = vec!["--lock-timeout-ms", &ms];
    all.extend_from_slice(args);
    let out = run(dir, &all)?;
    let text = String::from_utf8(out.stdout)?.trim_end().to_owned();
    Ok(if out.status.success() {
        Ok(text)
    } else {
        Err(format!("{text}{}", String::from_utf8_lossy(&out.stderr)))
    })
}

/// Multi-key point reads beside a rebuild answer as GET does (format-spec.md §10.4): `MGET`,
/// `EXISTS` of several keys, `TYPE`, a hash's fields and the library's `mget`,
/// `count_existing` and `view` answer keys committed before the checkpoint and in the log
/// after it, deleted and never-written keys, from one state, with a lock timeout far shorter
/// than a rebuild, while the rebuilder is stopped. A read of several keys one of which the
/// log cannot prove (`gone`, deleted before the checkpoint), and scans (`KEYS`, `SCAN`),
/// which need the whole index, wait for the rebuild and fail after the lock timeout with
/// `Busy` naming the stopped rebuilder and its rebuild. Continued, or killed and finished by
/// the next reader, they answer everything.
#[test]
fn multi_key_reads_beside_a_rebuild_answer_what_the_log_proves() -> TestResult {
    for kill in [false, true] {
        let tmp = util::tempdir();
        let dir = util::db_path(&tmp);
        {
            let db = Db::open(&dir)?;
            db.transaction(|tx| tx.hash(b"h").set(&[(b"f", b"1"), (b"g", b"2")]))?;
        }
        db_needing_a_rebuild(&dir)?;
        std::fs::remove_file(dir.join("ziggy.shm"))?;
        let mut rebuilder = stopped_at(&dir, "rebuild", &["GET", "a"])?;
        let pid = rebuilder.id().to_string();

        let proven = [
            (
                &["MGET", "a", "k7", "late", "k5", "never", "k1999"][..],
                "1\nv7\nv\n\n\nv1999",
            ),
            (&["EXISTS", "a", "late", "k5", "never", "a"][..], "3"),
            (&["EXISTS", "k42"][..], "1"),
            (&["TYPE", "h"][..], "hash"),
            (&["HGET", "h", "g"][..], "2"),
            (&["HLEN", "h"][..], "2"),
        ];
        for (args, want) in proven {
            assert_eq!(
                within(&dir, 1000, args)?,
                Ok(want.to_owned()),
                "{args:?} beside a rebuild"
            );
        }
        {
            let db = Db::options()
                .lock_timeout(Some(Duration::from_millis(500)))
                .open(&dir)?;
            let got = db.mget(&[b"y", b"late", b"k5", b"k3"])?;
            let want = [Some("yv"), Some("v"), None, Some("v3")];
            assert_eq!(got.len(), want.len());
            for (g, w) in got.iter().zip(want) {
                assert_eq!(
                    g.as_ref().map(ziggydb::commands::redis_bytes),
                    w.map(|w| w.into())
                );
            }
            assert_eq!(db.count_existing(&[b"x", b"k5", b"late", b"never"])?, 2);
            let (a, k9) = db.view(|v| Ok((Read::get(v, b"a")?, Read::exists(v, b"k9")?)))?;
            assert_eq!(
                a.map(|v| ziggydb::commands::redis_bytes(&v)),
                Some(b"1".to_vec())
            );
            assert!(k9);
        }
        for args in [
            &["MGET", "a", "gone"][..],
            &["EXISTS", "late", "gone"][..],
            &["KEYS", "*"][..],
            &["SCAN", "0"][..],
        ] {
            let e = within(&dir, 300, args)?.expect_err("answered without proof");
            assert!(
                e.contains("busy")
                    && e.contains(&format!("process {pid}"))
                    && e.contains("which is stopped")
                    && e.contains("index was being rebuilt")
                    && !e.contains("another writer"),
                "{args:?}: {e}"
            );
        }
        assert_eq!(state(rebuilder.id()), Some('T'), "the rebuilder went on");

        if kill {
            signal(&rebuilder, libc::SIGKILL);
            rebuilder.wait()?;
            // This reader finishes the rebuild the killed process left.
            assert_eq!(
                within(&dir, 5000, &["MGET", "gone", "a"])?,
                Ok("\n1".to_owned())
            );
        } else {
            signal(&rebuilder, libc::SIGCONT);
            assert!(rebuilder.wait()?.success());
        }
        assert_eq!(ok(&dir, &["EXISTS", "gone", "late", "k5"])?, "1");
        let keys = ok(&dir, &["KEYS", "*"])?;
        // k0..k1999 but k5, a, c, x, y, z, late, h.
        assert_eq!(keys.lines().count(), 1999 + 7, "{keys}");
        assert_eq!(ok(&dir, &["DBSIZE"])?, "2006");
        check_clean(&dir)?;
    }
    Ok(())
}

/// The value of `field:` in `INFO` output.
fn info_field(info: &str, field: &str) -> Option<String> {
    info.lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
        .map(str::to_owned)
}

/// Beside a rebuild, `DBSIZE` and `INFO` answer without waiting for it, with the counts of the
/// old index's checkpoint (format-spec.md §10.4), and say that they are provisional:
/// `keys_provisional:1` in the keyspace section and `index_rebuilder_pid:PID` in the
/// persistence section, as the library's `Metrics::rebuilding` does. Once the rebuild ends,
/// the counts are the rebuilt index's, and no longer provisional.
#[test]
fn counts_beside_a_rebuild_are_the_checkpoints_and_say_they_are_provisional() -> TestResult {
    let tmp = util::tempdir();
    let dir = util::db_path(&tmp);
    db_needing_a_rebuild(&dir)?;
    // Past the checkpoint: two new keys and one deleted (`k5`, by the fixture: +1 key in all).
    killed_at_close(&dir, &["SET", "late2", "w"])?;
    std::fs::remove_file(dir.join("ziggy.shm"))?;
    let mut rebuilder = stopped_at(&dir, "rebuild", &["GET", "a"])?;

    // The checkpoint's: k0..k1999, a, c, x, y, z.
    assert_eq!(within(&dir, 300, &["DBSIZE"])?, Ok("2005".to_owned()));
    let info = within(&dir, 300, &["INFO"])?.map_err(|e| format!("INFO: {e}"))?;
    assert_eq!(info_field(&info, "keys_provisional").as_deref(), Some("1"));
    assert_eq!(
        info_field(&info, "index_rebuilder_pid"),
        Some(rebuilder.id().to_string())
    );
    assert_eq!(
        info_field(&info, "db0").as_deref(),
        Some("keys=2005,expires=0,avg_ttl=0")
    );
    {
        let db = Db::options()
            .lock_timeout(Some(Duration::from_millis(300)))
            .open(&dir)?;
        let m = db.metrics();
        assert!(m.rebuilding, "{m:?}");
        assert_eq!(m.keys, 2005);
    }
    signal(&rebuilder, libc::SIGCONT);
    assert!(rebuilder.wait()?.success());

    assert_eq!(ok(&dir, &["DBSIZE"])?, "2006");
    let info = ok(&dir, &["INFO"])?;
    assert_eq!(info_field(&info, "keys_provisional").as_deref(), Some("0"));
    assert_eq!(
        info_field(&info, "index_rebuilder_pid").as_deref(),
        Some("0")
    );
    assert!(!Db::open(&dir)?.metrics().rebuilding);
    check_clean(&dir)?;
    Ok(())
}

/// A database without a usable index: `k0`..`k199` = `v0`.., `a` = 1, `c` = 10, closed
/// cleanly, then its index file removed (`damaged`: its header overwritten instead) and
/// `ziggy.shm` removed, as after a reboot. A cold open rebuilds it from the log alone.
fn db_without_index(dir: &Path, damaged: bool) -> TestResult {
    {
        let db = Db::open(dir)?;
        for i in 0..200 {
            db.set(format!("k{i}").as_bytes(), format!("v{i}"))?;
        }
        db.set(b"a", "1")?;
        db.set(b"c", "10")?;
    }
    for f in util::index_files(dir) {
        if damaged {
            util::write_at(&f, 0, &[0xAB; 64]);
        } else {
            std::fs::remove_file(f)?;
        }
    }
    std::fs::remove_file(dir.join("ziggy.shm"))?;
    Ok(())
}

/// A cold open whose index is missing or damaged rebuilds it from the log, where nothing can
/// be proved before the rebuild ends (format-spec.md §10.4): it must still not keep other
/// processes from opening. Beside it stopped in its rebuild, `ziggy` and the library open
/// within a lock timeout far shorter than a rebuild, `DBSIZE` and `INFO` answer (marked
/// provisional), and a read or a write waits for the rebuild and fails after its lock
/// timeout with `Busy` naming the stopped rebuilder on `writer.lock`, not an open that
/// failed on `ziggy.lock`. Continued, or killed and finished by the next reader, everything
/// is there.
#[test]
fn a_cold_open_rebuilding_a_missing_index_lets_others_open_and_wait_for_reads() -> TestResult {
    for (damaged, kill) in [(false, false), (true, true)] {
        let tmp = util::tempdir();
        let dir = util::db_path(&tmp);
        db_without_index(&dir, damaged)?;
        let mut rebuilder = stopped_at(&dir, "rebuild", &["GET", "a"])?;
        let pid = rebuilder.id().to_string();

        for args in [
            &["GET", "a"][..],
            &["MGET", "k1", "k2"][..],
            &["INCR", "c"][..],
        ] {
            let e = within(&dir, 300, args)?.expect_err("answered beside a blind rebuild");
            assert!(
                e.contains("busy")
                    && e.contains("writer.lock")
                    && e.contains(&format!("process {pid}"))
                    && e.contains("which is stopped")
                    && e.contains("index was being rebuilt")
                    && !e.contains("another writer"),
                "{args:?}: {e}"
            );
        }
        let info = within(&dir, 300, &["INFO"])?.map_err(|e| format!("INFO: {e}"))?;
        assert_eq!(info_field(&info, "keys_provisional").as_deref(), Some("1"));
        assert_eq!(info_field(&info, "index_rebuilder_pid"), Some(pid.clone()));
        assert!(within(&dir, 300, &["DBSIZE"])?.is_ok());
        {
            let db = Db::options()
                .lock_timeout(Some(Duration::from_millis(300)))
                .open(&dir)?;
            assert!(db.metrics().rebuilding);
            match db.get(b"a") {
                Err(Error::Busy { lock, .. }) => assert_eq!(lock, "writer.lock"),
                other => panic!("GET beside a blind rebuild: {other:?}"),
            }
        }
        assert_eq!(state(rebuilder.id()), Some('T'), "the rebuilder went on");

        if kill {
            signal(&rebuilder, libc::SIGKILL);
            rebuilder.wait()?;
            // This reader finishes the rebuild the killed process left.
            assert_eq!(within(&dir, 5000, &["GET", "k7"])?, Ok("v7".to_owned()));
        } else {
            signal(&rebuilder, libc::SIGCONT);
            let out = rebuilder.wait_with_output()?;
            assert!(out.status.success());
            assert_eq!(String::from_utf8(out.stdout)?.trim_end(), "1");
        }
        assert_eq!(ok(&dir, &["INCR", "c"])?, "11");
        assert_eq!(ok(&dir, &["DBSIZE"])?, "202");
        let db = Db::open(&dir)?;
        for i in 0..200 {
            let want = format!("v{i}");
            assert_eq!(
                db.get(format!("k{i}").as_bytes())?.as_deref(),
                Some(want.as_bytes())
            );
        }
        assert!(!db.metrics().rebuilding);
        drop(db);
        // The damaged file is not provably this database's, so it is left alone.
        assert_eq!(
            util::index_files(&dir).len(),
            1 + usize::from(damaged),
            "{:?}",
            util::index_files(&dir)
        );
        check_clean(&dir)?;
    }
    Ok(())
}

/// Beside a rebuild without a usable index that runs (kept busy on the CPU for 3 s inside
/// it, as a large rebuild is), the rebuilder holds the writer lock and not `ziggy.lock`: an
/// open answers at once, and a GET, an MGET and a write, which need the rebuilt index, wait
/// past their 500 ms lock timeout while the rebuilder makes progress, then answer.
#[test]
fn reads_wait_past_their_timeout_for_a_rebuild_without_an_index_that_runs() -> TestResult {
    let tmp = util::tempdir();
    let dir = util::db_path(&tmp);
    db_without_index(&dir, false)?;
    let mut busy = ziggy(&dir)
        .args(["GET", "a"])
        .env("ZIGGY_TEST_BUSY", "rebuild:3000")
        .spawn()?;
    // Until the rebuilder has published the state and holds the writer lock to rebuild.
    let deadline = Instant::now() + Duration::from_secs(60);
    while !holds_exclusive(busy.id(), &dir.join("writer.lock"))
        || holds_exclusive(busy.id(), &dir.join("ziggy.lock"))
    {
        assert!(
            Instant::now() < deadline,
            "the rebuilder never rebuilt without ziggy.lock"
        );
        assert!(busy.try_wait()?.is_none(), "the rebuilder ended early");
        std::thread::sleep(Duration::from_millis(2));
    }
    assert_eq!(within(&dir, 500, &["GET", "k42"])?, Ok("v42".to_owned()));
    assert_eq!(
        within(&dir, 500, &["MGET", "k1", "a"])?,
        Ok("v1\n1".to_owned())
    );
    assert_eq!(within(&dir, 500, &["INCR", "c"])?, Ok("11".to_owned()));
    let out = busy.wait_with_output()?;
    assert!(out.status.success());
    assert_eq!(String::from_utf8(out.stdout)?.trim_end(), "1");
    check_clean(&dir)?;
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// A warm attach beside a compaction

/// A warm attacher reads the manifest, then checks the header of each segment it lists,
/// holding no lock that stops a compaction elsewhere: a compaction in between deletes a
/// listed segment. The open must look at the manifest again and succeed, not fail with
/// "No such file or directory" (seen once in a soak of auto-compacting writers).
#[test]
fn a_warm_open_beside_a_compaction_that_deletes_a_listed_segment_succeeds() -> TestResult {
    let tmp = util::tempdir();
    let dir = util::db_path(&tmp);
    let opts = || Db::options().segment_size(64 << 10);
    {
        let db = opts().open(&dir)?;
        let filler = vec![b'x'; 900];
        for round in 0..4 {
            for i in 0..100 {
                db.set(format!("k{i}").as_bytes(), filler.as_slice())?;
            }
            db.set(b"a", format!("v{round}"))?;
        }
    }
    let listed = |dir: &Path| -> TestResult<Vec<String>> {
        let mut segs: Vec<String> = std::fs::read_dir(dir)?
            .filter_map(|e| e.ok()?.file_name().into_string().ok())
            .filter(|n| n.starts_with("seg-"))
            .collect();
        segs.sort();
        Ok(segs)
    };
    let before = listed(&dir)?;
    assert!(
        before.len() > 2,
        "the writes must fill several segments: {before:?}"
    );
    let child = stopped_at(&dir, "attach-headers", &["GET", "a"])?;
    let stats = opts().open(&dir)?.compact()?;
    let after = listed(&dir)?;
    assert!(
        before.iter().any(|s| !after.contains(s)),
        "the compaction must delete a segment the stopped opener saw listed: {before:?} -> {after:?} ({stats:?})"
    );
    signal(&child, libc::SIGCONT);
    let out = child.wait_with_output()?;
    assert!(
        out.status.success(),
        "the open beside the compaction failed ({}): {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8(out.stdout)?.trim_end(), "v3");
    check_clean(&dir)
}
