//! The paper's curve model for log-odds against steering strength (notes/steering.md §3), fitted
//! by Levenberg–Marquardt, with standard errors and a verdict on whether the fit means anything.
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
//! **Fitting.** Least squares by Levenberg–Marquardt (the `levenberg-marquardt` crate, a port of
//! MINPACK's `lmder`, no_std) over all parameters with the analytic Jacobian. The shape
//! parameters live in a box (`LO`, `HI`); the solver is unconstrained, so each one is
//! written as `mid + half·sin(u)` (the transform MINUIT uses for bounds) and the solver moves
//! `u`. Starts: the best few points of a fixed grid over the shape parameters, each with its
//! linear parameters solved exactly; the best end point wins. Deterministic.
//!
//! **Standard errors** come from the Jacobian J at the optimum: Cov = σ²(JᵀJ)⁻¹ with
//! σ² = SSR/(n − p), reported in the caller's units. **Degenerate** fits — too few points, a
//! side of 0 with fewer than 3 strengths, a solver that did not converge, a parameter on its
//! bound, parameters the data cannot tell apart, or a standard error too large for a parameter
//! that matters (see [`CurveFit::degenerate`]) — are still returned, with the reasons, because
//! their curve may still describe the points; their parameters should not be read.
use crate::error::{Error, Result};
use crate::math::stats::check_finite;
use alloc::{format, string::String, vec, vec::Vec};
use levenberg_marquardt::{LeastSquaresProblem, LevenbergMarquardt, TerminationReason};
use nalgebra::{storage::Owned, DMatrix, DVector, Dyn};
use serde::{Deserialize, Serialize};

/// Which of the paper's two curves.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum CurveKind {
    /// (α·m + β)·D̃(m) + b: 9 parameters.
    Preference,
    /// β_u·D̃(m) + b_u: 8 parameters.
    Utility,
}

impl CurveKind {
    /// Number of fitted parameters: 6 shape + 3 or 2 linear.
    pub fn n_params(self) -> usize {
        match self {
            CurveKind::Preference => 9,
            CurveKind::Utility => 8,
        }
    }

    /// Names of the parameters, in the internal order (shape, then linear), as the JSON fields
    /// of [`CurveFit`] spell them.
    fn names(self) -> &'static [&'static str] {
        const SHAPE: [&str; 6] = ["pos.center", "pos.width", "pos.power", "neg.center", "neg.width", "neg.power"];
        match self {
            CurveKind::Preference => {
                &[SHAPE[0], SHAPE[1], SHAPE[2], SHAPE[3], SHAPE[4], SHAPE[5], "alpha", "beta", "offset"]
            }
            CurveKind::Utility => &[SHAPE[0], SHAPE[1], SHAPE[2], SHAPE[3], SHAPE[4], SHAPE[5], "beta", "offset"],
        }
    }
}

/// One branch of the decay, in the caller's strength units. (In [`CurveErrors`] the same three
/// fields hold standard errors.)
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
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

/// Standard errors of a fit's parameters, in the caller's units (σ²(JᵀJ)⁻¹, linearised at the
/// optimum). `alpha` is 0 for a utility curve, which has no α.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CurveErrors {
    /// Standard error of α.
    pub alpha: f32,
    /// Standard error of β (β_u).
    pub beta: f32,
    /// Standard error of b (b_u).
    pub offset: f32,
    /// Standard errors of the m ≥ 0 branch's centre, width and power.
    pub pos: Decay,
    /// Standard errors of the m < 0 branch's centre, width and power.
    pub neg: Decay,
}

