//! Matching without back-references: each node denotes a relation between states (`s` to
//! `t`: the node can take the match from `s` to `t`), kept as a bit matrix. A state is a
//! text position and whether a strong anchor has been passed since the last byte matched
//! (which decides whether weak anchors count: see `Lowering`); state `2i + armed`. Steps
//! never go to a lower state, so repetition counts are cut to the number of states: a
//! relation's powers stop changing past that (a longer chain must stand still somewhere,
//! and can stand still longer).

use crate::ast::Node;

/// Work allowed for matching without back-references, in 64-bit word operations.
const RELATION_BUDGET: u64 = 400_000_000;

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

pub(crate) fn is_match(root: &Node, text: &[u8]) -> bool {
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
        if self.work > RELATION_BUDGET {
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
