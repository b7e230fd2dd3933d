//! Ctrl-C during a blocking command (`BLPOP`, `BZPOPMIN`...): `SIGINT` cancels the wait,
//! which then ends as a timeout would, with its waiter removed, and the shell goes back to
//! its prompt (a script or a one-shot command ends, with status 130, after closing the
//! database cleanly). At any other time `SIGINT` does what it always did: it ends the
//! process.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::OnceLock;

use ziggydb::commands::Session;
use ziggydb::CancelToken;

/// The token the session's blocking commands wait with.
static TOKEN: OnceLock<CancelToken> = OnceLock::new();
/// Whether a blocking command is running: only then does `SIGINT` cancel rather than end
/// the process.
static WAITING: AtomicBool = AtomicBool::new(false);
/// A wait was cancelled since the last [`take`].
static CANCELLED: AtomicBool = AtomicBool::new(false);
/// A wait was cancelled at some point: a script or one-shot command ends with status 130.
static EVER: AtomicBool = AtomicBool::new(false);

extern "C" fn on_sigint(_: libc::c_int) {
    // Async-signal-safe only: atomic loads and stores, a futex wake, signal and raise.
    if WAITING.load(Ordering::SeqCst) {
        if let Some(token) = TOKEN.get() {
            token.cancel();
            return;
        }
    }
    // SAFETY: `signal` and `raise` are async-signal-safe; they restore the default action
    // and send SIGINT again, which then ends the process as if no handler had been set.
    unsafe {
        libc::signal(libc::SIGINT, libc::SIG_DFL);
        libc::raise(libc::SIGINT);
    }
}

/// Gives `session` the token Ctrl-C cancels, and sets the handler.
pub fn install(session: &mut Session) {
    session.set_cancel(install_handler());
}

/// Sets the handler and returns the token Ctrl-C cancels during a [`Waiting`] (the client
/// mode checks it between reads of a server's reply).
pub fn install_handler() -> CancelToken {
    let token = TOKEN.get_or_init(CancelToken::new).clone();
    let handler: extern "C" fn(libc::c_int) = on_sigint;
    // SAFETY: the handler only does async-signal-safe work (see `on_sigint`); `signal`
    // installs it with BSD semantics (SA_RESTART), and a wait on a futex returns on the
    // signal's wake-up of the token whatever the restart flag.
    unsafe {
        libc::signal(libc::SIGINT, handler as libc::sighandler_t);
    }
    token
}

/// Whether `args` is a command that may wait.
pub fn blocks(args: &[&[u8]]) -> bool {
    const BLOCKING: [&str; 8] = [
        "BLPOP",
        "BRPOP",
        "BLMOVE",
        "BRPOPLPUSH",
        "BLMPOP",
        "BZPOPMIN",
        "BZPOPMAX",
        "BZMPOP",
    ];
    args.first().is_some_and(|name| {
        BLOCKING
            .iter()
            .any(|b| name.eq_ignore_ascii_case(b.as_bytes()))
    })
}

/// Marks a blocking command as running until dropped; a cancellation during it is
/// recorded for [`take`].
pub struct Waiting(());

impl Waiting {
    pub fn start() -> Self {
        if let Some(t) = TOKEN.get() {
            t.reset();
        }
        WAITING.store(true, Ordering::SeqCst);
        Waiting(())
    }
}

impl Drop for Waiting {
    fn drop(&mut self) {
        WAITING.store(false, Ordering::SeqCst);
        if TOKEN.get().is_some_and(CancelToken::is_cancelled) {
            CANCELLED.store(true, Ordering::SeqCst);
            EVER.store(true, Ordering::SeqCst);
        }
    }
}

/// Whether the last blocking command was cancelled (and forgets it).
pub fn take() -> bool {
    CANCELLED.swap(false, Ordering::SeqCst)
}

/// Whether the last blocking command was cancelled (kept for [`take`]).
pub fn pending() -> bool {
    CANCELLED.load(Ordering::SeqCst)
}

/// Whether Ctrl-C cancelled the wait running now.
pub fn cancelled() -> bool {
    TOKEN.get().is_some_and(CancelToken::is_cancelled)
}

/// Whether any blocking command was cancelled.
pub fn ever() -> bool {
    EVER.load(Ordering::SeqCst)
}
