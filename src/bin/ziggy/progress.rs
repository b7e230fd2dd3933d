//! A progress bar on standard error, when it is a terminal, for the library's long
//! operations (IMPORT, EXPORT, BACKUP, REPAIR, COMPACT, CHECK, FLUSHDB), driven by its
//! progress callback (`ziggydb::progress`). An operation that ends within [`DELAY`] shows
//! nothing, and a bar is cleared when its operation ends: the output is as it would be
//! without. Nothing at all when standard error is not a terminal.

use std::cell::RefCell;
use std::io::{self, IsTerminal};
use std::rc::Rc;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use ziggydb::progress::{with_progress, Progress, Task, Unit};

/// How long an operation runs before its bar appears.
const DELAY: Duration = Duration::from_millis(300);

/// The operation being shown: which, since when, and its bar once it has one.
struct Shown {
    task: Task,
    since: Instant,
    bar: Option<ProgressBar>,
}

/// Runs `f` with a progress bar for each long operation it runs, if standard error is a
/// terminal.
pub fn with_bars<T>(f: impl FnOnce() -> T) -> T {
    if !io::stderr().is_terminal() {
        return f();
    }
    let shown: Rc<RefCell<Option<Shown>>> = Rc::new(RefCell::new(None));
    let state = Rc::clone(&shown);
    let result = with_progress(move |p| update(&mut state.borrow_mut(), p), f);
    if let Some(Shown { bar: Some(bar), .. }) = shown.borrow_mut().take() {
        bar.finish_and_clear();
    }
    result
}

fn update(shown: &mut Option<Shown>, p: Progress) {
    if shown.as_ref().is_none_or(|s| s.task != p.task) || p.done == 0 {
        if let Some(Shown { bar: Some(bar), .. }) = shown.take() {
            bar.finish_and_clear();
        }
        *shown = Some(Shown {
            task: p.task,
            since: Instant::now(),
            bar: None,
        });
    }
    let Some(s) = shown.as_mut() else { return };
    if p.done >= p.total {
        if let Some(bar) = s.bar.take() {
            bar.finish_and_clear();
        }
        *shown = None;
        return;
    }
    if s.bar.is_none() && s.since.elapsed() >= DELAY {
        let template = match p.unit {
            Unit::Bytes => "{prefix} [{wide_bar}] {bytes}/{total_bytes} {eta}",
            _ => "{prefix} [{wide_bar}] {human_pos}/{human_len} keys {eta}",
        };
        let style = ProgressStyle::with_template(template)
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> ");
        let bar = ProgressBar::with_draw_target(Some(p.total), ProgressDrawTarget::stderr())
            .with_style(style)
            .with_prefix(p.task.name());
        s.bar = Some(bar);
    }
    if let Some(bar) = &s.bar {
        bar.set_length(p.total);
        bar.set_position(p.done);
    }
}
