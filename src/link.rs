//! Linking: kernel symbols, symbol providers, direct dependencies, kmod's LIFO topological
//! ranks, the dependency lists of modules.dep, and the cycle report.

use crate::diag::{Fatal, Log};
use crate::discover::Candidate;
use crate::hash::{SYMBOL_BUCKETS, hash_order_indices};
pub use crate::inputs::KernelSymbol;
use crate::msg;
use crate::scan::ElfFacts;
use rayon::prelude::*;
use rustc_hash::FxHashMap as HashMap;

/// Remove one leading byte equal to the symbol prefix.
pub fn strip_prefix(name: &[u8], prefix: Option<u8>) -> &[u8] {
    match (prefix, name.first()) {
        (Some(p), Some(&b)) if p == b => &name[1..],
        _ => name,
    }
}

/// What linking needs to know from the command line.
#[derive(Clone, Debug, Default)]
pub struct LinkOptions {
    /// Kernel symbols, when `-E` or `-F` was given.
    pub kernel: Option<Vec<KernelSymbol>>,
    /// `-E` was given: compare CRCs.
    pub check_crcs: bool,
    /// `-e` (already turned off when no kernel symbols).
    pub errsyms: bool,
    /// `-P`
    pub prefix: Option<u8>,
    /// `-v` given: print each new edge on stdout.
    pub verbose: bool,
    /// `-j`: the threads imports are resolved on (default: one per core).
    pub jobs: Option<usize>,
}

/// The linked module set.
#[derive(Clone, Debug, Default)]
pub struct Graph {
    /// Direct dependencies of each module, in discovery order.
    pub deps: Vec<Vec<usize>>,
    /// For each entry of `deps`, how many of the module's imports that dependency provides.
    pub dep_symbols: Vec<Vec<u32>>,
    /// The modules.dep list of each module: its transitive dependencies by rank.
    pub closure: Vec<Vec<usize>>,
    /// Module-owned symbols in kmod's symbol-table order: (name, provider index).
    pub symbols: Vec<(Vec<u8>, usize)>,
    /// The modules depend on each other in a cycle (reported): `deps` and `dep_symbols` are
    /// complete, `closure` and `symbols` empty.
    pub cyclic: bool,
}

/// A symbol of the table linking resolves imports against.
#[derive(Clone, Copy, Debug)]
pub struct SymEntry {
    /// The module that provides it (the last one in the module array that exports it), or
    /// `None` for a kernel symbol (`-E`, `-F`).
    pub owner: Option<usize>,
    /// Its CRC.
    pub crc: u64,
}

/// The symbol table: the kernel's symbols (`-E`, `-F`), then every module's exports, a later
/// module's export replacing an earlier one's.
pub fn symbol_table<'a>(
    facts: &[Option<&'a ElfFacts>],
    opts: &'a LinkOptions,
) -> HashMap<&'a [u8], SymEntry> {
    let mut table: HashMap<&[u8], SymEntry> = HashMap::default();
    if let Some(kernel) = &opts.kernel {
        for s in kernel {
            table.insert(
                &s.name,
                SymEntry {
                    owner: None,
                    crc: s.crc,
                },
            );
        }
        for fake in [&b"__this_module"[..], b"_GLOBAL_OFFSET_TABLE_", b"TOC."] {
            table.entry(fake).or_insert(SymEntry {
                owner: None,
                crc: 0,
            });
        }
    }
    for (i, f) in facts.iter().enumerate() {
        if let Some(f) = f
            && let Ok(exports) = &f.exports
        {
            for e in exports {
                table.insert(
                    strip_prefix(f.str(e.name), opts.prefix),
                    SymEntry {
                        owner: Some(i),
                        crc: e.crc,
                    },
                );
            }
        }
    }
    table
}

/// The name an import is looked up by: without a leading `.` and the symbol prefix.
pub fn import_key(raw: &[u8], prefix: Option<u8>) -> &[u8] {
    strip_prefix(raw.strip_prefix(b".").unwrap_or(raw), prefix)
}

/// Link the module array. `facts[i]` is `None` for a module that could not be read.
/// `stdout` receives the `-v` lines. A dependency cycle is reported and ends the run.
pub fn link(
    modules: &[Candidate],
    facts: &[Option<&ElfFacts>],
    opts: &LinkOptions,
    log: &mut Log,
    stdout: &mut Vec<u8>,
) -> Result<Graph, Fatal> {
    link_graph(modules, facts, opts, log, stdout).checked()
}

impl Graph {
    /// The graph, or the silent failure of a run whose modules depend on each other in a
    /// cycle (already reported).
    pub fn checked(self) -> Result<Graph, Fatal> {
        if self.cyclic {
            Err(Fatal::silent())
        } else {
            Ok(self)
        }
    }
}

