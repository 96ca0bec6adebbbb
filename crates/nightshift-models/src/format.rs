//! The model's binary format (`to_bytes` / `from_bytes`).
//!
//! All integers and floats are little-endian; strings are a `u32` byte length followed by
//! UTF-8 bytes. Version 5 (this build writes it; it also reads version 4, whose extras are
//! hashed as given, version 3, which has no hidden-layer fields, version 2, whose character
//! weighting is always `text`, and version 1, which also stored the weights as `f32` and is
//! rounded to bf16 on load):
//!
//! | Field | Type |
//! |---|---|
//! | magic | 8 bytes `NSTXTCLF` |
//! | format version | `u32` = 5 |
//! | hash_bits, word_ngrams, char_ngram_min, char_ngram_max, split_norm (0/1) | 5 × `u8` |
//! | character weighting: 0 = `text`, 1 = `token` (always 0 before version 3) | `u8` |
//! | whole-number extras (0/1; reserved, 0, before version 5) | `u8` |
//! | reserved | `u8` = 0 |
//! | temperature | `f32` (> 0) |
//! | class count `C` (≥ 2), then `C` class names | `u32`, `C` × string |
//! | parent count `P` (0 = no hierarchy), then `P` parent names | `u32`, `P` × string |
//! | if `P > 0`: parent of each class (`0xFFFFFFFF` = none) | `C` × `u32` |
//! | feature row count `R`, then the kept buckets, strictly increasing, `< 2^hash_bits` | `u32`, `R` × `u32` |
//! | IDF per row | `R` × `f32` |
//! | bias per class | `C` × `f32` |
//! | weights, row-major (`R` rows of `C`), as bfloat16: the upper 16 bits of an IEEE `f32` | `R·C` × `u16` |
//! | hidden units `H` (0 = linear model only; absent before version 4) | `u32` |
//! | if `H > 0`: hidden biases `c` | `H` × `f32` |
//! | if `H > 0`: input layer `U`, row-major (`R` rows of `H`), bfloat16 | `R·H` × `u16` |
//! | if `H > 0`: output layer `V`, row-major (`H` rows of `C`), bfloat16 | `H·C` × `u16` |
//! | if `H > 0`: output biases `d` | `C` × `f32` |
//! | hyper-parameters as a JSON document | string |
//! | checksum: 64-bit FNV-1a of every preceding byte | `u64` |
//!
//! Feature hashing (how a text becomes buckets) is specified in [`crate::features`] and is
//! part of this format. With a hidden layer the model's logits are
//! `½·((W·x + b) + (V·relu(U·x + c) + d))`, divided by the temperature.
//! Readers validate every size against the remaining bytes before
//! allocating, so truncated or corrupted input yields an [`Error`], never a panic.

use crate::classifier::{HiddenLayer, TextClassifier, bf16_flush_subnormal, bf16_from_f32};
use crate::error::{Error, Result};
use crate::features::{CharWeighting, FeatureConfig, Vocabulary, fnv1a};
use crate::hierarchy::{Hierarchy, NO_PARENT};
use crate::memory::huge_vec;

/// First eight bytes of every model.
pub const MAGIC: &[u8; 8] = b"NSTXTCLF";
/// Format version written by this build.
pub const FORMAT_VERSION: u32 = 5;
/// Oldest format version this build reads.
pub const OLDEST_READABLE_VERSION: u32 = 1;

struct Writer(Vec<u8>);

impl Writer {
    fn u32(&mut self, v: u32) {
        self.0.extend_from_slice(&v.to_le_bytes());
    }
    fn f32s(&mut self, v: &[f32]) {
        self.0.reserve(v.len() * 4);
        for x in v {
            self.0.extend_from_slice(&x.to_le_bytes());
        }
    }
    fn u16s(&mut self, v: &[u16]) {
        self.0.reserve(v.len() * 2);
        for x in v {
            self.0.extend_from_slice(&x.to_le_bytes());
        }
    }
    fn str(&mut self, s: &str) {
        self.u32(s.len() as u32);
        self.0.extend_from_slice(s.as_bytes());
    }
}

