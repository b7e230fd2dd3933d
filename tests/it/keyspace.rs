//! The key and server commands of the `keyspace` module that the differential test cannot
//! compare with Redis: `DUMP` payloads are ZiggyDB's own, so they are checked by round trips
//! on ZiggyDB alone (every value type, with and without a TTL, into the same database and
//! into another one opened by another process), and `MEMORY USAGE` against the bytes the
//! records take.

use ziggydb::commands::{Policy, Reply, Session};
use ziggydb::{Db, Value};

use crate::util::{self, TestResult};

fn run(session: &mut Session, args: &[&[u8]]) -> Reply {
    session.execute(args)
}

fn line(session: &mut Session, text: &str) -> Reply {
    let args = ziggydb::commands::split_line(text.as_bytes()).expect("a well-formed line");
    let args: Vec<&[u8]> = args.iter().map(Vec::as_slice).collect();
    session.execute(&args)
}

/// One key of every type, set through the commands, with what reads it back.
const KEYS: &[(&str, &str, &str)] = &[
    ("bytes", "SET bytes \"a\\x00\\xffb\"", "GET bytes"),
    ("string", "SET string héllo TYPE string", "GET string"),
    ("int", "SET int -42 TYPE int", "GET int"),
    ("float", "SET float 2.5 TYPE float", "GET float"),
    ("bool", "SET bool true TYPE bool", "GET bool"),
    (
        "timestamp",
        "SET timestamp 1700000000000 TYPE timestamp",
        "GET timestamp",
    ),
    ("json", "JSON.SET json $ '{\"a\":[1,2]}'", "JSON.GET json"),
    ("list", "RPUSH list c a b a \"\"", "LRANGE list 0 -1"),
    ("set", "SADD set x y \"\\x00z\"", "SMEMBERS set"),
    (
        "zset",
        "ZADD zset 1.5 a -inf b 3 c",
        "ZRANGE zset 0 -1 WITHSCORES",
    ),
    ("hash", "HSET hash f1 v1 f2 \"\"", "HGETALL hash"),
];

/// Every type's `DUMP` restores to the same value and type, with no TTL, a relative TTL, an
/// absolute one (`ABSTTL`), over an existing key only with `REPLACE`, and not at all with a
/// TTL already past; a damaged payload is refused and writes nothing.
#[test]
fn dump_restores_every_type_with_its_ttl() -> TestResult {
    let tmp = util::tempdir();
    let db = Db::open(util::db_path(&tmp))?;
    let mut s = Session::new(&db, Policy::trusted());
    let mut big = vec![b"RPUSH".to_vec(), b"biglist".to_vec()];
    big.extend((0..3000).map(|i| format!("element-{i}").into_bytes()));
    let big_args: Vec<&[u8]> = big.iter().map(Vec::as_slice).collect();
    assert_eq!(run(&mut s, &big_args), Reply::Int(3000));
    let mut all = KEYS.to_vec();
    all.push(("biglist", "", "LRANGE biglist 0 -1"));
    for (key, set, get) in &all {
        if !set.is_empty() {
            assert!(!line(&mut s, set).is_error(), "{set}");
        }
        let want = line(&mut s, get);
        let want_type = line(&mut s, &format!("GETTYPE {key}"));
        let want_ttype = line(&mut s, &format!("TYPE {key}"));
        let Reply::Bulk(payload) = run(&mut s, &[b"DUMP", key.as_bytes()]) else {
            panic!("DUMP {key}");
        };
        let get_copy = get.replacen(key, "copy", 1);
        // No TTL.
        assert_eq!(
            run(&mut s, &[b"RESTORE", b"copy", b"0", &payload]),
            Reply::ok()
        );
        assert_eq!(line(&mut s, &get_copy), want, "{key}");
        assert_eq!(line(&mut s, "GETTYPE copy"), want_type, "{key}");
        assert_eq!(line(&mut s, "TYPE copy"), want_ttype, "{key}");
        assert_eq!(line(&mut s, "PTTL copy"), Reply::Int(-1), "{key}");
        // Over it: only with REPLACE, then with a relative TTL.
        assert_eq!(
            run(&mut s, &[b"RESTORE", b"copy", b"0", &payload]),
            Reply::error("BUSYKEY Target key name already exists.")
        );
        assert_eq!(
            run(
                &mut s,
                &[b"RESTORE", b"copy", b"100000", &payload, b"REPLACE"]
            ),
            Reply::ok()
        );
        let Reply::Int(ttl) = line(&mut s, "PTTL copy") else {
            panic!("PTTL")
        };
        assert!((50_000..=100_000).contains(&ttl), "{key}: PTTL {ttl}");
        assert_eq!(line(&mut s, &get_copy), want, "{key} with a TTL");
        // An absolute TTL.
        let at = util::now_ms() + 200_000;
        let at_text = at.to_string();
        assert_eq!(
            run(
                &mut s,
                &[
                    b"RESTORE",
                    b"copy",
                    at_text.as_bytes(),
                    &payload,
                    b"ABSTTL",
                    b"REPLACE",
                    b"IDLETIME",
                    b"5"
                ]
            ),
            Reply::ok()
        );
        assert_eq!(
            line(&mut s, "PEXPIRETIME copy"),
            Reply::Int(at as i64),
            "{key}"
        );
        // Already past: the key is deleted, as Redis does.
        assert_eq!(
            run(
                &mut s,
                &[b"RESTORE", b"copy", b"1", &payload, b"ABSTTL", b"REPLACE"]
            ),
            Reply::ok()
        );
        assert_eq!(line(&mut s, "EXISTS copy"), Reply::Int(0), "{key}");
        // Damaged: refused, nothing written.
        let mut damaged = payload.clone();
        let mid = damaged.len() / 2;
        damaged[mid] ^= 1;
        assert_eq!(
            run(&mut s, &[b"RESTORE", b"copy", b"0", &damaged]),
            Reply::error("ERR DUMP payload version or checksum are wrong"),
            "{key}"
        );
        assert_eq!(line(&mut s, "EXISTS copy"), Reply::Int(0), "{key}");
        // Inside MULTI, as one of its commands.
        assert_eq!(line(&mut s, "MULTI"), Reply::ok());
        assert_eq!(
            run(&mut s, &[b"RESTORE", b"copy", b"0", &payload]),
            Reply::Status("QUEUED".into())
        );
        assert_eq!(
            line(&mut s, "EXEC"),
            Reply::Array(vec![Reply::ok()]),
            "{key}"
        );
        assert_eq!(line(&mut s, &get_copy), want, "{key} in MULTI");
        line(&mut s, "DEL copy");
    }
    Ok(())
}

