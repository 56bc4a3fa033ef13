//! System-tag evolution shared by the commutative joins (reference §2.8).
//!
//! Join and MergeJoin place their inputs in a *canonical order* (a stable sort by
//! pipeline-hash string), rename every incoming system-tag column by appending
//! `::{first 12 hex of the input's pipeline hash}:{position}`, and, after joining,
//! re-sort per row the values of system-tag columns that share a provenance path but sit
//! at different positions, so that `Op(A, B)` and `Op(B, A)` give identical columns and
//! values.
//!
//! This module only renames and permutes existing values: it must never invent, drop or
//! re-infer the type of a value, and it must never depend on the order in which inputs
//! were given or batches arrived.

use std::collections::BTreeMap;
use std::sync::Arc;

use arrow::array::{Array, ArrayRef};
use arrow::compute::interleave;
use arrow::datatypes::{Field, FieldRef};
use arrow::record_batch::RecordBatch;
use arrow_row::{RowConverter, Rows, SortField};

use super::InputInfo;
use crate::error::{Error, Result};
use crate::hashing::SYSTEM_TAG_HASH_CHARS;
use crate::model::columns::{extend_system_tag, parse_system_tag, RECORD_ID_TAG, SOURCE_ID_TAG};
use crate::model::StreamSchema;

/// The canonical order of `inputs`: argument indices stable-sorted by the string form of
/// each input's pipeline hash. Element `p` is the argument index at canonical position `p`.
pub(super) fn canonical_order(inputs: &[InputInfo]) -> Vec<usize> {
    let keys: Vec<String> = inputs.iter().map(|i| i.pipeline_hash.to_string()).collect();
    let mut order: Vec<usize> = (0..inputs.len()).collect();
    order.sort_by(|&a, &b| keys[a].cmp(&keys[b]));
    order
}

/// The schema of `input` as a join at canonical `position` sees it: identical, except
/// that every system-tag column is renamed `{name}::{hash12}:{position}`.
pub(super) fn extended_schema(input: &InputInfo, position: usize) -> Result<StreamSchema> {
    let hash = input.pipeline_hash.hex_prefix(SYSTEM_TAG_HASH_CHARS);
    let schema = &input.schema;
    let renamed: Vec<FieldRef> = schema
        .system_tag_fields()
        .iter()
        .map(|f| Arc::new(Field::clone(f).with_name(extend_system_tag(f.name(), &hash, position))))
        .collect();
    StreamSchema::new(
        schema.tag_fields().to_vec(),
        schema.packet_fields().to_vec(),
        renamed,
        schema.source_info_fields().to_vec(),
    )
}

/// The system-tag columns at one canonical position of a provenance group.
#[derive(Debug)]
struct Slot {
    /// Column indices of the sort key (`_tag_source_id`, then `_tag_record_id`).
    key: Vec<usize>,
    /// Column indices of every field moved with the key, in the group's field order.
    moved: Vec<usize>,
}

/// Columns sharing one provenance path at two or more positions.
#[derive(Debug)]
struct Group {
    /// One slot per position, in ascending position order.
    slots: Vec<Slot>,
    /// Compares the sort keys of two slots.
    converter: RowConverter,
}

/// Re-sorts, per row, the values of system-tag columns that share a provenance path but
/// sit at different canonical positions (reference §2.8).
///
/// Within a group, each position holds a `(source_id, record_id)` pair (plus any other
/// system-tag fields of that position, which move with it). Per row, the positions are
/// ordered by that pair (ties keep position order) and the values written back to the
/// positions in that order. Columns without a numeric position are never touched.
#[derive(Debug)]
pub(super) struct SystemTagSorter {
    groups: Vec<Group>,
}

