//! Criterion benchmarks of the engine alone: record decoding, index probes, point reads,
//! single sets, commits, bulk loads, open.
//!
//! Keys are 24 random bytes and values 150 random bytes, derived from a seed so that a bench
//! can ask for keys it knows are present (hits) or absent (misses). Run with
//! `cargo bench --bench engine`; `cargo bench --bench engine -- --test` runs each bench once.
// Keys are `impl AsRef<[u8]>`: callers written when they were `&[u8]` pass `&Vec<u8>`.
#![allow(clippy::needless_borrows_for_generic_args)]

use std::cell::OnceCell;
use std::hint::black_box;
use std::path::Path;
use std::time::{Duration, Instant};

use criterion::{BatchSize, BenchmarkId, Criterion, Throughput};
use ziggydb::{Db, Durability};

mod common;
use common::{batched, key, value, Rng};

/// Keys in the warm database the read benches use.
const WARM_KEYS: u64 = 100_000;
/// Keys per commit for loads and batched writes.
const BATCH: u64 = 1_000;

/// Writes keys `from..to` of space 0 in commits of [`BATCH`] keys.
fn load(db: &Db, from: u64, to: u64, rng: &mut Rng) {
    let mut start = from;
    while start < to {
        let end = (start + BATCH).min(to);
        db.transaction(|tx| {
            for i in start..end {
                tx.set(&key(0, i), value(rng))?;
            }
            Ok(())
        })
        .expect("load commit");
        start = end;
    }
}

fn warm_db(dir: &Path) -> Db {
    let db = Db::options().durability(batched()).open(dir).expect("open");
    load(&db, 0, WARM_KEYS, &mut Rng(1));
    db.sync().expect("sync");
    // Touch every key once so the pages are resident: a warm read path.
    for i in 0..WARM_KEYS {
        black_box(db.get(&key(0, i)).expect("get"));
    }
    db
}

/// The warm database, built on first use: a filtered run (`cargo bench -- get/miss`, or a test
/// runner running one bench per process) skips the setup of benches it does not run.
struct Warm(OnceCell<(tempfile::TempDir, Db)>);

impl Warm {
    fn new() -> Self {
        Self(OnceCell::new())
    }

    fn db(&self) -> &Db {
        let (_, db) = self.0.get_or_init(|| {
            let dir = tempfile::tempdir().expect("tempdir");
            let db = warm_db(dir.path());
            (dir, db)
        });
        db
    }
}

fn bench_reads(c: &mut Criterion) {
    let warm = Warm::new();
    let mut g = c.benchmark_group("get");
    g.throughput(Throughput::Elements(1));
    g.bench_function("hit", |b| {
        let db = warm.db();
        let mut rng = Rng(2);
        b.iter(|| {
            let k = key(0, rng.below(WARM_KEYS));
            let v = db.get(black_box(&k)).expect("get");
            assert!(v.is_some());
            black_box(v.map(|v| v.len()))
        });
    });
    g.bench_function("hit_miss_50", |b| {
        let db = warm.db();
        let mut rng = Rng(3);
        b.iter(|| {
            let r = rng.next_u64();
            let space = r & 1;
            let k = key(space, (r >> 1) % WARM_KEYS);
            black_box(db.get(black_box(&k)).expect("get").map(|v| v.len()))
        });
    });
    // An index probe that finds nothing: the cost of a miss, with no record read.
    g.bench_function("miss", |b| {
        let db = warm.db();
        let mut rng = Rng(4);
        b.iter(|| {
            let k = key(7, rng.next_u64());
            let v = db.get(black_box(&k)).expect("get");
            assert!(v.is_none());
        });
    });
    g.finish();
}

fn bench_commits(c: &mut Criterion) {
    let mut g = c.benchmark_group("commit");

    // One key per commit, fsynced before `set` returns.
    {
        let dir = tempfile::tempdir().expect("tempdir");
        let db = Db::options()
            .durability(Durability::Immediate)
            .open(dir.path())
            .expect("open");
        let mut rng = Rng(5);
        g.throughput(Throughput::Elements(1));
        g.sample_size(20);
        g.measurement_time(Duration::from_secs(5));
        g.bench_function("immediate_1_key", |b| {
            // Overwrite a bounded key set so the database does not grow without limit.
            b.iter(|| {
                db.set(&key(0, rng.below(WARM_KEYS)), value(&mut rng))
                    .expect("set")
            });
        });
    }

    // 1000 keys per commit, one fsync per commit.
    {
        let dir = tempfile::tempdir().expect("tempdir");
        let db = Db::options()
            .durability(Durability::Immediate)
            .open(dir.path())
            .expect("open");
        let mut rng = Rng(6);
        g.throughput(Throughput::Elements(BATCH));
        g.sample_size(20);
        g.bench_function(BenchmarkId::new("immediate_batch", BATCH), |b| {
            b.iter(|| {
                db.transaction(|tx| {
                    for _ in 0..BATCH {
                        tx.set(&key(0, rng.below(WARM_KEYS)), value(&mut rng))?;
                    }
                    Ok(())
                })
                .expect("commit")
            });
        });
    }
    g.finish();
}

