//! [`OperatorSpec`]: every operator with its arguments, its identity and its builder.

use std::collections::BTreeMap;

use super::batch::Batch;
use super::columns::{map_columns, select_columns, Role};
use super::filter::{Filter, Predicate};
use super::join::{Join, MergeJoin};
use super::semi_join::SemiJoin;
use super::{InputInfo, Operator};
use crate::error::{Error, Result};
use crate::hashing::identity::Symmetry;
use crate::hashing::{hash_value, ContentHash, Value};
use crate::model::Datum;

/// An operator and its arguments (the reference's operator classes).
#[derive(Debug, Clone, PartialEq)]
pub enum OperatorSpec {
    /// Inner join of 1 or more streams on their shared user tags (commutative).
    Join,
    /// Join of 2 streams where colliding packet columns become sorted 2-element lists.
    MergeJoin,
    /// The left stream's rows whose shared columns match some row of the right stream.
    SemiJoin,
    /// Groups rows into lists of `batch_size` (0 = all rows in one group).
    Batch {
        /// Rows per group; 0 means everything.
        batch_size: usize,
        /// Drop the last group if it is not full.
        drop_partial_batch: bool,
    },
    /// Keeps only the named user tag columns (system tags always survive).
    SelectTagColumns {
        /// Columns to keep.
        columns: Vec<String>,
        /// Fail when a named column is missing.
        strict: bool,
    },
    /// Keeps only the named packet columns (and their source info).
    SelectPacketColumns {
        /// Columns to keep.
        columns: Vec<String>,
        /// Fail when a named column is missing.
        strict: bool,
    },
    /// Drops the named user tag columns.
    DropTagColumns {
        /// Columns to drop.
        columns: Vec<String>,
        /// Fail when a named column is missing.
        strict: bool,
    },
    /// Drops the named packet columns (and their source info).
    DropPacketColumns {
        /// Columns to drop.
        columns: Vec<String>,
        /// Fail when a named column is missing.
        strict: bool,
    },
    /// Renames user tag columns.
    MapTags {
        /// Old name → new name.
        name_map: BTreeMap<String, String>,
        /// Drop the tag columns the map does not name.
        drop_unmapped: bool,
    },
    /// Renames packet columns (source info follows).
    MapPackets {
        /// Old name → new name.
        name_map: BTreeMap<String, String>,
        /// Drop the packet columns the map does not name.
        drop_unmapped: bool,
    },
    /// Keeps the rows satisfying every predicate and equality constraint (the
    /// reference's `PolarsFilter`).
    Filter {
        /// Conditions on single columns.
        predicates: Vec<Predicate>,
        /// Column → value equality conditions.
        constraints: BTreeMap<String, Datum>,
    },
}

