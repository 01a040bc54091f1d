//! Q4_1 × Q8_1 matrix multiplication, bit-identical to ggml's / candle's scalar `vec_dot_q4_1_q8_1`.
//!
//! Why our own kernel: candle 0.11 has no SIMD path for Q4_1 (it runs ~5× slower than llama.cpp
//! on SmolLM2's Q4_1 weights). Here the 32-element integer dot product of a block runs in SIMD
//! (AVX2 or wasm SIMD128), but the per-block float combination `sumi·dx·dy + mx·sy` and the sum
//! over blocks keep the reference's exact order and rounding, so the fast path returns *the
//! same bits* as the scalar reference — and as candle's own Q4_1 matmul. That makes "fast path ==
//! reference" a strict equality test rather than a tolerance.
//!
//! Weights are repacked once at load ("exact repacking"): the f16 scales and minimums are widened
//! to f32 (exact) in arrays beside the nibbles, so the inner loop never converts half floats.
use alloc::vec::Vec;
use half::f16;

/// Elements per quantization block (ggml's QK4_1 and QK8_1).
pub const QK: usize = 32;
/// Bytes of one Q4_1 block in a GGUF file: f16 d, f16 m, 16 bytes of nibbles.
pub const BLOCK_BYTES: usize = 20;

/// Q4_1 weights of an `(rows, cols)` matrix, one block row per output feature.
/// Element `j` of block `b` is `d[b]·q + m[b]`, `q` the low nibble of `qs[b][j]` for `j < 16`
/// and the high nibble of `qs[b][j-16]` otherwise.
#[derive(Clone, Debug)]
pub struct Q4_1Matrix {
    /// Output features.
    pub rows: usize,
    /// Input features (a multiple of [`QK`]).
    pub cols: usize,
    qs: Vec<[u8; 16]>,
    d: Vec<f32>,
    m: Vec<f32>,
}

/// Activations quantized to Q8_1, one block row per activation row.
#[derive(Clone, Debug, Default)]
pub struct Q8_1Rows {
    /// Activation rows.
    pub rows: usize,
    /// Blocks in each row (`cols / QK`).
    pub blocks_per_row: usize,
    qs: Vec<[i8; QK]>,
    /// The block scale, rounded to f16 as ggml stores it, then widened.
    d: Vec<f32>,
    /// `d · Σq` rounded through f16 exactly as ggml does.
    s: Vec<f32>,
}

impl Q4_1Matrix {
    /// From GGUF bytes of a `[cols, rows]` (ggml order) Q4_1 tensor.
    pub fn from_gguf_bytes(bytes: &[u8], rows: usize, cols: usize) -> Option<Self> {
        if !cols.is_multiple_of(QK) || bytes.len() != rows * cols / QK * BLOCK_BYTES {
            return None;
        }
        let n = bytes.len() / BLOCK_BYTES;
        let mut out =
            Q4_1Matrix { rows, cols, qs: Vec::with_capacity(n), d: Vec::with_capacity(n), m: Vec::with_capacity(n) };
        for b in bytes.chunks_exact(BLOCK_BYTES) {
            out.d.push(f16::from_le_bytes([b[0], b[1]]).to_f32());
            out.m.push(f16::from_le_bytes([b[2], b[3]]).to_f32());
            out.qs.push(b[4..20].try_into().expect("16 bytes"));
        }
        Some(out)
    }

