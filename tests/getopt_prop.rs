// A binary of its own: it changes process-wide state that tests on other threads of the same
// process would see. It sets and unsets POSIXLY_CORRECT in the environment (inherited by every
// depmod another test spawns, and racing with their reads of the environment), points fd 2 at
// a temporary file around each glibc call (hiding other tests' stderr) and resets glibc's
// getopt globals (`optind`, `optarg`, `opterr`). Its mutex only orders its own threads.

//! Differential property test: `cli::parse` against the C library's `getopt_long`.
//!
//! Both parsers get the same generated argument vectors, glibc with kmod 34.2's option table
//! (`cli::OPTIONS` without our additions, short string `aAb:m:o:C:E:F:evnP:wVh`, `-n` with its
//! two long names) and must agree on:
//! * the sequence of recognised options with their arguments, up to and including the first
//!   error (depmod exits at the first `?`, and our parser stops there too);
//! * the text of that error: glibc prints `argv0: <text>` to stderr, captured here by pointing
//!   fd 2 at a temporary file around the call; with no error, glibc must print nothing;
//! * the operands after permutation (`argv[optind..]`), for vectors without errors.
//!
//! Our additions (`-j`, `--jobs`, `--cache`, `--check`) are compared with glibc given the
//! whole table, except that our parser resolves an abbreviation against kmod's names first
//! (so that every command line kmod accepts means the same): a vector with a token like
//! `--c` or `--=x` is compared with kmod's table, or skipped if it also uses an addition.
//!
//! Every vector runs both with and without `POSIXLY_CORRECT` (glibc reads the variable when
//! it re-initialises, i.e. when `optind` is set to 0). getopt's state and the environment are
//! process-global, so the C side runs under one mutex.

use std::ffi::{CStr, CString};
use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::os::fd::AsRawFd;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use depmod::cli::{self, Event, HasArg, OPTIONS};
use libc::{c_char, c_int};
use proptest::prelude::*;
use proptest::sample::{Index, select};
use proptest::test_runner::Config;

unsafe extern "C" {
    static mut optind: c_int;
    static mut optarg: *mut c_char;
    static mut opterr: c_int;
}

/// kmod 34.2's short option string; also checked against the table.
const SHORTOPTS: &str = "aAb:m:o:C:E:F:evnP:wVh";

/// The same followed by our additions with a short letter.
const SHORTOPTS_ALL: &str = "aAb:m:o:C:E:F:evnP:wVhj:";

/// The program name given to glibc as argv\[0\] (it prefixes its messages with it).
const ARGV0: &[u8] = b"depmod";

/// Serialises everything that touches getopt's globals, fd 2 or the environment.
static GLIBC: Mutex<()> = Mutex::new(());

/// One step of either parser, in the order it reports them.
#[derive(Clone, PartialEq, Eq)]
enum Step {
    /// A recognised option (getopt's value: the short letter, or 256 + the table index of
    /// an option without one) with its argument.
    Opt(i32, Option<Vec<u8>>),
    /// An error, with its message text after `argv0: `.
    Error(Vec<u8>),
}

/// What a parser made of one vector.
#[derive(Clone, PartialEq, Eq)]
struct Outcome {
    /// Options up to and including the first error.
    steps: Vec<Step>,
    /// The operands after permutation; only compared when there was no error.
    operands: Option<Vec<Vec<u8>>>,
}

/// Bytes shown as an escaped string in failure messages.
struct Shown<'a>(&'a [u8]);

impl std::fmt::Debug for Shown<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "\"{}\"", self.0.escape_ascii())
    }
}

impl std::fmt::Debug for Step {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Step::Opt(c, None) => write!(f, "-{}", name_of(*c)),
            Step::Opt(c, Some(v)) => write!(f, "-{} {:?}", name_of(*c), Shown(v)),
            Step::Error(m) => write!(f, "Error {:?}", Shown(m)),
        }
    }
}

impl std::fmt::Debug for Outcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let operands = self
            .operands
            .as_ref()
            .map(|v| v.iter().map(|o| Shown(o)).collect::<Vec<_>>());
        f.debug_struct("Outcome")
            .field("steps", &self.steps)
            .field("operands", &operands)
            .finish()
    }
}

/// getopt's value for a table row.
fn val_of(index: usize, o: &cli::OptSpec) -> i32 {
    if o.short == 0 {
        256 + index as i32
    } else {
        i32::from(o.short)
    }
}

