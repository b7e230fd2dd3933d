//! ZiggyDB side by side with LMDB, redb, sled, fjall, SQLite (and RocksDB with the `rocksdb`
//! feature) on one machine in one run, plus a data-type mix against a local Redis.
//!
//! ```text
//! ziggydb-compare [--scale F] [--engines a,b,..] [--redis HOST:PORT] [--out FILE]
//!                 [--skip-single] [--skip-multi] [--only PHASE,..] [--rounds R]
//! ```
//!
//! Phases: `single`, `one-txn` (the bulk load as one transaction), `multi`, `reads-100k`
//! (100k keys read from 1, 2 and 4 processes), `mix`. `--only one-txn,reads-100k` runs just
//! those; `--rounds R` repeats the two issue-19 phases R times, engines taking turns, and
//! reports the median with the range in the notes.
//!
//! Prints one Markdown report (tables of ops/s per engine and phase, ZiggyDB's ratio to the
//! best peer, and the issue's targets) and writes it to `--out`. `run.sh` beside this crate
//! starts Redis and runs everything.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

mod charts;
mod coll;
#[path = "../../common/mod.rs"]
mod common;
mod engines;
mod mix;
mod procs;
mod single;
mod table;

use engines::{Kind, Mode, Res};
use procs::{counter_key, run_workers, Outcome};
use table::{fmt_num, targets_markdown, Better, Cell, Table, Target};

/// Keys loaded at scale 1 (the issue's scale).
const BASE_KEYS: f64 = 500_000.0;
const BASE_SINGLES: f64 = 1_000.0;
const BASE_INCREMENTS: f64 = 500.0;
const PROCS: [usize; 3] = [1, 2, 4];

/// What one run measures; every size follows `--scale`.
pub struct Config {
    pub scale: f64,
    pub keys: u64,
    /// Individual durable commits.
    pub singles: u64,
    /// Counter increments per process.
    pub increments: u64,
    pub read_time: Duration,
    pub proc_time: Duration,
    pub engines: Vec<Kind>,
    pub redis: Option<String>,
    pub out: PathBuf,
    pub single: bool,
    pub multi: bool,
    /// The bulk load as one transaction (issue 19 item 2).
    pub one_txn: bool,
    /// Reads of 100k keys from 1, 2 and 4 processes (issue 19 item 3).
    pub reads_100k: bool,
    pub mix: bool,
    /// Collection cost against size (ZiggyDB only).
    pub collections: bool,
    /// Where to write the SVG charts of the run, if anywhere.
    pub charts: Option<PathBuf>,
    /// Runs of each issue-19 phase; the median is reported.
    pub rounds: usize,
}

/// Keys of the read-only multi-process phase of issue 19 (at scale 1).
const READS_100K_KEYS: f64 = 100_000.0;

