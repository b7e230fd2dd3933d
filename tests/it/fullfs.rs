//! A real full file system: the database runs on a tiny tmpfs until it is full, instead of
//! having ENOSPC injected through the I/O seam.
//!
//! Each test starts a child process (this test binary) through `unshare --mount` (with
//! `--user --map-root-user` when not root), so it runs in a private mount namespace; the
//! child mounts a tmpfs of a few hundred KiB over an empty directory and opens a database
//! there with 64 KiB segments. The tmpfs exists only in that namespace and disappears with
//! the child. If the namespace or the mount cannot be had, the test fails and says why.
//!
//! The child reports every acknowledged commit (`ACK SET key seed len`, `ACK DEL key`) and
//! every refused one (`REFUSED ...`) to the parent, which keeps its own model of what the
//! database must hold. The child checks, in the process that met the full disk, that the
//! commit that did not fit failed with `Error::DiskFull` (a panic or a SIGBUS kills the child,
//! which the parent reports) and that reads still return every acknowledged commit; then it
//! gives the file system room again (a remount with a larger size, or a ballast file
//! deleted) and commits again. Finally it closes the database and waits: the parent starts a
//! new process in the child's mount namespace (`nsenter`), gives it the model, and that
//! process opens the database, runs `check`, compares every key (refused commits must be
//! absent) and commits once more; the child then reopens and finds that commit.
//!
//! Scenarios: the log filling the file system (at a segment rotation), the index failing to
//! grow, and a compaction running out of room while it copies; then what a full file system
//! must still allow (issue 12 item 4): the process attached since before and new processes
//! (the `ziggy` binary, run from the child inside its namespace) open, read, check and
//! delete, a compaction says how much room it needs or reclaims in steps; a writer killed in
//! a rotation that cannot finish; a compaction in steps killed after its first step.

use std::collections::BTreeMap;
use std::io::Write;
use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use ziggydb::{Db, Error, Value};

use crate::util::{self, child_param, child_role, read_command, report, Child, TestResult};

const ENTRY: &str = "fullfs::child_on_a_small_tmpfs";
const ROLE: &str = "fullfs";
const VERIFY_ENTRY: &str = "fullfs::child_verify_in_the_namespace";
const VERIFY_ROLE: &str = "fullfs-verify";
const SCENARIO_VAR: &str = "ZIGGY_FULLFS_SCENARIO";
/// The parent's mount namespace (`mnt:[inode]`), which the child must not be in.
pub(crate) const PARENT_NS_VAR: &str = "ZIGGY_FULLFS_PARENT_NS";
const SEGMENT: u64 = 64 << 10;
const ENOSPC: i32 = 28;
const TIMEOUT: Duration = Duration::from_secs(60);

fn open(dir: &Path) -> ziggydb::Result<Db> {
    Db::options()
        .segment_size(SEGMENT)
        .auto_compact(false, 0.5, 0)
        .active_expiry(None)
        .open(dir)
}

/// The value of commit `seed`: `len` bytes, different for every seed.
fn value(seed: u64, len: usize) -> Vec<u8> {
    let mut v = format!("{seed}:").into_bytes();
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    while v.len() < len {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        v.push(b'a' + (x % 26) as u8);
    }
    v
}

/// What the database must hold: key → (seed, len) of its value, `None` once deleted.
type Model = BTreeMap<String, Option<(u64, usize)>>;

/// Differences between `db` and `model` (at most a few); `refused` values must be absent.
fn diff(db: &Db, model: &Model, refused: &[(String, u64, usize)]) -> Vec<String> {
    let mut out = Vec::new();
    for (k, want) in model {
        let want = want.map(|(seed, len)| value(seed, len));
        match db.get(k.as_bytes()) {
            Ok(got) if got.as_deref() == want.as_deref() => {}
            Ok(got) => out.push(format!(
                "{k}: {} bytes, not {}",
                got.map_or("absent".into(), |g| g.len().to_string()),
                want.map_or("absent".into(), |w| w.len().to_string())
            )),
            Err(e) => out.push(format!("{k}: {e}")),
        }
        if out.len() >= 5 {
            return out;
        }
    }
    for (k, seed, len) in refused {
        if let Ok(Some(got)) = db.get(k.as_bytes()) {
            if *got == value(*seed, *len)[..] {
                out.push(format!("{k}: holds the value of refused commit {seed}"));
            }
        }
    }
    let present = model.values().filter(|v| v.is_some()).count() as u64;
    if db.len() != present {
        out.push(format!("{} keys, not {present}", db.len()));
    }
    out
}

// ---------------------------------------------------------------------------------------------
// Parent side

/// The command that puts the child in a private mount namespace.
pub(crate) fn namespace_wrapper() -> TestResult<Vec<&'static str>> {
    if util::find_program("unshare").is_none() {
        return Err(
            "the full-file-system tests need `unshare` (util-linux) on the PATH, to \
                    run a child in a private mount namespace with a small tmpfs"
                .into(),
        );
    }
    Ok(if util::is_root()? {
        vec!["unshare", "--mount", "--propagation", "private"]
    } else {
        vec![
            "unshare",
            "--user",
            "--map-root-user",
            "--mount",
            "--propagation",
            "private",
        ]
    })
}

/// This process's mount namespace, as `/proc/self/ns/mnt` names it.
pub(crate) fn mount_namespace() -> TestResult<String> {
    Ok(std::fs::read_link("/proc/self/ns/mnt")?
        .to_string_lossy()
        .into_owned())
}

/// What the parent saw of one scenario.
struct Run {
    /// Lines that are neither acknowledgements nor protocol (figures, `FULL ...`).
    notes: Vec<String>,
    acked: u64,
    refused: u64,
}

impl Run {
    /// The rest of the note starting with `prefix`.
    fn note(&self, prefix: &str) -> Option<&str> {
        self.notes
            .iter()
            .find_map(|l| l.strip_prefix(prefix).map(str::trim))
    }
}

