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

use std::sync::atomic::{AtomicU64, Ordering};

use rustc_hash::FxHashMap;
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
            char_ngram_min: 2,
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
    /// Counts repeated rows of one group without sorting.
    dedup: Dedup,
    /// Kept character n-gram rows per token, for the vocabulary `cache_owner`.
    token_rows: FxHashMap<Box<[u8]>, (u32, u32)>,
    token_rows_data: Vec<u32>,
    cache_owner: u64,
    /// Weighted features `(row, value)` of the last vectorised text.
    pub(crate) feats: Vec<(u32, f32)>,
    /// Class scores buffer for prediction.
    pub(crate) probs: Vec<f32>,
}

/// Distinct tokens remembered per thread before the token cache starts over.
const TOKEN_CACHE_LIMIT: usize = 200_000;

/// Identity of a [`Vocabulary`] for the per-thread caches (0 = none).
static NEXT_VOCAB_ID: AtomicU64 = AtomicU64::new(1);

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
    tokenize(text, &mut s.lower, &mut s.spans);
    s.word.clear();
    s.chars.clear();
    word_buckets(cfg, s.lower.as_bytes(), &s.spans, extras, &mut s.word);
    if cfg.char_ngram_min > 0 {
        let lower = s.lower.as_bytes();
        for &(a, b) in &s.spans {
            token_char_buckets(
                cfg,
                &lower[a..b],
                &mut s.wrapped,
                &mut s.offsets,
                &mut s.chars,
            );
        }
    }
}

#[inline]
fn bucket_of(cfg: &FeatureConfig, h: u64) -> u32 {
    (fmix64(h) & cfg.mask()) as u32
}

/// Appends the buckets of the word n-grams of the tokens `spans` of `lower`, then of `extras`.
fn word_buckets(
    cfg: &FeatureConfig,
    lower: &[u8],
    spans: &[(usize, usize)],
    extras: &[(&str, &str)],
    out: &mut Vec<u32>,
) {
    let n_tok = spans.len();
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
                for (k, &(a, b)) in spans[i..=j].iter().enumerate() {
                    if k > 0 {
                        h = fnv1a_extend(h, &[SEP]);
                    }
                    h = fnv1a_extend(h, &lower[a..b]);
                }
            } else {
                let (a, b) = spans[i];
                h = fnv1a_extend(h, &lower[a..b]);
            }
            out.push(bucket_of(cfg, h));
        }
    }
    for &(field, value) in extras {
        let mut h = fnv1a_extend(FNV_OFFSET, &[TAG_EXTRA]);
        h = fnv1a_extend(h, field.as_bytes());
        h = fnv1a_extend(h, &[SEP]);
        h = fnv1a_extend(h, value.as_bytes());
        out.push(bucket_of(cfg, h));
    }
}

/// Appends the buckets of the character n-grams of one (lowercased) token.
fn token_char_buckets(
    cfg: &FeatureConfig,
    token: &[u8],
    wrapped: &mut Vec<u8>,
    offsets: &mut Vec<usize>,
    out: &mut Vec<u32>,
) {
    let (lo, hi) = (
        usize::from(cfg.char_ngram_min),
        usize::from(cfg.char_ngram_max),
    );
    wrapped.clear();
    wrapped.push(b'<');
    wrapped.extend_from_slice(token);
    wrapped.push(b'>');
    offsets.clear();
    // Character start offsets within `wrapped` (it is valid UTF-8), plus the end.
    for (k, &byte) in wrapped.iter().enumerate() {
        if (byte & 0xC0) != 0x80 {
            offsets.push(k);
        }
    }
    let n_chars = offsets.len();
    offsets.push(wrapped.len());
    for start in 0..n_chars {
        let mut h = fnv1a_extend(FNV_OFFSET, &[TAG_CHAR]);
        for n in 1..=hi {
            let end = start + n;
            if end > n_chars {
                break;
            }
            h = fnv1a_extend(h, &wrapped[offsets[end - 1]..offsets[end]]);
            if n >= lo {
                out.push(bucket_of(cfg, h));
            }
        }
    }
}

