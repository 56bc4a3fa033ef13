//! Pipeline files: the format of `pipeline-spec.md` compiled into pipelines, and every
//! kind of invalid file reported with its file, line, and source or node.

use std::path::{Path, PathBuf};

use orcapod::operator::OperatorSpec;
use orcapod::pipeline::{CacheMode, ErrorPolicy, NodeKind, SyncExecutor};
use orcapod::pipeline_file::{Builtins, FileError, PipelineFile, Subject};

/// A directory with the three example CSV files and a pipeline file holding `yaml`.
fn setup(yaml: &str) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let data = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/school/data");
    std::fs::create_dir(dir.path().join("data")).unwrap();
    for f in ["students.csv", "courses.csv", "scores.csv"] {
        std::fs::copy(data.join(f), dir.path().join("data").join(f)).unwrap();
    }
    let file = dir.path().join("p.yaml");
    std::fs::write(&file, yaml).unwrap();
    (dir, file)
}

fn load(yaml: &str) -> Result<PipelineFile, FileError> {
    let (_dir, file) = setup(yaml);
    PipelineFile::load(&file, &Builtins::new())
}

fn error(yaml: &str) -> FileError {
    load(yaml).expect_err("the file is invalid")
}

const SOURCES: &str = "sources:
  students: {csv: data/students.csv, tags: [student_id], source_id: students}
  scores:   {csv: data/scores.csv,   tags: [student_id, course_id]}
";

/// The error of a file with `SOURCES` and `nodes` (the lines under `nodes:`), which must
/// say `expected`.
fn node_error(nodes: &str, expected: &str) -> FileError {
    let e = error(&format!("{SOURCES}nodes:\n{nodes}"));
    assert!(e.to_string().contains(expected), "{e}");
    e
}

