//! libkmod's own tools read our indexes exactly as they read kmod's ("real clients").
//!
//! On the real Debian `cloud-amd64` tree (`scripts/fetch-trees cloud-amd64`), our depmod, installed
//! into a temporary DESTDIR, indexes one copy of the module directory (root A) and the reference
//! kmod 34.2 (`scripts/fetch-reference`) another (root B); the copies hold hard links to the same
//! module files. Then Debian's `modprobe` and `modinfo` answer the same queries on both roots:
//!
//! - every module and every built-in module name: `modprobe --show-depends`, `modinfo`;
//! - every alias (from `modules.alias`) of every 10th module, as a matching device string:
//!   `modprobe --show-depends`, `modprobe -R`, `modinfo`; the wildcard patterns themselves: `-R`;
//! - every built-in alias (`modules.builtin.modinfo`): the same three;
//! - ~200 `symbol:NAME` aliases (every k-th line of `modules.symbols`): `--show-depends`, `-R`;
//! - a few names that exist nowhere: all three.
//!
//! Each answer (stdout, stderr, exit status; root paths replaced by `<ROOT>`) from root A must equal
//! the one from root B. Positive controls on root A make an empty or wrong index fail even if the
//! reference's were broken the same way: every module's `--show-depends` exits 0 and lists its own
//! file plus at least as many `insmod` lines as `modules.dep` gives it dependencies, and so on.
//!
//! Clients: kmod 34.2 (Debian trixie, the reference's multicall binary run as modprobe/modinfo
//! through its bundled loader) and kmod 30 (Debian bookworm, `scripts/fetch-clients`, host C
//! library). A missing tree, reference or client skips the test, except under `CI=true`,
//! where it fails. `modprobe` runs with `-C` on an empty directory, so that the host's
//! modprobe.d does not matter; `modinfo` has no such option and reads the host's (the same for
//! both roots).

use std::collections::{BTreeMap, BTreeSet};
use std::ffi::OsString;
use std::fs;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

use crate::support::argv;
use crate::support::clients::{
    Answer, Client, install_ours, kmod30, kmod34, link_tree, note, run_parallel,
};
use crate::support::diff::line_diff;
use crate::support::inputs::{real_tree_or_skip, reference_or_skip};
use crate::support::skip::{Missing, skip};

const TREE: &str = "cloud-amd64";
/// Every `ALIAS_STRIDE`-th module (in `modules.dep` order) has all its aliases queried.
const ALIAS_STRIDE: usize = 10;
/// About this many `symbol:` aliases are queried.
const SYMBOL_SAMPLE: usize = 200;
/// At most this many differences are printed.
const SHOWN_DIFFERENCES: usize = 8;

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Tool {
    ShowDepends,
    ResolveAlias,
    Modinfo,
}

