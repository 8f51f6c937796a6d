//! Differential scenarios for configuration (depmod.d), discovery, files mode, `-A` and the
//! command line: our depmod against the reference kmod 34.2.
//!
//! Each scenario builds a small tree and configuration, runs both binaries with the same
//! arguments and requires identical exit status, stdout, stderr and outputs (the support
//! helpers compare all of it). Most scenarios also assert the expected result on our binary
//! alone, so that they say what they test and still check something without the reference.
//!
//! The configuration lives outside the `-b` root (`<tmp>/conf`) and is always passed with
//! `-C`, so that the machine's own `/etc/depmod.d` never takes part.
//!
//! Duplicate module names whose winner depends on `readdir` order (equal priorities, two copies
//! in one search directory) are only built where the order is forced: the module directory is
//! walked before the external directories, and an excluded directory can still be walked as an
//! external directory.
//!
//! Two scenarios check our documented deviations from kmod (see depmod(8)) instead of comparing:
//! `-A -n` and `-C my.conf` without a slash.

use crate::support::path_str as s;
use crate::support::*;
use std::ffi::OsString;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

const KVER: &str = "4.4.4";

fn x86() -> ModuleBuilder {
    ModuleBuilder::new(Arch::X86_64)
}

/// A module without exports or imports.
fn m() -> Vec<u8> {
    x86().modinfo("license", "GPL").build()
}

/// A 4.4.4 tree with empty builtin files and an empty modules.order (quiet stderr).
fn tree() -> Tree {
    let t = Tree::with_version(KVER);
    t.modules_builtin("");
    t.modules_builtin_modinfo("");
    t.modules_order(&[]);
    t
}

/// `<tmp>/conf`, the configuration directory passed with `-C`.
fn conf_dir(t: &Tree) -> PathBuf {
    t.top().join("conf")
}

/// Write `<tmp>/conf/<name>`.
fn conf(t: &Tree, name: &str, text: &str) -> PathBuf {
    t.top_file(&format!("conf/{name}"), text)
}

/// `-b <root> -o <out> -C <tmp>/conf [opts] 4.4.4`
fn dm(t: &Tree, opts: &[&str]) -> Vec<OsString> {
    let mut v = argv(["-b", &s(&t.root()), "-o", &s(&t.out_root())]);
    v.extend(argv(["-C".to_string(), s(&conf_dir(t))]));
    v.extend(opts.iter().map(OsString::from));
    v.push(KVER.into());
    v
}

/// `-b <root> -o <out> [opts] 4.4.4` (no `-C`: the caller passes its own).
fn dm_noconf(t: &Tree, opts: &[&str]) -> Vec<OsString> {
    let mut v = argv(["-b", &s(&t.root()), "-o", &s(&t.out_root())]);
    v.extend(opts.iter().map(OsString::from));
    v.push(KVER.into());
    v
}

fn ours(t: &Tree, argv: &[OsString]) -> Run {
    ours_with(t, argv, &RunOptions::default())
}

fn ours_with(t: &Tree, argv: &[OsString], opts: &RunOptions) -> Run {
    run_depmod_with(&our_bin(), t, argv, Duration::from_secs(60), "ours", opts)
}

/// Run ours (asserting its modules.dep) then compare with the reference.
fn check_dep(t: &Tree, argv: Vec<OsString>, expected_dep: &str) {
    let r = ours(t, &argv);
    assert_eq!(r.status, Some(0), "stderr: {}", r.stderr_text());
    assert_eq!(r.text("modules.dep"), expected_dep);
    compare_with_reference_argv(t, argv);
}

/// Run ours (asserting status and stderr) then compare with the reference.
fn check_err(t: &Tree, argv: Vec<OsString>, status: i32, expected_stderr: &str) {
    let r = ours(t, &argv);
    assert_eq!(r.status, Some(status), "stderr: {}", r.stderr_text());
    assert_eq!(r.stderr_text(), expected_stderr);
    compare_with_reference_argv(t, argv);
}

// ---------------------------------------------------------------------------------------------
// search
// ---------------------------------------------------------------------------------------------

/// `search updates external built-in extra` with one external directory: priorities from
/// highest to lowest are updates, the external directory, built-in (every directory not listed,
/// here kernel/), extra.
#[test]
fn search_order_builtin_external_subdirs() {
    let t = tree();
    let ext = t.top().join("ext");
    conf(
        &t,
        "search.conf",
        &format!(
            "search updates external built-in extra\nexternal * {}\n",
            s(&ext)
        ),
    );
    // a: updates beats the external dir and kernel.
    t.add_module("updates/a.ko", x86().import("b_fn", None).build());
    t.top_file("ext/a.ko", m());
    t.add_module("kernel/a.ko", m());
    // b: the external dir beats kernel (built-in) and extra.
    t.top_file("ext/b.ko", x86().export("b_fn", 1).build());
    t.add_module("kernel/b.ko", x86().export("b_fn", 1).build());
    t.add_module("extra/b.ko", x86().export("b_fn", 1).build());
    // c: built-in (kernel/) beats extra, listed after built-in.
    t.add_module("kernel/c.ko", m());
    t.add_module("extra/c.ko", m());
    let r = ours(&t, &dm(&t, &[]));
    assert_eq!(r.status, Some(0));
    let dep = r.text("modules.dep");
    let b = format!("{}/b.ko", s(&ext));
    assert!(dep.contains(&format!("updates/a.ko: {b}\n")), "{dep}");
    assert!(dep.contains(&format!("{b}:\n")), "{dep}");
    assert!(dep.contains("kernel/c.ko:\n"), "{dep}");
    assert_eq!(dep.lines().count(), 3, "{dep}");
    compare_with_reference_argv(&t, dm(&t, &[]));
}

/// A `search` line without `built-in`: directories not listed get the lowest priority, below
/// every listed one; `updates` is not searched by default once a search line exists.
#[test]
fn search_without_builtin() {
    let t = tree();
    conf(&t, "a.conf", "search extra\n");
    t.add_module("kernel/x.ko", m());
    t.add_module("extra/x.ko", m());
    t.add_module("updates/y.ko", m());
    t.add_module("extra/y.ko", m());
    let r = ours(&t, &dm(&t, &[]));
    let dep = r.text("modules.dep");
    assert!(dep.contains("extra/x.ko:\n") && dep.contains("extra/y.ko:\n"));
    assert_eq!(dep.lines().count(), 2);
    compare_with_reference_argv(&t, dm(&t, &[]));
}

/// Several search lines across files: the first token read is the highest priority.
#[test]
fn search_lines_accumulate_in_reading_order() {
    let t = tree();
    conf(&t, "10-a.conf", "search zzz\nsearch yyy built-in\n");
    conf(&t, "20-b.conf", "search xxx\n");
    t.add_module("xxx/p.ko", m());
    t.add_module("yyy/p.ko", m());
    t.add_module("zzz/p.ko", m());
    t.add_module("xxx/q.ko", m());
    t.add_module("kernel/q.ko", m());
    t.add_module("yyy/r.ko", m());
    t.add_module("xxx/r.ko", m());
    let r = ours(&t, &dm(&t, &[]));
    let dep = r.text("modules.dep");
    for line in ["zzz/p.ko:\n", "kernel/q.ko:\n", "yyy/r.ko:\n"] {
        assert!(dep.contains(line), "{dep}");
    }
    compare_with_reference_argv(&t, dm(&t, &[]));
}

/// A search entry with a trailing slash never matches: `search updates/ kernel built-in` puts
/// kernel/ above updates/ (which only gets the built-in priority).
#[test]
fn search_entry_with_trailing_slash_never_matches() {
    let t = tree();
    conf(&t, "search.conf", "search updates/ kernel built-in\n");
    t.add_module("updates/x.ko", m());
    t.add_module("kernel/x.ko", m());
    check_dep(&t, dm(&t, &[]), "kernel/x.ko:\n");
}

/// With no search line the default is `updates`, which also matches `updates/dkms/...`, but
/// not `updates2/`.
#[test]
fn default_search_updates_matches_subdirectories() {
    let t = tree();
    std::fs::create_dir_all(conf_dir(&t)).unwrap();
    t.add_module("kernel/x.ko", m());
    t.add_module("updates/dkms/x.ko", m());
    t.add_module("updates2/y.ko", m());
    t.add_module("updates/y.ko", m());
    let r = ours(&t, &dm(&t, &[]));
    let dep = r.text("modules.dep");
    assert!(dep.contains("updates/dkms/x.ko:\n") && dep.contains("updates/y.ko:\n"));
    assert_eq!(dep.lines().count(), 2);
    compare_with_reference_argv(&t, dm(&t, &[]));
}

