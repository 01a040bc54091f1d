//! The mixer trait and the pieces every mixer shares: dense projections and multi-head plumbing.
//!
//! A mixer maps an (n, d) row-major f32 buffer to an (n, d) buffer causally (row t depends on
//! rows ≤ t only). Every mixer has two forms that must agree: `forward_recurrent` (token by token,
//! explicit state — the reference, written as a naive loop) and `forward_chunked` (blocks of
//! `chunk` tokens: a matrix form inside a block, state passed between blocks).

use alloc::vec;
use alloc::vec::Vec;
use serde::{Deserialize, Serialize};

use super::error::{AttnError, Result};
use super::spec::MixerKind;
use super::task::Rng;
use super::{deltanet, gated_deltanet, gla, linear, mamba2, retnet, softmax};

/// A causal sequence mixer over an (n, d) row-major buffer.
pub trait Mixer {
    /// Which mixer.
    fn kind(&self) -> MixerKind;
    /// Model width d.
    fn d_model(&self) -> usize;
    /// Token-by-token form with explicit state (the reference).
    fn forward_recurrent(&self, x: &[f32], n: usize) -> Result<Vec<f32>>;
    /// Chunked parallel form; must agree with the recurrent form.
    fn forward_chunked(&self, x: &[f32], n: usize, chunk: usize) -> Result<Vec<f32>>;
    /// Number of parameters.
    fn num_params(&self) -> usize;
}

/// A dense map y = x W (+ b), W stored (d_in, d_out) row-major.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Dense {
    /// Input width.
    pub d_in: usize,
    /// Output width.
    pub d_out: usize,
    /// (d_in, d_out) row-major.
    pub w: Vec<f32>,
    /// Optional bias (d_out).
    pub b: Option<Vec<f32>>,
}

impl Dense {
    /// All-zero map.
    pub fn zeros(d_in: usize, d_out: usize) -> Self {
        Dense { d_in, d_out, w: vec![0.0; d_in * d_out], b: None }
    }
    /// Random map with std 1/√d_in.
    pub fn random(d_in: usize, d_out: usize, rng: &mut Rng) -> Self {
        let std = 1.0 / libm::sqrtf(d_in as f32);
        Dense { d_in, d_out, w: rng.normals(d_in * d_out, std), b: None }
    }
    /// Sets W[i, j].
    pub fn set(&mut self, i: usize, j: usize, v: f32) {
        self.w[i * self.d_out + j] = v;
    }
    /// Parameter count.
    pub fn num_params(&self) -> usize {
        self.w.len() + self.b.as_ref().map_or(0, |b| b.len())
    }
    /// y = x W + b for n rows. Zero inputs are skipped (hand-set models are sparse).
    pub fn apply(&self, x: &[f32], n: usize) -> Result<Vec<f32>> {
        if x.len() != n * self.d_in {
            return Err(AttnError::Shape(alloc::format!(
                "dense input has {} values, expected n·d_in = {}·{}",
                x.len(),
                n,
                self.d_in
            )));
        }
        let mut y = vec![0.0; n * self.d_out];
        for t in 0..n {
            let yr = &mut y[t * self.d_out..(t + 1) * self.d_out];
            if let Some(b) = &self.b {
                yr.copy_from_slice(b);
            }
            for (i, &xi) in x[t * self.d_in..(t + 1) * self.d_in].iter().enumerate() {
                if xi == 0.0 {
                    continue;
                }
                let wr = &self.w[i * self.d_out..(i + 1) * self.d_out];
                for (yj, &wj) in yr.iter_mut().zip(wr) {
                    *yj += xi * wj;
                }
            }
        }
        Ok(y)
    }
}

/// Query/key/value/output projections of a multi-head mixer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Projections {
    /// Number of heads H.
    pub heads: usize,
    /// Key (and query) dim per head.
    pub dk: usize,
    /// Value dim per head.
    pub dv: usize,
    /// d → H·dk.
    pub wq: Dense,
    /// d → H·dk.
    pub wk: Dense,
    /// d → H·dv.
    pub wv: Dense,
    /// H·dv → d.
    pub wo: Dense,
}

