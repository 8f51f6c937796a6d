//! `--explain=MODULE`: why a module is what it is in the indexes, on stdout, for people (text)
//! or programs (`--diagnostics=json`: one JSON object per line).
//!
//! For each module named (a module name, dashes and underscores alike, or a path to a module
//! file): the file chosen for its name and the rule that chose it (an `override` line, the
//! search list) with every file of that name it shadowed; each direct dependency with the
//! symbols that make the edge; the load order as its modules.dep line has it; the modules
//! that use it; its aliases, softdeps and weakdeps; the dependency cycles it is in; the
//! symbols it imports that nothing provides. A name only listed in modules.builtin is built
//! into the kernel.
//!
//! Everything is recomputed here from what the run already has (the module array, the facts,
//! the graph, the configuration and discovery's record of the files it left out), so that
//! explaining costs the pipeline nothing when it is not asked for.

use crate::cli::{Args, Diagnostics};
use crate::config::{Config, Origin, Rank, Rule, SearchEntry};
use crate::diag::Log;
use crate::discover::{Candidate, Shadowed, is_module_name, modname, relative_to};
use crate::link::{Graph, LinkOptions, SymEntry, import_key, symbol_table};
use crate::msg;
use crate::report::json_string;
use crate::scan::ElfFacts;
use rustc_hash::{FxHashMap as HashMap, FxHashSet as HashSet};
use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

/// What the run knows once it has linked.
pub struct Known<'a> {
    /// The module array.
    pub modules: &'a [Candidate],
    /// Each module's facts (`None` for a module that could not be read).
    pub facts: &'a [Option<&'a ElfFacts>],
    /// The graph: its direct dependencies even when it is cyclic.
    pub graph: &'a Graph,
    /// How symbols were resolved (kernel symbols, prefix).
    pub opts: &'a LinkOptions,
    /// The configuration discovery used (empty in files mode).
    pub config: &'a Config,
    /// The files discovery left out for another of the same name.
    pub shadowed: &'a [Shadowed],
    /// The module directory.
    pub dirname: &'a [u8],
}

/// Explain every module of `args.explain` in order, on `stdout`. A name that is neither a
/// module nor built in is an error (the others are still explained): returns 1 then, else 0.
pub fn explain(k: &Known, args: &Args, log: &mut Log, stdout: &mut Vec<u8>) -> i32 {
    let by_name: HashMap<&[u8], usize> = k
        .modules
        .iter()
        .enumerate()
        .map(|(i, m)| (m.name.as_slice(), i))
        .collect();
    let builtin = builtin_names(k.dirname);
    let table = symbol_table(k.facts, k.opts);
    let mut status = 0;
    let mut first = true;
    for arg in &args.explain {
        let e = match k.lookup(arg, &by_name) {
            Ok(Some((i, shadowed_arg))) => {
                let mut e = k.module(i, &table);
                e.builtin = builtin.contains(e.module.as_slice());
                e.argument_shadowed = shadowed_arg;
                e
            }
            Ok(None) if builtin.contains(normalized(arg).as_slice()) => Explanation {
                module: normalized(arg),
                builtin: true,
                load_order: Some(Vec::new()),
                ..Explanation::default()
            },
            Ok(None) => {
                log.error(msg!(b"--explain: no module named ", arg, b"\n"));
                status = 1;
                continue;
            }
            Err(text) => {
                log.error(text);
                status = 1;
                continue;
            }
        };
        if args.diagnostics == Diagnostics::Json {
            stdout.extend_from_slice(e.json().as_bytes());
        } else {
            if !first {
                stdout.push(b'\n');
            }
            e.text(k.opts.kernel.is_some(), stdout);
        }
        first = false;
    }
    status
}

/// A module name as modules are named: dashes made underscores.
fn normalized(name: &[u8]) -> Vec<u8> {
    name.iter()
        .map(|&b| if b == b'-' { b'_' } else { b })
        .collect()
}

