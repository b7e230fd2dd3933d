//! `ziggy`: a redis-cli-like client for a `ZiggyDB` database directory.
//!
//! `ziggy [OPTIONS] COMMAND [ARG...]` runs one command; without a command it reads commands
//! from standard input, one per line (a script or a co-process), or runs an interactive shell
//! when standard input is a terminal. Replies print as redis-cli prints them.
//!
//! Exit status: 0; 1 when a one-shot command replies with an error (or any of its repeats
//! does) or `ziggy` itself fails; 2 for bad options.

mod client;
mod group;
mod help;
mod interrupt;
mod migrate;
mod print;
mod progress;
mod repl;
mod shell;
mod syntax;
mod tools;

use std::ffi::OsString;
use std::io::{self, BufRead, IsTerminal, Read as _, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context as _;
use clap::{CommandFactory as _, FromArgMatches as _, Parser, ValueEnum};
use ziggydb::{Db, Durability};

use ziggydb::commands::{
    self, as_args, plain_command_name, split_in_place, split_packed, PackedArgs, Policy, Reply,
    Session, SplitError, Transfer,
};

use crate::print::Format;
use crate::repl::{run_repeated, Outcome, Repeat};

/// Command-line arguments as given.
#[derive(Debug, Parser)]
#[command(
    name = "ziggy",
    version,
    override_usage = "ziggy [OPTIONS] [COMMAND [ARG]...]\n       \
                      ziggy -h HOST -p PORT [-a PASSWORD] [OPTIONS] [COMMAND [ARG]...]",
    // `-h` is the host, as in redis-cli; `--help` is the help.
    disable_help_flag = true,
    about = "Run commands against a ZiggyDB database, redis-cli style",
    after_help = "Without COMMAND, commands are read from standard input one per line, or typed \
                  at a prompt when standard input is a terminal. There a leading number repeats \
                  a command (5 INCR x), and HELP, HELP @group and HELP command describe the \
                  commands.\n\n\
                  The shell keeps its history in ~/.ziggy_history; ZIGGY_HISTFILE names another \
                  file, and ZIGGY_HISTFILE=/dev/null keeps none.\n\n\
                  With -h, -p, -s or -u, ziggy is a client of a Redis-protocol server \
                  (ziggy-server or Redis) instead, as redis-cli is.\n\n\
                  Exit status: 1 when a one-shot command replies with an error, 2 for bad options."
)]
struct Args {
    /// Print help.
    #[arg(long, action = clap::ArgAction::Help)]
    help: Option<bool>,

