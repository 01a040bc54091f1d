//! The forward pass on the GPU: one call = one command submission, whatever the number of
//! layers; only what the [`Readout`] asks for comes back (next-token logits, log-probabilities
//! of target tokens, recorded site activations), plus optionally the residual stream kept on the
//! GPU for a later call.
//!
//! Per layer, as in [`crate::model::llama`] (bracketed names are intervention sites):
//! `x ─norm─▶ q,k,v ─rope─▶ attention over the cache ─W_o─▶ [attn_out] ─(+x)─▶ x'`,
//! `x' ─norm─▶ [mlp_mid] = silu(W_gate·)·(W_up·) ─W_down─▶ [mlp_out] ─(+residual deltas)(+x')─▶ [residual]`.
//! Inputs longer than the chunk run chunk by chunk inside the same submission.
use crate::error::{Error, Result};
use crate::gpu::cache::GpuCache;
use crate::gpu::elementwise::Elementwise;
use crate::gpu::matmul::Rows;
use crate::gpu::model::{Engine, GpuLlama};
use crate::gpu::program::Plan;
use crate::gpu::steering::GpuSteering;
use crate::gpu::weights::{scratch, staging, upload_u32};
use crate::model::Site;
use alloc::{format, vec::Vec};
use core::ops::Range;

/// Residual-stream rows `(rows, hidden)` kept on the GPU between calls: what a sweep computes
/// once below the steered layer and feeds to every strength's run of the layers above.
pub struct GpuStream {
    buffer: wgpu::Buffer,
    /// Number of token rows.
    pub rows: usize,
}

/// What a call runs on.
#[derive(Clone, Copy)]
pub enum Input<'a> {
    /// Token ids, embedded on the GPU (the call must start at layer 0).
    Tokens(&'a [u32]),
    /// A residual stream from an earlier call that stopped before this call's first layer.
    Stream(&'a GpuStream),
}

/// What a call reads back.
#[derive(Debug, Clone, Default)]
pub struct Readout {
    /// The next-token logits after the last position (`vocab` floats).
    pub logits: bool,
    /// Log-probabilities of these tokens, teacher-forced: with one target per input token,
    /// `targets[i]` is the token after input `i`; with one more, `targets[0]` is the token after
    /// the cache's last position (the cache must come from a call that ran every layer) and
    /// `targets[i + 1]` the one after input `i`. Empty = none.
    pub targets: Vec<u32>,
    /// Keep the residual stream after the last layer run (for a later [`Input::Stream`]).
    pub stream: bool,
}

/// What one call returns.
pub struct Output {
    /// Next-token logits, when asked for.
    pub logits: Option<Vec<f32>>,
    /// One log-probability per [`Readout::targets`] entry.
    pub target_logprobs: Vec<f32>,
    /// The activations asked for in the steering's `record`, each `(rows, width)` row-major,
    /// in that order.
    pub recorded: Vec<Vec<f32>>,
    /// The residual stream after the last layer run, when asked for.
    pub stream: Option<GpuStream>,
}

impl GpuLlama {
    /// Runs `tokens` through every layer after the positions already in `cache` (which then
    /// holds them too), steered by `steering`, returning what `readout` asks for.
    pub async fn forward(
        &self, tokens: &[u32], cache: &mut GpuCache, steering: &GpuSteering, readout: &Readout,
    ) -> Result<Output> {
        self.run(Input::Tokens(tokens), 0..self.engine.config.n_layers, cache, steering, readout).await
    }

    /// The next-token logits after `tokens` (appended to `cache`).
    pub async fn next_logits(&self, tokens: &[u32], cache: &mut GpuCache, steering: &GpuSteering) -> Result<Vec<f32>> {
        let out = self.forward(tokens, cache, steering, &Readout { logits: true, ..Readout::default() }).await?;
        out.logits.ok_or_else(|| Error::Invalid("internal: no logits came back".into()))
    }

    /// Log-probabilities of each token of `completion` after the prompt in `prefix` (left as it
    /// is: the completion runs on a copy), as [`crate::model::tokens::completion_logprobs`]
    /// gives them on the CPU.
    pub async fn completion_logprobs(
        &self, prefix: &GpuCache, completion: &[u32], steering: &GpuSteering,
    ) -> Result<Vec<f32>> {
        if completion.is_empty() {
            return Err(Error::Invalid("cannot score an empty completion".into()));
        }
        let mut cache = prefix.clone();
        let readout = Readout { targets: completion.to_vec(), ..Readout::default() };
        let inputs = &completion[..completion.len() - 1];
        Ok(self.forward(inputs, &mut cache, steering, &readout).await?.target_logprobs)
    }

    /// Runs `input` through `layers` after the positions already in `cache` (which advances by
    /// the input's rows). Splitting the stack lets a strength sweep at layer ℓ run the layers
    /// below ℓ once ([`Readout::stream`]) and only `ℓ..` per strength ([`Input::Stream`]).
    /// Logits and targets need the last layer to be run.
    pub async fn run(
        &self, input: Input<'_>, layers: Range<usize>, cache: &mut GpuCache, steering: &GpuSteering, readout: &Readout,
    ) -> Result<Output> {
        let e = &*self.engine;
        let call = Call::plan(e, input, layers, cache, steering, readout)?;
        let gpu = &e.gpu;
        let Call { plan, staging: results, bytes, new_last, rows, .. } = call;
        gpu.scoped("running the forward pass", || e.k.params.submit(gpu, plan)).await??;
        let data =
            if bytes > 0 { gpu.read(&results, bytes).await? } else { gpu.finished().await.map(|_| Vec::new())? };
        let mut floats = data.chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]));
        let mut take = |n: usize| -> Vec<f32> { floats.by_ref().take(n).collect() };
        let logits = readout.logits.then(|| take(e.config.vocab));
        let target_logprobs = take(readout.targets.len());
        let recorded = steering.record.iter().map(|&(_, site)| take(rows * site.width(&e.config))).collect();
        if cache.pos == 0 && cache.prompt_end.is_none() && rows > 0 {
            cache.prompt_end = Some(rows);
        }
        cache.pos += rows;
        if rows > 0 {
            cache.last = new_last;
        }
        Ok(Output {
            logits,
            target_logprobs,
            recorded,
            stream: call.stream_out.map(|buffer| GpuStream { buffer, rows }),
        })
    }
}

