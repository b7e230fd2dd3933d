//! The read path's cost per call, through `Db` and inside a write transaction: a point
//! `get` (zero-copy and owned), `exists`, `strlen`, a list's length, and a transaction's
//! `get`. Written against calls that predate the `Read` trait, so that the same file
//! measures the code before and after it.
//!
//! Read views (`Db::read_view`, format-spec.md §8.2) are measured beside them: a view opened
//! for every get against `Db::get_value` (the same owned read) in the same run, and reads
//! through one view kept open while commits are made after it.
//!
//! `cargo bench --bench readpath` (100,000 keys, about 30 s); `-- --quick` (20,000 keys, a
//! few seconds). Prints ns per call, the best of three rounds.

use std::hint::black_box;
use std::time::{Duration, Instant};

use ziggydb::{Db, Read};

fn key(i: u64) -> Vec<u8> {
    format!("key-{:016x}", i.wrapping_mul(0x9e37_79b9_7f4a_7c15)).into_bytes()
}

/// Best ns per call of `f` over three rounds of at least `round` each.
fn measure(round: Duration, n: u64, mut f: impl FnMut(u64)) -> f64 {
    let mut best = f64::MAX;
    for _ in 0..3 {
        let start = Instant::now();
        let mut calls = 0u64;
        while start.elapsed() < round {
            for _ in 0..1000 {
                f(calls % n);
                calls += 1;
            }
        }
        best = best.min(start.elapsed().as_nanos() as f64 / calls as f64);
    }
    best
}

/// This thread's CPU time: rounds measured by it are not lengthened by the time other
/// processes of a loaded machine take the CPU from it.
fn thread_cpu() -> Duration {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime only writes the timespec it is given, which lives on this stack.
    unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

/// Best CPU ns per call of `f` over `rounds` rounds of `calls` calls each.
fn measure_cpu(rounds: usize, calls: u64, n: u64, mut f: impl FnMut(u64)) -> f64 {
    let mut best = f64::MAX;
    let mut i = 0u64;
    for _ in 0..rounds {
        let start = thread_cpu();
        for _ in 0..calls {
            f(i % n);
            i += 1;
        }
        best = best.min((thread_cpu() - start).as_nanos() as f64 / calls as f64);
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
    let (n, round) = if quick {
        (20_000u64, Duration::from_millis(300))
    } else {
        (100_000, Duration::from_millis(2000))
    };
    let dir = tempfile::tempdir()?;
    let db = Db::options().active_expiry(None).open(dir.path())?;
    let keys: Vec<Vec<u8>> = (0..n).map(key).collect();
    for chunk in keys.chunks(1000) {
        db.transaction(|tx| {
            for k in chunk {
                tx.set(k.as_slice(), vec![7u8; 100])?;
            }
            Ok(())
        })?;
    }
    db.transaction(|tx| tx.list(b"list").push_back(&[b"a", b"b", b"c"]).map(drop))?;
    let k = |i: u64| keys[i as usize].as_slice();
    let rows: Vec<(&str, f64)> = vec![
        (
            "Db::get (ValueRef)",
            measure(round, n, |i| {
                black_box(db.get(k(i)).expect("get").map(|v| v.len()));
            }),
        ),
        (
            "Db::get_value",
            measure(round, n, |i| {
                black_box(db.get_value(k(i)).expect("get_value"));
            }),
        ),
        (
            "Db::exists",
            measure(round, n, |i| {
                black_box(db.exists(k(i)).expect("exists"));
            }),
        ),
        (
            "Db::strlen",
            measure(round, n, |i| {
                black_box(db.strlen(k(i)).expect("strlen"));
            }),
        ),
        (
            "Db::list(k).len",
            measure(round, n, |_| {
                black_box(db.list(b"list").len().expect("len"));
            }),
        ),
        ("WriteTxn::get (nothing pending)", {
            let tx = db.begin_write()?;
            let ns = measure(round, n, |i| {
                black_box(tx.get(k(i)).expect("txn get"));
            });
            tx.rollback();
            ns
        }),
    ];
    println!("{:<34} {:>10}", "read", "ns/call");
    for (name, ns) in rows {
        println!("{name:<34} {ns:>10.0}");
    }

    // Read views. Short rounds of a bare get and of a view per get alternate, timed by this
    // thread's CPU time, so that both see the same machine load; the ratio is of the best
    // round of each.
    let calls = if quick { 20_000 } else { 100_000 };
    let (mut b, mut v) = (f64::MAX, f64::MAX);
    for _ in 0..if quick { 20 } else { 60 } {
        b = b.min(measure_cpu(1, calls, n, |i| {
            black_box(db.get_value(k(i)).expect("get_value"));
        }));
        v = v.min(measure_cpu(1, calls, n, |i| {
            let v = db.read_view().expect("read_view");
            black_box(v.get(k(i)).expect("view get"));
        }));
    }
    let view = db.read_view()?;
    let kept = measure_cpu(10, calls, n, |i| {
        black_box(view.get(k(i)).expect("view get"));
    });
    // 1% of the keys rewritten after the view began: every read then checks the record's
    // txn, and those keys are answered from the undo ring.
    for chunk in keys.chunks(1000).step_by(100) {
        db.transaction(|tx| {
            for k in chunk {
                tx.set(k.as_slice(), vec![8u8; 100])?;
            }
            Ok(())
        })?;
    }
    let behind = measure_cpu(10, calls, n, |i| {
        black_box(view.get(k(i)).expect("view get"));
    });
    drop(view);
    println!();
    println!("{:<34} {:>10}", "read view", "ns/call");
    for (name, ns) in [
        ("Db::get_value (same rounds)", b),
        ("read_view() + get, per get", v),
        ("ReadView::get, no commit since", kept),
        ("ReadView::get, 1% rewritten since", behind),
    ] {
        println!("{name:<34} {ns:>10.0}");
    }
    println!("view per get / bare get: {:.3}", v / b);
    Ok(())
}
