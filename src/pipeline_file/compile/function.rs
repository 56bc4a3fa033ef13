//! Function nodes: reading a node's function settings ([`FunctionDecl`]: a command or a
//! builtin, its declared input and output keys and types, its name and version), then,
//! once its input's packet columns are known, checking `input_keys` against them and
//! making the function. A command's program must exist, but it is never started here.

use std::path::Path;
use std::sync::Arc;

use arrow::datatypes::{Field, FieldRef};

use super::run::{RunSettings, WrittenRun};
use crate::function::command::CommandFunction;
use crate::function::PacketFunction;
use crate::hashing::python_type::python_type_name;
use crate::pipeline_file::args::{texts_of, Args};
use crate::pipeline_file::builtins::{BuiltinRequest, Builtins};
use crate::pipeline_file::file::CommandCheck;
use crate::pipeline_file::types::parse_type;
use crate::pipeline_file::value::{describe, keys_list, Problem, Value};

/// A name of `input_keys` or `output_keys`, with its type name if one is given.
pub(super) type DeclaredKey = (String, Option<String>);

/// A function node's settings.
pub(super) struct FunctionDecl {
    pub(super) implementation: Implementation,
    pub(super) output: Option<Vec<FieldRef>>,
    /// `input_keys` (with `input_types`, if given): the packet columns it must be given.
    pub(super) input: Option<Vec<DeclaredKey>>,
    pub(super) function_name: String,
    pub(super) version: String,
    /// How it runs, as written on the node (checked by [`run_settings`]).
    pub(super) written: WrittenRun,
    /// How it runs: the node's own settings over the file's `defaults:`.
    pub(super) run: RunSettings,
}

/// What runs a function node's packets.
pub(super) enum Implementation {
    Command(Vec<String>),
    Builtin(String),
}

impl FunctionDecl {
    /// The builtin's name, for a builtin.
    pub(super) fn builtin(&self) -> Option<&str> {
        match &self.implementation {
            Implementation::Builtin(name) => Some(name),
            Implementation::Command(_) => None,
        }
    }
}

/// The arguments of a function node.
pub(super) const FUNCTION_ARGUMENTS: &[&str] = &[
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
    "executor",
    "slurm",
];

pub(super) fn read_function(
    node: &str,
    mut args: Args,
    builtins: &Builtins,
) -> Result<FunctionDecl, Problem> {
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

/// Checks a function node's input columns against its `input_keys` (and
/// `input_types`): the same names, nothing missing, nothing extra.
pub(super) fn check_input(
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
        let name = python_type_name;
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

type MadeFunction = (Arc<dyn PacketFunction>, Option<CommandCheck>);

pub(super) fn make_function(
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
            let function = factory(&BuiltinRequest {
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
                        .map(|f| format!("{}: {}", f.name(), python_type_name(f)))
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

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use arrow::datatypes::DataType;

    use super::*;
    use crate::function::command::Protocol;
    use crate::function::FunctionPod;

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
}
