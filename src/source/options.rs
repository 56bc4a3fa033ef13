//! How a source reads its table ([`SourceOptions`]): which columns are tags, how rows
//! are identified, the source's id and the declared column types. Options only; reading
//! is each kind of source's.

use arrow::datatypes::{DataType, Field};

/// How a source reads its table: which columns are tags, and how rows are identified.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SourceOptions {
    /// Columns that are user tags (join keys); every other column is a packet column.
    pub tag_columns: Vec<String>,
    /// The source's id in provenance strings; defaults per kind (see each constructor).
    pub source_id: Option<String>,
    /// A column whose values identify rows (`{column}={value}`); default `row_{i}`.
    pub record_id_column: Option<String>,
    /// Declared column types (name, type, nullability), in any order; other columns keep
    /// their inferred (CSV) or given type. A CSV file reads a declared column as declared
    /// (`str`, `int`, `float` or `bool`, nullable or not; see [`Source::from_csv`](super::Source::from_csv));
    /// other sources must already have the declared type. A declared column that is not
    /// in the table is an error.
    pub types: Vec<Field>,
}

impl SourceOptions {
    /// Options with the given tag columns.
    pub fn tags<S: Into<String>>(tags: impl IntoIterator<Item = S>) -> Self {
        SourceOptions {
            tag_columns: tags.into_iter().map(Into::into).collect(),
            ..Default::default()
        }
    }

    /// Sets the source id.
    pub fn with_source_id(mut self, id: impl Into<String>) -> Self {
        self.source_id = Some(id.into());
        self
    }

    /// Sets the record-id column.
    pub fn with_record_id_column(mut self, column: impl Into<String>) -> Self {
        self.record_id_column = Some(column.into());
        self
    }

    /// Declares the type of `column` (replacing an earlier declaration of it).
    pub fn with_type(
        mut self,
        column: impl Into<String>,
        data_type: DataType,
        nullable: bool,
    ) -> Self {
        let field = Field::new(column, data_type, nullable);
        self.types.retain(|f| f.name() != field.name());
        self.types.push(field);
        self
    }
}