impl Projections {
    /// Random projections.
    pub fn random(d: usize, heads: usize, dk: usize, dv: usize, rng: &mut Rng) -> Self {
        Projections {
            heads,
            dk,
            dv,
            wq: Dense::random(d, heads * dk, rng),
            wk: Dense::random(d, heads * dk, rng),
            wv: Dense::random(d, heads * dv, rng),
            wo: Dense::random(heads * dv, d, rng),
        }
    }
    /// Model width.
    pub fn d_model(&self) -> usize {
        self.wq.d_in
    }
    /// Parameter count.
    pub fn num_params(&self) -> usize {
        self.wq.num_params() + self.wk.num_params() + self.wv.num_params() + self.wo.num_params()
    }
    /// Checks `x` has n·d values.
    pub fn check(&self, x: &[f32], n: usize) -> Result<()> {
        if x.len() != n * self.d_model() {
            return Err(AttnError::Shape(alloc::format!(
                "mixer input has {} values, expected n·d = {}·{}",
                x.len(),
                n,
                self.d_model()
            )));
        }
        Ok(())
    }
    /// Projects x to (q, k, v), each (n, H·dk|dv).
    pub fn qkv(&self, x: &[f32], n: usize) -> Result<(Vec<f32>, Vec<f32>, Vec<f32>)> {
        self.check(x, n)?;
        Ok((self.wq.apply(x, n)?, self.wk.apply(x, n)?, self.wv.apply(x, n)?))
    }
}

/// Column block `h` (width w) of an (n, H·w) buffer, as a contiguous (n, w) buffer.
pub fn head_slice(a: &[f32], n: usize, heads: usize, w: usize, h: usize) -> Vec<f32> {
    let mut out = Vec::with_capacity(n * w);
    for t in 0..n {
        let base = t * heads * w + h * w;
        out.extend_from_slice(&a[base..base + w]);
    }
    out
}

/// Column `h` of an (n, H) buffer.
pub fn head_col(a: &[f32], n: usize, heads: usize, h: usize) -> Vec<f32> {
    (0..n).map(|t| a[t * heads + h]).collect()
}

/// Writes a contiguous (n, w) buffer into column block `h` of an (n, H·w) buffer.
pub fn head_put(dst: &mut [f32], src: &[f32], n: usize, heads: usize, w: usize, h: usize) {
    for t in 0..n {
        let base = t * heads * w + h * w;
        dst[base..base + w].copy_from_slice(&src[t * w..(t + 1) * w]);
    }
}

/// Scales each row of an (n, w) buffer to unit L2 norm (eps-guarded).
pub fn l2norm_rows(a: &mut [f32], w: usize) {
    for row in a.chunks_mut(w) {
        let s = libm::sqrtf(row.iter().map(|x| x * x).sum::<f32>() + 1e-6);
        row.iter_mut().for_each(|x| *x /= s);
    }
}

/// ln(1 + eˣ), stable.
pub fn softplus(x: f32) -> f32 {
    if x > 20.0 {
        x
    } else {
        libm::log1pf(libm::expf(x))
    }
}

/// ln σ(x), stable.
pub fn log_sigmoid(x: f32) -> f32 {
    -softplus(-x)
}

/// σ(x).
pub fn sigmoid(x: f32) -> f32 {
    1.0 / (1.0 + libm::expf(-x))
}

/// Checks a chunk size.
pub fn check_chunk(chunk: usize) -> Result<()> {
    if chunk == 0 {
        return Err(AttnError::Config("chunk size must be at least 1".into()));
    }
    Ok(())
}

