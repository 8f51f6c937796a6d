//! Lowering: the syntax tree rewritten so that anchors in repeated operands act as they do
//! in glibc (see [`Lowering`]).

use crate::ast::Node;

/// The most nodes rewriting anchors in repetitions makes (see `Lowering`).
const MAX_LOWERED: usize = 200_000;

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
/// `\B($|\<4){2}` the weak first `$` counts after the `\B`. What follows an anchor is
/// decided on glibc's tree, in which the repetition `x{m,n}` is the copies `x1 .. xm` (the
/// first the original, the others duplicates) followed, unless `m` is `n`, by an optional
/// part: `(xm+1)*` when `n` is unbounded, else `((xm+1? xm+2)? .. xn)?` (with `m = 0`, `x1`
/// is the original here); groups vanish unless a back-reference names them or they are
/// empty, and those that stay have fresh (never duplicate) boundary nodes; the new nodes of
/// a repetition (the `*`, the `?`) are duplicates only inside a duplicate.
///
/// Lowering rewrites the tree into one where those anchors are weak and the copies that
/// differ are spelt out (runs of alike copies stay counted).
pub(crate) struct Lowering {
    /// Groups 1..9 that a back-reference names.
    referenced: u16,
    /// Nodes made so far, to bound the rewriting of absurd nestings.
    made: usize,
    /// What each repeated operand lowered to, by its address and the two flags.
    memo: std::collections::HashMap<(*const Node, bool, bool), std::rc::Rc<Node>>,
}

pub(crate) struct TooBig;

impl Lowering {
    /// A lowering for a pattern whose back-references name the groups `referenced` (bit
    /// n-1 for group n).
    pub(crate) fn new(referenced: u16) -> Self {
        Lowering {
            referenced,
            made: 0,
            memo: Default::default(),
        }
    }

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
    pub(crate) fn lower(&mut self, n: &Node, dup: bool, next_dup: bool) -> Result<Node, TooBig> {
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
