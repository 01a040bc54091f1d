//! Mamba2 (SSD), one group per head: S_t = e^{Δ_t A} S_{t−1} + Δ_t B_t x_tᵀ, y_t = C_tᵀ S_t + D x_t,
//! with Δ_t = softplus(x W_Δ + b_Δ) and A = −exp(A_log) < 0 per head. Here C plays the query,
//! B the key and x (the value projection) the value; the short convolution and output gate of
//! the full Mamba2 block are left out — the state-space recurrence is the point.

use alloc::vec;
use alloc::vec::Vec;
use serde::{Deserialize, Serialize};

use super::chunk::{decay_chunked, LogDecay};
use super::error::Result;
use super::mixer::{check_chunk, head_col, softplus, Dense, Mixer, Projections};
use super::spec::MixerKind;
use super::task::Rng;

/// Multi-head Mamba2 SSD.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Mamba2 {
    /// q = C, k = B, v = x projections and output.
    pub heads: Projections,
    /// d → H step sizes (with bias).
    pub w_dt: Dense,
    /// A = −exp(a_log), per head.
    pub a_log: Vec<f32>,
    /// Skip D, per head.
    pub d_skip: Vec<f32>,
}

impl Mamba2 {
    /// Random weights.
    pub fn random(d: usize, heads: usize, head_dim: usize, rng: &mut Rng) -> Self {
        let mut w_dt = Dense::random(d, heads, rng);
        w_dt.b = Some(vec![-2.0; heads]);
        Mamba2 {
            heads: Projections::random(d, heads, head_dim, head_dim, rng),
            w_dt,
            a_log: (0..heads).map(|h| libm::logf(1.0 + h as f32)).collect(),
            d_skip: vec![1.0; heads],
        }
    }
    /// Δ (n, H).
    pub fn dt(&self, x: &[f32], n: usize) -> Result<Vec<f32>> {
        let mut dt = self.w_dt.apply(x, n)?;
        dt.iter_mut().for_each(|z| *z = softplus(*z));
        Ok(dt)
    }
}

/// Naive recurrence for one head: c, b (n, N), x (n, P), dt (n), A < 0, D.
#[allow(clippy::too_many_arguments)]
pub fn recurrent(
    c: &[f32], b: &[f32], x: &[f32], dt: &[f32], a: f32, d: f32, n: usize, ns: usize, p: usize,
) -> Vec<f32> {
    let mut s = vec![0.0f32; ns * p];
    let mut y = vec![0.0f32; n * p];
    for t in 0..n {
        let decay = libm::expf(dt[t] * a);
        for i in 0..ns {
            for j in 0..p {
                s[i * p + j] = decay * s[i * p + j] + dt[t] * b[t * ns + i] * x[t * p + j];
            }
        }
        for j in 0..p {
            y[t * p + j] = (0..ns).map(|i| s[i * p + j] * c[t * ns + i]).sum::<f32>() + d * x[t * p + j];
        }
    }
    y
}

impl Mixer for Mamba2 {
    fn kind(&self) -> MixerKind {
        MixerKind::Mamba2
    }
    fn d_model(&self) -> usize {
        self.heads.d_model()
    }
    fn forward_recurrent(&self, x: &[f32], n: usize) -> Result<Vec<f32>> {
        let (hh, dk, dv) = (self.heads.heads, self.heads.dk, self.heads.dv);
        let dt = self.dt(x, n)?;
        self.heads.run(x, n, |h, c, b, xv| {
            let a = -libm::expf(self.a_log[h]);
            recurrent(&c, &b, &xv, &head_col(&dt, n, hh, h), a, self.d_skip[h], n, dk, dv)
        })
    }
    fn forward_chunked(&self, x: &[f32], n: usize, chunk: usize) -> Result<Vec<f32>> {
        check_chunk(chunk)?;
        let (hh, dk, dv) = (self.heads.heads, self.heads.dk, self.heads.dv);
        let dt = self.dt(x, n)?;
        self.heads.run(x, n, |h, c, b, xv| {
            let a = -libm::expf(self.a_log[h]);
            let dth = head_col(&dt, n, hh, h);
            let lam: Vec<f32> = dth.iter().map(|d| d * a).collect();
            // Fold Δ_t into the value: Δ_t B_t x_tᵀ = B_t (Δ_t x_t)ᵀ.
            let mut xs = xv.clone();
            for t in 0..n {
                xs[t * dv..(t + 1) * dv].iter_mut().for_each(|z| *z *= dth[t]);
            }
            let mut y = decay_chunked(&c, &b, &xs, LogDecay::Scalar(&lam), n, dk, dv, chunk);
            for (yi, xi) in y.iter_mut().zip(&xv) {
                *yi += self.d_skip[h] * xi;
            }
            y
        })
    }
    fn num_params(&self) -> usize {
        self.heads.num_params() + self.w_dt.num_params() + self.a_log.len() + self.d_skip.len()
    }
}