/// One call, planned: the recorded work and where its results land.
struct Call {
    plan: Plan,
    staging: wgpu::Buffer,
    bytes: u64,
    new_last: Option<wgpu::Buffer>,
    stream_out: Option<wgpu::Buffer>,
    rows: usize,
}

/// Byte offsets of the results in the staging buffer.
struct Layout {
    logits: u64,
    targets: u64,
    records: Vec<u64>,
    end: u64,
}

impl Call {
    fn plan(
        e: &Engine, input: Input, layers: Range<usize>, cache: &mut GpuCache, steering: &GpuSteering, readout: &Readout,
    ) -> Result<Call> {
        let c = &e.config;
        let n = c.n_layers;
        let tokens: &[u32] = match input {
            Input::Tokens(t) => t,
            Input::Stream(_) => &[],
        };
        let rows = match input {
            Input::Tokens(t) => t.len(),
            Input::Stream(s) => s.rows,
        };
        check(e, input, &layers, cache, steering, readout, rows)?;
        let mut plan = Plan::default();
        cache.reserve(layers.clone(), cache.pos + rows, &mut plan)?;
        let gpu = &e.gpu;
        let targets = &readout.targets;
        let ids: Vec<u32> = tokens.iter().chain(targets).copied().collect();
        let ids = upload_u32(gpu, if ids.is_empty() { &[0] } else { &ids }, "token ids");
        let layout = Layout::new(e, steering, readout, rows);
        let results = staging(gpu, layout.end);
        let full = layers.end == n;
        let new_last = if full && rows > 0 { Some(scratch(gpu, c.hidden, "last hidden")?) } else { None };
        let stream_out = if readout.stream { Some(scratch(gpu, rows * c.hidden, "stream")?) } else { None };
        let lp = scratch(gpu, targets.len(), "log-probabilities")?;
        let lp_group = e.k.logprob.bind(gpu, &e.s.logits, &ids, &lp);
        let embed_groups = match input {
            Input::Tokens(_) => e.k.matmul.bind_embed(gpu, &e.embed, &ids, &e.s.x),
            Input::Stream(_) => Vec::new(),
        };
        let head = Head {
            e,
            lp_group: &lp_group,
            results: &results,
            layout: &layout,
            ids0: tokens.len(),
            targets: targets.len(),
        };
        let hidden_bytes = (c.hidden * 4) as u64;
        if rows == 0 {
            // Only the head, on the cache's last hidden state (validated in `check`).
            let last = cache.last.as_ref().ok_or_else(|| Error::Invalid("internal: no last hidden state".into()))?;
            plan.copy(last, 0, &e.s.head_in, 0, hidden_bytes);
            head.score(&mut plan, 1, 0);
            head.logits(&mut plan, 0, readout.logits);
        }
        let chunk = e.chunk;
        for c0 in (0..rows).step_by(chunk) {
            let tc = chunk.min(rows - c0);
            let pos0 = cache.pos + c0;
            match input {
                Input::Tokens(_) => e.k.matmul.record_embed(&mut plan, &e.embed, &embed_groups, tc as u32, c0 as u32),
                Input::Stream(s) => plan.copy(&s.buffer, c0 as u64 * hidden_bytes, &e.s.x, 0, tc as u64 * hidden_bytes),
            }
            for i in layers.clone() {
                let ctx = Chunk { e, cache, steering, layout: &layout, results: &results, c0, tc, pos0 };
                ctx.layer(&mut plan, i)?;
            }
            if let Some(s) = &stream_out {
                plan.copy(&e.s.x, 0, s, c0 as u64 * hidden_bytes, tc as u64 * hidden_bytes);
            }
            if !full {
                continue;
            }
            let last_chunk = c0 + tc == rows;
            let eps = c.rms_eps as f32;
            if !targets.is_empty() {
                // Rows scored by this chunk: the cache's last state first (one more target than
                // inputs, first chunk), then this chunk's rows.
                let extra = usize::from(c0 == 0 && targets.len() == rows + 1);
                if extra == 1 {
                    let last = cache.last.as_ref().ok_or_else(|| Error::Invalid("internal: no last hidden".into()))?;
                    plan.copy(last, 0, &e.s.head_in, 0, hidden_bytes);
                }
                e.k.norm.record(&mut plan, &e.final_norm, tc as u32, c.hidden as u32, eps, 0, extra as u32);
                let first_target = if c0 == 0 { 0 } else { c0 + targets.len() - rows };
                head.score(&mut plan, extra + tc, first_target);
                if last_chunk {
                    let row = (extra + tc - 1) as u64;
                    if let Some(l) = &new_last {
                        plan.copy(&e.s.head_in, row * hidden_bytes, l, 0, hidden_bytes);
                    }
                    head.logits(&mut plan, row as u32, readout.logits);
                }
            } else if last_chunk {
                e.k.norm.record(&mut plan, &e.final_norm, 1, c.hidden as u32, eps, tc as u32 - 1, 0);
                if let Some(l) = &new_last {
                    plan.copy(&e.s.head_in, 0, l, 0, hidden_bytes);
                }
                head.logits(&mut plan, 0, readout.logits);
            }
        }
        plan.copy(&lp, 0, &results, layout.targets, targets.len() as u64 * 4);
        Ok(Call { plan, staging: results, bytes: layout.end, new_last, stream_out, rows })
    }
}

