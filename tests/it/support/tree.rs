//! A throw-away module tree: `<tmp>/root/lib/modules/<VERSION>/...` plus a sibling output root
//! `<tmp>/out` for `-o`, and helpers for the kernel symbol files (`System.map`, `Module.symvers`).

use std::fs;
use std::path::{Path, PathBuf};

/// Kernel version used by default; satisfies depmod's `%u.%u` check.
pub const VERSION: &str = "6.1.0-synth";

/// Sets `p`'s modification time to `secs` after the epoch.
pub fn set_mtime(p: &Path, secs: u64) {
    let f = fs::File::options()
        .write(true)
        .open(p)
        .unwrap_or_else(|e| panic!("open {}: {e}", p.display()));
    f.set_modified(std::time::SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(secs))
        .unwrap();
}

pub struct Tree {
    dir: tempfile::TempDir,
    version: String,
}

impl Default for Tree {
    fn default() -> Self {
        Tree::new()
    }
}

impl Tree {
    pub fn new() -> Tree {
        Tree::with_version(VERSION)
    }

    pub fn with_version(version: &str) -> Tree {
        // DEPMOD_KEEP_TREES=1 keeps the trees for post-mortem inspection.
        let keep = std::env::var_os("DEPMOD_KEEP_TREES").is_some_and(|v| !v.is_empty() && v != "0");
        // The test's name (libtest names the thread after it) makes kept trees recognisable.
        let test = std::thread::current()
            .name()
            .unwrap_or("tree")
            .replace(|c: char| !c.is_ascii_alphanumeric() && c != '_', "_");
        let dir = tempfile::Builder::new()
            .prefix(&format!("depmod-synth-{test}-"))
            .disable_cleanup(keep)
            .tempdir()
            .expect("create temp dir");
        let t = Tree {
            dir,
            version: version.to_string(),
        };
        fs::create_dir_all(t.moddir()).expect("create module dir");
        t
    }

    /// The temp directory holding everything (also the working directory of runs).
    pub fn top(&self) -> &Path {
        self.dir.path()
    }

    /// The `-b` root.
    pub fn root(&self) -> PathBuf {
        self.top().join("root")
    }

    /// The `-o` root.
    pub fn out_root(&self) -> PathBuf {
        self.top().join("out")
    }

    pub fn version(&self) -> &str {
        &self.version
    }

    /// `<root>/lib/modules/<version>`: where modules and modules.order etc. live.
    pub fn moddir(&self) -> PathBuf {
        self.root().join("lib/modules").join(&self.version)
    }

    /// `<out>/lib/modules/<version>`: where `-o <out>` puts the outputs.
    pub fn out_moddir(&self) -> PathBuf {
        self.out_root().join("lib/modules").join(&self.version)
    }

    fn write(path: &Path, bytes: &[u8]) {
        if let Some(parent) = path.parent() {
            fs::create_dir_all(parent).expect("create parent dir");
        }
        fs::write(path, bytes).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
    }

    /// Put a module (or any file) at `relpath` under the module directory. Returns its path.
    pub fn add_module(&self, relpath: &str, bytes: impl AsRef<[u8]>) -> PathBuf {
        let p = self.moddir().join(relpath);
        Self::write(&p, bytes.as_ref());
        p
    }

    /// Write `modules.order`, one line per entry (each terminated by `\n`).
    pub fn modules_order(&self, lines: &[&str]) -> PathBuf {
        let mut text = String::new();
        for l in lines {
            text.push_str(l);
            text.push('\n');
        }
        self.moddir_file("modules.order", text)
    }

    /// Write `modules.builtin` verbatim.
    pub fn modules_builtin(&self, text: impl AsRef<[u8]>) -> PathBuf {
        self.moddir_file("modules.builtin", text)
    }

    /// Write `modules.builtin.modinfo` verbatim.
    pub fn modules_builtin_modinfo(&self, bytes: impl AsRef<[u8]>) -> PathBuf {
        self.moddir_file("modules.builtin.modinfo", bytes)
    }

    /// A file relative to the module directory.
    pub fn moddir_file(&self, relpath: &str, bytes: impl AsRef<[u8]>) -> PathBuf {
        let p = self.moddir().join(relpath);
        Self::write(&p, bytes.as_ref());
        p
    }

    /// A file relative to the `-b` root (config files etc.). Returns its absolute path.
    pub fn file(&self, relpath: &str, bytes: impl AsRef<[u8]>) -> PathBuf {
        let p = self.root().join(relpath);
        Self::write(&p, bytes.as_ref());
        p
    }

    /// A file relative to the temp dir, outside the root (e.g. `System.map`).
    pub fn top_file(&self, relpath: &str, bytes: impl AsRef<[u8]>) -> PathBuf {
        let p = self.top().join(relpath);
        Self::write(&p, bytes.as_ref());
        p
    }

    /// Write `<top>/System.map` listing each symbol as a kernel export (a `T name` line and the
    /// `r __ksymtab_name` line that `-F` actually looks at). Returns the path.
    pub fn system_map(&self, exports: &[&str]) -> PathBuf {
        let mut text = String::new();
        let mut addr: u64 = 0xffff_ffff_8100_0000;
        for name in exports {
            text.push_str(&format!("{addr:016x} T {name}\n"));
            addr += 0x10;
        }
        for name in exports {
            text.push_str(&format!("{addr:016x} r __ksymtab_{name}\n"));
            addr += 0x0c;
        }
        self.top_file("System.map", text)
    }

    /// Write `<top>/System.map` verbatim.
    pub fn system_map_raw(&self, text: impl AsRef<[u8]>) -> PathBuf {
        self.top_file("System.map", text)
    }

    /// Write `<top>/Module.symvers` with vmlinux exports `(name, crc)` in the modern 5-column
    /// format (`crc<TAB>name<TAB>vmlinux<TAB>EXPORT_SYMBOL<TAB>`). Returns the path.
    pub fn module_symvers(&self, exports: &[(&str, u32)]) -> PathBuf {
        let mut text = String::new();
        for (name, crc) in exports {
            text.push_str(&format!("0x{crc:08x}\t{name}\tvmlinux\tEXPORT_SYMBOL\t\n"));
        }
        self.top_file("Module.symvers", text)
    }

    /// Write `<top>/Module.symvers` verbatim.
    pub fn module_symvers_raw(&self, text: impl AsRef<[u8]>) -> PathBuf {
        self.top_file("Module.symvers", text)
    }
}
