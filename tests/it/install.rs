//! The Makefile for packagers: `make install` into a temporary `DESTDIR` puts the binary, the
//! manual pages and the completions where the directory variables say, with the right modes,
//! and `make uninstall` leaves the `DESTDIR` exactly as it was, including unrelated files and
//! directories that were there before. `scripts/make-deb` (`make deb`) packs that install into
//! a Debian package whose diversions cover exactly the files it shares with kmod's package.
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

/// The files of a Debian package (`dpkg-deb -c`), as absolute paths, with the target of each
/// link.
fn deb_files(deb: &Path) -> BTreeMap<String, Option<String>> {
    let out = Command::new("dpkg-deb")
        .arg("-c")
        .arg(deb)
        .output()
        .unwrap();
    assert!(out.status.success(), "dpkg-deb -c {}", deb.display());
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| !l.starts_with('d'))
        .map(|l| {
            // "-rw-r--r-- root/root 123 2026-01-01 00:00 ./usr/x" or "... ./a -> b"
            let path = l.split_whitespace().skip(5).collect::<Vec<_>>().join(" ");
            let (path, target) = match path.split_once(" -> ") {
                Some((p, t)) => (p.to_string(), Some(t.to_string())),
                None => (path, None),
            };
            (path.trim_start_matches('.').to_string(), target)
        })
        .collect()
}

/// One field of a package's control file.
fn deb_field(deb: &Path, field: &str) -> String {
    let out = Command::new("dpkg-deb")
        .arg("-f")
        .arg(deb)
        .arg(field)
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// One control member of a package (`conffiles`, `preinst`, ...).
fn deb_control_file(deb: &Path, name: &str) -> String {
    let out = Command::new("dpkg-deb")
        .arg("--info")
        .arg(deb)
        .arg(name)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "dpkg-deb --info {} {name}",
        deb.display()
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn make_deb_diverts_exactly_the_files_it_shares_with_kmod() {
    // The package is installed for real by tests/debian/e2e (as root, in a chroot); this
    // checks what it is made of, in seconds: its files, that every file it shares with kmod's
    // package is diverted (dpkg would refuse to overwrite it otherwise) and nothing else is,
    // the maintainer scripts, the conffiles and the dependencies.
    if !have_make()
        || !have_tool("dpkg-deb", "--version", "dpkg", "make deb not tested")
        || !have_tool(
            "dpkg-shlibdeps",
            "--version",
            "dpkg-dev",
            "make deb not tested",
        )
    {
        return;
    }
    let Some(reference) = crate::support::inputs::reference_or_skip("make deb against kmod") else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let out = Command::new(repo().join("scripts/make-deb"))
        .arg(crate::support::our_bin())
        .env("DEB_OUT", tmp.path())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "make-deb: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let deb = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
    assert!(deb.starts_with(tmp.path()), "{}", deb.display());

    let ours = deb_files(&deb);
    for f in [
        "/usr/sbin/depmod",
        "/usr/share/man/man8/depmod.8.gz",
        "/usr/share/man/man5/depmod.d.5.gz",
        "/usr/share/man/man5/modules.dep.5.gz",
        "/usr/share/bash-completion/completions/depmod",
        "/usr/share/zsh/vendor-completions/_depmod",
        "/usr/share/fish/vendor_completions.d/depmod.fish",
        "/etc/kernel/postrm.d/depmod-rs-cache",
        "/usr/lib/kernel/install.d/50-depmod-rs-cache.install",
        "/usr/share/doc/depmod-rs/copyright",
        "/usr/share/doc/depmod-rs/changelog.gz",
    ] {
        assert!(ours.contains_key(f), "{f} not in the package: {ours:?}");
    }
    assert_eq!(
        deb_control_file(&deb, "conffiles").trim(),
        "/etc/kernel/postrm.d/depmod-rs-cache"
    );
    assert_eq!(deb_field(&deb, "Package"), "depmod-rs");
    let depends = deb_field(&deb, "Depends");
    assert!(depends.contains("libc6 (>= "), "{depends}");
    // kmod 34 must be unpacked first: kmod 30 ships /sbin/depmod, which on a merged-/usr
    // system is the same file as our /usr/sbin/depmod, and unpacking kmod 34 over it would
    // remove it as an obsolete file of kmod.
    assert_eq!(deb_field(&deb, "Pre-Depends"), "kmod (>= 34)");

    // kmod's own package, as the reference was fetched.
    let debs = reference.parent().unwrap().join("debs");
    let kmod_deb = std::fs::read_dir(&debs)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("kmod_"))
        })
        .unwrap_or_else(|| panic!("no kmod_*.deb in {}", debs.display()));
    let kmod = deb_files(&kmod_deb);
    let shared: Vec<&String> = ours.keys().filter(|f| kmod.contains_key(*f)).collect();
    let list = std::fs::read_to_string(repo().join("packaging/debian/diversions")).unwrap();
    let diverted: BTreeMap<&str, &str> = list
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .map(|l| l.split_once(' ').expect("PATH DIVERTED-TO"))
        .collect();
    assert_eq!(
        shared,
        diverted.keys().copied().collect::<Vec<_>>(),
        "the files shared with kmod must be exactly the diverted ones"
    );
    // kmod's depmod goes where its relative link still resolves, under the name kmod reads.
    let link = kmod["/usr/sbin/depmod"]
        .as_deref()
        .expect("kmod's depmod is a link");
    let moved = Path::new(diverted["/usr/sbin/depmod"]);
    assert_eq!(moved.file_name().unwrap(), "depmod");
    let resolved = moved.parent().unwrap().join(link);
    let resolved: PathBuf = resolved.components().fold(PathBuf::new(), |mut p, c| {
        match c {
            std::path::Component::ParentDir => {
                p.pop();
            }
            c => p.push(c),
        }
        p
    });
    assert_eq!(resolved, Path::new("/usr/bin/kmod"));
    assert!(kmod.contains_key("/usr/bin/kmod"));

    // The maintainer scripts parse, and each diverts (or gives back) every listed file.
    for (script, action) in [("preinst", "--add"), ("postrm", "--remove")] {
        let text = deb_control_file(&deb, script);
        let check = Command::new("sh")
            .args(["-n", "-c", &text])
            .status()
            .unwrap();
        assert!(check.success(), "{script} does not parse:\n{text}");
        assert!(text.contains(action), "{script}:\n{text}");
        for (path, to) in &diverted {
            assert!(
                text.contains(&format!("divert {path} {to}\n")),
                "{script} does not divert {path}:\n{text}"
            );
        }
    }
}
