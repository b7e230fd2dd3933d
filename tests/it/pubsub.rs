//! Pub/Sub across processes (format-spec.md §5.4): subscribers and publishers in separate
//! processes, patterns, PUBLISH's count and PUBSUB across processes, a dead subscriber's
//! entries reclaimed, a subscriber overrun by the ring, a publisher killed mid-message, the
//! command layer's reply shapes and the `ziggy` shell's SUBSCRIBE.

use std::collections::HashMap;
use std::path::Path;
use std::time::{Duration, Instant};

use ziggydb::commands::{Protocol, Reply, Session};
use ziggydb::{Db, ErrorCode};

use crate::util::{self, child_role, end_child, report, Child, TestResult};

const LONG: Duration = Duration::from_secs(60);

fn list(var: &str) -> Vec<String> {
    std::env::var(var)
        .unwrap_or_default()
        .split(',')
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect()
}

/// Child: subscribes to `PS_CHANNELS`, `PS_PATTERNS` and the shard channels `PS_SHARDS`
/// (comma-separated), reports `READY`,
/// waits for a line on stdin if `PS_WAIT_GO` is set, then reports each of `PS_COUNT`
/// messages as `MSG channel pattern-or-- payload` (`!` for the pattern of a shard channel's
/// message). A subscriber overrun reports
/// `OVERRUN code subscriptions`, subscribes again, reports `AGAIN`, and reports one more
/// message.
#[test]
fn child_subscriber() {
    let Some(dir) = child_role("pubsub-subscriber") else {
        return;
    };
    end_child((|| -> TestResult {
        let db = Db::open(&dir)?;
        let mut sub = db.subscriber()?;
        sub.subscribe(&list("PS_CHANNELS"))?;
        sub.psubscribe(&list("PS_PATTERNS"))?;
        sub.ssubscribe(&list("PS_SHARDS"))?;
        report("READY");
        if std::env::var("PS_WAIT_GO").is_ok() {
            util::read_command();
        }
        let count: u64 = util::child_param("PS_COUNT");
        let mut got = 0;
        while got < count {
            match sub.next_message(Some(LONG)) {
                Ok(Some(m)) => {
                    got += 1;
                    report(format!(
                        "MSG {} {} {}",
                        String::from_utf8_lossy(&m.channel),
                        if m.shard {
                            "!".into()
                        } else {
                            m.pattern
                                .as_deref()
                                .map_or("-".into(), String::from_utf8_lossy)
                        },
                        String::from_utf8_lossy(&m.payload)
                    ));
                }
                Ok(None) => return Err(format!("no message within {LONG:?}").into()),
                Err(e) if e.kind() == ErrorCode::SubscriberOverrun => {
                    report(format!("OVERRUN {} {}", e.name(), sub.subscription_count()));
                    sub.subscribe(&list("PS_CHANNELS"))?;
                    report("AGAIN");
                    got = count - 1;
                }
                Err(e) => return Err(e.into()),
            }
        }
        Ok(())
    })());
}

/// Child: publishes `PS_N` messages `PS_PREFIX:i` (padded with dots to `PS_SIZE` bytes) to
/// `PS_CHANNEL`, and reports `COUNTS min max` of what PUBLISH returned.
#[test]
fn child_publisher() {
    let Some(dir) = child_role("pubsub-publisher") else {
        return;
    };
    end_child((|| -> TestResult {
        let db = Db::open(&dir)?;
        let channel: String = util::child_param("PS_CHANNEL");
        let prefix: String = util::child_param("PS_PREFIX");
        let n: u64 = util::child_param("PS_N");
        let size: usize = util::child_param("PS_SIZE");
        if std::env::var("PS_WAIT_GO").is_ok() {
            report("READY");
            util::read_command();
        }
        let (mut min, mut max) = (u64::MAX, 0);
        for i in 0..n {
            let mut msg = format!("{prefix}:{i}");
            while msg.len() < size {
                msg.push('.');
            }
            let c = db.publish(&channel, &msg)?;
            min = min.min(c);
            max = max.max(c);
        }
        report(format!("COUNTS {min} {max}"));
        Ok(())
    })());
}

fn subscriber(dir: &Path, channels: &str, patterns: &str, count: u64) -> Child {
    let env = [
        ("PS_CHANNELS", channels.to_string()),
        ("PS_PATTERNS", patterns.to_string()),
        ("PS_COUNT", count.to_string()),
    ];
    let mut c = Child::spawn("pubsub::child_subscriber", "pubsub-subscriber", dir, &env);
    c.expect("READY", LONG);
    c
}