/// A getopt value for failure messages.
fn name_of(val: i32) -> String {
    match u8::try_from(val) {
        Ok(c) => c.escape_ascii().to_string(),
        Err(_) => format!("-{}", OPTIONS[(val - 256) as usize].long[0]),
    }
}

/// Our parser, in the comparison's terms.
fn ours(args: &[Vec<u8>], posixly: bool) -> Outcome {
    let parsed = cli::parse(args, posixly);
    let mut steps = Vec::new();
    for ev in parsed.events {
        match ev {
            Event::Opt(id, val) => {
                let (index, spec) = OPTIONS
                    .iter()
                    .enumerate()
                    .find(|(_, o)| o.id == id)
                    .expect("every OptId is in the table");
                steps.push(Step::Opt(val_of(index, spec), val));
            }
            Event::Error(text) => {
                steps.push(Step::Error(text));
                break;
            }
        }
    }
    let error = matches!(steps.last(), Some(Step::Error(_)));
    Outcome {
        steps,
        operands: (!error).then_some(parsed.operands),
    }
}

/// The short option string built from `cli::OPTIONS` (with or without the additions).
fn optstring_from_table(additions: bool) -> String {
    OPTIONS
        .iter()
        .filter(|o| o.short != 0 && (additions || !o.is_addition()))
        .map(|o| {
            let mut s = (o.short as char).to_string();
            if o.has_arg == HasArg::Required {
                s.push(':');
            }
            s
        })
        .collect()
}

/// Points fd 2 at a temporary file until dropped, then restores it.
struct StderrCapture {
    file: File,
    saved: c_int,
}

impl StderrCapture {
    fn start() -> StderrCapture {
        let file = tempfile::tempfile().expect("temporary file for stderr");
        // SAFETY: plain fd calls; `saved` keeps the original stderr open until `finish`.
        let saved = unsafe { libc::dup(2) };
        assert!(saved >= 0, "dup(2) failed");
        // SAFETY: both fds are open.
        let r = unsafe { libc::dup2(file.as_raw_fd(), 2) };
        assert!(r == 2, "dup2 onto fd 2 failed");
        StderrCapture { file, saved }
    }

    fn finish(mut self) -> Vec<u8> {
        self.restore();
        let mut out = Vec::new();
        self.file.seek(SeekFrom::Start(0)).expect("seek capture");
        self.file.read_to_end(&mut out).expect("read capture");
        out
    }

    fn restore(&mut self) {
        if self.saved >= 0 {
            // SAFETY: `saved` is the duplicate of the original fd 2, still open.
            unsafe {
                libc::dup2(self.saved, 2);
                libc::close(self.saved);
            }
            self.saved = -1;
        }
    }
}

impl Drop for StderrCapture {
    fn drop(&mut self) {
        self.restore();
    }
}

/// glibc's `getopt_long` on `argv0 args...` with kmod's table.
fn glibc(args: &[Vec<u8>], posixly: bool) -> Outcome {
    glibc_with(args, posixly, false)
}

