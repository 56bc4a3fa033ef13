//! The index of a symmetric hash join on one integer key column: an open-addressing
//! table from the key's 64-bit value to the newest stored row of each side holding it,
//! and per side a chain array linking every stored row to the previous one with the
//! same key.
//!
//! It exists for speed: a join on an integer key (the common case) needs no `arrow-row`
//! encoding, and a lookup touches one 16-byte slot (four per cache line) instead of a
//! control byte, a 48-byte bucket and a chain entry. Rows are numbered per side in
//! arrival order (`0, 1, …` over the rows the join stores); the caller maps those numbers
//! to its stored batches.
//!
//! Nothing here is persisted or part of an identity. It must never report a match whose
//! keys differ, and it reports the matches of a probe in arrival order.

/// "No row".
const NONE: u32 = u32::MAX;

/// A key and the newest stored row of each side holding it. Free when both are `NONE`
/// (an occupied slot always holds a row of at least one side).
#[derive(Clone, Copy)]
struct Slot {
    key: u64,
    heads: [u32; 2],
}

const FREE: Slot = Slot {
    key: 0,
    heads: [NONE, NONE],
};

impl Slot {
    fn is_free(&self) -> bool {
        self.heads == [NONE, NONE]
    }
}

/// Fibonacci hashing: multiplies by 2^64 / φ and keeps the top bits.
const FIBONACCI: u64 = 0x9E37_79B9_7F4A_7C15;

/// The smallest table: 1024 slots.
const MIN_BITS: u32 = 10;

/// See the module documentation.
pub(super) struct IntKeyIndex {
    /// A power of two, at most half full.
    slots: Vec<Slot>,
    occupied: usize,
    /// `64 - log2(slots.len())`.
    shift: u32,
    /// Per side, per stored row: the previous stored row of that side with the same key.
    previous: [Vec<u32>; 2],
}

impl Default for IntKeyIndex {
    fn default() -> Self {
        IntKeyIndex {
            slots: vec![FREE; 1 << MIN_BITS],
            occupied: 0,
            shift: 64 - MIN_BITS,
            previous: [Vec::new(), Vec::new()],
        }
    }
}

impl IntKeyIndex {
    /// The number of the next row side `side` stores.
    pub(super) fn next_row(&self, side: usize) -> usize {
        self.previous[side].len()
    }

    /// Pushes onto `found` every stored row of side `1 - side` with `key`, in arrival
    /// order; then, when `keep`, stores the row numbered [`IntKeyIndex::next_row`] of
    /// `side` under `key`.
    pub(super) fn probe_and_insert(
        &mut self,
        key: u64,
        side: usize,
        keep: bool,
        found: &mut Vec<u32>,
    ) {
        if keep && 2 * (self.occupied + 1) > self.slots.len() {
            self.grow();
        }
        let other = 1 - side;
        let mask = self.slots.len() - 1;
        let mut at = self.home(key);
        loop {
            let slot = &mut self.slots[at];
            if slot.is_free() {
                if keep {
                    slot.key = key;
                    slot.heads[side] = self.previous[side].len() as u32;
                    self.previous[side].push(NONE);
                    self.occupied += 1;
                }
                return;
            }
            if slot.key == key {
                let start = found.len();
                let mut row = slot.heads[other];
                while row != NONE {
                    found.push(row);
                    row = self.previous[other][row as usize];
                }
                // Chains run newest first.
                found[start..].reverse();
                if keep {
                    let row = self.previous[side].len() as u32;
                    self.previous[side].push(slot.heads[side]);
                    slot.heads[side] = row;
                }
                return;
            }
            at = (at + 1) & mask;
        }
    }

    /// Loads the slots lookups of `keys` begin at, so that the cache misses of many
    /// independent loads overlap, before the lookups themselves (each of which depends
    /// on the slot it reads) run. It changes nothing.
    pub(super) fn warm(&self, keys: &[u64]) {
        let mut touched = 0u64;
        for &key in keys {
            touched ^= self.slots[self.home(key)].key;
        }
        std::hint::black_box(touched);
    }

    /// Numbers the next row of `side` without storing it (its key is null: it never
    /// matches).
    pub(super) fn skip_row(&mut self, side: usize) {
        self.previous[side].push(NONE);
    }

    /// Forgets the rows side `side` stored: they will never be probed again. (Their
    /// slots stay; the other side's chains are untouched.)
    pub(super) fn release(&mut self, side: usize) {
        self.previous[side] = Vec::new();
    }

    fn home(&self, key: u64) -> usize {
        (key.wrapping_mul(FIBONACCI) >> self.shift) as usize
    }

    /// Doubles the table and re-places every occupied slot.
    fn grow(&mut self) {
        let old = std::mem::take(&mut self.slots);
        self.shift -= 1;
        self.slots = vec![FREE; old.len() * 2];
        let mask = self.slots.len() - 1;
        for slot in old.into_iter().filter(|s| !s.is_free()) {
            let mut at = self.home(slot.key);
            while !self.slots[at].is_free() {
                at = (at + 1) & mask;
            }
            self.slots[at] = slot;
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    /// Drives the index with `(side, key)` rows and checks every probe against a plain
    /// map of all stored rows.
    fn check(rows: &[(usize, u64)], keep: bool) {
        let mut index = IntKeyIndex::default();
        let mut stored: [HashMap<u64, Vec<u32>>; 2] = Default::default();
        for &(side, key) in rows {
            let mut found = Vec::new();
            let number = index.next_row(side) as u32;
            index.probe_and_insert(key, side, keep, &mut found);
            let expected = stored[1 - side].get(&key).cloned().unwrap_or_default();
            assert_eq!(found, expected, "key {key} on side {side}");
            if keep {
                stored[side].entry(key).or_default().push(number);
            }
        }
    }

    #[test]
    fn matches_are_exact_and_in_arrival_order_across_growth() {
        let mut rows = Vec::new();
        for i in 0..5000u64 {
            rows.push(((i % 2) as usize, i / 2));
            rows.push(((i % 3 == 0) as usize, i.wrapping_mul(0x1000_0000_0001)));
        }
        // Keys that collide in the table's top bits and a repeated key.
        for i in 0..200u64 {
            rows.push((0, i << 54));
            rows.push((1, 7));
        }
        rows.push((0, u64::MAX));
        rows.push((1, u64::MAX));
        rows.push((1, 0));
        check(&rows, true);
        check(&rows, false);
    }

    #[test]
    fn a_released_side_is_no_longer_needed_for_probes_of_its_own() {
        let mut index = IntKeyIndex::default();
        let mut found = Vec::new();
        index.probe_and_insert(1, 0, true, &mut found);
        index.probe_and_insert(1, 0, true, &mut found);
        index.release(1);
        // Side 1's later rows are not kept, and still find side 0's rows.
        index.probe_and_insert(1, 1, false, &mut found);
        assert_eq!(found, vec![0, 1]);
    }
}
