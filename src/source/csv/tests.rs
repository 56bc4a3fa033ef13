//! Tests of reading CSV files: inference and its warnings, declared types, lines.

use arrow::array::{Array, BooleanArray, Float64Array, Int64Array};
use arrow::datatypes::DataType;

use super::infer::exact_in_float;
use super::*;
use crate::source::WarningKind;

fn text(values: &[&str]) -> LargeStringArray {
    values.iter().map(|v| Some(*v)).collect()
}

/// Infers one column `c` of `values` (data rows from line 2).
fn infer(values: &[&str]) -> (Field, ArrayRef, Vec<SourceWarning>) {
    let names = ["c".to_string()];
    let texts = [text(values)];
    // Rows on lines 2, 3, …; no file to correct them from.
    let lines = Lines::new(Path::new("/nonexistent/t.csv"));
    let table = Table {
        path: Path::new("t.csv"),
        names: &names,
        texts: &texts,
        lines: &lines,
    };
    let mut warnings = Vec::new();
    let mut scan = Scan::default();
    scan.update(&table, 0);
    let field = scan.decide(table.path, &names[0], &mut warnings);
    let array = table.read_column(0, &field, false).unwrap();
    (field, array, warnings)
}

fn field(values: &[&str]) -> Field {
    infer(values).0
}

fn warnings(values: &[&str]) -> Vec<SourceWarning> {
    infer(values).2
}

#[test]
fn inference_follows_the_reference_reader() {
    assert_eq!(field(&["1", "2"]), Field::new("c", DataType::Int64, false));
    assert_eq!(field(&["1", ""]), Field::new("c", DataType::Int64, true));
    assert_eq!(
        field(&["true", "False"]),
        Field::new("c", DataType::Boolean, false)
    );
    assert_eq!(
        field(&["1.5", "2"]),
        Field::new("c", DataType::Float64, false)
    );
    assert_eq!(
        field(&["a", ""]),
        Field::new("c", DataType::LargeUtf8, false)
    );
    assert_eq!(field(&[]), Field::new("c", DataType::LargeUtf8, false));
    assert_eq!(
        field(&["NA", ""]),
        Field::new("c", DataType::LargeUtf8, false)
    );
    // Leading zeros are read as numbers, as the reference does (with a warning).
    let (f, array, _) = infer(&["02134", "7"]);
    assert_eq!(f, Field::new("c", DataType::Int64, false));
    assert_eq!(
        array
            .as_any()
            .downcast_ref::<Int64Array>()
            .unwrap()
            .value(0),
        2134
    );
}

#[test]
fn clean_columns_warn_of_nothing() {
    for values in [
        &["0", "-0", "10", "+3"][..],
        &["0.5", "0e3", "-0.25", "1.5"],
        &["9007199254740992", "1.5"],
        &["true", "0"],
        &["alice", "bob", "12"],
        &["x1", "2"],
        &[],
    ] {
        assert_eq!(warnings(values), vec![], "{values:?}");
    }
}

#[test]
fn dropped_leading_zeros_warn() {
    let w = warnings(&["12345", "02134", "007"]);
    assert_eq!(w.len(), 1, "{w:?}");
    assert_eq!(w[0].kind, WarningKind::LeadingZeros);
    assert_eq!((w[0].line, w[0].value.as_str()), (3, "02134"));
    let message = w[0].to_string();
    assert!(message.starts_with("t.csv:3: column `c`"), "{message}");
    assert!(message.contains("`02134` became 2134"), "{message}");
    assert!(message.contains("types: {c: str}"), "{message}");

    let w = warnings(&["1.5", "-007.5"]);
    assert_eq!(w.len(), 1, "{w:?}");
    assert!(w[0].message.contains("`-007.5` became -7.5"), "{}", w[0]);
}

#[test]
fn integers_rounded_to_float_warn() {
    // One integer beyond 64 bits makes the column float, merging two ids.
    let w = warnings(&[
        "9007199254740993",
        "9007199254740992",
        "99999999999999999999",
    ]);
    assert_eq!(w.len(), 1, "{w:?}");
    assert_eq!(w[0].kind, WarningKind::RoundedToFloat);
    assert_eq!((w[0].line, w[0].value.as_str()), (2, "9007199254740993"));
    let message = &w[0].message;
    assert!(
        message.contains("`99999999999999999999` (line 4) does not fit"),
        "{message}"
    );
    assert!(message.contains("to 9007199254740992.0"), "{message}");
    assert!(message.contains("types: {c: str}"), "{message}");
    // Widened, but every value exact: still said, with the value that did it.
    let w = warnings(&["1", "100000000000000000000"]);
    assert_eq!(w.len(), 1, "{w:?}");
    assert_eq!(
        (w[0].line, w[0].value.as_str()),
        (3, "100000000000000000000")
    );
    // An integer text among decimals that is not exact as a float.
    let w = warnings(&["0.5", "123456789012345678"]);
    assert_eq!(w.len(), 1, "{w:?}");
    assert!(
        w[0].message.contains("was read as float, which rounds"),
        "{}",
        w[0]
    );
}

