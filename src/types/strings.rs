//! Strings, counters and JSON documents: `SET` with Redis's options, `GETSET`, `GETDEL`,
//! `GETEX`, `SETNX`, `MSET`, `MSETNX`, `APPEND`, `STRLEN`, `GETRANGE`, `SETRANGE`, `DECRBY`,
//! `INCRBYFLOAT`, and `JSON.GET`/`JSON.SET` with RedisJSON-style paths. (`GET`, `MGET`,
//! `INCRBY` and `SETEX` are [`Db::get`], [`Db::mget`], [`WriteTxn::incr_by`] and
//! [`WriteTxn::set_with_expiry`].)
//!
//! String commands see every scalar through [`Value::to_redis_bytes`], as `GET` shows it. A
//! command that rewrites a value (`APPEND`, `SETRANGE`) stores a string if the value was one
//! and stays valid UTF-8, and bytes otherwise; `INCRBYFLOAT` stores a float. `APPEND`,
//! `SETRANGE`, `INCRBYFLOAT` and `JSON.SET` keep the key's time to live, as Redis does; `SET`
//! and `GETSET` clear it.

use crate::db::txn::WriteTxn;
use crate::db::Db;
use crate::engine::now_ms;
use crate::error::{Error, Result};
use crate::format::value::{format_float, parse_f64, Value, ValueType};
use crate::types::read::Read;

pub use crate::format::record::MAX_STRING_LEN;

/// What a [`SetCommand`] does to the key's time to live.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SetExpiry {
    /// Remove it (plain `SET`).
    Clear,
    /// Expire at this Unix time in ms (`EX`, `PX`, `EXAT`, `PXAT`).
    At(u64),
    /// Keep the current one (`KEEPTTL`).
    Keep,
}

/// A Redis `SET` with its options, made by [`WriteTxn::set_extended`]; nothing happens until
/// [`SetCommand::run`].
#[must_use = "a SET does nothing until `run` is called"]
pub struct SetCommand<'t, 'k> {
    txn: &'t mut WriteTxn,
    key: &'k [u8],
    value: Value,
    /// `Some(true)`: only if the key exists (`XX`); `Some(false)`: only if it does not (`NX`).
    only_if_exists: Option<bool>,
    expiry: SetExpiry,
    return_previous: bool,
}

/// What a [`SetCommand`] did.
#[derive(Debug, Clone, PartialEq)]
pub struct SetOutcome {
    /// Whether the value was written (false when `NX` or `XX` did not hold).
    pub written: bool,
    /// The value before, if [`SetCommand::return_previous`] asked for it (`None` also when
    /// the key did not exist).
    pub previous: Option<Value>,
}

impl SetCommand<'_, '_> {
    /// Writes only if the key does not exist (`NX`). Overrides [`SetCommand::if_present`].
    ///
    /// # Examples
    ///
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// # let db = ziggydb::Db::open(dir.path().join("db"))?;
    /// db.set(b"k", "old")?;
    /// // SET k new NX
    /// let out = db.transaction(|tx| tx.set_extended(b"k", "new").if_absent().run())?;
    /// assert!(!out.written);
    /// assert_eq!(db.get(b"k")?.as_deref(), Some(&b"old"[..]));
    /// # Ok::<(), ziggydb::Error>(())
    /// ```
    pub fn if_absent(mut self) -> Self {
        self.only_if_exists = Some(false);
        self
    }

    /// Writes only if the key exists (`XX`). Overrides [`SetCommand::if_absent`].
    ///
    /// # Examples
    ///
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// # let db = ziggydb::Db::open(dir.path().join("db"))?;
    /// let out = db.transaction(|tx| tx.set_extended(b"k", "v").if_present().run())?; // SET k v XX
    /// assert!(!out.written);
    /// assert!(!db.exists(b"k")?);
    /// # Ok::<(), ziggydb::Error>(())
    /// ```
    pub fn if_present(mut self) -> Self {
        self.only_if_exists = Some(true);
        self
    }

    /// Expires the key at `unix_ms` (`EX`, `PX`, `EXAT`, `PXAT`); a time already past
    /// deletes the key instead.
    ///
    /// # Examples
    ///
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// # let db = ziggydb::Db::open(dir.path().join("db"))?;
    /// // SET k v PXAT 4000000000000
    /// db.transaction(|tx| tx.set_extended(b"k", "v").expire_at(4_000_000_000_000).run())?;
    /// assert_eq!(db.expiry(b"k")?, Some(4_000_000_000_000));
    /// # Ok::<(), ziggydb::Error>(())
    /// ```
    pub fn expire_at(mut self, unix_ms: u64) -> Self {
        self.expiry = SetExpiry::At(unix_ms);
        self
    }

    /// Keeps the key's current time to live (`KEEPTTL`).
    ///
    /// # Examples
    ///
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// # let db = ziggydb::Db::open(dir.path().join("db"))?;
    /// db.transaction(|tx| tx.set_with_expiry(b"k", "v1", Some(4_000_000_000_000)))?;
    /// db.transaction(|tx| tx.set_extended(b"k", "v2").keep_ttl().run())?; // SET k v2 KEEPTTL
    /// assert_eq!(db.expiry(b"k")?, Some(4_000_000_000_000));
    /// # Ok::<(), ziggydb::Error>(())
    /// ```
    pub fn keep_ttl(mut self) -> Self {
        self.expiry = SetExpiry::Keep;
        self
    }

    /// Reads the value before the write (`GET`) into [`SetOutcome::previous`].
    ///
    /// # Examples
    ///
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// # let db = ziggydb::Db::open(dir.path().join("db"))?;
    /// use ziggydb::Value;
    /// db.set(b"k", "old")?;
    /// // SET k new GET
    /// let out = db.transaction(|tx| tx.set_extended(b"k", "new").return_previous().run())?;
    /// assert!(out.written);
    /// assert_eq!(out.previous, Some(Value::String("old".into())));
    /// # Ok::<(), ziggydb::Error>(())
    /// ```
    pub fn return_previous(mut self) -> Self {
        self.return_previous = true;
        self
    }

