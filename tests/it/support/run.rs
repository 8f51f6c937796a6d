//! Running depmod (ours or the reference kmod 34.2) on a [`Tree`] and comparing the results.

use std::collections::BTreeMap;
use std::ffi::{OsStr, OsString};
use std::fmt::Write as _;
use std::fs;
use std::os::unix::process::CommandExt;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use super::diff;
use super::inputs::reference_or_skip;
use super::tree::Tree;

/// The eleven files depmod writes, in its writing order.
pub const OUTPUTS: [&str; 11] = [
    "modules.dep",
    "modules.dep.bin",
    "modules.alias",
    "modules.alias.bin",
    "modules.softdep",
    "modules.weakdep",
    "modules.symbols",
    "modules.symbols.bin",
    "modules.builtin.bin",
    "modules.builtin.alias.bin",
    "modules.devname",
];

/// Default time limit for one depmod run.
pub const TIMEOUT: Duration = Duration::from_secs(60);

/// What one run produced.
#[derive(Debug)]
pub struct Run {
    /// Exit code; `None` if killed by a signal (see `signal`) or timed out.
    pub status: Option<i32>,
    pub signal: Option<i32>,
    pub timed_out: bool,
    pub elapsed: Duration,
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
    /// Whether `<out>/lib/modules/<version>` exists after the run.
    pub outdir_exists: bool,
    /// Each of [`OUTPUTS`]: its bytes, or `None` if absent.
    pub outputs: BTreeMap<&'static str, Option<Vec<u8>>>,
    /// Other entries of the output module directory (temp-file suffixes normalised to `.TMP`).
    pub other_files: Vec<String>,
    /// Files under the `-b` root that the run created, changed or removed.
    pub root_changes: Vec<String>,
}

impl Run {
    pub fn output(&self, name: &str) -> Option<&[u8]> {
        self.outputs.get(name).and_then(|o| o.as_deref())
    }

    /// The output as UTF-8 text (panics if absent).
    pub fn text(&self, name: &str) -> String {
        String::from_utf8_lossy(
            self.output(name)
                .unwrap_or_else(|| panic!("{name} was not written")),
        )
        .into_owned()
    }

    pub fn stderr_text(&self) -> String {
        String::from_utf8_lossy(&self.stderr).into_owned()
    }

    pub fn stdout_text(&self) -> String {
        String::from_utf8_lossy(&self.stdout).into_owned()
    }

    fn status_text(&self) -> String {
        if self.timed_out {
            format!("timed out after {:?} (killed)", self.elapsed)
        } else if let Some(c) = self.status {
            format!("exit {c}")
        } else {
            format!("killed by signal {}", self.signal.unwrap_or(-1))
        }
    }
}

/// Our binary; `DEPMOD_TEST_BIN=/path/to/depmod` substitutes another one (e.g. the reference
/// itself, to check that the tests' trees and plumbing are deterministic).
pub fn our_bin() -> PathBuf {
    match std::env::var_os("DEPMOD_TEST_BIN") {
        Some(p) if !p.is_empty() => PathBuf::from(p),
        _ => PathBuf::from(env!("CARGO_BIN_EXE_depmod")),
    }
}

/// `-b <root> -o <out> <version> args...`
pub fn standard_argv(tree: &Tree, args: &[&str]) -> Vec<OsString> {
    let mut v: Vec<OsString> = vec![
        "-b".into(),
        tree.root().into(),
        "-o".into(),
        tree.out_root().into(),
        tree.version().into(),
    ];
    v.extend(args.iter().map(OsString::from));
    v
}

fn snapshot(dir: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    let mut map = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(rd) = fs::read_dir(&d) else { continue };
        for e in rd.flatten() {
            let p = e.path();
            let Ok(ft) = e.file_type() else { continue };
            if ft.is_dir() {
                stack.push(p);
            } else if ft.is_file() {
                let data = fs::read(&p).unwrap_or_default();
                map.insert(p.strip_prefix(dir).unwrap().to_path_buf(), data);
            } else {
                map.insert(p.strip_prefix(dir).unwrap().to_path_buf(), Vec::new());
            }
        }
    }
    map
}

/// `modules.dep.12345.678901.1700000000` → `modules.dep.TMP`
fn normalise_temp_name(name: &str) -> String {
    let parts: Vec<&str> = name.rsplitn(4, '.').collect();
    if parts.len() == 4
        && parts[..3]
            .iter()
            .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
    {
        format!("{}.TMP", parts[3])
    } else {
        name.to_string()
    }
}

static RUN_COUNTER: AtomicUsize = AtomicUsize::new(0);

/// Run `bin` with `argv` (argv[0] = `depmod`) in `tree.top()` under `LC_ALL=C`, killing it after
/// `timeout`. The output root (`tree.out_root()`) is removed before the run; afterwards the
/// outputs are read and the output root is renamed to `out.<label>` for inspection.
pub fn run_depmod(
    bin: &Path,
    tree: &Tree,
    argv: &[OsString],
    timeout: Duration,
    label: &str,
) -> Run {
    run_depmod_with(bin, tree, argv, timeout, label, &RunOptions::default())
}

