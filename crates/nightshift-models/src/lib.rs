//! Nightshift's native text classifier: the model that attributes each support contact to a
//! root cause. Plain Rust slices in, predictions out — no DataFusion, Delta or Arrow here.
//!
//! # What this crate owns
//!
//! | Module | Concept | Main items |
//! |---|---|---|
//! | [`features`] | tokenisation, hashed word/char n-grams and extras, TF-IDF weighting (the hashing spec) | [`FeatureConfig`], [`CharWeighting`], [`fnv1a`] |
//! | [`classifier`] | the trained model and batch prediction | [`TextClassifier`], [`Input`], [`Prediction`], [`Predictions`] |
//! | [`mod@train`] | training: vocabulary, holdout split, AdaGrad softmax regression, early stopping, refit, calibration | [`train()`], [`TrainConfig`], [`Example`], [`TrainReport`] |
//! | `memory` (private) | weight matrices allocated on transparent huge pages (fewer TLB misses); cache prefetch hints | |
//! | `token_index` (private) | the per-thread token -> token-cache entry index (short tokens stored in the slot, prefetchable) | |
//! | `mlp` (private) | the hidden layer's trainer (back-propagation, dropout, AdaGrad; 128 units by default, 0 = none) | `TrainConfig::hidden` |
//! | [`hierarchy`] | child → parent map and consistent parent predictions | [`HierarchyReport`] |
//! | [`calibration`] | softmax temperature fitting | [`fit_temperature`] |
//! | [`metrics`] | accuracy, macro-F1, per-class P/R/F1, ECE over label-index slices | [`accuracy`], [`macro_f1`], [`per_class`], [`expected_calibration_error`] |
//! | [`mod@format`] | the versioned little-endian binary model format | [`TextClassifier::to_bytes`], [`TextClassifier::from_bytes`] |
//! | [`error`] | the crate's error type | [`Error`] |
//!
//! # Data flow
//!
//! ```text
//! &[Example { text, label, parent, extras }] ──train(&TrainConfig)──▶ (TextClassifier, TrainReport)
//!     text ─tokenise─▶ word 1..2-grams + char 2..4-grams of <token> + (field, value) extras
//!          ─FNV-1a + fmix64─▶ buckets in 2^hash_bits ─vocabulary (seen in training)─▶ rows
//!          ─(1 + ln tf) · idf, L2 per group─▶ sparse vector x
//!          (char group per distinct token: TF-IDF within the token, scaled by
//!          1 + ln repeats, summed; see features::CharWeighting)
//!     softmax(W·x + b) trained by mini-batch AdaGrad (+L2), early-stopped on a stratified
//!     holdout, refitted on all rows; temperature T fitted on the holdout logits; W rounded
//!     to bfloat16 (half the memory traffic at prediction, same accuracy).
//!     With `hidden = H > 0` (default 128), also a ReLU network V·relu(U·x + c) + d on the same x
//!     (dropout, AdaGrad, fixed epochs; with parents, an auxiliary parent head during
//!     training); the model's logits become ½·(linear + network), and T is fitted on those.
//!
//! &[Input { text, extras }] ──TextClassifier::predict_columns(top_k)──▶ Predictions (columns)
//!                           ──TextClassifier::predict_batch(top_k)───▶ Vec<Prediction>
//!     label = argmax softmax((W·x + b) / T); parent = parent_of(label) with the summed
//!     probability of its children. Per thread, each distinct token's character group and
//!     its class scores W·x_token (and hidden pre-activations U·x_token) are computed once
//!     and cached, so a text costs its word n-grams plus one (C + H)-vector per token; weight
//!     rows are prefetched ahead and sit on transparent huge pages (`memory`); the kernels
//!     chain fused multiply-adds (AVX2+FMA when present, otherwise an exact emulation in
//!     `f64` on x86-64 and `f32::mul_add` elsewhere: the same bits on every CPU).
//!
//! TextClassifier ──to_bytes──▶ Vec<u8> ──from_bytes──▶ TextClassifier (identical predictions)
//! ```
//!
//! Everything is deterministic for a given seed, independent of the number of threads and of
//! the CPU: the training kernels (`avx2_or_baseline!`) take AVX2 lanes when the CPU has them,
//! with separate multiplies and adds and exact square roots and divisions in the same order.

pub mod calibration;
pub mod classifier;
pub mod error;
pub mod features;
pub mod format;
pub mod hierarchy;
mod memory;
pub mod metrics;
mod mlp;
mod token_index;
pub mod train;

pub use calibration::fit_temperature;
pub use classifier::{Input, Prediction, Predictions, TextClassifier};
pub use error::{Error, Result};
pub use features::{CharWeighting, FeatureConfig, fnv1a};
pub use hierarchy::HierarchyReport;
pub use metrics::{accuracy, expected_calibration_error, macro_f1, per_class};
pub use train::{Example, FEW_CLASSES, TrainConfig, TrainReport, default_hidden_units, train};
