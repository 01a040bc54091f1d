//! Strength sweeps: preference, utility and an off-manifold score at each strength, the
//! paper's curve model fitted to them, and the rank correlation between leaving the manifold
//! and losing utility.
//!
//! Speed: steering at layer ℓ cannot change layers below ℓ, so [`Prepared`] runs every pair's
//! prompt and completions through layers `0..ℓ` once; each strength then runs only layers
//! `ℓ..`, the prompt once for both completions.
use crate::analysis::curve::{fit_preference, fit_utility, CurveFit};
use crate::analysis::manifold::Subspace;
use crate::analysis::measure::{summarize, PairScore, Point};
use crate::analysis::logodds::{pref_odds, util_odds};
use crate::analysis::stats::spearman;
use crate::error::{Error, Result};
use crate::model::score::{nll_of_rows, Nll, PairTokens};
use crate::model::{Cache, Edit, Intervention, Llama, Site, Steering};
use alloc::{format, string::String, vec::Vec};
use candle_core::{Device, IndexOp, Tensor};

/// Principal directions kept for the unsteered activation subspace.
const MANIFOLD_DIMS: usize = 16;

/// Pairs run through the layers below the steered one, shared by every strength.
pub struct Prepared {
    pub layer: usize,
    pairs: Vec<PreparedPair>,
}

struct PreparedPair {
    /// Residual stream entering layer ℓ: prompt `(1, p, h)` and each completion `(1, n, h)`.
    prompt: Tensor,
    completions: [(Tensor, Vec<u32>); 2],
}

impl Prepared {
    pub fn new(llama: &Llama, pairs: &[PairTokens], layer: usize, mut progress: impl FnMut(usize, usize)) -> Result<Self> {
        llama.config.check_layer(layer)?;
        if pairs.is_empty() {
            return Err(Error::EmptyDataset);
        }
        let none = Steering::none();
        let mut out = Vec::with_capacity(pairs.len());
        for (i, p) in pairs.iter().enumerate() {
            let mut lower = Cache::new();
            let prompt = llama.run_layers(llama.embed(&p.prompt, 0)?, 0..layer, &mut lower, &none)?.0;
            let below = |ids: &Vec<u32>| -> Result<(Tensor, Vec<u32>)> {
                let mut c = lower.clone();
                Ok((llama.run_layers(llama.embed(ids, c.pos)?, 0..layer, &mut c, &none)?.0, ids.clone()))
            };
            out.push(PreparedPair { prompt, completions: [below(&p.positive)?, below(&p.negative)?] });
            progress(i + 1, pairs.len());
        }
        Ok(Prepared { layer, pairs: out })
    }

    /// Scores every pair under `steering` (acting at layer ≥ ℓ), returning the scores and the
    /// activations at `(ℓ, site)` over the completion tokens.
    pub fn score(
        &self, llama: &Llama, steering: &Steering, site: Site, mut progress: impl FnMut(usize, usize),
    ) -> Result<(Vec<PairScore>, Vec<Vec<f32>>)> {
        let n_layers = llama.config.n_layers;
        let recording = steering.clone().recording(self.layer, site);
        let (mut scores, mut acts) = (Vec::new(), Vec::new());
        for (i, pair) in self.pairs.iter().enumerate() {
            let mut upper = Cache::new();
            let (x, _) = llama.run_layers(pair.prompt.clone(), self.layer..n_layers, &mut upper, steering)?;
            let hp = llama.final_norm(&x)?;
            let last = hp.i(hp.dim(0)? - 1..hp.dim(0)?)?;
            let mut nll = |(x_in, ids): &(Tensor, Vec<u32>)| -> Result<Nll> {
                let n = ids.len();
                let rows = if n == 1 {
                    last.clone()
                } else {
                    let (x, rec) = llama.run_layers(x_in.narrow(1, 0, n - 1)?, self.layer..n_layers, &mut upper.clone(), &recording)?;
                    acts.extend(rec[0].to_vec2::<f32>()?);
                    Tensor::cat(&[&last, &llama.final_norm(&x)?], 0)?
                };
                nll_of_rows(llama, &rows, ids)
            };
            let lp = nll(&pair.completions[0])?;
            let ln = nll(&pair.completions[1])?;
            scores.push(PairScore { lp, ln, pref_odds: pref_odds(lp.mean(), ln.mean()), util_odds: util_odds(lp.mean(), ln.mean()) });
            progress(i + 1, self.pairs.len());
        }
        Ok((scores, acts))
    }
}

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
    pub vector_norm: f32,
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

/// Sweeps `strengths` × `vector` added at `(prepared.layer, site)`.
pub fn sweep(
    llama: &Llama, prepared: &Prepared, site: Site, vector: &[f32], strengths: &[f32], mut progress: impl FnMut(usize, usize),
) -> Result<Sweep> {
    let v = Tensor::from_slice(vector, vector.len(), &Device::Cpu)?;
    let at = |m: f32| -> Result<Steering> {
        Ok(Steering::none().with(Intervention::new(&llama.config, prepared.layer, site, Edit::AddVector(v.clone()), m)?))
    };
    for &m in strengths {
        at(m)?; // every strength and the vector's shape checked before any work
    }
    let (_, base_acts) = prepared.score(llama, &Steering::none(), site, |_, _| {})?;
    let subspace = Subspace::fit(&base_acts, MANIFOLD_DIMS)?;
    let distance = |rows: &[Vec<f32>]| -> Result<f32> {
        let d = rows.iter().map(|r| subspace.distance(r)).collect::<Result<Vec<f32>>>()?;
        Ok(d.iter().sum::<f32>() / d.len().max(1) as f32)
    };
    let base_distance = distance(&base_acts)?.max(f32::MIN_POSITIVE);
    let mut points = Vec::with_capacity(strengths.len());
    for (i, &m) in strengths.iter().enumerate() {
        let (scores, acts) = prepared.score(llama, &at(m)?, site, |_, _| {})?;
        points.push(SweepPoint { point: summarize(m, &scores), off_manifold: distance(&acts)? / base_distance });
        progress(i + 1, strengths.len());
    }
    let defined: Vec<(f32, f32)> =
        points.iter().filter_map(|p| p.point.util_odds.map(|u| (u, p.off_manifold))).collect();
    let base_util = points.iter().find(|p| p.point.strength == 0.0).and_then(|p| p.point.util_odds);
    let manifold_vs_utility_drop = base_util.and_then(|u0| {
        let drop: Vec<f32> = defined.iter().map(|d| u0 - d.0).collect();
        let off: Vec<f32> = defined.iter().map(|d| d.1).collect();
        spearman(&off, &drop).ok()
    });
    Ok(Sweep { layer: prepared.layer, site, vector_norm: crate::steer::vector::norm(vector), points, manifold_vs_utility_drop })
}
