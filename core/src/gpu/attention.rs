//! Causal attention over the KV cache with grouped KV heads (`wgsl/attention.wgsl`).
use crate::gpu::context::Gpu;
use crate::gpu::program::{Access, Kernel, Plan};

pub(crate) struct AttentionKernel(Kernel);

/// The attention geometry of a model.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Geometry {
    pub heads: u32,
    pub kv_heads: u32,
    pub head_dim: u32,
}

impl AttentionKernel {
    pub fn new(gpu: &Gpu, params: &wgpu::BindGroupLayout) -> Self {
        let access = [Access::Read, Access::Read, Access::Read, Access::Write];
        AttentionKernel(Kernel::new(gpu, params, "attention", include_str!("wgsl/attention.wgsl"), "main", &access))
    }

    /// Queries `q`, cache keys `k` and values `v`, output `o` (rows like `q`).
    pub fn bind(
        &self, gpu: &Gpu, q: &wgpu::Buffer, k: &wgpu::Buffer, v: &wgpu::Buffer, o: &wgpu::Buffer,
    ) -> wgpu::BindGroup {
        let b = wgpu::Buffer::as_entire_binding;
        self.0.bind(gpu, &[b(q), b(k), b(v), b(o)])
    }

    /// Attends `tokens` queries at positions `pos0 ..` over cache rows `0 ..= pos0 + t`.
    pub fn record(&self, plan: &mut Plan, group: &wgpu::BindGroup, tokens: u32, g: Geometry, pos0: u32) {
        let scale = (1.0 / (g.head_dim as f64).sqrt()) as f32;
        let params = [tokens, g.heads, g.kv_heads, g.head_dim, pos0, scale.to_bits()];
        plan.dispatch(&self.0, group, &params, [g.heads, tokens, 1]);
    }
}