/// Two copies in the same search directory: the one found later wins (kmod's else-if quirk).
/// The order is forced: updates/late is excluded from the module directory walk and walked
/// afterwards as an external directory, whose files still get relative paths.
#[test]
fn same_search_dir_later_found_wins() {
    let t = tree();
    let late = t.moddir().join("updates/late");
    conf(
        &t,
        "a.conf",
        &format!(
            "search updates built-in\nexclude late\nexternal * {}\n",
            s(&late)
        ),
    );
    t.add_module("updates/x.ko", m());
    t.add_module("updates/late/x.ko", m());
    check_dep(&t, dm(&t, &[]), "updates/late/x.ko:\n");
}

/// The same forced order with the late copy in a lower-priority directory: the first stays.
#[test]
fn earlier_found_higher_priority_stays() {
    let t = tree();
    let late = t.moddir().join("kernel/late");
    conf(
        &t,
        "a.conf",
        &format!(
            "search updates built-in\nexclude late\nexternal * {}\n",
            s(&late)
        ),
    );
    t.add_module("updates/x.ko", m());
    t.add_module("kernel/late/x.ko", m());
    check_dep(&t, dm(&t, &[]), "updates/x.ko:\n");
}

/// Two copies in sibling subdirectories of one search directory: the winner depends on the
/// file system's readdir order, so only the comparison (same directory, same order) counts.
#[test]
fn same_search_dir_siblings_readdir_order() {
    let t = tree();
    conf(&t, "a.conf", "search updates\n");
    t.add_module("updates/one/x.ko", m());
    t.add_module("updates/two/x.ko", m());
    let r = ours(&t, &dm(&t, &[]));
    let dep = r.text("modules.dep");
    assert!(dep == "updates/one/x.ko:\n" || dep == "updates/two/x.ko:\n");
    compare_with_reference_argv(&t, dm(&t, &[]));
}

// ---------------------------------------------------------------------------------------------
// override
// ---------------------------------------------------------------------------------------------

/// Overrides match the raw file name up to the first dot: `override foo-bar` matches
/// `extra/foo-bar.ko`, `override b_c` does not match `extra/b-c.ko`, `override d-e` does not
/// match `extra/d_e.ko`.
#[test]
fn override_dashed_raw_name_vs_underscored() {
    let t = tree();
    conf(
        &t,
        "o.conf",
        "override foo-bar * extra\noverride b_c * extra\noverride d-e * extra\n",
    );
    for n in ["foo-bar", "b-c", "d_e"] {
        t.add_module(&format!("extra/{n}.ko"), m());
        t.add_module(&format!("updates/{n}.ko"), m());
    }
    let r = ours(&t, &dm(&t, &[]));
    let dep = r.text("modules.dep");
    for line in [
        "extra/foo-bar.ko:\n",
        "updates/b-c.ko:\n",
        "updates/d_e.ko:\n",
    ] {
        assert!(dep.contains(line), "{dep}");
    }
    compare_with_reference_argv(&t, dm(&t, &[]));
}

/// Kernel version patterns: `4\.4\..*` (escapes eaten: `4.4..*`) and `4\\.4` match, `^5`,
/// `5\.0` and an invalid expression do not.
#[test]
fn override_kernel_version_patterns() {
    let t = tree();
    conf(
        &t,
        "o.conf",
        "override a 4\\.4\\..* extra\noverride b 4\\\\.4 extra\noverride c ^5 extra\n\
         override d 5\\.0 extra\noverride e [4 extra\noverride f 4.4.4 extra\n",
    );
    for n in ["a", "b", "c", "d", "e", "f"] {
        t.add_module(&format!("extra/{n}.ko"), m());
        t.add_module(&format!("updates/{n}.ko"), m());
    }
    let r = ours(&t, &dm(&t, &[]));
    let dep = r.text("modules.dep");
    for line in [
        "extra/a.ko:\n",
        "extra/b.ko:\n",
        "updates/c.ko:\n",
        "updates/d.ko:\n",
        "updates/e.ko:\n",
        "extra/f.ko:\n",
    ] {
        assert!(dep.contains(line), "{dep}");
    }
    // Non-matching overrides are INFO messages: invisible at the default verbosity.
    assert_eq!(r.stderr_text(), "");
    compare_with_reference_argv(&t, dm(&t, &[]));
}

/// Kernel version patterns are POSIX extended expressions with GNU's extensions, as the C
/// library compiles them: `\\d` is a plain `d`, `{,2}` means `{0,2}`, `(?i)` is invalid, `\\<`
/// and `\\w` are GNU's, a byte above 0x7f is one character, back-references work.
#[test]
fn override_kernel_version_posix_rules() {
    let t = tree();
    let patterns: [&[u8]; 12] = [
        b"\\\\d",
        b"4{,2}",
        b"(?i)4",
        b"\\\\<4",
        b"\\\\w\\\\.",
        b"\xff*",
        b"(4)\\\\1",
        b"[[:word:]]",
        b"4|*",
        b"[[:digit:]]{2}",
        b"^4\\.4\\.4$",
        b"\\\\x34",
    ];
    let mut text = Vec::new();
    for (i, p) in patterns.iter().enumerate() {
        text.extend_from_slice(format!("override m{i} ").as_bytes());
        text.extend_from_slice(p);
        text.extend_from_slice(b" extra\n");
        t.add_module(&format!("extra/m{i}.ko"), m());
        t.add_module(&format!("updates/m{i}.ko"), m());
    }
    t.top_file("conf/a.conf", &text);
    let r = ours(&t, &dm(&t, &[]));
    let dep = r.text("modules.dep");
    for (i, want) in [
        "updates", "extra", "updates", "extra", "extra", "extra", "updates", "updates", "updates",
        "updates", "extra", "updates",
    ]
    .iter()
    .enumerate()
    {
        assert!(dep.contains(&format!("{want}/m{i}.ko:\n")), "m{i}: {dep}");
    }
    compare_with_reference_argv(&t, dm(&t, &[]));
}

/// A NUL byte ends a configuration line (kmod reads lines as C strings).
#[test]
fn nul_bytes_in_config() {
    let t = tree();
    t.top_file(
        "conf/a.conf",
        b"search updates\0 extra\nbo\0gus\n\0bogus-hidden\noverride x 4\0.4 extra\nbad\\\0x\n",
    );
    t.add_module("extra/x.ko", m());
    t.add_module("updates/x.ko", m());
    let c = s(&conf_dir(&t).join("a.conf"));
    check_err(
        &t,
        dm(&t, &[]),
        0,
        &format!(
            "depmod: ERROR: {c}:2: ignoring bad line starting with 'bo'\n\
             depmod: ERROR: {c}:4: ignoring bad line starting with 'override'\n\
             depmod: ERROR: {c}:5: ignoring bad line starting with 'bad'\n"
        ),
    );
}

/// Two overrides for one module: the one read last is checked first and wins; an override
/// naming a subdirectory path (`extra/sub`) matches files in it.
#[test]
fn override_last_read_first_and_nested_dir() {
    let t = tree();
    conf(
        &t,
        "a.conf",
        "override x * extra\noverride x * misc\noverride y * extra/sub\n",
    );
    conf(&t, "b.conf", "search updates built-in\n");
    t.add_module("extra/x.ko", m());
    t.add_module("misc/x.ko", m());
    t.add_module("updates/x.ko", m());
    t.add_module("extra/sub/y.ko", m());
    t.add_module("updates/y.ko", m());
    let r = ours(&t, &dm(&t, &[]));
    let dep = r.text("modules.dep");
    assert!(dep.contains("misc/x.ko:\n") && dep.contains("extra/sub/y.ko:\n"));
    compare_with_reference_argv(&t, dm(&t, &[]));
}

/// Overrides never match files outside the module directory (external ones).
#[test]
fn override_never_matches_external_files() {
    let t = tree();
    let ext = t.top().join("ext");
    conf(
        &t,
        "a.conf",
        &format!(
            "search updates external\nexternal * {e}\noverride x * {e}\noverride x * ext\n",
            e = s(&ext)
        ),
    );
    t.add_module("updates/x.ko", m());
    t.top_file("ext/x.ko", m());
    check_dep(&t, dm(&t, &[]), "updates/x.ko:\n");
}

/// Odd search and override tokens: `built-in` twice, `external` twice, a nested directory,
/// `./kernel` and `/kernel` (never match), an override naming a nested directory with and
/// without a trailing slash, extra override tokens, the same external directory twice.
#[test]
fn search_and_override_odd_tokens() {
    let t = tree();
    let e = t.top().join("e");
    t.add_module("kernel/a.ko", m());
    t.add_module("updates/a.ko", m());
    t.add_module("extra/a.ko", m());
    t.top_file("e/a.ko", m());
    t.add_module("kernel/sub/b.ko", m());
    t.top_file("e/b.ko", m());
    t.add_module("extra/b.ko", m());
    let e = s(&e);
    for text in [
        format!("external * {e}\nexternal * {e}\nsearch external\n"),
        format!("external * {e}\nexternal * {e}\nsearch external built-in extra\n"),
        "search built-in updates built-in\n".to_string(),
        format!("search external external updates\nexternal * {e}\n"),
        "exclude *\n".to_string(),
        "override a * kernel\noverride a * updates\nsearch extra\n".to_string(),
        "override a 4.4.4 extra extra2 extra3\n".to_string(),
        "override b * kernel/sub\nsearch extra\n".to_string(),
        "override b * kernel/sub/\nsearch extra\n".to_string(),
        "search kernel/sub extra\n".to_string(),
        "search ./kernel /kernel extra\n".to_string(),
    ] {
        conf(&t, "a.conf", &text);
        compare_with_reference_argv(&t, dm(&t, &[]));
    }
}

