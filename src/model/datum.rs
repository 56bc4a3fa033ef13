//! [`Datum`]: one cell value, for row views, record ids, JSON and predicates.
//!
//! Bulk work never goes through `Datum` (operators use Arrow kernels); it exists for the
//! places that genuinely need one value at a time: row views, record ids built from a
//! column, function-pod inputs and outputs, JSON rendering and sorting of results.

use std::cmp::Ordering;
use std::sync::Arc;

use arrow::array::{
    Array, ArrayRef, AsArray, BooleanBuilder, Float64Array, Int64Array, LargeBinaryArray,
    LargeListArray, LargeStringArray, NullArray,
};
use arrow::buffer::OffsetBuffer;
use arrow::datatypes::{DataType, Field};

use crate::error::{Error, Result};
use crate::files::kind::{path_array, path_at, PathKind};
use crate::hashing::semantic::python_float_repr;

/// One value of a cell.
#[derive(Debug, Clone, PartialEq)]
pub enum Datum {
    /// A null.
    Null,
    /// A boolean.
    Bool(bool),
    /// Any integer (stored as i64).
    Int(i64),
    /// Any float (stored as f64).
    Float(f64),
    /// A string.
    Str(String),
    /// A byte string.
    Bytes(Vec<u8>),
    /// A list.
    List(Vec<Datum>),
}

impl Datum {
    /// Reads row `i` of an array.
    pub fn from_array(array: &dyn Array, i: usize) -> Result<Datum> {
        use arrow::datatypes as t;
        if array.is_null(i) {
            return Ok(Datum::Null);
        }
        Ok(match array.data_type() {
            DataType::Null => Datum::Null,
            DataType::Boolean => Datum::Bool(array.as_boolean().value(i)),
            DataType::Int8 => Datum::Int(array.as_primitive::<t::Int8Type>().value(i).into()),
            DataType::Int16 => Datum::Int(array.as_primitive::<t::Int16Type>().value(i).into()),
            DataType::Int32 => Datum::Int(array.as_primitive::<t::Int32Type>().value(i).into()),
            DataType::Int64 => Datum::Int(array.as_primitive::<t::Int64Type>().value(i)),
            DataType::UInt8 => Datum::Int(array.as_primitive::<t::UInt8Type>().value(i).into()),
            DataType::UInt16 => Datum::Int(array.as_primitive::<t::UInt16Type>().value(i).into()),
            DataType::UInt32 => Datum::Int(array.as_primitive::<t::UInt32Type>().value(i).into()),
            DataType::UInt64 => {
                let v = array.as_primitive::<t::UInt64Type>().value(i);
                Datum::Int(i64::try_from(v).map_err(|_| {
                    Error::invalid("value", format!("{v} does not fit a 64-bit signed integer"))
                })?)
            }
            DataType::Float32 => {
                Datum::Float(array.as_primitive::<t::Float32Type>().value(i).into())
            }
            DataType::Float64 => Datum::Float(array.as_primitive::<t::Float64Type>().value(i)),
            DataType::Utf8 => Datum::Str(array.as_string::<i32>().value(i).to_string()),
            DataType::LargeUtf8 => Datum::Str(array.as_string::<i64>().value(i).to_string()),
            DataType::Binary => Datum::Bytes(array.as_binary::<i32>().value(i).to_vec()),
            DataType::LargeBinary => Datum::Bytes(array.as_binary::<i64>().value(i).to_vec()),
            DataType::List(_) => list_items(array.as_list::<i32>().value(i).as_ref())?,
            DataType::LargeList(_) => list_items(array.as_list::<i64>().value(i).as_ref())?,
            // A file or directory value is its path.
            t if PathKind::of(t).is_some() => path_at(array, i).map_or(Datum::Null, Datum::Str),
            other => {
                return Err(Error::invalid(
                    "value",
                    format!("arrow type {other} is not supported in orcapod streams"),
                ))
            }
        })
    }

