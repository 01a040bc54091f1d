//! A sweep point: what the pairs' scores at one strength add up to, with bootstrap intervals
//! over pairs (no_std; no model needed), and the per-pair rows behind it.
//!
//! Two forms of each log-odds are reported because they answer different questions
//! (notes/steering.md §7): the **per-token** form (`pref_odds`, `util_odds`; losses divided by
//! the completion's token count) compares completions of different lengths fairly but dilutes
//! preference with tokens both completions share, and can leave utility undefined; the
//! **summed** form (`pref_odds_summed`, `util_odds_summed`; the losses of whole completions) is
//! the paper's primary definition. `accuracy` uses the summed losses.
//!
//! Intervals: 95% percentile bootstrap over pairs ([`crate::math::bootstrap`]:
//! [`RESAMPLES`](crate::math::bootstrap::RESAMPLES) resamples, a fixed seed per statistic, so
//! the same scores always give the same intervals). `None` with fewer than 2 pairs (fewer than 2
//! defined pairs for utility): one pair has no spread to resample.
use crate::math::bootstrap::{mean_interval, Interval};
use crate::math::logodds::PairScore;
use alloc::vec::Vec;

/// One point of a sweep: averages over the pairs, and their 95% bootstrap intervals.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Point {
    /// The steering strength this point was measured at.
    pub strength: f32,
    /// Pairs scored.
    pub n_pairs: usize,
    /// Mean over pairs of the positive completion's per-token loss.
    pub lp: f32,
    /// Mean over pairs of the negative completion's per-token loss.
    pub ln: f32,
    /// Mean over pairs of the per-token preference log-odds `L̄_n − L̄_p`.
    pub pref_odds: f32,
    /// Its 95% bootstrap interval over pairs.
    pub pref_odds_ci: Option<Interval>,
    /// Mean over pairs of the summed preference log-odds `L_n,sum − L_p,sum`.
    pub pref_odds_summed: f32,
    /// Its 95% bootstrap interval over pairs.
    pub pref_odds_summed_ci: Option<Interval>,
    /// Fraction of pairs whose positive completion has the lower *summed* loss
    /// (`L_p,sum < L_n,sum`; ties count as wrong).
    pub accuracy: f32,
    /// Its 95% bootstrap interval over pairs.
    pub accuracy_ci: Option<Interval>,
    /// Per-token utility log-odds: mean over the pairs where it is defined; `None` if it is
    /// defined for none.
    pub util_odds: Option<f32>,
    /// Its 95% bootstrap interval, resampling the pairs where it is defined.
    pub util_odds_ci: Option<Interval>,
    /// Pairs whose per-token utility is undefined (`e^−L̄_p + e^−L̄_n ≥ 1`).
    pub util_undefined: usize,
    /// Summed-loss utility log-odds: mean over the pairs where it is defined.
    pub util_odds_summed: Option<f32>,
    /// Its 95% bootstrap interval, resampling the pairs where it is defined.
    pub util_odds_summed_ci: Option<Interval>,
    /// Pairs whose summed-loss utility is undefined.
    pub util_summed_undefined: usize,
}

/// One pair's numbers at one strength: a row of a `--per-pair` file.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct PairRow {
    /// The steering strength.
    pub strength: f32,
    /// The pair's position in its dataset (0-based).
    pub index: usize,
    /// Summed loss of the positive completion (nats).
    pub lp_sum: f32,
    /// Tokens in the positive completion.
    pub lp_tokens: usize,
    /// Summed loss of the negative completion (nats).
    pub ln_sum: f32,
    /// Tokens in the negative completion.
    pub ln_tokens: usize,
    /// Per-token preference log-odds.
    pub pref_odds: f32,
    /// Summed preference log-odds.
    pub pref_odds_summed: f32,
    /// `L_p,sum < L_n,sum`: the pair counts toward accuracy.
    pub prefers_positive: bool,
    /// Per-token utility log-odds (`None` where undefined).
    pub util_odds: Option<f32>,
    /// Summed-loss utility log-odds (`None` where undefined).
    pub util_odds_summed: Option<f32>,
}

/// Base seed of the intervals; each statistic adds its own offset so that their resamples are
/// not the same draws.
const SEED: u64 = 0x5EED_B007;

/// Summarises the pairs' scores at `strength`. With no scores the means are NaN (JSON `null`)
/// and every interval is `None`.
pub fn summarize(strength: f32, scores: &[PairScore]) -> Point {
    let col = |f: &dyn Fn(&PairScore) -> f64| -> Vec<f64> { scores.iter().map(f).collect() };
    let defined = |f: &dyn Fn(&PairScore) -> Option<f32>| -> Vec<f64> {
        scores.iter().filter_map(|s| f(s).map(f64::from)).collect()
    };
    let pref = col(&|s| s.pref_odds as f64);
    let pref_summed = col(&|s| s.pref_odds_summed() as f64);
    let correct = col(&|s| if s.prefers_positive() { 1.0 } else { 0.0 });
    let util = defined(&|s| s.util_odds);
    let util_summed = defined(&|s| s.util_odds_summed());
    Point {
        strength,
        n_pairs: scores.len(),
        lp: mean(&col(&|s| s.lp.mean() as f64)),
        ln: mean(&col(&|s| s.ln.mean() as f64)),
        pref_odds: mean(&pref),
        pref_odds_ci: mean_interval(&pref, SEED),
        pref_odds_summed: mean(&pref_summed),
        pref_odds_summed_ci: mean_interval(&pref_summed, SEED + 1),
        accuracy: mean(&correct),
        accuracy_ci: mean_interval(&correct, SEED + 2),
        util_odds: (!util.is_empty()).then(|| mean(&util)),
        util_odds_ci: mean_interval(&util, SEED + 3),
        util_undefined: scores.len() - util.len(),
        util_odds_summed: (!util_summed.is_empty()).then(|| mean(&util_summed)),
        util_odds_summed_ci: mean_interval(&util_summed, SEED + 4),
        util_summed_undefined: scores.len() - util_summed.len(),
    }
}

/// Each pair's numbers at `strength`, in dataset order.
pub fn pair_rows(strength: f32, scores: &[PairScore]) -> Vec<PairRow> {
    scores
        .iter()
        .enumerate()
        .map(|(index, s)| PairRow {
            strength,
            index,
            lp_sum: s.lp.sum,
            lp_tokens: s.lp.tokens,
            ln_sum: s.ln.sum,
            ln_tokens: s.ln.tokens,
            pref_odds: s.pref_odds,
            pref_odds_summed: s.pref_odds_summed(),
            prefers_positive: s.prefers_positive(),
            util_odds: s.util_odds,
            util_odds_summed: s.util_odds_summed(),
        })
        .collect()
}

/// Mean in f64 (sums of a thousand log-odds lose digits in f32), reported as f32.
fn mean(x: &[f64]) -> f32 {
    (x.iter().sum::<f64>() / x.len() as f64) as f32
}
