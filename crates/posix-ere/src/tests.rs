//! Tests against glibc itself: the same patterns and texts go to glibc's `regcomp` and
//! `regexec` (called through `libc`, the only unsafe code of the crate) and to [`compile`]
//! and [`Regex::is_match`], and the answers must agree: random strings of metacharacters,
//! patterns built from a grammar, a table of explicit cases; plus hostile patterns that
//! must be answered quickly and without overflowing the stack.

use crate::ast::Node;
use crate::{MAX_NESTING, Regex, compile};
use std::ffi::CString;
use test_rng::Rng;

/// glibc's answers: `None` when `regcomp` fails, else `regexec`'s for each text.
fn glibc(pattern: &[u8], texts: &[&[u8]]) -> Option<Vec<bool>> {
    let p = CString::new(pattern).unwrap();
    let texts: Vec<CString> = texts.iter().map(|t| CString::new(*t).unwrap()).collect();
    let mut re = std::mem::MaybeUninit::<libc::regex_t>::uninit();
    // SAFETY: test-only; the strings are NUL-terminated, `re` is read only after
    // `regcomp` initialised it, and freed once.
    unsafe {
        let flags = libc::REG_EXTENDED | libc::REG_NOSUB;
        if libc::regcomp(re.as_mut_ptr(), p.as_ptr(), flags) != 0 {
            return None;
        }
        let answers = texts
            .iter()
            .map(|t| libc::regexec(re.as_ptr(), t.as_ptr(), 0, std::ptr::null_mut(), 0) == 0)
            .collect();
        libc::regfree(re.as_mut_ptr());
        Some(answers)
    }
}

fn ours(pattern: &[u8], texts: &[&[u8]]) -> Option<Vec<bool>> {
    let re = compile(pattern)?;
    Some(texts.iter().map(|t| re.is_match(t)).collect())
}

fn show(b: &[u8]) -> String {
    b.escape_ascii().to_string()
}

fn nullable(n: &Node) -> bool {
    match n {
        Node::Empty | Node::Assert(..) | Node::Backref(_) => true,
        Node::Set(_) => false,
        Node::Group(_, x) => nullable(x),
        Node::Shared(x) => nullable(x),
        Node::Concat(xs) => xs.iter().all(nullable),
        Node::Alt(xs) => xs.iter().any(nullable),
        Node::Repeat(x, min, _) => *min == 0 || nullable(x),
    }
}

/// Whether every group that a back-reference names is outside repetitions and cannot
/// match the empty string: where glibc's back-references give POSIX's answers. (Beyond
/// that, glibc's answers are not POSIX's: `^(.?)(.?)(.?)\3\2\1$` matches `a`, a
/// long-standing glibc bug; `x(a?){2}\1` does not match `x`; some such patterns crash or
/// hang it.)
fn plain_backrefs(re: &Regex) -> bool {
    fn walk(n: &Node, repeated: bool, refs: u16) -> bool {
        match n {
            Node::Group(g, x) => {
                let named = *g <= 9 && refs & (1 << (g - 1)) != 0;
                !(named && (repeated || nullable(x))) && walk(x, repeated, refs)
            }
            Node::Repeat(x, _, _) => walk(x, true, refs),
            Node::Shared(x) => walk(x, repeated, refs),
            Node::Concat(xs) | Node::Alt(xs) => xs.iter().all(|x| walk(x, repeated, refs)),
            Node::Empty | Node::Set(_) | Node::Assert(..) | Node::Backref(_) => true,
        }
    }
    fn refs(n: &Node) -> u16 {
        match n {
            Node::Backref(g) => 1 << (g - 1),
            Node::Group(_, x) | Node::Repeat(x, _, _) => refs(x),
            Node::Shared(x) => refs(x),
            Node::Concat(xs) | Node::Alt(xs) => xs.iter().fold(0, |a, x| a | refs(x)),
            Node::Empty | Node::Set(_) | Node::Assert(..) => 0,
        }
    }
    re.root.as_ref().is_none_or(|r| walk(r, false, refs(r)))
}

