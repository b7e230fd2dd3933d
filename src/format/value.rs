//! Typed values: the scalar types and how each is stored in a record (format-spec.md §4.3).

use std::fmt;
use std::sync::Arc;

use crate::error::{Error, Result};
use crate::os::map::SegmentMap;

pub use crate::value_type::ValueType;

/// The type tag `vtype` as a [`ValueType`]; an unknown tag is corrupt stored data.
pub(crate) fn value_type_of(vtype: u8) -> Result<ValueType> {
    ValueType::from_tag(vtype).ok_or_else(|| Error::CorruptValue {
        reason: format!("a key holds a value of unknown type tag {vtype}"),
    })
}

/// A value with its type. Every variant round-trips through the database unchanged.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// Arbitrary bytes.
    Bytes(Vec<u8>),
    /// UTF-8 text.
    String(String),
    /// Signed 64-bit integer.
    Int(i64),
    /// Double-precision float.
    Float(f64),
    /// Boolean.
    Bool(bool),
    /// Milliseconds since the Unix epoch.
    Timestamp(i64),
    /// JSON text, validated when the value is written.
    Json(String),
}

impl Value {
    /// The type of this value.
    ///
    /// # Examples
    ///
    /// ```
    /// use ziggydb::{Value, ValueType};
    /// assert_eq!(Value::from(1.5).value_type(), ValueType::Float);
    /// assert_eq!(Value::from("text").value_type(), ValueType::String);
    /// ```
    pub fn value_type(&self) -> ValueType {
        match self {
            Value::Bytes(_) => ValueType::Bytes,
            Value::String(_) => ValueType::String,
            Value::Int(_) => ValueType::Int,
            Value::Float(_) => ValueType::Float,
            Value::Bool(_) => ValueType::Bool,
            Value::Timestamp(_) => ValueType::Timestamp,
            Value::Json(_) => ValueType::Json,
        }
    }

    /// Builds a JSON value, checking that `text` is valid JSON.
    ///
    /// # Errors
    /// [`Error::InvalidJson`](crate::Error::InvalidJson) if it is not.
    ///
    /// # Examples
    ///
    /// ```
    /// use ziggydb::Value;
    /// assert_eq!(Value::json("[1, 2]")?, Value::Json("[1, 2]".into()));
    /// assert!(matches!(Value::json("{oops"), Err(ziggydb::Error::InvalidJson { .. })));
    /// # Ok::<(), ziggydb::Error>(())
    /// ```
    pub fn json(text: impl Into<String>) -> Result<Self> {
        let text = text.into();
        validate_json(&text)?;
        Ok(Value::Json(text))
    }

    /// Parses `text` as a value of type `ty` (the shell's `SET key value TYPE int`).
    ///
    /// # Errors
    /// [`Error::NotAnInteger`](crate::Error::NotAnInteger), [`Error::NotAFloat`](crate::Error::NotAFloat), [`Error::InvalidJson`](crate::Error::InvalidJson) or
    /// [`Error::InvalidArgument`](crate::Error::InvalidArgument) when `text` does not fit the type.
    ///
    /// # Examples
    ///
    /// ```
    /// use ziggydb::{Value, ValueType};
    /// assert_eq!(Value::parse_as(ValueType::Int, b"42")?, Value::Int(42));
    /// assert_eq!(Value::parse_as(ValueType::Bool, b"true")?, Value::Bool(true));
    /// assert!(Value::parse_as(ValueType::Int, b"4x2").is_err());
    /// # Ok::<(), ziggydb::Error>(())
    /// ```
    pub fn parse_as(ty: ValueType, text: &[u8]) -> Result<Self> {
        let s = || {
            std::str::from_utf8(text)
                .map_err(|_| Error::InvalidArgument("value is not valid UTF-8".into()))
        };
        Ok(match ty {
            ValueType::Bytes => Value::Bytes(text.to_vec()),
            ValueType::String => Value::String(s()?.to_owned()),
            ValueType::Int => Value::Int(parse_i64(text)?),
            ValueType::Float => Value::Float(parse_float(text).ok_or(Error::NotAFloat)?),
            ValueType::Bool => match s()?.to_ascii_lowercase().as_str() {
                "true" | "1" | "yes" | "on" => Value::Bool(true),
                "false" | "0" | "no" | "off" => Value::Bool(false),
                _ => return Err(Error::InvalidArgument("value is not a boolean".into())),
            },
            ValueType::Timestamp => Value::Timestamp(parse_i64(text)?),
            ValueType::Json => Value::json(s()?)?,
            ValueType::List | ValueType::Set | ValueType::ZSet | ValueType::Hash => {
                return Err(Error::InvalidArgument(format!("{ty} is not a scalar type")))
            }
        })
    }

