//! `--diagnostics`: the messages of a run as JSON Lines or as a summary, for programs and for
//! builds that log tens of thousands of "needs unknown symbol" lines.
//!
//! Every message depmod prints has a stable `kind`, told from its text (kmod's words are
//! fixed): [`KINDS`] lists them, and the man page documents each one.

use crate::diag::{Diag, Level};

/// Every kind, with what it means (the man page lists the same).
pub const KINDS: &[(&str, &str)] = &[
    (
        "unknown-symbol",
        "a module needs a symbol nothing provides (-e)",
    ),
    (
        "version-mismatch",
        "a module's CRC for a symbol differs from the provider's (-e -E)",
    ),
    ("cycle", "modules that depend on each other in a cycle"),
    ("cycle-count", "how many modules are in dependency cycles"),
    ("duplicate", "a duplicate index entry (-w)"),
    (
        "unreadable-module",
        "a module file that could not be read or parsed",
    ),
    (
        "missing-input",
        "a file of the module directory that could not be opened",
    ),
    ("invalid-input", "a malformed line of a text input"),
    ("invalid-alias", "an alias with an unmatched bracket"),
    ("devname", "a module with an incomplete devname"),
    (
        "walk",
        "an entry of the module directory that could not be read or is not a file",
    ),
    (
        "module-list",
        "a module named on the command line that cannot be indexed",
    ),
    (
        "bad-argument",
        "an unusable command-line argument or version",
    ),
    ("cache", "the scan cache could not be used or written"),
    (
        "output",
        "an output file that could not be written or replaced",
    ),
    (
        "too-large",
        "an input or index beyond the sizes depmod accepts",
    ),
    (
        "usage",
        "a command-line error reported by the option parser",
    ),
    ("info", "a NOTICE, INFO or DEBUG message of -v, -vv, -vvv"),
    ("other", "a message of no other kind"),
];

/// What a message is about: its kind, and the module and symbol or file it names.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Classified<'a> {
    /// One of [`KINDS`].
    pub kind: &'static str,
    /// The module's path, when the message names one.
    pub module: Option<&'a [u8]>,
    /// The symbol, when the message is about one.
    pub symbol: Option<&'a [u8]>,
    /// The file, when the message is about an input or output file.
    pub file: Option<&'a [u8]>,
}

/// The part of `text` before `sep`, and after it (without the trailing newline).
fn split<'a>(text: &'a [u8], sep: &[u8]) -> Option<(&'a [u8], &'a [u8])> {
    let at = memchr::memmem::find(text, sep)?;
    let rest = &text[at + sep.len()..];
    Some((&text[..at], rest.strip_suffix(b"\n").unwrap_or(rest)))
}

/// The kind of one message and what it names.
pub fn classify(d: &Diag) -> Classified<'_> {
    let t = &d.text[..];
    let mut c = Classified {
        kind: "other",
        module: None,
        symbol: None,
        file: None,
    };
    let Some(level) = d.level else {
        c.kind = "usage";
        return c;
    };
    if let Some((m, s)) = split(t, b" needs unknown symbol ") {
        (c.kind, c.module, c.symbol) = ("unknown-symbol", Some(m), Some(s));
    } else if let Some((m, s)) = split(t, b" disagrees about version of symbol ") {
        (c.kind, c.module, c.symbol) = ("version-mismatch", Some(m), Some(s));
    } else if t.starts_with(b"Cycle detected: ") {
        c.kind = "cycle";
    } else if t.starts_with(b"Found ") && t.ends_with(b" modules in dependency cycles!\n") {
        c.kind = "cycle-count";
    } else if t.starts_with(b"duplicate module ") {
        c.kind = "duplicate";
    } else if let Some((_, m)) = split(t, b"failed to load symbols from ") {
        c.kind = "unreadable-module";
        c.module = before_last_colon(m);
    } else if starts_with_any(t, &[b"xz: ", b"zstd: ", b"gzip: "]) {
        c.kind = "unreadable-module";
    } else if let Some((_, f)) = split(t, b"could not open directory ")
        .or_else(|| split(t, b"could not open "))
        .filter(|_| level == Level::Warning)
    {
        c.kind = "missing-input";
        c.file = before_last_colon(f);
    } else if contains(t, b": invalid line: ")
        || contains(t, b" corrupted line misses ")
        || contains(t, b" Invalid symbol version ")
        || t.starts_with(b"Invalid modules.builtin line: ")
    {
        c.kind = "invalid-input";
        c.file = t.split(|&b| b == b':').next();
    } else if t.starts_with(b"Unmatched bracket in ") {
        c.kind = "invalid-alias";
    } else if t.starts_with(b"Module '") && contains(t, b"' has devname (") {
        c.kind = "devname";
    } else if starts_with_any(t, WALK)
        // The walk's openat errors; publishing's (`openat(DIR, TMP, 301, 644)`) are `output`.
        || t.starts_with(b"openat(") && level == Level::Error && !contains(t, b", 301, 644)")
    {
        c.kind = "walk";
    } else if starts_with_any(t, MODULE_LIST) || t.ends_with(b": not absolute path.\n") {
        c.kind = "module-list";
    } else if starts_with_any(t, BAD_ARGUMENT) {
        c.kind = "bad-argument";
    } else if contains(t, b"cache") && starts_with_any(t, CACHE) {
        c.kind = "cache";
    } else if contains(t, b"File too large") {
        c.kind = "too-large";
    } else if starts_with_any(t, OUTPUT) {
        c.kind = "output";
    } else if level > Level::Warning {
        c.kind = "info";
    }
    c
}