    /// Quantizes f32 rows like ggml's `quantize_row_q4_1`, returning GGUF bytes (for tests and
    /// synthetic models).
    pub fn quantize_to_gguf_bytes(xs: &[f32]) -> Vec<u8> {
        let mut out = Vec::with_capacity(xs.len() / QK * BLOCK_BYTES);
        for block in xs.chunks_exact(QK) {
            let min = block.iter().copied().fold(f32::INFINITY, f32::min);
            let max = block.iter().copied().fold(f32::NEG_INFINITY, f32::max);
            let d = (max - min) / 15.0;
            let id = if d != 0.0 { 1.0 / d } else { 0.0 };
            out.extend_from_slice(&f16::from_f32(d).to_le_bytes());
            out.extend_from_slice(&f16::from_f32(min).to_le_bytes());
            for j in 0..QK / 2 {
                let q = |x: f32| u8::min(15, ((x - min) * id + 0.5) as u8);
                out.push(q(block[j]) | (q(block[j + QK / 2]) << 4));
            }
        }
        out
    }

    /// Blocks in each weight row (`cols / QK`).
    pub fn blocks_per_row(&self) -> usize {
        self.cols / QK
    }

    /// Row `r` as f32, the way ggml dequantizes (`q·d + m`).
    pub fn dequantize_row(&self, r: usize, out: &mut [f32]) {
        let nb = self.blocks_per_row();
        for b in 0..nb {
            let i = r * nb + b;
            for j in 0..QK / 2 {
                out[b * QK + j] = (self.qs[i][j] & 0x0F) as f32 * self.d[i] + self.m[i];
                out[b * QK + j + QK / 2] = (self.qs[i][j] >> 4) as f32 * self.d[i] + self.m[i];
            }
        }
    }

    /// The whole matrix as f32, row-major `(rows, cols)`.
    pub fn dequantize(&self) -> Vec<f32> {
        let mut out = alloc::vec![0f32; self.rows * self.cols];
        for (r, row) in out.chunks_exact_mut(self.cols).enumerate() {
            self.dequantize_row(r, row);
        }
        out
    }
}

impl Q8_1Rows {
    /// ggml's `quantize_row_q8_1`, row by row. `xs.len()` must be `rows · cols`, `cols % 32 == 0`.
    pub fn quantize(xs: &[f32], cols: usize) -> Self {
        let mut q = Q8_1Rows::default();
        q.quantize_into(xs, cols);
        q
    }

    /// The activation rows in `range`, as their own set.
    pub fn slice_rows(&self, range: core::ops::Range<usize>) -> Self {
        let nb = self.blocks_per_row;
        let blocks = range.start * nb..range.end * nb;
        Q8_1Rows {
            rows: range.len(),
            blocks_per_row: nb,
            qs: self.qs[blocks.clone()].to_vec(),
            d: self.d[blocks.clone()].to_vec(),
            s: self.s[blocks].to_vec(),
        }
    }

    /// Same as [`Q8_1Rows::quantize`], reusing this buffer's allocations.
    pub fn quantize_into(&mut self, xs: &[f32], cols: usize) {
        self.rows = xs.len() / cols;
        self.blocks_per_row = cols / QK;
        self.qs.clear();
        self.d.clear();
        self.s.clear();
        for block in xs.chunks_exact(QK) {
            let amax = block.iter().fold(0f32, |a, x| a.max(x.abs()));
            let d = amax / 127.0;
            let id = if d != 0.0 { 1.0 / d } else { 0.0 };
            let dh = f16::from_f32(d);
            let mut qs = [0i8; QK];
            let mut sum = 0i32;
            for (q, &x) in qs.iter_mut().zip(block) {
                *q = libm::roundf(x * id) as i8;
                sum += *q as i32;
            }
            // ggml multiplies in half precision: f16(sum) * f16(d), rounded to f16.
            let s = f16::from_f32(f16::from_f32(sum as f32).to_f32() * dh.to_f32());
            self.qs.push(qs);
            self.d.push(dh.to_f32());
            self.s.push(s.to_f32());
        }
    }
}

/// Integer dot product of one Q4_1 block with one Q8_1 block (exact).
#[inline]
fn block_sumi_scalar(x: &[u8; 16], y: &[i8; QK]) -> i32 {
    let mut sumi = 0i32;
    for j in 0..QK / 2 {
        sumi += (x[j] & 0x0F) as i32 * y[j] as i32 + (x[j] >> 4) as i32 * y[j + QK / 2] as i32;
    }
    sumi
}

