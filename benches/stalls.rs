//! Readers while a writer is stopped at random moments (issue 12 item 1, format-spec.md §8).
//!
//! The harness re-executes its own binary with roles: one `writer` commits transactions of
//! `--batch` keys in a loop (20,000 keys, then 1 key, in two runs), two `reader` processes
//! time every GET of a random key, and the harness itself stops the writer with SIGSTOP at
//! random moments for a random 1–50 ms each, counting the stops that fell inside a publish
//! (`seq`, word 8 of `ziggy.shm`, odd). Each reader reports its latency percentiles and how
//! many reads failed, and the scheduling floor: a lookup in a small map, timed as a GET is and
//! in the same loop, which no read of any engine can beat beside the same load.
//!
//! `cargo bench --bench stalls` (20 s per run), `cargo bench --bench stalls -- --quick` (2 s,
//! fewer keys). `--secs N`, `--keys N` and `--batch N` (one run) override.
// Keys are `impl AsRef<[u8]>`: callers written when they were `&[u8]` pass `&Vec<u8>`.
#![allow(clippy::needless_borrows_for_generic_args)]

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use ziggydb::{Db, Durability};

type Res<T> = Result<T, Box<dyn std::error::Error>>;

/// A small xorshift generator (seeded per process).
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Rng {
        Rng(seed | 1)
    }
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

fn key(i: u64) -> Vec<u8> {
    format!("key:{i:08}").into_bytes()
}

/// Latencies in buckets of 1/16 of a power of two (about 6 % wide).
struct Histogram {
    counts: Vec<u64>,
    max: u64,
    n: u64,
}

impl Histogram {
    fn new() -> Self {
        Histogram {
            counts: vec![0; 64 * 16],
            max: 0,
            n: 0,
        }
    }
    fn bucket(ns: u64) -> usize {
        if ns < 16 {
            return ns as usize;
        }
        let e = 63 - u64::from(ns.leading_zeros());
        let m = (ns >> (e - 4)) & 15;
        (e as usize) * 16 + m as usize
    }
    /// The largest latency that falls in bucket `b`.
    fn upper(b: usize) -> u64 {
        if b < 16 {
            return b as u64;
        }
        let (e, m) = ((b / 16) as u64, (b % 16) as u64);
        ((16 + m + 1) << (e - 4)) - 1
    }
    fn add(&mut self, ns: u64) {
        self.counts[Self::bucket(ns)] += 1;
        self.max = self.max.max(ns);
        self.n += 1;
    }
    /// How many latencies exceeded `ns` (to the bucket's precision).
    fn above(&self, ns: u64) -> u64 {
        self.counts[Self::bucket(ns) + 1..].iter().sum()
    }
    fn quantile(&self, q: f64) -> u64 {
        let want = ((self.n as f64) * q).ceil() as u64;
        let mut seen = 0;
        for (b, &c) in self.counts.iter().enumerate() {
            seen += c;
            if seen >= want.max(1) {
                return Self::upper(b).min(self.max);
            }
        }
        self.max
    }
}

fn open(dir: &Path) -> Res<Db> {
    Ok(Db::options()
        .durability(Durability::Batched {
            max_delay: Duration::from_millis(10),
        })
        .lock_timeout(Some(Duration::from_secs(60)))
        .open(dir)?)
}

/// Role `writer DIR KEYS BATCH`: commits BATCH keys per transaction until stdin closes.
fn writer(args: &[String]) -> Res<()> {
    let dir = PathBuf::from(&args[0]);
    let keys: u64 = args[1].parse()?;
    let batch: u64 = args[2].parse()?;
    let db = open(&dir)?;
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let s2 = std::sync::Arc::clone(&stop);
    std::thread::spawn(move || {
        let mut line = String::new();
        let _ = std::io::stdin().lock().read_line(&mut line);
        s2.store(true, std::sync::atomic::Ordering::Relaxed);
    });
    println!("ready");
    std::io::stdout().flush()?;
    let mut rng = Rng::new(u64::from(std::process::id()));
    let mut round = 0u64;
    let mut commits = 0u64;
    while !stop.load(std::sync::atomic::Ordering::Relaxed) {
        round += 1;
        let first = rng.below(keys);
        db.transaction(|tx| {
            for j in 0..batch {
                tx.set(
                    &key((first + j) % keys),
                    format!("v{round}-{j}").into_bytes(),
                )?;
            }
            Ok(())
        })?;
        commits += 1;
    }
    println!("done {commits}");
    Ok(())
}

