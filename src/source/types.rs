//! The column types of a source's table: strings, binaries and lists normalised to their
//! large Arrow variants ([`large_type`]), and the declared types (`types:`) checked
//! against what a table has. Never reads a file and never infers a type.

use std::sync::Arc;

use arrow::array::RecordBatch;
use arrow::compute::cast;
use arrow::datatypes::{DataType, Field, Schema};

use crate::error::{Error, Result};
use crate::hashing::python_type::python_type_name;
use crate::model::schema::column_list;

/// Checks that a table (types normalised) has every declared column, with the declared
/// type and nullability.
pub(super) fn check_declared_types(
    schema: &Schema,
    declared: &[Field],
    context: &str,
) -> Result<()> {
    for d in declared {
        let Ok(field) = schema.field_with_name(d.name()) else {
            return Err(Error::invalid(
                context,
                format!(
                    "`types` declares column `{}`, which is not in the table; columns are: {}",
                    d.name(),
                    column_list(schema)
                ),
            ));
        };
        if field.data_type() != &large_type(d.data_type()) || field.is_nullable() != d.is_nullable()
        {
            let (mut declared, mut found) = (python_type_name(d), python_type_name(field));
            if declared == found {
                declared = format!("{declared}` (Arrow `{}`)", d.data_type());
                found = format!("{found}` (Arrow `{}`)", field.data_type());
            } else {
                declared.push('`');
                found.push('`');
            }
            return Err(Error::invalid(
                context,
                format!(
                    "`types` declares column `{}` as `{declared}, but it is `{found} here; \
                     declare the type it has",
                    d.name(),
                ),
            ));
        }
    }
    Ok(())
}

/// Casts strings, binaries and lists to their large variants (recursively).
pub(super) fn normalize_types(table: &RecordBatch) -> Result<RecordBatch> {
    let schema = table.schema();
    let mut fields = Vec::with_capacity(schema.fields().len());
    let mut columns = Vec::with_capacity(schema.fields().len());
    for (f, c) in schema.fields().iter().zip(table.columns()) {
        let target = large_type(f.data_type());
        if &target == f.data_type() {
            fields.push(f.clone());
            columns.push(c.clone());
        } else {
            // A column of only nulls becomes a nullable string column.
            let nullable = f.is_nullable() || f.data_type() == &DataType::Null;
            fields.push(Arc::new(
                f.as_ref()
                    .clone()
                    .with_data_type(target.clone())
                    .with_nullable(nullable),
            ));
            columns.push(cast(c, &target)?);
        }
    }
    Ok(RecordBatch::try_new(
        Arc::new(Schema::new(fields)),
        columns,
    )?)
}

/// The large variant of a type: what every orcapod stream uses. A column (or list item)
/// of type `Null` — values that were all null, so no type could be inferred — becomes a
/// string column: Arrow hashing has no encoding for `Null`, and a string is the most
/// useful guess for later rows.
pub fn large_type(data_type: &DataType) -> DataType {
    match data_type {
        DataType::Null | DataType::Utf8 | DataType::Utf8View => DataType::LargeUtf8,
        DataType::Binary | DataType::BinaryView => DataType::LargeBinary,
        DataType::List(item) | DataType::LargeList(item) => DataType::LargeList(Arc::new(
            item.as_ref()
                .clone()
                .with_data_type(large_type(item.data_type())),
        )),
        other => other.clone(),
    }
}
