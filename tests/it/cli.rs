//! The `ziggy` binary as a user meets it: `--json` and `--csv` output, repeat counts, `-r`
//! and `-i`, `-x`, `HELP`, argument-count errors from the command table, and the interactive
//! shell driven through a pseudo-terminal (history, completion, hints, the `(TX)` prompt).

use std::io::{Read, Write};
use std::path::Path;
use std::process::{Child, ChildStdin, Command, Output, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::util::{self, TestResult};

/// Runs `ziggy -d DIR ARGS...` with `stdin` as its standard input.
fn ziggy(dir: &Path, args: &[&str], stdin: &[u8]) -> TestResult<Output> {
    let mut proc = Command::new(env!("CARGO_BIN_EXE_ziggy"))
        .arg("-d")
        .arg(dir)
        .args(args)
        .env_remove("ZIGGY_DIR")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()?;
    proc.stdin
        .take()
        .ok_or("stdin is piped")?
        .write_all(stdin)?;
    Ok(proc.wait_with_output()?)
}

/// Runs `ziggy`, checks it succeeded, and returns its standard output as text.
fn ziggy_ok(dir: &Path, args: &[&str], stdin: &str) -> TestResult<String> {
    let out = ziggy(dir, args, stdin.as_bytes())?;
    assert!(
        out.status.success(),
        "ziggy {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(String::from_utf8(out.stdout)?)
}

/// A script whose replies take every shape: status, integer, UTF-8 and binary strings, nil,
/// empty and nested arrays, errors inside an array, a nil array and an error.
const EVERY_SHAPE: &str = r#"SET s hello
INCR n
GET s
SET b "\xff\xfe"
GET b
GET nope
KEYS nomatch*
RPUSH l a "\xff"
MULTI
LRANGE l 0 -1
GET nope
INCR s
SCAN 0 MATCH [ls] COUNT 100
EXEC
WATCH s
SET s x
MULTI
EXEC
GET
"#;

#[test]
fn json_prints_one_value_per_reply_with_binary_strings_in_base64() -> TestResult {
    let tmp = util::tempdir();
    let out = ziggy_ok(&util::db_path(&tmp), &["--json"], EVERY_SHAPE)?;
    let expected = [
        r#""OK""#,
        "1",
        r#""hello""#,
        r#""OK""#,
        r#"{"$bytes_b64":"//4="}"#,
        "null",
        "[]",
        "2",
        r#""OK""#,
        r#""QUEUED""#,
        r#""QUEUED""#,
        r#""QUEUED""#,
        r#""QUEUED""#,
        concat!(
            r#"[["a",{"$bytes_b64":"/w=="}],null,"#,
            r#"{"error":"ERR value is not an integer or out of range"},"#,
            r#"["0",["l","s"]]]"#
        ),
        r#""OK""#,
        r#""OK""#,
        r#""OK""#,
        "null",
        r#"{"error":"ERR wrong number of arguments for 'get' command"}"#,
    ];
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines, expected);
    for line in lines {
        serde_json::from_str::<serde_json::Value>(line)
            .map_err(|e| format!("{line} is not JSON: {e}"))?;
    }
    Ok(())
}

#[test]
fn csv_prints_like_redis_cli() -> TestResult {
    let tmp = util::tempdir();
    let out = ziggy_ok(&util::db_path(&tmp), &["--csv"], EVERY_SHAPE)?;
    let expected = [
        r#""OK""#,
        "1",
        r#""hello""#,
        r#""OK""#,
        r#""\xff\xfe""#,
        "NULL",
        "",
        "2",
        r#""OK""#,
        r#""QUEUED""#,
        r#""QUEUED""#,
        r#""QUEUED""#,
        r#""QUEUED""#,
        concat!(
            r#""a","\xff",NULL,ERROR,"ERR value is not an integer or out of range","#,
            r#""0","l","s""#
        ),
        r#""OK""#,
        r#""OK""#,
        r#""OK""#,
        "NULL",
        r#"ERROR,"ERR wrong number of arguments for 'get' command""#,
    ];
    assert_eq!(out.lines().collect::<Vec<_>>(), expected);
    Ok(())
}

#[test]
fn one_shot_json_and_the_last_format_option_wins() -> TestResult {
    let tmp = util::tempdir();
    let dir = util::db_path(&tmp);
    assert_eq!(ziggy_ok(&dir, &["--json", "RPUSH", "l", "x"], "")?, "1\n");
    assert_eq!(
        ziggy_ok(&dir, &["--csv", "--json", "LRANGE", "l", "0", "-1"], "")?,
        "[\"x\"]\n"
    );
    assert_eq!(
        ziggy_ok(&dir, &["--json", "--raw", "LRANGE", "l", "0", "-1"], "")?,
        "x\n"
    );
    let out = ziggy(&dir, &["--json", "INCR", "l"], b"")?;
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        String::from_utf8(out.stdout)?,
        "{\"error\":\"WRONGTYPE Operation against a key holding the wrong kind of value\"}\n"
    );
    Ok(())
}

