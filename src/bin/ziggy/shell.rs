//! The interactive shell: a rustyline prompt naming the database directory, `(TX)` while a
//! transaction is open; history kept across runs; tab completion of command names, of the
//! options of the command being typed and of key names; hints of the arguments still to
//! type, as redis-cli gives them.

use std::borrow::Cow;
use std::io::{self, IsTerminal};
use std::path::{Path, PathBuf};

use rustyline::completion::{Completer, Pair};
use rustyline::error::ReadlineError;
use rustyline::highlight::Highlighter;
use rustyline::hint::Hinter;
use rustyline::history::FileHistory;
use rustyline::validate::Validator;
use rustyline::{Context, Editor, Helper};
use ziggydb::commands::{self, as_args, lookup, split_line, Group, Session};
use ziggydb::Db;

use crate::help::LOCAL_COMMANDS;
use crate::print::write_repr;
use crate::repl::{self, repeat_count, run_line, Outcome};
use crate::syntax;

/// At most this many keys are offered for one completion; the scan stops there.
const MAX_KEY_CANDIDATES: usize = 100;
/// Scan pages read at most to find them.
const MAX_KEY_PAGES: usize = 64;

/// The prompt's name for the database: the directory's last component.
fn db_name(dir: &Path) -> String {
    let dir = std::fs::canonicalize(dir).unwrap_or_else(|_| dir.to_path_buf());
    dir.file_name()
        .unwrap_or(dir.as_os_str())
        .to_string_lossy()
        .into_owned()
}

/// Where the history is kept, as redis-cli finds `~/.rediscli_history`: `$ZIGGY_HISTFILE` if
/// set and not empty (`/dev/null`: nowhere), else `~/.ziggy_history`; nowhere without a home.
pub fn history_path(histfile: Option<&std::ffi::OsStr>, home: Option<&Path>) -> Option<PathBuf> {
    match histfile.filter(|p| !p.is_empty()) {
        Some(path) if path == "/dev/null" => None,
        Some(path) => Some(PathBuf::from(path)),
        None => home
            .filter(|h| !h.as_os_str().is_empty())
            .map(|h| h.join(".ziggy_history")),
    }
}

/// Completion, hints and hint colouring for the prompt.
pub struct ShellHelper {
    /// Where key names are completed from (none when `ziggy` is a server's client).
    db: Option<Db>,
    /// `:set hints` / `:set nohints`.
    pub hints: bool,
    /// Colour the hints (only when standard output is a terminal).
    color: bool,
}

impl ShellHelper {
    pub fn new(db: Option<Db>, color: bool) -> Self {
        ShellHelper {
            db,
            hints: true,
            color,
        }
    }

    /// Up to [`MAX_KEY_CANDIDATES`] keys starting with `prefix`, in key order (from at most
    /// [`MAX_KEY_PAGES`] scan pages).
    fn keys_with_prefix(&self, prefix: &[u8]) -> Vec<Vec<u8>> {
        let Some(db) = &self.db else {
            return Vec::new();
        };
        let mut pattern = Vec::with_capacity(prefix.len() + 1);
        for &b in prefix {
            if matches!(b, b'*' | b'?' | b'[' | b']' | b'\\') {
                pattern.push(b'\\');
            }
            pattern.push(b);
        }
        pattern.push(b'*');
        // A scan page looks at a bounded number of slots; a few pages find the candidates
        // in any but a huge database, and completion never takes long.
        let mut found = Vec::new();
        let mut cursor = 0;
        for _ in 0..MAX_KEY_PAGES {
            match db.scan(cursor, MAX_KEY_CANDIDATES, Some(&pattern), None) {
                Ok((keys, next)) => {
                    found.extend(keys);
                    cursor = next;
                }
                // Completion is a convenience: a read error shows no candidates.
                Err(_) => return Vec::new(),
            }
            if cursor == 0 || found.len() >= MAX_KEY_CANDIDATES {
                break;
            }
        }
        found.sort();
        found.truncate(MAX_KEY_CANDIDATES);
        found
    }
}

/// `word` with the case of `typed`: lower case if `typed` has a lower-case letter.
fn in_case_of(typed: &str, word: &str) -> String {
    if typed.chars().any(|c| c.is_ascii_lowercase()) {
        word.to_ascii_lowercase()
    } else {
        word.to_owned()
    }
}

fn starts_with_ignore_case(word: &str, prefix: &str) -> bool {
    word.len() >= prefix.len()
        && word.as_bytes()[..prefix.len()].eq_ignore_ascii_case(prefix.as_bytes())
}

