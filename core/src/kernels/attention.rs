//! The decode step's attention: one new query per head against every cached position, with
//! grouped-query heads (query head `h` reads key/value head `h / (n_heads / n_kv_heads)`, as
//! llama's `repeat_kv` lays them out).
//!
//! The query heads that share a key/value head run together, so each cached key and value is
//! read once per group rather than once per head, from a cache laid out head-major (each
//! head's positions contiguous: one sequential stream per group).
//!
//! Exactness: this is *not* bit-identical to the batched attention (candle's matmuls and
//! softmax), which sums in a different order; it is tested against a straightforward f64
//! reference with a stated bound. It is the same bits on every instruction set: dot products
//! run in 8 fixed lanes with separate multiplies and adds (never fused) and a fixed reduction
//! tree — as 8 scalars, one AVX register or two SIMD128 registers — and `exp` is `libm`'s on
//! every target.
use alloc::vec::Vec;

/// Head geometry of one attention layer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Heads {
    /// Query heads.
    pub n_heads: usize,
    /// Key/value heads (each shared by `n_heads / n_kv_heads` query heads).
    pub n_kv_heads: usize,
    /// Width of one head.
    pub head_dim: usize,
}

impl Heads {
    /// Query heads per key/value head.
    pub fn group(&self) -> usize {
        self.n_heads / self.n_kv_heads
    }
}

/// `out = softmax(q·kᵀ / √d) · v` for one query position: `q` and `out` are `(n_heads, d)`,
/// `keys` and `values` `(n_kv_heads, positions, d)` (a head-major KV cache), and `scores` a
/// scratch buffer reused across calls.
pub fn decode(h: Heads, q: &[f32], keys: &[f32], values: &[f32], scores: &mut Vec<f32>, out: &mut [f32]) {
    let per_head = keys.len() / h.n_kv_heads.max(1);
    scores.resize(h.group() * (per_head / h.head_dim.max(1)), 0.0);
    let n = h.group() * h.head_dim;
    for g in 0..h.n_kv_heads {
        let (k, v) = (&keys[g * per_head..][..per_head], &values[g * per_head..][..per_head]);
        decode_group(h, &q[g * n..][..n], k, v, scores, &mut out[g * n..][..n]);
    }
}

/// The query heads of one key/value head ([`Heads::group`] of them): `q` and `out` are their
/// `group·d` floats, `keys` and `values` that head's `(positions, d)`, and `scores` holds at
/// least `group` floats per position. Groups are independent, so threads may split them.
pub fn decode_group(h: Heads, q: &[f32], keys: &[f32], values: &[f32], scores: &mut [f32], out: &mut [f32]) {
    assert!(h.n_kv_heads > 0 && h.n_heads.is_multiple_of(h.n_kv_heads), "query heads must be a multiple of kv heads");
    assert!(q.len() == h.group() * h.head_dim && out.len() == q.len());
    assert!(keys.len() == values.len() && keys.len().is_multiple_of(h.head_dim), "cache rows");
    assert!(scores.len() >= h.group() * (keys.len() / h.head_dim), "scores scratch");
    #[cfg(all(target_arch = "x86_64", feature = "std"))]
    if super::active() != super::Isa::Scalar && super::Isa::Avx2.available() {
        // SAFETY: AVX2 is present (checked above).
        return unsafe { group_avx2(h, q, keys, values, scores, out) };
    }
    #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
    if super::active() != super::Isa::Scalar {
        return group_body::<wasm::Lanes>(h, q, keys, values, scores, out);
    }
    group_body::<[f32; 8]>(h, q, keys, values, scores, out)
}

#[cfg(all(target_arch = "x86_64", feature = "std"))]
#[target_feature(enable = "avx2")]
unsafe fn group_avx2(h: Heads, q: &[f32], keys: &[f32], values: &[f32], scores: &mut [f32], out: &mut [f32]) {
    group_body::<x86::Lanes>(h, q, keys, values, scores, out)
}

/// Eight f32 lanes: the one shape every path computes in.
trait Lanes: Copy {
    fn zero() -> Self;
    /// `x[..8]`
    fn load(x: &[f32]) -> Self;
    fn store(self, x: &mut [f32]);
    fn splat(v: f32) -> Self;
    fn add(self, o: Self) -> Self;
    fn mul(self, o: Self) -> Self;
    /// `((l0+l4)+(l2+l6)) + ((l1+l5)+(l3+l7))`
    fn sum(self) -> f32;
}

