//! Read views (`Db::read_view`, format-spec.md §8.2): reads as of one commit while other
//! processes overwrite, delete, add, rewrite collections and compact; what a view pins, and
//! the bound past which it fails with `SnapshotTooOld`.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use ziggydb::{Db, Error, Read, ReadView, Value};

use crate::util::{
    self, child_param, child_role, end_child, read_command, report, Child, TestResult,
};

/// Plain keys written before the view.
const KEYS: usize = 200;
/// Keys deleted after the view.
const DELETED: usize = 50;
/// Fields of the hash and elements of the list: several pages each.
const ITEMS: usize = 1200;
const LONG: Duration = Duration::from_secs(120);

fn open(dir: &Path) -> ziggydb::Result<Db> {
    // Small segments: the writes below fill many, so compactions have victims.
    Db::options().segment_size(64 << 10).open(dir)
}

fn key(i: usize) -> String {
    format!("k{i:04}")
}

fn field(j: usize) -> String {
    format!("f{j:05}")
}

fn text(v: Option<Value>) -> Option<String> {
    match v {
        Some(Value::String(s)) => Some(s),
        Some(Value::Bytes(b)) => Some(String::from_utf8_lossy(&b).into_owned()),
        other => other.map(|v| format!("{v:?}")),
    }
}

/// Writes generation `r` of everything: plain keys, the hash `h` and the list `l`
/// (generation 0 also the keys the later ones delete; the later ones new keys of their own).
fn write_generation(db: &Db, r: usize) -> ziggydb::Result<()> {
    db.transaction(|tx| {
        for i in 0..KEYS {
            tx.set(key(i), format!("v{r}-{i}"))?;
        }
        for i in 0..DELETED {
            if r == 0 {
                tx.set(format!("d{i}"), i as i64)?;
            } else {
                tx.delete(format!("d{i}"))?;
            }
        }
        if r > 0 {
            for i in 0..20 {
                tx.set(format!("n{r}-{i}"), "new")?;
            }
        }
        Ok(())
    })?;
    if r > 0 && r % 2 == 0 {
        // Deleted whole: its pages go on the reclaim stack and are freed by later commits.
        db.delete(b"h")?;
    }
    db.delete(b"l")?;
    let items: Vec<usize> = (0..ITEMS).collect();
    for chunk in items.chunks(200) {
        db.transaction(|tx| {
            let pairs: Vec<(String, String)> = chunk
                .iter()
                .map(|&j| (field(j), format!("h{r}-{j}")))
                .collect();
            tx.hash(b"h").set(&pairs)?;
            let elems: Vec<String> = chunk.iter().map(|&j| format!("l{r}-{j}")).collect();
            tx.list(b"l").push_back(&elems)?;
            Ok(())
        })?;
    }
    Ok(())
}

/// Checks that `r` reads generation `gen` of everything written by [`write_generation`].
fn check_generation(r: &impl Read, gen: usize, what: &str) -> TestResult {
    for i in 0..KEYS {
        assert_eq!(
            text(r.get(key(i))?),
            Some(format!("v{gen}-{i}")),
            "{what}: key {i}"
        );
    }
    for i in 0..DELETED {
        let want = (gen == 0).then_some(Value::Int(i as i64));
        assert_eq!(r.get(format!("d{i}"))?, want, "{what}: d{i}");
        assert_eq!(r.exists(format!("d{i}"))?, gen == 0, "{what}: d{i} exists");
    }
    for g in 1..8 {
        assert_eq!(
            r.exists(format!("n{g}-0"))?,
            g <= gen && gen > 0,
            "{what}: n{g}-0"
        );
    }
    let h = r.hash_view("h");
    assert_eq!(h.len()?, ITEMS as u64, "{what}: hash length");
    let all = h.get_all()?;
    let want: Vec<(Vec<u8>, Vec<u8>)> = (0..ITEMS)
        .map(|j| (field(j).into_bytes(), format!("h{gen}-{j}").into_bytes()))
        .collect();
    assert!(all == want, "{what}: the hash's fields and values");
    let l = r.list_view("l");
    let want: Vec<Vec<u8>> = (0..ITEMS)
        .map(|j| format!("l{gen}-{j}").into_bytes())
        .collect();
    assert!(l.range(0, -1)? == want, "{what}: the list's elements");
    assert_eq!(r.expiry(key(0))?, None);
    Ok(())
}

