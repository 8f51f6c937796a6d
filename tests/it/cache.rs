//! The scan cache (`--cache`, `DEPMOD_CACHE=1`) and `--check`, run through the real binary.
//!
//! Every cached run is compared with a cold run (no cache, fresh output directory) on the
//! same tree with the same options: all eleven outputs and the messages must be equal,
//! whatever changed since the cache was written. Each test also asserts how many modules
//! the cache served (`-vv` prints `cache: reused N of M modules`), so that a cache that is
//! silently never used cannot pass.
//!
//! A file is only stored once a later change could not get the same change time: on a
//! local filesystem once the clock has passed its timestamp's tick, elsewhere once it is 2 s
//! old (`cache::SETTLE_SECS`). Each test lets its freshly built tree settle for the longer,
//! whatever the temporary directory is on; `a_module_changed_a_moment_before_is_stored`
//! checks the short wait.

use std::collections::BTreeMap;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, SystemTime};

use crate::support::compress::xz;
use crate::support::{Arch, ModuleBuilder, OUTPUTS, Tree, our_bin};

const CACHE: &str = "modules.scan-cache";

/// A module exporting `exports`, importing `imports`, with `aliases`.
fn module(exports: &[&str], imports: &[&str], aliases: &[&str]) -> Vec<u8> {
    let mut b = ModuleBuilder::new(Arch::X86_64);
    for (i, e) in exports.iter().enumerate() {
        b = b.export(e, 0x1000 + i as u32);
    }
    for i in imports {
        b = b.import(i, Some(0x1000));
    }
    for a in aliases {
        b = b.alias(a);
    }
    b.build()
}

/// A small tree: a chain c → b → a, an xz module, a module with aliases, one that is not
/// ELF (a load error, which the cache stores too) and one importing a kernel symbol.
fn fixture() -> Tree {
    let t = Tree::new();
    t.add_module("kernel/a.ko", module(&["a_fn"], &[], &["pci:v0000AAAAd*"]));
    t.add_module("kernel/b.ko", module(&["b_fn"], &["a_fn"], &[]));
    t.add_module(
        "kernel/sub/c.ko",
        module(&[], &["b_fn", "a_fn"], &["c-alias"]),
    );
    t.add_module(
        "kernel/d.ko.xz",
        xz(&module(&["d_fn"], &["b_fn"], &["usb:v1234p*"])),
    );
    t.add_module("kernel/junk.ko", b"this is not an ELF file at all\n");
    t.add_module("kernel/k.ko", module(&[], &["printk", "a_fn"], &[]));
    t.modules_order(&["kernel/a.ko", "kernel/b.ko", "kernel/sub/c.ko"]);
    t.system_map(&["printk"]);
    t
}

/// Wait until every file under the tree changed at least 2 s ago (plus a margin), which
/// settles it on any filesystem.
fn settle() {
    std::thread::sleep(Duration::from_millis(3100));
}

static COLD: AtomicUsize = AtomicUsize::new(0);

/// What one run left: outputs, messages, status.
#[derive(Debug)]
struct Result {
    outputs: BTreeMap<&'static str, Option<Vec<u8>>>,
    stderr: String,
    status: i32,
    reused: Option<(usize, usize)>,
}

fn exec(args: &[&std::ffi::OsStr], env: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(our_bin());
    cmd.args(args)
        .env_remove("DEPMOD_CACHE")
        .env("LC_ALL", "C")
        .stdin(Stdio::null());
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().expect("run depmod")
}

fn read_outputs(dir: &Path) -> BTreeMap<&'static str, Option<Vec<u8>>> {
    OUTPUTS
        .iter()
        .map(|n| (*n, std::fs::read(dir.join(n)).ok()))
        .collect()
}

/// `cache: reused N of M modules` from `-vv` output.
fn reused(stderr: &str) -> Option<(usize, usize)> {
    let line = stderr.lines().find(|l| l.contains("cache: reused "))?;
    let rest = line.split("cache: reused ").nth(1)?;
    let mut words = rest.split_whitespace();
    let n = words.next()?.parse().ok()?;
    words.next();
    let m = words.next()?.parse().ok()?;
    Some((n, m))
}