impl Lanes for [f32; 8] {
    #[inline(always)]
    fn zero() -> Self {
        [0.0; 8]
    }
    #[inline(always)]
    fn load(x: &[f32]) -> Self {
        x[..8].try_into().expect("8 floats")
    }
    #[inline(always)]
    fn store(self, x: &mut [f32]) {
        x[..8].copy_from_slice(&self)
    }
    #[inline(always)]
    fn splat(v: f32) -> Self {
        [v; 8]
    }
    #[inline(always)]
    fn add(self, o: Self) -> Self {
        core::array::from_fn(|l| self[l] + o[l])
    }
    #[inline(always)]
    fn mul(self, o: Self) -> Self {
        core::array::from_fn(|l| self[l] * o[l])
    }
    #[inline(always)]
    fn sum(self) -> f32 {
        let a = self;
        ((a[0] + a[4]) + (a[2] + a[6])) + ((a[1] + a[5]) + (a[3] + a[7]))
    }
}

#[cfg(all(target_arch = "x86_64", feature = "std"))]
mod x86 {
    use core::arch::x86_64::*;

    /// One AVX register. (Inlined only into `group_avx2`, which enables AVX2.)
    #[derive(Clone, Copy)]
    pub(super) struct Lanes(__m256);

    impl super::Lanes for Lanes {
        #[inline(always)]
        fn zero() -> Self {
            // SAFETY (every method): AVX is enabled in the only caller, `group_avx2`; loads and
            // stores touch `x[..8]`, bounds-checked first.
            Lanes(unsafe { _mm256_setzero_ps() })
        }
        #[inline(always)]
        fn load(x: &[f32]) -> Self {
            Lanes(unsafe { _mm256_loadu_ps(x[..8].as_ptr()) })
        }
        #[inline(always)]
        fn store(self, x: &mut [f32]) {
            unsafe { _mm256_storeu_ps(x[..8].as_mut_ptr(), self.0) }
        }
        #[inline(always)]
        fn splat(v: f32) -> Self {
            Lanes(unsafe { _mm256_set1_ps(v) })
        }
        #[inline(always)]
        fn add(self, o: Self) -> Self {
            Lanes(unsafe { _mm256_add_ps(self.0, o.0) })
        }
        #[inline(always)]
        fn mul(self, o: Self) -> Self {
            Lanes(unsafe { _mm256_mul_ps(self.0, o.0) })
        }
        #[inline(always)]
        fn sum(self) -> f32 {
            unsafe {
                // [l0+l4, l1+l5, l2+l6, l3+l7] → [(l0+l4)+(l2+l6), (l1+l5)+(l3+l7)] → their sum.
                let h = _mm_add_ps(_mm256_castps256_ps128(self.0), _mm256_extractf128_ps(self.0, 1));
                let p = _mm_add_ps(h, _mm_movehl_ps(h, h));
                _mm_cvtss_f32(_mm_add_ss(p, _mm_movehdup_ps(p)))
            }
        }
    }
}

#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
mod wasm {
    use core::arch::wasm32::*;

    /// Two SIMD128 registers: lanes 0–3 and 4–7.
    #[derive(Clone, Copy)]
    pub(super) struct Lanes(v128, v128);

    impl super::Lanes for Lanes {
        #[inline(always)]
        fn zero() -> Self {
            Lanes(f32x4_splat(0.0), f32x4_splat(0.0))
        }
        #[inline(always)]
        fn load(x: &[f32]) -> Self {
            let x = &x[..8];
            // SAFETY: two 16-byte loads inside `x[..8]`.
            unsafe { Lanes(v128_load(x.as_ptr() as *const v128), v128_load(x.as_ptr().add(4) as *const v128)) }
        }
        #[inline(always)]
        fn store(self, x: &mut [f32]) {
            let x = &mut x[..8];
            // SAFETY: two 16-byte stores inside `x[..8]`.
            unsafe {
                v128_store(x.as_mut_ptr() as *mut v128, self.0);
                v128_store(x.as_mut_ptr().add(4) as *mut v128, self.1);
            }
        }
        #[inline(always)]
        fn splat(v: f32) -> Self {
            Lanes(f32x4_splat(v), f32x4_splat(v))
        }
        #[inline(always)]
        fn add(self, o: Self) -> Self {
            Lanes(f32x4_add(self.0, o.0), f32x4_add(self.1, o.1))
        }
        #[inline(always)]
        fn mul(self, o: Self) -> Self {
            Lanes(f32x4_mul(self.0, o.0), f32x4_mul(self.1, o.1))
        }
        #[inline(always)]
        fn sum(self) -> f32 {
            let h = f32x4_add(self.0, self.1); // [l0+l4, l1+l5, l2+l6, l3+l7]
            (f32x4_extract_lane::<0>(h) + f32x4_extract_lane::<2>(h))
                + (f32x4_extract_lane::<1>(h) + f32x4_extract_lane::<3>(h))
        }
    }
}

