//! RetNet retention: S_t = γ_h S_{t−1} + k_t v_tᵀ, o_t = S_tᵀ q_t with a fixed per-head decay
//! γ_h = 1 − 2^{−5−h} (h = 0-based head index), q scaled by 1/√dk.

use alloc::vec;
use alloc::vec::Vec;
use serde::{Deserialize, Serialize};

use super::chunk::{decay_chunked, LogDecay};
use super::error::Result;
use super::mixer::{check_chunk, scale, Mixer, Projections};
use super::spec::MixerKind;
use super::task::Rng;

/// Multi-head retention.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RetNet {
    /// Projections.
    pub heads: Projections,
}

/// γ_h = 1 − 2^{−5−h}.
pub fn gamma(h: usize) -> f32 {
    1.0 - libm::powf(2.0, -5.0 - h as f32)
}

impl RetNet {
    /// Random weights.
    pub fn random(d: usize, heads: usize, head_dim: usize, rng: &mut Rng) -> Self {
        RetNet { heads: Projections::random(d, heads, head_dim, head_dim, rng) }
    }
}

/// Naive recurrence for one head with decay γ.
pub fn recurrent(q: &[f32], k: &[f32], v: &[f32], gamma: f32, n: usize, dk: usize, dv: usize) -> Vec<f32> {
    let mut s = vec![0.0f32; dk * dv];
    let mut o = vec![0.0f32; n * dv];
    for t in 0..n {
        for c in 0..dk {
            for j in 0..dv {
                s[c * dv + j] = gamma * s[c * dv + j] + k[t * dk + c] * v[t * dv + j];
            }
        }
        for j in 0..dv {
            o[t * dv + j] = (0..dk).map(|c| s[c * dv + j] * q[t * dk + c]).sum();
        }
    }
    o
}

impl Mixer for RetNet {
    fn kind(&self) -> MixerKind {
        MixerKind::RetNet
    }
    fn d_model(&self) -> usize {
        self.heads.d_model()
    }
    fn forward_recurrent(&self, x: &[f32], n: usize) -> Result<Vec<f32>> {
        let (dk, dv) = (self.heads.dk, self.heads.dv);
        let sc = 1.0 / libm::sqrtf(dk as f32);
        self.heads.run(x, n, |h, mut q, k, v| {
            scale(&mut q, sc);
            recurrent(&q, &k, &v, gamma(h), n, dk, dv)
        })
    }
    fn forward_chunked(&self, x: &[f32], n: usize, chunk: usize) -> Result<Vec<f32>> {
        check_chunk(chunk)?;
        let (dk, dv) = (self.heads.dk, self.heads.dv);
        let sc = 1.0 / libm::sqrtf(dk as f32);
        self.heads.run(x, n, |h, mut q, k, v| {
            scale(&mut q, sc);
            let lam = vec![libm::logf(gamma(h)); n];
            decay_chunked(&q, &k, &v, LogDecay::Scalar(&lam), n, dk, dv, chunk)
        })
    }
    fn num_params(&self) -> usize {
        self.heads.num_params()
    }
}
