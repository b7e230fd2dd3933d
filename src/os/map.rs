//! The only module that touches `memmap2` or contains `unsafe` (format-spec.md §7).
//!
//! Two kinds of mapping:
//! - [`SegmentMap`]: a read-only view of a segment file, handed out as `&[u8]`. Only ranges of
//!   published records are read, and published records are never rewritten.
//! - [`SharedWords`]: a read-write shared mapping of a fixed-size file (`ziggy.shm`, an index
//!   file) seen only as a slice of `AtomicU64`, so that every access from any process is an
//!   atomic load or store on an aligned word; for a read-only open, the same view of private
//!   anonymous memory (a copy of an index file, or a stand-in for `ziggy.shm`).
//!
//! And [`fallocate`], which gives a file real blocks before it is mapped or written, so that
//! a full disk is an error there and never a SIGBUS on a mapped page.
//!
//! And [`futex_wait`] / [`futex_wake_all`], which let processes sleep on a word of a shared
//! mapping until another process changes it (group commit, format-spec.md §9.4).
//!
//! And [`fork_generation`], which counts the `fork()`s that made this process, so that a
//! handle opened before a fork knows it is used in the child.
#![allow(unsafe_code)]

use std::fs::File;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use crate::error::{Error, Result};

/// How many `fork()`s separate this process from the one that first called
/// [`fork_generation`]: the child handler of `pthread_atfork` adds one in each child.
static FORKS: AtomicU64 = AtomicU64::new(0);

extern "C" fn count_fork_in_child() {
    // Async-signal-safe, as a fork handler must be: one atomic add, no allocation, no lock.
    FORKS.fetch_add(1, Ordering::Relaxed);
}

/// This process's fork generation: it differs from the value a handle recorded at its open
/// exactly when the handle was opened in an ancestor of this process (before a `fork()`).
/// The first call registers the handler; every handle calls it at its open, before any fork
/// it must see.
pub(crate) fn fork_generation() -> u64 {
    static REGISTER: std::sync::Once = std::sync::Once::new();
    REGISTER.call_once(|| {
        // SAFETY: `pthread_atfork` only records the three function pointers; the child
        // handler is a plain `extern "C" fn` with no captured state, valid for the life of
        // the process, and does nothing but an atomic add (async-signal-safe). If the
        // registration fails (ENOMEM), forks go unnoticed, as they did before it.
        unsafe {
            libc::pthread_atfork(None, None, Some(count_fork_in_child));
        }
    });
    FORKS.load(Ordering::Relaxed)
}

/// The address of the low 32 bits of `word` (the first four bytes: little-endian targets).
fn low_half(word: &AtomicU64) -> *const u32 {
    const _: () = assert!(cfg!(target_endian = "little"));
    word.as_ptr().cast::<u32>().cast_const()
}

/// Sleeps while the low 32 bits of `word` equal `seen`, for at most `timeout`. `word` lies in
/// a shared mapping, so a process that changes it and calls [`futex_wake_all`] wakes sleepers
/// in every process. Returns early on any change, wake-up, signal or spuriously: callers
/// re-check their condition.
pub(crate) fn futex_wait(word: &AtomicU64, seen: u32, timeout: Duration) {
    let ts = libc::timespec {
        tv_sec: libc::time_t::try_from(timeout.as_secs()).unwrap_or(libc::time_t::MAX),
        tv_nsec: libc::c_long::from(
            i32::try_from(timeout.subsec_nanos()).expect("below one billion"),
        ),
    };
    // SAFETY: FUTEX_WAIT reads the aligned 4-byte word at the address (inside `word`, which is
    // borrowed for the whole call, so it stays mapped) and the timespec on our stack; it
    // writes no memory of ours. Not FUTEX_PRIVATE: the word is shared between processes.
    unsafe {
        libc::syscall(
            libc::SYS_futex,
            low_half(word),
            libc::FUTEX_WAIT,
            seen,
            &ts as *const libc::timespec,
            std::ptr::null::<u32>(),
            0u32,
        );
    }
}

