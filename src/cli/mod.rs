//! The command line: kmod's option table and a GNU `getopt_long`-compatible parser.
//!
//! Parsing yields a list of events in command-line order; `Args::from_events` applies them the
//! way kmod's option loop does (left to right, `-h`/`-V` acting when reached). No I/O here
//! except reading the current directory for `-b`/`-o`.

mod getopt;
mod options;

pub use getopt::{Event, Parsed, parse};
pub use options::{HasArg, OPTIONS, OptId, OptSpec};

use std::ffi::OsString;
use std::os::unix::ffi::{OsStrExt, OsStringExt};

/// What the command line asks for.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Args {
    /// `-a`
    pub all: bool,
    /// `-A`
    pub quick: bool,
    /// `-b`, made absolute.
    pub basedir: Option<Vec<u8>>,
    /// `-m`
    pub moduledir: Option<Vec<u8>>,
    /// `-o`, made absolute.
    pub outdir: Option<Vec<u8>>,
    /// `-C`, in order.
    pub config_paths: Vec<Vec<u8>>,
    /// `-E`
    pub symvers: Option<Vec<u8>>,
    /// `-F`
    pub filesyms: Option<Vec<u8>>,
    /// `-e`
    pub errsyms: bool,
    /// Number of `-v`.
    pub verbose: u32,
    /// `-n`
    pub dry_run: bool,
    /// `-P`
    pub symbol_prefix: Option<u8>,
    /// `-w`
    pub warn: bool,
    /// The positional version, if given.
    pub version: Option<Vec<u8>>,
    /// Module files (files mode).
    pub files: Vec<Vec<u8>>,
    /// `-j N`: threads for reading modules (`None`: one per core).
    pub jobs: Option<usize>,
    /// The scan cache: `Some(true)` from `--cache` or `DEPMOD_CACHE=1`, `Some(false)` from
    /// `--no-cache` or `DEPMOD_CACHE=0`, `None` for the default (on for the running system).
    pub cache: Option<bool>,
    /// `--check`: compare with the files on disk, write nothing.
    pub check: bool,
    /// `--kernels=all` or `--kernels=V1,V2,…`: index each of these kernels in one run.
    pub kernels: Option<Vec<u8>>,
    /// `--diagnostics=text|json|summary`: how the messages are printed.
    pub diagnostics: Diagnostics,
    /// `--strict`: any warning or error makes the exit status [`STRICT_STATUS`].
    pub strict: bool,
    /// `--graph`: print the dependency graph in Graphviz DOT, write nothing.
    pub graph: bool,
    /// `--explain=MODULE`, in order: module names or module file paths to explain on stdout
    /// (nothing is written).
    pub explain: Vec<Vec<u8>>,
}

/// How the messages of a run are printed (`--diagnostics`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Diagnostics {
    /// kmod's lines, unchanged.
    #[default]
    Text,
    /// One JSON object per message (JSON Lines).
    Json,
    /// Each kind of message once, with its count and first instances.
    Summary,
}

/// The exit status of a run that succeeded but gave warnings or errors, under `--strict`
/// (a failed run exits 1, as kmod's does).
pub const STRICT_STATUS: i32 = 2;

/// What to do after parsing.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Command {
    /// Run depmod.
    Run(Box<Args>),
    /// Print the help text, exit 0.
    Help,
    /// Print the version text, exit 0.
    Version,
    /// Stop with exit status 1 after this message: a getopt error (verbatim line after the
    /// program name) or a depmod message with its level.
    Fail(crate::diag::Diag),
}

/// The current directory as glibc's `get_current_dir_name` gives it: `$PWD` when it names the
/// current directory, else `getcwd`.
pub fn current_dir_name() -> Option<Vec<u8>> {
    use std::os::unix::fs::MetadataExt;
    if let Some(pwd) = std::env::var_os("PWD") {
        let pwd_bytes = pwd.as_bytes();
        if pwd_bytes.first() == Some(&b'/')
            && let (Ok(a), Ok(b)) = (std::fs::metadata(&pwd), std::fs::metadata("."))
            && a.dev() == b.dev()
            && a.ino() == b.ino()
        {
            return Some(pwd_bytes.to_vec());
        }
    }
    std::env::current_dir()
        .ok()
        .map(|p| p.into_os_string().into_vec())
}

