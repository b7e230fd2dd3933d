//! Splits a command line into arguments exactly as redis-cli does (its `sdssplitargs`).
//!
//! Arguments are separated by whitespace. `"double quotes"` take the escapes `\n \r \t \b \a`,
//! `\xHH` and a backslash before any other character; `'single quotes'` take only `\'`. A
//! quote may start in the middle of an argument (`a"b c"` is `ab c`), but a closing quote must
//! be followed by whitespace or the end of the line.

/// Why a line could not be split.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum SplitError {
    /// An unterminated quote, or a closing quote followed by something other than
    /// whitespace. redis-cli reports both as `Invalid argument(s)`.
    Unbalanced,
    /// The list of where the line's arguments are (16 bytes each) could not be allocated.
    OutOfMemory {
        /// How many arguments the line has.
        args: usize,
    },
    /// A line of 4 GiB or more, which [`split_packed`] does not take.
    TooLong,
}

impl std::fmt::Display for SplitError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SplitError::Unbalanced => f.write_str("Invalid argument(s)"),
            SplitError::OutOfMemory { args } => write!(
                f,
                "ERR not enough memory for the list of the line's {args} arguments"
            ),
            SplitError::TooLong => f.write_str("ERR a line of 4 GiB or more cannot be packed"),
        }
    }
}

impl std::error::Error for SplitError {}

/// C's `isspace` in the "C" locale: the blanks skipped between arguments.
fn is_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | b'\r' | 0x0b | 0x0c)
}

fn hex_value(b: u8) -> Option<u8> {
    char::from(b)
        .to_digit(16)
        .and_then(|d| u8::try_from(d).ok())
}

/// Splits `line` into arguments; an empty or blank line gives no arguments.
///
/// # Errors
/// [`SplitError`]: unbalanced quotes, or no memory for the arguments.
pub fn split_line(line: &[u8]) -> Result<Vec<Vec<u8>>, SplitError> {
    let mut copy = line.to_vec();
    let args = split_in_place(&mut copy)?;
    Ok(args
        .into_iter()
        .map(|(start, end)| copy[start..end].to_vec())
        .collect())
}

/// The arguments as slices, as the commands take them.
pub fn as_args(args: &[Vec<u8>]) -> Vec<&[u8]> {
    args.iter().map(Vec::as_slice).collect()
}

/// A command's arguments packed one after another in one buffer, with where each ends: 4
/// bytes an argument beside the bytes, where a list of slices takes 16. Argument `i` is
/// `bytes[ends[i - 1]..ends[i]]` (the first starts at 0). What [`split_packed`] makes of a
/// line, and what [`Session::execute_packed`](crate::commands::Session::execute_packed)
/// runs: a front end that reads a request into one buffer (a script line, a RESP
/// multibulk request copied out of its framing) hands it on without a slice an argument.
#[derive(Debug, Clone, Copy)]
pub struct PackedArgs<'a> {
    bytes: &'a [u8],
    ends: &'a [u32],
}

impl<'a> PackedArgs<'a> {
    /// The arguments `ends` marks in `bytes`; `None` unless `ends` never decreases and its
    /// last entry is within `bytes`.
    pub fn new(bytes: &'a [u8], ends: &'a [u32]) -> Option<Self> {
        let mut prev = 0u32;
        for &end in ends {
            if end < prev {
                return None;
            }
            prev = end;
        }
        (prev as usize <= bytes.len()).then_some(PackedArgs { bytes, ends })
    }

    /// How many arguments there are.
    pub fn len(&self) -> usize {
        self.ends.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.ends.is_empty()
    }

