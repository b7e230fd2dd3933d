//! Blocking pops and waiting for changes across processes (format-spec.md §9.6): a waiter in
//! one process is woken by a push committed in another, each element goes to exactly one
//! waiter, timeouts and key order behave as Redis's, a waiting process uses no CPU, and a
//! waiter killed or stopped while it waits holds no one up.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, Instant};

use ziggydb::{Db, End, Wait};

use crate::util::{self, child_param, child_role, end_child, report, Child, TestResult};

const LONG: Duration = Duration::from_secs(60);

fn push(db: &Db, key: &[u8], values: &[&str]) -> TestResult {
    db.transaction(|tx| tx.list(key).push_back(values))?;
    Ok(())
}

/// Waits until `n` blocking calls wait on `db`'s directory (in live processes).
fn wait_for_waiters(db: &Db, n: u64) {
    let deadline = Instant::now() + LONG;
    while db.metrics().waiters < n {
        assert!(Instant::now() < deadline, "{n} waiters never waited");
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// A child that pops from the keys `KEYS` (comma-separated) with `THREADS` threads, each
/// until a pop waits `TIMEOUT_MS` in vain or it pops from a key named `stop`, reporting
/// `GOT <key index> <value>` per element. The test runs with no look once a second
/// (`ZIGGY_TEST_RECHECK_MS`): only a commit's wake-up ends a sleep.
#[test]
fn child_popper() {
    let Some(dir) = child_role("popper") else {
        return;
    };
    end_child((|| -> TestResult {
        let db = Db::open(&dir)?;
        let keys: String = child_param("KEYS");
        let keys: Vec<Vec<u8>> = keys.split(',').map(|k| k.as_bytes().to_vec()).collect();
        let timeout = Duration::from_millis(child_param("TIMEOUT_MS"));
        let threads: usize = child_param("THREADS");
        std::thread::scope(|s| -> TestResult {
            let handles: Vec<_> = (0..threads)
                .map(|_| {
                    let (db, keys) = (&db, &keys);
                    s.spawn(move || -> ziggydb::Result<()> {
                        while let Some((i, got)) =
                            db.pop_lists_blocking(keys, End::Front, 1, timeout)?
                        {
                            for v in got {
                                report(format!("GOT {i} {}", String::from_utf8_lossy(&v)));
                            }
                            if keys[i] == b"stop" {
                                break;
                            }
                        }
                        Ok(())
                    })
                })
                .collect();
            report("STARTED");
            for h in handles {
                h.join().map_err(|_| "a popper thread panicked")??;
            }
            Ok(())
        })
    })());
}

/// Runs a blocking call on a thread of this process.
fn on_thread<T: Send + 'static>(
    f: impl FnOnce() -> ziggydb::Result<T> + Send + 'static,
) -> std::sync::mpsc::Receiver<ziggydb::Result<T>> {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(f());
    });
    rx
}

/// What a call started by [`on_thread`] returned; an error if it has not returned within
/// [`LONG`] (it waits forever, and there is no look once a second: only a wake-up by a
/// commit can end it).
fn outcome<T>(rx: std::sync::mpsc::Receiver<ziggydb::Result<T>>) -> TestResult<T> {
    Ok(rx
        .recv_timeout(LONG)
        .map_err(|_| "the waiter was not woken")??)
}

/// No look once a second in this process either (see [`child_popper`]).
fn no_recheck() {
    std::env::set_var("ZIGGY_TEST_RECHECK_MS", "3600000");
}

fn spawn_popper(dir: &Path, keys: &str, timeout_ms: u64, threads: usize) -> Child {
    Child::spawn(
        "blocking::child_popper",
        "popper",
        dir,
        &[
            ("ZIGGY_TEST_RECHECK_MS", "3600000".to_owned()),
            ("KEYS", keys.to_owned()),
            ("TIMEOUT_MS", timeout_ms.to_string()),
            ("THREADS", threads.to_string()),
        ],
    )
}

/// The `GOT` lines of a finished popper: (key index, value).
fn got(lines: &[String]) -> Vec<(usize, String)> {
    lines
        .iter()
        .filter_map(|l| l.strip_prefix("GOT "))
        .map(|l| {
            let (i, v) = l.split_once(' ').expect("GOT index value");
            (i.parse().expect("an index"), v.to_owned())
        })
        .collect()
}

