//! Generic key commands through the library (TYPE, RENAMENX, COPY, EXISTS, KEYS, SCAN,
//! DBSIZE, RANDOMKEY, FLUSHDB) on every type, SCAN while another process writes, and
//! WATCH/MULTI/EXEC in the `ziggy` shell with another process changing the watched key.

use std::collections::{BTreeSet, HashMap};
use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{ChildStdin, Command, Stdio};
use std::sync::mpsc::{self, Receiver};
use std::time::Duration;

use ziggydb::{Db, Error, Value};

use crate::util::{self, child_role, report, Child, Rng, TestResult};

const LONG: Duration = Duration::from_secs(120);

fn keys(names: &[&str]) -> Vec<Vec<u8>> {
    names.iter().map(|n| n.as_bytes().to_vec()).collect()
}

#[test]
fn type_rename_copy_and_exists_on_every_type() -> TestResult {
    let tmp = util::tempdir();
    let db = Db::options()
        .active_expiry(None)
        .open(util::db_path(&tmp))?;
    db.transaction(|tx| {
        tx.set(b"str", "v")?;
        tx.set(b"int", 7i64)?;
        tx.list(b"list").push_back(&["a", "b"])?;
        tx.set_of(b"set").add(&["m"])?;
        tx.hash(b"hash").set(&[("f", "v")])?;
        tx.zset(b"zset")
            .add(ziggydb::ZAddFlags::default(), &[(1.0, "m")])?;
        Ok(())
    })?;
    for (key, ty) in [
        ("str", "string"),
        ("int", "string"),
        ("list", "list"),
        ("set", "set"),
        ("hash", "hash"),
        ("zset", "zset"),
        ("none", "none"),
    ] {
        assert_eq!(db.key_type(key.as_bytes())?, ty, "{key}");
    }
    assert_eq!(
        db.count_existing(&[b"str", b"list", b"none", b"str", b"zset"])?,
        4
    );
    db.transaction(|tx| {
        assert_eq!(tx.key_type(b"list")?, "list");
        assert!(!tx.rename_key_if_absent(b"list", b"set")?);
        assert!(!tx.rename_key_if_absent(b"none", b"x")?);
        assert!(!tx.rename_key_if_absent(b"list", b"list")?);
        assert!(tx.rename_key_if_absent(b"list", b"list2")?);
        assert!(tx.copy(b"list2", b"list3", false)?);
        assert!(!tx.copy(b"list2", b"set", false)?);
        assert!(tx.copy(b"hash", b"set", true)?);
        assert!(!tx.copy(b"none", b"x", true)?);
        assert!(matches!(
            tx.copy(b"str", b"str", true),
            Err(Error::InvalidArgument(_))
        ));
        assert_eq!(tx.key_type(b"set")?, "hash");
        Ok(())
    })?;
    assert_eq!(db.key_type(b"list")?, "none");
    assert_eq!(db.list(b"list3").range(0, -1)?, keys(&["a", "b"]));
    assert_eq!(db.hash(b"set").get(b"f")?, Some(b"v".to_vec()));
    // The copy is independent of its source.
    db.transaction(|tx| tx.list(b"list2").push_back(&["c"]).map(drop))?;
    assert_eq!(db.list(b"list3").len()?, 2);
    assert!(db.check()?.is_ok());
    Ok(())
}

