//! Criterion benchmarks of collection commands on a collection of 1,000 members and on one
//! of 1,000,000, to compare the two: a push, pop, add, remove or score lookup should cost at
//! most twice as much on the large one (each is O(log n) in the counted B+trees).
//!
//! Each write runs as its own committed transaction and each read on the committed state,
//! as `ziggy` runs a command outside `MULTI`; commits are in batched durability, so that an
//! fsync per commit does not hide the cost of the operation itself. Collections keep their
//! size: LPUSH is paired with RPOP, and a member added by SADD, ZADD or HSET is removed again
//! outside the timed part. New members fall at random places among the existing ones.
//!
//! Building the 1,000,000-member collections takes about a minute. Run with
//! `cargo bench --bench collections`.
// Keys are `impl AsRef<[u8]>`: callers written when they were `&[u8]` pass `&Vec<u8>`.
#![allow(clippy::needless_borrows_for_generic_args)]

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion};
use ziggydb::{Db, Durability, ZAddFlags};

const SIZES: [u64; 2] = [1_000, 1_000_000];
/// Members per transaction while building.
const BATCH: u64 = 5_000;
const VALUE: &[u8] = b"value-of-16bytes";

/// splitmix64, to pick members.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        (z ^ (z >> 31)) % n
    }
}

fn key(kind: &str, size: u64) -> Vec<u8> {
    format!("{kind}:{size}").into_bytes()
}

/// The `i`-th member a collection is built with (even numbers).
fn member(i: u64) -> Vec<u8> {
    format!("m{:010}", 2 * i).into_bytes()
}

/// A member that is not in the collections, sorting just after `member(i)`.
fn new_member(i: u64) -> Vec<u8> {
    format!("m{:010}", 2 * i + 1).into_bytes()
}

/// Builds a list, a set, a sorted set (member `i` scores `i`) and a hash of `size` members,
/// in transactions of [`BATCH`] members.
fn build(db: &Db, size: u64) {
    let started = Instant::now();
    let mut start = 0;
    while start < size {
        let end = (start + BATCH).min(size);
        let members: Vec<Vec<u8>> = (start..end).map(member).collect();
        db.transaction(|tx| {
            tx.list(&key("list", size)).push_back(&members)?;
            tx.set_of(&key("set", size)).add(&members)?;
            let scored: Vec<(f64, &[u8])> = members
                .iter()
                .zip(start..)
                .map(|(m, i)| (i as f64, m.as_slice()))
                .collect();
            tx.zset(&key("zset", size))
                .add(ZAddFlags::default(), &scored)?;
            let pairs: Vec<(&[u8], &[u8])> =
                members.iter().map(|m| (m.as_slice(), VALUE)).collect();
            tx.hash(&key("hash", size)).set(&pairs)?;
            Ok(())
        })
        .expect("build commit");
        start = end;
    }
    eprintln!(
        "built 4 collections of {size} members in {:.1?}",
        started.elapsed()
    );
}

/// Times `op` for each iteration and runs `undo` after it, untimed.
fn timed_with_undo(
    iters: u64,
    mut op: impl FnMut(u64),
    mut undo: impl FnMut(u64),
    rng: &mut Rng,
    size: u64,
) -> Duration {
    let mut total = Duration::ZERO;
    for _ in 0..iters {
        let i = rng.below(size);
        let t = Instant::now();
        op(i);
        total += t.elapsed();
        undo(i);
    }
    total
}

