//! Matching with back-references: a backtracking search over a small program, trying every
//! way to match (POSIX's answer to "is there a match" is whether any parse has consistent
//! captures). A group keeps what it matched last; a back-reference to a group that has not
//! matched fails. A loop iteration that matches the empty string ends the loop.

use crate::ast::{Assertion, Node};
use crate::set::ByteSet;

/// Work allowed for matching with back-references, in instructions stepped.
const STEP_BUDGET: u64 = 4_000_000;

/// The longest program the back-reference matcher builds.
const MAX_PROGRAM: usize = 200_000;

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
        if self.prog.len() >= MAX_PROGRAM {
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

pub(crate) fn is_match(root: &Node, groups: usize, text: &[u8]) -> bool {
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
        if *steps > STEP_BUDGET {
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
