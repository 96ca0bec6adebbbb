//! Alerts: what happened, delivered to the sinks of the project file (webhook, command, log).
//! Deduplication (one alert per event, not per retry) is the run store's `record_alert`.

use std::time::Duration;

use chrono::{DateTime, Utc};
use nightshift_core::AlertSink;
use tokio::io::AsyncWriteExt;

/// What an alert is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum AlertEvent {
    /// A task still failed after its retries.
    TaskFailed,
    /// A date that had failed runs now succeeded.
    RunRecovered,
    /// The output of a date was not published by the pipeline's deadline (whether or not a run
    /// ever started).
    DeadlineMissed,
    /// A quality gate stopped a run before its output was published.
    QualityGateFailed,
}

/// One alert, as sent (JSON) to every sink.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Alert {
    /// What happened.
    pub event: AlertEvent,
    /// The pipeline.
    pub pipeline: String,
    /// The logical date concerned.
    pub logical_date: DateTime<Utc>,
    /// The run concerned, if one exists.
    pub run_id: Option<String>,
    /// The task concerned, if any.
    pub task: Option<String>,
    /// In words.
    pub message: String,
    /// When the alert was raised.
    pub at: DateTime<Utc>,
    /// The key it is deduplicated by (for an alert about several dates, the first date's).
    pub key: String,
    /// Every logical date concerned, oldest first, when the alert is about several: a
    /// scheduler tick that catches up many dates sends one alert per event and task, not one
    /// per date. Left out of the JSON for an alert about one date.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub dates: Vec<DateTime<Utc>>,
}

/// Longest a sink may take.
const SINK_TIMEOUT: Duration = Duration::from_secs(30);

/// Why a sink did not take an alert.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SinkError {
    /// What happened, for the log.
    pub message: String,
    /// Whether the sink could not be reached at all (connection refused, timed out, the
    /// command not found or hanging): every alert would fail the same way for a while. An
    /// answer to this one alert (an HTTP error status, a non-zero exit) is not.
    pub unreachable: bool,
}

impl std::fmt::Display for SinkError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

/// The sink did not answer.
fn unreachable(message: String) -> SinkError {
    SinkError {
        message,
        unreachable: true,
    }
}

/// The sink answered, refusing this alert.
fn refused(message: String) -> SinkError {
    SinkError {
        message,
        unreachable: false,
    }
}

/// Delivers `alert` to `sink`. A webhook gets a JSON `POST` (any 2xx is success); a command gets
/// the JSON on its standard input (exit 0 is success); a log sink writes `alert: ` and the
/// JSON as one line on stderr, whatever the log level (`-q` included: the alert is recorded as
/// sent, so a line filtered out would be lost).
pub async fn deliver(sink: &AlertSink, alert: &Alert) -> Result<(), SinkError> {
    let body = serde_json::to_vec(alert).map_err(|e| refused(e.to_string()))?;
    match sink {
        AlertSink::Log => {
            use std::io::Write;
            let mut line = b"alert: ".to_vec();
            line.extend_from_slice(&body);
            line.push(b'\n');
            std::io::stderr()
                .lock()
                .write_all(&line)
                .map_err(|e| unreachable(format!("stderr: {e}")))
        }
        AlertSink::Webhook { url } => {
            let client = reqwest::Client::builder()
                .timeout(SINK_TIMEOUT)
                .build()
                .map_err(|e| unreachable(e.to_string()))?;
            let response = client
                .post(url)
                .header("content-type", "application/json")
                .body(body)
                .send()
                .await
                .map_err(|e| {
                    // reqwest's message ("error sending request") leaves the reason to its
                    // causes: connection refused, timed out, ...
                    let mut text = format!("POST {url}: {e}");
                    let mut cause = std::error::Error::source(&e);
                    while let Some(c) = cause {
                        text.push_str(&format!(": {c}"));
                        cause = c.source();
                    }
                    if e.is_timeout() || e.is_connect() || e.is_request() {
                        unreachable(text)
                    } else {
                        refused(text)
                    }
                })?;
            if response.status().is_success() {
                Ok(())
            } else {
                Err(refused(format!("POST {url}: HTTP {}", response.status())))
            }
        }
        AlertSink::Command { program, args } => {
            let mut child = tokio::process::Command::new(program)
                .args(args)
                .stdin(std::process::Stdio::piped())
                .stdout(std::process::Stdio::null())
                .kill_on_drop(true)
                .spawn()
                .map_err(|e| unreachable(format!("{program}: {e}")))?;
            if let Some(mut stdin) = child.stdin.take() {
                // A command that exits without reading its input closes the pipe: its exit
                // status says whether it took the alert.
                let _ = stdin.write_all(&body).await;
            }
            let status = tokio::time::timeout(SINK_TIMEOUT, child.wait())
                .await
                .map_err(|_| {
                    unreachable(format!(
                        "{program}: still running after {} s",
                        SINK_TIMEOUT.as_secs()
                    ))
                })?
                .map_err(|e| unreachable(format!("{program}: {e}")))?;
            if status.success() {
                Ok(())
            } else {
                Err(refused(format!("{program}: {status}")))
            }
        }
    }
}
