//! Random streams for the export tests: every column type orcapod streams carry, with
//! nulls, NaNs of both signs and several payloads, ±0, ±infinity, empty strings, lists
//! with null items, in several batches; and the old per-value sort, the oracle.

use std::cmp::Ordering;
use std::sync::Arc;

use arrow::array::{
    ArrayRef, BinaryArray, BooleanArray, Float32Array, Float64Array, Float64Builder, Int32Array,
    Int64Array, LargeListBuilder, LargeStringArray, LargeStringBuilder, ListBuilder, NullArray,
    RecordBatch, StringArray, UInt64Array,
};
use arrow::datatypes::{DataType, Field, Schema};
use proptest::prelude::*;

use crate::error::Result;
use crate::model::{Datum, Stream, StreamSchema};

/// A column type of the random streams.
#[derive(Debug, Clone, Copy)]
pub enum Ty {
    I64,
    I32,
    U64,
    F64,
    F32,
    Str,
    LargeStr,
    Bin,
    Bool,
    Null,
    ListF64,
    LargeListStr,
    ListListF64,
}

/// A value of a random column (lists hold values of their item type).
#[derive(Debug, Clone)]
pub enum V {
    Null,
    I(i64),
    F(f64),
    S(String),
    B(Vec<u8>),
    Bool(bool),
    L(Vec<V>),
}

pub fn ty() -> impl Strategy<Value = Ty> {
    prop_oneof![
        Just(Ty::I64),
        Just(Ty::I32),
        Just(Ty::U64),
        Just(Ty::F64),
        Just(Ty::F32),
        Just(Ty::Str),
        Just(Ty::LargeStr),
        Just(Ty::Bin),
        Just(Ty::Bool),
        Just(Ty::Null),
        Just(Ty::ListF64),
        Just(Ty::LargeListStr),
        Just(Ty::ListListF64),
    ]
}

/// Floats that sort in surprising ways, and a few ordinary ones to make ties.
pub fn float() -> impl Strategy<Value = f64> {
    prop_oneof![
        Just(f64::NAN),
        Just(-f64::NAN),
        Just(f64::from_bits(0x7ff8_0000_0000_0001)),
        Just(f64::from_bits(0xfff8_0000_0000_0002)),
        Just(f64::from_bits(0x7ff0_0000_0000_0001)),
        Just(0.0),
        Just(-0.0),
        Just(f64::INFINITY),
        Just(f64::NEG_INFINITY),
        Just(1e-7),
        Just(1e300),
        Just(0.1),
        (-3i32..3).prop_map(f64::from),
        any::<f64>(),
    ]
}

fn string() -> impl Strategy<Value = String> {
    prop_oneof![
        Just(String::new()),
        "[ab,\"\n\\\\é]{0,3}",
        Just("\u{1F600}".to_string()),
    ]
}

fn nullable<S: Strategy<Value = V> + 'static>(s: S) -> BoxedStrategy<V> {
    prop_oneof![1 => Just(V::Null), 4 => s].boxed()
}

/// A value of a column of type `t`.
pub fn value(t: Ty) -> BoxedStrategy<V> {
    match t {
        Ty::I64 => nullable(prop_oneof![(-3i64..3), any::<i64>()].prop_map(V::I)),
        Ty::I32 => nullable((-3i64..3).prop_map(V::I)),
        Ty::U64 => nullable(prop_oneof![(0i64..3), (0..i64::MAX)].prop_map(V::I)),
        Ty::F64 | Ty::F32 => nullable(float().prop_map(V::F)),
        Ty::Str | Ty::LargeStr => nullable(string().prop_map(V::S)),
        Ty::Bin => {
            nullable(prop::collection::vec(prop_oneof![Just(0u8), Just(255)], 0..3).prop_map(V::B))
        }
        Ty::Bool => nullable(any::<bool>().prop_map(V::Bool)),
        Ty::Null => Just(V::Null).boxed(),
        Ty::ListF64 => nullable(prop::collection::vec(value(Ty::F64), 0..3).prop_map(V::L)),
        Ty::LargeListStr => nullable(prop::collection::vec(value(Ty::Str), 0..3).prop_map(V::L)),
        Ty::ListListF64 => nullable(prop::collection::vec(value(Ty::ListF64), 0..3).prop_map(V::L)),
    }
}

/// Column types, then batches of rows of them.
pub fn batches(max_columns: usize) -> impl Strategy<Value = (Vec<Ty>, Vec<Vec<Vec<V>>>)> {
    prop::collection::vec(ty(), 1..=max_columns).prop_flat_map(|types| {
        let row: Vec<BoxedStrategy<V>> = types.iter().map(|&t| value(t)).collect();
        let batch = prop::collection::vec(row, 0..8);
        (Just(types), prop::collection::vec(batch, 1..4))
    })
}

pub fn data_type(t: Ty) -> DataType {
    let item = |t: DataType| Arc::new(Field::new_list_field(t, true));
    match t {
        Ty::I64 => DataType::Int64,
        Ty::I32 => DataType::Int32,
        Ty::U64 => DataType::UInt64,
        Ty::F64 => DataType::Float64,
        Ty::F32 => DataType::Float32,
        Ty::Str => DataType::Utf8,
        Ty::LargeStr => DataType::LargeUtf8,
        Ty::Bin => DataType::Binary,
        Ty::Bool => DataType::Boolean,
        Ty::Null => DataType::Null,
        Ty::ListF64 => DataType::List(item(DataType::Float64)),
        Ty::LargeListStr => DataType::LargeList(item(DataType::LargeUtf8)),
        Ty::ListListF64 => DataType::List(item(DataType::List(item(DataType::Float64)))),
    }
}

