//! Strings, counters and JSON documents through the library: Redis's results and errors,
//! typed scalars seen as Redis strings, rollback, and read-modify-write commands that lose
//! no update when several processes run them at once.

use std::time::Duration;

use ziggydb::commands::{Policy, Protocol, Reply, ReplySink, RespWriter, Session};
use ziggydb::{Db, Error, Value};

use crate::util::{self, child_param, child_role, report, Child, TestResult};

const LONG: Duration = Duration::from_secs(120);

fn open(tmp: &tempfile::TempDir) -> ziggydb::Result<Db> {
    Db::options().active_expiry(None).open(util::db_path(tmp))
}

/// An expiry far enough ahead never to pass during a test.
fn later() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
        + 3_600_000
}

#[test]
fn set_with_options_follows_redis() -> TestResult {
    let tmp = util::tempdir();
    let db = open(&tmp)?;
    let at = later();
    db.transaction(|tx| {
        // XX on an absent key, NX on a present one: nothing written.
        let out = tx.set_extended(b"k", "v1").if_present().run()?;
        assert!(!out.written && out.previous.is_none());
        assert!(tx.set_extended(b"k", "v1").if_absent().run()?.written);
        assert!(!tx.set_extended(b"k", "v2").if_absent().run()?.written);
        // GET returns the old value whether or not the write happens.
        let out = tx
            .set_extended(b"k", "v3")
            .if_absent()
            .return_previous()
            .run()?;
        assert_eq!((out.written, out.previous), (false, Some("v1".into())));
        let out = tx
            .set_extended(b"k", "v4")
            .expire_at(at)
            .return_previous()
            .run()?;
        assert_eq!((out.written, out.previous), (true, Some("v1".into())));
        assert_eq!(tx.expiry(b"k")?, Some(at));
        // KEEPTTL keeps it; a plain SET clears it.
        tx.set_extended(b"k", "v5").keep_ttl().run()?;
        assert_eq!(tx.expiry(b"k")?, Some(at));
        tx.set_extended(b"k", "v6").run()?;
        assert_eq!(tx.expiry(b"k")?, None);
        // A time already past deletes the key.
        assert!(tx.set_extended(b"k", "v7").expire_at(1).run()?.written);
        assert!(!tx.exists(b"k")?);
        Ok(())
    })?;
    assert_eq!(db.get_value(b"k")?, None);
    Ok(())
}

#[test]
fn get_variants_and_multi_key_sets() -> TestResult {
    let tmp = util::tempdir();
    let db = open(&tmp)?;
    let at = later();
    db.transaction(|tx| {
        assert!(tx.set_if_absent(b"a", "1")?);
        assert!(!tx.set_if_absent(b"a", "2")?);
        tx.set_with_expiry(b"a", "1", Some(at))?;
        assert_eq!(tx.get_set(b"a", "2")?, Some("1".into()));
        assert_eq!(tx.expiry(b"a")?, None, "GETSET clears the time to live");
        assert_eq!(tx.get_set(b"fresh", "x")?, None);
        assert_eq!(tx.get_delete(b"fresh")?, Some("x".into()));
        assert_eq!(tx.get_delete(b"fresh")?, None);
        assert_eq!(tx.get_and_expire_at(b"a", at)?, Some("2".into()));
        assert_eq!(tx.expiry(b"a")?, Some(at));
        assert_eq!(tx.get_and_persist(b"a")?, Some("2".into()));
        assert_eq!(tx.expiry(b"a")?, None);
        assert_eq!(tx.get_and_expire_at(b"a", 1)?, Some("2".into()));
        assert!(!tx.exists(b"a")?, "GETEX with a past time deletes");
        assert_eq!(tx.get_and_persist(b"a")?, None);
        tx.set_many([("m1", "x"), ("m2", "y"), ("m1", "z")])?;
        assert!(!tx.set_many_if_absent([("m3", "1"), ("m2", "2")])?);
        assert!(!tx.exists(b"m3")?, "MSETNX sets none when one exists");
        assert!(tx.set_many_if_absent([("m3", "1"), ("m4", "2")])?);
        Ok(())
    })?;
    assert_eq!(
        db.mget(&[b"m1", b"m2", b"m3", b"m4"])?,
        vec![
            Some("z".into()),
            Some("y".into()),
            Some("1".into()),
            Some("2".into())
        ]
    );
    Ok(())
}

