//! The crate's single error type.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::PathBuf;

/// Result of registry operations.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong in the model registry.
///
/// Every variant carries what the user needs to see the problem; [`Error::hint`]
/// adds the next step to take.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A model reference such as `root_cause@production` could not be parsed.
    #[error(
        "invalid model reference `{input}`: {reason}; write `NAME`, `NAME@VERSION` or `NAME@ALIAS` (e.g. `root_cause`, `root_cause@3`, `root_cause@production`)"
    )]
    InvalidModelRef {
        /// The text as written.
        input: String,
        /// What is wrong with it.
        reason: String,
    },

    /// A model name or alias name does not follow `[a-z_][a-z0-9_-]*`.
    #[error(
        "invalid {what} `{input}`: {reason}; use lowercase letters, digits, `_` and `-`, starting with a letter or `_` (at most 64 characters)"
    )]
    InvalidName {
        /// `model name` or `alias`.
        what: &'static str,
        /// The text as written.
        input: String,
        /// What is wrong with it.
        reason: String,
    },

    /// An alias name that would be ambiguous in a model reference.
    #[error(
        "alias `{alias}` is reserved: `latest` always means the highest version and numbers mean versions"
    )]
    ReservedAlias {
        /// The alias as written.
        alias: String,
    },

    /// A bundle file name that is empty, hidden, a path, or `manifest.json`.
    #[error("invalid bundle file name `{name}`: {reason}")]
    InvalidFileName {
        /// The file name as given.
        name: String,
        /// What is wrong with it.
        reason: String,
    },

    /// A metrics key that is empty.
    #[error("invalid metrics key `{key}`: {reason}")]
    InvalidMetricsKey {
        /// The key as given.
        key: String,
        /// What is wrong with it.
        reason: String,
    },

    /// The registry has no model of that name.
    #[error("no model named `{name}` in the registry")]
    UnknownModel {
        /// The name asked for.
        name: String,
        /// Models that do exist.
        available: Vec<String>,
    },

    /// The model exists but not with that version.
    #[error("model `{name}` has no version {version}")]
    UnknownVersion {
        /// The model.
        name: String,
        /// The version asked for.
        version: u32,
        /// Versions that do exist, ascending.
        available: Vec<u32>,
    },

    /// The model exists but has no alias of that name.
    #[error("model `{name}` has no alias `{alias}`")]
    UnknownAlias {
        /// The model.
        name: String,
        /// The alias asked for.
        alias: String,
        /// The model's aliases and the versions they point at.
        available: BTreeMap<String, u32>,
    },

    /// The bundle directory does not exist.
    #[error("model bundle {dir} does not exist")]
    BundleMissing {
        /// Where the bundle should be.
        dir: PathBuf,
    },

    /// The bundle directory has no `manifest.json`.
    #[error("model bundle {dir} has no manifest.json (the bundle is incomplete or was damaged)")]
    ManifestMissing {
        /// The bundle directory.
        dir: PathBuf,
    },

    /// `manifest.json` is not valid JSON or does not describe a bundle.
    #[error("model bundle manifest {path} is invalid: {reason}")]
    ManifestInvalid {
        /// Path of `manifest.json`.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },

    /// `manifest.json` was written by a newer Nightshift.
    #[error(
        "model bundle manifest {path} has format version {found}; this Nightshift reads format version {supported}"
    )]
    UnsupportedManifest {
        /// Path of `manifest.json`.
        path: PathBuf,
        /// The `format_version` in the file.
        found: u32,
        /// The version this build reads.
        supported: u32,
    },

    /// `manifest.json` is not the one the registry recorded for this version.
    #[error(
        "model bundle {dir} does not match the registry: {field} is {actual} in manifest.json but the registry recorded {expected}"
    )]
    ManifestMismatch {
        /// The bundle directory.
        dir: PathBuf,
        /// What differs (`name`, `version`, `manifest sha256`).
        field: &'static str,
        /// What the registry recorded.
        expected: String,
        /// What the bundle holds.
        actual: String,
    },

    /// A file listed in the manifest is not in the bundle.
    #[error("model bundle {dir} is missing `{file}` (expected {expected_bytes} bytes)")]
    FileMissing {
        /// The bundle directory.
        dir: PathBuf,
        /// The file name.
        file: String,
        /// Its size per the manifest.
        expected_bytes: u64,
    },

    /// A bundle file has a different size than the manifest says.
    #[error(
        "model bundle file {dir}/{file} has {actual} bytes, expected {expected} (truncated or replaced)"
    )]
    FileSizeMismatch {
        /// The bundle directory.
        dir: PathBuf,
        /// The file name.
        file: String,
        /// Size per the manifest.
        expected: u64,
        /// Size on disk.
        actual: u64,
    },

    /// A bundle file's SHA-256 differs from the manifest's.
    #[error("model bundle file {dir}/{file} is altered: sha256 {actual}, expected {expected}")]
    ChecksumMismatch {
        /// The bundle directory.
        dir: PathBuf,
        /// The file name.
        file: String,
        /// SHA-256 per the manifest (hex).
        expected: String,
        /// SHA-256 of the bytes on disk (hex).
        actual: String,
    },

    /// [`crate::Bundle::read_file`] was asked for a file the manifest does not list.
    #[error("model bundle {dir} has no file `{file}`")]
    FileNotInBundle {
        /// The bundle directory.
        dir: PathBuf,
        /// The file asked for.
        file: String,
        /// Files the manifest lists.
        available: Vec<String>,
    },

    /// A registration listed the same file name twice.
    #[error("file `{name}` is given twice for one model version")]
    DuplicateFile {
        /// The repeated file name.
        name: String,
    },

    /// The registry database was written by a newer Nightshift.
    #[error(
        "model registry {path} has schema version {found}; this Nightshift understands up to {supported}"
    )]
    NewerSchema {
        /// The database file.
        path: PathBuf,
        /// `PRAGMA user_version` of the file.
        found: u32,
        /// The newest schema this build knows.
        supported: u32,
    },

    /// The registry database holds a value this build cannot read.
    #[error("model registry {path} holds an invalid {what}: {reason}")]
    Corrupt {
        /// The database file.
        path: PathBuf,
        /// What was being read.
        what: &'static str,
        /// Why it could not be read.
        reason: String,
    },

    /// SQLite failed.
    #[error("model registry {path}: {action} failed: {source}")]
    Sqlite {
        /// The database file.
        path: PathBuf,
        /// What the registry was doing.
        action: &'static str,
        /// SQLite's own error.
        #[source]
        source: rusqlite::Error,
    },

    /// A file system operation failed.
    #[error("cannot {action} {path}: {source}")]
    Io {
        /// What was being done, e.g. `write`.
        action: &'static str,
        /// The path involved.
        path: PathBuf,
        /// The operating system's error.
        #[source]
        source: std::io::Error,
    },

    /// Serialising a manifest or metrics value failed (should not happen).
    #[error("cannot serialise {what}: {source}")]
    Serialize {
        /// What was being serialised.
        what: &'static str,
        /// serde_json's error.
        #[source]
        source: serde_json::Error,
    },
}