#[test]
fn keys_patterns_dbsize_randomkey_and_flush() -> TestResult {
    let tmp = util::tempdir();
    let db = Db::open(util::db_path(&tmp))?;
    db.transaction(|tx| {
        tx.set_many([
            ("user:1", "a"),
            ("user:2", "b"),
            ("user:10", "c"),
            ("job*", "d"),
            ("hello", "e"),
            ("hallo", "f"),
        ])
    })?;
    assert_eq!(db.keys_matching(b"user:?")?, keys(&["user:1", "user:2"]));
    assert_eq!(db.keys_matching(b"user:*")?.len(), 3);
    assert_eq!(db.keys_matching(b"h[ae]llo")?, keys(&["hallo", "hello"]));
    assert_eq!(db.keys_matching(b"h[^e]llo")?, keys(&["hallo"]));
    assert_eq!(db.keys_matching(b"job\\*")?, keys(&["job*"]));
    assert_eq!(db.len(), 6);
    let mut seen = BTreeSet::new();
    for _ in 0..200 {
        seen.insert(db.random_key()?.expect("a key"));
    }
    assert!(seen.len() > 1, "RANDOMKEY always gave {seen:?}");
    assert!(seen.iter().all(|k| db.exists(k).unwrap_or(false)));
    let mut tx = db.begin_write()?;
    assert_eq!(tx.clear()?, 6);
    tx.set(b"only", "1")?;
    assert_eq!(tx.len()?, 1);
    assert_eq!(tx.random_key()?, Some(b"only".to_vec()));
    tx.rollback();
    assert_eq!(db.len(), 6);
    assert_eq!(db.clear()?, 6);
    assert_eq!(db.len(), 0);
    assert_eq!(db.random_key()?, None);
    Ok(())
}

#[test]
fn flushdb_of_more_keys_than_one_transaction_holds() -> TestResult {
    let tmp = util::tempdir();
    let db = Db::options()
        .segment_size(64 << 10)
        .open(util::db_path(&tmp))?;
    for batch in 0..30 {
        db.transaction(|tx| {
            for i in 0..200 {
                tx.set(
                    format!("key-{batch}-{i}-{}", "k".repeat(40)).as_bytes(),
                    1i64,
                )?;
            }
            Ok(())
        })?;
    }
    assert_eq!(db.len(), 6000);
    assert_eq!(db.clear()?, 6000);
    assert_eq!(db.len(), 0);
    assert!(db.keys()?.is_empty());
    Ok(())
}

/// Scans everything with `count` keys a page; the keys in the order returned.
fn full_scan(db: &Db, count: usize, pattern: Option<&[u8]>) -> ziggydb::Result<Vec<Vec<u8>>> {
    let mut out = Vec::new();
    let mut cursor = 0;
    loop {
        let (page, next) = db.scan(cursor, count, pattern, None)?;
        out.extend(page);
        if next == 0 {
            return Ok(out);
        }
        cursor = next;
    }
}

#[test]
fn scan_matches_types_and_order() -> TestResult {
    let tmp = util::tempdir();
    let db = Db::open(util::db_path(&tmp))?;
    db.transaction(|tx| {
        for i in 0..57 {
            tx.set(format!("k{i:03}").as_bytes(), i64::from(i))?;
        }
        tx.list(b"k-list").push_back(&["x"])?;
        Ok(())
    })?;
    let mut all = full_scan(&db, 7, None)?;
    assert_eq!(all.len(), 58);
    all.sort();
    all.dedup();
    assert_eq!(all.len(), 58, "no repeats");
    let mut tens = full_scan(&db, 3, Some(b"k01?"))?;
    tens.sort();
    assert_eq!(
        tens,
        (10..20)
            .map(|i| format!("k{i:03}").into_bytes())
            .collect::<Vec<_>>()
    );
    let (lists, next) = db.scan(0, 100, None, Some("list"))?;
    assert_eq!((lists, next), (keys(&["k-list"]), 0));
    // A page may be emptied by the type filter before the end, as in Redis.
    let (page, next) = db.scan(0, 5, Some(b"k0*"), Some("list"))?;
    assert!(page.is_empty() && next != 0);
    Ok(())
}

const STABLE: usize = 1500;

fn stable_key(i: usize) -> Vec<u8> {
    format!("s:{i:05}").into_bytes()
}