/// Make a `-b`/`-o` value absolute the way kmod does: verbatim if it starts with `/`,
/// else `<cwd>/<arg>` with no normalisation.
pub fn absolute(arg: &[u8]) -> Option<Vec<u8>> {
    if arg.first() == Some(&b'/') {
        return Some(arg.to_vec());
    }
    let mut cwd = current_dir_name()?;
    cwd.push(b'/');
    cwd.extend_from_slice(arg);
    Some(cwd)
}

/// Parse the whole command line (`argv` without argv\[0\]) into a command.
pub fn parse_command(argv: &[OsString]) -> Command {
    let args: Vec<Vec<u8>> = argv.iter().map(|a| a.as_bytes().to_vec()).collect();
    let posixly = std::env::var_os("POSIXLY_CORRECT").is_some();
    let parsed = parse(&args, posixly);
    let mut out = Args::default();
    for ev in parsed.events {
        let (id, val) = match ev {
            Event::Error(text) => {
                return Command::Fail(crate::diag::Diag { level: None, text });
            }
            Event::Opt(id, val) => (id, val.unwrap_or_default()),
        };
        use crate::diag::{Diag, Level};
        match id {
            OptId::All => out.all = true,
            OptId::Quick => out.quick = true,
            OptId::Basedir => match absolute(&val) {
                Some(p) => out.basedir = Some(p),
                None => {
                    return Command::Fail(Diag {
                        level: Some(Level::Error),
                        text: crate::msg!(b"invalid image path ", val, b"\n"),
                    });
                }
            },
            OptId::Moduledir => out.moduledir = Some(val),
            OptId::Outdir => match absolute(&val) {
                Some(p) => out.outdir = Some(p),
                None => {
                    return Command::Fail(Diag {
                        level: Some(Level::Error),
                        text: crate::msg!(b"invalid output directory ", val, b"\n"),
                    });
                }
            },
            OptId::Config => out.config_paths.push(val),
            OptId::Symvers => out.symvers = Some(val),
            OptId::Filesyms => out.filesyms = Some(val),
            OptId::Errsyms => out.errsyms = true,
            OptId::Verbose => out.verbose += 1,
            OptId::Show => out.dry_run = true,
            OptId::SymbolPrefix => {
                if val.len() != 1 {
                    return Command::Fail(Diag {
                        level: Some(Level::Fatal),
                        text: b"-P only takes a single char\n".to_vec(),
                    });
                }
                out.symbol_prefix = Some(val[0]);
            }
            OptId::Warn => out.warn = true,
            // A number too large for `usize` is as good as any other above the ceiling.
            OptId::Jobs => match std::str::from_utf8(&val)
                .ok()
                .filter(|v| !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit()))
                .map(|v| v.parse::<usize>().unwrap_or(usize::MAX))
            {
                Some(n) if n > 0 => out.jobs = Some(n),
                _ => {
                    return Command::Fail(Diag {
                        level: Some(Level::Fatal),
                        text: crate::msg!(
                            b"-j needs a positive number of threads, not '",
                            val,
                            b"'\n"
                        ),
                    });
                }
            },
            OptId::Cache => out.cache = Some(true),
            OptId::NoCache => out.cache = Some(false),
            OptId::Check => out.check = true,
            OptId::Kernels => out.kernels = Some(val),
            OptId::Strict => out.strict = true,
            OptId::Graph => out.graph = true,
            OptId::Explain => out.explain.push(val),
            OptId::Diagnostics => {
                out.diagnostics = match &val[..] {
                    b"text" => Diagnostics::Text,
                    b"json" => Diagnostics::Json,
                    b"summary" => Diagnostics::Summary,
                    _ => {
                        return Command::Fail(Diag {
                            level: Some(Level::Fatal),
                            text: crate::msg!(
                                b"--diagnostics takes text, json or summary, not '",
                                val,
                                b"'\n"
                            ),
                        });
                    }
                }
            }
            OptId::Version => return Command::Version,
            OptId::Help => return Command::Help,
        }
    }
    // The command line wins over the environment.
    if out.cache.is_none()
        && let Some(v) = std::env::var_os("DEPMOD_CACHE")
    {
        out.cache = cache_env(v.as_bytes());
    }
    let mut operands = parsed.operands.into_iter();
    out.version = operands.next();
    out.files = operands.collect();
    Command::Run(Box::new(out))
}

