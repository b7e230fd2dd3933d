//! The C and C++ test programs, the examples, several processes on one database, and the
//! installed pkg-config file.

use std::process::Command;

use crate::util::*;

#[test]
fn c_api_under_asan_and_ubsan() {
    let tmp = tempfile::tempdir().unwrap();
    let exe = tmp.path().join("api_test");
    build("gcc", &["tests/c/api_test.c"], &exe, SANITIZE, Link::Static);
    let data = tmp.path().join("data");
    std::fs::create_dir(&data).unwrap();
    assert_all_passed(&run_ok(Command::new(&exe).arg(&data)));
}

#[test]
fn cpp_api_under_asan_and_ubsan() {
    let tmp = tempfile::tempdir().unwrap();
    let exe = tmp.path().join("api_test_cpp");
    build(
        "g++",
        &["tests/cpp/api_test.cpp"],
        &exe,
        SANITIZE,
        Link::Shared,
    );
    let data = tmp.path().join("data");
    std::fs::create_dir(&data).unwrap();
    assert_all_passed(&run_ok(Command::new(&exe).arg(&data)));
}

#[test]
fn c_api_under_valgrind_loses_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let exe = tmp.path().join("api_test_vg");
    build("gcc", &["tests/c/api_test.c"], &exe, &[], Link::Shared);
    let data = tmp.path().join("data");
    std::fs::create_dir(&data).unwrap();
    let out = run_ok(
        Command::new("valgrind")
            .args([
                "--quiet",
                "--leak-check=full",
                "--show-leak-kinds=definite,indirect",
                "--errors-for-leak-kinds=definite,indirect",
                "--error-exitcode=99",
            ])
            .arg(&exe)
            .arg(&data),
    );
    assert_all_passed(&out);
}

/// Several C processes (each a fork + exec of a C program) and this Rust process increment
/// one counter in one directory at once; the total is exact, and each side reads the other's
/// writes.
#[test]
fn c_processes_and_a_rust_process_share_one_counter() {
    const C_PROCS: u64 = 3;
    const EACH: u64 = 200;
    let tmp = tempfile::tempdir().unwrap();
    let exe = tmp.path().join("counter");
    build("gcc", &["examples/c/counter.c"], &exe, &[], Link::Shared);
    let dir = tmp.path().join("db");
    let db = zdb::Db::open(&dir).unwrap();
    let children: Vec<_> = (0..C_PROCS)
        .map(|_| {
            Command::new(&exe)
                .arg(&dir)
                .args(["worker", &EACH.to_string()])
                .spawn()
                .unwrap()
        })
        .collect();
    for _ in 0..EACH {
        db.incr_by("counter", 1).unwrap();
    }
    for mut child in children {
        assert!(child.wait().unwrap().success());
    }
    let total = db.get_value("counter").unwrap().unwrap().as_int().unwrap();
    assert_eq!(total, ((C_PROCS + 1) * EACH) as i64);
    // Rust writes, C reads: the example's own check counts from what Rust left.
    let out = run_ok(Command::new(&exe).arg(&dir).args(["2", "50"]));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("800 -> 900"), "{text}");
    assert_eq!(
        db.get_value("counter").unwrap().unwrap().as_int().unwrap(),
        900
    );
}