/// The reference: ggml's scalar `vec_dot_q4_1_q8_1` for weight row `r` and activation row `a`.
pub fn dot_reference(w: &Q4_1Matrix, r: usize, x: &Q8_1Rows, a: usize) -> f32 {
    let nb = w.blocks_per_row();
    let mut sumf = 0f32;
    for b in 0..nb {
        let (i, k) = (r * nb + b, a * nb + b);
        let sumi = block_sumi_scalar(&w.qs[i], &x.qs[k]);
        sumf += sumi as f32 * w.d[i] * x.d[k] + w.m[i] * x.s[k];
    }
    sumf
}

/// `out[a·len + (r − rows.start)] = dot(weight row r, activation row a)` for the weight rows in
/// `rows` and every activation row: `out` is the `(x.rows, rows.len())` block of the product.
/// Uses the fastest exact path this CPU has.
pub fn matmul_rows(w: &Q4_1Matrix, x: &Q8_1Rows, rows: core::ops::Range<usize>, out: &mut [f32]) {
    let (first, len) = (rows.start, rows.len());
    matmul_tile(w, x, 0..x.rows, rows, |a, r, v| out[a * len + r - first] = v);
}

/// Computes the dots of every (activation row, weight row) pair in the tile: whole 4×4 blocks
/// with the register-tiled kernel where the CPU has one (each weight block is unpacked once for
/// four activation rows), the rest four pairs at a time.
fn matmul_tile(
    w: &Q4_1Matrix, x: &Q8_1Rows, acts: core::ops::Range<usize>, rows: core::ops::Range<usize>,
    mut put: impl FnMut(usize, usize, f32),
) {
    let mut tiled = (acts.start, rows.start); // the 4×4-tiled region ends here
    if let (Some(kernel), true) = (tile4x4(), acts.len() >= 4) {
        tiled = (acts.start + acts.len() / 4 * 4, rows.start + rows.len() / 4 * 4);
        for a in (acts.start..tiled.0).step_by(4) {
            for r in (rows.start..tiled.1).step_by(4) {
                // SAFETY: `tile4x4` only returns a kernel the CPU supports; the tile lies inside
                // both matrices.
                let t = unsafe { kernel(w, x, r, a) };
                for (i, row) in t.iter().enumerate() {
                    for (j, &v) in row.iter().enumerate() {
                        put(a + j, r + i, v);
                    }
                }
            }
        }
    }
    let rest =
        acts.clone().flat_map(|a| rows.clone().map(move |r| (a, r))).filter(|&(a, r)| a >= tiled.0 || r >= tiled.1);
    let mut quad = [(0usize, 0usize); 4];
    let mut len = 0;
    for p in rest {
        quad[len] = p;
        len += 1;
        if len == 4 {
            let v = dot4(w, x, &quad);
            for (&(a, r), v) in quad.iter().zip(v) {
                put(a, r, v);
            }
            len = 0;
        }
    }
    for &(a, r) in &quad[..len] {
        put(a, r, dot_reference(w, r, x, a));
    }
}

/// Weight rows `r..r+4` × activation rows `a..a+4`: `out[i][j] = dot(row r+i, act a+j)`.
type Tile4x4 = unsafe fn(&Q4_1Matrix, &Q8_1Rows, usize, usize) -> [[f32; 4]; 4];

/// The register-tiled kernel this CPU can run, if any.
fn tile4x4() -> Option<Tile4x4> {
    #[cfg(all(target_arch = "x86_64", feature = "std"))]
    if std::is_x86_feature_detected!("avx2") {
        return Some(avx2::dot4x4);
    }
    #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
    return Some(simd128::dot4x4);
    #[allow(unreachable_code)]
    None
}

