//! The `ziggy` command parser: the command table's arity check and each command's argument
//! parsing (`src/bin/ziggy/parse.rs` and `collections.rs`) on arbitrary arguments. Parsing
//! either gives a command or an error reply; it never panics, and an error reply is one line
//! that every output format prints (`--json` as valid JSON).
//!
//! The first byte picks a command of the table (so that every parser is reached), or, when
//! it is past the table, the rest of the input is a command line split as `ziggy` splits
//! one. Otherwise the rest is the arguments, separated by NUL bytes.
use crate::commands::{self, Kind};
use crate::parse;
use crate::reply::{Format, Reply};
use crate::split;

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
        None => split::split_line(rest).ok().filter(|a| !a.is_empty()),
    }
}

fn check_reply(reply: &Reply) {
    if let Reply::Error(text) = reply {
        assert!(
            !text.contains(['\r', '\n']),
            "error reply on two lines: {text:?}"
        );
    }
    for format in [Format::Raw, Format::Tty, Format::Json, Format::Csv] {
        let mut out = Vec::new();
        format.write(reply, &mut out);
        if format == Format::Json {
            let text = out.strip_suffix(b"\n").unwrap_or(&out);
            if let Err(e) = serde_json::from_slice::<serde_json::Value>(text) {
                panic!("--json printed {:?}: {e}", String::from_utf8_lossy(&out));
            }
        }
    }
}

/// One input.
pub fn fuzz(data: &[u8]) {
    let Some(owned) = args_of(data) else {
        return;
    };
    let args = split::as_args(&owned);
    let Some(spec) = commands::lookup(args[0]) else {
        check_reply(&commands::unknown_command(&args));
        return;
    };
    if let Err(reply) = commands::check_arity(spec, args.len()) {
        check_reply(&reply);
        return;
    }
    // Control commands (MULTI, EXEC, ...) are the session's, not the parser's.
    if spec.kind == Kind::Control {
        return;
    }
    if let Err(reply) = parse::parse(spec, &args[1..]) {
        check_reply(&reply);
    }
}
