//! All-or-nothing publishing (see depmod(8)), checked the same way by every test of a failing run
//! (bad characters, endless inputs, I/O errors, full or read-only file systems, blocked names):
//! the old indexes stay byte-identical and no temporary file is left.

use std::path::Path;

use super::run::OUTPUTS;
use super::sample::{Snapshot, snapshot};

/// Writes `old <name>\n` into each of the eleven outputs in `dir` (created if needed; a clean
/// run's files are overwritten), so that a replaced file shows. Returns `dir`'s snapshot.
pub fn mark_old_outputs(dir: &Path) -> Snapshot {
    std::fs::create_dir_all(dir).expect("create the output directory");
    for name in OUTPUTS {
        std::fs::write(dir.join(name), format!("old {name}\n")).expect("write an old output");
    }
    snapshot(dir)
}

/// The run failed with exit status 1 and replaced nothing: `dir` holds exactly the entries of
/// `before`, byte for byte, so every old file is untouched and no temporary file is left.
/// `context` and `stderr` are shown on failure.
#[track_caller]
pub fn assert_failed_replacing_nothing(
    context: &str,
    status: Option<i32>,
    stderr: &[u8],
    dir: &Path,
    before: &Snapshot,
) {
    let stderr = String::from_utf8_lossy(stderr);
    assert_eq!(status, Some(1), "{context}: exit status; stderr:\n{stderr}");
    let after = snapshot(dir);
    if after != *before {
        let names = |s: &Snapshot| s.iter().map(|(n, _)| n.clone()).collect::<Vec<_>>();
        let changed: Vec<&str> = after
            .iter()
            .filter(|e| before.iter().any(|b| b.0 == e.0 && b.1 != e.1))
            .map(|e| e.0.as_str())
            .collect();
        panic!(
            "{context}: old files changed or temporary files left\n  before: {:?}\n  after:  {:?}\n  changed: {changed:?}\nstderr:\n{stderr}",
            names(before),
            names(&after)
        );
    }
}
