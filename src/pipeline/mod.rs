//! Pipelines: a validated DAG of sources and operators, and the synchronous executor.
//!
//! A [`PipelineBuilder`] collects named nodes in any order; [`PipelineBuilder::build`]
//! checks the graph (unique names, known inputs, no cycle, arity), builds every operator
//! once to validate its inputs and predict its output schema, and computes every node's
//! content and pipeline hashes, all before anything runs. The result, a [`Pipeline`], is
//! immutable and holds nodes in a topological order.
//!
//! [`SyncExecutor`] (re-exported from [`exec`](crate::exec), where running nodes are
//! started and driven) runs a pipeline without threads: it is the reference model that
//! the actor runtime must agree with on every pipeline.

mod cache;
mod dag;
pub mod delta;
mod graph;
mod run_log;
mod stored;

use std::collections::HashMap;
use std::sync::Arc;

use crate::error::{Error, Result};
use crate::function::node::FunctionNode;
use crate::function::FunctionPod;
use crate::hashing::identity::{self, Identity, Symmetry};
use crate::model::StreamSchema;
use crate::operator::{InputInfo, Operator, OperatorSpec};
use crate::source::Source;
use crate::store::FunctionPaths;

pub use crate::exec::{BackoffWaiter, SyncExecutor};
pub use cache::{cached_source_path, CacheMode, OperatorLog};
pub(crate) use dag::{Dag, Ties};
pub use run_log::{read_run_log, write_run_log, NodeStats, RunInfo, RunOutcome, RunRecord};
pub use stored::stored_source;

/// What to do when a packet fails in a function.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ErrorPolicy {
    /// Stop the run at the first failure and report it (the default).
    #[default]
    FailFast,
    /// Record the failure and go on with the other packets.
    Continue,
}

/// Something a run (or a lookup-only read) found that the user should hear about, but
/// that is not an error: the run's rows are right for what is stored, and this says why
/// some are absent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RunWarning {
    /// An operator node in [`CacheMode::Replay`] found no row of its own instance stored:
    /// it yields no row.
    NothingToReplay {
        /// The node.
        node: String,
        /// Where its rows would be, inside the pipeline's scope.
        path: String,
    },
    /// A function node read lookup-only ([`SyncExecutor::lookup_only`]) found no stored
    /// result for some input packets (never computed, or failed): the rows carrying them
    /// are absent from its output and from everything computed from it.
    ResultsMissing {
        /// The function node.
        node: String,
        /// Distinct input packets without a stored result.
        packets: u64,
        /// Input rows dropped for want of them.
        rows: u64,
    },
}

impl std::fmt::Display for RunWarning {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RunWarning::NothingToReplay { node, path } => write!(
                f,
                "node `{node}`: replay found nothing stored at {path}, so it yields no rows; \
                 run it once with its rows logged (CacheMode::Log) to store them"
            ),
            RunWarning::ResultsMissing {
                node,
                packets,
                rows,
            } => write!(
                f,
                "function node `{node}`: {packets} input packet{} ({rows} row{}) {} no stored \
                 result (never computed, or failed), so {} absent; a run computes {}",
                plural(*packets),
                plural(*rows),
                if *packets == 1 { "has" } else { "have" },
                if *rows == 1 {
                    "that row is"
                } else {
                    "those rows are"
                },
                if *packets == 1 { "it" } else { "them" },
            ),
        }
    }
}

fn plural(n: u64) -> &'static str {
    if n == 1 {
        ""
    } else {
        "s"
    }
}

/// The name of the implicit join node in front of function node `function` when it
/// reads several inputs: `{function}.join` (as the reference names it).
pub fn join_node_name(function: &str) -> String {
    format!("{function}.join")
}

/// The function node whose implicit join node `name` would be (the inverse of
/// [`join_node_name`]): `Some("f")` for `f.join`, `None` for a name without the suffix.
pub fn join_node_function(name: &str) -> Option<&str> {
    name.strip_suffix(".join")
}

/// What a node is.
#[derive(Debug, Clone)]
pub enum NodeKind {
    /// A root source.
    Source(Source),
    /// An operator applied to the outputs of other nodes.
    Operator(OperatorSpec),
    /// A function pod applied to the output of one node.
    Function(FunctionPod),
}

/// A node of a validated pipeline.
#[derive(Debug, Clone)]
pub struct Node {
    name: String,
    kind: NodeKind,
    inputs: Vec<usize>,
    output_schema: Arc<StreamSchema>,
    identity: Identity,
    cache_mode: CacheMode,
    cached_source: bool,
}