    /// Runs the `SET`.
    ///
    /// # Errors
    /// [`Error::WrongType`] if the previous value was asked for and the key holds a
    /// collection; as [`WriteTxn::set`].
    ///
    /// # Examples
    ///
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// # let db = ziggydb::Db::open(dir.path().join("db"))?;
    /// use ziggydb::SetOutcome;
    /// let out = db.transaction(|tx| tx.set_extended(b"k", "v").if_absent().run())?;
    /// assert_eq!(out, SetOutcome { written: true, previous: None });
    /// # Ok::<(), ziggydb::Error>(())
    /// ```
    pub fn run(self) -> Result<SetOutcome> {
        let previous = if self.return_previous {
            self.txn.get(self.key)?
        } else {
            None
        };
        let written = match self.only_if_exists {
            None => true,
            Some(want) if self.return_previous => previous.is_some() == want,
            Some(want) => self.txn.exists(self.key)? == want,
        };
        if written {
            let at = match self.expiry {
                SetExpiry::Clear => None,
                SetExpiry::At(at) => Some(at),
                SetExpiry::Keep => self.txn.expiry(self.key)?,
            };
            if at.is_some_and(|at| at <= now_ms()) {
                // Already expired: as good as deleted, so delete rather than log a record
                // that only the active expiry pass would remove.
                self.txn.delete(self.key)?;
            } else {
                self.txn.set_with_expiry(self.key, self.value, at)?;
            }
        }
        Ok(SetOutcome { written, previous })
    }
}

/// Length of the value as string commands see it.
fn redis_len(v: &Value) -> usize {
    match v {
        Value::Bytes(b) => b.len(),
        Value::String(s) | Value::Json(s) => s.len(),
        other => other.to_redis_bytes().len(),
    }
}

/// The value as string commands see it, without copying bytes and strings.
fn into_redis_bytes(v: Value) -> Vec<u8> {
    v.into_redis_bytes()
}

/// The value to store after `APPEND`/`SETRANGE` changed the bytes of `was`: a string if it
/// was one and is still UTF-8, bytes otherwise.
fn rewritten(was: ValueType, bytes: Vec<u8>) -> Value {
    if was == ValueType::String {
        match String::from_utf8(bytes) {
            Ok(s) => Value::String(s),
            Err(e) => Value::Bytes(e.into_bytes()),
        }
    } else {
        Value::Bytes(bytes)
    }
}

/// Refuses a string longer than [`MAX_STRING_LEN`] before it is built.
fn check_string_len(len: Option<usize>) -> Result<usize> {
    match len {
        Some(len) if len <= MAX_STRING_LEN => Ok(len),
        _ => Err(Error::ValueTooLarge {
            len: len.unwrap_or(usize::MAX),
            max: MAX_STRING_LEN,
        }),
    }
}

/// The bytes `GETRANGE` returns: `start` and `end` are inclusive, negative counts from the
/// end, and out-of-range positions are clamped, as in Redis.
pub(crate) fn byte_range(bytes: &[u8], start: i64, end: i64) -> &[u8] {
    if start < 0 && end < 0 && start > end {
        return &[];
    }
    let len = i64::try_from(bytes.len()).unwrap_or(i64::MAX);
    let start = if start < 0 {
        (len + start).max(0)
    } else {
        start
    };
    let end = if end < 0 { (len + end).max(0) } else { end }.min(len - 1);
    if len == 0 || start > end {
        return &[];
    }
    // Both are in 0..len here.
    &bytes[start as usize..=end as usize]
}

/// The value as `INCRBYFLOAT` reads it: a number, or text holding one.
fn redis_float(v: &Value) -> Result<f64> {
    match v {
        Value::Float(f) => Ok(*f),
        Value::Int(i) => Ok(*i as f64),
        other => parse_f64(&other.to_redis_bytes()),
    }
}

impl Db {
    /// Length of the value at `key` as `GET` returns it, 0 if absent (Redis `STRLEN`);
    /// [`Read::strlen`].
    ///
    /// # Errors
    /// [`Error::WrongType`] for a collection; as [`Db::get`].
    ///
    /// # Examples
    ///
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// # let db = ziggydb::Db::open(dir.path().join("db"))?;
    /// db.set(b"k", "hello")?;
    /// assert_eq!(db.strlen(b"k")?, 5);
    /// assert_eq!(db.strlen(b"missing")?, 0);
    /// # Ok::<(), ziggydb::Error>(())
    /// ```
    pub fn strlen(&self, key: impl AsRef<[u8]>) -> Result<usize> {
        Read::strlen(self, key)
    }

    /// Bytes `start..=end` of the value at `key` (Redis `GETRANGE`); [`Read::get_range`].
    ///
    /// # Errors
    /// As [`Db::strlen`].
    ///
    /// # Examples
    ///
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// # let db = ziggydb::Db::open(dir.path().join("db"))?;
    /// db.set(b"k", "hello world")?;
    /// assert_eq!(db.get_range(b"k", 0, 4)?, b"hello");
    /// assert_eq!(db.get_range(b"k", -5, -1)?, b"world");
    /// # Ok::<(), ziggydb::Error>(())
    /// ```
    pub fn get_range(&self, key: impl AsRef<[u8]>, start: i64, end: i64) -> Result<Vec<u8>> {
        Read::get_range(self, key, start, end)
    }

    /// The JSON document at `key`, or the parts of it that `paths` select (RedisJSON
    /// `JSON.GET key [path ...]`), as compact JSON text; `None` if the key is absent;
    /// [`Read::json_get`].
    ///
    /// A path is either a JSONPath (`$`, `$.a.b`, `$.list[0]`, `$.list[-1]`, `$["a b"]`,
    /// `$.*`), whose reply is an array of every match (`[]` when nothing matches), or a
    /// legacy path (`.`, `.a.b`, `a.b`, `.list[0]`), whose reply is the first match. With no
    /// path the reply is the whole document; with several, an object from each path as given
    /// to its reply (all as arrays if any path is a JSONPath).
    ///
    /// # Errors
    /// [`Error::WrongType`] if the key holds another type; [`Error::InvalidArgument`] for a
    /// malformed path or a legacy path that matches nothing.
    ///
    /// # Examples
    ///
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// # let db = ziggydb::Db::open(dir.path().join("db"))?;
    /// use ziggydb::Value;
    /// db.set(b"doc", Value::json(r#"{"name":"ada","langs":["en","fr"]}"#)?)?;
    /// assert_eq!(db.json_get(b"doc", &["$.langs[0]"])?.as_deref(), Some(r#"["en"]"#));
    /// assert_eq!(db.json_get(b"missing", &["$"])?, None);
    /// # Ok::<(), ziggydb::Error>(())
    /// ```
    pub fn json_get(&self, key: impl AsRef<[u8]>, paths: &[&str]) -> Result<Option<String>> {
        Read::json_get(self, key, paths)
    }
}

