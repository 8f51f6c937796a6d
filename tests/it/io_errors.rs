//! I/O errors while publishing, injected with a seccomp filter (`support/seccomp.rs`):
//! `fsync`/`fdatasync`, `write`-family calls on files (fd >= 3; stdout and stderr still work)
//! and `rename`-family calls fail with an errno.
//!
//! Each run starts from an output directory holding a complete set of indexes from a clean run
//! (each then overwritten with a marker, so that a replaced file is seen). On any failure
//! before the renames the run must exit 1 with kmod's wording, leave every old file
//! byte-identical and no temporary file (`<name>.<pid>.<usec>.<sec>`) behind (see depmod(8);
//! all-or-nothing publishing).
//!
//! A rename failing after other renames succeeded (only the n-th call fails, counted by a
//! seccomp user-notification supervisor) must leave the old set too: each output is exchanged
//! with its old file (`renameat2(RENAME_EXCHANGE)`), so the earlier ones are swapped back.

use crate::support::all_or_nothing::{assert_failed_replacing_nothing, mark_old_outputs};
use crate::support::seccomp::{self, Fault, NthCall};
use crate::support::skip::{Missing, skip};
use crate::support::{OUTPUTS, SAMPLE_VERSION, Snapshot, run_sample, sample_depmod, snapshot};
use std::path::{Path, PathBuf};
use std::process::Output;

fn supported() -> bool {
    if !seccomp::SUPPORTED {
        skip(Missing::SeccompArch, std::env::consts::ARCH);
    }
    seccomp::SUPPORTED
}

fn moddir(out: &Path) -> PathBuf {
    out.join("lib/modules").join(SAMPLE_VERSION)
}

/// A complete set of indexes from a clean run, each overwritten with `old <name>`.
fn old_set(out: &Path) -> Snapshot {
    let r = run_sample(out);
    assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
    let dir = moddir(out);
    for name in OUTPUTS {
        assert!(dir.join(name).is_file(), "{name} missing after a clean run");
    }
    mark_old_outputs(&dir)
}

