//! How work reaches the GPU: compiled kernels, and a [`Plan`] — the list of dispatches and
//! copies of one call, encoded into one command buffer and submitted once.
//!
//! Every kernel takes its small parameters (sizes, offsets, positions, strengths) from a slot of
//! one uniform buffer, bound at group 0 with a dynamic offset; its data buffers sit in group 1,
//! in bind groups made once (weights, scratch, cache) or per call (token ids, results). A call
//! writes all its slots with one `write_buffer`, then submits: nothing is read back between
//! layers.
use crate::error::{Error, Result};
use crate::gpu::context::Gpu;
use alloc::{format, vec::Vec};
use std::sync::Mutex;

/// Words of parameters one dispatch may have.
pub(crate) const PARAM_WORDS: usize = 16;

/// How a kernel binds one storage buffer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Access {
    Read,
    Write,
}

/// A compiled compute kernel and the layout of its data buffers.
pub(crate) struct Kernel {
    pipeline: wgpu::ComputePipeline,
    layout: wgpu::BindGroupLayout,
    name: &'static str,
}

impl Kernel {
    /// Compiles entry point `entry` of `source` (after `wgsl/grid.wgsl`, which every kernel
    /// shares), whose group-1 bindings are `access` in order.
    pub fn new(
        gpu: &Gpu, params: &wgpu::BindGroupLayout, name: &'static str, source: &str, entry: &str, access: &[Access],
    ) -> Kernel {
        let device = gpu.device();
        let entries: Vec<wgpu::BindGroupLayoutEntry> = access
            .iter()
            .enumerate()
            .map(|(i, a)| wgpu::BindGroupLayoutEntry {
                binding: i as u32,
                visibility: wgpu::ShaderStages::COMPUTE,
                ty: wgpu::BindingType::Buffer {
                    ty: wgpu::BufferBindingType::Storage { read_only: *a == Access::Read },
                    has_dynamic_offset: false,
                    min_binding_size: None,
                },
                count: None,
            })
            .collect();
        let layout =
            device.create_bind_group_layout(&wgpu::BindGroupLayoutDescriptor { label: Some(name), entries: &entries });
        let pipeline_layout = device.create_pipeline_layout(&wgpu::PipelineLayoutDescriptor {
            label: Some(name),
            bind_group_layouts: &[Some(params), Some(&layout)],
            immediate_size: 0,
        });
        let source = format!("{}\n{source}", include_str!("wgsl/grid.wgsl"));
        let module = device.create_shader_module(wgpu::ShaderModuleDescriptor {
            label: Some(name),
            source: wgpu::ShaderSource::Wgsl(source.into()),
        });
        let pipeline = device.create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
            label: Some(name),
            layout: Some(&pipeline_layout),
            module: &module,
            entry_point: Some(entry),
            compilation_options: Default::default(),
            cache: None,
        });
        Kernel { pipeline, layout, name }
    }

    /// A bind group over `buffers` (whole buffers or ranges), in binding order.
    pub fn bind(&self, gpu: &Gpu, buffers: &[wgpu::BindingResource<'_>]) -> wgpu::BindGroup {
        let entries: Vec<wgpu::BindGroupEntry> = buffers
            .iter()
            .enumerate()
            .map(|(i, r)| wgpu::BindGroupEntry { binding: i as u32, resource: r.clone() })
            .collect();
        gpu.device().create_bind_group(&wgpu::BindGroupDescriptor {
            label: Some(self.name),
            layout: &self.layout,
            entries: &entries,
        })
    }
}

/// The shared group-0 layout: one dynamic-offset uniform slot of parameters.
pub(crate) fn params_layout(gpu: &Gpu) -> wgpu::BindGroupLayout {
    gpu.device().create_bind_group_layout(&wgpu::BindGroupLayoutDescriptor {
        label: Some("params"),
        entries: &[wgpu::BindGroupLayoutEntry {
            binding: 0,
            visibility: wgpu::ShaderStages::COMPUTE,
            ty: wgpu::BindingType::Buffer {
                ty: wgpu::BufferBindingType::Uniform,
                has_dynamic_offset: true,
                min_binding_size: None,
            },
            count: None,
        }],
    })
}

/// Workgroup counts for `n` groups of a 1-D kernel: x up to the per-dimension limit, the rest
/// in y (kernels rebuild the index as `x + y · num_workgroups.x`).
pub(crate) fn grid(n: u32) -> (u32, u32) {
    const MAX: u32 = 65_535;
    if n <= MAX {
        (n.max(1), 1)
    } else {
        (MAX, n.div_ceil(MAX))
    }
}

/// One recorded step.
enum Op {
    Dispatch { pipeline: wgpu::ComputePipeline, group: wgpu::BindGroup, slot: u32, size: [u32; 3] },
    Copy { src: wgpu::Buffer, src_offset: u64, dst: wgpu::Buffer, dst_offset: u64, size: u64 },
}

/// The work of one call, in order.
#[derive(Default)]
pub(crate) struct Plan {
    params: Vec<[u32; PARAM_WORDS]>,
    ops: Vec<Op>,
}