/// The module names modules.builtin lists (none when it cannot be read).
fn builtin_names(dirname: &[u8]) -> HashSet<Vec<u8>> {
    let Ok(Ok((data, _))) = crate::inputs::read_stream(&msg!(dirname, b"/modules.builtin")) else {
        return HashSet::default();
    };
    data.split(|&b| b == b'\n')
        .filter_map(|line| modname(crate::cstd::c_str(line)))
        .filter(|n| !n.is_empty())
        .collect()
}

/// A module an argument names: its index, and the shadowed file of its name that the
/// argument named, if it named one.
type Found = (usize, Option<Vec<u8>>);

/// A file's identity, if it can be `stat`ed.
fn file_id(path: &[u8]) -> Option<(u64, u64)> {
    let m = std::fs::metadata(Path::new(OsStr::from_bytes(path))).ok()?;
    Some((m.dev(), m.ino()))
}

/// Why a file was chosen for its name, or left out.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
struct Reason {
    /// `only`, `override`, `search` or `found-first`.
    rule: &'static str,
    /// The search entry that gave the winner its priority (`updates`, `external`,
    /// `built-in`), for `search` and `found-first`.
    entry: Option<Vec<u8>>,
    /// The configuration line of the rule or entry, when one was read.
    origin: Option<Origin>,
    /// The reason in a sentence.
    text: Vec<u8>,
}

/// A file left out for the chosen one.
#[derive(Debug)]
struct Shadow {
    path: Vec<u8>,
    lost_to: Vec<u8>,
    reason: Reason,
}

/// A direct dependency and the symbols that make it.
#[derive(Debug)]
struct Dependency {
    module: Vec<u8>,
    path: Vec<u8>,
    symbols: Vec<Vec<u8>>,
}

/// Everything said about one module.
#[derive(Debug, Default)]
struct Explanation {
    module: Vec<u8>,
    /// The chosen file, as modules.dep names it (`None`: built in only).
    path: Option<Vec<u8>>,
    /// The argument named a file this one shadowed (that file, as modules.dep would name it).
    argument_shadowed: Option<Vec<u8>>,
    chosen_by: Option<Reason>,
    shadowed: Vec<Shadow>,
    dependencies: Vec<Dependency>,
    /// The modules.dep list; `None` when linking failed on a cycle.
    load_order: Option<Vec<Vec<u8>>>,
    used_by: Vec<Vec<u8>>,
    aliases: Vec<Vec<u8>>,
    softdeps: Vec<Vec<u8>>,
    weakdeps: Vec<Vec<u8>>,
    /// Each a list of module names from this module back to itself.
    cycles: Vec<Vec<Vec<u8>>>,
    /// Imports nothing provides, with whether they are weak.
    unresolved: Vec<(Vec<u8>, bool)>,
    builtin: bool,
    /// The file could not be read: no facts.
    unreadable: bool,
}

