//! Memory: big values are read in place, not copied (`STRLEN`, `GET`, `GETRANGE` of a value
//! bigger than the process may allocate), and an allocation sized by the input that cannot be
//! made is an error, not an abort. Each `ziggy` runs under `ulimit -v`.

use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::process::{Command, Output, Stdio};

use ziggydb::Db;

use crate::util::{self, TestResult};

/// Size of the big value.
const BIG: usize = 64 << 20;
/// Segment size that holds it.
const SEGMENT: u64 = 256 << 20;

/// Runs `ziggy -d DIR ARGS` under `ulimit -v KIB`, with `stdin` (a file) as input.
fn ziggy_limited(dir: &Path, kib: u64, args: &[&str], stdin: Option<&Path>) -> TestResult<Output> {
    ziggy_under("-v", dir, kib, args, stdin)
}

/// Runs `ziggy -d DIR ARGS` under `ulimit LIMIT KIB` (`-v`: address space; `-d`: data, the
/// heap without the maps of the database's files), with `stdin` (a file) as input.
fn ziggy_under(
    limit: &str,
    dir: &Path,
    kib: u64,
    args: &[&str],
    stdin: Option<&Path>,
) -> TestResult<Output> {
    let mut cmd = Command::new("sh");
    cmd.arg("-c")
        .arg(format!("ulimit {limit} {kib} && exec \"$0\" \"$@\""))
        .arg(env!("CARGO_BIN_EXE_ziggy"))
        .arg("-d")
        .arg(dir)
        .arg("--segment-size")
        .arg(SEGMENT.to_string())
        // A script's commands each commit and sync on their own, with no flusher thread
        // (whose stack `ulimit -d` would count): what is measured is the command's memory.
        .args(["--durability", "immediate"])
        .args(args)
        .env_remove("ZIGGY_DIR")
        // One malloc arena: the address space a run needs does not depend on its threads.
        .env("MALLOC_ARENA_MAX", "1");
    cmd.stdin(match stdin {
        Some(path) => Stdio::from(std::fs::File::open(path)?),
        None => Stdio::null(),
    });
    Ok(cmd.output()?)
}

/// The smallest `ulimit -v` (to 8 MiB) under which `ziggy TYPE big` works: the address
/// space of a process that maps the big value's segment and reads no value.
fn baseline_kib(dir: &Path) -> TestResult<u64> {
    let works = |kib: u64| -> TestResult<bool> {
        let out = ziggy_limited(dir, kib, &["TYPE", "big"], None)?;
        Ok(out.status.success() && out.stdout == b"string\n")
    };
    let (mut lo, mut hi) = (16u64 << 10, 2u64 << 20);
    if !works(hi)? {
        return Err("ziggy TYPE big fails even under a 2 GiB limit".into());
    }
    while hi - lo > 8 << 10 {
        let mid = (lo + hi) / 2;
        if works(mid)? {
            hi = mid;
        } else {
            lo = mid;
        }
    }
    Ok(hi)
}

fn big_value() -> Vec<u8> {
    (0..BIG).map(|i| b'a' + (i % 26) as u8).collect()
}

#[test]
fn strlen_get_and_getrange_of_a_value_larger_than_memory_allows_to_copy() -> TestResult {
    let tmp = util::tempdir();
    let dir = util::db_path(&tmp);
    {
        let db = Db::options().segment_size(SEGMENT).open(&dir)?;
        db.set(b"big", big_value())?;
        db.set(b"n", 42i64)?;
    }
    // Room for the map and the process, and half the value: a copy of it cannot be made.
    let limit = baseline_kib(&dir)? + ((BIG as u64 / 2) >> 10);

    let out = ziggy_limited(&dir, limit, &["STRLEN", "big"], None)?;
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        out.status.code(),
        Some(0),
        "STRLEN under {limit} KiB: {stderr}"
    );
    assert_eq!(String::from_utf8(out.stdout)?, format!("{BIG}\n"));

    let out = ziggy_limited(&dir, limit, &["GETRANGE", "big", "26", "30"], None)?;
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(out.stdout, b"abcde\n");

    // GET to a pipe writes the mapped bytes.
    let out = ziggy_limited(&dir, limit, &["GET", "big"], None)?;
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(out.stdout.len(), BIG + 1);
    assert!(
        out.stdout[..BIG] == big_value()[..],
        "GET printed other bytes"
    );

    // Quoted forms are written a piece at a time, never built whole.
    for format in ["--no-raw", "--json", "--csv"] {
        let out = ziggy_limited(&dir, limit, &[format, "GET", "big"], None)?;
        assert_eq!(
            out.status.code(),
            Some(0),
            "{format}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(out.stdout.len(), BIG + 3, "{format}");
        assert!(
            out.stdout[1..=BIG] == big_value()[..],
            "{format}: other bytes"
        );
    }

    // A value that is not bytes is formatted, as before.
    let out = ziggy_limited(&dir, limit, &["GET", "n"], None)?;
    assert_eq!(out.stdout, b"42\n");
    Ok(())
}

