//! `repair`: salvage around every kind of damage (a flipped byte in an old transaction, a
//! truncated active segment, garbage after a segment, a zeroed collection page, lost
//! manifest and index), the originals kept aside byte for byte, a second repair that finds
//! nothing, refusal while another process has the database open, and `ziggy repair`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use ziggydb::{Db, Error, RepairReport, Value, ZAddFlags};

use crate::util::{self, child_role, report, Child, TestResult};

const LONG: Duration = Duration::from_secs(120);

pub(crate) fn small(dir: &Path) -> ziggydb::Result<Db> {
    Db::options()
        .segment_size(64 << 10)
        .auto_compact(false, 0.5, 0)
        .active_expiry(None)
        .open(dir)
}

/// Everything a key holds, comparable across databases.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Held {
    Scalar(Value, Option<u64>),
    List(Vec<Vec<u8>>),
    Set(Vec<Vec<u8>>),
    Hash(Vec<(Vec<u8>, Vec<u8>)>),
    ZSet(Vec<(Vec<u8>, f64)>),
}

/// Every key of `db` and what it holds.
pub(crate) fn contents(db: &Db) -> TestResult<BTreeMap<Vec<u8>, Held>> {
    let mut out = BTreeMap::new();
    for key in db.keys()? {
        let held = match db.get_value(&key) {
            Ok(Some(v)) => Held::Scalar(v, db.expiry(&key)?),
            Ok(None) => continue,
            Err(Error::WrongType { actual, .. }) => match actual.to_string().as_str() {
                "list" => Held::List(db.list(&key).range(0, -1)?),
                "set" => {
                    let mut m = db.set_of(&key).members()?;
                    m.sort();
                    Held::Set(m)
                }
                "hash" => {
                    let mut h = db.hash(&key).get_all()?;
                    h.sort();
                    Held::Hash(h)
                }
                "zset" => Held::ZSet(db.zset(&key).range(0, -1, false)?),
                other => return Err(format!("unexpected type {other}").into()),
            },
            Err(e) => return Err(e.into()),
        };
        out.insert(key, held);
    }
    Ok(out)
}

/// Builds a database over several small segments, one of them compacted: scalars of every
/// kind, a key with an expiry, and a list, set, hash and sorted set of several tree pages
/// each. The sorted set `zs` is created in one transaction and then grows by one member, so
/// most of its pages are written only by the first. The last transaction writes `tail-a`
/// and `tail-b` into the active segment.
fn build(dir: &Path) -> TestResult {
    let db = small(dir)?;
    for i in 0..300u32 {
        db.set(format!("old-{i:04}").as_bytes(), vec![b'o'; 100])?;
    }
    db.transaction(|tx| {
        for i in 0..40i64 {
            tx.set(format!("n-{i}").as_bytes(), i * 1000)?;
        }
        tx.set(b"pi", 3.25f64)?;
        tx.set(b"text", "h\u{e9}llo")?;
        tx.set_with_expiry(b"ttl", "soon", Some(util::now_ms() + 3_600_000))
    })?;
    for chunk in 0..5u32 {
        db.transaction(|tx| {
            let items: Vec<Vec<u8>> = (chunk * 300..(chunk + 1) * 300)
                .map(|i| format!("job-{i:05}").into_bytes())
                .collect();
            tx.list(b"jobs").push_back(&items)?;
            let members: Vec<Vec<u8>> = (chunk * 200..(chunk + 1) * 200)
                .map(|i| format!("tag-{i:05}").into_bytes())
                .collect();
            tx.set_of(b"tags").add(&members)?;
            let fields: Vec<(Vec<u8>, Vec<u8>)> = (chunk * 150..(chunk + 1) * 150)
                .map(|i| (format!("f{i:05}").into_bytes(), vec![b'v'; 12]))
                .collect();
            tx.hash(b"user").set(&fields)?;
            Ok(())
        })?;
    }
    db.transaction(|tx| {
        let items: Vec<(f64, Vec<u8>)> = (0..600u32)
            .map(|i| (f64::from(i % 97), format!("m-{i:05}").into_bytes()))
            .collect();
        tx.zset(b"zs").add(ZAddFlags::default(), &items)?;
        Ok(())
    })?;
    db.compact()?;
    db.transaction(|tx| {
        tx.zset(b"zs")
            .add(ZAddFlags::default(), &[(1000.0, b"m-late")])?;
        Ok(())
    })?;
    for i in 0..300u32 {
        db.set(format!("fill-{i:04}").as_bytes(), vec![b'f'; 150])?;
    }
    db.set(b"old-0001", "rewritten")?;
    db.delete(b"old-0002")?;
    db.transaction(|tx| {
        tx.set(b"tail-a", vec![b'a'; 1000])?;
        tx.set(b"tail-b", vec![b'b'; 1000])
    })?;
    let r = db.check()?;
    assert!(r.is_ok(), "{:?}", r.problems);
    assert!(
        util::segment_files(dir).len() >= 4,
        "{:?}",
        util::segment_files(dir)
    );
    Ok(())
}