impl Node {
    /// The node's name, which is also its label.
    pub fn name(&self) -> &str {
        &self.name
    }
    /// What the node is.
    pub fn kind(&self) -> &NodeKind {
        &self.kind
    }
    /// Indices (in [`Pipeline::nodes`]) of the node's inputs, in declared order.
    pub fn inputs(&self) -> &[usize] {
        &self.inputs
    }
    /// The schema of everything the node emits.
    pub fn output_schema(&self) -> &Arc<StreamSchema> {
        &self.output_schema
    }
    /// The node's content and pipeline hashes.
    pub fn identity(&self) -> &Identity {
        &self.identity
    }
    /// The cache mode of an operator node ([`CacheMode::Off`] for every other node).
    pub fn cache_mode(&self) -> CacheMode {
        self.cache_mode
    }
    /// Whether this is a cached source node (see [`PipelineBuilder::cached_source`]).
    pub fn is_cached_source(&self) -> bool {
        self.cached_source
    }
}

/// A validated pipeline: nodes in a topological order.
#[derive(Debug, Clone)]
pub struct Pipeline {
    name: String,
    nodes: Vec<Node>,
    by_name: HashMap<String, usize>,
}

impl Pipeline {
    /// The pipeline's name (prefixes every database path).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// All nodes, inputs always before the nodes that read them.
    pub fn nodes(&self) -> &[Node] {
        &self.nodes
    }

    /// The node called `name`.
    pub fn node(&self, name: &str) -> Option<&Node> {
        self.by_name.get(name).map(|&i| &self.nodes[i])
    }

    /// The index of the node called `name`.
    pub fn index_of(&self, name: &str) -> Option<usize> {
        self.by_name.get(name).copied()
    }

    /// Indices of the nodes that read node `index`.
    pub fn consumers(&self, index: usize) -> Vec<usize> {
        (0..self.nodes.len())
            .filter(|&i| self.nodes[i].inputs.contains(&index))
            .collect()
    }

    /// Nodes nothing reads: what a run produces by default.
    pub fn sinks(&self) -> Vec<&Node> {
        (0..self.nodes.len())
            .filter(|&i| self.consumers(i).is_empty())
            .map(|i| &self.nodes[i])
            .collect()
    }

    /// The state of function node `index`, using `store` (already scoped to this
    /// pipeline) for results and records when given.
    pub fn function_state(
        &self,
        index: usize,
        store: Option<std::sync::Arc<dyn crate::store::ArrowStore>>,
    ) -> Result<FunctionNode> {
        let node = &self.nodes[index];
        let NodeKind::Function(pod) = &node.kind else {
            return Err(Error::internal(format!(
                "node `{}` is not a function node",
                node.name
            )));
        };
        let input = self.nodes[node.inputs[0]].output_schema.clone();
        let store = match store {
            Some(s) => Some((s, FunctionPaths::new(pod, &node.identity.pipeline)?)),
            None => None,
        };
        FunctionNode::new(pod.clone(), input, &node.identity.content, store)
            .map_err(|e| e.at_node(&node.name))
    }

    /// Builds a fresh running operator for operator node `index` (`None` for other nodes).
    pub fn instantiate(&self, index: usize) -> Result<Option<Box<dyn Operator>>> {
        let node = &self.nodes[index];
        match &node.kind {
            NodeKind::Source(_) | NodeKind::Function(_) => Ok(None),
            NodeKind::Operator(spec) => spec
                .build(&self.input_infos(index))
                .map(Some)
                .map_err(|e| e.at_node(&node.name)),
        }
    }

    fn input_infos(&self, index: usize) -> Vec<InputInfo> {
        self.nodes[index]
            .inputs
            .iter()
            .map(|&i| InputInfo {
                schema: self.nodes[i].output_schema.clone(),
                pipeline_hash: self.nodes[i].identity.pipeline.clone(),
            })
            .collect()
    }
}

/// Collects nodes, in any order, and validates them into a [`Pipeline`].
#[derive(Debug, Clone)]
pub struct PipelineBuilder {
    name: String,
    nodes: Vec<(String, NodeKind, Vec<String>)>,
    /// Cache modes of operator nodes (absent: [`CacheMode::Off`]).
    cache_modes: HashMap<String, CacheMode>,
    /// Names of the cached source nodes.
    cached_sources: Vec<String>,
}

