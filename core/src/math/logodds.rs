//! Preference and utility log-odds (Xu et al., "Why Steering Works", §3.2).
//!
//! For a polarity pair with losses `L_p` (concept-positive completion) and `L_n` (negative):
//! `PrefOdds = L_n − L_p` and `UtilOdds = log[(e^−L_p + e^−L_n) / (1 − e^−L_p − e^−L_n)]`.
//! Utility is undefined when `e^−L_p + e^−L_n ≥ 1` (possible with length-normalised losses):
//! that is `None`, never a NaN.

/// `L_n − L_p`: how much more likely the concept-positive completion is, in nats.
pub fn pref_odds(lp: f32, ln: f32) -> f32 {
    ln - lp
}

/// `log[(e^−L_p + e^−L_n) / (1 − e^−L_p − e^−L_n)]`: the log-odds that the model produces a
/// valid completion at all; `None` where `e^−L_p + e^−L_n ≥ 1`.
pub fn util_odds(lp: f32, ln: f32) -> Option<f32> {
    let (lp, ln) = (lp as f64, ln as f64);
    let mass = libm::exp(-lp) + libm::exp(-ln);
    if !mass.is_finite() || mass >= 1.0 {
        return None;
    }
    Some((libm::log(mass) - libm::log1p(-mass)) as f32)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formulas() {
        assert_eq!(pref_odds(2.0, 5.0), 3.0);
        // e^-1 + e^-2 = 0.5032: log(0.5032/0.4968)
        let u = util_odds(1.0, 2.0).unwrap();
        let m = (-1f64).exp() + (-2f64).exp();
        assert!((u as f64 - (m / (1.0 - m)).ln()).abs() < 1e-6);
        assert_eq!(util_odds(0.1, 0.2), None);
        assert_eq!(util_odds(f32::NAN, 1.0), None);
    }
}

/// Negative log-likelihood of a completion: its sum and token count.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct Nll {
    /// `−Σ log p(token)` over the completion.
    pub sum: f32,
    /// Tokens in the completion.
    pub tokens: usize,
}

impl Nll {
    /// Length-normalised (per-token mean) loss.
    pub fn mean(&self) -> f32 {
        self.sum / self.tokens as f32
    }
}

/// One pair's losses under a steering, and its log-odds.
#[derive(Debug, Clone, serde::Serialize)]
pub struct PairScore {
    /// The concept-positive completion's loss.
    pub lp: Nll,
    /// The concept-negative completion's loss.
    pub ln: Nll,
    /// Preference log-odds from the length-normalised losses.
    pub pref_odds: f32,
    /// Utility log-odds from the length-normalised losses (`None` where undefined).
    pub util_odds: Option<f32>,
}

impl PairScore {
    /// The log-odds of a pair from its two losses (length-normalised: per-token means).
    pub fn new(lp: Nll, ln: Nll) -> Self {
        PairScore { lp, ln, pref_odds: pref_odds(lp.mean(), ln.mean()), util_odds: util_odds(lp.mean(), ln.mean()) }
    }

    /// Preference log-odds from the summed completion losses, `L_n,sum − L_p,sum`: the paper's
    /// primary definition; unlike the per-token form it is not diluted by tokens the two
    /// completions share.
    pub fn pref_odds_summed(&self) -> f32 {
        pref_odds(self.lp.sum, self.ln.sum)
    }

    /// Utility log-odds from the summed completion losses (`None` where undefined, which the
    /// summed form makes rarer: `e^−L_p + e^−L_n ≥ 1` needs two near-certain completions).
    pub fn util_odds_summed(&self) -> Option<f32> {
        util_odds(self.lp.sum, self.ln.sum)
    }

    /// Whether the model prefers the positive completion: `L_p,sum < L_n,sum` (summed losses,
    /// the probability of the whole completion; a tie counts as not preferred).
    pub fn prefers_positive(&self) -> bool {
        self.lp.sum < self.ln.sum
    }
}