/// Query heads handled in one pass over the cache (their dot products share each key load).
const PASS: usize = 4;

#[inline(always)]
fn group_body<L: Lanes>(h: Heads, q: &[f32], keys: &[f32], values: &[f32], scores: &mut [f32], out: &mut [f32]) {
    let (d, rep) = (h.head_dim, h.group());
    let positions = keys.len() / d;
    let sqrt_d = libm::sqrtf(d as f32);
    let mut first = 0;
    while first < rep {
        let n = PASS.min(rep - first);
        let qs = &q[first * d..(first + n) * d];
        let sc = &mut scores[first * positions..(first + n) * positions];
        match n {
            4 => scores_pass::<L, 4>(qs, keys, d, sqrt_d, sc),
            3 => scores_pass::<L, 3>(qs, keys, d, sqrt_d, sc),
            2 => scores_pass::<L, 2>(qs, keys, d, sqrt_d, sc),
            _ => scores_pass::<L, 1>(qs, keys, d, sqrt_d, sc),
        }
        first += n;
    }
    for row in scores[..rep * positions].chunks_exact_mut(positions.max(1)) {
        softmax_in_place(row);
    }
    out.fill(0.0);
    let chunks = d / 8;
    for (r, o) in out.chunks_exact_mut(d).enumerate() {
        let p = &scores[r * positions..][..positions];
        let mut c = 0;
        while c + 8 <= chunks {
            weighted_sum::<L, 8>(p, values, d, 8 * c, &mut o[8 * c..]);
            c += 8;
        }
        while c < chunks {
            weighted_sum::<L, 1>(p, values, d, 8 * c, &mut o[8 * c..]);
            c += 1;
        }
        for i in chunks * 8..d {
            for (t, value) in values.chunks_exact(d).enumerate() {
                o[i] += p[t] * value[i];
            }
        }
    }
}

/// `o[..8C] += Σ_t p_t · v_t[off..off + 8C]` (`v_t` the `d` floats of position `t`), in
/// position order, the `C` chunks of 8 lanes held in registers over one pass through the values.
#[inline(always)]
fn weighted_sum<L: Lanes, const C: usize>(p: &[f32], values: &[f32], d: usize, off: usize, o: &mut [f32]) {
    let mut acc: [L; C] = core::array::from_fn(|c| L::load(&o[8 * c..]));
    for (&pt, value) in p.iter().zip(values.chunks_exact(d)) {
        let (s, v) = (L::splat(pt), &value[off..off + 8 * C]);
        for (c, acc) in acc.iter_mut().enumerate() {
            *acc = acc.add(s.mul(L::load(&v[8 * c..])));
        }
    }
    for (c, acc) in acc.iter().enumerate() {
        acc.store(&mut o[8 * c..]);
    }
}

