//! Rotary embeddings (`wgsl/rope.wgsl`, shared, before `wgsl/rope_q.wgsl`: queries in place;
//! `wgsl/store_kv.wgsl`: rotated keys and values into the KV cache), and the cos/sin table
//! both read.
use crate::gpu::context::Gpu;
use crate::gpu::program::{grid, Access, Kernel, Plan};
use alloc::vec::Vec;

pub(crate) struct RopeKernels {
    rope_q: Kernel,
    store_kv: Kernel,
}

/// Heads of a projection: `heads` heads of `head_dim` per token.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Heads {
    pub heads: u32,
    pub head_dim: u32,
}

impl RopeKernels {
    pub fn new(gpu: &Gpu, params: &wgpu::BindGroupLayout) -> Self {
        let rope_q = concat!(include_str!("wgsl/rope.wgsl"), include_str!("wgsl/rope_q.wgsl"));
        let rope_q = Kernel::new(gpu, params, "rope_q", rope_q, "main", &[Access::Read, Access::Write]);
        let store_kv = concat!(include_str!("wgsl/rope.wgsl"), include_str!("wgsl/store_kv.wgsl"));
        let access = [Access::Read, Access::Read, Access::Read, Access::Write, Access::Write];
        let store_kv = Kernel::new(gpu, params, "store_kv", store_kv, "main", &access);
        RopeKernels { rope_q, store_kv }
    }

    pub fn bind_q(&self, gpu: &Gpu, table: &wgpu::Buffer, q: &wgpu::Buffer) -> wgpu::BindGroup {
        self.rope_q.bind(gpu, &[table.as_entire_binding(), q.as_entire_binding()])
    }

    /// Rotates `tokens` rows of queries at positions `pos0 ..` in place.
    pub fn record_q(&self, plan: &mut Plan, group: &wgpu::BindGroup, tokens: u32, h: Heads, pos0: u32) {
        let (gx, gy) = grid((tokens * h.heads * h.head_dim / 2).div_ceil(64));
        plan.dispatch(&self.rope_q, group, &[tokens, h.heads, h.head_dim, pos0], [gx, gy, 1]);
    }

    pub fn bind_kv(
        &self, gpu: &Gpu, table: &wgpu::Buffer, k: &wgpu::Buffer, v: &wgpu::Buffer, cache_k: &wgpu::Buffer,
        cache_v: &wgpu::Buffer,
    ) -> wgpu::BindGroup {
        let b = wgpu::Buffer::as_entire_binding;
        self.store_kv.bind(gpu, &[b(table), b(k), b(v), b(cache_k), b(cache_v)])
    }

    /// Writes `tokens` rows of keys (rotated) and values into cache rows `pos0 ..`.
    pub fn record_kv(&self, plan: &mut Plan, group: &wgpu::BindGroup, tokens: u32, h: Heads, pos0: u32) {
        let (gx, gy) = grid((tokens * h.heads * h.head_dim / 2).div_ceil(64));
        plan.dispatch(&self.store_kv, group, &[tokens, h.heads, h.head_dim, pos0], [gx, gy, 1]);
    }
}

/// `(cos, sin)` of `p·θ_i` for positions `0..positions` and `θ_i = 1 / base^(2i/dim)`, computed
/// in f32 exactly as the CPU path does (`model::llama`: one f32 product per angle), interleaved
/// for the shaders.
pub(crate) fn rope_table(positions: usize, dim: usize, base: f32) -> Vec<f32> {
    let theta: Vec<f32> = (0..dim).step_by(2).map(|i| 1f32 / base.powf(i as f32 / dim as f32)).collect();
    let mut out = Vec::with_capacity(positions * dim);
    for p in 0..positions {
        for &t in &theta {
            let a = p as f32 * t;
            out.push(a.cos());
            out.push(a.sin());
        }
    }
    out
}
