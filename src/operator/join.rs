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
//! and values, in their own order of user columns ([`listed_order`]).
//!
//! These operators must never depend on the order of their arguments beyond that column
//! order, never re-infer a type from values, and never fail on empty inputs.

use std::collections::hash_map::{Entry, HashMap};
use std::hash::{BuildHasherDefault, Hash, Hasher};
use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray, LargeListArray, UInt32Array};
use arrow::buffer::OffsetBuffer;
use arrow::compute::{interleave, take};
use arrow::datatypes::{DataType, Field, FieldRef, Int64Type, UInt64Type};
use arrow::record_batch::RecordBatch;
use arrow_row::{RowConverter, Rows, SortField};

use super::int_keys::IntKeyIndex;
use super::keys::{key_hash, InlineKey, PrehashedKey};
use super::system_tags::{canonical_order, extended_schema, SystemTagSorter};
use super::{InputInfo, Operator};
use crate::error::{Error, Result};
use crate::model::columns::source_info_column;
use crate::model::StreamSchema;

/// One of the two inputs of a binary join.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Side {
    /// The canonically first input (or the accumulated result of a chain).
    Left = 0,
    /// The canonically second input.
    Right = 1,
}

impl Side {
    fn index(self) -> usize {
        self as usize
    }

    fn other(self) -> Side {
        match self {
            Side::Left => Side::Right,
            Side::Right => Side::Left,
        }
    }
}

/// Where a gathered column comes from: a side and a column index in that side's batches.
type ColumnSource = (Side, usize);

/// "No entry" in the chains of a [`KeyIndex`].
const NONE: u32 = u32::MAX;

/// The longest encoded key the join index holds inline (an `Int64` key encodes to 9
/// bytes).
const SHORT_KEY_BYTES: usize = 15;

/// A join key held inline.
type ShortKey = InlineKey<SHORT_KEY_BYTES>;

/// The rows of one side sharing one key (or, for long keys, one key hash), in arrival
/// order: the first inline, the others as a linked list of entries.
#[derive(Clone, Copy)]
struct Chain {
    first: (u32, u32),
    more: u32,
    last: u32,
}

impl Chain {
    const EMPTY: Chain = Chain {
        first: (NONE, NONE),
        more: NONE,
        last: NONE,
    };
}

/// The index of a symmetric hash join, shared by both sides: key → the (batch, row) of
/// the rows of each side holding it. One lookup per arriving row finds the other side's
/// matches and appends the row to its own side's chain. Rows after the first of a chain
/// are entries `(batch, row, next)`; nothing is allocated per key.
struct KeyIndex<K> {
    heads: HashMap<K, [Chain; 2], BuildHasherDefault<PrehashedKey>>,
    entries: Vec<(u32, u32, u32)>,
}

impl<K> Default for KeyIndex<K> {
    fn default() -> Self {
        KeyIndex {
            heads: HashMap::default(),
            entries: Vec::new(),
        }
    }
}

impl<K: Hash + Eq> KeyIndex<K> {
    /// Calls `found` with the (batch, row) of every row of side `other` on the chain of
    /// `key`, in arrival order; then, when `keep`, appends `(batch, row)` to the chain of
    /// side `1 - other`.
    fn probe_and_insert(
        &mut self,
        key: K,
        other: usize,
        keep: Option<(u32, u32)>,
        mut found: impl FnMut((u32, u32)),
    ) {
        let entries = &mut self.entries;
        let mut walk = |chain: &Chain, entries: &Vec<(u32, u32, u32)>| {
            if chain.first.0 == NONE {
                return;
            }
            found(chain.first);
            let mut next = chain.more;
            while next != NONE {
                let (batch, row, following) = entries[next as usize];
                found((batch, row));
                next = following;
            }
        };
        match self.heads.entry(key) {
            Entry::Occupied(mut occupied) => {
                let chains = occupied.get_mut();
                walk(&chains[other], entries);
                if let Some(at) = keep {
                    append(&mut chains[1 - other], entries, at);
                }
            }
            Entry::Vacant(vacant) => {
                if let Some(at) = keep {
                    let mut chains = [Chain::EMPTY; 2];
                    chains[1 - other].first = at;
                    vacant.insert(chains);
                }
            }
        }
    }
}

/// Appends `at` to `chain`.
fn append(chain: &mut Chain, entries: &mut Vec<(u32, u32, u32)>, at: (u32, u32)) {
    if chain.first.0 == NONE {
        chain.first = at;
        return;
    }
    let entry = entries.len() as u32;
    entries.push((at.0, at.1, NONE));
    match chain.last {
        NONE => chain.more = entry,
        last => entries[last as usize].2 = entry,
    }
    chain.last = entry;
}

/// Hashes a long key for a [`KeyIndex`] keyed by hash.
#[derive(Clone, Copy, PartialEq, Eq)]
struct KeyHash(u64);

impl Hash for KeyHash {
    fn hash<H: Hasher>(&self, state: &mut H) {
        state.write_u64(self.0);
    }
}

/// The rows one side of a symmetric hash join has seen, indexed by join key.
#[derive(Default)]
struct SideState {
    /// Stored batches (only while the other side may still send rows).
    batches: Vec<RecordBatch>,
    /// The encoded keys of each stored batch (only with [`KeyEncoding::Rows`]).
    keys: Vec<Rows>,
    /// The number of the first row of each stored batch in the [`IntKeyIndex`] (only
    /// with [`KeyEncoding::Int`]).
    starts: Vec<u32>,
    /// Indices of this side's key columns, in key order.
    key_columns: Vec<usize>,
    /// No more batches will arrive on this side.
    finished: bool,
}

impl SideState {
    /// The stored batch and row of the row numbered `number` in the [`IntKeyIndex`].
    fn locate(&self, number: u32) -> (u32, u32) {
        let batch = self.starts.partition_point(|&s| s <= number) - 1;
        (batch as u32, number - self.starts[batch])
    }

    /// The encoded key of a stored row (empty without keys).
    fn key(&self, batch: u32, row: u32) -> &[u8] {
        match self.keys.get(batch as usize) {
            Some(rows) => rows.row(row as usize).data(),
            None => &[],
        }
    }
}

/// The integer-key probe first loads the table slots of this many rows, then probes
/// them ([`IntKeyIndex::warm`]).
const WARM_ROWS: usize = 256;

