//! Numerical helpers shared by the analysis and steering modules (no_std + alloc): input checks,
//! rank correlation, a small symmetric eigensolver and a top-eigenvector solver for
//! second-moment matrices.
//!
//! Everything is computed in f64 from f32 inputs: the quantities here (variances, sums of
//! squared ranks) lose digits fast in f32, and the inputs are small enough that f64 costs
//! nothing that matters.
use crate::error::{Error, Result};
use alloc::{format, string::String, vec, vec::Vec};

/// Spearman's rank correlation: Pearson's correlation of the ranks, tied values sharing the
/// average of the ranks they span (so `[1, 2, 2, 3]` ranks as `[1, 2.5, 2.5, 4]`).
///
/// Errors: lengths differ, fewer than 2 points, a non-finite value, or either input constant
/// (every value tied), where the correlation is undefined.
pub fn spearman(a: &[f32], b: &[f32]) -> Result<f32> {
    check_pair(a, b)?;
    pearson64(&ranks(a), &ranks(b)).map(|r| r as f32)
}

/// Pearson's correlation, with the same checks as [`spearman`].
pub fn pearson(a: &[f32], b: &[f32]) -> Result<f32> {
    check_pair(a, b)?;
    let widen = |x: &[f32]| x.iter().map(|&v| v as f64).collect::<Vec<_>>();
    pearson64(&widen(a), &widen(b)).map(|r| r as f32)
}

fn check_pair(a: &[f32], b: &[f32]) -> Result<()> {
    if a.len() != b.len() {
        return Err(Error::Invalid(format!(
            "correlation needs equally long inputs, got {} and {} values",
            a.len(),
            b.len()
        )));
    }
    if a.len() < 2 {
        return Err(Error::Invalid(format!("correlation needs at least 2 points, got {}", a.len())));
    }
    check_finite("first input", a)?;
    check_finite("second input", b)
}

/// Rejects NaN and ±∞ with the index of the first bad value.
pub(crate) fn check_finite(what: &str, x: &[f32]) -> Result<()> {
    match x.iter().position(|v| !v.is_finite()) {
        Some(i) => Err(Error::Invalid(format!("{what}: value {i} is {}, expected a finite number", x[i]))),
        None => Ok(()),
    }
}

/// 1-based ranks, ties averaged. Inputs are finite (checked by the caller), so `total_cmp`
/// orders them as `<` does, except that it puts −0.0 before +0.0: the two stay adjacent and
/// `==` then ties them.
fn ranks(x: &[f32]) -> Vec<f64> {
    let mut idx: Vec<usize> = (0..x.len()).collect();
    idx.sort_by(|&i, &j| x[i].total_cmp(&x[j]));
    let mut r = vec![0.0; x.len()];
    let mut i = 0;
    while i < idx.len() {
        let mut j = i + 1;
        while j < idx.len() && x[idx[j]] == x[idx[i]] {
            j += 1;
        }
        // Positions i..j (0-based) share the mean of ranks i+1..=j.
        let avg = (i + j + 1) as f64 / 2.0;
        idx[i..j].iter().for_each(|&t| r[t] = avg);
        i = j;
    }
    r
}

fn pearson64(a: &[f64], b: &[f64]) -> Result<f64> {
    let n = a.len() as f64;
    let (ma, mb) = (a.iter().sum::<f64>() / n, b.iter().sum::<f64>() / n);
    let (mut sab, mut saa, mut sbb) = (0.0, 0.0, 0.0);
    for (x, y) in a.iter().zip(b) {
        let (dx, dy) = (x - ma, y - mb);
        sab += dx * dy;
        saa += dx * dx;
        sbb += dy * dy;
    }
    if saa == 0.0 || sbb == 0.0 {
        let which = if saa == 0.0 { "first" } else { "second" };
        return Err(Error::Invalid(format!("the {which} input is constant: correlation is undefined")));
    }
    // Clamp: rounding can push a perfect correlation a hair past ±1.
    Ok((sab / libm::sqrt(saa * sbb)).clamp(-1.0, 1.0))
}

