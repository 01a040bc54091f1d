//! The paper's curve model for log-odds against steering strength (notes/steering.md §3).
//!
//! Validity decays along the steering line as a piecewise rational quadratic,
//! D(m) = (1 + (m − m±)²/L±)^(−p±), one parameter set for m ≥ 0 and one for m < 0, and
//!
//! - PrefOdds(m) ≈ (α·m + β)·D(m) + b  (linear → transitional → flat),
//! - UtilOdds(m) ≈ β_u·D(m) + b_u        (peak near 0, falling and levelling off with |m|).
//!
//! **Continuity at 0, by construction.** Both branches are divided by their own value at 0, so
//! the curve uses D̃(m) = D(m)/D(0) with D̃(0) = 1 on both sides and the fitted curve is
//! continuous whatever the parameters. This is the paper's model exactly when its two branches
//! share D(0) = k (its continuity constraint): then its α, β equal our `alpha / k`, `beta / k`.
//! Ours is one degree of freedom looser (the two branches' D(0) need not agree, the amplitude
//! absorbs it), which buys an unconstrained optimisation instead of SLSQP; the curve shapes are
//! the same family.
//!
//! **Fitting.** The model is linear in (α, β, b) (or (β_u, b_u)) once the six shape parameters
//! are fixed, so the linear ones are solved exactly by least squares inside the objective
//! (variable projection) and Nelder–Mead searches only the six shape parameters: fewer
//! dimensions, no bad starting amplitude to recover from. Starts come from a fixed grid, so the
//! fit is deterministic.
use crate::error::{Error, Result};
use crate::math::stats::check_finite;
use alloc::{format, vec::Vec};
use serde::Serialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum CurveKind {
    /// (α·m + β)·D̃(m) + b: 9 parameters.
    Preference,
    /// β_u·D̃(m) + b_u: 8 parameters.
    Utility,
}

impl CurveKind {
    pub fn n_params(self) -> usize {
        match self {
            CurveKind::Preference => 9,
            CurveKind::Utility => 8,
        }
    }

    fn n_linear(self) -> usize {
        self.n_params() - 6
    }
}

/// One branch of the decay, in the caller's strength units.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Decay {
    /// m±: where this branch's decay is centred.
    pub center: f32,
    /// L± > 0: the squared width (in strength units²).
    pub width: f32,
    /// p± > 0: how fast it falls beyond the width.
    pub power: f32,
}

impl Decay {
    /// The paper's D(m) = (1 + (m − center)²/width)^(−power).
    pub fn raw(&self, m: f32) -> f32 {
        let (c, l, p) = (self.center as f64, self.width as f64, self.power as f64);
        libm::exp(log_decay(m as f64, c, l, p)) as f32
    }

    /// D(m)/D(0), the factor the fitted curve uses (1 at m = 0).
    pub fn relative(&self, m: f32) -> f32 {
        rel_decay(m as f64, self.center as f64, self.width as f64, self.power as f64) as f32
    }
}

/// A fitted curve. `alpha` is 0 for a utility curve.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CurveFit {
    pub kind: CurveKind,
    pub alpha: f32,
    pub beta: f32,
    /// b (or b_u): the level the curve settles to far from 0.
    pub offset: f32,
    /// Branch used for m ≥ 0.
    pub pos: Decay,
    /// Branch used for m < 0.
    pub neg: Decay,
    /// R² on the points it was fitted to.
    pub train_r2: f32,
    pub n_points: usize,
}

impl CurveFit {
    pub fn predict(&self, m: f32) -> f32 {
        let b = if m >= 0.0 { &self.pos } else { &self.neg };
        let g = rel_decay(m as f64, b.center as f64, b.width as f64, b.power as f64);
        ((self.alpha as f64 * m as f64 + self.beta as f64) * g + self.offset as f64) as f32
    }

