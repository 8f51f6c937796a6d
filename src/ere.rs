//! POSIX extended regular expressions, as glibc's `regcomp(REG_EXTENDED | REG_NOSUB)` and
//! `regexec` read and match them in the C locale (spec §2.5: the kernel-version patterns of
//! `override` and `external` lines).
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
//! `aa`, `(a$){2}` is `aa$`); see `Lowering`.
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
//! but not beyond: sourceware bug 11053 lets `^(.?)(.?)(.?)\3\2\1$` match `a`, `x(a?){2}\1`
//! fails to match `x`, and some such patterns crash glibc (`()(\1{,2})+`) or take it
//! minutes. Nobody writes a back-reference into a kernel version.

/// The largest count in an interval (glibc's `RE_DUP_MAX`).
const DUP_MAX: u32 = 0x7fff;

/// The deepest nesting of groups [`compile`] accepts (glibc's own recursion gives out some
/// thousands of levels deeper, by crashing).
pub const MAX_NESTING: usize = 500;

/// The deepest syntax tree [`compile`] accepts (counting groups, alternations, sequences
/// and repetitions).
const MAX_DEPTH: usize = 4 * MAX_NESTING;

/// Work allowed for matching without back-references, in 64-bit word operations.
const RELATION_BUDGET: u64 = 400_000_000;

/// Work allowed for matching with back-references, in instructions stepped.
const STEP_BUDGET: u64 = 4_000_000;

/// The most nodes rewriting anchors in repetitions makes (see `Lowering`).
const MAX_LOWERED: usize = 200_000;

/// The longest program the back-reference matcher builds.
const MAX_PROGRAM: usize = 200_000;

/// A set of bytes.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
struct ByteSet([u64; 4]);

impl ByteSet {
    const EMPTY: ByteSet = ByteSet([0; 4]);

    fn from_fn(f: impl Fn(u8) -> bool) -> ByteSet {
        let mut s = ByteSet::EMPTY;
        for b in 0..=255u8 {
            if f(b) {
                s.insert(b);
            }
        }
        s
    }

    fn single(b: u8) -> ByteSet {
        let mut s = ByteSet::EMPTY;
        s.insert(b);
        s
    }

    fn insert(&mut self, b: u8) {
        self.0[usize::from(b >> 6)] |= 1 << (b & 63);
    }

    fn contains(&self, b: u8) -> bool {
        self.0[usize::from(b >> 6)] & (1 << (b & 63)) != 0
    }

    fn union(&mut self, other: &ByteSet) {
        for (a, b) in self.0.iter_mut().zip(other.0) {
            *a |= b;
        }
    }

    fn complement(&self) -> ByteSet {
        ByteSet(self.0.map(|w| !w))
    }
}

/// `isspace` in the C locale (unlike `u8::is_ascii_whitespace`, it has the vertical tab).
fn is_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t'..=b'\r')
}

/// Word bytes for `\w`, `\b` and the like.
fn is_word(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_'
}

/// A `[:name:]` class in the C locale.
fn class(name: &[u8]) -> Option<ByteSet> {
    let f: fn(u8) -> bool = match name {
        b"alnum" => |b| b.is_ascii_alphanumeric(),
        b"alpha" => |b| b.is_ascii_alphabetic(),
        b"blank" => |b| b == b' ' || b == b'\t',
        b"cntrl" => |b| b.is_ascii_control(),
        b"digit" => |b| b.is_ascii_digit(),
        b"graph" => |b| b.is_ascii_graphic(),
        b"lower" => |b| b.is_ascii_lowercase(),
        b"print" => |b| b == b' ' || b.is_ascii_graphic(),
        b"punct" => |b| b.is_ascii_punctuation(),
        b"space" => is_space,
        b"upper" => |b| b.is_ascii_uppercase(),
        b"xdigit" => |b| b.is_ascii_hexdigit(),
        _ => return None,
    };
    Some(ByteSet::from_fn(f))
}

/// A zero-width assertion about a position.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Assertion {
    /// `^` or `` \` ``: the start of the text.
    Start,
    /// `$` or `\'`: the end of the text.
    End,
    /// `\<`: a word byte follows, none precedes.
    WordStart,
    /// `\>`: a word byte precedes, none follows.
    WordEnd,
    /// `\b`: one of the neighbours is a word byte, the other not.
    Boundary,
    /// `\B`: both or neither neighbour is a word byte.
    NotBoundary,
}

impl Assertion {
    fn holds(self, text: &[u8], at: usize) -> bool {
        let before = at > 0 && is_word(text[at - 1]);
        let after = at < text.len() && is_word(text[at]);
        match self {
            Assertion::Start => at == 0,
            Assertion::End => at == text.len(),
            Assertion::WordStart => !before && after,
            Assertion::WordEnd => before && !after,
            Assertion::Boundary => before != after,
            Assertion::NotBoundary => before == after,
        }
    }
}

/// The syntax tree.
#[derive(Clone, Debug)]
enum Node {
    /// Matches the empty string.
    Empty,
    /// One byte of the set.
    Set(ByteSet),
    /// An anchor; when not `strong`, glibc ignores it unless a strong anchor comes before
    /// it with no byte matched in between (see `Lowering`).
    Assert(Assertion, bool),
    /// A numbered group (from 1).
    Group(usize, Box<Node>),
    /// `\n`: what group `n` last matched.
    Backref(usize),
    Concat(Vec<Node>),
    Alt(Vec<Node>),
    /// At least `min`, at most `max` (`None`: unbounded) times.
    Repeat(Box<Node>, u32, Option<u32>),
    /// A lowered subtree used in several places (see `Lowering::lower_shared`): evaluated
    /// once per text, so that nested repetitions do not cost their copies' product.
    Shared(std::rc::Rc<Node>),
}