/// A key as it must be typed: as it is if the splitter reads it back unchanged, otherwise
/// in double quotes with escapes.
fn key_as_typed(key: &[u8]) -> Option<String> {
    let plain = !key.is_empty()
        && key
            .iter()
            .all(|&b| b.is_ascii_graphic() && !matches!(b, b'"' | b'\'' | b'\\'));
    if plain {
        return String::from_utf8(key.to_vec()).ok();
    }
    let mut quoted = Vec::new();
    write_repr(&mut quoted, key);
    String::from_utf8(quoted).ok()
}

/// The words before the one being typed, and where that one starts. `None` if the line so
/// far cannot be split (an open quote).
fn words_before(line: &str, pos: usize) -> Option<(Vec<Vec<u8>>, usize)> {
    let head = line.get(..pos)?;
    let start = head
        .rfind(|c: char| c.is_ascii_whitespace())
        .map_or(0, |i| i + 1);
    let words = split_line(&head.as_bytes()[..start]).ok()?;
    Some((words, start))
}

/// `words` without a leading repeat count (`5 INCR x`).
fn without_count<'a>(words: &'a [&'a [u8]]) -> &'a [&'a [u8]] {
    match words {
        // A lone number is a count too while the command after it is being typed.
        [only] if only.iter().all(u8::is_ascii_digit) && !only.is_empty() => &[],
        _ => repeat_count(words).map_or(words, |(_, rest)| rest),
    }
}

impl Completer for ShellHelper {
    type Candidate = Pair;

    fn complete(
        &self,
        line: &str,
        pos: usize,
        _ctx: &Context<'_>,
    ) -> rustyline::Result<(usize, Vec<Pair>)> {
        let Some((words, start)) = words_before(line, pos) else {
            return Ok((pos, Vec::new()));
        };
        let typed = &line[start..pos];
        let words = as_args(&words);
        let words = without_count(&words);
        let pair = |text: String| Pair {
            display: text.clone(),
            replacement: text,
        };
        let Some(name) = words.first() else {
            // The command name.
            let names = commands::all()
                .map(|c| c.name)
                .chain(LOCAL_COMMANDS.iter().copied());
            let found = names
                .filter(|n| starts_with_ignore_case(n, typed))
                .map(|n| pair(in_case_of(typed, n)))
                .collect();
            return Ok((start, found));
        };
        if words.len() == 1 && name.eq_ignore_ascii_case(b"help") {
            // `help <tab>`: a command or a group.
            let topics = commands::all()
                .map(|c| c.name.to_owned())
                .chain(Group::ALL.iter().map(|g| format!("@{}", g.name())));
            let found = topics
                .filter(|t| starts_with_ignore_case(t, typed))
                .map(|t| pair(in_case_of(typed, &t)))
                .collect();
            return Ok((start, found));
        }
        let Some(spec) = lookup(name) else {
            return Ok((start, Vec::new()));
        };
        let mut found: Vec<Pair> = syntax::options(spec)
            .into_iter()
            .filter(|o| starts_with_ignore_case(o, typed))
            .map(|o| pair(in_case_of(typed, o)))
            .collect();
        if syntax::takes_keys(spec) && !typed.starts_with(['"', '\'']) {
            found.extend(
                self.keys_with_prefix(typed.as_bytes())
                    .iter()
                    .filter_map(|k| key_as_typed(k))
                    .map(pair),
            );
        }
        Ok((start, found))
    }
}

impl Hinter for ShellHelper {
    type Hint = String;

    fn hint(&self, line: &str, pos: usize, _ctx: &Context<'_>) -> Option<String> {
        if !self.hints || pos < line.len() {
            return None;
        }
        let words = split_line(line.as_bytes()).ok()?;
        let ends_in_space = line.ends_with(|c: char| c.is_ascii_whitespace());
        let words = as_args(&words);
        let words = without_count(&words);
        let (name, args) = words.split_first()?;
        let spec = lookup(name)?;
        if args.is_empty() && !ends_in_space {
            // The name is typed in full: show the whole syntax after a space.
            return (!spec.syntax.is_empty()).then(|| format!(" {}", spec.syntax));
        }
        let args: Vec<&[u8]> = args.to_vec();
        let rest = syntax::remaining(spec, &args);
        if rest.is_empty() {
            None
        } else if ends_in_space {
            Some(rest)
        } else {
            Some(format!(" {rest}"))
        }
    }
}

impl Highlighter for ShellHelper {
    fn highlight_hint<'h>(&self, hint: &'h str) -> Cow<'h, str> {
        if self.color {
            Cow::Owned(format!("\x1b[90m{hint}\x1b[0m"))
        } else {
            Cow::Borrowed(hint)
        }
    }
}

