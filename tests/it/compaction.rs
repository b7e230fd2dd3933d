//! Compaction: space is reclaimed on disk, data stays intact (also for readers running
//! meanwhile and for values held across it), auto-compaction follows its threshold, and an
//! index rebuilt from compacted segments brings back nothing deleted.

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use ziggydb::{Db, Value};

use crate::util::{self, TestResult};

fn key(i: u32) -> Vec<u8> {
    format!("key/{i:06}").into_bytes()
}

fn val(i: u32, version: u32, len: usize) -> Vec<u8> {
    let mut v = format!("{i}:{version}:").into_bytes();
    v.resize(len, b'a' + (version % 26) as u8);
    v
}

/// Writes `val(i, version, len)` under `key(i)` for every `i` in `keys`, `batch` per commit.
fn write_version(db: &Db, keys: &[u32], version: u32, len: usize, batch: usize) -> TestResult {
    for chunk in keys.chunks(batch) {
        db.transaction(|tx| {
            for &i in chunk {
                tx.set(&key(i), val(i, version, len))?;
            }
            Ok(())
        })?;
    }
    Ok(())
}

/// Asserts that each key holds `want(i)` (`None`: absent).
fn assert_state(db: &Db, n: u32, want: impl Fn(u32) -> Option<Vec<u8>>, label: &str) -> TestResult {
    for i in 0..n {
        let got = db.get(&key(i))?.map(|v| v.to_vec());
        assert!(
            got == want(i),
            "{label}: key {i} holds {:?}, expected {:?}",
            got.map(|g| String::from_utf8_lossy(&g).into_owned()),
            want(i).map(|g| String::from_utf8_lossy(&g).into_owned())
        );
    }
    Ok(())
}

fn assert_check_ok(db: &Db, label: &str) -> TestResult {
    let r = db.check()?;
    assert!(r.is_ok(), "{label}: check found {:?}", r.problems);
    Ok(())
}

#[test]
fn compaction_reclaims_dead_space_and_keeps_data() -> TestResult {
    let tmp = util::tempdir();
    let dir = util::db_path(&tmp);
    let db = Db::options()
        .segment_size(256 << 10)
        .auto_compact(false, 0.5, 0)
        .open(&dir)?;
    let all: Vec<u32> = (0..1000).collect();
    for version in 0..6 {
        write_version(&db, &all, version, 200, 100)?;
    }
    db.transaction(|tx| {
        for i in (0..1000).step_by(5) {
            tx.delete(&key(i))?;
        }
        Ok(())
    })?;
    let want = |i: u32| (i % 5 != 0).then(|| val(i, 5, 200));
    let m0 = db.metrics();
    let bytes0 = util::segment_bytes(&dir);
    assert!(m0.dead_bytes > 0, "overwrites left no dead bytes: {m0:?}");
    assert!(
        util::segment_files(&dir).len() > 2,
        "expected several segments"
    );

    let stats = db.compact()?;
    // Reading is the only thing that happens next; files freed by the compaction are gone.
    assert_state(&db, 1000, want, "after compaction")?;
    let bytes1 = util::segment_bytes(&dir);
    let m1 = db.metrics();
    assert!(
        bytes1 * 2 <= bytes0,
        "segment files took {bytes0} bytes before compaction and {bytes1} after"
    );
    assert!(stats.segments_removed > 0, "{stats:?}");
    assert!(stats.segments_written > 0, "{stats:?}");
    assert!(
        stats.bytes_after < stats.bytes_before,
        "compaction grew the segments: {stats:?}"
    );
    assert!(
        stats.records_copied > 0 && stats.records_copied <= 800,
        "copied {} records with 800 live keys",
        stats.records_copied
    );
    assert!(
        m1.dead_bytes < m0.dead_bytes / 4,
        "dead bytes {} before, {} after",
        m0.dead_bytes,
        m1.dead_bytes
    );
    assert_eq!(m1.compactions, m0.compactions + 1);
    assert_eq!(m1.keys, 800);
    assert_eq!(db.len(), 800);
    assert_check_ok(&db, "after compaction")?;
    drop(db);
    let db = Db::open(&dir)?;
    assert_state(&db, 1000, want, "reopened after compaction")?;
    assert_eq!(db.len(), 800);
    assert_check_ok(&db, "reopened after compaction")?;
    Ok(())
}

