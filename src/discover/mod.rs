//! Discovery: walk the module directory and the external directories in raw `readdir`
//! order and pick one file per module name.

pub mod dirs;
pub mod files;
pub mod quick;

use crate::config::{Config, FileRef, Rule};
use crate::diag::{Fatal, Log, errno_of, strerror};
use crate::msg;
use rustc_hash::FxHashMap as HashMap;
use rustix::fs::{self, AtFlags, Dir, FileType, Mode, OFlags};
use std::ffi::OsStr;
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;

/// A module file chosen for its name.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Candidate {
    /// The module's path, made absolute against the working directory as libkmod does (it
    /// differs from the walk's path only under a relative external directory): what is read,
    /// named in messages and written for modules outside the module directory.
    pub path: Vec<u8>,
    /// The path relative to the module directory, when under it (written in the outputs).
    pub relpath: Option<Vec<u8>>,
    /// The module name.
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

    /// The view the priority rules take of this registered file (kmod uses its stored,
    /// absolute path).
    pub fn file_ref<'a>(&'a self, dirname: &[u8]) -> FileRef<'a> {
        file_ref(&self.path, &self.name, dirname)
    }

    /// The path written in the outputs: relative when under the module directory.
    pub fn out_path(&self) -> &[u8] {
        self.relpath.as_deref().unwrap_or(&self.path)
    }

    /// The modules.order key: the relative path with any compression suffix removed.
    pub fn order_key(&self) -> Option<&[u8]> {
        let rel = self.relpath.as_deref()?;
        let dir_len = rel.iter().rposition(|&b| b == b'/').map_or(0, |p| p + 1);
        Some(&rel[..(dir_len + self.name.len() + 3).min(rel.len())])
    }
}

/// The view the priority rules take of a path: kmod takes the part after
/// `<dirname>` plus one byte as the relative path whenever the path merely starts with
/// `<dirname>`, without checking for a `/` there (so `<dirname>-extra/x.ko` is `extra/x.ko`).
pub fn file_ref<'a>(path: &'a [u8], name: &'a [u8], dirname: &[u8]) -> FileRef<'a> {
    let relpath = (path.len() > dirname.len() && path.starts_with(dirname))
        .then(|| &path[dirname.len() + 1..]);
    FileRef {
        path,
        relpath,
        name,
    }
}

/// `path` made absolute the way libkmod does: verbatim when it starts with `/`, else
/// `<cwd>/<path>` (`cwd` as glibc's `get_current_dir_name` gives it).
fn absolute(path: Vec<u8>, cwd: &mut Option<Option<Vec<u8>>>) -> Vec<u8> {
    if path.first() == Some(&b'/') {
        return path;
    }
    match cwd.get_or_insert_with(crate::cli::current_dir_name) {
        Some(c) => msg!(c, b"/", path),
        None => path,
    }
}

/// The part of `path` after `dirname/`, if `path` is under `dirname`.
pub fn relative_to(path: &[u8], dirname: &[u8]) -> Option<Vec<u8>> {
    (path.len() > dirname.len() && path.starts_with(dirname) && path[dirname.len()] == b'/')
        .then(|| path[dirname.len() + 1..].to_vec())
}

/// The module name of a path: its last component up to the first `.`, dashes made
/// underscores. `None` for an empty last component.
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

/// Whether a file name is a module candidate.
pub fn is_module_name(name: &[u8]) -> bool {
    EXTENSIONS
        .iter()
        .any(|ext| name.len() > ext.len() && name.ends_with(ext))
}

/// kmod's `PATH_MAX`: a module path this long cannot be `stat`ed (`ENAMETOOLONG`).
pub(crate) const PATH_MAX: usize = 4096;

/// A module file that lost to another file of the same module name, and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Shadowed {
    /// The module name.
    pub name: Vec<u8>,
    /// The file left out (absolute, as [`Candidate::path`]).
    pub path: Vec<u8>,
    /// The file it lost to: the chosen one, or one that later lost in turn.
    pub winner: Vec<u8>,
    /// The rule that decided.
    pub rule: Rule,
}

