//! Elementwise kernels (`wgsl/elementwise.wgsl`): the residual adds and the SwiGLU gate.
use crate::gpu::context::Gpu;
use crate::gpu::program::{grid, Access, Kernel, Plan};

pub(crate) struct ElementwiseKernels {
    add: Kernel,
    swiglu: Kernel,
}

/// Which elementwise op.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Elementwise {
    /// `Y = A + B`
    Add,
    /// `Y = silu(A)·B`
    Swiglu,
}

impl ElementwiseKernels {
    pub fn new(gpu: &Gpu, params: &wgpu::BindGroupLayout) -> Self {
        let src = include_str!("wgsl/elementwise.wgsl");
        let access = [Access::Read, Access::Read, Access::Write];
        ElementwiseKernels {
            add: Kernel::new(gpu, params, "add", src, "add", &access),
            swiglu: Kernel::new(gpu, params, "swiglu", src, "swiglu", &access),
        }
    }

    fn kernel(&self, op: Elementwise) -> &Kernel {
        match op {
            Elementwise::Add => &self.add,
            Elementwise::Swiglu => &self.swiglu,
        }
    }

    pub fn bind(
        &self, gpu: &Gpu, op: Elementwise, a: &wgpu::Buffer, b: &wgpu::Buffer, y: &wgpu::Buffer,
    ) -> wgpu::BindGroup {
        self.kernel(op).bind(gpu, &[a.as_entire_binding(), b.as_entire_binding(), y.as_entire_binding()])
    }

    /// `op` over the first `n` floats.
    pub fn record(&self, plan: &mut Plan, op: Elementwise, group: &wgpu::BindGroup, n: u32) {
        let (gx, gy) = grid(n.div_ceil(256));
        plan.dispatch(self.kernel(op), group, &[n], [gx, gy, 1]);
    }
}