impl Error {
    /// The next step for the user, if there is a useful one.
    pub fn hint(&self) -> Option<String> {
        match self {
            Error::InvalidName { what, .. } if what.contains("alias") => Some(
                "aliases look like `production`, `staging` or `canary-2`; `nightshift models show NAME` lists a model's aliases".into(),
            ),
            Error::InvalidModelRef { .. } | Error::InvalidName { .. } => Some(
                "names look like `root_cause` or `churn-v2`; `nightshift models list` shows the registered models".into(),
            ),
            Error::ReservedAlias { .. } => {
                Some("pick another alias name, e.g. `production`, `staging` or `candidate`".into())
            }
            Error::InvalidFileName { .. } | Error::DuplicateFile { .. } => Some(
                "bundle files are plain names such as `weights.bin` or `model.onnx`; `manifest.json` is written by the registry".into(),
            ),
            Error::InvalidMetricsKey { .. } => {
                Some("use a non-empty key such as `eval_accuracy`".into())
            }
            Error::UnknownModel { available, .. } => Some(if available.is_empty() {
                "the registry is empty; train a model with `nightshift models train NAME ...`"
                    .into()
            } else {
                format!(
                    "registered models: {}; train a new one with `nightshift models train NAME ...`",
                    available.join(", ")
                )
            }),
            Error::UnknownVersion {
                name, available, ..
            } => Some(format!(
                "versions of `{name}`: {}; `nightshift models show {name}` lists them",
                version_ranges(available)
            )),
            Error::UnknownAlias {
                name, available, ..
            } => Some(if available.is_empty() {
                format!(
                    "`{name}` has no aliases yet; set one with `nightshift models alias {name} ALIAS VERSION`, or write `{name}` for the latest version"
                )
            } else {
                let list: Vec<String> = available
                    .iter()
                    .map(|(alias, version)| format!("{alias} -> {version}"))
                    .collect();
                format!(
                    "aliases of `{name}`: {}; set one with `nightshift models alias {name} ALIAS VERSION`",
                    list.join(", ")
                )
            }),
            Error::BundleMissing { .. }
            | Error::ManifestMissing { .. }
            | Error::ManifestInvalid { .. }
            | Error::ManifestMismatch { .. }
            | Error::FileMissing { .. }
            | Error::FileSizeMismatch { .. }
            | Error::ChecksumMismatch { .. } => Some(
                "bundles are immutable: restore the directory from a backup or version control, or train a new version with `nightshift models train`".into(),
            ),
            Error::UnsupportedManifest { .. } | Error::NewerSchema { .. } => {
                Some("upgrade nightshift to the version that wrote it".into())
            }
            Error::FileNotInBundle { available, .. } => {
                Some(format!("the bundle holds: {}", available.join(", ")))
            }
            Error::Sqlite { source, .. } if is_busy(source) => Some(
                "another nightshift process is writing to the registry; retry when it has finished".into(),
            ),
            Error::Sqlite { path, source, .. } if is_read_only(source) => {
                Some(read_only_hint(path))
            }
            Error::Sqlite { path, source, .. }
                if matches!(
                    source.sqlite_error_code(),
                    Some(rusqlite::ErrorCode::NotADatabase | rusqlite::ErrorCode::DatabaseCorrupt)
                ) =>
            {
                Some(format!(
                    "{} is not an SQLite database (damaged or overwritten): restore it from a backup, or move it aside: it is recreated, and the bundles under models/ are indexed again (without their aliases and alias history)",
                    path.display()
                ))
            }
            Error::Corrupt { .. } => Some(
                "the registry database was changed outside nightshift; restore .nightshift/registry.db from a backup (bundles under models/ are re-indexed when the database is recreated)".into(),
            ),
            Error::Io { source, .. } if source.kind() == std::io::ErrorKind::PermissionDenied => {
                Some("check the permissions of the project's models/ and .nightshift/ directories".into())
            }
            Error::Serialize { .. } => Some("please report this with the command you ran".into()),
            Error::Sqlite { .. } | Error::Io { .. } => None,
        }
    }
}

