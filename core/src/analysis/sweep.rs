//! Strength sweeps: preference, utility and an off-manifold score at each strength, the
//! paper's curve model fitted to them, and the rank correlation between leaving the manifold
//! and losing utility.
//!
//! Speed: steering at layer ℓ cannot change layers below ℓ, so [`Prepared`] runs every pair's
//! prompt and completions through layers `0..ℓ` once; each strength then runs only layers
//! `ℓ..`, the prompt once for both completions.
use crate::analysis::curve::{fit_preference, fit_utility, CurveFit};
use crate::analysis::logodds::{pref_odds, util_odds};
use crate::analysis::manifold::Subspace;
use crate::analysis::measure::{summarize, PairScore, Point};
use crate::analysis::stats::spearman;
use crate::error::{Error, Result};
use crate::model::score::{nll_of_rows, PairTokens};
use crate::model::{Cache, Edit, Intervention, Llama, Site, Steering};
use alloc::{format, string::String, vec::Vec};
use candle_core::{IndexOp, Tensor};
use core::cell::RefCell;

/// Principal directions kept for the unsteered activation subspace.
const MANIFOLD_DIMS: usize = 16;

/// Pairs run through the layers below the steered one, shared by every strength.
pub struct Prepared {
    pub layer: usize,
    pairs: Vec<PreparedPair>,
    /// Unsteered scores and site activations, per site, computed on first need: every sweep
    /// over these pairs shares its `m = 0` point and its manifold reference.
    unsteered: RefCell<Vec<(Site, Scored)>>,
}

/// Scores of every pair and the site activations over the completion tokens.
type Scored = (Vec<PairScore>, Vec<Vec<f32>>);

struct PreparedPair {
    /// Residual stream entering layer ℓ: prompt `(1, p, h)` and each completion `(1, n, h)`.
    prompt: Tensor,
    completions: [(Tensor, Vec<u32>); 2],
}

impl Prepared {
    pub fn new(
        llama: &Llama, pairs: &[PairTokens], layer: usize, mut progress: impl FnMut(usize, usize),
    ) -> Result<Self> {
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
        Ok(Prepared { layer, pairs: out, unsteered: RefCell::default() })
    }

    pub fn len(&self) -> usize {
        self.pairs.len()
    }

    pub fn is_empty(&self) -> bool {
        self.pairs.is_empty()
    }

    /// The positive and negative completion tokens of pair `i`.
    pub fn targets(&self, i: usize) -> [&[u32]; 2] {
        self.pairs[i].completions.each_ref().map(|(_, ids)| ids.as_slice())
    }

    /// Pair `i` under `steering` (acting at layer ≥ ℓ): for each completion, the final hidden
    /// rows that predict its tokens, and the activations at `(ℓ, site)` for each of `record`
    /// over the completion positions (positive's sites, then negative's). Differentiable when
    /// the steering holds trainable tensors.
    pub fn completion_rows(
        &self, llama: &Llama, i: usize, steering: &Steering, record: &[Site],
    ) -> Result<([Tensor; 2], Vec<Tensor>)> {
        let (pair, n_layers) = (&self.pairs[i], llama.config.n_layers);
        let recording = record.iter().fold(steering.clone(), |s, &site| s.recording(self.layer, site));
        let mut upper = Cache::new();
        let (x, _) = llama.run_layers(pair.prompt.clone(), self.layer..n_layers, &mut upper, steering)?;
        let hp = llama.final_norm(&x)?;
        let last = hp.i(hp.dim(0)? - 1..hp.dim(0)?)?;
        let mut acts = Vec::new();
        let mut rows = |(x_in, ids): &(Tensor, Vec<u32>)| -> Result<Tensor> {
            let n = ids.len();
            if n == 1 {
                return Ok(last.clone());
            }
            let (x, rec) =
                llama.run_layers(x_in.narrow(1, 0, n - 1)?, self.layer..n_layers, &mut upper.clone(), &recording)?;
            acts.extend(rec);
            Ok(Tensor::cat(&[&last, &llama.final_norm(&x)?], 0)?)
        };
        let rows = [rows(&pair.completions[0])?, rows(&pair.completions[1])?];
        Ok((rows, acts))
    }