/// A fitted curve. `alpha` is 0 for a utility curve.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CurveFit {
    /// Which curve.
    pub kind: CurveKind,
    /// α: the slope of the preference term (0 for utility).
    pub alpha: f32,
    /// β (β_u): the amplitude at m = 0.
    pub beta: f32,
    /// b (or b_u): the level the curve settles to far from 0.
    pub offset: f32,
    /// Branch used for m ≥ 0.
    pub pos: Decay,
    /// Branch used for m < 0.
    pub neg: Decay,
    /// R² on the points it was fitted to.
    pub train_r2: f32,
    /// Points fitted.
    pub n_points: usize,
    /// Standard errors of the parameters; `None` when they cannot be estimated (no more points
    /// than parameters, or parameters the data cannot tell apart).
    pub std_errors: Option<CurveErrors>,
    /// σ = √(SSR/(n − p)), the residual standard deviation; `None` when n ≤ p.
    pub residual_sd: Option<f32>,
    /// Why the fitted parameters should not be read, `None` when nothing is wrong. Reasons,
    /// joined by "; ", each naming its parameter as the JSON fields do:
    /// - n ≤ p points (no degrees of freedom: the curve can pass through every point);
    /// - fewer than 3 strengths on a side of 0 (that side's 3 decay parameters are not pinned);
    /// - the solver stopped without converging;
    /// - a decay parameter within 1% (of the box, in the fitted coordinates) of its bound;
    /// - parameters the data cannot separate (a rank-deficient Jacobian);
    /// - a standard error larger than the parameter where its size is what matters: a width or
    ///   power (a relative error above 100%), the utility amplitude β_u (the curve is flat within
    ///   its errors), or α and β together for preference (either alone may be 0 in a real curve);
    /// - a standard error beyond the data's own scale where the value may legitimately be 0: a
    ///   centre (beyond the strengths' span), the offset or β (beyond the values' span).
    pub degenerate: Option<String>,
}

