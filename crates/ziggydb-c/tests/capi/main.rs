//! The C ABI from the outside: the header is current, and C and C++ programs built with
//! gcc/g++ (under AddressSanitizer and UndefinedBehaviorSanitizer, and once under valgrind)
//! pass their tests against libziggydb.a and libziggydb.so; several C processes and this Rust
//! process share one database; the examples build and check themselves; the installed
//! pkg-config file builds a program.
//!
//! Cargo does not build a cdylib or staticlib for its package's integration tests, so the
//! tests build the library first (`cargo build -p ziggydb-c --features test-hooks`, into this
//! test's own target directory and profile; a no-op when it is current).

mod header;
mod programs;
mod util;
