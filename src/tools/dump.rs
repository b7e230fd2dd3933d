//! Export of every key to a file and import back: JSON Lines (typed, binary-safe, the format
//! `IMPORT` reads) and the Redis protocol (commands for `redis-cli --pipe`).
//!
//! An export runs inside one write transaction that it rolls back at the end: while it holds
//! the writer lock no process can commit, so the file is one point-in-time state of the whole
//! database. The price is that other writers wait for the export (and give up with
//! [`Error::Busy`] after their lock timeout). Collections are read and written in chunks, so a
//! 1M-member collection never sits in memory as one string.
//!
//! An import reads its input twice: first it parses every line and stops at the first
//! malformed one, having written nothing; then it writes the keys in batches, each batch one
//! transaction (1000 keys, or less when a quarter of a segment of data has accumulated). A
//! collection larger than a batch is written over several transactions, with its expiry set
//! by the last one. A crash or an I/O error mid-import therefore leaves the batches before it
//! committed; importing the same file again replaces every key it holds.

use crate::progress::{self, Task, Unit};
use std::io::{self, BufRead, BufReader, Read, Seek, SeekFrom, Write};

use serde_json::Value as Json;

use crate::db::pages::Source;
use crate::db::txn::WriteTxn;
use crate::db::Db;
use crate::engine::now_ms;
use crate::error::{Error, Result};
use crate::format::record::MAX_KEY_LEN;
use crate::format::value::{Value, ValueType};
use crate::types::collections;
use crate::ZAddFlags;

/// Members of a collection read, written or sent in one command at a time.
const CHUNK: u64 = 1000;
/// Keys written by one import transaction at most.
pub(crate) const BATCH_KEYS: u64 = 1000;
/// Argument bytes one transaction of [`Db::import_resp`] writes at most.
pub(crate) const RESP_BATCH_BYTES: usize = 1 << 20;
/// Per-member bytes added to the byte estimate of an import batch (record and tree
/// overhead).
pub(crate) const MEMBER_OVERHEAD: usize = 32;

/// The format of [`Db::export`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ExportFormat {
    /// One JSON object per key, with its type, value and expiry; what [`Db::import`] reads.
    JsonLines,
    /// Redis commands in the Redis protocol (RESP), for `redis-cli --pipe`: for each key
    /// `DEL`, then `SET`, `RPUSH`, `SADD`, `ZADD` or `HSET` (1000 members per command), then
    /// `PEXPIREAT` if it expires.
    Resp,
}

/// What [`Db::import`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct ImportStats {
    /// Keys written.
    pub keys: u64,
    /// Keys skipped because their expiry time had already passed.
    pub expired: u64,
    /// Commands run by [`Db::import_resp`] (0 for [`Db::import`]).
    pub commands: u64,
}

impl Db {
    /// Writes every key, with its type, value and expiry, to `out` in `format`; returns the
    /// number of keys written. The keys come in byte order, each collection's members in the
    /// collection's order (a sorted set's by member).
    ///
    /// The export is one consistent state: it runs in a write transaction, which it rolls
    /// back, so other writers wait until it ends (and give up with [`Error::Busy`] after their
    /// lock timeout). Collections are read and written in chunks, so a large collection never
    /// sits in memory as one string. On a read-only handle it writes the handle's snapshot
    /// and takes no lock.
    ///
    /// # Errors
    /// [`Error::Busy`] if the writer lock cannot be taken; read errors; [`Error::Io`] if `out`
    /// cannot be written.
    ///
    /// # Examples
    ///
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// # let db = ziggydb::Db::open(dir.path().join("db"))?;
    /// use ziggydb::ExportFormat;
    /// db.set(b"k", "v")?;
    /// db.transaction(|tx| tx.list(b"l").push_back(&["a"]))?;
    /// let mut out = Vec::new();
    /// assert_eq!(db.export(ExportFormat::JsonLines, &mut out)?, 2);
    /// assert_eq!(String::from_utf8(out).unwrap().lines().count(), 2);
    /// # Ok::<(), ziggydb::Error>(())
    /// ```
    pub fn export(&self, format: ExportFormat, out: impl Write) -> Result<u64> {
        let tx = if self.inner.read_only {
            // A read-only handle's snapshot is one consistent state already.
            WriteTxn::new(self.inner.read_only_section()?)?
        } else {
            self.begin_write()?
        };
        let result = export_from(&tx, format, out);
        tx.rollback();
        result
    }

