//! The additions beyond kmod for the people who run depmod: `--kernels` (several kernels in
//! one run), `--diagnostics=json|summary`, `--strict` and `--graph`.

use crate::support::skip::{Missing, skip};
use crate::support::*;
use std::ffi::OsString;
use std::path::Path;
use std::process::{Command, Output};

fn x86() -> ModuleBuilder {
    ModuleBuilder::new(Arch::X86_64)
}

fn depmod(args: &[OsString]) -> Output {
    Command::new(our_bin())
        .args(args)
        .env("LC_ALL", "C")
        .env_remove("DEPMOD_CACHE")
        .output()
        .expect("run depmod")
}

/// A tree with warnings of several kinds: an unknown symbol, a CRC mismatch, an unreadable
/// module, a duplicate alias, and a missing modules.order.
fn noisy(t: &Tree) {
    t.add_module(
        "kernel/a.ko",
        x86()
            .export("fa", 1)
            .alias("same")
            .alias("same")
            .alias("pci:v1d*")
            .build(),
    );
    t.add_module(
        "kernel/b.ko",
        x86()
            .import("fa", Some(2))
            .import("printk", Some(7))
            .import("nowhere", None)
            .alias("same")
            .build(),
    );
    t.add_module(
        "kernel/c.ko",
        x86().import("fa", Some(1)).import("fb_gone", None).build(),
    );
    t.add_module("kernel/bad.ko", b"not an ELF file\n");
}

fn symvers(t: &Tree) -> String {
    path_str(&t.module_symvers(&[("printk", 7)]))
}

