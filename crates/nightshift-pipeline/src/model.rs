//! Models of a project: training from rows, loading a reference, evaluating against labels.
//!
//! The registry (`nightshift-registry`) keeps versions, aliases and bundles; the classifier
//! (`nightshift-models`) does the maths. This module joins them to Arrow data: columns in,
//! a registered version out.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use chrono::{DateTime, Utc};
use nightshift_core::Project;
use nightshift_lake::arrow::array::{Array, RecordBatch, StringArray};
use nightshift_lake::arrow::compute::cast;
use nightshift_lake::arrow::datatypes::DataType;
use nightshift_models::{Example, Input, TextClassifier, TrainConfig, TrainReport};
use nightshift_registry::{
    AliasMove, AliasRequest, Bundle, InputSchema, Manifest, ModelRef, ModelVersion, NewModel,
    Registry, TrainingData,
};
use sha2::{Digest, Sha256};

use crate::error::{Error, Result};

/// `kind` of the bundles this module writes.
pub const NATIVE_KIND: &str = "nightshift-text-linear";
/// File of the weights inside a bundle.
pub const WEIGHTS_FILE: &str = "weights.bin";

/// Where a project keeps its registry: `<root>/.nightshift/registry.db` and `<root>/models/`.
pub fn registry_paths(project: &Project) -> (PathBuf, PathBuf) {
    (
        project.root.join(".nightshift").join("registry.db"),
        project.root.join("models"),
    )
}

/// Opens (creating if needed) the project's model registry.
pub fn open_registry(project: &Project) -> Result<Registry> {
    let (db, models) = registry_paths(project);
    if let Some(parent) = db.parent() {
        std::fs::create_dir_all(parent)
            .map_err(|e| Error::Internal(format!("{}: {e}", parent.display())))?;
    }
    let registry = Registry::open(&db, &models)?;
    // What opening repaired is said once, where it happened.
    let recovery = registry.recovery();
    for v in &recovery.adopted {
        tracing::warn!(
            "found {}@{} in {} without its registry entry (a `models train` that was \
             interrupted, or a recreated registry.db): indexed it, with no alias pointing at it \
             (`nightshift models alias {} production {}` promotes it)",
            v.name,
            v.version,
            v.dir.display(),
            v.name,
            v.version
        );
    }
    for (dir, reason) in &recovery.unreadable {
        tracing::warn!(
            "{} is not a model version the registry can index ({reason}); left alone, its \
             version number is not reused",
            dir.display()
        );
    }
    Ok(registry)
}

/// A model version loaded and ready to predict.
#[derive(Debug, Clone)]
pub struct LoadedModel {
    /// The registry's record of the version.
    pub version: ModelVersion,
    /// The bundle's manifest.
    pub manifest: Manifest,
    /// The classifier.
    pub classifier: Arc<TextClassifier>,
}

impl LoadedModel {
    /// Model name.
    pub fn name(&self) -> &str {
        &self.version.name
    }

    /// Structured input columns the model was trained with, in order.
    pub fn extra_columns(&self) -> &[String] {
        &self.manifest.input_schema.extra_columns
    }
}

/// Resolves `reference` (`name`, `name@3`, `name@alias`) once and loads that version, verifying
/// the bundle's checksums.
pub fn load_model(registry: &Registry, reference: &ModelRef) -> Result<LoadedModel> {
    let version = registry.resolve(reference)?;
    // The kind first (a bundle of another kind may have no weights file at all).
    let kind = Bundle::read_manifest(&version.dir)?.kind;
    if kind != NATIVE_KIND {
        return Err(Error::Config {
            message: format!(
                "model {}@{} is of kind `{}`, which this version of Nightshift cannot run",
                version.name, version.version, kind
            ),
            hint: Some(format!(
                "train a `{NATIVE_KIND}` model with `nightshift models train`"
            )),
        });
    }
    // The weights are read once and parsed while another core checks their SHA-256 (which
    // also covers the format's own, slower checksum).
    let (bundle, classifier) = registry.open_bundle_decoding(&version, WEIGHTS_FILE, |bytes| {
        TextClassifier::from_bytes_checked_elsewhere(bytes)
    })?;
    let classifier = classifier.map_err(|e| Error::Model {
        message: format!("{}/{WEIGHTS_FILE}: {e}", bundle.dir.display()),
        hint: Some("the bundle is damaged: restore it from a backup or train a new version".into()),
    })?;
    Ok(LoadedModel {
        version,
        manifest: bundle.manifest,
        classifier: Arc::new(classifier),
    })
}

