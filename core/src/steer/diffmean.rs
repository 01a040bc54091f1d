//! DiffMean (CAA): the steering vector is the mean activation over the positive completions'
//! tokens minus the same over the negative ones, at one (layer, site). No gradients.
use crate::error::{Error, Result};
use crate::model::score::PairTokens;
use crate::model::{Cache, Llama, Site, Steering};
use crate::steer::vector::{mean_rows, norm};
use alloc::vec::Vec;

#[derive(Debug, Clone, serde::Serialize)]
pub struct DiffMean {
    pub layer: usize,
    pub site: Site,
    pub vector: Vec<f32>,
    pub norm: f32,
    /// Mean norm of the unsteered activations at the site over the completion tokens: the
    /// natural unit for strengths (it grows ~20× from the first to the last layer).
    pub mean_activation_norm: f32,
}

pub fn fit(
    llama: &Llama, pairs: &[PairTokens], layer: usize, site: Site, mut progress: impl FnMut(usize, usize),
) -> Result<DiffMean> {
    llama.config.check_layer(layer)?;
    if pairs.is_empty() {
        return Err(Error::EmptyDataset);
    }
    let record = Steering::none().recording(layer, site);
    let (mut pos, mut neg, mut norms) = (Vec::new(), Vec::new(), Vec::new());
    for (i, p) in pairs.iter().enumerate() {
        let mut prompt_cache = Cache::new();
        llama.forward(&p.prompt, &mut prompt_cache, &Steering::none())?;
        for (completion, out) in [(&p.positive, &mut pos), (&p.negative, &mut neg)] {
            let acts = llama.forward(completion, &mut prompt_cache.clone(), &record)?.recorded.remove(0);
            let rows: Vec<Vec<f32>> = acts.to_vec2()?;
            norms.extend(rows.iter().map(|r| norm(r)));
            out.push(mean_rows(rows.iter().map(|r| r.as_slice())));
        }
        progress(i + 1, pairs.len());
    }
    let (mp, mn) = (mean_rows(pos.iter().map(|v| v.as_slice())), mean_rows(neg.iter().map(|v| v.as_slice())));
    let vector: Vec<f32> = mp.iter().zip(&mn).map(|(a, b)| a - b).collect();
    Ok(DiffMean {
        layer,
        site,
        norm: norm(&vector),
        vector,
        mean_activation_norm: norms.iter().sum::<f32>() / norms.len() as f32,
    })
}
