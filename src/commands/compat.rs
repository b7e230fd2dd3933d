//! The README's table of compatibility with Redis, generated from the command table and the
//! checked-in list of Redis 7's commands (`redis_commands.txt`), so that it cannot drift:
//! a command added to the table is listed as supported the next time it is generated, and a
//! test compares the README with [`compatibility_table`].

use crate::commands::table::{all, lookup};

/// The list of Redis 7's commands with their notes (see the file's header).
const REDIS_COMMANDS: &str = include_str!("redis_commands.txt");

/// One command of Redis 7, with Redis's group and the note on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RedisCommand {
    /// Redis's group (`COMMAND DOCS`): `string`, `sorted-set`, `geo`...
    pub group: &'static str,
    /// The name, in upper case.
    pub name: &'static str,
    /// How ZiggyDB differs, or why it lacks the command; empty if nothing needs saying.
    pub note: &'static str,
}

/// The entries of `redis_commands.txt`: each command (name `*` for a note on its group, `!`
/// for one shown only while none of the group's commands is built).
fn entries() -> impl Iterator<Item = RedisCommand> {
    REDIS_COMMANDS
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .filter_map(|line| {
            let (head, note) = line.split_once(" | ").unwrap_or((line, ""));
            let (group, name) = head.trim().split_once(' ')?;
            Some(RedisCommand {
                group,
                name: name.trim(),
                note: note.trim(),
            })
        })
}

/// Every command of Redis 7.0, by Redis's group, with ZiggyDB's note on it.
///
/// # Examples
///
/// ```
/// let all: Vec<_> = ziggydb::commands::redis_commands().collect();
/// assert_eq!(all.len(), 240);
/// assert!(all.iter().any(|c| c.name == "XADD" && c.group == "stream"));
/// ```
pub fn redis_commands() -> impl Iterator<Item = RedisCommand> {
    entries().filter(|c| c.name != "*" && c.name != "!")
}

/// Redis's groups, in the order the table lists them.
fn groups() -> Vec<&'static str> {
    let mut out: Vec<&'static str> = Vec::new();
    for c in entries() {
        if !out.contains(&c.group) {
            out.push(c.group);
        }
    }
    out
}

/// Text for a Markdown table cell: no line breaks, `|` escaped.
fn cell(text: &str) -> String {
    text.replace('|', "\\|").replace(['\r', '\n'], " ")
}

/// The compatibility table as Markdown: per Redis group what ZiggyDB has and lacks, with
/// the group's note; then every command ZiggyDB has that differs, and every one it lacks
/// with a note of its own; then ZiggyDB's own commands. What the README holds between
/// `<!-- compat:begin -->` and `<!-- compat:end -->`.
///
/// # Examples
///
/// ```
/// let table = ziggydb::commands::compatibility_table();
/// assert!(table.contains("| sorted-set |"));
/// assert!(table.contains("GETTYPE"));
/// ```
pub fn compatibility_table() -> String {
    let has = |name: &str| lookup(name.as_bytes()).is_some();
    let commands: Vec<RedisCommand> = redis_commands().collect();
    let mut out = String::new();
    out.push_str(
        "Generated from the command table and `src/commands/redis_commands.txt` (Redis 7.0's \
         240 commands): do not edit by hand. After adding a command, regenerate it with\n\
         `ZIGGY_REGENERATE=1 cargo nextest run --test it -E 'test(compatibility_table)'`.\n\n",
    );
    let total = commands.iter().filter(|c| has(c.name)).count();
    out.push_str(&format!(
        "ZiggyDB has {total} of Redis 7's {} commands.\n\n",
        commands.len()
    ));
    out.push_str("| Redis group | ZiggyDB has | Not built | Notes |\n|---|---|---|---|\n");
    for group in groups() {
        let of: Vec<&RedisCommand> = commands.iter().filter(|c| c.group == group).collect();
        let built = of.iter().filter(|c| has(c.name)).count();
        let missing: Vec<&str> = of.iter().filter(|c| !has(c.name)).map(|c| c.name).collect();
        let note_for = |name: &str| {
            entries()
                .find(|c| c.group == group && c.name == name)
                .map(|c| c.note)
        };
        let note = match note_for("!") {
            Some(note) if built == 0 => note,
            _ => note_for("*").unwrap_or(""),
        };
        out.push_str(&format!(
            "| {group} | {built} of {} | {} | {} |\n",
            of.len(),
            if missing.is_empty() {
                "—".to_owned()
            } else {
                missing.join(", ")
            },
            cell(note)
        ));
    }
    out.push_str("\n**Commands ZiggyDB has that differ from Redis's**\n\n");
    out.push_str("| Command | Group | How it differs, and why |\n|---|---|---|\n");
    for c in commands
        .iter()
        .filter(|c| has(c.name) && !c.note.is_empty())
    {
        out.push_str(&format!(
            "| {} | {} | {} |\n",
            c.name,
            c.group,
            cell(c.note)
        ));
    }
    out.push_str(
        "\n**Commands not built, with a note of their own** (the others: see their group)\n\n",
    );
    out.push_str("| Command | Group | Why, or what to use |\n|---|---|---|\n");
    for c in commands
        .iter()
        .filter(|c| !has(c.name) && !c.note.is_empty())
    {
        out.push_str(&format!(
            "| {} | {} | {} |\n",
            c.name,
            c.group,
            cell(c.note)
        ));
    }
    out.push_str("\n**ZiggyDB's own commands**\n\n| Command | What it does |\n|---|---|\n");
    for spec in all().filter(|s| !commands.iter().any(|c| c.name == s.name)) {
        out.push_str(&format!("| {} | {} |\n", spec.name, cell(spec.summary)));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_group_has_a_note_and_every_line_parses() {
        let lines = REDIS_COMMANDS
            .lines()
            .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
            .count();
        assert_eq!(lines, entries().count(), "a line that does not parse");
        for group in groups() {
            assert!(
                entries().any(|c| c.group == group
                    && (c.name == "*" || c.name == "!")
                    && !c.note.is_empty()),
                "{group} has no note"
            );
        }
        let mut names: Vec<&str> = redis_commands().map(|c| c.name).collect();
        names.sort_unstable();
        let n = names.len();
        names.dedup();
        assert_eq!(n, names.len(), "a command listed twice");
    }

    #[test]
    fn the_table_follows_the_command_table() {
        let table = compatibility_table();
        // SORT is built: not among the string group's missing commands, and a row of the
        // differences; GEOADD is not.
        let generic = table
            .lines()
            .find(|l| l.starts_with("| generic |"))
            .expect("a generic row");
        assert!(
            !generic.contains("SORT") && generic.contains("MIGRATE"),
            "{generic}"
        );
        assert!(table.contains("| SORT | generic |"));
        let geo = table
            .lines()
            .find(|l| l.starts_with("| geo |"))
            .expect("a geo row");
        assert!(
            geo.contains("| 0 of 10 |") && geo.contains("GEOADD"),
            "{geo}"
        );
        assert!(table.contains("| BEGIN |"), "ZiggyDB's own commands");
        assert!(!table.contains("| GET |  |"));
    }
}
