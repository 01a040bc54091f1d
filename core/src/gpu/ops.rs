//! Every kernel run on its own: upload the inputs, one dispatch (or a few), read the output
//! back. This is how the tests check each kernel against its CPU reference on any shape, and how
//! a host can time one kernel; the forward pass uses the same kernels through its plan.
use crate::error::{Error, Result};
use crate::gpu::attention::Geometry;
use crate::gpu::context::Gpu;
use crate::gpu::elementwise::Elementwise;
use crate::gpu::kernels::Kernels;
use crate::gpu::matmul::Rows;
use crate::gpu::program::Plan;
use crate::gpu::rope::{rope_table, Heads};
use crate::gpu::steer::{Projection, Target};
use crate::gpu::weights::{scratch, staging, upload_f32, upload_u32, Format, Matrix};
use crate::model::sites::Positions;
use alloc::{format, vec::Vec};

/// The kernels of one device, runnable one at a time.
pub struct Ops {
    gpu: Gpu,
    k: Kernels,
}

/// Rows an edit acts on and its position mask (see [`crate::model::sites::Positions`]).
#[derive(Debug, Clone, Copy)]
pub struct EditRows {
    /// Width of each row (the site's width).
    pub width: usize,
    /// Absolute position of the first row.
    pub pos0: usize,
    /// Which positions the edit applies to.
    pub positions: Positions,
    /// Where the prompt ended; `None` while the prompt runs.
    pub prompt_end: Option<usize>,
}

/// Attention sizes.
#[derive(Debug, Clone, Copy)]
pub struct AttentionShape {
    /// Query tokens in this call.
    pub tokens: usize,
    /// Query heads.
    pub heads: usize,
    /// Key/value heads.
    pub kv_heads: usize,
    /// Width of one head.
    pub head_dim: usize,
    /// Absolute position of the first query; keys `0 ..= pos0 + t` are cached.
    pub pos0: usize,
}

impl Ops {
    /// Compiles the kernels on `gpu`.
    pub async fn new(gpu: &Gpu) -> Result<Ops> {
        Ok(Ops { gpu: gpu.clone(), k: Kernels::new(gpu).await? })
    }

    fn buffer(&self, values: &[f32], name: &str) -> wgpu::Buffer {
        upload_f32(&self.gpu, values, name)
    }

    /// Submits `plan` after appending copies of `outputs` (buffer, floats), and returns them.
    async fn run(&self, mut plan: Plan, outputs: &[(&wgpu::Buffer, usize)]) -> Result<Vec<Vec<f32>>> {
        let total: usize = outputs.iter().map(|o| o.1).sum();
        let results = staging(&self.gpu, total as u64 * 4);
        let mut at = 0;
        for (b, n) in outputs {
            plan.copy(b, 0, &results, at, *n as u64 * 4);
            at += *n as u64 * 4;
        }
        self.gpu.scoped("running a kernel", || self.k.params.submit(&self.gpu, plan)).await??;
        let bytes = self.gpu.read(&results, total as u64 * 4).await?;
        let floats: Vec<f32> = bytes.chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect();
        let mut out = Vec::new();
        let mut rest = floats.as_slice();
        for (_, n) in outputs {
            out.push(rest[..*n].to_vec());
            rest = &rest[*n..];
        }
        Ok(out)
    }

    /// `Y = X·Wᵀ`: `w` is an `(rows, cols)` matrix in `format`'s GGUF bytes, `x` is
    /// `(tokens, cols)`; returns `(tokens, rows)`. Split into parts as the device limits demand.
    pub async fn matmul(&self, format: Format, w: &[u8], rows: usize, cols: usize, x: &[f32]) -> Result<Vec<f32>> {
        let tokens = shape(x.len(), cols, "x")?;
        let m = Matrix::upload(&self.gpu, format, w, rows, cols, "w")?;
        let xb = self.buffer(x, "x");
        let y = scratch(&self.gpu, tokens * rows, "y")?;
        let groups = self.k.matmul.bind(&self.gpu, &m, &xb, &y);
        let mut plan = Plan::default();
        self.k.matmul.record(&mut plan, &m, &groups, Rows { tokens: tokens as u32, x_row0: 0, out_row0: 0 });
        Ok(self.run(plan, &[(&y, tokens * rows)]).await?.remove(0))
    }

    /// Rows `ids` of an `(rows, cols)` embedding matrix, dequantized: `(ids.len(), cols)`.
    pub async fn embed(&self, format: Format, w: &[u8], rows: usize, cols: usize, ids: &[u32]) -> Result<Vec<f32>> {
        if let Some(&bad) = ids.iter().find(|&&i| i as usize >= rows) {
            return Err(Error::Invalid(format!("token id {bad} is outside the {rows} rows")));
        }
        let m = Matrix::upload(&self.gpu, format, w, rows, cols, "embedding")?;
        let idb = upload_u32(&self.gpu, ids, "ids");
        let x = scratch(&self.gpu, ids.len() * cols, "x")?;
        let groups = self.k.matmul.bind_embed(&self.gpu, &m, &idb, &x);
        let mut plan = Plan::default();
        self.k.matmul.record_embed(&mut plan, &m, &groups, ids.len() as u32, 0);
        Ok(self.run(plan, &[(&x, ids.len() * cols)]).await?.remove(0))
    }

