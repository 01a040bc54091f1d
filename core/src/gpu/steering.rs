//! A [`Steering`] uploaded for the GPU: each intervention's tensors copied to buffers once, bound
//! to the site it edits, so a sweep that only changes strengths re-uploads nothing
//! ([`GpuSteering::set_strength`]).
//!
//! The arithmetic follows `crate::model::sites` op for op: `Δh = m·v`; `Δh = m·(B·(A·u))`;
//! `Δh = m·(ΔW·u + Δb)`; project-out and clamp along `v̂ = v·(1/‖v‖)` (the unit vector and `‖v‖`
//! made by the same candle ops as on the CPU), seeing `h` plus the skip connection at the
//! residual site. Interventions at one site apply in order.
use crate::error::{Error, Result};
use crate::gpu::model::{Engine, GpuLlama};
use crate::gpu::program::Plan;
use crate::gpu::steer::{Projection, Target};
use crate::gpu::weights::{scratch, upload_f32};
use crate::model::sites::Positions;
use crate::model::{Config, Edit, Site, Steering};
use alloc::{format, vec::Vec};
use candle_core::{DType, Tensor};

/// Interventions and recordings for the GPU forward pass. Empty = the plain model.
#[derive(Default)]
pub struct GpuSteering {
    items: Vec<Item>,
    /// Sites whose activations the forward pass returns, in order.
    pub record: Vec<(usize, Site)>,
}

struct Item {
    layer: usize,
    site: Site,
    positions: Positions,
    strength: f32,
    op: Op,
}

enum Op {
    /// `h += m·v` (group: h, v).
    Add(wgpu::BindGroup),
    /// Project-out or clamp (group: h, v̂, offset); `norm` = ‖v‖ for the clamp target.
    Project { clamp: bool, norm: f32, group: wgpu::BindGroup },
    /// `z = A·u`, `d = B·z`, `h += m·d`.
    LowRank { rank: u32, a: wgpu::BindGroup, b: wgpu::BindGroup, add: wgpu::BindGroup },
    /// `d = ΔW·u (+ Δb)`, `h += m·d`.
    Dense { bias: bool, dense: wgpu::BindGroup, add: wgpu::BindGroup },
}

impl GpuSteering {
    /// No interventions, no recordings.
    pub fn none() -> Self {
        Self::default()
    }

    /// Uploads `steering`'s tensors for `model`. Shapes, layers and strengths are checked as
    /// [`crate::model::Intervention::new`] checks them.
    pub fn new(model: &GpuLlama, steering: &Steering) -> Result<Self> {
        let e = &model.engine;
        let items = steering.interventions.iter().map(|iv| {
            check(&e.config, iv.layer, iv.site, &iv.edit, iv.strength)?;
            Ok(Item {
                layer: iv.layer,
                site: iv.site,
                positions: iv.positions,
                strength: iv.strength,
                op: Op::new(e, iv.site, &iv.edit)?,
            })
        });
        for &(layer, _) in &steering.record {
            e.config.check_layer(layer)?;
        }
        Ok(GpuSteering { items: items.collect::<Result<_>>()?, record: steering.record.clone() })
    }

    /// Number of interventions.
    pub fn len(&self) -> usize {
        self.items.len()
    }

    /// Whether there are no interventions.
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// Sets the strength of intervention `i` (in [`Steering::interventions`] order).
    pub fn set_strength(&mut self, i: usize, strength: f32) -> Result<()> {
        if !strength.is_finite() {
            return Err(Error::BadStrength(strength));
        }
        let n = self.items.len();
        let item = self.items.get_mut(i).ok_or_else(|| Error::Invalid(format!("no intervention {i} (of {n})")))?;
        item.strength = strength;
        Ok(())
    }

    /// Records the interventions at `(layer, site)` for `tokens` rows at positions `pos0 ..`.
    pub(crate) fn record_site(
        &self, e: &Engine, plan: &mut Plan, layer: usize, site: Site, tokens: u32, pos0: u32, prompt_end: Option<usize>,
    ) {
        let k = &e.k.steer;
        let width = site.width(&e.config) as u32;
        for it in self.items.iter().filter(|it| it.layer == layer && it.site == site) {
            let t = Target { tokens, width, pos0, positions: it.positions, prompt_end };
            let m = it.strength;
            match &it.op {
                Op::Add(group) => k.record_add(plan, false, group, t, m),
                Op::Project { clamp, norm, group } => {
                    let how =
                        if *clamp { Projection::Clamp((m as f64 * *norm as f64) as f32) } else { Projection::Out };
                    k.record_project(plan, group, t, m, how, site == Site::Residual);
                }
                Op::LowRank { rank, a, b, add } => {
                    let src = site.source_width(&e.config) as u32;
                    k.record_dense(plan, a, tokens, *rank, src, false);
                    k.record_dense(plan, b, tokens, width, *rank, false);
                    k.record_add(plan, true, add, t, m);
                }
                Op::Dense { bias, dense, add } => {
                    k.record_dense(plan, dense, tokens, width, site.source_width(&e.config) as u32, *bias);
                    k.record_add(plan, true, add, t, m);
                }
            }
        }
    }
}

