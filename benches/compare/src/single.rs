//! The single-process phases, in the shape of redb's published benchmark: bulk load, open
//! time, warm random reads from 1, 2 and 4 threads, range reads, batch writes, individual
//! durable writes, removals, and space on disk before and after compaction.

use std::hint::black_box;
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use crate::common::{key, value, Rng, KEY_LEN, VALUE_LEN};
use crate::engines::{Engine, Kind, Mode, Pair, Res};
use crate::table::{Better, Cell, Table};
use crate::Config;

/// Keys per commit in the bulk load, batch writes and removals.
pub const BATCH: u64 = 1_000;
/// Entries per range read.
pub const RANGE_LEN: usize = 100;
const OPEN_REPEATS: usize = 5;

pub const BULK: &str = "bulk load (1000 keys/commit, one sync at the end)";
pub const BULK_ONE_TXN: &str = "bulk load in one transaction (every key, one sync at the end)";
pub const OPEN: &str = "open the loaded database (median of 5)";
pub const READS: [&str; 3] = [
    "random point reads, 1 thread (warm)",
    "random point reads, 2 threads",
    "random point reads, 4 threads",
];
pub const RANGES: &str = "range reads of 100 keys, 1 thread";
pub const BATCH_WRITES: &str = "batch writes (1000 keys per durable commit)";
pub const SINGLE: &str = "individual durable writes (1 key per commit)";
pub const REMOVALS: &str = "removals (1000 keys per durable commit)";
pub const SIZE_BEFORE: &str = "size on disk before compaction / live bytes";
pub const SIZE_AFTER: &str = "size on disk after compaction / live bytes";
pub const COMPACT_TIME: &str = "compaction time";

/// Keys removed by the removal phase: `0..removed(n)`; later phases read the rest.
pub fn removed(n: u64) -> u64 {
    n / 4
}

/// Key/value pairs `from..to` of key space 0 with fresh values.
fn pairs(from: u64, to: u64, rng: &mut Rng) -> Vec<Pair> {
    (from..to).map(|i| (key(0, i), value(rng))).collect()
}

/// Runs every single-process phase for `kind` in `dir` and fills its column of `t`.
pub fn run(cfg: &Config, kind: Kind, dir: &Path, t: &mut Table) -> Res<()> {
    let col = kind.title();
    let n = cfg.keys;
    let put = |t: &mut Table, name: &str, unit, better, v: f64| {
        eprintln!("  {col:<8} {name}: {v:.2} {unit}");
        t.set(name, unit, better, col, Cell::Value(v));
    };

    // Bulk load: only the commits are timed, not making up the pairs.
    let e = kind.open(dir, Mode::Load)?;
    let mut rng = Rng(1);
    let mut spent = Duration::ZERO;
    let mut i = 0;
    while i < n {
        let end = (i + BATCH).min(n);
        let batch = pairs(i, end, &mut rng);
        let start = Instant::now();
        e.write(&batch, false)?;
        spent += start.elapsed();
        i = end;
    }
    let start = Instant::now();
    e.sync()?;
    spent += start.elapsed();
    put(
        t,
        BULK,
        "keys/s",
        Better::Higher,
        n as f64 / spent.as_secs_f64(),
    );
    drop(e);

    let mut opens = Vec::new();
    for _ in 0..OPEN_REPEATS {
        let start = Instant::now();
        let e = kind.open(dir, Mode::Durable)?;
        opens.push(start.elapsed());
        drop(e);
    }
    opens.sort();
    put(
        t,
        OPEN,
        "ms",
        Better::Lower,
        opens[OPEN_REPEATS / 2].as_secs_f64() * 1e3,
    );

    let mut e = kind.open(dir, Mode::Durable)?;
    {
        // Warm: every key once, so reads measure the engine, not the disk.
        let mut r = e.reader()?;
        for i in 0..n {
            black_box(r.get(&key(0, i))?);
        }
    }
    for (threads, name) in [1, 2, 4].into_iter().zip(READS) {
        let rate = random_reads(&*e, 0, n, threads, cfg.read_time)?;
        put(t, name, "reads/s", Better::Higher, rate);
    }
    match range_reads(&*e, cfg.read_time)? {
        Some(rate) => put(t, RANGES, "ranges/s", Better::Higher, rate),
        None => t.set(
            RANGES,
            "ranges/s",
            Better::Higher,
            col,
            Cell::Text("no ordered range".into()),
        ),
    }

    // Batch writes: half of the keys overwritten, 1000 per durable commit.
    let mut rng = Rng(2);
    let total = (n / 2).max(BATCH);
    let mut spent = Duration::ZERO;
    let mut done = 0;
    while done < total {
        let batch: Vec<Pair> = (0..BATCH)
            .map(|_| (key(0, rng.below(n)), value(&mut rng)))
            .collect();
        let start = Instant::now();
        e.write(&batch, true)?;
        spent += start.elapsed();
        done += BATCH;
    }
    put(
        t,
        BATCH_WRITES,
        "keys/s",
        Better::Higher,
        done as f64 / spent.as_secs_f64(),
    );

    let mut spent = Duration::ZERO;
    for _ in 0..cfg.singles {
        let one = [(key(0, rng.below(n)), value(&mut rng))];
        let start = Instant::now();
        e.write(&one, true)?;
        spent += start.elapsed();
    }
    put(
        t,
        SINGLE,
        "commits/s",
        Better::Higher,
        cfg.singles as f64 / spent.as_secs_f64(),
    );

    let gone = removed(n);
    let mut spent = Duration::ZERO;
    let mut i = 0;
    while i < gone {
        let end = (i + BATCH).min(gone);
        let keys: Vec<[u8; KEY_LEN]> = (i..end).map(|i| key(0, i)).collect();
        let start = Instant::now();
        e.remove(&keys, true)?;
        spent += start.elapsed();
        i = end;
    }
    put(
        t,
        REMOVALS,
        "keys/s",
        Better::Higher,
        gone as f64 / spent.as_secs_f64(),
    );

    let live = ((n - gone) * (KEY_LEN + VALUE_LEN) as u64) as f64;
    put(
        t,
        SIZE_BEFORE,
        "×",
        Better::Lower,
        disk_bytes(dir)? as f64 / live,
    );
    let start = Instant::now();
    if e.compact()? {
        let secs = start.elapsed().as_secs_f64();
        put(
            t,
            SIZE_AFTER,
            "×",
            Better::Lower,
            disk_bytes(dir)? as f64 / live,
        );
        put(t, COMPACT_TIME, "s", Better::Lower, secs);
    } else {
        for (name, unit) in [(SIZE_AFTER, "×"), (COMPACT_TIME, "s")] {
            t.set(
                name,
                unit,
                Better::Lower,
                col,
                Cell::Text("no compaction".into()),
            );
        }
    }
    drop(e);
    Ok(())
}

