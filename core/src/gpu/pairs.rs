//! Polarity pairs scored on the GPU: [`crate::model::pairs::Prepared`]'s work — layers below ℓ
//! once per pair, then per steering the layers ℓ.. over the prompt once and each completion after
//! it — with the residual streams entering ℓ kept on the GPU. [`GpuEngine`] hands these to a sweep
//! session ([`crate::analysis::session::SweepSession::score_on`]), which then measures every
//! point, baseline and off-manifold score on the GPU with the same code around them.
//!
//! Positions as on the CPU: a completion of `n` tokens runs whole (its activations are read at
//! its own `n` positions), and its loss uses the prompt's last state and its first `n − 1` rows.
//! The last row's target is a placeholder whose log-probability is dropped (the readout takes one
//! target per input row, plus the cache's last state).
use crate::error::{Error, Result};
use crate::future::Pending;
use crate::gpu::cache::GpuCache;
use crate::gpu::forward::{GpuStream, Input, Readout};
use crate::gpu::model::GpuLlama;
use crate::gpu::steering::GpuSteering;
use crate::math::logodds::{Nll, PairScore};
use crate::model::pairs::{PairEngine, ScorePairs, UnsteeredCache};
use crate::model::score::PairTokens;
use crate::model::{Llama, Site, Steering};
use crate::progress::Progress;
use alloc::{boxed::Box, format, vec::Vec};

/// Pairs run through the layers below ℓ on the GPU.
pub struct GpuPairs {
    model: GpuLlama,
    layer: usize,
    pairs: Vec<GpuPair>,
    unsteered: UnsteeredCache,
}

struct GpuPair {
    /// The prompt's residual stream entering ℓ.
    prompt: GpuStream,
    /// Each completion's stream entering ℓ, with its ids: `[positive, negative]`.
    completions: [(GpuStream, Vec<u32>); 2],
}

impl GpuPairs {
    /// Runs every pair through layers `0..layer` on the GPU (progress: one unit per pair).
    pub async fn new(
        model: &GpuLlama, pairs: &[PairTokens], layer: usize, progress: &mut dyn Progress,
    ) -> Result<Self> {
        model.config().check_layer(layer)?;
        if pairs.is_empty() {
            return Err(Error::EmptyDataset);
        }
        let mut out = Vec::with_capacity(pairs.len());
        for (i, p) in pairs.iter().enumerate() {
            if p.prompt.is_empty() || p.positive.is_empty() || p.negative.is_empty() {
                return Err(Error::Invalid(format!("pair {} has an empty prompt or completion", i + 1)));
            }
            let mut lower = model.cache();
            let prompt = below(model, &p.prompt, layer, &mut lower).await?;
            let positive = below(model, &p.positive, layer, &mut lower.clone()).await?;
            let negative = below(model, &p.negative, layer, &mut lower.clone()).await?;
            out.push(GpuPair { prompt, completions: [(positive, p.positive.clone()), (negative, p.negative.clone())] });
            progress.report(i + 1, pairs.len())?;
        }
        Ok(GpuPairs { model: model.clone(), layer, pairs: out, unsteered: UnsteeredCache::default() })
    }

    /// Pair `i`'s score under `steering` (acting at layers ≥ ℓ), and the activation rows at
    /// `(ℓ, site)` over both completions' tokens, the positive completion's first.
    pub async fn score_pair_async(
        &self, i: usize, steering: &Steering, site: Site,
    ) -> Result<(PairScore, Vec<Vec<f32>>)> {
        let (m, top) = (&self.model, self.model.config().n_layers);
        let pair = &self.pairs[i];
        let steer = GpuSteering::new(m, steering)?;
        let record = GpuSteering::new(m, &steering.clone().recording(self.layer, site))?;
        let mut upper = m.cache();
        m.run(Input::Stream(&pair.prompt), self.layer..top, &mut upper, &steer, &Readout::default()).await?;
        let width = site.width(m.config());
        let mut rows = Vec::new();
        let mut nll = [Nll { sum: 0.0, tokens: 0 }; 2];
        for ((stream, ids), nll) in pair.completions.iter().zip(&mut nll) {
            // One target per input row plus the prompt's last state; the last is a placeholder.
            let readout = Readout { targets: ids.iter().copied().chain([0]).collect(), ..Readout::default() };
            let out = m.run(Input::Stream(stream), self.layer..top, &mut upper.clone(), &record, &readout).await?;
            *nll = Nll { sum: -out.target_logprobs[..ids.len()].iter().sum::<f32>(), tokens: ids.len() };
            rows.extend(out.recorded[0].chunks_exact(width).map(<[f32]>::to_vec));
        }
        Ok((PairScore::new(nll[0], nll[1]), rows))
    }
}

/// `ids` run through layers `0..layer` after what `cache` holds: the stream entering `layer`.
async fn below(model: &GpuLlama, ids: &[u32], layer: usize, cache: &mut GpuCache) -> Result<GpuStream> {
    let keep = Readout { stream: true, ..Readout::default() };
    let out = model.run(Input::Tokens(ids), 0..layer, cache, &GpuSteering::none(), &keep).await?;
    out.stream.ok_or_else(|| Error::Invalid("internal: no stream came back".into()))
}

/// The GPU as a sweep session's scoring engine ([`PairEngine`]): natively a synchronous call
/// blocks on it ([`crate::future::wait`]), the browser awaits
/// [`crate::analysis::session::SweepSession::point_progressive_async`].
#[derive(Clone)]
pub struct GpuEngine(pub GpuLlama);

impl PairEngine for GpuEngine {
    fn prepare<'a>(
        &'a self, _llama: &'a Llama, pairs: &'a [PairTokens], layer: usize, progress: &'a mut dyn Progress,
    ) -> Pending<'a, Box<dyn ScorePairs>> {
        Box::pin(
            async move { Ok(Box::new(GpuPairs::new(&self.0, pairs, layer, progress).await?) as Box<dyn ScorePairs>) },
        )
    }
}

impl ScorePairs for GpuPairs {
    fn len(&self) -> usize {
        self.pairs.len()
    }

    fn score_pair<'a>(
        &'a self, _llama: &'a Llama, i: usize, steering: &'a Steering, site: Site,
    ) -> Pending<'a, (PairScore, Vec<Vec<f32>>)> {
        Box::pin(self.score_pair_async(i, steering, site))
    }

    fn unsteered_cache(&self) -> &UnsteeredCache {
        &self.unsteered
    }
}
