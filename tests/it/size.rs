//! Size on disk after compaction (issue 18 item 5, issue 19 item 4): compaction writes short
//! PUTs (format-spec.md §3.2.1) and an explicit compaction shrinks the index to the smallest
//! that holds the live keys (§4.3), so that a database of the comparison bench's shape takes at
//! most 1.2× its live key and value bytes. Compacted segments of the new form pass CHECK,
//! BACKUP, REPAIR and a cold rebuild, damage in them is found, and a database of format 2 (the
//! golden fixture, whose compacted segment holds 24-byte headers) reads and compacts.

use std::os::unix::fs::MetadataExt;
use std::path::Path;

use ziggydb::{Db, Error, Value};

use crate::util::{self, TestResult};

/// The comparison bench's shape (benches/compare): 24-byte keys, 150-byte values.
const KEY_LEN: usize = 24;
const VALUE_LEN: usize = 150;

fn key(i: u64) -> Vec<u8> {
    format!("{i:0KEY_LEN$}").into_bytes()
}

fn value(i: u64, round: u64) -> Vec<u8> {
    let mut v = format!("{i}:{round}:").into_bytes();
    v.resize(VALUE_LEN, b'a' + (i % 26) as u8);
    v
}

/// Bytes allocated on disk by every file in `dir` (as `du` and the bench count them).
fn disk_bytes(dir: &Path) -> u64 {
    std::fs::read_dir(dir)
        .expect("list the database directory")
        .map(|e| e.expect("a directory entry").metadata().expect("metadata"))
        .map(|m| m.blocks() * 512)
        .sum()
}

/// The bench's sequence at a smaller scale: load `n` keys 1000 per commit, overwrite a
/// quarter of them, delete the first quarter, compact. Returns the live keys.
fn load_like_the_bench(db: &Db, n: u64) -> TestResult<u64> {
    for from in (0..n).step_by(1000) {
        db.transaction(|tx| {
            for i in from..(from + 1000).min(n) {
                tx.set(&key(i), value(i, 0))?;
            }
            Ok(())
        })?;
    }
    for from in (0..n).step_by(4000) {
        db.transaction(|tx| {
            for i in (from..(from + 4000).min(n)).step_by(4) {
                tx.set(&key(i + 1), value(i + 1, 1))?;
            }
            Ok(())
        })?;
    }
    db.transaction(|tx| {
        for i in 0..n / 4 {
            tx.delete(&key(i))?;
        }
        Ok(())
    })?;
    db.compact()?;
    Ok(n - n / 4)
}

#[test]
fn size_after_compaction_is_at_most_1_2_times_the_live_bytes() -> TestResult {
    let tmp = util::tempdir();
    let dir = util::db_path(&tmp);
    let db = Db::options().auto_compact(false, 0.5, 0).open(&dir)?;
    // 45,000 live keys: the index is then about as full as the bench's 375,000 keys leave
    // it (0.69 and 0.72 of its slots), so the ratio is the bench's.
    let live = load_like_the_bench(&db, 60_000)?;
    let live_bytes = live * (KEY_LEN + VALUE_LEN) as u64;
    let segments: u64 = util::segment_files(&dir)
        .iter()
        .map(|p| std::fs::metadata(p).map(|m| m.len()).unwrap_or(0))
        .sum();
    let index: u64 = util::index_files(&dir)
        .iter()
        .map(|p| std::fs::metadata(p).map(|m| m.len()).unwrap_or(0))
        .sum();
    let total = disk_bytes(&dir);
    let ratio = |b: u64| b as f64 / live_bytes as f64;
    eprintln!(
        "live {live_bytes} B; segments {:.3}x, index {:.3}x, directory on disk {:.3}x",
        ratio(segments),
        ratio(index),
        ratio(total)
    );
    // Records: 24-byte headers made these 1.14x; short PUTs of this shape take 9 or 10
    // bytes of header (1.057x).
    assert!(
        ratio(segments) <= 1.08,
        "segments take {:.3}x the live bytes",
        ratio(segments)
    );
    // The index: 65,536 slots of 16 bytes and its header, not the 131,072 that 60,000 keys
    // grew it to.
    assert_eq!(index, 4096 + 16 * 65_536, "index file after compaction");
    assert!(
        ratio(total) <= 1.2,
        "the directory takes {:.3}x the live bytes",
        ratio(total)
    );
    // And every key reads back as written.
    for i in 0..60_000 {
        let want = (i >= 15_000).then(|| value(i, u64::from(i % 4 == 1)));
        assert_eq!(db.get(&key(i))?.map(|v| v.to_vec()), want, "key {i}");
    }
    let report = db.check()?;
    assert!(report.is_ok(), "check: {:?}", report.problems);
    Ok(())
}

