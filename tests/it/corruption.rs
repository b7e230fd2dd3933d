//! Damage to the files of a database, and failing I/O: damage is detected and reported with
//! the file it is in, a torn tail is ignored, the index is rebuilt, a full disk or a failed
//! fsync is reported and handled.
//!
//! Fault plans are process-wide, so every scenario that installs one runs in a child process
//! of its own and cannot disturb the tests running in parallel in this process.

use std::path::{Path, PathBuf};
use std::time::Duration;

use ziggydb::testing::{set_fault_plan, FaultAction, FaultOp, FaultPlan};
use ziggydb::{Db, Error, Value};

use crate::util::{self, child_role, file_name, report, TestResult};

const LONG: Duration = Duration::from_secs(60);
const ENOSPC: i32 = 28;
const EIO: i32 = 5;

fn k(i: u32) -> Vec<u8> {
    format!("key/{i:05}").into_bytes()
}

fn v(i: u32) -> Value {
    Value::String(format!("value-{i}-{}", "v".repeat((i % 50) as usize)))
}

/// Writes keys `0..n` in transactions of 100.
fn populate(db: &Db, n: u32) -> TestResult {
    for chunk in (0..n).collect::<Vec<_>>().chunks(100) {
        db.transaction(|tx| {
            for &i in chunk {
                tx.set(&k(i), v(i))?;
            }
            Ok(())
        })?;
    }
    Ok(())
}

fn assert_keys(db: &Db, range: std::ops::Range<u32>, label: &str) -> TestResult {
    for i in range {
        assert_eq!(db.get_value(&k(i))?, Some(v(i)), "{label}: key {i}");
    }
    Ok(())
}

fn assert_check_ok(db: &Db, label: &str) -> TestResult {
    let r = db.check()?;
    assert!(r.is_ok(), "{label}: check found {:?}", r.problems);
    Ok(())
}

fn names_file(err_file: &Path, file: &Path) -> bool {
    file_name(err_file) == file_name(file)
}

// ---------------------------------------------------------------------------------------------
// Damaged records

const VICTIM: &[u8] = b"victim";
const VICTIM_VALUE: &str = "the victim's value, long enough to be hit";

/// Writes the victim, then 100 more commits after it; returns the victim's file and record.
fn write_victim(db: &Db, dir: &Path) -> TestResult<(PathBuf, util::RecordInfo)> {
    db.set(VICTIM, VICTIM_VALUE)?;
    for i in 0..100 {
        db.set(&k(i), v(i))?;
    }
    let found = util::find_put(dir, VICTIM).ok_or("no record of the victim in any segment file")?;
    assert_eq!(
        found.1.value_len,
        VICTIM_VALUE.len(),
        "the victim's record as specified"
    );
    Ok(found)
}

#[test]
fn flipped_byte_in_a_record_is_a_checksum_mismatch_naming_the_file() -> TestResult {
    let tmp = util::tempdir();
    let dir = util::db_path(&tmp);
    let db = Db::open(&dir)?;
    let (file, rec) = write_victim(&db, &dir)?;
    util::flip_byte(&file, (rec.value_offset + 5) as u64);
    match db.get(VICTIM) {
        Err(Error::ChecksumMismatch {
            file: f, offset, ..
        }) => {
            assert!(
                names_file(&f, &file),
                "error names {f:?}, damage is in {file:?}"
            );
            assert_eq!(offset, rec.offset as u64, "offset of the damaged record");
        }
        Err(e) => panic!("reading the damaged record gave {e}"),
        Ok(got) => panic!("reading the damaged record gave {got:?}"),
    }
    assert!(
        matches!(
            db.mget(&[&k(1)[..], VICTIM]),
            Err(Error::ChecksumMismatch { .. })
        ),
        "mget of the damaged record is an error too"
    );
    // The damage is not followed: every other key reads fine.
    assert_keys(&db, 0..100, "after the damage")?;
    let r = db.check()?;
    assert!(!r.is_ok(), "check did not notice the damaged record");
    assert!(
        r.problems.iter().any(|p| p.contains(&file_name(&file))),
        "check's problems do not name {}: {:?}",
        file_name(&file),
        r.problems
    );
    // Writing other keys goes on.
    db.set(b"after", "written")?;
    assert_eq!(
        db.get_value(b"after")?,
        Some(Value::String("written".into()))
    );
    Ok(())
}

