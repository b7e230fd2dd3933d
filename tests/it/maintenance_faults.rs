//! ENOSPC and EIO at every I/O call of the maintenance operations, one call at a time:
//! `Db::backup` into a fresh destination, and `repair` of a database with a damaged segment.
//! For each N = 1, 2, 3, … and each errno, a plan fails the Nth call of the seam
//! (`FaultOp::Any`) once, until the operation runs without reaching call N.
//!
//! Backup, for each N: the backup returns `DiskFull` (ENOSPC) or `Io`/`Poisoned` (EIO), and
//! the destination is gone; or, if it returns Ok (a fault the final close absorbs), the
//! destination opens, passes `check` and holds every key of the source. In both cases the
//! source's files are byte for byte as before, it holds every key, passes `check` and takes
//! a commit, and a backup into the same destination then succeeds with every key.
//!
//! Repair, for each N, on a fresh copy of one damaged database (a byte flipped in the value
//! of one key of its oldest segment): the repair returns the same errors, or Ok only if the
//! fault was absorbed and the repair is complete. Afterwards the directory holds either the
//! original files, byte for byte, or a completed repair (opens, passes `check`, every intact
//! key with its value and nothing else). A repair run again without a fault then succeeds:
//! it finds the damage again if the first left the original, reports nothing if the first
//! completed, keeps the files it found aside byte for byte, and salvages every intact key.
//!
//! Fault plans are process-wide, so all of this runs in a child process, on tmpfs where
//! there is one.

use std::collections::BTreeMap;
use std::panic::AssertUnwindSafe;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use ziggydb::testing::{fault_plan_calls, set_fault_plan, FaultAction, FaultOp, FaultPlan};
use ziggydb::{Db, RepairReport, Value};

use crate::faults::{errno_name, expected_error, scratch_root, EIO, ENOSPC};
use crate::repair::{all_records, assert_kept_aside, contents, originals, small, Held};
use crate::util::{self, child_role, report, Child, TestResult};

const ENTRY: &str = "maintenance_faults::child_maintenance_faults";
const ROLE: &str = "maintenance-faults";
/// The key whose only record is damaged in the repair cases.
const VICTIM: &[u8] = b"k-001";

type Contents = BTreeMap<Vec<u8>, Held>;

fn plan(n: u64, errno: i32) -> Option<FaultPlan> {
    Some(FaultPlan {
        op: FaultOp::Any,
        nth: n,
        action: FaultAction::Fail(errno),
        sticky: false,
    })
}

/// A database over a few 64 KiB segments: scalars, deletions, and a list and a hash of
/// several tree pages each.
fn fill(dir: &Path) -> TestResult<Db> {
    let db = small(dir)?;
    for i in 0..40u32 {
        let fill = b'a' + (i % 26) as u8;
        db.set(format!("k-{i:03}").as_bytes(), vec![fill; 3000])?;
    }
    db.transaction(|tx| {
        let items: Vec<Vec<u8>> = (0..400u32).map(|i| format!("e{i}").into_bytes()).collect();
        tx.list(b"list").push_back(&items)?;
        let fields: Vec<(Vec<u8>, Vec<u8>)> = (0..200u32)
            .map(|i| (format!("f{i}").into_bytes(), vec![b'v'; 10]))
            .collect();
        tx.hash(b"hash").set(&fields)?;
        Ok(())
    })?;
    for i in (10..40u32).step_by(7) {
        db.delete(format!("k-{i:03}").as_bytes())?;
    }
    db.set(b"n", 42i64)?;
    db.transaction(|tx| tx.set_with_expiry(b"ttl", "later", Some(util::now_ms() + 3_600_000)))?;
    Ok(db)
}

/// Opens `dir`, checks it and returns what it holds.
fn open_checked(dir: &Path) -> TestResult<Contents> {
    let db = small(dir)?;
    let r = db.check()?;
    if !r.is_ok() {
        return Err(format!("check: {:?}", r.problems).into());
    }
    contents(&db)
}

/// What differs between two sets of files (names only, and a count).
fn file_diff(before: &BTreeMap<String, Vec<u8>>, after: &BTreeMap<String, Vec<u8>>) -> String {
    let gone: Vec<&String> = before.keys().filter(|k| !after.contains_key(*k)).collect();
    let new: Vec<&String> = after.keys().filter(|k| !before.contains_key(*k)).collect();
    let changed: Vec<&String> = before
        .iter()
        .filter(|(k, v)| after.get(*k).is_some_and(|w| w != *v))
        .map(|(k, _)| k)
        .collect();
    format!("gone {gone:?}, new {new:?}, changed {changed:?}")
}

