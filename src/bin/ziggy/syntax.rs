//! What the shell reads out of a command's syntax string (see [`CommandSpec::syntax`]): the
//! option keywords it completes, and the hint of the arguments still to type.
//!
//! A syntax string is a sequence of tokens separated by spaces: a placeholder in lower case
//! (`key`, `seconds`), a keyword in upper case (`WITHSCORES`), or a bracketed optional group
//! (`[EX seconds|PX milliseconds]`, `[key ...]`) whose alternatives are separated by `|`.

use ziggydb::commands::{CommandSpec, Kind};

/// The top-level tokens of `syntax`: a bracketed group, with any nested brackets, is one.
fn tokens(syntax: &str) -> Vec<&str> {
    let mut tokens = Vec::new();
    let mut depth = 0usize;
    let mut start = None;
    for (i, c) in syntax.char_indices() {
        match c {
            ' ' if depth == 0 => {
                if let Some(s) = start.take() {
                    tokens.push(&syntax[s..i]);
                }
            }
            _ => {
                if start.is_none() {
                    start = Some(i);
                }
                match c {
                    '[' => depth += 1,
                    ']' => depth = depth.saturating_sub(1),
                    _ => {}
                }
            }
        }
    }
    if let Some(s) = start {
        tokens.push(&syntax[s..]);
    }
    tokens
}

/// True for an option keyword: two or more upper-case letters, digits or `_`, starting
/// with a letter (`NX`, `WITHSCORES`, `PXAT`).
fn is_keyword(word: &str) -> bool {
    word.len() >= 2
        && word.starts_with(|c: char| c.is_ascii_uppercase())
        && word
            .chars()
            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')
}

/// The option keywords of `spec`, in the order its syntax gives them, each once.
pub fn options(spec: &CommandSpec) -> Vec<&'static str> {
    let mut found: Vec<&'static str> = Vec::new();
    for word in spec
        .syntax
        .split([' ', '[', ']', '|'])
        .filter(|w| is_keyword(w))
    {
        if !found.contains(&word) {
            found.push(word);
        }
    }
    found
}

/// True if some argument of `spec` names a key, so the shell completes key names there.
pub fn takes_keys(spec: &CommandSpec) -> bool {
    spec.kind != Kind::Admin
        && spec
            .syntax
            .split(|c: char| !(c.is_ascii_alphanumeric() || c == '-'))
            .any(|w| w.contains("key") || w == "source" || w == "destination")
}

/// For an optional token `[A x|B|c ...]`: its alternatives, each split into words.
fn alternatives(token: &str) -> Vec<Vec<&str>> {
    let inner = token
        .strip_prefix('[')
        .and_then(|t| t.strip_suffix(']'))
        .unwrap_or(token);
    inner
        .split('|')
        .map(|alt| alt.split(' ').filter(|w| !w.is_empty()).collect())
        .collect()
}

/// True if every alternative of an optional token starts with a keyword (`[NX|XX]`), so an
/// argument that is not one of them does not fill it.
fn is_keyword_group(token: &str) -> bool {
    token.starts_with('[')
        && alternatives(token)
            .iter()
            .all(|alt| alt.first().is_some_and(|w| is_keyword(w)))
}

