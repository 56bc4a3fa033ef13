//! Join planning: what a join's inputs allow and what its output looks like, decided
//! once when the operator is built — the roles of shared names, the join keys and the
//! tag columns of a binary join, and the order in which the output lists its columns
//! (the order the inputs are *listed*, reference §6.2).
//!
//! Planning reads schemas only; it never sees a row. It must never let the order of the
//! arguments change anything but the order of the user columns.

use std::sync::Arc;

use arrow::datatypes::{Field, FieldRef};

use super::engine::{ColumnSource, Side};
use crate::error::{Error, Result};
use crate::model::columns::source_info_column;
use crate::model::StreamSchema;
use crate::operator::checks::same_type;
use crate::operator::InputInfo;

/// Rejects a name that is a user tag on one side and a packet column on the other.
pub(super) fn check_roles(operator: &str, left: &StreamSchema, right: &StreamSchema) -> Result<()> {
    let clash = |tags: &StreamSchema, packets: &StreamSchema| {
        let packet_names = packets.packet_names();
        tags.tag_names()
            .into_iter()
            .find(|t| packet_names.contains(t))
    };
    match clash(left, right).or_else(|| clash(right, left)) {
        Some(name) => Err(Error::schema(
            operator,
            format!("column `{name}` is a user tag of one input and a packet column of another"),
        )),
        None => Ok(()),
    }
}

/// The user tags of a binary join: the join keys (tag names both sides share, in left
/// order, with equal types), and the output tag fields (left tags, then the right's new
/// ones) with where each comes from. A key is nullable only if it is on both sides.
pub(super) fn join_tags(
    operator: &str,
    left: &StreamSchema,
    right: &StreamSchema,
) -> Result<(Vec<String>, Vec<FieldRef>, Vec<ColumnSource>)> {
    let mut keys = Vec::new();
    let mut fields = Vec::new();
    let mut gather = Vec::new();
    for (i, field) in left.tag_fields().iter().enumerate() {
        let column = left.tag_range().start + i;
        match right.tag_fields().iter().find(|f| f.name() == field.name()) {
            Some(other) => {
                let column = format!("tag column `{}`", field.name());
                let (a, b) = (field.data_type(), other.data_type());
                same_type(operator, &column, a, b, "incompatible types")?;
                keys.push(field.name().clone());
                let nullable = field.is_nullable() && other.is_nullable();
                fields.push(Arc::new(Field::clone(field).with_nullable(nullable)));
            }
            None => fields.push(field.clone()),
        }
        gather.push((Side::Left, column));
    }
    let left_names = left.tag_names();
    for (i, field) in right.tag_fields().iter().enumerate() {
        if !left_names.contains(field.name()) {
            fields.push(field.clone());
            gather.push((Side::Right, right.tag_range().start + i));
        }
    }
    Ok((keys, fields, gather))
}

/// The fields in `range` of `schema`, and where they come from (`side`).
pub(super) fn pass_fields(
    schema: &StreamSchema,
    range: std::ops::Range<usize>,
    side: Side,
) -> (Vec<FieldRef>, Vec<ColumnSource>) {
    let fields = schema.arrow().fields()[range.clone()].to_vec();
    (fields, range.map(|i| (side, i)).collect())
}

/// Rejects packet column names shared by any two inputs.
pub(super) fn check_disjoint_packets(inputs: &[InputInfo]) -> Result<()> {
    let mut overlap: Vec<String> = Vec::new();
    for (i, a) in inputs.iter().enumerate() {
        let names = a.schema.packet_names();
        for b in &inputs[i + 1..] {
            for name in b.schema.packet_names() {
                if names.contains(&name) && !overlap.contains(&name) {
                    overlap.push(name);
                }
            }
        }
    }
    if overlap.is_empty() {
        return Ok(());
    }
    overlap.sort();
    Err(Error::schema(
        "Join",
        format!(
            "packets should not have overlapping keys: {}",
            overlap.join(", ")
        ),
    ))
}

/// The names of `names(input)` over `inputs` as an ordered union: the first input's in
/// its order, then each next input's names not seen yet.
fn listed_union(inputs: &[InputInfo], names: fn(&StreamSchema) -> Vec<String>) -> Vec<String> {
    let mut union: Vec<String> = Vec::new();
    for input in inputs {
        for name in names(&input.schema) {
            if !union.contains(&name) {
                union.push(name);
            }
        }
    }
    union
}

/// The user-visible column order of the output of a join of `inputs` (in the order they
/// are listed) whose columns, as the canonical fold builds them, are `canonical`: user
/// tags as the ordered union of the inputs' tags in listed order, packets likewise, the
/// system tags where they are, and one source-info column per packet in packet order.
/// Element `k` is the index in `canonical` of output column `k`; every column of
/// `canonical` appears exactly once.
pub(super) fn listed_order(canonical: &StreamSchema, inputs: &[InputInfo]) -> Result<Vec<usize>> {
    let arrow = canonical.arrow();
    let find = |name: &str, range: std::ops::Range<usize>| -> Result<usize> {
        match arrow.index_of(name) {
            Ok(i) if range.contains(&i) => Ok(i),
            _ => Err(Error::internal(format!(
                "join: the output lacks the input column `{name}`"
            ))),
        }
    };
    let tags = listed_union(inputs, StreamSchema::tag_names);
    let packets = listed_union(inputs, StreamSchema::packet_names);
    let mut order = Vec::with_capacity(arrow.fields().len());
    for name in &tags {
        order.push(find(name, canonical.tag_range())?);
    }
    for name in &packets {
        order.push(find(name, canonical.packet_range())?);
    }
    order.extend(canonical.system_tag_range());
    for name in &packets {
        order.push(find(
            &source_info_column(name),
            canonical.source_info_range(),
        )?);
    }
    let mut seen = vec![false; arrow.fields().len()];
    for &i in &order {
        seen[i] = true;
    }
    if order.len() != seen.len() || seen.contains(&false) {
        return Err(Error::internal(
            "join: the listed column order is not a permutation of the output columns",
        ));
    }
    Ok(order)
}

/// `schema` with its columns in the order `order` (see [`listed_order`]).
pub(super) fn permuted_schema(schema: &StreamSchema, order: &[usize]) -> Result<StreamSchema> {
    let fields = schema.arrow().fields();
    let pick = |range: std::ops::Range<usize>| -> Vec<FieldRef> {
        order
            .iter()
            .filter(|i| range.contains(i))
            .map(|&i| fields[i].clone())
            .collect()
    };
    StreamSchema::new(
        pick(schema.tag_range()),
        pick(schema.packet_range()),
        pick(schema.system_tag_range()),
        pick(schema.source_info_range()),
    )
}

/// Looks up the route of `port`.
pub(super) fn route_of<T: Copy>(route: &[T], port: usize) -> Result<T> {
    route
        .get(port)
        .copied()
        .ok_or_else(|| Error::internal(format!("join: no input port {port}")))
}