    /// The payload bytes as stored on disk (format-spec.md §4.3).
    pub(crate) fn encode_payload(&self) -> std::borrow::Cow<'_, [u8]> {
        use std::borrow::Cow;
        match self {
            Value::Bytes(b) => Cow::Borrowed(b),
            Value::String(s) | Value::Json(s) => Cow::Borrowed(s.as_bytes()),
            Value::Int(i) | Value::Timestamp(i) => Cow::Owned(i.to_le_bytes().to_vec()),
            Value::Float(f) => Cow::Owned(f.to_bits().to_le_bytes().to_vec()),
            Value::Bool(b) => Cow::Owned(vec![u8::from(*b)]),
        }
    }

    /// Decodes a payload of type `ty`.
    ///
    /// # Errors
    /// [`Error::CorruptValue`](crate::Error::CorruptValue) if the payload is malformed for the type;
    /// [`Error::OutOfMemory`](crate::Error::OutOfMemory) if there is no memory for a copy of it.
    pub(crate) fn decode_payload(ty: ValueType, p: &[u8]) -> Result<Self> {
        let malformed = || Error::CorruptValue {
            reason: format!("stored {ty} payload is malformed"),
        };
        let eight = || <[u8; 8]>::try_from(p).map_err(|_| malformed());
        let text = || {
            std::str::from_utf8(p).map_err(|_| malformed())?;
            String::from_utf8(crate::error::try_copy(p)?).map_err(|_| malformed())
        };
        Ok(match ty {
            ValueType::Bytes => Value::Bytes(crate::error::try_copy(p)?),
            ValueType::String => Value::String(text()?),
            ValueType::Json => Value::Json(text()?),
            ValueType::List | ValueType::Set | ValueType::ZSet | ValueType::Hash => {
                return Err(malformed())
            }
            ValueType::Int => Value::Int(i64::from_le_bytes(eight()?)),
            ValueType::Timestamp => Value::Timestamp(i64::from_le_bytes(eight()?)),
            ValueType::Float => Value::Float(f64::from_bits(u64::from_le_bytes(eight()?))),
            ValueType::Bool => match p {
                [0] => Value::Bool(false),
                [1] => Value::Bool(true),
                _ => return Err(malformed()),
            },
        })
    }

    /// The payload as stored, taken out of the value: bytes, strings and JSON without a copy.
    pub(crate) fn into_payload(self) -> Vec<u8> {
        match self {
            Value::Bytes(b) => b,
            Value::String(s) | Value::Json(s) => s.into_bytes(),
            other => other.encode_payload().into_owned(),
        }
    }

    /// The value as Redis would return it from `GET`: numbers in decimal, booleans as
    /// `true`/`false`, text and bytes unchanged. Public as
    /// [`commands::redis_bytes`](crate::commands::redis_bytes); here because the string
    /// commands' semantics (`APPEND` to a number, `INCRBYFLOAT` of a typed value) and the
    /// RESP export read typed values through it too.
    pub(crate) fn to_redis_bytes(&self) -> Vec<u8> {
        match self {
            Value::Bytes(b) => b.clone(),
            Value::String(s) | Value::Json(s) => s.clone().into_bytes(),
            Value::Int(i) | Value::Timestamp(i) => i.to_string().into_bytes(),
            Value::Float(f) => format_float(*f).into_bytes(),
            Value::Bool(b) => if *b { "true" } else { "false" }.as_bytes().to_vec(),
        }
    }

    /// The value as Redis would return it from `GET`, as [`Value::to_redis_bytes`](crate::Value::to_redis_bytes), taking
    /// bytes and text as they are rather than copying them.
    pub(crate) fn into_redis_bytes(self) -> Vec<u8> {
        match self {
            Value::Bytes(b) => b,
            Value::String(s) | Value::Json(s) => s.into_bytes(),
            other => other.to_redis_bytes(),
        }
    }

    /// The value as an integer, as Redis `INCR` reads it: an int, or text holding a
    /// decimal integer.
    ///
    /// # Errors
    /// [`Error::NotAnInteger`](crate::Error::NotAnInteger) otherwise.
    ///
    /// # Examples
    ///
    /// ```
    /// use ziggydb::Value;
    /// assert_eq!(Value::Int(5).as_int()?, 5);
    /// assert_eq!(Value::String("12".into()).as_int()?, 12);
    /// assert!(Value::Float(1.5).as_int().is_err());
    /// # Ok::<(), ziggydb::Error>(())
    /// ```
    pub fn as_int(&self) -> Result<i64> {
        match self {
            Value::Int(i) => Ok(*i),
            Value::Bytes(b) => parse_i64(b),
            Value::String(s) => parse_i64(s.as_bytes()),
            _ => Err(Error::NotAnInteger),
        }
    }

    /// The value as a float, as Redis `INCRBYFLOAT` reads it.
    ///
    /// # Errors
    /// [`Error::NotAFloat`](crate::Error::NotAFloat) otherwise.
    ///
    /// # Examples
    ///
    /// ```
    /// use ziggydb::Value;
    /// assert_eq!(Value::String("2.5".into()).as_float()?, 2.5);
    /// assert_eq!(Value::Int(3).as_float()?, 3.0);
    /// assert!(Value::String("x".into()).as_float().is_err());
    /// # Ok::<(), ziggydb::Error>(())
    /// ```
    pub fn as_float(&self) -> Result<f64> {
        match self {
            Value::Float(f) => Ok(*f),
            Value::Int(i) => Ok(*i as f64),
            Value::Bytes(b) => parse_f64(b),
            Value::String(s) => parse_f64(s.as_bytes()),
            _ => Err(Error::NotAFloat),
        }
    }
}

