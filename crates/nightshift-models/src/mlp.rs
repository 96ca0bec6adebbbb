//! Training the optional hidden layer ([`crate::TrainConfig::hidden`]): a one-hidden-layer
//! ReLU network on the same sparse TF-IDF vectors as the linear model, trained with
//! mini-batch AdaGrad, inverted dropout on the hidden units and lazy L2 on the input rows a
//! batch touches. Its logits are averaged with the linear model's at prediction
//! ([`crate::classifier::mix_logits`]: the normalised geometric mean of the two models'
//! probabilities). With a hierarchy, a second softmax head on the
//! hidden units learns the parent during training (multi-task; the head is dropped), so the
//! hidden units also encode what sibling classes share.
//!
//! Why: on intent data sets a linear model cannot express feature interactions; the hidden
//! layer alone is no better on every data set and varies between seeds, but the combination
//! of the two models beats both (see `bench/research/ensemble/REPORT.md`).
//!
//! Determinism: the initial weights and the per-epoch order come from the seed; each row's
//! dropout mask is a hash of (seed, epoch, row); sums over a batch run in batch order and
//! input-row updates go through [`sparse_adagrad_step`], so the result does not depend on the
//! number of threads.

use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;

use crate::classifier::{
    HiddenLayer, avx2_or_baseline, bf16_from_f32, linear_scores, mix_logits, relu_sparse,
    softmax_in_place,
};
use crate::train::{Csr, batch_triplets, sparse_adagrad_step};

/// Initial weight scale of the input layer `U` (standard deviation); the output layer's is
/// `INIT_STD · sqrt(2 / H)`. A unit-variance start is far worse (85.5 vs 88-89 on HWU64).
const INIT_STD: f32 = 0.1;

/// The hidden layer's weights in `f32`, as trained.
pub(crate) struct Mlp {
    width: usize,
    u: Vec<f32>,
    c: Vec<f32>,
    v: Vec<f32>,
    d: Vec<f32>,
}

/// What [`train_mlp`] needs besides the rows to train on.
pub(crate) struct MlpSettings<'a> {
    pub(crate) width: usize,
    /// With a hierarchy: the parent of each class (`NO_PARENT` = none) and the parent
    /// count. The network then also learns to predict the parent from its hidden units (an
    /// auxiliary loss, dropped after training), which shapes the hidden layer by the parents.
    pub(crate) parents: Option<(&'a [u32], usize)>,
    pub(crate) epochs: u32,
    pub(crate) learning_rate: f32,
    pub(crate) dropout: f32,
    pub(crate) l2: f32,
    pub(crate) batch_size: usize,
}

impl Mlp {
    /// Class scores of one feature vector (no dropout). `a` and `active` are buffers.
    pub(crate) fn scores(
        &self,
        x: &[(u32, f32)],
        a: &mut Vec<f32>,
        active: &mut Vec<(u32, f32)>,
        out: &mut [f32],
    ) {
        a.resize(self.width, 0.0);
        linear_scores(&self.u, &self.c, x, a);
        relu_sparse(a, active);
        linear_scores(&self.v, &self.d, active, out);
    }

    /// The stored (bfloat16) form, but the input rows ([`Self::input_bf16`]).
    pub(crate) fn to_layer(&self) -> HiddenLayer {
        let v = self.v.iter().map(|&x| bf16_from_f32(x)).collect();
        HiddenLayer::new(self.width, self.c.clone(), v, self.d.clone())
    }

    /// The input rows `U` in their stored (bfloat16) form.
    pub(crate) fn input_bf16(&self) -> Vec<u16> {
        self.u.iter().map(|&x| bf16_from_f32(x)).collect()
    }
}

/// Mixed logits ([`mix_logits`]) of the linear model's `linear` logits (row `k` of
/// `linear` belongs to `rows[k]`) and the hidden layer's, for each row of `rows`.
pub(crate) fn mixed_logits(
    mlp: &Mlp,
    csr: &Csr,
    rows: &[u32],
    linear: &[f32],
    c: usize,
) -> Vec<f32> {
    let mut out = linear.to_vec();
    out.par_chunks_mut(c).zip(rows.par_iter()).for_each_init(
        || (Vec::new(), Vec::new(), vec![0f32; c]),
        |(a, active, z), (lin, &i)| {
            mlp.scores(csr.row(i as usize), a, active, z);
            mix_logits(lin, z);
        },
    );
    out
}

/// `splitmix64`: a fast, well-mixed hash of a 64-bit key.
#[inline]
fn splitmix64(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}

