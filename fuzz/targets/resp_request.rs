//! The request decoder (`ziggydb::commands::decode_request`: inline and multibulk, as a
//! server reads a client) on any bytes, whole and in two pieces. It never panics; a request
//! it decodes took no more bytes than it was given, decodes the same from any longer input,
//! and its argv encoded back as multibulk decodes to the same argv; a prefix of the bytes a
//! request took needs more bytes (or, for inline, is an error no sooner than the whole).
use ziggydb::commands::decode_request;

fn multibulk(args: &[Vec<u8>]) -> Vec<u8> {
    let mut out = format!("*{}\r\n", args.len()).into_bytes();
    for arg in args {
        out.extend_from_slice(format!("${}\r\n", arg.len()).as_bytes());
        out.extend_from_slice(arg);
        out.extend_from_slice(b"\r\n");
    }
    out
}

pub fn fuzz(data: &[u8]) {
    let Ok(Some((args, used))) = decode_request(data) else {
        return;
    };
    assert!(
        used > 0 && used <= data.len(),
        "took {used} of {} bytes",
        data.len()
    );
    let again = multibulk(&args);
    assert_eq!(
        decode_request(&again),
        Ok(Some((args.clone(), again.len()))),
        "re-encoded: {again:?}"
    );
    let mut longer = data[..used].to_vec();
    longer.extend_from_slice(b"*1\r\n$4\r\nPING\r\n");
    assert_eq!(decode_request(&longer), Ok(Some((args, used))));
    // Cut short anywhere, a multibulk request needs more bytes.
    if data[0] == b'*' {
        let cut = used / 2;
        assert_eq!(decode_request(&data[..cut]), Ok(None), "cut at {cut}");
    }
}
