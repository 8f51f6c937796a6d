//! Discovery: walk the module directory and the external directories in raw `readdir`
//! order and pick one file per module name (spec §3).

use crate::config::{Config, FileRef};
use crate::diag::{Fatal, Log, errno_of, strerror};
use crate::msg;
use rustc_hash::FxHashMap as HashMap;
use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;

/// A module file chosen for its name.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Candidate {
    /// The path as built by the walk (`<dirname>/<sub>/<file>`), used in messages.
    pub path: Vec<u8>,
    /// The path relative to the module directory, when under it (written in the outputs).
    pub relpath: Option<Vec<u8>>,
    /// The module name (§3.3).
    pub name: Vec<u8>,
}

impl Candidate {
    /// Make a candidate for `path`, computing its relative path against `dirname`.
    pub fn new(path: Vec<u8>, dirname: &[u8]) -> Option<Candidate> {
        let name = modname(&path)?;
        let relpath = relative_to(&path, dirname);
        Some(Candidate {
            path,
            relpath,
            name,
        })
    }

    /// The view the priority rules take of this file.
    pub fn file_ref(&self) -> FileRef<'_> {
        FileRef {
            path: &self.path,
            relpath: self.relpath.as_deref(),
            name: &self.name,
        }
    }

    /// The path written in the outputs: relative when under the module directory.
    pub fn out_path(&self) -> &[u8] {
        self.relpath.as_deref().unwrap_or(&self.path)
    }

    /// The modules.order key (§3.4): the relative path with any compression suffix removed.
    pub fn order_key(&self) -> Option<&[u8]> {
        let rel = self.relpath.as_deref()?;
        let dir_len = rel.iter().rposition(|&b| b == b'/').map_or(0, |p| p + 1);
        Some(&rel[..(dir_len + self.name.len() + 3).min(rel.len())])
    }
}

/// The part of `path` after `dirname/`, if `path` is under `dirname`.
pub fn relative_to(path: &[u8], dirname: &[u8]) -> Option<Vec<u8>> {
    (path.len() > dirname.len() && path.starts_with(dirname) && path[dirname.len()] == b'/')
        .then(|| path[dirname.len() + 1..].to_vec())
}

/// The module name of a path: its last component up to the first `.`, dashes made
/// underscores (§3.3). `None` for an empty last component.
pub fn modname(path: &[u8]) -> Option<Vec<u8>> {
    let base = match path.iter().rposition(|&b| b == b'/') {
        Some(p) => &path[p + 1..],
        None => path,
    };
    if base.is_empty() {
        return None;
    }
    Some(
        base.iter()
            .take_while(|&&b| b != b'.')
            .map(|&b| if b == b'-' { b'_' } else { b })
            .collect(),
    )
}

/// The module file extensions this build reads.
pub const EXTENSIONS: &[&[u8]] = &[b".ko", b".ko.gz", b".ko.xz", b".ko.zst"];

/// Whether a file name is a module candidate (§3.2).
pub fn is_module_name(name: &[u8]) -> bool {
    EXTENSIONS
        .iter()
        .any(|ext| name.len() > ext.len() && name.ends_with(ext))
}

/// The registry of chosen files, keyed by module name.
#[derive(Default)]
struct Registry {
    list: Vec<Candidate>,
    by_name: HashMap<Vec<u8>, usize>,
}

impl Registry {
    fn add(&mut self, cand: Candidate, config: &Config) {
        match self.by_name.get(&cand.name) {
            None => {
                self.by_name.insert(cand.name.clone(), self.list.len());
                self.list.push(cand);
            }
            Some(&i) => {
                let old = &self.list[i];
                if !config.keep_old(cand.file_ref(), old.file_ref()) {
                    self.list[i] = cand;
                }
            }
        }
    }
}

/// Walk `dirname` and the configured external directories.
pub fn discover(dirname: &[u8], config: &Config, log: &mut Log) -> Result<Vec<Candidate>, Fatal> {
    let mut reg = Registry::default();
    let mut walker = Walker {
        dirname,
        config,
        log,
        reg: &mut reg,
        ancestors: Vec::new(),
    };
    if let Err(e) = walker.walk_top(dirname) {
        let err = strerror(errno_of(&e));
        walker.log.error(msg!(
            b"could not open directory ",
            dirname,
            b": ",
            err,
            b"\n"
        ));
        return Err(Fatal::new(msg!(b"could not search modules: ", err, b"\n")));
    }
    for ext in config.externals.iter().rev() {
        if let Err(e) = walker.walk_top(ext) {
            let err = strerror(errno_of(&e));
            walker
                .log
                .error(msg!(b"could not open directory ", ext, b": ", err, b"\n"));
        }
    }
    Ok(reg.list)
}

struct Walker<'a> {
    dirname: &'a [u8],
    config: &'a Config,
    log: &'a mut Log,
    reg: &'a mut Registry,
    ancestors: Vec<(u64, u64)>,
}

fn os(p: &[u8]) -> &std::path::Path {
    std::path::Path::new(OsStr::from_bytes(p))
}

