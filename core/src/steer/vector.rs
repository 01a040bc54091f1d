//! Plain vector math shared by the methods (no_std).
use alloc::vec::Vec;

/// Mean of equally long rows.
pub fn mean_rows<'a>(rows: impl IntoIterator<Item = &'a [f32]>) -> Vec<f32> {
    let mut sum: Vec<f32> = Vec::new();
    let mut n = 0usize;
    for r in rows {
        if sum.is_empty() {
            sum.resize(r.len(), 0.0);
        }
        sum.iter_mut().zip(r).for_each(|(s, x)| *s += x);
        n += 1;
    }
    sum.iter_mut().for_each(|s| *s /= n.max(1) as f32);
    sum
}

pub fn norm(v: &[f32]) -> f32 {
    libm::sqrtf(v.iter().map(|x| x * x).sum())
}

/// The strength unit shared by the CLI and the page: a vector is rescaled so that strength 1
/// adds this fraction of the layer's mean activation norm (10 → half the norm). Raw vector
/// norms differ ~20× across layers, so raw multiples would mean something else at each layer;
/// on SmolLM2, text collapses around half the norm.
pub const STRENGTH_UNIT: f32 = 0.05;

/// `v` rescaled to the [`STRENGTH_UNIT`] for a layer whose mean activation norm is `mean_norm`.
pub fn in_strength_units(v: &[f32], mean_norm: f32) -> Vec<f32> {
    let scale = STRENGTH_UNIT * mean_norm / norm(v).max(f32::MIN_POSITIVE);
    v.iter().map(|x| x * scale).collect()
}
