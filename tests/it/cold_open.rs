//! A cold open (no `ziggy.shm`, as after a reboot) of a cleanly closed database adopts the
//! index the last process checkpointed: same generation, no rebuild (format-spec.md §4.1,
//! §9.3, §10.2). Checked after every kind of session that can end a database's life: writes,
//! several sessions with segment rotations, compaction, a session that only reads, and a
//! rebuild; with a small and a larger database. The index header each close leaves must
//! validate under the spec's own rule, which an independent reader found it did not.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use ziggydb::{Db, OpenOptions};

use crate::util::{self, TestResult};

const SMALL: u64 = 300;
const LARGE: u64 = 50_000;

/// The database's contents as the test wrote them.
type Model = BTreeMap<Vec<u8>, Vec<u8>>;

fn options() -> OpenOptions {
    // No background work: what a session does to the files is exactly what the test did.
    Db::options()
        .auto_compact(false, 0.5, 16 << 20)
        .active_expiry(None)
}

fn key(i: u64) -> Vec<u8> {
    format!("key:{i:07}").into_bytes()
}

/// Sets keys `from..to` to values tagged `round`, 200 to a transaction.
fn write_keys(db: &Db, model: &mut Model, from: u64, to: u64, round: u32) -> TestResult {
    let mut i = from;
    while i < to {
        let end = (i + 200).min(to);
        db.transaction(|tx| {
            for k in i..end {
                tx.set(&key(k), format!("value {k} of round {round}").as_str())?;
            }
            Ok(())
        })?;
        for k in i..end {
            model.insert(key(k), format!("value {k} of round {round}").into_bytes());
        }
        i = end;
    }
    Ok(())
}

/// Deletes every `step`-th key below `n`, 500 to a transaction.
fn delete_some(db: &Db, model: &mut Model, n: u64, step: u64) -> TestResult {
    let doomed: Vec<u64> = (0..n).step_by(step as usize).collect();
    for chunk in doomed.chunks(500) {
        db.transaction(|tx| {
            for &k in chunk {
                tx.delete(&key(k))?;
            }
            Ok(())
        })?;
    }
    for k in doomed {
        model.remove(&key(k));
    }
    Ok(())
}

fn check_contents(db: &Db, model: &Model) -> TestResult {
    assert_eq!(db.len(), model.len() as u64, "key count");
    for (k, v) in model {
        let got = db.get(k)?.ok_or_else(|| {
            format!(
                "key {} missing after a cold open",
                String::from_utf8_lossy(k)
            )
        })?;
        assert_eq!(got.as_bytes(), v.as_slice());
    }
    Ok(())
}

/// Index generations present in `dir`.
fn generations(dir: &Path) -> Vec<String> {
    util::index_files(dir)
        .iter()
        .map(|p| util::file_name(p))
        .collect()
}

/// Checks the header of the one index file of a closed database against format-spec.md
/// §4.1 alone: dirty = 0 and a CRC-32 over words 0..13 and 14..64 that matches.
fn assert_header_sealed(dir: &Path) -> TestResult<PathBuf> {
    let files = util::index_files(dir);
    let [index] = files.as_slice() else {
        return Err(format!("expected one index file after a clean close: {files:?}").into());
    };
    let bytes = std::fs::read(index)?;
    let word = |i: usize| -> u64 {
        let b: [u8; 8] = bytes[i * 8..i * 8 + 8].try_into().expect("8 bytes");
        u64::from_le_bytes(b)
    };
    assert_eq!(word(6), 0, "{}: dirty after a clean close", index.display());
    let mut sealed = Vec::with_capacity(504);
    for i in (0..64).filter(|&i| i != 13) {
        sealed.extend_from_slice(&word(i).to_le_bytes());
    }
    assert_eq!(
        word(13),
        u64::from(util::crc32(&sealed)),
        "{}: the header CRC does not validate with dirty = 0",
        index.display()
    );
    Ok(index.clone())
}

/// The database at `dir` was just closed cleanly: its index header validates, and a cold
/// open adopts it (the index file is the same before, during and after), reading `model`.
fn assert_cold_open_adopts(dir: &Path, model: &Model, what: &str) -> TestResult {
    assert_header_sealed(dir)?;
    let before = generations(dir);
    std::fs::remove_file(dir.join("ziggy.shm"))?;
    let db = options().open(dir)?;
    assert_eq!(
        generations(dir),
        before,
        "{what}: a cold open after a clean close rebuilt the index"
    );
    check_contents(&db, model)?;
    drop(db);
    assert_eq!(generations(dir), before, "{what}: index changed by a read");
    assert_header_sealed(dir)?;
    Ok(())
}

