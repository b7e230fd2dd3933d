//! Building the library and the C/C++ programs, and running them.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

/// The crate's directory.
pub fn crate_dir() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// The directory holding libziggydb.so and libziggydb.a, built with the test hooks for this
/// test binary's profile.
pub fn lib_dir() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| build_lib(&["--features", "test-hooks"]))
}

/// As [`lib_dir`], built as users build it (no test hooks): for the bench, which must leave
/// target/release as `cargo build --release` leaves it.
#[allow(dead_code)] // used by the bench, which includes this file
pub fn plain_lib_dir() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| build_lib(&[]))
}

/// Builds the library for this binary's profile with `args`; the directory it is in.
fn build_lib(args: &[&str]) -> PathBuf {
    // This binary is <target>/<profile>/deps/<name>-<hash>.
    let exe = std::env::current_exe().expect("current_exe");
    let profile_dir = exe
        .parent()
        .and_then(Path::parent)
        .expect("target/<profile>");
    let target = profile_dir.parent().expect("target directory");
    let profile = profile_dir
        .file_name()
        .and_then(|n| n.to_str())
        .expect("profile directory name");
    let mut cmd = Command::new(env!("CARGO"));
    cmd.args(["build", "--quiet", "-p", "ziggydb-c"])
        .args(args)
        .arg("--target-dir")
        .arg(target)
        .current_dir(crate_dir());
    match profile {
        "debug" => {}
        "release" => {
            cmd.arg("--release");
        }
        other => {
            cmd.args(["--profile", other]);
        }
    }
    let out = cmd.output().expect("run cargo");
    assert!(
        out.status.success(),
        "cargo build -p ziggydb-c failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for lib in ["libziggydb.so", "libziggydb.a"] {
        assert!(profile_dir.join(lib).is_file(), "{lib} was not built");
    }
    profile_dir.to_path_buf()
}

/// How a test program links the library.
#[derive(Clone, Copy)]
pub enum Link {
    /// libziggydb.a, with the system libraries Rust's standard library needs.
    Static,
    /// libziggydb.so, found through an rpath.
    Shared,
}

/// Sanitizer flags: AddressSanitizer (leaks included) and UndefinedBehaviorSanitizer, stopping
/// at the first report.
pub const SANITIZE: &[&str] = &[
    "-fsanitize=address,undefined",
    "-fno-sanitize-recover=undefined",
    "-fno-omit-frame-pointer",
];

/// Compiles `sources` (relative to the crate) with `compiler` into `out`, against the header
/// directory and the library in `libs`.
pub fn build_with(
    libs: &Path,
    compiler: &str,
    sources: &[&str],
    out: &Path,
    extra: &[&str],
    link: Link,
) {
    let cpp = compiler == "g++";
    let mut cmd = Command::new(compiler);
    cmd.arg(if cpp { "-std=c++17" } else { "-std=c11" })
        .args(["-Wall", "-Wextra", "-Werror", "-g", "-O1"])
        .args(extra)
        .arg("-I")
        .arg(crate_dir().join("include"));
    for s in sources {
        cmd.arg(crate_dir().join(s));
    }
    cmd.arg("-o").arg(out);
    match link {
        Link::Static => {
            cmd.arg(libs.join("libziggydb.a")).args([
                "-lgcc_s",
                "-lutil",
                "-lrt",
                "-lpthread",
                "-lm",
                "-ldl",
            ]);
        }
        Link::Shared => {
            cmd.arg("-L")
                .arg(libs)
                .arg("-lziggydb")
                .arg(format!("-Wl,-rpath,{}", libs.display()))
                .arg("-lpthread");
        }
    }
    let res = cmd
        .output()
        .unwrap_or_else(|e| panic!("cannot run {compiler}: {e}"));
    assert!(
        res.status.success(),
        "{compiler} failed for {sources:?}:\n{}",
        String::from_utf8_lossy(&res.stderr)
    );
}

/// [`build_with`] the library of [`lib_dir`].
pub fn build(compiler: &str, sources: &[&str], out: &Path, extra: &[&str], link: Link) {
    build_with(lib_dir(), compiler, sources, out, extra, link);
}

/// Runs `cmd` and returns its output, failing the test with both streams if it fails.
pub fn run_ok(cmd: &mut Command) -> Output {
    let out = cmd
        .env(
            "ASAN_OPTIONS",
            "detect_leaks=1:abort_on_error=0:exitcode=86",
        )
        .env("UBSAN_OPTIONS", "print_stacktrace=1:halt_on_error=1")
        // The panic test prints the panic's message; no backtrace is needed with it.
        .env("RUST_BACKTRACE", "0")
        .output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed ({}):\nstdout:\n{}\nstderr:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// The test programs' closing line, checked: some passed and none failed.
pub fn assert_all_passed(out: &Output) {
    let stdout = String::from_utf8_lossy(&out.stdout);
    let last = stdout.lines().last().unwrap_or_default();
    let passed: u32 = last
        .strip_suffix(" passed, 0 failed")
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("unexpected closing line {last:?}"));
    assert!(passed > 20, "only {passed} checks ran");
}