/// Parses a decimal i64 the way Redis does (its `string2ll`).
pub(crate) fn parse_i64(b: &[u8]) -> Result<i64> {
    parse_int(b).ok_or(Error::NotAnInteger)
}

/// Parses a float as `INCRBYFLOAT` reads a stored value ([`parse_long_double`]).
pub(crate) fn parse_f64(b: &[u8]) -> Result<f64> {
    parse_long_double(b).ok_or(Error::NotAFloat)
}

/// An integer as Redis reads one (`string2ll`): the whole text, an optional `-`, digits with
/// no leading zero (`0` itself, not `-0`), no `+`, no space, within `i64`.
///
/// # Examples
///
/// ```
/// use ziggydb::commands::parse_int;
/// assert_eq!(parse_int(b"-42"), Some(-42));
/// assert_eq!(parse_int(b"042"), None); // a leading zero
/// assert_eq!(parse_int(b"+1"), None);
/// assert_eq!(parse_int(b"9223372036854775808"), None); // beyond i64
/// ```
pub fn parse_int(text: &[u8]) -> Option<i64> {
    let digits = text.strip_prefix(b"-").unwrap_or(text);
    let canonical = match digits {
        [b'0'] => digits.len() == text.len(),
        [b'1'..=b'9', rest @ ..] => rest.iter().all(u8::is_ascii_digit),
        _ => false,
    };
    if !canonical {
        return None;
    }
    std::str::from_utf8(text).ok()?.parse().ok()
}

/// A float as Redis reads a double (`string2d`: `ZADD`, `ZINCRBY`, `HINCRBYFLOAT`'s
/// increment, `SET ... TYPE float`): the whole text as `strtod` reads it, decimal or
/// hexadecimal (`0x1p-2`), `inf` or `infinity` in any case and with any sign; no leading or
/// trailing space, never NaN. Text beyond a double's range, or so small that it reads as zero,
/// is refused (a subnormal is fine).
///
/// # Examples
///
/// ```
/// use ziggydb::commands::parse_float;
/// assert_eq!(parse_float(b"1.5e3"), Some(1500.0));
/// assert_eq!(parse_float(b"0x1p-2"), Some(0.25));
/// assert_eq!(parse_float(b"-inf"), Some(f64::NEG_INFINITY));
/// assert_eq!(parse_float(b"1e400"), None); // beyond a double
/// assert_eq!(parse_float(b"nan"), None);
/// ```
pub fn parse_float(text: &[u8]) -> Option<f64> {
    match read_float(text)? {
        Float::Finite(f) | Float::Infinite(f) => Some(f),
        Float::Overflow(_) | Float::Underflow(_) | Float::Huge(_) => None,
    }
}

/// A float as Redis reads a long double (`string2ld`: `INCRBYFLOAT` and `HINCRBYFLOAT`, and
/// the values they add to), with the syntax of [`parse_float`]. A long double holds more than
/// a double: text beyond a double's range but within a long double's reads as infinity of
/// its sign (whatever it is added to, the sum then cannot be held, and `INCRBYFLOAT` says
/// so), and text too small for a double reads as zero of its sign.
///
/// # Examples
///
/// ```
/// use ziggydb::commands::parse_long_double;
/// assert_eq!(parse_long_double(b"2.5"), Some(2.5));
/// assert_eq!(parse_long_double(b"1e400"), Some(f64::INFINITY)); // a long double holds it
/// assert_eq!(parse_long_double(b"1e-400"), Some(0.0));
/// assert_eq!(parse_long_double(b" 1"), None); // no space
/// ```
pub fn parse_long_double(text: &[u8]) -> Option<f64> {
    match read_float(text)? {
        Float::Finite(f) | Float::Infinite(f) => Some(f),
        Float::Overflow(negative) => Some(if negative {
            f64::NEG_INFINITY
        } else {
            f64::INFINITY
        }),
        Float::Underflow(negative) => Some(if negative { -0.0 } else { 0.0 }),
        Float::Huge(_) => None,
    }
}

