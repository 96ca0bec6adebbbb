//! The trained model: hashed TF-IDF features → softmax regression → temperature-scaled
//! probabilities, with an optional consistent parent prediction. Training lives in
//! [`mod@crate::train`], the byte format in [`crate::format`].

use rayon::prelude::*;

use crate::features::{
    CharWeighting, FeatureConfig, Scratch, Vocabulary, group_scales, scale, token_scale,
};
use crate::hierarchy::Hierarchy;
use crate::memory::huge_vec;

/// One row to classify: free text plus optional structured `(field, value)` pairs, which
/// must be spelled as in training (they are hashed as given).
#[derive(Clone, Copy, Debug, Default)]
pub struct Input<'a> {
    /// Free text (any length, any Unicode).
    pub text: &'a str,
    /// Structured fields, e.g. `("channel", "chat")`.
    pub extras: &'a [(&'a str, &'a str)],
}

impl<'a> Input<'a> {
    /// Text-only input.
    pub fn text(text: &'a str) -> Self {
        Self { text, extras: &[] }
    }
}

/// The model's answer for one input.
///
/// Guarantees: `label` is the arg-max class (lowest index on ties) and `confidence` its
/// calibrated probability; `top_k` holds the `min(k, classes)` most probable classes in
/// decreasing probability; when the model has a hierarchy, `parent == parent_of(label)` and
/// `parent_confidence` is the summed probability of all children of that parent.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Prediction {
    /// Predicted (child) class index into [`TextClassifier::labels`].
    pub label: u32,
    /// Calibrated probability of `label`.
    pub confidence: f32,
    /// `(class, probability)` pairs, most probable first.
    pub top_k: Vec<(u32, f32)>,
    /// Parent of `label`, index into [`TextClassifier::parents`].
    pub parent: Option<u32>,
    /// Sum of the probabilities of the children of `parent`.
    pub parent_confidence: Option<f32>,
}

/// The answers for a batch of inputs, column by column ([`TextClassifier::predict_columns`]):
/// the same values as a [`Prediction`] per row, with no allocation per row.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Predictions {
    /// [`Prediction::label`] of each row.
    pub label: Vec<u32>,
    /// [`Prediction::confidence`] of each row.
    pub confidence: Vec<f32>,
    /// [`Prediction::parent`] of each row.
    pub parent: Vec<Option<u32>>,
    /// [`Prediction::parent_confidence`] of each row.
    pub parent_confidence: Vec<Option<f32>>,
    /// `(class, probability)` pairs per row, most probable first: [`Self::k`] of them per
    /// row, row `i`'s at `top_k[i * k..(i + 1) * k]`.
    pub top_k: Vec<(u32, f32)>,
    /// Pairs per row in `top_k`: the `top_k` asked for, at most the number of classes.
    pub k: usize,
}

impl Predictions {
    /// Row `i`'s `top_k` pairs.
    pub fn top_k_of(&self, i: usize) -> &[(u32, f32)] {
        &self.top_k[i * self.k..(i + 1) * self.k]
    }
}

/// A trained multinomial logistic-regression text classifier.
///
/// Immutable and `Sync`: share it across threads freely. Predictions are deterministic and
/// do not depend on the number of threads.
#[derive(Clone, Debug)]
pub struct TextClassifier {
    pub(crate) features: FeatureConfig,
    pub(crate) vocab: Vocabulary,
    pub(crate) labels: Vec<String>,
    pub(crate) hierarchy: Option<Hierarchy>,
    /// The weight rows of the features: the linear model's, and the hidden layer's input
    /// rows beside them when it has one.
    pub(crate) rows: Rows,
    pub(crate) bias: Vec<f32>,
    /// Optional hidden layer whose logits are averaged with the linear model's (its input
    /// rows `U` are in [`Self::rows`]).
    pub(crate) hidden: Option<HiddenLayer>,
    pub(crate) temperature: f32,
    pub(crate) hyperparameters: serde_json::Value,
}

/// A one-hidden-layer ReLU network on the same sparse features as the linear model:
/// `z = V·relu(U·x + c) + d`. Its logits are averaged with the linear model's
/// ([`mix_logits`]): the combination is more accurate than either model alone.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct HiddenLayer {
    /// Hidden units `H`.
    pub(crate) width: usize,
    /// `c`: `H` biases. (`U`, feature rows × `H`, is in [`TextClassifier::rows`].)
    pub(crate) input_bias: Vec<f32>,
    /// `V`: `H` rows × classes, row-major, bfloat16 bits.
    pub(crate) output: Vec<u16>,
    /// `d`: class biases.
    pub(crate) output_bias: Vec<f32>,
    /// `V` widened to `f32` at load (small enough to stay in cache), each row padded with
    /// zeros to [`padded`] classes: the output layer then needs no widening per multiply,
    /// and its rows are whole vectors (27 classes would leave a 3-lane scalar tail on every
    /// row; the padding lanes compute zeros that are never read). Derived, not stored.
    pub(crate) output_wide: Vec<f32>,
    /// `d` padded with zeros like the rows of `output_wide`.
    pub(crate) output_bias_wide: Vec<f32>,
}

/// The weight rows prediction reads, as bfloat16 bits ([`bf16_from_f32`]): half the memory
/// traffic of `f32`, which is what bounds prediction speed.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Rows {
    /// A linear model's `W`: `vocab.len() × labels.len()`, row-major.
    Linear(Vec<u16>),
    /// With a hidden layer: `W` and `U` side by side.
    Fused(FusedRows),
}

impl Rows {
    /// A linear model's `W` (`C` values per feature row), or with a hidden layer `W` and its
    /// input rows `U` (`H` values per feature row) side by side.
    pub(crate) fn new(
        weights: Vec<u16>,
        bias: &[f32],
        hidden: Option<(usize, &[u16], &[f32])>,
    ) -> Self {
        match hidden {
            None => Self::Linear(weights),
            Some((width, input, input_bias)) => {
                Self::Fused(FusedRows::new(&weights, bias, width, input, input_bias))
            }
        }
    }

    /// `W` as stored: `C` values per feature row.
    pub(crate) fn linear(&self) -> std::borrow::Cow<'_, [u16]> {
        match self {
            Self::Linear(w) => w.into(),
            Self::Fused(f) => f.columns(0, f.classes).into(),
        }
    }

    /// `U` as stored: `H` values per feature row (empty without a hidden layer).
    pub(crate) fn hidden_input(&self) -> Vec<u16> {
        match self {
            Self::Linear(_) => Vec::new(),
            Self::Fused(f) => f.columns(f.hidden_at, f.width),
        }
    }
}

/// The linear model's weight row and the hidden layer's input row of each feature side by
/// side, `[W[row] | 0 | U[row] | 0]`, each row a whole number of 64-byte cache lines and
/// starting on one. A text's features are scattered over tens of megabytes, so prediction
/// is bound by the cache misses of reading their rows: one contiguous row per feature (5
/// lines for 27 classes and 128 units) instead of one in each matrix halves the scattered
/// reads and lets the hardware fetch a row's lines together (`models eval` on the
/// end-to-end benchmark's 1M texts, one thread: ~10% less CPU). Every output lane is still its own
/// chain of fused multiply-adds in feature order, so the scores are the same bits as with
/// the two matrices apart; the padding lanes compute zeros nobody reads.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct FusedRows {
    /// `C`.
    classes: usize,
    /// `padded(C)`: where the hidden lanes start.
    pub(crate) hidden_at: usize,
    /// `H`.
    width: usize,
    /// The rows, `bias.len()` values each.
    lines: Vec<CacheLine>,
    /// `[b | 0 | c | 0]`: both biases, laid out like a row.
    pub(crate) bias: Vec<f32>,
    /// As many zeros (the bias of a token's cached scores).
    pub(crate) zeros: Vec<f32>,
}