fn describe(d: &Contents, want: &Contents) -> String {
    let missing: Vec<String> = want
        .keys()
        .filter(|k| !d.contains_key(*k))
        .take(5)
        .map(|k| String::from_utf8_lossy(k).into_owned())
        .collect();
    let extra: Vec<String> = d
        .keys()
        .filter(|k| !want.contains_key(*k))
        .take(5)
        .map(|k| String::from_utf8_lossy(k).into_owned())
        .collect();
    let wrong: Vec<String> = d
        .iter()
        .filter(|(k, v)| want.get(*k).is_some_and(|w| w != *v))
        .take(5)
        .map(|(k, _)| String::from_utf8_lossy(k).into_owned())
        .collect();
    format!(
        "{} keys, not {}: missing {missing:?}, extra {extra:?}, different {wrong:?}",
        d.len(),
        want.len()
    )
}

/// Runs `f`, turning a panic (an assertion of a shared helper) into an error.
fn guarded(what: &str, f: impl FnOnce()) -> TestResult {
    std::panic::catch_unwind(AssertUnwindSafe(f)).map_err(|p| {
        let msg = p
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| p.downcast_ref::<&str>().map(|s| (*s).to_owned()))
            .unwrap_or_default();
        format!("{what}: {msg}").into()
    })
}

#[derive(Default)]
struct Tally {
    /// Fault points reached, per operation and errno.
    points: BTreeMap<String, u64>,
    /// Outcomes, per operation: what the call returned and what the directory held.
    outcomes: BTreeMap<String, u64>,
    keys_checked: u64,
}

impl Tally {
    fn point(&mut self, op: &str, errno: i32) {
        *self
            .points
            .entry(format!("{op}/{}", errno_name(errno)))
            .or_default() += 1;
    }
    fn outcome(&mut self, op: &str, what: &str) {
        *self.outcomes.entry(format!("{op}: {what}")).or_default() += 1;
    }
}

/// Checks that `dest` is a complete copy holding `model`.
fn check_copy(dest: &Path, model: &Contents) -> TestResult<u64> {
    let got = open_checked(dest)?;
    if got != *model {
        return Err(format!("the copy: {}", describe(&got, model)).into());
    }
    Ok(got.len() as u64)
}

fn backup_every_call(root: &Path, tally: &mut Tally) -> TestResult {
    let src = root.join("source");
    let db = fill(&src)?;
    let segments = util::segment_files(&src).len();
    if segments < 2 {
        return Err(format!("the source has {segments} segments").into());
    }
    let mut model = contents(&db)?;
    for errno in [EIO, ENOSPC] {
        let name = errno_name(errno);
        let mut n = 1;
        loop {
            let ctx = |msg: String| format!("backup N={n} {name}: {msg}");
            let dest = root.join(format!("backup-{name}-{n}"));
            let kept = originals(&src);
            set_fault_plan(plan(n, errno));
            let r = db.backup(&dest);
            let reached = fault_plan_calls() >= n;
            set_fault_plan(None);
            if !reached {
                // Every call of the backup has been failed once: without a fault it works.
                let stats = r.map_err(|e| ctx(format!("without a fault: {e:?}")))?;
                tally.keys_checked += check_copy(&dest, &model).map_err(|e| ctx(e.to_string()))?;
                if stats.keys != model.len() as u64 || stats.segments < 2 {
                    return Err(ctx(format!("stats {stats:?}")).into());
                }
                std::fs::remove_dir_all(&dest)?;
                break;
            }
            tally.point("backup", errno);
            match r {
                Err(e) => {
                    if !expected_error(&e, errno) {
                        return Err(ctx(format!("returned {e:?}")).into());
                    }
                    if dest.exists() {
                        let left: Vec<String> = std::fs::read_dir(&dest)?
                            .filter_map(Result::ok)
                            .map(|e| e.file_name().to_string_lossy().into_owned())
                            .collect();
                        return Err(ctx(format!(
                            "failed with {e}, and left the destination behind holding {left:?}"
                        ))
                        .into());
                    }
                    tally.outcome("backup", "error, destination removed");
                }
                Ok(stats) => {
                    // Only a fault the closing of the copy absorbs (its index checkpoint)
                    // may leave the backup successful: the copy must then be whole.
                    tally.keys_checked += check_copy(&dest, &model)
                        .map_err(|e| ctx(format!("returned Ok, but {e}")))?;
                    if stats.keys != model.len() as u64 {
                        return Err(ctx(format!("returned Ok with {stats:?}")).into());
                    }
                    tally.outcome("backup", "ok (fault absorbed), copy complete");
                    std::fs::remove_dir_all(&dest)?;
                }
            }
            // The source: untouched, whole, and writable.
            let now = originals(&src);
            if now != kept {
                return Err(ctx(format!("the source's files: {}", file_diff(&kept, &now))).into());
            }
            let held = contents(&db)?;
            if held != model {
                return Err(ctx(format!("the source: {}", describe(&held, &model))).into());
            }
            let r = db.check()?;
            if !r.is_ok() {
                return Err(ctx(format!("check of the source: {:?}", r.problems)).into());
            }
            tally.keys_checked += model.len() as u64;
            db.set(b"probe", n as i64)
                .map_err(|e| ctx(format!("a commit to the source: {e:?}")))?;
            model.insert(b"probe".to_vec(), Held::Scalar(Value::Int(n as i64), None));
            // With the fault gone, a backup into the same destination works.
            let stats = db
                .backup(&dest)
                .map_err(|e| ctx(format!("the backup again: {e:?}")))?;
            tally.keys_checked +=
                check_copy(&dest, &model).map_err(|e| ctx(format!("the backup again: {e}")))?;
            if stats.keys != model.len() as u64 {
                return Err(ctx(format!("the backup again: {stats:?}")).into());
            }
            std::fs::remove_dir_all(&dest)?;
            n += 1;
        }
    }
    Ok(())
}

