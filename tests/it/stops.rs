//! Readers while a writer is stopped inside a publish (format-spec.md §8): a `ziggy` process
//! commits one large transaction over keys that hold older values and stops itself (SIGSTOP)
//! half way through applying it to the index, with the shared sequence odd. Every other
//! process must still answer every kind of read, from the state after that transaction,
//! without waiting for the stopped writer and without the writer lock; after the writer is
//! killed or continued the answers stay the same.

use std::io::Write;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use ziggydb::{Db, Value};

use crate::util::{self, TestResult};

/// Keys the stopped transaction overwrites (`k<i>`: `old-<i>` → `new-<i>`). Its records
/// are in key order, so the writer stops among the `k` keys: `n` and `zd` keys are not yet
/// applied to the index then, and their slots say the old state.
const OVERWRITTEN: usize = 3000;
/// Keys it does not touch (`o<i>` = `other-<i>`), keys it deletes (`zd<i>`) and keys it
/// creates (`n<i>`).
const UNTOUCHED: usize = 200;
const DELETED: usize = 100;
const CREATED: usize = 300;
/// Plus the hash `h` and the list `l`, which the transaction also writes.
const USER_KEYS_AFTER: usize = OVERWRITTEN + UNTOUCHED + CREATED + 2;

const LONG: Duration = Duration::from_secs(120);

fn ziggy() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_ziggy"));
    c.env_remove("ZIGGY_DIR").env_remove("ZIGGY_TEST_STOP");
    c
}

