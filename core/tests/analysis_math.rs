//! The analysis math against plain references: the curve fit recovers the curve that generated
//! its data, the subspace score separates in-plane from orthogonal points, Spearman matches
//! Pearson-on-ranks computed by brute force, and the PCA direction matches a full Jacobi
//! eigen-decomposition. Runs without the `model` feature (no_std-compatible code under test).
mod common;
use common::Symmetric;
use steerscope::analysis::curve::{fit_preference, fit_utility, CurveFit, CurveKind, Decay};
use steerscope::analysis::manifold::Subspace;
use steerscope::math::stats::{pearson, spearman};
use steerscope::rng::Rng;
use steerscope::steer::pca::pca_direction;
use steerscope::Error;

// ---------- curve ----------

/// The model written out plainly: branch (c, L, p) per side, each divided by its value at 0.
/// The generating curve sampled at `ms`.
fn curve(ms: &[f32], alpha: f64, beta: f64, b: f64, pos: (f64, f64, f64), neg: (f64, f64, f64)) -> Vec<f32> {
    ms.iter().map(|&m| model(m as f64, alpha, beta, b, pos, neg) as f32).collect()
}

fn model(m: f64, alpha: f64, beta: f64, b: f64, pos: (f64, f64, f64), neg: (f64, f64, f64)) -> f64 {
    let (c, l, p) = if m >= 0.0 { pos } else { neg };
    let d = |x: f64| (1.0 + (x - c).powi(2) / l).powf(-p);
    (alpha * m + beta) * d(m) / d(0.0) + b
}

fn grid(lo: f32, hi: f32, step: f32) -> Vec<f32> {
    let n = ((hi - lo) / step).round() as usize;
    (0..=n).map(|i| lo + i as f32 * step).collect()
}

fn close(a: f32, b: f64, rel: f64) -> bool {
    ((a as f64) - b).abs() <= rel * b.abs().max(1e-3)
}

fn max_err(fit: &CurveFit, ms: &[f32], ys: &[f32]) -> f32 {
    ms.iter().zip(ys).map(|(&m, &y)| (fit.predict(m) - y).abs()).fold(0.0, f32::max)
}

#[test]
fn preference_fit_recovers_its_generating_curve() {
    let (pos, neg) = ((0.5, 4.0, 1.5), (-1.0, 2.0, 0.8));
    let ms = grid(-8.0, 8.0, 0.5);
    let ys = curve(&ms, 0.8, 0.5, -1.0, pos, neg);
    let fit = fit_preference(&ms, &ys).unwrap();
    eprintln!("{fit:?}");
    assert_eq!(fit.kind, CurveKind::Preference);
    assert!(fit.train_r2 > 0.9999, "{}", fit.train_r2);
    assert!(max_err(&fit, &ms, &ys) < 1e-3, "{}", max_err(&fit, &ms, &ys));
    // Held out: between the grid points, including just either side of 0.
    let held = grid(-7.75, 7.75, 0.5);
    let hy = curve(&held, 0.8, 0.5, -1.0, pos, neg);
    assert!(fit.r2(&held, &hy).unwrap() > 0.9999);
    assert!((fit.predict(-1e-6) - fit.predict(0.0)).abs() < 1e-5, "continuous at 0");
    for (got, want) in [(fit.alpha, 0.8), (fit.beta, 0.5), (fit.offset, -1.0)] {
        assert!(close(got, want, 0.005), "linear params {fit:?}");
    }
    for (got, want) in [(fit.pos, pos), (fit.neg, neg)] {
        assert!(
            close(got.center, want.0, 0.005) && close(got.width, want.1, 0.005) && close(got.power, want.2, 0.005),
            "{got:?} vs {want:?}"
        );
    }
}

#[test]
fn utility_fit_recovers_its_generating_curve() {
    let (pos, neg) = ((0.3, 1.5, 1.2), (-0.2, 3.0, 0.7));
    let ms = grid(-6.0, 6.0, 0.4);
    let ys = curve(&ms, 0.0, 3.0, -2.0, pos, neg);
    let fit = fit_utility(&ms, &ys).unwrap();
    eprintln!("{fit:?}");
    assert_eq!(fit.alpha, 0.0);
    assert!(fit.train_r2 > 0.9999, "{}", fit.train_r2);
    assert!(max_err(&fit, &ms, &ys) < 1e-3);
    assert!(close(fit.beta, 3.0, 0.005) && close(fit.offset, -2.0, 0.005), "{fit:?}");
    for (got, want) in [(fit.pos, pos), (fit.neg, neg)] {
        assert!(
            close(got.center, want.0, 0.005) && close(got.width, want.1, 0.005) && close(got.power, want.2, 0.005),
            "{got:?} vs {want:?}"
        );
    }
    // The paper's raw D and the relative one differ only by the branch's D(0).
    let d0 = fit.pos.raw(0.0);
    assert!((fit.pos.raw(2.0) / d0 - fit.pos.relative(2.0)).abs() < 1e-5);
}