#[test]
fn every_operator_compiles_with_its_arguments() {
    let yaml = format!(
        "pipeline: all_ops
on_error: continue
{SOURCES}  courses: {{csv: data/courses.csv, tags: [course_id], cached: true}}
nodes:
  joined:  {{op: join, inputs: [students, scores]}}
  merged:  {{op: merge_join, inputs: [students, students2]}}
  students2: {{op: map_packets, input: students, mapping: {{name: name}}}}
  semi:    {{op: semi_join, inputs: [scores, students]}}
  pairs:   {{op: batch, input: scores, batch_size: 2, drop_partial_batch: true}}
  st:      {{op: select_tag_columns, input: joined, columns: [student_id], strict: false}}
  dt:      {{op: drop_tag_columns, input: joined, columns: course_id}}
  sp:      {{op: select_packet_columns, input: joined, columns: [score]}}
  dp:      {{op: drop_packet_columns, input: joined, args: {{columns: [cohort]}}}}
  mt:      {{op: map_tags, input: joined, name_map: {{course_id: course}}, drop_unmapped: false}}
  mp:      {{op: map_packets, input: joined, name_map: {{score: points}}, cache: log}}
  passing:
    op: polars_filter
    input: joined
    predicates: [{{col: score, op: \">=\", value: 70}}, {{col: name, op: in, value: [Ada, Chloe]}}]
    constraints: {{cohort: A}}
  f2: {{op: filter, input: joined, predicates: [{{col: score, op: not_null}}]}}
"
    );
    // The sources' files are read when the pipeline runs: keep them until then.
    let (_dir, path) = setup(&yaml);
    let file = PipelineFile::load(&path, &Builtins::new()).unwrap();
    let p = file.pipeline();
    assert_eq!(p.name(), "all_ops");
    assert_eq!(file.on_error(), ErrorPolicy::Continue);
    assert!(p.node("courses").unwrap().is_cached_source());
    assert_eq!(p.node("mp").unwrap().cache_mode(), CacheMode::Log);
    let spec = |n: &str| match p.node(n).unwrap().kind() {
        NodeKind::Operator(s) => s.clone(),
        _ => panic!("{n} is an operator"),
    };
    assert_eq!(
        spec("pairs"),
        OperatorSpec::Batch {
            batch_size: 2,
            drop_partial_batch: true
        }
    );
    assert_eq!(
        spec("dt"),
        OperatorSpec::DropTagColumns {
            columns: vec!["course_id".into()],
            strict: true
        }
    );
    assert_eq!(spec("passing").class_name(), "PolarsFilter");
    // Outputs default to the sinks.
    let mut outputs = file.outputs().to_vec();
    outputs.sort();
    assert!(outputs.contains(&"passing".to_string()) && !outputs.contains(&"joined".to_string()));
    // And it runs: the filter keeps cohort A's passing scores of Ada and Chloe.
    let rows = SyncExecutor::new(p).output("passing").unwrap().num_rows();
    assert!(rows > 0);
}

#[test]
fn the_same_pipeline_in_json_has_the_same_hashes() {
    let yaml = format!(
        "pipeline: same\n{SOURCES}nodes:\n  joined: {{op: join, inputs: [students, scores]}}\n"
    );
    let json = r#"{"pipeline": "same",
	"sources": {"students": {"csv": "data/students.csv", "tags": ["student_id"], "source_id": "students"},
	            "scores": {"csv": "data/scores.csv", "tags": ["student_id", "course_id"]}},
	"nodes": {"joined": {"op": "join", "inputs": ["students", "scores"]}}}"#;
    let a = load(&yaml).unwrap();
    let (_dir, path) = setup(json);
    let json_path = path.with_extension("json");
    std::fs::rename(&path, &json_path).unwrap();
    let b = PipelineFile::load(&json_path, &Builtins::new()).unwrap();
    assert_eq!(
        a.pipeline().node("joined").unwrap().identity(),
        b.pipeline().node("joined").unwrap().identity()
    );
}

#[test]
fn yaml_syntax_errors_give_line_and_column() {
    let e = error("pipeline: x\nsources: {a: [1, 2}\n");
    assert_eq!(e.position.map(|p| (p.line, p.column)), Some((2, 14)));
    let text = e.to_string();
    assert!(text.contains("p.yaml:2:14: "), "{text}");
    assert!(text.contains("mismatched bracket"), "{text}");
}

#[test]
fn unknown_top_level_keys_ops_and_arguments_are_named() {
    let e = error(&format!("pipeline: x\n{SOURCES}nodez: {{}}\n"));
    assert!(
        e.to_string()
            .contains("unknown top-level key `nodez` (did you mean `nodes`?)"),
        "{e}"
    );
    assert_eq!(e.position.unwrap().line, 5);

    let e = error(&format!(
        "{SOURCES}nodes:\n  j: {{op: jion, inputs: [students, scores]}}\n"
    ));
    assert_eq!(e.subject, Subject::Node("j".into()));
    assert_eq!(e.position.unwrap().line, 5);
    let text = e.to_string();
    assert!(
        text.contains(":5:7: node `j`: unknown op `jion` (did you mean `join`?)"),
        "{text}"
    );

    node_error(
        "  b: {op: batch, input: scores, size: 2}\n",
        "unknown argument `size` (did you mean `batch_size`?); op `batch` takes `batch_size` and `drop_partial_batch`",
    );

    node_error(
        "  s: {op: select_tag_columns, input: scores}\n",
        "`columns` is required",
    );

    node_error(
        "  f: {op: filter, input: scores, predicates: [{col: score, op: '=>', value: 1}]}\n",
        "predicate 1: unknown op `=>`",
    );

    let e = error("sources:\n  s: {csv: data/scores.csv, tag: [student_id]}\n");
    assert_eq!(e.subject, Subject::Source("s".into()));
    assert!(e.to_string().contains("unknown argument `tag`"), "{e}");
}

#[test]
fn missing_inputs_and_cycles_are_reported_at_the_node() {
    let e = error(&format!(
        "{SOURCES}nodes:\n  j: {{op: join, inputs: [students, score]}}\n"
    ));
    let text = e.to_string();
    assert!(
        text.contains("node `j`: reads `score`, which is neither a source nor a node (did you mean `scores`?)"),
        "{text}"
    );
    let e = error(&format!(
        "{SOURCES}nodes:\n  a: {{op: join, inputs: [students, c]}}\n  b: {{op: select_tag_columns, input: a, columns: [student_id]}}\n  c: {{op: batch, input: b}}\n"
    ));
    assert_eq!(e.subject, Subject::Node("a".into()));
    assert_eq!(e.position.map(|p| (p.line, p.column)), Some((5, 3)));
    assert_eq!(e.message, "the nodes form a cycle: `a` → `b` → `c` → `a`");
}

#[test]
fn csv_problems_name_the_csv_file_and_line() {
    let (dir, file) = setup("sources:\n  s: {csv: data/missing.csv, tags: [id]}\n");
    let e = PipelineFile::load(&file, &Builtins::new()).unwrap_err();
    let text = e.to_string();
    assert!(
        text.contains("p.yaml:2:3: source `s`: ") && text.contains("missing.csv"),
        "{text}"
    );

    std::fs::write(dir.path().join("data/bad.csv"), "id,x\n1,2\n3\n").unwrap();
    std::fs::write(&file, "sources:\n  s: {csv: data/bad.csv, tags: [id]}\n").unwrap();
    let e = PipelineFile::load(&file, &Builtins::new()).unwrap_err();
    let text = e.to_string();
    assert!(text.contains("bad.csv:3"), "{text}");
}

#[test]
fn schema_conflicts_name_the_node_and_columns() {
    let e = error(&format!(
        "{SOURCES}nodes:\n  sp: {{op: select_packet_columns, input: scores, columns: [grade]}}\n"
    ));
    assert_eq!(e.subject, Subject::Node("sp".into()));
    assert!(e.to_string().contains("grade"), "{e}");
}

#[test]
fn command_functions_need_a_program_that_exists() {
    node_error(
        "  g: {op: function, input: scores, command: [./nope.sh], output_keys: [g], output_types: {g: str}}\n",
        "the command cannot start: program `./nope.sh` does not exist",
    );
    node_error(
        "  g: {op: function, input: scores, command: [no-such-program-xyz], output_keys: [g], output_types: {g: str}}\n",
        "is not on PATH",
    );
    node_error(
        "  g: {op: function, input: scores, command: [python3, x.py], output_keys: [g], output_types: {g: string}}\n",
        "unknown type `string`",
    );
    node_error(
        "  g: {op: function, input: scores, builtin: nothing}\n",
        "unknown builtin `nothing`",
    );
}

#[test]
fn a_function_reading_several_inputs_joins_them_first() {
    let file = load(&format!(
        "{SOURCES}nodes:\n  g: {{op: function, inputs: [students, scores], command: [python3, g.py], output_keys: [g], output_types: {{g: str}}, version: '2.1'}}\n"
    ))
    .unwrap();
    let p = file.pipeline();
    assert!(matches!(
        p.node("g.join").unwrap().kind(),
        NodeKind::Operator(OperatorSpec::Join)
    ));
    match p.node("g").unwrap().kind() {
        NodeKind::Function(pod) => {
            assert_eq!(pod.uri().name, "g");
            assert_eq!(pod.uri().major, 2);
        }
        _ => panic!("g is a function"),
    }
    assert_eq!(file.commands().len(), 1);
    assert_eq!(file.commands()[0].working_dir, file.dir());
}

#[test]
fn builtins_are_made_per_node_and_checked_against_declared_outputs() {
    let builtins = double_builtin();
    let (_dir, path) = setup(&format!(
        "{SOURCES}nodes:\n  sp: {{op: select_packet_columns, input: scores, columns: [score]}}\n  d: {{op: function, input: sp, builtin: double, version: v3.1, output_keys: [twice], output_types: {{twice: int}}}}\n"
    ));
    let file = PipelineFile::load(&path, &builtins).unwrap();
    match file.pipeline().node("d").unwrap().kind() {
        NodeKind::Function(pod) => {
            assert_eq!(
                pod.uri().name,
                "d",
                "function_name defaults to the node's name"
            );
            assert_eq!(pod.uri().major, 3);
        }
        _ => panic!("d is a function"),
    }
    let doubled = SyncExecutor::new(file.pipeline())
        .output("d")
        .unwrap()
        .num_rows();
    assert_eq!(doubled, 46);

    // The same file with other nodes: what loading it says.
    let rewritten = |nodes: &str| {
        std::fs::write(&path, format!("{SOURCES}nodes:\n{nodes}")).unwrap();
        PipelineFile::load(&path, &builtins)
            .unwrap_err()
            .to_string()
    };
    let e = rewritten("  sp: {op: select_packet_columns, input: scores, columns: [score]}\n  d: {op: function, input: sp, builtin: double, output_keys: [twice], output_types: {twice: str}}\n");
    assert!(
        e.contains("builtin `double` returns {twice: int}, but the file declares {twice: str}"),
        "{e}"
    );
    let e = rewritten("  d: {op: function, input: students, builtin: double}\n");
    assert!(
        e.contains("node `d`: builtin `double`: needs a `score` column"),
        "{e}"
    );
}

#[test]
fn a_node_may_not_reuse_a_source_name() {
    let e = error(&format!(
        "{SOURCES}nodes:\n  scores: {{op: join, inputs: [students]}}\n"
    ));
    assert_eq!(e.subject, Subject::Node("scores".into()));
    assert!(
        e.to_string().contains(
            ":5:3: node `scores`: the name is already used by the source or node on line 3"
        ),
        "{e}"
    );
}

/// `SOURCES` and a command function node `g` written one key per line, then `extra`
/// (lines of the node, indented by four spaces). Line 11 is the first of `extra`.
fn command_node(extra: &str) -> String {
    format!(
        "{SOURCES}nodes:
  g:
    op: function
    input: scores
    command: [python3, g.py]
    output_keys: [g]
    output_types: {{g: str}}
{extra}"
    )
}

/// The one command of a file that loads.
fn check(yaml: &str) -> orcapod::pipeline_file::CommandCheck {
    let file = load(yaml).unwrap();
    assert_eq!(file.commands().len(), 1);
    file.commands()[0].clone()
}

fn pod<'a>(file: &'a PipelineFile, node: &str) -> &'a orcapod::function::FunctionPod {
    match file.pipeline().node(node).unwrap().kind() {
        NodeKind::Function(pod) => pod,
        _ => panic!("{node} is a function node"),
    }
}