/// How a join's key columns become index keys.
enum KeyEncoding {
    /// No keys: a Cartesian product (every row has the empty key).
    None,
    /// One integer key column: its value, in the [`IntKeyIndex`].
    Int,
    /// Anything else: `arrow-row` bytes, in the byte-keyed indexes.
    Rows(RowConverter),
}

/// A binary symmetric hash join over Arrow batches.
///
/// Each pushed batch is probed against the other side's index and (while the other side
/// has not finished) indexed itself; every match is gathered at once into the columns
/// named by `gather`.
struct HashJoinCore {
    sides: [SideState; 2],
    /// Short key → the stored rows of each side with that key.
    short: KeyIndex<ShortKey>,
    /// Key hash → the stored rows of each side with a longer key of that hash (the bytes
    /// are compared with the stored rows' keys).
    long: KeyIndex<KeyHash>,
    /// One integer key → the stored rows of each side with that key.
    int: IntKeyIndex,
    /// How keys are encoded, and so which index holds them.
    encoding: KeyEncoding,
    /// The columns to gather for each match, in output order.
    gather: Vec<ColumnSource>,
}

impl HashJoinCore {
    /// A join of `left` and `right` on the columns named `keys` (present on both sides,
    /// with equal types) that gathers the columns in `gather`.
    fn new(
        left: &StreamSchema,
        right: &StreamSchema,
        keys: &[String],
        gather: Vec<ColumnSource>,
    ) -> Result<Self> {
        let key_columns = |schema: &StreamSchema| -> Result<Vec<usize>> {
            keys.iter()
                .map(|k| Ok(schema.arrow().index_of(k)?))
                .collect()
        };
        let left_keys = key_columns(left)?;
        let key_type = |i: usize| left.arrow().field(i).data_type().clone();
        let encoding = match left_keys[..] {
            [] => KeyEncoding::None,
            [only] if key_type(only).is_integer() => KeyEncoding::Int,
            _ => KeyEncoding::Rows(RowConverter::new(
                left_keys
                    .iter()
                    .map(|&i| SortField::new(key_type(i)))
                    .collect(),
            )?),
        };
        Ok(HashJoinCore {
            sides: [
                SideState {
                    key_columns: left_keys,
                    ..Default::default()
                },
                SideState {
                    key_columns: key_columns(right)?,
                    ..Default::default()
                },
            ],
            short: KeyIndex::default(),
            long: KeyIndex::default(),
            int: IntKeyIndex::default(),
            encoding,
            gather,
        })
    }

    /// Accepts a batch on `side`; returns the gathered columns of its matches, if any.
    fn push(&mut self, side: Side, batch: RecordBatch) -> Result<Option<Vec<ArrayRef>>> {
        if self.sides[side.index()].finished {
            return Err(Error::internal(
                "join: a batch arrived after its input finished",
            ));
        }
        if batch.num_rows() == 0 {
            return Ok(None);
        }
        if batch.num_rows() >= NONE as usize
            || self.sides[side.index()].batches.len() >= NONE as usize
            || self.int.next_row(side.index()) + batch.num_rows() >= NONE as usize
        {
            return Err(Error::invalid(
                "join",
                "too many rows in one batch or on one side",
            ));
        }
        let key_arrays: Vec<ArrayRef> = self.sides[side.index()]
            .key_columns
            .iter()
            .map(|&i| batch.column(i).clone())
            .collect();
        let rows = match &self.encoding {
            KeyEncoding::Rows(converter) => Some(converter.convert_columns(&key_arrays)?),
            KeyEncoding::None | KeyEncoding::Int => None,
        };
        let valid = key_validity(&key_arrays, batch.num_rows());
        let keep = !self.sides[side.other().index()].finished;
        let first_number = self.int.next_row(side.index()) as u32;
        let (this_rows, other_rows) = match self.encoding {
            KeyEncoding::Int => {
                let values = int_key_values(&key_arrays[0])?;
                self.probe_and_index_int(side, &values, &valid, keep)
            }
            _ => self.probe_and_index(side, rows.as_ref(), &valid, keep),
        };
        let output = if this_rows.is_empty() {
            None
        } else {
            Some(self.gather(side, &batch, &this_rows, &other_rows)?)
        };
        if keep {
            let this = &mut self.sides[side.index()];
            this.batches.push(batch);
            if let Some(rows) = rows {
                this.keys.push(rows);
            }
            if let KeyEncoding::Int = self.encoding {
                this.starts.push(first_number);
            }
        }
        Ok(output)
    }

    /// [`HashJoinCore::probe_and_index`] for one integer key column, whose values
    /// (arbitrary where not `valid`) are `values`.
    fn probe_and_index_int(
        &mut self,
        side: Side,
        values: &[u64],
        valid: &[bool],
        keep: bool,
    ) -> (Vec<u32>, Vec<(u32, u32)>) {
        let other = &self.sides[side.other().index()];
        let mut this_rows = Vec::with_capacity(values.len());
        let mut other_rows = Vec::with_capacity(values.len());
        let mut found = Vec::new();
        for (row, (&value, &valid)) in values.iter().zip(valid).enumerate() {
            if row % WARM_ROWS == 0 {
                self.int
                    .warm(&values[row..values.len().min(row + WARM_ROWS)]);
            }
            if !valid {
                if keep {
                    self.int.skip_row(side.index());
                }
                continue;
            }
            found.clear();
            self.int
                .probe_and_insert(value, side.index(), keep, &mut found);
            for &number in &found {
                this_rows.push(row as u32);
                other_rows.push(other.locate(number));
            }
        }
        (this_rows, other_rows)
    }

    /// Probes each valid row of a new batch on `side` against the other side's index and,
    /// when `keep`, indexes it. Returns the matches as (new row, (other batch, other row)).
    fn probe_and_index(
        &mut self,
        side: Side,
        rows: Option<&Rows>,
        valid: &[bool],
        keep: bool,
    ) -> (Vec<u32>, Vec<(u32, u32)>) {
        let other_side = side.other().index();
        let [left, right] = &self.sides;
        let (this, other) = match side {
            Side::Left => (left, right),
            Side::Right => (right, left),
        };
        let batch_index = this.batches.len() as u32;
        let mut this_rows = Vec::new();
        let mut other_rows = Vec::new();
        for (row, _) in valid.iter().enumerate().filter(|(_, v)| **v) {
            let key: &[u8] = rows.map_or(&[], |r| r.row(row).data());
            let at = keep.then_some((batch_index, row as u32));
            let mut found = |m: (u32, u32)| {
                this_rows.push(row as u32);
                other_rows.push(m);
            };
            match ShortKey::new(key) {
                Some(short) => self.short.probe_and_insert(short, other_side, at, found),
                None => {
                    let hash = KeyHash(key_hash(key));
                    self.long.probe_and_insert(hash, other_side, at, |(b, r)| {
                        // Distinct long keys may share a hash: compare the bytes.
                        if other.key(b, r) == key {
                            found((b, r));
                        }
                    });
                }
            }
        }
        (this_rows, other_rows)
    }

