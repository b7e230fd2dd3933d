//! The library API as a C ABI and language bindings see it: stable error codes, errors that
//! say what happened, handles and transactions across threads, processes and `fork()`.

use std::collections::BTreeSet;
use std::process::Command;

use ziggydb::{Db, Error, ErrorCode};

use crate::util::{self, TestResult};

/// The codes are a contract: these never change. A new error gets a new code (and a row in
/// README's table, which `the_readme_table_lists_every_error_code` checks).
#[test]
fn error_codes_are_stable_and_unique() {
    let pinned = [
        (ErrorCode::Io, 10, "IO"),
        (ErrorCode::DiskFull, 12, "DISK_FULL"),
        (ErrorCode::OutOfMemory, 15, "OUT_OF_MEMORY"),
        (ErrorCode::CorruptIndex, 23, "CORRUPT_INDEX"),
        (ErrorCode::CorruptShm, 25, "CORRUPT_SHM"),
        (ErrorCode::CorruptCollection, 26, "CORRUPT_COLLECTION"),
        (ErrorCode::CorruptValue, 27, "CORRUPT_VALUE"),
        (ErrorCode::OptionsMismatch, 46, "OPTIONS_MISMATCH"),
        (ErrorCode::Busy, 60, "BUSY"),
        (ErrorCode::ReadOnly, 62, "READ_ONLY"),
        (ErrorCode::Forked, 63, "FORKED"),
        (ErrorCode::TxnActive, 64, "TXN_ACTIVE"),
        (ErrorCode::InvalidArgument, 80, "INVALID_ARGUMENT"),
        (ErrorCode::WrongType, 100, "WRONG_TYPE"),
        (ErrorCode::IndexOutOfRange, 106, "INDEX_OUT_OF_RANGE"),
    ];
    for (kind, code, name) in pinned {
        assert_eq!((kind.code(), kind.name()), (code, name));
        assert_eq!(ErrorCode::from_code(code), Some(kind));
    }
    let codes: BTreeSet<i32> = ErrorCode::ALL.iter().map(|c| c.code()).collect();
    let names: BTreeSet<&str> = ErrorCode::ALL.iter().map(|c| c.name()).collect();
    assert_eq!(codes.len(), ErrorCode::ALL.len(), "codes are unique");
    assert_eq!(names.len(), ErrorCode::ALL.len(), "names are unique");
    assert!(
        !codes.contains(&0) && !codes.contains(&1),
        "0 and 1 are the C ABI's OK and NOTFOUND"
    );
    for c in ErrorCode::ALL {
        assert!(
            c.name()
                .bytes()
                .all(|b| b.is_ascii_uppercase() || b == b'_'),
            "{c:?}"
        );
    }
    // Errors carry their kind.
    assert_eq!(Error::Overflow.code(), 103);
    assert_eq!(Error::NotAnInteger.name(), "NOT_AN_INTEGER");
    let wrong = Error::WrongType {
        expected: ziggydb::ValueType::String,
        actual: ziggydb::ValueType::List,
    };
    assert_eq!(wrong.kind(), ErrorCode::WrongType);
}

/// README's table of error codes is the one the bindings follow: it must list every code
/// with its name, and nothing else.
#[test]
fn the_readme_table_lists_every_error_code() -> TestResult {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md"))?;
    let section = readme
        .split("\n### Errors\n")
        .nth(1)
        .ok_or("README has an Errors section")?;
    let section = section.split("\n#").next().unwrap_or_default();
    let mut rows = BTreeSet::new();
    for line in section.lines().filter(|l| l.starts_with("| ")) {
        let cells: Vec<&str> = line.split('|').map(str::trim).collect();
        if let Ok(code) = cells[1].parse::<i32>() {
            rows.insert((code, cells[2].trim_matches('`').to_owned()));
        }
    }
    let want: BTreeSet<(i32, String)> = ErrorCode::ALL
        .iter()
        .map(|c| (c.code(), c.name().to_owned()))
        .collect();
    assert_eq!(rows, want);
    Ok(())
}

/// A damaged `ziggy.shm` is reported as the shared state, not as the index: here it has the
/// wrong size while a process uses it, and a second process's open says so.
#[test]
fn a_damaged_shared_state_is_corrupt_shm() -> TestResult {
    let dir = util::tempdir();
    let db = Db::open(dir.path())?;
    db.set(b"k", 1i64)?;
    // Growing never takes pages from under this process's mapping.
    let shm = std::fs::OpenOptions::new()
        .write(true)
        .open(dir.path().join("ziggy.shm"))?;
    shm.set_len(shm.metadata()?.len() + 4096)?;
    let out = Command::new(env!("CARGO_BIN_EXE_ziggy"))
        .arg("-d")
        .arg(dir.path())
        .args(["get", "k"])
        .output()?;
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{err}");
    assert!(
        err.contains("shared state") && err.contains("ziggy.shm") && !err.contains("index file"),
        "{err}"
    );
    Ok(())
}
