//! Redis-style operations on top of the key-value engine, one module per family of commands:
//! strings, counters and JSON documents (`strings`), generic key commands (`keys`) and
//! expiry (`ttl`).
//!
//! Each module adds `impl Db` and `impl WriteTxn` blocks. A read exists on both: on [`Db`] it
//! reads the committed state, on [`WriteTxn`] it sees the transaction's own writes. A write
//! exists on [`WriteTxn`], so that every command composes into one atomic transaction; run
//! one on its own with [`Db::transaction`]:
//!
//! ```
//! # fn main() -> ziggydb::Result<()> {
//! # let dir = tempfile::tempdir().unwrap();
//! let db = ziggydb::Db::open(dir.path().join("data"))?;
//! let len = db.transaction(|tx| tx.append(b"log", b"started;"))?; // APPEND
//! assert_eq!(len, 8);
//! assert_eq!(db.strlen(b"log")?, 8); // STRLEN
//! # Ok(()) }
//! ```

use crate::db::Db;
use crate::error::{Error, Result};
use crate::value::{Value, ValueType};

mod keys;
mod strings;
mod ttl;

pub use keys::{glob_match, ScanPage};
pub use strings::{SetCommand, SetOutcome, MAX_STRING_LEN};

/// The stored type and expiry (Unix ms, 0 = none) of `key` in the committed state, read in
/// one lookup; `None` if the key is absent or expired. Reads no payload, so it works for a
/// key of any type.
pub(crate) fn committed_meta(db: &Db, key: &[u8]) -> Result<Option<(ValueType, u64)>> {
    let Some(hit) = db.inner.lookup(key)? else {
        return Ok(None);
    };
    let ty = ValueType::from_tag(hit.meta.vtype).ok_or_else(|| {
        Error::InvalidArgument(format!(
            "key holds a value of unknown type tag {}",
            hit.meta.vtype
        ))
    })?;
    Ok(Some((ty, hit.meta.expires_at)))
}

/// The scalar at `key` and its expiry (Unix ms, 0 = none) in the committed state, read in one
/// lookup, so the two always belong together.
///
/// # Errors
/// [`Error::WrongType`] for a collection; as [`Db::get`].
pub(crate) fn committed_value(db: &Db, key: &[u8]) -> Result<Option<(Value, u64)>> {
    let Some(hit) = db.inner.lookup(key)? else {
        return Ok(None);
    };
    Ok(Some((crate::txn::decode_hit(&hit)?, hit.meta.expires_at)))
}