    /// Loads keys written by [`Db::export`] in [`ExportFormat::JsonLines`], replacing keys
    /// that exist. Keys whose expiry time has passed are skipped (and an existing key of the
    /// same name is left as it is). Blank lines are ignored.
    ///
    /// The input is read twice: every line is checked before anything is written, so a file
    /// with a malformed line writes nothing. Keys are then written in batches of up to 1000
    /// per transaction (fewer when a quarter of a segment of data has accumulated); a
    /// collection larger than a batch is written over several transactions, with its expiry
    /// set by the last one. A crash or an I/O error mid-import leaves the batches before it
    /// committed; importing the same file again replaces every key it holds.
    ///
    /// # Errors
    /// [`Error::BadImportLine`] for a malformed line, naming it; [`Error::Io`] if `input`
    /// cannot be read; the errors of a write transaction.
    ///
    /// # Examples
    ///
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// # let db = ziggydb::Db::open(dir.path().join("db"))?;
    /// use ziggydb::ExportFormat;
    /// db.set(b"k", "v")?;
    /// let mut dump = Vec::new();
    /// db.export(ExportFormat::JsonLines, &mut dump)?;
    /// let other = ziggydb::Db::open(dir.path().join("other"))?;
    /// let stats = other.import(std::io::Cursor::new(dump))?;
    /// assert_eq!(stats.keys, 1);
    /// assert_eq!(other.get(b"k")?.as_deref(), Some(&b"v"[..]));
    /// # Ok::<(), ziggydb::Error>(())
    /// ```
    pub fn import<R: Read + Seek>(&self, input: R) -> Result<ImportStats> {
        let mut input = BufReader::with_capacity(1 << 16, input);
        // Read twice: the progress of an import is twice the input's length.
        let len = input
            .seek(SeekFrom::End(0))
            .and_then(|len| input.seek(SeekFrom::Start(0)).map(|_| len))
            .map_err(|e| Error::io(INPUT, e))?;
        progress::task(Task::Import, Unit::Bytes, len.saturating_mul(2), || {
            self.import_read(input)
        })
    }

    /// [`Db::import`] once the input's length is known.
    fn import_read<R: Read + Seek>(&self, mut input: BufReader<R>) -> Result<ImportStats> {
        // A value may be larger than a segment (format-spec.md §3.3), up to 512 MiB.
        let max_value = crate::types::MAX_STRING_LEN.min(self.inner.max_txn_bytes());
        each_line(&mut input, |line, rec| {
            check_size(&rec, max_value).map_err(|reason| Error::BadImportLine { line, reason })
        })?;
        input
            .seek(SeekFrom::Start(0))
            .map_err(|e| Error::io(INPUT, e))?;
        let mut importer = Importer {
            db: self,
            tx: None,
            keys: 0,
            bytes: 0,
            budget: max_value / 4,
            stats: ImportStats::default(),
        };
        // An error now (I/O, a full disk) is not the line's fault: it is returned as it is.
        let result = each_line(&mut input, |_, rec| importer.put(rec));
        match result {
            Ok(()) => {
                if let Some(tx) = importer.tx.take() {
                    tx.commit()?;
                }
                Ok(importer.stats)
            }
            Err(e) => {
                if let Some(tx) = importer.tx.take() {
                    tx.rollback();
                }
                Err(e)
            }
        }
    }
}