/// glibc's `getopt_long` with kmod's table, or with the whole table (`additions`).
fn glibc_with(args: &[Vec<u8>], posixly: bool, additions: bool) -> Outcome {
    let _guard = GLIBC.lock().unwrap_or_else(|e| e.into_inner());

    let optstring =
        CString::new(if additions { SHORTOPTS_ALL } else { SHORTOPTS }).expect("no NUL");
    let names: Vec<(CString, usize, &cli::OptSpec)> = OPTIONS
        .iter()
        .enumerate()
        .filter(|(_, o)| additions || !o.is_addition())
        .flat_map(|(i, o)| {
            o.long
                .iter()
                .map(move |l| (CString::new(*l).expect("no NUL"), i, o))
        })
        .collect();
    let mut longopts: Vec<libc::option> = names
        .iter()
        .map(|(name, i, o)| libc::option {
            name: name.as_ptr(),
            has_arg: match o.has_arg {
                HasArg::No => 0,
                HasArg::Required => 1,
            },
            flag: std::ptr::null_mut(),
            val: val_of(*i, o),
        })
        .collect();
    longopts.push(libc::option {
        name: std::ptr::null(),
        has_arg: 0,
        flag: std::ptr::null_mut(),
        val: 0,
    });

    let strings: Vec<CString> = std::iter::once(ARGV0)
        .chain(args.iter().map(Vec::as_slice))
        .map(|a| CString::new(a).expect("generated arguments have no NUL"))
        .collect();
    // getopt_long permutes this array (not the strings).
    let mut argv: Vec<*mut c_char> = strings.iter().map(|s| s.as_ptr().cast_mut()).collect();
    argv.push(std::ptr::null_mut());
    let argc = c_int::try_from(strings.len()).expect("small argc");

    // SAFETY: the environment is only touched under the mutex held above.
    unsafe {
        if posixly {
            std::env::set_var("POSIXLY_CORRECT", "1");
        } else {
            std::env::remove_var("POSIXLY_CORRECT");
        }
    }

    let capture = StderrCapture::start();
    let mut steps = Vec::new();
    let mut error = false;
    // SAFETY: getopt's globals are only used under the mutex; `argv`, `strings`, `names`,
    // `longopts` and `optstring` outlive the loop; optarg is copied before the next call.
    let operands = unsafe {
        optind = 0; // full re-initialisation, including reading POSIXLY_CORRECT
        opterr = 1;
        loop {
            let c = libc::getopt_long(
                argc,
                argv.as_mut_ptr(),
                optstring.as_ptr(),
                longopts.as_ptr(),
                std::ptr::null_mut(),
            );
            if c == -1 {
                break;
            }
            if c == c_int::from(b'?') || c == c_int::from(b':') {
                error = true;
                break;
            }
            let arg = (!optarg.is_null()).then(|| CStr::from_ptr(optarg).to_bytes().to_vec());
            steps.push(Step::Opt(c, arg));
        }
        let first = usize::try_from(optind).expect("optind >= 0");
        argv[first.min(strings.len())..strings.len()]
            .iter()
            .map(|&p| CStr::from_ptr(p).to_bytes().to_vec())
            .collect::<Vec<_>>()
    };
    let printed = capture.finish();

    if error {
        let mut prefix = ARGV0.to_vec();
        prefix.extend_from_slice(b": ");
        assert!(
            printed.starts_with(&prefix),
            "glibc message without the argv0 prefix: {:?}",
            String::from_utf8_lossy(&printed)
        );
        steps.push(Step::Error(printed[prefix.len()..].to_vec()));
    } else {
        assert!(
            printed.is_empty(),
            "glibc printed without an error: {:?}",
            String::from_utf8_lossy(&printed)
        );
    }
    Outcome {
        steps,
        operands: (!error).then_some(operands),
    }
}

/// Readable form of a vector for failure messages.
fn show(args: &[Vec<u8>]) -> Vec<Shown<'_>> {
    args.iter().map(|a| Shown(a)).collect()
}

/// Fixed tokens: every short option alone and combined, long names, prefixes (unambiguous
/// and ambiguous), `=` forms, unknown options, `-`, `--`, operands, option-like values.
const VOCAB: &[&[u8]] = &[
    b"-a",
    b"-A",
    b"-b",
    b"-m",
    b"-o",
    b"-C",
    b"-E",
    b"-F",
    b"-e",
    b"-v",
    b"-n",
    b"-P",
    b"-w",
    b"-V",
    b"-h",
    b"-avn",
    b"-vb/x",
    b"-bX",
    b"-P_",
    b"-P",
    b"-Pab",
    b"-nwe",
    b"-aAb",
    b"-vx",
    b"-x",
    b"-q",
    b"-u",
    b"-1",
    b"-:",
    b"-?",
    b"-W",
    b"-Wall",
    b"-W",
    b"-",
    b"--",
    b"---",
    b"---x",
    b"--=x",
    b"--=",
    b"--all",
    b"--quick",
    b"--basedir",
    b"--basedir=/x",
    b"--basedir=",
    b"--moduledir",
    b"--moduledir=lib",
    b"--outdir",
    b"--outdir=o",
    b"--config",
    b"--config=c",
    b"--symvers",
    b"--symvers=S",
    b"--filesyms",
    b"--filesyms=F",
    b"--errsyms",
    b"--verbose",
    b"--show",
    b"--dry-run",
    b"--symbol-prefix",
    b"--symbol-prefix=_",
    b"--warn",
    b"--version",
    b"--help",
    b"--s",
    b"--sy",
    b"--sym",
    b"--symb",
    b"--ver",
    b"--v",
    b"--verb",
    b"--vers",
    b"--dry",
    b"--d",
    b"--de",
    b"--q",
    b"--b",
    b"--b=1",
    b"--all=",
    b"--all=x",
    b"--verb=3",
    b"--show=",
    b"--h",
    b"--he",
    b"--m",
    b"--o",
    b"--c",
    b"--e",
    b"--er",
    b"--f",
    b"--w",
    b"--a",
    b"--A",
    b"--foo",
    b"--foo=bar",
    b"--map",
    b"--root",
    b"--quiet",
    b"--all-x",
    b"--dry-runx",
    b"1.0",
    b"6.1.0-57-amd64",
    b"/x.ko",
    b"/lib/modules",
    b"x",
    b"",
    b" ",
    b"_",
    b"=",
    b"-\xff",
    b"--\xff",
    b"\xff",
];

