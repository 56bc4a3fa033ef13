//! From the text of a pipeline file to a [`PipelineFile`]: parse, read every entry's
//! settings, check the graph, load the sources, then build the pipeline node by node
//! so that every error is pinned to the node that caused it.
//!
//! The order of the checks decides which of several problems is reported, so it is
//! kept: names, the top-level settings, every entry's settings (`sources`, `nodes`,
//! `function`, `run`), inputs and cycles (the pipeline's own [`Dag`]), `outputs`, then
//! the sources' files, then each node after its inputs. A filter needs its columns'
//! types to read its values and a function node its input's packet columns, so the
//! pipeline is built up to them, each time adding only the nodes declared since
//! (`PipelineBuilder::build_onto`). `errors` words every problem. This module alone reads
//! files (a derived source compiles the file it derives from); nothing here writes or
//! starts a command.

mod errors;
mod function;
mod nodes;
mod run;
mod slurm;
mod sources;

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use self::errors::{build_error, syntax_error, unwrap_node, Reporter};
use self::function::{check_input, make_function};
use self::nodes::{filter_spec, read_node, NodeBody, NodeDecl};
use self::run::{read_defaults, run_settings, Defaults};
use self::sources::{read_source, FileFormat, SourceDecl, SourceKind};
use super::builtins::Builtins;
use super::error::{FileError, FileWarning, Subject};
use super::file::PipelineFile;
use super::raw::RawFile;
use super::suggest::did_you_mean;
use super::value::Position;
use super::yaml;
use crate::function::slurm::Executor;
use crate::function::FunctionPod;
use crate::operator::OperatorSpec;
use crate::pipeline::{
    join_node_name, CacheMode, Dag, ErrorPolicy, NodeKind, Pipeline, PipelineBuilder, Ties,
};
use crate::source::{Source, SourceInput};

impl PipelineFile {
    /// Reads, checks and compiles the pipeline file at `path`, with `builtins` available
    /// to function nodes.
    pub fn load(path: impl AsRef<Path>, builtins: &Builtins) -> Result<PipelineFile, FileError> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|e| FileError {
            file: path.to_path_buf(),
            position: None,
            subject: Subject::File,
            message: format!("cannot read the pipeline file: {e}"),
            snippet: None,
        })?;
        Self::parse(&text, path, builtins)
    }

    /// Checks and compiles `text` as if read from `path` (which locates relative paths
    /// and names the file in messages).
    pub fn parse(text: &str, path: &Path, builtins: &Builtins) -> Result<PipelineFile, FileError> {
        let mut loading: Vec<PathBuf> = std::fs::canonicalize(path).into_iter().collect();
        compile_file(text, path, builtins, &mut loading)
    }
}

/// [`PipelineFile::parse`], knowing which files are being loaded (a derived source loads
/// the file it derives from; a file may not derive from itself).
fn compile_file(
    text: &str,
    file: &Path,
    builtins: &Builtins,
    loading: &mut Vec<PathBuf>,
) -> Result<PipelineFile, FileError> {
    let report = Reporter { file };
    let (document, start) = yaml::parse(text).map_err(|e| syntax_error(file, text, &e))?;
    if let Some((key, first, again)) = yaml::duplicate_key(&document) {
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
    let pipeline_name = pipeline_name(&raw, file, &report)?;
    let on_error = on_error(&raw, &report)?;
    let defaults = match &raw.defaults {
        None => Defaults::default(),
        Some((map, _)) => {
            read_defaults(map).map_err(|(at, m)| report.error(Some(at), Subject::File, m))?
        }
    };
    let declared = check_names(&raw, &report)?;
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
                decl.run = run_settings(&decl.written, decl.builtin(), &defaults)
                    .map_err(|(key, m)| report.at_node_key(e, key, m))?;
            }
            Ok(node)
        })
        .collect::<Result<_, _>>()?;
    let order = check_graph(&sources, &nodes, &declared, &report)?;
    let outputs = check_outputs(&raw, &declared, &report)?;

    // Load the sources (this reads their files).
    let mut builder = PipelineBuilder::new(pipeline_name);
    let mut positions: HashMap<String, Position> = HashMap::new();
    let mut warnings = Vec::new();
    let mut inputs = Vec::new();
    for decl in &sources {
        let name = decl.entry.name.clone();
        match &decl.kind {
            SourceKind::File { path, .. } => inputs.push((name, SourceInput::File(path.clone()))),
            SourceKind::Folder { spec, .. } => {
                inputs.push((name, SourceInput::Folder(spec.clone())))
            }
            SourceKind::Derived { .. } => {}
        }
        let loaded = match &decl.kind {
            SourceKind::File {
                path,
                format,
                options,
            } => match format {
                FileFormat::Csv => Source::from_csv(path, options),
                FileFormat::Arrow => Source::from_arrow_ipc(path, options),
                FileFormat::Parquet => Source::from_parquet(path, options),
            }
            .map_err(|e| e.to_string()),
            SourceKind::Folder { spec, options } => {
                Source::from_folder(spec, options).map_err(|e| e.to_string())
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
    let build_failed = |e| {
        build_error(
            &report,
            e,
            |name| by_name.get(name).map(|&i| &nodes[i].entry),
            |name| {
                let source = sources.iter().find(|s| s.entry.name == name);
                source.map(|s| &s.entry)
            },
        )
    };
    // The pipeline built so far: each build adds only the nodes declared since.
    let mut built: Option<Pipeline> = None;
    let mut commands = Vec::new();
    for index in order {
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
                let grown = builder.build_onto(built.take()).map_err(build_failed)?;
                let prefix = built.insert(grown);
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
                    input = join_node_name(&name);
                    positions.insert(input.clone(), node.entry.position);
                    builder.operator(input.clone(), OperatorSpec::Join, node.inputs.clone());
                }
                let grown = builder.build_onto(built.take()).map_err(build_failed)?;
                let prefix = built.insert(grown);
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
                if decl.run.executor != Executor::Local || decl.builtin().is_none() {
                    pod = pod
                        .with_executor(decl.run.executor, decl.run.slurm.clone())
                        .map_err(|e| report.at_node_key(&node.entry, "executor", e.to_string()))?;
                }
                if let Some(max) = decl.run.max_concurrency {
                    pod = pod
                        .with_max_concurrency(max)
                        .map_err(|e| report.at_node(&node.entry, e.to_string()))?;
                }
                builder.function(name, pod, [input]);
            }
        }
    }
    let pipeline = builder.build_onto(built.take()).map_err(build_failed)?;
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
        inputs,
    })
}

