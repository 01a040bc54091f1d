//! Training small stacks on the composition task with candle's autograd (feature `model`).
//!
//! The candle model is built *from* a [`Stack`] (same parameters, same layout: a `Dense` W is
//! (d_in, d_out) so y = x·W) and exported back to one, so the plain no_std forward — whose mixers are
//! tested against their naive recurrences — checks the candle forward (see the integration tests),
//! and a trained model runs anywhere the lab runs, the browser included.
//!
//! Training uses quadratic "parallel" forms, which are cheapest at the short prompts we train on:
//! softmax, linear, RetNet and Mamba2 as masked n×n score matrices with decay factors
//! exp(G_t − G_s) (G = cumulative log-decay, only s ≤ t exponentiated), GLA with a per-channel
//! (n, n, dk) decay tensor, and the delta-rule mixers as their token-by-token recurrence.
//! The optimiser is a hand-written AdamW with global-norm clipping and a cosine schedule.

use candle_core::{DType, Device, Tensor, Var, D};

use super::error::{AttnError, Result};
pub use super::experiment::{ModelConfig, TrainConfig, TrainResult, EARLY_STOP_WINDOW};
use super::mixer::{AnyMixer, Dense, Projections};
use super::spec::{parse_spec, MixerKind};
use super::stack::{AnswerHead, Block, Mlp, Stack, StackShape};
use super::task::{Rng, TaskSpec};

fn ce(e: candle_core::Error) -> AttnError {
    AttnError::Config(alloc::format!("candle: {e}"))
}

struct DenseV {
    w: Var,
    b: Option<Var>,
}

impl DenseV {
    fn new(d: &Dense, dev: &Device) -> Result<Self> {
        let w = Var::from_tensor(&Tensor::from_slice(&d.w, (d.d_in, d.d_out), dev).map_err(ce)?).map_err(ce)?;
        let b = match &d.b {
            Some(b) => Some(Var::from_tensor(&Tensor::from_slice(b, d.d_out, dev).map_err(ce)?).map_err(ce)?),
            None => None,
        };
        Ok(DenseV { w, b })
    }
    fn fwd(&self, x: &Tensor) -> candle_core::Result<Tensor> {
        let y = x.broadcast_matmul(self.w.as_tensor())?;
        match &self.b {
            Some(b) => y.broadcast_add(b.as_tensor()),
            None => Ok(y),
        }
    }
    fn export(&self) -> candle_core::Result<Dense> {
        let (d_in, d_out) = self.w.as_tensor().dims2()?;
        Ok(Dense {
            d_in,
            d_out,
            w: self.w.as_tensor().flatten_all()?.to_vec1()?,
            b: match &self.b {
                Some(b) => Some(b.as_tensor().to_vec1()?),
                None => None,
            },
        })
    }
    fn vars(&self) -> Vec<Var> {
        let mut v = vec![self.w.clone()];
        v.extend(self.b.clone());
        v
    }
}

fn vec_var(x: &[f32], dev: &Device) -> Result<Var> {
    Var::from_tensor(&Tensor::from_slice(x, x.len(), dev).map_err(ce)?).map_err(ce)
}

struct MixerV {
    kind: MixerKind,
    heads: usize,
    dk: usize,
    dv: usize,
    q: DenseV,
    k: DenseV,
    v: DenseV,
    o: DenseV,
    /// GLA gate / Mamba2 Δ / (Gated) DeltaNet β.
    x1: Option<DenseV>,
    /// Gated DeltaNet decay step.
    x2: Option<DenseV>,
    a_log: Option<Var>,
    d_skip: Option<Var>,
    scale: f32,
}

fn softplus(x: &Tensor) -> candle_core::Result<Tensor> {
    // relu(x) + ln(1 + e^{−|x|}): no overflow, finite gradients.
    x.relu()? + (x.abs()?.neg()?.exp()? + 1.0)?.log()?
}

fn sigmoid(x: &Tensor) -> candle_core::Result<Tensor> {
    softplus(&x.neg()?)?.neg()?.exp()
}

fn l2norm(x: &Tensor) -> candle_core::Result<Tensor> {
    x.broadcast_div(&(x.sqr()?.sum_keepdim(D::Minus1)? + 1e-6)?.sqrt()?)
}