/// The `MSG` lines a subscriber reported, then its `PASS`.
fn messages(c: &mut Child) -> TestResult<Vec<String>> {
    let lines = c.finish(LONG)?;
    Ok(lines
        .into_iter()
        .filter_map(|l| l.strip_prefix("MSG ").map(str::to_owned))
        .collect())
}

fn open(dir: &Path) -> TestResult<Db> {
    Ok(Db::open(dir)?)
}

#[test]
fn a_message_published_in_one_process_reaches_a_subscriber_in_another() -> TestResult {
    let tmp = util::tempdir();
    let dir = util::db_path(&tmp);
    let db = open(&dir)?;
    let mut sub = subscriber(&dir, "news", "", 2);
    assert_eq!(db.publish("news", "hello")?, 1);
    assert_eq!(db.publish("sports", "not for it")?, 0);
    assert_eq!(db.publish("news", "again")?, 1);
    assert_eq!(
        messages(&mut sub)?,
        ["news - hello", "news - again"].map(String::from)
    );
    Ok(())
}

#[test]
fn every_subscriber_in_every_process_gets_every_message_in_publish_order() -> TestResult {
    let tmp = util::tempdir();
    let dir = util::db_path(&tmp);
    let db = open(&dir)?;
    const N: u64 = 300;
    let mut subs = [
        subscriber(&dir, "jobs", "", 2 * N),
        subscriber(&dir, "jobs,other", "", 2 * N),
        subscriber(&dir, "", "j*", 2 * N),
    ];
    let mut pubs: Vec<Child> = (0..2)
        .map(|p| {
            let env = [
                ("PS_CHANNEL", "jobs".to_string()),
                ("PS_PREFIX", format!("p{p}")),
                ("PS_N", N.to_string()),
                ("PS_SIZE", (20 + 100 * p).to_string()),
                ("PS_WAIT_GO", "1".to_string()),
            ];
            let mut c = Child::spawn("pubsub::child_publisher", "pubsub-publisher", &dir, &env);
            c.expect("READY", LONG);
            c
        })
        .collect();
    for p in &mut pubs {
        p.send("go");
    }
    for p in &mut pubs {
        let lines = p.finish(LONG)?;
        assert!(
            lines.iter().any(|l| l == "COUNTS 3 3"),
            "every publish reaches the three subscribers: {lines:?}"
        );
    }
    for (i, s) in subs.iter_mut().enumerate() {
        let got = messages(s)?;
        assert_eq!(got.len() as u64, 2 * N, "subscriber {i}");
        let mut next: HashMap<String, u64> = HashMap::new();
        for m in &got {
            let mut w = m.split(' ');
            let (channel, pattern, payload) = (w.next(), w.next(), w.next().unwrap_or(""));
            assert_eq!(channel, Some("jobs"));
            assert_eq!(pattern, Some(if i == 2 { "j*" } else { "-" }));
            let body = payload.trim_end_matches('.');
            let (publisher, seq) = body.split_once(':').ok_or("payload publisher:seq")?;
            let want = next.entry(publisher.to_string()).or_default();
            assert_eq!(
                seq.parse::<u64>()?,
                *want,
                "subscriber {i}, publisher {publisher}"
            );
            *want += 1;
        }
        assert_eq!(next.get("p0"), Some(&N));
        assert_eq!(next.get("p1"), Some(&N));
    }
    drop(db);
    Ok(())
}

#[test]
fn patterns_match_as_redis_globs_and_each_match_is_delivered_and_counted() -> TestResult {
    let tmp = util::tempdir();
    let dir = util::db_path(&tmp);
    let db = open(&dir)?;
    let mut sub = subscriber(&dir, "user:1", "user:*,user:?,*:2,[^u]*", 8);
    assert_eq!(
        db.publish("user:1", "a")?,
        3,
        "the channel and two patterns"
    );
    assert_eq!(db.publish("user:2", "b")?, 3, "three patterns");
    assert_eq!(db.publish("user:10", "c")?, 1, "user:* alone");
    assert_eq!(db.publish("x", "d")?, 1, "[^u]* alone");
    assert_eq!(db.publish("nothing:here", "e")?, 1, "[^u]* alone");
    assert_eq!(db.publish("user", "f")?, 0);
    let got = messages(&mut sub)?;
    assert_eq!(
        got,
        [
            "user:1 - a",
            "user:1 user:* a",
            "user:1 user:? a",
            "user:2 user:* b",
            "user:2 user:? b",
            "user:2 *:2 b",
            "user:10 user:* c",
            "x [^u]* d",
        ]
        .map(String::from)
    );
    Ok(())
}

