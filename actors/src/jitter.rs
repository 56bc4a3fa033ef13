//! Test jitter ([`RunOptions::jitter`](crate::RunOptions::jitter)): random pauses and
//! random batch sizes in every node actor, from a seed, so that tests explore many
//! interleavings of the same run.
//!
//! Without a seed every choice is the plain one (no pause, the whole inbox, full
//! batches). Jitter only chooses *when* and *in what slices* a node works: it must never
//! reorder, drop or change a row, and it needs no dependency (a tiny deterministic
//! generator).

use std::time::Duration;

/// The jitter of one node actor: none, or a generator seeded for that node.
pub(crate) struct Jitter(Option<XorShift>);

impl Jitter {
    /// The jitter of node `index` of a run with `seed` (none without a seed).
    pub(crate) fn for_node(seed: Option<u64>, index: usize) -> Self {
        Jitter(seed.map(|seed| XorShift::new(seed ^ (index as u64 + 1).wrapping_mul(0x9E37_79B9))))
    }

    /// How many queued inputs to process in one go: all of them without jitter, one to
    /// three with.
    pub(crate) fn drain_budget(&mut self) -> usize {
        match &mut self.0 {
            Some(rng) => 1 + rng.below(3) as usize,
            None => usize::MAX,
        }
    }

    /// How long to pause before the next drain: never without jitter, one time in three
    /// (up to 300 µs) with.
    pub(crate) fn pause(&mut self) -> Option<Duration> {
        match &mut self.0 {
            Some(rng) => (rng.below(3) == 0).then(|| Duration::from_micros(rng.below(300))),
            None => None,
        }
    }

    /// The rows of the next output slice, at most `max` (itself at least 1): `max`
    /// without jitter, a random size with.
    pub(crate) fn batch_rows(&mut self, max: usize) -> usize {
        match &mut self.0 {
            Some(rng) => 1 + rng.below(max as u64) as usize,
            None => max,
        }
    }
}

/// A tiny deterministic generator for test jitter (no dependency needed).
struct XorShift(u64);

impl XorShift {
    fn new(seed: u64) -> Self {
        XorShift(seed.max(1))
    }

    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        if n == 0 {
            0
        } else {
            self.0 % n
        }
    }
}
