//! `INFO` and the shared metrics behind it: keys by type and with an expiry stay exact
//! through overwrites, deletes, expiry, reopening and a rebuilt index, and every attached
//! process is listed.

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::time::Duration;

use ziggydb::{Db, Metrics, ValueType};

use crate::util::{self, TestResult};

fn by_type(m: &Metrics, t: ValueType) -> u64 {
    m.keys_by_type
        .iter()
        .find(|(ty, _)| *ty == t)
        .map_or(0, |(_, n)| *n)
}

fn assert_counts(db: &Db, want: &[(ValueType, u64)], expiring: u64) -> TestResult {
    let m = db.metrics();
    for t in ValueType::ALL {
        let n = want.iter().find(|(w, _)| *w == t).map_or(0, |(_, n)| *n);
        assert_eq!(by_type(&m, t), n, "keys of type {t}: {:?}", m.keys_by_type);
    }
    assert_eq!(m.expiring_keys, expiring, "keys with an expiry");
    assert_eq!(m.keys, want.iter().map(|(_, n)| n).sum::<u64>(), "all keys");
    let report = db.check()?;
    assert!(report.is_ok(), "{:?}", report.problems);
    Ok(())
}

#[test]
fn keys_are_counted_by_type_and_expiry_through_every_kind_of_change() -> TestResult {
    let tmp = util::tempdir();
    let path = util::db_path(&tmp);
    {
        let db = Db::options().active_expiry(None).open(&path)?;
        db.set(b"s", "text")?;
        db.set(b"n", 5i64)?;
        db.transaction(|tx| {
            tx.set(b"b", vec![0u8, 1])?;
            tx.list(b"l").push_back(&[b"x"])?;
            tx.hash(b"h").set(&[(b"f", b"v")])?;
            tx.set_with_expiry(b"ttl", "soon", Some(util::now_ms() + 60_000))?;
            Ok(())
        })?;
        use ValueType::*;
        assert_counts(
            &db,
            &[(String, 2), (Int, 1), (Bytes, 1), (List, 1), (Hash, 1)],
            1,
        )?;
        // A key that changes type moves between counters; losing its expiry uncounts it.
        db.set(b"n", 1.5f64)?;
        db.transaction(|tx| tx.persist(b"ttl").map(|_| ()))?;
        db.delete(b"l")?;
        assert_counts(&db, &[(String, 2), (Float, 1), (Bytes, 1), (Hash, 1)], 0)?;
        // A key that expires is counted until the active pass deletes it.
        db.transaction(|tx| tx.set_with_expiry(b"gone", "x", Some(util::now_ms() + 1)))?;
        assert_counts(&db, &[(String, 3), (Float, 1), (Bytes, 1), (Hash, 1)], 1)?;
        std::thread::sleep(Duration::from_millis(5));
        assert_eq!(db.expire_now()?, 1);
        assert_counts(&db, &[(String, 2), (Float, 1), (Bytes, 1), (Hash, 1)], 0)?;
        db.transaction(|tx| tx.set_with_expiry(b"later", "x", Some(util::now_ms() + 600_000)))?;
    }
    use ValueType::*;
    let want = [(String, 3), (Float, 1), (Bytes, 1), (Hash, 1)];
    // From the checkpoint written at close...
    assert_counts(&Db::open(&path)?, &want, 1)?;
    // ...and from a rebuild when the index is lost.
    for entry in std::fs::read_dir(&path)? {
        let entry = entry?;
        if entry.file_name().to_string_lossy().starts_with("index-") {
            std::fs::remove_file(entry.path())?;
        }
    }
    assert_counts(&Db::open(&path)?, &want, 1)?;
    Ok(())
}

fn info(dir: &std::path::Path, section: Option<&str>) -> TestResult<String> {
    let out = Command::new(env!("CARGO_BIN_EXE_ziggy"))
        .args(["-d"])
        .arg(dir)
        .arg("INFO")
        .args(section)
        .output()?;
    assert!(out.status.success(), "{out:?}");
    Ok(String::from_utf8(out.stdout)?)
}

fn field(text: &str, name: &str) -> Option<String> {
    text.lines()
        .find_map(|l| l.strip_prefix(&format!("{name}:")))
        .map(|v| v.trim_end().to_owned())
}

#[test]
fn info_prints_redis_style_sections_and_lists_attached_processes() -> TestResult {
    let tmp = util::tempdir();
    let dir = util::db_path(&tmp);
    let script = "SET a 1\nSET b 2 EX 100\nRPUSH l x y\nGET a\nGET missing\nZADD z 1 m\n";
    let out = Command::new(env!("CARGO_BIN_EXE_ziggy"))
        .arg("-d")
        .arg(&dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .and_then(|mut c| {
            c.stdin.take().map(|mut s| s.write_all(script.as_bytes()));
            c.wait_with_output()
        })?;
    assert!(out.status.success());

    let all = info(&dir, None)?;
    let titles: Vec<&str> = all.lines().filter(|l| l.starts_with("# ")).collect();
    assert_eq!(
        titles,
        [
            "# Server",
            "# Keyspace",
            "# Stats",
            "# Persistence",
            "# Memory",
            "# Processes"
        ]
    );
    assert!(all.contains("\r\n"), "lines end in CRLF, as in Redis");
    let keyspace = info(&dir, Some("keyspace"))?;
    assert_eq!(keyspace.lines().next(), Some("# Keyspace"));
    // One key with an expiry time, at most 100 s away: avg_ttl is what remains of it.
    let db0 = field(&keyspace, "db0").ok_or("no db0")?;
    let avg_ttl: u64 = db0
        .strip_prefix("keys=4,expires=1,avg_ttl=")
        .ok_or(format!("db0:{db0}"))?
        .parse()?;
    assert!((1..=100_000).contains(&avg_ttl), "db0:{db0}");
    assert_eq!(field(&keyspace, "keys_bytes").as_deref(), Some("2"));
    assert_eq!(field(&keyspace, "keys_list").as_deref(), Some("1"));
    assert_eq!(field(&keyspace, "keys_zset").as_deref(), Some("1"));
    assert_eq!(field(&keyspace, "keys_hash").as_deref(), Some("0"));
    let stats = info(&dir, Some("stats"))?;
    // The six commands of the script, and the three INFO commands so far.
    assert_eq!(
        field(&stats, "total_commands_processed").as_deref(),
        Some("9")
    );
    assert_eq!(
        field(&stats, "transactions_committed").as_deref(),
        Some("4")
    );
    assert!(info(&dir, Some("nosuchsection"))?.is_empty());

    // A second process attached: both are listed.
    let mut other = Command::new(env!("CARGO_BIN_EXE_ziggy"))
        .arg("-d")
        .arg(&dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()?;
    let mut stdin = other.stdin.take().ok_or("stdin")?;
    let mut lines = BufReader::new(other.stdout.take().ok_or("stdout")?).lines();
    writeln!(stdin, "PING")?;
    assert_eq!(lines.next().transpose()?.as_deref(), Some("PONG"));
    let procs = info(&dir, Some("processes"))?;
    assert_eq!(field(&procs, "attached_processes").as_deref(), Some("2"));
    let pid = format!("pid={},", other.id());
    assert!(procs.contains(&pid), "{procs}");
    drop(stdin);
    other.wait()?;
    let procs = info(&dir, Some("processes"))?;
    assert_eq!(field(&procs, "attached_processes").as_deref(), Some("1"));
    Ok(())
}
