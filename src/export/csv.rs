//! The CSV text of an export (quoting and value encoding: see the [module docs](super)),
//! written batch by batch from the sorted rows' arrays.

use std::io::{self, BufWriter, Write};

use arrow::array::RecordBatch;

use super::cells::{write_field, Cells};
use super::format::Columns;
use super::sorted::SortedStream;
use crate::model::StreamSchema;

impl SortedStream {
    /// Writes the CSV text (see the [module docs](crate::export)): a header line, then one line
    /// per row.
    pub fn write_csv<W: Write>(&self, out: W, columns: Columns) -> io::Result<()> {
        let mut out = BufWriter::new(out);
        let rows = CsvRows::new(&mut out, self.schema(), columns)?;
        rows.write_batch(&mut out, self.batch())?;
        out.flush()
    }
}

/// Writes the lines of a CSV file: the header when made, then the rows of each batch
/// given, in order.
#[derive(Debug)]
pub(super) struct CsvRows {
    shown: Vec<usize>,
}

impl CsvRows {
    /// Writes the header line of `columns` of `schema`.
    pub(super) fn new<W: Write>(
        out: &mut W,
        schema: &StreamSchema,
        columns: Columns,
    ) -> io::Result<CsvRows> {
        let shown = columns.indices(schema);
        let fields = schema.arrow().fields();
        for (i, &c) in shown.iter().enumerate() {
            if i > 0 {
                out.write_all(b",")?;
            }
            write_field(out, fields[c].name())?;
        }
        out.write_all(b"\n")?;
        Ok(CsvRows { shown })
    }

    /// Writes one line per row of `batch` (of the schema's columns).
    pub(super) fn write_batch<W: Write>(&self, out: &mut W, batch: &RecordBatch) -> io::Result<()> {
        let cells = Cells::of(batch, &self.shown)?;
        for r in 0..batch.num_rows() {
            if let [only] = cells.as_slice() {
                if only.is_null(r) {
                    // A lone empty field would be a blank line, which CSV readers skip.
                    out.write_all(b"\"\"\n")?;
                    continue;
                }
            }
            for (i, column) in cells.iter().enumerate() {
                if i > 0 {
                    out.write_all(b",")?;
                }
                column.write_csv(out, r)?;
            }
            out.write_all(b"\n")?;
        }
        Ok(())
    }
}