fn is_busy(e: &rusqlite::Error) -> bool {
    matches!(
        e.sqlite_error_code(),
        Some(rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked)
    )
}

/// `1-3, 5, 7-8` for `[1, 2, 3, 5, 7, 8]`.
fn version_ranges(versions: &[u32]) -> String {
    if versions.is_empty() {
        return "none".into();
    }
    let mut out = String::new();
    let mut i = 0;
    while i < versions.len() {
        let start = versions[i];
        let mut end = start;
        while i + 1 < versions.len() && versions[i + 1] == end.saturating_add(1) {
            i += 1;
            end = versions[i];
        }
        if !out.is_empty() {
            out.push_str(", ");
        }
        if start == end {
            let _ = write!(out, "{start}");
        } else {
            let _ = write!(out, "{start}-{end}");
        }
        i += 1;
    }
    out
}

/// SQLite could not write the database or create its journal files beside it.
fn is_read_only(e: &rusqlite::Error) -> bool {
    matches!(
        e.sqlite_error_code(),
        Some(
            rusqlite::ErrorCode::ReadOnly
                | rusqlite::ErrorCode::CannotOpen
                | rusqlite::ErrorCode::PermissionDenied
        )
    )
}

/// The hint for a database this process cannot write: SQLite needs to, even to read, since
/// it keeps its write-ahead log (`-wal`, `-shm` files) beside the database.
fn read_only_hint(path: &std::path::Path) -> String {
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(std::path::Path::new("."));
    format!(
        "Nightshift needs write access to {} and to its directory {} (SQLite keeps its -wal and -shm files there, even to read): check their owner and permissions (`ls -ld {}`)",
        path.display(),
        dir.display(),
        dir.display()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_ranges_compacts_runs() {
        assert_eq!(version_ranges(&[1, 2, 3, 5, 7, 8]), "1-3, 5, 7-8");
        assert_eq!(version_ranges(&[4]), "4");
        assert_eq!(version_ranges(&[]), "none");
    }

    #[test]
    fn a_database_that_cannot_be_written_names_its_directory() {
        let source = rusqlite::Error::SqliteFailure(
            rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_READONLY_DIRECTORY),
            None,
        );
        let e = Error::Sqlite {
            path: "/p/.nightshift/registry.db".into(),
            action: "enable WAL",
            source,
        };
        let hint = e.hint().expect("hint");
        assert!(hint.contains("ls -ld /p/.nightshift"), "{hint}");
    }
}