/// Messages without the cache's own lines (which a cold run does not print).
fn without_cache_lines(stderr: &str) -> String {
    stderr
        .lines()
        .filter(|l| !l.contains("cache"))
        .map(|l| format!("{l}\n"))
        .collect()
}

/// Run with `out` as the output root (`-o`), `-vv`, and `args`.
fn run_in(t: &Tree, out: &Path, args: &[&str], env: &[(&str, &str)]) -> Result {
    let mut argv: Vec<&std::ffi::OsStr> = vec!["-vv".as_ref(), "-b".as_ref()];
    let root = t.root();
    argv.push(root.as_os_str());
    argv.push("-o".as_ref());
    argv.push(out.as_os_str());
    // The version first: module files (files mode) follow it; options are permuted.
    argv.push(t.version().as_ref());
    argv.extend(args.iter().map(|a| std::ffi::OsStr::new(*a)));
    let o = exec(&argv, env);
    let stderr = String::from_utf8_lossy(&o.stderr).into_owned();
    Result {
        outputs: read_outputs(&out.join("lib/modules").join(t.version())),
        reused: reused(&stderr),
        stderr,
        status: o.status.code().unwrap_or(-1),
    }
}

/// The persistent output root of cached runs.
fn cached_out(t: &Tree) -> PathBuf {
    t.top().join("cached")
}

fn cache_file(t: &Tree) -> PathBuf {
    cached_out(t)
        .join("lib/modules")
        .join(t.version())
        .join(CACHE)
}

fn cached(t: &Tree, args: &[&str]) -> Result {
    let mut a = vec!["--cache"];
    a.extend_from_slice(args);
    run_in(t, &cached_out(t), &a, &[])
}

fn cold(t: &Tree, args: &[&str]) -> Result {
    let out = t
        .top()
        .join(format!("cold.{}", COLD.fetch_add(1, Ordering::Relaxed)));
    let r = run_in(t, &out, args, &[]);
    let _ = std::fs::remove_dir_all(&out);
    r
}

/// Run cached and cold with `args`; assert equal outputs and messages; return the cached
/// run's (reused, modules).
fn assert_like_cold(t: &Tree, args: &[&str], what: &str) -> (usize, usize) {
    let warm = cached(t, args);
    let cold = cold(t, args);
    assert_eq!(warm.status, cold.status, "{what}: status\n{}", warm.stderr);
    for (name, bytes) in &cold.outputs {
        assert!(
            warm.outputs[name] == *bytes,
            "{what}: {name} differs from a cold run\ncached: {:?}\ncold: {:?}",
            warm.outputs[name].as_deref().map(String::from_utf8_lossy),
            bytes.as_deref().map(String::from_utf8_lossy),
        );
    }
    assert_eq!(
        without_cache_lines(&warm.stderr),
        without_cache_lines(&cold.stderr),
        "{what}: messages"
    );
    warm.reused
        .unwrap_or_else(|| panic!("{what}: no cache line in\n{}", warm.stderr))
}

/// Replace a file's content, keeping its size and modification time (the change time moves).
fn rewrite_keeping_size_and_mtime(path: &Path, data: &[u8]) {
    let meta = std::fs::metadata(path).expect("stat");
    assert_eq!(meta.len(), data.len() as u64, "same size");
    let mtime = meta.modified().expect("mtime");
    std::fs::write(path, data).expect("write");
    let f = std::fs::File::options()
        .write(true)
        .open(path)
        .expect("open");
    f.set_modified(mtime).expect("restore mtime");
    let after = std::fs::metadata(path).expect("stat");
    assert_eq!((after.len(), after.mtime(), after.mtime_nsec()), {
        (meta.len(), meta.mtime(), meta.mtime_nsec())
    });
}

