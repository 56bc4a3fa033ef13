//! SemiJoin: the left stream's rows whose shared columns match some right row (§6.4).
//!
//! Build–probe: the right side's key set is collected as it arrives; left batches wait
//! until the right side has ended, then (and from then on at once) are filtered with
//! `arrow::compute::filter`. Keys are the column names (user tags *and* packet columns)
//! both sides have; with none, the left stream passes through unchanged.
//!
//! The output schema is the left schema exactly: this operator must never change a left
//! column (values, system tags and source info pass through), never emit a right column,
//! and never fail on empty inputs. A row with a null in a key column never matches.

use std::sync::Arc;

use arrow::array::{Array, ArrayRef, BooleanArray};
use arrow::compute::filter_record_batch;
use arrow::datatypes::FieldRef;
use arrow::record_batch::RecordBatch;
use arrow_row::{RowConverter, SortField};

use super::checks::same_type;
use super::keys::KeySet;
use super::{InputInfo, Operator};
use crate::error::{Error, Result};
use crate::model::StreamSchema;

/// Input port of the left (filtered) stream.
const LEFT: usize = 0;
/// Input port of the right (key) stream.
const RIGHT: usize = 1;

/// The key columns of both sides and their encoder.
struct Keys {
    /// Left column indices of the keys, in key order.
    left: Vec<usize>,
    /// Right column indices of the keys, in key order.
    right: Vec<usize>,
    converter: RowConverter,
}

impl Keys {
    /// Encodes the key columns `columns` of `batch`, with a flag per row telling whether
    /// every key is non-null there.
    fn encode(
        &self,
        batch: &RecordBatch,
        columns: &[usize],
    ) -> Result<(arrow_row::Rows, Vec<bool>)> {
        let arrays: Vec<ArrayRef> = columns.iter().map(|&i| batch.column(i).clone()).collect();
        let rows = self.converter.convert_columns(&arrays)?;
        let mut valid = vec![true; batch.num_rows()];
        for a in arrays.iter().filter(|a| a.null_count() > 0) {
            for (row, v) in valid.iter_mut().enumerate() {
                *v &= a.is_valid(row);
            }
        }
        Ok((rows, valid))
    }
}

/// The phases of a semi join.
enum Phase {
    /// No common keys: left batches pass through, right batches are ignored.
    PassThrough,
    /// The right side is still arriving: its keys are collected, left batches wait.
    Building {
        right_keys: KeySet,
        waiting_left: Vec<RecordBatch>,
    },
    /// The right side has ended: left batches are filtered at once.
    Probing { right_keys: KeySet },
}

/// The running semi join (2 inputs, ordered).
pub(super) struct SemiJoin {
    output: Arc<StreamSchema>,
    keys: Option<Keys>,
    phase: Phase,
    ready: Vec<RecordBatch>,
}

impl SemiJoin {
    /// Validates the inputs (common keys must have equal types) and predicts the output
    /// schema (the left schema).
    pub(super) fn new(left: &InputInfo, right: &InputInfo) -> Result<Self> {
        let keys = common_keys(&left.schema, &right.schema)?;
        let phase = if keys.is_some() {
            Phase::Building {
                right_keys: KeySet::default(),
                waiting_left: Vec::new(),
            }
        } else {
            Phase::PassThrough
        };
        Ok(SemiJoin {
            output: left.schema.clone(),
            keys,
            phase,
            ready: Vec::new(),
        })
    }

    /// Adds the keys of a right batch to the key set (while building).
    fn collect_right(&mut self, batch: &RecordBatch) -> Result<()> {
        let (Some(keys), Phase::Building { right_keys, .. }) = (&self.keys, &mut self.phase) else {
            return Ok(());
        };
        let (rows, valid) = keys.encode(batch, &keys.right)?;
        for (row, _) in valid.iter().enumerate().filter(|(_, v)| **v) {
            right_keys.insert(rows.row(row).data());
        }
        Ok(())
    }

    /// The left rows of `batch` whose key is in `right_keys`.
    fn probe(keys: &Keys, right_keys: &KeySet, batch: &RecordBatch) -> Result<RecordBatch> {
        let (rows, valid) = keys.encode(batch, &keys.left)?;
        let mask: BooleanArray = valid
            .iter()
            .enumerate()
            .map(|(row, &v)| Some(v && right_keys.contains(rows.row(row).data())))
            .collect();
        Ok(filter_record_batch(batch, &mask)?)
    }
}

/// The key columns of a semi join: names among the user tags and packet columns of both
/// sides (in left order); `None` when there are none. A type conflict is an error.
fn common_keys(left: &StreamSchema, right: &StreamSchema) -> Result<Option<Keys>> {
    let user = |s: &StreamSchema| -> Vec<(usize, FieldRef)> {
        s.tag_range()
            .chain(s.packet_range())
            .map(|i| (i, s.arrow().fields()[i].clone()))
            .collect()
    };
    let right_fields = user(right);
    let (mut left_idx, mut right_idx, mut sort_fields) = (Vec::new(), Vec::new(), Vec::new());
    for (i, field) in user(left) {
        let Some((j, other)) = right_fields.iter().find(|(_, f)| f.name() == field.name()) else {
            continue;
        };
        let column = format!("column `{}`", field.name());
        let (a, b) = (field.data_type(), other.data_type());
        same_type("SemiJoin", &column, a, b, "incompatible types")?;
        left_idx.push(i);
        right_idx.push(*j);
        sort_fields.push(SortField::new(field.data_type().clone()));
    }
    if left_idx.is_empty() {
        return Ok(None);
    }
    Ok(Some(Keys {
        left: left_idx,
        right: right_idx,
        converter: RowConverter::new(sort_fields)?,
    }))
}

impl Operator for SemiJoin {
    fn output_schema(&self) -> &Arc<StreamSchema> {
        &self.output
    }

    fn push(&mut self, port: usize, batch: RecordBatch) -> Result<()> {
        match (port, &mut self.phase, &self.keys) {
            (RIGHT, _, _) => self.collect_right(&batch),
            (LEFT, Phase::PassThrough, _) => {
                self.ready.push(batch);
                Ok(())
            }
            (LEFT, Phase::Building { waiting_left, .. }, _) => {
                waiting_left.push(batch);
                Ok(())
            }
            (LEFT, Phase::Probing { right_keys }, Some(keys)) => {
                let out = SemiJoin::probe(keys, right_keys, &batch)?;
                self.ready.push(out);
                Ok(())
            }
            (LEFT, Phase::Probing { .. }, None) => {
                Err(Error::internal("semi join: probing without keys"))
            }
            _ => Err(Error::internal(format!("semi join: no input port {port}"))),
        }
    }

    fn finish(&mut self, port: usize) -> Result<()> {
        if port == LEFT {
            return Ok(());
        }
        if port != RIGHT {
            return Err(Error::internal(format!("semi join: no input port {port}")));
        }
        self.phase = match std::mem::replace(&mut self.phase, Phase::PassThrough) {
            Phase::Building {
                right_keys,
                waiting_left,
            } => {
                let keys = self
                    .keys
                    .as_ref()
                    .ok_or_else(|| Error::internal("semi join: building without keys"))?;
                for batch in waiting_left {
                    self.ready.push(SemiJoin::probe(keys, &right_keys, &batch)?);
                }
                Phase::Probing { right_keys }
            }
            other => other,
        };
        Ok(())
    }

    fn take_output(&mut self) -> Vec<RecordBatch> {
        std::mem::take(&mut self.ready)
    }
}
