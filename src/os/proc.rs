//! What `/proc` tells about this machine and its processes: the boot id, and a process's
//! start time, state and CPU time (for telling a live lock holder from a stopped or reused
//! pid).

/// This machine's boot id (16 bytes of `/proc/sys/kernel/random/boot_id`), so a shm file
/// left from before a reboot is recognised as stale.
pub(crate) fn boot_id() -> (u64, u64) {
    let text = std::fs::read_to_string("/proc/sys/kernel/random/boot_id").unwrap_or_default();
    let hex: String = text.chars().filter(char::is_ascii_hexdigit).collect();
    let a = u64::from_str_radix(hex.get(0..16).unwrap_or("0"), 16).unwrap_or(0);
    let b = u64::from_str_radix(hex.get(16..32).unwrap_or("0"), 16).unwrap_or(0);
    (a, b)
}

/// Start time of process `pid` in clock ticks since boot (field 22 of `/proc/PID/stat`), or
/// `None` if no such process exists. Together with the pid it identifies a process even if
/// the pid is reused.
pub(crate) fn process_start(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) is in parentheses and may contain spaces.
    let rest = stat.get(stat.rfind(')')? + 2..)?;
    rest.split(' ').nth(19)?.parse().ok()
}

/// Whether process `pid` is stopped (state T or t: a job-control stop, a debugger or a
/// tracer holding it), a zombie or gone, and the CPU time it has used (user + system, in
/// clock ticks, fields 14 and 15 of `/proc/PID/stat`). `None` if it cannot be read.
pub(crate) fn process_progress(pid: u32) -> Option<(bool, u64)> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = stat.get(stat.rfind(')')? + 2..)?;
    let mut f = rest.split(' ');
    let state = f.next()?.chars().next()?;
    let mut f = f.skip(10);
    let utime: u64 = f.next()?.parse().ok()?;
    let stime: u64 = f.next()?.parse().ok()?;
    Some((matches!(state, 'T' | 't' | 'Z' | 'X'), utime + stime))
}

/// Whether process `pid`, started at `start` (as [`process_start`] reads it), is alive: it
/// exists with that start time (not a later process given the same pid) and is not a zombie
/// (a killed process its parent has not reaped yet is dead for this purpose).
pub(crate) fn process_alive(pid: u32, start: u64) -> bool {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return false;
    };
    let Some(rest) = stat.rfind(')').and_then(|at| stat.get(at + 2..)) else {
        return false;
    };
    let mut f = rest.split(' ');
    let state = f.next().and_then(|s| s.chars().next());
    let started: Option<u64> = f.nth(18).and_then(|s| s.parse().ok());
    !matches!(state, Some('Z' | 'X') | None) && started == Some(start)
}