#[test]
fn append_ranges_and_lengths_see_the_redis_form() -> TestResult {
    let tmp = util::tempdir();
    let db = open(&tmp)?;
    let at = later();
    db.transaction(|tx| {
        assert_eq!(tx.append(b"s", b"Hello")?, 5);
        assert_eq!(tx.append(b"s", b" World")?, 11);
        tx.set(b"text", Value::String("caf".into()))?;
        tx.set_with_expiry(b"n", 1234i64, Some(at))?;
        assert_eq!(tx.append(b"text", "é".as_bytes())?, 5);
        assert_eq!(tx.append(b"n", b"5")?, 5);
        assert_eq!(tx.expiry(b"n")?, Some(at), "APPEND keeps the time to live");
        assert_eq!(tx.set_range(b"s", 6, b"Redis")?, 11);
        assert_eq!(tx.set_range(b"pad", 2, b"x")?, 3);
        assert_eq!(tx.set_range(b"none", 4, b"")?, 0);
        assert_eq!(tx.set_range(b"s", 100, b"")?, 11);
        tx.set(b"bin", Value::String("ab".into()))?;
        tx.set_range(b"bin", 1, &[0xff])?;
        Ok(())
    })?;
    assert_eq!(
        db.get_value(b"s")?,
        Some(Value::Bytes(b"Hello Redis".to_vec()))
    );
    assert_eq!(db.get_value(b"text")?, Some(Value::String("café".into())));
    assert_eq!(db.get_value(b"n")?, Some(Value::Bytes(b"12345".to_vec())));
    assert_eq!(db.get_value(b"pad")?, Some(Value::Bytes(b"\0\0x".to_vec())));
    assert_eq!(db.get_value(b"bin")?, Some(Value::Bytes(vec![b'a', 0xff])));
    assert!(!db.exists(b"none")?);
    assert_eq!(db.strlen(b"s")?, 11);
    assert_eq!(db.strlen(b"text")?, 5);
    assert_eq!(db.strlen(b"missing")?, 0);
    assert_eq!(db.get_range(b"s", 0, 4)?, b"Hello");
    assert_eq!(db.get_range(b"s", -5, -1)?, b"Redis");
    assert_eq!(db.get_range(b"s", 6, 1000)?, b"Redis");
    assert_eq!(db.get_range(b"s", 5, 2)?, b"");
    assert_eq!(db.get_range(b"missing", 0, -1)?, b"");
    // Typed scalars read as Redis prints them.
    db.transaction(|tx| {
        tx.set(b"f", 2.5f64)?;
        tx.set(b"t", true)?;
        Ok(())
    })?;
    assert_eq!(db.strlen(b"f")?, 3);
    assert_eq!(db.get_range(b"t", 0, 1)?, b"tr");
    let huge = db.transaction(|tx| tx.set_range(b"s", usize::MAX - 1, b"xy"));
    assert!(matches!(huge, Err(Error::ValueTooLarge { .. })), "{huge:?}");
    Ok(())
}

