//! Calibration: which layer and which strength to use. A layer × strength grid of held-out
//! preference and utility, read under a utility budget: the recommendation is the cell with
//! the largest preference gain whose utility drop (from the same layer's unsteered utility)
//! stays within the budget. "No effect or gibberish" is the usual result of guessing instead.
use crate::error::{Error, Result};
use alloc::{format, string::String, vec::Vec};

/// One grid cell, with its strength in every unit a user may think in.
#[derive(Debug, Clone, Copy, serde::Serialize, serde::Deserialize)]
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
#[derive(Debug, Clone, Copy, serde::Serialize, serde::Deserialize)]
pub struct Recommendation {
    /// The recommended (layer, strength).
    #[serde(flatten)]
    pub cell: Cell,
    /// Its preference over its layer's unsteered cell.
    pub pref_gain: f32,
    /// Its utility below its layer's unsteered cell.
    pub util_drop: f32,
}

/// A cell as a change from its layer's unsteered (`m = 0`) cell: what the heatmaps colour.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct Change {
    /// The cell's layer.
    pub layer: usize,
    /// The cell's strength.
    pub strength: f32,
    /// Preference here minus at `m = 0` of the same layer.
    pub pref_gain: f32,
    /// Utility at `m = 0` of the same layer minus here (positive = utility lost); `None` where
    /// either is undefined.
    pub util_drop: Option<f32>,
}

/// Every cell that has an `m = 0` cell at its layer, as a [`Change`] from it (in cell order).
pub fn changes(cells: &[Cell]) -> Vec<Change> {
    cells.iter().filter_map(|c| change(cells, c)).collect()
}

fn change(cells: &[Cell], c: &Cell) -> Option<Change> {
    let z = cells.iter().find(|z| z.layer == c.layer && z.strength == 0.0)?;
    Some(Change {
        layer: c.layer,
        strength: c.strength,
        pref_gain: c.pref_odds - z.pref_odds,
        util_drop: z.util_odds.zip(c.util_odds).map(|(z, u)| z - u),
    })
}

/// The cell with the highest preference gain over its layer's `m = 0` cell among cells with
/// `m > 0` and a utility drop ≤ `budget`. A budget ≤ 0, or one above every measured drop (it
/// would constrain nothing), is refused with the measured range.
pub fn recommend(cells: &[Cell], budget: f32) -> Result<Recommendation> {
    if !(budget.is_finite() && budget > 0.0) {
        return Err(Error::Invalid(format!("utility budget must be a positive number of log-odds, got {budget}")));
    }
    let scored: Vec<(Cell, f32, f32)> = cells
        .iter()
        .filter(|c| c.strength > 0.0)
        .filter_map(|c| {
            let d = change(cells, c)?;
            Some((*c, d.pref_gain, d.util_drop?))
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
    /// Every cell as a change from its layer's `m = 0` cell (what the heatmaps colour).
    pub changes: Vec<Change>,
    /// The recommended cell, or why there is none.
    pub recommendation: core::result::Result<Recommendation, String>,
}

/// Where a calibration scores its held-out points when not on the CPU.
#[cfg(feature = "model")]
type Engine = alloc::rc::Rc<dyn crate::model::pairs::PairEngine>;

#[cfg(feature = "model")]
impl Calibration {
    /// Fits `method` (DiffMean or PCA, at the residual site) at every layer from one pass over
    /// the training pairs, sweeps `strengths` (which must include 0) on the held-out pairs at
    /// each layer, and recommends a cell under `budget`. Progress: as [`Calibration::run_with`],
    /// after the training pass.
    #[allow(clippy::too_many_arguments)]
    pub fn run(
        llama: &crate::model::Llama, train: &[crate::model::score::PairTokens],
        test: &[crate::model::score::PairTokens], method: crate::steer::methods::Method, layers: &[usize],
        strengths: &[f32], budget: f32, engine: Option<&Engine>, progress: impl crate::progress::Progress,
    ) -> Result<Self> {
        use crate::model::{pairs::Prepared, pairs::Read, Site};
        check(llama, method, layers, strengths, budget)?;
        let sites: Vec<(usize, Site)> = layers.iter().map(|&l| (l, Site::Residual)).collect();
        let acts = Prepared::new(llama, train, 0, |_, _| {})?.read_activations(
            llama,
            &sites,
            Read::CompletionMean,
            |_, _| {},
        )?;
        Self::run_with(llama, &acts, train, test, method, layers, strengths, budget, engine, progress)
    }

    /// [`Calibration::run`] with the training pairs' activations already read (they must
    /// include the residual site of every layer in `layers`; the page reads every layer and
    /// site once). The held-out points are scored on `engine` (e.g. the GPU) when given, else on
    /// the CPU. Progress: one unit per held-out pair of each (layer, strength); stopping through
    /// it ends the grid with [`Error::Cancelled`].
    #[allow(clippy::too_many_arguments)]
    pub fn run_with(
        llama: &crate::model::Llama, activations: &crate::model::pairs::Activations,
        train: &[crate::model::score::PairTokens], test: &[crate::model::score::PairTokens],
        method: crate::steer::methods::Method, layers: &[usize], strengths: &[f32], budget: f32,
        engine: Option<&Engine>, mut progress: impl crate::progress::Progress,
    ) -> Result<Self> {
        use crate::analysis::session::{Direction, Split, SweepSession};
        use crate::model::{sites::Positions, Site};
        use crate::progress::Share;
        check(llama, method, layers, strengths, budget)?;
        for &l in layers {
            activations.at(l, Site::Residual)?;
        }
        let per_cell = test.len();
        let total = layers.len() * strengths.len() * per_cell;
        let mut cells = Vec::with_capacity(layers.len() * strengths.len());
        for (i, &layer) in layers.iter().enumerate() {
            let mut session = SweepSession::new(llama, train.to_vec(), test.to_vec(), layer)?;
            session.score_on(engine.cloned());
            let steered =
                session.fit(llama, method, Site::Residual, Positions::All, Some(activations), 1, |_, _| {})?;
            let unit = steered.scale.to_strength_units();
            for (j, &m) in strengths.iter().enumerate() {
                let before = (i * strengths.len() + j) * per_cell;
                let p = session.point(
                    llama,
                    Split::Test,
                    Direction::Update,
                    m,
                    Share { whole: &mut progress, before, units: per_cell, total },
                )?;
                cells.push(Cell {
                    layer,
                    strength: m,
                    raw_multiple: m * unit,
                    norm_fraction: m * crate::steer::strength::STRENGTH_UNIT,
                    pref_odds: p.point.pref_odds,
                    util_odds: p.point.util_odds,
                });
            }
            if session.applied(Split::Test) == Some(false) {
                return Err(Error::NotApplied);
            }
        }
        let recommendation = recommend(&cells, budget).map_err(|e| format!("{e}"));
        Ok(Calibration { method: method.name(), budget, changes: changes(&cells), cells, recommendation })
    }
}

/// Refuses a calibration that could not produce a grid, before any work.
#[cfg(feature = "model")]
fn check(
    llama: &crate::model::Llama, method: crate::steer::methods::Method, layers: &[usize], strengths: &[f32],
    budget: f32,
) -> Result<()> {
    if method.is_trained() {
        return Err(Error::Invalid(format!("calibrate fits diffmean or pca, not `{method}`")));
    }
    if !strengths.contains(&0.0) {
        return Err(Error::Invalid("the strengths must include 0 (the unsteered reference)".into()));
    }
    if let Some(m) = strengths.iter().find(|m| !m.is_finite()) {
        return Err(Error::BadStrength(*m));
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
    Ok(())
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
