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
}

impl std::fmt::Display for SplitError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SplitError::Unbalanced => f.write_str("Invalid argument(s)"),
            SplitError::OutOfMemory { args } => write!(
                f,
                "ERR not enough memory for the list of the line's {args} arguments"
            ),
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
    fn unbalanced_quotes_are_errors() {
        assert_eq!(split(r#"SET "a"#), Err(SplitError::Unbalanced));
        assert_eq!(split("SET 'a"), Err(SplitError::Unbalanced));
        assert_eq!(split(r#"SET "a\"#), Err(SplitError::Unbalanced));
        assert_eq!(split(r#"SET "a"b"#), Err(SplitError::Unbalanced));
        assert_eq!(split("SET 'a'b"), Err(SplitError::Unbalanced));
        assert_eq!(SplitError::Unbalanced.to_string(), "Invalid argument(s)");
    }
}