impl Known<'_> {
    /// A path as modules.dep writes it: relative to the module directory when under it.
    fn out_path(&self, path: &[u8]) -> Vec<u8> {
        relative_to(path, self.dirname).unwrap_or_else(|| path.to_vec())
    }

    /// The module `arg` names: `Ok(Some((index, the shadowed file it named)))`, `Ok(None)`
    /// for a name of no module, `Err(message)` for a path to no module file of the tree.
    fn lookup(
        &self,
        arg: &[u8],
        by_name: &HashMap<&[u8], usize>,
    ) -> Result<Option<Found>, Vec<u8>> {
        if !arg.contains(&b'/') && !is_module_name(arg) {
            return Ok(by_name.get(normalized(arg).as_slice()).map(|&i| (i, None)));
        }
        let not_found = || msg!(b"--explain: no module file ", arg, b" in the tree\n");
        let name = modname(arg).ok_or_else(not_found)?;
        let Some(&chosen) = by_name.get(name.as_slice()) else {
            return Err(not_found());
        };
        // The file as given (relative to the working directory), else relative to the module
        // directory; compared by identity, so that links and `..` do not matter.
        let in_moddir = msg!(self.dirname, b"/", arg);
        let target = file_id(arg).or_else(|| file_id(&in_moddir));
        let absolute = crate::cli::absolute(arg);
        let same = |path: &[u8]| {
            absolute.as_deref() == Some(path)
                || path == in_moddir
                || target.is_some() && target == file_id(path)
        };
        if same(&self.modules[chosen].path) {
            return Ok(Some((chosen, None)));
        }
        match self
            .shadowed
            .iter()
            .find(|s| s.name == name && same(&s.path))
        {
            Some(s) => Ok(Some((chosen, Some(self.out_path(&s.path))))),
            None => Err(not_found()),
        }
    }

    /// What a rank means, as (search entry, its configuration line, where the file is).
    fn rank(&self, rank: Rank) -> (Option<Vec<u8>>, Option<Origin>, Vec<u8>) {
        let c = self.config;
        let at = |o: Option<&Origin>| match o {
            Some(o) => msg!(b"search line ", o.file, b":", o.line.to_string()),
            None => b"the default search list".to_vec(),
        };
        match rank {
            Rank::Search(e) => {
                let dir = match c.effective_search().get(e) {
                    Some(SearchEntry::Dir(d)) => d.clone(),
                    _ => Vec::new(),
                };
                let o = c.search_origins.get(e);
                let text = msg!(b"in ", dir, b" (", at(o), b")");
                (Some(dir), o.cloned(), text)
            }
            Rank::External(x) => {
                let o = c.external_origins.get(x);
                let dir = c.externals.get(x).cloned().unwrap_or_default();
                let line = o.map_or_else(Vec::new, |o| {
                    msg!(b" (external line ", o.file, b":", o.line.to_string(), b")")
                });
                let text = msg!(b"in external directory ", dir, line);
                (Some(b"external".to_vec()), o.cloned(), text)
            }
            Rank::BuiltIn => {
                let o = (c.search.iter())
                    .position(|s| *s == SearchEntry::BuiltIn)
                    .and_then(|p| c.search_origins.get(p));
                let text = msg!(
                    b"in no search directory, at the priority of built-in (",
                    at(o),
                    b")"
                );
                (Some(b"built-in".to_vec()), o.cloned(), text)
            }
            Rank::Unlisted => (
                None,
                None,
                b"in no search directory, the lowest priority".to_vec(),
            ),
        }
    }

    /// The reason of one of discovery's decisions, from the winner's side.
    fn reason(&self, rule: Rule) -> Reason {
        match rule {
            Rule::Override(x) => {
                let o = self.config.override_origins.get(x).cloned();
                let text = match &o {
                    Some(o) => msg!(
                        b"override line ",
                        o.file,
                        b":",
                        o.line.to_string(),
                        b": ",
                        o.text
                    ),
                    None => b"an override line".to_vec(),
                };
                Reason {
                    rule: "override",
                    entry: None,
                    origin: o,
                    text,
                }
            }
            Rule::Search { winner, loser, tie } => {
                let (entry, origin, w) = self.rank(winner);
                let text = if tie {
                    msg!(b"the file found first stays; both are ", w)
                } else {
                    msg!(
                        b"search list: ",
                        w,
                        b", ahead of the other file, ",
                        self.rank(loser).2
                    )
                };
                Reason {
                    rule: if tie { "found-first" } else { "search" },
                    entry,
                    origin,
                    text,
                }
            }
        }
    }

    /// Everything about module `i`.
    fn module(&self, i: usize, table: &HashMap<&[u8], SymEntry>) -> Explanation {
        let m = &self.modules[i];
        let graph = self.graph;
        let conflicts: Vec<&Shadowed> = self.shadowed.iter().filter(|s| s.name == m.name).collect();
        let chosen_by = match conflicts.last() {
            Some(s) => self.reason(s.rule),
            None => Reason {
                rule: "only",
                text: msg!(b"the only file named ", m.name),
                ..Reason::default()
            },
        };
        let deps = &graph.deps[i];
        let mut symbols: Vec<Vec<Vec<u8>>> = vec![Vec::new(); deps.len()];
        let mut unresolved: Vec<(Vec<u8>, bool)> = Vec::new();
        let mut e = Explanation::default();
        if let Some(f) = self.facts[i] {
            for imp in &f.imports {
                let key = import_key(f.str(imp.name), self.opts.prefix);
                match table.get(key) {
                    None if !unresolved.iter().any(|(u, _)| u == key) => {
                        unresolved.push((key.to_vec(), imp.weak));
                    }
                    Some(SymEntry { owner: Some(o), .. }) => {
                        if let Some(p) = deps.iter().position(|d| d == o)
                            && !symbols[p].iter().any(|s| s == key)
                        {
                            symbols[p].push(key.to_vec());
                        }
                    }
                    _ => {}
                }
            }
            let values = |v: &mut Vec<Vec<u8>>, it: &mut dyn Iterator<Item = &[u8]>| {
                v.extend(it.map(<[u8]>::to_vec));
            };
            values(&mut e.aliases, &mut f.alias_values());
            values(&mut e.softdeps, &mut f.softdep_values());
            values(&mut e.weakdeps, &mut f.weakdep_values());
        }
        let name_of = |j: usize| self.modules[j].name.clone();
        Explanation {
            module: m.name.clone(),
            path: Some(m.out_path().to_vec()),
            shadowed: (conflicts.iter())
                .map(|s| Shadow {
                    path: self.out_path(&s.path),
                    lost_to: self.out_path(&s.winner),
                    reason: self.reason(s.rule),
                })
                .collect(),
            chosen_by: Some(chosen_by),
            dependencies: deps
                .iter()
                .zip(symbols)
                .map(|(&d, symbols)| Dependency {
                    module: name_of(d),
                    path: self.modules[d].out_path().to_vec(),
                    symbols,
                })
                .collect(),
            load_order: (!graph.cyclic).then(|| {
                (graph.closure[i].iter())
                    .map(|&d| self.modules[d].out_path().to_vec())
                    .collect()
            }),
            used_by: (0..self.modules.len())
                .filter(|&j| graph.deps[j].contains(&i))
                .map(name_of)
                .collect(),
            cycles: if graph.cyclic {
                cycles_through(&graph.deps, i)
                    .into_iter()
                    .map(|c| c.into_iter().map(name_of).collect())
                    .collect()
            } else {
                Vec::new()
            },
            unresolved,
            unreadable: self.facts[i].is_none(),
            ..e
        }
    }
}