    /// RMSNorm of each row of `x` (rows of `w.len()`) with weight `w`.
    pub async fn rms_norm(&self, x: &[f32], w: &[f32], eps: f32) -> Result<Vec<f32>> {
        let rows = shape(x.len(), w.len(), "x")?;
        let (xb, wb) = (self.buffer(x, "x"), self.buffer(w, "w"));
        let y = scratch(&self.gpu, x.len(), "y")?;
        let group = self.k.norm.bind(&self.gpu, &xb, &wb, &y);
        let mut plan = Plan::default();
        self.k.norm.record(&mut plan, &group, rows as u32, w.len() as u32, eps, 0, 0);
        Ok(self.run(plan, &[(&y, x.len())]).await?.remove(0))
    }

    /// Interleaved rotary embedding of `q` `(tokens, heads·head_dim)` at positions `pos0 ..`.
    pub async fn rope(&self, q: &[f32], heads: usize, head_dim: usize, pos0: usize, base: f32) -> Result<Vec<f32>> {
        let tokens = shape(q.len(), heads * head_dim, "q")?;
        let table = self.buffer(&rope_table(pos0 + tokens, head_dim, base), "rope");
        let qb = self.buffer(q, "q");
        let group = self.k.rope.bind_q(&self.gpu, &table, &qb);
        let mut plan = Plan::default();
        let h = Heads { heads: heads as u32, head_dim: head_dim as u32 };
        self.k.rope.record_q(&mut plan, &group, tokens as u32, h, pos0 as u32);
        Ok(self.run(plan, &[(&qb, q.len())]).await?.remove(0))
    }

    /// Causal attention of `q` `(tokens, heads·head_dim)` over cached keys `k` (rotated) and
    /// values `v` `(pos0 + tokens, kv_heads·head_dim)`, with the new tokens' keys and values
    /// (`new_k` before rotation, `new_v`) first stored at rows `pos0 ..` by the cache kernel.
    /// Returns the attention context `(tokens, heads·head_dim)` and the cache after the store.
    pub async fn attention(
        &self, s: AttentionShape, q: &[f32], k: &[f32], v: &[f32], new_k: &[f32], new_v: &[f32], base: f32,
    ) -> Result<(Vec<f32>, Vec<f32>, Vec<f32>)> {
        let kvd = s.kv_heads * s.head_dim;
        let n = s.pos0 + s.tokens;
        shape(q.len(), s.heads * s.head_dim, "q")?;
        if k.len() != n * kvd || v.len() != n * kvd || new_k.len() != s.tokens * kvd || new_v.len() != new_k.len() {
            return Err(Error::Invalid("attention: cache or new key/value sizes do not match the shape".into()));
        }
        let table = self.buffer(&rope_table(n, s.head_dim, base), "rope");
        let (qb, ob) = (self.buffer(q, "q"), scratch(&self.gpu, q.len(), "ctx")?);
        let (kb, vb) = (self.buffer(k, "cache k"), self.buffer(v, "cache v"));
        let (nk, nv) = (self.buffer(new_k, "k"), self.buffer(new_v, "v"));
        let store = self.k.rope.bind_kv(&self.gpu, &table, &nk, &nv, &kb, &vb);
        let attend = self.k.attention.bind(&self.gpu, &qb, &kb, &vb, &ob);
        let mut plan = Plan::default();
        let h = Heads { heads: s.kv_heads as u32, head_dim: s.head_dim as u32 };
        self.k.rope.record_kv(&mut plan, &store, s.tokens as u32, h, s.pos0 as u32);
        let g = Geometry { heads: s.heads as u32, kv_heads: s.kv_heads as u32, head_dim: s.head_dim as u32 };
        self.k.attention.record(&mut plan, &attend, s.tokens as u32, g, s.pos0 as u32);
        let mut out = self.run(plan, &[(&ob, q.len()), (&kb, k.len()), (&vb, v.len())]).await?;
        let (vv, kk) = (out.pop().unwrap_or_default(), out.pop().unwrap_or_default());
        Ok((out.pop().unwrap_or_default(), kk, vv))
    }

    /// `a + b`.
    pub async fn add(&self, a: &[f32], b: &[f32]) -> Result<Vec<f32>> {
        self.elementwise(Elementwise::Add, a, b).await
    }

    /// `silu(a)·b`.
    pub async fn swiglu(&self, a: &[f32], b: &[f32]) -> Result<Vec<f32>> {
        self.elementwise(Elementwise::Swiglu, a, b).await
    }