#[test]
fn noisy_curve_still_fits_the_truth() {
    let (pos, neg) = ((0.0, 2.0, 1.0), (0.0, 2.0, 1.0));
    let truth = |m: f32| model(m as f64, 1.0, 0.0, 0.5, pos, neg) as f32;
    let ms = grid(-10.0, 10.0, 0.25);
    let mut rng = Rng::new(7);
    // Uniform noise of half-width 0.3 (σ ≈ 0.17) on a curve spanning about ±1.2.
    let ys: Vec<f32> = ms.iter().map(|&m| truth(m) + 0.3 * rng.symmetric()).collect();
    let fit = fit_preference(&ms, &ys).unwrap();
    eprintln!("{fit:?}");
    // The optimiser does at least as well on the noisy points as the generating curve itself.
    let dec = Decay { center: 0.0, width: 2.0, power: 1.0 };
    let generating = CurveFit { alpha: 1.0, beta: 0.0, offset: 0.5, pos: dec, neg: dec, ..fit.clone() };
    assert!(
        fit.train_r2 >= generating.r2(&ms, &ys).unwrap(),
        "{} vs {}",
        fit.train_r2,
        generating.r2(&ms, &ys).unwrap()
    );
    assert!(fit.train_r2 > 0.8, "{}", fit.train_r2);
    // Against the noise-free curve, between the grid points: close, short of perfect because 9
    // parameters fit some of the noise.
    let held = grid(-9.9, 9.9, 0.3);
    let hy: Vec<f32> = held.iter().map(|&m| truth(m)).collect();
    let r2 = fit.r2(&held, &hy).unwrap();
    assert!(r2 > 0.95, "held-out R² against the noise-free curve: {r2}");
    // A curve judged on unrelated data can do worse than the mean: R² goes negative.
    let flipped: Vec<f32> = hy.iter().map(|y| -y).collect();
    assert!(fit.r2(&held, &flipped).unwrap() < 0.0);
}

#[test]
fn the_fit_is_deterministic() {
    let ms = grid(-4.0, 4.0, 0.5);
    let mut rng = Rng::new(3);
    let ys: Vec<f32> = ms.iter().map(|&m| (m * 0.7).tanh() + 0.1 * rng.symmetric()).collect();
    let fit = fit_preference(&ms, &ys).unwrap();
    assert_eq!(fit, fit_preference(&ms, &ys).unwrap());
    // Not from the model family, but the paper's linear → flat shape: the family covers it.
    assert!(fit.train_r2 > 0.97, "{fit:?}");
}

#[test]
fn bad_curve_input_is_refused() {
    let msg = |r: Result<CurveFit, Error>| r.unwrap_err().to_string();
    let ms = grid(-4.0, 4.0, 1.0); // 9 points, 4 on each side
    let ys: Vec<f32> = ms.iter().map(|m| m * 0.5).collect();
    assert!(fit_preference(&ms, &ys).is_ok());
    assert!(msg(fit_preference(&ms[..8], &ys[..8])).contains("8 points cannot fit"));
    assert!(msg(fit_utility(&ms[..7], &ys[..7])).contains("8 parameters"));
    assert!(msg(fit_preference(&ms, &ys[..8])).contains("9 strengths but 8 values"));
    assert_eq!(fit_preference(&[], &[]).unwrap_err(), Error::EmptyDataset);
    let mut nan = ys.clone();
    nan[3] = f32::NAN;
    assert!(msg(fit_preference(&ms, &nan)).contains("value 3 is NaN"));
    let mut inf = ms.clone();
    inf[0] = f32::INFINITY;
    assert!(msg(fit_utility(&inf, &ys)).contains("strengths: value 0 is inf"));
    let one_sided: Vec<f32> = (0..12).map(|i| i as f32).collect();
    assert!(msg(fit_utility(&one_sided, &one_sided)).contains("each side of 0"));
    assert!(msg(fit_utility(&ms, &[1.0; 9])).contains("same"));
    let fit = fit_preference(&ms, &ys).unwrap();
    assert!(fit.r2(&ms, &[2.0; 9]).unwrap_err().to_string().contains("undefined"));
    assert!(fit.r2(&[1.0], &[]).is_err());
}