impl CurveFit {
    /// The fitted curve at strength `m`.
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
/// Errors (no curve at all): lengths differ, no points, non-finite values, every strength 0, or
/// constant `ys` (nothing to fit, and R² undefined). Anything else gives a fit, flagged in
/// [`CurveFit::degenerate`] when its parameters cannot be trusted — including fewer points than
/// parameters.
pub fn fit(kind: CurveKind, ms: &[f32], ys: &[f32]) -> Result<CurveFit> {
    check_points(ms, ys)?;
    if ys.iter().all(|&y| y == ys[0]) {
        return Err(Error::Invalid("every value is the same: there is no curve to fit".into()));
    }
    // Work in x = m / s so |x| ≤ 1: the start grid and the box are then meaningful for any
    // strength unit (raw m, multiples of ‖v‖, fractions of the layer norm).
    let s = ms.iter().fold(0.0f64, |a, &m| a.max(libm::fabs(m as f64)));
    if s == 0.0 {
        return Err(Error::Invalid("every strength is 0: there is no curve along m to fit".into()));
    }
    let x: Vec<f64> = ms.iter().map(|&m| m as f64 / s).collect();
    let y: Vec<f64> = ys.iter().map(|&v| v as f64).collect();
    let problem = Problem { kind, x: &x, y: &y };
    let (theta, termination) = problem.minimise();
    let mut fit = problem.to_fit(&theta, s);
    fit.train_r2 = fit.r2(ms, ys)?;
    let verdict = problem.assess(&theta, s, &termination);
    fit.std_errors = verdict.errors;
    fit.residual_sd = verdict.residual_sd;
    fit.degenerate = (!verdict.reasons.is_empty()).then(|| verdict.reasons.join("; "));
    Ok(fit)
}

fn check_points(ms: &[f32], ys: &[f32]) -> Result<()> {
    if ms.len() != ys.len() {
        return Err(Error::Invalid(format!("{} strengths but {} values", ms.len(), ys.len())));
    }
    if ms.is_empty() {
        return Err(Error::Invalid("no points to fit a curve to".into()));
    }
    check_finite("strengths", ms)?;
    check_finite("values", ys)
}

// ---- the model in scaled units ----

/// Shape parameters in scaled units: [c+, ln L+, ln p+, c−, ln L−, ln p−].
/// Logs keep L± and p± positive and make steps multiplicative, which suits parameters that
/// matter over orders of magnitude (a width of 0.01 and of 1 are both plausible).
type Theta = [f64; 6];

/// Box for the shape parameters (scaled units). Beyond it the curve no longer changes in a way
/// the data can see (a centre far outside the data, a width far below the grid spacing or far
/// above its range, a power so large or small that only its ratio to the width matters); a fit
/// that ends on it is flagged.
const LO: Theta = [-2.0, -9.2, -6.9, -2.0, -9.2, -6.9]; // L ≥ 1e-4, p ≥ 1e-3
const HI: Theta = [2.0, 9.2, 6.9, 2.0, 9.2, 6.9]; // L ≤ 1e4, p ≤ 1e3

/// "On the bound": within this fraction of the box's width (in the fitted coordinates, so 1%
/// is a factor ≈ 1.15 for a power, ≈ 1.2 for a width, 0.04·s for a centre).
const AT_BOUND: f64 = 0.01;

/// ln D(x) = −p·ln(1 + (x − c)²/L), via log1p for accuracy when the ratio is small.
fn log_decay(x: f64, c: f64, l: f64, p: f64) -> f64 {
    -p * libm::log1p(sq(x - c) / l)
}

/// D(x)/D(0), taken as one exponential of a difference of logs so that neither factor
/// underflows on its own.
fn rel_decay(x: f64, c: f64, l: f64, p: f64) -> f64 {
    libm::exp(log_decay(x, c, l, p) - log_decay(0.0, c, l, p))
}

/// Offset of the branch that serves `x` within the shape parameters.
fn branch_of(x: f64) -> usize {
    if x >= 0.0 {
        0
    } else {
        3
    }
}

/// The curve at x, with all parameters `t` (shape, then linear).
fn value(kind: CurveKind, t: &[f64], x: f64) -> f64 {
    let o = branch_of(x);
    let g = rel_decay(x, t[o], libm::exp(t[o + 1]), libm::exp(t[o + 2]));
    match kind {
        CurveKind::Preference => (t[6] * x + t[7]) * g + t[8],
        CurveKind::Utility => t[6] * g + t[7],
    }
}

/// ∂value/∂t at x, into `row` (length n_params). With A the amplitude (α·x + β or β_u),
/// g = D̃(x) and w(z) = L + z²:
/// ∂/∂c = A·g·2p·[(x − c)/w(x − c) + c/w(c)], ∂/∂ln L = A·g·p·[(x − c)²/w(x − c) − c²/w(c)],
/// ∂/∂ln p = A·g·ln g; the linear parameters give x·g, g, 1 (or g, 1).
fn gradient(kind: CurveKind, t: &[f64], x: f64, row: &mut [f64]) {
    row.iter_mut().for_each(|r| *r = 0.0);
    let o = branch_of(x);
    let (c, l, p) = (t[o], libm::exp(t[o + 1]), libm::exp(t[o + 2]));
    let ln_g = log_decay(x, c, l, p) - log_decay(0.0, c, l, p);
    let g = libm::exp(ln_g);
    let amp = match kind {
        CurveKind::Preference => t[6] * x + t[7],
        CurveKind::Utility => t[6],
    };
    let (dx, wx, w0) = (x - c, l + sq(x - c), l + sq(c));
    row[o] = amp * g * 2.0 * p * (dx / wx + c / w0);
    row[o + 1] = amp * g * p * (sq(dx) / wx - sq(c) / w0);
    row[o + 2] = amp * g * ln_g;
    match kind {
        CurveKind::Preference => row[6..9].copy_from_slice(&[x * g, g, 1.0]),
        CurveKind::Utility => row[6..8].copy_from_slice(&[g, 1.0]),
    }
}

struct Problem<'a> {
    kind: CurveKind,
    x: &'a [f64],
    y: &'a [f64],
}

/// What [`Problem::assess`] found.
struct Verdict {
    errors: Option<CurveErrors>,
    residual_sd: Option<f32>,
    reasons: Vec<String>,
}

