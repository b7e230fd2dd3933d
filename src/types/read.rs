//! One read path: the [`Read`](crate::Read) trait, which [`Db`](crate::Db), [`Snapshot`] and [`WriteTxn`](crate::WriteTxn) share.
//!
//! Every read is written once, as a provided method of [`Read`](crate::Read) over one private source that
//! is either a consistent view of the committed state (a sequence-lock section, format-spec.md
//! §8) or a write transaction (its pending writes over the committed state it locked). `Db`
//! and `WriteTxn` keep inherent methods of the same names that forward here, so callers need
//! not import the trait; code that should run on either takes `impl Read`.

use std::time::Duration;

use crate::db::pages::{Meta, Source};
use crate::db::txn::{decode_value, WriteTxn};
use crate::db::Db;
use crate::engine::now_ms;
use crate::error::{Error, Result};
use crate::format::tree::{PageBuf, PageRead};
use crate::format::value::{Value, ValueRef, ValueType};

/// The expiry state of a key (Redis `PEXPIRETIME`'s -2, -1 or a time).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Expiry {
    /// The key does not exist (Redis -2).
    Missing,
    /// The key exists and does not expire (Redis -1).
    Persistent,
    /// The key expires at this Unix time in milliseconds.
    At(u64),
}

impl Expiry {
    /// The time left until the key expires (zero once passed); `None` unless [`Expiry::At`].
    ///
    /// # Examples
    ///
    /// ```
    /// use ziggydb::Expiry;
    /// assert_eq!(Expiry::Persistent.ttl(), None);
    /// assert_eq!(Expiry::At(0).ttl(), Some(std::time::Duration::ZERO));
    /// ```
    pub fn ttl(self) -> Option<Duration> {
        match self {
            Expiry::At(at) => Some(Duration::from_millis(at.saturating_sub(now_ms()))),
            _ => None,
        }
    }
    /// The expiry time in Unix ms, if the key has one.
    ///
    /// # Examples
    ///
    /// ```
    /// use ziggydb::Expiry;
    /// assert_eq!(Expiry::At(1_700_000_000_000).at(), Some(1_700_000_000_000));
    /// assert_eq!(Expiry::Persistent.at(), None);
    /// ```
    pub fn at(self) -> Option<u64> {
        match self {
            Expiry::At(at) => Some(at),
            _ => None,
        }
    }
    /// Whether the key exists.
    ///
    /// # Examples
    ///
    /// ```
    /// use ziggydb::Expiry;
    /// assert!(Expiry::Persistent.exists() && Expiry::At(5).exists());
    /// assert!(!Expiry::Missing.exists());
    /// ```
    pub fn exists(self) -> bool {
        self != Expiry::Missing
    }
}

pub(crate) mod sealed {
    use super::*;

    /// Where a read takes its data: one consistent view of the committed state, or a write
    /// transaction.
    #[derive(Clone, Copy)]
    pub enum Src<'a> {
        /// The committed state, inside one sequence-lock section.
        Snap(&'a crate::db::pages::Snapshot<'a>),
        /// A write transaction: its own writes over the committed state.
        Txn(&'a WriteTxn),
    }

    /// The one required method of [`super::Read`], private to the crate.
    pub trait Sealed {
        /// Runs `f` on one source that sees one state (for a `Db`, a section that is retried
        /// if a commit is published meanwhile: `f` must only read).
        fn section<T>(&self, f: &mut dyn FnMut(Src<'_>) -> Result<T>) -> Result<T>;
    }

    impl Src<'_> {
        /// Runs `f` on the type tag, payload and expiry (0 = none) of the user key `key`;
        /// absent and expired keys are `Ok(None)`.
        pub(crate) fn peek<R>(
            self,
            key: &[u8],
            f: impl FnOnce(u8, &[u8], u64) -> Result<R>,
        ) -> Result<Option<R>> {
            match self {
                Src::Txn(tx) => tx.peek(key, false, f),
                Src::Snap(s) => match s.user_hit(key)? {
                    Some(h) => f(h.meta.vtype, h.meta.value(&h.map), h.meta.expires_at).map(Some),
                    None => Ok(None),
                },
            }
        }

        /// Whether the user key `key` exists (any type, unexpired).
        pub(crate) fn exists(self, key: &[u8]) -> Result<bool> {
            match self {
                Src::Txn(tx) => tx.exists_any(key),
                Src::Snap(_) => Ok(self.peek(key, |_, _, _| Ok(()))?.is_some()),
            }
        }

        /// Every user key this source sees, in byte order.
        pub(crate) fn keys(self) -> Result<Vec<Vec<u8>>> {
            match self {
                Src::Txn(tx) => tx.visible_keys(),
                Src::Snap(s) => {
                    let mut keys = s.all_keys()?;
                    keys.sort_unstable();
                    Ok(keys)
                }
            }
        }
    }

    impl PageRead for Src<'_> {
        fn page_bytes(&self, coll: u64, page: u64) -> Result<PageBuf> {
            match self {
                Src::Txn(tx) => tx.page_bytes(coll, page),
                Src::Snap(s) => s.page_bytes(coll, page),
            }
        }
    }

