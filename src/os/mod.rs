//! The operating system underneath: memory maps (and the SIGBUS-safe copy out of them), file
//! locks, the I/O seam every file call goes through (where the tests inject faults and
//! power losses), and the process's pseudo-random sequence. The lowest layer: it uses nothing of the crate but [`crate::error`].

pub(crate) mod io;
pub(crate) mod lock;
pub(crate) mod map;
#[allow(dead_code)] // the stop points come with the code that waits at them
pub(crate) mod pause;
pub(crate) mod proc;
pub(crate) mod random;
