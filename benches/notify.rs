//! What keyspace notifications cost a write command (issue 17, format-spec.md §5.4):
//! `SET key value` through a command session (`commands::Session`, as the `ziggy` shell and
//! `ziggy-server` run it), batched durability, in rounds: with notifications off (the
//! default, where the write path reads one word of `ziggy.shm`), and with `KEA` on (each SET
//! publishes two messages to `ziggy.pubsub`, read by no one).
//!
//! `cargo bench --bench notify` (7 rounds of 100,000 SETs each way),
//! `cargo bench --bench notify -- --quick` (3 rounds of 20,000: seconds). Prints the
//! fastest, median and slowest round in ns per SET. Built against a tree without
//! notifications, `CONFIG SET` is an unknown command and only the "off" line means anything.

use std::time::{Duration, Instant};

use ziggydb::commands::{Policy, Session};
use ziggydb::{Durability, OpenOptions};

type Res<T> = Result<T, Box<dyn std::error::Error>>;

/// Rounds of `n` SETs (keys cycling over 10,000); ns per SET of each round, sorted.
fn rounds(s: &mut Session, rounds: usize, n: usize) -> Vec<f64> {
    let keys: Vec<Vec<u8>> = (0..10_000)
        .map(|i| format!("key:{i}").into_bytes())
        .collect();
    let mut out = Vec::new();
    for _ in 0..rounds {
        let start = Instant::now();
        for i in 0..n {
            let reply = s.execute(&[b"SET", &keys[i % keys.len()], b"value-of-sixteen"]);
            assert!(!reply.is_error(), "{reply:?}");
        }
        out.push(start.elapsed().as_nanos() as f64 / n as f64);
    }
    out.sort_by(f64::total_cmp);
    out
}

fn main() -> Res<()> {
    let args: Vec<String> = std::env::args().collect();
    if args.iter().any(|a| a == "--list") {
        return Ok(());
    }
    let quick = args.iter().any(|a| a == "--quick" || a == "--test");
    let (r, n) = if quick { (3, 20_000) } else { (7, 100_000) };
    let tmp = tempfile::tempdir()?;
    let db = OpenOptions::new()
        .durability(Durability::Batched {
            max_delay: Duration::from_millis(50),
        })
        .open(tmp.path().join("db"))?;
    let mut s = Session::new(&db, Policy::trusted());
    // Warm up: every key written once.
    rounds(&mut s, 1, 10_000);
    let report = |what: &str, v: &[f64]| {
        println!(
            "SET, notifications {what}: {:.0} / {:.0} / {:.0} ns per SET (fastest / median / slowest of {r} rounds of {n})",
            v[0],
            v[v.len() / 2],
            v[v.len() - 1]
        );
    };
    let off = rounds(&mut s, r, n);
    report("off", &off);
    let set = s.execute(&[b"CONFIG", b"SET", b"notify-keyspace-events", b"KEA"]);
    if set.is_error() {
        println!("CONFIG SET refused ({set:?}): no notifications in this tree");
        return Ok(());
    }
    let on = rounds(&mut s, r, n);
    report("KEA, no subscriber", &on);
    Ok(())
}
