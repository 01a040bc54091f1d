//! A quantized linear layer `y = x Wᵀ (+ b)`, weights straight from the GGUF file.
//!
//! Q4_1 and Q8_0 weights run on our own kernels ([`crate::kernels::q4_1`],
//! [`crate::kernels::q8_0`]: bit-identical to ggml's scalar dot products, SIMD-fast) through a
//! candle custom op, or straight on f32 slices in the decode step ([`QLinear::forward_row`]);
//! every other ggml type runs on candle's `QMatMul`. The optional bias exists so that a
//! steering vector can be *folded into the weights* and checked against the same vector
//! applied as a hook.
//!
//! Gradients: the weights are frozen, but training an intervention needs `∂loss/∂x` to flow
//! *through* them. When the input is part of an autograd graph, the layer runs as a custom op
//! whose backward is `∂x = ∂y·W` on the weights dequantized once to f32 (cached). The forward
//! stays the quantized one, so training sees the same model that scoring and generation see.
use crate::error::{Error, Result};
use crate::gguf::{Gguf, TensorType};
use crate::kernels::q4_1::{self, Q4_1Matrix, Q8_1Rows};
use crate::kernels::q8_0::{self, Q8_0Matrix};
use crate::kernels::{self, Isa};
use alloc::{format, sync::Arc, vec::Vec};
use candle_core::quantized::{GgmlDType, QMatMul, QStorage, QTensor};
use candle_core::{CpuStorage, CustomOp1, Device, Layout, Module, Shape, Tensor};
use core::ops::Range;
use std::borrow::Cow;
use std::sync::OnceLock;

/// A linear layer with quantized (or f32) weights and an optional bias: `y = x·Wᵀ + b`.
#[derive(Clone, Debug)]
pub struct QLinear {
    weight: Weight,
    /// The bias, if the layer has one (steering can fold a vector into it).
    pub bias: Option<Tensor>,
    /// (out, in)
    pub shape: (usize, usize),
    /// The weights as f32 `(out, in)`, made on first need (a backward pass or a merge).
    dense: Arc<OnceLock<Tensor>>,
}

#[derive(Clone, Debug)]
enum Weight {
    Packed(Arc<Packed>),
    Candle(QMatMul),
    /// Plain f32 `(out, in)`: a layer whose weights were merged with an update.
    F32(Tensor),
}

impl QLinear {
    /// Loads tensor `name`, which must be `(out, in)` (ggml order `[in, out]`).
    pub fn load(g: &Gguf, name: &str, out: usize, inp: usize) -> Result<Self> {
        let t = g.matrix(name, out, inp)?;
        let bad = || Error::Invalid(format!("tensor `{name}`: bad {:?} data", t.ttype));
        let weight = match t.ttype {
            TensorType::Q4_1 => Weight::Packed(Arc::new(Packed::Q4_1(
                Q4_1Matrix::from_gguf_bytes(g.data(t), out, inp).ok_or_else(bad)?,
            ))),
            TensorType::Q8_0 => Weight::Packed(Arc::new(Packed::Q8_0(
                Q8_0Matrix::from_gguf_bytes(g.data(t), out, inp).ok_or_else(bad)?,
            ))),
            _ => Weight::Candle(QMatMul::from_qtensor(qtensor(g, name)?)?),
        };
        Ok(QLinear { weight, bias: None, shape: (out, inp), dense: Arc::default() })
    }

