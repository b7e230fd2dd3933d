//! Attaching: how long an open takes, and what it waits for (format-spec.md §6.1, §6.5).
//!
//! `cargo bench --bench attach` (add `-- --quick` for a run of seconds) prints:
//! - warm opens in one process (open, one GET, close), alone and beside another attached
//!   process;
//! - `ziggy GET` processes run one after another;
//! - an open (2 s lock timeout) beside a process stalled while it holds `ziggy.lock`, as a
//!   process stopped or traced during its own open holds it;
//! - a cold open that rebuilds the index of N keys (after a crash and a reboot), and what
//!   opens started 30 ms and 300 ms into that rebuild (200 ms lock timeout) get, and when:
//!   the open, a GET of a key written before the index's last checkpoint and one of a key
//!   written after it, and an MGET of both (format-spec.md §10.4);
//! - the same with the index file removed (a cold open that rebuilds without a usable index):
//!   there the opens answer at once and the reads wait for the rebuild.
//!
//! Worker processes are this binary run again with a role (`hold-lock`, `hold-open`,
//! `open`, `load`).

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use ziggydb::Db;

type Res<T = ()> = Result<T, Box<dyn std::error::Error>>;

fn main() -> Res {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("hold-lock") => return hold_lock(Path::new(&args[1])),
        Some("hold-open") => return hold_open(Path::new(&args[1])),
        Some("open") => return open_once(Path::new(&args[1]), args[2].parse()?, args[3].parse()?),
        Some("load") => return load(Path::new(&args[1]), args[2].parse()?),
        _ => {}
    }
    // nextest lists every target's tests (`--list`): a bench has none to list, and must
    // not run for minutes when asked.
    if args.iter().any(|a| a == "--list") {
        return Ok(());
    }
    let quick = args.iter().any(|a| a == "--quick" || a == "--test");
    let (opens, procs, keys) = if quick {
        (100, 20, 100_000)
    } else {
        (1_000, 200, 1_000_000)
    };
    let tmp = std::env::temp_dir().join(format!("ziggy-bench-attach-{}", std::process::id()));
    std::fs::create_dir_all(&tmp)?;
    let r = run(&tmp, opens, procs, keys);
    let _ = std::fs::remove_dir_all(&tmp);
    r
}

fn run(tmp: &Path, opens: usize, procs: usize, keys: u64) -> Res {
    let dir = tmp.join("warm");
    Db::open(&dir)?.set(b"a", "1")?;

    let per = warm_opens(&dir, opens)?;
    println!("warm open+GET+close, alone, {opens} in one process: {per:.1} µs each");
    let mut other = worker(&["hold-open", path(&dir)])?;
    expect(&mut other, "ready")?;
    let per = warm_opens(&dir, opens)?;
    println!(
        "warm open+GET+close, beside an attached process, {opens} in one process: {per:.1} µs each"
    );
    drop(other.stdin.take());
    other.wait()?;

    let ziggy = env!("CARGO_BIN_EXE_ziggy");
    let t = Instant::now();
    for _ in 0..procs {
        let out = Command::new(ziggy)
            .arg("-d")
            .arg(&dir)
            .args(["GET", "a"])
            .output()?;
        if !out.status.success() {
            return Err(String::from_utf8_lossy(&out.stderr).into_owned().into());
        }
    }
    let per = t.elapsed().as_secs_f64() * 1e3 / procs as f64;
    println!("`ziggy GET` processes, {procs} one after another: {per:.2} ms each");

    let mut stalled = worker(&["hold-lock", path(&dir)])?;
    expect(&mut stalled, "ready")?;
    let t = Instant::now();
    let got = Db::options()
        .lock_timeout(Some(Duration::from_secs(2)))
        .open(&dir)
        .and_then(|db| db.get(b"a").map(|v| v.is_some()));
    println!(
        "open+GET beside a process stalled holding ziggy.lock (2 s timeout): {} after {:.2} ms",
        match got {
            Ok(true) => "answered".to_string(),
            Ok(false) => "key missing".to_string(),
            Err(e) => format!("failed ({e})"),
        },
        t.elapsed().as_secs_f64() * 1e3
    );
    drop(stalled.stdin.take());
    stalled.wait()?;

    let cold = tmp.join("cold");
    let status = worker(&["load", path(&cold), &keys.to_string()])?.wait()?;
    if !status.success() {
        return Err("the load worker failed".into());
    }
    // As after a reboot: the shared state is gone, and the index was never checkpointed.
    std::fs::remove_file(cold.join("ziggy.shm"))?;
    let first = worker(&["open", path(&cold), "60000", &(keys - 1).to_string()])?;
    // Let it take ziggy.lock and start the rebuild.
    std::thread::sleep(Duration::from_millis(30));
    let second = worker(&["open", path(&cold), "200", &(keys - 1).to_string()])?;
    std::thread::sleep(Duration::from_millis(270));
    let third = worker(&["open", path(&cold), "200", &(keys - 1).to_string()])?;
    let first = first_line(first)?;
    let second = first_line(second)?;
    let third = first_line(third)?;
    println!("cold open rebuilding {keys} keys: {first}");
    println!("an open started 30 ms into that rebuild (200 ms lock timeout): {second}");
    println!("an open started 300 ms into that rebuild (200 ms lock timeout): {third}");

    // Without its index file: nothing proves a read before the rebuild ends.
    std::fs::remove_file(cold.join("ziggy.shm"))?;
    for e in std::fs::read_dir(&cold)? {
        let p = e?.path();
        if p.extension().is_some_and(|x| x == "zdx") {
            std::fs::remove_file(p)?;
        }
    }
    let first = worker(&["open", path(&cold), "60000", &(keys - 1).to_string()])?;
    std::thread::sleep(Duration::from_millis(30));
    let second = worker(&["open", path(&cold), "200", &(keys - 1).to_string()])?;
    std::thread::sleep(Duration::from_millis(270));
    let third = worker(&["open", path(&cold), "200", &(keys - 1).to_string()])?;
    let first = first_line(first)?;
    let second = first_line(second)?;
    let third = first_line(third)?;
    println!("cold open rebuilding {keys} keys without an index file: {first}");
    println!("an open started 30 ms into that rebuild (200 ms lock timeout): {second}");
    println!("an open started 300 ms into that rebuild (200 ms lock timeout): {third}");
    Ok(())
}

