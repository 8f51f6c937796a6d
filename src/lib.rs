//! depmod: a byte-compatible reimplementation of kmod's `depmod`.
//!
//! The work is a pipeline of plain data, each stage a function of the previous one's output:
//!
//! ```text
//! Args ─► Config ─► Vec<Candidate> ─► Vec<Scanned> ─► Graph ─► outputs ─► publish
//! (cli)   (config)  (discover, order)  (module, elf)   (link)   (output)   (publish)
//! ```
//!
//! Only discovery, scanning and publishing touch the disk; only scanning runs in parallel,
//! and its results come back in the module array's order. The library never prints: [`run`]
//! returns the messages, the stdout bytes and the exit status.

pub mod cli;
pub mod config;
pub mod diag;
pub mod discover;
pub mod elf;
pub mod ere;
pub mod hash;
pub mod index;
pub mod link;
pub mod module;
pub mod order;
pub mod output;
pub mod publish;
pub mod quick;

use diag::{Fatal, Level, Log, strerror};
use rayon::prelude::*;
use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;

/// The module directory used when `-m` is not given (a build-time setting, spec §1.3).
pub const DEFAULT_MODULE_DIR: &str = match option_env!("DEPMOD_MODULE_DIR") {
    Some(d) => d,
    None => "/lib/modules",
};

/// One more than the number of modules kmod accepts (its array indexes are 16-bit).
pub const MAX_MODULES: usize = 65535;

/// Read a whole file named by bytes.
pub fn read_file(path: &[u8]) -> std::io::Result<Vec<u8>> {
    std::fs::read(std::path::Path::new(OsStr::from_bytes(path)))
}

/// What one run produced: messages for stderr, bytes for stdout, the exit status.
#[derive(Debug, Default)]
pub struct Outcome {
    /// Messages, in order.
    pub log: Log,
    /// Bytes for stdout (`-n` output, `-v` edge lines).
    pub stdout: Vec<u8>,
    /// 0 or 1.
    pub status: i32,
}

/// The kernel release (`uname -r`).
fn uname_release() -> Vec<u8> {
    rustix::system::uname().release().to_bytes().to_vec()
}

/// Input and output directories (spec §1.3).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Dirs {
    /// `<root>/<moduledir>/<version>`: where modules and the input files are read.
    pub dirname: Vec<u8>,
    /// Where the outputs are written.
    pub outdirname: Vec<u8>,
}

/// Compute the directories from the arguments and the version.
pub fn dirs(args: &cli::Args, version: &[u8]) -> Result<Dirs, Fatal> {
    let moduledir = args
        .moduledir
        .as_deref()
        .unwrap_or(DEFAULT_MODULE_DIR.as_bytes());
    let first = moduledir
        .iter()
        .position(|&b| b != b'/')
        .unwrap_or(moduledir.len());
    let moduledir = &moduledir[first..];
    let root = args.basedir.as_deref().unwrap_or(b"");
    let dirname = msg!(root, b"/", moduledir, b"/", version);
    let outroot = args.outdir.as_deref().unwrap_or(root);
    let outdirname = msg!(outroot, b"/", moduledir, b"/", version);
    for (base, d) in [(root, &dirname), (outroot, &outdirname)] {
        if d.len() >= 4096 {
            return Err(Fatal::error(msg!(
                b"Bad directory ",
                base,
                b"/",
                moduledir,
                b"/",
                version,
                b": path too long\n"
            )));
        }
    }
    Ok(Dirs {
        dirname,
        outdirname,
    })
}

/// Run depmod with parsed arguments.
pub fn run(args: &cli::Args) -> Outcome {
    let mut out = Outcome::default();
    if let Err(f) = run_inner(args, &mut out) {
        if let Some(level) = f.level {
            out.log.diags.push(diag::Diag {
                level: Some(level),
                text: f.text,
            });
        }
        out.status = 1;
    }
    out
}

