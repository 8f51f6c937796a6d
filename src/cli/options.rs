//! kmod's option table, with this implementation's additions after it.

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
    /// `--no-cache` (an addition: neither read nor write the scan cache)
    NoCache,
    /// `--check` (an addition: report which outputs would change, write nothing)
    Check,
    /// `--kernels=LIST` (an addition: several kernels in one run)
    Kernels,
    /// `--diagnostics=FORMAT` (an addition: messages as text, JSON Lines or a summary)
    Diagnostics,
    /// `--strict` (an addition: warnings make the exit status non-zero)
    Strict,
    /// `--graph` (an addition: the dependency graph in DOT)
    Graph,
    /// `--explain=MODULE` (an addition: why a module's file, dependencies and load order)
    Explain,
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
        help: "Reuse facts of unchanged modules (default on the running system)",
    },
    OptSpec {
        short: 0,
        long: &["no-cache"],
        has_arg: HasArg::No,
        id: OptId::NoCache,
        arg_name: "",
        help: "Neither read nor write the scan cache (also DEPMOD_CACHE=0)",
    },
    OptSpec {
        short: 0,
        long: &["check"],
        has_arg: HasArg::No,
        id: OptId::Check,
        arg_name: "",
        help: "Exit 1 if any output would change; write nothing",
    },
    OptSpec {
        short: 0,
        long: &["kernels"],
        has_arg: HasArg::Required,
        id: OptId::Kernels,
        arg_name: "LIST",
        help: "Index each kernel of LIST (all, or V1,V2,...)",
    },
    OptSpec {
        short: 0,
        long: &["diagnostics"],
        has_arg: HasArg::Required,
        id: OptId::Diagnostics,
        arg_name: "FORMAT",
        help: "Print messages as text, json (JSON Lines) or summary",
    },
    OptSpec {
        short: 0,
        long: &["strict"],
        has_arg: HasArg::No,
        id: OptId::Strict,
        arg_name: "",
        help: "Exit 2 when any warning or error was printed",
    },
    OptSpec {
        short: 0,
        long: &["graph"],
        has_arg: HasArg::No,
        id: OptId::Graph,
        arg_name: "",
        help: "Print the dependency graph (Graphviz DOT); write nothing",
    },
    OptSpec {
        short: 0,
        long: &["explain"],
        has_arg: HasArg::Required,
        id: OptId::Explain,
        arg_name: "MODULE",
        help: "Explain MODULE's file, dependencies and load order; write nothing",
    },
];

impl OptSpec {
    /// Whether this option is an addition of this implementation (not one of kmod's).
    ///
    /// An abbreviated long option is first matched against kmod's names only, so every
    /// command line kmod accepts means the same here (`--c` stays `--config`).
    pub fn is_addition(&self) -> bool {
        matches!(
            self.id,
            OptId::Jobs
                | OptId::Cache
                | OptId::NoCache
                | OptId::Check
                | OptId::Kernels
                | OptId::Diagnostics
                | OptId::Strict
                | OptId::Graph
                | OptId::Explain
        )
    }
}

/// One long name with its table row, in getopt's flattened table order.
pub(crate) fn long_table() -> impl Iterator<Item = (&'static str, &'static OptSpec)> {
    OPTIONS
        .iter()
        .flat_map(|o| o.long.iter().map(move |l| (*l, o)))
}
