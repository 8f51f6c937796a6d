//! libkmod's own index readers (`modprobe`, `modinfo`) as test clients, for `real_clients.rs`:
//! the reference kmod 34.2 (Debian trixie, `scripts/fetch-reference`, run through its bundled
//! loader) and Debian bookworm's kmod 30 (`scripts/fetch-clients`, run on the host's C library).
//! Also: installing our depmod into a DESTDIR, hard-linking a module tree, and running many client
//! queries on a few threads.

use std::fs;
use std::io::{Read, Seek, SeekFrom, Write as _};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use super::inputs::cache_dir;

/// A line on the test's real stderr (not captured by the harness), for summaries.
pub fn note(msg: &str) {
    let _ = writeln!(std::io::stderr(), "{msg}");
}

/// How a kmod multicall binary is started.
#[derive(Clone, Debug)]
enum Launch {
    /// `ld-linux --library-path LIB --argv0 TOOL KMOD args` (the reference's own C library).
    Loader {
        loader: PathBuf,
        lib: PathBuf,
        kmod: PathBuf,
    },
    /// `KMOD` with argv[0] = TOOL and `LD_LIBRARY_PATH=LIB` (the host's C library).
    Direct { kmod: PathBuf, lib: PathBuf },
}

/// One kmod build whose `modprobe` and `modinfo` read the indexes.
#[derive(Clone, Debug)]
pub struct Client {
    /// Short name for messages, e.g. `kmod 34.2 (trixie)`.
    pub name: String,
    launch: Launch,
}

impl Client {
    /// A command running `tool` (`modprobe`, `modinfo`, `kmod`) of this build under `LC_ALL=C`,
    /// stdin closed. (No `pre_exec` limits: they would make std fork instead of posix_spawn, which
    /// tripled the run time; [`run_parallel`] kills runs that hang instead.)
    pub fn command(&self, tool: &str) -> Command {
        let mut cmd = match &self.launch {
            Launch::Loader { loader, lib, kmod } => {
                let mut c = Command::new(loader);
                c.arg("--library-path")
                    .arg(lib)
                    .arg("--argv0")
                    .arg(tool)
                    .arg(kmod);
                c
            }
            Launch::Direct { kmod, lib } => {
                let mut c = Command::new(kmod);
                c.arg0(tool).env("LD_LIBRARY_PATH", lib);
                c
            }
        };
        cmd.env("LC_ALL", "C")
            .env_remove("LANGUAGE")
            .stdin(Stdio::null());
        cmd
    }

    /// First line of `kmod -V`, e.g. `kmod version 34.2`.
    pub fn version(&self) -> Result<String, String> {
        let out = self
            .command("kmod")
            .arg("-V")
            .output()
            .map_err(|e| format!("{}: cannot run kmod -V: {e}", self.name))?;
        let text = String::from_utf8_lossy(&out.stdout);
        match text.lines().next() {
            Some(l) if out.status.success() => Ok(l.to_string()),
            _ => Err(format!(
                "{}: kmod -V failed ({}): {}",
                self.name,
                out.status,
                String::from_utf8_lossy(&out.stderr)
            )),
        }
    }
}

fn first_existing(candidates: &[PathBuf]) -> Option<PathBuf> {
    candidates.iter().find(|p| p.exists()).cloned()
}

/// The reference kmod 34.2 unpacked by `scripts/fetch-reference` (its wrapper `reference/depmod`
/// must exist), as modprobe/modinfo.
pub fn kmod34() -> Result<Client, String> {
    let dir = cache_dir().join("reference");
    if !dir.join("depmod").is_file() {
        return Err(format!(
            "reference kmod {} is missing (run scripts/fetch-reference)",
            dir.join("depmod").display()
        ));
    }
    let root = dir.join("root");
    let lib = first_existing(&[
        root.join("usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2"),
        root.join("lib/x86_64-linux-gnu/ld-linux-x86-64.so.2"),
    ])
    .ok_or_else(|| format!("no ld-linux-x86-64.so.2 under {}", root.display()))?;
    let kmod = first_existing(&[root.join("usr/bin/kmod"), root.join("bin/kmod")])
        .ok_or_else(|| format!("no kmod binary under {}", root.display()))?;
    let client = Client {
        name: "kmod 34.2 (Debian trixie)".into(),
        launch: Launch::Loader {
            loader: lib.clone(),
            lib: lib.parent().unwrap().to_path_buf(),
            kmod,
        },
    };
    let v = client.version()?;
    if v != "kmod version 34.2" {
        return Err(format!("{}: unexpected version {v:?}", client.name));
    }
    Ok(client)
}

