//! Rendering: one table of the eleven output files, each turned from the linked modules and
//! the builtin files (read beforehand) into bytes. No I/O.

pub mod alias;
pub mod graph;

use crate::cstd::Partial;
use crate::cstd::{c_str, fgets_lines, scan_u32};
use crate::diag::{Fatal, Log, strerror};
use crate::discover::{Candidate, modname};
use crate::inputs::{Builtin, BuiltinFile};
use crate::link::Graph;
use crate::scan::ElfFacts;
use crate::{msg, put};
use alias::normalize_alias_into;
use kmod_index::IndexBuilder;
use rayon::prelude::*;

/// What every renderer reads.
pub struct Linked<'a> {
    /// The module array.
    pub modules: &'a [Candidate],
    /// Each module's facts (`None` for a module that could not be read).
    pub facts: &'a [Option<&'a ElfFacts>],
    /// The dependency graph.
    pub graph: &'a Graph,
    /// The input module directory (named in messages about the builtin files).
    pub dirname: &'a [u8],
    /// modules.builtin and modules.builtin.modinfo as read (only the indexes need them).
    pub builtin: &'a Builtin,
    /// `-w`
    pub warn: bool,
}

/// Whether an output is text (printed by `-n`) or a binary index.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// Printed on stdout by `-n`.
    Text,
    /// Only written to disk.
    Index,
}

type Render = fn(&Linked, &mut Log) -> Result<Vec<u8>, Fatal>;

/// The outputs, in kmod's writing order.
pub const OUTPUTS: &[(&str, Kind, Render)] = &[
    ("modules.dep", Kind::Text, dep),
    ("modules.dep.bin", Kind::Index, dep_bin),
    ("modules.alias", Kind::Text, alias),
    ("modules.alias.bin", Kind::Index, alias_bin),
    ("modules.softdep", Kind::Text, softdep),
    ("modules.weakdep", Kind::Text, weakdep),
    ("modules.symbols", Kind::Text, symbols),
    ("modules.symbols.bin", Kind::Index, symbols_bin),
    ("modules.builtin.bin", Kind::Index, builtin_bin),
    ("modules.builtin.alias.bin", Kind::Index, builtin_alias_bin),
    ("modules.devname", Kind::Text, devname),
];

/// Every output of [`OUTPUTS`], in order: (file name, bytes).
pub fn render_all(
    l: &Linked,
    jobs: Option<usize>,
    log: &mut Log,
) -> Result<Vec<(&'static str, Vec<u8>)>, Fatal> {
    // The outputs are independent: rendered in parallel, each with its own messages, which
    // are then kept in the outputs' order up to the first that fails, as one after the
    // other would have logged them.
    let base = log.fork();
    let rendered: Vec<_> = crate::scan::on_threads(jobs, OUTPUTS.len(), || {
        OUTPUTS
            .par_iter()
            .map(|(name, _, render)| {
                let mut own = base.fork();
                (*name, render(l, &mut own), own)
            })
            .collect()
    });
    let mut files = Vec::with_capacity(rendered.len());
    for (name, result, own) in rendered {
        log.append(own);
        files.push((name, result?));
    }
    Ok(files)
}

/// Append the text outputs of [`OUTPUTS`] to `out` one after the other, as `-n` prints
/// them: those before an output that fails stay printed.
pub fn text_outputs(l: &Linked, log: &mut Log, out: &mut Vec<u8>) -> Result<(), Fatal> {
    for (_, kind, render) in OUTPUTS {
        if *kind == Kind::Text {
            out.extend_from_slice(&render(l, log)?);
        }
    }
    Ok(())
}

fn facts<'a>(l: &'a Linked, i: usize) -> Option<&'a ElfFacts> {
    l.facts[i]
}

/// Append the modules.dep line of module `i`, without its newline, to `out`.
fn put_dep_line(l: &Linked, i: usize, out: &mut Vec<u8>) {
    out.extend_from_slice(l.modules[i].out_path());
    out.push(b':');
    for &d in &l.graph.closure[i] {
        out.push(b' ');
        out.extend_from_slice(l.modules[d].out_path());
    }
}

fn dep(l: &Linked, _: &mut Log) -> Result<Vec<u8>, Fatal> {
    let mut out = Vec::new();
    for i in 0..l.modules.len() {
        put_dep_line(l, i, &mut out);
        out.push(b'\n');
    }
    Ok(out)
}

