//! `ziggy`: a redis-cli-like client for a `ZiggyDB` database directory.
//!
//! `ziggy [OPTIONS] COMMAND [ARG...]` runs one command; without a command it reads commands
//! from standard input, one per line (a script or a co-process), or runs an interactive shell
//! when standard input is a terminal. Replies print as redis-cli prints them.

mod collections;
mod commands;
mod parse;
mod reply;
mod run;
mod shell;
mod split;

use std::ffi::OsString;
use std::io::{self, BufRead, IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context as _;
use clap::{Parser, ValueEnum};
use ziggydb::{Db, Durability};

use crate::commands::Session;
use crate::reply::{Format, Reply};
use crate::split::split_line;

/// Command-line arguments as given.
#[derive(Debug, Parser)]
#[command(
    name = "ziggy",
    version,
    override_usage = "ziggy [OPTIONS] [COMMAND [ARG]...]",
    about = "Run commands against a ZiggyDB database, redis-cli style",
    after_help = "Without COMMAND, commands are read from standard input one per line, or typed \
                  at a prompt when standard input is a terminal."
)]
struct Args {
    /// Database directory (created if missing).
    #[arg(
        short,
        long,
        value_name = "DIR",
        env = "ZIGGY_DIR",
        default_value = "ziggy.db"
    )]
    dir: PathBuf,

    /// When a commit is acknowledged: after fsync (immediate), or at once with fsync at most
    /// 10 ms later (batched).
    #[arg(long, value_enum, default_value_t = DurabilityArg::Immediate)]
    durability: DurabilityArg,

    /// Size of new segment files.
    #[arg(long, value_name = "BYTES")]
    segment_size: Option<u64>,

    /// How long to wait for the writer lock before failing.
    #[arg(long, value_name = "N")]
    lock_timeout_ms: Option<u64>,

    /// Print replies raw, even to a terminal.
    #[arg(long, overrides_with = "no_raw")]
    raw: bool,

    /// Print replies in the terminal format, even to a pipe.
    #[arg(long, overrides_with = "raw")]
    no_raw: bool,

    /// Command to run, with its arguments.
    #[arg(
        value_name = "COMMAND",
        trailing_var_arg = true,
        allow_hyphen_values = true
    )]
    command: Vec<OsString>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum DurabilityArg {
    Immediate,
    Batched,
}

/// Runs `args` (not empty) and prints the reply to standard output, flushing it so that a
/// co-process reading our output sees each reply as soon as its command has run.
///
/// # Errors
/// If standard output cannot be written.
pub fn run_command(session: &mut Session, format: Format, args: &[Vec<u8>]) -> io::Result<Reply> {
    let reply = session.execute(args);
    let mut buf = Vec::new();
    match &reply {
        // As redis-cli does, INFO's text prints as it is (lines end in CRLF), even to a
        // terminal.
        Reply::Bulk(text) if args[0].eq_ignore_ascii_case(b"info") => buf.extend_from_slice(text),
        _ => format.write(&reply, &mut buf),
    }
    let mut out = io::stdout().lock();
    out.write_all(&buf)?;
    out.flush()?;
    Ok(reply)
}

fn main() -> ExitCode {
    let args = Args::parse();
    match run(&args) {
        Ok(code) => code,
        Err(err) if is_broken_pipe(&err) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("ziggy: {err:#}");
            ExitCode::FAILURE
        }
    }
}

fn is_broken_pipe(err: &anyhow::Error) -> bool {
    err.chain().any(|cause| {
        cause
            .downcast_ref::<io::Error>()
            .is_some_and(|e| e.kind() == io::ErrorKind::BrokenPipe)
    })
}

fn run(args: &Args) -> anyhow::Result<ExitCode> {
    let format = if args.raw {
        Format::Raw
    } else if args.no_raw || io::stdout().is_terminal() {
        Format::Tty
    } else {
        Format::Raw
    };
    let command: Vec<Vec<u8>> = args
        .command
        .iter()
        .map(|arg| arg.clone().into_encoded_bytes())
        .collect();
    if !command.is_empty() && answer_help(&command)? {
        return Ok(ExitCode::SUCCESS);
    }
    let db = open(args)?;
    let mut session = Session::new(db);

    let code = if !command.is_empty() {
        let reply = run_command(&mut session, format, &command)?;
        if reply.is_error() {
            ExitCode::FAILURE
        } else {
            ExitCode::SUCCESS
        }
    } else if io::stdin().is_terminal() {
        shell::run(&mut session, &args.dir, format)?;
        ExitCode::SUCCESS
    } else {
        run_script(&mut session, format)?;
        ExitCode::SUCCESS
    };
    if let Some(warning) = session.pending_warning() {
        eprintln!("ziggy: {warning}");
    }
    Ok(code)
}

