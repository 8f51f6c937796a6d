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
//!
//! # Example
//!
//! Build the indexes of the sample tree shipped in `examples/sample` into a directory of
//! your choice, exactly as `depmod -b examples/sample -o OUT 1.0.0-sample` does:
//!
//! ```
//! use depmod::cli::{Args, Command, parse_command};
//!
//! let out = std::env::temp_dir().join(format!("depmod-doc-{}", std::process::id()));
//! let root = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/sample");
//! let argv = ["-b", root, "-o", out.to_str().unwrap(), "1.0.0-sample"];
//! let Command::Run(args) = parse_command(&argv.map(Into::into)) else {
//!     panic!("not a run")
//! };
//! let outcome = depmod::run(&args);
//! for d in &outcome.log.diags {
//!     eprint!("{}", String::from_utf8_lossy(&d.render(b"depmod")));
//! }
//! assert_eq!(outcome.status, 0);
//! let dep = std::fs::read_to_string(out.join("lib/modules/1.0.0-sample/modules.dep")).unwrap();
//! assert!(dep.lines().count() > 0);
//! # std::fs::remove_dir_all(&out).unwrap();
//! ```
//!
//! [`Args`](cli::Args) can also be filled in directly; [`module::scan_path`] reads one module,
//! [`index`] writes and reads the binary index format.
#![warn(missing_docs)]

pub mod cache;
pub mod cli;
pub mod config;
pub mod cstd;
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
#[cfg(test)]
mod test_rng;

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