/// Insert into an index; `Ok(true)` for a duplicate (for `-w`, reported by the caller right
/// away so that warnings keep kmod's order).
fn insert(idx: &mut IndexBuilder, key: &[u8], value: &[u8], prio: u32) -> Result<bool, Fatal> {
    idx.insert(key, value, prio)
        .map_err(|bad| Fatal::new(msg!(bad.message(), b"\n")))
}

/// The bytes of a finished index, or a fatal error naming it when it is too large for the
/// format's 28-bit offsets.
fn finish(idx: &IndexBuilder, name: &str) -> Result<Vec<u8>, Fatal> {
    finish_limited(idx, name, usize::MAX)
}

/// [`finish`] with a lower limit than the format's (for tests).
fn finish_limited(idx: &IndexBuilder, name: &str, limit: usize) -> Result<Vec<u8>, Fatal> {
    let mut out = Vec::new();
    let written = if limit == usize::MAX {
        idx.write_to(&mut out)
    } else {
        idx.write_limited(&mut out, limit)
    };
    match written {
        Ok(()) => Ok(out),
        Err(e) => Err(Fatal::new(msg!(
            b"could not write index ",
            name,
            b": ",
            strerror(libc::EFBIG),
            b" (",
            e.to_string(),
            b")\n"
        ))),
    }
}

fn dep_bin(l: &Linked, log: &mut Log) -> Result<Vec<u8>, Fatal> {
    let mut idx = IndexBuilder::with_duplicate_check(l.warn);
    let mut line = Vec::new();
    for (i, m) in l.modules.iter().enumerate() {
        line.clear();
        put_dep_line(l, i, &mut line);
        if insert(&mut idx, &m.name, &line, i as u32)? && l.warn {
            log.warning(msg!(b"duplicate module deps:\n", line, b"\n"));
        }
    }
    finish(&idx, "modules.dep.bin")
}

fn alias(l: &Linked, _: &mut Log) -> Result<Vec<u8>, Fatal> {
    let mut out = b"# Aliases extracted from modules themselves.\n".to_vec();
    for (i, m) in l.modules.iter().enumerate() {
        for a in facts(l, i).into_iter().flat_map(|f| f.alias_values()) {
            put!(out, b"alias ", a, b" ", m.name, b"\n");
        }
    }
    Ok(out)
}

fn alias_bin(l: &Linked, log: &mut Log) -> Result<Vec<u8>, Fatal> {
    let mut idx = IndexBuilder::with_duplicate_check(l.warn);
    let mut key = Vec::new();
    for (i, m) in l.modules.iter().enumerate() {
        for a in facts(l, i).into_iter().flat_map(|f| f.alias_values()) {
            if !normalize_alias_into(a, &mut key) {
                log.warning(msg!(b"Unmatched bracket in ", a, b"\n"));
                continue;
            }
            if insert(&mut idx, &key, &m.name, i as u32)? && l.warn {
                log.warning(msg!(b"duplicate module alias:\n", key, b" ", m.name, b"\n"));
            }
        }
    }
    finish(&idx, "modules.alias.bin")
}

fn softdep(l: &Linked, _: &mut Log) -> Result<Vec<u8>, Fatal> {
    let mut out = b"# Soft dependencies extracted from modules themselves.\n".to_vec();
    for (i, m) in l.modules.iter().enumerate() {
        for v in facts(l, i).into_iter().flat_map(|f| f.softdep_values()) {
            put!(out, b"softdep ", m.name, b" ", v, b"\n");
        }
    }
    Ok(out)
}

fn weakdep(l: &Linked, _: &mut Log) -> Result<Vec<u8>, Fatal> {
    let mut out = b"# Weak dependencies extracted from modules themselves.\n".to_vec();
    for (i, m) in l.modules.iter().enumerate() {
        for v in facts(l, i).into_iter().flat_map(|f| f.weakdep_values()) {
            put!(out, b"weakdep ", m.name, b" ", v, b"\n");
        }
    }
    Ok(out)
}