/// What a `DEPMOD_CACHE` value asks for: off for `0`, `no`, `off` or `false`, the default
/// for an empty value, on for anything else.
pub fn cache_env(v: &[u8]) -> Option<bool> {
    match v {
        b"" => None,
        b"0" | b"no" | b"off" | b"false" => Some(false),
        _ => Some(true),
    }
}

/// Whether kmod takes `v` for a kernel version: `sscanf(v, "%u.%u") == 2`.
pub fn version_is_valid(v: &[u8]) -> bool {
    crate::cstd::scans_dotted_pair(v)
}

/// The help text (ours, in kmod's spirit).
pub fn help_text(prog: &str) -> String {
    let mut s = format!(
        "Usage:\n\t{prog} -[aA] [options] [forced_version]\n\n\
         If no arguments (except options) are given, \"{prog} -a\" is assumed\n\n\
         {prog} will output a dependency list suitable for the modprobe utility.\n\n\
         Options:\n"
    );
    let distro = [
        OptId::Basedir,
        OptId::Moduledir,
        OptId::Outdir,
        OptId::Filesyms,
        OptId::Symvers,
    ];
    let line = |o: &OptSpec| {
        let long = if o.has_arg == HasArg::Required {
            format!("--{}={}", o.long[0], o.arg_name)
        } else {
            o.long
                .iter()
                .map(|l| format!("--{l}"))
                .collect::<Vec<_>>()
                .join(", ")
        };
        let short = if o.short == 0 {
            "    ".to_string()
        } else {
            format!("-{}, ", o.short as char)
        };
        format!(
            "\t{short}{:<24} {}\n",
            long,
            o.help.replace("/lib/modules", crate::DEFAULT_MODULE_DIR)
        )
    };
    for o in OPTIONS.iter().filter(|o| !distro.contains(&o.id)) {
        s.push_str(&line(o));
    }
    s.push_str("\nThe following options are useful for people managing distributions:\n");
    for id in distro {
        let o = OPTIONS
            .iter()
            .find(|o| o.id == id)
            .expect("distro options are in the table");
        s.push_str(&line(o));
    }
    s
}