    /// `x·Wᵀ + b` for `x` of shape `(rows, in)`.
    pub fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let y = if x.track_op() && !matches!(self.weight, Weight::F32(_)) {
            x.apply_op1(FrozenLinear(self.clone()))?
        } else {
            self.forward_weights(x)?
        };
        Ok(match &self.bias {
            Some(b) => y.broadcast_add(b)?,
            None => y,
        })
    }

    /// `x Wᵀ` without the bias.
    fn forward_weights(&self, x: &Tensor) -> Result<Tensor> {
        Ok(match &self.weight {
            Weight::Packed(w) => x.apply_op1_no_bwd(&PackedMatMul(w.clone()))?,
            Weight::Candle(m) => m.forward(x)?,
            Weight::F32(w) => x.broadcast_matmul(&w.t()?)?,
        })
    }

    /// Whether a merged weight or the bias is part of an autograd graph.
    pub fn tracks(&self) -> bool {
        matches!(&self.weight, Weight::F32(w) if w.track_op()) || self.bias.as_ref().is_some_and(Tensor::track_op)
    }

    /// Whether [`QLinear::forward_row`] reads its input quantized (`xq`): then layers that
    /// share an input (q, k, v; gate, up) quantize it once.
    pub fn reads_q8(&self) -> bool {
        matches!(self.weight, Weight::Packed(_))
    }

    /// `out = W x (+ b)` for one input row `x` (`in` floats), outside any autograd graph: the
    /// decode step's form, on slices, with no tensor allocated for our own kernels. `xq` must
    /// hold `x` quantized ([`Q8_1Rows::quantize_into`]) when [`QLinear::reads_q8`]; `split`
    /// runs `job(c)` for `c in 0..n` (on one thread or several: [`in_order`] is the former).
    /// The same bits as [`QLinear::forward`] on that row.
    pub fn forward_row(&self, x: &[f32], xq: &Q8_1Rows, out: &mut [f32], split: Split) -> Result<()> {
        if out.len() != self.shape.0 || x.len() != self.shape.1 {
            return Err(Error::Invalid(format!(
                "forward_row: {} → {} floats for a {:?} layer",
                x.len(),
                out.len(),
                self.shape
            )));
        }
        match &self.weight {
            Weight::Packed(w) => {
                if xq.rows != 1 || xq.blocks_per_row * q4_1::QK != self.shape.1 {
                    return Err(Error::Invalid(format!(
                        "forward_row: input not quantized for a {:?} layer",
                        self.shape
                    )));
                }
                let groups = w.groups();
                let per = (groups / CHUNKS_PER_PRODUCT).max(1);
                let isa = kernels::active();
                let dst = SharedOut(out.as_mut_ptr());
                split(groups.div_ceil(per), &|c| {
                    let g = c * per..(c * per + per).min(groups);
                    let rows = w.group_rows(&g);
                    // SAFETY: chunks cover disjoint row ranges of `out` (which outlives `split`).
                    let o = unsafe { core::slice::from_raw_parts_mut(dst.at(rows.start), rows.len()) };
                    w.tile(xq, 0..1, g, isa, o);
                });
            }
            _ => {
                let y = self.forward_weights(&Tensor::from_slice(x, (1, x.len()), &Device::Cpu)?)?;
                out.copy_from_slice(&y.flatten_all()?.to_vec1::<f32>()?);
            }
        }
        if let Some(b) = &self.bias {
            // The same single rounding as `broadcast_add`.
            for (o, b) in out.iter_mut().zip(b.to_vec1::<f32>()?) {
                *o += b;
            }
        }
        Ok(())
    }

    /// The weights as f32 `(out, in)` (dequantized once, then cached).
    pub fn dense(&self) -> Result<Tensor> {
        if let Some(t) = self.dense.get() {
            return Ok(t.clone());
        }
        let (out, inp) = self.shape;
        let t = match &self.weight {
            Weight::Packed(w) => Tensor::from_vec(w.dequantize(), (out, inp), &Device::Cpu)?,
            Weight::Candle(QMatMul::QTensor(q)) => q.dequantize(&Device::Cpu)?,
            Weight::Candle(QMatMul::Tensor(t) | QMatMul::TensorF16(t)) => t.to_dtype(candle_core::DType::F32)?,
            Weight::F32(t) => t.clone(),
        };
        Ok(self.dense.get_or_init(|| t).clone())
    }

    /// Runs the layer in f32 on its dequantized weights from now on.
    pub fn to_f32(&mut self) -> Result<()> {
        self.weight = Weight::F32(self.dense()?);
        Ok(())
    }

    /// Replaces the weights by `W + ΔW` in f32 (`delta_w` is `(out, in)`) and the bias by
    /// `b + Δb`: an induced update applied *as weights*.
    /// Without `ΔW` the weights stay as they are (quantized), so folding a vector into the bias
    /// changes no other arithmetic.
    pub fn merge(&mut self, delta_w: Option<&Tensor>, delta_b: Option<&Tensor>) -> Result<()> {
        if let Some(d) = delta_w {
            self.weight = Weight::F32((self.dense()? + d)?);
            self.dense = Arc::default();
        }
        if let Some(d) = delta_b {
            self.bias = Some(match &self.bias {
                Some(b) => (b + d)?,
                None => d.clone(),
            });
        }
        Ok(())
    }
}

