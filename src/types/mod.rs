//! Redis-style operations on top of the key-value engine, one module per family of commands:
//! strings, counters and JSON documents (`strings`), generic key commands (`keys`) and
//! expiry (`ttl`).
//!
//! Each module adds `impl Db` and `impl WriteTxn` blocks. A read exists on both: on [`Db`] it
//! reads the committed state, on [`WriteTxn`] it sees the transaction's own writes. A write
//! exists on [`WriteTxn`], so that every command composes into one atomic transaction; run
//! one on its own with [`Db::transaction`]. The crate documentation (Keys, values and
//! collections) shows them in use.

pub(crate) mod bits;
pub(crate) mod blocking;
pub(crate) mod collections;
pub(crate) mod dump;
mod keys;
pub(crate) mod pubsub;
pub(crate) mod read;
mod strings;
mod ttl;

pub use bits::{
    BitOp, BitUnit, BitfieldOp, BitfieldType, LcsMatch, LcsMatches, Overflow, HLL_SIZE,
    MAX_BIT_OFFSET, MAX_LCS_TABLE,
};
pub use keys::{glob_match, ScanPage};
pub use pubsub::{Message, Subscriber, MAX_CHANNEL_NAME, MAX_MESSAGE};
pub(crate) use strings::{byte_range, json_get};
pub use strings::{SetCommand, SetOutcome, MAX_STRING_LEN};
