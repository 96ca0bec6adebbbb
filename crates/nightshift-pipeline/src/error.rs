use nightshift_lake::datafusion::arrow::error::ArrowError;

/// Result of pipeline tasks.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Why a task failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The project file does not define what the run needs.
    #[error("{message}")]
    Config {
        /// What is wrong.
        message: String,
        /// What to do.
        hint: Option<String>,
    },
    /// The quality gate refused the window: nothing was written.
    #[error("check failed for {pipeline} on ds {ds}: {reason}")]
    CheckFailed {
        /// The pipeline.
        pipeline: String,
        /// The window's slice key.
        ds: String,
        /// Why, in words.
        reason: String,
        /// What to do.
        hint: Option<String>,
    },
    /// A data-quality gate stopped the run before its output was published.
    #[error("quality gate `{gate}` of {pipeline}: {message}")]
    QualityGate {
        /// The pipeline.
        pipeline: String,
        /// Which gate.
        gate: String,
        /// What it saw.
        message: String,
        /// What to do.
        hint: Option<String>,
    },
    /// The features query ran but its result cannot be used.
    #[error("features query of {pipeline} (file {file}): {message}")]
    FeaturesShape {
        /// The pipeline.
        pipeline: String,
        /// The SQL file.
        file: String,
        /// What is wrong.
        message: String,
        /// What to do.
        hint: Option<String>,
    },
    /// The features query failed to plan or to run.
    #[error("features query of {pipeline} (file {file}): {source}")]
    FeaturesSql {
        /// The pipeline.
        pipeline: String,
        /// The SQL file.
        file: String,
        /// The warehouse's error.
        #[source]
        source: Box<nightshift_lake::Error>,
    },
    /// A model could not be trained, loaded or run.
    #[error("{message}")]
    Model {
        /// What is wrong.
        message: String,
        /// What to do.
        hint: Option<String>,
    },
    /// The model registry failed (unknown model or alias, damaged bundle, database).
    #[error(transparent)]
    Registry(#[from] nightshift_registry::Error),
    /// The run store failed.
    #[error(transparent)]
    Runs(#[from] nightshift_runs::Error),
    /// Rendering the SQL template failed.
    #[error(transparent)]
    Template(#[from] nightshift_core::Error),
    /// The warehouse failed (SQL, Delta, I/O).
    #[error(transparent)]
    Lake(#[from] nightshift_lake::Error),
    /// Arrow failed on a batch.
    #[error("Arrow: {0}")]
    Arrow(#[from] ArrowError),
    /// A bug in Nightshift.
    #[error("internal error (a bug in Nightshift, please report it): {0}")]
    Internal(String),
}

impl Error {
    /// A next step for the user, printed as a `hint:` line.
    pub fn hint(&self) -> Option<String> {
        match self {
            Error::Config { hint, .. }
            | Error::CheckFailed { hint, .. }
            | Error::FeaturesShape { hint, .. }
            | Error::Model { hint, .. }
            | Error::QualityGate { hint, .. } => hint.clone(),
            Error::Registry(e) => e.hint(),
            Error::Runs(e) => e.hint(),
            Error::Lake(e) => e.hint(),
            Error::FeaturesSql { source, .. } => source.hint(),
            Error::Internal(_) => Some("please report this with the command you ran".into()),
            _ => None,
        }
    }
}