    /// R² = 1 − SS_res/SS_tot of this curve on any points (train or held out). Negative when the
    /// curve does worse than the points' own mean, which held-out data can do.
    ///
    /// Errors: lengths differ, no points, non-finite values, or constant `ys` (SS_tot = 0).
    pub fn r2(&self, ms: &[f32], ys: &[f32]) -> Result<f32> {
        check_points(ms, ys)?;
        let mean = ys.iter().map(|&y| y as f64).sum::<f64>() / ys.len() as f64;
        let ss_tot: f64 = ys.iter().map(|&y| (y as f64 - mean) * (y as f64 - mean)).sum();
        if ss_tot == 0.0 {
            return Err(Error::Invalid("R² is undefined: every y is the same".into()));
        }
        let ss_res: f64 = ms.iter().zip(ys).map(|(&m, &y)| sq(y as f64 - self.predict(m) as f64)).sum();
        Ok((1.0 - ss_res / ss_tot) as f32)
    }
}

/// Fits PrefOdds(m) ≈ (α·m + β)·D̃(m) + b. See [`fit`] for the requirements on the points.
pub fn fit_preference(ms: &[f32], ys: &[f32]) -> Result<CurveFit> {
    fit(CurveKind::Preference, ms, ys)
}

/// Fits UtilOdds(m) ≈ β_u·D̃(m) + b_u. See [`fit`] for the requirements on the points.
pub fn fit_utility(ms: &[f32], ys: &[f32]) -> Result<CurveFit> {
    fit(CurveKind::Utility, ms, ys)
}

/// Least-squares fit of either curve.
///
/// Errors: lengths differ, non-finite values, fewer points than parameters (9 or 8), fewer than
/// 3 points strictly on either side of 0 (each branch has 3 shape parameters and only sees its
/// own side), or constant `ys`.
pub fn fit(kind: CurveKind, ms: &[f32], ys: &[f32]) -> Result<CurveFit> {
    check_points(ms, ys)?;
    check_coverage(kind, ms, ys)?;
    // Work in x = m / s so |x| ≤ 1: the start grid and step sizes below are then meaningful for
    // any strength unit (raw m, multiples of ‖v‖, fractions of the layer norm).
    let s = ms.iter().fold(0.0f64, |a, &m| a.max(libm::fabs(m as f64)));
    let x: Vec<f64> = ms.iter().map(|&m| m as f64 / s).collect();
    let y: Vec<f64> = ys.iter().map(|&v| v as f64).collect();
    let problem = Problem { kind, x: &x, y: &y, ss_tot: ss_tot(&y) };
    let theta = problem.minimise();
    let lin = problem.solve(&clamp(&theta)).0;
    let fit = problem.to_fit(&clamp(&theta), &lin, s, ms.len());
    let train_r2 = fit.r2(ms, ys)?;
    Ok(CurveFit { train_r2, ..fit })
}

fn check_points(ms: &[f32], ys: &[f32]) -> Result<()> {
    if ms.len() != ys.len() {
        return Err(Error::Invalid(format!("{} strengths but {} values", ms.len(), ys.len())));
    }
    if ms.is_empty() {
        return Err(Error::EmptyDataset);
    }
    check_finite("strengths", ms)?;
    check_finite("values", ys)
}

fn check_coverage(kind: CurveKind, ms: &[f32], ys: &[f32]) -> Result<()> {
    if ms.len() < kind.n_params() {
        return Err(Error::Invalid(format!(
            "{} points cannot fit the {kind:?} curve's {} parameters",
            ms.len(),
            kind.n_params()
        )));
    }
    let (pos, neg) = (ms.iter().filter(|&&m| m > 0.0).count(), ms.iter().filter(|&&m| m < 0.0).count());
    if pos < 3 || neg < 3 {
        return Err(Error::Invalid(format!(
            "the curve needs at least 3 strengths on each side of 0 (got {pos} above, {neg} below): \
             each side has its own decay"
        )));
    }
    if ys.iter().all(|&y| y == ys[0]) {
        return Err(Error::Invalid("every value is the same: there is no curve to fit".into()));
    }
    Ok(())
}

