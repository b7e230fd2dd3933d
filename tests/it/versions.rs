//! Format and layout versions (format-spec.md §15): every golden fixture, one database per
//! format version in `tests/fixtures/` (made by `tests/fixtures/make.sh`), is either opened
//! with exactly its content or refused with `IncompatibleVersion`, and never modified; a
//! manifest or index of a newer version is refused and left as it was; and a build never
//! attaches beside a process of a build with another `ziggy.shm` layout, in either direction.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use ziggydb::{Db, Error, Value};

use crate::util::{self, child_role, report, Child, TestResult};

fn fixtures_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

/// Every regular file under `dir` (recursively) with its bytes, by path relative to `dir`.
fn snapshot(dir: &Path) -> TestResult<BTreeMap<PathBuf, Vec<u8>>> {
    let mut out = BTreeMap::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        for e in std::fs::read_dir(&d)? {
            let p = e?.path();
            if p.is_dir() {
                todo.push(p);
            } else {
                out.insert(p.strip_prefix(dir)?.to_path_buf(), std::fs::read(&p)?);
            }
        }
    }
    Ok(out)
}

/// The database files of `dir` (the manifest, segments and index files), without the shared
/// state and lock files an open creates.
fn database_files(dir: &Path) -> TestResult<BTreeMap<PathBuf, Vec<u8>>> {
    let mut files = snapshot(dir)?;
    files.retain(|p, _| {
        let name = util::file_name(p);
        name == "MANIFEST" || name.ends_with(".zdb") || name.ends_with(".zdx")
    });
    Ok(files)
}

fn copy_dir(from: &Path, to: &Path) -> TestResult {
    std::fs::create_dir_all(to)?;
    for (rel, bytes) in snapshot(from)? {
        std::fs::write(to.join(rel), bytes)?;
    }
    Ok(())
}

#[derive(Debug, PartialEq)]
enum Held {
    Scalar(Value),
    List(Vec<Vec<u8>>),
    Set(Vec<Vec<u8>>),
    ZSet(Vec<(Vec<u8>, f64)>),
    Hash(Vec<(Vec<u8>, Vec<u8>)>),
}

/// Every key with what it holds and its expiry.
type Contents = BTreeMap<Vec<u8>, (Held, Option<u64>)>;

fn contents(db: &Db) -> TestResult<Contents> {
    let mut out = BTreeMap::new();
    for key in db.keys()? {
        let held = match db.key_type(&key)? {
            "list" => Held::List(db.list(&key).range(0, -1)?),
            "set" => {
                let mut m = db.set_of(&key).members()?;
                m.sort();
                Held::Set(m)
            }
            "zset" => Held::ZSet(db.zset(&key).range(0, -1, false)?),
            "hash" => {
                let mut h = db.hash(&key).get_all()?;
                h.sort();
                Held::Hash(h)
            }
            _ => Held::Scalar(db.get_value(&key)?.ok_or("key vanished")?),
        };
        out.insert(key.clone(), (held, db.expiry(&key)?));
    }
    Ok(out)
}

