//! Writers under contention (issue 12 item 3): many writer processes committing one-key INCR
//! transactions (Immediate durability) on a few shared counters, beside reader processes
//! reading in a tight loop and CPU burners, more runnable processes than cores.
//!
//! `cargo bench --bench contention` (10 s per shape) or `-- --quick` (3 s per shape);
//! `-- --secs N` sets the length. The harness re-executes its own binary with a role
//! (`role writer|reader|burner DIR SECS`); each child says `ready`, waits for `go` on its
//! standard input, works for SECS and prints what it did.
//!
//! Per shape (see [`Shape`] for the exact definitions): total commits/s; the writers' fair
//! share of the CPU and the commit rate that share predicts from the writers alone; the CPU
//! the writers actually got; the least-served writer over the mean; the p99.9 and worst read
//! latency; and the **scheduling floor**: the p99.9 and worst latency of a trivial in-process
//! operation (a lookup in a small `HashMap`, timed exactly as a GET is) in the readers and
//! burners of the same run. No read of any engine can beat that floor, so the worst read is
//! also given as a multiple of it.
//!
//! `--detail` adds lines per shape with where the writers' time went and their lock and sync
//! counters (`ziggydb::testing::lock_stats`, which the writers always keep) and context
//! switches.

use std::collections::HashMap;
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
    let detail = args.iter().any(|a| a == "--detail");
    println!(
        "contention: {cores} cores, {secs} s per shape, {durability} durability, one-key INCR"
    );
    println!(
        "{:<22} {:>9} {:>5} {:>6} {:>9} {:>7} {:>8} {:>8} {:>8} {:>8} {:>8} {:>8} {:>7}",
        "shape",
        "commits/s",
        "share",
        "wr cpu",
        "predicted",
        "vs pred",
        "vs bound",
        "min/mean",
        "p99.9 rd",
        "worst rd",
        "floor999",
        "floor max",
        "rd/floor"
    );
    // `--only TEXT`: the writers-alone shapes (for the predictions) and those named with TEXT.
    let only = args
        .iter()
        .position(|a| a == "--only")
        .and_then(|i| args.get(i + 1));
    let shapes: [(&str, usize, usize, usize); 9] = [
        ("11 writers", 11, 0, 0),
        ("1 writer", 1, 0, 0),
        ("11 w + 2 readers", 11, 2, 0),
        ("11 w + 5 readers", 11, 5, 0),
        ("11 w + 5 r + 4 burners", 11, 5, 4),
        // Burners alone: what the lock does under oversubscription, without the read path.
        ("11 w + 7 burners", 11, 0, 7),
        ("11 w + 16 burners", 11, 0, 16),
        // One writer beside the same load: what one process's share commits.
        ("1 writer + 5 readers", 1, 5, 0),
        ("1 writer + 7 burners", 1, 0, 7),
    ];
    let shapes = shapes
        .into_iter()
        .filter(|s| s.2 + s.3 == 0 || only.is_none_or(|o| s.0.contains(o.as_str())));
    let mut alone: HashMap<usize, Alone> = HashMap::new();
    // Commits/s by (writers, readers, burners), for the comparison at the end.
    let mut rates: Vec<((usize, usize, usize), f64)> = Vec::new();
    for (name, w, r, k) in shapes {
        let res = run_shape(w, r, k, secs);
        let shape = Shape::new(cores, (w, r, k), &res, alone.get(&w));
        if r + k == 0 {
            alone.insert(w, Alone::of(&shape, &res));
        }
        rates.push(((w, r, k), shape.rate));
        let floor_worst = res.floor.worst();
        println!(
            "{:<22} {:>9.0} {:>5.2} {:>6.2} {:>9} {:>7} {:>8} {:>8.2} {:>8} {:>8} {:>8} {:>8} {:>7}",
            name,
            shape.rate,
            shape.share,
            shape.writer_cores,
            shape.predicted.map_or("-".into(), |p| format!("{p:.0}")),
            shape
                .predicted
                .map_or("-".into(), |p| format!("{:.2}x", shape.rate / p)),
            shape
                .bound
                .map_or("-".into(), |p| format!("{:.2}x", shape.rate / p)),
            shape.least_over_mean,
            opt(r > 0, || fmt_ns(res.reads.p999())),
            opt(r > 0, || fmt_ns(res.reads.worst())),
            opt(r + k > 0, || fmt_ns(res.floor.p999())),
            opt(r + k > 0, || fmt_ns(floor_worst)),
            opt(r > 0 && floor_worst > 0, || format!(
                "{:.1}x",
                res.reads.worst() as f64 / floor_worst as f64
            )),
        );
        if detail {
            print_stats(&res);
        }
    }
    // Many writers against one beside the same load: below 1, contention between the
    // writers costs more than their serialisation.
    for ((w, r, k), rate) in &rates {
        if *w > 1 && r + k > 0 {
            if let Some((_, one)) = rates.iter().find(|(s, _)| *s == (1, *r, *k)) {
                println!(
                    "{w} writers / 1 writer beside {r} readers and {k} burners: {:.2}x",
                    rate / one
                );
            }
        }
    }
}

