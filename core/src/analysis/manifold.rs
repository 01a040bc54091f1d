//! An off-manifold score: how far a steered activation leaves the space that unsteered
//! activations occupy.
//!
//! The paper (§3 of notes/steering.md) *assumes* that activations of stably handled inputs lie
//! near a low-dimensional set and that validity decays with distance from it, but never measures
//! that distance. This module measures the simplest stand-in: the affine subspace spanned by the
//! mean and the top-k principal directions of unsteered activations, and the fraction of a
//! point's deviation from the mean that this subspace cannot explain. A linear subspace is a
//! crude model of a curved manifold; it is the one that needs no training and no tuning beyond k,
//! and its score can be rank-correlated ([`crate::math::stats::spearman`]) with measured
//! utility across steering strengths to test the paper's account.
use crate::error::{Error, Result};
use crate::math::stats::{check_finite, dot, flatten_rows, norm, top_eigen};
use alloc::{format, vec::Vec};
use serde::Serialize;

/// Mean + orthonormal principal directions of a set of activations.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Subspace {
    /// Mean activation (length d).
    pub mean: Vec<f32>,
    /// Orthonormal principal directions, largest variance first; at most the `k` asked for
    /// (directions the data do not span are dropped, see [`Subspace::fit`]).
    pub basis: Vec<Vec<f32>>,
    /// Variance along each basis direction (divisor n − 1).
    pub variances: Vec<f32>,
    /// Fraction of the total variance the basis captures, in [0, 1].
    pub explained: f32,
    /// The eigensolver met its tolerance (1e-10 relative residual). If false the basis is still
    /// a good approximation of the top subspace, just not to the last digit.
    pub converged: bool,
}

/// A direction whose variance is below this fraction of the top one is treated as absent: with
/// f32 inputs, the variance of an exactly planar cloud off its plane is ~1e-14 of the in-plane
/// variance, pure rounding, and keeping it would hand the "subspace" a random extra direction.
const NEGLIGIBLE: f64 = 1e-10;

impl Subspace {
    /// Fits the mean and the top `k` principal directions of `rows` (n activations of dimension d).
    ///
    /// Computed by block orthogonal iteration on the covariance applied as Xᵀ(X v), so neither
    /// the d × d covariance nor the n × n Gram matrix is formed and the cost is O(n·d·k) per
    /// iteration whether n < d or not; deterministic (fixed-seed start).
    ///
    /// Errors: no rows, rows of different lengths or with non-finite values, fewer than 2 rows,
    /// `k` = 0 or `k` > min(n − 1, d) (n points span at most n − 1 directions about their mean),
    /// or all rows identical.
    pub fn fit<R: AsRef<[f32]>>(rows: &[R], k: usize) -> Result<Subspace> {
        let (mut x, d) = flatten_rows("subspace rows", rows)?;
        let n = rows.len();
        check_k(n, d, k)?;
        let mean = centre(&mut x, n, d);
        let total = x.iter().map(|v| v * v).sum::<f64>() / (n - 1) as f64;
        if total == 0.0 {
            return Err(Error::Invalid("subspace rows are all identical: there is no direction to fit".into()));
        }
        let eig = top_eigen(&x, n, d, (n - 1) as f64, k);
        let keep = eig.values.iter().take_while(|&&v| v > NEGLIGIBLE * eig.values[0]).count();
        Ok(Subspace {
            mean: mean.iter().map(|&m| m as f32).collect(),
            basis: eig.vectors[..keep].iter().map(|v| v.iter().map(|&c| c as f32).collect()).collect(),
            variances: eig.values[..keep].iter().map(|&v| v as f32).collect(),
            explained: (eig.values[..keep].iter().sum::<f64>() / total).clamp(0.0, 1.0) as f32,
            converged: eig.converged,
        })
    }