/// `pipeline:`, else `name:`, else the file's name without its extension.
fn pipeline_name(raw: &RawFile, file: &Path, report: &Reporter) -> Result<String, FileError> {
    Ok(match (&raw.pipeline, &raw.name) {
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
    })
}

/// `on_error:` (default: fail).
fn on_error(raw: &RawFile, report: &Reporter) -> Result<ErrorPolicy, FileError> {
    match &raw.on_error {
        None => Ok(ErrorPolicy::FailFast),
        Some((policy, at)) => match policy.as_str() {
            "fail" => Ok(ErrorPolicy::FailFast),
            "continue" => Ok(ErrorPolicy::Continue),
            other => Err(report.error(
                Some(*at),
                Subject::File,
                format!("`on_error: {other}` is not a policy (expected fail or continue)"),
            )),
        },
    }
}

/// Every source and node name, checked: one namespace for both, each name usable as a
/// file name. Returns where each is declared.
fn check_names(raw: &RawFile, report: &Reporter) -> Result<HashMap<String, Position>, FileError> {
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
    Ok(declared)
}

/// The graph: inputs that exist, no cycle. Returns the nodes (indices) in the order they
/// are built: in passes over the file, each node once its inputs are built.
fn check_graph(
    sources: &[SourceDecl],
    nodes: &[NodeDecl],
    declared: &HashMap<String, Position>,
    report: &Reporter,
) -> Result<Vec<usize>, FileError> {
    const NO_INPUTS: &[String] = &[];
    let graph = sources
        .iter()
        .map(|s| (s.entry.name.as_str(), NO_INPUTS))
        .chain(
            nodes
                .iter()
                .map(|n| (n.entry.name.as_str(), n.inputs.as_slice())),
        );
    // Sources come first and read nothing: node `i` is graph node `i + first_node`.
    let first_node = sources.len();
    let dag = Dag::new(graph).map_err(|unknown| {
        let hint = did_you_mean(unknown.input, declared.keys().map(String::as_str));
        report.at_node(
            &nodes[unknown.node - first_node].entry,
            format!(
                "reads `{}`, which is neither a source nor a node{hint}",
                unknown.input
            ),
        )
    })?;
    let order = dag.order(Ties::Passes).map_err(|cycle| {
        let message = format!("the nodes form a cycle: {}", dag.path_names(&cycle));
        match cycle.path.first() {
            Some(&first) => report.at_node(&nodes[first - first_node].entry, message),
            None => report.error(None, Subject::File, message),
        }
    })?;
    Ok(order
        .into_iter()
        .filter_map(|i| i.checked_sub(first_node))
        .collect())
}

/// `outputs:`, each naming a source or node (empty: every sink, once built).
fn check_outputs(
    raw: &RawFile,
    declared: &HashMap<String, Position>,
    report: &Reporter,
) -> Result<Vec<String>, FileError> {
    let Some(list) = &raw.outputs else {
        return Ok(Vec::new());
    };
    for (output, at) in list {
        if !declared.contains_key(output) {
            let hint = did_you_mean(output, declared.keys().map(String::as_str));
            return Err(report.error(
                Some(*at),
                Subject::File,
                format!("`outputs` names `{output}`, which is neither a source nor a node{hint}"),
            ));
        }
    }
    Ok(list.iter().map(|(o, _)| o.clone()).collect())
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
        NodeKind::Function(_) => {}
        NodeKind::Operator(_) if target.cache_mode() == CacheMode::Log => {}
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
