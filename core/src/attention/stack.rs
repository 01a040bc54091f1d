//! A layer stack given by a spec string: embedding, residual blocks (mixer, optional MLP, optional
//! RMSNorm before each), and a readout at the last token.
//!
//! x₀ = features·E (or the features themselves, zero-padded, when there is no embedding);
//! x ← x + mixer(norm(x)); x ← x + MLP(norm(x)); answer = readout(norm(x_last)).

use alloc::vec;
use alloc::vec::Vec;
use serde::{Deserialize, Serialize};

use super::error::{AttnError, Result};
use super::mixer::{AnyMixer, Dense, Mixer};
use super::spec::{parse_spec, MixerKind};
use super::task::Rng;

/// How the mixers are computed: the same function, token by token or a chunk at a time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MixerMode {
    /// Token by token.
    Recurrent,
    /// Chunked, with the given chunk size.
    Chunked(usize),
}

/// Two-layer ReLU MLP.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Mlp {
    /// d → hidden (with bias).
    pub up: Dense,
    /// hidden → d (with bias).
    pub down: Dense,
}

impl Mlp {
    /// Forward over n rows.
    pub fn forward(&self, x: &[f32], n: usize) -> Result<Vec<f32>> {
        let mut h = self.up.apply(x, n)?;
        h.iter_mut().for_each(|z| *z = z.max(0.0));
        self.down.apply(&h, n)
    }
}

/// One residual block.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Block {
    /// Sequence mixer.
    pub mixer: AnyMixer,
    /// RMSNorm gain before the mixer (None: no norm).
    pub norm1: Option<Vec<f32>>,
    /// Optional MLP.
    pub mlp: Option<Mlp>,
    /// RMSNorm gain before the MLP.
    pub norm2: Option<Vec<f32>>,
}

/// How the answer is read from the last token.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum AnswerHead {
    /// Class logits = x_last·W + b; answer = argmax.
    Logits {
        /// d → classes.
        head: Dense,
    },
    /// Answer = the ±1 code stored in residual dims `offset..offset+bits` (decoded by sign).
    Code {
        /// First dim.
        offset: usize,
        /// Number of bits.
        bits: usize,
    },
}

/// A stack of residual blocks.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Stack {
    /// Input feature width.
    pub d_in: usize,
    /// Residual width.
    pub d_model: usize,
    /// Input embedding (None: copy features into the first d_in residual dims).
    pub embed: Option<Dense>,
    /// Blocks.
    pub blocks: Vec<Block>,
    /// Final RMSNorm gain.
    pub final_norm: Option<Vec<f32>>,
    /// Readout.
    pub readout: AnswerHead,
}

/// Width and options of a randomly initialised stack.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct StackShape {
    /// Input feature width.
    pub d_in: usize,
    /// Residual width.
    pub d_model: usize,
    /// Heads per mixer.
    pub heads: usize,
    /// Head dim.
    pub head_dim: usize,
    /// MLP hidden width (0: no MLP).
    pub mlp_hidden: usize,
    /// Number of answer classes.
    pub classes: usize,
}

/// RMSNorm of each row with gain g.
pub fn rms_norm(x: &[f32], g: &[f32]) -> Vec<f32> {
    let d = g.len();
    let mut out = x.to_vec();
    for row in out.chunks_mut(d) {
        let ms = row.iter().map(|z| z * z).sum::<f32>() / d as f32;
        let r = 1.0 / libm::sqrtf(ms + 1e-6);
        for (z, gi) in row.iter_mut().zip(g) {
            *z *= r * gi;
        }
    }
    out
}