/// Debian bookworm's kmod 30 unpacked by `scripts/fetch-clients`, as modprobe/modinfo.
pub fn kmod30() -> Result<Client, String> {
    let dir = cache_dir().join("clients/kmod30");
    let kmod = dir.join("bin-kmod");
    let lib = dir.join("lib");
    if !kmod.exists() || !lib.is_dir() {
        return Err(format!(
            "bookworm's kmod 30 {} is missing (run scripts/fetch-clients)",
            dir.display()
        ));
    }
    let client = Client {
        name: "kmod 30 (Debian bookworm)".into(),
        launch: Launch::Direct { kmod, lib },
    };
    let v = client.version()?;
    if v != "kmod version 30" {
        return Err(format!("{}: unexpected version {v:?}", client.name));
    }
    Ok(client)
}

/// Installs our depmod as `DESTDIR/usr/sbin/depmod` and returns that path: through the
/// repository's `make install DESTDIR=… PREFIX=/usr DEPMOD_BIN=…` when there is a Makefile (with
/// `DEPMOD_BIN` the binary cargo built for the tests, so nothing is rebuilt, and the Makefile's
/// record of created directories kept in `state`, not in the repository's `target/`), else by
/// copying the binary. `DEPMOD_TEST_BIN` substitutes another binary, as everywhere in the tests
/// (see `run::our_bin`).
pub fn install_ours(destdir: &Path, state: &Path) -> PathBuf {
    let bin = &super::run::our_bin();
    let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
    let installed = destdir.join("usr/sbin/depmod");
    let has_makefile = repo.join("Makefile").is_file();
    let make = has_makefile.then(|| {
        Command::new("make")
            .arg("-C")
            .arg(repo)
            .arg("install")
            .arg(format!("DESTDIR={}", destdir.display()))
            .arg("PREFIX=/usr")
            .arg(format!("DEPMOD_BIN={}", bin.display()))
            .arg(format!("STATEDIR={}", state.display()))
            .stdin(Stdio::null())
            .output()
    });
    match make {
        Some(Ok(out)) => assert!(
            out.status.success(),
            "make install DESTDIR={} PREFIX=/usr DEPMOD_BIN={} failed ({}):\n{}{}",
            destdir.display(),
            bin.display(),
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
        other => {
            // TODO: drop this fallback (no Makefile, or no `make` on the machine) once the
            // Makefile is in the repository and CI is known to have make.
            if let Some(Err(e)) = other {
                note(&format!(
                    "note: cannot run make ({e}); copying depmod into DESTDIR"
                ));
            }
            fs::create_dir_all(installed.parent().unwrap()).unwrap();
            fs::copy(bin, &installed).expect("copy depmod into DESTDIR");
        }
    }
    assert!(
        installed.is_file(),
        "installing did not produce {}",
        installed.display()
    );
    installed
}

/// Recreates the directory tree `src` at `dst`: directories are created, files hard-linked (copied
/// when linking fails, e.g. across file systems), symbolic links recreated. Files directly in `src`
/// are always copied, so that a program rewriting them in place cannot reach the original.
pub fn link_tree(src: &Path, dst: &Path) {
    fn walk(src: &Path, dst: &Path, top: bool) {
        fs::create_dir_all(dst).unwrap();
        for entry in fs::read_dir(src).unwrap() {
            let entry = entry.unwrap();
            let (from, to) = (entry.path(), dst.join(entry.file_name()));
            let ft = entry.file_type().unwrap();
            if ft.is_dir() {
                walk(&from, &to, false);
            } else if ft.is_symlink() {
                std::os::unix::fs::symlink(fs::read_link(&from).unwrap(), &to).unwrap();
            } else if top || fs::hard_link(&from, &to).is_err() {
                fs::copy(&from, &to).unwrap_or_else(|e| panic!("copy {}: {e}", from.display()));
            }
        }
    }
    walk(src, dst, true);
}

/// What one client run answered.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Answer {
    /// Exit code, or `None` when killed by a signal.
    pub status: Option<i32>,
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
}

impl Answer {
    pub fn stdout_text(&self) -> String {
        String::from_utf8_lossy(&self.stdout).into_owned()
    }

