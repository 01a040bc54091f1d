//! A quantized linear layer `y = x Wᵀ (+ b)`, weights straight from the GGUF file.
//!
//! Q4_1 weights run on our own kernel ([`crate::kernels::q4_1`], bit-identical to candle's
//! scalar Q4_1 path but SIMD-fast) through a candle custom op; every other ggml type runs on
//! candle's `QMatMul`. The optional bias exists so that a steering vector can be *folded into
//! the weights* and checked against the same vector applied as a hook.
//!
//! Gradients: the weights are frozen, but training an intervention needs `∂loss/∂x` to flow
//! *through* them. When the input is part of an autograd graph, the layer runs as a custom op
//! whose backward is `∂x = ∂y·W` on the weights dequantized once to f32 (cached). The forward
//! stays the quantized one, so training sees the same model that scoring and generation see.
use crate::error::{Error, Result};
use crate::gguf::{Gguf, TensorType};
use crate::kernels::q4_1::{self, Q4_1Matrix, Q8_1Rows};
use alloc::{format, sync::Arc};
use candle_core::quantized::{GgmlDType, QMatMul, QStorage, QTensor};
use candle_core::{CpuStorage, CustomOp1, Device, Layout, Module, Shape, Tensor};
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
    Q4_1(Arc<Q4_1Matrix>),
    Candle(QMatMul),
    /// Plain f32 `(out, in)`: a layer whose weights were merged with an update.
    F32(Tensor),
}

impl QLinear {
    /// Loads tensor `name`, which must be `(out, in)` (ggml order `[in, out]`).
    pub fn load(g: &Gguf, name: &str, out: usize, inp: usize) -> Result<Self> {
        let t = g.tensor(name)?;
        if t.dims != [inp as u64, out as u64] {
            return Err(Error::TensorShape {
                tensor: name.into(),
                expected: format!("[{inp}, {out}]"),
                found: format!("{:?}", t.dims),
            });
        }
        let weight = match t.ttype {
            TensorType::Q4_1 => Weight::Q4_1(Arc::new(
                Q4_1Matrix::from_gguf_bytes(g.data(t), out, inp)
                    .ok_or_else(|| Error::Invalid(format!("tensor `{name}`: bad Q4_1 data")))?,
            )),
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
            Weight::Q4_1(w) => x.apply_op1_no_bwd(&Q4_1MatMul(w.clone()))?,
            Weight::Candle(m) => m.forward(x)?,
            Weight::F32(w) => x.broadcast_matmul(&w.t()?)?,
        })
    }

    /// The weights as f32 `(out, in)` (dequantized once, then cached).
    pub fn dense(&self) -> Result<Tensor> {
        if let Some(t) = self.dense.get() {
            return Ok(t.clone());
        }
        let (out, inp) = self.shape;
        let t = match &self.weight {
            Weight::Q4_1(w) => Tensor::from_vec(w.dequantize(), (out, inp), &Device::Cpu)?,
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

/// The Q4_1 matmul as a candle op: input `(…, k)` f32 → output `(…, n)`.
struct Q4_1MatMul(Arc<Q4_1Matrix>);

impl CustomOp1 for Q4_1MatMul {
    fn name(&self) -> &'static str {
        "q4_1-matmul"
    }

    fn cpu_fwd(&self, storage: &CpuStorage, layout: &Layout) -> candle_core::Result<(CpuStorage, Shape)> {
        let w = &self.0;
        let x = contiguous_f32(storage, layout, self.name())?;
        let mut dims = layout.shape().dims().to_vec();
        if dims.last() != Some(&w.cols) {
            candle_core::bail!("q4_1 matmul: input {dims:?} does not match weight ({}, {})", w.rows, w.cols);
        }
        *dims.last_mut().unwrap() = w.rows;
        let xq = Q8_1Rows::quantize(x, w.cols);
        let mut out = alloc::vec![0f32; xq.rows * w.rows];
        matmul_parallel(w, &xq, &mut out);
        Ok((CpuStorage::F32(out), Shape::from(dims)))
    }
}

/// Splits the output over rayon's threads: by activation rows when there are several (prefill),
/// by weight rows for a single one (decode). In wasm rayon runs everything on the one thread.
fn matmul_parallel(w: &Q4_1Matrix, xq: &Q8_1Rows, out: &mut [f32]) {
    use rayon::prelude::*;
    let n = w.rows;
    let threads = rayon::current_num_threads();
    if threads == 1 || xq.rows * n < 4096 {
        q4_1::matmul_rows(w, xq, 0..n, out);
    } else if xq.rows == 1 {
        let chunk = n.div_ceil(threads).next_multiple_of(4);
        out.par_chunks_mut(chunk).enumerate().for_each(|(i, o)| {
            q4_1::matmul_rows(w, xq, i * chunk..i * chunk + o.len(), o);
        });
    } else {
        let per = xq.rows.div_ceil(threads);
        out.par_chunks_mut(per * n).enumerate().for_each(|(i, o)| {
            let part = xq.slice_rows(i * per..i * per + o.len() / n);
            q4_1::matmul_rows(w, &part, 0..n, o);
        });
    }
}