    impl Source for Src<'_> {
        fn meta(&self, key: &[u8], ty: ValueType) -> Result<Option<Meta>> {
            match self {
                Src::Txn(tx) => tx.meta(key, ty),
                Src::Snap(s) => s.meta(key, ty),
            }
        }
    }
}

use sealed::{Sealed, Src};

/// Runs `f` on the value of `key` as string commands see it, borrowed without a copy for
/// bytes, strings and JSON (a collection is [`Error::WrongType`](crate::Error::WrongType)).
fn peek_redis_bytes<R>(
    src: Src<'_>,
    key: &[u8],
    f: impl FnOnce(&[u8]) -> Result<R>,
) -> Result<Option<R>> {
    src.peek(key, |vtype, payload, _| match ValueType::from_tag(vtype) {
        Some(ValueType::Bytes | ValueType::String | ValueType::Json) => f(payload),
        // A collection is WRONGTYPE; other scalars are a few bytes to format.
        _ => f(&decode_value(vtype, payload)?.to_redis_bytes()),
    })
}

/// Reads, written once for every way to read a database: [`Db`](crate::Db) (each call reads the
/// committed state as one consistent view), [`Snapshot`] (several calls read one view,
/// see [`Db::view`](crate::Db::view)) and [`WriteTxn`](crate::WriteTxn) (reads see the transaction's own writes). Sealed: it
/// cannot be implemented outside the crate.
///
/// Generic code can take either:
///
/// ```
/// use ziggydb::{Db, Read};
/// fn total(r: &impl Read) -> ziggydb::Result<u64> {
///     r.count_existing(&[b"a", b"b", b"c"])
/// }
/// # fn main() -> ziggydb::Result<()> {
/// # let dir = tempfile::tempdir().unwrap();
/// let db = Db::open(dir.path().join("data"))?;
/// db.set(b"a", 1i64)?;
/// let mut tx = db.begin_write()?;
/// tx.set(b"b", 2i64)?;
/// assert_eq!(total(&db)?, 1);
/// assert_eq!(total(&tx)?, 2); // sees its own write
/// # Ok(()) }
/// ```
pub trait Read: Sealed {
    /// Reads `key` into an owned [`Value`](crate::Value) (Redis `GET`); expired keys read as absent.
    ///
    /// # Examples
    ///
    /// ```
    /// # use ziggydb::{Db, Read, Value};
    /// # fn main() -> ziggydb::Result<()> {
    /// # let dir = tempfile::tempdir().unwrap();
    /// let db = Db::open(dir.path().join("data"))?;
    /// db.set(b"n", 7i64)?;
    /// assert_eq!(Read::get(&db, "n")?, Some(Value::Int(7)));
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// [`Error::WrongType`](crate::Error::WrongType) if the key holds a collection; checksum or I/O errors.
    fn get(&self, key: impl AsRef<[u8]>) -> Result<Option<Value>> {
        let key = key.as_ref();
        self.section(&mut |s| s.peek(key, decode_scalar))
    }

    /// The type of the value at `key` (Redis `TYPE`); `None` if absent.
    ///
    /// # Examples
    ///
    /// ```
    /// # use ziggydb::{Db, Read, ValueType};
    /// # fn main() -> ziggydb::Result<()> {
    /// # let dir = tempfile::tempdir().unwrap();
    /// let db = Db::open(dir.path().join("data"))?;
    /// db.transaction(|tx| tx.list(b"l").push_back(&[b"x"]))?;
    /// assert_eq!(db.value_type("l")?, Some(ValueType::List));
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// [`Error::CorruptValue`](crate::Error::CorruptValue) for an unknown stored type; checksum or I/O errors.
    fn value_type(&self, key: impl AsRef<[u8]>) -> Result<Option<ValueType>> {
        let key = key.as_ref();
        self.section(&mut |s| {
            s.peek(key, |vtype, _, _| {
                crate::format::value::value_type_of(vtype)
            })
        })
    }