// ---------- manifold ----------

/// Points a·u + b·w + offset in R^16, u ⟂ w unit vectors in the plane of dims 0..4.
fn plane() -> (Vec<f32>, Vec<f32>, Vec<f32>) {
    let s = 0.5f32;
    let u = [s, s, s, s].iter().chain([0.0; 12].iter()).copied().collect();
    let w = [s, -s, s, -s].iter().chain([0.0; 12].iter()).copied().collect();
    let offset = (0..16).map(|i| 0.1 * i as f32).collect();
    (u, w, offset)
}

fn in_plane(u: &[f32], w: &[f32], o: &[f32], a: f32, b: f32) -> Vec<f32> {
    (0..16).map(|i| a * u[i] + b * w[i] + o[i]).collect()
}

#[test]
fn subspace_separates_in_plane_from_orthogonal() {
    let (u, w, o) = plane();
    let mut rng = Rng::new(11);
    let rows: Vec<Vec<f32>> = (0..40).map(|_| in_plane(&u, &w, &o, 3.0 * rng.symmetric(), rng.symmetric())).collect();
    let sub = Subspace::fit(&rows, 2).unwrap();
    assert!(sub.converged);
    assert_eq!(sub.basis.len(), 2);
    assert!(sub.explained > 0.999999, "{}", sub.explained);
    assert!(sub.variances[0] > sub.variances[1]);
    // The basis spans the plane: points in it are reconstructed to f32 precision (relative
    // residual < 1e-4).
    let fresh: Vec<Vec<f32>> =
        (0..10).map(|_| in_plane(&u, &w, &o, 5.0 * rng.symmetric(), 5.0 * rng.symmetric())).collect();
    for p in &fresh {
        assert!(sub.residual(p).unwrap() < 1e-4, "{}", sub.residual(p).unwrap());
    }
    assert!(sub.score(&fresh).unwrap() < 1e-4);
    // Orthogonal: mean + a vector in dims 4..16 (orthogonal to the plane).
    let orth: Vec<Vec<f32>> = (0..10)
        .map(|_| {
            let mut x: Vec<f32> = sub.mean.clone();
            (4..16).for_each(|i| x[i] += rng.symmetric());
            x
        })
        .collect();
    for p in &orth {
        assert!(sub.residual(p).unwrap() > 0.9999);
    }
    assert!(sub.score(&orth).unwrap() > 0.9999);
    // Half in, half out (equal lengths) → 1/√2.
    let mut half = in_plane(&u, &w, &sub.mean, 1.0, 0.0);
    half[10] += 1.0;
    assert!((sub.residual(&half).unwrap() - 0.5f32.sqrt()).abs() < 1e-4);
    assert!((sub.distance(&half).unwrap() - 1.0).abs() < 1e-4);
    assert_eq!(sub.residual(&sub.mean.clone()).unwrap(), 0.0);
    // Same answer from the flat (n, d) form.
    let flat: Vec<f32> = rows.concat();
    let sub2 = Subspace::fit_flat(&flat, 16, 2).unwrap();
    assert!((sub2.residual(&half).unwrap() - sub.residual(&half).unwrap()).abs() < 1e-6);
}

#[test]
fn subspace_drops_directions_the_data_do_not_span() {
    let (u, w, o) = plane();
    let mut rng = Rng::new(5);
    let rows: Vec<Vec<f32>> = (0..30).map(|_| in_plane(&u, &w, &o, rng.symmetric(), rng.symmetric())).collect();
    let sub = Subspace::fit(&rows, 5).unwrap();
    assert_eq!(sub.basis.len(), 2, "variances {:?}", sub.variances);
    let mut x = sub.mean.clone();
    x[12] = 1.0;
    assert!(sub.residual(&x).unwrap() > 0.9999);
}