    /// Python's `str()` of the value (used for `col=value` record ids).
    pub fn python_str(&self) -> String {
        match self {
            Datum::Null => "None".into(),
            Datum::Bool(true) => "True".into(),
            Datum::Bool(false) => "False".into(),
            Datum::Int(i) => i.to_string(),
            Datum::Float(f) => python_float_repr(*f),
            Datum::Str(s) => s.clone(),
            Datum::Bytes(b) => format!("b'{}'", b.escape_ascii()),
            Datum::List(items) => {
                let inner: Vec<String> = items
                    .iter()
                    .map(|d| match d {
                        Datum::Str(s) => format!("'{s}'"),
                        other => other.python_str(),
                    })
                    .collect();
                format!("[{}]", inner.join(", "))
            }
        }
    }

    /// The rank of the value's kind in the output sort order:
    /// None < bool < number < string < bytes < list.
    fn kind_rank(&self) -> u8 {
        match self {
            Datum::Null => 0,
            Datum::Bool(_) => 1,
            Datum::Int(_) | Datum::Float(_) => 2,
            Datum::Str(_) => 3,
            Datum::Bytes(_) => 4,
            Datum::List(_) => 5,
        }
    }

    /// A total order over values: by kind (None < bool < number < string < bytes <
    /// list), then by value.
    ///
    /// Numbers compare exactly by value, integers against floats included (no rounding
    /// of large integers); an integer comes before a float of the same value, `-0.0`
    /// before `0.0`, and NaN after every other number (NaNs among themselves by their
    /// bits). Lists compare element by element, then by length. Two values are `Equal`
    /// only when they are the same value, so sorting by this order is deterministic.
    pub fn total_cmp(&self, other: &Datum) -> Ordering {
        match (self, other) {
            (Datum::Bool(a), Datum::Bool(b)) => a.cmp(b),
            (Datum::Int(a), Datum::Int(b)) => a.cmp(b),
            (Datum::Int(a), Datum::Float(b)) => int_float_cmp(*a, *b),
            (Datum::Float(a), Datum::Int(b)) => int_float_cmp(*b, *a).reverse(),
            (Datum::Float(a), Datum::Float(b)) => float_cmp(*a, *b),
            (Datum::Str(a), Datum::Str(b)) => a.cmp(b),
            (Datum::Bytes(a), Datum::Bytes(b)) => a.cmp(b),
            (Datum::List(a), Datum::List(b)) => {
                for (x, y) in a.iter().zip(b) {
                    let o = x.total_cmp(y);
                    if o != Ordering::Equal {
                        return o;
                    }
                }
                a.len().cmp(&b.len())
            }
            _ => self.kind_rank().cmp(&other.kind_rank()),
        }
    }

    /// Infers the Arrow type of a column of values (ignoring nulls): integers widen to
    /// floats when mixed; an all-null column (or list item) is `Null`.
    pub fn infer_type<'a>(values: impl IntoIterator<Item = &'a Datum>) -> Result<DataType> {
        let mut current = DataType::Null;
        for v in values {
            let t = match v {
                Datum::Null => continue,
                Datum::Bool(_) => DataType::Boolean,
                Datum::Int(_) => DataType::Int64,
                Datum::Float(_) => DataType::Float64,
                Datum::Str(_) => DataType::LargeUtf8,
                Datum::Bytes(_) => DataType::LargeBinary,
                Datum::List(items) => list_type(Datum::infer_type(items)?),
            };
            current = merge_types(current, t)?;
        }
        Ok(current)
    }
}

/// Floats in [`Datum::total_cmp`]'s order: NaN after every other number.
fn float_cmp(a: f64, b: f64) -> Ordering {
    match (a.is_nan(), b.is_nan()) {
        (false, true) => Ordering::Less,
        (true, false) => Ordering::Greater,
        _ => a.total_cmp(&b),
    }
}

/// An integer against a float in [`Datum::total_cmp`]'s order: exactly by value (the
/// integer is never rounded to a float), the integer first when the values are equal,
/// NaN after every number.
fn int_float_cmp(i: i64, f: f64) -> Ordering {
    // 2^63: the first float above every i64.
    const LIMIT: f64 = 9_223_372_036_854_775_808.0;
    if f.is_nan() || f >= LIMIT {
        return Ordering::Less;
    }
    if f < -LIMIT {
        return Ordering::Greater;
    }
    let whole = f.trunc();
    // `whole` is an integer in [-2^63, 2^63), so the conversion is exact.
    let by_value = i.cmp(&(whole as i64)).then(if f > whole {
        Ordering::Less
    } else if f < whole {
        Ordering::Greater
    } else {
        Ordering::Equal
    });
    by_value.then(Ordering::Less)
}

