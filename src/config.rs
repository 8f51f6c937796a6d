//! depmod.d configuration as data: the search list, overrides, external directories and
//! excludes, and the priority rules that pick one file per module name.

use crate::diag::{Fatal, Level, Log, errno_of, strerror};
use crate::msg;

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
    /// Where each `search` token was read, parallel to `search` (for `--explain`).
    pub search_origins: Vec<Origin>,
    /// Where each override was read, parallel to `overrides`.
    pub override_origins: Vec<Origin>,
    /// Where each external directory was read, parallel to `externals`.
    pub external_origins: Vec<Origin>,
}

/// The configuration line a rule was read from.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Origin {
    /// The configuration file.
    pub file: Vec<u8>,
    /// The number of the line (its last physical line, as kmod's messages count).
    pub line: usize,
    /// The line's words, joined by single spaces.
    pub text: Vec<u8>,
}

/// Where a module file's search priority came from, as kmod's rules credit it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Rank {
    /// Under the directory at this index of [`Config::effective_search`].
    Search(usize),
    /// Under the external directory at this index of [`Config::externals`].
    External(usize),
    /// In no directory of the list: the priority of its `built-in` entry.
    BuiltIn,
    /// In no directory of the list, which has no `built-in` entry: the lowest priority.
    Unlisted,
}

/// The rule that decided between two files of the same module name.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Rule {
    /// The override at this index of [`Config::overrides`] names the winner.
    Override(usize),
    /// The search list: the winner's and the loser's ranks; `tie` when their priorities are
    /// equal (the file registered first stays).
    Search {
        /// The winner's rank.
        winner: Rank,
        /// The loser's rank.
        loser: Rank,
        /// Equal priorities.
        tie: bool,
    },
}

/// Which of two files of the same module name stays, and why.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Decision {
    /// The registered file stays.
    pub keep_old: bool,
    /// The rule that decided.
    pub rule: Rule,
}

/// A module file as the priority rules see it.
#[derive(Clone, Copy, Debug)]
pub struct FileRef<'a> {
    /// The full path: as built by the walk for a new file, as stored for a registered one.
    pub path: &'a [u8],
    /// The path relative to the module directory as kmod's priority rules take it: the bytes
    /// after `<dirname>` plus one, whenever the path starts with `<dirname>` (see
    /// `discover::file_ref`).
    pub relpath: Option<&'a [u8]>,
    /// The module name.
    pub name: &'a [u8],
}

impl Config {
    /// The search list with its empty default (`updates`) applied.
    pub fn effective_search(&self) -> Vec<SearchEntry> {
        if self.search.is_empty() {
            vec![SearchEntry::Dir(b"updates".to_vec())]
        } else {
            self.search.clone()
        }
    }

    /// Whether an already registered module file `old` stays when `new` has the same name
    /// (quirks included).
    pub fn keep_old(&self, new: FileRef, old: FileRef) -> bool {
        self.decide(new, old).keep_old
    }

