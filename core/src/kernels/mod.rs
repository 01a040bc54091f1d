//! Hand-written CPU kernels: the product's hot loops, each with a plain scalar reference that
//! every fast path is tested against.
//!
//! Quantized matrix–vector products ([`q4_1`], [`q8_0`]) lay 16 output rows side by side
//! ([`GROUP`]) so that one SIMD lane owns one row: the integer dot product of a block runs
//! vector-wide, yet each lane adds its row's blocks in the scalar reference's order, so every
//! path returns the reference's bits. [`attention`] is the decode step's attention over a KV
//! cache.
//!
//! Which instruction set runs is an [`Isa`], detected once ([`Isa::best`]) and overridable
//! ([`force`]) so that tests and benchmarks can run every path this CPU has.
pub mod attention;
#[cfg(all(target_arch = "x86_64", feature = "std"))]
mod dot4;
pub mod q4_1;
pub mod q8_0;

use crate::error::{Error, Result};
use core::ops::Range;
use core::sync::atomic::{AtomicU8, Ordering};
use half::f16;
use q4_1::Q8_1Rows;

/// Block scales as the repacked matrices store them. x86-64 keeps the file's f16 (the AVX2 and
/// AVX-512 kernels widen 8 or 16 at once with `vcvtph2ps`, exactly): a Q4_1 block then costs
/// 20 bytes of memory traffic, not 24, and a decode step is bound by that traffic. wasm has no
/// such instruction, so there they are widened to f32 once, at load.
#[cfg(target_arch = "x86_64")]
pub(crate) type Scale = f16;
#[cfg(not(target_arch = "x86_64"))]
pub(crate) type Scale = f32;

/// A file's f16 scale as stored.
#[inline(always)]
pub(crate) fn stored(x: f16) -> Scale {
    #[cfg(target_arch = "x86_64")]
    return x;
    #[cfg(not(target_arch = "x86_64"))]
    return x.to_f32();
}

/// A stored scale as f32 (exact).
#[inline(always)]
pub(crate) fn widen(s: Scale) -> f32 {
    #[cfg(target_arch = "x86_64")]
    return s.to_f32();
    #[cfg(not(target_arch = "x86_64"))]
    return s;
}

/// Output rows interleaved per group in the repacked weight layouts: one lane per row in a
/// 512-bit vector of i32, two 256-bit vectors, or four 128-bit ones.
pub const GROUP: usize = 16;

/// The output rows that weight groups `groups` of a `rows`-row matrix produce.
pub fn group_rows(rows: usize, groups: &Range<usize>) -> Range<usize> {
    groups.start * GROUP..(groups.end * GROUP).min(rows)
}

/// The output of one tile of a grouped matmul: activation rows `acts` × the rows of weight
/// `groups`, row-major (`acts.len() × group_rows`), filled a group's 16 values at a time.
pub(crate) struct Tile<'a> {
    out: &'a mut [f32],
    rows: usize,
    first_row: usize,
    first_act: usize,
    width: usize,
}

impl<'a> Tile<'a> {
    /// Checks the shapes: a `(rows, blocks · 32)` matrix of `groups_total` groups, activations
    /// `x`, and an `out` of the tile's size.
    pub fn new(
        out: &'a mut [f32], (rows, blocks, groups_total): (usize, usize, usize), x: &Q8_1Rows, acts: &Range<usize>,
        groups: &Range<usize>,
    ) -> Tile<'a> {
        assert!(x.blocks_per_row == blocks && acts.end <= x.rows && groups.end <= groups_total);
        let out_rows = group_rows(rows, groups);
        assert_eq!(out.len(), acts.len() * out_rows.len(), "output size");
        Tile { out, rows, first_row: out_rows.start, first_act: acts.start, width: out_rows.len() }
    }

    /// Stores group `g`'s values for activation row `a` (padding rows past the matrix dropped).
    #[inline(always)]
    pub fn put(&mut self, a: usize, g: usize, v: &[f32; GROUP]) {
        let row0 = g * GROUP;
        let n = GROUP.min(self.rows - row0);
        let at = (a - self.first_act) * self.width + row0 - self.first_row;
        self.out[at..at + n].copy_from_slice(&v[..n]);
    }
}

/// An instruction-set path of the kernels.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Isa {
    /// Plain Rust: the reference itself. Always available.
    Scalar,
    /// x86-64 AVX2 (u8×i8 products summed in i16, then i32).
    Avx2,
    /// x86-64 AVX-VNNI: 256-bit `vpdpbusd` (u8×i8 → i32 in one instruction).
    AvxVnni,
    /// x86-64 AVX-512 with VNNI: 512-bit `vpdpbusd`, 16 rows per vector.
    Avx512Vnni,
    /// wasm SIMD128 (i8×i8 → i16 widening products).
    Simd128,
    /// wasm relaxed SIMD: `i32x4.relaxed_dot_i8x16_i7x16_add_s`, exact on 4-bit weights.
    RelaxedSimd,
}

impl Isa {
    /// Every path, in order of preference (fastest first).
    pub const ALL: [Isa; 6] = [Isa::Avx512Vnni, Isa::AvxVnni, Isa::Avx2, Isa::RelaxedSimd, Isa::Simd128, Isa::Scalar];

