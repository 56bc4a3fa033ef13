//! From the text of a pipeline file to a [`PipelineFile`]: parse, read every entry's
//! settings, check the graph, load the sources, then build the pipeline node by node
//! so that every error is pinned to the node that caused it.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use arrow::datatypes::{Field, FieldRef};
use serde_json::Value as Json;
use serde_saphyr::Spanned;

use super::args::{datum_of, max_concurrency_of, protocol_of, retries_of, timeout_of, Args};
use super::raw::{self, describe, Entry, Keyed, Position, RawFile};
use super::{
    cache_mode, parse_type, Builtins, CommandCheck, FileError, FileWarning, PipelineFile, Subject,
};
use crate::error::Error;
use crate::function::command::{CommandFunction, Protocol};
use crate::function::{FunctionPod, PacketFunction};
use crate::model::Datum;
use crate::operator::{FilterOp, OperatorSpec, Predicate};
use crate::pipeline::{CacheMode, ErrorPolicy, PipelineBuilder};
use crate::source::{Source, SourceOptions};

/// Every op a node may name (aliases included), for messages.
const OPS: &[&str] = &[
    "join",
    "merge_join",
    "semi_join",
    "batch",
    "select_tag_columns",
    "drop_tag_columns",
    "select_packet_columns",
    "drop_packet_columns",
    "map_tags",
    "map_packets",
    "polars_filter",
    "filter",
    "function",
];

/// Keys of a node that are not arguments of its op.
const NODE_KEYS: &[&str] = &["op", "input", "inputs", "args", "cache"];

/// Keys of the top-level `defaults:` mapping.
const DEFAULT_KEYS: &[&str] = &["timeout", "retries", "max_concurrency"];

/// Reports problems with the file at hand.
struct Reporter<'a> {
    file: &'a Path,
}

impl Reporter<'_> {
    fn error(&self, position: Option<Position>, subject: Subject, message: String) -> FileError {
        FileError {
            file: self.file.to_path_buf(),
            position,
            subject,
            message,
            snippet: None,
        }
    }
    fn at_source(&self, entry: &Entry, message: String) -> FileError {
        self.error(
            Some(entry.position),
            Subject::Source(entry.name.clone()),
            message,
        )
    }
    fn at_node(&self, entry: &Entry, message: String) -> FileError {
        self.error(
            Some(entry.position),
            Subject::Node(entry.name.clone()),
            message,
        )
    }
    /// An error about one key of a node, at the line where the key is written.
    fn at_node_key(&self, entry: &Entry, key: &str, message: String) -> FileError {
        self.error(
            Some(entry.position_of(key)),
            Subject::Node(entry.name.clone()),
            message,
        )
    }
}

/// A source as declared, not yet loaded.
struct SourceDecl {
    entry: Entry,
    kind: SourceKind,
    cached: bool,
}

/// Where a source's rows come from.
enum SourceKind {
    /// A CSV or Arrow IPC file.
    File {
        path: PathBuf,
        arrow: bool,
        options: SourceOptions,
    },
    /// The stored results of node `node` of the pipeline file `from`, in database `db`
    /// (default: that file's own).
    Derived {
        node: String,
        from: PathBuf,
        db: Option<PathBuf>,
    },
}

/// What a node computes.
enum NodeBody {
    Operator(OperatorSpec, CacheMode),
    Function(Box<FunctionDecl>),
}

/// A function node's settings.
struct FunctionDecl {
    implementation: Implementation,
    output: Option<Vec<FieldRef>>,
    function_name: String,
    version: String,
    /// How it runs, as written on the node (checked by [`run_settings`]).
    written: WrittenRun,
    /// How it runs: the node's own settings over the file's `defaults:`.
    run: RunSettings,
}

/// The settings of how a function node runs, as written on the node (null = absent).
#[derive(Default)]
struct WrittenRun {
    timeout: Option<Json>,
    retries: Option<Json>,
    protocol: Option<Json>,
    max_concurrency: Option<Json>,
}

/// How a function node runs. None of it enters any identity.
#[derive(Default)]
struct RunSettings {
    timeout: Option<Duration>,
    retries: u32,
    protocol: Protocol,
    max_concurrency: Option<usize>,
}

/// The top-level `defaults:`: settings every function node has unless it gives its own.
#[derive(Default)]
struct Defaults {
    /// Command functions only: a builtin cannot be stopped.
    timeout: Option<Duration>,
    retries: Option<u32>,
    max_concurrency: Option<usize>,
}

enum Implementation {
    Command(Vec<String>),
    Builtin(String),
}

/// A node as declared.
struct NodeDecl {
    entry: Entry,
    inputs: Vec<String>,
    body: NodeBody,
}

pub(super) fn compile(
    text: &str,
    file: &Path,
    builtins: &Builtins,
) -> Result<PipelineFile, FileError> {
    let mut loading: Vec<PathBuf> = std::fs::canonicalize(file).into_iter().collect();
    compile_file(text, file, builtins, &mut loading)
}