/// Validates equally long, finite rows and returns them flattened to f64 (n × d, row-major)
/// with the dimension `d`.
pub(crate) fn flatten_rows<R: AsRef<[f32]>>(what: &str, rows: &[R]) -> Result<(Vec<f64>, usize)> {
    let d = rows.first().ok_or(Error::EmptyDataset)?.as_ref().len();
    if d == 0 {
        return Err(Error::Invalid(format!("{what}: rows have dimension 0")));
    }
    let mut flat = Vec::with_capacity(rows.len() * d);
    for (i, r) in rows.iter().enumerate() {
        let r = r.as_ref();
        if r.len() != d {
            return Err(Error::Invalid(format!("{what}: row {i} has {} values, row 0 has {d}", r.len())));
        }
        check_finite(&row_name(what, i), r)?;
        flat.extend(r.iter().map(|&v| v as f64));
    }
    Ok((flat, d))
}

fn row_name(what: &str, i: usize) -> String {
    format!("{what}, row {i}")
}

pub(crate) fn dot(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

pub(crate) fn norm(a: &[f64]) -> f64 {
    libm::sqrt(dot(a, a))
}

/// Eigen-decomposition of a small symmetric matrix (row-major `n × n`) by cyclic Jacobi
/// rotations: slow (O(n³) a sweep) but simple and accurate to rounding, which is what the
/// Rayleigh–Ritz step below needs for its block of ~10 columns.
/// Returns eigenvalues in descending order and the matching unit eigenvectors.
pub(crate) fn sym_eigen(mut a: Vec<f64>, n: usize) -> (Vec<f64>, Vec<Vec<f64>>) {
    let mut v = vec![0.0; n * n];
    (0..n).for_each(|i| v[i * n + i] = 1.0);
    let scale: f64 = a.iter().map(|x| x * x).sum();
    for _sweep in 0..100 {
        let off: f64 = (0..n * n).filter(|i| i / n != i % n).map(|i| a[i] * a[i]).sum();
        if off <= 1e-30 * scale {
            break;
        }
        for p in 0..n {
            for q in p + 1..n {
                jacobi_rotate(&mut a, &mut v, n, p, q);
            }
        }
    }
    let mut order: Vec<usize> = (0..n).collect();
    order.sort_by(|&i, &j| a[j * n + j].total_cmp(&a[i * n + i]));
    let values = order.iter().map(|&i| a[i * n + i]).collect();
    let vectors = order.iter().map(|&i| (0..n).map(|r| v[r * n + i]).collect()).collect();
    (values, vectors)
}

/// One rotation A ← JᵀAJ in the (p, q) plane chosen to zero `a[p][q]`; V ← VJ accumulates the
/// eigenvectors as columns. The smaller root for tan θ keeps the rotation below 45°, which is
/// what makes cyclic Jacobi converge.
fn jacobi_rotate(a: &mut [f64], v: &mut [f64], n: usize, p: usize, q: usize) {
    let apq = a[p * n + q];
    if apq == 0.0 {
        return;
    }
    let theta = (a[q * n + q] - a[p * n + p]) / (2.0 * apq);
    let t = libm::copysign(1.0, theta) / (libm::fabs(theta) + libm::sqrt(theta * theta + 1.0));
    let c = 1.0 / libm::sqrt(t * t + 1.0);
    let s = t * c;
    for k in 0..n {
        let (kp, kq) = (a[k * n + p], a[k * n + q]);
        a[k * n + p] = c * kp - s * kq;
        a[k * n + q] = s * kp + c * kq;
    }
    for k in 0..n {
        let (pk, qk) = (a[p * n + k], a[q * n + k]);
        a[p * n + k] = c * pk - s * qk;
        a[q * n + k] = s * pk + c * qk;
    }
    for k in 0..n {
        let (kp, kq) = (v[k * n + p], v[k * n + q]);
        v[k * n + p] = c * kp - s * kq;
        v[k * n + q] = s * kp + c * kq;
    }
}

/// Top eigenpairs of a second-moment matrix.
pub(crate) struct Eigen {
    /// Descending.
    pub values: Vec<f64>,
    /// Unit, mutually orthogonal, one per value.
    pub vectors: Vec<Vec<f64>>,
    /// Every returned pair met the residual tolerance within the iteration cap.
    pub converged: bool,
}

/// Extra block columns beyond the `k` asked for: convergence of the i-th vector goes as
/// (λ_{b+1}/λ_i)^iterations with block size b, so a few spare columns turn a small gap after
/// λ_k into a larger one at almost no cost.
const OVERSAMPLE: usize = 4;
const MAX_ITERS: usize = 1000;
/// ‖S v − λ v‖ ≤ TOL · λ₁ for every returned pair.
const TOL: f64 = 1e-10;

/// The top `k` eigenpairs of S = XᵀX / `div`, X the row-major `n × d` matrix `x` (already centred
/// if the caller wants a covariance), by block orthogonal iteration with a Rayleigh–Ritz step.
///
/// Why this method: S is applied as Xᵀ(X v), so the d × d matrix is never formed (d can be a few
/// thousand) and the same code serves n < d and n ≥ d at O(n·d) per column per iteration. The
/// start block comes from a fixed-seed generator, so results are deterministic. Needs
/// `1 ≤ k ≤ min(n, d)`; the caller checks.
pub(crate) fn top_eigen(x: &[f64], n: usize, d: usize, div: f64, k: usize) -> Eigen {
    let b = (k + OVERSAMPLE).min(n).min(d);
    let mut rng = XorShift(0x9E37_79B9_7F4A_7C15);
    let mut q: Vec<Vec<f64>> = (0..b).map(|_| rng.vector(d)).collect();
    orthonormalise(&mut q, &mut rng);
    let apply = |v: &[f64]| apply_moment(x, n, d, div, v);
    let mut iter = 0;
    loop {
        iter += 1;
        let z: Vec<Vec<f64>> = q.iter().map(|v| apply(v)).collect();
        let (values, w) = rayleigh_ritz(&q, &z);
        let ritz = combine(&q, &w);
        let image = combine(&z, &w); // S·ritz, without another pass over X
        let top = values[0].max(f64::MIN_POSITIVE);
        let converged = (0..k).all(|i| {
            let r: Vec<f64> = image[i].iter().zip(&ritz[i]).map(|(s, v)| s - values[i] * v).collect();
            norm(&r) <= TOL * top
        });
        if converged || iter == MAX_ITERS {
            return Eigen { values: values[..k].to_vec(), vectors: ritz[..k].to_vec(), converged };
        }
        q = image;
        orthonormalise(&mut q, &mut rng);
    }
}

/// S v = Xᵀ(X v) / div.
fn apply_moment(x: &[f64], n: usize, d: usize, div: f64, v: &[f64]) -> Vec<f64> {
    let mut out = vec![0.0; d];
    for row in x.chunks_exact(d).take(n) {
        let t = dot(row, v) / div;
        out.iter_mut().zip(row).for_each(|(o, r)| *o += t * r);
    }
    out
}

/// Eigen-decomposition of T = Qᵀ S Q (`z` = S Q), symmetrised against rounding. Returns the Ritz
/// values (descending) and the small eigenvectors `w` (one per value, length b).
fn rayleigh_ritz(q: &[Vec<f64>], z: &[Vec<f64>]) -> (Vec<f64>, Vec<Vec<f64>>) {
    let b = q.len();
    let mut t = vec![0.0; b * b];
    for i in 0..b {
        for j in 0..b {
            t[i * b + j] = 0.5 * (dot(&q[i], &z[j]) + dot(&q[j], &z[i]));
        }
    }
    sym_eigen(t, b)
}

/// Columns Σ_j w[i][j] · basis[j], one per `w[i]`.
fn combine(basis: &[Vec<f64>], w: &[Vec<f64>]) -> Vec<Vec<f64>> {
    w.iter()
        .map(|wi| {
            let mut out = vec![0.0; basis[0].len()];
            for (c, col) in wi.iter().zip(basis) {
                out.iter_mut().zip(col).for_each(|(o, x)| *o += c * x);
            }
            out
        })
        .collect()
}

/// Modified Gram–Schmidt, run twice per column ("twice is enough" for orthogonality to
/// rounding). A column that collapses (S has fewer than b non-zero directions) is replaced by a
/// fresh pseudo-random one, so the block keeps full rank; its Ritz value then comes out ~0.
pub(crate) fn orthonormalise(q: &mut [Vec<f64>], rng: &mut XorShift) {
    for i in 0..q.len() {
        for _attempt in 0..4 {
            let before = norm(&q[i]);
            for _pass in 0..2 {
                for j in 0..i {
                    let (done, cur) = q.split_at_mut(i);
                    let c = dot(&done[j], &cur[0]);
                    cur[0].iter_mut().zip(&done[j]).for_each(|(x, y)| *x -= c * y);
                }
            }
            let after = norm(&q[i]);
            if after > 1e-10 * before && after > 0.0 {
                q[i].iter_mut().for_each(|x| *x /= after);
                break;
            }
            q[i] = rng.vector(q[i].len());
        }
    }
}

/// Marsaglia's xorshift64*: a fixed seed gives every solve the same start block.
///
/// Why not the crate's [`crate::rng::Rng`]: the start block decides the last bits of what the
/// solver returns (it stops at a 1e-10 residual, not at the exact eigenvectors), and the
/// committed results (`docs/results/`, `web/precomputed/`: PCA directions, off-manifold scores)
/// were computed with this one. Starting from the crate's generator instead changed, on
/// synthetic data of those shapes, 1 of 576 f32 components of a top-1 direction, up to 7% of a
/// 16-direction basis's and 5 of 50 off-manifold distances: those files would no longer
/// reproduce to the last digit.
pub(crate) struct XorShift(pub u64);

impl XorShift {
    fn next(&mut self) -> f64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        let bits = self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 11;
        bits as f64 / (1u64 << 53) as f64 * 2.0 - 1.0
    }

    fn vector(&mut self, d: usize) -> Vec<f64> {
        (0..d).map(|_| self.next()).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranks_average_ties() {
        assert_eq!(ranks(&[3.0, 1.0, 2.0, 2.0]), vec![4.0, 1.0, 2.5, 2.5]);
        assert_eq!(ranks(&[0.0, -0.0, 5.0]), vec![1.5, 1.5, 3.0]);
    }

    #[test]
    fn jacobi_diagonalises() {
        // [[2,1],[1,2]] has eigenvalues 3 and 1 with vectors (1,1)/√2 and (1,−1)/√2.
        let (vals, vecs) = sym_eigen(vec![2.0, 1.0, 1.0, 2.0], 2);
        assert!((vals[0] - 3.0).abs() < 1e-12 && (vals[1] - 1.0).abs() < 1e-12);
        assert!((vecs[0][0].abs() - 0.5f64.sqrt()).abs() < 1e-12);
        assert!((vecs[0][0] - vecs[0][1]).abs() < 1e-12);
    }

    #[test]
    fn top_eigen_on_diagonal_moments() {
        // Rows e_i·s_i: XᵀX/1 = diag(s_i²); top two are dims 3 and 1.
        let d = 5;
        let s = [1.0, 3.0, 0.5, 4.0, 2.0];
        let mut x = vec![0.0; d * d];
        (0..d).for_each(|i| x[i * d + i] = s[i]);
        let e = top_eigen(&x, d, d, 1.0, 2);
        assert!(e.converged);
        assert!((e.values[0] - 16.0).abs() < 1e-9 && (e.values[1] - 9.0).abs() < 1e-9);
        assert!((e.vectors[0][3].abs() - 1.0).abs() < 1e-9 && (e.vectors[1][1].abs() - 1.0).abs() < 1e-9);
    }
}