#[test]
fn subspace_with_n_below_d_matches_top_directions() {
    // 6 points in R^16 with clearly different spreads along e0, e1, e2: k = 2 must find e0, e1.
    let mut rows = Vec::new();
    for (i, s) in [5.0f32, 2.0, 0.5].iter().enumerate() {
        for sign in [1.0, -1.0] {
            let mut r = vec![0.0f32; 16];
            r[i] = sign * s;
            rows.push(r);
        }
    }
    let sub = Subspace::fit(&rows, 2).unwrap();
    assert!((sub.basis[0][0].abs() - 1.0).abs() < 1e-6 && (sub.basis[1][1].abs() - 1.0).abs() < 1e-6);
    assert!((sub.variances[0] - 10.0).abs() < 1e-4, "{:?}", sub.variances); // 2·25 / (6 − 1)
}

#[test]
fn bad_subspace_input_is_refused() {
    let msg = |r: Result<Subspace, Error>| r.unwrap_err().to_string();
    let empty: Vec<Vec<f32>> = vec![];
    assert_eq!(Subspace::fit(&empty, 1).unwrap_err(), Error::EmptyDataset);
    let rows = vec![vec![1.0, 2.0, 3.0], vec![0.0, 1.0, 0.0], vec![2.0, 0.0, 1.0]];
    assert!(msg(Subspace::fit(&rows, 0)).contains("allow 1..=2"));
    assert!(msg(Subspace::fit(&rows, 3)).contains("allow 1..=2"));
    assert!(msg(Subspace::fit(&rows[..1], 1)).contains("at least 2 rows"));
    let ragged = vec![vec![1.0, 2.0], vec![1.0]];
    assert!(msg(Subspace::fit(&ragged, 1)).contains("row 1 has 1 values"));
    let nan = vec![vec![1.0, 2.0], vec![f32::NAN, 1.0]];
    assert!(msg(Subspace::fit(&nan, 1)).contains("row 1: value 0 is NaN"));
    assert!(msg(Subspace::fit(&vec![vec![1.0, 1.0]; 4], 1)).contains("identical"));
    assert!(msg(Subspace::fit_flat(&[1.0; 7], 3, 1)).contains("divisible"));
    let sub = Subspace::fit(&rows, 1).unwrap();
    assert!(sub.residual(&[1.0, 2.0]).unwrap_err().to_string().contains("dimension 2"));
    assert!(sub.residual(&[1.0, f32::NAN, 0.0]).is_err());
    assert_eq!(sub.score(&empty).unwrap_err(), Error::EmptyDataset);
}

// ---------- spearman ----------

/// Brute force: each value's rank is 1 + (number smaller) + (number equal − 1)/2, then Pearson.
fn spearman_reference(a: &[f32], b: &[f32]) -> f64 {
    let ranks = |x: &[f32]| -> Vec<f64> {
        x.iter()
            .map(|v| {
                let less = x.iter().filter(|w| *w < v).count() as f64;
                let equal = x.iter().filter(|w| *w == v).count() as f64;
                1.0 + less + (equal - 1.0) / 2.0
            })
            .collect()
    };
    let (ra, rb) = (ranks(a), ranks(b));
    let n = ra.len() as f64;
    let (ma, mb) = (ra.iter().sum::<f64>() / n, rb.iter().sum::<f64>() / n);
    let cov: f64 = ra.iter().zip(&rb).map(|(x, y)| (x - ma) * (y - mb)).sum();
    let va: f64 = ra.iter().map(|x| (x - ma).powi(2)).sum();
    let vb: f64 = rb.iter().map(|y| (y - mb).powi(2)).sum();
    cov / (va * vb).sqrt()
}

#[test]
fn spearman_matches_brute_force() {
    let mut rng = Rng::new(42);
    for trial in 0..50 {
        let n = 3 + trial % 40;
        let a = rng.symmetric_vec(n);
        // Half the trials get heavy ties (values rounded to a few levels).
        let b: Vec<f32> = if trial % 2 == 0 {
            rng.symmetric_vec(n)
        } else {
            rng.symmetric_vec(n).iter().map(|v| (v * 2.0).round()).collect()
        };
        let b: Vec<f32> = b.iter().zip(&a).map(|(x, y)| x + if trial % 3 == 0 { *y } else { 0.0 }).collect();
        let (Ok(got), want) = (spearman(&a, &b), spearman_reference(&a, &b)) else {
            assert!(b.iter().all(|v| *v == b[0]), "only a constant input may fail");
            continue;
        };
        assert!((got as f64 - want).abs() < 1e-5, "trial {trial}: {got} vs {want}");
    }
}

