//! `EXPORT` and `IMPORT`: every type round-trips through JSON Lines, binary keys, members and
//! values, empty strings, float edge values and expiry times included; malformed lines are
//! refused with their line number and nothing written; and the Redis-protocol export loads
//! into a real `redis-server` through `redis-cli --pipe` and reads back the same there.
//!
//! The Redis test needs `redis-server` and `redis-cli` on the `PATH`, as the differential test
//! does (`ZIGGY_NO_REDIS=1` skips it explicitly).

use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Command, Output, Stdio};

use ziggydb::{Db, ExportFormat, Value, ValueType, ZAddFlags};

use crate::util::{self, TestResult};

/// Runs `ziggy -d DIR ARGS...` with `stdin` as its standard input.
fn ziggy(dir: &Path, args: &[&str], stdin: &[u8]) -> TestResult<Output> {
    use std::io::Write as _;
    let mut proc = Command::new(env!("CARGO_BIN_EXE_ziggy"))
        .arg("-d")
        .arg(dir)
        .args(args)
        .env_remove("ZIGGY_DIR")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()?;
    let mut input = proc.stdin.take().ok_or("stdin is piped")?;
    let stdin = stdin.to_vec();
    let writer = std::thread::spawn(move || input.write_all(&stdin));
    let out = proc.wait_with_output()?;
    writer.join().map_err(|_| "writer thread panicked")??;
    Ok(out)
}

/// Runs `ziggy` and returns its standard output, failing the test if it failed.
fn ziggy_ok(dir: &Path, args: &[&str]) -> TestResult<Vec<u8>> {
    let out = ziggy(dir, args, b"")?;
    if !out.status.success() {
        return Err(format!(
            "ziggy {args:?} failed with {}: {}{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
        .into());
    }
    Ok(out.stdout)
}

fn path_str(p: &Path) -> TestResult<&str> {
    p.to_str()
        .ok_or_else(|| "temporary path is not UTF-8".into())
}

/// Everything a key holds, read through the library, comparable across databases (floats by
/// their bits, so -0.0, NaN and the last digit all count).
#[derive(Debug, PartialEq)]
enum Held {
    Scalar(ValueType, Vec<u8>),
    FloatBits(u64),
    List(Vec<Vec<u8>>),
    Set(Vec<Vec<u8>>),
    ZSet(Vec<(Vec<u8>, u64)>),
    Hash(Vec<(Vec<u8>, Vec<u8>)>),
}

/// Every key with what it holds and its expiry.
type Contents = BTreeMap<Vec<u8>, (Held, Option<u64>)>;

fn contents(db: &Db) -> TestResult<Contents> {
    let mut out = BTreeMap::new();
    for key in db.keys()? {
        let held = match db.key_type(&key)? {
            "list" => Held::List(db.list(&key).range(0, -1)?),
            "set" => {
                let mut m = db.set_of(&key).members()?;
                m.sort();
                Held::Set(m)
            }
            "zset" => Held::ZSet(
                db.zset(&key)
                    .range(0, -1, false)?
                    .into_iter()
                    .map(|(m, s)| (m, s.to_bits()))
                    .collect(),
            ),
            "hash" => Held::Hash(db.hash(&key).get_all()?),
            _ => match db.get_value(&key)?.ok_or("key vanished")? {
                Value::Float(f) => Held::FloatBits(f.to_bits()),
                v => Held::Scalar(v.value_type(), ziggydb::commands::redis_bytes(&v)),
            },
        };
        out.insert(key.clone(), (held, db.expiry(&key)?));
    }
    Ok(out)
}

/// An hour from now, in Unix ms.
fn in_an_hour() -> u64 {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64);
    now + 3_600_000
}

