//! Q8_0 × Q8_0 matrix multiplication (the output head and the embedding table of SmolLM2),
//! bit-identical to ggml's / candle's scalar `vec_dot_q8_0_q8_0`: per block,
//! `sumf += sumi·dx·dy` in that order, `sumi` the exact integer dot product.
//!
//! Same design as [`super::q4_1`]: 16 rows side by side, 4 bytes of each row per vector, the
//! matching 4 activation bytes broadcast to every lane, so the integer products of all 16 rows
//! advance together and each lane adds its own row's blocks in the reference's order.
//!
//! Not bit-identical to candle's *AVX2* Q8_0 kernel, which keeps 8 partial sums per row with
//! fused multiply-adds and adds them up at the end: the two differ by float re-association
//! (about 1e-6 relative on a logit). The head's logits feed nothing else, so this never
//! compounds through the network.
//!
//! Signed × signed: x86's byte multiply-adds take one unsigned operand, so the weights go in as
//! `|w|` and the activations as `y·sign(w)` (exact for every i8 weight, −128 included: |−128|
//! is 128 as u8, and |y| ≤ 127 keeps every i16 pair sum ≤ 2·128·127 = 32512).
use super::q4_1::{Q8_1Rows, QK};
use super::{stored, widen, Isa, Scale, Tile, GROUP};
use alloc::vec::Vec;
use core::ops::Range;
use half::f16;

/// Bytes of one Q8_0 block in a GGUF file: f16 d, 32 signed bytes.
pub const BLOCK_BYTES: usize = 34;
/// Weight bytes of one group's block: 16 rows × 32 bytes.
const UNIT: usize = GROUP * QK;

/// Q8_0 weights of an `(rows, cols)` matrix, 16 rows side by side: in a group's block, step
/// `s` (0..8) holds 4 bytes (elements `4s..4s+4`) of each of the 16 rows; the f16 scales sit
/// beside them, 16 per block (see `kernels::Scale`).
#[derive(Clone, Debug)]
pub struct Q8_0Matrix {
    /// Output features.
    pub rows: usize,
    /// Input features (a multiple of the block size).
    pub cols: usize,
    qs: Vec<i8>,
    d: Vec<Scale>,
}

impl Q8_0Matrix {
    /// From GGUF bytes of a `[cols, rows]` (ggml order) Q8_0 tensor.
    pub fn from_gguf_bytes(bytes: &[u8], rows: usize, cols: usize) -> Option<Self> {
        if !cols.is_multiple_of(QK) || bytes.len() != rows * cols / QK * BLOCK_BYTES {
            return None;
        }
        let nb = cols / QK;
        let groups = rows.div_ceil(GROUP);
        let mut out = Q8_0Matrix {
            rows,
            cols,
            qs: alloc::vec![0; groups * nb * UNIT],
            d: alloc::vec![stored(f16::ZERO); groups * nb * GROUP],
        };
        for (i, src) in bytes.chunks_exact(BLOCK_BYTES).enumerate() {
            let (r, b) = (i / nb, i % nb);
            let (unit, lane) = ((r / GROUP) * nb + b, r % GROUP);
            out.d[unit * GROUP + lane] = stored(f16::from_le_bytes([src[0], src[1]]));
            for (j, &q) in src[2..].iter().enumerate() {
                out.qs[unit * UNIT + (j / 4) * 4 * GROUP + lane * 4 + j % 4] = q as i8;
            }
        }
        Some(out)
    }

    /// Quantizes f32 rows like ggml's `quantize_row_q8_0`, returning GGUF bytes (for tests).
    pub fn quantize_to_gguf_bytes(xs: &[f32]) -> Vec<u8> {
        let x = Q8_1Rows::quantize(xs, QK);
        let mut out = Vec::with_capacity(xs.len() / QK * BLOCK_BYTES);
        for k in 0..x.rows {
            out.extend_from_slice(&f16::from_f32(x.scale(k)).to_le_bytes());
            out.extend(x.block(k).iter().map(|&q| q as u8));
        }
        out
    }

    /// Blocks in each row.
    pub fn blocks_per_row(&self) -> usize {
        self.cols / QK
    }

    /// Number of 16-row groups (the last one may be partly padding).
    pub fn groups(&self) -> usize {
        self.rows.div_ceil(GROUP)
    }

    fn at(&self, r: usize, b: usize, j: usize) -> i8 {
        let unit = (r / GROUP) * self.blocks_per_row() + b;
        self.qs[unit * UNIT + (j / 4) * 4 * GROUP + (r % GROUP) * 4 + j % 4]
    }