#[test]
fn an_allocation_sized_by_the_input_that_fails_is_an_error_not_an_abort() -> TestResult {
    let tmp = util::tempdir();
    let dir = util::db_path(&tmp);
    {
        let db = Db::options().segment_size(SEGMENT).open(&dir)?;
        db.set(b"big", big_value())?;
        db.set(b"keep", "original")?;
    }
    let input = tmp.path().join("input");
    std::fs::write(&input, big_value())?;
    // From room for the input and one copy of it (storing it takes one) down to room for
    // half of it: each run stores the value or says it cannot allocate, never aborts.
    let base = baseline_kib(&dir)?;
    let mut errors = 0;
    for extra in [BIG * 5 / 2, BIG * 3 / 2, BIG, BIG / 2] {
        let limit = base + (extra as u64 >> 10);
        let out = ziggy_limited(&dir, limit, &["-x", "SET", "new"], Some(&input))?;
        let stdout = String::from_utf8_lossy(&out.stdout);
        let stderr = String::from_utf8_lossy(&out.stderr);
        // An abort is SIGABRT (exit status 134 from a shell).
        assert_eq!(
            out.status.signal(),
            None,
            "killed under {limit} KiB: {stderr}"
        );
        match out.status.code() {
            Some(0) => assert_eq!(stdout, "OK\n"),
            Some(1) => {
                errors += 1;
                // "cannot allocate N bytes", or the OS's "Cannot allocate memory" when
                // there is no room left to map the database.
                assert!(
                    stdout.contains("allocate") || stderr.contains("allocate"),
                    "under {limit} KiB: stdout {stdout:?}, stderr {stderr:?}"
                );
            }
            other => return Err(format!("exit {other:?} under {limit} KiB: {stderr}").into()),
        }
    }
    assert!(
        errors > 0,
        "every limit was enough: the test limits are too loose"
    );
    // Whatever failed left the database as it was.
    let db = Db::options().segment_size(SEGMENT).open(&dir)?;
    assert_eq!(db.get(b"keep")?.as_deref(), Some(&b"original"[..]));
    if let Some(v) = db.get(b"new")? {
        assert_eq!(v.len(), BIG);
    }
    let r = db.check()?;
    assert!(r.is_ok(), "{:?}", r.problems);
    Ok(())
}

#[test]
fn large_values_written_from_where_they_are_read_back_after_a_cold_reopen() -> TestResult {
    let tmp = util::tempdir();
    let dir = util::db_path(&tmp);
    let value =
        |i: usize, len: usize| -> Vec<u8> { (0..len).map(|j| (i * 31 + j) as u8).collect() };
    // Small and large values (from 64 KiB up, written apart from the transaction's buffer),
    // with and without an expiry, in one transaction, then one more on its own.
    let sizes = [10, 64 << 10, (64 << 10) - 1, 3, 1 << 20, 200 << 10, 0];
    let later = util::now_ms() + 3_600_000;
    {
        let db = Db::options().segment_size(8 << 20).open(&dir)?;
        db.transaction(|tx| {
            for (i, &len) in sizes.iter().enumerate() {
                let key = format!("k{i}");
                let at = (i % 2 == 1).then_some(later);
                tx.set_with_expiry(key.as_bytes(), value(i, len), at)?;
            }
            tx.delete(b"nothing")?;
            Ok(())
        })?;
        db.set(b"last", value(99, 300 << 10))?;
    }
    std::fs::remove_file(dir.join("ziggy.shm"))?;
    let db = Db::options().segment_size(8 << 20).open(&dir)?;
    for (i, &len) in sizes.iter().enumerate() {
        let key = format!("k{i}");
        let got = db.get(key.as_bytes())?.ok_or("a value is missing")?;
        assert!(got[..] == value(i, len)[..], "{key} of {len} bytes differs");
        assert_eq!(db.expiry(key.as_bytes())?.is_some(), i % 2 == 1, "{key}");
    }
    assert!(db.get(b"last")?.ok_or("last is missing")?[..] == value(99, 300 << 10)[..]);
    let r = db.check()?;
    assert!(r.is_ok(), "{:?}", r.problems);
    Ok(())
}

