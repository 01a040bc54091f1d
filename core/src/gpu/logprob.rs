//! Log-probabilities of target tokens from rows of logits (`wgsl/logprob.wgsl`): what scoring
//! reads back instead of whole vocabulary rows.
use crate::gpu::context::Gpu;
use crate::gpu::program::{Access, Kernel, Plan};

pub(crate) struct LogprobKernel(Kernel);

impl LogprobKernel {
    pub fn new(gpu: &Gpu, params: &wgpu::BindGroupLayout) -> Self {
        let access = [Access::Read, Access::Read, Access::Write];
        LogprobKernel(Kernel::new(gpu, params, "logprob", include_str!("wgsl/logprob.wgsl"), "main", &access))
    }

    /// Logits rows `logits`, token ids `ids`, results `out`.
    pub fn bind(&self, gpu: &Gpu, logits: &wgpu::Buffer, ids: &wgpu::Buffer, out: &wgpu::Buffer) -> wgpu::BindGroup {
        self.0.bind(gpu, &[logits.as_entire_binding(), ids.as_entire_binding(), out.as_entire_binding()])
    }

    /// `out[o0 + r] = log_softmax(logits[r])[ids[t0 + r]]` for `rows` rows.
    pub fn record(&self, plan: &mut Plan, group: &wgpu::BindGroup, rows: u32, vocab: u32, t0: u32, o0: u32) {
        plan.dispatch(&self.0, group, &[vocab, t0, o0], [rows, 1, 1]);
    }
}
