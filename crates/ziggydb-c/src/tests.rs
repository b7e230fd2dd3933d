//! Unit tests of the boundary itself: panics, codes and names, the guard's messages.

use std::ffi::CStr;

use super::*;

fn text(p: *const c_char) -> String {
    // SAFETY: the library returns NUL-terminated strings that outlive this call.
    unsafe { CStr::from_ptr(p) }.to_string_lossy().into_owned()
}

#[test]
fn a_panic_is_an_internal_error_not_an_unwind() {
    assert_eq!(ziggy_test_panic(), ZIGGY_EINTERNAL);
    let msg = text(ziggy_errmsg());
    assert!(msg.contains("ziggy_test_panic was called"), "{msg}");
    // The thread goes on working, and a later failure replaces the message.
    assert_eq!(text(ziggy_errname(ZIGGY_EINTERNAL)), "EINTERNAL");
    // SAFETY: NULL is allowed for every pointer of ziggy_open.
    assert_eq!(
        unsafe { ziggy_open(std::ptr::null(), std::ptr::null(), std::ptr::null_mut()) },
        ZIGGY_INVALID_ARGUMENT
    );
    assert_eq!(text(ziggy_errmsg()), "out is NULL");
}

#[test]
fn every_library_error_code_has_its_name() {
    for code in zdb::ErrorCode::ALL {
        assert_eq!(text(ziggy_errname(code.code())), code.name(), "{code:?}");
    }
    assert_eq!(text(ziggy_errname(ZIGGY_OK)), "OK");
    assert_eq!(text(ziggy_errname(ZIGGY_NOTFOUND)), "NOTFOUND");
    assert_eq!(text(ziggy_errname(12345)), "UNKNOWN");
}

#[test]
fn a_message_with_a_nul_byte_keeps_its_text() {
    set_message("before\0after");
    assert_eq!(text(ziggy_errmsg()), "before\\0after");
}