#[test]
fn child_churn() {
    let Some(dir) = child_role("churn") else {
        return;
    };
    let db = Db::open(&dir).expect("open");
    let mut rng = Rng::new(u64::from(std::process::id()));
    let mut temps: Vec<Vec<u8>> = Vec::new();
    report("READY");
    // One commit per request: create keys that sort among the stable ones (before and after
    // the scan's cursor), delete earlier ones, and rewrite a stable key, which must stay
    // visible to the scan.
    let mut commits = 0u64;
    while let Some(line) = util::read_command() {
        assert_eq!(line, "step");
        db.transaction(|tx| {
            for _ in 0..3 {
                let i = rng.range(0, STABLE as u64);
                let temp = format!("s:{i:05}~{}", rng.range(0, 1_000_000)).into_bytes();
                tx.set(&temp, "temporary")?;
                temps.push(temp);
            }
            for _ in 0..2 {
                if temps.is_empty() {
                    break;
                }
                let at = rng.range(0, temps.len() as u64) as usize;
                tx.delete(&temps.swap_remove(at))?;
            }
            let i = rng.range(0, STABLE as u64) as usize;
            tx.set(&stable_key(i), commits as i64)
        })
        .expect("churn");
        commits += 1;
        report(format!("DONE {commits}"));
    }
    report("PASS");
}

