//! Feeding a pipeline only what changed in its sources, and withdrawing what changed
//! rows had produced: what a watch round runs instead of every row.
//!
//! Most nodes are *row-wise*: each output row comes from exactly one row of each source
//! it reads (functions, joins, column selections and renames, filters, and a semi-join
//! from its left input). Then, when one source changed, an output's rows now are its
//! rows before, minus those derived from a removed record (found by the record pairs in
//! their system tags, [`retract`]), plus the rows the changed source's added rows give
//! when the other sources it meets are fed whole ([`plan_round`] says which source is fed
//! what, and what each output keeps). This holds only when:
//!
//! - every node between a changed source and an output is row-wise (a batch groups
//!   rows, a semi-join's right side decides which left rows pass, a replayed operator
//!   yields stored rows: a change through one of them needs every row);
//! - no output is reached by two sources that both have added rows (the new rows of one
//!   must meet the new rows of the other), nor by one source with added rows along two
//!   paths (a self-join);
//! - a changed source is not a cached source (it yields rows it no longer reads), and
//!   shares its source id with no other source (its records would be ambiguous).
//!
//! Otherwise the round feeds every row, as a first run does; [`plan_round`] says why.
//! This module decides and filters; it never reads a source and never runs a node.

use std::collections::HashMap;

use arrow::array::{BooleanArray, RecordBatch};
use arrow::compute::filter_record_batch;
use arrow::datatypes::DataType;

use super::{NodeKind, Pipeline};
use crate::error::{Error, Result};
use crate::model::columns::{RECORD_ID_TAG, SOURCE_ID_TAG};
use crate::model::Stream;
use crate::operator::OperatorSpec;
use crate::pipeline::CacheMode;
use crate::source::delta::string_column;
use crate::source::{record_key, RecordKeys, Source};

/// How one source changed since the last round.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SourceChange {
    /// Some rows were added or changed, and are at hand.
    pub added: bool,
    /// So many rows were added or changed that the source is fed whole: every output
    /// it reaches is computed again.
    pub whole: bool,
    /// Some records were removed or changed.
    pub removed: bool,
}

impl SourceChange {
    fn adds(&self) -> bool {
        self.added || self.whole
    }
}

/// What a round feeds one source.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Feed {
    /// Only its added or changed rows.
    Added,
    /// Every row it has now.
    Whole,
    /// No row: no output that takes this round's rows reads it.
    Nothing,
}

/// What one output's rows after the round are made of.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct OutputUse {
    /// The rows it had after the last round...
    pub keep_old: bool,
    /// ...less those derived from a removed record...
    pub retract: bool,
    /// ...and the rows this round's run gives it.
    pub take_run: bool,
}

/// What a round feeds, and how each output is made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoundFeed {
    /// Every source node (by index), with what it is fed.
    pub feeds: Vec<(usize, Feed)>,
    /// Each output, in the order given to [`plan_round`].
    pub outputs: Vec<OutputUse>,
}

/// What a round that feeds only what changed must do, given how each source node
/// changed (by index; absent: unchanged), for the outputs `outputs` (node indices).
/// `Err` says why the round must feed every row instead.
pub fn plan_round(
    pipeline: &Pipeline,
    outputs: &[usize],
    changes: &HashMap<usize, SourceChange>,
) -> std::result::Result<RoundFeed, String> {
    let nodes = pipeline.nodes();
    let paths = path_counts(pipeline);
    let wanted = leading_to(pipeline, outputs);
    let changed: Vec<usize> = (0..nodes.len())
        .filter(|i| {
            changes
                .get(i)
                .is_some_and(|c| *c != SourceChange::default())
        })
        .collect();
    for &s in &changed {
        let NodeKind::Source(source) = nodes[s].kind() else {
            return Err(format!("`{}` is not a source", nodes[s].name()));
        };
        if nodes[s].is_cached_source() {
            return Err(format!(
                "source `{}` is cached (it yields the rows it stored before)",
                nodes[s].name()
            ));
        }
        let shares = nodes.iter().enumerate().find(|(i, n)| {
            *i != s
                && matches!(n.kind(), NodeKind::Source(o) if o.source_id() == source.source_id())
        });
        if let Some((_, other)) = shares {
            return Err(format!(
                "sources `{}` and `{}` share the source id `{}`",
                nodes[s].name(),
                other.name(),
                source.source_id()
            ));
        }
        if let Some(node) = not_row_wise(pipeline, &paths, &wanted, s) {
            return Err(format!(
                "source `{}` changed, and node `{node}` needs every row it reads",
                nodes[s].name()
            ));
        }
    }
    let mut uses = Vec::with_capacity(outputs.len());
    for &o in outputs {
        let reaches = |s: &usize| paths[o].get(s).copied().unwrap_or(0) > 0;
        let adding: Vec<usize> = changed
            .iter()
            .copied()
            .filter(|s| reaches(s) && changes[s].adds())
            .collect();
        if let [a, b, ..] = adding[..] {
            return Err(format!(
                "sources `{}` and `{}` both have new rows, and both reach `{}`",
                nodes[a].name(),
                nodes[b].name(),
                nodes[o].name()
            ));
        }
        let output_use = match adding.first() {
            Some(&s) if changes[&s].whole => OutputUse {
                keep_old: false,
                retract: false,
                take_run: true,
            },
            Some(&s) if paths[o][&s] > 1 => {
                return Err(format!(
                    "source `{}` reaches `{}` along {} paths",
                    nodes[s].name(),
                    nodes[o].name(),
                    paths[o][&s]
                ))
            }
            adding => OutputUse {
                keep_old: true,
                retract: changed.iter().any(|s| reaches(s) && changes[s].removed),
                take_run: adding.is_some(),
            },
        };
        uses.push(output_use);
    }
    let feeds = (0..nodes.len())
        .filter(|&i| matches!(nodes[i].kind(), NodeKind::Source(_)))
        .map(|t| {
            let feed = match changes.get(&t) {
                Some(c) if c.adds() && !c.whole => Feed::Added,
                _ if outputs
                    .iter()
                    .zip(&uses)
                    .any(|(&o, u)| u.take_run && paths[o].contains_key(&t)) =>
                {
                    Feed::Whole
                }
                _ => Feed::Nothing,
            };
            (t, feed)
        })
        .collect();
    Ok(RoundFeed {
        feeds,
        outputs: uses,
    })
}