    async fn elementwise(&self, op: Elementwise, a: &[f32], b: &[f32]) -> Result<Vec<f32>> {
        if a.len() != b.len() {
            return Err(Error::Invalid(format!("elementwise: {} and {} values", a.len(), b.len())));
        }
        let (ab, bb, y) = (self.buffer(a, "a"), self.buffer(b, "b"), scratch(&self.gpu, a.len(), "y")?);
        let group = self.k.elementwise.bind(&self.gpu, op, &ab, &bb, &y);
        let mut plan = Plan::default();
        self.k.elementwise.record(&mut plan, op, &group, a.len() as u32);
        Ok(self.run(plan, &[(&y, a.len())]).await?.remove(0))
    }

    /// `h + m·d` on the rows the mask covers: `d` is one vector of `width`, or (`per_row`) one
    /// row per row of `h`.
    pub async fn steer_add(&self, r: EditRows, h: &[f32], d: &[f32], strength: f32) -> Result<Vec<f32>> {
        let tokens = shape(h.len(), r.width, "h")?;
        let per_row = match d.len() {
            n if n == r.width => false,
            n if n == h.len() => true,
            n => return Err(Error::Invalid(format!("steer_add: {n} delta values for rows of {}", r.width))),
        };
        let (hb, db) = (self.buffer(h, "h"), self.buffer(d, "d"));
        let group = self.k.steer.bind_add(&self.gpu, per_row, &hb, &db);
        let mut plan = Plan::default();
        self.k.steer.record_add(&mut plan, per_row, &group, target(r, tokens), strength);
        Ok(self.run(plan, &[(&hb, h.len())]).await?.remove(0))
    }

    /// Project-out (`clamp_to = None`) or clamp to `clamp_to` along `unit`, seeing `h + offset`
    /// where an offset is given, on the rows the mask covers.
    pub async fn steer_project(
        &self, r: EditRows, h: &[f32], unit: &[f32], offset: Option<&[f32]>, strength: f32, clamp_to: Option<f32>,
    ) -> Result<Vec<f32>> {
        let tokens = shape(h.len(), r.width, "h")?;
        let (hb, ub) = (self.buffer(h, "h"), self.buffer(unit, "unit"));
        let ob = offset.map(|o| self.buffer(o, "offset"));
        let group = self.k.steer.bind_project(&self.gpu, &hb, &ub, ob.as_ref().unwrap_or(&ub));
        let mut plan = Plan::default();
        let how = clamp_to.map_or(Projection::Out, Projection::Clamp);
        self.k.steer.record_project(&mut plan, &group, target(r, tokens), strength, how, ob.is_some());
        Ok(self.run(plan, &[(&hb, h.len())]).await?.remove(0))
    }

    /// `Y[t] = W·X[t] (+ bias)`, `w` `(rows, cols)` f32 of any `cols`, `x` `(tokens, cols)`.
    pub async fn dense(&self, w: &[f32], rows: usize, x: &[f32], bias: Option<&[f32]>) -> Result<Vec<f32>> {
        let cols = shape(w.len(), rows, "w")?;
        let tokens = shape(x.len(), cols, "x")?;
        let (wb, xb) = (self.buffer(w, "w"), self.buffer(x, "x"));
        let bb = bias.map(|b| self.buffer(b, "bias"));
        let y = scratch(&self.gpu, tokens * rows, "y")?;
        let group = self.k.steer.bind_dense(&self.gpu, &wb, &xb, bb.as_ref().unwrap_or(&wb), &y);
        let mut plan = Plan::default();
        self.k.steer.record_dense(&mut plan, &group, tokens as u32, rows as u32, cols as u32, bb.is_some());
        Ok(self.run(plan, &[(&y, tokens * rows)]).await?.remove(0))
    }

    /// `log_softmax(logits[r])[targets[r]]` for rows of `vocab` logits.
    pub async fn log_probs(&self, logits: &[f32], vocab: usize, targets: &[u32]) -> Result<Vec<f32>> {
        let rows = shape(logits.len(), vocab, "logits")?;
        if rows != targets.len() || targets.iter().any(|&t| t as usize >= vocab) {
            return Err(Error::Invalid("log_probs: one target id below the vocabulary size per row".into()));
        }
        let (lb, ib) = (self.buffer(logits, "logits"), upload_u32(&self.gpu, targets, "targets"));
        let out = scratch(&self.gpu, rows, "log-probabilities")?;
        let group = self.k.logprob.bind(&self.gpu, &lb, &ib, &out);
        let mut plan = Plan::default();
        self.k.logprob.record(&mut plan, &group, rows as u32, vocab as u32, 0, 0);
        Ok(self.run(plan, &[(&out, rows)]).await?.remove(0))
    }
}

fn target(r: EditRows, tokens: usize) -> Target {
    Target {
        tokens: tokens as u32,
        width: r.width as u32,
        pos0: r.pos0 as u32,
        positions: r.positions,
        prompt_end: r.prompt_end,
    }
}

/// Rows of a flat array of `len` values in rows of `width`, refusing a ragged or empty one.
fn shape(len: usize, width: usize, what: &str) -> Result<usize> {
    if width == 0 || len == 0 || !len.is_multiple_of(width) {
        return Err(Error::Invalid(format!("{what}: {len} values do not make rows of {width}")));
    }
    Ok(len / width)
}
