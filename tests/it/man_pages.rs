//! The manual pages in `man/`.
//!
//! * depmod(8)'s OPTIONS section documents exactly the options of `depmod::cli::OPTIONS`
//!   (every short letter, every long name, with the table's argument name), so that an option
//!   added to the table without documentation, or documentation left behind by a removed
//!   option, fails here. The markup rule this relies on is stated at the top of `man/depmod.8`.
//! * Every page renders with groff and with man-db's `man -l` without a warning, and fits 80
//!   columns. Without `groff`/`man` these tests are skipped, except under `CI=true`, where
//!   they fail (Debian packages `groff-base` and `man-db`).

use crate::support::skip::have_tool;
use depmod::cli::{HasArg, OPTIONS, OptSpec};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The pages, relative to the repository root.
const PAGES: &[&str] = &["man/depmod.8", "man/depmod.d.5", "man/modules.dep.5"];

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn read_page(rel: &str) -> String {
    let path = root().join(rel);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

// ---------------------------------------------------------------------------------------------
// (a) options of the table versus the OPTIONS section of depmod(8)

/// One form of an option as written in a `.TP` tag: `-b` with `Some("DIR")`, `--all` with
/// `None`.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct Form {
    name: String,
    arg: Option<String>,
}

/// One `.TP` item of the OPTIONS section: its source line number and its forms.
#[derive(Debug)]
struct Tag {
    line: usize,
    forms: Vec<Form>,
}

/// The text of a roff line without font escapes (`\fB`, `\fI`, `\fR`, `\fP`, `\f(XY`,
/// `\f[..]`) and with `\-` as `-`.
fn plain(line: &str) -> String {
    let mut out = String::new();
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('-') => out.push('-'),
            Some('f') => match chars.next() {
                Some('(') => {
                    chars.next();
                    chars.next();
                }
                Some('[') => {
                    for c in chars.by_ref() {
                        if c == ']' {
                            break;
                        }
                    }
                }
                _ => {}
            },
            Some('e') => out.push('\\'),
            Some(other) => {
                out.push('\\');
                out.push(other);
            }
            None => out.push('\\'),
        }
    }
    out
}

/// Parse a tag line (`\fB\-b\fR \fIDIR\fR, \fB\-\-basedir\fR=\fIDIR\fR`) into its forms.
fn parse_tag(line: &str) -> Result<Vec<Form>, String> {
    if line.starts_with('.') || line.starts_with('\'') {
        return Err(format!(
            "tag line {line:?} is a macro call; the markup rule wants font escapes only"
        ));
    }
    let text = plain(line);
    let mut forms = Vec::new();
    for part in text.split(", ") {
        let part = part.trim();
        let form = if let Some(long) = part.strip_prefix("--") {
            let (name, arg) = match long.split_once('=') {
                Some((n, a)) => (n, Some(a.to_string())),
                None => (long, None),
            };
            if name.is_empty() || name.contains(char::is_whitespace) {
                return Err(format!("bad long form {part:?} in tag {line:?}"));
            }
            Form {
                name: format!("--{name}"),
                arg,
            }
        } else if let Some(short) = part.strip_prefix('-') {
            let mut it = short.chars();
            let Some(letter) = it.next().filter(|c| c.is_ascii_alphanumeric()) else {
                return Err(format!("bad short form {part:?} in tag {line:?}"));
            };
            let rest = it.as_str();
            let arg = if rest.is_empty() {
                None
            } else if let Some(a) = rest.strip_prefix(' ').filter(|a| !a.trim().is_empty()) {
                Some(a.trim().to_string())
            } else {
                return Err(format!("bad short form {part:?} in tag {line:?}"));
            };
            Form {
                name: format!("-{letter}"),
                arg,
            }
        } else {
            return Err(format!("{part:?} in tag {line:?} is not an option form"));
        };
        forms.push(form);
    }
    Ok(forms)
}

/// The `.TP` tags of the OPTIONS section (from `.SH OPTIONS` to the next `.SH`).
fn option_tags(page: &str) -> Result<Vec<Tag>, String> {
    let lines: Vec<&str> = page.lines().collect();
    let is_sh = |l: &str| l == ".SH" || l.starts_with(".SH ");
    let start = lines
        .iter()
        .position(|l| is_sh(l) && l[3..].trim().trim_matches('"') == "OPTIONS")
        .ok_or("no .SH OPTIONS section")?;
    let end = lines[start + 1..]
        .iter()
        .position(|l| is_sh(l))
        .map_or(lines.len(), |p| start + 1 + p);
    let mut tags = Vec::new();
    let mut i = start + 1;
    while i < end {
        if lines[i] == ".TP" || lines[i].starts_with(".TP ") {
            // The tag is the next line that is not a comment.
            let mut j = i + 1;
            while j < end && (lines[j].starts_with(".\\\"") || lines[j].starts_with("'\\\"")) {
                j += 1;
            }
            if j >= end {
                return Err(format!("line {}: .TP without a tag", i + 1));
            }
            let forms = parse_tag(lines[j]).map_err(|e| format!("line {}: {e}", j + 1))?;
            tags.push(Tag { line: j + 1, forms });
            i = j;
        }
        i += 1;
    }
    Ok(tags)
}

