//! The in-memory record-id index of one path of the sled store: id → (batch, row) of the
//! id's live row, the row of the *latest* batch holding it (a replacing write wins, as
//! the store's contract says), and which rows of each batch are live.
//!
//! It keeps no id text. Each stored row gets an ordinal (batches in write order, rows in
//! order); an open-addressing table (linear probing, at most 80% full, grown by a
//! quarter; split in 64 shards by the top bits of the tag, each grown on its own, so that
//! growing holds the old and new slots of one shard at once rather than of the whole
//! table) holds one 8-byte slot per live id: 32 bits of the id's fingerprint (its
//! *tag*, which also places it in the table, so the table grows without reading ids)
//! and the ordinal of its live row; beside it, in a parallel array only read when a tag
//! matches, 16 more bits of the fingerprint (its *check*). Tag and check are only a
//! filter: a lookup compares the id itself, read from its batch through an [`IdSource`]
//! (the store keeps recently read id columns), and two ids with one tag are two slots
//! of one probe chain, so a collision costs a read, never correctness. The check is
//! what keeps collisions rare at scale: with 32 bits alone, ten million ids share a tag
//! about 11,600 times (the birthday bound), each collision then reading a whole stored
//! batch back to compare one id; with 48 bits, less than once. Each batch also keeps
//! one bit per row (live or superseded), so a batch whose rows are all superseded is
//! known at once. Cost: 12.5 to 16 bytes per live id for the table, plus one bit per
//! stored row.
//!
//! Loading a path's index adds its stored batches many at a time
//! ([`IdIndex::add_batches`]), placing their ids in slot order: the table is then walked
//! from one end to the other rather than probed at random, one cache miss per id.
//!
//! A write looks each of its ids up once (`probe.rs`): room is made for them first, the
//! probes resolve duplicates and then place the ids written, with no second lookup.
//!
//! It never reads the store itself: ids are compared through the caller's [`IdSource`].

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::Arc;

use super::batch_file::IdColumn;
use crate::error::{Error, Result};
use crate::hashing::in_memory::mix_bytes;

/// Where an id's live row is: (batch number, row).
pub(crate) type Loc = (u64, u32);

/// Reads stored ids, to verify a tag match.
pub(crate) trait IdSource {
    /// Whether the id stored at row `row` of batch `batch` is `id`.
    fn id_is(&mut self, batch: u64, row: u32, id: &str) -> Result<bool>;
}

/// A 64-bit fingerprint of an id (not cryptographic: see the module docs): its top 32
/// bits are the tag, the next 16 the check.
fn fingerprint(id: &[u8]) -> u64 {
    mix_bytes((id.len() as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15), id)
}

/// A hasher for id strings in temporary maps (duplicate detection): the fingerprint of
/// the bytes written. Not for maps that outlive a call on untrusted keys.
#[derive(Default)]
pub(crate) struct IdHasher(u64);

impl Hasher for IdHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        self.0 = self.0.rotate_left(5) ^ fingerprint(bytes);
    }
    fn write_u8(&mut self, n: u8) {
        self.0 = self.0.rotate_left(5) ^ u64::from(n);
    }
}

/// A map keyed by ids, hashed with [`IdHasher`].
pub(crate) type IdMap<K, V> = HashMap<K, V, BuildHasherDefault<IdHasher>>;

/// An empty slot (no live id has ordinal `u32::MAX`).
const EMPTY: u64 = u64::MAX;

/// The tag and check of a fingerprint.
fn tag_and_check(fingerprint: u64) -> (u32, u16) {
    ((fingerprint >> 32) as u32, (fingerprint >> 16) as u16)
}

/// The rows of one stored batch: their ordinals and which are live.
#[derive(Debug)]
struct BatchRows {
    batch: u64,
    first: u32,
    rows: u32,
    live: u32,
    bits: Vec<u64>,
}

impl BatchRows {
    fn is_live(&self, row: u32) -> bool {
        self.bits[(row / 64) as usize] & (1 << (row % 64)) != 0
    }
    fn set(&mut self, row: u32, live: bool) {
        let word = &mut self.bits[(row / 64) as usize];
        if live {
            *word |= 1 << (row % 64);
        } else {
            *word &= !(1 << (row % 64));
        }
    }
}

/// What adding a batch did.
#[derive(Debug, Default)]
pub(crate) struct Added {
    /// How many of its ids were new to the path.
    pub new: usize,
    /// Earlier batches none of whose rows is live any more.
    pub dead: Vec<u64>,
}

/// Ids of the batches being added by [`IdIndex::add_batches`], else of `src`.
struct Loading<'a> {
    batches: &'a [(u64, Arc<IdColumn>)],
    src: &'a mut dyn IdSource,
}

