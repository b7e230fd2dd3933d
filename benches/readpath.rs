//! The read path's cost per call, through `Db` and inside a write transaction: a point
//! `get` (zero-copy and owned), `exists`, `strlen`, a list's length, and a transaction's
//! `get`. Written against calls that predate the `Read` trait, so that the same file
//! measures the code before and after it.
//!
//! `cargo bench --bench readpath` (100,000 keys, about 30 s); `-- --quick` (20,000 keys, a
//! few seconds). Prints ns per call, the best of three rounds.

use std::hint::black_box;
use std::time::{Duration, Instant};

use ziggydb::Db;

fn key(i: u64) -> Vec<u8> {
    format!("key-{:016x}", i.wrapping_mul(0x9e37_79b9_7f4a_7c15)).into_bytes()
}

/// Best ns per call of `f` over three rounds of at least `round` each.
fn measure(round: Duration, n: u64, mut f: impl FnMut(u64)) -> f64 {
    let mut best = f64::MAX;
    for _ in 0..3 {
        let start = Instant::now();
        let mut calls = 0u64;
        while start.elapsed() < round {
            for _ in 0..1000 {
                f(calls % n);
                calls += 1;
            }
        }
        best = best.min(start.elapsed().as_nanos() as f64 / calls as f64);
    }
    best
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let quick = std::env::args().any(|a| a == "--quick");
    let (n, round) = if quick {
        (20_000u64, Duration::from_millis(300))
    } else {
        (100_000, Duration::from_millis(2000))
    };
    let dir = tempfile::tempdir()?;
    let db = Db::options().active_expiry(None).open(dir.path())?;
    let keys: Vec<Vec<u8>> = (0..n).map(key).collect();
    for chunk in keys.chunks(1000) {
        db.transaction(|tx| {
            for k in chunk {
                tx.set(k.as_slice(), vec![7u8; 100])?;
            }
            Ok(())
        })?;
    }
    db.transaction(|tx| tx.list(b"list").push_back(&[b"a", b"b", b"c"]).map(drop))?;
    let k = |i: u64| keys[i as usize].as_slice();
    let rows: Vec<(&str, f64)> = vec![
        (
            "Db::get (ValueRef)",
            measure(round, n, |i| {
                black_box(db.get(k(i)).expect("get").map(|v| v.len()));
            }),
        ),
        (
            "Db::get_value",
            measure(round, n, |i| {
                black_box(db.get_value(k(i)).expect("get_value"));
            }),
        ),
        (
            "Db::exists",
            measure(round, n, |i| {
                black_box(db.exists(k(i)).expect("exists"));
            }),
        ),
        (
            "Db::strlen",
            measure(round, n, |i| {
                black_box(db.strlen(k(i)).expect("strlen"));
            }),
        ),
        (
            "Db::list(k).len",
            measure(round, n, |_| {
                black_box(db.list(b"list").len().expect("len"));
            }),
        ),
        ("WriteTxn::get (nothing pending)", {
            let tx = db.begin_write()?;
            let ns = measure(round, n, |i| {
                black_box(tx.get(k(i)).expect("txn get"));
            });
            tx.rollback();
            ns
        }),
    ];
    println!("{:<34} {:>10}", "read", "ns/call");
    for (name, ns) in rows {
        println!("{name:<34} {ns:>10.0}");
    }
    Ok(())
}