    /// Gathers the output columns of the matches of a new batch on `side`.
    fn gather(
        &self,
        side: Side,
        batch: &RecordBatch,
        this_rows: &[u32],
        other_rows: &[(u32, u32)],
    ) -> Result<Vec<ArrayRef>> {
        let take_indices = UInt32Array::from(this_rows.to_vec());
        let other = &self.sides[side.other().index()];
        // Only the stored batches the matches come from take part in `interleave`.
        let mut used: Vec<u32> = other_rows.iter().map(|&(b, _)| b).collect();
        used.sort_unstable();
        used.dedup();
        let other_indices: Vec<(usize, usize)> = other_rows
            .iter()
            .map(|&(b, r)| {
                let slot = used.binary_search(&b).expect("a used batch");
                (slot, r as usize)
            })
            .collect();
        self.gather
            .iter()
            .map(|&(from, column)| {
                if from == side {
                    Ok(take(batch.column(column).as_ref(), &take_indices, None)?)
                } else if used.len() == 1 {
                    let source = other.batches[used[0] as usize].column(column);
                    let rows =
                        UInt32Array::from_iter_values(other_indices.iter().map(|&(_, r)| r as u32));
                    Ok(take(source.as_ref(), &rows, None)?)
                } else {
                    let arrays: Vec<&dyn Array> = used
                        .iter()
                        .map(|&b| other.batches[b as usize].column(column).as_ref())
                        .collect();
                    Ok(interleave(&arrays, &other_indices)?)
                }
            })
            .collect()
    }

    /// Signals that `side` has ended: the other side's stored rows can never match again
    /// and are dropped, and its future rows are no longer stored.
    fn finish(&mut self, side: Side) {
        self.sides[side.index()].finished = true;
        let other = &mut self.sides[side.other().index()];
        other.batches = Vec::new();
        other.keys = Vec::new();
        other.starts = Vec::new();
        self.int.release(side.other().index());
        // The index keeps the other side's chains (a few bytes per key, never read
        // again) until both sides have ended.
        if self.sides.iter().all(|s| s.finished) {
            self.short = KeyIndex::default();
            self.long = KeyIndex::default();
            self.int = IntKeyIndex::default();
        }
    }

    /// Both sides have ended.
    fn is_finished(&self) -> bool {
        self.sides.iter().all(|s| s.finished)
    }
}

/// The values of an integer key column as `u64` (the bits of an `Int64`), so equal keys
/// give equal values; values under nulls are arbitrary.
fn int_key_values(array: &ArrayRef) -> Result<Vec<u64>> {
    Ok(match array.data_type() {
        DataType::UInt64 => array.as_primitive::<UInt64Type>().values().to_vec(),
        DataType::Int64 => as_u64(array),
        // Every other integer type fits in an Int64 without loss.
        _ => as_u64(&arrow::compute::cast(array, &DataType::Int64)?),
    })
}

fn as_u64(int64: &ArrayRef) -> Vec<u64> {
    int64
        .as_primitive::<Int64Type>()
        .values()
        .iter()
        .map(|&v| v as u64)
        .collect()
}

/// For each row, whether every key column is non-null there (null keys never match).
fn key_validity(keys: &[ArrayRef], rows: usize) -> Vec<bool> {
    let mut valid = vec![true; rows];
    for key in keys.iter().filter(|k| k.null_count() > 0) {
        for (row, v) in valid.iter_mut().enumerate() {
            *v &= key.is_valid(row);
        }
    }
    valid
}

/// Rejects a name that is a user tag on one side and a packet column on the other.
fn check_roles(operator: &str, left: &StreamSchema, right: &StreamSchema) -> Result<()> {
    let clash = |tags: &StreamSchema, packets: &StreamSchema| {
        let packet_names = packets.packet_names();
        tags.tag_names()
            .into_iter()
            .find(|t| packet_names.contains(t))
    };
    match clash(left, right).or_else(|| clash(right, left)) {
        Some(name) => Err(Error::schema(
            operator,
            format!("column `{name}` is a user tag of one input and a packet column of another"),
        )),
        None => Ok(()),
    }
}

/// The user tags of a binary join: the join keys (tag names both sides share, in left
/// order, with equal types), and the output tag fields (left tags, then the right's new
/// ones) with where each comes from. A key is nullable only if it is on both sides.
fn join_tags(
    operator: &str,
    left: &StreamSchema,
    right: &StreamSchema,
) -> Result<(Vec<String>, Vec<FieldRef>, Vec<ColumnSource>)> {
    let mut keys = Vec::new();
    let mut fields = Vec::new();
    let mut gather = Vec::new();
    for (i, field) in left.tag_fields().iter().enumerate() {
        let column = left.tag_range().start + i;
        match right.tag_fields().iter().find(|f| f.name() == field.name()) {
            Some(other) if other.data_type() != field.data_type() => {
                return Err(Error::schema(
                    operator,
                    format!(
                        "tag column `{}` has incompatible types: {} and {}",
                        field.name(),
                        field.data_type(),
                        other.data_type()
                    ),
                ));
            }
            Some(other) => {
                keys.push(field.name().clone());
                let nullable = field.is_nullable() && other.is_nullable();
                fields.push(Arc::new(Field::clone(field).with_nullable(nullable)));
            }
            None => fields.push(field.clone()),
        }
        gather.push((Side::Left, column));
    }
    let left_names = left.tag_names();
    for (i, field) in right.tag_fields().iter().enumerate() {
        if !left_names.contains(field.name()) {
            fields.push(field.clone());
            gather.push((Side::Right, right.tag_range().start + i));
        }
    }
    Ok((keys, fields, gather))
}

/// The fields in `range` of `schema`, and where they come from (`side`).
fn pass_fields(
    schema: &StreamSchema,
    range: std::ops::Range<usize>,
    side: Side,
) -> (Vec<FieldRef>, Vec<ColumnSource>) {
    let fields = schema.arrow().fields()[range.clone()].to_vec();
    (fields, range.map(|i| (side, i)).collect())
}

