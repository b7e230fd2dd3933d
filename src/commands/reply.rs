//! The reply to one command, as every front end receives it from a
//! [`Session`](crate::commands::Session): the CLI prints it, a server encodes it.

/// The reply to one command: the types of RESP3 (RESP2's and doubles, booleans, maps, sets
/// and verbatim strings), encoded for a connection by [`Reply::encode`].
#[derive(Debug, Clone)]
pub enum Reply {
    /// A status line such as `OK` or `QUEUED`.
    Status(String),
    /// An error line; starts with an upper-case code such as `ERR` or `WRONGTYPE`.
    Error(String),
    /// An integer.
    Int(i64),
    /// A binary-safe string.
    Bulk(Vec<u8>),
    /// A binary-safe string read in place from the database (`GET` of bytes, a string or
    /// JSON): printed from the mapped bytes, never copied, so that a value of any size
    /// prints in constant memory. Equal to a [`Reply::Bulk`] of the same bytes.
    Mapped(crate::ValueRef),
    /// The null bulk string (a missing key).
    Nil,
    /// The null array (`EXEC` when a watched key changed). Printed as [`Reply::Nil`] is.
    NilArray,
    /// An array of replies, possibly nested.
    Array(Vec<Reply>),
    /// A double (RESP3 `,`; a bulk string in RESP2).
    Double(f64),
    /// A boolean (RESP3 `#`; the integer 1 or 0 in RESP2).
    Boolean(bool),
    /// Key-value pairs in order (RESP3 `%`; a flat array in RESP2).
    Map(Vec<(Reply, Reply)>),
    /// An unordered collection (RESP3 `~`; an array in RESP2).
    Set(Vec<Reply>),
    /// Out-of-band data the server pushes (RESP3 `>`; an array in RESP2): a Pub/Sub
    /// message, or the confirmation of a `SUBSCRIBE` or `UNSUBSCRIBE`, which Redis 7 sends
    /// as pushes to a RESP3 client.
    Push(Vec<Reply>),
    /// Text with its three-letter format, `txt` or `mkd` (RESP3 `=`; a bulk string of the
    /// text in RESP2).
    Verbatim {
        /// `txt` or `mkd`.
        format: [u8; 3],
        /// The text.
        text: Vec<u8>,
    },
}

impl PartialEq for Reply {
    fn eq(&self, other: &Self) -> bool {
        match (self, other) {
            (Reply::Status(a), Reply::Status(b)) | (Reply::Error(a), Reply::Error(b)) => a == b,
            (Reply::Int(a), Reply::Int(b)) => a == b,
            (Reply::Nil, Reply::Nil) | (Reply::NilArray, Reply::NilArray) => true,
            (Reply::Array(a), Reply::Array(b))
            | (Reply::Set(a), Reply::Set(b))
            | (Reply::Push(a), Reply::Push(b)) => a == b,
            // Bit for bit, so that equality stays an equivalence (NaN equals itself).
            (Reply::Double(a), Reply::Double(b)) => a.to_bits() == b.to_bits(),
            (Reply::Boolean(a), Reply::Boolean(b)) => a == b,
            (Reply::Map(a), Reply::Map(b)) => a == b,
            (
                Reply::Verbatim { format, text },
                Reply::Verbatim {
                    format: f2,
                    text: t2,
                },
            ) => format == f2 && text == t2,
            (a, b) => match (a.bulk_bytes(), b.bulk_bytes()) {
                (Some(a), Some(b)) => a == b,
                _ => false,
            },
        }
    }
}

impl Eq for Reply {}

impl Reply {
    /// The bytes of a [`Reply::Bulk`] or [`Reply::Mapped`].
    pub fn bulk_bytes(&self) -> Option<&[u8]> {
        match self {
            Reply::Bulk(b) => Some(b),
            Reply::Mapped(v) => Some(v.as_bytes()),
            _ => None,
        }
    }

    /// The `OK` status.
    pub fn ok() -> Self {
        Reply::Status("OK".into())
    }

    /// An error reply with the given text (including its code, e.g. `ERR syntax error`).
    pub fn error(text: impl Into<String>) -> Self {
        Reply::Error(text.into())
    }

    /// A bulk string reply.
    pub fn bulk(bytes: impl Into<Vec<u8>>) -> Self {
        Reply::Bulk(bytes.into())
    }

    /// The code of an error reply: its first word (`ERR`, `WRONGTYPE`, `NOPERM`...).
    pub fn error_code(&self) -> Option<&str> {
        match self {
            Reply::Error(text) => text.split(' ').next(),
            _ => None,
        }
    }

    /// True for an error reply (the one-shot command then exits with status 1).
    pub fn is_error(&self) -> bool {
        matches!(self, Reply::Error(_))
    }
}