/// A custom op's input as a contiguous f32 slice.
fn contiguous_f32<'a>(storage: &'a CpuStorage, layout: &Layout, op: &str) -> candle_core::Result<&'a [f32]> {
    let CpuStorage::F32(x) = storage else { candle_core::bail!("{op}: input must be f32") };
    let (start, end) =
        layout.contiguous_offsets().ok_or_else(|| candle_core::Error::Msg(format!("{op}: input not contiguous")))?;
    Ok(&x[start..end])
}

/// The frozen layer inside an autograd graph: the quantized forward, and `∂x = ∂y·W`.
struct FrozenLinear(QLinear);

impl CustomOp1 for FrozenLinear {
    fn name(&self) -> &'static str {
        "frozen-linear"
    }

    fn cpu_fwd(&self, storage: &CpuStorage, layout: &Layout) -> candle_core::Result<(CpuStorage, Shape)> {
        let x = Tensor::from_slice(contiguous_f32(storage, layout, self.name())?, layout.shape(), &Device::Cpu)?;
        let y = self.0.forward_weights(&x).map_err(candle_core::Error::wrap)?;
        let shape = y.shape().clone();
        Ok((CpuStorage::F32(y.flatten_all()?.to_vec1::<f32>()?), shape))
    }

    fn bwd(&self, _arg: &Tensor, _res: &Tensor, grad_res: &Tensor) -> candle_core::Result<Option<Tensor>> {
        let w = self.0.dense().map_err(candle_core::Error::wrap)?;
        Ok(Some(grad_res.broadcast_matmul(&w)?))
    }
}

/// A GGUF tensor as a candle `QTensor` (ggml dims reversed to candle's row-major order).
pub fn qtensor(g: &Gguf, name: &str) -> Result<QTensor> {
    let t = g.tensor(name)?;
    let dtype = ggml_dtype(t.ttype);
    let dims: alloc::vec::Vec<usize> = t.dims.iter().rev().map(|&d| d as usize).collect();
    // candle reinterprets the bytes as blocks in place, which needs them aligned; copy to an
    // 8-aligned buffer (the GGUF bytes may sit at any address in the caller's buffer).
    let bytes = g.data(t);
    let mut aligned = alloc::vec![0u64; bytes.len().div_ceil(8)];
    let view = &mut bytemuck_u8(&mut aligned)[..bytes.len()];
    view.copy_from_slice(bytes);
    let storage = QStorage::from_data(Cow::Borrowed(view), &Device::Cpu, dtype)?;
    Ok(QTensor::new(storage, dims)?)
}

fn bytemuck_u8(v: &mut [u64]) -> &mut [u8] {
    // SAFETY: u64 has no padding or invalid bit patterns; the length is in bytes.
    unsafe { core::slice::from_raw_parts_mut(v.as_mut_ptr() as *mut u8, v.len() * 8) }
}

fn ggml_dtype(t: TensorType) -> GgmlDType {
    use TensorType::*;
    match t {
        F32 => GgmlDType::F32,
        F16 => GgmlDType::F16,
        BF16 => GgmlDType::BF16,
        Q4_0 => GgmlDType::Q4_0,
        Q4_1 => GgmlDType::Q4_1,
        Q5_0 => GgmlDType::Q5_0,
        Q5_1 => GgmlDType::Q5_1,
        Q8_0 => GgmlDType::Q8_0,
        Q8_1 => GgmlDType::Q8_1,
        Q2K => GgmlDType::Q2K,
        Q3K => GgmlDType::Q3K,
        Q4K => GgmlDType::Q4K,
        Q5K => GgmlDType::Q5K,
        Q6K => GgmlDType::Q6K,
        Q8K => GgmlDType::Q8K,
    }
}

/// How [`QLinear::forward_row`] runs its chunks: `split(n, job)` calls `job(c)` once for every
/// `c in 0..n`, in any order, on any threads.
pub type Split<'a> = &'a dyn Fn(usize, &(dyn Fn(usize) + Sync));

/// [`Split`] on the calling thread, in order.
pub fn in_order(n: usize, job: &(dyn Fn(usize) + Sync)) {
    (0..n).for_each(job)
}

/// Chunks a matrix–vector product is cut into (for threads to share; ≥ 2 groups each when the
/// matrix has 32 or more).
const CHUNKS_PER_PRODUCT: usize = 16;