/// [`compile`], knowing which files are being loaded (a derived source loads the file
/// it derives from; a file may not derive from itself).
fn compile_file(
    text: &str,
    file: &Path,
    builtins: &Builtins,
    loading: &mut Vec<PathBuf>,
) -> Result<PipelineFile, FileError> {
    let report = Reporter { file };
    let raw: RawFile = serde_saphyr::from_str(text).map_err(|e| syntax_error(file, &e))?;
    let dir = absolute_dir(file);

    let pipeline_name = match (&raw.pipeline, &raw.name) {
        (Some(p), _) => {
            if p.value.trim().is_empty() || p.value.contains('/') {
                return Err(report.error(
                    Some(raw::position(p)),
                    Subject::File,
                    format!(
                        "`pipeline: {}` must be a non-empty name without `/`",
                        p.value
                    ),
                ));
            }
            p.value.clone()
        }
        (None, Some(name)) => name.clone(),
        (None, None) => file
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_else(|| "pipeline".into()),
    };
    let on_error = match &raw.on_error {
        None => ErrorPolicy::FailFast,
        Some(s) => match s.value.as_str() {
            "fail" => ErrorPolicy::FailFast,
            "continue" => ErrorPolicy::Continue,
            other => {
                return Err(report.error(
                    Some(raw::position(s)),
                    Subject::File,
                    format!("`on_error: {other}` is not a policy (expected fail or continue)"),
                ))
            }
        },
    };

    let defaults = match &raw.defaults {
        None => Defaults::default(),
        Some(d) => read_defaults(d).map_err(|(at, m)| report.error(Some(at), Subject::File, m))?,
    };

    // Names: one namespace for sources and nodes.
    let mut declared: HashMap<String, Position> = HashMap::new();
    for (entries, is_source) in [(&raw.sources.0, true), (&raw.nodes.0, false)] {
        for entry in entries {
            let at_entry = |message: String| {
                if is_source {
                    report.at_source(entry, message)
                } else {
                    report.at_node(entry, message)
                }
            };
            if entry.name.trim().is_empty() || entry.name.contains('/') {
                return Err(at_entry(
                    "a name must be non-empty and may not contain `/`".into(),
                ));
            }
            if let Some(first) = declared.insert(entry.name.clone(), entry.position) {
                return Err(at_entry(format!(
                    "the name is already used by the source or node on line {}",
                    first.line
                )));
            }
        }
    }
    if raw.sources.0.is_empty() {
        return Err(report.error(
            None,
            Subject::File,
            "the file declares no sources (`sources:` maps names to CSV or Arrow files)".into(),
        ));
    }

    // Every entry's settings, before touching any file.
    let sources: Vec<SourceDecl> = raw
        .sources
        .0
        .iter()
        .map(|e| read_source(e, &dir).map_err(|m| report.at_source(e, m)))
        .collect::<Result<_, _>>()?;
    let nodes: Vec<NodeDecl> = raw
        .nodes
        .0
        .iter()
        .map(|e| {
            let mut node = read_node(e, builtins).map_err(|m| report.at_node(e, m))?;
            if let NodeBody::Function(decl) = &mut node.body {
                decl.run = run_settings(decl, &defaults)
                    .map_err(|(key, m)| report.at_node_key(e, key, m))?;
            }
            Ok(node)
        })
        .collect::<Result<_, _>>()?;

    // The graph: inputs that exist, no cycle.
    for node in &nodes {
        for input in &node.inputs {
            if !declared.contains_key(input) {
                let hint = closest(input, declared.keys().map(String::as_str))
                    .map(|c| format!(" (did you mean `{c}`?)"))
                    .unwrap_or_default();
                return Err(report.at_node(
                    &node.entry,
                    format!("reads `{input}`, which is neither a source nor a node{hint}"),
                ));
            }
        }
    }
    if let Some(cycle) = find_cycle(&nodes) {
        let first = &nodes[cycle[0]];
        let path: Vec<String> = cycle
            .iter()
            .chain(std::iter::once(&cycle[0]))
            .map(|&i| format!("`{}`", nodes[i].entry.name))
            .collect();
        return Err(report.at_node(
            &first.entry,
            format!("the nodes form a cycle: {}", path.join(" → ")),
        ));
    }
    let outputs: Vec<String> = match &raw.outputs {
        Some(list) => {
            for output in list {
                if !declared.contains_key(&output.value) {
                    return Err(report.error(
                        Some(raw::position(output)),
                        Subject::File,
                        format!(
                            "`outputs` names `{}`, which is neither a source nor a node",
                            output.value
                        ),
                    ));
                }
            }
            list.iter().map(|o| o.value.clone()).collect()
        }
        None => Vec::new(),
    };

    // Load the sources (this reads their files).
    let mut builder = PipelineBuilder::new(pipeline_name);
    let mut positions: HashMap<String, Position> = HashMap::new();
    let mut warnings = Vec::new();
    for decl in &sources {
        let loaded = match &decl.kind {
            SourceKind::File {
                path,
                arrow: true,
                options,
            } => Source::from_arrow_ipc(path, options).map_err(|e| e.to_string()),
            SourceKind::File { path, options, .. } => {
                Source::from_csv(path, options).map_err(|e| e.to_string())
            }
            SourceKind::Derived { node, from, db } => {
                derived_source(node, from, db.as_deref(), builtins, loading)
            }
        }
        .map_err(|m| report.at_source(&decl.entry, m))?;
        warnings.extend(loaded.warnings().iter().map(|w| FileWarning {
            file: file.to_path_buf(),
            position: Some(decl.entry.position),
            subject: Subject::Source(decl.entry.name.clone()),
            message: w.to_string(),
        }));
        if decl.cached {
            builder.cached_source(decl.entry.name.clone(), loaded);
        } else {
            builder.source(decl.entry.name.clone(), loaded);
        }
        positions.insert(decl.entry.name.clone(), decl.entry.position);
    }

    // Build node by node, in an order where inputs come first.
    let by_name: HashMap<&str, usize> = nodes
        .iter()
        .enumerate()
        .map(|(i, n)| (n.entry.name.as_str(), i))
        .collect();
    let mut commands = Vec::new();
    for index in topological_order(&nodes) {
        let node = &nodes[index];
        let name = node.entry.name.clone();
        positions.insert(name.clone(), node.entry.position);
        match &node.body {
            NodeBody::Operator(spec, mode) => {
                spec.check_arity(node.inputs.len())
                    .map_err(|e| report.at_node(&node.entry, unwrap_node(e, &name)))?;
                builder.operator_with_cache(name, spec.clone(), node.inputs.clone(), *mode);
            }
            NodeBody::Function(decl) => {
                let mut input = node.inputs[0].clone();
                if node.inputs.len() > 1 {
                    input = format!("{name}.join");
                    positions.insert(input.clone(), node.entry.position);
                    builder.operator(input.clone(), OperatorSpec::Join, node.inputs.clone());
                }
                let prefix = builder
                    .build()
                    .map_err(|e| build_error(&report, e, &nodes, &by_name, &sources))?;
                let input_node = prefix.node(&input).ok_or_else(|| {
                    report.at_node(&node.entry, format!("internal: `{input}` was not built"))
                })?;
                let packet_fields = input_node.output_schema().packet_fields().to_vec();
                let (function, command) = make_function(&name, decl, packet_fields, &dir, builtins)
                    .map_err(|m| report.at_node(&node.entry, m))?;
                if let Some(command) = command {
                    commands.push(command);
                }
                let mut pod = FunctionPod::new(function)
                    .map_err(|e| report.at_node(&node.entry, e.to_string()))?
                    .with_retries(decl.run.retries);
                if let Some(max) = decl.run.max_concurrency {
                    pod = pod
                        .with_max_concurrency(max)
                        .map_err(|e| report.at_node(&node.entry, e.to_string()))?;
                }
                builder.function(name, pod, [input]);
            }
        }
    }
    let pipeline = builder
        .build()
        .map_err(|e| build_error(&report, e, &nodes, &by_name, &sources))?;
    let outputs = if outputs.is_empty() {
        pipeline
            .sinks()
            .iter()
            .map(|n| n.name().to_string())
            .collect()
    } else {
        outputs
    };
    Ok(PipelineFile {
        path: file.to_path_buf(),
        dir,
        display_name: raw.name,
        description: raw.description,
        on_error,
        outputs,
        pipeline,
        positions,
        commands,
        warnings,
    })
}