/// The version text: the first line stays parseable as kmod's.
pub fn version_text() -> String {
    format!(
        "kmod version 34.2\n+ZSTD +XZ +ZLIB -OPENSSL\ndepmod-rs {} (a Rust reimplementation of kmod's depmod)\n",
        env!("CARGO_PKG_VERSION")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(args: &[&str]) -> Parsed {
        let v: Vec<Vec<u8>> = args.iter().map(|a| a.as_bytes().to_vec()).collect();
        parse(&v, false)
    }

    fn err(args: &[&str]) -> String {
        match p(args).events.last() {
            Some(Event::Error(e)) => String::from_utf8(e.clone()).unwrap(),
            other => panic!("no error: {other:?}"),
        }
    }

    #[test]
    fn combined_flags_and_attached_values() {
        let r = p(&["-avb/x", "1.0", "-P_"]);
        assert_eq!(
            r.events,
            vec![
                Event::Opt(OptId::All, None),
                Event::Opt(OptId::Verbose, None),
                Event::Opt(OptId::Basedir, Some(b"/x".to_vec())),
                Event::Opt(OptId::SymbolPrefix, Some(b"_".to_vec())),
            ]
        );
        assert_eq!(r.operands, vec![b"1.0".to_vec()]);
    }

    #[test]
    fn long_prefixes_and_ambiguity() {
        assert_eq!(p(&["--dry"]).events, vec![Event::Opt(OptId::Show, None)]);
        assert_eq!(
            p(&["--b", "x"]).events,
            vec![Event::Opt(OptId::Basedir, Some(b"x".to_vec()))]
        );
        assert_eq!(
            err(&["--ver"]),
            "option '--ver' is ambiguous; possibilities: '--verbose' '--version'\n"
        );
        assert_eq!(
            err(&["--s"]),
            "option '--s' is ambiguous; possibilities: '--symvers' '--show' '--symbol-prefix'\n"
        );
    }

    #[test]
    fn additions_resolve_only_where_kmod_has_no_match() {
        // kmod's `--c` is `--config`; ours too, although `--cache` and `--check` exist.
        assert_eq!(
            p(&["--c", "x"]).events,
            vec![Event::Opt(OptId::Config, Some(b"x".to_vec()))]
        );
        assert_eq!(p(&["--ca"]).events, vec![Event::Opt(OptId::Cache, None)]);
        assert_eq!(p(&["--ch"]).events, vec![Event::Opt(OptId::Check, None)]);
        assert_eq!(p(&["--check"]).events, vec![Event::Opt(OptId::Check, None)]);
        assert_eq!(
            p(&["--j", "2"]).events,
            vec![Event::Opt(OptId::Jobs, Some(b"2".to_vec()))]
        );
        // The ambiguity message lists kmod's names only, as kmod prints it.
        assert!(err(&["--=x"]).ends_with("'--version' '--help'\n"));
        // Long-only options have no short form: a NUL byte is not one.
        assert_eq!(
            p(&["-\0"]).events,
            vec![Event::Error(b"invalid option -- '\0'\n".to_vec())]
        );
    }

    #[test]
    fn cache_environment_values() {
        for on in [&b"1"[..], b"yes", b"true", b"on"] {
            assert_eq!(cache_env(on), Some(true));
        }
        for off in [&b"0"[..], b"no", b"off", b"false"] {
            assert_eq!(cache_env(off), Some(false));
        }
        assert_eq!(cache_env(b""), None);
    }

    #[test]
    fn getopt_error_texts() {
        assert_eq!(err(&["--foo=bar"]), "unrecognized option '--foo=bar'\n");
        assert_eq!(
            err(&["--all=x"]),
            "option '--all' doesn't allow an argument\n"
        );
        assert_eq!(
            err(&["--verb=3"]),
            "option '--verbose' doesn't allow an argument\n"
        );
        assert_eq!(
            err(&["--basedir"]),
            "option '--basedir' requires an argument\n"
        );
        assert_eq!(err(&["-x"]), "invalid option -- 'x'\n");
        assert_eq!(err(&["-b"]), "option requires an argument -- 'b'\n");
        assert!(
            err(&["--=x"])
                .starts_with("option '--=x' is ambiguous; possibilities: '--all' '--quick'")
        );
    }

    #[test]
    fn double_dash_and_permutation() {
        let r = p(&["1.0", "-a", "--", "-x"]);
        assert_eq!(r.events, vec![Event::Opt(OptId::All, None)]);
        assert_eq!(r.operands, vec![b"1.0".to_vec(), b"-x".to_vec()]);
        let r = parse(&[b"1.0".to_vec(), b"-a".to_vec()], true);
        assert!(r.events.is_empty());
        assert_eq!(r.operands.len(), 2);
    }

    #[test]
    fn help_acts_when_reached() {
        let os = |v: &[&str]| v.iter().map(OsString::from).collect::<Vec<_>>();
        assert_eq!(parse_command(&os(&["-h", "--bogus"])), Command::Help);
        assert!(matches!(
            parse_command(&os(&["--bogus", "-h"])),
            Command::Fail(_)
        ));
        assert!(
            matches!(parse_command(&os(&["-P", "ab"])), Command::Fail(d) if d.text == b"-P only takes a single char\n")
        );
    }

    #[test]
    fn versions() {
        assert!(version_is_valid(b"6.1.0-57-amd64"));
        assert!(version_is_valid(b" 4.4"));
        assert!(!version_is_valid(b"v6.1"));
        assert!(!version_is_valid(b"6"));
        assert!(!version_is_valid(b"6."));
        assert!(!version_is_valid(b"-"));
    }
}