#[test]
fn counters_and_their_errors() -> TestResult {
    let tmp = util::tempdir();
    let db = open(&tmp)?;
    let at = later();
    let n = db.transaction(|tx| {
        tx.set_with_expiry(b"c", "10", Some(at))?;
        assert_eq!(tx.decr_by(b"c", 3)?, 7);
        assert_eq!(tx.expiry(b"c")?, Some(at));
        let f = tx.incr_by_float(b"c", 0.5)?;
        assert_eq!(
            tx.expiry(b"c")?,
            Some(at),
            "INCRBYFLOAT keeps the time to live"
        );
        Ok(f)
    })?;
    assert_eq!(n, 7.5);
    // The sum is text, as in Redis; a typed float stays a float.
    assert_eq!(db.get_value(b"c")?, Some(Value::String("7.5".into())));
    db.set(b"typed", 2.0f64)?;
    assert_eq!(db.transaction(|tx| tx.incr_by_float(b"typed", 0.5))?, 2.5);
    assert_eq!(db.get_value(b"typed")?, Some(Value::Float(2.5)));
    assert_eq!(db.transaction(|tx| tx.incr_by_float(b"new", -1.25))?, -1.25);
    assert_eq!(db.transaction(|tx| tx.incr_by_float(b"new", 1.25))?, 0.0);
    // As in Redis, a float that adds up to a whole number counts on as an integer...
    assert_eq!(db.transaction(|tx| tx.incr_by_float(b"new", 1e2))?, 100.0);
    assert_eq!(db.incr_by(b"new", 1)?, 101);
    // ...and one that does not is refused.
    assert!(matches!(db.incr_by(b"c", 1), Err(Error::NotAnInteger)));

    db.set(b"word", "abc")?;
    db.set(b"flag", true)?;
    db.set(b"max", i64::MAX)?;
    let err = |r: ziggydb::Result<_>| r.map(|_: f64| ()).unwrap_err();
    assert!(matches!(
        err(db.transaction(|tx| tx.incr_by_float(b"word", 1.0))),
        Error::NotAFloat
    ));
    assert!(matches!(
        err(db.transaction(|tx| tx.incr_by_float(b"flag", 1.0))),
        Error::NotAFloat
    ));
    assert!(matches!(
        err(db.transaction(|tx| tx.incr_by_float(b"c", f64::INFINITY))),
        Error::Overflow
    ));
    assert!(matches!(
        db.transaction(|tx| tx.decr_by(b"word", 1)),
        Err(Error::NotAnInteger)
    ));
    assert!(matches!(
        db.transaction(|tx| tx.decr_by(b"x", i64::MIN)),
        Err(Error::Overflow)
    ));
    assert!(matches!(
        db.transaction(|tx| tx.decr_by(b"max", -1)),
        Err(Error::Overflow)
    ));
    // A failed command wrote nothing.
    // The sum is text, as in Redis; a typed float stays a float.
    assert_eq!(db.get_value(b"c")?, Some(Value::String("7.5".into())));
    db.set(b"typed", 2.0f64)?;
    assert_eq!(db.transaction(|tx| tx.incr_by_float(b"typed", 0.5))?, 2.5);
    assert_eq!(db.get_value(b"typed")?, Some(Value::Float(2.5)));
    assert!(!db.exists(b"x")?);
    Ok(())
}

#[test]
fn string_commands_on_a_collection_are_wrongtype() -> TestResult {
    let tmp = util::tempdir();
    let db = open(&tmp)?;
    db.transaction(|tx| tx.list(b"l").push_back(&["a"]).map(drop))?;
    let mut tx = db.begin_write()?;
    let wrong = |r: ziggydb::Result<()>| matches!(r, Err(Error::WrongType { .. }));
    assert!(wrong(tx.append(b"l", b"x").map(drop)));
    assert!(wrong(tx.strlen(b"l").map(drop)));
    assert!(wrong(tx.get_range(b"l", 0, 1).map(drop)));
    assert!(wrong(tx.set_range(b"l", 0, b"x").map(drop)));
    assert!(wrong(tx.incr_by_float(b"l", 1.0).map(drop)));
    assert!(wrong(tx.get_set(b"l", "x").map(drop)));
    assert!(wrong(tx.get_delete(b"l").map(drop)));
    assert!(wrong(tx.json_get(b"l", &[]).map(drop)));
    assert!(wrong(
        tx.set_extended(b"l", "x").return_previous().run().map(drop)
    ));
    tx.rollback();
    assert!(matches!(db.strlen(b"l"), Err(Error::WrongType { .. })));
    assert!(matches!(
        db.get_range(b"l", 0, 1),
        Err(Error::WrongType { .. })
    ));
    // SET without GET simply replaces it, as in Redis.
    db.transaction(|tx| tx.set_extended(b"l", "x").if_present().run().map(drop))?;
    assert_eq!(db.get_value(b"l")?, Some("x".into()));
    Ok(())
}

