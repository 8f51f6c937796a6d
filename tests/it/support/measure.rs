//! Running a program and measuring its own peak resident memory.
//!
//! `ru_maxrss` from `wait4` is not the child's alone: `execve` carries the high-water mark of the
//! memory it replaces into it, and a child spawned with `vfork` (as `std::process::Command`
//! does) replaces this process's memory, so a child of the test binary reports at least the
//! binary's own peak, which other tests on other threads raise (an index round trip of
//! `fuzz_regressions` peaks above 2 GiB). So [`run_measured`] re-executes the test binary as a
//! small intermediate process; before libtest's `main` runs (an `.init_array` function), that
//! process sees [`MEASURE_ENV`], spawns the program, takes its `wait4` figures and prints them.

use std::ffi::{CStr, OsStr, OsString};
use std::io::{Read, Seek};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// In the environment of the intermediate process only (the same name twice: for `Command`
/// and for `getenv`).
const MEASURE_ENV: &str = "DEPMOD_TEST_MEASURE_CHILD";
const MEASURE_ENV_C: &CStr = c"DEPMOD_TEST_MEASURE_CHILD";

/// What [`run_measured`] saw: exit code, stderr, the child's peak resident memory.
#[derive(Debug)]
pub struct Measured {
    pub status: Option<i32>,
    pub stderr: Vec<u8>,
    /// `ru_maxrss` of the child, in KiB.
    pub peak_rss_kib: u64,
    pub elapsed: Duration,
}

/// Run `bin` with `argv` (argv\[0\] = `depmod`, stdout discarded, `LC_ALL=C`) and report its
/// exit code, stderr, peak RSS and run time, measured by an intermediate process (see the top).
pub fn run_measured(bin: &Path, argv: &[OsString]) -> Measured {
    let mut err = tempfile::tempfile().expect("temp file");
    let out = Command::new(std::env::current_exe().expect("the test binary"))
        .env(MEASURE_ENV, "1")
        .arg(bin)
        .args(argv)
        .stdin(Stdio::null())
        .stderr(err.try_clone().expect("dup"))
        .output()
        .expect("run the measuring intermediate");
    let report = String::from_utf8_lossy(&out.stdout);
    let fields: Vec<i64> = report
        .split_whitespace()
        .map(|f| f.parse().expect("a number"))
        .collect();
    assert!(
        out.status.success() && fields.len() == 3,
        "the measuring intermediate failed ({}): {report:?}",
        out.status
    );
    let mut stderr = Vec::new();
    err.rewind().expect("rewind");
    err.read_to_end(&mut stderr).expect("read stderr");
    Measured {
        status: (fields[0] >= 0).then_some(fields[0] as i32),
        stderr,
        peak_rss_kib: fields[1] as u64,
        elapsed: Duration::from_nanos(fields[2] as u64),
    }
}

#[used]
#[unsafe(link_section = ".init_array")]
static MEASURE_BEFORE_MAIN: extern "C" fn() = measure_before_main;

/// In the intermediate process: run the program named by the arguments, print
/// `<exit code or -1> <ru_maxrss KiB> <nanoseconds>` and exit; elsewhere: nothing.
// The child is reaped by `wait4`, which clippy does not see.
#[allow(clippy::zombie_processes)]
extern "C" fn measure_before_main() {
    // SAFETY: getenv with a NUL-terminated name; the environment is set up before constructors.
    if unsafe { libc::getenv(MEASURE_ENV_C.as_ptr()) }.is_null() {
        return;
    }
    // The arguments from /proc (std's own copy may not be set up yet): skip the binary's name.
    let cmdline = std::fs::read("/proc/self/cmdline").expect("/proc/self/cmdline");
    let args: Vec<&OsStr> = cmdline
        .strip_suffix(b"\0")
        .unwrap_or(&cmdline)
        .split(|&b| b == 0)
        .skip(1)
        .map(OsStr::from_bytes)
        .collect();
    let (bin, argv) = args.split_first().expect("a program to measure");
    let start = Instant::now();
    let child = Command::new(bin)
        .arg0("depmod")
        .args(argv)
        .env_remove(MEASURE_ENV)
        .env("LC_ALL", "C")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("spawn {}: {e}", bin.display()));
    let pid = child.id() as libc::pid_t;
    let mut status = 0;
    // SAFETY: a zeroed rusage is valid; wait4 on our own child with valid pointers reaps it
    // (so the `Child` is not waited for again).
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    let waited = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
    assert_eq!(waited, pid, "wait4");
    let elapsed = start.elapsed();
    let code = if libc::WIFEXITED(status) {
        libc::WEXITSTATUS(status)
    } else {
        -1
    };
    println!("{code} {} {}", usage.ru_maxrss, elapsed.as_nanos());
    std::process::exit(0);
}