/// A float as Redis reads the ends of a score range (`zslParseRange`: `ZRANGEBYSCORE`,
/// `ZCOUNT`, `ZREMRANGEBYSCORE`, `ZRANGE ... BYSCORE`, after any `(`), which takes what
/// `strtod` gives: the syntax of [`parse_float`] after any leading spaces; text beyond a
/// double's range reads as infinity of its sign, text too small as zero; an empty text reads
/// as 0 (`strtod` converts nothing, and nothing is left over); never NaN.
///
/// # Examples
///
/// ```
/// use ziggydb::commands::parse_range_float;
/// assert_eq!(parse_range_float(b"0x10"), Some(16.0));
/// assert_eq!(parse_range_float(b"1e400"), Some(f64::INFINITY)); // ZADD refuses it
/// assert_eq!(parse_range_float(b" 2"), Some(2.0));
/// assert_eq!(parse_range_float(b""), Some(0.0));
/// assert_eq!(parse_range_float(b"nan"), None);
/// assert_eq!(parse_range_float(b"2 "), None);
/// ```
pub fn parse_range_float(text: &[u8]) -> Option<f64> {
    if text.is_empty() {
        return Some(0.0);
    }
    // C's isspace, which strtod skips.
    let start = text
        .iter()
        .position(|b| !matches!(b, b' ' | b'\t' | b'\n' | b'\x0b' | b'\x0c' | b'\r'))?;
    match read_float(&text[start..])? {
        Float::Finite(f) | Float::Infinite(f) | Float::Huge(f) => Some(f),
        Float::Overflow(negative) => Some(if negative {
            f64::NEG_INFINITY
        } else {
            f64::INFINITY
        }),
        Float::Underflow(negative) => Some(if negative { -0.0 } else { 0.0 }),
    }
}

/// What [`read_float`] read.
enum Float {
    Finite(f64),
    /// `inf` or `infinity` spelled out.
    Infinite(f64),
    /// Finite text beyond a double's range (negative if true), within a long double's.
    Overflow(bool),
    /// Nonzero text that reads as zero in a double (negative if true), within a long
    /// double's range.
    Underflow(bool),
    /// Finite text beyond even a long double's range: what strtod gives for it (infinity
    /// or zero of its sign), which only a score range's ends take.
    Huge(f64),
}

/// The decimal exponent range of an x87 long double (about 3.4e-4951 to 1.2e4932).
const LONG_DOUBLE_EXP10: std::ops::RangeInclusive<f64> = -4950.5..=4932.07;

/// Reads `text` as `strtod` does, refusing what Redis always refuses (anything left over, a
/// leading space, NaN); the callers decide about text beyond a double's range.
fn read_float(text: &[u8]) -> Option<Float> {
    let s = std::str::from_utf8(text).ok()?;
    let negative = s.starts_with('-');
    let unsigned = s.strip_prefix(['+', '-']).unwrap_or(s);
    if unsigned.eq_ignore_ascii_case("inf") || unsigned.eq_ignore_ascii_case("infinity") {
        return Some(Float::Infinite(if negative {
            f64::NEG_INFINITY
        } else {
            f64::INFINITY
        }));
    }
    if let Some(hex) = unsigned
        .strip_prefix("0x")
        .or_else(|| unsigned.strip_prefix("0X"))
    {
        return read_hex_float(hex, negative);
    }
    // Rust's float syntax is strtod's decimal one, but for the words handled above (and
    // NaN, refused here); a leading sign is allowed once.
    if !unsigned.starts_with(|c: char| c.is_ascii_digit() || c == '.') {
        return None;
    }
    let f: f64 = s.parse().ok()?;
    let (mantissa, exponent) = match unsigned.find(['e', 'E']) {
        Some(i) => (
            &unsigned[..i],
            unsigned[i + 1..].parse::<i64>().unwrap_or(0),
        ),
        None => (unsigned, 0),
    };
    let nonzero = mantissa.bytes().any(|b| matches!(b, b'1'..=b'9'));
    if f.is_infinite() || (f == 0.0 && nonzero) {
        // The text's decimal magnitude: exponent plus the digits before the point.
        let digits = mantissa.trim_start_matches(['0', '.']);
        let int_digits = mantissa.split('.').next().unwrap_or_default();
        let int_digits = int_digits.trim_start_matches('0').len() as f64;
        let leading_zeros = if int_digits > 0.0 {
            0.0
        } else {
            mantissa
                .split('.')
                .nth(1)
                .map_or(0, |frac| frac.len() - frac.trim_start_matches('0').len())
                as f64
        };
        let magnitude = exponent as f64 + int_digits - 1.0 - leading_zeros;
        if digits.is_empty() {
            return None;
        }
        if !LONG_DOUBLE_EXP10.contains(&magnitude) {
            return Some(Float::Huge(f));
        }
        return Some(beyond_double(f, negative));
    }
    Some(Float::Finite(f))
}

/// A value a double cannot hold (`f`, as strtod gave it, is infinite or zero): past its
/// range, or below its smallest subnormal.
fn beyond_double(f: f64, negative: bool) -> Float {
    if f.is_infinite() {
        Float::Overflow(negative)
    } else {
        Float::Underflow(negative)
    }
}

/// The binary exponent range of an x87 long double.
const LONG_DOUBLE_EXP2: std::ops::RangeInclusive<i64> = -16445..=16384;

