//! How `ziggy` prints a [`Reply`]: raw (stdout not a terminal), the annotated terminal form,
//! JSON and CSV.

use ziggydb::commands::Reply;

/// How replies are printed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// As the bytes are, for scripts (redis-cli's default when stdout is not a terminal).
    Raw,
    /// Annotated and quoted, for people.
    Tty,
    /// One JSON value per reply, on one line (see [`Print::write_json`]).
    Json,
    /// One line of comma-separated values per reply, as `redis-cli --csv` prints.
    Csv,
}

impl Format {
    /// Appends `reply` in this format.
    pub fn write(self, reply: &Reply, out: &mut Vec<u8>) {
        match self {
            Format::Raw => reply.write_raw(out),
            Format::Tty => reply.write_tty(out),
            Format::Json => reply.write_json(out),
            Format::Csv => reply.write_csv(out),
        }
    }
}

impl Format {
    /// Writes `reply` in this format to `to`, as [`Format::write`] appends it, a piece at a
    /// time: the output is handed on every 64 KiB between array elements, so that the
    /// printed form of a reply of a million elements (`MGET`) is never built whole.
    ///
    /// # Errors
    /// If `to` cannot be written.
    pub fn write_to(self, reply: &Reply, to: &mut impl std::io::Write) -> std::io::Result<()> {
        let mut out = Streaming {
            buf: Vec::new(),
            to,
            failed: None,
        };
        match self {
            Format::Raw => {
                write_raw_inner(reply, &mut out);
                out.push(b'\n');
            }
            Format::Tty => write_tty_inner(reply, &mut out, ""),
            Format::Json => {
                write_json_inner(reply, &mut out);
                out.push(b'\n');
            }
            Format::Csv => {
                write_csv_inner(reply, &mut out);
                out.push(b'\n');
            }
        }
        match out.failed {
            Some(e) => Err(e),
            None => out.to.write_all(&out.buf),
        }
    }
}

/// Where a printed reply goes: a buffer ([`Vec`]) or a [`Streaming`] writer.
pub trait Out {
    fn push(&mut self, byte: u8);
    fn extend_from_slice(&mut self, bytes: &[u8]);
    /// An element of an array has been appended: a place where the output may be handed on.
    fn element_done(&mut self) {}
}

impl Out for Vec<u8> {
    fn push(&mut self, byte: u8) {
        Vec::push(self, byte);
    }
    fn extend_from_slice(&mut self, bytes: &[u8]) {
        Vec::extend_from_slice(self, bytes);
    }
}

/// A buffer written on to `to` whenever it holds 64 KiB at the end of an array element; the
/// first error is kept, and nothing more is written after it.
struct Streaming<'a, W> {
    buf: Vec<u8>,
    to: &'a mut W,
    failed: Option<std::io::Error>,
}

impl<W: std::io::Write> Out for Streaming<'_, W> {
    fn push(&mut self, byte: u8) {
        self.buf.push(byte);
    }
    fn extend_from_slice(&mut self, bytes: &[u8]) {
        self.buf.extend_from_slice(bytes);
    }
    fn element_done(&mut self) {
        if self.buf.len() >= 64 << 10 {
            if self.failed.is_none() {
                if let Err(e) = self.to.write_all(&self.buf) {
                    self.failed = Some(e);
                }
            }
            self.buf.clear();
        }
    }
}

/// Prints an array handed to it an element at a time (`MGET`'s reply streamed by
/// `Session::execute_to`) as [`Format::write_to`] prints the whole array: the same bytes,
/// handed on to `to` every 64 KiB, so that neither the reply nor its printed form is held.
pub struct ArrayPrinter<'a, W> {
    format: Format,
    out: Streaming<'a, W>,
    /// Elements announced, and printed so far.
    len: usize,
    done: usize,
    /// Digits of the terminal form's indexes, and the prefix of a nested array's lines.
    width: usize,
    nested_prefix: String,
}

impl<'a, W: std::io::Write> ArrayPrinter<'a, W> {
    /// Starts printing an array of `len` elements in `format` to `to`.
    pub fn new(format: Format, len: usize, to: &'a mut W) -> Self {
        let width = len.to_string().len();
        let mut printer = ArrayPrinter {
            format,
            out: Streaming {
                buf: Vec::new(),
                to,
                failed: None,
            },
            len,
            done: 0,
            width,
            nested_prefix: tty_nested_prefix("", width),
        };
        if format == Format::Json {
            printer.out.push(b'[');
        }
        printer
    }