#[test]
fn a_leading_count_repeats_a_command_in_pipe_mode() -> TestResult {
    let tmp = util::tempdir();
    let script = "3 INCR n\nGET n\n0 INCR n\n-2 INCR n\n\"\" INCR n\n2 GET\n2 ECHO hi\n5\n";
    let out = ziggy_ok(&util::db_path(&tmp), &[], script)?;
    let invalid = "Invalid ziggy repeat command option value.\n";
    let arity = "ERR wrong number of arguments for 'get' command\n\n";
    assert_eq!(
        out,
        format!(
            "1\n2\n3\n3\n{invalid}{invalid}{invalid}{arity}{arity}hi\nhi\n\
             ERR unknown command '5', with args beginning with: \n\n"
        )
    );
    Ok(())
}

#[test]
fn dash_r_repeats_a_one_shot_command_every_dash_i_seconds() -> TestResult {
    let tmp = util::tempdir();
    let dir = util::db_path(&tmp);
    let started = Instant::now();
    assert_eq!(
        ziggy_ok(&dir, &["-r", "3", "-i", "0.2", "INCR", "n"], "")?,
        "1\n2\n3\n"
    );
    assert!(started.elapsed() >= Duration::from_millis(400));
    assert_eq!(ziggy_ok(&dir, &["-r", "0", "INCR", "n"], "")?, "");
    assert_eq!(ziggy_ok(&dir, &["GET", "n"], "")?, "3\n");

    // Any error reply makes the exit status 1; the repeats still run.
    let out = ziggy(&dir, &["-r", "2", "GET"], b"")?;
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        String::from_utf8(out.stdout)?,
        "ERR wrong number of arguments for 'get' command\n".repeat(2)
    );

    // -r without a command, or a bad interval, is a usage error.
    assert_eq!(ziggy(&dir, &["-r", "2"], b"")?.status.code(), Some(2));
    assert_eq!(
        ziggy(&dir, &["-i", "x", "PING"], b"")?.status.code(),
        Some(2)
    );
    Ok(())
}