fn list_type(item: DataType) -> DataType {
    DataType::LargeList(Arc::new(Field::new("item", item, true)))
}

fn merge_types(a: DataType, b: DataType) -> Result<DataType> {
    Ok(match (a, b) {
        (a, b) if a == b => a,
        (DataType::Null, t) | (t, DataType::Null) => t,
        (DataType::Int64, DataType::Float64) | (DataType::Float64, DataType::Int64) => {
            DataType::Float64
        }
        (DataType::LargeList(x), DataType::LargeList(y)) => {
            list_type(merge_types(x.data_type().clone(), y.data_type().clone())?)
        }
        (a, b) => {
            return Err(Error::invalid(
                "values",
                format!("a column mixes values of types {a} and {b}"),
            ))
        }
    })
}

fn list_items(values: &dyn Array) -> Result<Datum> {
    (0..values.len())
        .map(|j| Datum::from_array(values, j))
        .collect::<Result<Vec<_>>>()
        .map(Datum::List)
}

/// Builds an array of type `data_type` from values; a value of the wrong kind is an
/// error naming `column`.
pub fn array_from_datums(column: &str, data_type: &DataType, values: &[Datum]) -> Result<ArrayRef> {
    let mismatch = |v: &Datum| {
        Error::invalid(
            format!("column `{column}`"),
            format!("value {v:?} does not fit type {data_type}"),
        )
    };
    Ok(match data_type {
        DataType::Null => Arc::new(NullArray::new(values.len())),
        DataType::Boolean => {
            let mut b = BooleanBuilder::with_capacity(values.len());
            for v in values {
                match v {
                    Datum::Null => b.append_null(),
                    Datum::Bool(x) => b.append_value(*x),
                    other => return Err(mismatch(other)),
                }
            }
            Arc::new(b.finish()) as ArrayRef
        }
        DataType::Int64 => collect_array::<Int64Array, _>(values, &mismatch, |v| match v {
            Datum::Int(x) => Some(*x),
            _ => None,
        })?,
        DataType::Float64 => collect_array::<Float64Array, _>(values, &mismatch, |v| match v {
            Datum::Float(x) => Some(*x),
            Datum::Int(x) => Some(*x as f64),
            _ => None,
        })?,
        DataType::LargeUtf8 => {
            collect_array::<LargeStringArray, _>(values, &mismatch, |v| match v {
                Datum::Str(x) => Some(x.as_str()),
                _ => None,
            })?
        }
        DataType::LargeBinary => {
            collect_array::<LargeBinaryArray, _>(values, &mismatch, |v| match v {
                Datum::Bytes(x) => Some(x.as_slice()),
                _ => None,
            })?
        }
        DataType::LargeList(item) => {
            let mut offsets = Vec::with_capacity(values.len() + 1);
            offsets.push(0i64);
            let mut flat = Vec::new();
            let mut validity = Vec::with_capacity(values.len());
            for v in values {
                match v {
                    Datum::Null => validity.push(false),
                    Datum::List(items) => {
                        flat.extend(items.iter().cloned());
                        validity.push(true);
                    }
                    other => return Err(mismatch(other)),
                }
                offsets.push(flat.len() as i64);
            }
            let child = array_from_datums(column, item.data_type(), &flat)?;
            let nulls = validity.iter().any(|v| !v).then(|| validity.into());
            Arc::new(LargeListArray::try_new(
                item.clone(),
                OffsetBuffer::new(offsets.into()),
                child,
                nulls,
            )?)
        }
        t if PathKind::of(t).is_some() => {
            let kind = PathKind::of(t).expect("just matched");
            let paths = values
                .iter()
                .map(|v| match v {
                    Datum::Null => Ok(None),
                    Datum::Str(p) => Ok(Some(p.as_str())),
                    other => Err(mismatch(other)),
                })
                .collect::<Result<Vec<_>>>()?;
            path_array(kind, &paths)
        }
        other => {
            return Err(Error::invalid(
                format!("column `{column}`"),
                format!("cannot build values of type {other}"),
            ))
        }
    })
}