impl Tool {
    fn label(self) -> &'static str {
        match self {
            Tool::ShowDepends => "modprobe --show-depends",
            Tool::ResolveAlias => "modprobe -R",
            Tool::Modinfo => "modinfo",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Kind {
    /// A module file's name; `deps` of [`Query`] holds its `modules.dep` dependency count.
    Module,
    Builtin,
    /// A string matching an alias pattern (the pattern itself when it has no wildcard).
    Alias,
    /// An alias pattern with wildcards, as written in `modules.alias`.
    AliasPattern,
    BuiltinAlias,
    Symbol,
    Missing,
}

impl Kind {
    fn tools(self) -> &'static [Tool] {
        use Tool::*;
        match self {
            Kind::Module | Kind::Builtin => &[ShowDepends, Modinfo],
            Kind::Alias | Kind::BuiltinAlias | Kind::Missing => {
                &[ShowDepends, ResolveAlias, Modinfo]
            }
            Kind::AliasPattern => &[ResolveAlias],
            Kind::Symbol => &[ShowDepends, ResolveAlias],
        }
    }
}

#[derive(Clone, Debug)]
struct Query {
    tool: Tool,
    kind: Kind,
    name: String,
    /// For [`Kind::Module`]: its file.
    module: Option<ModuleFile>,
}

/// A module file as `modules.dep` lists it.
#[derive(Clone, Debug)]
struct ModuleFile {
    /// Relative to the module directory.
    path: String,
    /// Number of dependencies.
    deps: usize,
}

/// The two indexed roots and what is needed to query them.
struct Setup {
    _work: tempfile::TempDir,
    version: String,
    /// Root A (indexed by our installed depmod) and root B (by the reference).
    roots: [PathBuf; 2],
    /// Empty directory for modprobe's `-C`.
    empty_conf: PathBuf,
    queries: Vec<Query>,
}

fn read_text(path: &Path) -> String {
    String::from_utf8(fs::read(path).unwrap_or_else(|e| panic!("read {}: {e}", path.display())))
        .unwrap_or_else(|e| panic!("{} is not UTF-8: {e}", path.display()))
}

/// `kernel/fs/ext4/ext4.ko.xz` → `ext4` (the file name up to its first dot, as kmod names it).
fn module_name(path: &str) -> String {
    let file = path.rsplit('/').next().unwrap();
    file.split('.').next().unwrap().to_string()
}

fn normalised(name: &str) -> String {
    name.replace('-', "_")
}

/// A string the fnmatch pattern `pat` matches: `*` → nothing, `?` → `X`, `[set]` → its first
/// member (`[!set]`: one of `XYZ0` not in it), `\c` → `c`.
fn concrete(pat: &str) -> String {
    let mut out = String::new();
    let mut chars = pat.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '*' => {}
            '?' => out.push('X'),
            '\\' => out.extend(chars.next()),
            '[' => {
                let mut set = String::new();
                for c in chars.by_ref() {
                    if c == ']' && !set.is_empty() {
                        break;
                    }
                    set.push(c);
                }
                match set.strip_prefix(['!', '^']) {
                    Some(excluded) => out.extend("XYZ0".chars().find(|c| !excluded.contains(*c))),
                    None => out.extend(set.chars().next()),
                }
            }
            c => out.push(c),
        }
    }
    out
}

fn depmod_answer(bin: &Path, root: &Path, version: &str) -> Answer {
    let out = Command::new(bin)
        .arg0("depmod")
        .arg("-b")
        .arg(root)
        .arg(version)
        .env("LC_ALL", "C")
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", bin.display()));
    Answer {
        status: out.status.code(),
        stdout: out.stdout,
        stderr: out.stderr,
    }
}

/// Builds roots A and B and the query list; `None` after a skip.
fn setup() -> Option<Setup> {
    let reference = reference_or_skip("real clients")?;
    let tree = real_tree_or_skip(TREE)?;
    let (version, moddir) = (tree.version.clone(), tree.moddir());

    let work = tempfile::Builder::new()
        .prefix("depmod-real-clients.")
        .tempdir()
        .unwrap();
    let ours = install_ours(
        &work.path().join("destdir"),
        &work.path().join("make-state"),
    );
    let roots = [work.path().join("root-ours"), work.path().join("root-kmod")];
    for root in &roots {
        link_tree(&moddir, &root.join("lib/modules").join(&version));
    }
    let empty_conf = work.path().join("modprobe.d");
    fs::create_dir(&empty_conf).unwrap();

    // Index A with our installed depmod, B with the reference; both runs must look alike.
    let a = depmod_answer(&ours, &roots[0], &version)
        .replace(roots[0].as_os_str().as_encoded_bytes(), b"<ROOT>");
    let b = depmod_answer(&reference, &roots[1], &version)
        .replace(roots[1].as_os_str().as_encoded_bytes(), b"<ROOT>");
    assert_eq!(
        b.status,
        Some(0),
        "the reference depmod failed on {TREE}: {}",
        b.show()
    );
    assert_eq!(
        a,
        b,
        "our installed depmod ran differently from the reference:\n  ours: {}\n  reference: {}",
        a.show(),
        b.show()
    );

    // The module paths both depmods recorded must be the same (the copies are alike).
    let deps: Vec<String> = roots
        .iter()
        .map(|r| read_text(&r.join("lib/modules").join(&version).join("modules.dep")))
        .collect();
    let paths = |dep: &str| -> Vec<String> {
        dep.lines()
            .map(|l| l.split(':').next().unwrap().to_string())
            .collect()
    };
    assert_eq!(
        paths(&deps[0]),
        paths(&deps[1]),
        "modules.dep lists different module paths in the two roots"
    );

    let queries = build_queries(&roots[1].join("lib/modules").join(&version), &deps[1]);
    Some(Setup {
        _work: work,
        version,
        roots,
        empty_conf,
        queries,
    })
}

