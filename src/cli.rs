//! The command line: kmod's option table and a GNU `getopt_long`-compatible parser (spec §1.1).
//!
//! Parsing yields a list of events in command-line order; `Args::from_events` applies them the
//! way kmod's option loop does (left to right, `-h`/`-V` acting when reached). No I/O here
//! except reading the current directory for `-b`/`-o`.

use std::ffi::OsString;
use std::os::unix::ffi::{OsStrExt, OsStringExt};

/// Whether an option takes an argument.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HasArg {
    /// A flag.
    No,
    /// A required argument (`-bDIR`, `-b DIR`, `--basedir=DIR`, `--basedir DIR`).
    Required,
}

/// What an option does.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum OptId {
    /// `-a`
    All,
    /// `-A`
    Quick,
    /// `-b DIR`
    Basedir,
    /// `-m DIR`
    Moduledir,
    /// `-o DIR`
    Outdir,
    /// `-C PATH`
    Config,
    /// `-E FILE`
    Symvers,
    /// `-F FILE`
    Filesyms,
    /// `-e`
    Errsyms,
    /// `-v`
    Verbose,
    /// `-n`
    Show,
    /// `-P C`
    SymbolPrefix,
    /// `-w`
    Warn,
    /// `-V`
    Version,
    /// `-h`
    Help,
    /// `-j N` (an addition: threads for reading modules)
    Jobs,
    /// `--cache` (an addition: reuse what earlier runs learned from unchanged modules)
    Cache,
    /// `--check` (an addition: report which outputs would change, write nothing)
    Check,
}

/// One row of the option table.
#[derive(Clone, Copy, Debug)]
pub struct OptSpec {
    /// The short letter, or 0 for an option that only has a long name.
    pub short: u8,
    /// The long names (kmod's table order; `-n` has two).
    pub long: &'static [&'static str],
    /// Whether it takes an argument.
    pub has_arg: HasArg,
    /// The option.
    pub id: OptId,
    /// Argument name for the help text.
    pub arg_name: &'static str,
    /// One line of help.
    pub help: &'static str,
}

/// kmod 34.2's option table, in its order (the order matters for getopt's ambiguity message).
pub const OPTIONS: &[OptSpec] = &[
    OptSpec {
        short: b'a',
        long: &["all"],
        has_arg: HasArg::No,
        id: OptId::All,
        arg_name: "",
        help: "Probe all modules",
    },
    OptSpec {
        short: b'A',
        long: &["quick"],
        has_arg: HasArg::No,
        id: OptId::Quick,
        arg_name: "",
        help: "Only does the work if there's a new module",
    },
    OptSpec {
        short: b'b',
        long: &["basedir"],
        has_arg: HasArg::Required,
        id: OptId::Basedir,
        arg_name: "DIR",
        help: "Root path (default: /).",
    },
    OptSpec {
        short: b'm',
        long: &["moduledir"],
        has_arg: HasArg::Required,
        id: OptId::Moduledir,
        arg_name: "DIR",
        help: "Module directory (default: /lib/modules).",
    },
    OptSpec {
        short: b'o',
        long: &["outdir"],
        has_arg: HasArg::Required,
        id: OptId::Outdir,
        arg_name: "DIR",
        help: "Output root path (default: same as <basedir>).",
    },
    OptSpec {
        short: b'C',
        long: &["config"],
        has_arg: HasArg::Required,
        id: OptId::Config,
        arg_name: "PATH",
        help: "Read configuration from PATH",
    },
    OptSpec {
        short: b'E',
        long: &["symvers"],
        has_arg: HasArg::Required,
        id: OptId::Symvers,
        arg_name: "FILE",
        help: "Use Module.symvers file to check symbol versions.",
    },
    OptSpec {
        short: b'F',
        long: &["filesyms"],
        has_arg: HasArg::Required,
        id: OptId::Filesyms,
        arg_name: "FILE",
        help: "Use the file instead of the current kernel symbols.",
    },
    OptSpec {
        short: b'e',
        long: &["errsyms"],
        has_arg: HasArg::No,
        id: OptId::Errsyms,
        arg_name: "",
        help: "Report not supplied symbols",
    },
    OptSpec {
        short: b'v',
        long: &["verbose"],
        has_arg: HasArg::No,
        id: OptId::Verbose,
        arg_name: "",
        help: "Enable verbose mode",
    },
    OptSpec {
        short: b'n',
        long: &["show", "dry-run"],
        has_arg: HasArg::No,
        id: OptId::Show,
        arg_name: "",
        help: "Write the dependency file on stdout only",
    },
    OptSpec {
        short: b'P',
        long: &["symbol-prefix"],
        has_arg: HasArg::Required,
        id: OptId::SymbolPrefix,
        arg_name: "CHAR",
        help: "Architecture symbol prefix",
    },
    OptSpec {
        short: b'w',
        long: &["warn"],
        has_arg: HasArg::No,
        id: OptId::Warn,
        arg_name: "",
        help: "Warn on duplicates",
    },
    OptSpec {
        short: b'V',
        long: &["version"],
        has_arg: HasArg::No,
        id: OptId::Version,
        arg_name: "",
        help: "show version",
    },
    OptSpec {
        short: b'h',
        long: &["help"],
        has_arg: HasArg::No,
        id: OptId::Help,
        arg_name: "",
        help: "show this help",
    },
    // Additions of this implementation come after kmod's options, so that getopt's
    // ambiguity messages list kmod's names first and in kmod's order.
    OptSpec {
        short: b'j',
        long: &["jobs"],
        has_arg: HasArg::Required,
        id: OptId::Jobs,
        arg_name: "N",
        help: "Read modules on N threads, at most 64 (default: all cores)",
    },
    OptSpec {
        short: 0,
        long: &["cache"],
        has_arg: HasArg::No,
        id: OptId::Cache,
        arg_name: "",
        help: "Reuse facts of unchanged modules (also DEPMOD_CACHE=1)",
    },
    OptSpec {
        short: 0,
        long: &["check"],
        has_arg: HasArg::No,
        id: OptId::Check,
        arg_name: "",
        help: "Exit 1 if any output would change; write nothing",
    },
];