// ---------------------------------------------------------------------------------------------
// external
// ---------------------------------------------------------------------------------------------

/// `external * dir1 dir2`: only the first directory is used; modules there are written with
/// absolute paths.
#[test]
fn external_extra_tokens_ignored() {
    let t = tree();
    let (e1, e2) = (t.top().join("ext1"), t.top().join("ext2"));
    conf(
        &t,
        "ext.conf",
        &format!("external * {} {}\n", s(&e1), s(&e2)),
    );
    t.top_file("ext1/p.ko", m());
    t.top_file("ext2/q.ko", m());
    t.add_module("kernel/k.ko", m());
    let r = ours(&t, &dm(&t, &[]));
    let dep = r.text("modules.dep");
    assert!(dep.contains(&format!("{}/p.ko:\n", s(&e1))));
    assert!(!dep.contains("q.ko"));
    compare_with_reference_argv(&t, dm(&t, &[]));
}

/// External directories whose version does not match (or whose pattern is invalid) are not
/// walked.
#[test]
fn external_version_not_matching() {
    let t = tree();
    let (e1, e2, e3) = (
        t.top().join("ext1"),
        t.top().join("ext2"),
        t.top().join("ext3"),
    );
    conf(
        &t,
        "ext.conf",
        &format!(
            "external 5\\.0 {}\nexternal (4 {}\nexternal 4\\.[0-9] {}\n",
            s(&e1),
            s(&e2),
            s(&e3)
        ),
    );
    t.top_file("ext1/p.ko", m());
    t.top_file("ext2/q.ko", m());
    t.top_file("ext3/r.ko", m());
    check_dep(&t, dm(&t, &[]), &format!("{}/r.ko:\n", s(&e3)));
}

/// A missing external directory: `could not open directory ...`, the run goes on.
#[test]
fn external_dir_missing() {
    let t = tree();
    let missing = t.top().join("no-such-dir");
    conf(&t, "ext.conf", &format!("external * {}\n", s(&missing)));
    t.add_module("kernel/k.ko", m());
    check_err(
        &t,
        dm(&t, &[]),
        0,
        &format!(
            "depmod: ERROR: could not open directory {}: No such file or directory\n",
            s(&missing)
        ),
    );
}

/// An external path that is a file, and one with a trailing slash (paths get `//`).
#[test]
fn external_file_and_trailing_slash() {
    let t = tree();
    let file = t.top_file("plain-file", "x");
    let ext = t.top().join("ext");
    conf(
        &t,
        "ext.conf",
        &format!(
            "search external built-in\nexternal * {}\nexternal * {}/\n",
            s(&file),
            s(&ext)
        ),
    );
    t.top_file("ext/x.ko", m());
    t.add_module("kernel/x.ko", m());
    t.top_file("ext/sub/y.ko", m());
    compare_with_reference_argv(&t, dm(&t, &[]));
}

/// Two external directories: the one read first has the higher priority; `search external`
/// between directories.
#[test]
fn external_two_dirs_priorities() {
    let t = tree();
    let (e1, e2) = (t.top().join("ext1"), t.top().join("ext2"));
    conf(&t, "a.conf", &format!("external * {}\n", s(&e1)));
    conf(&t, "b.conf", &format!("external * {}\n", s(&e2)));
    conf(&t, "c.conf", "search updates external kernel\n");
    for e in ["ext1", "ext2"] {
        t.top_file(&format!("{e}/x.ko"), m());
        t.top_file(&format!("{e}/y.ko"), m());
    }
    t.add_module("updates/x.ko", m());
    t.add_module("kernel/y.ko", m());
    t.top_file("ext2/z.ko", m());
    t.add_module("kernel/z.ko", m());
    let r = ours(&t, &dm(&t, &[]));
    let dep = r.text("modules.dep");
    for line in [
        "updates/x.ko:\n".to_string(),
        format!("{}/y.ko:\n", s(&e1)),
        format!("{}/z.ko:\n", s(&e2)),
    ] {
        assert!(dep.contains(&line), "{dep}");
    }
    compare_with_reference_argv(&t, dm(&t, &[]));
}

/// External directories without the `external` search keyword get the built-in priority (or
/// the lowest, without `built-in`); on a tie the module directory's copy, found first, stays.
#[test]
fn external_without_search_keyword() {
    let t = tree();
    let ext = t.top().join("ext");
    conf(
        &t,
        "a.conf",
        &format!("search updates built-in\nexternal * {}\n", s(&ext)),
    );
    t.add_module("updates/x.ko", m());
    t.top_file("ext/x.ko", m());
    t.add_module("kernel/y.ko", m());
    t.top_file("ext/y.ko", m());
    t.top_file("ext/only.ko", m());
    let r = ours(&t, &dm(&t, &[]));
    let dep = r.text("modules.dep");
    assert!(dep.contains("updates/x.ko:\n") && dep.contains("kernel/y.ko:\n"));
    assert!(dep.contains(&format!("{}/only.ko:\n", s(&ext))));
    compare_with_reference_argv(&t, dm(&t, &[]));
}

/// External directories that overlap the module directory (itself, a subdirectory, the same
/// directory through `..` or with a trailing slash, its parent), a relative one (relative to
/// the working directory, not to `-b`), and one whose own name is excluded (only entries below
/// the top are checked): modules may be seen twice and get odd relative paths.
#[test]
fn external_dirs_overlapping_module_dir() {
    let t = tree();
    let md = s(&t.moddir());
    t.add_module("kernel/a.ko", m());
    t.add_module("kernel/p.ko", x86().export("psym", 1).build());
    t.add_module("updates/u.ko", x86().import("psym", None).build());
    t.top_file("skipme/s.ko", m());
    t.top_file("rel/r.ko", m());
    let variants = [
        md.clone(),
        format!("{md}/kernel"),
        format!("{md}/../{KVER}"),
        format!("{md}/"),
        s(&t.root().join("lib/modules")),
        "rel".to_string(),
        s(&t.top().join("skipme")),
    ];
    for ext in variants {
        conf(
            &t,
            "a.conf",
            &format!("external * {ext}\nexclude skipme\nsearch external updates built-in\n"),
        );
        compare_with_reference_argv(&t, dm(&t, &[]));
    }
}

/// A relative external directory is walked relative to the working directory; its modules are
/// written with the absolute path libkmod makes (`$PWD` when it names the working directory),
/// while the priority rules compare the walk's relative path for a new file and the stored
/// absolute path for a registered one.
#[test]
fn external_relative_dirs() {
    let t = tree();
    t.add_module("kernel/r.ko", m());
    t.add_module("kernel/q.ko", m());
    t.top_file("rel/r.ko", m());
    t.top_file("rel/q.ko", m());
    t.top_file("abs/q.ko", m());
    let abs = s(&t.top().join("abs"));
    for text in [
        "external * rel\nsearch external\n".to_string(),
        "external * rel\nsearch kernel external\n".to_string(),
        format!("external * {abs}\nexternal * rel\nsearch external\n"),
        format!("external * rel\nexternal * {abs}\nsearch external\n"),
        format!("external * rel\nexternal * {abs}\nsearch built-in external\n"),
    ] {
        conf(&t, "a.conf", &text);
        let r = ours(&t, &dm(&t, &[]));
        assert!(!r.text("modules.dep").contains("\nrel/"), "{text}");
        compare_with_reference_argv(&t, dm(&t, &[]));
    }
    // Run from a directory reached through a symbolic link, $PWD naming the link.
    std::os::unix::fs::symlink(t.top(), t.top().join("via")).unwrap();
    conf(&t, "a.conf", "external * rel\nsearch external\n");
    let opts = RunOptions {
        cwd: Some(t.top().join("via")),
        env: vec![("PWD".into(), t.top().join("via").into_os_string())],
        ..RunOptions::default()
    };
    let r = ours_with(&t, &dm(&t, &[]), &opts);
    assert!(r.text("modules.dep").contains("/via/rel/r.ko:\n"));
    compare_with_reference_opts(&t, dm(&t, &[]), &opts);
    // Working directory = the module directory: `external * kernel` sees kernel/ twice.
    conf(&t, "a.conf", "external * kernel\nsearch kernel external\n");
    let opts = RunOptions {
        cwd: Some(t.moddir()),
        ..RunOptions::default()
    };
    compare_with_reference_opts(&t, dm(&t, &[]), &opts);
    conf(&t, "a.conf", "external * kernel\nsearch external kernel\n");
    compare_with_reference_opts(&t, dm(&t, &[]), &opts);
}

