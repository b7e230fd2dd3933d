//! The C ABI's cost per call against the Rust calls it wraps, on one database: `ziggy_get`
//! (which copies the value into memory the caller frees) against `Db::get` (zero-copy) and
//! `Db::get` plus a copy, and `ziggy_exec` of GET, SET, INCR and LPUSH against the direct
//! calls (`ziggy_get`, `ziggy_set`, `ziggy_incrby` from C; `Db::set`, `Db::incr_by`, a list
//! push from Rust). The C side is a program (benches/capi_bench.c) built with gcc -O2 against
//! libziggydb.so, run on the database this process filled. Commits are batched (no fsync
//! per call), so the writes measure the call path rather than the disk.
//!
//! `cargo bench -p ziggydb-c --bench capi` (100,000 keys, about two minutes); `-- --quick` (20,000
//! keys, a few seconds). Prints ns per call, the best of 15 short rounds in each of two or
//! three runs of each side.

use std::hint::black_box;
use std::process::Command;
use std::time::{Duration, Instant};

use zdb::{Db, Durability};

#[allow(dead_code)] // the tests' helpers; the bench uses the build ones
#[path = "../tests/capi/util.rs"]
mod util;

fn key(i: u64) -> Vec<u8> {
    format!("key-{:016x}", i.wrapping_mul(0x9e37_79b9_7f4a_7c15)).into_bytes()
}

/// Rounds of each measurement. Many short rounds: the best of them is the one other load
/// disturbed least, which on a shared machine says more than a long average.
const ROUNDS: usize = 15;

/// Best ns per call of `f` over [`ROUNDS`] rounds of at least `round` each.
fn measure(round: Duration, n: u64, mut f: impl FnMut(u64)) -> f64 {
    let mut best = f64::MAX;
    for _ in 0..ROUNDS {
        let start = Instant::now();
        let mut calls = 0u64;
        while start.elapsed() < round {
            for _ in 0..100 {
                f(calls % n);
                calls += 1;
            }
        }
        best = best.min(start.elapsed().as_nanos() as f64 / calls as f64);
    }
    best
}

/// The options both sides open the database with.
fn open(dir: &std::path::Path) -> zdb::Result<Db> {
    Db::options()
        .durability(Durability::Batched {
            max_delay: Duration::from_millis(100),
        })
        .active_expiry(None)
        .auto_compact(false, 0.5, 0)
        .open(dir)
}

/// The Rust side, in a process of its own as the C side is: prints "name ns" lines.
fn rust_worker(dir: &std::path::Path, n: u64, round: Duration) -> zdb::Result<()> {
    let db = open(dir)?;
    let keys: Vec<Vec<u8>> = (0..n).map(key).collect();
    let k = |i: u64| keys[i as usize].as_slice();
    let value = vec![b'v'; 100];
    let get = measure(round, n, |i| {
        black_box(db.get(k(i)).expect("get").map(|v| v.len()));
    });
    println!("Db::get {get:.0}");
    let get_copy = measure(round, n, |i| {
        black_box(db.get(k(i)).expect("get").map(|v| v.to_vec()));
    });
    println!("Db::get+copy {get_copy:.0}");
    let set = measure(round, n, |i| db.set(k(i), value.as_slice()).expect("set"));
    println!("Db::set {set:.0}");
    let incr = measure(round, n, |_| {
        black_box(db.incr_by("counter", 1).expect("incr"));
    });
    println!("Db::incr_by {incr:.0}");
    let lpush = measure(round, n, |_| {
        db.transaction(|tx| tx.list(b"list").push_front(&[b"item"]))
            .expect("lpush");
    });
    println!("List::push_front {lpush:.0}");
    Ok(())
}