/// The smallest limit in KiB between `lo` and `hi` (to 2 MiB) under which `works` holds, for
/// a `works` that holds at `hi`: `what` names the run for the error when it does not.
fn bisect_kib(
    range: (u64, u64),
    what: &str,
    works: impl Fn(u64) -> TestResult<bool>,
) -> TestResult<u64> {
    bisect_kib_to(2 << 10, range, what, works)
}

/// As [`bisect_kib`], to `step` KiB.
fn bisect_kib_to(
    step: u64,
    (mut lo, mut hi): (u64, u64),
    what: &str,
    works: impl Fn(u64) -> TestResult<bool>,
) -> TestResult<u64> {
    if !works(hi)? {
        return Err(format!("{what} fails even under a {hi} KiB limit").into());
    }
    while hi - lo > step {
        let mid = (lo + hi) / 2;
        if works(mid)? {
            hi = mid;
        } else {
            lo = mid;
        }
    }
    Ok(hi)
}

/// The smallest `ulimit -d` (heap, to 2 MiB) under which `ziggy` runs the script `input` on a
/// new database and prints `expect`.
fn min_limit_kib(tmp: &Path, input: &Path, expect: &[u8]) -> TestResult<u64> {
    bisect_kib((4 << 10, 4 << 20), "the script", |kib| {
        let dir = tmp.join(format!("min-{kib}"));
        let out = ziggy_under("-d", &dir, kib, &[], Some(input))?;
        std::fs::remove_dir_all(&dir).ok();
        Ok(out.status.success() && out.stdout == expect)
    })
}

#[test]
fn an_mset_of_many_small_pairs_costs_a_small_multiple_of_its_line() -> TestResult {
    use std::io::Write as _;
    let tmp = util::tempdir();
    const PAIRS: usize = 400_000;
    let mut line = b"MSET".to_vec();
    for i in 0..PAIRS {
        write!(line, " key{i} val{i}")?;
    }
    // A key given twice: the later value wins, as in Redis.
    line.extend_from_slice(b" key7 again\n");
    let input = tmp.path().join("mset");
    std::fs::write(&input, &line)?;
    let one = tmp.path().join("one");
    std::fs::write(&one, b"MSET a b\n")?;
    // The heap of a one-pair MSET, then room for 2.6 times the line: enough for the line
    // split packed (where each argument ends, 4 bytes each), from which the records are
    // written (about 1.6 times for pairs this small), not for a slice for each argument
    // (16 bytes) besides (about 3.8 times; 5.4 with a list of pairs built from the
    // arguments; 14 before that, with a list of the transaction's records, their index
    // probes and the whole encoded transaction).
    let base = min_limit_kib(tmp.path(), &one, b"OK\n")?;
    let limit = base + ((line.len() as u64 * 13 / 5) >> 10);
    if std::env::var_os("ZIGGY_MEMORY_MIN").is_some() {
        let min = min_limit_kib(tmp.path(), &input, b"OK\n")?;
        let times = (min - base) as f64 * 1024.0 / line.len() as f64;
        eprintln!("MSET: base {base} KiB, needs {min} KiB: {times:.2} times the line");
    }
    let dir = util::db_path(&tmp);
    let out = ziggy_under("-d", &dir, limit, &[], Some(&input))?;
    assert_eq!(
        (out.status.code(), String::from_utf8_lossy(&out.stdout)),
        (Some(0), "OK\n".into()),
        "MSET of {} bytes under {limit} KiB: {}",
        line.len(),
        String::from_utf8_lossy(&out.stderr)
    );
    let db = Db::options().segment_size(SEGMENT).open(&dir)?;
    assert_eq!(db.len(), PAIRS as u64);
    assert_eq!(db.get(b"key0")?.as_deref(), Some(&b"val0"[..]));
    assert_eq!(db.get(b"key7")?.as_deref(), Some(&b"again"[..]));
    let last = format!("key{}", PAIRS - 1);
    let want = format!("val{}", PAIRS - 1);
    assert_eq!(db.get(last.as_bytes())?.as_deref(), Some(want.as_bytes()));
    let r = db.check()?;
    assert!(r.is_ok(), "{:?}", r.problems);
    Ok(())
}

