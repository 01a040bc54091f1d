//! Weights on the GPU, uploaded once in their GGUF layout (Q4_1 and Q8_0 blocks as the file
//! stores them, or plain F32 / F16); the kernels dequantize as they read.
//!
//! A matrix larger than what one kernel can bind (`max_storage_buffer_binding_size`, or
//! `max_buffer_size` when lower) is split by rows into parts, each its own buffer; the matmul
//! runs once per part and writes its columns of the output, the embedding lookup once per part
//! for the tokens whose rows it holds. A single row over the limit is refused, naming it.
use crate::error::{Error, Result};
use crate::gguf::{Gguf, TensorType};
use crate::gpu::context::Gpu;
use alloc::{format, vec::Vec};

/// A weight layout the kernels read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// 4-bit blocks with a scale and a minimum, as in the GGUF.
    Q4_1,
    /// 8-bit blocks with a scale, as in the GGUF.
    Q8_0,
    /// Plain f32.
    F32,
    /// Plain f16 (widened in the shader).
    F16,
}

impl Format {
    pub(crate) const ALL: [Format; 4] = [Format::Q4_1, Format::Q8_0, Format::F32, Format::F16];

    /// The format of a GGUF tensor type, or a refusal naming the type.
    pub fn of(ttype: TensorType, tensor: &str) -> Result<Format> {
        Ok(match ttype {
            TensorType::Q4_1 => Format::Q4_1,
            TensorType::Q8_0 => Format::Q8_0,
            TensorType::F32 => Format::F32,
            TensorType::F16 => Format::F16,
            other => {
                return Err(Error::UnsupportedModel(format!(
                    "tensor `{tensor}` is {other:?}: the GPU backend reads Q4_1, Q8_0, F32 and F16 weights \
                     (the CPU backend runs this file)"
                )))
            }
        })
    }

    /// Bytes of one row of `cols` weights (`cols` a multiple of 32).
    pub fn row_bytes(self, cols: usize) -> u64 {
        let blocks = (cols / 32) as u64;
        blocks
            * match self {
                Format::Q4_1 => 20,
                Format::Q8_0 => 34,
                Format::F32 => 128,
                Format::F16 => 64,
            }
    }

    /// The WGSL snippet that defines `dequant(block)` for this format.
    pub(crate) fn shader(self) -> &'static str {
        match self {
            Format::Q4_1 => include_str!("wgsl/format_q4_1.wgsl"),
            Format::Q8_0 => include_str!("wgsl/format_q8_0.wgsl"),
            Format::F32 => include_str!("wgsl/format_f32.wgsl"),
            Format::F16 => include_str!("wgsl/format_f16.wgsl"),
        }
    }

    pub(crate) fn index(self) -> usize {
        Format::ALL.iter().position(|&f| f == self).unwrap_or(0)
    }
}

/// Rows `row0 .. row0 + rows` of a matrix, in one buffer.
#[derive(Clone)]
pub(crate) struct Part {
    pub buffer: wgpu::Buffer,
    pub row0: u32,
    pub rows: u32,
}

/// An `(rows, cols)` weight matrix on the GPU (rows = output features).
#[derive(Clone)]
pub struct Matrix {
    /// How the weights are stored.
    pub format: Format,
    /// Output features.
    pub rows: usize,
    /// Input features.
    pub cols: usize,
    pub(crate) parts: Vec<Part>,
}

impl Matrix {
    /// Uploads GGUF tensor `name`, which must be `(out, in)` (ggml order `[in, out]`).
    pub fn load(gpu: &Gpu, g: &Gguf, name: &str, out: usize, inp: usize) -> Result<Matrix> {
        let t = g.matrix(name, out, inp)?;
        Matrix::upload(gpu, Format::of(t.ttype, name)?, g.data(t), out, inp, name)
    }

    /// Uploads `bytes`, an `(rows, cols)` matrix in `format`, split by rows where the limits
    /// demand it.
    pub fn upload(gpu: &Gpu, format: Format, bytes: &[u8], rows: usize, cols: usize, name: &str) -> Result<Matrix> {
        if !cols.is_multiple_of(32) || cols == 0 || rows == 0 {
            return Err(Error::UnsupportedModel(format!(
                "tensor `{name}` is ({rows}, {cols}): the GPU kernels need rows of a multiple of 32 weights"
            )));
        }
        let row_bytes = format.row_bytes(cols);
        if bytes.len() as u64 != row_bytes * rows as u64 {
            return Err(Error::Invalid(format!(
                "tensor `{name}`: {} bytes of data, expected {} for ({rows}, {cols}) {format:?}",
                bytes.len(),
                row_bytes * rows as u64
            )));
        }
        let per_part = rows_per_buffer(gpu, row_bytes, name)?.min(rows);
        let mut parts = Vec::new();
        for row0 in (0..rows).step_by(per_part) {
            let n = per_part.min(rows - row0);
            let slice = &bytes[row0 * row_bytes as usize..(row0 + n) * row_bytes as usize];
            parts.push(Part { buffer: upload_bytes(gpu, slice, name), row0: row0 as u32, rows: n as u32 });
        }
        Ok(Matrix { format, rows, cols, parts })
    }
}

