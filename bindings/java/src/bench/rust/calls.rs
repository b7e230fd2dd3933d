//! The Rust side of bindings/java/bench.sh: the calls the Java binding wraps, timed the same
//! way on the same database. Built by bench.sh with rustc against the library cargo built.
//!
//! `calls fill DIR N`: writes N keys of 100 bytes. `calls run DIR N ROUND_MS`: prints
//! "name ns" lines, the best ns per call of 15 rounds.

use std::hint::black_box;
use std::time::{Duration, Instant};

use ziggydb::commands::{Policy, Session};
use ziggydb::{Db, Durability};

fn key(i: u64) -> Vec<u8> {
    format!("key-{:016x}", i.wrapping_mul(0x9e37_79b9_7f4a_7c15)).into_bytes()
}

const ROUNDS: usize = 15;

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

fn open(dir: &str) -> ziggydb::Result<Db> {
    Db::options()
        .durability(Durability::Batched {
            max_delay: Duration::from_millis(100),
        })
        .active_expiry(None)
        .auto_compact(false, 0.5, 0)
        .open(dir)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let (role, dir, n) = (&args[1], &args[2], args[3].parse::<u64>()?);
    let db = open(dir)?;
    let keys: Vec<Vec<u8>> = (0..n).map(key).collect();
    if role == "fill" {
        for chunk in keys.chunks(1000) {
            db.transaction(|tx| {
                for k in chunk {
                    tx.set(k.as_slice(), vec![b'v'; 100])?;
                }
                Ok(())
            })?;
        }
        return Ok(());
    }
    let round = Duration::from_millis(args[4].parse()?);
    let k = |i: u64| keys[i as usize].as_slice();
    let value = vec![b'v'; 100];
    let get = measure(round, n, |i| {
        black_box(db.get(k(i)).expect("get").map(|v| v.len()));
    });
    println!("rust get {get:.0}");
    let get_copy = measure(round, n, |i| {
        black_box(db.get(k(i)).expect("get").map(|v| v.to_vec()));
    });
    println!("rust get+copy {get_copy:.0}");
    let set = measure(round, n, |i| db.set(k(i), value.as_slice()).expect("set"));
    println!("rust set {set:.0}");
    let incr = measure(round, n, |_| {
        black_box(db.incr_by("counter", 1).expect("incr"));
    });
    println!("rust incr {incr:.0}");
    let mut session = Session::new(&db, Policy::trusted());
    let exec = measure(round, n, |_| {
        black_box(session.execute(&[b"INCR", b"counter"]));
    });
    println!("rust execute-INCR {exec:.0}");
    Ok(())
}
