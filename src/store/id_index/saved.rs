//! An [`IdIndex`] saved to a file and read back: what spares the next open of a store
//! reading every id of a path again (ten million ids: about two seconds, against a
//! tenth of one to read the table back). A saved index is a cache, never the truth: the
//! catalog and the batch files are.
//!
//! A saved index names the catalog it mirrors: the path's batch entries (batch number,
//! file number, row count and the file's checksum) when it was saved, which fix every
//! id the path holds and so every slot and live row of its index. It is read back only
//! for exactly those entries, and only whole: a file of another format or fingerprint
//! function, a short or torn file, or a checksum that does not match make
//! [`IdIndex::read_saved`] answer `None`, and the caller builds the index from the
//! batches as before. A lookup still compares every fingerprint match with the id read
//! from its batch, as with a built index.
//!
//! The table is written as each shard's size and its occupied slots in slot order (10
//! bytes per live id, little endian): reading it back places each where an insertion
//! would, and in that order the table is filled front to back with short walks — one
//! pass over the file, a chunk at a time (never the whole file in memory beside the
//! table).
//!
//! It never decides where the file is and never reads the catalog: the caller gives the
//! entries and the streams.

use std::io::{self, Read, Write};

use super::{fingerprint, BatchRows, IdIndex, Shard, EMPTY, SHARDS};
use crate::hashing::in_memory::mix_bytes;

/// The first bytes of a saved index; the last byte is the format's version.
const MAGIC: &[u8; 16] = b"orcapod-idindex\x01";

/// Seeds the running checksum of a saved index.
const SEED: u64 = 0x6964_696e_6465_7831;

/// What a saved index holds of the fingerprint function (its value for a fixed text):
/// an index saved by a build that fingerprints ids otherwise is not read.
fn fingerprint_probe() -> u64 {
    fingerprint(b"orcapod id index fingerprint probe")
}

/// One batch entry of a path's catalog, as a saved index names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct CatalogBatch {
    pub(crate) batch: u64,
    pub(crate) file: u64,
    pub(crate) rows: u64,
    pub(crate) checksum: u64,
}

/// Writes through a running checksum.
struct Summing<W> {
    out: W,
    sum: u64,
}

impl<W: Write> Summing<W> {
    fn put(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.sum = mix_bytes(self.sum, bytes);
        self.out.write_all(bytes)
    }
    fn u64(&mut self, v: u64) -> io::Result<()> {
        self.put(&v.to_le_bytes())
    }
}

/// Reads through a running checksum; any failure (a short file too) is `None`.
struct Checked<R> {
    input: R,
    sum: u64,
}

impl<R: Read> Checked<R> {
    fn take(&mut self, buf: &mut [u8]) -> Option<()> {
        self.input.read_exact(buf).ok()?;
        self.sum = mix_bytes(self.sum, buf);
        Some(())
    }
    fn u64(&mut self) -> Option<u64> {
        let mut b = [0u8; 8];
        self.take(&mut b)?;
        Some(u64::from_le_bytes(b))
    }
    /// A count that must not exceed `max` (a corrupt count must not ask for memory).
    fn count(&mut self, max: u64) -> Option<usize> {
        let n = self.u64()?;
        (n <= max).then_some(n as usize)
    }
}

/// Occupied slots are written and read this many at a time.
const CHUNK: usize = 1 << 14;

/// The bytes of one occupied slot in the file: its entry (tag and ordinal), its check.
const ENTRY: usize = 10;

fn le_u64(b: &[u8]) -> u64 {
    let mut word = [0u8; 8];
    word.copy_from_slice(&b[..8]);
    u64::from_le_bytes(word)
}

impl IdIndex {
    /// Whether the index holds exactly the batches of `catalog` (in order, with their
    /// row counts): only then is it saved, as the index of that catalog. (A batch left
    /// without a live row, not yet removed from the catalog by a flush, is absent from
    /// the index: such an index is not saved.)
    pub(crate) fn mirrors(&self, catalog: &[CatalogBatch]) -> bool {
        self.batches.len() == catalog.len()
            && self
                .batches
                .iter()
                .zip(catalog)
                .all(|(b, c)| b.batch == c.batch && u64::from(b.rows) == c.rows)
    }

