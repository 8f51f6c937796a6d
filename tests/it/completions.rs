//! The shell completions in `completions/` (bash, zsh, fish).
//!
//! Each script loads in its shell without a message; completing `depmod -b <TAB>` offers
//! directories and no file; completing the operand after `-b ROOT` offers the kernel versions
//! in ROOT/lib/modules (or `-m`'s directory, or ROOT/usr/lib/modules) and nothing else; later
//! operands offer `*.ko*` files. Bash is driven through its completion function and through a
//! real interactive TAB in tmux, fish through `complete -C`, zsh through tmux. The drift tests
//! check that the options each script declares, and the options each shell offers after `-`,
//! are exactly those of `depmod::cli::OPTIONS`.
//!
//! A missing shell or tmux skips the test (see `support::skip`), except under `CI=true`, where
//! it fails.

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use crate::support::skip::have_tool;
use depmod::cli::{HasArg, OPTIONS};

/// Whether every tool runs; records a skip (a failure under CI) for each that does not.
fn have(tools: &[&'static str]) -> bool {
    let mut all = true;
    for &tool in tools {
        let flag = if tool == "tmux" { "-V" } else { "--version" };
        // Each tool is also its Debian package's name.
        all &= have_tool(tool, flag, tool, "its completion tests not run");
    }
    all
}

fn script(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("completions")
        .join(name)
}

fn text(path: &Path) -> String {
    fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// A word quoted for bash and zsh.
fn sh_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

/// A word quoted for fish.
fn fish_quote(s: &str) -> String {
    format!("'{}'", s.replace('\\', r"\\").replace('\'', r"\'"))
}

fn utf8(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

// ---------------------------------------------------------------------------------------------
// The trees completed in.

const V1: &str = "5.10.0-1-amd64";
const V2: &str = "6.1.0-2-amd64";
const NOT_A_VERSION: &str = "notaversion.txt";

/// `home/` (HOME of the shells), `work/` (their current directory: `alpha/`, `beta/`, `mods/`
/// with module files, the file `gamma.txt`), `root/` (a base directory with two kernel versions
/// and a file in lib/modules, and one version in opt/mods), `usrroot/` (versions only in
/// usr/lib/modules).
struct Fixture {
    dir: tempfile::TempDir,
}

impl Fixture {
    fn new() -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path();
        for d in [
            "home",
            "work/alpha",
            "work/beta",
            "work/mods",
            &format!("root/lib/modules/{V1}/kernel"),
            &format!("root/lib/modules/{V2}"),
            "root/opt/mods/7.0.0-custom",
            "usrroot/usr/lib/modules/6.6.6-usr",
        ] {
            fs::create_dir_all(p.join(d)).unwrap();
        }
        for f in [
            "work/gamma.txt".to_string(),
            "work/mods/x.ko".to_string(),
            "work/mods/y.ko.xz".to_string(),
            "work/mods/z.txt".to_string(),
            format!("root/lib/modules/{NOT_A_VERSION}"),
        ] {
            fs::write(p.join(f), b"").unwrap();
        }
        Fixture { dir }
    }

    fn home(&self) -> PathBuf {
        self.dir.path().join("home")
    }

    fn work(&self) -> PathBuf {
        self.dir.path().join("work")
    }

    fn root(&self) -> String {
        self.dir.path().join("root").to_str().unwrap().to_string()
    }

    fn usrroot(&self) -> String {
        self.dir
            .path()
            .join("usrroot")
            .to_str()
            .unwrap()
            .to_string()
    }

    /// A command run in `work/` with HOME in `home/` and a minimal environment.
    fn command(&self, program: &str) -> Command {
        let mut cmd = Command::new(program);
        cmd.current_dir(self.work())
            .env_clear()
            .env("HOME", self.home())
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("LC_ALL", "C.UTF-8");
        cmd
    }
}

fn set(items: &[&str]) -> BTreeSet<String> {
    items.iter().map(|s| s.to_string()).collect()
}

/// Asserts that `got` holds every `wanted` and none of `unwanted`.
fn offers(what: &str, got: &BTreeSet<String>, wanted: &[&str], unwanted: &[&str]) {
    for w in wanted {
        assert!(
            got.contains(*w),
            "{what}: {w:?} not offered; offered {got:?}"
        );
    }
    for u in unwanted {
        assert!(!got.contains(*u), "{what}: {u:?} offered; offered {got:?}");
    }
}

// ---------------------------------------------------------------------------------------------
// The option table and the options each script declares.

#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct Opt {
    short: Option<char>,
    long: BTreeSet<String>,
    arg: bool,
}

fn table() -> BTreeSet<Opt> {
    OPTIONS
        .iter()
        .map(|o| Opt {
            short: (o.short != 0).then_some(o.short as char),
            long: o.long.iter().map(|l| l.to_string()).collect(),
            arg: o.has_arg == HasArg::Required,
        })
        .collect()
}

/// Every name of the table as typed (`-b`, `--basedir`), with whether it takes an argument.
fn table_names() -> BTreeSet<(String, bool)> {
    let mut names = BTreeSet::new();
    for o in table() {
        if let Some(c) = o.short {
            names.insert((format!("-{c}"), o.arg));
        }
        for l in &o.long {
            names.insert((format!("--{l}"), o.arg));
        }
    }
    names
}

/// The options that are additions to kmod's: the rows after kmod's last one, `-h`.
fn additions() -> BTreeSet<String> {
    let last_kmod = OPTIONS.iter().position(|o| o.short == b'h').unwrap();
    OPTIONS[last_kmod + 1..]
        .iter()
        .map(|o| match o.short {
            0 => format!("--{}", o.long[0]),
            c => format!("-{}", c as char),
        })
        .collect()
}

/// The text of `local -A NAME=( ... )` in the bash script, as `[KEY]=VALUE` pairs.
fn bash_assoc(src: &str, name: &str) -> Vec<(String, String)> {
    let start = src
        .find(&format!("local -A {name}=("))
        .unwrap_or_else(|| panic!("depmod.bash: no `local -A {name}=(`"));
    let body = &src[start..];
    let body = &body[body.find('(').unwrap() + 1..body.find("\n    )").unwrap()];
    body.split_whitespace()
        .map(|item| {
            let (key, value) = item
                .strip_prefix('[')
                .and_then(|i| i.split_once("]="))
                .unwrap_or_else(|| panic!("depmod.bash: {name}: bad item {item:?}"));
            (key.to_string(), value.to_string())
        })
        .collect()
}

/// The options the bash script declares: `_depmod_kinds` (each option by its short form or
/// long-only name, with its argument kind) and `_depmod_longs` (long name → option).
fn bash_options(src: &str) -> BTreeSet<Opt> {
    let kinds = bash_assoc(src, "_depmod_kinds");
    let longs = bash_assoc(src, "_depmod_longs");
    for (long, key) in &longs {
        assert!(
            kinds.iter().any(|(k, _)| k == key),
            "depmod.bash: {long} names {key}, which _depmod_kinds lacks"
        );
    }
    kinds
        .iter()
        .map(|(key, kind)| Opt {
            short: key
                .strip_prefix('-')
                .filter(|k| k.len() == 1)
                .and_then(|k| k.chars().next()),
            long: longs
                .iter()
                .filter(|(_, k)| k == key)
                .map(|(l, _)| l.trim_start_matches('-').to_string())
                .collect(),
            arg: kind != "-",
        })
        .collect()
}

/// One zsh `_arguments` item (`-b+`, `--basedir=`, `-a`, `--all`): its name and whether it
/// takes an argument.
fn zsh_item(item: &str) -> (String, bool) {
    match item.strip_suffix(['+', '=']) {
        Some(name) => (name.to_string(), true),
        None => (item.to_string(), false),
    }
}

/// The options in the zsh script's `_arguments` call: one spec a line, either
/// `'(excl)'{-b+,--basedir=}'[help]...'` (a brace group naming one option) or `'--cache[help]'`
/// (`'*--explain=[help]...'` when repeatable).
fn zsh_options(src: &str) -> BTreeSet<Opt> {
    let start = src
        .find("\n_arguments")
        .expect("_depmod: no _arguments call");
    let mut opts = BTreeSet::new();
    for line in src[start + 1..].lines().skip(1) {
        let spec = line.trim().trim_end_matches('\\').trim();
        let items: Vec<(String, bool)> = if let Some(open) = spec.find('{') {
            let close = spec.find('}').expect("unclosed brace");
            spec[open + 1..close].split(',').map(zsh_item).collect()
        } else if let Some(rest) = spec.strip_prefix("'-").or_else(|| spec.strip_prefix("'*-")) {
            let name = &rest[..rest.find('[').expect("option spec without help")];
            vec![zsh_item(&format!("-{name}"))]
        } else {
            Vec::new()
        };
        if !items.is_empty() {
            let arg = items[0].1;
            assert!(
                items.iter().all(|(_, a)| *a == arg),
                "_depmod: {spec}: names disagree on the argument"
            );
            let mut opt = Opt {
                short: None,
                long: BTreeSet::new(),
                arg,
            };
            for (name, _) in items {
                if let Some(l) = name.strip_prefix("--") {
                    opt.long.insert(l.to_string());
                } else {
                    assert_eq!(name.len(), 2, "_depmod: {spec}: bad name {name}");
                    opt.short = name.chars().nth(1);
                }
            }
            opts.insert(opt);
        }
        if !line.trim_end().ends_with('\\') {
            break;
        }
    }
    opts
}

/// The options in the fish script: `complete -c depmod ... -s X -l NAME ...` lines, `-x` or
/// `-r` marking an argument.
fn fish_options(src: &str) -> BTreeSet<Opt> {
    let mut opts = BTreeSet::new();
    for line in src.lines() {
        let Some(rest) = line.trim().strip_prefix("complete -c depmod ") else {
            continue;
        };
        // The description comes last and is free text.
        let rest = rest.split(" -d ").next().unwrap();
        let words: Vec<&str> = rest.split_whitespace().collect();
        let mut opt = Opt {
            short: None,
            long: BTreeSet::new(),
            arg: words.iter().any(|w| *w == "-x" || *w == "-r"),
        };
        for pair in words.windows(2) {
            match pair[0] {
                "-s" => {
                    assert_eq!(pair[1].len(), 1, "depmod.fish: {line}");
                    opt.short = pair[1].chars().next();
                }
                "-l" => {
                    opt.long.insert(pair[1].to_string());
                }
                "-o" => panic!("depmod.fish: {line}: old-style option"),
                _ => {}
            }
        }
        if opt.short.is_some() || !opt.long.is_empty() {
            opts.insert(opt);
        }
    }
    opts
}

fn assert_same_options(script: &str, declared: &BTreeSet<Opt>) {
    let table = table();
    let missing: Vec<&Opt> = table.difference(declared).collect();
    let extra: Vec<&Opt> = declared.difference(&table).collect();
    assert!(
        missing.is_empty() && extra.is_empty(),
        "{script} is out of step with depmod::cli::OPTIONS:\n  in the table, not the script \
         (or declared differently): {missing:?}\n  in the script, not the table: {extra:?}"
    );
}

#[test]
fn drift_bash_declares_exactly_the_table() {
    let src = text(&script("depmod.bash"));
    assert_same_options("completions/depmod.bash", &bash_options(&src));
    let line = src
        .lines()
        .find_map(|l| l.trim().strip_prefix("local _depmod_additions="))
        .expect("depmod.bash: no _depmod_additions");
    let declared: BTreeSet<String> = line
        .trim_matches('\'')
        .split_whitespace()
        .map(str::to_string)
        .collect();
    assert_eq!(declared, additions(), "depmod.bash: _depmod_additions");
}

#[test]
fn drift_zsh_declares_exactly_the_table() {
    assert_same_options(
        "completions/_depmod",
        &zsh_options(&text(&script("_depmod"))),
    );
}

#[test]
fn drift_fish_declares_exactly_the_table() {
    let src = text(&script("depmod.fish"));
    assert_same_options("completions/depmod.fish", &fish_options(&src));
    // The additions, for matching abbreviated long options the way depmod does.
    let line = src
        .lines()
        .find_map(|l| l.trim().strip_prefix("set -l additions "))
        .expect("depmod.fish: no `set -l additions`");
    let declared: BTreeSet<String> = line
        .split_whitespace()
        .map(|e| {
            let (long, id) = e.split_once(':').unwrap();
            assert!(
                table().iter().any(|o| o.long.contains(long)),
                "depmod.fish: additions: unknown --{long}"
            );
            if id.len() == 1 {
                format!("-{id}")
            } else {
                format!("--{id}")
            }
        })
        .collect();
    assert_eq!(declared, additions(), "depmod.fish: additions");
}

// ---------------------------------------------------------------------------------------------
// Bash.

/// Runs the completion function on `words` (as bash splits them: `--basedir=/x` is `--basedir`,
/// `=`, `/x`), the line being `line` with the cursor at its end; returns COMPREPLY. Under
/// `set -u`, and the function must print nothing.
fn bash_complete(fx: &Fixture, line: &str, words: &[&str]) -> BTreeSet<String> {
    let quoted: Vec<String> = words.iter().map(|w| sh_quote(w)).collect();
    let program = format!(
        "set -u\nsource {}\nCOMP_LINE={}\nCOMP_POINT=${{#COMP_LINE}}\nCOMP_WORDS=({})\n\
         COMP_CWORD={}\n_depmod\nprintf '%s\\n' \"${{COMPREPLY[@]}}\"\n",
        sh_quote(script("depmod.bash").to_str().unwrap()),
        sh_quote(line),
        quoted.join(" "),
        words.len() - 1
    );
    let out = fx
        .command("bash")
        .args(["--norc", "--noprofile", "-c", &program])
        .output()
        .unwrap();
    let stderr = utf8(&out.stderr);
    assert!(
        out.status.success() && stderr.is_empty(),
        "bash completion of {line:?}: {}\n{stderr}",
        out.status
    );
    utf8(&out.stdout)
        .lines()
        .filter(|l| !l.is_empty())
        .map(str::to_string)
        .collect()
}

#[test]
fn bash_script_loads() {
    if !have(&["bash"]) {
        return;
    }
    let path = script("depmod.bash");
    let out = Command::new("bash").arg("-n").arg(&path).output().unwrap();
    assert!(out.status.success(), "bash -n: {}", utf8(&out.stderr));
    // Sourced in an interactive shell, as bash-completion does.
    let fx = Fixture::new();
    let out = fx
        .command("bash")
        .args(["--norc", "--noprofile", "-i", "-c"])
        .arg(format!(
            "source {} && complete -p depmod",
            sh_quote(path.to_str().unwrap())
        ))
        .output()
        .unwrap();
    // Without a terminal an interactive bash says it has no job control; nothing else may show.
    let stderr: Vec<String> = utf8(&out.stderr)
        .lines()
        .filter(|l| !l.contains("job control") && !l.contains("terminal process group"))
        .map(str::to_string)
        .collect();
    assert!(
        out.status.success() && stderr.is_empty(),
        "sourcing depmod.bash: {stderr:?}"
    );
    assert_eq!(utf8(&out.stdout).trim(), "complete -F _depmod depmod");
}

#[test]
fn bash_completes_directories_after_b() {
    if !have(&["bash"]) {
        return;
    }
    let fx = Fixture::new();
    let dirs = ["alpha", "beta", "mods", "root"];
    let got = bash_complete(&fx, "depmod -b ", &["depmod", "-b", ""]);
    offers("-b ", &got, &["alpha", "beta", "mods"], &["gamma.txt"]);
    let got = bash_complete(&fx, "depmod --basedir ", &["depmod", "--basedir", ""]);
    offers("--basedir ", &got, &dirs[..3], &["gamma.txt"]);
    // --basedir=: readline completes the part after `=`.
    let got = bash_complete(&fx, "depmod --basedir=", &["depmod", "--basedir", "="]);
    offers("--basedir=", &got, &dirs[..3], &["gamma.txt"]);
    let got = bash_complete(
        &fx,
        "depmod --basedir=a",
        &["depmod", "--basedir", "=", "a"],
    );
    assert_eq!(got, set(&["alpha"]));
    // Attached to a cluster of short options.
    let got = bash_complete(&fx, "depmod -vba", &["depmod", "-vba"]);
    assert_eq!(got, set(&["-vbalpha/"]));
    // -o and -m take directories too; -C takes files and directories.
    let got = bash_complete(&fx, "depmod -o ", &["depmod", "-o", ""]);
    offers("-o ", &got, &dirs[..3], &["gamma.txt"]);
    let got = bash_complete(&fx, "depmod -m ", &["depmod", "-m", ""]);
    offers("-m ", &got, &dirs[..3], &["gamma.txt"]);
    let got = bash_complete(&fx, "depmod -C ", &["depmod", "-C", ""]);
    offers("-C ", &got, &["alpha", "gamma.txt"], &[]);
    let got = bash_complete(&fx, "depmod -j ", &["depmod", "-j", ""]);
    assert!(got.is_empty(), "-j offers {got:?}");
}

#[test]
fn bash_completes_kernel_versions_then_modules() {
    if !have(&["bash"]) {
        return;
    }
    let fx = Fixture::new();
    let root = fx.root();
    let unwanted = [NOT_A_VERSION, "alpha", "kernel", "7.0.0-custom"];
    let cases: Vec<(String, Vec<String>)> = vec![
        (
            format!("depmod -b {root} "),
            vec!["-b".into(), root.clone()],
        ),
        (format!("depmod -b{root} "), vec![format!("-b{root}")]),
        (format!("depmod -vab{root} "), vec![format!("-vab{root}")]),
        (
            format!("depmod --basedir={root} "),
            vec!["--basedir".into(), "=".into(), root.clone()],
        ),
        (
            format!("depmod --base {root} "),
            vec!["--base".into(), root.clone()],
        ),
        (
            format!("depmod -a -b {root} -v "),
            vec!["-a".into(), "-b".into(), root.clone(), "-v".into()],
        ),
    ];
    for (line, middle) in &cases {
        let mut words = vec!["depmod"];
        words.extend(middle.iter().map(String::as_str));
        words.push("");
        let got = bash_complete(&fx, line, &words);
        offers(line, &got, &[V1, V2], &unwanted);
    }
    let line = format!("depmod -b {root} 6");
    assert_eq!(
        bash_complete(&fx, &line, &["depmod", "-b", &root, "6"]),
        set(&[V2])
    );
    // -m names the module directory under the base.
    let line = format!("depmod -m /opt/mods -b {root} ");
    let got = bash_complete(&fx, &line, &["depmod", "-m", "/opt/mods", "-b", &root, ""]);
    assert_eq!(got, set(&["7.0.0-custom"]));
    // Without lib/modules, usr/lib/modules.
    let usr = fx.usrroot();
    let line = format!("depmod -b {usr} ");
    assert_eq!(
        bash_complete(&fx, &line, &["depmod", "-b", &usr, ""]),
        set(&["6.6.6-usr"])
    );
    // After the version: module files and directories.
    let line = format!("depmod -b {root} {V1} mods/");
    let got = bash_complete(&fx, &line, &["depmod", "-b", &root, V1, "mods/"]);
    assert_eq!(got, set(&["mods/x.ko", "mods/y.ko.xz"]));
    // After --, words starting with - are operands too.
    let line = format!("depmod -b {root} -- ");
    let got = bash_complete(&fx, &line, &["depmod", "-b", &root, "--", ""]);
    offers(&line, &got, &[V1, V2], &unwanted);
}

#[test]
fn drift_bash_offers_exactly_the_table() {
    if !have(&["bash"]) {
        return;
    }
    let fx = Fixture::new();
    let got = bash_complete(&fx, "depmod -", &["depmod", "-"]);
    let names: BTreeSet<String> = got.iter().map(|w| w.trim_end_matches('=').into()).collect();
    let table: BTreeSet<String> = table_names().into_iter().map(|(n, _)| n).collect();
    assert_eq!(names, table);
    // Long options taking an argument are offered as `--name=`.
    for (name, arg) in table_names() {
        if name.starts_with("--") {
            assert_eq!(got.contains(&format!("{name}=")), arg, "{name}");
        }
    }
    let longs = bash_complete(&fx, "depmod --", &["depmod", "--"]);
    let expect: BTreeSet<String> = got.into_iter().filter(|w| w.starts_with("--")).collect();
    assert_eq!(longs, expect);
}

// ---------------------------------------------------------------------------------------------
// Fish.

/// `complete -C LINE` after sourcing the script: the candidates, without descriptions.
fn fish_complete(fx: &Fixture, line: &str) -> BTreeSet<String> {
    let program = format!(
        "source {}; complete -C {}",
        fish_quote(script("depmod.fish").to_str().unwrap()),
        fish_quote(line)
    );
    let out = fx
        .command("fish")
        .args(["--no-config", "-c", &program])
        .output()
        .unwrap();
    let stderr = utf8(&out.stderr);
    assert!(
        out.status.success() && stderr.is_empty(),
        "fish completion of {line:?}: {}\n{stderr}",
        out.status
    );
    utf8(&out.stdout)
        .lines()
        .map(|l| l.split('\t').next().unwrap().to_string())
        .collect()
}

#[test]
fn fish_script_loads() {
    if !have(&["fish"]) {
        return;
    }
    let path = script("depmod.fish");
    let out = Command::new("fish")
        .arg("--no-config")
        .arg("-n")
        .arg(&path)
        .output()
        .unwrap();
    assert!(out.status.success(), "fish -n: {}", utf8(&out.stderr));
    let fx = Fixture::new();
    let out = fx
        .command("fish")
        .args(["--no-config", "-c"])
        .arg(format!(
            "source {}; and complete -c depmod",
            fish_quote(path.to_str().unwrap())
        ))
        .output()
        .unwrap();
    let stderr = utf8(&out.stderr);
    assert!(
        out.status.success() && stderr.is_empty(),
        "sourcing depmod.fish: {stderr}"
    );
    assert!(utf8(&out.stdout).contains("-l basedir"));
}

#[test]
fn fish_completes_directories_versions_and_modules() {
    if !have(&["fish"]) {
        return;
    }
    let fx = Fixture::new();
    let got = fish_complete(&fx, "depmod -b ");
    offers("-b ", &got, &["alpha/", "beta/", "mods/"], &["gamma.txt"]);
    let got = fish_complete(&fx, "depmod --basedir=a");
    assert_eq!(got, set(&["--basedir=alpha/"]));
    let got = fish_complete(&fx, "depmod -vba");
    assert_eq!(got, set(&["-vbalpha/"]));
    let got = fish_complete(&fx, "depmod -o ");
    offers("-o ", &got, &["alpha/"], &["gamma.txt"]);
    let got = fish_complete(&fx, "depmod -C ");
    offers("-C ", &got, &["alpha/", "gamma.txt"], &[]);

    let root = fx.root();
    let unwanted = [NOT_A_VERSION, "alpha/", "alpha", "kernel", "7.0.0-custom"];
    for line in [
        format!("depmod -b {root} "),
        format!("depmod -b{root} "),
        format!("depmod --basedir={root} "),
        format!("depmod --base {root} "),
        format!("depmod -va -b {root} -n "),
    ] {
        let got = fish_complete(&fx, &line);
        offers(&line, &got, &[V1, V2], &unwanted);
    }
    assert_eq!(
        fish_complete(&fx, &format!("depmod -b {root} 6")),
        set(&[V2])
    );
    assert_eq!(
        fish_complete(&fx, &format!("depmod -m /opt/mods -b {root} ")),
        set(&["7.0.0-custom"])
    );
    assert_eq!(
        fish_complete(&fx, &format!("depmod -b {} ", fx.usrroot())),
        set(&["6.6.6-usr"])
    );
    assert_eq!(
        fish_complete(&fx, &format!("depmod -b {root} {V1} mods/")),
        set(&["mods/x.ko", "mods/y.ko.xz"])
    );
}

#[test]
fn drift_fish_offers_exactly_the_table() {
    if !have(&["fish"]) {
        return;
    }
    let fx = Fixture::new();
    let names: BTreeSet<String> = table_names().into_iter().map(|(n, _)| n).collect();
    assert_eq!(fish_complete(&fx, "depmod -"), names);
    let longs: BTreeSet<String> = names.into_iter().filter(|n| n.starts_with("--")).collect();
    assert_eq!(fish_complete(&fx, "depmod --"), longs);
}

// ---------------------------------------------------------------------------------------------
// Interactive shells in tmux (bash and zsh).

/// A tmux server of its own, killed when dropped, running one shell. Its socket lies in the
/// fixture's temporary directory (tmux leaves the file behind), unique to the test.
struct Tmux {
    socket: PathBuf,
    prompt: &'static str,
}

static SESSIONS: AtomicUsize = AtomicUsize::new(0);
const WAIT: Duration = Duration::from_secs(20);

impl Tmux {
    /// Starts `shell` (in a minimal environment) in a 200×60 window, types `setup` and waits
    /// until it has run. `setup` must set the prompt to `prompt` and end by printing READY-2
    /// (as `READY-$((1+1))`, so that the typed line does not match).
    fn start(fx: &Fixture, shell: &[&str], setup: &str, prompt: &'static str) -> Tmux {
        let socket = fx
            .dir
            .path()
            .join(format!("tmux-{}", SESSIONS.fetch_add(1, Ordering::SeqCst)));
        let tmux = Tmux { socket, prompt };
        let home = fx.home();
        let mut args: Vec<String> = ["new-session", "-d", "-x", "200", "-y", "60", "-c"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        args.push(fx.work().to_str().unwrap().to_string());
        args.extend(["env", "-i"].map(String::from));
        args.push(format!("HOME={}", home.display()));
        args.push(format!(
            "PATH={}",
            std::env::var("PATH").unwrap_or_default()
        ));
        args.extend(["TERM=screen", "LC_ALL=C.UTF-8"].map(String::from));
        args.extend(shell.iter().map(|s| s.to_string()));
        let out = tmux.run(&args.iter().map(String::as_str).collect::<Vec<_>>());
        assert!(out.status.success(), "tmux: {}", utf8(&out.stderr));
        tmux.type_text(setup);
        tmux.keys(&["Enter"]);
        tmux.wait("the shell set up", |s| {
            s.lines().any(|l| l.trim() == "READY-2")
        });
        tmux.clear();
        tmux
    }

    fn run(&self, args: &[&str]) -> Output {
        Command::new("tmux")
            .args(["-f", "/dev/null", "-S"])
            .arg(&self.socket)
            .args(args)
            .env_remove("TMUX")
            .output()
            .unwrap()
    }

    fn keys(&self, keys: &[&str]) {
        let mut args = vec!["send-keys", "-t", "0"];
        args.extend(keys);
        let out = self.run(&args);
        assert!(out.status.success(), "send-keys: {}", utf8(&out.stderr));
    }

    fn type_text(&self, text: &str) {
        let out = self.run(&["send-keys", "-t", "0", "-l", text]);
        assert!(out.status.success(), "send-keys: {}", utf8(&out.stderr));
    }

    fn screen(&self) -> String {
        let out = self.run(&["capture-pane", "-p", "-t", "0"]);
        assert!(out.status.success(), "capture-pane: {}", utf8(&out.stderr));
        utf8(&out.stdout)
    }

    /// Polls the screen until `done` holds and the screen has stopped changing; returns it.
    fn wait(&self, what: &str, done: impl Fn(&str) -> bool) -> String {
        let start = Instant::now();
        let mut last = String::new();
        loop {
            let screen = self.screen();
            if done(&screen) && screen == last {
                return screen;
            }
            if start.elapsed() > WAIT {
                panic!("timed out waiting for {what}; the screen:\n{screen}");
            }
            last = screen;
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Empties the line and the screen, leaving the prompt alone.
    fn clear(&self) {
        self.keys(&["C-u", "C-l"]);
        let prompt = self.prompt.trim_end();
        self.wait("a clear screen", |s| s.trim() == prompt);
    }

    /// Types `line`, presses TAB and waits until every `wanted` word shows; returns the
    /// words on the screen below the command line, and the command line.
    fn complete(&self, line: &str, wanted: &[&str]) -> (BTreeSet<String>, String) {
        self.clear();
        self.type_text(line);
        self.keys(&["Tab"]);
        let screen = self.wait(&format!("{wanted:?} after {line:?}<TAB>"), |s| {
            let words: BTreeSet<&str> = s.split_whitespace().collect();
            wanted.iter().all(|w| words.contains(w))
        });
        let mut lines = screen.lines();
        let command = lines
            .find(|l| l.starts_with(self.prompt))
            .expect("no command line")
            .to_string();
        let listed = lines
            .flat_map(str::split_whitespace)
            .map(str::to_string)
            .collect();
        (listed, command)
    }

    /// Types `line`, presses TAB and waits until the command line reads `expect`.
    fn complete_line(&self, line: &str, expect: &str) {
        self.clear();
        self.type_text(line);
        self.keys(&["Tab"]);
        let want = format!("{}{expect}", self.prompt);
        self.wait(&format!("{want:?} after {line:?}<TAB>"), |s| {
            s.lines().any(|l| l.trim_end() == want.trim_end())
        });
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = self.run(&["kill-server"]);
    }
}

fn bash_in_tmux(fx: &Fixture) -> Tmux {
    let setup = format!(
        "PS1='bash> '; unset HISTFILE; source {}; bind 'set show-all-if-ambiguous on'; \
         bind 'set bell-style none'; echo READY-$((1+1))",
        sh_quote(script("depmod.bash").to_str().unwrap())
    );
    Tmux::start(
        fx,
        &["bash", "--norc", "--noprofile", "-i"],
        &setup,
        "bash> ",
    )
}

#[test]
fn bash_interactive_tab() {
    if !have(&["bash", "tmux"]) {
        return;
    }
    let fx = Fixture::new();
    let tmux = bash_in_tmux(&fx);
    let (listed, _) = tmux.complete("depmod -b ", &["alpha/", "beta/", "mods/"]);
    offers("-b <TAB>", &listed, &[], &["gamma.txt"]);
    let root = fx.root();
    let (listed, _) = tmux.complete(&format!("depmod -b {root} "), &[V1, V2]);
    offers(
        "-b ROOT <TAB>",
        &listed,
        &[],
        &[NOT_A_VERSION, "alpha", "kernel"],
    );
    // A single candidate is inserted, after `--basedir=` split by readline's word breaks.
    tmux.complete_line(
        &format!("depmod --basedir={root} 6"),
        &format!("depmod --basedir={root} {V2} "),
    );
    tmux.complete_line("depmod --basedir=al", "depmod --basedir=alpha/");
    tmux.complete_line("depmod --symb", "depmod --symbol-prefix=");
}

#[test]
fn zsh_script_loads() {
    if !have(&["zsh"]) {
        return;
    }
    let path = script("_depmod");
    let out = Command::new("zsh").arg("-n").arg(&path).output().unwrap();
    assert!(out.status.success(), "zsh -n: {}", utf8(&out.stderr));
    let fx = Fixture::new();
    let dir = path.parent().unwrap().to_str().unwrap().to_string();
    let out = fx
        .command("zsh")
        .args(["-f", "-c"])
        .arg(format!(
            "fpath=({} $fpath); autoload -Uz compinit && compinit -u -D && \
             print -r -- $_comps[depmod]",
            sh_quote(&dir)
        ))
        .output()
        .unwrap();
    let stderr = utf8(&out.stderr);
    assert!(
        out.status.success() && stderr.is_empty(),
        "compinit with completions/ in fpath: {stderr}"
    );
    assert_eq!(utf8(&out.stdout).trim(), "_depmod");
}

fn zsh_in_tmux(fx: &Fixture) -> Tmux {
    let dir = script("_depmod")
        .parent()
        .unwrap()
        .to_str()
        .unwrap()
        .to_string();
    let setup = format!(
        "PS1='zsh> '; fpath=({} $fpath); autoload -Uz compinit && compinit -u -D; \
         unsetopt beep; print READY-$((1+1))",
        sh_quote(&dir)
    );
    Tmux::start(fx, &["zsh", "-f", "-i"], &setup, "zsh> ")
}

#[test]
fn zsh_interactive_tab() {
    if !have(&["zsh", "tmux"]) {
        return;
    }
    let fx = Fixture::new();
    let tmux = zsh_in_tmux(&fx);
    let (listed, _) = tmux.complete("depmod -b ", &["alpha/", "beta/", "mods/"]);
    offers("-b <TAB>", &listed, &[], &["gamma.txt"]);
    let root = fx.root();
    let unwanted = [NOT_A_VERSION, "alpha/", "alpha", "kernel/", "kernel"];
    for line in [
        format!("depmod -b {root} "),
        format!("depmod -b{root} "),
        format!("depmod --basedir={root} "),
        format!("depmod -v --basedir {root} -a "),
    ] {
        let (listed, _) = tmux.complete(&line, &[V1, V2]);
        offers(&format!("{line}<TAB>"), &listed, &[], &unwanted);
    }
    let (listed, _) = tmux.complete(&format!("depmod -b {root} {V1} mods/"), &["x.ko"]);
    offers("modules", &listed, &["y.ko.xz"], &["z.txt"]);
    tmux.complete_line(
        &format!("depmod --basedir={root} 6"),
        &format!("depmod --basedir={root} {V2} "),
    );
    tmux.complete_line(
        &format!("depmod -m /opt/mods -b {root} "),
        &format!("depmod -m /opt/mods -b {root} 7.0.0-custom "),
    );
    tmux.complete_line(
        &format!("depmod -b {} ", fx.usrroot()),
        &format!("depmod -b {} 6.6.6-usr ", fx.usrroot()),
    );
}

#[test]
fn drift_zsh_offers_exactly_the_table() {
    if !have(&["zsh", "tmux"]) {
        return;
    }
    let fx = Fixture::new();
    let tmux = zsh_in_tmux(&fx);
    let names: BTreeSet<String> = table_names().into_iter().map(|(n, _)| n).collect();
    let wanted: Vec<&str> = names.iter().map(String::as_str).collect();
    // The listing: each option's names, then `--` and its help.
    let (listed, _) = tmux.complete("depmod -", &wanted);
    let offered: BTreeSet<String> = listed
        .into_iter()
        .filter(|w| w.starts_with('-') && w != "--")
        .collect();
    assert_eq!(offered, names);
}