/// A builtin `double`: `{score: int}` → `{twice: int}`; an input without `score` is
/// refused.
fn double_builtin() -> Builtins {
    use std::sync::Arc;

    use arrow::datatypes::{DataType, Field};
    use orcapod::function::closure::ClosureFunction;
    use orcapod::model::Datum;

    let mut builtins = Builtins::new();
    builtins.register("double", "{score: int} -> {twice: int}", |request| {
        if !request.input.iter().any(|f| f.name() == "score") {
            return Err("needs a `score` column".into());
        }
        Ok(Arc::new(
            ClosureFunction::new(
                request.function_name,
                vec![Arc::new(Field::new("score", DataType::Int64, true))],
                vec![Arc::new(Field::new("twice", DataType::Int64, false))],
                |p| match p[0].1 {
                    Datum::Int(x) => Ok(vec![Datum::Int(2 * x)]),
                    _ => Ok(vec![Datum::Int(0)]),
                },
            )
            .with_version(request.version),
        ))
    });
    builtins
}

#[test]
fn a_timeout_is_seconds_or_a_number_with_a_unit() {
    use std::time::Duration;

    assert_eq!(check(&command_node("")).timeout, None);
    for (written, expected) in [
        ("1", Duration::from_secs(1)),
        ("0.5", Duration::from_millis(500)),
        ("'30'", Duration::from_secs(30)),
        ("\"2.5\"", Duration::from_millis(2500)),
        ("90s", Duration::from_secs(90)),
        ("5m", Duration::from_secs(300)),
        ("2h", Duration::from_secs(7200)),
        ("500ms", Duration::from_millis(500)),
        ("1.5m", Duration::from_secs(90)),
    ] {
        let yaml = command_node(&format!("    timeout: {written}\n"));
        assert_eq!(check(&yaml).timeout, Some(expected), "timeout: {written}");
    }
    // Under `args:` too.
    let yaml = format!(
        "{SOURCES}nodes:\n  g:\n    op: function\n    input: scores\n    args:\n      command: [python3, g.py]\n      output_keys: [g]\n      output_types: {{g: str}}\n      timeout: 90s\n"
    );
    assert_eq!(check(&yaml).timeout, Some(Duration::from_secs(90)));
}

