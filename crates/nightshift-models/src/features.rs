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
//!     bytes (both as given, not lowercased; with `whole_number_extras`, models of format v5
//!     on, a value written as a whole number with a zero fraction, `-?[0-9]+\.0+`, loses its
//!     fraction: `2.0` is hashed as `2`, so a column that is float64 in one place and int64
//!     in another, as pandas makes of an integer column with a gap, gives the same feature).
//! * The 64-bit hash is finalised with the MurmurHash3 `fmix64` mixer and its low
//!   `hash_bits` bits are the bucket.
//!
//! # Weighting
//!
//! Buckets that the training data never produced (or produced in fewer than `min_df`
//! documents) are dropped. A kept bucket with term count `tf` gets weight
//! `(1 + ln tf) * idf`, `idf = ln((1 + N) / (1 + df)) + 1` (smoothed IDF learned at training
//! time). The word group (word n-grams and extras) is counted over the whole text. The
//! character group depends on [`CharWeighting`]:
//!
//! * `token` (models trained since format v3): each distinct token's n-grams are counted and
//!   weighed within that token, giving a vector `t`; a token repeated `k` times is scaled by
//!   `g = 1 + ln k`; the group is `Σ g·t` and its squared norm is *defined* as `Σ g²·|t|²`
//!   (n-grams shared by two tokens simply add). A token's share of the class scores is then
//!   fixed, so prediction computes it once per distinct token. Over 5 seeds on BANKING77,
//!   CLINC150 and HWU64 its accuracy equals `text` weighting's (within 0.1 point on average).
//! * `text` (format v1 and v2 models): counts over the whole text, exact L2 norm.
//!
//! Each group is divided by its norm and scaled by `1/sqrt(2)` when both are present (with
//! `split_norm = false` both are divided by the root of the summed squared norms).

use std::sync::atomic::{AtomicU64, Ordering};

use rustc_hash::FxHashMap;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::memory::{huge_vec, prefetch};
use crate::token_index::TokenIndex;

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
    /// How character n-grams are counted and normalised (see module docs). Models saved
    /// before this setting existed use [`CharWeighting::Text`].
    #[serde(default = "CharWeighting::legacy")]
    pub char_weighting: CharWeighting,
    /// An extra's value `2.0` is the feature of `2` (see the module docs). Models saved
    /// before this setting existed (format v4 and older) hash values as given.
    #[serde(default)]
    pub whole_number_extras: bool,
}

/// How the character group of a text is weighed (part of the model).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CharWeighting {
    /// TF-IDF over the whole text: an n-gram's count sums over all tokens, and the group is
    /// L2-normalised (model format v1 and v2).
    Text,
    /// Per distinct token: the token's n-grams are TF-IDF weighed within the token, the token
    /// vector is scaled by `1 + ln(repeats)`, and the group is the sum of the token vectors
    /// divided by the root of the sum of their squared norms. A token's contribution to the
    /// class scores is then fixed, so prediction computes it once per distinct token
    /// (model format v3).
    Token,
}

impl CharWeighting {
    fn legacy() -> Self {
        Self::Text
    }
}

