//! The scan cache on by default where depmod indexes the running system, for real: depmod runs
//! without `-b` in a private mount namespace (`unshare -m`) where a test tree is mounted over
//! `/lib/modules` (on a merged-/usr system the same directory as `/usr/lib/modules`). Also:
//! a rerun that changes nothing replaces nothing, and `-A` afterwards sees the tree as current.

use crate::support::skip::{Missing, skip};
use crate::support::*;
use std::ffi::OsString;
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::process::{Command, Output};

const CACHE: &str = "modules.scan-cache";

fn x86() -> ModuleBuilder {
    ModuleBuilder::new(Arch::X86_64)
}

/// A small tree whose files are old enough for the cache to record them (it skips files
/// changed less than two whole seconds before the run).
fn settled_tree() -> Tree {
    let t = Tree::new();
    t.add_module(
        "kernel/a.ko",
        x86().export("fa", 1).alias("pci:v1d*").build(),
    );
    t.add_module("kernel/b.ko", x86().import("fa", Some(1)).build());
    t.add_module("updates/c.ko", x86().import("fb_missing", None).build());
    t.modules_order(&["kernel/a.ko", "kernel/b.ko"]);
    t.modules_builtin("kernel/x.ko\n");
    t.modules_builtin_modinfo(b"x.alias=y\0".as_slice());
    std::thread::sleep(std::time::Duration::from_millis(3100));
    t
}

/// `(inode, mtime in ns)` of every output.
fn identities(dir: &Path) -> Vec<(&'static str, u64, i128)> {
    OUTPUTS
        .iter()
        .map(|name| {
            let m = std::fs::metadata(dir.join(name)).unwrap_or_else(|e| panic!("{name}: {e}"));
            (
                *name,
                m.ino(),
                i128::from(m.mtime()) * 1_000_000_000 + i128::from(m.mtime_nsec()),
            )
        })
        .collect()
}