#[test]
fn retries_protocol_and_max_concurrency_reach_the_node() {
    use orcapod::function::command::Protocol;

    let file = load(&command_node("")).unwrap();
    assert_eq!(file.commands()[0].protocol, Protocol::Jsonl);
    assert_eq!(pod(&file, "g").retries(), 0);
    assert_eq!(pod(&file, "g").max_concurrency(), None);

    let file = load(&command_node(
        "    retries: 3\n    protocol: jsonl-id\n    max_concurrency: 1024\n",
    ))
    .unwrap();
    assert_eq!(file.commands()[0].protocol, Protocol::JsonlId);
    assert_eq!(pod(&file, "g").retries(), 3);
    assert_eq!(pod(&file, "g").max_concurrency(), Some(1024));

    let file = load(&command_node("    protocol: jsonl\n    retries: 0\n")).unwrap();
    assert_eq!(file.commands()[0].protocol, Protocol::Jsonl);
    assert_eq!(pod(&file, "g").retries(), 0);

    // Inline in a flow mapping, and under `args:`.
    let file = load(&format!(
        "{SOURCES}nodes:\n  g: {{op: function, input: scores, command: [python3, g.py], output_keys: [g], output_types: {{g: str}}, retries: 2, protocol: jsonl-id}}\n  h: {{op: function, input: scores, args: {{command: [python3, h.py], output_keys: [h], output_types: {{h: str}}, retries: 5, max_concurrency: 3}}}}\n"
    ))
    .unwrap();
    assert_eq!(pod(&file, "g").retries(), 2);
    assert_eq!(file.commands()[0].protocol, Protocol::JsonlId);
    assert_eq!(pod(&file, "h").retries(), 5);
    assert_eq!(pod(&file, "h").max_concurrency(), Some(3));
    assert_eq!(file.commands()[1].protocol, Protocol::Jsonl);
}