/// A record as these tests read it off disk (format-spec.md §3.2).
#[derive(Debug, Clone)]
pub(crate) struct Rec {
    pub(crate) file: PathBuf,
    pub(crate) offset: usize,
    pub(crate) len: usize,
    pub(crate) kind: u8,
    pub(crate) txn: u64,
    pub(crate) internal: bool,
    pub(crate) key: Vec<u8>,
    pub(crate) value_offset: usize,
}

/// Every intact record of every segment file of `dir`, in file and offset order.
pub(crate) fn all_records(dir: &Path) -> Vec<Rec> {
    let mut out = Vec::new();
    for file in util::segment_files(dir) {
        let b = std::fs::read(&file).expect("read a segment");
        let mut at = 64;
        while let Some(h) = b.get(at..).and_then(util::head) {
            let len = h.len();
            let Some(body) = b.get(at..at + len) else {
                break;
            };
            if u32::from_le_bytes([body[0], body[1], body[2], body[3]]) != util::crc32(&body[4..]) {
                break;
            }
            let (key_at, key_len) = (h.key_at, h.key_len);
            out.push(Rec {
                file: file.clone(),
                offset: at,
                len,
                kind: h.kind,
                txn: h.txn,
                internal: h.flags & 2 != 0,
                key: body[key_at..key_at + key_len].to_vec(),
                value_offset: at + key_at + key_len,
            });
            if h.kind == 4 {
                break;
            }
            at += len;
        }
    }
    out
}

/// Name and bytes of every segment, index and manifest file in `dir`.
pub(crate) fn originals(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    std::fs::read_dir(dir)
        .expect("list")
        .filter_map(Result::ok)
        .filter(|e| e.file_type().is_ok_and(|t| t.is_file()))
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("seg-") || n.starts_with("index-") || n.starts_with("MANIFEST"))
        .map(|n| {
            let bytes = std::fs::read(dir.join(&n)).expect("read");
            (n, bytes)
        })
        .collect()
}

/// Checks that the report's `moved_to` holds exactly `before`, byte for byte.
pub(crate) fn assert_kept_aside(report: &RepairReport, before: &BTreeMap<String, Vec<u8>>) {
    assert!(
        report
            .moved_to
            .file_name()
            .is_some_and(|n| n.to_string_lossy().starts_with("damaged-")),
        "{:?}",
        report.moved_to
    );
    let aside = originals(&report.moved_to);
    assert_eq!(
        aside.keys().collect::<Vec<_>>(),
        before.keys().collect::<Vec<_>>()
    );
    for (name, bytes) in before {
        assert!(aside[name] == *bytes, "{name} changed when moved aside");
    }
    let mut moved = report.files_moved.clone();
    moved.sort();
    assert_eq!(moved, before.keys().cloned().collect::<Vec<_>>());
}

/// Opens the repaired database, checks it and returns what it holds.
pub(crate) fn reopen_checked(dir: &Path) -> TestResult<BTreeMap<Vec<u8>, Held>> {
    let db = small(dir)?;
    let r = db.check()?;
    assert!(r.is_ok(), "{:?}", r.problems);
    contents(&db)
}