/// Checks one line of an export file in JSON Lines as [`Db::import`] does, without writing.
/// For fuzzing; not part of the stable API.
///
/// # Errors
/// A description of what is wrong with the line.
#[doc(hidden)]
#[cfg(feature = "test-hooks")]
pub fn check_line(line: &[u8]) -> std::result::Result<(), String> {
    parse_line(line).map(|_| ())
}

pub(crate) const INPUT: &str = "(import input)";
const OUTPUT: &str = "(export output)";

fn write_err(e: io::Error) -> Error {
    Error::io(OUTPUT, e)
}

// ---------------------------------------------------------------------------------------------
// Export

fn export_from(tx: &WriteTxn, format: ExportFormat, out: impl Write) -> Result<u64> {
    let mut out = io::BufWriter::with_capacity(1 << 16, out);
    let mut n = 0;
    let keys = tx.visible_keys()?;
    progress::task(Task::Export, Unit::Keys, keys.len() as u64, || {
        for key in keys {
            progress::advance(1);
            let Some(ty) = tx.value_type(&key)? else {
                continue;
            };
            let expires = tx.expiry(&key)?;
            match format {
                ExportFormat::JsonLines => json_key(tx, &mut out, &key, ty, expires)?,
                ExportFormat::Resp => resp_key(tx, &mut out, &key, ty, expires)?,
            }
            n += 1;
        }
        out.flush().map_err(write_err)?;
        Ok(n)
    })
}

/// Calls `f` on each chunk of the entries of the collection at `key` (of type `ty`): list
/// elements as (position, element), set members as (member, empty), sorted-set members as
/// (member, stored score), hash fields as (field, value).
fn each_chunk(
    tx: &WriteTxn,
    key: &[u8],
    ty: ValueType,
    mut f: impl FnMut(&[(Vec<u8>, Vec<u8>)]) -> Result<()>,
) -> Result<()> {
    let Some(meta) = tx.meta(key, ty)? else {
        return Ok(());
    };
    if ty == ValueType::List {
        // By position: a list's entries all have the empty key.
        let mut at = 0;
        while at < meta.len {
            let chunk = meta.a.range(tx, at, CHUNK)?;
            if chunk.is_empty() {
                break;
            }
            at += chunk.len() as u64;
            f(&chunk)?;
        }
        return Ok(());
    }
    // By key, from after the last key of the previous chunk: a hash's and a sorted set's
    // member trees keep no positions.
    let mut chunk = meta.a.range_after(tx, None, CHUNK)?;
    while !chunk.is_empty() {
        f(&chunk)?;
        let last = chunk.last().map(|(k, _)| k.clone()).unwrap_or_default();
        chunk = meta.a.range_after(tx, Some(&last), CHUNK)?;
    }
    Ok(())
}

/// `b` as a JSON string when it is UTF-8, else as `{"$bytes_b64":"..."}`.
fn json_bytes(out: &mut impl Write, b: &[u8]) -> io::Result<()> {
    match std::str::from_utf8(b) {
        Ok(s) => serde_json::to_writer(&mut *out, s).map_err(io::Error::from),
        Err(_) => write!(out, "{{\"$bytes_b64\":\"{}\"}}", base64_encode(b)),
    }
}

/// A float as a JSON number, exact (shortest round-trip form); the non-finite ones as the
/// strings `"inf"`, `"-inf"` and `"nan"`.
fn json_float(out: &mut impl Write, f: f64) -> io::Result<()> {
    if f.is_nan() {
        out.write_all(b"\"nan\"")
    } else if f.is_infinite() {
        out.write_all(if f > 0.0 { b"\"inf\"" } else { b"\"-inf\"" })
    } else {
        serde_json::to_writer(&mut *out, &f).map_err(io::Error::from)
    }
}

