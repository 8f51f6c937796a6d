//! depmod.d configuration as data: the search list, overrides, external directories and
//! excludes, and the priority rules that pick one file per module name (spec §2.4).

/// One entry of the search list.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SearchEntry {
    /// `built-in`: the priority of modules in no search directory.
    BuiltIn,
    /// `external`: the priority of the external directories.
    External,
    /// A subdirectory of the module directory.
    Dir(Vec<u8>),
}

/// The configuration that discovery uses. Lists are kept in reading order.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Config {
    /// `search` tokens in reading order (first read = highest priority).
    pub search: Vec<SearchEntry>,
    /// `override` entries as `<subdir>/<modname>`, in reading order.
    pub overrides: Vec<Vec<u8>>,
    /// `external` directories whose version matched, in reading order.
    pub externals: Vec<Vec<u8>>,
    /// `exclude` names.
    pub excludes: Vec<Vec<u8>>,
}

/// A module file as the priority rules see it.
#[derive(Clone, Copy, Debug)]
pub struct FileRef<'a> {
    /// The full path as built by the walk.
    pub path: &'a [u8],
    /// The path relative to the module directory, when under it.
    pub relpath: Option<&'a [u8]>,
    /// The module name.
    pub name: &'a [u8],
}

impl Config {
    /// The search list with its empty default (`updates`) applied (spec §2.3).
    pub fn effective_search(&self) -> Vec<SearchEntry> {
        if self.search.is_empty() {
            vec![SearchEntry::Dir(b"updates".to_vec())]
        } else {
            self.search.clone()
        }
    }

    /// Whether an already registered module file `old` stays when `new` has the same name
    /// (spec §2.4, quirks included).
    pub fn keep_old(&self, new: FileRef, old: FileRef) -> bool {
        for ov in self.overrides.iter().rev() {
            if override_key(new).as_deref() == Some(ov.as_slice()) {
                return false;
            }
            if override_key(old).as_deref() == Some(ov.as_slice()) {
                return true;
            }
        }
        let (mut newprio, mut oldprio, mut bprio) = (-1i64, -1i64, -1i64);
        let mut index = 0i64;
        for entry in self.effective_search().iter().rev() {
            match entry {
                SearchEntry::BuiltIn => bprio = index,
                SearchEntry::External => {
                    for ext in self.externals.iter().rev() {
                        if under(new.path, ext) {
                            newprio = index;
                        }
                        if under(old.path, ext) {
                            oldprio = index;
                        }
                        index += 1;
                    }
                }
                SearchEntry::Dir(dir) => {
                    if new.relpath.is_some_and(|r| under(r, dir)) {
                        newprio = index;
                    } else if old.relpath.is_some_and(|r| under(r, dir)) {
                        oldprio = index;
                    }
                }
            }
            index += 1;
        }
        if newprio < 0 {
            newprio = bprio;
        }
        if oldprio < 0 {
            oldprio = bprio;
        }
        newprio <= oldprio
    }
}

/// `path` starts with `dir` followed by `/`.
fn under(path: &[u8], dir: &[u8]) -> bool {
    path.len() > dir.len() && path.starts_with(dir) && path[dir.len()] == b'/'
}

/// The override key of a file: its relative directory and raw name up to the first `.`.
fn override_key(f: FileRef) -> Option<Vec<u8>> {
    let rel = f.relpath?;
    let dir_len = rel.iter().rposition(|&b| b == b'/').map_or(0, |p| p + 1);
    let n = (dir_len + f.name.len()).min(rel.len());
    Some(rel[..n].to_vec())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn f<'a>(rel: &'a [u8], name: &'a [u8]) -> FileRef<'a> {
        FileRef {
            path: rel,
            relpath: Some(rel),
            name,
        }
    }

    #[test]
    fn default_updates_wins_over_kernel() {
        let c = Config::default();
        assert!(!c.keep_old(f(b"updates/a.ko", b"a"), f(b"kernel/a.ko", b"a")));
        assert!(c.keep_old(f(b"kernel/a.ko", b"a"), f(b"updates/a.ko", b"a")));
        // Equal priority: the first found stays.
        assert!(c.keep_old(f(b"extra/a.ko", b"a"), f(b"kernel/a.ko", b"a")));
        // Same search dir: the later one wins (the else-if quirk).
        assert!(!c.keep_old(f(b"updates/x/a.ko", b"a"), f(b"updates/a.ko", b"a")));
    }

    #[test]
    fn override_uses_raw_dashed_name() {
        let c = Config {
            overrides: vec![b"extra/foo-bar".to_vec()],
            ..Config::default()
        };
        assert!(!c.keep_old(
            f(b"extra/foo-bar.ko", b"foo_bar"),
            f(b"updates/foo-bar.ko", b"foo_bar")
        ));
    }
}