/// Per node, how many paths lead to it from each source node (by index).
fn path_counts(pipeline: &Pipeline) -> Vec<HashMap<usize, u64>> {
    let mut paths: Vec<HashMap<usize, u64>> = Vec::with_capacity(pipeline.nodes().len());
    for (index, node) in pipeline.nodes().iter().enumerate() {
        let mut counts = HashMap::new();
        if matches!(node.kind(), NodeKind::Source(_)) {
            counts.insert(index, 1);
        }
        for &input in node.inputs() {
            for (&s, &n) in &paths[input] {
                *counts.entry(s).or_insert(0) += n;
            }
        }
        paths.push(counts);
    }
    paths
}

/// Per node, whether it is one of `outputs` or leads to one.
fn leading_to(pipeline: &Pipeline, outputs: &[usize]) -> Vec<bool> {
    let nodes = pipeline.nodes();
    let mut wanted = vec![false; nodes.len()];
    for &o in outputs {
        wanted[o] = true;
    }
    for index in (0..nodes.len()).rev() {
        if wanted[index] {
            for &input in nodes[index].inputs() {
                wanted[input] = true;
            }
        }
    }
    wanted
}

/// The first node (in pipeline order) reached from source `source` and leading to an
/// output (`wanted`) that is not row-wise for it.
fn not_row_wise(
    pipeline: &Pipeline,
    paths: &[HashMap<usize, u64>],
    wanted: &[bool],
    source: usize,
) -> Option<String> {
    let carries = |i: usize| paths[i].contains_key(&source);
    pipeline
        .nodes()
        .iter()
        .enumerate()
        .filter(|&(i, _)| i != source && wanted[i] && carries(i))
        .find(|(_, node)| match node.kind() {
            NodeKind::Source(_) | NodeKind::Function(_) => false,
            NodeKind::Operator(_) if node.cache_mode() == CacheMode::Replay => true,
            NodeKind::Operator(OperatorSpec::Batch { .. }) => true,
            NodeKind::Operator(OperatorSpec::SemiJoin) => {
                node.inputs().iter().skip(1).any(|&i| carries(i))
            }
            NodeKind::Operator(_) => false,
        })
        .map(|(_, node)| node.name().to_string())
}

impl Pipeline {
    /// This pipeline with source node `index` yielding `rows` (enriched rows of that
    /// source, as [`Source::batches`] gives them) instead of its own; not a cached source.
    pub fn with_source_rows(mut self, index: usize, rows: Vec<RecordBatch>) -> Result<Pipeline> {
        let node = &self.nodes[index];
        let NodeKind::Source(source) = &node.kind else {
            return Err(Error::internal(format!(
                "node `{}` is not a source",
                node.name
            )));
        };
        let stream = Stream::new(source.schema().clone(), rows)?;
        let fed = Source::from_stream(
            source.class_name(),
            source.source_id().to_string(),
            stream,
            source.identity().clone(),
        )?;
        self.nodes[index].kind = NodeKind::Source(fed);
        self.nodes[index].cached_source = false;
        Ok(self)
    }
}

/// The rows of `batch` (rows of a stream, system tags included) derived from none of the
/// records `removed`: a row goes when one of its (`_tag_source_id…`, `_tag_record_id…`)
/// pairs of text columns names a removed record.
pub fn retract(batch: &RecordBatch, removed: &RecordKeys) -> Result<RecordBatch> {
    if removed.is_empty() || batch.num_rows() == 0 {
        return Ok(batch.clone());
    }
    let schema = batch.schema();
    let text = |i: usize| {
        matches!(
            schema.field(i).data_type(),
            DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View
        )
    };
    let mut keep = vec![true; batch.num_rows()];
    for (i, field) in schema.fields().iter().enumerate() {
        let Some(rest) = field.name().strip_prefix(SOURCE_ID_TAG) else {
            continue;
        };
        let Ok(j) = schema.index_of(&format!("{RECORD_ID_TAG}{rest}")) else {
            continue;
        };
        if !text(i) || !text(j) {
            continue;
        }
        let (sources, records) = (string_column(batch, i)?, string_column(batch, j)?);
        for (row, keep) in keep.iter_mut().enumerate() {
            if *keep && removed.contains(&record_key(sources.value(row), records.value(row))) {
                *keep = false;
            }
        }
    }
    Ok(filter_record_batch(batch, &BooleanArray::from(keep))?)
}

#[cfg(test)]
#[path = "delta_tests.rs"]
mod tests;
