//! Temperature scaling: one scalar `T > 0` dividing the logits, fitted on held-out data by
//! minimising the negative log-likelihood with a golden-section search over `ln T`.

use crate::metrics::{ECE_BINS, expected_calibration_error};

/// Smallest and largest temperatures considered.
pub const TEMPERATURE_RANGE: (f32, f32) = (0.05, 20.0);

/// Mean NLL of `labels` under `softmax(logits / t)`; `logits` is row-major with `n_classes`
/// columns.
pub fn nll(logits: &[f32], labels: &[u32], n_classes: usize, t: f32) -> f64 {
    if n_classes == 0 || labels.is_empty() {
        return 0.0;
    }
    let inv = 1.0 / f64::from(t);
    let mut total = 0.0f64;
    for (row, &y) in logits.chunks_exact(n_classes).zip(labels) {
        let max = row.iter().fold(f32::NEG_INFINITY, |m, &v| m.max(v));
        let lse: f64 = row
            .iter()
            .map(|&v| (f64::from(v - max) * inv).exp())
            .sum::<f64>()
            .ln();
        let yv = row.get(y as usize).copied().unwrap_or(max);
        total += lse - f64::from(yv - max) * inv;
    }
    total / labels.len() as f64
}

/// Fits the temperature minimising [`nll`] over [`TEMPERATURE_RANGE`]. Always returns a
/// finite `T > 0`; returns 1.0 for empty input.
pub fn fit_temperature(logits: &[f32], labels: &[u32], n_classes: usize) -> f32 {
    if labels.is_empty() || n_classes == 0 {
        return 1.0;
    }
    let f = |lt: f64| nll(logits, labels, n_classes, lt.exp() as f32);
    let (mut a, mut b) = (
        f64::from(TEMPERATURE_RANGE.0).ln(),
        f64::from(TEMPERATURE_RANGE.1).ln(),
    );
    let g = (5f64.sqrt() - 1.0) / 2.0;
    let mut c = b - g * (b - a);
    let mut d = a + g * (b - a);
    let (mut fc, mut fd) = (f(c), f(d));
    for _ in 0..60 {
        if fc < fd {
            b = d;
            d = c;
            fd = fc;
            c = b - g * (b - a);
            fc = f(c);
        } else {
            a = c;
            c = d;
            fc = fd;
            d = a + g * (b - a);
            fd = f(d);
        }
    }
    let t = (((a + b) / 2.0).exp()) as f32;
    if t.is_finite() && t > 0.0 { t } else { 1.0 }
}

/// ECE ([`ECE_BINS`] bins) of the top-1 prediction under `softmax(logits / t)`.
pub fn ece_at_temperature(logits: &[f32], labels: &[u32], n_classes: usize, t: f32) -> f64 {
    if n_classes == 0 {
        return 0.0;
    }
    let mut conf = Vec::with_capacity(labels.len());
    let mut ok = Vec::with_capacity(labels.len());
    for (row, &y) in logits.chunks_exact(n_classes).zip(labels) {
        let (best, max) =
            row.iter()
                .enumerate()
                .fold((0, f32::NEG_INFINITY), |(bi, bv), (i, &v)| {
                    if v > bv { (i, v) } else { (bi, bv) }
                });
        let z: f32 = row.iter().map(|&v| ((v - max) / t).exp()).sum();
        conf.push(1.0 / z);
        ok.push(best == y as usize);
    }
    expected_calibration_error(&conf, &ok, ECE_BINS)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};

    #[test]
    fn temperature_fixes_overconfidence() {
        // Logits scaled 5x too large: true probabilities are softmax(l), model says softmax(5l).
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(7);
        let k = 4;
        let mut logits = Vec::new();
        let mut labels = Vec::new();
        for _ in 0..4000 {
            let l: Vec<f32> = (0..k).map(|_| rng.random_range(-2.0f32..2.0)).collect();
            let z: f32 = l.iter().map(|v| v.exp()).sum();
            let u: f32 = rng.random();
            let mut acc = 0.0;
            let mut y = k - 1;
            for (i, v) in l.iter().enumerate() {
                acc += v.exp() / z;
                if u < acc {
                    y = i;
                    break;
                }
            }
            labels.push(y as u32);
            logits.extend(l.iter().map(|v| v * 5.0));
        }
        let t = fit_temperature(&logits, &labels, k);
        assert!((3.5..7.0).contains(&t), "t = {t}");
        let before = ece_at_temperature(&logits, &labels, k, 1.0);
        let after = ece_at_temperature(&logits, &labels, k, t);
        assert!(after < before / 2.0, "{before} -> {after}");
        assert!(nll(&logits, &labels, k, t) < nll(&logits, &labels, k, 1.0));
    }

    #[test]
    fn empty_input_gives_unit_temperature() {
        assert_eq!(fit_temperature(&[], &[], 3), 1.0);
    }
}
