//! The syntax tree: what the parser builds, the lowering rewrites and the matchers run.

use crate::set::{ByteSet, is_word};

/// A zero-width assertion about a position.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Assertion {
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
    pub(crate) fn holds(self, text: &[u8], at: usize) -> bool {
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
pub(crate) enum Node {
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
    pub(crate) fn survey(&self) -> (bool, usize) {
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

    pub(crate) fn has_assert(&self) -> bool {
        match self {
            Node::Assert(..) => true,
            Node::Group(_, x) | Node::Repeat(x, _, _) => x.has_assert(),
            Node::Shared(x) => x.has_assert(),
            Node::Concat(xs) | Node::Alt(xs) => xs.iter().any(Node::has_assert),
            Node::Empty | Node::Set(_) | Node::Backref(_) => false,
        }
    }

    pub(crate) fn has_group(&self) -> bool {
        match self {
            Node::Group(..) => true,
            Node::Repeat(x, _, _) => x.has_group(),
            Node::Shared(x) => x.has_group(),
            Node::Concat(xs) | Node::Alt(xs) => xs.iter().any(Node::has_group),
            Node::Empty | Node::Set(_) | Node::Assert(..) | Node::Backref(_) => false,
        }
    }
}
