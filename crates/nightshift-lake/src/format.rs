//! Rendering query results for people (aligned table) and programs (CSV, JSON).

use std::io::Write;
use std::sync::Arc;

use deltalake::arrow::array::{ArrayRef, RecordBatch, StringBuilder};
use deltalake::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use deltalake::arrow::json::writer::{EncoderOptions, JsonArray, make_encoder};
use deltalake::arrow::util::pretty::pretty_format_batches;

use crate::error::{Error, Result};

/// How `nightshift sql` prints a result.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutputFormat {
    /// An aligned text table, for a terminal.
    Table,
    /// CSV with a header line; lists, structs and maps as JSON text in their cell.
    Csv,
    /// One JSON document: an array of objects, one per row, every column in every object
    /// (`null` where there is no value).
    Json,
}

/// Writes `batches` (of `schema`) to `out` in `format`. An empty result prints the header
/// (table and CSV) or `[]` (JSON).
pub fn write_batches(
    out: &mut dyn Write,
    schema: &SchemaRef,
    batches: &[RecordBatch],
    format: OutputFormat,
) -> Result<()> {
    let io = |source| Error::Io {
        path: "<stdout>".into(),
        source,
    };
    let empty = [RecordBatch::new_empty(schema.clone())];
    let batches = if batches.is_empty() {
        &empty[..]
    } else {
        batches
    };
    match format {
        OutputFormat::Table => {
            let table = pretty_format_batches(batches)?;
            writeln!(out, "{table}").map_err(io)?;
        }
        OutputFormat::Csv => {
            // Every batch converted before the first line is written: a value CSV cannot
            // hold fails the command without a partial file.
            let batches = batches
                .iter()
                .map(nested_as_json)
                .collect::<Result<Vec<_>>>()?;
            let mut writer = deltalake::arrow::csv::WriterBuilder::new()
                .with_header(true)
                .build(&mut *out);
            for batch in &batches {
                writer.write(batch)?;
            }
        }
        OutputFormat::Json => {
            // Explicit nulls: every row has every key, so scripts can index them.
            let mut writer = deltalake::arrow::json::WriterBuilder::new()
                .with_explicit_nulls(true)
                .build::<_, JsonArray>(&mut *out);
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

/// `batch` with each list, struct or map column replaced by a string column holding each
/// value as JSON (CSV has no nested values); other columns as they are.
fn nested_as_json(batch: &RecordBatch) -> Result<RecordBatch> {
    let schema = batch.schema();
    if !schema.fields().iter().any(|f| f.data_type().is_nested()) {
        return Ok(batch.clone());
    }
    let options = EncoderOptions::default().with_explicit_nulls(true);
    let mut fields = Vec::with_capacity(schema.fields().len());
    let mut columns: Vec<ArrayRef> = Vec::with_capacity(fields.capacity());
    for (field, column) in schema.fields().iter().zip(batch.columns()) {
        if !field.data_type().is_nested() {
            fields.push(field.clone());
            columns.push(column.clone());
            continue;
        }
        let mut encoder = make_encoder(field, column.as_ref(), &options)?;
        let mut text = StringBuilder::with_capacity(column.len(), column.len() * 16);
        let mut buf = Vec::new();
        for row in 0..column.len() {
            if encoder.is_null(row) {
                text.append_null();
                continue;
            }
            buf.clear();
            encoder.encode(row, &mut buf);
            text.append_value(String::from_utf8_lossy(&buf));
        }
        fields.push(Arc::new(Field::new(
            field.name(),
            DataType::Utf8,
            field.is_nullable(),
        )));
        columns.push(Arc::new(text.finish()));
    }
    Ok(RecordBatch::try_new(
        Arc::new(Schema::new(fields)),
        columns,
    )?)
}
