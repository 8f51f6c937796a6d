//! A small tmpfs mounted for a test (needs root and mount permission; without them the test is
//! skipped, or fails under `CI=true`).

use std::path::Path;
use std::process::Command;

use super::skip::{Missing, skip};

/// A tmpfs of `size` mounted on a fresh temporary directory, unmounted when dropped.
pub struct Tmpfs {
    dir: tempfile::TempDir,
}

impl Tmpfs {
    pub fn mount(size: &str) -> Option<Tmpfs> {
        let dir = tempfile::tempdir().expect("tempdir");
        let ok = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir.path())
            .output()
            .is_ok_and(|o| o.status.success());
        if ok {
            return Some(Tmpfs { dir });
        }
        skip(
            Missing::Mount,
            &format!("mount -t tmpfs on {} failed", dir.path().display()),
        );
        None
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn remount(&self, opts: &str) {
        let st = Command::new("mount")
            .args(["-o", &format!("remount,{opts}")])
            .arg(self.path())
            .status()
            .expect("mount");
        assert!(st.success(), "remount {opts}");
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount")
            .arg("-l")
            .arg(self.dir.path())
            .status();
    }
}