impl Validator for ShellHelper {}

impl Helper for ShellHelper {}

/// What the shell runs its lines on: a session on a database, or a server's connection.
pub trait Lines {
    /// The prompt to show before the next line.
    fn prompt(&self) -> String;
    /// Runs one line, already split.
    ///
    /// # Errors
    /// If standard output cannot be written.
    fn run_line(&mut self, args: &[&[u8]]) -> io::Result<Outcome>;
}

/// A session on the database in `dir`, with the prompt naming the directory.
struct Embedded<'a> {
    session: &'a mut Session,
    name: String,
    options: repl::Options,
}

impl Lines for Embedded<'_> {
    fn prompt(&self) -> String {
        // As redis-cli: `[n]` for a database other than 0, then `(TX)` in a transaction.
        let db = match self.session.database() {
            0 => String::new(),
            n => format!("[{n}]"),
        };
        if self.session.in_transaction() {
            format!("{}{db}(TX)> ", self.name)
        } else {
            format!("{}{db}> ", self.name)
        }
    }

    fn run_line(&mut self, args: &[&[u8]]) -> io::Result<Outcome> {
        run_line(self.session, self.options, args)
    }
}

/// Reads and runs commands until end of input or `quit`.
///
/// # Errors
/// If the terminal cannot be read or standard output written.
pub fn run(
    session: &mut Session,
    db: Db,
    dir: &Path,
    options: repl::Options,
) -> anyhow::Result<()> {
    let mut lines = Embedded {
        session,
        name: db_name(dir),
        options,
    };
    run_lines(&mut lines, Some(db))
}

