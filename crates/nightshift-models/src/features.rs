//! Hashed text features: tokenisation, word and character n-grams, structured extras,
//! and the TF-IDF weighting applied on top of them.
//!
//! # Hashing (part of the saved model format — never change without bumping the format version)
//!
//! * Text is tokenised into maximal runs of Unicode alphanumeric characters
//!   ([`char::is_alphanumeric`]), lowercased with [`char::to_lowercase`]. Everything else
//!   (spaces, punctuation, symbols) separates tokens.
//! * Every feature is a byte string hashed with 64-bit FNV-1a (offset basis
//!   `0xcbf29ce484222325`, prime `0x100000001b3`), starting with one *tag* byte:
//!   * word n-gram of `n` tokens: tag `n` (1, 2, 3), then the tokens' UTF-8 bytes separated by
//!     byte `0x1F`;
//!   * character n-gram: tag `0x10`, then the UTF-8 bytes of `n` consecutive characters of
//!     `<token>` (the token wrapped in `<` and `>`), for `n` in the configured range;
//!   * structured extra `(field, value)`: tag `0x20`, the field bytes, byte `0x1F`, the value
//!     bytes (both as given, not lowercased).
//! * The 64-bit hash is finalised with the MurmurHash3 `fmix64` mixer and its low
//!   `hash_bits` bits are the bucket.
//!
//! # Weighting
//!
//! Buckets that the training data never produced (or produced in fewer than `min_df`
//! documents) are dropped. A kept bucket with term count `tf` gets weight
//! `(1 + ln tf) * idf`, `idf = ln((1 + N) / (1 + df)) + 1` (smoothed IDF learned at training
//! time). The word group (word n-grams and extras) and the character group are each
//! L2-normalised and scaled by `1/sqrt(2)` when both are present, so the whole vector has unit
//! norm (with `split_norm = false` the whole vector is normalised at once).

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
const FNV_PRIME: u64 = 0x0000_0100_0000_01b3;
const SEP: u8 = 0x1F;
const TAG_CHAR: u8 = 0x10;
const TAG_EXTRA: u8 = 0x20;

/// 64-bit FNV-1a over `bytes`, continuing from `state` (start with the offset basis via
/// [`fnv1a`]). Stable across platforms and versions.
#[inline]
pub fn fnv1a_extend(mut state: u64, bytes: &[u8]) -> u64 {
    for &b in bytes {
        state ^= u64::from(b);
        state = state.wrapping_mul(FNV_PRIME);
    }
    state
}

/// 64-bit FNV-1a of `bytes`. Stable across platforms and versions.
#[inline]
pub fn fnv1a(bytes: &[u8]) -> u64 {
    fnv1a_extend(FNV_OFFSET, bytes)
}

#[inline]
fn fmix64(mut k: u64) -> u64 {
    k ^= k >> 33;
    k = k.wrapping_mul(0xff51_afd7_ed55_8ccd);
    k ^= k >> 33;
    k = k.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    k ^= k >> 33;
    k
}

/// How text is turned into hashed features. Saved inside the model.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct FeatureConfig {
    /// Number of hash bits: features land in `2^hash_bits` buckets (10..=26).
    pub hash_bits: u8,
    /// Longest word n-gram (1 = unigrams only, 2 = plus bigrams, 3 = plus trigrams).
    pub word_ngrams: u8,
    /// Shortest character n-gram within `<token>`; 0 disables character n-grams.
    pub char_ngram_min: u8,
    /// Longest character n-gram within `<token>`.
    pub char_ngram_max: u8,
    /// Normalise the word group and the character group separately (see module docs).
    pub split_norm: bool,
}

impl Default for FeatureConfig {
    fn default() -> Self {
        Self {
            hash_bits: 20,
            word_ngrams: 2,
            char_ngram_min: 1,
            char_ngram_max: 4,
            split_norm: true,
        }
    }
}