    /// Server hostname: run the commands on a Redis-protocol server (default 127.0.0.1).
    #[arg(
        short = 'h',
        value_name = "HOSTNAME",
        help_heading = "Client of a server"
    )]
    host: Option<String>,

    /// Server port (default 6379).
    #[arg(short = 'p', value_name = "PORT", help_heading = "Client of a server")]
    port: Option<u16>,

    /// Server socket (overrides hostname and port).
    #[arg(
        short = 's',
        value_name = "SOCKET",
        help_heading = "Client of a server"
    )]
    socket: Option<PathBuf>,

    /// Password to use when connecting to the server (also from the REDISCLI_AUTH
    /// environment variable, which is safer).
    #[arg(
        short = 'a',
        long = "pass",
        value_name = "PASSWORD",
        env = "REDISCLI_AUTH",
        hide_env_values = true,
        help_heading = "Client of a server"
    )]
    password: Option<String>,

    /// Used to send ACL style 'AUTH username pass'. Needs -a.
    #[arg(
        long,
        value_name = "USERNAME",
        requires = "password",
        help_heading = "Client of a server"
    )]
    user: Option<String>,

    /// Server URI, as `redis://[[USERNAME]:PASSWORD@]HOST[:PORT][/DB]`.
    #[arg(short = 'u', value_name = "URI", help_heading = "Client of a server")]
    uri: Option<String>,

    /// Database number (SELECT DB first), on the server or in the directory.
    #[arg(short = 'n', value_name = "DB")]
    db_number: Option<u32>,

    /// Start the session in RESP3 protocol mode (HELLO 3).
    #[arg(short = '3', long = "resp3", help_heading = "Client of a server")]
    resp3: bool,

    /// Don't show the warning message when using a password on the command line.
    #[arg(long, help_heading = "Client of a server")]
    no_auth_warning: bool,

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
    ///
    /// By default a reply is printed once its write is durable, as with immediate; commands
    /// from standard input then share fsyncs: those read together commit batched, and one
    /// fsync precedes their replies. `--durability immediate` fsyncs each command before the
    /// next runs.
    #[arg(long, value_enum)]
    durability: Option<DurabilityArg>,

    /// Size of new segment files.
    #[arg(long, value_name = "BYTES")]
    segment_size: Option<u64>,

    /// Open the database read-only: on a read-only mount, or as a user who may only read it.
    /// Nothing in the directory is created or written, and every write command fails. It
    /// needs the database closed cleanly and no process to have it open read-write.
    #[arg(long)]
    read_only: bool,

    /// File mode (octal) of a new database's files, whatever the umask: 0600 (the default)
    /// for the owner alone, 0660 for a group sharing the database. An existing database
    /// keeps its own mode; a different one here is an error.
    #[arg(long, value_name = "OCTAL", value_parser = parse_mode)]
    mode: Option<u32>,

    /// How long to wait for the writer lock before failing.
    #[arg(long, value_name = "N")]
    lock_timeout_ms: Option<u64>,

    /// Print replies raw, even to a terminal.
    #[arg(long, overrides_with_all = ["no_raw", "json", "csv"])]
    raw: bool,

    /// Print replies in the terminal format, even to a pipe.
    #[arg(long, overrides_with_all = ["raw", "json", "csv"])]
    no_raw: bool,

    /// Print each reply as one JSON value on its own line: strings (UTF-8), numbers, null,
    /// arrays; an error as {"error":"ERR ..."}; a string that is not UTF-8 as
    /// {"$bytes_b64":"..."} holding its bytes in base64.
    #[arg(long, overrides_with_all = ["raw", "no_raw", "csv"])]
    json: bool,

    /// Print each reply as one line of comma-separated values, as redis-cli --csv does.
    #[arg(long, overrides_with_all = ["raw", "no_raw", "json"])]
    csv: bool,

    /// With commands from standard input: stop at the first command that fails, with exit
    /// status 1 (as redis-cli -e).
    #[arg(short = 'e')]
    exit_on_error: bool,

    /// List every key (or those matching --pattern) with SCAN, one per line, as redis-cli
    /// --scan does.
    #[arg(long, conflicts_with_all = ["command", "pipe"])]
    scan: bool,

    /// The glob pattern of --scan (SCAN's MATCH).
    #[arg(long, value_name = "PATTERN", requires = "scan")]
    pattern: Option<String>,

    /// How many keys --scan asks for at a time (SCAN's COUNT).
    #[arg(long, value_name = "N", requires = "scan")]
    count: Option<u64>,

    /// Find the biggest key of each type (bytes of a string, items of a list, members of a
    /// set or sorted set, fields of a hash) and a summary of every type, as redis-cli
    /// --bigkeys prints them.
    #[arg(long, conflicts_with_all = ["command", "pipe", "scan", "stat", "latency", "latency_history"])]
    bigkeys: bool,

    /// Find the key of each type that takes the most bytes in the segment files (its record
    /// and, for a collection, every page of its trees: MEMORY USAGE) and a summary, as
    /// redis-cli --memkeys prints them.
    #[arg(long, conflicts_with_all = ["command", "pipe", "scan", "stat", "latency", "latency_history", "bigkeys"])]
    memkeys: bool,

    /// Accepted as redis-cli accepts it, passed to MEMORY USAGE ... SAMPLES (whose count is
    /// exact here, so it changes nothing).
    #[arg(long, value_name = "N", requires = "memkeys")]
    memkeys_samples: Option<u64>,

    /// Print a line of the shared metrics of every attached process each second (-i sets
    /// the interval), as redis-cli --stat does: keys, segment bytes on disk, bytes this
    /// process maps, commits and commands with the change since the line before, and the
    /// processes attached. Until interrupted.
    #[arg(long, conflicts_with_all = ["command", "pipe", "scan", "latency", "latency_history"])]
    stat: bool,

    /// Sample the latency of a GET round trip (the read path through the command layer)
    /// every 10 ms, printed as redis-cli --latency prints it (milliseconds, min/max/avg); on
    /// a terminal until interrupted, else once after -i seconds (default 1).
    /// With --latency-commit: a commit of a small write and its fsync instead.
    #[arg(long, conflicts_with_all = ["command", "pipe", "scan", "latency_history"])]
    latency: bool,

    /// As --latency, starting a new sample every -i seconds (default 15), one line each.
    #[arg(long, conflicts_with_all = ["command", "pipe", "scan"])]
    latency_history: bool,

    /// With --latency or --latency-history: time a commit and its fsync (setting the key
    /// __ziggy_latency__, deleted after each sample) rather than a GET.
    #[arg(long)]
    latency_commit: bool,

    /// Run the Redis protocol read from standard input (what redis-cli --pipe sends, or
    /// EXPORT FORMAT RESP writes), many commands to a commit, and print a summary: a mass
    /// import that is durable when ziggy says it is done.
    #[arg(long, conflicts_with = "command")]
    pipe: bool,

    /// Run COMMAND this many times (-1: until interrupted).
    #[arg(
        short = 'r',
        value_name = "COUNT",
        allow_negative_numbers = true,
        requires = "command"
    )]
    repeat: Option<i64>,

    /// Wait this long after each run of a repeated command (with -r, or `5 INCR x`).
    #[arg(short = 'i', value_name = "SECONDS", value_parser = parse_interval)]
    interval: Option<Duration>,

    /// Read the last argument of COMMAND from standard input, as it is (binary-safe).
    #[arg(short = 'x', requires = "command")]
    stdin_last_arg: bool,

    /// Command to run, with its arguments.
    #[arg(
        value_name = "COMMAND",
        trailing_var_arg = true,
        allow_hyphen_values = true
    )]
    command: Vec<OsString>,
}

/// Parses `-i`: a number of seconds, fractions allowed (`0.1`).
fn parse_interval(text: &str) -> Result<Duration, String> {
    text.parse::<f64>()
        .ok()
        .and_then(|secs| Duration::try_from_secs_f64(secs).ok())
        .ok_or_else(|| format!("'{text}' is not a number of seconds (0 or more)"))
}

/// Parses `--mode`: octal permission bits, with or without a leading `0` or `0o` (`0660`).
fn parse_mode(text: &str) -> Result<u32, String> {
    let digits = text.strip_prefix("0o").unwrap_or(text);
    u32::from_str_radix(digits, 8)
        .ok()
        .filter(|m| *m <= 0o7777)
        .ok_or_else(|| format!("'{text}' is not an octal file mode such as 0600 or 0660"))
}

impl Args {
    /// How replies print (`--json`, `--csv`, `--raw`, `--no-raw`, else raw unless standard
    /// output is a terminal, as redis-cli decides) and the repeat interval.
    pub(crate) fn options(&self) -> repl::Options {
        let format = if self.json {
            Format::Json
        } else if self.csv {
            Format::Csv
        } else if self.raw {
            Format::Raw
        } else if self.no_raw || io::stdout().is_terminal() {
            Format::Tty
        } else {
            Format::Raw
        };
        repl::Options {
            format,
            interval: self.interval,
            one_shot: false,
        }
    }