// ---- the model in scaled units ----

/// Shape parameters in scaled units: [c+, ln L+, ln p+, c−, ln L−, ln p−].
/// Logs keep L± and p± positive with no constraint, and make steps multiplicative, which suits
/// parameters that matter over orders of magnitude (a width of 0.01 and of 1 are both plausible).
type Theta = [f64; 6];

/// Box for θ (scaled units). Beyond it the curve no longer changes in a way the data can see
/// (a centre far outside the data, a width far below the grid spacing or far above its range)
/// and the optimiser would only drift; [`Problem::objective`] pulls it back with a penalty.
const LO: Theta = [-2.0, -9.2, -6.9, -2.0, -9.2, -6.9]; // L ≥ 1e-4, p ≥ 1e-3
const HI: Theta = [2.0, 9.2, 6.9, 2.0, 9.2, 6.9]; // L ≤ 1e4, p ≤ 1e3

fn clamp(t: &Theta) -> Theta {
    core::array::from_fn(|i| t[i].clamp(LO[i], HI[i]))
}

/// ln D(x) = −p·ln(1 + (x − c)²/L), via log1p for accuracy when the ratio is small.
fn log_decay(x: f64, c: f64, l: f64, p: f64) -> f64 {
    -p * libm::log1p(sq(x - c) / l)
}

/// D(x)/D(0), taken as one exponential of a difference of logs so that neither factor
/// underflows on its own.
fn rel_decay(x: f64, c: f64, l: f64, p: f64) -> f64 {
    libm::exp(log_decay(x, c, l, p) - log_decay(0.0, c, l, p))
}

fn shape(t: &Theta, x: f64) -> f64 {
    let o = if x >= 0.0 { 0 } else { 3 };
    rel_decay(x, t[o], libm::exp(t[o + 1]), libm::exp(t[o + 2]))
}

struct Problem<'a> {
    kind: CurveKind,
    x: &'a [f64],
    y: &'a [f64],
    ss_tot: f64,
}

impl Problem<'_> {
    /// Regressors at one point for the linear parameters: (x·g, g, 1) or (g, 1).
    fn regressors(&self, t: &Theta, x: f64) -> [f64; 3] {
        let g = shape(t, x);
        match self.kind {
            CurveKind::Preference => [x * g, g, 1.0],
            CurveKind::Utility => [g, 1.0, 0.0],
        }
    }

    /// Best linear parameters for shape `t`, and the residual sum of squares they leave.
    fn solve(&self, t: &Theta) -> ([f64; 3], f64) {
        let p = self.kind.n_linear();
        let (mut a, mut r) = ([[0.0; 3]; 3], [0.0; 3]);
        for (&x, &y) in self.x.iter().zip(self.y) {
            let z = self.regressors(t, x);
            for i in 0..p {
                r[i] += z[i] * y;
                (0..p).for_each(|j| a[i][j] += z[i] * z[j]);
            }
        }
        let coef = solve_small(a, r, p);
        let sse = self.x.iter().zip(self.y).map(|(&x, &y)| {
            let z = self.regressors(t, x);
            sq(y - (0..p).map(|i| coef[i] * z[i]).sum::<f64>())
        });
        (coef, sse.sum())
    }

    /// SSE at the clamped θ plus a quadratic pull back into the box (scaled by SS_tot so it is
    /// in the units of the SSE).
    fn objective(&self, t: &Theta) -> f64 {
        let c = clamp(t);
        let outside: f64 = t.iter().zip(&c).map(|(a, b)| sq(a - b)).sum();
        let sse = self.solve(&c).1;
        if sse.is_finite() {
            sse + self.ss_tot * outside
        } else {
            f64::INFINITY
        }
    }

    /// Grid of starts, then Nelder–Mead (with restarts) from the best few; best result wins.
    fn minimise(&self) -> Theta {
        let f = |t: &Theta| self.objective(t);
        let mut starts: Vec<(f64, Theta)> = start_grid().into_iter().map(|t| (f(&t), t)).collect();
        starts.sort_by(|a, b| a.0.total_cmp(&b.0));
        let tol = 1e-15 * self.ss_tot;
        starts
            .iter()
            .take(N_STARTS)
            .map(|&(_, t)| restarted_nelder_mead(&f, t, tol))
            .min_by(|a, b| a.1.total_cmp(&b.1))
            .map(|(t, _)| t)
            .unwrap_or(starts[0].1)
    }

    /// Back to the caller's units: c = s·c_x, L = s²·L_x, α = α_x / s.
    fn to_fit(&self, t: &Theta, lin: &[f64; 3], s: f64, n: usize) -> CurveFit {
        let branch = |o: usize| Decay {
            center: (t[o] * s) as f32,
            width: (libm::exp(t[o + 1]) * s * s) as f32,
            power: libm::exp(t[o + 2]) as f32,
        };
        let (alpha, beta, offset) = match self.kind {
            CurveKind::Preference => (lin[0] / s, lin[1], lin[2]),
            CurveKind::Utility => (0.0, lin[0], lin[1]),
        };
        CurveFit {
            kind: self.kind,
            alpha: alpha as f32,
            beta: beta as f32,
            offset: offset as f32,
            pos: branch(0),
            neg: branch(3),
            train_r2: f32::NAN,
            n_points: n,
        }
    }
}

