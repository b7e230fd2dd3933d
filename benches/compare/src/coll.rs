//! Collection cost against size (ZiggyDB only; issue 18 item 7's chart): for a list, a set, a
//! sorted set and a hash of N members (N = 100 … 100k at scale 1), the time of one write of a
//! new member in its own transaction (RPUSH, SADD, ZADD, HSET) and of one read of a random
//! member (LINDEX, SISMEMBER, ZSCORE, HGET). A cost that grows with N would show as a rising
//! line; the trees of pages (format-spec.md §4.4) keep it near flat.

use std::hint::black_box;
use std::path::Path;
use std::time::{Duration, Instant};

use ziggydb::{Db, Durability, ZAddFlags};

use crate::common::Rng;
use crate::engines::Res;
use crate::Config;

/// The four collection types, as the chart names them.
pub const TYPES: [&str; 4] = ["list", "set", "sorted set", "hash"];
/// Collection sizes at scale 1.
const SIZES: [u64; 4] = [100, 1_000, 10_000, 100_000];
/// Writes timed per collection.
const WRITES: u64 = 1_000;
/// Reads timed per collection.
const READS: u64 = 20_000;

/// One measured point: type, members, µs per write, µs per read.
pub type Point = (&'static str, u64, f64, f64);

/// The sizes of this run (scaled, at least 100, increasing).
pub fn sizes(cfg: &Config) -> Vec<u64> {
    let mut v: Vec<u64> = SIZES
        .iter()
        .map(|&n| ((n as f64 * cfg.scale.min(1.0)).round() as u64).max(100))
        .collect();
    v.dedup();
    v
}

fn member(i: u64) -> Vec<u8> {
    format!("member:{i:012}").into_bytes()
}

/// Grows collection `ty` under key `c` to `n` members, 1000 per transaction.
fn fill(db: &Db, ty: &str, n: u64) -> Res<()> {
    let mut i = 0;
    while i < n {
        let end = (i + 1000).min(n);
        db.transaction(|tx| {
            for j in i..end {
                add(tx, ty, j)?;
            }
            Ok(())
        })?;
        i = end;
    }
    Ok(())
}

fn add(tx: &mut ziggydb::WriteTxn, ty: &str, j: u64) -> ziggydb::Result<()> {
    let m = member(j);
    match ty {
        "list" => tx.list(b"c").push_back(&[&m]).map(drop),
        "set" => tx.set_of(b"c").add(&[&m]).map(drop),
        "sorted set" => tx
            .zset(b"c")
            .add(ZAddFlags::default(), &[(j as f64, &m)])
            .map(drop),
        _ => tx.hash(b"c").set(&[(&m, b"value")]).map(drop),
    }
}

fn read(db: &Db, ty: &str, j: u64) -> Res<bool> {
    let m = member(j);
    Ok(match ty {
        "list" => db.list(b"c").get(j as i64)?.is_some(),
        "set" => db.set_of(b"c").contains(&m)?,
        "sorted set" => db.zset(b"c").score(&m)?.is_some(),
        _ => db.hash(b"c").get(&m)?.is_some(),
    })
}

/// Measures every type at every size, each in a fresh database under `root`.
pub fn run(cfg: &Config, root: &Path) -> Res<Vec<Point>> {
    let mut out = Vec::new();
    for ty in TYPES {
        for n in sizes(cfg) {
            let dir = root.join(format!("coll-{}-{n}", ty.replace(' ', "-")));
            let db = Db::options()
                .durability(Durability::Batched {
                    max_delay: Duration::from_millis(50),
                })
                .open(&dir)?;
            fill(&db, ty, n)?;
            let start = Instant::now();
            for j in n..n + WRITES {
                db.transaction(|tx| add(tx, ty, j))?;
            }
            let write_us = start.elapsed().as_secs_f64() * 1e6 / WRITES as f64;
            let mut rng = Rng(5);
            let start = Instant::now();
            for _ in 0..READS {
                if !black_box(read(&db, ty, rng.below(n))?) {
                    return Err(format!("{ty} of {n}: a member is missing").into());
                }
            }
            let read_us = start.elapsed().as_secs_f64() * 1e6 / READS as f64;
            eprintln!("  {ty} of {n}: {write_us:.2} µs per write, {read_us:.2} µs per read");
            out.push((ty, n, write_us, read_us));
            drop(db);
            let _ = std::fs::remove_dir_all(&dir);
        }
    }
    Ok(out)
}

/// The points as a Markdown table: a row per type and operation, a column per size.
pub fn markdown(cfg: &Config, points: &[Point]) -> String {
    let sizes = sizes(cfg);
    let mut s = String::from("### Collection cost against size (ZiggyDB, µs per operation)\n\n");
    s.push_str("| operation |");
    for n in &sizes {
        s.push_str(&format!(" {n} members |"));
    }
    s.push_str("\n|---|");
    s.push_str(&"---:|".repeat(sizes.len()));
    s.push('\n');
    for (ty, ops) in TYPES.iter().zip([
        ("RPUSH", "LINDEX"),
        ("SADD", "SISMEMBER"),
        ("ZADD", "ZSCORE"),
        ("HSET", "HGET"),
    ]) {
        for (write, op) in [(true, ops.0), (false, ops.1)] {
            s.push_str(&format!(
                "| {op} ({ty}, {}) |",
                if write {
                    "a transaction each"
                } else {
                    "a random member"
                }
            ));
            for n in &sizes {
                let v = points.iter().find(|p| p.0 == *ty && p.1 == *n).map(|p| {
                    if write {
                        p.2
                    } else {
                        p.3
                    }
                });
                s.push_str(&v.map_or(" – |".into(), |v| format!(" {v:.2} |")));
            }
            s.push('\n');
        }
    }
    s
}