#[test]
fn a_warm_rerun_reuses_every_module_and_equals_a_cold_run() {
    let t = fixture();
    settle();
    assert_eq!(assert_like_cold(&t, &[], "first"), (0, 6));
    assert!(cache_file(&t).is_file());
    let before = std::fs::read(cache_file(&t)).expect("cache");
    assert_eq!(assert_like_cold(&t, &[], "second"), (6, 6));
    // Nothing changed: the cache is not rewritten.
    assert_eq!(std::fs::read(cache_file(&t)).expect("cache"), before);
    // The load error is served from the cache with kmod's message.
    let warm = cached(&t, &[]);
    assert!(
        warm.stderr.contains("failed to load symbols from ")
            && warm.stderr.contains("junk.ko: Exec format error"),
        "{}",
        warm.stderr
    );
}

/// Whether `path` is on a filesystem that stamps files with this machine's clock (ext4 or
/// tmpfs, where test trees usually are).
fn on_local_clock(path: &Path) -> bool {
    let out = Command::new("stat")
        .args(["-f", "-c", "%T"])
        .arg(path)
        .output()
        .expect("stat -f");
    let fs = String::from_utf8_lossy(&out.stdout);
    matches!(fs.trim(), "ext2/ext3" | "tmpfs" | "xfs" | "btrfs")
}

#[test]
fn a_module_changed_a_moment_before_is_stored() {
    // A kernel package's postinst runs depmod a second or so after unpacking the modules;
    // the rerun after a DKMS build should then find them all in the cache.
    let t = fixture();
    if !on_local_clock(t.top()) {
        eprintln!("skipped: the temporary directory is not on ext4, tmpfs, xfs or btrfs");
        return;
    }
    // Past the coarse clock's tick (at most 10 ms) in which the files were written.
    std::thread::sleep(Duration::from_millis(50));
    assert_eq!(assert_like_cold(&t, &[], "first"), (0, 6));
    assert_eq!(assert_like_cold(&t, &[], "second"), (6, 6));
    // Changed again right after: read again, whatever the timestamps' granularity.
    let a = t.moddir().join("kernel/a.ko");
    rewrite_keeping_size_and_mtime(&a, &module(&["a_fx"], &[], &["pci:v0000CCCCd*"]));
    assert_eq!(assert_like_cold(&t, &[], "rewritten a.ko"), (5, 6));
}

#[test]
fn a_tree_left_without_modules_keeps_no_cache() {
    // DKMS removing the last module of an uninstalled kernel runs depmod, then deletes the
    // index files by name and the directory if it is empty: no cache may be left in it.
    let t = fixture();
    settle();
    assert_eq!(assert_like_cold(&t, &[], "first"), (0, 6));
    assert!(cache_file(&t).is_file());
    std::fs::remove_dir_all(t.moddir().join("kernel")).expect("rm");
    // A query writes nothing, the cache included.
    // (`a` is gone: --explain answers that, exit 1.)
    for (query, status) in [("--graph", 0), ("--explain=a", 1)] {
        let r = cached(&t, &[query]);
        assert_eq!(r.status, status, "{query}: {}", r.stderr);
        assert!(cache_file(&t).is_file(), "{query} removed the cache");
    }
    let r = cached(&t, &[]);
    assert_eq!(r.status, 0, "{}", r.stderr);
    assert_eq!(r.outputs["modules.dep"].as_deref(), Some(&b""[..]));
    assert!(!cache_file(&t).exists(), "{}", r.stderr);
    assert!(r.stderr.contains("removed cache "), "{}", r.stderr);
    // Nor is one created.
    let r = cached(&t, &[]);
    assert_eq!(r.status, 0, "{}", r.stderr);
    assert!(!cache_file(&t).exists(), "{}", r.stderr);
}

#[test]
fn content_changed_with_size_and_mtime_restored() {
    let t = fixture();
    settle();
    assert_eq!(assert_like_cold(&t, &[], "first"), (0, 6));
    // Same size, other alias and other export: only the change time tells.
    let a = t.moddir().join("kernel/a.ko");
    let new = module(&["a_fx"], &[], &["pci:v0000BBBBd*"]);
    rewrite_keeping_size_and_mtime(&a, &new);
    assert_eq!(assert_like_cold(&t, &[], "rewritten a.ko"), (5, 6));
    let alias = cached(&t, &[]).outputs["modules.alias"].clone().unwrap();
    assert!(String::from_utf8_lossy(&alias).contains("BBBB"));
}