fn churn(dir: &Path, min_dead_ratio: f64, min_bytes: u64) -> TestResult<(u64, u64)> {
    let db = Db::options()
        .segment_size(64 << 10)
        .auto_compact(true, min_dead_ratio, min_bytes)
        .open(dir)?;
    let all: Vec<u32> = (0..100).collect();
    for version in 0..40 {
        write_version(&db, &all, version, 500, 20)?;
    }
    assert_state(&db, 100, |i| Some(val(i, 39, 500)), "after churn")?;
    // Compaction runs in a background thread: give it time to catch up with the writes.
    let settled = |db: &Db| {
        let m = db.metrics();
        m.compactions > 0
            && (m.dead_bytes as f64) < min_dead_ratio * (m.dead_bytes + m.live_bytes) as f64
    };
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while min_bytes < 1 << 30 && !settled(&db) && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_check_ok(&db, "after churn")?;
    Ok((db.metrics().compactions, util::segment_bytes(dir)))
}

#[test]
fn auto_compaction_triggers_at_its_threshold() -> TestResult {
    // 2 MB written over 55 KB of live data.
    let tmp = util::tempdir();
    let (compactions, bytes) = churn(&util::db_path(&tmp), 0.3, 64 << 10)?;
    assert!(compactions >= 1, "no automatic compaction happened");
    assert!(
        bytes <= 512 << 10,
        "segment files hold {bytes} bytes for 55 KB of live data"
    );
    // Below the minimum, nothing is compacted.
    let tmp = util::tempdir();
    let (compactions, bytes) = churn(&util::db_path(&tmp), 0.3, 1 << 30)?;
    assert_eq!(compactions, 0, "compacted below min_bytes");
    assert!(
        bytes >= 2 << 20,
        "without compaction the data still takes {bytes} bytes"
    );
    Ok(())
}

#[test]
fn space_after_compaction_is_close_to_live_bytes() -> TestResult {
    const N: u32 = 10_000;
    const KEY_LEN: usize = 24;
    const VALUE_LEN: usize = 150;
    let tmp = util::tempdir();
    let dir = util::db_path(&tmp);
    let db = Db::options()
        .segment_size(4 << 20)
        .auto_compact(false, 0.5, 0)
        .open(&dir)?;
    let k = |i: u32| format!("space-key-{i:014}").into_bytes();
    assert_eq!(k(0).len(), KEY_LEN);
    for version in 0..2u32 {
        for chunk in (0..N).collect::<Vec<_>>().chunks(500) {
            db.transaction(|tx| {
                for &i in chunk {
                    tx.set(&k(i), val(i, version, VALUE_LEN))?;
                }
                Ok(())
            })?;
        }
    }
    db.compact()?;
    for i in (0..N).step_by(97) {
        assert_eq!(
            db.get(&k(i))?.map(|v| v.to_vec()),
            Some(val(i, 1, VALUE_LEN))
        );
    }
    let live = u64::from(N) * (KEY_LEN + VALUE_LEN) as u64;
    let on_disk = util::segment_bytes(&dir);
    let ratio = on_disk as f64 / live as f64;
    let files: Vec<String> = util::segment_files(&dir)
        .iter()
        .map(|p| {
            let len = std::fs::metadata(p).map(|m| m.len()).unwrap_or(0);
            let used = std::fs::read(p)
                .map(|b| util::end_of_records(&b))
                .unwrap_or(0);
            format!(
                "{} ({len} bytes, records end at {used})",
                util::file_name(p)
            )
        })
        .collect();
    eprintln!(
        "space after compaction: {on_disk} bytes for {live} bytes of keys and values, ratio {ratio:.3}: {files:?}"
    );
    assert!(
        ratio <= 1.2,
        "segment files take {on_disk} bytes for {live} bytes of keys and values: ratio {ratio:.3} > 1.2; files {files:?}; metrics {:?}",
        db.metrics()
    );
    Ok(())
}

