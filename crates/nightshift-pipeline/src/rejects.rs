//! The rejects table: rows a task refused, with the reason. Never silently dropped.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use nightshift_lake::arrow::array::{RecordBatch, StringBuilder, TimestampMicrosecondBuilder};
use nightshift_lake::arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};

use crate::error::Result;

/// Why a row was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RejectReason {
    /// The id column is null.
    NullId,
    /// The id was already seen earlier in the same slice.
    DuplicateId,
    /// The text column is null.
    NullText,
    /// The text is empty or only whitespace.
    EmptyText,
    /// The text is longer than the pipeline's `max_text_chars`.
    OversizedText,
}

impl RejectReason {
    /// The reason as stored in the `reason` column.
    pub fn as_str(self) -> &'static str {
        match self {
            RejectReason::NullId => "null_id",
            RejectReason::DuplicateId => "duplicate_id",
            RejectReason::NullText => "null_text",
            RejectReason::EmptyText => "empty_text",
            RejectReason::OversizedText => "oversized_text",
        }
    }
}

/// Longest prefix of a rejected row kept in the `row` column, in bytes.
const MAX_ROW_JSON_BYTES: usize = 4096;

/// Columns of `output.<pipeline>_rejects`.
pub(crate) fn rejects_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("task", DataType::Utf8, false),
        Field::new("id", DataType::Utf8, true),
        Field::new("reason", DataType::Utf8, false),
        Field::new("detail", DataType::Utf8, false),
        Field::new("row", DataType::Utf8, false),
        Field::new("run_id", DataType::Utf8, false),
        Field::new(
            "rejected_at",
            DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
            false,
        ),
        Field::new("ds", DataType::Utf8, false),
    ]))
}

/// Accumulates rejected rows of one task for one slice.
pub(crate) struct RejectsBuilder {
    task: &'static str,
    run_id: String,
    ds: String,
    at: DateTime<Utc>,
    ids: StringBuilder,
    reasons: StringBuilder,
    details: StringBuilder,
    rows: StringBuilder,
    len: usize,
}

impl RejectsBuilder {
    pub(crate) fn new(task: &'static str, run_id: &str, ds: &str, at: DateTime<Utc>) -> Self {
        RejectsBuilder {
            task,
            run_id: run_id.to_string(),
            ds: ds.to_string(),
            at,
            ids: StringBuilder::new(),
            reasons: StringBuilder::new(),
            details: StringBuilder::new(),
            rows: StringBuilder::new(),
            len: 0,
        }
    }

    pub(crate) fn push(
        &mut self,
        id: Option<&str>,
        reason: RejectReason,
        detail: &str,
        row_json: &str,
    ) {
        self.ids.append_option(id);
        self.reasons.append_value(reason.as_str());
        self.details.append_value(detail);
        self.rows
            .append_value(truncate(row_json, MAX_ROW_JSON_BYTES));
        self.len += 1;
    }

    pub(crate) fn finish(mut self) -> Result<RecordBatch> {
        let n = self.len;
        let mut at = TimestampMicrosecondBuilder::with_capacity(n).with_timezone("UTC");
        at.append_slice(&vec![self.at.timestamp_micros(); n]);
        let constant = |v: &str| {
            let mut b = StringBuilder::with_capacity(n, n * v.len());
            for _ in 0..n {
                b.append_value(v);
            }
            Arc::new(b.finish())
        };
        Ok(RecordBatch::try_new(
            rejects_schema(),
            vec![
                constant(self.task),
                Arc::new(self.ids.finish()),
                Arc::new(self.reasons.finish()),
                Arc::new(self.details.finish()),
                Arc::new(self.rows.finish()),
                constant(&self.run_id),
                Arc::new(at.finish()),
                constant(&self.ds),
            ],
        )?)
    }
}

fn truncate(s: &str, max_bytes: usize) -> &str {
    if s.len() <= max_bytes {
        return s;
    }
    let mut end = max_bytes;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}