#[test]
fn dash_r_minus_one_repeats_until_stopped() -> TestResult {
    let tmp = util::tempdir();
    let mut proc = Command::new(env!("CARGO_BIN_EXE_ziggy"))
        .arg("-d")
        .arg(util::db_path(&tmp))
        .args(["-r", "-1", "-i", "0.01", "INCR", "n"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .spawn()?;
    let mut stdout = proc.stdout.take().ok_or("stdout is piped")?;
    let mut seen = Vec::new();
    let mut buf = [0u8; 256];
    while !String::from_utf8_lossy(&seen).contains("\n20\n") {
        let n = stdout.read(&mut buf)?;
        assert!(n > 0, "ziggy stopped: {}", String::from_utf8_lossy(&seen));
        seen.extend_from_slice(&buf[..n]);
    }
    proc.kill()?;
    proc.wait()?;
    Ok(())
}

#[test]
fn dash_x_takes_the_last_argument_from_stdin_byte_for_byte() -> TestResult {
    let tmp = util::tempdir();
    let dir = util::db_path(&tmp);
    let value: &[u8] = b"line one\n\x00\xff\r\n\n";
    let out = ziggy(&dir, &["-x", "SET", "k"], value)?;
    assert!(out.status.success());
    assert_eq!(out.stdout, b"OK\n");
    let out = ziggy(&dir, &["--raw", "GET", "k"], b"")?;
    assert_eq!(out.stdout, [value, b"\n"].concat());
    assert_eq!(
        ziggy_ok(&dir, &["--json", "GET", "k"], "")?,
        "{\"$bytes_b64\":\"bGluZSBvbmUKAP8NCgo=\"}\n"
    );
    // The argument counts towards the arity: HSET h f + stdin is complete.
    assert_eq!(ziggy_ok(&dir, &["-x", "HSET", "h", "f"], "v")?, "1\n");
    assert_eq!(ziggy_ok(&dir, &["HGET", "h", "f"], "")?, "v\n");
    assert_eq!(ziggy(&dir, &["-x"], b"")?.status.code(), Some(2));
    Ok(())
}

#[test]
fn help_describes_commands_and_groups_from_the_table() -> TestResult {
    let tmp = util::tempdir();
    let dir = util::db_path(&tmp);
    assert_eq!(
        ziggy_ok(&dir, &["HELP", "get"], "")?,
        "\n  GET key\n  summary: Get the value of a key\n  group: string\n"
    );
    let short = ziggy_ok(&dir, &["help"], "")?;
    assert!(short.contains("\"help @<group>\""), "{short}");
    assert!(short.lines().count() < 20, "help starts short: {short}");
    let all = ziggy_ok(&dir, &["help", "@all"], "")?;
    for group in [
        "@generic",
        "@string",
        "@list",
        "@sorted-set",
        "@hash",
        "@server",
    ] {
        assert!(all.contains(&format!("\n{group}\n")), "{group} in {all}");
    }
    let hashes = ziggy_ok(&dir, &["help", "@hash"], "")?;
    assert!(
        hashes.contains("\n  HSET key field value [field value ...]\n"),
        "{hashes}"
    );
    assert!(!hashes.contains("GET key\n"), "{hashes}");
    let piped = ziggy_ok(
        &dir,
        &[],
        "HELP zadd\nHELP @nope\nHELP frobnicate\nHELP hgetal\n",
    )?;
    assert!(piped.starts_with("\n  ZADD key [NX|XX] [GT|LT] [CH] [INCR] score member"));
    assert!(piped.contains("  group: sorted-set\n"));
    assert!(piped.contains("no command group named '@nope'"));
    assert!(piped.contains("no command named 'frobnicate'; type help @all for the list\n"));
    assert!(piped.contains("no command named 'hgetal'; did you mean HGETALL?; type help"));
    for name in [
        "INFO", "CHECK", "REPAIR", "BACKUP", "EXPORT", "IMPORT", "COMPACT",
    ] {
        let text = ziggy_ok(&dir, &["help", name], "")?;
        assert!(text.contains("group: server"), "{name}: {text}");
    }
    Ok(())
}

/// Mistakes get a specific error and change nothing: an option ziggy lacks (exit 2), a read
/// on a directory that holds no database (none is created), a database under a missing
/// parent (never created), a path that is a file, and a misspelt command (with the nearest
/// names on standard error, standard output staying redis-cli's).
#[test]
fn the_cli_refuses_mistakes_and_creates_nothing_for_them() -> TestResult {
    let tmp = util::tempdir();
    let dir = util::db_path(&tmp);
    let out = ziggy(&dir, &["--frobnicate"], b"")?;
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("unknown option '--frobnicate'"),
        "{out:?}"
    );
    assert!(out.stdout.is_empty() && !dir.exists());
    for args in [&["GET", "a"][..], &["DBSIZE"], &["GETT", "a"]] {
        let out = ziggy(&dir, args, b"")?;
        assert_eq!(out.status.code(), Some(1), "{args:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("no database at"), "{args:?}: {err}");
        assert!(!dir.exists(), "{args:?} created {}", dir.display());
    }
    let out = ziggy(&dir, &["GETT", "a"], b"")?;
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("did you mean GET?"),
        "{out:?}"
    );
    let deep = tmp.path().join("missing").join("parent").join("db");
    let out = ziggy(&deep, &["SET", "a", "1"], b"")?;
    assert_eq!(out.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("does not create missing parents"),
        "{out:?}"
    );
    assert!(!tmp.path().join("missing").exists());
    let file = tmp.path().join("a-file");
    std::fs::write(&file, b"not a database")?;
    let out = ziggy(&file, &["SET", "a", "1"], b"")?;
    assert_eq!(out.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("not a directory"),
        "{out:?}"
    );
    assert_eq!(std::fs::read(&file)?, b"not a database");
    // Once a write made the database, a misspelt command is Redis's error plus a hint.
    assert_eq!(ziggy_ok(&dir, &["SET", "a", "1"], "")?, "OK\n");
    let out = ziggy(&dir, &["GTE", "a"], b"")?;
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        String::from_utf8(out.stdout)?,
        "ERR unknown command 'GTE', with args beginning with: 'a' \n"
    );
    assert_eq!(String::from_utf8(out.stderr)?, "(did you mean GET?)\n");
    Ok(())
}