/// Runs a script through `ziggy --json` and returns its reply lines; fails if it does not
/// finish within `LONG` or exits with an error.
fn run_script(dir: &Path, script: &str, extra: &[&str]) -> TestResult<Vec<String>> {
    let mut child = ziggy()
        .arg("-d")
        .arg(dir)
        .arg("--json")
        .args(extra)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()?;
    child
        .stdin
        .take()
        .ok_or("stdin is piped")?
        .write_all(script.as_bytes())?;
    let out = wait_output(child, LONG)?;
    if !out.status.success() {
        return Err(format!(
            "ziggy failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        )
        .into());
    }
    Ok(String::from_utf8(out.stdout)?
        .lines()
        .map(str::to_owned)
        .collect())
}

fn wait_output(mut child: Child, timeout: Duration) -> TestResult<std::process::Output> {
    let t0 = Instant::now();
    while child.try_wait()?.is_none() {
        if t0.elapsed() > timeout {
            let _ = child.kill();
            return Err("ziggy did not finish in time".into());
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    Ok(child.wait_with_output()?)
}

/// The state field of /proc/PID/stat (`T` when stopped).
fn proc_state(pid: u32) -> Option<char> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    stat.rsplit_once(") ")?.1.chars().next()
}

/// Word 8 of `ziggy.shm`: the sequence word, odd while a publish is in progress.
fn shm_seq(dir: &Path) -> TestResult<u64> {
    let bytes = std::fs::read(dir.join("ziggy.shm"))?;
    let w: [u8; 8] = bytes.get(64..72).ok_or("short ziggy.shm")?.try_into()?;
    Ok(u64::from_le_bytes(w))
}

fn text(v: Option<Value>) -> Option<String> {
    match v {
        None => None,
        Some(Value::Bytes(b)) => Some(String::from_utf8_lossy(&b).into_owned()),
        Some(Value::String(s)) => Some(s),
        Some(other) => Some(format!("{other:?}")),
    }
}

/// Old state: every key the transaction will overwrite or delete, and some it leaves alone.
fn setup(dir: &Path) -> TestResult {
    let mut s = String::new();
    for i in 0..OVERWRITTEN {
        s += &format!("SET k{i} old-{i}\n");
    }
    for i in 0..UNTOUCHED {
        s += &format!("SET o{i} other-{i}\n");
    }
    for i in 0..DELETED {
        s += &format!("SET zd{i} doomed-{i}\n");
    }
    s += "HSET h f old\nRPUSH l a\n";
    run_script(dir, &s, &[])?;
    Ok(())
}

/// The big transaction: overwrites, a hash field, a list push, new keys and deletions.
fn transaction() -> String {
    let mut s = String::from("MULTI\n");
    for i in 0..OVERWRITTEN / 2 {
        s += &format!("SET k{i} new-{i}\n");
    }
    s += "HSET h f new\nRPUSH l b\n";
    for i in 0..CREATED {
        s += &format!("SET n{i} created-{i}\n");
    }
    for i in 0..DELETED {
        s += &format!("DEL zd{i}\n");
    }
    for i in OVERWRITTEN / 2..OVERWRITTEN {
        s += &format!("SET k{i} new-{i}\n");
    }
    s += "EXEC\n";
    s
}

/// Starts the writer and waits until it stopped itself inside the publish.
fn stopped_writer(dir: &Path) -> TestResult<Child> {
    let log = std::fs::File::create(dir.with_extension("writer.log"))?;
    let mut w = ziggy()
        .arg("-d")
        .arg(dir)
        .env("ZIGGY_TEST_STOP", "publish")
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()?;
    w.stdin
        .take()
        .ok_or("stdin is piped")?
        .write_all(transaction().as_bytes())?;
    let t0 = Instant::now();
    while proc_state(w.id()) != Some('T') {
        if let Some(st) = w.try_wait()? {
            return Err(format!("the writer exited ({st}) instead of stopping").into());
        }
        if t0.elapsed() > LONG {
            let _ = w.kill();
            return Err("the writer never stopped in its publish".into());
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    let seq = shm_seq(dir)?;
    assert_eq!(
        seq % 2,
        1,
        "the writer stopped inside the publish (seq {seq})"
    );
    Ok(w)
}

/// Every kind of read, in this process through the library and in a fresh `ziggy`, gives
/// the state after the transaction.
/// `extra`: user keys written after the transaction.
fn reads_see_the_transaction(dir: &Path, db: &Db, extra: usize) -> TestResult {
    for i in (0..OVERWRITTEN).step_by(37) {
        assert_eq!(
            text(db.get_value(format!("k{i}").as_bytes())?),
            Some(format!("new-{i}"))
        );
    }
    for i in (0..UNTOUCHED).step_by(7) {
        let v = text(db.get_value(format!("o{i}").as_bytes())?);
        assert_eq!(v, Some(format!("other-{i}")));
    }
    for i in (0..DELETED).step_by(7) {
        assert_eq!(db.get_value(format!("zd{i}").as_bytes())?, None, "zd{i}");
        assert!(!db.exists(format!("zd{i}").as_bytes())?);
    }
    for i in (0..CREATED).step_by(7) {
        let v = text(db.get_value(format!("n{i}").as_bytes())?);
        assert_eq!(v, Some(format!("created-{i}")));
        assert!(db.exists(format!("n{i}").as_bytes())?);
    }
    // MGET across the whole transaction: all new, never a mix.
    let names: Vec<String> = (0..OVERWRITTEN).map(|i| format!("k{i}")).collect();
    let keys: Vec<&[u8]> = names.iter().map(|k| k.as_bytes()).collect();
    for (i, v) in db.mget(&keys)?.into_iter().enumerate() {
        assert_eq!(text(v), Some(format!("new-{i}")), "MGET k{i}");
    }
    assert_eq!(db.keys()?.len(), USER_KEYS_AFTER + extra, "KEYS");
    let mut cursor = 0;
    let mut scanned = std::collections::HashSet::new();
    loop {
        let (page, next) = db.scan(cursor, 100, None, None)?;
        scanned.extend(page);
        if next == 0 {
            break;
        }
        cursor = next;
    }
    assert_eq!(scanned.len(), USER_KEYS_AFTER + extra, "SCAN");
    assert!(scanned.contains(b"n0".as_slice()) && !scanned.contains(b"zd0".as_slice()));
    assert_eq!(db.hash(b"h").get(b"f")?, Some(b"new".to_vec()));
    assert_eq!(db.list(b"l").get(1)?, Some(b"b".to_vec()));
    assert_eq!(db.key_type(b"h")?, "hash");
    for _ in 0..200 {
        let k = db.random_key()?.ok_or("RANDOMKEY found no key")?;
        assert!(!k.starts_with(b"zd"), "RANDOMKEY gave a deleted key");
    }

    let script = "GET k0\nGET k2999\nGET o1\nGET zd1\nGET n1\nMGET k1 k1500 k2998\n\
                  EXISTS k3 zd3 n3\nTTL k4\nHGET h f\nLRANGE l 0 -1\nKEYS n2*\nSCAN 0 COUNT 100000\n";
    let out = run_script(dir, script, &["--lock-timeout-ms", "2000"])?;
    let want_start = [
        r#""new-0""#,
        r#""new-2999""#,
        r#""other-1""#,
        "null",
        r#""created-1""#,
        r#"["new-1","new-1500","new-2998"]"#,
        "2",
        "-1",
        r#""new""#,
        r#"["a","b"]"#,
    ];
    assert_eq!(
        &out[..want_start.len()],
        &want_start,
        "ziggy replies: {out:?}"
    );
    let keys_n2 = &out[want_start.len()];
    // n2, n20..n29, n200..n299: 111 keys.
    assert_eq!(keys_n2.matches('"').count() / 2, 111, "KEYS n2*: {keys_n2}");
    let scan = &out[want_start.len() + 1];
    assert_eq!(
        scan.matches('"').count() / 2,
        USER_KEYS_AFTER + extra + 1,
        "SCAN (cursor and keys): {}",
        &scan[..scan.len().min(200)]
    );
    Ok(())
}

/// After the stopped writer is gone: a write repairs, CHECK is clean, values unchanged.
fn after_the_writer(dir: &Path, db: &Db) -> TestResult {
    reads_see_the_transaction(dir, db, 0)?;
    run_script(dir, "SET after 1\n", &["--lock-timeout-ms", "20000"])?;
    assert_eq!(shm_seq(dir)? % 2, 0);
    let check = db.check()?;
    assert!(check.is_ok(), "CHECK: {check:?}");
    assert_eq!(text(db.get_value(b"after")?), Some("1".into()));
    reads_see_the_transaction(dir, db, 1)?;
    Ok(())
}

fn stopped_publish(end: impl FnOnce(&mut Child) -> TestResult) -> TestResult {
    let tmp = util::tempdir();
    let dir = util::db_path(&tmp);
    setup(&dir)?;
    // Attached for the whole test, so the fresh `ziggy` processes are never first attachers.
    let db = Db::options()
        .lock_timeout(Some(Duration::from_secs(2)))
        .open(&dir)?;
    let mut w = stopped_writer(&dir)?;
    let r = reads_see_the_transaction(&dir, &db, 0).and_then(|()| {
        // A reader of this process again, now that it read the transaction once.
        reads_see_the_transaction(&dir, &db, 0)?;
        end(&mut w)?;
        after_the_writer(&dir, &db)
    });
    let _ = w.kill();
    let _ = w.wait();
    r
}

#[test]
fn readers_answer_while_a_writer_is_stopped_in_a_publish_then_killed() -> TestResult {
    stopped_publish(|w| {
        w.kill()?;
        w.wait()?;
        Ok(())
    })
}

#[test]
fn readers_answer_while_a_writer_is_stopped_in_a_publish_then_continued() -> TestResult {
    stopped_publish(|w| {
        let st = Command::new("kill")
            .args(["-CONT", &w.id().to_string()])
            .status()?;
        assert!(st.success());
        let t0 = Instant::now();
        let st = loop {
            if let Some(st) = w.try_wait()? {
                break st;
            }
            assert!(t0.elapsed() < LONG, "the continued writer finishes");
            std::thread::sleep(Duration::from_millis(5));
        };
        assert!(st.success(), "the continued writer exits cleanly: {st}");
        Ok(())
    })
}
