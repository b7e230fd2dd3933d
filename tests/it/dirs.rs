//! What an open does to the directory it is given: a database is created only in a missing
//! or empty directory; a directory whose manifest was lost is refused (never wiped) and
//! `repair` recovers every key from it; another program's files are never deleted, by an
//! open or a compaction; a refused open leaves the directory exactly as it was; and the
//! errors say what is wrong (a manifest, not an "index file"; "not a directory").

use std::collections::BTreeMap;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use ziggydb::{Db, Error};

use crate::util::{self, TestResult};

const KEYS: u32 = 2000;

fn key(i: u32) -> String {
    format!("key{i}")
}

fn value(i: u32) -> String {
    format!("value{i}-{}", "v".repeat((i % 50) as usize))
}

/// Runs `ziggy -d DIR ARGS...` with `stdin` and extra environment variables.
fn ziggy_env(dir: &Path, args: &[&str], stdin: &[u8], env: &[(&str, &str)]) -> TestResult<Output> {
    use std::io::Write;
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_ziggy"));
    cmd.arg("-d")
        .arg(dir)
        .args(args)
        .env_remove("ZIGGY_DIR")
        .env_remove("ZIGGY_FAULT")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut proc = cmd.spawn()?;
    // A process killed by a fault may not read all of its input.
    let _ = proc.stdin.take().ok_or("stdin is piped")?.write_all(stdin);
    Ok(proc.wait_with_output()?)
}

fn ziggy(dir: &Path, args: &[&str], stdin: &[u8]) -> TestResult<Output> {
    ziggy_env(dir, args, stdin, &[])
}

fn ziggy_ok(dir: &Path, args: &[&str], stdin: &[u8]) -> TestResult<String> {
    let out = ziggy(dir, args, stdin)?;
    if !out.status.success() {
        return Err(format!(
            "ziggy {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        )
        .into());
    }
    Ok(String::from_utf8(out.stdout)?)
}

/// `SET key<i> value<i>` for each `i` in `range`, one command per line.
fn set_script(range: std::ops::Range<u32>) -> Vec<u8> {
    range
        .map(|i| format!("SET {} {}\n", key(i), value(i)))
        .collect::<String>()
        .into_bytes()
}

/// Every entry of `dir`: a file's bytes, or a marker for anything else, by name.
fn snapshot(dir: &Path) -> BTreeMap<String, Option<Vec<u8>>> {
    std::fs::read_dir(dir)
        .expect("list the directory")
        .map(|e| {
            let e = e.expect("entry");
            let name = e.file_name().to_string_lossy().into_owned();
            let bytes = e
                .file_type()
                .expect("type")
                .is_file()
                .then(|| std::fs::read(e.path()).expect("read a file"));
            (name, bytes)
        })
        .collect()
}

/// Fails unless `dir` holds exactly what `before` says, naming what differs.
fn assert_unchanged(
    dir: &Path,
    before: &BTreeMap<String, Option<Vec<u8>>>,
    what: &str,
) -> TestResult {
    let now = snapshot(dir);
    let mut diff = Vec::new();
    for (name, bytes) in before {
        match now.get(name) {
            None => diff.push(format!("{name} removed")),
            Some(b) if b != bytes => diff.push(format!("{name} changed")),
            Some(_) => {}
        }
    }
    diff.extend(
        now.keys()
            .filter(|n| !before.contains_key(*n))
            .map(|n| format!("{n} created")),
    );
    if diff.is_empty() {
        Ok(())
    } else {
        Err(format!("{what}: {}", diff.join(", ")).into())
    }
}

/// A `GET` by `ziggy` and an open by the library are both refused with the error for a lost
/// manifest, and leave every file byte for byte as it was.
fn assert_refused_as_manifest_missing(dir: &Path, what: &str) -> TestResult {
    let before = snapshot(dir);
    let out = ziggy(dir, &["GET", &key(5)], b"")?;
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success(),
        "{what}: GET without a manifest succeeded: {}",
        String::from_utf8_lossy(&out.stdout)
    );
    let repair = format!("ziggy -d {} repair", dir.canonicalize()?.display());
    assert!(
        stderr.contains("manifest missing") && stderr.contains(&repair),
        "{what}: the error names neither the lost manifest nor `{repair}`: {stderr}"
    );
    assert_unchanged(dir, &before, &format!("{what}, after a refused GET"))?;
    let canonical = dir.canonicalize()?;
    match Db::open(dir) {
        Err(Error::ManifestMissing { dir: d }) if d == canonical => {}
        Err(e) => {
            return Err(format!("{what}: open failed with {e:?}, not ManifestMissing").into())
        }
        Ok(_) => {
            return Err(format!("{what}: the library opened a directory without manifest").into())
        }
    }
    assert_unchanged(dir, &before, &format!("{what}, after a refused open"))
}

