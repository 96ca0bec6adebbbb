//! End-to-end tests of the `nightshift` binary: real processes, real files, real Delta tables.

mod config_errors;
mod models;
mod pipeline;
mod scheduler;

use std::path::Path;
use std::process::{Command, Output};

/// Runs the binary with `args` (project given with --project) and returns its output.
pub(crate) fn nightshift(project: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_nightshift"))
        .arg("--project")
        .arg(project)
        .args(args)
        .env_remove("NIGHTSHIFT_PROJECT")
        .env_remove("RUST_LOG")
        .output()
        .expect("run nightshift")
}

pub(crate) fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

pub(crate) fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// `nightshift --json sql QUERY` -> the first row's first value as an integer.
pub(crate) fn count(project: &Path, query: &str) -> i64 {
    let out = nightshift(project, &["--json", "sql", query]);
    assert!(out.status.success(), "{}", stderr(&out));
    let rows: serde_json::Value = serde_json::from_str(&stdout(&out)).expect("json");
    let row = rows[0].as_object().expect("row");
    row.values()
        .next()
        .and_then(|v| v.as_i64())
        .expect("integer")
}

/// A fresh project made by `nightshift init`.
pub(crate) fn init() -> (tempfile::TempDir, std::path::PathBuf) {
    let dir = tempfile::tempdir().expect("tmp");
    let project = dir.path().join("p");
    let out = Command::new(env!("CARGO_BIN_EXE_nightshift"))
        .arg("init")
        .arg(&project)
        .output()
        .expect("init");
    assert!(out.status.success(), "{}", stderr(&out));
    (dir, project)
}

/// `generate` 300 contacts a day for `days` days ending on `end_date`, then train `root_cause`
/// version 1 on the agent labels and point `production` at it.
pub(crate) fn generate_and_train(project: &Path, days: u32, end_date: &str) {
    let days = days.to_string();
    let out = nightshift(
        project,
        &[
            "generate",
            "--days",
            &days,
            "--rows-per-day",
            "300",
            "--end-date",
            end_date,
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    train_on_agent_labels(project, &["--parent-column", "category"]);
}

/// Trains the next version of `root_cause` on the agent labels with `extra` arguments and
/// points `production` at it.
pub(crate) fn train_on_agent_labels(project: &Path, extra: &[&str]) {
    let sql = "SELECT c.text, l.category, l.subcategory FROM raw.agent_labels l \
               JOIN raw.support_contacts c ON c.contact_id = l.contact_id";
    let mut args = vec![
        "models",
        "train",
        "root_cause",
        "--sql",
        sql,
        "--text-column",
        "text",
        "--label-column",
        "subcategory",
        "--alias",
        "production",
    ];
    args.extend_from_slice(extra);
    let out = nightshift(project, &args);
    assert!(out.status.success(), "{}", stderr(&out));
}