/// A binary join step of a [`Join`]: its output schema and its hash join.
struct JoinStep {
    schema: Arc<StreamSchema>,
    core: HashJoinCore,
}

impl JoinStep {
    /// Joins `left` and `right` (system tags already renamed; packets disjoint).
    fn new(left: &StreamSchema, right: &StreamSchema) -> Result<Self> {
        check_roles("Join", left, right)?;
        let (keys, tags, mut gather) = join_tags("Join", left, right)?;
        let mut groups: [Vec<FieldRef>; 3] = Default::default();
        let ranges = [
            StreamSchema::packet_range,
            StreamSchema::system_tag_range,
            StreamSchema::source_info_range,
        ];
        for (group, range) in groups.iter_mut().zip(ranges) {
            for (schema, side) in [(left, Side::Left), (right, Side::Right)] {
                let (fields, sources) = pass_fields(schema, range(schema), side);
                group.extend(fields);
                gather.extend(sources);
            }
        }
        let [packets, system_tags, source_info] = groups;
        let schema = Arc::new(StreamSchema::new(tags, packets, system_tags, source_info)?);
        let core = HashJoinCore::new(left, right, &keys, gather)?;
        Ok(JoinStep { schema, core })
    }

    /// Puts the output columns in the order `order` (output column `k` is the column
    /// `order[k]` of the current output), changing nothing else.
    fn reorder(&mut self, order: &[usize]) -> Result<()> {
        self.schema = Arc::new(permuted_schema(&self.schema, order)?);
        self.core.gather = order.iter().map(|&i| self.core.gather[i]).collect();
        Ok(())
    }

    /// Pushes a batch on `side`; returns the matched rows as a batch, if any.
    fn push(&mut self, side: Side, batch: RecordBatch) -> Result<Option<RecordBatch>> {
        match self.core.push(side, batch)? {
            Some(columns) => Ok(Some(RecordBatch::try_new(
                self.schema.arrow().clone(),
                columns,
            )?)),
            None => Ok(None),
        }
    }
}

/// How a [`Join`] processes its inputs.
enum JoinPlan {
    /// One input: batches pass through unchanged.
    PassThrough,
    /// Two or more inputs: a chain of binary joins in canonical order.
    Chain {
        /// Step `j` joins the result of step `j - 1` (or canonical input 0) with
        /// canonical input `j + 1`.
        steps: Vec<JoinStep>,
        /// For each port (argument index), the step and side it feeds.
        route: Vec<(usize, Side)>,
        /// Per-row sort of the system tags of the final output.
        sorter: SystemTagSorter,
    },
}

/// The running join (N ≥ 1 inputs, commutative).
pub(super) struct Join {
    output: Arc<StreamSchema>,
    plan: JoinPlan,
    ready: Vec<RecordBatch>,
}

impl Join {
    /// Validates the inputs and predicts the output schema.
    pub(super) fn new(inputs: &[InputInfo]) -> Result<Self> {
        match inputs {
            [] => Err(Error::schema("Join", "takes at least one input, got 0")),
            [only] => Ok(Join {
                output: only.schema.clone(),
                plan: JoinPlan::PassThrough,
                ready: Vec::new(),
            }),
            _ => Join::chain(inputs),
        }
    }

    /// Builds the chain of binary joins over two or more inputs.
    fn chain(inputs: &[InputInfo]) -> Result<Self> {
        check_disjoint_packets(inputs)?;
        let order = canonical_order(inputs);
        let schemas: Vec<StreamSchema> = order
            .iter()
            .enumerate()
            .map(|(position, &arg)| extended_schema(&inputs[arg], position))
            .collect::<Result<_>>()?;
        let mut steps: Vec<JoinStep> = Vec::with_capacity(schemas.len() - 1);
        for right in &schemas[1..] {
            let step = match steps.last() {
                Some(previous) => JoinStep::new(&previous.schema, right)?,
                None => JoinStep::new(&schemas[0], right)?,
            };
            steps.push(step);
        }
        // The fold runs in canonical order; only the last step's output columns are put
        // in the order the inputs are listed.
        if let Some(last) = steps.last_mut() {
            let placement = listed_order(&last.schema, inputs)?;
            last.reorder(&placement)?;
        }
        let mut route = vec![(0, Side::Left); inputs.len()];
        for (position, &arg) in order.iter().enumerate() {
            route[arg] = match position {
                0 => (0, Side::Left),
                p => (p - 1, Side::Right),
            };
        }
        let output = steps
            .last()
            .map(|s| s.schema.clone())
            .ok_or_else(|| Error::internal("join chain without steps"))?;
        let sorter = SystemTagSorter::new(&output)?;
        Ok(Join {
            output,
            plan: JoinPlan::Chain {
                steps,
                route,
                sorter,
            },
            ready: Vec::new(),
        })
    }
}

/// Rejects packet column names shared by any two inputs.
fn check_disjoint_packets(inputs: &[InputInfo]) -> Result<()> {
    let mut overlap: Vec<String> = Vec::new();
    for (i, a) in inputs.iter().enumerate() {
        let names = a.schema.packet_names();
        for b in &inputs[i + 1..] {
            for name in b.schema.packet_names() {
                if names.contains(&name) && !overlap.contains(&name) {
                    overlap.push(name);
                }
            }
        }
    }
    if overlap.is_empty() {
        return Ok(());
    }
    overlap.sort();
    Err(Error::schema(
        "Join",
        format!(
            "packets should not have overlapping keys: {}",
            overlap.join(", ")
        ),
    ))
}

/// The names of `names(input)` over `inputs` as an ordered union: the first input's in
/// its order, then each next input's names not seen yet.
fn listed_union(inputs: &[InputInfo], names: fn(&StreamSchema) -> Vec<String>) -> Vec<String> {
    let mut union: Vec<String> = Vec::new();
    for input in inputs {
        for name in names(&input.schema) {
            if !union.contains(&name) {
                union.push(name);
            }
        }
    }
    union
}