#[test]
fn repair_keeps_every_intact_key_and_lists_the_damaged_ones() -> TestResult {
    let tmp = util::tempdir();
    let dir = util::db_path(&tmp);
    build(&dir)?;
    let before = contents(&small(&dir)?)?;
    let recs = all_records(&dir);
    let newest = |key: &[u8], internal: bool| {
        recs.iter()
            .filter(|r| r.kind == 1 && r.internal == internal && r.key == key)
            .max_by_key(|r| r.txn)
            .cloned()
            .ok_or(format!("no record of {}", String::from_utf8_lossy(key)))
    };

    // 1. A byte flipped in the value of a key written once, by an old transaction.
    let old = newest(b"old-0007", false)?;
    util::flip_byte(&old.file, (old.value_offset + 50) as u64);

    // 2. A page of `zs` written only by the transaction that created it, zeroed.
    let zs_meta = newest(b"zs", false)?;
    let bytes = std::fs::read(&zs_meta.file)?;
    let coll = &bytes[zs_meta.value_offset..zs_meta.value_offset + 8];
    let first_txn = recs
        .iter()
        .filter(|r| r.kind == 1 && !r.internal && r.key == b"zs")
        .map(|r| r.txn)
        .min()
        .ok_or("zs has no record")?;
    let page = recs
        .iter()
        .filter(|r| r.internal && r.key.len() == 18 && r.key.starts_with(b"pg"))
        .filter(|r| &r.key[2..10] == coll)
        .find(|r| {
            r.txn == first_txn
                && !recs
                    .iter()
                    .any(|o| o.internal && o.key == r.key && o.txn > first_txn)
        })
        .ok_or("no page of zs written once")?
        .clone();
    util::write_at(&page.file, page.offset as u64, &vec![0u8; page.len]);

    // 3. Garbage after the end of the first segment file.
    let first = util::segment_files(&dir)[0].clone();
    let mut rng = util::Rng::new(7);
    let garbage: Vec<u8> = (0..3000).map(|_| rng.next_u64() as u8).collect();
    let len = std::fs::metadata(&first)?.len();
    util::write_at(&first, len, &garbage);

    // 4. The active segment cut in the middle of its last transaction.
    let tail_b = newest(b"tail-b", false)?;
    let tail_a = newest(b"tail-a", false)?;
    assert_eq!(tail_a.txn, tail_b.txn);
    let cut = tail_a.offset.max(tail_b.offset) + 10;
    std::fs::OpenOptions::new()
        .write(true)
        .open(&tail_b.file)?
        .set_len(cut as u64)?;

    // 5. No index.
    for f in util::index_files(&dir) {
        std::fs::remove_file(f)?;
    }

    let kept = originals(&dir);
    let report = ziggydb::repair(&dir)?;
    println!("{report}");
    assert!(!report.is_clean());
    assert_kept_aside(&report, &kept);
    assert!(report.damaged.len() >= 4, "{:#?}", report.damaged);
    let damaged_in = |file: &Path, lo: usize, hi: usize| {
        report.damaged.iter().any(|d| {
            d.file.file_name() == file.file_name() && (lo..=hi).contains(&(d.offset as usize))
        })
    };
    assert!(damaged_in(&old.file, old.offset, old.offset));
    assert!(damaged_in(&page.file, page.offset, page.offset));
    assert!(damaged_in(&first, len as usize, len as usize + 3000));
    assert!(damaged_in(&tail_b.file, tail_b.offset, tail_b.offset));
    assert!(report
        .keys_in_damaged_records
        .contains(&b"old-0007".to_vec()));
    assert!(
        report
            .dropped
            .iter()
            .any(|t| t.txn == tail_a.txn && t.records == 1),
        "{:#?}",
        report.dropped
    );
    assert!(report.keys_affected.contains(&b"tail-a".to_vec()));
    assert!(
        report
            .collections_damaged
            .iter()
            .any(|c| c.key.as_deref() == Some(&b"zs"[..])),
        "{:#?}",
        report.collections_damaged
    );

    // Every key whose records were intact holds its newest value; the damaged ones are gone.
    let after = reopen_checked(&dir)?;
    let lost: [&[u8]; 4] = [b"old-0007", b"zs", b"tail-a", b"tail-b"];
    let mut expected = before.clone();
    for k in lost {
        assert!(expected.remove(k).is_some(), "{k:?} was there");
    }
    assert_eq!(after, expected);
    assert_eq!(report.keys_recovered, expected.len() as u64);
    assert!(matches!(
        after.get(&b"ttl"[..]),
        Some(Held::Scalar(_, Some(_)))
    ));

    // A second repair finds nothing wrong and changes nothing.
    let kept = originals(&dir);
    let again = ziggydb::repair(&dir)?;
    assert!(again.is_clean(), "{again}");
    assert_eq!(again.keys_recovered, report.keys_recovered);
    assert_eq!(again.records_salvaged, report.records_salvaged);
    assert_kept_aside(&again, &kept);
    assert_eq!(reopen_checked(&dir)?, expected);
    Ok(())
}

