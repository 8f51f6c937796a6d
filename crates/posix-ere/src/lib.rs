//! A bounded POSIX extended regular expression (ERE) matcher that answers as glibc's
//! `regcomp(REG_EXTENDED | REG_NOSUB)` and `regexec` do in the C locale: the same patterns
//! compile, and they match the same texts.
//!
//! depmod needs it for the kernel-version patterns of the `override` and `external` lines
//! of its configuration: kmod hands those patterns to glibc, so whether a line applies to a
//! kernel is whatever glibc answers, quirks included.
//!
//! # API
//!
//! - [`compile`] reads a pattern, or answers `None` where `regcomp` fails;
//! - [`Regex::is_match`] tells whether the pattern matches anywhere in a text;
//! - [`MAX_NESTING`] is the deepest nesting of groups [`compile`] accepts.
//!
//! Patterns and texts are bytes: no locale, no UTF-8, no captures.
//!
//! ```
//! let re = posix_ere::compile(br"^(5\.10|6\.1)\.").expect("a valid pattern");
//! assert!(re.is_match(b"6.1.0-57-amd64"));
//! assert!(re.is_match(b"5.10.0-28-cloud-amd64"));
//! assert!(!re.is_match(b"6.10.1"));
//!
//! // Where glibc's `regcomp` fails, so does `compile`.
//! assert!(posix_ere::compile(b"a{2,1}").is_none());
//! assert!(posix_ere::compile(b"(unclosed").is_none());
//! // `\d` is not ERE: it is a `d`.
//! assert!(posix_ere::compile(br"\d").unwrap().is_match(b"4.4d"));
//! ```
//!
//! # Why bounded
//!
//! The patterns come from configuration files, and a regular expression engine can be made
//! to work for a very long time (`(((a*)*)*)*b`, `((a{1000}){1000}){1000}`) or to recurse
//! until the stack overflows (thousands of nested groups). glibc does both on some
//! patterns; this crate does neither: its recursion is bounded by refusing deeper
//! patterns, and its work by fixed budgets (see *Matching* below).
//!
//! # Syntax
//!
//! Written from POSIX and from experiments against glibc 2.36, not from any implementation.
//! Bytes are characters; a pattern is searched for anywhere in the text.
//!
//! Syntax (as glibc accepts it in its ERE mode):
//!
//! - any byte stands for itself, `.` for any byte but NUL;
//! - bracket expressions: `[abc]`, `[^abc]`, ranges `[a-z]` by byte value (a reversed range is
//!   an error), `]` first and `-` first or last stand for themselves, `\` is literal inside,
//!   `[:class:]` for glibc's twelve classes (`alnum alpha blank cntrl digit graph lower print
//!   punct space upper xdigit`, ASCII only), `[=c=]` and `[.c.]` for exactly one byte `c`
//!   (a collating symbol may end a range, an equivalence class or a class may not);
//! - `^` and `$` are anchors wherever they stand (start and end of the text), and so are the
//!   GNU `` \` `` and `\'`; the GNU word assertions `\b \B \< \>` (word bytes: ASCII
//!   alphanumerics and `_`); the GNU classes `\w \W \s \S`;
//! - `|`, `( )` (an empty group or alternative matches the empty string), `*`, `+`, `?`,
//!   `{m}`, `{m,}`, `{m,n}`, `{,n}` and `{,}` (counts up to 32767; `,` may be written `\,` and
//!   a digit `\0`), back-references `\1`..`\9` to a group closed earlier (not in another
//!   alternative of the same alternation);
//! - any other escaped byte is itself (`\d` is `d`); a `)` without `(` and a `}` are literal.
//!
//! Errors (where glibc's `regcomp` fails): an unmatched `(`, an unterminated `[`, a trailing
//! `\`, `*`, `+`, `?` or `{` with nothing to repeat (at the start, after `(`, `|` or an
//! anchor), a `{` that does not open a valid interval, an invalid back-reference, class or
//! collating element, a reversed range, a `-` misplaced in a list.
//!
//! glibc's own quirk kept: an anchor inside a repeated operand is ignored in the copies
//! glibc makes of it, unless another anchor in force comes just before (`(^a){2}` matches
//! `aa`, `(a$){2}` is `aa$`); see `Lowering` in `lower.rs`.
//!
//! # Matching
//!
//! Matching is bounded: without back-references the answer is computed on relations between
//! text positions (polynomial in the text's length, independent of the counts, which cannot
//! matter beyond the text's length); with back-references by a backtracking search whose
//! work is capped. Either way, past a fixed amount of work — never reached by patterns and
//! versions of sane sizes — [`Regex::is_match`] gives up and answers `false`, and
//! [`compile`] refuses patterns nested deeper than [`MAX_NESTING`] groups.
//!
//! Where we knowingly differ from glibc: back-references. We answer by POSIX's rules (a
//! match needs one parse whose captures are all consistent; a group keeps what it matched
//! last; a back-reference to a group that has not matched fails), which glibc gets right
//! for groups that are not repeated and cannot match the empty string (`(4)\1`, `(.)\1`),
//! but not beyond: a long-standing glibc bug lets `^(.?)(.?)(.?)\3\2\1$` match `a`,
//! `x(a?){2}\1` fails to match `x`, and some such patterns crash glibc (`()(\1{,2})+`) or
//! take it minutes. Nobody writes a back-reference into a kernel version.
//!
//! # Layout
//!
//! A pattern goes through `parse.rs` (tokens to a syntax tree, whose nodes are in `ast.rs`,
//! over the byte sets and classes of `set.rs`), then `lower.rs` (glibc's treatment of
//! anchors in repetitions spelt out in the tree), and is matched by one of the two matchers
//! of `matcher.rs`: `matcher/relation.rs` without back-references, `matcher/backtrack.rs`
//! with them. `tests.rs` compares every answer with glibc's own.
#![cfg_attr(not(test), forbid(unsafe_code))]
#![cfg_attr(test, deny(unsafe_code))]
#![warn(missing_docs)]