fn rms(x: &Tensor, g: &Var) -> candle_core::Result<Tensor> {
    let r = (x.sqr()?.mean_keepdim(D::Minus1)? + 1e-6)?.sqrt()?;
    x.broadcast_div(&r)?.broadcast_mul(g.as_tensor())
}

impl MixerV {
    fn new(m: &AnyMixer, dev: &Device) -> Result<Self> {
        let mk = |h: &Projections,
                  kind,
                  x1: Option<&Dense>,
                  x2: Option<&Dense>,
                  a: Option<&[f32]>,
                  d: Option<&[f32]>,
                  scale|
         -> Result<MixerV> {
            Ok(MixerV {
                kind,
                heads: h.heads,
                dk: h.dk,
                dv: h.dv,
                q: DenseV::new(&h.wq, dev)?,
                k: DenseV::new(&h.wk, dev)?,
                v: DenseV::new(&h.wv, dev)?,
                o: DenseV::new(&h.wo, dev)?,
                x1: x1.map(|d| DenseV::new(d, dev)).transpose()?,
                x2: x2.map(|d| DenseV::new(d, dev)).transpose()?,
                a_log: a.map(|a| vec_var(a, dev)).transpose()?,
                d_skip: d.map(|a| vec_var(a, dev)).transpose()?,
                scale,
            })
        };
        match m {
            AnyMixer::Softmax(s) => mk(&s.heads, MixerKind::Softmax, None, None, None, None, s.scale),
            AnyMixer::Linear(s) => mk(&s.heads, MixerKind::Linear, None, None, None, None, 0.0),
            AnyMixer::RetNet(s) => mk(&s.heads, MixerKind::RetNet, None, None, None, None, 0.0),
            AnyMixer::Gla(s) => mk(&s.heads, MixerKind::Gla, Some(&s.wg), None, None, None, 0.0),
            AnyMixer::Mamba2(s) => {
                mk(&s.heads, MixerKind::Mamba2, Some(&s.w_dt), None, Some(&s.a_log), Some(&s.d_skip), 0.0)
            }
            AnyMixer::DeltaNet(s) => mk(&s.heads, MixerKind::DeltaNet, Some(&s.wb), None, None, None, 0.0),
            AnyMixer::GatedDeltaNet(s) => {
                mk(&s.heads, MixerKind::GatedDeltaNet, Some(&s.wb), Some(&s.wa), Some(&s.a_log), None, 0.0)
            }
        }
    }

    fn vars(&self) -> Vec<Var> {
        let mut v = Vec::new();
        for d in [&self.q, &self.k, &self.v, &self.o] {
            v.extend(d.vars());
        }
        for d in [&self.x1, &self.x2].into_iter().flatten() {
            v.extend(d.vars());
        }
        v.extend(self.a_log.clone());
        v.extend(self.d_skip.clone());
        v
    }

    fn export(&self) -> candle_core::Result<AnyMixer> {
        use super::{deltanet, gated_deltanet, gla, linear, mamba2, retnet, softmax};
        let heads = Projections {
            heads: self.heads,
            dk: self.dk,
            dv: self.dv,
            wq: self.q.export()?,
            wk: self.k.export()?,
            wv: self.v.export()?,
            wo: self.o.export()?,
        };
        let x1 = || self.x1.as_ref().unwrap().export();
        let vecv = |v: &Option<Var>| -> candle_core::Result<Vec<f32>> { v.as_ref().unwrap().as_tensor().to_vec1() };
        Ok(match self.kind {
            MixerKind::Softmax => AnyMixer::Softmax(softmax::SoftmaxAttention { heads, scale: self.scale }),
            MixerKind::Linear => AnyMixer::Linear(linear::LinearAttention { heads }),
            MixerKind::RetNet => AnyMixer::RetNet(retnet::RetNet { heads }),
            MixerKind::Gla => AnyMixer::Gla(gla::Gla { heads, wg: x1()? }),
            MixerKind::Mamba2 => AnyMixer::Mamba2(mamba2::Mamba2 {
                heads,
                w_dt: x1()?,
                a_log: vecv(&self.a_log)?,
                d_skip: vecv(&self.d_skip)?,
            }),
            MixerKind::DeltaNet => AnyMixer::DeltaNet(deltanet::DeltaNet { heads, wb: x1()? }),
            MixerKind::GatedDeltaNet => AnyMixer::GatedDeltaNet(gated_deltanet::GatedDeltaNet {
                heads,
                wb: x1()?,
                wa: self.x2.as_ref().unwrap().export()?,
                a_log: vecv(&self.a_log)?,
            }),
        })
    }

