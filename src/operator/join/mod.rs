//! Join and MergeJoin: inner joins of streams on their shared user tags (§6.2, §6.3).
//!
//! Both stream: every input is indexed as its batches arrive and each match is emitted
//! as soon as all of its rows exist (a symmetric hash join). Join takes one or more
//! inputs and folds them, in canonical order, through a chain of binary joins
//! `((x ⋈ y) ⋈ z) …` held inside one operator; MergeJoin takes two inputs whose
//! colliding packet columns become sorted two-element lists.
//!
//! Join keys are the user tag names both sides share (none: a Cartesian product); a row
//! with a null in any key column never matches. Keys are encoded with `arrow-row` into
//! bytes held in memory only; output columns are gathered with `take` / `interleave`.
//!
//! Output columns are in the order the inputs are *listed* (reference §6.2, the declared
//! schema): user tags as the ordered union of the inputs' tags (the first input's, then
//! the next input's new names, …), packets likewise, each packet's source info in packet
//! order. Only that order depends on the order of the arguments: the fold, which side is
//! left or right, the system tags (names, positions, per-row sort), the values and every
//! hash come from the canonical order, so `Op(A, B)` and `Op(B, A)` hold the same columns
//! and values, in their own order of user columns.
//!
//! These operators must never depend on the order of their arguments beyond that column
//! order, never re-infer a type from values, and never fail on empty inputs.
//!
//! The parts, from the bottom up:
//! - `index`: the byte-keyed index (encoded key → chains of stored rows per side);
//! - `int_index`: the index of a join on one integer key column;
//! - `stored`: the rows a side keeps, their provenance text held compactly;
//! - `engine`: the binary symmetric hash join over batches, on either index;
//! - `plan`: what the inputs allow and the order of the output columns;
//! - `chain`: [`Join`], a chain of binary joins;
//! - `merge_join`: [`MergeJoin`].

mod chain;
mod engine;
mod index;
mod int_index;
mod merge_join;
mod plan;
mod stored;
#[cfg(test)]
mod tests;

pub(crate) use chain::Join;
pub(crate) use merge_join::MergeJoin;