fn open(args: &Args) -> anyhow::Result<Db> {
    let mut options = Db::options().durability(match args.durability {
        DurabilityArg::Immediate => Durability::Immediate,
        DurabilityArg::Batched => Durability::Batched {
            max_delay: Duration::from_millis(10),
        },
    });
    if let Some(bytes) = args.segment_size {
        options = options.segment_size(bytes);
    }
    if let Some(ms) = args.lock_timeout_ms {
        options = options.lock_timeout(Some(Duration::from_millis(ms)));
    }
    std::fs::create_dir_all(&args.dir)
        .with_context(|| format!("cannot create {}", args.dir.display()))?;
    options
        .open(&args.dir)
        .with_context(|| format!("cannot open database {}", args.dir.display()))
}

/// True for a line that ends the session (`quit` or `exit`, as in redis-cli).
#[must_use]
pub fn is_quit(args: &[Vec<u8>]) -> bool {
    args.len() == 1
        && (args[0].eq_ignore_ascii_case(b"quit") || args[0].eq_ignore_ascii_case(b"exit"))
}

/// Answers `help` and `help COMMAND` locally, as redis-cli does; false if `args` is not a
/// help request.
///
/// # Errors
/// If standard output cannot be written.
pub fn answer_help(args: &[Vec<u8>]) -> io::Result<bool> {
    if args.len() > 2 || !args[0].eq_ignore_ascii_case(b"help") {
        return Ok(false);
    }
    let text = commands::help_text(args.get(1).map(Vec::as_slice));
    let mut out = io::stdout().lock();
    out.write_all(text.as_bytes())?;
    out.flush()?;
    Ok(true)
}

/// Runs the commands on standard input, one per line, printing each reply. An error reply
/// does not stop the script; blank lines are skipped.
fn run_script(session: &mut Session, format: Format) -> anyhow::Result<()> {
    let mut stdin = io::stdin().lock();
    let mut line = Vec::new();
    loop {
        line.clear();
        if stdin
            .read_until(b'\n', &mut line)
            .context("cannot read standard input")?
            == 0
        {
            return Ok(());
        }
        if line.last() == Some(&b'\n') {
            line.pop();
        }
        let args = match split_line(&line) {
            Ok(args) => args,
            Err(e) => {
                let mut out = io::stdout().lock();
                writeln!(out, "{e}")?;
                out.flush()?;
                continue;
            }
        };
        if args.is_empty() {
            continue;
        }
        if is_quit(&args) {
            return Ok(());
        }
        if answer_help(&args)? {
            continue;
        }
        run_command(session, format, &args)?;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Args {
        Args::try_parse_from(std::iter::once("ziggy").chain(args.iter().copied())).unwrap()
    }

    #[test]
    fn options_before_the_command_are_ours() {
        let args = parse(&["-d", "x", "--raw", "--durability", "batched", "GET", "a"]);
        assert_eq!(args.dir, PathBuf::from("x"));
        assert!(args.raw && !args.no_raw);
        assert_eq!(args.durability, DurabilityArg::Batched);
        assert_eq!(args.command, ["GET", "a"]);
    }

    #[test]
    fn everything_after_the_command_is_its_arguments() {
        let args = parse(&["INCRBY", "n", "-5", "--raw", "-d"]);
        assert_eq!(args.command, ["INCRBY", "n", "-5", "--raw", "-d"]);
        assert!(!args.raw);
    }

    #[test]
    fn last_of_raw_and_no_raw_wins() {
        let args = parse(&["--raw", "--no-raw"]);
        assert!(!args.raw && args.no_raw);
        let args = parse(&["--no-raw", "--raw"]);
        assert!(args.raw && !args.no_raw);
    }

    #[test]
    fn quit_and_exit_end_a_session() {
        assert!(is_quit(&[b"QUIT".to_vec()]));
        assert!(is_quit(&[b"exit".to_vec()]));
        assert!(!is_quit(&[b"quit".to_vec(), b"now".to_vec()]));
    }
}