/// The set a clean run writes.
fn new_set() -> Snapshot {
    let out = tempfile::tempdir().expect("tempdir");
    let r = run_sample(out.path());
    assert!(r.status.success());
    snapshot(&moddir(out.path()))
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Exit 1 with `want(stderr)`, every old file unchanged, no temporary file.
#[track_caller]
fn assert_nothing_replaced(out: &Path, before: &Snapshot, o: &Output, want: impl Fn(&str) -> bool) {
    let err = stderr(o);
    assert_failed_replacing_nothing(
        "the run under a fault",
        o.status.code(),
        &o.stderr,
        &moddir(out),
        before,
    );
    assert!(want(&err), "unexpected stderr:\n{err}");
}

fn index_error(name: &str, reason: &str) -> String {
    format!("depmod: ERROR: Could not create index '{name}'. Output is truncated: {reason}\n")
}

/// `depmod: FATAL: renameat(<dir>, <name>.<pid>.<usec>.<sec>, <dir>, <name>): <reason>`
fn is_rename_fatal(err: &str, dir: &Path, name: &str, reason: &str) -> bool {
    let d = dir.display().to_string();
    let Some(rest) = err.strip_prefix(&format!("depmod: FATAL: renameat({d}, {name}.")) else {
        return false;
    };
    let Some(rest) = rest.strip_suffix(&format!(", {d}, {name}): {reason}\n")) else {
        return false;
    };
    let parts: Vec<&str> = rest.split('.').collect();
    parts.len() == 3
        && parts
            .iter()
            .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
}

fn run_fault(out: &Path, fault: &Fault) -> Output {
    seccomp::output_with(sample_depmod(out), fault)
}

#[test]
fn control_empty_filter_publishes() {
    if !supported() {
        return;
    }
    let out = tempfile::tempdir().expect("tempdir");
    old_set(out.path());
    let o = run_fault(
        out.path(),
        &Fault {
            errno: libc::EIO,
            ..Fault::default()
        },
    );
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(snapshot(&moddir(out.path())), new_set());
}

#[test]
fn fsync_eio_replaces_nothing() {
    if !supported() {
        return;
    }
    let out = tempfile::tempdir().expect("tempdir");
    let before = old_set(out.path());
    let fault = Fault {
        errno: libc::EIO,
        calls: seccomp::sync_calls(),
        ..Fault::default()
    };
    let o = run_fault(out.path(), &fault);
    let want = index_error("modules.dep", "Input/output error");
    assert_nothing_replaced(out.path(), &before, &o, |e| e == want);
}

#[test]
fn write_errors_replace_nothing() {
    if !supported() {
        return;
    }
    for (errno, reason) in [
        (libc::EIO, "Input/output error"),
        (libc::ENOSPC, "No space left on device"),
        (libc::EDQUOT, "Disk quota exceeded"),
        (libc::EFBIG, "File too large"),
    ] {
        let out = tempfile::tempdir().expect("tempdir");
        let before = old_set(out.path());
        let fault = Fault {
            errno,
            fd_calls: seccomp::write_calls(),
            ..Fault::default()
        };
        let o = run_fault(out.path(), &fault);
        // stderr (fd 2) is still written: the filter only fails descriptors >= 3.
        let want = index_error("modules.dep", reason);
        assert_nothing_replaced(out.path(), &before, &o, |e| e == want);
    }
}

#[test]
fn write_fault_spares_stdout_and_stderr() {
    if !supported() {
        return;
    }
    let out = tempfile::tempdir().expect("tempdir");
    let mut plain = sample_depmod(out.path());
    plain.arg("-n");
    let expected = plain.output().expect("run");
    assert!(expected.status.success() && !expected.stdout.is_empty());
    let mut cmd = sample_depmod(out.path());
    cmd.arg("-n");
    let o = seccomp::output_with(
        cmd,
        &Fault {
            errno: libc::EIO,
            fd_calls: seccomp::write_calls(),
            ..Fault::default()
        },
    );
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(o.stdout, expected.stdout);
}

#[test]
fn rename_eio_replaces_nothing() {
    if !supported() {
        return;
    }
    let out = tempfile::tempdir().expect("tempdir");
    let before = old_set(out.path());
    let fault = Fault {
        errno: libc::EIO,
        calls: seccomp::rename_calls(),
        ..Fault::default()
    };
    let o = run_fault(out.path(), &fault);
    let dir = moddir(out.path());
    assert_nothing_replaced(out.path(), &before, &o, |e| {
        is_rename_fatal(e, &dir, "modules.dep", "Input/output error")
    });
}

fn run_nth(out: &Path, nth: &NthCall) -> Output {
    let r = seccomp::output_nth(sample_depmod(out), nth);
    assert!(
        r.calls_seen >= nth.n,
        "the fault was not reached: {} calls seen, the {}th was to fail; stderr:\n{}",
        r.calls_seen,
        nth.n,
        stderr(&r.output)
    );
    r.output
}

/// The last of the eleven flushes fails while every temporary file exists. The outputs are
/// flushed at the same time, so which output's flush comes last is up to the scheduler.
#[test]
fn last_fsync_fails_replaces_nothing() {
    if !supported() {
        return;
    }
    let out = tempfile::tempdir().expect("tempdir");
    let before = old_set(out.path());
    let o = run_nth(
        out.path(),
        &NthCall {
            calls: seccomp::sync_calls(),
            n: OUTPUTS.len(),
            errno: libc::EIO,
            ..NthCall::default()
        },
    );
    assert_nothing_replaced(out.path(), &before, &o, |e| {
        OUTPUTS
            .iter()
            .any(|name| e == index_error(name, "Input/output error"))
    });
}

/// A write in the middle of the set fails.
#[test]
fn middle_write_fails_replaces_nothing() {
    if !supported() {
        return;
    }
    for n in [2, 6, OUTPUTS.len()] {
        let out = tempfile::tempdir().expect("tempdir");
        let before = old_set(out.path());
        let o = run_nth(
            out.path(),
            &NthCall {
                fd_calls: seccomp::write_calls(),
                n,
                errno: libc::ENOSPC,
                ..NthCall::default()
            },
        );
        // Each sample output is written with one call, so the n-th write is the n-th file.
        let want = index_error(OUTPUTS[n - 1], "No space left on device");
        assert_nothing_replaced(out.path(), &before, &o, |e| e == want);
    }
}

/// The directory is flushed after the renames; its failure changes nothing already visible,
/// so the run succeeds with the new set (publish.rs ignores it; kmod flushes nothing).
#[test]
fn directory_fsync_failure_after_renames_is_ignored() {
    if !supported() {
        return;
    }
    let out = tempfile::tempdir().expect("tempdir");
    old_set(out.path());
    let r = seccomp::output_nth(
        sample_depmod(out.path()),
        &NthCall {
            calls: seccomp::sync_calls(),
            n: OUTPUTS.len() + 1,
            errno: libc::EIO,
            ..NthCall::default()
        },
    );
    assert_eq!(
        r.calls_seen,
        OUTPUTS.len() + 1,
        "one flush per file + the dir"
    );
    assert!(r.output.status.success(), "{}", stderr(&r.output));
    assert!(r.output.stderr.is_empty(), "{}", stderr(&r.output));
    assert_eq!(snapshot(&moddir(out.path())), new_set());
}

/// The n-th rename fails (n > 1 after n - 1 files were replaced). What holds: exit 1, the
/// FATAL message naming the n-th file, no temporary file, and each file either its old or
/// its complete new contents. Returns the names of the files that were replaced.
fn nth_rename_fails(n: usize) -> Vec<&'static str> {
    let out = tempfile::tempdir().expect("tempdir");
    let before = old_set(out.path());
    let new = new_set();
    let o = run_nth(
        out.path(),
        &NthCall {
            calls: seccomp::rename_calls(),
            n,
            errno: libc::EIO,
            ..NthCall::default()
        },
    );
    let dir = moddir(out.path());
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(
        is_rename_fatal(&err, &dir, OUTPUTS[n - 1], "Input/output error"),
        "{err}"
    );
    let after = snapshot(&dir);
    let names: Vec<&str> = after.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(
        names,
        before.iter().map(|(n, _)| n.as_str()).collect::<Vec<_>>(),
        "files left or missing"
    );
    let mut replaced = Vec::new();
    for name in OUTPUTS {
        let get = |s: &Snapshot| s.iter().find(|(n, _)| n == name).cloned();
        let now = get(&after);
        if now == get(&new) {
            replaced.push(name);
        } else {
            assert_eq!(now, get(&before), "{name} is neither old nor new (torn)");
        }
    }
    replaced
}

#[test]
fn first_rename_fails_replaces_nothing() {
    if !supported() {
        return;
    }
    assert_eq!(nth_rename_fails(1), Vec::<&str>::new());
}

/// What holds even on a filesystem without exchange (where earlier renames cannot be undone):
/// only files before the failing one are new, none torn, no temporary file left.
#[test]
fn later_rename_failure_leaves_no_torn_or_temporary_file() {
    if !supported() {
        return;
    }
    for n in [2, OUTPUTS.len()] {
        let replaced = nth_rename_fails(n);
        eprintln!(
            "rename {n} of {} failed; replaced: {replaced:?}",
            OUTPUTS.len()
        );
        // Only files before the failing one, in publishing order (none once the gap is closed).
        assert!(OUTPUTS[..n - 1].starts_with(&replaced), "{replaced:?}");
    }
}

/// The strict form: the earlier renames are undone, nothing is replaced.
#[test]
fn later_rename_failure_replaces_nothing() {
    if !supported() {
        return;
    }
    for n in [2, 6, OUTPUTS.len()] {
        assert_eq!(nth_rename_fails(n), Vec::<&str>::new(), "rename {n} failed");
    }
}
