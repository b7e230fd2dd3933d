//! `ziggy`'s tools beyond one command at a time: scripts on standard input whose commands
//! share an fsync while every printed reply stays durable (a power cut after a printed reply
//! never loses its write).

use std::fs::File;
use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use ziggydb::testing::power_cut;
use ziggydb::{Db, Value};

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
