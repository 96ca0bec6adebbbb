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

/// Delivers `alert` to `sink`. A webhook gets a JSON `POST` (any 2xx is success); a command gets
/// the JSON on its standard input (exit 0 is success); a log sink writes `alert: ` and the
/// JSON as one line on stderr, whatever the log level (`-q` included: the alert is recorded as
/// sent, so a line filtered out would be lost).
pub async fn deliver(sink: &AlertSink, alert: &Alert) -> Result<(), String> {
    let body = serde_json::to_vec(alert).map_err(|e| e.to_string())?;
    match sink {
        AlertSink::Log => {
            use std::io::Write;
            let mut line = b"alert: ".to_vec();
            line.extend_from_slice(&body);
            line.push(b'\n');
            std::io::stderr()
                .lock()
                .write_all(&line)
                .map_err(|e| format!("stderr: {e}"))
        }
        AlertSink::Webhook { url } => {
            let client = reqwest::Client::builder()
                .timeout(SINK_TIMEOUT)
                .build()
                .map_err(|e| e.to_string())?;
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
                    text
                })?;
            if response.status().is_success() {
                Ok(())
            } else {
                Err(format!("POST {url}: HTTP {}", response.status()))
            }
        }
        AlertSink::Command { program, args } => {
            let mut child = tokio::process::Command::new(program)
                .args(args)
                .stdin(std::process::Stdio::piped())
                .stdout(std::process::Stdio::null())
                .kill_on_drop(true)
                .spawn()
                .map_err(|e| format!("{program}: {e}"))?;
            if let Some(mut stdin) = child.stdin.take() {
                stdin
                    .write_all(&body)
                    .await
                    .map_err(|e| format!("{program}: {e}"))?;
            }
            let status = tokio::time::timeout(SINK_TIMEOUT, child.wait())
                .await
                .map_err(|_| {
                    format!(
                        "{program}: still running after {} s",
                        SINK_TIMEOUT.as_secs()
                    )
                })?
                .map_err(|e| format!("{program}: {e}"))?;
            if status.success() {
                Ok(())
            } else {
                Err(format!("{program}: {status}"))
            }
        }
    }
}
