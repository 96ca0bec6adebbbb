//! Reading data files (CSV, TSV, Parquet, NDJSON) given on the command line, e.g. training data.

use std::path::Path;
use std::sync::Arc;

use deltalake::arrow::csv::reader::Format;
use deltalake::arrow::datatypes::{DataType, Field, Schema};
use deltalake::arrow::record_batch::RecordBatch;
use deltalake::datafusion::prelude::{
    CsvReadOptions, JsonReadOptions, ParquetReadOptions, SessionContext,
};

use crate::error::{Error, Result};

/// The file formats [`read_data_file`] understands, chosen by extension.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileFormat {
    /// `.csv`: comma-separated, header line, double-quote quoting.
    Csv,
    /// `.tsv` / `.tab`: tab-separated, header line, double-quote quoting.
    Tsv,
    /// `.parquet`.
    Parquet,
    /// `.json` / `.jsonl` / `.ndjson`: one JSON object per line.
    NdJson,
}

impl FileFormat {
    /// The format for a path's extension.
    pub fn of(path: &Path) -> Result<FileFormat> {
        let ext = path
            .extension()
            .and_then(|e| e.to_str())
            .map(|e| e.to_ascii_lowercase())
            .unwrap_or_default();
        match ext.as_str() {
            "csv" => Ok(FileFormat::Csv),
            "tsv" | "tab" => Ok(FileFormat::Tsv),
            "parquet" | "pq" => Ok(FileFormat::Parquet),
            "json" | "jsonl" | "ndjson" => Ok(FileFormat::NdJson),
            _ => Err(Error::UnsupportedFile {
                path: path.to_path_buf(),
            }),
        }
    }
}

/// Reads a whole data file into batches. CSV and TSV columns are all read as text (so a label
/// column of numbers, or a text column that starts with numbers, is never mis-typed), and a
/// double-quoted value may span lines; Parquet and JSON keep their types. A missing file is
/// an [`Error::Io`].
pub async fn read_data_file(path: &Path) -> Result<Vec<RecordBatch>> {
    if !path.is_file() {
        return Err(Error::Io {
            path: path.to_path_buf(),
            source: std::io::Error::new(std::io::ErrorKind::NotFound, "no such file"),
        });
    }
    let format = FileFormat::of(path)?;
    // One partition: batches come back in file order (several partitions would interleave them,
    // and training on the same file would then not be reproducible).
    let ctx = SessionContext::new_with_config(
        deltalake::datafusion::prelude::SessionConfig::new().with_target_partitions(1),
    );
    let name = path.to_string_lossy().to_string();
    let sql_err = |e| Error::sql(e, vec![]);
    let frame = match format {
        FileFormat::Csv | FileFormat::Tsv => {
            let delimiter = if format == FileFormat::Tsv {
                b'\t'
            } else {
                b','
            };
            let options = || {
                CsvReadOptions::new()
                    .has_header(true)
                    .delimiter(delimiter)
                    .quote(b'"')
                    // Support texts span lines: a quoted value may hold newlines (RFC 4180, and
                    // what `nightshift sql --csv` writes).
                    .newlines_in_values(true)
                    .file_extension(
                        path.extension()
                            .and_then(|e| e.to_str())
                            .map(|e| if e.is_empty() { "" } else { e })
                            .unwrap_or(""),
                    )
            };
            // Column names from the header alone, parsed by a whole-file CSV reader:
            // DataFusion's schema inference parses the file in chunks and fails when a
            // quoted value spans a chunk boundary.
            let file = std::fs::File::open(path).map_err(|source| Error::Io {
                path: path.to_path_buf(),
                source,
            })?;
            let (header, _) = Format::default()
                .with_header(true)
                .with_delimiter(delimiter)
                .with_quote(b'"')
                .infer_schema(file, Some(0))?;
            let mut seen = std::collections::HashSet::new();
            if let Some(twice) = header.fields().iter().find(|f| !seen.insert(f.name())) {
                return Err(Error::DataFile {
                    path: path.to_path_buf(),
                    line: 1,
                    message: format!("the header names column `{}` twice", twice.name()),
                });
            }
            let text_schema = Schema::new(
                header
                    .fields()
                    .iter()
                    .map(|f| Arc::new(Field::new(f.name(), DataType::Utf8, true)))
                    .collect::<Vec<_>>(),
            );
            let frame = ctx
                .read_csv(&name, options().schema(&text_schema))
                .await
                .map_err(sql_err)?;
            // Arrow counts records where it says "line": a file whose quoted values span
            // lines would send the user to the wrong line; say the file's own line instead.
            return frame.collect().await.map_err(|e| {
                let message = e.to_string();
                let located = record_number(&message).and_then(|record| {
                    physical_line(path, delimiter, record).map(|line| (record, line))
                });
                match located {
                    Some((record, line)) => Error::DataFile {
                        path: path.to_path_buf(),
                        line,
                        message: message
                            .rsplit("Csv error: ")
                            .next()
                            .unwrap_or(&message)
                            .replace(&format!("line {record}"), &format!("record {record}")),
                    },
                    None => sql_err(e),
                }
            });
        }
        FileFormat::Parquet => ctx
            .read_parquet(&name, ParquetReadOptions::default().file_extension(""))
            .await
            .map_err(sql_err)?,
        FileFormat::NdJson => {
            // The JSON reader takes no byte-order mark (CSV's does): a copy without it.
            let bytes = std::fs::read(path).map_err(|source| Error::Io {
                path: path.to_path_buf(),
                source,
            })?;
            let _unmarked;
            let name = match bytes.strip_prefix(b"\xEF\xBB\xBF") {
                Some(rest) => {
                    let copy = tempfile::NamedTempFile::new().and_then(|mut f| {
                        std::io::Write::write_all(&mut f, rest)?;
                        Ok(f)
                    });
                    let copy = copy.map_err(|source| Error::Io {
                        path: path.to_path_buf(),
                        source,
                    })?;
                    let copied = copy.path().to_string_lossy().to_string();
                    _unmarked = copy;
                    copied
                }
                None => name,
            };
            let frame = ctx
                .read_json(&name, JsonReadOptions::default().file_extension(""))
                .await
                .map_err(|e| first_bad_json_line(path).unwrap_or_else(|| sql_err(e)))?;
            // Arrow's JSON errors count from the line being decoded, not the file's start.
            return frame
                .collect()
                .await
                .map_err(|e| first_bad_json_line(path).unwrap_or_else(|| sql_err(e)));
        }
    };
    frame.collect().await.map_err(sql_err)
}

