//! Expiry: EXPIRE and its options on every type, TTL and EXPIRETIME replies, expired keys
//! invisible at once in another process, the active pass deleting them through the log (in
//! any process), and keys that expired while no process ran.

use std::time::{Duration, Instant};

use ziggydb::{Db, Expiry, Value, ZAddFlags};

use crate::util::{self, child_param, child_role, report, Child, TestResult};

const LONG: Duration = Duration::from_secs(120);

use crate::util::now_ms;

/// Waits up to `limit` for `cond`, polling.
fn wait_for(limit: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        if cond() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    cond()
}

#[test]
fn expire_options_persist_and_ttl_replies() -> TestResult {
    let tmp = util::tempdir();
    let db = Db::options()
        .active_expiry(None)
        .open(util::db_path(&tmp))?;
    db.set(b"k", "v")?;
    let t1 = now_ms() + 100_000;
    let t2 = t1 + 100_000;
    assert_eq!(db.expire_time(b"missing")?, Expiry::Missing);
    assert_eq!(db.expire_time(b"k")?, Expiry::Persistent);
    db.transaction(|tx| {
        assert!(!tx.expire_at(b"missing", t1)?);
        // GT never holds without an expiry; NX does.
        assert!(!tx.expire_at_if(b"k", t1, |c| c.is_some_and(|c| t1 > c))?);
        assert!(tx.expire_at_if(b"k", t1, |c| c.is_none())?);
        assert!(!tx.expire_at_if(b"k", t2, |c| c.is_none())?);
        assert!(tx.expire_at_if(b"k", t2, |c| c.is_some_and(|c| t2 > c))?);
        assert_eq!(tx.expire_time(b"k")?, Expiry::At(t2));
        let left = tx.expire_time(b"k")?.ttl().expect("a time to live");
        assert!(left > Duration::from_secs(150) && left <= Duration::from_secs(200));
        Ok(())
    })?;
    assert_eq!(db.expire_time(b"k")?, Expiry::At(t2));
    assert_eq!(
        db.get_value(b"k")?,
        Some("v".into()),
        "the value is untouched"
    );
    assert!(db.transaction(|tx| tx.persist(b"k"))?);
    assert!(!db.transaction(|tx| tx.persist(b"k"))?);
    assert_eq!(db.expire_time(b"k")?, Expiry::Persistent);
    // A past time deletes at once, through the log.
    let commits = db.metrics().commits;
    assert!(db.transaction(|tx| tx.expire_at(b"k", now_ms() - 1))?);
    assert!(!db.exists(b"k")?);
    assert_eq!(db.len(), 0, "deleted, not merely expired");
    assert_eq!(db.metrics().commits, commits + 1);
    Ok(())
}

#[test]
fn collections_expire_like_strings() -> TestResult {
    let tmp = util::tempdir();
    let db = Db::options()
        .active_expiry(None)
        .open(util::db_path(&tmp))?;
    db.transaction(|tx| {
        tx.list(b"l").push_back(&["a", "b"])?;
        tx.zset(b"z").add(ZAddFlags::default(), &[(1.0, "m")])?;
        Ok(())
    })?;
    let at = now_ms() + 60_000;
    assert!(db.transaction(|tx| tx.expire_at(b"l", at))?);
    assert_eq!(db.expire_time(b"l")?, Expiry::At(at));
    assert_eq!(
        db.list(b"l").range(0, -1)?,
        vec![b"a".to_vec(), b"b".to_vec()]
    );
    // Pushing keeps the expiry, as in Redis.
    db.transaction(|tx| tx.list(b"l").push_back(&["c"]).map(drop))?;
    assert_eq!(db.expire_time(b"l")?, Expiry::At(at));
    assert!(db.transaction(|tx| tx.persist(b"l"))?);
    assert_eq!(db.expire_time(b"l")?, Expiry::Persistent);
    assert!(db.transaction(|tx| tx.expire_at(b"z", 1))?);
    assert_eq!(db.key_type(b"z")?, "none");
    assert!(db.check()?.is_ok());
    Ok(())
}