/// Wakes every process and thread sleeping in [`futex_wait`] on `word`.
pub(crate) fn futex_wake_all(word: &AtomicU64) {
    // SAFETY: FUTEX_WAKE only uses the address as a key to find sleepers; it reads or writes
    // no memory of ours. `word` is borrowed, so the address is mapped for the call.
    unsafe {
        libc::syscall(
            libc::SYS_futex,
            low_half(word),
            libc::FUTEX_WAKE,
            i32::MAX,
            std::ptr::null::<libc::timespec>(),
            std::ptr::null::<u32>(),
            0u32,
        );
    }
}

/// One word [`futex_wait_any`] sleeps on: the low 32 bits of `word`, while they equal `seen`.
/// `shared` says whether the word lies in a mapping shared between processes (a word of
/// `ziggy.shm`) or in this process's own memory (a cancel flag), which the kernel keys
/// apart (FUTEX_PRIVATE_FLAG).
pub(crate) struct FutexWord<'a> {
    pub(crate) word: &'a AtomicU64,
    pub(crate) seen: u32,
    pub(crate) shared: bool,
}

/// `struct futex_waitv` of `linux/futex.h`.
#[repr(C)]
struct FutexWaitv {
    val: u64,
    uaddr: u64,
    flags: u32,
    reserved: u32,
}

/// Sleeps while every word of `words` still holds its `seen` value, until `deadline` (on the
/// monotonic clock of [`std::time::Instant`]), at most 128 words. Returns early on any
/// change, wake-up, signal or spuriously: callers re-check their condition. With the
/// `futex_waitv` system call (Linux 5.16 and later) one sleep covers every word; on an
/// older kernel it sleeps on the first word alone for at most 5 ms at a time, so a change
/// of another is seen within that bound (format-spec.md §9.6).
pub(crate) fn futex_wait_any(words: &[FutexWord<'_>], deadline: Option<std::time::Instant>) {
    static NO_WAITV: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);
    const FUTEX_32: u32 = 2;
    let words = &words[..words.len().min(128)];
    let Some(first) = words.first() else {
        if let Some(d) = deadline {
            std::thread::sleep(d.saturating_duration_since(std::time::Instant::now()));
        }
        return;
    };
    let now = std::time::Instant::now();
    if deadline.is_some_and(|d| d <= now) {
        return;
    }
    if words.len() == 1 || NO_WAITV.load(Ordering::Relaxed) {
        let left = deadline.map_or(Duration::from_secs(3600), |d| d - now);
        let left = if words.len() == 1 {
            left
        } else {
            left.min(Duration::from_millis(5))
        };
        // A private word is waited on as a shared one would be only if it is shared; a
        // cancel flag alone in the list is never the case (the callers list it last).
        futex_wait(first.word, first.seen, left);
        return;
    }
    let list: Vec<FutexWaitv> = words
        .iter()
        .map(|w| FutexWaitv {
            val: u64::from(w.seen),
            uaddr: low_half(w.word) as u64,
            flags: FUTEX_32
                | if w.shared {
                    0
                } else {
                    libc::FUTEX_PRIVATE_FLAG as u32
                },
            reserved: 0,
        })
        .collect();
    // The deadline as an absolute CLOCK_MONOTONIC time, which is the clock `Instant` reads.
    let abs = deadline.map(|d| {
        let mut ts = libc::timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        // SAFETY: clock_gettime writes only the timespec on our stack.
        unsafe {
            libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts);
        }
        let left = d.saturating_duration_since(std::time::Instant::now());
        let nanos = i128::from(ts.tv_nsec) + i128::from(left.subsec_nanos());
        libc::timespec {
            tv_sec: ts
                .tv_sec
                .saturating_add(
                    libc::time_t::try_from(left.as_secs()).unwrap_or(libc::time_t::MAX / 2),
                )
                .saturating_add((nanos / 1_000_000_000) as libc::time_t),
            tv_nsec: (nanos % 1_000_000_000) as libc::c_long,
        }
    });
    let ts_ptr = abs
        .as_ref()
        .map_or(std::ptr::null(), |t| t as *const libc::timespec);
    // SAFETY: futex_waitv reads the `list.len()` entries of `list` and the timespec (both on
    // our stack or heap, alive for the call) and the 4-byte words they point to, each inside
    // an `AtomicU64` borrowed for the whole call, so mapped; it writes no memory of ours.
    let r = unsafe {
        libc::syscall(
            libc::SYS_futex_waitv,
            list.as_ptr(),
            list.len() as libc::c_uint,
            0u32,
            ts_ptr,
            libc::CLOCK_MONOTONIC,
        )
    };
    if r < 0 && std::io::Error::last_os_error().raw_os_error() == Some(libc::ENOSYS) {
        NO_WAITV.store(true, Ordering::Relaxed);
    }
}