/// A YAML error as a [`FileError`]: position, the parser's message, and its snippet
/// with the file's name in place of `<input>`.
fn syntax_error(file: &Path, e: &serde_saphyr::Error) -> FileError {
    let rendered = e.to_string();
    let mut lines = rendered.lines();
    let first = lines.next().unwrap_or_default();
    let message = first.strip_prefix("error: ").unwrap_or(first).to_string();
    // "line 3 column 5: message" → "message" (the position goes in front).
    let message = match message.split_once(": ") {
        Some((head, rest)) if head.starts_with("line ") && head.contains(" column ") => {
            rest.to_string()
        }
        _ => message,
    };
    let snippet: Vec<String> = lines
        .map(|l| l.replace("<input>", &file.display().to_string()))
        .collect();
    let position = e.location().map(|l| Position {
        line: u32::try_from(l.line()).unwrap_or(u32::MAX),
        column: u32::try_from(l.column()).unwrap_or(u32::MAX),
    });
    FileError {
        file: file.to_path_buf(),
        position,
        subject: Subject::File,
        message: if position.is_none() && message.is_empty() {
            rendered.clone()
        } else {
            message
        },
        snippet: (!snippet.is_empty()).then(|| snippet.join("\n").into()),
    }
}

fn absolute_dir(file: &Path) -> PathBuf {
    let dir = file.parent().unwrap_or(Path::new("")).to_path_buf();
    let dir = if dir.as_os_str().is_empty() {
        PathBuf::from(".")
    } else {
        dir
    };
    std::path::absolute(&dir).unwrap_or(dir)
}

fn read_source(entry: &Entry, dir: &Path) -> Result<SourceDecl, String> {
    let mut args = Args::new(entry.body.clone());
    if let Some(node) = args.string("derived")? {
        let from = args.string("from")?.ok_or(
            "a derived source needs `from: other_pipeline.yaml`, the file declaring the node",
        )?;
        let db = args.string("db")?.map(|d| dir.join(d));
        args.finish(&["derived", "from", "db"])?;
        return Ok(SourceDecl {
            entry: entry.clone(),
            kind: SourceKind::Derived {
                node,
                from: dir.join(from),
                db,
            },
            cached: false,
        });
    }
    let csv = args.string("csv")?;
    let arrow = args.string("arrow")?;
    let (file, is_arrow) =
        match (csv, arrow) {
            (Some(c), None) => (c, false),
            (None, Some(a)) => (a, true),
            (Some(_), Some(_)) => return Err("give either `csv` or `arrow`, not both".into()),
            (None, None) => return Err(
                "needs a file (`csv: path/to/file.csv` or `arrow: path/to/file.arrow`) or a node \
             (`derived: NODE, from: other_pipeline.yaml`)"
                    .into(),
            ),
        };
    let tags = args.strings(&["tags"])?.unwrap_or_default();
    let source_id = args
        .string("source_id")?
        .unwrap_or_else(|| entry.name.clone());
    let record_id_column = args.string("record_id_column")?;
    let cached = args.bool("cached", false)?;
    let types = column_types(args.mapping("types")?)?;
    args.finish(&[
        "csv",
        "arrow",
        "tags",
        "source_id",
        "record_id_column",
        "cached",
        "derived",
        "types",
    ])?;
    let mut options = SourceOptions::tags(tags).with_source_id(source_id);
    if let Some(c) = record_id_column {
        options = options.with_record_id_column(c);
    }
    options.types = types;
    Ok(SourceDecl {
        entry: entry.clone(),
        kind: SourceKind::File {
            path: dir.join(file),
            arrow: is_arrow,
            options,
        },
        cached,
    })
}