impl FeatureConfig {
    /// Checks ranges; every model and training run goes through this.
    pub fn validate(&self) -> Result<()> {
        if !(10..=26).contains(&self.hash_bits) {
            return Err(Error::InvalidConfig(format!(
                "hash_bits must be in 10..=26, got {}",
                self.hash_bits
            )));
        }
        if !(1..=3).contains(&self.word_ngrams) {
            return Err(Error::InvalidConfig(format!(
                "word_ngrams must be in 1..=3, got {}",
                self.word_ngrams
            )));
        }
        if self.char_ngram_min > 0
            && (self.char_ngram_max < self.char_ngram_min || self.char_ngram_max > 8)
        {
            return Err(Error::InvalidConfig(format!(
                "char n-gram range {}..={} is invalid (need min <= max <= 8)",
                self.char_ngram_min, self.char_ngram_max
            )));
        }
        Ok(())
    }

    #[inline]
    fn mask(&self) -> u64 {
        (1u64 << self.hash_bits) - 1
    }
}

/// Reusable per-thread buffers for feature extraction: after warm-up, extracting features
/// for a row allocates nothing.
#[derive(Default, Debug)]
pub(crate) struct Scratch {
    lower: String,
    spans: Vec<(usize, usize)>,
    wrapped: Vec<u8>,
    offsets: Vec<usize>,
    /// Raw buckets of the word group (word n-grams and extras), with repeats.
    pub(crate) word: Vec<u32>,
    /// Raw buckets of the character group, with repeats.
    pub(crate) chars: Vec<u32>,
    rows: Vec<u32>,
    /// Weighted features `(row, value)` of the last vectorised text.
    pub(crate) feats: Vec<(u32, f32)>,
}

fn tokenize(text: &str, lower: &mut String, spans: &mut Vec<(usize, usize)>) {
    lower.clear();
    spans.clear();
    let mut start: Option<usize> = None;
    for c in text.chars() {
        if c.is_alphanumeric() {
            if start.is_none() {
                start = Some(lower.len());
            }
            if c.is_ascii() {
                lower.push(c.to_ascii_lowercase());
            } else {
                lower.extend(c.to_lowercase());
            }
        } else if let Some(s) = start.take() {
            spans.push((s, lower.len()));
        }
    }
    if let Some(s) = start {
        spans.push((s, lower.len()));
    }
}

/// Fills `scratch.word` and `scratch.chars` with the raw (unweighted, repeated) buckets of
/// `text` and `extras`.
pub(crate) fn raw_buckets(
    cfg: &FeatureConfig,
    text: &str,
    extras: &[(&str, &str)],
    s: &mut Scratch,
) {
    let mask = cfg.mask();
    let bucket = |h: u64| (fmix64(h) & mask) as u32;
    tokenize(text, &mut s.lower, &mut s.spans);
    s.word.clear();
    s.chars.clear();
    let lower = s.lower.as_bytes();
    let n_tok = s.spans.len();
    for i in 0..n_tok {
        let mut h = fnv1a_extend(FNV_OFFSET, &[1]);
        for n in 1..=usize::from(cfg.word_ngrams) {
            let j = i + n - 1;
            if j >= n_tok {
                break;
            }
            if n > 1 {
                // Re-tag: the tag byte is the n-gram length, so restart the hash.
                h = fnv1a_extend(FNV_OFFSET, &[n as u8]);
                for (k, &(a, b)) in s.spans[i..=j].iter().enumerate() {
                    if k > 0 {
                        h = fnv1a_extend(h, &[SEP]);
                    }
                    h = fnv1a_extend(h, &lower[a..b]);
                }
            } else {
                let (a, b) = s.spans[i];
                h = fnv1a_extend(h, &lower[a..b]);
            }
            s.word.push(bucket(h));
        }
    }
    if cfg.char_ngram_min > 0 {
        let (lo, hi) = (
            usize::from(cfg.char_ngram_min),
            usize::from(cfg.char_ngram_max),
        );
        for &(a, b) in &s.spans {
            s.wrapped.clear();
            s.wrapped.push(b'<');
            s.wrapped.extend_from_slice(&lower[a..b]);
            s.wrapped.push(b'>');
            s.offsets.clear();
            // Character start offsets within `wrapped` (it is valid UTF-8), plus the end.
            for (k, &byte) in s.wrapped.iter().enumerate() {
                if (byte & 0xC0) != 0x80 {
                    s.offsets.push(k);
                }
            }
            let n_chars = s.offsets.len();
            s.offsets.push(s.wrapped.len());
            for start in 0..n_chars {
                let mut h = fnv1a_extend(FNV_OFFSET, &[TAG_CHAR]);
                for n in 1..=hi {
                    let end = start + n;
                    if end > n_chars {
                        break;
                    }
                    h = fnv1a_extend(h, &s.wrapped[s.offsets[end - 1]..s.offsets[end]]);
                    if n >= lo {
                        s.chars.push(bucket(h));
                    }
                }
            }
        }
    }
    for &(field, value) in extras {
        let mut h = fnv1a_extend(FNV_OFFSET, &[TAG_EXTRA]);
        h = fnv1a_extend(h, field.as_bytes());
        h = fnv1a_extend(h, &[SEP]);
        h = fnv1a_extend(h, value.as_bytes());
        s.word.push(bucket(h));
    }
}