/// Writes generations 1..=ROUNDS, compacting after every other one; reports each.
#[test]
fn child_readview_writer() {
    let Some(dir) = child_role("readview-writer") else {
        return;
    };
    let rounds: usize = child_param("ROUNDS");
    end_child((|| -> TestResult {
        let db = open(&dir)?;
        for r in 1..=rounds {
            write_generation(&db, r)?;
            if r % 2 == 0 {
                db.compact()?;
            }
            report(format!("ROUND {r}"));
        }
        Ok(())
    })());
}

/// `ziggy.shm` word 127: processes with read views (format-spec.md §5.1).
fn views_counted(dir: &Path) -> TestResult<u64> {
    use std::os::unix::fs::FileExt;
    let mut b = [0u8; 8];
    std::fs::File::open(dir.join("ziggy.shm"))?.read_exact_at(&mut b, 127 * 8)?;
    Ok(u64::from_le_bytes(b))
}

/// The segment files in `dir`.
fn segments(dir: &Path) -> Vec<PathBuf> {
    util::segment_files(dir)
}

/// The segment files in `dir` that its manifest does not list (format-spec.md §2.1).
fn unlisted(dir: &Path) -> TestResult<Vec<PathBuf>> {
    let m = std::fs::read(dir.join("MANIFEST"))?;
    let count = u32::from_le_bytes(m[12..16].try_into()?) as usize;
    let listed: Vec<String> = (0..count)
        .map(|i| {
            let id = u32::from_le_bytes(m[24 + 8 * i..28 + 8 * i].try_into().unwrap());
            format!("seg-{id:08}.zdb")
        })
        .collect();
    Ok(segments(dir)
        .into_iter()
        .filter(|p| !listed.contains(&util::file_name(p)))
        .collect())
}

#[test]
fn a_view_reads_its_start_while_another_process_writes_deletes_and_compacts() -> TestResult {
    let tmp = util::tempdir();
    let dir = util::db_path(&tmp);
    let db = open(&dir)?;
    write_generation(&db, 0)?;
    let view = db.read_view()?;
    check_generation(&view, 0, "before any write")?;
    const ROUNDS: usize = 6;
    let mut w = Child::spawn(
        "readview::child_readview_writer",
        "readview-writer",
        &dir,
        &[("ROUNDS", ROUNDS.to_string())],
    );
    // Read through the view all the while the other process writes and compacts.
    let mut checks = 0;
    let t0 = Instant::now();
    while w.try_status().is_none() && t0.elapsed() < LONG {
        check_generation(&view, 0, "while the other process writes")?;
        checks += 1;
    }
    w.finish(LONG)?;
    assert!(checks > 0);
    assert!(db.metrics().compactions >= (ROUNDS / 2) as u64);
    // Everything changed since the view began, and compactions moved what stayed.
    check_generation(&db, ROUNDS, "a plain read after the writes")?;
    check_generation(&view, 0, "the view after the writes")?;
    db.compact()?;
    check_generation(&view, 0, "the view after one more compaction")?;
    // A new view reads the newest state.
    let newer = db.read_view()?;
    assert!(newer.txn() > view.txn());
    check_generation(&newer, ROUNDS, "a newer view")?;
    drop(newer);
    drop(view);
    // Once no view is open, a compaction deletes every file the old ones kept.
    assert!(!unlisted(&dir)?.is_empty(), "the view kept no file");
    db.compact()?;
    let report = db.check()?;
    assert!(report.is_ok(), "{:?}", report.problems);
    let left = unlisted(&dir)?;
    assert!(
        left.is_empty(),
        "files left after the views ended: {left:?}"
    );
    Ok(())
}

