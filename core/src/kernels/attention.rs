//! The decode step's attention: one new query per head against every cached position, with
//! grouped-query heads (query head `h` reads key/value head `h / (n_heads / n_kv_heads)`, as
//! llama's `repeat_kv` lays them out).
//!
//! Exactness: this is *not* bit-identical to the batched attention (candle's matmuls and
//! softmax), which sums in a different order; it is tested against a straightforward f64
//! reference with a stated bound. It is the same bits on every instruction set: the dot
//! products run in 8 fixed lanes with separate multiplies and adds (never fused), which the
//! compiler maps onto AVX2, SSE2 or wasm SIMD128 registers without changing a single rounding,
//! and `exp` is `libm`'s on every target.
use alloc::vec::Vec;

/// Head geometry of one attention layer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Heads {
    pub n_heads: usize,
    pub n_kv_heads: usize,
    pub head_dim: usize,
}

impl Heads {
    /// Floats per cached position: every key/value head side by side.
    pub fn kv_width(&self) -> usize {
        self.n_kv_heads * self.head_dim
    }
}

/// `out = softmax(q·kᵀ / √d) · v` for one query position: `q` and `out` are `(n_heads, d)`,
/// `keys` and `values` `(positions, n_kv_heads·d)` position-major (a KV cache), and `scores` a
/// scratch buffer reused across calls.
pub fn decode(h: Heads, q: &[f32], keys: &[f32], values: &[f32], scores: &mut Vec<f32>, out: &mut [f32]) {
    let positions = keys.len() / h.kv_width().max(1);
    scores.resize(positions, 0.0);
    for head in 0..h.n_heads {
        let d = h.head_dim;
        decode_head(h, head, &q[head * d..][..d], keys, values, scores, &mut out[head * d..][..d]);
    }
}

/// One query head of [`decode`]: `q` and `out` are that head's `d` floats, `scores` holds at
/// least one float per cached position. Heads are independent, so threads may split them.
pub fn decode_head(h: Heads, head: usize, q: &[f32], keys: &[f32], values: &[f32], scores: &mut [f32], out: &mut [f32]) {
    assert!(h.n_kv_heads > 0 && h.n_heads % h.n_kv_heads == 0, "query heads must be a multiple of kv heads");
    assert!(head < h.n_heads && q.len() == h.head_dim && out.len() == q.len() && keys.len() == values.len());
    assert_eq!(keys.len() % h.kv_width(), 0, "cache rows");
    let positions = keys.len() / h.kv_width();
    assert!(scores.len() >= positions, "scores scratch");
    let scores = &mut scores[..positions];
    #[cfg(all(target_arch = "x86_64", feature = "std"))]
    if super::active() != super::Isa::Scalar && super::Isa::Avx2.available() {
        // SAFETY: AVX2 and FMA are present (checked above).
        return unsafe { head_avx2(h, head, q, keys, values, scores, out) };
    }
    head_body(h, head, q, keys, values, scores, out)
}

/// [`head_body`] compiled for AVX2: wider registers, the same operations in the same order.
#[cfg(all(target_arch = "x86_64", feature = "std"))]
#[target_feature(enable = "avx2,fma")]
unsafe fn head_avx2(h: Heads, head: usize, q: &[f32], keys: &[f32], values: &[f32], scores: &mut [f32], out: &mut [f32]) {
    head_body(h, head, q, keys, values, scores, out)
}

#[inline(always)]
fn head_body(h: Heads, head: usize, q: &[f32], keys: &[f32], values: &[f32], scores: &mut [f32], out: &mut [f32]) {
    let (d, width) = (h.head_dim, h.kv_width());
    // Query head `head` reads kv head `head / rep` (llama's `repeat_kv` layout).
    let at = (head / (h.n_heads / h.n_kv_heads)) * d;
    let sqrt_d = libm::sqrtf(d as f32);
    for (s, key) in scores.iter_mut().zip(keys.chunks_exact(width)) {
        *s = dot(q, &key[at..][..d]) / sqrt_d;
    }
    softmax_in_place(scores);
    out.fill(0.0);
    for (&p, value) in scores.iter().zip(values.chunks_exact(width)) {
        axpy(p, &value[at..][..d], out);
    }
}

/// Dot product in 8 fixed lanes, then a fixed pairwise tree; the `len % 8` tail last.
#[inline(always)]
pub fn dot(a: &[f32], b: &[f32]) -> f32 {
    let mut acc = [0f32; 8];
    let (ca, cb) = (a.chunks_exact(8), b.chunks_exact(8));
    let (ta, tb) = (ca.remainder(), cb.remainder());
    for (x, y) in ca.zip(cb) {
        for l in 0..8 {
            acc[l] += x[l] * y[l];
        }
    }
    let tail = ta.iter().zip(tb).fold(0f32, |s, (x, y)| s + x * y);
    (((acc[0] + acc[4]) + (acc[2] + acc[6])) + ((acc[1] + acc[5]) + (acc[3] + acc[7]))) + tail
}

