//! The KV cache: keys and values of the positions seen so far, per layer.
//!
//! Outside autograd the cache is a flat f32 buffer per layer, head-major with room to grow
//! (`(n_kv_heads, capacity, head_dim)`): a decode step writes its position in place — no
//! concatenation per token — and each key/value head's positions lie contiguous, so the decode
//! attention streams them. Buffers are shared copy-on-write: cloning a [`Cache`] after a prompt
//! costs a reference count per layer, and a clone copies the prefix once, on its first append,
//! only if the original is still alive. Inside an autograd graph (training through cached keys
//! and values) a layer keeps tensors instead, so gradients flow through the cache.
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
    /// An empty cache for a new sequence.
    pub fn new() -> Self {
        Self::default()
    }

    /// An empty cache that allocates room for `positions` at once (a prompt plus the tokens
    /// to generate), so decoding never reallocates.
    pub fn with_capacity(positions: usize) -> Self {
        Cache { reserve: positions, ..Self::default() }
    }

    /// How many times a layer's key and value buffers were allocated, summed over the layers:
    /// one per layer when the cache had room for the whole sequence, more when it grew (each
    /// growth copies the layer's keys and values). A clone counts the original's too.
    pub fn allocations(&self) -> usize {
        self.kv.iter().map(|l| if let LayerKv::Flat(f) = l { f.allocations } else { 0 }).sum()
    }
}

/// One layer's keys and values.
#[derive(Clone, Default)]
pub(super) enum LayerKv {
    #[default]
    Empty,
    /// Head-major buffers, shared until written (see the module doc).
    Flat(Flat),
    /// `(1, n_kv_heads, positions, head_dim)` tensors, part of an autograd graph.
    Graph(Tensor, Tensor),
}

/// `(heads, capacity, dim)` keys and values, the first `len` positions of each head in use.
#[derive(Clone)]
pub(super) struct Flat {
    keys: Arc<Vec<f32>>,
    values: Arc<Vec<f32>>,
    heads: usize,
    dim: usize,
    capacity: usize,
    len: usize,
    /// Times `keys` and `values` were (re)allocated ([`Cache::allocations`]).
    allocations: usize,
}

impl Flat {
    /// Number of cached positions.
    pub(super) fn len(&self) -> usize {
        self.len
    }

    /// Keys and values of head `h`, `(len, dim)` each.
    pub(super) fn head(&self, h: usize) -> (&[f32], &[f32]) {
        let at = h * self.capacity * self.dim;
        let n = self.len * self.dim;
        (&self.keys[at..at + n], &self.values[at..at + n])
    }

    /// One buffer as a `(1, heads, len, dim)` tensor (a copy).
    fn tensor(&self, buf: &[f32]) -> Result<Tensor> {
        let t = Tensor::from_slice(buf, (1, self.heads, self.capacity, self.dim), &Device::Cpu)?;
        Ok(if self.len == self.capacity { t } else { t.narrow(2, 0, self.len)?.contiguous()? })
    }

    /// Appends `n` positions: `k[at(h, i)..][..dim]` is the key of head `h`, new position `i`
    /// (and the same offset in `v` its value).
    fn append(&mut self, n: usize, reserve: usize, at: impl Fn(usize, usize) -> usize, k: &[f32], v: &[f32]) {
        let need = self.len + n;
        let unique = Arc::get_mut(&mut self.keys).is_some() && Arc::get_mut(&mut self.values).is_some();
        if need > self.capacity || !unique {
            // Grow (or leave a shared prefix): one copy, with room for what comes next.
            let capacity =
                if need > self.capacity { need.max(reserve).max(2 * self.capacity).max(16) } else { self.capacity };
            let relayout = |old: &[f32]| {
                let mut buf = alloc::vec![0f32; self.heads * capacity * self.dim];
                for h in 0..self.heads {
                    let n = self.len * self.dim;
                    let (from, to) = (h * self.capacity * self.dim, h * capacity * self.dim);
                    buf[to..to + n].copy_from_slice(&old[from..from + n]);
                }
                buf
            };
            self.keys = Arc::new(relayout(&self.keys));
            self.values = Arc::new(relayout(&self.values));
            self.capacity = capacity;
            self.allocations += 1;
        }
        let (d, capacity, len) = (self.dim, self.capacity, self.len);
        for (buf, src) in [(&mut self.keys, k), (&mut self.values, v)] {
            let buf = Arc::get_mut(buf).expect("unique after the copy above");
            for h in 0..self.heads {
                for i in 0..n {
                    let from = at(h, i);
                    let to = (h * capacity + len + i) * d;
                    buf[to..to + d].copy_from_slice(&src[from..from + d]);
                }
            }
        }
        self.len = need;
    }
}

impl LayerKv {
    /// Whether the decode step can read and extend this layer in place.
    pub(super) fn is_flat(&self) -> bool {
        !matches!(self, LayerKv::Graph(..))
    }

    fn flat_mut(&mut self, heads: usize, dim: usize) -> &mut Flat {
        if !matches!(self, LayerKv::Flat(_)) {
            *self = LayerKv::Flat(Flat {
                keys: Arc::default(),
                values: Arc::default(),
                heads,
                dim,
                capacity: 0,
                len: 0,
                allocations: 0,
            });
        }
        match self {
            LayerKv::Flat(f) => f,
            _ => unreachable!("made flat above"),
        }
    }

    /// Appends one position: `k`, `v` are `(heads, dim)` (every head side by side).
    pub(super) fn append_row(&mut self, k: &[f32], v: &[f32], heads: usize, dim: usize, reserve: usize) -> &Flat {
        let f = self.flat_mut(heads, dim);
        f.append(1, reserve, |h, _| h * dim, k, v);
        f
    }

    /// Appends `k`, `v` (`(1, n_kv_heads, seq, head_dim)`) and returns the whole cache as such
    /// tensors, contiguous: the batched attention's operands. Tracked inputs turn the layer
    /// into a graph; untracked ones go to the flat buffers.
    pub(super) fn append_tensors(&mut self, k: Tensor, v: Tensor, reserve: usize) -> Result<(Tensor, Tensor)> {
        let (_, heads, seq, dim) = k.dims4()?;
        if k.track_op() || v.track_op() || matches!(self, LayerKv::Graph(..)) {
            let (k, v) = match core::mem::take(self) {
                LayerKv::Empty => (k, v),
                LayerKv::Graph(k0, v0) => (Tensor::cat(&[&k0, &k], 2)?, Tensor::cat(&[&v0, &v], 2)?),
                LayerKv::Flat(f) => {
                    (Tensor::cat(&[&f.tensor(&f.keys)?, &k], 2)?, Tensor::cat(&[&f.tensor(&f.values)?, &v], 2)?)
                }
            };
            *self = LayerKv::Graph(k.clone(), v.clone());
            return Ok((k, v));
        }
        let flat = |x: &Tensor| -> Result<Vec<f32>> { Ok(x.flatten_all()?.to_vec1::<f32>()?) };
        let (k, v) = (flat(&k)?, flat(&v)?);
        let f = self.flat_mut(heads, dim);
        f.append(seq, reserve, |h, i| (h * seq + i) * dim, &k, &v);
        Ok((f.tensor(&f.keys)?, f.tensor(&f.values)?))
    }
}