#[test]
fn value_held_across_overwrite_and_compaction_stays_valid() -> TestResult {
    let tmp = util::tempdir();
    let dir = util::db_path(&tmp);
    let db = Db::options()
        .segment_size(64 << 10)
        .auto_compact(false, 0.5, 0)
        .open(&dir)?;
    let original: Vec<u8> = (0..1000u32).map(|i| (i % 251) as u8).collect();
    db.set(b"held", original.clone())?;
    let guard = db.get(b"held")?.ok_or("held is missing")?;
    let all: Vec<u32> = (0..50).collect();
    for version in 0..20 {
        db.set(b"held", val(0, version, 1000))?;
        write_version(&db, &all, version, 400, 25)?;
        if version % 5 == 4 {
            db.compact()?;
        }
    }
    assert!(db.delete(b"held")?);
    db.compact()?;
    assert_eq!(
        &*guard,
        &original[..],
        "a held value changed under compaction"
    );
    assert_eq!(guard.to_value()?, Value::Bytes(original));
    drop(guard);
    db.compact()?;
    assert!(!db.exists(b"held")?);
    assert_state(&db, 50, |i| Some(val(i, 19, 400)), "after compactions")?;
    assert_check_ok(&db, "after compactions")?;
    Ok(())
}

#[test]
fn reader_threads_stay_correct_during_compaction() -> TestResult {
    let tmp = util::tempdir();
    let dir = util::db_path(&tmp);
    let db = Db::options()
        .segment_size(64 << 10)
        .auto_compact(false, 0.5, 0)
        .open(&dir)?;
    let stable: Vec<u32> = (1000..1200).collect();
    write_version(&db, &stable, 7, 100, 50)?;
    let stop = Arc::new(AtomicBool::new(false));
    let readers: Vec<_> = (0..2u64)
        .map(|t| {
            let db = db.clone();
            let stop = Arc::clone(&stop);
            std::thread::spawn(move || -> Result<u64, String> {
                let mut rng = util::Rng::new(t + 1);
                let mut reads = 0;
                let mut last = 0;
                while !stop.load(Ordering::SeqCst) {
                    let i = rng.range(1000, 1200) as u32;
                    let got = db.get(&key(i)).map_err(|e| e.to_string())?;
                    if got.as_deref() != Some(&val(i, 7, 100)[..]) {
                        return Err(format!("stable key {i} read as {got:?}"));
                    }
                    let pair = db.mget(&[b"a", b"b"]).map_err(|e| e.to_string())?;
                    if pair[0] != pair[1] {
                        return Err(format!("mget saw a={:?} b={:?}", pair[0], pair[1]));
                    }
                    if let Some(Value::Int(a)) = pair[0] {
                        if a < last {
                            return Err(format!("a went back from {last} to {a}"));
                        }
                        last = a;
                    }
                    reads += 1;
                }
                Ok(reads)
            })
        })
        .collect();
    let churn: Vec<u32> = (0..100).collect();
    for round in 0..20i64 {
        write_version(&db, &churn, round as u32, 300, 25)?;
        db.transaction(|tx| {
            tx.set(b"a", round)?;
            tx.set(b"b", round)
        })?;
        db.compact()?;
    }
    stop.store(true, Ordering::SeqCst);
    for r in readers {
        let reads = r.join().expect("reader thread")?;
        assert!(reads > 0);
    }
    assert_state(&db, 100, |i| Some(val(i, 19, 300)), "churned keys")?;
    assert_check_ok(&db, "after compactions under readers")?;
    Ok(())
}