impl Node {
    /// Whether a back-reference occurs anywhere, and the depth of the tree, without
    /// recursion (the depth is what decides whether recursion is safe).
    fn survey(&self) -> (bool, usize) {
        let mut backrefs = false;
        let mut deepest = 0;
        // A shared subtree is walked again only when reached deeper than before.
        let mut shared: std::collections::HashMap<*const Node, usize> = Default::default();
        let mut stack = vec![(self, 1)];
        while let Some((n, d)) = stack.pop() {
            deepest = deepest.max(d);
            match n {
                Node::Backref(_) => backrefs = true,
                Node::Group(_, x) | Node::Repeat(x, _, _) => stack.push((x, d + 1)),
                Node::Concat(xs) | Node::Alt(xs) => stack.extend(xs.iter().map(|x| (x, d + 1))),
                Node::Shared(x) => {
                    let seen = shared.entry(std::rc::Rc::as_ptr(x)).or_insert(0);
                    if d > *seen {
                        *seen = d;
                        stack.push((x, d + 1));
                    }
                }
                Node::Empty | Node::Set(_) | Node::Assert(..) => {}
            }
        }
        (backrefs, deepest)
    }

    fn has_assert(&self) -> bool {
        match self {
            Node::Assert(..) => true,
            Node::Group(_, x) | Node::Repeat(x, _, _) => x.has_assert(),
            Node::Shared(x) => x.has_assert(),
            Node::Concat(xs) | Node::Alt(xs) => xs.iter().any(Node::has_assert),
            Node::Empty | Node::Set(_) | Node::Backref(_) => false,
        }
    }

    fn has_group(&self) -> bool {
        match self {
            Node::Group(..) => true,
            Node::Repeat(x, _, _) => x.has_group(),
            Node::Shared(x) => x.has_group(),
            Node::Concat(xs) | Node::Alt(xs) => xs.iter().any(Node::has_group),
            Node::Empty | Node::Set(_) | Node::Assert(..) | Node::Backref(_) => false,
        }
    }
}

/// `x{min,max}` applied to `x`, folding the nestings of `*`, `+` and `?` (and `{0,1}`,
/// `{1}`, `{1,}`...) that mean the same as a single one, so that `a***` stays shallow.
fn repeat(x: Node, min: u32, max: Option<u32>) -> Node {
    let simple = |min: u32, max: Option<u32>| min <= 1 && matches!(max, None | Some(1));
    match x {
        // Not with anchors inside: glibc's copies of them differ (see `Lowering`).
        Node::Repeat(inner, a, amax)
            if simple(a, amax) && simple(min, max) && !inner.has_assert() =>
        {
            let max = if amax.is_none() || max.is_none() {
                None
            } else {
                Some(1)
            };
            Node::Repeat(inner, a * min, max)
        }
        x => Node::Repeat(Box::new(x), min, max),
    }
}

/// glibc's quirk with anchors in repeated operands.
///
/// glibc builds `x{2}` as `x` followed by a copy of `x` (likewise `x+` as `x x*`, and so
/// on), and the nodes of such copies are marked as duplicates. An anchor (`^ $ \b \B \< \>`
/// and the others) takes effect by passing its condition on to the node that follows it,
/// which it skips doing when that node is such a duplicate: the anchor is then ignored, or
/// rather weak: it still counts when an anchor in force (a strong one) comes before it with
/// no byte matched in between, as the strong one passes on its own condition along with
/// those of the anchors it meets on its way to the next byte. So `(^a){2}` matches `aa`
/// (the second `^` is weak) while `(^a)(^a)` matches nothing, `(a$){2}` is `aa$`, and in
/// `\B($|\<4){2}` the weak first `$` counts after the `\B`. What follows an anchor is decided on glibc's tree, in which the
/// repetition `x{m,n}` is the copies `x1 .. xm` (the first the original, the others
/// duplicates) followed, unless `m` is `n`, by an optional part: `(xm+1)*` when `n` is
/// unbounded, else `((xm+1? xm+2)? .. xn)?` (with `m = 0`, `x1` is the original here);
/// groups vanish unless a back-reference names them or they are empty, and those that stay
/// have fresh (never duplicate) boundary nodes; the new nodes of a repetition (the `*`,
/// the `?`) are duplicates only inside a duplicate.
///
/// Lowering rewrites the tree into one where those anchors are weak and the copies that
/// differ are spelt out (runs of alike copies stay counted).
struct Lowering {
    /// Groups 1..9 that a back-reference names.
    referenced: u16,
    /// Nodes made so far, to bound the rewriting of absurd nestings.
    made: usize,
    /// What each repeated operand lowered to, by its address and the two flags.
    memo: std::collections::HashMap<(*const Node, bool, bool), std::rc::Rc<Node>>,
}

struct TooBig;

impl Lowering {
    /// Whether glibc keeps the group's boundary nodes.
    fn kept(&self, g: usize, body: &Node) -> bool {
        matches!(body, Node::Empty) || g > 64 || (g <= 9 && self.referenced & (1 << (g - 1)) != 0)
    }

    /// Whether glibc's first node of `n` is a duplicate (`None`: `n` has no node).
    fn first_dup(&self, n: &Node, dup: bool) -> Option<bool> {
        match n {
            Node::Empty => None,
            Node::Set(_) | Node::Backref(_) | Node::Assert(..) | Node::Alt(_) => Some(dup),
            Node::Group(g, body) => {
                if self.kept(*g, body) {
                    Some(false)
                } else {
                    self.first_dup(body, dup)
                }
            }
            Node::Concat(xs) => xs.first().and_then(|x| self.first_dup(x, dup)),
            Node::Shared(x) => self.first_dup(x, dup),
            Node::Repeat(x, min, _) => {
                if *min > 0 {
                    self.first_dup(x, dup)
                } else {
                    Some(dup)
                }
            }
        }
    }

