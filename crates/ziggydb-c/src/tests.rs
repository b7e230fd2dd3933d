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

/// The reply kinds no command gives today (a RESP3 front end will): each reads through the
/// accessors as the header says.
#[test]
fn every_reply_kind_reads_through_the_accessors() {
    use zdb::commands::Reply;
    let reply = Reply::Array(vec![
        Reply::Double(1.5),
        Reply::Boolean(true),
        Reply::Map(vec![(Reply::bulk("k"), Reply::Int(7))]),
        Reply::Set(vec![Reply::bulk("m")]),
        Reply::Verbatim {
            format: *b"txt",
            text: b"some text".to_vec(),
        },
        Reply::NilArray,
        Reply::Status("OK".into()),
        Reply::error("ERR no"),
    ]);
    let root = Box::into_raw(Box::new(ziggy_reply::from(reply)));
    // SAFETY: `root` is a live reply until ziggy_reply_free at the end; every element read
    // belongs to it.
    unsafe {
        let el = |i| ziggy_reply_element(root, i);
        let str_of = |r| {
            let mut len = 0;
            let p = ziggy_reply_str(r, &mut len);
            std::slice::from_raw_parts(p.cast::<u8>(), len).to_vec()
        };
        assert_eq!(ziggy_reply_type(root), ZIGGY_REPLY_ARRAY);
        assert_eq!(ziggy_reply_len(root), 8);
        assert_eq!(ziggy_reply_type(el(0)), ZIGGY_REPLY_DOUBLE);
        assert_eq!(ziggy_reply_double(el(0)), 1.5);
        assert_eq!(str_of(el(0)), b"1.5");
        assert_eq!(ziggy_reply_type(el(1)), ZIGGY_REPLY_BOOL);
        assert_eq!(ziggy_reply_integer(el(1)), 1);
        assert_eq!(ziggy_reply_type(el(2)), ZIGGY_REPLY_MAP);
        assert_eq!(ziggy_reply_len(el(2)), 2);
        assert_eq!(str_of(ziggy_reply_element(el(2), 0)), b"k");
        assert_eq!(ziggy_reply_integer(ziggy_reply_element(el(2), 1)), 7);
        assert_eq!(ziggy_reply_type(el(3)), ZIGGY_REPLY_SET);
        assert_eq!(str_of(ziggy_reply_element(el(3), 0)), b"m");
        assert_eq!(ziggy_reply_type(el(4)), ZIGGY_REPLY_VERBATIM);
        assert_eq!(str_of(el(4)), b"some text");
        assert_eq!(ziggy_reply_type(el(5)), ZIGGY_REPLY_NIL);
        assert_eq!(ziggy_reply_type(el(6)), ZIGGY_REPLY_STATUS);
        assert_eq!(str_of(el(6)), b"OK");
        assert_eq!(ziggy_reply_type(el(7)), ZIGGY_REPLY_ERROR);
        assert!(el(8).is_null());
        for kind in [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 14] {
            assert_ne!(text(ziggy_reply_type_name(kind)), "UNKNOWN", "{kind}");
        }
        ziggy_reply_free(root);
    }
}