/// kmod takes a path as relative to the module directory whenever it starts with the module
/// directory's name, without a `/` after it: modules of an external `<dirname>-extra` are seen
/// as `extra/...` by `search` and `override` (their output path stays absolute).
#[test]
fn external_sibling_with_module_dir_prefix() {
    let t = tree();
    let sib = format!("{}-extra", s(&t.moddir()));
    t.add_module("kernel/x.ko", m());
    t.add_module("kernel/y.ko", m());
    t.add_module("updates/z.ko", m());
    t.file(&format!("lib/modules/{KVER}-extra/x.ko"), m());
    t.file(&format!("lib/modules/{KVER}-extra/y.ko"), m());
    t.file(&format!("lib/modules/{KVER}-extra/z.ko"), m());
    conf(
        &t,
        "a.conf",
        &format!("external * {sib}\nsearch extra\noverride z * extra\n"),
    );
    let r = ours(&t, &dm(&t, &[]));
    let dep = r.text("modules.dep");
    assert!(dep.contains(&format!("{sib}/x.ko:\n")), "{dep}");
    assert!(dep.contains(&format!("{sib}/z.ko:\n")), "{dep}");
    compare_with_reference_argv(&t, dm(&t, &[]));
}

// ---------------------------------------------------------------------------------------------
// exclude, build, source
// ---------------------------------------------------------------------------------------------

/// `exclude` skips entries by name, files and directories alike, at any depth and in external
/// directories; a token containing `/` never matches.
#[test]
fn exclude_file_and_directory() {
    let t = tree();
    let ext = t.top().join("ext");
    conf(
        &t,
        "ex.conf",
        &format!(
            "exclude b.ko staging\nexclude kernel/a/c.ko a/d\nexternal * {}\n",
            s(&ext)
        ),
    );
    t.add_module("kernel/b.ko", m());
    t.add_module("kernel/deep/er/b.ko", m());
    t.add_module("kernel/staging/s.ko", m());
    t.add_module("staging", "not a dir");
    t.add_module("kernel/a/c.ko", m());
    t.add_module("kernel/a/d/e.ko", m());
    t.top_file("ext/b.ko", m());
    t.top_file("ext/staging/t.ko", m());
    t.top_file("ext/ok.ko", m());
    let r = ours(&t, &dm(&t, &[]));
    let dep = r.text("modules.dep");
    assert!(!dep.contains("b.ko") && !dep.contains("s.ko") && !dep.contains("t.ko"));
    assert!(dep.contains("kernel/a/c.ko:\n") && dep.contains("kernel/a/d/e.ko:\n"));
    compare_with_reference_argv(&t, dm(&t, &[]));
}

/// Entries named `build` or `source` are never walked (files or directories); similar names
/// are.
#[test]
fn build_and_source_skipped() {
    let t = tree();
    std::fs::create_dir_all(conf_dir(&t)).unwrap();
    t.add_module("build/x.ko", m());
    t.add_module("source/y.ko", m());
    t.add_module("kernel/build/z.ko", m());
    t.add_module("kernel/builds/w.ko", m());
    t.add_module("kernel/source.d/v.ko", m());
    let r = ours(&t, &dm(&t, &[]));
    let dep = r.text("modules.dep");
    assert!(dep.contains("kernel/builds/w.ko:\n") && dep.contains("kernel/source.d/v.ko:\n"));
    assert_eq!(dep.lines().count(), 2);
    compare_with_reference_argv(&t, dm(&t, &[]));
}

/// Walk errors: dangling symbolic links (kmod names the directory by its descriptor number,
/// one more per level), FIFOs (`unsupported file type`), in the scan and in the `-A` walk, whose
/// message shows kmod's path buffer as it stands. Symbolic links to files and directories are
/// followed, the path going through the link.
#[test]
fn walk_errors_and_symlinks() {
    let t = tree();
    std::fs::create_dir_all(conf_dir(&t)).unwrap();
    let md = t.moddir();
    t.add_module("kernel/a.ko", m());
    t.add_module("kernel/sub/deeper/b.ko", m());
    t.add_module("kernel/sub/c.ko", m());
    t.add_module("kernel/zzzzzzzzzzzzzzzzzzzzzzz.ko", m());
    t.top_file("elsewhere/real/linked.ko", m());
    std::os::unix::fs::symlink("/nonexistent", md.join("top-dangling.ko")).unwrap();
    std::os::unix::fs::symlink("/nonexistent", md.join("kernel/dangling.ko")).unwrap();
    std::os::unix::fs::symlink("/nonexistent", md.join("kernel/sub/deeper/dangling")).unwrap();
    std::os::unix::fs::symlink(t.top().join("elsewhere/real"), md.join("kernel/dirlink")).unwrap();
    std::os::unix::fs::symlink(t.top().join("elsewhere/real/linked.ko"), md.join("l2.ko")).unwrap();
    for fifo in [
        "fifo.ko",
        "kernel/fifo",
        "kernel/sub/fifo2",
        "kernel/sub/deeper/fifo3",
    ] {
        let st = std::process::Command::new("mkfifo")
            .arg(md.join(fifo))
            .status()
            .unwrap();
        assert!(st.success());
    }
    let r = ours(&t, &dm(&t, &[]));
    assert_eq!(r.status, Some(0));
    let err = r.stderr_text();
    assert!(
        err.contains("depmod: ERROR: fstatat(3, top-dangling.ko): No such file or directory\n"),
        "{err}"
    );
    assert!(
        err.contains("depmod: ERROR: fstatat(4, dangling.ko): No such file or directory\n"),
        "{err}"
    );
    assert!(
        err.contains("depmod: ERROR: fstatat(6, dangling): No such file or directory\n"),
        "{err}"
    );
    assert!(err.contains(&format!(
        "depmod: ERROR: unsupported file type {}/kernel/fifo: 10000\n",
        s(&md)
    )));
    let dep = r.text("modules.dep");
    assert!(dep.contains("kernel/dirlink/linked.ko:\n") && dep.contains("l2.ko:\n"));
    compare_with_reference_argv(&t, dm(&t, &[]));
    // The -A walk, up to date (modules.dep in the future): only its own messages.
    let dep = t.moddir_file("modules.dep", "");
    set_mtime(&dep, 4_000_000_000);
    compare_with_reference_argv(&t, dm(&t, &["-A"]));
    // Outdated: both walks.
    set_mtime(&dep, 1_000);
    compare_with_reference_argv(&t, dm(&t, &["-A"]));
}

/// Create `levels` nested directories named `<200 x 'd'><i>` below `base` (beyond PATH_MAX,
/// so by descriptor), each holding `m<i>.ko` and a FIFO.
fn deep_dirs(base: &Path, levels: usize) {
    use rustix::fs::{FileType, Mode, OFlags, mkdirat, mknodat, open, openat};
    let name = "d".repeat(200);
    // CLOEXEC everywhere: a descriptor leaked into a depmod started meanwhile by another test
    // would shift the descriptor numbers in its messages.
    let dir = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC;
    let mut fd = open(base, dir, Mode::empty()).unwrap();
    for i in 1..=levels {
        let dname = format!("{name}{i}");
        mkdirat(&fd, dname.as_str(), Mode::from_raw_mode(0o755)).unwrap();
        fd = openat(&fd, dname.as_str(), dir, Mode::empty()).unwrap();
        let f = openat(
            &fd,
            format!("m{i}.ko").as_str(),
            OFlags::WRONLY | OFlags::CREATE | OFlags::CLOEXEC,
            Mode::from_raw_mode(0o644),
        )
        .unwrap();
        std::fs::File::from(f).write_all(&m()).unwrap();
        mknodat(&fd, "ff", FileType::Fifo, Mode::from_raw_mode(0o644), 0).unwrap();
    }
}

/// Paths beyond PATH_MAX: modules there cannot be created (`could not create module ... File
/// name too long`, `failed ...`); the `-A` walk refuses deep directories (`path is too long`,
/// `directory path is too long`).
#[test]
fn walk_paths_beyond_path_max() {
    let t = tree();
    std::fs::create_dir_all(conf_dir(&t)).unwrap();
    t.add_module("kernel/x.ko", m());
    std::fs::create_dir_all(t.moddir().join("updates")).unwrap();
    deep_dirs(&t.moddir().join("updates"), 22);
    let r = ours(&t, &dm(&t, &[]));
    assert_eq!(r.status, Some(0));
    assert!(r.stderr_text().contains(": File name too long\n"));
    compare_with_reference_argv(&t, dm(&t, &[]));
    let dep = t.moddir_file("modules.dep", "");
    set_mtime(&dep, 4_000_000_000);
    let r = ours(&t, &dm(&t, &["-A"]));
    assert!(
        r.stderr_text()
            .contains("depmod: ERROR: directory path is too long ")
    );
    compare_with_reference_argv(&t, dm(&t, &["-A"]));
}

