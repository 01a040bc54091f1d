//! Preference and utility of a steering on held-out polarity pairs.
use crate::error::{Error, Result};
use crate::math::logodds::{pref_odds, util_odds};
use crate::model::pairs::PairScore;
use crate::model::score::{completion_nll, prefix, PairTokens};
use crate::model::{Llama, Steering};
use alloc::vec::Vec;

/// One point of a sweep: averages over the pairs.
#[derive(Debug, Clone, serde::Serialize)]
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

/// Scores every pair; the prompt is run once per pair and shared by both completions.
pub fn score_pairs(
    llama: &Llama, pairs: &[PairTokens], steering: &Steering, mut progress: impl FnMut(usize, usize),
) -> Result<Vec<PairScore>> {
    if pairs.is_empty() {
        return Err(Error::EmptyDataset);
    }
    let mut out = Vec::with_capacity(pairs.len());
    for (i, p) in pairs.iter().enumerate() {
        let pre = prefix(llama, &p.prompt, steering)?;
        let lp = completion_nll(llama, &pre, &p.positive, steering)?;
        let ln = completion_nll(llama, &pre, &p.negative, steering)?;
        out.push(PairScore {
            lp,
            ln,
            pref_odds: pref_odds(lp.mean(), ln.mean()),
            util_odds: util_odds(lp.mean(), ln.mean()),
        });
        progress(i + 1, pairs.len());
    }
    Ok(out)
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
