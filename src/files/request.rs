//! File and directory values as a function sees them: absolute paths.
//!
//! A value keeps the path it was given (folder sources and CSV columns give absolute
//! paths; a path in an Arrow table or a program's rows may be relative, to the working
//! directory, where it is also hashed). A function — a command running in the pipeline
//! file's directory, or a closure — gets it made absolute, so it names the same file
//! wherever the function runs. Never reads the file system beyond the working
//! directory.

use std::path::Path;

use arrow::array::Array;
use arrow::datatypes::DataType;

use super::kind::{holds_paths, PathKind};
use crate::error::{Error, Result};
use crate::model::Datum;

/// Row `i` of `array` as a function's input value: as [`Datum::from_array`] reads it,
/// with every file or directory path made absolute.
pub fn function_value(array: &dyn Array, i: usize) -> Result<Datum> {
    let datum = Datum::from_array(array, i)?;
    if !holds_paths(array.data_type()) {
        return Ok(datum);
    }
    absolute_paths(datum, array.data_type())
}

fn absolute_paths(datum: Datum, data_type: &DataType) -> Result<Datum> {
    Ok(match (datum, data_type) {
        (Datum::Str(path), t) if PathKind::of(t).is_some() => {
            let absolute = std::path::absolute(Path::new(&path)).map_err(|source| Error::Io {
                path: path.clone().into(),
                source,
            })?;
            Datum::Str(absolute.to_string_lossy().into_owned())
        }
        (Datum::List(items), DataType::List(item) | DataType::LargeList(item)) => Datum::List(
            items
                .into_iter()
                .map(|d| absolute_paths(d, item.data_type()))
                .collect::<Result<_>>()?,
        ),
        (other, _) => other,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::files::kind::path_array;

    #[test]
    fn relative_paths_become_absolute() {
        let array = path_array(
            PathKind::File,
            &[Some("data/a.wav"), Some("/x/b.wav"), None],
        );
        let cwd = std::env::current_dir().unwrap();
        assert_eq!(
            function_value(array.as_ref(), 0).unwrap(),
            Datum::Str(cwd.join("data/a.wav").display().to_string())
        );
        assert_eq!(
            function_value(array.as_ref(), 1).unwrap(),
            Datum::Str("/x/b.wav".into())
        );
        assert_eq!(function_value(array.as_ref(), 2).unwrap(), Datum::Null);
    }
}