// ---------------------------------------------------------------------------------------------
// Line syntax
// ---------------------------------------------------------------------------------------------

/// `include` and `make_map_files` are INFO messages only: nothing at default verbosity.
#[test]
fn include_and_make_map_files_are_silent() {
    let t = tree();
    conf(
        &t,
        "a.conf",
        "include /etc/other.conf\nmake_map_files yes\ninclude\nmake_map_files\n",
    );
    t.add_module("kernel/k.ko", m());
    check_err(&t, dm(&t, &[]), 0, "");
}

/// Bad lines and syntax errors: unknown commands (case-sensitive), missing tokens, indented
/// `#`; a `search`/`exclude` without tokens and blank lines are fine.
#[test]
fn bad_lines_and_syntax_errors() {
    let t = tree();
    let c = conf(
        &t,
        "bad.conf",
        "bogus x y\nSearch updates\noverride a\noverride a *\nexternal *\nexternal\n\
         search\nexclude\n \t \n\n  # indented comment\n#real comment\n\tsearch extra\n\
         search\tupdates\t built-in\n",
    );
    t.add_module("extra/x.ko", m());
    t.add_module("updates/x.ko", m());
    let c = s(&c);
    let r = ours(&t, &dm(&t, &[]));
    assert_eq!(
        r.stderr_text(),
        format!(
            "depmod: ERROR: {c}:1: ignoring bad line starting with 'bogus'\n\
             depmod: ERROR: {c}:2: ignoring bad line starting with 'Search'\n\
             depmod: ERROR: {c}:3: ignoring bad line starting with 'override'\n\
             depmod: ERROR: {c}:4: ignoring bad line starting with 'override'\n\
             depmod: ERROR: {c}:5: ignoring bad line starting with 'external'\n\
             depmod: ERROR: {c}:6: ignoring bad line starting with 'external'\n\
             depmod: ERROR: {c}:11: ignoring bad line starting with '#'\n"
        )
    );
    assert_eq!(r.text("modules.dep"), "extra/x.ko:\n");
    compare_with_reference_argv(&t, dm(&t, &[]));
}

/// Continuation lines: the message names the last physical line; a `#` line continued by a
/// backslash swallows the next line; `\x` keeps `x`; a last line without newline and a
/// backslash at the end of the file.
#[test]
fn continuation_lines_and_line_numbers() {
    let t = tree();
    let c = conf(
        &t,
        "a.conf",
        "search \\\n  extra \\\n  built-in\nbad1 \\\nstill-bad1\n# comment \\\nbad-swallowed\n\
         \\bad2\nse\\arch updates\nbad3 \\",
    );
    t.add_module("extra/x.ko", m());
    t.add_module("updates/x.ko", m());
    t.add_module("updates/y.ko", m());
    t.add_module("kernel/y.ko", m());
    let c = s(&c);
    let r = ours(&t, &dm(&t, &[]));
    assert_eq!(
        r.stderr_text(),
        format!(
            "depmod: ERROR: {c}:5: ignoring bad line starting with 'bad1'\n\
             depmod: ERROR: {c}:8: ignoring bad line starting with 'bad2'\n\
             depmod: ERROR: {c}:10: ignoring bad line starting with 'bad3'\n"
        )
    );
    compare_with_reference_argv(&t, dm(&t, &[]));
}

/// CRLF line ends: the `\r` stays part of the last token (`updates\r` matches nothing).
#[test]
fn crlf_line_ends() {
    let t = tree();
    conf(
        &t,
        "a.conf",
        "search updates\r\nsearch kernel built-in\r\nbogus\r\n",
    );
    t.add_module("updates/x.ko", m());
    t.add_module("kernel/x.ko", m());
    compare_with_reference_argv(&t, dm(&t, &[]));
}

// ---------------------------------------------------------------------------------------------
// Configuration files and -C
// ---------------------------------------------------------------------------------------------

/// Same basename in two `-C` directories: the first directory's file masks the second's.
#[test]
fn config_masking_first_dir_wins() {
    let t = tree();
    let (d1, d2) = (t.top().join("d1"), t.top().join("d2"));
    t.top_file("d1/a.conf", "search extra\n");
    t.top_file("d2/a.conf", "search updates\nbogus\n");
    t.top_file("d2/b.conf", "bogus-b\n");
    t.add_module("extra/x.ko", m());
    t.add_module("updates/x.ko", m());
    let args = dm_noconf(&t, &["-C", &s(&d1), "-C", &s(&d2)]);
    let r = ours(&t, &args);
    assert_eq!(r.text("modules.dep"), "extra/x.ko:\n");
    assert_eq!(
        r.stderr_text(),
        format!(
            "depmod: ERROR: {}/b.conf:1: ignoring bad line starting with 'bogus-b'\n",
            s(&d2)
        )
    );
    compare_with_reference_argv(&t, args);
}

/// Files from all `-C` paths are read in one global basename order: d2/a.conf before d1/b.conf.
#[test]
fn config_files_sorted_across_dirs() {
    let t = tree();
    let (d1, d2) = (t.top().join("d1"), t.top().join("d2"));
    t.top_file("d1/b.conf", "search kernel\nbad-b\n");
    t.top_file("d1/c.conf", "bad-c\n");
    t.top_file("d2/a.conf", "search updates\nbad-a\n");
    t.top_file("d2/B.conf", "bad-B\n");
    t.add_module("kernel/x.ko", m());
    t.add_module("updates/x.ko", m());
    let args = dm_noconf(&t, &["-C", &s(&d1), "-C", &s(&d2)]);
    let r = ours(&t, &args);
    assert_eq!(r.text("modules.dep"), "updates/x.ko:\n");
    assert_eq!(
        r.stderr_text(),
        format!(
            "depmod: ERROR: {d2}/B.conf:1: ignoring bad line starting with 'bad-B'\n\
             depmod: ERROR: {d2}/a.conf:2: ignoring bad line starting with 'bad-a'\n\
             depmod: ERROR: {d1}/b.conf:2: ignoring bad line starting with 'bad-b'\n\
             depmod: ERROR: {d1}/c.conf:1: ignoring bad line starting with 'bad-c'\n",
            d1 = s(&d1),
            d2 = s(&d2)
        )
    );
    compare_with_reference_argv(&t, args);
}

/// `-C` naming a file (any name, no `.conf` needed) and `-C` naming a directory, mixed; the
/// file's basename takes part in sorting and masking.
#[test]
fn config_file_vs_directory() {
    let t = tree();
    let file = t.top_file("single/zz-config", "search extra\nbad-file\n");
    let masked = t.top_file("single/a.conf", "bad-masked\n");
    let dir = t.top().join("dir");
    t.top_file("dir/a.conf", "bad-dir-a\n");
    t.top_file("dir/zz-config.conf", "bad-dir-zz\n");
    t.add_module("extra/x.ko", m());
    t.add_module("updates/x.ko", m());
    let args = dm_noconf(&t, &["-C", &s(&file), "-C", &s(&dir), "-C", &s(&masked)]);
    compare_with_reference_argv(&t, args);
}

/// A configuration directory with entries that are skipped: dot files, names without `.conf`
/// or too short, a subdirectory named `x.conf` (error), a dangling symlink (error), a symlink to
/// `/dev/null` (accepted), a trailing `/` on the directory.
#[test]
fn config_dir_odd_entries() {
    let t = tree();
    let d = conf_dir(&t);
    conf(&t, "a.conf", "search extra\n");
    conf(&t, ".hidden.conf", "bad-hidden\n");
    conf(&t, "notes.txt", "bad-notes\n");
    conf(&t, "x.conf.bak", "bad-bak\n");
    conf(&t, "b.CONF", "bad-upper\n");
    conf(&t, "x.conf/inner.conf", "bad-inner\n");
    std::os::unix::fs::symlink(d.join("missing"), d.join("dangling.conf")).unwrap();
    std::os::unix::fs::symlink("/dev/null", d.join("null.conf")).unwrap();
    std::fs::create_dir_all(d.join("sub")).unwrap();
    t.add_module("extra/x.ko", m());
    t.add_module("updates/x.ko", m());
    let r = ours(&t, &dm(&t, &[]));
    let err = r.stderr_text();
    assert!(err.contains(&format!(
        "depmod: ERROR: Directories inside directories are not supported: {}/x.conf\n",
        s(&d)
    )));
    assert!(err.contains(&format!(
        "depmod: ERROR: Cannot stat directory entry: {}dangling.conf\n",
        s(&d)
    )));
    assert_eq!(err.lines().count(), 2, "{err}");
    assert_eq!(r.text("modules.dep"), "extra/x.ko:\n");
    compare_with_reference_argv(&t, dm(&t, &[]));
    let args = dm_noconf(&t, &["-C", &format!("{}/", s(&d))]);
    compare_with_reference_argv(&t, args);
}