/// Which columns of a table hold what.
#[derive(Debug, Clone)]
pub struct Columns {
    /// Free text.
    pub text: String,
    /// Label (child).
    pub label: String,
    /// Optional parent label.
    pub parent: Option<String>,
    /// Structured inputs, hashed as `(column, value)` features.
    pub extras: Vec<String>,
}

/// Rows extracted from batches, as owned strings.
#[derive(Debug, Default)]
pub struct LabelledRows {
    /// Texts.
    pub texts: Vec<String>,
    /// Labels (empty string when the label is missing).
    pub labels: Vec<String>,
    /// Parents, when a parent column was given.
    pub parents: Option<Vec<String>>,
    /// Extras: `extras[i]` has one value per extra column.
    pub extras: Vec<Vec<String>>,
    /// Rows skipped because their text or label was null or empty.
    pub skipped: u64,
}

/// Extracts text / label / parent / extra columns; rows with a null or blank text or label are
/// counted in `skipped`, not returned. Missing columns are an error listing the columns there are.
pub fn labelled_rows(
    batches: &[RecordBatch],
    columns: &Columns,
    source: &str,
) -> Result<LabelledRows> {
    let mut out = LabelledRows {
        parents: columns.parent.as_ref().map(|_| Vec::new()),
        ..LabelledRows::default()
    };
    for batch in batches {
        let get = |name: &str| -> Result<StringArray> {
            let schema = batch.schema();
            let index = schema.index_of(name).map_err(|_| Error::Config {
                message: format!("{source} has no column `{name}`"),
                hint: Some(columns_hint(&schema)),
            })?;
            let column = batch.column(index);
            // Whole numbers stored as floats (a pandas integer column with a missing value
            // becomes float64) are the labels `3`, not `3.0`, as in the files of the same
            // labels without a gap.
            let whole_floats = name != columns.text
                && !columns.extras.iter().any(|e| e == name)
                && column.data_type().is_floating()
                && cast(column, &DataType::Float64)
                    .ok()
                    .and_then(|f| {
                        f.as_any()
                            .downcast_ref::<nightshift_lake::arrow::array::Float64Array>()
                            .map(|f| {
                                f.iter()
                                    .flatten()
                                    .all(|v| v.fract() == 0.0 && v.abs() < 9.0e15)
                            })
                    })
                    .unwrap_or(false);
            let column = if whole_floats {
                cast(column, &DataType::Int64)?
            } else {
                column.clone()
            };
            let utf8 = cast(&column, &DataType::Utf8)?;
            utf8.as_any()
                .downcast_ref::<StringArray>()
                .cloned()
                .ok_or_else(|| Error::Internal("cast to Utf8 failed".into()))
        };
        let text = get(&columns.text)?;
        let label = get(&columns.label)?;
        let parent = columns.parent.as_deref().map(get).transpose()?;
        let extras = columns
            .extras
            .iter()
            .map(|c| get(c))
            .collect::<Result<Vec<_>>>()?;
        for i in 0..batch.num_rows() {
            let blank = |a: &StringArray| a.is_null(i) || a.value(i).trim().is_empty();
            if blank(&text) || blank(&label) {
                out.skipped += 1;
                continue;
            }
            out.texts.push(text.value(i).to_string());
            out.labels.push(label.value(i).trim().to_string());
            if let (Some(parents), Some(p)) = (out.parents.as_mut(), parent.as_ref()) {
                parents.push(if p.is_null(i) {
                    String::new()
                } else {
                    p.value(i).trim().to_string()
                });
            }
            out.extras.push(
                extras
                    .iter()
                    .map(|e| {
                        if e.is_null(i) {
                            String::new()
                        } else {
                            e.value(i).to_string()
                        }
                    })
                    .collect(),
            );
        }
    }
    Ok(out)
}

/// The columns of a data file or query result, quoted (a name with spaces shows them), and,
/// when a `.csv` file came out as one column holding `;` or a tab, what its delimiter is.
fn columns_hint(schema: &nightshift_lake::arrow::datatypes::Schema) -> String {
    let names: Vec<String> = schema
        .fields()
        .iter()
        .map(|f| format!("`{}`", f.name()))
        .collect();
    let mut hint = format!("its columns are: {}", names.join(", "));
    if let [only] = schema.fields().as_ref() {
        if only.name().contains('\t') {
            hint.push_str("; the header is separated by tabs: name the file .tsv");
        } else if only.name().contains(';') {
            hint.push_str(
                "; the header is separated by `;`: Nightshift reads commas in .csv and tabs in .tsv (pandas: pd.read_csv(path, sep=\";\").to_csv(new_path, index=False))",
            );
        }
    }
    hint
}