/// A database holding every type, with binary keys, members and values, empty strings,
/// float edge values, expiry times, and collections larger than one export chunk.
fn fill_every_type(db: &Db) -> ziggydb::Result<()> {
    let later = in_an_hour();
    db.transaction(|tx| {
        tx.set(b"str", "hello, \"world\"\n\u{e9}\u{1F600}")?;
        tx.set(b"str:empty", "")?;
        tx.set(b"bytes:utf8", b"plain".as_slice())?;
        tx.set(b"bytes:binary", [0u8, 0xff, 0xfe, b'\n', 0x80].as_slice())?;
        tx.set(b"bytes:empty", Value::Bytes(Vec::new()))?;
        tx.set(b"int:min", i64::MIN)?;
        tx.set(b"int:max", i64::MAX)?;
        for (name, f) in [
            ("tenth", 0.1),
            ("negzero", -0.0),
            ("tiny", 5e-324),
            ("max", f64::MAX),
            ("big", 1e300),
            ("third", 1.0 / 3.0),
            ("inf", f64::INFINITY),
            ("-inf", f64::NEG_INFINITY),
            ("nan", f64::NAN),
        ] {
            tx.set(format!("float:{name}").as_bytes(), f)?;
        }
        tx.set(b"bool:t", true)?;
        tx.set(b"bool:f", false)?;
        tx.set(b"ts", Value::Timestamp(1_700_000_000_123))?;
        tx.set(b"ts:neg", Value::Timestamp(-5))?;
        tx.set(
            b"json",
            Value::json(r#"{"a": [1, 2.50, "\u00e9"], "b" : null}"#)?,
        )?;
        tx.set([0xffu8, 0x00, b'k'].as_slice(), "binary key")?;
        tx.set_with_expiry(b"ttl:str", "soon", Some(later))?;

        tx.list(b"list").push_back(&[
            b"a".as_slice(),
            b"",
            &[0xff, 0x00],
            b"a",
            b"{\"$bytes_b64\":\"AA==\"}",
        ])?;
        let long: Vec<Vec<u8>> = (0..2500u32).map(|i| i.to_le_bytes().to_vec()).collect();
        tx.list(b"list:long").push_back(&long)?;
        tx.set_of(b"set")
            .add(&[b"x".as_slice(), b"", &[0xc3, 0x28]])?;
        tx.set_of(b"set:long").add(&long)?;
        tx.zset(b"zset").add(
            ZAddFlags::default(),
            &[
                (f64::NEG_INFINITY, b"-inf".as_slice()),
                (f64::INFINITY, b"inf"),
                (0.1, &[0xfe, 0xff]),
                (5e-324, b"tiny"),
                (-1e300, b"big"),
                (1.0 / 3.0, b""),
            ],
        )?;
        let scored: Vec<(f64, Vec<u8>)> = (0..1500u32)
            .map(|i| (f64::from(i) / 7.0, i.to_le_bytes().to_vec()))
            .collect();
        tx.zset(b"zset:long").add(ZAddFlags::default(), &scored)?;
        tx.hash(b"hash").set(&[
            (b"f".as_slice(), b"v".as_slice()),
            (b"", b""),
            (&[0xff], &[0xfe, 0x00]),
        ])?;
        let fields: Vec<(Vec<u8>, Vec<u8>)> = (0..1200u32)
            .map(|i| {
                (
                    format!("f{i}").into_bytes(),
                    vec![i as u8; (i % 7) as usize],
                )
            })
            .collect();
        tx.hash(b"hash:long").set(&fields)?;
        tx.set_of([0x80u8, b'k'].as_slice()).add(&[b"m"])?;
        tx.set_expiry(b"hash", Some(later))?;
        tx.set_expiry(b"list:long", Some(later + 1))?;
        Ok(())
    })
}

#[test]
fn every_type_round_trips_through_json_lines_with_the_binary() -> TestResult {
    let tmp = util::tempdir();
    let (a, b) = (tmp.path().join("a"), tmp.path().join("b"));
    let file = tmp.path().join("dump.jsonl");
    let expected = {
        let db = Db::open(&a)?;
        fill_every_type(&db)?;
        contents(&db)?
    };
    let keys = expected.len().to_string();

    let out = ziggy_ok(&a, &["EXPORT", path_str(&file)?])?;
    assert_eq!(String::from_utf8(out)?.trim_end(), keys);
    let text = std::fs::read_to_string(&file)?;
    assert_eq!(text.lines().count(), expected.len());
    // Binary strings use the `--json` output's convention.
    assert!(
        text.contains(r#"{"key":{"$bytes_b64":"/wBr"},"type":"string","value":"binary key"}"#),
        "{text:.2000}"
    );
    assert!(text.contains(r#"{"key":"float:inf","type":"float","value":"inf"}"#));

    // Into a database that already holds some of the keys, with other types.
    {
        let db = Db::open(&b)?;
        db.set(b"list", "not a list")?;
        db.transaction(|tx| tx.hash(b"str").set(&[(b"f", b"v")]).map(drop))?;
        db.transaction(|tx| tx.list(b"hash:long").push_back(&[b"x"]).map(drop))?;
    }
    let out = ziggy_ok(&b, &["IMPORT", path_str(&file)?])?;
    assert_eq!(String::from_utf8(out)?.trim_end(), keys);
    let got = contents(&Db::open(&b)?)?;
    assert_eq!(got.len(), expected.len());
    for (key, want) in &expected {
        assert_eq!(
            got.get(key),
            Some(want),
            "key {:?}",
            String::from_utf8_lossy(key)
        );
    }

    // Exporting the copy gives the same file, byte for byte.
    let again = tmp.path().join("again.jsonl");
    ziggy_ok(&b, &["export", path_str(&again)?, "format", "jsonl"])?;
    assert_eq!(std::fs::read(&again)?, text.as_bytes());
    Ok(())
}

#[test]
fn the_library_exports_and_imports_through_any_reader_and_writer() -> TestResult {
    let tmp = util::tempdir();
    let a = Db::open(tmp.path().join("a"))?;
    fill_every_type(&a)?;
    let mut dump = Vec::new();
    let n = a.export(ExportFormat::JsonLines, &mut dump)?;
    assert_eq!(n, a.len());
    let b = Db::open(tmp.path().join("b"))?;
    let stats = b.import(std::io::Cursor::new(&dump))?;
    assert_eq!((stats.keys, stats.expired), (n, 0));
    assert_eq!(contents(&b)?, contents(&a)?);
    Ok(())
}

#[test]
fn import_skips_expired_keys_and_ignores_blank_lines() -> TestResult {
    let tmp = util::tempdir();
    let db = Db::open(tmp.path().join("db"))?;
    db.set(b"old", "kept")?;
    let later = in_an_hour();
    let dump = format!(
        "{{\"key\":\"old\",\"type\":\"string\",\"expires_at_ms\":1,\"value\":\"gone\"}}\n\
         \n\
         {{\"key\":\"new\",\"type\":\"int\",\"value\":7,\"expires_at_ms\":{later}}}\r\n\
         {{\"key\":\"z\",\"type\":\"zset\",\"value\":[[\"a\",1],[\"a\",2]]}}\n"
    );
    let stats = db.import(std::io::Cursor::new(dump))?;
    assert_eq!((stats.keys, stats.expired), (2, 1));
    assert_eq!(db.get_value(b"old")?, Some(Value::String("kept".into())));
    assert_eq!(db.get_value(b"new")?, Some(Value::Int(7)));
    assert_eq!(db.expiry(b"new")?, Some(later));
    // A member given twice keeps the last score, as ZADD does.
    assert_eq!(db.zset(b"z").range(0, -1, false)?, [(b"a".to_vec(), 2.0)]);
    Ok(())
}

#[test]
fn a_malformed_line_is_named_and_nothing_is_written() -> TestResult {
    let tmp = util::tempdir();
    let dir = tmp.path().join("db");
    let file = tmp.path().join("bad.jsonl");
    let good = r#"{"key":"a","type":"string","value":"x"}"#;
    let cases = [
        ("{\"key\":", "not valid JSON"),
        (r#"["a"]"#, "expected a JSON object"),
        (r#"{"type":"string","value":"x"}"#, "missing \"key\""),
        (r#"{"key":"k","value":"x"}"#, "missing \"type\""),
        (r#"{"key":"k","type":"string"}"#, "missing \"value\""),
        (
            r#"{"key":"k","type":"text","value":"x"}"#,
            "unknown type \"text\"",
        ),
        (
            r#"{"key":"k","type":"int","value":"7"}"#,
            "expected an integer",
        ),
        (
            r#"{"key":"k","type":"int","value":9223372036854775808}"#,
            "expected an integer",
        ),
        (
            r#"{"key":"k","type":"float","value":"0.1"}"#,
            "expected a number",
        ),
        (
            r#"{"key":"k","type":"bool","value":1}"#,
            "expected true or false",
        ),
        (r#"{"key":"k","type":"json","value":"{"}"#, "invalid JSON"),
        (
            r#"{"key":{"$bytes_b64":"!!"},"type":"string","value":"x"}"#,
            "base64",
        ),
        (
            r#"{"key":{"b64":"AA=="},"type":"string","value":"x"}"#,
            "$bytes_b64",
        ),
        (r#"{"key":"k","type":"list","value":[]}"#, "cannot be empty"),
        (r#"{"key":"k","type":"set","value":["a",2]}"#, "item 1"),
        (
            r#"{"key":"k","type":"zset","value":[["a"]]}"#,
            "[member, score]",
        ),
        (
            r#"{"key":"k","type":"zset","value":[["a","nan"]]}"#,
            "\"inf\" or \"-inf\"",
        ),
        (
            r#"{"key":"k","type":"hash","value":{"f":"v"}}"#,
            "expected an array",
        ),
        (
            r#"{"key":"k","type":"string","value":"x","expires_at_ms":-1}"#,
            "expires_at_ms",
        ),
        (
            r#"{"key":"k","type":"string","value":"x","ttl":5}"#,
            "unknown field \"ttl\"",
        ),
    ];
    for (bad, says) in cases {
        // Line 4: a blank line counts.
        std::fs::write(&file, format!("{good}\n\n{good}\n{bad}\n{good}\n"))?;
        let out = ziggy(&dir, &["IMPORT", path_str(&file)?], b"")?;
        let reply = String::from_utf8(out.stdout)?;
        assert!(!out.status.success(), "{bad}: {reply}");
        assert!(
            reply.starts_with("ERR import file line 4: ") && reply.contains(says),
            "{bad}: {reply}"
        );
        assert_eq!(ziggy_ok(&dir, &["DBSIZE"])?, b"0\n", "{bad}");
    }
    // A key longer than the format allows is caught before anything is written too.
    let long = "k".repeat(70_000);
    std::fs::write(
        &file,
        format!("{good}\n{{\"key\":\"{long}\",\"type\":\"string\",\"value\":\"x\"}}\n"),
    )?;
    let out = ziggy(&dir, &["IMPORT", path_str(&file)?], b"")?;
    let reply = String::from_utf8(out.stdout)?;
    assert!(
        reply.starts_with("ERR import file line 2: key of 70000 bytes"),
        "{reply}"
    );
    assert_eq!(ziggy_ok(&dir, &["DBSIZE"])?, b"0\n");
    Ok(())
}

#[test]
fn a_dash_is_standard_output_or_input_for_a_one_shot_command() -> TestResult {
    let tmp = util::tempdir();
    let (a, b) = (tmp.path().join("a"), tmp.path().join("b"));
    fill_every_type(&Db::open(&a)?)?;
    let dump = ziggy_ok(&a, &["export", "-"])?;
    let resp = ziggy_ok(&a, &["export", "-", "FORMAT", "RESP"])?;
    assert!(resp.starts_with(b"*2\r\n$3\r\nDEL\r\n"));
    let out = ziggy(&b, &["import", "-"], &dump)?;
    assert!(out.status.success());
    let lines = dump
        .split(|&c| c == b'\n')
        .filter(|l| !l.is_empty())
        .count();
    assert_eq!(String::from_utf8(out.stdout)?.trim_end(), lines.to_string());
    assert_eq!(contents(&Db::open(&b)?)?, contents(&Db::open(&a)?)?);

    // In a script, standard input and output carry commands and replies.
    let out = ziggy(&b, &[], b"EXPORT -\nIMPORT -\nDBSIZE\n")?;
    let text = String::from_utf8(out.stdout)?;
    // (Raw output follows an error with a blank line, as redis-cli does.)
    let lines: Vec<&str> = text.lines().filter(|l| !l.is_empty()).collect();
    assert!(lines[0].starts_with("ERR EXPORT - (standard output) works only as a one-shot"));
    assert!(lines[1].starts_with("ERR IMPORT - (standard input) works only as a one-shot"));
    // A bad format on a one-shot export to standard output fails on standard error.
    let out = ziggy(&b, &["export", "-", "FORMAT", "XML"], b"")?;
    assert!(!out.status.success() && out.stdout.is_empty());
    assert!(String::from_utf8(out.stderr)?.contains("unknown export format"));
    Ok(())
}

/// Splits output made by `script` (each command followed by `ECHO <marker>`) into the lines
/// printed by each command.
fn by_command(out: &[u8], count: usize) -> TestResult<Vec<Vec<Vec<u8>>>> {
    let mut replies = vec![Vec::new()];
    for line in out.split(|&c| c == b'\n') {
        if line.starts_with(b"--end-of-reply--") {
            replies.push(Vec::new());
        } else if let Some(last) = replies.last_mut() {
            last.push(line.to_vec());
        }
    }
    replies.pop(); // what follows the last marker: the final newline
    if replies.len() != count {
        return Err(format!("expected {count} replies, got {}", replies.len()).into());
    }
    Ok(replies)
}

fn parse_score(text: &[u8]) -> TestResult<f64> {
    let s = std::str::from_utf8(text)?;
    Ok(match s {
        "inf" => f64::INFINITY,
        "-inf" => f64::NEG_INFINITY,
        _ => s.parse()?,
    })
}

#[test]
fn the_resp_export_loads_into_redis_with_redis_cli_pipe() -> TestResult {
    let Some(redis) = util::redis_or_skip("RESP export test")? else {
        return Ok(());
    };
    let tmp = util::tempdir();
    let dir = tmp.path().join("db");
    let file = tmp.path().join("dump.resp");
    let later = in_an_hour();
    let db = Db::open(&dir)?;
    // Members and values without a newline, so that raw replies split into lines.
    db.transaction(|tx| {
        tx.set(b"str", "hello world")?;
        tx.set(b"empty", "")?;
        tx.set([0xffu8, 0x00, b'k'].as_slice(), [0xfeu8, 0x01].as_slice())?;
        tx.set(b"int", i64::MIN)?;
        tx.set(b"float", 0.1)?;
        tx.set(b"bool", true)?;
        tx.set(b"json", Value::json(r#"{"a": 1}"#)?)?;
        tx.set_with_expiry(b"ttl", "x", Some(later))?;
        let long: Vec<Vec<u8>> = (0..2500u32).map(|i| format!("e{i}").into_bytes()).collect();
        tx.list(b"list").push_back(&long)?;
        tx.list(b"list").push_back(&[b"".as_slice(), &[0xff]])?;
        tx.set_of(b"set").add(&long[..1200])?;
        tx.set_of(b"set").add(&[b"".as_slice(), &[0x80]])?;
        let scored: Vec<(f64, Vec<u8>)> = (0..1100u32)
            .map(|i| (f64::from(i) * 0.1 - 20.0, format!("m{i}").into_bytes()))
            .collect();
        tx.zset(b"zset").add(ZAddFlags::default(), &scored)?;
        tx.zset(b"zset").add(
            ZAddFlags::default(),
            &[
                (f64::INFINITY, b"inf".as_slice()),
                (f64::NEG_INFINITY, b"-inf"),
                (5e-324, b"tiny"),
                (1e300, b"big"),
                (1.0 / 3.0, &[0xfe]),
            ],
        )?;
        tx.hash(b"hash").set(&[
            (b"f".as_slice(), b"v".as_slice()),
            (b"", b""),
            (&[0xff], &[0xfe]),
        ])?;
        tx.set_expiry(b"hash", Some(later))?;
        Ok(())
    })?;
    let out = ziggy_ok(&dir, &["EXPORT", path_str(&file)?, "FORMAT", "RESP"])?;
    assert_eq!(String::from_utf8(out)?.trim_end(), db.len().to_string());
    let resp = std::fs::read(&file)?;

    // Twice: each key is deleted first, so loading again gives the same data.
    for _ in 0..2 {
        let mut cli = redis.cli();
        cli.arg("--pipe");
        let report = String::from_utf8(util::pipe(cli, &resp, "redis-cli --pipe")?)?;
        assert!(report.contains("errors: 0,"), "{report}");
    }

    // The same reads through redis-cli and ziggy, each followed by a marker.
    let mut keys = db.keys()?;
    keys.sort();
    let mut script = String::new();
    let mut commands = Vec::new();
    for key in &keys {
        let k = key.as_slice();
        let read: &[&[u8]] = match db.key_type(key)? {
            "list" => &[b"LRANGE", k, b"0", b"-1"],
            "set" => &[b"SMEMBERS", k],
            "zset" => &[b"ZRANGE", k, b"0", b"-1", b"WITHSCORES"],
            "hash" => &[b"HGETALL", k],
            _ => &[b"GET", k],
        };
        let ttl: &[&[u8]] = &[b"PEXPIRETIME", k];
        let ty: &[&[u8]] = &[b"TYPE", k];
        for cmd in [read, ttl, ty] {
            let args: Vec<Vec<u8>> = cmd.iter().map(|a| a.to_vec()).collect();
            script.push_str(&util::command_line(&args));
            script.push_str("\nECHO --end-of-reply--\n");
            commands.push(args);
        }
    }
    script.push_str("DBSIZE\nECHO --end-of-reply--\n");
    commands.push(vec![b"DBSIZE".to_vec()]);
    let from_redis = by_command(&redis.run(script.as_bytes())?, commands.len())?;
    let from_ziggy = by_command(
        &util::pipe(
            {
                let mut cmd = Command::new(env!("CARGO_BIN_EXE_ziggy"));
                cmd.arg("-d").arg(&dir);
                cmd
            },
            script.as_bytes(),
            "ziggy",
        )?,
        commands.len(),
    )?;
    for ((cmd, mut r), mut z) in commands.iter().zip(from_redis).zip(from_ziggy) {
        let shown = util::command_line(cmd);
        match cmd[0].as_slice() {
            b"SMEMBERS" => {
                r.sort();
                z.sort();
            }
            b"HGETALL" | b"ZRANGE" => {
                let pairs = |lines: Vec<Vec<u8>>| {
                    let mut p: Vec<(Vec<u8>, Vec<u8>)> = lines
                        .chunks(2)
                        .map(|c| (c[0].clone(), c.get(1).cloned().unwrap_or_default()))
                        .collect();
                    if cmd[0] == b"HGETALL" {
                        p.sort();
                    }
                    p
                };
                let (rp, zp) = (pairs(r), pairs(z));
                assert_eq!(rp.len(), zp.len(), "{shown}");
                for ((rm, rv), (zm, zv)) in rp.iter().zip(&zp) {
                    assert_eq!(rm, zm, "{shown}");
                    if cmd[0] == b"ZRANGE" {
                        // Redis 7.0 prints 17 significant digits: compare the doubles.
                        let (rs, zs) = (parse_score(rv)?, parse_score(zv)?);
                        assert_eq!(rs.to_bits(), zs.to_bits(), "{shown}: {rs} vs {zs}");
                    } else {
                        assert_eq!(rv, zv, "{shown}");
                    }
                }
                continue;
            }
            _ => {}
        }
        assert_eq!(
            r,
            z,
            "{shown}: redis {:?} ziggy {:?}",
            r.iter()
                .map(|l| String::from_utf8_lossy(l))
                .collect::<Vec<_>>(),
            z.iter()
                .map(|l| String::from_utf8_lossy(l))
                .collect::<Vec<_>>()
        );
    }
    Ok(())
}

#[test]
fn an_import_larger_than_a_segment_is_split_into_transactions() -> TestResult {
    let tmp = util::tempdir();
    let small = || Db::options().segment_size(64 << 10);
    let src = small().open(tmp.path().join("src"))?;
    // Each collection alone is larger than a segment (and so than one transaction).
    let elems: Vec<Vec<u8>> = (0..6000u32)
        .map(|i| format!("element-{i:012}").into_bytes())
        .collect();
    for chunk in elems.chunks(500) {
        src.transaction(|tx| {
            tx.list(b"list").push_back(chunk)?;
            tx.set_of(b"set").add(chunk)?;
            Ok(())
        })?;
    }
    for i in 0..3000u32 {
        if i % 500 == 0 {
            src.set(format!("k{i}").as_bytes(), i64::from(i))?;
        }
    }
    let mut dump = Vec::new();
    src.export(ExportFormat::JsonLines, &mut dump)?;
    assert!(dump.len() > 2 * (64 << 10), "{} bytes", dump.len());
    let dst = small().open(tmp.path().join("dst"))?;
    let stats = dst.import(std::io::Cursor::new(&dump))?;
    assert_eq!(stats.keys, src.len());
    assert_eq!(contents(&dst)?, contents(&src)?);

    // A value larger than a segment is imported too: it goes to a large segment
    // (format-spec.md §3.3). (One past 512 MiB is refused before anything is written.)
    let big = "x".repeat(70 << 10);
    let line = format!("{{\"key\":\"k\",\"type\":\"string\",\"value\":\"x\"}}\n{{\"key\":\"big\",\"type\":\"string\",\"value\":\"{big}\"}}\n");
    let empty = small().open(tmp.path().join("empty"))?;
    empty.import(std::io::Cursor::new(line))?;
    assert_eq!(empty.len(), 2);
    assert_eq!(empty.get(b"big")?.map(|v| v.len()), Some(70 << 10));
    Ok(())
}

#[test]
fn an_export_is_one_state_while_another_thread_writes() -> TestResult {
    let tmp = util::tempdir();
    let db = Db::open(tmp.path().join("db"))?;
    db.transaction(|tx| {
        for i in 0..20_000u32 {
            tx.set(format!("filler:{i}").as_bytes(), "some bytes to export")?;
        }
        tx.set(b"a", 0i64)?;
        tx.set(b"z", 0i64)?;
        Ok(())
    })?;
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let writer = {
        let (db, stop) = (db.clone(), stop.clone());
        std::thread::spawn(move || -> ziggydb::Result<u64> {
            let mut n = 0;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                // `a` and `z` are always equal in a committed state.
                db.transaction(|tx| {
                    tx.incr_by(b"a", 1)?;
                    tx.incr_by(b"z", 1)
                })?;
                n += 1;
            }
            Ok(n)
        })
    };
    for _ in 0..5 {
        let mut dump = Vec::new();
        db.export(ExportFormat::JsonLines, &mut dump)?;
        let text = String::from_utf8(dump)?;
        let value = |key: &str| -> Option<String> {
            let prefix = format!("{{\"key\":\"{key}\",\"type\":\"int\",\"value\":");
            let line = text.lines().find(|l| l.starts_with(&prefix))?;
            Some(line[prefix.len()..line.len() - 1].to_owned())
        };
        let (a, z) = (value("a"), value("z"));
        assert!(a.is_some());
        assert_eq!(a, z);
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let commits = writer.join().map_err(|_| "writer panicked")??;
    assert!(commits > 0);
    Ok(())
}