impl Walker<'_> {
    fn walk_top(&mut self, dir: &[u8]) -> std::io::Result<()> {
        let meta = std::fs::metadata(os(dir))?;
        let rd = std::fs::read_dir(os(dir))?;
        self.ancestors.push((meta.dev(), meta.ino()));
        self.walk(dir, rd);
        self.ancestors.pop();
        Ok(())
    }

    fn skipped(&self, name: &[u8]) -> bool {
        name == b"build" || name == b"source" || self.config.excludes.iter().any(|e| e == name)
    }

    fn walk(&mut self, dir: &[u8], rd: std::fs::ReadDir) {
        for entry in rd {
            let entry = match entry {
                Ok(e) => e,
                Err(e) => {
                    self.log.error(msg!(
                        b"readdir(",
                        dir,
                        b"): ",
                        strerror(errno_of(&e)),
                        b"\n"
                    ));
                    break;
                }
            };
            let fname = entry.file_name();
            let name = fname.as_bytes();
            if self.skipped(name) {
                continue;
            }
            let path = msg!(dir, b"/", name);
            let ft = match entry.file_type() {
                Ok(t) => t,
                Err(e) => {
                    self.log.error(msg!(
                        b"fstatat(",
                        dir,
                        b", ",
                        name,
                        b"): ",
                        strerror(errno_of(&e)),
                        b"\n"
                    ));
                    continue;
                }
            };
            let (is_file, is_dir, meta) = if ft.is_file() {
                (true, false, None)
            } else if ft.is_dir() {
                (false, true, None)
            } else {
                match std::fs::metadata(os(&path)) {
                    Ok(m) => (m.is_file(), m.is_dir(), Some(m)),
                    Err(e) => {
                        self.log.error(msg!(
                            b"fstatat(",
                            dir,
                            b", ",
                            name,
                            b"): ",
                            strerror(errno_of(&e)),
                            b"\n"
                        ));
                        continue;
                    }
                }
            };
            if is_file {
                if is_module_name(name)
                    && let Some(c) = Candidate::new(path, self.dirname)
                {
                    self.reg.add(c, self.config);
                }
            } else if is_dir {
                let meta = match meta.map_or_else(|| std::fs::metadata(os(&path)), Ok) {
                    Ok(m) => m,
                    Err(e) => {
                        self.log.error(msg!(
                            b"fstatat(",
                            dir,
                            b", ",
                            name,
                            b"): ",
                            strerror(errno_of(&e)),
                            b"\n"
                        ));
                        continue;
                    }
                };
                let id = (meta.dev(), meta.ino());
                if self.ancestors.contains(&id) {
                    // kmod recurses until the OS refuses; we report the loop once (spec §13).
                    self.log.error(msg!(
                        b"openat(",
                        dir,
                        b", ",
                        name,
                        b", O_RDONLY): ",
                        strerror(libc::ELOOP),
                        b"\n"
                    ));
                    continue;
                }
                match std::fs::read_dir(os(&path)) {
                    Ok(rd) => {
                        self.ancestors.push(id);
                        self.walk(&path, rd);
                        self.ancestors.pop();
                    }
                    Err(e) => {
                        self.log.error(msg!(
                            b"openat(",
                            dir,
                            b", ",
                            name,
                            b", O_RDONLY): ",
                            strerror(errno_of(&e)),
                            b"\n"
                        ));
                    }
                }
            } else {
                let mode = meta.map_or(0, |m| m.mode() & libc::S_IFMT);
                self.log.error(msg!(
                    b"unsupported file type ",
                    path,
                    b": ",
                    format!("{mode:o}"),
                    b"\n"
                ));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modnames() {
        assert_eq!(modname(b"/x/foo-bar.ko.xz").unwrap(), b"foo_bar");
        assert_eq!(modname(b"a.b.ko").unwrap(), b"a");
        assert_eq!(modname(b"/x/.hidden.ko").unwrap(), b"");
        assert_eq!(modname(b"/x/"), None);
    }

    #[test]
    fn module_names() {
        assert!(is_module_name(b"a.ko"));
        assert!(is_module_name(b"a.ko.zst"));
        assert!(!is_module_name(b".ko"));
        assert!(!is_module_name(b"a.ko.bz2"));
        assert!(!is_module_name(b"a.o"));
    }

    #[test]
    fn order_keys() {
        let c = Candidate::new(b"/m/kernel/a/foo-bar.ko.xz".to_vec(), b"/m").unwrap();
        assert_eq!(c.order_key().unwrap(), b"kernel/a/foo-bar.ko");
        let c = Candidate::new(b"/m/a.b.ko".to_vec(), b"/m").unwrap();
        assert_eq!(c.order_key().unwrap(), b"a.b.");
        let c = Candidate::new(b"/ext/a.ko".to_vec(), b"/m").unwrap();
        assert_eq!(c.order_key(), None);
        assert_eq!(c.out_path(), b"/ext/a.ko");
    }
}
