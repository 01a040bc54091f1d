//! The weight kernels: `Y = X·Wᵀ` and the embedding lookup, one pipeline per weight
//! [`Format`], each dequantizing in the shader (`wgsl/matmul.wgsl`, `wgsl/embed.wgsl`).
use crate::gpu::context::Gpu;
use crate::gpu::program::{grid, Access, Kernel, Plan};
use crate::gpu::weights::{Format, Matrix};
use alloc::{format, vec::Vec};

/// Rows and tokens one matmul workgroup covers (`ROWS`, `TT` in the shader).
const ROWS: u32 = 8;
const TOKENS: u32 = 8;

/// The matmul and embedding kernels for every weight format.
pub(crate) struct MatmulKernels {
    matmul: Vec<Kernel>,
    embed: Vec<Kernel>,
}

/// Where a matmul reads and writes: `Y[out_row0 + t, ·] = W · X[x_row0 + t]` for `tokens` rows,
/// output rows `out_stride` floats apart.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Rows {
    pub tokens: u32,
    pub x_row0: u32,
    pub out_row0: u32,
}

impl MatmulKernels {
    pub fn new(gpu: &Gpu, params: &wgpu::BindGroupLayout) -> Self {
        let rw = [Access::Read, Access::Read, Access::Write];
        let build = |f: Format, body: &str, name: &'static str| {
            Kernel::new(gpu, params, name, &format!("{}\n{}", f.shader(), body), "main", &rw)
        };
        let matmul = Format::ALL.iter().map(|&f| build(f, include_str!("wgsl/matmul.wgsl"), "matmul")).collect();
        let embed = Format::ALL.iter().map(|&f| build(f, include_str!("wgsl/embed.wgsl"), "embed")).collect();
        MatmulKernels { matmul, embed }
    }

    /// One bind group per part of `w`, reading `x` and writing `y`.
    pub fn bind(&self, gpu: &Gpu, w: &Matrix, x: &wgpu::Buffer, y: &wgpu::Buffer) -> Vec<wgpu::BindGroup> {
        let k = &self.matmul[w.format.index()];
        w.parts
            .iter()
            .map(|p| k.bind(gpu, &[p.buffer.as_entire_binding(), x.as_entire_binding(), y.as_entire_binding()]))
            .collect()
    }

    /// Records `Y = X·Wᵀ` over every part (bind groups from [`MatmulKernels::bind`]).
    pub fn record(&self, plan: &mut Plan, w: &Matrix, groups: &[wgpu::BindGroup], rows: Rows) {
        let k = &self.matmul[w.format.index()];
        for (part, group) in w.parts.iter().zip(groups) {
            let (gx, gz) = grid(part.rows.div_ceil(ROWS));
            let params = [part.rows, w.cols as u32, rows.tokens, part.row0, w.rows as u32, rows.x_row0, rows.out_row0];
            plan.dispatch(k, group, &params, [gx, rows.tokens.div_ceil(TOKENS), gz]);
        }
    }

    /// One bind group per part of the embedding matrix `w`, reading token ids from `ids` and
    /// writing rows of `x`.
    pub fn bind_embed(&self, gpu: &Gpu, w: &Matrix, ids: &wgpu::Buffer, x: &wgpu::Buffer) -> Vec<wgpu::BindGroup> {
        let k = &self.embed[w.format.index()];
        w.parts
            .iter()
            .map(|p| k.bind(gpu, &[p.buffer.as_entire_binding(), ids.as_entire_binding(), x.as_entire_binding()]))
            .collect()
    }

    /// Records `X[t] = W[ids[ids0 + t]]` for `tokens` tokens.
    pub fn record_embed(&self, plan: &mut Plan, w: &Matrix, groups: &[wgpu::BindGroup], tokens: u32, ids0: u32) {
        let k = &self.embed[w.format.index()];
        let threads = tokens * (w.cols as u32 / 32);
        let (gx, gy) = grid(threads.div_ceil(64));
        for (part, group) in w.parts.iter().zip(groups) {
            plan.dispatch(k, group, &[tokens, w.cols as u32, part.row0, part.rows, ids0], [gx, gy, 1]);
        }
    }
}
