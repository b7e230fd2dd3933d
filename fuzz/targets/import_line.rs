//! One line of an `EXPORT` file in JSON Lines, as `IMPORT` checks it before writing
//! anything: any bytes are either a valid record or refused with a reason, never a panic.
/// One input.
pub fn fuzz(line: &[u8]) {
    if let Err(reason) = ziggydb::testing::check_import_line(line) {
        assert!(!reason.is_empty());
    }
}