/// Long names, known and unknown, to take prefixes of.
const LONG_NAMES: &[&str] = &[
    "all",
    "quick",
    "basedir",
    "moduledir",
    "outdir",
    "config",
    "symvers",
    "filesyms",
    "errsyms",
    "verbose",
    "show",
    "dry-run",
    "symbol-prefix",
    "warn",
    "version",
    "help",
    "jobs",
    "cache",
    "check",
    "unknown",
    "verbosity",
    "shows",
    "-x",
];

/// Values for `--name=VALUE` forms and separate arguments.
const VALUES: &[&[u8]] = &[b"", b"x", b"/x", b"-a", b"--", b"=", b"1.0", b"-P", b"_"];

fn token() -> impl Strategy<Value = Vec<u8>> {
    let fixed = select(VOCAB).prop_map(<[u8]>::to_vec);
    let cluster = "-[aAbmoCEFevnPwVhxq:W?=-]{1,4}[a-z/_]{0,2}".prop_map(|s: String| s.into_bytes());
    let long = (
        select(LONG_NAMES),
        any::<Index>(),
        proptest::option::of(select(VALUES)),
    )
        .prop_map(|(name, cut, value)| {
            let mut t = b"--".to_vec();
            t.extend_from_slice(&name.as_bytes()[..cut.index(name.len() + 1)]);
            if let Some(v) = value {
                t.push(b'=');
                t.extend_from_slice(v);
            }
            t
        });
    let value = select(VALUES).prop_map(<[u8]>::to_vec);
    let operand = "[a-z0-9./_-]{0,6}".prop_map(|s: String| s.into_bytes());
    prop_oneof![
        4 => fixed,
        2 => cluster,
        2 => long,
        1 => value,
        1 => operand,
    ]
}

/// Tokens that are never an error by themselves (an argument-taking option may still be
/// missing its argument at the end), so that permutation and operands get exercised.
const VALID: &[&[u8]] = &[
    b"-a",
    b"-A",
    b"-e",
    b"-v",
    b"-n",
    b"-w",
    b"-V",
    b"-h",
    b"-avn",
    b"-vb/x",
    b"-bX",
    b"-P_",
    b"-b",
    b"-C",
    b"-P",
    b"--all",
    b"--dry",
    b"--show",
    b"--verb",
    b"--vers",
    b"--b=1",
    b"--basedir",
    b"--config=c",
    b"--symbol-prefix",
    b"--symv=",
    b"-",
    b"--",
    b"1.0",
    b"6.1.0-57-amd64",
    b"/x.ko",
    b"x",
    b"",
    b"=",
    b"\xff",
];

fn vector() -> impl Strategy<Value = Vec<Vec<u8>>> {
    let valid = select(VALID).prop_map(<[u8]>::to_vec);
    prop_oneof![
        prop::collection::vec(token(), 0..=8),
        prop::collection::vec(valid, 0..=8),
    ]
}

/// The kinds of getopt error, by a fragment of their message (glibc 2.26+ wording).
const ERROR_KINDS: [(&str, &str); 6] = [
    ("invalid option -- ", "invalid short"),
    ("option requires an argument -- ", "short missing argument"),
    ("unrecognized option ", "unrecognized long"),
    ("' is ambiguous; possibilities:", "ambiguous long"),
    ("' doesn't allow an argument", "long with unwanted argument"),
    ("' requires an argument", "long missing argument"),
];

/// Per-mode tallies, printed at the end of each property (visible with `--nocapture`).
struct Tally {
    cases: AtomicUsize,
    errors: [AtomicUsize; ERROR_KINDS.len()],
    with_operands: AtomicUsize,
}