impl Problem<'_> {
    fn n_linear(&self) -> usize {
        self.kind.n_params() - 6
    }

    fn ssr(&self, t: &[f64]) -> f64 {
        self.x.iter().zip(self.y).map(|(&x, &y)| sq(value(self.kind, t, x) - y)).sum()
    }

    /// The Jacobian of the curve at every point (n × p) with respect to `t`.
    fn jacobian(&self, t: &[f64]) -> DMatrix<f64> {
        let p = self.kind.n_params();
        let mut j = DMatrix::zeros(self.x.len(), p);
        let mut row = vec![0.0; p];
        for (i, &x) in self.x.iter().enumerate() {
            gradient(self.kind, t, x, &mut row);
            (0..p).for_each(|k| j[(i, k)] = row[k]);
        }
        j
    }

    /// Best linear parameters for shape `t` (exact least squares), appended to `t`.
    fn with_linear(&self, t: &Theta) -> Vec<f64> {
        let p = self.n_linear();
        let (mut a, mut r) = ([[0.0; 3]; 3], [0.0; 3]);
        for (&x, &y) in self.x.iter().zip(self.y) {
            let o = branch_of(x);
            let g = rel_decay(x, t[o], libm::exp(t[o + 1]), libm::exp(t[o + 2]));
            let z = match self.kind {
                CurveKind::Preference => [x * g, g, 1.0],
                CurveKind::Utility => [g, 1.0, 0.0],
            };
            for i in 0..p {
                r[i] += z[i] * y;
                (0..p).for_each(|j| a[i][j] += z[i] * z[j]);
            }
        }
        let coef = solve_small(a, r, p);
        t.iter().copied().chain(coef[..p].iter().copied()).collect()
    }

    /// The best few grid starts (ranked by their SSR with exact linear parameters), each
    /// polished by Levenberg–Marquardt; the lowest SSR wins (the first on a tie, so the result
    /// is deterministic). Returns the parameters and the chosen run's termination.
    fn minimise(&self) -> (Vec<f64>, TerminationReason) {
        let mut starts: Vec<(f64, Vec<f64>)> = start_grid()
            .iter()
            .map(|t| self.with_linear(t))
            .map(|t| (self.ssr(&t), t))
            .filter(|(ssr, _)| ssr.is_finite())
            .collect();
        starts.sort_by(|a, b| a.0.total_cmp(&b.0));
        let solver = LevenbergMarquardt::new().with_patience(PATIENCE);
        let mut best: Option<(f64, Vec<f64>, TerminationReason)> = None;
        for (_, start) in starts.into_iter().take(N_STARTS) {
            let (done, report) = solver.minimize(Lm::new(self, &start));
            let t = done.theta();
            let ssr = self.ssr(&t);
            if ssr.is_finite() && best.as_ref().is_none_or(|b| ssr < b.0) {
                best = Some((ssr, t, report.termination));
            }
        }
        match best {
            Some((_, t, why)) => (t, why),
            // Every start overflowed: only possible with absurd inputs; report it as such.
            None => (self.with_linear(&[0.0, 0.0, 0.0, 0.0, 0.0, 0.0]), TerminationReason::Numerical("overflow")),
        }
    }

    /// Back to the caller's units: c = s·c_x, L = s²·L_x, α = α_x / s.
    fn to_fit(&self, t: &[f64], s: f64) -> CurveFit {
        let branch = |o: usize| Decay {
            center: (t[o] * s) as f32,
            width: (libm::exp(t[o + 1]) * s * s) as f32,
            power: libm::exp(t[o + 2]) as f32,
        };
        let (alpha, beta, offset) = match self.kind {
            CurveKind::Preference => (t[6] / s, t[7], t[8]),
            CurveKind::Utility => (0.0, t[6], t[7]),
        };
        CurveFit {
            kind: self.kind,
            alpha: alpha as f32,
            beta: beta as f32,
            offset: offset as f32,
            pos: branch(0),
            neg: branch(3),
            train_r2: f32::NAN,
            n_points: self.x.len(),
            std_errors: None,
            residual_sd: None,
            degenerate: None,
        }
    }

    /// Standard errors and the reasons (if any) not to read the parameters.
    fn assess(&self, t: &[f64], s: f64, termination: &TerminationReason) -> Verdict {
        let (n, p) = (self.x.len(), self.kind.n_params());
        let names = self.kind.names();
        let mut reasons = Vec::new();
        if n <= p {
            reasons.push(format!(
                "{n} points for {p} parameters: no degrees of freedom are left to estimate the noise, \
                 so there are no standard errors (the curve can pass through every point)"
            ));
        }
        for (side, count) in [
            ("m ≥ 0", self.x.iter().filter(|&&x| x > 0.0).count()),
            ("m < 0", self.x.iter().filter(|&&x| x < 0.0).count()),
        ] {
            if count < 3 {
                reasons
                    .push(format!("{count} strengths on the {side} side: its decay (3 parameters) needs at least 3"));
            }
        }
        if !termination.was_successful() {
            reasons.push(format!("the solver stopped without converging ({termination:?})"));
        }
        for i in 0..6 {
            let room = AT_BOUND * (HI[i] - LO[i]);
            let (bound, which) = if t[i] - LO[i] <= room { (LO[i], "lower") } else { (HI[i], "upper") };
            if libm::fabs(t[i] - bound) <= room {
                let nat = |v: f64| natural(i, v, s);
                reasons.push(format!("{} = {:.4} is at its {which} bound ({:.4})", names[i], nat(t[i]), nat(bound)));
            }
        }
        let mut verdict = Verdict { errors: None, residual_sd: None, reasons };
        if n > p {
            let sigma2 = self.ssr(t) / (n - p) as f64;
            verdict.residual_sd = Some(libm::sqrt(sigma2) as f32);
            match covariance(&self.jacobian(t), sigma2) {
                Ok(cov) => {
                    let se: Vec<f64> = (0..p).map(|i| libm::sqrt(cov[(i, i)])).collect();
                    let errors = self.errors_in_caller_units(t, &se, s);
                    self.judge_errors(t, &errors, s, &mut verdict.reasons);
                    verdict.errors = Some(errors);
                }
                Err(unseparated) => {
                    let which: Vec<&str> = unseparated.iter().map(|&i| names[i]).collect();
                    verdict.reasons.push(format!(
                        "the points do not determine {} (a rank-deficient Jacobian: some change of \
                         these parameters leaves every fitted value as it is)",
                        which.join(", ")
                    ));
                }
            }
        }
        verdict
    }

    /// Standard errors of the scaled, log-coordinate parameters turned into the caller's units
    /// (delta method: SE(L) = L·SE(ln L), SE(c) = s·SE(c_x), SE(α) = SE(α_x)/s).
    fn errors_in_caller_units(&self, t: &[f64], se: &[f64], s: f64) -> CurveErrors {
        let branch = |o: usize| Decay {
            center: (se[o] * s) as f32,
            width: (se[o + 1] * libm::exp(t[o + 1]) * s * s) as f32,
            power: (se[o + 2] * libm::exp(t[o + 2])) as f32,
        };
        let (alpha, beta, offset) = match self.kind {
            CurveKind::Preference => (se[6] / s, se[7], se[8]),
            CurveKind::Utility => (0.0, se[6], se[7]),
        };
        CurveErrors { alpha: alpha as f32, beta: beta as f32, offset: offset as f32, pos: branch(0), neg: branch(3) }
    }

    /// The standard-error rules of [`CurveFit::degenerate`], in the caller's units.
    fn judge_errors(&self, t: &[f64], e: &CurveErrors, s: f64, reasons: &mut Vec<String>) {
        let fit = self.to_fit(t, s);
        let span = |v: &[f64]| {
            v.iter().fold(f64::NEG_INFINITY, |a, &b| a.max(b)) - v.iter().fold(f64::INFINITY, |a, &b| a.min(b))
        };
        let (m_span, y_span) = ((span(self.x) * s) as f32, span(self.y) as f32);
        let mut relative = |name: &str, value: f32, se: f32| {
            if exceeds(se, libm::fabsf(value)) {
                reasons.push(format!("{name} = {value:.4} has a standard error of {se:.3} (more than its value)"));
            }
        };
        for (side, d, de) in [("pos", fit.pos, e.pos), ("neg", fit.neg, e.neg)] {
            relative(&format!("{side}.width"), d.width, de.width);
            relative(&format!("{side}.power"), d.power, de.power);
        }
        if self.kind == CurveKind::Utility {
            relative("beta", fit.beta, e.beta);
        }
        let mut scaled = |name: &str, value: f32, se: f32, scale: f32, what: &str| {
            if exceeds(se, scale) {
                reasons.push(format!(
                    "{name} = {value:.4} has a standard error of {se:.3}, more than {what} ({scale:.3})"
                ));
            }
        };
        scaled("pos.center", fit.pos.center, e.pos.center, m_span, "the strengths' span");
        scaled("neg.center", fit.neg.center, e.neg.center, m_span, "the strengths' span");
        scaled("offset", fit.offset, e.offset, y_span, "the values' span");
        scaled("beta", fit.beta, e.beta, y_span, "the values' span");
        let flat = exceeds(e.alpha, libm::fabsf(fit.alpha)) && exceeds(e.beta, libm::fabsf(fit.beta));
        if self.kind == CurveKind::Preference && flat {
            reasons.push(format!(
                "neither alpha = {:.4} (± {:.3}) nor beta = {:.4} (± {:.3}) is distinguishable from 0: \
                 the curve is flat within its errors",
                fit.alpha, e.alpha, fit.beta, e.beta
            ));
        }
    }
}