    /// Writes the index, as the index of `catalog` (which it [mirrors](Self::mirrors)).
    pub(crate) fn save(&self, catalog: &[CatalogBatch], out: impl Write) -> io::Result<()> {
        let mut w = Summing { out, sum: SEED };
        w.put(MAGIC)?;
        w.u64(fingerprint_probe())?;
        w.u64(catalog.len() as u64)?;
        for c in catalog {
            for v in [c.batch, c.file, c.rows, c.checksum] {
                w.u64(v)?;
            }
        }
        w.u64(self.next_ordinal)?;
        w.u64(self.live as u64)?;
        for b in &self.batches {
            for v in [u64::from(b.first), u64::from(b.live)] {
                w.u64(v)?;
            }
            for word in &b.bits {
                w.u64(*word)?;
            }
        }
        // Each shard's size, then its occupied slots (entry and check) in slot order.
        let mut bytes = Vec::with_capacity(CHUNK * ENTRY);
        for shard in &self.shards {
            w.u64(shard.slots.len() as u64)?;
            w.u64(shard.used as u64)?;
            let occupied = shard.slots.iter().zip(&shard.checks);
            let mut occupied = occupied.filter(|(s, _)| **s != EMPTY).peekable();
            while occupied.peek().is_some() {
                bytes.clear();
                for (slot, check) in occupied.by_ref().take(CHUNK) {
                    bytes.extend_from_slice(&slot.to_le_bytes());
                    bytes.extend_from_slice(&check.to_le_bytes());
                }
                w.put(&bytes)?;
            }
        }
        let sum = w.sum;
        w.out.write_all(&sum.to_le_bytes())?;
        w.out.flush()
    }

    /// The index saved in `input` if it was saved as the index of exactly `catalog` and
    /// reads back whole (see the module docs); else `None`.
    pub(crate) fn read_saved(input: impl Read, catalog: &[CatalogBatch]) -> Option<IdIndex> {
        let mut r = Checked { input, sum: SEED };
        let mut magic = [0u8; 16];
        r.take(&mut magic)?;
        if &magic != MAGIC || r.u64()? != fingerprint_probe() {
            return None;
        }
        if r.count(u64::MAX)? != catalog.len() {
            return None;
        }
        for c in catalog {
            for v in [c.batch, c.file, c.rows, c.checksum] {
                if r.u64()? != v {
                    return None;
                }
            }
        }
        let stored: u64 = catalog.iter().map(|c| c.rows).sum();
        let mut index = IdIndex {
            next_ordinal: r.u64()?,
            live: r.count(stored)?,
            ..IdIndex::default()
        };
        for c in catalog {
            let rows = u32::try_from(c.rows).ok()?;
            let first = u32::try_from(r.u64()?).ok()?;
            let live = u32::try_from(r.count(c.rows)?).ok()?;
            let mut bits = vec![0u64; (rows as usize).div_ceil(64)];
            for word in &mut bits {
                *word = r.u64()?;
            }
            index.batches.push(BatchRows {
                batch: c.batch,
                first,
                rows,
                live,
                bits,
            });
        }
        // A table is at most twice as large as its ids need (it is grown by a quarter
        // past 80% full), plus the smallest shard size.
        let most = stored.saturating_mul(2) / SHARDS as u64 + 128;
        let mut bytes = vec![0u8; CHUNK * ENTRY];
        for shard in index.shards.iter_mut() {
            let capacity = r.count(most)?;
            let used = r.count(capacity as u64 * 4 / 5)?;
            let mut read = Shard {
                slots: vec![EMPTY; capacity],
                checks: vec![0; capacity],
                used,
            };
            let mut placed = 0;
            while placed < used {
                let n = (used - placed).min(CHUNK);
                let chunk = &mut bytes[..n * ENTRY];
                r.take(chunk)?;
                for entry in chunk.chunks_exact(ENTRY) {
                    let slot = le_u64(&entry[..8]);
                    if slot == EMPTY {
                        return None;
                    }
                    // In slot order, the walk from each entry's home is short and the
                    // table is filled front to back.
                    read.place(slot, u16::from_le_bytes([entry[8], entry[9]]));
                }
                placed += n;
            }
            *shard = read;
        }
        let sum = r.sum;
        let mut end = [0u8; 8];
        r.input.read_exact(&mut end).ok()?;
        // Nothing may follow the checksum.
        let mut more = [0u8; 1];
        let trailing = r.input.read(&mut more).ok()?;
        let used: usize = index.shards.iter().map(|s| s.used).sum();
        index.saved = true;
        (u64::from_le_bytes(end) == sum && trailing == 0 && used == index.live).then_some(index)
    }
}