/// Where [`Session::execute_to`](crate::commands::Session::execute_to) hands a reply: whole,
/// or, for a reply as long as its command (`MGET` outside a transaction), an array an element
/// at a time as each value is read, so that a front end writes it out (printed, or encoded
/// for a connection: [`RespWriter`](crate::commands::RespWriter)) without holding it whole.
///
/// A reply is one call of [`ReplySink::reply`], or one call of [`ReplySink::array`] followed
/// by exactly `len` calls of [`ReplySink::element`]: either way the reply
/// [`Session::execute`](crate::commands::Session::execute) returns, which [`Collected`]
/// builds from the calls. The keys of an `MGET` are all looked up, in one committed state, before
/// its array starts, so that a failed lookup is a whole error reply; a value found that
/// cannot be decoded (a damaged record whose checksum still matches) is an error element
/// in its place.
pub trait ReplySink {
    /// A whole reply.
    fn reply(&mut self, reply: Reply);
    /// The start of an array of `len` elements.
    fn array(&mut self, len: usize);
    /// The next element of the array started.
    fn element(&mut self, item: Reply);
}

/// A [`ReplySink`] that builds the reply it is handed: what
/// [`Session::execute`](crate::commands::Session::execute) returns. An array is allocated at
/// its announced length, fallibly: when that (or growing it past that length) fails, the
/// reply is an error saying so, and the elements still to come are dropped as they come.
///
/// # Examples
///
/// ```
/// use ziggydb::commands::{Collected, Policy, Reply, Session};
/// # let dir = tempfile::tempdir().unwrap();
/// # let db = ziggydb::Db::open(dir.path().join("db"))?;
/// db.set(b"a", "1")?;
/// let mut session = Session::new(&db, Policy::default());
/// let mut sink = Collected::default();
/// session.execute_to(&[b"MGET", b"a", b"b"], &mut sink);
/// assert_eq!(sink.into_reply(), Reply::Array(vec![Reply::bulk("1"), Reply::Nil]));
/// # Ok::<(), ziggydb::Error>(())
/// ```
#[derive(Debug, Default)]
pub struct Collected {
    reply: Option<Reply>,
    /// The array could not be allocated: `reply` is the error that says so.
    failed: bool,
}

impl Collected {
    /// The reply handed to the sink (an empty array if none was).
    pub fn into_reply(self) -> Reply {
        self.reply.unwrap_or(Reply::Array(Vec::new()))
    }

    /// Replaces the array by the error for one of `len` elements that cannot be held.
    fn fail(&mut self, len: usize) {
        self.failed = true;
        self.reply = Some(Reply::error(format!(
            "ERR not enough memory for a reply of {len} elements"
        )));
    }
}

impl ReplySink for Collected {
    fn reply(&mut self, reply: Reply) {
        self.failed = false;
        self.reply = Some(reply);
    }
    fn array(&mut self, len: usize) {
        self.failed = false;
        let mut items = Vec::new();
        if items.try_reserve_exact(len).is_ok() {
            self.reply = Some(Reply::Array(items));
        } else {
            self.fail(len);
        }
    }
    fn element(&mut self, item: Reply) {
        if self.failed {
            return;
        }
        match &mut self.reply {
            Some(Reply::Array(items)) => {
                if items.try_reserve(1).is_ok() {
                    items.push(item);
                } else {
                    let len = items.len() + 1;
                    self.fail(len);
                }
            }
            // An element with no array started: an array of it.
            other => *other = Some(Reply::Array(vec![item])),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn collected_builds_an_array_at_its_length_and_an_error_when_it_cannot() {
        let mut sink = Collected::default();
        sink.array(2);
        sink.element(Reply::bulk("a"));
        sink.element(Reply::Nil);
        match sink.into_reply() {
            Reply::Array(items) => {
                assert_eq!(items, [Reply::bulk("a"), Reply::Nil]);
                assert_eq!(items.capacity(), 2);
            }
            other => panic!("not an array: {other:?}"),
        }
        // No address space holds this many replies: an error reply, not an abort, and the
        // elements that still come are dropped.
        let mut sink = Collected::default();
        sink.array(usize::MAX / 2);
        sink.element(Reply::bulk("a"));
        assert_eq!(
            sink.into_reply(),
            Reply::error(format!(
                "ERR not enough memory for a reply of {} elements",
                usize::MAX / 2
            ))
        );
        // A whole reply after a failed array replaces it.
        let mut sink = Collected::default();
        sink.array(usize::MAX / 2);
        sink.reply(Reply::Int(3));
        assert_eq!(sink.into_reply(), Reply::Int(3));
    }
}