impl OperatorSpec {
    /// The reference's class name of the operator.
    pub fn class_name(&self) -> &'static str {
        match self {
            OperatorSpec::Join => "Join",
            OperatorSpec::MergeJoin => "MergeJoin",
            OperatorSpec::SemiJoin => "SemiJoin",
            OperatorSpec::Batch { .. } => "Batch",
            OperatorSpec::SelectTagColumns { .. } => "SelectTagColumns",
            OperatorSpec::SelectPacketColumns { .. } => "SelectPacketColumns",
            OperatorSpec::DropTagColumns { .. } => "DropTagColumns",
            OperatorSpec::DropPacketColumns { .. } => "DropPacketColumns",
            OperatorSpec::MapTags { .. } => "MapTags",
            OperatorSpec::MapPackets { .. } => "MapPackets",
            OperatorSpec::Filter { .. } => "PolarsFilter",
        }
    }

    /// The operator's identity structure (reference §5.3).
    pub fn identity_structure(&self) -> Value {
        let name = Value::str(self.class_name());
        let list = |columns: &[String]| {
            Value::List(columns.iter().map(|c| Value::str(c.as_str())).collect())
        };
        let map = |m: &BTreeMap<String, String>| {
            Value::dict(m.iter().map(|(k, v)| (k.clone(), Value::str(v.as_str()))))
        };
        match self {
            OperatorSpec::Join | OperatorSpec::MergeJoin | OperatorSpec::SemiJoin => name,
            OperatorSpec::Batch {
                batch_size,
                drop_partial_batch,
            } => Value::tuple([
                name,
                Value::Int(*batch_size as i64),
                Value::Bool(*drop_partial_batch),
            ]),
            OperatorSpec::SelectTagColumns { columns, strict }
            | OperatorSpec::SelectPacketColumns { columns, strict }
            | OperatorSpec::DropTagColumns { columns, strict }
            | OperatorSpec::DropPacketColumns { columns, strict } => {
                Value::tuple([name, list(columns), Value::Bool(*strict)])
            }
            OperatorSpec::MapTags {
                name_map,
                drop_unmapped,
            }
            | OperatorSpec::MapPackets {
                name_map,
                drop_unmapped,
            } => Value::tuple([name, map(name_map), Value::Bool(*drop_unmapped)]),
            OperatorSpec::Filter {
                predicates,
                constraints,
            } => Value::tuple([
                name,
                Value::Tuple(
                    predicates
                        .iter()
                        .map(Predicate::identity_structure)
                        .collect(),
                ),
                Value::dict(
                    constraints
                        .iter()
                        .map(|(k, v)| (k.clone(), super::filter::datum_value(v))),
                ),
            ]),
        }
    }

    /// The operator's content hash (its pipeline hash is the same).
    pub fn content_hash(&self) -> ContentHash {
        hash_value(&self.identity_structure())
    }

    /// Whether the order of the inputs matters to the identity of an invocation.
    pub fn symmetry(&self) -> Symmetry {
        match self {
            OperatorSpec::Join | OperatorSpec::MergeJoin => Symmetry::Unordered,
            _ => Symmetry::Ordered,
        }
    }

    /// Checks the number of inputs.
    pub fn check_arity(&self, n: usize) -> Result<()> {
        let (ok, wanted) = match self {
            OperatorSpec::Join => (n >= 1, "at least one input"),
            OperatorSpec::MergeJoin | OperatorSpec::SemiJoin => (n == 2, "exactly two inputs"),
            _ => (n == 1, "exactly one input"),
        };
        if ok {
            Ok(())
        } else {
            Err(Error::schema(
                self.class_name(),
                format!("takes {wanted}, got {n}"),
            ))
        }
    }

    /// Validates the inputs and builds a running operator over them.
    pub fn build(&self, inputs: &[InputInfo]) -> Result<Box<dyn Operator>> {
        self.check_arity(inputs.len())?;
        let name = self.class_name();
        let select = |role, columns: &[String], strict, keep_named| {
            select_columns(name, &inputs[0], role, columns, strict, keep_named)
        };
        let map = |role, name_map: &BTreeMap<String, String>, drop_unmapped| {
            map_columns(name, &inputs[0], role, name_map, drop_unmapped)
        };
        Ok(match self {
            OperatorSpec::Join => Box::new(Join::new(inputs)?),
            OperatorSpec::MergeJoin => Box::new(MergeJoin::new(inputs)?),
            OperatorSpec::SemiJoin => Box::new(SemiJoin::new(&inputs[0], &inputs[1])?),
            OperatorSpec::Batch {
                batch_size,
                drop_partial_batch,
            } => Box::new(Batch::new(&inputs[0], *batch_size, *drop_partial_batch)?),
            OperatorSpec::SelectTagColumns { columns, strict } => {
                Box::new(select(Role::Tags, columns, *strict, true)?)
            }
            OperatorSpec::DropTagColumns { columns, strict } => {
                Box::new(select(Role::Tags, columns, *strict, false)?)
            }
            OperatorSpec::SelectPacketColumns { columns, strict } => {
                Box::new(select(Role::Packets, columns, *strict, true)?)
            }
            OperatorSpec::DropPacketColumns { columns, strict } => {
                Box::new(select(Role::Packets, columns, *strict, false)?)
            }
            OperatorSpec::MapTags {
                name_map,
                drop_unmapped,
            } => Box::new(map(Role::Tags, name_map, *drop_unmapped)?),
            OperatorSpec::MapPackets {
                name_map,
                drop_unmapped,
            } => Box::new(map(Role::Packets, name_map, *drop_unmapped)?),
            OperatorSpec::Filter {
                predicates,
                constraints,
            } => Box::new(Filter::new(&inputs[0], predicates, constraints)?),
        })
    }
}