/// What a database holds, for comparing before and after.
fn contents(db: &Db) -> TestResult<Vec<(Vec<u8>, String)>> {
    let mut keys = db.keys()?;
    keys.sort();
    let mut out = Vec::new();
    for k in keys {
        // A DUMP payload holds the type and every member, in an order of its own.
        let v = format!("{:?}", db.dump(&k)?);
        let expiry = db.expire_time(&k)?;
        out.push((k, format!("{v} {expiry:?}")));
    }
    Ok(out)
}

/// A database with every kind of record compaction copies: scalars of several types, an
/// expiry, collections (whose pages are internal keys), a big value, overwrites and deletes.
fn varied(db: &Db) -> TestResult {
    for round in 0..3u64 {
        db.transaction(|tx| {
            for i in 0..500u64 {
                tx.set(key(i), value(i, round))?;
            }
            tx.set(b"int", Value::Int(round as i64))?;
            tx.set(b"float", Value::Float(1.5))?;
            Ok(())
        })?;
    }
    db.transaction(|tx| {
        tx.set(b"expiring", "soon")?;
        tx.expire_at(b"expiring", util::now_ms() + 3_600_000)?;
        tx.set(b"big", vec![7u8; 3 << 20])?;
        Ok(())
    })?;
    for i in 0..300u64 {
        db.transaction(|tx| {
            tx.list(b"list").push_back(&[format!("item {i}")])?;
            tx.hash(b"hash").set(&[(format!("f{i}"), value(i, 9))])?;
            Ok(())
        })?;
    }
    db.transaction(|tx| {
        for i in (0..500u64).step_by(3) {
            tx.delete(key(i))?;
        }
        Ok(())
    })?;
    Ok(())
}

/// The compacted segments of `dir` (kind 2 in their header) and the version they carry.
fn compacted_versions(dir: &Path) -> Vec<u16> {
    util::segment_files(dir)
        .iter()
        .filter_map(|p| {
            let b = std::fs::read(p).ok()?;
            (b.get(12) == Some(&2)).then(|| u16::from_le_bytes([b[8], b[9]]))
        })
        .collect()
}