/// Removes the manifest, checks the open is refused, repairs, and checks that every key in
/// `want` is back with its value and nothing else is there.
fn lose_manifest_then_repair(
    dir: &Path,
    want: &BTreeMap<String, String>,
    what: &str,
) -> TestResult {
    let db_id = |d: &Path| -> TestResult<Vec<u8>> {
        Ok(std::fs::read(d.join("MANIFEST"))?[20..24].to_vec())
    };
    let id = db_id(dir)?;
    std::fs::remove_file(dir.join("MANIFEST"))?;
    assert_refused_as_manifest_missing(dir, what)?;
    // As the error says: `ziggy -d DIR repair`.
    let report = ziggy_ok(dir, &["repair"], b"")?;
    let recovered = format!("keys recovered: {}\n", want.len());
    assert!(
        report.contains("the manifest is missing")
            && report.contains(&recovered)
            && report.contains("damaged ranges: 0\n")
            && report.contains("transactions dropped: 0\n"),
        "{what}: {report}"
    );
    // The database keeps its id, which its segment headers carry.
    assert_eq!(
        db_id(dir)?,
        id,
        "{what}: the repaired database has another id"
    );
    let db = Db::open(dir)?;
    let r = db.check()?;
    assert!(r.is_ok(), "{what}: {:?}", r.problems);
    let mut got = BTreeMap::new();
    for k in db.keys()? {
        let v = db.get(&k)?.ok_or("a listed key reads as absent")?;
        got.insert(String::from_utf8(k)?, String::from_utf8(v.to_vec())?);
    }
    if got != *want {
        return Err(format!(
            "{what}: repair recovered {} keys, {} expected",
            got.len(),
            want.len()
        )
        .into());
    }
    Ok(())
}

fn model(range: std::ops::Range<u32>) -> BTreeMap<String, String> {
    range.map(|i| (key(i), value(i))).collect()
}

#[test]
fn a_lost_manifest_after_log_writes_is_refused_and_repaired() -> TestResult {
    let tmp = util::tempdir();
    let dir = util::db_path(&tmp);
    ziggy_ok(&dir, &["--segment-size", "65536"], &set_script(0..KEYS))?;
    assert!(util::segment_files(&dir).len() > 2, "several log segments");
    // Only the segment files, copied elsewhere (no lock files, no shared state): refused
    // before anything is created.
    let copy = tmp.path().join("copy");
    std::fs::create_dir(&copy)?;
    for f in util::segment_files(&dir) {
        std::fs::copy(&f, copy.join(f.file_name().ok_or("a file name")?))?;
    }
    assert_refused_as_manifest_missing(&copy, "segment files alone")?;
    lose_manifest_then_repair(&dir, &model(0..KEYS), "log segments")
}

#[test]
fn a_lost_manifest_of_one_log_segment_is_refused_even_without_an_index() -> TestResult {
    // seg-00000001.zdb is what a creation writes first; once it holds a record it is data.
    let tmp = util::tempdir();
    let dir = util::db_path(&tmp);
    ziggy_ok(&dir, &[], &set_script(0..20))?;
    assert_eq!(util::segment_files(&dir).len(), 1);
    for f in util::index_files(&dir) {
        std::fs::remove_file(f)?;
    }
    lose_manifest_then_repair(&dir, &model(0..20), "one log segment, no index")
}

#[test]
fn a_lost_manifest_after_compact_is_refused_and_repaired() -> TestResult {
    let tmp = util::tempdir();
    let dir = util::db_path(&tmp);
    ziggy_ok(&dir, &["--segment-size", "65536"], &set_script(0..KEYS))?;
    ziggy_ok(&dir, &["--segment-size", "65536"], b"COMPACT\n")?;
    lose_manifest_then_repair(&dir, &model(0..KEYS), "after COMPACT")
}