/// The query list, from the reference's index files (and the tree's inputs) in `moddir`.
fn build_queries(moddir: &Path, dep: &str) -> Vec<Query> {
    let mut named: Vec<(Kind, String, Option<ModuleFile>)> = Vec::new();

    let mut sampled = BTreeSet::new();
    for (i, line) in dep.lines().enumerate() {
        let (path, rest) = line.split_once(':').expect("modules.dep line without ':'");
        let name = module_name(path);
        if i % ALIAS_STRIDE == 0 {
            sampled.insert(normalised(&name));
        }
        named.push((
            Kind::Module,
            name,
            Some(ModuleFile {
                path: path.to_string(),
                deps: rest.split_whitespace().count(),
            }),
        ));
    }
    for line in read_text(&moddir.join("modules.builtin")).lines() {
        if !line.trim().is_empty() {
            named.push((Kind::Builtin, module_name(line.trim()), None));
        }
    }
    for line in read_text(&moddir.join("modules.alias")).lines() {
        let mut f = line.split_whitespace();
        if let (Some("alias"), Some(pattern), Some(module)) = (f.next(), f.next(), f.next())
            && sampled.contains(module)
        {
            named.push((Kind::Alias, concrete(pattern), None));
            if pattern.contains(['*', '?', '[']) {
                named.push((Kind::AliasPattern, pattern.to_string(), None));
            }
        }
    }
    let builtin_modinfo = fs::read(moddir.join("modules.builtin.modinfo")).unwrap_or_default();
    for entry in builtin_modinfo.split(|&b| b == 0) {
        let entry = String::from_utf8_lossy(entry);
        if let Some((_, alias)) = entry.split_once(".alias=") {
            named.push((Kind::BuiltinAlias, concrete(alias), None));
        }
    }
    let symbols: Vec<String> = read_text(&moddir.join("modules.symbols"))
        .lines()
        .filter_map(|l| {
            let mut f = l.split_whitespace();
            match (f.next(), f.next()) {
                (Some("alias"), Some(sym)) if sym.starts_with("symbol:") => Some(sym.to_string()),
                _ => None,
            }
        })
        .collect();
    let stride = (symbols.len() / SYMBOL_SAMPLE).max(1);
    for sym in symbols.iter().step_by(stride) {
        named.push((Kind::Symbol, sym.clone(), None));
    }
    for name in [
        "no_such_module_xyz",
        "no-such-module-xyz",
        "symbol:no_such_symbol_xyz",
        "pci:v0000FFFEd0000FFFEsv0sd0bc0sc0i0",
    ] {
        named.push((Kind::Missing, name.to_string(), None));
    }

    let mut queries = Vec::new();
    for (kind, name, module) in named {
        for &tool in kind.tools() {
            queries.push(Query {
                tool,
                kind,
                name: name.clone(),
                module: module.clone(),
            });
        }
    }
    queries
}