    /// `n` as it acts in glibc, when its nodes are duplicates (`dup`) or not, and the node
    /// after it is a duplicate (`next_dup`) or not.
    fn lower(&mut self, n: &Node, dup: bool, next_dup: bool) -> Result<Node, TooBig> {
        self.made += 1;
        if self.made > MAX_LOWERED {
            return Err(TooBig);
        }
        if !n.has_assert() {
            return Ok(n.clone());
        }
        Ok(match n {
            Node::Empty | Node::Set(_) | Node::Backref(_) => n.clone(),
            Node::Assert(a, _) => Node::Assert(*a, !next_dup),
            Node::Group(g, body) => {
                let next_dup = next_dup && !self.kept(*g, body);
                Node::Group(*g, Box::new(self.lower(body, dup, next_dup)?))
            }
            Node::Concat(xs) => {
                let mut out = Vec::with_capacity(xs.len());
                let mut next = next_dup;
                for x in xs.iter().rev() {
                    out.push(self.lower(x, dup, next)?);
                    next = self.first_dup(x, dup).unwrap_or(next);
                }
                out.reverse();
                Node::Concat(out)
            }
            Node::Alt(xs) => Node::Alt(
                xs.iter()
                    .map(|x| self.lower(x, dup, next_dup))
                    .collect::<Result<_, _>>()?,
            ),
            Node::Repeat(x, min, max) => self.lower_repeat(x, *min, *max, dup, next_dup)?,
            Node::Shared(x) => self.lower(x, dup, next_dup)?,
        })
    }

    /// [`Self::lower`] for an operand of a repetition, which lowers it up to four times
    /// (original and copies, before a copy or not): the same lowering is made once and
    /// shared, so that nested repetitions stay linear in size.
    fn lower_shared(&mut self, x: &Node, dup: bool, next_dup: bool) -> Result<Node, TooBig> {
        if !x.has_assert() {
            return self.lower(x, dup, next_dup);
        }
        let key = (x as *const Node, dup, next_dup);
        if let Some(n) = self.memo.get(&key) {
            return Ok(Node::Shared(n.clone()));
        }
        let n = std::rc::Rc::new(self.lower(x, dup, next_dup)?);
        self.memo.insert(key, n.clone());
        Ok(Node::Shared(n))
    }

    fn lower_repeat(
        &mut self,
        x: &Node,
        min: u32,
        max: Option<u32>,
        dup: bool,
        next_dup: bool,
    ) -> Result<Node, TooBig> {
        // The first node of a duplicate copy; the repetition's own new nodes are as `dup`.
        let copy_first = self.first_dup(x, true).unwrap_or(next_dup);
        let mut pieces = Vec::new();
        if min > 0 {
            let after = if max == Some(min) { next_dup } else { dup };
            if min == 1 {
                pieces.push(self.lower_shared(x, dup, after)?);
            } else {
                pieces.push(self.lower_shared(x, dup, copy_first)?);
                if min > 2 {
                    let mid = self.lower_shared(x, true, copy_first)?;
                    pieces.push(Node::Repeat(Box::new(mid), min - 2, Some(min - 2)));
                }
                pieces.push(self.lower_shared(x, true, after)?);
            }
        }
        if max != Some(min) {
            // The optional part's first copy is the original when there is no mandatory one.
            let first_is_dup = min > 0 || dup;
            match max {
                None => {
                    let body = self.lower_shared(x, first_is_dup, dup)?;
                    pieces.push(Node::Repeat(Box::new(body), 0, None));
                }
                Some(max) => {
                    // `((x1? x2)? .. xk)?`: nothing, or the copies from some j to k.
                    let k = max - min;
                    let last = self.lower_shared(x, true, next_dup)?;
                    if k == 1 {
                        let only = self.lower_shared(x, first_is_dup, next_dup)?;
                        pieces.push(Node::Repeat(Box::new(only), 0, Some(1)));
                    } else {
                        let first = self.lower_shared(x, first_is_dup, copy_first)?;
                        let mid = self.lower_shared(x, true, copy_first)?;
                        let short = Node::Concat(vec![
                            Node::Repeat(Box::new(mid.clone()), 0, Some(k - 2)),
                            last.clone(),
                        ]);
                        let full = Node::Concat(vec![
                            first,
                            Node::Repeat(Box::new(mid), k - 2, Some(k - 2)),
                            last,
                        ]);
                        pieces.push(Node::Alt(vec![Node::Empty, short, full]));
                    }
                }
            }
        }
        Ok(if pieces.len() == 1 {
            pieces.pop().unwrap_or(Node::Empty)
        } else {
            Node::Concat(pieces)
        })
    }
}

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
    let mut p = Parser {
        pat: pattern,
        pos: 0,
        groups: 0,
        closed: 0,
        referenced: 0,
    };
    let root = p.alternation(0).ok()?;
    debug_assert_eq!(p.peek().0, Tok::End);
    if root.survey().1 > MAX_DEPTH {
        return None;
    }
    let mut lowering = Lowering {
        referenced: p.referenced,
        made: 0,
        memo: Default::default(),
    };
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

/// A token outside bracket expressions.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Tok {
    /// A literal byte (plain or escaped).
    Char(u8),
    Alt,
    Star,
    Plus,
    Question,
    OpenBrace,
    CloseBrace,
    Open,
    Close,
    Bracket,
    Dot,
    Anchor(Assertion),
    Backref(usize),
    Class(ByteSet),
    TrailingBackslash,
    End,
}