/// For each direct dependency `d` of `m` from which `m` can be reached, the shortest cycle
/// `m -> d -> ... -> m` (ties broken by the dependencies' order): the module's cycles, at most
/// one per edge, however many elementary cycles the graph has.
fn cycles_through(deps: &[Vec<usize>], m: usize) -> Vec<Vec<usize>> {
    let mut out = Vec::new();
    let mut parent = vec![usize::MAX; deps.len()];
    for &d in &deps[m] {
        parent.fill(usize::MAX);
        parent[d] = d;
        let mut queue = std::collections::VecDeque::from([d]);
        let mut found = d == m;
        while !found && let Some(v) = queue.pop_front() {
            for &w in &deps[v] {
                if parent[w] == usize::MAX {
                    parent[w] = v;
                    found |= w == m;
                    queue.push_back(w);
                }
            }
        }
        if !found {
            continue;
        }
        let mut chain = vec![m];
        let mut v = m;
        while v != d {
            v = parent[v];
            chain.push(v);
        }
        chain.push(m);
        chain.reverse();
        out.push(chain);
    }
    out
}

/// Append `label:` and the items, one per line (or `none`).
fn list(out: &mut Vec<u8>, label: &[u8], items: impl IntoIterator<Item = Vec<u8>>) {
    let mut items = items.into_iter().peekable();
    out.extend_from_slice(&msg!(b"  ", label, b":"));
    if items.peek().is_none() {
        out.extend_from_slice(b" none\n");
        return;
    }
    out.push(b'\n');
    for item in items {
        out.extend_from_slice(&msg!(b"    ", item, b"\n"));
    }
}