/// The forms an option of the table must be documented with. The argument is `None` for a
/// flag, `Some(arg_name)` for a required argument; for any other kind of argument (which the
/// table may gain later) the argument is not compared, hence the outer `Option`.
fn expected_forms(o: &OptSpec) -> Vec<(String, Option<Option<String>>)> {
    let arg = if o.has_arg == HasArg::No {
        Some(None)
    } else if o.has_arg == HasArg::Required {
        Some(Some(o.arg_name.to_string()))
    } else {
        None
    };
    let mut v = Vec::new();
    if o.short != 0 {
        v.push((format!("-{}", o.short as char), arg.clone()));
    }
    for l in o.long {
        v.push((format!("--{l}"), arg.clone()));
    }
    v
}

/// Every disagreement between the option table and the tags, one message each.
fn compare(table: &[OptSpec], tags: &[Tag]) -> Vec<String> {
    let mut problems = Vec::new();
    let mut documented: BTreeSet<String> = BTreeSet::new();
    for tag in tags {
        for f in &tag.forms {
            if !documented.insert(f.name.clone()) {
                problems.push(format!(
                    "man/depmod.8:{}: {} is documented twice",
                    tag.line, f.name
                ));
            }
        }
    }
    let mut in_table: BTreeSet<String> = BTreeSet::new();
    for o in table {
        let expected = expected_forms(o);
        let names: BTreeSet<String> = expected.iter().map(|(n, _)| n.clone()).collect();
        in_table.extend(names.iter().cloned());
        let all = names.iter().cloned().collect::<Vec<_>>().join(", ");
        let Some(tag) = tags
            .iter()
            .find(|t| t.forms.iter().any(|f| names.contains(&f.name)))
        else {
            problems.push(format!(
                "option {all} is in depmod::cli::OPTIONS but not documented in the OPTIONS \
                 section of man/depmod.8"
            ));
            continue;
        };
        let tag_names: BTreeSet<String> = tag.forms.iter().map(|f| f.name.clone()).collect();
        for missing in names.difference(&tag_names) {
            problems.push(format!(
                "man/depmod.8:{}: the item of option {all} lacks the form {missing}",
                tag.line
            ));
        }
        for (name, arg) in &expected {
            let Some(arg) = arg else { continue };
            if let Some(f) = tag.forms.iter().find(|f| &f.name == name)
                && &f.arg != arg
            {
                problems.push(format!(
                    "man/depmod.8:{}: {name} is documented with argument {:?}, the table says {:?}",
                    tag.line, f.arg, arg
                ));
            }
        }
    }
    for tag in tags {
        for f in &tag.forms {
            if !in_table.contains(&f.name) {
                problems.push(format!(
                    "man/depmod.8:{}: {} is documented but is not in depmod::cli::OPTIONS",
                    tag.line, f.name
                ));
            }
        }
    }
    problems
}

#[test]
fn depmod_8_documents_exactly_the_option_table() {
    let tags = option_tags(&read_page("man/depmod.8")).unwrap_or_else(|e| panic!("{e}"));
    let problems = compare(OPTIONS, &tags);
    assert!(
        problems.is_empty(),
        "man/depmod.8 and src/cli/options.rs OPTIONS disagree:\n  {}",
        problems.join("\n  ")
    );
}