    /// Prints the next element.
    pub fn element(&mut self, item: &Reply) {
        let (i, out) = (self.done, &mut self.out);
        match self.format {
            Format::Raw => raw_element(i, item, out),
            Format::Tty => tty_element(i, item, out, ("", self.width, &self.nested_prefix)),
            Format::Json => json_element(i, item, out),
            Format::Csv => csv_element(i, item, out),
        }
        self.done += 1;
    }

    /// Ends the array and writes out what is left.
    ///
    /// # Errors
    /// The first error writing to `to`, or `InvalidData` if fewer or more elements were
    /// printed than announced.
    pub fn finish(mut self) -> std::io::Result<()> {
        match self.format {
            Format::Tty if self.done == 0 => self.out.extend_from_slice(b"(empty array)\n"),
            Format::Tty => {}
            Format::Json => self.out.extend_from_slice(b"]\n"),
            Format::Raw | Format::Csv => self.out.push(b'\n'),
        }
        if let Some(e) = self.out.failed {
            return Err(e);
        }
        self.out.to.write_all(&self.out.buf)?;
        if self.done != self.len {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                format!("an array of {} elements had {}", self.len, self.done),
            ));
        }
        Ok(())
    }
}

/// Printing a [`Reply`] in the forms redis-cli prints.
pub trait Print {
    /// Appends the raw form: values as they are, array elements on their own lines (nested
    /// arrays flattened), nil as an empty line, an error followed by an empty line. Ends with
    /// a newline.
    fn write_raw(&self, out: &mut Vec<u8>);
    /// Appends the terminal form: `(integer) 5`, `"quoted"` strings, `(nil)`, `(error) ...`
    /// and numbered array elements, nested arrays indented under their index.
    fn write_tty(&self, out: &mut Vec<u8>);
    /// Appends the reply as one JSON value and a newline: a status or a UTF-8 string as a
    /// JSON string, an integer as a number, nil as `null`, an array as an array (nested
    /// arrays nest), an error as `{"error":"ERR ..."}`, and a string that is not valid UTF-8
    /// as `{"$bytes_b64":"..."}`, its bytes in standard base64 with padding.
    fn write_json(&self, out: &mut Vec<u8>);
    /// Appends the reply as redis-cli's `--csv` prints it, and a newline: strings and
    /// statuses quoted and escaped as the terminal form quotes them, integers bare, nil as
    /// `NULL`, an error as `ERROR,"..."`, array elements (nested ones flattened) separated
    /// by commas.
    fn write_csv(&self, out: &mut Vec<u8>);
}

impl Print for Reply {
    fn write_raw(&self, out: &mut Vec<u8>) {
        write_raw_inner(self, out);
        out.push(b'\n');
    }

    fn write_tty(&self, out: &mut Vec<u8>) {
        write_tty_inner(self, out, "");
    }

    fn write_json(&self, out: &mut Vec<u8>) {
        write_json_inner(self, out);
        out.push(b'\n');
    }

    fn write_csv(&self, out: &mut Vec<u8>) {
        write_csv_inner(self, out);
        out.push(b'\n');
    }
}

/// A reply of a RESP3 type in the RESP2 shape it prints as (as Redis sends it to a RESP2
/// client): a map as a flat array, a set as an array, a double or verbatim string as a bulk
/// string, a boolean as 1 or 0. A RESP2 type as it is.
fn resp2_shape(reply: &Reply) -> Reply {
    match reply {
        Reply::Double(d) => Reply::Bulk(ziggydb::commands::double_text(*d).into_bytes()),
        Reply::Boolean(b) => Reply::Int(i64::from(*b)),
        Reply::Map(pairs) => Reply::Array(
            pairs
                .iter()
                .flat_map(|(k, v)| [k.clone(), v.clone()])
                .collect(),
        ),
        Reply::Set(items) | Reply::Push(items) => Reply::Array(items.clone()),
        Reply::Verbatim { text, .. } => Reply::Bulk(text.clone()),
        other => other.clone(),
    }
}