/// Four independent dot products `(activation row, weight row)`.
fn dot4(w: &Q4_1Matrix, x: &Q8_1Rows, pairs: &[(usize, usize); 4]) -> [f32; 4] {
    #[cfg(all(target_arch = "x86_64", feature = "std"))]
    if std::is_x86_feature_detected!("avx2") {
        // SAFETY: AVX2 is present (checked above); indices are in range by construction.
        return unsafe { avx2::dot4(w, x, pairs) };
    }
    #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
    return simd128::dot4(w, x, pairs);
    #[allow(unreachable_code)]
    pairs.map(|(a, r)| dot_reference(w, r, x, a))
}

#[cfg(all(target_arch = "x86_64", feature = "std"))]
mod avx2 {
    use super::*;
    use core::arch::x86_64::*;

    /// 8 lanes of i32 partial sums of one block's integer dot product.
    #[inline(always)]
    unsafe fn block_lanes(xq: &[u8; 16], yq: &[i8; QK]) -> __m256i {
        let q4 = _mm_loadu_si128(xq.as_ptr() as *const __m128i);
        let mask = _mm_set1_epi8(0x0F);
        let lo = _mm_and_si128(q4, mask);
        let hi = _mm_and_si128(_mm_srli_epi16(q4, 4), mask);
        let q4x = _mm256_set_m128i(hi, lo);
        let q8 = _mm256_loadu_si256(yq.as_ptr() as *const __m256i);
        // u8 (0..15) × i8 (−127..127) pairs summed in i16: at most 3810, never saturates.
        let p16 = _mm256_maddubs_epi16(q4x, q8);
        _mm256_madd_epi16(p16, _mm256_set1_epi16(1))
    }

    #[target_feature(enable = "avx2")]
    pub(super) unsafe fn dot4(w: &Q4_1Matrix, x: &Q8_1Rows, pairs: &[(usize, usize); 4]) -> [f32; 4] {
        let nb = w.blocks_per_row();
        let wi = pairs.map(|(_, r)| r * nb);
        let xi = pairs.map(|(a, _)| a * nb);
        let mut sumf = _mm_setzero_ps();
        for b in 0..nb {
            let l: [__m256i; 4] = core::array::from_fn(|p| block_lanes(&w.qs[wi[p] + b], &x.qs[xi[p] + b]));
            // Horizontal sums of the four, exact in i32: [Σl0, Σl1, Σl2, Σl3].
            let h = _mm256_hadd_epi32(_mm256_hadd_epi32(l[0], l[1]), _mm256_hadd_epi32(l[2], l[3]));
            let sumi = _mm_add_epi32(_mm256_castsi256_si128(h), _mm256_extracti128_si256(h, 1));
            let g =
                |v: &Vec<f32>, idx: [usize; 4]| _mm_setr_ps(v[idx[0] + b], v[idx[1] + b], v[idx[2] + b], v[idx[3] + b]);
            // Same operation order as the scalar reference, no FMA: ((sumi·dx)·dy + mx·sy).
            let t = _mm_mul_ps(_mm_mul_ps(_mm_cvtepi32_ps(sumi), g(&w.d, wi)), g(&x.d, xi));
            let term = _mm_add_ps(t, _mm_mul_ps(g(&w.m, wi), g(&x.s, xi)));
            sumf = _mm_add_ps(sumf, term);
        }
        let mut out = [0f32; 4];
        _mm_storeu_ps(out.as_mut_ptr(), sumf);
        out
    }