/// The JSON document `v` or parts of it, as [`Read::json_get`] returns them.
pub(crate) fn json_get(v: &Value, paths: &[&str]) -> Result<String> {
    json::get(json_text(v)?, paths)
}

/// The text of a JSON value; [`Error::WrongType`] for any other type.
fn json_text(v: &Value) -> Result<&str> {
    match v {
        Value::Json(text) => Ok(text),
        other => Err(Error::WrongType {
            expected: ValueType::Json,
            actual: other.value_type(),
        }),
    }
}

impl WriteTxn {
    /// Starts a Redis `SET` with options (`NX`, `XX`, `GET`, `EX`/`PX`/`EXAT`/`PXAT`,
    /// `KEEPTTL`), as a `SetCommand` to configure and run. Without options it is
    /// [`WriteTxn::set`].
    ///
    /// # Examples
    ///
    /// ```
    /// # fn main() -> ziggydb::Result<()> {
    /// # let dir = tempfile::tempdir().unwrap();
    /// # let db = ziggydb::Db::open(dir.path())?;
    /// let mut tx = db.begin_write()?;
    /// let first = tx.set_extended(b"lock", "me").if_absent().run()?; // SET lock me NX
    /// let again = tx.set_extended(b"lock", "you").if_absent().run()?;
    /// assert!(first.written && !again.written);
    /// # Ok(()) }
    /// ```
    pub fn set_extended<'t, 'k>(
        &'t mut self,
        key: &'k [u8],
        value: impl Into<Value>,
    ) -> SetCommand<'t, 'k> {
        SetCommand {
            txn: self,
            key,
            value: value.into(),
            only_if_exists: None,
            expiry: SetExpiry::Clear,
            return_previous: false,
        }
    }

    /// Sets `key` if it does not exist (Redis `SETNX`); returns whether it did.
    ///
    /// # Errors
    /// As [`WriteTxn::set`].
    ///
    /// # Examples
    ///
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// # let db = ziggydb::Db::open(dir.path().join("db"))?;
    /// db.transaction(|tx| {
    ///     assert!(tx.set_if_absent(b"k", "first")?);
    ///     assert!(!tx.set_if_absent(b"k", "second")?);
    ///     Ok(())
    /// })?;
    /// assert_eq!(db.get(b"k")?.as_deref(), Some(&b"first"[..]));
    /// # Ok::<(), ziggydb::Error>(())
    /// ```
    pub fn set_if_absent(&mut self, key: &[u8], value: impl Into<Value>) -> Result<bool> {
        Ok(self.set_extended(key, value).if_absent().run()?.written)
    }

    /// Sets `key` and returns its previous value (Redis `GETSET`); clears any time to live.
    ///
    /// # Errors
    /// [`Error::WrongType`] for a collection; as [`WriteTxn::set`].
    ///
    /// # Examples
    ///
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// # let db = ziggydb::Db::open(dir.path().join("db"))?;
    /// use ziggydb::Value;
    /// db.set(b"k", "old")?;
    /// let prev = db.transaction(|tx| tx.get_set(b"k", "new"))?;
    /// assert_eq!(prev, Some(Value::String("old".into())));
    /// # Ok::<(), ziggydb::Error>(())
    /// ```
    pub fn get_set(&mut self, key: &[u8], value: impl Into<Value>) -> Result<Option<Value>> {
        Ok(self
            .set_extended(key, value)
            .return_previous()
            .run()?
            .previous)
    }

    /// Deletes `key` and returns the value it had (Redis `GETDEL`).
    ///
    /// # Errors
    /// [`Error::WrongType`] for a collection; as [`WriteTxn::get`].
    ///
    /// # Examples
    ///
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// # let db = ziggydb::Db::open(dir.path().join("db"))?;
    /// use ziggydb::Value;
    /// db.set(b"token", "t")?;
    /// assert_eq!(db.transaction(|tx| tx.get_delete(b"token"))?, Some(Value::String("t".into())));
    /// assert!(!db.exists(b"token")?);
    /// # Ok::<(), ziggydb::Error>(())
    /// ```
    pub fn get_delete(&mut self, key: &[u8]) -> Result<Option<Value>> {
        let value = self.get(key)?;
        if value.is_some() {
            self.delete(key)?;
        }
        Ok(value)
    }

    /// Returns the value of `key` and makes it expire at `unix_ms` (Redis `GETEX` with `EX`,
    /// `PX`, `EXAT` or `PXAT`); a time already past deletes the key.
    ///
    /// # Errors
    /// As [`WriteTxn::get_delete`].
    ///
    /// # Examples
    ///
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// # let db = ziggydb::Db::open(dir.path().join("db"))?;
    /// use ziggydb::Value;
    /// db.set(b"k", "v")?;
    /// let v = db.transaction(|tx| tx.get_and_expire_at(b"k", 4_000_000_000_000))?;
    /// assert_eq!(v, Some(Value::String("v".into())));
    /// assert_eq!(db.expiry(b"k")?, Some(4_000_000_000_000));
    /// # Ok::<(), ziggydb::Error>(())
    /// ```
    pub fn get_and_expire_at(&mut self, key: &[u8], unix_ms: u64) -> Result<Option<Value>> {
        let Some(value) = self.get(key)? else {
            return Ok(None);
        };
        if unix_ms <= now_ms() {
            self.delete(key)?;
        } else {
            self.set_with_expiry(key, value.clone(), Some(unix_ms))?;
        }
        Ok(Some(value))
    }