#[test]
fn repair_rebuilds_a_database_whose_manifest_and_index_are_lost() -> TestResult {
    let tmp = util::tempdir();
    let dir = util::db_path(&tmp);
    build(&dir)?;
    let before = contents(&small(&dir)?)?;
    std::fs::remove_file(dir.join("MANIFEST"))?;
    for f in util::index_files(&dir) {
        std::fs::remove_file(f)?;
    }
    assert!(
        small(&dir).is_err(),
        "a database without its manifest opens"
    );
    let kept = originals(&dir);
    let report = ziggydb::repair(&dir)?;
    assert!(report.damaged.is_empty(), "{report}");
    assert!(report.dropped.is_empty(), "{report}");
    assert!(report.collections_damaged.is_empty(), "{report}");
    assert!(
        report
            .problems
            .iter()
            .any(|p| p.contains("manifest is missing")),
        "{report}"
    );
    assert_kept_aside(&report, &kept);
    assert_eq!(reopen_checked(&dir)?, before);
    Ok(())
}

#[test]
fn repair_refuses_a_directory_without_a_database() -> TestResult {
    let tmp = util::tempdir();
    assert!(matches!(
        ziggydb::repair(tmp.path()),
        Err(Error::InvalidArgument(_))
    ));
    assert!(ziggydb::repair(tmp.path().join("missing")).is_err());
    assert_eq!(std::fs::read_dir(tmp.path())?.count(), 0, "nothing created");
    Ok(())
}

/// Holds the database open until its standard input closes.
#[test]
fn child_holder() {
    let Some(dir) = child_role("holder") else {
        return;
    };
    let db = Db::open(&dir).expect("open");
    db.set(b"held", "yes").expect("write");
    report("READY");
    while util::read_command().is_some() {}
    drop(db);
    report("PASS");
}

#[test]
fn repair_refuses_while_any_process_has_the_database_open() -> TestResult {
    let tmp = util::tempdir();
    let dir = util::db_path(&tmp);
    small(&dir)?.set(b"k", "v")?;
    let mut holder = Child::spawn("repair::child_holder", "holder", &dir, &[]);
    holder.expect("READY", LONG);
    let kept = originals(&dir);
    match ziggydb::repair(&dir) {
        Err(Error::InUse { path }) => assert_eq!(path, dir),
        other => panic!("repair while another process has it open: {other:?}"),
    }
    assert_eq!(originals(&dir), kept, "a refused repair touches nothing");
    holder.close_stdin();
    holder.expect("PASS", LONG);
    holder.wait_success(LONG);

    // This process counts too.
    let db = small(&dir)?;
    assert!(matches!(ziggydb::repair(&dir), Err(Error::InUse { .. })));
    drop(db);
    let report = ziggydb::repair(&dir)?;
    assert!(report.is_clean(), "{report}");
    let db = small(&dir)?;
    assert_eq!(db.get_value(b"held")?, Some(Value::String("yes".into())));
    assert_eq!(db.get_value(b"k")?, Some(Value::String("v".into())));
    Ok(())
}
/// Repairs its directory (run with a fault plan that kills it part way).
#[test]
fn child_repairer() {
    let Some(dir) = child_role("repairer") else {
        return;
    };
    let r = ziggydb::repair(&dir).expect("repair");
    report(format!("DONE {}", r.keys_recovered));
    report("PASS");
}