struct Reader<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8]> {
        let remaining = self.bytes.len() - self.pos;
        if n > remaining {
            return Err(Error::Truncated {
                offset: self.pos,
                needed: n - remaining,
            });
        }
        let s = &self.bytes[self.pos..self.pos + n];
        self.pos += n;
        Ok(s)
    }
    fn u32(&mut self) -> Result<u32> {
        let b = self.take(4)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }
    fn f32(&mut self) -> Result<f32> {
        Ok(f32::from_bits(self.u32()?))
    }
    /// A count of items of `item_size` bytes each that must fit in the remaining bytes.
    fn count(&mut self, item_size: usize, what: &str) -> Result<usize> {
        let at = self.pos;
        let n = self.u32()? as usize;
        let remaining = self.bytes.len() - self.pos;
        if n.saturating_mul(item_size.max(1)) > remaining {
            return Err(Error::Corrupt(format!(
                "{what} count {n} at offset {at} exceeds the remaining {remaining} bytes"
            )));
        }
        Ok(n)
    }
    fn u32s(&mut self, n: usize) -> Result<Vec<u32>> {
        Ok(self
            .take(n.saturating_mul(4))?
            .chunks_exact(4)
            .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect())
    }
    fn f32s(&mut self, n: usize) -> Result<Vec<f32>> {
        Ok(self.u32s(n)?.into_iter().map(f32::from_bits).collect())
    }
    /// `n` bfloat16 weights, subnormal ones flushed to zero ([`bf16_flush_subnormal`]: models
    /// saved before that was done at training hold some).
    fn bf16_weights(&mut self, n: usize) -> Result<Vec<u16>> {
        let bytes = self.take(n.saturating_mul(2))?;
        Ok(huge_vec(
            n,
            bytes
                .chunks_exact(2)
                .map(|b| bf16_flush_subnormal(u16::from_le_bytes([b[0], b[1]]))),
        ))
    }
    fn string(&mut self) -> Result<String> {
        let n = self.count(1, "string byte")?;
        let at = self.pos;
        let b = self.take(n)?;
        std::str::from_utf8(b)
            .map(str::to_owned)
            .map_err(|_| Error::Corrupt(format!("invalid UTF-8 in string at offset {at}")))
    }
    fn strings(&mut self, what: &str) -> Result<Vec<String>> {
        let n = self.count(4, what)?;
        (0..n).map(|_| self.string()).collect()
    }
}

impl TextClassifier {
    /// Serialises the model in the documented little-endian format (see [`crate::format`]).
    /// `from_bytes(&m.to_bytes())` gives a model with identical predictions.
    pub fn to_bytes(&self) -> Vec<u8> {
        let c = self.labels.len();
        let width = self.hidden.as_ref().map_or(0, |h| h.width);
        let mut w = Writer(Vec::with_capacity(
            64 + 2 * self.vocab.len() * (c + width) + 8 * self.vocab.len() + 2 * width * c,
        ));
        w.0.extend_from_slice(MAGIC);
        w.u32(FORMAT_VERSION);
        let f = &self.features;
        w.0.extend_from_slice(&[
            f.hash_bits,
            f.word_ngrams,
            f.char_ngram_min,
            f.char_ngram_max,
            u8::from(f.split_norm),
            match f.char_weighting {
                CharWeighting::Text => 0,
                CharWeighting::Token => 1,
            },
            u8::from(f.whole_number_extras),
            0,
        ]);
        w.f32s(&[self.temperature]);
        w.u32(c as u32);
        for l in &self.labels {
            w.str(l);
        }
        match &self.hierarchy {
            Some(h) => {
                w.u32(h.parents.len() as u32);
                for p in &h.parents {
                    w.str(p);
                }
                for &p in &h.child_parent {
                    w.u32(p);
                }
            }
            None => w.u32(0),
        }
        w.u32(self.vocab.len() as u32);
        for &b in &self.vocab.buckets {
            w.u32(b);
        }
        w.f32s(&self.vocab.idf);
        w.f32s(&self.bias);
        w.u16s(&self.rows.linear());
        match &self.hidden {
            Some(h) => {
                w.u32(h.width as u32);
                w.f32s(&h.input_bias);
                w.u16s(&self.rows.hidden_input());
                w.u16s(&h.output);
                w.f32s(&h.output_bias);
            }
            None => w.u32(0),
        }
        w.str(&self.hyperparameters.to_string());
        let sum = fnv1a(&w.0);
        w.0.extend_from_slice(&sum.to_le_bytes());
        w.0
    }