/// Every line of `--diagnostics=json` is a JSON object whose `text` is the line text mode
/// prints, in the same order, with a documented kind (never `other`).
#[test]
fn json_diagnostics_mirror_text_mode() {
    let t = Tree::new();
    noisy(&t);
    let e = symvers(&t);
    let base = standard_argv(&t, &["-e", "-w", "-E", &e]);
    let text = depmod(&base);
    let mut json_args = base.clone();
    json_args.push("--diagnostics=json".into());
    let json = depmod(&json_args);
    assert_eq!(text.status.code(), json.status.code());
    assert_eq!(text.stdout, json.stdout);
    let text_lines: Vec<&str> = std::str::from_utf8(&text.stderr).unwrap().lines().collect();
    let json_text = String::from_utf8(json.stderr).unwrap();
    let objects: Vec<serde_json::Value> = json_text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    // A message may span lines in text mode (duplicate alias: two lines).
    let joined: Vec<String> = objects
        .iter()
        .map(|o| o["text"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(joined.join("\n"), text_lines.join("\n"));
    let man = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("man/depmod.8"))
        .unwrap();
    let mut kinds = std::collections::BTreeSet::new();
    for o in &objects {
        let kind = o["kind"].as_str().unwrap();
        assert_ne!(kind, "other", "a message without a kind: {o}");
        let tag = format!("\\fB{}\\fR\n", kind.replace('-', "\\-"));
        assert!(man.contains(&tag), "kind {kind} not in depmod(8)");
        kinds.insert(kind.to_string());
        assert!(o["level"].is_string());
    }
    for k in [
        "unknown-symbol",
        "version-mismatch",
        "unreadable-module",
        "duplicate",
    ] {
        assert!(kinds.contains(k), "no {k} in {kinds:?}");
    }
    let unknown = objects
        .iter()
        .find(|o| o["kind"] == "unknown-symbol" && o["symbol"] == "nowhere")
        .expect("the unknown symbol of b.ko");
    assert!(unknown["module"].as_str().unwrap().ends_with("kernel/b.ko"));
}

/// The malformed-input scenarios: every message they produce has a kind.
#[test]
fn every_message_of_broken_inputs_has_a_kind() {
    let t = Tree::new();
    noisy(&t);
    t.modules_order(&["kernel/a.ko"]);
    t.moddir_file("modules.order", "kernel/a.ko\nno newline");
    t.modules_builtin("kernel/x.ko\n/\n");
    t.modules_builtin_modinfo(b"x.alias=pci:v[1\0".as_slice());
    std::fs::create_dir_all(t.moddir().join("kernel/fifo-dir")).unwrap();
    let map = t.system_map_raw("invalid\nffff r __ksymtab_fa\n");
    let bad_symvers = t.module_symvers_raw("0xzz\tfoo\tvmlinux\tEXPORT_SYMBOL\t\n");
    for extra in [
        vec!["-e".to_string(), "-F".into(), path_str(&map)],
        vec!["-e".to_string(), "-E".into(), path_str(&bad_symvers)],
        vec!["-v".to_string()],
        vec!["-vvv".to_string(), "--cache".into()],
    ] {
        let mut args = standard_argv(&t, &extra.iter().map(String::as_str).collect::<Vec<_>>());
        args.push("--diagnostics=json".into());
        let out = depmod(&args);
        for line in String::from_utf8(out.stderr).unwrap().lines() {
            let o: serde_json::Value = serde_json::from_str(line).unwrap();
            assert_ne!(o["kind"], "other", "{extra:?}: {o}");
        }
    }
}

/// Thousands of unknown symbols summarised in a screenful.
#[test]
fn summary_fits_a_screen() {
    let t = Tree::new();
    let mut b = x86();
    for i in 0..3000 {
        b = b.import(&format!("missing_{i}"), None);
    }
    t.add_module("kernel/many.ko", b.build());
    t.add_module("kernel/more.ko", x86().import("missing_1", None).build());
    let map = t.system_map(&["printk"]);
    let mut args = standard_argv(&t, &["-e", "-F", &path_str(&map)]);
    let text = depmod(&args);
    assert!(String::from_utf8_lossy(&text.stderr).lines().count() > 3000);
    args.push("--diagnostics=summary".into());
    let summary = depmod(&args);
    let s = String::from_utf8(summary.stderr).unwrap();
    assert!(s.lines().count() <= 25, "{s}");
    assert!(s.contains("unknown-symbol: 3001"), "{s}");
    assert!(s.contains("missing_1 (2)"), "{s}");
    assert_eq!(text.status.code(), summary.status.code());
}

/// `--strict`: 0 for a clean tree, 2 when a warning or error was printed (outputs written as
/// usual), 1 for a failed run.
#[test]
fn strict_exit_status() {
    let clean = Tree::new();
    clean.add_module("kernel/a.ko", x86().export("fa", 1).build());
    clean.add_module("kernel/b.ko", x86().import("fa", Some(1)).build());
    clean.modules_order(&["kernel/a.ko", "kernel/b.ko"]);
    clean.modules_builtin("");
    clean.modules_builtin_modinfo("");
    let out = depmod(&standard_argv(&clean, &["--strict"]));
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let warned = Tree::new();
    noisy(&warned);
    let plain = depmod(&standard_argv(&warned, &[]));
    assert_eq!(plain.status.code(), Some(0));
    let strict = run_ours(&warned, &["--strict"]);
    assert_eq!(strict.status, Some(2));
    assert!(
        strict.output("modules.dep").is_some(),
        "outputs are still written"
    );

    let failed = Tree::new();
    failed.add_module(
        "kernel/a.ko",
        x86().export("fa", 1).import("fb", None).build(),
    );
    failed.add_module(
        "kernel/b.ko",
        x86().export("fb", 1).import("fa", None).build(),
    );
    let cycle = depmod(&standard_argv(&failed, &["--strict"]));
    assert_eq!(cycle.status.code(), Some(1));
}

/// `--graph`: one edge per direct dependency, each in the module's modules.dep line, with the
/// number of symbols; nothing written; Graphviz accepts it.
#[test]
fn graph_has_an_edge_per_dependency() {
    let out = tempfile::tempdir().unwrap();
    let ran = sample_depmod(out.path()).arg("--graph").output().unwrap();
    assert!(ran.status.success());
    assert!(
        std::fs::read_dir(out.path()).unwrap().next().is_none(),
        "--graph wrote files"
    );
    let dot = String::from_utf8(ran.stdout).unwrap();
    assert!(dot.starts_with("digraph modules {\n") && dot.ends_with("}\n"));
    let dep =
        std::fs::read_to_string(sample_root().join("lib/modules/1.0.0-sample/modules.dep")).ok();
    let written = tempfile::tempdir().unwrap();
    assert!(run_sample(written.path()).status.success());
    let dep = dep.unwrap_or_else(|| {
        std::fs::read_to_string(written.path().join("lib/modules/1.0.0-sample/modules.dep"))
            .unwrap()
    });
    let name = |path: &str| {
        let file = path.rsplit('/').next().unwrap();
        file.split('.').next().unwrap().replace('-', "_")
    };
    let mut from_dep = std::collections::BTreeSet::new();
    for line in dep.lines() {
        let (m, deps) = line.split_once(':').unwrap();
        for d in deps.split_whitespace() {
            from_dep.insert((name(m), name(d)));
        }
    }
    let mut edges = 0;
    for line in dot.lines().filter(|l| l.contains(" -> ")) {
        let parts: Vec<&str> = line.trim().split('"').collect();
        let (a, b, label) = (parts[1], parts[3], parts[5]);
        assert!(from_dep.contains(&(a.to_string(), b.to_string())), "{line}");
        assert!(label.parse::<u32>().unwrap() > 0, "{line}");
        edges += 1;
    }
    assert!(edges > 5);
    if !have_dot() {
        skip(
            Missing::Tool {
                command: "dot",
                package: "graphviz",
            },
            "render the --graph output",
        );
        return;
    }
    let mut child = Command::new("dot")
        .arg("-Tsvg")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(dot.as_bytes())
        .unwrap();
    let svg = child.wait_with_output().unwrap();
    assert!(
        svg.status.success(),
        "{}",
        String::from_utf8_lossy(&svg.stderr)
    );
    assert!(
        svg.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&svg.stderr)
    );
    assert!(String::from_utf8_lossy(&svg.stdout).contains("<svg"));
}

fn have_dot() -> bool {
    Command::new("dot")
        .arg("-V")
        .output()
        .is_ok_and(|o| o.status.success())
}