/// Runs `scenario` in a child on its own tmpfs; checks the database from this process when
/// the child has closed it.
fn run_scenario(scenario: &str) -> TestResult<Run> {
    let wrapper = namespace_wrapper()?;
    let tmp = util::tempdir();
    let mnt = tmp.path().join("fs");
    std::fs::create_dir(&mnt)?;
    let mut child = Child::spawn_wrapped(
        &wrapper,
        ENTRY,
        ROLE,
        &mnt,
        &[
            (SCENARIO_VAR, scenario.to_owned()),
            (PARENT_NS_VAR, mount_namespace()?),
        ],
    );
    let mut model = Model::new();
    let mut refused: Vec<(String, u64, usize)> = Vec::new();
    let mut run = Run {
        notes: Vec::new(),
        acked: 0,
        refused: 0,
    };
    let mut verified = false;
    let mut passed = false;
    let mut failure = None;
    while let Some(line) = child.next_line(TIMEOUT) {
        let words: Vec<&str> = line.split_whitespace().collect();
        match words.as_slice() {
            ["ACK", "SET", k, seed, len] => {
                model.insert((*k).to_owned(), Some((seed.parse()?, len.parse()?)));
                run.acked += 1;
            }
            ["ACK", "DEL", k] => {
                model.insert((*k).to_owned(), None);
                run.acked += 1;
            }
            ["REFUSED", "SET", k, seed, len] => {
                refused.push(((*k).to_owned(), seed.parse()?, len.parse()?));
                run.refused += 1;
            }
            ["REFUSED", "DEL", _] => run.refused += 1,
            ["NOMOUNT", ..] => {
                failure = Some(format!(
                    "the full-file-system test needs a private mount namespace with a small \
                     tmpfs (`{}` then `mount -t tmpfs`), which this machine refused: {}. Run \
                     the tests as root, or where unprivileged user namespaces are allowed \
                     (sysctl kernel.unprivileged_userns_clone=1)",
                    wrapper.join(" "),
                    &line["NOMOUNT".len()..].trim()
                ));
            }
            ["READY", path] => {
                verify_in_a_new_process(child.id(), Path::new(path), &model, &refused)?;
                verified = true;
                child.send("GO");
            }
            ["PASS"] => passed = true,
            ["FAIL", ..] => failure = Some(line.clone()),
            _ => run.notes.push(line.clone()),
        }
    }
    let status = child.wait(Duration::from_secs(10));
    std::thread::sleep(Duration::from_millis(20));
    for l in &run.notes {
        eprintln!("{scenario}: {l}");
    }
    if let Some(f) = failure {
        return Err(format!("{scenario}: {f}\nchild stderr:\n{}", child.stderr()).into());
    }
    if let Some(sig) = status.signal() {
        return Err(format!(
            "{scenario}: the child was killed by signal {sig}{} after {} acknowledged commits; \
             stderr:\n{}",
            if sig == libc::SIGBUS {
                " (SIGBUS: a mapped page had no backing on the full file system)"
            } else {
                ""
            },
            run.acked,
            child.stderr()
        )
        .into());
    }
    if !status.success() || !passed || !verified {
        let hint = if run.acked == 0 && run.notes.is_empty() {
            format!(
                " (the child never started its scenario: could `{}` create a private mount \
                 namespace here?)",
                wrapper.join(" ")
            )
        } else {
            String::new()
        };
        return Err(format!(
            "{scenario}: the child exited with {status}{hint} (PASS reported: {passed}, \
             database handed over: {verified}); stderr:\n{}",
            child.stderr()
        )
        .into());
    }
    // The tmpfs lived in the child's namespace only: this namespace never saw it.
    let left: Vec<_> = std::fs::read_dir(&mnt)?.collect();
    assert!(
        left.is_empty(),
        "{scenario}: files of the child's tmpfs are visible outside its namespace: {left:?}"
    );
    Ok(run)
}

/// Checks the child's closed database in a new process (this test binary again) that
/// `nsenter` puts in the child's mount namespace: it is given the model built here from the
/// child's reports, opens the database, runs `check`, compares every key, and commits once
/// more.
fn verify_in_a_new_process(
    pid: u32,
    path: &Path,
    model: &Model,
    refused: &[(String, u64, usize)],
) -> TestResult {
    let target = pid.to_string();
    let mut wrapper = vec!["nsenter", "--target", target.as_str(), "--mount"];
    if !util::is_root()? {
        // Into the child's user namespace too, keeping this user's ids (mapped to root there).
        wrapper.extend(["--user", "--preserve-credentials"]);
    }
    let mut v = Child::spawn_wrapped(&wrapper, VERIFY_ENTRY, VERIFY_ROLE, path, &[]);
    for (k, want) in model {
        match want {
            Some((seed, len)) => v.send(&format!("SET {k} {seed} {len}")),
            None => v.send(&format!("DEL {k}")),
        }
    }
    for (k, seed, len) in refused {
        v.send(&format!("REFUSED {k} {seed} {len}"));
    }
    v.close_stdin();
    v.finish(TIMEOUT)
        .map_err(|e| format!("the reopen in a new process: {e}"))?;
    Ok(())
}

fn verify_child(dir: &Path) -> TestResult {
    let mut model = Model::new();
    let mut refused = Vec::new();
    while let Some(line) = read_command() {
        let w: Vec<&str> = line.split_whitespace().collect();
        match w.as_slice() {
            ["SET", k, seed, len] => {
                model.insert((*k).to_owned(), Some((seed.parse()?, len.parse()?)));
            }
            ["DEL", k] => {
                model.insert((*k).to_owned(), None);
            }
            ["REFUSED", k, seed, len] => {
                refused.push(((*k).to_owned(), seed.parse()?, len.parse()?))
            }
            _ => return Err(format!("bad line from the parent: {line}").into()),
        }
    }
    let db = open(dir).map_err(|e| format!("open: {e}"))?;
    check_ok(&db, "in a new process")?;
    let d = diff(&db, &model, &refused);
    if !d.is_empty() {
        return Err(format!("the database differs from the acknowledged commits: {d:?}").into());
    }
    db.set(b"outside", 1i64)
        .map_err(|e| format!("commit: {e}"))?;
    report(format!("VERIFIED {} keys", model.len()));
    Ok(())
}