/// `se > limit`, and true for a NaN standard error (which determines nothing).
fn exceeds(se: f32, limit: f32) -> bool {
    se.is_nan() || se > limit
}

/// A scaled, log-coordinate shape parameter `i` in the caller's units.
fn natural(i: usize, v: f64, s: f64) -> f64 {
    match i % 3 {
        0 => v * s,
        1 => libm::exp(v) * s * s,
        _ => libm::exp(v),
    }
}

/// Ratio below which an eigenvalue of the correlation-scaled JᵀJ counts as zero: the Jacobian's
/// columns are then dependent to within ~1e-6 (√ of this), about what f32 inputs resolve.
const RANK_TOL: f64 = 1e-12;

/// σ²(JᵀJ)⁻¹, computed on the correlation scale (columns of J normalised) so that the rank test
/// does not depend on the parameters' units. Errors with the indices of the parameters that are
/// not determined: a column of zeros (the parameter changes no fitted point), or the main
/// components of a (near-)null direction.
fn covariance(j: &DMatrix<f64>, sigma2: f64) -> core::result::Result<DMatrix<f64>, Vec<usize>> {
    let p = j.ncols();
    let jtj = j.transpose() * j;
    let norms: Vec<f64> = (0..p).map(|i| libm::sqrt(jtj[(i, i)])).collect();
    let largest = norms.iter().fold(0.0f64, |a, &b| a.max(b));
    let dead: Vec<usize> = (0..p).filter(|&i| norms[i].is_nan() || norms[i] <= 1e-12 * largest).collect();
    if !dead.is_empty() {
        return Err(dead);
    }
    let corr = DMatrix::from_fn(p, p, |a, b| jtj[(a, b)] / (norms[a] * norms[b]));
    let eig = nalgebra::SymmetricEigen::new(corr);
    let top = eig.eigenvalues.iter().fold(0.0f64, |a, &b| a.max(b));
    let mut unseparated: Vec<usize> = Vec::new();
    for (k, &lambda) in eig.eigenvalues.iter().enumerate() {
        if lambda.is_nan() || lambda <= RANK_TOL * top {
            let v = eig.eigenvectors.column(k);
            unseparated.extend((0..p).filter(|&i| libm::fabs(v[i]) > 0.3));
        }
    }
    if !unseparated.is_empty() {
        unseparated.sort_unstable();
        unseparated.dedup();
        return Err(unseparated);
    }
    let inv_diag = DVector::from_iterator(p, eig.eigenvalues.iter().map(|l| 1.0 / l));
    let inv = &eig.eigenvectors * DMatrix::from_diagonal(&inv_diag) * eig.eigenvectors.transpose();
    Ok(DMatrix::from_fn(p, p, |a, b| sigma2 * inv[(a, b)] / (norms[a] * norms[b])))
}