fn symbols(l: &Linked, _: &mut Log) -> Result<Vec<u8>, Fatal> {
    let mut out = b"# Aliases for symbols, used by symbol_request().\n".to_vec();
    for (name, owner) in &l.graph.symbols {
        put!(
            out,
            b"alias symbol:",
            name,
            b" ",
            l.modules[*owner].name,
            b"\n"
        );
    }
    Ok(out)
}

fn symbols_bin(l: &Linked, log: &mut Log) -> Result<Vec<u8>, Fatal> {
    let mut idx = IndexBuilder::with_duplicate_check(l.warn);
    let mut key = b"symbol:".to_vec();
    for (name, owner) in &l.graph.symbols {
        key.truncate(b"symbol:".len());
        key.extend_from_slice(name);
        let modname = &l.modules[*owner].name;
        if insert(&mut idx, &key, modname, *owner as u32)? && l.warn {
            log.warning(msg!(b"duplicate module syms:\n", key, b" ", modname, b"\n"));
        }
    }
    finish(&idx, "modules.symbols.bin")
}

/// A builtin file as read, `None` (after kmod's warning, given when kmod would open it) when
/// it could not be opened. A directory opens, as with `fopen`, and then fails to read
/// (`EISDIR`): the bytes read and that error are returned for the caller to judge.
fn read_builtin<'b>(read: &'b Option<BuiltinFile>, log: &mut Log) -> Option<&'b Partial> {
    match read {
        Some(Ok(read)) => Some(read),
        // Not read: a run that renders no builtin index.
        None => None,
        Some(Err(warning)) => {
            log.warning(warning.clone());
            None
        }
    }
}

fn builtin_bin(l: &Linked, log: &mut Log) -> Result<Vec<u8>, Fatal> {
    // kmod reads modules.builtin with `fgets` until it returns NULL and never asks why: a
    // read error (a directory in its place) ends the file quietly.
    let Some((data, _)) = read_builtin(&l.builtin.modules, log) else {
        return Ok(Vec::new());
    };
    let mut idx = IndexBuilder::with_duplicate_check(false);
    // kmod converts each line into one name buffer, and a piece with an empty base name (it
    // ends with '/': a last line without newline, or the head of a line longer than the
    // buffer) fails to convert and leaves the buffer as it was: the previous name is
    // inserted again. Before any name was converted kmod's buffer holds uninitialised
    // stack bytes; such a piece is skipped here.
    let mut name: Option<Vec<u8>> = None;
    for raw in fgets_lines(data, 4096) {
        let line = c_str(raw);
        if !line.first().is_some_and(|b| b.is_ascii_alphabetic()) {
            log.error(msg!(b"Invalid modules.builtin line: ", line, b"\n"));
            continue;
        }
        if let Some(n) = modname(line) {
            name = Some(n);
        }
        if let Some(n) = &name {
            insert(&mut idx, n, b"", 0)?;
        }
    }
    finish(&idx, "modules.builtin.bin")
}

fn builtin_alias_bin(l: &Linked, log: &mut Log) -> Result<Vec<u8>, Fatal> {
    let Some((data, err)) = read_builtin(&l.builtin.modinfo, log) else {
        return Ok(Vec::new());
    };
    // Unlike modules.builtin, kmod checks this stream for an error: the generator fails with
    // EINVAL, not the read's errno (verified for a directory, whose read gives EISDIR), and
    // the file is not written.
    if err.is_some() {
        return Err(Fatal::error(msg!(
            b"Could not write index 'modules.builtin.alias.bin': ",
            strerror(libc::EINVAL),
            b"\n"
        )));
    }
    let mut idx = IndexBuilder::with_duplicate_check(false);
    let mut key = Vec::new();
    for (module, alias) in builtin_aliases(data) {
        if !normalize_alias_into(alias, &mut key) {
            log.warning(msg!(b"Unmatched bracket in ", alias, b"\n"));
            continue;
        }
        insert(&mut idx, &key, module, 0)?;
    }
    finish(&idx, "modules.builtin.alias.bin")
}

