//! The Redis protocol: a [`Reply`] encoded as RESP2 or RESP3, a request (a command's argv)
//! decoded from the bytes a client sent, inline or multibulk, and a reply decoded from the
//! bytes a server sent.
//!
//! Decoding is incremental and bounded: given the bytes received so far, it returns a whole
//! request and how many bytes it took, or `Ok(None)` when more bytes are needed, or a
//! [`ProtocolError`] with the text Redis replies before it closes the connection. A length
//! read from the input is never allocated ahead: a bulk string is copied only once all its
//! bytes have arrived, and an array grows as its elements do.

use std::fmt;

use crate::commands::reply::{Reply, ReplySink};
use crate::commands::split::{split_in_place, SplitError};

/// The protocol version a connection speaks (`HELLO 2` or `HELLO 3`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    /// RESP2: what every Redis client speaks.
    Resp2,
    /// RESP3: doubles, booleans, maps, sets, verbatim strings and one null.
    Resp3,
}

/// Longest inline request, and longest count line, Redis accepts (`PROTO_INLINE_MAX_SIZE`).
pub const MAX_INLINE_LEN: usize = 64 * 1024;
/// Most elements a multibulk request may declare, as Redis (`INT_MAX`). Nothing is
/// allocated for them ahead: the argv grows as its elements arrive.
pub const MAX_MULTIBULK_LEN: i64 = i32::MAX as i64;
/// Longest bulk string a request may declare (Redis's default `proto-max-bulk-len`).
pub const MAX_BULK_LEN: i64 = 512 * 1024 * 1024;
/// Longest line (status, error, number) [`decode_reply`] waits for.
const MAX_REPLY_LINE: usize = 512 * 1024 * 1024;
/// Deepest nesting of aggregates [`decode_reply`] follows.
pub const MAX_REPLY_DEPTH: usize = 128;

/// Why bytes are not a request (or a reply): Redis's text for it, after `ERR `.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProtocolError(String);

impl ProtocolError {
    fn new(text: impl Into<String>) -> Self {
        ProtocolError(text.into())
    }

    /// The error reply a server sends before it closes the connection.
    pub fn reply(&self) -> Reply {
        Reply::error(format!("ERR {}", self.0))
    }
}

impl fmt::Display for ProtocolError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ProtocolError {}

/// A decoded request: the argv and the number of bytes it took from the input.
pub type Request = (Vec<Vec<u8>>, usize);

/// Decodes the request at the start of `buf`: a multibulk request (`*2\r\n$3\r\nGET\r\n...`)
/// if `buf` starts with `*`, otherwise an inline one (a line split as redis-cli splits it).
/// An empty argv (a blank line, `*0`) is a request with nothing to run: skip it.
///
/// # Errors
/// A [`ProtocolError`], as Redis gives it: the connection cannot go on.
pub fn decode_request(buf: &[u8]) -> Result<Option<Request>, ProtocolError> {
    match buf.first() {
        None => Ok(None),
        Some(b'*') => decode_multibulk(buf),
        Some(_) => decode_inline(buf),
    }
}

fn decode_inline(buf: &[u8]) -> Result<Option<Request>, ProtocolError> {
    let Some(end) = buf.iter().position(|&b| b == b'\n') else {
        if buf.len() > MAX_INLINE_LEN {
            return Err(ProtocolError::new("Protocol error: too big inline request"));
        }
        return Ok(None);
    };
    let mut line = buf[..end].to_vec();
    if line.last() == Some(&b'\r') {
        line.pop();
    }
    let ranges = split_in_place(&mut line).map_err(|e| match e {
        SplitError::OutOfMemory { .. } => ProtocolError::new(e.to_string()),
        _ => ProtocolError::new("Protocol error: unbalanced quotes in request"),
    })?;
    let args = ranges
        .into_iter()
        .map(|(start, end)| line[start..end].to_vec())
        .collect();
    Ok(Some((args, end + 1)))
}

/// The line at `buf[pos..]` up to its `\r`, and where the next line starts; `None` until the
/// byte after the `\r` has arrived (as Redis, the `\n` is not checked).
fn line_at(buf: &[u8], pos: usize) -> Option<(&[u8], usize)> {
    let rest = buf.get(pos..)?;
    let cr = rest.iter().position(|&b| b == b'\r')?;
    (cr + 1 < rest.len()).then(|| (&rest[..cr], pos + cr + 2))
}