    /// (B, n, d) → (B, n, d).
    fn fwd(&self, h: &Tensor, masks: &Masks) -> candle_core::Result<Tensor> {
        let (b, n, _) = h.dims3()?;
        let (hh, dk, dv) = (self.heads, self.dk, self.dv);
        let split = |t: Tensor, w: usize| t.reshape((b, n, hh, w))?.transpose(1, 2)?.contiguous();
        let mut q = split(self.q.fwd(h)?, dk)?;
        let mut k = split(self.k.fwd(h)?, dk)?;
        let v = split(self.v.fwd(h)?, dv)?;
        // Per-head scalar per token: (B, n, H) → (B, H, n).
        let per_head = |d: &DenseV| d.fwd(h).and_then(|t| t.transpose(1, 2)?.contiguous());
        let inv_sqrt = 1.0 / (dk as f64).sqrt();
        let o = match self.kind {
            MixerKind::Softmax => {
                let s = (q.matmul(&k.t()?)? * self.scale as f64)?.broadcast_add(&masks.neg)?;
                let s = s.broadcast_sub(&s.max_keepdim(D::Minus1)?)?.exp()?;
                let p = s.broadcast_div(&s.sum_keepdim(D::Minus1)?)?;
                p.matmul(&v)?
            }
            MixerKind::Linear => (q * inv_sqrt)?.matmul(&k.t()?)?.broadcast_mul(&masks.tril)?.matmul(&v)?,
            MixerKind::RetNet => (q * inv_sqrt)?.matmul(&k.t()?)?.broadcast_mul(&masks.retnet(hh)?)?.matmul(&v)?,
            MixerKind::Mamba2 => {
                let dt = softplus(&per_head(self.x1.as_ref().unwrap())?)?; // (B,H,n)
                let a = self.a_log.as_ref().unwrap().as_tensor().exp()?.neg()?.reshape((1, hh, 1))?;
                let g = dt.broadcast_mul(&a)?.cumsum(2)?;
                let decay = masks.decay(&g)?;
                let xs = v.broadcast_mul(&dt.unsqueeze(3)?)?;
                let y = q.matmul(&k.t()?)?.mul(&decay)?.matmul(&xs)?;
                let dsk = self.d_skip.as_ref().unwrap().as_tensor().reshape((1, hh, 1, 1))?;
                (y + v.broadcast_mul(&dsk)?)?
            }
            MixerKind::Gla => {
                let g = self.x1.as_ref().unwrap().fwd(h)?; // (B, n, H·dk)
                let g = (softplus(&g.neg()?)?.neg()? / super::gla::GATE_NORM as f64)?;
                let g = split(g, dk)?.cumsum(2)?; // (B,H,n,dk)
                let diff = g.unsqueeze(3)?.broadcast_sub(&g.unsqueeze(2)?)?; // [t, s, c] = G_t − G_s
                let decay = diff.broadcast_add(&masks.neg.unsqueeze(2)?)?.exp()?;
                let qs = (q * inv_sqrt)?;
                let a = qs.unsqueeze(3)?.broadcast_mul(&k.unsqueeze(2)?)?.mul(&decay)?.sum(D::Minus1)?;
                a.matmul(&v)?
            }
            MixerKind::DeltaNet | MixerKind::GatedDeltaNet => {
                // Parallel (WY) form of S_t = α_t·S_{t−1}(I − β_t k_t k_tᵀ) + β_t v_t k_tᵀ:
                // S_t = Σ_{s≤t} (Γ_t/Γ_s)·u_s k_sᵀ with u_t = β_t(v_t − Σ_{s<t} (Γ_t/Γ_s)(k_t·k_s) u_s),
                // i.e. U = (I + A)⁻¹·diag(β)V for the strictly lower A = diag(β)(KKᵀ ⊙ D), and
                // o_t = S_t q_t = Σ_{s≤t} (Γ_t/Γ_s)(q_t·k_s) u_s. D = Γ_t/Γ_s (1 without a gate).
                q = l2norm(&q)?;
                k = l2norm(&k)?;
                let beta = sigmoid(&per_head(self.x1.as_ref().unwrap())?)?.unsqueeze(3)?; // (B,H,n,1)
                let decay = match &self.x2 {
                    Some(x2) => {
                        let a = self.a_log.as_ref().unwrap().as_tensor().exp()?.reshape((1, hh, 1))?;
                        let log_alpha = softplus(&per_head(x2)?)?.broadcast_mul(&a)?.neg()?;
                        masks.decay(&log_alpha.cumsum(2)?)?
                    }
                    None => masks.tril.clone(),
                };
                let a = k.matmul(&k.t()?)?.broadcast_mul(&decay)?.broadcast_mul(&masks.strict)?.broadcast_mul(&beta)?;
                let u = unit_lower_inverse(&a, masks)?.matmul(&v.broadcast_mul(&beta)?)?;
                q.matmul(&k.t()?)?.broadcast_mul(&decay)?.matmul(&u)?
            }
        };
        let o = o.transpose(1, 2)?.reshape((b, n, hh * dv))?;
        self.o.fwd(&o)
    }
}