#[test]
fn short_records_pass_check_backup_repair_and_a_cold_rebuild() -> TestResult {
    let tmp = util::tempdir();
    let dir = util::db_path(&tmp);
    let db = Db::options().auto_compact(false, 0.5, 0).open(&dir)?;
    varied(&db)?;
    let before = contents(&db)?;
    let stats = db.compact()?;
    assert!(stats.records_copied > 0, "nothing copied: {stats:?}");
    assert_eq!(contents(&db)?, before, "after compaction");
    // The copies are short PUTs, in segments marked with their version.
    let versions = compacted_versions(&dir);
    assert!(
        !versions.is_empty() && versions.iter().all(|&v| v == 3),
        "{versions:?}"
    );
    let short = util::segment_files(&dir)
        .iter()
        .flat_map(|p| {
            let b = std::fs::read(p).expect("read a segment");
            util::records(&b)
                .into_iter()
                .filter(|r| {
                    b[r.offset + 4] & 0x80 != 0 || b[r.offset + 4] & 0xFC == util::KIND_SHORT_PUT
                })
                .count()
                .checked_add(0)
        })
        .sum::<usize>();
    assert!(short as u64 >= stats.records_copied, "{short} short PUTs");
    let report = db.check()?;
    assert!(report.is_ok(), "check: {:?}", report.problems);
    // Writes after the compaction and a second compaction (short copies of short PUTs).
    db.set(&key(1), "after")?;
    let before = contents(&db)?;
    db.compact()?;
    assert_eq!(contents(&db)?, before, "after a second compaction");
    let report = db.check()?;
    assert!(report.is_ok(), "check: {:?}", report.problems);

    // BACKUP, and the backup opens with the same content.
    let backup = tmp.path().join("backup");
    db.backup(&backup)?;
    drop(db);
    {
        let b = Db::open(&backup)?;
        assert_eq!(contents(&b)?, before, "the backup");
    }

    // A cold open without an index rebuilds it from the short PUTs.
    for f in util::index_files(&dir) {
        std::fs::remove_file(f)?;
    }
    let _ = std::fs::remove_file(dir.join("ziggy.shm"));
    let db = Db::open(&dir)?;
    assert_eq!(contents(&db)?, before, "after a cold rebuild");
    let report = db.check()?;
    assert!(
        report.is_ok(),
        "check after the rebuild: {:?}",
        report.problems
    );
    drop(db);

    // REPAIR of a sound database keeps everything.
    let repaired = ziggydb::repair(&dir)?;
    assert!(
        repaired.is_clean(),
        "repair of a sound database: {repaired:?}"
    );
    let db = Db::open(&dir)?;
    assert_eq!(contents(&db)?, before, "after REPAIR");
    Ok(())
}

#[test]
fn damage_in_a_short_record_is_found() -> TestResult {
    let tmp = util::tempdir();
    let dir = util::db_path(&tmp);
    let db = Db::options().auto_compact(false, 0.5, 0).open(&dir)?;
    varied(&db)?;
    db.compact()?;
    let victim = key(2);
    let (file, rec) = util::find_put(&dir, &victim).ok_or("no PUT of the key")?;
    let bytes = std::fs::read(&file)?;
    assert_ne!(bytes[rec.offset + 4] & 0x80, 0, "not a short PUT");
    // One byte of the value, and then one of the header's varints.
    util::flip_byte(&file, rec.value_offset as u64 + 10);
    match db.get(&victim) {
        Err(Error::ChecksumMismatch { .. }) => {}
        other => return Err(format!("read of a damaged short PUT: {other:?}").into()),
    }
    let report = db.check()?;
    assert!(!report.is_ok(), "check missed a damaged value");
    util::flip_byte(&file, rec.value_offset as u64 + 10);
    util::flip_byte(&file, rec.offset as u64 + 7);
    assert!(db.get(&victim).is_err(), "a damaged length went unnoticed");
    let report = db.check()?;
    assert!(!report.is_ok(), "check missed a damaged header");
    drop(db);
    // REPAIR keeps every other key.
    ziggydb::repair(&dir)?;
    let db = Db::open(&dir)?;
    assert!(db.get(&victim)?.is_none(), "the damaged key came back");
    for i in (0..500u64).filter(|i| i % 3 != 0 && *i != 2) {
        assert_eq!(
            db.get(&key(i))?.map(|v| v.to_vec()),
            Some(value(i, 2)),
            "key {i} after REPAIR"
        );
    }
    Ok(())
}

#[test]
fn a_format_2_database_reads_and_compacts_into_short_records() -> TestResult {
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/v2");
    let tmp = util::tempdir();
    let dir = util::db_path(&tmp);
    std::fs::create_dir_all(&dir)?;
    for e in std::fs::read_dir(&fixture)? {
        let e = e?;
        std::fs::copy(e.path(), dir.join(e.file_name()))?;
    }
    // Its compacted segment holds 24-byte headers, and is version 2.
    assert_eq!(compacted_versions(&dir), vec![2]);
    let db = Db::open(&dir)?;
    let before = contents(&db)?;
    assert!(!before.is_empty());
    db.compact()?;
    assert_eq!(
        contents(&db)?,
        before,
        "after compacting a format-2 database"
    );
    assert!(compacted_versions(&dir).iter().all(|&v| v == 3));
    let report = db.check()?;
    assert!(report.is_ok(), "check: {:?}", report.problems);
    Ok(())
}
