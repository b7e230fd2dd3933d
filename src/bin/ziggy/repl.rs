//! What the shell and pipe mode do with each line, as redis-cli's REPL does: a leading
//! repeat count (`5 INCR x`), the words `ziggy` answers itself (`help`, `clear`, `quit`,
//! `:set hints`), and running a command as many times as asked.

use std::io::{self, IsTerminal, Write};
use std::time::Duration;

use ziggydb::commands::Session;

use crate::print::Format;
use crate::{answer_help, is_quit, run_command};

/// How many times to run a command.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Repeat {
    Times(u64),
    /// Until `ziggy` is stopped (`-r -1`).
    Forever,
}

/// How commands run and print.
#[derive(Debug, Clone, Copy)]
pub struct Options {
    pub format: Format,
    /// The pause after each run of a repeated command (`-i`).
    pub interval: Option<Duration>,
    /// A command given on the command line, whose output is its replies alone.
    pub one_shot: bool,
}

/// What the caller should do after a line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Continue,
    Quit,
    /// `:set hints` (true) or `:set nohints` (false).
    Hints(bool),
}

/// redis-cli's message for a repeat count that is zero, negative or too large.
pub const INVALID_REPEAT: &str = "Invalid ziggy repeat command option value.";

/// Splits a leading repeat count off `args`, read as redis-cli reads it with `strtol`: a
/// first argument made only of an optional sign and digits, followed by a command. `Err` if
/// the count is not positive or does not fit.
pub fn repeat_count<'a>(args: &'a [&'a [u8]]) -> Result<(u64, &'a [&'a [u8]]), ()> {
    let [first, rest @ ..] = args else {
        return Ok((1, args));
    };
    if rest.is_empty() {
        return Ok((1, args));
    }
    // `strtol` reads an empty argument as 0, so `"" GET a` is an invalid count too.
    if first.is_empty() {
        return Err(());
    }
    let digits = first
        .strip_prefix(b"+")
        .or_else(|| first.strip_prefix(b"-"))
        .unwrap_or(first);
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
        return Ok((1, args));
    }
    let count = std::str::from_utf8(first)
        .ok()
        .and_then(|s| s.parse::<i64>().ok())
        .filter(|&n| n > 0)
        .and_then(|n| u64::try_from(n).ok())
        .ok_or(())?;
    Ok((count, rest))
}

/// Runs `args` as often as `repeat` says, pausing `interval` between runs; true if any
/// reply was an error.
///
/// # Errors
/// If standard output cannot be written.
pub fn run_repeated(
    session: &mut Session,
    options: Options,
    args: &[&[u8]],
    repeat: Repeat,
) -> io::Result<bool> {
    let mut failed = false;
    let mut done = 0u64;
    loop {
        if let Repeat::Times(n) = repeat {
            if done >= n {
                return Ok(failed);
            }
        }
        if done > 0 {
            if let Some(pause) = options.interval {
                std::thread::sleep(pause);
            }
        }
        failed |= run_command(session, options, args)?;
        done = done.saturating_add(1);
        // Ctrl-C during a blocking command ends the repetition too.
        if crate::interrupt::take() {
            if interactive() {
                print_line("(interrupted)")?;
            }
            return Ok(failed);
        }
    }
}

/// Whether the interactive shell is running (rather than a script or a one-shot command).
static INTERACTIVE: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Records that the interactive shell runs: Ctrl-C then ends a blocking command only.
pub fn set_interactive() {
    INTERACTIVE.store(true, std::sync::atomic::Ordering::SeqCst);
}

/// See [`set_interactive`].
pub fn interactive() -> bool {
    INTERACTIVE.load(std::sync::atomic::Ordering::SeqCst)
}

/// Handles one line of the shell or of a script, already split into `args`.
///
/// # Errors
/// If standard output cannot be written.
pub fn run_line(session: &mut Session, options: Options, args: &[&[u8]]) -> io::Result<Outcome> {
    run_line_status(session, options, args).map(|(outcome, _)| outcome)
}

