//! The steering kernels (`wgsl/steer*.wgsl`): edits at an intervention site, on the token
//! positions a mask covers. [`crate::gpu::steering`] decides which run where.
use crate::gpu::context::Gpu;
use crate::gpu::program::{grid, Access, Kernel, Plan};
use crate::model::sites::Positions;
use alloc::format;

pub(crate) struct SteerKernels {
    add_vector: Kernel,
    add_scaled: Kernel,
    project: Kernel,
    dense: Kernel,
}

/// The rows an edit acts on and which of them it steers.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Target {
    pub tokens: u32,
    pub width: u32,
    /// Absolute position of row 0.
    pub pos0: u32,
    pub positions: Positions,
    /// Where the prompt ended (`None` while the prompt runs).
    pub prompt_end: Option<usize>,
}

impl Target {
    /// The shared leading parameters of every steering kernel.
    fn params(&self, strength: f32) -> [u32; 7] {
        let (kind, from) = match self.positions {
            Positions::All => (0, 0),
            Positions::Prompt => (1, 0),
            Positions::Completion => (2, 0),
            Positions::From(n) => (3, n.min(u32::MAX as usize) as u32),
        };
        let prompt_end = self.prompt_end.map_or(u32::MAX, |e| e.min(u32::MAX as usize - 1) as u32);
        [self.tokens, self.width, self.pos0, kind, from, prompt_end, strength.to_bits()]
    }
}

/// What the project kernel does with the component along v̂.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) enum Projection {
    /// `Δh = −m (s·v̂) v̂`
    Out,
    /// `Δh = (m‖v‖ − s·v̂) v̂`, carrying `m‖v‖`.
    Clamp(f32),
}

impl SteerKernels {
    pub fn new(gpu: &Gpu, params: &wgpu::BindGroupLayout) -> Self {
        let common = include_str!("wgsl/steer.wgsl");
        let src = |body: &str| format!("{common}\n{body}");
        let add = src(include_str!("wgsl/steer_add.wgsl"));
        let (r, w) = (Access::Read, Access::Write);
        SteerKernels {
            add_vector: Kernel::new(gpu, params, "add_vector", &add, "add_vector", &[w, r]),
            add_scaled: Kernel::new(gpu, params, "add_scaled", &add, "add_scaled", &[w, r]),
            project: Kernel::new(
                gpu,
                params,
                "project",
                &src(include_str!("wgsl/steer_project.wgsl")),
                "project",
                &[w, r, r],
            ),
            dense: Kernel::new(
                gpu,
                params,
                "dense",
                &src(include_str!("wgsl/steer_dense.wgsl")),
                "dense",
                &[r, r, r, w],
            ),
        }
    }

    /// Site activations `h` (written) and a vector or per-row delta `d`.
    pub fn bind_add(&self, gpu: &Gpu, per_row: bool, h: &wgpu::Buffer, d: &wgpu::Buffer) -> wgpu::BindGroup {
        let k = if per_row { &self.add_scaled } else { &self.add_vector };
        k.bind(gpu, &[h.as_entire_binding(), d.as_entire_binding()])
    }

    /// `h += m·d` (d one vector, or one row per token when `per_row`) on covered rows.
    pub fn record_add(&self, plan: &mut Plan, per_row: bool, group: &wgpu::BindGroup, t: Target, strength: f32) {
        let k = if per_row { &self.add_scaled } else { &self.add_vector };
        let (gx, gy) = grid((t.tokens * t.width).div_ceil(256));
        plan.dispatch(k, group, &t.params(strength), [gx, gy, 1]);
    }

    /// Site activations `h` (written), the unit direction, and the offset that completes the
    /// activation the edit sees (the skip connection at the residual site; any buffer when
    /// there is none).
    pub fn bind_project(
        &self, gpu: &Gpu, h: &wgpu::Buffer, unit: &wgpu::Buffer, offset: &wgpu::Buffer,
    ) -> wgpu::BindGroup {
        self.project.bind(gpu, &[h.as_entire_binding(), unit.as_entire_binding(), offset.as_entire_binding()])
    }

    /// Project-out or clamp along the unit direction, on covered rows.
    pub fn record_project(
        &self, plan: &mut Plan, group: &wgpu::BindGroup, t: Target, strength: f32, how: Projection, has_offset: bool,
    ) {
        let (mode, clamp_to) = match how {
            Projection::Out => (0, 0.0f32),
            Projection::Clamp(c) => (1, c),
        };
        let mut params = [0u32; 11];
        params[..7].copy_from_slice(&t.params(strength));
        params[7] = mode;
        params[8] = clamp_to.to_bits();
        params[10] = u32::from(has_offset);
        plan.dispatch(&self.project, group, &params, [t.tokens, 1, 1]);
    }

    /// Weights `w` `(rows, cols)`, input rows `x`, `bias` (any buffer when there is none), output `y`.
    pub fn bind_dense(
        &self, gpu: &Gpu, w: &wgpu::Buffer, x: &wgpu::Buffer, bias: &wgpu::Buffer, y: &wgpu::Buffer,
    ) -> wgpu::BindGroup {
        let b = wgpu::Buffer::as_entire_binding;
        self.dense.bind(gpu, &[b(w), b(x), b(bias), b(y)])
    }

    /// `Y[t] = W·X[t] (+ bias)` for `tokens` rows: `rows` outputs from `cols` inputs.
    pub fn record_dense(
        &self, plan: &mut Plan, group: &wgpu::BindGroup, tokens: u32, rows: u32, cols: u32, with_bias: bool,
    ) {
        let mut params = [0u32; 11];
        params[0] = tokens;
        params[1] = rows;
        params[7] = u32::from(with_bias);
        params[9] = cols;
        plan.dispatch(&self.dense, group, &params, [rows.div_ceil(64), tokens, 1]);
    }
}