/// Builds the damaged database in `dir`; returns every intact key and what it holds.
fn damaged(dir: &Path) -> TestResult<Contents> {
    let db = fill(dir)?;
    let mut intact = contents(&db)?;
    drop(db);
    let recs: Vec<_> = all_records(dir)
        .into_iter()
        .filter(|r| r.kind == 1 && !r.internal && r.key == VICTIM)
        .collect();
    let [rec] = &recs[..] else {
        return Err(format!("{} records of the victim", recs.len()).into());
    };
    if rec.file != util::segment_files(dir)[0] {
        return Err("the victim is not in the first segment".into());
    }
    util::flip_byte(&rec.file, (rec.value_offset + 100) as u64);
    intact.remove(VICTIM).ok_or("no victim")?;
    Ok(intact)
}

/// Copies every file of `from` (a closed database) into a new directory `to`.
fn copy_db(from: &Path, to: &Path) -> TestResult {
    std::fs::create_dir(to)?;
    for e in std::fs::read_dir(from)? {
        let e = e?;
        if e.file_type()?.is_file() {
            std::fs::copy(e.path(), to.join(e.file_name()))?;
        }
    }
    Ok(())
}

/// The directories a repair makes in `dir` (`repair-*.tmp`, `damaged-*`).
fn repair_dirs(dir: &Path, prefix: &str) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .expect("list")
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.is_dir() && util::file_name(p).starts_with(prefix))
        .collect();
    v.sort();
    v
}

/// Checks a repair's report against what it found: the originals kept aside byte for byte,
/// the damage found (or none), every intact key recovered.
fn check_report(
    r: &RepairReport,
    found: &BTreeMap<String, Vec<u8>>,
    damage: bool,
    intact: &Contents,
) -> TestResult {
    guarded("the originals kept aside", || assert_kept_aside(r, found))?;
    if damage {
        if !r.keys_in_damaged_records.iter().any(|k| k == VICTIM) || r.damaged.is_empty() {
            return Err(format!("the damage is not reported: {r}").into());
        }
    } else if !r.is_clean() {
        return Err(format!("damage reported in a repaired database: {r}").into());
    }
    if r.keys_recovered != intact.len() as u64 {
        return Err(format!(
            "{} keys recovered, not {}: {r}",
            r.keys_recovered,
            intact.len()
        )
        .into());
    }
    Ok(())
}

