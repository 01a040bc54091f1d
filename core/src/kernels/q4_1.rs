//! Q4_1 × Q8_1 matrix multiplication, bit-identical to ggml's / candle's scalar `vec_dot_q4_1_q8_1`.
//!
//! Why our own kernel: candle 0.11 has no SIMD path for Q4_1 (it runs ~5× slower than llama.cpp
//! on SmolLM2's Q4_1 weights). The reference adds, per block, `sumi·dx·dy + mx·sy` to a running
//! sum, `sumi` being the block's exact integer dot product. Every fast path keeps that order
//! and rounding, so it returns *the same bits* as the scalar reference — and as candle's own
//! Q4_1 matmul — which makes "fast path == reference" a strict equality test.
//!
//! Vector-wide yet exact: the weights are repacked once at load so that 16 output rows lie side
//! by side ([`GROUP`]). For each block, a vector holds 4 consecutive nibbles of each of those
//! rows, and the matching 4 activation bytes are broadcast to every lane: one multiply-add
//! instruction (`vpmaddubsw`, `vpdpbusd`, `i32x4.relaxed_dot_i8x16_i7x16_add_s`) then advances
//! every row's integer dot product at once — no horizontal sums — and the float combination
//! runs one row per lane, block after block, exactly like the scalar loop.
//!
//! Layout of one group's block (256 bytes): chunk `k` (0..4) holds, for each of the 16 rows,
//! 4 bytes whose low nibbles are elements `8k..8k+4` and high nibbles `8k+4..8k+8`. The f16
//! scales and minimums sit beside them, 16 per block (as f16 on x86-64, widened to f32 in wasm:
//! see `kernels::Scale`).
use super::{stored, widen, Isa, Scale, Tile, GROUP};
use alloc::vec::Vec;
use core::ops::Range;
use half::f16;

/// Elements per quantization block (ggml's QK4_1 and QK8_1).
pub const QK: usize = 32;
/// Bytes of one Q4_1 block in a GGUF file: f16 d, f16 m, 16 bytes of nibbles.
pub const BLOCK_BYTES: usize = 20;
/// Nibble bytes of one group's block: 16 rows × 16 bytes.
const UNIT: usize = GROUP * QK / 2;
/// Weight groups run together in prefill, so that they stay in cache while every activation
/// tile passes over them (8 groups ≈ 40 KB of a 576-wide matrix).
const GROUPS_PER_PASS: usize = 8;

