//! `--explain=MODULE`: every claim checked against the indexes a normal run writes (each
//! dependency named is in the module's modules.dep line, each symbol named is one that
//! dependency provides in modules.symbols, the load order is the modules.dep line), on the
//! sample tree, on synthetic trees for each rule that chooses a file (search list, override,
//! equal priority), cycles, built-in and unknown names, paths, and on a real tree.

use crate::support::inputs::real_tree_or_skip;
use crate::support::*;
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::ffi::OsString;
use std::path::Path;
use std::process::Command;

fn x86() -> ModuleBuilder {
    ModuleBuilder::new(Arch::X86_64)
}

/// What a run printed.
struct Ran {
    status: Option<i32>,
    stdout: String,
    stderr: String,
}

fn depmod(args: &[OsString]) -> Ran {
    let out = Command::new(our_bin())
        .args(args)
        .env("LC_ALL", "C")
        .env_remove("DEPMOD_CACHE")
        .output()
        .expect("run depmod");
    Ran {
        status: out.status.code(),
        stdout: String::from_utf8(out.stdout).expect("UTF-8 stdout"),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// `args`, then `--explain=NAME` for each name.
fn with_explain(mut args: Vec<OsString>, names: &[&str], json: bool) -> Vec<OsString> {
    for n in names {
        args.push(format!("--explain={n}").into());
    }
    if json {
        args.push("--diagnostics=json".into());
    }
    args
}

/// The JSON objects of a `--diagnostics=json` run, one per line, each with exactly the
/// documented keys.
fn objects(ran: &Ran) -> Vec<Value> {
    const KEYS: [&str; 13] = [
        "module",
        "path",
        "chosen_by",
        "shadowed",
        "dependencies",
        "load_order",
        "used_by",
        "aliases",
        "softdeps",
        "weakdeps",
        "cycles",
        "unresolved",
        "builtin",
    ];
    ran.stdout
        .lines()
        .map(|l| {
            let v: Value = serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}"));
            let keys: BTreeSet<&str> = v.as_object().unwrap().keys().map(String::as_str).collect();
            assert_eq!(keys, KEYS.into_iter().collect(), "{l}");
            v
        })
        .collect()
}

fn strings(v: &Value) -> Vec<String> {
    v.as_array()
        .unwrap_or_else(|| panic!("not an array: {v}"))
        .iter()
        .map(|s| s.as_str().unwrap().to_string())
        .collect()
}

/// The module name of a path, as depmod makes it.
fn modname(path: &str) -> String {
    let file = path.rsplit('/').next().unwrap();
    file.split('.').next().unwrap().replace('-', "_")
}

/// modules.dep and modules.symbols of a normal run, parsed.
struct Indexes {
    /// Each module's path and its modules.dep list.
    dep: BTreeMap<String, Vec<String>>,
    /// (symbol, module) of every `alias symbol:NAME module` line.
    symbols: BTreeSet<(String, String)>,
}

impl Indexes {
    fn read(moddir: &Path) -> Indexes {
        let text = |name: &str| {
            std::fs::read_to_string(moddir.join(name))
                .unwrap_or_else(|e| panic!("{}/{name}: {e}", moddir.display()))
        };
        Indexes::parse(&text("modules.dep"), &text("modules.symbols"))
    }

    fn parse(dep: &str, symbols: &str) -> Indexes {
        let dep = dep
            .lines()
            .map(|l| {
                let (m, deps) = l.split_once(':').unwrap();
                (
                    m.to_string(),
                    deps.split_whitespace().map(str::to_string).collect(),
                )
            })
            .collect();
        let symbols = symbols
            .lines()
            .filter_map(|l| l.strip_prefix("alias symbol:"))
            .map(|l| {
                let (s, m) = l.split_once(' ').unwrap();
                (s.to_string(), m.to_string())
            })
            .collect();
        Indexes { dep, symbols }
    }

    /// Check one explanation against the indexes.
    fn check(&self, o: &Value) {
        let name = o["module"].as_str().unwrap();
        let path = o["path"].as_str().unwrap();
        let line = self
            .dep
            .get(path)
            .unwrap_or_else(|| panic!("{path} is not in modules.dep"));
        assert_eq!(modname(path), name);
        assert_eq!(&strings(&o["load_order"]), line, "{name}: load order");
        let mut direct = BTreeSet::new();
        for d in o["dependencies"].as_array().unwrap() {
            let (dm, dp) = (d["module"].as_str().unwrap(), d["path"].as_str().unwrap());
            assert!(line.iter().any(|l| l == dp), "{name}: {dp} not in its line");
            assert_eq!(modname(dp), dm);
            let syms = strings(&d["symbols"]);
            assert!(!syms.is_empty(), "{name} -> {dm}: no symbol");
            for s in syms {
                assert!(
                    self.symbols.contains(&(s.clone(), dm.to_string())),
                    "{name} -> {dm}: {s} is not exported by {dm} in modules.symbols"
                );
            }
            direct.insert(dp.to_string());
        }
        // Every module of the line is reached through a direct dependency.
        for l in line {
            let reached = direct.contains(l)
                || direct
                    .iter()
                    .any(|d| self.dep.get(d).is_some_and(|dl| dl.contains(l)));
            assert!(
                reached,
                "{name}: {l} of its line is reached by no dependency"
            );
        }
        // Its users list it in their lines; every module whose line lists it and which has
        // no other way to it is a user.
        let users: BTreeSet<String> = strings(&o["used_by"]).into_iter().collect();
        for (m, l) in &self.dep {
            if users.contains(&modname(m)) {
                assert!(
                    l.iter().any(|d| d == path),
                    "{m} uses {name}: not in its line"
                );
            }
        }
        assert!(o["cycles"].as_array().unwrap().is_empty());
        assert_eq!(o["builtin"], false);
        assert!(o["chosen_by"]["text"].is_string());
    }
}

/// An empty configuration directory: the host's depmod.d does not apply.
fn no_config() -> tempfile::TempDir {
    tempfile::tempdir().unwrap()
}

/// Every module of the sample tree explained, checked against the indexes of a normal run;
/// nothing written; the text names the same things.
#[test]
fn sample_tree_explanations_match_its_indexes() {
    let conf = no_config();
    let written = tempfile::tempdir().unwrap();
    let ran = sample_depmod(written.path())
        .arg("-C")
        .arg(conf.path())
        .output()
        .unwrap();
    assert!(ran.status.success());
    let moddir = written.path().join("lib/modules").join(SAMPLE_VERSION);
    let idx = Indexes::read(&moddir);
    let names: Vec<String> = idx.dep.keys().map(|p| modname(p)).collect();
    assert_eq!(names.len(), 10);

    let out = tempfile::tempdir().unwrap();
    let args = |json| {
        let mut v = argv([
            "-b".as_ref(),
            sample_root().as_os_str(),
            "-o".as_ref(),
            out.path().as_os_str(),
            "-C".as_ref(),
            conf.path().as_os_str(),
            SAMPLE_VERSION.as_ref(),
        ]);
        let refs: Vec<&str> = names.iter().map(String::as_str).collect();
        v = with_explain(v, &refs, json);
        v
    };
    let json = depmod(&args(true));
    assert_eq!(json.status, Some(0), "{}", json.stderr);
    assert_eq!(json.stderr, "");
    let objs = objects(&json);
    assert_eq!(objs.len(), names.len());
    for (o, n) in objs.iter().zip(&names) {
        assert_eq!(o["module"], n.as_str());
        idx.check(o);
    }
    assert!(
        std::fs::read_dir(out.path()).unwrap().next().is_none(),
        "--explain wrote files"
    );
    let by_name = |n: &str| objs.iter().find(|o| o["module"] == n).unwrap();

    // The diamond: dummy_eth's four dependencies, its weak import a dependency too.
    let eth = by_name("dummy_eth");
    let deps: BTreeSet<String> = eth["dependencies"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["module"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(
        deps,
        ["sample_bus", "sample_phy", "sample_util"]
            .map(String::from)
            .into()
    );
    assert_eq!(strings(&eth["aliases"]).len(), 2);
    assert_eq!(
        strings(&by_name("sample_core")["used_by"]),
        ["sample_util", "sample_bus", "sample_chr"]
    );
    assert_eq!(strings(&by_name("sample_fs")["softdeps"]), ["pre: crc32c"]);
    assert_eq!(strings(&by_name("sample_drm")["weakdeps"]), ["sample_led"]);
    // updates/sample_led.ko shadows the in-tree one: updates is the default search list.
    let led = by_name("sample_led");
    assert_eq!(led["path"], "updates/sample_led.ko");
    assert_eq!(led["chosen_by"]["rule"], "search");
    assert_eq!(led["chosen_by"]["entry"], "updates");
    assert_eq!(
        led["shadowed"][0]["path"],
        "kernel/drivers/misc/sample_led.ko"
    );
    assert_eq!(led["shadowed"][0]["lost_to"], "updates/sample_led.ko");
    assert_eq!(by_name("sample_usb")["chosen_by"]["rule"], "only");
    // Without -E/-F the kernel's symbols are unresolved.
    assert!(
        eth["unresolved"]
            .as_array()
            .unwrap()
            .iter()
            .any(|u| u["symbol"] == "_printk" && u["weak"] == false)
    );

    let text = depmod(&args(false));
    assert_eq!(text.status, Some(0));
    let blocks: Vec<&str> = text.stdout.split("\n\n").collect();
    assert_eq!(blocks.len(), names.len());
    for (b, o) in blocks.iter().zip(&objs) {
        let head = format!(
            "{}: {}\n",
            o["module"].as_str().unwrap(),
            o["path"].as_str().unwrap()
        );
        assert!(b.starts_with(&head), "{b}");
        for d in o["dependencies"].as_array().unwrap() {
            let mut line = format!(
                "    {} ({}):",
                d["module"].as_str().unwrap(),
                d["path"].as_str().unwrap()
            );
            for s in strings(&d["symbols"]) {
                line.push(' ');
                line.push_str(&s);
            }
            assert!(b.contains(&format!("{line}\n")), "{line} not in\n{b}");
        }
    }
    let led_text = blocks
        .iter()
        .find(|b| b.starts_with("sample_led:"))
        .unwrap();
    assert!(
        led_text.contains("  chosen by: search list: in updates (the default search list)"),
        "{led_text}"
    );
    assert!(
        led_text.contains("  shadows:\n    kernel/drivers/misc/sample_led.ko\n"),
        "{led_text}"
    );
}

/// A small tree: `core` exports, `mid` uses it, `top` uses both; `x` in kernel/, extra/ and
/// updates/.
fn small_tree() -> Tree {
    let t = Tree::new();
    t.add_module(
        "kernel/lib/core.ko",
        x86().export("core_a", 1).export("core_b", 2).build(),
    );
    t.add_module(
        "kernel/lib/mid-layer.ko",
        x86()
            .export("mid_a", 3)
            .import("core_a", Some(1))
            .alias("mid:*")
            .build(),
    );
    t.add_module(
        "kernel/top.ko",
        x86()
            .import("mid_a", Some(3))
            .import("core_b", Some(2))
            .import("core_a", Some(1))
            .import("printk", Some(9))
            .import("nowhere", None)
            .weak_import("maybe", None)
            .modinfo("softdep", "post: mid")
            .modinfo("weakdep", "core")
            .build(),
    );
    for dir in ["kernel/x", "extra", "updates"] {
        t.add_module(
            &format!("{dir}/x.ko"),
            x86().export(&format!("x_{}", dir.len()), 1).build(),
        );
    }
    t.modules_builtin("kernel/fs/ext4/ext4.ko\nkernel/crypto/crc32c_generic.ko\n");
    t.modules_builtin_modinfo("");
    t.modules_order(&[
        "kernel/lib/core.ko",
        "kernel/lib/mid-layer.ko",
        "kernel/top.ko",
    ]);
    t
}

/// A normal run's indexes of `t` with `extra` arguments.
fn indexes(t: &Tree, extra: &[&str]) -> Indexes {
    let ran = run_ours(t, extra);
    assert_eq!(ran.status, Some(0), "{}", ran.stderr_text());
    assert_eq!(ran.stderr_text(), "");
    Indexes::parse(&ran.text("modules.dep"), &ran.text("modules.symbols"))
}

#[test]
fn dependencies_symbols_users_and_unresolved() {
    let t = small_tree();
    let conf = no_config();
    let c = path_str(conf.path());
    let map = t.system_map(&["printk"]);
    let m = path_str(&map);
    let idx = indexes(&t, &["-C", &c, "-F", &m]);
    let ran = depmod(&with_explain(
        standard_argv(&t, &["-C", &c, "-F", &m]),
        &["top", "mid-layer", "mid_layer", "core"],
        true,
    ));
    assert_eq!(ran.status, Some(0), "{}", ran.stderr);
    let objs = objects(&ran);
    assert_eq!(objs.len(), 4);
    for o in &objs {
        idx.check(o);
    }
    let top = &objs[0];
    let deps: Vec<(String, Vec<String>)> = top["dependencies"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| (d["module"].as_str().unwrap().into(), strings(&d["symbols"])))
        .collect();
    assert_eq!(
        deps,
        vec![
            ("mid_layer".to_string(), vec!["mid_a".to_string()]),
            ("core".into(), vec!["core_b".into(), "core_a".into()]),
        ]
    );
    // printk comes from System.map: resolved, no dependency.
    assert_eq!(
        top["unresolved"],
        serde_json::json!([{"symbol": "nowhere", "weak": false}, {"symbol": "maybe", "weak": true}])
    );
    assert_eq!(strings(&top["softdeps"]), ["post: mid"]);
    assert_eq!(strings(&top["weakdeps"]), ["core"]);
    assert!(strings(&top["used_by"]).is_empty());
    // Dashes and underscores alike.
    assert_eq!(objs[1], objs[2]);
    assert_eq!(objs[1]["module"], "mid_layer");
    assert_eq!(strings(&objs[1]["aliases"]), ["mid:*"]);
    assert_eq!(strings(&objs[1]["used_by"]), ["top"]);
    let mut core_users = strings(&objs[3]["used_by"]);
    core_users.sort();
    assert_eq!(core_users, ["mid_layer", "top"]);
    // The text says the same.
    let text = depmod(&with_explain(
        standard_argv(&t, &["-C", &c, "-F", &m]),
        &["top"],
        false,
    ));
    let want = [
        "top: kernel/top.ko",
        "  chosen by: the only file named top",
        "  shadows: none",
        "  depends on:",
        "    mid_layer (kernel/lib/mid-layer.ko): mid_a",
        "    core (kernel/lib/core.ko): core_b core_a",
    ];
    assert_eq!(text.stdout.lines().take(6).collect::<Vec<_>>(), want);
    assert!(
        text.stdout
            .contains("  unresolved symbols:\n    nowhere\n    maybe (weak)\n")
    );
    assert!(!t.out_moddir().exists(), "--explain wrote files");
}

/// The default search list: updates/ first; extra/ and kernel/ equal (the first found stays).
#[test]
fn shadowed_by_updates() {
    let t = small_tree();
    let conf = no_config();
    let c = path_str(conf.path());
    let idx = indexes(&t, &["-C", &c]);
    let ran = depmod(&with_explain(standard_argv(&t, &["-C", &c]), &["x"], true));
    assert_eq!(ran.status, Some(0), "{}", ran.stderr);
    let o = &objects(&ran)[0];
    idx.check(o);
    assert_eq!(o["path"], "updates/x.ko");
    assert!(idx.dep.contains_key("updates/x.ko"));
    assert_eq!(o["chosen_by"]["rule"], "search");
    assert_eq!(o["chosen_by"]["entry"], "updates");
    assert!(
        o["chosen_by"].get("file").is_none(),
        "the default list has no file"
    );
    let shadowed: BTreeSet<&str> = o["shadowed"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["path"].as_str().unwrap())
        .collect();
    assert_eq!(shadowed, ["extra/x.ko", "kernel/x/x.ko"].into());
    assert!(!idx.dep.contains_key("extra/x.ko") && !idx.dep.contains_key("kernel/x/x.ko"));
}

/// `override` and `search` lines of a -C file: the rule names its file and line.
#[test]
fn override_and_search_lines_are_named() {
    let t = small_tree();
    let conf = t.top_file(
        "conf.d/x.conf",
        "# choose\nsearch extra built-in\n\noverride x * kernel/x\n",
    );
    let c = path_str(conf.parent().unwrap());
    let cf = path_str(&conf);
    let idx = indexes(&t, &["-C", &c]);
    let ran = depmod(&with_explain(standard_argv(&t, &["-C", &c]), &["x"], true));
    assert_eq!(ran.status, Some(0), "{}", ran.stderr);
    let o = &objects(&ran)[0];
    idx.check(o);
    assert_eq!(o["path"], "kernel/x/x.ko");
    let by = &o["chosen_by"];
    assert_eq!(by["rule"], "override");
    assert_eq!(by["file"], cf.as_str());
    assert_eq!(by["line"], 4);
    assert!(
        by["text"]
            .as_str()
            .unwrap()
            .contains("override x * kernel/x"),
        "{by}"
    );
    let shadowed: BTreeSet<&str> = o["shadowed"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["path"].as_str().unwrap())
        .collect();
    assert_eq!(shadowed, ["extra/x.ko", "updates/x.ko"].into());

    // Without the override, `search extra built-in` puts extra/ first, updates/ and kernel/
    // at the priority of built-in.
    let conf2 = t.top_file("conf2.d/x.conf", "search extra built-in\n");
    let c2 = path_str(conf2.parent().unwrap());
    let idx = indexes(&t, &["-C", &c2]);
    let ran = depmod(&with_explain(standard_argv(&t, &["-C", &c2]), &["x"], true));
    let o = &objects(&ran)[0];
    idx.check(o);
    assert_eq!(o["path"], "extra/x.ko");
    assert_eq!(o["chosen_by"]["rule"], "search");
    assert_eq!(o["chosen_by"]["entry"], "extra");
    assert_eq!(o["chosen_by"]["file"], path_str(&conf2).as_str());
    assert_eq!(o["chosen_by"]["line"], 1);
    for s in o["shadowed"].as_array().unwrap() {
        let text = s["text"].as_str().unwrap();
        if s["lost_to"] == "extra/x.ko" {
            assert!(text.contains("built-in"), "{s}");
        } else {
            // Two files at the priority of built-in: the one found first stayed, then lost.
            assert_eq!(s["rule"], "found-first", "{s}");
        }
    }
    let text = depmod(&with_explain(standard_argv(&t, &["-C", &c]), &["x"], false));
    assert!(
        text.stdout.contains(&format!(
            "  chosen by: override line {cf}:4: override x * kernel/x\n"
        )),
        "{}",
        text.stdout
    );
}

/// A cycle: linking fails as it does without --explain (messages, exit 1), and the modules
/// are still explained: their cycles, no load order.
#[test]
fn modules_in_a_cycle() {
    let t = Tree::new();
    t.add_module(
        "kernel/a.ko",
        x86().export("fa", 1).import("fb", None).build(),
    );
    t.add_module(
        "kernel/b.ko",
        x86()
            .export("fb", 1)
            .import("fc", None)
            .import("fa", None)
            .build(),
    );
    t.add_module(
        "kernel/c.ko",
        x86().export("fc", 1).import("fa", None).build(),
    );
    t.add_module("kernel/user.ko", x86().import("fa", None).build());
    let conf = no_config();
    let c = path_str(conf.path());
    let plain = depmod(&standard_argv(&t, &["-C", &c, "--diagnostics=json"]));
    assert_eq!(plain.status, Some(1));
    let ran = depmod(&with_explain(
        standard_argv(&t, &["-C", &c]),
        &["a", "user"],
        true,
    ));
    assert_eq!(ran.status, Some(1));
    assert_eq!(ran.stderr, plain.stderr, "the same cycle report");
    assert!(ran.stderr.contains("Cycle detected: "));
    let objs = objects(&ran);
    let a = &objs[0];
    assert_eq!(a["load_order"], Value::Null);
    let cycles: Vec<Vec<String>> = a["cycles"]
        .as_array()
        .unwrap()
        .iter()
        .map(strings)
        .collect();
    assert_eq!(cycles, vec![vec!["a", "b", "a"]]);
    let mut users = strings(&a["used_by"]);
    users.sort();
    assert_eq!(users, ["b", "c", "user"]);
    let user = &objs[1];
    assert!(user["cycles"].as_array().unwrap().is_empty());
    assert_eq!(user["load_order"], Value::Null);
    assert_eq!(
        user["dependencies"][0]["symbols"],
        serde_json::json!(["fa"])
    );
    // b is in two cycles: through c and through a.
    let ran = depmod(&with_explain(standard_argv(&t, &["-C", &c]), &["b"], false));
    assert!(
        ran.stdout
            .contains("  cycles:\n    b -> c -> a -> b\n    b -> a -> b\n"),
        "{}",
        ran.stdout
    );
    assert!(
        ran.stdout
            .contains("  load order: unknown: linking failed on a dependency cycle\n"),
        "{}",
        ran.stdout
    );
    assert!(!t.out_moddir().exists());
}

/// Built-in and unknown names; the others are still explained, in order.
#[test]
fn builtin_and_unknown_names() {
    let t = small_tree();
    let conf = no_config();
    let c = path_str(conf.path());
    let ran = depmod(&with_explain(
        standard_argv(&t, &["-C", &c]),
        &["ext4", "no-such", "core", "crc32c-generic"],
        false,
    ));
    assert_eq!(ran.status, Some(1));
    assert_eq!(
        ran.stderr,
        "depmod: ERROR: --explain: no module named no-such\n"
    );
    let blocks: Vec<&str> = ran.stdout.split("\n\n").collect();
    assert_eq!(blocks.len(), 3, "{}", ran.stdout);
    assert_eq!(
        blocks[0],
        "ext4: built into the kernel (listed in modules.builtin)"
    );
    assert!(blocks[1].starts_with("core: kernel/lib/core.ko\n"));
    assert_eq!(
        blocks[2],
        "crc32c_generic: built into the kernel (listed in modules.builtin)\n"
    );

    let ran = depmod(&with_explain(
        standard_argv(&t, &["-C", &c, "--diagnostics=json"]),
        &["ext4", "no-such"],
        false,
    ));
    assert_eq!(ran.status, Some(1));
    let o = &objects(&ran)[0];
    assert_eq!(o["builtin"], true);
    assert_eq!(o["path"], Value::Null);
    assert_eq!(o["chosen_by"], Value::Null);
    let diag: Value = serde_json::from_str(ran.stderr.trim_end()).unwrap();
    assert_eq!(diag["kind"], "bad-argument");
    assert_eq!(diag["level"], "error");
}

/// A path: absolute, relative to the module directory, relative to the working directory, a
/// shadowed file (explained with its module), a file that is no module of the tree.
#[test]
fn paths_name_modules() {
    let t = small_tree();
    let conf = no_config();
    let c = path_str(conf.path());
    let moddir = t.moddir();
    let abs = path_str(&moddir.join("kernel/lib/mid-layer.ko"));
    let shadowed = path_str(&moddir.join("kernel/x/x.ko"));
    let outside = t.top_file("elsewhere/core.ko", x86().build());
    let names = [
        abs.as_str(),
        "kernel/lib/core.ko",
        &shadowed,
        &path_str(&outside),
        "kernel/none.ko",
    ];
    let ran = depmod(&with_explain(standard_argv(&t, &["-C", &c]), &names, true));
    assert_eq!(ran.status, Some(1));
    let objs = objects(&ran);
    let got: Vec<(&str, &str)> = objs
        .iter()
        .map(|o| (o["module"].as_str().unwrap(), o["path"].as_str().unwrap()))
        .collect();
    assert_eq!(
        got,
        [
            ("mid_layer", "kernel/lib/mid-layer.ko"),
            ("core", "kernel/lib/core.ko"),
            ("x", "updates/x.ko"),
        ]
    );
    let errors: Vec<String> = ran
        .stderr
        .lines()
        .map(|l| {
            let d: Value = serde_json::from_str(l).unwrap();
            d["text"].as_str().unwrap().to_string()
        })
        .collect();
    assert_eq!(
        errors,
        [
            format!(
                "depmod: ERROR: --explain: no module file {} in the tree",
                path_str(&outside)
            ),
            "depmod: ERROR: --explain: no module file kernel/none.ko in the tree".to_string(),
        ]
    );
    // Relative to the working directory; the text notes a shadowed file.
    let mut args = with_explain(
        standard_argv(&t, &["-C", &c]),
        &["root/lib/modules/6.1.0-synth/kernel/x/x.ko"],
        false,
    );
    args.push("-j1".into());
    let out = Command::new(our_bin())
        .args(&args)
        .current_dir(t.top())
        .env_remove("DEPMOD_CACHE")
        .output()
        .unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        text.starts_with("x: updates/x.ko\n  note: kernel/x/x.ko is not used: it is shadowed\n"),
        "{text}"
    );
}

/// A handful of modules of a real kernel, checked against its indexes.
#[test]
fn real_tree_modules() {
    let Some(tree) = real_tree_or_skip("cloud-amd64") else {
        return;
    };
    let conf = no_config();
    let out = tempfile::tempdir().unwrap();
    let base = |out: &Path| {
        argv([
            "-b".as_ref(),
            tree.root.as_os_str(),
            "-o".as_ref(),
            out.as_os_str(),
            "-C".as_ref(),
            conf.path().as_os_str(),
            tree.version.as_ref(),
        ])
    };
    let ran = depmod(&base(out.path()));
    assert_eq!(ran.status, Some(0), "{}", ran.stderr);
    let idx = Indexes::read(&out.path().join("lib/modules").join(&tree.version));
    // The modules with the longest lines, a few with none, and some well-known ones that the
    // tree may have.
    let mut by_len: Vec<(&String, &Vec<String>)> = idx.dep.iter().collect();
    by_len.sort_by_key(|(p, l)| (std::cmp::Reverse(l.len()), p.to_string()));
    let mut names: Vec<String> = by_len.iter().take(4).map(|(p, _)| modname(p)).collect();
    names.extend(by_len.iter().rev().take(2).map(|(p, _)| modname(p)));
    for known in ["fuse", "ext4", "virtio_net", "nf_tables", "xfs"] {
        if idx.dep.keys().any(|p| modname(p) == known) {
            names.push(known.to_string());
        }
    }
    let refs: Vec<&str> = names.iter().map(String::as_str).collect();
    let empty = tempfile::tempdir().unwrap();
    let ran = depmod(&with_explain(base(empty.path()), &refs, true));
    assert_eq!(ran.status, Some(0), "{}", ran.stderr);
    let objs = objects(&ran);
    assert_eq!(objs.len(), names.len());
    for (o, n) in objs.iter().zip(&names) {
        assert_eq!(o["module"], n.as_str());
        idx.check(o);
    }
    assert!(std::fs::read_dir(empty.path()).unwrap().next().is_none());
}
