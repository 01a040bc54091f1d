//! Calibration: which layer and which strength to use. A layer × strength grid of held-out
//! preference and utility, read under a utility budget: the recommendation is the cell with
//! the largest preference gain whose utility drop (from the same layer's unsteered utility)
//! stays within the budget. "No effect or gibberish" is the usual result of guessing instead.
use crate::error::{Error, Result};
use alloc::{format, string::String, vec::Vec};

/// One grid cell, with its strength in every unit a user may think in.
#[derive(Debug, Clone, Copy, serde::Serialize)]
pub struct Cell {
    /// The layer steered.
    pub layer: usize,
    /// The shared unit: 10 = `Δh` of half the layer's mean residual norm.
    pub strength: f32,
    /// The same strength as a multiple of the vector as fitted (what `generate --steer` takes).
    pub raw_multiple: f32,
    /// `‖Δh‖` as a fraction of the layer's mean residual norm.
    pub norm_fraction: f32,
    /// Held-out preference log-odds.
    pub pref_odds: f32,
    /// Held-out utility log-odds (mean over the pairs where it is defined).
    pub util_odds: Option<f32>,
}

/// The cell to use under a utility budget.
#[derive(Debug, Clone, Copy, serde::Serialize)]
pub struct Recommendation {
    /// The recommended (layer, strength).
    #[serde(flatten)]
    pub cell: Cell,
    /// Its preference over its layer's unsteered cell.
    pub pref_gain: f32,
    /// Its utility below its layer's unsteered cell.
    pub util_drop: f32,
}

/// The cell with the highest preference gain over its layer's `m = 0` cell among cells with
/// `m > 0` and a utility drop ≤ `budget`. A budget ≤ 0, or one above every measured drop (it
/// would constrain nothing), is refused with the measured range.
pub fn recommend(cells: &[Cell], budget: f32) -> Result<Recommendation> {
    if !(budget.is_finite() && budget > 0.0) {
        return Err(Error::Invalid(format!("utility budget must be a positive number of log-odds, got {budget}")));
    }
    let zero = |layer: usize| cells.iter().find(|c| c.layer == layer && c.strength == 0.0);
    let scored: Vec<(Cell, f32, f32)> = cells
        .iter()
        .filter(|c| c.strength > 0.0)
        .filter_map(|c| {
            let z = zero(c.layer)?;
            Some((*c, c.pref_odds - z.pref_odds, z.util_odds? - c.util_odds?))
        })
        .collect();
    if scored.is_empty() {
        return Err(Error::Invalid(
            "no calibration cell with m > 0, a defined utility and an m = 0 cell at its layer".into(),
        ));
    }
    let max_drop = scored.iter().map(|s| s.2).fold(f32::MIN, f32::max);
    if budget > max_drop {
        return Err(Error::Invalid(format!(
            "utility budget {budget} is outside the measured range: the largest drop measured is {max_drop:.3}, so it would constrain nothing — choose a budget below it (or sweep larger strengths)"
        )));
    }
    scored
        .iter()
        .filter(|s| s.2 <= budget)
        .max_by(|a, b| a.1.total_cmp(&b.1))
        .map(|&(cell, pref_gain, util_drop)| Recommendation { cell, pref_gain, util_drop })
        .ok_or_else(|| {
            Error::Invalid(format!("every measured cell drops utility by more than {budget}: try smaller strengths"))
        })
}

/// A calibration grid and what it recommends.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Calibration {
    /// The method fitted at every layer.
    pub method: String,
    /// The utility budget of the recommendation.
    pub budget: f32,
    /// Every (layer, strength) measured on the held-out pairs.
    pub cells: Vec<Cell>,
    /// The recommended cell, or why there is none.
    pub recommendation: core::result::Result<Recommendation, String>,
}