#[test]
fn rebuilt_index_after_compaction_brings_back_nothing_deleted() -> TestResult {
    let tmp = util::tempdir();
    let dir = util::db_path(&tmp);
    let all: Vec<u32> = (0..500).collect();
    // Deleted: multiples of 3 (before the compaction) and of 7 (after it, in the
    // uncompacted log). Overwritten after the compaction: multiples of 11.
    let want = |i: u32| {
        if i % 3 == 0 || i % 7 == 0 {
            None
        } else if i % 11 == 0 {
            Some(val(i, 3, 120))
        } else {
            Some(val(i, 2, 120))
        }
    };
    {
        let db = Db::options()
            .segment_size(64 << 10)
            .auto_compact(false, 0.5, 0)
            .open(&dir)?;
        write_version(&db, &all, 1, 120, 50)?;
        write_version(&db, &all, 2, 120, 50)?;
        db.transaction(|tx| {
            for i in (0..500).step_by(3) {
                tx.delete(&key(i))?;
            }
            Ok(())
        })?;
        db.compact()?;
        db.transaction(|tx| {
            for i in (0..500).step_by(7) {
                tx.delete(&key(i))?;
            }
            Ok(())
        })?;
        let elevens: Vec<u32> = (0..500)
            .filter(|i| i % 11 == 0 && i % 3 != 0 && i % 7 != 0)
            .collect();
        write_version(&db, &elevens, 3, 120, 50)?;
        assert_state(&db, 500, want, "before the rebuild")?;
    }
    for round in 0..2 {
        for f in util::index_files(&dir) {
            std::fs::remove_file(f)?;
        }
        let shm = dir.join("ziggy.shm");
        if shm.exists() {
            std::fs::remove_file(shm)?;
        }
        let db = Db::options()
            .segment_size(64 << 10)
            .auto_compact(false, 0.5, 0)
            .open(&dir)?;
        let label = format!("rebuilt index, round {round}");
        assert_state(&db, 500, want, &label)?;
        let live = (0..500).filter(|&i| want(i).is_some()).count() as u64;
        assert_eq!(db.len(), live, "{label}");
        assert_check_ok(&db, &label)?;
        // Compact again, so the second round rebuilds from compacted segments only.
        db.compact()?;
        assert_state(&db, 500, want, &format!("{label}, compacted"))?;
    }
    Ok(())
}

/// Bytes of the database's segment and index files.
fn data_bytes(dir: &Path) -> u64 {
    let index: u64 = std::fs::read_dir(dir)
        .expect("the database directory")
        .filter_map(|e| e.ok())
        .filter(|e| e.path().extension().is_some_and(|x| x == "zdx"))
        .map(|e| e.metadata().map_or(0, |m| m.len()))
        .sum();
    util::segment_bytes(dir) + index
}

#[test]
fn an_emptied_database_gives_its_space_back_at_compact() -> TestResult {
    use ziggydb::commands::{Policy, Reply, Session};
    let tmp = util::tempdir();
    let dir = util::db_path(&tmp);
    let db = Db::options().auto_compact(false, 0.5, 0).open(&dir)?;
    write_version(&db, &(0..40_000).collect::<Vec<_>>(), 0, 40, 2_000)?;
    let mut s = Session::new(&db, Policy::trusted());
    let run = |s: &mut Session, words: Vec<String>| {
        let args: Vec<&[u8]> = words.iter().map(|w| w.as_bytes()).collect();
        s.execute(&args)
    };
    // Big collections: their pages go to the reclaim stack when they are deleted.
    for c in 0..3 {
        let mut cmd = vec!["RPUSH".to_string(), format!("list{c}")];
        cmd.extend((0..20_000).map(|i| format!("element-{i}")));
        assert_eq!(run(&mut s, cmd), Reply::Int(20_000));
    }
    let mut cmd = vec!["HSET".to_string(), "hash".to_string()];
    cmd.extend((0..10_000).flat_map(|i| [format!("field-{i}"), format!("value-{i}")]));
    assert_eq!(run(&mut s, cmd), Reply::Int(10_000));
    let full = data_bytes(&dir);
    assert_eq!(run(&mut s, vec!["FLUSHDB".into()]), Reply::ok());
    let stats = db.compact()?;
    let empty = data_bytes(&dir);
    eprintln!("{full} bytes full, {empty} bytes emptied and compacted: {stats:?}");
    assert!(
        empty <= 1 << 20,
        "an emptied database takes {empty} bytes after COMPACT (was {full}): {stats:?}"
    );
    assert!(
        stats.index_bytes_after < stats.index_bytes_before,
        "{stats:?}"
    );
    assert_check_ok(&db, "emptied")?;
    // It works as before: writes grow the index again, and another process reads them.
    write_version(&db, &(0..5_000).collect::<Vec<_>>(), 1, 40, 1_000)?;
    assert_state(&db, 5_000, |i| Some(val(i, 1, 40)), "after the shrink")?;
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_ziggy"))
        .arg("-d")
        .arg(&dir)
        .args(["DBSIZE"])
        .output()?;
    // Not a terminal: printed raw, as redis-cli does.
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "5000");
    Ok(())
}

