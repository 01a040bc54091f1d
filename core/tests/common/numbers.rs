//! Comparisons and seeded random values (plain Rust: no tensors, no model).
use steerscope::rng::Rng;

/// max |a − b| over two equally long slices (NaN anywhere gives NaN, which fails every `<=`).
pub fn max_diff(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len(), "max_diff of slices of different lengths");
    a.iter().zip(b).map(|(x, y)| (x - y).abs()).fold(0.0, nan_max)
}

/// The largest |x| (NaN anywhere gives NaN).
pub fn max_abs(v: &[f32]) -> f32 {
    v.iter().map(|x| x.abs()).fold(0.0, nan_max)
}

/// `f32::max` that keeps a NaN instead of skipping it (`fold(f32::max)` would let a NaN pass
/// every bound).
fn nan_max(m: f32, x: f32) -> f32 {
    if x.is_nan() || m.is_nan() {
        f32::NAN
    } else {
        m.max(x)
    }
}

/// Index of the largest value (the first on ties); NaN never wins.
pub fn argmax(v: &[f32]) -> usize {
    v.iter().enumerate().fold((0, f32::NEG_INFINITY), |b, (i, &x)| if x > b.1 { (i, x) } else { b }).0
}

/// `log softmax(v)` with the normaliser summed in f64 (NaN anywhere gives NaN everywhere): the
/// plain reference the engines' log-probabilities are checked against.
pub fn log_softmax_f64(v: &[f32]) -> Vec<f64> {
    let m = v.iter().copied().fold(f32::NEG_INFINITY, nan_max) as f64;
    let lse = m + v.iter().map(|&x| (x as f64 - m).exp()).sum::<f64>().ln();
    v.iter().map(|&x| x as f64 - lse).collect()
}

/// [`log_softmax_f64`] rounded to f32, for comparing with f32 outputs.
pub fn log_softmax(v: &[f32]) -> Vec<f32> {
    log_softmax_f64(v).into_iter().map(|x| x as f32).collect()
}

/// Uniform values in [−1, 1) from the crate's RNG.
pub trait Symmetric {
    /// One value.
    fn symmetric(&mut self) -> f32;
    /// `n` values.
    fn symmetric_vec(&mut self, n: usize) -> Vec<f32> {
        (0..n).map(|_| self.symmetric()).collect()
    }
    /// `n` values in [−scale, scale).
    fn scaled_vec(&mut self, n: usize, scale: f32) -> Vec<f32> {
        (0..n).map(|_| self.symmetric() * scale).collect()
    }
}

impl Symmetric for Rng {
    fn symmetric(&mut self) -> f32 {
        self.uniform() * 2.0 - 1.0
    }
}

/// Seeded uniform values in [−scale, scale).
pub fn uniform(n: usize, scale: f32, seed: u64) -> Vec<f32> {
    Rng::new(seed).scaled_vec(n, scale)
}