#[test]
fn child_verify_in_the_namespace() {
    let Some(dir) = child_role(VERIFY_ROLE) else {
        return;
    };
    util::end_child(verify_child(&dir));
}

#[test]
fn commits_until_a_real_tmpfs_is_full_then_room_returns() -> TestResult {
    let run = run_scenario("log")?;
    let full = run
        .note("FULL")
        .ok_or("the child never filled the file system")?;
    assert!(
        full.contains("seg-"),
        "the log did not meet the full disk: {full}"
    );
    assert!(
        run.acked >= 100 && run.refused >= 3,
        "{} acked, {} refused",
        run.acked,
        run.refused
    );
    Ok(())
}

#[test]
fn the_index_cannot_grow_on_a_full_tmpfs() -> TestResult {
    let run = run_scenario("index")?;
    let full = run
        .note("FULL")
        .ok_or("the child never filled the file system")?;
    assert!(
        full.contains("index-"),
        "the index growth did not meet the full disk: {full}"
    );
    Ok(())
}

/// Issue 12 item 4: once a rotation failed on a full file system, the process attached since
/// before deletes, new processes open, read and delete, a compaction either says how much
/// room it needs or, once deletes made its first step fit, reclaims, and commits work again.
#[test]
fn a_full_tmpfs_still_opens_deletes_and_compacts() -> TestResult {
    let run = run_scenario("reopen")?;
    let full = run
        .note("FULL")
        .ok_or("the child never filled the file system")?;
    assert!(
        full.contains("seg-"),
        "the fill did not end at a rotation: {full}"
    );
    let needs = run
        .note("NEEDS")
        .ok_or("the compaction never said how much room it needs")?;
    assert!(needs.contains("COMPACT needs "), "{needs}");
    run.note("COMPACTED")
        .ok_or("the compaction never reclaimed anything")?;
    Ok(())
}

/// A writer killed in the middle of a rotation on a full file system (before the segment
/// file exists, and after its header but before its allocation): a new process opens.
#[test]
fn a_rotation_killed_on_a_full_tmpfs_leaves_it_openable() -> TestResult {
    let run = run_scenario("killed")?;
    for round in ["stop", "fault"] {
        let killed = run.note(&format!("KILLED {round}")).ok_or(format!(
            "the writer of round {round} was never killed in a rotation"
        ))?;
        assert!(killed.contains("acked"), "{killed}");
    }
    Ok(())
}

/// A compaction in steps never drops a DEL while an older PUT of its key survives it: killed
/// after its first step, a cold rebuild from the segments still finds the keys deleted.
#[test]
fn a_compaction_in_steps_never_brings_a_deleted_key_back() -> TestResult {
    let run = run_scenario("oldest")?;
    run.note("STEPS")
        .ok_or("the compaction in steps never ran")?;
    Ok(())
}