impl Default for FeatureConfig {
    fn default() -> Self {
        Self {
            hash_bits: 20,
            word_ngrams: 2,
            char_ngram_min: 2,
            char_ngram_max: 4,
            split_norm: true,
            char_weighting: CharWeighting::Token,
            whole_number_extras: true,
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
    rows_tmp: Vec<u32>,
    /// Counts repeated rows of one group without sorting.
    dedup: Dedup,
    /// Kept character n-gram rows per token, for the vocabulary `cache_owner`.
    token_rows: FxHashMap<Box<[u8]>, (u32, u32)>,
    token_rows_data: Vec<u32>,
    /// [`CharWeighting::Token`]: distinct token -> index into `tok_entries`.
    tok_index: TokenIndex,
    /// [`TokenIndex::hash`] of each token of the current text.
    tok_hashes: Vec<u64>,
    pub(crate) tok_entries: Vec<TokenEntry>,
    /// The weighted `(row, value)` features of the cached tokens.
    pub(crate) tok_feats: Vec<(u32, f32)>,
    /// The cached tokens' class scores (see [`TokenEntry::scores`]).
    pub(crate) tok_scores: Vec<f32>,
    /// Zeros, as the bias when computing a token's class scores.
    pub(crate) zeros: Vec<f32>,
    /// The entries of the current text's tokens, with repeats.
    tok_ids: Vec<u32>,
    /// The current text's distinct token entries and their counts.
    pub(crate) tok_counts: Vec<(u32, f32)>,
    cache_owner: u64,
    /// Weighted features `(row, value)` of the last vectorised text.
    pub(crate) feats: Vec<(u32, f32)>,
    /// Class scores buffer for prediction.
    pub(crate) probs: Vec<f32>,
    /// With a hidden layer: the class scores and hidden pre-activations, laid out as a
    /// [`crate::classifier::FusedRows`] row; the linear scores of a linear model's token path.
    pub(crate) fused: Vec<f32>,
    /// The positive hidden activations `(unit, value)`, the hidden layer's sparse output.
    pub(crate) active: Vec<(u32, f32)>,
    /// The hidden layer's class scores.
    pub(crate) mlp_scores: Vec<f32>,
}

/// One distinct token's character group under [`CharWeighting::Token`].
#[derive(Clone, Copy, Debug)]
pub(crate) struct TokenEntry {
    /// Its `(row, value)` features: `tok_feats[start..start + len]`.
    pub(crate) start: u32,
    pub(crate) len: u32,
    /// Squared norm of those values.
    pub(crate) sq: f32,
    /// Where its class scores `Σ value · W[row]` start in `tok_scores`, followed by its
    /// hidden pre-activations `Σ value · U[row]` when the model has a hidden layer
    /// (`u32::MAX` until prediction computes them).
    pub(crate) scores: u32,
    /// The weight row of the token as a word unigram (`u32::MAX`: not kept).
    unigram_row: u32,
    /// FNV-1a state after hashing a bigram's tag, this token and the separator.
    bigram_prefix: u64,
}

/// Cached token class scores kept per thread (floats, 32 MiB) before the token cache starts
/// over.
const TOKEN_SCORES_LIMIT: usize = 8 << 20;

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
        for n in 1..=usize::from(cfg.word_ngrams) {
            if i + n > n_tok {
                break;
            }
            out.push(bucket_of(cfg, word_ngram_hash(lower, &spans[i..i + n])));
        }
    }
    for &(field, value) in extras {
        out.push(bucket_of(cfg, extra_hash(cfg, field, value)));
    }
}

/// Hash of the word n-gram made of the tokens `spans` of `lower` (tag = its length).
fn word_ngram_hash(lower: &[u8], spans: &[(usize, usize)]) -> u64 {
    let mut h = fnv1a_extend(FNV_OFFSET, &[spans.len() as u8]);
    for (k, &(a, b)) in spans.iter().enumerate() {
        if k > 0 {
            h = fnv1a_extend(h, &[SEP]);
        }
        h = fnv1a_extend(h, &lower[a..b]);
    }
    h
}

/// Hash of the structured extra `(field, value)`.
fn extra_hash(cfg: &FeatureConfig, field: &str, value: &str) -> u64 {
    let value = if cfg.whole_number_extras {
        without_zero_fraction(value)
    } else {
        value
    };
    let mut h = fnv1a_extend(FNV_OFFSET, &[TAG_EXTRA]);
    h = fnv1a_extend(h, field.as_bytes());
    h = fnv1a_extend(h, &[SEP]);
    fnv1a_extend(h, value.as_bytes())
}