#[test]
fn spearman_ties_and_monotone() {
    // Ties: ranks [1, 2.5, 2.5, 4] against [1, 2, 3, 4].
    let r = spearman(&[1.0, 2.0, 2.0, 3.0], &[1.0, 2.0, 3.0, 4.0]).unwrap();
    assert!((r as f64 - spearman_reference(&[1.0, 2.0, 2.0, 3.0], &[1.0, 2.0, 3.0, 4.0])).abs() < 1e-6);
    assert!((r - 0.9486833).abs() < 1e-5, "{r}");
    // Any strictly monotone map gives ±1, while Pearson does not.
    let x: Vec<f32> = (1..=20).map(|i| i as f32).collect();
    let cube: Vec<f32> = x.iter().map(|v| v.powi(3)).collect();
    assert_eq!(spearman(&x, &cube).unwrap(), 1.0);
    assert!(pearson(&x, &cube).unwrap() < 0.95);
    let falling: Vec<f32> = x.iter().map(|v| (-v).exp()).collect();
    assert_eq!(spearman(&x, &falling).unwrap(), -1.0);
}

#[test]
fn bad_correlation_input_is_refused() {
    assert!(spearman(&[1.0, 2.0], &[1.0]).unwrap_err().to_string().contains("equally long"));
    assert!(spearman(&[1.0], &[1.0]).unwrap_err().to_string().contains("at least 2"));
    assert!(spearman(&[1.0, f32::NAN], &[1.0, 2.0]).unwrap_err().to_string().contains("NaN"));
    assert!(spearman(&[1.0, 1.0, 1.0], &[1.0, 2.0, 3.0]).unwrap_err().to_string().contains("constant"));
    assert!(pearson(&[1.0, 2.0, 3.0], &[5.0; 3]).unwrap_err().to_string().contains("second input is constant"));
}

// ---------- PCA of differences ----------

/// Full eigen-decomposition of a symmetric matrix by cyclic Jacobi rotations, written out plainly:
/// returns (eigenvalues, eigenvectors as columns of `v`).
#[allow(clippy::needless_range_loop)] // index loops read like the textbook formulas
fn jacobi(mut a: Vec<Vec<f64>>) -> (Vec<f64>, Vec<Vec<f64>>) {
    let n = a.len();
    let mut v: Vec<Vec<f64>> = (0..n).map(|i| (0..n).map(|j| if i == j { 1.0 } else { 0.0 }).collect()).collect();
    for _ in 0..100 {
        for p in 0..n {
            for q in p + 1..n {
                if a[p][q].abs() < 1e-300 {
                    continue;
                }
                let theta = (a[q][q] - a[p][p]) / (2.0 * a[p][q]);
                let t = theta.signum() / (theta.abs() + (theta * theta + 1.0).sqrt());
                let (c, s) = (1.0 / (t * t + 1.0).sqrt(), t / (t * t + 1.0).sqrt());
                for k in 0..n {
                    let (kp, kq) = (a[k][p], a[k][q]);
                    a[k][p] = c * kp - s * kq;
                    a[k][q] = s * kp + c * kq;
                }
                for k in 0..n {
                    let (pk, qk) = (a[p][k], a[q][k]);
                    a[p][k] = c * pk - s * qk;
                    a[q][k] = s * pk + c * qk;
                }
                for row in v.iter_mut() {
                    let (kp, kq) = (row[p], row[q]);
                    row[p] = c * kp - s * kq;
                    row[q] = s * kp + c * kq;
                }
            }
        }
    }
    ((0..n).map(|i| a[i][i]).collect(), v)
}

