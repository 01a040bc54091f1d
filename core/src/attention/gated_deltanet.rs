//! Gated DeltaNet: S_t = e^{g_t}(I − β_t k_t k_tᵀ) S_{t−1} + β_t k_t v_tᵀ, o_t = S_tᵀ q_t, with q, k
//! L2-normalised, β_t = σ(x W_β + b_β) and a Mamba2-style decay g_t = −exp(A_log)·softplus(x W_a + b_a).
//! The gate lets the state forget wholesale; the delta rule lets it overwrite one key.

use alloc::vec;
use alloc::vec::Vec;
use serde::{Deserialize, Serialize};

use super::chunk::delta_chunked;
use super::error::Result;
use super::mixer::{check_chunk, head_col, l2norm_rows, sigmoid, softplus, Dense, Mixer, Projections};
use super::spec::MixerKind;
use super::task::Rng;

/// Multi-head Gated DeltaNet.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GatedDeltaNet {
    /// Projections.
    pub heads: Projections,
    /// d → H write strengths (logits, with bias).
    pub wb: Dense,
    /// d → H decay step sizes (with bias).
    pub wa: Dense,
    /// Decay rate −exp(a_log) per head.
    pub a_log: Vec<f32>,
}

impl GatedDeltaNet {
    /// Random weights.
    pub fn random(d: usize, heads: usize, head_dim: usize, rng: &mut Rng) -> Self {
        let mut wb = Dense::random(d, heads, rng);
        wb.b = Some(vec![0.0; heads]);
        let mut wa = Dense::random(d, heads, rng);
        wa.b = Some(vec![-3.0; heads]);
        GatedDeltaNet { heads: Projections::random(d, heads, head_dim, head_dim, rng), wb, wa, a_log: vec![0.0; heads] }
    }
    /// (β, g), each (n, H).
    pub fn gates(&self, x: &[f32], n: usize) -> Result<(Vec<f32>, Vec<f32>)> {
        let mut b = self.wb.apply(x, n)?;
        b.iter_mut().for_each(|z| *z = sigmoid(*z));
        let mut g = self.wa.apply(x, n)?;
        let hh = self.a_log.len();
        for (i, z) in g.iter_mut().enumerate() {
            *z = -libm::expf(self.a_log[i % hh]) * softplus(*z);
        }
        Ok((b, g))
    }
}

/// Naive gated delta-rule recurrence for one head (q, k normalised; g log-decays).
#[allow(clippy::too_many_arguments)]
pub fn recurrent(q: &[f32], k: &[f32], v: &[f32], beta: &[f32], g: &[f32], n: usize, dk: usize, dv: usize) -> Vec<f32> {
    let mut s = vec![0.0f32; dk * dv];
    let mut o = vec![0.0f32; n * dv];
    for t in 0..n {
        let a = libm::expf(g[t]);
        s.iter_mut().for_each(|x| *x *= a);
        let kt = &k[t * dk..(t + 1) * dk];
        let old: Vec<f32> = (0..dv).map(|j| (0..dk).map(|c| s[c * dv + j] * kt[c]).sum()).collect();
        for c in 0..dk {
            for j in 0..dv {
                s[c * dv + j] += beta[t] * kt[c] * (v[t * dv + j] - old[j]);
            }
        }
        for j in 0..dv {
            o[t * dv + j] = (0..dk).map(|c| s[c * dv + j] * q[t * dk + c]).sum();
        }
    }
    o
}

impl Mixer for GatedDeltaNet {
    fn kind(&self) -> MixerKind {
        MixerKind::GatedDeltaNet
    }
    fn d_model(&self) -> usize {
        self.heads.d_model()
    }
    fn forward_recurrent(&self, x: &[f32], n: usize) -> Result<Vec<f32>> {
        let (hh, dk, dv) = (self.heads.heads, self.heads.dk, self.heads.dv);
        let (beta, g) = self.gates(x, n)?;
        self.heads.run(x, n, |h, mut q, mut k, v| {
            l2norm_rows(&mut q, dk);
            l2norm_rows(&mut k, dk);
            recurrent(&q, &k, &v, &head_col(&beta, n, hh, h), &head_col(&g, n, hh, h), n, dk, dv)
        })
    }
    fn forward_chunked(&self, x: &[f32], n: usize, chunk: usize) -> Result<Vec<f32>> {
        check_chunk(chunk)?;
        let (hh, dk, dv) = (self.heads.heads, self.heads.dk, self.heads.dv);
        let (beta, g) = self.gates(x, n)?;
        self.heads.run(x, n, |h, mut q, mut k, v| {
            l2norm_rows(&mut q, dk);
            l2norm_rows(&mut k, dk);
            let gh = head_col(&g, n, hh, h);
            delta_chunked(&q, &k, &v, &head_col(&beta, n, hh, h), Some(&gh), n, dk, dv, chunk)
        })
    }
    fn num_params(&self) -> usize {
        self.heads.num_params() + self.wb.num_params() + self.wa.num_params() + self.a_log.len()
    }
}
