//! The crate's single error type.

/// Everything that can go wrong while training, loading or configuring a classifier.
///
/// Prediction never fails: a model that loaded or trained successfully can score any text.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// `train` was given no examples.
    #[error("training data is empty")]
    EmptyTrainingData,
    /// Every example has the same label; a classifier needs at least two classes.
    #[error("training data has a single class ({0:?}); at least two classes are needed")]
    SingleClass(String),
    /// An example's label is the empty string.
    #[error("training example {index} has an empty label")]
    EmptyLabel {
        /// Position of the offending example.
        index: usize,
    },
    /// No example produced a single feature (all texts empty or without tokens, and no extras).
    #[error("no training example produced any feature: texts are empty or contain no words")]
    NoFeatures,
    /// A `TrainConfig` field is out of range.
    #[error("invalid training configuration: {0}")]
    InvalidConfig(String),
    /// The rayon thread pool for training could not be built.
    #[error("could not build the training thread pool: {0}")]
    ThreadPool(String),
    /// Model bytes end before the format says they should.
    #[error("model bytes are truncated: {needed} more byte(s) needed at offset {offset}")]
    Truncated {
        /// Offset at which the read was attempted.
        offset: usize,
        /// Bytes missing.
        needed: usize,
    },
    /// The bytes do not start with the model magic `NSTXTCLF`.
    #[error("not a nightshift text classifier: bad magic header")]
    BadMagic,
    /// The format version is not one this build can read.
    #[error("unsupported model format version {found} (this build reads version {supported})")]
    UnsupportedVersion {
        /// Version found in the header.
        found: u32,
        /// Version this build reads.
        supported: u32,
    },
    /// The trailing checksum does not match the content: the bytes were altered.
    #[error("model checksum mismatch: the bytes are corrupt")]
    ChecksumMismatch,
    /// The bytes are structurally invalid (inconsistent sizes, bad UTF-8, out-of-range indices...).
    #[error("corrupt model: {0}")]
    Corrupt(String),
}

/// Result alias for this crate.
pub type Result<T> = std::result::Result<T, Error>;