/// The user-visible column order of the output of a join of `inputs` (in the order they
/// are listed) whose columns, as the canonical fold builds them, are `canonical`: user
/// tags as the ordered union of the inputs' tags in listed order, packets likewise, the
/// system tags where they are, and one source-info column per packet in packet order.
/// Element `k` is the index in `canonical` of output column `k`; every column of
/// `canonical` appears exactly once.
fn listed_order(canonical: &StreamSchema, inputs: &[InputInfo]) -> Result<Vec<usize>> {
    let arrow = canonical.arrow();
    let find = |name: &str, range: std::ops::Range<usize>| -> Result<usize> {
        match arrow.index_of(name) {
            Ok(i) if range.contains(&i) => Ok(i),
            _ => Err(Error::internal(format!(
                "join: the output lacks the input column `{name}`"
            ))),
        }
    };
    let tags = listed_union(inputs, StreamSchema::tag_names);
    let packets = listed_union(inputs, StreamSchema::packet_names);
    let mut order = Vec::with_capacity(arrow.fields().len());
    for name in &tags {
        order.push(find(name, canonical.tag_range())?);
    }
    for name in &packets {
        order.push(find(name, canonical.packet_range())?);
    }
    order.extend(canonical.system_tag_range());
    for name in &packets {
        order.push(find(
            &source_info_column(name),
            canonical.source_info_range(),
        )?);
    }
    let mut seen = vec![false; arrow.fields().len()];
    for &i in &order {
        seen[i] = true;
    }
    if order.len() != seen.len() || seen.contains(&false) {
        return Err(Error::internal(
            "join: the listed column order is not a permutation of the output columns",
        ));
    }
    Ok(order)
}

/// `schema` with its columns in the order `order` (see [`listed_order`]).
fn permuted_schema(schema: &StreamSchema, order: &[usize]) -> Result<StreamSchema> {
    let fields = schema.arrow().fields();
    let pick = |range: std::ops::Range<usize>| -> Vec<FieldRef> {
        order
            .iter()
            .filter(|i| range.contains(i))
            .map(|&i| fields[i].clone())
            .collect()
    };
    StreamSchema::new(
        pick(schema.tag_range()),
        pick(schema.packet_range()),
        pick(schema.system_tag_range()),
        pick(schema.source_info_range()),
    )
}

/// Looks up the route of `port`.
fn route_of<T: Copy>(route: &[T], port: usize) -> Result<T> {
    route
        .get(port)
        .copied()
        .ok_or_else(|| Error::internal(format!("join: no input port {port}")))
}

impl Operator for Join {
    fn output_schema(&self) -> &Arc<StreamSchema> {
        &self.output
    }

    fn push(&mut self, port: usize, batch: RecordBatch) -> Result<()> {
        let (steps, route, sorter) = match &mut self.plan {
            JoinPlan::PassThrough => {
                self.ready.push(batch);
                return Ok(());
            }
            JoinPlan::Chain {
                steps,
                route,
                sorter,
            } => (steps, route, sorter),
        };
        let (mut step, mut side) = route_of(route, port)?;
        let mut batch = batch;
        while let Some(out) = steps[step].push(side, batch)? {
            if step + 1 == steps.len() {
                self.ready.push(sorter.apply(out)?);
                break;
            }
            (step, side, batch) = (step + 1, Side::Left, out);
        }
        Ok(())
    }

    fn finish(&mut self, port: usize) -> Result<()> {
        let JoinPlan::Chain { steps, route, .. } = &mut self.plan else {
            return Ok(());
        };
        let (mut step, mut side) = route_of(route, port)?;
        loop {
            steps[step].core.finish(side);
            if !steps[step].core.is_finished() || step + 1 == steps.len() {
                return Ok(());
            }
            (step, side) = (step + 1, Side::Left);
        }
    }

    fn take_output(&mut self) -> Vec<RecordBatch> {
        std::mem::take(&mut self.ready)
    }
}

/// A packet column present on both sides of a [`MergeJoin`].
struct Collision {
    /// Gathered indices of the left value, right value, left source, right source.
    gathered: [usize; 4],
    /// Output column indices of the merged value and merged source info.
    output: [usize; 2],
    /// Item fields of the two output lists (value, source info).
    items: [FieldRef; 2],
    /// Encodes values for comparison.
    converter: RowConverter,
}

/// Where a [`MergeJoin`] output column comes from.
enum Piece {
    /// A gathered column, unchanged.
    Copy(usize),
    /// Filled by a [`Collision`].
    Merged,
}

/// The running merge join (2 inputs, commutative).
pub(super) struct MergeJoin {
    output: Arc<StreamSchema>,
    core: HashJoinCore,
    /// For each port (argument index), the side it feeds.
    route: [Side; 2],
    pieces: Vec<Piece>,
    collisions: Vec<Collision>,
    sorter: SystemTagSorter,
    /// Orders equal values when both inputs share a provenance path.
    tie_break: Option<TieBreak>,
    ready: Vec<RecordBatch>,
}

/// Orders the two values of a merged column when they are equal and both inputs have
/// the same pipeline hash (so canonical order is just argument order): by each side's
/// system-tag values, as the per-row system-tag sort does, so that
/// `MergeJoin(A, B)` equals `MergeJoin(B, A)` even then.
struct TieBreak {
    /// Gathered indices of the left and right system-tag columns.
    left: Vec<usize>,
    right: Vec<usize>,
    converter: RowConverter,
}

impl TieBreak {
    /// A tie-break over the system tags of `left` and `right`, if they are exchangeable.
    fn new(
        left: &StreamSchema,
        right: &StreamSchema,
        layout: &mut MergeLayout,
    ) -> Result<Option<Self>> {
        let types = |s: &StreamSchema| -> Vec<DataType> {
            s.system_tag_fields()
                .iter()
                .map(|f| f.data_type().clone())
                .collect()
        };
        if types(left) != types(right) || types(left).is_empty() {
            return Ok(None);
        }
        let converter = RowConverter::new(types(left).into_iter().map(SortField::new).collect())?;
        let left_idx = left
            .system_tag_range()
            .map(|i| layout.gather_only((Side::Left, i)))
            .collect();
        let right_idx = right
            .system_tag_range()
            .map(|i| layout.gather_only((Side::Right, i)))
            .collect();
        Ok(Some(TieBreak {
            left: left_idx,
            right: right_idx,
            converter,
        }))
    }

    /// For each row, whether the right side's provenance sorts before the left's.
    fn right_first(&self, gathered: &[ArrayRef]) -> Result<Vec<bool>> {
        let pick =
            |idx: &[usize]| -> Vec<ArrayRef> { idx.iter().map(|&g| gathered[g].clone()).collect() };
        let l = self.converter.convert_columns(&pick(&self.left))?;
        let r = self.converter.convert_columns(&pick(&self.right))?;
        Ok((0..l.num_rows())
            .map(|row| r.row(row) < l.row(row))
            .collect())
    }
}