/// `o += p · v`, element by element.
#[inline(always)]
fn axpy(p: f32, v: &[f32], o: &mut [f32]) {
    for (o, v) in o.iter_mut().zip(v) {
        *o += p * v;
    }
}

/// `x ← exp(x − max) / Σ exp(x − max)`, the sum taken in order.
#[inline(always)]
fn softmax_in_place(x: &mut [f32]) {
    let max = x.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let mut sum = 0f32;
    for v in x.iter_mut() {
        *v = libm::expf(*v - max);
        sum += *v;
    }
    for v in x.iter_mut() {
        *v /= sum;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lcg(seed: &mut u64) -> f32 {
        *seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        ((*seed >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
    }

    /// The attention in f64, straight from its definition.
    fn reference(h: Heads, q: &[f32], keys: &[f32], values: &[f32]) -> Vec<f64> {
        let (d, w) = (h.head_dim, h.kv_width());
        let n = keys.len() / w;
        let rep = h.n_heads / h.n_kv_heads;
        let mut out = alloc::vec![0f64; h.n_heads * d];
        for head in 0..h.n_heads {
            let g = head / rep;
            let s: Vec<f64> = (0..n)
                .map(|t| {
                    (0..d).map(|i| q[head * d + i] as f64 * keys[t * w + g * d + i] as f64).sum::<f64>()
                        / (d as f64).sqrt()
                })
                .collect();
            let max = s.iter().copied().fold(f64::NEG_INFINITY, f64::max);
            let e: Vec<f64> = s.iter().map(|v| libm::exp(v - max)).collect();
            let z: f64 = e.iter().sum();
            for t in 0..n {
                for i in 0..d {
                    out[head * d + i] += e[t] / z * values[t * w + g * d + i] as f64;
                }
            }
        }
        out
    }

    /// Against the f64 reference: every output within 1e-5 of the values' scale. Why that
    /// bound: each output is a convex combination of values of magnitude ≤ 2, computed with
    /// ~70 f32 roundings in sequence (score dot, exp, the sum over ≤ 300 positions, the
    /// weighted sum); 300 · 2⁻²⁴ · 2 ≈ 4e-5 is the worst case, and errors of random sign stay
    /// an order of magnitude below it.
    #[test]
    fn matches_f64_reference() {
        let mut seed = 1;
        for (h, n) in [
            (Heads { n_heads: 9, n_kv_heads: 3, head_dim: 64 }, 1),
            (Heads { n_heads: 9, n_kv_heads: 3, head_dim: 64 }, 300),
            (Heads { n_heads: 4, n_kv_heads: 4, head_dim: 12 }, 17),
        ] {
            let q: Vec<f32> = (0..h.n_heads * h.head_dim).map(|_| lcg(&mut seed) * 3.0).collect();
            let k: Vec<f32> = (0..n * h.kv_width()).map(|_| lcg(&mut seed) * 3.0).collect();
            let v: Vec<f32> = (0..n * h.kv_width()).map(|_| lcg(&mut seed) * 2.0).collect();
            let mut out = alloc::vec![0f32; q.len()];
            decode(h, &q, &k, &v, &mut Vec::new(), &mut out);
            let want = reference(h, &q, &k, &v);
            let worst = out.iter().zip(&want).map(|(a, b)| (*a as f64 - b).abs()).fold(0.0, f64::max);
            assert!(worst <= 1e-5, "{h:?} × {n}: {worst:e}");
        }
    }

    /// The AVX2 build of the body and the portable one give the same bits.
    #[test]
    fn same_bits_on_every_instruction_set() {
        let mut seed = 2;
        let h = Heads { n_heads: 6, n_kv_heads: 2, head_dim: 20 };
        let n = 33;
        let q: Vec<f32> = (0..h.n_heads * h.head_dim).map(|_| lcg(&mut seed)).collect();
        let k: Vec<f32> = (0..n * h.kv_width()).map(|_| lcg(&mut seed)).collect();
        let v: Vec<f32> = (0..n * h.kv_width()).map(|_| lcg(&mut seed)).collect();
        let (mut a, mut b) = (alloc::vec![0f32; q.len()], alloc::vec![0f32; q.len()]);
        decode(h, &q, &k, &v, &mut Vec::new(), &mut a);
        let mut scores = alloc::vec![0f32; n];
        for head in 0..h.n_heads {
            let d = h.head_dim;
            head_body(h, head, &q[head * d..][..d], &k, &v, &mut scores, &mut b[head * d..][..d]);
        }
        assert_eq!(a.iter().map(|x| x.to_bits()).collect::<Vec<_>>(), b.iter().map(|x| x.to_bits()).collect::<Vec<_>>());
    }
}
