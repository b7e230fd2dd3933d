//! The bitmap and HyperLogLog calls' cost per call: reads on the committed state
//! (`getbit`, `bitcount`, `pfcount` of one and of three HyperLogLogs, `lcs_len`) and writes,
//! each in a committed transaction of its own in batched durability (`setbit` on a 1 KiB and
//! on a 1 MiB bitmap, `pfadd` of one element). A write rewrites the whole value, so `setbit`
//! costs in proportion to the bitmap's size and `pfadd` to the HyperLogLog's 12 KiB.
//!
//! `cargo bench --bench bits` (about 30 s); `-- --quick` (a few seconds). Prints ns per call,
//! the best of three rounds.

use std::hint::black_box;
use std::time::{Duration, Instant};

use ziggydb::{Db, Durability};

/// Best ns per call of `f` over three rounds of at least `round` each.
fn measure(round: Duration, mut f: impl FnMut(u64)) -> f64 {
    let mut best = f64::MAX;
    let mut calls = 0u64;
    for _ in 0..3 {
        let start = Instant::now();
        let mut n = 0u64;
        while start.elapsed() < round {
            for _ in 0..20 {
                f(calls);
                calls += 1;
                n += 1;
            }
        }
        best = best.min(start.elapsed().as_nanos() as f64 / n as f64);
    }
    best
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    // nextest lists every target's tests (`--list`): a bench has none to list, and must
    // not run when asked; `--test` (a smoke run) is the quick round.
    if args.iter().any(|a| a == "--list") {
        return Ok(());
    }
    let quick = args.iter().any(|a| a == "--quick" || a == "--test");
    let round = Duration::from_millis(if quick { 300 } else { 3000 });
    let dir = tempfile::tempdir()?;
    let db = Db::options()
        .durability(Durability::Batched {
            max_delay: Duration::from_millis(10),
        })
        .active_expiry(None)
        .open(dir.path())?;
    const KIB: u64 = 1 << 10;
    const MIB: u64 = 1 << 20;
    db.transaction(|tx| {
        tx.setbit(b"small", KIB * 8 - 1, true)?;
        tx.setbit(b"big", MIB * 8 - 1, true)?;
        let elements: Vec<String> = (0..100_000).map(|i| format!("e{i}")).collect();
        for (i, key) in [&b"h1"[..], b"h2", b"h3"].into_iter().enumerate() {
            let refs: Vec<&[u8]> = elements[i * 30_000..i * 30_000 + 40_000]
                .iter()
                .map(|e| e.as_bytes())
                .collect();
            tx.pfadd(key, &refs)?;
        }
        tx.set(b"t1", "x".repeat(1000).as_str())?;
        tx.set(b"t2", "xy".repeat(500).as_str())?;
        Ok(())
    })?;
    let rows: Vec<(&str, f64)> = vec![
        (
            "getbit (1 MiB bitmap)",
            measure(round, |i| {
                black_box(db.getbit(b"big", (i * 7919) % (MIB * 8)).expect("getbit"));
            }),
        ),
        (
            "bitcount (1 KiB bitmap)",
            measure(round, |_| {
                black_box(db.bitcount(b"small", None).expect("bitcount"));
            }),
        ),
        (
            "bitcount (1 MiB bitmap)",
            measure(round, |_| {
                black_box(db.bitcount(b"big", None).expect("bitcount"));
            }),
        ),
        (
            "pfcount (one HyperLogLog)",
            measure(round, |_| {
                black_box(db.pfcount(&[b"h1"]).expect("pfcount"));
            }),
        ),
        (
            "pfcount (union of three)",
            measure(round, |_| {
                black_box(db.pfcount(&[b"h1", b"h2", b"h3"]).expect("pfcount"));
            }),
        ),
        (
            "lcs_len (two 1,000-byte values)",
            measure(round, |_| {
                black_box(db.lcs_len(b"t1", b"t2").expect("lcs_len"));
            }),
        ),
        (
            "setbit, own transaction (1 KiB bitmap)",
            measure(round, |i| {
                db.transaction(|tx| tx.setbit(b"small", i % (KIB * 8), i % 2 == 0))
                    .expect("setbit");
            }),
        ),
        (
            "setbit, own transaction (1 MiB bitmap)",
            measure(round, |i| {
                db.transaction(|tx| tx.setbit(b"big", (i * 7919) % (MIB * 8), i % 2 == 0))
                    .expect("setbit");
            }),
        ),
        (
            "pfadd of one element, own transaction",
            measure(round, |i| {
                let e = format!("new{i}");
                db.transaction(|tx| tx.pfadd(b"h1", &[e.as_bytes()]))
                    .expect("pfadd");
            }),
        ),
    ];
    println!("{:<42} {:>12}", "call", "ns/call");
    for (name, ns) in rows {
        println!("{name:<42} {ns:>12.0}");
    }
    Ok(())
}
