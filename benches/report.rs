//! A one-shot report: measures the engine end to end and prints a table.
//!
//! `cargo bench --bench report` loads N keys (24-byte random keys, 150-byte values; N is
//! 500,000 unless `ZIGGY_BENCH_KEYS` says otherwise) into a fresh database in the system's
//! temporary directory, measures reads, writes, reopening and space on disk, prints one line
//! per measurement and removes the directory. It takes a minute or two on two cores.
// Keys are `impl AsRef<[u8]>`: callers written when they were `&[u8]` pass `&Vec<u8>`.
#![allow(clippy::needless_borrows_for_generic_args)]

use std::fs;
use std::hint::black_box;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use ziggydb::{Db, Durability};

mod common;
use common::{batched, key, value, Rng, KEY_LEN, VALUE_LEN};

const BATCH: u64 = 1_000;
/// How long each time-bounded measurement runs.
const READ_TIME: Duration = Duration::from_millis(1500);
const WRITE_TIME: Duration = Duration::from_secs(2);
const OPEN_REPEATS: usize = 20;

/// Writes keys `from..to` of key space `space` in commits of [`BATCH`] keys.
fn load(db: &Db, space: u64, from: u64, to: u64, rng: &mut Rng) -> ziggydb::Result<()> {
    let mut start = from;
    while start < to {
        let end = (start + BATCH).min(to);
        db.transaction(|tx| {
            for i in start..end {
                tx.set(&key(space, i), value(rng))?;
            }
            Ok(())
        })?;
        start = end;
    }
    Ok(())
}

/// Runs `op` in a loop for about `dur` and returns (operations, elapsed).
fn run_for(dur: Duration, mut op: impl FnMut() -> u64) -> (u64, Duration) {
    let t = Instant::now();
    let mut ops = 0;
    loop {
        ops += op();
        let e = t.elapsed();
        if e >= dur {
            return (ops, e);
        }
    }
}

/// Random point reads of present keys from `threads` threads sharing one handle.
fn random_reads(db: &Db, n: u64, threads: u64) -> f64 {
    let total = AtomicU64::new(0);
    let start = Instant::now();
    std::thread::scope(|s| {
        for t in 0..threads {
            let db = db.clone();
            let total = &total;
            s.spawn(move || {
                let mut rng = Rng(100 + t);
                let (ops, _) = run_for(READ_TIME, || {
                    for _ in 0..1024 {
                        let v = db.get(&key(0, rng.below(n))).expect("get");
                        assert!(v.is_some(), "a loaded key is missing");
                        black_box(v.map(|v| v.len()));
                    }
                    1024
                });
                total.fetch_add(ops, Ordering::Relaxed);
            });
        }
    });
    total.load(Ordering::Relaxed) as f64 / start.elapsed().as_secs_f64()
}

/// Bytes of every file in `dir`, and of `seg-*.zdb` files only: (apparent size, allocated).
#[derive(Default, Clone, Copy)]
struct Space {
    all_len: u64,
    all_alloc: u64,
    seg_len: u64,
    seg_alloc: u64,
}

fn space(dir: &Path) -> std::io::Result<Space> {
    let mut s = Space::default();
    for entry in fs::read_dir(dir)? {
        let entry = entry?;
        let md = entry.metadata()?;
        if !md.is_file() {
            continue;
        }
        let alloc = md.blocks() * 512;
        s.all_len += md.len();
        s.all_alloc += alloc;
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if name.starts_with("seg-") && name.ends_with(".zdb") {
            s.seg_len += md.len();
            s.seg_alloc += alloc;
        }
    }
    Ok(s)
}

/// Prints the table row by row, so a slow step shows while it runs.
struct Table;

impl Table {
    fn new() -> Self {
        println!(
            "| {:<52} | {:>14} | {:<16} |",
            "measurement", "result", "unit"
        );
        println!("|{:-<54}|{:->16}|{:-<18}|", "", "", "");
        Self
    }

    fn row(&mut self, what: &str, value: f64, unit: &str) {
        let v = if value >= 100.0 {
            format!("{value:.0}")
        } else {
            format!("{value:.2}")
        };
        println!("| {what:<52} | {v:>14} | {unit:<16} |");
    }
}

fn mib(bytes: u64) -> f64 {
    bytes as f64 / (1024.0 * 1024.0)
}

fn temp_root() -> PathBuf {
    std::env::temp_dir().join(format!("ziggy-report-{}", std::process::id()))
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    // `cargo bench` passes `--bench`; `cargo bench --bench report -- --test` (or `--list`)
    // from a harness-wide smoke run should not take minutes.
    let args: Vec<String> = std::env::args().collect();
    if args.iter().any(|a| a == "--list") {
        return Ok(());
    }
    let smoke = args.iter().any(|a| a == "--test");
    let n: u64 = match std::env::var("ZIGGY_BENCH_KEYS") {
        Ok(s) => s
            .trim()
            .parse()
            .map_err(|_| format!("ZIGGY_BENCH_KEYS={s:?} is not a number"))?,
        Err(_) if smoke => 2_000,
        Err(_) => 500_000,
    };
    if n < 2 {
        return Err("ZIGGY_BENCH_KEYS must be at least 2".into());
    }
    let root = temp_root();
    let _ = fs::remove_dir_all(&root);
    fs::create_dir_all(&root)?;
    let result = run(&root, n);
    let cleanup = fs::remove_dir_all(&root);
    result?;
    cleanup?;
    Ok(())
}

