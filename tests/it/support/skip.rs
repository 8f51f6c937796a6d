//! The project's rule for a test whose inputs or tools are missing: under `CI=true` it fails;
//! otherwise it passes, and the test binary sums up every such skip once, on stderr, when it
//! exits: what was missing, how many tests went without it, and the commands that fetch or
//! install it. (Each test's own line, with the details, is in its captured output: shown with
//! `--nocapture`.)
//!
//! The summary is printed by an `atexit` handler: libtest runs tests on parallel threads in no
//! fixed order, so no test is reliably the last, and a `static` is never dropped.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::sync::{Mutex, Once};

/// Whether the tests run in CI (`CI=true`).
fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true")
}

/// What a test found missing.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Missing {
    /// The reference kmod 34.2 (`scripts/fetch-reference`).
    Reference,
    /// A real Debian kernel tree (`scripts/fetch-trees NAME`; `all` stands for every one).
    Tree(String),
    /// Debian bookworm's kmod 30, a second libkmod client (`scripts/fetch-clients`).
    Clients,
    /// A command, installed by a Debian package.
    Tool {
        command: &'static str,
        package: &'static str,
    },
    /// Root with mount permission (to mount a small tmpfs, or in a private mount namespace).
    Mount,
    /// seccomp fault injection, which supports x86_64 and aarch64 only.
    SeccompArch,
}

impl Missing {
    fn what(&self) -> String {
        match self {
            Missing::Reference => "the reference kmod 34.2".into(),
            Missing::Tree(name) if name == "all" => "the real kernel trees".into(),
            Missing::Tree(name) => format!("the {name} kernel tree"),
            Missing::Clients => "kmod 30 (Debian bookworm)".into(),
            Missing::Tool { command, .. } => (*command).into(),
            Missing::Mount => "root with mount permission".into(),
            Missing::SeccompArch => "seccomp fault injection on this architecture".into(),
        }
    }

    /// The command that provides it, if any (tools: one `apt-get install` line for all).
    fn fetch(&self) -> Option<String> {
        match self {
            Missing::Reference => Some("scripts/fetch-reference".into()),
            Missing::Tree(name) => Some(format!("scripts/fetch-trees {name}")),
            Missing::Clients => Some("scripts/fetch-clients".into()),
            Missing::Mount => Some("run the tests as root".into()),
            Missing::Tool { .. } | Missing::SeccompArch => None,
        }
    }
}

/// For each missing thing, the tests (thread names, i.e. `module::test`) that went without it.
static SKIPPED: Mutex<BTreeMap<Missing, BTreeSet<String>>> = Mutex::new(BTreeMap::new());
static SUMMARY_AT_EXIT: Once = Once::new();

/// A test (or part of one) cannot run because `missing` is missing (`detail`: which file,
/// which command). Fails under `CI=true`; otherwise records it for the summary at exit so
/// that the caller can return.
pub fn skip(missing: Missing, detail: &str) {
    if in_ci() {
        panic!("CI=true and {} is missing: {detail}", missing.what());
    }
    // Captured with the test's output: shown when it fails or with --nocapture.
    eprintln!("SKIPPED: {} is missing: {detail}", missing.what());
    let test = std::thread::current()
        .name()
        .unwrap_or("(unnamed thread)")
        .to_string();
    SKIPPED
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .entry(missing)
        .or_default()
        .insert(test);
    // SAFETY: registers a plain `extern "C" fn` with no arguments, as atexit requires.
    SUMMARY_AT_EXIT.call_once(|| unsafe {
        libc::atexit(print_summary);
    });
}

/// The summary of every skip, or `None` if there was none.
fn summary() -> Option<String> {
    let skipped = SKIPPED.lock().unwrap_or_else(|e| e.into_inner());
    if skipped.is_empty() {
        return None;
    }
    let mut s = String::from(
        "\nSKIPPED for missing inputs (these tests passed without them; CI=true fails them):\n",
    );
    let mut fetch = Vec::new();
    let mut packages = Vec::new();
    for (missing, tests) in skipped.iter() {
        let mut modules = BTreeSet::new();
        for t in tests {
            modules.insert(t.split("::").next().unwrap_or(t));
        }
        let n = tests.len();
        let mut line = format!(
            "  {n:>4} test{} without {} (in",
            if n == 1 { " " } else { "s" },
            missing.what()
        );
        // The modules, wrapped at 100 columns.
        for (i, m) in modules.iter().enumerate() {
            let sep = if i + 1 < modules.len() { "," } else { ")" };
            if line.len() + 1 + m.len() + 1 > 100 {
                let _ = writeln!(s, "{line}");
                line = " ".repeat(12);
            } else {
                line.push(' ');
            }
            line.push_str(m);
            line.push_str(sep);
        }
        let _ = writeln!(s, "{line}");
        if let Some(cmd) = missing.fetch() {
            fetch.push(cmd);
        }
        if let Missing::Tool { package, .. } = *missing
            && !packages.contains(&package)
        {
            packages.push(package);
        }
    }
    if !packages.is_empty() {
        fetch.push(format!("apt-get install {}", packages.join(" ")));
    }
    if !fetch.is_empty() {
        s.push_str("To get them:\n");
        for cmd in fetch {
            let _ = writeln!(s, "  {cmd}");
        }
    }
    Some(s)
}

/// Runs at exit, after libtest's own report: prints [`summary`] to fd 2 directly.
extern "C" fn print_summary() {
    let Some(text) = summary() else { return };
    let mut bytes = text.as_bytes();
    while !bytes.is_empty() {
        // SAFETY: writes from a live buffer of the stated length.
        let n = unsafe { libc::write(2, bytes.as_ptr().cast(), bytes.len()) };
        if n <= 0 {
            break;
        }
        bytes = &bytes[n as usize..];
    }
}

/// Whether `command version_arg` runs and exits 0; otherwise records a skip of `what` (a
/// failure under `CI=true`), naming the Debian `package` that installs the command.
pub fn have_tool(
    command: &'static str,
    version_arg: &str,
    package: &'static str,
    what: &str,
) -> bool {
    let runs = std::process::Command::new(command)
        .arg(version_arg)
        .output()
        .is_ok_and(|o| o.status.success());
    if !runs {
        skip(
            Missing::Tool { command, package },
            &format!("`{command} {version_arg}` does not run; {what}"),
        );
    }
    runs
}