/// The output of a product, written by chunks on several threads at disjoint offsets.
#[derive(Clone, Copy)]
struct SharedOut(*mut f32);
// SAFETY: used only to form disjoint sub-slices (see `forward_row`).
unsafe impl Sync for SharedOut {}
unsafe impl Send for SharedOut {}

impl SharedOut {
    fn at(self, i: usize) -> *mut f32 {
        // SAFETY (of the caller's use): `i` is inside the output.
        self.0.wrapping_add(i)
    }
}

/// Weights on our own kernels, repacked at load.
#[derive(Debug)]
pub enum Packed {
    /// 4-bit weights with a scale and a minimum per block of 32.
    Q4_1(Q4_1Matrix),
    /// 8-bit weights with a scale per block of 32.
    Q8_0(Q8_0Matrix),
}

impl Packed {
    /// (out, in)
    pub fn shape(&self) -> (usize, usize) {
        match self {
            Packed::Q4_1(w) => (w.rows, w.cols),
            Packed::Q8_0(w) => (w.rows, w.cols),
        }
    }

    /// Number of 16-row groups: the unit of work split between threads.
    pub fn groups(&self) -> usize {
        match self {
            Packed::Q4_1(w) => w.groups(),
            Packed::Q8_0(w) => w.groups(),
        }
    }

    /// The output rows that `groups` produce.
    pub fn group_rows(&self, groups: &Range<usize>) -> Range<usize> {
        crate::kernels::group_rows(self.shape().0, groups)
    }

    /// Activation rows `acts` × the rows of weight `groups`, into `out`
    /// (`acts.len() × group_rows`), on the kernel path `isa`.
    pub fn tile(&self, x: &Q8_1Rows, acts: Range<usize>, groups: Range<usize>, isa: Isa, out: &mut [f32]) {
        match self {
            Packed::Q4_1(w) => q4_1::matmul_tile(w, x, acts, groups, isa, out),
            Packed::Q8_0(w) => q8_0::matmul_tile(w, x, acts, groups, isa, out),
        }
    }

    /// The weights as f32, row-major `(out, in)`.
    pub fn dequantize(&self) -> Vec<f32> {
        match self {
            Packed::Q4_1(w) => w.dequantize(),
            Packed::Q8_0(w) => w.dequantize(),
        }
    }
}

/// Our kernels' matmul as a candle op: input `(…, k)` f32 → output `(…, n)`.
struct PackedMatMul(Arc<Packed>);

impl CustomOp1 for PackedMatMul {
    fn name(&self) -> &'static str {
        "packed-matmul"
    }

    fn cpu_fwd(&self, storage: &CpuStorage, layout: &Layout) -> candle_core::Result<(CpuStorage, Shape)> {
        let (rows, cols) = self.0.shape();
        let x = contiguous_f32(storage, layout, self.name())?;
        let mut dims = layout.shape().dims().to_vec();
        if dims.last() != Some(&cols) {
            candle_core::bail!("quantized matmul: input {dims:?} does not match weight ({rows}, {cols})");
        }
        *dims.last_mut().unwrap() = rows;
        let xq = Q8_1Rows::quantize(x, cols);
        let mut out = alloc::vec![0f32; xq.rows * rows];
        matmul_parallel(&self.0, &xq, &mut out);
        Ok((CpuStorage::F32(out), Shape::from(dims)))
    }
}

/// Splits the output over rayon's threads: by activation rows when there are several (prefill),
/// by weight-row groups for a single one (decode). In wasm rayon runs everything on the one
/// thread.
fn matmul_parallel(w: &Packed, xq: &Q8_1Rows, out: &mut [f32]) {
    use rayon::prelude::*;
    let (n, groups) = (w.shape().0, w.groups());
    let (threads, isa) = (rayon::current_num_threads(), kernels::active());
    if threads == 1 || xq.rows * n < 4096 {
        w.tile(xq, 0..xq.rows, 0..groups, isa, out);
    } else if xq.rows == 1 {
        let per = groups.div_ceil(threads);
        out.par_chunks_mut(per * kernels::GROUP).enumerate().for_each(|(i, o)| {
            w.tile(xq, 0..1, i * per..(i * per + per).min(groups), isa, o);
        });
    } else {
        let per = xq.rows.div_ceil(threads);
        out.par_chunks_mut(per * n).enumerate().for_each(|(i, o)| {
            w.tile(xq, i * per..i * per + o.len() / n, 0..groups, isa, o);
        });
    }
}