/// The `damaged-*` directories in `dir`.
pub(crate) fn aside_dirs(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .expect("list")
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.is_dir() && util::file_name(p).starts_with("damaged-"))
        .collect();
    v.sort();
    v
}

#[test]
fn a_repair_killed_at_any_rename_leaves_a_database_that_opens() -> TestResult {
    let tmp = util::tempdir();
    let dir = util::db_path(&tmp);
    {
        let db = small(&dir)?;
        for i in 0..600u32 {
            db.set(format!("k{i:04}").as_bytes(), vec![b'k'; 100])?;
        }
        let items: Vec<Vec<u8>> = (0..800u32).map(|i| format!("e{i}").into_bytes()).collect();
        db.transaction(|tx| tx.list(b"l").push_back(&items).map(drop))?;
    }
    let model = contents(&small(&dir)?)?;
    for n in 1..=40 {
        let kept = originals(&dir);
        let asides = aside_dirs(&dir);
        let env = [("ZIGGY_FAULT", format!("rename:{n}:kill"))];
        let mut child = Child::spawn("repair::child_repairer", "repairer", &dir, &env);
        let finished = child.wait(LONG).success();
        // Killed or not, the directory opens (as the old or the new database) with every
        // key, and a damaged copy made by this run holds every original, byte for byte.
        assert_eq!(reopen_checked(&dir)?, model, "killed at rename {n}");
        for new in aside_dirs(&dir).iter().filter(|d| !asides.contains(d)) {
            assert_eq!(originals(new), kept, "killed at rename {n}");
        }
        if finished {
            assert!(n > 2, "the repair renames more than once");
            return Ok(());
        }
    }
    Err("the repair never finished".into())
}

#[test]
fn ziggy_repair_runs_on_the_directory_and_prints_the_report() -> TestResult {
    let tmp = util::tempdir();
    let dir = util::db_path(&tmp);
    {
        let db = small(&dir)?;
        db.set(b"good", "kept")?;
        db.set(b"bad", "lost")?;
        db.set(b"later", "kept too")?;
    }
    let bad = all_records(&dir)
        .into_iter()
        .find(|r| r.key == b"bad")
        .ok_or("no record of bad")?;
    util::flip_byte(&bad.file, bad.value_offset as u64);
    let ziggy = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_ziggy"))
            .arg("-d")
            .arg(&dir)
            .args(args)
            .env_remove("ZIGGY_DIR")
            .output()
    };
    let check = ziggy(&["check"])?;
    assert!(!check.status.success());

    let out = ziggy(&["repair"])?;
    let text = String::from_utf8(out.stdout)?;
    assert!(
        out.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(text.starts_with("damage found"), "{text}");
    assert!(text.contains("keys recovered: 2\n"), "{text}");
    assert!(text.contains("\n  \"bad\"\n"), "{text}");
    assert!(text.contains("originals moved to: "), "{text}");

    let check = ziggy(&["check"])?;
    assert!(check.status.success());
    let got = ziggy(&["mget", "good", "bad", "later"])?;
    assert_eq!(String::from_utf8(got.stdout)?, "kept\n\nkept too\n");

    // A sound database has nothing to repair: nothing is moved aside.
    let asides = aside_dirs(&dir).len();
    let out = ziggy(&["repair"])?;
    let text = String::from_utf8(out.stdout)?;
    assert!(out.status.success(), "{text}");
    assert!(text.starts_with("nothing to repair"), "{text}");
    assert_eq!(aside_dirs(&dir).len(), asides, "{text}");

    // In a session the database is open, so REPAIR says how to run it instead.
    let mut proc = Command::new(env!("CARGO_BIN_EXE_ziggy"))
        .arg("-d")
        .arg(&dir)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()?;
    {
        use std::io::Write;
        proc.stdin.take().ok_or("stdin")?.write_all(b"REPAIR\n")?;
    }
    let out = proc.wait_with_output()?;
    let text = String::from_utf8(out.stdout)?;
    assert!(
        text.starts_with("ERR REPAIR needs the database to itself") && text.contains("repair`"),
        "{text}"
    );
    Ok(())
}