    /// One `SCAN cursor [MATCH pattern] [COUNT count]` of `--scan`.
    pub(crate) fn scan_line<'a>(
        &'a self,
        cursor: &'a [u8],
        count: Option<&'a str>,
    ) -> Vec<&'a [u8]> {
        let mut line: Vec<&[u8]> = vec![b"SCAN", cursor];
        if let Some(pattern) = &self.pattern {
            line.extend([b"MATCH".as_slice(), pattern.as_bytes()]);
        }
        if let Some(count) = count {
            line.extend([b"COUNT".as_slice(), count.as_bytes()]);
        }
        line
    }

    /// The command given on the command line, as bytes.
    pub(crate) fn command_bytes(&self) -> Vec<Vec<u8>> {
        self.command
            .iter()
            .map(|arg| arg.clone().into_encoded_bytes())
            .collect()
    }

    /// Whether a server was named (`-h`, `-p`, `-s`, `-u`): `ziggy` is then its client.
    fn is_client(&self) -> bool {
        self.host.is_some() || self.port.is_some() || self.socket.is_some() || self.uri.is_some()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum DurabilityArg {
    Immediate,
    Batched,
}

/// Takes the reply of `Session::execute_to`: a whole reply is kept for [`run_command`] to
/// print, an array streamed element by element (`MGET`) is printed to `to` as they come.
struct Printing<'a, W: Write> {
    format: Format,
    to: Option<&'a mut W>,
    printer: Option<print::ArrayPrinter<'a, W>>,
    whole: Option<Reply>,
}

impl<W: Write> commands::ReplySink for Printing<'_, W> {
    fn reply(&mut self, reply: Reply) {
        self.whole = Some(reply);
    }
    fn array(&mut self, len: usize) {
        if let Some(to) = self.to.take() {
            self.printer = Some(print::ArrayPrinter::new(self.format, len, to));
        }
    }
    fn element(&mut self, item: Reply) {
        if let Some(printer) = &mut self.printer {
            printer.element(&item);
        }
    }
}

/// Runs `args` (not empty) and prints the reply to standard output, flushing it so that a
/// co-process reading our output sees each reply as soon as its command has run. Returns
/// whether the reply was an error.
///
/// # Errors
/// If standard output cannot be written.
pub fn run_command(
    session: &mut Session,
    options: repl::Options,
    args: &[&[u8]],
) -> io::Result<bool> {
    let subscribes = args.first().is_some_and(|name| {
        name.eq_ignore_ascii_case(b"subscribe")
            || name.eq_ignore_ascii_case(b"psubscribe")
            || name.eq_ignore_ascii_case(b"ssubscribe")
    });
    // As redis-cli, before the first reply of a SUBSCRIBE, to a terminal.
    if subscribes && options.format == Format::Tty && !session.is_subscribed() {
        repl::print_line("Reading messages... (press Ctrl-C to quit)")?;
    }
    let failed = run_one(session, options, args)?;
    // The further replies of the command (one per channel of a SUBSCRIBE), then, while
    // subscribed, each message as it comes, until Ctrl-C ends the program as it ends
    // redis-cli.
    loop {
        let wait = if session.is_subscribed() {
            None
        } else {
            Some(std::time::Duration::ZERO)
        };
        let Some(reply) = session.next_push(wait) else {
            break;
        };
        let mut buf = Vec::new();
        options.format.write(&reply, &mut buf);
        let mut out = group::stdout();
        out.write_all(&buf)?;
        out.flush()?;
    }
    Ok(failed)
}

/// Runs one command and prints its reply; true if it was an error.
fn run_one(session: &mut Session, options: repl::Options, args: &[&[u8]]) -> io::Result<bool> {
    let name = args.first().copied().unwrap_or_default();
    run_one_with(session, options, name, |session, sink| {
        session.execute_to(args, sink);
    })
}

/// Runs the command named `name` through `execute` (which hands its reply to the sink it is
/// given) and prints its reply; true if it was an error.
fn run_one_with(
    session: &mut Session,
    options: repl::Options,
    name: &[u8],
    execute: impl FnOnce(&mut Session, &mut dyn commands::ReplySink),
) -> io::Result<bool> {
    let format = options.format;
    let mut stdout = group::stdout();
    let mut sink = Printing {
        format,
        to: Some(&mut stdout),
        printer: None,
        whole: None,
    };
    // An MGET's reply is printed as each value is read: neither it nor its printed form is
    // held whole.
    let waiting = interrupt::blocks(&[name]).then(interrupt::Waiting::start);
    execute(session, &mut sink);
    drop(waiting);
    let Printing { printer, whole, .. } = sink;
    if interrupt::pending() {
        // Ctrl-C ended the wait: no reply is printed. A script or a one-shot command ends
        // too; the shell says so and goes back to its prompt (`run_repeated`).
        if !repl::interactive() {
            eprintln!("ziggy: interrupted");
        }
        return Ok(!repl::interactive());
    }
    if let Some(printer) = printer {
        printer.finish()?;
        stdout.flush()?;
        return Ok(false);
    }
    drop(stdout);
    let reply = whole.unwrap_or(Reply::Nil);
    let mut buf = Vec::new();
    match &reply {
        // A value read in place prints straight from the map, a piece at a time: no copy,
        // whatever its size.
        Reply::Mapped(value) => {
            let mut out = group::stdout();
            print::write_mapped(format, value, &mut out)?;
            out.flush()?;
            return Ok(reply.is_error());
        }
        // As redis-cli does, INFO's text prints as it is (lines end in CRLF), even to a
        // terminal.
        Reply::Bulk(text)
            if name.eq_ignore_ascii_case(b"info")
                && matches!(format, Format::Raw | Format::Tty) =>
        {
            buf.extend_from_slice(text);
        }
        // A big value (from GETDEL, GETSET, GETEX...) prints as a value read in place does,
        // rather than being copied into the output buffer first.
        Reply::Bulk(bytes) if bytes.len() >= 64 << 10 => {
            let mut out = group::stdout();
            print::write_mapped(format, bytes, &mut out)?;
            out.flush()?;
            return Ok(reply.is_error());
        }
        // An array prints as it is formatted, a piece at a time, rather than into one
        // buffer first (an MGET of a million keys).
        Reply::Array(_) | Reply::Map(_) | Reply::Set(_) => {
            let mut out = group::stdout();
            format.write_to(&reply, &mut out)?;
            out.flush()?;
            return Ok(reply.is_error());
        }
        _ => format.write(&reply, &mut buf),
    }
    // In a script the empty line redis-cli prints after an error is kept, as scripts
    // written for redis-cli expect; a one-shot command's error is one line.
    if options.one_shot && format == Format::Raw && reply.is_error() && buf.ends_with(b"\n\n") {
        buf.pop();
    }
    let mut out = group::stdout();
    out.write_all(&buf)?;
    out.flush()?;
    Ok(reply.is_error())
}