/// [`link`], returning the direct dependencies even when there is a cycle (reported, and
/// marked [`Graph::cyclic`]), so that `--explain` can still tell what it knows.
pub fn link_graph(
    modules: &[Candidate],
    facts: &[Option<&ElfFacts>],
    opts: &LinkOptions,
    log: &mut Log,
    stdout: &mut Vec<u8>,
) -> Graph {
    let n = modules.len();
    let table = symbol_table(facts, opts);
    // Each module's imports are resolved on their own (in parallel), then the results are
    // gathered in the module order, messages included.
    let resolve = || -> Vec<Resolved> {
        facts
            .par_iter()
            .enumerate()
            .map(|(i, f)| match f {
                Some(f) => resolve_imports(modules, i, f, &table, opts, log.fork()),
                None => Resolved::default(),
            })
            .collect()
    };
    let resolved = crate::scan::on_threads(opts.jobs, n, resolve);
    let mut deps: Vec<Vec<usize>> = Vec::with_capacity(n);
    let mut dep_symbols: Vec<Vec<u32>> = Vec::with_capacity(n);
    let mut users = vec![0usize; n];
    for r in resolved {
        for &d in &r.deps {
            users[d] += 1;
        }
        deps.push(r.deps);
        dep_symbols.push(r.counts);
        log.append(r.log);
        stdout.extend_from_slice(&r.stdout);
    }
    let ranks = match topo_ranks(&deps, &users) {
        Ok(r) => r,
        Err(remaining) => {
            report_cycles(modules, &deps, &remaining, log);
            return Graph {
                deps,
                dep_symbols,
                cyclic: true,
                ..Graph::default()
            };
        }
    };
    let closure = closures(&deps, &ranks);
    let mut owned: Vec<(&[u8], usize)> = table
        .iter()
        .filter_map(|(k, v)| v.owner.map(|o| (*k, o)))
        .collect();
    let keys: Vec<&[u8]> = owned.iter().map(|(k, _)| *k).collect();
    let order = hash_order_indices(&keys, SYMBOL_BUCKETS);
    let symbols = order
        .iter()
        .map(|&i| (owned[i].0.to_vec(), owned[i].1))
        .collect();
    owned.clear();
    Graph {
        deps,
        dep_symbols,
        closure,
        symbols,
        cyclic: false,
    }
}

/// What resolving one module's imports yields.
#[derive(Default)]
struct Resolved {
    /// The modules it depends on, in the order of its first import of each.
    deps: Vec<usize>,
    /// How many of its imports each of `deps` provides.
    counts: Vec<u32>,
    /// Its warnings (`-e`).
    log: Log,
    /// Its `-v` lines.
    stdout: Vec<u8>,
}

/// Resolve the imports of module `i` against the symbol table.
fn resolve_imports(
    modules: &[Candidate],
    i: usize,
    f: &ElfFacts,
    table: &HashMap<&[u8], SymEntry>,
    opts: &LinkOptions,
    mut log: Log,
) -> Resolved {
    let mut deps: Vec<usize> = Vec::new();
    let mut counts: Vec<u32> = Vec::new();
    let mut stdout = Vec::new();
    for imp in &f.imports {
        let raw = f.str(imp.name);
        let name = import_key(raw, opts.prefix);
        let Some(sym) = table.get(name) else {
            if opts.errsyms && !imp.weak {
                log.warning(msg!(modules[i].path, b" needs unknown symbol ", raw, b"\n"));
            }
            continue;
        };
        if opts.check_crcs && !imp.weak && sym.crc != imp.crc && opts.errsyms {
            log.warning(msg!(
                modules[i].path,
                b" disagrees about version of symbol ",
                raw,
                b"\n"
            ));
        }
        let Some(owner) = sym.owner else { continue };
        if let Some(k) = deps.iter().position(|&d| d == owner) {
            counts[k] += 1;
        } else {
            deps.push(owner);
            counts.push(1);
            if opts.verbose {
                stdout.extend_from_slice(&msg!(
                    modules[i].path,
                    b" needs \"",
                    name,
                    b"\": ",
                    modules[owner].path,
                    b"\n"
                ));
            }
        }
    }
    Resolved {
        deps,
        counts,
        log,
        stdout,
    }
}

/// kmod's Kahn sort with a LIFO stack: the rank of each module, or the users count
/// left for each module when there is a cycle.
fn topo_ranks(deps: &[Vec<usize>], users: &[usize]) -> Result<Vec<usize>, Vec<usize>> {
    let n = deps.len();
    let mut users = users.to_vec();
    let mut stack: Vec<usize> = (0..n).filter(|&i| users[i] == 0).collect();
    let mut rank = vec![usize::MAX; n];
    let mut k = 0;
    while let Some(i) = stack.pop() {
        rank[i] = k;
        k += 1;
        for &d in &deps[i] {
            users[d] -= 1;
            if users[d] == 0 {
                stack.push(d);
            }
        }
    }
    if k < n { Err(users) } else { Ok(rank) }
}

