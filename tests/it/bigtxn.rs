//! Transactions and values larger than a segment (format-spec.md §3.3 large segments, §9.2
//! step 2): a 200 MB transaction on the default options, a value larger than a segment,
//! through another process, a cold open, compaction, CHECK and BACKUP; a writer killed at
//! every step of such a commit (stop points, and at random moments); a full file system part
//! way through one.

use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use ziggydb::{Db, Error, OpenOptions};

use crate::util::{self, child_param, child_role, report, Child, TestResult};

/// Segment size of the crash and full-disk tests: small, so that a transaction of a few MiB
/// is larger than a segment and the tests stay quick.
const SMALL_SEGMENT: u64 = 1 << 20;
const LONG: Duration = Duration::from_secs(120);
const WRITER_ENTRY: &str = "bigtxn::child_commits_a_big_transaction";
const WRITER_ROLE: &str = "bigtxn-writer";
const FULL_ENTRY: &str = "bigtxn::child_on_a_small_tmpfs";
const FULL_ROLE: &str = "bigtxn-fullfs";

/// Value `i` of a transaction, `len` bytes, different for every `i` (and `round`).
fn value(round: u64, i: u64, len: usize) -> Vec<u8> {
    let mut v = format!("{round}/{i}:").into_bytes();
    let mut x = (round << 40 | i).wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    while v.len() < len {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        v.extend_from_slice(&x.to_le_bytes());
    }
    v.truncate(len);
    v
}

/// A cheap value for the 200 MB test (a debug build fills 200 MB several times): its number,
/// then a byte that depends on it.
fn bulk_value(i: u64, len: usize) -> Vec<u8> {
    let mut v = vec![b'a' + (i % 26) as u8; len];
    let tag = format!("{i}:");
    v[..tag.len()].copy_from_slice(tag.as_bytes());
    v
}

fn big_key(i: u64) -> String {
    format!("big/{i:08}")
}

fn small(dir: &Path) -> ziggydb::Result<Db> {
    small_options().open(dir)
}

fn small_options() -> OpenOptions {
    Db::options()
        .segment_size(SMALL_SEGMENT)
        .auto_compact(false, 0.5, 0)
        .active_expiry(None)
}