/// 32 bfloat16 values on a 64-byte boundary.
#[derive(Clone, Copy, Debug, PartialEq)]
#[repr(C, align(64))]
struct CacheLine([u16; 32]);

impl FusedRows {
    fn new(weights: &[u16], bias: &[f32], width: usize, input: &[u16], input_bias: &[f32]) -> Self {
        let c = bias.len();
        let cp = padded(c);
        let stride = (cp + width).next_multiple_of(32);
        let n = weights.len() / c.max(1);
        // Zeroed lines, then each feature's two parts copied in whole: a value-by-value
        // iterator here took a tenth of a second for a 30 MB model, on every load.
        let mut lines = huge_vec(
            n * stride / 32,
            std::iter::repeat_n(CacheLine([0; 32]), n * stride / 32),
        );
        // SAFETY: as in `rows`: `CacheLine` is `repr(C)` around `[u16; 32]` with no padding.
        let values = unsafe {
            std::slice::from_raw_parts_mut(lines.as_mut_ptr().cast::<u16>(), 32 * lines.len())
        };
        for ((row, w), u) in values
            .chunks_exact_mut(stride)
            .zip(weights.chunks_exact(c))
            .zip(input.chunks_exact(width))
        {
            row[..c].copy_from_slice(w);
            row[cp..cp + width].copy_from_slice(u);
        }
        let mut fused_bias = bias.to_vec();
        fused_bias.resize(cp, 0.0);
        fused_bias.extend_from_slice(input_bias);
        fused_bias.resize(stride, 0.0);
        Self {
            classes: c,
            hidden_at: cp,
            width,
            lines,
            bias: fused_bias,
            zeros: vec![0.0; stride],
        }
    }

    /// The rows as one slice of `bias.len()` values per feature row.
    pub(crate) fn rows(&self) -> &[u16] {
        // SAFETY: `CacheLine` is `repr(C)` around `[u16; 32]`, 64 bytes with no padding, so
        // `lines` holds `32 · len` initialised, suitably aligned `u16`s.
        unsafe {
            std::slice::from_raw_parts(self.lines.as_ptr().cast::<u16>(), 32 * self.lines.len())
        }
    }

    /// Values `at..at + n` of every row, row after row.
    fn columns(&self, at: usize, n: usize) -> Vec<u16> {
        self.rows()
            .chunks_exact(self.bias.len())
            .flat_map(|row| &row[at..at + n])
            .copied()
            .collect()
    }
}

/// `classes` rounded up to a whole number of 8-lane vectors.
pub(crate) fn padded(classes: usize) -> usize {
    classes.next_multiple_of(8)
}

impl HiddenLayer {
    pub(crate) fn new(
        width: usize,
        input_bias: Vec<f32>,
        output: Vec<u16>,
        output_bias: Vec<f32>,
    ) -> Self {
        let c = output_bias.len();
        let cp = padded(c);
        let mut output_wide = vec![0.0; width * cp];
        for (wide, row) in output_wide.chunks_exact_mut(cp).zip(output.chunks_exact(c)) {
            for (w, &b) in wide.iter_mut().zip(row) {
                *w = f32_from_bf16(b);
            }
        }
        let mut output_bias_wide = output_bias.clone();
        output_bias_wide.resize(cp, 0.0);
        Self {
            width,
            input_bias,
            output,
            output_bias,
            output_wide,
            output_bias_wide,
        }
    }
}

/// The positive entries of the hidden pre-activations `a` as sparse `(unit, value)` pairs:
/// ReLU, in the shape the linear kernels take.
#[inline]
pub(crate) fn relu_sparse(a: &[f32], out: &mut Vec<(u32, f32)>) {
    // Branch-free compaction: about half the units are active, at random, so a branch per
    // unit would be mispredicted half the time.
    out.clear();
    out.resize(a.len(), (0, 0.0));
    let mut n = 0;
    for (j, &v) in a.iter().enumerate() {
        out[n] = (j as u32, v);
        n += usize::from(v > 0.0);
    }
    out.truncate(n);
}

/// `linear = ½·(linear + mlp)`: the mean of the two models' logits, whose softmax is the
/// normalised geometric mean of their probabilities (a product of experts; each model's
/// log-normaliser is a per-row constant, which softmax ignores). On the `bench/` intent
/// sets it is as accurate as the arithmetic mean of the probabilities on CLINC150 and
/// 0.1-0.2 point better on BANKING77 and HWU64, and it needs no `exp`/`ln` per class.
#[inline]
pub(crate) fn mix_logits(linear: &mut [f32], mlp: &[f32]) {
    for (l, &m) in linear.iter_mut().zip(mlp) {
        *l = 0.5 * (*l + m);
    }
}

thread_local! {
    /// Per-thread feature buffers and token cache for [`TextClassifier::predict_batch`].
    static THREAD_SCRATCH: std::cell::RefCell<Scratch> = std::cell::RefCell::new(Scratch::default());
}

/// Rows per parallel work unit in [`TextClassifier::predict_batch`].
const PREDICT_CHUNK: usize = 256;

/// Rounds `x` to the nearest bfloat16 (ties to even) and returns its bits: the upper half of
/// an IEEE `f32`, with a subnormal result flushed to zero ([`bf16_flush_subnormal`]).
/// Weights are finite and far from the `f32` range limits.
#[inline]
pub(crate) fn bf16_from_f32(x: f32) -> u16 {
    let bits = x.to_bits();
    let lsb = (bits >> 16) & 1;
    bf16_flush_subnormal((bits.wrapping_add(0x7FFF + lsb) >> 16) as u16)
}

/// A weight's bfloat16 bits with a subnormal value (magnitude below 2^-126) replaced by a zero
/// of the same sign. Rows that training rarely touched decay towards zero (L2) and some end
/// up subnormal; they change no score (each product is far below the rounding of the sums
/// it joins), but on many x86-64 CPUs every multiply-add with a subnormal operand takes a
/// microcode assist of a hundred cycles or more: a BANKING77 model with 3% of subnormal
/// weights predicted 2.8x slower on such a CPU. Applied to new models as they are rounded
/// and to every model as it is loaded, so predictions are the same on every CPU.
#[inline]
pub(crate) fn bf16_flush_subnormal(b: u16) -> u16 {
    if b & 0x7F80 == 0 { b & 0x8000 } else { b }
}

/// The `f32` value of bfloat16 bits (exact).
#[inline(always)]
pub(crate) fn f32_from_bf16(b: u16) -> f32 {
    f32::from_bits(u32::from(b) << 16)
}

/// Whether the kernels take AVX-512 lanes (16 `f32`) rather than AVX2's 8: the CPU has
/// AVX-512F and `NIGHTSHIFT_SIMD` is not `avx2` (set it to compare the two, or on a CPU that
/// lowers its clock for 512-bit instructions). Either way every lane computes the same
/// operations in the same order, so the results are the same bits. Checked once.
#[cfg(target_arch = "x86_64")]
#[inline]
pub(crate) fn use_avx512() -> bool {
    static USE: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *USE.get_or_init(|| {
        std::arch::is_x86_feature_detected!("avx512f")
            && std::arch::is_x86_feature_detected!("fma")
            && !simd_limited_to_avx2(std::env::var_os("NIGHTSHIFT_SIMD").as_deref())
    })
}

/// Whether a `NIGHTSHIFT_SIMD` value asks for AVX2 at most (`avx2`, in any case, spaces
/// around it allowed).
#[cfg(target_arch = "x86_64")]
fn simd_limited_to_avx2(value: Option<&std::ffi::OsStr>) -> bool {
    value
        .and_then(|v| v.to_str())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("avx2"))
}