/// Q4_1 weights of an `(rows, cols)` matrix, repacked 16 rows side by side (see the module
/// doc); rows past `rows` in the last group are zero.
#[derive(Clone, Debug)]
pub struct Q4_1Matrix {
    /// Output features.
    pub rows: usize,
    /// Input features (a multiple of [`QK`]).
    pub cols: usize,
    qs: Vec<u8>,
    d: Vec<Scale>,
    m: Vec<Scale>,
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
        let nb = cols / QK;
        let groups = rows.div_ceil(GROUP);
        let mut out = Q4_1Matrix {
            rows,
            cols,
            qs: alloc::vec![0; groups * nb * UNIT],
            d: alloc::vec![stored(f16::ZERO); groups * nb * GROUP],
            m: alloc::vec![stored(f16::ZERO); groups * nb * GROUP],
        };
        for (i, src) in bytes.chunks_exact(BLOCK_BYTES).enumerate() {
            let (r, b) = (i / nb, i % nb);
            let (unit, lane) = ((r / GROUP) * nb + b, r % GROUP);
            out.d[unit * GROUP + lane] = stored(f16::from_le_bytes([src[0], src[1]]));
            out.m[unit * GROUP + lane] = stored(f16::from_le_bytes([src[2], src[3]]));
            // GGUF: element j < 16 is the low nibble of byte j, element j ≥ 16 the high nibble
            // of byte j − 16.
            let q = |j: usize| if j < 16 { src[4 + j] & 0x0F } else { src[4 + j - 16] >> 4 };
            for k in 0..4 {
                for t in 0..4 {
                    out.qs[unit * UNIT + k * 4 * GROUP + lane * 4 + t] = q(8 * k + t) | (q(8 * k + 4 + t) << 4);
                }
            }
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

    /// Number of 16-row groups (the last one may be partly padding).
    pub fn groups(&self) -> usize {
        self.rows.div_ceil(GROUP)
    }

    /// Element `j` of block `b` of row `r`, as its 4-bit code.
    fn nibble(&self, r: usize, b: usize, j: usize) -> u8 {
        let unit = (r / GROUP) * self.blocks_per_row() + b;
        let byte = self.qs[unit * UNIT + (j / 8) * 4 * GROUP + (r % GROUP) * 4 + j % 4];
        if j % 8 < 4 {
            byte & 0x0F
        } else {
            byte >> 4
        }
    }

    /// The scale and minimum of block `b` of row `r`.
    fn scales(&self, r: usize, b: usize) -> (f32, f32) {
        let i = ((r / GROUP) * self.blocks_per_row() + b) * GROUP + r % GROUP;
        (widen(self.d[i]), widen(self.m[i]))
    }

    /// Row `r` as f32, the way ggml dequantizes (`q·d + m`).
    pub fn dequantize_row(&self, r: usize, out: &mut [f32]) {
        for b in 0..self.blocks_per_row() {
            let (d, m) = self.scales(r, b);
            for j in 0..QK {
                out[b * QK + j] = self.nibble(r, b, j) as f32 * d + m;
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
                *q = round_to_i8(x * id);
                sum += *q as i32;
            }
            // ggml multiplies in half precision: f16(sum) * f16(d), rounded to f16.
            let s = f16::from_f32(f16::from_f32(sum as f32).to_f32() * dh.to_f32());
            self.qs.push(qs);
            self.d.push(dh.to_f32());
            self.s.push(s.to_f32());
        }
    }

    /// The quantized values of block `k` (counting over all rows).
    pub(crate) fn block(&self, k: usize) -> &[i8; QK] {
        &self.qs[k]
    }

    /// The f16-rounded scale of block `k`.
    pub(crate) fn scale(&self, k: usize) -> f32 {
        self.d[k]
    }
}

/// `roundf(v) as i8` (half away from zero, as ggml rounds, then saturating) for `|v| < 2²³`,
/// without a libm call: the truncation `t` and the remainder `v − t` are exact for such `v`.
/// NaN gives 0, as `roundf(NaN) as i8` does.
#[inline(always)]
fn round_to_i8(v: f32) -> i8 {
    let t = v as i32;
    let frac = v - t as f32;
    (t + (frac >= 0.5) as i32 - (frac <= -0.5) as i32).clamp(-128, 127) as i8
}

/// Integer dot product of block `b` of weight row `r` with activation block `y` (exact).
fn block_sumi(w: &Q4_1Matrix, r: usize, b: usize, y: &[i8; QK]) -> i32 {
    (0..QK).map(|j| w.nibble(r, b, j) as i32 * y[j] as i32).sum()
}

/// The reference: ggml's scalar `vec_dot_q4_1_q8_1` for weight row `r` and activation row `a`.
pub fn dot_reference(w: &Q4_1Matrix, r: usize, x: &Q8_1Rows, a: usize) -> f32 {
    let nb = w.blocks_per_row();
    let mut sumf = 0f32;
    for b in 0..nb {
        let k = a * nb + b;
        let (d, m) = w.scales(r, b);
        sumf += block_sumi(w, r, b, &x.qs[k]) as f32 * d * x.d[k] + m * x.s[k];
    }
    sumf
}

/// `out = x Wᵀ`, `(x.rows, w.rows)`, on the [active](super::active) path.
pub fn matmul(w: &Q4_1Matrix, x: &Q8_1Rows, out: &mut [f32]) {
    matmul_tile(w, x, 0..x.rows, 0..w.groups(), super::active(), out);
}

/// The block of `x Wᵀ` for activation rows `acts` and the weight rows of `groups`
/// ([`group_rows`](super::group_rows)), row-major into `out` (`acts.len() × rows`), on path `isa` (the scalar
/// reference if this CPU cannot run it).
pub fn matmul_tile(w: &Q4_1Matrix, x: &Q8_1Rows, acts: Range<usize>, groups: Range<usize>, isa: Isa, out: &mut [f32]) {
    let mut out = Tile::new(out, (w.rows, w.blocks_per_row(), w.groups()), x, &acts, &groups);
    let isa = if isa.available() { isa } else { Isa::Scalar };
    let tile = match isa {
        Isa::Scalar => 1,
        Isa::Simd128 | Isa::RelaxedSimd => 2,
        _ => 4,
    };
    let mut pass = groups.start;
    while pass < groups.end {
        let pass_end = (pass + GROUPS_PER_PASS).min(groups.end);
        let mut a = acts.start;
        while a < acts.end {
            let n = tile.min(acts.end - a);
            for g in pass..pass_end {
                match n {
                    4 => run::<4>(isa, w, x, g, a).iter().enumerate().for_each(|(j, v)| out.put(a + j, g, v)),
                    3 => run::<3>(isa, w, x, g, a).iter().enumerate().for_each(|(j, v)| out.put(a + j, g, v)),
                    2 => run::<2>(isa, w, x, g, a).iter().enumerate().for_each(|(j, v)| out.put(a + j, g, v)),
                    _ => out.put(a, g, &run::<1>(isa, w, x, g, a)[0]),
                }
            }
            a += n;
        }
        pass = pass_end;
    }
}

/// `out[j][i] = dot(row 16g + i, activation row a0 + j)` for the `A` activation rows, on `isa`
/// (which the caller checked is available).
fn run<const A: usize>(isa: Isa, w: &Q4_1Matrix, x: &Q8_1Rows, g: usize, a0: usize) -> [[f32; GROUP]; A] {
    match isa {
        // SAFETY (each arm): the path is available on this CPU (checked by the caller), and
        // `g`, `a0 + A` lie inside the matrices (asserted by `matmul_tile`).
        #[cfg(all(target_arch = "x86_64", feature = "std"))]
        Isa::Avx2 => unsafe { x86::group_avx2::<A>(w, x, g, a0) },
        #[cfg(all(target_arch = "x86_64", feature = "std"))]
        Isa::AvxVnni => unsafe { x86::group_avx_vnni::<A>(w, x, g, a0) },
        #[cfg(all(target_arch = "x86_64", feature = "std"))]
        Isa::Avx512Vnni => unsafe { x86::group_avx512_vnni::<A>(w, x, g, a0) },
        #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
        Isa::Simd128 => unsafe { wasm::group_simd128::<A>(w, x, g, a0) },
        #[cfg(all(target_arch = "wasm32", target_feature = "relaxed-simd"))]
        Isa::RelaxedSimd => unsafe { wasm::group_relaxed::<A>(w, x, g, a0) },
        _ => core::array::from_fn(|j| {
            core::array::from_fn(|i| {
                let r = g * GROUP + i;
                if r < w.rows {
                    dot_reference(w, r, x, a0 + j)
                } else {
                    0.0
                }
            })
        }),
    }
}

/// The 4 activation bytes `y[4s..4s+4]` of step `s`, as one little-endian i32 (to broadcast).
#[cfg(any(all(target_arch = "x86_64", feature = "std"), all(target_arch = "wasm32", target_feature = "simd128")))]
#[inline(always)]
pub(crate) fn act4(y: &[i8; QK], s: usize) -> i32 {
    i32::from_le_bytes([y[4 * s] as u8, y[4 * s + 1] as u8, y[4 * s + 2] as u8, y[4 * s + 3] as u8])
}

#[cfg(all(target_arch = "x86_64", feature = "std"))]
pub(crate) mod x86 {
    use super::*;
    use crate::kernels::dot4::{Avx2, AvxVnni, Dot4};
    use core::arch::x86_64::*;