#[test]
fn json_documents_by_path() -> TestResult {
    let tmp = util::tempdir();
    let db = open(&tmp)?;
    let doc = r#"{"user": {"name": "ann", "langs": ["rust", "c"]}, "n": 1}"#;
    assert!(db.transaction(|tx| tx.json_set(b"j", "$", doc, None))?);
    assert_eq!(
        db.json_get(b"j", &[])?.as_deref(),
        Some(r#"{"user":{"name":"ann","langs":["rust","c"]},"n":1}"#)
    );
    assert_eq!(
        db.json_get(b"j", &["$.user.langs[-1]"])?.as_deref(),
        Some(r#"["c"]"#)
    );
    assert_eq!(
        db.json_get(b"j", &[".user.name"])?.as_deref(),
        Some(r#""ann""#)
    );
    assert_eq!(db.json_get(b"j", &["$.missing"])?.as_deref(), Some("[]"));
    assert!(db.json_get(b"j", &[".missing"]).is_err());
    assert!(db.json_get(b"j", &["$[oops"]).is_err());
    assert_eq!(db.json_get(b"absent", &["$"])?, None);

    db.transaction(|tx| {
        assert!(tx.json_set(b"j", "$.user.age", "42", None)?);
        assert!(!tx.json_set(b"j", "$.user.age", "43", Some(false))?);
        assert!(tx.json_set(b"j", "$.user.age", "44", Some(true))?);
        assert!(tx.json_set(b"j", ".user.langs[0]", r#""go""#, None)?);
        assert!(!tx.json_set(b"j", "$.no.such", "1", None)?);
        // The transaction sees its own writes.
        assert_eq!(tx.json_get(b"j", &["$.user.age"])?.as_deref(), Some("[44]"));
        Ok(())
    })?;
    assert_eq!(
        db.json_get(b"j", &["$.user"])?.as_deref(),
        Some(r#"[{"name":"ann","langs":["go","c"],"age":44}]"#)
    );
    assert!(matches!(
        db.transaction(|tx| tx.json_set(b"j", "$", "{oops", None)),
        Err(Error::InvalidJson(_))
    ));
    assert!(matches!(
        db.transaction(|tx| tx.json_set(b"new", "$.a", "1", None)),
        Err(Error::InvalidArgument(_))
    ));
    db.set(b"plain", "{}")?;
    assert!(matches!(
        db.json_get(b"plain", &[]),
        Err(Error::WrongType { .. })
    ));
    assert!(matches!(
        db.transaction(|tx| tx.json_set(b"plain", "$", "1", None)),
        Err(Error::WrongType { .. })
    ));
    Ok(())
}

#[test]
fn a_rolled_back_transaction_leaves_no_trace() -> TestResult {
    let tmp = util::tempdir();
    let db = open(&tmp)?;
    db.transaction(|tx| {
        tx.set_many([("a", "1"), ("b", "two"), ("c", "3")])?;
        tx.json_set(b"j", "$", r#"{"x":1}"#, None)?;
        Ok(())
    })?;
    let snapshot = |db: &Db| -> ziggydb::Result<_> {
        Ok((
            db.keys_matching(b"*")?,
            db.mget(&[b"a", b"b", b"c", b"j", b"d"])?,
            db.expire_time(b"a")?,
        ))
    };
    let before = snapshot(&db)?;
    let mut tx = db.begin_write()?;
    tx.set_extended(b"a", "9").expire_at(later()).run()?;
    tx.append(b"b", b"!")?;
    tx.set_range(b"c", 3, b"x")?;
    tx.incr_by_float(b"c", 1.0).unwrap_err();
    tx.get_delete(b"c")?;
    tx.set_many_if_absent([("d", "1")])?;
    tx.json_set(b"j", "$.y", "2", None)?;
    tx.get_set(b"j", "plain")?;
    assert_eq!(tx.get_range(b"b", 0, -1)?, b"two!");
    tx.rollback();
    assert_eq!(snapshot(&db)?, before);
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// APPEND and INCRBYFLOAT from several processes

#[test]
fn child_append_and_float() {
    let Some(dir) = child_role("append-float") else {
        return;
    };
    let n: u32 = child_param("ZIGGY_N");
    let mark: u8 = child_param("ZIGGY_MARK");
    let db = Db::open(&dir).expect("open");
    report("READY");
    assert_eq!(util::read_command().as_deref(), Some("go"));
    for _ in 0..n {
        db.transaction(|tx| tx.append(b"log", &[mark]))
            .expect("append");
        db.transaction(|tx| tx.incr_by_float(b"sum", 0.5))
            .expect("incrbyfloat");
    }
    report("PASS");
}

#[test]
fn processes_append_and_add_floats_without_losing_updates() -> TestResult {
    const PROCS: u8 = 4;
    const N: usize = 150;
    let tmp = util::tempdir();
    let dir = util::db_path(&tmp);
    drop(Db::open(&dir)?);
    let mut children: Vec<Child> = (0..PROCS)
        .map(|i| {
            Child::spawn(
                "strings::child_append_and_float",
                "append-float",
                &dir,
                &[
                    ("ZIGGY_N", N.to_string()),
                    ("ZIGGY_MARK", (b'a' + i).to_string()),
                ],
            )
        })
        .collect();
    for c in &mut children {
        c.expect("READY", LONG);
    }
    for c in &mut children {
        c.send("go");
    }
    for c in &mut children {
        c.wait_success(LONG);
    }
    let db = Db::open(&dir)?;
    let log = ziggydb::commands::redis_bytes(&db.get_value(b"log")?.expect("the log exists"));
    assert_eq!(log.len(), usize::from(PROCS) * N);
    for i in 0..PROCS {
        let mine = log.iter().filter(|&&b| b == b'a' + i).count();
        assert_eq!(mine, N, "appends of process {i}");
    }
    // Halves add up exactly in binary floating point.
    let sum = ziggydb::commands::redis_bytes(&db.get_value(b"sum")?.expect("the sum exists"));
    assert_eq!(
        String::from_utf8_lossy(&sum).parse::<f64>().ok(),
        Some(f64::from(PROCS) * N as f64 * 0.5)
    );
    Ok(())
}

#[test]
fn child_set_nx() {
    let Some(dir) = child_role("set-nx") else {
        return;
    };
    let db = Db::open(&dir).expect("open");
    report("READY");
    assert_eq!(util::read_command().as_deref(), Some("go"));
    let me = std::process::id().to_string();
    let won = db
        .transaction(|tx| {
            let out = tx.set_extended(b"lock", me.as_str()).if_absent().run()?;
            Ok(out.written)
        })
        .expect("SET NX");
    report(format!("WON {won} {me}"));
    report("PASS");
}

#[test]
fn set_nx_elects_exactly_one_process() -> TestResult {
    let tmp = util::tempdir();
    let dir = util::db_path(&tmp);
    drop(Db::open(&dir)?);
    let mut children: Vec<Child> = (0..6)
        .map(|_| Child::spawn("strings::child_set_nx", "set-nx", &dir, &[]))
        .collect();
    for c in &mut children {
        c.expect("READY", LONG);
    }
    for c in &mut children {
        c.send("go");
    }
    let mut winners = Vec::new();
    for c in &mut children {
        let line = c.expect("WON", LONG);
        c.wait_success(LONG);
        if let Some(pid) = line.strip_prefix("true ") {
            winners.push(pid.to_owned());
        }
    }
    assert_eq!(winners.len(), 1, "winners: {winners:?}");
    let db = Db::open(&dir)?;
    assert_eq!(
        db.get_value(b"lock")?,
        Some(Value::String(winners[0].clone()))
    );
    Ok(())
}

/// What a [`ReplySink`] was handed, call by call.
#[derive(Debug, Default, PartialEq)]
struct Handed {
    whole: Vec<Reply>,
    arrays: Vec<usize>,
    elements: Vec<Reply>,
}

impl ReplySink for Handed {
    fn reply(&mut self, reply: Reply) {
        self.whole.push(reply);
    }
    fn array(&mut self, len: usize) {
        self.arrays.push(len);
    }
    fn element(&mut self, item: Reply) {
        self.elements.push(item);
    }
}

#[test]
fn an_mget_streamed_to_a_sink_is_the_reply_execute_returns() -> TestResult {
    let tmp = util::tempdir();
    let db = open(&tmp)?;
    db.set(b"s", "text")?;
    db.set(b"n", 42i64)?;
    db.set(b"f", 1.5f64)?;
    db.set(b"b", vec![0u8, 0xff])?;
    db.transaction(|tx| tx.list(b"l").push_back(&["x"]))?;
    db.transaction(|tx| tx.set_with_expiry(b"gone", "g", Some(1)))?;
    let mut session = Session::new(&db, Policy::default());
    let mget: &[&[u8]] = &[
        b"MGET", b"s", b"n", b"nokey", b"f", b"l", b"gone", b"b", b"s",
    ];

    // Outside a transaction: an array announced with its length, then each element.
    let mut handed = Handed::default();
    session.execute_to(mget, &mut handed);
    let Reply::Array(whole) = session.execute(mget) else {
        return Err("MGET did not reply an array".into());
    };
    assert_eq!(
        whole,
        [
            Reply::bulk("text"),
            Reply::bulk("42"),
            Reply::Nil,
            Reply::bulk("1.5"),
            Reply::Nil,
            Reply::Nil,
            Reply::bulk(vec![0u8, 0xff]),
            Reply::bulk("text"),
        ]
    );
    assert_eq!(
        handed,
        Handed {
            whole: vec![],
            arrays: vec![8],
            elements: whole.clone(),
        }
    );

    // Encoded for a connection as the whole reply is, in both protocols, written a piece at
    // a time for a long one.
    let mut long: Vec<Vec<u8>> = vec![b"MGET".to_vec()];
    let mut pairs = Vec::new();
    for i in 0..30_000 {
        let key = format!("key{i}");
        if i % 3 > 0 {
            pairs.push((key.clone(), format!("value {i}")));
        }
        long.push(key.into_bytes());
    }
    db.begin_write()?.commit_set_many(&pairs)?;
    let long = ziggydb::commands::as_args(&long);
    /// Counts the writes it is given.
    #[derive(Default)]
    struct Writes(Vec<u8>, usize);
    impl std::io::Write for Writes {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.extend_from_slice(buf);
            self.1 += 1;
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    for args in [mget, &long[..]] {
        for protocol in [Protocol::Resp2, Protocol::Resp3] {
            let mut want = Vec::new();
            session.execute(args).encode(protocol, &mut want);
            let mut writer = RespWriter::new(protocol, Writes::default());
            session.execute_to(args, &mut writer);
            let got = writer.finish()?;
            assert!(got.0 == want, "{protocol:?}, {} keys", args.len() - 1);
            if args.len() > 1000 {
                assert!(want.len() > 256 << 10, "{} bytes", want.len());
                assert!(got.1 > 3, "{protocol:?}: {} writes", got.1);
            }
        }
    }

    // Anything else, and MGET inside MULTI or BEGIN or refused, is handed whole.
    let script: [&[&[u8]]; 9] = [
        &[b"GET", b"s"],
        &[b"MGET"],
        &[b"MULTI"],
        mget,
        &[b"EXEC"],
        &[b"BEGIN"],
        mget,
        &[b"ROLLBACK"],
        &[b"NOSUCH", b"x"],
    ];
    let mut other = Session::new(&db, Policy::default());
    let wanted: Vec<Reply> = script.iter().map(|args| other.execute(args)).collect();
    for (args, want) in script.into_iter().zip(wanted) {
        let mut handed = Handed::default();
        session.execute_to(args, &mut handed);
        assert_eq!(
            handed,
            Handed {
                whole: vec![want],
                ..Handed::default()
            },
            "{:?}",
            String::from_utf8_lossy(args[0])
        );
    }
    Ok(())
}

#[test]
fn an_mget_printed_as_it_is_read_never_sees_half_a_transaction() -> TestResult {
    use std::process::Command;
    use std::sync::atomic::{AtomicBool, Ordering};
    const KEYS: usize = 2_000;
    let tmp = util::tempdir();
    let dir = util::db_path(&tmp);
    let db = Db::open(&dir)?;
    let keys: Vec<String> = (0..KEYS).map(|i| format!("k{i}")).collect();
    let set_all = |round: u64| {
        let pairs: Vec<(&str, String)> = keys
            .iter()
            .map(|k| (k.as_str(), round.to_string()))
            .collect();
        db.begin_write()?.commit_set_many(&pairs)
    };
    set_all(0)?;
    // Rounds are committed by this process while `ziggy` processes read every key in one
    // MGET, printed as the values are read: each sees one round, never an older one than
    // the reader before it.
    let stop = AtomicBool::new(false);
    std::thread::scope(|scope| -> TestResult {
        let writer = scope.spawn(|| -> ziggydb::Result<u64> {
            let mut round = 0;
            while !stop.load(Ordering::SeqCst) {
                round += 1;
                set_all(round)?;
            }
            Ok(round)
        });
        let result = (|| -> TestResult {
            let mut last = 0u64;
            for run in 0..30 {
                let out = Command::new(env!("CARGO_BIN_EXE_ziggy"))
                    .arg("-d")
                    .arg(&dir)
                    .arg("MGET")
                    .args(&keys)
                    .env_remove("ZIGGY_DIR")
                    .output()?;
                assert!(
                    out.status.success(),
                    "{}",
                    String::from_utf8_lossy(&out.stderr)
                );
                let text = String::from_utf8(out.stdout)?;
                let rounds: Vec<u64> = text.lines().map(str::parse).collect::<Result<_, _>>()?;
                assert_eq!(rounds.len(), KEYS, "run {run}");
                assert!(
                    rounds.iter().all(|&r| r == rounds[0]),
                    "run {run} saw several rounds: {:?}",
                    rounds.iter().collect::<std::collections::BTreeSet<_>>()
                );
                assert!(
                    rounds[0] >= last,
                    "run {run} went back from {last} to {}",
                    rounds[0]
                );
                last = rounds[0];
            }
            Ok(())
        })();
        stop.store(true, Ordering::SeqCst);
        let rounds = writer.join().map_err(|_| "the writer panicked")??;
        result?;
        assert!(
            rounds > 1,
            "the writer committed no round while the readers ran"
        );
        Ok(())
    })
}
