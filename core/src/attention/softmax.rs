//! Causal softmax ("full") attention.
//!
//! Three forms: [`naive`] builds the whole masked n×n score matrix (the O(n²) reference);
//! [`recurrent`] streams tokens through a growing KV cache (the "state" of full attention is the
//! whole cache, which is why it is not an RNN with a fixed state); [`chunked`] tiles queries and keys
//! and merges tiles with an online softmax (running max and normaliser), as flash attention does.

use alloc::vec;
use alloc::vec::Vec;
use serde::{Deserialize, Serialize};

use super::error::Result;
use super::mixer::{check_chunk, Mixer, Projections};
use super::spec::MixerKind;
use super::task::Rng;

/// Multi-head causal softmax attention; scores are `scale · q·k`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SoftmaxAttention {
    /// Projections.
    pub heads: Projections,
    /// Inverse temperature applied to q·k (1/√dk by default).
    pub scale: f32,
}

impl SoftmaxAttention {
    /// Random weights.
    pub fn random(d: usize, heads: usize, head_dim: usize, rng: &mut Rng) -> Self {
        SoftmaxAttention {
            heads: Projections::random(d, heads, head_dim, head_dim, rng),
            scale: 1.0 / libm::sqrtf(head_dim as f32),
        }
    }

    /// Forward with the naive O(n²) reference per head.
    pub fn forward_naive(&self, x: &[f32], n: usize) -> Result<Vec<f32>> {
        let (dk, dv) = (self.heads.dk, self.heads.dv);
        self.heads.run(x, n, |_, q, k, v| naive(&q, &k, &v, n, dk, dv, self.scale))
    }
}

impl Mixer for SoftmaxAttention {
    fn kind(&self) -> MixerKind {
        MixerKind::Softmax
    }
    fn d_model(&self) -> usize {
        self.heads.d_model()
    }
    fn forward_recurrent(&self, x: &[f32], n: usize) -> Result<Vec<f32>> {
        let (dk, dv) = (self.heads.dk, self.heads.dv);
        self.heads.run(x, n, |_, q, k, v| recurrent(&q, &k, &v, n, dk, dv, self.scale))
    }
    fn forward_chunked(&self, x: &[f32], n: usize, chunk: usize) -> Result<Vec<f32>> {
        check_chunk(chunk)?;
        let (dk, dv) = (self.heads.dk, self.heads.dv);
        self.heads.run(x, n, |_, q, k, v| chunked(&q, &k, &v, n, dk, dv, self.scale, chunk))
    }
    fn num_params(&self) -> usize {
        self.heads.num_params()
    }
}

fn dot(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

/// O(n²) reference: full score matrix, causal mask, row softmax, weighted sum.
pub fn naive(q: &[f32], k: &[f32], v: &[f32], n: usize, dk: usize, dv: usize, scale: f32) -> Vec<f32> {
    let mut scores = vec![f32::NEG_INFINITY; n * n];
    for t in 0..n {
        for s in 0..=t {
            scores[t * n + s] = scale * dot(&q[t * dk..(t + 1) * dk], &k[s * dk..(s + 1) * dk]);
        }
    }
    let mut o = vec![0.0; n * dv];
    for t in 0..n {
        let row = &scores[t * n..(t + 1) * n];
        let m = row.iter().cloned().fold(f32::NEG_INFINITY, f32::max);
        let p: Vec<f32> = row.iter().map(|&x| libm::expf(x - m)).collect();
        let z: f32 = p.iter().sum();
        for s in 0..=t {
            let w = p[s] / z;
            for j in 0..dv {
                o[t * dv + j] += w * v[s * dv + j];
            }
        }
    }
    o
}

/// Token by token over a KV cache, with an online softmax per query.
pub fn recurrent(q: &[f32], k: &[f32], v: &[f32], n: usize, dk: usize, dv: usize, scale: f32) -> Vec<f32> {
    let mut o = vec![0.0; n * dv];
    let mut kcache: Vec<f32> = Vec::with_capacity(n * dk);
    let mut vcache: Vec<f32> = Vec::with_capacity(n * dv);
    let mut acc = vec![0.0f32; dv];
    for t in 0..n {
        kcache.extend_from_slice(&k[t * dk..(t + 1) * dk]);
        vcache.extend_from_slice(&v[t * dv..(t + 1) * dv]);
        let qt = &q[t * dk..(t + 1) * dk];
        let (mut m, mut z) = (f32::NEG_INFINITY, 0.0f32);
        acc.iter_mut().for_each(|a| *a = 0.0);
        for s in 0..=t {
            let sc = scale * dot(qt, &kcache[s * dk..(s + 1) * dk]);
            if sc > m {
                let r = libm::expf(m - sc);
                z *= r;
                acc.iter_mut().for_each(|a| *a *= r);
                m = sc;
            }
            let p = libm::expf(sc - m);
            z += p;
            for (a, vj) in acc.iter_mut().zip(&vcache[s * dv..(s + 1) * dv]) {
                *a += p * vj;
            }
        }
        for (oj, a) in o[t * dv..(t + 1) * dv].iter_mut().zip(&acc) {
            *oj = a / z;
        }
    }
    o
}

/// Tiled form: query tiles × key tiles, merged with a running max and normaliser.
#[allow(clippy::too_many_arguments)]
pub fn chunked(q: &[f32], k: &[f32], v: &[f32], n: usize, dk: usize, dv: usize, scale: f32, chunk: usize) -> Vec<f32> {
    let mut o = vec![0.0; n * dv];
    let mut sc = vec![0.0f32; chunk * chunk];
    let mut i0 = 0;
    while i0 < n {
        let i1 = (i0 + chunk).min(n);
        let qn = i1 - i0;
        let mut m = vec![f32::NEG_INFINITY; qn];
        let mut z = vec![0.0f32; qn];
        let mut acc = vec![0.0f32; qn * dv];
        let mut j0 = 0;
        while j0 < i1 {
            let j1 = (j0 + chunk).min(n);
            let kn = j1 - j0;
            // Score tile.
            for a in 0..qn {
                for b in 0..kn {
                    let (t, s) = (i0 + a, j0 + b);
                    sc[a * chunk + b] = if s <= t {
                        scale * dot(&q[t * dk..(t + 1) * dk], &k[s * dk..(s + 1) * dk])
                    } else {
                        f32::NEG_INFINITY
                    };
                }
            }
            // Merge the tile into the running statistics.
            for a in 0..qn {
                let row = &sc[a * chunk..a * chunk + kn];
                let tm = row.iter().cloned().fold(f32::NEG_INFINITY, f32::max);
                if tm == f32::NEG_INFINITY {
                    continue;
                }
                let mnew = m[a].max(tm);
                let r = libm::expf(m[a] - mnew);
                z[a] *= r;
                let acc_a = &mut acc[a * dv..(a + 1) * dv];
                acc_a.iter_mut().for_each(|x| *x *= r);
                for (b, &s) in row.iter().enumerate() {
                    if s == f32::NEG_INFINITY {
                        continue;
                    }
                    let p = libm::expf(s - mnew);
                    z[a] += p;
                    let vs = &v[(j0 + b) * dv..(j0 + b + 1) * dv];
                    for (x, vj) in acc_a.iter_mut().zip(vs) {
                        *x += p * vj;
                    }
                }
                m[a] = mnew;
            }
            j0 = j1;
        }
        for a in 0..qn {
            for j in 0..dv {
                o[(i0 + a) * dv + j] = acc[a * dv + j] / z[a];
            }
        }
        i0 = i1;
    }
    o
}