fn floats(values: &[V]) -> impl Iterator<Item = Option<f64>> + '_ {
    values.iter().map(|v| match v {
        V::F(f) => Some(*f),
        _ => None,
    })
}

fn append_f64_list(builder: &mut ListBuilder<Float64Builder>, v: &V) {
    match v {
        V::L(items) => {
            builder.values().extend(floats(items));
            builder.append(true);
        }
        _ => builder.append(false),
    }
}

/// An array of type `t` holding `values`.
pub fn array(t: Ty, values: &[V]) -> ArrayRef {
    let ints = || {
        values.iter().map(|v| match v {
            V::I(i) => Some(*i),
            _ => None,
        })
    };
    let strs = || {
        values.iter().map(|v| match v {
            V::S(s) => Some(s.as_str()),
            _ => None,
        })
    };
    match t {
        Ty::I64 => Arc::new(Int64Array::from_iter(ints())),
        Ty::I32 => Arc::new(Int32Array::from_iter(ints().map(|i| i.map(|i| i as i32)))),
        Ty::U64 => Arc::new(UInt64Array::from_iter(ints().map(|i| i.map(|i| i as u64)))),
        Ty::F64 => Arc::new(Float64Array::from_iter(floats(values))),
        Ty::F32 => Arc::new(Float32Array::from_iter(
            floats(values).map(|f| f.map(|f| f as f32)),
        )),
        Ty::Str => Arc::new(StringArray::from_iter(strs())),
        Ty::LargeStr => Arc::new(LargeStringArray::from_iter(strs())),
        Ty::Bin => Arc::new(BinaryArray::from_iter(values.iter().map(|v| match v {
            V::B(b) => Some(b.as_slice()),
            _ => None,
        }))),
        Ty::Bool => Arc::new(BooleanArray::from_iter(values.iter().map(|v| match v {
            V::Bool(b) => Some(*b),
            _ => None,
        }))),
        Ty::Null => Arc::new(NullArray::new(values.len())),
        Ty::ListF64 => {
            let mut builder = ListBuilder::new(Float64Builder::new());
            values.iter().for_each(|v| append_f64_list(&mut builder, v));
            Arc::new(builder.finish())
        }
        Ty::LargeListStr => {
            let mut builder = LargeListBuilder::new(LargeStringBuilder::new());
            for v in values {
                match v {
                    V::L(items) => {
                        builder.values().extend(strs_of(items));
                        builder.append(true);
                    }
                    _ => builder.append(false),
                }
            }
            Arc::new(builder.finish())
        }
        Ty::ListListF64 => {
            let mut builder = ListBuilder::new(ListBuilder::new(Float64Builder::new()));
            for v in values {
                match v {
                    V::L(items) => {
                        items
                            .iter()
                            .for_each(|i| append_f64_list(builder.values(), i));
                        builder.append(true);
                    }
                    _ => builder.append(false),
                }
            }
            Arc::new(builder.finish())
        }
    }
}

fn strs_of(values: &[V]) -> impl Iterator<Item = Option<String>> + '_ {
    values.iter().map(|v| match v {
        V::S(s) => Some(s.clone()),
        _ => None,
    })
}

/// Column names: tags `k`, `t1`, a system tag `_tag_s`, then a tag `t3`, or with five
/// columns the packet `p` and its source info `_source_p`.
pub fn names(n: usize) -> Vec<String> {
    (0..n)
        .map(|c| match c {
            0 => "k",
            1 => "t1",
            2 => "_tag_s",
            3 if n == 5 => "p",
            3 => "t3",
            _ => "_source_p",
        })
        .map(str::to_string)
        .collect()
}

/// The random batches as a stream (columns named by [`names`]).
pub fn stream(types: &[Ty], rows: &[Vec<Vec<V>>]) -> Stream {
    let names = names(types.len());
    let fields: Vec<Field> = types
        .iter()
        .zip(&names)
        .map(|(&t, n)| Field::new(n, data_type(t), true))
        .collect();
    let arrow = Arc::new(Schema::new(fields));
    let tags: Vec<String> = names
        .iter()
        .filter(|n| !n.starts_with('_') && *n != "p")
        .cloned()
        .collect();
    let (schema, order) = StreamSchema::classify(&arrow, &tags).unwrap();
    let batches = rows
        .iter()
        .map(|batch| {
            let columns = (0..types.len())
                .map(|c| {
                    let values: Vec<V> = batch.iter().map(|row| row[c].clone()).collect();
                    array(types[c], &values)
                })
                .collect();
            RecordBatch::try_new(arrow.clone(), columns)
                .unwrap()
                .project(&order)
                .unwrap()
        })
        .collect();
    Stream::new(Arc::new(schema), batches).unwrap()
}

/// The old export sort: every row as values, stably sorted with [`Datum::total_cmp`]
/// column by column; (batch, row) of each row in sorted order.
pub fn oracle_positions(batches: &[RecordBatch]) -> Result<Vec<(usize, usize)>> {
    let mut keyed = Vec::new();
    for (b, batch) in batches.iter().enumerate() {
        for r in 0..batch.num_rows() {
            let row = batch
                .columns()
                .iter()
                .map(|column| Datum::from_array(column.as_ref(), r))
                .collect::<Result<Vec<_>>>()?;
            keyed.push((row, b, r));
        }
    }
    keyed.sort_by(|a, b| compare_rows(&a.0, &b.0));
    Ok(keyed.into_iter().map(|(_, b, r)| (b, r)).collect())
}

fn compare_rows(a: &[Datum], b: &[Datum]) -> Ordering {
    a.iter()
        .zip(b)
        .map(|(x, y)| x.total_cmp(y))
        .find(|o| o.is_ne())
        .unwrap_or(Ordering::Equal)
}