/// A token inside a bracket expression.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum BTok {
    /// `[.`, `[=` or `[:` (the byte is the delimiter).
    OpenName(u8),
    Hyphen,
    Close,
    /// Any other byte (`^` and a lone `[` included).
    Char(u8),
    End,
}

/// One element of a bracket expression.
enum Elem {
    Char(u8),
    /// `[.c.]`.
    Collating(u8),
    /// `[=c=]`.
    Equivalence(u8),
    Class(ByteSet),
}

struct Invalid;

struct Parser<'a> {
    pat: &'a [u8],
    pos: usize,
    /// Groups opened so far.
    groups: usize,
    /// Groups 1..9 closed so far and visible from here (bit n-1 for group n).
    closed: u16,
    /// Groups 1..9 that back-references name.
    referenced: u16,
}

impl Parser<'_> {
    /// The token at the current position and its length.
    fn peek(&self) -> (Tok, usize) {
        let Some(&c) = self.pat.get(self.pos) else {
            return (Tok::End, 0);
        };
        let t = match c {
            b'|' => Tok::Alt,
            b'*' => Tok::Star,
            b'+' => Tok::Plus,
            b'?' => Tok::Question,
            b'{' => Tok::OpenBrace,
            b'}' => Tok::CloseBrace,
            b'(' => Tok::Open,
            b')' => Tok::Close,
            b'[' => Tok::Bracket,
            b'.' => Tok::Dot,
            b'^' => Tok::Anchor(Assertion::Start),
            b'$' => Tok::Anchor(Assertion::End),
            b'\\' => {
                let Some(&e) = self.pat.get(self.pos + 1) else {
                    return (Tok::TrailingBackslash, 1);
                };
                let t = match e {
                    b'1'..=b'9' => Tok::Backref(usize::from(e - b'0')),
                    b'<' => Tok::Anchor(Assertion::WordStart),
                    b'>' => Tok::Anchor(Assertion::WordEnd),
                    b'b' => Tok::Anchor(Assertion::Boundary),
                    b'B' => Tok::Anchor(Assertion::NotBoundary),
                    b'`' => Tok::Anchor(Assertion::Start),
                    b'\'' => Tok::Anchor(Assertion::End),
                    b'w' => Tok::Class(ByteSet::from_fn(is_word)),
                    b'W' => Tok::Class(ByteSet::from_fn(is_word).complement()),
                    b's' => Tok::Class(ByteSet::from_fn(is_space)),
                    b'S' => Tok::Class(ByteSet::from_fn(is_space).complement()),
                    _ => Tok::Char(e),
                };
                return (t, 2);
            }
            _ => Tok::Char(c),
        };
        (t, 1)
    }

    fn next(&mut self) -> Tok {
        let (t, len) = self.peek();
        self.pos += len;
        t
    }

    /// Alternatives up to the end of the pattern or, inside a group, its `)`.
    fn alternation(&mut self, nest: usize) -> Result<Node, Invalid> {
        let before = self.closed;
        let mut branches = vec![self.branch(nest)?];
        while self.peek().0 == Tok::Alt {
            self.next();
            let t = self.peek().0;
            if t == Tok::Alt || t == Tok::End || (nest > 0 && t == Tok::Close) {
                branches.push(Node::Empty);
            } else {
                // A back-reference may not name a group of another alternative.
                let seen = self.closed;
                self.closed = before;
                branches.push(self.branch(nest)?);
                self.closed |= seen;
            }
        }
        Ok(if branches.len() == 1 {
            branches.pop().unwrap_or(Node::Empty)
        } else {
            Node::Alt(branches)
        })
    }

    fn branch(&mut self, nest: usize) -> Result<Node, Invalid> {
        let mut items = Vec::new();
        loop {
            let t = self.peek().0;
            if t == Tok::Alt || t == Tok::End || (nest > 0 && t == Tok::Close) {
                break;
            }
            if let Some(x) = self.expression(nest)? {
                items.push(x);
            }
        }
        Ok(match items.len() {
            0 => Node::Empty,
            1 => items.pop().unwrap_or(Node::Empty),
            _ => Node::Concat(items),
        })
    }

    /// One atom and its repetitions; `None` when a `{0}` removed it.
    fn expression(&mut self, nest: usize) -> Result<Option<Node>, Invalid> {
        let atom = match self.next() {
            Tok::Char(c) => Node::Set(ByteSet::single(c)),
            // Only outside groups: an unmatched `)` is an ordinary character.
            Tok::Close => Node::Set(ByteSet::single(b')')),
            Tok::CloseBrace => Node::Set(ByteSet::single(b'}')),
            Tok::Dot => Node::Set(ByteSet::single(0).complement()),
            Tok::Class(s) => Node::Set(s),
            Tok::Bracket => Node::Set(self.bracket()?),
            Tok::Open => self.group(nest)?,
            Tok::Backref(n) => {
                if self.closed & (1 << (n - 1)) == 0 {
                    return Err(Invalid);
                }
                self.referenced |= 1 << (n - 1);
                Node::Backref(n)
            }
            // An anchor takes no repetition: a `*` after it is a `*` with nothing to repeat.
            Tok::Anchor(a) => return Ok(Some(Node::Assert(a, true))),
            Tok::Star
            | Tok::Plus
            | Tok::Question
            | Tok::OpenBrace
            | Tok::TrailingBackslash
            | Tok::Alt
            | Tok::End => return Err(Invalid),
        };
        let mut node = Some(atom);
        loop {
            let op = self.peek().0;
            if !matches!(op, Tok::Star | Tok::Plus | Tok::Question | Tok::OpenBrace) {
                break;
            }
            self.next();
            let (min, max) = match op {
                Tok::Star => (0, None),
                Tok::Plus => (1, None),
                Tok::Question => (0, Some(1)),
                // Read (and checked) even after a `{0}` removed the atom.
                _ => self.interval()?,
            };
            node = match node {
                Some(x) if max != Some(0) => Some(repeat(x, min, max)),
                _ => None,
            };
        }
        Ok(node)
    }

    /// `(` ... `)`; the `(` is consumed.
    fn group(&mut self, nest: usize) -> Result<Node, Invalid> {
        if nest >= MAX_NESTING {
            return Err(Invalid);
        }
        self.groups += 1;
        let n = self.groups;
        let inner = if self.peek().0 == Tok::Close {
            Node::Empty
        } else {
            self.alternation(nest + 1)?
        };
        if self.next() != Tok::Close {
            return Err(Invalid);
        }
        if n <= 9 {
            self.closed |= 1 << (n - 1);
        }
        Ok(Node::Group(n, Box::new(inner)))
    }

    /// A count of an interval and the token that ended it (`Some(true)`: `,`, `Some(false)`:
    /// `}`); the count is `None` when there were no digits, `Err` when there were other
    /// tokens or the pattern ended.
    fn count(&mut self) -> Result<(Option<u32>, bool), Invalid> {
        let mut n: Option<u32> = None;
        let mut bad = false;
        let comma = loop {
            match self.next() {
                Tok::End => return Err(Invalid),
                Tok::CloseBrace => break false,
                Tok::Char(b',') => break true,
                Tok::Char(d @ b'0'..=b'9') => {
                    let v = n.unwrap_or(0) * 10 + u32::from(d - b'0');
                    n = Some(v.min(DUP_MAX + 1));
                }
                _ => bad = true,
            }
        };
        if bad { Err(Invalid) } else { Ok((n, comma)) }
    }

    /// The rest of an interval after `{`.
    fn interval(&mut self) -> Result<(u32, Option<u32>), Invalid> {
        let (min, comma) = self.count()?;
        let (min, max) = match (min, comma) {
            (None, false) => return Err(Invalid),
            (min, false) => (min.unwrap_or(0), min),
            (min, true) => {
                let (max, comma) = self.count()?;
                if comma {
                    return Err(Invalid);
                }
                (min.unwrap_or(0), max)
            }
        };
        if max.is_some_and(|max| min > max) || max.unwrap_or(min) > DUP_MAX {
            return Err(Invalid);
        }
        Ok((min, max))
    }

    fn bracket_peek(&self) -> (BTok, usize) {
        let Some(&c) = self.pat.get(self.pos) else {
            return (BTok::End, 0);
        };
        match c {
            b'[' => match self.pat.get(self.pos + 1) {
                Some(&d @ (b'.' | b'=' | b':')) => (BTok::OpenName(d), 2),
                _ => (BTok::Char(b'['), 1),
            },
            b'-' => (BTok::Hyphen, 1),
            b']' => (BTok::Close, 1),
            _ => (BTok::Char(c), 1),
        }
    }

    /// The name of `[.name.]`, `[=name=]` or `[:name:]` after its opening.
    fn bracket_name(&mut self, delim: u8) -> Result<Vec<u8>, Invalid> {
        let mut name = Vec::new();
        loop {
            // Longer names than glibc's buffer are errors; none of them is valid anyway.
            if name.len() >= 32 {
                return Err(Invalid);
            }
            let &c = self.pat.get(self.pos).ok_or(Invalid)?;
            self.pos += 1;
            if self.pos >= self.pat.len() {
                return Err(Invalid);
            }
            if c == delim && self.pat[self.pos] == b']' {
                self.pos += 1;
                return Ok(name);
            }
            name.push(c);
        }
    }

    /// One element; `hyphen_ok`: a `-` here needs no `]` after it.
    fn bracket_elem(&mut self, hyphen_ok: bool) -> Result<Elem, Invalid> {
        let (t, len) = self.bracket_peek();
        self.pos += len;
        Ok(match t {
            BTok::OpenName(delim) => {
                let name = self.bracket_name(delim)?;
                match (delim, name.as_slice()) {
                    (b':', _) => Elem::Class(class(&name).ok_or(Invalid)?),
                    (b'=', &[c]) => Elem::Equivalence(c),
                    (b'.', &[c]) => Elem::Collating(c),
                    _ => return Err(Invalid),
                }
            }
            BTok::Hyphen => {
                if !hyphen_ok && self.bracket_peek().0 != BTok::Close {
                    return Err(Invalid);
                }
                Elem::Char(b'-')
            }
            BTok::Close => Elem::Char(b']'),
            BTok::Char(c) => Elem::Char(c),
            BTok::End => return Err(Invalid),
        })
    }

    /// A bracket expression after its `[`.
    fn bracket(&mut self) -> Result<ByteSet, Invalid> {
        let mut set = ByteSet::EMPTY;
        let negate = self.pat.get(self.pos) == Some(&b'^');
        if negate {
            self.pos += 1;
        }
        if self.pos >= self.pat.len() {
            return Err(Invalid);
        }
        // The first element may be `]` or `-`; so may one after a `-` that ends the list.
        let mut hyphen_ok = true;
        loop {
            let elem = self.bracket_elem(hyphen_ok)?;
            hyphen_ok = false;
            let mut range_end = None;
            if matches!(elem, Elem::Char(_) | Elem::Collating(_)) {
                match self.bracket_peek().0 {
                    BTok::End => return Err(Invalid),
                    BTok::Hyphen => {
                        self.pos += 1;
                        match self.bracket_peek().0 {
                            BTok::End => return Err(Invalid),
                            BTok::Close => {
                                // `-]`: the `-` is an ordinary last element.
                                self.pos -= 1;
                                hyphen_ok = true;
                            }
                            _ => range_end = Some(self.bracket_elem(true)?),
                        }
                    }
                    _ => {}
                }
            }
            match (elem, range_end) {
                (Elem::Char(c) | Elem::Collating(c) | Elem::Equivalence(c), None) => set.insert(c),
                (Elem::Class(s), None) => set.union(&s),
                (
                    Elem::Char(lo) | Elem::Collating(lo),
                    Some(Elem::Char(hi) | Elem::Collating(hi)),
                ) => {
                    if lo > hi {
                        return Err(Invalid);
                    }
                    for b in lo..=hi {
                        set.insert(b);
                    }
                }
                _ => return Err(Invalid),
            }
            match self.bracket_peek().0 {
                BTok::End => return Err(Invalid),
                BTok::Close => {
                    self.pos += 1;
                    break;
                }
                _ => {}
            }
        }
        Ok(if negate { set.complement() } else { set })
    }
}