/// strtod's hexadecimal form after its `0x`: hex digits with an optional point, then an
/// optional binary exponent `p[+-]digits`; at least one digit.
fn read_hex_float(hex: &str, negative: bool) -> Option<Float> {
    let (digits, exponent) = match hex.find(['p', 'P']) {
        Some(i) => (&hex[..i], hex[i + 1..].parse::<i32>().ok()?),
        None => (hex, 0),
    };
    let (int, frac) = digits.split_once('.').unwrap_or((digits, ""));
    if int.is_empty() && frac.is_empty() {
        return None;
    }
    let mut mantissa: u128 = 0;
    let mut shift: i64 = i64::from(exponent);
    for (i, c) in int.chars().chain(frac.chars()).enumerate() {
        let d = u128::from(c.to_digit(16)?);
        if mantissa >> 120 == 0 {
            mantissa = mantissa * 16 + d;
            if i >= int.len() {
                shift -= 4;
            }
        } else if i < int.len() {
            // Digits past what the mantissa holds only scale it.
            shift += 4;
        }
    }
    let mut f = mantissa as f64;
    // The power of two just above the value.
    let magnitude = shift + i64::from(128 - mantissa.leading_zeros());
    let mut shift = shift.clamp(-20_000, 20_000);
    while shift != 0 {
        let step = shift.clamp(-1000, 1000);
        f *= 2f64.powi(i32::try_from(step).ok()?);
        shift -= step;
    }
    let f = if negative { -f } else { f };
    if mantissa != 0 && (f.is_infinite() || f == 0.0) {
        if !LONG_DOUBLE_EXP2.contains(&magnitude) {
            return Some(Float::Huge(f));
        }
        return Some(beyond_double(f, negative));
    }
    Some(Float::Finite(f))
}

/// Formats a float as Redis does for replies: shortest round-trip form, `inf`/`-inf`.
///
/// # Examples
///
/// ```
/// use ziggydb::commands::format_float;
/// assert_eq!(format_float(1.0), "1");
/// assert_eq!(format_float(0.1), "0.1");
/// assert_eq!(format_float(f64::INFINITY), "inf");
/// ```
pub fn format_float(f: f64) -> String {
    if f.is_infinite() {
        return if f > 0.0 { "inf".into() } else { "-inf".into() };
    }
    if f == f.trunc() && f.abs() < 1e17 {
        return format!("{}", f as i64);
    }
    format!("{f}")
}

/// `a + b` as `INCRBYFLOAT` adds: Redis reads both as `long double`, adds, and prints the
/// sum with 17 digits after the point, so `0.1 + 0.2` is `0.3`, where a double sum is
/// `0.30000000000000004`. Here the two shortest decimal forms are added exactly, the sum is
/// rounded to 17 digits after the point, and the nearest double to that is the result. A
/// non-finite operand adds as doubles do.
pub(crate) fn add_as_decimals(a: f64, b: f64) -> f64 {
    if !a.is_finite() || !b.is_finite() {
        return a + b;
    }
    let (a_neg, a_digits, a_k) = decimal_parts(a);
    let (b_neg, b_digits, b_k) = decimal_parts(b);
    let k = a_k.min(b_k);
    // Both as little-endian digit vectors scaled to 10^k (at most ~650 digits for doubles).
    let scale = |digits: &[u8], own_k: i64| -> Vec<u8> {
        let mut v = vec![0u8; usize::try_from(own_k - k).unwrap_or(0)];
        v.extend(digits.iter().rev());
        v
    };
    let (x, y) = (scale(&a_digits, a_k), scale(&b_digits, b_k));
    let (mut negative, mut sum) = if a_neg == b_neg {
        (a_neg, add_digits(&x, &y))
    } else if cmp_digits(&x, &y) != std::cmp::Ordering::Less {
        (a_neg, sub_digits(&x, &y))
    } else {
        (b_neg, sub_digits(&y, &x))
    };
    // Round to 17 digits after the point (half to even), as `%.17Lf` prints.
    let mut k = k;
    if k < -17 {
        let drop = usize::try_from(-17 - k).unwrap_or(0);
        let (low, high) = sum.split_at(drop.min(sum.len()));
        let mut kept = high.to_vec();
        let half = match low.last() {
            None => std::cmp::Ordering::Less,
            Some(&top) => match top.cmp(&5) {
                std::cmp::Ordering::Equal if low[..low.len() - 1].iter().any(|&d| d != 0) => {
                    std::cmp::Ordering::Greater
                }
                other => other,
            },
        };
        let odd = kept.first().is_some_and(|d| d % 2 == 1);
        if half == std::cmp::Ordering::Greater || (half == std::cmp::Ordering::Equal && odd) {
            kept = add_digits(&kept, &[1]);
        }
        sum = kept;
        k = -17;
    }
    while sum.len() > 1 && sum.last() == Some(&0) {
        sum.pop();
    }
    if sum.iter().all(|&d| d == 0) {
        negative = false;
    }
    let mut text = String::with_capacity(sum.len() + 8);
    if negative {
        text.push('-');
    }
    text.extend(sum.iter().rev().map(|d| char::from(b'0' + d)));
    text.push_str(&format!("e{k}"));
    text.parse().unwrap_or(a + b)
}