    fn scale(&self, r: usize, b: usize) -> f32 {
        widen(self.d[((r / GROUP) * self.blocks_per_row() + b) * GROUP + r % GROUP])
    }

    /// Row `r` as f32, the way ggml dequantizes (`q·d`): an embedding lookup.
    pub fn dequantize_row(&self, r: usize, out: &mut [f32]) {
        for b in 0..self.blocks_per_row() {
            let d = self.scale(r, b);
            for j in 0..QK {
                out[b * QK + j] = self.at(r, b, j) as f32 * d;
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

/// The reference: ggml's scalar `vec_dot_q8_0_q8_0` for weight row `r` and activation row `a`
/// (the activations' Q8_1 quantization has the same values and scales as Q8_0's).
pub fn dot_reference(w: &Q8_0Matrix, r: usize, x: &Q8_1Rows, a: usize) -> f32 {
    let nb = w.blocks_per_row();
    let mut sumf = 0f32;
    for b in 0..nb {
        let y = x.block(a * nb + b);
        let sumi: i32 = (0..QK).map(|j| w.at(r, b, j) as i32 * y[j] as i32).sum();
        sumf += sumi as f32 * w.scale(r, b) * x.scale(a * nb + b);
    }
    sumf
}

/// `out = x Wᵀ`, `(x.rows, w.rows)`, on the [active](super::active) path.
pub fn matmul(w: &Q8_0Matrix, x: &Q8_1Rows, out: &mut [f32]) {
    matmul_tile(w, x, 0..x.rows, 0..w.groups(), super::active(), out);
}

/// The block of `x Wᵀ` for activation rows `acts` and the weight rows of `groups`, row-major
/// into `out` (`acts.len() × rows`), on path `isa` (the scalar reference if this CPU cannot
/// run it). Activation rows run one at a time: the head sees one row per decode step, and a
/// prefill needs only its last row's logits.
pub fn matmul_tile(w: &Q8_0Matrix, x: &Q8_1Rows, acts: Range<usize>, groups: Range<usize>, isa: Isa, out: &mut [f32]) {
    let mut out = Tile::new(out, (w.rows, w.blocks_per_row(), w.groups()), x, &acts, &groups);
    let isa = if isa.available() { isa } else { Isa::Scalar };
    for a in acts {
        for g in groups.clone() {
            out.put(a, g, &run(isa, w, x, g, a));
        }
    }
}

fn run(isa: Isa, w: &Q8_0Matrix, x: &Q8_1Rows, g: usize, a: usize) -> [f32; GROUP] {
    match isa {
        // SAFETY (each arm): the path is available on this CPU (checked by the caller) and the
        // indices lie inside the matrices (asserted by `matmul_tile`).
        #[cfg(all(target_arch = "x86_64", feature = "std"))]
        Isa::Avx2 => unsafe { x86::group_avx2(w, x, g, a) },
        #[cfg(all(target_arch = "x86_64", feature = "std"))]
        Isa::AvxVnni => unsafe { x86::group_avx_vnni(w, x, g, a) },
        #[cfg(all(target_arch = "x86_64", feature = "std"))]
        Isa::Avx512Vnni => unsafe { x86::group_avx512_vnni(w, x, g, a) },
        // No relaxed-SIMD form: its dot product needs one operand in 0..127.
        #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
        Isa::Simd128 | Isa::RelaxedSimd => unsafe { wasm::group_simd128(w, x, g, a) },
        _ => core::array::from_fn(|i| {
            let r = g * GROUP + i;
            if r < w.rows {
                dot_reference(w, r, x, a)
            } else {
                0.0
            }
        }),
    }
}

#[cfg(all(target_arch = "x86_64", feature = "std"))]
mod x86 {
    use super::*;
    use crate::kernels::dot4::{Avx2, AvxVnni, Dot4};
    use crate::kernels::q4_1::act4;
    use crate::kernels::q4_1::x86::{store16, widen16, widen8};
    use core::arch::x86_64::*;

    /// 8 rows' block sums: per step `vpmaddubsw(|w|, y·sign(w))` (exact, see the module doc)
    /// widened to i32 by `vpmaddwd` with ones.
    #[target_feature(enable = "avx2,f16c")]
    pub(super) unsafe fn group_avx2(w: &Q8_0Matrix, x: &Q8_1Rows, g: usize, a: usize) -> [f32; GROUP] {
        // SAFETY: the caller's contract (`run`); AVX2 and F16C are enabled here.
        unsafe { group_256::<Avx2>(w, x, g, a) }
    }

    /// AVX-VNNI: `vpdpbusd(|w|, y·sign(w))` straight into each row's i32 lane.
    #[target_feature(enable = "avx2,f16c,avxvnni")]
    pub(super) unsafe fn group_avx_vnni(w: &Q8_0Matrix, x: &Q8_1Rows, g: usize, a: usize) -> [f32; GROUP] {
        // SAFETY: as in `group_avx2`, with AVX-VNNI enabled too.
        unsafe { group_256::<AvxVnni>(w, x, g, a) }
    }

    /// The 16 rows as two 256-bit vectors of 8, the products by `D`. Inlined into a function
    /// that enables `D`'s features; `g` and `a` inside the matrices.
    #[inline(always)]
    unsafe fn group_256<D: Dot4>(w: &Q8_0Matrix, x: &Q8_1Rows, g: usize, a: usize) -> [f32; GROUP] {
        // SAFETY (the whole body): the features are enabled where this is inlined (see above);
        // every load stays inside the group's unit, as noted at each.
        unsafe {
            let nb = w.blocks_per_row();
            let mut sumf = [_mm256_setzero_ps(); 2];
            for b in 0..nb {
                let unit = g * nb + b;
                // The unit lies inside `qs`.
                let qs = w.qs.as_ptr().add(unit * UNIT);
                let y = x.block(a * nb + b);
                let mut acc = [_mm256_setzero_si256(); 2];
                for s in 0..8 {
                    let ys = _mm256_set1_epi32(act4(y, s));
                    for (h, acc) in acc.iter_mut().enumerate() {
                        // 32 bytes at s·64 + h·32 < 512 of this unit.
                        let wq = _mm256_loadu_si256(qs.add(s * 64 + h * 32) as *const __m256i);
                        *acc = D::dot_i32(*acc, _mm256_sign_epi8(wq, wq), _mm256_sign_epi8(ys, wq));
                    }
                }
                let dy = _mm256_set1_ps(x.scale(a * nb + b));
                for (h, sumf) in sumf.iter_mut().enumerate() {
                    // 8 of this unit's 16 scales.
                    let d = widen8(w.d.as_ptr().add(unit * GROUP + 8 * h));
                    *sumf = _mm256_add_ps(*sumf, _mm256_mul_ps(_mm256_mul_ps(_mm256_cvtepi32_ps(acc[h]), d), dy));
                }
            }
            store16(sumf[0], sumf[1])
        }
    }

    /// AVX-512 VNNI: 16 rows per vector. AVX-512 has no `vpsignb`: `y·sign(w)` is `y` with the
    /// lanes where `w < 0` negated under a mask.
    #[target_feature(enable = "avx512f,avx512bw,avx512vnni")]
    pub(super) unsafe fn group_avx512_vnni(w: &Q8_0Matrix, x: &Q8_1Rows, g: usize, a: usize) -> [f32; GROUP] {
        let nb = w.blocks_per_row();
        let zero = _mm512_setzero_si512();
        let mut sumf = _mm512_setzero_ps();
        for b in 0..nb {
            let unit = g * nb + b;
            // SAFETY: the unit lies inside `qs`.
            let qs = unsafe { w.qs.as_ptr().add(unit * UNIT) };
            let y = x.block(a * nb + b);
            let mut acc = _mm512_setzero_si512();
            for s in 0..8 {
                let ys = _mm512_set1_epi32(act4(y, s));
                // SAFETY: 64 bytes at s·64 < 512 of this unit.
                let wq = unsafe { _mm512_loadu_si512(qs.add(s * 64) as *const __m512i) };
                let negative = _mm512_movepi8_mask(wq);
                let signed_y = _mm512_mask_sub_epi8(ys, negative, zero, ys);
                acc = _mm512_dpbusd_epi32(acc, _mm512_abs_epi8(wq), signed_y);
            }
            // SAFETY: this unit's 16 scales.
            let d = unsafe { widen16(w.d.as_ptr().add(unit * GROUP)) };
            let dy = _mm512_set1_ps(x.scale(a * nb + b));
            sumf = _mm512_add_ps(sumf, _mm512_mul_ps(_mm512_mul_ps(_mm512_cvtepi32_ps(acc), d), dy));
        }
        let mut out = [0f32; GROUP];
        // SAFETY: 16 floats into a 16-float array.
        unsafe { _mm512_storeu_ps(out.as_mut_ptr(), sumf) };
        out
    }
}

#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
mod wasm {
    use super::*;
    use crate::kernels::q4_1::{act4, wasm::store16};
    use core::arch::wasm32::*;

    /// SIMD128: `i16x8.extmul_{low,high}_i8x16_s` (|product| ≤ 128·127 = 16256), two steps
    /// summed in i16 (≤ 32512), then pairwise to i32; per row, its two i32 pairs at the end.
    #[inline(never)]
    pub(super) unsafe fn group_simd128(w: &Q8_0Matrix, x: &Q8_1Rows, g: usize, a: usize) -> [f32; GROUP] {
        let nb = w.blocks_per_row();
        let mut sumf = [f32x4_splat(0.0); 4];
        for b in 0..nb {
            let unit = g * nb + b;
            // SAFETY: the unit lies inside `qs`.
            let qs = unsafe { w.qs.as_ptr().add(unit * UNIT) };
            let y = x.block(a * nb + b);
            let dy = f32x4_splat(x.scale(a * nb + b));
            for (q, sumf) in sumf.iter_mut().enumerate() {
                let (mut e01, mut e23) = (i32x4_splat(0), i32x4_splat(0));
                for s in (0..8).step_by(2) {
                    // SAFETY: 16 bytes at s·64 + q·16 (and one step on) < 512 of this unit.
                    let (w0, w1) = unsafe {
                        (
                            v128_load(qs.add(s * 64 + q * 16) as *const v128),
                            v128_load(qs.add((s + 1) * 64 + q * 16) as *const v128),
                        )
                    };
                    let (y0, y1) = (i32x4_splat(act4(y, s)), i32x4_splat(act4(y, s + 1)));
                    let p01 = i16x8_add(i16x8_extmul_low_i8x16(w0, y0), i16x8_extmul_low_i8x16(w1, y1));
                    let p23 = i16x8_add(i16x8_extmul_high_i8x16(w0, y0), i16x8_extmul_high_i8x16(w1, y1));
                    e01 = i32x4_add(e01, i32x4_extadd_pairwise_i16x8(p01));
                    e23 = i32x4_add(e23, i32x4_extadd_pairwise_i16x8(p23));
                }
                let sumi = i32x4_add(i32x4_shuffle::<0, 2, 4, 6>(e01, e23), i32x4_shuffle::<1, 3, 5, 7>(e01, e23));
                // SAFETY: 4 of this unit's 16 scales.
                let d = unsafe { v128_load(w.d.as_ptr().add(unit * GROUP + 4 * q) as *const v128) };
                *sumf = f32x4_add(*sumf, f32x4_mul(f32x4_mul(f32x4_convert_i32x4(sumi), d), dy));
            }
        }
        store16(sumf)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernels::testing::{assert_every_path_exact, symmetric};
    use crate::rng::Rng;
    use alloc::format;

    /// Every path this CPU runs gives the reference's exact bits, on partial groups and a
    /// sub-tile; the weights include −128 (possible in a file, never made by ggml's quantizer).
    #[test]
    fn every_path_is_bit_identical_to_reference() {
        let mut rng = Rng::new(5);
        for (rows, cols, m) in [(13, 96, 3), (64, 576, 1), (35, 64, 2)] {
            let wf: Vec<f32> = (0..rows * cols).map(|_| symmetric(&mut rng)).collect();
            let mut bytes = Q8_0Matrix::quantize_to_gguf_bytes(&wf);
            bytes[2] = 0x80;
            bytes[BLOCK_BYTES + 7] = 0x80;
            let w = Q8_0Matrix::from_gguf_bytes(&bytes, rows, cols).unwrap();
            let xf: Vec<f32> =
                (0..m * cols).map(|i| symmetric(&mut rng) * if i % 29 == 0 { 100.0 } else { 2.0 }).collect();
            let x = Q8_1Rows::quantize(&xf, cols);
            assert_every_path_exact(
                &format!("({rows}, {cols}) × {m}"),
                (m, rows, w.groups()),
                |a, r| dot_reference(&w, r, &x, a),
                |acts, groups, isa, out| matmul_tile(&w, &x, acts, groups, isa, out),
            );
        }
    }

    /// The reference against the f32 dot of the dequantized rows (independent arithmetic).
    #[test]
    fn reference_approximates_f32_dot() {
        let mut rng = Rng::new(9);
        let cols = 128;
        let wf: Vec<f32> = (0..cols).map(|_| symmetric(&mut rng)).collect();
        let w = Q8_0Matrix::from_gguf_bytes(&Q8_0Matrix::quantize_to_gguf_bytes(&wf), 1, cols).unwrap();
        let xf: Vec<f32> = (0..cols).map(|_| symmetric(&mut rng)).collect();
        let exact: f32 = w.dequantize().iter().zip(&xf).map(|(a, b)| a * b).sum();
        let got = dot_reference(&w, 0, &Q8_1Rows::quantize(&xf, cols), 0);
        assert!((got - exact).abs() < 0.02, "{got} vs {exact}");
    }
}