fn json_key(
    tx: &WriteTxn,
    out: &mut impl Write,
    key: &[u8],
    ty: ValueType,
    expires: Option<u64>,
) -> Result<()> {
    let io = |r: io::Result<()>| r.map_err(write_err);
    io(out.write_all(b"{\"key\":"))?;
    io(json_bytes(out, key))?;
    io(write!(out, ",\"type\":\"{}\"", ty.name()))?;
    if let Some(at) = expires {
        io(write!(out, ",\"expires_at_ms\":{at}"))?;
    }
    io(out.write_all(b",\"value\":"))?;
    if ty.is_collection() {
        io(out.write_all(b"["))?;
        let mut first = true;
        each_chunk(tx, key, ty, |chunk| {
            for (k, v) in chunk {
                if !first {
                    io(out.write_all(b","))?;
                }
                first = false;
                io(match ty {
                    ValueType::List => json_bytes(out, v),
                    ValueType::Set => json_bytes(out, k),
                    ValueType::ZSet => out
                        .write_all(b"[")
                        .and_then(|()| json_bytes(out, k))
                        .and_then(|()| out.write_all(b","))
                        .and_then(|()| json_float(out, collections::stored_score(v)))
                        .and_then(|()| out.write_all(b"]")),
                    _ => out
                        .write_all(b"[")
                        .and_then(|()| json_bytes(out, k))
                        .and_then(|()| out.write_all(b","))
                        .and_then(|()| json_bytes(out, v))
                        .and_then(|()| out.write_all(b"]")),
                })?;
            }
            Ok(())
        })?;
        io(out.write_all(b"]"))?;
    } else {
        let value = tx.get(key)?.ok_or(Error::Poisoned)?;
        io(match &value {
            Value::Bytes(b) => json_bytes(out, b),
            Value::String(s) | Value::Json(s) => {
                serde_json::to_writer(&mut *out, s).map_err(io::Error::from)
            }
            Value::Int(i) | Value::Timestamp(i) => write!(out, "{i}"),
            Value::Float(f) => json_float(out, *f),
            Value::Bool(b) => write!(out, "{b}"),
        })?;
    }
    io(out.write_all(b"}\n"))
}

/// One command in RESP: an array of bulk strings.
fn resp_command(out: &mut impl Write, args: &[&[u8]]) -> Result<()> {
    let mut head = Vec::with_capacity(16 * args.len());
    head.extend_from_slice(format!("*{}\r\n", args.len()).as_bytes());
    out.write_all(&head).map_err(write_err)?;
    for a in args {
        write!(out, "${}\r\n", a.len()).map_err(write_err)?;
        out.write_all(a).map_err(write_err)?;
        out.write_all(b"\r\n").map_err(write_err)?;
    }
    Ok(())
}

/// A score as Redis's `ZADD` reads it back exactly.
fn resp_score(f: f64) -> String {
    if f.is_infinite() {
        if f > 0.0 { "inf" } else { "-inf" }.to_owned()
    } else {
        // Rust's `Debug` form is the shortest that parses back to the same double, with an
        // exponent for very large or small magnitudes.
        format!("{f:?}")
    }
}