    /// AVX2: `vpmaddubsw` (u8 nibble × i8 activation, pairs summed in i16: at most
    /// 2·15·128 = 3840) accumulated over the block's 8 steps in i16 (at most 30720 < 32767,
    /// never saturating), then `vpmaddwd` by ones to i32: the exact `sumi` of each row.
    #[target_feature(enable = "avx2,f16c")]
    pub(super) unsafe fn group_avx2<const A: usize>(
        w: &Q4_1Matrix, x: &Q8_1Rows, g: usize, a0: usize,
    ) -> [[f32; GROUP]; A] {
        // SAFETY: the caller's contract (`run`); AVX2 and F16C are enabled here.
        unsafe { group_256::<A, Avx2>(w, x, g, a0) }
    }

    /// AVX-VNNI: `vpdpbusd` adds the 4 products of each row straight into its i32 lane.
    #[target_feature(enable = "avx2,f16c,avxvnni")]
    pub(super) unsafe fn group_avx_vnni<const A: usize>(
        w: &Q4_1Matrix, x: &Q8_1Rows, g: usize, a0: usize,
    ) -> [[f32; GROUP]; A] {
        // SAFETY: as in `group_avx2`, with AVX-VNNI enabled too.
        unsafe { group_256::<A, AvxVnni>(w, x, g, a0) }
    }

