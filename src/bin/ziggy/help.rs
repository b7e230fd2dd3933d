//! `HELP`, answered by `ziggy` itself from the command table, as redis-cli answers it.

use std::fmt::Write as _;

use ziggydb::commands::{all, lookup, CommandSpec, Group};

/// Words the shell answers itself, without the database; completed like commands.
pub const LOCAL_COMMANDS: &[&str] = &["HELP", "CLEAR", "QUIT", "EXIT"];

/// Help as redis-cli gives it: `help` (short: how to get help, and the groups), `help @group`
/// (the group's commands), `help @all` (every command by group) or `help COMMAND` (its
/// syntax, summary and group).
pub fn help_text(topic: Option<&[u8]>) -> String {
    let mut text = String::new();
    let groups: Vec<String> = Group::ALL
        .iter()
        .map(|g| format!("@{}", g.name()))
        .collect();
    let Some(topic) = topic else {
        text.push_str(concat!(
            "ziggy ",
            env!("CARGO_PKG_VERSION"),
            "\n",
            "To get help about ZiggyDB commands type:\n",
            "      \"help @<group>\" to get a list of commands in <group>\n",
            "      \"help <command>\" for help on <command>\n",
            "      \"help <tab>\" to get a list of possible help topics\n",
            "      \"help @all\" to list every command\n",
            "      \"quit\" to exit\n",
            "\n",
            "To set ziggy preferences:\n",
            "      \":set hints\" enable online hints\n",
            "      \":set nohints\" disable online hints\n",
            "\n",
            "Groups:",
        ));
        for group in &groups {
            text.push(' ');
            text.push_str(group);
        }
        text.push('\n');
        return text;
    };
    if topic.eq_ignore_ascii_case(b"@all") {
        let width = all().map(|c| c.name.len()).max().unwrap_or(0);
        for group in Group::ALL {
            let _ = writeln!(text, "\n@{}", group.name());
            for spec in all().filter(|c| c.group == group) {
                let _ = writeln!(text, "  {:width$}  {}", spec.name, spec.summary);
            }
        }
        return text;
    }
    if let Some(name) = topic.strip_prefix(b"@") {
        let Some(group) = Group::from_name(name) else {
            return format!(
                "no command group named '@{}'; the groups are {} (and @all)\n",
                String::from_utf8_lossy(name),
                groups.join(" ")
            );
        };
        for spec in all().filter(|c| c.group == group) {
            write_command_help(&mut text, spec, false);
        }
        return text;
    }
    match lookup(topic) {
        Some(spec) => write_command_help(&mut text, spec, true),
        None => {
            let _ = write!(
                text,
                "no command named '{}'",
                String::from_utf8_lossy(topic)
            );
            match suggest(topic).as_slice() {
                [] => {}
                names => {
                    let _ = write!(text, "; did you mean {}?", names.join(" or "));
                }
            }
            let _ = writeln!(text, "; type help @all for the list");
        }
    }
    text
}

/// Shows `text` through `$PAGER` (run by `sh -c`, as git and man run it) or, without one,
/// `less -FRX` (which quits at once when the text fits on the screen and leaves it there),
/// as redis-cli users expect of a long list on a terminal. The pager quitting before it read
/// everything is not an error.
///
/// # Errors
/// If the pager cannot be started: the caller then prints the text itself.
pub fn page(text: &str) -> std::io::Result<()> {
    use std::io::Write as _;
    use std::process::{Command, Stdio};
    let mut child = match std::env::var("PAGER") {
        Ok(pager) if !pager.trim().is_empty() => Command::new("sh")
            .arg("-c")
            .arg(pager)
            .stdin(Stdio::piped())
            .spawn()?,
        _ => Command::new("less")
            .arg("-FRX")
            .stdin(Stdio::piped())
            .spawn()?,
    };
    if let Some(mut stdin) = child.stdin.take() {
        let _ = stdin.write_all(text.as_bytes());
    }
    child.wait()?;
    Ok(())
}