mod ast;
mod lower;
mod matcher;
mod parse;
mod set;
#[cfg(test)]
#[allow(unsafe_code)]
mod tests;

use ast::Node;
use lower::Lowering;
use matcher::{backtrack, relation};
use parse::{Parser, Tok};

/// The deepest nesting of groups [`compile`] accepts (glibc's own recursion gives out some
/// thousands of levels deeper, by crashing).
pub const MAX_NESTING: usize = 500;

/// The deepest syntax tree [`compile`] accepts (counting groups, alternations, sequences
/// and repetitions).
const MAX_DEPTH: usize = 4 * MAX_NESTING;

/// A compiled pattern.
#[derive(Clone, Debug)]
pub struct Regex {
    /// `None` when rewriting the anchors of nested repetitions would take too much room.
    root: Option<Node>,
    backrefs: bool,
    /// Groups in the pattern (some perhaps removed by a `{0}`).
    groups: usize,
}

/// Compile `pattern` as glibc's `regcomp(REG_EXTENDED | REG_NOSUB)` would in the C locale;
/// `None` where it would fail (and for patterns nested deeper than [`MAX_NESTING`]).
pub fn compile(pattern: &[u8]) -> Option<Regex> {
    let mut p = Parser::new(pattern);
    let root = p.alternation(0).ok()?;
    debug_assert_eq!(p.peek().0, Tok::End);
    if root.survey().1 > MAX_DEPTH {
        return None;
    }
    let mut lowering = Lowering::new(p.referenced);
    // The end of the pattern is glibc's end node, no duplicate.
    let root = lowering.lower(&root, false, false).ok();
    let (backrefs, depth) = root.as_ref().map_or((false, 0), Node::survey);
    if depth > MAX_DEPTH {
        return None;
    }
    Some(Regex {
        root,
        backrefs,
        groups: p.groups,
    })
}

impl Regex {
    /// Whether the pattern matches anywhere in `text`, as `regexec` answers for a text of
    /// these bytes (which, coming from C, holds no NUL).
    ///
    /// The work is bounded: past a fixed budget (far beyond what sane patterns and kernel
    /// versions need: hundreds of millions of word operations for patterns without
    /// back-references, a few million backtracking steps with them) the answer is `false`.
    pub fn is_match(&self, text: &[u8]) -> bool {
        match &self.root {
            None => false,
            Some(root) if self.backrefs => backtrack::is_match(root, self.groups, text),
            Some(root) => relation::is_match(root, text),
        }
    }
}
