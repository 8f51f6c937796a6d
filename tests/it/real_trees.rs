//! Byte-for-byte comparison against the reference depmod (kmod 34.2) on real Debian kernel trees.
//!
//! Needs `scripts/fetch-reference` and `scripts/fetch-trees cloud-amd64` to have run (they fill
//! `${DEPMOD_CACHE_DIR:-$HOME/.cache/depmod-rs}`). When something is missing the tests are
//! skipped, except under `CI=true`, where they fail.
//!
//! Each comparison runs `depmod -b ROOT -o OUT VERSION [args]` with our binary and then with the
//! reference, using the same OUT path for both (the first run's output is moved away before the
//! second run), and compares the eleven output files (presence and bytes), anything else left in
//! OUT, stdout, stderr and the exit status.
//!
//! `cargo test --release --test it -- --ignored other_cached_trees` also compares every other
//! tree that `scripts/fetch-trees` has unpacked (all names: `scripts/fetch-trees all`).

use crate::support::OUTPUTS;
use crate::support::inputs::{RealTree, real_tree, reference_or_skip};
use crate::support::skip::{Missing, skip};
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// What one depmod run left behind, after its OUT directory was moved to `dir`.
struct RunResult {
    dir: PathBuf,
    stdout: Vec<u8>,
    stderr: Vec<u8>,
    status: Option<i32>,
}

fn run_depmod(bin: &Path, tree: &RealTree, out: &Path, extra: &[String], keep: &Path) -> RunResult {
    if out.exists() {
        fs::remove_dir_all(out).unwrap();
    }
    fs::create_dir_all(out).unwrap();
    let output = Command::new(bin)
        .arg("-b")
        .arg(&tree.root)
        .arg("-o")
        .arg(out)
        .arg(&tree.version)
        .args(extra)
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", bin.display()));
    fs::rename(out, keep).unwrap();
    RunResult {
        dir: keep.join("lib/modules").join(&tree.version),
        stdout: output.stdout,
        stderr: output.stderr,
        status: output.status.code(),
    }
}

/// Where two byte strings first differ, described for a human (line-wise for text).
fn describe_difference(reference: &[u8], ours: &[u8], text: bool) -> String {
    let mut msg = format!(
        "reference {} bytes, ours {} bytes",
        reference.len(),
        ours.len()
    );
    let at = reference
        .iter()
        .zip(ours)
        .position(|(a, b)| a != b)
        .unwrap_or(reference.len().min(ours.len()));
    if text {
        let line_no = reference[..at].iter().filter(|&&b| b == b'\n').count() + 1;
        let start = reference[..at]
            .iter()
            .rposition(|&b| b == b'\n')
            .map_or(0, |p| p + 1);
        let line = |s: &[u8]| {
            let rest = s.get(start..).unwrap_or_default();
            let end = rest.iter().position(|&b| b == b'\n').unwrap_or(rest.len());
            let mut l = String::from_utf8_lossy(&rest[..end]).into_owned();
            if l.len() > 300 {
                let mut cut = 300;
                while !l.is_char_boundary(cut) {
                    cut -= 1;
                }
                l.truncate(cut);
                l.push_str("...");
            }
            if start >= s.len() {
                "<end of file>".to_string()
            } else {
                format!("{l:?}")
            }
        };
        msg.push_str(&format!(
            "; first difference at line {line_no}:\n      reference: {}\n      ours:      {}",
            line(reference),
            line(ours)
        ));
    } else {
        let window = |s: &[u8]| {
            let end = (at + 16).min(s.len());
            s[at.min(end)..end]
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect::<Vec<_>>()
                .join(" ")
        };
        msg.push_str(&format!(
            "; first difference at byte offset {at}:\n      reference: {}\n      ours:      {}",
            window(reference),
            window(ours)
        ));
    }
    msg
}

/// All files (relative paths) below `dir`, sorted, with a type marker for directories.
fn listing(dir: &Path) -> Vec<String> {
    fn walk(base: &Path, dir: &Path, acc: &mut Vec<String>) {
        let Ok(entries) = fs::read_dir(dir) else {
            return;
        };
        for entry in entries {
            let path = entry.unwrap().path();
            let rel = path.strip_prefix(base).unwrap().display().to_string();
            if path.is_dir() && !path.is_symlink() {
                acc.push(format!("{rel}/"));
                walk(base, &path, acc);
            } else {
                acc.push(rel);
            }
        }
    }
    let mut acc = Vec::new();
    walk(dir, dir, &mut acc);
    acc.sort();
    acc
}