fn write_raw_inner<O: Out>(reply: &Reply, out: &mut O) {
    match reply {
        Reply::Double(_)
        | Reply::Boolean(_)
        | Reply::Map(_)
        | Reply::Set(_)
        | Reply::Push(_)
        | Reply::Verbatim { .. } => write_raw_inner(&resp2_shape(reply), out),
        Reply::Status(s) => out.extend_from_slice(s.as_bytes()),
        // redis-cli ends an error with a newline of its own, so an empty line follows it
        // (a one-shot command drops it: see `run_command`).
        Reply::Error(s) => {
            out.extend_from_slice(s.as_bytes());
            out.push(b'\n');
        }
        Reply::Int(i) => out.extend_from_slice(i.to_string().as_bytes()),
        Reply::Bulk(b) => out.extend_from_slice(b),
        Reply::Mapped(v) => out.extend_from_slice(v),
        Reply::Nil | Reply::NilArray => {}
        Reply::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                raw_element(i, item, out);
            }
        }
    }
}

/// Appends element `i` of an array in the raw form.
fn raw_element<O: Out>(i: usize, item: &Reply, out: &mut O) {
    if i > 0 {
        out.push(b'\n');
    }
    write_raw_inner(item, out);
    out.element_done();
}

fn write_tty_inner<O: Out>(reply: &Reply, out: &mut O, prefix: &str) {
    match reply {
        Reply::Double(_)
        | Reply::Boolean(_)
        | Reply::Map(_)
        | Reply::Set(_)
        | Reply::Push(_)
        | Reply::Verbatim { .. } => write_tty_inner(&resp2_shape(reply), out, prefix),
        Reply::Status(s) => {
            out.extend_from_slice(s.as_bytes());
            out.push(b'\n');
        }
        Reply::Error(s) => {
            out.extend_from_slice(b"(error) ");
            out.extend_from_slice(s.as_bytes());
            out.push(b'\n');
        }
        Reply::Int(i) => out.extend_from_slice(format!("(integer) {i}\n").as_bytes()),
        Reply::Bulk(_) | Reply::Mapped(_) => {
            write_repr(out, reply.bulk_bytes().unwrap_or_default());
            out.push(b'\n');
        }
        Reply::Nil | Reply::NilArray => out.extend_from_slice(b"(nil)\n"),
        Reply::Array(items) if items.is_empty() => out.extend_from_slice(b"(empty array)\n"),
        Reply::Array(items) => {
            let width = items.len().to_string().len();
            let nested_prefix = tty_nested_prefix(prefix, width);
            for (i, item) in items.iter().enumerate() {
                tty_element(i, item, out, (prefix, width, &nested_prefix));
            }
        }
    }
}

/// The prefix of the lines of an array nested in an element of an array of `width`-digit
/// indexes whose lines start with `prefix`.
fn tty_nested_prefix(prefix: &str, width: usize) -> String {
    // Elements of a nested array line up under the first one, which follows its parent's
    // index on the same line.
    format!("{prefix}{}", " ".repeat(width + 2))
}

/// Appends element `i` of an array in the terminal form, numbered to `width` digits, its
/// lines after the first starting with `prefix` (and those of an array in it with
/// `nested_prefix`).
fn tty_element<O: Out>(
    i: usize,
    item: &Reply,
    out: &mut O,
    (prefix, width, nested_prefix): (&str, usize, &str),
) {
    let lead = if i == 0 { "" } else { prefix };
    out.extend_from_slice(format!("{lead}{:>width$}) ", i + 1).as_bytes());
    write_tty_inner(item, out, nested_prefix);
    out.element_done();
}

