//! Writers under contention (issue 12 item 3): many writer processes committing one-key INCR
//! transactions (Immediate durability) on a few shared counters, beside reader processes
//! reading in a tight loop and CPU burners, more runnable processes than cores.
//!
//! `cargo bench --bench contention` (10 s per shape) or `-- --quick` (3 s per shape);
//! `-- --secs N` sets the length. The harness re-executes its own binary with a role
//! (`role writer|reader|burner DIR SECS`); each child says `ready`, waits for `go` on its
//! standard input, works for SECS and prints what it did.
//!
//! Per shape: total commits/s; the writers' fair share of the CPU (cores × W/(W+R+K)
//! runnable processes) and the commit rate that share predicts from the writers-alone rate;
//! the least-served writer over the mean; the worst and p99.9 read latency.

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use ziggydb::{Db, Durability};

/// Shared counters the writers increment.
const COUNTERS: usize = 4;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some("role") {
        role(&args[2..]);
        return;
    }
    // nextest lists every target's tests (`--list`): a bench has none to list, and must
    // not run for minutes when asked.
    if args.iter().any(|a| a == "--list") {
        return;
    }
    let quick = args.iter().any(|a| a == "--quick" || a == "--test");
    let secs: u64 = args
        .iter()
        .position(|a| a == "--secs")
        .and_then(|i| args.get(i + 1))
        .and_then(|s| s.parse().ok())
        .unwrap_or(if quick { 3 } else { 10 });
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let durability = if std::env::var_os("CONTENTION_BATCHED").is_some() {
        "Batched"
    } else {
        "Immediate"
    };
    println!(
        "contention: {cores} cores, {secs} s per shape, {durability} durability, one-key INCR"
    );
    println!(
        "{:<22} {:>10} {:>7} {:>10} {:>8} {:>9} {:>10} {:>10}",
        "shape", "commits/s", "share", "predicted", "vs pred", "min/mean", "p99.9 rd", "worst rd"
    );
    // `--only TEXT`: the writers-alone shape (for the prediction) and those named with TEXT.
    let only = args
        .iter()
        .position(|a| a == "--only")
        .and_then(|i| args.get(i + 1));
    let shapes: [(&str, usize, usize, usize); 6] = [
        ("11 writers", 11, 0, 0),
        ("11 w + 2 readers", 11, 2, 0),
        ("11 w + 5 readers", 11, 5, 0),
        ("11 w + 5 r + 4 burners", 11, 5, 4),
        // Burners alone: what the lock does under oversubscription, without the read path.
        ("11 w + 7 burners", 11, 0, 7),
        ("1 writer + 5 readers", 1, 5, 0),
    ];
    let shapes = shapes
        .into_iter()
        .filter(|s| s.0 == "11 writers" || only.is_none_or(|o| s.0.contains(o.as_str())));
    let mut alone: Option<f64> = None;
    for (name, w, r, k) in shapes {
        let res = run_shape(w, r, k, secs);
        let rate = res.commits as f64 / res.secs;
        if w == 11 && r == 0 && k == 0 {
            alone = Some(rate);
        }
        let runnable = (w + r + k) as f64;
        let share = (cores as f64 * w as f64 / runnable).min(cores as f64);
        // What the writers-alone rate predicts when they get `share` cores instead of all.
        let predicted = alone.map(|a| a * share / (cores as f64).min(11.0));
        let mean = res.per_writer.iter().sum::<u64>() as f64 / w as f64;
        let least = res.per_writer.iter().copied().min().unwrap_or(0) as f64;
        println!(
            "{:<22} {:>10.0} {:>7.2} {:>10} {:>8} {:>9.2} {:>10} {:>10}",
            name,
            rate,
            share,
            predicted.map_or("-".into(), |p| format!("{p:.0}")),
            predicted.map_or("-".into(), |p| format!("{:.2}x", rate / p)),
            if mean > 0.0 { least / mean } else { 0.0 },
            if r > 0 {
                fmt_ns(res.p999_ns)
            } else {
                "-".into()
            },
            if r > 0 {
                fmt_ns(res.worst_ns)
            } else {
                "-".into()
            },
        );
    }
}

fn fmt_ns(ns: u64) -> String {
    if ns >= 1_000_000 {
        format!("{:.1} ms", ns as f64 / 1e6)
    } else {
        format!("{:.1} us", ns as f64 / 1e3)
    }
}

struct ShapeResult {
    commits: u64,
    secs: f64,
    per_writer: Vec<u64>,
    worst_ns: u64,
    p999_ns: u64,
}

fn spawn(role: &str, dir: &std::path::Path, secs: u64) -> Child {
    let exe = std::env::current_exe().expect("own executable");
    Command::new(exe)
        .args(["role", role])
        .arg(dir)
        .arg(secs.to_string())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("spawn a role")
}

