//! The reply to one command, as every front end receives it from a
//! [`Session`](crate::commands::Session): the CLI prints it, a server encodes it.

/// The reply to one command, shaped like a RESP2 reply.
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
}

impl PartialEq for Reply {
    fn eq(&self, other: &Self) -> bool {
        match (self, other) {
            (Reply::Status(a), Reply::Status(b)) | (Reply::Error(a), Reply::Error(b)) => a == b,
            (Reply::Int(a), Reply::Int(b)) => a == b,
            (Reply::Nil, Reply::Nil) | (Reply::NilArray, Reply::NilArray) => true,
            (Reply::Array(a), Reply::Array(b)) => a == b,
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

    /// True for an error reply (the one-shot command then exits with status 1).
    pub fn is_error(&self) -> bool {
        matches!(self, Reply::Error(_))
    }
}