#[test]
fn a_file_replaced_by_rename_is_read_again() {
    let t = fixture();
    settle();
    assert_eq!(assert_like_cold(&t, &[], "first"), (0, 6));
    let b = t.moddir().join("kernel/b.ko");
    let meta = std::fs::metadata(&b).expect("stat");
    // b no longer needs a: c and d change their dependencies.
    let new = module(&["b_fn"], &[], &[]);
    let tmp = t.moddir().join("kernel/b.ko.new");
    std::fs::write(&tmp, &new).expect("write");
    std::fs::File::options()
        .write(true)
        .open(&tmp)
        .and_then(|f| f.set_modified(meta.modified()?))
        .expect("mtime");
    std::fs::rename(&tmp, &b).expect("rename");
    assert_ne!(std::fs::metadata(&b).expect("stat").ino(), meta.ino());
    assert_eq!(assert_like_cold(&t, &[], "b.ko replaced"), (5, 6));
}

#[test]
fn modules_added_removed_and_moved_between_search_directories() {
    let t = fixture();
    // `updates` is searched before `kernel`: a module moved there takes precedence.
    let conf = t.top_file("depmod.d/search.conf", "search updates built-in\n");
    let conf = conf
        .parent()
        .expect("dir")
        .to_str()
        .expect("utf-8")
        .to_string();
    let args = ["-C", conf.as_str()];
    settle();
    assert_eq!(assert_like_cold(&t, &args, "first"), (0, 6));

    t.add_module("kernel/e.ko", module(&["e_fn"], &["d_fn"], &["e-alias"]));
    settle();
    assert_eq!(assert_like_cold(&t, &args, "added e.ko"), (6, 7));

    std::fs::remove_file(t.moddir().join("kernel/b.ko")).expect("rm");
    assert_eq!(assert_like_cold(&t, &args, "removed b.ko"), (6, 6));
    // The record of the removed module is dropped from the cache.
    let again = cached(&t, &args);
    assert!(again.stderr.contains("(6 records)"), "{}", again.stderr);

    std::fs::create_dir_all(t.moddir().join("updates")).expect("mkdir");
    std::fs::rename(
        t.moddir().join("kernel/sub/c.ko"),
        t.moddir().join("updates/c.ko"),
    )
    .expect("move");
    let (_, modules) = assert_like_cold(&t, &args, "moved c.ko to updates");
    assert_eq!(modules, 6);
    let dep = cached(&t, &args).outputs["modules.dep"].clone().unwrap();
    assert!(String::from_utf8_lossy(&dep).contains("updates/c.ko:"));

    // A second copy of a module in a directory searched first.
    std::fs::copy(
        t.moddir().join("kernel/a.ko"),
        t.moddir().join("updates/a.ko"),
    )
    .expect("copy");
    assert_like_cold(&t, &args, "a.ko shadowed by updates/a.ko");
}

#[test]
fn a_symlinked_module_retargeted() {
    let t = fixture();
    // kernel/s.ko is a link to a file outside the tree; later to another one.
    let first = t.top().join("s-first.ko");
    let second = t.top().join("s-second.ko");
    std::fs::write(&first, module(&["s_fn"], &["a_fn"], &["s-one"])).expect("write");
    std::fs::write(&second, module(&["s_fx"], &["b_fn"], &["s-two"])).expect("write");
    let link = t.moddir().join("kernel/s.ko");
    std::os::unix::fs::symlink(&first, &link).expect("symlink");
    settle();
    assert_eq!(assert_like_cold(&t, &[], "first"), (0, 7));
    assert_eq!(assert_like_cold(&t, &[], "again"), (7, 7));
    std::fs::remove_file(&link).expect("rm");
    std::os::unix::fs::symlink(&second, &link).expect("symlink");
    // The new target was never read: one miss, the outputs of a cold run.
    assert_eq!(assert_like_cold(&t, &[], "retargeted"), (6, 7));
    let alias = cached(&t, &[]).outputs["modules.alias"].clone().unwrap();
    let alias = String::from_utf8_lossy(&alias).into_owned();
    assert!(
        alias.contains("s-two") && !alias.contains("s-one"),
        "{alias}"
    );
}