/// Matching without back-references: each node denotes a relation between states (`s` to
/// `t`: the node can take the match from `s` to `t`), kept as a bit matrix. A state is a
/// text position and whether a strong anchor has been passed since the last byte matched
/// (which decides whether weak anchors count: see `Lowering`); state `2i + armed`. Steps
/// never go to a lower state, so repetition counts are cut to the number of states: a
/// relation's powers stop changing past that (a longer chain must stand still somewhere,
/// and can stand still longer).
mod relation {
    use super::Node;

    struct Rel {
        rows: Vec<u64>,
    }

    struct Eval<'t> {
        text: &'t [u8],
        /// States: twice the positions.
        len: usize,
        /// Words in a row.
        words: usize,
        work: u64,
        /// The relations of shared subtrees, by address.
        shared: std::collections::HashMap<*const Node, Rel>,
    }

    struct OutOfBudget;

    pub(super) fn is_match(root: &Node, text: &[u8]) -> bool {
        let len = 2 * (text.len() + 1);
        let mut e = Eval {
            text,
            len,
            words: len.div_ceil(64),
            work: 0,
            shared: Default::default(),
        };
        match e.eval(root) {
            // A match starts unarmed, anywhere.
            Ok(r) => (0..len).step_by(2).any(|s| {
                r.rows[s * e.words..(s + 1) * e.words]
                    .iter()
                    .any(|&w| w != 0)
            }),
            Err(OutOfBudget) => false,
        }
    }

    impl Eval<'_> {
        fn charge(&mut self, n: usize) -> Result<(), OutOfBudget> {
            self.work += n as u64;
            if self.work > super::RELATION_BUDGET {
                Err(OutOfBudget)
            } else {
                Ok(())
            }
        }

        fn zero(&mut self) -> Result<Rel, OutOfBudget> {
            self.charge(self.len * self.words)?;
            Ok(Rel {
                rows: vec![0; self.len * self.words],
            })
        }

        fn set(r: &mut Rel, words: usize, s: usize, t: usize) {
            r.rows[s * words + t / 64] |= 1 << (t % 64);
        }

        fn identity(&mut self) -> Result<Rel, OutOfBudget> {
            let mut r = self.zero()?;
            for s in 0..self.len {
                Self::set(&mut r, self.words, s, s);
            }
            Ok(r)
        }

        /// A step of `a` followed by a step of `b`.
        fn compose(&mut self, a: &Rel, b: &Rel) -> Result<Rel, OutOfBudget> {
            let w = self.words;
            let mut out = self.zero()?;
            for s in 0..self.len {
                for k in 0..w {
                    let mut bits = a.rows[s * w + k];
                    while bits != 0 {
                        let t = k * 64 + bits.trailing_zeros() as usize;
                        bits &= bits - 1;
                        self.charge(w)?;
                        for x in 0..w {
                            out.rows[s * w + x] |= b.rows[t * w + x];
                        }
                    }
                }
            }
            Ok(out)
        }

        fn union(&mut self, mut a: Rel, b: &Rel) -> Result<Rel, OutOfBudget> {
            self.charge(a.rows.len())?;
            for (x, y) in a.rows.iter_mut().zip(&b.rows) {
                *x |= y;
            }
            Ok(a)
        }

        /// Zero or more steps: rows are done from the last state, as steps go forward.
        fn closure(&mut self, a: &Rel) -> Result<Rel, OutOfBudget> {
            let w = self.words;
            let mut out = self.identity()?;
            let mut row = vec![0u64; w];
            for s in (0..self.len).rev() {
                row.copy_from_slice(&out.rows[s * w..(s + 1) * w]);
                for k in 0..w {
                    let mut bits = a.rows[s * w + k];
                    while bits != 0 {
                        let t = k * 64 + bits.trailing_zeros() as usize;
                        bits &= bits - 1;
                        if t > s {
                            self.charge(w)?;
                            for (r, o) in row.iter_mut().zip(&out.rows[t * w..(t + 1) * w]) {
                                *r |= o;
                            }
                        }
                    }
                }
                out.rows[s * w..(s + 1) * w].copy_from_slice(&row);
            }
            Ok(out)
        }

        /// Exactly `k` steps.
        fn power(&mut self, a: &Rel, mut k: usize) -> Result<Rel, OutOfBudget> {
            let mut result = self.identity()?;
            let mut base = Rel {
                rows: a.rows.clone(),
            };
            while k > 0 {
                if k & 1 == 1 {
                    result = self.compose(&result, &base)?;
                }
                k >>= 1;
                if k > 0 {
                    base = self.compose(&base, &base)?;
                }
            }
            Ok(result)
        }

        fn eval(&mut self, node: &Node) -> Result<Rel, OutOfBudget> {
            let w = self.words;
            match node {
                Node::Empty => self.identity(),
                Node::Set(set) => {
                    let mut r = self.zero()?;
                    for (i, &b) in self.text.iter().enumerate() {
                        if set.contains(b) {
                            Self::set(&mut r, w, 2 * i, 2 * i + 2);
                            Self::set(&mut r, w, 2 * i + 1, 2 * i + 2);
                        }
                    }
                    Ok(r)
                }
                Node::Assert(a, strong) => {
                    let mut r = self.zero()?;
                    for i in 0..=self.text.len() {
                        let holds = a.holds(self.text, i);
                        if *strong {
                            if holds {
                                Self::set(&mut r, w, 2 * i, 2 * i + 1);
                                Self::set(&mut r, w, 2 * i + 1, 2 * i + 1);
                            }
                        } else {
                            Self::set(&mut r, w, 2 * i, 2 * i);
                            if holds {
                                Self::set(&mut r, w, 2 * i + 1, 2 * i + 1);
                            }
                        }
                    }
                    Ok(r)
                }
                Node::Group(_, x) => self.eval(x),
                Node::Shared(x) => {
                    let key = std::rc::Rc::as_ptr(x);
                    if let Some(r) = self.shared.get(&key) {
                        let rows = r.rows.clone();
                        self.charge(rows.len())?;
                        return Ok(Rel { rows });
                    }
                    let r = self.eval(x)?;
                    self.shared.insert(
                        key,
                        Rel {
                            rows: r.rows.clone(),
                        },
                    );
                    Ok(r)
                }
                // Not reached: patterns with back-references go to the backtracker.
                Node::Backref(_) => self.zero(),
                Node::Concat(xs) => {
                    let mut acc = self.identity()?;
                    for x in xs {
                        let r = self.eval(x)?;
                        acc = self.compose(&acc, &r)?;
                    }
                    Ok(acc)
                }
                Node::Alt(xs) => {
                    let mut acc = self.zero()?;
                    for x in xs {
                        let r = self.eval(x)?;
                        acc = self.union(acc, &r)?;
                    }
                    Ok(acc)
                }
                Node::Repeat(x, min, max) => {
                    let r = self.eval(x)?;
                    let len = self.len;
                    let cap = |k: u32| (k as usize).min(len);
                    let head = self.power(&r, cap(*min))?;
                    let tail = match max {
                        None => self.closure(&r)?,
                        Some(max) => {
                            let id = self.identity()?;
                            let opt = self.union(id, &r)?;
                            self.power(&opt, cap(max - min))?
                        }
                    };
                    self.compose(&head, &tail)
                }
            }
        }
    }
}