/// A source's `types: {column: type}`, in the spelling of `output_types`. Which types a
/// CSV column may take is the source's to say.
fn column_types(types: Option<serde_json::Map<String, Json>>) -> Result<Vec<Field>, String> {
    types
        .unwrap_or_default()
        .into_iter()
        .map(|(column, t)| match t {
            Json::String(name) => parse_type(&name)
                .map(|(data_type, nullable)| Field::new(column.clone(), data_type, nullable))
                .map_err(|e| format!("`types` gives column `{column}` an {e}")),
            other => Err(format!(
                "`types` maps `{column}` to {}, expected a type name (str, int, float or bool, \
                 followed by `| None` if values may be missing)",
                describe(&other)
            )),
        })
        .collect()
}

/// The stored results of `node` of the pipeline file `from` as a source. The database
/// must exist already (it is opened, never created).
fn derived_source(
    node: &str,
    from: &Path,
    db: Option<&Path>,
    builtins: &Builtins,
    loading: &mut Vec<PathBuf>,
) -> Result<Source, String> {
    let canonical = std::fs::canonicalize(from)
        .map_err(|e| format!("cannot read `{}`: {e}", from.display()))?;
    if loading.contains(&canonical) {
        return Err(format!(
            "`{}` derives, directly or not, from itself",
            from.display()
        ));
    }
    loading.push(canonical);
    let text =
        std::fs::read_to_string(from).map_err(|e| format!("cannot read `{}`: {e}", from.display()));
    let other = text.and_then(|text| {
        compile_file(&text, from, builtins, loading)
            .map_err(|e| format!("in the file it derives from: {e}"))
    });
    loading.pop();
    let other = other?;
    let pipeline = other.pipeline();
    let target = pipeline
        .node(node)
        .ok_or_else(|| format!("`{}` has no node `{node}`", from.display()))?;
    match target.kind() {
        crate::pipeline::NodeKind::Function(_) => {}
        crate::pipeline::NodeKind::Operator(_) if target.cache_mode() == CacheMode::Log => {}
        _ => {
            return Err(format!(
                "node `{node}` of `{}` keeps no stored results (only function nodes and \
                 operator nodes with `cache: log` do)",
                from.display()
            ))
        }
    }
    let db = db
        .map(Path::to_path_buf)
        .unwrap_or_else(|| other.default_db());
    if !db.is_dir() {
        return Err(format!(
            "there are no stored results yet: the database {} does not exist (run `{}` first)",
            db.display(),
            from.display()
        ));
    }
    let store = crate::store::SledStore::open(&db).map_err(|e| e.to_string())?;
    crate::pipeline::stored_source(&store, pipeline, node).map_err(|e| e.to_string())
}

fn read_node(entry: &Entry, builtins: &Builtins) -> Result<NodeDecl, String> {
    let mut args = Args::new(entry.body.clone());
    let op = match args.take(&["op"])? {
        Some(Json::String(op)) => op,
        Some(other) => return Err(format!("`op` must be a string, not {}", describe(&other))),
        None => return Err(format!("`op` is missing (one of {})", OPS.join(", "))),
    };
    let inputs = match (args.strings(&["input"])?, args.strings(&["inputs"])?) {
        (Some(_), Some(_)) => return Err("give either `input` or `inputs`, not both".into()),
        (Some(i), None) | (None, Some(i)) => i,
        (None, None) => return Err("`input` (or `inputs`) is missing: what does it read?".into()),
    };
    if inputs.is_empty() {
        return Err("`inputs` is empty: a node reads at least one source or node".into());
    }
    let cache = args.string("cache")?;
    // Arguments are inline, or under `args:`, not both.
    let nested = args.mapping("args")?;
    let mut op_args = match nested {
        Some(nested) => {
            if let Some(key) = entry.body.keys().find(|k| !NODE_KEYS.contains(&k.as_str())) {
                return Err(format!(
                    "`{key}` is given inline and there is an `args:` mapping too; put every argument in one place"
                ));
            }
            Args::new(nested)
        }
        None => {
            let rest = entry
                .body
                .iter()
                .filter(|(k, _)| !NODE_KEYS.contains(&k.as_str()))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect();
            Args::new(rest)
        }
    };
    let unary = |inputs: &[String]| -> Result<(), String> {
        if inputs.len() != 1 {
            return Err(format!(
                "`{op}` reads one input (`input: name`), got {}",
                inputs.len()
            ));
        }
        Ok(())
    };
    let body = match op.as_str() {
        "join" => {
            op_args.finish(&[])?;
            NodeBody::Operator(OperatorSpec::Join, CacheMode::Off)
        }
        "merge_join" | "semi_join" => {
            if inputs.len() != 2 {
                return Err(format!(
                    "`{op}` reads exactly two inputs (`inputs: [left, right]`), got {}",
                    inputs.len()
                ));
            }
            op_args.finish(&[])?;
            let spec = if op == "merge_join" {
                OperatorSpec::MergeJoin
            } else {
                OperatorSpec::SemiJoin
            };
            NodeBody::Operator(spec, CacheMode::Off)
        }
        "batch" => {
            unary(&inputs)?;
            let batch_size = op_args.count("batch_size")?.unwrap_or(0);
            let drop_partial_batch = op_args.bool("drop_partial_batch", false)?;
            op_args.finish(&["batch_size", "drop_partial_batch"])?;
            NodeBody::Operator(
                OperatorSpec::Batch {
                    batch_size,
                    drop_partial_batch,
                },
                CacheMode::Off,
            )
        }
        "select_tag_columns"
        | "drop_tag_columns"
        | "select_packet_columns"
        | "drop_packet_columns" => {
            unary(&inputs)?;
            let columns = op_args
                .strings(&["columns"])?
                .ok_or("`columns` is required: the columns to keep or drop")?;
            let strict = op_args.bool("strict", true)?;
            op_args.finish(&["columns", "strict"])?;
            let spec = match op.as_str() {
                "select_tag_columns" => OperatorSpec::SelectTagColumns { columns, strict },
                "drop_tag_columns" => OperatorSpec::DropTagColumns { columns, strict },
                "select_packet_columns" => OperatorSpec::SelectPacketColumns { columns, strict },
                _ => OperatorSpec::DropPacketColumns { columns, strict },
            };
            NodeBody::Operator(spec, CacheMode::Off)
        }
        "map_tags" | "map_packets" => {
            unary(&inputs)?;
            let name_map = op_args
                .string_map(&["name_map", "mapping"])?
                .ok_or("`name_map` (or `mapping`) is required: old name → new name")?;
            let drop_unmapped = op_args.bool("drop_unmapped", false)?;
            op_args.finish(&["name_map", "mapping", "drop_unmapped"])?;
            let spec = if op == "map_tags" {
                OperatorSpec::MapTags {
                    name_map,
                    drop_unmapped,
                }
            } else {
                OperatorSpec::MapPackets {
                    name_map,
                    drop_unmapped,
                }
            };
            NodeBody::Operator(spec, CacheMode::Off)
        }
        "polars_filter" | "filter" => {
            unary(&inputs)?;
            let predicates = op_args
                .list("predicates")?
                .unwrap_or_default()
                .iter()
                .enumerate()
                .map(|(i, p)| read_predicate(p).map_err(|m| format!("predicate {}: {m}", i + 1)))
                .collect::<Result<Vec<_>, _>>()?;
            let constraints = op_args
                .mapping("constraints")?
                .unwrap_or_default()
                .iter()
                .map(|(k, v)| {
                    datum_of(v)
                        .map(|d| (k.clone(), d))
                        .map_err(|m| format!("constraint `{k}`: {m}"))
                })
                .collect::<Result<BTreeMap<_, _>, _>>()?;
            op_args.finish(&["predicates", "constraints"])?;
            NodeBody::Operator(
                OperatorSpec::Filter {
                    predicates,
                    constraints,
                },
                CacheMode::Off,
            )
        }
        "function" => {
            if cache.is_some() {
                return Err("`cache` applies to operator nodes; a function node always keeps its results in the database".into());
            }
            // How it runs is checked once the file's defaults are known.
            let written = WrittenRun {
                timeout: op_args.take(&["timeout"])?,
                retries: op_args.take(&["retries"])?,
                protocol: op_args.take(&["protocol"])?,
                max_concurrency: op_args.take(&["max_concurrency"])?,
            };
            let mut decl = read_function(&entry.name, op_args, builtins)?;
            decl.written = written;
            NodeBody::Function(Box::new(decl))
        }
        other => {
            let hint = closest(other, OPS.iter().copied())
                .map(|c| format!(" (did you mean `{c}`?)"))
                .unwrap_or_default();
            return Err(format!(
                "unknown op `{other}`{hint}; the ops are {}",
                OPS.join(", ")
            ));
        }
    };
    let body = match (body, cache) {
        (NodeBody::Operator(spec, _), Some(mode)) => NodeBody::Operator(spec, cache_mode(&mode)?),
        (body, _) => body,
    };
    Ok(NodeDecl {
        entry: entry.clone(),
        inputs,
        body,
    })
}

