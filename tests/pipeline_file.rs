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
    let file = load(&yaml).unwrap();
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
    assert!(e.to_string().contains("unknown field `nodez`"), "{e}");
    assert_eq!(e.position.unwrap().line, 5);

    let e = error(&format!(
        "{SOURCES}nodes:\n  j: {{op: jion, inputs: [students, scores]}}\n"
    ));
    assert_eq!(e.subject, Subject::Node("j".into()));
    assert_eq!(e.position.unwrap().line, 5);
    let text = e.to_string();
    assert!(
        text.contains(":5:3: node `j`: unknown op `jion` (did you mean `join`?)"),
        "{text}"
    );

    let e = error(&format!(
        "{SOURCES}nodes:\n  b: {{op: batch, input: scores, size: 2}}\n"
    ));
    assert!(
        e.to_string()
            .contains("unknown argument `size` (expected batch_size, drop_partial_batch)"),
        "{e}"
    );

    let e = error(&format!(
        "{SOURCES}nodes:\n  s: {{op: select_tag_columns, input: scores}}\n"
    ));
    assert!(e.to_string().contains("`columns` is required"), "{e}");

    let e = error(&format!("{SOURCES}nodes:\n  f: {{op: filter, input: scores, predicates: [{{col: score, op: '=>', value: 1}}]}}\n"));
    assert!(
        e.to_string().contains("predicate 1: unknown op `=>`"),
        "{e}"
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
    let text = e.to_string();
    assert!(
        text.contains("the nodes form a cycle: `a` → `c` → `b` → `a`") || text.contains("cycle"),
        "{text}"
    );
    assert!(text.contains("cycle"), "{text}");
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
    let e = error(&format!(
        "{SOURCES}nodes:\n  g: {{op: function, input: scores, command: [./nope.sh], output_keys: [g], output_types: {{g: str}}}}\n"
    ));
    assert!(
        e.to_string()
            .contains("the command cannot start: program `./nope.sh` does not exist"),
        "{e}"
    );
    let e = error(&format!(
        "{SOURCES}nodes:\n  g: {{op: function, input: scores, command: [no-such-program-xyz], output_keys: [g], output_types: {{g: str}}}}\n"
    ));
    assert!(e.to_string().contains("is not on PATH"), "{e}");
    let e = error(&format!(
        "{SOURCES}nodes:\n  g: {{op: function, input: scores, command: [python3, x.py], output_keys: [g], output_types: {{g: string}}}}\n"
    ));
    assert!(e.to_string().contains("unknown type `string`"), "{e}");
    let e = error(&format!(
        "{SOURCES}nodes:\n  g: {{op: function, input: scores, builtin: nothing}}\n"
    ));
    assert!(e.to_string().contains("unknown builtin `nothing`"), "{e}");
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

    std::fs::write(
        &path,
        format!("{SOURCES}nodes:\n  sp: {{op: select_packet_columns, input: scores, columns: [score]}}\n  d: {{op: function, input: sp, builtin: double, output_keys: [twice], output_types: {{twice: str}}}}\n"),
    )
    .unwrap();
    let e = PipelineFile::load(&path, &builtins).unwrap_err();
    assert!(
        e.to_string()
            .contains("builtin `double` returns {twice: int}, but the file declares {twice: str}"),
        "{e}"
    );
    std::fs::write(
        &path,
        format!("{SOURCES}nodes:\n  d: {{op: function, input: students, builtin: double}}\n"),
    )
    .unwrap();
    let e = PipelineFile::load(&path, &builtins).unwrap_err();
    assert!(
        e.to_string()
            .contains("node `d`: builtin `double`: needs a `score` column"),
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
