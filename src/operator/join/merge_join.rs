//! [`MergeJoin`]: the join of two streams whose colliding packet columns become sorted
//! two-element lists (§6.3), with their source info merged alike.
//!
//! It streams like [`Join`](super::Join) (the reference waits for all input; the result
//! is the same): one binary hash join gathers both sides' values of each colliding
//! column, and each output batch pairs them in ascending order. Equal values of inputs
//! with the same pipeline hash are ordered by their system tags, so `MergeJoin(A, B)`
//! equals `MergeJoin(B, A)` even then.
//!
//! It must never depend on the order of its arguments beyond the order of the user
//! columns, and never merge columns of different types or provenance shapes.

use std::sync::Arc;

use arrow::array::{ArrayRef, LargeListArray};
use arrow::buffer::OffsetBuffer;
use arrow::compute::interleave;
use arrow::datatypes::{DataType, Field, FieldRef};
use arrow::record_batch::RecordBatch;
use arrow_row::{RowConverter, SortField};

use super::engine::{ColumnSource, HashJoinCore, Side};
use super::plan::{check_roles, join_tags, listed_order, permuted_schema, route_of};
use crate::error::{Error, Result};
use crate::model::columns::source_info_column;
use crate::model::StreamSchema;
use crate::operator::checks::same_type;
use crate::operator::system_tags::{canonical_order, extended_schema, SystemTagSorter};
use crate::operator::{InputInfo, Operator};

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
pub(crate) struct MergeJoin {
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

/// The output field of a merged column (`left`'s name): a list of the two sides'
/// values, which must have the same type; else the error names the colliding packet
/// column `packet` and says `mismatch`.
fn merged_field(
    packet: &str,
    left: &FieldRef,
    right: &FieldRef,
    mismatch: &str,
) -> Result<FieldRef> {
    let column = format!("colliding packet column `{packet}`");
    same_type(
        "MergeJoin",
        &column,
        left.data_type(),
        right.data_type(),
        mismatch,
    )?;
    let list = DataType::LargeList(list_item(left.data_type()));
    Ok(Arc::new(Field::new(left.name(), list, false)))
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
    pub(crate) fn new(inputs: &[InputInfo]) -> Result<Self> {
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
                    let merged = merged_field(field.name(), field, other, "incompatible types")?;
                    collisions_found.push((i, j));
                    layout.fields[1].push(merged);
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
                let packet = left.packet_fields()[i].name();
                let shapes = "provenance of different shapes";
                layout.fields[3].push(merged_field(packet, field, other, shapes)?);
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