    /// The type of the value at `key` as Redis's `TYPE` names it: `"none"` if the key does
    /// not exist, `"string"` for every scalar, or the collection's name.
    ///
    /// # Examples
    ///
    /// ```
    /// # use ziggydb::{Db, Read};
    /// # fn main() -> ziggydb::Result<()> {
    /// # let dir = tempfile::tempdir().unwrap();
    /// let db = Db::open(dir.path().join("data"))?;
    /// assert_eq!(db.key_type("nothing")?, "none");
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// As [`Read::value_type`](crate::Read::value_type).
    fn key_type(&self, key: impl AsRef<[u8]>) -> Result<&'static str> {
        Ok(self.value_type(key)?.map_or("none", ValueType::redis_name))
    }

    /// Whether `key` exists, whatever its type (Redis `EXISTS`, which is 1 for a list too).
    ///
    /// # Examples
    ///
    /// ```
    /// # use ziggydb::{Db, Read};
    /// # fn main() -> ziggydb::Result<()> {
    /// # let dir = tempfile::tempdir().unwrap();
    /// let db = Db::open(dir.path().join("data"))?;
    /// db.transaction(|tx| tx.list(b"l").push_back(&[b"x"]))?;
    /// assert!(db.exists("l")?);
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// Checksum or I/O errors.
    fn exists(&self, key: impl AsRef<[u8]>) -> Result<bool> {
        let key = key.as_ref();
        self.section(&mut |s| s.exists(key))
    }

    /// How many of `keys` exist, counting a key as often as it is given (Redis `EXISTS` with
    /// several keys), all read from one state.
    ///
    /// # Examples
    ///
    /// ```
    /// # use ziggydb::{Db, Read};
    /// # fn main() -> ziggydb::Result<()> {
    /// # let dir = tempfile::tempdir().unwrap();
    /// let db = Db::open(dir.path().join("data"))?;
    /// db.set(b"a", 1i64)?;
    /// assert_eq!(db.count_existing(&[b"a", b"a", b"b"])?, 2);
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// As [`Read::exists`](crate::Read::exists).
    fn count_existing(&self, keys: &[&[u8]]) -> Result<u64> {
        self.section(&mut |s| {
            let mut n = 0;
            for key in keys {
                n += u64::from(s.exists(key)?);
            }
            Ok(n)
        })
    }

    /// Whether `key` exists and when it expires (Redis `PEXPIRETIME`, and `TTL`/`PTTL` via
    /// [`Expiry::ttl`]), read together.
    ///
    /// # Examples
    ///
    /// ```
    /// # use ziggydb::{Db, Expiry, Read};
    /// # fn main() -> ziggydb::Result<()> {
    /// # let dir = tempfile::tempdir().unwrap();
    /// let db = Db::open(dir.path().join("data"))?;
    /// db.set(b"k", "v")?;
    /// assert_eq!(db.expire_time("k")?, Expiry::Persistent);
    /// assert_eq!(db.expire_time("gone")?, Expiry::Missing);
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// Checksum or I/O errors.
    fn expire_time(&self, key: impl AsRef<[u8]>) -> Result<Expiry> {
        let key = key.as_ref();
        let at = self.section(&mut |s| s.peek(key, |_, _, at| Ok(at)))?;
        Ok(match at {
            None => Expiry::Missing,
            Some(0) => Expiry::Persistent,
            Some(at) => Expiry::At(at),
        })
    }

    /// The expiry time (Unix ms) of `key`; `None` if it is absent or does not expire (see
    /// [`Read::expire_time`](crate::Read::expire_time) to tell them apart).
    ///
    /// # Examples
    ///
    /// ```
    /// # use ziggydb::{Db, Read};
    /// # fn main() -> ziggydb::Result<()> {
    /// # let dir = tempfile::tempdir().unwrap();
    /// let db = Db::open(dir.path().join("data"))?;
    /// db.transaction(|tx| tx.set_with_expiry(b"k", "v", Some(u64::MAX / 2)))?;
    /// assert_eq!(db.expiry("k")?, Some(u64::MAX / 2));
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// Checksum or I/O errors.
    fn expiry(&self, key: impl AsRef<[u8]>) -> Result<Option<u64>> {
        Ok(self.expire_time(key)?.at())
    }

    /// Length of the value at `key` as `GET` returns it, 0 if absent (Redis `STRLEN`). Read
    /// in place: the value is not copied, whatever its size.
    ///
    /// # Examples
    ///
    /// ```
    /// # use ziggydb::{Db, Read};
    /// # fn main() -> ziggydb::Result<()> {
    /// # let dir = tempfile::tempdir().unwrap();
    /// let db = Db::open(dir.path().join("data"))?;
    /// db.set(b"n", 1234i64)?;
    /// assert_eq!(db.strlen("n")?, 4);
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// [`Error::WrongType`](crate::Error::WrongType) for a collection; checksum or I/O errors.
    fn strlen(&self, key: impl AsRef<[u8]>) -> Result<usize> {
        let key = key.as_ref();
        Ok(self
            .section(&mut |s| peek_redis_bytes(s, key, |b| Ok(b.len())))?
            .unwrap_or(0))
    }

    /// Bytes `start..=end` of the value at `key` (Redis `GETRANGE`): negative positions count
    /// from the end, out-of-range ones are clamped; empty if the key is absent.
    ///
    /// # Examples
    ///
    /// ```
    /// # use ziggydb::{Db, Read};
    /// # fn main() -> ziggydb::Result<()> {
    /// # let dir = tempfile::tempdir().unwrap();
    /// let db = Db::open(dir.path().join("data"))?;
    /// db.set(b"s", "hello")?;
    /// assert_eq!(db.get_range("s", 1, -2)?, b"ell");
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// As [`Read::strlen`](crate::Read::strlen).
    fn get_range(&self, key: impl AsRef<[u8]>, start: i64, end: i64) -> Result<Vec<u8>> {
        let key = key.as_ref();
        Ok(self
            .section(&mut |s| {
                peek_redis_bytes(s, key, |b| {
                    crate::error::try_copy(crate::types::byte_range(b, start, end))
                })
            })?
            .unwrap_or_default())
    }

    /// The JSON document at `key`, or the parts of it that `paths` select (RedisJSON
    /// `JSON.GET`), as compact JSON text; `None` if the key is absent. See
    /// [`WriteTxn::json_set`](crate::WriteTxn::json_set) for the paths.
    ///
    /// # Examples
    ///
    /// ```
    /// # use ziggydb::{Db, Read, Value};
    /// # fn main() -> ziggydb::Result<()> {
    /// # let dir = tempfile::tempdir().unwrap();
    /// let db = Db::open(dir.path().join("data"))?;
    /// db.set(b"doc", Value::Json(r#"{"a":[1,2]}"#.into()))?;
    /// assert_eq!(db.json_get("doc", &["$.a[1]"])?.as_deref(), Some("[2]"));
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// [`Error::WrongType`](crate::Error::WrongType) if the key holds another type; [`Error::InvalidArgument`](crate::Error::InvalidArgument) for a
    /// malformed path or a legacy path that matches nothing.
    fn json_get(&self, key: impl AsRef<[u8]>, paths: &[&str]) -> Result<Option<String>> {
        self.get(key)?
            .map(|v| crate::types::json_get(&v, paths))
            .transpose()
    }

    /// The keys matching the glob `pattern`, in byte order (Redis `KEYS`), from one state.
    /// Reads every key.
    ///
    /// # Examples
    ///
    /// ```
    /// # use ziggydb::{Db, Read};
    /// # fn main() -> ziggydb::Result<()> {
    /// # let dir = tempfile::tempdir().unwrap();
    /// let db = Db::open(dir.path().join("data"))?;
    /// db.set(b"user:2", 1i64)?;
    /// db.set(b"user:1", 1i64)?;
    /// db.set(b"job:1", 1i64)?;
    /// assert_eq!(db.keys_matching("user:*")?, vec![b"user:1".to_vec(), b"user:2".to_vec()]);
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// Checksum or I/O errors.
    fn keys_matching(&self, pattern: impl AsRef<[u8]>) -> Result<Vec<Vec<u8>>> {
        let pattern = pattern.as_ref();
        let mut keys = self.section(&mut |s| s.keys())?;
        keys.retain(|k| crate::types::glob_match(pattern, k));
        Ok(keys)
    }

    /// The list at `key`, for reading (see [`WriteTxn::list`](crate::WriteTxn::list) to write).
    ///
    /// # Examples
    ///
    /// ```
    /// # use ziggydb::{Db, Read};
    /// # fn main() -> ziggydb::Result<()> {
    /// # let dir = tempfile::tempdir().unwrap();
    /// let db = Db::open(dir.path().join("data"))?;
    /// let mut tx = db.begin_write()?;
    /// tx.list(b"l").push_back(&[b"a", b"b"])?;
    /// assert_eq!(tx.list_view("l").len()?, 2);
    /// # Ok(()) }
    /// ```
    fn list_view(&self, key: impl AsRef<[u8]>) -> crate::types::collections::ListView<'_, Self>
    where
        Self: Sized,
    {
        crate::types::collections::ListView::new(self, key.as_ref().to_vec().into())
    }

    /// The set at `key`, for reading (see [`WriteTxn::set_of`](crate::WriteTxn::set_of) to write).
    ///
    /// # Examples
    ///
    /// ```
    /// # use ziggydb::{Db, Read};
    /// # fn main() -> ziggydb::Result<()> {
    /// # let dir = tempfile::tempdir().unwrap();
    /// let db = Db::open(dir.path().join("data"))?;
    /// db.transaction(|tx| tx.set_of(b"s").add(&[b"m"]))?;
    /// assert!(db.set_view("s").contains(b"m")?);
    /// # Ok(()) }
    /// ```
    fn set_view(&self, key: impl AsRef<[u8]>) -> crate::types::collections::SetView<'_, Self>
    where
        Self: Sized,
    {
        crate::types::collections::SetView::new(self, key.as_ref().to_vec().into())
    }

    /// The sorted set at `key`, for reading (see [`WriteTxn::zset`](crate::WriteTxn::zset) to write).
    ///
    /// # Examples
    ///
    /// ```
    /// # use ziggydb::{Db, Read};
    /// # fn main() -> ziggydb::Result<()> {
    /// # let dir = tempfile::tempdir().unwrap();
    /// let db = Db::open(dir.path().join("data"))?;
    /// db.transaction(|tx| tx.zset(b"z").add(Default::default(), &[(1.5, b"m")]))?;
    /// assert_eq!(db.zset_view("z").score(b"m")?, Some(1.5));
    /// # Ok(()) }
    /// ```
    fn zset_view(&self, key: impl AsRef<[u8]>) -> crate::types::collections::SortedSetView<'_, Self>
    where
        Self: Sized,
    {
        crate::types::collections::SortedSetView::new(self, key.as_ref().to_vec().into())
    }

    /// The hash at `key`, for reading (see [`WriteTxn::hash`](crate::WriteTxn::hash) to write).
    ///
    /// # Examples
    ///
    /// ```
    /// # use ziggydb::{Db, Read};
    /// # fn main() -> ziggydb::Result<()> {
    /// # let dir = tempfile::tempdir().unwrap();
    /// let db = Db::open(dir.path().join("data"))?;
    /// db.transaction(|tx| tx.hash(b"h").set(&[(b"f", b"v")]))?;
    /// assert_eq!(db.hash_view("h").get(b"f")?, Some(b"v".to_vec()));
    /// # Ok(()) }
    /// ```
    fn hash_view(&self, key: impl AsRef<[u8]>) -> crate::types::collections::HashView<'_, Self>
    where
        Self: Sized,
    {
        crate::types::collections::HashView::new(self, key.as_ref().to_vec().into())
    }

    /// Members of the sets at `keys`, combined (Redis `SINTER`, `SUNION`, `SDIFF`), from one
    /// state.
    ///
    /// # Examples
    ///
    /// ```
    /// # use ziggydb::{Db, Read, SetOp};
    /// # fn main() -> ziggydb::Result<()> {
    /// # let dir = tempfile::tempdir().unwrap();
    /// let db = Db::open(dir.path().join("data"))?;
    /// db.transaction(|tx| {
    ///     tx.set_of(b"a").add(&[b"x", b"y"])?;
    ///     tx.set_of(b"b").add(&[b"y"])
    /// })?;
    /// assert_eq!(Read::set_combine(&db, SetOp::Inter, &[b"a", b"b"])?, vec![b"y".to_vec()]);
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// [`Error::WrongType`](crate::Error::WrongType) if a key holds another type.
    fn set_combine(
        &self,
        op: crate::types::collections::SetOp,
        keys: &[&[u8]],
    ) -> Result<Vec<Vec<u8>>> {
        self.section(&mut |s| crate::types::collections::combine(&s, op, keys))
    }

    /// The union, intersection or difference of the sorted sets at `keys` (Redis `ZUNION`,
    /// `ZINTER`, `ZDIFF`), with their scores, sorted by score then member. A set counts as
    /// a sorted set whose members score 1, and a missing key as empty. Union and
    /// intersection multiply each input's scores by its weight (1 past `weights`) and merge
    /// a member's scores with `aggregate`; a difference keeps the first input's scores and
    /// ignores both.
    ///
    /// # Examples
    ///
    /// ```
    /// # use ziggydb::{Aggregate, Db, Read, SetOp};
    /// # fn main() -> ziggydb::Result<()> {
    /// # let dir = tempfile::tempdir().unwrap();
    /// let db = Db::open(dir.path().join("data"))?;
    /// db.transaction(|tx| {
    ///     tx.zset(b"a").add(Default::default(), &[(1.0, "x"), (2.0, "y")])?;
    ///     tx.set_of(b"b").add(&["y", "z"])
    /// })?;
    /// let union = db.zset_combine(SetOp::Union, &[b"a", b"b"], &[10.0], Aggregate::Sum)?;
    /// assert_eq!(
    ///     union,
    ///     vec![(b"z".to_vec(), 1.0), (b"x".to_vec(), 10.0), (b"y".to_vec(), 21.0)]
    /// );
    /// let inter = db.zset_combine(SetOp::Inter, &[b"a", b"b"], &[], Aggregate::Max)?;
    /// assert_eq!(inter, vec![(b"y".to_vec(), 2.0)]);
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// [`Error::WrongType`](crate::Error::WrongType) if a key holds neither a sorted set
    /// nor a set.
    fn zset_combine(
        &self,
        op: crate::types::collections::SetOp,
        keys: &[&[u8]],
        weights: &[f64],
        aggregate: crate::types::collections::Aggregate,
    ) -> Result<Vec<(Vec<u8>, f64)>> {
        self.section(&mut |s| crate::types::collections::zcombine(&s, op, keys, weights, aggregate))
    }
}