/// A standard normal draw (Box-Muller; one of the pair is used).
fn normal(rng: &mut ChaCha8Rng) -> f32 {
    let u1: f64 = rng.random::<f64>().max(f64::MIN_POSITIVE);
    let u2: f64 = rng.random::<f64>();
    ((-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()) as f32
}

/// Trains the hidden layer on the rows `train` of `csr` (labels `y`, `c` classes, `rows`
/// feature rows) for a fixed number of epochs.
pub(crate) fn train_mlp(
    csr: &Csr,
    y: &[u32],
    c: usize,
    rows: usize,
    train: &[u32],
    settings: &MlpSettings<'_>,
    seed: u64,
) -> Mlp {
    let h = settings.width;
    let (child_parent, np) = settings.parents.unwrap_or((&[], 0));
    let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0x4D4C_5031);
    let mut u: Vec<f32> = (0..rows * h).map(|_| INIT_STD * normal(&mut rng)).collect();
    let out_std = INIT_STD * (2.0 / h as f32).sqrt();
    let mut v: Vec<f32> = (0..h * c).map(|_| out_std * normal(&mut rng)).collect();
    let mut vp: Vec<f32> = (0..h * np).map(|_| out_std * normal(&mut rng)).collect();
    let mut dp = vec![0f32; np];
    let (mut gvp, mut gdp) = (vec![0f32; h * np], vec![0f32; np]);
    let mut cb = vec![0f32; h];
    let mut d = vec![0f32; c];
    let (mut gu, mut gv) = (vec![0f32; rows * h], vec![0f32; h * c]);
    let (mut gc, mut gd) = (vec![0f32; h], vec![0f32; c]);
    let lr = settings.learning_rate;
    let eps = 1e-8f32;
    let keep = 1.0 - settings.dropout;
    // A unit survives when its 24-bit hash is below this.
    let keep_below = (f64::from(keep) * f64::from(1u32 << 24)) as u64;
    let inv_keep = 1.0 / keep;
    let mut order = train.to_vec();
    // Per batch row: class residuals (C), hidden residuals (H), dropped-out activations (H).
    let (mut dz, mut dh, mut ht) = (Vec::new(), Vec::new(), Vec::new());
    // Per batch row: parent residuals (P).
    let mut dzp = Vec::new();
    let mut trip = Vec::new();
    for epoch in 1..=settings.epochs {
        order.shuffle(&mut rng);
        let epoch_key = splitmix64(seed ^ (u64::from(epoch) << 40));
        for batch in order.chunks(settings.batch_size) {
            let n = batch.len();
            let inv_b = 1.0 / n as f32;
            dz.clear();
            dz.resize(n * c, 0.0);
            dh.clear();
            dh.resize(n * h, 0.0);
            ht.clear();
            ht.resize(n * h, 0.0);
            dzp.clear();
            dzp.resize(n * np.max(1), 0.0);
            let (uw, vw, cw, dw, vpw, dpw) = (&u, &v, &cb, &d, &vp, &dp);
            // The batch's triplets (a sort, on one thread) do not depend on the forward
            // pass: built while the other threads run it.
            rayon::join(
                || {
                    dz.par_chunks_mut(c)
                        .zip(dh.par_chunks_mut(h))
                        .zip(ht.par_chunks_mut(h))
                        .zip(dzp.par_chunks_mut(np.max(1)))
                        .zip(batch.par_iter())
                        .with_min_len(4)
                        .for_each_init(
                            || (Vec::new(), Vec::new()),
                            |(a, active): &mut (Vec<f32>, Vec<(u32, f32)>),
                             ((((dzr, dhr), htr), dzpr), &i)| {
                                a.resize(h, 0.0);
                                linear_scores(uw, cw, csr.row(i as usize), a);
                                let row_key = splitmix64(epoch_key ^ u64::from(i));
                                active.clear();
                                for (j, (&aj, hj)) in a.iter().zip(htr.iter_mut()).enumerate() {
                                    let kept = splitmix64(row_key.wrapping_add(j as u64)) >> 40;
                                    if aj > 0.0 && kept < keep_below {
                                        *hj = aj * inv_keep;
                                        active.push((j as u32, *hj));
                                    }
                                }
                                linear_scores(vw, dw, active, dzr);
                                softmax_in_place(dzr, 1.0);
                                dzr[y[i as usize] as usize] -= 1.0;
                                for g in dzr.iter_mut() {
                                    *g *= inv_b;
                                }
                                let parent = child_parent
                                    .get(y[i as usize] as usize)
                                    .copied()
                                    .filter(|&p| (p as usize) < np);
                                if let Some(p) = parent {
                                    linear_scores(vpw, dpw, active, dzpr);
                                    softmax_in_place(dzpr, 1.0);
                                    dzpr[p as usize] -= 1.0;
                                    for g in dzpr.iter_mut() {
                                        *g *= inv_b;
                                    }
                                }
                                // Through V (and the parent head), the dropout mask and the ReLU
                                // (zero where inactive).
                                for &(j, _) in active.iter() {
                                    let j = j as usize;
                                    let vj = &vw[j * c..(j + 1) * c];
                                    let mut back: f32 =
                                        dzr.iter().zip(vj).map(|(&g, &w)| g * w).sum();
                                    if parent.is_some() {
                                        let pj = &vpw[j * np..(j + 1) * np];
                                        back +=
                                            dzpr.iter().zip(pj).map(|(&g, &w)| g * w).sum::<f32>();
                                    }
                                    dhr[j] = back * inv_keep;
                                }
                            },
                        );
                },
                || batch_triplets(csr, batch, &mut trip),
            );
            // Output layer (and parent head): V[j] -= step(Σ_batch ht[j] · dz), no L2.
            output_step(&mut v, &mut gv, c, &ht, h, &dz, n, lr, eps);
            if np > 0 {
                output_step(&mut vp, &mut gvp, np, &ht, h, &dzp, n, lr, eps);
                let mut g = vec![0f32; np];
                column_sums(&dzp, np, &mut g);
                adagrad(&mut dp, &mut gdp, &g, lr, eps);
            }
            let mut g = vec![0f32; c.max(h)];
            column_sums(&dz, c, &mut g[..c]);
            adagrad(&mut d, &mut gd, &g[..c], lr, eps);
            column_sums(&dh, h, &mut g[..h]);
            adagrad(&mut cb, &mut gc, &g[..h], lr, eps);
            sparse_adagrad_step(&mut u, &mut gu, h, &trip, &dh, lr, settings.l2);
        }
    }
    Mlp {
        width: h,
        u,
        c: cb,
        v,
        d,
    }
}