/// The item field of the two-element lists of a merged column.
fn list_item(data_type: &DataType) -> FieldRef {
    Arc::new(Field::new("item", data_type.clone(), true))
}

/// The builder of a [`MergeJoin`]'s layout: output fields, gathered columns, pieces.
#[derive(Default)]
struct MergeLayout {
    fields: [Vec<FieldRef>; 4],
    gather: Vec<ColumnSource>,
    pieces: [Vec<Piece>; 4],
}

impl MergeLayout {
    /// Adds an output column of group `group` copied from `source`.
    fn copy(&mut self, group: usize, field: FieldRef, source: ColumnSource) {
        self.fields[group].push(field);
        self.pieces[group].push(Piece::Copy(self.gather.len()));
        self.gather.push(source);
    }

    /// Gathers `source` without an output column of its own; returns its index.
    fn gather_only(&mut self, source: ColumnSource) -> usize {
        self.gather.push(source);
        self.gather.len() - 1
    }
}

impl MergeJoin {
    /// Validates the inputs and predicts the output schema.
    pub(super) fn new(inputs: &[InputInfo]) -> Result<Self> {
        const OP: &str = "MergeJoin";
        if inputs.len() != 2 {
            return Err(Error::schema(
                OP,
                format!("takes exactly two inputs, got {}", inputs.len()),
            ));
        }
        let order = canonical_order(inputs);
        let left = extended_schema(&inputs[order[0]], 0)?;
        let right = extended_schema(&inputs[order[1]], 1)?;
        check_roles(OP, &left, &right)?;
        let (keys, tags, tag_gather) = join_tags(OP, &left, &right)?;

        let mut layout = MergeLayout::default();
        for (field, source) in tags.into_iter().zip(tag_gather) {
            layout.copy(0, field, source);
        }
        // Packets and their source info: left (merged where colliding), then the right's.
        let mut collisions_found: Vec<(usize, usize)> = Vec::new();
        for (i, field) in left.packet_fields().iter().enumerate() {
            let right_index = right.packet_names().iter().position(|n| n == field.name());
            match right_index {
                Some(j) => {
                    let other = &right.packet_fields()[j];
                    if other.data_type() != field.data_type() {
                        return Err(Error::schema(
                            OP,
                            format!(
                                "colliding packet column `{}` has incompatible types: {} and {}",
                                field.name(),
                                field.data_type(),
                                other.data_type()
                            ),
                        ));
                    }
                    collisions_found.push((i, j));
                    let list = DataType::LargeList(list_item(field.data_type()));
                    layout.fields[1].push(Arc::new(Field::new(field.name(), list, false)));
                    layout.pieces[1].push(Piece::Merged);
                }
                None => layout.copy(
                    1,
                    field.clone(),
                    (Side::Left, left.packet_range().start + i),
                ),
            }
        }
        for (j, field) in right.packet_fields().iter().enumerate() {
            if !left.packet_names().contains(field.name()) {
                layout.copy(
                    1,
                    field.clone(),
                    (Side::Right, right.packet_range().start + j),
                );
            }
        }
        for (schema, side) in [(&left, Side::Left), (&right, Side::Right)] {
            for i in schema.system_tag_range() {
                layout.copy(2, schema.arrow().fields()[i].clone(), (side, i));
            }
        }
        for (i, field) in left.source_info_fields().iter().enumerate() {
            if let Some(&(_, j)) = collisions_found.iter().find(|&&(l, _)| l == i) {
                // Source info is a string from a source, and already a list after an
                // earlier Batch or MergeJoin: both sides must have the same shape.
                let other = &right.source_info_fields()[j];
                if other.data_type() != field.data_type() {
                    return Err(Error::schema(
                        OP,
                        format!(
                            "colliding packet column `{}` has provenance of different shapes: {} and {}",
                            left.packet_fields()[i].name(),
                            field.data_type(),
                            other.data_type()
                        ),
                    ));
                }
                let list = DataType::LargeList(list_item(field.data_type()));
                layout.fields[3].push(Arc::new(Field::new(field.name(), list, false)));
                layout.pieces[3].push(Piece::Merged);
            } else {
                layout.copy(
                    3,
                    field.clone(),
                    (Side::Left, left.source_info_range().start + i),
                );
            }
        }
        for (j, field) in right.source_info_fields().iter().enumerate() {
            let packet = &right.packet_fields()[j];
            if !left.packet_names().contains(packet.name()) {
                layout.copy(
                    3,
                    field.clone(),
                    (Side::Right, right.source_info_range().start + j),
                );
            }
        }

        let [tag_f, packet_f, system_f, source_f] = std::mem::take(&mut layout.fields);
        let canonical = StreamSchema::new(tag_f, packet_f, system_f, source_f)?;
        // The columns in the order the inputs are listed; each piece moves with its column.
        let placement = listed_order(&canonical, inputs)?;
        let output = Arc::new(permuted_schema(&canonical, &placement)?);
        let mut pieces: Vec<Option<Piece>> = std::mem::take(&mut layout.pieces)
            .into_iter()
            .flatten()
            .map(Some)
            .collect();
        let pieces = placement
            .iter()
            .map(|&i| pieces[i].take())
            .collect::<Option<Vec<Piece>>>()
            .ok_or_else(|| Error::internal("merge join: a column is placed twice"))?;
        let mut collisions = Vec::with_capacity(collisions_found.len());
        for (l, r) in collisions_found {
            let name = left.packet_fields()[l].name();
            let value_type = left.packet_fields()[l].data_type();
            let source_type = left.source_info_fields()[l].data_type();
            let gathered = [
                layout.gather_only((Side::Left, left.packet_range().start + l)),
                layout.gather_only((Side::Right, right.packet_range().start + r)),
                layout.gather_only((Side::Left, left.source_info_range().start + l)),
                layout.gather_only((Side::Right, right.source_info_range().start + r)),
            ];
            collisions.push(Collision {
                gathered,
                output: [
                    output.arrow().index_of(name)?,
                    output.arrow().index_of(&source_info_column(name))?,
                ],
                items: [list_item(value_type), list_item(source_type)],
                converter: RowConverter::new(vec![SortField::new(value_type.clone())])?,
            });
        }
        let tie_break = if inputs[0].pipeline_hash == inputs[1].pipeline_hash {
            TieBreak::new(&left, &right, &mut layout)?
        } else {
            None
        };
        let core = HashJoinCore::new(&left, &right, &keys, layout.gather)?;
        let mut route = [Side::Left; 2];
        route[order[1]] = Side::Right;
        let sorter = SystemTagSorter::new(&output)?;
        Ok(MergeJoin {
            output,
            core,
            route,
            pieces,
            collisions,
            sorter,
            tie_break,
            ready: Vec::new(),
        })
    }