    /// [`WriteTxn::get_and_expire_at`], then commits: the value read is written back with its
    /// new expiry from where it is, so the value is held once (the one returned), not twice.
    ///
    /// # Errors
    /// As [`WriteTxn::get_and_expire_at`] and [`WriteTxn::commit`].
    ///
    /// # Examples
    ///
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// # let db = ziggydb::Db::open(dir.path().join("db"))?;
    /// use ziggydb::Value;
    /// db.set(b"k", "v")?;
    /// let v = db.begin_write()?.commit_get_and_expire_at(b"k", 4_000_000_000_000)?;
    /// assert_eq!(v, Some(Value::String("v".into())));
    /// assert_eq!(db.expiry(b"k")?, Some(4_000_000_000_000));
    /// # Ok::<(), ziggydb::Error>(())
    /// ```
    pub fn commit_get_and_expire_at(mut self, key: &[u8], unix_ms: u64) -> Result<Option<Value>> {
        let Some(value) = self.get(key)? else {
            self.commit()?;
            return Ok(None);
        };
        if unix_ms <= now_ms() {
            self.delete(key)?;
            self.commit()?;
        } else {
            self.commit_set_value(key, &value, Some(unix_ms))?;
        }
        Ok(Some(value))
    }

    /// Returns the value of `key` and removes its time to live (Redis `GETEX ... PERSIST`).
    ///
    /// # Errors
    /// As [`WriteTxn::get_delete`].
    ///
    /// # Examples
    ///
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// # let db = ziggydb::Db::open(dir.path().join("db"))?;
    /// db.transaction(|tx| tx.set_with_expiry(b"k", "v", Some(4_000_000_000_000)))?;
    /// let v = db.transaction(|tx| tx.get_and_persist(b"k"))?;
    /// assert!(v.is_some());
    /// assert_eq!(db.expiry(b"k")?, None);
    /// # Ok::<(), ziggydb::Error>(())
    /// ```
    pub fn get_and_persist(&mut self, key: &[u8]) -> Result<Option<Value>> {
        let Some(value) = self.get(key)? else {
            return Ok(None);
        };
        if self.expiry(key)?.is_some() {
            self.set_with_expiry(key, value.clone(), None)?;
        }
        Ok(Some(value))
    }

    /// Sets every pair, later pairs winning over earlier ones with the same key (Redis
    /// `MSET`); clears their times to live.
    ///
    /// # Errors
    /// As [`WriteTxn::set`].
    ///
    /// # Examples
    ///
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// # let db = ziggydb::Db::open(dir.path().join("db"))?;
    /// db.transaction(|tx| tx.set_many([("a", "1"), ("b", "2")]))?; // MSET
    /// assert_eq!(db.len(), 2);
    /// # Ok::<(), ziggydb::Error>(())
    /// ```
    pub fn set_many<K: AsRef<[u8]>, V: Into<Value>>(
        &mut self,
        pairs: impl IntoIterator<Item = (K, V)>,
    ) -> Result<()> {
        for (key, value) in pairs {
            self.set(key.as_ref(), value)?;
        }
        Ok(())
    }

    /// Sets every pair if none of the keys exists, else none (Redis `MSETNX`); returns
    /// whether it set them.
    ///
    /// # Errors
    /// As [`WriteTxn::set`].
    ///
    /// # Examples
    ///
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// # let db = ziggydb::Db::open(dir.path().join("db"))?;
    /// db.set(b"b", "old")?;
    /// let wrote = db.transaction(|tx| tx.set_many_if_absent([("a", "1"), ("b", "2")]))?; // MSETNX
    /// assert!(!wrote); // b exists: nothing written
    /// assert!(!db.exists(b"a")?);
    /// # Ok::<(), ziggydb::Error>(())
    /// ```
    pub fn set_many_if_absent<K: AsRef<[u8]>, V: Into<Value>>(
        &mut self,
        pairs: impl IntoIterator<Item = (K, V)>,
    ) -> Result<bool> {
        let pairs: Vec<(K, V)> = pairs.into_iter().collect();
        for (key, _) in &pairs {
            if self.exists(key.as_ref())? {
                return Ok(false);
            }
        }
        self.set_many(pairs)?;
        Ok(true)
    }

    /// Appends `tail` to the value at `key` (creating it as bytes if absent) and returns the
    /// new length (Redis `APPEND`). Keeps the time to live.
    ///
    /// # Errors
    /// [`Error::ValueTooLarge`] past 512 MiB (Redis's limit);
    /// [`Error::WrongType`] for a collection.
    ///
    /// # Examples
    ///
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// # let db = ziggydb::Db::open(dir.path().join("db"))?;
    /// db.transaction(|tx| {
    ///     assert_eq!(tx.append(b"log", b"a;")?, 2);
    ///     assert_eq!(tx.append(b"log", b"b;")?, 4);
    ///     Ok(())
    /// })?;
    /// assert_eq!(db.get(b"log")?.as_deref(), Some(&b"a;b;"[..]));
    /// # Ok::<(), ziggydb::Error>(())
    /// ```
    pub fn append(&mut self, key: &[u8], tail: &[u8]) -> Result<usize> {
        let (value, ttl) = match self.get(key)? {
            None => (Value::Bytes(tail.to_vec()), None),
            Some(v) => {
                check_string_len(redis_len(&v).checked_add(tail.len()))?;
                let ty = v.value_type();
                let mut bytes = into_redis_bytes(v);
                bytes.extend_from_slice(tail);
                (rewritten(ty, bytes), self.expiry(key)?)
            }
        };
        let len = redis_len(&value);
        self.set_with_expiry(key, value, ttl)?;
        Ok(len)
    }

    /// Length of the value at `key` as `GET` returns it, 0 if absent (Redis `STRLEN`).
    ///
    /// # Errors
    /// [`Error::WrongType`] for a collection; as [`WriteTxn::get`].
    ///
    /// # Examples
    ///
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// # let db = ziggydb::Db::open(dir.path().join("db"))?;
    /// db.transaction(|tx| {
    ///     tx.set(b"k", "hello")?;
    ///     assert_eq!(tx.strlen(b"k")?, 5);
    ///     Ok(())
    /// })?;
    /// # Ok::<(), ziggydb::Error>(())
    /// ```
    pub fn strlen(&self, key: impl AsRef<[u8]>) -> Result<usize> {
        Read::strlen(self, key)
    }

