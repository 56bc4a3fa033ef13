//! Drawing a pipeline: its DAG as Graphviz DOT or as a Mermaid flowchart.
//!
//! Each node is drawn with its name, what it is (source class, operator class or
//! function name) and its output columns; edges go from input to reader, in declared
//! input order. Rendering only reads the pipeline.

use super::{NodeKind, Pipeline};

impl Pipeline {
    /// The DAG in Graphviz DOT.
    pub fn to_dot(&self) -> String {
        let mut out = format!("digraph {} {{\n  rankdir=LR;\n", quote_dot(self.name()));
        for node in self.nodes() {
            let shape = match node.kind() {
                NodeKind::Source(_) => "cylinder",
                NodeKind::Operator(_) => "box",
                NodeKind::Function(_) => "component",
            };
            out.push_str(&format!(
                "  {} [shape={shape}, label={}];\n",
                quote_dot(node.name()),
                quote_dot(&format!(
                    "{}\n{}\n{}",
                    node.name(),
                    what(node.kind()),
                    columns(node)
                ))
            ));
        }
        for node in self.nodes() {
            for &input in node.inputs() {
                out.push_str(&format!(
                    "  {} -> {};\n",
                    quote_dot(self.nodes()[input].name()),
                    quote_dot(node.name())
                ));
            }
        }
        out.push_str("}\n");
        out
    }

    /// The DAG as a Mermaid flowchart.
    pub fn to_mermaid(&self) -> String {
        let mut out = String::from("flowchart LR\n");
        let id = |i: usize| format!("n{i}");
        for (i, node) in self.nodes().iter().enumerate() {
            let label = format!(
                "{}<br/>{}<br/>{}",
                node.name(),
                what(node.kind()),
                columns(node)
            )
            .replace('"', "#quot;");
            let (open, close) = match node.kind() {
                NodeKind::Source(_) => ("[(", ")]"),
                NodeKind::Operator(_) => ("[", "]"),
                NodeKind::Function(_) => ("[[", "]]"),
            };
            out.push_str(&format!("  {}{open}\"{label}\"{close}\n", id(i)));
        }
        for (i, node) in self.nodes().iter().enumerate() {
            for &input in node.inputs() {
                out.push_str(&format!("  {} --> {}\n", id(input), id(i)));
            }
        }
        out
    }
}

fn what(kind: &NodeKind) -> String {
    match kind {
        NodeKind::Source(source) => format!("{} ({})", source.class_name(), source.source_id()),
        NodeKind::Operator(spec) => spec.class_name().to_string(),
        NodeKind::Function(pod) => format!("function {}", pod.uri().name),
    }
}

fn columns(node: &super::Node) -> String {
    let schema = node.output_schema();
    format!(
        "tags [{}] packets [{}]",
        schema.tag_names().join(", "),
        schema.packet_names().join(", ")
    )
}

fn quote_dot(text: &str) -> String {
    format!(
        "\"{}\"",
        text.replace('\\', "\\\\")
            .replace('"', "\\\"")
            .replace('\n', "\\n")
    )
}