/// The site's activation buffer, its source `u`, and (residual site) the skip connection.
fn site_buffers(e: &Engine, site: Site) -> (&wgpu::Buffer, &wgpu::Buffer, Option<&wgpu::Buffer>) {
    let s = &e.s;
    match site {
        Site::AttnOut => (&s.attn, &s.ctx, None),
        Site::MlpMid => (&s.mid, &s.h2, None),
        Site::MlpOut => (&s.mlp, &s.mid, None),
        Site::Residual => (&s.mlp, &s.x, Some(&s.xmid)),
    }
}

fn values(t: &Tensor) -> Result<Vec<f32>> {
    Ok(t.detach().to_dtype(DType::F32)?.flatten_all()?.to_vec1()?)
}

impl Op {
    fn new(e: &Engine, site: Site, edit: &Edit) -> Result<Op> {
        let gpu = &e.gpu;
        let k = &e.k.steer;
        let (h, u, offset) = site_buffers(e, site);
        let rows = e.chunk;
        Ok(match edit {
            Edit::AddVector(v) => Op::Add(k.bind_add(gpu, false, h, &upload_f32(gpu, &values(v)?, "steering vector"))),
            Edit::ProjectOut(v) | Edit::Clamp(v) => {
                // The same ops as `Intervention::delta` on the CPU.
                let norm = v.sqr()?.sum_all()?.sqrt()?.to_scalar::<f32>()?;
                if norm == 0.0 {
                    return Err(Error::Invalid(format!(
                        "`{}` needs a direction, got a zero-norm vector",
                        edit.operation()
                    )));
                }
                let unit = upload_f32(gpu, &values(&(v / norm as f64)?)?, "steering direction");
                let clamp = matches!(edit, Edit::Clamp(_));
                // Without a skip connection the offset binding is unread; bind the direction.
                Op::Project { clamp, norm, group: k.bind_project(gpu, h, &unit, offset.unwrap_or(&unit)) }
            }
            Edit::LowRank { a, b } => {
                let rank = a.dims()[0];
                let z = scratch(gpu, rows * rank, "low-rank z")?;
                let d = scratch(gpu, rows * site.width(&e.config), "steering delta")?;
                let (ab, bb) = (upload_f32(gpu, &values(a)?, "lora A"), upload_f32(gpu, &values(b)?, "lora B"));
                Op::LowRank {
                    rank: rank as u32,
                    a: k.bind_dense(gpu, &ab, u, &ab, &z),
                    b: k.bind_dense(gpu, &bb, &z, &bb, &d),
                    add: k.bind_add(gpu, true, h, &d),
                }
            }
            Edit::Dense { w, bias } => {
                let d = scratch(gpu, rows * site.width(&e.config), "steering delta")?;
                let wb = upload_f32(gpu, &values(w)?, "dense delta W");
                let bb = match bias {
                    Some(b) => upload_f32(gpu, &values(b)?, "dense delta b"),
                    None => wb.clone(),
                };
                Op::Dense {
                    bias: bias.is_some(),
                    dense: k.bind_dense(gpu, &wb, u, &bb, &d),
                    add: k.bind_add(gpu, true, h, &d),
                }
            }
        })
    }
}

/// The checks of [`crate::model::Intervention::new`], for interventions built by hand.
fn check(c: &Config, layer: usize, site: Site, edit: &Edit, strength: f32) -> Result<()> {
    c.check_layer(layer)?;
    if !strength.is_finite() {
        return Err(Error::BadStrength(strength));
    }
    let (width, src) = (site.width(c), site.source_width(c));
    let dims = |t: &Tensor, want: &[usize]| -> Result<()> {
        if t.dims() == want {
            Ok(())
        } else {
            Err(Error::VectorDim { expected: *want.last().unwrap_or(&0), found: *t.dims().last().unwrap_or(&0) })
        }
    };
    match edit {
        Edit::AddVector(v) | Edit::ProjectOut(v) | Edit::Clamp(v) => dims(v, &[width]),
        Edit::LowRank { a, b } => {
            let rank = a.dims().first().copied().unwrap_or(0);
            if rank == 0 {
                return Err(Error::Invalid("a low-rank edit needs rank ≥ 1".into()));
            }
            dims(a, &[rank, src])?;
            dims(b, &[width, rank])
        }
        Edit::Dense { w, bias } => {
            dims(w, &[width, src])?;
            bias.as_ref().map_or(Ok(()), |b| dims(b, &[width]))
        }
    }
}