    /// Bytes `start..=end` of the value at `key` (Redis `GETRANGE`); see [`Db::get_range`].
    ///
    /// # Errors
    /// As [`WriteTxn::strlen`].
    ///
    /// # Examples
    ///
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// # let db = ziggydb::Db::open(dir.path().join("db"))?;
    /// db.transaction(|tx| {
    ///     tx.set(b"k", "hello")?;
    ///     assert_eq!(tx.get_range(b"k", 1, 2)?, b"el");
    ///     Ok(())
    /// })?;
    /// # Ok::<(), ziggydb::Error>(())
    /// ```
    pub fn get_range(&self, key: impl AsRef<[u8]>, start: i64, end: i64) -> Result<Vec<u8>> {
        Read::get_range(self, key, start, end)
    }

    /// Overwrites the value at `key` from byte `offset` on with `bytes`, padding with zero
    /// bytes as needed, and returns the new length (Redis `SETRANGE`). An absent key is
    /// created, unless `bytes` is empty. Keeps the time to live.
    ///
    /// # Errors
    /// As [`WriteTxn::append`].
    ///
    /// # Examples
    ///
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// # let db = ziggydb::Db::open(dir.path().join("db"))?;
    /// db.set(b"k", "hello")?;
    /// let len = db.transaction(|tx| tx.set_range(b"k", 1, b"EL"))?;
    /// assert_eq!(len, 5);
    /// assert_eq!(db.get(b"k")?.as_deref(), Some(&b"hELlo"[..]));
    /// # Ok::<(), ziggydb::Error>(())
    /// ```
    pub fn set_range(&mut self, key: &[u8], offset: usize, bytes: &[u8]) -> Result<usize> {
        let current = self.get(key)?;
        if bytes.is_empty() {
            return Ok(current.as_ref().map_or(0, redis_len));
        }
        let end = check_string_len(offset.checked_add(bytes.len()))?;
        let (value, ttl) = match current {
            None => {
                let mut buf = vec![0; offset];
                buf.extend_from_slice(bytes);
                (Value::Bytes(buf), None)
            }
            Some(v) => {
                let ty = v.value_type();
                let mut buf = into_redis_bytes(v);
                if buf.len() < end {
                    buf.resize(end, 0);
                }
                buf[offset..end].copy_from_slice(bytes);
                (rewritten(ty, buf), self.expiry(key)?)
            }
        };
        let len = redis_len(&value);
        self.set_with_expiry(key, value, ttl)?;
        Ok(len)
    }

    /// Subtracts `delta` from the integer at `key` (absent = 0) and returns the new value
    /// (Redis `DECRBY`). Keeps the time to live.
    ///
    /// # Errors
    /// [`Error::NotAnInteger`]; [`Error::Overflow`], also for `delta == i64::MIN`.
    ///
    /// # Examples
    ///
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// # let db = ziggydb::Db::open(dir.path().join("db"))?;
    /// db.set(b"n", 10i64)?;
    /// assert_eq!(db.transaction(|tx| tx.decr_by(b"n", 3))?, 7);
    /// # Ok::<(), ziggydb::Error>(())
    /// ```
    pub fn decr_by(&mut self, key: impl AsRef<[u8]>, delta: i64) -> Result<i64> {
        self.incr_by(key, delta.checked_neg().ok_or(Error::Overflow)?)
    }

    /// Adds `delta` to the number at `key` (absent = 0), stores the sum and returns it
    /// (Redis `INCRBYFLOAT`). Keeps the time to live. A typed float stays a float; otherwise
    /// the sum is stored as text, as in Redis (so that `INCR` goes on counting once the sum
    /// is a whole number).
    ///
    /// # Errors
    /// [`Error::NotAFloat`] if the value is not a number; [`Error::Overflow`] if the sum is
    /// not finite (Redis: "increment would produce NaN or Infinity").
    ///
    /// # Examples
    ///
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// # let db = ziggydb::Db::open(dir.path().join("db"))?;
    /// db.set(b"price", "10.5")?;
    /// assert_eq!(db.transaction(|tx| tx.incr_by_float(b"price", 0.1))?, 10.6);
    /// # Ok::<(), ziggydb::Error>(())
    /// ```
    pub fn incr_by_float(&mut self, key: &[u8], delta: f64) -> Result<f64> {
        let (current, typed, ttl) = match self.get(key)? {
            None => (0.0, false, None),
            Some(v) => (
                redis_float(&v)?,
                matches!(v, Value::Float(_)),
                self.expiry(key)?,
            ),
        };
        let sum = crate::format::value::add_as_decimals(current, delta);
        if !sum.is_finite() {
            return Err(Error::Overflow);
        }
        let stored = if typed {
            Value::Float(sum)
        } else {
            Value::String(format_float(sum))
        };
        self.set_with_expiry(key, stored, ttl)?;
        Ok(sum)
    }

    /// The JSON document at `key`, or parts of it (RedisJSON `JSON.GET`), seeing this
    /// transaction's writes; see [`Db::json_get`].
    ///
    /// # Errors
    /// As [`Db::json_get`].
    ///
    /// # Examples
    ///
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// # let db = ziggydb::Db::open(dir.path().join("db"))?;
    /// use ziggydb::Value;
    /// db.transaction(|tx| {
    ///     tx.set(b"doc", Value::json(r#"{"a":1}"#)?)?;
    ///     assert_eq!(tx.json_get(b"doc", &["$.a"])?.as_deref(), Some("[1]"));
    ///     Ok(())
    /// })?;
    /// # Ok::<(), ziggydb::Error>(())
    /// ```
    pub fn json_get(&self, key: impl AsRef<[u8]>, paths: &[&str]) -> Result<Option<String>> {
        Read::json_get(self, key, paths)
    }