/// A finite double's shortest decimal form: (negative, digits most significant first, k),
/// the value being digits × 10^k.
fn decimal_parts(f: f64) -> (bool, Vec<u8>, i64) {
    let sci = format!("{:e}", f.abs());
    let (mantissa, exponent) = sci.split_once('e').unwrap_or((&sci, "0"));
    let digits: Vec<u8> = mantissa
        .bytes()
        .filter(u8::is_ascii_digit)
        .map(|d| d - b'0')
        .collect();
    let e10: i64 = exponent.parse().unwrap_or(0);
    let k = e10 - (digits.len() as i64 - 1);
    (f.is_sign_negative(), digits, k)
}

/// Little-endian decimal digit vectors: `x + y`.
fn add_digits(x: &[u8], y: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(x.len().max(y.len()) + 1);
    let mut carry = 0;
    for i in 0..x.len().max(y.len()) {
        let d = x.get(i).copied().unwrap_or(0) + y.get(i).copied().unwrap_or(0) + carry;
        out.push(d % 10);
        carry = d / 10;
    }
    if carry > 0 {
        out.push(carry);
    }
    out
}

/// Little-endian decimal digit vectors: `x - y`, for `x >= y`.
fn sub_digits(x: &[u8], y: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(x.len());
    let mut borrow = 0;
    for (i, &xd) in x.iter().enumerate() {
        let yd = y.get(i).copied().unwrap_or(0) + borrow;
        if xd >= yd {
            out.push(xd - yd);
            borrow = 0;
        } else {
            out.push(xd + 10 - yd);
            borrow = 1;
        }
    }
    out
}

/// Compares little-endian decimal digit vectors by value.
fn cmp_digits(x: &[u8], y: &[u8]) -> std::cmp::Ordering {
    let significant = |v: &[u8]| v.len() - v.iter().rev().take_while(|&&d| d == 0).count();
    let (lx, ly) = (significant(x), significant(y));
    lx.cmp(&ly)
        .then_with(|| x[..lx].iter().rev().cmp(y[..ly].iter().rev()))
}

/// Formats a score (or any double reply) as Redis 7.2 and later do (`d2string`): an integer
/// within ±2⁶² in decimal digits, any other finite value in its shortest round-trip form,
/// with an exponent once it is far from 1 (`1e+300`, `1.5e-7`... exactly when Redis writes
/// one: at 10⁻⁷ and below, and for an integer of more than 7 digits past its last significant
/// one); `inf`, `-inf`, `nan`, `0` and `-0` as Redis spells them. Redis 7.0 printed 17
/// significant digits instead (`0.10000000000000001`).
///
/// # Examples
///
/// ```
/// use ziggydb::commands::format_score;
/// assert_eq!(format_score(2.5), "2.5");
/// assert_eq!(format_score(0.1), "0.1");
/// assert_eq!(format_score(1e300), "1e+300");
/// assert_eq!(format_score(f64::MAX), "1.7976931348623157e+308");
/// assert_eq!(format_score(1.5e-7), "1.5e-7");
/// assert_eq!(format_score(123456789.0), "123456789");
/// ```
pub fn format_score(f: f64) -> String {
    if f.is_nan() {
        return "nan".into();
    }
    if f.is_infinite() {
        return if f > 0.0 { "inf".into() } else { "-inf".into() };
    }
    if f == 0.0 {
        return if f.is_sign_negative() {
            "-0".into()
        } else {
            "0".into()
        };
    }
    // Redis's double2ll: a value within ±(2^63-1)/2 that is an integer prints as one.
    let half = (i64::MAX / 2) as f64;
    if (-half..=half).contains(&f) && f == f.trunc() {
        return format!("{}", f as i64);
    }
    // The shortest digits, and K: the value is digits × 10^K.
    let sci = format!("{:e}", f.abs());
    let (mantissa, exponent) = sci.split_once('e').unwrap_or((&sci, "0"));
    let digits: String = mantissa.chars().filter(char::is_ascii_digit).collect();
    let e10: i64 = exponent.parse().unwrap_or(0);
    let n = digits.len() as i64;
    let k = e10 - (n - 1);
    let exp = e10.abs();
    let mut out = String::with_capacity(32);
    if f < 0.0 {
        out.push('-');
    }
    if k >= 0 && exp < n + 7 {
        // A plain integer, zeros after the digits.
        out.push_str(&digits);
        out.extend(std::iter::repeat_n('0', k as usize));
    } else if k < 0 && (k > -7 || exp < 4) {
        // A decimal without an exponent.
        let point = n + k;
        if point <= 0 {
            out.push_str("0.");
            out.extend(std::iter::repeat_n('0', (-point) as usize));
            out.push_str(&digits);
        } else {
            out.push_str(&digits[..point as usize]);
            out.push('.');
            out.push_str(&digits[point as usize..]);
        }
    } else {
        out.push_str(&digits[..1]);
        if n > 1 {
            out.push('.');
            out.push_str(&digits[1..]);
        }
        out.push('e');
        out.push(if e10 < 0 { '-' } else { '+' });
        out.push_str(&exp.to_string());
    }
    out
}