/// Random reads of keys `lo..hi` (all present) from `threads` threads, each with its own
/// reader; one read transaction per get.
pub fn random_reads(e: &dyn Engine, lo: u64, hi: u64, threads: u64, dur: Duration) -> Res<f64> {
    let total = AtomicU64::new(0);
    let start = Instant::now();
    std::thread::scope(|s| -> Res<()> {
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                let total = &total;
                s.spawn(move || -> Res<()> {
                    let mut r = e.reader()?;
                    let mut rng = Rng(100 + t);
                    let start = Instant::now();
                    let mut ops = 0;
                    while start.elapsed() < dur {
                        for _ in 0..256 {
                            let k = key(0, lo + rng.below(hi - lo));
                            if r.get(&k)?.is_none() {
                                return Err("a loaded key is missing".into());
                            }
                        }
                        ops += 256;
                    }
                    total.fetch_add(ops, Ordering::Relaxed);
                    Ok(())
                })
            })
            .collect();
        for h in handles {
            h.join().map_err(|_| "reader thread panicked")??;
        }
        Ok(())
    })?;
    Ok(total.load(Ordering::Relaxed) as f64 / start.elapsed().as_secs_f64())
}

/// Range reads of [`RANGE_LEN`] entries from random start keys; `None` without ranges.
fn range_reads(e: &dyn Engine, dur: Duration) -> Res<Option<f64>> {
    let mut r = e.reader()?;
    let mut rng = Rng(7);
    let start = Instant::now();
    let mut ops = 0u64;
    while start.elapsed() < dur {
        let from = key(9, rng.next_u64());
        match r.range(&from, RANGE_LEN)? {
            None => return Ok(None),
            Some(bytes) => {
                black_box(bytes);
            }
        }
        ops += 1;
    }
    Ok(Some(ops as f64 / start.elapsed().as_secs_f64()))
}

/// Bytes allocated on disk by every file under `dir` (what `du` reports).
pub fn disk_bytes(dir: &Path) -> std::io::Result<u64> {
    let mut sum = 0;
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let md = entry.metadata()?;
        if md.is_dir() {
            sum += disk_bytes(&entry.path())?;
        } else {
            sum += md.blocks() * 512;
        }
    }
    Ok(sum)
}

/// The bulk load as one transaction of every key (issue 19 item 2), into a fresh database in
/// `dir`: only the commit and the sync are timed, not making up the pairs. Returns keys/s.
pub fn one_txn_load(cfg: &Config, kind: Kind, dir: &Path) -> Res<f64> {
    let e = kind.open(dir, Mode::LoadOneTxn)?;
    let mut rng = Rng(1);
    let all = pairs(0, cfg.keys, &mut rng);
    let start = Instant::now();
    e.write(&all, false)?;
    e.sync()?;
    let rate = cfg.keys as f64 / start.elapsed().as_secs_f64();
    drop(e);
    drop(all);
    Ok(rate)
}