/// Normal equations for ≤ 3 unknowns with a tiny ridge: when the shape is nearly flat, g and
/// the constant are collinear and the plain system is singular; the ridge picks the small-norm
/// solution there and changes nothing measurable elsewhere. Gaussian elimination with partial
/// pivoting. Used only to give each start its best linear parameters.
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

// ---- the solver ----

/// How many of the best grid points get a Levenberg–Marquardt run.
const N_STARTS: usize = 6;
/// The solver's evaluation budget is PATIENCE·(p + 1): generous, because the width/power ridge
/// of the decay can take many short steps.
const PATIENCE: usize = 1000;

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

/// The problem as the solver sees it: shape parameter i is `mid_i + half_i·sin(u_i)` (inside
/// its box whatever u is), the linear parameters are free.
struct Lm<'a, 'b> {
    problem: &'b Problem<'a>,
    u: DVector<f64>,
}

impl<'a, 'b> Lm<'a, 'b> {
    fn new(problem: &'b Problem<'a>, t: &[f64]) -> Self {
        let u = DVector::from_iterator(
            t.len(),
            t.iter().enumerate().map(|(i, &v)| {
                if i < 6 {
                    let (mid, half) = box_of(i);
                    libm::asin(((v - mid) / half).clamp(-1.0, 1.0))
                } else {
                    v
                }
            }),
        );
        Lm { problem, u }
    }