fn run(root: &Path, n: u64) -> Result<(), Box<dyn std::error::Error>> {
    let live = n * (KEY_LEN + VALUE_LEN) as u64;
    println!(
        "ZiggyDB report: {n} keys of {KEY_LEN} bytes, values of {VALUE_LEN} bytes \
         ({:.1} MiB of live key+value bytes), {} CPUs",
        mib(live),
        std::thread::available_parallelism().map_or(1, |p| p.get()),
    );
    let mut t = Table::new();
    let dir = root.join("main");

    // Auto-compaction stays off so the space figures show what one explicit compaction does.
    let opts = || {
        Db::options()
            .durability(batched())
            .auto_compact(false, 0.5, 0)
    };

    // Bulk load.
    let db = opts().open(&dir)?;
    let mut rng = Rng(1);
    let start = Instant::now();
    load(&db, 0, 0, n, &mut rng)?;
    db.sync()?;
    let secs = start.elapsed().as_secs_f64();
    t.row(
        "bulk load (1000 keys/commit, batched, + sync)",
        n as f64 / secs,
        "keys/s",
    );
    t.row("bulk load: total time", secs, "s");
    drop(db);

    // Open after a clean close.
    let mut opens = Vec::with_capacity(OPEN_REPEATS);
    for _ in 0..OPEN_REPEATS {
        let start = Instant::now();
        let db = opts().open(&dir)?;
        opens.push(start.elapsed());
        drop(black_box(db));
    }
    opens.sort();
    t.row(
        "open after clean close (median of 20)",
        opens[OPEN_REPEATS / 2].as_secs_f64() * 1e3,
        "ms",
    );
    t.row(
        "open after clean close (max of 20)",
        opens[OPEN_REPEATS - 1].as_secs_f64() * 1e3,
        "ms",
    );

    let db = opts().open(&dir)?;
    // Warm up: read every key once so the mapped pages are resident.
    for i in 0..n {
        black_box(db.get(&key(0, i))?.map(|v| v.len()));
    }
    t.row(
        "random reads, 1 thread (warm)",
        random_reads(&db, n, 1),
        "ops/s",
    );
    t.row("random reads, 2 threads", random_reads(&db, n, 2), "ops/s");
    t.row("random reads, 4 threads", random_reads(&db, n, 4), "ops/s");
    let mut rng2 = Rng(9);
    let (ops, e) = run_for(READ_TIME, || {
        for _ in 0..1024 {
            let v = db.get(&key(7, rng2.next_u64())).expect("get");
            assert!(v.is_none());
        }
        1024
    });
    t.row(
        "reads of missing keys, 1 thread",
        ops as f64 / e.as_secs_f64(),
        "ops/s",
    );

    // Space: overwrite half of the keys, then compact.
    let mut rng = Rng(2);
    let mut start = 0;
    while start < n {
        let end = (start + 2 * BATCH).min(n);
        db.transaction(|tx| {
            for i in (start..end).step_by(2) {
                tx.set(&key(0, i), value(&mut rng))?;
            }
            Ok(())
        })?;
        start = end;
    }
    db.sync()?;
    let before = space(&dir)?;
    let start = Instant::now();
    let stats = db.compact()?;
    let compact_secs = start.elapsed().as_secs_f64();
    let after = space(&dir)?;
    let ratio = |b: u64| b as f64 / live as f64;
    t.row(
        "space before compact: all files / live bytes",
        ratio(before.all_len),
        "x (size)",
    );
    t.row(
        "space before compact: all files / live bytes",
        ratio(before.all_alloc),
        "x (allocated)",
    );
    t.row(
        "space before compact: seg-*.zdb / live bytes",
        ratio(before.seg_len),
        "x (size)",
    );
    t.row(
        "space before compact: seg-*.zdb / live bytes",
        ratio(before.seg_alloc),
        "x (allocated)",
    );
    t.row("compact (half of the keys overwritten)", compact_secs, "s");
    t.row(
        "space after compact: all files / live bytes",
        ratio(after.all_len),
        "x (size)",
    );
    t.row(
        "space after compact: all files / live bytes",
        ratio(after.all_alloc),
        "x (allocated)",
    );
    t.row(
        "space after compact: seg-*.zdb / live bytes",
        ratio(after.seg_len),
        "x (size)",
    );
    t.row(
        "space after compact: seg-*.zdb / live bytes",
        ratio(after.seg_alloc),
        "x (allocated)",
    );
    t.row("space after compact: all files", mib(after.all_len), "MiB");
    assert_eq!(db.len(), n, "key count changed by compaction");
    t.row(
        "compact: segment files removed",
        stats.segments_removed as f64,
        "files",
    );
    t.row(
        "compact: segment files written",
        stats.segments_written as f64,
        "files",
    );
    drop(db);

    // Writes, in their own database so they do not disturb the figures above.
    let wdir = root.join("writes");
    let db = Db::options()
        .durability(Durability::Immediate)
        .open(&wdir)?;
    let mut rng = Rng(3);
    let mut next = 0u64;
    let (ops, e) = run_for(WRITE_TIME, || {
        let first = next;
        next += BATCH;
        db.transaction(|tx| {
            for i in first..first + BATCH {
                tx.set(&key(0, i % n), value(&mut rng))?;
            }
            Ok(())
        })
        .expect("commit");
        BATCH
    });
    t.row(
        "batched writes (1000 keys/commit, immediate)",
        ops as f64 / e.as_secs_f64(),
        "keys/s",
    );
    let (ops, e) = run_for(WRITE_TIME, || {
        db.set(&key(1, rng.below(n)), value(&mut rng)).expect("set");
        1
    });
    t.row(
        "durable single-key commits (immediate)",
        ops as f64 / e.as_secs_f64(),
        "commits/s",
    );
    drop(db);
    Ok(())
}