    /// Weight rows `r..r+4` × activation rows `a..a+4`: `out[i][j] = dot(row r+i, act a+j)`.
    #[target_feature(enable = "avx2")]
    pub(super) unsafe fn dot4x4(w: &Q4_1Matrix, x: &Q8_1Rows, r: usize, a: usize) -> [[f32; 4]; 4] {
        let nb = w.blocks_per_row();
        let mask = _mm_set1_epi8(0x0F);
        let ones = _mm256_set1_epi16(1);
        let mut sumf = [_mm_setzero_ps(); 4];
        for b in 0..nb {
            let q8: [__m256i; 4] =
                core::array::from_fn(|j| _mm256_loadu_si256(x.qs[(a + j) * nb + b].as_ptr() as *const __m256i));
            let xi = |j: usize| (a + j) * nb + b;
            let dy = _mm_setr_ps(x.d[xi(0)], x.d[xi(1)], x.d[xi(2)], x.d[xi(3)]);
            let sy = _mm_setr_ps(x.s[xi(0)], x.s[xi(1)], x.s[xi(2)], x.s[xi(3)]);
            for (i, acc) in sumf.iter_mut().enumerate() {
                let wi = (r + i) * nb + b;
                let q4 = _mm_loadu_si128(w.qs[wi].as_ptr() as *const __m128i);
                let q4x = _mm256_set_m128i(_mm_and_si128(_mm_srli_epi16(q4, 4), mask), _mm_and_si128(q4, mask));
                let l: [__m256i; 4] =
                    core::array::from_fn(|j| _mm256_madd_epi16(_mm256_maddubs_epi16(q4x, q8[j]), ones));
                let h = _mm256_hadd_epi32(_mm256_hadd_epi32(l[0], l[1]), _mm256_hadd_epi32(l[2], l[3]));
                let sumi = _mm_add_epi32(_mm256_castsi256_si128(h), _mm256_extracti128_si256(h, 1));
                // ((sumi·dx)·dy + mx·sy), the reference's order, lane j = activation row a+j.
                let t = _mm_mul_ps(_mm_mul_ps(_mm_cvtepi32_ps(sumi), _mm_set1_ps(w.d[wi])), dy);
                *acc = _mm_add_ps(*acc, _mm_add_ps(t, _mm_mul_ps(_mm_set1_ps(w.m[wi]), sy)));
            }
        }
        sumf.map(|v| {
            let mut out = [0f32; 4];
            _mm_storeu_ps(out.as_mut_ptr(), v);
            out
        })
    }
}

#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
mod simd128 {
    use super::*;
    use core::arch::wasm32::*;

    /// The 32 nibbles of a weight block widened to four i16x8 vectors (elements 0–7, 8–15 from
    /// the low nibbles, 16–23, 24–31 from the high ones).
    #[inline(always)]
    fn weight_i16(xq: &[u8; 16]) -> [v128; 4] {
        // SAFETY: a 16-byte unaligned load from a 16-byte array.
        let q4 = unsafe { v128_load(xq.as_ptr() as *const v128) };
        let lo = v128_and(q4, u8x16_splat(0x0F));
        let hi = u8x16_shr(q4, 4);
        [
            u16x8_extend_low_u8x16(lo),
            u16x8_extend_high_u8x16(lo),
            u16x8_extend_low_u8x16(hi),
            u16x8_extend_high_u8x16(hi),
        ]
    }

    #[inline(always)]
    fn act_i16(yq: &[i8; QK]) -> [v128; 4] {
        // SAFETY: two 16-byte unaligned loads from a 32-byte array.
        let (y0, y1) =
            unsafe { (v128_load(yq.as_ptr() as *const v128), v128_load(yq.as_ptr().add(16) as *const v128)) };
        [
            i16x8_extend_low_i8x16(y0),
            i16x8_extend_high_i8x16(y0),
            i16x8_extend_low_i8x16(y1),
            i16x8_extend_high_i8x16(y1),
        ]
    }

    #[inline(always)]
    fn sumi(w: &[v128; 4], y: &[v128; 4]) -> i32 {
        let s = i32x4_add(
            i32x4_add(i32x4_dot_i16x8(w[0], y[0]), i32x4_dot_i16x8(w[1], y[1])),
            i32x4_add(i32x4_dot_i16x8(w[2], y[2]), i32x4_dot_i16x8(w[3], y[3])),
        );
        i32x4_extract_lane::<0>(s)
            + i32x4_extract_lane::<1>(s)
            + i32x4_extract_lane::<2>(s)
            + i32x4_extract_lane::<3>(s)
    }