impl Tally {
    const fn new() -> Tally {
        Tally {
            cases: AtomicUsize::new(0),
            errors: [const { AtomicUsize::new(0) }; ERROR_KINDS.len()],
            with_operands: AtomicUsize::new(0),
        }
    }

    fn count(&self, o: &Outcome) {
        self.cases.fetch_add(1, Ordering::Relaxed);
        if let Some(Step::Error(m)) = o.steps.last() {
            let kind = ERROR_KINDS
                .iter()
                .position(|(frag, _)| m.windows(frag.len()).any(|w| w == frag.as_bytes()))
                .unwrap_or_else(|| panic!("unknown getopt message {:?}", Shown(m)));
            self.errors[kind].fetch_add(1, Ordering::Relaxed);
        }
        if o.operands.as_ref().is_some_and(|v| !v.is_empty()) {
            self.with_operands.fetch_add(1, Ordering::Relaxed);
        }
    }

    fn report(&self, mode: &str) {
        let errors: Vec<String> = ERROR_KINDS
            .iter()
            .zip(&self.errors)
            .map(|((_, name), n)| format!("{name} {}", n.load(Ordering::Relaxed)))
            .collect();
        let total: usize = self.errors.iter().map(|n| n.load(Ordering::Relaxed)).sum();
        eprintln!(
            "getopt_prop {mode}: {} vectors; {} error-free ({} with operands); errors: {}",
            self.cases.load(Ordering::Relaxed),
            self.cases.load(Ordering::Relaxed) - total,
            self.with_operands.load(Ordering::Relaxed),
            errors.join(", "),
        );
    }
}

static PERMUTE_TALLY: Tally = Tally::new();
static POSIX_TALLY: Tally = Tally::new();

/// The long names a long-option token's name part abbreviates: (kmod's, additions').
fn abbreviates(token: &[u8]) -> (bool, bool) {
    let Some(body) = token.strip_prefix(b"--") else {
        return (false, false);
    };
    let name = body.split(|&b| b == b'=').next().unwrap_or_default();
    let matches = |additions: bool| {
        OPTIONS
            .iter()
            .filter(|o| o.is_addition() == additions)
            .flat_map(|o| o.long.iter())
            .any(|l| l.as_bytes().starts_with(name))
    };
    (matches(false), matches(true))
}

/// Which glibc table is the model for a vector: the whole table, except where a long token
/// abbreviates both a kmod name and an addition (`--c`, `--=x`): there our parser gives kmod's
/// meaning, so kmod's table is the model, for vectors that use no addition (others: `None`,
/// not compared; `additions_parse_as_glibc_would` covers them).
fn model(args: &[Vec<u8>], posixly: bool) -> Option<Outcome> {
    let conflict = args.iter().any(|a| abbreviates(a) == (true, true));
    if !conflict {
        return Some(glibc_with(args, posixly, true));
    }
    let uses_addition = args.iter().any(|a| {
        abbreviates(a) == (false, true) || (a.first() == Some(&b'-') && a.contains(&b'j'))
    });
    (!uses_addition).then(|| glibc(args, posixly))
}

fn compare(args: &[Vec<u8>], posixly: bool) -> Result<Outcome, TestCaseError> {
    let Some(want) = model(args, posixly) else {
        return Ok(ours(args, posixly));
    };
    let got = ours(args, posixly);
    prop_assert_eq!(
        &got,
        &want,
        "args {:?} (POSIXLY_CORRECT {})",
        show(args),
        posixly
    );
    Ok(want)
}

const CASES: u32 = 10_000;

fn config() -> Config {
    Config {
        cases: CASES,
        // Failures become explicit vectors in `regressions` below instead of a side file.
        failure_persistence: None,
        ..Config::default()
    }
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn matches_glibc_permuting(args in vector()) {
        let o = compare(&args, false)?;
        PERMUTE_TALLY.count(&o);
        if PERMUTE_TALLY.cases.load(Ordering::Relaxed) == CASES as usize {
            PERMUTE_TALLY.report("permuting");
        }
    }

    #[test]
    fn matches_glibc_posixly_correct(args in vector()) {
        let o = compare(&args, true)?;
        POSIX_TALLY.count(&o);
        if POSIX_TALLY.cases.load(Ordering::Relaxed) == CASES as usize {
            POSIX_TALLY.report("POSIXLY_CORRECT");
        }
    }
}