fn run_inner(args: &cli::Args, out: &mut Outcome) -> Result<(), Fatal> {
    let version = match &args.version {
        Some(v) => {
            if !cli::version_is_valid(v) {
                return Err(Fatal::error(msg!(b"Bad version passed ", v, b"\n")));
            }
            v.clone()
        }
        None => uname_release(),
    };
    let dirs = dirs(args, &version)?;
    let log = &mut out.log;
    let mut outdated = false;
    if args.quick {
        if quick::up_to_date(&dirs.dirname, log) {
            return Ok(());
        }
        outdated = true;
    }
    log.set_threshold(match args.verbose {
        0 => Level::Warning,
        1 => Level::Notice,
        2 => Level::Info,
        _ => Level::Debug,
    });

    let mut errsyms = args.errsyms;
    let kernel = if let Some(f) = &args.symvers {
        Some(link::load_symvers(f, args.symbol_prefix, log)?)
    } else if let Some(f) = &args.filesyms {
        Some(link::load_system_map(f, args.symbol_prefix, log)?)
    } else {
        if errsyms {
            log.warning("-e needs -E or -F\n");
            errsyms = false;
        }
        None
    };

    let clock = Clock::start();
    let candidates = if args.files.is_empty() || args.all || outdated {
        let config = config::load(&args.config_paths, &version, log);
        discover::discover(&dirs.dirname, &config, log)?
    } else {
        files_mode(&args.files, &dirs.dirname, log)?
    };
    clock.lap(log, "discover");
    // kmod's module array holds at most 65,534 modules; it checks before reading modules.order.
    if candidates.len() >= MAX_MODULES {
        return Err(Fatal::new(msg!(
            b"could not build module array: ",
            strerror(libc::ERANGE),
            b"\n"
        )));
    }
    let order = order::read_modules_order(&dirs.dirname, log);
    let modules = order::module_array(candidates, order.as_deref());

    clock.lap(log, "order");
    let scanned = scan_all(&modules, args.jobs);
    clock.lap(log, "scan");
    let mut facts = Vec::with_capacity(modules.len());
    for (m, s) in modules.iter().zip(&scanned) {
        match s {
            Ok(f) => {
                if let Err(errno) = f.exports
                    && errno != libc::ENODATA
                {
                    log.error(msg!(
                        b"failed to load symbols from ",
                        m.path,
                        b": ",
                        strerror(errno),
                        b"\n"
                    ));
                }
                facts.push(Some(f));
            }
            Err(e) => {
                if let Some(d) = &e.decompress {
                    log.error(d.clone());
                }
                log.error(msg!(
                    b"failed to load symbols from ",
                    m.path,
                    b": ",
                    strerror(e.errno),
                    b"\n"
                ));
                facts.push(None);
            }
        }
    }

    let opts = link::LinkOptions {
        check_crcs: args.symvers.is_some(),
        kernel,
        errsyms,
        prefix: args.symbol_prefix,
        verbose: args.verbose > 0,
    };
    let graph = link::link(&modules, &facts, &opts, log, &mut out.stdout)?;
    clock.lap(log, "link");
    let linked = output::Linked {
        modules: &modules,
        facts: &facts,
        graph: &graph,
        dirname: &dirs.dirname,
        warn: args.warn,
    };
    if args.dry_run {
        for (_, kind, render) in output::OUTPUTS {
            if *kind == output::Kind::Text {
                let bytes = render(&linked, log)?;
                out.stdout.extend_from_slice(&bytes);
            }
        }
        return Ok(());
    }
    let mut files = Vec::with_capacity(output::OUTPUTS.len());
    for (name, _, render) in output::OUTPUTS {
        files.push((*name, render(&linked, log)?));
    }
    clock.lap(log, "render");
    publish::publish(&dirs.outdirname, &files)?;
    clock.lap(log, "publish");
    Ok(())
}

/// Phase timings, logged at DEBUG level (`-vvv`).
struct Clock(std::time::Instant, std::cell::Cell<std::time::Instant>);

impl Clock {
    fn start() -> Self {
        let now = std::time::Instant::now();
        Clock(now, std::cell::Cell::new(now))
    }

    fn lap(&self, log: &mut Log, phase: &str) {
        if log.enabled(Level::Debug) {
            let now = std::time::Instant::now();
            let lap = now - self.1.replace(now);
            let total = now - self.0;
            log.log(
                Level::Debug,
                format!(
                    "timing: {phase} {:.1} ms (total {:.1} ms)\n",
                    lap.as_secs_f64() * 1e3,
                    total.as_secs_f64() * 1e3
                ),
            );
        }
    }
}

/// Read every module, in parallel on `jobs` threads (default: one per core); the results
/// come back in the module array's order whatever the scheduling.
pub fn scan_all(modules: &[discover::Candidate], jobs: Option<usize>) -> Vec<module::Scanned> {
    let scan = || -> Vec<module::Scanned> {
        modules
            .par_iter()
            .map(|m| module::scan_path(&m.path))
            .collect()
    };
    match jobs.map(|n| rayon::ThreadPoolBuilder::new().num_threads(n).build()) {
        Some(Ok(pool)) => pool.install(scan),
        _ => scan(),
    }
}

/// Files mode (spec §1.2): the modules named on the command line, no configuration.
fn files_mode(
    files: &[Vec<u8>],
    dirname: &[u8],
    log: &mut Log,
) -> Result<Vec<discover::Candidate>, Fatal> {
    let mut list: Vec<discover::Candidate> = Vec::new();
    for path in files {
        if path.first() != Some(&b'/') {
            return Err(Fatal::new(msg!(path, b": not absolute path.\n")));
        }
        if let Err(e) = std::fs::metadata(std::path::Path::new(OsStr::from_bytes(path))) {
            return Err(Fatal::new(msg!(
                b"could not create module ",
                path,
                b": ",
                strerror(diag::errno_of(&e)),
                b"\n"
            )));
        }
        let Some(cand) = discover::Candidate::new(path.clone(), dirname) else {
            return Err(Fatal::new(msg!(
                b"could not create module ",
                path,
                b": ",
                strerror(libc::EINVAL),
                b"\n"
            )));
        };
        if let Some(old) = list.iter().find(|c| c.name == cand.name) {
            let exists = strerror(libc::EEXIST);
            if old.path == cand.path {
                log.error(msg!(b"hash_add_unique ", cand.name, b": ", exists, b"\n"));
                return Err(Fatal::new(msg!(
                    b"could not add module ",
                    path,
                    b": ",
                    exists,
                    b"\n"
                )));
            }
            log.error(msg!(
                b"kmod_module '",
                cand.name,
                b"' already exists with different path: new-path='",
                path,
                b"' old-path='",
                old.path,
                b"'\n"
            ));
            return Err(Fatal::new(msg!(
                b"could not create module ",
                path,
                b": ",
                exists,
                b"\n"
            )));
        }
        list.push(cand);
    }
    Ok(list)
}

/// Run the whole program: parse `argv` (without argv\[0\]) and run.
pub fn main_with_args(argv: &[std::ffi::OsString], prog: &str) -> (Outcome, Option<String>) {
    match cli::parse_command(argv) {
        cli::Command::Run(args) => (run(&args), None),
        cli::Command::Help => (Outcome::default(), Some(cli::help_text(prog))),
        cli::Command::Version => (Outcome::default(), Some(cli::version_text())),
        cli::Command::Fail(d) => {
            let mut o = Outcome {
                status: 1,
                ..Outcome::default()
            };
            o.log.diags.push(d);
            (o, None)
        }
    }
}