    /// Argument `i`.
    pub fn get(&self, i: usize) -> Option<&'a [u8]> {
        let end = *self.ends.get(i)? as usize;
        let start = match i.checked_sub(1) {
            Some(p) => self.ends[p] as usize,
            None => 0,
        };
        self.bytes.get(start..end)
    }

    /// The arguments in order.
    pub fn iter(&self) -> PackedIter<'a> {
        PackedIter {
            bytes: self.bytes,
            ends: self.ends.iter(),
            start: 0,
        }
    }

    /// The arguments from `i` on (none if `i` is past the end).
    pub fn skip(&self, i: usize) -> PackedIter<'a> {
        let start = match i.checked_sub(1) {
            Some(p) => self.ends.get(p).map_or(0, |&e| e as usize),
            None => 0,
        };
        PackedIter {
            bytes: self.bytes,
            ends: self.ends.get(i..).unwrap_or_default().iter(),
            start,
        }
    }

    /// The arguments as slices, as [`Session::execute`](crate::commands::Session::execute)
    /// takes them; the list is allocated once at its size.
    ///
    /// # Errors
    /// [`SplitError::OutOfMemory`] when the list cannot be allocated.
    pub fn to_slices(&self) -> Result<Vec<&'a [u8]>, SplitError> {
        let mut args = Vec::new();
        args.try_reserve_exact(self.len())
            .map_err(|_| SplitError::OutOfMemory { args: self.len() })?;
        args.extend(self.iter());
        Ok(args)
    }
}

/// The arguments of a [`PackedArgs`], in order.
#[derive(Debug, Clone)]
pub struct PackedIter<'a> {
    bytes: &'a [u8],
    ends: std::slice::Iter<'a, u32>,
    start: usize,
}

impl<'a> Iterator for PackedIter<'a> {
    type Item = &'a [u8];

    fn next(&mut self) -> Option<&'a [u8]> {
        let end = *self.ends.next()? as usize;
        let start = std::mem::replace(&mut self.start, end);
        // Checked by `PackedArgs::new`: never empty in place of an argument.
        Some(self.bytes.get(start..end).unwrap_or_default())
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        self.ends.size_hint()
    }
}

impl ExactSizeIterator for PackedIter<'_> {}

/// Splits `line` as [`split_in_place`] does and returns where each argument ends: the
/// arguments are written over the line one after another from its start (as
/// [`PackedArgs::new`]`(line, &ends)` reads them), and the list takes 4 bytes an argument
/// rather than 16.
///
/// # Errors
/// [`SplitError::Unbalanced`] on unbalanced quotes (`line` is then as it was);
/// [`SplitError::OutOfMemory`] when the list cannot be allocated;
/// [`SplitError::TooLong`] for a line of 4 GiB or more (split it with [`split_in_place`]).
pub fn split_packed(line: &mut [u8]) -> Result<Vec<u32>, SplitError> {
    if u32::try_from(line.len()).is_err() {
        return Err(SplitError::TooLong);
    }
    let mut count = 0;
    split_each(line, false, |_, _| count += 1)?;
    let mut ends = Vec::new();
    ends.try_reserve_exact(count)
        .map_err(|_| SplitError::OutOfMemory { args: count })?;
    // Each argument starts where the one before it ended; the ends fit, as the line does.
    split_each(line, true, |_, end| {
        ends.push(u32::try_from(end).unwrap_or(u32::MAX));
    })?;
    Ok(ends)
}

/// The first argument of `line` as written, if it is written plainly (no quote in it): then
/// it is exactly the first argument [`split_line`] finds, without splitting the line. A
/// front end can choose from it how to split (`ziggy` packs an `MGET` or `EXISTS` line with
/// [`split_packed`], and splits others with [`split_in_place`]).
///
/// # Examples
///
/// ```
/// use ziggydb::commands::plain_command_name;
/// assert_eq!(plain_command_name(b"  mget a b"), Some(&b"mget"[..]));
/// assert_eq!(plain_command_name(b"EXISTS"), Some(&b"EXISTS"[..]));
/// assert_eq!(plain_command_name(br#""MGET" a"#), None);
/// assert_eq!(plain_command_name(b" \t"), None);
/// ```
pub fn plain_command_name(line: &[u8]) -> Option<&[u8]> {
    let start = line.iter().position(|&b| !is_space(b))?;
    let rest = line.get(start..)?;
    // Only these end an argument (the blanks skipped before one are more).
    let len = rest
        .iter()
        .position(|&b| matches!(b, b' ' | b'\n' | b'\r' | b'\t'))
        .unwrap_or(rest.len());
    let name = rest.get(..len)?;
    (!name.iter().any(|&b| b == b'"' || b == b'\'')).then_some(name)
}