impl Layout {
    fn new(e: &Engine, steering: &GpuSteering, readout: &Readout, rows: usize) -> Layout {
        let logits = 0;
        let targets = if readout.logits { e.config.vocab as u64 * 4 } else { 0 };
        let mut end = targets + readout.targets.len() as u64 * 4;
        let records = steering
            .record
            .iter()
            .map(|&(_, site)| {
                let at = end;
                end += (rows * site.width(&e.config) * 4) as u64;
                at
            })
            .collect();
        Layout { logits, targets, records, end }
    }
}

/// The refusals of a call, before any work: the same errors as the CPU path where it has them.
fn check(
    e: &Engine, input: Input, layers: &Range<usize>, cache: &GpuCache, steering: &GpuSteering, readout: &Readout,
    rows: usize,
) -> Result<()> {
    let c = &e.config;
    if layers.start > layers.end || layers.end > c.n_layers {
        return Err(Error::LayerOutOfRange { layer: layers.end.max(layers.start) - 1, n_layers: c.n_layers });
    }
    for &(layer, _) in &steering.record {
        if !layers.contains(&layer) {
            return Err(Error::Invalid("a recorded site lies outside the layers run".into()));
        }
    }
    match input {
        Input::Tokens(t) => {
            if layers.start != 0 {
                return Err(Error::Invalid(format!("token ids enter at layer 0, not {}", layers.start)));
            }
            if let Some(&bad) = t.iter().find(|&&t| t as usize >= c.vocab) {
                return Err(Error::Invalid(format!("token id {bad} is outside the vocabulary ({})", c.vocab)));
            }
        }
        Input::Stream(s) => {
            if s.buffer.size() < (s.rows * c.hidden * 4) as u64 {
                return Err(Error::Invalid("internal: a stream smaller than its rows".into()));
            }
        }
    }
    let head_only = rows == 0 && readout.targets.len() == 1;
    if rows == 0 && !head_only {
        return Err(Error::EmptyPrompt);
    }
    if let Some(&bad) = readout.targets.iter().find(|&&t| t as usize >= c.vocab) {
        return Err(Error::Invalid(format!("target token id {bad} is outside the vocabulary ({})", c.vocab)));
    }
    let wants_head = readout.logits || !readout.targets.is_empty();
    if wants_head && layers.end != c.n_layers {
        return Err(Error::Invalid(format!(
            "logits need every layer: this call stops at layer {} of {}",
            layers.end, c.n_layers
        )));
    }
    let n_t = readout.targets.len();
    if n_t != 0 && n_t != rows && n_t != rows + 1 {
        return Err(Error::Invalid(format!(
            "{n_t} targets for {rows} input tokens: give one per input token, or one more to score the token after \
             the cache's last position too"
        )));
    }
    if (n_t == rows + 1 || head_only) && cache.last.is_none() {
        return Err(Error::Invalid(
            "scoring the token after the cache's last position needs a cache whose last call ran every layer".into(),
        ));
    }
    Ok(())
}