#[test]
fn defaults_apply_to_every_function_node_unless_it_gives_its_own() {
    use std::time::Duration;

    let (_dir, path) = setup(&format!(
        "pipeline: d
defaults:
  timeout: 90s
  retries: 2
  max_concurrency: 8
{SOURCES}nodes:
  plain: {{op: function, input: scores, command: [python3, a.py], output_keys: [a], output_types: {{a: str}}}}
  own:   {{op: function, input: scores, command: [python3, b.py], output_keys: [b], output_types: {{b: str}},
           timeout: 500ms, retries: 0, max_concurrency: 1}}
  sp:    {{op: select_packet_columns, input: scores, columns: [score]}}
  twice: {{op: function, input: sp, builtin: double}}
  twice_own: {{op: function, input: sp, builtin: double, retries: 7, max_concurrency: 2}}
"
    ));
    let file = PipelineFile::load(&path, &double_builtin()).unwrap();
    let timeout = |node: &str| {
        file.commands()
            .iter()
            .find(|c| c.node == node)
            .map(|c| c.timeout)
            .unwrap()
    };
    assert_eq!(timeout("plain"), Some(Duration::from_secs(90)));
    assert_eq!(timeout("own"), Some(Duration::from_millis(500)));
    let settings = |node: &str| {
        (
            pod(&file, node).retries(),
            pod(&file, node).max_concurrency(),
        )
    };
    assert_eq!(settings("plain"), (2, Some(8)));
    assert_eq!(settings("own"), (0, Some(1)));
    // A builtin takes the default retries and concurrency; it has no timeout.
    assert_eq!(settings("twice"), (2, Some(8)));
    assert_eq!(settings("twice_own"), (7, Some(2)));
    assert_eq!(file.commands().len(), 2);

    // An empty `defaults:` is no defaults.
    let file = load(&format!("defaults:\n{}", command_node(""))).unwrap();
    assert_eq!(file.commands()[0].timeout, None);
    assert_eq!(pod(&file, "g").retries(), 0);
}

#[test]
fn a_bad_timeout_is_reported_at_its_line_with_the_accepted_forms() {
    const FORMS: &str = "write seconds as a positive number (`30`, `0.5`) or a number with a unit (`500ms`, `90s`, `5m`, `2h`)";
    for (written, shown) in [
        ("5x", "5x"),
        ("'90 s'", "90 s"),
        ("5min", "5min"),
        ("1e3s", "1e3s"),
        ("[1, 2]", "[1, 2]"),
        ("true", "true"),
    ] {
        let e = error(&command_node(&format!("    timeout: {written}\n")));
        assert_eq!(e.subject, Subject::Node("g".into()));
        assert_eq!(
            e.to_string(),
            format!(
                "{}:11:5: node `g`: `timeout: {shown}` is not a duration; {FORMS}",
                e.file.display()
            )
        );
    }
    for written in ["0", "-1", "0s", "'0'"] {
        let e = error(&command_node(&format!("    timeout: {written}\n")));
        let text = e.to_string();
        assert!(text.contains(":11:5: node `g`: `timeout: "), "{text}");
        assert!(
            text.ends_with(&format!("` must be more than zero; {FORMS}")),
            "{text}"
        );
    }
    let e = error(&command_node("    timeout: 9000h\n"));
    assert!(
        e.to_string().ends_with(
            ":11:5: node `g`: `timeout: 9000h` is too long: a timeout is at most a year (8760h)"
        ),
        "{e}"
    );
    // Under `args:`, at the line of the key inside it.
    let e = error(&format!(
        "{SOURCES}nodes:\n  g:\n    op: function\n    input: scores\n    args:\n      command: [python3, g.py]\n      output_keys: [g]\n      output_types: {{g: str}}\n      timeout: soon\n"
    ));
    assert_eq!(e.position.map(|p| (p.line, p.column)), Some((12, 7)));
    assert!(
        e.to_string().contains("`timeout: soon` is not a duration"),
        "{e}"
    );
}