#[test]
fn pca_direction_matches_jacobi_reference() {
    let d = 8;
    let mut rng = Rng::new(99);
    let concept: Vec<f32> = rng.symmetric_vec(d);
    // Differences = concept · (0.5 + noise) + isotropic noise: a clear but not exact top direction.
    let diffs: Vec<Vec<f32>> = (0..60)
        .map(|_| {
            let s = 0.5 + 0.5 * rng.symmetric();
            concept.iter().map(|c| c * s + 0.3 * rng.symmetric()).collect()
        })
        .collect();
    let got = pca_direction(&diffs).unwrap();
    assert!(got.converged && got.n_pairs == 60);
    // Reference: uncentred second moment (1/n)·Σ dᵢdᵢᵀ, fully diagonalised.
    let n = diffs.len() as f64;
    let m: Vec<Vec<f64>> = (0..d)
        .map(|i| (0..d).map(|j| diffs.iter().map(|r| r[i] as f64 * r[j] as f64).sum::<f64>() / n).collect())
        .collect();
    let trace: f64 = (0..d).map(|i| m[i][i]).sum();
    let (vals, vecs) = jacobi(m);
    let top = (0..d).max_by(|&i, &j| vals[i].total_cmp(&vals[j])).unwrap();
    let reference: Vec<f64> = (0..d).map(|r| vecs[r][top]).collect();
    let cos: f64 = got.direction.iter().zip(&reference).map(|(a, b)| *a as f64 * b).sum();
    assert!((cos.abs() - 1.0).abs() < 1e-6, "cos {cos}");
    assert!((got.explained_variance_ratio as f64 - vals[top] / trace).abs() < 1e-5);
    let norm: f32 = got.direction.iter().map(|x| x * x).sum::<f32>().sqrt();
    assert!((norm - 1.0).abs() < 1e-5);
    // Sign rule: the mean difference projects positively, and the direction points along the concept.
    let mean: Vec<f32> = (0..d).map(|j| diffs.iter().map(|r| r[j]).sum::<f32>() / 60.0).collect();
    let proj: f32 = mean.iter().zip(&got.direction).map(|(a, b)| a * b).sum();
    assert!(proj > 0.0 && (proj - got.mean_projection).abs() < 1e-5);
    assert!(concept.iter().zip(&got.direction).map(|(a, b)| a * b).sum::<f32>() > 0.0);
}

#[test]
fn pca_sign_follows_the_mean_difference() {
    let base: Vec<Vec<f32>> = vec![vec![3.0, 1.0, 0.0], vec![2.0, -1.0, 0.5], vec![4.0, 0.5, -0.5]];
    let up = pca_direction(&base).unwrap();
    let negated: Vec<Vec<f32>> = base.iter().map(|r| r.iter().map(|x| -x).collect()).collect();
    let down = pca_direction(&negated).unwrap();
    assert!(up.direction[0] > 0.0 && down.direction[0] < 0.0);
    for (a, b) in up.direction.iter().zip(&down.direction) {
        assert!((a + b).abs() < 1e-6, "negating every pair flips the direction, nothing else");
    }
    assert!((up.explained_variance_ratio - down.explained_variance_ratio).abs() < 1e-6);
    // Flipping *one* pair's order changes neither the second moment nor (here) the sign.
    let mut one = base.clone();
    one[1] = one[1].iter().map(|x| -x).collect();
    let mixed = pca_direction(&one).unwrap();
    for (a, b) in up.direction.iter().zip(&mixed.direction) {
        assert!((a - b).abs() < 1e-5);
    }
    // Pairs and their swaps: the mean is 0, the tie-break makes the largest component positive.
    let both: Vec<Vec<f32>> = base.iter().cloned().chain(negated).collect();
    let tie = pca_direction(&both).unwrap();
    let big = tie.direction.iter().copied().fold(0.0f32, |a, c| if c.abs() > a.abs() { c } else { a });
    assert!(big > 0.0 && tie.mean_projection.abs() < 1e-6);
}

#[test]
fn pca_one_consistent_direction_is_found_exactly() {
    // Every pair differs along the same direction: centred PCA would see nothing, ours sees it.
    let v = [1.0f32, 2.0, -2.0];
    let diffs: Vec<Vec<f32>> = [1.0f32, 1.5, 0.7].iter().map(|s| v.iter().map(|x| x * s).collect()).collect();
    let got = pca_direction(&diffs).unwrap();
    for (a, b) in got.direction.iter().zip(v) {
        assert!((a - b / 3.0).abs() < 1e-6);
    }
    assert!((got.explained_variance_ratio - 1.0).abs() < 1e-6);
}

#[test]
fn bad_pca_input_is_refused() {
    let empty: Vec<Vec<f32>> = vec![];
    assert_eq!(pca_direction(&empty).unwrap_err(), Error::EmptyDataset);
    assert!(pca_direction(&[vec![1.0, 2.0], vec![1.0]]).unwrap_err().to_string().contains("row 1 has 1"));
    assert!(pca_direction(&[vec![1.0, f32::INFINITY]]).unwrap_err().to_string().contains("inf"));
    assert!(pca_direction(&vec![vec![0.0; 4]; 3]).unwrap_err().to_string().contains("zero"));
    assert!(pca_direction(&[Vec::<f32>::new()]).unwrap_err().to_string().contains("dimension 0"));
}