/// Decodes a stored scalar (the signature `Src::peek` wants).
fn decode_scalar(vtype: u8, payload: &[u8], _: u64) -> Result<Value> {
    decode_value(vtype, payload)
}

/// Several reads of one committed state: see [`Db::view`](crate::Db::view). Every [`Read`](crate::Read) method on it sees
/// the same state.
pub struct Snapshot<'a> {
    inner: &'a crate::db::pages::Snapshot<'a>,
}

impl Sealed for Db {
    fn section<T>(&self, f: &mut dyn FnMut(Src<'_>) -> Result<T>) -> Result<T> {
        crate::db::pages::read_counted(&self.inner, |s| f(Src::Snap(s)))
    }
}

impl Read for Db {}

impl Sealed for Snapshot<'_> {
    fn section<T>(&self, f: &mut dyn FnMut(Src<'_>) -> Result<T>) -> Result<T> {
        f(Src::Snap(self.inner))
    }
}

impl Read for Snapshot<'_> {}

/// A consistent read view: every read through it answers as of the commit that was the
/// newest when it was opened ([`Db::read_view`]), however long it is kept, while other
/// threads and processes write and compact (format-spec.md §8.2). As LMDB's read
/// transaction or redb's `begin_read`, without a lock and without retrying the reader.
///
/// Reads are those of [`Read`]: typed gets, `exists`, expiry and TTL, and the collection
/// views (lists, sets, sorted sets, hashes). Listing keys (`keys_matching`) is refused. An
/// expiry time is judged by the clock at each read, as for any read.
///
/// What a view costs and pins: while any view is open, each commit saves the old index
/// position of every key it writes into a ring of [`RING`](crate::ReadView::RING) entries
/// in `ziggy.views`; a view kept open past that many index changes fails its reads with
/// [`Error::SnapshotTooOld`]. Segment files that a compaction replaces while a view that
/// may read them is open stay on disk (no longer listed) until the view is dropped, and
/// the next compaction deletes them. A view of a process that dies pins nothing.
///
/// # Examples
///
/// ```
/// # use ziggydb::{Db, Read, Value};
/// # fn main() -> ziggydb::Result<()> {
/// # let dir = tempfile::tempdir().unwrap();
/// let db = Db::open(dir.path().join("data"))?;
/// db.set(b"a", 1i64)?;
/// db.transaction(|tx| tx.hash(b"h").set(&[("f", "old")]))?;
/// let view = db.read_view()?;
/// db.set(b"a", 2i64)?;
/// db.delete(b"h")?;
/// assert_eq!(view.get("a")?, Some(Value::Int(1)));
/// assert_eq!(view.hash_view("h").get(b"f")?, Some(b"old".to_vec()));
/// assert_eq!(db.get_value("a")?, Some(Value::Int(2)));
/// # Ok(()) }
/// ```
pub struct ReadView<'db> {
    db: &'db Db,
    at: crate::engine::views::At<'db>,
}

