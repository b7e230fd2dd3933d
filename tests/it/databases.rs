//! Numbered databases across processes (format-spec.md §4.5): a key written in `SELECT 3` by
//! one process is read in database 3 by another and not in database 0; a `SWAPDB` committed by
//! one process is seen by a session that has database 5 selected in another at its next
//! command; `WATCH` in a numbered database is broken by another process's write there and
//! not by one in database 0; and a `SWAPDB` or `MOVE` killed (SIGKILL) at each step of its
//! commit leaves the database before or after it, never between, while readers in other
//! processes see one or the other.

use std::io::Write as _;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use ziggydb::commands::{Policy, Reply, Session};
use ziggydb::Db;

use crate::util::{self, child_role, end_child, report, Child, TestResult};

const LONG: Duration = Duration::from_secs(120);

fn ziggy() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_ziggy"));
    c.env_remove("ZIGGY_DIR").env_remove("ZIGGY_TEST_STOP");
    c
}

/// Runs `ziggy -d DIR ARGS...` to success and returns its standard output.
fn run(dir: &Path, args: &[&str]) -> TestResult<String> {
    let out = ziggy()
        .arg("-d")
        .arg(dir)
        .args(args)
        .stdin(Stdio::null())
        .output()?;
    if !out.status.success() {
        return Err(format!(
            "ziggy {args:?}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
        .into());
    }
    Ok(String::from_utf8(out.stdout)?)
}

/// Runs a script of command lines through `ziggy -d DIR`.
fn script(dir: &Path, lines: &str) -> TestResult<String> {
    let mut child = ziggy()
        .arg("-d")
        .arg(dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()?;
    child
        .stdin
        .take()
        .ok_or("stdin is piped")?
        .write_all(lines.as_bytes())?;
    let out = child.wait_with_output()?;
    if !out.status.success() {
        return Err(format!("ziggy script: {}", String::from_utf8_lossy(&out.stderr)).into());
    }
    Ok(String::from_utf8(out.stdout)?)
}

/// Child: a session on the directory; runs each line from the parent and reports its reply
/// (`Debug` form), until stdin closes.
#[test]
fn child_session() {
    let Some(dir) = child_role("db-session") else {
        return;
    };
    end_child((|| -> TestResult {
        let db = Db::open(&dir)?;
        let mut session = Session::new(&db, Policy::trusted());
        report("READY");
        while let Some(line) = util::read_command() {
            let args = ziggydb::commands::split_line(line.as_bytes())
                .map_err(|e| format!("{line}: {e}"))?;
            let args: Vec<&[u8]> = args.iter().map(Vec::as_slice).collect();
            report(format!("{:?}", session.execute(&args)));
        }
        Ok(())
    })());
}

/// Sends `line` to a `db-session` child and returns its reply.
fn ask(child: &mut Child, line: &str) -> String {
    child.send(line);
    child.expect("", LONG)
}

fn bulk(s: &str) -> String {
    format!("{:?}", Reply::bulk(s))
}

fn int(n: i64) -> String {
    format!("{:?}", Reply::Int(n))
}

#[test]
fn a_key_written_in_database_3_is_read_there_by_another_process_and_not_in_0() -> TestResult {
    let tmp = util::tempdir();
    let dir = util::db_path(&tmp);
    run(&dir, &["SET", "k", "zero"])?;
    let mut a = Child::spawn("databases::child_session", "db-session", &dir, &[]);
    a.expect("READY", LONG);
    assert_eq!(ask(&mut a, "SELECT 3"), format!("{:?}", Reply::ok()));
    assert_eq!(ask(&mut a, "SET k three"), format!("{:?}", Reply::ok()));
    assert_eq!(ask(&mut a, "RPUSH l x y"), int(2));
    assert_eq!(ask(&mut a, "HSET h f v"), int(1));
    // Another process, while A stays attached.
    assert_eq!(run(&dir, &["-n", "3", "GET", "k"])?, "three\n");
    assert_eq!(run(&dir, &["-n", "3", "LRANGE", "l", "0", "-1"])?, "x\ny\n");
    assert_eq!(run(&dir, &["-n", "3", "DBSIZE"])?, "3\n");
    assert_eq!(run(&dir, &["GET", "k"])?, "zero\n");
    assert_eq!(run(&dir, &["EXISTS", "l", "h"])?, "0\n");
    assert_eq!(run(&dir, &["DBSIZE"])?, "1\n");
    assert_eq!(run(&dir, &["-n", "4", "DBSIZE"])?, "0\n");
    let info = run(&dir, &["INFO", "keyspace"])?;
    assert!(info.contains("db0:keys=1,expires=0,avg_ttl=0"), "{info}");
    assert!(info.contains("db3:keys=3,expires=0,avg_ttl=0"), "{info}");
    assert!(!info.contains("db4:"), "{info}");
    // EXPORT writes database 0 only (README-databases.md).
    let file = tmp.path().join("export.jsonl");
    let file_arg = file.to_str().ok_or("a UTF-8 path")?;
    run(&dir, &["-n", "3", "EXPORT", file_arg])?;
    let exported = std::fs::read_to_string(&file)?;
    assert_eq!(exported.lines().count(), 1, "{exported}");
    assert!(
        exported.contains("zero") && !exported.contains("three"),
        "{exported}"
    );
    // And the other way: B writes in 3, A reads it.
    run(&dir, &["-n", "3", "SET", "k", "three-b"])?;
    assert_eq!(ask(&mut a, "GET k"), bulk("three-b"));
    // FLUSHDB in 3 leaves 0 alone; CHECK finds the database sound.
    assert_eq!(ask(&mut a, "FLUSHDB"), format!("{:?}", Reply::ok()));
    assert_eq!(run(&dir, &["-n", "3", "DBSIZE"])?, "0\n");
    assert_eq!(run(&dir, &["GET", "k"])?, "zero\n");
    a.close_stdin();
    a.finish(LONG)?;
    assert_eq!(run(&dir, &["CHECK"])?, "OK\n");
    Ok(())
}

#[test]
fn swapdb_in_one_process_is_seen_by_another_at_its_next_command() -> TestResult {
    let tmp = util::tempdir();
    let dir = util::db_path(&tmp);
    script(&dir, "SELECT 6\nSET k six\nRPUSH l a b c\n")?;
    let mut b = Child::spawn("databases::child_session", "db-session", &dir, &[]);
    b.expect("READY", LONG);
    assert_eq!(ask(&mut b, "SELECT 5"), format!("{:?}", Reply::ok()));
    assert_eq!(ask(&mut b, "GET k"), format!("{:?}", Reply::Nil));
    for round in 0..10 {
        // One-shot: the swap is committed when it exits.
        run(&dir, &["SWAPDB", "5", "6"])?;
        let (k, len) = if round % 2 == 0 {
            (bulk("six"), int(3))
        } else {
            (format!("{:?}", Reply::Nil), int(0))
        };
        assert_eq!(ask(&mut b, "GET k"), k, "round {round}");
        assert_eq!(ask(&mut b, "LLEN l"), len, "round {round}");
    }
    b.close_stdin();
    b.finish(LONG)?;
    // An even number of swaps: back where it started.
    assert_eq!(run(&dir, &["-n", "6", "GET", "k"])?, "six\n");
    assert_eq!(run(&dir, &["-n", "5", "DBSIZE"])?, "0\n");
    Ok(())
}

#[test]
fn watch_in_a_numbered_database_sees_writes_there_from_other_processes_only() -> TestResult {
    let tmp = util::tempdir();
    let dir = util::db_path(&tmp);
    let mut a = Child::spawn("databases::child_session", "db-session", &dir, &[]);
    a.expect("READY", LONG);
    let ok = format!("{:?}", Reply::ok());
    let queued = format!("{:?}", Reply::Status("QUEUED".into()));
    assert_eq!(ask(&mut a, "SELECT 7"), ok);
    // A write of the same key in database 0 does not touch database 7's.
    assert_eq!(ask(&mut a, "WATCH k"), ok);
    run(&dir, &["SET", "k", "in-0"])?;
    assert_eq!(ask(&mut a, "MULTI"), ok);
    assert_eq!(ask(&mut a, "SET k mine"), queued);
    assert_eq!(
        ask(&mut a, "EXEC"),
        format!("{:?}", Reply::Array(vec![Reply::ok()]))
    );
    // A write there from another process aborts the EXEC.
    assert_eq!(ask(&mut a, "WATCH k"), ok);
    run(&dir, &["-n", "7", "SET", "k", "theirs"])?;
    assert_eq!(ask(&mut a, "MULTI"), ok);
    assert_eq!(ask(&mut a, "SET k mine-again"), queued);
    assert_eq!(ask(&mut a, "EXEC"), format!("{:?}", Reply::NilArray));
    // So does a SWAPDB that moves database 7 away.
    assert_eq!(ask(&mut a, "WATCH k"), ok);
    run(&dir, &["SWAPDB", "7", "8"])?;
    assert_eq!(ask(&mut a, "MULTI"), ok);
    assert_eq!(ask(&mut a, "SET k after-swap"), queued);
    assert_eq!(ask(&mut a, "EXEC"), format!("{:?}", Reply::NilArray));
    a.close_stdin();
    a.finish(LONG)?;
    assert_eq!(run(&dir, &["-n", "8", "GET", "k"])?, "theirs\n");
    assert_eq!(run(&dir, &["GET", "k"])?, "in-0\n");
    Ok(())
}

fn proc_state(pid: u32) -> Option<char> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    stat.rsplit_once(") ")?.1.chars().next()
}

/// Starts `ziggy -d DIR ARGS...` stopping itself at `point`, and waits until it is stopped.
fn stopped_at(dir: &Path, point: &str, args: &[&str]) -> TestResult<std::process::Child> {
    let mut w = ziggy()
        .arg("-d")
        .arg(dir)
        .args(args)
        .env("ZIGGY_TEST_STOP", point)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()?;
    let t0 = Instant::now();
    while proc_state(w.id()) != Some('T') {
        if let Some(st) = w.try_wait()? {
            let mut err = String::new();
            if let Some(mut e) = w.stderr.take() {
                std::io::Read::read_to_string(&mut e, &mut err)?;
            }
            return Err(format!(
                "ziggy {args:?} exited ({st}) instead of stopping at {point}: {err}"
            )
            .into());
        }
        if t0.elapsed() > LONG {
            let _ = w.kill();
            return Err(format!("ziggy {args:?} never stopped at {point}").into());
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    Ok(w)
}

/// Databases 1 and 2 hold `k` = `one` and `two`; `m` (a list) is in database 3.
fn setup(dir: &Path) -> TestResult {
    script(
        dir,
        "SELECT 1\nSET k one\nSELECT 2\nSET k two\nSELECT 3\nRPUSH m a b c\n",
    )?;
    Ok(())
}

/// `SWAPDB 1 2` killed at `point`: database 1 then holds `expect`, database 2 the other, in
/// every process, while the writer is stopped and after it is killed.
fn swapdb_killed_at(point: &str, expect: &str) -> TestResult {
    let tmp = util::tempdir();
    let dir = util::db_path(&tmp);
    setup(&dir)?;
    let other = if expect == "one" { "two" } else { "one" };
    let mut w = stopped_at(&dir, point, &["SWAPDB", "1", "2"])?;
    // A reader answers while the writer is stopped (no lock it holds is needed to read
    // database 0; a numbered database's read waits for the writer lock, which the
    // stopped writer holds, so only database 0 is read now).
    assert_eq!(run(&dir, &["DBSIZE"])?, "0\n", "{point}");
    w.kill()?;
    w.wait()?;
    assert_eq!(
        run(&dir, &["-n", "1", "GET", "k"])?,
        format!("{expect}\n"),
        "{point}"
    );
    assert_eq!(
        run(&dir, &["-n", "2", "GET", "k"])?,
        format!("{other}\n"),
        "{point}"
    );
    assert_eq!(run(&dir, &["-n", "3", "LLEN", "m"])?, "3\n", "{point}");
    assert_eq!(run(&dir, &["CHECK"])?, "OK\n", "{point}");
    Ok(())
}

#[test]
fn swapdb_killed_before_its_commit_leaves_the_databases_as_they_were() -> TestResult {
    swapdb_killed_at("swapdb", "one")
}

#[test]
fn swapdb_killed_after_its_publish_leaves_the_databases_swapped() -> TestResult {
    // Stopped after the publish, before the fsync: the commit is in the log.
    swapdb_killed_at("sync", "two")
}

/// `MOVE m 0` (a list, from database 3) killed at `point`: the list is in database 3 or in
/// database 0 (`after`), whole, never in both or neither.
fn move_killed_at(point: &str, after: bool) -> TestResult {
    let tmp = util::tempdir();
    let dir = util::db_path(&tmp);
    setup(&dir)?;
    let mut w = stopped_at(&dir, point, &["-n", "3", "MOVE", "m", "0"])?;
    if point == "publish" {
        // Stopped half way through applying the move to the index: another process reads
        // database 0 from the state after it, without waiting for the writer.
        assert_eq!(run(&dir, &["LRANGE", "m", "0", "-1"])?, "a\nb\nc\n");
    }
    w.kill()?;
    w.wait()?;
    let (in0, in3) = if after { ("3", "0") } else { ("0", "3") };
    assert_eq!(run(&dir, &["LLEN", "m"])?, format!("{in0}\n"), "{point}");
    assert_eq!(
        run(&dir, &["-n", "3", "LLEN", "m"])?,
        format!("{in3}\n"),
        "{point}"
    );
    let n = if after { "0" } else { "3" };
    assert_eq!(
        run(&dir, &["-n", n, "LRANGE", "m", "0", "-1"])?,
        "a\nb\nc\n"
    );
    assert_eq!(run(&dir, &["CHECK"])?, "OK\n", "{point}");
    // The moved list stays usable where it is.
    run(&dir, &["-n", n, "RPUSH", "m", "d"])?;
    assert_eq!(run(&dir, &["-n", n, "LLEN", "m"])?, "4\n");
    Ok(())
}

#[test]
fn move_killed_before_its_commit_leaves_the_key_where_it_was() -> TestResult {
    move_killed_at("move", false)
}

#[test]
fn move_killed_half_way_through_its_publish_leaves_the_key_moved() -> TestResult {
    move_killed_at("publish", true)
}

#[test]
fn move_killed_before_its_fsync_leaves_the_key_moved() -> TestResult {
    move_killed_at("sync", true)
}
