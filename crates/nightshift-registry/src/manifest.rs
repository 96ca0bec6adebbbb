//! `manifest.json`: what a bundle is, where it came from, and the checksum of every file in it.

use std::collections::BTreeMap;
use std::path::Path;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::model_ref::validate_model_name;

/// The manifest format this build writes and reads.
pub const FORMAT_VERSION: u32 = 1;

/// The manifest's file name inside a bundle directory.
pub const MANIFEST_FILE: &str = "manifest.json";

/// Longest bundle file name accepted.
const MAX_FILE_NAME_LEN: usize = 128;

/// The contents of a bundle's `manifest.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    /// Manifest format, [`FORMAT_VERSION`].
    pub format_version: u32,
    /// The model's name.
    pub name: String,
    /// The version, assigned by the registry (1, 2, ...).
    pub version: u32,
    /// When the version was registered.
    pub created_at: DateTime<Utc>,
    /// What reads the weights, e.g. `nightshift-text-linear` or `onnx`; opaque to the registry.
    pub kind: String,
    /// The labels the model predicts, in output order.
    pub labels: Vec<String>,
    /// Parent label of each label, for hierarchical models.
    pub parents: Option<Vec<String>>,
    /// Training settings, as the trainer reports them.
    pub hyperparameters: serde_json::Value,
    /// The data the model was trained on.
    pub training_data: TrainingData,
    /// Training report and evaluation metrics at training time.
    pub metrics: serde_json::Value,
    /// The columns the model reads.
    pub input_schema: InputSchema,
    /// The Nightshift version that trained it.
    pub code_version: String,
    /// Every other file in the bundle: name -> size and checksum.
    pub files: BTreeMap<String, FileEntry>,
}

/// Where the training data came from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TrainingData {
    /// A file path or the SQL that selected the rows.
    pub source: String,
    /// Number of training rows.
    pub rows: u64,
    /// Hex hash of the training data, computed by the caller.
    pub fingerprint: String,
}

/// The columns a model reads from its input.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InputSchema {
    /// The free-text column.
    pub text_column: String,
    /// The column holding the parent label, for hierarchical models.
    pub parent_column: Option<String>,
    /// The label column (training only).
    pub label_column: String,
    /// Any other columns the model reads.
    pub extra_columns: Vec<String>,
}

/// Size and checksum of one bundle file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileEntry {
    /// Size in bytes.
    pub bytes: u64,
    /// SHA-256 of the contents, lowercase hex.
    pub sha256: String,
}

impl Manifest {
    /// Checks what [`crate::Bundle::open`] relies on: the format version, the name, a
    /// positive version and plain file names (so a tampered manifest cannot point outside
    /// its directory). `path` is the manifest's path, for errors.
    pub fn validate(&self, path: &Path) -> Result<()> {
        if self.format_version != FORMAT_VERSION {
            return Err(Error::UnsupportedManifest {
                path: path.to_path_buf(),
                found: self.format_version,
                supported: FORMAT_VERSION,
            });
        }
        let invalid = |reason: String| Error::ManifestInvalid {
            path: path.to_path_buf(),
            reason,
        };
        validate_model_name(&self.name).map_err(|e| invalid(e.to_string()))?;
        if self.version == 0 {
            return Err(invalid("version is 0; versions start at 1".into()));
        }
        for (name, entry) in &self.files {
            validate_file_name(name).map_err(|e| invalid(e.to_string()))?;
            if entry.sha256.len() != 64 || !entry.sha256.bytes().all(|b| b.is_ascii_hexdigit()) {
                return Err(invalid(format!(
                    "file `{name}` has sha256 `{}`; expected 64 hex digits",
                    entry.sha256
                )));
            }
        }
        Ok(())
    }
}

/// Checks a bundle file name: 1 to 128 characters of `A-Z a-z 0-9 . _ -`, not starting
/// with `.`, and not `manifest.json`.
pub fn validate_file_name(name: &str) -> Result<()> {
    let invalid = |reason: &str| Error::InvalidFileName {
        name: name.to_string(),
        reason: reason.to_string(),
    };
    if name.is_empty() {
        return Err(invalid("it is empty"));
    }
    if name.len() > MAX_FILE_NAME_LEN {
        return Err(invalid("it is longer than 128 characters"));
    }
    if name.starts_with('.') {
        return Err(invalid("it starts with `.`"));
    }
    if !name
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
    {
        return Err(invalid(
            "only letters, digits, `.`, `_` and `-` are allowed (no directories)",
        ));
    }
    if name == MANIFEST_FILE {
        return Err(invalid("the registry writes manifest.json itself"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_names() {
        assert!(validate_file_name("weights.bin").is_ok());
        assert!(validate_file_name("model-v2.onnx").is_ok());
        for bad in ["", ".hidden", "../x", "a/b", "a\\b", "manifest.json", "é"] {
            assert!(validate_file_name(bad).is_err(), "{bad:?} accepted");
        }
    }
}