    fn theta(&self) -> Vec<f64> {
        self.u
            .iter()
            .enumerate()
            .map(|(i, &u)| {
                if i < 6 {
                    let (mid, half) = box_of(i);
                    mid + half * libm::sin(u)
                } else {
                    u
                }
            })
            .collect()
    }
}

fn box_of(i: usize) -> (f64, f64) {
    ((HI[i] + LO[i]) / 2.0, (HI[i] - LO[i]) / 2.0)
}

impl LeastSquaresProblem<f64, Dyn, Dyn> for Lm<'_, '_> {
    type ResidualStorage = Owned<f64, Dyn>;
    type JacobianStorage = Owned<f64, Dyn, Dyn>;
    type ParameterStorage = Owned<f64, Dyn>;

    fn set_params(&mut self, u: &DVector<f64>) {
        self.u.copy_from(u);
    }

    fn params(&self) -> DVector<f64> {
        self.u.clone()
    }

    fn residuals(&self) -> Option<DVector<f64>> {
        let (t, pr) = (self.theta(), self.problem);
        Some(DVector::from_iterator(pr.x.len(), pr.x.iter().zip(pr.y).map(|(&x, &y)| value(pr.kind, &t, x) - y)))
    }

    /// Chain rule through the sine transform: ∂/∂u_i = ∂/∂θ_i · half_i·cos(u_i).
    fn jacobian(&self) -> Option<DMatrix<f64>> {
        let mut j = self.problem.jacobian(&self.theta());
        for i in 0..6 {
            let d = box_of(i).1 * libm::cos(self.u[i]);
            j.column_mut(i).iter_mut().for_each(|v| *v *= d);
        }
        Some(j)
    }
}

fn sq(v: f64) -> f64 {
    v * v
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The whole fit on whatever target the unit tests run on (the CI also runs them as wasm32):
    /// a noise-free utility curve comes back to 1e-4 relative, with no degenerate flag.
    #[test]
    fn a_clean_curve_is_fitted_on_this_target() {
        let ms: Vec<f32> = (-15..=15).map(|i| i as f32 * 0.4).collect();
        let truth = CurveFit {
            kind: CurveKind::Utility,
            alpha: 0.0,
            beta: 3.0,
            offset: -2.0,
            pos: Decay { center: 0.3, width: 1.5, power: 1.2 },
            neg: Decay { center: -0.2, width: 3.0, power: 0.7 },
            train_r2: 1.0,
            n_points: ms.len(),
            std_errors: None,
            residual_sd: None,
            degenerate: None,
        };
        let ys: Vec<f32> = ms.iter().map(|&m| truth.predict(m)).collect();
        let fit = fit_utility(&ms, &ys).unwrap();
        assert_eq!(fit.degenerate, None, "{fit:?}");
        let pairs = [(fit.beta, 3.0), (fit.offset, -2.0), (fit.pos.width, 1.5), (fit.neg.power, 0.7)];
        for (got, want) in pairs {
            assert!((got - want).abs() < 1e-4 * want.abs(), "{fit:?}");
        }
    }

    /// The analytic Jacobian against central differences of the model, at points on both sides
    /// and for both kinds; bound 1e-6 relative (the step's truncation error is ~h² ≈ 1e-10).
    #[test]
    fn gradient_matches_finite_differences() {
        let t = [0.3, -0.5, 0.2, -0.4, 0.7, -0.3, 1.3, -0.6, 0.4];
        for kind in [CurveKind::Preference, CurveKind::Utility] {
            let t = &t[..kind.n_params()];
            let mut row = vec![0.0; t.len()];
            for x in [-0.9, -0.2, 0.0, 0.35, 1.0] {
                gradient(kind, t, x, &mut row);
                for k in 0..t.len() {
                    let h = 1e-5;
                    let (mut up, mut down) = (t.to_vec(), t.to_vec());
                    up[k] += h;
                    down[k] -= h;
                    let fd = (value(kind, &up, x) - value(kind, &down, x)) / (2.0 * h);
                    assert!((fd - row[k]).abs() <= 1e-6 * (1.0 + fd.abs()), "{kind:?} x={x} k={k}: {fd} vs {}", row[k]);
                }
            }
        }
    }
}