/// What discovery found: the chosen files, and the files they shadowed (only module names
/// with more than one file have any; nothing is allocated for the others).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Discovered {
    /// One file per module name, in discovery order.
    pub candidates: Vec<Candidate>,
    /// Every file left out for another of its name, in the order of the decisions.
    pub shadowed: Vec<Shadowed>,
}

impl From<Vec<Candidate>> for Discovered {
    fn from(candidates: Vec<Candidate>) -> Discovered {
        Discovered {
            candidates,
            shadowed: Vec::new(),
        }
    }
}

/// The registry of chosen files, keyed by module name.
#[derive(Default)]
struct Registry {
    /// Chosen files; `None` where a module was dropped.
    list: Vec<Option<Candidate>>,
    by_name: HashMap<Vec<u8>, usize>,
    /// The files that lost, with the rule that decided.
    shadowed: Vec<Shadowed>,
}

impl Registry {
    /// Offer a module file found by the walk at `walk_path` (`cand.path` is its absolute
    /// form). The priority rules see the walk's path for the new file and the stored path for
    /// the registered one, as in kmod.
    fn add(
        &mut self,
        walk_path: &[u8],
        cand: Candidate,
        config: &Config,
        dirname: &[u8],
        log: &mut Log,
    ) {
        let old = self.by_name.get(&cand.name).copied();
        let mut rule = None;
        if let Some(i) = old
            && let Some(o) = &self.list[i]
        {
            let d = config.decide(
                file_ref(walk_path, &cand.name, dirname),
                o.file_ref(dirname),
            );
            if d.keep_old {
                self.shadowed.push(Shadowed {
                    winner: o.path.clone(),
                    name: cand.name,
                    path: cand.path,
                    rule: d.rule,
                });
                return;
            }
            rule = Some(d.rule);
        }
        // libkmod `stat`s the absolute path; one of PATH_MAX bytes or more fails.
        if cand.path.len() >= PATH_MAX {
            // kmod drops the old module, then fails to create the new one (its `stat` of the
            // path fails): the name disappears.
            if let Some(i) = old {
                self.list[i] = None;
                self.by_name.remove(&cand.name);
            }
            let err = strerror(libc::ENAMETOOLONG);
            log.error(msg!(
                b"could not create module ",
                walk_path,
                b": ",
                err,
                b"\n"
            ));
            log.error(msg!(b"failed ", walk_path, b": ", err, b"\n"));
            return;
        }
        match old {
            Some(i) => {
                let winner = cand.path.clone();
                if let (Some(lost), Some(rule)) = (self.list[i].replace(cand), rule) {
                    self.shadowed.push(Shadowed {
                        name: lost.name,
                        path: lost.path,
                        winner,
                        rule,
                    });
                }
            }
            None => {
                self.by_name.insert(cand.name.clone(), self.list.len());
                self.list.push(Some(cand));
            }
        }
    }
}

/// Walk `dirname` and the configured external directories.
pub fn discover(dirname: &[u8], config: &Config, log: &mut Log) -> Result<Discovered, Fatal> {
    let mut reg = Registry::default();
    let mut walker = Walker {
        dirname,
        config,
        log,
        reg: &mut reg,
        ancestors: Vec::new(),
        cwd: None,
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
    Ok(Discovered {
        candidates: reg.list.into_iter().flatten().collect(),
        shadowed: reg.shadowed,
    })
}

struct Walker<'a> {
    dirname: &'a [u8],
    config: &'a Config,
    log: &'a mut Log,
    reg: &'a mut Registry,
    ancestors: Vec<(u64, u64)>,
    /// The working directory, looked up once when a relative path needs it.
    cwd: Option<Option<Vec<u8>>>,
}

/// Open a directory the way kmod's `opendir` does. The walk keeps one descriptor open per
/// directory level, as kmod does, so the descriptor numbers that kmod prints in its messages
/// (`fstatat(<fd>, <name>)`, `openat(<fd>, ...)`) come out the same.
pub(crate) fn open_dir(path: &[u8]) -> std::io::Result<OwnedFd> {
    Ok(fs::open(
        OsStr::from_bytes(path),
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NONBLOCK | OFlags::CLOEXEC,
        Mode::empty(),
    )?)
}

