//! Write faults while publishing: no space left, a read-only output directory. Every old index
//! stays byte-identical, no temporary file is left, the error is kmod's wording, exit 1
//! (see depmod(8)). The faults come from a small tmpfs mounted for the test: that needs root and
//! mount permission; without them the tests are skipped (and fail under `CI=true`).

use crate::support::all_or_nothing::{assert_failed_replacing_nothing, mark_old_outputs};
use crate::support::tmpfs::Tmpfs;
use crate::support::{SAMPLE_VERSION as VERSION, Snapshot, run_sample as run};
use std::path::PathBuf;

/// Publish once, then mark the old set so that a new one would differ from it.
fn old_set(fs: &Tmpfs) -> (PathBuf, Snapshot) {
    assert!(run(fs.path()).status.success());
    let dir = fs.path().join("lib/modules").join(VERSION);
    let before = mark_old_outputs(&dir);
    (dir, before)
}

#[test]
fn no_space_left_replaces_nothing() {
    let Some(fs) = Tmpfs::mount("256k") else {
        return;
    };
    let (dir, before) = old_set(&fs);
    // Fill the filesystem, leaving too little for a new set of indexes.
    let filler = fs.path().join("filler");
    let free = {
        let probe = vec![0u8; 4096];
        let mut f = std::fs::File::create(&filler).expect("filler");
        let mut written = 0usize;
        while std::io::Write::write_all(&mut f, &probe).is_ok() {
            written += probe.len();
        }
        written
    };
    assert!(free > 0);
    std::fs::write(&filler, vec![0u8; free.saturating_sub(8192)]).expect("shrink filler");

    let r = run(fs.path());
    assert_failed_replacing_nothing("full", r.status.code(), &r.stderr, &dir, &before);
    let stderr = String::from_utf8_lossy(&r.stderr);
    assert!(
        stderr.contains("depmod: ERROR: Could not create index '")
            && stderr.ends_with("'. Output is truncated: No space left on device\n"),
        "{stderr}"
    );
}

#[test]
fn read_only_output_directory_replaces_nothing() {
    let Some(fs) = Tmpfs::mount("1m") else {
        return;
    };
    let (dir, before) = old_set(&fs);
    fs.remount("ro");
    let r = run(fs.path());
    fs.remount("rw");
    assert_failed_replacing_nothing("read-only", r.status.code(), &r.stderr, &dir, &before);
    let stderr = String::from_utf8_lossy(&r.stderr);
    assert!(
        stderr.starts_with("depmod: ERROR: openat(")
            && stderr.contains(", 301, 644): Read-only file system\n"),
        "{stderr}"
    );
}

#[test]
fn vanished_output_directory_is_recreated() {
    let Some(fs) = Tmpfs::mount("1m") else {
        return;
    };
    let (dir, _) = old_set(&fs);
    std::fs::remove_dir_all(fs.path().join("lib")).expect("remove");
    assert!(run(fs.path()).status.success());
    assert_eq!(
        std::fs::read(dir.join("modules.dep")).expect("modules.dep"),
        run_to_bytes()
    );
}

/// modules.dep of the sample tree as a fresh run writes it.
fn run_to_bytes() -> Vec<u8> {
    let out = tempfile::tempdir().expect("tempdir");
    assert!(run(out.path()).status.success());
    std::fs::read(
        out.path()
            .join("lib/modules")
            .join(VERSION)
            .join("modules.dep"),
    )
    .expect("modules.dep")
}