/// Scores of `R` query heads (`qs`, `R·d` floats) against every key (`(positions, d)`):
/// `sc[r·positions + t] = (q_r · k_t) / √d`.
#[inline(always)]
fn scores_pass<L: Lanes, const R: usize>(qs: &[f32], keys: &[f32], d: usize, sqrt_d: f32, sc: &mut [f32]) {
    let positions = keys.len() / d;
    let chunks = d / 8;
    for (t, k) in keys.chunks_exact(d).enumerate() {
        let mut acc = [L::zero(); R];
        for c in 0..chunks {
            let kv = L::load(&k[8 * c..]);
            for (r, acc) in acc.iter_mut().enumerate() {
                *acc = acc.add(L::load(&qs[r * d + 8 * c..]).mul(kv));
            }
        }
        for (r, acc) in acc.iter().enumerate() {
            let q = &qs[r * d..(r + 1) * d];
            let tail = (chunks * 8..d).fold(0f32, |s, i| s + q[i] * k[i]);
            sc[r * positions + t] = (acc.sum() + tail) / sqrt_d;
        }
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
    use crate::kernels::testing::symmetric;
    use crate::rng::Rng;

    /// The attention in f64, straight from its definition.
    /// `keys`, `values`: `(n_kv_heads, positions, d)`.
    fn reference(h: Heads, q: &[f32], keys: &[f32], values: &[f32]) -> Vec<f64> {
        let d = h.head_dim;
        let n = keys.len() / (h.n_kv_heads * d);
        let at = |g: usize, t: usize, i: usize| (g * n + t) * d + i;
        let mut out = alloc::vec![0f64; h.n_heads * d];
        for head in 0..h.n_heads {
            let g = head / h.group();
            let s: Vec<f64> = (0..n)
                .map(|t| {
                    (0..d).map(|i| q[head * d + i] as f64 * keys[at(g, t, i)] as f64).sum::<f64>() / (d as f64).sqrt()
                })
                .collect();
            let max = s.iter().copied().fold(f64::NEG_INFINITY, f64::max);
            let e: Vec<f64> = s.iter().map(|v| libm::exp(v - max)).collect();
            let z: f64 = e.iter().sum();
            for t in 0..n {
                for i in 0..d {
                    out[head * d + i] += e[t] / z * values[at(g, t, i)] as f64;
                }
            }
        }
        out
    }

    fn case(rng: &mut Rng, h: Heads, n: usize) -> (Vec<f32>, Vec<f32>, Vec<f32>) {
        let q: Vec<f32> = (0..h.n_heads * h.head_dim).map(|_| symmetric(rng) * 3.0).collect();
        let k: Vec<f32> = (0..n * h.n_kv_heads * h.head_dim).map(|_| symmetric(rng) * 3.0).collect();
        let v: Vec<f32> = (0..n * h.n_kv_heads * h.head_dim).map(|_| symmetric(rng) * 2.0).collect();
        (q, k, v)
    }

    /// Against the f64 reference: every output within 1e-5 (absolute; the values are ≤ 2).
    /// Why that bound: each output is a convex combination of values computed with f32
    /// roundings in sequence (a 64-term score, its exp, a sum over ≤ 300 positions, the
    /// weighted sum); 300 · 2⁻²⁴ · 2 ≈ 4e-5 is the worst case, and errors of random sign stay
    /// an order of magnitude below it.
    #[test]
    fn matches_f64_reference() {
        let mut rng = Rng::new(1);
        for (h, n) in [
            (Heads { n_heads: 9, n_kv_heads: 3, head_dim: 64 }, 1),
            (Heads { n_heads: 9, n_kv_heads: 3, head_dim: 64 }, 300),
            (Heads { n_heads: 4, n_kv_heads: 4, head_dim: 12 }, 17),
            (Heads { n_heads: 10, n_kv_heads: 2, head_dim: 16 }, 40),
        ] {
            let (q, k, v) = case(&mut rng, h, n);
            let mut out = alloc::vec![0f32; q.len()];
            decode(h, &q, &k, &v, &mut Vec::new(), &mut out);
            let want = reference(h, &q, &k, &v);
            let worst = out.iter().zip(&want).map(|(a, b)| (*a as f64 - b).abs()).fold(0.0, f64::max);
            assert!(worst <= 1e-5, "{h:?} × {n}: {worst:e}");
        }
    }

    /// Every path (AVX2 or SIMD128 where present, and the plain 8-lane one) gives the same bits.
    #[test]
    fn same_bits_on_every_instruction_set() {
        let mut rng = Rng::new(2);
        for (h, n) in [
            (Heads { n_heads: 6, n_kv_heads: 2, head_dim: 20 }, 33),
            (Heads { n_heads: 9, n_kv_heads: 3, head_dim: 64 }, 70),
        ] {
            let (q, k, v) = case(&mut rng, h, n);
            let (mut a, mut b) = (alloc::vec![0f32; q.len()], alloc::vec![0f32; q.len()]);
            decode(h, &q, &k, &v, &mut Vec::new(), &mut a);
            let mut scores = alloc::vec![0f32; h.group() * n];
            let (m, per) = (h.group() * h.head_dim, n * h.head_dim);
            for g in 0..h.n_kv_heads {
                let (kg, vg) = (&k[g * per..][..per], &v[g * per..][..per]);
                group_body::<[f32; 8]>(h, &q[g * m..][..m], kg, vg, &mut scores, &mut b[g * m..][..m]);
            }
            assert_eq!(
                a.iter().map(|x| x.to_bits()).collect::<Vec<_>>(),
                b.iter().map(|x| x.to_bits()).collect::<Vec<_>>()
            );
        }
    }
}