#[test]
fn flipped_byte_found_after_reopen_is_reported_not_followed() -> TestResult {
    let tmp = util::tempdir();
    let dir = util::db_path(&tmp);
    let (file, rec) = {
        let db = Db::open(&dir)?;
        write_victim(&db, &dir)?
    };
    util::flip_byte(&file, (rec.value_offset + 5) as u64);
    let db = match Db::open(&dir) {
        Ok(db) => db,
        // Recovery may meet the damage while replaying the log: then it must say where.
        Err(Error::CorruptWal { file: f, .. }) | Err(Error::ChecksumMismatch { file: f, .. }) => {
            assert!(
                names_file(&f, &file),
                "error names {f:?}, damage is in {file:?}"
            );
            return Ok(());
        }
        Err(e) => panic!("reopening with a damaged record gave {e}"),
    };
    match db.get(VICTIM) {
        Err(Error::ChecksumMismatch { file: f, .. }) => assert!(names_file(&f, &file)),
        Err(e) => panic!("reading the damaged record gave {e}"),
        Ok(got) => panic!("reading the damaged record gave {got:?}"),
    }
    // Recovery did not treat the damage as the end of the log.
    assert_keys(&db, 0..100, "commits after the damaged record")?;
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Damaged segment headers

fn first_segment_after_populate(dir: &Path) -> TestResult<PathBuf> {
    {
        let db = Db::open(dir)?;
        populate(&db, 500)?;
    }
    let segs = util::segment_files(dir);
    Ok(segs.first().ok_or("no segment file")?.clone())
}

/// How a damaged header is met: `cold` deletes the shared state first (as a reboot would),
/// else the directory is reopened as after a clean close.
fn open_after_damage(dir: &Path, cold: bool) -> Option<Error> {
    if cold {
        std::fs::remove_file(dir.join("ziggy.shm")).expect("remove the shared state");
    }
    match Db::open(dir) {
        Ok(db) => {
            // Not found at open; say whether check() at least finds it.
            let found = db.check().map(|r| r.problems).unwrap_or_default();
            eprintln!("opened despite the damage; check() reports {found:?}");
            None
        }
        Err(e) => Some(e),
    }
}

fn damaged_header_case(cold: bool) -> TestResult {
    let mut failures = Vec::new();
    for (what, offset) in [("magic", 0u64), ("segment id", 16), ("header checksum", 61)] {
        let tmp = util::tempdir();
        let dir = util::db_path(&tmp);
        let seg = first_segment_after_populate(&dir)?;
        util::flip_byte(&seg, offset);
        match open_after_damage(&dir, cold) {
            Some(Error::CorruptSegment { file, .. }) if names_file(&file, &seg) => {}
            Some(e) => failures.push(format!("damaged {what}: open gave {e}")),
            None => failures.push(format!(
                "damaged {what} in {}: open succeeded",
                file_name(&seg)
            )),
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    Ok(())
}

#[test]
fn damaged_segment_header_is_reported_on_open() -> TestResult {
    damaged_header_case(false)
}

#[test]
fn damaged_segment_header_is_reported_on_a_cold_open() -> TestResult {
    damaged_header_case(true)
}

fn newer_version_case(cold: bool) -> TestResult {
    let tmp = util::tempdir();
    let dir = util::db_path(&tmp);
    let seg = first_segment_after_populate(&dir)?;
    let mut header = std::fs::read(&seg)?[..util::SEGMENT_HEADER_LEN].to_vec();
    let stored = u32::from_le_bytes([header[60], header[61], header[62], header[63]]);
    assert_eq!(
        stored,
        util::crc32(&header[..60]),
        "header checksum as specified"
    );
    let version = u16::from_le_bytes([header[8], header[9]]);
    // Version + 1 (3) is a large segment's (format-spec.md §3.3), which this build reads.
    let newer = version + 2;
    header[8..10].copy_from_slice(&newer.to_le_bytes());
    let crc = util::crc32(&header[..60]);
    header[60..64].copy_from_slice(&crc.to_le_bytes());
    util::write_at(&seg, 0, &header);
    match open_after_damage(&dir, cold) {
        Some(Error::IncompatibleVersion {
            file,
            found,
            supported,
        }) => {
            assert!(names_file(&file, &seg), "error names {file:?}");
            assert_eq!(found, newer);
            assert_eq!(
                supported,
                version + 1,
                "this build reads segments up to version 3"
            );
        }
        Some(e) => panic!("a version {newer} segment gave {e}"),
        None => panic!("a version {newer} segment opened"),
    }
    Ok(())
}

#[test]
fn newer_format_version_is_incompatible_on_open() -> TestResult {
    newer_version_case(false)
}

#[test]
fn newer_format_version_is_incompatible_on_a_cold_open() -> TestResult {
    newer_version_case(true)
}

// ---------------------------------------------------------------------------------------------
// A torn tail

#[test]
fn garbage_after_the_last_commit_is_ignored() -> TestResult {
    for kind in ["torn record", "random bytes"] {
        let tmp = util::tempdir();
        let dir = util::db_path(&tmp);
        {
            let db = Db::open(&dir)?;
            populate(&db, 200)?;
            db.set(b"last", "the last commit")?;
        }
        let last_seg = util::segment_files(&dir)
            .last()
            .ok_or("no segment file")?
            .clone();
        let bytes = std::fs::read(&last_seg)?;
        let recs = util::records(&bytes);
        assert!(
            recs.iter().any(|r| r.key == b"last"),
            "{kind}: the last commit is not in the last segment file"
        );
        let end = util::end_of_records(&bytes);
        let garbage = match kind {
            "torn record" => {
                // The first part of a PUT that was never finished.
                let mut g = vec![0xAB, 0xCD, 0xEF, 0x01, 1, 1, 0, 0];
                g.extend_from_slice(&4u16.to_le_bytes());
                g.extend_from_slice(&[0, 0]);
                g.extend_from_slice(&3000u32.to_le_bytes());
                g.extend_from_slice(&u64::MAX.to_le_bytes());
                g.extend_from_slice(b"torn");
                g.extend_from_slice(&[b'T'; 500]);
                g
            }
            _ => {
                let mut rng = util::Rng::new(7);
                let mut g: Vec<u8> = (0..300).map(|_| rng.next_u64() as u8).collect();
                g[4] = 1;
                g
            }
        };
        util::write_at(&last_seg, end as u64, &garbage);
        let db = Db::open(&dir).map_err(|e| format!("{kind}: reopen failed: {e}"))?;
        assert_keys(&db, 0..200, kind)?;
        assert_eq!(
            db.get_value(b"last")?,
            Some(Value::String("the last commit".into()))
        );
        assert!(!db.exists(b"torn")?, "{kind}: a phantom key appeared");
        assert_eq!(db.len(), 201, "{kind}");
        assert_check_ok(&db, kind)?;
        // Later writes work and survive another reopen.
        for i in 200..260 {
            db.set(&k(i), v(i))?;
        }
        drop(db);
        let db = Db::open(&dir)?;
        assert_keys(&db, 0..260, kind)?;
        assert_eq!(db.len(), 261, "{kind}");
        assert_check_ok(&db, kind)?;
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// The index is derived data

#[test]
fn lost_or_damaged_index_is_rebuilt_on_open() -> TestResult {
    for scenario in [
        "index deleted",
        "shared state deleted",
        "index damaged, shared state deleted",
        "index without slot check bytes, shared state deleted",
    ] {
        let tmp = util::tempdir();
        let dir = util::db_path(&tmp);
        {
            let db = Db::open(&dir)?;
            populate(&db, 3000)?;
            for i in (0..3000).step_by(10) {
                db.delete(&k(i))?;
            }
            db.set(&k(5), "overwritten")?;
        }
        let idx = util::index_files(&dir);
        assert!(!idx.is_empty(), "{scenario}: no index file was written");
        let shm = dir.join("ziggy.shm");
        match scenario {
            "index deleted" => {
                for f in &idx {
                    std::fs::remove_file(f)?;
                }
            }
            "shared state deleted" => std::fs::remove_file(&shm)?,
            "index without slot check bytes, shared state deleted" => {
                // As an index written before slots had check bytes looks: header word 16
                // (slot_format) zero, and the header sealed again, so it is clean.
                let f = idx.last().ok_or("no index file")?;
                let mut head = std::fs::read(f)?[..512].to_vec();
                head[16 * 8..17 * 8].fill(0);
                let mut crc = crc32fast::Hasher::new();
                for w in (0..64).filter(|&w| w != 13) {
                    crc.update(&head[w * 8..w * 8 + 8]);
                }
                head[13 * 8..14 * 8].copy_from_slice(&u64::from(crc.finalize()).to_le_bytes());
                util::write_at(f, 0, &head);
                std::fs::remove_file(&shm)?;
            }
            _ => {
                for f in &idx {
                    let len = std::fs::metadata(f)?.len();
                    let mut rng = util::Rng::new(3);
                    let junk: Vec<u8> = (0..len).map(|_| rng.next_u64() as u8).collect();
                    util::write_at(f, 0, &junk);
                }
                std::fs::remove_file(&shm)?;
            }
        }
        let db = Db::open(&dir).map_err(|e| format!("{scenario}: reopen failed: {e}"))?;
        if scenario.starts_with("index without") {
            // Not adopted but rebuilt, into a new generation.
            assert_ne!(
                util::index_files(&dir),
                idx,
                "{scenario}: the index was adopted"
            );
        }
        for i in 0..3000 {
            let want = if i == 5 {
                Some(Value::String("overwritten".into()))
            } else if i % 10 == 0 {
                None
            } else {
                Some(v(i))
            };
            assert_eq!(db.get_value(&k(i))?, want, "{scenario}: key {i}");
        }
        assert_eq!(db.len(), 2700, "{scenario}");
        assert_check_ok(&db, scenario)?;
        assert!(
            !util::index_files(&dir).is_empty(),
            "{scenario}: the index was not written again"
        );
        db.set(b"after", 1i64)?;
        drop(db);
        let db = Db::open(&dir)?;
        assert_eq!(db.get_value(b"after")?, Some(Value::Int(1)), "{scenario}");
        assert_eq!(db.len(), 2701, "{scenario}");
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// A full disk and a failed fsync (each in a child process: fault plans are process-wide)

fn fail_plan(op: FaultOp, errno: i32, sticky: bool) -> Option<FaultPlan> {
    Some(FaultPlan {
        op,
        nth: 1,
        action: FaultAction::Fail(errno),
        sticky,
    })
}

fn disk_full_on_write(dir: &Path) -> TestResult {
    let db = Db::open(dir)?;
    populate(&db, 100)?;
    set_fault_plan(fail_plan(FaultOp::Write, ENOSPC, true));
    let r = db.transaction(|tx| {
        tx.set(&k(0), "changed")?;
        tx.set(b"lost", 1i64)
    });
    assert!(
        matches!(r, Err(Error::DiskFull { .. })),
        "commit on a full disk gave {r:?}"
    );
    let r = db.set(b"lost-too", 2i64);
    assert!(
        matches!(r, Err(Error::DiskFull { .. })),
        "second commit gave {r:?}"
    );
    assert_keys(&db, 0..100, "while the disk is full")?;
    assert_eq!(db.mget(&[b"lost", b"lost-too"])?, vec![None, None]);
    set_fault_plan(None);
    db.set(b"after", 3i64)?;
    db.set(&k(0), "changed")?;
    assert_eq!(db.get_value(&k(0))?, Some(Value::String("changed".into())));
    assert_keys(&db, 1..100, "after space returned")?;
    drop(db);
    let db = Db::open(dir)?;
    assert_eq!(db.mget(&[b"lost", b"lost-too"])?, vec![None, None]);
    assert_eq!(db.get_value(b"after")?, Some(Value::Int(3)));
    assert_check_ok(&db, "reopened after a full disk")?;
    Ok(())
}

#[test]
fn child_disk_full_on_write() {
    let Some(dir) = child_role("disk-full-write") else {
        return;
    };
    disk_full_on_write(&dir).expect("scenario");
    report("PASS");
}

#[test]
fn full_disk_on_write_fails_the_commit_and_keeps_the_database_usable() -> TestResult {
    let tmp = util::tempdir();
    let dir = util::db_path(&tmp);
    util::run_child_to_success(
        "corruption::child_disk_full_on_write",
        "disk-full-write",
        &dir,
        LONG,
    );
    let db = Db::open(&dir)?;
    assert_eq!(db.get_value(&k(0))?, Some(Value::String("changed".into())));
    assert_keys(&db, 1..100, "in a fresh process")?;
    assert_eq!(db.get_value(b"lost")?, None);
    Ok(())
}

fn disk_full_on_allocate(dir: &Path) -> TestResult {
    let db = Db::options().segment_size(64 << 10).open(dir)?;
    populate(&db, 50)?;
    set_fault_plan(fail_plan(FaultOp::Allocate, ENOSPC, true));
    let big = |i: u32| vec![(i % 251) as u8; 4096];
    let mut failed_at = None;
    for i in 0..200u32 {
        match db.set(format!("big/{i}").as_bytes(), big(i)) {
            Ok(()) => {}
            Err(Error::DiskFull { .. }) => {
                failed_at = Some(i);
                break;
            }
            Err(e) => panic!("commit {i} failed with {e}, not DiskFull"),
        }
    }
    let failed_at =
        failed_at.ok_or("800 KiB written into 64 KiB segments, and no allocation failed")?;
    assert!(!db.exists(format!("big/{failed_at}").as_bytes())?);
    for i in 0..failed_at {
        assert_eq!(
            db.get(format!("big/{i}").as_bytes())?.as_deref(),
            Some(&big(i)[..]),
            "big/{i} written before the disk filled"
        );
    }
    assert_keys(&db, 0..50, "while the disk is full")?;
    set_fault_plan(None);
    for i in failed_at..failed_at + 40 {
        db.set(format!("big/{i}").as_bytes(), big(i))?;
    }
    drop(db);
    let db = Db::open(dir)?;
    for i in 0..failed_at + 40 {
        assert_eq!(
            db.get(format!("big/{i}").as_bytes())?.as_deref(),
            Some(&big(i)[..]),
            "big/{i} after reopen"
        );
    }
    assert_keys(&db, 0..50, "after reopen")?;
    assert_check_ok(&db, "reopened after a full disk")?;
    report(format!("FAILED_AT {failed_at}"));
    Ok(())
}

#[test]
fn child_disk_full_on_allocate() {
    let Some(dir) = child_role("disk-full-allocate") else {
        return;
    };
    disk_full_on_allocate(&dir).expect("scenario");
    report("PASS");
}

#[test]
fn full_disk_when_growing_a_segment_fails_the_commit_only() -> TestResult {
    let tmp = util::tempdir();
    let dir = util::db_path(&tmp);
    util::run_child_to_success(
        "corruption::child_disk_full_on_allocate",
        "disk-full-allocate",
        &dir,
        LONG,
    );
    let db = Db::open(&dir)?;
    assert_keys(&db, 0..50, "in a fresh process")?;
    assert_check_ok(&db, "in a fresh process")?;
    Ok(())
}

fn fsync_eio(dir: &Path) -> TestResult {
    let db = Db::open(dir)?;
    db.set(b"a", 1i64)?;
    set_fault_plan(fail_plan(FaultOp::Sync, EIO, false));
    let r = db.set(b"b", 2i64);
    match &r {
        Err(Error::Io { source, .. }) => assert_eq!(source.raw_os_error(), Some(EIO)),
        Err(Error::Poisoned) => {}
        other => panic!("a commit whose fsync failed gave {other:?}"),
    }
    // The plan failed one fsync only; the handle must still refuse to commit.
    let r = db.set(b"c", 3i64);
    assert!(
        matches!(r, Err(Error::Poisoned)),
        "a commit after a failed fsync gave {r:?}"
    );
    let r = db.begin_write().and_then(|mut tx| {
        tx.set(b"d", 4i64)?;
        tx.commit()
    });
    assert!(
        matches!(r, Err(Error::Poisoned)),
        "a transaction after a failed fsync gave {r:?}"
    );
    assert_eq!(db.get_value(b"a")?, Some(Value::Int(1)), "reads still work");
    set_fault_plan(None);
    Ok(())
}

#[test]
fn child_fsync_eio() {
    let Some(dir) = child_role("fsync-eio") else {
        return;
    };
    fsync_eio(&dir).expect("scenario");
    report("PASS");
}

#[test]
fn failed_fsync_poisons_the_handle() -> TestResult {
    let tmp = util::tempdir();
    let dir = util::db_path(&tmp);
    util::run_child_to_success("corruption::child_fsync_eio", "fsync-eio", &dir, LONG);
    // A new process starts from what is on disk.
    let db = Db::open(&dir)?;
    assert_eq!(db.get_value(b"a")?, Some(Value::Int(1)));
    assert_eq!(db.mget(&[b"c", b"d"])?, vec![None, None]);
    assert_check_ok(&db, "after the failed fsync")?;
    db.set(b"e", 5i64)?;
    assert_eq!(db.get_value(b"e")?, Some(Value::Int(5)));
    Ok(())
}