/// Normal equations for ≤ 3 unknowns with a tiny ridge: when the shape is nearly flat, g and
/// the constant are collinear and the plain system is singular; the ridge picks the small-norm
/// solution there and changes nothing measurable elsewhere. Gaussian elimination with partial
/// pivoting.
fn solve_small(mut a: [[f64; 3]; 3], mut r: [f64; 3], p: usize) -> [f64; 3] {
    let ridge = 1e-12 * (0..p).map(|i| a[i][i]).sum::<f64>() / p as f64 + 1e-300;
    (0..p).for_each(|i| a[i][i] += ridge);
    for col in 0..p {
        let piv = (col..p).max_by(|&i, &j| libm::fabs(a[i][col]).total_cmp(&libm::fabs(a[j][col]))).unwrap_or(col);
        a.swap(col, piv);
        r.swap(col, piv);
        for row in col + 1..p {
            let f = a[row][col] / a[col][col];
            (col..p).for_each(|k| a[row][k] -= f * a[col][k]);
            r[row] -= f * r[col];
        }
    }
    let mut out = [0.0; 3];
    for i in (0..p).rev() {
        let tail: f64 = (i + 1..p).map(|k| a[i][k] * out[k]).sum();
        out[i] = (r[i] - tail) / a[i][i];
    }
    out
}

// ---- the optimiser ----

/// How many of the best grid points get a full Nelder–Mead run.
const N_STARTS: usize = 4;

/// Starts: every combination of a per-branch grid of centre × width × power, the same grid for
/// both branches (24² = 576 points, each one cheap linear solve). Centres near 0 because the
/// paper's utility peaks "near m ≈ 0"; widths from a sharp to a nearly flat decay over |x| ≤ 1;
/// powers below and above 1 because the flat tail needs small p and a steep fall large p.
fn start_grid() -> Vec<Theta> {
    let mut branch = Vec::new();
    for c in [-0.2, 0.0, 0.2] {
        for l in [0.02f64, 0.1, 0.5, 3.0] {
            for p in [0.5f64, 1.5] {
                branch.push([c, libm::log(l), libm::log(p)]);
            }
        }
    }
    let mut grid = Vec::with_capacity(branch.len() * branch.len());
    for a in &branch {
        for b in &branch {
            grid.push([a[0], a[1], a[2], b[0], b[1], b[2]]);
        }
    }
    grid
}

/// Initial simplex steps: 0.1 of the data range for a centre, a factor e^0.5 ≈ 1.6 for a width
/// or power.
const STEP: Theta = [0.1, 0.5, 0.5, 0.1, 0.5, 0.5];
const MAX_EVALS: usize = 4000;
const MAX_RESTARTS: usize = 8;