impl SystemTagSorter {
    /// Finds the groups to sort in the system-tag columns of `schema`.
    pub(super) fn new(schema: &StreamSchema) -> Result<Self> {
        // provenance path → position → field → column index
        let mut paths: BTreeMap<&str, BTreeMap<usize, BTreeMap<&str, usize>>> = BTreeMap::new();
        let fields = schema.arrow().fields();
        for i in schema.system_tag_range() {
            if let Some(parsed) = parse_system_tag(fields[i].name()) {
                paths
                    .entry(parsed.provenance_path)
                    .or_default()
                    .entry(parsed.position)
                    .or_default()
                    .insert(parsed.field, i);
            }
        }
        let mut groups = Vec::new();
        for positions in paths.values().filter(|p| p.len() > 1) {
            if let Some(group) = build_group(schema, positions)? {
                groups.push(group);
            }
        }
        Ok(SystemTagSorter { groups })
    }

    /// True when no column ever needs re-sorting (all inputs have distinct provenance).
    pub(super) fn is_noop(&self) -> bool {
        self.groups.is_empty()
    }

    /// Applies the per-row sort to a batch of the schema given to [`new`](Self::new).
    pub(super) fn apply(&self, batch: RecordBatch) -> Result<RecordBatch> {
        if self.is_noop() || batch.num_rows() == 0 {
            return Ok(batch);
        }
        let mut columns: Vec<ArrayRef> = batch.columns().to_vec();
        for group in &self.groups {
            sort_group(group, &batch, &mut columns)?;
        }
        Ok(RecordBatch::try_new(batch.schema(), columns)?)
    }
}

/// Builds the group for one provenance path, or `None` when its positions have no
/// sort key in common (nothing to sort by).
fn build_group(
    schema: &StreamSchema,
    positions: &BTreeMap<usize, BTreeMap<&str, usize>>,
) -> Result<Option<Group>> {
    let fields = schema.arrow().fields();
    let common = |name: &str| positions.values().all(|f| f.contains_key(name));
    let key_fields: Vec<&str> = [SOURCE_ID_TAG, RECORD_ID_TAG]
        .into_iter()
        .filter(|f| common(f))
        .collect();
    if key_fields.is_empty() {
        return Ok(None);
    }
    // Fields present at every position move together; a field missing somewhere stays.
    let first = positions
        .values()
        .next()
        .map(|f| f.keys().copied().collect::<Vec<_>>());
    let moved_fields: Vec<&str> = first
        .unwrap_or_default()
        .into_iter()
        .filter(|f| common(f))
        .collect();
    let slots: Vec<Slot> = positions
        .values()
        .map(|f| Slot {
            key: key_fields.iter().map(|k| f[k]).collect(),
            moved: moved_fields.iter().map(|k| f[k]).collect(),
        })
        .collect();
    // Every slot must have the same types for the values to be exchangeable.
    let type_of = |i: usize| fields[i].data_type();
    for slot in &slots[1..] {
        let same =
            |a: &[usize], b: &[usize]| a.iter().zip(b).all(|(&x, &y)| type_of(x) == type_of(y));
        if !same(&slot.key, &slots[0].key) || !same(&slot.moved, &slots[0].moved) {
            return Err(Error::schema(
                "system tags",
                "system-tag columns sharing a provenance path have different types",
            ));
        }
    }
    let converter = RowConverter::new(
        slots[0]
            .key
            .iter()
            .map(|&i| SortField::new(type_of(i).clone()))
            .collect(),
    )?;
    Ok(Some(Group { slots, converter }))
}