    /// The 16 rows as two 256-bit vectors of 8, the products by `D`. Inlined into a function
    /// that enables `D`'s features; `g` and `a0 + A` inside the matrices.
    #[inline(always)]
    unsafe fn group_256<const A: usize, D: Dot4>(
        w: &Q4_1Matrix, x: &Q8_1Rows, g: usize, a0: usize,
    ) -> [[f32; GROUP]; A] {
        // SAFETY (the whole body): the features are enabled where this is inlined (see above);
        // every load stays inside the group's unit, as noted at each.
        unsafe {
            let nb = w.blocks_per_row();
            let mask = _mm256_set1_epi8(0x0F);
            let mut sumf = [[_mm256_setzero_ps(); 2]; A];
            for b in 0..nb {
                let unit = g * nb + b;
                // The unit lies inside `qs` (g < groups, b < nb).
                let qs = w.qs.as_ptr().add(unit * UNIT);
                let ys: [&[i8; QK]; A] = core::array::from_fn(|j| &x.qs[(a0 + j) * nb + b]);
                let mut acc = [[_mm256_setzero_si256(); 2]; A];
                for k in 0..4 {
                    #[allow(clippy::needless_range_loop)] // `h` picks the half of every activation row's `acc[j]`
                    for h in 0..2 {
                        // 32 bytes at offset k·64 + h·32 < 256 of this unit.
                        let p = _mm256_loadu_si256(qs.add(k * 64 + h * 32) as *const __m256i);
                        let lo = _mm256_and_si256(p, mask);
                        let hi = _mm256_and_si256(_mm256_srli_epi16(p, 4), mask);
                        for (j, y) in ys.iter().enumerate() {
                            acc[j][h] = D::dot_short(acc[j][h], lo, _mm256_set1_epi32(act4(y, 2 * k)));
                            acc[j][h] = D::dot_short(acc[j][h], hi, _mm256_set1_epi32(act4(y, 2 * k + 1)));
                        }
                    }
                }
                for (j, acc) in acc.iter().enumerate() {
                    let k = (a0 + j) * nb + b;
                    let (dy, sy) = (_mm256_set1_ps(x.d[k]), _mm256_set1_ps(x.s[k]));
                    for h in 0..2 {
                        // 8 of this unit's 16 scales and minimums.
                        let at = unit * GROUP + 8 * h;
                        let (d, m) = (widen8(w.d.as_ptr().add(at)), widen8(w.m.as_ptr().add(at)));
                        let sumi = _mm256_cvtepi32_ps(D::widen(acc[h]));
                        sumf[j][h] = combine(sumf[j][h], sumi, d, dy, m, sy);
                    }
                }
            }
            sumf.map(|[lo, hi]| store16(lo, hi))
        }
    }

