//! Comparisons and seeded random values (plain Rust: no tensors, no model).
use steerscope::rng::Rng;

/// max |a − b| over two equally long slices (NaN anywhere gives NaN, which fails every `<=`).
pub fn max_diff(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len(), "max_diff of slices of different lengths");
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, |m, d| if d.is_nan() || m.is_nan() { f32::NAN } else { m.max(d) })
}

/// The largest |x|.
pub fn max_abs(v: &[f32]) -> f32 {
    v.iter().fold(0f32, |a, x| a.max(x.abs()))
}

/// Index of the largest value (the first on ties); NaN never wins.
pub fn argmax(v: &[f32]) -> usize {
    v.iter().enumerate().fold((0, f32::NEG_INFINITY), |b, (i, &x)| if x > b.1 { (i, x) } else { b }).0
}

/// Uniform values in [−1, 1) from the crate's RNG.
pub trait Symmetric {
    /// One value.
    fn symmetric(&mut self) -> f32;
    /// `n` values.
    fn symmetric_vec(&mut self, n: usize) -> Vec<f32> {
        (0..n).map(|_| self.symmetric()).collect()
    }
}

impl Symmetric for Rng {
    fn symmetric(&mut self) -> f32 {
        self.uniform() * 2.0 - 1.0
    }
}

/// Seeded uniform values in [−scale, scale).
pub fn uniform(n: usize, scale: f32, seed: u64) -> Vec<f32> {
    Rng::new(seed).symmetric_vec(n).into_iter().map(|x| x * scale).collect()
}