    /// The same as [`Subspace::fit`] on a flat row-major `(n, d)` slice.
    pub fn fit_flat(data: &[f32], d: usize, k: usize) -> Result<Subspace> {
        if d == 0 || !data.len().is_multiple_of(d) {
            return Err(Error::Invalid(format!(
                "a flat (n, d) slice needs a length divisible by d = {d}, got {} values",
                data.len()
            )));
        }
        let rows: Vec<&[f32]> = data.chunks_exact(d).collect();
        Subspace::fit(&rows, k)
    }

    /// The activations' width.
    pub fn dim(&self) -> usize {
        self.mean.len()
    }

    /// Relative reconstruction error ‖r‖ / ‖x − mean‖, r = (x − mean) minus its projection on the
    /// basis: 0 for a point in the affine subspace, 1 for one whose deviation from the mean is
    /// orthogonal to it, and √(1 − cos²) in general.
    ///
    /// Why relative: steering adds m·v, so the absolute distance grows with |m| whatever v is;
    /// the ratio is scale-free and asks which *direction* the point has moved in, which is what
    /// "off-manifold" means here. A point exactly at the mean scores 0. [`Subspace::distance`]
    /// gives the absolute ‖r‖ for callers who want it.
    pub fn residual(&self, x: &[f32]) -> Result<f32> {
        let (r, dev) = self.split(x)?;
        Ok(if dev == 0.0 { 0.0 } else { (r / dev).min(1.0) as f32 })
    }

    /// Absolute distance ‖r‖ from `x` to the affine subspace, in activation units.
    pub fn distance(&self, x: &[f32]) -> Result<f32> {
        self.split(x).map(|(r, _)| r as f32)
    }

    /// Mean [`Subspace::residual`] over `rows`.
    pub fn score<R: AsRef<[f32]>>(&self, rows: &[R]) -> Result<f32> {
        if rows.is_empty() {
            return Err(Error::EmptyDataset);
        }
        let mut sum = 0.0f64;
        for r in rows {
            sum += self.residual(r.as_ref())? as f64;
        }
        Ok((sum / rows.len() as f64) as f32)
    }

    /// (‖r‖, ‖x − mean‖). The residual is formed explicitly rather than as
    /// ‖x − mean‖² − Σ cᵢ², which would cancel catastrophically for points near the subspace.
    fn split(&self, x: &[f32]) -> Result<(f64, f64)> {
        if x.len() != self.dim() {
            return Err(Error::Invalid(format!(
                "point has dimension {}, the subspace was fitted in dimension {}",
                x.len(),
                self.dim()
            )));
        }
        check_finite("point", x)?;
        let dev: Vec<f64> = x.iter().zip(&self.mean).map(|(&a, &m)| a as f64 - m as f64).collect();
        let mut r = dev.clone();
        for b in &self.basis {
            let b: Vec<f64> = b.iter().map(|&c| c as f64).collect();
            let c = dot(&dev, &b);
            r.iter_mut().zip(&b).for_each(|(ri, bi)| *ri -= c * bi);
        }
        Ok((norm(&r), norm(&dev)))
    }
}

fn check_k(n: usize, d: usize, k: usize) -> Result<()> {
    if n < 2 {
        return Err(Error::Invalid(format!("a subspace needs at least 2 rows, got {n}")));
    }
    let most = (n - 1).min(d);
    if k == 0 || k > most {
        return Err(Error::Invalid(format!(
            "k = {k} principal directions asked for; {n} rows of dimension {d} allow 1..={most}"
        )));
    }
    Ok(())
}

/// Subtracts the column means in place and returns them.
fn centre(x: &mut [f64], n: usize, d: usize) -> Vec<f64> {
    let mut mean = alloc::vec![0.0; d];
    for row in x.chunks_exact(d) {
        mean.iter_mut().zip(row).for_each(|(m, v)| *m += v);
    }
    mean.iter_mut().for_each(|m| *m /= n as f64);
    for row in x.chunks_exact_mut(d) {
        row.iter_mut().zip(&mean).for_each(|(v, m)| *v -= m);
    }
    mean
}