    /// AVX-512 VNNI: the whole group (16 rows) in one 512-bit vector.
    #[target_feature(enable = "avx512f,avx512bw,avx512vnni")]
    pub(super) unsafe fn group_avx512_vnni<const A: usize>(
        w: &Q4_1Matrix, x: &Q8_1Rows, g: usize, a0: usize,
    ) -> [[f32; GROUP]; A] {
        let nb = w.blocks_per_row();
        let mask = _mm512_set1_epi8(0x0F);
        let mut sumf = [_mm512_setzero_ps(); A];
        for b in 0..nb {
            let unit = g * nb + b;
            // SAFETY: as in `group_avx2`.
            let qs = unsafe { w.qs.as_ptr().add(unit * UNIT) };
            let ys: [&[i8; QK]; A] = core::array::from_fn(|j| &x.qs[(a0 + j) * nb + b]);
            let mut acc = [_mm512_setzero_si512(); A];
            for k in 0..4 {
                // SAFETY: 64 bytes at offset k·64 < 256 of this unit.
                let p = unsafe { _mm512_loadu_si512(qs.add(k * 64) as *const __m512i) };
                let lo = _mm512_and_si512(p, mask);
                let hi = _mm512_and_si512(_mm512_srli_epi16(p, 4), mask);
                for (j, y) in ys.iter().enumerate() {
                    acc[j] = _mm512_dpbusd_epi32(acc[j], lo, _mm512_set1_epi32(act4(y, 2 * k)));
                    acc[j] = _mm512_dpbusd_epi32(acc[j], hi, _mm512_set1_epi32(act4(y, 2 * k + 1)));
                }
            }
            // SAFETY: this unit's 16 scales and minimums.
            let (d, m) = unsafe { (widen16(w.d.as_ptr().add(unit * GROUP)), widen16(w.m.as_ptr().add(unit * GROUP))) };
            for (j, acc) in acc.iter().enumerate() {
                let k = (a0 + j) * nb + b;
                let (dy, sy) = (_mm512_set1_ps(x.d[k]), _mm512_set1_ps(x.s[k]));
                // ((sumi·d)·dy + m·sy), the reference's order, no FMA.
                let t = _mm512_mul_ps(_mm512_mul_ps(_mm512_cvtepi32_ps(*acc), d), dy);
                sumf[j] = _mm512_add_ps(sumf[j], _mm512_add_ps(t, _mm512_mul_ps(m, sy)));
            }
        }
        sumf.map(|v| {
            let mut out = [0f32; GROUP];
            // SAFETY: 16 floats into a 16-float array.
            unsafe { _mm512_storeu_ps(out.as_mut_ptr(), v) };
            out
        })
    }

    /// 8 stored scales as f32 (`vcvtph2ps`, exact). Caller: F16C enabled, 8 scales at `p`.
    #[inline(always)]
    pub(crate) unsafe fn widen8(p: *const Scale) -> __m256 {
        // SAFETY: see the contract above.
        unsafe { _mm256_cvtph_ps(_mm_loadu_si128(p as *const __m128i)) }
    }

    /// 16 stored scales as f32. Caller: AVX-512F enabled, 16 scales at `p`.
    #[inline(always)]
    pub(crate) unsafe fn widen16(p: *const Scale) -> __m512 {
        // SAFETY: see the contract above.
        unsafe { _mm512_cvtph_ps(_mm256_loadu_si256(p as *const __m256i)) }
    }

    /// `sumf + ((sumi·d)·dy + m·sy)`: the reference's operations in its order, no FMA.
    #[inline(always)]
    fn combine(sumf: __m256, sumi: __m256, d: __m256, dy: __m256, m: __m256, sy: __m256) -> __m256 {
        // SAFETY: AVX is implied by every caller's target features.
        unsafe {
            let t = _mm256_mul_ps(_mm256_mul_ps(sumi, d), dy);
            _mm256_add_ps(sumf, _mm256_add_ps(t, _mm256_mul_ps(m, sy)))
        }
    }

    /// Two vectors of 8 rows as the group's 16 floats.
    #[inline(always)]
    pub(crate) fn store16(lo: __m256, hi: __m256) -> [f32; GROUP] {
        let mut out = [0f32; GROUP];
        // SAFETY: two 8-float stores into a 16-float array; AVX is implied by every caller.
        unsafe {
            _mm256_storeu_ps(out.as_mut_ptr(), lo);
            _mm256_storeu_ps(out.as_mut_ptr().add(8), hi);
        }
        out
    }
}

#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
pub(crate) mod wasm {
    use super::*;
    use core::arch::wasm32::*;

    /// The 16 rows as four quarters of 4 rows; per quarter and step, 16 bytes = 4 nibbles of
    /// each of the 4 rows.
    #[inline(always)]
    unsafe fn load_quarter(qs: *const u8, k: usize, q: usize) -> v128 {
        // SAFETY: 16 bytes at offset k·64 + q·16 < 256 of this unit (caller).
        unsafe { v128_load(qs.add(k * 64 + q * 16) as *const v128) }
    }