fn main() -> ExitCode {
    group::test_hooks();
    let matches = Args::command().get_matches();
    let args = match Args::from_arg_matches(&matches) {
        Ok(args) => args,
        Err(e) => e.exit(),
    };
    // Every option comes before the command, and no command starts with '-': a word that does
    // is an option ziggy does not have (clap takes it as the command, which may start with
    // '-' in its arguments).
    if let Some(first) = args.command.first() {
        let word = first.to_string_lossy();
        if word.starts_with('-') && word.len() > 1 {
            eprintln!("ziggy: unknown option '{word}' (ziggy --help lists the options)");
            return ExitCode::from(2);
        }
    }
    if args.is_client() {
        return client::main(&args, &matches);
    }
    for (id, flag) in [("password", "-a"), ("user", "--user"), ("resp3", "-3")] {
        if matches.value_source(id) == Some(clap::parser::ValueSource::CommandLine) {
            eprintln!("ziggy: {flag} is for a server: name one with -h HOST, -p PORT, -s SOCKET or -u URI");
            return ExitCode::from(2);
        }
    }
    // A bar on a terminal for IMPORT, EXPORT, BACKUP, REPAIR, COMPACT, CHECK and FLUSHDB.
    match progress::with_bars(|| run(&args)) {
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
    let mut options = args.options();
    let format = options.format;
    let mut command = args.command_bytes();
    if !command.is_empty() && answer_help(&as_args(&command))? {
        return Ok(ExitCode::SUCCESS);
    }
    if args.stdin_last_arg {
        // As redis-cli -x: all of standard input, byte for byte, trailing newline included.
        // A file is read into a buffer of its size (reading grows a buffer by doubling);
        // either way a lack of memory is an error, not an abort.
        let mut last = Vec::new();
        if let Some(len) = stdin_file_len() {
            last.try_reserve_exact(len.saturating_add(1))
                .with_context(|| {
                    format!("cannot read standard input: cannot allocate {len} bytes")
                })?;
        }
        io::stdin()
            .lock()
            .read_to_end(&mut last)
            .context("cannot read standard input")?;
        command.push(last);
    }
    let owned = command;
    let command = as_args(&owned);
    if command.len() == 1 && command[0].eq_ignore_ascii_case(b"repair") {
        if args.read_only {
            anyhow::bail!("repair rewrites the database; it cannot run with --read-only");
        }
        return repair(&args.dir, format);
    }
    refuse_to_create(args, &command)?;
    // Commands from standard input share fsyncs: they commit with batched durability, and
    // their replies wait for one sync that covers every command read so far (`group`).
    let grouped = command.is_empty()
        && !args.scan
        && !args.pipe
        && !args.bigkeys
        && !args.memkeys
        && !args.stat
        && !args.latency
        && !args.latency_history
        && !args.read_only
        && args.durability.is_none()
        && !io::stdin().is_terminal();
    let db = open(args, grouped)?;
    let mut session = Session::new(&db, Policy::trusted());
    if let Some(n) = args.db_number {
        let index = n.to_string();
        if let Reply::Error(e) = session.execute(&[b"SELECT", index.as_bytes()]) {
            anyhow::bail!("-n {n}: {e}");
        }
    }
    if args.scan {
        return scan_keys(&mut session, args);
    }
    if args.pipe {
        return pipe(&mut session);
    }
    if args.bigkeys || args.memkeys {
        let samples = args.memkeys.then(|| args.memkeys_samples.unwrap_or(5));
        tools::bigkeys(&mut session, db.len(), samples)?;
        return Ok(ExitCode::SUCCESS);
    }
    if args.stat {
        tools::stat(&db, args.interval.unwrap_or(Duration::from_secs(1)))?;
        return Ok(ExitCode::SUCCESS);
    }
    if args.latency || args.latency_history {
        let probe = if args.latency_commit {
            tools::Probe::Commit
        } else {
            tools::Probe::Get
        };
        tools::latency(
            &mut session,
            &db,
            probe,
            format,
            args.latency_history,
            args.interval,
        )?;
        return Ok(ExitCode::SUCCESS);
    }
    interrupt::install(&mut session);

    let code = if let Some(code) = stdio_transfer(&db, format, &command)? {
        code
    } else if let Some(code) = migrate::import_redis(&db, format, &command)? {
        code
    } else if !command.is_empty() {
        let repeat = match args.repeat {
            None => Repeat::Times(1),
            Some(n) if n < 0 => Repeat::Forever,
            Some(n) => Repeat::Times(n.unsigned_abs()),
        };
        options.one_shot = true;
        let failed = run_repeated(&mut session, options, &command, repeat)?;
        repl::hint_unknown(&command);
        if failed {
            ExitCode::FAILURE
        } else {
            ExitCode::SUCCESS
        }
    } else if io::stdin().is_terminal() {
        shell::run(&mut session, db, &args.dir, options)?;
        ExitCode::SUCCESS
    } else if run_script(
        &mut session,
        options,
        args.exit_on_error,
        grouped.then_some(&db),
    )? {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    };
    if let Some(warning) = session.pending_warning() {
        eprintln!("ziggy: {warning}");
    }
    if interrupt::ever() && !repl::interactive() {
        return Ok(ExitCode::from(130));
    }
    Ok(code)
}

/// Standard input if it is a regular file (which can be read twice).
fn stdin_file() -> Option<std::fs::File> {
    use std::os::fd::AsFd as _;
    let file = std::fs::File::from(io::stdin().as_fd().try_clone_to_owned().ok()?);
    file.metadata().ok()?.is_file().then_some(file)
}

/// The size of standard input if it is a regular file.
fn stdin_file_len() -> Option<usize> {
    use std::os::fd::AsFd as _;
    let file = std::fs::File::from(io::stdin().as_fd().try_clone_to_owned().ok()?);
    let md = file.metadata().ok()?;
    md.is_file()
        .then(|| usize::try_from(md.len()).ok())
        .flatten()
}

/// `EXPORT - [FORMAT ...]` and `IMPORT -` as a one-shot command: the export goes to standard
/// output (with no reply after it, so that it can be piped; an error goes to standard
/// error), the import comes from standard input (read into memory first, since it is read
/// twice). `None` for any other command.
fn stdio_transfer(db: &Db, format: Format, command: &[&[u8]]) -> anyhow::Result<Option<ExitCode>> {
    let [name, file, ..] = command else {
        return Ok(None);
    };
    let export = name.eq_ignore_ascii_case(b"export");
    if file != b"-" || !(export || name.eq_ignore_ascii_case(b"import")) {
        return Ok(None);
    }
    let transfer = match commands::parse(command) {
        Ok(parsed) => parsed
            .transfer()
            .context("EXPORT and IMPORT parse as transfers")?,
        Err(reply) => return print_failure(format, &reply, export).map(Some),
    };
    let result = match transfer {
        Transfer::Export(export_format) => {
            let stdout = io::stdout().lock();
            db.export(export_format, stdout).map(|_| None)
        }
        Transfer::Import(import_format) => {
            let resp = import_format == ziggydb::ExportFormat::Resp;
            // A file (`< dump.resp`) is read in place, twice; a pipe is read into memory.
            let stats = if let Some(file) = stdin_file() {
                if resp {
                    db.import_resp(file)
                } else {
                    db.import(file)
                }
            } else {
                let mut input = Vec::new();
                io::stdin()
                    .lock()
                    .read_to_end(&mut input)
                    .context("cannot read standard input")?;
                if resp {
                    db.import_resp(io::Cursor::new(input))
                } else {
                    db.import(io::Cursor::new(input))
                }
            };
            stats.map(|stats| {
                let n = if resp { stats.commands } else { stats.keys };
                Some(Reply::Int(i64::try_from(n).unwrap_or(i64::MAX)))
            })
        }
    };
    match result {
        Ok(None) => Ok(Some(ExitCode::SUCCESS)),
        Ok(Some(reply)) => {
            let mut buf = Vec::new();
            format.write(&reply, &mut buf);
            let mut out = io::stdout().lock();
            out.write_all(&buf)?;
            out.flush()?;
            Ok(Some(ExitCode::SUCCESS))
        }
        Err(ziggydb::Error::Io { source, .. }) if export => {
            Err(anyhow::Error::new(source).context("cannot write standard output"))
        }
        Err(e) => {
            let reply = commands::transfer_error(&e, std::path::Path::new("-"));
            print_failure(format, &reply, export).map(Some)
        }
    }
}

/// Prints an error reply as a one-shot command's failure: on standard error for an export,
/// whose standard output carries the data.
fn print_failure(format: Format, reply: &Reply, to_stderr: bool) -> anyhow::Result<ExitCode> {
    let mut buf = Vec::new();
    format.write(reply, &mut buf);
    // One line, as every one-shot error (see `run_command`).
    if format == Format::Raw && buf.ends_with(b"\n\n") {
        buf.pop();
    }
    if to_stderr {
        io::stderr().write_all(&buf)?;
    } else {
        let mut out = io::stdout().lock();
        out.write_all(&buf)?;
        out.flush()?;
    }
    Ok(ExitCode::FAILURE)
}

/// `ziggy -d DIR repair`: runs on the directory without opening it (repair needs every
/// process, this one included, to have it closed) and prints the report, one finding per
/// line. Exit status 0 once the repaired database is in place, even if damage was found.
fn repair(dir: &std::path::Path, format: Format) -> anyhow::Result<ExitCode> {
    // A database that opens and passes `check` has nothing to salvage: say so and move
    // nothing aside (a repair would set every original file aside in `damaged-<ms>/`).
    let sound = dir.is_dir()
        && Db::open(dir)
            .and_then(|db| db.check())
            .is_ok_and(|report| report.is_ok());
    let text = if sound {
        format!(
            "nothing to repair: {} opens and `check` finds no problem; no file was moved\n",
            dir.display()
        )
    } else {
        let report = ziggydb::repair(dir)
            .with_context(|| format!("cannot repair database {}", dir.display()))?;
        format!("{report}\n")
    };
    let mut buf = Vec::new();
    match format {
        Format::Raw | Format::Tty => buf.extend_from_slice(text.as_bytes()),
        _ => format.write(&Reply::Bulk(text.into_bytes()), &mut buf),
    }
    let mut out = io::stdout().lock();
    out.write_all(&buf)?;
    out.flush()?;
    Ok(ExitCode::SUCCESS)
}

/// `--scan`: every key (matching `--pattern`) on its own line, raw, as redis-cli prints them.
fn scan_keys(session: &mut Session, args: &Args) -> anyhow::Result<ExitCode> {
    let mut out = io::BufWriter::new(io::stdout().lock());
    let mut cursor = b"0".to_vec();
    let count = args.count.map(|n| n.to_string());
    loop {
        let line = args.scan_line(&cursor, count.as_deref());
        let reply = session.execute(&line);
        let Reply::Array(mut parts) = reply else {
            anyhow::bail!("SCAN replied {reply:?}");
        };
        let (Some(Reply::Array(keys)), Some(Reply::Bulk(next))) = (parts.pop(), parts.pop()) else {
            anyhow::bail!("SCAN replied an unexpected shape");
        };
        for key in keys {
            if let Reply::Bulk(key) = key {
                out.write_all(&key)?;
                out.write_all(b"\n")?;
            }
        }
        if next == b"0" {
            break;
        }
        cursor = next;
    }
    out.flush()?;
    Ok(ExitCode::SUCCESS)
}

/// Commands a `--pipe` run puts into one transaction at most.
const PIPE_BATCH: usize = 10_000;

/// `--pipe`: runs the Redis protocol of standard input (multibulk or inline requests). Data
/// commands run in `BEGIN`/`COMMIT` batches of up to [`PIPE_BATCH`] (a failing command fails
/// alone, as inside `BEGIN`), so one commit and one fsync cover a batch; any other command
/// ends the batch and runs on its own. Error replies go to standard error; at the end, as
/// redis-cli --pipe, the counts. Exit status 1 if any command failed.
fn pipe(session: &mut Session) -> anyhow::Result<ExitCode> {
    let mut input = io::stdin().lock();
    let mut buf: Vec<u8> = Vec::new();
    let mut start = 0;
    let (mut replies, mut errors) = (0u64, 0u64);
    let mut batch = 0usize;
    let mut ended = false;
    let mut err = io::stderr().lock();
    let commit = |session: &mut Session,
                  batch: &mut usize,
                  errors: &mut u64,
                  err: &mut io::StderrLock|
     -> io::Result<()> {
        if *batch > 0 {
            if let Reply::Error(e) = session.execute(&[b"COMMIT"]) {
                writeln!(
                    err,
                    "{e} (the {batch} commands since the last commit are lost)"
                )?;
                *errors += *batch as u64;
            }
            *batch = 0;
        }
        Ok(())
    };
    loop {
        loop {
            match commands::decode_request(&buf[start..]) {
                Ok(Some((argv, used))) => {
                    start += used;
                    let argv = as_args(&argv);
                    if argv.is_empty() {
                        continue;
                    }
                    let batchable = commands::lookup(argv[0]).is_some_and(|spec| {
                        matches!(spec.kind, commands::Kind::Read | commands::Kind::Write)
                    }) && (batch > 0 || !session.in_transaction());
                    if batchable && batch == 0 {
                        session.execute(&[b"BEGIN"]);
                    } else if !batchable {
                        commit(session, &mut batch, &mut errors, &mut err)?;
                    }
                    let reply = session.execute(&argv);
                    if batchable {
                        batch += 1;
                    }
                    replies += 1;
                    if let Reply::Error(e) = reply {
                        errors += 1;
                        writeln!(err, "{e}")?;
                    }
                    if batch >= PIPE_BATCH {
                        commit(session, &mut batch, &mut errors, &mut err)?;
                    }
                }
                Ok(None) => break,
                Err(e) => {
                    commit(session, &mut batch, &mut errors, &mut err)?;
                    anyhow::bail!("--pipe: {e} after {replies} commands");
                }
            }
        }
        if ended {
            break;
        }
        buf.drain(..start);
        start = 0;
        let mut chunk = [0u8; 64 << 10];
        let n = input
            .read(&mut chunk)
            .context("cannot read standard input")?;
        if n == 0 {
            ended = true;
            if !buf.is_empty() && !buf.ends_with(b"\n") {
                buf.extend_from_slice(b"\r\n");
            }
        } else {
            buf.extend_from_slice(&chunk[..n]);
        }
    }
    commit(session, &mut batch, &mut errors, &mut err)?;
    drop(err);
    let mut out = io::stdout().lock();
    writeln!(
        out,
        "All data transferred. Waiting for the last reply...\nLast reply received from \
         server.\nerrors: {errors}, replies: {replies}"
    )?;
    out.flush()?;
    Ok(if errors > 0 {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

/// A missing database directory is created by the shell, a script and a command that writes,
/// and only under a directory that exists: a command that only reads (or is misspelled)
/// gets an error instead of a new, empty database, and a mistyped parent is never created.
fn refuse_to_create(args: &Args, command: &[&[u8]]) -> anyhow::Result<()> {
    if args.dir.exists() || args.read_only {
        return Ok(());
    }
    let parent = args
        .dir
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(std::path::Path::new("."));
    match std::fs::metadata(parent) {
        Ok(md) if md.is_dir() => {}
        Ok(_) => anyhow::bail!(
            "cannot create database {}: {} is not a directory",
            args.dir.display(),
            parent.display()
        ),
        Err(e) => {
            return Err(anyhow::Error::new(e).context(format!(
                "cannot create database {} in {} (ziggy does not create missing parents)",
                args.dir.display(),
                parent.display()
            )))
        }
    }
    let Some(name) = command.first() else {
        if args.scan
            || args.bigkeys
            || args.memkeys
            || args.stat
            || args.latency
            || args.latency_history
        {
            anyhow::bail!(
                "no database at {} (this tool only reads; a write, the shell or a script \
                 creates one)",
                args.dir.display()
            );
        }
        return Ok(());
    };
    let writes = commands::lookup(name)
        .is_some_and(|spec| matches!(spec.kind, commands::Kind::Write | commands::Kind::Admin));
    if !writes {
        let what = match commands::lookup(name) {
            Some(spec) => format!("{} only reads", spec.name),
            None => format!("'{}' is not a command", String::from_utf8_lossy(name)),
        };
        let mut msg = format!(
            "no database at {} ({what}; a write, the shell or a script creates one)",
            args.dir.display()
        );
        if commands::lookup(name).is_none() {
            let near = help::suggest(name);
            if !near.is_empty() {
                msg.push_str(&format!("; did you mean {}?", near.join(" or ")));
            }
        }
        anyhow::bail!(msg);
    }
    Ok(())
}

/// Opens the database as `args` say; `grouped`: for commands from standard input whose
/// replies wait for a shared sync (`group`), which commit with batched durability.
fn open(args: &Args, grouped: bool) -> anyhow::Result<Db> {
    let mut options = Db::options().durability(match args.durability {
        None if grouped => Durability::Batched {
            max_delay: Duration::from_millis(100),
        },
        None | Some(DurabilityArg::Immediate) => Durability::Immediate,
        Some(DurabilityArg::Batched) => Durability::Batched {
            max_delay: Duration::from_millis(10),
        },
    });
    if let Some(bytes) = args.segment_size {
        options = options.segment_size(bytes);
    }
    if let Some(ms) = args.lock_timeout_ms {
        options = options.lock_timeout(Some(Duration::from_millis(ms)));
    }
    if args.read_only {
        options = options.read_only(true);
    }
    if let Some(mode) = args.mode {
        options = options.mode(mode);
    }
    // The library creates a missing directory (with the database's mode, whatever the
    // umask) and refuses a path that is not a directory, or a directory holding other files.
    options
        .open(&args.dir)
        .with_context(|| format!("cannot open database {}", args.dir.display()))
}

/// True for a line that ends the session (`quit` or `exit`, as in redis-cli).
#[must_use]
pub fn is_quit(args: &[&[u8]]) -> bool {
    args.len() == 1
        && (args[0].eq_ignore_ascii_case(b"quit") || args[0].eq_ignore_ascii_case(b"exit"))
}

/// Answers `help` and `help COMMAND` locally, as redis-cli does; false if `args` is not a
/// help request.
///
/// # Errors
/// If standard output cannot be written.
pub fn answer_help(args: &[&[u8]]) -> io::Result<bool> {
    if args.len() > 2 || !args[0].eq_ignore_ascii_case(b"help") {
        return Ok(false);
    }
    let topic = args.get(1).copied();
    let text = help::help_text(topic);
    let mut out = group::stdout();
    // A list of commands (`help @group`, `help @all`) pages on a terminal, never elsewhere.
    if topic.is_some_and(|t| t.starts_with(b"@")) && io::stdout().is_terminal() {
        out.flush()?;
        if help::page(&text).is_ok() {
            return Ok(true);
        }
    }
    out.write_all(text.as_bytes())?;
    out.flush()?;
    Ok(true)
}

/// What [`read_line`] read.
#[derive(Debug, PartialEq, Eq)]
enum LineRead {
    /// The input has ended.
    End,
    /// A line, with its `\n` if it had one.
    Line,
    /// A line of this many bytes that did not fit in memory: skipped to its end.
    TooLong(usize),
}

/// Reads one line into `line` (empty), growing it fallibly: a line too long for the memory
/// the process may use is skipped to its end and reported, never an abort.
fn read_line(input: &mut impl BufRead, line: &mut Vec<u8>) -> io::Result<LineRead> {
    let mut read = 0;
    let mut too_long = false;
    loop {
        let buf = input.fill_buf()?;
        if buf.is_empty() {
            break;
        }
        let (n, done) = match buf.iter().position(|&b| b == b'\n') {
            Some(at) => (at + 1, true),
            None => (buf.len(), false),
        };
        if !too_long {
            if line.try_reserve(n).is_ok() {
                line.extend_from_slice(&buf[..n]);
            } else {
                too_long = true;
                *line = Vec::new();
            }
        }
        read += n;
        input.consume(n);
        if done {
            break;
        }
    }
    Ok(match (read, too_long) {
        (0, _) => LineRead::End,
        (_, false) => LineRead::Line,
        (bytes, true) => LineRead::TooLong(bytes),
    })
}

/// Runs the commands on standard input, one per line, printing each reply. An error reply
/// does not stop the script; blank lines are skipped.
/// Runs the commands of standard input, one a line; true if `exit_on_error` stopped it at a
/// command that failed. With `grouped`, the commands read together share a sync of that
/// database, after which their replies print (`group`).
fn run_script(
    session: &mut Session,
    options: repl::Options,
    exit_on_error: bool,
    grouped: Option<&Db>,
) -> anyhow::Result<bool> {
    let Some(db) = grouped else {
        return script_lines(session, options, exit_on_error, &mut io::stdin().lock());
    };
    group::hold(db);
    let mut input = group::Input::stdin().context("cannot read standard input")?;
    let stopped = script_lines(session, options, exit_on_error, &mut input);
    // The replies of the last group, once their writes are durable.
    let released = group::release();
    group::stop();
    let stopped = stopped?;
    released?;
    Ok(stopped)
}

/// The loop of [`run_script`], reading lines from `input`.
fn script_lines(
    session: &mut Session,
    options: repl::Options,
    exit_on_error: bool,
    input: &mut impl BufRead,
) -> anyhow::Result<bool> {
    let mut stdin = input;
    let mut line = Vec::new();
    let mut in_group = 0usize;
    loop {
        line.clear();
        match read_line(&mut stdin, &mut line).context("cannot read standard input")? {
            LineRead::End => return Ok(false),
            LineRead::Line => {}
            LineRead::TooLong(bytes) => {
                let mut out = group::stdout();
                writeln!(
                    out,
                    "ERR not enough memory for a line of {bytes} bytes; it was skipped"
                )?;
                out.flush()?;
                continue;
            }
        }
        if line.last() == Some(&b'\n') {
            line.pop();
        }
        if line.capacity() > 1 << 20 {
            line.shrink_to_fit();
        }
        // An MGET, EXISTS or MSET line is split packed: its arguments one after another at
        // the line's start, 4 bytes each for where it ends, read where they are. Any other
        // line is split over itself into slices of it (16 bytes an argument), not a vector
        // each.
        let packs = plain_command_name(&line).is_some_and(|name| {
            [&b"mget"[..], b"exists", b"mset"]
                .iter()
                .any(|packed| name.eq_ignore_ascii_case(packed))
        });
        let ends = if packs {
            match split_packed(&mut line) {
                Ok(ends) => Some(ends),
                // A line of 4 GiB or more is split as any other.
                Err(SplitError::TooLong) => None,
                Err(e) => {
                    print_split_error(&e)?;
                    continue;
                }
            }
        } else {
            None
        };
        let (outcome, failed) = if let Some(ends) = ends {
            // Never a blocking command: it takes its place in the group as any other.
            let ran = run_packed(session, options, &line, &ends)?;
            group::count_line(&mut in_group)?;
            ran
        } else {
            match split_in_place(&mut line) {
                Ok(ranges) => {
                    // Each (start, end) becomes a slice in the same place (the same size).
                    let args: Vec<&[u8]> = ranges.into_iter().map(|(s, e)| &line[s..e]).collect();
                    group::run_line(session, options, &args, &mut in_group)?
                }
                Err(e) => {
                    print_split_error(&e)?;
                    continue;
                }
            }
        };
        if outcome == Outcome::Quit || interrupt::ever() {
            return Ok(false);
        }
        if failed && exit_on_error {
            return Ok(true);
        }
        // A long line's buffer is not kept for the next, short ones.
        if line.capacity() > 1 << 20 {
            line = Vec::new();
        }
    }
}

/// Prints why a script line could not be split (the script goes on).
fn print_split_error(e: &SplitError) -> io::Result<()> {
    let mut out = group::stdout();
    writeln!(out, "{e}")?;
    out.flush()
}

/// Runs an `MGET`, `EXISTS` or `MSET` script line split by `split_packed` into `bytes` and
/// `ends`: its arguments are read where they are in the line (no list of slices beside it,
/// 16 bytes an argument).
fn run_packed(
    session: &mut Session,
    options: repl::Options,
    bytes: &[u8],
    ends: &[u32],
) -> io::Result<(Outcome, bool)> {
    let Some(args) = PackedArgs::new(bytes, ends) else {
        return Ok((Outcome::Continue, false));
    };
    let name = args.get(0).unwrap_or_default();
    let failed = run_one_with(session, options, name, |session, sink| {
        session.execute_packed(args, sink);
    })?;
    Ok((Outcome::Continue, failed))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn read_line_reads_lines_across_buffer_refills() {
        let text = b"first\nsecond line\nlast";
        let mut input = io::BufReader::with_capacity(4, &text[..]);
        let mut line = Vec::new();
        let mut lines = Vec::new();
        while read_line(&mut input, &mut line).unwrap() == LineRead::Line {
            lines.push(std::mem::take(&mut line));
        }
        assert_eq!(lines, [&b"first\n"[..], b"second line\n", b"last"]);
    }

    fn parse(args: &[&str]) -> Args {
        Args::try_parse_from(std::iter::once("ziggy").chain(args.iter().copied())).unwrap()
    }

    #[test]
    fn options_before_the_command_are_ours() {
        let args = parse(&["-d", "x", "--raw", "--durability", "batched", "GET", "a"]);
        assert_eq!(args.dir, PathBuf::from("x"));
        assert!(args.raw && !args.no_raw);
        assert_eq!(args.durability, Some(DurabilityArg::Batched));
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
    fn output_formats_last_one_wins() {
        let args = parse(&["--json", "--csv"]);
        assert!(args.csv && !args.json);
        let args = parse(&["--csv", "--raw", "--json"]);
        assert!(args.json && !args.csv && !args.raw);
        let args = parse(&["--json", "--no-raw"]);
        assert!(args.no_raw && !args.json);
    }

    #[test]
    fn repeat_interval_and_stdin_argument() {
        let args = parse(&["-r", "-1", "-i", "0.25", "INCR", "x"]);
        assert_eq!(args.repeat, Some(-1));
        assert_eq!(args.interval, Some(Duration::from_millis(250)));
        assert_eq!(args.command, ["INCR", "x"]);
        let args = parse(&["-x", "SET", "k"]);
        assert!(args.stdin_last_arg);
        assert_eq!(args.command, ["SET", "k"]);
        let fails = |a: &[&str]| {
            Args::try_parse_from(std::iter::once("ziggy").chain(a.iter().copied())).is_err()
        };
        assert!(fails(&["-r", "3"]), "-r needs a command");
        assert!(fails(&["-x"]), "-x needs a command");
        assert!(fails(&["-i", "-1", "PING"]));
        assert!(fails(&["-i", "soon", "PING"]));
    }

    #[test]
    fn quit_and_exit_end_a_session() {
        assert!(is_quit(&[b"QUIT"]));
        assert!(is_quit(&[b"exit"]));
        assert!(!is_quit(&[b"quit", b"now"]));
    }
}
