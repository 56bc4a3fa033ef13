//! Adding a batch with one probe per id: room is made for the batch's ids
//! ([`IdIndex::make_room`]), each is looked up once ([`IdIndex::probe`]: where it is
//! stored, or the empty slot ending its probe chain),
//! what the writer needs to resolve duplicates, and the batch is then added from those
//! probes ([`IdIndex::add_probed`]) without looking any id up again. In a table of
//! millions of ids each probe is a cache miss; a second probe per id, after a whole
//! batch of others, would miss again.
//!
//! The probes stay true until the batch is added because nothing else moves a slot in
//! between: room for every id probed is made before probing (no shard grows while
//! adding), the caller adds under the same writer lock it probed under, and adding only
//! fills empty slots or replaces an id's own entry. A slot found empty may have been
//! filled meanwhile by an earlier id of the same batch: the chain then goes on from
//! there, every slot before it having held another id when probed.

use super::{
    corrupt, shard_of, tag_and_check, Added, BatchRows, IdIndex, IdSource, SlotAt, EMPTY, SHARDS,
};
use crate::error::Result;

/// Where one id of a batch being added is: its slot (`Ok`), or the empty slot that ended
/// its probe chain (`Err`), with its tag and check.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Probe {
    tag: u32,
    check: u16,
    at: std::result::Result<SlotAt, SlotAt>,
}

impl Probe {
    /// Whether the id is stored.
    pub(crate) fn is_stored(&self) -> bool {
        self.at.is_ok()
    }
}

impl IdIndex {
    /// Makes room for every id of `texts`, so that no shard grows until they are added
    /// ([`probe`](Self::probe)); gives each id's tag and check. Ids not added after all
    /// cost at most one batch's worth of room (room made is not used up by them).
    pub(crate) fn make_room(&mut self, texts: &[String]) -> Vec<(u32, u16)> {
        let keys: Vec<(u32, u16)> = texts
            .iter()
            .map(|id| tag_and_check((self.fingerprint)(id.as_bytes())))
            .collect();
        let mut counts = [0usize; SHARDS];
        for (tag, _) in &keys {
            counts[shard_of(*tag)] += 1;
        }
        for (shard, count) in self.shards.iter_mut().zip(counts) {
            if count > 0 {
                shard.reserve(count);
            }
        }
        keys
    }

    /// Probes each id of `texts` once (see the module docs), `keys` being what
    /// [`make_room`](Self::make_room) gave for them, with nothing added since.
    pub(crate) fn probe(
        &self,
        texts: &[String],
        keys: Vec<(u32, u16)>,
        src: &mut dyn IdSource,
    ) -> Result<Vec<Probe>> {
        if keys.len() != texts.len() {
            return Err(corrupt("ids probed with the keys of other ids"));
        }
        texts
            .iter()
            .zip(keys)
            .map(|(id, (tag, check))| {
                let at = self.find(id, (tag, check), src)?;
                Ok(Probe { tag, check, at })
            })
            .collect()
    }

    /// Adds batch `batch` of `rows` ids (row order, unique), probed by
    /// [`probe`](Self::probe) with nothing added since (`probes[r]` is row `r`'s); its
    /// rows become the live rows of their ids. Batches are added in increasing order.
    pub(crate) fn add_probed(
        &mut self,
        batch: u64,
        rows: usize,
        probes: &[Probe],
    ) -> Result<Added> {
        if probes.len() != rows {
            return Err(corrupt("ids added with the probes of other ids"));
        }
        if self.batches.last().is_some_and(|b| b.batch >= batch) {
            return Err(corrupt("batches added to the id index out of order"));
        }
        let first = self.next_ordinal;
        if first + rows as u64 >= u64::from(u32::MAX) {
            return Err(corrupt("a path holds more than 2^32 - 2 stored rows"));
        }
        let first = first as u32;
        self.next_ordinal += rows as u64;
        self.saved = false;
        self.batches.push(BatchRows {
            batch,
            first,
            rows: rows as u32,
            live: 0,
            bits: vec![0; rows.div_ceil(64)],
        });
        let mut added = Added::default();
        for (row, probe) in (0..rows as u32).zip(probes) {
            let entry = u64::from(probe.tag) << 32 | u64::from(first + row);
            match probe.at {
                Ok((s, i)) => {
                    let old = self.shards[s].slots[i] as u32;
                    self.shards[s].slots[i] = entry;
                    if let Some((b, old_row)) = self.position(old) {
                        let rows = &mut self.batches[b];
                        if rows.is_live(old_row) {
                            rows.set(old_row, false);
                            rows.live -= 1;
                            if rows.live == 0 && rows.batch != batch {
                                added.dead.push(rows.batch);
                            }
                        }
                    }
                }
                Err((s, mut i)) => {
                    let shard = &mut self.shards[s];
                    let capacity = shard.slots.len();
                    if capacity == 0 || shard_of(probe.tag) != s {
                        return Err(corrupt("an id was probed without room made for it"));
                    }
                    while shard.slots[i] != EMPTY {
                        i = if i + 1 == capacity { 0 } else { i + 1 };
                    }
                    shard.slots[i] = entry;
                    shard.checks[i] = probe.check;
                    shard.used += 1;
                    self.live += 1;
                    added.new += 1;
                }
            }
            let Some(rows) = self.batches.last_mut() else {
                return Err(corrupt("the id index lost the batch being added"));
            };
            rows.set(row, true);
            rows.live += 1;
        }
        self.batches.retain(|b| b.live > 0);
        Ok(added)
    }
}