fn parse_args(args: &[String]) -> Res<Config> {
    let mut scale: f64 = match std::env::var("COMPARE_SCALE") {
        Ok(s) => s.parse()?,
        Err(_) => 1.0,
    };
    let mut engines: Vec<Kind> = Kind::all();
    let mut redis = None;
    let mut out = Path::new(env!("CARGO_MANIFEST_DIR")).join("results/latest.md");
    let (mut single, mut multi) = (true, true);
    let (mut one_txn, mut reads_100k, mut mix, mut collections) = (true, true, true, true);
    let mut charts = None;
    let mut rounds = 1;
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let mut value = || it.next().ok_or_else(|| format!("{a} needs a value"));
        match a.as_str() {
            "--scale" => scale = value()?.parse()?,
            "--engines" => {
                engines = value()?
                    .split(',')
                    .map(|s| Kind::from_id(s).ok_or_else(|| format!("unknown engine {s}")))
                    .collect::<Result<_, _>>()?;
            }
            "--redis" => redis = Some(value()?.clone()),
            "--out" => out = PathBuf::from(value()?),
            "--charts" => charts = Some(PathBuf::from(value()?)),
            "--skip-single" => single = false,
            "--skip-multi" => multi = false,
            "--rounds" => rounds = value()?.parse::<usize>()?.max(1),
            "--only" => {
                let only: Vec<String> = value()?.split(',').map(str::to_string).collect();
                for p in &only {
                    if ![
                        "single",
                        "one-txn",
                        "multi",
                        "reads-100k",
                        "mix",
                        "collections",
                    ]
                    .contains(&p.as_str())
                    {
                        return Err(format!("unknown phase {p}").into());
                    }
                }
                let on = |p: &str| only.iter().any(|o| o == p);
                (single, one_txn, multi, reads_100k, mix, collections) = (
                    on("single"),
                    on("one-txn"),
                    on("multi"),
                    on("reads-100k"),
                    on("mix"),
                    on("collections"),
                );
            }
            "-h" | "--help" => {
                println!(
                    "usage: ziggydb-compare [--scale F] [--engines {}] [--redis HOST:PORT] \
                     [--out FILE] [--charts DIR] [--skip-single] [--skip-multi] \
                     [--only single,one-txn,multi,reads-100k,mix,collections] [--rounds R]",
                    Kind::all()
                        .iter()
                        .map(|k| k.id())
                        .collect::<Vec<_>>()
                        .join(",")
                );
                std::process::exit(0);
            }
            other => return Err(format!("unknown argument {other}").into()),
        }
    }
    if !scale.is_finite() || scale <= 0.0 {
        return Err("--scale must be positive".into());
    }
    if cfg!(debug_assertions) {
        eprintln!("warning: a debug build; run with --release for figures worth reading");
    }
    let scaled = |base: f64, min: f64| (base * scale).max(min).round() as u64;
    Ok(Config {
        scale,
        keys: scaled(BASE_KEYS, 4_000.0),
        singles: scaled(BASE_SINGLES, 50.0),
        increments: scaled(BASE_INCREMENTS, 20.0),
        // Smaller runs (smoke tests) also measure for less time.
        read_time: Duration::from_secs_f64(1.5 * scale.clamp(0.1, 1.0)),
        proc_time: Duration::from_secs_f64(2.0 * scale.clamp(0.1, 1.0)),
        engines,
        redis,
        out,
        single,
        multi,
        one_txn,
        reads_100k,
        mix,
        collections,
        charts,
        rounds,
    })
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("worker") {
        return match procs::worker(&args[1..]) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                println!("error {}", procs::one_line(&e.to_string()));
                ExitCode::FAILURE
            }
        };
    }
    match parse_args(&args).and_then(|cfg| run(&cfg)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run(cfg: &Config) -> Res<()> {
    let root = std::env::temp_dir().join(format!("ziggydb-compare-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&root);
    std::fs::create_dir_all(&root)?;
    let result = measure(cfg, &root);
    let _ = std::fs::remove_dir_all(&root);
    let (report, r) = result?;
    println!("{report}");
    if let Some(dir) = &cfg.charts {
        std::fs::create_dir_all(dir)?;
        let mut written = Vec::new();
        if !r.single.rows.is_empty() || !r.multi.rows.is_empty() {
            written.push((
                "ratio.svg",
                charts::ratio_chart(&[&r.single, &r.multi, &r.mix]),
            ));
        }
        if !r.multi.rows.is_empty() {
            written.push((
                "scaling.svg",
                charts::scaling_chart(
                    &r.multi,
                    &[
                        (MP_READS, "reads/s"),
                        (MP_MIXED, "ops/s"),
                        (MP_COUNTER, "increments/s"),
                    ],
                ),
            ));
        }
        if !r.coll.is_empty() {
            written.push((
                "collections.svg",
                charts::collections_chart(&coll::sizes(cfg), &r.coll),
            ));
        }
        for (name, svg) in written {
            std::fs::write(dir.join(name), svg)?;
            eprintln!("wrote {}", dir.join(name).display());
        }
    }
    if let Some(dir) = cfg.out.parent() {
        std::fs::create_dir_all(dir)?;
    }
    std::fs::write(&cfg.out, &report)?;
    eprintln!("wrote {}", cfg.out.display());
    Ok(())
}

/// The three tables: single process, several processes, data-type mix.
struct Report {
    single: Table,
    multi: Table,
    mix: Table,
    notes: Vec<String>,
    /// One entry per shared-counter run: final value against the expected one.
    counters: Vec<String>,
    /// Collection cost against size.
    coll: Vec<coll::Point>,
}

fn measure(cfg: &Config, root: &Path) -> Res<(String, Report)> {
    let n = cfg.keys;
    let singles: Vec<Kind> = cfg
        .engines
        .iter()
        .copied()
        .filter(|k| k.single_process())
        .collect();
    let mut r = Report {
        single: Table::new(
            "One process",
            singles.iter().map(|k| k.title().to_string()).collect(),
        ),
        multi: Table::new(
            "Several processes on one database",
            cfg.engines.iter().map(|k| k.title().to_string()).collect(),
        ),
        mix: Table::new(
            "Data-type mix against Redis (commands/s)",
            mix::COLUMNS.iter().map(|c| c.to_string()).collect(),
        ),
        notes: Vec::new(),
        counters: Vec::new(),
        coll: Vec::new(),
    };
    eprintln!(
        "{n} keys of {} bytes with {}-byte values, {} individual commits, scale {}",
        common::KEY_LEN,
        common::VALUE_LEN,
        cfg.singles,
        cfg.scale
    );

    let before = fsync_probe(root)?;
    let mut loaded = Vec::new();
    if cfg.single {
        for &k in &singles {
            eprintln!("{}: single process", k.title());
            match single::run(cfg, k, &k.data_dir(root), &mut r.single) {
                Ok(()) => loaded.push(k),
                Err(e) => r
                    .notes
                    .push(format!("{}: single-process phases failed: {e}", k.title())),
            }
        }
    }
    if cfg.multi {
        let mut engines = Vec::new();
        for &k in &cfg.engines {
            let base = if k == Kind::RedbMulti { Kind::Redb } else { k };
            if !cfg.single && k.single_process() {
                if let Err(e) = load_only(cfg, k, &k.data_dir(root)) {
                    r.notes.push(format!("{}: load failed: {e}", k.title()));
                    continue;
                }
                loaded.push(k);
            }
            if loaded.contains(&base) {
                engines.push(k);
            }
        }
        eprintln!("several processes");
        multi(cfg, &engines, root, &mut r)?;
        if !r.counters.is_empty() {
            let list = r.counters.join(", ");
            r.notes.push(format!(
                "Shared counter, final value / expected (P processes × {} increments): {list}",
                cfg.increments
            ));
        }
    }
    if cfg.one_txn {
        one_txn_phase(cfg, &singles, root, &mut r)?;
    }
    if cfg.reads_100k {
        reads_100k_phase(cfg, root, &mut r)?;
    }
    if cfg.collections && cfg.engines.contains(&Kind::Ziggy) {
        eprintln!("collection cost against size");
        r.coll = coll::run(cfg, root)?;
    }
    let after = fsync_probe(root)?;
    r.notes.push(format!(
        "The disk's floor: a 4 KiB append + fdatasync took {before} before the run and \
         {after} after it. The disk is shared with other work on this machine, so durable \
         phases vary from run to run."
    ));
    match &cfg.redis {
        Some(addr) if cfg.mix => mix_phase(cfg, addr, root, &mut r)?,
        Some(_) => {}
        None => r
            .notes
            .push("Redis: not measured (no `--redis HOST:PORT`; `run.sh` provides one)".into()),
    }
    Ok((render(cfg, &r), r))
}

const MP_READS: &str = "reads, read transaction per get";
const MP_READS_100K: &str = "reads of 100k keys only, read transaction per get";
const MP_MIXED: &str = "90% reads / 10% durable writes";
const MP_COUNTER: &str = "shared counter, durable read-modify-write increments";

fn mp_row(what: &str, p: usize) -> String {
    format!("{what}, {p} process{}", if p == 1 { "" } else { "es" })
}

/// The median of `v` (not empty) and its range as text.
fn median_range(v: &mut [f64]) -> (f64, String) {
    v.sort_by(f64::total_cmp);
    let med = v[v.len() / 2];
    let range = if v.len() > 1 {
        format!("{}–{}", fmt_num(v[0]), fmt_num(v[v.len() - 1]))
    } else {
        fmt_num(med)
    };
    (med, range)
}

/// Issue 19 item 2: every key loaded in one transaction, each engine in a fresh directory,
/// `cfg.rounds` times with the engines taking turns.
fn one_txn_phase(cfg: &Config, engines: &[Kind], root: &Path, r: &mut Report) -> Res<()> {
    eprintln!("bulk load in one transaction");
    let mut got: Vec<(Kind, Vec<f64>)> = engines.iter().map(|&k| (k, Vec::new())).collect();
    for _ in 0..cfg.rounds {
        for (k, rates) in &mut got {
            let dir = root.join(format!("{}-one-txn", k.id()));
            let _ = std::fs::remove_dir_all(&dir);
            let rate = single::one_txn_load(cfg, *k, &dir);
            let _ = std::fs::remove_dir_all(&dir);
            match rate {
                Ok(rate) => {
                    eprintln!(
                        "  {:<8} {}: {rate:.0} keys/s",
                        k.title(),
                        single::BULK_ONE_TXN
                    );
                    rates.push(rate);
                }
                Err(e) => {
                    r.notes.push(format!(
                        "{}: the one-transaction load failed: {e}",
                        k.title()
                    ));
                    r.single.set(
                        single::BULK_ONE_TXN,
                        "keys/s",
                        Better::Higher,
                        k.title(),
                        Cell::Text("failed".into()),
                    );
                }
            }
        }
    }
    let mut ranges = Vec::new();
    for (k, mut rates) in got.into_iter().filter(|(_, v)| !v.is_empty()) {
        let (med, range) = median_range(&mut rates);
        r.single.set(
            single::BULK_ONE_TXN,
            "keys/s",
            Better::Higher,
            k.title(),
            Cell::Value(med),
        );
        ranges.push(format!("{} {range}", k.title()));
    }
    r.notes.push(format!(
        "Bulk load in one transaction: {} keys in one commit, then one sync; ZiggyDB on its \
         default options (64 MiB segments: a longer transaction goes to a large segment of \
         its own). Median of {} run(s); ranges: {}.",
        cfg.keys,
        cfg.rounds,
        ranges.join(", ")
    ));
    Ok(())
}

/// Issue 19 item 3: read-only, 100k keys, a read transaction per get, from 1, 2 and 4
/// processes, for the engines that let several processes open a database.
fn reads_100k_phase(cfg: &Config, root: &Path, r: &mut Report) -> Res<()> {
    let n = (READS_100K_KEYS * cfg.scale.min(1.0)).round().max(4_000.0) as u64;
    eprintln!("reads of {n} keys from several processes");
    let mut engines = Vec::new();
    for &k in &cfg.engines {
        if !matches!(k, Kind::Ziggy | Kind::Lmdb | Kind::RedbMulti | Kind::Sqlite) {
            continue;
        }
        // redb MultiWriter opens the file redb writes.
        let base = if k == Kind::RedbMulti { Kind::Redb } else { k };
        let dir = root.join(format!("{}-reads-100k", k.id()));
        let _ = std::fs::remove_dir_all(&dir);
        let loaded = (|| -> Res<()> {
            let e = base.open(&dir, Mode::Load)?;
            let mut rng = common::Rng(3);
            let mut i = 0;
            while i < n {
                let end = (i + single::BATCH).min(n);
                let pairs: Vec<_> = (i..end)
                    .map(|i| (common::key(0, i), common::value(&mut rng)))
                    .collect();
                e.write(&pairs, false)?;
                i = end;
            }
            e.sync()?;
            Ok(())
        })();
        match loaded {
            Ok(()) => engines.push((k, dir)),
            Err(e) => r
                .notes
                .push(format!("{}: the 100k-key load failed: {e}", k.title())),
        }
    }
    let mut notes = Vec::new();
    for p in PROCS {
        let name = mp_row(MP_READS_100K, p);
        let mut got: Vec<Vec<f64>> = vec![Vec::new(); engines.len()];
        for _ in 0..cfg.rounds {
            for (i, (k, dir)) in engines.iter().enumerate() {
                let args = [
                    k.id().to_string(),
                    dir.display().to_string(),
                    "reads".to_string(),
                    "0".to_string(),
                    n.to_string(),
                    cfg.proc_time.as_millis().to_string(),
                ];
                match run_workers(p, &args)? {
                    Outcome::Refused(why) => {
                        return Err(format!("{} refused {p} processes: {why}", k.title()).into())
                    }
                    o => {
                        let rate = o.rate().unwrap_or(0.0);
                        eprintln!("  {:<8} {name}: {rate:.0} reads/s", k.title());
                        got[i].push(rate);
                    }
                }
            }
        }
        let mut ranges = Vec::new();
        for ((k, _), mut rates) in engines.iter().zip(got) {
            let (med, range) = median_range(&mut rates);
            r.multi.set(
                &name,
                "reads/s",
                Better::Higher,
                k.title(),
                Cell::Value(med),
            );
            ranges.push(format!("{} {range}", k.title()));
        }
        notes.push(format!("{p}P: {}", ranges.join(", ")));
    }
    for (_, dir) in &engines {
        let _ = std::fs::remove_dir_all(dir);
    }
    r.notes.push(format!(
        "Reads of {n} keys only: a database of just those keys per engine, each worker reading \
         random keys among them, one read transaction per get. Median of {} run(s); ranges: {}.",
        cfg.rounds,
        notes.join("; ")
    ));
    Ok(())
}

/// Loads a database for the multi-process phases when the single-process phases did not.
fn load_only(cfg: &Config, k: Kind, dir: &Path) -> Res<()> {
    let e = k.open(dir, Mode::Load)?;
    let mut rng = common::Rng(1);
    let mut i = 0;
    while i < cfg.keys {
        let end = (i + single::BATCH).min(cfg.keys);
        let pairs: Vec<_> = (i..end)
            .map(|i| (common::key(0, i), common::value(&mut rng)))
            .collect();
        e.write(&pairs, false)?;
        i = end;
    }
    e.sync()?;
    Ok(())
}

/// The multi-process phases. Engines take turns within each (task, P) step, so a slow spell
/// of the shared disk does not land on one engine's whole column.
fn multi(cfg: &Config, engines: &[Kind], root: &Path, r: &mut Report) -> Res<()> {
    let lo = single::removed(cfg.keys);
    let hi = cfg.keys;
    // The first error of an engine that refused a second process (or failed outright).
    let mut refused: Vec<(Kind, String)> = Vec::new();
    for (task, what, unit) in [
        ("reads", MP_READS, "reads/s"),
        ("mixed", MP_MIXED, "ops/s"),
        ("counter", MP_COUNTER, "increments/s"),
    ] {
        for p in PROCS {
            let name = mp_row(what, p);
            for &k in engines {
                let col = k.title();
                if p > 1 && refused.iter().any(|(e, _)| *e == k) {
                    r.multi.set(
                        &name,
                        unit,
                        Better::Higher,
                        col,
                        Cell::Text("refused".into()),
                    );
                    continue;
                }
                let dir = k.data_dir(root);
                let run_id = ((p as u64) << 8) | (k as u64);
                let (a, b, amount) = match task {
                    "counter" => (run_id, 0, cfg.increments),
                    _ => (lo, hi, cfg.proc_time.as_millis() as u64),
                };
                let args = [
                    k.id().to_string(),
                    dir.display().to_string(),
                    task.to_string(),
                    a.to_string(),
                    b.to_string(),
                    amount.to_string(),
                ];
                match run_workers(p, &args)? {
                    Outcome::Refused(why) => {
                        // The error names the temporary directory; the report need not.
                        let why = why.replace(&root.display().to_string(), "<tmp>");
                        eprintln!("  {col:<8} {name}: refused: {why}");
                        r.multi.set(
                            &name,
                            unit,
                            Better::Higher,
                            col,
                            Cell::Text("refused".into()),
                        );
                        if !refused.iter().any(|(e, _)| *e == k) {
                            refused.push((k, why));
                        }
                    }
                    o @ Outcome::Ran { .. } => {
                        let rate = o.rate().unwrap_or(0.0);
                        eprintln!("  {col:<8} {name}: {rate:.0} {unit}");
                        r.multi
                            .set(&name, unit, Better::Higher, col, Cell::Value(rate));
                        if task == "counter" {
                            check_counter(cfg, k, &dir, p, run_id, &name, r)?;
                        }
                    }
                }
            }
        }
    }
    for (k, why) in refused {
        r.notes
            .push(format!("{} refuses a second process: {why}", k.title()));
    }
    Ok(())
}

/// Reads the shared counter back after its workers exit and marks lost updates.
fn check_counter(
    cfg: &Config,
    k: Kind,
    dir: &Path,
    p: usize,
    run_id: u64,
    row: &str,
    r: &mut Report,
) -> Res<()> {
    let col = k.title();
    let got = k.open(dir, Mode::Durable)?.counter(&counter_key(run_id))?;
    let want = p as u64 * cfg.increments;
    let verdict = if got == want { "exact" } else { "WRONG" };
    r.counters
        .push(format!("{col} {p}P: {got}/{want} {verdict}"));
    if got != want {
        r.multi.set(
            row,
            "increments/s",
            Better::Higher,
            col,
            Cell::Text(format!("lost updates ({got}/{want})")),
        );
    }
    Ok(())
}

fn mix_phase(cfg: &Config, addr: &str, root: &Path, r: &mut Report) -> Res<()> {
    r.notes.push(format!(
        "Redis {} on 127.0.0.1 (`appendonly yes`, `appendfsync everysec`, no RDB \
         snapshots), through the `redis` crate's synchronous client; ZiggyDB with \
         `Durability::Batched {{ max_delay: 1 s }}`. A pipelined run sends {} rounds of {} \
         commands per round trip.",
        mix::redis_version(addr)?,
        mix::PIPELINE_ROUNDS,
        mix::ROUND
    ));
    for (style, ziggy_task, redis_task) in mix::STYLES {
        for p in [1usize, 4] {
            let name = format!(
                "INCR, LPUSH/RPOP, SADD/SISMEMBER, ZADD/ZRANGE, HSET/HGET; {p} process{}; {style}",
                if p == 1 { "" } else { "es" }
            );
            for (task, col) in [ziggy_task, redis_task].into_iter().zip(mix::COLUMNS) {
                let target = if task == ziggy_task {
                    let dir = root.join(format!("{task}-{p}"));
                    std::fs::create_dir_all(&dir)?;
                    dir.display().to_string()
                } else {
                    mix::flush_redis(addr)?;
                    addr.to_string()
                };
                let args = [
                    "-".to_string(),
                    target,
                    task.to_string(),
                    "0".into(),
                    "0".into(),
                    cfg.proc_time.as_millis().to_string(),
                ];
                match run_workers(p, &args)? {
                    Outcome::Refused(why) => return Err(format!("{col}: {why}").into()),
                    o => {
                        let rate = o.rate().unwrap_or(0.0);
                        eprintln!("  {col} {name}: {rate:.0} commands/s");
                        r.mix
                            .set(&name, "cmds/s", Better::Higher, col, Cell::Value(rate));
                    }
                }
            }
        }
    }
    Ok(())
}

/// Median and 90th percentile of 200 appends of 4 KiB each followed by `fdatasync`, as text.
fn fsync_probe(root: &Path) -> Res<String> {
    use std::io::Write as _;
    let path = root.join("fsync-probe");
    let mut f = std::fs::File::create(&path)?;
    let block = [0x5au8; 4096];
    let mut times: Vec<Duration> = (0..200)
        .map(|_| -> Res<Duration> {
            let start = std::time::Instant::now();
            f.write_all(&block)?;
            f.sync_data()?;
            Ok(start.elapsed())
        })
        .collect::<Res<_>>()?;
    drop(f);
    std::fs::remove_file(&path)?;
    times.sort();
    let us = |d: Duration| d.as_secs_f64() * 1e6;
    Ok(format!(
        "{:.0} µs median, {:.0} µs p90",
        us(times[times.len() / 2]),
        us(times[times.len() * 9 / 10])
    ))
}

/// ZiggyDB's value divided by `peer`'s in `row`.
fn versus(t: &Table, row: &str, peer: &str) -> Option<f64> {
    Some(t.get(row, "ZiggyDB")? / t.get(row, peer)?)
}

fn render(cfg: &Config, r: &Report) -> String {
    let mut s = format!(
        "## Comparison run ({})\n\n{} keys of {} bytes, values of {} bytes ({:.1} MiB of key+value \
         bytes), {} individual durable commits, {} increments per process; scale {}; {} CPUs.\n\n",
        today(),
        cfg.keys,
        common::KEY_LEN,
        common::VALUE_LEN,
        (cfg.keys * (common::KEY_LEN + common::VALUE_LEN) as u64) as f64 / (1 << 20) as f64,
        cfg.singles,
        cfg.increments,
        cfg.scale,
        std::thread::available_parallelism().map_or(1, |p| p.get()),
    );
    for t in [&r.single, &r.multi, &r.mix] {
        if !t.rows.is_empty() {
            s.push_str(&t.to_markdown());
            s.push('\n');
        }
    }
    if !r.coll.is_empty() {
        s.push_str(&coll::markdown(cfg, &r.coll));
        s.push('\n');
    }
    s.push_str(&targets_markdown(&targets(cfg, r)));
    s.push_str("\n### Notes\n\n");
    s.push_str(
        "- \"ZiggyDB ÷ best peer\" above 1 means ZiggyDB is ahead; for times and sizes, where \
         less is better, it is best peer ÷ ZiggyDB.\n\
         - Sizes are bytes allocated on disk for the whole database directory (as `du` \
         counts them) divided by the live key+value bytes after the removals.\n\
         - Every durable commit is fsynced (or fdatasynced) before it returns: ZiggyDB \
         `Immediate`, LMDB without `NO_SYNC`, redb `Immediate`, sled `flush()`, fjall \
         `PersistMode::SyncAll`, SQLite WAL with `synchronous=FULL`. The bulk load lets each \
         engine skip per-commit syncs and syncs once at the end.\n",
    );
    for n in &r.notes {
        let _ = writeln!(s, "- {n}");
    }
    let _ = writeln!(s, "\nEngines:");
    let mut seen = Vec::new();
    for k in &cfg.engines {
        if !seen.contains(&k.version()) {
            seen.push(k.version());
            let _ = writeln!(s, "- {}: {}", k.title(), k.version());
        }
    }
    s
}

fn targets(cfg: &Config, r: &Report) -> Vec<Target> {
    let (st, mt, xt) = (&r.single, &r.multi, &r.mix);
    let mut v = Vec::new();
    let fmt = |x: Option<f64>| x.map_or_else(|| "–".into(), |x| format!("{x:.2}×"));
    let at_least = |x: Option<f64>, min: f64| x.map(|x| x >= min);
    let both = |a: Option<bool>, b: Option<bool>| Some(a? && b?);

    let x = versus(st, single::READS[0], "LMDB");
    v.push(Target {
        work: "random point reads, 1 thread",
        target: "≥ 1.5× LMDB",
        measured: format!("{} LMDB", fmt(x)),
        met: at_least(x, 1.5),
    });
    let (a, b) = (
        versus(mt, &mp_row(MP_READS, 2), "LMDB"),
        versus(mt, &mp_row(MP_READS, 4), "LMDB"),
    );
    v.push(Target {
        work: "reads from 2 and 4 processes",
        target: "≥ 1.2× LMDB",
        measured: format!("{} / {} LMDB", fmt(a), fmt(b)),
        met: both(at_least(a, 1.2), at_least(b, 1.2)),
    });
    let (a, b) = (
        versus(st, single::BULK, "LMDB"),
        versus(st, single::BULK, "fjall"),
    );
    v.push(Target {
        work: "bulk load",
        target: "≥ 1.5× LMDB and ≥ fjall",
        measured: format!("{} LMDB, {} fjall", fmt(a), fmt(b)),
        met: both(at_least(a, 1.5), at_least(b, 1.0)),
    });
    let a = versus(st, single::BATCH_WRITES, "fjall");
    let best = st
        .rows
        .iter()
        .find(|row| row.name == single::BATCH_WRITES)
        .and_then(table::ratio);
    v.push(Target {
        work: "batch writes (1000 per durable commit)",
        target: "≥ fjall (the best)",
        measured: format!("{} fjall, {} best peer", fmt(a), fmt(best)),
        met: at_least(a, 1.0),
    });
    let best = st
        .rows
        .iter()
        .find(|row| row.name == single::SINGLE)
        .and_then(table::ratio);
    v.push(Target {
        work: "durable single-key commits, 1 writer",
        target: "≥ the best peer",
        measured: format!("{} best peer", fmt(best)),
        met: at_least(best, 1.0),
    });
    let a = versus(mt, &mp_row(MP_MIXED, 4), "SQLite");
    v.push(Target {
        work: "90% reads / 10% durable writes, 4 processes",
        target: "≥ 2× SQLite WAL",
        measured: format!("{} SQLite", fmt(a)),
        met: at_least(a, 2.0),
    });
    let a = versus(mt, &mp_row(MP_COUNTER, 4), "SQLite");
    v.push(Target {
        work: "shared counter, 4 processes, durable increments",
        target: "≥ 2× SQLite",
        measured: format!("{} SQLite", fmt(a)),
        met: at_least(a, 2.0),
    });
    // Rows in the order of `mix_phase`: per style, 1 then 4 processes.
    let mix_ratio = |row: usize| -> Option<f64> { xt.rows.get(row).and_then(table::ratio) };
    let (a, b) = (mix_ratio(0), mix_ratio(1));
    let (pa, pb) = (mix_ratio(2), mix_ratio(3));
    v.push(Target {
        work: "data-type mix vs local Redis (everysec), 1 and 4 processes",
        target: "≥ 3× Redis",
        measured: format!(
            "one command per call: {} (1 process), {} (4 processes); \
             10 rounds per batch: {} (1 process), {} (4 processes)",
            fmt(a),
            fmt(b),
            fmt(pa),
            fmt(pb)
        ),
        met: both(
            both(at_least(a, 3.0), at_least(b, 3.0)),
            both(at_least(pa, 3.0), at_least(pb, 3.0)),
        ),
    });
    let open = st.get(single::OPEN, "ZiggyDB");
    v.push(Target {
        work: "open a large database",
        target: "< 5 ms, flat in size (issue: 1M keys)",
        measured: open.map_or_else(
            || "–".into(),
            |ms| format!("{} ms at {} keys", fmt_num(ms), cfg.keys),
        ),
        met: open.map(|ms| ms < 5.0),
    });
    let size = st.get(single::SIZE_AFTER, "ZiggyDB");
    v.push(Target {
        work: "size after compaction",
        target: "≤ 1.2× live key+value bytes",
        measured: size.map_or_else(|| "–".into(), |x| format!("{x:.2}×")),
        met: size.map(|x| x <= 1.2),
    });
    let x = versus(st, single::BULK_ONE_TXN, "LMDB");
    v.push(Target {
        work: "bulk load in one transaction (issue 19)",
        target: "≥ 1.5× LMDB",
        measured: format!("{} LMDB", fmt(x)),
        met: at_least(x, 1.5),
    });
    let x: Vec<Option<f64>> = PROCS
        .iter()
        .map(|&p| versus(mt, &mp_row(MP_READS_100K, p), "LMDB"))
        .collect();
    v.push(Target {
        work: "reads of 100k keys from 1, 2 and 4 processes (issue 19)",
        target: "≥ 1.5× LMDB",
        measured: format!(
            "{} LMDB",
            x.iter().map(|&x| fmt(x)).collect::<Vec<_>>().join(" / ")
        ),
        met: x
            .iter()
            .map(|&x| at_least(x, 1.5))
            .try_fold(true, |all, m| Some(all && m?)),
    });
    v
}

/// Today's date (UTC) as YYYY-MM-DD, from the days since the Unix epoch (the civil-from-days
/// algorithm of the proleptic Gregorian calendar).
fn today() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let z = (secs / 86_400) as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!("{year:04}-{month:02}-{day:02}")
}