    /// The name its [`FromStr`](core::str::FromStr) reads (`STEERSCOPE_KERNEL`) and benchmarks print.
    pub fn name(self) -> &'static str {
        match self {
            Isa::Scalar => "scalar",
            Isa::Avx2 => "avx2",
            Isa::AvxVnni => "avx-vnni",
            Isa::Avx512Vnni => "avx512-vnni",
            Isa::Simd128 => "simd128",
            Isa::RelaxedSimd => "relaxed-simd",
        }
    }

    /// Whether this build has the path and this CPU can run it.
    pub fn available(self) -> bool {
        match self {
            Isa::Scalar => true,
            Isa::Avx2 => x86::has(x86::Level::Avx2),
            Isa::AvxVnni => x86::has(x86::Level::AvxVnni),
            Isa::Avx512Vnni => x86::has(x86::Level::Avx512Vnni),
            Isa::Simd128 => cfg!(all(target_arch = "wasm32", target_feature = "simd128")),
            Isa::RelaxedSimd => cfg!(all(target_arch = "wasm32", target_feature = "relaxed-simd")),
        }
    }

    /// The fastest available path.
    pub fn best() -> Isa {
        Isa::ALL.into_iter().find(|i| i.available()).unwrap_or(Isa::Scalar)
    }
}

impl core::str::FromStr for Isa {
    type Err = Error;
    /// ```
    /// use steerscope::kernels::Isa;
    /// assert_eq!("avx2".parse::<Isa>().unwrap(), Isa::Avx2);
    /// assert!("sse9".parse::<Isa>().unwrap_err().to_string().contains("`sse9`"));
    /// ```
    fn from_str(name: &str) -> Result<Isa> {
        crate::error::parse_name(&Isa::ALL, Isa::name, name, "kernel path")
    }
}

/// 0: not chosen yet; otherwise 1 + the index in [`Isa::ALL`].
static ACTIVE: AtomicU8 = AtomicU8::new(0);

/// The path the kernels use: [`Isa::best`] unless [`force`]d.
pub fn active() -> Isa {
    match ACTIVE.load(Ordering::Relaxed) {
        0 => {
            let best = Isa::best();
            ACTIVE.store(index(best), Ordering::Relaxed);
            best
        }
        i => Isa::ALL[i as usize - 1],
    }
}

fn index(isa: Isa) -> u8 {
    1 + Isa::ALL.iter().position(|&i| i == isa).unwrap_or(Isa::ALL.len() - 1) as u8
}

/// Makes every kernel use `isa` (`None`: the best available again), for benchmarks and
/// tests that compare paths end to end. Returns the path in use afterwards; a path this CPU
/// cannot run is refused (the active one stays), so a forced run never executes an illegal
/// instruction.
pub fn force(isa: Option<Isa>) -> Isa {
    match isa {
        Some(i) if i.available() => ACTIVE.store(index(i), Ordering::Relaxed),
        Some(_) => {}
        None => ACTIVE.store(0, Ordering::Relaxed),
    }
    active()
}

/// Run-time CPU feature detection (std only; without std only what the build targets).
mod x86 {
    pub enum Level {
        Avx2,
        AvxVnni,
        Avx512Vnni,
    }

    #[cfg(all(target_arch = "x86_64", feature = "std"))]
    pub fn has(level: Level) -> bool {
        use std::is_x86_feature_detected as has;
        let avx2 = has!("avx2") && has!("fma") && has!("f16c");
        match level {
            Level::Avx2 => avx2,
            Level::AvxVnni => avx2 && has!("avxvnni"),
            Level::Avx512Vnni => avx2 && has!("avx512f") && has!("avx512bw") && has!("avx512vnni"),
        }
    }

    #[cfg(not(all(target_arch = "x86_64", feature = "std")))]
    pub fn has(_: Level) -> bool {
        false
    }
}

/// What the kernels' tests share: seeded values, and the check that every path is exact.
#[cfg(test)]
pub(crate) mod testing {
    use super::{group_rows, Isa};
    use crate::rng::Rng;
    use alloc::{format, vec, vec::Vec};
    use core::ops::Range;

    /// A seeded value in [−1, 1) from the crate's one RNG.
    pub fn symmetric(rng: &mut Rng) -> f32 {
        rng.uniform() * 2.0 - 1.0
    }

    /// Every path this CPU runs gives `reference(a, r)`'s exact bits for each activation row
    /// `a < m` and weight row `r < rows` of a matmul of `groups` weight groups — whole, and on
    /// a sub-tile (the later activation rows × the groups after the first). `tile(acts, groups,
    /// isa, out)` is the kernel's tile entry point.
    pub fn assert_every_path_exact(
        what: &str, (m, rows, groups): (usize, usize, usize), reference: impl Fn(usize, usize) -> f32,
        tile: impl Fn(Range<usize>, Range<usize>, Isa, &mut [f32]),
    ) {
        let want: Vec<u32> =
            (0..m).flat_map(|a| (0..rows).map(move |r| (a, r))).map(|(a, r)| reference(a, r).to_bits()).collect();
        for isa in Isa::ALL.into_iter().filter(|i| i.available()) {
            let mut out = vec![0f32; m * rows];
            tile(0..m, 0..groups, isa, &mut out);
            let got: Vec<u32> = out.iter().map(|v| v.to_bits()).collect();
            assert_eq!(got, want, "{isa:?} on {what}");
            if groups > 1 {
                let (acts, part_groups) = (m / 2..m, 1..groups);
                let part_rows = group_rows(rows, &part_groups);
                let mut part = vec![0f32; acts.len() * part_rows.len()];
                tile(acts.clone(), part_groups, isa, &mut part);
                for (i, a) in acts.enumerate() {
                    for (c, r) in part_rows.clone().enumerate() {
                        let at = format!("{isa:?} sub-tile on {what}: activation {a}, row {r}");
                        assert_eq!(part[i * part_rows.len() + c].to_bits(), want[a * rows + r], "{at}");
                    }
                }
            }
        }
    }
}