pub(crate) fn validate_json(text: &str) -> Result<()> {
    serde_json::from_str::<serde::de::IgnoredAny>(text)
        .map(|_| ())
        .map_err(|e| Error::InvalidJson(e.to_string()))
}

impl From<&[u8]> for Value {
    fn from(v: &[u8]) -> Self {
        Value::Bytes(v.to_vec())
    }
}
impl<const N: usize> From<&[u8; N]> for Value {
    fn from(v: &[u8; N]) -> Self {
        Value::Bytes(v.to_vec())
    }
}
impl From<Vec<u8>> for Value {
    fn from(v: Vec<u8>) -> Self {
        Value::Bytes(v)
    }
}
impl From<&str> for Value {
    fn from(v: &str) -> Self {
        Value::String(v.to_owned())
    }
}
impl From<String> for Value {
    fn from(v: String) -> Self {
        Value::String(v)
    }
}
impl From<i64> for Value {
    fn from(v: i64) -> Self {
        Value::Int(v)
    }
}
impl From<f64> for Value {
    fn from(v: f64) -> Self {
        Value::Float(v)
    }
}
impl From<bool> for Value {
    fn from(v: bool) -> Self {
        Value::Bool(v)
    }
}

/// A value read from the database, borrowed zero-copy from the segment map.
///
/// The bytes stay valid for as long as the guard lives, also if another process compacts the
/// database meanwhile: published records are never rewritten, and a segment that compaction
/// deletes stays mapped until the last guard on it is dropped (format-spec.md §7).
#[derive(Clone)]
pub struct ValueRef {
    pub(crate) ty: ValueType,
    pub(crate) map: Arc<SegmentMap>,
    pub(crate) start: usize,
    pub(crate) len: usize,
}

impl ValueRef {
    /// The stored type.
    ///
    /// # Examples
    ///
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// # let db = ziggydb::Db::open(dir.path().join("db"))?;
    /// use ziggydb::ValueType;
    /// db.set(b"n", 1i64)?;
    /// assert_eq!(db.get(b"n")?.unwrap().value_type(), ValueType::Int);
    /// # Ok::<(), ziggydb::Error>(())
    /// ```
    pub fn value_type(&self) -> ValueType {
        self.ty
    }

    /// The payload bytes as stored (for bytes and strings, the value itself).
    ///
    /// # Examples
    ///
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// # let db = ziggydb::Db::open(dir.path().join("db"))?;
    /// db.set(b"k", "hello")?;
    /// let v = db.get(b"k")?.unwrap();
    /// assert_eq!(v.as_bytes(), b"hello");
    /// # Ok::<(), ziggydb::Error>(())
    /// ```
    pub fn as_bytes(&self) -> &[u8] {
        // The range was bounds-checked against the map when the guard was made.
        self.map.slice(self.start, self.len).unwrap_or(&[])
    }

    /// Decodes into an owned [`Value`](crate::Value).
    ///
    /// # Errors
    /// [`Error::InvalidArgument`](crate::Error::InvalidArgument) if the payload does not decode for its type (only possible
    /// for a record whose checksum matched but whose content is invalid).
    ///
    /// # Examples
    ///
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// # let db = ziggydb::Db::open(dir.path().join("db"))?;
    /// use ziggydb::Value;
    /// db.set(b"n", 3i64)?;
    /// assert_eq!(db.get(b"n")?.unwrap().to_value()?, Value::Int(3));
    /// # Ok::<(), ziggydb::Error>(())
    /// ```
    pub fn to_value(&self) -> Result<Value> {
        Value::decode_payload(self.ty, self.as_bytes())
    }

    /// The value as Redis `GET` returns it, borrowed from the map for bytes, strings and
    /// JSON (no copy, whatever the size) and formatted for the other types, as
    /// [`Value::to_redis_bytes`](crate::Value::to_redis_bytes) does: the command layer's
    /// `GET`.
    ///
    /// # Errors
    /// As [`ValueRef::to_value`], for a type that is formatted.
    pub(crate) fn redis_bytes(&self) -> Result<std::borrow::Cow<'_, [u8]>> {
        use std::borrow::Cow;
        Ok(match self.ty {
            ValueType::Bytes | ValueType::String | ValueType::Json => {
                Cow::Borrowed(self.as_bytes())
            }
            _ => Cow::Owned(self.to_value()?.to_redis_bytes()),
        })
    }
}

impl fmt::Debug for ValueRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ValueRef")
            .field("type", &self.ty)
            .field("len", &self.len)
            .finish()
    }
}

impl std::ops::Deref for ValueRef {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        self.as_bytes()
    }
}

#[cfg(test)]
mod number_tests {
    use super::{add_as_decimals, format_score, parse_float, parse_int, parse_long_double};