fn repair_every_call(root: &Path, tally: &mut Tally) -> TestResult {
    let template = root.join("damaged");
    let intact = damaged(&template)?;
    for errno in [EIO, ENOSPC] {
        let name = errno_name(errno);
        let mut n = 1;
        loop {
            let ctx = |msg: String| format!("repair N={n} {name}: {msg}");
            let dir = root.join(format!("repair-{name}-{n}"));
            copy_db(&template, &dir)?;
            let kept = originals(&dir);
            set_fault_plan(plan(n, errno));
            let r = ziggydb::repair(&dir);
            let reached = fault_plan_calls() >= n;
            set_fault_plan(None);
            let done = match r {
                Ok(report) => {
                    check_report(&report, &kept, true, &intact).map_err(|e| {
                        ctx(format!("returned Ok (fault reached: {reached}), but {e}"))
                    })?;
                    true
                }
                Err(e) => {
                    if !reached || !expected_error(&e, errno) {
                        return Err(
                            ctx(format!("returned {e:?} (fault reached: {reached})")).into()
                        );
                    }
                    false
                }
            };
            if !reached {
                // Every call of the repair has been failed once: without a fault it works.
                tally.keys_checked += check_repaired(&dir, &intact).map_err(ctx)? as u64;
                std::fs::remove_dir_all(&dir)?;
                break;
            }
            tally.point("repair", errno);
            let now = originals(&dir);
            let left_tmp = !repair_dirs(&dir, "repair-").is_empty();
            let left_aside = !repair_dirs(&dir, "damaged-").is_empty();
            let state = if now == kept {
                if done {
                    return Err(ctx("returned Ok and left the original files".into()).into());
                }
                "original kept"
            } else {
                check_repaired(&dir, &intact).map_err(|e| {
                    ctx(format!(
                        "returned {}; the directory holds neither the original files ({}) \
                         nor a completed repair ({e})",
                        if done { "Ok" } else { "an error" },
                        file_diff(&kept, &now)
                    ))
                })?;
                tally.keys_checked += intact.len() as u64;
                "repair completed"
            };
            if left_tmp {
                return Err(ctx(format!(
                    "{state}, {} left behind after it returned {}",
                    util::file_name(&repair_dirs(&dir, "repair-")[0]),
                    if done { "Ok" } else { "an error" }
                ))
                .into());
            }
            tally.outcome(
                "repair",
                &format!(
                    "{}, {state}{}",
                    if done { "ok (fault absorbed)" } else { "error" },
                    if left_aside && !done {
                        ", originals also linked under damaged-*"
                    } else {
                        ""
                    }
                ),
            );
            // Again, with no fault: it completes and salvages every intact key.
            let found = originals(&dir);
            let again = ziggydb::repair(&dir).map_err(|e| ctx(format!("repair again: {e:?}")))?;
            check_report(&again, &found, state == "original kept", &intact)
                .map_err(|e| ctx(format!("repair again: {e}")))?;
            tally.keys_checked += check_repaired(&dir, &intact)
                .map_err(|e| ctx(format!("after the repair again: {e}")))?
                as u64;
            std::fs::remove_dir_all(&dir)?;
            n += 1;
        }
    }
    Ok(())
}

/// Checks that `dir` holds a completed repair: it opens, passes `check`, and holds exactly
/// the intact keys.
fn check_repaired(dir: &Path, intact: &Contents) -> Result<usize, String> {
    let got = open_checked(dir).map_err(|e| e.to_string())?;
    if got != *intact {
        return Err(describe(&got, intact));
    }
    Ok(got.len())
}

fn every_call() -> TestResult {
    let root = scratch_root();
    let mut tally = Tally::default();
    let start = Instant::now();
    backup_every_call(root.path(), &mut tally)?;
    let backup_secs = start.elapsed().as_secs_f64();
    repair_every_call(root.path(), &mut tally)?;
    let points: Vec<String> = tally
        .points
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect();
    report(format!(
        "POINTS {} KEYS_CHECKED {} SECS {:.1} (backup {backup_secs:.1})",
        points.join(","),
        tally.keys_checked,
        start.elapsed().as_secs_f64()
    ));
    for (what, count) in &tally.outcomes {
        report(format!("OUTCOME {count} x {what}"));
    }
    Ok(())
}

#[test]
fn child_maintenance_faults() {
    if child_role(ROLE).is_none() {
        return;
    }
    util::end_child(every_call());
}

#[test]
fn enospc_and_eio_at_every_io_call_of_backup_and_repair() -> TestResult {
    let tmp = util::tempdir();
    let dir = util::db_path(&tmp);
    let mut child = Child::spawn(ENTRY, ROLE, &dir, &[]);
    let lines = child.finish(Duration::from_secs(300))?;
    for l in &lines {
        eprintln!("{l}");
    }
    let figures = lines
        .iter()
        .find(|l| l.starts_with("POINTS "))
        .ok_or("no figures from the child")?;
    // Each operation reaches the seam many times (every segment copied or commit salvaged,
    // the manifest, the copy's or the new database's index): a handful means the faults
    // missed the operation.
    for op in ["backup/EIO", "backup/ENOSPC", "repair/EIO", "repair/ENOSPC"] {
        let count: u64 = figures
            .split([' ', ','])
            .find_map(|w| w.strip_prefix(op)?.strip_prefix('='))
            .and_then(|v| v.parse().ok())
            .ok_or(format!("no count for {op}: {figures}"))?;
        assert!(count >= 10, "only {count} fault points for {op}: {figures}");
    }
    // Both operations failed with an error at some points.
    for op in ["backup: error", "repair: error"] {
        assert!(
            lines
                .iter()
                .any(|l| l.starts_with("OUTCOME ") && l.contains(op)),
            "no {op} outcome: {lines:?}"
        );
    }
    Ok(())
}