/// How the messages of each kind begin (kinds told by their text's start alone).
const WALK: &[&[u8]] = &[
    b"unsupported file type ",
    b"fstatat(",
    b"readdir(",
    b"fdopendir(",
    b"Cannot stat directory entry",
    b"could not search modules: ",
    b"path is too long ",
    b"directory path is too long ",
    b"could not fstatat(",
    b"could not open directory ",
    b"failed ",
];
const MODULE_LIST: &[&[u8]] = &[
    b"could not create module ",
    b"could not add module ",
    b"hash_add_unique ",
    b"kmod_module '",
    b"could not build module array: ",
];
const BAD_ARGUMENT: &[&[u8]] = &[
    b"Bad version passed ",
    b"Bad directory ",
    b"-e needs -E or -F",
    b"-P only takes",
    b"-j needs",
    b"--diagnostics takes",
    b"--kernels needs",
    b"--explain: ",
    b"could not load ",
];
const CACHE: &[&[u8]] = &[
    b"could not read cache ",
    b"ignoring damaged cache ",
    b"could not remove cache ",
    b"could not write ",
    b"could not replace ",
];
const OUTPUT: &[&[u8]] = &[
    b"Could not create index ",
    b"Could not write index ",
    b"could not write index ",
    b"openat(",
    b"renameat(",
    b"could not create directory ",
    b"could not restore ",
    b"could not write ",
    b"could not replace ",
];

fn starts_with_any(text: &[u8], prefixes: &[&[u8]]) -> bool {
    prefixes.iter().any(|p| text.starts_with(p))
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    memchr::memmem::find(hay, needle).is_some()
}

/// The part of a message before its last `: ` (the path before an error text).
fn before_last_colon(text: &[u8]) -> Option<&[u8]> {
    memchr::memmem::rfind(text, b": ").map(|at| &text[..at])
}

/// `s` as a JSON string (bytes that are not UTF-8 as `\u00XX` of their Latin-1 value, so
/// that every line parses).
pub(crate) fn json_string(out: &mut String, s: &[u8]) {
    out.push('"');
    for chunk in s.utf8_chunks() {
        for ch in chunk.valid().chars() {
            match ch {
                '"' => out.push_str("\\\""),
                '\\' => out.push_str("\\\\"),
                '\n' => out.push_str("\\n"),
                '\t' => out.push_str("\\t"),
                c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
                c => out.push(c),
            }
        }
        for &b in chunk.invalid() {
            out.push_str(&format!("\\u{:04x}", b));
        }
    }
    out.push('"');
}

/// One JSON object (one line) for a message: `level`, `kind`, `module`, `symbol`, `file`
/// (those that apply) and `text`, the line text mode prints (without its newline).
pub fn json_line(d: &Diag, prog: &[u8]) -> Vec<u8> {
    let c = classify(d);
    let mut s = String::from("{\"level\":");
    let level = d.level.map_or("usage", |l| l.word());
    json_string(&mut s, level.to_ascii_lowercase().as_bytes());
    s.push_str(",\"kind\":");
    json_string(&mut s, c.kind.as_bytes());
    for (key, v) in [("module", c.module), ("symbol", c.symbol), ("file", c.file)] {
        if let Some(v) = v {
            s.push_str(&format!(",\"{key}\":"));
            json_string(&mut s, v);
        }
    }
    s.push_str(",\"text\":");
    let line = d.render(prog);
    json_string(&mut s, line.strip_suffix(b"\n").unwrap_or(&line));
    s.push_str("}\n");
    s.into_bytes()
}

/// How many instances of each kind the summary shows.
const SHOWN: usize = 3;
/// How many symbols and modules it lists as most frequent.
const TOP: usize = 5;