impl ReadView<'_> {
    /// Index changes (keys written or deleted, collection pages included) a view outlives:
    /// the undo ring's length.
    pub const RING: u64 = crate::engine::views::RING;

    /// The txn id of the commit the view answers as of (0 for an empty database).
    ///
    /// # Examples
    ///
    /// ```
    /// # fn main() -> ziggydb::Result<()> {
    /// # let dir = tempfile::tempdir().unwrap();
    /// let db = ziggydb::Db::open(dir.path().join("data"))?;
    /// assert_eq!(db.read_view()?.txn(), 0);
    /// db.set(b"k", "v")?;
    /// assert_eq!(db.read_view()?.txn(), 1);
    /// # Ok(()) }
    /// ```
    pub fn txn(&self) -> u64 {
        self.at.txn
    }
}

impl std::fmt::Debug for ReadView<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReadView")
            .field("txn", &self.at.txn)
            .finish()
    }
}

impl Sealed for ReadView<'_> {
    fn section<T>(&self, f: &mut dyn FnMut(Src<'_>) -> Result<T>) -> Result<T> {
        crate::db::pages::read_counted_at(&self.db.inner, Some(&self.at), |s| f(Src::Snap(s)))
    }
}

impl Read for ReadView<'_> {}

impl Db {
    /// Opens a read view of the newest commit ([`ReadView`]): the reads made through it
    /// all answer as of that commit, while others write and compact. Cheap: a few atomic
    /// operations to register it, and reads cost as plain reads until some commit is made
    /// after it.
    ///
    /// # Examples
    ///
    /// ```
    /// # use ziggydb::{Db, Read, Value};
    /// # fn main() -> ziggydb::Result<()> {
    /// # let dir = tempfile::tempdir().unwrap();
    /// let db = Db::open(dir.path().join("data"))?;
    /// db.set(b"a", 1i64)?;
    /// db.set(b"b", 1i64)?;
    /// let view = db.read_view()?;
    /// db.transaction(|tx| {
    ///     tx.set(b"a", 0i64)?;
    ///     tx.set(b"b", 2i64)
    /// })?;
    /// // Both as of the same commit, before the transfer.
    /// assert_eq!((view.get("a")?, view.get("b")?), (Some(Value::Int(1)), Some(Value::Int(1))));
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// I/O errors creating or mapping `ziggy.views`; [`Error::InvalidArgument`] if 512
    /// views are open at once in all processes; [`Error::Forked`].
    #[inline]
    pub fn read_view(&self) -> Result<ReadView<'_>> {
        crate::engine::views::start_worker(&self.inner, &self._handle);
        Ok(ReadView {
            db: self,
            at: crate::engine::views::At::register(&self.inner)?,
        })
    }
}

