//! One line of an `EXPORT` file in JSON Lines, as `IMPORT` checks it before writing
//! anything: any bytes are either a valid record or refused with a reason, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|line: &[u8]| {
    if let Err(reason) = ziggydb::testing::check_import_line(line) {
        assert!(!reason.is_empty());
    }
});