fn path(p: &Path) -> &str {
    p.to_str().unwrap_or_default()
}

/// Microseconds per open, GET and close of `dir`, `n` times in this process.
fn warm_opens(dir: &Path, n: usize) -> Res<f64> {
    let t = Instant::now();
    for _ in 0..n {
        let db = Db::open(dir)?;
        std::hint::black_box(db.get(b"a")?);
    }
    Ok(t.elapsed().as_secs_f64() * 1e6 / n as f64)
}

fn worker(args: &[&str]) -> Res<Child> {
    Ok(Command::new(std::env::current_exe()?)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()?)
}

fn expect(child: &mut Child, what: &str) -> Res {
    let out = child.stdout.as_mut().ok_or("no stdout")?;
    let mut line = String::new();
    BufReader::new(out).read_line(&mut line)?;
    if line.trim() == what {
        Ok(())
    } else {
        Err(format!("worker said {line:?}, not {what:?}").into())
    }
}

fn first_line(mut child: Child) -> Res<String> {
    let out = child.stdout.take().ok_or("no stdout")?;
    let mut line = String::new();
    BufReader::new(out).read_line(&mut line)?;
    child.wait()?;
    Ok(line.trim().to_string())
}

/// Worker: holds `ziggy.lock` as a process stalled inside its open does, until stdin closes.
fn hold_lock(dir: &Path) -> Res {
    let f = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(dir.join("ziggy.lock"))?;
    fs2::FileExt::lock_exclusive(&f)?;
    say("ready")?;
    wait_for_stdin_close();
    Ok(())
}

/// Worker: stays attached until stdin closes.
fn hold_open(dir: &Path) -> Res {
    let db = Db::open(dir)?;
    say("ready")?;
    wait_for_stdin_close();
    drop(db);
    Ok(())
}

/// Worker: one open (with a lock timeout of `ms`), a GET of `k0` (written before the last
/// checkpoint of the load) and one of `k{last}` (after it), then an MGET of both; says how it
/// went and when.
fn open_once(dir: &Path, ms: u64, last: u64) -> Res {
    let t = Instant::now();
    let ms_since = |t: Instant| t.elapsed().as_secs_f64() * 1e3;
    let db = match Db::options()
        .lock_timeout(Some(Duration::from_millis(ms)))
        .open(dir)
    {
        Ok(db) => db,
        Err(e) => return say(&format!("failed after {:.0} ms: {e}", ms_since(t))),
    };
    let opened = ms_since(t);
    let mut line = format!("opened in {opened:.0} ms");
    for key in [b"k0".to_vec(), format!("k{last}").into_bytes()] {
        let t1 = Instant::now();
        let name = String::from_utf8_lossy(&key).into_owned();
        match db.get(&key) {
            Ok(Some(_)) => line += &format!(", GET {name} in {:.1} ms", ms_since(t1)),
            Ok(None) => line += &format!(", {name} MISSING"),
            Err(e) => line += &format!(", GET {name} failed after {:.0} ms: {e}", ms_since(t1)),
        }
    }
    let t1 = Instant::now();
    let last = format!("k{last}");
    match db.mget(&[b"k0", last.as_bytes()]) {
        Ok(v) if v.iter().all(Option::is_some) => {
            line += &format!(", MGET in {:.1} ms", ms_since(t1));
        }
        Ok(_) => line += ", MGET MISSING",
        Err(e) => line += &format!(", MGET failed after {:.0} ms: {e}", ms_since(t1)),
    }
    say(&format!("{line} (all {:.0} ms)", ms_since(t)))
}

/// Worker: writes keys `k0..kN` and exits without closing, as a crash would: the index is
/// left dirty, so a cold open rebuilds it.
fn load(dir: &Path, n: u64) -> Res {
    let db = Db::open(dir)?;
    let mut i = 0;
    while i < n {
        let end = (i + 10_000).min(n);
        db.transaction(|tx| {
            for k in i..end {
                tx.set(format!("k{k}").as_bytes(), format!("value {k}"))?;
            }
            Ok(())
        })?;
        i = end;
    }
    std::process::exit(0);
}

fn say(line: &str) -> Res {
    let mut out = std::io::stdout().lock();
    writeln!(out, "{line}")?;
    out.flush()?;
    Ok(())
}

fn wait_for_stdin_close() {
    let mut sink = String::new();
    while std::io::stdin().read_line(&mut sink).is_ok_and(|n| n > 0) {}
}