fn write_json_inner<O: Out>(reply: &Reply, out: &mut O) {
    match reply {
        Reply::Double(_)
        | Reply::Boolean(_)
        | Reply::Map(_)
        | Reply::Set(_)
        | Reply::Push(_)
        | Reply::Verbatim { .. } => write_json_inner(&resp2_shape(reply), out),
        Reply::Status(s) => write_json_string(out, s),
        Reply::Error(s) => {
            out.extend_from_slice(b"{\"error\":");
            write_json_string(out, s);
            out.push(b'}');
        }
        Reply::Int(i) => out.extend_from_slice(i.to_string().as_bytes()),
        Reply::Bulk(_) | Reply::Mapped(_) => {
            let b = reply.bulk_bytes().unwrap_or_default();
            match std::str::from_utf8(b) {
                Ok(s) => write_json_string(out, s),
                Err(_) => {
                    out.extend_from_slice(b"{\"$bytes_b64\":\"");
                    out.extend_from_slice(base64(b).as_bytes());
                    out.extend_from_slice(b"\"}");
                }
            }
        }
        Reply::Nil | Reply::NilArray => out.extend_from_slice(b"null"),
        Reply::Array(items) => {
            out.push(b'[');
            for (i, item) in items.iter().enumerate() {
                json_element(i, item, out);
            }
            out.push(b']');
        }
    }
}

/// Appends element `i` of an array as JSON.
fn json_element<O: Out>(i: usize, item: &Reply, out: &mut O) {
    if i > 0 {
        out.push(b',');
    }
    write_json_inner(item, out);
    out.element_done();
}

fn write_csv_inner<O: Out>(reply: &Reply, out: &mut O) {
    match reply {
        Reply::Double(_)
        | Reply::Boolean(_)
        | Reply::Map(_)
        | Reply::Set(_)
        | Reply::Push(_)
        | Reply::Verbatim { .. } => write_csv_inner(&resp2_shape(reply), out),
        Reply::Status(s) => write_repr(out, s.as_bytes()),
        Reply::Error(s) => {
            out.extend_from_slice(b"ERROR,");
            write_repr(out, s.as_bytes());
        }
        Reply::Int(i) => out.extend_from_slice(i.to_string().as_bytes()),
        Reply::Bulk(_) | Reply::Mapped(_) => {
            write_repr(out, reply.bulk_bytes().unwrap_or_default());
        }
        Reply::Nil | Reply::NilArray => out.extend_from_slice(b"NULL"),
        Reply::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                csv_element(i, item, out);
            }
        }
    }
}

/// Appends element `i` of an array as CSV.
fn csv_element<O: Out>(i: usize, item: &Reply, out: &mut O) {
    if i > 0 {
        out.push(b',');
    }
    write_csv_inner(item, out);
    out.element_done();
}

/// Appends `s` as a JSON string literal.
fn write_json_string<O: Out>(out: &mut O, s: &str) {
    // Serialising a `str` cannot fail; the fallback keeps this free of panics regardless.
    let quoted = serde_json::to_string(s).unwrap_or_else(|_| "\"\"".to_owned());
    out.extend_from_slice(quoted.as_bytes());
}

/// `bytes` in standard base64 (RFC 4648, with `=` padding).
pub fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut text = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for (i, shift) in [18u32, 12, 6, 0].into_iter().enumerate() {
            if i <= chunk.len() {
                text.push(char::from(ALPHABET[((n >> shift) & 63) as usize]));
            } else {
                text.push('=');
            }
        }
    }
    text
}

/// Writes a string reply read in place (a [`Reply::Mapped`]) to `out` in `format`, as
/// [`Format::write`] would print it as a [`Reply::Bulk`], a piece at a time: its printed form
/// (up to four times its size when quoted) is never built whole in memory.
///
/// # Errors
/// If `out` cannot be written.
pub fn write_mapped(
    format: Format,
    bytes: &[u8],
    out: &mut impl std::io::Write,
) -> std::io::Result<()> {
    // A multiple of 3, so that base64 pieces join without padding between them.
    const PIECE: usize = 3 << 15;
    let mut buf = Vec::new();
    match format {
        Format::Raw => {
            out.write_all(bytes)?;
            out.write_all(b"\n")
        }
        Format::Tty | Format::Csv => {
            out.write_all(b"\"")?;
            for piece in bytes.chunks(PIECE) {
                buf.clear();
                escape_repr(&mut buf, piece);
                out.write_all(&buf)?;
            }
            out.write_all(b"\"\n")
        }
        Format::Json => match std::str::from_utf8(bytes) {
            Ok(mut text) => {
                out.write_all(b"\"")?;
                while !text.is_empty() {
                    let mut end = text.len().min(PIECE);
                    while !text.is_char_boundary(end) {
                        end -= 1;
                    }
                    let (piece, rest) = text.split_at(end);
                    buf.clear();
                    write_json_string(&mut buf, piece);
                    // Without the quotes around each piece.
                    out.write_all(buf.get(1..buf.len().saturating_sub(1)).unwrap_or_default())?;
                    text = rest;
                }
                out.write_all(b"\"\n")
            }
            Err(_) => {
                out.write_all(b"{\"$bytes_b64\":\"")?;
                for piece in bytes.chunks(PIECE) {
                    out.write_all(base64(piece).as_bytes())?;
                }
                out.write_all(b"\"}\n")
            }
        },
    }
}