#[test]
fn configuration_and_option_changes() {
    let t = fixture();
    let conf_dir = t.top().join("depmod.d");
    std::fs::create_dir_all(&conf_dir).expect("mkdir");
    let conf = conf_dir.to_str().expect("utf-8").to_string();
    let map = t.top().join("System.map");
    let map = map.to_str().expect("utf-8").to_string();
    let symvers = t.module_symvers(&[("printk", 0x1000)]);
    let symvers = symvers.to_str().expect("utf-8").to_string();
    settle();
    assert_eq!(assert_like_cold(&t, &["-C", &conf], "first"), (0, 6));

    std::fs::write(conf_dir.join("x.conf"), "exclude sub\n").expect("conf");
    assert_eq!(assert_like_cold(&t, &["-C", &conf], "exclude sub"), (5, 5));
    std::fs::write(conf_dir.join("x.conf"), "override b * extra\n").expect("conf");
    assert_like_cold(&t, &["-C", &conf], "override");
    std::fs::remove_file(conf_dir.join("x.conf")).expect("rm");

    // Options that change how facts are used, not what a scan yields: all served.
    for args in [
        vec!["-C", &conf, "-e", "-F", &map],
        vec!["-C", &conf, "-e", "-E", &symvers],
        vec!["-C", &conf, "-P", "a"],
        vec!["-C", &conf, "-P", "_", "-e", "-F", &map],
        vec!["-C", &conf, "-w"],
    ] {
        assert_eq!(assert_like_cold(&t, &args, &format!("{args:?}")), (6, 6));
    }
}

#[test]
fn another_kernel_version_with_the_same_files() {
    let t = fixture();
    settle();
    assert_eq!(assert_like_cold(&t, &[], "first"), (0, 6));
    // A second version whose module directory is a hard-linked copy of the first, with the
    // first version's cache put in its output directory.
    let other = "6.2.0-other";
    let src = t.moddir();
    let dst = t.root().join("lib/modules").join(other);
    let status = Command::new("cp")
        .arg("-al")
        .arg(&src)
        .arg(&dst)
        .status()
        .expect("cp");
    assert!(status.success());
    let out_dir = cached_out(&t).join("lib/modules").join(other);
    std::fs::create_dir_all(&out_dir).expect("mkdir");
    std::fs::copy(cache_file(&t), out_dir.join(CACHE)).expect("copy cache");
    let t2_args = |out: &Path| {
        vec![
            "-vv".to_string(),
            "--cache".to_string(),
            "-b".to_string(),
            t.root().to_string_lossy().into_owned(),
            "-o".to_string(),
            out.to_string_lossy().into_owned(),
            other.to_string(),
        ]
    };
    let run = |out: &Path, cache: bool| {
        let mut a = t2_args(out);
        if !cache {
            a.retain(|x| x != "--cache");
        }
        let a: Vec<&std::ffi::OsStr> = a.iter().map(std::ffi::OsStr::new).collect();
        exec(&a, &[]);
        read_outputs(&out.join("lib/modules").join(other))
    };
    let warm = run(&cached_out(&t), true);
    let cold = run(&t.top().join("cold-other"), false);
    assert_eq!(warm, cold);
    let dep = String::from_utf8_lossy(warm["modules.dep"].as_deref().unwrap()).into_owned();
    assert!(dep.contains("kernel/b.ko: kernel/a.ko"), "{dep}");
}

