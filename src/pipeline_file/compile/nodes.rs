//! Nodes as declared: reading a node entry (its `op`, inputs, `cache` and arguments,
//! inline or under `args:`) into a [`NodeDecl`], and a filter's values once the types of
//! its columns are known. Function nodes' own settings are read by `function`. Never
//! looks at another node or at a source's rows.

use std::collections::BTreeMap;

use arrow::datatypes::DataType;

use super::function::{read_function, FunctionDecl, FUNCTION_ARGUMENTS};
use super::run::WrittenRun;
use crate::model::{Datum, StreamSchema};
use crate::operator::{FilterOp, OperatorSpec, Predicate};
use crate::pipeline::CacheMode;
use crate::pipeline_file::args::{datum_of, Args};
use crate::pipeline_file::builtins::Builtins;
use crate::pipeline_file::raw::Entry;
use crate::pipeline_file::suggest::did_you_mean;
use crate::pipeline_file::value::{describe, Mapping, Problem, Value};

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

/// A node as declared.
pub(super) struct NodeDecl {
    pub(super) entry: Entry,
    pub(super) inputs: Vec<String>,
    pub(super) body: NodeBody,
}

/// What a node computes.
pub(super) enum NodeBody {
    Operator(OperatorSpec, CacheMode),
    /// A filter, whose values are read once the types of its columns are known.
    Filter(FilterDecl, CacheMode),
    Function(Box<FunctionDecl>),
}

/// A filter's conditions as written: a plain scalar compared with a text column is the
/// text written (`02134`, `1.50`), with any other column the number or boolean.
pub(super) struct FilterDecl {
    /// Each predicate's column, op, value and the number it has in messages.
    predicates: Vec<(String, FilterOp, Option<Value>)>,
    constraints: Vec<(String, Value)>,
}

pub(super) fn read_node(entry: &Entry, builtins: &Builtins) -> Result<NodeDecl, Problem> {
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
                executor: op_args.take(&["executor"])?,
                slurm: op_args.take(&["slurm"])?,
            };
            let mut decl = read_function(&entry.name, op_args, builtins)?;
            decl.written = written;
            NodeBody::Function(Box::new(decl))
        }
        other => {
            let hint = did_you_mean(other, OPS.iter().copied());
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
pub(super) fn filter_spec(decl: &FilterDecl, input: &StreamSchema) -> Result<OperatorSpec, String> {
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

/// The cache mode spelled in a file.
fn cache_mode(text: &str) -> Result<CacheMode, String> {
    match text {
        "off" => Ok(CacheMode::Off),
        "log" => Ok(CacheMode::Log),
        "replay" => Ok(CacheMode::Replay),
        other => Err(format!(
            "unknown cache mode `{other}` (expected off, log or replay)"
        )),
    }
}
