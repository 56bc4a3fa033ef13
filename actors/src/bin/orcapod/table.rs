//! The per-node tables of the run's summary and of `status`: one aligned row per node.
//!
//! Only formatting: nothing here prints or reads the pipeline beyond a node's kind.

use orcapod::pipeline::NodeKind;

/// One line of the per-node tables (the run's summary, `status`): the node, its kind
/// and five counts, aligned under a header made the same way.
pub fn node_row(cells: [&dyn std::fmt::Display; 7]) -> String {
    let [node, kind, a, b, c, d, e] = cells;
    format!("{node:<24} {kind:<10} {a:>10} {b:>10} {c:>10} {d:>8} {e:>8}")
}

/// The header of a per-node table: seven labels, aligned as [`node_row`] aligns cells.
pub fn node_header(labels: [&str; 7]) -> String {
    node_row(labels.each_ref().map(|l| l as &dyn std::fmt::Display))
}

/// What a node is, in one word, for the summary and status tables.
pub fn kind_label(kind: &NodeKind) -> &'static str {
    match kind {
        NodeKind::Source(_) => "source",
        NodeKind::Operator(_) => "operator",
        NodeKind::Function(_) => "function",
    }
}