/// An array `A` of `values`: nulls as nulls, every other value read by `get`, which
/// gives `None` for a value that does not fit (the error is then `mismatch(value)`).
fn collect_array<'a, A, T>(
    values: &'a [Datum],
    mismatch: &dyn Fn(&Datum) -> Error,
    get: impl Fn(&'a Datum) -> Option<T>,
) -> Result<ArrayRef>
where
    A: FromIterator<Option<T>> + Array + 'static,
{
    let array = values
        .iter()
        .map(|v| match v {
            Datum::Null => Ok(None),
            other => get(other).map(Some).ok_or_else(|| mismatch(other)),
        })
        .collect::<Result<A>>()?;
    Ok(Arc::new(array))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_through_arrays() {
        let values = vec![
            Datum::List(vec![Datum::Int(1), Datum::Int(2)]),
            Datum::Null,
            Datum::List(vec![]),
        ];
        let dt = Datum::infer_type(&values).unwrap();
        let array = array_from_datums("c", &dt, &values).unwrap();
        for (i, v) in values.iter().enumerate() {
            assert_eq!(&Datum::from_array(array.as_ref(), i).unwrap(), v);
        }
        assert!(Datum::infer_type(&[Datum::Int(1), Datum::Str("a".into())]).is_err());
    }

    #[test]
    fn numbers_order_exactly_with_nan_last() {
        use Ordering::*;
        let big = 1i64 << 53;
        // 2^53 + 1 rounds to the float 2^53; the order must not.
        assert_eq!(
            Datum::Int(big + 1).total_cmp(&Datum::Float(big as f64)),
            Greater
        );
        assert_eq!(
            Datum::Float(big as f64).total_cmp(&Datum::Int(big + 1)),
            Less
        );
        assert_eq!(Datum::Int(big).total_cmp(&Datum::Float(big as f64)), Less);
        assert_eq!(Datum::Int(i64::MAX).total_cmp(&Datum::Float(9.3e18)), Less);
        assert_eq!(
            Datum::Int(i64::MIN).total_cmp(&Datum::Float(-9.3e18)),
            Greater
        );
        assert_eq!(Datum::Int(-1).total_cmp(&Datum::Float(-0.5)), Less);
        assert_eq!(Datum::Int(0).total_cmp(&Datum::Float(-0.5)), Greater);
        assert_eq!(Datum::Int(0).total_cmp(&Datum::Float(-0.0)), Less);
        let mut v = [
            Datum::Float(f64::NAN),
            Datum::Float(-f64::NAN),
            Datum::Float(f64::INFINITY),
            Datum::Int(i64::MAX),
            Datum::Float(0.0),
            Datum::Float(-0.0),
            Datum::Int(0),
            Datum::Float(f64::NEG_INFINITY),
        ];
        v.sort_by(Datum::total_cmp);
        let shown: Vec<String> = v.iter().map(|d| format!("{d:?}")).collect();
        assert_eq!(
            shown,
            [
                "Float(-inf)",
                "Int(0)",
                "Float(-0.0)",
                "Float(0.0)",
                "Int(9223372036854775807)",
                "Float(inf)",
                "Float(NaN)",
                "Float(NaN)"
            ]
        );
        assert!(v[6].total_cmp(&v[7]) == Less, "NaNs order by their bits");
    }

    #[test]
    fn python_str_and_ordering() {
        assert_eq!(Datum::Float(1e-5).python_str(), "1e-05");
        assert_eq!(Datum::Bool(true).python_str(), "True");
        let mut v = vec![
            Datum::Str("a".into()),
            Datum::Int(3),
            Datum::Null,
            Datum::Float(2.5),
            Datum::Bool(false),
        ];
        v.sort_by(Datum::total_cmp);
        assert_eq!(
            v,
            vec![
                Datum::Null,
                Datum::Bool(false),
                Datum::Float(2.5),
                Datum::Int(3),
                Datum::Str("a".into())
            ]
        );
    }
}