/// Redis's `string2ll`: an optional `-`, digits, no leading zero, no `+`, no spaces, in range.
fn parse_ll(text: &[u8]) -> Option<i64> {
    let (negative, digits) = match text {
        [b'-', rest @ ..] => (true, rest),
        _ => (false, text),
    };
    if digits.is_empty()
        || !digits.iter().all(u8::is_ascii_digit)
        || (digits.len() > 1 && digits[0] == b'0')
        || (negative && digits == b"0")
    {
        return None;
    }
    let mut n: i64 = 0;
    for &d in digits {
        let d = i64::from(d - b'0');
        n = n.checked_mul(10).and_then(|n| {
            if negative {
                n.checked_sub(d)
            } else {
                n.checked_add(d)
            }
        })?;
    }
    Some(n)
}

fn decode_multibulk(buf: &[u8]) -> Result<Option<Request>, ProtocolError> {
    let Some((count, mut pos)) = line_at(buf, 1) else {
        if buf.len() > MAX_INLINE_LEN {
            return Err(ProtocolError::new(
                "Protocol error: too big mbulk count string",
            ));
        }
        return Ok(None);
    };
    let count = match parse_ll(count) {
        Some(n) if n <= MAX_MULTIBULK_LEN => n,
        _ => {
            return Err(ProtocolError::new(
                "Protocol error: invalid multibulk length",
            ))
        }
    };
    let count = usize::try_from(count).unwrap_or(0);
    // Grows with the elements that have arrived, whatever the count says.
    let mut args = Vec::with_capacity(count.min(64));
    for _ in 0..count {
        match buf.get(pos) {
            None => return Ok(None),
            Some(b'$') => {}
            Some(&other) => {
                return Err(ProtocolError::new(format!(
                    "Protocol error: expected '$', got '{}'",
                    char::from(other)
                )))
            }
        }
        let Some((len, start)) = line_at(buf, pos + 1) else {
            if buf.len() - pos > MAX_INLINE_LEN {
                return Err(ProtocolError::new(
                    "Protocol error: too big bulk count string",
                ));
            }
            return Ok(None);
        };
        let len = match parse_ll(len) {
            Some(n) if (0..=MAX_BULK_LEN).contains(&n) => n,
            _ => return Err(ProtocolError::new("Protocol error: invalid bulk length")),
        };
        let len = usize::try_from(len)
            .map_err(|_| ProtocolError::new("Protocol error: invalid bulk length"))?;
        // The bytes and the CRLF after them (not checked, as Redis does not).
        let Some(arg) = buf.get(start..start + len) else {
            return Ok(None);
        };
        if buf.len() < start + len + 2 {
            return Ok(None);
        }
        args.push(arg.to_vec());
        pos = start + len + 2;
    }
    Ok(Some((args, pos)))
}