impl Loading<'_> {
    fn adding(&self, batch: u64) -> Option<&IdColumn> {
        let i = self
            .batches
            .binary_search_by_key(&batch, |(b, _)| *b)
            .ok()?;
        Some(&self.batches[i].1)
    }

    /// Writes the id of a row being added.
    fn write_id(&self, batch: u64, row: u32, id: &mut String) -> Result<()> {
        let ids = self
            .adding(batch)
            .ok_or_else(|| corrupt("the id index lost a batch being added"))?;
        ids.write_id(row as usize, id);
        Ok(())
    }

    fn id_is(&mut self, batch: u64, row: u32, id: &str) -> Result<bool> {
        match self.adding(batch) {
            Some(ids) => Ok(ids.is(row as usize, id)),
            None => self.src.id_is(batch, row, id),
        }
    }
}

/// The table is split into this many shards by the top bits of the tag, each grown on
/// its own: growing one holds its old and new slots at once, a sixty-fourth of the
/// table rather than all of it.
const SHARD_BITS: u32 = 6;
const SHARDS: usize = 1 << SHARD_BITS;

/// One shard of the table: open addressing, linear probing, at most 80% full.
#[derive(Debug, Default)]
struct Shard {
    slots: Vec<u64>,
    /// The check of the id in each slot (parallel to `slots`).
    checks: Vec<u16>,
    /// Occupied slots.
    used: usize,
}

impl Shard {
    /// Makes room for `more` ids (growing by a quarter until they fit).
    fn reserve(&mut self, more: usize) {
        let needed = self.used + more;
        if needed * 5 <= self.slots.len() * 4 {
            return;
        }
        let mut capacity = self.slots.len().max(64);
        while needed * 5 > capacity * 4 {
            capacity += capacity / 4;
        }
        let old = std::mem::replace(&mut self.slots, vec![EMPTY; capacity]);
        let old_checks = std::mem::replace(&mut self.checks, vec![0; capacity]);
        for (slot, check) in old.into_iter().zip(old_checks).filter(|(s, _)| *s != EMPTY) {
            self.place(slot, check);
        }
    }

    /// Puts an entry of a live id (not in the shard yet, room for it made) in the first
    /// empty slot of its probe chain, without counting it.
    fn place(&mut self, slot: u64, check: u16) {
        let capacity = self.slots.len();
        let mut i = home(tag(slot), capacity);
        while self.slots[i] != EMPTY {
            i = if i + 1 == capacity { 0 } else { i + 1 };
        }
        self.slots[i] = slot;
        self.checks[i] = check;
    }
}

/// The shard of a tag.
fn shard_of(tag: u32) -> usize {
    (tag >> (32 - SHARD_BITS)) as usize
}

/// A slot: its shard and its index there.
type SlotAt = (usize, usize);

/// The id index of one path (see the module docs).
#[derive(Debug)]
pub(crate) struct IdIndex {
    shards: Vec<Shard>,
    /// Batches holding live rows, in batch (and ordinal) order.
    batches: Vec<BatchRows>,
    next_ordinal: u64,
    live: usize,
    fingerprint: fn(&[u8]) -> u64,
    /// Whether the index is as it was last saved or read back ([`saved`]).
    saved: bool,
}

impl Default for IdIndex {
    fn default() -> Self {
        IdIndex {
            shards: (0..SHARDS).map(|_| Shard::default()).collect(),
            batches: Vec::new(),
            next_ordinal: 0,
            live: 0,
            fingerprint,
            saved: false,
        }
    }
}

fn tag(slot: u64) -> u32 {
    (slot >> 32) as u32
}

/// Where a tag's probe starts in a shard of `capacity` slots (the bits below those that
/// chose the shard).
fn home(tag: u32, capacity: usize) -> usize {
    ((u64::from(tag << SHARD_BITS) * capacity as u64) >> 32) as usize
}

impl IdIndex {
    /// The number of live ids.
    pub(crate) fn len(&self) -> usize {
        self.live
    }

    /// Whether the index changed since it was last saved or read back (or was never).
    pub(crate) fn is_unsaved(&self) -> bool {
        !self.saved
    }

    /// Notes that the index was saved as it is now.
    pub(crate) fn mark_saved(&mut self) {
        self.saved = true;
    }

    /// Bytes of memory the index holds.
    pub(crate) fn memory_size(&self) -> usize {
        self.shards
            .iter()
            .map(|s| s.slots.capacity() * 8 + s.checks.capacity() * 2)
            .sum::<usize>()
            + self.batches.capacity() * std::mem::size_of::<BatchRows>()
            + self
                .batches
                .iter()
                .map(|b| b.bits.capacity() * 8)
                .sum::<usize>()
    }