    /// Builds an output batch from the gathered columns of a set of matches.
    fn assemble(&self, gathered: Vec<ArrayRef>) -> Result<RecordBatch> {
        let mut columns: Vec<Option<ArrayRef>> = self
            .pieces
            .iter()
            .map(|p| match p {
                Piece::Copy(g) => Some(gathered[*g].clone()),
                Piece::Merged => None,
            })
            .collect();
        let right_first = match &self.tie_break {
            Some(t) => Some(t.right_first(&gathered)?),
            None => None,
        };
        for c in &self.collisions {
            let [lv, rv, ls, rs] = c.gathered.map(|g| gathered[g].clone());
            let swap = swapped_pairs(&c.converter, &lv, &rv, right_first.as_deref())?;
            columns[c.output[0]] = Some(pair_lists(&c.items[0], &lv, &rv, &swap)?);
            columns[c.output[1]] = Some(pair_lists(&c.items[1], &ls, &rs, &swap)?);
        }
        let columns = columns
            .into_iter()
            .map(|c| c.ok_or_else(|| Error::internal("merge join: an output column is unfilled")))
            .collect::<Result<Vec<_>>>()?;
        let batch = RecordBatch::try_new(self.output.arrow().clone(), columns)?;
        self.sorter.apply(batch)
    }
}

/// For each row, whether the pair (`first`, `second`) must be swapped to be ascending.
/// Equal values keep their order unless `right_first` says otherwise for that row.
fn swapped_pairs(
    converter: &RowConverter,
    first: &ArrayRef,
    second: &ArrayRef,
    right_first: Option<&[bool]>,
) -> Result<Vec<bool>> {
    let a = converter.convert_columns(std::slice::from_ref(first))?;
    let b = converter.convert_columns(std::slice::from_ref(second))?;
    Ok((0..first.len())
        .map(|r| match a.row(r).cmp(&b.row(r)) {
            std::cmp::Ordering::Greater => true,
            std::cmp::Ordering::Less => false,
            std::cmp::Ordering::Equal => right_first.is_some_and(|t| t[r]),
        })
        .collect())
}

/// Two-element lists `[first, second]` per row, or `[second, first]` where `swap` is set.
fn pair_lists(
    item: &FieldRef,
    first: &ArrayRef,
    second: &ArrayRef,
    swap: &[bool],
) -> Result<ArrayRef> {
    let indices: Vec<(usize, usize)> = swap
        .iter()
        .enumerate()
        .flat_map(|(r, &s)| {
            let (a, b) = if s { (1, 0) } else { (0, 1) };
            [(a, r), (b, r)]
        })
        .collect();
    let values = interleave(&[first.as_ref(), second.as_ref()], &indices)?;
    let offsets = OffsetBuffer::from_lengths(std::iter::repeat_n(2, swap.len()));
    Ok(Arc::new(LargeListArray::try_new(
        item.clone(),
        offsets,
        values,
        None,
    )?))
}

impl Operator for MergeJoin {
    fn output_schema(&self) -> &Arc<StreamSchema> {
        &self.output
    }

    fn push(&mut self, port: usize, batch: RecordBatch) -> Result<()> {
        let side = route_of(&self.route, port)?;
        if let Some(gathered) = self.core.push(side, batch)? {
            let out = self.assemble(gathered)?;
            self.ready.push(out);
        }
        Ok(())
    }

    fn finish(&mut self, port: usize) -> Result<()> {
        let side = route_of(&self.route, port)?;
        self.core.finish(side);
        Ok(())
    }

    fn take_output(&mut self) -> Vec<RecordBatch> {
        std::mem::take(&mut self.ready)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Datum, Stream};
    use crate::operator::{run_to_completion, OperatorSpec};
    use crate::source::{Source, SourceOptions};

    /// A source `id` with the given tags and rows of (column, value).
    fn source(id: &str, tags: &[&str], rows: &[&[(&str, Datum)]]) -> Source {
        let rows: Vec<Vec<(String, Datum)>> = rows
            .iter()
            .map(|r| r.iter().map(|(c, v)| (c.to_string(), v.clone())).collect())
            .collect();
        Source::from_rows(
            &rows,
            &SourceOptions::tags(tags.iter().copied()).with_source_id(id),
        )
        .unwrap()
    }

    fn s(v: &str) -> Datum {
        Datum::Str(v.to_string())
    }

    fn students() -> Source {
        source(
            "students",
            &["student_id"],
            &[
                &[
                    ("student_id", s("s1")),
                    ("name", s("Ada")),
                    ("cohort", s("A")),
                ],
                &[
                    ("student_id", s("s2")),
                    ("name", s("Bo")),
                    ("cohort", s("B")),
                ],
            ],
        )
    }

    fn scores() -> Source {
        source(
            "scores",
            &["student_id", "course"],
            &[
                &[
                    ("student_id", s("s1")),
                    ("course", s("c1")),
                    ("score", Datum::Int(91)),
                ],
                &[
                    ("student_id", s("s2")),
                    ("course", s("c1")),
                    ("score", Datum::Int(78)),
                ],
                &[
                    ("student_id", s("s2")),
                    ("course", s("c2")),
                    ("score", Datum::Int(64)),
                ],
            ],
        )
    }

    fn courses() -> Source {
        source(
            "courses",
            &["course"],
            &[
                &[
                    ("course", s("c1")),
                    ("title", s("Logic")),
                    ("credits", Datum::Int(5)),
                ],
                &[
                    ("course", s("c2")),
                    ("title", s("Sets")),
                    ("credits", Datum::Int(3)),
                ],
            ],
        )
    }