impl PipelineBuilder {
    /// A builder for a pipeline called `name`.
    pub fn new(name: impl Into<String>) -> Self {
        PipelineBuilder {
            name: name.into(),
            nodes: Vec::new(),
            cache_modes: HashMap::new(),
            cached_sources: Vec::new(),
        }
    }

    /// Adds a source node.
    pub fn source(&mut self, name: impl Into<String>, source: Source) -> &mut Self {
        self.nodes
            .push((name.into(), NodeKind::Source(source), Vec::new()));
        self
    }

    /// Adds a cached source node (reference §4.4): on each run with a store, the
    /// source's current rows are added to the store at `source/node:{content hash}`
    /// (inside the pipeline's scope, one record per distinct row), and the node serves
    /// every row stored there so far — the union of all runs, without duplicates.
    /// Identity and schema are the wrapped source's. Without a store it is a plain source.
    pub fn cached_source(&mut self, name: impl Into<String>, source: Source) -> &mut Self {
        let name = name.into();
        self.cached_sources.push(name.clone());
        self.source(name, source)
    }

    /// Adds an operator node reading the named nodes with a cache mode (reference §8.3):
    /// [`CacheMode::Log`] stores every output row, [`CacheMode::Replay`] serves the stored
    /// rows instead of computing. See [`CacheMode`].
    pub fn operator_with_cache<S: Into<String>>(
        &mut self,
        name: impl Into<String>,
        spec: OperatorSpec,
        inputs: impl IntoIterator<Item = S>,
        mode: CacheMode,
    ) -> &mut Self {
        let name = name.into();
        self.cache_modes.insert(name.clone(), mode);
        self.operator(name, spec, inputs)
    }

    /// Adds an operator node reading the named nodes, in order.
    pub fn operator<S: Into<String>>(
        &mut self,
        name: impl Into<String>,
        spec: OperatorSpec,
        inputs: impl IntoIterator<Item = S>,
    ) -> &mut Self {
        self.nodes.push((
            name.into(),
            NodeKind::Operator(spec),
            inputs.into_iter().map(Into::into).collect(),
        ));
        self
    }

    /// Adds a function node reading the named nodes; several inputs are joined first by
    /// an implicit join node named `{name}.join` (as the reference does).
    pub fn function<S: Into<String>>(
        &mut self,
        name: impl Into<String>,
        pod: FunctionPod,
        inputs: impl IntoIterator<Item = S>,
    ) -> &mut Self {
        let name = name.into();
        let mut inputs: Vec<String> = inputs.into_iter().map(Into::into).collect();
        if inputs.len() > 1 {
            let join = join_node_name(&name);
            self.nodes
                .push((join.clone(), NodeKind::Operator(OperatorSpec::Join), inputs));
            inputs = vec![join];
        }
        self.nodes.push((name, NodeKind::Function(pod), inputs));
        self
    }

    /// Validates the graph and every node, predicting schemas and computing identities.
    pub fn build(&self) -> Result<Pipeline> {
        self.build_onto(None)
    }

