//! Whole-database tools that walk every layer below them: `CHECK` (an audit of the index,
//! the log and every collection), repair of a damaged directory, and export and import.

pub(crate) mod check;
pub(crate) mod dump;
pub(crate) mod repair;