/// Sorts one group's values per row, writing the permuted columns into `columns`.
fn sort_group(group: &Group, batch: &RecordBatch, columns: &mut [ArrayRef]) -> Result<()> {
    let keys: Vec<Rows> = group
        .slots
        .iter()
        .map(|s| {
            let key: Vec<ArrayRef> = s.key.iter().map(|&i| batch.column(i).clone()).collect();
            group.converter.convert_columns(&key)
        })
        .collect::<std::result::Result<_, _>>()?;
    let n_slots = group.slots.len();
    let n_rows = batch.num_rows();
    // indices[k][r] = (slot whose values go to slot k, row r)
    let mut indices: Vec<Vec<(usize, usize)>> = vec![Vec::with_capacity(n_rows); n_slots];
    let mut order: Vec<usize> = Vec::with_capacity(n_slots);
    let mut identity = true;
    for row in 0..n_rows {
        order.clear();
        order.extend(0..n_slots);
        order.sort_by(|&a, &b| keys[a].row(row).cmp(&keys[b].row(row)));
        for (k, &from) in order.iter().enumerate() {
            identity &= k == from;
            indices[k].push((from, row));
        }
    }
    if identity {
        return Ok(());
    }
    let n_fields = group.slots[0].moved.len();
    for f in 0..n_fields {
        let sources: Vec<ArrayRef> = group
            .slots
            .iter()
            .map(|s| batch.column(s.moved[f]).clone())
            .collect();
        let refs: Vec<&dyn Array> = sources.iter().map(|a| a.as_ref()).collect();
        for (k, slot) in group.slots.iter().enumerate() {
            columns[slot.moved[f]] = interleave(&refs, &indices[k])?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use arrow::array::{AsArray, Int64Array, LargeStringArray};
    use arrow::datatypes::DataType;

    use super::*;

    fn field(name: &str, data_type: DataType) -> FieldRef {
        Arc::new(Field::new(name, data_type, false))
    }

    fn strings(values: &[&str]) -> ArrayRef {
        Arc::new(LargeStringArray::from(values.to_vec()))
    }

    fn column(batch: &RecordBatch, name: &str) -> Vec<String> {
        batch
            .column_by_name(name)
            .map(|c| {
                c.as_string::<i64>()
                    .iter()
                    .map(|v| v.unwrap_or_default().to_string())
                    .collect()
            })
            .unwrap_or_default()
    }

    #[test]
    fn pairs_sharing_a_provenance_path_are_sorted_per_row() {
        let sys = [
            "_tag_source_id::h::h:0",
            "_tag_record_id::h::h:0",
            "_tag_source_id::h::h:1",
            "_tag_record_id::h::h:1",
            "_tag_source_id::g::g:2",
        ];
        let schema = StreamSchema::new(
            vec![],
            vec![field("x", DataType::Int64)],
            sys.iter().map(|n| field(n, DataType::LargeUtf8)).collect(),
            vec![field("_source_x", DataType::LargeUtf8)],
        )
        .unwrap();
        let batch = RecordBatch::try_new(
            schema.arrow().clone(),
            vec![
                Arc::new(Int64Array::from(vec![1, 2, 3])),
                strings(&["B", "A", "A"]),
                strings(&["row_0", "row_1", "row_0"]),
                strings(&["A", "A", "B"]),
                strings(&["row_5", "row_0", "row_0"]),
                strings(&["Z", "Y", "X"]),
                strings(&["s0", "s1", "s2"]),
            ],
        )
        .unwrap();
        let sorter = SystemTagSorter::new(&schema).unwrap();
        assert!(!sorter.is_noop());
        let out = sorter.apply(batch).unwrap();
        assert_eq!(column(&out, sys[0]), ["A", "A", "A"]);
        assert_eq!(column(&out, sys[1]), ["row_5", "row_0", "row_0"]);
        assert_eq!(column(&out, sys[2]), ["B", "A", "B"]);
        assert_eq!(column(&out, sys[3]), ["row_0", "row_1", "row_0"]);
        // A lone position and non-system columns are untouched.
        assert_eq!(column(&out, sys[4]), ["Z", "Y", "X"]);
        assert_eq!(column(&out, "_source_x"), ["s0", "s1", "s2"]);
    }

    #[test]
    fn distinct_provenance_needs_no_sorting() {
        let schema = StreamSchema::new(
            vec![],
            vec![field("x", DataType::Int64)],
            vec![
                field("_tag_source_id::a::a:0", DataType::LargeUtf8),
                field("_tag_source_id::b::b:1", DataType::LargeUtf8),
                field("_tag_source_id::c", DataType::LargeUtf8),
            ],
            vec![field("_source_x", DataType::LargeUtf8)],
        )
        .unwrap();
        assert!(SystemTagSorter::new(&schema).unwrap().is_noop());
    }
}
