//! The Makefile for packagers: `make install` into a temporary `DESTDIR` puts the binary, the
//! manual pages and the completions where the directory variables say, with the right modes,
//! and `make uninstall` leaves the `DESTDIR` exactly as it was, including unrelated files and
//! directories that were there before.
//!
//! `CARGO=false` is passed so that a build attempt fails: install must use the binary named
//! by `DEPMOD_BIN` (the one cargo built for these tests) and not run cargo. Without `make`
//! the tests are skipped (see `support::skip`), except under `CI=true`, where they fail.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use crate::support::skip::have_tool;
use std::process::Command;

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn have_make() -> bool {
    have_tool("make", "--version", "make", "Makefile not tested")
}

/// Variables of the Makefile a caller's environment could set; cleared so that only the
/// command line decides.
const MAKE_VARS: &[&str] = &[
    "PREFIX",
    "DESTDIR",
    "SBINDIR",
    "MANDIR",
    "DATADIR",
    "BASHCOMPDIR",
    "ZSHCOMPDIR",
    "FISHCOMPDIR",
    "CARGO",
    "DEPMOD_BIN",
    "MODULE_DIR",
    "INSTALL",
    "STATEDIR",
    // An enclosing make (`make check`) passes its flags and jobserver down.
    "MAKEFLAGS",
    "MFLAGS",
    "MAKELEVEL",
    "MAKEOVERRIDES",
];