/// The learned part of the feature pipeline: which buckets are kept (sorted) and their IDF.
#[derive(Clone, Debug)]
pub(crate) struct Vocabulary {
    /// Kept buckets, strictly increasing; a bucket's position is its weight row.
    pub(crate) buckets: Vec<u32>,
    /// IDF per row.
    pub(crate) idf: Vec<f32>,
    /// Bucket → row lookup. Not serialised.
    map: RowMap,
    /// Process-unique identity, so per-thread caches never mix vocabularies.
    id: u64,
}

impl Vocabulary {
    /// Builds the vocabulary; `buckets` must be strictly increasing and below `2^hash_bits`.
    pub(crate) fn new(hash_bits: u8, buckets: Vec<u32>, idf: Vec<f32>) -> Result<Self> {
        let size = 1usize << hash_bits;
        if buckets.len() != idf.len() {
            return Err(Error::Corrupt("bucket and idf counts differ".into()));
        }
        let mut map = RowMap::with_capacity(buckets.len());
        let mut prev: Option<u32> = None;
        for (row, &b) in buckets.iter().enumerate() {
            if (b as usize) >= size || prev.is_some_and(|p| p >= b) {
                return Err(Error::Corrupt(format!(
                    "bucket list is not strictly increasing below 2^{hash_bits} at row {row}"
                )));
            }
            prev = Some(b);
            map.insert(b, row as u32);
        }
        let id = NEXT_VOCAB_ID.fetch_add(1, Ordering::Relaxed);
        Ok(Self {
            buckets,
            idf,
            map,
            id,
        })
    }

    pub(crate) fn len(&self) -> usize {
        self.buckets.len()
    }

    /// Weighted, normalised features of one input into `s.feats`; allocation-free once warm.
    ///
    /// Same features as [`raw_buckets`] followed by the bucket → row lookup, but the kept
    /// character n-gram rows of each distinct token are computed once per thread and reused:
    /// most tokens of a corpus repeat, and hashing their n-grams dominated the cost.
    pub(crate) fn vectorize(
        &self,
        cfg: &FeatureConfig,
        text: &str,
        extras: &[(&str, &str)],
        s: &mut Scratch,
    ) {
        if s.cache_owner != self.id || s.token_rows.len() >= TOKEN_CACHE_LIMIT {
            s.token_rows.clear();
            s.token_rows_data.clear();
            s.cache_owner = self.id;
        }
        tokenize(text, &mut s.lower, &mut s.spans);
        s.word.clear();
        word_buckets(cfg, s.lower.as_bytes(), &s.spans, extras, &mut s.word);
        s.chars.clear();
        if cfg.char_ngram_min > 0 {
            let lower = s.lower.as_bytes();
            for &(a, b) in &s.spans {
                let token = &lower[a..b];
                let (start, len) = match s.token_rows.get(token) {
                    Some(&range) => range,
                    None => {
                        s.rows.clear();
                        token_char_buckets(cfg, token, &mut s.wrapped, &mut s.offsets, &mut s.rows);
                        let start = s.token_rows_data.len() as u32;
                        s.token_rows_data.extend(self.map.kept_rows(&s.rows));
                        let range = (start, s.token_rows_data.len() as u32 - start);
                        s.token_rows.insert(token.into(), range);
                        range
                    }
                };
                s.chars
                    .extend_from_slice(&s.token_rows_data[start as usize..(start + len) as usize]);
            }
        }
        // `word` holds buckets, `chars` holds rows.
        s.rows.clear();
        s.rows.extend(self.map.kept_rows(&s.word));
        s.feats.clear();
        if cfg.split_norm {
            let n_w = self.weigh_group(&s.rows, &mut s.dedup, &mut s.feats);
            let start = s.feats.len();
            let n_c = self.weigh_group(&s.chars, &mut s.dedup, &mut s.feats);
            let both = n_w > 0.0 && n_c > 0.0;
            let extra = if both {
                std::f32::consts::FRAC_1_SQRT_2
            } else {
                1.0
            };
            normalise(&mut s.feats[..start], n_w, extra);
            normalise(&mut s.feats[start..], n_c, extra);
        } else {
            s.rows.extend_from_slice(&s.chars);
            let n = self.weigh_group(&s.rows, &mut s.dedup, &mut s.feats);
            normalise(&mut s.feats, n, 1.0);
        }
    }

