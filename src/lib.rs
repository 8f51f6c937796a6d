//! depmod: a byte-compatible reimplementation of kmod's `depmod`.
//!
//! The work is a pipeline of plain data, each stage a function of the previous one's output:
//!
//! ```text
//! Args ─► Config ─► Vec<Candidate> ─► Vec<Scanned> ─► Graph ─► outputs ─► publish
//! (cli)   (config)  (discover, order)  (module, elf)   (link)   (output)   (publish)
//! ```
//!
//! Only discovery, scanning and publishing touch the disk. Scanning, the resolution of each
//! module's imports and the rendering of the eleven outputs run in parallel, and publishing
//! flushes the outputs together; every parallel result, messages included, comes back in the
//! order a serial run produces it. The library never prints: [`run`] returns the messages,
//! the stdout bytes and the exit status.
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
//! [`Args`](cli::Args) can also be filled in directly; [`scan::scan_path`] reads one module,
//! the [`kmod_index`] crate writes (and reads) the binary index format.
#![warn(missing_docs)]
// No `unsafe` in the library; its unit tests call the C library to compare with it.
#![cfg_attr(not(test), forbid(unsafe_code))]
#![cfg_attr(test, deny(unsafe_code))]

pub mod cli;
pub mod config;
pub mod cstd;
pub mod diag;
pub mod discover;
pub mod explain;
pub mod hash;
pub mod inputs;
pub mod kernels;
pub mod link;
pub mod order;
pub mod publish;
pub mod render;
pub mod report;
pub mod scan;

use diag::{Clock, Fatal, Level, Log, strerror};
pub use discover::dirs::{DEFAULT_MODULE_DIR, MAX_MODULES};

/// What one run produced: messages for stderr, bytes for stdout, the exit status.
#[derive(Debug, Default)]
pub struct Outcome {
    /// Messages, in order.
    pub log: Log,
    /// Bytes for stdout (`-n` output, `-v` edge lines).
    pub stdout: Vec<u8>,
    /// 0, 1, or [`cli::STRICT_STATUS`].
    pub status: i32,
    /// How the messages are to be printed.
    pub diagnostics: cli::Diagnostics,
    /// The run's data (scanned modules, graph, rendered files), handed over instead of freed:
    /// freeing its ~100,000 allocations one by one costs a few milliseconds, which a process
    /// about to exit can skip (by exiting, or with [`std::mem::forget`]). Dropping it is
    /// always correct.
    pub retained: Option<Box<dyn std::any::Any + Send>>,
}

/// Run depmod with parsed arguments: once, or once per kernel with `--kernels`.
pub fn run(args: &cli::Args) -> Outcome {
    let mut out = match &args.kernels {
        Some(list) => match kernels::versions(args, list) {
            Ok(versions) => kernels::run_each(args, &versions, run_one),
            Err(f) => failed(Outcome::default(), f),
        },
        None => run_one(args),
    };
    out.diagnostics = args.diagnostics;
    if args.strict && out.status == 0 && out.log.warned() {
        out.status = cli::STRICT_STATUS;
    }
    out
}

/// The outcome of a run that ended with `f`.
fn failed(mut out: Outcome, f: Fatal) -> Outcome {
    if let Some(level) = f.level {
        out.log.diags.push(diag::Diag {
            level: Some(level),
            text: f.text,
        });
    }
    out.status = 1;
    out
}

/// One run of depmod, for one kernel.
fn run_one(args: &cli::Args) -> Outcome {
    let mut out = Outcome::default();
    match run_inner(args, &mut out) {
        Ok(()) => out,
        Err(f) => failed(out, f),
    }
}

fn run_inner(args: &cli::Args, out: &mut Outcome) -> Result<(), Fatal> {
    let version = discover::dirs::version(args)?;
    let dirs = discover::dirs::dirs(args, &version)?;
    let log = &mut out.log;
    let mut outdated = false;
    // The queries (`--graph`, `--explain`) write nothing: they answer whether or not the
    // indexes are current.
    let query = args.graph || !args.explain.is_empty();
    if args.quick && !query {
        if discover::quick::up_to_date(&dirs.dirname, log) {
            return Ok(());
        }
        outdated = true;
    }
    log.set_threshold(Level::of_verbosity(args.verbose));

    let (kernel, errsyms) = inputs::kernel_symbols(args, log)?;

    let clock = Clock::start();
    let whole_tree = args.files.is_empty() || args.all || outdated;
    let (config, found) = if whole_tree {
        let config = config::load(&args.config_paths, &version, log)?;
        let found = discover::discover(&dirs.dirname, &config, log)?;
        (config, found)
    } else {
        let files = discover::files::files_mode(&args.files, &dirs.dirname, log)?;
        (config::Config::default(), files.into())
    };
    clock.lap(log, "discover");
    // kmod's module array holds at most 65,534 modules; it checks before reading modules.order.
    if found.candidates.len() >= MAX_MODULES {
        return Err(Fatal::new(msg!(
            b"could not build module array: ",
            strerror(libc::ERANGE),
            b"\n"
        )));
    }
    let order = inputs::read_modules_order(&dirs.dirname, log)?;
    let modules = order::module_array(found.candidates, order.as_deref());

    clock.lap(log, "order");
    let cache = dirs.cache_use(args, whole_tree);
    let (scanned, new_cache) = scan::scan(&modules, args.jobs, cache, log);
    clock.lap(log, "scan");
    let facts = scan::facts(&modules, &scanned, log);

    let opts = link::LinkOptions {
        check_crcs: args.symvers.is_some(),
        kernel,
        errsyms,
        prefix: args.symbol_prefix,
        verbose: args.verbose > 0,
        jobs: args.jobs,
    };
    let graph = link::link_graph(&modules, &facts, &opts, log, &mut out.stdout);
    clock.lap(log, "link");
    if !args.explain.is_empty() {
        let known = explain::Known {
            modules: &modules,
            facts: &facts,
            graph: &graph,
            opts: &opts,
            config: &config,
            shadowed: &found.shadowed,
            dirname: &dirs.dirname,
        };
        out.status = explain::explain(&known, args, log, &mut out.stdout);
        return graph.checked().map(drop);
    }
    let graph = graph.checked()?;
    if args.graph {
        let dot = render::graph::dot(&modules, &graph, &dirs.dirname);
        out.stdout.extend_from_slice(&dot);
        return Ok(());
    }
    // Only the indexes, which `-n` does not render, read the builtin files.
    let builtin = if args.dry_run {
        inputs::Builtin::default()
    } else {
        inputs::read_builtin(&dirs.dirname)?
    };
    let linked = render::Linked {
        modules: &modules,
        facts: &facts,
        graph: &graph,
        dirname: &dirs.dirname,
        builtin: &builtin,
        warn: args.warn,
    };
    if args.check {
        let files = render::render_all(&linked, args.jobs, log)?;
        out.status = i32::from(publish::check(&dirs.outdirname, &files, &mut out.stdout));
        return Ok(());
    }
    if args.dry_run {
        return render::text_outputs(&linked, log, &mut out.stdout);
    }
    let files = render::render_all(&linked, args.jobs, log)?;
    clock.lap(log, "render");
    let extra = new_cache.as_deref().map(|b| (scan::cache::FILE_NAME, b));
    if !publish::publish(&dirs.outdirname, &files, extra, log)? {
        dirs.keep_current();
    }
    clock.lap(log, "publish");
    drop(facts);
    out.retained = Some(Box::new((modules, scanned, graph, files)));
    Ok(())
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