#[test]
fn compaction_runs_out_of_room_on_a_full_tmpfs() -> TestResult {
    let run = run_scenario("compact")?;
    let full = run
        .note("FULL")
        .ok_or("the compaction never met the full disk")?;
    assert!(full.contains("compact"), "{full}");
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Child side

/// The child's record of what it committed, reported line by line to the parent.
#[derive(Default)]
struct Session {
    model: Model,
    refused: Vec<(String, u64, usize)>,
    acks: u64,
}

impl Session {
    /// `SET key` to the value of `seed`; reports the outcome.
    fn set(&mut self, db: &Db, key: &str, seed: u64, len: usize) -> ziggydb::Result<()> {
        let r = db.set(key.as_bytes(), value(seed, len));
        match &r {
            Ok(()) => {
                self.model.insert(key.to_owned(), Some((seed, len)));
                self.acks += 1;
                report(format!("ACK SET {key} {seed} {len}"));
            }
            Err(_) => {
                self.refused.push((key.to_owned(), seed, len));
                report(format!("REFUSED SET {key} {seed} {len}"));
            }
        }
        r
    }

    /// `DEL key`; reports the outcome.
    fn del(&mut self, db: &Db, key: &str) -> ziggydb::Result<bool> {
        let r = db.delete(key.as_bytes());
        match &r {
            Ok(_) => {
                self.model.insert(key.to_owned(), None);
                self.acks += 1;
                report(format!("ACK DEL {key}"));
            }
            Err(_) => report(format!("REFUSED DEL {key}")),
        }
        r
    }

    /// Every acknowledged commit is in `db`, and nothing refused.
    fn verify(&self, db: &Db, when: &str) -> TestResult {
        let d = diff(db, &self.model, &self.refused);
        if d.is_empty() {
            Ok(())
        } else {
            Err(format!("{when}: {d:?}").into())
        }
    }
}

/// `Err` describes anything but a `DiskFull` error.
fn disk_full(r: &ziggydb::Result<impl std::fmt::Debug>, what: &str) -> TestResult<String> {
    match r {
        Err(Error::DiskFull { path }) => Ok(util::file_name(path)),
        other => Err(format!("{what}: {other:?}, not DiskFull").into()),
    }
}

fn check_ok(db: &Db, when: &str) -> TestResult {
    let r = db.check().map_err(|e| format!("check {when}: {e}"))?;
    if r.is_ok() {
        Ok(())
    } else {
        Err(format!("check {when}: {:?}", r.problems).into())
    }
}

fn mount(args: &[&str], mnt: &Path) -> Result<(), String> {
    let out = Command::new("mount")
        .args(args)
        .arg(mnt)
        .output()
        .map_err(|e| format!("mount: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "mount {} {}: {}",
            args.join(" "),
            mnt.display(),
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

/// Mounts a tmpfs of `kib` KiB over `mnt`, after making sure this process has a mount
/// namespace of its own (a mount must never leak into the machine's).
pub(crate) fn mount_tmpfs(mnt: &Path, kib: u64) -> TestResult {
    let mine = std::fs::read_link("/proc/self/ns/mnt")?;
    let parent: String = child_param(PARENT_NS_VAR);
    if mine.to_string_lossy() == parent {
        report("NOMOUNT the child is not in a private mount namespace");
        return Err("not in a private mount namespace; refusing to mount".into());
    }
    let size = format!("size={kib}k,mode=0700");
    if let Err(e) = mount(&["-t", "tmpfs", "-o", &size, "tmpfs"], mnt) {
        report(format!("NOMOUNT {e}"));
        return Err(e.into());
    }
    Ok(())
}

fn remount(mnt: &Path, kib: u64) -> TestResult {
    // With the type and source given: without them, a remount inside a user namespace fails.
    let opts = format!("remount,size={kib}k");
    Ok(mount(&["-t", "tmpfs", "-o", &opts, "tmpfs"], mnt)?)
}

/// Fills the file system with a file at `path` until a write fails with ENOSPC, then gives
/// back `leave` bytes; returns the file's length.
pub(crate) fn ballast(path: &Path, leave: u64) -> TestResult<u64> {
    let mut f = std::fs::File::create(path)?;
    let chunk = vec![0x5a_u8; 4096];
    let mut len = 0u64;
    loop {
        match f.write(&chunk) {
            Ok(0) => break,
            Ok(n) => len += n as u64,
            Err(e) if e.raw_os_error() == Some(ENOSPC) => break,
            Err(e) => return Err(e.into()),
        }
    }
    let keep = len.saturating_sub(leave);
    f.set_len(keep)?;
    Ok(keep)
}

/// Hands the closed database to the parent and waits until it has checked it (and
/// committed `outside`); then reopens it and finds that commit.
fn hand_over(dir: &Path, s: &mut Session) -> TestResult {
    report(format!("READY {}", dir.display()));
    match read_command().as_deref() {
        Some("GO") => {}
        other => return Err(format!("the parent answered {other:?}, not GO").into()),
    }
    let db = open(dir)?;
    if db.get_value(b"outside")? != Some(Value::Int(1)) {
        return Err("the parent's commit is not there".into());
    }
    // The parent's key is not in the model; compare the rest.
    db.delete(b"outside")?;
    s.verify(&db, "after the parent's reopen")?;
    check_ok(&db, "after the parent's reopen")?;
    Ok(())
}

/// Closes `db`, reopens the directory with a new handle in this process, checks it and
/// compares it with the model.
fn reopen_and_verify(db: Db, dir: &Path, s: &Session, when: &str) -> TestResult {
    drop(db);
    let db = open(dir)?;
    check_ok(&db, when)?;
    s.verify(&db, when)
}

/// The log fills the tmpfs; a remount gives room; the cycle once more.
fn scenario_log(mnt: &Path) -> TestResult {
    mount_tmpfs(mnt, 1024)?;
    let dir = mnt.join("db");
    let db = open(&dir)?;
    let mut s = Session::default();
    let mut seed = 0u64;
    let mut fill = |db: &Db, s: &mut Session, round: u32| -> TestResult<(u64, String)> {
        let mut n = 0u64;
        loop {
            seed += 1;
            // Every third commit overwrites an older key, so compaction has garbage to drop.
            let key = if seed % 3 == 0 {
                format!("k/{}", seed / 3)
            } else {
                format!("k/{seed}")
            };
            let len = 700 + (seed * 37 % 600) as usize;
            let r = s.set(db, &key, seed, len);
            if r.is_ok() {
                n += 1;
                if n > 100_000 {
                    return Err("a 1 MiB file system never filled".into());
                }
                continue;
            }
            let path = disk_full(&r, &format!("round {round}: commit {seed} ({key})"))?;
            return Ok((n, path));
        }
    };
    let (first, path) = fill(&db, &mut s, 1)?;
    report(format!("FULL after {first} commits, at {path}"));
    s.verify(&db, "same handle, once full")?;
    // It stays full: more commits that need a new segment are refused the same way (one
    // smaller than the last refused may still fit before the reserve, §9.2).
    for i in 0..3u64 {
        let r = s.set(&db, &format!("more/{i}"), 1_000_000 + i, 2000);
        disk_full(&r, "a commit on the full file system")?;
    }
    // What a user can try without more room: delete keys, compact, check.
    let del = s.del(&db, "k/1");
    let del = match &del {
        Ok(_) => "ok".to_owned(),
        Err(_) => format!("DiskFull at {}", disk_full(&del, "DEL when full")?),
    };
    let compact = db.compact();
    let compact = match &compact {
        Ok(st) => format!("ok ({} -> {} bytes)", st.bytes_before, st.bytes_after),
        Err(Error::CompactNeedsSpace { needed, free, .. }) => {
            format!("needs {needed} bytes, {free} free")
        }
        Err(_) => format!("DiskFull at {}", disk_full(&compact, "COMPACT when full")?),
    };
    let check = db.check();
    let check = match &check {
        Ok(r) if r.is_ok() => "ok".to_owned(),
        Ok(r) => return Err(format!("check when full: {:?}", r.problems).into()),
        Err(_) => format!("DiskFull at {}", disk_full(&check, "CHECK when full")?),
    };
    report(format!(
        "WHEN_FULL del={del} compact={compact} check={check}"
    ));
    s.verify(&db, "same handle, after trying to free space")?;
    // Room again: commits work at once, compaction reclaims the overwritten values.
    remount(mnt, 2048)?;
    for i in 0..5u64 {
        s.set(&db, &format!("room/{i}"), 2_000_000 + i, 500)
            .map_err(|e| format!("commit once the file system has room: {e}"))?;
    }
    // The rotation the full disk refused was undone (§9.5): no file of it is left.
    let files = util::segment_files(&dir).len() as u64;
    if files != db.metrics().segments {
        return Err(format!(
            "{files} segment files but {} listed: a refused rotation left its file",
            db.metrics().segments
        )
        .into());
    }
    let st = db
        .compact()
        .map_err(|e| format!("compact with room: {e}"))?;
    if st.bytes_after >= st.bytes_before {
        return Err(format!("compaction reclaimed nothing: {st:?}").into());
    }
    report(format!(
        "COMPACTED {} -> {} bytes",
        st.bytes_before, st.bytes_after
    ));
    check_ok(&db, "after room returned")?;
    s.verify(&db, "after room returned")?;
    // And full again, on the larger file system.
    let (second, path) = fill(&db, &mut s, 2)?;
    report(format!("FULL_AGAIN after {second} more commits, at {path}"));
    s.verify(&db, "full a second time")?;
    remount(mnt, 4096)?;
    s.set(&db, "last", 3_000_000, 500)
        .map_err(|e| format!("commit after the second remount: {e}"))?;
    check_ok(&db, "after the second remount")?;
    reopen_and_verify(db, &dir, &s, "a new handle")?;
    hand_over(&dir, &mut s)?;
    report(format!(
        "FIGURES acked={} refused={}",
        s.acks,
        s.refused.len()
    ));
    Ok(())
}

/// The index must grow when the file system has no room for the larger index file.
fn scenario_index(mnt: &Path) -> TestResult {
    mount_tmpfs(mnt, 1024)?;
    let dir = mnt.join("db");
    let db = open(&dir)?;
    let mut s = Session::default();
    let cap0 = db.metrics().index_capacity;
    // Up to just below the index's growth threshold (three quarters of its slots).
    let below = cap0 * 3 / 4 - 8;
    db.transaction(|tx| {
        for j in 0..below {
            tx.set(format!("i/{j}").as_bytes(), value(j, 24))?;
        }
        Ok(())
    })?;
    for j in 0..below {
        s.model.insert(format!("i/{j}"), Some((j, 24)));
        report(format!("ACK SET i/{j} {j} 24"));
    }
    // The file system full but for 16 KiB: the active segment has room for small commits,
    // the next index file (36 KiB) does not fit.
    ballast(&mnt.join("ballast"), 16 << 10)?;
    let mut j = below;
    let path = loop {
        let keys_before = db.len();
        let r = s.set(&db, &format!("i/{j}"), j, 24);
        if r.is_err() {
            let path = disk_full(&r, &format!("commit of key {j}"))?;
            let m = db.metrics();
            if m.index_capacity != cap0 || keys_before * 4 + 4 <= cap0 * 3 {
                return Err(format!(
                    "the commit of key {j} failed with {} keys and {} slots, not when the \
                     index had to grow",
                    keys_before, m.index_capacity
                )
                .into());
            }
            break path;
        }
        j += 1;
        if j > cap0 {
            return Err("the index grew on a full file system".into());
        }
    };
    report(format!("FULL at key {j} ({} keys), at {path}", db.len()));
    s.verify(&db, "same handle, once the index could not grow")?;
    let del = s.del(&db, "i/0");
    let del = match &del {
        Ok(_) => "ok".to_owned(),
        Err(_) => format!("DiskFull at {}", disk_full(&del, "DEL when full")?),
    };
    report(format!("WHEN_FULL del={del}"));
    std::fs::remove_file(mnt.join("ballast"))?;
    for k in 0..20u64 {
        s.set(&db, &format!("i/{}", j + k), 100_000 + j + k, 24)
            .map_err(|e| format!("commit once the ballast is gone: {e}"))?;
    }
    let cap1 = db.metrics().index_capacity;
    if cap1 <= cap0 {
        return Err(format!("the index did not grow ({cap0} -> {cap1} slots)").into());
    }
    report(format!("GREW {cap0} -> {cap1} slots"));
    check_ok(&db, "after the index grew")?;
    s.verify(&db, "after the index grew")?;
    reopen_and_verify(db, &dir, &s, "a new handle")?;
    hand_over(&dir, &mut s)?;
    Ok(())
}

/// A compaction needs room for the copies of the live records before it can delete the old
/// segments; on a full file system it fails and leaves the database as it was.
fn scenario_compact(mnt: &Path) -> TestResult {
    mount_tmpfs(mnt, 1024)?;
    let dir = mnt.join("db");
    let db = open(&dir)?;
    let mut s = Session::default();
    for i in 0..150u64 {
        s.set(&db, &format!("c/{i}"), i, 2000)?;
    }
    for i in 0..60u64 {
        s.set(&db, &format!("c/{}", i * 2), 1000 + i, 2000)?;
    }
    let segments = db.metrics().segments;
    // Room for the rotation compaction starts with (a 64 KiB segment), not for the copies:
    // the compaction measures what its first step needs and refuses (or, if the room was
    // taken while it copied, fails with DiskFull); either way it changes nothing.
    ballast(&mnt.join("ballast"), 96 << 10)?;
    let r = db.compact();
    let why = match &r {
        Err(Error::CompactNeedsSpace { needed, free, .. }) if needed > free => {
            format!("needs {needed} bytes, {free} free")
        }
        _ => format!("at {}", disk_full(&r, "compaction on a full file system")?),
    };
    report(format!(
        "FULL compaction failed: {why}, {segments} segments before"
    ));
    let m = db.metrics();
    let files = util::segment_files(&dir).len() as u64;
    if files != m.segments {
        return Err(format!(
            "{files} segment files but {} listed: the failed compaction left files behind",
            m.segments
        )
        .into());
    }
    s.verify(&db, "same handle, after the failed compaction")?;
    for i in 0..10u64 {
        s.set(&db, &format!("after/{i}"), 5000 + i, 500)
            .map_err(|e| format!("commit after the failed compaction: {e}"))?;
    }
    check_ok(&db, "after the failed compaction")?;
    std::fs::remove_file(mnt.join("ballast"))?;
    let st = db
        .compact()
        .map_err(|e| format!("compaction once the ballast is gone: {e}"))?;
    if st.bytes_after >= st.bytes_before {
        return Err(format!("compaction reclaimed nothing: {st:?}").into());
    }
    report(format!(
        "COMPACTED {} -> {} bytes",
        st.bytes_before, st.bytes_after
    ));
    check_ok(&db, "after the compaction")?;
    s.verify(&db, "after the compaction")?;
    reopen_and_verify(db, &dir, &s, "a new handle")?;
    hand_over(&dir, &mut s)?;
    Ok(())
}

/// Runs the `ziggy` binary (a new process, in this process's mount namespace) on the
/// database `dir` with `args`; returns whether it succeeded and what it printed.
fn ziggy(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> TestResult<(bool, String)> {
    let out = Command::new(env!("CARGO_BIN_EXE_ziggy"))
        .arg("-d")
        .arg(dir)
        .args(["--segment-size", &SEGMENT.to_string()])
        .args(args)
        .envs(env.iter().copied())
        .stdin(std::process::Stdio::null())
        .output()?;
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    Ok((out.status.success() && !text.starts_with("ERR"), text))
}

/// [`ziggy`] that must succeed; its output, trimmed.
fn ziggy_ok(dir: &Path, args: &[&str]) -> TestResult<String> {
    let (ok, text) = ziggy(dir, args, &[])?;
    if ok {
        Ok(text.trim().to_owned())
    } else {
        Err(format!(
            "a new process on the full file system, `ziggy {}`: {text}",
            args.join(" ")
        )
        .into())
    }
}

impl Session {
    /// `DEL keys...` in one transaction; reports the outcome.
    fn del_many(&mut self, db: &Db, keys: &[String]) -> ziggydb::Result<()> {
        let r = db.transaction(|tx| {
            for k in keys {
                tx.delete(k.as_bytes())?;
            }
            Ok(())
        });
        for k in keys {
            match &r {
                Ok(()) => {
                    self.model.insert(k.clone(), None);
                    self.acks += 1;
                    report(format!("ACK DEL {k}"));
                }
                Err(_) => report(format!("REFUSED DEL {k}")),
            }
        }
        r
    }

    /// `ziggy DEL keys...` in a new process: they are deleted, in one transaction.
    fn del_in_new_process(&mut self, dir: &Path, keys: &[String]) -> TestResult {
        let mut args = vec!["DEL"];
        args.extend(keys.iter().map(String::as_str));
        let present = keys
            .iter()
            .filter(|k| self.model.get(*k).is_some_and(Option::is_some))
            .count();
        let out = ziggy_ok(dir, &args)?;
        if out != present.to_string() {
            return Err(format!("`ziggy DEL` of {present} present keys answered {out}").into());
        }
        for k in keys {
            self.model.insert(k.clone(), None);
            self.acks += 1;
            report(format!("ACK DEL {k}"));
        }
        Ok(())
    }

    /// The keys of the model that hold a value.
    fn present(&self) -> usize {
        self.model.values().filter(|v| v.is_some()).count()
    }
}

/// Makes the tmpfs at `mnt` exactly `kib` KiB larger than what its files use now (a remount),
/// so that exactly that much room is free.
fn set_free(mnt: &Path, kib: u64) -> TestResult {
    let out = Command::new("stat")
        .args(["-f", "--format=%b %f %S"])
        .arg(mnt)
        .output()?;
    let text = String::from_utf8_lossy(&out.stdout);
    let n: Vec<u64> = text
        .split_whitespace()
        .map(str::parse)
        .collect::<Result<_, _>>()?;
    let [blocks, free, size] = n[..] else {
        return Err(format!("stat -f {}: {text}", mnt.display()).into());
    };
    let used_kib = (blocks - free) * size / 1024;
    remount(mnt, used_kib + kib)
}

/// The (needed, free) figures of a `COMPACT needs N bytes free on the file system, M are`
/// message.
fn needs_figures(text: &str) -> Option<(u64, u64)> {
    let rest = &text[text.find("COMPACT needs ")? + "COMPACT needs ".len()..];
    let (needed, rest) = rest.split_once(" bytes free on the file system, ")?;
    let (free, _) = rest.split_once(" are")?;
    Some((needed.parse().ok()?, free.parse().ok()?))
}

/// The length of the value of fill commit `seed`: 700 to 1299 bytes.
fn fill_len(seed: u64) -> usize {
    700 + (seed * 37 % 600) as usize
}

/// Fills the file system until a rotation fails; then, with the file system full, the
/// process attached since before deletes; every process closes and new ones open, read,
/// delete, check and compact (issue 12 item 4).
fn scenario_reopen(mnt: &Path) -> TestResult {
    mount_tmpfs(mnt, 1024)?;
    let dir = mnt.join("db");
    let db = open(&dir)?;
    let mut s = Session::default();
    let mut seed = 0u64;
    let path = loop {
        seed += 1;
        if seed > 100_000 {
            return Err("a 1 MiB file system never filled".into());
        }
        let r = s.set(&db, &format!("k/{seed}"), seed, fill_len(seed));
        if r.is_err() {
            break disk_full(&r, &format!("commit {seed}"))?;
        }
    };
    report(format!("FULL after {} commits, at {path}", seed - 1));
    // The process attached since before the fill deletes: one key, then several in one
    // transaction.
    s.del(&db, "k/1")
        .map_err(|e| format!("DEL in the process attached since before the fill: {e}"))?;
    s.del_many(&db, &["k/2".into(), "k/3".into(), "k/4".into()])
        .map_err(|e| format!("a multi-key DEL in the process attached since before: {e}"))?;
    // A new process beside it opens, reads and deletes.
    let got = ziggy_ok(&dir, &["GET", "k/5"])?;
    if got.as_bytes() != value(5, fill_len(5)) {
        return Err(format!("`ziggy GET k/5` beside the attached process: {got:.40}").into());
    }
    s.del_in_new_process(&dir, &["k/6".into(), "k/7".into()])?;
    s.verify(&db, "the process attached since before, after the deletes")?;
    drop(db);

    // Every process closed. 16 KiB free: not room for a new segment (64 KiB).
    set_free(mnt, 16)?;
    let got = ziggy_ok(&dir, &["GET", "k/10"])?;
    if got.as_bytes() != value(10, fill_len(10)) {
        return Err(format!("`ziggy GET k/10` on the full file system: {got:.40}").into());
    }
    let size = ziggy_ok(&dir, &["DBSIZE"])?;
    if size != s.present().to_string() {
        return Err(format!("DBSIZE {size}, not {}", s.present()).into());
    }
    s.del_in_new_process(&dir, &["k/8".into()])?;
    s.del_in_new_process(&dir, &["k/9".into(), "k/11".into(), "k/12".into()])?;
    let check = ziggy_ok(&dir, &["CHECK"])?;
    if check != "OK" {
        return Err(format!("CHECK on the full file system: {check}").into());
    }
    // Every segment holds live records: not even the first step of a compaction fits.
    let (ok, text) = ziggy(&dir, &["COMPACT"], &[])?;
    let Some((needed, free)) = needs_figures(&text).filter(|&(n, f)| !ok && n > f) else {
        return Err(format!("COMPACT with 16 KiB free: {text}").into());
    };
    if !(8 << 10..=16 << 10).contains(&free) || needed < 32 << 10 {
        return Err(format!("COMPACT said it needs {needed} bytes with {free} free").into());
    }
    report(format!("NEEDS {}", text.trim()));

    // A new handle: the same refusal, typed; a large SET still fails; nothing was lost.
    let db = open(&dir)?;
    check_ok(&db, "a new handle on the full file system")?;
    s.verify(&db, "a new handle on the full file system")?;
    match db.compact() {
        Err(Error::CompactNeedsSpace { needed, free, .. }) if needed > free => {}
        other => return Err(format!("compact with 16 KiB free: {other:?}").into()),
    }
    let r = s.set(&db, "big", 9_000_000, 4000);
    let at = disk_full(&r, "a large SET on the full file system")?;
    if !at.starts_with("seg-") {
        return Err(format!("the large SET failed at {at}, not at a new segment").into());
    }
    s.verify(&db, "after the refused SET")?;
    // Deleting the oldest keys leaves the oldest segment without a live record: a step that
    // fits in the same 16 KiB.
    let oldest: Vec<String> = (13..=80).map(|i| format!("k/{i}")).collect();
    for chunk in oldest.chunks(25) {
        s.del_many(&db, chunk)
            .map_err(|e| format!("DEL of {} keys on the full file system: {e}", chunk.len()))?;
    }
    drop(db);
    let before = util::segment_bytes(&dir);
    let out = ziggy_ok(&dir, &["COMPACT"])
        .map_err(|e| format!("COMPACT once deletes emptied a segment: {e}"))?;
    let after = util::segment_bytes(&dir);
    if !out.starts_with("OK reclaimed ") || after >= before {
        return Err(format!("COMPACT answered {out}: {before} -> {after} segment bytes").into());
    }
    report(format!("COMPACTED {before} -> {after} segment bytes"));
    let db = open(&dir)?;
    check_ok(&db, "after the compaction")?;
    s.verify(&db, "after the compaction")?;
    // The compaction freed room for a new segment: SETs work again.
    for i in 0..30u64 {
        s.set(&db, &format!("again/{i}"), 3_000_000 + i, 1500)
            .map_err(|e| format!("SET {i} after the compaction: {e}"))?;
    }
    check_ok(&db, "after the SETs")?;
    reopen_and_verify(db, &dir, &s, "a new handle")?;
    hand_over(&dir, &mut s)?;
    Ok(())
}

/// Feeds `SET` lines to a `ziggy` process until it stops (SIGSTOP) or dies in a rotation;
/// kills it; returns the number of its acknowledged commits.
fn writer_until_killed(
    dir: &Path,
    s: &mut Session,
    first_seed: u64,
    env: &[(&str, &str)],
) -> TestResult<u64> {
    use std::io::BufRead;
    use std::process::Stdio;
    let mut p = Command::new(env!("CARGO_BIN_EXE_ziggy"))
        .arg("-d")
        .arg(dir)
        .args(["--segment-size", &SEGMENT.to_string()])
        .envs(env.iter().copied())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()?;
    let pid = p.id();
    let mut stdin = p.stdin.take().ok_or("no stdin")?;
    let stdout = p.stdout.take().ok_or("no stdout")?;
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stdout).lines() {
            if tx.send(line).is_err() {
                return;
            }
        }
    });
    let stopped = || {
        std::fs::read_to_string(format!("/proc/{pid}/stat"))
            .ok()
            .and_then(|st| st.rsplit_once(") ").map(|(_, r)| r.starts_with('T')))
            .unwrap_or(false)
    };
    let mut acked = 0u64;
    let len = 1000;
    for seed in first_seed.. {
        if seed > first_seed + 10_000 {
            return Err("the writer never reached a rotation".into());
        }
        let key = format!("w/{seed}");
        let line = format!("SET {key} {}\n", String::from_utf8_lossy(&value(seed, len)));
        if stdin.write_all(line.as_bytes()).is_err() {
            // It died (the fault's kill) before reading this line.
            break;
        }
        let _ = stdin.flush();
        let deadline = std::time::Instant::now() + TIMEOUT;
        let answer = loop {
            match rx.recv_timeout(Duration::from_millis(20)) {
                Ok(Ok(l)) => break Some(l),
                Ok(Err(_)) | Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => break None,
                Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {
                    if stopped() {
                        break None;
                    }
                    if std::time::Instant::now() > deadline {
                        let _ = p.kill();
                        return Err("the writer neither answered nor stopped".into());
                    }
                }
            }
        };
        match answer.as_deref() {
            Some("OK") => {
                s.model.insert(key.clone(), Some((seed, len)));
                s.acks += 1;
                acked += 1;
                report(format!("ACK SET {key} {seed} {len}"));
            }
            Some(other) => return Err(format!("the writer answered {other:.80}").into()),
            None => {
                // Stopped or killed inside this commit's rotation, before its append.
                s.refused.push((key.clone(), seed, len));
                report(format!("REFUSED SET {key} {seed} {len}"));
                break;
            }
        }
    }
    let _ = p.kill();
    let status = p.wait()?;
    if status.signal() != Some(libc::SIGKILL) {
        return Err(format!("the writer ended with {status}, not killed").into());
    }
    Ok(acked)
}

/// A writer killed in a rotation that cannot finish on a full file system: new processes
/// open, read and delete; the rotation is undone, not redone.
fn scenario_killed_rotation(mnt: &Path) -> TestResult {
    mount_tmpfs(mnt, 1024)?;
    let dir = mnt.join("db");
    let mut s = Session::default();
    {
        let db = open(&dir)?;
        for i in 0..20u64 {
            s.set(&db, &format!("a/{i}"), i, 900)?;
        }
    }
    let rounds: [(&str, &[(&str, &str)]); 2] = [
        // Stopped once `rotating` names the new segment, before its file exists.
        ("stop", &[("ZIGGY_TEST_STOP", "rotate")]),
        // Killed at the allocation of the new segment: its file has a header, no room.
        ("fault", &[("ZIGGY_FAULT", "allocate:1:kill")]),
    ];
    let mut seed = 1000;
    for (round, env) in rounds {
        // Room for a segment's header, not for the segment.
        set_free(mnt, 16)?;
        let files = util::segment_files(&dir).len();
        let acked = writer_until_killed(&dir, &mut s, seed, env)?;
        seed += 10_000;
        // The fault kills the writer after it wrote the new segment's header.
        let left = util::segment_files(&dir).len() - files;
        if left != usize::from(round == "fault") {
            return Err(format!("round {round}: the killed rotation left {left} new files").into());
        }
        report(format!("KILLED {round} after {acked} acked commits"));
        // New processes open the database with the rotation left half done.
        let got = ziggy_ok(&dir, &["GET", "a/3"])?;
        if got.as_bytes() != value(3, 900) {
            return Err(format!("round {round}: GET a/3 answered {got:.40}").into());
        }
        s.del_in_new_process(&dir, &[format!("a/1{}", usize::from(round == "fault"))])?;
        let check = ziggy_ok(&dir, &["CHECK"])?;
        if check != "OK" {
            return Err(format!("round {round}: CHECK: {check}").into());
        }
        let db = open(&dir)?;
        s.verify(&db, &format!("round {round}, a new handle"))?;
        // No file of the undone rotation is left to take the room.
        let files = util::segment_files(&dir).len() as u64;
        if files != db.metrics().segments {
            return Err(format!(
                "round {round}: {files} segment files but {} listed",
                db.metrics().segments
            )
            .into());
        }
    }
    // Room again: the writer's next rotation succeeds.
    remount(mnt, 4096)?;
    let db = open(&dir)?;
    for i in 0..100u64 {
        s.set(&db, &format!("room/{i}"), 5_000_000 + i, 1000)
            .map_err(|e| format!("SET with room again: {e}"))?;
    }
    check_ok(&db, "with room again")?;
    reopen_and_verify(db, &dir, &s, "a new handle")?;
    hand_over(&dir, &mut s)?;
    Ok(())
}

/// Removes the index files and `ziggy.shm` of the closed database at `dir`, so
/// that the next open rebuilds the index from the segments alone (§10.2).
fn force_rebuild(dir: &Path) -> TestResult {
    for f in util::index_files(dir) {
        std::fs::remove_file(f)?;
    }
    std::fs::remove_file(dir.join("ziggy.shm"))?;
    Ok(())
}

/// The oldest segment holds PUTs of keys that a newer segment deletes; there is room for a
/// compaction in steps, not in one. A compaction killed after its first step must not have
/// dropped the segment of the DELs before the one of the PUTs (§11.1): a rebuild from the
/// segments then still finds the keys deleted.
fn scenario_oldest_first(mnt: &Path) -> TestResult {
    mount_tmpfs(mnt, 1024)?;
    let dir = mnt.join("db");
    let mut s = Session::default();
    {
        let db = open(&dir)?;
        // The oldest segment: keys that will be deleted, beside keys that stay.
        for i in 0..25u64 {
            s.set(&db, &format!("d/{i}"), i, 1000)?;
            s.set(&db, &format!("f/{i}"), 100 + i, 1400)?;
        }
        // Newer segments of live keys: too much to copy in one step.
        for i in 0..100u64 {
            s.set(&db, &format!("g/{i}"), 1000 + i, 1200)?;
        }
        // The DELs, in the newest segment, which has the fewest live bytes.
        let dels: Vec<String> = (0..25).map(|i| format!("d/{i}")).collect();
        s.del_many(&db, &dels)?;
    }
    // Room to seal the active segment and then for one segment's copy at a time.
    set_free(mnt, 64 + 48)?;
    let mut p = Command::new(env!("CARGO_BIN_EXE_ziggy"))
        .arg("-d")
        .arg(&dir)
        .args(["--segment-size", &SEGMENT.to_string(), "COMPACT"])
        .env("ZIGGY_TEST_STOP", "compact-step:2")
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()?;
    let pid = p.id();
    let deadline = std::time::Instant::now() + TIMEOUT;
    loop {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        if stat
            .rsplit_once(") ")
            .is_some_and(|(_, r)| r.starts_with('T'))
        {
            break;
        }
        if let Some(status) = p.try_wait()? {
            let out = p.wait_with_output()?;
            return Err(format!(
                "the compaction ended ({status}) before a second step: {}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            )
            .into());
        }
        if std::time::Instant::now() > deadline {
            let _ = p.kill();
            return Err("the compaction never reached a second step".into());
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    p.kill()?;
    p.wait()?;
    report("STEPS killed at the second step of a compaction in steps");
    force_rebuild(&dir)?;
    let db = open(&dir)?;
    check_ok(&db, "after a rebuild from the segments")?;
    s.verify(&db, "after a rebuild from the segments")?;
    // With room, the compaction finishes, and the deleted keys stay deleted.
    remount(mnt, 4096)?;
    let st = db
        .compact()
        .map_err(|e| format!("compaction with room: {e}"))?;
    report(format!(
        "COMPACTED {} -> {} bytes",
        st.bytes_before, st.bytes_after
    ));
    drop(db);
    force_rebuild(&dir)?;
    let db = open(&dir)?;
    check_ok(&db, "after the full compaction and a rebuild")?;
    s.verify(&db, "after the full compaction and a rebuild")?;
    reopen_and_verify(db, &dir, &s, "a new handle")?;
    hand_over(&dir, &mut s)?;
    Ok(())
}

#[test]
fn child_on_a_small_tmpfs() {
    let Some(mnt) = child_role(ROLE) else {
        return;
    };
    let scenario: String = child_param(SCENARIO_VAR);
    let r = match scenario.as_str() {
        "log" => scenario_log(&mnt),
        "reopen" => scenario_reopen(&mnt),
        "killed" => scenario_killed_rotation(&mnt),
        "oldest" => scenario_oldest_first(&mnt),
        "index" => scenario_index(&mnt),
        "compact" => scenario_compact(&mnt),
        other => Err(format!("unknown scenario {other}").into()),
    };
    util::end_child(r);
}
