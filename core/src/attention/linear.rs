//! Linear attention: S_t = S_{t−1} + k_t v_tᵀ, o_t = S_tᵀ q_t (identity feature map, q scaled by
//! 1/√dk). The state is dk×dv per head whatever the sequence length.

use alloc::vec;
use alloc::vec::Vec;
use serde::{Deserialize, Serialize};

use super::chunk::{decay_chunked, LogDecay};
use super::error::Result;
use super::mixer::{check_chunk, scale, Mixer, Projections};
use super::spec::MixerKind;
use super::task::Rng;

/// Multi-head linear attention.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LinearAttention {
    /// Projections.
    pub heads: Projections,
}

impl LinearAttention {
    /// Random weights.
    pub fn random(d: usize, heads: usize, head_dim: usize, rng: &mut Rng) -> Self {
        LinearAttention { heads: Projections::random(d, heads, head_dim, head_dim, rng) }
    }
}

/// Naive recurrence for one head: q, k (n, dk), v (n, dv) → o (n, dv).
pub fn recurrent(q: &[f32], k: &[f32], v: &[f32], n: usize, dk: usize, dv: usize) -> Vec<f32> {
    let mut s = vec![0.0f32; dk * dv]; // S: dk × dv
    let mut o = vec![0.0f32; n * dv];
    for t in 0..n {
        for c in 0..dk {
            for j in 0..dv {
                s[c * dv + j] += k[t * dk + c] * v[t * dv + j];
            }
        }
        for j in 0..dv {
            o[t * dv + j] = (0..dk).map(|c| s[c * dv + j] * q[t * dk + c]).sum();
        }
    }
    o
}

impl Mixer for LinearAttention {
    fn kind(&self) -> MixerKind {
        MixerKind::Linear
    }
    fn d_model(&self) -> usize {
        self.heads.d_model()
    }
    fn forward_recurrent(&self, x: &[f32], n: usize) -> Result<Vec<f32>> {
        let (dk, dv) = (self.heads.dk, self.heads.dv);
        let sc = 1.0 / libm::sqrtf(dk as f32);
        self.heads.run(x, n, |_, mut q, k, v| {
            scale(&mut q, sc);
            recurrent(&q, &k, &v, n, dk, dv)
        })
    }
    fn forward_chunked(&self, x: &[f32], n: usize, chunk: usize) -> Result<Vec<f32>> {
        check_chunk(chunk)?;
        let (dk, dv) = (self.heads.dk, self.heads.dv);
        let sc = 1.0 / libm::sqrtf(dk as f32);
        self.heads.run(x, n, |_, mut q, k, v| {
            scale(&mut q, sc);
            decay_chunked(&q, &k, &v, LogDecay::None, n, dk, dv, chunk)
        })
    }
    fn num_params(&self) -> usize {
        self.heads.num_params()
    }
}
