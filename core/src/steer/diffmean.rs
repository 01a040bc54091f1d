//! The activation-addition methods, fitted from pairs without gradients:
//! - DiffMean (CAA): mean activation over the positive completions' tokens minus the same over
//!   the negative ones, at one (layer, site);
//! - PCA: the first principal component of the per-pair differences ([`crate::steer::pca`]),
//!   signed toward the positive completions and scaled to the DiffMean vector's norm, so that
//!   strengths mean the same for both.
use crate::error::{Error, Result};
use crate::math::vector::{mean_rows, norm};
use crate::model::score::PairTokens;
use crate::model::{Cache, Llama, Site, Steering};
use alloc::vec::Vec;

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Method {
    DiffMean,
    Pca,
}

/// Which positions of a completion a fitted vector reads its activations from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Read {
    /// The mean over all the completion's tokens (the default; CAA reads the answer tokens).
    #[default]
    CompletionMean,
    /// The completion's last token only.
    LastToken,
}

impl Read {
    pub fn parse(s: &str) -> Result<Self> {
        match s {
            "completion-mean" => Ok(Read::CompletionMean),
            "last-token" => Ok(Read::LastToken),
            other => Err(Error::Invalid(alloc::format!(
                "unknown read positions `{other}` (expected completion-mean or last-token)"
            ))),
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Read::CompletionMean => "completion-mean",
            Read::LastToken => "last-token",
        }
    }
}

/// A fitted activation-addition vector and what it was fitted at.
#[derive(Debug, Clone, serde::Serialize)]
pub struct FittedVector {
    pub method: Method,
    pub layer: usize,
    pub site: Site,
    pub read: Read,
    pub vector: Vec<f32>,
    pub norm: f32,
    /// Mean norm of the unsteered activations at the site over the completion tokens: the
    /// natural unit for strengths (it grows ~20× from the first to the last layer).
    pub mean_activation_norm: f32,
}

/// Per pair, the mean activation at `(layer, site)` over the positive and over the negative
/// completion's tokens, plus the mean activation norm.
struct PairActivations {
    positive: Vec<Vec<f32>>,
    negative: Vec<Vec<f32>>,
    mean_norm: f32,
}

fn pair_activations(
    llama: &Llama, pairs: &[PairTokens], layer: usize, site: Site, read: Read, mut progress: impl FnMut(usize, usize),
) -> Result<PairActivations> {
    llama.config.check_layer(layer)?;
    if pairs.is_empty() {
        return Err(Error::EmptyDataset);
    }
    let record = Steering::none().recording(layer, site);
    let (mut positive, mut negative, mut norms) = (Vec::new(), Vec::new(), Vec::new());
    for (i, p) in pairs.iter().enumerate() {
        let mut prompt_cache = Cache::new();
        llama.forward(&p.prompt, &mut prompt_cache, &Steering::none())?;
        for (completion, out) in [(&p.positive, &mut positive), (&p.negative, &mut negative)] {
            let acts = llama.forward(completion, &mut prompt_cache.clone(), &record)?.recorded.remove(0);
            let rows: Vec<Vec<f32>> = acts.to_vec2()?;
            norms.extend(rows.iter().map(|r| norm(r)));
            out.push(match read {
                Read::CompletionMean => mean_rows(rows.iter().map(|r| r.as_slice())),
                Read::LastToken => rows.last().cloned().unwrap_or_default(),
            });
        }
        progress(i + 1, pairs.len());
    }
    Ok(PairActivations { positive, negative, mean_norm: norms.iter().sum::<f32>() / norms.len() as f32 })
}

pub fn fit(
    llama: &Llama, pairs: &[PairTokens], layer: usize, site: Site, progress: impl FnMut(usize, usize),
) -> Result<FittedVector> {
    fit_method(llama, pairs, Method::DiffMean, layer, site, Read::CompletionMean, progress)
}

pub fn fit_method(
    llama: &Llama, pairs: &[PairTokens], method: Method, layer: usize, site: Site, read: Read,
    progress: impl FnMut(usize, usize),
) -> Result<FittedVector> {
    let acts = pair_activations(llama, pairs, layer, site, read, progress)?;
    let rows = |v: &[Vec<f32>]| mean_rows(v.iter().map(|r| r.as_slice()));
    let (mp, mn) = (rows(&acts.positive), rows(&acts.negative));
    let diffmean: Vec<f32> = mp.iter().zip(&mn).map(|(a, b)| a - b).collect();
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
    };
    Ok(FittedVector { method, layer, site, read, norm: norm(&vector), vector, mean_activation_norm: acts.mean_norm })
}
