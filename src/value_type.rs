//! The names of the value types ([`ValueType`]) and their on-disk tags: the one piece of the
//! data model every layer speaks, errors included ([`crate::Error::WrongType`] names them).

use std::fmt;

/// The type of a stored value. The numeric tag is the on-disk `vtype` byte.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ValueType {
    /// Arbitrary bytes (binary-safe). Tag 1.
    Bytes,
    /// UTF-8 text. Tag 2.
    String,
    /// Signed 64-bit integer. Tag 3.
    Int,
    /// IEEE-754 double. Tag 4.
    Float,
    /// Boolean. Tag 5.
    Bool,
    /// Milliseconds since the Unix epoch (UTC). Tag 6.
    Timestamp,
    /// A validated JSON document, stored as text. Tag 7.
    Json,
    /// A list (Redis `LPUSH`, …). Tag 16.
    List,
    /// A set of members (Redis `SADD`, …). Tag 17.
    Set,
    /// A sorted set (Redis `ZADD`, …). Tag 18.
    ZSet,
    /// A hash of fields (Redis `HSET`, …). Tag 19.
    Hash,
}

impl ValueType {
    /// Every type, scalars first.
    pub const ALL: [ValueType; 11] = [
        ValueType::Bytes,
        ValueType::String,
        ValueType::Int,
        ValueType::Float,
        ValueType::Bool,
        ValueType::Timestamp,
        ValueType::Json,
        ValueType::List,
        ValueType::Set,
        ValueType::ZSet,
        ValueType::Hash,
    ];

    /// The on-disk tag byte.
    pub(crate) const fn tag(self) -> u8 {
        match self {
            ValueType::Bytes => 1,
            ValueType::String => 2,
            ValueType::Int => 3,
            ValueType::Float => 4,
            ValueType::Bool => 5,
            ValueType::Timestamp => 6,
            ValueType::Json => 7,
            ValueType::List => 16,
            ValueType::Set => 17,
            ValueType::ZSet => 18,
            ValueType::Hash => 19,
        }
    }

    /// Decodes a tag byte; `None` for tags this build does not know.
    pub(crate) const fn from_tag(tag: u8) -> Option<Self> {
        Some(match tag {
            1 => ValueType::Bytes,
            2 => ValueType::String,
            3 => ValueType::Int,
            4 => ValueType::Float,
            5 => ValueType::Bool,
            6 => ValueType::Timestamp,
            7 => ValueType::Json,
            16 => ValueType::List,
            17 => ValueType::Set,
            18 => ValueType::ZSet,
            19 => ValueType::Hash,
            _ => return None,
        })
    }

    /// Lower-case name, as `TYPE`-like commands print it.
    ///
    /// # Examples
    ///
    /// ```
    /// use ziggydb::ValueType;
    /// assert_eq!(ValueType::Int.name(), "int");
    /// assert_eq!(ValueType::ZSet.to_string(), "zset");
    /// ```
    pub const fn name(self) -> &'static str {
        match self {
            ValueType::Bytes => "bytes",
            ValueType::String => "string",
            ValueType::Int => "int",
            ValueType::Float => "float",
            ValueType::Bool => "bool",
            ValueType::Timestamp => "timestamp",
            ValueType::Json => "json",
            ValueType::List => "list",
            ValueType::Set => "set",
            ValueType::ZSet => "zset",
            ValueType::Hash => "hash",
        }
    }

    /// True for list, set, sorted set and hash.
    ///
    /// # Examples
    ///
    /// ```
    /// use ziggydb::ValueType;
    /// assert!(ValueType::Hash.is_collection());
    /// assert!(!ValueType::Json.is_collection());
    /// ```
    pub const fn is_collection(self) -> bool {
        matches!(
            self,
            ValueType::List | ValueType::Set | ValueType::ZSet | ValueType::Hash
        )
    }

    /// The name Redis's `TYPE` reports: `string` for every scalar.
    ///
    /// # Examples
    ///
    /// ```
    /// use ziggydb::ValueType;
    /// assert_eq!(ValueType::Float.redis_name(), "string");
    /// assert_eq!(ValueType::List.redis_name(), "list");
    /// ```
    pub const fn redis_name(self) -> &'static str {
        if self.is_collection() {
            self.name()
        } else {
            "string"
        }
    }

    /// Parses a type name as accepted by [`ValueType::name`] (case-insensitive).
    ///
    /// # Examples
    ///
    /// ```
    /// use ziggydb::ValueType;
    /// assert_eq!(ValueType::from_name("INT"), Some(ValueType::Int));
    /// assert_eq!(ValueType::from_name("list"), None); // scalars only
    /// assert_eq!(ValueType::from_name("nope"), None);
    /// ```
    pub fn from_name(name: &str) -> Option<Self> {
        ValueType::ALL
            .into_iter()
            .filter(|t| !t.is_collection())
            .find(|t| t.name().eq_ignore_ascii_case(name))
    }
}

impl fmt::Display for ValueType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}
