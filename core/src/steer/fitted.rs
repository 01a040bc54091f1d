//! The activation-addition methods, fitted from pairs without gradients:
//! - DiffMean (CAA): mean activation over the positive completions' tokens minus the same over
//!   the negative ones, at one (layer, site);
//! - PCA: the first principal component of the per-pair differences ([`crate::steer::pca`]),
//!   signed toward the positive completions and scaled to the DiffMean vector's norm, so that
//!   strengths mean the same for both.
//!
//! Both are plain math on activations read once ([`crate::model::pairs::Activations`]): reading
//! every layer and site in one pass lets the page move its layer or site slider without another
//! forward pass over the training pairs.
use crate::error::{Error, Result};
use crate::math::vector::{mean_rows, norm};
use crate::model::pairs::{Prepared, Read, SiteActivations};
use crate::model::score::PairTokens;
use crate::model::{Llama, Site};
use crate::progress::Progress;
use crate::steer::methods::Method;
use alloc::vec::Vec;

/// A fitted activation-addition vector and what it was fitted at.
#[derive(Debug, Clone, serde::Serialize)]
pub struct FittedVector {
    /// `diffmean` or `pca`.
    #[serde(serialize_with = "method_name")]
    pub method: Method,
    /// Where it was read and is meant to be added.
    pub layer: usize,
    /// Where it was read and is meant to be added.
    pub site: Site,
    /// Which completion positions the activations were read at.
    pub read: Read,
    /// The vector, as found (not in strength units).
    pub vector: Vec<f32>,
    /// Its L2 norm.
    pub norm: f32,
    /// Mean norm of the unsteered activations at the site over the completion tokens: the
    /// natural unit for strengths (it grows ~20× from the first to the last layer).
    pub mean_activation_norm: f32,
}

fn method_name<S: serde::Serializer>(m: &Method, s: S) -> core::result::Result<S::Ok, S::Error> {
    s.serialize_str(&m.name())
}

impl FittedVector {
    /// Reads the pairs' activations at `(layer, site)` and fits `method` (DiffMean or PCA) on
    /// them. Progress: one unit per pair (the pairs are run up to `layer` only).
    pub fn from_pairs(
        llama: &Llama, pairs: &[PairTokens], method: Method, layer: usize, site: Site, read: Read,
        progress: impl Progress,
    ) -> Result<Self> {
        if method.is_trained() {
            return Err(Error::Invalid(alloc::format!("`{method}` is trained, not fitted from activations")));
        }
        let prepared = Prepared::new(llama, pairs, layer, |_, _| {})?;
        let acts = prepared.read_activations(llama, &[(layer, site)], read, progress)?;
        Self::fit(method, &acts.sites[0], read)
    }

    /// Fits `method` (DiffMean or PCA) on activations read at one site.
    pub fn fit(method: Method, acts: &SiteActivations, read: Read) -> Result<Self> {
        if acts.positive.is_empty() {
            return Err(Error::EmptyDataset);
        }
        let rows = |v: &[Vec<f32>]| mean_rows(v.iter().map(|r| r.as_slice()));
        let diffmean: Vec<f32> = rows(&acts.positive).iter().zip(rows(&acts.negative)).map(|(a, b)| a - b).collect();
        let vector = match method {
            Method::DiffMean => diffmean,
            Method::Pca => {
                let diffs: Vec<Vec<f32>> = acts
                    .positive
                    .iter()
                    .zip(&acts.negative)
                    .map(|(p, n)| p.iter().zip(n).map(|(a, b)| a - b).collect())
                    .collect();
                let pc = crate::steer::pca::pca_direction(&diffs)?;
                let scale = norm(&diffmean);
                pc.direction.iter().map(|x| x * scale).collect()
            }
            Method::Trained(..) => {
                return Err(Error::Invalid(alloc::format!("`{method}` is trained, not fitted from activations")))
            }
        };
        Ok(FittedVector {
            method,
            layer: acts.layer,
            site: acts.site,
            read,
            norm: norm(&vector),
            vector,
            mean_activation_norm: acts.mean_norm,
        })
    }
}