/// Ways to damage a cache file: each must be ignored (with a message), the run must equal a
/// cold run, and the next run must be served by a rebuilt cache.
#[test]
fn damaged_caches_are_ignored_and_rebuilt() {
    let t = fixture();
    settle();
    assert_eq!(assert_like_cold(&t, &[], "first"), (0, 6));
    let good = std::fs::read(cache_file(&t)).expect("cache");
    assert!(good.len() > 200, "cache of {} bytes", good.len());
    let flip = |at: usize| {
        let mut b = good.clone();
        b[at] ^= 0x10;
        b
    };
    let tag_at = 13;
    let other_version = {
        let mut b = good.clone();
        let tag = b"depmod-rs ";
        let at = b.windows(tag.len()).position(|w| w == tag).expect("tag");
        b[at + tag.len()] = b'9';
        b
    };
    // The same cache as written on another architecture (the tag names the host's).
    let arch = std::env::consts::ARCH.as_bytes();
    let other_arch = {
        let mut b = good.clone();
        let at = b
            .windows(arch.len())
            .position(|w| w == arch)
            .expect("host architecture in the tag");
        let other = if arch == b"s390x" {
            &b"ppc64"[..]
        } else {
            &b"s390x"[..]
        };
        b.splice(at..at + arch.len(), other.iter().copied());
        // The tag's length byte (after magic and format) follows the new length.
        b[12] = (b[12] as usize + other.len() - arch.len()) as u8;
        b
    };
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        ("empty", Vec::new(), "damaged"),
        ("magic only", good[..8].to_vec(), "damaged"),
        ("truncated in the header", good[..20].to_vec(), "damaged"),
        ("truncated after the header", good[..40].to_vec(), "damaged"),
        (
            "truncated in the middle",
            good[..good.len() / 2].to_vec(),
            "damaged",
        ),
        (
            "last byte missing",
            good[..good.len() - 1].to_vec(),
            "damaged",
        ),
        ("a byte appended", [&good[..], b"\0"].concat(), "damaged"),
        ("bit flip in the magic", flip(2), "damaged"),
        ("bit flip in the body", flip(good.len() / 2), "damaged"),
        ("bit flip in the last byte", flip(good.len() - 1), "damaged"),
        ("bit flip in the tag", flip(tag_at), "ignoring cache"),
        ("another version's cache", other_version, "ignoring cache"),
        ("another architecture's cache", other_arch, "ignoring cache"),
        (
            "garbage",
            (0..5000u32).map(|i| (i * 7919 % 251) as u8).collect(),
            "damaged",
        ),
    ];
    assert!(cases.len() >= 10);
    for (what, bytes, message) in cases {
        std::fs::write(cache_file(&t), &bytes).expect("write cache");
        let (reused, modules) = assert_like_cold(&t, &[], what);
        assert_eq!((reused, modules), (0, 6), "{what}");
        let r = cached(&t, &[]);
        assert_eq!(r.reused, Some((6, 6)), "{what}: not rebuilt\n{}", r.stderr);
        // The message of the damaged run (re-run it to capture its stderr).
        std::fs::write(cache_file(&t), &bytes).expect("write cache");
        let r = cached(&t, &[]);
        assert!(
            r.stderr.contains(message) && r.stderr.contains(CACHE),
            "{what}: {}",
            r.stderr
        );
        assert_eq!(
            std::fs::read(cache_file(&t)).expect("cache"),
            good,
            "{what}"
        );
    }
}

#[test]
fn an_unreadable_cache_is_not_used_and_the_run_succeeds() {
    let t = fixture();
    let dir = cache_file(&t);
    std::fs::create_dir_all(&dir).expect("a directory where the cache goes");
    let r = cached(&t, &[]);
    assert_eq!(r.status, 0, "{}", r.stderr);
    assert!(
        r.stderr.contains("could not read cache") && r.stderr.contains("Is a directory"),
        "{}",
        r.stderr
    );
    assert!(dir.is_dir());
    assert_eq!(r.outputs, cold(&t, &[]).outputs);
}