#[test]
fn an_index_shrunk_by_compact_keeps_every_live_key_for_every_process() -> TestResult {
    let tmp = util::tempdir();
    let dir = util::db_path(&tmp);
    let db = Db::options().auto_compact(false, 0.5, 0).open(&dir)?;
    const N: u32 = 30_000;
    write_version(&db, &(0..N).collect::<Vec<_>>(), 0, 20, 3_000)?;
    // Another process has the database open across the shrink, and reads after it.
    let mut reader = std::process::Command::new(env!("CARGO_BIN_EXE_ziggy"))
        .arg("-d")
        .arg(&dir)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()?;
    let mut stdin = reader.stdin.take().expect("stdin");
    use std::io::Write as _;
    writeln!(stdin, "GET {}", String::from_utf8_lossy(&key(7)))?;
    stdin.flush()?;
    // Its first answer before the deletes (key 7 is one of them): the reader has the
    // database open, and its read of key 7 came first.
    let mut stdout = std::io::BufReader::new(reader.stdout.take().expect("stdout"));
    let mut first = String::new();
    std::io::BufRead::read_line(&mut stdout, &mut first)?;
    let keep = |i: u32| i % 97 == 0;
    for chunk in (0..N)
        .filter(|&i| !keep(i))
        .collect::<Vec<_>>()
        .chunks(3_000)
    {
        db.transaction(|tx| {
            for &i in chunk {
                tx.delete(&key(i))?;
            }
            Ok(())
        })?;
    }
    let stats = db.compact()?;
    assert!(
        stats.index_bytes_after * 4 <= stats.index_bytes_before,
        "the index did not shrink: {stats:?}"
    );
    let want = |i: u32| keep(i).then(|| val(i, 0, 20));
    assert_state(&db, N, want, "after the shrink")?;
    assert_check_ok(&db, "after the shrink")?;
    for i in [0u32, 97, 29_973, 5] {
        writeln!(stdin, "GET {}", String::from_utf8_lossy(&key(i)))?;
    }
    drop(stdin);
    let mut text = first;
    std::io::Read::read_to_string(&mut stdout, &mut text)?;
    reader.wait()?;
    let lines: Vec<&str> = text.lines().collect();
    // Not a terminal: values raw, nil as an empty line, as redis-cli prints them.
    let raw = |i: u32| String::from_utf8_lossy(&val(i, 0, 20)).into_owned();
    assert_eq!(
        lines,
        vec![
            raw(7).as_str(),
            raw(0).as_str(),
            raw(97).as_str(),
            raw(29_973).as_str(),
            ""
        ],
        "{text}"
    );
    // A cold open adopts the shrunk index.
    drop(db);
    std::fs::remove_file(dir.join("ziggy.shm"))?;
    let db = Db::open(&dir)?;
    assert_state(&db, N, want, "cold open")?;
    Ok(())
}