/// Nelder–Mead restarted from its own result with a fresh full-size simplex until a restart no
/// longer improves: a simplex can collapse onto a subspace along the sloppy width/power ridge
/// and stall there; a fresh one re-opens the missing directions.
fn restarted_nelder_mead(f: &impl Fn(&Theta) -> f64, start: Theta, tol: f64) -> (Theta, f64) {
    let (mut best, mut fbest) = nelder_mead(f, start, tol);
    for _ in 0..MAX_RESTARTS {
        let (t, ft) = nelder_mead(f, best, tol);
        let gained = fbest - ft;
        if ft < fbest {
            (best, fbest) = (t, ft);
        }
        // `gained` can be NaN only if both runs failed to find a finite value: stop then too.
        if gained.is_nan() || gained <= 1e-9 * fbest + tol {
            break;
        }
    }
    (best, fbest)
}

/// Textbook Nelder–Mead (reflection 1, expansion 2, contraction ½, shrink ½). Stops when the
/// vertex values agree to `tol` plus a relative 1e-12, the simplex has shrunk below 1e-10, or
/// after [`MAX_EVALS`] evaluations.
fn nelder_mead(f: &impl Fn(&Theta) -> f64, start: Theta, tol: f64) -> (Theta, f64) {
    let mut simplex: Vec<(Theta, f64)> = Vec::with_capacity(7);
    simplex.push((start, f(&start)));
    for i in 0..6 {
        let mut v = start;
        v[i] += STEP[i];
        simplex.push((v, f(&v)));
    }
    let mut evals = 7;
    while evals < MAX_EVALS {
        simplex.sort_by(|a, b| a.1.total_cmp(&b.1));
        let (fb, fw) = (simplex[0].1, simplex[6].1);
        if fw - fb <= tol + 1e-12 * libm::fabs(fb) || diameter(&simplex) < 1e-10 {
            break;
        }
        let centroid: Theta = core::array::from_fn(|i| simplex[..6].iter().map(|v| v.0[i]).sum::<f64>() / 6.0);
        let toward =
            |coef: f64| -> Theta { core::array::from_fn(|i| centroid[i] + coef * (simplex[6].0[i] - centroid[i])) };
        let refl = toward(-1.0);
        let fr = f(&refl);
        evals += 1;
        if fr < fb {
            let exp = toward(-2.0);
            let fe = f(&exp);
            evals += 1;
            simplex[6] = if fe < fr { (exp, fe) } else { (refl, fr) };
        } else if fr < simplex[5].1 {
            simplex[6] = (refl, fr);
        } else {
            // Contract toward the better of the worst vertex and its reflection.
            let (coef, fref) = if fr < fw { (-0.5, fr) } else { (0.5, fw) };
            let con = toward(coef);
            let fc = f(&con);
            evals += 1;
            if fc < fref {
                simplex[6] = (con, fc);
            } else {
                let best = simplex[0].0;
                for v in simplex.iter_mut().skip(1) {
                    v.0 = core::array::from_fn(|i| best[i] + 0.5 * (v.0[i] - best[i]));
                    v.1 = f(&v.0);
                }
                evals += 6;
            }
        }
    }
    simplex.sort_by(|a, b| a.1.total_cmp(&b.1));
    simplex[0]
}

fn diameter(simplex: &[(Theta, f64)]) -> f64 {
    let best = &simplex[0].0;
    simplex[1..].iter().flat_map(|v| v.0.iter().zip(best).map(|(a, b)| libm::fabs(a - b))).fold(0.0, f64::max)
}

fn ss_tot(y: &[f64]) -> f64 {
    let mean = y.iter().sum::<f64>() / y.len() as f64;
    y.iter().map(|v| sq(v - mean)).sum()
}

fn sq(v: f64) -> f64 {
    v * v
}