/// Writes `b` at `line[*w]` (if `write`) and moves `w` on.
fn put(line: &mut [u8], w: &mut usize, b: u8, write: bool) {
    if write {
        line[*w] = b;
    }
    *w += 1;
}

/// Splits `line` into arguments as [`split_line`] does, writing each argument with its
/// quotes and escapes undone over the line itself (an argument is never longer than the text
/// it was read from), and returns where each one is: `line[start..end]`. One buffer and 16
/// bytes an argument, rather than a vector for each.
///
/// # Errors
/// [`SplitError::Unbalanced`] on unbalanced quotes (`line` is then as it was);
/// [`SplitError::OutOfMemory`] when the list of the arguments cannot be allocated.
pub fn split_in_place(line: &mut [u8]) -> Result<Vec<(usize, usize)>, SplitError> {
    // Counted first, without writing, so that the list of a line of a million arguments is
    // allocated once at its size rather than grown by doubling (which holds the old list
    // and one twice its size at once, 1.5 times the list at the end). The split reads each
    // byte before any write reaches it, so both passes find the same arguments.
    let mut count = 0;
    split_each(line, false, |_, _| count += 1)?;
    let mut args = Vec::new();
    args.try_reserve_exact(count)
        .map_err(|_| SplitError::OutOfMemory { args: count })?;
    split_each(line, true, |start, end| args.push((start, end)))?;
    Ok(args)
}