#[test]
fn the_cache_is_off_unless_asked_for() {
    let t = fixture();
    let out = t.top().join("plain");
    let cache_in = |out: &Path| out.join("lib/modules").join(t.version()).join(CACHE);
    run_in(&t, &out, &[], &[]);
    assert!(
        !cache_in(&out).exists(),
        "a run without --cache wrote a cache"
    );
    run_in(&t, &out, &[], &[("DEPMOD_CACHE", "0")]);
    assert!(!cache_in(&out).exists(), "DEPMOD_CACHE=0 wrote a cache");
    let r = run_in(&t, &out, &[], &[("DEPMOD_CACHE", "1")]);
    assert_eq!(r.status, 0);
    assert!(cache_in(&out).exists(), "DEPMOD_CACHE=1 did not turn it on");
    // -n writes nothing, the cache included.
    let dry = t.top().join("dry");
    run_in(&t, &dry, &["--cache", "-n"], &[]);
    assert!(!dry.exists(), "-n --cache created {}", dry.display());
}

#[test]
fn files_mode_reads_the_cache_and_keeps_it() {
    let t = fixture();
    settle();
    let a = t.moddir().join("kernel/a.ko");
    let b = t.moddir().join("kernel/b.ko");
    let files = [a.to_str().unwrap(), b.to_str().unwrap()];
    // Without a cache, files mode writes none (it would hold two modules only).
    assert_eq!(assert_like_cold(&t, &files, "no cache yet"), (0, 2));
    assert!(!cache_file(&t).exists());
    assert_eq!(assert_like_cold(&t, &[], "whole tree"), (0, 6));
    let before = std::fs::read(cache_file(&t)).expect("cache");
    assert_eq!(assert_like_cold(&t, &files, "files mode"), (2, 2));
    assert_eq!(
        std::fs::read(cache_file(&t)).expect("cache"),
        before,
        "files mode rewrote the cache"
    );
    assert_eq!(assert_like_cold(&t, &[], "whole tree again"), (6, 6));
}

/// A module directory on a read-only filesystem: an image can be replaced by another with
/// the same inode numbers, sizes and stored times, so the cache is not used there.
#[test]
fn not_used_on_a_read_only_filesystem() {
    let Some(fs) = crate::support::tmpfs::Tmpfs::mount("16m") else {
        return;
    };
    let t = fixture();
    let status = Command::new("cp")
        .arg("-a")
        .arg(t.root())
        .arg(fs.path().join("root"))
        .status()
        .expect("cp");
    assert!(status.success());
    fs.remount("ro");
    let out = t.top().join("ro-out");
    let argv = |cache: bool| {
        let mut v: Vec<std::ffi::OsString> = vec!["-v".into(), "-b".into()];
        v.push(fs.path().join("root").into());
        v.extend(["-o".into(), out.clone().into(), t.version().into()]);
        if cache {
            v.push("--cache".into());
        }
        v
    };
    let run = |cache: bool| {
        let a = argv(cache);
        let a: Vec<&std::ffi::OsStr> = a.iter().map(|x| x.as_os_str()).collect();
        exec(&a, &[])
    };
    let plain = run(false);
    let outputs = read_outputs(&out.join("lib/modules").join(t.version()));
    let o = run(true);
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "{stderr}");
    assert!(
        stderr.contains("NOTICE: not using the cache: ") && stderr.contains("read-only"),
        "{stderr}"
    );
    let dir = out.join("lib/modules").join(t.version());
    assert!(!dir.join(CACHE).exists());
    assert_eq!(read_outputs(&dir), outputs);
    assert_eq!(plain.status.code(), o.status.code());
}

#[test]
fn check_reads_the_cache_and_writes_none() {
    let t = fixture();
    settle();
    assert_eq!(assert_like_cold(&t, &[], "first"), (0, 6));
    std::fs::remove_file(cache_file(&t)).expect("rm");
    let r = cached(&t, &["--check"]);
    assert_eq!(r.status, 0, "{}", r.stderr);
    assert!(!cache_file(&t).exists(), "--check wrote a cache");
}

/// Snapshot of a directory tree: every file's bytes and modification time.
fn snapshot(dir: &Path) -> BTreeMap<PathBuf, (Vec<u8>, SystemTime)> {
    let mut map = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(rd) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in rd.flatten() {
            let p = e.path();
            let meta = e.metadata().expect("stat");
            if meta.is_dir() {
                stack.push(p.clone());
            }
            let data = if meta.is_file() {
                std::fs::read(&p).expect("read")
            } else {
                Vec::new()
            };
            map.insert(p, (data, meta.modified().expect("mtime")));
        }
    }
    map
}