/// What one run produced: messages for stderr, bytes for stdout, the exit status.
#[derive(Debug, Default)]
pub struct Outcome {
    /// Messages, in order.
    pub log: Log,
    /// Bytes for stdout (`-n` output, `-v` edge lines).
    pub stdout: Vec<u8>,
    /// 0 or 1.
    pub status: i32,
    /// The run's data (scanned modules, graph, rendered files), handed over instead of freed:
    /// freeing its ~100,000 allocations one by one costs a few milliseconds, which a process
    /// about to exit can skip (by exiting, or with [`std::mem::forget`]). Dropping it is
    /// always correct.
    pub retained: Option<Box<dyn std::any::Any>>,
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
    let whole_tree = args.files.is_empty() || args.all || outdated;
    let candidates = if whole_tree {
        let config = config::load(&args.config_paths, &version, log)?;
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
    let order = order::read_modules_order(&dirs.dirname, log)?;
    let modules = order::module_array(candidates, order.as_deref());

    clock.lap(log, "order");
    let cache_path = msg!(dirs.outdirname, b"/", cache::FILE_NAME);
    let use_cache = args.cache && cache_usable(&dirs.dirname, log);
    let (scanned, new_cache) = if use_cache {
        let (old, store) = open_cache(&cache_path, log);
        clock.lap(log, "cache load");
        // Files mode sees a few modules only: it reads the cache but does not rewrite it
        // (that would drop every other module's record).
        let write = store && whole_tree && !args.dry_run && !args.check;
        scan_cached(&modules, args.jobs, old.as_ref(), write, log)
    } else {
        (scan_all(&modules, args.jobs), None)
    };
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
    if args.check {
        let files = output::render_all(&linked, log)?;
        out.status = i32::from(check(&dirs.outdirname, &files, &mut out.stdout));
        return Ok(());
    }
    if args.dry_run {
        for (_, kind, render) in output::OUTPUTS {
            if *kind == output::Kind::Text {
                let bytes = render(&linked, log)?;
                out.stdout.extend_from_slice(&bytes);
            }
        }
        return Ok(());
    }
    let files = output::render_all(&linked, log)?;
    clock.lap(log, "render");
    let extra = new_cache.as_deref().map(|b| (cache::FILE_NAME, b));
    publish::publish(&dirs.outdirname, &files, extra, log)?;
    clock.lap(log, "publish");
    drop(facts);
    out.retained = Some(Box::new((modules, scanned, graph, files)));
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
    on_threads(jobs, modules.len(), scan)
}

/// The most threads `-j` starts: reading modules is bound by the disk or the decompressor
/// well before this, and a larger number (`-j 1000000`) means "as parallel as useful".
pub const MAX_JOBS: usize = 64;

/// Run `work`, which processes `items` pieces in parallel, on a pool of `jobs` threads
/// (`-j`: at most [`MAX_JOBS`] and at most one per item), or on rayon's default pool (a
/// thread per core) when not given. When the system refuses to start that many threads,
/// fewer are used: half as many, down to none beside the calling thread.
fn on_threads<R: Send>(jobs: Option<usize>, items: usize, work: impl FnOnce() -> R + Send) -> R {
    let Some(jobs) = jobs else {
        return work();
    };
    let mut n = jobs.min(MAX_JOBS).min(items.max(1));
    loop {
        let builder = rayon::ThreadPoolBuilder::new().num_threads(n);
        // With one thread, the calling thread is the pool: nothing to start, nothing to fail.
        let builder = if n == 1 {
            builder.use_current_thread()
        } else {
            builder
        };
        match builder.build() {
            Ok(pool) => return pool.install(work),
            Err(_) if n > 1 => n /= 2,
            Err(_) => return work(),
        }
    }
}

/// `--check`: compare the rendered outputs with the files in `outdir`, print each one that
/// would change, and say whether any would.
fn check(outdir: &[u8], files: &[(&str, Vec<u8>)], stdout: &mut Vec<u8>) -> bool {
    let mut stale = false;
    for (name, bytes) in files {
        let path = msg!(outdir, b"/", name);
        // A file longer than the new content differs: no need to read past that.
        let state: &[u8] = match cstd::read_at_most(&path, bytes.len() as u64) {
            Ok((old, None)) if old == *bytes => continue,
            Ok((_, None)) => b"outdated",
            Ok((_, Some(e))) if e.raw_os_error() == Some(libc::EFBIG) => b"outdated",
            Ok((_, Some(_))) => b"unreadable",
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => b"missing",
            Err(_) => b"unreadable",
        };
        stdout.extend_from_slice(&msg!(path, b": ", state, b"\n"));
        stale = true;
    }
    stale
}

/// Whether the module directory's filesystem keeps the change times the cache relies on:
/// not a read-only mount (an image can be replaced by another with the same inode numbers,
/// sizes and stored times) nor a FAT filesystem (whose "ctime" is the creation time).
fn cache_usable(dirname: &[u8], log: &mut Log) -> bool {
    let path = OsStr::from_bytes(dirname);
    let why: &[u8] = match (rustix::fs::statvfs(path), rustix::fs::statfs(path)) {
        (Ok(v), _) if v.f_flag.contains(rustix::fs::StatVfsMountFlags::RDONLY) => {
            b"a read-only filesystem"
        }
        // MSDOS_SUPER_MAGIC, EXFAT_SUPER_MAGIC
        (_, Ok(f)) if matches!(f.f_type as u64, 0x4d44 | 0x2011_bab0) => b"a FAT filesystem",
        _ => return true,
    };
    log.log(
        Level::Notice,
        msg!(b"not using the cache: ", dirname, b" is on ", why, b"\n"),
    );
    false
}

/// Load the scan cache (spec-free addition, `--cache`). Returns the cache, if usable, and
/// whether a new one may be written (not when the old one could not even be read).
fn open_cache(path: &[u8], log: &mut Log) -> (Option<cache::Cache>, bool) {
    match cache::load(path) {
        cache::Loaded::Ready(c) => (Some(c), true),
        cache::Loaded::Missing => {
            log.log(
                Level::Info,
                msg!(b"no cache ", path, b" yet: creating it\n"),
            );
            (None, true)
        }
        cache::Loaded::Foreign(by) => {
            log.log(
                Level::Notice,
                msg!(b"ignoring cache ", path, b" (", by, b"): rebuilding it\n"),
            );
            (None, true)
        }
        cache::Loaded::Damaged(why) => {
            log.warning(msg!(
                b"ignoring damaged cache ",
                path,
                b" (",
                why,
                b"): rebuilding it\n"
            ));
            (None, true)
        }
        cache::Loaded::Unreadable(errno) => {
            log.warning(msg!(
                b"could not read cache ",
                path,
                b": ",
                strerror(errno),
                b"; not using it\n"
            ));
            (None, false)
        }
    }
}

/// One module's scan through the cache.
struct Probe<'c> {
    scanned: module::Scanned,
    /// The identity under which the result is (or will be) stored, if it may be.
    key: Option<cache::Identity>,
    /// The encoded record in the old cache, when served by it.
    hit: Option<&'c [u8]>,
}