/// Matching with back-references: a backtracking search over a small program, trying every
/// way to match (POSIX's answer to "is there a match" is whether any parse has consistent
/// captures). A group keeps what it matched last; a back-reference to a group that has not
/// matched fails. A loop iteration that matches the empty string ends the loop.
mod backtrack {
    use super::{Assertion, ByteSet, Node};

    #[derive(Clone, Copy, Debug)]
    enum Inst {
        Set(ByteSet),
        /// An anchor, strong or weak.
        Assert(Assertion, bool),
        /// Try the first, then the second.
        Split(usize, usize),
        Jmp(usize),
        /// A group starts here.
        Open(usize),
        /// A group ends here: it now matched from its start to here.
        Close(usize),
        Backref(usize),
        /// Remember where a loop iteration starts, in a register.
        Mark(usize),
        /// End of an iteration: back to the loop's head if it moved, else out.
        Loop {
            reg: usize,
            head: usize,
            exit: usize,
        },
        Match,
    }

    struct Compiler {
        prog: Vec<Inst>,
        regs: usize,
        /// States (positions, armed or not: see `relation`), where counts of groupless
        /// loops stop mattering.
        len: usize,
    }

    struct TooBig;

    impl Compiler {
        fn emit(&mut self, i: Inst) -> Result<usize, TooBig> {
            if self.prog.len() >= super::MAX_PROGRAM {
                return Err(TooBig);
            }
            self.prog.push(i);
            Ok(self.prog.len() - 1)
        }

