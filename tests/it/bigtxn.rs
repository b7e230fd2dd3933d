//! Transactions and values larger than a segment (format-spec.md §3.3 large segments, §9.2
//! step 2): a 200 MB transaction on the default options, a value larger than a segment,
//! through another process, a cold open, compaction, CHECK and BACKUP; a writer killed at
//! every step of such a commit (stop points, and at random moments); a full file system part
//! way through one.

use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use ziggydb::{Db, Error, OpenOptions, Value};

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

/// The bytes of a bytes value.
fn bytes_of(v: &Option<Value>) -> Option<&[u8]> {
    match v {
        Some(Value::Bytes(b)) => Some(b),
        _ => None,
    }
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
    // And a transaction of many records, three segments' worth.
    db.transaction(|tx| {
        for i in 0..3000 {
            tx.set(format!("many/{i}"), value(1, 100 + i, 1024))?;
        }
        Ok(())
    })?;
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
    let verify = |d: &Path, when: &str| -> TestResult {
        let db = small(d)?;
        assert_eq!(db.get(b"big")?.as_deref(), Some(&grown[..]), "{when}");
        assert_eq!(db.get(b"edge")?.as_deref(), Some(&edge[..]), "{when}");
        for i in 0..3000 {
            assert_eq!(
                db.get(format!("many/{i}"))?.as_deref(),
                Some(&value(1, 100 + i, 1024)[..]),
                "{when}"
            );
        }
        assert_eq!(db.len(), 3004, "{when}");
        check_ok(&db, when)
    };
    verify(&dir, "after a cold open")?;
    verify(&dest, "in the backup")?;
    // REPAIR rewrites every salvaged transaction, the big ones included.
    let report = ziggydb::repair(&dir)?;
    assert!(
        report.damaged.is_empty() && report.dropped.is_empty(),
        "{report:?}"
    );
    verify(&dir, "after a repair")?;
    // A read-only process (§6.4), once no read-write one has it open.
    assert_eq!(
        ziggy(&dir, &["--read-only"], &["STRLEN", "big"])?,
        grown.len().to_string()
    );
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
        let mut tx = db.begin_write()?;
        for i in 0..CRASH_KEYS {
            tx.set(big_key(i), value(round, i, CRASH_LEN))?;
        }
        report("COMMITTING");
        tx.commit()?;
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
        // Every other round the kill falls while the transaction is built; otherwise from
        // the start of its commit (rotation, append, publish, sync) to after it.
        if round % 2 == 0 {
            child.expect("COMMITTING", LONG);
            std::thread::sleep(Duration::from_millis(rng.range(0, 60)));
        } else {
            std::thread::sleep(Duration::from_millis(rng.range(0, 200)));
        }
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

#[test]
fn readers_in_another_process_never_see_part_of_a_big_transaction() -> TestResult {
    let tmp = util::tempdir();
    let dir = util::db_path(&tmp);
    earlier_commits(&dir)?;
    let db = small(&dir)?;
    let probe: Vec<String> = [0, 7, CRASH_KEYS / 2, CRASH_KEYS - 1]
        .iter()
        .map(|&i| big_key(i))
        .collect();
    let probe: Vec<&[u8]> = probe.iter().map(|k| k.as_bytes()).collect();
    // Which round's values `probe` reads (0: the state before any round), all keys alike.
    let round_seen = |db: &Db| -> TestResult<u64> {
        let got = db.mget(&probe)?;
        let round = (0..=2u64)
            .find(|&r| {
                got.iter()
                    .zip([0, 7, CRASH_KEYS / 2, CRASH_KEYS - 1])
                    .all(|(v, i)| match (r, i) {
                        (0, 7) => {
                            bytes_of(v)
                                == Some(&b"older value of a key the big transaction writes"[..])
                        }
                        (0, _) => v.is_none(),
                        _ => bytes_of(v) == Some(&value(r, i, CRASH_LEN)[..]),
                    })
            })
            .ok_or_else(|| format!("a mix of transactions: {:?}", got))?;
        Ok(round)
    };
    // 1. The writer stops half way through its publish: reads here see all of it (§8).
    let mut child = Child::spawn(
        WRITER_ENTRY,
        WRITER_ROLE,
        &dir,
        &[
            ("BIGTXN_ROUND", "1".to_owned()),
            ("ZIGGY_TEST_STOP", "publish".to_owned()),
        ],
    );
    child.expect("OPEN", LONG);
    let mut polls = 0u64;
    // Before the stop: the state before, then (once the publish began) the transaction's,
    // never back.
    let mut last = 0;
    while !is_stopped(child.id()) {
        let now = round_seen(&db)?;
        assert!(now >= last, "read round {now} after round {last}");
        last = now;
        polls += 1;
        assert!(child.try_status().is_none(), "{}", child.stderr());
    }
    for i in 0..CRASH_KEYS {
        assert!(
            db.get(big_key(i))?.as_deref() == Some(&value(1, i, CRASH_LEN)[..]),
            "{} while the writer is stopped in its publish",
            big_key(i)
        );
    }
    assert_eq!(round_seen(&db)?, 1);
    child.signal(libc::SIGCONT);
    child.finish(LONG)?;
    assert!(all_or_nothing(&db, 1, "after the publish", true)?);
    // 2. Another big commit while this process reads: the old values or the new, never a mix.
    let mut child = Child::spawn(
        WRITER_ENTRY,
        WRITER_ROLE,
        &dir,
        &[("BIGTXN_ROUND", "2".to_owned())],
    );
    let mut seen = [0u64; 3];
    let mut last = 1;
    while child.try_status().is_none() {
        let now = round_seen(&db)?;
        assert!(now >= last, "read round {now} after round {last}");
        last = now;
        seen[now as usize] += 1;
        polls += 1;
    }
    child.finish(LONG)?;
    assert_eq!(round_seen(&db)?, 2);
    assert!(all_or_nothing(&db, 2, "after the second commit", true)?);
    eprintln!("{polls} polls; during the second commit: {seen:?} (round 1, round 2)");
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Power loss

const POWER_ENTRY: &str = "bigtxn::child_big_transactions_until_the_power_fails";
const POWER_ROLE: &str = "bigtxn-powerloss";

/// Child: with the power-loss journal on, and killed at the `ZIGGY_CUT_NTH`th call of kind
/// `ZIGGY_CUT_OP`: six steps, each one commit noted `ACK n` once it returned: three small
/// ones, the big transaction of round 1, a small one, the big one of round 2 (every key
/// again).
#[test]
fn child_big_transactions_until_the_power_fails() {
    use ziggydb::testing::{
        power_loss_note, set_fault_plan, set_power_loss_journal, FaultAction, FaultOp, FaultPlan,
    };
    let Some(dir) = child_role(POWER_ROLE) else {
        return;
    };
    let journal: String = child_param("ZIGGY_JOURNAL");
    let op: String = child_param("ZIGGY_CUT_OP");
    let nth: u64 = child_param("ZIGGY_CUT_NTH");
    set_power_loss_journal(Some(Path::new(&journal))).expect("journal");
    if nth > 0 {
        set_fault_plan(Some(FaultPlan {
            op: if op == "sync" {
                FaultOp::Sync
            } else {
                FaultOp::Write
            },
            nth,
            action: FaultAction::Kill,
            sticky: false,
        }));
    }
    let db = small(&dir).expect("open");
    for step in 1..=6u64 {
        match step {
            4 | 6 => db
                .transaction(|tx| {
                    for i in 0..CRASH_KEYS {
                        tx.set(big_key(i), value(step / 2 - 1, i, CRASH_LEN))?;
                    }
                    Ok(())
                })
                .expect("big commit"),
            _ => db
                .set(format!("s/{step}"), value(50, step, 3000))
                .expect("small commit"),
        }
        power_loss_note(&format!("ACK {step}"));
    }
    drop(db);
    set_fault_plan(None);
    report("PASS");
}

/// Runs the child with a cut at the `nth` call of kind `op` (0: none), cuts the power,
/// reopens and checks: a prefix of the six steps is there, at least every acknowledged one
/// and at most one more, each big transaction whole or not at all. Returns the calls of the
/// run (writes, syncs).
fn cut_and_verify(op: &str, nth: u64) -> TestResult<(u64, u64)> {
    use ziggydb::testing::{power_cut, PowerLossEvent};
    let tmp = util::tempdir();
    let dir = util::db_path(&tmp);
    std::fs::create_dir_all(&dir)?;
    let journal = tmp.path().join("journal");
    let mut child = Child::spawn(
        POWER_ENTRY,
        POWER_ROLE,
        &dir,
        &[
            ("ZIGGY_JOURNAL", journal.display().to_string()),
            ("ZIGGY_CUT_OP", op.to_owned()),
            ("ZIGGY_CUT_NTH", nth.to_string()),
        ],
    );
    let status = child.wait(LONG);
    assert!(
        status.success() || status.signal() == Some(libc::SIGKILL),
        "{op} {nth}: the child died otherwise ({status}): {}",
        child.stderr()
    );
    let cut = power_cut(&journal, &dir)?;
    let acked = cut
        .events
        .iter()
        .filter_map(|e| match e {
            PowerLossEvent::Note(n) => n.strip_prefix("ACK ")?.parse::<u64>().ok(),
            _ => None,
        })
        .max()
        .unwrap_or(0);
    let label = format!("power cut at {op} {nth} (acknowledged {acked})");
    let db = small(&dir).map_err(|e| format!("{label}: reopening failed: {e}"))?;
    // Which round of the big transaction every key holds (0: none); a mix fails.
    let mut round = None;
    for i in 0..CRASH_KEYS {
        let got = db.get(big_key(i))?;
        let r = (0..=2u64)
            .find(|&r| match r {
                0 => got.is_none(),
                _ => got.as_deref() == Some(&value(r, i, CRASH_LEN)[..]),
            })
            .ok_or_else(|| format!("{label}: {} holds something else", big_key(i)))?;
        match round {
            None => round = Some(r),
            Some(seen) if seen != r => {
                return Err(format!("{label}: keys of big rounds {seen} and {r} together").into())
            }
            _ => {}
        }
    }
    let round = round.unwrap_or(0);
    let present = |step: u64| -> TestResult<bool> {
        Ok(match step {
            4 => round >= 1,
            6 => round == 2,
            _ => db.get(format!("s/{step}"))?.as_deref() == Some(&value(50, step, 3000)[..]),
        })
    };
    let mut l = 0;
    while l < 6 && present(l + 1)? {
        l += 1;
    }
    for step in l + 1..=6 {
        assert!(
            !present(step)?,
            "{label}: step {step} without step {}",
            l + 1
        );
    }
    assert!(
        (acked..=acked + 1).contains(&l),
        "{label}: recovered to step {l}"
    );
    assert_eq!(
        db.len(),
        l.min(3) + u64::from(l >= 5) + if round > 0 { CRASH_KEYS } else { 0 },
        "{label}: key count"
    );
    crate::powerloss::check_and_commit(&db, &label)?;
    let [writes, syncs, ..] = cut.calls;
    Ok((writes, syncs))
}

#[test]
fn a_power_cut_at_every_sync_of_big_transactions_loses_nothing_acknowledged() -> TestResult {
    let (writes, syncs) = cut_and_verify("sync", 0)?;
    for n in 1..=syncs {
        cut_and_verify("sync", n)?;
    }
    let stride = (writes / (8 * util::soak())).max(1);
    for n in (1..=writes).step_by(stride as usize) {
        cut_and_verify("write", n)?;
    }
    eprintln!("cut at {syncs} sync points and every {stride}th of {writes} writes");
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
        // The file system full after it: the large segment's reserve still takes a
        // transaction that only deletes (§9.2 step 2), and nothing else.
        let ballast = mnt.join("ballast");
        crate::fullfs::ballast(&ballast, 0)?;
        let r = db.set(b"more", vec![1u8; 64 << 10]);
        assert!(matches!(r, Err(Error::DiskFull { .. })), "{r:?}");
        assert!(db.delete(big_key(599))?, "a delete on the full file system");
        std::fs::remove_file(&ballast)?;
        db.set(big_key(599), value(2, 599, 2048))?;
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
