//! The KV cache on the GPU: per layer, the rotated keys and the values of every position seen,
//! one row per position; plus the final-normed hidden state of the last position, which
//! predicts the next token (what scoring a completion's first token needs).
//!
//! Buffers are made per layer on first use and grow by doubling (old rows copied on the GPU);
//! cloning a cache copies its rows on the GPU too, so a shared prompt prefix is computed once —
//! as [`crate::model::Cache`] does on the CPU.
use crate::error::{Error, Result};
use crate::gpu::model::{Engine, GpuLlama};
use crate::gpu::program::Plan;
use crate::gpu::weights::scratch;
use alloc::{format, sync::Arc, vec::Vec};

/// Keys and values of the positions seen so far, on the GPU.
pub struct GpuCache {
    engine: Arc<Engine>,
    layers: Vec<Option<LayerKv>>,
    /// Rows each layer's buffers hold.
    capacity: usize,
    /// Number of positions already in the cache.
    pub pos: usize,
    /// Where the prompt ended: the length of the first call on the empty cache (for
    /// [`crate::model::sites::Positions`]).
    pub prompt_end: Option<usize>,
    /// The final-normed hidden state of position `pos − 1`, when the last call ran every layer.
    pub(crate) last: Option<wgpu::Buffer>,
    /// Why this cache cannot be used (a clone whose buffers could not be made).
    pub(crate) broken: Option<alloc::string::String>,
}

pub(crate) struct LayerKv {
    pub k: wgpu::Buffer,
    pub v: wgpu::Buffer,
    /// `store_kv`: this chunk's keys and values into these buffers.
    pub store: wgpu::BindGroup,
    /// `attention`: the chunk's queries against these buffers.
    pub attend: wgpu::BindGroup,
}

impl GpuLlama {
    /// An empty cache for this model.
    pub fn cache(&self) -> GpuCache {
        GpuCache {
            engine: self.engine.clone(),
            layers: (0..self.engine.config.n_layers).map(|_| None).collect(),
            capacity: 0,
            pos: 0,
            prompt_end: None,
            last: None,
            broken: None,
        }
    }
}

impl GpuCache {
    /// Makes room for `needed` positions in `layers`, recording the copies of rows already held
    /// into `plan` (they run before the plan's own work).
    pub(crate) fn reserve(&mut self, layers: core::ops::Range<usize>, needed: usize, plan: &mut Plan) -> Result<()> {
        if let Some(why) = &self.broken {
            return Err(Error::Gpu(format!("this cache could not be copied: {why}")));
        }
        let e = self.engine.clone();
        if needed > e.positions {
            return Err(if needed > e.config.context {
                Error::PromptTooLong { tokens: needed, context: e.config.context }
            } else {
                let (limit, which) = e.gpu.limits().largest_binding();
                Error::Gpu(format!(
                    "{needed} positions do not fit the GPU: a layer's keys for more than {} positions exceed the \
                     device's {which} ({limit} bytes)",
                    e.positions
                ))
            });
        }
        if needed > self.capacity {
            let capacity = needed.max(self.capacity * 2).next_multiple_of(64).min(e.positions);
            for i in 0..self.layers.len() {
                if let Some(old) = self.layers[i].take() {
                    let fresh = LayerKv::new(&e, capacity)?;
                    let bytes = (self.pos * kv_width(&e) * 4) as u64;
                    plan.copy(&old.k, 0, &fresh.k, 0, bytes);
                    plan.copy(&old.v, 0, &fresh.v, 0, bytes);
                    self.layers[i] = Some(fresh);
                }
            }
            self.capacity = capacity;
        }
        for i in layers {
            if self.layers[i].is_none() {
                self.layers[i] = Some(LayerKv::new(&e, self.capacity)?);
            }
        }
        Ok(())
    }

    /// Layer `i`'s buffers (after [`GpuCache::reserve`]).
    pub(crate) fn layer(&self, i: usize) -> Result<&LayerKv> {
        self.layers[i].as_ref().ok_or_else(|| Error::Invalid(format!("internal: layer {i} has no cache")))
    }
}

impl LayerKv {
    fn new(e: &Engine, capacity: usize) -> Result<LayerKv> {
        let floats = capacity * kv_width(e);
        let (k, v) = (scratch(&e.gpu, floats, "cache keys")?, scratch(&e.gpu, floats, "cache values")?);
        let store = e.k.rope.bind_kv(&e.gpu, &e.table, &e.s.k, &e.s.v, &k, &v);
        let attend = e.k.attention.bind(&e.gpu, &e.s.q, &k, &v, &e.s.ctx);
        Ok(LayerKv { k, v, store, attend })
    }
}

fn kv_width(e: &Engine) -> usize {
    e.config.n_kv_heads * e.config.head_dim
}

impl Clone for GpuCache {
    /// A copy made on the GPU (submitted at once; later work on the queue sees it). A failure
    /// here (a lost device) surfaces at the next forward call.
    fn clone(&self) -> Self {
        let e = &self.engine;
        let mut plan = Plan::default();
        let mut broken = self.broken.clone();
        let bytes = (self.pos * kv_width(e) * 4) as u64;
        let layers = self
            .layers
            .iter()
            .map(|l| {
                l.as_ref().and_then(|old| {
                    let fresh = LayerKv::new(e, self.capacity).map_err(|err| broken = Some(format!("{err}"))).ok()?;
                    plan.copy(&old.k, 0, &fresh.k, 0, bytes);
                    plan.copy(&old.v, 0, &fresh.v, 0, bytes);
                    Some(fresh)
                })
            })
            .collect();
        let last = self.last.as_ref().and_then(|old| {
            let fresh =
                scratch(&e.gpu, e.config.hidden, "last hidden").map_err(|err| broken = Some(format!("{err}"))).ok()?;
            plan.copy(old, 0, &fresh, 0, (e.config.hidden * 4) as u64);
            Some(fresh)
        });
        // Errors are recorded by the device's handler and reported by the next call.
        let _ = e.k.params.submit(&e.gpu, plan);
        GpuCache {
            engine: e.clone(),
            layers,
            capacity: self.capacity,
            pos: self.pos,
            prompt_end: self.prompt_end,
            last,
            broken,
        }
    }
}