    fn tag_and_check_of(&self, id: &str) -> (u32, u16) {
        tag_and_check((self.fingerprint)(id.as_bytes()))
    }

    /// The batch (index into `batches`) and row of an ordinal.
    fn position(&self, ordinal: u32) -> Option<(usize, u32)> {
        position_in(&self.batches, ordinal)
    }

    /// The slot holding `id` (`Ok`), or the empty slot ending its probe chain (`Err`).
    fn find(
        &self,
        id: &str,
        (tag, check): (u32, u16),
        src: &mut dyn IdSource,
    ) -> Result<std::result::Result<SlotAt, SlotAt>> {
        let s = shard_of(tag);
        let shard = &self.shards[s];
        let capacity = shard.slots.len();
        if capacity == 0 {
            return Ok(Err((s, 0)));
        }
        let mut i = home(tag, capacity);
        loop {
            let slot = shard.slots[i];
            if slot == EMPTY {
                return Ok(Err((s, i)));
            }
            if self::tag(slot) == tag && shard.checks[i] == check {
                let same = match self.position(slot as u32) {
                    Some((b, row)) => src.id_is(self.batches[b].batch, row, id)?,
                    None => false,
                };
                if same {
                    return Ok(Ok((s, i)));
                }
            }
            i = if i + 1 == capacity { 0 } else { i + 1 };
        }
    }

    /// Where the live row of `id` is.
    #[cfg(test)]
    pub(crate) fn get(&self, id: &str, src: &mut dyn IdSource) -> Result<Option<Loc>> {
        self.get_next(id, &mut None, src)
    }

    /// [`get`](Self::get) for ids asked in the order they were stored (a re-run asks
    /// for its results batch after batch): the row after the last one found is tried
    /// first — taken if it is live and holds `id`, which makes it `id`'s one live row —
    /// before the table is probed. `hint` carries the last row found from one call to
    /// the next (start with `None`).
    pub(crate) fn get_next(
        &self,
        id: &str,
        hint: &mut Option<(usize, u32)>,
        src: &mut dyn IdSource,
    ) -> Result<Option<Loc>> {
        if let Some((b, row)) = *hint {
            let next = row + 1;
            if let Some(rows) = self.batches.get(b) {
                if next < rows.rows && rows.is_live(next) && src.id_is(rows.batch, next, id)? {
                    *hint = Some((b, next));
                    return Ok(Some((rows.batch, next)));
                }
            }
        }
        let Ok((s, i)) = self.find(id, self.tag_and_check_of(id), src)? else {
            return Ok(None);
        };
        let found = self.position(self.shards[s].slots[i] as u32);
        *hint = found;
        Ok(found.map(|(b, row)| (self.batches[b].batch, row)))
    }

    /// Makes room for `more` ids, spread evenly (as tags are) over the shards: what
    /// spares growing them one step at a time when many ids are known to come.
    pub(crate) fn reserve(&mut self, more: usize) {
        let each = more / SHARDS + more / SHARDS / 16 + 1;
        for shard in &mut self.shards {
            shard.reserve(each);
        }
    }

    /// Adds batch `batch` holding `ids` (row order, unique), whose text is `texts` (row
    /// for row what `ids` holds: given, so that it need not be written out again); its
    /// rows become the live rows of their ids. Batches are added in increasing order.
    #[cfg(test)]
    pub(crate) fn add_batch(
        &mut self,
        batch: u64,
        ids: &IdColumn,
        texts: &[String],
        src: &mut dyn IdSource,
    ) -> Result<Added> {
        if texts.len() != ids.len() {
            return Err(corrupt("ids added with the text of other ids"));
        }
        debug_assert!(
            texts.iter().enumerate().all(|(r, t)| ids.is(r, t)),
            "ids added with the text of other ids"
        );
        if self.batches.last().is_some_and(|b| b.batch >= batch) {
            return Err(corrupt("batches added to the id index out of order"));
        }
        let keys = self.make_room(texts);
        let probes = self.probe(texts, keys, src)?;
        self.add_probed(batch, ids.len(), &probes)
    }