/// AdaGrad step on a dense output layer `w` (`H` rows of `width`): row `j`'s gradient is
/// `Σ_p ht[p][j] · dz[p]` over the `n` batch rows, summed in batch order.
#[allow(clippy::too_many_arguments)]
fn output_step(
    w: &mut [f32],
    acc: &mut [f32],
    width: usize,
    ht: &[f32],
    h: usize,
    dz: &[f32],
    n: usize,
    lr: f32,
    eps: f32,
) {
    w.par_chunks_mut(width)
        .zip(acc.par_chunks_mut(width))
        .enumerate()
        .for_each_init(
            || vec![0f32; width],
            |g, (j, (wr, ar))| output_row(wr, ar, g, j, ht, h, dz, n, lr, eps),
        );
}

avx2_or_baseline! {
    /// Row `j` of [`output_step`]: its gradient summed in batch order into `g`, then its
    /// AdaGrad step (none when no batch row activated unit `j`).
    fn output_row / output_row_baseline(
        w: &mut [f32],
        acc: &mut [f32],
        g: &mut [f32],
        j: usize,
        ht: &[f32],
        h: usize,
        dz: &[f32],
        n: usize,
        lr: f32,
        eps: f32,
    ) {
        let width = w.len();
        g.fill(0.0);
        let mut any = false;
        for p in 0..n {
            let hv = ht[p * h + j];
            if hv != 0.0 {
                any = true;
                for (gk, &zk) in g.iter_mut().zip(&dz[p * width..(p + 1) * width]) {
                    *gk += hv * zk;
                }
            }
        }
        if any {
            adagrad_baseline(w, acc, g, lr, eps);
        }
    }
}

/// `out[k] = Σ_rows m[row][k]` for a row-major matrix with `width` columns.
fn column_sums(m: &[f32], width: usize, out: &mut [f32]) {
    out.fill(0.0);
    for row in m.chunks_exact(width) {
        for (o, &x) in out.iter_mut().zip(row) {
            *o += x;
        }
    }
}

avx2_or_baseline! {
    /// One dense AdaGrad step: `acc += g²; w -= lr · g / (√acc + eps)`.
    fn adagrad / adagrad_baseline(w: &mut [f32], acc: &mut [f32], g: &[f32], lr: f32, eps: f32) {
        for ((wk, ak), &gk) in w.iter_mut().zip(acc.iter_mut()).zip(g) {
            *ak += gk * gk;
            *wk -= lr * gk / (ak.sqrt() + eps);
        }
    }
}