/// Where and how a run happens, beyond the argument vector.
#[derive(Clone, Debug, Default)]
pub struct RunOptions {
    /// Working directory of the run (default: `tree.top()`).
    pub cwd: Option<PathBuf>,
    /// Extra environment variables (e.g. `PWD`, which glibc's `get_current_dir_name` and so
    /// `-b`/`-o` with a relative path look at).
    pub env: Vec<(OsString, OsString)>,
    /// The output module directory to read the outputs from (default: `tree.out_moddir()`),
    /// e.g. `<out>/foobar/<version>` with `-m /foobar`. It must lie under `tree.out_root()`.
    pub out_moddir: Option<PathBuf>,
}

/// [`run_depmod`] with a working directory, extra environment and output directory.
pub fn run_depmod_with(
    bin: &Path,
    tree: &Tree,
    argv: &[OsString],
    timeout: Duration,
    label: &str,
    opts: &RunOptions,
) -> Run {
    let out_root = tree.out_root();
    if out_root.exists() {
        fs::remove_dir_all(&out_root).expect("clear output root");
    }
    let before = snapshot(&tree.root());
    let n = RUN_COUNTER.fetch_add(1, Ordering::Relaxed);
    let cap_dir = tree.top().join(format!("run.{n}.{label}"));
    fs::create_dir_all(&cap_dir).unwrap();
    let mut cmdline = format!("{} ", bin.display());
    for a in argv {
        cmdline.push_str(&a.to_string_lossy());
        cmdline.push(' ');
    }
    fs::write(cap_dir.join("cmdline"), cmdline.trim_end()).unwrap();
    let out_f = fs::File::create(cap_dir.join("stdout")).unwrap();
    let err_f = fs::File::create(cap_dir.join("stderr")).unwrap();
    let start = Instant::now();
    let mut cmd = Command::new(bin);
    // Cap the address space (4 GiB) so that a runaway run (kmod's cycle reporter, or a bug in
    // ours) fails instead of eating the machine's memory before the timeout.
    // SAFETY: only async-signal-safe setrlimit between fork and exec.
    unsafe {
        cmd.pre_exec(|| {
            let lim = libc::rlimit {
                rlim_cur: 4 << 30,
                rlim_max: 4 << 30,
            };
            libc::setrlimit(libc::RLIMIT_AS, &lim);
            Ok(())
        });
    }
    let mut child = cmd
        .arg0("depmod")
        .args(argv)
        .current_dir(opts.cwd.as_deref().unwrap_or(tree.top()))
        .envs(opts.env.iter().map(|(k, v)| (k, v)))
        .env("LC_ALL", "C")
        .env_remove("LANGUAGE")
        .stdin(Stdio::null())
        .stdout(out_f)
        .stderr(err_f)
        .spawn()
        .unwrap_or_else(|e| panic!("spawn {}: {e}", bin.display()));
    let mut timed_out = false;
    let status = loop {
        if let Some(s) = child.try_wait().expect("wait") {
            break s;
        }
        if start.elapsed() > timeout {
            timed_out = true;
            let _ = child.kill();
            break child.wait().expect("wait after kill");
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    let elapsed = start.elapsed();
    let stdout = fs::read(cap_dir.join("stdout")).unwrap_or_default();
    let stderr = fs::read(cap_dir.join("stderr")).unwrap_or_default();

    let out_moddir = opts.out_moddir.clone().unwrap_or_else(|| tree.out_moddir());
    let mut outputs = BTreeMap::new();
    for name in OUTPUTS {
        outputs.insert(name, fs::read(out_moddir.join(name)).ok());
    }
    let mut other_files: Vec<String> = fs::read_dir(&out_moddir)
        .map(|rd| {
            rd.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| !OUTPUTS.contains(&n.as_str()))
                .map(|n| normalise_temp_name(&n))
                .collect()
        })
        .unwrap_or_default();
    other_files.sort();

    let after = snapshot(&tree.root());
    let mut root_changes = Vec::new();
    for (p, d) in &after {
        match before.get(p) {
            None => root_changes.push(format!("created {}", p.display())),
            Some(old) if old != d => root_changes.push(format!("modified {}", p.display())),
            _ => {}
        }
    }
    for p in before.keys() {
        if !after.contains_key(p) {
            root_changes.push(format!("removed {}", p.display()));
        }
    }

    let outdir_exists = out_moddir.is_dir();
    if out_root.exists() {
        let keep = tree.top().join(format!("out.{n}.{label}"));
        fs::rename(&out_root, keep).expect("move outputs away");
    }
    Run {
        status: status.code(),
        signal: status.signal(),
        timed_out,
        elapsed,
        stdout,
        stderr,
        outdir_exists,
        outputs,
        other_files,
        root_changes,
    }
}

/// Run our binary with the standard argv.
pub fn run_ours(tree: &Tree, args: &[&str]) -> Run {
    run_depmod(
        &our_bin(),
        tree,
        &standard_argv(tree, args),
        TIMEOUT,
        "ours",
    )
}

/// Run the reference with the standard argv (`None` = skipped, see [`reference_or_skip`]).
pub fn run_reference(tree: &Tree, args: &[&str]) -> Option<Run> {
    let bin = reference_or_skip(&format!("reference run {args:?}"))?;
    Some(run_depmod(
        &bin,
        tree,
        &standard_argv(tree, args),
        TIMEOUT,
        "ref",
    ))
}

fn is_text(name: &str) -> bool {
    !name.ends_with(".bin")
}

/// Compare two runs; returns a report of every difference (empty if identical).
pub fn compare_runs(reference: &Run, ours: &Run) -> String {
    let mut r = String::new();
    if reference.status != ours.status || reference.signal != ours.signal || ours.timed_out {
        let _ = writeln!(
            r,
            "exit status: reference {}, ours {}",
            reference.status_text(),
            ours.status_text()
        );
    }
    for (what, e, a) in [
        ("stdout", &reference.stdout, &ours.stdout),
        ("stderr", &reference.stderr, &ours.stderr),
    ] {
        if e != a {
            let _ = writeln!(r, "{what} differs (- reference, + ours):");
            r.push_str(&diff::line_diff(e, a, 80));
        }
    }
    if reference.outdir_exists != ours.outdir_exists {
        let _ = writeln!(
            r,
            "output directory exists: reference {}, ours {}",
            reference.outdir_exists, ours.outdir_exists
        );
    }
    for name in OUTPUTS {
        match (reference.output(name), ours.output(name)) {
            (None, None) => {}
            (Some(_), None) => {
                let _ = writeln!(r, "{name}: written by the reference, missing in ours");
            }
            (None, Some(_)) => {
                let _ = writeln!(
                    r,
                    "{name}: not written by the reference, but written by ours"
                );
            }
            (Some(e), Some(a)) if e != a => {
                let _ = writeln!(r, "{name} differs (- reference, + ours):");
                if is_text(name) {
                    r.push_str(&diff::line_diff(e, a, 80));
                } else {
                    r.push_str(&diff::binary_diff(e, a));
                }
            }
            _ => {}
        }
    }
    if reference.other_files != ours.other_files {
        let _ = writeln!(
            r,
            "other files in the output directory: reference {:?}, ours {:?}",
            reference.other_files, ours.other_files
        );
    }
    if !ours.root_changes.is_empty() {
        let _ = writeln!(r, "ours changed the input root: {:?}", ours.root_changes);
    }
    r
}

/// Run the reference and ours as `depmod -b ROOT -o OUT VERSION args...` and assert that the
/// exit status, stdout, stderr and all eleven outputs (presence and bytes) are identical.
/// Skips (loudly) when the reference is missing, unless `CI=true`.
pub fn compare_with_reference(tree: &Tree, args: &[&str]) {
    compare_with_reference_argv(tree, standard_argv(tree, args));
}

/// Like [`compare_with_reference`] with a complete argument vector (without argv[0]).
pub fn compare_with_reference_argv(tree: &Tree, argv: Vec<OsString>) {
    compare_with_reference_opts(tree, argv, &RunOptions::default());
}

/// Like [`compare_with_reference_argv`], both runs made with `opts` (working directory,
/// environment, output directory).
pub fn compare_with_reference_opts(tree: &Tree, argv: Vec<OsString>, opts: &RunOptions) {
    let shown: Vec<String> = argv
        .iter()
        .map(|a| a.to_string_lossy().into_owned())
        .collect();
    let Some(refbin) = reference_or_skip(&format!("depmod {}", shown.join(" "))) else {
        return;
    };
    let reference = run_depmod_with(&refbin, tree, &argv, TIMEOUT, "ref", opts);
    assert!(
        !reference.timed_out,
        "the reference timed out on this tree (test bug?): depmod {}",
        shown.join(" ")
    );
    let ours = run_depmod_with(&our_bin(), tree, &argv, TIMEOUT, "ours", opts);
    let report = compare_runs(&reference, &ours);
    if !report.is_empty() {
        panic!(
            "depmod {} — ours differs from the reference kmod 34.2\n(tree: {}; set DEPMOD_KEEP_TREES=1 to keep it)\n{report}",
            shown.join(" "),
            tree.top().display()
        );
    }
}

/// A (temporary, hence UTF-8) path as an argument string.
pub fn path_str(p: &Path) -> String {
    p.to_str().expect("utf-8 temp path").to_string()
}

/// Helper for building argv vectors from mixed strings and paths.
pub fn argv<I, S>(items: I) -> Vec<OsString>
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    items
        .into_iter()
        .map(|s| s.as_ref().to_os_string())
        .collect()
}