fn query_args(s: &Setup, q: &Query, root: &Path) -> (&'static str, Vec<OsString>) {
    let v = s.version.as_str();
    match q.tool {
        Tool::ShowDepends => (
            "modprobe",
            argv([
                "-C".as_ref(),
                s.empty_conf.as_os_str(),
                "--show-depends".as_ref(),
                "-S".as_ref(),
                v.as_ref(),
                "-d".as_ref(),
                root.as_os_str(),
                q.name.as_ref(),
            ]),
        ),
        Tool::ResolveAlias => (
            "modprobe",
            argv([
                "-C".as_ref(),
                s.empty_conf.as_os_str(),
                "-R".as_ref(),
                "-S".as_ref(),
                v.as_ref(),
                "-d".as_ref(),
                root.as_os_str(),
                q.name.as_ref(),
            ]),
        ),
        Tool::Modinfo => (
            "modinfo",
            argv([
                "-b".as_ref(),
                root.as_os_str(),
                "-k".as_ref(),
                v.as_ref(),
                q.name.as_ref(),
            ]),
        ),
    }
}

/// Positive controls on root A's answers (root paths already replaced by `<ROOT>`); returns the
/// failures.
fn controls(s: &Setup, answers: &[(Query, Answer)]) -> Vec<String> {
    let mut bad = Vec::new();
    let mut max_insmod = 0;
    let mut kinds_ok: BTreeMap<(Kind, Tool), (usize, usize)> = BTreeMap::new();
    for (q, a) in answers {
        let out = a.stdout_text();
        let insmods = out.lines().filter(|l| l.starts_with("insmod ")).count();
        let ok = match (q.kind, q.tool) {
            (Kind::Module, Tool::ShowDepends) => {
                let ModuleFile { path, deps } = q.module.as_ref().unwrap();
                max_insmod = max_insmod.max(insmods);
                let own = format!("insmod <ROOT>/lib/modules/{}/{path} ", s.version);
                a.status == Some(0) && insmods > *deps && out.lines().any(|l| l == own)
            }
            (Kind::Module, Tool::Modinfo) => {
                let path = &q.module.as_ref().unwrap().path;
                let file = format!("<ROOT>/lib/modules/{}/{path}", s.version);
                a.status == Some(0)
                    && out
                        .lines()
                        .any(|l| l.starts_with("filename:") && l.ends_with(&file))
            }
            // A built-in module's name can also be an alias of a loadable module (`crc32`), and
            // modules.alias is looked up before modules.builtin.alias.bin (`sha1`).
            (Kind::Builtin | Kind::BuiltinAlias, Tool::ShowDepends) => {
                a.status == Some(0) && (out.starts_with("builtin ") || insmods > 0)
            }
            (Kind::Builtin, Tool::Modinfo) => a.status == Some(0) && out.contains("filename:"),
            (Kind::Alias | Kind::Symbol, Tool::ShowDepends) => {
                a.status == Some(0) && (insmods > 0 || out.contains("builtin "))
            }
            (Kind::Alias | Kind::AliasPattern | Kind::Symbol, Tool::ResolveAlias) => {
                a.status == Some(0) && !out.trim().is_empty()
            }
            (Kind::Alias | Kind::BuiltinAlias, Tool::Modinfo) => {
                a.status == Some(0) && out.contains("filename:")
            }
            (Kind::Missing, _) => a.status != Some(0),
            _ => true,
        };
        let e = kinds_ok.entry((q.kind, q.tool)).or_default();
        e.0 += 1;
        if ok {
            e.1 += 1;
        } else if bad.len() < SHOWN_DIFFERENCES {
            bad.push(format!(
                "{} {} ({:?}): unexpected answer on root A: {}",
                q.tool.label(),
                q.name,
                q.kind,
                a.show()
            ));
        }
    }
    if max_insmod < 2 {
        bad.push(format!(
            "no module's --show-depends listed 2 or more insmod lines (at most {max_insmod})"
        ));
    }
    for ((kind, tool), (n, ok)) in &kinds_ok {
        if ok < n {
            bad.push(format!(
                "{:?} / {}: only {ok} of {n} answers passed the control",
                kind,
                tool.label()
            ));
        }
    }
    bad
}

