//! The llama forward pass, readable top to bottom (after candle's `quantized_llama.rs`, whose
//! arithmetic it reproduces op for op so that, unsteered, the logits are the same bits).
//!
//! ```text
//! Per layer:  x ─norm─▶ q,k,v ─rope─▶ causal softmax attention ─W_o─▶ [attn_out] ─(+x)─▶ x'
//!             x' ─norm─▶ [mlp_mid] = silu(W_gate·)·(W_up·) ─W_down─▶ [mlp_out] ─(+x')─▶ [residual]
//! ```
//! The bracketed names are the intervention sites ([`Site`]); with an empty [`Steering`] no
//! extra operation runs at any of them.
use crate::error::{Error, Result};
use crate::gguf::Gguf;
use crate::model::linear::{qtensor, QLinear};
use crate::model::sites::Positions;
use crate::model::{Config, Intervention, Site, Steering};
use alloc::{format, sync::Arc, vec::Vec};
use candle_core::quantized::QTensor;
use candle_core::{DType, Device, Tensor, D};

mod cache;
mod decode;
mod team;
pub use cache::Cache;
use cache::LayerKv;

/// The llama-architecture network: embeddings, blocks and output head.
pub struct Llama {
    /// The network's shape.
    pub config: Config,
    /// `(vocab, hidden)`, kept quantized; rows are dequantized on lookup.
    embed: Arc<QTensor>,
    layers: Vec<Layer>,
    /// `(hidden,)`
    norm: Tensor,
    /// `(vocab, hidden)`; SmolLM2 ties it to the embedding.
    output: QLinear,
    /// `(rope_dim / 2,)` rotary frequencies; the angle tables are built per call for the
    /// positions in use, so memory never depends on the context length a file claims.
    theta: Tensor,
    /// The same frequencies as numbers, for the decode step.
    theta_row: Vec<f32>,
}

#[derive(Clone)]
struct Layer {
    attn_norm: Tensor,       // (hidden,)
    attn_norm_row: Vec<f32>, // the same, for the decode step
    q: QLinear,              // (hidden, hidden)
    k: QLinear,              // (kv_heads·head_dim, hidden)
    v: QLinear,              // (kv_heads·head_dim, hidden)
    o: QLinear,              // (hidden, hidden)
    ffn_norm: Tensor,        // (hidden,)
    ffn_norm_row: Vec<f32>,  // the same, for the decode step
    gate: QLinear,           // (ffn, hidden)
    up: QLinear,             // (ffn, hidden)
    down: QLinear,           // (hidden, ffn)
}

impl Layer {
    /// Whether a merged weight or bias is part of an autograd graph.
    fn tracks(&self) -> bool {
        [&self.q, &self.k, &self.v, &self.o, &self.gate, &self.up, &self.down].iter().any(|l| l.tracks())
    }
}

/// What one forward call returns.
pub struct Forward {
    /// Final-normed hidden states of the new positions, `(seq, hidden)`; feed rows of it to
    /// [`Llama::logits`].
    pub hidden: Tensor,
    /// The activations asked for in [`Steering::record`], each `(seq, width)`, in that order.
    pub recorded: Vec<Tensor>,
}