/// What `tests/fixtures/commands.txt` leaves in a database.
fn expected() -> Contents {
    let b = |s: &str| s.as_bytes().to_vec();
    let scalar = |v: Value| (Held::Scalar(v), None);
    BTreeMap::from([
        (b("after"), scalar(Value::Bytes(b("compact")))),
        (
            b"bin\0key".to_vec(),
            scalar(Value::Bytes(vec![0xff, 0, b'\n'])),
        ),
        (b("bool"), scalar(Value::Bool(true))),
        (b("float"), scalar(Value::Float(2.5))),
        (
            b("hash"),
            (
                Held::Hash(vec![
                    (b("f1"), b("v1")),
                    (b("f2"), b("v2")),
                    (b("f3"), b("v3")),
                ]),
                None,
            ),
        ),
        (b("int"), scalar(Value::Int(42))),
        (b("json"), scalar(Value::Json(r#"{"a": [1, 2]}"#.into()))),
        (
            b("list"),
            (Held::List(vec![b("z"), b("a"), b("b"), b("c")]), None),
        ),
        (b("set"), (Held::Set(vec![b("x"), b("z")]), None)),
        (b("str"), scalar(Value::Bytes(b("hello")))),
        (b("str:over"), scalar(Value::Bytes(b("second")))),
        (b("text"), scalar(Value::String("caf\u{e9}".into()))),
        (b("ts"), scalar(Value::Timestamp(1_700_000_000_123))),
        (
            b("ttl:str"),
            (
                Held::Scalar(Value::Bytes(b("soon"))),
                Some(4_102_444_800_000),
            ),
        ),
        (
            b("zset"),
            (
                Held::ZSet(vec![(b("three"), -3.0), (b("one"), 1.0), (b("two"), 2.5)]),
                None,
            ),
        ),
    ])
}

/// How the build under test treated one fixture.
enum Outcome {
    Opened,
    Refused { supported: u16 },
}

/// Opens a copy of fixture `name` (format version `version`) and checks what happened.
fn try_fixture(fixture: &Path, version: u16) -> TestResult<Outcome> {
    let tmp = util::tempdir();
    let dir = util::db_path(&tmp);
    copy_dir(fixture, &dir)?;
    let before = database_files(&dir)?;
    let name = fixture.display();
    match Db::open(&dir) {
        Ok(db) => {
            let got = contents(&db)?;
            assert_eq!(got, expected(), "{name}: content");
            assert_eq!(db.len(), expected().len() as u64, "{name}: key count");
            drop(db);
            // A second, warm open agrees (and a write works).
            let db = Db::open(&dir)?;
            assert_eq!(
                contents(&db)?,
                expected(),
                "{name}: content after reopening"
            );
            db.set(b"written", "by the build under test")?;
            Ok(Outcome::Opened)
        }
        Err(
            e @ Error::IncompatibleVersion {
                found, supported, ..
            },
        ) => {
            assert_eq!(found, version, "{name}: {e}");
            // The message says what to do: export with the old build, import with this one.
            assert!(
                e.to_string().contains("EXPORT") && e.to_string().contains("IMPORT"),
                "{name}: {e}"
            );
            assert_ne!(found, supported, "{name}: refused at its own version");
            assert_eq!(
                database_files(&dir)?,
                before,
                "{name}: a refused open changed the database files"
            );
            Ok(Outcome::Refused { supported })
        }
        Err(e) => Err(format!("{name}: neither opened nor refused as incompatible: {e}").into()),
    }
}

#[test]
fn every_golden_fixture_opens_exactly_or_is_refused() -> TestResult {
    let root = fixtures_dir();
    let before = snapshot(&root)?;
    let mut fixtures: Vec<(u16, PathBuf)> = Vec::new();
    for e in std::fs::read_dir(&root)? {
        let p = e?.path();
        let version = util::file_name(&p)
            .strip_prefix('v')
            .and_then(|v| v.parse().ok());
        if let (true, Some(v)) = (p.is_dir(), version) {
            fixtures.push((v, p));
        }
    }
    fixtures.sort();
    let versions: Vec<u16> = fixtures.iter().map(|f| f.0).collect();
    assert!(
        versions.len() >= 2 && versions[0] == 1,
        "fixtures of format 1 and later expected, found {versions:?}"
    );
    let mut opened = Vec::new();
    let mut supported_seen = Vec::new();
    for (version, path) in &fixtures {
        match try_fixture(path, *version)? {
            Outcome::Opened => opened.push(*version),
            Outcome::Refused { supported } => supported_seen.push(supported),
        }
    }
    // The version this build writes has its fixture, and it opens: a build cannot pass by
    // refusing everything.
    let newest = *versions.last().ok_or("no fixtures")?;
    assert!(
        opened.contains(&newest),
        "the newest fixture (v{newest}) must open; opened {opened:?}"
    );
    for s in supported_seen {
        assert_eq!(s, newest, "refusals name the version this build supports");
        assert!(opened.contains(&s));
    }
    assert_eq!(snapshot(&root)?, before, "the fixtures were modified");
    Ok(())
}

/// A small database of this build, closed.
fn closed_db(dir: &Path) -> TestResult {
    let db = Db::open(dir)?;
    db.set(b"k", "v")?;
    Ok(())
}

fn le_u16(b: &[u8], at: usize) -> u16 {
    u16::from_le_bytes([b[at], b[at + 1]])
}

#[test]
fn a_manifest_of_a_newer_version_is_refused_and_left_alone() -> TestResult {
    let tmp = util::tempdir();
    let dir = util::db_path(&tmp);
    closed_db(&dir)?;
    let path = dir.join("MANIFEST");
    let mut m = std::fs::read(&path)?;
    let supported = le_u16(&m, 8);
    m[8..10].copy_from_slice(&(supported + 1).to_le_bytes());
    let n = m.len();
    let crc = util::crc32(&m[..n - 4]);
    m[n - 4..].copy_from_slice(&crc.to_le_bytes());
    std::fs::write(&path, &m)?;
    for cold in [false, true] {
        if cold {
            std::fs::remove_file(dir.join("ziggy.shm"))?;
        }
        let before = database_files(&dir)?;
        match Db::open(&dir) {
            Err(Error::IncompatibleVersion {
                file,
                found,
                supported: s,
            }) => {
                assert_eq!(util::file_name(&file), "MANIFEST");
                assert_eq!((found, s), (supported + 1, supported));
            }
            other => panic!("a newer manifest: {:?}", other.map(|_| "opened")),
        }
        assert_eq!(database_files(&dir)?, before, "cold: {cold}");
    }
    Ok(())
}

#[test]
fn an_index_of_a_newer_version_is_refused_and_left_alone() -> TestResult {
    let tmp = util::tempdir();
    let dir = util::db_path(&tmp);
    closed_db(&dir)?;
    let files = util::index_files(&dir);
    let [index] = files.as_slice() else {
        return Err(format!("one index file expected: {files:?}").into());
    };
    let supported = u16::try_from(u64::from_le_bytes(std::fs::read(index)?[8..16].try_into()?))?;
    util::write_at(index, 8, &u64::from(supported + 1).to_le_bytes());
    for cold in [false, true] {
        if cold {
            std::fs::remove_file(dir.join("ziggy.shm"))?;
        }
        let before = database_files(&dir)?;
        match Db::open(&dir) {
            Err(Error::IncompatibleVersion {
                file,
                found,
                supported: s,
            }) => {
                assert_eq!(&file, index);
                assert_eq!((found, s), (supported + 1, supported));
            }
            other => panic!("a newer index, cold {cold}: {:?}", other.map(|_| "opened")),
        }
        assert_eq!(
            database_files(&dir)?,
            before,
            "cold {cold}: the newer index was rebuilt over"
        );
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Builds with different ziggy.shm layouts beside each other

/// Word `i` of `ziggy.shm` (8 little-endian bytes at `8 i`).
fn shm_word(dir: &Path, i: usize) -> TestResult<u64> {
    let b = std::fs::read(dir.join("ziggy.shm"))?;
    Ok(u64::from_le_bytes(b[i * 8..i * 8 + 8].try_into()?))
}

/// Child: plays a process of another build attached to the directory. It gives `ziggy.shm`
/// the version word `ZIGGY_SHM_VERSION` and `ready` word `ZIGGY_SHM_READY` (what that build's
/// first attacher writes), holds the file's lock shared as an attached process does
/// (format-spec.md §6), and waits until its stdin is closed.
#[test]
fn child_other_layout() {
    let Some(dir) = child_role("other-layout") else {
        return;
    };
    let r = (|| -> TestResult {
        let version: u64 = util::child_param("ZIGGY_SHM_VERSION");
        let ready: u64 = util::child_param("ZIGGY_SHM_READY");
        let path = dir.join("ziggy.shm");
        util::write_at(&path, 8, &version.to_le_bytes());
        util::write_at(&path, 32, &ready.to_le_bytes());
        let file = std::fs::File::open(&path)?;
        fs2::FileExt::lock_shared(&file)?;
        report("ATTACHED");
        while util::read_command().is_some() {}
        drop(file);
        Ok(())
    })();
    util::end_child(r);
}

#[test]
fn a_build_refuses_to_attach_beside_a_process_of_another_shm_layout() -> TestResult {
    for (version, ready) in [(1u64, 1u64), (2, 2), (4, 4)] {
        let tmp = util::tempdir();
        let dir = util::db_path(&tmp);
        closed_db(&dir)?;
        let mut other = Child::spawn(
            "versions::child_other_layout",
            "other-layout",
            &dir,
            &[
                ("ZIGGY_SHM_VERSION", version.to_string()),
                ("ZIGGY_SHM_READY", ready.to_string()),
            ],
        );
        other.expect("ATTACHED", Duration::from_secs(60));
        let before = snapshot(&dir)?;
        match Db::open(&dir) {
            Err(Error::IncompatibleVersion { file, found, .. }) => {
                assert_eq!(util::file_name(&file), "ziggy.shm");
                assert_eq!(u64::from(found), version);
            }
            other => panic!(
                "beside a layout-{version} process: {:?}",
                other.map(|_| "attached")
            ),
        }
        assert_eq!(
            snapshot(&dir)?,
            before,
            "a refused attach changed a file (ziggy.shm included)"
        );
        other.close_stdin();
        other.finish(Duration::from_secs(60))?;
    }
    Ok(())
}

#[test]
fn a_layout_1_build_cannot_mistake_this_builds_shared_state_for_its_own() -> TestResult {
    // A build of shm layout 1 attaching beside a running process checks only that word 4
    // (`ready`) is 1; as first attacher it checks magic, version 1 and ready 1, or cold starts
    // and then meets the manifest's version.
    let tmp = util::tempdir();
    let dir = util::db_path(&tmp);
    let db = Db::open(&dir)?;
    db.set(b"k", "v")?;
    assert_ne!(shm_word(&dir, 4)?, 1, "ready word of an attached database");
    assert_ne!(
        shm_word(&dir, 1)?,
        1,
        "version word of an attached database"
    );
    drop(db);
    let m = std::fs::read(dir.join("MANIFEST"))?;
    assert_ne!(le_u16(&m, 8), 1, "manifest version");
    Ok(())
}