#[test]
fn exactness_of_integers_as_floats() {
    let exact = |v: &str| exact_in_float(v, v.parse().unwrap());
    assert!(exact("9007199254740992"));
    assert!(!exact("9007199254740993"));
    assert!(exact("-9007199254740992"));
    assert!(exact("000000000000000000001"));
    assert!(exact("100000000000000000000"));
    assert!(!exact("100000000000000000000000")); // 1e23 is not a float
                                                 // 2^200 (61 digits) is exact, 2^200 + 1 is not.
    let two_200 = "1606938044258990275541962092341162602522202993782792835301376";
    assert!(exact(two_200));
    assert!(!exact(
        "1606938044258990275541962092341162602522202993782792835301377"
    ));
}

#[test]
fn a_few_odd_rows_making_a_column_text_warn() {
    let w = warnings(&["1", "2", "3", "x", "4"]);
    assert_eq!(w.len(), 1, "{w:?}");
    assert_eq!(w[0].kind, WarningKind::TextFallback);
    assert_eq!((w[0].line, w[0].value.as_str()), (5, "x"));
    assert!(
        w[0].message.contains("only `x` (line 5) is not a number"),
        "{}",
        w[0]
    );
    let w = warnings(&["1", "2.5", "3", "x", "4", "y"]);
    assert!(
        w[0].message
            .contains("2 of its 6 values are not numbers, e.g. `x` (line 5)"),
        "{}",
        w[0]
    );
    let w = warnings(&["true", "false", "true", "maybe"]);
    assert!(w[0].message.contains("is not a boolean"), "{}", w[0]);
    // Mostly text: no warning.
    assert_eq!(warnings(&["1", "x", "y"]), vec![]);
}

/// Reads `contents` as a CSV file with the declared `types`: loads it, then reads every
/// row in one batch (an empty one when there is none).
fn read(contents: &str, types: &[Field]) -> Result<(RecordBatch, Vec<SourceWarning>)> {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("t.csv");
    std::fs::write(&path, contents).unwrap();
    let (file, warnings) = open_csv(&path, types)?;
    let batch = file.batches(&path)?.next_raw(usize::MAX)?;
    let batch = batch.unwrap_or_else(|| RecordBatch::new_empty(file.schema().clone()));
    Ok((batch, warnings))
}

fn error(contents: &str, types: &[Field]) -> String {
    read(contents, types).unwrap_err().to_string()
}

/// Reads `contents` with the declared `types`, which must fail saying each of `expected`.
fn error_says(contents: &str, types: &[Field], expected: &[&str]) {
    let message = error(contents, types);
    for fragment in expected {
        assert!(message.contains(fragment), "{message}");
    }
}

#[test]
fn declared_columns_are_read_exactly() {
    let types = [
        Field::new("zip", DataType::LargeUtf8, false),
        Field::new("id", DataType::Int64, false),
        Field::new("x", DataType::Float64, true),
        Field::new("ok", DataType::Boolean, false),
        Field::new("note", DataType::Utf8, true),
    ];
    let (batch, warnings) = read(
        "id,zip,x,ok,note\n9007199254740993,02134,NA,TRUE,\n9007199254740992,007,1,0,NA\n",
        &types,
    )
    .unwrap();
    assert_eq!(warnings, vec![]);
    let schema = batch.schema();
    let fields: Vec<(&str, &DataType, bool)> = schema
        .fields()
        .iter()
        .map(|f| (f.name().as_str(), f.data_type(), f.is_nullable()))
        .collect();
    assert_eq!(
        fields,
        [
            ("id", &DataType::Int64, false),
            ("zip", &DataType::LargeUtf8, false),
            ("x", &DataType::Float64, true),
            ("ok", &DataType::Boolean, false),
            ("note", &DataType::LargeUtf8, true),
        ]
    );
    let column = |i: usize| batch.column(i).as_any();
    let ids = column(0).downcast_ref::<Int64Array>().unwrap();
    assert_eq!(ids.values().to_vec(), [9007199254740993, 9007199254740992]);
    let zips = column(1).downcast_ref::<LargeStringArray>().unwrap();
    assert_eq!((zips.value(0), zips.value(1)), ("02134", "007"));
    let xs = column(2).downcast_ref::<Float64Array>().unwrap();
    assert!(xs.is_null(0) && xs.value(1) == 1.0);
    let oks = column(3).downcast_ref::<BooleanArray>().unwrap();
    assert!(oks.value(0) && !oks.value(1));
    // `str | None`: only the empty value is null.
    let notes = column(4).downcast_ref::<LargeStringArray>().unwrap();
    assert!(notes.is_null(0) && notes.value(1) == "NA");
}

