//! Strength units: one axis for every method. Raw update norms differ ~20× across layers and
//! between a vector and a weight update, so every update is rescaled so that strength 1 adds a
//! `Δh` of [`STRENGTH_UNIT`] times the layer's mean residual-stream norm (10 → half the norm).
use crate::error::{Error, Result};
use crate::math::vector::norm;
use crate::model::pairs::{Prepared, Read};
use crate::model::{Edit, Intervention, Llama, Site, Steering};
use crate::progress::Progress;
use alloc::vec::Vec;
use candle_core::Tensor;

/// The strength unit shared by the CLI and the page: a vector is rescaled so that strength 1
/// adds this fraction of the layer's mean activation norm (10 → half the norm). Raw vector
/// norms differ ~20× across layers, so raw multiples would mean something else at each layer;
/// on SmolLM2, text collapses around half the norm.
pub const STRENGTH_UNIT: f32 = 0.05;

/// How big an update is where it acts: mean norms over completion tokens.
#[derive(Debug, Clone, Copy, serde::Serialize)]
pub struct UpdateScale {
    /// `‖Δh‖` at strength 1.
    pub effect_norm: f32,
    /// The unsteered residual stream at the layer.
    pub residual_norm: f32,
}

impl UpdateScale {
    /// The scale of `edit` at `(prepared.layer(), site)` against the layer's `residual_norm`
    /// ([`residual_norm`]). A vector adds itself at every steered position, so its effect is its
    /// norm; any other edit depends on the activations, so its effect is measured on (up to 4 of)
    /// the prepared pairs as steered − unsteered activation at the site over the completion
    /// tokens (exact: nothing upstream of the site changes), running only layer ℓ.
    pub fn measure(llama: &Llama, prepared: &Prepared, site: Site, edit: &Edit, residual_norm: f32) -> Result<Self> {
        let layer = prepared.layer();
        let effect_norm = match edit {
            Edit::AddVector(v) => return Self::of_vector(&v.to_vec1::<f32>()?, residual_norm),
            _ => {
                let steered = Steering::none().with(Intervention::new(&llama.config, layer, site, edit.clone(), 1.0)?);
                let mut effect = Vec::new();
                for i in 0..prepared.len().min(4) {
                    let base = prepared.read(llama, i, &Steering::none(), &[(layer, site)])?;
                    let moved = prepared.read(llama, i, &steered, &[(layer, site)])?;
                    for (b, m) in base[0].iter().zip(&moved[0]) {
                        effect.extend(row_norms(&(m - b)?)?);
                    }
                }
                effect.iter().sum::<f32>() / effect.len().max(1) as f32
            }
        };
        if !(effect_norm.is_finite() && residual_norm.is_finite()) {
            return Err(Error::Invalid(alloc::format!(
                "the update's size is not a finite number (|Δh| = {effect_norm}, residual norm {residual_norm})"
            )));
        }
        Ok(UpdateScale { effect_norm, residual_norm })
    }

    /// The scale of a vector `v`: it adds itself at every steered position, so its effect is its
    /// norm — no forward pass needed.
    pub fn of_vector(v: &[f32], residual_norm: f32) -> Result<Self> {
        let effect_norm = norm(v);
        if !(effect_norm.is_finite() && residual_norm.is_finite()) {
            return Err(Error::Invalid(alloc::format!(
                "the update's size is not a finite number (|v| = {effect_norm}, residual norm {residual_norm})"
            )));
        }
        Ok(UpdateScale { effect_norm, residual_norm })
    }

    /// The factor that puts an update in the shared strength unit
    /// ([`STRENGTH_UNIT`]: strength 10 adds half the residual norm).
    pub fn to_strength_units(&self) -> f32 {
        STRENGTH_UNIT * self.residual_norm / self.effect_norm.max(f32::MIN_POSITIVE)
    }

    /// `edit` times [`UpdateScale::to_strength_units`].
    pub fn rescale(&self, edit: &Edit) -> Result<Edit> {
        edit.scaled(self.to_strength_units() as f64)
    }
}

/// The mean norm of the unsteered residual stream at the prepared layer over every pair's
/// completion tokens: the yardstick of the strength unit (it grows ~20× with depth).
pub fn residual_norm(llama: &Llama, prepared: &Prepared, progress: impl Progress) -> Result<f32> {
    let layer = prepared.layer();
    Ok(prepared.read_activations(llama, &[(layer, Site::Residual)], Read::CompletionMean, progress)?.sites[0].mean_norm)
}

fn row_norms(t: &Tensor) -> Result<Vec<f32>> {
    Ok(t.sqr()?.sum(1)?.sqrt()?.to_vec1()?)
}
