//! DeltaNet: S_t = (I − β_t k_t k_tᵀ) S_{t−1} + β_t k_t v_tᵀ, o_t = S_tᵀ q_t, with q, k L2-normalised
//! and β_t = σ(x W_β + b_β) per head. Each step moves the value stored at key k_t a fraction β_t of
//! the way toward v_t (the delta rule), so a key can be overwritten instead of only added to.

use alloc::vec;
use alloc::vec::Vec;
use serde::{Deserialize, Serialize};

use super::chunk::delta_chunked;
use super::error::Result;
use super::mixer::{check_chunk, head_col, l2norm_rows, sigmoid, Dense, Mixer, Projections};
use super::spec::MixerKind;
use super::task::Rng;

/// Multi-head DeltaNet.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeltaNet {
    /// Projections.
    pub heads: Projections,
    /// d → H write strengths (logits, with bias).
    pub wb: Dense,
}

impl DeltaNet {
    /// Random weights.
    pub fn random(d: usize, heads: usize, head_dim: usize, rng: &mut Rng) -> Self {
        let mut wb = Dense::random(d, heads, rng);
        wb.b = Some(vec![0.0; heads]);
        DeltaNet { heads: Projections::random(d, heads, head_dim, head_dim, rng), wb }
    }
    /// β (n, H).
    pub fn beta(&self, x: &[f32], n: usize) -> Result<Vec<f32>> {
        let mut b = self.wb.apply(x, n)?;
        b.iter_mut().for_each(|z| *z = sigmoid(*z));
        Ok(b)
    }
}

/// Naive delta-rule recurrence for one head (q, k already normalised).
pub fn recurrent(q: &[f32], k: &[f32], v: &[f32], beta: &[f32], n: usize, dk: usize, dv: usize) -> Vec<f32> {
    // DeltaNet is Gated DeltaNet with the gate open (g = 0, e^g = 1: an exact no-op).
    super::gated_deltanet::recurrent(q, k, v, beta, &vec![0.0; n], n, dk, dv)
}

impl Mixer for DeltaNet {
    fn kind(&self) -> MixerKind {
        MixerKind::DeltaNet
    }
    fn d_model(&self) -> usize {
        self.heads.d_model()
    }
    fn forward_recurrent(&self, x: &[f32], n: usize) -> Result<Vec<f32>> {
        let (hh, dk, dv) = (self.heads.heads, self.heads.dk, self.heads.dv);
        let beta = self.beta(x, n)?;
        self.heads.run(x, n, |h, mut q, mut k, v| {
            l2norm_rows(&mut q, dk);
            l2norm_rows(&mut k, dk);
            recurrent(&q, &k, &v, &head_col(&beta, n, hh, h), n, dk, dv)
        })
    }
    fn forward_chunked(&self, x: &[f32], n: usize, chunk: usize) -> Result<Vec<f32>> {
        check_chunk(chunk)?;
        let (hh, dk, dv) = (self.heads.heads, self.heads.dk, self.heads.dv);
        let beta = self.beta(x, n)?;
        self.heads.run(x, n, |h, mut q, mut k, v| {
            l2norm_rows(&mut q, dk);
            l2norm_rows(&mut k, dk);
            delta_chunked(&q, &k, &v, &head_col(&beta, n, hh, h), None, n, dk, dv, chunk)
        })
    }
    fn num_params(&self) -> usize {
        self.heads.num_params() + self.wb.num_params()
    }
}