        fn patch(&mut self, at: usize, target: usize) {
            match &mut self.prog[at] {
                Inst::Split(_, b) => *b = target,
                Inst::Jmp(t) => *t = target,
                _ => {}
            }
        }

        fn node(&mut self, n: &Node) -> Result<(), TooBig> {
            match n {
                Node::Empty => {}
                Node::Set(s) => {
                    self.emit(Inst::Set(*s))?;
                }
                Node::Assert(a, strong) => {
                    self.emit(Inst::Assert(*a, *strong))?;
                }
                Node::Backref(g) => {
                    self.emit(Inst::Backref(*g))?;
                }
                Node::Group(g, x) => {
                    self.emit(Inst::Open(*g))?;
                    self.node(x)?;
                    self.emit(Inst::Close(*g))?;
                }
                // Emitted at each use (the program is bounded by `MAX_PROGRAM`).
                Node::Shared(x) => self.node(x)?,
                Node::Concat(xs) => {
                    for x in xs {
                        self.node(x)?;
                    }
                }
                Node::Alt(xs) => {
                    let mut jumps = Vec::new();
                    for (k, x) in xs.iter().enumerate() {
                        if k + 1 < xs.len() {
                            let split = self.emit(Inst::Split(self.prog.len() + 1, 0))?;
                            self.node(x)?;
                            jumps.push(self.emit(Inst::Jmp(0))?);
                            let next = self.prog.len();
                            self.patch(split, next);
                        } else {
                            self.node(x)?;
                        }
                    }
                    let end = self.prog.len();
                    for j in jumps {
                        self.patch(j, end);
                    }
                }
                Node::Repeat(x, min, max) => {
                    // Without groups inside, the captures cannot tell more iterations from
                    // fewer: counts past the text's length change nothing.
                    let (mut min, mut max) = (*min as usize, max.map(|m| m as usize));
                    if !x.has_group() {
                        let extra = max.map(|m| (m - min).min(self.len));
                        min = min.min(self.len);
                        max = extra.map(|e| min + e);
                    }
                    for _ in 0..min {
                        self.node(x)?;
                    }
                    match max {
                        None => {
                            let reg = self.regs;
                            self.regs += 1;
                            let head = self.emit(Inst::Split(self.prog.len() + 1, 0))?;
                            self.emit(Inst::Mark(reg))?;
                            self.node(x)?;
                            let exit = self.prog.len() + 1;
                            self.emit(Inst::Loop { reg, head, exit })?;
                            self.patch(head, exit);
                        }
                        Some(max) => {
                            let mut splits = Vec::new();
                            for _ in min..max {
                                splits.push(self.emit(Inst::Split(self.prog.len() + 1, 0))?);
                                self.node(x)?;
                            }
                            let end = self.prog.len();
                            for s in splits {
                                self.patch(s, end);
                            }
                        }
                    }
                }
            }
            Ok(())
        }
    }