/// Reads lines at `lines`'s prompt and runs them until end of input or `quit`, completing
/// key names from `db` if given.
///
/// # Errors
/// If the terminal cannot be read or standard output written.
pub fn run_lines(lines: &mut dyn Lines, db: Option<Db>) -> anyhow::Result<()> {
    repl::set_interactive();
    let color = io::stdout().is_terminal();
    let mut editor: Editor<ShellHelper, FileHistory> = Editor::new()?;
    editor.set_helper(Some(ShellHelper::new(db, color)));
    let home = std::env::var_os("HOME").map(PathBuf::from);
    let history = history_path(
        std::env::var_os("ZIGGY_HISTFILE").as_deref(),
        home.as_deref(),
    );
    if let Some(path) = &history {
        // A missing file is a first run; an unreadable one only costs the old history.
        let _ = editor.load_history(path);
    }
    loop {
        let prompt = lines.prompt();
        let line = match editor.readline(&prompt) {
            Ok(line) => line,
            // Ctrl-C drops the line being typed, as in a shell.
            Err(ReadlineError::Interrupted) => continue,
            Err(ReadlineError::Eof) => return Ok(()),
            Err(e) => return Err(e.into()),
        };
        if line.trim().is_empty() {
            continue;
        }
        // As redis-cli does, every line is kept (also one that cannot be split), and the
        // file is written at once so that a crash or a second shell loses nothing.
        let _ = editor.add_history_entry(line.as_str());
        if let Some(path) = &history {
            if let Err(e) = editor.append_history(path) {
                eprintln!("ziggy: cannot write history to {}: {e}", path.display());
            }
        }
        let args = match split_line(line.as_bytes()) {
            Ok(args) => args,
            Err(e) => {
                repl::print_line(&e.to_string())?;
                continue;
            }
        };
        match lines.run_line(&as_args(&args))? {
            Outcome::Continue => {}
            Outcome::Quit => return Ok(()),
            Outcome::Hints(on) => {
                if let Some(helper) = editor.helper_mut() {
                    helper.hints = on;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rustyline::history::DefaultHistory;

    struct Fixture {
        _dir: tempfile::TempDir,
        helper: ShellHelper,
    }

    fn fixture(keys: &[&[u8]]) -> ziggydb::Result<Fixture> {
        let dir =
            tempfile::tempdir().map_err(|e| ziggydb::Error::InvalidArgument(e.to_string()))?;
        let db = Db::open(dir.path().join("db"))?;
        for key in keys {
            db.set(key, "v")?;
        }
        Ok(Fixture {
            _dir: dir,
            helper: ShellHelper::new(Some(db), false),
        })
    }

    /// The start of the completed word and the replacements offered for `line`.
    fn complete(helper: &ShellHelper, line: &str) -> (usize, Vec<String>) {
        let history = DefaultHistory::new();
        let ctx = Context::new(&history);
        let (start, pairs) = helper.complete(line, line.len(), &ctx).expect("completes");
        (start, pairs.into_iter().map(|p| p.replacement).collect())
    }

    fn hint(helper: &ShellHelper, line: &str) -> Option<String> {
        let history = DefaultHistory::new();
        let ctx = Context::new(&history);
        helper.hint(line, line.len(), &ctx)
    }

    #[test]
    fn completes_command_names_in_any_case() -> ziggydb::Result<()> {
        let f = fixture(&[])?;
        let (start, found) = complete(&f.helper, "ZRANGEBYS");
        assert_eq!((start, found), (0, vec!["ZRANGEBYSCORE".to_owned()]));
        let (_, found) = complete(&f.helper, "getd");
        assert_eq!(found, ["getdel"]);
        let (_, found) = complete(&f.helper, "HGETA");
        assert_eq!(found, ["HGETALL"]);
        let (_, found) = complete(&f.helper, "cle");
        assert_eq!(found, ["clear"]);
        let (start, found) = complete(&f.helper, "3 inc");
        assert_eq!(start, 2);
        assert!(found.contains(&"incrbyfloat".to_owned()), "{found:?}");
        let (_, found) = complete(&f.helper, "help @sor");
        assert_eq!(found, ["@sor".to_owned() + "ted-set"]);
        assert!(complete(&f.helper, "NOPE").1.is_empty());
        Ok(())
    }

    #[test]
    fn completes_options_of_the_command_being_typed() -> ziggydb::Result<()> {
        let f = fixture(&[])?;
        let (start, found) = complete(&f.helper, "ZRANGE z 0 -1 WITHS");
        assert_eq!((start, found), (14, vec!["WITHSCORES".to_owned()]));
        let (_, found) = complete(&f.helper, "set k v ke");
        assert_eq!(found, ["keepttl"]);
        let (_, found) = complete(&f.helper, "SET k v EX");
        assert_eq!(found, ["EX", "EXAT"]);
        let (_, found) = complete(&f.helper, "zrange z 0 -1 by");
        assert_eq!(found, ["byscore", "bylex"]);
        Ok(())
    }

    #[test]
    fn completes_key_names_from_the_database() -> ziggydb::Result<()> {
        let f = fixture(&[
            b"user:1", b"user:2", b"other", b"us*er", b"user 3", b"\xffu",
        ])?;
        let (start, found) = complete(&f.helper, "GET us");
        assert_eq!(start, 4);
        assert_eq!(found, ["us*er", "\"user 3\"", "user:1", "user:2"]);
        let (_, found) = complete(&f.helper, "DEL other us*");
        assert_eq!(found, ["us*er"]);
        // A command without keys offers none.
        assert!(complete(&f.helper, "PING u").1.is_empty());
        let (_, found) = complete(&f.helper, "GET \\xff");
        assert!(found.is_empty());
        let (_, found) = complete(&f.helper, "GET ");
        assert_eq!(found.len(), 6);
        Ok(())
    }

    #[test]
    fn hints_show_the_arguments_still_to_type() -> ziggydb::Result<()> {
        let mut f = fixture(&[])?;
        assert_eq!(hint(&f.helper, "GET").as_deref(), Some(" key"));
        assert_eq!(hint(&f.helper, "get ").as_deref(), Some("key"));
        assert_eq!(hint(&f.helper, "GET k"), None);
        assert_eq!(hint(&f.helper, "INCRBY k").as_deref(), Some(" increment"));
        let set = hint(&f.helper, "SET k v ").unwrap_or_default();
        assert!(set.starts_with("[NX|XX] [GET] [EX seconds|"), "{set}");
        assert_eq!(hint(&f.helper, "5 GET ").as_deref(), Some("key"));
        assert_eq!(hint(&f.helper, "NOPE "), None);
        assert_eq!(hint(&f.helper, "DBSIZE"), None);
        f.helper.hints = false;
        assert_eq!(hint(&f.helper, "GET"), None);
        Ok(())
    }

    #[test]
    fn history_file_is_found_like_redis_clis() {
        let home = Path::new("/home/ann");
        assert_eq!(
            history_path(None, Some(home)),
            Some(PathBuf::from("/home/ann/.ziggy_history"))
        );
        let custom = std::ffi::OsStr::new("/tmp/h");
        assert_eq!(
            history_path(Some(custom), Some(home)),
            Some(PathBuf::from("/tmp/h"))
        );
        let off = std::ffi::OsStr::new("/dev/null");
        assert_eq!(history_path(Some(off), Some(home)), None);
        let empty = std::ffi::OsStr::new("");
        assert_eq!(
            history_path(Some(empty), Some(home)),
            Some(PathBuf::from("/home/ann/.ziggy_history"))
        );
        assert_eq!(history_path(None, None), None);
    }
}
