//! The in-memory store: for tests and for runs without a database.
//!
//! Same structure as the sled store, without the disk: per path, the list of added batches
//! (after duplicate resolution) and an id → (batch, row) index. A replaced row stays in its
//! batch, unreachable. `flush` is a no-op: nothing survives the process.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, RwLock};

use arrow::array::RecordBatch;
use arrow::datatypes::SchemaRef;

use super::{
    extend_base, gather_all, plan_write, relative_paths, scoped, store_err, validate_components,
    ArrowStore, Lookup, RecordPath, Records,
};
use crate::error::Result;
use crate::model::pick_rows;

/// One path's table.
#[derive(Debug)]
struct Table {
    schema: SchemaRef,
    batches: Vec<RecordBatch>,
    /// id → (batch number, row).
    index: BTreeMap<String, (usize, usize)>,
}

type Tables = BTreeMap<Vec<String>, Table>;

/// An [`ArrowStore`] held in memory. Cloning (or [`ArrowStore::at`]) gives another view of
/// the same tables.
#[derive(Debug, Clone, Default)]
pub struct MemoryStore {
    tables: Arc<RwLock<Tables>>,
    base: Vec<String>,
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    fn read(&self) -> Result<std::sync::RwLockReadGuard<'_, Tables>> {
        self.tables
            .read()
            .map_err(|_| store_err("memory", "the store's lock is poisoned"))
    }

    fn write(&self) -> Result<std::sync::RwLockWriteGuard<'_, Tables>> {
        self.tables
            .write()
            .map_err(|_| store_err("memory", "the store's lock is poisoned"))
    }
}

impl ArrowStore for MemoryStore {
    fn base_path(&self) -> &[String] {
        &self.base
    }

    fn add_records(
        &self,
        path: &RecordPath,
        ids: &[String],
        batch: &RecordBatch,
        skip_duplicates: bool,
    ) -> Result<usize> {
        let full = scoped(&self.base, path)?;
        if batch.num_rows() == 0 && ids.is_empty() {
            return Ok(0);
        }
        let mut tables = self.write()?;
        let existing = tables.get(full.components());
        let schema = match existing {
            Some(t) => {
                super::check_schema(&full, &t.schema, batch)?;
                t.schema.clone()
            }
            None => batch.schema(),
        };
        let empty = BTreeMap::new();
        let index = existing.map(|t| &t.index).unwrap_or(&empty);
        let planned = plan_write(&full, &schema, ids, batch, skip_duplicates, &mut |_, id| {
            Ok(index.contains_key(id))
        })?;
        let Some(planned) = planned else {
            return Ok(0);
        };
        let table = tables
            .entry(full.components().to_vec())
            .or_insert_with(|| Table {
                schema,
                batches: Vec::new(),
                index: BTreeMap::new(),
            });
        let number = table.batches.len();
        for (row, id) in planned.ids.into_iter().enumerate() {
            table.index.insert(id, (number, row));
        }
        table.batches.push(planned.batch);
        Ok(planned.new_ids)
    }

    fn get_records(&self, path: &RecordPath, ids: &[String]) -> Result<Lookup> {
        let full = scoped(&self.base, path)?;
        let tables = self.read()?;
        let table = tables.get(full.components());
        let mut seen = std::collections::HashSet::with_capacity(ids.len());
        let mut found_ids = Vec::new();
        let mut missing = Vec::new();
        // Batches referenced, in first-use order, and picks into them.
        let mut used: HashMap<usize, usize> = HashMap::new();
        let mut batches: Vec<&RecordBatch> = Vec::new();
        let mut picks = Vec::new();
        for id in ids {
            if !seen.insert(id.as_str()) {
                continue;
            }
            match table.and_then(|t| t.index.get(id).map(|loc| (t, *loc))) {
                Some((t, (b, row))) => {
                    let slot = *used.entry(b).or_insert_with(|| {
                        batches.push(&t.batches[b]);
                        batches.len() - 1
                    });
                    picks.push((slot, row));
                    found_ids.push(id.clone());
                }
                None => missing.push(id.clone()),
            }
        }
        let found = if picks.is_empty() {
            None
        } else {
            Some(Records {
                ids: found_ids,
                batch: pick_rows(&batches, &picks)?,
            })
        };
        Ok(Lookup { found, missing })
    }

    fn get_all(&self, path: &RecordPath) -> Result<Option<Records>> {
        let full = scoped(&self.base, path)?;
        let tables = self.read()?;
        let Some(table) = tables.get(full.components()) else {
            return Ok(None);
        };
        if table.index.is_empty() {
            return Ok(None);
        }
        let mut live: Vec<(usize, usize, &String)> = table
            .index
            .iter()
            .map(|(id, (b, r))| (*b, *r, id))
            .collect();
        live.sort_unstable();
        let ids = live.iter().map(|(_, _, id)| (*id).clone()).collect();
        let mut groups: Vec<(usize, Vec<u32>)> = Vec::new();
        for (b, r, _) in &live {
            let row = u32::try_from(*r)
                .map_err(|_| store_err(full.to_string(), "row number out of range"))?;
            match groups.last_mut() {
                Some((last, rows)) if *last == *b => rows.push(row),
                _ => groups.push((*b, vec![row])),
            }
        }
        let groups = groups
            .into_iter()
            .map(|(b, rows)| (table.batches[b].clone(), rows))
            .collect();
        Ok(Some(Records {
            ids,
            batch: gather_all(&table.schema, groups)?,
        }))
    }

    fn contains_many(&self, path: &RecordPath, ids: &[String]) -> Result<Vec<bool>> {
        let full = scoped(&self.base, path)?;
        let tables = self.read()?;
        let table = tables.get(full.components());
        Ok(ids
            .iter()
            .map(|id| table.is_some_and(|t| t.index.contains_key(id)))
            .collect())
    }

    fn ids(&self, path: &RecordPath) -> Result<Vec<String>> {
        let full = scoped(&self.base, path)?;
        let tables = self.read()?;
        Ok(tables
            .get(full.components())
            .map(|t| t.index.keys().cloned().collect())
            .unwrap_or_default())
    }

    fn schema(&self, path: &RecordPath) -> Result<Option<SchemaRef>> {
        let full = scoped(&self.base, path)?;
        Ok(self
            .read()?
            .get(full.components())
            .map(|t| t.schema.clone()))
    }

    fn list_paths(&self, prefix: Option<&RecordPath>) -> Result<Vec<RecordPath>> {
        let mut under = self.base.clone();
        if let Some(p) = prefix {
            under.extend(p.components().iter().cloned());
            validate_components(&under, true)?;
        }
        let tables = self.read()?;
        let full = tables
            .keys()
            .filter(|k| k.starts_with(&under) && k.len() >= under.len())
            .cloned();
        Ok(relative_paths(&self.base, full))
    }

    fn flush(&self) -> Result<()> {
        Ok(())
    }

    fn at(&self, components: &[&str]) -> Result<Arc<dyn ArrowStore>> {
        Ok(Arc::new(MemoryStore {
            tables: self.tables.clone(),
            base: extend_base(&self.base, components)?,
        }))
    }
}