/// The modules.dep list of every module: its transitive dependencies sorted by rank.
fn closures(deps: &[Vec<usize>], ranks: &[usize]) -> Vec<Vec<usize>> {
    let n = deps.len();
    let mut seen = vec![usize::MAX; n];
    let mut out = Vec::with_capacity(n);
    let mut stack: Vec<usize> = Vec::new();
    for m in 0..n {
        let mut list = Vec::new();
        stack.clear();
        stack.extend(deps[m].iter().rev());
        while let Some(d) = stack.pop() {
            if seen[d] == m {
                continue;
            }
            seen[d] = m;
            list.push(d);
            stack.extend(deps[d].iter().rev());
        }
        list.sort_unstable_by_key(|&d| ranks[d]);
        out.push(list);
    }
    out
}

/// Remove `m` from kmod's circular roots list: the element after it becomes the head.
fn remove_root(roots: &mut Vec<usize>, m: usize) {
    if let Some(p) = roots.iter().position(|&r| r == m) {
        let mut next = roots.split_off(p + 1);
        roots.truncate(p);
        next.append(roots);
        *roots = next;
    }
}

/// The most DFS steps the cycle report takes: kmod's walk re-expands shared modules, which
/// on hostile graphs grows without bound.
const CYCLE_STEP_LIMIT: usize = 10_000_000;

/// kmod's cycle report, not re-entering a cycle that does not contain the root, where
/// kmod's walk would never end (a difference from kmod, see depmod(8)).
fn report_cycles(modules: &[Candidate], deps: &[Vec<usize>], users: &[usize], log: &mut Log) {
    let n = deps.len();
    let mut roots: Vec<usize> = (0..n).filter(|&i| users[i] > 0).collect();
    let mut visited = vec![false; n];
    let mut in_cycles = vec![false; n];
    let mut steps = 0usize;
    // Vertices of the walk: (module, parent vertex).
    let mut vertices: Vec<(usize, Option<usize>)> = Vec::new();
    'roots: while !roots.is_empty() {
        let root = roots.remove(0);
        vertices.clear();
        vertices.push((root, None));
        let mut stack = vec![0usize];
        while let Some(v) = stack.pop() {
            steps += 1;
            if steps > CYCLE_STEP_LIMIT {
                break 'roots;
            }
            let (m, parent) = vertices[v];
            if visited[m] && m == root {
                let mut chain = Vec::new();
                let mut p = parent;
                while let Some(pv) = p {
                    chain.push(vertices[pv].0);
                    p = vertices[pv].1;
                }
                chain.reverse();
                let mut text = b"Cycle detected: ".to_vec();
                for &c in &chain {
                    text.extend_from_slice(&modules[c].name);
                    text.extend_from_slice(b" -> ");
                }
                text.extend_from_slice(&modules[root].name);
                text.push(b'\n');
                log.error(text);
                for &c in &chain {
                    in_cycles[c] = true;
                    remove_root(&mut roots, c);
                }
                continue;
            }
            if m != root && on_chain(&vertices, parent, m) {
                // kmod would walk this cycle forever; we leave it and go on, so the
                // report also names the cycles kmod never reaches (a difference from kmod,
                // see depmod(8)).
                continue;
            }
            visited[m] = true;
            if deps[m].is_empty() {
                remove_root(&mut roots, m);
                continue;
            }
            for &d in &deps[m] {
                vertices.push((d, Some(v)));
                stack.push(vertices.len() - 1);
            }
        }
    }
    let count = in_cycles.iter().filter(|&&c| c).count();
    log.error(msg!(
        b"Found ",
        count.to_string(),
        b" modules in dependency cycles!\n"
    ));
}

fn on_chain(vertices: &[(usize, Option<usize>)], mut p: Option<usize>, m: usize) -> bool {
    while let Some(pv) = p {
        if vertices[pv].0 == m {
            return true;
        }
        p = vertices[pv].1;
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn circular_removal() {
        let mut r = vec![1, 2, 3, 4];
        remove_root(&mut r, 3);
        assert_eq!(r, vec![4, 1, 2]);
        remove_root(&mut r, 4);
        assert_eq!(r, vec![1, 2]);
        remove_root(&mut r, 9);
        assert_eq!(r, vec![1, 2]);
    }

    #[test]
    fn lifo_ranks() {
        // 0 -> 1, 0 -> 2, 2 -> 1
        let deps = vec![vec![1, 2], vec![], vec![1]];
        let users = vec![0, 2, 1];
        let r = topo_ranks(&deps, &users).unwrap();
        assert_eq!(r, vec![0, 2, 1]);
        let c = closures(&deps, &r);
        assert_eq!(c[0], vec![2, 1]);
    }
}