/// The 1-based record number in an Arrow CSV error ("... for line 23 ...", "... line 23,"),
/// which counts the header as record 1.
fn record_number(message: &str) -> Option<u64> {
    let after = message.split("line ").nth(1)?;
    let digits: String = after.chars().take_while(char::is_ascii_digit).collect();
    digits.parse().ok().filter(|&n| n > 0)
}

/// The line of `path` on which CSV record `record` (1-based, the header being 1) starts, read
/// with the same delimiter and quoting as the file was; `None` if the file has fewer records.
fn physical_line(path: &Path, delimiter: u8, record: u64) -> Option<u64> {
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .delimiter(delimiter)
        .quote(b'"')
        .from_path(path)
        .ok()?;
    let mut row = csv::ByteRecord::new();
    let mut seen = 0;
    loop {
        let start = reader.position().line();
        match reader.read_byte_record(&mut row) {
            Ok(true) => {}
            // The record that fails to parse at all starts here too.
            Ok(false) | Err(_) => return (seen + 1 == record).then_some(start),
        }
        seen += 1;
        if seen == record {
            return Some(start);
        }
    }
}

/// The first line of a JSON-lines file that is not a JSON object, or whose field holds a
/// value of another kind than on the lines before (text on one line, a number on the next:
/// Arrow's reader fails on it without a line), as an error at that line; `None` if every line
/// is fine (the fault is elsewhere).
fn first_bad_json_line(path: &Path) -> Option<Error> {
    let text = std::fs::read(path).ok()?;
    let text = text.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(&text);
    // Each field's kind, and the line it was first seen on.
    let mut kinds: std::collections::HashMap<String, (&'static str, usize)> =
        std::collections::HashMap::new();
    for (i, line) in text.split(|&b| b == b'\n').enumerate() {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        let message = match serde_json::from_slice::<serde_json::Value>(line) {
            Ok(serde_json::Value::Object(fields)) => {
                let changed = fields.iter().find_map(|(field, value)| {
                    let kind = json_kind(value)?;
                    let (first, at) = *kinds.entry(field.clone()).or_insert((kind, i + 1));
                    (first != kind).then(|| {
                        format!(
                            "field `{field}` is {kind} here and {first} on line {at}: every line must give a field the same kind of value"
                        )
                    })
                });
                match changed {
                    Some(message) => message,
                    None => continue,
                }
            }
            Ok(other) => format!("expected a JSON object, found {other}"),
            Err(e) => {
                let what = e.to_string();
                let what = what
                    .split(" at line ")
                    .next()
                    .unwrap_or_default()
                    .to_string();
                format!("not valid JSON at column {}: {what}", e.column())
            }
        };
        return Some(Error::DataFile {
            path: path.to_path_buf(),
            line: i as u64 + 1,
            message,
        });
    }
    None
}

/// The kind of a JSON value, as Arrow's reader types a column (`None` for null, which fits
/// any).
fn json_kind(value: &serde_json::Value) -> Option<&'static str> {
    match value {
        serde_json::Value::Null => None,
        serde_json::Value::Bool(_) => Some("a boolean"),
        serde_json::Value::Number(_) => Some("a number"),
        serde_json::Value::String(_) => Some("text"),
        serde_json::Value::Array(_) => Some("a list"),
        serde_json::Value::Object(_) => Some("an object"),
    }
}