    /// `sumf + ((sumi·d)·dy + m·sy)` for 4 rows, the reference's order (no fused multiply-add).
    #[inline(always)]
    fn combine(sumf: v128, sumi: v128, d: v128, dy: f32, m: v128, sy: f32) -> v128 {
        let t = f32x4_mul(f32x4_mul(f32x4_convert_i32x4(sumi), d), f32x4_splat(dy));
        f32x4_add(sumf, f32x4_add(t, f32x4_mul(m, f32x4_splat(sy))))
    }

    /// How a wasm path turns a quarter's nibbles and activation bytes into each of its 4 rows'
    /// block sums, step by step.
    trait QuarterDot {
        /// The running sums of one block.
        type Acc: Copy;
        fn zero() -> Self::Acc;
        /// Adds step `(lo, hi)` (nibbles) × `(ylo, yhi)` (4 broadcast activation bytes each).
        fn add(acc: Self::Acc, lo: v128, hi: v128, ylo: v128, yhi: v128) -> Self::Acc;
        /// The 4 rows' exact `sumi` as i32 lanes.
        fn sums(acc: Self::Acc) -> v128;
    }

    /// SIMD128: `i16x8.extmul_{low,high}_i8x16_s` (nibble × activation, at most 15·128 = 1920)
    /// summed in i16 over the block's 8 steps (at most 15360, no overflow), then pairwise to
    /// i32 and across the two pairs of each row.
    struct Simd128;

    impl QuarterDot for Simd128 {
        type Acc = [v128; 2];
        #[inline(always)]
        fn zero() -> [v128; 2] {
            [i16x8_splat(0); 2]
        }
        #[inline(always)]
        fn add([a01, a23]: [v128; 2], lo: v128, hi: v128, ylo: v128, yhi: v128) -> [v128; 2] {
            let p01 = i16x8_add(i16x8_extmul_low_i8x16(lo, ylo), i16x8_extmul_low_i8x16(hi, yhi));
            let p23 = i16x8_add(i16x8_extmul_high_i8x16(lo, ylo), i16x8_extmul_high_i8x16(hi, yhi));
            [i16x8_add(a01, p01), i16x8_add(a23, p23)]
        }
        #[inline(always)]
        fn sums([a01, a23]: [v128; 2]) -> v128 {
            // [r0 (t0+t1), r0 (t2+t3), r1 (t0+t1), r1 (t2+t3)] and the same for r2, r3.
            let (e01, e23) = (i32x4_extadd_pairwise_i16x8(a01), i32x4_extadd_pairwise_i16x8(a23));
            i32x4_add(i32x4_shuffle::<0, 2, 4, 6>(e01, e23), i32x4_shuffle::<1, 3, 5, 7>(e01, e23))
        }
    }

    /// Relaxed SIMD: `i32x4.relaxed_dot_i8x16_i7x16_add_s` adds the 4 products of each row
    /// straight into its i32 lane. Its result is implementation-defined only when the second
    /// operand has its top bit set; here that operand is a nibble (0..15), so every engine
    /// returns the exact sum.
    #[cfg(target_feature = "relaxed-simd")]
    struct Relaxed;

    #[cfg(target_feature = "relaxed-simd")]
    impl QuarterDot for Relaxed {
        type Acc = v128;
        #[inline(always)]
        fn zero() -> v128 {
            i32x4_splat(0)
        }
        #[inline(always)]
        fn add(acc: v128, lo: v128, hi: v128, ylo: v128, yhi: v128) -> v128 {
            i32x4_relaxed_dot_i8x16_i7x16_add(yhi, hi, i32x4_relaxed_dot_i8x16_i7x16_add(ylo, lo, acc))
        }
        #[inline(always)]
        fn sums(acc: v128) -> v128 {
            acc
        }
    }

    /// The SIMD128 path ([`Simd128`]).
    #[inline(never)]
    pub(super) unsafe fn group_simd128<const A: usize>(
        w: &Q4_1Matrix, x: &Q8_1Rows, g: usize, a0: usize,
    ) -> [[f32; GROUP]; A] {
        // SAFETY: the caller's contract (`run`).
        unsafe { group::<A, Simd128>(w, x, g, a0) }
    }

