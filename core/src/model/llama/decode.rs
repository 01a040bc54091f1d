//! The decode step: one new token through the layers on f32 slices, in buffers that live in the
//! [`Cache`] from one token to the next — no tensor is allocated and no candle op dispatched
//! unless steering acts at a site.
//!
//! It computes what the batched path ([`Llama::run_layers`] on candle ops) computes, with the
//! same bits for everything but attention: the norms, rotary embedding, SiLU and residual adds
//! repeat candle's fused kernels operation for operation, each input row is quantized once for
//! all the layers that read it (q, k, v; gate, up — the same bits as quantizing it per layer),
//! and the matmuls are the same kernels. Attention is [`attention::decode`] over the flat KV
//! cache; it rounds differently from the batched matmul + softmax (tested with a bound).
//!
//! Used only outside autograd: when the input, a steering tensor, a merged weight or a cached
//! key is part of a graph, the batched path runs instead, so gradients are never cut.
use super::cache::{Cache, Flat, LayerKv};
use super::team::{with_team, Team};
use super::{apply_site, record, Llama, PositionMasks};
use crate::error::Result;
use crate::kernels::attention::{self, Heads};
use crate::kernels::q4_1::Q8_1Rows;
use crate::model::linear::QLinear;
use crate::model::{Edit, Site, Steering};
use alloc::vec::Vec;
use candle_core::{Device, Tensor};
use core::ops::Range;

/// The decode step's working buffers, sized on first use.
#[derive(Default)]
pub(crate) struct Scratch {
    x: Vec<f32>,
    h: Vec<f32>,
    q: Vec<f32>,
    k: Vec<f32>,
    v: Vec<f32>,
    ctx: Vec<f32>,
    attn: Vec<f32>,
    x_mid: Vec<f32>,
    gate: Vec<f32>,
    up: Vec<f32>,
    act: Vec<f32>,
    mlp: Vec<f32>,
    xq: Q8_1Rows,
    scores: Vec<f32>,
    /// cos and sin of `position · θ` for `rope_pos`.
    rope_pos: Option<usize>,
    cos: Vec<f32>,
    sin: Vec<f32>,
}

impl Scratch {
    fn size(&mut self, l: &Llama) {
        let c = &l.config;
        let kv = c.n_kv_heads * c.head_dim;
        for (buf, n) in [
            (&mut self.x, c.hidden),
            (&mut self.h, c.hidden),
            (&mut self.q, c.n_heads * c.head_dim),
            (&mut self.k, kv),
            (&mut self.v, kv),
            (&mut self.ctx, c.n_heads * c.head_dim),
            (&mut self.attn, c.hidden),
            (&mut self.x_mid, c.hidden),
            (&mut self.gate, c.ffn),
            (&mut self.up, c.ffn),
            (&mut self.act, c.ffn),
            (&mut self.mlp, c.hidden),
        ] {
            buf.resize(n, 0.0);
        }
    }
}

/// Whether any tensor of `e` is part of an autograd graph.
fn edit_tracks(e: &Edit) -> bool {
    match e {
        Edit::AddVector(v) | Edit::ProjectOut(v) | Edit::Clamp(v) => v.track_op(),
        Edit::LowRank { a, b } => a.track_op() || b.track_op(),
        Edit::Dense { w, bias } => w.track_op() || bias.as_ref().is_some_and(Tensor::track_op),
    }
}

impl Llama {
    /// Whether [`Llama::run_layers`] may take the decode step: one position, nothing tracked.
    pub(super) fn decode_applies(&self, x: &Tensor, layers: &Range<usize>, cache: &Cache, steering: &Steering) -> bool {
        x.dims().get(1) == Some(&1)
            && !x.track_op()
            && !steering.interventions.iter().any(|iv| edit_tracks(&iv.edit))
            && layers.clone().all(|i| cache.kv.get(i).is_none_or(LayerKv::is_flat) && !self.layers[i].tracks())
    }

    /// [`Llama::run_layers`] for one position `x` `(1, 1, hidden)` (see the module doc). Returns
    /// the stream after the last layer and the recording slots.
    pub(super) fn decode_layers(
        &self, x: &Tensor, layers: Range<usize>, cache: &mut Cache, steering: &Steering,
    ) -> Result<(Tensor, Vec<Option<Tensor>>)> {
        let mut s = core::mem::take(&mut cache.scratch);
        s.x.clear();
        s.x.extend(x.flatten_all()?.to_vec1::<f32>()?);
        let result =
            with_team(rayon::current_num_threads(), |team| self.decode_in(team, &mut s, layers, cache, steering));
        cache.scratch = s;
        result
    }

