//! Collections — list, set, sorted set, hash — stored as a metadata record under the user
//! key plus counted B+trees whose nodes are records in the internal namespace
//! (format-spec.md §4.4; the storage is `crate::db::pages`). One push, add or remove rewrites
//! O(log n) small nodes; deleting a collection hands its pages to a reclaimer that frees a
//! bounded number per commit.

mod hash;
mod list;
mod set;
mod zset;

pub use hash::{Hash, HashView};
pub use list::{List, ListView};
pub(crate) use set::combine;
pub use set::{Set, SetOp, SetView};
pub(crate) use zset::stored_score;
pub use zset::{LexBound, ScoreBound, SortedSet, SortedSetView, ZAddFlags};

/// Normalises Redis `start`/`stop` indexes (negative from the end) over `len` items into
/// a start and a count.
pub(crate) fn index_range(start: i64, stop: i64, len: u64) -> (u64, u64) {
    let len_i = len as i64;
    // As Redis: negative indexes count from the end; only the start is clamped to 0, so an
    // end before the first item gives nothing.
    let s = if start < 0 {
        (len_i + start).max(0)
    } else {
        start
    };
    let e = if stop < 0 { len_i + stop } else { stop }.min(len_i - 1);
    if e < 0 || s > e || s >= len_i {
        return (0, 0);
    }
    (s as u64, (e - s + 1) as u64)
}

#[cfg(test)]
mod tests;
