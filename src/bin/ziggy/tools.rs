//! redis-cli's tools that fit an embedded database: `--bigkeys` and `--memkeys` (the
//! biggest key of each type, by length or by bytes on disk, and a summary, as redis-cli
//! prints them), `--stat` (a line a second of the shared
//! metrics of every attached process) and `--latency` / `--latency-history` (a `GET` round
//! trip through the command layer, or with `--latency-commit` a commit and its fsync).

use std::io::{self, Write};
use std::time::{Duration, Instant};

use ziggydb::commands::{Reply, Session};
use ziggydb::Db;

use crate::print::Format;

/// The types `--bigkeys` reports, in redis-cli's order, with the word for their size.
const TYPES: [(&str, &str, &str); 6] = [
    ("list", "lists", "items"),
    ("hash", "hashs", "fields"),
    ("string", "strings", "bytes"),
    ("stream", "streams", "entries"),
    ("set", "sets", "members"),
    ("zset", "zsets", "members"),
];

/// Of one type: keys, their total size, and the biggest (key, size).
type TypeStats = (u64, u64, Option<(Vec<u8>, u64)>);

/// Every key, a page of `SCAN` at a time.
fn each_key(session: &mut Session, mut f: impl FnMut(&mut Session, Vec<u8>)) -> anyhow::Result<()> {
    let mut cursor = b"0".to_vec();
    loop {
        let reply = session.execute(&[b"SCAN", &cursor, b"COUNT", b"100"]);
        let Reply::Array(mut parts) = reply else {
            anyhow::bail!("SCAN replied {reply:?}");
        };
        let (Some(Reply::Array(keys)), Some(Reply::Bulk(next))) = (parts.pop(), parts.pop()) else {
            anyhow::bail!("SCAN replied an unexpected shape");
        };
        for key in keys {
            if let Reply::Bulk(key) = key {
                f(session, key);
            }
        }
        if next == b"0" {
            return Ok(());
        }
        cursor = next;
    }
}

/// A key quoted as redis-cli quotes it (`"key:1"`, binary bytes as `\xHH`).
fn quoted(key: &[u8]) -> String {
    let mut out = Vec::new();
    Format::Tty.write(&Reply::Bulk(key.to_vec()), &mut out);
    String::from_utf8_lossy(&out).trim_end().to_owned()
}

/// `--bigkeys`: the biggest key of each type (by length: bytes of a string, items of a
/// list, members of a set or sorted set, fields of a hash), as redis-cli prints it; with
/// `memkeys`, `--memkeys`: by the bytes the key takes in the segment files (`MEMORY USAGE`;
/// `SAMPLES` is accepted and changes nothing, since the count is exact).
pub fn bigkeys(session: &mut Session, total_keys: u64, memkeys: Option<u64>) -> anyhow::Result<()> {
    let mut out = io::stdout().lock();
    writeln!(
        out,
        "\n# Scanning the entire keyspace to find biggest keys as well as\n\
         # average sizes per key type.  You can use -i 0.1 to sleep 0.1 sec\n\
         # per 100 SCAN commands (not usually needed).\n"
    )?;
    // Per type: keys, total size, biggest (key, size).
    let mut stats: Vec<TypeStats> = vec![(0, 0, None); TYPES.len()];
    let mut sampled = 0u64;
    let mut key_bytes = 0u64;
    let mut failed: Option<io::Error> = None;
    each_key(session, |session, key| {
        let Reply::Status(ty) = session.execute(&[b"TYPE", &key]) else {
            return;
        };
        let Some(at) = TYPES.iter().position(|(name, _, _)| *name == ty) else {
            return;
        };
        let len_command: &[u8] = match TYPES[at].0 {
            "list" => b"LLEN",
            "hash" => b"HLEN",
            "set" => b"SCARD",
            "zset" => b"ZCARD",
            _ => b"STRLEN",
        };
        let reply = match memkeys {
            Some(samples) => {
                let samples = samples.to_string();
                session.execute(&[b"MEMORY", b"USAGE", &key, b"SAMPLES", samples.as_bytes()])
            }
            None => session.execute(&[len_command, &key]),
        };
        let Reply::Int(size) = reply else {
            return;
        };
        let size = size.unsigned_abs();
        let done = if total_keys == 0 {
            0.0
        } else {
            sampled as f64 * 100.0 / total_keys as f64
        };
        sampled += 1;
        key_bytes += key.len() as u64;
        let (name, _, unit) = TYPES[at];
        let unit = if memkeys.is_some() { "bytes" } else { unit };
        let entry = &mut stats[at];
        entry.0 += 1;
        entry.1 += size;
        if entry.2.as_ref().is_none_or(|(_, biggest)| size > *biggest) {
            if let Err(e) = writeln!(
                out,
                "[{done:05.2}%] Biggest {name:<6} found so far '{}' with {size} {unit}",
                quoted(&key)
            ) {
                failed.get_or_insert(e);
            }
            entry.2 = Some((key, size));
        }
    })?;
    if let Some(e) = failed {
        return Err(e.into());
    }
    writeln!(out, "\n-------- summary -------\n")?;
    writeln!(out, "Sampled {sampled} keys in the keyspace!")?;
    let avg = if sampled == 0 {
        0.0
    } else {
        key_bytes as f64 / sampled as f64
    };
    writeln!(
        out,
        "Total key length in bytes is {key_bytes} (avg len {avg:.2})\n"
    )?;
    let mut any = false;
    for (at, (name, _, unit)) in TYPES.iter().enumerate() {
        let unit = if memkeys.is_some() { "bytes" } else { unit };
        if let Some((key, size)) = &stats[at].2 {
            any = true;
            writeln!(
                out,
                "Biggest {name:>6} found '{}' has {size} {unit}",
                quoted(key)
            )?;
        }
    }
    if any {
        writeln!(out)?;
    }
    for (at, (_, plural, unit)) in TYPES.iter().enumerate() {
        let unit = if memkeys.is_some() { "bytes" } else { unit };
        let (keys, size, _) = &stats[at];
        let share = if sampled == 0 {
            0.0
        } else {
            *keys as f64 * 100.0 / sampled as f64
        };
        let avg = if *keys == 0 {
            0.0
        } else {
            *size as f64 / *keys as f64
        };
        writeln!(
            out,
            "{keys} {plural} with {size} {unit} ({share:05.2}% of keys, avg size {avg:.2})"
        )?;
    }
    out.flush()?;
    Ok(())
}