impl Plan {
    /// Appends a dispatch of `kernel` over `size` workgroups with `params` in its slot.
    pub fn dispatch(&mut self, kernel: &Kernel, group: &wgpu::BindGroup, params: &[u32], size: [u32; 3]) {
        let mut slot = [0u32; PARAM_WORDS];
        slot[..params.len()].copy_from_slice(params);
        self.params.push(slot);
        self.ops.push(Op::Dispatch {
            pipeline: kernel.pipeline.clone(),
            group: group.clone(),
            slot: self.params.len() as u32 - 1,
            size,
        });
    }

    /// Appends a buffer-to-buffer copy of `size` bytes (a no-op when `size` is 0).
    pub fn copy(&mut self, src: &wgpu::Buffer, src_offset: u64, dst: &wgpu::Buffer, dst_offset: u64, size: u64) {
        if size > 0 {
            self.ops.push(Op::Copy { src: src.clone(), src_offset, dst: dst.clone(), dst_offset, size });
        }
    }
}

/// The uniform buffer holding every slot of a call, grown when a call needs more.
pub(crate) struct Params {
    layout: wgpu::BindGroupLayout,
    slot_bytes: u64,
    current: Mutex<Option<(wgpu::Buffer, wgpu::BindGroup, u64)>>,
}

impl Params {
    pub fn new(gpu: &Gpu, layout: wgpu::BindGroupLayout) -> Params {
        let align = gpu.limits().min_uniform_buffer_offset_alignment.max(4) as u64;
        let slot_bytes = ((PARAM_WORDS * 4) as u64).next_multiple_of(align);
        Params { layout, slot_bytes, current: Mutex::new(None) }
    }

    /// A buffer and bind group with room for `slots` slots, in `cur` (the held lock).
    fn with_room(
        &self, gpu: &Gpu, cur: &mut Option<(wgpu::Buffer, wgpu::BindGroup, u64)>, slots: u64,
    ) -> Result<(wgpu::Buffer, wgpu::BindGroup)> {
        if let Some((b, g, cap)) = cur.as_ref() {
            if *cap >= slots {
                return Ok((b.clone(), g.clone()));
            }
        }
        let cap = slots.next_power_of_two().max(1024);
        let size = cap * self.slot_bytes;
        if size > gpu.limits().max_buffer_size {
            return Err(Error::Gpu(format!(
                "one call needs {slots} kernel launches, whose parameters ({size} bytes) exceed max_buffer_size ({})",
                gpu.limits().max_buffer_size
            )));
        }
        let buffer = gpu.device().create_buffer(&wgpu::BufferDescriptor {
            label: Some("params"),
            size,
            usage: wgpu::BufferUsages::UNIFORM | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        });
        let group = gpu.device().create_bind_group(&wgpu::BindGroupDescriptor {
            label: Some("params"),
            layout: &self.layout,
            entries: &[wgpu::BindGroupEntry {
                binding: 0,
                resource: wgpu::BindingResource::Buffer(wgpu::BufferBinding {
                    buffer: &buffer,
                    offset: 0,
                    size: wgpu::BufferSize::new((PARAM_WORDS * 4) as u64),
                }),
            }],
        });
        *cur = Some((buffer.clone(), group.clone(), cap));
        Ok((buffer, group))
    }

    /// Writes the plan's parameters, encodes its steps into one command buffer and submits it.
    ///
    /// The lock is held from the parameters' write to the submission: every call writes the
    /// same slots, and the queue applies a write before the *next* submission, so two threads
    /// writing before either submits would run one call with the other's sizes and offsets
    /// (seen as wrong kernel results when tests shared one device).
    pub fn submit(&self, gpu: &Gpu, plan: Plan) -> Result<()> {
        let mut cur = self.current.lock().unwrap_or_else(|e| e.into_inner());
        let (buffer, group) = self.with_room(gpu, &mut cur, plan.params.len() as u64)?;
        let stride = self.slot_bytes as usize;
        let mut bytes = alloc::vec![0u8; plan.params.len() * stride];
        for (i, slot) in plan.params.iter().enumerate() {
            for (j, w) in slot.iter().enumerate() {
                bytes[i * stride + 4 * j..i * stride + 4 * j + 4].copy_from_slice(&w.to_le_bytes());
            }
        }
        if !bytes.is_empty() {
            gpu.queue().write_buffer(&buffer, 0, &bytes);
        }
        let mut encoder = gpu.device().create_command_encoder(&wgpu::CommandEncoderDescriptor { label: Some("call") });
        let mut pass: Option<wgpu::ComputePass<'static>> = None;
        for op in plan.ops {
            match op {
                Op::Dispatch { pipeline, group: data, slot, size } => {
                    let p =
                        pass.get_or_insert_with(|| encoder.begin_compute_pass(&Default::default()).forget_lifetime());
                    p.set_pipeline(&pipeline);
                    p.set_bind_group(0, &group, &[slot * self.slot_bytes as u32]);
                    p.set_bind_group(1, &data, &[]);
                    p.dispatch_workgroups(size[0], size[1], size[2]);
                }
                Op::Copy { src, src_offset, dst, dst_offset, size } => {
                    drop(pass.take());
                    encoder.copy_buffer_to_buffer(&src, src_offset, &dst, dst_offset, size);
                }
            }
        }
        drop(pass);
        gpu.queue().submit([encoder.finish()]);
        Ok(())
    }
}