impl OptSpec {
    /// Whether this option is an addition of this implementation (not one of kmod's).
    ///
    /// An abbreviated long option is first matched against kmod's names only, so every
    /// command line kmod accepts means the same here (`--c` stays `--config`).
    pub fn is_addition(&self) -> bool {
        matches!(self.id, OptId::Jobs | OptId::Cache | OptId::Check)
    }
}

/// One long name with its table row, in getopt's flattened table order.
fn long_table() -> impl Iterator<Item = (&'static str, &'static OptSpec)> {
    OPTIONS
        .iter()
        .flat_map(|o| o.long.iter().map(move |l| (*l, o)))
}

/// One step of parsing, in command-line order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event {
    /// A recognised option with its argument.
    Opt(OptId, Option<Vec<u8>>),
    /// getopt's error line (without the program name prefix): parsing stops with exit 1.
    Error(Vec<u8>),
}

/// The result of getopt-style parsing.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Parsed {
    /// Options and errors in the order getopt returns them (stops at the first error).
    pub events: Vec<Event>,
    /// The operands, in order (after permutation).
    pub operands: Vec<Vec<u8>>,
}

/// Parse `args` (without argv\[0\]) as glibc's `getopt_long` does with kmod's table.
///
/// `posixly_correct` mirrors the `POSIXLY_CORRECT` environment variable: parsing stops at the
/// first operand instead of permuting.
pub fn parse(args: &[Vec<u8>], posixly_correct: bool) -> Parsed {
    let mut events = Vec::new();
    let mut operands = Vec::new();
    let mut i = 0;
    while i < args.len() {
        let arg = &args[i];
        i += 1;
        if arg.as_slice() == b"--" {
            operands.extend(args[i..].iter().cloned());
            break;
        }
        if arg.len() < 2 || arg[0] != b'-' {
            operands.push(arg.clone());
            if posixly_correct {
                operands.extend(args[i..].iter().cloned());
                break;
            }
            continue;
        }
        if arg[1] == b'-' {
            let body = &arg[2..];
            let (name, value) = match body.iter().position(|&b| b == b'=') {
                Some(p) => (&body[..p], Some(body[p + 1..].to_vec())),
                None => (body, None),
            };
            let exact = long_table().find(|(l, _)| l.as_bytes() == name);
            let found = match exact {
                Some((l, spec)) => Some((l, spec)),
                None => {
                    let matching = |additions: bool| -> Vec<(&str, &OptSpec)> {
                        long_table()
                            .filter(|(l, s)| {
                                s.is_addition() == additions && l.as_bytes().starts_with(name)
                            })
                            .collect()
                    };
                    let mut candidates = matching(false);
                    if candidates.is_empty() {
                        candidates = matching(true);
                    }
                    match candidates.first() {
                        None => {
                            events.push(Event::Error(crate::msg!(
                                b"unrecognized option '--",
                                body,
                                b"'\n"
                            )));
                            return Parsed { events, operands };
                        }
                        Some(&first) => {
                            let ambiguous = candidates
                                .iter()
                                .any(|(_, s)| s.has_arg != first.1.has_arg || s.id != first.1.id);
                            if ambiguous {
                                let mut m = crate::msg!(
                                    b"option '--",
                                    body,
                                    b"' is ambiguous; possibilities:"
                                );
                                for (l, _) in &candidates {
                                    m.extend_from_slice(b" '--");
                                    m.extend_from_slice(l.as_bytes());
                                    m.push(b'\'');
                                }
                                m.push(b'\n');
                                events.push(Event::Error(m));
                                return Parsed { events, operands };
                            }
                            Some(first)
                        }
                    }
                }
            };
            let (long, spec) = found.expect("found is Some here");
            match spec.has_arg {
                HasArg::No => {
                    if value.is_some() {
                        events.push(Event::Error(crate::msg!(
                            b"option '--",
                            long,
                            b"' doesn't allow an argument\n"
                        )));
                        return Parsed { events, operands };
                    }
                    events.push(Event::Opt(spec.id, None));
                }
                HasArg::Required => {
                    let value = match value {
                        Some(v) => v,
                        None if i < args.len() => {
                            i += 1;
                            args[i - 1].clone()
                        }
                        None => {
                            events.push(Event::Error(crate::msg!(
                                b"option '--",
                                long,
                                b"' requires an argument\n"
                            )));
                            return Parsed { events, operands };
                        }
                    };
                    events.push(Event::Opt(spec.id, Some(value)));
                }
            }
            continue;
        }
        // A cluster of short options.
        let mut j = 1;
        while j < arg.len() {
            let c = arg[j];
            j += 1;
            let Some(spec) = OPTIONS.iter().find(|o| o.short == c && c != b':' && c != 0) else {
                events.push(Event::Error(crate::msg!(
                    b"invalid option -- '",
                    [c],
                    b"'\n"
                )));
                return Parsed { events, operands };
            };
            match spec.has_arg {
                HasArg::No => events.push(Event::Opt(spec.id, None)),
                HasArg::Required => {
                    let value = if j < arg.len() {
                        arg[j..].to_vec()
                    } else if i < args.len() {
                        i += 1;
                        args[i - 1].clone()
                    } else {
                        events.push(Event::Error(crate::msg!(
                            b"option requires an argument -- '",
                            [c],
                            b"'\n"
                        )));
                        return Parsed { events, operands };
                    };
                    events.push(Event::Opt(spec.id, Some(value)));
                    break;
                }
            }
        }
    }
    Parsed { events, operands }
}

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
    /// `--cache` or `DEPMOD_CACHE=1`: use and update the scan cache.
    pub cache: bool,
    /// `--check`: compare with the files on disk, write nothing.
    pub check: bool,
}