/// A summary of the messages: each kind once with its count and first instances, then the
/// most frequent symbols and modules. A screenful whatever the number of messages.
pub fn summary(diags: &[Diag], prog: &[u8]) -> Vec<u8> {
    use std::collections::HashMap;
    let mut kinds: Vec<(&str, usize, Vec<&Diag>)> = Vec::new();
    let mut symbols: HashMap<&[u8], usize> = HashMap::new();
    let mut modules: HashMap<&[u8], usize> = HashMap::new();
    for d in diags {
        let c = classify(d);
        match kinds.iter_mut().find(|k| k.0 == c.kind) {
            Some(k) => {
                k.1 += 1;
                if k.2.len() < SHOWN {
                    k.2.push(d);
                }
            }
            None => kinds.push((c.kind, 1, vec![d])),
        }
        if let Some(s) = c.symbol {
            *symbols.entry(s).or_default() += 1;
        }
        if let Some(m) = c.module {
            *modules.entry(m).or_default() += 1;
        }
    }
    let mut out = Vec::new();
    if diags.is_empty() {
        return out;
    }
    out.extend_from_slice(prog);
    out.extend_from_slice(format!(": {} messages\n", diags.len()).as_bytes());
    for (kind, n, first) in &kinds {
        out.extend_from_slice(format!("{kind}: {n}\n").as_bytes());
        for d in first {
            out.extend_from_slice(b"    ");
            let line = d.render(prog);
            let line = line.strip_suffix(b"\n").unwrap_or(&line);
            // One line each: a message that spans lines shows its first.
            let first_line = line.split(|&b| b == b'\n').next().unwrap_or(line);
            out.extend_from_slice(&first_line[..first_line.len().min(200)]);
            out.push(b'\n');
        }
        if *n > first.len() {
            out.extend_from_slice(format!("    … and {} more\n", n - first.len()).as_bytes());
        }
    }
    for (what, counts) in [("symbols", symbols), ("modules", modules)] {
        if counts.is_empty() {
            continue;
        }
        let mut v: Vec<(&[u8], usize)> = counts.into_iter().collect();
        v.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
        out.extend_from_slice(format!("most frequent {what}:").as_bytes());
        for (name, n) in v.iter().take(TOP) {
            out.push(b' ');
            out.extend_from_slice(name);
            out.extend_from_slice(format!(" ({n})").as_bytes());
        }
        out.push(b'\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(level: Level, text: &str) -> Diag {
        Diag {
            level: Some(level),
            text: text.as_bytes().to_vec(),
        }
    }

    #[test]
    fn kinds_and_fields() {
        let u = d(Level::Warning, "/m/a.ko needs unknown symbol foo\n");
        let c = classify(&u);
        assert_eq!(c.kind, "unknown-symbol");
        assert_eq!(c.module, Some(&b"/m/a.ko"[..]));
        assert_eq!(c.symbol, Some(&b"foo"[..]));
        let f = d(
            Level::Error,
            "failed to load symbols from /m/b.ko: Exec format error\n",
        );
        assert_eq!(classify(&f).kind, "unreadable-module");
        assert_eq!(classify(&f).module, Some(&b"/m/b.ko"[..]));
        let o = d(
            Level::Warning,
            "could not open modules.order at /m: No such file or directory\n",
        );
        assert_eq!(classify(&o).kind, "missing-input");
        assert_eq!(
            classify(&d(Level::Info, "cache: reused 1 of 1\n")).kind,
            "info"
        );
        for (kind, _) in KINDS {
            assert!(!kind.is_empty());
        }
    }

    #[test]
    fn json_lines_escape_everything() {
        let x = d(
            Level::Warning,
            "/m/\"q\"\\\x01\u{e9} needs unknown symbol s\n",
        );
        let line = String::from_utf8(json_line(&x, b"depmod")).unwrap();
        assert!(
            line.ends_with("}\n") && line.matches('\n').count() == 1,
            "{line}"
        );
        assert!(line.contains("\\\"q\\\"\\\\\\u0001\u{e9}"), "{line}");
        let raw = Diag {
            level: Some(Level::Error),
            text: b"bad \xff byte\n".to_vec(),
        };
        let line = String::from_utf8(json_line(&raw, b"depmod")).unwrap();
        assert!(line.contains("bad \\u00ff byte"), "{line}");
    }

    #[test]
    fn summary_is_short_whatever_the_count() {
        let diags: Vec<Diag> = (0..100_000)
            .map(|i| {
                d(
                    Level::Warning,
                    &format!("/m/m{}.ko needs unknown symbol s{}\n", i % 50, i % 7),
                )
            })
            .collect();
        let s = summary(&diags, b"depmod");
        let lines = String::from_utf8(s).unwrap();
        assert!(lines.lines().count() <= 24, "{lines}");
        assert!(lines.contains("unknown-symbol: 100000"), "{lines}");
    }
}