#[test]
fn bad_retries_protocols_and_concurrency_are_reported_at_their_line() {
    let message = |extra: &str| {
        let e = error(&command_node(extra));
        assert_eq!(e.subject, Subject::Node("g".into()));
        let p = e.position.unwrap();
        (p.line, p.column, e.message)
    };
    assert_eq!(
        message("    retries: -1\n"),
        (
            11,
            5,
            "`retries: -1` must be a whole number from 0 to 100".into()
        )
    );
    assert_eq!(
        message("    retries: 1.5\n").2,
        "`retries: 1.5` must be a whole number from 0 to 100"
    );
    assert_eq!(
        message("    retries: lots\n").2,
        "`retries: lots` must be a whole number from 0 to 100"
    );
    let (line, _, text) = message("    timeout: 1\n    retries: 101\n");
    assert_eq!(line, 12);
    assert!(
        text.starts_with("`retries: 101` is too many: at most 100 ("),
        "{text}"
    );
    assert_eq!(
        message("    protocol: jsonl_id\n"),
        (
            11,
            5,
            "`protocol: jsonl_id` is not a protocol (expected jsonl or jsonl-id)".into()
        )
    );
    assert_eq!(
        message("    protocol: 2\n").2,
        "`protocol: 2` is not a protocol (expected jsonl or jsonl-id)"
    );
    assert_eq!(
        message("    max_concurrency: 0\n"),
        (
            11,
            5,
            "`max_concurrency: 0` must be a whole number from 1 to 1024".into()
        )
    );
    for too_many in ["1025", "20000"] {
        let (line, column, text) = message(&format!("    max_concurrency: {too_many}\n"));
        assert_eq!((line, column), (11, 5));
        assert_eq!(
            text,
            format!(
                "`max_concurrency: {too_many}` is too large: at most 1024 (each packet computed \
                 at once has its own worker thread and, for a command function, its own process)"
            )
        );
    }
    assert!(load(&command_node("    max_concurrency: 1024\n")).is_ok());
    // The other keys of a function node are still checked.
    let e = error(&command_node("    retry: 2\n"));
    assert!(e.message.starts_with("unknown argument `retry` (did you mean `retries`?); op `function` takes `command`, `builtin`, `input_keys`, `input_types`, `output_keys`, `output_types`, `function_name`, `version`, `max_concurrency`, `retries`, `timeout`, `protocol`, `executor` and `slurm`"), "{e}");
    // And the new keys belong to function nodes only.
    let e = error(&format!(
        "{SOURCES}nodes:\n  j: {{op: join, inputs: [students, scores], timeout: 5s}}\n"
    ));
    assert!(e.message.contains("unknown argument `timeout`"), "{e}");
}

#[test]
fn a_builtin_takes_no_timeout_and_no_protocol() {
    let yaml = |extra: &str| {
        format!(
            "{SOURCES}nodes:\n  sp: {{op: select_packet_columns, input: scores, columns: [score]}}\n  d:\n    op: function\n    input: sp\n    builtin: double\n{extra}"
        )
    };
    let load_with = |text: String| {
        let (_dir, path) = setup(&text);
        PipelineFile::load(&path, &double_builtin())
    };
    let e = load_with(yaml("    retries: 1\n    timeout: 5s\n")).unwrap_err();
    assert_eq!(e.subject, Subject::Node("d".into()));
    assert_eq!(e.position.map(|p| (p.line, p.column)), Some((11, 5)));
    assert_eq!(
        e.message,
        "`timeout` applies to command functions only: builtin `double` runs inside orcapod, \
         where it cannot be stopped; remove `timeout`"
    );
    let e = load_with(yaml("    protocol: jsonl\n")).unwrap_err();
    assert_eq!(e.position.map(|p| p.line), Some(10));
    assert_eq!(
        e.message,
        "`protocol` applies to command functions only: builtin `double` is called directly, \
         not over JSON Lines; remove `protocol`"
    );
    // Retries and concurrency are fine on a builtin.
    let file = load_with(yaml("    retries: 1\n    max_concurrency: 2\n")).unwrap();
    assert_eq!(pod(&file, "d").retries(), 1);
}