/// Appends `bytes` in double quotes, escaped like redis-cli's `sdscatrepr`: `\\`, `\"`, `\n`,
/// `\r`, `\t`, `\a`, `\b`, printable ASCII as is, anything else as `\xHH`.
pub fn write_repr<O: Out>(out: &mut O, bytes: &[u8]) {
    out.push(b'"');
    escape_repr(out, bytes);
    out.push(b'"');
}

/// Appends `bytes` escaped as [`write_repr`] does, without the quotes.
fn escape_repr<O: Out>(out: &mut O, bytes: &[u8]) {
    for &b in bytes {
        match b {
            b'\\' | b'"' => out.extend_from_slice(&[b'\\', b]),
            b'\n' => out.extend_from_slice(b"\\n"),
            b'\r' => out.extend_from_slice(b"\\r"),
            b'\t' => out.extend_from_slice(b"\\t"),
            0x07 => out.extend_from_slice(b"\\a"),
            0x08 => out.extend_from_slice(b"\\b"),
            0x20..=0x7e => out.push(b),
            _ => out.extend_from_slice(format!("\\x{b:02x}").as_bytes()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(r: &Reply) -> String {
        let mut out = Vec::new();
        r.write_raw(&mut out);
        String::from_utf8(out).unwrap()
    }

    fn tty(r: &Reply) -> String {
        let mut out = Vec::new();
        r.write_tty(&mut out);
        String::from_utf8(out).unwrap()
    }

    fn bulk(s: &str) -> Reply {
        Reply::bulk(s)
    }

    #[test]
    fn raw_scalars() {
        assert_eq!(raw(&Reply::ok()), "OK\n");
        assert_eq!(raw(&Reply::Int(-5)), "-5\n");
        assert_eq!(raw(&bulk("a b\n")), "a b\n\n");
        assert_eq!(raw(&Reply::Nil), "\n");
        assert_eq!(raw(&Reply::NilArray), "\n");
        assert_eq!(
            raw(&Reply::error("ERR syntax error")),
            "ERR syntax error\n\n"
        );
    }

    #[test]
    fn raw_bulk_is_binary_safe() {
        let mut out = Vec::new();
        Reply::bulk(vec![0, 0xff, b'"']).write_raw(&mut out);
        assert_eq!(out, b"\0\xff\"\n");
    }

    #[test]
    fn raw_arrays_flatten() {
        assert_eq!(raw(&Reply::Array(vec![])), "\n");
        let r = Reply::Array(vec![
            bulk("a"),
            Reply::Nil,
            Reply::Array(vec![Reply::Int(1), Reply::ok()]),
            Reply::Array(vec![]),
            Reply::error("ERR e"),
            bulk("z"),
        ]);
        assert_eq!(raw(&r), "a\n\n1\nOK\n\nERR e\n\nz\n");
    }

    #[test]
    fn tty_scalars() {
        assert_eq!(tty(&Reply::ok()), "OK\n");
        assert_eq!(tty(&Reply::Int(42)), "(integer) 42\n");
        assert_eq!(tty(&bulk("hello")), "\"hello\"\n");
        assert_eq!(tty(&Reply::Nil), "(nil)\n");
        assert_eq!(tty(&Reply::NilArray), "(nil)\n");
        assert_eq!(tty(&Reply::error("ERR x")), "(error) ERR x\n");
        assert_eq!(tty(&Reply::Array(vec![])), "(empty array)\n");
    }

    #[test]
    fn tty_escapes_like_sdscatrepr() {
        let r = Reply::bulk(b"a\"b\\c\n\r\t\x07\x08\x00\x7f\xe9 ~".to_vec());
        assert_eq!(tty(&r), "\"a\\\"b\\\\c\\n\\r\\t\\a\\b\\x00\\x7f\\xe9 ~\"\n");
    }

    #[test]
    fn tty_arrays_number_and_align() {
        let r = Reply::Array(vec![bulk("a"), Reply::Nil, Reply::Int(3)]);
        assert_eq!(tty(&r), "1) \"a\"\n2) (nil)\n3) (integer) 3\n");

        let ten = Reply::Array((0..10).map(Reply::Int).collect());
        let text = tty(&ten);
        assert!(
            text.starts_with(" 1) (integer) 0\n 2) (integer) 1\n"),
            "{text}"
        );
        assert!(text.ends_with("10) (integer) 9\n"), "{text}");
    }

    fn json(r: &Reply) -> String {
        let mut out = Vec::new();
        r.write_json(&mut out);
        String::from_utf8(out).unwrap()
    }

    fn csv(r: &Reply) -> String {
        let mut out = Vec::new();
        r.write_csv(&mut out);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn base64_pads_like_rfc_4648() {
        assert_eq!(base64(b""), "");
        assert_eq!(base64(b"f"), "Zg==");
        assert_eq!(base64(b"fo"), "Zm8=");
        assert_eq!(base64(b"foo"), "Zm9v");
        assert_eq!(base64(b"foobar"), "Zm9vYmFy");
        assert_eq!(base64(&[0xff, 0xfe, 0x00]), "//4A");
    }

    #[test]
    fn json_is_one_value_per_line() {
        assert_eq!(json(&Reply::ok()), "\"OK\"\n");
        assert_eq!(json(&Reply::Int(-7)), "-7\n");
        assert_eq!(json(&Reply::Nil), "null\n");
        assert_eq!(json(&Reply::NilArray), "null\n");
        assert_eq!(json(&bulk("a\"\n\u{1}é")), "\"a\\\"\\n\\u0001é\"\n");
        assert_eq!(
            json(&Reply::bulk(vec![0xff, b'a'])),
            "{\"$bytes_b64\":\"/2E=\"}\n"
        );
        assert_eq!(json(&Reply::error("ERR x")), "{\"error\":\"ERR x\"}\n");
        assert_eq!(json(&Reply::Array(vec![])), "[]\n");
        let nested = Reply::Array(vec![
            bulk("a"),
            Reply::Array(vec![Reply::Int(1), Reply::Nil, Reply::Array(vec![])]),
        ]);
        assert_eq!(json(&nested), "[\"a\",[1,null,[]]]\n");
    }

    #[test]
    fn csv_is_like_redis_cli() {
        assert_eq!(csv(&Reply::ok()), "\"OK\"\n");
        assert_eq!(csv(&Reply::Int(3)), "3\n");
        assert_eq!(csv(&Reply::Nil), "NULL\n");
        assert_eq!(csv(&Reply::error("ERR x")), "ERROR,\"ERR x\"\n");
        assert_eq!(csv(&Reply::bulk(vec![b'"', 0xff])), "\"\\\"\\xff\"\n");
        assert_eq!(csv(&Reply::Array(vec![])), "\n");
        let nested = Reply::Array(vec![
            bulk("a"),
            Reply::Array(vec![Reply::Int(1), Reply::Nil]),
        ]);
        assert_eq!(csv(&nested), "\"a\",1,NULL\n");
    }

    #[test]
    fn a_mapped_value_prints_piece_by_piece_as_the_whole_would() {
        // Longer than a piece, with a two-byte character and escapes across the boundaries.
        let mut text = "é\"\n".repeat(70_000);
        text.push('z');
        let binary: Vec<u8> = (0..200_001u32).map(|i| (i * 7) as u8).collect();
        for bytes in [text.as_bytes(), &binary[..], b"", b"plain"] {
            for format in [Format::Raw, Format::Tty, Format::Json, Format::Csv] {
                let mut whole = Vec::new();
                format.write(&Reply::bulk(bytes), &mut whole);
                let mut pieces = Vec::new();
                write_mapped(format, bytes, &mut pieces).unwrap();
                assert!(whole == pieces, "{format:?}, {} bytes", bytes.len());
            }
        }
    }

    #[test]
    fn a_long_array_written_a_piece_at_a_time_prints_as_the_whole_would() {
        // Many pieces of 64 KiB, nested arrays and nil among them.
        let reply = Reply::Array(
            (0..100_000)
                .map(|i| match i % 1000 {
                    0 => Reply::Nil,
                    1 => Reply::Array(vec![bulk("a\nb"), Reply::Int(i)]),
                    _ => bulk(&format!("value {i}")),
                })
                .collect(),
        );
        /// Counts the writes it is given.
        struct Pieces(Vec<u8>, usize);
        impl std::io::Write for Pieces {
            fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
                self.0.extend_from_slice(buf);
                self.1 += 1;
                Ok(buf.len())
            }
            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }
        for format in [Format::Raw, Format::Tty, Format::Json, Format::Csv] {
            let mut whole = Vec::new();
            format.write(&reply, &mut whole);
            let mut pieces = Pieces(Vec::new(), 0);
            format.write_to(&reply, &mut pieces).unwrap();
            assert!(pieces.0 == whole, "{format:?}");
            assert!(
                pieces.1 > whole.len() / (128 << 10),
                "{format:?}: {} writes",
                pieces.1
            );
        }
    }

    #[test]
    fn tty_nested_arrays_indent() {
        let r = Reply::Array(vec![
            Reply::ok(),
            Reply::Array(vec![bulk("x"), Reply::Array(vec![bulk("y"), bulk("z")])]),
            Reply::error("ERR e"),
        ]);
        assert_eq!(
            tty(&r),
            "1) OK\n\
             2) 1) \"x\"\n   \
                2) 1) \"y\"\n      \
                   2) \"z\"\n\
             3) (error) ERR e\n"
        );
    }

    fn any_reply() -> impl proptest::strategy::Strategy<Value = Reply> {
        use proptest::prelude::*;
        let leaf = prop_oneof![
            any::<String>().prop_map(Reply::Status),
            any::<String>().prop_map(Reply::Error),
            any::<i64>().prop_map(Reply::Int),
            proptest::collection::vec(any::<u8>(), 0..40).prop_map(Reply::Bulk),
            Just(Reply::Nil),
            Just(Reply::NilArray),
            any::<f64>().prop_map(Reply::Double),
            any::<bool>().prop_map(Reply::Boolean),
            proptest::collection::vec(any::<u8>(), 0..40).prop_map(|text| Reply::Verbatim {
                format: *b"txt",
                text
            }),
        ];
        leaf.prop_recursive(3, 24, 5, |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..5).prop_map(Reply::Array),
                proptest::collection::vec(inner.clone(), 0..5).prop_map(Reply::Set),
                proptest::collection::vec((inner.clone(), inner), 0..3).prop_map(Reply::Map),
            ]
        })
    }

    proptest::proptest! {
        /// Whatever a command replies, `--json` prints one valid JSON value on one line, and
        /// every format ends the reply with a newline.
        #[test]
        fn every_reply_prints_in_every_format(reply in any_reply()) {
            for format in [Format::Raw, Format::Tty, Format::Json, Format::Csv] {
                let mut out = Vec::new();
                format.write(&reply, &mut out);
                proptest::prop_assert!(out.ends_with(b"\n"), "{format:?}: {out:?}");
                let mut streamed = Vec::new();
                proptest::prop_assert!(format.write_to(&reply, &mut streamed).is_ok());
                proptest::prop_assert_eq!(&streamed, &out, "{:?}", format);
                if let Reply::Array(items) = &reply {
                    let mut printed = Vec::new();
                    let mut printer = ArrayPrinter::new(format, items.len(), &mut printed);
                    for item in items {
                        printer.element(item);
                    }
                    proptest::prop_assert!(printer.finish().is_ok());
                    proptest::prop_assert_eq!(&printed, &out, "{:?} element by element", format);
                }
                if format == Format::Json {
                    let line = &out[..out.len() - 1];
                    proptest::prop_assert!(!line.contains(&b'\n'), "{out:?}");
                    let parsed = serde_json::from_slice::<serde_json::Value>(line);
                    proptest::prop_assert!(parsed.is_ok(), "{:?}: {parsed:?}", String::from_utf8_lossy(&out));
                }
            }
        }
    }
}
