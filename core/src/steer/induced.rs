//! The update as a weight change: every method's result, seen as the `(ΔW, Δb)` it induces on
//! the sublayer that writes its site (`Δh = m·(ΔW·u + Δb)`, [`crate::model::sites`]).
//!
//! A DiffMean vector, a LoRA and a local weight edit are one kind of object: they differ only
//! in which part of `(ΔW, Δb)` they fill and how (`ΔW = 0`, `ΔW = B·A`, dense `ΔW`).
//! [`WeightChange`] says which matrix that is, its shape, the rank and singular values of `ΔW`,
//! its size next to the weight's own, and a slice of both for a heatmap — the numbers the page's
//! "update as a weight change" view draws.
//!
//! Singular values: exact (all of them, to f64 rounding) from nalgebra's SVD — of `ΔW` itself
//! when dense (576 × 1536 for SmolLM2's `W_down`), and of the `r × r` core `R_B·R_Aᵀ` when
//! `ΔW = B·A` (`B = Q_B R_B`, `Aᵀ = Q_A R_A`, so `B·A = Q_B (R_B R_Aᵀ) Q_Aᵀ` has the core's
//! singular values). All of them, not a truncated few, so the rank is exact too.
use crate::error::{Error, Result};
use crate::model::llama::SiteWriter;
use crate::model::{Edit, Llama, Site};
use alloc::{format, string::String, vec::Vec};
use candle_core::Tensor;
use nalgebra::DMatrix;

/// Which part of `(ΔW, Δb)` an update fills.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Form {
    /// `ΔW = 0, Δb = v`: activation addition.
    Vector,
    /// `ΔW = B·A`, `Δb = 0`: LoRA.
    LowRank,
    /// Dense `ΔW` (and `Δb`): a local weight update.
    Dense,
}

/// A slice of `ΔW` and of `W` at the same rows and columns, for a heatmap.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Slice {
    /// Output rows (of `W`, `(out, in)`), ascending: those where `ΔW` and `Δb` are largest.
    pub rows: Vec<usize>,
    /// Input columns, ascending: those where `ΔW` is largest (none for a vector).
    pub cols: Vec<usize>,
    /// `ΔW[rows][cols]` at the strength asked for.
    pub delta_w: Vec<Vec<f32>>,
    /// `W[rows][cols]`, the weight as the model holds it (dequantized).
    pub weight: Vec<Vec<f32>>,
    /// `Δb[rows]` at the strength asked for (zeros when the update has no bias part).
    pub delta_b: Vec<f32>,
}

/// An update as the weight change it induces, at one strength.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct WeightChange {
    /// Where the update acts.
    pub layer: usize,
    /// Where the update acts.
    pub site: Site,
    /// Which part of `(ΔW, Δb)` it fills.
    pub form: Form,
    /// The line of the unified formula it instantiates, e.g. `Δh = m·(ΔW·u + Δb) with ΔW = B·A
    /// (rank ≤ 4), Δb = 0`.
    pub formula: String,
    /// What `u` is at the site (the input of the sublayer that writes it).
    pub source: &'static str,
    /// The sublayer it changes when applied as weights; `None` at `mlp_mid`, whose writer
    /// (`silu(W_gate·x)·(W_up·x)`) is not affine.
    pub writer: Option<SiteWriter>,
    /// The strength all the numbers below are at (`ΔW` and `Δb` scale with it).
    pub strength: f32,
    /// `(out, in)` of `ΔW`; `None` for a vector (`ΔW = 0`).
    pub delta_w_shape: Option<(usize, usize)>,
    /// Width of `Δb`; `None` when the update has no bias part.
    pub delta_b_len: Option<usize>,
    /// Numerical rank of `ΔW`: singular values above `max(out, in)·ε_f32·σ₁` (its entries are
    /// f32). 0 for a vector.
    pub rank: usize,
    /// `‖ΔW‖_F² / σ₁²`: how many directions carry `ΔW`'s size (1 for rank one; ≤ rank).
    pub stable_rank: Option<f32>,
    /// Every nonzero singular value of `ΔW` up to `top_k`, descending.
    pub singular_values: Vec<f32>,
    /// Fraction of `‖ΔW‖_F²` the listed singular values carry.
    pub singular_energy: Option<f32>,
    /// `‖ΔW‖_F`.
    pub delta_w_norm: f32,
    /// `‖Δb‖`.
    pub delta_b_norm: f32,
    /// `‖W‖_F` of the writer (dequantized); `None` without a writer.
    pub weight_norm: Option<f32>,
    /// `‖ΔW‖_F / ‖W‖_F`; `None` without a writer.
    pub relative: Option<f32>,
    /// A slice of `ΔW`, `W` and `Δb` for a heatmap.
    pub slice: Slice,
}