/// `value` without its fraction when it is a whole number written with one (`-?[0-9]+\.0+`:
/// `2.0` -> `2`, `-10.00` -> `-10`); any other value as it is (`2.5`, `02134`, `v2.0`).
pub(crate) fn without_zero_fraction(value: &str) -> &str {
    let Some((whole, fraction)) = value.split_once('.') else {
        return value;
    };
    let digits = whole.strip_prefix('-').unwrap_or(whole);
    if !digits.is_empty()
        && digits.bytes().all(|b| b.is_ascii_digit())
        && !fraction.is_empty()
        && fraction.bytes().all(|b| b == b'0')
    {
        whole
    } else {
        value
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
#[derive(Debug)]
pub(crate) struct Vocabulary {
    /// Kept buckets, strictly increasing; a bucket's position is its weight row.
    pub(crate) buckets: Vec<u32>,
    /// IDF per row.
    pub(crate) idf: Vec<f32>,
    /// Bucket → row lookup. Not serialised.
    map: RowMap,
    /// Process-unique identity, so per-thread caches never mix vocabularies. The token cache
    /// also holds class scores, which depend on the weights next to the vocabulary: a copy
    /// gets a new identity, so no two models ever share cached scores.
    id: u64,
}

impl Clone for Vocabulary {
    fn clone(&self) -> Self {
        Self {
            buckets: self.buckets.clone(),
            idf: self.idf.clone(),
            map: self.map.clone(),
            id: NEXT_VOCAB_ID.fetch_add(1, Ordering::Relaxed),
        }
    }
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
        if cfg.char_weighting == CharWeighting::Token {
            let (n_w, n_c) = self.token_parts(cfg, text, extras, s);
            let start = s.feats.len();
            self.merge_tokens(s);
            let (kw, kc) = group_scales(cfg, n_w, n_c);
            scale(&mut s.feats[..start], kw);
            scale(&mut s.feats[start..], kc);
            return;
        }
        self.own_caches(s);
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

    /// Clears the per-thread caches of `s` when they belong to another vocabulary or are full.
    fn own_caches(&self, s: &mut Scratch) {
        if s.cache_owner != self.id
            || s.token_rows.len() >= TOKEN_CACHE_LIMIT
            || s.tok_index.len() >= TOKEN_CACHE_LIMIT
            || s.tok_scores.len() >= TOKEN_SCORES_LIMIT
        {
            s.token_rows.clear();
            s.token_rows_data.clear();
            s.tok_index.clear();
            s.tok_entries.clear();
            s.tok_feats.clear();
            s.tok_scores.clear();
            s.cache_owner = self.id;
        }
    }

    /// [`CharWeighting::Token`], the parts of a text: its weighted, unnormalised word group
    /// in `s.feats` and its distinct tokens with their counts in `s.tok_counts` (entries of
    /// the per-thread token cache). Returns the squared norms of the two groups (the
    /// character group's by definition: `Σ (1 + ln repeats)² · |token|²`).
    pub(crate) fn token_parts(
        &self,
        cfg: &FeatureConfig,
        text: &str,
        extras: &[(&str, &str)],
        s: &mut Scratch,
    ) -> (f32, f32) {
        self.own_caches(s);
        tokenize(text, &mut s.lower, &mut s.spans);
        self.resolve_tokens(cfg, s);
        self.token_word_rows(cfg, extras, s);
        s.feats.clear();
        let n_w = self.weigh_group(&s.rows, &mut s.dedup, &mut s.feats);
        s.tok_counts.clear();
        if cfg.char_ngram_min == 0 {
            return (n_w, 0.0);
        }
        s.dedup.count(&s.tok_ids, &mut s.tok_counts);
        let n_c = s
            .tok_counts
            .iter()
            .map(|&(e, k)| {
                let g = token_scale(k);
                g * g * s.tok_entries[e as usize].sq
            })
            .sum();
        (n_w, n_c)
    }

    /// Looks up each token of `s.spans` in the per-thread cache (adding the new ones: their
    /// weighed character n-grams, unigram row and bigram hash prefix) into `s.tok_ids`.
    fn resolve_tokens(&self, cfg: &FeatureConfig, s: &mut Scratch) {
        let lower = s.lower.as_bytes();
        // Hash every token and prefetch its slot first, so that the index's cache misses
        // overlap.
        s.tok_hashes.clear();
        for &(a, b) in &s.spans {
            let hash = TokenIndex::hash(&lower[a..b]);
            s.tok_index.prefetch(hash);
            s.tok_hashes.push(hash);
        }
        s.tok_ids.clear();
        for (&(a, b), &hash) in s.spans.iter().zip(&s.tok_hashes) {
            let token = &lower[a..b];
            let id = match s.tok_index.get(token, hash) {
                Some(id) => {
                    // Its bigram prefix and unigram row are read next (token_word_rows).
                    prefetch(&s.tok_entries, id as usize);
                    id
                }
                None => {
                    s.chars.clear();
                    if cfg.char_ngram_min > 0 {
                        token_char_buckets(
                            cfg,
                            token,
                            &mut s.wrapped,
                            &mut s.offsets,
                            &mut s.chars,
                        );
                    }
                    let kept = s
                        .chars
                        .iter()
                        .map(|&b| self.map.get(b))
                        .filter(|&r| r != u32::MAX);
                    s.rows_tmp.clear();
                    s.rows_tmp.extend(kept);
                    let start = s.tok_feats.len();
                    let sq = self.weigh_group(&s.rows_tmp, &mut s.dedup, &mut s.tok_feats);
                    let unigram = fnv1a_extend(fnv1a_extend(FNV_OFFSET, &[1]), token);
                    let id = s.tok_entries.len() as u32;
                    s.tok_entries.push(TokenEntry {
                        start: start as u32,
                        len: (s.tok_feats.len() - start) as u32,
                        sq,
                        scores: u32::MAX,
                        unigram_row: self.map.get(bucket_of(cfg, unigram)),
                        bigram_prefix: fnv1a_extend(
                            fnv1a_extend(fnv1a_extend(FNV_OFFSET, &[2]), token),
                            &[SEP],
                        ),
                    });
                    s.tok_index.insert(token, hash, id);
                    id
                }
            };
            s.tok_ids.push(id);
        }
    }

    /// The kept rows of the word n-grams and extras into `s.rows`, in the order of
    /// [`word_buckets`], using the resolved tokens' cached unigram rows and bigram prefixes.
    fn token_word_rows(&self, cfg: &FeatureConfig, extras: &[(&str, &str)], s: &mut Scratch) {
        let lower = s.lower.as_bytes();
        let spans = &s.spans;
        let rows = &mut s.rows;
        rows.clear();
        // Rows of unkept buckets are `u32::MAX`.
        let mut push = |row: u32| {
            if row != u32::MAX {
                rows.push(row);
            }
        };
        // First the buckets of the word n-grams (in `s.word`, `u32::MAX` for a unigram,
        // whose row the token entry holds), each map slot prefetched, then their rows: the
        // map's cache misses overlap instead of following one another.
        let buckets = &mut s.word;
        buckets.clear();
        for (i, &id) in s.tok_ids.iter().enumerate() {
            let entry = &s.tok_entries[id as usize];
            buckets.push(u32::MAX);
            if cfg.word_ngrams >= 2 && i + 1 < spans.len() {
                let (a, b) = spans[i + 1];
                buckets.push(bucket_of(
                    cfg,
                    fnv1a_extend(entry.bigram_prefix, &lower[a..b]),
                ));
            }
            if cfg.word_ngrams >= 3 && i + 2 < spans.len() {
                buckets.push(bucket_of(cfg, word_ngram_hash(lower, &spans[i..i + 3])));
            }
        }
        for &(field, value) in extras {
            buckets.push(bucket_of(cfg, extra_hash(cfg, field, value)));
        }
        for &b in buckets.iter() {
            if b != u32::MAX {
                self.map.prefetch(b);
            }
        }
        let mut tokens = s.tok_ids.iter();
        for &b in buckets.iter() {
            if b == u32::MAX {
                let id = tokens.next().expect("one unigram marker per token");
                push(s.tok_entries[*id as usize].unigram_row);
            } else {
                push(self.map.get(b));
            }
        }
    }

    /// Appends the character group of the counted tokens (`s.tok_counts`) to `s.feats`,
    /// unnormalised: the sum of the token vectors, each scaled by `1 + ln repeats`.
    fn merge_tokens(&self, s: &mut Scratch) {
        let total: usize = s
            .tok_counts
            .iter()
            .map(|&(e, _)| s.tok_entries[e as usize].len as usize)
            .sum();
        s.dedup.begin(total);
        for &(e, k) in &s.tok_counts {
            let entry = s.tok_entries[e as usize];
            let g = token_scale(k);
            for &(r, v) in &s.tok_feats[entry.start as usize..(entry.start + entry.len) as usize] {
                s.dedup.add(r, g * v, &mut s.feats);
            }
        }
    }

    /// Appends `(row, (1 + ln tf) * idf)` for the weight rows `rows` (with repeats), in order
    /// of first occurrence; returns the squared norm. Repeats are counted in a small hash
    /// table ([`Dedup`]), so this is linear in `rows.len()` (no sort).
    fn weigh_group(&self, rows: &[u32], dedup: &mut Dedup, out: &mut Vec<(u32, f32)>) -> f32 {
        for &r in rows {
            prefetch(&self.idf, r as usize);
        }
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
        self.begin(rows.len());
        for &r in rows {
            self.add(r, 1.0, out);
        }
    }

    /// Starts a new set of at most `n` additions.
    fn begin(&mut self, n: usize) {
        let need = (2 * n).max(16).next_power_of_two();
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
    }

    /// Adds `v` to the value of `r` in `out`, appending `(r, v)` the first time `r` is seen
    /// since [`Self::begin`].
    #[inline]
    fn add(&mut self, r: u32, v: f32, out: &mut Vec<(u32, f32)>) {
        let generation = self.generation;
        let mask = self.slots.len() - 1;
        let mut i = (r.wrapping_mul(0x9E37_79B1) >> self.shift) as usize;
        loop {
            let slot = &mut self.slots[i];
            if slot.1 != generation {
                *slot = (r, generation, out.len() as u32);
                out.push((r, v));
                return;
            }
            if slot.0 == r {
                out[slot.2 as usize].1 += v;
                return;
            }
            i = (i + 1) & mask;
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
            slots: huge_vec(
                1 << bits,
                std::iter::repeat_n((u32::MAX, u32::MAX), 1 << bits),
            ),
            shift: 32 - bits,
        }
    }

    /// Starts loading the home slot of `bucket` (see [`prefetch`]).
    #[inline]
    fn prefetch(&self, bucket: u32) {
        prefetch(&self.slots, self.home(bucket));
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

/// A token repeated `k` times in a text counts `1 + ln k` times.
#[inline]
pub(crate) fn token_scale(k: f32) -> f32 {
    if k == 1.0 { 1.0 } else { 1.0 + k.ln() }
}

/// The factors that normalise the word group and the character group of a vector whose
/// squared norms are `n_w` and `n_c` (see module docs); an empty group's factor is 1.
pub(crate) fn group_scales(cfg: &FeatureConfig, n_w: f32, n_c: f32) -> (f32, f32) {
    let inv = |sq: f32, extra: f32| if sq > 0.0 { extra / sq.sqrt() } else { 1.0 };
    if cfg.split_norm {
        let extra = if n_w > 0.0 && n_c > 0.0 {
            std::f32::consts::FRAC_1_SQRT_2
        } else {
            1.0
        };
        (inv(n_w, extra), inv(n_c, extra))
    } else {
        let k = inv(n_w + n_c, 1.0);
        (k, k)
    }
}

pub(crate) fn scale(feats: &mut [(u32, f32)], k: f32) {
    for f in feats {
        f.1 *= k;
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
    fn text_weighting_is_unit_norm() {
        let cfg = FeatureConfig {
            char_weighting: CharWeighting::Text,
            ..FeatureConfig::default()
        };
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

    /// The distinct buckets of `texts` (with the extra `channel=chat`), sorted.
    fn every_bucket(cfg: &FeatureConfig, texts: &[&str]) -> Vec<u32> {
        let mut s = Scratch::default();
        let mut all = Vec::new();
        for t in texts {
            raw_buckets(cfg, t, &[("channel", "chat")], &mut s);
            all.extend(s.word.iter().chain(&s.chars).copied());
        }
        all.sort_unstable();
        all.dedup();
        all
    }

    /// Raw buckets → kept rows, counted by sorting, weighed `(1 + ln tf) · idf`.
    fn weigh_reference(vocab: &Vocabulary, raw: &[u32]) -> Vec<(u32, f32)> {
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
    }

    /// The reference computation: raw buckets → rows, counted by sorting, weighted and
    /// normalised per group. `vectorize` (token cache, stamps) must give the same multiset.
    fn reference(vocab: &Vocabulary, cfg: &FeatureConfig, text: &str) -> Vec<(u32, f32)> {
        let mut s = Scratch::default();
        raw_buckets(cfg, text, &[("channel", "chat")], &mut s);
        let group = |raw: &[u32]| weigh_reference(vocab, raw);
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
        let cfg = FeatureConfig {
            char_weighting: CharWeighting::Text,
            ..FeatureConfig::default()
        };
        let texts = [
            "my card was declined twice, card declined!",
            "Declined card; refund my card",
            "ça va? çà et là",
            "",
            "card card card card",
        ];
        // Keep every second bucket seen, so some n-grams are missing from the vocabulary.
        let mut s = Scratch::default();
        let all = every_bucket(&cfg, &texts);
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

    /// [`CharWeighting::Token`] computed from its definition: per distinct token, its char
    /// n-gram rows counted within the token and weighed `(1 + ln tf) · idf`, scaled by
    /// `1 + ln repeats` and summed; the group divided by `sqrt(Σ scale² · |token|²)`.
    fn token_reference(vocab: &Vocabulary, cfg: &FeatureConfig, text: &str) -> Vec<(u32, f32)> {
        let mut s = Scratch::default();
        raw_buckets(cfg, text, &[("channel", "chat")], &mut s);
        let weigh = |raw: &[u32]| weigh_reference(vocab, raw);
        let words = weigh(&s.word);
        let mut lower = String::new();
        let mut spans = Vec::new();
        tokenize(text, &mut lower, &mut spans);
        let mut tokens: Vec<(&str, f32)> = Vec::new();
        for &(a, b) in &spans {
            match tokens.iter_mut().find(|t| t.0 == &lower[a..b]) {
                Some(t) => t.1 += 1.0,
                None => tokens.push((&lower[a..b], 1.0)),
            }
        }
        let mut chars: Vec<(u32, f32)> = Vec::new();
        let mut n_c = 0.0f32;
        for (token, k) in tokens {
            let mut buckets = Vec::new();
            let (mut wrapped, mut offsets) = (Vec::new(), Vec::new());
            if cfg.char_ngram_min > 0 {
                token_char_buckets(
                    cfg,
                    token.as_bytes(),
                    &mut wrapped,
                    &mut offsets,
                    &mut buckets,
                );
            }
            let g = 1.0 + k.ln();
            let t = weigh(&buckets);
            n_c += g * g * t.iter().map(|f| f.1 * f.1).sum::<f32>();
            for (r, v) in t {
                match chars.iter_mut().find(|f| f.0 == r) {
                    Some(f) => f.1 += g * v,
                    None => chars.push((r, g * v)),
                }
            }
        }
        let n_w: f32 = words.iter().map(|f| f.1 * f.1).sum();
        let (kw, kc) = if !cfg.split_norm {
            let k = 1.0 / (n_w + n_c).sqrt();
            (k, k)
        } else if n_w > 0.0 && n_c > 0.0 {
            let k = std::f32::consts::FRAC_1_SQRT_2;
            (k / n_w.sqrt(), k / n_c.sqrt())
        } else {
            (1.0 / n_w.sqrt(), 1.0 / n_c.sqrt())
        };
        let mut out: Vec<(u32, f32)> = words.iter().map(|f| (f.0, f.1 * kw)).collect();
        out.extend(chars.iter().map(|f| (f.0, f.1 * kc)));
        out.sort_by(|a, b| a.partial_cmp(b).unwrap());
        out
    }

    #[test]
    fn token_weighting_matches_its_definition() {
        let cfg = FeatureConfig::default();
        assert_eq!(cfg.char_weighting, CharWeighting::Token);
        let texts = [
            "my card was declined twice, card declined!",
            "Declined card; refund my card",
            "ça va? çà et là",
            "",
            "card card card card",
            "!!!",
        ];
        let mut s = Scratch::default();
        let all = every_bucket(&cfg, &texts);
        let kept: Vec<u32> = all.iter().copied().step_by(2).collect();
        let idf: Vec<f32> = (0..kept.len())
            .map(|i| 1.0 + (i % 5) as f32 / 4.0)
            .collect();
        let vocab = Vocabulary::new(cfg.hash_bits, kept, idf).unwrap();
        let variants = [
            cfg.clone(),
            FeatureConfig {
                word_ngrams: 1,
                ..cfg.clone()
            },
            FeatureConfig {
                word_ngrams: 3,
                ..cfg.clone()
            },
            FeatureConfig {
                char_ngram_min: 0,
                ..cfg.clone()
            },
            FeatureConfig {
                split_norm: false,
                ..cfg.clone()
            },
        ];
        for cfg in &variants {
            // A vocabulary always comes with one configuration: a fresh cache for each.
            let mut s = Scratch::default();
            for round in 0..2 {
                for t in texts {
                    vocab.vectorize(cfg, t, &[("channel", "chat")], &mut s);
                    let mut got = s.feats.clone();
                    got.sort_by(|a, b| a.partial_cmp(b).unwrap());
                    let want = token_reference(&vocab, cfg, t);
                    assert_eq!(got.len(), want.len(), "{cfg:?} round {round} {t:?}");
                    for (g, w) in got.iter().zip(&want) {
                        assert_eq!(g.0, w.0, "{cfg:?} {t:?}");
                        assert!((g.1 - w.1).abs() < 1e-5, "{cfg:?} {t:?}: {g:?} vs {w:?}");
                    }
                }
            }
        }
        // Tokens sharing no n-gram give a unit vector (the norm is the definition's).
        let unit = Vocabulary::new(cfg.hash_bits, all.clone(), vec![1.5; all.len()]).unwrap();
        vocab.vectorize(&cfg, "xyz", &[], &mut s);
        unit.vectorize(&cfg, "card help card", &[("channel", "chat")], &mut s);
        let norm: f32 = s.feats.iter().map(|f| f.1 * f.1).sum();
        assert!((norm - 1.0).abs() < 1e-4, "{norm}");
    }
}