    /// Sets the JSON value `json` at `path` of the document at `key` (RedisJSON `JSON.SET key
    /// path json [NX|XX]`); returns whether it wrote.
    ///
    /// `path` is the root (`$` or `.`) or a path as in [`Db::json_get`]: every value it
    /// matches is replaced, and when its last step names an object member that is missing,
    /// the member is added to each object the rest of the path matches. A new key must be
    /// created at the root. `only_if_exists` is `Some(false)` for `NX` (write only if the
    /// path matches nothing) and `Some(true)` for `XX` (only if it matches). Keeps the time
    /// to live and the order of object members.
    ///
    /// # Errors
    /// [`Error::InvalidJson`] if `json` is not JSON; [`Error::WrongType`] if the key holds
    /// another type; [`Error::InvalidArgument`] for a malformed path, or a path below the
    /// root for an absent key.
    ///
    /// # Examples
    ///
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// # let db = ziggydb::Db::open(dir.path().join("db"))?;
    /// db.transaction(|tx| {
    ///     assert!(tx.json_set(b"doc", "$", r#"{"a":1}"#, None)?); // create at the root
    ///     assert!(tx.json_set(b"doc", "$.b", "[true]", None)?); // add a member
    ///     assert!(!tx.json_set(b"doc", "$.a", "2", Some(false))?); // NX: $.a exists
    ///     Ok(())
    /// })?;
    /// assert_eq!(db.json_get(b"doc", &[])?.as_deref(), Some(r#"{"a":1,"b":[true]}"#));
    /// # Ok::<(), ziggydb::Error>(())
    /// ```
    pub fn json_set(
        &mut self,
        key: &[u8],
        path: &str,
        json: &str,
        only_if_exists: Option<bool>,
    ) -> Result<bool> {
        Value::json(json)?;
        let current = self.get(key)?;
        let text = current.as_ref().map(json_text).transpose()?;
        let Some(new) = json::set(text, path, json, only_if_exists)? else {
            return Ok(false);
        };
        let ttl = if current.is_some() {
            self.expiry(key)?
        } else {
            None
        };
        self.set_with_expiry(key, Value::Json(new), ttl)?;
        Ok(true)
    }
}

/// RedisJSON-style paths evaluated on the stored JSON text itself, so that replies keep the
/// document's member order and number spelling. The text was validated when it was written,
/// so the scanner only has to find where each value starts and ends; it never panics on
/// malformed text (it then finds nothing sensible, but stays in bounds).
mod json {
    use std::ops::Range;

    use crate::error::{Error, Result};

    /// One step of a path.
    #[derive(Debug, Clone, PartialEq, Eq)]
    enum Step {
        /// An object member.
        Member(String),
        /// An array element; negative counts from the end.
        Index(i64),
        /// Every member or element (`*`).
        All,
    }

    /// A parsed path.
    #[derive(Debug, PartialEq, Eq)]
    struct Path {
        /// A JSONPath (`$...`), replying with every match; else a legacy path.
        dollar: bool,
        steps: Vec<Step>,
    }

    fn invalid(path: &str) -> Error {
        Error::InvalidArgument(format!("invalid JSON path '{path}'"))
    }

    fn parse(text: &str) -> Result<Path> {
        let (dollar, rest) = match text.strip_prefix('$') {
            Some(rest) => (true, rest.to_owned()),
            None if text == "." => (false, String::new()),
            None if text.starts_with(['.', '[']) => (false, text.to_owned()),
            None => (false, format!(".{text}")),
        };
        let b = rest.as_bytes();
        let mut steps = Vec::new();
        let mut i = 0;
        while i < b.len() {
            match b[i] {
                b'.' => {
                    let end = b[i + 1..]
                        .iter()
                        .position(|&c| c == b'.' || c == b'[')
                        .map_or(b.len(), |n| i + 1 + n);
                    let name = &rest[i + 1..end];
                    match name {
                        "" => return Err(invalid(text)),
                        "*" => steps.push(Step::All),
                        _ => steps.push(Step::Member(name.to_owned())),
                    }
                    i = end;
                }
                b'[' => {
                    let close = b[i..]
                        .iter()
                        .position(|&c| c == b']')
                        .ok_or_else(|| invalid(text))?;
                    let inner = rest[i + 1..i + close].trim();
                    let quoted = inner.len() >= 2
                        && (inner.starts_with('"') && inner.ends_with('"')
                            || inner.starts_with('\'') && inner.ends_with('\''));
                    if inner == "*" {
                        steps.push(Step::All);
                    } else if quoted {
                        steps.push(Step::Member(inner[1..inner.len() - 1].to_owned()));
                    } else {
                        steps.push(Step::Index(inner.parse().map_err(|_| invalid(text))?));
                    }
                    i += close + 1;
                }
                _ => return Err(invalid(text)),
            }
        }
        Ok(Path { dollar, steps })
    }

    /// The path in JSONPath form, as RedisJSON's errors show it (`a.b` -> `$.a.b`).
    fn normalized(steps: &[Step]) -> String {
        let mut out = String::from("$");
        for step in steps {
            match step {
                Step::Member(m) if !m.is_empty() && !m.contains(['.', '[', ']', '"']) => {
                    out.push('.');
                    out.push_str(m);
                }
                Step::Member(m) => out.push_str(&format!("[{}]", quote(m))),
                Step::Index(i) => out.push_str(&format!("[{i}]")),
                Step::All => out.push_str("[*]"),
            }
        }
        out
    }

    fn quote(s: &str) -> String {
        serde_json::to_string(s).unwrap_or_default()
    }

    fn byte(b: &[u8], i: usize) -> u8 {
        b.get(i).copied().unwrap_or(0)
    }

    fn skip_ws(b: &[u8], mut i: usize) -> usize {
        while matches!(byte(b, i), b' ' | b'\t' | b'\n' | b'\r') {
            i += 1;
        }
        i
    }

    /// End of the string starting with the quote at `i`.
    fn string_end(b: &[u8], i: usize) -> usize {
        let mut j = i + 1;
        while j < b.len() {
            match b[j] {
                b'\\' => j += 2,
                b'"' => return j + 1,
                _ => j += 1,
            }
        }
        b.len()
    }