#[test]
fn bad_defaults_are_reported_at_their_line() {
    let e = error(&format!("pipeline: x\ndefaults:\n  timout: 5s\n{SOURCES}"));
    assert_eq!(e.subject, Subject::File);
    assert_eq!(
        e.to_string(),
        format!(
            "{}:3:3: unknown key `timout` in `defaults` (did you mean `timeout`?); the keys are \
             timeout, retries, max_concurrency, executor, slurm",
            e.file.display()
        )
    );
    let e = error(&format!(
        "defaults:\n  retries: 1\n  max_concurency: 4\n{SOURCES}"
    ));
    assert_eq!(e.position.map(|p| p.line), Some(3));
    assert!(
        e.message.contains("(did you mean `max_concurrency`?)"),
        "{e}"
    );
    let e = error(&format!("defaults:\n  colour: red\n{SOURCES}"));
    assert_eq!(
        e.message,
        "unknown key `colour` in `defaults`; the keys are timeout, retries, max_concurrency, executor, slurm"
    );
    let e = error(&format!("defaults:\n  protocol: jsonl-id\n{SOURCES}"));
    assert_eq!(
        e.message,
        "unknown key `protocol` in `defaults` (`protocol` is set on each command function \
         node); the keys are timeout, retries, max_concurrency, executor, slurm"
    );
    let e = error(&format!("defaults: [timeout]\n{SOURCES}"));
    assert_eq!(e.position.map(|p| p.line), Some(1));
    assert_eq!(
        e.message,
        "`defaults` must be a mapping of timeout, retries, max_concurrency, not a list"
    );

    let e = error(&format!(
        "defaults:\n  retries: 1\n  timeout: soon\n{SOURCES}"
    ));
    assert_eq!(e.position.map(|p| (p.line, p.column)), Some((3, 3)));
    assert!(
        e.message
            .starts_with("`defaults.timeout: soon` is not a duration; write seconds"),
        "{e}"
    );
    let e = error(&format!("defaults:\n  retries: 1000\n{SOURCES}"));
    assert!(
        e.message
            .starts_with("`defaults.retries: 1000` is too many: at most 100"),
        "{e}"
    );
    let e = error(&format!("defaults:\n  max_concurrency: 1025\n{SOURCES}"));
    assert_eq!(e.position.map(|p| p.line), Some(2));
    assert!(
        e.message
            .starts_with("`defaults.max_concurrency: 1025` is too large: at most 1024"),
        "{e}"
    );
    // A misspelt top-level key still lists `defaults` among the keys.
    let e = error(&format!("default:\n  retries: 1\n{SOURCES}"));
    assert!(
        e.message
            .contains("unknown top-level key `default` (did you mean `defaults`?)"),
        "{e}"
    );
    assert!(e.message.contains("defaults"), "{e}");
}

/// The pipeline hash of `g` below, before these settings existed: they must never
/// move it.
const G_PIPELINE_HASH: &str =
    "semantic_v0.1:f330ede238f4f7d8202099ec432cd82580c10e76cb43207611dfa207463b5a54";

#[test]
fn how_a_function_runs_enters_no_hash() {
    let node = |defaults: &str, settings: &str| {
        let file = load(&format!(
            "{defaults}{SOURCES}nodes:\n  sp: {{op: select_packet_columns, input: scores, columns: [score]}}\n  g: {{op: function, input: sp, command: [python3, g.py], output_keys: [g], output_types: {{g: str}}, version: v1.2{settings}}}\n"
        ))
        .unwrap();
        file.pipeline().node("g").unwrap().identity().clone()
    };
    let plain = node("", "");
    assert_eq!(plain.pipeline.to_string(), G_PIPELINE_HASH);
    for (defaults, settings) in [
        (
            "",
            ", timeout: 5m, retries: 3, protocol: jsonl-id, max_concurrency: 1024",
        ),
        ("", ", protocol: jsonl"),
        (
            "defaults: {timeout: 1, retries: 100, max_concurrency: 2}\n",
            "",
        ),
    ] {
        let other = node(defaults, settings);
        assert_eq!(other.pipeline, plain.pipeline, "{defaults}{settings}");
        assert_eq!(other.content, plain.content, "{defaults}{settings}");
    }
}

