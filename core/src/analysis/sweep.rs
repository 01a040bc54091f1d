//! What a strength sweep reports: preference, utility and an off-manifold score at each
//! strength, whether the steering was applied at all, the paper's curve model fitted to the
//! points, and the rank correlation between leaving the manifold and losing utility. The sweep
//! is computed by [`crate::analysis::session::SweepSession`]; this module holds its results and
//! the pure functions over them (no model needed).
use crate::analysis::curve::{fit_preference, fit_utility, CurveFit};
use crate::analysis::manifold::Subspace;
use crate::analysis::point::Point;
use crate::error::{Error, Result};
use crate::math::stats::spearman;
use crate::model::Site;
use alloc::{format, string::String, vec::Vec};

/// At most this many principal directions of the unsteered activations form the reference
/// subspace of the off-manifold score.
pub const MANIFOLD_DIMS: usize = 16;

/// One strength's numbers.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct SweepPoint {
    /// Preference, utility and their statistics over the pairs.
    #[serde(flatten)]
    pub point: Point,
    /// Mean distance of the steered activations at the site from the principal subspace of the
    /// unsteered ones, in units of the unsteered activations' own mean distance (1 = as far as
    /// unsteered text typically is). Absolute, not relative to the norm: steering adds `m·v`,
    /// and a relative residual would shrink just because the norm grows. `None` when the
    /// unsteered activations are too few to define a subspace ([`OffManifold::fit`]).
    pub off_manifold: Option<f32>,
    /// Each pair's score (for per-pair reports: [`crate::analysis::point::pair_rows`]); not
    /// serialized with the point, which already summarises them.
    #[serde(skip)]
    pub pairs: Vec<crate::math::logodds::PairScore>,
}

/// The reference the off-manifold score measures against: the affine subspace of the unsteered
/// activations at the steered site, and their own mean distance from it.
#[derive(Debug, Clone)]
pub struct OffManifold {
    subspace: Subspace,
    base_distance: f32,
}

impl OffManifold {
    /// Fits the reference on unsteered activation rows. The rank adapts to the rows available:
    /// at most [`MANIFOLD_DIMS`], and at most half the directions the rows span — a subspace
    /// through every unsteered row would put their own distance at 0 and every score at
    /// infinity. Fewer than 3 rows define no useful subspace: `Ok(None)`.
    pub fn fit(unsteered: &[Vec<f32>]) -> Result<Option<Self>> {
        let rank = MANIFOLD_DIMS.min(unsteered.len().saturating_sub(1) / 2);
        if rank == 0 {
            return Ok(None);
        }
        let subspace = Subspace::fit(unsteered, rank)?;
        let mut reference = OffManifold { subspace, base_distance: 1.0 };
        reference.base_distance = reference.mean_distance(unsteered)?.max(f32::MIN_POSITIVE);
        Ok(Some(reference))
    }

    /// Number of principal directions kept.
    pub fn rank(&self) -> usize {
        self.subspace.basis.len()
    }

    /// The off-manifold score of activation rows: their mean distance from the subspace over
    /// the unsteered rows' own.
    pub fn score(&self, rows: &[Vec<f32>]) -> Result<f32> {
        Ok(self.mean_distance(rows)? / self.base_distance)
    }

    fn mean_distance(&self, rows: &[Vec<f32>]) -> Result<f32> {
        let d = rows.iter().map(|r| self.subspace.distance(r)).collect::<Result<Vec<f32>>>()?;
        Ok(d.iter().sum::<f32>() / d.len().max(1) as f32)
    }
}

/// A sweep of one update over strengths on one set of pairs.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct Sweep {
    /// Where the update acts.
    pub layer: usize,
    /// Where the update acts.
    pub site: Site,
    /// One per strength, in the order asked.
    pub points: Vec<SweepPoint>,
    /// Principal directions in the off-manifold reference (0 = too few rows for one).
    pub manifold_rank: usize,
    /// Spearman correlation, over the sweep points, between the off-manifold score and the
    /// utility drop from the unsteered point.
    pub manifold_vs_utility_drop: Option<f32>,
}

impl Sweep {
    /// Collects points into a sweep; refuses one where no nonzero strength changed any score —
    /// "was it even applied?": an update that changes nothing is an error, not a flat line.
    pub fn new(layer: usize, site: Site, points: Vec<SweepPoint>, manifold_rank: usize) -> Result<Self> {
        if applied(&points) == Some(false) {
            return Err(Error::NotApplied);
        }
        let manifold_vs_utility_drop = manifold_vs_utility_drop(&points);
        Ok(Sweep { layer, site, points, manifold_rank, manifold_vs_utility_drop })
    }

    /// (strengths, preference log-odds).
    pub fn preference(&self) -> (Vec<f32>, Vec<f32>) {
        self.points.iter().map(|p| (p.point.strength, p.point.pref_odds)).unzip()
    }
    /// (strengths, utility log-odds) where utility is defined.
    pub fn utility(&self) -> (Vec<f32>, Vec<f32>) {
        self.points.iter().filter_map(|p| p.point.util_odds.map(|u| (p.point.strength, u))).unzip()
    }
}

