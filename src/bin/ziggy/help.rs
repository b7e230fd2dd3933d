//! `HELP`, answered by `ziggy` itself from the command table, as redis-cli answers it.

use std::fmt::Write as _;

use ziggydb::commands::{all, lookup, CommandSpec, Group};

/// Words the shell answers itself, without the database; completed like commands.
pub const LOCAL_COMMANDS: &[&str] = &["HELP", "CLEAR", "QUIT", "EXIT"];

/// Help as redis-cli gives it: `help` (how to get help, then every command by group),
/// `help @group` (the group's commands) or `help COMMAND` (its syntax, summary and group).
pub fn help_text(topic: Option<&[u8]>) -> String {
    let mut text = String::new();
    let Some(topic) = topic else {
        text.push_str(concat!(
            "ziggy ",
            env!("CARGO_PKG_VERSION"),
            "\n",
            "To get help about ZiggyDB commands type:\n",
            "      \"help @<group>\" to get a list of commands in <group>\n",
            "      \"help <command>\" for help on <command>\n",
            "      \"help <tab>\" to get a list of possible help topics\n",
            "      \"quit\" to exit\n",
            "\n",
            "To set ziggy preferences:\n",
            "      \":set hints\" enable online hints\n",
            "      \":set nohints\" disable online hints\n",
        ));
        let width = all().map(|c| c.name.len()).max().unwrap_or(0);
        for group in Group::ALL {
            let _ = writeln!(text, "\n@{}", group.name());
            for spec in all().filter(|c| c.group == group) {
                let _ = writeln!(text, "  {:width$}  {}", spec.name, spec.summary);
            }
        }
        return text;
    };
    if let Some(name) = topic.strip_prefix(b"@") {
        let Some(group) = Group::from_name(name) else {
            let names: Vec<String> = Group::ALL
                .iter()
                .map(|g| format!("@{}", g.name()))
                .collect();
            return format!(
                "no command group named '@{}'; the groups are {}\n",
                String::from_utf8_lossy(name),
                names.join(" ")
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
            let _ = writeln!(
                text,
                "no command named '{}'; type help for the list",
                String::from_utf8_lossy(topic)
            );
        }
    }
    text
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
        let all = help_text(None);
        assert!(all.contains("\n@server\n"), "{all}");
        assert!(all.contains("\n  DBSIZE "), "{all}");
        assert!(all.contains("Count the keys\n"), "{all}");
        assert!(help_text(Some(b"nope")).starts_with("no command named 'nope'"));
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