/// Any of the mixers, as one serializable value.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum AnyMixer {
    /// Causal softmax attention.
    Softmax(softmax::SoftmaxAttention),
    /// Linear attention.
    Linear(linear::LinearAttention),
    /// RetNet.
    RetNet(retnet::RetNet),
    /// Gated linear attention.
    Gla(gla::Gla),
    /// Mamba2 (SSD).
    Mamba2(mamba2::Mamba2),
    /// DeltaNet.
    DeltaNet(deltanet::DeltaNet),
    /// Gated DeltaNet.
    GatedDeltaNet(gated_deltanet::GatedDeltaNet),
}

impl AnyMixer {
    /// A randomly initialised mixer of the given kind.
    pub fn random(kind: MixerKind, d: usize, heads: usize, head_dim: usize, rng: &mut Rng) -> Self {
        match kind {
            MixerKind::Softmax => AnyMixer::Softmax(softmax::SoftmaxAttention::random(d, heads, head_dim, rng)),
            MixerKind::Linear => AnyMixer::Linear(linear::LinearAttention::random(d, heads, head_dim, rng)),
            MixerKind::RetNet => AnyMixer::RetNet(retnet::RetNet::random(d, heads, head_dim, rng)),
            MixerKind::Gla => AnyMixer::Gla(gla::Gla::random(d, heads, head_dim, rng)),
            MixerKind::Mamba2 => AnyMixer::Mamba2(mamba2::Mamba2::random(d, heads, head_dim, rng)),
            MixerKind::DeltaNet => AnyMixer::DeltaNet(deltanet::DeltaNet::random(d, heads, head_dim, rng)),
            MixerKind::GatedDeltaNet => {
                AnyMixer::GatedDeltaNet(gated_deltanet::GatedDeltaNet::random(d, heads, head_dim, rng))
            }
        }
    }

    fn inner(&self) -> &dyn Mixer {
        match self {
            AnyMixer::Softmax(m) => m,
            AnyMixer::Linear(m) => m,
            AnyMixer::RetNet(m) => m,
            AnyMixer::Gla(m) => m,
            AnyMixer::Mamba2(m) => m,
            AnyMixer::DeltaNet(m) => m,
            AnyMixer::GatedDeltaNet(m) => m,
        }
    }
}

impl Mixer for AnyMixer {
    fn kind(&self) -> MixerKind {
        self.inner().kind()
    }
    fn d_model(&self) -> usize {
        self.inner().d_model()
    }
    fn forward_recurrent(&self, x: &[f32], n: usize) -> Result<Vec<f32>> {
        self.inner().forward_recurrent(x, n)
    }
    fn forward_chunked(&self, x: &[f32], n: usize, chunk: usize) -> Result<Vec<f32>> {
        self.inner().forward_chunked(x, n, chunk)
    }
    fn num_params(&self) -> usize {
        self.inner().num_params()
    }
}

impl Projections {
    /// Projects x, runs `f(h, q_h, k_h, v_h) -> o_h` (each contiguous (n, ·)) on every head,
    /// concatenates the heads and applies the output projection.
    pub fn run<F>(&self, x: &[f32], n: usize, mut f: F) -> Result<Vec<f32>>
    where
        F: FnMut(usize, Vec<f32>, Vec<f32>, Vec<f32>) -> Vec<f32>,
    {
        let (q, k, v) = self.qkv(x, n)?;
        let mut o = vec![0.0; n * self.heads * self.dv];
        for h in 0..self.heads {
            let qh = head_slice(&q, n, self.heads, self.dk, h);
            let kh = head_slice(&k, n, self.heads, self.dk, h);
            let vh = head_slice(&v, n, self.heads, self.dv, h);
            let oh = f(h, qh, kh, vh);
            head_put(&mut o, &oh, n, self.heads, self.dv, h);
        }
        self.wo.apply(&o, n)
    }
}

/// Scales every entry of a buffer.
pub fn scale(a: &mut [f32], s: f32) {
    a.iter_mut().for_each(|x| *x *= s);
}