impl Llama {
    /// Builds the network from a parsed GGUF (weights checked finite, shapes checked against the config).
    pub fn load(g: &Gguf) -> Result<Self> {
        let c = Config::from_gguf(g)?;
        if c.rope_dim != c.head_dim {
            return Err(Error::UnsupportedModel(format!(
                "partial rotary embeddings (rope dim {} < head dim {})",
                c.rope_dim, c.head_dim
            )));
        }
        // Every weight the model uses must be finite (the file's, not the forward pass's concern).
        let layer_of = |name: &str| name.strip_prefix("blk.")?.split('.').next()?.parse::<usize>().ok();
        let used = |name: &str| {
            matches!(name, "token_embd.weight" | "output.weight" | "output_norm.weight")
                || layer_of(name).is_some_and(|l| l < c.n_layers)
        };
        for t in g.tensors.iter().filter(|t| used(&t.name)) {
            g.check_finite(t)?;
        }
        let embed = qtensor(g, "token_embd.weight")?;
        if embed.shape().dims() != [c.vocab, c.hidden] {
            return Err(Error::TensorShape {
                tensor: "token_embd.weight".into(),
                expected: format!("[{}, {}]", c.vocab, c.hidden),
                found: format!("{:?}", embed.shape().dims()),
            });
        }
        let output = match g.tensor("output.weight") {
            Ok(_) => QLinear::load(g, "output.weight", c.vocab, c.hidden)?,
            Err(_) => QLinear::load(g, "token_embd.weight", c.vocab, c.hidden)?,
        };
        let kv = c.n_kv_heads * c.head_dim;
        let layers = (0..c.n_layers)
            .map(|i| {
                let lin = |n: &str, out, inp| QLinear::load(g, &format!("blk.{i}.{n}.weight"), out, inp);
                let attn_norm = norm_weight(g, &format!("blk.{i}.attn_norm.weight"), c.hidden)?;
                let ffn_norm = norm_weight(g, &format!("blk.{i}.ffn_norm.weight"), c.hidden)?;
                Ok(Layer {
                    attn_norm_row: attn_norm.to_vec1()?,
                    attn_norm,
                    ffn_norm_row: ffn_norm.to_vec1()?,
                    ffn_norm,
                    q: lin("attn_q", c.hidden, c.hidden)?,
                    k: lin("attn_k", kv, c.hidden)?,
                    v: lin("attn_v", kv, c.hidden)?,
                    o: lin("attn_output", c.hidden, c.hidden)?,
                    gate: lin("ffn_gate", c.ffn, c.hidden)?,
                    up: lin("ffn_up", c.ffn, c.hidden)?,
                    down: lin("ffn_down", c.hidden, c.ffn)?,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        let theta = rope_frequencies(c.rope_dim, c.rope_base)?;
        Ok(Llama {
            norm: norm_weight(g, "output_norm.weight", c.hidden)?,
            embed: Arc::new(embed),
            output,
            layers,
            theta_row: theta.to_vec1()?,
            theta,
            config: c,
        })
    }

    /// Runs `tokens` after the positions already in `cache`, appending to it.
    pub fn forward(&self, tokens: &[u32], cache: &mut Cache, steering: &Steering) -> Result<Forward> {
        let x = self.embed(tokens, cache.pos)?;
        let (x, recorded) = self.run_layers(x, 0..self.config.n_layers, cache, steering)?;
        Ok(Forward { hidden: self.final_norm(&x)?, recorded })
    }

    /// Token embeddings `(1, seq, hidden)` for `tokens` placed after `pos` cached positions,
    /// checking the ids and the context length.
    pub fn embed(&self, tokens: &[u32], pos: usize) -> Result<Tensor> {
        let c = &self.config;
        if tokens.is_empty() {
            return Err(Error::EmptyPrompt);
        }
        if pos + tokens.len() > c.context {
            return Err(Error::PromptTooLong { tokens: pos + tokens.len(), context: c.context });
        }
        if let Some(&bad) = tokens.iter().find(|&&t| t as usize >= c.vocab) {
            return Err(Error::Invalid(format!("token id {bad} is outside the vocabulary ({})", c.vocab)));
        }
        let ids = Tensor::new(tokens, &Device::Cpu)?.unsqueeze(0)?;
        Ok(self.embed.embedding(&ids)?)
    }

    /// Runs the residual stream `x` `(1, seq, hidden)` through `layers`, after the `cache.pos`
    /// positions already in `cache` (which then advances by `seq`). Splitting the stack lets a
    /// strength sweep at layer ℓ compute layers below ℓ once: steering there cannot change them.
    /// Returns the stream after the last layer and the recorded activations.
    pub fn run_layers(
        &self, x: Tensor, layers: core::ops::Range<usize>, cache: &mut Cache, steering: &Steering,
    ) -> Result<(Tensor, Vec<Tensor>)> {
        let c = &self.config;
        if layers.end > c.n_layers {
            return Err(Error::LayerOutOfRange { layer: layers.end - 1, n_layers: c.n_layers });
        }
        for &(layer, _) in &steering.record {
            c.check_layer(layer)?;
        }
        let (seq, pos) = (x.dim(1)?, cache.pos);
        if cache.kv.len() < c.n_layers {
            cache.kv.resize(c.n_layers, LayerKv::Empty);
        }
        if pos == 0 {
            // A fresh sequence: whatever these layers held belongs to another one.
            for kv in &mut cache.kv[layers.clone()] {
                *kv = LayerKv::Empty;
            }
        }
        let (x, recorded) = if self.decode_applies(&x, &layers, cache, steering) {
            self.decode_layers(&x, layers, cache, steering)?
        } else {
            self.batched_layers(x, layers, cache, steering)?
        };
        if pos == 0 && cache.prompt_end.is_none() {
            cache.prompt_end = Some(seq);
        }
        cache.pos += seq;
        let missing = || Error::Invalid("a recorded site lies outside the layers run".into());
        let recorded = recorded.into_iter().map(|r| r.ok_or_else(missing)).collect::<Result<_>>()?;
        Ok((x, recorded))
    }

    /// [`Llama::run_layers`] on candle ops, any number of positions, differentiable.
    fn batched_layers(
        &self, mut x: Tensor, layers: core::ops::Range<usize>, cache: &mut Cache, steering: &Steering,
    ) -> Result<(Tensor, Vec<Option<Tensor>>)> {
        let c = &self.config;
        let (seq, pos) = (x.dim(1)?, cache.pos);
        let mask = if seq == 1 { None } else { Some(causal_mask(seq, pos)?) };
        let rope = self.rope_tables(pos, seq)?;
        let mut recorded = alloc::vec![None; steering.record.len()];
        let masks = PositionMasks::new(steering, pos, seq, cache.prompt_end)?;
        let reserve = cache.reserve;
        for i in layers {
            crate::progress::check_interrupt()?;
            let layer = &self.layers[i];
            let mut site = |s: Site, h: Tensor, u: &Tensor| -> Result<Tensor> {
                let h = apply_site(steering, &masks, i, s, h, u, None)?;
                record(steering, &mut recorded, i, s, &h)?;
                Ok(h)
            };
            let block_in = x;
            let h = rms_norm(&block_in, &layer.attn_norm, c.rms_eps as f32)?;
            let (attn, ctx) = self.attention(layer, &h, mask.as_ref(), &rope, &mut cache.kv[i], reserve)?;
            let attn = site(Site::AttnOut, attn, &ctx)?;
            let x_mid = (attn + &block_in)?;
            let h = rms_norm(&x_mid, &layer.ffn_norm, c.rms_eps as f32)?;
            let mid = (candle_nn::ops::silu(&layer.gate.forward(&h)?)? * layer.up.forward(&h)?)?;
            let mid = site(Site::MlpMid, mid, &h)?;
            let mlp = site(Site::MlpOut, layer.down.forward(&mid)?, &mid)?;
            // A residual-site delta joins the MLP branch before the skip connection: the same
            // real number as adding it to the block output, and the same float as a bias on
            // W_down — which is what makes "steering = a bias update" an exact identity.
            let mlp = apply_site(steering, &masks, i, Site::Residual, mlp, &block_in, Some(&x_mid))?;
            x = (mlp + &x_mid)?;
            record(steering, &mut recorded, i, Site::Residual, &x)?;
        }
        Ok((x, recorded))
    }

    /// The final norm: stream `(1, seq, hidden)` → hidden states `(seq, hidden)` for [`Llama::logits`].
    pub fn final_norm(&self, x: &Tensor) -> Result<Tensor> {
        Ok(rms_norm(x, &self.norm, self.config.rms_eps as f32)?.squeeze(0)?)
    }

    /// Logits for rows of [`Forward::hidden`]: `(rows, hidden)` → `(rows, vocab)`.
    ///
    /// Never NaN or infinite: finite weights (checked at load) can still overflow f32 — a huge
    /// norm gain in a corrupt file, or a steering update far too strong — and every caller
    /// (generation, scoring, sweeps) reads logits here, so the overflow is an error naming the
    /// row and token instead of a silent NaN score or an argmax of garbage. Inside an autograd
    /// graph (training) the check is left to the trainer, which stops on a non-finite loss and
    /// keeps its last good step.
    pub fn logits(&self, hidden_rows: &Tensor) -> Result<Tensor> {
        // The output head (49152 × 576) costs about eight layers per row: an interrupt point.
        crate::progress::check_interrupt()?;
        let logits = self.output.forward(hidden_rows)?;
        if !logits.track_op() {
            check_finite_logits(&logits)?;
        }
        Ok(logits)
    }

    /// Returns (attention output, attention context) for normed input `h` `(1, seq, hidden)`.
    fn attention(
        &self, l: &Layer, h: &Tensor, mask: Option<&Tensor>, (cos, sin): &(Tensor, Tensor), kv: &mut LayerKv,
        reserve: usize,
    ) -> Result<(Tensor, Tensor)> {
        let c = &self.config;
        let (b, seq, hidden) = h.dims3()?;
        let heads = |t: Tensor, n: usize| t.reshape((b, seq, n, c.head_dim))?.transpose(1, 2);
        let q = heads(l.q.forward(h)?, c.n_heads)?;
        let k = heads(l.k.forward(h)?, c.n_kv_heads)?;
        let v = heads(l.v.forward(h)?, c.n_kv_heads)?.contiguous()?;
        // GGUF llama weights are permuted for the interleaved ("non-neox") rotation.
        let q = rope_i(&q.contiguous()?, cos, sin)?;
        let k = rope_i(&k.contiguous()?, cos, sin)?;
        let (k, v) = kv.append_tensors(k, v, reserve)?;
        let rep = c.n_heads / c.n_kv_heads;
        let k = repeat_kv(k, rep)?;
        let v = repeat_kv(v, rep)?;
        let att = (q.matmul(&k.t()?)? / (c.head_dim as f64).sqrt())?;
        let att = match mask {
            None => att,
            Some(m) => {
                let m = m.broadcast_as(att.shape())?;
                m.where_cond(&Tensor::new(f32::NEG_INFINITY, &Device::Cpu)?.broadcast_as(m.shape().dims())?, &att)?
            }
        };
        let att = softmax_last_dim(&att)?;
        let ctx = att.matmul(&v.contiguous()?)?.transpose(1, 2)?.reshape((b, seq, hidden))?;
        Ok((l.o.forward(&ctx)?, ctx))
    }

    /// cos and sin of `position · θ` for positions `pos..pos + seq`. Each angle is one f32
    /// product, so these are the same bits as rows of a precomputed table.
    fn rope_tables(&self, pos: usize, seq: usize) -> Result<(Tensor, Tensor)> {
        let idx =
            Tensor::arange(pos as u32, (pos + seq) as u32, &Device::Cpu)?.to_dtype(DType::F32)?.reshape((seq, 1))?;
        let angles = idx.matmul(&self.theta.reshape((1, self.theta.elem_count()))?)?;
        Ok((angles.cos()?, angles.sin()?))
    }

    /// Dequantizes every weight to f32. The quantized forward rounds each matmul's input to 8
    /// bits, so a perturbation far below that resolution can flip roundings and move the logits
    /// by ~0.1–0.5; the f32 model is smooth. It is the reference for gradient checks and for
    /// comparing two ways of applying the same update. (~4× the memory of Q4_1.)
    pub fn to_f32(&mut self) -> Result<()> {
        for l in &mut self.layers {
            for lin in [&mut l.q, &mut l.k, &mut l.v, &mut l.o, &mut l.gate, &mut l.up, &mut l.down] {
                lin.to_f32()?;
            }
        }
        self.output.to_f32()
    }

    /// Applies `iv` *as weights*: its update, times its strength, merged into the sublayer that
    /// writes its site ([`Llama::writer`]). That sublayer's weights become f32.
    pub fn merge(&mut self, iv: &Intervention) -> Result<()> {
        self.config.check_layer(iv.layer)?;
        let (dw, db) = iv.edit.as_weights()?;
        let m = iv.strength as f64;
        let scale = |t: Option<Tensor>| t.map(|t| t * m).transpose();
        let (dw, db) = (scale(dw)?, scale(db)?);
        let kind = SiteWriter::of(iv.site, dw.is_some())?;
        let layer = &mut self.layers[iv.layer];
        let writer = match kind {
            WriterKind::O => &mut layer.o,
            WriterKind::Down => &mut layer.down,
        };
        writer.merge(dw.as_ref(), db.as_ref())
    }

    /// The sublayer an update at `(layer, site)` changes when it is applied as weights, and that
    /// sublayer's weights as f32 `(out, in)` (dequantized, or as merged): `W_o` for `attn_out`,
    /// `W_down` for `mlp_out`, and for `residual` a bias of `W_down` (a vector only — `weight`
    /// says whether the update has a `ΔW` part). `mlp_mid` has no such sublayer.
    pub fn writer(&self, layer: usize, site: Site, weight: bool) -> Result<(SiteWriter, Tensor)> {
        self.config.check_layer(layer)?;
        let kind = SiteWriter::of(site, weight)?;
        let l = &self.layers[layer];
        let (lin, short, tensor) = match kind {
            WriterKind::O => (&l.o, "W_o", "attn_output"),
            WriterKind::Down => (&l.down, "W_down", "ffn_down"),
        };
        let writer = SiteWriter { tensor: format!("blk.{layer}.{tensor}.weight"), name: short, shape: lin.shape };
        Ok((writer, lin.dense()?))
    }
}

/// The affine sublayer that writes a site: where an update, applied as weights, goes.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct SiteWriter {
    /// The GGUF tensor, e.g. `blk.15.ffn_down.weight`.
    pub tensor: alloc::string::String,
    /// Its name in the unified formula: `W_o` or `W_down`.
    pub name: &'static str,
    /// `(out, in)`.
    pub shape: (usize, usize),
}

enum WriterKind {
    O,
    Down,
}

impl SiteWriter {
    /// Which sublayer writes `site` for an update with (`weight`) or without a `ΔW` part: the
    /// residual site's delta joins the MLP branch, so a vector there is a bias of `W_down`, but
    /// the block as a whole is not affine, so a `ΔW` there has no weight to go into.
    fn of(site: Site, weight: bool) -> Result<WriterKind> {
        match (site, weight) {
            (Site::AttnOut, _) => Ok(WriterKind::O),
            (Site::MlpOut, _) | (Site::Residual, false) => Ok(WriterKind::Down),
            (site, _) => Err(Error::Invalid(format!(
                "an update at site `{site}` cannot be merged into weights: its writer is not an affine sublayer \
                 (weight updates act at attn_out or mlp_out; vectors also at residual)"
            ))),
        }
    }
}

/// Errs on the first non-finite logit. One sum decides (NaN and ±∞ propagate through it); only
/// when it is not finite are the values read out to find the culprit (a sum of huge finite
/// logits can overflow on its own).
fn check_finite_logits(logits: &Tensor) -> Result<()> {
    if logits.sum_all()?.to_scalar::<f32>()?.is_finite() {
        return Ok(());
    }
    let vocab = logits.dims().last().copied().unwrap_or(1).max(1);
    let values: Vec<f32> = logits.flatten_all()?.to_vec1()?;
    match values.iter().position(|x| !x.is_finite()) {
        None => Ok(()),
        Some(i) => Err(Error::Invalid(format!(
            "the model produced a non-finite logit ({}) for token {} at row {}: its weights or the steering applied \
             overflow f32 here",
            values[i],
            i % vocab,
            i / vocab
        ))),
    }
}

// Fused kernels where no gradient is needed; inside an autograd graph (training an
// intervention) their composite forms, which candle can differentiate. Same math, so the trained
// parameters fit the model that scores and generates.

fn rms_norm(x: &Tensor, w: &Tensor, eps: f32) -> candle_core::Result<Tensor> {
    if x.track_op() {
        candle_nn::ops::rms_norm_slow(x, w, eps)
    } else {
        candle_nn::ops::rms_norm(x, w, eps)
    }
}

fn softmax_last_dim(x: &Tensor) -> candle_core::Result<Tensor> {
    if x.track_op() {
        candle_nn::ops::softmax(x, D::Minus1)
    } else {
        candle_nn::ops::softmax_last_dim(x)
    }
}

fn rope_i(x: &Tensor, cos: &Tensor, sin: &Tensor) -> candle_core::Result<Tensor> {
    if x.track_op() {
        candle_nn::rotary_emb::rope_i_slow(x, cos, sin)
    } else {
        candle_nn::rotary_emb::rope_i(x, cos, sin)
    }
}

/// Stores `h` in every recording slot that asks for `(layer, site)`.
fn record(steering: &Steering, slots: &mut [Option<Tensor>], layer: usize, site: Site, h: &Tensor) -> Result<()> {
    for (slot, _) in steering.record.iter().enumerate().filter(|(_, &r)| r == (layer, site)) {
        slots[slot] = Some(h.squeeze(0)?);
    }
    Ok(())
}

/// Applies the interventions at `(layer, site)` to `h`, reading the site's source `u`. The
/// activation an operation such as project-out sees is `h + offset` (the residual site's
/// deltas join the MLP branch, so its full activation adds the skip connection).
fn apply_site(
    steering: &Steering, masks: &PositionMasks, layer: usize, site: Site, h: Tensor, u: &Tensor,
    offset: Option<&Tensor>,
) -> Result<Tensor> {
    steering.at(layer, site).try_fold(h, |h, iv| {
        let seen = match offset {
            Some(o) if iv.edit.reads_activation() => (&h + o)?,
            _ => h.clone(),
        };
        let delta = iv.delta(&seen, u)?;
        let delta = match masks.get(iv.positions) {
            Some(m) => delta.broadcast_mul(m)?,
            None => delta,
        };
        Ok(h.broadcast_add(&delta)?)
    })
}

/// One `(1, seq, 1)` 0/1 mask per position rule in use (none for `All`, whose arithmetic
/// stays exactly the unmasked one).
struct PositionMasks(Vec<(Positions, Tensor)>);

impl PositionMasks {
    fn new(steering: &Steering, pos: usize, seq: usize, prompt_end: Option<usize>) -> Result<Self> {
        let mut masks: Vec<(Positions, Tensor)> = Vec::new();
        for iv in &steering.interventions {
            let p = iv.positions;
            if p == Positions::All || masks.iter().any(|(q, _)| *q == p) {
                continue;
            }
            let m: Vec<f32> = (pos..pos + seq).map(|j| if p.covers(j, prompt_end) { 1.0 } else { 0.0 }).collect();
            masks.push((p, Tensor::from_vec(m, (1, seq, 1), &Device::Cpu)?));
        }
        Ok(PositionMasks(masks))
    }

    fn get(&self, p: Positions) -> Option<&Tensor> {
        self.0.iter().find(|(q, _)| *q == p).map(|(_, m)| m)
    }
}

/// A GGUF vector (a norm weight), checked to have `width` entries.
pub(crate) fn norm_weight(g: &Gguf, name: &str, width: usize) -> Result<Tensor> {
    let t = qtensor(g, name)?.dequantize(&Device::Cpu)?;
    if t.dims() != [width] {
        return Err(Error::TensorShape {
            tensor: name.into(),
            expected: format!("[{width}]"),
            found: format!("{:?}", t.dims()),
        });
    }
    Ok(t)
}

/// `mask[i][j] = 1` where query `i` (at absolute position `pos + i`) must not see key `j`.
fn causal_mask(seq: usize, pos: usize) -> Result<Tensor> {
    let mask: Vec<u8> = (0..seq).flat_map(|i| (0..pos + seq).map(move |j| u8::from(j > pos + i))).collect();
    Ok(Tensor::from_slice(&mask, (seq, pos + seq), &Device::Cpu)?)
}

fn repeat_kv(x: Tensor, rep: usize) -> Result<Tensor> {
    if rep == 1 {
        return Ok(x);
    }
    let (b, n_kv, seq, hd) = x.dims4()?;
    Ok(Tensor::cat(&alloc::vec![&x; rep], 2)?.reshape((b, n_kv * rep, seq, hd))?)
}

fn rope_frequencies(dim: usize, base: f32) -> Result<Tensor> {
    let theta: Vec<f32> = (0..dim).step_by(2).map(|i| 1f32 / base.powf(i as f32 / dim as f32)).collect();
    Ok(Tensor::new(theta.as_slice(), &Device::Cpu)?)
}

/// Log-probabilities of `targets[t]` under `logits[t]` (rows of `(n, vocab)`), as an `(n,)`
/// tensor (differentiable when the logits are).
pub fn target_logprob_tensor(logits: &Tensor, targets: &[u32]) -> Result<Tensor> {
    let lp = candle_nn::ops::log_softmax(logits, D::Minus1)?;
    let idx = Tensor::new(targets, &Device::Cpu)?.unsqueeze(1)?;
    Ok(lp.gather(&idx, 1)?.squeeze(1)?)
}

/// [`target_logprob_tensor`] as numbers.
pub fn target_logprobs(logits: &Tensor, targets: &[u32]) -> Result<Vec<f32>> {
    Ok(target_logprob_tensor(logits, targets)?.to_vec1()?)
}