/// SHA-256 of the rows' content (text, label, parent, extras), independent of batch layout.
pub fn fingerprint(rows: &LabelledRows) -> String {
    let mut hasher = Sha256::new();
    for i in 0..rows.texts.len() {
        hasher.update(rows.texts[i].as_bytes());
        hasher.update([0x1f]);
        hasher.update(rows.labels[i].as_bytes());
        hasher.update([0x1f]);
        if let Some(p) = &rows.parents {
            hasher.update(p[i].as_bytes());
        }
        for e in &rows.extras[i] {
            hasher.update([0x1f]);
            hasher.update(e.as_bytes());
        }
        hasher.update([0x1e]);
    }
    hasher
        .finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The result of [`train_model`].
#[derive(Debug, Clone, serde::Serialize)]
pub struct Trained {
    /// The registered version.
    pub version: ModelVersion,
    /// What training did.
    pub report: TrainReport,
    /// Rows skipped for a blank text or label.
    pub skipped_rows: u64,
    /// The alias pointed at it, when one was asked for.
    pub alias: Option<AliasMove>,
}

/// Trains a classifier on `rows` and registers it as the next version of `name`, pointing
/// `alias` at it in the same registry transaction when given, both stamped with `now()` once
/// trained (the version's `created_at` and the alias move are when they happened, not when
/// training began).
#[allow(clippy::too_many_arguments)]
pub fn train_model(
    registry: &Registry,
    name: &str,
    rows: &LabelledRows,
    columns: &Columns,
    source: &str,
    config: &TrainConfig,
    now: &dyn Fn() -> DateTime<Utc>,
    alias: Option<AliasRequest<'_>>,
) -> Result<Trained> {
    if rows.texts.is_empty() {
        return Err(Error::Model {
            message: format!(
                "no training rows in {source}{}",
                if rows.skipped > 0 {
                    format!(" ({} rows had a blank text or label)", rows.skipped)
                } else {
                    String::new()
                }
            ),
            hint: Some(format!(
                "check the data and the column names (--text-column {}, --label-column {})",
                columns.text, columns.label
            )),
        });
    }
    let extra_pairs: Vec<Vec<(&str, &str)>> = rows
        .extras
        .iter()
        .map(|values| {
            columns
                .extras
                .iter()
                .map(String::as_str)
                .zip(values.iter().map(String::as_str))
                .collect()
        })
        .collect();
    let examples: Vec<Example<'_>> = (0..rows.texts.len())
        .map(|i| Example {
            text: &rows.texts[i],
            label: &rows.labels[i],
            parent: rows
                .parents
                .as_ref()
                .map(|p| p[i].as_str())
                .filter(|p| !p.is_empty()),
            extras: &extra_pairs[i],
        })
        .collect();
    let (classifier, report) =
        nightshift_models::train(config, &examples).map_err(|e| Error::Model {
            message: format!("training on {source} failed: {e}"),
            hint: Some(
                "a model needs at least two distinct labels and some non-empty texts".into(),
            ),
        })?;
    let weights = classifier.to_bytes();
    let new = NewModel {
        name: name.to_string(),
        kind: NATIVE_KIND.to_string(),
        labels: classifier.labels().to_vec(),
        parents: classifier.parents().map(|p| {
            (0..classifier.labels().len() as u32)
                .map(|c| {
                    classifier
                        .parent_of(c)
                        .and_then(|i| p.get(i as usize))
                        .cloned()
                        .unwrap_or_default()
                })
                .collect()
        }),
        hyperparameters: classifier.hyperparameters(),
        training_data: TrainingData {
            source: source.to_string(),
            rows: rows.texts.len() as u64,
            fingerprint: fingerprint(rows),
        },
        metrics: serde_json::json!({ "training": report }),
        input_schema: InputSchema {
            text_column: columns.text.clone(),
            parent_column: columns.parent.clone(),
            label_column: columns.label.clone(),
            extra_columns: columns.extras.clone(),
        },
        code_version: env!("CARGO_PKG_VERSION").to_string(),
    };
    let (version, alias) =
        registry.register_with_alias(new, &[(WEIGHTS_FILE, &weights)], now(), alias)?;
    Ok(Trained {
        version,
        report,
        skipped_rows: rows.skipped,
        alias,
    })
}

/// Quality of a model on labelled rows.
#[derive(Debug, Clone, serde::Serialize)]
pub struct EvalReport {
    /// Model name.
    pub model: String,
    /// Model version.
    pub version: u32,
    /// Rows evaluated (known labels only).
    pub rows: u64,
    /// Rows whose label the model does not know (counted, not scored).
    pub unknown_labels: u64,
    /// Rows skipped for a blank text or label.
    pub skipped_rows: u64,
    /// Share of rows whose label is predicted exactly.
    pub accuracy: f64,
    /// Unweighted mean of per-label F1.
    pub macro_f1: f64,
    /// Share of rows whose parent is predicted exactly (when parents are given and known).
    pub parent_accuracy: Option<f64>,
    /// Rows, among those scored, whose parent label the model does not know (counted, left
    /// out of `parent_accuracy`); `None` when no parent column was given.
    pub unknown_parent_labels: Option<u64>,
    /// Expected calibration error (15 bins) of the confidence.
    pub ece: f64,
    /// Mean confidence.
    pub mean_confidence: f64,
    /// Prediction throughput on these rows.
    pub rows_per_second: f64,
}

/// Scores `model` on `rows`. Labels the model does not know are counted in `unknown_labels`.
pub fn evaluate(model: &LoadedModel, rows: &LabelledRows) -> Result<EvalReport> {
    let classifier = &model.classifier;
    let index_of = |names: &[String], s: &str| names.iter().position(|n| n == s).map(|i| i as u32);
    let extra_names = model.extra_columns();
    let extra_pairs: Vec<Vec<(&str, &str)>> = rows
        .extras
        .iter()
        .map(|values| {
            extra_names
                .iter()
                .map(String::as_str)
                .zip(values.iter().map(String::as_str))
                .collect()
        })
        .collect();
    let inputs: Vec<Input<'_>> = (0..rows.texts.len())
        .map(|i| Input {
            text: &rows.texts[i],
            extras: &extra_pairs[i],
        })
        .collect();
    let started = Instant::now();
    let predictions = classifier.predict_columns(&inputs, 0);
    let seconds = started.elapsed().as_secs_f64();

    let (mut y_true, mut y_pred, mut confidence, mut correct) = (vec![], vec![], vec![], vec![]);
    let (mut parent_total, mut parent_hits, mut parent_unknown) = (0u64, 0u64, 0u64);
    let mut unknown = 0u64;
    for i in 0..inputs.len() {
        let Some(truth) = index_of(classifier.labels(), &rows.labels[i]) else {
            unknown += 1;
            continue;
        };
        let label = predictions.label[i];
        y_true.push(truth);
        y_pred.push(label);
        confidence.push(predictions.confidence[i]);
        correct.push(truth == label);
        if let (Some(parents), Some(names), Some(pred)) =
            (&rows.parents, classifier.parents(), predictions.parent[i])
        {
            match index_of(names, &parents[i]) {
                Some(truth_parent) => {
                    parent_total += 1;
                    parent_hits += u64::from(truth_parent == pred);
                }
                None => parent_unknown += 1,
            }
        }
    }
    let n = y_true.len();
    Ok(EvalReport {
        model: model.name().to_string(),
        version: model.version.version,
        rows: n as u64,
        unknown_labels: unknown,
        skipped_rows: rows.skipped,
        accuracy: if n == 0 {
            0.0
        } else {
            nightshift_models::accuracy(&y_true, &y_pred)
        },
        macro_f1: if n == 0 {
            0.0
        } else {
            nightshift_models::macro_f1(&y_true, &y_pred)
        },
        parent_accuracy: (parent_total > 0).then(|| parent_hits as f64 / parent_total as f64),
        unknown_parent_labels: (rows.parents.is_some() && classifier.parents().is_some())
            .then_some(parent_unknown),
        ece: if n == 0 {
            0.0
        } else {
            nightshift_models::expected_calibration_error(&confidence, &correct, 15)
        },
        mean_confidence: if n == 0 {
            0.0
        } else {
            confidence.iter().map(|c| f64::from(*c)).sum::<f64>() / n as f64
        },
        rows_per_second: if seconds > 0.0 {
            inputs.len() as f64 / seconds
        } else {
            0.0
        },
    })
}

/// Reads a registry-relative path for display.
pub fn display_path(root: &Path, path: &Path) -> String {
    path.strip_prefix(root)
        .unwrap_or(path)
        .display()
        .to_string()
}