    /// The body of [`Llama::decode_layers`], the stream in `s.x`.
    fn decode_in(
        &self, team: &Team, s: &mut Scratch, layers: Range<usize>, cache: &mut Cache, steering: &Steering,
    ) -> Result<(Tensor, Vec<Option<Tensor>>)> {
        let c = &self.config;
        let pos = cache.pos;
        s.size(self);
        self.rope_row(s, pos);
        let masks = PositionMasks::new(steering, pos, 1, cache.prompt_end)?;
        let mut recorded = alloc::vec![None; steering.record.len()];
        let heads = Heads { n_heads: c.n_heads, n_kv_heads: c.n_kv_heads, head_dim: c.head_dim };
        let eps = c.rms_eps as f32;
        for i in layers {
            crate::progress::check_interrupt()?;
            let l = &self.layers[i];
            let mut site = Sites { steering, masks: &masks, recorded: &mut recorded, layer: i };
            let split = |n: usize, job: &(dyn Fn(usize) + Sync)| team.run(n, job);
            rms_norm_row(&s.x, &l.attn_norm_row, eps, &mut s.h);
            quantize_for(&[&l.q, &l.k, &l.v], &s.h, &mut s.xq);
            l.q.forward_row(&s.h, &s.xq, &mut s.q, &split)?;
            l.k.forward_row(&s.h, &s.xq, &mut s.k, &split)?;
            l.v.forward_row(&s.h, &s.xq, &mut s.v, &split)?;
            rope_row(&mut s.q, &s.cos, &s.sin);
            rope_row(&mut s.k, &s.cos, &s.sin);
            let kv = cache.kv[i].append_row(&s.k, &s.v, c.n_kv_heads, c.head_dim, cache.reserve);
            attend(team, heads, &s.q, kv, &mut s.scores, &mut s.ctx);
            quantize_for(&[&l.o], &s.ctx, &mut s.xq);
            l.o.forward_row(&s.ctx, &s.xq, &mut s.attn, &split)?;
            site.apply(Site::AttnOut, &mut s.attn, &s.ctx, None)?;
            add_rows(&s.attn, &s.x, &mut s.x_mid);
            rms_norm_row(&s.x_mid, &l.ffn_norm_row, eps, &mut s.h);
            quantize_for(&[&l.gate, &l.up], &s.h, &mut s.xq);
            l.gate.forward_row(&s.h, &s.xq, &mut s.gate, &split)?;
            l.up.forward_row(&s.h, &s.xq, &mut s.up, &split)?;
            for ((a, &g), &u) in s.act.iter_mut().zip(&s.gate).zip(&s.up) {
                *a = silu(g) * u;
            }
            site.apply(Site::MlpMid, &mut s.act, &s.h, None)?;
            quantize_for(&[&l.down], &s.act, &mut s.xq);
            l.down.forward_row(&s.act, &s.xq, &mut s.mlp, &split)?;
            site.apply(Site::MlpOut, &mut s.mlp, &s.act, None)?;
            // As in the batched path: a residual-site delta joins the MLP branch before the
            // skip connection, reading the block input and seeing `mlp + x_mid`.
            site.steer(Site::Residual, &mut s.mlp, &s.x, Some(&s.x_mid))?;
            let (mlp, x_mid) = (&s.mlp, &s.x_mid);
            for ((x, &m), &xm) in s.x.iter_mut().zip(mlp).zip(x_mid) {
                *x = m + xm;
            }
            site.record(Site::Residual, &s.x)?;
        }
        Ok((Tensor::from_slice(&s.x, (1, 1, c.hidden), &Device::Cpu)?, recorded))
    }

    /// cos and sin of `pos · θᵢ`: one f32 product per angle, as in the batched path's table.
    fn rope_row(&self, s: &mut Scratch, pos: usize) {
        if s.rope_pos == Some(pos) {
            return;
        }
        s.cos.clear();
        s.sin.clear();
        for &theta in &self.theta_row {
            let angle = pos as f32 * theta;
            s.cos.push(angle.cos());
            s.sin.push(angle.sin());
        }
        s.rope_pos = Some(pos);
    }
}

/// Steering and recording at the sites of one layer, on rows held in slices.
struct Sites<'a> {
    steering: &'a Steering,
    masks: &'a PositionMasks,
    recorded: &'a mut Vec<Option<Tensor>>,
    layer: usize,
}