    /// Runs `spec` over the sources, listed in this order.
    fn run(spec: &OperatorSpec, sources: &[&Source]) -> Stream {
        let infos: Vec<InputInfo> = sources
            .iter()
            .map(|s| InputInfo {
                schema: s.stream().schema().clone(),
                pipeline_hash: s.identity().pipeline.clone(),
            })
            .collect();
        let mut op = spec.build(&infos).unwrap();
        let streams: Vec<&Stream> = sources.iter().map(|s| s.stream()).collect();
        run_to_completion(op.as_mut(), &streams).unwrap()
    }

    fn names(fields: &[FieldRef]) -> Vec<String> {
        fields.iter().map(|f| f.name().clone()).collect()
    }

    /// The user tags, packets and source-info columns of `stream`, in order.
    fn user_columns(stream: &Stream) -> (Vec<String>, Vec<String>, Vec<String>) {
        let schema = stream.schema();
        (
            names(schema.tag_fields()),
            names(schema.packet_fields()),
            names(schema.source_info_fields()),
        )
    }

    /// Every row as (column name, value) pairs sorted by column name; rows sorted.
    fn rows_by_name(stream: &Stream) -> Vec<Vec<(String, String)>> {
        let batch = stream.to_batch().unwrap();
        let schema = batch.schema();
        let mut rows: Vec<Vec<(String, String)>> = (0..batch.num_rows())
            .map(|r| {
                let mut row: Vec<(String, String)> = schema
                    .fields()
                    .iter()
                    .zip(batch.columns())
                    .map(|(f, c)| {
                        let value = Datum::from_array(c.as_ref(), r).unwrap().python_str();
                        (f.name().clone(), value)
                    })
                    .collect();
                row.sort();
                row
            })
            .collect();
        rows.sort();
        rows
    }

    fn strings(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    /// Asserts the user columns of `spec` over `sources` (listed in this order).
    fn assert_columns(spec: &OperatorSpec, sources: &[&Source], tags: &[&str], packets: &[&str]) {
        let out = run(spec, sources);
        let sources_info: Vec<String> = packets.iter().map(|p| format!("_source_{p}")).collect();
        assert_eq!(
            user_columns(&out),
            (strings(tags), strings(packets), sources_info),
            "{spec:?} over {:?}",
            sources.iter().map(|s| s.source_id()).collect::<Vec<_>>()
        );
    }

    #[test]
    fn a_two_way_join_lists_columns_in_the_order_of_its_inputs() {
        let (students, scores) = (students(), scores());
        assert_columns(
            &OperatorSpec::Join,
            &[&students, &scores],
            &["student_id", "course"],
            &["name", "cohort", "score"],
        );
        assert_columns(
            &OperatorSpec::Join,
            &[&scores, &students],
            &["student_id", "course"],
            &["score", "name", "cohort"],
        );
    }

    #[test]
    fn a_three_way_join_lists_columns_in_the_order_of_its_inputs() {
        let (students, scores, courses) = (students(), scores(), courses());
        assert_columns(
            &OperatorSpec::Join,
            &[&students, &scores, &courses],
            &["student_id", "course"],
            &["name", "cohort", "score", "title", "credits"],
        );
        assert_columns(
            &OperatorSpec::Join,
            &[&courses, &scores, &students],
            &["course", "student_id"],
            &["title", "credits", "score", "name", "cohort"],
        );
        assert_columns(
            &OperatorSpec::Join,
            &[&scores, &courses, &students],
            &["student_id", "course"],
            &["score", "title", "credits", "name", "cohort"],
        );
    }

    #[test]
    fn listed_order_changes_only_the_order_of_user_columns() {
        let (students, scores, courses) = (students(), scores(), courses());
        let orders: [[&Source; 3]; 3] = [
            [&students, &scores, &courses],
            [&courses, &scores, &students],
            [&scores, &students, &courses],
        ];
        let first = run(&OperatorSpec::Join, &orders[0]);
        assert_eq!(first.num_rows(), 3);
        for order in &orders[1..] {
            let other = run(&OperatorSpec::Join, order);
            // System tags: the same names at the same positions, whatever the order.
            assert_eq!(
                other.schema().system_tag_fields(),
                first.schema().system_tag_fields()
            );
            assert_eq!(rows_by_name(&other), rows_by_name(&first));
        }
        let two = run(&OperatorSpec::Join, &[&students, &scores]);
        let swapped = run(&OperatorSpec::Join, &[&scores, &students]);
        assert_eq!(
            two.schema().system_tag_fields(),
            swapped.schema().system_tag_fields()
        );
        assert_eq!(rows_by_name(&two), rows_by_name(&swapped));
    }

    fn left() -> Source {
        source(
            "left",
            &["id"],
            &[
                &[("id", s("a")), ("x", Datum::Int(7)), ("p", s("p1"))],
                &[("id", s("b")), ("x", Datum::Int(1)), ("p", s("p2"))],
            ],
        )
    }

    fn right() -> Source {
        source(
            "right",
            &["k", "id"],
            &[
                &[
                    ("k", s("u")),
                    ("id", s("a")),
                    ("q", s("q1")),
                    ("x", Datum::Int(2)),
                ],
                &[
                    ("k", s("v")),
                    ("id", s("b")),
                    ("q", s("q2")),
                    ("x", Datum::Int(9)),
                ],
            ],
        )
    }

    #[test]
    fn a_merge_join_lists_columns_in_the_order_of_its_inputs() {
        let (left, right) = (left(), right());
        assert_columns(
            &OperatorSpec::MergeJoin,
            &[&left, &right],
            &["id", "k"],
            &["x", "p", "q"],
        );
        assert_columns(
            &OperatorSpec::MergeJoin,
            &[&right, &left],
            &["k", "id"],
            &["q", "x", "p"],
        );
        let lr = run(&OperatorSpec::MergeJoin, &[&left, &right]);
        let rl = run(&OperatorSpec::MergeJoin, &[&right, &left]);
        assert_eq!(
            lr.schema().system_tag_fields(),
            rl.schema().system_tag_fields()
        );
        let rows = rows_by_name(&lr);
        assert_eq!(rows, rows_by_name(&rl));
        // The merged values stay sorted ascending, whatever the listed order.
        let x: Vec<&str> = rows
            .iter()
            .map(|r| r.iter().find(|(c, _)| c == "x").unwrap().1.as_str())
            .collect();
        assert_eq!(x, ["[2, 7]", "[1, 9]"]);
    }

    #[test]
    fn a_single_input_join_is_unchanged() {
        let students = students();
        let out = run(&OperatorSpec::Join, &[&students]);
        assert_eq!(out.schema(), students.stream().schema());
    }
}