/// How much of the spectrum and of the matrices a [`WeightChange`] carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Detail {
    /// Singular values listed.
    pub top_k: usize,
    /// Rows of the heatmap slice.
    pub rows: usize,
    /// Columns of the heatmap slice.
    pub cols: usize,
}

impl Default for Detail {
    fn default() -> Self {
        Detail { top_k: 16, rows: 24, cols: 48 }
    }
}

/// What `u` is at each site (the sublayer input `ΔW` multiplies).
fn source_of(site: Site) -> &'static str {
    match site {
        Site::Residual => "block input (ΔW unused: the block is not affine)",
        Site::AttnOut => "attention context ctx (input of W_o)",
        Site::MlpMid => "normed MLP input x (input of W_gate, W_up)",
        Site::MlpOut => "MLP intermediate mid (input of W_down)",
    }
}

impl WeightChange {
    /// The weight change `edit` induces at `(layer, site)` of `llama`, at `strength`.
    ///
    /// Errors: an edit that depends on the activation itself (project-out, clamp: no weight
    /// update), a layer out of range, or shapes that do not fit the model.
    pub fn of(llama: &Llama, layer: usize, site: Site, edit: &Edit, strength: f32, detail: Detail) -> Result<Self> {
        if !strength.is_finite() {
            return Err(Error::BadStrength(strength));
        }
        crate::model::Intervention::new(&llama.config, layer, site, edit.clone(), strength)?; // shapes
        let (form, dw, db) = parts(edit)?;
        let writer = match site {
            Site::MlpMid => None,
            _ => Some(llama.writer(layer, site, dw.is_some())?),
        };
        let m = strength as f64;
        let flat = |t: &Tensor| -> Result<Vec<f32>> { Ok((t * m)?.flatten_all()?.to_vec1::<f32>()?) };
        let (dw_flat, shape) = match &dw {
            Some(t) => (Some(flat(t)?), Some(t.dims2()?)),
            None => (None, None),
        };
        let db_flat = db.as_ref().map(flat).transpose()?;
        let values = match (edit, shape) {
            (_, _) if strength == 0.0 => Vec::new(),
            (Edit::LowRank { a, b }, _) => low_rank_singular_values(&(b * m)?, a)?,
            (_, Some((out, inp))) => singular_values(dw_flat.as_deref().expect("dense ΔW"), out, inp),
            _ => Vec::new(),
        };
        let delta_w_norm = dw_flat.as_deref().map_or(0.0, norm);
        let rank = shape.map_or(0, |(o, i)| rank_of(&values, o.max(i)));
        let top: Vec<f32> = values.iter().take(detail.top_k.min(rank)).map(|&v| v as f32).collect();
        let sigma1 = values.first().copied().unwrap_or(0.0);
        let frob2 = (delta_w_norm as f64).powi(2);
        let weights = writer.as_ref().map(|(_, w)| w.to_vec2::<f32>()).transpose()?;
        let weight_norm = weights.as_ref().map(|w| norm(&w.concat()));
        let slice = slice(dw_flat.as_deref(), shape, db_flat.as_deref(), weights.as_deref(), site, llama, detail);
        Ok(WeightChange {
            layer,
            site,
            form,
            formula: formula(form, site, writer.as_ref().map(|w| &w.0), shape, edit),
            source: source_of(site),
            strength,
            delta_w_shape: shape,
            delta_b_len: db_flat.as_ref().map(Vec::len),
            rank,
            stable_rank: (sigma1 > 0.0).then(|| (frob2 / (sigma1 * sigma1)) as f32),
            singular_energy: (frob2 > 0.0)
                .then(|| (top.iter().map(|&s| (s as f64).powi(2)).sum::<f64>() / frob2).min(1.0) as f32),
            singular_values: top,
            delta_w_norm,
            delta_b_norm: db_flat.as_deref().map_or(0.0, norm),
            relative: weight_norm.filter(|&w| w > 0.0).map(|w| delta_w_norm / w),
            weight_norm,
            writer: writer.map(|(w, _)| w),
            slice: slice?,
        })
    }
}