/// `-C` repeated with the same directory, a missing path (silently skipped) and an empty
/// directory.
#[test]
fn config_repeated_and_missing_paths() {
    let t = tree();
    let d = conf_dir(&t);
    conf(&t, "a.conf", "search extra\nbad-once\n");
    std::fs::create_dir_all(t.top().join("empty")).unwrap();
    t.add_module("extra/x.ko", m());
    t.add_module("updates/x.ko", m());
    let args = dm_noconf(
        &t,
        &[
            "-C",
            &s(&t.top().join("missing")),
            "-C",
            &s(&d),
            "--config",
            &s(&d),
            "--config=/nonexistent/depmod.d",
            "-C",
            &s(&t.top().join("empty")),
        ],
    );
    let r = ours(&t, &args);
    assert_eq!(
        r.stderr_text(),
        format!(
            "depmod: ERROR: {}/a.conf:2: ignoring bad line starting with 'bad-once'\n",
            s(&d)
        )
    );
    compare_with_reference_argv(&t, args);
}

/// Relative `-C` paths with a slash are relative to the working directory, not to `-b`.
#[test]
fn config_relative_path_with_slash() {
    let t = tree();
    t.top_file("rel/a.conf", "search extra\nbad-rel\n");
    t.add_module("extra/x.ko", m());
    t.add_module("updates/x.ko", m());
    let args = dm_noconf(&t, &["-C", "./rel", "-C", "rel/a.conf"]);
    let r = ours(&t, &args);
    assert_eq!(
        r.stderr_text(),
        "depmod: ERROR: ./rel/a.conf:2: ignoring bad line starting with 'bad-rel'\n"
    );
    compare_with_reference_argv(&t, args);
}

/// Symbolic links in and as configuration paths: a link to a directory named `x.conf` is a
/// directory inside a directory, a link to a file is a file (under the link's name), `-C` may
/// name a link to a file or a linked directory.
#[test]
fn config_symlinks() {
    let t = tree();
    let d = conf_dir(&t);
    t.top_file("cdir/inner/i.conf", "bogus-inner\n");
    t.top_file("other/real", "bogus-real\n");
    conf(&t, "plain.conf", "search extra\n");
    std::os::unix::fs::symlink(t.top().join("cdir/inner"), d.join("linked.conf")).unwrap();
    std::os::unix::fs::symlink(t.top().join("other/real"), d.join("flink.conf")).unwrap();
    std::os::unix::fs::symlink(t.top().join("other/real"), t.top().join("filelink")).unwrap();
    t.add_module("extra/x.ko", m());
    t.add_module("updates/x.ko", m());
    let args = dm_noconf(
        &t,
        &[
            "-C",
            &s(&d),
            "-C",
            &s(&t.top().join("filelink")),
            "-C",
            &s(&d.join("linked.conf")),
        ],
    );
    let r = ours(&t, &args);
    assert!(r.stderr_text().contains(&format!(
        "depmod: ERROR: Directories inside directories are not supported: {}/linked.conf\n",
        s(&d)
    )));
    compare_with_reference_argv(&t, args);
}

/// A difference from kmod (see depmod(8)): `-C my.conf` without a slash reads `./my.conf`
/// (kmod aborts).
#[test]
fn deviation_config_without_slash_reads_cwd_file() {
    let t = tree();
    t.top_file("my.conf", "search extra\nbad-my\n");
    t.add_module("extra/x.ko", m());
    t.add_module("updates/x.ko", m());
    let r = ours(&t, &dm_noconf(&t, &["-C", "my.conf"]));
    assert_eq!(r.status, Some(0));
    assert_eq!(
        r.stderr_text(),
        "depmod: ERROR: my.conf:2: ignoring bad line starting with 'bad-my'\n"
    );
    assert_eq!(r.text("modules.dep"), "extra/x.ko:\n");
}

// ---------------------------------------------------------------------------------------------
// Files mode
// ---------------------------------------------------------------------------------------------

/// `depmod 4.4.4 /abs/a.ko /abs/b.ko`: only the named files, the configuration is not read
/// (its bad line is not reported, its search line not applied), modules.order still sorts.
#[test]
fn files_mode_ignores_configuration() {
    let t = tree();
    conf(&t, "a.conf", "search extra\nbogus\nexclude a.ko\n");
    let a = t.add_module("updates/a.ko", x86().import("bsym", None).build());
    let b = t.add_module("kernel/b.ko", x86().export("bsym", 3).build());
    t.add_module("extra/a.ko", m());
    let c = t.top_file("outside/c.ko", x86().import("bsym", None).build());
    let notko = t.top_file("outside/d.txt", x86().export("dsym", 1).build());
    t.modules_order(&["kernel/b.ko", "updates/a.ko"]);
    let mut args = dm(&t, &[]);
    args.extend(argv([s(&a), s(&c), s(&b), s(&notko)]));
    let r = ours(&t, &args);
    assert_eq!(r.stderr_text(), "");
    let dep = r.text("modules.dep");
    assert!(
        dep.starts_with("kernel/b.ko:\nupdates/a.ko: kernel/b.ko\n"),
        "{dep}"
    );
    assert!(
        dep.contains(&format!("\n{}: kernel/b.ko\n", s(&c))),
        "{dep}"
    );
    assert!(dep.contains(&format!("\n{}:\n", s(&notko))), "{dep}");
    assert_eq!(dep.lines().count(), 4, "{dep}");
    compare_with_reference_argv(&t, args);
}

/// Files-mode errors, each FATAL with exit 1: a relative path, a missing file, the same path
/// twice, two paths with the same module name.
#[test]
fn files_mode_errors() {
    let t = tree();
    std::fs::create_dir_all(conf_dir(&t)).unwrap();
    let a = t.add_module("kernel/a.ko", m());
    let a2 = t.add_module("updates/a.ko", m());
    let missing = t.moddir().join("kernel/missing.ko");
    let with = |files: &[String]| {
        let mut v = dm(&t, &[]);
        v.extend(argv(files));
        v
    };
    check_err(
        &t,
        with(&[s(&a), "kernel/b.ko".into()]),
        1,
        "depmod: FATAL: kernel/b.ko: not absolute path.\n",
    );
    check_err(
        &t,
        with(&[s(&missing)]),
        1,
        &format!(
            "depmod: FATAL: could not create module {}: No such file or directory\n",
            s(&missing)
        ),
    );
    check_err(
        &t,
        with(&[s(&a), s(&a)]),
        1,
        &format!(
            "depmod: ERROR: hash_add_unique a: File exists\n\
             depmod: FATAL: could not add module {}: File exists\n",
            s(&a)
        ),
    );
    check_err(
        &t,
        with(&[s(&a), s(&a2)]),
        1,
        &format!(
            "depmod: ERROR: kmod_module 'a' already exists with different path: new-path='{n}' old-path='{o}'\n\
             depmod: FATAL: could not create module {n}: File exists\n",
            n = s(&a2),
            o = s(&a)
        ),
    );
    // A path that names a directory, and one with a trailing slash.
    compare_with_reference_argv(&t, with(&[s(&t.moddir().join("kernel"))]));
    compare_with_reference_argv(&t, with(&[format!("{}/", s(&a))]));
}

/// Files-mode paths that name a module of the module directory in another way (through a
/// symbolic link, with `//`, through `..`) are written as given, or relative to the module
/// directory when they start with it textually.
#[test]
fn files_mode_odd_paths() {
    let t = tree();
    std::fs::create_dir_all(conf_dir(&t)).unwrap();
    let md = s(&t.moddir());
    let a = t.add_module("kernel/a.ko", m());
    t.add_module("kernel/p.ko", x86().export("psym", 1).build());
    t.add_module("updates/u.ko", x86().import("psym", None).build());
    std::os::unix::fs::symlink(&a, t.top().join("alink.ko")).unwrap();
    let mut args = dm(&t, &[]);
    args.extend(argv([
        s(&t.top().join("alink.ko")),
        format!("{}//lib/modules/{KVER}/kernel/p.ko", s(&t.root())),
        format!("{md}/../{KVER}/updates/u.ko"),
    ]));
    compare_with_reference_argv(&t, args);
}

/// `-a` with files: the files are ignored and the whole tree scanned (configuration read).
#[test]
fn all_with_files_forces_scan() {
    let t = tree();
    conf(&t, "a.conf", "bogus\n");
    let a = t.add_module("kernel/a.ko", m());
    t.add_module("kernel/b.ko", m());
    let mut args = dm(&t, &["-a"]);
    args.extend(argv([s(&a), "relative/ignored.ko".to_string()]));
    let r = ours(&t, &args);
    assert_eq!(r.status, Some(0));
    assert_eq!(r.text("modules.dep").lines().count(), 2);
    compare_with_reference_argv(&t, args);
}

// ---------------------------------------------------------------------------------------------
// -A / --quick
// ---------------------------------------------------------------------------------------------