fn bench(c: &mut Criterion, db: &Db, sizes: &[u64]) {
    let mut g = c.benchmark_group("collections");
    g.sample_size(20);
    g.warm_up_time(Duration::from_secs(1));
    g.measurement_time(Duration::from_secs(4));
    let mut rng = Rng(7);
    // Each operation is measured on every size in turn, so that the sizes compare under the
    // same load of the machine.
    for &size in sizes {
        let list = key("list", size);
        g.bench_function(BenchmarkId::new("lpush+rpop", size), |b| {
            b.iter(|| {
                db.transaction(|tx| tx.list(&list).push_front(&[b"pushed"]))
                    .expect("LPUSH");
                black_box(
                    db.transaction(|tx| tx.list(&list).pop_back(1))
                        .expect("RPOP"),
                );
            });
        });
    }
    for &size in sizes {
        let set = key("set", size);
        g.bench_function(BenchmarkId::new("sadd+sismember", size), |b| {
            b.iter_custom(|iters| {
                timed_with_undo(
                    iters,
                    |i| {
                        let m = new_member(i);
                        db.transaction(|tx| tx.set_of(&set).add(&[&m]))
                            .expect("SADD");
                        assert!(db.set_of(&set).contains(&m).expect("SISMEMBER"));
                    },
                    |i| {
                        db.transaction(|tx| tx.set_of(&set).remove(&[new_member(i)]))
                            .expect("SREM");
                    },
                    &mut rng,
                    size,
                )
            });
        });
    }
    for &size in sizes {
        let zset = key("zset", size);
        g.bench_function(BenchmarkId::new("zadd+zscore+zrank", size), |b| {
            b.iter_custom(|iters| {
                timed_with_undo(
                    iters,
                    |i| {
                        let m = new_member(i);
                        let score = i as f64 + 0.5;
                        db.transaction(|tx| {
                            tx.zset(&zset).add(ZAddFlags::default(), &[(score, &m)])
                        })
                        .expect("ZADD");
                        let z = db.zset(&zset);
                        assert_eq!(z.score(&m).expect("ZSCORE"), Some(score));
                        assert_eq!(z.rank(&m, false).expect("ZRANK"), Some(i + 1));
                    },
                    |i| {
                        db.transaction(|tx| tx.zset(&zset).remove(&[new_member(i)]))
                            .expect("ZREM");
                    },
                    &mut rng,
                    size,
                )
            });
        });
    }
    for &size in sizes {
        let hash = key("hash", size);
        g.bench_function(BenchmarkId::new("hset+hget", size), |b| {
            b.iter_custom(|iters| {
                timed_with_undo(
                    iters,
                    |i| {
                        let f = new_member(i);
                        db.transaction(|tx| tx.hash(&hash).set(&[(&f, VALUE)]))
                            .expect("HSET");
                        black_box(db.hash(&hash).get(&f).expect("HGET"));
                    },
                    |i| {
                        db.transaction(|tx| tx.hash(&hash).delete(&[new_member(i)]))
                            .expect("HDEL");
                    },
                    &mut rng,
                    size,
                )
            });
        });
    }
    for &size in sizes {
        let zset = key("zset", size);
        g.bench_function(BenchmarkId::new("zrange-10", size), |b| {
            b.iter(|| {
                let start = rng.below(size - 10) as i64;
                let items = db
                    .zset(&zset)
                    .range(start, start + 9, false)
                    .expect("ZRANGE");
                assert_eq!(items.len(), 10);
                black_box(items);
            });
        });
    }
    g.finish();
}

fn main() {
    // A test harness listing the benches (`--list`, as `cargo nextest run --all-targets`
    // does) must not build a million-member collection; a one-pass smoke run (`--test`)
    // uses small sizes.
    let args: Vec<String> = std::env::args().collect();
    if args.iter().any(|a| a == "--list") {
        return;
    }
    // `ZIGGY_BENCH_SIZES=1000,100000` picks other sizes (to profile one of them).
    let sizes: Vec<u64> = if let Ok(list) = std::env::var("ZIGGY_BENCH_SIZES") {
        list.split(',')
            .map(|s| {
                s.trim()
                    .parse()
                    .expect("ZIGGY_BENCH_SIZES: comma-separated sizes")
            })
            .collect()
    } else if args.iter().any(|a| a == "--test") {
        vec![1_000, 10_000]
    } else {
        SIZES.to_vec()
    };
    let mut c = Criterion::default().configure_from_args();
    let dir = tempfile::tempdir().expect("a temporary directory");
    let db = Db::options()
        .durability(Durability::Batched {
            max_delay: Duration::from_millis(50),
        })
        // A build transaction of 5,000 members of each type fits easily.
        .segment_size(256 << 20)
        // A compaction in the middle of a measurement would time the compaction.
        .auto_compact(false, 0.5, u64::MAX)
        .active_expiry(None)
        .open(dir.path().join("db"))
        .expect("open");
    for &size in &sizes {
        build(&db, size);
    }
    bench(&mut c, &db, &sizes);
    c.final_summary();
}