#[test]
fn an_mget_or_exists_of_many_keys_costs_a_small_multiple_of_its_line() -> TestResult {
    use std::io::Write as _;
    let tmp = util::tempdir();
    let dir = util::db_path(&tmp);
    const KEYS: usize = 400_000;
    {
        let db = Db::options().segment_size(SEGMENT).open(&dir)?;
        let pairs: Vec<(String, String)> = (0..KEYS)
            .map(|i| (format!("key{i}"), format!("val{i}")))
            .collect();
        db.begin_write()?.commit_set_many(&pairs)?;
    }
    // Every key and one that does not exist, which reads as nil.
    let mut keys = Vec::new();
    for i in 0..KEYS {
        write!(keys, " key{i}")?;
    }
    keys.extend_from_slice(b" nokey\n");
    let mut want_mget = Vec::new();
    for i in 0..KEYS {
        writeln!(want_mget, "val{i}")?;
    }
    want_mget.push(b'\n');
    let want_exists = format!("{KEYS}\n").into_bytes();
    let one = tmp.path().join("one");
    std::fs::write(&one, b"MGET key1\n")?;
    // To 256 KiB: the limits below are a fraction of a line of 3.9 MB apart.
    let base = bisect_kib_to(256, (1 << 10, 64 << 10), "MGET key1", |kib| {
        let out = ziggy_under("-d", &dir, kib, &[], Some(&one))?;
        Ok(out.status.success() && out.stdout == b"val1\n")
    })?;
    // Room beside a one-key MGET for a multiple of the line. Each needs the line, where
    // each of its arguments ends (4 bytes each: the line split packed, its keys read where
    // they are), allocated once at their size, and about 3 MiB of the process's own more
    // than a one-key command (`ulimit -d` counts its threads' stacks against the maps made
    // after them): EXISTS needs 2.3 times now, and MGET 3.5 times, with where each key's
    // value is (12 bytes a key) and its reply printed as each value is read. With a slice
    // for each argument (16 bytes) they needed 3.5 and 4.8 times (EXISTS 3.9 when the list
    // grew by doubling; MGET 13.1 with the whole reply built first, 14.7 with a list of the
    // values beside).
    for (cmd, times, want) in [("EXISTS", 2.9, &want_exists), ("MGET", 4.15, &want_mget)] {
        let mut line = cmd.as_bytes().to_vec();
        line.extend_from_slice(&keys);
        let input = tmp.path().join(cmd);
        std::fs::write(&input, &line)?;
        let limit = base + (line.len() as f64 * times) as u64 / 1024;
        let out = ziggy_under("-d", &dir, limit, &[], Some(&input))?;
        if std::env::var_os("ZIGGY_MEMORY_MIN").is_some() {
            let min = bisect_kib_to(256, (base, 256 << 10), cmd, |kib| {
                let out = ziggy_under("-d", &dir, kib, &[], Some(&input))?;
                Ok(out.status.success() && out.stdout == *want)
            })?;
            let times = (min - base) as f64 * 1024.0 / line.len() as f64;
            eprintln!("{cmd}: base {base} KiB, needs {min} KiB: {times:.2} times the line");
        }
        assert!(
            out.status.success() && out.stdout == *want,
            "{cmd} of {} bytes under {limit} KiB: exit {:?}, {} bytes out: {}",
            line.len(),
            out.status.code(),
            out.stdout.len(),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(())
}

#[test]
fn set_getset_getex_and_getdel_of_a_big_value_copy_it_as_few_times_as_they_must() -> TestResult {
    let tmp = util::tempdir();
    let dir = util::db_path(&tmp);
    {
        // Three more values keep the dead part of the log below half, so that no compaction
        // (which holds a record it copies) runs beside the commands measured.
        let db = Db::options().segment_size(SEGMENT).open(&dir)?;
        db.set(b"big", big_value())?;
        db.set(b"pad1", big_value())?;
        db.set(b"pad2", big_value())?;
        db.set(b"pad3", big_value())?;
    }
    let input = tmp.path().join("input");
    let mut other = big_value();
    other.reverse();
    std::fs::write(&input, &other)?;
    // The heap (`ulimit -d`, which leaves out the maps of the database's files) a small SET
    // needs, to 2 MiB.
    let base = small_set_heap_kib(&dir)?;
    let big_kib = BIG as u64 >> 10;
    // Each command with the copies of the value it must hold at once, and half a value more:
    // `-x SET` holds standard input (the write takes the value from there), `-x GETSET`
    // standard input and the old value (printed as it is), `GETEX` and `GETDEL` the old
    // value (`GETEX` writes it back from there). Each held one more before: a pending copy of
    // the argument or of the value, or the reply's copy of the old value and the printed
    // output.
    let runs: [(&[&str], u64, &[u8]); 4] = [
        (&["-x", "SET", "fresh"], 1, b"OK\n"),
        (&["-x", "GETSET", "fresh"], 2, &other),
        (&["GETEX", "fresh", "EX", "1000"], 1, &other),
        (&["GETDEL", "big"], 1, &big_value()),
    ];
    for (args, values, want) in runs {
        let limit = base + values * big_kib + big_kib / 2;
        let stdin = (args[0] == "-x").then_some(input.as_path());
        let out = ziggy_under("-d", &dir, limit, args, stdin)?;
        assert_eq!(
            out.status.code(),
            Some(0),
            "{args:?} with {limit} KiB of heap: {} {}",
            String::from_utf8_lossy(&out.stdout[..out.stdout.len().min(200)]),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(out.stdout.starts_with(want), "{args:?}: other reply");
        assert_eq!(
            out.stdout.len(),
            want.len() + usize::from(want.len() == BIG)
        );
    }
    let db = Db::options().segment_size(SEGMENT).open(&dir)?;
    assert!(db.get(b"big")?.is_none());
    assert_eq!(db.get(b"fresh")?.as_deref(), Some(&other[..]));
    assert!(db.expiry(b"fresh")?.is_some());
    Ok(())
}

/// The smallest `ulimit -d` (heap, to 2 MiB) under which `ziggy SET small x` works on `dir`.
fn small_set_heap_kib(dir: &Path) -> TestResult<u64> {
    bisect_kib((1 << 10, 1 << 20), "SET", |kib| {
        let out = ziggy_under("-d", dir, kib, &["SET", "small", "x"], None)?;
        Ok(out.status.success())
    })
}

#[test]
fn a_compaction_copies_a_big_value_without_holding_it_in_memory() -> TestResult {
    let tmp = util::tempdir();
    let dir = util::db_path(&tmp);
    {
        let db = Db::options()
            .segment_size(SEGMENT)
            .auto_compact(false, 0.5, 0)
            .open(&dir)?;
        db.set(b"big", big_value())?;
        // As much dead data again, so that COMPACT has the big value's segment to rewrite.
        db.set(b"junk", big_value())?;
        db.delete(b"junk")?;
    }
    // Measured on a database of its own: a `ziggy` run on this one would compact it in the
    // background before the COMPACT measured here.
    let base = small_set_heap_kib(&tmp.path().join("small"))?;
    // Half a value more than a small SET needs: copying the big record through a buffer
    // (as compaction did) needs a whole value more, and aborted.
    let limit = base + (BIG as u64 >> 10) / 2;
    let out = ziggy_under("-d", &dir, limit, &["COMPACT"], None)?;
    assert_eq!(
        out.status.code(),
        Some(0),
        "COMPACT with {limit} KiB of heap (signal {:?}): {} {}",
        out.status.signal(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let db = Db::options().segment_size(SEGMENT).open(&dir)?;
    assert_eq!(db.get(b"big")?.as_deref(), Some(&big_value()[..]));
    assert!(db.get(b"junk")?.is_none());
    let report = db.check()?;
    assert!(report.is_ok(), "{:?}", report.problems);
    Ok(())
}

#[test]
fn mset_written_from_its_arguments_keeps_redis_semantics() -> TestResult {
    let tmp = util::tempdir();
    let dir = util::db_path(&tmp);
    {
        // Through the library: the last of pairs with the same key wins, over a key that
        // existed; the key count stays right.
        let db = Db::open(&dir)?;
        db.set(b"a", "old")?;
        let pairs: [(&[u8], &[u8]); 4] = [(b"a", b"1"), (b"b", b"2"), (b"a", b"3"), (b"c", b"")];
        db.begin_write()?.commit_set_many(&pairs)?;
        assert_eq!(db.len(), 3);
        assert_eq!(db.get(b"a")?.as_deref(), Some(&b"3"[..]));
        assert_eq!(db.get(b"c")?.as_deref(), Some(&b""[..]));
        let r = db.check()?;
        assert!(r.is_ok(), "{:?}", r.problems);
    }
    // Through `ziggy`: over a hash (whose pages the commit frees), twice the same key, and
    // inside MULTI.
    let script = "HSET h f1 v1 f2 v2\nMSET h x a 1 b 2 a 3\nTYPE h\nMGET h a b\nDBSIZE\n\
                  MULTI\nMSET c 1 c 2\nGET c\nEXEC\nGET c\nHGETALL h\n";
    let out = Command::new(env!("CARGO_BIN_EXE_ziggy"))
        .arg("-d")
        .arg(&dir)
        .env_remove("ZIGGY_DIR")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .and_then(|mut child| {
            use std::io::Write as _;
            child
                .stdin
                .take()
                .expect("piped")
                .write_all(script.as_bytes())?;
            child.wait_with_output()
        })?;
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "2\nOK\nstring\nx\n3\n2\n4\nOK\nQUEUED\nQUEUED\nOK\n2\n2\n\
         WRONGTYPE Operation against a key holding the wrong kind of value\n\n"
    );
    let db = Db::open(&dir)?;
    assert_eq!(db.len(), 4);
    let r = db.check()?;
    assert!(r.is_ok(), "{:?}", r.problems);
    Ok(())
}

#[test]
fn a_script_line_too_big_for_memory_is_an_error_and_the_script_goes_on() -> TestResult {
    use std::io::Write as _;
    let tmp = util::tempdir();
    let ping = tmp.path().join("ping");
    std::fs::write(&ping, b"PING\n")?;
    let base = min_limit_kib(tmp.path(), &ping, b"PONG\n")?;
    // Under 48 MiB more than a PING needs: a 16 MiB line of 8M arguments fits, but the list
    // of where its arguments are (16 bytes each, 128 MiB) does not; an EXISTS line, split
    // packed (4 bytes an argument), runs with 6M keys (12 + 24 MiB; as slices it needed 96
    // MiB more, and was refused) but not with 10M (20 + 40 MiB); a 64 MiB line does not fit
    // at all. Each one refused is reported and skipped, and the script goes on to its PING.
    let line = |f: &mut dyn std::io::Write, cmd: &[u8], args: usize| -> std::io::Result<()> {
        f.write_all(cmd)?;
        for _ in 0..args {
            f.write_all(b" k")?;
        }
        f.write_all(b"\n")
    };
    let (del, exists, too_many) = (8 << 20, 6 << 20, 10 << 20);
    let input = tmp.path().join("input");
    {
        let mut f = std::io::BufWriter::new(std::fs::File::create(&input)?);
        line(&mut f, b"DEL", del)?;
        line(&mut f, b"EXISTS", exists)?;
        line(&mut f, b"EXISTS", too_many)?;
        f.write_all(b"SET x ")?;
        f.write_all(&vec![b'a'; 64 << 20])?;
        f.write_all(b"\nPING\n")?;
    }
    let dir = tmp.path().join("db");
    let out = ziggy_under("-d", &dir, base + (48 << 10), &[], Some(&input))?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.signal(), None, "killed: {stderr}");
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 5, "stdout {stdout:?}, stderr {stderr:?}");
    let refused =
        |args: usize| format!("ERR not enough memory for the list of the line's {args} arguments");
    assert_eq!(lines[0], refused(del + 1));
    assert_eq!(lines[1], "0");
    assert_eq!(lines[2], refused(too_many + 1));
    assert!(
        lines[3].starts_with("ERR not enough memory for a line of ")
            && lines[3].ends_with("bytes; it was skipped"),
        "{stdout:?}"
    );
    assert_eq!(lines[4], "PONG");
    Ok(())
}

/// What a [`ReplySink`](ziggydb::commands::ReplySink) was handed, call by call.
#[derive(Debug, Default, PartialEq)]
struct Handed {
    whole: Vec<ziggydb::commands::Reply>,
    arrays: Vec<usize>,
    elements: Vec<ziggydb::commands::Reply>,
}

impl ziggydb::commands::ReplySink for Handed {
    fn reply(&mut self, reply: ziggydb::commands::Reply) {
        self.whole.push(reply);
    }
    fn array(&mut self, len: usize) {
        self.arrays.push(len);
    }
    fn element(&mut self, item: ziggydb::commands::Reply) {
        self.elements.push(item);
    }
}

#[test]
fn a_packed_line_gets_the_replies_its_slices_get() -> TestResult {
    use ziggydb::commands::{split_line, split_packed, PackedArgs, Policy, Reply, Session};
    let tmp = util::tempdir();
    // Two databases alike, so that one's BEGIN does not hold up the other's.
    let open = |name: &str| -> TestResult<Db> {
        let db = Db::open(tmp.path().join(name))?;
        db.set(b"s", "text")?;
        db.set(b"n", 42i64)?;
        db.set(b"a b", vec![0u8, 0xff])?;
        db.transaction(|tx| tx.list(b"l").push_back(&["x"]))?;
        Ok(db)
    };
    let (db, other) = (open("packed")?, open("slices")?);
    // Each line through `execute_packed` on one session and as slices through `execute` on
    // another: MGET and EXISTS alone (streamed from the packed line), refused, queued, in a
    // transaction and in subscribed mode (where only Pub/Sub commands run), and others.
    let script = [
        "MGET s n nokey l \"a b\" s",
        "mget s",
        "EXISTS s s nokey l 'a b'",
        "exists nokey",
        "MGET",
        "EXISTS",
        "SET t 1",
        "GET t",
        "MSET p 1 q 2 p 3",
        "MGET p q",
        "mset 'r s' \"t\\x41\" l over",
        "MGET \"r s\" l",
        "MSET p",
        "MSET p 1 q",
        "MULTI",
        "MGET s t",
        "EXISTS s t",
        "MSET m 1 m 2",
        "EXEC",
        "BEGIN",
        "SET u 2",
        "MGET u s",
        "EXISTS u",
        "MSET v 1 u 3",
        "COMMIT",
        "SUBSCRIBE ch",
        "MGET s",
        "EXISTS s",
        "MSET s x",
        "UNSUBSCRIBE ch",
        "MGET s u v m p q",
        "",
    ];
    let mut packed = Session::new(&db, Policy::default());
    let mut slices = Session::new(&other, Policy::default());
    let mut streamed = 0;
    for line in script {
        let want = {
            let args = split_line(line.as_bytes())?;
            slices.execute(&ziggydb::commands::as_args(&args))
        };
        let mut bytes = line.as_bytes().to_vec();
        let ends = split_packed(&mut bytes)?;
        let args = PackedArgs::new(&bytes, &ends).ok_or("ends from split_packed")?;
        let mut handed = Handed::default();
        packed.execute_packed(args, &mut handed);
        match (&handed, &want) {
            // An MGET alone is streamed: its length, then each element.
            (
                Handed {
                    whole,
                    arrays,
                    elements,
                },
                Reply::Array(items),
            ) if whole.is_empty() && arrays == &[items.len()] => {
                assert_eq!(elements, items, "{line}");
                streamed += 1;
            }
            _ => assert_eq!(
                handed,
                Handed {
                    whole: vec![want],
                    ..Handed::default()
                },
                "{line}"
            ),
        }
        while let Some(push) = slices.next_push(Some(std::time::Duration::ZERO)) {
            assert_eq!(
                packed.next_push(Some(std::time::Duration::ZERO)),
                Some(push),
                "{line}"
            );
        }
    }
    assert_eq!(
        streamed, 5,
        "MGET alone: four times before SUBSCRIBE, once after"
    );
    // And both wrote the same.
    let keys = db.keys()?;
    assert_eq!(keys, other.keys()?);
    assert_eq!(keys.len(), 11);
    for key in keys {
        assert_eq!(db.get_value(&key)?, other.get_value(&key)?);
    }
    assert_eq!(db.get(b"r s")?.as_deref(), Some(&b"tA"[..]));
    // Subscribed over RESP2, MGET and EXISTS are refused whichever way they come.
    let mut session = Session::new(&db, Policy::default());
    session.execute(&[b"SUBSCRIBE", b"ch"]);
    let mut handed = Handed::default();
    session.execute_to(&[b"MGET", b"s"], &mut handed);
    assert!(
        matches!(&handed.whole[..], [Reply::Error(e)] if e.starts_with("ERR Can't execute 'mget'"))
            && handed.arrays.is_empty(),
        "{handed:?}"
    );
    Ok(())
}
