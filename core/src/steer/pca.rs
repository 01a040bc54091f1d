//! PCA-of-differences steering vector (the `pca_diff` method of repeng / Representation
//! Engineering): the first principal component of the per-pair differences
//! `positive activation − negative activation`.
//!
//! **Uncentred.** repeng hands the differences to scikit-learn's PCA, which centres them. Centring
//! subtracts the mean difference — which is the DiffMean vector, the consistent part of the
//! concept — so when every pair differs along the same direction (plus noise), centred PCA
//! returns the noise. repeng gets away with it only because its pairs are presented in random
//! order, making the mean difference ~0. We instead take the top eigenvector of the uncentred
//! second moment (1/n)·Σ dᵢdᵢᵀ: the unit u maximising the mean squared projection (1/n)·Σ (dᵢ·u)².
//! It keeps the consistent direction, agrees with centred PCA when pair order is random, and does
//! not depend on which side of a pair was called positive (dᵢ and −dᵢ give the same dᵢdᵢᵀ); the
//! sign is then fixed separately from the mean difference.
use crate::error::{Error, Result};
use crate::math::stats::{dot, flatten_rows, top_eigen};
use alloc::vec::Vec;
use serde::Serialize;

/// The principal direction of the pair differences and how well it explains them.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PcaVector {
    /// Unit-norm direction; positive strength moves toward the positive completions.
    pub direction: Vec<f32>,
    /// Share of the differences' mean squared norm along `direction`: λ₁ / trace of the
    /// uncentred second moment, in [0, 1]. Near 1: the pairs differ along one direction.
    pub explained_variance_ratio: f32,
    /// Mean difference projected on `direction`: > 0 by the sign rule, or ~0 (rounding level,
    /// either sign) when the tie-break decided, see [`pca_direction`].
    pub mean_projection: f32,
    /// Pairs the differences came from.
    pub n_pairs: usize,
    /// The eigensolver met its tolerance; false only for a near-tie between the top two
    /// components, where the direction is ill-defined anyway.
    pub converged: bool,
}

/// First principal component of the uncentred differences, unit norm, oriented so the mean
/// difference projects positively on it. If the mean difference is orthogonal to it (e.g. a
/// set of pairs and their swaps), the orientation falls back to making the largest-magnitude
/// component positive, so the output is still deterministic.
///
/// Errors: no pairs, rows of different lengths or dimension 0, non-finite values, or all
/// differences zero.
pub fn pca_direction<R: AsRef<[f32]>>(diffs: &[R]) -> Result<PcaVector> {
    let (x, d) = flatten_rows("pair differences", diffs)?;
    let n = diffs.len();
    let trace = x.iter().map(|v| v * v).sum::<f64>() / n as f64;
    if trace == 0.0 {
        return Err(Error::Invalid("every pair difference is zero: there is no direction to find".into()));
    }
    let eig = top_eigen(&x, n, d, n as f64, 1);
    let mut u = eig.vectors[0].clone();
    let mean: Vec<f64> = (0..d).map(|j| x.iter().skip(j).step_by(d).sum::<f64>() / n as f64).collect();
    let proj = dot(&mean, &u);
    // A projection at rounding level is a tie, not a sign: decide it by the components instead.
    let tie = libm::fabs(proj) <= 1e-9 * libm::sqrt(trace);
    let flip = if tie { largest_is_negative(&u) } else { proj < 0.0 };
    if flip {
        u.iter_mut().for_each(|c| *c = -*c);
    }
    let proj = if flip { -proj } else { proj };
    Ok(PcaVector {
        direction: u.iter().map(|&c| c as f32).collect(),
        explained_variance_ratio: (eig.values[0] / trace).clamp(0.0, 1.0) as f32,
        mean_projection: proj as f32,
        n_pairs: n,
        converged: eig.converged,
    })
}

fn largest_is_negative(u: &[f64]) -> bool {
    let big = u.iter().copied().fold(0.0f64, |a, c| if libm::fabs(c) > libm::fabs(a) { c } else { a });
    big < 0.0
}