    /// [`Prepared::score`] without steering, cached per site.
    pub fn unsteered(&self, llama: &Llama, site: Site) -> Result<Scored> {
        if let Some((_, s)) = self.unsteered.borrow().iter().find(|(s, _)| *s == site) {
            return Ok(s.clone());
        }
        let scored = self.score(llama, &Steering::none(), site, |_, _| {})?;
        self.unsteered.borrow_mut().push((site, scored.clone()));
        Ok(scored)
    }

    /// Scores every pair under `steering` (acting at layer ≥ ℓ), returning the scores and the
    /// activations at `(ℓ, site)` over the completion tokens.
    pub fn score(
        &self, llama: &Llama, steering: &Steering, site: Site, mut progress: impl FnMut(usize, usize),
    ) -> Result<(Vec<PairScore>, Vec<Vec<f32>>)> {
        let (mut scores, mut acts) = (Vec::new(), Vec::new());
        for i in 0..self.pairs.len() {
            let ([rp, rn], rec) = self.completion_rows(llama, i, steering, &[site])?;
            for r in rec {
                acts.extend(r.to_vec2::<f32>()?);
            }
            let [tp, tn] = self.targets(i);
            let (lp, ln) = (nll_of_rows(llama, &rp, tp)?, nll_of_rows(llama, &rn, tn)?);
            scores.push(PairScore {
                lp,
                ln,
                pref_odds: pref_odds(lp.mean(), ln.mean()),
                util_odds: util_odds(lp.mean(), ln.mean()),
            });
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

/// How big an update is where it acts: mean norms over completion tokens.
#[derive(Debug, Clone, Copy, serde::Serialize)]
pub struct UpdateScale {
    /// `‖Δh‖` at strength 1.
    pub effect_norm: f32,
    /// The unsteered residual stream at the layer.
    pub residual_norm: f32,
}

impl UpdateScale {
    /// Measured on (up to 4 of) the prepared pairs. For a vector `effect_norm` is its norm; for
    /// a weight update it depends on the input, so it is measured as steered − unsteered
    /// activation at the site (exact: nothing upstream of the site changes).
    pub fn measure(llama: &Llama, prepared: &Prepared, site: Site, edit: &Edit) -> Result<Self> {
        let iv = Intervention::new(&llama.config, prepared.layer, site, edit.clone(), 1.0)?;
        let steered = Steering::none().with(iv);
        let (mut effect, mut residual) = (Vec::new(), Vec::new());
        for i in 0..prepared.len().min(4) {
            let (_, base) = prepared.completion_rows(llama, i, &Steering::none(), &[site, Site::Residual])?;
            let (_, moved) = prepared.completion_rows(llama, i, &steered, &[site])?;
            for (c, m) in moved.iter().enumerate() {
                effect.extend(row_norms(&(m - &base[2 * c])?)?);
                residual.extend(row_norms(&base[2 * c + 1])?);
            }
        }
        let mean = |v: &[f32]| v.iter().sum::<f32>() / v.len().max(1) as f32;
        Ok(UpdateScale { effect_norm: mean(&effect), residual_norm: mean(&residual) })
    }

    /// `edit` rescaled to the shared strength unit (measured on `prepared`), and the scale found.
    pub fn rescale(llama: &Llama, prepared: &Prepared, site: Site, edit: &Edit) -> Result<(Edit, Self)> {
        let scale = Self::measure(llama, prepared, site, edit)?;
        Ok((edit.scaled(scale.to_strength_units() as f64)?, scale))
    }

    /// The factor that puts an update in the shared strength unit
    /// ([`crate::steer::vector::STRENGTH_UNIT`]: strength 10 adds half the residual norm).
    pub fn to_strength_units(&self) -> f32 {
        crate::steer::vector::STRENGTH_UNIT * self.residual_norm / self.effect_norm.max(f32::MIN_POSITIVE)
    }
}

/// A fixed (seeded) random direction at `site`: the noise-floor baseline every sweep shows
/// beside its methods, once rescaled like them.
pub fn random_direction(config: &crate::model::Config, site: Site) -> Result<Edit> {
    let width = site.width(config);
    Ok(Edit::AddVector(Tensor::from_vec(
        crate::rng::Rng::new(0).normals(width, 1.0),
        width,
        &candle_core::Device::Cpu,
    )?))
}

fn row_norms(t: &Tensor) -> Result<Vec<f32>> {
    Ok(t.sqr()?.sum(1)?.sqrt()?.to_vec1()?)
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