    /// The answer with every occurrence of `from` replaced by `to` in stdout and stderr.
    pub fn replace(&self, from: &[u8], to: &[u8]) -> Answer {
        Answer {
            status: self.status,
            stdout: replace_bytes(&self.stdout, from, to),
            stderr: replace_bytes(&self.stderr, from, to),
        }
    }

    /// For failure messages.
    pub fn show(&self) -> String {
        let status = match self.status {
            Some(c) => format!("exit {c}"),
            None => "killed by a signal".into(),
        };
        format!(
            "{status}\n      stdout: {:?}\n      stderr: {:?}",
            clip(&self.stdout),
            clip(&self.stderr)
        )
    }
}

fn clip(b: &[u8]) -> String {
    let s = String::from_utf8_lossy(b);
    if s.len() <= 600 {
        return s.into_owned();
    }
    let mut cut = 600;
    while !s.is_char_boundary(cut) {
        cut -= 1;
    }
    format!("{}...", &s[..cut])
}

/// `hay` with every non-overlapping occurrence of `from` replaced by `to`.
pub fn replace_bytes(hay: &[u8], from: &[u8], to: &[u8]) -> Vec<u8> {
    if from.is_empty() {
        return hay.to_vec();
    }
    let mut out = Vec::with_capacity(hay.len());
    let mut i = 0;
    while i < hay.len() {
        if hay[i..].starts_with(from) {
            out.extend_from_slice(to);
            i += from.len();
        } else {
            out.push(hay[i]);
            i += 1;
        }
    }
    out
}

/// A client run taking longer than this is killed (its answer: no exit status, a note on stderr).
pub const CLIENT_TIMEOUT: Duration = Duration::from_secs(60);

/// Runs `cmd` with stdout and stderr going to the (empty) files `out` and `err`, killing it after
/// [`CLIENT_TIMEOUT`]; the files are emptied again for the next run.
fn run_one(cmd: &mut Command, out: &mut fs::File, err: &mut fs::File) -> Answer {
    // Plain files rather than pipes: nothing to drain while waiting, and std can still spawn with
    // posix_spawn (no pre_exec hook), which matters at thousands of runs.
    let mut child = cmd
        .stdout(out.try_clone().unwrap())
        .stderr(err.try_clone().unwrap())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    let start = Instant::now();
    let mut pause = Duration::from_micros(50);
    let (status, timed_out) = loop {
        if let Some(status) = child.try_wait().expect("wait for a client") {
            break (status, false);
        }
        if start.elapsed() > CLIENT_TIMEOUT {
            let _ = child.kill();
            break (child.wait().expect("wait for a killed client"), true);
        }
        std::thread::sleep(pause);
        pause = (pause * 2).min(Duration::from_millis(2));
    };
    let take = |f: &mut fs::File| {
        let mut data = Vec::new();
        f.seek(SeekFrom::Start(0)).unwrap();
        f.read_to_end(&mut data).unwrap();
        f.set_len(0).unwrap();
        f.seek(SeekFrom::Start(0)).unwrap();
        data
    };
    let stdout = take(out);
    let mut stderr = take(err);
    if timed_out {
        stderr.extend_from_slice(
            format!("[test: killed after {} s]\n", CLIENT_TIMEOUT.as_secs()).as_bytes(),
        );
    }
    Answer {
        status: status.code(),
        stdout,
        stderr,
    }
}

/// Runs `n` commands made by `make(i)` on `threads` threads; answers in index order.
pub fn run_parallel<F>(n: usize, threads: usize, make: F) -> Vec<Answer>
where
    F: Fn(usize) -> Command + Sync,
{
    let next = AtomicUsize::new(0);
    let results: Mutex<Vec<Option<Answer>>> = Mutex::new(vec![None; n]);
    std::thread::scope(|s| {
        for _ in 0..threads.max(1) {
            s.spawn(|| {
                let mut out = tempfile::tempfile().expect("temporary file");
                let mut err = tempfile::tempfile().expect("temporary file");
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= n {
                        break;
                    }
                    let answer = run_one(&mut make(i), &mut out, &mut err);
                    results.lock().unwrap()[i] = Some(answer);
                }
            });
        }
    });
    results
        .into_inner()
        .unwrap()
        .into_iter()
        .map(|a| a.expect("every query ran"))
        .collect()
}