/// `(form, ΔW, Δb)` of an edit at strength 1.
fn parts(edit: &Edit) -> Result<(Form, Option<Tensor>, Option<Tensor>)> {
    let (dw, db) = edit.as_weights()?;
    let form = match edit {
        Edit::AddVector(_) => Form::Vector,
        Edit::LowRank { .. } => Form::LowRank,
        _ => Form::Dense,
    };
    Ok((form, dw, db))
}

fn formula(form: Form, site: Site, writer: Option<&SiteWriter>, shape: Option<(usize, usize)>, edit: &Edit) -> String {
    let shape = shape.map_or(String::new(), |(o, i)| format!("{o}×{i} "));
    let part = match (form, edit) {
        (Form::Vector, _) => "ΔW = 0, Δb = v".into(),
        (Form::LowRank, Edit::LowRank { a, .. }) => format!("ΔW = B·A ({shape}of rank ≤ {}), Δb = 0", a.dims()[0]),
        (_, Edit::Dense { bias: Some(_), .. }) => format!("ΔW dense ({shape}), Δb"),
        _ => format!("ΔW dense ({shape}), Δb = 0"),
    };
    let what = match (form, writer, site) {
        (Form::Vector, Some(w), Site::Residual) => format!("a bias on {} that joins the residual stream", w.name),
        (Form::Vector, Some(w), _) => format!("a bias on {}", w.name),
        (_, Some(w), _) => format!("an update of {} and its bias", w.name),
        (_, None, _) => "a shift of the MLP intermediate (no affine writer)".into(),
    };
    format!("Δh = m·(ΔW·u + Δb) with {part}: {what}")
}

fn norm(v: &[f32]) -> f32 {
    libm::sqrt(v.iter().map(|&x| (x as f64).powi(2)).sum::<f64>()) as f32
}

/// Every singular value of the row-major `out × inp` matrix `w`, descending (f64).
pub fn singular_values(w: &[f32], out: usize, inp: usize) -> Vec<f64> {
    let m = DMatrix::from_row_iterator(out, inp, w.iter().map(|&x| x as f64));
    sorted(m.singular_values().iter().copied().collect())
}

/// The singular values of `b·a` (`b`: `(out, r)`, `a`: `(r, in)`) from the `r × r` core of the
/// two thin QR factorisations: exact, without forming the product.
fn low_rank_singular_values(b: &Tensor, a: &Tensor) -> Result<Vec<f64>> {
    let matrix = |t: &Tensor| -> Result<DMatrix<f64>> {
        let (rows, cols) = t.dims2()?;
        let v = t.flatten_all()?.to_vec1::<f32>()?;
        Ok(DMatrix::from_row_iterator(rows, cols, v.into_iter().map(|x| x as f64)))
    };
    let rb = matrix(b)?.qr().r();
    let ra = matrix(a)?.transpose().qr().r();
    Ok(sorted((rb * ra.transpose()).singular_values().iter().copied().collect()))
}

fn sorted(mut v: Vec<f64>) -> Vec<f64> {
    v.sort_by(|a, b| b.total_cmp(a));
    v
}

/// Singular values above `dim · ε_f32 · σ₁`: the matrix's entries are f32, so anything smaller
/// is rounding.
fn rank_of(values: &[f64], dim: usize) -> usize {
    let tol = values.first().copied().unwrap_or(0.0) * dim as f64 * f32::EPSILON as f64;
    values.iter().filter(|&&s| s > tol && s > 0.0).count()
}

/// The indices of the `k` largest `scores`, ascending.
fn top_indices(scores: &[f64], k: usize) -> Vec<usize> {
    let mut idx: Vec<usize> = (0..scores.len()).collect();
    idx.sort_by(|&i, &j| scores[j].total_cmp(&scores[i]).then(i.cmp(&j)));
    idx.truncate(k);
    idx.sort_unstable();
    idx
}

