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
//! grow, and a compaction running out of room while it copies.

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
const PARENT_NS_VAR: &str = "ZIGGY_FULLFS_PARENT_NS";
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
fn namespace_wrapper() -> TestResult<Vec<&'static str>> {
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
fn mount_namespace() -> TestResult<String> {
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
fn mount_tmpfs(mnt: &Path, kib: u64) -> TestResult {
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
fn ballast(path: &Path, leave: u64) -> TestResult<u64> {
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
    // It stays full: more commits are refused the same way.
    for i in 0..3u64 {
        let r = s.set(&db, &format!("more/{i}"), 1_000_000 + i, 500);
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
    // The segment the failed rotation had started is allocated in full now, like every
    // other log segment (§9.5), so a full disk shows up at the allocation again.
    for f in util::segment_files(&dir) {
        let len = std::fs::metadata(&f)?.len();
        if len != SEGMENT {
            return Err(format!(
                "{} is {len} bytes after the rotation was finished, not {SEGMENT}",
                util::file_name(&f)
            )
            .into());
        }
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
    // Room for the rotation compaction starts with (a 64 KiB segment), not for the copies.
    ballast(&mnt.join("ballast"), 96 << 10)?;
    let r = db.compact();
    let path = disk_full(&r, "compaction on a full file system")?;
    report(format!(
        "FULL compaction failed at {path}, {segments} segments before"
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

#[test]
fn child_on_a_small_tmpfs() {
    let Some(mnt) = child_role(ROLE) else {
        return;
    };
    let scenario: String = child_param(SCENARIO_VAR);
    let r = match scenario.as_str() {
        "log" => scenario_log(&mnt),
        "index" => scenario_index(&mnt),
        "compact" => scenario_compact(&mnt),
        other => Err(format!("unknown scenario {other}").into()),
    };
    util::end_child(r);
}
