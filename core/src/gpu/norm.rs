//! RMSNorm (`wgsl/rmsnorm.wgsl`): one workgroup per row.
use crate::gpu::context::Gpu;
use crate::gpu::program::{Access, Kernel, Plan};

pub(crate) struct NormKernel(Kernel);

impl NormKernel {
    pub fn new(gpu: &Gpu, params: &wgpu::BindGroupLayout) -> Self {
        let access = [Access::Read, Access::Read, Access::Write];
        NormKernel(Kernel::new(gpu, params, "rmsnorm", include_str!("wgsl/rmsnorm.wgsl"), "main", &access))
    }

    /// Normalizes rows of `x` by weight `w` into `y`.
    pub fn bind(&self, gpu: &Gpu, x: &wgpu::Buffer, w: &wgpu::Buffer, y: &wgpu::Buffer) -> wgpu::BindGroup {
        self.0.bind(gpu, &[x.as_entire_binding(), w.as_entire_binding(), y.as_entire_binding()])
    }

    /// `Y[y_row0 + r] = norm(X[x_row0 + r])` for `rows` rows of `width`.
    pub fn record(
        &self, plan: &mut Plan, group: &wgpu::BindGroup, rows: u32, width: u32, eps: f32, x_row0: u32, y_row0: u32,
    ) {
        plan.dispatch(&self.0, group, &[width, eps.to_bits(), x_row0, y_row0], [rows, 1, 1]);
    }
}