impl Reply {
    /// Appends the reply encoded in `protocol`. In RESP2, as Redis downgrades a RESP3 reply:
    /// a map is a flat array of its keys and values, a set an array, a double a bulk string,
    /// a boolean the integer 1 or 0, a verbatim string a bulk string of its text; a null is
    /// `$-1` (a [`Reply::NilArray`]: `*-1`). In RESP3 both nulls are `_`. A status or error
    /// text has any CR or LF replaced by a space, as Redis does, so it stays one line.
    pub fn encode(&self, protocol: Protocol, out: &mut Vec<u8>) {
        let resp3 = protocol == Protocol::Resp3;
        match self {
            Reply::Status(s) => line(out, b'+', s.as_bytes()),
            Reply::Error(s) => line(out, b'-', s.as_bytes()),
            Reply::Int(n) => header(out, b':', *n),
            Reply::Bulk(_) | Reply::Mapped(_) => bulk(out, self.bulk_bytes().unwrap_or_default()),
            Reply::Nil if resp3 => out.extend_from_slice(b"_\r\n"),
            Reply::NilArray if resp3 => out.extend_from_slice(b"_\r\n"),
            Reply::Nil => out.extend_from_slice(b"$-1\r\n"),
            Reply::NilArray => out.extend_from_slice(b"*-1\r\n"),
            Reply::Array(items) => aggregate(out, b'*', items, protocol),
            Reply::Set(items) => aggregate(out, if resp3 { b'~' } else { b'*' }, items, protocol),
            Reply::Push(items) => aggregate(out, if resp3 { b'>' } else { b'*' }, items, protocol),
            Reply::Map(pairs) => {
                if resp3 {
                    header(out, b'%', len_i64(pairs.len()));
                } else {
                    header(out, b'*', len_i64(pairs.len()).saturating_mul(2));
                }
                for (k, v) in pairs {
                    k.encode(protocol, out);
                    v.encode(protocol, out);
                }
            }
            Reply::Double(d) => {
                let text = double_text(*d);
                if resp3 {
                    line(out, b',', text.as_bytes());
                } else {
                    bulk(out, text.as_bytes());
                }
            }
            Reply::Boolean(b) if resp3 => {
                out.extend_from_slice(if *b { b"#t\r\n" } else { b"#f\r\n" })
            }
            Reply::Boolean(b) => header(out, b':', i64::from(*b)),
            Reply::Verbatim { format, text } => {
                if resp3 {
                    header(out, b'=', len_i64(text.len() + 4));
                    out.extend_from_slice(format);
                    out.push(b':');
                    out.extend_from_slice(text);
                    out.extend_from_slice(b"\r\n");
                } else {
                    bulk(out, text);
                }
            }
        }
    }
}

/// A double as RESP3 (and Redis's RESP2 bulk string) writes it: `inf`, `-inf`, `nan`, or
/// the shortest text that reads back as the same double, as
/// [`format_score`](crate::commands::format_score) writes it.
pub fn double_text(d: f64) -> String {
    crate::commands::format_score(d)
}

fn len_i64(n: usize) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

fn header(out: &mut Vec<u8>, kind: u8, n: i64) {
    out.push(kind);
    out.extend_from_slice(n.to_string().as_bytes());
    out.extend_from_slice(b"\r\n");
}

fn line(out: &mut Vec<u8>, kind: u8, text: &[u8]) {
    out.push(kind);
    out.extend(
        text.iter()
            .map(|&b| if b == b'\r' || b == b'\n' { b' ' } else { b }),
    );
    out.extend_from_slice(b"\r\n");
}

fn bulk(out: &mut Vec<u8>, bytes: &[u8]) {
    header(out, b'$', len_i64(bytes.len()));
    out.extend_from_slice(bytes);
    out.extend_from_slice(b"\r\n");
}

fn aggregate(out: &mut Vec<u8>, kind: u8, items: &[Reply], protocol: Protocol) {
    header(out, kind, len_i64(items.len()));
    for item in items {
        item.encode(protocol, out);
    }
}

/// Decodes the reply at the start of `buf` (RESP2 or RESP3, as a server sent it) and the
/// number of bytes it took; `Ok(None)` until all of it has arrived. A null of any form is
/// [`Reply::Nil`], but `*-1` is [`Reply::NilArray`]; a blob error (`!`) is an error.
///
/// # Errors
/// A [`ProtocolError`] for bytes that are no reply, or nested deeper than
/// [`MAX_REPLY_DEPTH`].
pub fn decode_reply(buf: &[u8]) -> Result<Option<(Reply, usize)>, ProtocolError> {
    reply_at(buf, 0, 0)
}

fn bad(what: &str) -> ProtocolError {
    ProtocolError::new(format!("Protocol error: {what}"))
}

