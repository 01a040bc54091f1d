//! Plain f32 vector math shared by the methods and the analysis (no_std).
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

/// The L2 norm.
pub fn norm(v: &[f32]) -> f32 {
    libm::sqrtf(v.iter().map(|x| x * x).sum())
}