    /// [`build`](Self::build), reusing the nodes of `prefix`, a pipeline this builder
    /// built before more nodes were added: only the new nodes are built (their schemas
    /// predicted, their identities computed). For a caller that needs a node's schema
    /// to declare the next node (the pipeline-file compiler), so that building up to
    /// each node costs the new nodes only, not the whole pipeline again.
    pub(crate) fn build_onto(&self, prefix: Option<Pipeline>) -> Result<Pipeline> {
        let plan_error = |message: String| Error::Plan {
            pipeline: self.name.clone(),
            message,
        };
        let mut position: HashMap<&str, usize> = HashMap::new();
        for (i, (name, _, _)) in self.nodes.iter().enumerate() {
            if name.is_empty() {
                return Err(plan_error("a node has an empty name".into()));
            }
            if position.insert(name, i).is_some() {
                return Err(plan_error(format!("two nodes are named `{name}`")));
            }
        }
        let order = self.topological_order().map_err(plan_error)?;

        let mut pipeline = prefix.unwrap_or_else(|| Pipeline {
            name: self.name.clone(),
            nodes: Vec::with_capacity(self.nodes.len()),
            by_name: HashMap::new(),
        });
        for declared in order {
            let (name, kind, input_names) = &self.nodes[declared];
            if pipeline.by_name.contains_key(name.as_str()) {
                // Built by an earlier call, as declared then.
                continue;
            }
            let inputs: Vec<usize> = input_names
                .iter()
                .map(|n| pipeline.by_name[n.as_str()])
                .collect();
            let (output_schema, identity) = match kind {
                NodeKind::Source(source) => (source.schema().clone(), source.identity().clone()),
                NodeKind::Operator(spec) => {
                    let infos: Vec<InputInfo> = inputs
                        .iter()
                        .map(|&i| InputInfo {
                            schema: pipeline.nodes[i].output_schema.clone(),
                            pipeline_hash: pipeline.nodes[i].identity.pipeline.clone(),
                        })
                        .collect();
                    let operator = spec.build(&infos).map_err(|e| e.at_node(name))?;
                    let input_ids: Vec<&Identity> = inputs
                        .iter()
                        .map(|&i| &pipeline.nodes[i].identity)
                        .collect();
                    let identity =
                        identity::invocation(&spec.content_hash(), spec.symmetry(), &input_ids);
                    (operator.output_schema().clone(), identity)
                }
                NodeKind::Function(pod) => {
                    if inputs.len() != 1 {
                        return Err(Error::schema(
                            format!("function `{}`", pod.uri().name),
                            format!("takes one input, got {}", inputs.len()),
                        )
                        .at_node(name));
                    }
                    let input = &pipeline.nodes[inputs[0]];
                    pod.check_input(&input.output_schema)
                        .map_err(|e| e.at_node(name))?;
                    let schema = Arc::new(
                        pod.output_schema(&input.output_schema)
                            .map_err(|e| e.at_node(name))?,
                    );
                    let identity = identity::invocation(
                        &pod.content_hash(),
                        Symmetry::Unordered,
                        &[&input.identity],
                    );
                    (schema, identity)
                }
            };
            pipeline.by_name.insert(name.clone(), pipeline.nodes.len());
            pipeline.nodes.push(Node {
                name: name.clone(),
                kind: kind.clone(),
                inputs,
                output_schema,
                identity,
                cache_mode: self.cache_modes.get(name).copied().unwrap_or_default(),
                cached_source: self.cached_sources.contains(name),
            });
        }
        Ok(pipeline)
    }

    /// Inputs that exist, and an order with ties in declaration order; on a cycle, names
    /// its nodes (and those reading it).
    fn topological_order(&self) -> Result<Vec<usize>, String> {
        let nodes = self.nodes.iter();
        let dag = Dag::new(nodes.map(|(name, _, inputs)| (name.as_str(), inputs.as_slice())))
            .map_err(|unknown| {
                format!(
                    "node `{}` reads `{}`, which is not a source or node",
                    self.nodes[unknown.node].0, unknown.input
                )
            })?;
        dag.order(Ties::Declared).map_err(|cycle| {
            format!(
                "the nodes {} form a cycle (or read one)",
                dag.stuck_names(&cycle)
            )
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Datum;
    use crate::source::SourceOptions;

    fn source(name: &str, value_column: &str) -> Source {
        let rows: Vec<Vec<(String, Datum)>> = (0..3)
            .map(|i| {
                vec![
                    ("id".to_string(), Datum::Int(i)),
                    (value_column.to_string(), Datum::Int(10 * i)),
                ]
            })
            .collect();
        Source::from_rows(&rows, &SourceOptions::tags(["id"]).with_source_id(name)).unwrap()
    }

    /// Building onto an earlier build gives the pipeline a whole build gives: the same
    /// nodes in the same order, with the same inputs, schemas and identities.
    #[test]
    fn building_onto_a_prefix_equals_building_whole() {
        let mut builder = PipelineBuilder::new("p");
        builder.source("a", source("a", "x"));
        builder.source("b", source("b", "y"));
        builder.source("c", source("c", "z"));
        builder.operator("ab", OperatorSpec::Join, ["a", "b"]);
        let prefix = builder.build().unwrap();
        builder.operator("abc", OperatorSpec::Join, ["ab", "c"]);
        builder.operator("ba", OperatorSpec::Join, ["b", "a"]);
        let onto = builder.build_onto(Some(prefix)).unwrap();
        let whole = builder.build().unwrap();
        let describe = |p: &Pipeline| -> Vec<String> {
            p.nodes()
                .iter()
                .map(|n| {
                    format!(
                        "{} {:?} {:?} {:?}",
                        n.name(),
                        n.inputs(),
                        n.output_schema(),
                        n.identity()
                    )
                })
                .collect()
        };
        assert_eq!(onto.nodes().len(), 6);
        assert_eq!(describe(&onto), describe(&whole));
    }
}