fn read_predicate(value: &Json) -> Result<Predicate, String> {
    let Json::Object(map) = value else {
        return Err(format!(
            "must be a mapping `{{col: …, op: …, value: …}}`, not {}",
            describe(value)
        ));
    };
    let mut args = Args::new(map.clone());
    let col = args.required_string("col")?;
    let op_text = args.required_string("op")?;
    let op = FilterOp::parse(&op_text).map_err(|_| {
        format!("unknown op `{op_text}` (expected one of == != < <= > >= in is_null not_null)")
    })?;
    let value = match args.take(&["value"])? {
        Some(v) => datum_of(&v)?,
        None => Datum::Null,
    };
    match op {
        FilterOp::IsNull | FilterOp::NotNull if value != Datum::Null => {
            return Err(format!("`{op_text}` takes no `value`"))
        }
        FilterOp::In if !matches!(value, Datum::List(_)) => {
            return Err("`in` needs a list `value`".into())
        }
        FilterOp::Eq | FilterOp::Ne | FilterOp::Lt | FilterOp::Le | FilterOp::Gt | FilterOp::Ge
            if value == Datum::Null =>
        {
            return Err(format!(
                "`{op_text}` needs a `value` (use is_null / not_null to test for null)"
            ))
        }
        _ => {}
    }
    args.finish(&["col", "op", "value"])?;
    Ok(Predicate { col, op, value })
}

