//! Memory and time of one transaction larger than a segment, on the default options (64 MiB
//! segments): 1,000,000 pairs of a 24-byte key and a 150-byte value (about 198 MB of log, the
//! shape of issue 19), and 50,000 values of 4,000 bytes (about 200 MB). The pairs are made
//! as they are set, so the process holds nothing of them but what the transaction holds.
//!
//! For each: the time to set every pair in the transaction and to commit it (with a sync),
//! the anonymous resident memory (heap) before, once every pair is set, and after the commit,
//! and the process's peak resident set (`VmHWM`, which also counts the pages of the mapped
//! segment the publish reads).
//!
//! `cargo bench --bench bigtxn` (about a minute); `-- --quick` (100,000 pairs and 5,000
//! values: a few seconds).

use std::time::Instant;

use ziggydb::{Db, Durability};

/// A field of `/proc/self/status`, in KiB.
fn status_kib(field: &str) -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

fn mib(kib: u64) -> f64 {
    kib as f64 / 1024.0
}

/// Loads `pairs` pairs of `value_len`-byte values in one transaction into a new database.
fn run(pairs: u64, value_len: usize) -> Result<(), Box<dyn std::error::Error>> {
    let tmp = tempfile::tempdir()?;
    let db = Db::options()
        .durability(Durability::Batched {
            max_delay: std::time::Duration::from_millis(50),
        })
        .open(tmp.path().join("db"))?;
    let anon_before = status_kib("RssAnon:");
    let mut value = vec![b'v'; value_len];
    let log = pairs * (24 + 24 + value_len as u64);
    let start = Instant::now();
    let mut tx = db.begin_write()?;
    for i in 0..pairs {
        let key = format!("key:{i:020}");
        value[..8].copy_from_slice(&i.to_le_bytes());
        tx.set(key.as_bytes(), value.as_slice())?;
    }
    let built = start.elapsed();
    let anon_built = status_kib("RssAnon:");
    let start = Instant::now();
    tx.commit()?;
    db.sync()?;
    let committed = start.elapsed();
    let anon_after = status_kib("RssAnon:");
    let hwm = status_kib("VmHWM:");
    assert_eq!(db.len(), pairs);
    println!(
        "{pairs:>9} pairs of {value_len:>4} B ({:>5.0} MB of log): set {:>6.2} s, commit+sync \
         {:>6.2} s ({:>7.0} pairs/s in all); heap {:>6.1} MiB before, {:>6.1} MiB with the \
         pending writes ({:.2}x the log), {:>6.1} MiB after; peak RSS {:>6.1} MiB",
        log as f64 / 1e6,
        built.as_secs_f64(),
        committed.as_secs_f64(),
        pairs as f64 / (built + committed).as_secs_f64(),
        mib(anon_before),
        mib(anon_built),
        (anon_built.saturating_sub(anon_before) * 1024) as f64 / log as f64,
        mib(anon_after),
        mib(hwm),
    );
    Ok(())
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    // nextest lists every target's tests (`--list`): a bench has none to list.
    if args.iter().any(|a| a == "--list") {
        return Ok(());
    }
    let quick = args.iter().any(|a| a == "--quick" || a == "--test");
    let (small, big) = if quick {
        (100_000, 5_000)
    } else {
        (1_000_000, 50_000)
    };
    // Each shape in a process of its own, so that one's peak is not the other's.
    if let Some(shape) = std::env::var_os("ZIGGY_BIGTXN_SHAPE") {
        return match shape.to_str() {
            Some("small") => run(small, 150),
            _ => run(big, 4000),
        };
    }
    let exe = std::env::current_exe()?;
    for shape in ["small", "big"] {
        let status = std::process::Command::new(&exe)
            .args(&args[1..])
            .env("ZIGGY_BIGTXN_SHAPE", shape)
            .status()?;
        if !status.success() {
            return Err(format!("the {shape} shape failed: {status}").into());
        }
    }
    Ok(())
}
