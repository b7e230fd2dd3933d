//! Commands from standard input share an fsync (`ziggy -d DIR < script.txt`,
//! `cat f | ziggy`): with the default durability, every reply printed is durable, but one
//! sync covers every command read so far. The script runs commands on a database opened with
//! batched durability while more input is ready; their replies are held here; when reading
//! the next line would wait (or a group grows large), one `Db::sync` makes every write so far
//! durable, and then the held replies are printed. A reply is never printed before its write
//! is durable, and a co-process that writes a line and waits for its reply gets it at once.

use std::cell::RefCell;
use std::fs::File;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::os::fd::{AsFd as _, AsRawFd as _, RawFd};

use ziggydb::commands::Session;
use ziggydb::Db;

use crate::repl;

/// Bytes of replies a group holds before it syncs and prints them (a big reply then streams
/// out, after the sync, rather than being held whole).
const HOLD_LIMIT: usize = 1 << 20;

/// Commands a group runs at most before it syncs and prints their replies.
pub const GROUP_LIMIT: usize = 10_000;

/// Replies waiting for the sync that makes their writes durable.
struct Held {
    db: Db,
    buf: Vec<u8>,
}

thread_local! {
    static HELD: RefCell<Option<Held>> = const { RefCell::new(None) };
}

/// From now on, replies printed through [`stdout`] are held until [`release`] has synced
/// `db`.
pub fn hold(db: &Db) {
    HELD.with(|h| {
        *h.borrow_mut() = Some(Held {
            db: db.clone(),
            buf: Vec::new(),
        });
    });
}

/// Stops holding replies (dropping any still held: [`release`] them first). The held
/// database handle must be dropped before the thread's locals are torn down at exit.
pub fn stop() {
    HELD.with(|h| h.borrow_mut().take());
}

/// Whether replies are being held.
pub fn holding() -> bool {
    HELD.with(|h| h.borrow().is_some())
}

/// Makes every write so far durable, then prints the held replies; replies go on being held
/// after them. Nothing to print, nothing to sync.
///
/// # Errors
/// If the sync fails (the held replies are then dropped: their writes may not be durable),
/// or standard output cannot be written.
pub fn release() -> io::Result<()> {
    let Some((db, buf)) = HELD.with(|h| {
        h.borrow_mut()
            .as_mut()
            .filter(|held| !held.buf.is_empty())
            .map(|held| (held.db.clone(), std::mem::take(&mut held.buf)))
    }) else {
        return Ok(());
    };
    stop_point("group-sync");
    db.sync().map_err(|e| {
        io::Error::other(format!(
            "cannot make the replies' writes durable, so they are not printed: {e}"
        ))
    })?;
    let mut out = io::stdout().lock();
    out.write_all(&buf)?;
    out.flush()?;
    stop_point("group-printed");
    Ok(())
}

/// Runs one line of a script (as `repl::run_line_status`) in the current group, counted in
/// `in_group`: the group ends (sync, then its replies print) after [`GROUP_LIMIT`] commands,
/// before a command that may wait (`BLPOP`) so that earlier replies do not wait with it, and
/// after it, so that its own reply prints once it is durable. A `SUBSCRIBE` prints its
/// messages as they come, not held (they are not writes).
///
/// # Errors
/// If a sync fails or standard output cannot be written.
pub fn run_line(
    session: &mut Session,
    options: repl::Options,
    args: &[&[u8]],
    in_group: &mut usize,
) -> io::Result<(repl::Outcome, bool)> {
    if !holding() {
        return repl::run_line_status(session, options, args);
    }
    let command = repl::repeat_count(args).map_or(args, |(_, rest)| rest);
    let waits = crate::interrupt::blocks(command);
    let subscribes = command.first().is_some_and(|name| {
        [&b"subscribe"[..], b"psubscribe", b"ssubscribe"]
            .iter()
            .any(|s| name.eq_ignore_ascii_case(s))
    });
    if waits || subscribes {
        release()?;
        *in_group = 0;
    }
    let result = if subscribes {
        let held = HELD.with(|h| h.borrow_mut().take());
        let result = repl::run_line_status(session, options, args);
        HELD.with(|h| *h.borrow_mut() = held);
        result
    } else {
        repl::run_line_status(session, options, args)
    };
    *in_group += 1;
    if waits || *in_group >= GROUP_LIMIT {
        release()?;
        *in_group = 0;
    }
    result
}