fn read_function(node: &str, mut args: Args, builtins: &Builtins) -> Result<FunctionDecl, String> {
    let command = match args.take(&["command"])? {
        None | Some(Json::Null) => None,
        Some(Json::String(line)) => Some(
            line.split_whitespace()
                .map(String::from)
                .collect::<Vec<_>>(),
        ),
        Some(Json::Array(items)) => Some(
            items
                .into_iter()
                .map(|i| match i {
                    Json::String(s) => Ok(s),
                    Json::Number(n) => Ok(n.to_string()),
                    other => Err(format!(
                        "`command` must list strings, but holds {}",
                        describe(&other)
                    )),
                })
                .collect::<Result<Vec<_>, _>>()?,
        ),
        Some(other) => {
            return Err(format!(
                "`command` must be a list (program, then arguments), not {}",
                describe(&other)
            ))
        }
    };
    let builtin = args.string("builtin")?;
    let implementation = match (command, builtin) {
        (Some(_), Some(_)) => return Err("give either `command` or `builtin`, not both".into()),
        (Some(c), None) => {
            if c.is_empty() {
                return Err("`command` is empty: it needs at least a program".into());
            }
            Implementation::Command(c)
        }
        (None, Some(b)) => {
            if builtins.get(&b).is_none() {
                let known = builtins.names();
                return Err(format!(
                    "unknown builtin `{b}`; {}",
                    if known.is_empty() {
                        "no builtins are registered".to_string()
                    } else {
                        format!("the builtins are {}", known.join(", "))
                    }
                ));
            }
            Implementation::Builtin(b)
        }
        (None, None) => {
            return Err(
                "a function node needs `command: [program, args…]` or `builtin: NAME`".into(),
            )
        }
    };
    let keys = args.strings(&["output_keys"])?;
    let types = args.mapping("output_types")?;
    let output = match (keys, types) {
        (None, None) => None,
        (keys, types) => {
            let types = types.unwrap_or_default();
            let keys = keys.unwrap_or_else(|| types.keys().cloned().collect());
            if keys.is_empty() {
                return Err("`output_keys` is empty: a function returns at least one value".into());
            }
            if let Some(extra) = types.keys().find(|k| !keys.contains(k)) {
                return Err(format!(
                    "`output_types` gives a type for `{extra}`, which is not in `output_keys`"
                ));
            }
            let mut fields = Vec::with_capacity(keys.len());
            for key in &keys {
                let ty = match types.get(key) {
                    Some(Json::String(t)) => t,
                    Some(other) => {
                        return Err(format!(
                            "`output_types.{key}` must be a type name, not {}",
                            describe(other)
                        ))
                    }
                    None => return Err(format!("`output_types` has no type for `{key}`")),
                };
                let (data_type, nullable) =
                    parse_type(ty).map_err(|m| format!("`output_types.{key}`: {m}"))?;
                fields.push(Arc::new(Field::new(key, data_type, nullable)) as FieldRef);
            }
            Some(fields)
        }
    };
    if output.is_none() && matches!(implementation, Implementation::Command(_)) {
        return Err(
            "a command function needs `output_keys` and `output_types` (what each answer line holds)"
                .into(),
        );
    }
    let function_name = args
        .string("function_name")?
        .unwrap_or_else(|| node.to_string());
    let version = args.string("version")?.unwrap_or_else(|| "v0.0".into());
    let version = if version.starts_with('v') {
        version
    } else {
        format!("v{version}")
    };
    args.finish(&[
        "command",
        "builtin",
        "output_keys",
        "output_types",
        "function_name",
        "version",
        "max_concurrency",
        "retries",
        "timeout",
        "protocol",
    ])?;
    Ok(FunctionDecl {
        implementation,
        output,
        function_name,
        version,
        written: WrittenRun::default(),
        run: RunSettings::default(),
    })
}

/// The top-level `defaults:` mapping, or what is wrong with it and where.
fn read_defaults(defaults: &Spanned<Keyed>) -> Result<Defaults, (Position, String)> {
    let at_key = |key: &str| {
        defaults
            .value
            .keys
            .get(key)
            .copied()
            .unwrap_or_else(|| raw::position(defaults))
    };
    let map = match &defaults.value.value {
        Json::Null => return Ok(Defaults::default()),
        Json::Object(map) => map,
        other => {
            return Err((
                raw::position(defaults),
                format!(
                    "`defaults` must be a mapping of {}, not {}",
                    DEFAULT_KEYS.join(", "),
                    describe(other)
                ),
            ))
        }
    };
    let mut read = Defaults::default();
    for (key, value) in map {
        let label = format!("defaults.{key}");
        let checked = match key.as_str() {
            "timeout" | "retries" | "max_concurrency" if value.is_null() => Ok(()),
            "timeout" => timeout_of(&label, value).map(|t| read.timeout = Some(t)),
            "retries" => retries_of(&label, value).map(|r| read.retries = Some(r)),
            "max_concurrency" => {
                max_concurrency_of(&label, value).map(|m| read.max_concurrency = Some(m))
            }
            other => {
                let hint = if other == "protocol" {
                    " (`protocol` is set on each command function node)".to_string()
                } else {
                    closest(other, DEFAULT_KEYS.iter().copied())
                        .map(|c| format!(" (did you mean `{c}`?)"))
                        .unwrap_or_default()
                };
                Err(format!(
                    "unknown key `{other}` in `defaults`{hint}; the keys are {}",
                    DEFAULT_KEYS.join(", ")
                ))
            }
        };
        checked.map_err(|m| (at_key(key), m))?;
    }
    Ok(read)
}

/// How a function node runs: what the node says, else the file's defaults. A builtin
/// runs inside this process, so it takes neither a timeout nor a protocol. Errors name
/// the key they are about.
fn run_settings(
    decl: &FunctionDecl,
    defaults: &Defaults,
) -> Result<RunSettings, (&'static str, String)> {
    let written = &decl.written;
    let present = |v: &Option<Json>| v.as_ref().filter(|v| !v.is_null()).cloned();
    if let Implementation::Builtin(name) = &decl.implementation {
        if present(&written.timeout).is_some() {
            return Err((
                "timeout",
                format!(
                    "`timeout` applies to command functions only: builtin `{name}` runs inside \
                     orcapod, where it cannot be stopped; remove `timeout`"
                ),
            ));
        }
        if present(&written.protocol).is_some() {
            return Err((
                "protocol",
                format!(
                    "`protocol` applies to command functions only: builtin `{name}` is called \
                     directly, not over JSON Lines; remove `protocol`"
                ),
            ));
        }
    }
    let timeout = match present(&written.timeout) {
        Some(v) => Some(timeout_of("timeout", &v).map_err(|m| ("timeout", m))?),
        None => match decl.implementation {
            Implementation::Command(_) => defaults.timeout,
            Implementation::Builtin(_) => None,
        },
    };
    let retries = match present(&written.retries) {
        Some(v) => retries_of("retries", &v).map_err(|m| ("retries", m))?,
        None => defaults.retries.unwrap_or(0),
    };
    let protocol = match present(&written.protocol) {
        Some(v) => protocol_of("protocol", &v).map_err(|m| ("protocol", m))?,
        None => Protocol::default(),
    };
    let max_concurrency = match present(&written.max_concurrency) {
        Some(v) => {
            Some(max_concurrency_of("max_concurrency", &v).map_err(|m| ("max_concurrency", m))?)
        }
        None => defaults.max_concurrency,
    };
    Ok(RunSettings {
        timeout,
        retries,
        protocol,
        max_concurrency,
    })
}