/// How many rows of `row_bytes` fit one buffer a kernel can bind (with the padding
/// [`upload_bytes`] adds), or a refusal naming the limit.
fn rows_per_buffer(gpu: &Gpu, row_bytes: u64, name: &str) -> Result<usize> {
    let (limit, which) = gpu.limits().largest_binding();
    let rows = limit.saturating_sub(PAD) / row_bytes;
    if rows == 0 {
        return Err(Error::Gpu(format!(
            "one row of tensor `{name}` ({row_bytes} bytes) exceeds the device's {which} ({limit} bytes)"
        )));
    }
    Ok(usize::try_from(rows).unwrap_or(usize::MAX).min(u32::MAX as usize))
}

/// Bytes added after every upload: Q8_0 blocks are read four bytes at a time from half-word
/// offsets, so the last block's read may run up to a word past its end.
const PAD: u64 = 8;

/// A storage buffer holding `bytes` (padded to whole words plus [`PAD`]).
pub(crate) fn upload_bytes(gpu: &Gpu, bytes: &[u8], label: &str) -> wgpu::Buffer {
    let size = (bytes.len() as u64).next_multiple_of(4) + PAD;
    let buffer = gpu.device().create_buffer(&wgpu::BufferDescriptor {
        label: Some(label),
        size,
        usage: wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_DST | wgpu::BufferUsages::COPY_SRC,
        mapped_at_creation: false,
    });
    let whole = bytes.len() / 4 * 4;
    if whole > 0 {
        gpu.queue().write_buffer(&buffer, 0, &bytes[..whole]);
    }
    if whole < bytes.len() {
        let mut tail = [0u8; 4];
        tail[..bytes.len() - whole].copy_from_slice(&bytes[whole..]);
        gpu.queue().write_buffer(&buffer, whole as u64, &tail);
    }
    buffer
}

/// A storage buffer holding `values`.
pub(crate) fn upload_f32(gpu: &Gpu, values: &[f32], label: &str) -> wgpu::Buffer {
    let bytes: Vec<u8> = values.iter().flat_map(|v| v.to_le_bytes()).collect();
    upload_bytes(gpu, &bytes, label)
}

/// A storage buffer holding `values`.
pub(crate) fn upload_u32(gpu: &Gpu, values: &[u32], label: &str) -> wgpu::Buffer {
    let bytes: Vec<u8> = values.iter().flat_map(|v| v.to_le_bytes()).collect();
    upload_bytes(gpu, &bytes, label)
}

/// An uninitialized storage buffer of `floats` f32 values, refused when over the binding limit.
pub(crate) fn scratch(gpu: &Gpu, floats: usize, label: &str) -> Result<wgpu::Buffer> {
    let size = (floats.max(1) as u64) * 4;
    let (limit, which) = gpu.limits().largest_binding();
    if size > limit {
        return Err(Error::Gpu(format!(
            "the {label} buffer needs {size} bytes, over the device's {which} ({limit} bytes)"
        )));
    }
    Ok(gpu.device().create_buffer(&wgpu::BufferDescriptor {
        label: Some(label),
        size,
        usage: wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_DST | wgpu::BufferUsages::COPY_SRC,
        mapped_at_creation: false,
    }))
}

/// A host-readable buffer of `bytes` for results.
pub(crate) fn staging(gpu: &Gpu, bytes: u64) -> wgpu::Buffer {
    gpu.device().create_buffer(&wgpu::BufferDescriptor {
        label: Some("results"),
        size: bytes.max(4).next_multiple_of(4),
        usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
        mapped_at_creation: false,
    })
}

/// A GGUF vector (a norm weight) as f32 values, checked to have `width` entries.
pub(crate) fn vector_f32(g: &Gguf, name: &str, width: usize) -> Result<Vec<f32>> {
    Ok(crate::model::llama::norm_weight(g, name, width)?.to_vec1()?)
}
