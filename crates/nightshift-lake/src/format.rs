//! Rendering query results for people (aligned table) and programs (CSV, JSON).

use std::io::Write;

use deltalake::arrow::record_batch::RecordBatch;
use deltalake::arrow::util::pretty::pretty_format_batches;

use crate::error::{Error, Result};

/// How `nightshift sql` prints a result.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutputFormat {
    /// An aligned text table, for a terminal.
    Table,
    /// CSV with a header line.
    Csv,
    /// One JSON document: an array of objects, one per row.
    Json,
}

/// Writes `batches` to `out` in `format`. An empty result prints a header-only table / CSV and
/// `[]` in JSON.
pub fn write_batches(
    out: &mut dyn Write,
    batches: &[RecordBatch],
    format: OutputFormat,
) -> Result<()> {
    let io = |source| Error::Io {
        path: "<stdout>".into(),
        source,
    };
    match format {
        OutputFormat::Table => {
            let table = pretty_format_batches(batches)?;
            writeln!(out, "{table}").map_err(io)?;
        }
        OutputFormat::Csv => {
            let mut writer = deltalake::arrow::csv::WriterBuilder::new()
                .with_header(true)
                .build(&mut *out);
            for batch in batches {
                writer.write(batch)?;
            }
        }
        OutputFormat::Json => {
            let mut writer = deltalake::arrow::json::ArrayWriter::new(&mut *out);
            for batch in batches {
                writer.write(batch)?;
            }
            // With no rows, `finish` still writes `[]`: scripts always get a valid document.
            writer.finish()?;
            writeln!(out).map_err(io)?;
        }
    }
    Ok(())
}