type MadeFunction = (Arc<dyn PacketFunction>, Option<CommandCheck>);

fn make_function(
    node: &str,
    decl: &FunctionDecl,
    input: Vec<FieldRef>,
    dir: &Path,
    builtins: &Builtins,
) -> Result<MadeFunction, String> {
    match &decl.implementation {
        Implementation::Command(command) => {
            let function = command_function(decl, command, input, dir)?;
            let check = CommandCheck {
                node: node.to_string(),
                command: function.command().to_vec(),
                working_dir: dir.to_path_buf(),
                timeout: function.timeout(),
                protocol: function.protocol(),
            };
            Ok((Arc::new(function), Some(check)))
        }
        Implementation::Builtin(name) => {
            let factory = builtins
                .get(name)
                .ok_or_else(|| format!("unknown builtin `{name}`"))?;
            let function = factory(&super::BuiltinRequest {
                function_name: &decl.function_name,
                version: &decl.version,
                input: &input,
            })
            .map_err(|m| format!("builtin `{name}`: {m}"))?;
            if let Some(declared) = &decl.output {
                let actual = function.output_schema();
                let render = |fields: &[FieldRef]| {
                    fields
                        .iter()
                        .map(|f| {
                            format!(
                                "{}: {}",
                                f.name(),
                                crate::hashing::python_type::python_type_name(f)
                            )
                        })
                        .collect::<Vec<_>>()
                        .join(", ")
                };
                if render(declared) != render(actual) {
                    return Err(format!(
                        "builtin `{name}` returns {{{}}}, but the file declares {{{}}}",
                        render(actual),
                        render(declared)
                    ));
                }
            }
            Ok((function, None))
        }
    }
}

/// The command function of a node running `command`, with the node's version,
/// protocol and timeout.
fn command_function(
    decl: &FunctionDecl,
    command: &[String],
    input: Vec<FieldRef>,
    dir: &Path,
) -> Result<CommandFunction, String> {
    let mut command = command.to_vec();
    command[0] = resolve_program(&command[0], dir)?;
    let output = decl.output.clone().unwrap_or_default();
    Ok(
        CommandFunction::new(decl.function_name.clone(), command, dir, input, output)
            .map_err(|e| e.to_string())?
            .with_version(decl.version.clone())
            .with_protocol(decl.run.protocol)
            .with_timeout(decl.run.timeout),
    )
}

/// A program named with a path is taken relative to the file's directory; a bare name
/// is looked up on `PATH`. Either way it must exist now: a command that cannot start
/// is an invalid file, not a failed run.
fn resolve_program(program: &str, dir: &Path) -> Result<String, String> {
    if program.contains('/') {
        let path = dir.join(program);
        if !path.is_file() {
            return Err(format!(
                "the command cannot start: program `{program}` does not exist (looked for {})",
                path.display()
            ));
        }
        return Ok(path.to_string_lossy().into_owned());
    }
    let found = std::env::var_os("PATH")
        .map(|paths| std::env::split_paths(&paths).any(|p| p.join(program).is_file()))
        .unwrap_or(false);
    if !found {
        return Err(format!(
            "the command cannot start: program `{program}` is not on PATH"
        ));
    }
    Ok(program.to_string())
}

/// A build error pinned to the node or source it names.
fn build_error(
    report: &Reporter,
    error: Error,
    nodes: &[NodeDecl],
    by_name: &HashMap<&str, usize>,
    sources: &[SourceDecl],
) -> FileError {
    if let Error::Node { node, source } = &error {
        let owner = node
            .strip_suffix(".join")
            .filter(|n| by_name.contains_key(n))
            .unwrap_or(node);
        if let Some(&i) = by_name.get(owner) {
            return report.at_node(&nodes[i].entry, source.to_string());
        }
        if let Some(s) = sources.iter().find(|s| s.entry.name == *owner) {
            return report.at_source(&s.entry, source.to_string());
        }
    }
    report.error(None, Subject::File, error.to_string())
}

/// The error inside an `Error::Node` for `name`, as text.
fn unwrap_node(error: Error, name: &str) -> String {
    match error {
        Error::Node { node, source } if node == name => source.to_string(),
        other => other.to_string(),
    }
}

/// One cycle among the nodes (indices, in order), if there is one.
fn find_cycle(nodes: &[NodeDecl]) -> Option<Vec<usize>> {
    let index: HashMap<&str, usize> = nodes
        .iter()
        .enumerate()
        .map(|(i, n)| (n.entry.name.as_str(), i))
        .collect();
    // 0 = unvisited, 1 = on the current path, 2 = done.
    let mut state = vec![0u8; nodes.len()];
    let mut path: Vec<usize> = Vec::new();
    fn visit(
        i: usize,
        nodes: &[NodeDecl],
        index: &HashMap<&str, usize>,
        state: &mut [u8],
        path: &mut Vec<usize>,
    ) -> Option<Vec<usize>> {
        state[i] = 1;
        path.push(i);
        for input in &nodes[i].inputs {
            let Some(&j) = index.get(input.as_str()) else {
                continue;
            };
            match state[j] {
                1 => {
                    let start = path.iter().position(|&p| p == j).unwrap_or(0);
                    let mut cycle: Vec<usize> = path[start..].to_vec();
                    // In data-flow order (each node reads the one before it), from the
                    // node declared first.
                    cycle.reverse();
                    let first = (0..cycle.len()).min_by_key(|&k| cycle[k]).unwrap_or(0);
                    cycle.rotate_left(first);
                    return Some(cycle);
                }
                0 => {
                    if let Some(c) = visit(j, nodes, index, state, path) {
                        return Some(c);
                    }
                }
                _ => {}
            }
        }
        path.pop();
        state[i] = 2;
        None
    }
    for i in 0..nodes.len() {
        if state[i] == 0 {
            if let Some(c) = visit(i, nodes, &index, &mut state, &mut path) {
                return Some(c);
            }
        }
    }
    None
}

