//! From the text of a pipeline file to a [`PipelineFile`]: parse, read every entry's
//! settings, check the graph, load the sources, then build the pipeline node by node
//! so that every error is pinned to the node that caused it.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use arrow::datatypes::{DataType, Field, FieldRef};

use super::args::{
    datum_of, max_concurrency_of, protocol_of, retries_of, texts_of, timeout_of, Args,
};
use super::raw::{self, describe, keys_list, Entry, Mapping, Position, Problem, RawFile, Value};
use super::{
    cache_mode, parse_type, Builtins, CommandCheck, FileError, FileWarning, PipelineFile, Subject,
};
use crate::error::Error;
use crate::function::command::{CommandFunction, Protocol};
use crate::function::{FunctionPod, PacketFunction};
use crate::model::Datum;
use crate::model::StreamSchema;
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
    fn at_source(&self, entry: &Entry, problem: impl Into<Problem>) -> FileError {
        let problem = problem.into();
        self.error(
            Some(problem.at.unwrap_or(entry.position)),
            Subject::Source(entry.name.clone()),
            problem.message,
        )
    }
    fn at_node(&self, entry: &Entry, problem: impl Into<Problem>) -> FileError {
        let problem = problem.into();
        self.error(
            Some(problem.at.unwrap_or(entry.position)),
            Subject::Node(entry.name.clone()),
            problem.message,
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
    /// A filter, whose values are read once the types of its columns are known.
    Filter(FilterDecl, CacheMode),
    Function(Box<FunctionDecl>),
}

/// A filter's conditions as written: a plain scalar compared with a text column is the
/// text written (`02134`, `1.50`), with any other column the number or boolean.
struct FilterDecl {
    /// Each predicate's column, op, value and the number it has in messages.
    predicates: Vec<(String, FilterOp, Option<Value>)>,
    constraints: Vec<(String, Value)>,
}

/// A name of `input_keys` or `output_keys`, with its type name if one is given.
type DeclaredKey = (String, Option<String>);

/// A function node's settings.
struct FunctionDecl {
    implementation: Implementation,
    output: Option<Vec<FieldRef>>,
    /// `input_keys` (with `input_types`, if given): the packet columns it must be given.
    input: Option<Vec<DeclaredKey>>,
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
    timeout: Option<Value>,
    retries: Option<Value>,
    protocol: Option<Value>,
    max_concurrency: Option<Value>,
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
    let (document, start) = raw::parse(text).map_err(|e| syntax_error(file, text, &e))?;
    if let Some((key, first, again)) = raw::duplicate_key(&document) {
        return Err(report.error(
            Some(again),
            Subject::File,
            format!(
                "`{key}` is written twice in the same mapping (lines {} and {}); keep one",
                first.line, again.line
            ),
        ));
    }
    let raw =
        RawFile::read(document, start).map_err(|p| report.error(p.at, Subject::File, p.message))?;
    let dir = absolute_dir(file);

    let pipeline_name = match (&raw.pipeline, &raw.name) {
        (Some((name, at)), _) => {
            if name.trim().is_empty() || name.contains('/') {
                return Err(report.error(
                    Some(*at),
                    Subject::File,
                    format!("`pipeline: {name}` must be a non-empty name without `/`"),
                ));
            }
            name.clone()
        }
        (None, Some(name)) => name.clone(),
        (None, None) => file
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_else(|| "pipeline".into()),
    };
    let on_error = match &raw.on_error {
        None => ErrorPolicy::FailFast,
        Some((policy, at)) => match policy.as_str() {
            "fail" => ErrorPolicy::FailFast,
            "continue" => ErrorPolicy::Continue,
            other => {
                return Err(report.error(
                    Some(*at),
                    Subject::File,
                    format!("`on_error: {other}` is not a policy (expected fail or continue)"),
                ))
            }
        },
    };

    let defaults = match &raw.defaults {
        None => Defaults::default(),
        Some((map, _)) => {
            read_defaults(map).map_err(|(at, m)| report.error(Some(at), Subject::File, m))?
        }
    };

    // Names: one namespace for sources and nodes.
    let mut declared: HashMap<String, Position> = HashMap::new();
    for (entries, is_source) in [(&raw.sources, true), (&raw.nodes, false)] {
        for entry in entries {
            let at_entry = |message: String| {
                if is_source {
                    report.at_source(entry, message)
                } else {
                    report.at_node(entry, message)
                }
            };
            if let Err(message) = check_name(&entry.name) {
                return Err(at_entry(message));
            }
            if let Some(first) = declared.insert(entry.name.clone(), entry.position) {
                return Err(at_entry(format!(
                    "the name is already used by the source or node on line {}",
                    first.line
                )));
            }
        }
    }
    if raw.sources.is_empty() {
        return Err(report.error(
            None,
            Subject::File,
            "the file declares no sources (`sources:` maps names to CSV or Arrow files)".into(),
        ));
    }

    // Every entry's settings, before touching any file.
    let sources: Vec<SourceDecl> = raw
        .sources
        .iter()
        .map(|e| read_source(e, &dir).map_err(|m| report.at_source(e, m)))
        .collect::<Result<_, _>>()?;
    let nodes: Vec<NodeDecl> = raw
        .nodes
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
            for (output, at) in list {
                if !declared.contains_key(output) {
                    let hint = closest(output, declared.keys().map(String::as_str))
                        .map(|c| format!(" (did you mean `{c}`?)"))
                        .unwrap_or_default();
                    return Err(report.error(
                        Some(*at),
                        Subject::File,
                        format!(
                            "`outputs` names `{output}`, which is neither a source nor a \
                             node{hint}"
                        ),
                    ));
                }
            }
            list.iter().map(|(o, _)| o.clone()).collect()
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
            NodeBody::Filter(decl, mode) => {
                let prefix = builder
                    .build()
                    .map_err(|e| build_error(&report, e, &nodes, &by_name, &sources))?;
                let input = prefix.node(&node.inputs[0]).ok_or_else(|| {
                    report.at_node(
                        &node.entry,
                        format!("internal: `{}` was not built", node.inputs[0]),
                    )
                })?;
                let spec = filter_spec(decl, input.output_schema())
                    .map_err(|m| report.at_node(&node.entry, m))?;
                builder.operator_with_cache(name, spec, node.inputs.clone(), *mode);
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
                if let Some(declared) = &decl.input {
                    check_input(declared, &packet_fields, &node.inputs)
                        .map_err(|m| report.at_node_key(&node.entry, "input_keys", m))?;
                }
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
fn syntax_error(file: &Path, text: &str, e: &serde_saphyr::Error) -> FileError {
    if let Some(error) = overlong_key(file, text) {
        return error;
    }
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

/// YAML allows a plain key of at most 1024 characters; a longer one makes the file
/// unreadable with a message about mapping starts. Said plainly instead.
fn overlong_key(file: &Path, text: &str) -> Option<FileError> {
    const YAML_KEY_LIMIT: usize = 1024;
    text.lines().enumerate().find_map(|(i, line)| {
        let key = line.trim_start().trim_start_matches("- ");
        let (key, _) = key.split_once(':')?;
        let length = key.trim_end().chars().count();
        (length > YAML_KEY_LIMIT).then(|| FileError {
            file: file.to_path_buf(),
            position: Some(Position {
                line: u32::try_from(i + 1).unwrap_or(u32::MAX),
                column: u32::try_from(line.len() - line.trim_start().len() + 1).unwrap_or(u32::MAX),
            }),
            subject: Subject::File,
            message: format!(
                "a key of {length} characters: YAML reads keys of at most {YAML_KEY_LIMIT} \
                 characters, and a source or node name is at most {} bytes; use a shorter name",
                crate::export::MAX_OUTPUT_NAME
            ),
            snippet: None,
        })
    })
}

/// Why a source or node name is not usable, if it is not: it names the files its rows
/// are written to under `--out`, and appears in messages and tables.
fn check_name(name: &str) -> Result<(), String> {
    if name.trim().is_empty() {
        return Err("a name must not be empty or blank".into());
    }
    if let Some(why) = crate::export::output_name_problem(name) {
        return Err(format!(
            "`{name}` cannot be a name: a node's rows are written to files named after it \
             (`orcapod run --out DIR`), so {why}; rename it"
        ));
    }
    Ok(())
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

/// The keys a source may have.
const SOURCE_KEYS: &[&str] = &[
    "csv",
    "arrow",
    "tags",
    "source_id",
    "record_id_column",
    "cached",
    "derived",
    "from",
    "db",
    "types",
];

fn read_source(entry: &Entry, dir: &Path) -> Result<SourceDecl, Problem> {
    let mut args = Args::new(entry.body.clone());
    args.only(SOURCE_KEYS, "a source")?;
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
fn column_types(types: Option<Mapping>) -> Result<Vec<Field>, Problem> {
    types
        .unwrap_or_default()
        .fields
        .into_iter()
        .map(
            |raw::Field {
                 key: column,
                 at,
                 value,
             }| match value {
                Value::String(name) => parse_type(&name)
                    .map(|(data_type, nullable)| Field::new(column.clone(), data_type, nullable))
                    .map_err(|e| {
                        Problem::at(at, format!("`types` gives column `{column}` an {e}"))
                    }),
                other => Err(Problem::at(
                    at,
                    format!(
                        "`types` maps `{column}` to {}, expected a type name (str, int, float or \
                     bool, followed by `| None` if values may be missing)",
                        describe(&other)
                    ),
                )),
            },
        )
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

fn read_node(entry: &Entry, builtins: &Builtins) -> Result<NodeDecl, Problem> {
    let mut args = Args::new(entry.body.clone());
    let op = match args.take_field(&["op"])? {
        Some(field) => match field.value {
            Value::String(op) => op,
            other => {
                return Err(Problem::at(
                    field.at,
                    format!("`op` must be the name of an op, not {}", describe(&other)),
                ))
            }
        },
        None => return Err(format!("`op` is missing (one of {})", OPS.join(", ")).into()),
    };
    let inputs = match (args.strings(&["input"])?, args.strings(&["inputs"])?) {
        (Some(_), Some(_)) => return Err("give either `input` or `inputs`, not both".into()),
        (Some(i), None) | (None, Some(i)) => i,
        (None, None) => {
            return Err(Problem::from(
                "`input` (or `inputs`) is missing: what does it read?",
            ))
        }
    };
    if inputs.is_empty() {
        return Err("`inputs` is empty: a node reads at least one source or node".into());
    }
    let cache = args.string("cache")?;
    // Arguments are inline, or under `args:`, not both.
    let nested = args.mapping("args")?;
    let mut op_args = match nested {
        Some(nested) => {
            if let Some(field) = entry
                .body
                .fields
                .iter()
                .find(|f| !NODE_KEYS.contains(&f.key.as_str()))
            {
                return Err(Problem::at(
                    field.at,
                    format!(
                        "`{}` is given inline and there is an `args:` mapping too; put every \
                         argument in one place",
                        field.key
                    ),
                ));
            }
            Args::new(nested)
        }
        None => Args::new(Mapping {
            fields: entry
                .body
                .fields
                .iter()
                .filter(|f| !NODE_KEYS.contains(&f.key.as_str()))
                .cloned()
                .collect(),
        }),
    };
    if let Some(known) = op_arguments(&op) {
        op_args.only(known, &format!("op `{op}`"))?;
    }
    let unary = |inputs: &[String]| -> Result<(), Problem> {
        if inputs.len() != 1 {
            return Err(format!(
                "`{op}` reads one input (`input: name`), got {}",
                inputs.len()
            )
            .into());
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
                )
                .into());
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
            let predicates = match op_args.list("predicates")? {
                None => Vec::new(),
                Some((items, at)) => items
                    .iter()
                    .enumerate()
                    .map(|(i, p)| {
                        read_predicate(p)
                            .map_err(|m| Problem::at(at, format!("predicate {}: {m}", i + 1)))
                    })
                    .collect::<Result<Vec<_>, _>>()?,
            };
            let constraints = op_args
                .mapping("constraints")?
                .unwrap_or_default()
                .fields
                .into_iter()
                .map(|f| (f.key, f.value))
                .collect();
            op_args.finish(&["predicates", "constraints"])?;
            NodeBody::Filter(
                FilterDecl {
                    predicates,
                    constraints,
                },
                CacheMode::Off,
            )
        }
        "function" => {
            if cache.is_some() {
                return Err(Problem::at(
                    entry.position_of("cache"),
                    "`cache` applies to operator nodes; a function node always keeps its \
                     results in the database",
                ));
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
            return Err(Problem::at(
                entry.position_of("op"),
                format!("unknown op `{other}`{hint}; the ops are {}", OPS.join(", ")),
            ));
        }
    };
    let mode =
        |mode: &str| cache_mode(mode).map_err(|m| Problem::at(entry.position_of("cache"), m));
    let body = match (body, cache) {
        (NodeBody::Operator(spec, _), Some(m)) => NodeBody::Operator(spec, mode(&m)?),
        (NodeBody::Filter(decl, _), Some(m)) => NodeBody::Filter(decl, mode(&m)?),
        (body, _) => body,
    };
    Ok(NodeDecl {
        entry: entry.clone(),
        inputs,
        body,
    })
}

/// The arguments each op takes (`None`: the op is unknown, reported by the caller).
fn op_arguments(op: &str) -> Option<&'static [&'static str]> {
    Some(match op {
        "join" | "merge_join" | "semi_join" => &[],
        "batch" => &["batch_size", "drop_partial_batch"],
        "select_tag_columns"
        | "drop_tag_columns"
        | "select_packet_columns"
        | "drop_packet_columns" => &["columns", "strict"],
        "map_tags" | "map_packets" => &["name_map", "mapping", "drop_unmapped"],
        "polars_filter" | "filter" => &["predicates", "constraints"],
        "function" => FUNCTION_ARGUMENTS,
        _ => return None,
    })
}

/// The arguments of a function node.
const FUNCTION_ARGUMENTS: &[&str] = &[
    "command",
    "builtin",
    "input_keys",
    "input_types",
    "output_keys",
    "output_types",
    "function_name",
    "version",
    "max_concurrency",
    "retries",
    "timeout",
    "protocol",
];

/// One predicate as written: its column, op and value (checked for its shape; the
/// value is read once the column's type is known).
fn read_predicate(value: &Value) -> Result<(String, FilterOp, Option<Value>), String> {
    let Value::Map(map) = value else {
        return Err(format!(
            "must be a mapping `{{col: …, op: …, value: …}}`, not {}",
            describe(value)
        ));
    };
    let mut args = Args::new(map.clone());
    let problem = |p: Problem| p.message;
    args.only(&["col", "op", "value"], "a predicate")
        .map_err(problem)?;
    let col = args.required_string("col").map_err(problem)?;
    let op_text = args.required_string("op").map_err(problem)?;
    let op = FilterOp::parse(&op_text).map_err(|_| {
        format!("unknown op `{op_text}` (expected one of == != < <= > >= in is_null not_null)")
    })?;
    let value = args
        .take(&["value"])
        .map_err(problem)?
        .filter(|v| !v.is_null());
    match op {
        FilterOp::IsNull | FilterOp::NotNull if value.is_some() => {
            return Err(format!("`{op_text}` takes no `value`"))
        }
        FilterOp::In if !matches!(value, Some(Value::List(_))) => {
            return Err("`in` needs a list `value`".into())
        }
        FilterOp::Eq | FilterOp::Ne | FilterOp::Lt | FilterOp::Le | FilterOp::Gt | FilterOp::Ge
            if value.is_none() =>
        {
            return Err(format!(
                "`{op_text}` needs a `value` (use is_null / not_null to test for null)"
            ))
        }
        _ => {}
    }
    Ok((col, op, value))
}

/// The filter of `decl` over an input of schema `input`: each value compared with a
/// text column is the text written.
fn filter_spec(decl: &FilterDecl, input: &StreamSchema) -> Result<OperatorSpec, String> {
    let text_column = |column: &str| {
        input.arrow().field_with_name(column).is_ok_and(|f| {
            matches!(
                f.data_type(),
                DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View
            )
        })
    };
    let predicates = decl
        .predicates
        .iter()
        .enumerate()
        .map(|(i, (col, op, value))| {
            let value = match value {
                Some(v) => datum_of(v, text_column(col))
                    .map_err(|m| format!("predicate {}: {m}", i + 1))?,
                None => Datum::Null,
            };
            Ok(Predicate {
                col: col.clone(),
                op: *op,
                value,
            })
        })
        .collect::<Result<Vec<_>, String>>()?;
    let constraints = decl
        .constraints
        .iter()
        .map(|(column, value)| {
            datum_of(value, text_column(column))
                .map(|d| (column.clone(), d))
                .map_err(|m| format!("constraint `{column}`: {m}"))
        })
        .collect::<Result<BTreeMap<_, _>, _>>()?;
    Ok(OperatorSpec::Filter {
        predicates,
        constraints,
    })
}

/// Checks a function node's input columns against its `input_keys` (and
/// `input_types`): the same names, nothing missing, nothing extra.
fn check_input(
    declared: &[DeclaredKey],
    actual: &[FieldRef],
    inputs: &[String],
) -> Result<(), String> {
    let render = |names: &mut dyn Iterator<Item = &str>| {
        format!("[{}]", names.collect::<Vec<_>>().join(", "))
    };
    let declared_names = render(&mut declared.iter().map(|(k, _)| k.as_str()));
    let actual_names = render(&mut actual.iter().map(|f| f.name().as_str()));
    let missing: Vec<&str> = declared
        .iter()
        .map(|(k, _)| k.as_str())
        .filter(|k| !actual.iter().any(|f| f.name() == k))
        .collect();
    let extra: Vec<&str> = actual
        .iter()
        .map(|f| f.name().as_str())
        .filter(|n| !declared.iter().any(|(k, _)| k == n))
        .collect();
    if !missing.is_empty() || !extra.is_empty() {
        let mut why = Vec::new();
        if !missing.is_empty() {
            why.push(format!("{} missing", keys_list(&missing)));
        }
        if !extra.is_empty() {
            why.push(format!("{} not declared", keys_list(&extra)));
        }
        return Err(format!(
            "`input_keys: {declared_names}` does not match the packet columns of its input \
             {} ({actual_names}): {}; select or rename the columns upstream \
             (select_packet_columns, map_packets), or fix `input_keys`",
            keys_list(&inputs.iter().map(String::as_str).collect::<Vec<_>>()),
            why.join(", ")
        ));
    }
    for (key, ty) in declared {
        let (Some(ty), Some(field)) = (ty, actual.iter().find(|f| f.name() == key)) else {
            continue;
        };
        let (data_type, nullable) =
            parse_type(ty).map_err(|m| format!("`input_types.{key}`: {m}"))?;
        let wanted = Field::new(key, data_type, nullable);
        let name = crate::hashing::python_type::python_type_name;
        if name(&wanted) != name(field) {
            return Err(format!(
                "`input_types` declares `{key}: {}`, but its input gives `{key}: {}`; \
                 fix `input_types` or convert the column upstream",
                name(&wanted),
                name(field)
            ));
        }
    }
    Ok(())
}

fn read_function(node: &str, mut args: Args, builtins: &Builtins) -> Result<FunctionDecl, Problem> {
    let command = match args.take_field(&["command"])? {
        None => None,
        Some(field) => match field.value {
            Value::Null(_) => None,
            Value::String(line) => Some(
                line.split_whitespace()
                    .map(String::from)
                    .collect::<Vec<_>>(),
            ),
            Value::List(items) => {
                Some(texts_of("command", items).map_err(|m| Problem::at(field.at, m))?)
            }
            other => {
                return Err(Problem::at(
                    field.at,
                    format!(
                        "`command` must be a list (program, then arguments), not {}",
                        describe(&other)
                    ),
                ))
            }
        },
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
                )
                .into());
            }
            Implementation::Builtin(b)
        }
        (None, None) => {
            return Err(
                "a function node needs `command: [program, args…]` or `builtin: NAME`".into(),
            )
        }
    };
    let output = keys_and_types(&mut args, "output")?
        .map(|declared| {
            declared
                .into_iter()
                .map(|(key, ty)| {
                    let ty = ty.ok_or_else(|| format!("`output_types` has no type for `{key}`"))?;
                    let (data_type, nullable) =
                        parse_type(&ty).map_err(|m| format!("`output_types.{key}`: {m}"))?;
                    Ok(Arc::new(Field::new(key, data_type, nullable)) as FieldRef)
                })
                .collect::<Result<Vec<_>, String>>()
        })
        .transpose()?;
    if output.is_none() && matches!(implementation, Implementation::Command(_)) {
        return Err(Problem::from(
            "a command function needs `output_keys` and `output_types` (what each answer line holds)",
        ));
    }
    let input = keys_and_types(&mut args, "input")?;
    if let Some(declared) = &input {
        for (key, ty) in declared {
            if let Some(ty) = ty {
                parse_type(ty).map_err(|m| format!("`input_types.{key}`: {m}"))?;
            }
        }
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
    args.finish(FUNCTION_ARGUMENTS)?;
    Ok(FunctionDecl {
        implementation,
        output,
        input,
        function_name,
        version,
        written: WrittenRun::default(),
        run: RunSettings::default(),
    })
}

/// `{side}_keys` and `{side}_types` (`side` is `input` or `output`): the names in
/// order, each with its type name if given. Keys default to the types' keys; every
/// typed name must be a key.
fn keys_and_types(args: &mut Args, side: &str) -> Result<Option<Vec<DeclaredKey>>, Problem> {
    let keys_key = format!("{side}_keys");
    let types_key = format!("{side}_types");
    let keys = args.strings(&[&keys_key])?;
    let types = args.mapping(&types_key)?;
    let (keys, types) = match (keys, types) {
        (None, None) => return Ok(None),
        (keys, types) => {
            let types = types.unwrap_or_default();
            let keys = keys.unwrap_or_else(|| types.keys().map(String::from).collect());
            (keys, types)
        }
    };
    if keys.is_empty() {
        return Err(if side == "output" {
            "`output_keys` is empty: a function returns at least one value".into()
        } else {
            "`input_keys` is empty: a function takes at least one value".into()
        });
    }
    if let Some(dup) = keys
        .iter()
        .enumerate()
        .find(|(i, k)| keys[..*i].contains(k))
    {
        return Err(format!("`{keys_key}` lists `{}` twice", dup.1).into());
    }
    if let Some(extra) = types.fields.iter().find(|f| !keys.contains(&f.key)) {
        return Err(Problem::at(
            extra.at,
            format!(
                "`{types_key}` gives a type for `{}`, which is not in `{keys_key}`",
                extra.key
            ),
        ));
    }
    keys.into_iter()
        .map(|key| {
            let ty = match types.field(&key) {
                None => None,
                Some(field) => match &field.value {
                    Value::String(t) => Some(t.clone()),
                    other => {
                        return Err(Problem::at(
                            field.at,
                            format!(
                                "`{types_key}.{key}` must be a type name, not {}",
                                describe(other)
                            ),
                        ))
                    }
                },
            };
            Ok((key, ty))
        })
        .collect::<Result<Vec<_>, _>>()
        .map(Some)
}

/// The top-level `defaults:` mapping, or what is wrong with it and where.
fn read_defaults(defaults: &Mapping) -> Result<Defaults, (Position, String)> {
    let mut read = Defaults::default();
    for raw::Field { key, at, value } in &defaults.fields {
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
        checked.map_err(|m| (*at, m))?;
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
    let present = |v: &Option<Value>| v.as_ref().filter(|v| !v.is_null()).cloned();
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
pub(super) fn closest<'a>(
    word: &str,
    candidates: impl Iterator<Item = &'a str>,
) -> Option<&'a str> {
    candidates
        .map(|c| {
            // A word that is the start of a key but for its last letter (`retry` for
            // `retries`, `column` for `columns`) is as close as a typo.
            let shared = word
                .chars()
                .zip(c.chars())
                .take_while(|(a, b)| a == b)
                .count();
            let shortened = shared >= 4 && word.chars().count() <= shared + 1;
            // And so is the last part of a key (`size` for `batch_size`).
            let shortened =
                shortened || (word.chars().count() >= 4 && c.ends_with(&format!("_{word}")));
            (if shortened { 1 } else { edit_distance(word, c) }, c)
        })
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
            input: None,
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
            timeout: Some(Value::String("5m".into())),
            retries: Some(Value::Number(raw::Number::Int(0), "0".into())),
            protocol: Some(Value::String("jsonl-id".into())),
            max_concurrency: Some(Value::Number(raw::Number::Int(1), "1".into())),
        };
        let run = run_settings(&d, &defaults).unwrap();
        assert_eq!(run.timeout, Some(Duration::from_secs(300)));
        assert_eq!((run.retries, run.max_concurrency), (0, Some(1)));
        assert_eq!(run.protocol, Protocol::JsonlId);

        // A null is as if the key were not written.
        d.written = WrittenRun {
            timeout: Some(Value::Null("".into())),
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
        d.written.timeout = Some(Value::Number(raw::Number::Int(3), "3".into()));
        let (key, message) = run_settings(&d, &defaults).err().unwrap();
        assert_eq!(key, "timeout");
        assert!(
            message.contains("builtin `b` runs inside orcapod"),
            "{message}"
        );
    }
}