/// Opens a view, reports READY, and checks it (`CHECK` → `OK`) when asked; never ends by
/// itself.
#[test]
fn child_readview_holder() {
    let Some(dir) = child_role("readview-holder") else {
        return;
    };
    end_child((|| -> TestResult {
        let db = open(&dir)?;
        let view = db.read_view()?;
        report("READY");
        while let Some(cmd) = read_command() {
            if cmd == "CHECK" {
                check_generation(&view, 0, "the holder's view")?;
                report("OK");
            }
        }
        Ok(())
    })());
}

#[test]
fn a_view_of_a_killed_process_pins_nothing_after_the_next_compaction() -> TestResult {
    let tmp = util::tempdir();
    let dir = util::db_path(&tmp);
    let db = open(&dir)?;
    write_generation(&db, 0)?;
    let mut h = Child::spawn(
        "readview::child_readview_holder",
        "readview-holder",
        &dir,
        &[],
    );
    h.expect("READY", LONG);
    write_generation(&db, 1)?;
    write_generation(&db, 2)?;
    let before = segments(&dir);
    assert!(before.len() > 2);
    db.compact()?;
    // The view may read any of them: they stay on disk (unlisted) while it lives.
    for f in &before {
        assert!(f.exists(), "{} was deleted under a live view", f.display());
    }
    h.send("CHECK");
    h.expect("OK", LONG);
    write_generation(&db, 3)?;
    db.compact()?;
    h.send("CHECK");
    h.expect("OK", LONG);
    h.kill();
    assert_eq!(views_counted(&dir)?, 1, "the holder's process is counted");
    // The next compaction finds the view's process gone and deletes what it kept.
    db.compact()?;
    for f in &before {
        assert!(!f.exists(), "{} outlived the killed view", f.display());
    }
    // ... and uncounts it: commits no longer save old versions for it.
    assert_eq!(views_counted(&dir)?, 0, "the dead process is still counted");
    check_generation(&db, 3, "after the holder died")?;
    let report = db.check()?;
    assert!(report.is_ok(), "{:?}", report.problems);
    Ok(())
}

#[test]
fn a_view_held_past_the_ring_gets_snapshot_too_old_and_pins_nothing() -> TestResult {
    let tmp = util::tempdir();
    let dir = util::db_path(&tmp);
    let db = Db::open(&dir)?;
    db.set(b"a", "old")?;
    db.set(b"b", "kept")?;
    let view = db.read_view()?;
    // Up to the ring's length of index changes after it, the view answers.
    const BATCH: u64 = 4096;
    let mut written = 0u64;
    let mut write = |n: u64| -> ziggydb::Result<()> {
        let end = written + n;
        while written < end {
            let upto = (written + BATCH).min(end);
            db.transaction(|tx| {
                for i in written..upto {
                    tx.set(format!("x{i}"), "v")?;
                }
                if written == 0 {
                    tx.set(b"a", "new")?;
                }
                Ok(())
            })?;
            written = upto;
        }
        Ok(())
    };
    write(ReadView::RING - 10)?;
    assert_eq!(text(view.get("a")?), Some("old".into()));
    assert!(!view.exists("x0")?);
    db.compact()?;
    let pinned = segments(&dir);
    write(20)?;
    // Past the bound: a read that needs an older version fails, and says why.
    match view.get("a") {
        Err(e @ Error::SnapshotTooOld { .. }) => {
            assert_eq!(e.name(), "SNAPSHOT_TOO_OLD");
            assert!(e.to_string().contains("too old"), "{e}");
        }
        other => panic!("expected SnapshotTooOld, got {other:?}"),
    }
    assert!(matches!(
        view.exists("x0"),
        Err(Error::SnapshotTooOld { .. })
    ));
    // ... and it no longer keeps what compactions replace, though it is still open.
    db.compact()?;
    db.compact()?;
    for f in &pinned {
        assert!(
            !f.exists(),
            "{} kept for a view past its bound",
            f.display()
        );
    }
    let fresh = db.read_view()?;
    assert_eq!(text(fresh.get("a")?), Some("new".into()));
    assert_eq!(text(fresh.get("b")?), Some("kept".into()));
    drop(view);
    Ok(())
}

