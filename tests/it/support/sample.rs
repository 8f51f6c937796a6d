//! The shipped sample tree (`examples/sample`): running our depmod on it, and snapshots of an
//! output directory for before/after comparisons.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The sample tree's kernel version.
pub const SAMPLE_VERSION: &str = "1.0.0-sample";

/// The sample tree's root (`-b`).
pub fn sample_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/sample")
}

/// Our depmod on the sample tree, writing under `out` (`-o`).
pub fn sample_depmod(out: &Path) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_depmod"));
    c.arg("-b")
        .arg(sample_root())
        .arg("-o")
        .arg(out)
        .arg(SAMPLE_VERSION);
    c
}

/// Run [`sample_depmod`] to completion.
pub fn run_sample(out: &Path) -> Output {
    sample_depmod(out).output().expect("run depmod")
}

/// A directory's entries, sorted, with their bytes (directories as `None`).
pub type Snapshot = Vec<(String, Option<Vec<u8>>)>;

/// Every entry of a directory, sorted, with its bytes (directories as `None`).
pub fn snapshot(dir: &Path) -> Snapshot {
    let mut v: Vec<_> = std::fs::read_dir(dir)
        .expect("read_dir")
        .map(|e| {
            let e = e.expect("entry");
            let name = e.file_name().into_string().expect("utf-8 name");
            let data = if e.file_type().expect("type").is_dir() {
                None
            } else {
                Some(std::fs::read(e.path()).expect("read"))
            };
            (name, data)
        })
        .collect();
    v.sort();
    v
}