/// The output head of one call: final-normed rows in `head_in` → logits → log-probabilities.
struct Head<'a> {
    e: &'a Engine,
    lp_group: &'a wgpu::BindGroup,
    results: &'a wgpu::Buffer,
    layout: &'a Layout,
    /// Where the targets start in the ids buffer: after the call's token ids (none when the
    /// input is a stream).
    ids0: usize,
    targets: usize,
}

impl Head<'_> {
    /// Scores `head_in` rows `0..n` against targets `first ..`, in batches the logits buffer holds.
    fn score(&self, plan: &mut Plan, n: usize, first: usize) {
        let e = self.e;
        let (m, groups) = &e.output;
        debug_assert!(first + n <= self.targets);
        for r0 in (0..n).step_by(e.head_rows) {
            let k = e.head_rows.min(n - r0);
            e.k.matmul.record(plan, m, groups, Rows { tokens: k as u32, x_row0: r0 as u32, out_row0: 0 });
            let t = first + r0;
            e.k.logprob.record(plan, self.lp_group, k as u32, e.config.vocab as u32, (self.ids0 + t) as u32, t as u32);
        }
    }

    /// The logits of `head_in` row `row` into the results, when `wanted`.
    fn logits(&self, plan: &mut Plan, row: u32, wanted: bool) {
        if !wanted {
            return;
        }
        let e = self.e;
        let (m, groups) = &e.output;
        e.k.matmul.record(plan, m, groups, Rows { tokens: 1, x_row0: row, out_row0: 0 });
        plan.copy(&e.s.logits, 0, self.results, self.layout.logits, e.config.vocab as u64 * 4);
    }
}

