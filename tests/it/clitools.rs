//! `ziggy`'s tools beyond one command at a time: scripts on standard input whose commands
//! share an fsync while every printed reply stays durable (a power cut after a printed reply
//! never loses its write), and progress: the library's callback for long operations and
//! `ziggy`'s bar on a terminal.

use std::fs::File;
use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant};

use ziggydb::progress::{with_progress, Progress, Task, Unit};
use ziggydb::testing::power_cut;
use ziggydb::{Db, ExportFormat, Value};

use crate::util::{self, TestResult};

/// `ziggy -d DIR ARGS...`, with no `ZIGGY_*` settings from the environment of the tests.
fn ziggy(dir: &Path, args: &[&str]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_ziggy"));
    cmd.arg("-d")
        .arg(dir)
        .args(args)
        .env_remove("ZIGGY_DIR")
        .env_remove("ZIGGY_FAULT")
        .env_remove("ZIGGY_TEST_STOP");
    cmd
}

/// The state letter of process `pid` (field 3 of `/proc/PID/stat`).
fn state(pid: u32) -> Option<char> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    stat.get(stat.rfind(')')? + 2..)?.chars().next()
}

/// Syncs (file, directory and msync) that the journaled processes made, from a cut.
const SYNCS: usize = 1;

#[test]
fn a_script_shares_one_fsync_among_the_commands_read_together() -> TestResult {
    let tmp = util::tempdir();
    let dir = util::db_path(&tmp);
    let journal = tmp.path().join("journal");
    const LINES: usize = 400;
    let script = tmp.path().join("script.txt");
    let mut text = String::new();
    for i in 0..LINES {
        text.push_str(&format!("SET k{i} v{i}\n"));
    }
    std::fs::write(&script, text)?;
    let out = ziggy(&dir, &[])
        .env("ZIGGY_TEST_POWERLOSS", &journal)
        .stdin(File::open(&script)?)
        .stderr(Stdio::piped())
        .output()?;
    assert!(
        out.status.success(),
        "ziggy failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8(out.stdout)?, "OK\n".repeat(LINES));
    // Every command was read at once (a file is always ready), so one sync covers them all;
    // opening and closing the database syncs a few files more. A sync per command would be
    // 400 at least.
    let cut = power_cut(&journal, &dir)?;
    let syncs = cut.calls[SYNCS];
    assert!(
        syncs < 40,
        "{syncs} syncs for {LINES} commands read together"
    );
    // And every reply printed stands after a power cut.
    let db = Db::open(&dir)?;
    for i in 0..LINES {
        assert_eq!(
            db.get_value(format!("k{i}"))?,
            Some(Value::Bytes(format!("v{i}").into_bytes())),
            "k{i}"
        );
    }
    Ok(())
}

/// Runs a co-process `ziggy` that writes `burst` lines of `SET` at a time and reads their
/// replies before the next, stopped (SIGSTOP, by its own hook) right after it printed the
/// replies of group `nth`, then killed; after a power cut, every key whose `OK` was read is
/// there.
fn printed_replies_survive_a_power_cut(nth: usize, burst: usize) -> TestResult {
    let tmp = util::tempdir();
    let dir = util::db_path(&tmp);
    let journal = tmp.path().join("journal");
    let mut child = ziggy(&dir, &[])
        .env("ZIGGY_TEST_POWERLOSS", &journal)
        .env("ZIGGY_TEST_STOP", format!("group-printed:{nth}"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()?;
    let mut stdin = child.stdin.take().ok_or("stdin is piped")?;
    let stdout = child.stdout.take().ok_or("stdout is piped")?;
    let (tx, replies) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let mut acknowledged = Vec::new();
    let wait = Duration::from_secs(60);
    // Each burst is one write of a few hundred bytes (atomic on a pipe), so a group holds a
    // burst whole; the process stops once group `nth` is printed, whose replies are read in
    // full before the kill.
    'bursts: for b in 0..nth {
        let keys: Vec<String> = (0..burst).map(|j| format!("b{b}/{j}")).collect();
        let mut text = String::new();
        for key in &keys {
            text.push_str(&format!("SET {key} x\n"));
        }
        stdin.write_all(text.as_bytes())?;
        stdin.flush()?;
        for key in keys {
            match replies.recv_timeout(wait) {
                Ok(reply) => {
                    assert_eq!(reply, "OK", "reply to SET {key}");
                    acknowledged.push(key);
                }
                Err(_) => break 'bursts,
            }
        }
    }
    let deadline = Instant::now() + wait;
    while state(child.id()) != Some('T') {
        if let Some(status) = child.try_wait()? {
            return Err(format!("ziggy ended ({status}) before its stop point").into());
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            return Err("ziggy did not stop after printing its replies".into());
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    child.kill()?;
    child.wait()?;
    assert_eq!(acknowledged.len(), nth * burst, "every reply was read");
    power_cut(&journal, &dir)?;
    let db = Db::open(&dir)?;
    for key in &acknowledged {
        assert!(
            db.exists(key)?,
            "{key} was acknowledged (its OK printed) but lost in a power cut"
        );
    }
    Ok(())
}

#[test]
fn a_reply_a_script_printed_survives_a_power_cut() -> TestResult {
    for (nth, burst) in [(1, 1), (1, 40), (3, 25), (6, 7)] {
        printed_replies_survive_a_power_cut(nth, burst)?;
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Progress of long operations

/// Runs `f` and returns the progress reports it made.
fn reports<T>(f: impl FnOnce() -> T) -> (T, Vec<Progress>) {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = Arc::clone(&seen);
    let out = with_progress(move |p| log.lock().unwrap().push(p), f);
    let seen = seen.lock().unwrap().clone();
    (out, seen)
}

/// Checks that `seen` is one run of `task`: from 0, never decreasing nor past one total,
/// ending at it, and spaced out.
fn one_run(seen: &[Progress], task: Task, unit: Unit) {
    assert!(seen.len() >= 2, "{task:?}: {seen:?}");
    assert!(
        seen.iter().all(|p| p.task == task && p.unit == unit),
        "{seen:?}"
    );
    let total = seen[0].total;
    assert!(total > 0, "{task:?} has something to do");
    assert_eq!(seen[0].done, 0, "{task:?} starts at 0");
    assert!(
        seen.iter().all(|p| p.total == total && p.done <= total),
        "{seen:?}"
    );
    assert!(
        seen.windows(2).all(|w| w[0].done <= w[1].done),
        "{task:?} goes backwards: {seen:?}"
    );
    assert_eq!(
        seen.last().map(|p| p.done),
        Some(total),
        "{task:?} ends at its total"
    );
    assert!(seen.len() <= 1003, "{task:?}: {} reports", seen.len());
}

#[test]
fn long_operations_report_progress_that_ends_at_the_total() -> TestResult {
    let tmp = util::tempdir();
    let dir = util::db_path(&tmp);
    let db = Db::options().segment_size(256 << 10).open(&dir)?;
    const KEYS: usize = 3000;
    for round in 0..2 {
        db.transaction(|tx| {
            for i in 0..KEYS {
                tx.set(format!("k{i}"), format!("value {round} {i:>40}"))?;
            }
            tx.list(b"l").push_back(&["a"; 500])?;
            Ok(())
        })?;
    }
    let keys = db.len();

    let mut dump = Vec::new();
    let (n, seen) = reports(|| db.export(ExportFormat::JsonLines, &mut dump));
    assert_eq!(n?, keys);
    one_run(&seen, Task::Export, Unit::Keys);
    assert_eq!(seen[0].total, keys);

    let other = Db::open(tmp.path().join("other"))?;
    let (stats, seen) = reports(|| other.import(std::io::Cursor::new(&dump)));
    assert_eq!(stats?.keys, keys);
    one_run(&seen, Task::Import, Unit::Bytes);
    assert_eq!(
        seen[0].total,
        2 * dump.len() as u64,
        "an import reads its input twice"
    );

    let (report, seen) = reports(|| db.check());
    assert!(report?.is_ok());
    one_run(&seen, Task::Check, Unit::Bytes);

    let backup = tmp.path().join("backup");
    let (stats, seen) = reports(|| db.backup(&backup));
    let stats = stats?;
    one_run(&seen, Task::Backup, Unit::Bytes);
    assert_eq!(
        seen[0].total, stats.bytes,
        "a backup counts the bytes it copies"
    );

    let (stats, seen) = reports(|| db.compact());
    assert!(stats?.records_copied > 0);
    one_run(&seen, Task::Compact, Unit::Bytes);

    let (cleared, seen) = reports(|| db.transaction(|tx| tx.clear()));
    assert_eq!(cleared?, keys);
    one_run(&seen, Task::Flush, Unit::Keys);
    assert_eq!(seen[0].total, keys);

    let (report, seen) = reports(|| ziggydb::repair(&backup));
    report?;
    one_run(&seen, Task::Repair, Unit::Bytes);

    // Nothing is reported outside `with_progress`, nor for an operation inside another.
    let (_, seen) = reports(|| ());
    assert!(seen.is_empty());
    Ok(())
}

/// Runs `ziggy ARGS` on a pseudo-terminal (util-linux `script`): what it printed there.
fn on_a_terminal(dir: &Path, args: &str) -> TestResult<String> {
    if Command::new("script").arg("--version").output().is_err() {
        return Err("this test needs util-linux `script` (Debian: bsdutils)".into());
    }
    let command = format!(
        "exec '{}' -d '{}' {args}",
        env!("CARGO_BIN_EXE_ziggy"),
        dir.display()
    );
    let out = Command::new("script")
        .args(["-qec", &command, "/dev/null"])
        .env("TERM", "xterm")
        .env("SHELL", "/bin/sh")
        .env_remove("ZIGGY_DIR")
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output()?;
    assert!(out.status.success(), "ziggy {args} failed on a terminal");
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

#[test]
fn ziggy_shows_a_progress_bar_on_a_terminal_and_nothing_elsewhere() -> TestResult {
    let tmp = util::tempdir();
    // An import long enough for the bar to appear (it waits 300 ms), even in a fast build.
    const KEYS: usize = 60_000;
    let file = tmp.path().join("keys.jsonl");
    let mut text = String::new();
    for i in 0..KEYS {
        text.push_str(&format!(
            "{{\"key\":\"k{i}\",\"type\":\"bytes\",\"value\":\"{i:>60}\"}}\n"
        ));
    }
    std::fs::write(&file, text)?;
    let import = format!("IMPORT '{}'", file.display());

    let shown = on_a_terminal(&tmp.path().join("tty"), &import)?;
    assert!(
        shown.contains("IMPORT [") && shown.contains("MiB"),
        "no bar on a terminal: {shown:?}"
    );
    assert!(
        shown.trim_end().ends_with(&format!("(integer) {KEYS}")),
        "{shown:?}"
    );

    let out = ziggy(
        &tmp.path().join("piped"),
        &["IMPORT", &file.display().to_string()],
    )
    .stdin(Stdio::null())
    .output()?;
    assert!(out.status.success());
    assert_eq!(String::from_utf8(out.stdout)?, format!("{KEYS}\n"));
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        "",
        "nothing but the reply when standard error is not a terminal"
    );
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// redis-cli's tools: --bigkeys, --stat, --latency

/// Runs `ziggy -d DIR ARGS` to the end with `stdin`; its standard output.
fn ziggy_out(dir: &Path, args: &[&str], stdin: &str) -> TestResult<String> {
    let mut child = ziggy(dir, args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()?;
    child
        .stdin
        .take()
        .ok_or("stdin is piped")?
        .write_all(stdin.as_bytes())?;
    let out = child.wait_with_output()?;
    assert!(
        out.status.success(),
        "ziggy {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(String::from_utf8(out.stdout)?)
}

#[test]
fn bigkeys_finds_the_biggest_key_of_each_type_as_redis_cli_does() -> TestResult {
    let tmp = util::tempdir();
    let dir = util::db_path(&tmp);
    ziggy_out(
        &dir,
        &[],
        "SET key:1 hello\nSET k2 hi\nSET n 12345678\nRPUSH mylist a b c\nRPUSH l2 a\n\
         SADD s x y\nHSET h f v g w\nZADD z 1 a\n",
    )?;
    let out = ziggy_out(&dir, &["--bigkeys"], "")?;
    let summary = out
        .split("-------- summary -------\n\n")
        .nth(1)
        .ok_or_else(|| format!("no summary in {out}"))?;
    assert_eq!(
        summary,
        "Sampled 8 keys in the keyspace!\n\
         Total key length in bytes is 19 (avg len 2.38)\n\
         \n\
         Biggest   list found '\"mylist\"' has 3 items\n\
         Biggest   hash found '\"h\"' has 2 fields\n\
         Biggest string found '\"n\"' has 8 bytes\n\
         Biggest    set found '\"s\"' has 2 members\n\
         Biggest   zset found '\"z\"' has 1 members\n\
         \n\
         2 lists with 4 items (25.00% of keys, avg size 2.00)\n\
         1 hashs with 2 fields (12.50% of keys, avg size 2.00)\n\
         3 strings with 15 bytes (37.50% of keys, avg size 5.00)\n\
         0 streams with 0 entries (00.00% of keys, avg size 0.00)\n\
         1 sets with 2 members (12.50% of keys, avg size 2.00)\n\
         1 zsets with 1 members (12.50% of keys, avg size 1.00)\n"
    );
    assert!(out.starts_with("\n# Scanning the entire keyspace"), "{out}");
    assert!(
        out.contains("] Biggest list   found so far '\"mylist\"' with 3 items\n"),
        "{out}"
    );
    // A tool only reads: no database is created for it.
    let missing = tmp.path().join("missing");
    let out = ziggy(&missing, &["--bigkeys"]).output()?;
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no database at"));
    assert!(!missing.exists());
    Ok(())
}

#[test]
fn memkeys_finds_the_key_of_each_type_that_takes_the_most_bytes() -> TestResult {
    let tmp = util::tempdir();
    let dir = util::db_path(&tmp);
    let mut script = String::from("SET small hi\nSET big ");
    script.push_str(&"x".repeat(5_000));
    script.push_str("\nRPUSH few a\nRPUSH many");
    for i in 0..2_000 {
        script.push_str(&format!(" element-{i}"));
    }
    script.push('\n');
    ziggy_out(&dir, &[], &script)?;
    let usage = |key: &str| -> TestResult<u64> {
        Ok(ziggy_out(&dir, &["MEMORY", "USAGE", key], "")?
            .trim()
            .parse()?)
    };
    let (big, many, small, few) = (
        usage("big")?,
        usage("many")?,
        usage("small")?,
        usage("few")?,
    );
    assert!(big > small && many > few, "{big} {small} {many} {few}");
    let out = ziggy_out(&dir, &["--memkeys", "--memkeys-samples", "10"], "")?;
    let summary = out
        .split("-------- summary -------\n\n")
        .nth(1)
        .ok_or_else(|| format!("no summary in {out}"))?;
    assert!(
        summary.contains(&format!(
            "Biggest   list found '\"many\"' has {many} bytes\n"
        )),
        "{out}"
    );
    assert!(
        summary.contains(&format!("Biggest string found '\"big\"' has {big} bytes\n")),
        "{out}"
    );
    assert!(
        summary.contains(&format!(
            "2 strings with {} bytes (50.00% of keys, avg size",
            big + small
        )),
        "{out}"
    );
    assert!(summary.contains("0 hashs with 0 bytes"), "{out}");
    Ok(())
}

/// Starts `ziggy ARGS` and returns it with a channel of its output lines.
fn lines_of(
    dir: &Path,
    args: &[&str],
) -> TestResult<(std::process::Child, mpsc::Receiver<String>)> {
    let mut child = ziggy(dir, args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()?;
    let stdout = child.stdout.take().ok_or("stdout is piped")?;
    let (tx, lines) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    Ok((child, lines))
}

#[test]
fn stat_prints_the_shared_metrics_of_every_process_a_line_at_a_time() -> TestResult {
    let tmp = util::tempdir();
    let dir = util::db_path(&tmp);
    ziggy_out(&dir, &[], "SET a 1\nSET b 2\nSET c 3\n")?;
    let (mut child, lines) = lines_of(&dir, &["--stat", "-i", "0.1"])?;
    let wait = Duration::from_secs(60);
    let header = lines.recv_timeout(wait)?;
    assert!(header.starts_with("------- data ------"), "{header}");
    let columns = lines.recv_timeout(wait)?;
    assert_eq!(
        columns.split_whitespace().collect::<Vec<_>>(),
        ["keys", "disk", "mapped", "commits", "commands", "attached"]
    );
    let first = lines.recv_timeout(wait)?;
    let fields: Vec<&str> = first.split_whitespace().collect();
    assert_eq!(fields[0], "3", "{first}");
    assert_eq!(fields.last(), Some(&"1"), "one process attached: {first}");
    let commits: u64 = fields[3].parse()?;
    // Another process's commits show in the next lines, with the change.
    ziggy_out(&dir, &[], "SET d 4\nSET e 5\n")?;
    let deadline = Instant::now() + wait;
    loop {
        let line = lines.recv_timeout(wait)?;
        let fields: Vec<&str> = line.split_whitespace().collect();
        if fields.first() == Some(&"5") {
            let now: u64 = fields[3].parse()?;
            assert!(now >= commits + 2, "{line}");
            break;
        }
        assert!(Instant::now() < deadline, "no line with 5 keys");
    }
    child.kill()?;
    child.wait()?;
    Ok(())
}

#[test]
fn latency_prints_min_max_avg_and_samples_as_redis_cli_does() -> TestResult {
    let tmp = util::tempdir();
    let dir = util::db_path(&tmp);
    ziggy_out(&dir, &[], "SET a 1\n")?;
    for args in [
        &["--latency", "-i", "0.3"][..],
        &["--latency", "--latency-commit", "-i", "0.3"][..],
    ] {
        // Not on a terminal: one line after the interval, raw: min max avg samples.
        let out = ziggy_out(&dir, args, "")?;
        let fields: Vec<f64> = out
            .split_whitespace()
            .map(str::parse)
            .collect::<Result<_, _>>()?;
        assert_eq!(fields.len(), 4, "{out}");
        let [min, max, avg, count] = [fields[0], fields[1], fields[2], fields[3]];
        assert!(
            count >= 1.0 && min >= 0.0 && min <= avg && avg <= max,
            "{out}"
        );
    }
    let out = ziggy_out(&dir, &["--latency", "-i", "0.1", "--csv"], "")?;
    assert_eq!(out.trim_end().split(',').count(), 4, "{out}");
    // The commit probe leaves nothing behind.
    assert_eq!(ziggy_out(&dir, &["DBSIZE"], "")?, "1\n");
    // History: a line per interval, until interrupted.
    let (mut child, lines) = lines_of(&dir, &["--latency-history", "-i", "0.1"])?;
    for _ in 0..3 {
        let line = lines.recv_timeout(Duration::from_secs(60))?;
        assert_eq!(line.split_whitespace().count(), 4, "{line}");
    }
    child.kill()?;
    child.wait()?;
    Ok(())
}