/// Constant masks for one prompt length.
struct Masks {
    n: usize,
    /// 1 on and below the diagonal, else 0: (n, n).
    tril: Tensor,
    /// 1 strictly below the diagonal, else 0: (n, n).
    strict: Tensor,
    /// Identity: (n, n).
    eye: Tensor,
    /// For b = 1, 2, 4, … < n: 1 where row t and column s lie in the same 2b-block, t in its
    /// second half and s in its first (the A₂₁ blocks of [`unit_lower_inverse`]).
    block_merges: Vec<Tensor>,
    /// 0 on and below the diagonal, else −1e9: (n, n).
    neg: Tensor,
    dev: Device,
}

impl Masks {
    fn new(n: usize, dev: &Device) -> candle_core::Result<Self> {
        let tril = Tensor::tril2(n, DType::F32, dev)?;
        let neg = ((tril.clone() - 1.0)? * 1e9)?;
        let eye = Tensor::eye(n, DType::F32, dev)?;
        let strict = (&tril - &eye)?;
        let mut block_merges = Vec::new();
        let mut b = 1;
        while b < n {
            let m: Vec<f32> = (0..n * n)
                .map(|i| {
                    let (t, s) = (i / n, i % n);
                    (t / (2 * b) == s / (2 * b) && t % (2 * b) >= b && s % (2 * b) < b) as u8 as f32
                })
                .collect();
            block_merges.push(Tensor::from_vec(m, (n, n), dev)?);
            b *= 2;
        }
        Ok(Masks { n, tril, strict, eye, block_merges, neg, dev: dev.clone() })
    }
    fn retnet(&self, heads: usize) -> candle_core::Result<Tensor> {
        let n = self.n;
        let mut m = vec![0.0f32; heads * n * n];
        for h in 0..heads {
            let lg = super::retnet::gamma(h).ln();
            for t in 0..n {
                for s in 0..=t {
                    m[h * n * n + t * n + s] = (lg * (t - s) as f32).exp();
                }
            }
        }
        Tensor::from_vec(m, (1, heads, n, n), &self.dev)
    }
    /// exp(G_t − G_s) for s ≤ t, else 0; g: (B, H, n) cumulative log-decay.
    fn decay(&self, g: &Tensor) -> candle_core::Result<Tensor> {
        g.unsqueeze(3)?.broadcast_sub(&g.unsqueeze(2)?)?.broadcast_add(&self.neg)?.exp()
    }
}

/// (I + A)⁻¹ for strictly lower-triangular A (…, n, n), by block-recursive inversion done
/// level by level on the whole matrix: with T block-diagonal holding the inverses of the
/// diagonal blocks of size b, each pair of blocks merges as [[T₁₁, 0], [−T₂₂A₂₁T₁₁, T₂₂]], i.e.
/// T ← T − T·(A ⊙ M_b)·T, where M_b keeps the A₂₁ blocks. ⌈log₂ n⌉ levels of plain matmuls
/// (differentiable, no per-token loop). Unlike the Neumann product (I − A)(I + A²)(I + A⁴)…,
/// whose powers of A grow like binomials when keys are aligned, every intermediate here is an
/// inverse of a principal block, as bounded as the recurrence itself.
fn unit_lower_inverse(a: &Tensor, masks: &Masks) -> candle_core::Result<Tensor> {
    let mut inv = masks.eye.broadcast_as(a.shape())?.contiguous()?;
    for merge in &masks.block_merges {
        let off = a.broadcast_mul(merge)?;
        inv = (&inv - inv.matmul(&off)?.matmul(&inv)?)?;
    }
    Ok(inv)
}