    #[test]
    fn scores_print_as_redis_7_2_prints_them() {
        for (value, want) in [
            (0.0, "0"),
            (-0.0, "-0"),
            (f64::NAN, "nan"),
            (f64::INFINITY, "inf"),
            (f64::NEG_INFINITY, "-inf"),
            (2.5, "2.5"),
            (-0.25, "-0.25"),
            (0.1, "0.1"),
            (1.0 / 3.0, "0.3333333333333333"),
            (123_456_789.0, "123456789"),
            (1e18, "1000000000000000000"),
            (-1e18, "-1000000000000000000"),
            // Past ±(2^63-1)/2 Redis stops printing integers digit by digit.
            (5e18, "5e+18"),
            (1.2345678901234568e20, "123456789012345680000"),
            (1.5e25, "1.5e+25"),
            (1e300, "1e+300"),
            (f64::MAX, "1.7976931348623157e+308"),
            (-f64::MAX, "-1.7976931348623157e+308"),
            (1e-6, "0.000001"),
            (0.001234, "0.001234"),
            (1e-7, "1e-7"),
            (1.5e-7, "1.5e-7"),
            (1.234e-5, "1.234e-5"),
            (1.2345678, "1.2345678"),
            (12345.6789012, "1.23456789012e+4"),
            (5e-324, "5e-324"),
        ] {
            assert_eq!(format_score(value), want, "{value:e}");
            if value.is_finite() {
                assert_eq!(format_score(value).parse::<f64>().ok(), Some(value));
            }
        }
    }

    #[test]
    fn float_increments_add_as_decimals_as_redis_long_doubles_do() {
        for (a, b, want) in [
            (0.1, 0.2, 0.3),
            (0.3, -0.1, 0.2),
            (10.5, 0.1, 10.6),
            (1.5, -3.25, -1.75),
            (-0.1, 0.1, 0.0),
            (0.0, 1e-20, 0.0),
            (0.0, 5e-324, 0.0),
            (0.0, 1.5e-17, 0.00000000000000002),
            (1e300, 1.0, 1e300),
            (1e17, 0.5, 1e17),
            (-2.0, -0.7, -2.7),
            (f64::MAX, f64::MAX, f64::INFINITY),
        ] {
            let sum = add_as_decimals(a, b);
            assert_eq!(
                sum.to_bits(),
                want.to_bits(),
                "{a} + {b} = {sum}, wanted {want}"
            );
        }
        assert_ne!(
            (0.1 + 0.2_f64).to_bits(),
            0.3_f64.to_bits(),
            "the case that matters"
        );
    }

    #[test]
    fn integers_read_as_string2ll_reads_them() {
        for (text, want) in [
            (&b"0"[..], Some(0)),
            (b"-12", Some(-12)),
            (b"9223372036854775807", Some(i64::MAX)),
            (b"-9223372036854775808", Some(i64::MIN)),
            (b"9223372036854775808", None),
            (b"+1", None),
            (b"-0", None),
            (b"01", None),
            (b" 1", None),
            (b"1 ", None),
            (b"", None),
            (b"-", None),
            (b"1.0", None),
        ] {
            assert_eq!(parse_int(text), want, "{:?}", String::from_utf8_lossy(text));
        }
    }

    /// What redis-server 7.0 answers for each text as a `ZADD` score (a double) and as an
    /// `INCRBYFLOAT` increment (a long double; `inf` here stands for "beyond a double").
    #[test]
    fn floats_read_as_strtod_reads_them_in_a_double_and_a_long_double() {
        let inf = f64::INFINITY;
        for (text, double, long_double) in [
            ("1.5", Some(1.5), Some(1.5)),
            ("+5", Some(5.0), Some(5.0)),
            ("5.", Some(5.0), Some(5.0)),
            (".5", Some(0.5), Some(0.5)),
            ("1e3", Some(1000.0), Some(1000.0)),
            ("0x10", Some(16.0), Some(16.0)),
            ("0X1P4", Some(16.0), Some(16.0)),
            ("0x1p-2", Some(0.25), Some(0.25)),
            ("-0x1.8p1", Some(-3.0), Some(-3.0)),
            ("0x.8", Some(0.5), Some(0.5)),
            ("inf", Some(inf), Some(inf)),
            ("INF", Some(inf), Some(inf)),
            ("-Infinity", Some(-inf), Some(-inf)),
            ("1e-310", Some(1e-310), Some(1e-310)),
            // Beyond a double, within a long double.
            ("1e400", None, Some(inf)),
            ("-1e400", None, Some(-inf)),
            ("1e-400", None, Some(0.0)),
            // Beyond a long double too.
            ("1e5000", None, None),
            ("0x1p99999", None, None),
            ("nan", None, None),
            ("0x", None, None),
            ("1e", None, None),
            (".e1", None, None),
            ("+", None, None),
            ("", None, None),
            (" 5", None, None),
            ("5 ", None, None),
            ("1_0", None, None),
            ("++5", None, None),
        ] {
            assert_eq!(parse_float(text.as_bytes()), double, "{text} as a double");
            assert_eq!(
                parse_long_double(text.as_bytes()),
                long_double,
                "{text} as a long double"
            );
        }
    }
}