fn resp_key(
    tx: &WriteTxn,
    out: &mut impl Write,
    key: &[u8],
    ty: ValueType,
    expires: Option<u64>,
) -> Result<()> {
    resp_command(out, &[b"DEL", key])?;
    if ty.is_collection() {
        let name: &[u8] = match ty {
            ValueType::List => b"RPUSH",
            ValueType::Set => b"SADD",
            ValueType::ZSet => b"ZADD",
            _ => b"HSET",
        };
        each_chunk(tx, key, ty, |chunk| {
            let scores: Vec<String> = match ty {
                ValueType::ZSet => chunk
                    .iter()
                    .map(|(_, v)| resp_score(collections::stored_score(v)))
                    .collect(),
                _ => Vec::new(),
            };
            let mut args: Vec<&[u8]> = Vec::with_capacity(2 + 2 * chunk.len());
            args.push(name);
            args.push(key);
            for (i, (k, v)) in chunk.iter().enumerate() {
                match ty {
                    ValueType::List => args.push(v),
                    ValueType::Set => args.push(k),
                    ValueType::ZSet => {
                        args.push(scores[i].as_bytes());
                        args.push(k);
                    }
                    _ => {
                        args.push(k);
                        args.push(v);
                    }
                }
            }
            resp_command(out, &args)
        })?;
    } else {
        let value = tx.get(key)?.ok_or(Error::Poisoned)?;
        resp_command(out, &[b"SET", key, &value.to_redis_bytes()])?;
    }
    if let Some(at) = expires {
        resp_command(out, &[b"PEXPIREAT", key, at.to_string().as_bytes()])?;
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Import

/// One key of an export file.
#[derive(Debug, PartialEq)]
struct Record {
    key: Vec<u8>,
    expires_at_ms: Option<u64>,
    data: Data,
}

#[derive(Debug, PartialEq)]
enum Data {
    Scalar(Value),
    List(Vec<Vec<u8>>),
    Set(Vec<Vec<u8>>),
    ZSet(Vec<(f64, Vec<u8>)>),
    Hash(Vec<(Vec<u8>, Vec<u8>)>),
}

impl Data {
    /// Bytes the data takes, roughly, once stored.
    fn size(&self) -> usize {
        let members = |n: usize, bytes: usize| bytes + n * MEMBER_OVERHEAD;
        match self {
            Data::Scalar(v) => v.encode_payload().len(),
            Data::List(m) | Data::Set(m) => members(m.len(), m.iter().map(Vec::len).sum()),
            Data::ZSet(m) => members(m.len(), m.iter().map(|(_, b)| 8 + b.len()).sum()),
            Data::Hash(m) => members(m.len(), m.iter().map(|(f, v)| f.len() + v.len()).sum()),
        }
    }
}

/// Reads `input` line by line, calling `f` with the line number and the parsed record of each
/// line that is not blank.
fn each_line(input: &mut impl BufRead, mut f: impl FnMut(u64, Record) -> Result<()>) -> Result<()> {
    let mut line = Vec::new();
    let mut number = 0u64;
    loop {
        line.clear();
        if input
            .read_until(b'\n', &mut line)
            .map_err(|e| Error::io(INPUT, e))?
            == 0
        {
            return Ok(());
        }
        number += 1;
        progress::advance(line.len() as u64);
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        let rec = parse_line(&line).map_err(|reason| Error::BadImportLine {
            line: number,
            reason,
        })?;
        f(number, rec)?;
    }
}

/// What the writes need that parsing does not check: the key's length and a scalar that fits
/// in a segment.
fn check_size(rec: &Record, max_value: usize) -> std::result::Result<(), String> {
    if rec.key.len() > MAX_KEY_LEN {
        return Err(format!(
            "key of {} bytes is longer than the limit of {MAX_KEY_LEN} bytes",
            rec.key.len()
        ));
    }
    if let Data::Scalar(v) = &rec.data {
        let len = v.encode_payload().len();
        if len > max_value {
            return Err(format!(
                "value of {len} bytes is longer than the limit of {max_value} bytes"
            ));
        }
    }
    Ok(())
}

fn parse_line(line: &[u8]) -> std::result::Result<Record, String> {
    let json: Json = serde_json::from_slice(line).map_err(|e| format!("not valid JSON: {e}"))?;
    let Json::Object(mut obj) = json else {
        return Err("expected a JSON object with \"key\", \"type\" and \"value\"".into());
    };
    let key = bytes_of(obj.remove("key").ok_or("missing \"key\"")?)
        .map_err(|e| format!("\"key\": {e}"))?;
    let ty = match obj.remove("type").ok_or("missing \"type\"")? {
        Json::String(s) => s,
        _ => return Err("\"type\" must be a string".into()),
    };
    let expires_at_ms =
        match obj.remove("expires_at_ms") {
            None | Some(Json::Null) => None,
            Some(v) => Some(v.as_u64().filter(|&ms| ms > 0).ok_or(
                "\"expires_at_ms\" must be a positive integer (Unix time in milliseconds)",
            )?),
        };
    let value = obj.remove("value").ok_or("missing \"value\"")?;
    if let Some(other) = obj.keys().next() {
        return Err(format!("unknown field \"{other}\""));
    }
    let data = parse_value(&ty, value).map_err(|e| format!("\"value\": {e}"))?;
    Ok(Record {
        key,
        expires_at_ms,
        data,
    })
}

fn parse_value(ty: &str, value: Json) -> std::result::Result<Data, String> {
    let scalar = |v: Value| Ok(Data::Scalar(v));
    match ty {
        "bytes" => scalar(Value::Bytes(bytes_of(value)?)),
        "string" => scalar(Value::String(text_of(value)?)),
        "json" => {
            let text = text_of(value)?;
            Value::json(text)
                .map(Data::Scalar)
                .map_err(|e| e.to_string())
        }
        "int" => scalar(Value::Int(value.as_i64().ok_or("expected an integer")?)),
        "timestamp" => scalar(Value::Timestamp(
            value.as_i64().ok_or("expected an integer (Unix ms)")?,
        )),
        "float" => scalar(Value::Float(float_of(&value, true)?)),
        "bool" => scalar(Value::Bool(
            value.as_bool().ok_or("expected true or false")?,
        )),
        "list" => Ok(Data::List(each(value, bytes_of)?)),
        "set" => Ok(Data::Set(each(value, bytes_of)?)),
        "zset" => Ok(Data::ZSet(each(value, |pair| {
            let [member, score] = pair_of(pair, "[member, score]")?;
            Ok((float_of(&score, false)?, bytes_of(member)?))
        })?)),
        "hash" => Ok(Data::Hash(each(value, |pair| {
            let [field, value] = pair_of(pair, "[field, value]")?;
            Ok((bytes_of(field)?, bytes_of(value)?))
        })?)),
        other => Err(format!(
            "unknown type \"{other}\" (expected string, bytes, int, float, bool, timestamp, \
             json, list, set, zset or hash)"
        )),
    }
}

/// The items of a non-empty array, each converted by `f`; the error names the item's index.
fn each<T>(
    value: Json,
    mut f: impl FnMut(Json) -> std::result::Result<T, String>,
) -> std::result::Result<Vec<T>, String> {
    let Json::Array(items) = value else {
        return Err("expected an array".into());
    };
    if items.is_empty() {
        return Err("a collection cannot be empty".into());
    }
    items
        .into_iter()
        .enumerate()
        .map(|(i, item)| f(item).map_err(|e| format!("item {i}: {e}")))
        .collect()
}

fn pair_of(value: Json, shape: &str) -> std::result::Result<[Json; 2], String> {
    match value {
        Json::Array(items) => <[Json; 2]>::try_from(items).map_err(|_| format!("expected {shape}")),
        _ => Err(format!("expected {shape}")),
    }
}

fn text_of(value: Json) -> std::result::Result<String, String> {
    match value {
        Json::String(s) => Ok(s),
        _ => Err("expected a string".into()),
    }
}

/// A byte string: a JSON string (its UTF-8 bytes) or `{"$bytes_b64":"..."}`.
fn bytes_of(value: Json) -> std::result::Result<Vec<u8>, String> {
    match value {
        Json::String(s) => Ok(s.into_bytes()),
        Json::Object(obj) if obj.len() == 1 => match obj.get("$bytes_b64") {
            Some(Json::String(b64)) => base64_decode(b64),
            _ => Err("expected a string or {\"$bytes_b64\": \"...\"}".into()),
        },
        _ => Err("expected a string or {\"$bytes_b64\": \"...\"}".into()),
    }
}

/// A float: a JSON number, or `"inf"`, `"-inf"` (and `"nan"` when `nan` is allowed).
fn float_of(value: &Json, nan: bool) -> std::result::Result<f64, String> {
    match value {
        Json::Number(n) => n.as_f64().ok_or_else(|| "number out of range".to_owned()),
        Json::String(s) if s == "inf" => Ok(f64::INFINITY),
        Json::String(s) if s == "-inf" => Ok(f64::NEG_INFINITY),
        Json::String(s) if s == "nan" && nan => Ok(f64::NAN),
        _ if nan => Err("expected a number, \"inf\", \"-inf\" or \"nan\"".into()),
        _ => Err("expected a number, \"inf\" or \"-inf\"".into()),
    }
}

/// Writes the records of an import in batches of transactions.
struct Importer<'d> {
    db: &'d Db,
    tx: Option<WriteTxn>,
    /// Keys and estimated bytes written by the open transaction.
    keys: u64,
    bytes: usize,
    /// Bytes after which the open transaction is committed.
    budget: usize,
    stats: ImportStats,
}

impl Importer<'_> {
    /// The open transaction, committing it first if it is full.
    fn tx(&mut self) -> Result<&mut WriteTxn> {
        if self.keys >= BATCH_KEYS || self.bytes >= self.budget {
            if let Some(tx) = self.tx.take() {
                tx.commit()?;
            }
            self.keys = 0;
            self.bytes = 0;
        }
        if self.tx.is_none() {
            self.tx = Some(self.db.begin_write()?);
        }
        self.tx.as_mut().ok_or(Error::Poisoned)
    }

    fn put(&mut self, rec: Record) -> Result<()> {
        if rec.expires_at_ms.is_some_and(|at| at <= now_ms()) {
            self.stats.expired += 1;
            return Ok(());
        }
        let key = rec.key.as_slice();
        let size = rec.data.size() + key.len();
        match rec.data {
            Data::Scalar(v) => {
                self.tx()?.set_with_expiry(key, v, rec.expires_at_ms)?;
                self.bytes += size;
            }
            Data::List(items) => {
                self.tx()?.delete(key)?;
                self.chunks(&items, Vec::len, |tx, c| tx.list(key).push_back(c))?;
            }
            Data::Set(items) => {
                self.tx()?.delete(key)?;
                self.chunks(&items, Vec::len, |tx, c| tx.set_of(key).add(c))?;
            }
            Data::ZSet(items) => {
                self.tx()?.delete(key)?;
                let size = |(_, m): &(f64, Vec<u8>)| 8 + m.len();
                self.chunks(&items, size, |tx, c| {
                    tx.zset(key).add(ZAddFlags::default(), c)
                })?;
            }
            Data::Hash(items) => {
                self.tx()?.delete(key)?;
                let size = |(f, v): &(Vec<u8>, Vec<u8>)| f.len() + v.len();
                self.chunks(&items, size, |tx, c| tx.hash(key).set(c))?;
            }
        }
        if let Some(at) = rec.expires_at_ms {
            self.tx()?.set_expiry(key, Some(at))?;
        }
        self.keys += 1;
        self.stats.keys += 1;
        Ok(())
    }

    /// Writes `items` in chunks, each in the open transaction (a new one once it is full).
    fn chunks<T>(
        &mut self,
        items: &[T],
        size: impl Fn(&T) -> usize,
        mut f: impl FnMut(&mut WriteTxn, &[T]) -> Result<u64>,
    ) -> Result<()> {
        for chunk in items.chunks(CHUNK as usize) {
            f(self.tx()?, chunk)?;
            self.bytes += chunk
                .iter()
                .map(|m| size(m) + MEMBER_OVERHEAD)
                .sum::<usize>();
        }
        Ok(())
    }
}