    /// Parses bytes written by [`TextClassifier::to_bytes`]. Rejects wrong magic, unknown
    /// versions, truncation, inconsistent sizes and any altered byte (checksum) with an
    /// [`Error`]; never panics.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self> {
        Self::parse(bytes, true)
    }

    /// [`TextClassifier::from_bytes`] without the format's own checksum (FNV-1a over every
    /// byte, one byte at a time: ~50 ms for a 37 MB model), for bytes whose integrity the
    /// caller checks with a stronger sum of its own — a model bundle's SHA-256, which can run
    /// on another core meanwhile. Everything else is checked as in `from_bytes`, so altered
    /// bytes still never panic: at worst they give a wrong model, which that caller's check
    /// then rejects.
    pub fn from_bytes_checked_elsewhere(bytes: &[u8]) -> Result<Self> {
        Self::parse(bytes, false)
    }

    fn parse(bytes: &[u8], verify_sum: bool) -> Result<Self> {
        let mut r = Reader { bytes, pos: 0 };
        if r.take(MAGIC.len())? != MAGIC {
            return Err(Error::BadMagic);
        }
        let version = r.u32()?;
        if !(OLDEST_READABLE_VERSION..=FORMAT_VERSION).contains(&version) {
            return Err(Error::UnsupportedVersion {
                found: version,
                supported: FORMAT_VERSION,
            });
        }
        let h = r.take(8)?;
        let features = FeatureConfig {
            hash_bits: h[0],
            word_ngrams: h[1],
            char_ngram_min: h[2],
            char_ngram_max: h[3],
            split_norm: match h[4] {
                0 => false,
                1 => true,
                v => return Err(Error::Corrupt(format!("split_norm flag {v} is not 0 or 1"))),
            },
            char_weighting: match h[5] {
                0 => CharWeighting::Text,
                1 if version >= 3 => CharWeighting::Token,
                v => {
                    return Err(Error::Corrupt(format!(
                        "character weighting {v} is unknown in format version {version}"
                    )));
                }
            },
            whole_number_extras: match h[6] {
                _ if version < 5 => false,
                0 => false,
                1 => true,
                v => {
                    return Err(Error::Corrupt(format!(
                        "whole-number extras flag {v} is not 0 or 1"
                    )));
                }
            },
        };
        features
            .validate()
            .map_err(|e| Error::Corrupt(format!("feature settings: {e}")))?;
        let temperature = r.f32()?;
        if !(temperature.is_finite() && temperature > 0.0) {
            return Err(Error::Corrupt(format!(
                "temperature {temperature} is not > 0"
            )));
        }
        let labels = r.strings("class")?;
        let c = labels.len();
        if c < 2 {
            return Err(Error::Corrupt(format!("{c} classes; at least 2 expected")));
        }
        let parents = r.strings("parent")?;
        let hierarchy = if parents.is_empty() {
            None
        } else {
            let child_parent = r.u32s(c)?;
            if let Some(bad) = child_parent
                .iter()
                .find(|&&p| p != NO_PARENT && p as usize >= parents.len())
            {
                return Err(Error::Corrupt(format!("parent index {bad} out of range")));
            }
            Some(Hierarchy {
                parents,
                child_parent,
            })
        };
        let rows = r.count(8, "feature row")?;
        let buckets = r.u32s(rows)?;
        let idf = r.f32s(rows)?;
        let bias = r.f32s(c)?;
        let n_weights = rows
            .checked_mul(c)
            .ok_or_else(|| Error::Corrupt("weight matrix size overflows".into()))?;
        let weights = if version == 1 {
            r.f32s(n_weights)?.into_iter().map(bf16_from_f32).collect()
        } else {
            r.bf16_weights(n_weights)?
        };
        let hidden = if version >= 4 {
            read_hidden(&mut r, rows, c)?
        } else {
            None
        };
        let hp = r.string()?;
        let hyperparameters: serde_json::Value = serde_json::from_str(&hp)
            .map_err(|e| Error::Corrupt(format!("hyper-parameters are not JSON: {e}")))?;
        let body_end = r.pos;
        let stored = r.take(8)?;
        let stored = u64::from_le_bytes([
            stored[0], stored[1], stored[2], stored[3], stored[4], stored[5], stored[6], stored[7],
        ]);
        if r.pos != bytes.len() {
            return Err(Error::Corrupt(format!(
                "{} unexpected trailing byte(s)",
                bytes.len() - r.pos
            )));
        }
        if verify_sum && fnv1a(&bytes[..body_end]) != stored {
            return Err(Error::ChecksumMismatch);
        }
        let vocab = Vocabulary::new(features.hash_bits, buckets, idf)?;
        Ok(Self::new(
            features,
            vocab,
            labels,
            hierarchy,
            weights,
            bias,
            hidden,
            temperature,
            hyperparameters,
        ))
    }
}

/// The hidden-layer fields of a version-4 model (`None` when `H = 0`).
fn read_hidden(
    r: &mut Reader<'_>,
    rows: usize,
    c: usize,
) -> Result<Option<(HiddenLayer, Vec<u16>)>> {
    let at = r.pos;
    let width = r.u32()? as usize;
    if width == 0 {
        return Ok(None);
    }
    if width > crate::train::MAX_HIDDEN {
        return Err(Error::Corrupt(format!(
            "hidden width {width} at offset {at} exceeds {}",
            crate::train::MAX_HIDDEN
        )));
    }
    let n_input = rows
        .checked_mul(width)
        .ok_or_else(|| Error::Corrupt("hidden layer size overflows".into()))?;
    let input_bias = r.f32s(width)?;
    let input = r.bf16_weights(n_input)?;
    let output = r.bf16_weights(width * c)?;
    let output_bias = r.f32s(c)?;
    Ok(Some((
        HiddenLayer::new(width, input_bias, output, output_bias),
        input,
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stored_subnormal_weights_load_as_zeros() {
        // 0x0001 (subnormal), 0x0080 (smallest normal), 0x8001 (negative subnormal), 0x3F80 (1.0).
        let bytes = [0x01, 0x00, 0x80, 0x00, 0x01, 0x80, 0x80, 0x3F];
        let mut r = Reader {
            bytes: &bytes,
            pos: 0,
        };
        let weights = r.bf16_weights(4).expect("four weights");
        assert_eq!(weights, vec![0x0000, 0x0080, 0x8000, 0x3F80]);
        assert!(r.bf16_weights(1).is_err(), "nothing left");
    }
}