#[test]
fn table_matches_kmod_short_string() {
    assert_eq!(optstring_from_table(false), SHORTOPTS);
    assert_eq!(optstring_from_table(true), SHORTOPTS_ALL);
}

/// Our additions, named so that no kmod option matches, parse as glibc parses them given
/// the whole table; where a kmod option also matches, kmod's meaning wins.
#[test]
fn additions_parse_as_glibc_would() {
    let vectors: &[&[&[u8]]] = &[
        &[b"-j", b"2", b"1.0"],
        &[b"-j2", b"-a"],
        &[b"-aj", b"3"],
        &[b"--jobs=4"],
        &[b"--jobs", b"4", b"x"],
        &[b"--jo", b"1"],
        &[b"--j=1"],
        &[b"--jobs"],
        &[b"-j"],
        &[b"--cache"],
        &[b"--cache=1"],
        &[b"--check", b"1.0"],
        &[b"--ca", b"--che"],
        &[b"--cach", b"-n"],
        &[b"--checks"],
    ];
    for v in vectors {
        let args: Vec<Vec<u8>> = v.iter().map(|a| a.to_vec()).collect();
        for posixly in [false, true] {
            let (o, g) = (ours(&args, posixly), glibc_with(&args, posixly, true));
            assert_eq!(o, g, "{:?}", show(&args));
        }
    }
    // `--c` and `--=x` keep kmod's meaning and message although `--cache`/`--check` match.
    for v in [&[&b"--c"[..], b"x"][..], &[b"--=x"], &[b"--"]] {
        let args: Vec<Vec<u8>> = v.iter().map(|a| a.to_vec()).collect();
        assert_eq!(ours(&args, false), glibc(&args, false), "{:?}", show(&args));
    }
}

/// Hand-picked vectors, run in both modes, plus a check that the harness sees what it should.
#[test]
fn regressions() {
    let vectors: &[&[&[u8]]] = &[
        &[],
        &[b"-avn", b"1.0", b"/x.ko"],
        &[b"1.0", b"-a", b"--", b"-x"],
        &[b"-vb/x", b"-bX", b"-P", b"_"],
        &[b"-b", b"-a", b"x"],
        &[b"-b", b"--", b"x"],
        &[b"--basedir", b"--", b"1.0"],
        &[b"--basedir=", b"1.0"],
        &[b"--b=1", b"--dry", b"--de"],
        &[b"--s"],
        &[b"--sy"],
        &[b"--sym=x"],
        &[b"--ver"],
        &[b"--v"],
        &[b"--q", b"--h"],
        &[b"--=x"],
        &[b"--="],
        &[b"---x"],
        &[b"--all=x"],
        &[b"--verb=3"],
        &[b"--show="],
        &[b"--foo=bar"],
        &[b"-x"],
        &[b"-a", b"-:"],
        &[b"-W", b"foo"],
        &[b"-\xff"],
        &[b"-", b"", b"1.0"],
        &[b"1.0", b"-b"],
        &[b"1.0", b"--config"],
        &[b"-h", b"--bogus"],
        &[b"--bogus", b"-h"],
        &[b"x", b"-a", b"y", b"-b", b"z", b"w"],
    ];
    for v in vectors {
        let args: Vec<Vec<u8>> = v.iter().map(|a| a.to_vec()).collect();
        for posixly in [false, true] {
            if let Err(e) = compare(&args, posixly) {
                panic!("{e}");
            }
        }
    }

    // The C side really reports errors and permutes (so agreement is not vacuous).
    let args: Vec<Vec<u8>> = vec![b"--ver".to_vec()];
    assert_eq!(
        glibc(&args, false).steps,
        vec![Step::Error(
            b"option '--ver' is ambiguous; possibilities: '--verbose' '--version'\n".to_vec()
        )]
    );
    let args: Vec<Vec<u8>> = vec![b"1.0".to_vec(), b"-a".to_vec(), b"/x.ko".to_vec()];
    let permuted = glibc(&args, false);
    assert_eq!(permuted.steps, vec![Step::Opt(i32::from(b'a'), None)]);
    assert_eq!(
        permuted.operands,
        Some(vec![b"1.0".to_vec(), b"/x.ko".to_vec()])
    );
    let strict = glibc(&args, true);
    assert!(strict.steps.is_empty());
    assert_eq!(strict.operands, Some(args.clone()));
}