impl Explanation {
    /// The text for people. `kernel_known`: `-E` or `-F` gave the kernel's symbols.
    fn text(&self, kernel_known: bool, out: &mut Vec<u8>) {
        let Some(path) = &self.path else {
            out.extend_from_slice(&msg!(
                self.module,
                b": built into the kernel (listed in modules.builtin)\n"
            ));
            return;
        };
        out.extend_from_slice(&msg!(self.module, b": ", path, b"\n"));
        if let Some(a) = &self.argument_shadowed {
            out.extend_from_slice(&msg!(b"  note: ", a, b" is not used: it is shadowed\n"));
        }
        if self.builtin {
            out.extend_from_slice(
                b"  note: also listed in modules.builtin (built into the kernel)\n",
            );
        }
        if self.unreadable {
            out.extend_from_slice(
                b"  note: the file could not be read: no symbols, aliases or dependencies\n",
            );
        }
        let chosen_by = self.chosen_by.as_ref().map_or(&[][..], |r| &r.text[..]);
        out.extend_from_slice(&msg!(b"  chosen by: ", chosen_by, b"\n"));
        list(
            out,
            b"shadows",
            self.shadowed.iter().map(|s| {
                if s.lost_to == *path && s.reason.text == chosen_by {
                    s.path.clone()
                } else {
                    msg!(s.path, b": lost to ", s.lost_to, b": ", s.reason.text)
                }
            }),
        );
        list(
            out,
            b"depends on",
            self.dependencies.iter().map(|d| {
                let mut line = msg!(d.module, b" (", d.path, b"):");
                for s in &d.symbols {
                    line.push(b' ');
                    line.extend_from_slice(s);
                }
                line
            }),
        );
        match &self.load_order {
            Some(order) => list(
                out,
                b"load order (its modules.dep line; modprobe loads it from the right)",
                order.iter().cloned(),
            ),
            None => out.extend_from_slice(
                b"  load order: unknown: linking failed on a dependency cycle\n",
            ),
        }
        list(out, b"used by", self.used_by.iter().cloned());
        list(out, b"aliases", self.aliases.iter().cloned());
        list(out, b"softdeps", self.softdeps.iter().cloned());
        list(out, b"weakdeps", self.weakdeps.iter().cloned());
        list(
            out,
            b"cycles",
            self.cycles.iter().map(|c| c.join(&b" -> "[..])),
        );
        let label = if kernel_known || self.unresolved.is_empty() {
            b"unresolved symbols".to_vec()
        } else {
            msg!(
                b"unresolved symbols (",
                self.unresolved.len().to_string(),
                b", exported by no module; without -E or -F the kernel's are not known)"
            )
        };
        list(
            out,
            &label,
            self.unresolved.iter().map(|(s, weak)| {
                if *weak {
                    msg!(s, b" (weak)")
                } else {
                    s.clone()
                }
            }),
        );
    }