    /// End of the value starting at `i` (not whitespace).
    fn value_end(b: &[u8], i: usize) -> usize {
        match byte(b, i) {
            b'"' => string_end(b, i),
            b'{' | b'[' => {
                let mut depth = 0usize;
                let mut j = i;
                while j < b.len() {
                    match b[j] {
                        b'"' => {
                            j = string_end(b, j);
                            continue;
                        }
                        b'{' | b'[' => depth += 1,
                        b'}' | b']' => {
                            depth = depth.saturating_sub(1);
                            if depth == 0 {
                                return j + 1;
                            }
                        }
                        _ => {}
                    }
                    j += 1;
                }
                b.len()
            }
            _ => {
                let mut j = i;
                while j < b.len()
                    && !matches!(b[j], b',' | b'}' | b']' | b' ' | b'\t' | b'\n' | b'\r')
                {
                    j += 1;
                }
                j.max(i + 1).min(b.len())
            }
        }
    }

    /// The children of the object or array at `r`: each with its member name (for an
    /// object) and value range. Empty for a scalar.
    fn children(b: &[u8], r: &Range<usize>) -> Vec<(Option<String>, Range<usize>)> {
        let object = match byte(b, r.start) {
            b'{' => true,
            b'[' => false,
            _ => return Vec::new(),
        };
        let close = if object { b'}' } else { b']' };
        let mut out = Vec::new();
        let mut j = skip_ws(b, r.start + 1);
        while j < r.end && byte(b, j) != close {
            let name = if object {
                let end = string_end(b, j);
                let name = serde_json::from_slice::<String>(&b[j..end]).unwrap_or_default();
                j = skip_ws(b, skip_ws(b, end) + 1); // past the ':'
                Some(name)
            } else {
                None
            };
            let end = value_end(b, j);
            out.push((name, j..end));
            j = skip_ws(b, end);
            if byte(b, j) == b',' {
                j = skip_ws(b, j + 1);
            } else {
                break;
            }
        }
        out
    }

    /// The ranges of the values `steps` select from the document `b`.
    fn select(b: &[u8], steps: &[Step]) -> Vec<Range<usize>> {
        let start = skip_ws(b, 0);
        let root = start..value_end(b, start);
        let mut current = vec![root];
        for step in steps {
            let mut next = Vec::new();
            for r in &current {
                let kids = children(b, r);
                let is_array = byte(b, r.start) == b'[';
                match step {
                    Step::All => next.extend(kids.into_iter().map(|(_, v)| v)),
                    Step::Member(m) => next.extend(
                        kids.into_iter()
                            .filter(|(name, _)| name.as_deref() == Some(m.as_str()))
                            .map(|(_, v)| v),
                    ),
                    Step::Index(i) if is_array => {
                        let len = i64::try_from(kids.len()).unwrap_or(i64::MAX);
                        let at = if *i < 0 { len + i } else { *i };
                        if (0..len).contains(&at) {
                            next.push(kids[at as usize].1.clone());
                        }
                    }
                    Step::Index(_) => {}
                }
            }
            current = next;
        }
        current
    }

    /// `b` without whitespace outside strings.
    fn minify(b: &[u8]) -> String {
        let mut out = Vec::with_capacity(b.len());
        let mut i = 0;
        while i < b.len() {
            match b[i] {
                b'"' => {
                    let end = string_end(b, i);
                    out.extend_from_slice(&b[i..end]);
                    i = end;
                }
                b' ' | b'\t' | b'\n' | b'\r' => i += 1,
                c => {
                    out.push(c);
                    i += 1;
                }
            }
        }
        // Only ASCII whitespace was removed from valid UTF-8.
        String::from_utf8(out).unwrap_or_default()
    }

    /// The reply to one path: an array of every match in JSONPath form, else the first
    /// match.
    fn render(b: &[u8], path: &str, as_array: bool) -> Result<String> {
        let parsed = parse(path)?;
        let found = select(b, &parsed.steps);
        if as_array {
            let items: Vec<String> = found.iter().map(|r| minify(&b[r.clone()])).collect();
            return Ok(format!("[{}]", items.join(",")));
        }
        match found.first() {
            Some(r) => Ok(minify(&b[r.clone()])),
            None => Err(Error::InvalidArgument(format!(
                "Path '{}' does not exist",
                normalized(&parsed.steps)
            ))),
        }
    }

    /// `JSON.GET` on the document `text`.
    pub(super) fn get(text: &str, paths: &[&str]) -> Result<String> {
        let b = text.as_bytes();
        match paths {
            [] => render(b, ".", false),
            [one] => render(b, one, one.starts_with('$')),
            many => {
                let as_array = many.iter().any(|p| p.starts_with('$'));
                let mut parts = Vec::with_capacity(many.len());
                for path in many {
                    parts.push(format!("{}:{}", quote(path), render(b, path, as_array)?));
                }
                Ok(format!("{{{}}}", parts.join(",")))
            }
        }
    }