/// The paper's curve model fitted on one sweep (the train pairs'), with R² there and on another
/// (the held-out pairs').
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct Curves {
    /// The preference model, or why it could not be fitted.
    pub preference: core::result::Result<CurveFit, String>,
    /// The utility model, or why it could not be fitted.
    pub utility: core::result::Result<CurveFit, String>,
    /// R² of the preference model `[train, held-out]`.
    pub preference_r2: [Option<f32>; 2],
    /// R² of the utility model `[train, held-out]`.
    pub utility_r2: [Option<f32>; 2],
}

/// Fits both curves on `train`'s points and scores them there and on `heldout`'s.
pub fn fit_curves(train: &Sweep, heldout: &Sweep) -> Curves {
    let r2 = |fit: &core::result::Result<CurveFit, String>, series: [(Vec<f32>, Vec<f32>); 2]| {
        series.map(|(m, y)| fit.as_ref().ok().and_then(|f| f.r2(&m, &y).ok()))
    };
    let (pm, py) = train.preference();
    let (um, uy) = train.utility();
    let preference = fit_preference(&pm, &py).map_err(|e| format!("{e}"));
    let utility = fit_utility(&um, &uy).map_err(|e| format!("{e}"));
    Curves {
        preference_r2: r2(&preference, [train.preference(), heldout.preference()]),
        utility_r2: r2(&utility, [train.utility(), heldout.utility()]),
        preference,
        utility,
    }
}

/// Both curves fitted on `heldout`'s points instead — what the page shows, having only those —
/// with R² still `[train, held-out]`.
pub fn fit_curves_heldout(train: &Sweep, heldout: &Sweep) -> Curves {
    let mut curves = fit_curves(heldout, train);
    curves.preference_r2.swap(0, 1);
    curves.utility_r2.swap(0, 1);
    curves
}

/// Whether steering changed anything: `None` until there is an unsteered point and a steered
/// one, then whether any steered point's mean losses differ from the unsteered ones.
pub fn applied(points: &[SweepPoint]) -> Option<bool> {
    let base = points.iter().find(|p| p.point.strength == 0.0)?;
    let mut steered = points.iter().filter(|p| p.point.strength != 0.0).peekable();
    steered.peek()?;
    Some(steered.any(|p| (p.point.lp, p.point.ln) != (base.point.lp, base.point.ln)))
}

/// One sweep point as the manifold account sees it: how far the steered activations left the
/// unsteered ones' subspace, and how much utility fell from the unsteered point.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct ManifoldPoint {
    /// The point's strength.
    pub strength: f32,
    /// Its off-manifold score ([`SweepPoint::off_manifold`]).
    pub off_manifold: f32,
    /// Utility at `m = 0` minus utility here (positive = utility lost).
    pub util_drop: f32,
}

/// The points where both the off-manifold score and the utility drop are defined (none without
/// an unsteered point with a defined utility), by strength as given.
pub fn manifold_points(points: &[SweepPoint]) -> Vec<ManifoldPoint> {
    let Some(u0) = points.iter().find(|p| p.point.strength == 0.0).and_then(|p| p.point.util_odds) else {
        return Vec::new();
    };
    points
        .iter()
        .filter_map(|p| {
            Some(ManifoldPoint {
                strength: p.point.strength,
                off_manifold: p.off_manifold?,
                util_drop: u0 - p.point.util_odds?,
            })
        })
        .collect()
}

/// Spearman correlation between the off-manifold score and the utility drop from the unsteered
/// point, over the points where both are defined ([`manifold_points`]).
pub fn manifold_vs_utility_drop(points: &[SweepPoint]) -> Option<f32> {
    let (off, drop): (Vec<f32>, Vec<f32>) =
        manifold_points(points).iter().map(|p| (p.off_manifold, p.util_drop)).unzip();
    spearman(&off, &drop).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analysis::point::summarize;
    use crate::math::logodds::{Nll, PairScore};

    fn point(m: f32, lp: f32, ln: f32) -> SweepPoint {
        let score = PairScore::new(Nll { sum: lp, tokens: 1 }, Nll { sum: ln, tokens: 1 });
        SweepPoint {
            point: summarize(m, core::slice::from_ref(&score)),
            off_manifold: Some(1.0 + m.abs()),
            pairs: alloc::vec![score],
        }
    }

    #[test]
    fn a_sweep_whose_steered_points_equal_the_unsteered_one_was_not_applied() {
        let flat = alloc::vec![point(-1.0, 2.0, 3.0), point(0.0, 2.0, 3.0), point(1.0, 2.0, 3.0)];
        assert_eq!(applied(&flat), Some(false));
        assert_eq!(Sweep::new(3, Site::Residual, flat, 4).unwrap_err(), Error::NotApplied);
        let moved = alloc::vec![point(-1.0, 2.5, 3.0), point(0.0, 2.0, 3.0), point(1.0, 2.0, 3.5)];
        assert_eq!(applied(&moved), Some(true));
        assert!(Sweep::new(3, Site::Residual, moved, 4).is_ok());
        assert_eq!(applied(&[point(0.0, 2.0, 3.0)]), None, "no steered point yet");
    }
}
