//! The two matchers of a lowered tree: [`relation`] for patterns without back-references
//! (the usual case: polynomial in the text's length, whatever the counts), [`backtrack`]
//! for patterns with them (a capped backtracking search). Both give up past a fixed
//! budget of work and answer `false`.

pub(crate) mod backtrack;
pub(crate) mod relation;