/// Splits `line`, handing `arg` where each argument is; writes the arguments over the line
/// only if `write`.
fn split_each(
    line: &mut [u8],
    write: bool,
    mut arg: impl FnMut(usize, usize),
) -> Result<(), SplitError> {
    // Read at `i`, written at `w`: `w <= i` throughout.
    let mut i = 0;
    let mut w = 0;
    loop {
        while i < line.len() && is_space(line[i]) {
            i += 1;
        }
        if i == line.len() {
            return Ok(());
        }
        let start = w;
        let mut in_double = false;
        let mut in_single = false;
        loop {
            let c = line.get(i).copied();
            let next = line.get(i + 1).copied();
            // A closing quote must end the argument.
            let closes_ok = next.is_none_or(is_space);
            if in_double {
                match c {
                    None => return Err(SplitError::Unbalanced),
                    Some(b'\\') if next == Some(b'x') => {
                        let hi = line.get(i + 2).copied().and_then(hex_value);
                        let lo = line.get(i + 3).copied().and_then(hex_value);
                        if let (Some(hi), Some(lo)) = (hi, lo) {
                            put(line, &mut w, hi * 16 + lo, write);
                            i += 3;
                        } else {
                            put(line, &mut w, b'x', write);
                            i += 1;
                        }
                    }
                    Some(b'\\') if next.is_some() => {
                        i += 1;
                        put(
                            line,
                            &mut w,
                            match next.unwrap_or_default() {
                                b'n' => b'\n',
                                b'r' => b'\r',
                                b't' => b'\t',
                                b'b' => 0x08,
                                b'a' => 0x07,
                                other => other,
                            },
                            write,
                        );
                    }
                    Some(b'"') => {
                        if !closes_ok {
                            return Err(SplitError::Unbalanced);
                        }
                        i += 1;
                        break;
                    }
                    Some(other) => put(line, &mut w, other, write),
                }
            } else if in_single {
                match c {
                    None => return Err(SplitError::Unbalanced),
                    Some(b'\\') if next == Some(b'\'') => {
                        put(line, &mut w, b'\'', write);
                        i += 1;
                    }
                    Some(b'\'') => {
                        if !closes_ok {
                            return Err(SplitError::Unbalanced);
                        }
                        i += 1;
                        break;
                    }
                    Some(other) => put(line, &mut w, other, write),
                }
            } else {
                match c {
                    // Unlike the blanks skipped before an argument, only these end one.
                    None | Some(b' ' | b'\n' | b'\r' | b'\t') => break,
                    Some(b'"') => in_double = true,
                    Some(b'\'') => in_single = true,
                    Some(other) => put(line, &mut w, other, write),
                }
            }
            i += 1;
        }
        arg(start, w);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn split(line: &str) -> Result<Vec<String>, SplitError> {
        Ok(split_line(line.as_bytes())?
            .into_iter()
            .map(|a| String::from_utf8(a).unwrap())
            .collect())
    }

    #[test]
    fn splits_on_whitespace() {
        assert_eq!(split("SET  a\t1 ").unwrap(), ["SET", "a", "1"]);
        assert_eq!(split("").unwrap(), Vec::<String>::new());
        assert_eq!(split(" \t \r").unwrap(), Vec::<String>::new());
        assert_eq!(split("GET a\r").unwrap(), ["GET", "a"]);
    }

    #[test]
    fn double_quotes_take_escapes() {
        assert_eq!(
            split(r#"SET "a b" "x\ny\t\"\\""#).unwrap(),
            ["SET", "a b", "x\ny\t\"\\"]
        );
        assert_eq!(split(r#""\r\b\a\q""#).unwrap(), ["\r\u{8}\u{7}q"]);
        assert_eq!(
            split_line(br#""\x41\xff\x4""#).unwrap(),
            [b"A\xffx4".to_vec()]
        );
        assert_eq!(split(r#""""#).unwrap(), [""]);
    }

    #[test]
    fn single_quotes_take_only_escaped_quote() {
        assert_eq!(split(r"'it\'s' '\n\x'").unwrap(), ["it's", r"\n\x"]);
        // A backslash before the closing quote escapes it.
        assert_eq!(split(r"'a\'"), Err(SplitError::Unbalanced));
        assert_eq!(split("'a \"b\"'").unwrap(), ["a \"b\""]);
    }

    #[test]
    fn quotes_may_start_mid_argument() {
        assert_eq!(split(r#"a"b c" d'e f'"#).unwrap(), ["ab c", "de f"]);
    }

    #[test]
    fn in_place_arguments_are_where_the_ranges_say() {
        let mut line = br#"SET  "a b\x41" 'c\'d' e"f"  "#.to_vec();
        let ranges = split_in_place(&mut line).unwrap();
        let args: Vec<&[u8]> = ranges.iter().map(|&(s, e)| &line[s..e]).collect();
        assert_eq!(args, [&b"SET"[..], b"a bA", b"c'd", b"ef"]);
    }

    #[test]
    fn in_place_split_allocates_its_list_once_and_leaves_a_bad_line_alone() {
        let mut line = br#"MGET a "b c" 'd' e\x41 "f\x41""#.to_vec();
        let ranges = split_in_place(&mut line).unwrap();
        assert_eq!(ranges.capacity(), ranges.len());
        let args: Vec<&[u8]> = ranges.iter().map(|&(s, e)| &line[s..e]).collect();
        assert_eq!(args, [&b"MGET"[..], b"a", b"b c", b"d", b"e\\x41", b"fA"]);
        let mut many = b"EXISTS".to_vec();
        for i in 0..1000 {
            many.extend_from_slice(format!(" key{i}").as_bytes());
        }
        let ranges = split_in_place(&mut many).unwrap();
        assert_eq!((ranges.len(), ranges.capacity()), (1001, 1001));
        let mut bad = br#"SET "a\x41" "unterminated"#.to_vec();
        let before = bad.clone();
        assert_eq!(split_in_place(&mut bad), Err(SplitError::Unbalanced));
        assert_eq!(bad, before);
    }

    #[test]
    fn a_packed_split_finds_the_arguments_split_line_finds() {
        for line in [
            r#"SET  "a b\x41" 'c\'d' e"f"  "#,
            "MGET a b c",
            "",
            "   ",
            r#""" '' x"#,
            "GET a\r",
        ] {
            let mut bytes = line.as_bytes().to_vec();
            let ends = split_packed(&mut bytes).unwrap();
            assert_eq!(ends.capacity(), ends.len(), "{line:?}");
            let args = PackedArgs::new(&bytes, &ends).unwrap();
            let want = split_line(line.as_bytes()).unwrap();
            assert_eq!(args.len(), want.len());
            assert_eq!(args.is_empty(), want.is_empty());
            assert_eq!(args.iter().collect::<Vec<_>>(), as_args(&want), "{line:?}");
            assert_eq!(args.iter().len(), want.len());
            assert_eq!(args.to_slices().unwrap(), as_args(&want));
            for (i, arg) in want.iter().enumerate() {
                assert_eq!(args.get(i), Some(&arg[..]));
                assert_eq!(args.skip(i).collect::<Vec<_>>(), as_args(&want[i..]));
                assert_eq!(args.skip(i).len(), want.len() - i);
            }
            assert_eq!(args.get(want.len()), None);
            assert_eq!(args.skip(want.len() + 1).count(), 0);
        }
        let mut bad = br#"MGET "a\x41" "unterminated"#.to_vec();
        let before = bad.clone();
        assert_eq!(split_packed(&mut bad), Err(SplitError::Unbalanced));
        assert_eq!(bad, before);
    }

    #[test]
    fn packed_arguments_must_lie_within_their_bytes_in_order() {
        let bytes = b"GETab";
        let args = PackedArgs::new(bytes, &[3, 4, 4, 5]).unwrap();
        assert_eq!(
            args.iter().collect::<Vec<_>>(),
            [&b"GET"[..], b"a", b"", b"b"]
        );
        assert!(
            PackedArgs::new(bytes, &[3, 2]).is_none(),
            "an end before the one before"
        );
        assert!(
            PackedArgs::new(bytes, &[3, 6]).is_none(),
            "an end beyond the bytes"
        );
        assert!(PackedArgs::new(bytes, &[]).unwrap().is_empty());
        assert_eq!(
            SplitError::TooLong.to_string(),
            "ERR a line of 4 GiB or more cannot be packed"
        );
    }

    #[test]
    fn a_plain_command_name_is_the_first_argument_split_line_finds() {
        for line in [
            "MGET a b",
            "  exists\tx",
            "\x0b\x0cGET",
            "SET\ra",
            "PING",
            "a\"b c\"",
            "'x' y",
            "",
            " ",
            "M\\x41 b",
        ] {
            let split = split_line(line.as_bytes()).unwrap();
            match plain_command_name(line.as_bytes()) {
                Some(name) => assert_eq!(Some(name), split.first().map(Vec::as_slice), "{line:?}"),
                None => assert!(
                    split.is_empty()
                        || line
                            .trim_start()
                            .split(' ')
                            .next()
                            .unwrap()
                            .contains(['"', '\'']),
                    "{line:?}"
                ),
            }
        }
        assert_eq!(plain_command_name(b"\x0b\x0cGET x"), Some(&b"GET"[..]));
    }

    #[test]
    fn unbalanced_quotes_are_errors() {
        assert_eq!(split(r#"SET "a"#), Err(SplitError::Unbalanced));
        assert_eq!(split("SET 'a"), Err(SplitError::Unbalanced));
        assert_eq!(split(r#"SET "a\"#), Err(SplitError::Unbalanced));
        assert_eq!(split(r#"SET "a"b"#), Err(SplitError::Unbalanced));
        assert_eq!(split("SET 'a'b"), Err(SplitError::Unbalanced));
        assert_eq!(SplitError::Unbalanced.to_string(), "Invalid argument(s)");
    }
}