fn run_shape(w: usize, r: usize, k: usize, secs: u64) -> ShapeResult {
    // `CONTENTION_DIR`: where the database goes (default the system's temporary directory).
    let dir = match std::env::var_os("CONTENTION_DIR") {
        Some(d) => tempfile::tempdir_in(d),
        None => tempfile::tempdir(),
    }
    .expect("tempdir");
    {
        let db = Db::options().open(dir.path()).expect("create");
        for c in 0..COUNTERS {
            db.set(format!("c{c}").as_bytes(), "0").expect("seed");
        }
    }
    let mut kids: Vec<(String, Child)> = Vec::new();
    for _ in 0..w {
        kids.push(("writer".into(), spawn("writer", dir.path(), secs)));
    }
    for _ in 0..r {
        kids.push(("reader".into(), spawn("reader", dir.path(), secs)));
    }
    for _ in 0..k {
        kids.push(("burner".into(), spawn("burner", dir.path(), secs)));
    }
    let mut outs: Vec<BufReader<std::process::ChildStdout>> = kids
        .iter_mut()
        .map(|(_, c)| BufReader::new(c.stdout.take().expect("stdout")))
        .collect();
    for out in &mut outs {
        let mut line = String::new();
        out.read_line(&mut line).expect("ready");
        assert_eq!(line.trim(), "ready", "a role failed to start: {line}");
    }
    let t0 = Instant::now();
    for (_, c) in &mut kids {
        let stdin = c.stdin.as_mut().expect("stdin");
        stdin.write_all(b"go\n").expect("go");
        stdin.flush().expect("go");
    }
    let mut res = ShapeResult {
        commits: 0,
        secs: 0.0,
        per_writer: Vec::new(),
        worst_ns: 0,
        p999_ns: 0,
    };
    for ((role, _), out) in kids.iter().zip(&mut outs) {
        let mut line = String::new();
        out.read_line(&mut line).expect("result");
        let nums: Vec<u64> = line
            .split_whitespace()
            .filter_map(|s| s.parse().ok())
            .collect();
        match role.as_str() {
            "writer" => {
                let n = nums.first().copied().unwrap_or(0);
                res.commits += n;
                res.per_writer.push(n);
            }
            "reader" => {
                res.worst_ns = res.worst_ns.max(nums.first().copied().unwrap_or(0));
                res.p999_ns = res.p999_ns.max(nums.get(1).copied().unwrap_or(0));
            }
            _ => {}
        }
    }
    res.secs = t0.elapsed().as_secs_f64().max(secs as f64);
    for (_, mut c) in kids {
        let _ = c.wait();
    }
    res
}

/// A child: `writer|reader|burner DIR SECS`.
fn role(args: &[String]) {
    let (role, dir, secs) = (
        args[0].as_str(),
        std::path::PathBuf::from(&args[1]),
        args[2].parse::<u64>().expect("secs"),
    );
    // `CONTENTION_BATCHED=1`: Batched durability, to tell the lock from the shared fsync.
    let durability = if std::env::var_os("CONTENTION_BATCHED").is_some() {
        Durability::Batched {
            max_delay: Duration::from_millis(10),
        }
    } else {
        Durability::Immediate
    };
    let db = (role != "burner").then(|| {
        Db::options()
            .durability(durability)
            .lock_timeout(Some(Duration::from_secs(120)))
            .open(&dir)
            .expect("open")
    });
    println!("ready");
    let mut line = String::new();
    std::io::stdin().read_line(&mut line).expect("go");
    let end = Instant::now() + Duration::from_secs(secs);
    match role {
        "writer" => {
            let db = db.expect("db");
            let mut n = 0u64;
            let mut i = std::process::id() as usize;
            // `CONTENTION_SPLIT=1` (with `CONTENTION_BATCHED=1`): sync after each commit
            // and report the time spent committing and syncing apart, on standard error.
            let split = std::env::var_os("CONTENTION_SPLIT").is_some();
            let (mut in_commit, mut in_sync) = (Duration::ZERO, Duration::ZERO);
            while Instant::now() < end {
                i += 1;
                let t = Instant::now();
                db.incr_by(format!("c{}", i % COUNTERS).as_bytes(), 1)
                    .expect("incr");
                if split {
                    let t2 = Instant::now();
                    db.sync().expect("sync");
                    in_commit += t2 - t;
                    in_sync += t2.elapsed();
                }
                n += 1;
            }
            if split && n > 0 {
                eprintln!(
                    "writer {}: {n} commits, {:.1} us committing, {:.1} us syncing per commit",
                    std::process::id(),
                    in_commit.as_secs_f64() * 1e6 / n as f64,
                    in_sync.as_secs_f64() * 1e6 / n as f64
                );
            }
            println!("{n}");
        }
        "reader" => {
            let db = db.expect("db");
            // Latency histogram in power-of-two-and-a-half buckets of nanoseconds.
            let mut hist = [0u64; 128];
            let mut worst = 0u64;
            let mut reads = 0u64;
            while Instant::now() < end {
                for c in 0..COUNTERS {
                    let t = Instant::now();
                    let v = db.get(format!("c{c}").as_bytes()).expect("get");
                    std::hint::black_box(v);
                    let ns = t.elapsed().as_nanos() as u64;
                    worst = worst.max(ns);
                    hist[bucket(ns)] += 1;
                    reads += 1;
                }
            }
            let want = reads - reads / 1000;
            let mut seen = 0;
            let mut p999 = 0;
            for (b, n) in hist.iter().enumerate() {
                seen += n;
                if seen >= want {
                    p999 = bucket_top(b);
                    break;
                }
            }
            println!("{worst} {p999} {reads}");
        }
        _ => {
            let mut x = 0u64;
            while Instant::now() < end {
                for i in 0..10_000u64 {
                    x = std::hint::black_box(x.wrapping_mul(31).wrapping_add(i));
                }
            }
            println!("0");
        }
    }
}

/// Bucket of `ns`: four buckets per power of two.
fn bucket(ns: u64) -> usize {
    let ns = ns.max(1);
    let lg = 63 - ns.leading_zeros() as usize;
    let frac = if lg >= 2 {
        ((ns >> (lg - 2)) & 3) as usize
    } else {
        0
    };
    (lg * 4 + frac).min(127)
}

/// The largest value in bucket `b` (an upper bound for a percentile).
fn bucket_top(b: usize) -> u64 {
    let (lg, frac) = (b / 4, (b % 4) as u64);
    if lg < 2 {
        return 1 << (lg + 1);
    }
    ((4 + frac + 1) << (lg - 2)) - 1
}