    /// Appends `(row, (1 + ln tf) * idf)` for the weight rows `rows` (with repeats), in order
    /// of first occurrence; returns the squared norm. Repeats are counted in a small hash
    /// table ([`Dedup`]), so this is linear in `rows.len()` (no sort).
    fn weigh_group(&self, rows: &[u32], dedup: &mut Dedup, out: &mut Vec<(u32, f32)>) -> f32 {
        let start = out.len();
        dedup.count(rows, out);
        let mut sq = 0.0f32;
        for f in &mut out[start..] {
            let idf = self.idf[f.0 as usize];
            let v = if f.1 == 1.0 {
                idf
            } else {
                (1.0 + f.1.ln()) * idf
            };
            f.1 = v;
            sq += v * v;
        }
        sq
    }
}

/// Counts repeats among a text's weight rows: a small open-addressing table sized to the
/// text (so it stays in L1/L2 whatever the vocabulary size), whose slots are marked with a
/// generation number instead of being cleared for every text.
#[derive(Debug, Default)]
struct Dedup {
    /// `(row, generation, position in out)`.
    slots: Vec<(u32, u32, u32)>,
    shift: u32,
    generation: u32,
}

impl Dedup {
    /// Appends `(row, count)` to `out` for each distinct row of `rows`, in order of first
    /// occurrence.
    fn count(&mut self, rows: &[u32], out: &mut Vec<(u32, f32)>) {
        let need = (2 * rows.len()).max(16).next_power_of_two();
        if self.slots.len() < need {
            self.slots = vec![(0, 0, 0); need];
            self.shift = 32 - need.trailing_zeros();
            self.generation = 0;
        }
        if self.generation == u32::MAX {
            self.slots.fill((0, 0, 0));
            self.generation = 0;
        }
        self.generation += 1;
        let generation = self.generation;
        let mask = self.slots.len() - 1;
        for &r in rows {
            let mut i = (r.wrapping_mul(0x9E37_79B1) >> self.shift) as usize;
            loop {
                let slot = &mut self.slots[i];
                if slot.1 != generation {
                    *slot = (r, generation, out.len() as u32);
                    out.push((r, 1.0));
                    break;
                }
                if slot.0 == r {
                    out[slot.2 as usize].1 += 1.0;
                    break;
                }
                i = (i + 1) & mask;
            }
        }
    }
}

/// Open-addressing hash map from kept bucket to weight row, at most half full.
///
/// A dense `2^hash_bits` array would be simpler, but at 20 bits it is 4 MiB of mostly empty
/// slots that evict the weight rows from the CPU caches; this table is 16 bytes per kept
/// bucket (about 0.5 MiB for 30 000 buckets) and prediction is bound by memory latency.
#[derive(Clone, Debug)]
struct RowMap {
    /// `(bucket, row)`; `bucket == u32::MAX` marks an empty slot (buckets are < 2^26).
    slots: Vec<(u32, u32)>,
    shift: u32,
}

impl RowMap {
    fn with_capacity(n: usize) -> Self {
        let bits = (2 * n.max(8)).next_power_of_two().trailing_zeros();
        Self {
            slots: vec![(u32::MAX, u32::MAX); 1 << bits],
            shift: 32 - bits,
        }
    }

    #[inline]
    fn home(&self, bucket: u32) -> usize {
        (bucket.wrapping_mul(0x9E37_79B1) >> self.shift) as usize
    }

    fn insert(&mut self, bucket: u32, row: u32) {
        let mask = self.slots.len() - 1;
        let mut i = self.home(bucket);
        while self.slots[i].0 != u32::MAX {
            i = (i + 1) & mask;
        }
        self.slots[i] = (bucket, row);
    }

    /// The rows of the kept buckets among `buckets`, in order (repeats included).
    fn kept_rows<'a>(&'a self, buckets: &'a [u32]) -> impl Iterator<Item = u32> + 'a {
        buckets
            .iter()
            .map(|&b| self.get(b))
            .filter(|&r| r != u32::MAX)
    }

