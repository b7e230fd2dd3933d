//! Integration tests for ZiggyDB, in one binary with one module per area.
//!
//! Tests that need several processes re-run this binary as a child process: each child entry
//! point is a `#[test]` that returns at once unless it was started for its role (see
//! [`util::Child`]).

// `u32::is_multiple_of` is newer than the crate's minimum Rust version.
#![allow(clippy::manual_is_multiple_of)]
// Keys are `impl AsRef<[u8]>`: callers written when they were `&[u8]` pass `&Vec<u8>`.
#![allow(clippy::needless_borrows_for_generic_args)]

mod api;
mod attach;
mod backup;
mod basic;
mod bigtxn;
mod bits;
mod blocking;
mod cli;
mod client;
mod clitools;
mod cold_open;
mod collections;
mod compaction;
mod corruption;
mod crash;
mod databases;
mod differential;
mod dirs;
mod docs;
mod export;
mod faults;
mod files;
mod fullfs;
mod hostile;
mod info;
mod keys;
mod keyspace;
mod layers;
mod limits;
mod linearizable;
mod locking;
mod maintenance_faults;
mod memory;
mod messages;
mod model;
mod multiprocess;
mod powerloss;
mod powerloss_multi;
mod proptest_cmds;
mod pubsub;
mod random;
mod readonly;
mod readpath;
mod readview;
mod repair;
mod session;
mod size;
mod stickyfaults;
mod stops;
mod stress;
mod strings;
mod ttl;
mod txn;
mod util;
mod versions;