#[cfg(feature = "model")]
impl Calibration {
    /// Fits `method` (DiffMean or PCA, at the residual site) at every layer from one pass over
    /// the training pairs, sweeps `strengths` (which must include 0) on the held-out pairs at
    /// each layer, and recommends a cell under `budget`. Progress: one unit per (layer, strength)
    /// after the training pass.
    pub fn run(
        llama: &crate::model::Llama, train: &[crate::model::score::PairTokens],
        test: &[crate::model::score::PairTokens], method: crate::steer::methods::Method, layers: &[usize],
        strengths: &[f32], budget: f32, mut progress: impl crate::progress::Progress,
    ) -> Result<Self> {
        use crate::analysis::session::{Direction, Split, SweepSession};
        use crate::model::{pairs::Prepared, pairs::Read, sites::Positions, Site};
        use crate::progress::Part;
        if method.is_trained() {
            return Err(Error::Invalid(format!("calibrate fits diffmean or pca, not `{method}`")));
        }
        if !strengths.contains(&0.0) {
            return Err(Error::Invalid("the strengths must include 0 (the unsteered reference)".into()));
        }
        if !(budget.is_finite() && budget > 0.0) {
            return Err(Error::Invalid(format!("utility budget must be a positive number of log-odds, got {budget}")));
        }
        if layers.is_empty() {
            return Err(Error::Invalid("no layer to calibrate".into()));
        }
        for &l in layers {
            llama.config.check_layer(l)?;
        }
        let sites: Vec<(usize, Site)> = layers.iter().map(|&l| (l, Site::Residual)).collect();
        let acts = Prepared::new(llama, train, 0, |_, _| {})?.read_activations(
            llama,
            &sites,
            Read::CompletionMean,
            |_, _| {},
        )?;
        let total = layers.len() * strengths.len();
        let mut cells = Vec::with_capacity(total);
        for (i, &layer) in layers.iter().enumerate() {
            let mut session = SweepSession::new(llama, train.to_vec(), test.to_vec(), layer)?;
            let steered = session.fit(llama, method, Site::Residual, Positions::All, Some(&acts), 1, |_, _| {})?;
            let unit = steered.scale.to_strength_units();
            let part = Part { whole: &mut progress, before: i * strengths.len(), total };
            let sweep = session.sweep(llama, Split::Test, Direction::Update, strengths, part)?;
            cells.extend(sweep.points.iter().map(|p| Cell {
                layer,
                strength: p.point.strength,
                raw_multiple: p.point.strength * unit,
                norm_fraction: p.point.strength * crate::steer::strength::STRENGTH_UNIT,
                pref_odds: p.point.pref_odds,
                util_odds: p.point.util_odds,
            }));
        }
        let recommendation = recommend(&cells, budget).map_err(|e| format!("{e}"));
        Ok(Calibration { method: method.name(), budget, cells, recommendation })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::string::ToString;

    fn cell(layer: usize, strength: f32, pref: f32, util: f32) -> Cell {
        Cell {
            layer,
            strength,
            raw_multiple: strength,
            norm_fraction: strength * 0.05,
            pref_odds: pref,
            util_odds: Some(util),
        }
    }

    #[test]
    fn picks_the_best_gain_within_budget() {
        let cells = [
            cell(5, 0.0, 0.0, -2.0),
            cell(5, 2.0, 0.5, -2.2),
            cell(5, 4.0, 1.5, -4.0),
            cell(9, 0.0, 1.0, -1.0),
            cell(9, 2.0, 1.8, -1.4),
            cell(9, 4.0, 2.0, -3.5),
        ];
        let r = recommend(&cells, 0.5).unwrap();
        assert_eq!((r.cell.layer, r.cell.strength), (9, 2.0));
        assert!((r.pref_gain - 0.8).abs() < 1e-6 && (r.util_drop - 0.4).abs() < 1e-6);
        // A looser budget admits layer 5 at strength 4 (gain 1.5, drop 2.0).
        assert_eq!(recommend(&cells, 2.0).unwrap().cell.layer, 5);
        assert!(recommend(&cells, 10.0).unwrap_err().to_string().contains("outside the measured range"));
        assert!(recommend(&cells, -1.0).unwrap_err().to_string().contains("positive"));
        assert!(recommend(&cells, 0.1).unwrap_err().to_string().contains("more than 0.1"));
    }
}