impl Sealed for WriteTxn {
    fn section<T>(&self, f: &mut dyn FnMut(Src<'_>) -> Result<T>) -> Result<T> {
        f(Src::Txn(self))
    }
}

impl Read for WriteTxn {}

impl Db {
    /// Runs `f` on one consistent view of the committed state: every read `f` makes through
    /// the [`Snapshot`] sees the same commits, in every process (Redis `MULTI` of reads only;
    /// no lock is taken). A commit published while `f` runs makes it run again, so `f` may
    /// run more than once and must have no side effects; keep it short, or a busy writer can
    /// keep restarting it.
    ///
    /// # Examples
    ///
    /// ```
    /// # use ziggydb::{Db, Read};
    /// # fn main() -> ziggydb::Result<()> {
    /// # let dir = tempfile::tempdir().unwrap();
    /// let db = Db::open(dir.path().join("data"))?;
    /// db.transaction(|tx| tx.list(b"jobs").push_back(&[b"a", b"b"]))?;
    /// let (len, items) = db.view(|s| {
    ///     let l = s.list_view("jobs");
    ///     Ok((l.len()?, l.range(0, -1)?))
    /// })?;
    /// assert_eq!(len as usize, items.len());
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// What `f` returns; checksum or I/O errors.
    pub fn view<T>(&self, mut f: impl FnMut(&Snapshot<'_>) -> Result<T>) -> Result<T> {
        crate::db::pages::read_counted(&self.inner, |s| f(&Snapshot { inner: s }))
    }

    /// As [`Read::count_existing`], over keys from an iterator (walked again if the read
    /// section is retried), so that a caller holding its keys in another form (`EXISTS` of
    /// a packed line) needs no list of slices.
    pub(crate) fn count_existing_of<'k>(
        &self,
        keys: impl Iterator<Item = &'k [u8]> + Clone,
    ) -> Result<u64> {
        self.section(&mut |s| {
            let mut n = 0;
            for key in keys.clone() {
                n += u64::from(s.exists(key)?);
            }
            Ok(n)
        })
    }
}

impl Db {
    /// Reads `key` into an owned [`Value`](crate::Value).
    ///
    /// # Errors
    /// As [`Db::get`](crate::Db::get).
    ///
    /// # Examples
    ///
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// # let db = ziggydb::Db::open(dir.path().join("db"))?;
    /// use ziggydb::Value;
    /// db.set(b"n", 42i64)?;
    /// assert_eq!(db.get_value(b"n")?, Some(Value::Int(42)));
    /// # Ok::<(), ziggydb::Error>(())
    /// ```
    pub fn get_value(&self, key: impl AsRef<[u8]>) -> Result<Option<Value>> {
        Read::get(self, key)
    }