/// Runs `cmd` and adds its "name ns" lines to `best`, keeping the lower figure of a name.
fn collect(
    cmd: &mut Command,
    best: &mut Vec<(String, f64)>,
) -> Result<(), Box<dyn std::error::Error>> {
    let out = cmd.output()?;
    if !out.status.success() {
        return Err(format!("{cmd:?} failed: {}", String::from_utf8_lossy(&out.stderr)).into());
    }
    for line in String::from_utf8(out.stdout)?.lines() {
        let Some((name, ns)) = line.rsplit_once(' ') else {
            continue;
        };
        let ns: f64 = ns.parse()?;
        match best.iter_mut().find(|(n, _)| n == name) {
            Some((_, b)) => *b = b.min(ns),
            None => best.push((name.to_string(), ns)),
        }
    }
    Ok(())
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    // nextest lists every target's tests (`--list`): a bench has none, and must not run.
    if args.iter().any(|a| a == "--list") {
        return Ok(());
    }
    if let [_, role, dir, n, ms] = args.as_slice() {
        if role == "--rust-worker" {
            let round = Duration::from_millis(ms.parse()?);
            return Ok(rust_worker(std::path::Path::new(dir), n.parse()?, round)?);
        }
    }
    let quick = args.iter().any(|a| a == "--quick" || a == "--test");
    let (n, round) = if quick {
        (20_000u64, Duration::from_millis(20))
    } else {
        (100_000, Duration::from_millis(100))
    };
    let tmp = tempfile::tempdir()?;
    let exe = tmp.path().join("capi_bench");
    util::build_with(
        util::plain_lib_dir(),
        "gcc",
        &["benches/capi_bench.c"],
        &exe,
        &["-O2"],
        util::Link::Shared,
    );
    let dir = tmp.path().join("db");
    {
        let db = open(&dir)?;
        let keys: Vec<Vec<u8>> = (0..n).map(key).collect();
        for chunk in keys.chunks(1000) {
            db.transaction(|tx| {
                for k in chunk {
                    tx.set(k.as_slice(), vec![b'v'; 100])?;
                }
                Ok(())
            })?;
        }
    }
    // Each side in a fresh process on the closed database, alternating (twice, three times
    // without --quick); the best figure of each call, since other load only slows calls down.
    let mut best = Vec::new();
    let (n_arg, ms_arg) = (n.to_string(), round.as_millis().to_string());
    for _ in 0..if quick { 2 } else { 3 } {
        collect(
            Command::new(&exe).arg(&dir).args([&n_arg, &ms_arg]),
            &mut best,
        )?;
        collect(
            Command::new(std::env::current_exe()?)
                .arg("--rust-worker")
                .arg(&dir)
                .args([&n_arg, &ms_arg]),
            &mut best,
        )?;
    }
    let ns = |name: &str| {
        best.iter()
            .find(|(n, _)| n == name)
            .map_or(f64::NAN, |(_, ns)| *ns)
    };
    println!("C ABI against Rust, ns per call ({n} keys, 100-byte values, batched commits)\n");
    println!("| operation | Rust | C | C / Rust |");
    println!("|---|---:|---:|---:|");
    let rows = [
        (
            "get: `Db::get` (zero-copy) / `ziggy_get`",
            "Db::get",
            "ziggy_get",
        ),
        (
            "get: `Db::get` + copy / `ziggy_get`",
            "Db::get+copy",
            "ziggy_get",
        ),
        (
            "get: `Db::get` / `ziggy_get` with `val` NULL (no copy)",
            "Db::get",
            "ziggy_get-nocopy",
        ),
        (
            "get: `Db::get` / `ziggy_exec GET`",
            "Db::get",
            "ziggy_exec GET",
        ),
        ("set: `Db::set` / `ziggy_set`", "Db::set", "ziggy_set"),
        (
            "set: `Db::set` / `ziggy_exec SET`",
            "Db::set",
            "ziggy_exec SET",
        ),
        (
            "incr: `Db::incr_by` / `ziggy_incrby`",
            "Db::incr_by",
            "ziggy_incrby",
        ),
        (
            "incr: `Db::incr_by` / `ziggy_exec INCR`",
            "Db::incr_by",
            "ziggy_exec INCR",
        ),
        (
            "lpush: `List::push_front` / `ziggy_exec LPUSH`",
            "List::push_front",
            "ziggy_exec LPUSH",
        ),
    ];
    for (label, r, c) in rows {
        let (r, c) = (ns(r), ns(c));
        println!("| {label} | {r:.0} | {c:.0} | {:.2}x |", c / r);
    }
    Ok(())
}
