//! One-letter constructors of [`Datum`] values, so that test tables read as data.

use orcapod::model::Datum;

/// A string value.
pub fn s(v: &str) -> Datum {
    Datum::Str(v.to_string())
}

/// An integer value.
pub fn i(v: i64) -> Datum {
    Datum::Int(v)
}

/// A float value.
pub fn f(v: f64) -> Datum {
    Datum::Float(v)
}

/// A list value.
pub fn list(items: Vec<Datum>) -> Datum {
    Datum::List(items)
}

/// A bytes value.
pub fn bytes(b: &[u8]) -> Datum {
    Datum::Bytes(b.to_vec())
}