/// [`run_line`], also saying whether the command failed (an error reply), for `ziggy -e`.
///
/// # Errors
/// If standard output cannot be written.
pub fn run_line_status(
    session: &mut Session,
    options: Options,
    args: &[&[u8]],
) -> io::Result<(Outcome, bool)> {
    if args.is_empty() {
        return Ok((Outcome::Continue, false));
    }
    let Ok((count, args)) = repeat_count(args) else {
        print_line(INVALID_REPEAT)?;
        return Ok((Outcome::Continue, true));
    };
    if args[0].starts_with(b":") {
        return set_preference(args).map(|o| (o, false));
    }
    if is_quit(args) {
        return Ok((Outcome::Quit, false));
    }
    if answer_help(args)? {
        return Ok((Outcome::Continue, false));
    }
    if args.len() == 1 && args[0].eq_ignore_ascii_case(b"clear") {
        // As linenoise clears the screen: cursor home, erase all. Nothing when piped.
        let mut out = io::stdout().lock();
        if out.is_terminal() {
            out.write_all(b"\x1b[H\x1b[2J")?;
            out.flush()?;
        }
        return Ok((Outcome::Continue, false));
    }
    let failed = run_repeated(session, options, args, Repeat::Times(count))?;
    hint_unknown(args);
    Ok((Outcome::Continue, failed))
}

/// After the error reply to a command that does not exist, the nearest names on standard
/// error (standard output stays as redis-cli's would be): `(did you mean GET?)`.
pub fn hint_unknown(args: &[&[u8]]) {
    let Some(name) = args.first() else {
        return;
    };
    if ziggydb::commands::lookup(name).is_some() {
        return;
    }
    let near = crate::help::suggest(name);
    if !near.is_empty() {
        eprintln!("(did you mean {}?)", near.join(" or "));
    }
}

/// `:set hints` and `:set nohints`, with redis-cli's messages for anything else.
pub fn set_preference(args: &[&[u8]]) -> io::Result<Outcome> {
    let lossy = |a: &[u8]| String::from_utf8_lossy(a).into_owned();
    if args[0].eq_ignore_ascii_case(b":set") && args.len() >= 2 {
        if args[1].eq_ignore_ascii_case(b"hints") {
            return Ok(Outcome::Hints(true));
        }
        if args[1].eq_ignore_ascii_case(b"nohints") {
            return Ok(Outcome::Hints(false));
        }
        print_line(&format!("unknown ziggy preference '{}'", lossy(args[1])))?;
    } else {
        print_line(&format!("unknown ziggy option '{}'", lossy(args[0])))?;
    }
    Ok(Outcome::Continue)
}

/// Prints `text` and a newline, flushed.
pub fn print_line(text: &str) -> io::Result<()> {
    let mut out = crate::group::stdout();
    writeln!(out, "{text}")?;
    out.flush()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args<'a>(words: &[&'a str]) -> Vec<&'a [u8]> {
        words.iter().map(|w| w.as_bytes()).collect()
    }

    #[test]
    fn a_leading_number_before_a_command_repeats_it() {
        let line = args(&["5", "INCR", "x"]);
        assert_eq!(repeat_count(&line), Ok((5, &line[1..])));
        let line = args(&["+2", "PING"]);
        assert_eq!(repeat_count(&line), Ok((2, &line[1..])));
    }

    #[test]
    fn a_number_alone_or_mixed_with_letters_is_a_command() {
        let line = args(&["5"]);
        assert_eq!(repeat_count(&line), Ok((1, &line[..])));
        let line = args(&["5x", "GET"]);
        assert_eq!(repeat_count(&line), Ok((1, &line[..])));
        let line = args(&["-", "GET"]);
        assert_eq!(repeat_count(&line), Ok((1, &line[..])));
    }

    #[test]
    fn counts_that_are_not_positive_or_too_large_are_refused() {
        for bad in ["0", "-3", "", "99999999999999999999"] {
            assert_eq!(repeat_count(&args(&[bad, "INCR", "x"])), Err(()), "{bad}");
        }
    }
}