    /// Adds many batches at once, as [`add_batch`](Self::add_batch) would one after
    /// another (later batches win), reporting every batch left without a live row:
    /// what loading a path's index does. The ids are placed in the order of their slots
    /// rather than of their rows, so the table is walked from one end to the other
    /// instead of at random, which is what makes loading millions of ids cheap.
    pub(crate) fn add_batches(
        &mut self,
        batches: &[(u64, Arc<IdColumn>)],
        src: &mut dyn IdSource,
    ) -> Result<Added> {
        let total: usize = batches.iter().map(|(_, ids)| ids.len()).sum();
        if self.next_ordinal + total as u64 >= u64::from(u32::MAX) {
            return Err(corrupt("a path holds more than 2^32 - 2 stored rows"));
        }
        // Each row as its slot entry (tag, then ordinal) and check: sorted, they come in
        // slot order, and one id's rows in write order.
        let mut entries = Vec::with_capacity(total);
        let mut id = String::new();
        // Each id's text, to fingerprint it (bytes: no UTF-8 check, no `String`).
        let mut text = Vec::new();
        for (batch, ids) in batches {
            if self.batches.last().is_some_and(|b| b.batch >= *batch) {
                return Err(corrupt("batches added to the id index out of order"));
            }
            let (first, rows) = (self.next_ordinal as u32, ids.len() as u32);
            self.next_ordinal += u64::from(rows);
            self.batches.push(BatchRows {
                batch: *batch,
                first,
                rows,
                live: 0,
                bits: vec![0; (rows as usize).div_ceil(64)],
            });
            for row in 0..rows {
                text.clear();
                ids.write_id_bytes(row as usize, &mut text);
                let (tag, check) = tag_and_check((self.fingerprint)(&text));
                entries.push((u64::from(tag) << 32 | u64::from(first + row), check));
            }
        }
        // Entries are distinct (each holds its row's ordinal): sorted by entry alone.
        entries.sort_unstable_by_key(|(entry, _)| *entry);
        // Room in each shard for its entries (they come shard by shard).
        let mut counts = [0usize; SHARDS];
        for (entry, _) in &entries {
            counts[shard_of(self::tag(*entry))] += 1;
        }
        for (shard, count) in self.shards.iter_mut().zip(counts) {
            shard.reserve(count);
        }
        self.saved = false;
        let mut loading = Loading { batches, src };
        let mut added = Added::default();
        for (entry, check) in entries {
            let (tag, ordinal) = (self::tag(entry), entry as u32);
            let (b, row) = self
                .position(ordinal)
                .ok_or_else(|| corrupt("the id index lost a batch being added"))?;
            let shard = &mut self.shards[shard_of(tag)];
            let capacity = shard.slots.len();
            let mut i = home(tag, capacity);
            loop {
                let slot = shard.slots[i];
                if slot == EMPTY {
                    shard.slots[i] = entry;
                    shard.checks[i] = check;
                    shard.used += 1;
                    self.live += 1;
                    added.new += 1;
                    break;
                }
                if self::tag(slot) == tag && shard.checks[i] == check {
                    // The same id stored earlier (else another id with this tag).
                    id.clear();
                    loading.write_id(self.batches[b].batch, row, &mut id)?;
                    if let Some((old_b, old_row)) = position_in(&self.batches, slot as u32) {
                        if loading.id_is(self.batches[old_b].batch, old_row, &id)? {
                            shard.slots[i] = entry;
                            let old = &mut self.batches[old_b];
                            if old.is_live(old_row) {
                                old.set(old_row, false);
                                old.live -= 1;
                            }
                            break;
                        }
                    }
                }
                i = if i + 1 == capacity { 0 } else { i + 1 };
            }
            let rows = &mut self.batches[b];
            rows.set(row, true);
            rows.live += 1;
        }
        added.dead = self
            .batches
            .iter()
            .filter(|b| b.live == 0 && b.rows > 0)
            .map(|b| b.batch)
            .collect();
        self.batches.retain(|b| b.live > 0);
        Ok(added)
    }

    /// Every batch holding live rows, in order: its number, rows and live rows.
    pub(crate) fn occupancy(&self) -> Vec<(u64, u32, u32)> {
        self.batches
            .iter()
            .map(|b| (b.batch, b.rows, b.live))
            .collect()
    }

    /// The live rows of every batch holding some, in batch order.
    pub(crate) fn live_rows(&self) -> Vec<(u64, Vec<u32>)> {
        self.batches
            .iter()
            .filter(|b| b.live > 0)
            .map(|b| (b.batch, (0..b.rows).filter(|r| b.is_live(*r)).collect()))
            .collect()
    }
}

/// The batch (index into `batches`) and row of an ordinal.
fn position_in(batches: &[BatchRows], ordinal: u32) -> Option<(usize, u32)> {
    let i = batches
        .partition_point(|b| b.first <= ordinal)
        .checked_sub(1)?;
    let row = ordinal - batches[i].first;
    (row < batches[i].rows).then_some((i, row))
}

fn corrupt(message: &str) -> Error {
    Error::Store {
        path: "(store data)".to_string(),
        message: format!("store data is corrupt or from another layout: {message}"),
    }
}

mod probe;
mod saved;
pub(crate) use probe::Probe;
pub(crate) use saved::CatalogBatch;

#[cfg(test)]
mod tests;