/// Wakes every thread of this process sleeping in [`futex_wait_any`] on the private word
/// `word`. Async-signal-safe (one system call), so a signal handler may cancel a wait.
pub(crate) fn futex_wake_private(word: &AtomicU64) {
    // SAFETY: as in `futex_wake_all`: the address is only a key, `word` is borrowed.
    unsafe {
        libc::syscall(
            libc::SYS_futex,
            low_half(word),
            libc::FUTEX_WAKE | libc::FUTEX_PRIVATE_FLAG,
            i32::MAX,
            std::ptr::null::<libc::timespec>(),
            std::ptr::null::<u32>(),
            0u32,
        );
    }
}

/// Grows `file` to at least `len` bytes with real blocks (`posix_fallocate` of `0..len`).
///
/// `posix_fallocate` returns its error number and leaves `errno` alone, so the error is made
/// from the return value: reading `errno` (as `fs2::FileExt::allocate` does) reported a full
/// disk as whatever error an earlier call had left there.
pub(crate) fn fallocate(file: &File, len: u64) -> std::io::Result<()> {
    use std::os::fd::AsRawFd;
    let len = libc::off_t::try_from(len).map_err(|_| {
        std::io::Error::new(std::io::ErrorKind::InvalidInput, "file length too large")
    })?;
    loop {
        // SAFETY: the call takes only integers and touches no memory of ours; the descriptor
        // belongs to `file`, which is borrowed for the whole call.
        match unsafe { libc::posix_fallocate(file.as_raw_fd(), 0, len) } {
            0 => return Ok(()),
            libc::EINTR => continue,
            errno => return Err(std::io::Error::from_raw_os_error(errno)),
        }
    }
}

/// Read-only view of a segment file.
pub(crate) struct SegmentMap {
    map: memmap2::Mmap,
}

impl SegmentMap {
    /// Maps the first `len` bytes of `file` read-only. `len` must not exceed the file's size.
    pub(crate) fn open(file: &File, len: u64, path: &Path) -> Result<Self> {
        let flen = file.metadata().map_err(|e| Error::io(path, e))?.len();
        if len > flen {
            return Err(Error::CorruptSegment {
                file: path.to_path_buf(),
                offset: flen,
                reason: "segment file is shorter than expected",
            });
        }
        let len =
            usize::try_from(len).map_err(|_| Error::InvalidArgument("segment too large".into()))?;
        if len == 0 {
            return Err(Error::CorruptSegment {
                file: path.to_path_buf(),
                offset: 0,
                reason: "segment file is empty",
            });
        }
        // SAFETY: ZiggyDB never truncates or shrinks a segment file (format-spec.md §3.4):
        // files only grow (fallocate) and are deleted whole by compaction; on Linux an
        // unlinked file stays valid for existing mappings. We map no more than the size the
        // file had just now, so every mapped page is backed by the file. Bytes in the
        // mapping may still change (the writer appends past the published end of the active
        // segment), which is why the map is only read through `slice` at ranges of published
        // records, and every record is checksummed before use.
        let map = unsafe { memmap2::MmapOptions::new().len(len).map(file) }
            .map_err(|e| Error::io(path, e))?;
        Ok(Self { map })
    }

    /// Length of the mapped range.
    pub(crate) fn len(&self) -> usize {
        self.map.len()
    }

