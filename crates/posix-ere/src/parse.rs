//! Parsing: a pattern's bytes to a syntax tree, with every check that makes glibc's
//! `regcomp` fail.

use crate::MAX_NESTING;
use crate::ast::{Assertion, Node};
use crate::set::{ByteSet, class, is_space, is_word};

/// The largest count in an interval (glibc's `RE_DUP_MAX`).
const DUP_MAX: u32 = 0x7fff;

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

/// A token outside bracket expressions.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Tok {
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

pub(crate) struct Invalid;

pub(crate) struct Parser<'a> {
    pat: &'a [u8],
    pos: usize,
    /// Groups opened so far.
    pub(crate) groups: usize,
    /// Groups 1..9 closed so far and visible from here (bit n-1 for group n).
    closed: u16,
    /// Groups 1..9 that back-references name.
    pub(crate) referenced: u16,
}

impl<'a> Parser<'a> {
    /// A parser at the start of `pattern`.
    pub(crate) fn new(pattern: &'a [u8]) -> Self {
        Parser {
            pat: pattern,
            pos: 0,
            groups: 0,
            closed: 0,
            referenced: 0,
        }
    }

    /// The token at the current position and its length.
    pub(crate) fn peek(&self) -> (Tok, usize) {
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
    pub(crate) fn alternation(&mut self, nest: usize) -> Result<Node, Invalid> {
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