    const UNSET: usize = usize::MAX;

    /// What to undo when backtracking.
    enum Frame {
        Retry { pc: usize, pos: usize, armed: bool },
        Slot { slot: usize, old: usize },
    }

    pub(super) fn is_match(root: &Node, groups: usize, text: &[u8]) -> bool {
        let mut c = Compiler {
            prog: Vec::new(),
            regs: 0,
            len: 2 * (text.len() + 1),
        };
        if c.node(root).is_err() || c.emit(Inst::Match).is_err() {
            return false;
        }
        // Slots: per group (from 1) its pending start, start and end; then the registers.
        let nslots = 3 * (groups + 1) + c.regs;
        let mut steps = 0u64;
        for start in 0..=text.len() {
            match run(&c.prog, text, start, nslots, 3 * (groups + 1), &mut steps) {
                Some(true) => return true,
                Some(false) => {}
                None => return false,
            }
        }
        false
    }

    /// One attempt from `start`; `None` when the budget ran out.
    fn run(
        prog: &[Inst],
        text: &[u8],
        start: usize,
        nslots: usize,
        reg_base: usize,
        steps: &mut u64,
    ) -> Option<bool> {
        let mut slots = vec![UNSET; nslots];
        let mut stack: Vec<Frame> = Vec::new();
        let (mut pc, mut pos) = (0, start);
        // Whether a strong anchor was passed since the last byte matched.
        let mut armed = false;
        let set = |slots: &mut Vec<usize>, stack: &mut Vec<Frame>, slot: usize, v: usize| {
            stack.push(Frame::Slot {
                slot,
                old: slots[slot],
            });
            slots[slot] = v;
        };
        loop {
            *steps += 1;
            if *steps > super::STEP_BUDGET {
                return None;
            }
            let ok = match prog[pc] {
                Inst::Match => return Some(true),
                Inst::Set(s) => {
                    let ok = pos < text.len() && s.contains(text[pos]);
                    pos += usize::from(ok);
                    armed = false;
                    pc += 1;
                    ok
                }
                Inst::Assert(a, strong) => {
                    pc += 1;
                    if strong {
                        armed = true;
                        a.holds(text, pos)
                    } else {
                        !armed || a.holds(text, pos)
                    }
                }
                Inst::Split(a, b) => {
                    stack.push(Frame::Retry { pc: b, pos, armed });
                    pc = a;
                    true
                }
                Inst::Jmp(t) => {
                    pc = t;
                    true
                }
                Inst::Open(g) => {
                    set(&mut slots, &mut stack, 3 * g, pos);
                    pc += 1;
                    true
                }
                Inst::Close(g) => {
                    let from = slots[3 * g];
                    set(&mut slots, &mut stack, 3 * g + 1, from);
                    set(&mut slots, &mut stack, 3 * g + 2, pos);
                    pc += 1;
                    true
                }
                Inst::Backref(g) => {
                    let (s, e) = (slots[3 * g + 1], slots[3 * g + 2]);
                    pc += 1;
                    if s == UNSET || e == UNSET {
                        false
                    } else {
                        let len = e - s;
                        let ok = text.len() - pos >= len && text[s..e] == text[pos..pos + len];
                        if ok && len > 0 {
                            pos += len;
                            armed = false;
                        }
                        ok
                    }
                }
                Inst::Mark(r) => {
                    set(&mut slots, &mut stack, reg_base + r, pos);
                    pc += 1;
                    true
                }
                Inst::Loop { reg, head, exit } => {
                    pc = if slots[reg_base + reg] == pos {
                        exit
                    } else {
                        head
                    };
                    true
                }
            };
            if !ok {
                loop {
                    match stack.pop() {
                        None => return Some(false),
                        Some(Frame::Slot { slot, old }) => slots[slot] = old,
                        Some(Frame::Retry {
                            pc: p,
                            pos: q,
                            armed: a,
                        }) => {
                            pc = p;
                            pos = q;
                            armed = a;
                            break;
                        }
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_rng::Rng;
    use std::ffi::CString;

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
    /// that, glibc's answers are not POSIX's: `^(.?)(.?)(.?)\3\2\1$` matches `a`, sourceware
    /// bug 11053; `x(a?){2}\1` does not match `x`; some such patterns crash or hang it.)
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
        b"4", b".", b"1", b"6", b"-", b"a", b"b", b"d", b"w", b"(", b")", b"|", b"*", b"+", b"?",
        b"{", b"}", b",", b"0", b"2", b"[", b"]", b"^", b"$", b"\\", b":", b"=", b"_", b"\xff",
        b"\x80", b"(", b")", b"[", b"]", b".", b"*", b"\\",
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
}