#[test]
fn a_waiter_in_one_process_is_woken_by_a_push_committed_in_another() -> TestResult {
    no_recheck();
    let tmp = util::tempdir();
    let path = util::db_path(&tmp);
    let db = Db::open(&path)?;
    let mut child = spawn_popper(&path, "jobs,stop", 3_600_000, 1);
    wait_for_waiters(&db, 1);
    // The child sleeps on the wake table now, for an hour: only this commit can wake it.
    push(&db, b"jobs", &["j1"])?;
    assert_eq!(child.expect("GOT ", LONG), "0 j1");
    push(&db, b"stop", &["end"])?;
    let lines = child.finish(LONG)?;
    assert_eq!(got(&lines), vec![(1, "end".to_owned())]);
    assert_eq!(db.list(b"jobs").len()?, 0);
    Ok(())
}

#[test]
fn a_push_by_the_ziggy_binary_wakes_a_waiter_and_the_binary_pops_for_a_waiter() -> TestResult {
    no_recheck();
    let tmp = util::tempdir();
    let path = util::db_path(&tmp);
    let db = Db::open(&path)?;
    let ziggy = |args: &[&str]| {
        std::process::Command::new(env!("CARGO_BIN_EXE_ziggy"))
            .arg("-d")
            .arg(&path)
            .arg("--raw")
            .args(args)
            .env("ZIGGY_TEST_RECHECK_MS", "3600000")
            .output()
    };
    // BLPOP in the binary, woken by a push from this process.
    let waiter = std::thread::scope(|s| -> TestResult<std::process::Output> {
        let h = s.spawn(|| ziggy(&["BLPOP", "q1", "q2", "0"]));
        wait_for_waiters(&db, 1);
        push(&db, b"q2", &["hello"])?;
        Ok(h.join().map_err(|_| "ziggy thread panicked")??)
    })?;
    assert!(waiter.status.success(), "{waiter:?}");
    assert_eq!(String::from_utf8_lossy(&waiter.stdout), "q2\nhello\n");
    // A waiter here, woken by an RPUSH of the binary.
    let db2 = db.clone();
    let h = on_thread(move || db2.list(b"q3").pop_back_blocking(Wait::forever()));
    wait_for_waiters(&db, 1);
    let out = ziggy(&["RPUSH", "q3", "a", "b"])?;
    assert!(out.status.success());
    assert_eq!(outcome(h)?, Some(b"b".to_vec()));
    assert_eq!(db.list(b"q3").range(0, -1)?, vec![b"a".to_vec()]);
    Ok(())
}

#[test]
fn two_waiters_in_two_processes_and_one_push_give_it_to_exactly_one() -> TestResult {
    no_recheck();
    let tmp = util::tempdir();
    let path = util::db_path(&tmp);
    let db = Db::open(&path)?;
    let mut a = spawn_popper(&path, "k,stop", 3_600_000, 1);
    let mut b = spawn_popper(&path, "k,stop", 3_600_000, 1);
    wait_for_waiters(&db, 2);
    push(&db, b"k", &["only"])?;
    // One of them takes it; the other goes back to sleep.
    let deadline = Instant::now() + LONG;
    while db.list(b"k").len()? != 0 {
        assert!(Instant::now() < deadline, "the element was never taken");
        std::thread::sleep(Duration::from_millis(5));
    }
    push(&db, b"stop", &["s1", "s2"])?;
    let (la, lb) = (a.finish(LONG)?, b.finish(LONG)?);
    let mut all: Vec<_> = got(&la).into_iter().chain(got(&lb)).collect();
    all.sort();
    let want = [(0, "only"), (1, "s1"), (1, "s2")].map(|(i, v)| (i, v.to_owned()));
    assert_eq!(all, want, "{la:?} {lb:?}");
    assert_eq!(db.list(b"k").len()?, 0);
    Ok(())
}