#[test]
fn a_lost_manifest_after_an_automatic_compaction_is_refused_and_repaired() -> TestResult {
    let tmp = util::tempdir();
    let dir = util::db_path(&tmp);
    let opts = |auto: bool| {
        Db::options()
            .segment_size(64 << 10)
            .auto_compact(auto, 0.1, 0)
            .active_expiry(None)
    };
    {
        let db = opts(false).open(&dir)?;
        for round in 0..3 {
            for i in 0..KEYS / 4 {
                let v = if round == 2 {
                    value(i)
                } else {
                    format!("old{round}")
                };
                db.set(key(i).as_bytes(), v)?;
            }
        }
    }
    {
        // No commit from here: the compaction thread finds the dead space on its own, and
        // the log segment it starts stays empty.
        let db = opts(true).open(&dir)?;
        let deadline = Instant::now() + Duration::from_secs(60);
        while db.metrics().compactions == 0 {
            if Instant::now() > deadline {
                return Err("no automatic compaction within 60 s".into());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
    lose_manifest_then_repair(&dir, &model(0..KEYS / 4), "after an automatic compaction")
}

#[test]
fn a_lost_manifest_during_a_rotation_is_refused_and_repaired() -> TestResult {
    let tmp = util::tempdir();
    let dir = util::db_path(&tmp);
    ziggy_ok(&dir, &[], b"SET seed x\n")?;
    // Killed at its first rename: the manifest naming the segment the rotation created.
    let out = ziggy_env(
        &dir,
        // Each command durable and acknowledged before the next runs (by default the
        // commands of a script share a sync and their replies wait for it).
        &["--segment-size", "65536", "--durability", "immediate"],
        &set_script(0..KEYS),
        &[("ZIGGY_FAULT", "rename:1:kill")],
    )?;
    assert!(
        out.status.signal().is_some(),
        "not killed at the rotation: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let acked = String::from_utf8(out.stdout)?
        .lines()
        .filter(|l| *l == "OK")
        .count() as u32;
    assert!(acked > 0, "nothing was committed before the rotation");
    assert!(
        dir.join("seg-00000002.zdb").exists() && dir.join("MANIFEST.tmp").exists(),
        "the rotation did not create its segment and next manifest: {:?}",
        snapshot(&dir).keys().collect::<Vec<_>>()
    );
    let mut want = model(0..acked);
    want.insert("seed".into(), "x".into());
    lose_manifest_then_repair(&dir, &want, "a segment in rotation")
}

#[test]
fn a_creation_interrupted_before_its_manifest_is_completed_by_the_next_open() -> TestResult {
    // Killed at each I/O call of a creation: whenever no manifest was written, the next
    // open creates the database (what was left holds no record).
    let mut without_manifest = 0;
    for n in 1..=10 {
        let tmp = util::tempdir();
        let dir = util::db_path(&tmp);
        let fault = format!("any:{n}:kill");
        let out = ziggy_env(&dir, &["SET", "a", "1"], b"", &[("ZIGGY_FAULT", &fault)])?;
        if out.status.signal().is_none() || dir.join("MANIFEST").exists() {
            continue;
        }
        without_manifest += 1;
        let left = snapshot(&dir);
        let out = ziggy(&dir, &["SET", "b", "2"], b"")?;
        assert!(
            out.status.success(),
            "{fault}: the open after an interrupted creation failed ({:?} left): {}",
            left.keys().collect::<Vec<_>>(),
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(ziggy_ok(&dir, &["GET", "b"], b"")?, "2\n", "{fault}");
    }
    assert!(
        without_manifest >= 3,
        "only {without_manifest} kills before the manifest"
    );
    Ok(())
}

/// Another program's directory: a garbage `seg-00000009.zdb`, `index-old.zdx`,
/// `seg-notes.txt`.
fn app_dir(tmp: &tempfile::TempDir) -> TestResult<PathBuf> {
    let app = tmp.path().join("app");
    std::fs::create_dir(&app)?;
    let garbage: Vec<u8> = (0..5000u32).map(|i| (i * 7 + 3) as u8).collect();
    std::fs::write(app.join("seg-00000009.zdb"), &garbage)?;
    std::fs::write(app.join("index-old.zdx"), b"old index of the app")?;
    std::fs::write(app.join("seg-notes.txt"), b"notes")?;
    Ok(app)
}

#[test]
fn a_directory_of_other_files_is_refused_and_left_as_it_was() -> TestResult {
    let tmp = util::tempdir();
    let app = app_dir(&tmp)?;
    let before = snapshot(&app);
    let out = ziggy(&app, &["GET", "x"], b"")?;
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "opened a directory of other files");
    let want = format!(
        "not a ZiggyDB database directory: {} holds other files",
        app.canonicalize()?.display()
    );
    assert!(stderr.contains(&want), "{stderr}");
    assert_unchanged(&app, &before, "after GET")?;
    let r = Db::open(&app);
    assert!(
        matches!(r, Err(Error::NotADatabase { .. })),
        "{:?}",
        r.err()
    );
    assert_unchanged(&app, &before, "after an open")?;
    // Creating a database in an empty directory (a mount point's `lost+found` aside), and
    // in a missing one, works.
    let empty = tmp.path().join("empty");
    std::fs::create_dir_all(empty.join("lost+found"))?;
    Db::open(&empty)?.set(b"k", "v")?;
    Db::open(tmp.path().join("missing/deeper"))?.set(b"k", "v")?;
    Ok(())
}

#[test]
fn a_directory_with_another_programs_manifest_is_refused_and_left_as_it_was() -> TestResult {
    let tmp = util::tempdir();
    let app = app_dir(&tmp)?;
    std::fs::write(
        app.join("MANIFEST"),
        b"include README.md\nrecursive-include src *.py\n",
    )?;
    let before = snapshot(&app);
    let out = ziggy(&app, &["GET", "x"], b"")?;
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success(),
        "opened a directory with a foreign MANIFEST"
    );
    let want = format!(
        "manifest {}: not a ZiggyDB manifest",
        app.canonicalize()?.join("MANIFEST").display()
    );
    assert!(
        stderr.contains(&want) && !stderr.contains("index"),
        "{stderr}"
    );
    assert_unchanged(&app, &before, "after GET")?;
    let r = Db::open(&app);
    assert!(
        matches!(r, Err(Error::CorruptManifest { .. })),
        "{:?}",
        r.err()
    );
    assert_unchanged(&app, &before, "after an open")
}

#[test]
fn a_damaged_manifest_is_called_a_manifest() -> TestResult {
    let tmp = util::tempdir();
    let dir = util::db_path(&tmp);
    ziggy_ok(&dir, &[], b"SET a 1\n")?;
    let len = std::fs::metadata(dir.join("MANIFEST"))?.len();
    util::flip_byte(&dir.join("MANIFEST"), len - 1);
    let out = ziggy(&dir, &["GET", "a"], b"")?;
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        stderr.contains("manifest") && stderr.contains("checksum") && !stderr.contains("index"),
        "{stderr}"
    );
    let r = Db::open(&dir);
    assert!(
        matches!(r, Err(Error::CorruptManifest { .. })),
        "{:?}",
        r.err()
    );
    Ok(())
}

#[test]
fn a_regular_file_as_the_directory_is_not_a_directory() -> TestResult {
    let tmp = util::tempdir();
    let file = tmp.path().join("afile");
    std::fs::write(&file, b"mine")?;
    let out = ziggy(&file, &["GET", "x"], b"")?;
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        stderr.contains(&format!("{} is not a directory", file.display()))
            && !stderr.contains("File exists"),
        "{stderr}"
    );
    match Db::open(&file) {
        Err(Error::NotADirectory { path }) => assert_eq!(path, file),
        r => return Err(format!("{:?}", r.err()).into()),
    }
    // Below a regular file: the file is named.
    let out = ziggy(&file.join("db"), &["GET", "x"], b"")?;
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(&format!("{} is not a directory", file.display())),
        "{stderr}"
    );
    match Db::open(file.join("db")) {
        Err(Error::NotADirectory { path }) => assert_eq!(path, file),
        r => return Err(format!("{:?}", r.err()).into()),
    }
    assert_eq!(std::fs::read(&file)?, b"mine");
    Ok(())
}