/// What to do after parsing.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Command {
    /// Run depmod.
    Run(Args),
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
            OptId::Cache => out.cache = true,
            OptId::Check => out.check = true,
            OptId::Version => return Command::Version,
            OptId::Help => return Command::Help,
        }
    }
    if std::env::var_os("DEPMOD_CACHE").is_some_and(|v| cache_env_enables(v.as_bytes())) {
        out.cache = true;
    }
    let mut operands = parsed.operands.into_iter();
    out.version = operands.next();
    out.files = operands.collect();
    Command::Run(out)
}

/// Whether a `DEPMOD_CACHE` value turns the cache on: anything but empty, `0`, `no`, `off`
/// or `false`.
pub fn cache_env_enables(v: &[u8]) -> bool {
    !matches!(v, b"" | b"0" | b"no" | b"off" | b"false")
}

/// Whether kmod takes `v` for a kernel version: `sscanf(v, "%u.%u") == 2`.
pub fn version_is_valid(v: &[u8]) -> bool {
    crate::cstd::scans_dotted_pair(v)
}

/// The help text (ours, in kmod's spirit; spec §1.8).
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
            assert!(cache_env_enables(on));
        }
        for off in [&b""[..], b"0", b"no", b"off", b"false"] {
            assert!(!cache_env_enables(off));
        }
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
