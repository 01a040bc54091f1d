//! Strength units: one axis for every method. Raw update norms differ ~20× across layers and
//! between a vector and a weight update, so every update is rescaled so that strength 1 adds a
//! `Δh` of [`STRENGTH_UNIT`] times the layer's mean residual-stream norm (10 → half the norm).
use crate::error::Result;
use crate::math::vector::norm;
use crate::model::pairs::Prepared;
use crate::model::{Edit, Intervention, Llama, Site, Steering};
use alloc::vec::Vec;
use candle_core::Tensor;

/// The strength unit shared by the CLI and the page: a vector is rescaled so that strength 1
/// adds this fraction of the layer's mean activation norm (10 → half the norm). Raw vector
/// norms differ ~20× across layers, so raw multiples would mean something else at each layer;
/// on SmolLM2, text collapses around half the norm.
pub const STRENGTH_UNIT: f32 = 0.05;

/// `v` rescaled to the [`STRENGTH_UNIT`] for a layer whose mean activation norm is `mean_norm`.
pub fn in_strength_units(v: &[f32], mean_norm: f32) -> Vec<f32> {
    let scale = STRENGTH_UNIT * mean_norm / norm(v).max(f32::MIN_POSITIVE);
    v.iter().map(|x| x * scale).collect()
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
    /// ([`STRENGTH_UNIT`]: strength 10 adds half the residual norm).
    pub fn to_strength_units(&self) -> f32 {
        STRENGTH_UNIT * self.residual_norm / self.effect_norm.max(f32::MIN_POSITIVE)
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
