//! What a numbered database costs against database 0, per command through a
//! `commands::Session` (as `ziggy`, ziggy-server and the bindings run commands): `GET` of an
//! existing key (database 0 reads the committed state without a lock; another database runs
//! a write transaction of its own, which takes the writer lock and reads the database map),
//! `SET` in batched durability, `DBSIZE` (O(1) in database 0, a walk of every key of the
//! database elsewhere) over 10,000 keys, and `SWAPDB` of two numbered databases (one record,
//! whatever they hold).
//!
//! `cargo bench --bench databases` (about 30 s); `-- --quick` (a few seconds). Prints ns per
//! call, the best of three rounds.

use std::hint::black_box;
use std::time::{Duration, Instant};

use ziggydb::commands::{Policy, Session};
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

const KEYS: u64 = 10_000;

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
    let mut sessions = Vec::new();
    for n in [0u32, 3] {
        let mut s = Session::new(&db, Policy::trusted());
        let index = n.to_string();
        s.execute(&[b"SELECT", index.as_bytes()]);
        db.transaction(|tx| {
            tx.select(n)?;
            for i in 0..KEYS {
                tx.set(format!("k{i}").as_bytes(), "v".repeat(100).as_str())?;
            }
            Ok(())
        })?;
        sessions.push((n, s));
    }
    let mut rows: Vec<(String, f64)> = Vec::new();
    for (n, s) in &mut sessions {
        let keys: Vec<Vec<u8>> = (0..KEYS).map(|i| format!("k{i}").into_bytes()).collect();
        rows.push((
            format!("GET (database {n})"),
            measure(round, |i| {
                black_box(s.execute(&[b"GET", &keys[(i % KEYS) as usize]]));
            }),
        ));
        rows.push((
            format!("SET (database {n})"),
            measure(round, |i| {
                black_box(s.execute(&[b"SET", &keys[(i % KEYS) as usize], b"w"]));
            }),
        ));
        rows.push((
            format!("DBSIZE of {KEYS} keys (database {n})"),
            measure(round, |_| {
                black_box(s.execute(&[b"DBSIZE"]));
            }),
        ));
    }
    if let Some((_, s)) = sessions.last_mut() {
        rows.push((
            format!("SWAPDB 3 4 ({KEYS} keys in 3)"),
            measure(round, |_| {
                black_box(s.execute(&[b"SWAPDB", b"3", b"4"]));
            }),
        ));
    }
    println!(
        "numbered databases, ns per call, best of 3 rounds{}",
        if quick { " (--quick)" } else { "" }
    );
    for (name, ns) in rows {
        println!("  {name:<36} {ns:>12.0}");
    }
    Ok(())
}