#[test]
fn expiry_changes_roll_back() -> TestResult {
    let tmp = util::tempdir();
    let db = Db::options()
        .active_expiry(None)
        .open(util::db_path(&tmp))?;
    let at = now_ms() + 60_000;
    db.transaction(|tx| {
        tx.set_with_expiry(b"a", "1", Some(at))?;
        tx.set(b"b", "2")
    })?;
    let mut tx = db.begin_write()?;
    assert!(tx.persist(b"a")?);
    assert!(tx.expire_at(b"b", at + 1)?);
    assert!(tx.expire_at(b"a", 5)?);
    assert_eq!(tx.expire_time(b"a")?, Expiry::Missing);
    tx.rollback();
    assert_eq!(db.expire_time(b"a")?, Expiry::At(at));
    assert_eq!(db.expire_time(b"b")?, Expiry::Persistent);
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Another process sees an expiry at once

#[test]
fn child_expiring_writer() {
    let Some(dir) = child_role("expiring-writer") else {
        return;
    };
    let ttl: u64 = child_param("ZIGGY_TTL_MS");
    let db = Db::options().active_expiry(None).open(&dir).expect("open");
    let at = now_ms() + ttl;
    db.transaction(|tx| {
        tx.set(b"short", "soon gone")?;
        tx.expire_at(b"short", at)?;
        tx.set_extended(b"px", "also").expire_at(at).run()?;
        tx.set(b"long", "stays")?;
        Ok(())
    })
    .expect("write");
    report(format!("AT {at}"));
    // Stay attached, and answer questions about what this process sees.
    while let Some(line) = util::read_command() {
        if line == "check" {
            let seen = (
                db.exists(b"short").expect("exists"),
                db.expire_time(b"short").expect("ttl").ttl(),
                db.keys_matching(b"*").expect("keys").len(),
            );
            report(format!("SEES {seen:?}"));
        }
    }
    report("PASS");
}

#[test]
fn an_expired_key_vanishes_at_once_in_another_process() -> TestResult {
    let tmp = util::tempdir();
    let dir = util::db_path(&tmp);
    drop(Db::open(&dir)?);
    let mut writer = Child::spawn(
        "ttl::child_expiring_writer",
        "expiring-writer",
        &dir,
        &[("ZIGGY_TTL_MS", "400".into())],
    );
    let at: u64 = writer.expect("AT", LONG).parse()?;
    // No process runs an active expiry pass: only the read path can hide the key.
    let db = Db::options().active_expiry(None).open(&dir)?;
    let before = now_ms();
    if before < at {
        assert_eq!(db.get_value(b"short")?, Some("soon gone".into()));
        assert_eq!(db.expire_time(b"short")?, Expiry::At(at));
        assert_eq!(db.expire_time(b"px")?, Expiry::At(at));
    }
    while now_ms() < at {
        std::thread::sleep(Duration::from_millis(2));
    }
    // The very first read after the expiry time sees nothing.
    assert_eq!(db.get_value(b"short")?, None);
    assert_eq!(db.get_value(b"px")?, None);
    assert_eq!(db.expire_time(b"short")?, Expiry::Missing);
    assert_eq!(db.key_type(b"short")?, "none");
    assert_eq!(db.count_existing(&[b"short", b"px", b"long"])?, 1);
    assert_eq!(db.keys_matching(b"*")?, vec![b"long".to_vec()]);
    assert_eq!(db.metrics().expired, 0, "nothing was deleted yet");
    assert_eq!(db.len(), 3, "the records are still there");
    writer.send("check");
    assert_eq!(writer.expect("SEES", LONG), "(false, None, 1)");

    // An active pass in this process deletes them through the log, for every process.
    assert_eq!(db.expire_now()?, 2);
    assert_eq!(db.metrics().expired, 2);
    assert_eq!(db.len(), 1);
    writer.send("check");
    assert_eq!(writer.expect("SEES", LONG), "(false, None, 1)");
    writer.close_stdin();
    writer.wait_success(LONG);
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// The active expiry thread, in whichever process runs it

#[test]
fn child_active_expirer() {
    let Some(dir) = child_role("active-expirer") else {
        return;
    };
    let _db = Db::options()
        .active_expiry(Some(Duration::from_millis(10)))
        .open(&dir)
        .expect("open");
    report("READY");
    while util::read_command().is_some() {}
    report("PASS");
}

#[test]
fn the_active_pass_of_another_process_deletes_expired_keys() -> TestResult {
    const KEYS: u64 = 300;
    let tmp = util::tempdir();
    let dir = util::db_path(&tmp);
    let db = Db::options().active_expiry(None).open(&dir)?;
    let at = now_ms() + 150;
    db.transaction(|tx| {
        for i in 0..KEYS {
            tx.set_with_expiry(format!("t{i}").as_bytes(), i as i64, Some(at))?;
        }
        tx.set(b"keep", "me")?;
        Ok(())
    })?;
    assert_eq!(db.len(), KEYS + 1);
    let mut expirer = Child::spawn("ttl::child_active_expirer", "active-expirer", &dir, &[]);
    expirer.expect("READY", LONG);
    // The pass counts what it deleted just after its commit is published.
    assert!(
        wait_for(Duration::from_secs(30), || db.len() == 1
            && db.metrics().expired == KEYS),
        "the other process's active pass left {} keys, counted {} expired",
        db.len(),
        db.metrics().expired
    );
    assert!(now_ms() >= at, "nothing was deleted before it expired");
    assert_eq!(db.keys()?, vec![b"keep".to_vec()]);
    expirer.close_stdin();
    expirer.wait_success(LONG);
    drop(db);
    // The deletions were logged: a cold open agrees.
    let db = Db::options().active_expiry(None).open(&dir)?;
    assert_eq!(db.len(), 1);
    assert!(db.check()?.is_ok());
    Ok(())
}

#[test]
fn the_background_thread_expires_keys_in_this_process() -> TestResult {
    let tmp = util::tempdir();
    let db = Db::options()
        .active_expiry(Some(Duration::from_millis(10)))
        .open(util::db_path(&tmp))?;
    let at = now_ms() + 50;
    db.transaction(|tx| {
        for i in 0..100 {
            tx.set_with_expiry(format!("t{i}").as_bytes(), 1i64, Some(at))?;
        }
        Ok(())
    })?;
    assert!(
        wait_for(Duration::from_secs(30), || db.metrics().expired == 100),
        "expired: {}",
        db.metrics().expired
    );
    assert!(db.is_empty());
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Keys that expired while no process had the database open

#[test]
fn child_write_and_exit() {
    let Some(dir) = child_role("write-and-exit") else {
        return;
    };
    let ttl: u64 = child_param("ZIGGY_TTL_MS");
    let db = Db::open(&dir).expect("open");
    let at = now_ms() + ttl;
    db.transaction(|tx| {
        tx.set_with_expiry(b"gone", "x", Some(at))?;
        tx.list(b"gone-list").push_back(&["a"])?;
        tx.expire_at(b"gone-list", at)?;
        tx.set_with_expiry(b"later", "y", Some(at + 3_600_000))?;
        tx.set(b"forever", "z")
    })
    .expect("write");
    report(format!("AT {at}"));
    report("PASS");
}

#[test]
fn a_key_that_expired_with_no_process_running_is_gone_after_open() -> TestResult {
    let tmp = util::tempdir();
    let dir = util::db_path(&tmp);
    let mut child = Child::spawn(
        "ttl::child_write_and_exit",
        "write-and-exit",
        &dir,
        &[("ZIGGY_TTL_MS", "200".into())],
    );
    let at: u64 = child.expect("AT", LONG).parse()?;
    child.wait_success(LONG);
    // Nothing has the directory open now.
    while now_ms() <= at {
        std::thread::sleep(Duration::from_millis(10));
    }
    let db = Db::open(&dir)?;
    assert_eq!(db.get_value(b"gone")?, None);
    assert_eq!(db.key_type(b"gone-list")?, "none");
    assert_eq!(db.get_value(b"later")?, Some("y".into()));
    assert_eq!(db.get_value(b"forever")?, Some(Value::String("z".into())));
    assert_eq!(
        db.keys_matching(b"*")?,
        vec![b"forever".to_vec(), b"later".to_vec()]
    );
    // The default background pass deletes the records too.
    assert!(
        wait_for(Duration::from_secs(30), || db.len() == 2
            && db.metrics().expired == 2),
        "{} keys left, {} counted expired",
        db.len(),
        db.metrics().expired
    );
    assert!(db.check()?.is_ok());
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Clocks: a process whose clock is wrong deletes nothing that is live for the others

/// Two days, in milliseconds: how far ahead the skewed process's clock is set.
const TWO_DAYS_MS: i64 = 2 * 24 * 3_600_000;

#[test]
fn child_skewed_clock_expirer() {
    let Some(dir) = child_role("skewed-clock-expirer") else {
        return;
    };
    let db = Db::options()
        .active_expiry(Some(Duration::from_millis(10)))
        .open(&dir)
        .expect("open");
    report("READY");
    while let Some(line) = util::read_command() {
        match line.as_str() {
            // Whether this process reads `key` as present, and the time it reads by.
            "look" => report(format!(
                "SEES {} {}",
                db.exists(b"sess0").expect("exists"),
                ziggydb::testing::clock_ms()
            )),
            "expire" => report(format!("DELETED {}", db.expire_now().expect("expire"))),
            _ => {}
        }
    }
    report("PASS");
}

fn spawn_skewed(dir: &std::path::Path) -> Child {
    let mut child = Child::spawn(
        "ttl::child_skewed_clock_expirer",
        "skewed-clock-expirer",
        dir,
        &[("ZIGGY_CLOCK_OFFSET_MS", TWO_DAYS_MS.to_string())],
    );
    child.expect("READY", LONG);
    child
}

/// Asks the skewed process whether it reads `sess0` and what time it is for it; checks that
/// its clock is indeed two days ahead (so the test is not vacuous) and that, by it, the key
/// has expired.
fn check_skewed_view(child: &mut Child) -> TestResult {
    child.send("look");
    let seen = child.expect("SEES", LONG);
    let (present, its_now) = seen.split_once(' ').ok_or("a reply of two words")?;
    let its_now: u64 = its_now.parse()?;
    let ahead = its_now.saturating_sub(now_ms());
    assert!(
        ahead > (TWO_DAYS_MS as u64) - 60_000,
        "the skewed clock is only {ahead} ms ahead"
    );
    assert_eq!(present, "false", "by its own clock the key has expired");
    Ok(())
}

#[test]
fn a_process_with_a_clock_two_days_ahead_deletes_no_live_key_of_the_others() -> TestResult {
    const LIVE: u64 = 50;
    const SOON: u64 = 20;
    let tmp = util::tempdir();
    let dir = util::db_path(&tmp);
    // A process with a right clock creates the shared state and writes keys with an hour to
    // live, and some that expire within the tolerance (20 s).
    let db = Db::options().active_expiry(None).open(&dir)?;
    let hour = now_ms() + 3_600_000;
    let soon = now_ms() + 20_000;
    db.transaction(|tx| {
        for i in 0..LIVE {
            tx.set_with_expiry(format!("sess{i}").as_bytes(), "live", Some(hour))?;
        }
        for i in 0..SOON {
            tx.set_with_expiry(format!("soon{i}").as_bytes(), "soon", Some(soon))?;
        }
        tx.set(b"plain", "kept")
    })?;
    let mut skewed = spawn_skewed(&dir);
    check_skewed_view(&mut skewed)?;
    // Its background pass runs every 10 ms: it deletes the keys within the tolerance (the
    // rule allows that, at most 60 s early) and proves it ran...
    assert!(
        wait_for(Duration::from_secs(30), || db.metrics().expired >= SOON),
        "the skewed process's active pass deleted {} keys",
        db.metrics().expired
    );
    // ...and, given time for more passes and one more asked for, nothing else.
    std::thread::sleep(Duration::from_millis(300));
    skewed.send("expire");
    assert_eq!(skewed.expect("DELETED", LONG), "0");
    assert_eq!(db.metrics().expired, SOON);
    assert_eq!(db.len(), LIVE + 1);
    for i in 0..LIVE {
        let key = format!("sess{i}");
        assert_eq!(
            db.get_value(key.as_bytes())?,
            Some("live".into()),
            "{key} was deleted"
        );
        assert_eq!(db.expire_time(key.as_bytes())?, Expiry::At(hour));
    }
    skewed.close_stdin();
    skewed.wait_success(LONG);
    // The keys expire normally when their time comes: an hour is not waited for here, but a
    // pass with a right clock deletes the keys of the tolerance too, had any been left.
    assert_eq!(db.expire_now()?, 0);
    assert!(db.check()?.is_ok());
    Ok(())
}

#[test]
fn a_clock_ahead_that_attaches_first_is_held_back_by_the_next_process() -> TestResult {
    const LIVE: u64 = 50;
    let tmp = util::tempdir();
    let dir = util::db_path(&tmp);
    // The skewed process creates the database and its shared state, with its clock...
    let mut skewed = spawn_skewed(&dir);
    // ...then a process with a right clock attaches, and writes keys with an hour to live.
    let db = Db::options().active_expiry(None).open(&dir)?;
    let hour = now_ms() + 3_600_000;
    db.transaction(|tx| {
        for i in 0..LIVE {
            tx.set_with_expiry(format!("sess{i}").as_bytes(), "live", Some(hour))?;
        }
        Ok(())
    })?;
    check_skewed_view(&mut skewed)?;
    std::thread::sleep(Duration::from_millis(300));
    skewed.send("expire");
    assert_eq!(skewed.expect("DELETED", LONG), "0");
    assert_eq!(db.metrics().expired, 0);
    assert_eq!(db.len(), LIVE);
    assert_eq!(db.get_value(b"sess7")?, Some("live".into()));
    skewed.close_stdin();
    skewed.wait_success(LONG);
    Ok(())
}

/// With no long-lived process to run expiry passes, `DBSIZE` and `INFO keyspace` still agree
/// with what reads see: 2,000 keys that expired are not counted by a fresh `ziggy` process
/// (it counted them, 1,309 of 2,006, while `KEYS *` listed 6).
#[test]
fn counts_leave_out_keys_that_expired_while_no_process_ran() -> TestResult {
    let tmp = util::tempdir();
    let dir = util::db_path(&tmp);
    let ziggy = |stdin: &str, args: &[&str]| -> TestResult<String> {
        use std::io::Write as _;
        let mut p = std::process::Command::new(env!("CARGO_BIN_EXE_ziggy"))
            .arg("-d")
            .arg(&dir)
            .args(args)
            .env_remove("ZIGGY_DIR")
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()?;
        p.stdin.take().ok_or("stdin")?.write_all(stdin.as_bytes())?;
        let out = p.wait_with_output()?;
        assert!(out.status.success(), "ziggy {args:?}");
        Ok(String::from_utf8(out.stdout)?)
    };
    let mut script: String = (0..2_000).map(|i| format!("SET k{i} v PX 400\n")).collect();
    for i in 0..6 {
        script.push_str(&format!("SET p{i} v\n"));
    }
    ziggy(&script, &[])?;
    std::thread::sleep(Duration::from_millis(800));
    assert_eq!(ziggy("", &["DBSIZE"])?, "6\n");
    let info = ziggy("", &["INFO", "keyspace"])?;
    assert!(info.contains("db0:keys=6,"), "{info}");
    assert_eq!(ziggy("", &["KEYS", "*"])?.lines().count(), 6);
    Ok(())
}