    /// See [`super::Tile4x4`]: each block is widened once and used for four dot products.
    pub(super) unsafe fn dot4x4(w: &Q4_1Matrix, x: &Q8_1Rows, r: usize, a: usize) -> [[f32; 4]; 4] {
        let nb = w.blocks_per_row();
        let mut out = [[0f32; 4]; 4];
        for b in 0..nb {
            let ys: [[v128; 4]; 4] = core::array::from_fn(|j| act_i16(&x.qs[(a + j) * nb + b]));
            for (i, row) in out.iter_mut().enumerate() {
                let wi = (r + i) * nb + b;
                let wv = weight_i16(&w.qs[wi]);
                for (j, acc) in row.iter_mut().enumerate() {
                    let k = (a + j) * nb + b;
                    *acc += sumi(&wv, &ys[j]) as f32 * w.d[wi] * x.d[k] + w.m[wi] * x.s[k];
                }
            }
        }
        out
    }

    pub(super) fn dot4(w: &Q4_1Matrix, x: &Q8_1Rows, pairs: &[(usize, usize); 4]) -> [f32; 4] {
        let nb = w.blocks_per_row();
        pairs.map(|(a, r)| {
            let mut sumf = 0f32;
            for b in 0..nb {
                let (i, k) = (r * nb + b, a * nb + b);
                let sumi = sumi(&weight_i16(&w.qs[i]), &act_i16(&x.qs[k]));
                sumf += sumi as f32 * w.d[i] * x.d[k] + w.m[i] * x.s[k];
            }
            sumf
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lcg(seed: &mut u64) -> f32 {
        *seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        ((*seed >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
    }

    /// The SIMD path must give the reference's exact bits on every (row, column) pair, including
    /// the leftover pairs that do not fill a group of four.
    #[test]
    fn fast_path_is_bit_identical_to_reference() {
        let mut seed = 7;
        let (rows, cols, m) = (13, 96, 10);
        let wf: Vec<f32> = (0..rows * cols).map(|_| lcg(&mut seed) * 0.2).collect();
        let w = Q4_1Matrix::from_gguf_bytes(&Q4_1Matrix::quantize_to_gguf_bytes(&wf), rows, cols).unwrap();
        let xf: Vec<f32> = (0..m * cols).map(|_| lcg(&mut seed) * 30.0).collect();
        let x = Q8_1Rows::quantize(&xf, cols);
        let mut out = alloc::vec![0f32; m * rows];
        matmul_rows(&w, &x, 0..rows, &mut out);
        for a in 0..m {
            for r in 0..rows {
                assert_eq!(out[a * rows + r].to_bits(), dot_reference(&w, r, &x, a).to_bits(), "({a},{r})");
            }
        }
    }

    /// Independent check of the reference itself: close to the f32 dot of the dequantized rows.
    #[test]
    fn reference_approximates_f32_dot() {
        let mut seed = 3;
        let cols = 64;
        let wf: Vec<f32> = (0..cols).map(|_| lcg(&mut seed)).collect();
        let w = Q4_1Matrix::from_gguf_bytes(&Q4_1Matrix::quantize_to_gguf_bytes(&wf), 1, cols).unwrap();
        let xf: Vec<f32> = (0..cols).map(|_| lcg(&mut seed)).collect();
        let x = Q8_1Rows::quantize(&xf, cols);
        let exact: f32 = w.dequantize().iter().zip(&xf).map(|(a, b)| a * b).sum();
        assert!((dot_reference(&w, 0, &x, 0) - exact).abs() < 0.05, "{} vs {exact}", dot_reference(&w, 0, &x, 0));
    }
}