/// Role `reader DIR KEYS SECS`: GETs random keys for SECS seconds, timing each.
fn reader(args: &[String]) -> Res<()> {
    let dir = PathBuf::from(&args[0]);
    let keys: u64 = args[1].parse()?;
    let secs: f64 = args[2].parse()?;
    let db = open(&dir)?;
    // The sequence word, to time apart the GETs that start during a publish.
    let shm = std::fs::File::open(dir.join("ziggy.shm"))?;
    // SAFETY: a read-only shared mapping of the whole file; other processes change it only
    // with atomic stores, and this process never writes through it.
    #[allow(unsafe_code)]
    let map = unsafe { memmap2::Mmap::map(&shm)? };
    if map.len() < 72 {
        return Err("ziggy.shm too short".into());
    }
    // SAFETY: the map is page aligned and at least 72 bytes long, so bytes 64..72 are an
    // aligned u64 that lives as long as `map`; only atomic loads are made through it.
    #[allow(unsafe_code)]
    let seq = unsafe { &*map.as_ptr().add(64).cast::<std::sync::atomic::AtomicU64>() };
    println!("ready");
    std::io::stdout().flush()?;
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line)?;
    let mut rng = Rng::new(u64::from(std::process::id()) * 7919);
    let mut h = Histogram::new();
    let mut during = Histogram::new();
    // The scheduling floor: a lookup in a small map, timed as a GET is, in the same loop.
    // No read of any engine can be faster than this beside the same load.
    let floor_map: std::collections::HashMap<Vec<u8>, Vec<u8>> =
        (0..16).map(|i| (key(i), b"value".to_vec())).collect();
    let mut floor = Histogram::new();
    let (mut errors, mut first_error) = (0u64, String::new());
    let end = Instant::now() + Duration::from_secs_f64(secs);
    while Instant::now() < end {
        let k = key(rng.below(keys));
        let publishing = seq.load(std::sync::atomic::Ordering::Relaxed) & 1 == 1;
        let t0 = Instant::now();
        let r = db.get(&k);
        let ns = t0.elapsed().as_nanos() as u64;
        let fk = key(rng.below(16));
        let t1 = Instant::now();
        let v = floor_map.get(&fk).cloned();
        std::hint::black_box(v);
        floor.add(t1.elapsed().as_nanos() as u64);
        match r {
            Ok(Some(_)) => {
                h.add(ns);
                if publishing {
                    during.add(ns);
                }
            }
            Ok(None) => {
                errors += 1;
                first_error = format!("key {} missing", String::from_utf8_lossy(&k));
            }
            Err(e) => {
                errors += 1;
                if first_error.is_empty() {
                    first_error = e.to_string();
                }
            }
        }
    }
    println!(
        "lat {} {} {} {} {} {} {} {} {} {} {} {} {}",
        during.n,
        during.quantile(0.5),
        during.quantile(0.999),
        during.max,
        h.n,
        h.quantile(0.5),
        h.quantile(0.99),
        h.quantile(0.999),
        h.max,
        h.above(1_000_000),
        h.above(10_000_000),
        errors,
        first_error.replace('\n', " ")
    );
    println!("floor {} {} {}", floor.n, floor.quantile(0.999), floor.max);
    Ok(())
}

fn spawn(role: &str, args: &[String]) -> Res<(Child, BufReader<std::process::ChildStdout>)> {
    let mut c = Command::new(std::env::current_exe()?)
        .arg(role)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()?;
    let mut out = BufReader::new(c.stdout.take().ok_or("no stdout")?);
    let mut line = String::new();
    out.read_line(&mut line)?;
    if line.trim() != "ready" {
        return Err(format!("{role} did not start: {line}").into());
    }
    Ok((c, out))
}

fn send_signal(pid: u32, sig: libc::c_int) {
    // SAFETY: kill(2) takes plain integers and touches no memory of this process.
    #[allow(unsafe_code)]
    unsafe {
        libc::kill(pid as libc::pid_t, sig);
    }
}

fn shm_seq(dir: &Path) -> u64 {
    std::fs::read(dir.join("ziggy.shm"))
        .ok()
        .and_then(|b| {
            b.get(64..72)
                .map(|w| u64::from_le_bytes(w.try_into().unwrap_or([0; 8])))
        })
        .unwrap_or(0)
}

