//! Publishing: the outputs replace the old files all or nothing (see depmod(8)), and runs at the
//! same time on the same tree both finish with a complete, consistent set.

use crate::support::all_or_nothing::{assert_failed_replacing_nothing, mark_old_outputs};
use crate::support::{
    SAMPLE_VERSION as VERSION, run_sample as run, sample_depmod as depmod, snapshot,
};

#[test]
fn an_output_name_that_is_a_directory_replaces_nothing() {
    let out = tempfile::tempdir().expect("tempdir");
    let dir = out.path().join("lib/modules").join(VERSION);
    assert!(run(out.path()).status.success());
    // Make the old set distinguishable from a fresh one, then block one output name.
    mark_old_outputs(&dir);
    std::fs::remove_file(dir.join("modules.symbols")).expect("remove");
    std::fs::create_dir(dir.join("modules.symbols")).expect("mkdir");
    let before = snapshot(&dir);

    let r = run(out.path());
    assert_failed_replacing_nothing("blocked name", r.status.code(), &r.stderr, &dir, &before);
    let stderr = String::from_utf8_lossy(&r.stderr);
    assert!(
        stderr.starts_with("depmod: FATAL: renameat(")
            && stderr.ends_with(", modules.symbols): Is a directory\n"),
        "{stderr}"
    );
}

#[test]
fn an_output_directory_that_cannot_be_created_is_fatal() {
    let out = tempfile::tempdir().expect("tempdir");
    // A file where the output tree should go.
    std::fs::write(out.path().join("lib"), b"").expect("write");
    let r = run(out.path());
    assert_eq!(r.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&r.stderr);
    assert!(
        stderr.contains("depmod: FATAL: could not create directory "),
        "{stderr}"
    );
}

#[test]
fn concurrent_runs_leave_a_consistent_set() {
    let reference = tempfile::tempdir().expect("tempdir");
    assert!(run(reference.path()).status.success());
    let expected = snapshot(&reference.path().join("lib/modules").join(VERSION));

    let out = tempfile::tempdir().expect("tempdir");
    for _ in 0..5 {
        let children: Vec<_> = (0..4)
            .map(|_| depmod(out.path()).spawn().expect("spawn"))
            .collect();
        for mut c in children {
            assert!(c.wait().expect("wait").success());
        }
        assert_eq!(
            snapshot(&out.path().join("lib/modules").join(VERSION)),
            expected
        );
    }
}

/// Run the sample tree with at most `limit` open files (and two scanning threads, so that
/// the count does not depend on the machine's cores).
fn run_with_open_file_limit(out: &std::path::Path, limit: u64) -> std::process::Output {
    use std::os::unix::process::CommandExt;
    let mut cmd = depmod(out);
    cmd.args(["-j", "2"]);
    // SAFETY: only the async-signal-safe setrlimit between fork and exec.
    unsafe {
        cmd.pre_exec(move || {
            let lim = libc::rlimit {
                rlim_cur: limit,
                rlim_max: limit,
            };
            if libc::setrlimit(libc::RLIMIT_NOFILE, &lim) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    cmd.output().expect("run depmod")
}

#[test]
fn a_low_open_file_limit_is_enough() {
    // What a run needs at once: stdin/stdout/stderr, one descriptor per directory level
    // while walking, one per scanning thread, the output directory and one output file while
    // publishing. kmod 34.2 needs 12 on this tree (its wrapper's shell included); holding all
    // eleven outputs open while publishing needed 16 and failed with "Too many open files".
    let expected = tempfile::tempdir().expect("tempdir");
    assert!(run(expected.path()).status.success());
    let out = tempfile::tempdir().expect("tempdir");
    let r = run_with_open_file_limit(out.path(), 8);
    assert!(r.status.success(), "{}", String::from_utf8_lossy(&r.stderr));
    assert_eq!(
        snapshot(&out.path().join("lib/modules").join(VERSION)),
        snapshot(&expected.path().join("lib/modules").join(VERSION))
    );
    // The limit is real: far below it, the run fails with kmod's message, replacing nothing.
    let dir = out.path().join("lib/modules").join(VERSION);
    let before = mark_old_outputs(&dir);
    let r = run_with_open_file_limit(out.path(), 4);
    assert_failed_replacing_nothing("4 open files", r.status.code(), &r.stderr, &dir, &before);
    assert!(
        String::from_utf8_lossy(&r.stderr).contains("Too many open files"),
        "{}",
        String::from_utf8_lossy(&r.stderr)
    );
}