    /// [`Config::keep_old`] with the rule that decided.
    pub fn decide(&self, new: FileRef, old: FileRef) -> Decision {
        for (i, ov) in self.overrides.iter().enumerate().rev() {
            if override_key(new).as_deref() == Some(ov.as_slice()) {
                return Decision {
                    keep_old: false,
                    rule: Rule::Override(i),
                };
            }
            if override_key(old).as_deref() == Some(ov.as_slice()) {
                return Decision {
                    keep_old: true,
                    rule: Rule::Override(i),
                };
            }
        }
        let (mut newprio, mut oldprio, mut bprio) = (-1i64, -1i64, -1i64);
        let (mut newrank, mut oldrank) = (Rank::Unlisted, Rank::Unlisted);
        let mut index = 0i64;
        for (e, entry) in self.effective_search().iter().enumerate().rev() {
            match entry {
                SearchEntry::BuiltIn => bprio = index,
                SearchEntry::External => {
                    for (x, ext) in self.externals.iter().enumerate().rev() {
                        if under(new.path, ext) {
                            (newprio, newrank) = (index, Rank::External(x));
                        }
                        if under(old.path, ext) {
                            (oldprio, oldrank) = (index, Rank::External(x));
                        }
                        index += 1;
                    }
                }
                SearchEntry::Dir(dir) => {
                    if new.relpath.is_some_and(|r| under(r, dir)) {
                        (newprio, newrank) = (index, Rank::Search(e));
                    } else if old.relpath.is_some_and(|r| under(r, dir)) {
                        (oldprio, oldrank) = (index, Rank::Search(e));
                    }
                }
            }
            index += 1;
        }
        let fallback = if bprio < 0 {
            Rank::Unlisted
        } else {
            Rank::BuiltIn
        };
        if newprio < 0 {
            (newprio, newrank) = (bprio, fallback);
        }
        if oldprio < 0 {
            (oldprio, oldrank) = (bprio, fallback);
        }
        let keep_old = newprio <= oldprio;
        let (winner, loser) = if keep_old {
            (oldrank, newrank)
        } else {
            (newrank, oldrank)
        };
        Decision {
            keep_old,
            rule: Rule::Search {
                winner,
                loser,
                tie: newprio == oldprio,
            },
        }
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
    fn decisions_name_their_rule() {
        let c = Config {
            search: vec![
                SearchEntry::Dir(b"updates".to_vec()),
                SearchEntry::External,
                SearchEntry::BuiltIn,
                SearchEntry::Dir(b"extra".to_vec()),
            ],
            overrides: vec![b"kernel/a".to_vec()],
            externals: vec![b"/ext".to_vec()],
            ..Config::default()
        };
        let abs = |p: &'static [u8], name: &'static [u8]| FileRef {
            path: p,
            relpath: None,
            name,
        };
        let d = c.decide(f(b"updates/a.ko", b"a"), f(b"kernel/a.ko", b"a"));
        assert_eq!((d.keep_old, d.rule), (true, Rule::Override(0)));
        let d = c.decide(f(b"kernel/b.ko", b"b"), f(b"updates/b.ko", b"b"));
        let rule = Rule::Search {
            winner: Rank::Search(0),
            loser: Rank::BuiltIn,
            tie: false,
        };
        assert_eq!((d.keep_old, d.rule), (true, rule));
        let d = c.decide(abs(b"/ext/b.ko", b"b"), f(b"extra/b.ko", b"b"));
        let rule = Rule::Search {
            winner: Rank::External(0),
            loser: Rank::Search(3),
            tie: false,
        };
        assert_eq!((d.keep_old, d.rule), (false, rule));
        let d = c.decide(f(b"kernel/b.ko", b"b"), f(b"drivers/b.ko", b"b"));
        let rule = Rule::Search {
            winner: Rank::BuiltIn,
            loser: Rank::BuiltIn,
            tie: true,
        };
        assert_eq!((d.keep_old, d.rule), (true, rule));
        // Every decision is keep_old's.
        for (new, old) in [
            (&b"updates/a.ko"[..], &b"kernel/a.ko"[..]),
            (b"extra/a.ko", b"kernel/a.ko"),
            (b"kernel/a.ko", b"extra/a.ko"),
        ] {
            assert_eq!(
                c.decide(f(new, b"a"), f(old, b"a")).keep_old,
                c.keep_old(f(new, b"a"), f(old, b"a"))
            );
        }
    }

    #[test]
    fn origins_are_recorded() {
        let mut log = Log::default();
        let mut c = Config::default();
        c.parse(
            b"f.conf",
            b"search  updates\tbuilt-in\n\noverride a * extra\nexternal * /ext\n",
            b"6.1",
            &mut log,
        );
        let o = |line, text: &[u8]| Origin {
            file: b"f.conf".to_vec(),
            line,
            text: text.to_vec(),
        };
        assert_eq!(
            c.search_origins,
            vec![
                o(1, b"search updates built-in"),
                o(1, b"search updates built-in")
            ]
        );
        assert_eq!(c.override_origins, vec![o(3, b"override a * extra")]);
        assert_eq!(c.external_origins, vec![o(4, b"external * /ext")]);
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

/// The default configuration directories, in precedence order.
pub const DEFAULT_DIRS: &[&str] = &[
    "/etc/depmod.d",
    "/run/depmod.d",
    "/usr/local/lib/depmod.d",
    "/usr/lib/depmod.d",
    "/lib/depmod.d",
];

fn os(p: &[u8]) -> &std::path::Path {
    std::path::Path::new(<std::ffi::OsStr as std::os::unix::ffi::OsStrExt>::from_bytes(p))
}

/// The configuration files to read, sorted by basename, an earlier path's file masking a
/// same-named one in a later path.
pub fn collect_files(paths: &[Vec<u8>], log: &mut Log) -> Vec<Vec<u8>> {
    use std::os::unix::ffi::OsStrExt;
    let mut files: std::collections::BTreeMap<Vec<u8>, Vec<u8>> = Default::default();
    for path in paths {
        let Ok(meta) = std::fs::metadata(os(path)) else {
            continue;
        };
        if !meta.is_dir() {
            let base = match path.iter().rposition(|&b| b == b'/') {
                Some(p) => path[p + 1..].to_vec(),
                None => path.clone(),
            };
            files.entry(base).or_insert_with(|| path.clone());
            continue;
        }
        let rd = match std::fs::read_dir(os(path)) {
            Ok(rd) => rd,
            Err(e) => {
                log.error(msg!(
                    b"files list ",
                    path,
                    b": ",
                    strerror(errno_of(&e)),
                    b"\n"
                ));
                continue;
            }
        };
        let mut accepted = Vec::new();
        for entry in rd.flatten() {
            let fname = entry.file_name();
            let name = fname.as_bytes();
            if name.first() == Some(&b'.') {
                continue;
            }
            if name.len() < 6 || !name.ends_with(b".conf") {
                log.log(
                    Level::Info,
                    msg!(b"All cfg files need .conf: ", path, b"/", name, b"\n"),
                );
                continue;
            }
            let full = msg!(path, b"/", name);
            match std::fs::metadata(os(&full)) {
                Err(_) => log.error(msg!(b"Cannot stat directory entry: ", path, name, b"\n")),
                Ok(m) if m.is_dir() => log.error(msg!(
                    b"Directories inside directories are not supported: ",
                    full,
                    b"\n"
                )),
                Ok(_) => accepted.push((name.to_vec(), full)),
            }
        }
        for (name, full) in accepted {
            match files.entry(name) {
                std::collections::btree_map::Entry::Occupied(_) => log.log(
                    Level::Debug,
                    msg!(b"Ignoring duplicate config file: ", full, b"\n"),
                ),
                std::collections::btree_map::Entry::Vacant(v) => {
                    v.insert(full);
                }
            }
        }
    }
    files.into_values().collect()
}

/// Split a configuration file into logical lines: backslash-newline joins lines, a backslash
/// before any other byte keeps that byte, a backslash at the end is dropped.
/// Each line comes with the number of its last physical line.
pub fn logical_lines(data: &[u8]) -> Vec<(Vec<u8>, usize)> {
    let mut out = Vec::new();
    let mut line = Vec::new();
    let mut n = 0;
    let mut i = 0;
    let mut pending = false;
    while i < data.len() {
        let b = data[i];
        i += 1;
        match b {
            b'\\' => {
                pending = true;
                match data.get(i) {
                    Some(b'\n') => {
                        n += 1;
                        i += 1;
                    }
                    Some(&c) => {
                        line.push(c);
                        i += 1;
                    }
                    None => {}
                }
            }
            b'\n' => {
                n += 1;
                out.push((std::mem::take(&mut line), n));
                pending = false;
            }
            _ => {
                line.push(b);
                pending = true;
            }
        }
    }
    if pending {
        out.push((line, n + 1));
    }
    out
}

/// Whether a configured kernel version (`*` or an extended regular expression matched
/// anywhere) matches `version`. An invalid expression never matches.
///
/// kmod hands the pattern to the C library's `regcomp(REG_EXTENDED | REG_NOSUB)` and the
/// version to `regexec`, without setting a locale; [`posix_ere`] reimplements glibc's rules
/// for that: `\d` is a plain `d`, `{,2}` is `{0,2}`, `(?i)` is an error, bytes above 0x7f are
/// single characters. As C strings, either ends at a NUL.
pub fn version_matches(pattern: &[u8], version: &[u8]) -> bool {
    let (pattern, version) = (crate::cstd::c_str(pattern), crate::cstd::c_str(version));
    if pattern == b"*" {
        return true;
    }
    posix_ere::compile(pattern).is_some_and(|re| re.is_match(version))
}

/// Read the configuration: the `-C` paths, or the default directories when there are none.
///
/// A file longer than [`crate::inputs::MAX_TEXT_INPUT`] (`-C /dev/zero`) is a fatal error.
pub fn load(paths: &[Vec<u8>], version: &[u8], log: &mut Log) -> Result<Config, Fatal> {
    let defaults: Vec<Vec<u8>>;
    let paths = if paths.is_empty() {
        defaults = DEFAULT_DIRS.iter().map(|d| d.as_bytes().to_vec()).collect();
        &defaults
    } else {
        paths
    };
    let mut config = Config::default();
    for file in collect_files(paths, log) {
        match crate::inputs::read_stream(&file)? {
            Ok((data, None)) => config.parse(&file, &data, version, log),
            Ok((_, Some(e))) | Err(e) => log.error(msg!(
                b"file parse ",
                file,
                b": ",
                strerror(errno_of(&e)),
                b"\n"
            )),
        }
    }
    Ok(config)
}

impl Config {
    /// Apply one configuration file's lines.
    pub fn parse(&mut self, file: &[u8], data: &[u8], version: &[u8], log: &mut Log) {
        for (mut line, n) in logical_lines(data) {
            // kmod reads each logical line as a C string: a NUL byte ends it.
            if let Some(nul) = line.iter().position(|&b| b == 0) {
                line.truncate(nul);
            }
            if line.is_empty() || line[0] == b'#' {
                continue;
            }
            let mut tokens = line
                .split(|&b| b == b' ' || b == b'\t')
                .filter(|t| !t.is_empty());
            let Some(cmd) = tokens.next() else { continue };
            let at = |what: &[u8]| msg!(file, b":", n.to_string(), b": ", what);
            let origin = || Origin {
                file: file.to_vec(),
                line: n,
                text: line
                    .split(|&b| b == b' ' || b == b'\t')
                    .filter(|t| !t.is_empty())
                    .collect::<Vec<_>>()
                    .join(&b' '),
            };
            let ok = match cmd {
                b"search" => {
                    for t in tokens {
                        self.search_origins.push(origin());
                        self.search.push(match t {
                            b"built-in" => SearchEntry::BuiltIn,
                            b"external" => SearchEntry::External,
                            _ => SearchEntry::Dir(t.to_vec()),
                        });
                    }
                    true
                }
                b"override" => match (tokens.next(), tokens.next(), tokens.next()) {
                    (Some(module), Some(kver), Some(subdir)) => {
                        if version_matches(kver, version) {
                            self.overrides.push(msg!(subdir, b"/", module));
                            self.override_origins.push(origin());
                        } else {
                            log.log(
                                Level::Info,
                                at(&msg!(b"override kernel did not match ", kver, b"\n")),
                            );
                        }
                        true
                    }
                    _ => false,
                },
                b"external" => match (tokens.next(), tokens.next()) {
                    (Some(kver), Some(dir)) => {
                        if version_matches(kver, version) {
                            self.externals.push(dir.to_vec());
                            self.external_origins.push(origin());
                        } else {
                            log.log(
                                Level::Info,
                                at(&msg!(b"external directory did not match ", kver, b"\n")),
                            );
                        }
                        true
                    }
                    _ => false,
                },
                b"exclude" => {
                    self.excludes.extend(tokens.map(<[u8]>::to_vec));
                    true
                }
                b"include" | b"make_map_files" => {
                    log.log(
                        Level::Info,
                        at(&msg!(b"command ", cmd, b" not implemented yet\n")),
                    );
                    true
                }
                _ => false,
            };
            if !ok {
                log.error(at(&msg!(b"ignoring bad line starting with '", cmd, b"'\n")));
            }
        }
    }
}

#[cfg(test)]
mod parse_tests {
    use super::*;

    #[test]
    fn continuation_and_escapes() {
        let lines = logical_lines(b"a\\\nb\nover 9\\.9\n#x\n\\");
        assert_eq!(
            lines,
            vec![
                (b"ab".to_vec(), 2),
                (b"over 9.9".to_vec(), 3),
                (b"#x".to_vec(), 4),
                (b"".to_vec(), 5)
            ]
        );
        assert_eq!(logical_lines(b"x"), vec![(b"x".to_vec(), 1)]);
    }

    #[test]
    fn versions_match_anywhere() {
        assert!(version_matches(b"*", b"6.1.0"));
        assert!(version_matches(b"5.*", b"6.1.0-57-amd64"));
        assert!(version_matches(b"4.4..*", b"4.4.4"));
        assert!(!version_matches(b"^5", b"6.1.0"));
        assert!(!version_matches(b"(", b"6.1.0"));
        // POSIX/GNU rules, not Perl-style ones.
        assert!(!version_matches(b"\\d", b"4.4.4"));
        assert!(version_matches(b"\\d", b"4.4d"));
        assert!(version_matches(b"4{,2}", b"4.4.4"));
        assert!(!version_matches(b"(?i)4", b"4.4.4"));
        assert!(version_matches(b"\xff*", b"4.4.4"));
        assert!(version_matches(b"[[:digit:]]\\.", b"4.4.4"));
        assert!(version_matches(b"(4)\\1", b"44.4"));
    }

    #[test]
    fn nul_ends_a_line() {
        let mut log = Log::default();
        let mut c = Config::default();
        c.parse(
            b"f.conf",
            b"search extra\0junk\nbo\0gus\n\0search x\noverride a 4\0 extra\n",
            b"4.4.4",
            &mut log,
        );
        assert_eq!(c.search, vec![SearchEntry::Dir(b"extra".to_vec())]);
        let texts: Vec<_> = log
            .diags
            .iter()
            .map(|d| String::from_utf8_lossy(&d.text).into_owned())
            .collect();
        assert_eq!(
            texts,
            vec![
                "f.conf:2: ignoring bad line starting with 'bo'\n",
                "f.conf:4: ignoring bad line starting with 'override'\n"
            ]
        );
    }

    #[test]
    fn directives() {
        let mut log = Log::default();
        let mut c = Config::default();
        c.parse(
            b"f.conf",
            b"search updates built-in\noverride a-b * extra\nexternal 6 /ext\nexclude x y\n bogus\noverride a\n",
            b"6.1",
            &mut log,
        );
        assert_eq!(
            c.search,
            vec![SearchEntry::Dir(b"updates".to_vec()), SearchEntry::BuiltIn]
        );
        assert_eq!(c.overrides, vec![b"extra/a-b".to_vec()]);
        assert_eq!(c.externals, vec![b"/ext".to_vec()]);
        assert_eq!(c.excludes, vec![b"x".to_vec(), b"y".to_vec()]);
        let texts: Vec<_> = log
            .diags
            .iter()
            .map(|d| String::from_utf8_lossy(&d.text).into_owned())
            .collect();
        assert_eq!(
            texts,
            vec![
                "f.conf:5: ignoring bad line starting with 'bogus'\n",
                "f.conf:6: ignoring bad line starting with 'override'\n"
            ]
        );
    }
}