#[test]
fn a_view_without_writes_in_between_reads_the_current_state() -> TestResult {
    let tmp = util::tempdir();
    let db = Db::open(util::db_path(&tmp))?;
    let empty = db.read_view()?;
    assert_eq!(empty.txn(), 0);
    assert_eq!(empty.get("a")?, None);
    drop(empty);
    db.set(b"a", 1i64)?;
    let view = db.read_view()?;
    assert_eq!(view.get("a")?, Some(Value::Int(1)));
    assert!(
        view.keys_matching("*").is_err(),
        "a view does not list keys"
    );
    // Views of one thread and of several, at once.
    let views: Vec<ReadView> = (0..8)
        .map(|_| db.read_view())
        .collect::<ziggydb::Result<_>>()?;
    db.set(b"a", 2i64)?;
    std::thread::scope(|s| {
        for v in &views {
            s.spawn(move || assert_eq!(v.get("a").unwrap(), Some(Value::Int(1))));
        }
    });
    assert_eq!(db.get_value(b"a")?, Some(Value::Int(2)));
    Ok(())
}

/// Commits `a` = `b` = new in one transaction, with `ZIGGY_TEST_STOP` set by the test.
#[test]
fn child_readview_stopped_writer() {
    let Some(dir) = child_role("readview-stopped-writer") else {
        return;
    };
    end_child((|| -> TestResult {
        let db = open(&dir)?;
        db.transaction(|tx| {
            tx.set(b"a", "new")?;
            tx.set(b"b", "new")
        })?;
        Ok(())
    })());
}

/// Whether every thread of process `pid` is stopped.
fn is_stopped(pid: u32) -> bool {
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return false;
    };
    let mut any = false;
    let all = tasks.flatten().all(|t| {
        any = true;
        let stat = std::fs::read_to_string(t.path().join("stat")).unwrap_or_default();
        stat.rfind(')')
            .and_then(|i| stat[i + 1..].trim_start().chars().next())
            .is_some_and(|c| c == 'T' || c == 't')
    });
    any && all
}

/// A writer stopped at `point` inside its publish: a view opened before answers the old
/// values without waiting for it, one opened meanwhile the new ones; so after it goes on.
fn views_beside_a_stopped_publish(point: &str) -> TestResult {
    let tmp = util::tempdir();
    let dir = util::db_path(&tmp);
    let db = open(&dir)?;
    db.set(b"a", "old")?;
    db.set(b"b", "old")?;
    let before = db.read_view()?;
    let mut w = Child::spawn(
        "readview::child_readview_stopped_writer",
        "readview-stopped-writer",
        &dir,
        &[("ZIGGY_TEST_STOP", point.to_string())],
    );
    let t0 = Instant::now();
    while !is_stopped(w.id()) {
        assert!(
            w.try_status().is_none(),
            "the writer ended without stopping"
        );
        assert!(t0.elapsed() < LONG, "the writer never stopped at {point}");
        std::thread::sleep(Duration::from_millis(2));
    }
    for k in ["a", "b"] {
        assert_eq!(text(before.get(k)?), Some("old".into()), "{point}: {k}");
        assert_eq!(text(db.get_value(k)?), Some("new".into()), "{point}: {k}");
    }
    let during = db.read_view()?;
    assert_eq!(during.txn(), before.txn() + 1);
    for k in ["a", "b"] {
        assert_eq!(text(during.get(k)?), Some("new".into()), "{point}: {k}");
    }
    w.signal(libc::SIGCONT);
    w.finish(LONG)?;
    db.set(b"a", "newer")?;
    for k in ["a", "b"] {
        assert_eq!(
            text(before.get(k)?),
            Some("old".into()),
            "{point}: {k} after"
        );
        assert_eq!(
            text(during.get(k)?),
            Some("new".into()),
            "{point}: {k} after"
        );
    }
    Ok(())
}

#[test]
fn views_beside_a_writer_stopped_before_it_saved_the_old_values() -> TestResult {
    views_beside_a_stopped_publish("view-undo")
}

#[test]
fn views_beside_a_writer_stopped_half_way_through_its_slots() -> TestResult {
    views_beside_a_stopped_publish("publish")
}