/// redis-cli's tools: `--scan [--pattern] [--count]` lists keys one per line, `--pipe` runs
/// the Redis protocol from standard input in batches and prints redis-cli's summary (the
/// data durable when it does), and `-e` stops a script at its first failing command.
#[test]
fn scan_pipe_and_exit_on_error_work_as_redis_cli_s() -> TestResult {
    let tmp = util::tempdir();
    let dir = util::db_path(&tmp);
    let mut resp = Vec::new();
    for i in 0..25_000 {
        let (k, v) = (format!("key:{i}"), format!("v{i}"));
        resp.extend_from_slice(
            format!(
                "*3\r\n$3\r\nSET\r\n${}\r\n{k}\r\n${}\r\n{v}\r\n",
                k.len(),
                v.len()
            )
            .as_bytes(),
        );
    }
    // An error in the middle fails alone; an inline command and a command that is not a
    // data command (ending the batch) come through too.
    resp.extend_from_slice(
        b"*3\r\n$5\r\nLPUSH\r\n$5\r\nkey:7\r\n$1\r\nx\r\nINCR counter\r\nDBSIZE\r\n",
    );
    let out = ziggy(&dir, &["--pipe"], &resp)?;
    let text = String::from_utf8(out.stdout)?;
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(
        text.ends_with("errors: 1, replies: 25003\n"),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stderr).starts_with("WRONGTYPE"));
    // A fresh process sees every key: the batches were committed.
    assert_eq!(ziggy_ok(&dir, &["DBSIZE"], "")?, "25001\n");
    assert_eq!(ziggy_ok(&dir, &["GET", "key:24999"], "")?, "v24999\n");

    let listed = ziggy_ok(
        &dir,
        &["--scan", "--pattern", "key:1234*", "--count", "7"],
        "",
    )?;
    let mut keys: Vec<&str> = listed.lines().collect();
    keys.sort_unstable();
    let mut want: Vec<String> = (0..25_000)
        .map(|i| format!("key:{i}"))
        .filter(|k| k.starts_with("key:1234"))
        .collect();
    want.sort();
    assert_eq!(keys, want);
    assert_eq!(ziggy_ok(&dir, &["--scan"], "")?.lines().count(), 25_001);

    let script = "SET a 1\nLPUSH a x\nSET after 2\n";
    let out = ziggy(&dir, &["-e"], script.as_bytes())?;
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(ziggy_ok(&dir, &["EXISTS", "after"], "")?, "0\n");
    let out = ziggy(&dir, &[], script.as_bytes())?;
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(ziggy_ok(&dir, &["EXISTS", "after"], "")?, "1\n");
    Ok(())
}

#[test]
fn argument_counts_are_checked_against_the_table() -> TestResult {
    let tmp = util::tempdir();
    let dir = util::db_path(&tmp);
    ziggy_ok(&dir, &["SET", "x", "1"], "")?;
    for (args, name) in [
        (&["GET"][..], "get"),
        (&["GET", "a", "b"][..], "get"),
        (&["ZADD", "z", "1"][..], "zadd"),
        (&["HGETALL"][..], "hgetall"),
        (&["BACKUP"][..], "backup"),
        (&["DBSIZE", "x"][..], "dbsize"),
    ] {
        let out = ziggy(&dir, args, b"")?;
        assert_eq!(out.status.code(), Some(1), "{args:?}");
        assert_eq!(
            String::from_utf8(out.stdout)?,
            format!("ERR wrong number of arguments for '{name}' command\n"),
            "{args:?}"
        );
    }
    let out = ziggy(&dir, &["--no-raw", "REPAIR", "now"], b"")?;
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        String::from_utf8(out.stdout)?,
        "(error) ERR wrong number of arguments for 'repair' command\n"
    );
    Ok(())
}

