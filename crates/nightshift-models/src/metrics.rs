//! Classification quality metrics as plain functions over label-index slices.
//!
//! Used by training reports, `models eval` and the daily quality task. Pairs of slices are
//! zipped: when lengths differ, the extra tail of the longer slice is ignored.

use serde::Serialize;

/// Fraction of positions where `y_pred == y_true`; `0.0` for empty input.
pub fn accuracy(y_true: &[u32], y_pred: &[u32]) -> f64 {
    let n = y_true.len().min(y_pred.len());
    if n == 0 {
        return 0.0;
    }
    let hits = y_true.iter().zip(y_pred).filter(|(t, p)| t == p).count();
    hits as f64 / n as f64
}

/// Precision, recall, F1 and support of one class.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct ClassMetrics {
    /// `tp / (tp + fp)`, 0 when the class was never predicted.
    pub precision: f64,
    /// `tp / (tp + fn)`, 0 when the class never occurs in `y_true`.
    pub recall: f64,
    /// Harmonic mean of precision and recall, 0 when both are 0.
    pub f1: f64,
    /// Occurrences of the class in `y_true`.
    pub support: usize,
    /// Occurrences of the class in `y_pred`.
    pub predicted: usize,
}

/// Per-class metrics for classes `0..n_classes`. Labels `>= n_classes` still count as errors
/// for the classes they are paired with but get no entry of their own.
pub fn per_class(y_true: &[u32], y_pred: &[u32], n_classes: usize) -> Vec<ClassMetrics> {
    let mut tp = vec![0usize; n_classes];
    let mut support = vec![0usize; n_classes];
    let mut predicted = vec![0usize; n_classes];
    for (&t, &p) in y_true.iter().zip(y_pred) {
        let (t, p) = (t as usize, p as usize);
        if t < n_classes {
            support[t] += 1;
        }
        if p < n_classes {
            predicted[p] += 1;
        }
        if t == p && t < n_classes {
            tp[t] += 1;
        }
    }
    (0..n_classes)
        .map(|c| {
            let ratio = |a: usize, b: usize| if b == 0 { 0.0 } else { a as f64 / b as f64 };
            let precision = ratio(tp[c], predicted[c]);
            let recall = ratio(tp[c], support[c]);
            let f1 = if precision + recall > 0.0 {
                2.0 * precision * recall / (precision + recall)
            } else {
                0.0
            };
            ClassMetrics {
                precision,
                recall,
                f1,
                support: support[c],
                predicted: predicted[c],
            }
        })
        .collect()
}

/// Macro-averaged F1 over the classes that occur in `y_true` or `y_pred` (as scikit-learn
/// does): a true class that is never predicted contributes an F1 of 0. `0.0` for empty input.
pub fn macro_f1(y_true: &[u32], y_pred: &[u32]) -> f64 {
    let n_classes = y_true
        .iter()
        .chain(y_pred)
        .map(|&l| l as usize + 1)
        .max()
        .unwrap_or(0);
    let per = per_class(y_true, y_pred, n_classes);
    let present: Vec<f64> = per
        .iter()
        .filter(|m| m.support > 0 || m.predicted > 0)
        .map(|m| m.f1)
        .collect();
    if present.is_empty() {
        0.0
    } else {
        present.iter().sum::<f64>() / present.len() as f64
    }
}

/// Number of equal-width bins used for ECE throughout Nightshift.
pub const ECE_BINS: usize = 15;

/// Expected calibration error with `n_bins` equal-width confidence bins over `[0, 1]`:
/// `sum_b |B_b|/N * |accuracy(B_b) - mean_confidence(B_b)|`. Confidence 1.0 falls in the last
/// bin; values outside `[0, 1]` are clamped. `0.0` for empty input or `n_bins == 0`.
pub fn expected_calibration_error(confidence: &[f32], correct: &[bool], n_bins: usize) -> f64 {
    let n = confidence.len().min(correct.len());
    if n == 0 || n_bins == 0 {
        return 0.0;
    }
    let mut count = vec![0usize; n_bins];
    let mut conf_sum = vec![0f64; n_bins];
    let mut hit = vec![0usize; n_bins];
    for (&c, &ok) in confidence.iter().zip(correct) {
        let c = f64::from(c).clamp(0.0, 1.0);
        let c = if c.is_nan() { 0.0 } else { c };
        let b = ((c * n_bins as f64) as usize).min(n_bins - 1);
        count[b] += 1;
        conf_sum[b] += c;
        hit[b] += usize::from(ok);
    }
    (0..n_bins)
        .filter(|&b| count[b] > 0)
        .map(|b| {
            let k = count[b] as f64;
            (k / n as f64) * (hit[b] as f64 / k - conf_sum[b] / k).abs()
        })
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accuracy_by_hand() {
        assert_eq!(accuracy(&[0, 1, 2, 2], &[0, 1, 1, 2]), 0.75);
        assert_eq!(accuracy(&[], &[]), 0.0);
    }

    #[test]
    fn macro_f1_with_never_predicted_class() {
        // class 0: tp=2, fp=1, fn=0 → p=2/3 r=1 f1=0.8
        // class 1: tp=1, fp=0, fn=0 → f1=1
        // class 2: tp=0, never predicted, support 1 → f1=0
        let t = [0, 0, 1, 2];
        let p = [0, 0, 1, 0];
        let per = per_class(&t, &p, 3);
        assert!((per[0].precision - 2.0 / 3.0).abs() < 1e-12);
        assert_eq!(per[0].recall, 1.0);
        assert!((per[0].f1 - 0.8).abs() < 1e-12);
        assert_eq!(per[2].f1, 0.0);
        assert_eq!(per[2].predicted, 0);
        assert_eq!(per[2].support, 1);
        assert!((macro_f1(&t, &p) - 1.8 / 3.0).abs() < 1e-12);
    }

    #[test]
    fn ece_by_hand() {
        // bin of 0.9 (2 items, 1 correct): |0.5-0.9| * 2/4 = 0.2
        // bin of 0.3 (2 items, 1 correct): |0.5-0.3| * 2/4 = 0.1
        let conf = [0.9, 0.9, 0.3, 0.3];
        let ok = [true, false, true, false];
        let e = expected_calibration_error(&conf, &ok, ECE_BINS);
        assert!((e - 0.3).abs() < 1e-6, "{e}");
        // Perfectly calibrated in each bin → 0.
        let e = expected_calibration_error(&[1.0, 0.5, 0.5], &[true, true, false], 15);
        assert!(e.abs() < 1e-12);
        assert_eq!(expected_calibration_error(&[], &[], 15), 0.0);
    }
}
