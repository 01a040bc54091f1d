//! Strength sweeps: preference, utility and an off-manifold score at each strength, the
//! paper's curve model fitted to them, and the rank correlation between leaving the manifold
//! and losing utility.
//!
//! Speed: steering at layer ℓ cannot change layers below ℓ, so [`Prepared`] runs every pair's
//! prompt and completions through layers `0..ℓ` once; each strength then runs only layers
//! `ℓ..`, the prompt once for both completions.
use crate::analysis::curve::{fit_preference, fit_utility, CurveFit};
use crate::analysis::manifold::Subspace;
use crate::analysis::point::{summarize, Point};
use crate::error::{Error, Result};
use crate::math::stats::spearman;
use crate::model::pairs::Prepared;
use crate::model::{Edit, Intervention, Llama, Site, Steering};
use alloc::{format, string::String, vec::Vec};

/// Principal directions kept for the unsteered activation subspace.
const MANIFOLD_DIMS: usize = 16;

#[derive(Debug, Clone, serde::Serialize)]
pub struct SweepPoint {
    #[serde(flatten)]
    pub point: Point,
    /// Mean distance of the steered activations at the site from the principal subspace of the
    /// unsteered ones, in units of the unsteered activations' own mean distance (1 = as far as
    /// unsteered text typically is). Absolute, not relative to the norm: steering adds `m·v`,
    /// and a relative residual would shrink just because the norm grows.
    pub off_manifold: f32,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct Sweep {
    pub layer: usize,
    pub site: Site,
    pub points: Vec<SweepPoint>,
    /// Spearman correlation, over the sweep points, between the off-manifold score and the
    /// utility drop from the unsteered point.
    pub manifold_vs_utility_drop: Option<f32>,
}

impl Sweep {
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
#[derive(Debug, Clone, serde::Serialize)]
pub struct Curves {
    pub preference: core::result::Result<CurveFit, String>,
    pub utility: core::result::Result<CurveFit, String>,
    /// `[train, held-out]`
    pub preference_r2: [Option<f32>; 2],
    pub utility_r2: [Option<f32>; 2],
}

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

/// Sweeps `strengths` × `edit` at `(prepared.layer, site)`.
pub fn sweep(
    llama: &Llama, prepared: &Prepared, site: Site, edit: &Edit, strengths: &[f32],
    mut progress: impl FnMut(usize, usize),
) -> Result<Sweep> {
    let at = |m: f32| -> Result<Steering> {
        Ok(Steering::none().with(Intervention::new(&llama.config, prepared.layer, site, edit.clone(), m)?))
    };
    for &m in strengths {
        at(m)?; // every strength and the vector's shape checked before any work
    }
    let (base_scores, base_acts) = prepared.unsteered(llama, site)?;
    let subspace = Subspace::fit(&base_acts, MANIFOLD_DIMS)?;
    let distance = |rows: &[Vec<f32>]| -> Result<f32> {
        let d = rows.iter().map(|r| subspace.distance(r)).collect::<Result<Vec<f32>>>()?;
        Ok(d.iter().sum::<f32>() / d.len().max(1) as f32)
    };
    let base_distance = distance(&base_acts)?.max(f32::MIN_POSITIVE);
    let base = summarize(0.0, &base_scores);
    let mut points = Vec::with_capacity(strengths.len());
    for (i, &m) in strengths.iter().enumerate() {
        let (scores, acts) = if m == 0.0 {
            (base_scores.clone(), base_acts.clone())
        } else {
            prepared.score(llama, &at(m)?, site, |_, _| {})?
        };
        points.push(SweepPoint { point: summarize(m, &scores), off_manifold: distance(&acts)? / base_distance });
        progress(i + 1, strengths.len());
    }
    let moved = points.iter().any(|p| p.point.strength != 0.0 && (p.point.lp, p.point.ln) != (base.lp, base.ln));
    if !moved && strengths.iter().any(|&m| m != 0.0) {
        return Err(Error::Invalid(
            "steering was not applied: no nonzero strength changed any score (a zero update, or a site the forward pass never reaches)".into(),
        ));
    }
    let defined: Vec<(f32, f32)> =
        points.iter().filter_map(|p| p.point.util_odds.map(|u| (u, p.off_manifold))).collect();
    let base_util = points.iter().find(|p| p.point.strength == 0.0).and_then(|p| p.point.util_odds);
    let manifold_vs_utility_drop = base_util.and_then(|u0| {
        let drop: Vec<f32> = defined.iter().map(|d| u0 - d.0).collect();
        let off: Vec<f32> = defined.iter().map(|d| d.1).collect();
        spearman(&off, &drop).ok()
    });
    Ok(Sweep { layer: prepared.layer, site, points, manifold_vs_utility_drop })
}