fn bench_bulk_load(c: &mut Criterion) {
    const N: u64 = 20_000;
    let mut g = c.benchmark_group("bulk_load");
    g.throughput(Throughput::Elements(N));
    g.sample_size(10);
    g.bench_function(BenchmarkId::new("batched_1000_per_commit", N), |b| {
        let mut rng = Rng(7);
        // A fresh database per iteration; creating and removing the directory is not timed.
        b.iter_batched(
            || {
                let dir = tempfile::tempdir().expect("tempdir");
                let db = Db::options()
                    .durability(batched())
                    .open(dir.path())
                    .expect("open");
                (dir, db)
            },
            |(dir, db)| {
                load(&db, 0, N, &mut rng);
                db.sync().expect("sync");
                (dir, db)
            },
            BatchSize::PerIteration,
        );
    });
    g.finish();
}

fn bench_open(c: &mut Criterion) {
    let mut dir: Option<tempfile::TempDir> = None;
    let mut g = c.benchmark_group("open");
    g.sample_size(20);
    g.bench_function(BenchmarkId::new("after_clean_close", WARM_KEYS), |b| {
        let dir = dir.get_or_insert_with(|| {
            let dir = tempfile::tempdir().expect("tempdir");
            // Dropping the only handle closes the database cleanly.
            drop(warm_db(dir.path()));
            dir
        });
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let t = Instant::now();
                let db = Db::open(dir.path()).expect("open");
                total += t.elapsed();
                drop(black_box(db));
            }
            total
        });
    });
    g.finish();
}

/// The hot paths underneath: decoding a record (a 150-byte value and a 4 KiB collection
/// page, checksum included), probing a 1M-slot index, one batched `set`.
fn bench_internals(c: &mut Criterion) {
    use ziggydb::internals;
    let mut g = c.benchmark_group("record");
    let small = internals::encode_put(&key(0, 1), &[7u8; 150]);
    let page = internals::encode_put(&key(0, 2), &[7u8; 4096]);
    g.bench_function("decode_150_bytes", |b| {
        b.iter(|| black_box(internals::decode(black_box(&small))));
    });
    g.bench_function("decode_4_kib", |b| {
        b.iter(|| black_box(internals::decode(black_box(&page))));
    });
    g.finish();

    let mut g = c.benchmark_group("index");
    let dir = tempfile::tempdir().expect("tempdir");
    const KEYS: u64 = 500_000;
    let index = internals::Index::create(dir.path(), KEYS).expect("index");
    for i in 0..KEYS {
        index.insert(&key(0, i), i + 1);
    }
    let mut rng = Rng(3);
    g.bench_function(BenchmarkId::new("probe_hit", KEYS), |b| {
        b.iter(|| {
            let i = rng.below(KEYS);
            black_box(index.probe(&key(0, i)).expect("probe"))
        });
    });
    g.bench_function(BenchmarkId::new("probe_miss", KEYS), |b| {
        b.iter(|| {
            let i = rng.below(KEYS);
            black_box(index.probe(&key(1, i)).expect("probe"))
        });
    });
    g.finish();

    let mut g = c.benchmark_group("set");
    let dir = tempfile::tempdir().expect("tempdir");
    let db = Db::options()
        .durability(batched())
        .open(dir.path())
        .expect("open");
    let mut rng = Rng(4);
    let mut i = 0u64;
    g.bench_function("batched_1_key", |b| {
        b.iter(|| {
            i += 1;
            db.set(&key(2, i % 100_000), value(&mut rng)).expect("set");
        });
    });
    g.finish();
}

fn main() {
    let mut c = Criterion::default().configure_from_args();
    bench_internals(&mut c);
    bench_reads(&mut c);
    bench_commits(&mut c);
    bench_bulk_load(&mut c);
    bench_open(&mut c);
    c.final_summary();
}
