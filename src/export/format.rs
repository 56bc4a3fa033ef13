//! [`Format`] and [`Columns`]: which files an export writes and which columns each shows.
//!
//! Names only: this module never renders a value or touches a file.

use std::fmt;
use std::str::FromStr;

use crate::error::{Error, Result};
use crate::model::StreamSchema;

/// A file format results are written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Format {
    /// `name.json` and `name.all_info.json`.
    Json,
    /// `name.csv` and `name.all_info.csv`.
    Csv,
    /// `name.arrow` (Arrow IPC file, every column).
    Arrow,
    /// `name.parquet` (Parquet file, every column).
    Parquet,
}

impl Format {
    /// Every format, in the order the command line lists them.
    pub const ALL: [Format; 4] = [Format::Json, Format::Csv, Format::Arrow, Format::Parquet];

    /// The format's name on the command line (`json`, `csv`, `arrow`, `parquet`), also
    /// its file extension.
    pub fn name(self) -> &'static str {
        match self {
            Format::Json => "json",
            Format::Csv => "csv",
            Format::Arrow => "arrow",
            Format::Parquet => "parquet",
        }
    }

    /// The files an output called `name` is written to, with the columns each holds.
    pub fn files(self, name: &str) -> Vec<(String, Columns)> {
        let ext = self.name();
        match self {
            Format::Json | Format::Csv => vec![
                (format!("{name}.{ext}"), Columns::TagsAndPackets),
                (format!("{name}.all_info.{ext}"), Columns::AllInfo),
            ],
            Format::Arrow | Format::Parquet => vec![(format!("{name}.{ext}"), Columns::AllInfo)],
        }
    }
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Format {
    type Err = Error;

    fn from_str(s: &str) -> Result<Format> {
        Format::ALL
            .into_iter()
            .find(|f| f.name() == s)
            .ok_or_else(|| {
                Error::invalid(
                    "output format",
                    format!("unknown format `{s}`; expected json, csv, arrow or parquet"),
                )
            })
    }
}

/// Which columns an export shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Columns {
    /// The user tag columns, then the packet columns.
    TagsAndPackets,
    /// Every column: user tags, packets, system tags (`_tag_…`) and source info
    /// (`_source_…`).
    AllInfo,
}

impl Columns {
    /// Indices (into `schema`) of the columns shown, in schema order.
    pub fn indices(self, schema: &StreamSchema) -> Vec<usize> {
        match self {
            Columns::TagsAndPackets => schema.tag_range().chain(schema.packet_range()).collect(),
            Columns::AllInfo => (0..schema.arrow().fields().len()).collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_parse_and_name_their_files() {
        for f in Format::ALL {
            assert_eq!(f.name().parse::<Format>().unwrap(), f);
        }
        assert_eq!("parquet".parse::<Format>().unwrap(), Format::Parquet);
        assert!("feather".parse::<Format>().is_err());
        let names: Vec<String> = Format::Json.files("g").into_iter().map(|f| f.0).collect();
        assert_eq!(names, ["g.json", "g.all_info.json"]);
        assert_eq!(
            Format::Arrow.files("g"),
            [("g.arrow".into(), Columns::AllInfo)]
        );
        assert_eq!(
            Format::Parquet.files("g"),
            [("g.parquet".into(), Columns::AllInfo)]
        );
    }
}
