//! The node lines of the progress file and the spinner's message: every node's state
//! and counts, from the actor runtime's progress or the synchronous run's stats.
//!
//! Only conversions: nothing here publishes or prints.

use std::collections::HashMap;

use orcapod::pipeline::{NodeStats, Pipeline};
use orcapod_actors::NodeProgress;

use crate::live::NodeLine;
use crate::table::kind_label;

/// Every node of `pipeline`, waiting.
pub fn waiting_lines(pipeline: &Pipeline) -> Vec<NodeLine> {
    pipeline
        .nodes()
        .iter()
        .map(|n| NodeLine {
            name: n.name().to_string(),
            kind: kind_label(n.kind()).to_string(),
            state: "waiting".to_string(),
            ..NodeLine::default()
        })
        .collect()
}

pub fn lines_of_progress(pipeline: &Pipeline, nodes: &[NodeProgress]) -> Vec<NodeLine> {
    pipeline
        .nodes()
        .iter()
        .zip(nodes)
        .map(|(n, p)| NodeLine {
            name: n.name().to_string(),
            kind: kind_label(n.kind()).to_string(),
            state: if p.ended { "ended" } else { "running" }.to_string(),
            rows: p.rows_out,
            computed: p.computed,
            cached: p.cached,
            failed: p.failed,
            retried: p.retried,
        })
        .collect()
}

pub fn lines_of_stats(pipeline: &Pipeline, stats: &[NodeStats]) -> Vec<NodeLine> {
    lines_of_sync(pipeline, None, stats)
}

pub fn lines_of_sync(
    pipeline: &Pipeline,
    current: Option<usize>,
    stats: &[NodeStats],
) -> Vec<NodeLine> {
    let by_node: HashMap<&str, &NodeStats> = stats.iter().map(|s| (s.node.as_str(), s)).collect();
    pipeline
        .nodes()
        .iter()
        .enumerate()
        .map(|(i, n)| {
            let mut line = NodeLine {
                name: n.name().to_string(),
                kind: kind_label(n.kind()).to_string(),
                state: "waiting".to_string(),
                ..NodeLine::default()
            };
            if let Some(s) = by_node.get(n.name()) {
                line.state = "ended".to_string();
                line.rows = s.rows_out;
                line.computed = s.counts.computed;
                line.cached = s.counts.cached;
                line.failed = s.counts.failed;
                line.retried = s.counts.retried;
            } else if current == Some(i) {
                line.state = "running".to_string();
            }
            line
        })
        .collect()
}

pub fn spinner_message(nodes: &[NodeProgress], total: usize) -> String {
    let ended = nodes.iter().filter(|p| p.ended).count();
    let sum = |f: fn(&NodeProgress) -> u64| nodes.iter().map(f).sum::<u64>();
    let running: Vec<String> = nodes
        .iter()
        .filter(|p| !p.ended && p.rows_out > 0)
        .map(|p| format!("{} {}", p.name, p.rows_out))
        .collect();
    format!(
        "{ended}/{total} nodes done · packets: {} computed, {} cached, {} failed, {} retried · rows out: {}",
        sum(|p| p.computed),
        sum(|p| p.cached),
        sum(|p| p.failed),
        sum(|p| p.retried),
        if running.is_empty() {
            "…".to_string()
        } else {
            running.join(", ")
        }
    )
}