fn slice(
    dw: Option<&[f32]>, shape: Option<(usize, usize)>, db: Option<&[f32]>, weight: Option<&[Vec<f32>]>, site: Site,
    llama: &Llama, detail: Detail,
) -> Result<Slice> {
    let out = site.width(&llama.config);
    let inp = shape.map_or(0, |s| s.1);
    let mut row_score = alloc::vec![0f64; out];
    let mut col_score = alloc::vec![0f64; inp];
    if let Some(dw) = dw {
        for (r, row) in dw.chunks_exact(inp).enumerate() {
            for (c, &x) in row.iter().enumerate() {
                let x2 = (x as f64).powi(2);
                row_score[r] += x2;
                col_score[c] += x2;
            }
        }
    }
    if let Some(db) = db {
        row_score.iter_mut().zip(db).for_each(|(s, &b)| *s += (b as f64).powi(2));
    }
    let rows = top_indices(&row_score, detail.rows.min(out));
    let cols = top_indices(&col_score, detail.cols.min(inp));
    let pick = |m: &dyn Fn(usize, usize) -> f32| -> Vec<Vec<f32>> {
        rows.iter().map(|&r| cols.iter().map(|&c| m(r, c)).collect()).collect()
    };
    let delta_w = match dw {
        Some(dw) => pick(&|r, c| dw[r * inp + c]),
        None => rows.iter().map(|_| Vec::new()).collect(),
    };
    // The writer's columns are the site's source; a vector's slice has no columns, so the
    // weight slice is empty too.
    let weight = match weight {
        Some(w) if !cols.is_empty() => pick(&|r, c| w[r][c]),
        _ => rows.iter().map(|_| Vec::new()).collect(),
    };
    let delta_b = rows.iter().map(|&r| db.map_or(0.0, |b| b[r])).collect();
    Ok(Slice { rows, cols, delta_w, weight, delta_b })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Eigenvalues of the explicitly formed `WᵀW` by the crate's own cyclic Jacobi (a reference that
    /// shares nothing with nalgebra's bidiagonal SVD).
    fn gram_eigenvalues(w: &[f32], out: usize, inp: usize) -> Vec<f64> {
        let mut g = alloc::vec![0f64; inp * inp];
        for i in 0..inp {
            for j in 0..inp {
                g[i * inp + j] = (0..out).map(|r| w[r * inp + i] as f64 * w[r * inp + j] as f64).sum();
            }
        }
        let mut v = crate::math::stats::sym_eigen(g, inp).0;
        v.sort_by(|a, b| b.total_cmp(a));
        v
    }

    fn matrix(out: usize, inp: usize, seed: u64) -> Vec<f32> {
        crate::rng::Rng::new(seed).normals(out * inp, 1.0)
    }

    #[test]
    fn singular_values_square_to_the_eigenvalues_of_the_gram_matrix() {
        // 7 × 11: σ² are the 7 nonzero eigenvalues of the 11 × 11 WᵀW; the other 4 are ~0.
        let w = matrix(7, 11, 3);
        let s = singular_values(&w, 7, 11);
        let e = gram_eigenvalues(&w, 7, 11);
        assert_eq!(s.len(), 7);
        for (i, (&si, &ei)) in s.iter().zip(&e).enumerate() {
            // f64 throughout on f32 inputs: agreement to ~1e-12 relative; 1e-9 leaves room.
            assert!((si * si - ei).abs() <= 1e-9 * e[0], "σ_{i}² = {} vs λ_{i} = {ei}", si * si);
        }
        assert!(e[7..].iter().all(|&x| x.abs() <= 1e-9 * e[0]), "WᵀW has rank 7: {e:?}");
    }

    #[test]
    fn a_low_rank_product_has_its_rank_and_the_dense_products_singular_values() {
        let (out, inp, r) = (9, 13, 2);
        let b = Tensor::from_vec(matrix(out, r, 5), (out, r), &candle_core::Device::Cpu).unwrap();
        let a = Tensor::from_vec(matrix(r, inp, 6), (r, inp), &candle_core::Device::Cpu).unwrap();
        let core = low_rank_singular_values(&b, &a).unwrap();
        let dense: Vec<f32> = b.matmul(&a).unwrap().flatten_all().unwrap().to_vec1().unwrap();
        let full = singular_values(&dense, out, inp);
        assert_eq!(core.len(), r);
        assert_eq!(rank_of(&full, inp), r, "{full:?}");
        for i in 0..r {
            // The dense product is rounded to f32 once: 1e-6 relative.
            assert!((core[i] - full[i]).abs() <= 1e-6 * full[0], "{core:?} vs {full:?}");
        }
    }

    #[test]
    fn top_indices_are_the_largest_in_ascending_order() {
        assert_eq!(top_indices(&[0.1, 5.0, 0.3, 4.0, 9.0], 3), [1, 3, 4]);
        assert_eq!(top_indices(&[1.0, 1.0], 5), [0, 1]);
    }
}