/// `--kernels`: each kernel's outputs and messages are those of a separate run, in the
/// list's order; the exit status is the worst; `all` finds every kernel that has modules.
#[test]
fn kernels_in_one_run_equal_separate_runs() {
    let t = Tree::with_version("6.1.0-a");
    noisy(&t);
    let root = t.root();
    let moddir = |v: &str| root.join("lib/modules").join(v);
    // A second kernel, clean, and a third with a cycle (its run fails).
    let second = moddir("6.2.0-b");
    std::fs::create_dir_all(second.join("kernel")).unwrap();
    std::fs::write(second.join("kernel/x.ko"), x86().export("fx", 1).build()).unwrap();
    std::fs::write(
        second.join("kernel/y.ko"),
        x86().import("fx", Some(1)).build(),
    )
    .unwrap();
    let third = moddir("6.3.0-c");
    std::fs::create_dir_all(&third).unwrap();
    std::fs::write(
        third.join("p.ko"),
        x86().export("fp", 1).import("fq", None).build(),
    )
    .unwrap();
    std::fs::write(
        third.join("q.ko"),
        x86().export("fq", 1).import("fp", None).build(),
    )
    .unwrap();
    // Not kernels: no module in it, not a version.
    std::fs::create_dir_all(moddir("7.0.0-empty/kernel")).unwrap();
    std::fs::create_dir_all(moddir("build/kernel")).unwrap();
    std::fs::write(moddir("build/kernel/z.ko"), x86().build()).unwrap();

    let out_all = tempfile::tempdir().unwrap();
    let out_one = tempfile::tempdir().unwrap();
    let e = symvers(&t);
    let common = |out: &Path| {
        argv([
            "-b".as_ref(),
            root.as_os_str(),
            "-o".as_ref(),
            out.as_os_str(),
            "-e".as_ref(),
            "-E".as_ref(),
            e.as_ref(),
        ])
    };
    let mut all = common(out_all.path());
    all.push("--kernels=all".into());
    let together = depmod(&all);
    let mut stderr = Vec::new();
    let mut stdout = Vec::new();
    let mut worst = 0;
    for v in ["6.1.0-a", "6.2.0-b", "6.3.0-c"] {
        let mut one = common(out_one.path());
        one.push(v.into());
        let alone = depmod(&one);
        stderr.extend_from_slice(&alone.stderr);
        stdout.extend_from_slice(&alone.stdout);
        worst = worst.max(alone.status.code().unwrap());
        for name in OUTPUTS {
            let p = |o: &Path| o.join("lib/modules").join(v).join(name);
            assert_eq!(
                std::fs::read(p(out_all.path())).ok(),
                std::fs::read(p(out_one.path())).ok(),
                "{v}: {name}"
            );
        }
    }
    assert_eq!(
        String::from_utf8_lossy(&together.stderr),
        String::from_utf8_lossy(&stderr)
    );
    assert_eq!(together.stdout, stdout);
    assert_eq!(together.status.code(), Some(worst));
    assert_eq!(worst, 1, "the cycle's run fails");
    assert!(!out_all.path().join("lib/modules/7.0.0-empty").exists());
    assert!(!out_all.path().join("lib/modules/build").exists());

    // A list, in its own order.
    let mut list = common(out_all.path());
    list.push("--kernels=6.2.0-b,6.1.0-a".into());
    let listed = depmod(&list);
    let mut expected = Vec::new();
    for v in ["6.2.0-b", "6.1.0-a"] {
        let mut one = common(out_one.path());
        one.push(v.into());
        expected.extend_from_slice(&depmod(&one).stderr);
    }
    assert_eq!(
        String::from_utf8_lossy(&listed.stderr),
        String::from_utf8_lossy(&expected)
    );
    assert_eq!(listed.status.code(), Some(0));
}

#[test]
fn graph_and_explain_answer_with_quick_on_a_current_tree() {
    // `-A` stops a run whose indexes are current; the queries still answer (they write
    // nothing, and a caller adding `-A` out of habit expects the answer).
    let t = Tree::new();
    t.add_module("kernel/a.ko", x86().export("fa", 1).build());
    t.add_module("kernel/b.ko", x86().import("fa", Some(1)).build());
    let base: Vec<OsString> = vec!["-b".into(), t.root().into(), t.version().into()];
    assert!(depmod(&base).status.success());
    let with = |extra: &[&str]| {
        let mut args = base.clone();
        args.extend(extra.iter().map(OsString::from));
        let o = depmod(&args);
        assert!(
            o.status.success(),
            "{extra:?}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        o.stdout
    };
    // The tree is current: -A alone does nothing.
    assert!(with(&["-A", "-v"]).is_empty());
    for query in [&["--graph"][..], &["--explain=b"][..]] {
        let plain = with(query);
        assert!(!plain.is_empty(), "{query:?} printed nothing");
        let mut quick = vec!["-A"];
        quick.extend_from_slice(query);
        assert_eq!(with(&quick), plain, "{query:?} with -A");
    }
}