    /// Reads `key` (Redis `GET`), zero-copy: the [`ValueRef`] borrows the bytes from the
    /// shared mapping. Expired keys read as absent. [`Read::get`](crate::Read::get) (and [`Db::get_value`](crate::Db::get_value)) is
    /// the same read into an owned [`Value`](crate::Value), as [`WriteTxn::get`](crate::WriteTxn::get) and [`crate::Snapshot`]
    /// return it.
    ///
    /// # Examples
    ///
    /// ```
    /// # fn main() -> ziggydb::Result<()> {
    /// # let dir = tempfile::tempdir().unwrap();
    /// let db = ziggydb::Db::open(dir.path().join("data"))?;
    /// db.set(b"k", "v")?;
    /// assert_eq!(db.get("k")?.as_deref(), Some(&b"v"[..]));
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// [`Error::WrongType`](crate::Error::WrongType) if the key holds a collection; checksum or I/O errors on the
    /// record.
    pub fn get(&self, key: impl AsRef<[u8]>) -> Result<Option<ValueRef>> {
        let Some(hit) = self.inner.lookup(key.as_ref())? else {
            return Ok(None);
        };
        let ty = crate::format::value::value_type_of(hit.meta.vtype)?;
        if ty.is_collection() {
            return Err(Error::WrongType {
                expected: ValueType::String,
                actual: ty,
            });
        }
        Ok(Some(ValueRef {
            ty,
            map: hit.map,
            start: hit.meta.value_start,
            len: hit.meta.value_len,
        }))
    }

    /// The expiry time (Unix ms) of `key`; `None` if it is absent or does not expire (Redis
    /// `PEXPIRETIME`).
    ///
    /// # Errors
    /// As [`Db::get`](crate::Db::get).
    ///
    /// # Examples
    ///
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// # let db = ziggydb::Db::open(dir.path().join("db"))?;
    /// db.transaction(|tx| tx.set_with_expiry(b"session", "s", Some(u64::MAX / 2)))?;
    /// assert_eq!(db.expiry(b"session")?, Some(u64::MAX / 2));
    /// db.set(b"forever", "f")?;
    /// assert_eq!(db.expiry(b"forever")?, None);
    /// # Ok::<(), ziggydb::Error>(())
    /// ```
    pub fn expiry(&self, key: impl AsRef<[u8]>) -> Result<Option<u64>> {
        Read::expiry(self, key)
    }