const T0: u64 = 1_600_000_000;

/// A tree with modules.dep at T0 and modules older than it (one in an excluded directory and
/// one under build/, which `-A` does not look at).
fn quick_tree() -> (Tree, Vec<PathBuf>) {
    let t = tree();
    conf(&t, "a.conf", "exclude skipme\n");
    let mods = vec![
        t.add_module("kernel/a.ko", x86().import("bsym", None).build()),
        t.add_module("kernel/sub/b.ko", x86().export("bsym", 1).build()),
        t.add_module("kernel/skipme/c.ko", m()),
        t.add_module("kernel/build/d.ko", m()),
        t.add_module("kernel/e.ko.xz", liblzma::encode_all(&m()[..], 6).unwrap()),
    ];
    let dep = t.moddir_file("modules.dep", "stale\n");
    for p in &mods {
        set_mtime(p, T0 - 100);
    }
    set_mtime(&dep, T0);
    (t, mods)
}

/// `-A` with every module older than (or as old as) modules.dep: exit 0, nothing written.
#[test]
fn quick_up_to_date() {
    let (t, mods) = quick_tree();
    set_mtime(&mods[0], T0);
    let args = dm(&t, &["-A"]);
    let r = ours(&t, &args);
    assert_eq!(r.status, Some(0));
    assert!(!r.outdir_exists);
    assert_eq!(r.stderr_text(), "");
    compare_with_reference_argv(&t, args);
    // Newer files that are not modules, or under build/, do not count.
    set_mtime(&mods[3], T0 + 100);
    set_mtime(&t.moddir().join("modules.order"), T0 + 100);
    compare_with_reference_argv(&t, dm(&t, &["--quick"]));
    let r = ours(&t, &dm(&t, &["-A"]));
    assert!(!r.outdir_exists);
}

/// `-A` with a newer module (in a subdirectory, in an excluded directory, compressed): a full
/// run follows.
#[test]
fn quick_outdated() {
    for i in [1, 2, 4] {
        let (t, mods) = quick_tree();
        set_mtime(&mods[i], T0 + 1);
        let args = dm(&t, &["-A"]);
        let r = ours(&t, &args);
        assert_eq!(r.status, Some(0));
        assert!(r.outdir_exists, "module {i}");
        compare_with_reference_argv(&t, args);
    }
}

/// `-A` with files: up to date → nothing; outdated → full scan, files ignored.
#[test]
fn quick_with_files() {
    let (t, mods) = quick_tree();
    let mut args = dm(&t, &["-A"]);
    args.push(s(&mods[0]).into());
    compare_with_reference_argv(&t, args.clone());
    set_mtime(&mods[1], T0 + 5);
    let r = ours(&t, &args);
    assert_eq!(r.text("modules.dep").lines().count(), 3);
    compare_with_reference_argv(&t, args);
}

/// `-A` without modules.dep: an error, then a full run.
#[test]
fn quick_missing_modules_dep() {
    let (t, _) = quick_tree();
    std::fs::remove_file(t.moddir().join("modules.dep")).unwrap();
    let args = dm(&t, &["-A"]);
    let r = ours(&t, &args);
    assert_eq!(r.status, Some(0));
    assert!(r.outdir_exists);
    assert_eq!(
        r.stderr_text(),
        format!(
            "depmod: ERROR: could not fstatat({}, modules.dep): No such file or directory\n",
            s(&t.moddir())
        )
    );
    compare_with_reference_argv(&t, args);
}

/// `-A` on a missing module directory: both checks fail, then the full run's FATAL.
#[test]
fn quick_missing_module_dir() {
    let t = tree();
    std::fs::create_dir_all(conf_dir(&t)).unwrap();
    let args = argv([
        "-b".to_string(),
        s(&t.root()),
        "-o".to_string(),
        s(&t.out_root()),
        "-C".to_string(),
        s(&conf_dir(&t)),
        "-A".to_string(),
        "9.9".to_string(),
    ]);
    compare_with_reference_argv(&t, args);
}

/// A difference from kmod (see depmod(8)): `-A -n` does the check; up to date → nothing,
/// outdated → what `-n` prints (kmod does nothing at all).
#[test]
fn deviation_quick_dry_run() {
    let (t, mods) = quick_tree();
    let r = ours(&t, &dm(&t, &["-A", "-n"]));
    assert_eq!(r.status, Some(0));
    assert_eq!(r.stdout_text(), "");
    assert_eq!(r.stderr_text(), "");
    assert!(!r.outdir_exists);
    set_mtime(&mods[0], T0 + 1);
    let quick = ours(&t, &dm(&t, &["-A", "-n"]));
    let plain = ours(&t, &dm(&t, &["-n"]));
    assert_eq!(quick.status, Some(0));
    assert!(!quick.outdir_exists);
    assert!(
        quick
            .stdout_text()
            .contains("kernel/a.ko: kernel/sub/b.ko\n")
    );
    assert_eq!(quick.stdout, plain.stdout);
    assert_eq!(quick.stderr, plain.stderr);
}

// ---------------------------------------------------------------------------------------------
// Other options
// ---------------------------------------------------------------------------------------------

/// `-v`: one stdout line per new dependency edge (absolute paths), external modules included.
#[test]
fn verbose_edge_lines() {
    let t = tree();
    let ext = t.top().join("ext");
    conf(&t, "a.conf", &format!("external * {}\n", s(&ext)));
    t.add_module(
        "kernel/a.ko",
        x86()
            .import("b1", None)
            .import("e1", None)
            .import("b2", None)
            .build(),
    );
    t.add_module("kernel/b.ko", x86().export("b1", 1).export("b2", 2).build());
    t.top_file("ext/e.ko", x86().export("e1", 1).import("b2", None).build());
    let r = ours(&t, &dm(&t, &["-v"]));
    let out = r.stdout_text();
    let root = s(&t.moddir());
    assert!(out.contains(&format!(
        "{root}/kernel/a.ko needs \"b1\": {root}/kernel/b.ko\n"
    )));
    assert_eq!(out.lines().count(), 3, "{out}");
    compare_with_reference_argv(&t, dm(&t, &["-v"]));
    compare_with_reference_argv(&t, dm(&t, &["--verbose", "-n"]));
}

/// `-w`: duplicate index values are warned about.
#[test]
fn warn_duplicates() {
    let t = tree();
    t.add_module(
        "kernel/a.ko",
        x86().alias("same-alias").alias("same-alias").build(),
    );
    t.add_module("kernel/b.ko", x86().alias("same-alias").build());
    compare_with_reference_argv(&t, dm(&t, &["-w"]));
    compare_with_reference_argv(&t, dm(&t, &["--warn"]));
    compare_with_reference_argv(&t, dm(&t, &[]));
}

/// getopt errors and depmod's own option errors: exit 1, nothing else done.
#[test]
fn bad_options() {
    let t = tree();
    std::fs::create_dir_all(conf_dir(&t)).unwrap();
    t.add_module("kernel/a.ko", m());
    for bad in [
        &["-x"][..],
        &["--foo"],
        &["--ver"],
        &["--all=1"],
        &["-P", "ab"],
        &["-P", ""],
        &["-u"],
        &["--quiet"],
        &["-vxh"],
    ] {
        compare_with_reference_argv(&t, dm(&t, bad));
    }
    // A missing argument at the very end.
    for last in ["-b", "--basedir", "-C", "-o", "-m", "-E", "-F", "-P"] {
        let mut v = dm(&t, &[]);
        v.push(last.into());
        compare_with_reference_argv(&t, v);
    }
    let r = ours(&t, &dm(&t, &["-x"]));
    assert_eq!(r.status, Some(1));
    assert_eq!(r.stderr_text(), "depmod: invalid option -- 'x'\n");
    assert!(!r.outdir_exists);
}

/// Versions that fail `%u.%u` (`Bad version passed`), and odd ones that pass.
#[test]
fn bad_and_odd_versions() {
    let t = tree();
    std::fs::create_dir_all(conf_dir(&t)).unwrap();
    for v in ["v4.4", "4", "foo", "", "4.", ".4", "4.x", "4 .4"] {
        let mut args = dm_noconf(&t, &["-C", &s(&conf_dir(&t))]);
        args.pop();
        args.push(v.into());
        let r = ours(&t, &args);
        assert_eq!(r.status, Some(1), "version {v:?}");
        assert_eq!(
            r.stderr_text(),
            format!("depmod: ERROR: Bad version passed {v}\n")
        );
        compare_with_reference_argv(&t, args);
    }
    // These pass the check (the module directory then does not exist).
    // Every byte C's isspace accepts may lead either number, `\v` and `\f` included.
    for v in [
        " 4.4",
        "4.4abc",
        "+4.4",
        "-1.2",
        "4.4.4/../4.4.4",
        "4.-4",
        "\u{b}4.4",
        "\u{c}4.\u{b}4",
        "\r\n4.\t4",
    ] {
        let mut args = dm_noconf(&t, &["-C", &s(&conf_dir(&t))]);
        args.pop();
        args.push("--".into());
        args.push(v.into());
        compare_with_reference_argv(&t, args);
    }
}