/// A copy of segment file `from` renamed to segment `id`: its header names `id` (checksum
/// renewed), so only its database id tells whose it is.
fn segment_as(from: &Path, id: u32, to: &Path) -> TestResult {
    let mut b = std::fs::read(from)?;
    b[16..20].copy_from_slice(&id.to_le_bytes());
    let crc = util::crc32(&b[..60]);
    b[60..64].copy_from_slice(&crc.to_le_bytes());
    std::fs::write(to, b)?;
    Ok(())
}

#[test]
fn files_that_are_not_the_databases_are_never_swept() -> TestResult {
    let tmp = util::tempdir();
    let dir = util::db_path(&tmp);
    let other = tmp.path().join("other");
    let small = |d: &Path| {
        Db::options()
            .segment_size(64 << 10)
            .auto_compact(false, 0.5, 0)
            .active_expiry(None)
            .open(d)
    };
    {
        let db = small(&dir)?;
        db.set(b"mine", "1")?;
        small(&other)?.set(b"theirs", "2")?;
    }
    // Planted: garbage, a segment of another database, an index file and a MANIFEST.tmp
    // that are not this database's; and a leftover segment that is this database's.
    let garbage: Vec<u8> = (0..5000u32).map(|i| (i * 13 + 1) as u8).collect();
    std::fs::write(dir.join("seg-00000009.zdb"), &garbage)?;
    segment_as(
        &other.join("seg-00000001.zdb"),
        8,
        &dir.join("seg-00000008.zdb"),
    )?;
    std::fs::write(dir.join("index-00000007.zdx"), &garbage)?;
    std::fs::write(dir.join("MANIFEST.tmp"), b"someone else's")?;
    segment_as(
        &dir.join("seg-00000001.zdb"),
        6,
        &dir.join("seg-00000006.zdb"),
    )?;
    std::fs::remove_file(dir.join("ziggy.shm"))?;
    let planted = snapshot(&dir);
    let kept = |names: &[&str], when: &str| -> TestResult {
        for name in names {
            let now = std::fs::read(dir.join(name)).map_err(|e| format!("{when}: {name}: {e}"))?;
            if Some(&now) != planted[*name].as_ref() {
                return Err(format!("{when}: {name} changed").into());
            }
        }
        Ok(())
    };
    let foreign = [
        "seg-00000009.zdb",
        "seg-00000008.zdb",
        "index-00000007.zdx",
        "MANIFEST.tmp",
    ];
    let db = small(&dir)?;
    kept(&foreign, "after the first open")?;
    assert!(
        !dir.join("seg-00000006.zdb").exists(),
        "the database's own leftover segment was not swept"
    );
    // Rotations, an index resize and compactions sweep too.
    for i in 0..3000u32 {
        db.set(format!("k{}", i % 700).as_bytes(), vec![b'x'; 100])?;
    }
    db.compact()?;
    db.compact()?;
    kept(&foreign[..3], "after compactions")?;
    assert_eq!(db.get(b"mine")?.as_deref(), Some(&b"1"[..]));
    drop(db);
    let db = small(&dir)?;
    kept(&foreign[..3], "after a reopen")?;
    let r = db.check()?;
    assert!(r.is_ok(), "{:?}", r.problems);
    Ok(())
}