struct BlockV {
    mixer: MixerV,
    norm1: Option<Var>,
    mlp: Option<(DenseV, DenseV)>,
    norm2: Option<Var>,
}

/// A trainable stack (candle parameters mirroring a [`Stack`]).
pub struct TrainableStack {
    embed: DenseV,
    blocks: Vec<BlockV>,
    final_norm: Option<Var>,
    head: DenseV,
    d_in: usize,
    d_model: usize,
    dev: Device,
}

impl TrainableStack {
    /// Copies a stack's parameters into candle variables (logit readout and embedding required).
    pub fn from_stack(s: &Stack) -> Result<Self> {
        let dev = Device::Cpu;
        let AnswerHead::Logits { head } = &s.readout else {
            return Err(AttnError::Config("training needs a logit readout".into()));
        };
        let Some(embed) = &s.embed else {
            return Err(AttnError::Config("training needs an input embedding".into()));
        };
        let opt = |g: &Option<Vec<f32>>| g.as_ref().map(|g| vec_var(g, &dev)).transpose();
        let blocks = s
            .blocks
            .iter()
            .map(|b| {
                Ok(BlockV {
                    mixer: MixerV::new(&b.mixer, &dev)?,
                    norm1: opt(&b.norm1)?,
                    mlp: match &b.mlp {
                        Some(m) => Some((DenseV::new(&m.up, &dev)?, DenseV::new(&m.down, &dev)?)),
                        None => None,
                    },
                    norm2: opt(&b.norm2)?,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(TrainableStack {
            embed: DenseV::new(embed, &dev)?,
            blocks,
            final_norm: opt(&s.final_norm)?,
            head: DenseV::new(head, &dev)?,
            d_in: s.d_in,
            d_model: s.d_model,
            dev,
        })
    }

    /// The trained parameters as a plain [`Stack`].
    pub fn to_stack(&self) -> Result<Stack> {
        let opt = |g: &Option<Var>| -> Result<Option<Vec<f32>>> {
            g.as_ref().map(|g| g.as_tensor().to_vec1::<f32>().map_err(ce)).transpose()
        };
        let blocks = self
            .blocks
            .iter()
            .map(|b| {
                Ok(Block {
                    mixer: b.mixer.export().map_err(ce)?,
                    norm1: opt(&b.norm1)?,
                    mlp: match &b.mlp {
                        Some((u, d)) => Some(Mlp { up: u.export().map_err(ce)?, down: d.export().map_err(ce)? }),
                        None => None,
                    },
                    norm2: opt(&b.norm2)?,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(Stack {
            d_in: self.d_in,
            d_model: self.d_model,
            embed: Some(self.embed.export().map_err(ce)?),
            blocks,
            final_norm: opt(&self.final_norm)?,
            readout: AnswerHead::Logits { head: self.head.export().map_err(ce)? },
        })
    }

    fn vars(&self) -> Vec<Var> {
        let mut v = self.embed.vars();
        for b in &self.blocks {
            v.extend(b.mixer.vars());
            v.extend(b.norm1.clone());
            if let Some((u, d)) = &b.mlp {
                v.extend(u.vars());
                v.extend(d.vars());
            }
            v.extend(b.norm2.clone());
        }
        v.extend(self.final_norm.clone());
        v.extend(self.head.vars());
        v
    }

    /// Logits (B, classes) for features (B·n·d_in values).
    pub fn logits(&self, features: &[f32], batch: usize, n: usize) -> Result<Vec<f32>> {
        let masks = Masks::new(n, &self.dev).map_err(ce)?;
        let x = Tensor::from_slice(features, (batch, n, self.d_in), &self.dev).map_err(ce)?;
        self.fwd(&x, &masks).and_then(|t| t.flatten_all()?.to_vec1()).map_err(ce)
    }

    fn fwd(&self, x: &Tensor, masks: &Masks) -> candle_core::Result<Tensor> {
        self.head.fwd(&self.last_hidden(x, masks)?)
    }

    /// The final (normed) residual at the last token: (B, d).
    fn last_hidden(&self, x: &Tensor, masks: &Masks) -> candle_core::Result<Tensor> {
        let (_, n, _) = x.dims3()?;
        let mut x = self.embed.fwd(x)?;
        for b in &self.blocks {
            let h = match &b.norm1 {
                Some(g) => rms(&x, g)?,
                None => x.clone(),
            };
            x = (x + b.mixer.fwd(&h, masks)?)?;
            if let Some((up, down)) = &b.mlp {
                let h = match &b.norm2 {
                    Some(g) => rms(&x, g)?,
                    None => x.clone(),
                };
                x = (x + down.fwd(&up.fwd(&h)?.relu()?)?)?;
            }
        }
        let last = x.narrow(1, n - 1, 1)?.squeeze(1)?;
        match &self.final_norm {
            Some(g) => rms(&last, g),
            None => Ok(last),
        }
    }
}

/// Builds a random stack for a model config and task.
pub fn init_stack(task: &TaskSpec, m: &ModelConfig, seed: u64) -> Result<Stack> {
    task.validate()?;
    parse_spec(&m.spec)?;
    if m.d_model == 0 || m.d_model > 1024 {
        return Err(AttnError::Config(alloc::format!("d_model must be in 1..=1024, got {}", m.d_model)));
    }
    let shape = StackShape {
        d_in: task.encoding().dim(),
        d_model: m.d_model,
        heads: m.heads,
        head_dim: m.head_dim,
        mlp_hidden: m.mlp_hidden,
        classes: task.num_classes(),
    };
    Stack::random(&m.spec, shape, &mut Rng::new(seed ^ 0xA11CE))
}

/// A batch of features and answer chains: `chains[i·(L+1) + l]` = i_l of instance i, so the
/// answer is every (L+1)-th value.
pub fn batch(task: &TaskSpec, rng: &mut Rng, size: usize) -> (Vec<f32>, Vec<u32>) {
    let enc = task.encoding();
    let mut x = Vec::with_capacity(size * task.prompt_len() * enc.dim());
    let mut chains = Vec::with_capacity(size * (task.steps() + 1));
    for _ in 0..size {
        let inst = task.sample(rng);
        x.extend(inst.features(&enc));
        chains.extend(inst.chain());
    }
    (x, chains)
}

/// Held-out accuracy of a candle model (instances from `seed`).
pub fn accuracy(model: &TrainableStack, task: &TaskSpec, instances: usize, seed: u64) -> Result<f64> {
    let mut rng = Rng::new(seed);
    let n = task.prompt_len();
    let classes = task.num_classes();
    let mut correct = 0;
    let mut done = 0;
    while done < instances {
        let bs = (instances - done).min(128);
        let (x, chains) = batch(task, &mut rng, bs);
        let logits = model.logits(&x, bs, n)?;
        for (i, yi) in hop(&chains, task.steps(), task.steps()).into_iter().enumerate() {
            let row = &logits[i * classes..(i + 1) * classes];
            if row.iter().any(|z| !z.is_finite()) {
                return Err(AttnError::NonFinite { what: "evaluation logits".into(), step: None });
            }
            correct += (argmax(row) == yi) as usize;
        }
        done += bs;
    }
    Ok(correct as f64 / instances.max(1) as f64)
}

/// Trains one model; `progress(step, loss)` is called after every step (return false to stop).
pub fn train(cfg: &TrainConfig, mut progress: impl FnMut(usize, f32) -> bool) -> Result<(TrainResult, Stack)> {
    if cfg.steps == 0 || cfg.batch == 0 {
        return Err(AttnError::Config("steps and batch must be positive".into()));
    }
    if !(cfg.lr.is_finite() && cfg.lr > 0.0) {
        return Err(AttnError::Config(alloc::format!("learning rate must be positive, got {}", cfg.lr)));
    }
    let stack = init_stack(&cfg.task, &cfg.model, cfg.seed)?;
    let params = stack.num_params();
    let model = TrainableStack::from_stack(&stack)?;
    let steps = cfg.task.steps();
    let chain_head = chain_head(&stack, steps, cfg.task.num_classes(), cfg.seed, &model.dev)?;
    let mut vars = model.vars();
    vars.extend(chain_head.vars());
    let dev = model.dev.clone();
    let n = cfg.task.prompt_len();
    let classes = cfg.task.num_classes();
    let masks = Masks::new(n, &dev).map_err(ce)?;
    let mut rng = Rng::new(cfg.seed);
    let mut opt = AdamW::new(&vars, cfg.weight_decay).map_err(ce)?;
    let mut losses = Vec::with_capacity(cfg.steps);
    let mut recent = Vec::with_capacity(cfg.steps);
    let warmup = (cfg.steps / 20).max(1);
    for step in 0..cfg.steps {
        let (x, chains) = batch(&cfg.task, &mut rng, cfg.batch);
        let answers = hop(&chains, steps, steps);
        let (loss, correct) = (|| -> candle_core::Result<(Tensor, usize)> {
            let x = Tensor::from_vec(x, (cfg.batch, n, model.d_in), &dev)?;
            let last = model.last_hidden(&x, &masks)?;
            let logits = model.head.fwd(&last)?;
            let correct = logits.to_vec2::<f32>()?.iter().zip(&answers).filter(|(row, &a)| argmax(row) == a).count();
            let mut loss = cross_entropy(&logits, &answers)?;
            // Intermediate targets i₀ … i_{L−1}: one extra head per hop on the same last-token
            // residual, trained only (see `docs/attention.md`, "Training").
            let aux = chain_head.fwd(&last)?;
            for l in 0..steps {
                loss = (loss + cross_entropy(&aux.narrow(1, l * classes, classes)?, &hop(&chains, steps, l))?)?;
            }
            Ok((loss, correct))
        })()
        .map_err(ce)?;
        recent.push(correct);
        let lv = loss.to_scalar::<f32>().map_err(ce)?;
        if !lv.is_finite() {
            return Err(AttnError::NonFinite { what: "training loss".into(), step: Some(step) });
        }
        let lr = if step < warmup {
            cfg.lr * (step + 1) as f64 / warmup as f64
        } else {
            let p = (step - warmup) as f64 / (cfg.steps - warmup).max(1) as f64;
            cfg.lr * (0.1 + 0.9 * 0.5 * (1.0 + (core::f64::consts::PI * p).cos()))
        };
        let grads = loss.backward().map_err(ce)?;
        opt.step(&vars, &grads, lr, 1.0).map_err(|e| match e {
            StepError::NonFinite => AttnError::NonFinite { what: "gradients".into(), step: Some(step) },
            StepError::Candle(e) => ce(e),
        })?;
        losses.push(lv);
        let window = &recent[recent.len().saturating_sub(EARLY_STOP_WINDOW)..];
        let solved = window.len() == EARLY_STOP_WINDOW
            && window.iter().sum::<usize>() as f64 >= 0.995 * (EARLY_STOP_WINDOW * cfg.batch) as f64;
        if !progress(step + 1, lv) || solved {
            break;
        }
    }
    let accuracy = accuracy(&model, &cfg.task, cfg.eval_instances, cfg.seed.wrapping_add(0xE7A1))?;
    let tail = (losses.len() / 10).max(1);
    let final_loss = losses[losses.len() - tail..].iter().map(|&l| l as f64).sum::<f64>() / tail as f64;
    let every = (losses.len() / 20).max(1);
    let loss_curve = losses.iter().step_by(every).cloned().collect();
    let trained = model.to_stack()?;
    let steps_run = losses.len();
    Ok((TrainResult { config: cfg.clone(), n, params, accuracy, final_loss, steps_run, loss_curve }, trained))
}

/// A trained-only head predicting every intermediate value i₀ … i_{L−1} (`steps · classes`
/// logits): weights uniform in ±1/√d, zero bias. (Not `Dense::random`'s normal draw: the
/// committed experiment results were trained with this initialisation.)
fn chain_head(stack: &Stack, steps: usize, classes: usize, seed: u64, dev: &Device) -> Result<DenseV> {
    let d = stack.d_model;
    let mut rng = Rng::new(seed ^ 0xC4A1);
    let bound = 1.0 / (d as f32).sqrt();
    let w: Vec<f32> = (0..d * steps * classes).map(|_| bound * (2.0 * rng.uniform() - 1.0)).collect();
    DenseV::new(&Dense { d_in: d, d_out: steps * classes, w, b: Some(vec![0.0; steps * classes]) }, dev)
}

fn argmax(row: &[f32]) -> u32 {
    row.iter().enumerate().fold((0, f32::NEG_INFINITY), |a, (j, &z)| if z > a.1 { (j, z) } else { a }).0 as u32
}

/// i_l of every instance in a [`batch`]'s chains (l = L: the answers).
fn hop(chains: &[u32], steps: usize, l: usize) -> Vec<u32> {
    chains.iter().skip(l).step_by(steps + 1).copied().collect()
}

/// Mean cross-entropy of logits (B, C) against class ids.
fn cross_entropy(logits: &Tensor, targets: &[u32]) -> candle_core::Result<Tensor> {
    let (b, c) = logits.dims2()?;
    let mut onehot = vec![0.0f32; b * c];
    for (i, &t) in targets.iter().enumerate() {
        onehot[i * c + t as usize] = 1.0;
    }
    let onehot = Tensor::from_vec(onehot, (b, c), logits.device())?;
    let m = logits.max_keepdim(D::Minus1)?.detach();
    let z = logits.broadcast_sub(&m)?;
    let logp = z.broadcast_sub(&z.exp()?.sum_keepdim(D::Minus1)?.log()?)?;
    (logp * onehot)?.sum_all()?.neg()? / b as f64
}

enum StepError {
    NonFinite,
    Candle(candle_core::Error),
}

impl From<candle_core::Error> for StepError {
    fn from(e: candle_core::Error) -> Self {
        StepError::Candle(e)
    }
}

/// AdamW (β₁ = 0.9, β₂ = 0.98, ε = 1e-8) with global-norm clipping; 1-D parameters (norm gains,
/// biases, decay rates) get no weight decay.
struct AdamW {
    m: Vec<Tensor>,
    v: Vec<Tensor>,
    t: i32,
    wd: f64,
}

impl AdamW {
    fn new(vars: &[Var], wd: f64) -> candle_core::Result<Self> {
        let m = vars.iter().map(|v| v.as_tensor().zeros_like()).collect::<candle_core::Result<Vec<_>>>()?;
        Ok(AdamW { v: m.clone(), m, t: 0, wd })
    }

    fn step(
        &mut self, vars: &[Var], grads: &candle_core::backprop::GradStore, lr: f64, clip: f64,
    ) -> core::result::Result<(), StepError> {
        let (b1, b2, eps) = (0.9f64, 0.98f64, 1e-8f64);
        self.t += 1;
        let gs: Vec<Option<Tensor>> = vars.iter().map(|v| grads.get(v.as_tensor()).cloned()).collect();
        let mut sq = 0.0f64;
        for g in gs.iter().flatten() {
            sq += g.sqr()?.sum_all()?.to_scalar::<f32>()? as f64;
        }
        if !sq.is_finite() {
            return Err(StepError::NonFinite);
        }
        let norm = sq.sqrt();
        let c = if norm > clip { clip / norm } else { 1.0 };
        let bc1 = 1.0 - b1.powi(self.t);
        let bc2 = 1.0 - b2.powi(self.t);
        for (i, (var, g)) in vars.iter().zip(gs).enumerate() {
            let Some(g) = g else { continue };
            // Detached: optimiser state must not keep the autograd graph alive across steps.
            let g = (g.detach() * c)?;
            self.m[i] = ((&self.m[i] * b1)? + (&g * (1.0 - b1))?)?.detach();
            self.v[i] = ((&self.v[i] * b2)? + (g.sqr()? * (1.0 - b2))?)?.detach();
            let upd = ((&self.m[i] / bc1)? / ((&self.v[i] / bc2)?.sqrt()? + eps)?)?;
            let mut w = var.as_tensor().detach();
            if var.as_tensor().rank() >= 2 && self.wd > 0.0 {
                w = (w * (1.0 - lr * self.wd))?;
            }
            var.set(&(w - (upd * lr)?)?.detach())?;
        }
        Ok(())
    }
}