#[test]
fn n_pushes_to_m_waiters_deliver_every_element_exactly_once() -> TestResult {
    no_recheck();
    let tmp = util::tempdir();
    let path = util::db_path(&tmp);
    let db = Db::open(&path)?;
    // 3 processes of 2 threads each, on two keys.
    let mut poppers: Vec<Child> = (0..3)
        .map(|_| spawn_popper(&path, "x,y,stop", 3_600_000, 2))
        .collect();
    wait_for_waiters(&db, 6);
    let mut pushed = BTreeMap::new();
    std::thread::scope(|s| -> TestResult {
        let pushers: Vec<_> = (0..2)
            .map(|p| {
                let db = db.clone();
                s.spawn(move || -> ziggydb::Result<Vec<(usize, String)>> {
                    let mut mine = Vec::new();
                    for n in 0..150 {
                        let key = if n % 3 == 0 { "y" } else { "x" };
                        let v = format!("p{p}-{n}");
                        db.transaction(|tx| tx.list(key).push_back(&[&v]))?;
                        mine.push((usize::from(key == "y"), v));
                        if n % 10 == 0 {
                            std::thread::sleep(Duration::from_millis(2));
                        }
                    }
                    Ok(mine)
                })
            })
            .collect();
        for h in pushers {
            for (i, v) in h.join().map_err(|_| "pusher panicked")?? {
                assert!(pushed.insert(v, i).is_none());
            }
        }
        Ok(())
    })?;
    // Every element is taken before a thread stops: the keys come before "stop".
    let deadline = Instant::now() + LONG;
    while db.list(b"x").len()? + db.list(b"y").len()? != 0 {
        assert!(Instant::now() < deadline, "elements left behind");
        std::thread::sleep(Duration::from_millis(5));
    }
    let stops: Vec<String> = (0..6).map(|i| format!("stop{i}")).collect();
    push(
        &db,
        b"stop",
        &stops.iter().map(String::as_str).collect::<Vec<_>>(),
    )?;
    let mut delivered = BTreeMap::new();
    let mut stopped = 0;
    for p in &mut poppers {
        for (i, v) in got(&p.finish(LONG)?) {
            if i == 2 {
                stopped += 1;
                continue;
            }
            assert!(
                delivered.insert(v.clone(), i).is_none(),
                "{v} delivered twice"
            );
        }
    }
    assert_eq!(stopped, 6);
    assert_eq!(
        delivered, pushed,
        "every element delivered exactly once, from its key"
    );
    Ok(())
}

#[test]
fn timeouts_and_the_order_of_keys() -> TestResult {
    no_recheck();
    let tmp = util::tempdir();
    let db = Db::open(util::db_path(&tmp))?;
    // A timeout returns None once it has passed, and not before.
    let t = Instant::now();
    assert_eq!(
        db.list(b"none")
            .pop_front_blocking(Duration::from_millis(200))?,
        None
    );
    assert!(t.elapsed() >= Duration::from_millis(200));
    assert_eq!(
        db.zset(b"none").pop_min_blocking(Duration::ZERO)?,
        None,
        "a zero timeout looks once"
    );
    // The first non-empty key in the order given, not in the order written.
    push(&db, b"c", &["c1"])?;
    push(&db, b"b", &["b1", "b2"])?;
    let keys: [&[u8]; 3] = [b"a", b"b", b"c"];
    assert_eq!(
        db.pop_lists_blocking(&keys, End::Back, 5, Wait::forever())?,
        Some((1, vec![b"b2".to_vec(), b"b1".to_vec()]))
    );
    assert_eq!(
        db.pop_lists_blocking(&keys, End::Front, 1, Wait::forever())?,
        Some((2, vec![b"c1".to_vec()]))
    );
    // A key of another type before the first list is an error when the call starts.
    db.set(b"a", "string")?;
    push(&db, b"c", &["c2"])?;
    let err = db
        .pop_lists_blocking(&keys, End::Front, 1, Wait::forever())
        .unwrap_err();
    assert!(matches!(err, ziggydb::Error::WrongType { .. }), "{err}");
    // A waiter on several keys is woken by a push to any of them.
    db.delete(b"a")?;
    db.transaction(|tx| tx.list(b"c").pop_front(1))?;
    let db2 = db.clone();
    let h = on_thread(move || db2.pop_zsets_blocking(&[b"z1", b"z2"], true, 1, Wait::forever()));
    wait_for_waiters(&db, 1);
    db.transaction(|tx| {
        tx.zset(b"z2")
            .add(Default::default(), &[(1.0, "m"), (2.0, "n")])
    })?;
    assert_eq!(outcome(h)?, Some((1, vec![(b"n".to_vec(), 2.0)])));
    Ok(())
}

