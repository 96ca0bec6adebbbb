//! The crate's error type.

/// Everything that can go wrong while generating a day.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A configuration value is out of range.
    #[error("invalid synth config: {0}")]
    InvalidConfig(String),
    /// The drift names a subcategory that is not in the taxonomy.
    #[error("unknown subcategory {0:?} (expected \"name\" or \"category/name\" from the taxonomy)")]
    UnknownSubcategory(String),
    /// The date cannot be represented as timestamps.
    #[error("date {0} is out of the supported range")]
    DateOutOfRange(chrono::NaiveDate),
    /// Building an Arrow record batch failed.
    #[error("arrow: {0}")]
    Arrow(#[from] arrow_schema::ArrowError),
}