/// `f()` if `cond`, else "-".
fn opt(cond: bool, f: impl FnOnce() -> String) -> String {
    if cond {
        f()
    } else {
        "-".into()
    }
}

/// What the writers did alone (no readers, no burners).
struct Alone {
    rate: f64,
    /// CPU seconds per commit, every thread of the writer processes.
    cpu_per_commit: f64,
    /// The part of that spent holding `writer.lock`.
    held_fraction: f64,
}

impl Alone {
    fn of(shape: &Shape, res: &ShapeResult) -> Alone {
        let sum = |k: &str| -> u64 {
            res.writers
                .iter()
                .flat_map(|w| &w.fields)
                .filter(|(n, _)| n == k)
                .map(|(_, v)| v)
                .sum()
        };
        let held_per_commit = sum("held_ns") as f64 / 1e9 / sum("acquires").max(1) as f64;
        Alone {
            rate: shape.rate,
            cpu_per_commit: shape.cpu_per_commit,
            held_fraction: (held_per_commit / shape.cpu_per_commit).clamp(0.01, 1.0),
        }
    }
}

/// The figures of one shape, and what they are measured against.
///
/// - `share`: the writers' fair share of the CPU, in cores: every runnable process gets an
///   equal part of the CPU, so W writers beside R readers and K burners (all of which
///   always want a CPU) are owed `W / (W + R + K)` of what the shape's processes got in all
///   (`cores` on an idle machine; less when other work shares it, which this way does not
///   count against the writers).
/// - `writer_cores`: the CPU the writers actually used (user + system time of the writer
///   processes, every thread, over the run's length), in cores.
/// - `predicted`: the commit rate the writers would reach on their share if each commit
///   cost the CPU it costs when the same writers run alone: `share / cpu_per_commit_alone`,
///   but never more than the writers-alone rate (writers that are not CPU-bound alone, on a
///   disk, are not made faster by more CPU). "vs pred" is the measured rate over it; the
///   target "within 2× of the fair share" is vs pred ≥ 0.5.
/// - `bound`: the same prediction for a group serialised by one lock. A writer waiting for
///   the lock sleeps and is owed nothing; at most `1 / f` of them have work that is not
///   waiting, where `f` is the part of a commit's CPU spent holding the lock (measured
///   alone), so the group is owed at most `min(W, 1/f)` processes' parts, and
///   `bound = avail × m / (m + R + K) / cpu_per_commit_alone` with `m = min(W, 1/f)`. This
///   is a model, not a law (it ignores the herd of waiters each release wakes), but it says
///   how far any lock that serialises whole transactions can get.
struct Shape {
    rate: f64,
    share: f64,
    writer_cores: f64,
    cpu_per_commit: f64,
    predicted: Option<f64>,
    bound: Option<f64>,
    least_over_mean: f64,
}

