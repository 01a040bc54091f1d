//! Every compiled kernel, built once per device.
use crate::error::Result;
use crate::gpu::attention::AttentionKernel;
use crate::gpu::context::Gpu;
use crate::gpu::elementwise::ElementwiseKernels;
use crate::gpu::logprob::LogprobKernel;
use crate::gpu::matmul::MatmulKernels;
use crate::gpu::norm::NormKernel;
use crate::gpu::program::{params_layout, Params};
use crate::gpu::rope::RopeKernels;
use crate::gpu::steer::SteerKernels;

pub(crate) struct Kernels {
    pub params: Params,
    pub matmul: MatmulKernels,
    pub norm: NormKernel,
    pub rope: RopeKernels,
    pub attention: AttentionKernel,
    pub elementwise: ElementwiseKernels,
    pub steer: SteerKernels,
    pub logprob: LogprobKernel,
}

impl Kernels {
    /// Compiles every kernel; a shader the device refuses is an `Err` naming the error.
    pub async fn new(gpu: &Gpu) -> Result<Kernels> {
        gpu.scoped("compiling the GPU kernels", || {
            let layout = params_layout(gpu);
            Kernels {
                matmul: MatmulKernels::new(gpu, &layout),
                norm: NormKernel::new(gpu, &layout),
                rope: RopeKernels::new(gpu, &layout),
                attention: AttentionKernel::new(gpu, &layout),
                elementwise: ElementwiseKernels::new(gpu, &layout),
                steer: SteerKernels::new(gpu, &layout),
                logprob: LogprobKernel::new(gpu, &layout),
                params: Params::new(gpu, layout),
            }
        })
        .await
    }
}