    /// The relaxed-SIMD path ([`Relaxed`]).
    #[inline(never)]
    #[cfg(target_feature = "relaxed-simd")]
    pub(super) unsafe fn group_relaxed<const A: usize>(
        w: &Q4_1Matrix, x: &Q8_1Rows, g: usize, a0: usize,
    ) -> [[f32; GROUP]; A] {
        // SAFETY: the caller's contract (`run`).
        unsafe { group::<A, Relaxed>(w, x, g, a0) }
    }

    /// The 16 rows as four quarters of 4, the products by `D`; `g` and `a0 + A` inside the
    /// matrices.
    #[inline(always)]
    unsafe fn group<const A: usize, D: QuarterDot>(
        w: &Q4_1Matrix, x: &Q8_1Rows, g: usize, a0: usize,
    ) -> [[f32; GROUP]; A] {
        let nb = w.blocks_per_row();
        let mask = u8x16_splat(0x0F);
        let mut sumf = [[f32x4_splat(0.0); 4]; A];
        for b in 0..nb {
            let unit = g * nb + b;
            // SAFETY: the unit lies inside `qs`.
            let qs = unsafe { w.qs.as_ptr().add(unit * UNIT) };
            let ys: [&[i8; QK]; A] = core::array::from_fn(|j| &x.qs[(a0 + j) * nb + b]);
            for q in 0..4 {
                let mut acc = [D::zero(); A];
                for k in 0..4 {
                    // SAFETY: as documented on `load_quarter`.
                    let p = unsafe { load_quarter(qs, k, q) };
                    let (lo, hi) = (v128_and(p, mask), u8x16_shr(p, 4));
                    for (j, y) in ys.iter().enumerate() {
                        let (ylo, yhi) = (i32x4_splat(act4(y, 2 * k)), i32x4_splat(act4(y, 2 * k + 1)));
                        acc[j] = D::add(acc[j], lo, hi, ylo, yhi);
                    }
                }
                let at = unit * GROUP + 4 * q;
                // SAFETY: 4 floats inside this unit's scales and minimums.
                let (d, m) = unsafe {
                    (v128_load(w.d.as_ptr().add(at) as *const v128), v128_load(w.m.as_ptr().add(at) as *const v128))
                };
                for (j, acc) in acc.iter().enumerate() {
                    let k = (a0 + j) * nb + b;
                    sumf[j][q] = combine(sumf[j][q], D::sums(*acc), d, x.d[k], m, x.s[k]);
                }
            }
        }
        sumf.map(store16)
    }

