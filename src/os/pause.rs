//! Named points at which a test can stop this process, to hold it exactly there while other
//! processes go on (as `kill -STOP` would at a lucky moment). Only with the `test-hooks`
//! feature; elsewhere [`point`] compiles to nothing.
//!
//! `ZIGGY_TEST_STOP=NAME` stops the process (it sends itself `SIGSTOP`) the first time it
//! reaches point `NAME`; `NAME:N` at the `N`th time. The test resumes it with `SIGCONT` or
//! kills it. Points: see the callers of [`point`].

/// Stops this process if `ZIGGY_TEST_STOP` names this point and this is the chosen pass.
#[cfg(feature = "test-hooks")]
pub(crate) fn point(name: &str) {
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::sync::OnceLock;

    static CHOSEN: OnceLock<Option<(String, u64)>> = OnceLock::new();
    static PASSES: AtomicU64 = AtomicU64::new(0);
    let chosen = CHOSEN.get_or_init(|| {
        let v = std::env::var("ZIGGY_TEST_STOP").ok()?;
        Some(match v.split_once(':') {
            Some((n, k)) => (n.to_string(), k.parse().ok()?),
            None => (v, 1),
        })
    });
    let Some((want, nth)) = chosen else { return };
    if want != name {
        return;
    }
    if PASSES.fetch_add(1, Ordering::SeqCst) + 1 == *nth {
        stop_self();
    }
}

/// Stops this process, from this very thread; returns once it is continued.
///
/// The SIGSTOP is sent to this thread (pthread_kill, i.e. tgkill), not to the process
/// (kill): a process-directed signal is taken by whichever thread the kernel picks (for
/// kill(getpid()) the main thread), and until that thread runs and starts the group stop,
/// this one goes on past the stop point (on a loaded machine for milliseconds, through a
/// commit and a close). A signal directed at this thread is taken by it on its way out of
/// the call, so it stops here, and the stop still stops every thread of the process.
#[cfg(feature = "test-hooks")]
#[allow(unsafe_code, reason = "pthread_kill(3) has no safe wrapper in std")]
fn stop_self() {
    // SAFETY: pthread_self() names the calling thread, which is alive; pthread_kill takes
    // plain values and touches no memory of this process; SIGSTOP cannot be caught, so no
    // handler runs.
    unsafe {
        libc::pthread_kill(libc::pthread_self(), libc::SIGSTOP);
    }
}

/// Without the test hooks there are no stop points.
#[cfg(not(feature = "test-hooks"))]
#[inline(always)]
pub(crate) fn point(_name: &str) {}

/// Keeps this process busy on the CPU at point `name` for `MS` milliseconds if
/// `ZIGGY_TEST_BUSY=name:MS`: a test's stand-in for long work there (a rebuild of a large
/// index) by a process that runs, as opposed to one stopped at [`point`].
#[cfg(feature = "test-hooks")]
pub(crate) fn busy(name: &str) {
    let Ok(v) = std::env::var("ZIGGY_TEST_BUSY") else {
        return;
    };
    let Some((want, ms)) = v.split_once(':') else {
        return;
    };
    let Ok(ms) = ms.parse::<u64>() else { return };
    if want != name {
        return;
    }
    let until = std::time::Instant::now() + std::time::Duration::from_millis(ms);
    while std::time::Instant::now() < until {
        std::hint::spin_loop();
    }
}

/// Without the test hooks there is no busy point.
#[cfg(not(feature = "test-hooks"))]
#[inline(always)]
pub(crate) fn busy(_name: &str) {}

/// The longest a waiter sleeps before it looks at its keys again without a wake-up
/// (format-spec.md §9.6): `default`, or with the test hooks `ZIGGY_TEST_RECHECK_MS`, so that
/// a test can show that a waiter is woken by the commit itself and not by this look.
#[cfg(feature = "test-hooks")]
pub(crate) fn recheck(default: std::time::Duration) -> std::time::Duration {
    std::env::var("ZIGGY_TEST_RECHECK_MS")
        .ok()
        .and_then(|v| v.parse().ok())
        .map_or(default, std::time::Duration::from_millis)
}

/// Without the test hooks, `default`.
#[cfg(not(feature = "test-hooks"))]
#[inline(always)]
pub(crate) fn recheck(default: std::time::Duration) -> std::time::Duration {
    default
}