fn after_a_write_session(n: u64) -> TestResult {
    let tmp = util::tempdir();
    let dir = util::db_path(&tmp);
    let mut model = Model::new();
    {
        let db = options().open(&dir)?;
        write_keys(&db, &mut model, 0, n, 1)?;
        delete_some(&db, &mut model, n, 7)?;
    }
    assert_cold_open_adopts(&dir, &model, "after a write session")
}

#[test]
fn a_cold_open_after_a_write_session_adopts_the_index() -> TestResult {
    after_a_write_session(SMALL)?;
    after_a_write_session(LARGE)
}

fn after_sessions_with_rotations(n: u64) -> TestResult {
    let tmp = util::tempdir();
    let dir = util::db_path(&tmp);
    let mut model = Model::new();
    for round in 1..=3u32 {
        let segs = if dir.exists() {
            util::segment_files(&dir).len()
        } else {
            0
        };
        {
            // 64 KiB segments: every session rotates (each round writes > 64 KiB of log).
            let db = options().segment_size(64 << 10).open(&dir)?;
            write_keys(&db, &mut model, 0, n, round)?;
            if round == 2 {
                delete_some(&db, &mut model, n, 5)?;
            }
        }
        assert!(
            util::segment_files(&dir).len() > segs,
            "round {round} did not rotate"
        );
        assert_cold_open_adopts(&dir, &model, &format!("after session {round}"))?;
    }
    Ok(())
}

#[test]
fn a_cold_open_after_sessions_with_segment_rotations_adopts_the_index() -> TestResult {
    after_sessions_with_rotations(SMALL * 4)?;
    after_sessions_with_rotations(LARGE)
}

fn after_compaction(n: u64) -> TestResult {
    let tmp = util::tempdir();
    let dir = util::db_path(&tmp);
    let mut model = Model::new();
    {
        let db = options().segment_size(256 << 10).open(&dir)?;
        write_keys(&db, &mut model, 0, n, 1)?;
        write_keys(&db, &mut model, 0, n / 2, 2)?;
        delete_some(&db, &mut model, n, 3)?;
        db.compact()?;
    }
    assert_cold_open_adopts(&dir, &model, "after compaction")?;
    {
        // A compaction as the last thing a session does, after the writes of another.
        let db = options().segment_size(256 << 10).open(&dir)?;
        write_keys(&db, &mut model, n / 4, n / 2, 3)?;
        drop(db);
        let db = options().segment_size(256 << 10).open(&dir)?;
        db.compact()?;
    }
    assert_cold_open_adopts(&dir, &model, "after a compaction-only session")
}

#[test]
fn a_cold_open_after_compaction_adopts_the_index() -> TestResult {
    after_compaction(SMALL)?;
    after_compaction(LARGE)
}

fn after_a_read_session(n: u64) -> TestResult {
    let tmp = util::tempdir();
    let dir = util::db_path(&tmp);
    let mut model = Model::new();
    {
        let db = options().open(&dir)?;
        write_keys(&db, &mut model, 0, n, 1)?;
    }
    // A warm session that only reads, then a cold open.
    {
        let db = options().open(&dir)?;
        check_contents(&db, &model)?;
    }
    assert_cold_open_adopts(&dir, &model, "after a read-only session")?;
    // A cold session that only reads (the adopting open above), then another cold open.
    assert_cold_open_adopts(&dir, &model, "after a cold read-only session")
}

#[test]
fn a_cold_open_after_a_read_only_session_adopts_the_index() -> TestResult {
    after_a_read_session(SMALL)?;
    after_a_read_session(LARGE)
}

fn after_a_rebuild(n: u64) -> TestResult {
    let tmp = util::tempdir();
    let dir = util::db_path(&tmp);
    let mut model = Model::new();
    {
        let db = options().open(&dir)?;
        write_keys(&db, &mut model, 0, n, 1)?;
        delete_some(&db, &mut model, n, 4)?;
    }
    // Without its index file (and cold), the open rebuilds it from the segments.
    for f in util::index_files(&dir) {
        std::fs::remove_file(f)?;
    }
    std::fs::remove_file(dir.join("ziggy.shm"))?;
    {
        let db = options().open(&dir)?;
        assert_eq!(util::index_files(&dir).len(), 1, "the rebuilt index");
        check_contents(&db, &model)?;
    }
    assert_cold_open_adopts(&dir, &model, "after a rebuild")
}

#[test]
fn a_cold_open_after_a_rebuild_adopts_the_index() -> TestResult {
    after_a_rebuild(SMALL)?;
    after_a_rebuild(LARGE)
}