impl Stack {
    /// A randomly initialised stack from a spec string.
    pub fn random(spec: &str, shape: StackShape, rng: &mut Rng) -> Result<Self> {
        let kinds = parse_spec(spec)?;
        let d = shape.d_model;
        if d == 0 || shape.heads == 0 || shape.head_dim == 0 || shape.classes == 0 {
            return Err(AttnError::Config("widths, heads and classes must be positive".into()));
        }
        let blocks = kinds
            .iter()
            .map(|&k| Block {
                mixer: AnyMixer::random(k, d, shape.heads, shape.head_dim, rng),
                norm1: Some(vec![1.0; d]),
                mlp: (shape.mlp_hidden > 0).then(|| {
                    let mut up = Dense::random(d, shape.mlp_hidden, rng);
                    up.b = Some(vec![0.0; shape.mlp_hidden]);
                    let mut down = Dense::random(shape.mlp_hidden, d, rng);
                    down.b = Some(vec![0.0; d]);
                    Mlp { up, down }
                }),
                norm2: (shape.mlp_hidden > 0).then(|| vec![1.0; d]),
            })
            .collect();
        let mut head = Dense::random(d, shape.classes, rng);
        head.b = Some(vec![0.0; shape.classes]);
        Ok(Stack {
            d_in: shape.d_in,
            d_model: d,
            embed: Some(Dense::random(shape.d_in, d, rng)),
            blocks,
            final_norm: Some(vec![1.0; d]),
            readout: AnswerHead::Logits { head },
        })
    }

    /// The mixer of every layer.
    pub fn kinds(&self) -> Vec<MixerKind> {
        self.blocks.iter().map(|b| b.mixer.kind()).collect()
    }

    /// Parameter count.
    pub fn num_params(&self) -> usize {
        let norm = |g: &Option<Vec<f32>>| g.as_ref().map_or(0, |g| g.len());
        let mut p = self.embed.as_ref().map_or(0, |e| e.num_params()) + norm(&self.final_norm);
        for b in &self.blocks {
            p += b.mixer.num_params() + norm(&b.norm1) + norm(&b.norm2);
            if let Some(m) = &b.mlp {
                p += m.up.num_params() + m.down.num_params();
            }
        }
        if let AnswerHead::Logits { head } = &self.readout {
            p += head.num_params();
        }
        p
    }

    /// Embeds (n, d_in) features into the (n, d_model) residual stream.
    pub fn embed(&self, features: &[f32], n: usize) -> Result<Vec<f32>> {
        if features.len() != n * self.d_in {
            return Err(AttnError::Shape(alloc::format!(
                "features have {} values, expected n·d_in = {}·{}",
                features.len(),
                n,
                self.d_in
            )));
        }
        match &self.embed {
            Some(e) => e.apply(features, n),
            None => {
                if self.d_in > self.d_model {
                    return Err(AttnError::Shape("d_in exceeds d_model without an embedding".into()));
                }
                let mut x = vec![0.0; n * self.d_model];
                for t in 0..n {
                    x[t * self.d_model..t * self.d_model + self.d_in]
                        .copy_from_slice(&features[t * self.d_in..(t + 1) * self.d_in]);
                }
                Ok(x)
            }
        }
    }

    /// The residual stream after every block, (n, d_model).
    pub fn forward(&self, features: &[f32], n: usize, mode: MixerMode) -> Result<Vec<f32>> {
        if n == 0 {
            return Err(AttnError::Shape("empty prompt".into()));
        }
        let mut x = self.embed(features, n)?;
        for b in &self.blocks {
            let h = match &b.norm1 {
                Some(g) => rms_norm(&x, g),
                None => x.clone(),
            };
            let y = match mode {
                MixerMode::Recurrent => b.mixer.forward_recurrent(&h, n)?,
                MixerMode::Chunked(c) => b.mixer.forward_chunked(&h, n, c)?,
            };
            x.iter_mut().zip(&y).for_each(|(a, b)| *a += b);
            if let Some(m) = &b.mlp {
                let h = match &b.norm2 {
                    Some(g) => rms_norm(&x, g),
                    None => x.clone(),
                };
                let y = m.forward(&h, n)?;
                x.iter_mut().zip(&y).for_each(|(a, b)| *a += b);
            }
        }
        Ok(x)
    }

