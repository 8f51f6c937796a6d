//! The inputs fetched once into `${DEPMOD_CACHE_DIR:-$HOME/.cache/depmod-rs}`: the reference
//! kmod 34.2 (`scripts/fetch-reference`) and real Debian kernel trees (`scripts/fetch-trees`).
//! (The libkmod clients of `scripts/fetch-clients` are in `clients.rs`.)

use std::fs;
use std::path::{Path, PathBuf};

use super::skip::{Missing, skip};

/// `${DEPMOD_CACHE_DIR:-$HOME/.cache/depmod-rs}`.
pub fn cache_dir() -> PathBuf {
    match std::env::var_os("DEPMOD_CACHE_DIR") {
        Some(dir) if !dir.is_empty() => PathBuf::from(dir),
        _ => {
            Path::new(&std::env::var_os("HOME").expect("HOME is not set")).join(".cache/depmod-rs")
        }
    }
}

/// The reference depmod wrapper written by `scripts/fetch-reference`, if present.
pub fn reference_bin() -> Option<PathBuf> {
    let p = cache_dir().join("reference/depmod");
    p.is_file().then_some(p)
}

/// The reference, or `None` after recording a skip of `what` (a failure under `CI=true`).
pub fn reference_or_skip(what: &str) -> Option<PathBuf> {
    let bin = reference_bin();
    if bin.is_none() {
        skip(
            Missing::Reference,
            &format!(
                "{} (run scripts/fetch-reference): {what}",
                cache_dir().join("reference/depmod").display()
            ),
        );
    }
    bin
}

/// A real kernel tree unpacked by `scripts/fetch-trees NAME`: `ROOT/lib/modules/VERSION`.
pub struct RealTree {
    pub name: String,
    pub root: PathBuf,
    pub version: String,
}

impl RealTree {
    /// `ROOT/lib/modules/VERSION`.
    pub fn moddir(&self) -> PathBuf {
        self.root.join("lib/modules").join(&self.version)
    }
}

/// The tree `name` (its `VERSION` file names the kernel version), or why it is missing.
pub fn real_tree(name: &str) -> Result<RealTree, String> {
    let root = cache_dir().join("trees").join(name);
    let missing = |what: String| format!("{what} is missing (run scripts/fetch-trees {name})");
    let version_file = root.join("VERSION");
    let version = fs::read_to_string(&version_file)
        .map_err(|_| missing(format!("tree {}", version_file.display())))?
        .trim()
        .to_string();
    let tree = RealTree {
        name: name.to_string(),
        root,
        version,
    };
    if tree.version.is_empty() || !tree.moddir().is_dir() {
        return Err(missing(format!(
            "module directory {}",
            tree.moddir().display()
        )));
    }
    Ok(tree)
}

/// The tree `name`, or `None` after recording a skip (a failure under `CI=true`).
pub fn real_tree_or_skip(name: &str) -> Option<RealTree> {
    real_tree(name)
        .map_err(|why| skip(Missing::Tree(name.to_string()), &why))
        .ok()
}