/// Defines the kernel `$name` and its baseline build `$baseline` from one body: `$name` runs
/// the body compiled for AVX-512 or AVX2 when the CPU has it ([`use_avx512`]), `$baseline`
/// as compiled for the target.
/// For the training kernels: they keep separate multiplies and adds (Rust never fuses them)
/// and IEEE-exact square roots and divisions, each lane in the same order, so every build
/// gives the same bits; AVX2 and AVX-512 only make the lanes wider.
macro_rules! avx2_or_baseline {
    (
        $(#[$meta:meta])*
        $vis:vis fn $name:ident / $baseline:ident ($($arg:ident : $ty:ty),* $(,)?) $body:block
    ) => {
        $(#[$meta])*
        #[inline]
        #[allow(clippy::too_many_arguments)]
        $vis fn $name($($arg: $ty),*) {
            #[cfg(target_arch = "x86_64")]
            {
                #[target_feature(enable = "avx512f")]
                #[allow(clippy::too_many_arguments)]
                fn widest($($arg: $ty),*) {
                    $baseline($($arg),*)
                }
                #[target_feature(enable = "avx2")]
                #[allow(clippy::too_many_arguments)]
                fn wide($($arg: $ty),*) {
                    $baseline($($arg),*)
                }
                if $crate::classifier::use_avx512() {
                    // SAFETY: the CPU supports AVX-512F (checked by `use_avx512`).
                    return unsafe { widest($($arg),*) };
                }
                if std::arch::is_x86_feature_detected!("avx2") {
                    // SAFETY: the CPU supports AVX2 (checked just above).
                    return unsafe { wide($($arg),*) };
                }
            }
            $baseline($($arg),*)
        }

        /// The baseline build of the kernel of the same name without the suffix.
        #[inline(always)]
        #[allow(clippy::too_many_arguments)]
        $vis fn $baseline($($arg: $ty),*) $body
    };
}
pub(crate) use avx2_or_baseline;

avx2_or_baseline! {
    /// `out = bias + Σ v · W[row]` for sparse features (training, `f32` weights): features
    /// taken four at a time as `out += (v0·w0 + v1·w1) + (v2·w2 + v3·w3)` (a fixed order, so
    /// results are deterministic; four rows per pass over `out` quarter its loads and stores),
    /// then the rest one by one; without fused multiply-add.
    pub(crate) fn linear_scores / linear_scores_baseline(
        weights: &[f32],
        bias: &[f32],
        feats: &[(u32, f32)],
        out: &mut [f32],
    ) {
        let c = bias.len();
        out.copy_from_slice(bias);
        let row = |r: u32| {
            let start = r as usize * c;
            &weights[start..start + c]
        };
        let mut groups = feats.chunks_exact(4);
        for q in groups.by_ref() {
            let (w0, w1, w2, w3) = (row(q[0].0), row(q[1].0), row(q[2].0), row(q[3].0));
            let (v0, v1, v2, v3) = (q[0].1, q[1].1, q[2].1, q[3].1);
            for ((((o, &a), &b), &x), &y) in out.iter_mut().zip(w0).zip(w1).zip(w2).zip(w3) {
                *o += (v0 * a + v1 * b) + (v2 * x + v3 * y);
            }
        }
        for &(r, v) in groups.remainder() {
            for (o, &w) in out.iter_mut().zip(row(r)) {
                *o += v * w;
            }
        }
    }
}

/// The prediction kernel: `out = bias + Σ v · widen(W[row])` with each class accumulated by
/// a chain of fused multiply-adds in feature order (`o = v·w + o`, one rounding per
/// feature), four rows per pass over `out`. Fused multiply-add is exactly specified by IEEE
/// 754, so the AVX2+FMA path and the portable path ([`portable_fma`]) give the same bits on
/// every CPU; AVX2 only widens the lanes across classes. (Training keeps separate multiply
/// and add in [`linear_scores`]: its `f32` scores are not compared bit for bit with these.)
#[inline(always)]
fn accumulate_fused<W: Copy>(
    weights: &[W],
    bias: &[f32],
    feats: &[(u32, f32)],
    out: &mut [f32],
    widen: impl Fn(W) -> f32 + Copy,
    fma: impl Fn(f32, f32, f32) -> f32 + Copy,
    mut before_group: impl FnMut(usize),
) {
    let c = bias.len();
    out.copy_from_slice(bias);
    let row = |r: u32| {
        let start = r as usize * c;
        &weights[start..start + c]
    };
    let mut groups = feats.chunks_exact(4);
    for (g, q) in groups.by_ref().enumerate() {
        before_group(4 * g);
        let (w0, w1, w2, w3) = (row(q[0].0), row(q[1].0), row(q[2].0), row(q[3].0));
        let (v0, v1, v2, v3) = (q[0].1, q[1].1, q[2].1, q[3].1);
        for ((((o, &a), &b), &x), &y) in out.iter_mut().zip(w0).zip(w1).zip(w2).zip(w3) {
            let t = fma(v0, widen(a), *o);
            let t = fma(v1, widen(b), t);
            let t = fma(v2, widen(x), t);
            *o = fma(v3, widen(y), t);
        }
    }
    for &(r, v) in groups.remainder() {
        for (o, &w) in out.iter_mut().zip(row(r)) {
            *o = fma(v, widen(w), *o);
        }
    }
}

/// `a·b + c` rounded once, for the portable kernels. On x86-64 they run only on CPUs without
/// FMA (before 2013, some low-power cores, some virtual CPU models), where [`f32::mul_add`]
/// would be a call into the C library's software `fmaf` per element, so the fused result is
/// computed in `f64` instead ([`fma_via_f64`]): predictions stay bit-identical to an FMA
/// CPU's, at 2-6x less speed (measured by forcing this path: 2.2x for a linear model, 5.7x
/// with a hidden layer). Elsewhere (aarch64 always has FMA) it is [`f32::mul_add`].
#[inline(always)]
fn portable_fma(a: f32, b: f32, c: f32) -> f32 {
    #[cfg(target_arch = "x86_64")]
    {
        fma_via_f64(a, b, c)
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        a.mul_add(b, c)
    }
}

/// `a·b + c` correctly rounded to `f32` (exactly [`f32::mul_add`]) with `f64` arithmetic:
/// the product of two `f32` is exact in `f64` (24 + 24 bits); the `f64` sum is rounded to
/// odd (its exact error, from TwoSum, says which neighbour is odd), and a sum rounded to odd
/// in 53 bits rounds to 24 bits exactly as the exact sum would (Boldo & Melquiond, "Emulation
/// of FMA and correctly rounded sums: proved algorithms using rounding to odd", 2008).
/// For finite inputs whose result does not overflow (model weights and features).
#[inline(always)]
fn fma_via_f64(a: f32, b: f32, c: f32) -> f32 {
    let p = f64::from(a) * f64::from(b);
    let c = f64::from(c);
    let s = p + c;
    // TwoSum: s + e == p + c exactly.
    let t = s - p;
    let e = (p - (s - t)) + (c - t);
    // Inexact with an even last bit: the odd neighbour is one ulp towards the exact sum (s
    // is not 0 then: a sum that rounds to 0 is exact).
    let bits = s.to_bits();
    let step: u64 = if (e > 0.0) == (s > 0.0) { 1 } else { u64::MAX };
    let fix = (e != 0.0) & (bits & 1 == 0);
    f64::from_bits(bits.wrapping_add(if fix { step } else { 0 })) as f32
}

/// Whether this CPU takes the AVX2+FMA prediction kernels (checked once, cached by std).
#[cfg(target_arch = "x86_64")]
#[inline(always)]
fn has_avx2_fma() -> bool {
    std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma")
}

/// Calls `$widest` (compiled for AVX-512) when [`use_avx512`], `$fast` (compiled for AVX2 +
/// FMA) when this CPU has both, `$portable` otherwise, with the same arguments; all three
/// must compute the same bits.
macro_rules! dispatch {
    ($widest:ident, $fast:ident, $portable:ident, ($($arg:expr),*)) => {{
        #[cfg(target_arch = "x86_64")]
        {
            if use_avx512() {
                // SAFETY: the CPU supports AVX-512F and FMA (checked by `use_avx512`).
                return unsafe { $widest($($arg),*) };
            }
            if has_avx2_fma() {
                // SAFETY: the CPU supports AVX2 and FMA (checked just above).
                return unsafe { $fast($($arg),*) };
            }
        }
        $portable($($arg),*)
    }};
}

/// `out = bias + Σ v · W[row]` with bfloat16 weights (prediction; see
/// [`accumulate_fused`] for the arithmetic, identical on every CPU).
#[inline]
pub(crate) fn linear_scores_bf16(
    weights: &[u16],
    bias: &[f32],
    feats: &[(u32, f32)],
    out: &mut [f32],
) {
    dispatch!(
        linear_scores_bf16_avx512,
        linear_scores_bf16_avx2,
        linear_scores_bf16_portable,
        (weights, bias, feats, out)
    )
}

/// `out = bias + Σ v · W[row]` with `f32` weights small enough to stay in cache (the hidden
/// layer's output weights), same arithmetic as [`linear_scores_bf16`], no prefetching.
#[inline]
pub(crate) fn linear_scores_f32(
    weights: &[f32],
    bias: &[f32],
    feats: &[(u32, f32)],
    out: &mut [f32],
) {
    dispatch!(
        linear_scores_f32_avx512,
        linear_scores_f32_avx2,
        linear_scores_f32_portable,
        (weights, bias, feats, out)
    )
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
fn linear_scores_f32_avx2(weights: &[f32], bias: &[f32], feats: &[(u32, f32)], out: &mut [f32]) {
    accumulate_fused(weights, bias, feats, out, |w| w, f32::mul_add, |_| {});
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,fma")]
fn linear_scores_f32_avx512(weights: &[f32], bias: &[f32], feats: &[(u32, f32)], out: &mut [f32]) {
    accumulate_fused(weights, bias, feats, out, |w| w, f32::mul_add, |_| {});
}

#[inline(always)]
fn linear_scores_f32_portable(
    weights: &[f32],
    bias: &[f32],
    feats: &[(u32, f32)],
    out: &mut [f32],
) {
    accumulate_fused(weights, bias, feats, out, |w| w, portable_fma, |_| {});
}

/// `out += k · x`, fused (one rounding per element), the same bits on every CPU.
#[inline]
pub(crate) fn add_scaled(out: &mut [f32], k: f32, x: &[f32]) {
    dispatch!(
        add_scaled_avx512,
        add_scaled_avx2,
        add_scaled_portable,
        (out, k, x)
    )
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
fn add_scaled_avx2(out: &mut [f32], k: f32, x: &[f32]) {
    add_scaled_with(out, k, x, f32::mul_add);
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,fma")]
fn add_scaled_avx512(out: &mut [f32], k: f32, x: &[f32]) {
    add_scaled_with(out, k, x, f32::mul_add);
}

#[inline(always)]
fn add_scaled_portable(out: &mut [f32], k: f32, x: &[f32]) {
    add_scaled_with(out, k, x, portable_fma);
}

/// The body of every build of [`add_scaled`], inlined into each (so `f32::mul_add` becomes
/// the instruction of the build's target features).
#[inline(always)]
fn add_scaled_with(out: &mut [f32], k: f32, x: &[f32], fma: impl Fn(f32, f32, f32) -> f32) {
    for (o, &v) in out.iter_mut().zip(x) {
        *o = fma(k, v, *o);
    }
}

/// How many features ahead [`linear_scores_bf16_avx2`] prefetches weight rows: rows are
/// scattered over megabytes, so without it every feature waits for memory.
#[cfg(target_arch = "x86_64")]
const PREFETCH_AHEAD: usize = 8;

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
fn linear_scores_bf16_avx2(weights: &[u16], bias: &[f32], feats: &[(u32, f32)], out: &mut [f32]) {
    linear_scores_bf16_prefetched(weights, bias, feats, out);
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,fma")]
fn linear_scores_bf16_avx512(weights: &[u16], bias: &[f32], feats: &[(u32, f32)], out: &mut [f32]) {
    linear_scores_bf16_prefetched(weights, bias, feats, out);
}

/// The body of the vector builds of [`linear_scores_bf16`]: each row prefetched
/// [`PREFETCH_AHEAD`] features ahead, hardware fused multiply-adds (inlined into a function
/// that enables FMA).
#[cfg(target_arch = "x86_64")]
#[inline(always)]
fn linear_scores_bf16_prefetched(
    weights: &[u16],
    bias: &[f32],
    feats: &[(u32, f32)],
    out: &mut [f32],
) {
    use std::arch::x86_64::{_MM_HINT_T0, _mm_prefetch};
    let c = bias.len();
    let prefetch = |r: u32| {
        let start = r as usize * c;
        if let Some(row) = weights.get(start..start + c) {
            let bytes = row.as_ptr().cast::<i8>();
            let mut off = 0;
            while off < 2 * c {
                // SAFETY: `off < 2c` keeps the address inside `row`; prefetch never faults.
                unsafe { _mm_prefetch::<_MM_HINT_T0>(bytes.add(off)) };
                off += 64;
            }
        }
    };
    for &(r, _) in feats.iter().take(PREFETCH_AHEAD) {
        prefetch(r);
    }
    accumulate_fused(
        weights,
        bias,
        feats,
        out,
        f32_from_bf16,
        f32::mul_add,
        |i| {
            for &(next, _) in feats.iter().skip(i + PREFETCH_AHEAD).take(4) {
                prefetch(next);
            }
        },
    );
}

#[inline(always)]
fn linear_scores_bf16_portable(
    weights: &[u16],
    bias: &[f32],
    feats: &[(u32, f32)],
    out: &mut [f32],
) {
    accumulate_fused(
        weights,
        bias,
        feats,
        out,
        f32_from_bf16,
        portable_fma,
        |_| {},
    );
}

/// The class probabilities of a prediction: softmax of the logits `x / t` in place, like
/// [`softmax_in_place`] (which training keeps, for its exact weights) but vectorised: the
/// maximum and the sum over eight lanes in a fixed order, and [`exp_nonpositive`] instead of a
/// libm call per class, so the same bits come out of every build and CPU. The probabilities
/// differ from [`softmax_in_place`]'s by an ulp or two; single-thread `models eval` on the
/// end-to-end benchmark's texts (27 classes) runs ~2% faster.
pub(crate) fn softmax_predict(x: &mut [f32], t: f32) {
    let max = lanes_fold(x, f32::NEG_INFINITY, f32::max);
    let inv = 1.0 / t;
    for v in x.iter_mut() {
        *v = (*v - max) * inv;
    }
    exp_nonpositive(x);
    let z = lanes_fold(x, 0.0, |a, b| a + b);
    let iz = 1.0 / z;
    for v in x.iter_mut() {
        *v *= iz;
    }
}

/// `f` folded over `x` in eight interleaved lanes (`x[i]` into lane `i % 8`), then the lanes
/// pairwise: a fixed order, which a compiler may vectorise without changing the result.
#[inline(always)]
fn lanes_fold(x: &[f32], init: f32, f: impl Fn(f32, f32) -> f32) -> f32 {
    let mut lanes = [init; 8];
    let mut chunks = x.chunks_exact(8);
    for chunk in &mut chunks {
        for (l, &v) in lanes.iter_mut().zip(chunk) {
            *l = f(*l, v);
        }
    }
    for (l, &v) in lanes.iter_mut().zip(chunks.remainder()) {
        *l = f(*l, v);
    }
    let quads = [
        f(lanes[0], lanes[4]),
        f(lanes[1], lanes[5]),
        f(lanes[2], lanes[6]),
        f(lanes[3], lanes[7]),
    ];
    f(f(quads[0], quads[2]), f(quads[1], quads[3]))
}

/// Below this `exp` would be subnormal; the result is then `exp(EXP_FLOOR)`, about 1.6e-38.
const EXP_FLOOR: f32 = -87.0;

avx2_or_baseline! {
    /// `x = exp(x)` for `x <= 0` (larger values are not supported), within 2 ulp of the exact
    /// result: Cephes' `expf` (`exp(x) = 2^n · exp(r)`, `r = x - n·ln 2` in two steps, the first
    /// exact,
    /// `exp(r)` by a degree-7 polynomial) with separate multiplies and adds, and `n` rounded by
    /// adding and subtracting 1.5·2^23, so that every build and CPU gives the same bits and an
    /// AVX2 build works on eight classes at once. Inputs below [`EXP_FLOOR`] are taken as it.
    pub(crate) fn exp_nonpositive / exp_nonpositive_baseline(x: &mut [f32]) {
        const ROUND: f32 = 12_582_912.0; // 1.5 · 2^23
        for v in x.iter_mut() {
            let a = v.max(EXP_FLOOR);
            let n = (a * std::f32::consts::LOG2_E + ROUND) - ROUND;
            // ln 2 = 0.693359375 (exactly 355/512: n times it is exact) - 2.121944e-4.
            let r = (a - n * (355.0 / 512.0)) - n * -2.121_944_4e-4;
            let mut p = 1.987_569_1e-4f32;
            p = p * r + 1.398_199_9e-3;
            p = p * r + 8.333_452e-3;
            p = p * r + 4.166_579_6e-2;
            p = p * r + 1.666_666_5e-1;
            p = p * r + 0.5;
            let e = p * (r * r) + r + 1.0;
            *v = e * f32::from_bits(((n as i32 + 127) as u32) << 23);
        }
    }
}

/// In-place softmax of `x / t`; returns nothing, `x` sums to 1 afterwards.
#[inline]
pub(crate) fn softmax_in_place(x: &mut [f32], t: f32) {
    let max = x.iter().fold(f32::NEG_INFINITY, |m, &v| m.max(v));
    let inv = 1.0 / t;
    let mut z = 0.0f32;
    for v in x.iter_mut() {
        *v = ((*v - max) * inv).exp();
        z += *v;
    }
    let iz = 1.0 / z;
    for v in x.iter_mut() {
        *v *= iz;
    }
}

impl TextClassifier {
    /// A model from its parts: `weights` (`W`, `bias.len()` values per feature row) and the
    /// hidden layer with its input rows (`U`, `H` values per feature row).
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn new(
        features: FeatureConfig,
        vocab: Vocabulary,
        labels: Vec<String>,
        hierarchy: Option<Hierarchy>,
        weights: Vec<u16>,
        bias: Vec<f32>,
        hidden: Option<(HiddenLayer, Vec<u16>)>,
        temperature: f32,
        hyperparameters: serde_json::Value,
    ) -> Self {
        let rows = Rows::new(
            weights,
            &bias,
            hidden
                .as_ref()
                .map(|(h, u)| (h.width, &u[..], &h.input_bias[..])),
        );
        Self {
            features,
            vocab,
            labels,
            hierarchy,
            rows,
            bias,
            hidden: hidden.map(|(h, _)| h),
            temperature,
            hyperparameters,
        }
    }

    /// Class names; a class index is a position in this slice. Sorted by name.
    pub fn labels(&self) -> &[String] {
        &self.labels
    }

    /// Number of classes (at least 2).
    pub fn n_classes(&self) -> usize {
        self.labels.len()
    }

    /// Parent names (sorted) when the model was trained with parents.
    pub fn parents(&self) -> Option<&[String]> {
        self.hierarchy.as_ref().map(|h| h.parents.as_slice())
    }

    /// Parent index of class `child`, learned from training data; `None` without hierarchy,
    /// for an out-of-range child, or for a child never seen with a parent.
    pub fn parent_of(&self, child: u32) -> Option<u32> {
        self.hierarchy.as_ref().and_then(|h| h.parent_of(child))
    }

    /// Softmax temperature fitted on held-out data (1.0 when not calibrated).
    pub fn temperature(&self) -> f32 {
        self.temperature
    }

    /// Feature extraction settings (part of the model).
    pub fn feature_config(&self) -> &FeatureConfig {
        &self.features
    }

    /// Number of kept feature buckets (weight rows).
    pub fn n_features(&self) -> usize {
        self.vocab.len()
    }

    /// The training configuration the model was built with, as JSON.
    pub fn hyperparameters(&self) -> serde_json::Value {
        self.hyperparameters.clone()
    }

    /// Classifies `inputs` in parallel on the current rayon pool; output order matches input
    /// order. `top_k` may be 0 (then `Prediction::top_k` is empty). See
    /// [`Self::predict_columns`], which this calls, for batches whose answers go to columns.
    pub fn predict_batch(&self, inputs: &[Input<'_>], top_k: usize) -> Vec<Prediction> {
        let columns = self.predict_columns(inputs, top_k);
        (0..inputs.len())
            .map(|i| Prediction {
                label: columns.label[i],
                confidence: columns.confidence[i],
                top_k: columns.top_k_of(i).to_vec(),
                parent: columns.parent[i],
                parent_confidence: columns.parent_confidence[i],
            })
            .collect()
    }

    /// Classifies `inputs` in parallel on the current rayon pool, into columns in input
    /// order. Feature buffers (and the token cache) live per thread and outlast the call, so
    /// a stream of batches stays warm, and nothing is allocated per row.
    pub fn predict_columns(&self, inputs: &[Input<'_>], top_k: usize) -> Predictions {
        let n = inputs.len();
        let k = top_k.min(self.n_classes());
        let mut out = Predictions {
            label: vec![0; n],
            confidence: vec![0.0; n],
            parent: vec![None; n],
            parent_confidence: vec![None; n],
            // With `k == 0`, one unused pair per row keeps the chunks below paired with the
            // rows' chunks; dropped at the end.
            top_k: vec![(0, 0.0); n * k.max(1)],
            k,
        };
        let rows = out
            .label
            .par_chunks_mut(PREDICT_CHUNK)
            .zip(out.confidence.par_chunks_mut(PREDICT_CHUNK))
            .zip(out.parent.par_chunks_mut(PREDICT_CHUNK))
            .zip(out.parent_confidence.par_chunks_mut(PREDICT_CHUNK))
            .zip(out.top_k.par_chunks_mut(PREDICT_CHUNK * k.max(1)))
            .zip(inputs.par_chunks(PREDICT_CHUNK));
        rows.for_each(
            |(((((labels, confidences), parents), parent_conf), tops), ins)| {
                THREAD_SCRATCH.with(|cell| {
                    let mut fresh;
                    let mut guard = cell.try_borrow_mut();
                    // Re-entered on this thread (not expected): use a private scratch.
                    let scratch = match guard.as_deref_mut() {
                        Ok(s) => s,
                        Err(_) => {
                            fresh = Scratch::default();
                            &mut fresh
                        }
                    };
                    for (i, input) in ins.iter().enumerate() {
                        let row = self.predict_in(input, &mut tops[i * k..(i + 1) * k], scratch);
                        labels[i] = row.label;
                        confidences[i] = row.confidence;
                        parents[i] = row.parent;
                        parent_conf[i] = row.parent_confidence;
                    }
                });
            },
        );
        if k == 0 {
            out.top_k.clear();
        }
        out
    }

    /// Classifies one input (single-threaded).
    pub fn predict(&self, input: &Input<'_>, top_k: usize) -> Prediction {
        let mut top = vec![(0, 0.0); top_k.min(self.n_classes())];
        let row = self.predict_in(input, &mut top, &mut Scratch::default());
        Prediction {
            label: row.label,
            confidence: row.confidence,
            top_k: top,
            parent: row.parent,
            parent_confidence: row.parent_confidence,
        }
    }

    /// Calibrated class probabilities of one input (length [`Self::n_classes`]).
    pub fn probabilities(&self, input: &Input<'_>) -> Vec<f32> {
        let mut scratch = Scratch::default();
        let mut probs = vec![0f32; self.n_classes()];
        self.raw_scores(input, &mut scratch, &mut probs);
        softmax_predict(&mut probs, self.temperature);
        probs
    }

    /// Hidden units (0 for a linear model).
    pub fn hidden_width(&self) -> usize {
        self.hidden.as_ref().map_or(0, |h| h.width)
    }

    /// The logits whose temperature-scaled softmax is the model's output: the linear
    /// model's scores, or with a hidden layer the mean of both models' logits
    /// ([`mix_logits`]).
    pub(crate) fn raw_scores(&self, input: &Input<'_>, s: &mut Scratch, out: &mut [f32]) {
        match self.features.char_weighting {
            CharWeighting::Text => {
                self.vocab
                    .vectorize(&self.features, input.text, input.extras, s);
                match &self.rows {
                    Rows::Fused(f) => {
                        s.fused.resize(f.bias.len(), 0.0);
                        linear_scores_bf16(f.rows(), &f.bias, &s.feats, &mut s.fused);
                    }
                    Rows::Linear(w) => linear_scores_bf16(w, &self.bias, &s.feats, out),
                }
            }
            CharWeighting::Token => self.token_raw_scores(input, s, out),
        }
        if let (Some(h), Rows::Fused(f)) = (&self.hidden, &self.rows) {
            out.copy_from_slice(&s.fused[..out.len()]);
            relu_sparse(&s.fused[f.hidden_at..f.hidden_at + h.width], &mut s.active);
            s.mlp_scores.resize(padded(out.len()), 0.0);
            linear_scores_f32(
                &h.output_wide,
                &h.output_bias_wide,
                &s.active,
                &mut s.mlp_scores,
            );
            mix_logits(out, &s.mlp_scores);
        }
    }

    /// [`CharWeighting::Token`]: the same scores (and with a hidden layer, the fused scores
    /// in `s.fused`) as `vectorize` + [`linear_scores_bf16`], but each distinct token's
    /// character group contributes its cached scores (computed once per thread), so a text
    /// costs its word n-grams plus one score vector per token.
    fn token_raw_scores(&self, input: &Input<'_>, s: &mut Scratch, out: &mut [f32]) {
        let cfg = &self.features;
        let (n_w, n_c) = self.vocab.token_parts(cfg, input.text, input.extras, s);
        let (kw, kc) = group_scales(cfg, n_w, n_c);
        scale(&mut s.feats, kw);
        let mut acc = std::mem::take(&mut s.fused);
        let (weights, bias, zeros): (&[u16], &[f32], &[f32]) = match &self.rows {
            Rows::Fused(f) => (f.rows(), &f.bias, &f.zeros),
            Rows::Linear(w) => {
                if s.zeros.len() != out.len() {
                    s.zeros = vec![0.0; out.len()];
                }
                (w, &self.bias, &[])
            }
        };
        let stride = bias.len();
        acc.resize(stride, 0.0);
        linear_scores_bf16(weights, bias, &s.feats, &mut acc);
        let zeros = if zeros.is_empty() {
            &s.zeros[..]
        } else {
            zeros
        };
        for &(e, k) in &s.tok_counts {
            let entry = &mut s.tok_entries[e as usize];
            if entry.scores == u32::MAX {
                let at = s.tok_scores.len();
                s.tok_scores.resize(at + stride, 0.0);
                let feats = &s.tok_feats[entry.start as usize..(entry.start + entry.len) as usize];
                linear_scores_bf16(weights, zeros, feats, &mut s.tok_scores[at..at + stride]);
                entry.scores = at as u32;
            }
            let at = entry.scores as usize;
            add_scaled(
                &mut acc,
                kc * token_scale(k),
                &s.tok_scores[at..at + stride],
            );
        }
        if let Rows::Linear(_) = self.rows {
            out.copy_from_slice(&acc);
        }
        s.fused = acc;
    }

    /// [`Self::predict_with`] using the scratch's own scores buffer (taken out while the
    /// features borrow the rest of the scratch).
    fn predict_in(&self, input: &Input<'_>, top: &mut [(u32, f32)], scratch: &mut Scratch) -> Row {
        let mut probs = std::mem::take(&mut scratch.probs);
        probs.resize(self.n_classes(), 0.0);
        let row = self.predict_with(input, top, scratch, &mut probs);
        scratch.probs = probs;
        row
    }

    /// Classifies one input: the most probable classes into `top` (all of it, most probable
    /// first; its length is at most the number of classes), the rest returned.
    fn predict_with(
        &self,
        input: &Input<'_>,
        top: &mut [(u32, f32)],
        scratch: &mut Scratch,
        probs: &mut [f32],
    ) -> Row {
        self.raw_scores(input, scratch, probs);
        softmax_predict(probs, self.temperature);
        let (mut label, mut confidence) = (0u32, f32::NEG_INFINITY);
        for (i, &p) in probs.iter().enumerate() {
            if p > confidence {
                label = i as u32;
                confidence = p;
            }
        }
        top_classes(probs, top);
        let (parent, parent_confidence) = match &self.hierarchy {
            Some(h) => match h.parent_of(label) {
                Some(p) => (Some(p), Some(h.parent_mass(p, probs))),
                None => (None, None),
            },
            None => (None, None),
        };
        Row {
            label,
            confidence,
            parent,
            parent_confidence,
        }
    }
}

/// A [`Prediction`] but its `top_k`.
struct Row {
    label: u32,
    confidence: f32,
    parent: Option<u32>,
    parent_confidence: Option<f32>,
}

/// The `top.len()` most probable classes of `probs` into `top`, most probable first (of
/// equal probabilities, the lower class first). `top.len() <= probs.len()`.
fn top_classes(probs: &[f32], top: &mut [(u32, f32)]) {
    let k = top.len();
    if k == 0 {
        return;
    }
    let mut filled = 0;
    for (i, &p) in probs.iter().enumerate() {
        if filled == k && top[k - 1].1 >= p {
            continue;
        }
        let pos = top[..filled].partition_point(|&(_, q)| q >= p);
        let end = filled.min(k - 1);
        top.copy_within(pos..end, pos + 1);
        top[pos] = (i as u32, p);
        filled = (filled + 1).min(k);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bf16_rounds_to_nearest_even() {
        assert_eq!(bf16_from_f32(1.0), 0x3F80);
        assert_eq!(f32_from_bf16(0x3F80), 1.0);
        assert_eq!(bf16_from_f32(-2.5), 0xC020);
        // 1 + 2^-8 is halfway between 1 and 1 + 2^-7: ties go to the even mantissa (1.0).
        assert_eq!(bf16_from_f32(1.0 + 1.0 / 256.0), 0x3F80);
        // 1 + 3·2^-8 is halfway between 1 + 2^-7 (odd) and 1 + 2^-6: rounds up to even.
        assert_eq!(bf16_from_f32(1.0 + 3.0 / 256.0), 0x3F82);
        for x in [0.0f32, 0.123, -7.75e-3, 42.0] {
            let back = f32_from_bf16(bf16_from_f32(x));
            assert!((back - x).abs() <= x.abs() / 256.0, "{x} -> {back}");
        }
        // Subnormal results become zeros of their sign; the smallest normal stays.
        assert_eq!(bf16_from_f32(1e-39), 0x0000);
        assert_eq!(bf16_from_f32(-3e-40), 0x8000);
        assert_eq!(bf16_from_f32(f32::MIN_POSITIVE), 0x0080);
        assert_eq!(f32_from_bf16(0x0080), f32::MIN_POSITIVE);
    }

    #[test]
    fn subnormal_weights_are_flushed_and_nothing_else() {
        for b in 0..=u16::MAX {
            let flushed = bf16_flush_subnormal(b);
            let x = f32_from_bf16(b);
            if x.is_subnormal() {
                assert_eq!(flushed, b & 0x8000, "{b:#06x}");
                assert_eq!(f32_from_bf16(flushed), 0.0);
            } else {
                assert_eq!(flushed, b, "{b:#06x}");
            }
        }
    }

    #[cfg(target_arch = "x86_64")]
    #[test]
    fn nightshift_simd_avx2_is_read_in_any_case() {
        use std::ffi::OsStr;
        for v in ["avx2", "AVX2", " Avx2 "] {
            assert!(simd_limited_to_avx2(Some(OsStr::new(v))), "{v:?}");
        }
        for v in ["", "avx512", "avx"] {
            assert!(!simd_limited_to_avx2(Some(OsStr::new(v))), "{v:?}");
        }
        assert!(!simd_limited_to_avx2(None));
    }

    #[test]
    fn every_code_path_gives_the_same_bits() {
        let (rows, c) = (300usize, 77usize);
        let weights: Vec<u16> = (0..rows * c)
            .map(|i| bf16_from_f32(((i * 7919) % 1000) as f32 / 997.0 - 0.5))
            .collect();
        let bias: Vec<f32> = (0..c).map(|k| k as f32 * 0.01).collect();
        let feats: Vec<(u32, f32)> = (0..40u32)
            .map(|i| ((i * 37) % 300, 0.1 + i as f32 * 0.013))
            .collect();
        let mut portable = vec![0f32; c];
        linear_scores_bf16_portable(&weights, &bias, &feats, &mut portable);
        let mut dispatched = vec![0f32; c];
        linear_scores_bf16(&weights, &bias, &feats, &mut dispatched);
        let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
        assert_eq!(bits(&portable), bits(&dispatched));
        // Each vector build this CPU can run, called directly (the dispatcher takes only the
        // widest).
        #[cfg(target_arch = "x86_64")]
        {
            type Kernel = unsafe fn(&[u16], &[f32], &[(u32, f32)], &mut [f32]);
            let mut builds: Vec<(&str, Kernel)> = Vec::new();
            if has_avx2_fma() {
                builds.push(("avx2", linear_scores_bf16_avx2));
            }
            if std::arch::is_x86_feature_detected!("avx512f") && has_avx2_fma() {
                builds.push(("avx512", linear_scores_bf16_avx512));
            }
            for (name, kernel) in builds {
                let mut out = vec![0f32; c];
                // SAFETY: the CPU has the features the build needs (checked above).
                unsafe { kernel(&weights, &bias, &feats, &mut out) };
                assert_eq!(bits(&portable), bits(&out), "{name}");
                let mut axpy = [
                    0.25f32, -3.0, 7.5, 1e-3, 2.5, -0.5, 3.25, 9.0, 1.0, 0.0, 4.0, -2.0, 6.5,
                    0.125, 8.0, -1.5, 0.75,
                ];
                let mut expected = axpy;
                let x: Vec<f32> = (0..axpy.len()).map(|i| 0.3 + i as f32 * 0.71).collect();
                add_scaled_portable(&mut expected, 0.1, &x);
                // SAFETY: as above.
                unsafe {
                    if name == "avx2" {
                        add_scaled_avx2(&mut axpy, 0.1, &x)
                    } else {
                        add_scaled_avx512(&mut axpy, 0.1, &x)
                    }
                };
                assert_eq!(bits(&expected), bits(&axpy), "{name}");
            }
        }
        // The same weights widened to f32 give the same bits through the f32 kernel, and
        // (up to rounding: separate multiply and add) through the training kernel.
        let wide: Vec<f32> = weights.iter().map(|&w| f32_from_bf16(w)).collect();
        let mut f32_path = vec![0f32; c];
        linear_scores_f32(&wide, &bias, &feats, &mut f32_path);
        assert_eq!(bits(&portable), bits(&f32_path));
        let mut train_path = vec![0f32; c];
        linear_scores(&wide, &bias, &feats, &mut train_path);
        for (p, t) in portable.iter().zip(&train_path) {
            assert!((p - t).abs() <= 1e-5 * (1.0 + t.abs()), "{p} vs {t}");
        }
        // A fused multiply-add rounds once: (1 + 2^-23)(1 + 2^-7) - (1 + 2^-7 + 2^-23) is
        // 2^-30 exactly, which a rounded product (1 + 2^-7 + 2^-23 in f32) would lose.
        let (e7, e23) = (2f32.powi(-7), 2f32.powi(-23));
        let w = [bf16_from_f32(1.0 + e7)];
        for kernel in [linear_scores_bf16, linear_scores_bf16_portable] {
            let mut fused = [0f32];
            kernel(&w, &[-(1.0 + e7 + e23)], &[(0, 1.0 + e23)], &mut fused);
            assert_eq!(fused[0], 2f32.powi(-30));
        }
        let mut portable_axpy = [0.25f32, -3.0, 7.5];
        let mut dispatched_axpy = portable_axpy;
        add_scaled_portable(&mut portable_axpy, 0.1, &[1.0, 2.0, 3.0]);
        add_scaled(&mut dispatched_axpy, 0.1, &[1.0, 2.0, 3.0]);
        assert_eq!(bits(&portable_axpy), bits(&dispatched_axpy));
    }

    /// The fused rows give back `W` and `U` as stored, start on cache lines, and score to
    /// the same bits as the two matrices apart (sizes that need padding everywhere).
    #[test]
    fn fused_rows_are_the_two_matrices_side_by_side() {
        let (rows, c, h) = (50usize, 27usize, 13usize);
        let value = |i: usize| bf16_from_f32(((i * 7919) % 1000) as f32 / 997.0 - 0.5);
        let w: Vec<u16> = (0..rows * c).map(value).collect();
        let u: Vec<u16> = (0..rows * h).map(|i| value(i + 17)).collect();
        let bias: Vec<f32> = (0..c).map(|k| k as f32 * 0.01).collect();
        let input_bias: Vec<f32> = (0..h).map(|k| 0.5 - k as f32 * 0.02).collect();
        let fused = Rows::new(w.clone(), &bias, Some((h, &u, &input_bias)));
        assert_eq!(fused.linear(), w);
        assert_eq!(fused.hidden_input(), u);
        let Rows::Fused(f) = &fused else {
            panic!("a hidden layer fuses the rows")
        };
        assert_eq!(f.bias.len() % 32, 0);
        assert_eq!(f.rows().as_ptr() as usize % 64, 0);
        let feats: Vec<(u32, f32)> = (0..23u32)
            .map(|i| ((i * 37) % 50, 0.1 + i as f32 * 0.013))
            .collect();
        let mut both = vec![0f32; f.bias.len()];
        linear_scores_bf16(f.rows(), &f.bias, &feats, &mut both);
        let (mut lin, mut hid) = (vec![0f32; c], vec![0f32; h]);
        linear_scores_bf16(&w, &bias, &feats, &mut lin);
        linear_scores_bf16(&u, &input_bias, &feats, &mut hid);
        let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
        assert_eq!(bits(&both[..c]), bits(&lin));
        assert_eq!(bits(&both[f.hidden_at..f.hidden_at + h]), bits(&hid));
        assert!(both[c..f.hidden_at].iter().all(|&x| x == 0.0));
        assert!(both[f.hidden_at + h..].iter().all(|&x| x == 0.0));
        assert_eq!(Rows::new(w.clone(), &bias, None).linear(), w);
    }

    /// The prediction softmax's `exp` stays within 2 ulp of the exact value over its whole
    /// range, gives exactly 1 at 0 and the same bits from the AVX2 and the baseline build
    /// (compared as vectorised code only under `--release`); the softmax agrees with the
    /// training one.
    #[test]
    fn prediction_exp_is_accurate_and_the_same_on_every_build() {
        let xs: Vec<f32> = (0..=400_000)
            .map(|i| -90.0 * i as f32 / 400_000.0)
            .chain([0.0, -0.0, -1e-30, -87.0, -87.5, -1e4, f32::NEG_INFINITY])
            .collect();
        let (mut fast, mut base) = (xs.clone(), xs.clone());
        exp_nonpositive(&mut fast);
        exp_nonpositive_baseline(&mut base);
        let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
        assert_eq!(bits(&fast), bits(&base));
        for (&x, &e) in xs.iter().zip(&fast) {
            let exact = f64::from(x.max(EXP_FLOOR)).exp();
            let ulp = f64::from(f32::EPSILON) * exact;
            assert!(
                (f64::from(e) - exact).abs() <= 2.0 * ulp,
                "exp({x}) = {e}, exactly {exact}"
            );
            assert!(e.is_normal(), "exp({x}) = {e}");
        }
        assert_eq!(fast[xs.len() - 7], 1.0);

        for n in [1, 2, 7, 8, 9, 27, 77, 150] {
            let logits: Vec<f32> = (0..n).map(|i| ((i * 37) % 11) as f32 * 0.7 - 3.0).collect();
            let (mut p, mut q) = (logits.clone(), logits);
            softmax_predict(&mut p, 1.3);
            softmax_in_place(&mut q, 1.3);
            for (a, b) in p.iter().zip(&q) {
                assert!(
                    (a - b).abs() <= 1e-6 * b.max(1e-3),
                    "{n} classes: {a} vs {b}"
                );
            }
            assert!((p.iter().sum::<f32>() - 1.0).abs() < 1e-5);
        }
    }

    /// The `f64` emulation of a fused multiply-add gives `f32::mul_add`'s bits, on random
    /// values and on products that sit on or next to a rounding tie.
    #[test]
    fn fma_via_f64_is_a_fused_multiply_add() {
        let mut state = 0x9E37_79B9_7F4A_7C15u64;
        let mut next = || {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            state
        };
        let mut cases = Vec::new();
        for _ in 0..200_000 {
            let r = next();
            let f = |bits: u64, exp: u32| {
                let m = (bits as u32) & 0x807F_FFFF; // sign and mantissa
                f32::from_bits(m | (exp << 23))
            };
            let (ea, eb) = (100 + (r >> 40) as u32 % 55, 100 + (r >> 48) as u32 % 55);
            let (a, b) = (f(next(), ea), f(next(), eb));
            // c near -a·b (cancellation), near a·b's magnitude, or unrelated.
            let c = match r % 3 {
                0 => -(a * b) * (1.0 + f32::EPSILON * ((r >> 8) % 5) as f32),
                1 => f32::from_bits((a * b).to_bits() ^ ((r >> 16) as u32 & 0x3)),
                _ => f(next(), 90 + (r >> 56) as u32 % 70),
            };
            cases.push((a, b, c));
        }
        // Ties: (1 + 2^-12)² = 1 + 2^-11 + 2^-24 lies exactly between two f32 around 1.
        let x = 1.0 + 2f32.powi(-12);
        cases.extend([
            (x, x, 0.0),
            (x, x, -1.0),
            (-x, x, 1.0),
            (x, -x, 2.0),
            (0.0, 5.0, -0.0),
        ]);
        for (a, b, c) in cases {
            assert_eq!(
                fma_via_f64(a, b, c).to_bits(),
                a.mul_add(b, c).to_bits(),
                "{a:e} * {b:e} + {c:e}"
            );
        }
    }

    /// The per-token fast path gives the scores of the definition (`vectorize` then the
    /// linear layer, mixed with the hidden layer's when there is one), and the same bits
    /// whether a token's scores are cached or fresh.
    #[test]
    fn top_classes_are_the_most_probable_in_order_lower_class_first_on_ties() {
        // A small generator (no dependency): probabilities with many ties.
        let mut state = 0x2545_F491_4F6C_DD1Du64;
        let mut next = || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        for _ in 0..500 {
            let n = 1 + (next() % 40) as usize;
            let probs: Vec<f32> = (0..n).map(|_| (next() % 7) as f32 / 7.0).collect();
            let mut reference: Vec<(u32, f32)> = probs
                .iter()
                .enumerate()
                .map(|(i, &p)| (i as u32, p))
                .collect();
            // Stable: equal probabilities keep the lower class first.
            reference.sort_by(|a, b| b.1.total_cmp(&a.1));
            for k in [0, 1, 3, n] {
                let mut top = vec![(u32::MAX, -1.0); k.min(n)];
                top_classes(&probs, &mut top);
                assert_eq!(top, reference[..k.min(n)], "{probs:?} k={k}");
            }
        }
    }

    #[test]
    fn cached_token_scores_match_the_vectorised_scores() {
        cached_token_scores_match(0);
        cached_token_scores_match(8);
    }

    fn cached_token_scores_match(hidden: usize) {
        let texts = [
            "card declined twice, card declined",
            "refund my order please",
            "the driver was rude",
            "app crashes on login",
            "ça va? çà et là",
        ];
        let labels = ["payments", "payments", "safety", "app"];
        let extras = [("channel", "chat")];
        let examples: Vec<crate::Example<'_>> = (0..40)
            .map(|i| crate::Example {
                text: texts[i % 4],
                label: labels[i % 4],
                parent: None,
                extras: &extras,
            })
            .collect();
        let mut config = crate::TrainConfig::default();
        config.features.hash_bits = 14;
        config.max_epochs = 3;
        config.hidden = hidden;
        config.hidden_epochs = 2;
        let (model, _) = crate::train(&config, &examples).unwrap();
        assert_eq!(model.hidden_width(), hidden);
        assert_eq!(model.features.char_weighting, CharWeighting::Token);
        let c = model.n_classes();
        let mut fast = Scratch::default();
        let mut first: Vec<Vec<u32>> = Vec::new();
        for round in 0..2 {
            for (i, text) in texts.iter().chain(&["", "!!"]).enumerate() {
                let input = Input {
                    text,
                    extras: &extras,
                };
                let mut got = vec![0f32; c];
                model.raw_scores(&input, &mut fast, &mut got);
                let mut s = Scratch::default();
                model
                    .vocab
                    .vectorize(&model.features, text, &extras, &mut s);
                let mut want = vec![0f32; c];
                linear_scores_bf16(&model.rows.linear(), &model.bias, &s.feats, &mut want);
                if let Some(h) = &model.hidden {
                    let mut a = vec![0f32; h.width];
                    let input = model.rows.hidden_input();
                    linear_scores_bf16(&input, &h.input_bias, &s.feats, &mut a);
                    let mut active = Vec::new();
                    relu_sparse(&a, &mut active);
                    // The output layer unpadded, as the bytes store it.
                    let wide: Vec<f32> = h.output.iter().map(|&b| f32_from_bf16(b)).collect();
                    let mut z = vec![0f32; c];
                    linear_scores_f32(&wide, &h.output_bias, &active, &mut z);
                    mix_logits(&mut want, &z);
                }
                for (g, w) in got.iter().zip(&want) {
                    assert!(
                        (g - w).abs() < 1e-4 * (1.0 + w.abs()),
                        "{text:?}: {got:?} vs {want:?}"
                    );
                }
                let bits: Vec<u32> = got.iter().map(|x| x.to_bits()).collect();
                if round == 0 {
                    first.push(bits);
                } else {
                    assert_eq!(first[i], bits, "{text:?}: cached vs fresh");
                }
            }
        }
    }
}