#[test]
fn waiters_of_one_process_are_served_in_the_order_they_started_waiting() -> TestResult {
    no_recheck();
    let tmp = util::tempdir();
    let db = Db::open(util::db_path(&tmp))?;
    let handles: Vec<_> = (0..4)
        .map(|i| {
            let db2 = db.clone();
            let h = on_thread(move || db2.list(b"fifo").pop_front_blocking(Wait::forever()));
            // Each starts waiting before the next.
            wait_for_waiters(&db, i + 1);
            h
        })
        .collect();
    // One push of all four: the oldest waiter gets the first, and so on.
    push(&db, b"fifo", &["e0", "e1", "e2", "e3"])?;
    for (i, h) in handles.into_iter().enumerate() {
        let got = outcome(h)?;
        assert_eq!(got, Some(format!("e{i}").into_bytes()), "waiter {i}");
    }
    Ok(())
}

/// A child that measures its own waiting thread across a 1 s wait: CPU ticks and voluntary
/// context switches (a poller would switch at each poll).
#[test]
fn child_cpu_meter() {
    let Some(dir) = child_role("cpu") else {
        return;
    };
    end_child((|| -> TestResult {
        let db = Db::open(&dir)?;
        let stat = || -> TestResult<(u64, u64)> {
            let status = std::fs::read_to_string("/proc/thread-self/status")?;
            let switches = status
                .lines()
                .find_map(|l| l.strip_prefix("voluntary_ctxt_switches:"))
                .ok_or("no voluntary_ctxt_switches")?
                .trim()
                .parse()?;
            let stat = std::fs::read_to_string("/proc/thread-self/stat")?;
            // Fields after the command name (which ends with the last ')'): utime and stime
            // are the 12th and 13th.
            let rest = &stat[stat.rfind(')').ok_or("no ')'")? + 2..];
            let f: Vec<&str> = rest.split(' ').collect();
            Ok((f[11].parse::<u64>()? + f[12].parse::<u64>()?, switches))
        };
        let (cpu0, sw0) = stat()?;
        let got = db.pop_lists_blocking(&[b"idle"], End::Front, 1, Duration::from_secs(1))?;
        let got_change = db.wait_for_change(&[b"idle"], Duration::from_secs(1))?;
        let (cpu1, sw1) = stat()?;
        if got.is_some() || got_change.is_some() {
            return Err("nothing was written, yet a wait returned something".into());
        }
        report(format!("CPU {} {}", cpu1 - cpu0, sw1 - sw0));
        Ok(())
    })());
}

#[test]
fn a_waiting_process_uses_no_cpu() -> TestResult {
    let tmp = util::tempdir();
    let path = util::db_path(&tmp);
    let db = Db::open(&path)?;
    // Unrelated commits to other buckets meanwhile must not wake it either (most keys fall
    // in another bucket than "idle"; a few wake-ups are allowed for those that do not).
    let mut child = Child::spawn(
        "blocking::child_cpu_meter",
        "cpu",
        &path,
        &[("ZIGGY_TEST_RECHECK_MS", "3600000".to_owned())],
    );
    let start = Instant::now();
    let mut n = 0;
    while child.try_status().is_none() && start.elapsed() < LONG {
        db.set(format!("other{}", n % 7), "v")?;
        n += 1;
        std::thread::sleep(Duration::from_millis(10));
    }
    let lines = child.finish(LONG)?;
    let cpu = lines
        .iter()
        .find_map(|l| l.strip_prefix("CPU "))
        .ok_or("no CPU line")?;
    let (ticks, switches) = cpu.split_once(' ').ok_or("CPU ticks switches")?;
    let (ticks, switches): (u64, u64) = (ticks.parse()?, switches.parse()?);
    // Two seconds of waiting: one look a second at most besides the wake-ups by the
    // buckets of "other0".."other6" that "idle" shares, if any. A thread polling every
    // millisecond would make thousands of switches.
    assert!(
        switches <= 60,
        "{switches} context switches in 2 s of waiting"
    );
    assert!(ticks <= 5, "{ticks} clock ticks of CPU in 2 s of waiting");
    Ok(())
}