/// Tallies of a differential run.
#[derive(Default)]
struct Tally {
    patterns: usize,
    compiled: usize,
    with_backrefs: usize,
    matches: usize,
    matched: usize,
    /// Disagreements where glibc is taken as the reference.
    mismatches: Vec<String>,
    /// Disagreements on back-references glibc gets wrong.
    quirks: Vec<String>,
}

impl Tally {
    fn check(&mut self, p: &[u8], texts: &[&[u8]]) {
        self.patterns += 1;
        let want = glibc(p, texts);
        let got = ours(p, texts);
        let (Some(w), Some(g)) = (&want, &got) else {
            if want.is_some() != got.is_some() {
                self.mismatches.push(format!(
                    "{}: glibc compiles: {}, ours: {}",
                    show(p),
                    want.is_some(),
                    got.is_some()
                ));
            }
            return;
        };
        self.compiled += 1;
        let re = compile(p).unwrap();
        self.with_backrefs += usize::from(re.backrefs);
        let reliable = !re.backrefs || plain_backrefs(&re);
        for ((t, w), g) in texts.iter().zip(w).zip(g) {
            self.matches += 1;
            self.matched += usize::from(*w);
            if w != g {
                let case = format!("{} ~ {}: glibc {w}, ours {g}", show(p), show(t));
                if reliable {
                    self.mismatches.push(case);
                } else {
                    self.quirks.push(case);
                }
            }
        }
    }

    fn finish(self, what: &str) {
        eprintln!(
            "{what}: {} patterns, {} compiled ({} with back-references), {} matches ({} \
             true), {} mismatches, {} back-reference disagreements where glibc errs",
            self.patterns,
            self.compiled,
            self.with_backrefs,
            self.matches,
            self.matched,
            self.mismatches.len(),
            self.quirks.len()
        );
        for q in self.quirks.iter().take(10) {
            eprintln!("  glibc back-reference quirk: {q}");
        }
        let shown = &self.mismatches[..self.mismatches.len().min(40)];
        assert!(self.mismatches.is_empty(), "{}", shown.join("\n"));
    }
}