    /// Four vectors of 4 rows as the group's 16 floats.
    #[inline(always)]
    pub(crate) fn store16(v: [v128; 4]) -> [f32; GROUP] {
        let mut out = [0f32; GROUP];
        for (q, v) in v.iter().enumerate() {
            // SAFETY: 4 floats at offset 4q < 16.
            unsafe { v128_store(out.as_mut_ptr().add(4 * q) as *mut v128, *v) };
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernels::testing::{assert_every_path_exact, symmetric};
    use crate::rng::Rng;
    use alloc::format;

    fn random_case(rng: &mut Rng, rows: usize, cols: usize, acts: usize) -> (Q4_1Matrix, Q8_1Rows) {
        let wf: Vec<f32> = (0..rows * cols).map(|_| symmetric(rng) * 0.2 + 0.01).collect();
        let w = Q4_1Matrix::from_gguf_bytes(&Q4_1Matrix::quantize_to_gguf_bytes(&wf), rows, cols).unwrap();
        // Activations with a few large outliers, as in a real residual stream.
        let xf: Vec<f32> = (0..acts * cols).map(|i| symmetric(rng) * if i % 37 == 0 { 300.0 } else { 3.0 }).collect();
        (w, Q8_1Rows::quantize(&xf, cols))
    }

    /// Every path this CPU runs must give the reference's exact bits on every (row, column)
    /// pair: partial last groups (rows not a multiple of 16), activation tiles of every size
    /// (1..=4 rows and leftovers), and the tile entry point on a sub-range.
    #[test]
    fn every_path_is_bit_identical_to_reference() {
        let mut rng = Rng::new(7);
        for (rows, cols, m) in [(13, 96, 10), (48, 64, 1), (35, 320, 7), (16, 32, 4)] {
            let (w, x) = random_case(&mut rng, rows, cols, m);
            assert_every_path_exact(
                &format!("({rows}, {cols}) × {m}"),
                (m, rows, w.groups()),
                |a, r| dot_reference(&w, r, &x, a),
                |acts, groups, isa, out| matmul_tile(&w, &x, acts, groups, isa, out),
            );
        }
    }

    /// The extreme integer case: every nibble 15 and every activation ±127 (the i16 partial
    /// sums' largest magnitudes) on every available path.
    #[test]
    fn extreme_values_do_not_saturate() {
        let (rows, cols) = (16, 64);
        let block: Vec<u8> = [f16::from_f32(0.5).to_le_bytes(), f16::from_f32(-1.0).to_le_bytes()]
            .concat()
            .into_iter()
            .chain([0xFF; 16])
            .collect();
        let w = Q4_1Matrix::from_gguf_bytes(&block.repeat(rows * cols / QK), rows, cols).unwrap();
        for sign in [1.0f32, -1.0] {
            let x = Q8_1Rows::quantize(&alloc::vec![sign * 2.0; 2 * cols], cols);
            for isa in Isa::ALL.into_iter().filter(|i| i.available()) {
                let mut out = alloc::vec![0f32; 2 * rows];
                matmul_tile(&w, &x, 0..2, 0..1, isa, &mut out);
                assert!(out.iter().all(|v| v.to_bits() == dot_reference(&w, 0, &x, 0).to_bits()), "{isa:?}");
            }
        }
    }

    /// The repacking loses nothing: dequantizing gives ggml's `q·d + m` of the GGUF block.
    #[test]
    fn repacking_round_trips() {
        let mut rng = Rng::new(11);
        let (rows, cols) = (19, 64);
        let wf: Vec<f32> = (0..rows * cols).map(|_| symmetric(&mut rng)).collect();
        let bytes = Q4_1Matrix::quantize_to_gguf_bytes(&wf);
        let w = Q4_1Matrix::from_gguf_bytes(&bytes, rows, cols).unwrap();
        let deq = w.dequantize();
        for (i, src) in bytes.chunks_exact(BLOCK_BYTES).enumerate() {
            let d = f16::from_le_bytes([src[0], src[1]]).to_f32();
            let m = f16::from_le_bytes([src[2], src[3]]).to_f32();
            for j in 0..QK {
                let q = if j < 16 { src[4 + j] & 15 } else { src[4 + j - 16] >> 4 };
                assert_eq!(deq[i * QK + j], q as f32 * d + m);
            }
        }
        assert!(Q4_1Matrix::from_gguf_bytes(&bytes[1..], rows, cols).is_none());
    }

    /// The quick rounding is `roundf` on every value a block can produce (|v| ≤ 127 and a hair
    /// above), halves and their neighbours included.
    #[test]
    fn rounding_matches_roundf() {
        let mut v = -130.0f32;
        while v <= 130.0 {
            for x in [v, f32::from_bits(v.to_bits() + 1), f32::from_bits(v.to_bits().wrapping_sub(1))] {
                assert_eq!(round_to_i8(x), libm::roundf(x) as i8, "{x}");
            }
            v += 1.0 / 1024.0;
        }
        assert_eq!(round_to_i8(f32::NAN), libm::roundf(f32::NAN) as i8);
        assert_eq!(round_to_i8(-0.0), 0);
    }

    /// Independent check of the reference itself: close to the f32 dot of the dequantized rows.
    #[test]
    fn reference_approximates_f32_dot() {
        let mut rng = Rng::new(3);
        let cols = 64;
        let wf: Vec<f32> = (0..cols).map(|_| symmetric(&mut rng)).collect();
        let w = Q4_1Matrix::from_gguf_bytes(&Q4_1Matrix::quantize_to_gguf_bytes(&wf), 1, cols).unwrap();
        let xf: Vec<f32> = (0..cols).map(|_| symmetric(&mut rng)).collect();
        let x = Q8_1Rows::quantize(&xf, cols);
        let exact: f32 = w.dequantize().iter().zip(&xf).map(|(a, b)| a * b).sum();
        assert!((dot_reference(&w, 0, &x, 0) - exact).abs() < 0.05, "{} vs {exact}", dot_reference(&w, 0, &x, 0));
    }
}