#[test]
fn a_waiter_killed_while_waiting_leaves_nothing_behind() -> TestResult {
    no_recheck();
    let tmp = util::tempdir();
    let path = util::db_path(&tmp);
    let db = Db::open(&path)?;
    let mut doomed = spawn_popper(&path, "q", 60_000, 2);
    wait_for_waiters(&db, 2);
    doomed.kill();
    // Its waiters are not counted any more, and no element goes to them.
    assert_eq!(db.metrics().waiters, 0);
    push(&db, b"q", &["after"])?;
    assert_eq!(
        db.list(b"q").len()?,
        1,
        "the element waits for a live popper"
    );
    let mut next = spawn_popper(&path, "q,stop", 3_600_000, 1);
    assert_eq!(next.expect("GOT ", LONG), "0 after");
    push(&db, b"stop", &["end"])?;
    next.finish(LONG)?;
    // A new waiter is woken by a push as before.
    let db2 = db.clone();
    let h = on_thread(move || db2.list(b"q").pop_front_blocking(Wait::forever()));
    wait_for_waiters(&db, 1);
    push(&db, b"q", &["again"])?;
    assert_eq!(outcome(h)?, Some(b"again".to_vec()));
    Ok(())
}

#[test]
fn a_stopped_waiter_does_not_hold_up_the_others() -> TestResult {
    no_recheck();
    let tmp = util::tempdir();
    let path = util::db_path(&tmp);
    let db = Db::open(&path)?;
    // Stopped where a waiter sleeps, holding no lock: a SIGSTOP from outside could land
    // while its first look holds the writer lock (it registers as a waiter before that
    // look), and then every writer would wait for it, as for any stopped writer.
    let mut stopped = Child::spawn(
        "blocking::child_popper",
        "popper",
        &path,
        &[
            ("ZIGGY_TEST_RECHECK_MS", "3600000".to_owned()),
            ("KEYS", "s".to_owned()),
            ("TIMEOUT_MS", "60000".to_owned()),
            ("THREADS", "1".to_owned()),
            ("ZIGGY_TEST_STOP", "wait".to_owned()),
        ],
    );
    wait_for_waiters(&db, 1);
    let deadline = Instant::now() + LONG;
    while std::fs::read_to_string(format!("/proc/{}/stat", stopped.id()))
        .ok()
        .and_then(|stat| {
            stat.rsplit_once(") ")
                .and_then(|(_, rest)| rest.chars().next())
        })
        != Some('T')
    {
        assert!(
            Instant::now() < deadline,
            "the popper never stopped at its wait"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    let db2 = db.clone();
    let h = on_thread(move || db2.list(b"s").pop_front_blocking(Wait::forever()));
    wait_for_waiters(&db, 2);
    push(&db, b"s", &["e1"])?;
    assert_eq!(outcome(h)?, Some(b"e1".to_vec()));
    // Continued, it gets the next one.
    stopped.signal(libc::SIGCONT);
    push(&db, b"s", &["e2"])?;
    assert_eq!(stopped.expect("GOT ", LONG), "0 e2");
    stopped.kill();
    Ok(())
}

#[test]
fn wait_for_change_sees_writes_by_other_processes_and_nothing_else() -> TestResult {
    no_recheck();
    let tmp = util::tempdir();
    let path = util::db_path(&tmp);
    let db = Db::open(&path)?;
    db.set(b"present", "1")?;
    let ziggy = |args: &[&str]| -> TestResult {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_ziggy"))
            .arg("-d")
            .arg(&path)
            .args(args)
            .output()?;
        assert!(out.status.success(), "{out:?}");
        Ok(())
    };
    let cases: [(&[&str], usize); 4] = [
        (&["SET", "present", "2"], 0),
        (&["DEL", "present"], 0),
        (&["SET", "absent", "x"], 1),
        (&["RPUSH", "list", "x"], 2),
    ];
    for (write, index) in cases {
        let db2 = db.clone();
        let h = on_thread(move || {
            db2.wait_for_change(&[&b"present"[..], b"absent", b"list"], Wait::forever())
        });
        wait_for_waiters(&db, 1);
        // Writes to other keys do not end the wait.
        ziggy(&["SET", "unrelated", "1"])?;
        ziggy(write)?;
        assert_eq!(outcome(h)?, Some(index), "{write:?}");
    }
    // A key created and deleted again while the waiter looked elsewhere is seen too.
    db.delete(b"absent")?;
    let db2 = db.clone();
    let h = on_thread(move || db2.wait_for_change(&[b"absent"], Wait::forever()));
    wait_for_waiters(&db, 1);
    db.transaction(|tx| {
        tx.set(b"absent", "brief")?;
        Ok(())
    })?;
    db.delete(b"absent")?;
    assert_eq!(outcome(h)?, Some(0));
    // Nothing written: the timeout.
    assert_eq!(
        db.wait_for_change(&[b"absent"], Duration::from_millis(50))?,
        None
    );
    Ok(())
}

/// A RESP connection to the Redis server of the differential test.
struct RedisConn {
    stream: std::net::TcpStream,
    buf: Vec<u8>,
}

impl RedisConn {
    fn call(&mut self, args: &[Vec<u8>]) -> TestResult<ziggydb::commands::Reply> {
        use std::io::{Read as _, Write as _};
        let mut req = format!("*{}\r\n", args.len()).into_bytes();
        for arg in args {
            req.extend_from_slice(format!("${}\r\n", arg.len()).as_bytes());
            req.extend_from_slice(arg);
            req.extend_from_slice(b"\r\n");
        }
        self.stream.write_all(&req)?;
        loop {
            if let Some((reply, used)) = ziggydb::commands::decode_reply(&self.buf)? {
                self.buf.drain(..used);
                return Ok(reply);
            }
            let mut chunk = [0u8; 4096];
            let n = self.stream.read(&mut chunk)?;
            if n == 0 {
                return Err("redis-server closed the connection".into());
            }
            self.buf.extend_from_slice(&chunk[..n]);
        }
    }
}

/// The blocking pops and their non-blocking forms against a real `redis-server`, reply for
/// reply (structure, nil kinds, errors word for word), over RESP2 and RESP3: served at once,
/// timed out (short timeouts on empty keys), several keys in order, wrong types, bad
/// timeouts and counts, and inside `MULTI` (no wait).
#[test]
fn blocking_commands_answer_as_redis_does() -> TestResult {
    use ziggydb::commands::{Policy, Protocol, Session};
    let Some(redis) = util::redis_or_skip("blocking differential test")? else {
        return Ok(());
    };
    let script = [
        "FLUSHALL",
        "RPUSH l a b c d e",
        "BLPOP nokey l 0",
        "BRPOP l nokey 1",
        "BLPOP nokey 0.01",
        "BRPOP nokey1 nokey2 0.02",
        "BLPOP l -1",
        "BLPOP l abc",
        "BLPOP l inf",
        "BLPOP l 1e300",
        "BLPOP l nan",
        "BLPOP l",
        "LMOVE l dst LEFT RIGHT",
        "LMOVE l dst right left",
        "LMOVE l dst UP LEFT",
        "LMOVE nokey dst LEFT LEFT",
        "LMOVE l l LEFT RIGHT",
        "LRANGE l 0 -1",
        "LRANGE dst 0 -1",
        "RPOPLPUSH dst l",
        "RPOPLPUSH nokey l",
        "BLMOVE l dst LEFT LEFT 0",
        "BLMOVE nokey dst LEFT LEFT 0.01",
        "BLMOVE l dst LEFT LEFT -1",
        "BLMOVE l dst SIDEWAYS LEFT 0",
        "BRPOPLPUSH l dst 0",
        "BRPOPLPUSH nokey dst 0.01",
        "RPUSH m 1 2 3 4 5",
        "LMPOP 2 nokey m LEFT",
        "LMPOP 2 nokey m RIGHT COUNT 2",
        "LMPOP 1 m LEFT COUNT 100",
        "LMPOP 1 m LEFT",
        "LMPOP 0 m LEFT",
        "LMPOP -1 m LEFT",
        "LMPOP x m LEFT",
        "LMPOP 3 m LEFT",
        "LMPOP 1 m MIDDLE",
        "LMPOP 1 m LEFT COUNT 0",
        "LMPOP 1 m LEFT COUNT -1",
        "LMPOP 1 m LEFT COUNT 1 COUNT 2",
        "LMPOP 1 m LEFT EXTRA",
        "RPUSH m 6 7",
        "BLMPOP 0 1 m LEFT COUNT 5",
        "BLMPOP 0.01 2 m n RIGHT",
        "BLMPOP -1 1 m LEFT",
        "BLMPOP 0 0 m LEFT",
        "ZADD z 1 a 2 b 3 c 4 d",
        "BZPOPMIN nokey z 0",
        "BZPOPMAX z 0",
        "BZPOPMIN nokey 0.01",
        "BZPOPMAX z -5",
        "ZMPOP 1 z MIN",
        "ZMPOP 2 nokey z MAX COUNT 10",
        "ZMPOP 1 z MIN",
        "ZMPOP 1 z LEFT",
        "ZMPOP 0 z MIN",
        "ZADD z 1.5 x 2.5 y",
        "BZMPOP 0 1 z MAX COUNT 1",
        "BZMPOP 0.01 1 nokey MIN",
        "BZMPOP 0 1 z MIN COUNT 0",
        "SET s v",
        "BLPOP s 0",
        "BLPOP nokey s l 0",
        "BZPOPMIN s 0",
        "LMPOP 1 s LEFT",
        "ZMPOP 1 s MIN",
        "LMOVE s dst LEFT LEFT",
        "RPUSH l2 q",
        "LMOVE l2 s LEFT LEFT",
        "LRANGE l2 0 -1",
        "MULTI",
        "BLPOP nokey 0",
        "BRPOP l2 0",
        "BLMOVE nokey dst LEFT LEFT 0",
        "BRPOPLPUSH nokey dst 0",
        "BLMPOP 0 1 nokey LEFT",
        "BZPOPMIN nokey 0",
        "BZMPOP 0 1 nokey MIN",
        "EXEC",
        "COMMAND GETKEYS LMPOP 2 a b LEFT",
        "COMMAND GETKEYS BZMPOP 0 3 a b c MIN",
        "COMMAND GETKEYS BLPOP a b c 0",
        "COMMAND GETKEYS BLMOVE a b LEFT LEFT 0",
    ];
    for protocol in [Protocol::Resp2, Protocol::Resp3] {
        let tmp = util::tempdir();
        let db = Db::open(util::db_path(&tmp))?;
        let mut session = Session::new(&db, Policy::trusted());
        let stream = std::net::TcpStream::connect(("127.0.0.1", redis.port()))?;
        stream.set_read_timeout(Some(Duration::from_secs(60)))?;
        let mut conn = RedisConn {
            stream,
            buf: Vec::new(),
        };
        let mut lines: Vec<&str> = script.to_vec();
        if protocol == Protocol::Resp3 {
            lines.insert(0, "HELLO 3");
        }
        for line in lines {
            let args = ziggydb::commands::split_line(line.as_bytes())?;
            let slices: Vec<&[u8]> = args.iter().map(Vec::as_slice).collect();
            let r = conn.call(&args)?;
            let ours = session.execute(&slices);
            if line.starts_with("HELLO") || line == "FLUSHALL" {
                continue;
            }
            let mut bytes = Vec::new();
            ours.encode(protocol, &mut bytes);
            let (z, _) = ziggydb::commands::decode_reply(&bytes)?.ok_or("a whole reply")?;
            assert_eq!(z, r, "{protocol:?}: {line}");
        }
    }
    Ok(())
}

/// Across processes there is no order, but no waiter starves: two processes that each wait
/// again as soon as they are served, 60 elements pushed one at a time while both sleep, and
/// each gets a fair part of them (the kernel wakes every sleeper, and the one that slept
/// longest first).
#[test]
fn no_waiter_starves_across_processes() -> TestResult {
    no_recheck();
    let tmp = util::tempdir();
    let path = util::db_path(&tmp);
    let db = Db::open(&path)?;
    let mut a = spawn_popper(&path, "work,stop", 3_600_000, 1);
    let mut b = spawn_popper(&path, "work,stop", 3_600_000, 1);
    for n in 0..60 {
        wait_for_waiters(&db, 2);
        push(&db, b"work", &[&format!("w{n}")])?;
        let deadline = Instant::now() + LONG;
        while db.list(b"work").len()? != 0 {
            assert!(Instant::now() < deadline, "w{n} was never taken");
            std::thread::sleep(Duration::from_millis(1));
        }
    }
    push(&db, b"stop", &["s1", "s2"])?;
    let (la, lb) = (a.finish(LONG)?, b.finish(LONG)?);
    let count = |lines: &[String]| got(lines).iter().filter(|(i, _)| *i == 0).count();
    let (na, nb) = (count(&la), count(&lb));
    assert_eq!(na + nb, 60);
    assert!(na >= 10 && nb >= 10, "served {na} and {nb} of 60");
    Ok(())
}

/// A child whose waiters start one at a time: at each line `wait N` it starts a thread that
/// pops one element from `fifo` (waiting at most a minute), waits until `N` blocking calls
/// wait across the directory, and reports `WAITING`; each waiter reports `GOT <its number
/// in this process> <value>` when served. Ends when its stdin closes and its waiters are done.
#[test]
fn child_fifo_waiter() {
    let Some(dir) = child_role("fifo-waiter") else {
        return;
    };
    end_child((|| -> TestResult {
        let db = Db::open(&dir)?;
        let mut handles = Vec::new();
        while let Some(line) = util::read_command() {
            let Some(n) = line.strip_prefix("wait ") else {
                continue;
            };
            let n: u64 = n.trim().parse()?;
            let me = handles.len();
            let db2 = db.clone();
            handles.push(std::thread::spawn(move || -> ziggydb::Result<()> {
                if let Some(v) = db2.list(b"fifo").pop_front_blocking(Wait::timeout(LONG))? {
                    report(format!("GOT {me} {}", String::from_utf8_lossy(&v)));
                }
                Ok(())
            }));
            wait_for_waiters(&db, n);
            report("WAITING");
        }
        for h in handles {
            h.join().map_err(|_| "a waiter panicked")??;
        }
        Ok(())
    })());
}

/// Three processes with two waiters each, which started waiting one after the other across
/// the processes, and a slow pusher (one element at a time, the next only once the last was
/// taken): every waiter is served, and within each process in the order its waiters started
/// waiting (format-spec.md §9.6: across processes the rule is no order, only no starvation).
#[test]
fn three_processes_of_two_waiters_are_all_served_and_each_in_its_own_order() -> TestResult {
    no_recheck();
    let tmp = util::tempdir();
    let path = util::db_path(&tmp);
    let db = Db::open(&path)?;
    let env = [("ZIGGY_TEST_RECHECK_MS", "3600000".to_owned())];
    let mut procs: Vec<Child> = (0..3)
        .map(|_| Child::spawn("blocking::child_fifo_waiter", "fifo-waiter", &path, &env))
        .collect();
    for n in 1..=6u64 {
        let p = &mut procs[((n - 1) % 3) as usize];
        p.send(&format!("wait {n}"));
        p.expect("WAITING", LONG);
    }
    for e in 0..6 {
        push(&db, b"fifo", &[&format!("e{e}")])?;
        let deadline = Instant::now() + LONG;
        while db.list(b"fifo").len()? != 0 {
            assert!(Instant::now() < deadline, "e{e} was never taken");
            std::thread::sleep(Duration::from_millis(1));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let mut served = Vec::new();
    for (i, p) in procs.iter_mut().enumerate() {
        p.close_stdin();
        let mut mine = got(&p.finish(LONG)?);
        assert_eq!(mine.len(), 2, "process {i}: both waiters served: {mine:?}");
        // In this process, the waiter that started first got the earlier element.
        mine.sort_by(|a, b| a.1.cmp(&b.1));
        assert_eq!(
            mine.iter().map(|(w, _)| *w).collect::<Vec<_>>(),
            [0, 1],
            "process {i}: {mine:?}"
        );
        served.extend(mine.into_iter().map(|(_, v)| v));
    }
    served.sort();
    assert_eq!(served, ["e0", "e1", "e2", "e3", "e4", "e5"]);
    Ok(())
}