/// The learned part of the feature pipeline: which buckets are kept (sorted) and their IDF.
#[derive(Clone, Debug)]
pub(crate) struct Vocabulary {
    /// Kept buckets, strictly increasing; a bucket's position is its weight row.
    pub(crate) buckets: Vec<u32>,
    /// IDF per row.
    pub(crate) idf: Vec<f32>,
    /// Dense bucket → row map (`u32::MAX` = not kept), `2^hash_bits` entries. Not serialised.
    map: Vec<u32>,
}

impl Vocabulary {
    /// Builds the vocabulary; `buckets` must be strictly increasing and below `2^hash_bits`.
    pub(crate) fn new(hash_bits: u8, buckets: Vec<u32>, idf: Vec<f32>) -> Result<Self> {
        let size = 1usize << hash_bits;
        if buckets.len() != idf.len() {
            return Err(Error::Corrupt("bucket and idf counts differ".into()));
        }
        let mut map = vec![u32::MAX; size];
        let mut prev: Option<u32> = None;
        for (row, &b) in buckets.iter().enumerate() {
            if (b as usize) >= size || prev.is_some_and(|p| p >= b) {
                return Err(Error::Corrupt(format!(
                    "bucket list is not strictly increasing below 2^{hash_bits} at row {row}"
                )));
            }
            prev = Some(b);
            map[b as usize] = row as u32;
        }
        Ok(Self { buckets, idf, map })
    }

    pub(crate) fn len(&self) -> usize {
        self.buckets.len()
    }

    /// Weighted, normalised features of one input into `s.feats`; allocation-free once warm.
    pub(crate) fn vectorize(
        &self,
        cfg: &FeatureConfig,
        text: &str,
        extras: &[(&str, &str)],
        s: &mut Scratch,
    ) {
        raw_buckets(cfg, text, extras, s);
        s.feats.clear();
        if cfg.split_norm {
            let n_w = self.weigh_group(&s.word, &mut s.rows, &mut s.feats);
            let start = s.feats.len();
            let n_c = self.weigh_group(&s.chars, &mut s.rows, &mut s.feats);
            let both = n_w > 0.0 && n_c > 0.0;
            let extra = if both {
                std::f32::consts::FRAC_1_SQRT_2
            } else {
                1.0
            };
            normalise(&mut s.feats[..start], n_w, extra);
            normalise(&mut s.feats[start..], n_c, extra);
        } else {
            s.word.extend_from_slice(&s.chars);
            let n = self.weigh_group(&s.word, &mut s.rows, &mut s.feats);
            normalise(&mut s.feats, n, 1.0);
        }
    }

