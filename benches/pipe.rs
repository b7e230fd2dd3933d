//! A script of `SET` lines piped into `ziggy` (`ziggy -d DIR < script.txt`): with the default
//! durability, where the commands read together share one fsync before their replies print,
//! against `--durability immediate` (an fsync per command, what a script cost before), and
//! against `redis-cli` into a `redis-server` with `appendfsync everysec` when both are
//! installed.
//!
//! `cargo bench --bench pipe` (5,000 lines, 5 runs each); `-- --quick` (1,000 lines, one
//! run). Prints the median and range of the wall time of each.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn main() {
    let args: Vec<String> = std::env::args().collect();
    // `cargo nextest list` runs every target with `--list`: nothing to list here.
    if args.iter().any(|a| a == "--list") {
        return;
    }
    let quick = args.iter().any(|a| a == "--quick");
    let (lines, runs) = if quick { (1_000, 1) } else { (5_000, 5) };
    let tmp = tempfile::tempdir().expect("a temporary directory");
    let script = tmp.path().join("script.txt");
    let mut text = String::new();
    for i in 0..lines {
        text.push_str(&format!("SET key:{i} value-{i}\n"));
    }
    std::fs::write(&script, text).expect("write the script");
    println!("{lines} SET lines piped in, wall time of {runs} run(s): median [min, max]");
    for (name, args) in [
        ("ziggy (default: shared fsync)", &[][..]),
        (
            "ziggy --durability immediate",
            &["--durability", "immediate"][..],
        ),
    ] {
        let times: Vec<Duration> = (0..runs)
            .map(|run| {
                let dir = tmp.path().join(format!("db-{}-{run}", args.len()));
                let start = Instant::now();
                let out = Command::new(env!("CARGO_BIN_EXE_ziggy"))
                    .arg("-d")
                    .arg(&dir)
                    .args(args)
                    .env_remove("ZIGGY_DIR")
                    .stdin(std::fs::File::open(&script).expect("the script"))
                    .stdout(Stdio::null())
                    .status()
                    .expect("run ziggy");
                assert!(out.success(), "{name} failed");
                start.elapsed()
            })
            .collect();
        report(name, times);
    }
    if let Some(times) = redis(&script, tmp.path(), runs) {
        report("redis-cli into redis-server (appendfsync everysec)", times);
    } else {
        println!("redis-server or redis-cli not found: no Redis figure");
    }
}

fn report(name: &str, mut times: Vec<Duration>) {
    times.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    println!(
        "{name:<52} {:>8.1} ms [{:.1}, {:.1}]",
        ms(times[times.len() / 2]),
        ms(times[0]),
        ms(times[times.len() - 1])
    );
}

/// The same script through `redis-cli` into a fresh `redis-server` with an append-only file
/// synced every second; `None` if either is missing.
fn redis(script: &Path, tmp: &Path, runs: usize) -> Option<Vec<Duration>> {
    let port = 20_000 + (std::process::id() % 20_000) as u16;
    let data = tmp.join("redis");
    std::fs::create_dir_all(&data).ok()?;
    let mut server = Command::new("redis-server")
        .args([
            "--port",
            &port.to_string(),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
        ])
        .args(["--appendonly", "yes", "--appendfsync", "everysec"])
        .arg("--dir")
        .arg(&data)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .ok()?;
    let cli = |extra: &[&str]| {
        let mut c = Command::new("redis-cli");
        c.args(["-p", &port.to_string()]).args(extra);
        c
    };
    let deadline = Instant::now() + Duration::from_secs(10);
    while !cli(&["PING"])
        .output()
        .is_ok_and(|o| o.stdout.starts_with(b"PONG"))
    {
        if Instant::now() > deadline {
            let _ = server.kill();
            let _ = server.wait();
            return None;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let times = (0..runs)
        .map(|_| {
            let _ = cli(&["FLUSHALL"]).output();
            let start = Instant::now();
            let ok = cli(&[])
                .stdin(std::fs::File::open(script).ok()?)
                .stdout(Stdio::null())
                .status()
                .ok()?
                .success();
            ok.then(|| start.elapsed())
        })
        .collect();
    let _ = server.kill();
    let _ = server.wait();
    times
}