/// The raw number of a directory stream's descriptor (kmod's `dirfd`), for messages.
pub(crate) fn dir_fd(d: &Dir) -> i32 {
    d.fd().map_or(-1, |f| f.as_raw_fd())
}

/// The file type of a `stat` result.
fn stat_type(st: &fs::Stat) -> FileType {
    FileType::from_raw_mode(st.st_mode)
}

impl Walker<'_> {
    fn walk_top(&mut self, dir: &[u8]) -> std::io::Result<()> {
        let fd = open_dir(dir)?;
        let st = fs::fstat(&fd)?;
        let d = Dir::new(fd)?;
        self.ancestors.push((st.st_dev, st.st_ino));
        self.walk(dir, d);
        self.ancestors.pop();
        Ok(())
    }

    fn skipped(&self, name: &[u8]) -> bool {
        name == b"build" || name == b"source" || self.config.excludes.iter().any(|e| e == name)
    }

    fn walk(&mut self, dir: &[u8], mut d: Dir) {
        let dfd = dir_fd(&d);
        while let Some(entry) = d.read() {
            let entry = match entry {
                Ok(e) => e,
                Err(e) => {
                    self.log.error(msg!(
                        b"readdir(",
                        dir,
                        b"): ",
                        strerror(e.raw_os_error()),
                        b"\n"
                    ));
                    break;
                }
            };
            let cname = entry.file_name();
            let name = cname.to_bytes();
            if name == b"." || name == b".." || self.skipped(name) {
                continue;
            }
            let path = msg!(dir, b"/", name);
            let Ok(dirfd) = d.fd() else { continue };
            let (ft, mode) = match entry.file_type() {
                t @ (FileType::RegularFile | FileType::Directory) => (t, 0),
                _ => match fs::statat(dirfd, cname, AtFlags::empty()) {
                    Ok(st) => (stat_type(&st), st.st_mode & libc::S_IFMT),
                    Err(e) => {
                        self.log.error(msg!(
                            b"fstatat(",
                            dfd.to_string(),
                            b", ",
                            name,
                            b"): ",
                            strerror(e.raw_os_error()),
                            b"\n"
                        ));
                        continue;
                    }
                },
            };
            match ft {
                FileType::RegularFile => {
                    if is_module_name(name)
                        && let Some(c) =
                            Candidate::new(absolute(path.clone(), &mut self.cwd), self.dirname)
                    {
                        self.reg.add(&path, c, self.config, self.dirname, self.log);
                    }
                }
                FileType::Directory => {
                    let openat_error = |errno: i32| {
                        msg!(
                            b"openat(",
                            dfd.to_string(),
                            b", ",
                            name,
                            b", O_RDONLY): ",
                            strerror(errno),
                            b"\n"
                        )
                    };
                    let sub = match fs::openat(
                        dirfd,
                        cname,
                        OFlags::RDONLY | OFlags::CLOEXEC,
                        Mode::empty(),
                    ) {
                        Ok(fd) => fd,
                        Err(e) => {
                            self.log.error(openat_error(e.raw_os_error()));
                            continue;
                        }
                    };
                    let id = match fs::fstat(&sub) {
                        Ok(st) => (st.st_dev, st.st_ino),
                        Err(e) => {
                            self.log.error(openat_error(e.raw_os_error()));
                            continue;
                        }
                    };
                    if self.ancestors.contains(&id) {
                        // kmod recurses until the OS refuses; we report the loop once (a
                        // difference from kmod, see depmod(8)).
                        self.log.error(openat_error(libc::ELOOP));
                        continue;
                    }
                    let subfd = sub.as_raw_fd();
                    match Dir::new(sub) {
                        Ok(subdir) => {
                            self.ancestors.push(id);
                            self.walk(&path, subdir);
                            self.ancestors.pop();
                        }
                        Err(e) => self.log.error(msg!(
                            b"fdopendir(",
                            subfd.to_string(),
                            b"): ",
                            strerror(e.raw_os_error()),
                            b"\n"
                        )),
                    }
                }
                _ => {
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
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn path_too_long_drops_the_name() {
        let config = Config::default();
        let mut log = Log::default();
        let mut reg = Registry::default();
        let add = |reg: &mut Registry, p: &[u8], log: &mut Log| {
            let c = Candidate::new(p.to_vec(), b"/m").unwrap();
            reg.add(p, c, &config, b"/m", log);
        };
        let long = [b"/m/updates/".as_slice(), &[b'd'; PATH_MAX], b"/x.ko"].concat();
        add(&mut reg, b"/m/kernel/x.ko", &mut log);
        add(&mut reg, b"/m/kernel/y.ko", &mut log);
        // updates/ wins over kernel/: kmod drops kernel/x.ko, then cannot create the new one.
        add(&mut reg, &long, &mut log);
        let kept: Vec<_> = reg.list.iter().flatten().map(|c| c.path.clone()).collect();
        assert_eq!(kept, vec![b"/m/kernel/y.ko".to_vec()]);
        assert_eq!(log.diags.len(), 2);
        assert!(log.diags[1].text.ends_with(b"/x.ko: File name too long\n"));
        // A later file of that name is registered again.
        add(&mut reg, b"/m/extra/x.ko", &mut log);
        assert_eq!(reg.list.iter().flatten().count(), 2);
    }

    #[test]
    fn losers_are_recorded_with_their_rule() {
        use crate::config::{Rank, Rule};
        let config = Config::default();
        let mut log = Log::default();
        let mut reg = Registry::default();
        for p in [
            &b"/m/kernel/x.ko"[..],
            b"/m/updates/x.ko",
            b"/m/extra/x.ko",
            b"/m/y.ko",
        ] {
            let c = Candidate::new(p.to_vec(), b"/m").unwrap();
            reg.add(p, c, &config, b"/m", &mut log);
        }
        let search = |winner, loser, tie| Rule::Search { winner, loser, tie };
        assert_eq!(
            reg.shadowed,
            vec![
                Shadowed {
                    name: b"x".to_vec(),
                    path: b"/m/kernel/x.ko".to_vec(),
                    winner: b"/m/updates/x.ko".to_vec(),
                    rule: search(Rank::Search(0), Rank::Unlisted, false),
                },
                Shadowed {
                    name: b"x".to_vec(),
                    path: b"/m/extra/x.ko".to_vec(),
                    winner: b"/m/updates/x.ko".to_vec(),
                    rule: search(Rank::Search(0), Rank::Unlisted, false),
                },
            ]
        );
        // Equal priorities: the first found stays.
        let c = Candidate::new(b"/m/z/y.ko".to_vec(), b"/m").unwrap();
        reg.add(b"/m/z/y.ko", c, &config, b"/m", &mut log);
        assert_eq!(
            reg.shadowed[2].rule,
            search(Rank::Unlisted, Rank::Unlisted, true)
        );
        assert_eq!(reg.shadowed[2].winner, b"/m/y.ko");
    }

    #[test]
    fn priority_view_of_paths() {
        // kmod does not check for a `/` after the module directory here.
        let f = file_ref(b"/m/4.4.4-extra/x.ko", b"x", b"/m/4.4.4");
        assert_eq!(f.relpath, Some(&b"extra/x.ko"[..]));
        let f = file_ref(b"/m/4.4.4/kernel/x.ko", b"x", b"/m/4.4.4");
        assert_eq!(f.relpath, Some(&b"kernel/x.ko"[..]));
        assert_eq!(file_ref(b"rel/x.ko", b"x", b"/m/4.4.4").relpath, None);
        let mut cwd = Some(Some(b"/cwd".to_vec()));
        assert_eq!(absolute(b"rel/x.ko".to_vec(), &mut cwd), b"/cwd/rel/x.ko");
        assert_eq!(absolute(b"/abs/x.ko".to_vec(), &mut cwd), b"/abs/x.ko");
    }

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