/// The `(raw module name, alias)` records of modules.builtin.modinfo, in file order.
pub fn builtin_aliases(data: &[u8]) -> Vec<(&[u8], &[u8])> {
    let mut out = Vec::new();
    let mut pos = 0;
    while pos < data.len() {
        // The module name runs to the first '.'; a NUL or the end first abandons the record.
        let rest = &data[pos..];
        let Some(stop) = rest.iter().position(|&b| b == b'.' || b == 0) else {
            break;
        };
        if rest[stop] == 0 {
            pos += stop + 1;
            continue;
        }
        let module = &rest[..stop];
        pos += stop + 1;
        if module.is_empty() {
            continue;
        }
        // The key runs to '='.
        let rest = &data[pos..];
        let Some(eq) = rest.iter().position(|&b| b == b'=') else {
            break;
        };
        let key = &rest[..eq];
        pos += eq + 1;
        let rest = &data[pos..];
        let Some(nul) = rest.iter().position(|&b| b == 0) else {
            break;
        };
        let value = &rest[..nul];
        pos += nul + 1;
        if key != b"alias" || value.is_empty() {
            continue;
        }
        out.push((module, value));
    }
    out
}

/// `sscanf(alias, "<prefix>%u-%u") == 2`.
fn major_minor(alias: &[u8], prefix: &[u8]) -> Option<(u32, u32)> {
    let rest = alias.strip_prefix(prefix)?;
    let (major, rest) = scan_u32(rest)?;
    let rest = rest.strip_prefix(b"-")?;
    let (minor, _) = scan_u32(rest)?;
    Some((major, minor))
}

fn devname(l: &Linked, log: &mut Log) -> Result<Vec<u8>, Fatal> {
    let mut out = Vec::new();
    for (i, m) in l.modules.iter().enumerate() {
        let mut dev: Option<&[u8]> = None;
        let mut kind: Option<(u8, u32, u32)> = None;
        for a in facts(l, i).into_iter().flat_map(|f| f.alias_values()) {
            if let Some(name) = a.strip_prefix(b"devname:") {
                dev = Some(name);
            } else if let Some((ma, mi)) = major_minor(a, b"char-major-") {
                kind = Some((b'c', ma, mi));
            } else if let Some((ma, mi)) = major_minor(a, b"block-major-") {
                kind = Some((b'b', ma, mi));
            }
            if dev.is_some() && kind.is_some() {
                break;
            }
        }
        let Some(dev) = dev else { continue };
        match kind {
            Some((t, ma, mi)) => {
                if out.is_empty() {
                    out.extend_from_slice(b"# Device nodes to trigger on-demand module loading.\n");
                }
                put!(
                    out,
                    m.name,
                    b" ",
                    dev,
                    b" ",
                    [t],
                    format!("{ma}:{mi}"),
                    b"\n"
                );
            }
            None => log.error(msg!(
                b"Module '",
                m.name,
                b"' has devname (",
                dev,
                b") but lacks major and minor information. Ignoring.\n"
            )),
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_index_too_large_is_fatal_and_named() {
        let mut idx = IndexBuilder::new();
        idx.insert(b"a", b"x", 0).unwrap();
        idx.insert(b"b", b"y", 0).unwrap();
        assert!(finish(&idx, "modules.alias.bin").is_ok());
        let fatal = finish_limited(&idx, "modules.alias.bin", 20).unwrap_err();
        assert_eq!(fatal.level, Some(crate::diag::Level::Fatal));
        let text = String::from_utf8_lossy(&fatal.text);
        assert!(
            text.starts_with("could not write index modules.alias.bin: File too large ("),
            "{text}"
        );
    }

    #[test]
    fn major_minor_like_sscanf() {
        assert_eq!(
            major_minor(b"char-major-10-229", b"char-major-"),
            Some((10, 229))
        );
        assert_eq!(
            major_minor(b"block-major-3-4x", b"block-major-"),
            Some((3, 4))
        );
        assert_eq!(major_minor(b"char-major-10", b"char-major-"), None);
        assert_eq!(
            major_minor(b"char-major- +1--1", b"char-major-"),
            Some((1, u32::MAX))
        );
        assert_eq!(major_minor(b"char-major-x-1", b"char-major-"), None);
    }

    #[test]
    fn builtin_modinfo_records() {
        let data = b"a.alias=x\0a.license=GPL\0bar-baz.alias=x-y\0nodot\0c.alias=\0d.alias=z";
        let recs = builtin_aliases(data);
        assert_eq!(
            recs,
            vec![(&b"a"[..], &b"x"[..]), (&b"bar-baz"[..], &b"x-y"[..])]
        );
    }
}