impl Sites<'_> {
    /// Steers `h` at `site` (reading the source `u`), then records it if asked.
    fn apply(&mut self, site: Site, h: &mut [f32], u: &[f32], offset: Option<&[f32]>) -> Result<()> {
        self.steer(site, h, u, offset)?;
        self.record(site, h)
    }

    /// Applies the interventions at `site` to `h` in place, through the same tensor code as the
    /// batched path (only when there is one: no tensor is made otherwise).
    fn steer(&mut self, site: Site, h: &mut [f32], u: &[f32], offset: Option<&[f32]>) -> Result<()> {
        if self.steering.at(self.layer, site).next().is_none() {
            return Ok(());
        }
        let row = |x: &[f32]| Tensor::from_slice(x, (1, 1, x.len()), &Device::Cpu);
        let offset = offset.map(row).transpose()?;
        let out = apply_site(self.steering, self.masks, self.layer, site, row(h)?, &row(u)?, offset.as_ref())?;
        h.copy_from_slice(&out.flatten_all()?.to_vec1::<f32>()?);
        Ok(())
    }

    fn record(&mut self, site: Site, h: &[f32]) -> Result<()> {
        if self.steering.record.contains(&(self.layer, site)) {
            let t = Tensor::from_slice(h, (1, 1, h.len()), &Device::Cpu)?;
            record(self.steering, self.recorded, self.layer, site, &t)?;
        }
        Ok(())
    }
}

/// The attention of every query head, the key/value groups shared out over the team.
fn attend(team: &Team, h: Heads, q: &[f32], kv: &Flat, scores: &mut Vec<f32>, out: &mut [f32]) {
    let positions = kv.len();
    let (n, per) = (h.group() * h.head_dim, h.group() * positions);
    scores.resize(h.n_kv_heads * per, 0.0);
    let (scores_at, out_at) = (Shared(scores.as_mut_ptr()), Shared(out.as_mut_ptr()));
    team.run(h.n_kv_heads, &|g| {
        // SAFETY: each group owns its own `group · positions` scores and `group · d` outputs
        // (disjoint ranges of buffers that outlive `run`).
        let (sc, o) = unsafe {
            (
                core::slice::from_raw_parts_mut(scores_at.at(g * per), per),
                core::slice::from_raw_parts_mut(out_at.at(g * n), n),
            )
        };
        let (keys, values) = kv.head(g);
        attention::decode_group(h, &q[g * n..][..n], keys, values, sc, o);
    });
}

/// A buffer that several threads write at disjoint offsets.
#[derive(Clone, Copy)]
struct Shared(*mut f32);
// SAFETY: used only to form disjoint sub-slices (see `attend`).
unsafe impl Sync for Shared {}
unsafe impl Send for Shared {}

impl Shared {
    fn at(self, i: usize) -> *mut f32 {
        self.0.wrapping_add(i)
    }
}

/// Quantizes `x` once for every layer in `readers` that takes a quantized input.
fn quantize_for(readers: &[&QLinear], x: &[f32], xq: &mut Q8_1Rows) {
    if readers.iter().any(|l| l.reads_q8()) {
        xq.quantize_into(x, x.len());
    }
}

/// candle's fused `rms_norm` on one row: `x / √(Σx²/n + ε) · w`, the sum taken in order.
fn rms_norm_row(x: &[f32], w: &[f32], eps: f32, out: &mut [f32]) {
    let sum2: f32 = x.iter().map(|&v| v * v).sum();
    let m = (sum2 / x.len() as f32 + eps).sqrt();
    for ((o, &v), &w) in out.iter_mut().zip(x).zip(w) {
        *o = v / m * w;
    }
}

/// candle's interleaved rotary embedding (`rope_i`) on every head of one position, in place.
fn rope_row(x: &mut [f32], cos: &[f32], sin: &[f32]) {
    for head in x.chunks_exact_mut(2 * cos.len()) {
        for (pair, (&c, &s)) in head.chunks_exact_mut(2).zip(cos.iter().zip(sin)) {
            let (a, b) = (pair[0], pair[1]);
            pair[0] = a * c - b * s;
            pair[1] = a * s + b * c;
        }
    }
}

/// candle's SiLU: `v / (1 + e^−v)`.
fn silu(v: f32) -> f32 {
    v / (1.0 + (-v).exp())
}

fn add_rows(a: &[f32], b: &[f32], out: &mut [f32]) {
    for ((o, &a), &b) in out.iter_mut().zip(a).zip(b) {
        *o = a + b;
    }
}
