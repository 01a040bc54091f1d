//! Gated linear attention: S_t = Diag(exp g_t) S_{t−1} + k_t v_tᵀ, o_t = S_tᵀ q_t, with a
//! data-dependent per-channel gate g_t = ln σ(x_t W_g + b_g) / 16 (the /16 "gate logit
//! normaliser" keeps decays near 1 at initialisation, as in GLA).

use alloc::vec;
use alloc::vec::Vec;
use serde::{Deserialize, Serialize};

use super::chunk::{decay_chunked, LogDecay};
use super::error::Result;
use super::mixer::{check_chunk, head_slice, log_sigmoid, scale, Dense, Mixer, Projections};
use super::spec::MixerKind;
use super::task::Rng;

/// Gate logit normaliser.
pub const GATE_NORM: f32 = 16.0;

/// Multi-head GLA.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Gla {
    /// Projections.
    pub heads: Projections,
    /// d → H·dk gate logits (with bias).
    pub wg: Dense,
}

impl Gla {
    /// Random weights.
    pub fn random(d: usize, heads: usize, head_dim: usize, rng: &mut Rng) -> Self {
        let mut wg = Dense::random(d, heads * head_dim, rng);
        wg.b = Some(vec![2.0; heads * head_dim]);
        Gla { heads: Projections::random(d, heads, head_dim, head_dim, rng), wg }
    }

    /// Per-token, per-channel log-decays (n, H·dk).
    pub fn log_gates(&self, x: &[f32], n: usize) -> Result<Vec<f32>> {
        let mut g = self.wg.apply(x, n)?;
        g.iter_mut().for_each(|z| *z = log_sigmoid(*z) / GATE_NORM);
        Ok(g)
    }
}

/// Naive recurrence for one head; g: (n, dk) log-decays.
pub fn recurrent(q: &[f32], k: &[f32], v: &[f32], g: &[f32], n: usize, dk: usize, dv: usize) -> Vec<f32> {
    let mut s = vec![0.0f32; dk * dv];
    let mut o = vec![0.0f32; n * dv];
    for t in 0..n {
        for c in 0..dk {
            let a = libm::expf(g[t * dk + c]);
            for j in 0..dv {
                s[c * dv + j] = a * s[c * dv + j] + k[t * dk + c] * v[t * dv + j];
            }
        }
        for j in 0..dv {
            o[t * dv + j] = (0..dk).map(|c| s[c * dv + j] * q[t * dk + c]).sum();
        }
    }
    o
}

impl Mixer for Gla {
    fn kind(&self) -> MixerKind {
        MixerKind::Gla
    }
    fn d_model(&self) -> usize {
        self.heads.d_model()
    }
    fn forward_recurrent(&self, x: &[f32], n: usize) -> Result<Vec<f32>> {
        let (hh, dk, dv) = (self.heads.heads, self.heads.dk, self.heads.dv);
        let g = self.log_gates(x, n)?;
        let sc = 1.0 / libm::sqrtf(dk as f32);
        self.heads.run(x, n, |h, mut q, k, v| {
            scale(&mut q, sc);
            recurrent(&q, &k, &v, &head_slice(&g, n, hh, dk, h), n, dk, dv)
        })
    }
    fn forward_chunked(&self, x: &[f32], n: usize, chunk: usize) -> Result<Vec<f32>> {
        check_chunk(chunk)?;
        let (hh, dk, dv) = (self.heads.heads, self.heads.dk, self.heads.dv);
        let g = self.log_gates(x, n)?;
        let sc = 1.0 / libm::sqrtf(dk as f32);
        self.heads.run(x, n, |h, mut q, k, v| {
            scale(&mut q, sc);
            let gh = head_slice(&g, n, hh, dk, h);
            decay_chunked(&q, &k, &v, LogDecay::Channel(&gh), n, dk, dv, chunk)
        })
    }
    fn num_params(&self) -> usize {
        self.heads.num_params() + self.wg.num_params()
    }
}