/// `-o` creates its directory chain; a trailing slash doubles it in paths.
#[test]
fn outdir_created() {
    let t = tree();
    std::fs::create_dir_all(conf_dir(&t)).unwrap();
    t.add_module("kernel/a.ko", x86().import("bsym", None).build());
    t.add_module("kernel/b.ko", x86().export("bsym", 1).build());
    let deep = t.out_root().join("x/y");
    let args = argv([
        "-b".to_string(),
        s(&t.root()),
        format!("--outdir={}/", s(&deep)),
        "-C".to_string(),
        s(&conf_dir(&t)),
        KVER.to_string(),
    ]);
    let opts = RunOptions {
        out_moddir: Some(deep.join("lib/modules").join(KVER)),
        ..RunOptions::default()
    };
    let r = ours_with(&t, &args, &opts);
    assert_eq!(r.status, Some(0));
    assert!(r.outdir_exists);
    assert!(r.text("modules.dep").contains("kernel/a.ko: kernel/b.ko\n"));
    compare_with_reference_opts(&t, args, &opts);
}

/// `-m` absolute, relative and with several leading slashes: always below the base directory,
/// for the inputs and the outputs.
#[test]
fn moduledir_absolute_and_relative() {
    let t = tree();
    std::fs::create_dir_all(conf_dir(&t)).unwrap();
    let input = t.root().join("usr/lib/modules").join(KVER);
    std::fs::create_dir_all(input.join("kernel")).unwrap();
    std::fs::write(input.join("kernel/a.ko"), m()).unwrap();
    std::fs::write(input.join("modules.order"), "kernel/a.ko\n").unwrap();
    let opts = RunOptions {
        out_moddir: Some(t.out_root().join("usr/lib/modules").join(KVER)),
        ..RunOptions::default()
    };
    for mdir in ["/usr/lib/modules", "usr/lib/modules", "///usr/lib/modules"] {
        let args = dm(&t, &["-m", mdir]);
        let r = ours_with(&t, &args, &opts);
        assert_eq!(r.status, Some(0), "{}", r.stderr_text());
        assert_eq!(r.text("modules.dep"), "kernel/a.ko:\n");
        compare_with_reference_opts(&t, args, &opts);
    }
    compare_with_reference_argv(&t, dm(&t, &["--moduledir=/nowhere"]));
}

/// `-b` relative to the working directory (no normalisation), and the working directory as
/// `$PWD` names it when it is reached through a symbolic link (glibc `get_current_dir_name`).
#[test]
fn basedir_relative() {
    let t = tree();
    std::fs::create_dir_all(conf_dir(&t)).unwrap();
    t.add_module("kernel/a.ko", x86().import("bsym", None).build());
    t.add_module("kernel/b.ko", x86().export("bsym", 1).build());
    // Relative to the working directory (the tree's top).
    for b in ["root", "./root/", "root/../root"] {
        let args = argv(["-b", b, "-o", "out", "-C", "conf", "-v", KVER]);
        let r = ours(&t, &args);
        assert_eq!(r.status, Some(0), "{}", r.stderr_text());
        assert!(
            r.stdout_text().starts_with(&format!(
                "{}/{b}/lib/modules/4.4.4/kernel/a.ko needs",
                s(t.top())
            )),
            "{}",
            r.stdout_text()
        );
        compare_with_reference_argv(&t, args);
    }
    // From a subdirectory reached through a symlink, with $PWD naming the link.
    std::fs::create_dir_all(t.top().join("real/sub")).unwrap();
    std::os::unix::fs::symlink(t.top().join("real"), t.top().join("link")).unwrap();
    let cwd = t.top().join("link/sub");
    for (pwd, label) in [(cwd.clone(), "link"), (t.top().join("elsewhere"), "real")] {
        let opts = RunOptions {
            cwd: Some(cwd.clone()),
            env: vec![("PWD".into(), pwd.into_os_string())],
            ..RunOptions::default()
        };
        let args = argv([
            "-b",
            "../../root",
            "-o",
            "../../out",
            "-C",
            "../../conf",
            "-v",
            KVER,
        ]);
        let r = ours_with(&t, &args, &opts);
        assert_eq!(r.status, Some(0), "{}", r.stderr_text());
        assert!(
            r.stdout_text()
                .starts_with(&format!("{}/{label}/sub/../../root/", s(t.top()))),
            "{}",
            r.stdout_text()
        );
        compare_with_reference_opts(&t, args, &opts);
    }
    // A relative base directory that does not exist.
    let args = argv(["-b", "nowhere", "-o", "out", "-C", "conf", KVER]);
    check_err(
        &t,
        args,
        1,
        &format!(
            "depmod: ERROR: could not open directory {d}/nowhere/lib/modules/4.4.4: No such file or directory\n\
             depmod: FATAL: could not search modules: No such file or directory\n",
            d = s(t.top())
        ),
    );
}

/// `POSIXLY_CORRECT`: options stop at the first non-option (the version), so later options are
/// taken as module paths.
#[test]
fn posixly_correct_stops_at_version() {
    let t = tree();
    std::fs::create_dir_all(conf_dir(&t)).unwrap();
    let a = t.add_module("kernel/a.ko", m());
    let opts = RunOptions {
        env: vec![("POSIXLY_CORRECT".into(), "1".into())],
        ..RunOptions::default()
    };
    let mut args = dm(&t, &[]);
    args.extend(argv(["-v".to_string(), s(&a)]));
    let r = ours_with(&t, &args, &opts);
    assert_eq!(r.status, Some(1));
    assert_eq!(r.stderr_text(), "depmod: FATAL: -v: not absolute path.\n");
    compare_with_reference_opts(&t, args, &opts);
    let mut args = dm(&t, &[]);
    args.push(s(&a).into());
    compare_with_reference_opts(&t, args, &opts);
}

/// `-b ''` is the working directory plus `/` (`<cwd>//lib/modules/...`).
#[test]
fn basedir_empty_string() {
    let t = tree();
    std::fs::create_dir_all(conf_dir(&t)).unwrap();
    t.add_module("kernel/a.ko", x86().import("bsym", None).build());
    t.add_module("kernel/b.ko", x86().export("bsym", 1).build());
    let opts = RunOptions {
        cwd: Some(t.root()),
        ..RunOptions::default()
    };
    let args = argv([
        "-b".to_string(),
        String::new(),
        "-o".to_string(),
        s(&t.out_root()),
        "-C".to_string(),
        s(&conf_dir(&t)),
        "-v".to_string(),
        KVER.to_string(),
    ]);
    let r = ours_with(&t, &args, &opts);
    assert_eq!(r.status, Some(0), "{}", r.stderr_text());
    assert!(
        r.stdout_text()
            .starts_with(&format!("{}//lib/modules/{KVER}/kernel/", s(&t.root()))),
        "{}",
        r.stdout_text()
    );
    compare_with_reference_opts(&t, args, &opts);
}

/// `-A` compares whole seconds: a module a fraction of a second newer than modules.dep does not
/// count; a symbolic link to a newer module does.
#[test]
fn quick_whole_seconds_and_links() {
    let (t, mods) = quick_tree();
    let dep = t.moddir().join("modules.dep");
    let at = |p: &Path, secs: u64, nanos: u32| {
        let f = std::fs::File::options().write(true).open(p).unwrap();
        f.set_modified(SystemTime::UNIX_EPOCH + Duration::new(secs, nanos))
            .unwrap();
    };
    at(&dep, T0, 100_000_000);
    at(&mods[0], T0, 900_000_000);
    let r = ours(&t, &dm(&t, &["-A"]));
    assert!(!r.outdir_exists);
    compare_with_reference_argv(&t, dm(&t, &["-A"]));
    let newer = t.top_file("newer/n.ko", m());
    set_mtime(&newer, T0 + 50);
    std::os::unix::fs::symlink(&newer, t.moddir().join("kernel/n.ko")).unwrap();
    let r = ours(&t, &dm(&t, &["-A"]));
    assert!(r.outdir_exists);
    compare_with_reference_argv(&t, dm(&t, &["-A"]));
}

/// Files mode with modules outside a module directory that does not exist: kmod opens the
/// directory before each of its files (modules.order, modules.builtin, .modinfo), and its
/// warning names the directory, not the file.
#[test]
fn files_mode_without_module_directory() {
    let t = tree();
    let junk = t.top_file("junk.ko", "not an ELF file\n");
    let good = t.top_file("good.ko", m());
    std::fs::remove_dir_all(t.moddir()).unwrap();
    for extra in [&[][..], &["-n"][..]] {
        let mut args = dm_noconf(&t, extra);
        args.extend(argv([&junk, &good]));
        compare_with_reference_argv(&t, args);
    }
}