impl Shape {
    fn new(
        cores: usize,
        (w, r, k): (usize, usize, usize),
        res: &ShapeResult,
        alone: Option<&Alone>,
    ) -> Shape {
        let rate = res.commits as f64 / res.secs;
        let avail = (res.cpu_secs / res.secs).min(cores as f64);
        let share = avail * w as f64 / (w + r + k) as f64;
        let writer_cpu: f64 = res.writers.iter().map(|x| x.cpu_secs).sum();
        let mean = res.commits as f64 / w as f64;
        let least = res.writers.iter().map(|x| x.commits).min().unwrap_or(0) as f64;
        let others = (r + k) as f64;
        Shape {
            rate,
            share,
            writer_cores: writer_cpu / res.secs,
            cpu_per_commit: writer_cpu / res.commits.max(1) as f64,
            predicted: alone.map(|a| (share / a.cpu_per_commit).min(a.rate)),
            bound: alone.map(|a| {
                let m = (w as f64).min(1.0 / a.held_fraction);
                (avail * m / (m + others) / a.cpu_per_commit).min(a.rate)
            }),
            least_over_mean: if mean > 0.0 { least / mean } else { 0.0 },
        }
    }
}

/// The writers' lock and sync counters of one shape, summed over them.
fn print_stats(res: &ShapeResult) {
    let mut sum: HashMap<String, u64> = HashMap::new();
    for w in &res.writers {
        for (k, v) in &w.fields {
            let e = sum.entry(k.clone()).or_insert(0);
            if k.ends_with("_max") {
                *e = (*e).max(*v);
            } else {
                *e += *v;
            }
        }
    }
    let g = |k: &str| sum.get(k).copied().unwrap_or(0);
    let per = |ns: &str, n: &str| fmt_ns(g(ns) / g(n).max(1));
    let commits = res.commits.max(1) as f64;
    let writer_time = res.writers.len() as f64 * res.secs * 1e9;
    let pct = |k: &str| 100.0 * g(k) as f64 / writer_time;
    let cpu: f64 = res.writers.iter().map(|x| x.cpu_secs).sum::<f64>() * 1e9;
    println!(
        "    writers' time: {:.0}% on a CPU, {:.0}% runnable waiting for one, {:.0}% waiting \
         for writer.lock ({} waits), {:.0}% asleep on another's fsync; the shape's processes \
         got {:.2} cores",
        100.0 * cpu / writer_time,
        pct("run_delay_ns"),
        pct("wait_ns"),
        g("acquires") - g("fast"),
        pct("sync_sleep_ns"),
        res.cpu_secs / res.secs,
    );
    // The least-served writer: starved of the lock, or of a CPU?
    if let Some(least) = res.writers.iter().min_by_key(|x| x.commits) {
        let n = res.writers.len() as f64;
        let mean_commits = res.writers.iter().map(|x| x.commits).sum::<u64>() as f64 / n;
        let mean_cpu = res.writers.iter().map(|x| x.cpu_secs).sum::<f64>() / n;
        let own = |k: &str| {
            let v = least
                .fields
                .iter()
                .find(|(f, _)| f == k)
                .map_or(0, |(_, v)| *v);
            100.0 * v as f64 / (res.secs * 1e9)
        };
        println!(
            "    least served: {} commits ({:.2} of the mean), {:.2} of the mean writer's CPU; \
             {:.0}% of its time waiting for writer.lock, {:.0}% runnable waiting for a CPU",
            least.commits,
            least.commits as f64 / mean_commits.max(1.0),
            least.cpu_secs / mean_cpu.max(1e-9),
            own("wait_ns"),
            own("run_delay_ns"),
        );
    }
    println!(
        "    lock: {} taken, {:.1}% without waiting; wait mean {} max {}; waiter-to-thread \
         hand-over mean {} max {}; held mean {} max {}; hand-off: {} claims, {} sleeps on a \
         claim, {} grants given up to one, {} looks left to an earlier ticket",
        g("acquires"),
        100.0 * g("fast") as f64 / g("acquires").max(1) as f64,
        fmt_ns(g("wait_ns") / (g("acquires") - g("fast")).max(1)),
        fmt_ns(g("wait_max")),
        per("handoff_ns", "acquires"),
        fmt_ns(g("handoff_max")),
        per("held_ns", "acquires"),
        fmt_ns(g("held_max")),
        g("claims"),
        g("claim_waits"),
        g("yields"),
        g("defers"),
    );
    println!(
        "    sync: {} fsyncs (mean {} max {}), {} sleeps on another's (mean {} max {}); \
         per commit {:.2} voluntary and {:.2} involuntary context switches, {} CPU",
        g("syncs"),
        per("sync_ns", "syncs"),
        fmt_ns(g("sync_max")),
        g("sync_sleeps"),
        per("sync_sleep_ns", "sync_sleeps"),
        fmt_ns(g("sync_sleep_max")),
        g("nvcsw") as f64 / commits,
        g("nivcsw") as f64 / commits,
        fmt_ns((res.writers.iter().map(|x| x.cpu_secs).sum::<f64>() / commits * 1e9) as u64),
    );
}