    /// The type of the value at `key` (Redis `TYPE`); `None` if absent; [`Read::value_type`](crate::Read::value_type).
    ///
    /// # Errors
    /// As [`Read::value_type`](crate::Read::value_type).
    ///
    /// # Examples
    ///
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// # let db = ziggydb::Db::open(dir.path().join("db"))?;
    /// use ziggydb::ValueType;
    /// db.set(b"n", 1i64)?;
    /// db.transaction(|tx| tx.hash(b"h").set(&[("f", "v")]))?;
    /// assert_eq!(db.value_type(b"n")?, Some(ValueType::Int));
    /// assert_eq!(db.value_type(b"h")?, Some(ValueType::Hash));
    /// assert_eq!(db.value_type(b"missing")?, None);
    /// # Ok::<(), ziggydb::Error>(())
    /// ```
    pub fn value_type(&self, key: impl AsRef<[u8]>) -> Result<Option<ValueType>> {
        Read::value_type(self, key)
    }

    /// Whether `key` exists, whatever its type (Redis `EXISTS`); [`Read::exists`](crate::Read::exists).
    ///
    /// # Errors
    /// Checksum or I/O errors.
    ///
    /// # Examples
    ///
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// # let db = ziggydb::Db::open(dir.path().join("db"))?;
    /// db.set(b"k", "v")?;
    /// db.transaction(|tx| tx.set_of(b"s").add(&["m"]))?;
    /// assert!(db.exists(b"k")? && db.exists(b"s")?);
    /// assert!(!db.exists(b"missing")?);
    /// # Ok::<(), ziggydb::Error>(())
    /// ```
    pub fn exists(&self, key: impl AsRef<[u8]>) -> Result<bool> {
        Read::exists(self, key)
    }
}

impl WriteTxn {
    /// Reads `key`, seeing this transaction's writes (Redis `GET`); [`Read::get`](crate::Read::get).
    ///
    /// # Examples
    ///
    /// ```
    /// # use ziggydb::{Db, Value};
    /// # fn main() -> ziggydb::Result<()> {
    /// # let dir = tempfile::tempdir().unwrap();
    /// let db = Db::open(dir.path().join("data"))?;
    /// let mut tx = db.begin_write()?;
    /// tx.set(b"k", "v")?;
    /// assert_eq!(tx.get("k")?, Some(Value::String("v".into())));
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// [`Error::WrongType`](crate::Error::WrongType) if the key holds a collection; as [`crate::Db::get`].
    pub fn get(&self, key: impl AsRef<[u8]>) -> Result<Option<Value>> {
        Read::get(self, key)
    }

    /// The type of the value at `key`, seeing this transaction's writes (Redis `TYPE`);
    /// [`Read::value_type`](crate::Read::value_type).
    ///
    /// # Errors
    /// As [`Read::value_type`](crate::Read::value_type).
    ///
    /// # Examples
    ///
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// # let db = ziggydb::Db::open(dir.path().join("db"))?;
    /// use ziggydb::ValueType;
    /// db.transaction(|tx| {
    ///     tx.zset(b"z").add(Default::default(), &[(1.0, "m")])?;
    ///     assert_eq!(tx.value_type(b"z")?, Some(ValueType::ZSet)); // sees its own write
    ///     Ok(())
    /// })?;
    /// # Ok::<(), ziggydb::Error>(())
    /// ```
    pub fn value_type(&self, key: impl AsRef<[u8]>) -> Result<Option<ValueType>> {
        Read::value_type(self, key)
    }

    /// The expiry time (Unix ms) of `key`, seeing this transaction's writes; `None` if the key
    /// is absent or does not expire; [`Read::expiry`](crate::Read::expiry).
    ///
    /// # Errors
    /// As [`crate::Db::get`].
    ///
    /// # Examples
    ///
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// # let db = ziggydb::Db::open(dir.path().join("db"))?;
    /// db.transaction(|tx| {
    ///     tx.set_with_expiry(b"k", "v", Some(4_000_000_000_000))?;
    ///     assert_eq!(tx.expiry(b"k")?, Some(4_000_000_000_000));
    ///     Ok(())
    /// })?;
    /// # Ok::<(), ziggydb::Error>(())
    /// ```
    pub fn expiry(&self, key: impl AsRef<[u8]>) -> Result<Option<u64>> {
        Read::expiry(self, key)
    }

    /// Whether `key` exists, of any type, seeing this transaction's writes; [`Read::exists`](crate::Read::exists).
    ///
    /// # Errors
    /// As [`crate::Db::get`].
    ///
    /// # Examples
    ///
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// # let db = ziggydb::Db::open(dir.path().join("db"))?;
    /// db.transaction(|tx| {
    ///     assert!(!tx.exists(b"k")?);
    ///     tx.set(b"k", "v")?;
    ///     assert!(tx.exists(b"k")?); // its own pending write
    ///     Ok(())
    /// })?;
    /// # Ok::<(), ziggydb::Error>(())
    /// ```
    pub fn exists(&self, key: impl AsRef<[u8]>) -> Result<bool> {
        Read::exists(self, key)
    }
}
