//! The command layer's parser (`ziggydb::commands::parse`: the table's lookup and arity
//! check, then each command's argument parsing) on arbitrary arguments. Parsing either gives
//! a command or an error reply; it never panics, and an error reply is one line with an
//! upper-case code (how the CLI prints replies is tested in the `ziggy` binary's own tests).
//!
//! The first byte picks a command of the table (so that every parser is reached), or, when
//! it is past the table, the rest of the input is a command line split as `ziggy` splits
//! one (possibly no arguments at all). Otherwise the rest is the arguments, separated by NUL
//! bytes.
use ziggydb::commands::{self, split_line, Reply};

fn args_of(data: &[u8]) -> Option<Vec<Vec<u8>>> {
    let (&pick, rest) = data.split_first()?;
    let specs: Vec<_> = commands::all().collect();
    match specs.get(usize::from(pick)) {
        Some(spec) => {
            let mut args = vec![spec.name.as_bytes().to_vec()];
            if !rest.is_empty() {
                args.extend(rest.split(|&b| b == 0).map(<[u8]>::to_vec));
            }
            Some(args)
        }
        None => split_line(rest).ok(),
    }
}

fn check_reply(reply: &Reply) {
    let Reply::Error(text) = reply else {
        panic!("a failed parse replied {reply:?}");
    };
    assert!(
        !text.contains(['\r', '\n']),
        "error reply on two lines: {text:?}"
    );
    let code = text.split(' ').next().unwrap_or_default();
    assert!(
        !code.is_empty() && code.bytes().all(|b| b.is_ascii_uppercase()),
        "error reply without an upper-case code: {text:?}"
    );
}

pub fn fuzz(data: &[u8]) {
    let Some(owned) = args_of(data) else {
        return;
    };
    let args = commands::as_args(&owned);
    if let Err(reply) = commands::parse(&args) {
        check_reply(&reply);
    }
}