fn reply_at(buf: &[u8], pos: usize, depth: usize) -> Result<Option<(Reply, usize)>, ProtocolError> {
    if depth > MAX_REPLY_DEPTH {
        return Err(bad("reply nested too deep"));
    }
    let Some(&kind) = buf.get(pos) else {
        return Ok(None);
    };
    let Some((text, next)) = line_at(buf, pos + 1) else {
        if buf.len() - pos > MAX_REPLY_LINE {
            return Err(bad("reply line too long"));
        }
        return Ok(None);
    };
    let number = || parse_ll(text).ok_or_else(|| bad("invalid length or integer"));
    let utf8 = || {
        std::str::from_utf8(text)
            .map(str::to_owned)
            .map_err(|_| bad("status or error text is not UTF-8"))
    };
    Ok(Some(match kind {
        b'+' => (Reply::Status(utf8()?), next),
        b'-' => (Reply::Error(utf8()?), next),
        b':' => (Reply::Int(number()?), next),
        b'_' if text.is_empty() => (Reply::Nil, next),
        b'#' => match text {
            b"t" => (Reply::Boolean(true), next),
            b"f" => (Reply::Boolean(false), next),
            _ => return Err(bad("invalid boolean")),
        },
        b',' => {
            let text = std::str::from_utf8(text).map_err(|_| bad("invalid double"))?;
            let d = match text {
                "inf" => f64::INFINITY,
                "-inf" => f64::NEG_INFINITY,
                "nan" => f64::NAN,
                _ => text.parse::<f64>().map_err(|_| bad("invalid double"))?,
            };
            (Reply::Double(d), next)
        }
        b'$' | b'=' | b'!' => {
            let n = number()?;
            if n == -1 && kind == b'$' {
                return Ok(Some((Reply::Nil, next)));
            }
            let n = usize::try_from(n).map_err(|_| bad("invalid bulk length"))?;
            let Some(bytes) = buf.get(next..next.saturating_add(n)) else {
                return Ok(None);
            };
            if buf.len() < next + n + 2 {
                return Ok(None);
            }
            if &buf[next + n..next + n + 2] != b"\r\n" {
                return Err(bad("bulk string not followed by CRLF"));
            }
            let reply = match kind {
                b'$' => Reply::Bulk(bytes.to_vec()),
                b'!' => Reply::Error(
                    String::from_utf8(bytes.to_vec())
                        .map_err(|_| bad("error text is not UTF-8"))?,
                ),
                _ => match bytes {
                    [a, b, c, b':', text @ ..] => Reply::Verbatim {
                        format: [*a, *b, *c],
                        text: text.to_vec(),
                    },
                    _ => return Err(bad("verbatim string without its format")),
                },
            };
            (reply, next + n + 2)
        }
        b'*' | b'~' | b'%' | b'>' => {
            let n = number()?;
            if n == -1 && kind == b'*' {
                return Ok(Some((Reply::NilArray, next)));
            }
            let n = usize::try_from(n).map_err(|_| bad("invalid aggregate length"))?;
            let elements = if kind == b'%' { n.saturating_mul(2) } else { n };
            let mut items = Vec::with_capacity(elements.min(64));
            let mut pos = next;
            for _ in 0..elements {
                let Some((item, after)) = reply_at(buf, pos, depth + 1)? else {
                    return Ok(None);
                };
                items.push(item);
                pos = after;
            }
            let reply = match kind {
                b'*' => Reply::Array(items),
                b'~' => Reply::Set(items),
                b'>' => Reply::Push(items),
                _ => {
                    let mut pairs = Vec::with_capacity(n.min(64));
                    let mut items = items.into_iter();
                    while let (Some(k), Some(v)) = (items.next(), items.next()) {
                        pairs.push((k, v));
                    }
                    Reply::Map(pairs)
                }
            };
            (reply, pos)
        }
        other => {
            return Err(bad(&format!(
                "unknown reply type '{}'",
                char::from(other).escape_default()
            )))
        }
    }))
}

/// A [`ReplySink`] that encodes what it is handed in a protocol and writes it to a
/// connection (any [`std::io::Write`]) every 64 KiB: a server's way to send a reply streamed
/// by [`Session::execute_to`](crate::commands::Session::execute_to) (`MGET` of a million
/// keys) without building it or its encoding whole. The bytes are those of
/// [`Reply::encode`] of the whole reply. The first write error is kept, nothing more is
/// written after it, and [`RespWriter::finish`] returns it.
///
/// # Examples
///
/// ```
/// use ziggydb::commands::{Policy, Protocol, RespWriter, Session};
/// # let dir = tempfile::tempdir().unwrap();
/// # let db = ziggydb::Db::open(dir.path().join("db"))?;
/// db.set(b"a", "1")?;
/// let mut session = Session::new(&db, Policy::default());
/// let mut conn = Vec::new();
/// let mut writer = RespWriter::new(Protocol::Resp2, &mut conn);
/// session.execute_to(&[b"MGET", b"a", b"b"], &mut writer);
/// writer.finish()?;
/// assert_eq!(conn, b"*2\r\n$1\r\n1\r\n$-1\r\n");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct RespWriter<W: std::io::Write> {
    protocol: Protocol,
    buf: Vec<u8>,
    to: W,
    failed: Option<std::io::Error>,
}