/// Runs both binaries on `tree` with `extra` arguments; returns the list of differences.
fn compare(
    ours_bin: &Path,
    reference_bin: &Path,
    tree: &RealTree,
    extra: &[String],
) -> Vec<String> {
    let work = tempfile::Builder::new()
        .prefix("depmod-real-trees.")
        .tempdir()
        .unwrap();
    let out = work.path().join("out");
    let ours = run_depmod(ours_bin, tree, &out, extra, &work.path().join("ours"));
    let reference = run_depmod(
        reference_bin,
        tree,
        &out,
        extra,
        &work.path().join("reference"),
    );

    let mut diffs = Vec::new();
    for name in OUTPUTS {
        let r = fs::read(reference.dir.join(name)).ok();
        let o = fs::read(ours.dir.join(name)).ok();
        match (r, o) {
            (None, None) => {}
            (Some(r), None) => diffs.push(format!(
                "{name}: only the reference produced it ({} bytes)",
                r.len()
            )),
            (None, Some(o)) => {
                diffs.push(format!("{name}: only ours produced it ({} bytes)", o.len()))
            }
            (Some(r), Some(o)) => {
                if r != o {
                    let text = !name.ends_with(".bin");
                    diffs.push(format!("{name}: {}", describe_difference(&r, &o, text)));
                }
            }
        }
    }
    let (rl, ol) = (
        listing(&work.path().join("reference")),
        listing(&work.path().join("ours")),
    );
    if rl != ol {
        let only_r: Vec<_> = rl.iter().filter(|p| !ol.contains(p)).collect();
        let only_o: Vec<_> = ol.iter().filter(|p| !rl.contains(p)).collect();
        diffs.push(format!(
            "output directory contents: only in reference: {only_r:?}; only in ours: {only_o:?}"
        ));
    }
    if reference.stdout != ours.stdout {
        let d = describe_difference(&reference.stdout, &ours.stdout, true);
        diffs.push(format!("stdout: {d}"));
    }
    if reference.stderr != ours.stderr {
        let d = describe_difference(&reference.stderr, &ours.stderr, true);
        diffs.push(format!("stderr: {d}"));
    }
    if reference.status != ours.status {
        diffs.push(format!(
            "exit status: reference {:?}, ours {:?}",
            reference.status, ours.status
        ));
    }
    diffs
}

/// Compares `tree` for each argument set; returns a report of the differences ("" if none).
fn compare_tree(reference_bin: &Path, tree: &RealTree, arg_sets: &[Vec<String>]) -> String {
    let ours_bin = Path::new(env!("CARGO_BIN_EXE_depmod"));
    let mut report = String::new();
    for extra in arg_sets {
        let diffs = compare(ours_bin, reference_bin, tree, extra);
        let what = format!(
            "{} ({}): depmod -b {} -o OUT {} {}",
            tree.name,
            tree.version,
            tree.root.display(),
            tree.version,
            extra.join(" ")
        );
        if diffs.is_empty() {
            eprintln!("identical: {what}");
        } else {
            report.push_str(&format!("\n{what}\n"));
            for d in diffs {
                report.push_str(&format!("  DIFF {d}\n"));
            }
        }
    }
    report
}

fn plain(_: &RealTree) -> Vec<String> {
    vec![]
}

fn system_map(tree: &RealTree) -> Vec<String> {
    let map = tree.root.join(format!("boot/System.map-{}", tree.version));
    vec!["-e".into(), "-F".into(), map.display().to_string()]
}

fn dry_run(_: &RealTree) -> Vec<String> {
    vec!["-n".into()]
}

/// Compares the named trees with each argument set. A missing reference or tree skips the test
/// (fails it under CI=true) when `required`; otherwise missing trees are just reported.
fn check_trees(names: &[&str], arg_sets: &[fn(&RealTree) -> Vec<String>], required: bool) {
    let Some(reference_bin) = reference_or_skip("real trees") else {
        return;
    };
    let mut report = String::new();
    let mut compared = 0;
    for name in names {
        let tree = match real_tree(name) {
            Ok(tree) => tree,
            Err(why) if required => return skip(Missing::Tree(name.to_string()), &why),
            Err(why) => {
                eprintln!("not compared: {why}");
                continue;
            }
        };
        compared += 1;
        let sets: Vec<Vec<String>> = arg_sets.iter().map(|f| f(&tree)).collect();
        report.push_str(&compare_tree(&reference_bin, &tree, &sets));
    }
    if compared == 0 {
        return skip(Missing::Tree("all".into()), "none of the trees is present");
    }
    assert!(
        report.is_empty(),
        "output differs from the reference depmod:{report}"
    );
}

#[test]
fn cloud_amd64_plain() {
    check_trees(&["cloud-amd64"], &[plain], true);
}

#[test]
fn cloud_amd64_system_map_e_f() {
    check_trees(&["cloud-amd64"], &[system_map], true);
}

/// Every other tree from `scripts/fetch-trees all` that is present (plain, -e -F, -n).
#[test]
#[ignore = "slow; run with --ignored after scripts/fetch-trees all"]
fn other_cached_trees() {
    let names = [
        "amd64", "xz-6.12", "i386", "s390x", "arm64", "armhf", "ppc64el", "mips64el",
    ];
    check_trees(&names, &[plain, system_map, dry_run], false);
}