#[test]
fn a_command_with_these_settings_runs_and_answers_each_packet() {
    use orcapod::model::Datum;

    let (dir, path) = setup(&format!(
        "defaults: {{timeout: 1m, retries: 1}}
{SOURCES}nodes:
  sp: {{op: select_packet_columns, input: scores, columns: [score]}}
  g:
    op: function
    input: sp
    command: [python3, -u, half.py]
    output_keys: [half]
    output_types: {{half: float | None}}
    max_concurrency: 2
    protocol: jsonl
"
    ));
    std::fs::write(
        dir.path().join("half.py"),
        "import json, sys\nfor line in sys.stdin:\n    s = json.loads(line)['score']\n    print(json.dumps({'half': None if s is None else s / 2}), flush=True)\n",
    )
    .unwrap();
    let file = PipelineFile::load(&path, &Builtins::new()).unwrap();
    let mut sync = SyncExecutor::new(file.pipeline());
    let rows = sync.output("g").unwrap().rows().unwrap();
    assert_eq!(rows.len(), 46);
    let inputs = sync.output("sp").unwrap();
    let mut expected: Vec<(String, Datum)> = inputs
        .rows()
        .unwrap()
        .iter()
        .map(|(tag, packet)| {
            let half = match packet.get("score") {
                Some(Datum::Int(s)) => Datum::Float(*s as f64 / 2.0),
                _ => Datum::Null,
            };
            (format!("{:?}", tag.columns()), half)
        })
        .collect();
    let mut got: Vec<(String, Datum)> = rows
        .iter()
        .map(|(tag, packet)| {
            (
                format!("{:?}", tag.columns()),
                packet.get("half").unwrap().clone(),
            )
        })
        .collect();
    expected.sort_by(|a, b| a.0.cmp(&b.0));
    got.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(got, expected);
}

#[test]
fn executors_and_slurm_settings_are_read_and_bad_ones_reported_at_their_line() {
    use orcapod::function::slurm::Executor;

    // A node's slurm keys over the defaults', key by key.
    let file = load(&format!(
        "defaults:\n  executor: slurm\n  slurm: {{partition: debug, chunk: 7}}\n{}",
        command_node("    slurm: {cpus: 2, time: \"5:00\", extra_args: [--qos=low]}\n")
    ))
    .unwrap();
    let g = pod(&file, "g");
    assert_eq!(g.executor(), Executor::Slurm);
    let s = g.slurm();
    assert_eq!(s.partition.as_deref(), Some("debug"));
    assert_eq!((s.cpus, s.chunk, s.max_tasks), (Some(2), 7, 100));
    assert_eq!(s.time.as_deref(), Some("5:00"));
    assert_eq!(s.extra_args, ["--qos=low"]);
    assert_eq!(
        pod(&load(&command_node("")).unwrap(), "g").executor(),
        Executor::Local
    );

    // Bad values name the file, the line and column of the key, and the node.
    let e = error(&command_node(
        "    executor: slurm\n    slurm: {chunk: 0}\n",
    ));
    assert_eq!(e.subject, Subject::Node("g".into()));
    assert_eq!(e.position.map(|p| (p.line, p.column)), Some((12, 5)));
    assert_eq!(
        e.message,
        "`slurm.chunk: 0` must be a whole number from 1 to 1000000"
    );
    let e = error(&command_node("    executor: cluster\n"));
    assert_eq!(e.position.map(|p| (p.line, p.column)), Some((11, 5)));
    assert!(
        e.message.contains("`executor: cluster` is not an executor"),
        "{e}"
    );
    let e = error(&format!(
        "defaults:\n  slurm: {{mem: lots}}\n{}",
        command_node("")
    ));
    assert_eq!(e.subject, Subject::File);
    assert_eq!(e.position.map(|p| p.line), Some(2));
    assert!(
        e.message
            .contains("`defaults.slurm.mem: lots` is not an amount of memory"),
        "{e}"
    );
}