/// The syntax of the arguments still to type after `typed` (the arguments after the
/// command name), as redis-cli hints it: required arguments are used up in order, an
/// option keyword uses up its group and the values it takes, a repeated group (`[key ...]`)
/// stays. Empty when nothing is left to suggest.
pub fn remaining(spec: &CommandSpec, typed: &[&[u8]]) -> String {
    let mut toks = tokens(spec.syntax);
    let mut i = 0;
    // Values still owed to the last keyword typed (`EX` takes `seconds`).
    let mut owed: Vec<&str> = Vec::new();
    for arg in typed {
        if !owed.is_empty() {
            owed.remove(0);
            continue;
        }
        // An option keyword typed anywhere from here on uses up its group.
        let keyword = toks.iter().enumerate().skip(i).find_map(|(j, tok)| {
            if !tok.starts_with('[') {
                return None;
            }
            alternatives(tok).into_iter().find_map(|alt| {
                let first = alt.first()?;
                (is_keyword(first) && first.as_bytes().eq_ignore_ascii_case(arg))
                    .then(|| (j, alt[1..].to_vec()))
            })
        });
        if let Some((j, takes)) = keyword {
            if !toks[j].contains("...") {
                toks.remove(j);
            }
            owed = takes;
            continue;
        }
        // Otherwise the argument fills the next positional token.
        while toks.get(i).is_some_and(|t| is_keyword_group(t)) {
            i += 1;
        }
        match toks.get(i) {
            Some(tok) if tok.contains("...") && tok.starts_with('[') => {}
            Some(_) => i += 1,
            None => break,
        }
    }
    // The values the last keyword still needs come first (`EX` → `seconds`).
    owed.extend(toks.get(i..).unwrap_or_default());
    owed.join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use ziggydb::commands::lookup;

    fn spec(name: &str) -> &'static CommandSpec {
        lookup(name.as_bytes()).expect("a command in the table")
    }

    fn rest(name: &str, typed: &[&str]) -> String {
        let typed: Vec<&[u8]> = typed.iter().map(|a| a.as_bytes()).collect();
        remaining(spec(name), &typed)
    }

    #[test]
    fn tokens_keep_bracketed_groups_whole() {
        assert_eq!(
            tokens("key [EX seconds|PX ms] [key ...]"),
            ["key", "[EX seconds|PX ms]", "[key ...]"]
        );
        assert_eq!(tokens(""), Vec::<&str>::new());
        assert_eq!(tokens("[a [b c]] d"), ["[a [b c]]", "d"]);
    }

    #[test]
    fn options_are_the_upper_case_keywords() {
        assert_eq!(
            options(spec("SET")),
            ["NX", "XX", "GET", "EX", "PX", "EXAT", "PXAT", "KEEPTTL", "TYPE"]
        );
        assert_eq!(options(spec("SCAN")), ["MATCH", "COUNT", "TYPE"]);
        assert!(options(spec("ZRANGE")).contains(&"WITHSCORES"));
        assert!(options(spec("ZRANGE")).contains(&"BYSCORE"));
        assert!(options(spec("ZRANGE")).contains(&"LIMIT"));
        assert!(options(spec("GET")).is_empty());
    }

    #[test]
    fn commands_with_key_arguments_are_known() {
        for name in [
            "GET",
            "DEL",
            "RENAME",
            "COPY",
            "SINTERSTORE",
            "ZADD",
            "HGETALL",
        ] {
            assert!(takes_keys(spec(name)), "{name}");
        }
        for name in ["PING", "ECHO", "INFO", "DBSIZE", "BACKUP", "MULTI"] {
            assert!(!takes_keys(spec(name)), "{name}");
        }
    }

    #[test]
    fn remaining_uses_up_what_is_typed() {
        assert_eq!(rest("GET", &[]), "key");
        assert_eq!(rest("GET", &["k"]), "");
        assert!(rest("SET", &["k"]).starts_with("value [NX|XX] [GET] [EX seconds|"));
        assert!(rest("SET", &["k", "v"]).starts_with("[NX|XX] [GET]"));
        assert!(rest("SET", &["k", "v", "nx"]).starts_with("[GET] [EX"));
        let during_ex = rest("SET", &["k", "v", "ex"]);
        assert!(
            during_ex.starts_with("seconds [NX|XX] [GET] [TYPE"),
            "{during_ex}"
        );
        assert_eq!(
            rest("ZRANGE", &["z", "0", "1", "LIMIT"]),
            "offset count [BYSCORE|BYLEX] [REV] [WITHSCORES]"
        );
        assert_eq!(
            rest("ZRANGE", &["z", "0", "1", "LIMIT", "0"]),
            "count [BYSCORE|BYLEX] [REV] [WITHSCORES]"
        );
        let after_ex = rest("SET", &["k", "v", "EX", "10"]);
        assert!(after_ex.starts_with("[NX|XX] [GET] [TYPE"), "{after_ex}");
        assert_eq!(rest("DEL", &["a"]), "[key ...]");
        assert_eq!(rest("DEL", &["a", "b", "c"]), "[key ...]");
        assert_eq!(rest("INCRBY", &["k"]), "increment");
        assert_eq!(
            rest("SCAN", &["0", "COUNT", "5"]),
            "[MATCH pattern] [TYPE type]"
        );
        assert_eq!(rest("ZADD", &["z", "1"]), "member [score member ...]");
        assert_eq!(
            rest("ZADD", &["z", "NX", "CH"]),
            "[GT|LT] [INCR] score member [score member ...]"
        );
    }
}