    /// `JSON.SET` of `value` at `path` of the document `text` (`None`: the key is absent);
    /// the new document, or `None` if nothing is written.
    pub(super) fn set(
        text: Option<&str>,
        path: &str,
        value: &str,
        only_if_exists: Option<bool>,
    ) -> Result<Option<String>> {
        let parsed = parse(path)?;
        let Some(text) = text else {
            if !parsed.steps.is_empty() {
                return Err(Error::InvalidArgument(
                    "new objects must be created at the root".into(),
                ));
            }
            return Ok((only_if_exists != Some(true)).then(|| value.to_owned()));
        };
        if parsed.steps.is_empty() {
            return Ok((only_if_exists != Some(false)).then(|| value.to_owned()));
        }
        let b = text.as_bytes();
        let found = select(b, &parsed.steps);
        // NX wants no match, XX at least one.
        if only_if_exists.is_some_and(|want| want == found.is_empty()) {
            return Ok(None);
        }
        let mut edits: Vec<(Range<usize>, String)> =
            found.into_iter().map(|r| (r, value.to_owned())).collect();
        if let Some((Step::Member(name), parents)) = parsed.steps.split_last() {
            // Add the member to each parent object that lacks it.
            for parent in select(b, parents) {
                if byte(b, parent.start) != b'{' {
                    continue;
                }
                let kids = children(b, &parent);
                if kids
                    .iter()
                    .any(|(n, _)| n.as_deref() == Some(name.as_str()))
                {
                    continue;
                }
                let sep = if kids.is_empty() { "" } else { "," };
                let at = parent.end - 1;
                edits.push((at..at, format!("{sep}{}:{value}", quote(name))));
            }
        }
        if edits.is_empty() {
            return Ok(None);
        }
        // Edits never overlap (each replaces a match, or inserts into an object with no
        // match); apply them from the end so earlier offsets stay valid.
        edits.sort_by_key(|(r, _)| std::cmp::Reverse(r.start));
        let mut out = text.to_owned();
        for (r, with) in edits {
            out.replace_range(r, &with);
        }
        Ok(Some(out))
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        const DOC: &str = r#" { "b" : 1, "a": {"x": [10, 20, {"y": "s p"}]}, "n": null } "#;

        #[test]
        fn paths_parse_in_both_styles() {
            let p = parse("$.a.x[2]").unwrap();
            assert!(p.dollar);
            assert_eq!(
                p.steps,
                [
                    Step::Member("a".into()),
                    Step::Member("x".into()),
                    Step::Index(2)
                ]
            );
            assert_eq!(parse("a.x").unwrap().steps, parse(".a.x").unwrap().steps);
            assert!(!parse("a.x").unwrap().dollar);
            assert!(parse(".").unwrap().steps.is_empty());
            assert_eq!(
                parse("$['a b'][*]").unwrap().steps,
                [Step::Member("a b".into()), Step::All]
            );
            for bad in ["$.", "$..a", "$[x]", "$[1", "$a"] {
                assert!(parse(bad).is_err(), "{bad}");
            }
        }

        #[test]
        fn get_keeps_member_order_and_minifies() -> Result<()> {
            assert_eq!(
                get(DOC, &[])?,
                r#"{"b":1,"a":{"x":[10,20,{"y":"s p"}]},"n":null}"#
            );
            assert_eq!(get(DOC, &["$.a.x[-1].y"])?, r#"["s p"]"#);
            assert_eq!(get(DOC, &[".a.x[1]"])?, "20");
            assert_eq!(get(DOC, &["a.x"])?, r#"[10,20,{"y":"s p"}]"#);
            assert_eq!(get(DOC, &["$.a.x[*]"])?, r#"[10,20,{"y":"s p"}]"#);
            assert_eq!(get(DOC, &["$.*"])?, r#"[1,{"x":[10,20,{"y":"s p"}]},null]"#);
            assert_eq!(get(DOC, &["$.nope"])?, "[]");
            assert_eq!(get(DOC, &["$.a.x[3]"])?, "[]");
            assert_eq!(get(DOC, &["$.b.c"])?, "[]");
            assert_eq!(get(DOC, &["$.n"])?, "[null]");
            assert!(
                matches!(get(DOC, &["nope.x"]), Err(Error::InvalidArgument(m)) if m == "Path '$.nope.x' does not exist")
            );
            assert_eq!(get(DOC, &["b", "n"])?, r#"{"b":1,"n":null}"#);
            assert_eq!(get(DOC, &["b", "$.n"])?, r#"{"b":[1],"$.n":[null]}"#);
            assert_eq!(get("7", &["$"])?, "[7]");
            assert_eq!(get(r#"{"k":"a\"}b"}"#, &["k"])?, r#""a\"}b""#);
            Ok(())
        }

        #[test]
        fn set_replaces_adds_and_honours_conditions() -> Result<()> {
            let doc = r#"{"a":{"x":[1,2]},"b":{}}"#;
            let set_ = |p: &str, v: &str, c| set(Some(doc), p, v, c);
            assert_eq!(
                set_("$.a.x[0]", "9", None)?.unwrap(),
                r#"{"a":{"x":[9,2]},"b":{}}"#
            );
            assert_eq!(
                set_("$.b.new", r#""v""#, None)?.unwrap(),
                r#"{"a":{"x":[1,2]},"b":{"new":"v"}}"#
            );
            assert_eq!(
                set_(".a.y", "true", None)?.unwrap(),
                r#"{"a":{"x":[1,2],"y":true},"b":{}}"#
            );
            assert_eq!(
                set_("$.*.z", "0", None)?.unwrap(),
                r#"{"a":{"x":[1,2],"z":0},"b":{"z":0}}"#
            );
            assert_eq!(set_("$.a.x[5]", "0", None)?, None);
            assert_eq!(set_("$.nope.deeper", "0", None)?, None);
            assert_eq!(set_("$.a", "0", Some(false))?, None);
            assert_eq!(set_("$.c", "0", Some(true))?, None);
            assert_eq!(
                set_("$.c", "0", Some(false))?.unwrap(),
                r#"{"a":{"x":[1,2]},"b":{},"c":0}"#
            );
            assert_eq!(set_("$", "[]", None)?.unwrap(), "[]");
            assert_eq!(set_("$", "[]", Some(false))?, None);
            assert_eq!(set(None, "$", "{}", None)?.unwrap(), "{}");
            assert_eq!(set(None, ".", "{}", Some(true))?, None);
            assert!(set(None, "$.a", "{}", None).is_err());
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn byte_ranges_follow_redis() {
        let s = b"This is a string";
        assert_eq!(byte_range(s, 0, 3), b"This");
        assert_eq!(byte_range(s, -3, -1), b"ing");
        assert_eq!(byte_range(s, 0, -1), s);
        assert_eq!(byte_range(s, 10, 100), b"string");
        assert_eq!(byte_range(s, -100, 1), b"Th");
        assert_eq!(byte_range(s, 5, 2), b"");
        assert_eq!(byte_range(s, -1, -5), b"");
        assert_eq!(byte_range(s, 100, 200), b"");
        assert_eq!(byte_range(b"", 0, -1), b"");
    }

    #[test]
    fn rewrites_keep_strings_while_utf8() {
        assert_eq!(
            rewritten(ValueType::String, b"ab".to_vec()),
            Value::String("ab".into())
        );
        assert_eq!(
            rewritten(ValueType::String, vec![0xff]),
            Value::Bytes(vec![0xff])
        );
        assert_eq!(
            rewritten(ValueType::Int, b"12".to_vec()),
            Value::Bytes(b"12".to_vec())
        );
    }
}