/// Bytes as redis-cli's `bytesToHuman` writes them: `512B`, `1.50K`, `2.00M`, `1.00G`.
fn human(bytes: u64) -> String {
    let b = bytes as f64;
    if bytes < 1024 {
        format!("{bytes}B")
    } else if b < 1024.0 * 1024.0 {
        format!("{:.2}K", b / 1024.0)
    } else if b < 1024.0 * 1024.0 * 1024.0 {
        format!("{:.2}M", b / 1024.0 / 1024.0)
    } else {
        format!("{:.2}G", b / 1024.0 / 1024.0 / 1024.0)
    }
}

/// `--stat`: every `interval`, a line of the shared metrics, as redis-cli's `--stat` prints
/// its own: keys, bytes of segment files on disk and mapped by this process, the processes
/// attached (redis-cli's clients), commits and commands of every process with the change
/// since the line before; the header again every 20 lines. Until interrupted.
pub fn stat(db: &Db, interval: Duration) -> anyhow::Result<()> {
    let mut out = io::stdout().lock();
    let mut last: Option<(u64, u64)> = None;
    let mut until_header = 0u32;
    loop {
        if until_header == 0 {
            until_header = 20;
            writeln!(
                out,
                "------- data ------ ----------------- load ----------------- - procs -"
            )?;
            writeln!(
                out,
                "keys       disk     mapped   commits             commands            attached"
            )?;
        }
        let m = db.metrics();
        let (commits, commands) = (m.commits, m.commands);
        let (dc, dm) = last.map_or((0, 0), |(c, n)| {
            (commits.saturating_sub(c), commands.saturating_sub(n))
        });
        writeln!(
            out,
            "{:<11}{:<9}{:<9}{:<20}{:<20}{}",
            m.keys,
            human(m.segment_file_bytes),
            human(m.mapped_bytes),
            format!("{commits} (+{dc})"),
            format!("{commands} (+{dm})"),
            m.processes
        )?;
        out.flush()?;
        last = Some((commits, commands));
        until_header -= 1;
        std::thread::sleep(interval);
    }
}

/// What `--latency` measures.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Probe {
    /// A `GET` of a key through the command layer: the read path, index probe included.
    Get,
    /// A commit of one small write and its fsync (a key `__ziggy_latency__` set then
    /// deleted in the same sample: two commits, the second's time is not counted).
    Commit,
}

/// `--latency` and `--latency-history`: samples every 10 ms, printed as redis-cli prints
/// them (min, max and average in milliseconds, here with fractions, since a read takes
/// microseconds): on a terminal one line updated in place until interrupted; elsewhere one
/// line after `interval` (redis-cli's `-i`, default 1 s) and the end. With `history`, a
/// line per `interval` (default 15 s), each with its range on a terminal, until
/// interrupted.
pub fn latency(
    session: &mut Session,
    db: &Db,
    probe: Probe,
    format: Format,
    history: bool,
    interval: Option<Duration>,
) -> anyhow::Result<()> {
    const KEY: &[u8] = b"__ziggy_latency__";
    let window = interval.unwrap_or(if history {
        Duration::from_secs(15)
    } else {
        Duration::from_secs(1)
    });
    let mut out = io::stdout().lock();
    let (mut min, mut max, mut total, mut count) = (f64::MAX, 0f64, 0f64, 0u64);
    let mut since = Instant::now();
    loop {
        let start = Instant::now();
        match probe {
            Probe::Get => {
                if let Reply::Error(e) = session.execute(&[b"GET", KEY]) {
                    anyhow::bail!("GET failed: {e}");
                }
            }
            Probe::Commit => {
                db.set(KEY, "x")?;
            }
        }
        let ms = start.elapsed().as_secs_f64() * 1000.0;
        if probe == Probe::Commit {
            db.delete(KEY)?;
        }
        count += 1;
        total += ms;
        min = min.min(ms);
        max = max.max(ms);
        let avg = total / count as f64;
        let line = match format {
            Format::Csv => format!("{min:.3},{max:.3},{avg:.3},{count}"),
            Format::Json => format!(
                "{{\"min\": {min:.3}, \"max\": {max:.3}, \"avg\": {avg:.3}, \"count\": {count}}}"
            ),
            Format::Raw => format!("{min:.3} {max:.3} {avg:.3} {count}"),
            Format::Tty => format!("min: {min:.3}, max: {max:.3}, avg: {avg:.3} ({count} samples)"),
        };
        let due = since.elapsed() >= window;
        if format == Format::Tty {
            // Clear the line and write it again, as redis-cli does.
            write!(out, "\x1b[0G\x1b[2K{line}")?;
        } else if due {
            writeln!(out, "{line}")?;
        }
        out.flush()?;
        if due {
            if !history {
                if format != Format::Tty {
                    return Ok(());
                }
            } else {
                if format == Format::Tty {
                    writeln!(out, " -- {:.2} seconds range", window.as_secs_f64())?;
                }
                (min, max, total, count) = (f64::MAX, 0.0, 0.0, 0);
                since = Instant::now();
            }
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}
