//! [`Join`]: the inner join of one or more streams on their shared user tags (§6.2).
//!
//! Two or more inputs are folded, in canonical order, through a chain of binary hash
//! joins `((x ⋈ y) ⋈ z) …` held inside one operator; each step's output feeds the next
//! step's left side as soon as it exists. One input passes through unchanged. Only the
//! last step's columns are put in the order the inputs are listed; the system tags are
//! sorted per row, so `Join(A, B)` and `Join(B, A)` hold the same values.
//!
//! It must never depend on the order of its arguments beyond that column order.

use std::sync::Arc;

use arrow::datatypes::FieldRef;
use arrow::record_batch::RecordBatch;

use super::engine::{HashJoinCore, Side};
use super::plan::{
    check_disjoint_packets, check_roles, join_tags, listed_order, pass_fields, permuted_schema,
    route_of,
};
use crate::error::{Error, Result};
use crate::model::StreamSchema;
use crate::operator::system_tags::{canonical_order, extended_schema, SystemTagSorter};
use crate::operator::{InputInfo, Operator};

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
pub(crate) struct Join {
    output: Arc<StreamSchema>,
    plan: JoinPlan,
    ready: Vec<RecordBatch>,
}

impl Join {
    /// Validates the inputs and predicts the output schema.
    pub(crate) fn new(inputs: &[InputInfo]) -> Result<Self> {
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