/// A payload dumped in one database is restored in another, by another process (the `ziggy`
/// binary): the format does not depend on the database it came from.
#[test]
fn dump_payloads_move_between_databases_and_processes() -> TestResult {
    let tmp = util::tempdir();
    let src = Db::open(tmp.path().join("src"))?;
    src.transaction(|tx| {
        tx.zset(b"board")
            .add(Default::default(), &[(3.0, b"ann"), (-1.25, b"bob")])?;
        tx.set(b"n", Value::Int(7))
    })?;
    let board = src.dump(b"board")?.expect("board exists");
    let n = src.dump(b"n")?.expect("n exists");
    let dst = tmp.path().join("dst");
    let hex = |b: &[u8]| b.iter().map(|x| format!("\\x{x:02x}")).collect::<String>();
    let script = format!(
        "RESTORE board 0 \"{}\"\nRESTORE n 0 \"{}\"\n",
        hex(&board),
        hex(&n)
    );
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_ziggy"))
        .arg("-d")
        .arg(&dst)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .and_then(|mut child| {
            use std::io::Write as _;
            child
                .stdin
                .take()
                .expect("stdin")
                .write_all(script.as_bytes())?;
            child.wait_with_output()
        })?;
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let dst = Db::open(&dst)?;
    assert_eq!(
        dst.zset(b"board").range(0, -1, false)?,
        vec![(b"bob".to_vec(), -1.25), (b"ann".to_vec(), 3.0)]
    );
    assert_eq!(dst.get_value(b"n")?, Some(Value::Int(7)));
    Ok(())
}

/// `MEMORY USAGE` is the bytes of the key's record (24-byte header, 8 more with an expiry,
/// key, value) and, for a collection, of its pages: it grows with a collection, and a string's
/// is exact.
#[test]
fn memory_usage_counts_records_and_pages() -> TestResult {
    let tmp = util::tempdir();
    let db = Db::open(util::db_path(&tmp))?;
    let mut s = Session::new(&db, Policy::trusted());
    line(&mut s, "SET key 0123456789");
    assert_eq!(line(&mut s, "MEMORY USAGE key"), Reply::Int(24 + 3 + 10));
    line(&mut s, "EXPIRE key 1000");
    assert_eq!(
        line(&mut s, "MEMORY USAGE key"),
        Reply::Int(24 + 8 + 3 + 10)
    );
    line(&mut s, "RPUSH l a");
    let Reply::Int(small) = line(&mut s, "MEMORY USAGE l") else {
        panic!("an integer")
    };
    let mut push = vec![b"RPUSH".to_vec(), b"l".to_vec()];
    push.extend((0..2000).map(|i| format!("{i:08}").into_bytes()));
    let push: Vec<&[u8]> = push.iter().map(Vec::as_slice).collect();
    run(&mut s, &push);
    let Reply::Int(large) = line(&mut s, "MEMORY USAGE l") else {
        panic!("an integer")
    };
    // 2,000 elements of 8 bytes take at least their bytes and their lengths, in pages.
    assert!(large > small + 2000 * 12, "{small} -> {large}");
    assert!(large < 2000 * 64, "{large}");
    assert_eq!(db.memory_usage(b"l")?, Some(large as u64));
    Ok(())
}

/// The sum of `MEMORY USAGE` over every key is what the database's live records take
/// (`INFO`'s `live_bytes`), apart from the one internal counter record (the last collection
/// id: a 24-byte header, its 15-byte key and 8 bytes): nothing a key owns is left out, and
/// nothing is counted twice.
#[test]
fn memory_usage_adds_up_to_the_live_bytes() -> TestResult {
    let tmp = util::tempdir();
    let db = Db::open(util::db_path(&tmp))?;
    let mut s = Session::new(&db, Policy::trusted());
    line(&mut s, "SET plain 0123456789");
    line(&mut s, "SET typed 7 TYPE int EX 1000");
    let mut big = vec![b"ZADD".to_vec(), b"z".to_vec()];
    for i in 0..1500 {
        big.push(i.to_string().into_bytes());
        big.push(format!("member-{i}").into_bytes());
    }
    run(&mut s, &big.iter().map(Vec::as_slice).collect::<Vec<_>>());
    let mut list = vec![b"RPUSH".to_vec(), b"l".to_vec()];
    list.extend((0..3000).map(|i| format!("e{i}").into_bytes()));
    run(&mut s, &list.iter().map(Vec::as_slice).collect::<Vec<_>>());
    line(&mut s, "HSET h a 1 b 2");
    line(&mut s, "SADD set x y");
    let mut total = 0u64;
    for key in db.keys()? {
        total += db.memory_usage(&key)?.expect("a listed key exists");
    }
    const NEXT_COLLECTION: u64 = 24 + 15 + 8;
    assert_eq!(total + NEXT_COLLECTION, db.metrics().live_bytes);
    Ok(())
}