fn fmt_ns(ns: u64) -> String {
    if ns >= 1_000_000 {
        format!("{:.1} ms", ns as f64 / 1e6)
    } else {
        format!("{:.1} us", ns as f64 / 1e3)
    }
}

/// What one writer process reported.
struct WriterResult {
    commits: u64,
    cpu_secs: f64,
    /// Its lock and sync counters and context switches, by name.
    fields: Vec<(String, u64)>,
}

struct ShapeResult {
    commits: u64,
    secs: f64,
    /// CPU seconds used by every process of the shape.
    cpu_secs: f64,
    writers: Vec<WriterResult>,
    /// Every reader's GETs.
    reads: Latencies,
    /// The trivial operation, in the readers and burners.
    floor: Latencies,
}

/// A latency histogram: four buckets per power of two of nanoseconds.
#[derive(Clone)]
struct Latencies {
    hist: Vec<u64>,
    worst: u64,
}

impl Latencies {
    fn new() -> Self {
        Latencies {
            hist: vec![0; 128],
            worst: 0,
        }
    }
    fn add(&mut self, ns: u64) {
        self.worst = self.worst.max(ns);
        self.hist[bucket(ns)] += 1;
    }
    fn merge(&mut self, other: &Latencies) {
        self.worst = self.worst.max(other.worst);
        for (a, b) in self.hist.iter_mut().zip(&other.hist) {
            *a += b;
        }
    }
    fn worst(&self) -> u64 {
        self.worst
    }
    /// The 99.9th percentile (the top of its bucket).
    fn p999(&self) -> u64 {
        let n: u64 = self.hist.iter().sum();
        let want = n - n / 1000;
        let mut seen = 0;
        for (b, c) in self.hist.iter().enumerate() {
            seen += c;
            if seen >= want && seen > 0 {
                return bucket_top(b);
            }
        }
        0
    }
    /// "WORST B:N B:N ...": the worst and the non-empty buckets.
    fn encode(&self) -> String {
        let mut s = self.worst.to_string();
        for (b, c) in self.hist.iter().enumerate().filter(|(_, c)| **c > 0) {
            s.push_str(&format!(" {b}:{c}"));
        }
        s
    }
    fn decode(text: &str) -> Latencies {
        let mut l = Latencies::new();
        let mut parts = text.split_whitespace();
        l.worst = parts.next().and_then(|w| w.parse().ok()).unwrap_or(0);
        for p in parts {
            if let Some((b, c)) = p.split_once(':') {
                if let (Ok(b), Ok(c)) = (b.parse::<usize>(), c.parse::<u64>()) {
                    if b < l.hist.len() {
                        l.hist[b] += c;
                    }
                }
            }
        }
        l
    }
}

/// This process's CPU time (user + system, every thread) in seconds, and its voluntary and
/// involuntary context switches.
fn own_usage() -> (f64, u64, u64) {
    let mut ru = std::mem::MaybeUninit::<libc::rusage>::zeroed();
    // SAFETY: `ru` is a valid, writable rusage for the call to fill.
    let ok = unsafe { libc::getrusage(libc::RUSAGE_SELF, ru.as_mut_ptr()) } == 0;
    if !ok {
        return (0.0, 0, 0);
    }
    // SAFETY: getrusage succeeded, so it filled `ru`.
    let ru = unsafe { ru.assume_init() };
    let secs = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    (
        secs(ru.ru_utime) + secs(ru.ru_stime),
        ru.ru_nvcsw as u64,
        ru.ru_nivcsw as u64,
    )
}

