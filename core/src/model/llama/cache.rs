//! The KV cache: keys and values of the positions seen so far, per layer.
//!
//! Outside autograd the cache is a flat, position-major f32 buffer per layer
//! (`(positions, n_kv_heads·head_dim)`) that grows in place — no concatenation per token — and
//! is shared copy-on-write: cloning a [`Cache`] after a prompt costs a reference count per
//! layer, and a clone copies the prefix once, on its first append, only if the original is
//! still alive. Inside an autograd graph (training through cached keys and values) a layer
//! keeps tensors instead, so gradients flow through the cache.
use super::decode::Scratch;
use crate::error::Result;
use alloc::{sync::Arc, vec::Vec};
use candle_core::{Device, Tensor};

/// Keys and values of the positions seen so far, one entry per layer.
#[derive(Default)]
pub struct Cache {
    pub(super) kv: Vec<LayerKv>,
    /// Number of positions already in the cache.
    pub pos: usize,
    /// Where the prompt ended: the length of the first call on the empty cache (for
    /// [`crate::model::sites::Positions`]).
    pub prompt_end: Option<usize>,
    /// Positions to make room for when a layer's buffer is first allocated.
    pub(super) reserve: usize,
    /// The decode step's working buffers (never cloned: a clone makes its own).
    pub(super) scratch: Scratch,
}

impl Clone for Cache {
    fn clone(&self) -> Self {
        Cache {
            kv: self.kv.clone(),
            pos: self.pos,
            prompt_end: self.prompt_end,
            reserve: self.reserve,
            scratch: Scratch::default(),
        }
    }
}

impl Cache {
    pub fn new() -> Self {
        Self::default()
    }

    /// An empty cache that allocates room for `positions` at once (a prompt plus the tokens
    /// to generate), so decoding never reallocates.
    pub fn with_capacity(positions: usize) -> Self {
        Cache { reserve: positions, ..Self::default() }
    }
}

/// One layer's keys and values.
#[derive(Clone, Default)]
pub(super) enum LayerKv {
    #[default]
    Empty,
    /// `(positions, width)` f32, position-major, shared until written.
    Flat { keys: Arc<Vec<f32>>, values: Arc<Vec<f32>> },
    /// `(1, n_kv_heads, positions, head_dim)` tensors, part of an autograd graph.
    Graph(Tensor, Tensor),
}

impl LayerKv {
    /// Whether the decode step can read and extend this layer in place.
    pub(super) fn is_flat(&self) -> bool {
        !matches!(self, LayerKv::Graph(..))
    }

    /// Appends one or more positions given flat (`(n, width)` position-major).
    pub(super) fn append_flat(&mut self, k: &[f32], v: &[f32], width: usize, reserve: usize) {
        if !matches!(self, LayerKv::Flat { .. }) {
            *self = LayerKv::Flat { keys: Arc::default(), values: Arc::default() };
        }
        if let LayerKv::Flat { keys, values, .. } = self {
            extend(keys, k, reserve * width);
            extend(values, v, reserve * width);
        }
    }

    /// The flat buffers (for the decode step); `None` if the layer is a graph.
    pub(super) fn flat(&self) -> Option<(&[f32], &[f32])> {
        match self {
            LayerKv::Flat { keys, values, .. } => Some((keys, values)),
            LayerKv::Empty => Some((&[], &[])),
            LayerKv::Graph(..) => None,
        }
    }

    /// Appends `k`, `v` (`(1, n_kv_heads, seq, head_dim)`) and returns the whole cache as such
    /// tensors, contiguous: the batched (prefill) attention's operands. Tracked inputs turn
    /// the layer into a graph; untracked ones go to the flat buffers.
    pub(super) fn append_tensors(&mut self, k: Tensor, v: Tensor, reserve: usize) -> Result<(Tensor, Tensor)> {
        let (b, n_kv, _, d) = k.dims4()?;
        let width = n_kv * d;
        if k.track_op() || v.track_op() || matches!(self, LayerKv::Graph(..)) {
            let (k, v) = match core::mem::take(self) {
                LayerKv::Empty => (k, v),
                LayerKv::Graph(k0, v0) => (Tensor::cat(&[&k0, &k], 2)?, Tensor::cat(&[&v0, &v], 2)?),
                LayerKv::Flat { keys, values, .. } => {
                    let n = keys.len() / width;
                    let head_major = |x: &[f32]| -> Result<Tensor> {
                        Ok(Tensor::from_slice(x, (b, n, n_kv, d), &Device::Cpu)?.transpose(1, 2)?.contiguous()?)
                    };
                    (Tensor::cat(&[&head_major(&keys)?, &k], 2)?, Tensor::cat(&[&head_major(&values)?, &v], 2)?)
                }
            };
            *self = LayerKv::Graph(k.clone(), v.clone());
            return Ok((k, v));
        }
        let flat = |x: &Tensor| -> Result<Vec<f32>> { Ok(x.transpose(1, 2)?.flatten_all()?.to_vec1::<f32>()?) };
        self.append_flat(&flat(&k)?, &flat(&v)?, width, reserve);
        let (keys, values) = self.flat().expect("flat after append");
        let n = keys.len() / width;
        let head_major = |x: &[f32]| -> Result<Tensor> {
            Ok(Tensor::from_slice(x, (b, n, n_kv, d), &Device::Cpu)?.transpose(1, 2)?.contiguous()?)
        };
        Ok((head_major(keys)?, head_major(values)?))
    }
}

/// Appends `new` to a shared buffer: in place when this is its only owner (amortized growth),
/// otherwise into a fresh copy of the prefix (copy-on-write), with room for `reserve` floats.
fn extend(buf: &mut Arc<Vec<f32>>, new: &[f32], reserve: usize) {
    let need = buf.len() + new.len();
    match Arc::get_mut(buf) {
        Some(v) => {
            if v.capacity() < need {
                v.reserve(need.max(reserve).max(2 * v.len()) - v.len());
            }
            v.extend_from_slice(new);
        }
        None => {
            let mut v = Vec::with_capacity(need.max(reserve));
            v.extend_from_slice(buf);
            v.extend_from_slice(new);
            *buf = Arc::new(v);
        }
    }
}