/// Scan every module, reusing the cache's result for each file whose identity it holds.
/// Returns the results in array order and, if `write`, the new cache's bytes when it differs
/// from the old.
fn scan_cached(
    modules: &[discover::Candidate],
    jobs: Option<usize>,
    old: Option<&cache::Cache>,
    write: bool,
    log: &mut Log,
) -> (Vec<module::Scanned>, Option<Vec<u8>>) {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64);
    // root can read every module, so the identity is looked up with `stat`; anyone else
    // opens the file first, so that a module they cannot read fails as it would uncached.
    let root = rustix::process::geteuid().is_root();
    let identify = |path: &std::path::Path| {
        if root {
            std::fs::metadata(path)
        } else {
            std::fs::File::open(path).and_then(|f| f.metadata())
        }
    };
    let probe = |m: &discover::Candidate| -> Probe<'_> {
        if let Some(c) = old
            && let Ok(meta) = identify(std::path::Path::new(OsStr::from_bytes(&m.path)))
        {
            let id = cache::Identity::of(&meta);
            if let Some((scanned, raw)) = c.lookup(&id) {
                return Probe {
                    scanned,
                    key: Some(id),
                    hit: Some(raw),
                };
            }
        }
        let (scanned, meta) = module::scan_path_with_meta(&m.path);
        let key = meta
            .map(|m| cache::Identity::of(&m))
            .filter(|id| id.settled(now) && cache::storable(&scanned));
        Probe {
            scanned,
            key,
            hit: None,
        }
    };
    let run = || -> Vec<Probe> { modules.par_iter().map(probe).collect() };
    let probes = on_threads(jobs, modules.len(), run);
    let hits = probes.iter().filter(|p| p.hit.is_some()).count();
    let old_len = old.map_or(0, cache::Cache::len);
    log.log(
        Level::Info,
        format!(
            "cache: reused {hits} of {} modules ({old_len} records)\n",
            modules.len()
        ),
    );
    // Rewritten when a result is to be added or a record is no longer used.
    let mut kept = rustc_hash::FxHashSet::default();
    let mut changed = old.is_none();
    for p in &probes {
        if let Some(k) = p.key {
            changed |= p.hit.is_none();
            kept.insert(k);
        }
    }
    changed |= kept.len() != old_len;
    let started = std::time::Instant::now();
    let new_cache = (changed && write).then(|| {
        let entries: Vec<cache::Entry<'_>> = probes
            .iter()
            .filter_map(|p| p.key.map(|k| (k, &p.scanned, p.hit)))
            .collect();
        cache::build(old, &entries)
    });
    if new_cache.is_some() {
        log.log(
            Level::Debug,
            format!(
                "timing: cache build {:.1} ms\n",
                started.elapsed().as_secs_f64() * 1e3
            ),
        );
    }
    (probes.into_iter().map(|p| p.scanned).collect(), new_cache)
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jobs_are_capped_by_items_and_ceiling() {
        let threads = |jobs, items| on_threads(jobs, items, rayon::current_num_threads);
        assert_eq!(threads(Some(1_000_000), 3), 3);
        assert_eq!(threads(Some(usize::MAX), 100_000), MAX_JOBS);
        assert_eq!(threads(Some(2), 100), 2);
        assert_eq!(threads(Some(5), 0), 1);
    }
}
