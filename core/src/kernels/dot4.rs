//! The four-byte u8 × i8 dot product of the 256-bit x86 paths, written once so that each
//! quantized kernel has one body for AVX2 and AVX-VNNI.
//!
//! AVX2 multiplies byte pairs into i16 sums (`vpmaddubsw`) and widens them to i32 lanes
//! (`vpmaddwd` by ones); AVX-VNNI adds a lane's four products straight into its i32
//! (`vpdpbusd`). A kernel generic over [`Dot4`] is `#[inline(always)]` and instantiated inside
//! a `#[target_feature]` function per path, where these steps compile to that path's
//! instructions (the pattern of the `memchr` crate's vector code).
use core::arch::x86_64::*;

/// One path's way to add `u[k]·i[k]` over each 4-byte group (`u` unsigned, `i` signed) of two
/// 256-bit vectors into the group's 32-bit lane.
pub(crate) trait Dot4 {
    /// `acc` (i32 lanes) plus the products, exact.
    ///
    /// # Safety
    /// The path's target features are enabled where this is inlined.
    unsafe fn dot_i32(acc: __m256i, u: __m256i, i: __m256i) -> __m256i;

    /// `acc` plus the products in the path's cheapest exact accumulator: pairs of i16 on AVX2
    /// (the caller keeps each pair's running sum under 32768), i32 lanes on VNNI. [`Dot4::widen`]
    /// makes it i32 lanes.
    ///
    /// # Safety
    /// As [`Dot4::dot_i32`].
    unsafe fn dot_short(acc: __m256i, u: __m256i, i: __m256i) -> __m256i;

    /// A [`Dot4::dot_short`] accumulator as i32 lanes.
    ///
    /// # Safety
    /// As [`Dot4::dot_i32`].
    unsafe fn widen(acc: __m256i) -> __m256i;
}

/// AVX2: `vpmaddubsw`, then `vpmaddwd` by ones.
pub(crate) struct Avx2;

/// AVX-VNNI: `vpdpbusd`.
pub(crate) struct AvxVnni;

impl Dot4 for Avx2 {
    #[inline(always)]
    unsafe fn dot_i32(acc: __m256i, u: __m256i, i: __m256i) -> __m256i {
        // SAFETY: AVX2 is enabled where this is inlined (the trait's contract).
        unsafe { _mm256_add_epi32(acc, Self::widen(_mm256_maddubs_epi16(u, i))) }
    }

    #[inline(always)]
    unsafe fn dot_short(acc: __m256i, u: __m256i, i: __m256i) -> __m256i {
        // SAFETY: as above.
        unsafe { _mm256_add_epi16(acc, _mm256_maddubs_epi16(u, i)) }
    }

    #[inline(always)]
    unsafe fn widen(acc: __m256i) -> __m256i {
        // SAFETY: as above.
        unsafe { _mm256_madd_epi16(acc, _mm256_set1_epi16(1)) }
    }
}

impl Dot4 for AvxVnni {
    #[inline(always)]
    unsafe fn dot_i32(acc: __m256i, u: __m256i, i: __m256i) -> __m256i {
        // SAFETY: AVX-VNNI is enabled where this is inlined (the trait's contract).
        unsafe { _mm256_dpbusd_avx_epi32(acc, u, i) }
    }

    #[inline(always)]
    unsafe fn dot_short(acc: __m256i, u: __m256i, i: __m256i) -> __m256i {
        // SAFETY: as above.
        unsafe { Self::dot_i32(acc, u, i) }
    }

    #[inline(always)]
    unsafe fn widen(acc: __m256i) -> __m256i {
        acc
    }
}
