//! The on-disk and shared-memory formats, as `format-spec.md` describes them: log records and
//! segment files, the `MANIFEST`, the hash index file, the `ziggy.shm` words, typed values and
//! collection pages. Encoding, decoding and validation only; the engine above decides when.

pub(crate) mod index;
pub(crate) mod manifest;
pub(crate) mod pubsub;
pub(crate) mod record;
pub(crate) mod segment;
pub(crate) mod shm;
pub(crate) mod tree;
pub(crate) mod value;