/// One chunk of a call: `tc` rows at absolute positions `pos0 ..`, row `c0` of the input.
struct Chunk<'a> {
    e: &'a Engine,
    cache: &'a GpuCache,
    steering: &'a GpuSteering,
    layout: &'a Layout,
    results: &'a wgpu::Buffer,
    c0: usize,
    tc: usize,
    pos0: usize,
}

impl Chunk<'_> {
    /// Records layer `i` on this chunk (`s.x` holds its input, and then its output).
    fn layer(&self, plan: &mut Plan, i: usize) -> Result<()> {
        let (e, k, s) = (self.e, &self.e.k, &self.e.s);
        let c = &e.config;
        let l = &e.layers[i];
        let kv = self.cache.layer(i)?;
        let (tc, pos0) = (self.tc as u32, self.pos0 as u32);
        let eps = c.rms_eps as f32;
        let rows = Rows { tokens: tc, x_row0: 0, out_row0: 0 };
        let mm = |plan: &mut Plan, (m, g): &(crate::gpu::weights::Matrix, Vec<wgpu::BindGroup>)| {
            k.matmul.record(plan, m, g, rows)
        };
        k.norm.record(plan, &l.attn_norm, tc, c.hidden as u32, eps, 0, 0);
        mm(plan, &l.q);
        mm(plan, &l.k);
        mm(plan, &l.v);
        k.rope.record_q(plan, &l.rope_q, tc, e.q_heads(), pos0);
        k.rope.record_kv(plan, &kv.store, tc, e.kv_heads(), pos0);
        k.attention.record(plan, &kv.attend, tc, e.geometry, pos0);
        mm(plan, &l.o);
        self.site(plan, i, Site::AttnOut, &s.attn);
        k.elementwise.record(plan, Elementwise::Add, &l.add_attn, tc * c.hidden as u32);
        k.norm.record(plan, &l.ffn_norm, tc, c.hidden as u32, eps, 0, 0);
        mm(plan, &l.gate);
        mm(plan, &l.up);
        k.elementwise.record(plan, Elementwise::Swiglu, &l.swiglu, tc * c.ffn as u32);
        self.site(plan, i, Site::MlpMid, &s.mid);
        mm(plan, &l.down);
        self.site(plan, i, Site::MlpOut, &s.mlp);
        // Residual-site deltas join the MLP branch before the skip connection, as on the CPU.
        self.steering.record_site(e, plan, i, Site::Residual, tc, pos0, self.cache.prompt_end);
        k.elementwise.record(plan, Elementwise::Add, &l.add_mlp, tc * c.hidden as u32);
        self.save(plan, i, Site::Residual, &s.x);
        Ok(())
    }

    /// The interventions at a site (not the residual one), then its recordings.
    fn site(&self, plan: &mut Plan, layer: usize, site: Site, h: &wgpu::Buffer) {
        let prompt_end = self.cache.prompt_end;
        self.steering.record_site(self.e, plan, layer, site, self.tc as u32, self.pos0 as u32, prompt_end);
        self.save(plan, layer, site, h);
    }

    /// Copies this chunk's rows of `h` into every recording of `(layer, site)`.
    fn save(&self, plan: &mut Plan, layer: usize, site: Site, h: &wgpu::Buffer) {
        let row_bytes = (site.width(&self.e.config) * 4) as u64;
        for (r, _) in self.steering.record.iter().enumerate().filter(|(_, &x)| x == (layer, site)) {
            let at = self.layout.records[r] + self.c0 as u64 * row_bytes;
            plan.copy(h, 0, self.results, at, self.tc as u64 * row_bytes);
        }
    }
}
