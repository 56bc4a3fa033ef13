//! What reading a source lost though it succeeded ([`SourceWarning`]): CSV type
//! inference that dropped leading zeros, rounded integers or fell back to text. A report
//! only; the rows are read as they are either way.

use std::fmt;
use std::path::PathBuf;

/// one column of a CSV file whose type was inferred. Declaring the column's type in
/// [`SourceOptions::types`](super::SourceOptions::types) removes the warning (and, declared `str`, the loss).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceWarning {
    /// The file read.
    pub file: PathBuf,
    /// The column concerned.
    pub column: String,
    /// The 1-based line of the example value, as an editor shows it.
    pub line: u64,
    /// An example value, as written in the file.
    pub value: String,
    /// What was lost.
    pub kind: WarningKind,
    /// The whole explanation (it names the column, the example and the fix), without the
    /// file and line.
    pub message: String,
}

/// The kinds of information a CSV column's inferred type can lose.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum WarningKind {
    /// Numbers written with leading zeros (`02134`, `007`) were read as numbers, which
    /// drops the zeros.
    LeadingZeros,
    /// Integers were read as floats: the column holds an integer beyond 64 bits, or an
    /// integer that a float cannot hold exactly (distinct values may become equal).
    RoundedToFloat,
    /// A column whose values are mostly numbers (or booleans) was read as text because of
    /// a few rows that are not, such as a repeated header line.
    TextFallback,
}

impl fmt::Display for SourceWarning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}: {}", self.file.display(), self.line, self.message)
    }
}