/// One run: writer of `batch`-key commits, two timed readers, random stops for `secs`.
fn run(keys: u64, batch: u64, secs: f64) -> Res<()> {
    let tmp = tempfile::tempdir()?;
    let dir = tmp.path().join("db");
    {
        let db = open(&dir)?;
        let mut start = 0;
        while start < keys {
            let end = (start + 5000).min(keys);
            db.transaction(|tx| {
                for i in start..end {
                    tx.set(&key(i), b"initial".to_vec())?;
                }
                Ok(())
            })?;
            start = end;
        }
        db.sync()?;
    }
    let d = dir.display().to_string();
    let (mut w, mut wout) = spawn("writer", &[d.clone(), keys.to_string(), batch.to_string()])?;
    let mut readers = Vec::new();
    for _ in 0..2 {
        readers.push(spawn(
            "reader",
            &[d.clone(), keys.to_string(), secs.to_string()],
        )?);
    }
    for (r, _) in &mut readers {
        writeln!(r.stdin.as_mut().ok_or("stdin")?, "go")?;
    }
    let mut rng = Rng::new(0x5eed ^ batch);
    let (mut stops, mut odd, mut stopped) = (0u64, 0u64, Duration::ZERO);
    let end = Instant::now() + Duration::from_secs_f64(secs);
    while Instant::now() < end {
        std::thread::sleep(Duration::from_micros(rng.below(20_000)));
        send_signal(w.id(), libc::SIGSTOP);
        let t0 = Instant::now();
        // Wait until it really stopped, then look at the sequence word.
        while std::fs::read_to_string(format!("/proc/{}/stat", w.id()))
            .ok()
            .and_then(|s| s.rsplit_once(") ").and_then(|(_, r)| r.chars().next()))
            != Some('T')
            && t0.elapsed() < Duration::from_secs(1)
        {
            std::hint::spin_loop();
        }
        stops += 1;
        if shm_seq(&dir) & 1 == 1 {
            odd += 1;
        }
        std::thread::sleep(Duration::from_micros(1000 + rng.below(49_000)));
        stopped += t0.elapsed();
        send_signal(w.id(), libc::SIGCONT);
    }
    drop(w.stdin.take());
    let mut line = String::new();
    wout.read_line(&mut line)?;
    let status = w.wait()?;
    if !status.success() {
        println!("the writer failed: {status}");
    }
    let commits = line.trim().strip_prefix("done ").unwrap_or("?").to_string();
    println!(
        "batch {batch}: {commits} commits of {batch} keys over {keys} keys in {secs} s; \
         {stops} stops ({odd} inside a publish, seq odd), writer stopped {:.0} % of the time",
        100.0 * stopped.as_secs_f64() / secs
    );
    for (i, (mut r, mut out)) in readers.into_iter().enumerate() {
        let mut line = String::new();
        out.read_line(&mut line)?;
        r.wait()?;
        let f: Vec<&str> = line.split_whitespace().collect();
        if f.first() != Some(&"lat") || f.len() < 13 {
            return Err(format!("reader {i} said: {line}").into());
        }
        let us = |s: &str| s.parse::<f64>().unwrap_or(f64::NAN) / 1000.0;
        let f = &f[4..];
        println!(
            "  reader {i}: {} GETs, p50 {:.1} µs, p99 {:.1} µs, p99.9 {:.1} µs, max {:.1} µs, \
             {} over 1 ms, {} over 10 ms, {} failed {}",
            f[1],
            us(f[2]),
            us(f[3]),
            us(f[4]),
            us(f[5]),
            f[6],
            f[7],
            f[8],
            f[9..].join(" ")
        );
        let d: Vec<&str> = line.split_whitespace().skip(1).take(4).collect();
        println!(
            "    of which {} began during a publish: p50 {:.1} µs, p99.9 {:.1} µs, max {:.1} µs",
            d[0],
            us(d[1]),
            us(d[2]),
            us(d[3])
        );
        let mut fl = String::new();
        out.read_line(&mut fl)?;
        let fl: Vec<&str> = fl.split_whitespace().collect();
        if fl.first() == Some(&"floor") && fl.len() >= 4 {
            println!(
                "    scheduling floor (a map lookup timed the same way, in the same loop): \
                 p99.9 {:.1} µs, max {:.1} µs; worst GET / worst lookup = {:.1}x",
                us(fl[2]),
                us(fl[3]),
                us(f[5]) / us(fl[3])
            );
        }
    }
    Ok(())
}

fn main() -> Res<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("writer") => return writer(&args[1..]),
        Some("reader") => return reader(&args[1..]),
        _ => {}
    }
    // nextest lists every target's tests (`--list`): a bench has none to list, and must
    // not run for minutes when asked.
    if args.iter().any(|a| a == "--list") {
        return Ok(());
    }
    let quick = args.iter().any(|a| a == "--quick" || a == "--test");
    let opt = |name: &str| -> Option<u64> {
        let i = args.iter().position(|a| a == name)?;
        args.get(i + 1)?.parse().ok()
    };
    let secs = opt("--secs").map_or(if quick { 2.0 } else { 20.0 }, |s| s as f64);
    let keys = opt("--keys").unwrap_or(if quick { 20_000 } else { 100_000 });
    let batches = match opt("--batch") {
        Some(b) => vec![b],
        None => vec![20_000.min(keys), 1],
    };
    for batch in batches {
        run(keys, batch, secs)?;
    }
    Ok(())
}