impl<W: std::io::Write> RespWriter<W> {
    /// A writer encoding in `protocol` to `to`.
    pub fn new(protocol: Protocol, to: W) -> Self {
        RespWriter {
            protocol,
            buf: Vec::new(),
            to,
            failed: None,
        }
    }

    /// Writes what is left and hands back the writer.
    ///
    /// # Errors
    /// The first error writing to the connection.
    pub fn finish(mut self) -> std::io::Result<W> {
        self.write_out();
        match self.failed.take() {
            Some(e) => Err(e),
            None => Ok(self.to),
        }
    }

    fn write_out(&mut self) {
        if self.failed.is_none() {
            if let Err(e) = self.to.write_all(&self.buf) {
                self.failed = Some(e);
            }
        }
        self.buf.clear();
    }

    fn written(&mut self) {
        if self.buf.len() >= 64 << 10 {
            self.write_out();
        }
    }
}

impl<W: std::io::Write> ReplySink for RespWriter<W> {
    fn reply(&mut self, reply: Reply) {
        reply.encode(self.protocol, &mut self.buf);
        self.written();
    }
    fn array(&mut self, len: usize) {
        header(&mut self.buf, b'*', len_i64(len));
    }
    fn element(&mut self, item: Reply) {
        item.encode(self.protocol, &mut self.buf);
        self.written();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(bytes: &[u8]) -> Result<Option<Request>, ProtocolError> {
        decode_request(bytes)
    }

    fn argv(items: &[&str]) -> Vec<Vec<u8>> {
        items.iter().map(|s| s.as_bytes().to_vec()).collect()
    }

    fn error(text: &str) -> Result<Option<Request>, ProtocolError> {
        Err(ProtocolError::new(text))
    }

    #[test]
    fn multibulk_requests_decode_and_say_how_much_they_took() {
        let bytes = b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$5\r\na\r\nb\0\r\n*1\r\n$4\r\nPING\r\n";
        let (args, used) = request(bytes).unwrap().unwrap();
        assert_eq!(
            args,
            vec![b"SET".to_vec(), b"k".to_vec(), b"a\r\nb\0".to_vec()]
        );
        assert_eq!(request(&bytes[used..]), Ok(Some((argv(&["PING"]), 14))));
        assert_eq!(request(b"*0\r\n"), Ok(Some((vec![], 4))));
        assert_eq!(request(b"*-1\r\n"), Ok(Some((vec![], 5))));
        assert_eq!(request(b"*1\r\n$0\r\n\r\n"), Ok(Some((vec![vec![]], 10))));
        // As Redis, the two bytes after a bulk string are skipped, not checked.
        assert_eq!(
            request(b"*1\r\n$4\r\nPINGxxPING\r\n"),
            Ok(Some((argv(&["PING"]), 14)))
        );
    }

    #[test]
    fn every_prefix_of_a_request_needs_more_bytes() {
        let bytes = b"*2\r\n$4\r\nECHO\r\n$11\r\nhello world\r\n";
        for end in 0..bytes.len() {
            assert_eq!(request(&bytes[..end]), Ok(None), "{end} bytes");
        }
        assert_eq!(
            request(bytes),
            Ok(Some((argv(&["ECHO", "hello world"]), bytes.len())))
        );
        let inline = b"SET k \"a b\"\r\n";
        for end in 0..inline.len() {
            assert_eq!(request(&inline[..end]), Ok(None), "{end} bytes");
        }
    }

    #[test]
    fn inline_requests_split_like_redis() {
        assert_eq!(
            request(b"set k \"a\\x41 b\"\r\nGET k\n"),
            Ok(Some((argv(&["set", "k", "aA b"]), 17)))
        );
        assert_eq!(request(b"GET k\nrest"), Ok(Some((argv(&["GET", "k"]), 6))));
        assert_eq!(request(b"  \r\n"), Ok(Some((vec![], 4))));
        assert_eq!(
            request(b"SET k \"v\r\n"),
            error("Protocol error: unbalanced quotes in request")
        );
        let long = vec![b'a'; MAX_INLINE_LEN + 1];
        assert_eq!(
            request(&long),
            error("Protocol error: too big inline request")
        );
        assert_eq!(request(&long[..MAX_INLINE_LEN]), Ok(None));
    }

    #[test]
    fn malformed_multibulk_gives_redis_errors() {
        let invalid_mbulk = error("Protocol error: invalid multibulk length");
        assert_eq!(request(b"*x\r\n"), invalid_mbulk);
        assert_eq!(request(b"*+1\r\n"), invalid_mbulk);
        assert_eq!(request(b"*01\r\n"), invalid_mbulk);
        assert_eq!(request(b"*\r\n"), invalid_mbulk);
        assert_eq!(request(b"*99999999999999999999\r\n"), invalid_mbulk);
        assert_eq!(request(b"*2147483648\r\n"), invalid_mbulk);
        let invalid_bulk = error("Protocol error: invalid bulk length");
        assert_eq!(request(b"*1\r\n$-1\r\n"), invalid_bulk);
        assert_eq!(request(b"*1\r\n$x\r\n"), invalid_bulk);
        assert_eq!(request(b"*1\r\n$536870913\r\n"), invalid_bulk);
        assert_eq!(
            request(b"*1\r\n:1\r\n"),
            error("Protocol error: expected '$', got ':'")
        );
        let mut long = b"*".to_vec();
        long.resize(MAX_INLINE_LEN + 2, b'1');
        assert_eq!(
            request(&long),
            error("Protocol error: too big mbulk count string")
        );
        let mut long = b"*1\r\n$".to_vec();
        long.resize(MAX_INLINE_LEN + 10, b'1');
        assert_eq!(
            request(&long),
            error("Protocol error: too big bulk count string")
        );
        assert_eq!(
            ProtocolError::new("Protocol error: invalid bulk length").reply(),
            Reply::error("ERR Protocol error: invalid bulk length")
        );
    }

    #[test]
    fn a_huge_declared_length_is_not_allocated_ahead() {
        // 512 MiB declared, 3 bytes sent: more is needed, and nothing of that size exists.
        assert_eq!(request(b"*1\r\n$536870912\r\nabc"), Ok(None));
        assert_eq!(request(b"*2147483647\r\n$1\r\na\r\n"), Ok(None));
        assert_eq!(decode_reply(b"*2147483647\r\n:1\r\n"), Ok(None));
        assert_eq!(decode_reply(b"$2147483647\r\nab"), Ok(None));
    }

    fn encoded(reply: &Reply, protocol: Protocol) -> String {
        let mut out = Vec::new();
        reply.encode(protocol, &mut out);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn resp2_downgrades_resp3_types_as_redis_does() {
        use Protocol::{Resp2, Resp3};
        let map = Reply::Map(vec![
            (Reply::bulk("a"), Reply::Int(1)),
            (Reply::bulk("b"), Reply::Double(1.5)),
        ]);
        assert_eq!(
            encoded(&map, Resp3),
            "%2\r\n$1\r\na\r\n:1\r\n$1\r\nb\r\n,1.5\r\n"
        );
        assert_eq!(
            encoded(&map, Resp2),
            "*4\r\n$1\r\na\r\n:1\r\n$1\r\nb\r\n$3\r\n1.5\r\n"
        );
        let set = Reply::Set(vec![Reply::bulk("x")]);
        assert_eq!(encoded(&set, Resp3), "~1\r\n$1\r\nx\r\n");
        assert_eq!(encoded(&set, Resp2), "*1\r\n$1\r\nx\r\n");
        assert_eq!(encoded(&Reply::Boolean(true), Resp3), "#t\r\n");
        assert_eq!(encoded(&Reply::Boolean(false), Resp2), ":0\r\n");
        assert_eq!(encoded(&Reply::Double(f64::INFINITY), Resp3), ",inf\r\n");
        assert_eq!(
            encoded(&Reply::Double(f64::NEG_INFINITY), Resp2),
            "$4\r\n-inf\r\n"
        );
        assert_eq!(encoded(&Reply::Double(f64::NAN), Resp3), ",nan\r\n");
        assert_eq!(encoded(&Reply::Double(3.0), Resp3), ",3\r\n");
        assert_eq!(encoded(&Reply::Double(-0.0), Resp3), ",-0\r\n");
        assert_eq!(encoded(&Reply::Nil, Resp2), "$-1\r\n");
        assert_eq!(encoded(&Reply::NilArray, Resp2), "*-1\r\n");
        assert_eq!(encoded(&Reply::Nil, Resp3), "_\r\n");
        assert_eq!(encoded(&Reply::NilArray, Resp3), "_\r\n");
        let verbatim = Reply::Verbatim {
            format: *b"txt",
            text: b"Some string".to_vec(),
        };
        assert_eq!(encoded(&verbatim, Resp3), "=15\r\ntxt:Some string\r\n");
        assert_eq!(encoded(&verbatim, Resp2), "$11\r\nSome string\r\n");
        assert_eq!(encoded(&Reply::ok(), Resp2), "+OK\r\n");
        assert_eq!(encoded(&Reply::error("ERR a\r\nb"), Resp3), "-ERR a  b\r\n");
        assert_eq!(encoded(&Reply::Int(-3), Resp3), ":-3\r\n");
        assert_eq!(
            encoded(&Reply::Array(vec![Reply::Nil, Reply::bulk("")]), Resp2),
            "*2\r\n$-1\r\n$0\r\n\r\n"
        );
    }

    #[test]
    fn replies_round_trip_through_both_protocols() {
        let reply = Reply::Array(vec![
            Reply::ok(),
            Reply::error("WRONGTYPE Operation against a key holding the wrong kind of value"),
            Reply::Int(i64::MIN),
            Reply::bulk(b"\r\n\0\xff".to_vec()),
            Reply::Nil,
            Reply::NilArray,
            Reply::Array(vec![]),
            Reply::Map(vec![(Reply::bulk("k"), Reply::Double(-0.25))]),
            Reply::Set(vec![Reply::Int(1)]),
            Reply::Boolean(true),
            Reply::Verbatim {
                format: *b"mkd",
                text: b"# hi".to_vec(),
            },
        ]);
        let mut out = Vec::new();
        reply.encode(Protocol::Resp3, &mut out);
        let (back, used) = decode_reply(&out).unwrap().unwrap();
        assert_eq!(used, out.len());
        // RESP3 has one null.
        let Reply::Array(mut items) = reply.clone() else {
            unreachable!()
        };
        items[5] = Reply::Nil;
        assert_eq!(back, Reply::Array(items));
        for end in 0..out.len() {
            assert_eq!(decode_reply(&out[..end]), Ok(None), "{end} bytes");
        }
        let mut out = Vec::new();
        reply.encode(Protocol::Resp2, &mut out);
        let (back, _) = decode_reply(&out).unwrap().unwrap();
        let Reply::Array(items) = back else {
            panic!("{back:?}")
        };
        assert_eq!(items[5], Reply::NilArray);
        assert_eq!(
            items[7],
            Reply::Array(vec![Reply::bulk("k"), Reply::bulk("-0.25")])
        );
        assert_eq!(items[9], Reply::Int(1));
        assert_eq!(items[10], Reply::bulk("# hi"));
    }

    #[test]
    fn malformed_replies_are_errors_not_panics() {
        for bytes in [
            &b"?x\r\n"[..],
            b":x\r\n",
            b"#x\r\n",
            b",one\r\n",
            b"$1\r\nab\r\n",
            b"=2\r\nab\r\n",
            b"*-2\r\n",
            b"$-2\r\n",
        ] {
            assert!(decode_reply(bytes).is_err(), "{bytes:?}");
        }
        let deep = "*1\r\n".repeat(MAX_REPLY_DEPTH + 2);
        assert!(decode_reply(deep.as_bytes()).is_err());
    }
}