/// A C process that wants to write while this Rust process holds the writer lock waits for
/// its lock timeout (10 s by default) and fails with ZIGGY_BUSY and a message, rather than
/// hanging or writing; once the lock is free it writes.
#[test]
fn a_c_writer_gets_busy_while_a_rust_transaction_holds_the_lock() {
    let tmp = tempfile::tempdir().unwrap();
    let exe = tmp.path().join("counter");
    build("gcc", &["examples/c/counter.c"], &exe, &[], Link::Shared);
    let dir = tmp.path().join("db");
    let db = zdb::Db::open(&dir).unwrap();
    let tx = db.begin_write().unwrap();
    let out = Command::new(&exe)
        .arg(&dir)
        .args(["worker", "1"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("incrby") && err.contains("(BUSY)"), "{err}");
    tx.rollback();
    run_ok(Command::new(&exe).arg(&dir).args(["worker", "1"]));
    assert_eq!(db.get_value("counter").unwrap(), Some(zdb::Value::Int(1)));
}

#[test]
fn the_examples_build_and_check_themselves() {
    let tmp = tempfile::tempdir().unwrap();
    let counter = tmp.path().join("counter");
    build(
        "gcc",
        &["examples/c/counter.c"],
        &counter,
        &[],
        Link::Static,
    );
    let out = run_ok(
        Command::new(&counter)
            .arg(tmp.path().join("c"))
            .args(["4", "100"]),
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("0 -> 400"));

    let board = tmp.path().join("leaderboard");
    build(
        "g++",
        &["examples/cpp/leaderboard.cpp"],
        &board,
        &[],
        Link::Shared,
    );
    let out = run_ok(
        Command::new(&board)
            .arg(tmp.path().join("cpp"))
            .args(["3", "40"]),
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("120 points, 120 rounds, 120 expected (exact)"),
        "{text}"
    );
}

/// `install.sh PREFIX` and then `cc app.c $(pkg-config --cflags --libs ziggydb)`, as the
/// README says.
#[test]
fn the_installed_pkg_config_file_builds_a_program() {
    let tmp = tempfile::tempdir().unwrap();
    let prefix = tmp.path().join("prefix");
    run_ok(
        Command::new("sh")
            .arg(crate_dir().join("install.sh"))
            .arg(&prefix)
            .env("ZIGGY_LIB_DIR", lib_dir())
            .env("ZIGGY_ALLOW_TEST_HOOKS", "1"),
    );
    // Without the permission, a library with the test hooks is refused.
    let refused = Command::new("sh")
        .arg(crate_dir().join("install.sh"))
        .arg(tmp.path().join("other-prefix"))
        .env("ZIGGY_LIB_DIR", lib_dir())
        .output()
        .unwrap();
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("test hooks"));
    let pc_path = prefix.join("lib/pkgconfig");
    let flags = run_ok(
        Command::new("pkg-config")
            .args(["--cflags", "--libs", "ziggydb"])
            .env("PKG_CONFIG_PATH", &pc_path),
    );
    let flags = String::from_utf8(flags.stdout).unwrap();
    assert!(
        flags.contains(&format!("-I{}/include", prefix.display())),
        "{flags}"
    );
    let app = tmp.path().join("app");
    run_ok(
        Command::new("sh")
            .arg("-c")
            .arg(format!(
                "cc -Wall -Werror {} -o {} $(pkg-config --cflags --libs ziggydb)",
                crate_dir().join("tests/c/pkgconfig_app.c").display(),
                app.display()
            ))
            .env("PKG_CONFIG_PATH", &pc_path),
    );
    let out = run_ok(
        Command::new(&app)
            .arg(tmp.path().join("db"))
            .env("LD_LIBRARY_PATH", prefix.join("lib")),
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("runs = 1"));
    // And statically, with the private libraries.
    let app_static = tmp.path().join("app_static");
    run_ok(
        Command::new("sh")
            .arg("-c")
            .arg(format!(
                "cc {} -o {} $(pkg-config --cflags ziggydb) {}/lib/libziggydb.a \
                 $(pkg-config --libs-only-l --static ziggydb | sed 's/-lziggydb//')",
                crate_dir().join("tests/c/pkgconfig_app.c").display(),
                app_static.display(),
                prefix.display()
            ))
            .env("PKG_CONFIG_PATH", &pc_path),
    );
    let out = run_ok(Command::new(&app_static).arg(tmp.path().join("db")));
    assert!(String::from_utf8_lossy(&out.stdout).contains("runs = 2"));
}