// ---------------------------------------------------------------------------------------------
// Base64 (RFC 4648, standard alphabet, padded), as the `ziggy --json` output uses

const B64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

fn base64_encode(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(B64[(n >> (18 - 6 * i)) as usize & 63] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

fn base64_decode(text: &str) -> std::result::Result<Vec<u8>, String> {
    let bad = || format!("\"$bytes_b64\" is not valid base64 (RFC 4648, padded): {text:.40}");
    let t = text.as_bytes();
    if t.len() & 3 != 0 {
        return Err(bad());
    }
    let mut out = Vec::with_capacity(t.len() / 4 * 3);
    let chunks = t.len() / 4;
    for (ci, chunk) in t.chunks(4).enumerate() {
        let pad = chunk.iter().rev().take_while(|&&c| c == b'=').count();
        if pad > 2 || (pad > 0 && ci + 1 != chunks) {
            return Err(bad());
        }
        let mut n = 0u32;
        for &c in &chunk[..4 - pad] {
            let v = B64.iter().position(|&a| a == c).ok_or_else(bad)?;
            n = (n << 6) | v as u32;
        }
        n <<= 6 * pad as u32;
        let bytes = [(n >> 16) as u8, (n >> 8) as u8, n as u8];
        // Canonical form only: the bits that padding drops must be zero.
        if bytes[3 - pad..].iter().any(|&b| b != 0) {
            return Err(bad());
        }
        out.extend_from_slice(&bytes[..3 - pad]);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_round_trips_and_refuses_noise() {
        for len in 0..40 {
            let bytes: Vec<u8> = (0..len).map(|i| (i * 37 + 200) as u8).collect();
            assert_eq!(base64_decode(&base64_encode(&bytes)).unwrap(), bytes);
        }
        assert_eq!(base64_encode(b"fo"), "Zm8=");
        assert_eq!(base64_encode(&[0xff, 0xfe]), "//4=");
        for bad in ["Zm8", "Zm9=", "Z===", "Zm8=Zm8=", "Zm*=", "===="] {
            assert!(base64_decode(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn lines_parse_into_records() {
        let rec = parse_line(br#"{"key":{"$bytes_b64":"//4="},"type":"zset","expires_at_ms":5,"value":[["a",1.5],["b","-inf"]]}"#).unwrap();
        assert_eq!(rec.key, vec![0xff, 0xfe]);
        assert_eq!(rec.expires_at_ms, Some(5));
        assert_eq!(
            rec.data,
            Data::ZSet(vec![
                (1.5, b"a".to_vec()),
                (f64::NEG_INFINITY, b"b".to_vec())
            ])
        );
        let rec = parse_line(br#"{"key":"f","type":"float","value":0.1}"#).unwrap();
        assert_eq!(rec.data, Data::Scalar(Value::Float(0.1)));
    }

    #[test]
    fn malformed_lines_say_what_is_wrong() {
        let err = |line: &str| parse_line(line.as_bytes()).unwrap_err();
        assert!(err("[1]").contains("expected a JSON object"));
        assert!(err(r#"{"key":"k","type":"int","value":1.5}"#).contains("integer"));
        assert!(err(r#"{"key":"k","type":"nope","value":1}"#).contains("unknown type"));
        assert!(err(r#"{"key":"k","type":"list","value":[]}"#).contains("empty"));
        assert!(err(r#"{"key":"k","type":"list","value":[1]}"#).contains("item 0"));
        assert!(err(r#"{"key":"k","type":"string","value":"x","ttl":1}"#).contains("\"ttl\""));
        assert!(err(r#"{"key":"k","type":"zset","value":[["a","nan"]]}"#).contains("number"));
        assert!(err(r#"{"key":"k","type":"json","value":"{"}"#).contains("JSON"));
        assert!(err("{\"key\":").contains("not valid JSON"));
    }
}