fn spawn(role: &str, dir: &std::path::Path, secs: u64) -> Child {
    let exe = std::env::current_exe().expect("own executable");
    Command::new(exe)
        .args(["role", role])
        .arg(dir)
        .arg(secs.to_string())
        // The writers count lock waits and syncs (a few clock reads per commit).
        .env("ZIGGY_LOCK_STATS", "1")
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
        cpu_secs: 0.0,
        writers: Vec::new(),
        reads: Latencies::new(),
        floor: Latencies::new(),
    };
    // Each child's result: lines "KEY VALUE..." ended by "end".
    for ((role, _), out) in kids.iter().zip(&mut outs) {
        let mut fields: HashMap<String, String> = HashMap::new();
        loop {
            let mut line = String::new();
            if out.read_line(&mut line).expect("result") == 0 || line.trim() == "end" {
                break;
            }
            let (k, v) = line.trim().split_once(' ').unwrap_or((line.trim(), ""));
            fields.insert(k.to_string(), v.to_string());
        }
        let num = |k: &str| {
            fields
                .get(k)
                .and_then(|v| v.parse::<u64>().ok())
                .unwrap_or(0)
        };
        res.cpu_secs += num("cpu_ns") as f64 / 1e9;
        if let Some(floor) = fields.get("floor") {
            res.floor.merge(&Latencies::decode(floor));
        }
        match role.as_str() {
            "writer" => {
                let n = num("commits");
                res.commits += n;
                res.writers.push(WriterResult {
                    commits: n,
                    cpu_secs: num("cpu_ns") as f64 / 1e9,
                    fields: fields
                        .iter()
                        .filter_map(|(k, v)| Some((k.clone(), v.parse().ok()?)))
                        .collect(),
                });
            }
            "reader" => {
                if let Some(reads) = fields.get("reads") {
                    res.reads.merge(&Latencies::decode(reads));
                }
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
    // The scheduling floor's operation: a lookup in a small map, timed as a GET is.
    let floor_map: HashMap<Vec<u8>, Vec<u8>> = (0..COUNTERS)
        .map(|c| (format!("c{c}").into_bytes(), b"12345".to_vec()))
        .collect();
    let mut floor = Latencies::new();
    let mut timed_floor = |c: usize| {
        let key = format!("c{c}");
        let t = Instant::now();
        let v = floor_map.get(key.as_bytes()).cloned();
        std::hint::black_box(v);
        floor.add(t.elapsed().as_nanos() as u64);
    };
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
            let (_, nvcsw, nivcsw) = own_usage();
            println!("commits {n}");
            // The committing thread's time waiting for a CPU while runnable.
            let sched = std::fs::read_to_string("/proc/thread-self/schedstat").unwrap_or_default();
            let delay = sched.split_whitespace().nth(1).unwrap_or("0");
            println!("run_delay_ns {delay}");
            println!("nvcsw {nvcsw}");
            println!("nivcsw {nivcsw}");
            for (k, v) in ziggydb::testing::lock_stats() {
                println!("{k} {v}");
            }
        }
        "reader" => {
            let db = db.expect("db");
            let mut reads = Latencies::new();
            while Instant::now() < end {
                for c in 0..COUNTERS {
                    let key = format!("c{c}");
                    let t = Instant::now();
                    let v = db.get(key.as_bytes()).expect("get");
                    std::hint::black_box(v);
                    reads.add(t.elapsed().as_nanos() as u64);
                    // The floor, in the same process and loop.
                    timed_floor(c);
                }
            }
            println!("reads {}", reads.encode());
        }
        _ => {
            let mut x = 0u64;
            let mut c = 0;
            while Instant::now() < end {
                for i in 0..10_000u64 {
                    x = std::hint::black_box(x.wrapping_mul(31).wrapping_add(i));
                }
                c += 1;
                timed_floor(c % COUNTERS);
            }
        }
    }
    println!("floor {}", floor.encode());
    println!("cpu_ns {}", (own_usage().0 * 1e9) as u64);
    println!("end");
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