/// How answer `a` (our indexes) differs from `b` (kmod's): status, and line diffs of the streams.
fn describe(b: &Answer, a: &Answer) -> String {
    let mut r = String::new();
    if a.status != b.status {
        r.push_str(&format!(
            "    exit status: with kmod's {:?}, with ours {:?}\n",
            b.status, a.status
        ));
    }
    for (what, kb, ob) in [
        ("stdout", &b.stdout, &a.stdout),
        ("stderr", &b.stderr, &a.stderr),
    ] {
        if kb != ob {
            r.push_str(&format!(
                "    {what} (- with kmod's indexes, + with ours):\n"
            ));
            for line in line_diff(kb, ob, 12).lines() {
                r.push_str(&format!("      {line}\n"));
            }
        }
    }
    r
}

/// `missing`: what a client that cannot be found or run needs.
fn check_client(client: Result<Client, String>, missing: Missing) {
    let client = match client {
        Ok(c) => c,
        Err(why) => return skip(missing, &why),
    };
    let Some(s) = setup() else { return };
    let started = Instant::now();
    let threads = std::thread::available_parallelism().map_or(2, |n| n.get());
    let n = s.queries.len();
    // Job 2i runs query i on root A, job 2i+1 on root B.
    let answers = run_parallel(2 * n, threads, |j| {
        let root = &s.roots[j % 2];
        let (tool, args) = query_args(&s, &s.queries[j / 2], root);
        let mut cmd = client.command(tool);
        cmd.args(args);
        cmd
    });
    let elapsed = started.elapsed();

    let roots: Vec<Vec<u8>> = s
        .roots
        .iter()
        .map(|r| r.as_os_str().as_encoded_bytes().to_vec())
        .collect();
    let mut diffs = Vec::new();
    let mut ndiff = 0;
    let mut per_tool: BTreeMap<&str, usize> = BTreeMap::new();
    let mut answers_a = Vec::with_capacity(n);
    for (i, q) in s.queries.iter().enumerate() {
        let a = answers[2 * i].replace(&roots[0], b"<ROOT>");
        let b = answers[2 * i + 1].replace(&roots[1], b"<ROOT>");
        *per_tool.entry(q.tool.label()).or_default() += 1;
        if a != b {
            ndiff += 1;
            if diffs.len() < SHOWN_DIFFERENCES {
                diffs.push(format!(
                    "{} {} ({:?}):\n{}",
                    q.tool.label(),
                    q.name,
                    q.kind,
                    describe(&b, &a)
                ));
            }
        }
        answers_a.push((q.clone(), a));
    }
    let mut by_kind: BTreeMap<Kind, usize> = BTreeMap::new();
    for q in &s.queries {
        *by_kind.entry(q.kind).or_default() += 1;
    }
    note(&format!(
        "real clients: {}: {n} queries x 2 roots in {:.1} s on {threads} threads; per tool {per_tool:?}; per kind {by_kind:?}; {ndiff} differ",
        client.name,
        elapsed.as_secs_f64()
    ));
    assert!(
        ndiff == 0,
        "{}: {ndiff} of {n} answers differ between our indexes (root A) and kmod's (root B); first ones:\n  {}",
        client.name,
        diffs.join("\n  ")
    );
    let bad = controls(&s, &answers_a);
    assert!(
        bad.is_empty(),
        "{}: positive controls failed on our indexes:\n  {}",
        client.name,
        bad.join("\n  ")
    );
}

/// The reference kmod 34.2's modprobe and modinfo (Debian trixie).
#[test]
fn kmod_34_2_reads_our_indexes_like_kmods() {
    check_client(kmod34(), Missing::Reference);
}

/// Debian bookworm's kmod 30 modprobe and modinfo (`scripts/fetch-clients`).
#[test]
fn kmod_30_reads_our_indexes_like_kmods() {
    check_client(kmod30(), Missing::Clients);
}

#[test]
fn concrete_strings_match_their_patterns() {
    assert_eq!(
        concrete("pci:v00008086d*sv*sd*bc*sc*i*"),
        "pci:v00008086dsvsdbcsci"
    );
    assert_eq!(concrete("a?b[xy]c[!z]d\\*"), "aXbxcXd*");
    assert_eq!(concrete("fs-ext4"), "fs-ext4");
    assert_eq!(module_name("kernel/fs/ext4/ext4.ko.xz"), "ext4");
}