/// `ERE_CASES` and `ERE_SEED` override the defaults, for longer exploratory runs.
fn env(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

const SINGLES: &[&[u8]] = &[
    b"4", b".", b"1", b"6", b"-", b"a", b"b", b"d", b"w", b"(", b")", b"|", b"*", b"+", b"?", b"{",
    b"}", b",", b"0", b"2", b"[", b"]", b"^", b"$", b"\\", b":", b"=", b"_", b"\xff", b"\x80",
    b"(", b")", b"[", b"]", b".", b"*", b"\\",
];

const PIECES: &[&[u8]] = &[
    b"[:digit:]",
    b"[:alpha:]",
    b"[:alnum:]",
    b"[:space:]",
    b"[:upper:]",
    b"[:punct:]",
    b"[:word:]",
    b"digit",
    b"alpha",
    b"[=",
    b"=]",
    b"[.",
    b".]",
    b"\\1",
    b"\\2",
    b"\\w",
    b"\\W",
    b"\\s",
    b"\\b",
    b"\\B",
    b"\\<",
    b"\\>",
    b"\\.",
    b"\\`",
    b"\\'",
    b"\\,",
    b"\\0",
    b"\\d",
    b"{1}",
    b"{,2}",
    b"{1,2}",
    b"{2,}",
    b"{0}",
    b"{,}",
    b"(4)",
    b"(a|b)",
    b"[0-9]",
    b"[^.]",
    b"[a-]",
    b"[]",
    b"[^",
    b"6\\.1",
    b"4\\.4",
    b".*",
    b"-amd64",
    b"[[:digit:]]",
    b"(.?)",
];

const VERSIONS: &[&[u8]] = &[
    b"",
    b"6.1.0-57-amd64",
    b"4.4.4",
    b"5.10.0-28-cloud-amd64",
    b"4",
    b"44.4",
    b"6.1",
    b"a",
    b"aa",
    b"abba",
    b"4.4d",
    b"_w",
    b"6.1.0-rc1+",
    b"2.6.32",
    b"\xff\x80",
    b"d-b.a",
];

fn random_pattern(rng: &mut Rng) -> Vec<u8> {
    let mut p = Vec::new();
    for _ in 0..rng.below(11) {
        if rng.below(10) < 7 {
            p.extend_from_slice(rng.pick::<&[u8]>(SINGLES));
        } else {
            p.extend_from_slice(rng.pick::<&[u8]>(PIECES));
        }
    }
    p
}

fn random_text(rng: &mut Rng) -> Vec<u8> {
    const VERSIONISH: &[u8] = b"0123456789012345.....----abdw_";
    const ODD: &[u8] = b"()[]{}*+?|^$\\,:= \x80\xffAZ";
    let len = rng.below(13);
    (0..len)
        .map(|_| {
            if rng.below(8) == 0 {
                ODD[rng.below(ODD.len())]
            } else {
                VERSIONISH[rng.below(VERSIONISH.len())]
            }
        })
        .collect()
}

/// Random strings of metacharacters against glibc: whether they compile, and whether
/// they match version-like texts.
#[test]
fn differential_against_glibc() {
    let mut rng = Rng(env("ERE_SEED", 0x9e37_79b9_7f4a_7c15));
    let mut tally = Tally::default();
    for _ in 0..env("ERE_CASES", 60_000) {
        let p = random_pattern(&mut rng);
        let texts = [
            random_text(&mut rng),
            random_text(&mut rng),
            rng.pick(VERSIONS).to_vec(),
            rng.pick(VERSIONS).to_vec(),
        ];
        let texts: Vec<&[u8]> = texts.iter().map(|t| t.as_slice()).collect();
        tally.check(&p, &texts);
    }
    tally.finish("metacharacter soup");
}

/// A pattern from a grammar (mostly valid), to exercise matching rather than parsing;
/// whether it holds a back-reference.
fn structured(rng: &mut Rng, depth: usize, groups: &mut usize, out: &mut Vec<u8>) -> bool {
    let mut backrefs = false;
    let branches = 1 + usize::from(rng.below(4) == 0) + usize::from(rng.below(8) == 0);
    for b in 0..branches {
        if b > 0 {
            out.push(b'|');
        }
        for _ in 0..rng.below(4) {
            let mut quantifiers: &[&[u8]] = &[
                b"", b"", b"", b"*", b"+", b"?", b"{0}", b"{1}", b"{2}", b"{0,1}", b"{1,3}",
                b"{2,}", b"{,2}",
            ];
            match rng.below(if depth < 3 { 10 } else { 8 }) {
                0..=3 => out.push(b"ab4."[rng.below(4)]),
                4 => out.extend_from_slice(rng.pick::<&[u8]>(&[
                    b"[ab]",
                    b"[^a]",
                    b"[[:digit:]]",
                    b"\\.",
                ])),
                5 => {
                    out.extend_from_slice(
                        rng.pick::<&[u8]>(&[b"^", b"$", b"\\b", b"\\<", b"\\>", b"\\B"]),
                    );
                    quantifiers = &[b""];
                }
                6 if *groups > 0 => {
                    out.push(b'\\');
                    out.push(b'0' + 1 + rng.below((*groups).min(9)) as u8);
                    backrefs = true;
                    // glibc recurses without end, or for ages, on some repetitions of
                    // back-references inside loops (`()(\1{,2})+`): keep to simple ones.
                    quantifiers = &[b"", b"", b"*", b"+", b"?"];
                }
                6 | 7 => out.push(b'a'),
                _ => {
                    *groups += 1;
                    out.push(b'(');
                    if structured(rng, depth + 1, groups, out) {
                        backrefs = true;
                        quantifiers = &[b""];
                    }
                    out.push(b')');
                }
            }
            out.extend_from_slice(rng.pick::<&[u8]>(quantifiers));
        }
    }
    backrefs
}

/// Grammar-built patterns (anchors in repetitions, back-references) against glibc on
/// short texts.
#[test]
fn differential_structured() {
    let mut rng = Rng(env("ERE_SEED", 7).max(1));
    let mut tally = Tally::default();
    for _ in 0..env("ERE_CASES", 30_000) {
        let mut p = Vec::new();
        structured(&mut rng, 0, &mut 0, &mut p);
        let texts: Vec<Vec<u8>> = (0..4)
            .map(|_| (0..rng.below(9)).map(|_| b"ab4."[rng.below(4)]).collect())
            .collect();
        let texts: Vec<&[u8]> = texts.iter().map(|t| t.as_slice()).collect();
        tally.check(&p, &texts);
    }
    tally.finish("structured");
}

/// Explicit cases: glibc's answer (`None`: `regcomp` fails), checked against both.
#[test]
fn table_against_glibc() {
    type Cases<'a> = &'a [(&'a [u8], bool)];
    #[rustfmt::skip]
    let table: &[(&[u8], Cases)] = &[
        // Plain kernel-version patterns.
        (b"4\\.4\\..*", &[(b"4.4.4", true), (b"4.44", false)]),
        (b"5.*", &[(b"6.1.0-57-amd64", true), (b"6.1.0", false)]),
        (b"^6\\.1", &[(b"6.1.0", true), (b"16.1", false)]),
        (b"-amd64$", &[(b"6.1.0-57-amd64", true), (b"6.1.0-57-amd64x", false)]),
        (b"^(5\\.10|6\\.1)\\.", &[(b"6.1.0", true), (b"5.10.0-28", true), (b"6.10.1", false)]),
        // Perl-isms are not ERE.
        (b"\\d", &[(b"4.4.4", false), (b"4.4d", true)]),
        (b"\\D", &[(b"D", true), (b"4", false)]),
        (b"(?i)4", &[]),
        (b"4{,2}", &[(b"", true)]),
        (b"4{,}", &[(b"", true)]),
        // Repetition operators with nothing to repeat are errors.
        (b"*", &[]), (b"4|*", &[]), (b"(*)", &[]), (b"^*", &[]), (b"a$+", &[]),
        (b"\\<*", &[]), (b"+", &[]), (b"?", &[]), (b"{1}", &[]), (b"{", &[]), (b"a|{", &[]),
        (b"a**", &[(b"", true)]), (b"a+*?", &[(b"b", true)]),
        // Intervals: valid or an error, never literal.
        (b"a{", &[]), (b"a{}", &[]), (b"a{1", &[]), (b"a{1x}", &[]), (b"a{ 1}", &[]),
        (b"a{2,1}", &[]), (b"a{1,2,3}", &[]), (b"a{32768}", &[]), (b"a{1,40000}", &[]),
        (b"a{0}{", &[]), (b"a{32767}", &[(b"aa", false)]), (b"a{01}", &[(b"a", true)]),
        (b"a{1\\,2}", &[(b"a", true), (b"b", false)]), (b"a{\\,}", &[(b"", true)]),
        (b"a{\\02}", &[(b"a", false), (b"aa", true)]), (b"x{2}{3}", &[(b"xxxxxx", true), (b"xxxxx", false)]),
        (b"a{0}", &[(b"b", true)]), (b"a{0}*", &[(b"", true)]), (b"\\{", &[(b"{", true)]),
        (b"}", &[(b"}", true), (b"a", false)]), (b"a}", &[(b"a}", true)]),
        // Groups and alternatives.
        (b"(", &[]), (b"((a)", &[]), (b"(a|b", &[]),
        (b")", &[(b")", true), (b"a", false)]), (b"a)", &[(b"a)", true), (b"a", false)]),
        (b"a|b)", &[(b"a", true), (b"b)", true), (b"b", false)]), (b")*", &[(b"", true)]),
        (b"()", &[(b"", true)]), (b"()*", &[(b"x", true)]), (b"(|a)", &[(b"", true)]),
        (b"a|", &[(b"b", true)]), (b"|", &[(b"", true)]), (b"", &[(b"", true)]),
        // Escapes.
        (b"\\", &[]), (b"a\\", &[]), (b"\\.", &[(b"4", false), (b".", true)]),
        (b"\\(", &[(b"(", true)]), (b"\\|", &[(b"|", true)]), (b"\\n", &[(b"n", true)]),
        (b"\\0", &[(b"x0", true)]), (b"\\w", &[(b"_", true), (b"-", false)]),
        (b"\\W", &[(b"\xff", true), (b"a", false)]), (b"\\s", &[(b" ", true), (b"\x0b", true), (b"a", false)]),
        (b"\\S", &[(b" ", false)]),
        (b"\\<4", &[(b"4.4", true), (b"a4", false)]), (b"4\\>", &[(b"a4", true), (b"44", true), (b"4a", false)]),
        (b"\\b", &[(b"", false), (b"a", true), (b"-", false)]), (b"\\B", &[(b"", true), (b"a", false), (b"aa", true)]),
        (b"\\`4", &[(b"4", true), (b"a4", false)]), (b"4\\'", &[(b"a4", true), (b"4a", false)]),
        (b"a^b", &[(b"ab", false), (b"a^b", false)]), (b"a$b", &[(b"a$b", false)]),
        // Back-references.
        (b"\\1", &[]), (b"(a)\\2", &[]), (b"(a\\1)", &[]), (b"(a)|\\1", &[]), (b"(a)|b\\1", &[]),
        (b"(4)\\1", &[(b"44.4", true), (b"4.4", false)]), (b"(.)\\1", &[(b"abba", true), (b"abab", false)]),
        (b"(a)*\\1", &[(b"aa", true), (b"b", false)]), (b"(a|b)*\\1", &[(b"abb", true), (b"ab", false)]),
        (b"((a)|b)*\\2", &[(b"aba", true), (b"abb", false)]), (b"(a){0}\\1", &[(b"", false), (b"aa", false)]),
        (b"(a*)\\1", &[(b"", true)]), (b"(a)(b)?\\2", &[(b"abb", true), (b"aa", false)]),
        // Bracket expressions.
        (b"[", &[]), (b"[]", &[]), (b"[^]", &[]), (b"[^", &[]), (b"[a", &[]), (b"[a-", &[]),
        (b"[]a]", &[(b"]", true), (b"b", false)]), (b"[^]a]", &[(b"]", false), (b"b", true)]),
        (b"[]-a]", &[(b"_", true), (b"-", false)]), (b"[-a]", &[(b"-", true)]), (b"[a-]", &[(b"-", true)]),
        (b"[--a]", &[(b"]", true)]), (b"[!--]", &[(b"-", true)]), (b"[^-a]", &[(b"-", false), (b"]", true)]),
        (b"[z-a]", &[]), (b"[a--]", &[]), (b"[a-b-c]", &[]), (b"[a-z-]", &[(b"-", true)]),
        (b"[[:digit:]]{2}", &[(b"4.4.4", false), (b"44.4", true)]),
        (b"[[:digit:]-]", &[(b"-", true)]), (b"[[:digit:]-z]", &[]), (b"[a-[:digit:]]", &[]),
        (b"[[=a=]-z]", &[]), (b"[[=a=]]", &[(b"a", true)]), (b"[[==]]", &[]), (b"[[=ab=]]", &[]),
        (b"[[.a.]-c]", &[(b"b", true)]), (b"[[..]]", &[]), (b"[[.ab.]]", &[]), (b"[[..]-a]", &[]),
        (b"[[.-.]-a]", &[(b"]", true)]), (b"[[.].]]", &[(b"]", true)]), (b"[[...]]", &[(b".", true)]),
        (b"[[:foo:]]", &[]), (b"[[:word:]]", &[]), (b"[[:ALPHA:]]", &[]), (b"[[:alpha:]", &[]),
        (b"[[:", &[]), (b"[[:]", &[]), (b"[[:a]", &[]),
        (b"[[]", &[(b"[", true)]), (b"[\\]", &[(b"\\", true)]), (b"[\\d]", &[(b"d", true), (b"\\", true)]),
        (b"[[:alpha:][:digit:]]", &[(b"4", true), (b"-", false)]),
        (b"[[:space:]]", &[(b"\x0b", true)]), (b"[[:print:]]", &[(b" ", true), (b"\x7f", false)]),
        (b"[[:punct:]]", &[(b"_", true), (b"a", false)]), (b"[[:alpha:]]", &[(b"\xe9", false)]),
        // Bytes above 0x7f are single characters.
        (b"\xff*", &[(b"4.4.4", true)]), (b"^\xff$", &[(b"\xff", true), (b"\xff\xff", false)]),
        (b"[\x80-\xff]", &[(b"\x90", true), (b"a", false)]), (b"[a-\xff]", &[(b"\x80", true), (b"-", false)]),
        (b"[^a]", &[(b"\xff", true)]), (b"[[=\xff=]]", &[(b"\xff", true)]), (b"\\\xff", &[(b"\xff", true)]),
        (b".", &[(b"\x80", true), (b"", false)]),
        // glibc ignores an anchor followed by a copy that a repetition made.
        (b"(^a){2}", &[(b"aa", true), (b"baa", false)]), (b"(^a)(^a)", &[(b"aa", false)]),
        (b"(a$){2}", &[(b"xaa", true), (b"aab", false)]), (b"(^.+){2}", &[(b"ab", true)]),
        (b"(.{1,3}\\<){2}", &[(b"..b4", true)]), (b"(^a)+", &[(b"aa", true)]),
        (b"($|4){2}", &[(b"a", true)]), (b"\\B($|\\<4){2}", &[(b"44", false)]),
        (b"(^a){2}\\1", &[(b"aaa", true)]),
    ];
    // No cases: `regcomp` fails.
    for (pattern, cases) in table {
        let texts: Vec<&[u8]> = cases.iter().map(|(t, _)| *t).collect();
        let want = (!cases.is_empty()).then(|| cases.iter().map(|(_, m)| *m).collect());
        let p = show(pattern);
        assert_eq!(glibc(pattern, &texts), want, "glibc on {p}");
        assert_eq!(ours(pattern, &texts), want, "ours on {p}");
    }
}

/// Hostile patterns and texts: each answer comes quickly, and deep nesting neither
/// overflows the stack (tests run on small-stack threads) nor is refused below the limit.
#[test]
fn bounded() {
    let long = vec![b'a'; 4000];
    let start = std::time::Instant::now();
    let nested = |n: usize| {
        let mut p = vec![b'('; n];
        p.push(b'a');
        p.extend(std::iter::repeat_n(b')', n));
        p
    };
    let re = compile(&nested(MAX_NESTING)).expect("deepest nesting accepted");
    assert!(re.is_match(b"a"));
    assert!(compile(&nested(MAX_NESTING + 1)).is_none());
    let mut stars = b"a".to_vec();
    stars.extend(std::iter::repeat_n(b'*', 100_000));
    assert!(compile(&stars).unwrap().is_match(b""));
    let mut ones = b"a".to_vec();
    let mut twos = b"a".to_vec();
    for _ in 0..5000 {
        ones.extend_from_slice(b"{1}");
        twos.extend_from_slice(b"{2}");
    }
    assert!(compile(&ones).unwrap().is_match(b"a"));
    assert!(compile(&twos).is_none(), "deeper than the tree limit");
    twos.truncate(1 + 3 * 20);
    assert!(!compile(&twos).unwrap().is_match(&long));
    twos.truncate(1 + 3 * 11);
    assert!(compile(&twos).unwrap().is_match(&long));
    for (pattern, text, want) in [
        (&b"((a{1000}){1000}){1000}b"[..], &long[..], false),
        (b"^((a{10}){10}){10}$", &long[..1000], true),
        (b"^((a{10}){10}){10}$", &long[..999], false),
        (b"((a{1000}){1000}){1000}", &long[..], false),
        (b"(((a*)*)*)*b", &long[..], false),
        (b"(.*)*(.*)*(.*)*(.*)*x", &long[..], false),
        (b"(^a|a$){1000}", &long[..], true),
        (b"a{32767}", &long[..], false),
        (b"(a{2}){2000}", &long[..], true),
        (b"(a*)*\\1b", &long[..200], false),
        (b"(a|aa)*\\1b", &long[..200], false),
        (b"(a*)\\1", &long[..], true),
    ] {
        let t = std::time::Instant::now();
        let got = compile(pattern).unwrap().is_match(text);
        assert_eq!(got, want, "{}", show(pattern));
        assert!(
            t.elapsed().as_secs() < 20,
            "{} took {:?}",
            show(pattern),
            t.elapsed()
        );
    }
    eprintln!("hostile cases: {:?}", start.elapsed());
}
