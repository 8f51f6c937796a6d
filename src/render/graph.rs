//! `--graph`: the dependency graph in Graphviz DOT. A node per module (its name, the file
//! relative to the module directory as its tooltip), an edge per direct dependency labelled
//! with the number of symbols the module takes from it.

use crate::discover::Candidate;
use crate::link::Graph;

/// `s` as a DOT quoted string.
fn quoted(out: &mut Vec<u8>, s: &[u8]) {
    out.push(b'"');
    for &b in s {
        match b {
            b'"' | b'\\' => out.extend_from_slice(&[b'\\', b]),
            b'\n' => out.extend_from_slice(b"\\n"),
            _ => out.push(b),
        }
    }
    out.push(b'"');
}

/// The graph of `modules` in DOT, nodes in the module array's order.
pub fn dot(modules: &[Candidate], graph: &Graph, dirname: &[u8]) -> Vec<u8> {
    let mut out = b"digraph modules {\n\tnode [shape=box];\n".to_vec();
    for m in modules {
        out.push(b'\t');
        quoted(&mut out, &m.name);
        out.extend_from_slice(b" [tooltip=");
        let rel = m
            .path
            .strip_prefix(dirname)
            .and_then(|p| p.strip_prefix(b"/"))
            .unwrap_or(&m.path);
        quoted(&mut out, rel);
        out.extend_from_slice(b"];\n");
    }
    for (i, deps) in graph.deps.iter().enumerate() {
        for (k, &d) in deps.iter().enumerate() {
            out.push(b'\t');
            quoted(&mut out, &modules[i].name);
            out.extend_from_slice(b" -> ");
            quoted(&mut out, &modules[d].name);
            let n = graph.dep_symbols[i].get(k).copied().unwrap_or(0);
            out.extend_from_slice(format!(" [label=\"{n}\"];\n").as_bytes());
        }
    }
    out.extend_from_slice(b"}\n");
    out
}