    /// The bytes at `start..start + len`, or `None` if the range is outside the map.
    pub(crate) fn slice(&self, start: usize, len: usize) -> Option<&[u8]> {
        let end = start.checked_add(len)?;
        self.map.get(start..end)
    }
}

/// A fixed-size file mapped read-write and shared by all processes, seen as atomic words.
pub(crate) struct SharedWords {
    map: memmap2::MmapRaw,
    words: usize,
}

impl SharedWords {
    /// Maps all of `file`, whose size must be a non-zero multiple of 4096 and must never
    /// change while any process has it mapped.
    pub(crate) fn open(file: &File, path: &Path) -> Result<Self> {
        let len = file.metadata().map_err(|e| Error::io(path, e))?.len();
        if len == 0 || len % 4096 != 0 {
            let (file, reason) = (
                path.to_path_buf(),
                "file size is not a positive multiple of 4096",
            );
            return Err(if path.file_name().is_some_and(|n| n == "ziggy.shm") {
                Error::CorruptShm { file, reason }
            } else {
                Error::CorruptIndex { file, reason }
            });
        }
        let map = memmap2::MmapOptions::new()
            .map_raw(file)
            .map_err(|e| Error::io(path, e))?;
        let words = map.len() / 8;
        Ok(Self { map, words })
    }

    /// All words of the mapping.
    pub(crate) fn words(&self) -> &[AtomicU64] {
        let ptr = self.map.as_mut_ptr().cast::<AtomicU64>();
        // SAFETY: the mapping is page-aligned, so `ptr` is aligned for AtomicU64, and it is
        // `words * 8` bytes long and lives as long as `self`, which the returned slice borrows.
        // The file is never truncated while mapped (format-spec.md §5, §6: shm and index files
        // are created at full size and only ever replaced by new files), so no page faults past
        // the end of file. Other processes modify these bytes concurrently, but only through
        // aligned 8-byte atomic operations, which is exactly the access `AtomicU64` permits.
        // An anonymous mapping (`snapshot`, `private`) has no file behind it and is seen only
        // by this process, through the same atomic words.
        unsafe { std::slice::from_raw_parts(ptr, self.words) }
    }

    /// A private copy of all of `file` in anonymous memory: what it held when read,
    /// unaffected by later changes to the file, which may be opened read-only (a read-only
    /// open, format-spec.md §6.4). `len` is the file's size, read by the caller, who checked
    /// it against the file's header: a positive multiple of 8.
    pub(crate) fn snapshot(file: &File, len: u64, path: &Path) -> Result<Self> {
        use std::os::unix::fs::FileExt;
        let len =
            usize::try_from(len).map_err(|_| Error::InvalidArgument("file too large".into()))?;
        let mut map = memmap2::MmapMut::map_anon(len).map_err(|e| Error::io(path, e))?;
        file.read_exact_at(&mut map, 0)
            .map_err(|e| Error::io(path, e))?;
        let map = memmap2::MmapRaw::from(map);
        Ok(Self {
            map,
            words: len / 8,
        })
    }

    /// Shared state for a read-only open: `len` bytes of private anonymous memory, zeroed.
    pub(crate) fn private(len: usize) -> Result<Self> {
        let map = memmap2::MmapMut::map_anon(len).map_err(|e| Error::io("anonymous memory", e))?;
        Ok(Self {
            map: memmap2::MmapRaw::from(map),
            words: len / 8,
        })
    }

    /// Writes the dirty pages in `byte_start..byte_start + len` to disk (msync).
    pub(crate) fn flush_range(&self, byte_start: usize, len: usize, path: &Path) -> Result<()> {
        crate::os::io::check_fault(crate::os::io::FaultOp::Sync).map_err(|e| Error::io(path, e))?;
        let pending = crate::os::io::powerloss::before_msync(path);
        self.map
            .flush_range(byte_start, len)
            .map_err(|e| Error::io(path, e))?;
        crate::os::io::powerloss::after_msync(pending, path, byte_start, len);
        Ok(())
    }

    /// Length in bytes.
    pub(crate) fn len(&self) -> usize {
        self.map.len()
    }
}