    /// The row of `bucket`, or `u32::MAX` when the bucket is not kept.
    #[inline]
    fn get(&self, bucket: u32) -> u32 {
        let mask = self.slots.len() - 1;
        let mut i = self.home(bucket);
        loop {
            let (b, r) = self.slots[i];
            if b == bucket {
                return r;
            }
            if b == u32::MAX {
                return u32::MAX;
            }
            i = (i + 1) & mask;
        }
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

    /// The reference computation: raw buckets → rows, counted by sorting, weighted and
    /// normalised per group. `vectorize` (token cache, stamps) must give the same multiset.
    fn reference(vocab: &Vocabulary, cfg: &FeatureConfig, text: &str) -> Vec<(u32, f32)> {
        let mut s = Scratch::default();
        raw_buckets(cfg, text, &[("channel", "chat")], &mut s);
        let group = |raw: &[u32]| {
            let mut rows: Vec<u32> = raw
                .iter()
                .map(|&b| vocab.map.get(b))
                .filter(|&r| r != u32::MAX)
                .collect();
            rows.sort_unstable();
            let mut out: Vec<(u32, f32)> = Vec::new();
            for r in rows {
                match out.last_mut() {
                    Some(last) if last.0 == r => last.1 += 1.0,
                    _ => out.push((r, 1.0)),
                }
            }
            for f in &mut out {
                f.1 = (1.0 + f.1.ln()) * vocab.idf[f.0 as usize];
            }
            out
        };
        let (mut w, mut c) = (group(&s.word), group(&s.chars));
        let norm = |g: &[(u32, f32)]| g.iter().map(|f| f.1 * f.1).sum::<f32>().sqrt();
        let k = if w.is_empty() || c.is_empty() {
            1.0
        } else {
            std::f32::consts::FRAC_1_SQRT_2
        };
        let (nw, nc) = (norm(&w), norm(&c));
        w.iter_mut().for_each(|f| f.1 *= k / nw);
        c.iter_mut().for_each(|f| f.1 *= k / nc);
        w.extend(c);
        w.sort_by(|a, b| a.partial_cmp(b).unwrap());
        w
    }

    #[test]
    fn cached_vectorize_matches_the_reference() {
        let cfg = FeatureConfig::default();
        let texts = [
            "my card was declined twice, card declined!",
            "Declined card; refund my card",
            "ça va? çà et là",
            "",
            "card card card card",
        ];
        // Keep every second bucket seen, so some n-grams are missing from the vocabulary.
        let mut s = Scratch::default();
        let mut all = Vec::new();
        for t in texts {
            raw_buckets(&cfg, t, &[("channel", "chat")], &mut s);
            all.extend(s.word.iter().chain(&s.chars).copied());
        }
        all.sort_unstable();
        all.dedup();
        let kept: Vec<u32> = all.iter().copied().step_by(2).collect();
        let idf: Vec<f32> = (0..kept.len())
            .map(|i| 1.0 + (i % 7) as f32 / 3.0)
            .collect();
        let vocab = Vocabulary::new(cfg.hash_bits, kept, idf.clone()).unwrap();
        let other = Vocabulary::new(cfg.hash_bits, all.clone(), vec![2.0; all.len()]).unwrap();
        // One scratch across texts and vocabularies: the cache must follow the vocabulary.
        for round in 0..2 {
            for v in [&vocab, &other] {
                for t in texts {
                    v.vectorize(&cfg, t, &[("channel", "chat")], &mut s);
                    let mut got = s.feats.clone();
                    got.sort_by(|a, b| a.partial_cmp(b).unwrap());
                    let want = reference(v, &cfg, t);
                    assert_eq!(got.len(), want.len(), "round {round} {t:?}");
                    for (g, w) in got.iter().zip(&want) {
                        assert_eq!(g.0, w.0, "{t:?}");
                        assert!((g.1 - w.1).abs() < 1e-6, "{t:?}: {g:?} vs {w:?}");
                    }
                }
            }
        }
    }
}