#[test]
fn processes_creating_one_database_at_once_all_open_it() -> TestResult {
    // Each process looks at the directory before it takes `ziggy.lock`: a database being
    // created by another (lock files and a first segment, no manifest yet) must not look
    // like another program's directory or a lost manifest.
    const PROCS: usize = 6;
    for round in 0..10 {
        let tmp = util::tempdir();
        let dir = if round % 2 == 0 {
            util::db_path(&tmp)
        } else {
            tmp.path().to_path_buf()
        };
        let procs: Vec<std::process::Child> = (0..PROCS)
            .map(|_| {
                Command::new(env!("CARGO_BIN_EXE_ziggy"))
                    .arg("-d")
                    .arg(&dir)
                    .args(["INCR", "n"])
                    .env_remove("ZIGGY_DIR")
                    .env_remove("ZIGGY_FAULT")
                    .stdin(Stdio::null())
                    .stdout(Stdio::piped())
                    .stderr(Stdio::piped())
                    .spawn()
            })
            .collect::<Result<_, _>>()?;
        for p in procs {
            let out = p.wait_with_output()?;
            assert!(
                out.status.success(),
                "round {round}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        assert_eq!(
            ziggy_ok(&dir, &["GET", "n"], b"")?,
            format!("{PROCS}\n"),
            "round {round}"
        );
    }
    Ok(())
}

#[test]
fn another_databases_index_file_is_neither_used_nor_deleted() -> TestResult {
    let tmp = util::tempdir();
    let dir = util::db_path(&tmp);
    let other = tmp.path().join("other");
    {
        let db = Db::open(&dir)?;
        db.set(b"mine", "1")?;
        // The other database's log reaches further, and its index grew to generation 2.
        let theirs = Db::open(&other)?;
        theirs.transaction(|tx| {
            for i in 0..2000u32 {
                tx.set(format!("theirs{i}").as_bytes(), "x")?;
            }
            Ok(())
        })?;
    }
    let planted = other.join("index-00000002.zdx");
    assert!(planted.exists(), "the other index did not grow");
    std::fs::copy(&planted, dir.join("index-00000002.zdx"))?;
    let bytes = std::fs::read(&planted)?;
    // A cold open: the planted file is the newest generation there.
    std::fs::remove_file(dir.join("ziggy.shm"))?;
    let db = Db::open(&dir)?;
    assert_eq!(db.get(b"mine")?.as_deref(), Some(&b"1"[..]));
    assert_eq!(db.len(), 1);
    drop(db);
    assert_eq!(std::fs::read(dir.join("index-00000002.zdx"))?, bytes);
    Ok(())
}