#[test]
fn the_drift_check_notices_missing_and_extra_options() {
    let page = read_page("man/depmod.8");
    let tags = option_tags(&page).unwrap();
    // What is wrong already is the other test's business: look only at what each change adds.
    let baseline = compare(OPTIONS, &tags);
    let new = |problems: Vec<String>| -> Vec<String> {
        problems
            .into_iter()
            .filter(|p| !baseline.contains(p))
            .collect()
    };
    // An option of the table that the page lacks (a table with one more row).
    let mut table = OPTIONS.to_vec();
    let mut extra = table[0];
    extra.short = 0;
    extra.long = &["frobnicate"];
    table.push(extra);
    let problems = new(compare(&table, &tags));
    assert!(
        problems.len() == 1 && problems[0].contains("--frobnicate"),
        "{problems:?}"
    );
    // A documented option that the table lacks (the table without -j/--jobs).
    let table: Vec<OptSpec> = OPTIONS
        .iter()
        .copied()
        .filter(|o| o.short != b'j')
        .collect();
    let problems = new(compare(&table, &tags));
    assert!(
        problems.iter().any(|p| p.contains(" -j "))
            && problems.iter().any(|p| p.contains(" --jobs ")),
        "{problems:?}"
    );
    // A wrong argument name and a missing long name.
    let edited = page.replace(
        "\\fB\\-b\\fR \\fIDIR\\fR, \\fB\\-\\-basedir\\fR=\\fIDIR\\fR",
        "\\fB\\-b\\fR \\fIROOT\\fR",
    );
    assert_ne!(edited, page, "the -b item is not written as expected");
    let problems = new(compare(OPTIONS, &option_tags(&edited).unwrap()));
    assert!(
        problems
            .iter()
            .any(|p| p.contains("lacks the form --basedir"))
            && problems.iter().any(|p| p.contains("ROOT")),
        "{problems:?}"
    );
}

#[test]
fn tag_parser() {
    assert_eq!(
        parse_tag(r"\fB\-n\fR, \fB\-\-show\fR, \fB\-\-dry\-run\fR").unwrap(),
        vec![
            Form {
                name: "-n".into(),
                arg: None
            },
            Form {
                name: "--show".into(),
                arg: None
            },
            Form {
                name: "--dry-run".into(),
                arg: None
            },
        ]
    );
    assert_eq!(
        parse_tag(r"\fB\-P\fR \fICHAR\fR, \fB\-\-symbol\-prefix\fR=\fICHAR\fR").unwrap(),
        vec![
            Form {
                name: "-P".into(),
                arg: Some("CHAR".into())
            },
            Form {
                name: "--symbol-prefix".into(),
                arg: Some("CHAR".into())
            },
        ]
    );
    assert_eq!(
        parse_tag(r"\fB\-\-check\fR").unwrap(),
        vec![Form {
            name: "--check".into(),
            arg: None
        }]
    );
    assert!(parse_tag(r".BR \-a , \-\-all").is_err());
    assert!(parse_tag("Success.").is_err());
}

// ---------------------------------------------------------------------------------------------
// (b) rendering

fn page_path(rel: &str) -> PathBuf {
    let p = root().join(rel);
    assert!(Path::new(&p).is_file(), "{} is missing", p.display());
    p
}

#[test]
fn pages_render_without_groff_warnings() {
    if !have_tool("groff", "--version", "groff-base", "man pages not rendered") {
        return;
    }
    let mut problems = Vec::new();
    for rel in PAGES {
        let out = Command::new("groff")
            .args(["-man", "-ww", "-z"])
            .arg(page_path(rel))
            .env("LC_ALL", "C.UTF-8")
            .output()
            .expect("run groff");
        let stderr = String::from_utf8_lossy(&out.stderr);
        if !out.status.success() || !stderr.trim().is_empty() {
            problems.push(format!("{rel}: groff {}:\n{stderr}", out.status));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn pages_render_with_man_at_80_columns_without_warnings() {
    if !have_tool("man", "--version", "man-db", "man pages not rendered") {
        return;
    }
    let mut problems = Vec::new();
    for rel in PAGES {
        let out = Command::new("man")
            .args(["--warnings=w", "-l"])
            .arg(page_path(rel))
            .env("MANWIDTH", "80")
            .env("MANPAGER", "cat")
            .env("PAGER", "cat")
            .env("LC_ALL", "C.UTF-8")
            .env_remove("MANOPT")
            .env_remove("MANROFFOPT")
            .output()
            .expect("run man");
        let stderr = String::from_utf8_lossy(&out.stderr);
        let stdout = String::from_utf8_lossy(&out.stdout);
        if !out.status.success() || !stderr.trim().is_empty() {
            problems.push(format!("{rel}: man {}:\n{stderr}", out.status));
        }
        if !stdout.contains("NAME") {
            problems.push(format!(
                "{rel}: rendered page has no NAME section:\n{stdout}"
            ));
        }
        for (n, l) in stdout.lines().enumerate() {
            // Overstriking (bold/underline as c\bc) would count twice; MANPAGER=cat keeps
            // it, so measure the line without it.
            let width = l.replace('\u{8}', "").chars().count() - l.matches('\u{8}').count();
            if width > 80 {
                problems.push(format!(
                    "{rel}: rendered line {} is {width} columns wide: {l:?}",
                    n + 1
                ));
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}
