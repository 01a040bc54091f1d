//! Preference and utility of a steering on held-out polarity pairs.
use crate::error::{Error, Result};
use crate::math::logodds::PairScore;
use crate::model::score::{completion_nll, prefix, PairTokens};
use crate::model::{Llama, Steering};
use alloc::vec::Vec;

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
        out.push(PairScore::new(lp, ln));
        progress(i + 1, pairs.len());
    }
    Ok(out)
}
