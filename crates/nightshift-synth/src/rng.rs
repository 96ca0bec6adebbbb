//! Seeding and sampling helpers shared by every generator.
//!
//! Two kinds of randomness are used:
//! - a ChaCha8 stream per (seed, table, date, chunk) for row-by-row generation, so that output does
//!   not depend on the number of threads;
//! - a stateless SplitMix64 stream per (seed, table, date, index) for trips and orders, so that a
//!   contact of day `d` can look at trip `t-<d-2>-0001234` without generating day `d-2`.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// Stream identifiers, mixed into seeds so that tables never share random numbers.
pub(crate) const STREAM_CONTACTS: u64 = 0x636f_6e74_6163_7473;
pub(crate) const STREAM_TRIPS: u64 = 0x7472_6970_7300_0000;
pub(crate) const STREAM_ORDERS: u64 = 0x6f72_6465_7273_0000;

/// SplitMix64 finaliser: a good 64-bit mixing function.
pub(crate) const fn mix64(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// Combines several words into one well-mixed key.
pub(crate) fn key(parts: &[u64]) -> u64 {
    parts
        .iter()
        .fold(0x5851_f42d_4c95_7f2d, |acc, &p| mix64(acc ^ mix64(p)))
}

/// The RNG of one chunk of one table of one day.
pub(crate) fn chunk_rng(seed: u64, stream: u64, day: i64, chunk: usize) -> ChaCha8Rng {
    ChaCha8Rng::seed_from_u64(key(&[seed, stream, day as u64, chunk as u64]))
}

/// A tiny stateless-seeded generator for per-entity attributes (trips, orders).
#[derive(Debug, Clone)]
pub(crate) struct SplitMix(u64);

impl SplitMix {
    pub(crate) fn new(seed: u64, stream: u64, day: i64, index: u64) -> Self {
        let base = mix64(seed ^ stream ^ (day as u64).wrapping_mul(0xd1b5_4a32_d192_ed03));
        Self(mix64(base ^ index.wrapping_mul(0x9e37_79b9_7f4a_7c15)))
    }

    pub(crate) fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        mix64(self.0)
    }

    /// Uniform in `[0, 1)`.
    pub(crate) fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }

    /// Uniform in `[lo, hi)`.
    pub(crate) fn range(&mut self, lo: f64, hi: f64) -> f64 {
        lo + (hi - lo) * self.unit()
    }

    /// Roughly standard normal (Irwin–Hall with 4 terms, rescaled).
    pub(crate) fn normal(&mut self) -> f64 {
        let s: f64 = (0..4).map(|_| self.unit()).sum();
        (s - 2.0) * 1.732_050_8
    }
}

/// Uniform index in `0..n` (`n > 0`).
pub(crate) fn pick<R: Rng>(rng: &mut R, n: usize) -> usize {
    rng.random_range(0..n)
}

/// Picks one element of a non-empty slice.
pub(crate) fn choose<R: Rng, T: Copy>(rng: &mut R, items: &[T]) -> T {
    items[pick(rng, items.len())]
}

/// Index of the bucket hit by `u` in `[0, 1)` given cumulative weights normalised to end at 1.
pub(crate) fn bucket(cumulative: &[f64], u: f64) -> usize {
    cumulative
        .iter()
        .position(|&c| u < c)
        .unwrap_or(cumulative.len() - 1)
}

/// Cumulative, normalised weights.
pub(crate) fn cumulative(weights: &[f64]) -> Vec<f64> {
    let total: f64 = weights.iter().sum();
    let mut acc = 0.0;
    let mut out: Vec<f64> = weights
        .iter()
        .map(|w| {
            acc += w / total;
            acc
        })
        .collect();
    if let Some(last) = out.last_mut() {
        *last = 1.0;
    }
    out
}

/// Picks an index by (not necessarily normalised) weights.
pub(crate) fn weighted<R: Rng>(rng: &mut R, weights: &[f64]) -> usize {
    let total: f64 = weights.iter().sum();
    let mut u = rng.random::<f64>() * total;
    for (i, w) in weights.iter().enumerate() {
        if u < *w {
            return i;
        }
        u -= w;
    }
    weights.len() - 1
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splitmix_is_stateless_per_key() {
        let a = SplitMix::new(1, STREAM_TRIPS, 100, 7).next_u64();
        let b = SplitMix::new(1, STREAM_TRIPS, 100, 7).next_u64();
        let c = SplitMix::new(1, STREAM_TRIPS, 100, 8).next_u64();
        assert_eq!(a, b);
        assert_ne!(a, c);
    }

    #[test]
    fn bucket_and_cumulative() {
        let c = cumulative(&[1.0, 1.0, 2.0]);
        assert_eq!(bucket(&c, 0.1), 0);
        assert_eq!(bucket(&c, 0.3), 1);
        assert_eq!(bucket(&c, 0.99), 2);
        assert_eq!(bucket(&c, 1.0), 2);
    }
}
