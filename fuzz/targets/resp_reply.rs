//! The reply encoder and decoder (`Reply::encode` in RESP2 and RESP3,
//! `ziggydb::commands::decode_reply`) on any bytes. Decoding never panics; a reply it decodes
//! took no more bytes than it was given; encoded in RESP3 it decodes to the same reply (with
//! RESP3's one null, and CR/LF in error text as spaces); encoded in RESP2 it decodes.
use ziggydb::commands::{decode_reply, Protocol, Reply};

/// `reply` as it comes back from RESP3: both nulls are `_`, a line has no CR or LF, and a
/// NaN is the NaN `nan` decodes to.
fn resp3_view(reply: &Reply) -> Reply {
    let line = |s: &str| s.replace(['\r', '\n'], " ");
    match reply {
        Reply::NilArray => Reply::Nil,
        Reply::Status(s) => Reply::Status(line(s)),
        Reply::Error(s) => Reply::Error(line(s)),
        Reply::Double(d) if d.is_nan() => Reply::Double(f64::NAN),
        Reply::Array(items) => Reply::Array(items.iter().map(resp3_view).collect()),
        Reply::Set(items) => Reply::Set(items.iter().map(resp3_view).collect()),
        Reply::Push(items) => Reply::Push(items.iter().map(resp3_view).collect()),
        Reply::Map(pairs) => Reply::Map(
            pairs
                .iter()
                .map(|(k, v)| (resp3_view(k), resp3_view(v)))
                .collect(),
        ),
        other => other.clone(),
    }
}

pub fn fuzz(data: &[u8]) {
    let Ok(Some((reply, used))) = decode_reply(data) else {
        return;
    };
    assert!(
        used > 0 && used <= data.len(),
        "took {used} of {} bytes",
        data.len()
    );
    let mut out = Vec::new();
    reply.encode(Protocol::Resp3, &mut out);
    let back = decode_reply(&out);
    assert_eq!(
        back,
        Ok(Some((resp3_view(&reply), out.len()))),
        "{reply:?} encoded as {:?}",
        String::from_utf8_lossy(&out)
    );
    let mut out = Vec::new();
    reply.encode(Protocol::Resp2, &mut out);
    assert!(
        matches!(decode_reply(&out), Ok(Some((_, n))) if n == out.len()),
        "{reply:?} in RESP2: {:?}",
        String::from_utf8_lossy(&out)
    );
}