/// Node indices with every node after the nodes it reads; ties keep file order.
fn topological_order(nodes: &[NodeDecl]) -> Vec<usize> {
    let index: HashMap<&str, usize> = nodes
        .iter()
        .enumerate()
        .map(|(i, n)| (n.entry.name.as_str(), i))
        .collect();
    let mut done: HashSet<usize> = HashSet::new();
    let mut order = Vec::with_capacity(nodes.len());
    while order.len() < nodes.len() {
        let before = order.len();
        for (i, node) in nodes.iter().enumerate() {
            if done.contains(&i) {
                continue;
            }
            let ready = node
                .inputs
                .iter()
                .all(|input| index.get(input.as_str()).is_none_or(|j| done.contains(j)));
            if ready {
                done.insert(i);
                order.push(i);
            }
        }
        if order.len() == before {
            break; // a cycle; find_cycle has already reported it
        }
    }
    order
}

/// The candidate closest to `word` by edit distance, if it is close enough to be a
/// likely typo.
fn closest<'a>(word: &str, candidates: impl Iterator<Item = &'a str>) -> Option<&'a str> {
    candidates
        .map(|c| (edit_distance(word, c), c))
        .filter(|(d, c)| *d <= 2.max(c.len() / 3))
        .min()
        .map(|(_, c)| c)
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut previous = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let substitute = previous + usize::from(ca != *cb);
            previous = row[j + 1];
            row[j + 1] = substitute.min(row[j] + 1).min(row[j + 1] + 1);
        }
    }
    row[b.len()]
}

#[cfg(test)]
mod tests {
    use arrow::datatypes::DataType;

    use super::*;

    fn decl(run: RunSettings) -> FunctionDecl {
        FunctionDecl {
            implementation: Implementation::Command(vec!["sh".into()]),
            output: Some(vec![Arc::new(Field::new("y", DataType::Int64, false))]),
            function_name: "f".into(),
            version: "v1.0".into(),
            written: WrittenRun::default(),
            run,
        }
    }

    #[test]
    fn a_command_function_gets_the_nodes_protocol_and_timeout() {
        let dir = std::env::temp_dir();
        let input = vec![Arc::new(Field::new("x", DataType::Int64, false)) as FieldRef];
        let command = vec!["sh".to_string(), "-c".to_string(), "cat".to_string()];
        let run = RunSettings {
            timeout: Some(Duration::from_millis(1500)),
            protocol: Protocol::JsonlId,
            ..RunSettings::default()
        };
        let f = command_function(&decl(run), &command, input.clone(), &dir).unwrap();
        assert_eq!(f.timeout(), Some(Duration::from_millis(1500)));
        assert_eq!(f.protocol(), Protocol::JsonlId);
        assert_eq!(f.command(), &command[..]);
        assert_eq!(f.version(), "v1.0");

        let plain = command_function(&decl(RunSettings::default()), &command, input, &dir).unwrap();
        assert_eq!(plain.timeout(), None);
        assert_eq!(plain.protocol(), Protocol::Jsonl);
        // Neither enters the identity.
        assert_eq!(plain.type_id(), f.type_id());
        assert_eq!(
            FunctionPod::new(Arc::new(plain)).unwrap().content_hash(),
            FunctionPod::new(Arc::new(f)).unwrap().content_hash()
        );
    }

    #[test]
    fn defaults_fill_what_a_node_leaves_out() {
        let defaults = Defaults {
            timeout: Some(Duration::from_secs(90)),
            retries: Some(2),
            max_concurrency: Some(8),
        };
        let mut d = decl(RunSettings::default());
        let run = run_settings(&d, &defaults).unwrap();
        assert_eq!(run.timeout, Some(Duration::from_secs(90)));
        assert_eq!((run.retries, run.max_concurrency), (2, Some(8)));
        assert_eq!(run.protocol, Protocol::Jsonl);

        d.written = WrittenRun {
            timeout: Some(Json::from("5m")),
            retries: Some(Json::from(0)),
            protocol: Some(Json::from("jsonl-id")),
            max_concurrency: Some(Json::from(1)),
        };
        let run = run_settings(&d, &defaults).unwrap();
        assert_eq!(run.timeout, Some(Duration::from_secs(300)));
        assert_eq!((run.retries, run.max_concurrency), (0, Some(1)));
        assert_eq!(run.protocol, Protocol::JsonlId);

        // A null is as if the key were not written.
        d.written = WrittenRun {
            timeout: Some(Json::Null),
            ..WrittenRun::default()
        };
        assert_eq!(
            run_settings(&d, &defaults).unwrap().timeout,
            Some(Duration::from_secs(90))
        );

        // A builtin takes the default retries and concurrency, never the timeout.
        d.implementation = Implementation::Builtin("b".into());
        d.written = WrittenRun::default();
        let run = run_settings(&d, &defaults).unwrap();
        assert_eq!(run.timeout, None);
        assert_eq!((run.retries, run.max_concurrency), (2, Some(8)));
        d.written.timeout = Some(Json::from(3));
        let (key, message) = run_settings(&d, &defaults).err().unwrap();
        assert_eq!(key, "timeout");
        assert!(
            message.contains("builtin `b` runs inside orcapod"),
            "{message}"
        );
    }
}