#[test]
fn preferences_and_clear_print_nothing_on_a_pipe() -> TestResult {
    let tmp = util::tempdir();
    let out = ziggy_ok(
        &util::db_path(&tmp),
        &[],
        ":set hints\n:set nohints\nCLEAR\n:set colours\n:get\nPING\n",
    )?;
    assert_eq!(
        out,
        "unknown ziggy preference 'colours'\nunknown ziggy option ':get'\nPONG\n"
    );
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// The shell, through a pseudo-terminal

/// `ziggy` running in a pseudo-terminal made by util-linux `script`, with what it printed so
/// far collected by a thread.
struct Pty {
    proc: Child,
    stdin: ChildStdin,
    output: Arc<Mutex<Vec<u8>>>,
    /// How much of the output earlier expectations used up.
    seen: usize,
}

impl Pty {
    /// Starts the shell on `dir` with `env` set.
    fn start(dir: &Path, env: &[(&str, &Path)]) -> TestResult<Pty> {
        if Command::new("script").arg("--version").output().is_err() {
            return Err("the shell tests need util-linux `script` (Debian: bsdutils)".into());
        }
        // `exec`: the shell that `script` runs must not be there to see a Ctrl-C too (a
        // non-interactive sh that saw SIGINT exits with 130 after its child ends).
        let command = format!(
            "exec '{}' -d '{}'",
            env!("CARGO_BIN_EXE_ziggy"),
            dir.display()
        );
        let mut cmd = Command::new("script");
        cmd.args(["-qec", &command, "/dev/null"])
            .env("TERM", "xterm")
            .env("SHELL", "/bin/sh")
            .env_remove("ZIGGY_HISTFILE")
            .env_remove("ZIGGY_DIR");
        for (name, value) in env {
            cmd.env(name, value);
        }
        let mut proc = cmd
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()?;
        let stdin = proc.stdin.take().ok_or("stdin is piped")?;
        let mut stdout = proc.stdout.take().ok_or("stdout is piped")?;
        let output = Arc::new(Mutex::new(Vec::new()));
        let sink = Arc::clone(&output);
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n) = stdout.read(&mut buf) {
                if n == 0 {
                    break;
                }
                sink.lock().unwrap().extend_from_slice(&buf[..n]);
            }
        });
        Ok(Pty {
            proc,
            stdin,
            output,
            seen: 0,
        })
    }

    /// Waits until `text` appears after what earlier expectations used up, and uses up the
    /// output to its end.
    fn expect(&mut self, text: &str) -> TestResult {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            {
                let out = self.output.lock().unwrap();
                let rest = &out[self.seen.min(out.len())..];
                if let Some(at) = rest.windows(text.len()).position(|w| w == text.as_bytes()) {
                    self.seen += at + text.len();
                    return Ok(());
                }
                if Instant::now() > deadline {
                    return Err(format!(
                        "no {text:?} in the shell's output after {:?}",
                        String::from_utf8_lossy(rest)
                    )
                    .into());
                }
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Types `keys`.
    fn send(&mut self, keys: &str) -> TestResult {
        self.stdin.write_all(keys.as_bytes())?;
        self.stdin.flush()?;
        Ok(())
    }

    /// Types Ctrl-D at an empty prompt and waits for the shell to exit.
    fn exit(mut self) -> TestResult {
        self.send("\x04")?;
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(status) = self.proc.try_wait()? {
                assert!(status.success(), "the shell exited with {status}");
                return Ok(());
            }
            if Instant::now() > deadline {
                self.proc.kill()?;
                return Err("the shell did not exit on Ctrl-D".into());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Pty {
    /// A failed test must not leave the shell waiting for input.
    fn drop(&mut self) {
        if let Ok(None) = self.proc.try_wait() {
            let _ = self.proc.kill();
            let _ = self.proc.wait();
        }
    }
}

#[test]
fn shell_keeps_history_completes_hints_and_shows_the_transaction() -> TestResult {
    let tmp = util::tempdir();
    let dir = util::db_path(&tmp);
    let home = tmp.path().join("home");
    std::fs::create_dir(&home)?;
    let mut sh = Pty::start(&dir, &[("HOME", &home)])?;
    sh.expect("db> ")?;
    sh.send("SET greeting hi\r")?;
    sh.expect("OK")?;
    sh.expect("db> ")?;
    sh.send("BEGIN\r")?;
    sh.expect("db(TX)> ")?;
    sh.send("SET other 1\r")?;
    sh.expect("OK")?;
    sh.expect("db(TX)> ")?;
    sh.send("COMMIT\r")?;
    sh.expect("OK")?;
    sh.expect("db> ")?;
    // Tab completes a key name, then the command runs with it.
    sh.send("GET gree\t")?;
    sh.expect("GET greeting")?;
    sh.send("\r")?;
    sh.expect("\"hi\"")?;
    sh.expect("db> ")?;
    // A hint shows the arguments still to type, in grey; Ctrl-C drops the line.
    sh.send("INCRBY ")?;
    sh.expect("\x1b[90mkey increment")?;
    sh.send("\x03")?;
    sh.expect("db> ")?;
    // Tab completes a command name typed in lower case.
    sh.send("dbsi\t")?;
    sh.expect("dbsize")?;
    sh.send("\r")?;
    sh.expect("(integer) 2")?;
    sh.expect("db> ")?;
    sh.exit()?;

    let history = std::fs::read_to_string(home.join(".ziggy_history"))?;
    for line in ["SET greeting hi", "BEGIN", "GET greeting", "dbsize"] {
        assert!(history.lines().any(|l| l == line), "{line} in {history:?}");
    }
    assert!(!history.contains("INCRBY"), "a cancelled line is not kept");

    // The next run recalls the last line with the up arrow.
    let mut sh = Pty::start(&dir, &[("HOME", &home)])?;
    sh.expect("db> ")?;
    sh.send("\x1b[A")?;
    sh.expect("dbsize")?;
    sh.send("\r")?;
    sh.expect("(integer) 2")?;
    sh.expect("db> ")?;
    sh.exit()
}

/// `help` starts short, as redis-cli's; a list of commands (`help @group`, `help @all`) goes
/// through `$PAGER` on a terminal and never when standard output is not one; the prompt shows
/// the selected database as redis-cli's does (`[3]`, then `(TX)`), and `-n` selects it.
#[test]
fn help_pages_long_lists_on_a_terminal_only_and_the_prompt_shows_the_database() -> TestResult {
    let tmp = util::tempdir();
    let dir = util::db_path(&tmp);
    let home = tmp.path().join("home");
    std::fs::create_dir(&home)?;
    let paged = tmp.path().join("paged.txt");
    let pager = format!("cat >> '{}'; echo PAGER-DONE", paged.display());

    // Not a terminal: printed as it is, the pager never started.
    let out = Command::new(env!("CARGO_BIN_EXE_ziggy"))
        .arg("-d")
        .arg(&dir)
        .args(["help", "@list"])
        .env_remove("ZIGGY_DIR")
        .env("PAGER", &pager)
        .stdin(Stdio::null())
        .output()?;
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout)?;
    assert!(
        text.contains("\n  LPUSH key element [element ...]\n"),
        "{text}"
    );
    assert!(!text.contains("PAGER-DONE") && !paged.exists(), "{text}");
    let short = ziggy_ok(&dir, &["help"], "")?;
    assert!(short.starts_with("ziggy "), "{short}");
    assert!(
        short.contains("To get help about ZiggyDB commands type:"),
        "{short}"
    );
    assert!(short.lines().count() <= 16, "{short}");

    // A terminal: the list goes through the pager; one command's help does not.
    let mut sh = Pty::start(&dir, &[("HOME", &home), ("PAGER", Path::new(&pager))])?;
    sh.expect("db> ")?;
    sh.send("help @list\r")?;
    sh.expect("PAGER-DONE")?;
    sh.expect("db> ")?;
    sh.send("help get\r")?;
    sh.expect("summary: Get the value of a key")?;
    sh.expect("db> ")?;
    sh.send("SELECT 3\r")?;
    sh.expect("OK")?;
    sh.expect("db[3]> ")?;
    sh.send("SET k three\r")?;
    sh.expect("OK")?;
    sh.send("MULTI\r")?;
    sh.expect("db[3](TX)> ")?;
    sh.send("DISCARD\r")?;
    sh.expect("db[3]> ")?;
    sh.exit()?;
    let paged = std::fs::read_to_string(&paged)?;
    assert!(
        paged.contains("\n  LPUSH key element [element ...]\n"),
        "{paged}"
    );
    assert!(
        !paged.contains("group: string"),
        "one command's help is not paged"
    );

    // -n selects the database for a one-shot command.
    assert_eq!(ziggy_ok(&dir, &["-n", "3", "GET", "k"], "")?, "three\n");
    assert_eq!(ziggy_ok(&dir, &["GET", "k"], "")?, "\n");
    let out = ziggy(&dir, &["-n", "16", "GET", "k"], b"")?;
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("DB index is out of range"));
    Ok(())
}

/// Waits until `n` blocking commands wait on `dir` (in live processes).
fn wait_for_waiters(db: &ziggydb::Db, n: u64) -> TestResult {
    let deadline = Instant::now() + Duration::from_secs(60);
    while db.metrics().waiters != n {
        if Instant::now() > deadline {
            return Err(format!("waiters never became {n}").into());
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    Ok(())
}

#[test]
fn ctrl_c_ends_a_blocked_command_and_the_shell_goes_on() -> TestResult {
    let tmp = util::tempdir();
    let dir = util::db_path(&tmp);
    let db = ziggydb::Db::open(&dir)?;
    let mut sh = Pty::start(&dir, &[("HOME", tmp.path())])?;
    sh.expect("db> ")?;
    sh.send("BLPOP jobs 0\r")?;
    wait_for_waiters(&db, 1)?;
    sh.send("\x03")?;
    sh.expect("(interrupted)")?;
    sh.expect("db> ")?;
    // The waiter is gone: a push stays in the list, and the shell still answers.
    wait_for_waiters(&db, 0)?;
    db.transaction(|tx| tx.list(b"jobs").push_back(&["j"]))?;
    assert_eq!(db.list(b"jobs").len()?, 1);
    sh.send("BLPOP jobs 0\r")?;
    sh.expect("\"j\"")?;
    sh.expect("db> ")?;
    sh.exit()
}

#[test]
fn sigint_ends_the_wait_of_a_script_and_of_a_one_shot_command_cleanly() -> TestResult {
    let tmp = util::tempdir();
    let dir = util::db_path(&tmp);
    let db = ziggydb::Db::open(&dir)?;
    for script in [None, Some("SET before 1\nBLPOP jobs 0\nSET after 1\n")] {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_ziggy"));
        cmd.arg("-d").arg(&dir);
        if script.is_none() {
            cmd.args(["BLPOP", "jobs", "0"]);
        }
        let mut child = cmd
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()?;
        let mut stdin = child.stdin.take().ok_or("stdin is piped")?;
        if let Some(script) = script {
            stdin.write_all(script.as_bytes())?;
        }
        wait_for_waiters(&db, 1)?;
        let pid = libc::pid_t::try_from(child.id())?;
        // SAFETY: kill(2) only sends a signal to our child, not yet reaped.
        assert_eq!(unsafe { libc::kill(pid, libc::SIGINT) }, 0);
        drop(stdin);
        let out = child.wait_with_output()?;
        assert_eq!(out.status.code(), Some(130), "{out:?}");
        assert_eq!(String::from_utf8_lossy(&out.stderr), "ziggy: interrupted\n");
        // The script stops there: its next line never ran.
        assert!(!db.exists(b"after")?);
        assert_eq!(db.metrics().waiters, 0);
    }
    assert!(db.exists(b"before")?);
    // Without a blocking command running, SIGINT ends the process as it always did.
    let mut child = Command::new(env!("CARGO_BIN_EXE_ziggy"))
        .arg("-d")
        .arg(&dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()?;
    std::thread::sleep(Duration::from_millis(300));
    let pid = libc::pid_t::try_from(child.id())?;
    // SAFETY: as above.
    assert_eq!(unsafe { libc::kill(pid, libc::SIGINT) }, 0);
    let status = child.wait()?;
    use std::os::unix::process::ExitStatusExt as _;
    assert_eq!(status.signal(), Some(libc::SIGINT), "{status:?}");
    Ok(())
}

#[test]
fn shell_history_goes_to_ziggy_histfile_or_nowhere() -> TestResult {
    let tmp = util::tempdir();
    let dir = util::db_path(&tmp);
    let home = tmp.path().join("home");
    std::fs::create_dir(&home)?;
    let custom = tmp.path().join("custom_history");
    let mut sh = Pty::start(&dir, &[("HOME", &home), ("ZIGGY_HISTFILE", &custom)])?;
    sh.expect("db> ")?;
    sh.send("MULTI\r")?;
    sh.expect("db(TX)> ")?;
    sh.send("ECHO queued\r")?;
    sh.expect("QUEUED")?;
    sh.send("EXEC\r")?;
    sh.expect("\"queued\"")?;
    sh.expect("db> ")?;
    sh.exit()?;
    let history = std::fs::read_to_string(&custom)?;
    assert!(history.lines().any(|l| l == "ECHO queued"), "{history:?}");
    assert!(!home.join(".ziggy_history").exists());

    let mut sh = Pty::start(
        &dir,
        &[("HOME", &home), ("ZIGGY_HISTFILE", Path::new("/dev/null"))],
    )?;
    sh.expect("db> ")?;
    sh.send("PING\r")?;
    sh.expect("PONG")?;
    sh.expect("db> ")?;
    sh.exit()?;
    assert!(!home.join(".ziggy_history").exists());
    assert_eq!(std::fs::read_to_string(&custom)?, history);
    Ok(())
}

#[test]
fn the_directory_defaults_to_ziggy_dir_then_ziggy_db() -> TestResult {
    let tmp = util::tempdir();
    let run = |env_dir: Option<&Path>, args: &[&str]| -> TestResult<Output> {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_ziggy"));
        cmd.current_dir(tmp.path())
            .args(args)
            .env_remove("ZIGGY_DIR");
        if let Some(dir) = env_dir {
            cmd.env("ZIGGY_DIR", dir);
        }
        Ok(cmd.stdin(Stdio::null()).output()?)
    };
    assert_eq!(run(None, &["SET", "a", "1"])?.stdout, b"OK\n");
    assert!(tmp.path().join("ziggy.db").is_dir());
    let elsewhere = tmp.path().join("elsewhere");
    // A read does not create a database; a write does.
    let read = run(Some(&elsewhere), &["GET", "a"])?;
    assert_eq!(read.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&read.stderr).contains("no database at"),
        "{read:?}"
    );
    assert!(!elsewhere.exists());
    assert_eq!(run(Some(&elsewhere), &["SET", "b", "2"])?.stdout, b"OK\n");
    assert_eq!(run(Some(&elsewhere), &["GET", "a"])?.stdout, b"\n");
    assert!(elsewhere.is_dir());
    assert_eq!(
        run(Some(&elsewhere), &["-d", "ziggy.db", "GET", "a"])?.stdout,
        b"1\n"
    );
    let version = run(None, &["--version"])?;
    assert_eq!(
        String::from_utf8(version.stdout)?,
        format!("ziggy {}\n", env!("CARGO_PKG_VERSION"))
    );
    Ok(())
}

#[test]
fn the_shell_subscribes_as_redis_cli_does_and_ctrl_c_ends_it() -> TestResult {
    let tmp = util::tempdir();
    let dir = util::db_path(&tmp);
    let db = ziggydb::Db::open(&dir)?;
    let home = tmp.path().join("home");
    std::fs::create_dir(&home)?;
    let mut sh = Pty::start(
        &dir,
        &[("HOME", &home), ("ZIGGY_HISTFILE", Path::new("/dev/null"))],
    )?;
    sh.expect("db> ")?;
    sh.send("SUBSCRIBE news\r")?;
    sh.expect("Reading messages... (press Ctrl-C to quit)")?;
    sh.expect("1) \"subscribe\"")?;
    sh.expect("3) (integer) 1")?;
    let deadline = Instant::now() + Duration::from_secs(20);
    while db.publish("news", "hello")? != 1 {
        assert!(Instant::now() < deadline, "the shell's subscription counts");
        std::thread::sleep(Duration::from_millis(10));
    }
    sh.expect("1) \"message\"")?;
    sh.expect("2) \"news\"")?;
    sh.expect("3) \"hello\"")?;
    // Ctrl-C on the terminal ends it, as it ends redis-cli.
    sh.send("\x03")?;
    let deadline = Instant::now() + Duration::from_secs(20);
    while sh.proc.try_wait()?.is_none() {
        assert!(Instant::now() < deadline, "the shell ends at Ctrl-C");
        std::thread::sleep(Duration::from_millis(20));
    }
    while db.publish("news", "gone")? != 0 {
        assert!(Instant::now() < deadline, "its subscription ended with it");
        std::thread::sleep(Duration::from_millis(10));
    }
    Ok(())
}