#[test]
fn a_value_not_of_the_declared_type_is_an_error_at_its_line() {
    let int = [Field::new("n", DataType::Int64, false)];
    // Line 5: a quoted field spans lines 3–4.
    error_says(
        "k,n\na,1\n\"b\nc\",2\nd,x3\n",
        &int,
        &[
            "t.csv:5: column `n`: `x3` is not an integer",
            "declare `n: str`",
        ],
    );
    error_says(
        "k,n\na,99999999999999999999\n",
        &int,
        &["t.csv:2: column `n`: `99999999999999999999` does not fit in a 64-bit integer"],
    );
    error_says(
        "k,n\na,1\n\nb,\n",
        &int,
        &[
            "t.csv:4: column `n`: the value is missing (empty)",
            "declare `n: int | None`",
        ],
    );
    error_says("k,n\na,NA\n", &int, &["`NA` means a missing value"]);
    let float = [Field::new("n", DataType::Float64, false)];
    error_says(
        "k,n\na,1.5\nb,1,5\n",
        &float,
        &["t.csv:3: expected 2 fields"],
    );
    error_says(
        "k,n\na,1.5\nb,one\n",
        &float,
        &["t.csv:3: column `n`: `one` is not a number"],
    );
    let boolean = [Field::new("n", DataType::Boolean, true)];
    error_says(
        "k,n\na,yes\n",
        &boolean,
        &["`yes` is not a boolean", "`n: bool | None`"],
    );
}

#[test]
fn declared_columns_must_exist_and_be_text_types() {
    error_says(
        "a,b\n1,2\n",
        &[Field::new("c", DataType::Int64, false)],
        &["t.csv:1: `types` declares column `c`, which the file does not have; its columns are: `a`, `b`"],
    );
    error_says(
        "a,b\n1,2\n",
        &[Field::new("a", DataType::LargeBinary, false)],
        &["declares column `a` as `bytes`, which CSV text cannot hold"],
    );
    error_says(
        "a,b\n1,2\n",
        &[
            Field::new("a", DataType::Int64, false),
            Field::new("a", DataType::Utf8, false),
        ],
        &["declares column `a` twice"],
    );
}

#[test]
fn a_repeated_header_line_is_named() {
    let (batch, warnings) = read(
        "id,name,score\n1,ada,2.5\n2,bob,3\nid,name,score\n3,cy,1\n",
        &[],
    )
    .unwrap();
    assert!(batch
        .schema()
        .fields()
        .iter()
        .all(|f| f.data_type() == &DataType::LargeUtf8));
    // `name` was text anyway: no warning there.
    let columns: Vec<&str> = warnings.iter().map(|w| w.column.as_str()).collect();
    assert_eq!(columns, ["id", "score"]);
    for w in &warnings {
        assert_eq!(
            (w.kind, w.line, w.value.as_str()),
            (WarningKind::TextFallback, 4, w.column.as_str())
        );
        assert!(w.message.contains("line 4 repeats the header row"), "{w}");
    }
}

#[test]
fn line_numbers_are_an_editors() {
    // A quoted field over two lines, blank lines, `\r\n` endings: a record's line is
    // the line where it starts.
    for ending in ["\n", "\r\n"] {
        let contents = ["k,n", "a,1", "\"b", "c\",2", "", "", "d,3", "e,4", "f,x"].join(ending);
        let message = error(&contents, &[Field::new("n", DataType::Int64, false)]);
        assert!(
            message.contains("t.csv:9: column `n`: `x` is not"),
            "{ending:?}: {message}"
        );
        let message = error(&format!("{contents}{ending}g,1,2"), &[]);
        assert!(
            message.contains("t.csv:10: expected 2 fields"),
            "{ending:?}: {message}"
        );
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.csv");
        std::fs::write(&path, &contents).unwrap();
        let mut reader = csv::Reader::from_path(&path).unwrap();
        let mut lines = Lines::new(&path);
        for (row, record) in reader.records().enumerate() {
            let p = record.unwrap().position().unwrap().clone();
            lines.push(row, p.line(), p.byte());
        }
        let found: Vec<u64> = (0..5).map(|r| lines.line(r)).collect();
        assert_eq!(found, [2, 3, 7, 8, 9], "{ending:?}");
    }
}
