//! The command-line splitter (`ziggydb::commands::split_line`, redis-cli's `sdssplitargs`):
//! any line either splits or is refused, without a panic; and a line made by quoting the
//! arguments it split into splits back into the same arguments.
use ziggydb::commands as split;

/// `arg` in double quotes, every byte outside printable ASCII as `\xHH`.
fn quote(arg: &[u8]) -> Vec<u8> {
    let mut out = vec![b'"'];
    for &b in arg {
        match b {
            b'"' | b'\\' => out.extend_from_slice(&[b'\\', b]),
            0x20..=0x7e => out.push(b),
            _ => out.extend_from_slice(format!("\\x{b:02x}").as_bytes()),
        }
    }
    out.push(b'"');
    out
}

/// One input.
pub fn fuzz(line: &[u8]) {
    let Ok(args) = split::split_line(line) else {
        return;
    };
    let mut again = Vec::new();
    for arg in &args {
        again.extend_from_slice(&quote(arg));
        again.push(b' ');
    }
    assert_eq!(split::split_line(&again), Ok(args), "requoted: {again:?}");
}