/// Runs `ziggy -d DIR ARGS` (a process of its own), returning its output.
fn ziggy(dir: &Path, extra: &[&str], args: &[&str]) -> TestResult<String> {
    let out = Command::new(env!("CARGO_BIN_EXE_ziggy"))
        .arg("-d")
        .arg(dir)
        .args(extra)
        .args(args)
        .env_remove("ZIGGY_DIR")
        .env_remove("ZIGGY_TEST_STOP")
        .output()?;
    if !out.status.success() {
        return Err(format!(
            "ziggy {args:?}: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        )
        .into());
    }
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
}

/// The read version (bytes 8..10 of the header) of each segment file in `dir`, with its
/// length.
fn segment_versions(dir: &Path) -> Vec<(u16, u64)> {
    util::segment_files(dir)
        .iter()
        .map(|p| {
            let bytes = std::fs::read(p).expect("segment file reads");
            (u16::from_le_bytes([bytes[8], bytes[9]]), bytes.len() as u64)
        })
        .collect()
}

fn check_ok(db: &Db, when: &str) -> TestResult {
    let r = db.check()?;
    if r.is_ok() {
        Ok(())
    } else {
        Err(format!("check {when}: {:?}", r.problems).into())
    }
}

/// Removes the shared state and the index files, so that the next open is a cold start
/// that rebuilds the index from the segments (as after a reboot without a checkpoint).
fn make_cold(dir: &Path) -> TestResult {
    for p in util::index_files(dir) {
        std::fs::remove_file(p)?;
    }
    std::fs::remove_file(dir.join("ziggy.shm"))?;
    Ok(())
}

#[test]
fn a_200_mb_transaction_commits_on_default_options_and_reads_back() -> TestResult {
    const N: u64 = 50_000;
    const LEN: usize = 4000;
    let tmp = util::tempdir();
    let dir = util::db_path(&tmp);
    let db = Db::open(&dir)?;
    db.set(b"before", b"earlier commit".to_vec())?;
    // 50,000 values of 4,000 bytes: 200 MB in one transaction, three times the default
    // segment size (64 MiB).
    db.transaction(|tx| {
        for i in 0..N {
            tx.set(big_key(i), bulk_value(i, LEN))?;
        }
        Ok(())
    })?;
    let verify = |db: &Db, when: &str| -> TestResult {
        assert_eq!(db.len(), N + 1, "{when}: key count");
        assert_eq!(
            db.get(b"before")?.as_deref(),
            Some(&b"earlier commit"[..]),
            "{when}"
        );
        for i in 0..N {
            let got = db.get(big_key(i))?;
            assert!(
                got.as_deref() == Some(&bulk_value(i, LEN)[..]),
                "{when}: {} reads back wrong ({:?} bytes)",
                big_key(i),
                got.map(|v| v.len())
            );
        }
        Ok(())
    };
    verify(&db, "in the committing process")?;
    // It went to a large segment of its own (read version 3), longer than 64 MiB.
    let large: Vec<_> = segment_versions(&dir)
        .into_iter()
        .filter(|&(_, len)| len > 64 << 20)
        .collect();
    assert_eq!(large.len(), 1, "{:?}", segment_versions(&dir));
    assert_eq!(large[0].0, 3, "a large segment has read version 3");
    assert!(large[0].1 >= 200_000_000);
    check_ok(&db, "after the commit")?;

    // Another process, attached while this one is.
    assert_eq!(ziggy(&dir, &[], &["DBSIZE"])?, (N + 1).to_string());
    let last = big_key(N - 1);
    assert_eq!(ziggy(&dir, &[], &["STRLEN", &last])?, LEN.to_string());
    let got = Command::new(env!("CARGO_BIN_EXE_ziggy"))
        .arg("-d")
        .arg(&dir)
        .args(["--raw", "GET", &last])
        .output()?;
    assert!(got.status.success());
    assert!(
        got.stdout.starts_with(&bulk_value(N - 1, LEN)),
        "GET from another process reads the value"
    );
    drop(db);

    // A cold open that rebuilds the index from the segments.
    make_cold(&dir)?;
    let db = Db::open(&dir)?;
    verify(&db, "after a cold rebuild")?;
    check_ok(&db, "after a cold rebuild")?;

    // Compaction copies it into ordinary segments; a backup copies the lot.
    db.set(b"before", b"earlier commit".to_vec())?;
    db.compact()?;
    verify(&db, "after compaction")?;
    check_ok(&db, "after compaction")?;
    let dest = tmp.path().join("backup");
    db.backup(&dest)?;
    drop(db);
    let copy = Db::open(&dest)?;
    verify(&copy, "in the backup")?;
    check_ok(&copy, "in the backup")?;
    Ok(())
}

#[test]
fn a_value_larger_than_a_segment_is_stored_compacted_and_backed_up() -> TestResult {
    let tmp = util::tempdir();
    let dir = util::db_path(&tmp);
    let db = small(&dir)?;
    db.set(b"small", b"v".to_vec())?;
    // Three segments' worth in one value, and one just over the segment.
    let big = value(1, 1, 3 << 20);
    let edge = value(1, 2, SMALL_SEGMENT as usize);
    db.set(b"big", big.clone())?;
    db.set(b"edge", edge.clone())?;
    db.set(b"after", b"w".to_vec())?;
    assert_eq!(db.get(b"big")?.as_deref(), Some(&big[..]));
    assert_eq!(db.get(b"edge")?.as_deref(), Some(&edge[..]));
    // Grown past the segment by APPEND, as a string.
    db.transaction(|tx| tx.append(b"big", b"-tail").map(drop))?;
    let mut grown = big.clone();
    grown.extend_from_slice(b"-tail");
    assert_eq!(db.get(b"big")?.as_deref(), Some(&grown[..]));
    check_ok(&db, "after the big values")?;
    assert!(
        segment_versions(&dir)
            .iter()
            .any(|&(v, len)| v == 3 && len > 3 << 20),
        "{:?}",
        segment_versions(&dir)
    );
    // Another process with the same options reads it.
    let seg = SMALL_SEGMENT.to_string();
    assert_eq!(
        ziggy(&dir, &["--segment-size", &seg], &["STRLEN", "big"])?,
        grown.len().to_string()
    );
    // The limit of a value is Redis's 512 MiB, refused before anything is built.
    let tx = db.begin_write()?;
    assert!(tx.check_value_size(b"k", 512 << 20).is_ok());
    assert!(matches!(
        tx.check_value_size(b"k", (512 << 20) + 1),
        Err(Error::ValueTooLarge { .. })
    ));
    tx.rollback();

    // Compaction copies the big record into a large output of its own.
    db.set(b"small", b"v2".to_vec())?;
    db.compact()?;
    assert_eq!(db.get(b"big")?.as_deref(), Some(&grown[..]));
    assert_eq!(db.get(b"edge")?.as_deref(), Some(&edge[..]));
    assert_eq!(db.get(b"small")?.as_deref(), Some(&b"v2"[..]));
    check_ok(&db, "after compaction")?;
    assert!(
        segment_versions(&dir)
            .iter()
            .any(|&(v, len)| v == 3 && len > 3 << 20),
        "a compacted large output: {:?}",
        segment_versions(&dir)
    );
    let dest = tmp.path().join("backup");
    db.backup(&dest)?;
    drop(db);
    make_cold(&dir)?;
    for d in [&dir, &dest] {
        let db = small(d)?;
        assert_eq!(db.get(b"big")?.as_deref(), Some(&grown[..]));
        assert_eq!(db.get(b"edge")?.as_deref(), Some(&edge[..]));
        assert_eq!(db.len(), 4);
        check_ok(&db, "after a cold open")?;
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// A writer killed while it commits a big transaction

/// Keys and value length of the big transaction of the crash tests: 2,000 × 2 KiB, about
/// 4 MiB, four segments' worth.
const CRASH_KEYS: u64 = 2000;
const CRASH_LEN: usize = 2048;
const EARLIER: u64 = 600;

/// Child: commits the big transaction of round `BIGTXN_ROUND` and reports `COMMITTED`.
#[test]
fn child_commits_a_big_transaction() {
    let Some(dir) = child_role(WRITER_ROLE) else {
        return;
    };
    let round: u64 = child_param("BIGTXN_ROUND");
    let r = (|| -> TestResult {
        let db = small(&dir)?;
        report("OPEN");
        db.transaction(|tx| {
            for i in 0..CRASH_KEYS {
                tx.set(big_key(i), value(round, i, CRASH_LEN))?;
            }
            Ok(())
        })?;
        report("COMMITTED");
        Ok(())
    })();
    util::end_child(r);
}

/// Commits the data every crash round must keep: `EARLIER` keys over several segments
/// (with an overwrite and a delete), from this process, closed again.
fn earlier_commits(dir: &Path) -> TestResult {
    let db = small(dir)?;
    for i in 0..EARLIER {
        db.set(format!("earlier/{i}"), value(99, i, 3000))?;
    }
    db.set(
        big_key(7),
        b"older value of a key the big transaction writes".to_vec(),
    )?;
    db.delete("earlier/0")?;
    Ok(())
}

/// After a crash: the earlier commits are all there, and the big transaction of `round`
/// entirely or not at all. Returns whether it is there.
/// With `repaired` false, before any process took the writer lock since the kill: reads
/// then answer from the log (§8) while the counters may still be the dead writer's, so the
/// key count is only checked once a writer repaired (§10.1).
fn all_or_nothing(db: &Db, round: u64, when: &str, repaired: bool) -> TestResult<bool> {
    assert!(db.get(b"earlier/0")?.is_none(), "{when}: a delete was lost");
    for i in 1..EARLIER {
        assert!(
            db.get(format!("earlier/{i}"))?.as_deref() == Some(&value(99, i, 3000)[..]),
            "{when}: earlier/{i} was lost"
        );
    }
    let mut present = 0;
    for i in 0..CRASH_KEYS {
        let got = db.get(big_key(i))?;
        if got.as_deref() == Some(&value(round, i, CRASH_LEN)[..]) {
            present += 1;
        } else if i == 7 {
            assert_eq!(
                got.as_deref(),
                Some(&b"older value of a key the big transaction writes"[..]),
                "{when}"
            );
        } else {
            assert!(got.is_none(), "{when}: {} holds {:?}", big_key(i), got);
        }
    }
    assert!(
        present == 0 || present == CRASH_KEYS,
        "{when}: {present} of {CRASH_KEYS} keys of the big transaction are there"
    );
    if repaired {
        assert_eq!(
            db.len(),
            EARLIER - 1 + if present == 0 { 1 } else { CRASH_KEYS },
            "{when}: key count"
        );
        check_ok(db, when)?;
    }
    Ok(present != 0)
}

fn wait_stopped(child: &mut Child, point: &str) -> TestResult {
    let deadline = Instant::now() + LONG;
    while !is_stopped(child.id()) {
        if let Some(status) = child.try_status() {
            return Err(format!(
                "the writer ended ({status}) before stopping at {point}: {}",
                child.stderr()
            )
            .into());
        }
        if Instant::now() > deadline {
            return Err(format!("the writer never stopped at {point}").into());
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    Ok(())
}

/// Whether every thread of process `pid` is stopped (state T).
fn is_stopped(pid: u32) -> bool {
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return false;
    };
    tasks.flatten().all(|t| {
        let stat = std::fs::read_to_string(t.path().join("stat")).unwrap_or_default();
        stat.rfind(')')
            .and_then(|i| stat[i + 1..].trim_start().chars().next())
            .is_some_and(|c| c == 'T' || c == 't')
    })
}

/// Checks the database after the writer of `round` was killed: first in a warm open (the
/// shared state of the dead writer, repaired by the next writer, §10.1), then in a cold
/// open that rebuilds the index from the segments. Both must agree. Then commits again.
fn recovered(dir: &Path, round: u64, when: &str) -> TestResult<bool> {
    let db = small(dir)?;
    let warm = all_or_nothing(&db, round, &format!("{when}, warm"), false)?;
    // Taking the writer lock repairs what the dead writer left (§10.1).
    db.transaction(|_| Ok(()))?;
    let repaired = all_or_nothing(&db, round, &format!("{when}, repaired"), true)?;
    assert_eq!(warm, repaired, "{when}: the repair changed what reads see");
    drop(db);
    make_cold(dir)?;
    let db = small(dir)?;
    let cold = all_or_nothing(&db, round, &format!("{when}, cold"), true)?;
    assert_eq!(warm, cold, "{when}: the warm and the cold open disagree");
    // Still writable, and a big transaction commits after the crash.
    db.transaction(|tx| {
        for i in 0..CRASH_KEYS {
            tx.set(big_key(i), value(round + 1000, i, CRASH_LEN))?;
        }
        Ok(())
    })?;
    assert_eq!(
        db.get(big_key(CRASH_KEYS - 1))?.as_deref(),
        Some(&value(round + 1000, CRASH_KEYS - 1, CRASH_LEN)[..])
    );
    check_ok(&db, &format!("{when}, after a new big commit"))?;
    Ok(warm)
}

#[test]
fn a_writer_killed_at_each_step_of_a_big_commit_leaves_all_or_nothing() -> TestResult {
    // Stop point and whether the transaction is there after the kill: before its COMMIT is
    // written, or written but not published, it is not; once its publish began the next
    // writer finishes it (§10.1).
    let points = [
        ("rotate", false),
        ("bigtxn-rotated", false),
        ("bigtxn-append", false),
        ("bigtxn-appended", false),
        ("publish", true),
    ];
    for (round, (point, expected)) in points.into_iter().enumerate() {
        let round = round as u64 + 1;
        let tmp = util::tempdir();
        let dir = util::db_path(&tmp);
        earlier_commits(&dir)?;
        let mut child = Child::spawn(
            WRITER_ENTRY,
            WRITER_ROLE,
            &dir,
            &[
                ("BIGTXN_ROUND", round.to_string()),
                ("ZIGGY_TEST_STOP", point.to_owned()),
            ],
        );
        child.expect("OPEN", LONG);
        wait_stopped(&mut child, point)?;
        let status = child.kill();
        assert_eq!(status.signal(), Some(libc::SIGKILL), "{point}");
        let present = recovered(&dir, round, &format!("killed at {point}"))?;
        assert_eq!(present, expected, "killed at {point}");
    }
    Ok(())
}

#[test]
fn a_writer_killed_at_random_moments_of_a_big_commit_leaves_all_or_nothing() -> TestResult {
    let mut rng = util::Rng::from_env("bigtxn-kill");
    let rounds = 8 * util::soak();
    let (mut committed, mut lost) = (0, 0);
    for round in 1..=rounds {
        let tmp = util::tempdir();
        let dir = util::db_path(&tmp);
        earlier_commits(&dir)?;
        let mut child = Child::spawn(
            WRITER_ENTRY,
            WRITER_ROLE,
            &dir,
            &[("BIGTXN_ROUND", round.to_string())],
        );
        child.expect("OPEN", LONG);
        // Building the transaction takes a while in a debug build; the kill falls anywhere
        // from there to after the commit.
        std::thread::sleep(Duration::from_millis(rng.range(0, 400)));
        child.kill();
        if recovered(&dir, round, &format!("round {round}"))? {
            committed += 1;
        } else {
            lost += 1;
        }
    }
    eprintln!("{rounds} rounds: {committed} committed, {lost} not");
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// A full file system

/// Child: on a tmpfs of 3 MiB, commits a little, then a big transaction that cannot fit
/// (`DiskFull`, nothing lost), then one that fits; reopens and checks.
#[test]
fn child_on_a_small_tmpfs() {
    let Some(mnt) = child_role(FULL_ROLE) else {
        return;
    };
    let r = (|| -> TestResult {
        crate::fullfs::mount_tmpfs(&mnt, 3 << 10)?;
        let dir = mnt.join("db");
        let db = small(&dir)?;
        for i in 0..100u64 {
            db.set(format!("earlier/{i}"), value(99, i, 3000))?;
        }
        let before = db.len();
        // 4 MiB: more than the file system holds.
        let r = db.transaction(|tx| {
            for i in 0..2048u64 {
                tx.set(big_key(i), value(1, i, 2048))?;
            }
            Ok(())
        });
        match r {
            Err(Error::DiskFull { .. }) => report("FULL"),
            other => return Err(format!("a 4 MiB transaction on 3 MiB gave {other:?}").into()),
        }
        assert_eq!(db.len(), before);
        for i in 0..100u64 {
            assert_eq!(
                db.get(format!("earlier/{i}"))?.as_deref(),
                Some(&value(99, i, 3000)[..])
            );
        }
        assert!(db.get(big_key(0))?.is_none());
        check_ok(&db, "after DiskFull")?;
        // 1.2 MiB, still more than a segment: fits.
        db.transaction(|tx| {
            for i in 0..600u64 {
                tx.set(big_key(i), value(2, i, 2048))?;
            }
            Ok(())
        })?;
        drop(db);
        // Another process reads it, then this one again after a fresh open.
        let seg = SMALL_SEGMENT.to_string();
        assert_eq!(ziggy(&dir, &["--segment-size", &seg], &["DBSIZE"])?, "700");
        let db = small(&dir)?;
        for i in 0..600u64 {
            assert_eq!(db.get(big_key(i))?.as_deref(), Some(&value(2, i, 2048)[..]));
        }
        assert_eq!(db.len(), 700);
        check_ok(&db, "after reopening")?;
        Ok(())
    })();
    util::end_child(r);
}

#[test]
fn a_full_file_system_part_way_through_a_big_transaction_gives_disk_full() -> TestResult {
    let wrapper = crate::fullfs::namespace_wrapper()?;
    let tmp = util::tempdir();
    let mnt = tmp.path().join("fs");
    std::fs::create_dir(&mnt)?;
    let mut child = Child::spawn_wrapped(
        &wrapper,
        FULL_ENTRY,
        FULL_ROLE,
        &mnt,
        &[(
            crate::fullfs::PARENT_NS_VAR,
            crate::fullfs::mount_namespace()?,
        )],
    );
    let lines = child.finish(LONG)?;
    assert!(
        lines.iter().any(|l| l == "FULL"),
        "{lines:?}: {}",
        child.stderr()
    );
    Ok(())
}