    /// One JSON object, on one line.
    fn json(&self) -> String {
        let mut s = String::from("{\"module\":");
        json_string(&mut s, &self.module);
        s.push_str(",\"path\":");
        opt(&mut s, self.path.as_deref());
        s.push_str(",\"chosen_by\":");
        match &self.chosen_by {
            Some(r) => {
                s.push('{');
                reason_fields(&mut s, r);
                s.push('}');
            }
            None => s.push_str("null"),
        }
        s.push_str(",\"shadowed\":[");
        for (n, sh) in self.shadowed.iter().enumerate() {
            s.push_str(if n == 0 { "{\"path\":" } else { ",{\"path\":" });
            json_string(&mut s, &sh.path);
            s.push_str(",\"lost_to\":");
            json_string(&mut s, &sh.lost_to);
            s.push(',');
            reason_fields(&mut s, &sh.reason);
            s.push('}');
        }
        s.push_str("],\"dependencies\":[");
        for (n, d) in self.dependencies.iter().enumerate() {
            s.push_str(if n == 0 {
                "{\"module\":"
            } else {
                ",{\"module\":"
            });
            json_string(&mut s, &d.module);
            s.push_str(",\"path\":");
            json_string(&mut s, &d.path);
            s.push_str(",\"symbols\":");
            array(&mut s, &d.symbols);
            s.push('}');
        }
        s.push_str("],\"load_order\":");
        match &self.load_order {
            Some(l) => array(&mut s, l),
            None => s.push_str("null"),
        }
        for (key, v) in [
            ("used_by", &self.used_by),
            ("aliases", &self.aliases),
            ("softdeps", &self.softdeps),
            ("weakdeps", &self.weakdeps),
        ] {
            s.push_str(&format!(",\"{key}\":"));
            array(&mut s, v);
        }
        s.push_str(",\"cycles\":[");
        for (n, c) in self.cycles.iter().enumerate() {
            if n > 0 {
                s.push(',');
            }
            array(&mut s, c);
        }
        s.push_str("],\"unresolved\":[");
        for (n, (sym, weak)) in self.unresolved.iter().enumerate() {
            s.push_str(if n == 0 {
                "{\"symbol\":"
            } else {
                ",{\"symbol\":"
            });
            json_string(&mut s, sym);
            s.push_str(&format!(",\"weak\":{weak}}}"));
        }
        s.push_str(&format!("],\"builtin\":{}}}\n", self.builtin));
        s
    }
}

/// A JSON string, or `null`.
fn opt(s: &mut String, v: Option<&[u8]>) {
    match v {
        Some(v) => json_string(s, v),
        None => s.push_str("null"),
    }
}

/// A JSON array of strings.
fn array(s: &mut String, items: &[Vec<u8>]) {
    s.push('[');
    for (n, item) in items.iter().enumerate() {
        if n > 0 {
            s.push(',');
        }
        json_string(s, item);
    }
    s.push(']');
}

/// `"rule":…,"text":…` and, when known, `"entry"`, `"file"`, `"line"`.
fn reason_fields(s: &mut String, r: &Reason) {
    s.push_str("\"rule\":");
    json_string(s, r.rule.as_bytes());
    s.push_str(",\"text\":");
    json_string(s, &r.text);
    if let Some(e) = &r.entry {
        s.push_str(",\"entry\":");
        json_string(s, e);
    }
    if let Some(o) = &r.origin {
        s.push_str(",\"file\":");
        json_string(s, &o.file);
        s.push_str(&format!(",\"line\":{}", o.line));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cycles_are_shortest_per_edge() {
        // 0 -> 1 -> 2 -> 0, 0 -> 2, 3 -> 0 (3 is not in a cycle), 4 -> 4.
        let deps = vec![vec![1, 2], vec![2], vec![0], vec![0], vec![4]];
        assert_eq!(
            cycles_through(&deps, 0),
            vec![vec![0, 1, 2, 0], vec![0, 2, 0]]
        );
        assert_eq!(cycles_through(&deps, 1), vec![vec![1, 2, 0, 1]]);
        assert!(cycles_through(&deps, 3).is_empty());
        assert_eq!(cycles_through(&deps, 4), vec![vec![4, 4]]);
    }

    #[test]
    fn names_are_normalized() {
        assert_eq!(normalized(b"snd-hda-intel"), b"snd_hda_intel");
    }
}