/// Counts a line run outside [`run_line`] (a packed `MGET`, `EXISTS` or `MSET`, which never
/// blocks) in the group, ending the group at its limit.
pub fn count_line(in_group: &mut usize) -> io::Result<()> {
    if !holding() {
        return Ok(());
    }
    *in_group += 1;
    if *in_group >= GROUP_LIMIT {
        release()?;
        *in_group = 0;
    }
    Ok(())
}

/// Standard output for replies: held while a group runs (see [`hold`]).
pub fn stdout() -> Out {
    Out(io::stdout().lock())
}

/// See [`stdout`].
pub struct Out(io::StdoutLock<'static>);

impl Write for Out {
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        let full = HELD.with(|h| {
            h.borrow_mut().as_mut().map(|held| {
                held.buf.extend_from_slice(bytes);
                held.buf.len() >= HOLD_LIMIT
            })
        });
        match full {
            None => self.0.write(bytes),
            Some(full) => {
                if full {
                    release()?;
                }
                Ok(bytes.len())
            }
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        if holding() {
            Ok(())
        } else {
            self.0.flush()
        }
    }
}

/// Standard input, read directly (not through `io::stdin()`'s buffer): before a read that
/// would wait for more input, the replies held so far are synced and printed.
pub struct Input {
    inner: BufReader<File>,
    fd: RawFd,
}

impl Input {
    /// Standard input, which nothing has read from yet.
    ///
    /// # Errors
    /// If its descriptor cannot be duplicated.
    pub fn stdin() -> io::Result<Input> {
        let file = File::from(io::stdin().as_fd().try_clone_to_owned()?);
        let fd = file.as_raw_fd();
        Ok(Input {
            inner: BufReader::with_capacity(64 << 10, file),
            fd,
        })
    }

    /// Whether a read would return at once (data, or the end of the input).
    fn ready(&self) -> bool {
        let mut poll = libc::pollfd {
            fd: self.fd,
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: `poll` is given one valid `pollfd` that lives across the call, and a zero
        // timeout; it only writes `revents`.
        let n = unsafe { libc::poll(&raw mut poll, 1, 0) };
        n > 0
    }
}

impl Read for Input {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.fill_buf()?;
        self.inner.read(buf)
    }
}

impl BufRead for Input {
    fn fill_buf(&mut self) -> io::Result<&[u8]> {
        if self.inner.buffer().is_empty() && holding() && !self.ready() {
            release()?;
        }
        self.inner.fill_buf()
    }

    fn consume(&mut self, n: usize) {
        self.inner.consume(n);
    }
}

/// Stops this process at the named point for a test (`ZIGGY_TEST_STOP`); nothing without the
/// test hooks.
pub fn stop_point(name: &str) {
    #[cfg(feature = "test-hooks")]
    ziggydb::testing::stop_point(name);
    #[cfg(not(feature = "test-hooks"))]
    let _ = name;
}

/// With the test hooks, `ZIGGY_TEST_POWERLOSS=DIR` journals every effect on disk into `DIR`,
/// so that a test can cut the power after killing this process (`testing::power_cut`).
pub fn test_hooks() {
    #[cfg(feature = "test-hooks")]
    if let Some(dir) = std::env::var_os("ZIGGY_TEST_POWERLOSS") {
        if let Err(e) = ziggydb::testing::set_power_loss_journal(Some(std::path::Path::new(&dir))) {
            eprintln!("ziggy: cannot start the power-loss journal: {e}");
        }
    }
}