#[test]
fn scan_returns_every_stable_key_once_while_another_process_writes() -> TestResult {
    let tmp = util::tempdir();
    let dir = util::db_path(&tmp);
    let db = Db::open(&dir)?;
    db.transaction(|tx| {
        for i in 0..STABLE {
            tx.set(&stable_key(i), 0i64)?;
        }
        Ok(())
    })?;
    let mut churn = Child::spawn("keys::child_churn", "churn", &dir, &[]);
    churn.expect("READY", LONG);
    let mut returned: HashMap<Vec<u8>, usize> = HashMap::new();
    let mut cursor = 0;
    let mut calls = 0u64;
    loop {
        let (page, next) = db.scan(cursor, 20, None, None)?;
        calls += 1;
        for key in page {
            *returned.entry(key).or_default() += 1;
        }
        // The other process commits between every two pages.
        churn.send("step");
        assert_eq!(churn.expect("DONE", LONG), calls.to_string());
        if next == 0 {
            break;
        }
        cursor = next;
    }
    churn.close_stdin();
    churn.wait_success(LONG);
    assert!(calls > (STABLE / 20) as u64, "{calls} calls");
    for i in 0..STABLE {
        assert_eq!(returned.get(&stable_key(i)), Some(&1), "key {i}");
    }
    assert!(returned.values().all(|&n| n == 1), "a key came back twice");
    let temps = returned.keys().filter(|k| k.contains(&b'~')).count();
    assert!(temps > 0, "no key created during the scan was seen");
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// WATCH in the shell, with other processes writing

/// A `ziggy` shell reading commands from a pipe, its replies in the terminal format.
struct Shell {
    proc: std::process::Child,
    stdin: ChildStdin,
    lines: Receiver<String>,
}

impl Shell {
    fn spawn(dir: &Path) -> Shell {
        let mut proc = Command::new(env!("CARGO_BIN_EXE_ziggy"))
            .arg("--dir")
            .arg(dir)
            .arg("--no-raw")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start ziggy");
        let stdin = proc.stdin.take().expect("ziggy's stdin");
        let stdout = proc.stdout.take().expect("ziggy's stdout");
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Shell { proc, stdin, lines }
    }

    /// Runs `line` and returns the first line of the reply.
    fn run(&mut self, line: &str) -> String {
        writeln!(self.stdin, "{line}").expect("write to ziggy");
        self.stdin.flush().expect("flush to ziggy");
        self.lines
            .recv_timeout(LONG)
            .unwrap_or_else(|_| panic!("no reply from ziggy to {line:?}"))
    }
}

impl Drop for Shell {
    fn drop(&mut self) {
        let _ = writeln!(self.stdin, "quit");
        let _ = self.proc.wait();
    }
}

/// Runs one command in a `ziggy` process of its own; its first reply line.
fn ziggy_once(dir: &Path, args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_ziggy"))
        .arg("--dir")
        .arg(dir)
        .arg("--raw")
        .args(args)
        .output()
        .expect("run ziggy");
    assert!(out.status.success(), "ziggy {args:?}: {out:?}");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .next()
        .unwrap_or("")
        .to_owned()
}

#[test]
fn watch_sees_a_write_from_another_process() -> TestResult {
    let tmp = util::tempdir();
    let dir = util::db_path(&tmp);
    let mut shell = Shell::spawn(&dir);
    assert_eq!(shell.run("SET k 1"), "OK");
    assert_eq!(shell.run("WATCH k"), "OK");
    assert_eq!(ziggy_once(&dir, &["SET", "k", "2"]), "OK");
    assert_eq!(shell.run("MULTI"), "OK");
    assert_eq!(shell.run("SET k 3"), "QUEUED");
    assert_eq!(shell.run("EXEC"), "(nil)");
    assert_eq!(shell.run("GET k"), "\"2\"");

    // A write to another key does not abort; neither does a read of the watched one.
    assert_eq!(shell.run("WATCH k"), "OK");
    assert_eq!(ziggy_once(&dir, &["SET", "other", "x"]), "OK");
    assert_eq!(ziggy_once(&dir, &["GET", "k"]), "2");
    assert_eq!(shell.run("MULTI"), "OK");
    assert_eq!(shell.run("INCR k"), "QUEUED");
    assert_eq!(shell.run("EXEC"), "1) (integer) 3");

    // Deleting, expiring or creating a watched key from elsewhere all abort.
    for (setup, change) in [
        (None, vec!["DEL", "k"]),
        (Some(vec!["SET", "k", "v"]), vec!["PEXPIRE", "k", "1"]),
        (Some(vec!["DEL", "k"]), vec!["SET", "k", "new"]),
        (Some(vec!["SET", "k", "v"]), vec!["RENAME", "other", "k"]),
    ] {
        if let Some(setup) = setup {
            ziggy_once(&dir, &setup);
        }
        assert_eq!(shell.run("WATCH k"), "OK");
        ziggy_once(&dir, &change);
        assert_eq!(shell.run("MULTI"), "OK");
        assert_eq!(shell.run("PING"), "QUEUED");
        assert_eq!(shell.run("EXEC"), "(nil)", "after {change:?}");
    }
    Ok(())
}

#[test]
fn watch_makes_a_check_and_set_counter_safe_across_processes() -> TestResult {
    const SHELLS: usize = 3;
    const ROUNDS: usize = 6;
    let tmp = util::tempdir();
    let dir = util::db_path(&tmp);
    let mut shells: Vec<Shell> = (0..SHELLS).map(|_| Shell::spawn(&dir)).collect();
    assert_eq!(shells[0].run("SET counter 0"), "OK");
    let mut aborted = 0;
    let mut done = [0usize; SHELLS];
    // Every shell reads the counter under WATCH before any writes it back, so all but one
    // of each round must retry: a plain GET/SET would lose their increments.
    while done.iter().any(|&d| d < ROUNDS) {
        let mut seen = Vec::new();
        for (i, shell) in shells.iter_mut().enumerate() {
            if done[i] == ROUNDS {
                seen.push(None);
                continue;
            }
            assert_eq!(shell.run("WATCH counter"), "OK");
            let value = shell.run("GET counter");
            let n: i64 = value.trim_matches('"').parse()?;
            seen.push(Some(n));
        }
        for (i, shell) in shells.iter_mut().enumerate() {
            let Some(n) = seen[i] else { continue };
            assert_eq!(shell.run("MULTI"), "OK");
            assert_eq!(shell.run(&format!("SET counter {}", n + 1)), "QUEUED");
            match shell.run("EXEC").as_str() {
                "1) OK" => done[i] += 1,
                "(nil)" => aborted += 1,
                other => panic!("EXEC replied {other}"),
            }
        }
    }
    assert!(aborted > 0, "no EXEC ever found its watched key changed");
    let db = Db::open(&dir)?;
    assert_eq!(
        db.get_value(b"counter")?,
        Some(Value::Bytes((SHELLS * ROUNDS).to_string().into_bytes()))
    );
    Ok(())
}
