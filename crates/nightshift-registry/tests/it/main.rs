//! Integration tests of the registry: real SQLite files and bundle directories in temp dirs.
//! One test binary with a module per concept.

mod aliases;
mod bundles;
mod concurrency;
mod model_ref;
mod recovery;
mod register;

use std::path::PathBuf;

use chrono::{DateTime, TimeZone, Utc};
use nightshift_registry::{InputSchema, ModelVersion, NewModel, Registry, TrainingData};

/// A project directory with `.nightshift/registry.db` and `models/`.
pub(crate) struct Project {
    _dir: tempfile::TempDir,
    pub(crate) db: PathBuf,
    pub(crate) models: PathBuf,
}

impl Project {
    pub(crate) fn new() -> Project {
        let dir = tempfile::tempdir().expect("tempdir");
        Project {
            db: dir.path().join(".nightshift").join("registry.db"),
            models: dir.path().join("models"),
            _dir: dir,
        }
    }

    pub(crate) fn open(&self) -> Registry {
        Registry::open(&self.db, &self.models).expect("open registry")
    }
}

/// 2026-11-22 at `hour`:`min` UTC.
pub(crate) fn at(hour: u32, min: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 22, hour, min, 0)
        .single()
        .expect("valid time")
}

/// A root-cause-like model description; `rows` distinguishes versions.
pub(crate) fn new_model(name: &str, rows: u64) -> NewModel {
    NewModel {
        name: name.to_string(),
        kind: "nightshift-text-linear".into(),
        labels: vec!["billing".into(), "login".into(), "shipping".into()],
        parents: None,
        hyperparameters: serde_json::json!({"epochs": 5, "learning_rate": 0.1}),
        training_data: TrainingData {
            source: "SELECT text, label FROM raw.contacts".into(),
            rows,
            fingerprint: format!("{rows:064x}"),
        },
        metrics: serde_json::json!({"train_accuracy": 0.91}),
        input_schema: InputSchema {
            text_column: "text".into(),
            parent_column: None,
            label_column: "label".into(),
            extra_columns: vec![],
        },
        code_version: "0.1.0".into(),
    }
}

/// Registers `name` with `weights.bin` = `weights` at `now`.
pub(crate) fn register(
    reg: &Registry,
    name: &str,
    weights: &[u8],
    now: DateTime<Utc>,
) -> ModelVersion {
    reg.register(
        new_model(name, weights.len() as u64),
        &[("weights.bin", weights), ("vocab.txt", b"a\nb\n")],
        now,
    )
    .expect("register")
}

/// Names of the entries of a directory, sorted (empty if it does not exist).
pub(crate) fn entries(dir: &std::path::Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .map(|rd| {
            rd.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

#[test]
fn registry_is_send_and_sync() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<Registry>();
}