/// `make <target> <vars...>` in the repository root; panics with its output on failure.
fn make(target: &str, vars: &[(&str, OsString)]) {
    let mut cmd = Command::new("make");
    cmd.current_dir(repo()).arg(target);
    for v in MAKE_VARS {
        cmd.env_remove(v);
    }
    for (k, v) in vars {
        let mut arg = OsString::from(format!("{k}="));
        arg.push(v);
        cmd.arg(arg);
    }
    let out = cmd.output().expect("run make");
    assert!(
        out.status.success(),
        "make {target} {vars:?}: {}\nstdout:\n{}\nstderr:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// One entry of a tree: kind, permission bits, and the bytes of a file or a link's target.
#[derive(Debug, PartialEq, Eq)]
struct Entry {
    kind: char,
    mode: u32,
    data: Vec<u8>,
}

/// Every entry below `root` (relative paths, `root` itself included as "").
fn snapshot(root: &Path) -> BTreeMap<PathBuf, Entry> {
    fn walk(root: &Path, dir: &Path, out: &mut BTreeMap<PathBuf, Entry>) {
        let meta = std::fs::symlink_metadata(dir).unwrap();
        out.insert(
            dir.strip_prefix(root).unwrap().to_path_buf(),
            Entry {
                kind: 'd',
                mode: meta.mode() & 0o7777,
                data: Vec::new(),
            },
        );
        for e in std::fs::read_dir(dir).unwrap() {
            let path = e.unwrap().path();
            let meta = std::fs::symlink_metadata(&path).unwrap();
            let rel = path.strip_prefix(root).unwrap().to_path_buf();
            let mode = meta.mode() & 0o7777;
            if meta.is_dir() {
                walk(root, &path, out);
            } else if meta.file_type().is_symlink() {
                let target = std::fs::read_link(&path).unwrap();
                let data = target.into_os_string().into_encoded_bytes();
                out.insert(
                    rel,
                    Entry {
                        kind: 'l',
                        mode,
                        data,
                    },
                );
            } else {
                let data = std::fs::read(&path).unwrap();
                out.insert(
                    rel,
                    Entry {
                        kind: 'f',
                        mode,
                        data,
                    },
                );
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(root, root, &mut out);
    out
}

/// What install must create: (path under DESTDIR, mode, source file in the repository).
/// A completion script is expected only if the repository has it.
fn expected(sbindir: &str, mandir: &str, datadir: &str) -> Vec<(PathBuf, u32, PathBuf)> {
    let d = |s: &str| PathBuf::from(s.trim_start_matches('/'));
    let mut v = vec![
        (
            d(sbindir).join("depmod"),
            0o755,
            PathBuf::from(env!("CARGO_BIN_EXE_depmod")),
        ),
        (
            d(mandir).join("man8/depmod.8"),
            0o644,
            repo().join("man/depmod.8"),
        ),
        (
            d(mandir).join("man5/depmod.d.5"),
            0o644,
            repo().join("man/depmod.d.5"),
        ),
        (
            d(mandir).join("man5/modules.dep.5"),
            0o644,
            repo().join("man/modules.dep.5"),
        ),
    ];
    for (src, dst) in [
        (
            "completions/depmod.bash",
            "bash-completion/completions/depmod",
        ),
        ("completions/_depmod", "zsh/vendor-completions/_depmod"),
        (
            "completions/depmod.fish",
            "fish/vendor_completions.d/depmod.fish",
        ),
    ] {
        v.push((d(datadir).join(dst), 0o644, repo().join(src)));
    }
    v
}

/// Checks the installed files against `expected`; returns the problems.
fn check_installed(dest: &Path, expected: &[(PathBuf, u32, PathBuf)]) -> Vec<String> {
    let mut problems = Vec::new();
    for (rel, mode, src) in expected {
        let path = dest.join(rel);
        if !src.exists() {
            if path.exists() {
                problems.push(format!(
                    "{} installed but {} does not exist",
                    rel.display(),
                    src.display()
                ));
            }
            continue;
        }
        let Ok(meta) = std::fs::symlink_metadata(&path) else {
            problems.push(format!("{} was not installed", rel.display()));
            continue;
        };
        if !meta.is_file() {
            problems.push(format!("{} is not a regular file", rel.display()));
            continue;
        }
        let got = meta.permissions().mode() & 0o7777;
        if got != *mode {
            problems.push(format!(
                "{} has mode {got:o}, expected {mode:o}",
                rel.display()
            ));
        }
        if std::fs::read(&path).unwrap() != std::fs::read(src).unwrap() {
            problems.push(format!("{} differs from {}", rel.display(), src.display()));
        }
    }
    problems
}

/// The installed binary runs and prints kmod's version line first.
fn check_runs(bin: &Path) {
    let out = Command::new(bin)
        .arg("--version")
        .output()
        .unwrap_or_else(|e| panic!("run {}: {e}", bin.display()));
    assert!(
        out.status.success(),
        "{} --version: {}",
        bin.display(),
        out.status
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(stdout.lines().next(), Some("kmod version 34.2"), "{stdout}");
}

fn base_vars(dest: &Path) -> Vec<(&'static str, OsString)> {
    vec![
        ("DESTDIR", dest.as_os_str().to_owned()),
        ("PREFIX", "/usr".into()),
        ("DEPMOD_BIN", env!("CARGO_BIN_EXE_depmod").into()),
        ("CARGO", "false".into()),
    ]
}

#[test]
fn install_then_uninstall_leaves_destdir_as_it_was() {
    if !have_make() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let dest = tmp.path();
    // Unrelated things that must survive: a file next to our man page, the (empty) directory
    // our binary goes to, an empty directory above a completion directory, an unrelated
    // empty directory.
    std::fs::create_dir_all(dest.join("usr/share/man/man8")).unwrap();
    std::fs::write(dest.join("usr/share/man/man8/other.8"), ".TH OTHER 8\n").unwrap();
    std::fs::create_dir_all(dest.join("usr/sbin")).unwrap();
    std::fs::create_dir_all(dest.join("usr/share/zsh")).unwrap();
    std::fs::create_dir_all(dest.join("var/empty")).unwrap();
    let before = snapshot(dest);

    let vars = base_vars(dest);
    make("install", &vars);
    // A second install changes nothing and does not spoil the uninstall record.
    make("install", &vars);
    let problems = check_installed(dest, &expected("/usr/sbin", "/usr/share/man", "/usr/share"));
    assert!(problems.is_empty(), "{}", problems.join("\n"));
    check_runs(&dest.join("usr/sbin/depmod"));
    assert!(dest.join("usr/share/man/man8/other.8").is_file());
    // The hooks that remove the scan cache with its kernel, executable, as shipped.
    for (path, src) in [
        (
            "etc/kernel/postrm.d/depmod-rs-cache",
            "hooks/kernel-postrm.d-depmod-rs-cache",
        ),
        (
            "usr/lib/kernel/install.d/50-depmod-rs-cache.install",
            "hooks/50-depmod-rs-cache.install",
        ),
    ] {
        let meta = std::fs::metadata(dest.join(path)).unwrap_or_else(|e| panic!("{path}: {e}"));
        assert_eq!(meta.permissions().mode() & 0o777, 0o755, "{path}");
        assert_eq!(
            std::fs::read(dest.join(path)).unwrap(),
            std::fs::read(repo().join(src)).unwrap(),
            "{path}"
        );
    }

    make("uninstall", &vars);
    let after = snapshot(dest);
    assert_eq!(
        before.keys().collect::<Vec<_>>(),
        after.keys().collect::<Vec<_>>(),
        "uninstall did not restore the tree"
    );
    assert_eq!(before, after, "uninstall did not restore the tree");
}

#[test]
fn install_honours_sbindir_and_mandir() {
    if !have_make() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let dest = tmp.path().join("stage");
    std::fs::create_dir(&dest).unwrap();
    let before = snapshot(&dest);

    let mut vars = base_vars(&dest);
    vars.push(("SBINDIR", "/opt/depmod-rs/bin".into()));
    vars.push(("MANDIR", "/opt/depmod-rs/man".into()));
    vars.push(("DATADIR", "/opt/depmod-rs/share".into()));
    vars.push(("POSTRMDIR", "/opt/depmod-rs/etc/postrm.d".into()));
    vars.push(("KERNELINSTALLDIR", "/opt/depmod-rs/lib/install.d".into()));
    make("install", &vars);
    let problems = check_installed(
        &dest,
        &expected(
            "/opt/depmod-rs/bin",
            "/opt/depmod-rs/man",
            "/opt/depmod-rs/share",
        ),
    );
    assert!(problems.is_empty(), "{}", problems.join("\n"));
    check_runs(&dest.join("opt/depmod-rs/bin/depmod"));
    // Nothing went to the PREFIX defaults.
    assert!(!dest.join("usr").exists(), "{:?}", snapshot(&dest).keys());

    make("uninstall", &vars);
    assert_eq!(
        before,
        snapshot(&dest),
        "uninstall did not restore the tree"
    );
}

#[test]
fn uninstall_without_install_changes_nothing() {
    if !have_make() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let dest = tmp.path();
    std::fs::create_dir_all(dest.join("usr/share/man/man5")).unwrap();
    std::fs::write(dest.join("usr/share/man/man5/other.5"), "x\n").unwrap();
    std::fs::create_dir_all(dest.join("usr/sbin")).unwrap();
    let before = snapshot(dest);
    make("uninstall", &base_vars(dest));
    assert_eq!(before, snapshot(dest));
}
