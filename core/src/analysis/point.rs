//! A sweep point: what the pairs' scores at one strength add up to (no_std; no model needed).
use crate::math::logodds::PairScore;
use alloc::vec::Vec;

/// One point of a sweep: averages over the pairs.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct Point {
    pub strength: f32,
    pub n_pairs: usize,
    pub lp: f32,
    pub ln: f32,
    pub pref_odds: f32,
    /// Mean over the pairs where utility is defined; `None` if it is defined for none.
    pub util_odds: Option<f32>,
    pub util_undefined: usize,
}

pub fn summarize(strength: f32, scores: &[PairScore]) -> Point {
    let n = scores.len() as f32;
    let defined: Vec<f32> = scores.iter().filter_map(|s| s.util_odds).collect();
    Point {
        strength,
        n_pairs: scores.len(),
        lp: scores.iter().map(|s| s.lp.mean()).sum::<f32>() / n,
        ln: scores.iter().map(|s| s.ln.mean()).sum::<f32>() / n,
        pref_odds: scores.iter().map(|s| s.pref_odds).sum::<f32>() / n,
        util_odds: (!defined.is_empty()).then(|| defined.iter().sum::<f32>() / defined.len() as f32),
        util_undefined: scores.len() - defined.len(),
    }
}