/// Publishes to `channel` until PUBLISH counts `want` receivers; false if it still does not
/// after a minute.
fn publish_until(db: &Db, channel: &str, want: u64) -> TestResult<bool> {
    let deadline = Instant::now() + LONG;
    while Instant::now() < deadline {
        if db.publish(channel, "probe")? == want {
            return Ok(true);
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    Ok(false)
}

#[test]
fn pubsub_counts_span_processes_and_drop_when_a_subscriber_process_dies() -> TestResult {
    let tmp = util::tempdir();
    let dir = util::db_path(&tmp);
    let db = open(&dir)?;
    let mut a = subscriber(&dir, "a,b", "n*", 1_000_000);
    let mut b = subscriber(&dir, "a", "n*,m*", 1_000_000);
    let channels = |p: Option<&[u8]>| -> TestResult<Vec<String>> {
        Ok(db
            .pubsub_channels(p)?
            .into_iter()
            .map(|c| String::from_utf8(c).expect("utf-8"))
            .collect())
    };
    assert_eq!(channels(None)?, ["a", "b"]);
    assert_eq!(channels(Some(b"b*"))?, ["b"]);
    assert_eq!(db.pubsub_numsub(&["a", "b", "c"])?, [2, 1, 0]);
    assert_eq!(db.pubsub_numpat()?, 2);
    assert_eq!(db.publish("a", "x")?, 2);
    assert_eq!(db.publish("nx", "x")?, 2, "n* in each process");

    a.kill();
    assert!(
        publish_until(&db, "a", 1)?,
        "the dead process stops counting"
    );
    assert_eq!(db.pubsub_numsub(&["a", "b", "c"])?, [1, 0, 0]);
    assert_eq!(channels(None)?, ["a"]);
    assert_eq!(db.pubsub_numpat()?, 2, "m* and n* in the live process");
    assert_eq!(db.publish("nx", "x")?, 1);

    b.kill();
    assert!(publish_until(&db, "a", 0)?);
    assert!(channels(None)?.is_empty());
    assert_eq!(db.pubsub_numpat()?, 0);
    Ok(())
}

#[test]
fn a_subscriber_overrun_by_the_ring_ends_with_an_error_and_publishers_never_wait() -> TestResult {
    let tmp = util::tempdir();
    let dir = util::db_path(&tmp);
    let db = open(&dir)?;
    let env = [
        ("PS_CHANNELS", "flood".to_string()),
        ("PS_PATTERNS", String::new()),
        ("PS_COUNT", "3".to_string()),
        ("PS_WAIT_GO", "1".to_string()),
    ];
    let mut sub = Child::spawn("pubsub::child_subscriber", "pubsub-subscriber", &dir, &env);
    sub.expect("READY", LONG);
    // Stopped outright: it cannot read, and no publish may wait for it.
    sub.signal(libc::SIGSTOP);
    // More one-slot messages than the ring has slots (32768).
    for i in 0..40_000u32 {
        assert_eq!(db.publish("flood", format!("m{i}"))?, 1);
    }
    sub.signal(libc::SIGCONT);
    sub.send("go");
    // Its first read finds the ring overwritten (each message took one of the 32768 slots):
    // the subscription is over, with the error and no message.
    let over = sub.expect("OVERRUN", LONG);
    assert_eq!(over, "SUBSCRIBER_OVERRUN 0");
    sub.expect("AGAIN", LONG);
    assert_eq!(db.publish("flood", "after")?, 1);
    assert_eq!(messages(&mut sub)?, ["flood - after"]);
    assert_eq!(db.pubsub_numsub(&["flood"])?, [0]);
    Ok(())
}

#[test]
fn a_publisher_killed_mid_message_leaves_no_torn_message_and_no_lock() -> TestResult {
    let tmp = util::tempdir();
    let dir = util::db_path(&tmp);
    let db = open(&dir)?;
    let mut sub = db.subscribe(&["c"])?;
    let env = [
        ("PS_CHANNEL", "c".to_string()),
        ("PS_PREFIX", "torn".to_string()),
        ("PS_N", "1".to_string()),
        ("PS_SIZE", "3000".to_string()),
        ("ZIGGY_TEST_STOP", "pubsub-publish".to_string()),
    ];
    let mut publisher = Child::spawn("pubsub::child_publisher", "pubsub-publisher", &dir, &env);
    let deadline = Instant::now() + LONG;
    while !is_stopped(publisher.id()) {
        assert!(Instant::now() < deadline, "the publisher stops mid-message");
        assert!(publisher.try_status().is_none(), "{}", publisher.stderr());
        std::thread::sleep(Duration::from_millis(5));
    }
    // Stopped with the first slot of its message written and the lock held; nothing is
    // published yet.
    assert_eq!(sub.next_message(Some(Duration::from_millis(100)))?, None);
    publisher.kill();
    // The kernel released its lock; the next publisher writes over the torn slots.
    assert_eq!(db.publish("c", "whole")?, 1);
    let m = sub
        .next_message(Some(LONG))?
        .ok_or("the whole message arrives")?;
    assert_eq!(
        (m.channel.as_slice(), m.payload.as_slice()),
        (&b"c"[..], &b"whole"[..])
    );
    assert_eq!(sub.next_message(Some(Duration::from_millis(100)))?, None);
    Ok(())
}

/// Whether every thread of process `pid` is stopped.
fn is_stopped(pid: u32) -> bool {
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return false;
    };
    let mut any = false;
    let all = tasks.flatten().all(|t| {
        any = true;
        let stat = std::fs::read_to_string(t.path().join("stat")).unwrap_or_default();
        stat.rfind(')')
            .and_then(|i| stat[i + 1..].trim_start().chars().next())
            .is_some_and(|c| c == 'T' || c == 't')
    });
    any && all
}

#[test]
fn a_message_too_large_or_a_name_too_long_is_a_clear_error() -> TestResult {
    let tmp = util::tempdir();
    let db = open(&util::db_path(&tmp))?;
    let big = vec![b'x'; ziggydb::MAX_MESSAGE];
    let e = db.publish("c", &big).expect_err("too large");
    assert_eq!(e.kind(), ErrorCode::ValueTooLarge, "{e}");
    assert_eq!(db.publish("", &big[1..])?, 0, "exactly the limit is fine");
    let name = vec![b'n'; ziggydb::MAX_CHANNEL_NAME + 1];
    let e = db.subscribe(&[&name]).expect_err("too long");
    assert_eq!(e.kind(), ErrorCode::InvalidArgument, "{e}");
    assert!(e.to_string().contains("longer than the 224 bytes"), "{e}");
    Ok(())
}

fn run(s: &mut Session, line: &str) -> Reply {
    let args: Vec<&[u8]> = line.split(' ').map(str::as_bytes).collect();
    s.execute(&args)
}

fn push(words: &[&str], n: Option<i64>) -> Reply {
    let mut v: Vec<Reply> = words.iter().map(|w| Reply::bulk(*w)).collect();
    if let Some(n) = n {
        v.push(Reply::Int(n));
    }
    Reply::Push(v)
}

#[test]
fn the_session_replies_as_redis_and_refuses_other_commands_while_subscribed() -> TestResult {
    let tmp = util::tempdir();
    let db = open(&util::db_path(&tmp))?;
    let mut s = Session::new(&db, Default::default());
    let mut other = Session::new(&db, Default::default());
    assert_eq!(
        run(&mut s, "UNSUBSCRIBE"),
        Reply::Push(vec![Reply::bulk("unsubscribe"), Reply::Nil, Reply::Int(0)])
    );
    assert_eq!(s.next_push(Some(Duration::ZERO)), None);
    assert_eq!(
        run(&mut s, "SUBSCRIBE a b"),
        push(&["subscribe", "a"], Some(1))
    );
    assert_eq!(
        s.next_push(Some(Duration::ZERO)),
        Some(push(&["subscribe", "b"], Some(2)))
    );
    assert_eq!(
        run(&mut s, "PSUBSCRIBE a*"),
        push(&["psubscribe", "a*"], Some(3))
    );
    assert!(s.is_subscribed());
    assert_eq!(
        run(&mut s, "GET k"),
        Reply::error(
            "ERR Can't execute 'get': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / \
             RESET are allowed in this context"
        )
    );
    assert_eq!(
        run(&mut s, "PING"),
        Reply::Array(vec![Reply::bulk("pong"), Reply::bulk("")])
    );
    assert_eq!(run(&mut other, "PUBLISH a hi"), Reply::Int(2));
    assert_eq!(
        run(&mut other, "PUBSUB NUMSUB a b c"),
        Reply::Array(vec![
            Reply::bulk("a"),
            Reply::Int(1),
            Reply::bulk("b"),
            Reply::Int(1),
            Reply::bulk("c"),
            Reply::Int(0)
        ])
    );
    assert_eq!(run(&mut other, "PUBSUB NUMPAT"), Reply::Int(1));
    assert_eq!(
        run(&mut other, "PUBSUB CHANNELS"),
        Reply::Array(vec![Reply::bulk("a"), Reply::bulk("b")])
    );
    assert_eq!(
        run(&mut other, "PUBSUB NOPE"),
        Reply::error("ERR unknown subcommand 'NOPE'. Try PUBSUB HELP.")
    );
    let wait = Some(Duration::from_secs(10));
    assert_eq!(s.next_push(wait), Some(push(&["message", "a", "hi"], None)));
    assert_eq!(
        s.next_push(wait),
        Some(push(&["pmessage", "a*", "a", "hi"], None))
    );
    // Encoded as Redis sends them: an array in RESP2, a push in RESP3.
    let mut out = Vec::new();
    push(&["message", "a", "hi"], None).encode(Protocol::Resp2, &mut out);
    assert_eq!(out, b"*3\r\n$7\r\nmessage\r\n$1\r\na\r\n$2\r\nhi\r\n");
    out.clear();
    push(&["message", "a", "hi"], None).encode(Protocol::Resp3, &mut out);
    assert_eq!(out, b">3\r\n$7\r\nmessage\r\n$1\r\na\r\n$2\r\nhi\r\n");

    assert_eq!(
        run(&mut s, "UNSUBSCRIBE"),
        push(&["unsubscribe", "a"], Some(2))
    );
    assert_eq!(
        s.next_push(Some(Duration::ZERO)),
        Some(push(&["unsubscribe", "b"], Some(1)))
    );
    assert_eq!(
        run(&mut s, "PUNSUBSCRIBE a*"),
        push(&["punsubscribe", "a*"], Some(0))
    );
    assert!(!s.is_subscribed());
    assert_eq!(run(&mut s, "PING"), Reply::Status("PONG".into()));
    assert_eq!(run(&mut other, "PUBLISH a hi"), Reply::Int(0));

    // PUBLISH queued in MULTI runs at EXEC; SUBSCRIBE is refused there.
    assert_eq!(run(&mut other, "MULTI"), Reply::ok());
    assert_eq!(
        run(&mut other, "PUBLISH a x"),
        Reply::Status("QUEUED".into())
    );
    assert!(run(&mut other, "SUBSCRIBE a").is_error());
    assert!(
        run(&mut other, "EXEC").is_error(),
        "EXECABORT after a refused command"
    );
    // Inside BEGIN too: subscribed mode would refuse the COMMIT.
    assert_eq!(run(&mut other, "BEGIN"), Reply::ok());
    assert_eq!(
        run(&mut other, "SUBSCRIBE a"),
        Reply::error("ERR SUBSCRIBE inside BEGIN is not allowed")
    );
    assert_eq!(run(&mut other, "COMMIT"), Reply::ok());
    Ok(())
}

#[test]
fn a_resp3_session_may_run_any_command_while_subscribed() -> TestResult {
    let tmp = util::tempdir();
    let db = open(&util::db_path(&tmp))?;
    let mut s = Session::new(&db, Default::default());
    assert!(!run(&mut s, "HELLO 3").is_error());
    assert_eq!(
        run(&mut s, "SUBSCRIBE a"),
        push(&["subscribe", "a"], Some(1))
    );
    assert_eq!(run(&mut s, "SET k v"), Reply::ok());
    assert_eq!(run(&mut s, "PING"), Reply::Status("PONG".into()));
    assert_eq!(db.publish("a", "m")?, 1);
    assert_eq!(
        s.next_push(Some(Duration::from_secs(10))),
        Some(push(&["message", "a", "m"], None))
    );
    Ok(())
}

#[test]
fn ziggy_subscribe_prints_messages_as_redis_cli_until_interrupted() -> TestResult {
    use std::io::{BufRead, BufReader};
    use std::process::{Command, Stdio};
    let tmp = util::tempdir();
    let dir = util::db_path(&tmp);
    let db = open(&dir)?;
    let mut proc = Command::new(env!("CARGO_BIN_EXE_ziggy"))
        .arg("-d")
        .arg(&dir)
        .args(["SUBSCRIBE", "news", "alerts"])
        .env_remove("ZIGGY_DIR")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()?;
    let mut out = BufReader::new(proc.stdout.take().ok_or("stdout")?);
    let mut lines = Vec::new();
    let mut line = String::new();
    while lines.len() < 6 {
        line.clear();
        if out.read_line(&mut line)? == 0 {
            break;
        }
        lines.push(line.trim_end().to_string());
    }
    assert_eq!(
        lines,
        ["subscribe", "news", "1", "subscribe", "alerts", "2"]
    );
    assert!(publish_until(&db, "news", 1)?);
    assert_eq!(db.publish("alerts", "fire")?, 1);
    let mut got = Vec::new();
    while got.len() < 3 || got.last().map(String::as_str) != Some("fire") {
        line.clear();
        if out.read_line(&mut line)? == 0 {
            break;
        }
        got.push(line.trim_end().to_string());
    }
    let tail = &got[got.len() - 3..];
    assert_eq!(tail, ["message", "alerts", "fire"]);
    assert!(got[..3] == ["message", "news", "probe"]);
    // Ctrl-C ends it.
    let pid = libc::pid_t::try_from(proc.id())?;
    // SAFETY: kill(2) only sends a signal; the child is not reaped yet, so the pid is its.
    assert_eq!(unsafe { libc::kill(pid, libc::SIGINT) }, 0);
    let deadline = Instant::now() + LONG;
    while proc.try_wait()?.is_none() {
        assert!(Instant::now() < deadline, "ziggy ends at Ctrl-C");
        std::thread::sleep(Duration::from_millis(10));
    }
    assert!(
        publish_until(&db, "news", 0)?,
        "its subscription ended with it"
    );
    Ok(())
}

#[test]
fn a_session_overrun_by_the_ring_gets_an_error_reply_and_leaves_subscribed_mode() -> TestResult {
    let tmp = util::tempdir();
    let db = open(&util::db_path(&tmp))?;
    let mut s = Session::new(&db, Default::default());
    assert_eq!(
        run(&mut s, "SUBSCRIBE flood"),
        push(&["subscribe", "flood"], Some(1))
    );
    for i in 0..40_000u32 {
        db.publish("flood", i.to_string())?;
    }
    let Some(Reply::Error(text)) = s.next_push(Some(Duration::from_secs(10))) else {
        panic!("an error reply");
    };
    assert!(
        text.starts_with("ERR subscriber fell ") && text.contains("its subscriptions ended"),
        "{text}"
    );
    assert!(!s.is_subscribed());
    assert_eq!(run(&mut s, "GET k"), Reply::Nil, "commands run again");
    assert_eq!(db.publish("flood", "x")?, 0);
    Ok(())
}

#[test]
fn a_publisher_stopped_mid_message_makes_other_publishers_busy_not_hung() -> TestResult {
    let tmp = util::tempdir();
    let dir = util::db_path(&tmp);
    let db = Db::options()
        .lock_timeout(Some(Duration::from_millis(300)))
        .open(&dir)?;
    let mut sub = db.subscribe(&["c"])?;
    let env = [
        ("PS_CHANNEL", "c".to_string()),
        ("PS_PREFIX", "slow".to_string()),
        ("PS_N", "1".to_string()),
        ("PS_SIZE", "3000".to_string()),
        ("ZIGGY_TEST_STOP", "pubsub-publish".to_string()),
    ];
    let mut publisher = Child::spawn("pubsub::child_publisher", "pubsub-publisher", &dir, &env);
    let deadline = Instant::now() + LONG;
    while !is_stopped(publisher.id()) {
        assert!(Instant::now() < deadline, "the publisher stops mid-message");
        assert!(publisher.try_status().is_none(), "{}", publisher.stderr());
        std::thread::sleep(Duration::from_millis(5));
    }
    let e = db
        .publish("c", "waits")
        .expect_err("the stopped publisher holds the ring");
    assert_eq!(e.kind(), ErrorCode::Busy, "{e}");
    // Subscribers are not held up: nothing was published, and they wait as before.
    assert_eq!(sub.next_message(Some(Duration::from_millis(50)))?, None);
    publisher.signal(libc::SIGCONT);
    let lines = publisher.finish(LONG)?;
    assert!(lines.iter().any(|l| l == "COUNTS 1 1"), "{lines:?}");
    let m = sub.next_message(Some(LONG))?.ok_or("its message, whole")?;
    assert_eq!(m.payload.len(), 3000);
    assert!(m.payload.starts_with(b"slow:0..."));
    assert_eq!(db.publish("c", "after")?, 1);
    Ok(())
}

/// Sharded Pub/Sub across processes: a shard subscriber in another process gets what
/// `SPUBLISH` sends to its shard channels, and nothing `PUBLISH` sends to a channel of the
/// same name unless it subscribed to that too; the counts are the shard space's own.
#[test]
fn shard_channels_are_a_channel_space_of_their_own_across_processes() -> TestResult {
    let tmp = util::tempdir();
    let dir = util::db_path(&tmp);
    let db = open(&dir)?;
    let env = [
        ("PS_CHANNELS", "b".to_string()),
        ("PS_PATTERNS", String::new()),
        ("PS_SHARDS", "a,b".to_string()),
        ("PS_COUNT", "4".to_string()),
    ];
    let mut sub = Child::spawn("pubsub::child_subscriber", "pubsub-subscriber", &dir, &env);
    sub.expect("READY", LONG);
    assert_eq!(db.pubsub_shardnumsub(&["a", "b", "c"])?, [1, 1, 0]);
    assert_eq!(db.pubsub_numsub(&["a", "b"])?, [0, 1]);
    assert_eq!(
        db.pubsub_shardchannels(None)?,
        [b"a".to_vec(), b"b".to_vec()]
    );
    assert_eq!(db.pubsub_channels(None)?, [b"b".to_vec()]);
    assert_eq!(db.publish("a", "not a shard message")?, 0);
    assert_eq!(db.spublish("a", "s1")?, 1);
    assert_eq!(db.spublish("b", "s2")?, 1);
    assert_eq!(db.publish("b", "p1")?, 1);
    assert_eq!(db.spublish("c", "nobody")?, 0);
    assert_eq!(db.spublish("a", "s3")?, 1);
    assert_eq!(
        messages(&mut sub)?,
        ["a ! s1", "b ! s2", "b - p1", "a ! s3"].map(String::from)
    );
    Ok(())
}

/// The events a subscriber got, as `event key`, up to the `set` of `end`.
fn events_until_end(sub: &mut ziggydb::Subscriber) -> TestResult<Vec<String>> {
    let mut got = Vec::new();
    loop {
        let m = sub
            .next_message(Some(LONG))?
            .ok_or("no keyspace event within a minute")?;
        let channel = String::from_utf8_lossy(&m.channel).into_owned();
        let event = channel
            .strip_prefix("__keyevent@0__:")
            .ok_or_else(|| format!("not a keyevent channel: {channel}"))?;
        let line = format!("{event} {}", String::from_utf8_lossy(&m.payload));
        let end = line == "set end";
        got.push(line);
        if end {
            return Ok(got);
        }
    }
}

/// Keyspace notifications are the directory's: `CONFIG SET` in one process (the `ziggy`
/// tool, which then exits) makes an embedded writer in another (a `ziggy` shell) publish,
/// and a subscriber in a third (this one) gets the events of the commands that committed,
/// in command order: nothing of a rolled-back `BEGIN`, of a `DISCARD`ed `MULTI`, of a
/// refused command, or of a class not enabled.
#[test]
fn keyspace_events_set_in_one_process_are_published_by_writers_in_others() -> TestResult {
    use std::io::Write as _;
    use std::process::{Command, Stdio};
    let tmp = util::tempdir();
    let dir = util::db_path(&tmp);
    let db = open(&dir)?;
    let mut sub = db.psubscribe(&["__keyevent@0__:*"])?;
    let ziggy = env!("CARGO_BIN_EXE_ziggy");
    let set = Command::new(ziggy)
        .arg("-d")
        .arg(&dir)
        .args(["CONFIG", "SET", "notify-keyspace-events", "Eg$l"])
        .output()?;
    assert!(set.status.success(), "{set:?}");
    assert_eq!(db.keyspace_events(), "g$lE");
    let script = "SET a 1\nBEGIN\nSET b 1\nLPUSH q x\nROLLBACK\nMULTI\nSET c 1\nRPUSH q y z\n\
                  INCR n\nEXEC\nMULTI\nSET d 1\nDISCARD\nLPUSH a x\nLPOP q\nDEL a nosuch\n\
                  SADD st m\nHSET h f v\nSET end 1\n";
    let mut shell = Command::new(ziggy)
        .arg("-d")
        .arg(&dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()?;
    shell
        .stdin
        .take()
        .ok_or("stdin")?
        .write_all(script.as_bytes())?;
    assert!(shell.wait()?.success());
    assert_eq!(
        events_until_end(&mut sub)?,
        ["set a", "set c", "rpush q", "incrby n", "lpop q", "del a", "set end"].map(String::from)
    );
    // Off again: a write publishes nothing.
    db.set_keyspace_events("")?;
    let mut s = Session::new(&db, Default::default());
    assert_eq!(run(&mut s, "SET quiet 1"), Reply::ok());
    assert_eq!(sub.next_message(Some(Duration::from_millis(200)))?, None);
    Ok(())
}

/// The expiry pass publishes `expired` for each key it deletes, once its delete commits.
#[test]
fn the_expiry_pass_publishes_expired() -> TestResult {
    let tmp = util::tempdir();
    let db = open(&util::db_path(&tmp))?;
    let mut s = Session::new(&db, Default::default());
    assert_eq!(
        run(&mut s, "CONFIG SET notify-keyspace-events Ex"),
        Reply::ok()
    );
    assert_eq!(
        run(&mut s, "CONFIG GET notify-keyspace-events"),
        Reply::Map(vec![(
            Reply::bulk("notify-keyspace-events"),
            Reply::bulk("xE")
        )])
    );
    let mut sub = db.subscribe(&["__keyevent@0__:expired"])?;
    // A relative expiry counts from when the command was read: on a loaded machine the SET
    // may commit after it, and a SET whose time has passed deletes the key instead. Longer
    // times until the key is there to expire.
    for px in [200, 2_000, 20_000] {
        assert_eq!(run(&mut s, &format!("SET short v PX {px}")), Reply::ok());
        if run(&mut s, "EXISTS short") == Reply::Int(1) {
            break;
        }
    }
    assert_eq!(run(&mut s, "SET long v EX 1000"), Reply::ok());
    // This pass or the background one (which runs on its own) deletes the key.
    let deadline = Instant::now() + LONG;
    let m = loop {
        db.expire_now()?;
        if let Some(m) = sub.next_message(Some(Duration::from_millis(50)))? {
            break m;
        }
        assert!(
            Instant::now() < deadline,
            "no expired event within a minute"
        );
    };
    assert_eq!(
        (m.channel.as_slice(), m.payload.as_slice()),
        (&b"__keyevent@0__:expired"[..], &b"short"[..])
    );
    assert_eq!(sub.next_message(Some(Duration::from_millis(100)))?, None);
    // A bad class letter is refused as Redis refuses it, and the setting is unchanged.
    let Reply::Error(e) = run(&mut s, "CONFIG SET notify-keyspace-events Ey") else {
        panic!("refused")
    };
    assert!(e.contains("Invalid event class character"), "{e}");
    assert_eq!(db.keyspace_events(), "xE");
    Ok(())
}

#[test]
fn a_subscribers_wait_ends_when_its_cancel_token_is_cancelled_and_a_message_still_wakes_it(
) -> TestResult {
    use ziggydb::{CancelToken, Wait};
    let tmp = util::tempdir();
    let dir = util::db_path(&tmp);
    let db = open(&dir)?;
    let mut sub = db.subscribe(&["jobs"])?;
    let token = CancelToken::new();
    // Cancelled from another thread while it waits with no timeout: it returns.
    let canceller = token.clone();
    let t = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(50));
        canceller.cancel();
    });
    assert_eq!(
        sub.next_message_wait(Wait::forever().cancel_on(&token))?,
        None
    );
    t.join().expect("the canceller");
    // Cancelled already: it returns at once, until the token is reset.
    assert_eq!(
        sub.next_message_wait(Wait::forever().cancel_on(&token))?,
        None
    );
    token.reset();
    // A message published by another process wakes the same wait.
    let env = [
        ("PS_CHANNEL", "jobs".to_string()),
        ("PS_PREFIX", "job".to_string()),
        ("PS_N", "1".to_string()),
        ("PS_SIZE", "0".to_string()),
    ];
    let mut publisher = Child::spawn("pubsub::child_publisher", "pubsub-publisher", &dir, &env);
    let m = sub
        .next_message_wait(Wait::timeout(LONG).cancel_on(&token))?
        .expect("the message of the other process");
    assert_eq!(
        (m.channel, m.payload),
        (b"jobs".to_vec(), b"job:0".to_vec())
    );
    assert_eq!(publisher.expect("COUNTS", LONG), "1 1");
    publisher.finish(LONG)?;
    // A subscriber of nothing, which the ring has lapped since it was made, waits for the
    // cancel (or its timeout) rather than failing with an overrun of messages not its own.
    let mut idle = db.subscriber()?;
    for i in 0..40_000u32 {
        db.publish("flood", format!("m{i}"))?;
    }
    let idle_token = CancelToken::new();
    assert_eq!(
        idle.next_message_wait(Wait::timeout(Duration::from_millis(20)).cancel_on(&idle_token))?,
        None
    );
    idle_token.cancel();
    assert_eq!(
        idle.next_message_wait(Wait::forever().cancel_on(&idle_token))?,
        None
    );
    Ok(())
}
