//! Nightshift's model registry: immutable, checksummed model bundles on disk and a SQLite
//! index of their versions, aliases and alias history. Model weights are opaque bytes here;
//! what reads them (`kind` in the manifest) is another crate's business.
//!
//! # What this crate owns
//!
//! | Module | Concept | Main items |
//! |---|---|---|
//! | [`model_ref`] | `root_cause`, `root_cause@3`, `root_cause@production` | [`ModelRef`], [`Selector`] |
//! | [`manifest`] | `manifest.json`: provenance, schema, file checksums | [`Manifest`], [`TrainingData`], [`InputSchema`], [`FileEntry`] |
//! | [`bundle`] | one immutable, verified directory per version | [`Bundle`] |
//! | [`registry`] | the index: register, resolve, list, aliases, metrics | [`Registry`], [`NewModel`], [`ModelVersion`], [`ModelSummary`], [`AliasMove`], [`Recovery`] |
//! | [`schema`] | the index's SQLite schema and migrations | [`schema::SCHEMA_VERSION`] |
//! | [`staging`] | crash-safe writing of bundles | [`staging::STAGING_DIR`] |
//! | [`error`] | the crate's error type, with hints | [`Error`] |
//!
//! # On disk
//!
//! ```text
//! <project>/.nightshift/registry.db      SQLite index (WAL): model_versions, aliases, alias_history, metric_updates
//! <project>/models/<name>/<version>/     one bundle per version, never modified once written
//!     manifest.json                      written last; lists every other file's size and SHA-256
//!     weights.bin, ...                   files handed to `register`
//! <project>/models/.staging/             registrations in progress (leftovers removed on open)
//! ```
//!
//! # Data flow
//!
//! ```text
//! trainer ──NewModel + files──▶ Registry::register ──▶ models/<name>/<n>/ + row (n = highest + 1)
//! pipeline start: "root_cause@production" ──parse──▶ ModelRef ──Registry::resolve──▶ ModelVersion (recorded with the run)
//!                 ModelVersion ──Registry::open_bundle──▶ Bundle (verified) ──read_file("weights.bin")──▶ bytes
//!                 or ModelVersion ──Registry::open_bundle_decoding("weights.bin", decode)──▶ (Bundle, decoded),
//!                    the file read once and hashed on another thread while `decode` runs
//! CLI: models alias ──set_alias──▶ aliases + alias_history;  eval ──update_metrics──▶ metrics in the index
//! ```

pub mod bundle;
pub mod error;
pub mod manifest;
pub mod model_ref;
pub mod registry;
pub mod schema;
pub mod staging;

pub use bundle::{Bundle, sha256_hex};
pub use error::{Error, Result};
pub use manifest::{FORMAT_VERSION, FileEntry, InputSchema, MANIFEST_FILE, Manifest, TrainingData};
pub use model_ref::{ModelRef, Selector, validate_alias, validate_model_name};
pub use registry::{
    AliasMove, AliasRequest, ModelSummary, ModelVersion, NewModel, Recovery, Registry,
};