/// The commands whose names are closest to `name` (at most two edits away, one for a name of
/// three letters or less; case ignored): those at the least distance, at most three, what
/// "did you mean" offers for a mistyped command.
pub fn suggest(name: &[u8]) -> Vec<&'static str> {
    let name = name.to_ascii_uppercase();
    let limit = if name.len() <= 3 { 1 } else { 2 };
    let mut near: Vec<(usize, &'static str)> = all()
        .map(|spec| spec.name)
        .chain(LOCAL_COMMANDS.iter().copied())
        .filter_map(|candidate| {
            let d = edit_distance(&name, candidate.as_bytes());
            (d <= limit).then_some((d, candidate))
        })
        .collect();
    near.sort();
    near.dedup_by_key(|(_, n)| *n);
    let closest = near.first().map_or(0, |(d, _)| *d);
    near.into_iter()
        .take_while(|(d, _)| *d == closest)
        .take(3)
        .map(|(_, n)| n)
        .collect()
}

/// Levenshtein distance (insertions, deletions, substitutions), with adjacent swaps counted as
/// one edit (`GTE` for `GET`).
fn edit_distance(a: &[u8], b: &[u8]) -> usize {
    let mut prev2: Vec<usize> = Vec::new();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for i in 1..=a.len() {
        let mut cur = vec![i; b.len() + 1];
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            cur[j] = (prev[j] + 1).min(cur[j - 1] + 1).min(prev[j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                cur[j] = cur[j].min(prev2[j - 2] + 1);
            }
        }
        prev2 = std::mem::replace(&mut prev, cur);
    }
    prev[b.len()]
}

/// One command's help, laid out as redis-cli lays it out.
fn write_command_help(text: &mut String, spec: &CommandSpec, with_group: bool) {
    let sep = if spec.syntax.is_empty() { "" } else { " " };
    let _ = write!(
        text,
        "\n  {}{sep}{}\n  summary: {}\n",
        spec.name, spec.syntax, spec.summary
    );
    if with_group {
        let _ = writeln!(text, "  group: {}", spec.group.name());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn help_lists_syntax_and_summary() {
        assert_eq!(
            help_text(Some(b"incrby")),
            "\n  INCRBY key increment\n  summary: Add to the integer at a key\n  group: string\n"
        );
        let short = help_text(None);
        assert!(short.lines().count() < 20, "{short}");
        assert!(
            short.contains(" @server") && !short.contains("DBSIZE"),
            "{short}"
        );
        let all = help_text(Some(b"@all"));
        assert!(all.contains("\n@server\n"), "{all}");
        assert!(all.contains("\n  DBSIZE "), "{all}");
        assert!(all.contains("Count the keys\n"), "{all}");
        assert!(help_text(Some(b"nope")).starts_with("no command named 'nope'"));
        assert_eq!(
            help_text(Some(b"gett")),
            "no command named 'gett'; did you mean GET?; type help @all for the list\n"
        );
    }

    #[test]
    fn a_mistyped_command_gets_the_nearest_names() {
        assert_eq!(suggest(b"GTE"), ["GET"]);
        assert_eq!(suggest(b"zadd"), ["ZADD"]);
        assert_eq!(suggest(b"hgetal"), ["HGETALL"]);
        assert_eq!(suggest(b"lrnage"), ["LRANGE"]);
        assert!(suggest(b"frobnicate").is_empty());
        assert_eq!(suggest(b"SETT"), ["SET"]);
        assert_eq!(suggest(b"HSTE"), ["HSET"]);
    }

    #[test]
    fn help_for_a_group_lists_its_commands_only() {
        let list = help_text(Some(b"@LIST"));
        assert!(list.starts_with("\n  LPUSH key element [element ...]\n  summary: "));
        assert!(list.contains("\n  LRANGE "));
        assert!(!list.contains("SADD") && !list.contains("group:"), "{list}");
        let zsets = help_text(Some(b"@sorted-set"));
        assert!(zsets.contains("\n  ZADD ") && !zsets.contains("HSET"));
        assert!(help_text(Some(b"@nope")).starts_with("no command group named '@nope'"));
        for group in Group::ALL {
            assert!(all().any(|c| c.group == group), "{} is empty", group.name());
        }
    }
}