    /// Appends `(row, (1 + ln tf) * idf)` for the kept buckets of `raw`; returns the squared norm.
    fn weigh_group(&self, raw: &[u32], rows: &mut Vec<u32>, out: &mut Vec<(u32, f32)>) -> f32 {
        rows.clear();
        rows.extend(raw.iter().filter_map(|&b| {
            let r = self.map[b as usize];
            (r != u32::MAX).then_some(r)
        }));
        rows.sort_unstable();
        let mut sq = 0.0f32;
        let mut i = 0;
        while i < rows.len() {
            let r = rows[i];
            let mut j = i + 1;
            while j < rows.len() && rows[j] == r {
                j += 1;
            }
            let tf = (j - i) as f32;
            let v = (1.0 + tf.ln()) * self.idf[r as usize];
            sq += v * v;
            out.push((r, v));
            i = j;
        }
        sq
    }
}

fn normalise(feats: &mut [(u32, f32)], sq_norm: f32, extra: f32) {
    if sq_norm > 0.0 {
        let k = extra / sq_norm.sqrt();
        for f in feats {
            f.1 *= k;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fnv_matches_reference_vectors() {
        assert_eq!(fnv1a(b""), 0xcbf29ce484222325);
        assert_eq!(fnv1a(b"a"), 0xaf63dc4c8601ec8c);
        assert_eq!(fnv1a(b"foobar"), 0x85944171f73967e8);
    }

    #[test]
    fn tokenises_unicode_and_lowercases() {
        let mut lower = String::new();
        let mut spans = Vec::new();
        tokenize("Hello, WORLD! Ça-va 42x", &mut lower, &mut spans);
        let toks: Vec<&str> = spans.iter().map(|&(a, b)| &lower[a..b]).collect();
        assert_eq!(toks, ["hello", "world", "ça", "va", "42x"]);
    }

    #[test]
    fn buckets_are_stable() {
        // Pinned values: changing them breaks every saved model.
        let cfg = FeatureConfig {
            char_ngram_min: 2,
            char_ngram_max: 5,
            ..FeatureConfig::default()
        };
        let mut s = Scratch::default();
        raw_buckets(&cfg, "Refund please", &[("channel", "chat")], &mut s);
        // unigram x2, bigram x1, extra x1
        assert_eq!(s.word.len(), 4);
        // <refund> has 8 chars: n=2..5 → 7+6+5+4 ; <please> same.
        assert_eq!(s.chars.len(), 44);
        let again = s.word.clone();
        raw_buckets(&cfg, "REFUND   please!!", &[("channel", "chat")], &mut s);
        assert_eq!(s.word, again);
        assert_eq!(
            s.word[0],
            (fmix64(fnv1a_extend(fnv1a(&[1]), b"refund")) & 0xF_FFFF) as u32
        );
        assert_eq!(s.word[0], 151_288, "pinned bucket of the unigram `refund`");
    }

    #[test]
    fn vectorize_is_unit_norm() {
        let cfg = FeatureConfig::default();
        let mut s = Scratch::default();
        raw_buckets(&cfg, "my card was declined twice", &[], &mut s);
        let mut all: Vec<u32> = s.word.iter().chain(&s.chars).copied().collect();
        all.sort_unstable();
        all.dedup();
        let idf = vec![1.5; all.len()];
        let vocab = Vocabulary::new(cfg.hash_bits, all, idf).unwrap();
        vocab.vectorize(&cfg, "my card was declined twice", &[], &mut s);
        let norm: f32 = s.feats.iter().map(|f| f.1 * f.1).sum();
        assert!((norm - 1.0).abs() < 1e-4, "{norm}");
        vocab.vectorize(&cfg, "", &[], &mut s);
        assert!(s.feats.is_empty());
    }
}