fn check(t: &Tree, extra: &[&str]) -> (i32, String) {
    let out = cached_out(t);
    let mut argv: Vec<&std::ffi::OsStr> = vec!["--check".as_ref(), "-b".as_ref()];
    let root = t.root();
    argv.push(root.as_os_str());
    argv.push("-o".as_ref());
    argv.push(out.as_os_str());
    argv.extend(extra.iter().map(|a| std::ffi::OsStr::new(*a)));
    argv.push(t.version().as_ref());
    let before = snapshot(t.top());
    let o = exec(&argv, &[]);
    assert_eq!(
        snapshot(t.top()),
        before,
        "--check changed something on disk"
    );
    (
        o.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&o.stdout).into_owned(),
    )
}

#[test]
fn check_reports_current_outdated_and_missing_outputs() {
    let t = fixture();
    let dir = cached_out(&t).join("lib/modules").join(t.version());
    // Nothing written yet: everything is missing.
    let (status, stdout) = check(&t, &[]);
    assert_eq!(status, 1);
    assert_eq!(stdout.lines().count(), 11, "{stdout}");
    assert!(stdout.lines().all(|l| l.ends_with(": missing")), "{stdout}");
    assert!(!cached_out(&t).exists());

    let w = run_in(&t, &cached_out(&t), &[], &[]);
    assert_eq!(w.status, 0);
    assert_eq!(check(&t, &[]), (0, String::new()));
    // With the cache on, --check reads it but writes none.
    assert_eq!(check(&t, &["--cache"]), (0, String::new()));
    assert!(!dir.join(CACHE).exists());

    // A module with another alias: exactly the alias indexes would change.
    std::thread::sleep(Duration::from_millis(20));
    t.add_module(
        "kernel/sub/c.ko",
        module(&[], &["b_fn", "a_fn"], &["c-other"]),
    );
    let (status, stdout) = check(&t, &[]);
    assert_eq!(status, 1);
    let expect = ["modules.alias", "modules.alias.bin"]
        .map(|n| format!("{}: outdated\n", dir.join(n).display()))
        .concat();
    assert_eq!(stdout, expect);

    // A new dependency: modules.dep and its index.
    t.add_module(
        "kernel/sub/c.ko",
        module(&["c_fn"], &["b_fn", "a_fn"], &["c-alias"]),
    );
    t.add_module("kernel/k.ko", module(&[], &["printk", "a_fn", "c_fn"], &[]));
    let (status, stdout) = check(&t, &[]);
    assert_eq!(status, 1);
    for n in [
        "modules.dep",
        "modules.dep.bin",
        "modules.symbols",
        "modules.symbols.bin",
    ] {
        assert!(
            stdout.contains(&format!("/{n}: outdated\n")),
            "{n}: {stdout}"
        );
    }
    assert!(!stdout.contains("modules.alias"), "{stdout}");

    // Brought up to date, then one output removed.
    run_in(&t, &cached_out(&t), &[], &[]);
    assert_eq!(check(&t, &[]), (0, String::new()));
    std::fs::remove_file(dir.join("modules.devname")).expect("rm");
    let (status, stdout) = check(&t, &[]);
    assert_eq!(status, 1);
    assert_eq!(
        stdout,
        format!("{}: missing\n", dir.join("modules.devname").display())
    );
}

#[test]
fn check_with_quick_on_an_up_to_date_tree_is_current() {
    let t = fixture();
    // -A looks at the module directory itself: write the outputs there.
    let o = exec(
        &["-b".as_ref(), t.root().as_os_str(), t.version().as_ref()],
        &[],
    );
    assert!(o.status.success());
    let o = exec(
        &[
            "--check".as_ref(),
            "-A".as_ref(),
            "-b".as_ref(),
            t.root().as_os_str(),
            t.version().as_ref(),
        ],
        &[],
    );
    assert_eq!(o.status.code(), Some(0));
    assert!(o.stdout.is_empty());
}
