//! Opening a damaged database directory must never panic.
//!
//! A template database (several segments, overwrites, deletes, a compaction, cleanly closed)
//! is built once. Each input picks one of its segment, MANIFEST or index files, damages a copy
//! of it in a fresh copy of the directory, then opens the database, reads every key, writes
//! one, and runs `check()`. Any of these may return an error; none may panic.
//!
//! Input layout: byte 0 picks the file, byte 1 the kind of damage, bytes 2..6 an offset
//! (little-endian, taken modulo the file length), the rest are the bytes written.
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::Duration;

use ziggydb::{Db, Durability};

fn opts() -> ziggydb::OpenOptions {
    Db::options()
        .segment_size(64 << 10)
        .lock_timeout(Some(Duration::from_secs(2)))
        .auto_compact(false, 0.5, 0)
}

/// Builds the template database once per fuzzing process.
fn template() -> &'static (tempfile::TempDir, PathBuf) {
    static T: OnceLock<(tempfile::TempDir, PathBuf)> = OnceLock::new();
    T.get_or_init(|| {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("db");
        let db = opts()
            .durability(Durability::Batched {
                max_delay: Duration::from_millis(5),
            })
            .open(&path)
            .expect("open template");
        for round in 0..3u32 {
            db.transaction(|tx| {
                for i in 0..150u32 {
                    let v = vec![b'a' + (i % 26) as u8; 40 + (i as usize * 7) % 400];
                    tx.set(format!("key{i}").as_bytes(), v)?;
                }
                tx.incr_by(b"counter", 1)?;
                tx.set(b"pi", 3.25f64)?;
                tx.set(b"flag", round % 2 == 0)?;
                Ok(())
            })
            .expect("template commit");
            for i in (0..150u32).step_by(5 + round as usize) {
                db.delete(format!("key{i}").as_bytes())
                    .expect("template delete");
            }
            if round == 1 {
                db.compact().expect("template compact");
            }
        }
        db.sync().expect("template sync");
        drop(db);
        (dir, path)
    })
}

/// The files an input may damage: segments, the manifest and index files.
fn is_target(name: &str) -> bool {
    name.starts_with("seg-") || name.starts_with("MANIFEST") || name.starts_with("index-")
}

fn copy_dir(from: &Path, to: &Path) -> Vec<PathBuf> {
    fs::create_dir_all(to).expect("create copy");
    let mut targets = Vec::new();
    for entry in fs::read_dir(from).expect("read template") {
        let entry = entry.expect("read template entry");
        if !entry.file_type().expect("file type").is_file() {
            continue;
        }
        let dest = to.join(entry.file_name());
        fs::copy(entry.path(), &dest).expect("copy file");
        if is_target(&entry.file_name().to_string_lossy()) {
            targets.push(dest);
        }
    }
    targets.sort();
    targets
}

fn damage(file: &Path, mode: u8, offset: u32, bytes: &[u8]) {
    let mut data = fs::read(file).expect("read file");
    let at = if data.is_empty() {
        0
    } else {
        offset as usize % data.len()
    };
    match mode % 5 {
        // Overwrite in place.
        0 => {
            let end = (at + bytes.len()).min(data.len());
            data[at..end].copy_from_slice(&bytes[..end - at]);
        }
        // Flip bits in place.
        1 => {
            for (d, b) in data[at..].iter_mut().zip(bytes) {
                *d ^= b;
            }
        }
        // Cut short, then append.
        2 => {
            data.truncate(at);
            data.extend_from_slice(bytes);
        }
        // Replace whole.
        3 => data = bytes.to_vec(),
        // Remove.
        _ => {
            fs::remove_file(file).expect("remove file");
            return;
        }
    }
    fs::write(file, data).expect("write file");
}

fn exercise(path: &Path) {
    let Ok(db) = opts().open(path) else { return };
    if let Ok(keys) = db.keys() {
        for k in keys {
            if let Ok(Some(v)) = db.get(&k) {
                let _ = v.to_value();
            }
        }
    }
    let _ = db.len();
    let _ = db.metrics();
    if db.set(b"after-damage", "x").is_ok() {
        let v = db
            .get(b"after-damage")
            .expect("read back a key just written");
        assert_eq!(
            v.as_deref(),
            Some(&b"x"[..]),
            "a committed write reads back"
        );
    }
    let _ = db.check();
}

/// One input.
pub fn fuzz(data: &[u8]) {
    let [pick, mode, o0, o1, o2, o3, rest @ ..] = data else {
        return;
    };
    let (_keep, template) = template();
    let work = tempfile::tempdir().expect("tempdir");
    let path = work.path().join("db");
    let targets = copy_dir(template, &path);
    if targets.is_empty() {
        return;
    }
    let file = &targets[usize::from(*pick) % targets.len()];
    damage(file, *mode, u32::from_le_bytes([*o0, *o1, *o2, *o3]), rest);
    exercise(&path);
}