fn ours(args: &[OsString], env: &[(&str, &str)]) -> Output {
    let out = Command::new(our_bin())
        .args(args)
        .env("LC_ALL", "C")
        .env_remove("DEPMOD_CACHE")
        .envs(env.iter().copied())
        .output()
        .expect("run depmod");
    assert!(
        out.status.code() == Some(0),
        "depmod {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// An unchanged rerun leaves every output's inode and time as they were; a module touched
/// without a change gives modules.dep the current time only (so that `-A` stays meaningful);
/// `-A` then does nothing.
#[test]
fn unchanged_rerun_replaces_nothing() {
    let t = settled_tree();
    let moddir = t.moddir();
    let args = argv(["-b".as_ref(), t.root().as_os_str(), t.version().as_ref()]);
    ours(&args, &[]);
    let first = identities(&moddir);
    let entries = || std::fs::read_dir(&moddir).unwrap().flatten().count();
    let before = entries();
    ours(&args, &[]);
    assert_eq!(
        identities(&moddir),
        first,
        "an unchanged rerun replaced outputs"
    );
    assert_eq!(entries(), before, "temporary files left behind");
    // With the cache too (on here only because asked for).
    ours(&args, &[("DEPMOD_CACHE", "1")]);
    assert!(moddir.join(CACHE).is_file());
    let with_cache = identities(&moddir);
    assert_eq!(with_cache, first);
    ours(&args, &[("DEPMOD_CACHE", "1")]);
    assert_eq!(identities(&moddir), first);

    // A module rewritten with the same bytes, one second later than modules.dep.
    let dep_time = std::fs::metadata(moddir.join("modules.dep"))
        .unwrap()
        .mtime();
    let a = moddir.join("kernel/a.ko");
    crate::support::tree::set_mtime(&a, (dep_time + 1) as u64);
    // The rerun's clock must have reached that second (`-A` compares whole seconds).
    std::thread::sleep(std::time::Duration::from_millis(1100));
    let mut quick = args.clone();
    quick.insert(0, "-A".into());
    ours(&args, &[]);
    let touched = identities(&moddir);
    for (old, new) in first.iter().zip(&touched) {
        assert_eq!(old.1, new.1, "{}: replaced", old.0);
        if old.0 == "modules.dep" {
            assert!(
                new.2 > old.2,
                "modules.dep keeps its old time: -A would run again"
            );
        } else {
            assert_eq!(old.2, new.2, "{}: time changed", old.0);
        }
    }
    // `-A` finds the tree current: it changes nothing (even a removed output stays removed).
    std::fs::remove_file(moddir.join("modules.devname")).unwrap();
    ours(&quick, &[]);
    assert!(
        !moddir.join("modules.devname").exists(),
        "-A ran on a current tree"
    );
}

/// Whether a private mount namespace can be made here (root, and `unshare` works).
fn namespaces() -> bool {
    rustix::process::geteuid().is_root()
        && Command::new("unshare")
            .args(["-m", "--propagation", "private", "true"])
            .status()
            .is_ok_and(|s| s.success())
}

/// Run our depmod with `args` in a private mount namespace where `tree`'s `lib/modules` is
/// mounted over `/lib/modules`.
fn namespace_run(tree: &Tree, args: &[&str], env: &[(&str, &str)]) -> Output {
    namespace_exec(tree, &our_bin(), args, env)
}

/// Run `program` with `args` in such a namespace.
fn namespace_exec(tree: &Tree, program: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    let script = r#"set -e; src=$1; shift; mount --bind "$src" /lib/modules; exec "$@""#;
    Command::new("unshare")
        .args(["-m", "--propagation", "private", "sh", "-c", script, "sh"])
        .arg(tree.root().join("lib/modules"))
        .arg(program)
        .args(args)
        .env("LC_ALL", "C")
        .env_remove("DEPMOD_CACHE")
        .envs(env.iter().copied())
        .output()
        .expect("run unshare")
}

/// [`namespace_run`], which must succeed.
fn in_namespace(tree: &Tree, args: &[&str], env: &[(&str, &str)]) -> Output {
    let out = namespace_run(tree, args, env);
    assert!(
        out.status.success(),
        "depmod {args:?} in a namespace: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

#[test]
fn cache_is_on_by_default_for_the_running_system_only() {
    if !namespaces() {
        skip(
            Missing::Mount,
            "a private mount namespace (unshare -m, as root) to index a tree as /lib/modules",
        );
        return;
    }
    // /lib/modules must exist to be mounted over; on a machine without one, make it once.
    let _ = std::fs::create_dir_all("/lib/modules");
    let t = settled_tree();
    let v = t.version().to_string();
    let cache = t.moddir().join(CACHE);

    // The running system's indexes: the cache is written, and a rerun uses it.
    in_namespace(&t, &[&v], &[]);
    assert!(cache.is_file(), "depmod VERSION wrote no cache");
    let rerun = in_namespace(&t, &["-vv", &v], &[]);
    let err = String::from_utf8_lossy(&rerun.stderr);
    assert!(err.contains("cache: reused 3 of 3 modules"), "{err}");
    // The same with `-b /` and with the merged-/usr path of the module directory.
    std::fs::remove_file(&cache).unwrap();
    in_namespace(&t, &["-b", "/", &v], &[]);
    assert!(cache.is_file(), "-b / wrote no cache");
    std::fs::remove_file(&cache).unwrap();
    in_namespace(&t, &["-m", "/usr/lib/modules", &v], &[]);
    assert!(cache.is_file(), "-m /usr/lib/modules wrote no cache");

    // Runs that do not write it: another root, another output directory, -n, --check,
    // files mode, and the cache turned off.
    std::fs::remove_file(&cache).unwrap();
    let out = tempfile::tempdir().unwrap();
    let out_s = out.path().to_str().unwrap().to_string();
    let root_s = t.root().to_str().unwrap().to_string();
    let module = format!("/lib/modules/{v}/kernel/a.ko");
    for (args, env) in [
        (vec!["-b", &root_s, &v], vec![]),
        (vec!["-o", &out_s, &v], vec![]),
        (vec!["-n", &v], vec![]),
        (vec!["--check", &v], vec![]),
        (vec![&v, &module], vec![]),
        (vec![&v], vec![("DEPMOD_CACHE", "0")]),
        (vec!["--no-cache", &v], vec![]),
        (vec!["--no-cache", &v], vec![("DEPMOD_CACHE", "1")]),
    ] {
        // (--check exits 1 when an output would change.)
        let run = namespace_run(&t, &args, &env);
        assert!(
            matches!(run.status.code(), Some(0 | 1)),
            "{args:?}: {}",
            String::from_utf8_lossy(&run.stderr)
        );
        assert!(!cache.exists(), "depmod {args:?} {env:?} wrote the cache");
    }
    // Turned on explicitly, another root gets it too.
    in_namespace(&t, &["--cache", "-b", &root_s, &v], &[]);
    assert!(cache.is_file(), "--cache -b ROOT wrote no cache");

    // The hooks that remove the cache with its kernel (Debian's postrm.d, kernel-install).
    let hooks = Path::new(env!("CARGO_MANIFEST_DIR")).join("hooks");
    for (hook, args) in [
        (
            "kernel-postrm.d-depmod-rs-cache",
            vec![v.as_str(), "/boot/vmlinuz"],
        ),
        ("50-depmod-rs-cache.install", vec!["remove", v.as_str()]),
    ] {
        in_namespace(&t, &["--cache", &v], &[]);
        assert!(cache.is_file());
        let ran = namespace_exec(&t, &hooks.join(hook), &["add", &v], &[]);
        assert!(ran.status.success(), "{hook} add");
        if hook.ends_with(".install") {
            assert!(cache.is_file(), "{hook} removed the cache on add");
        }
        let ran = namespace_exec(&t, &hooks.join(hook), &args, &[]);
        assert!(
            ran.status.success(),
            "{hook}: {}",
            String::from_utf8_lossy(&ran.stderr)
        );
        assert!(!cache.exists(), "{hook} left the cache");
        assert!(moddir_has_indexes(&t), "{hook} removed more than the cache");
    }
}

fn moddir_has_indexes(t: &Tree) -> bool {
    OUTPUTS.iter().all(|name| t.moddir().join(name).is_file())
}