    /// Reads the answer from the last row of a residual stream.
    pub fn read(&self, last: &[f32]) -> Result<(u32, Vec<f32>)> {
        let h = match &self.final_norm {
            Some(g) => rms_norm(last, g),
            None => last.to_vec(),
        };
        match &self.readout {
            AnswerHead::Logits { head } => {
                let logits = head.apply(&h, 1)?;
                if logits.iter().any(|z| !z.is_finite()) {
                    return Err(AttnError::NonFinite { what: "readout logits".into(), step: None });
                }
                let best = logits
                    .iter()
                    .enumerate()
                    .fold((0, f32::NEG_INFINITY), |acc, (i, &z)| if z > acc.1 { (i, z) } else { acc });
                Ok((best.0 as u32, logits))
            }
            AnswerHead::Code { offset, bits } => {
                let code = h[*offset..*offset + *bits].to_vec();
                Ok((super::task::decode(&code), code))
            }
        }
    }

    /// Full forward and readout at the last token.
    pub fn predict(&self, features: &[f32], n: usize, mode: MixerMode) -> Result<u32> {
        let x = self.forward(features, n, mode)?;
        Ok(self.read(&x[(n - 1) * self.d_model..])?.0)
    }

    /// Fast exact path for attention-only stacks whose keys and values read only residual dims
    /// that no block writes (true of the hand-set construction): those dims keep their input
    /// values at every token, so only the last token's row has to be carried through the layers,
    /// O(n·d) per layer instead of O(n²). `round` emulates a lower-precision residual stream.
    pub fn predict_last(&self, features: &[f32], n: usize, round: Option<fn(f32) -> f32>) -> Result<u32> {
        let d = self.d_model;
        let mut written = vec![false; d];
        for b in &self.blocks {
            if b.norm1.is_some() || b.mlp.is_some() {
                return Err(AttnError::Config("predict_last needs attention-only blocks without norms".into()));
            }
            let AnyMixer::Softmax(m) = &b.mixer else {
                return Err(AttnError::Config("predict_last needs softmax blocks".into()));
            };
            let wo = &m.heads.wo;
            for row in wo.w.chunks(d) {
                for (w, &z) in written.iter_mut().zip(row) {
                    *w |= z != 0.0;
                }
            }
        }
        for b in &self.blocks {
            let AnyMixer::Softmax(m) = &b.mixer else { unreachable!() };
            for w in [&m.heads.wk, &m.heads.wv] {
                for (i, _) in written.iter().enumerate().filter(|(_, &w)| w) {
                    if w.w[i * w.d_out..(i + 1) * w.d_out].iter().any(|&z| z != 0.0) {
                        return Err(AttnError::Config(
                            "predict_last: a key or value reads a residual dim that a block writes".into(),
                        ));
                    }
                }
            }
        }
        let x0 = self.embed(features, n)?;
        let mut last = x0[(n - 1) * d..].to_vec();
        for b in &self.blocks {
            let AnyMixer::Softmax(m) = &b.mixer else { unreachable!() };
            let hd = &m.heads;
            let q = hd.wq.apply(&last, 1)?;
            let k = hd.wk.apply(&x0, n)?;
            let v = hd.wv.apply(&x0, n)?;
            let mut o = vec![0.0; hd.heads * hd.dv];
            for h in 0..hd.heads {
                let qh = &q[h * hd.dk..(h + 1) * hd.dk];
                let scores: Vec<f32> = (0..n)
                    .map(|s| {
                        let ks = &k[s * hd.heads * hd.dk + h * hd.dk..][..hd.dk];
                        m.scale * qh.iter().zip(ks).map(|(a, b)| a * b).sum::<f32>()
                    })
                    .collect();
                let mx = scores.iter().cloned().fold(f32::NEG_INFINITY, f32::max);
                let p: Vec<f32> = scores.iter().map(|s| libm::expf(s - mx)).collect();
                let z: f32 = p.iter().sum();
                for s in 0..n {
                    let vs = &v[s * hd.heads * hd.dv + h * hd.dv..][..hd.dv];
                    for j in 0..hd.dv {
                        o[h * hd.dv + j] += p[s] / z * vs[j];
                    }
                }
            }
            let y = hd.wo.apply(&o, 1)?;
            last.iter_mut().zip(&y).for_each(|(a, b)| *a += b);
            if let Some(r) = round {
                last.iter_mut().for_each(|z| *z = r(*z));
            }
        }
        Ok(self.read(&last)?.0)
    }
}
