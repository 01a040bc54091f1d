//! Polarity pairs run through the model: the one place where pairs meet the forward pass.
//!
//! Scoring, strength sweeps, DiffMean/PCA fitting and training all need the same thing: each
//! pair's prompt and its two completions through the network, with a steering at some layer ℓ,
//! and from that the completions' losses or the activations at some sites. Steering at ℓ cannot
//! change the layers below ℓ, so [`Prepared`] runs every pair through layers `0..ℓ` once and
//! keeps the residual stream entering ℓ; every later call runs only layers `ℓ..` (or only up to
//! the highest layer it reads), the prompt once for both completions.
//!
//! Positions: a completion of `n` tokens is run whole, so its activations are read at its own
//! `n` positions (one row for a single-token answer such as "Yes"), while its loss uses the `n`
//! hidden rows that *predict* its tokens: the prompt's last, then the completion's first `n − 1`.
use crate::error::{Error, Result};
use crate::future::{wait, Pending};
use crate::math::logodds::PairScore;
use crate::math::vector::{mean_rows, norm};
use crate::model::score::{nll_of_rows, PairTokens};
use crate::model::{Cache, Llama, Site, Steering};
use crate::progress::Progress;
use alloc::{boxed::Box, rc::Rc, vec::Vec};
use candle_core::{IndexOp, Tensor};
use core::cell::RefCell;

/// Pairs run through the layers below layer ℓ, shared by everything that steers at ℓ or above.
pub struct Prepared {
    layer: usize,
    pairs: Vec<PreparedPair>,
    /// Unsteered scores and activations, per site, computed on first need: every sweep over these
    /// pairs shares its `m = 0` point and its off-manifold reference.
    unsteered: UnsteeredCache,
}

/// Pairs ready to be scored under a steering acting at layers ≥ ℓ: [`Prepared`] on the CPU, or
/// another engine's (the GPU's `crate::gpu::GpuPairs`), so a sweep session measures its points on
/// either with the same code around them. Calls return futures ([`Pending`]): the CPU's are ready
/// at once, the browser's GPU's must be awaited.
pub trait ScorePairs {
    /// Number of pairs.
    fn len(&self) -> usize;

    /// Never true: an empty pair set is refused when the pairs are prepared.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Pair `i`'s score under `steering`, and the activation rows at `(ℓ, site)` over both
    /// completions' tokens (the positive completion's first).
    fn score_pair<'a>(
        &'a self, llama: &'a Llama, i: usize, steering: &'a Steering, site: Site,
    ) -> Pending<'a, (PairScore, Vec<Vec<f32>>)>;

    /// The unsteered scores kept per site (see [`UnsteeredCache`]).
    fn unsteered_cache(&self) -> &UnsteeredCache;
}

/// An engine that prepares pairs for scoring at a layer: how a sweep session is told to score
/// somewhere other than on the CPU ([`crate::analysis::session::SweepSession::score_on`]).
pub trait PairEngine {
    /// `pairs` run through the layers below `layer`, ready for [`ScorePairs::score_pair`].
    /// Progress: one unit per pair.
    fn prepare<'a>(
        &'a self, llama: &'a Llama, pairs: &'a [PairTokens], layer: usize, progress: &'a mut dyn Progress,
    ) -> Pending<'a, alloc::boxed::Box<dyn ScorePairs>>;
}

/// Every pair's score under `steering`, with the activations at `(ℓ, site)`, on any engine.
/// Progress: one unit per pair.
pub async fn score_all(
    pairs: &dyn ScorePairs, llama: &Llama, steering: &Steering, site: Site, mut progress: impl Progress,
) -> Result<Scored> {
    let mut out = Scored { scores: Vec::with_capacity(pairs.len()), activations: Vec::new() };
    for i in 0..pairs.len() {
        let (score, rows) = pairs.score_pair(llama, i, steering, site).await?;
        out.scores.push(score);
        out.activations.extend(rows);
        progress.report(i + 1, pairs.len())?;
    }
    Ok(out)
}

/// Every pair unsteered, computed once per site and kept ([`ScorePairs::unsteered_cache`]): every
/// sweep over these pairs shares its `m = 0` point and its off-manifold reference.
pub async fn unsteered(
    pairs: &dyn ScorePairs, llama: &Llama, site: Site, progress: impl Progress,
) -> Result<Rc<Scored>> {
    if let Some(s) = pairs.unsteered_cache().get(site) {
        return Ok(s);
    }
    let scored = score_all(pairs, llama, &Steering::none(), site, progress).await?;
    Ok(pairs.unsteered_cache().put(site, scored))
}

/// The unsteered [`Scored`] of a pair set, per site, kept once computed.
#[derive(Default)]
pub struct UnsteeredCache(RefCell<Vec<(Site, Rc<Scored>)>>);

impl UnsteeredCache {
    /// The scores at `site`, if computed.
    pub fn get(&self, site: Site) -> Option<Rc<Scored>> {
        self.0.borrow().iter().find(|(s, _)| *s == site).map(|(_, s)| s.clone())
    }

    /// Keeps `scored` as the scores at `site`.
    pub fn put(&self, site: Site, scored: Scored) -> Rc<Scored> {
        let scored = Rc::new(scored);
        self.0.borrow_mut().push((site, scored.clone()));
        scored
    }
}

struct PreparedPair {
    /// Residual stream entering layer ℓ, `(1, p, hidden)` for the prompt.
    prompt: Tensor,
    /// The same for each completion `(1, n, hidden)`, with its token ids: `[positive, negative]`.
    completions: [(Tensor, Vec<u32>); 2],
}

/// What a partial run returns: the predicting rows `[positive, negative]` (if it reached the
/// top) and the recorded activations, one `[positive, negative]` per recorded site.
type RunRows = (Option<[Tensor; 2]>, Vec<[Tensor; 2]>);

/// Every pair's score under one steering, with the activations at the prepared layer's site over
/// the completions' tokens (pair after pair, the positive completion's rows first).
#[derive(Debug, Clone)]
pub struct Scored {
    /// One score per pair, in pair order.
    pub scores: Vec<PairScore>,
    /// Activation rows at `(ℓ, site)`.
    pub activations: Vec<Vec<f32>>,
}

/// One pair run from layer ℓ to the top.
pub struct PairRun {
    /// Final-normed hidden rows predicting each completion's tokens, `[positive, negative]`, each
    /// `(n, hidden)`: differentiable when the steering holds trainable tensors.
    pub rows: [Tensor; 2],
    /// For each recorded `(layer, site)`, the activations over each completion's tokens.
    pub recorded: Vec<[Tensor; 2]>,
}

/// Which positions of a completion an activation reading reduces to one row.
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
    /// `completion-mean` or `last-token`.
    pub fn name(self) -> &'static str {
        match self {
            Read::CompletionMean => "completion-mean",
            Read::LastToken => "last-token",
        }
    }

    fn reduce(self, rows: &[Vec<f32>]) -> Vec<f32> {
        match self {
            Read::CompletionMean => mean_rows(rows.iter().map(|r| r.as_slice())),
            Read::LastToken => rows.last().cloned().unwrap_or_default(),
        }
    }
}

impl core::str::FromStr for Read {
    type Err = Error;
    /// ```
    /// use steerscope::model::pairs::Read;
    /// assert_eq!("last-token".parse::<Read>().unwrap(), Read::LastToken);
    /// assert!("middle".parse::<Read>().unwrap_err().to_string().contains("`middle`"));
    /// ```
    fn from_str(s: &str) -> Result<Self> {
        [Read::CompletionMean, Read::LastToken].into_iter().find(|r| r.name() == s).ok_or_else(|| {
            Error::Invalid(alloc::format!("unknown read positions `{s}` (expected completion-mean or last-token)"))
        })
    }
}

/// Activations at one `(layer, site)`, reduced per completion: what DiffMean and PCA fit on.
#[derive(Debug, Clone)]
pub struct SiteActivations {
    /// Where they were read.
    pub layer: usize,
    /// Where they were read.
    pub site: Site,
    /// One reduced row per pair, for the positive completion.
    pub positive: Vec<Vec<f32>>,
    /// One reduced row per pair, for the negative completion.
    pub negative: Vec<Vec<f32>>,
    /// Mean L2 norm of the unreduced rows (every completion token of every pair): the scale of
    /// the activations at this site.
    pub mean_norm: f32,
}

/// The activations at several sites from one pass over the pairs ([`Prepared::read_activations`]).
#[derive(Debug, Clone)]
pub struct Activations {
    /// How each completion was reduced to one row.
    pub read: Read,
    /// One entry per requested `(layer, site)`, in request order.
    pub sites: Vec<SiteActivations>,
}

impl Activations {
    /// The activations read at `(layer, site)`, or an error saying they were not read.
    pub fn at(&self, layer: usize, site: Site) -> Result<&SiteActivations> {
        self.sites
            .iter()
            .find(|a| a.layer == layer && a.site == site)
            .ok_or_else(|| Error::Invalid(alloc::format!("activations at layer {layer}, site {site} were not read")))
    }
}

impl Prepared {
    /// Runs every pair through layers `0..layer` (progress: one unit per pair).
    pub fn new(llama: &Llama, pairs: &[PairTokens], layer: usize, mut progress: impl Progress) -> Result<Self> {
        llama.config.check_layer(layer)?;
        if pairs.is_empty() {
            return Err(Error::EmptyDataset);
        }
        let none = Steering::none();
        let mut out = Vec::with_capacity(pairs.len());
        for (i, p) in pairs.iter().enumerate() {
            if p.positive.is_empty() || p.negative.is_empty() {
                return Err(Error::Invalid(alloc::format!("pair {} has an empty completion", i + 1)));
            }
            let mut lower = Cache::new();
            let prompt = llama.run_layers(llama.embed(&p.prompt, 0)?, 0..layer, &mut lower, &none)?.0;
            let below = |ids: &Vec<u32>| -> Result<(Tensor, Vec<u32>)> {
                let mut c = lower.clone();
                Ok((llama.run_layers(llama.embed(ids, c.pos)?, 0..layer, &mut c, &none)?.0, ids.clone()))
            };
            out.push(PreparedPair { prompt, completions: [below(&p.positive)?, below(&p.negative)?] });
            progress.report(i + 1, pairs.len())?;
        }
        Ok(Prepared { layer, pairs: out, unsteered: UnsteeredCache::default() })
    }

    /// The layer ℓ below which the pairs are prepared.
    pub fn layer(&self) -> usize {
        self.layer
    }

    /// Number of pairs.
    pub fn len(&self) -> usize {
        self.pairs.len()
    }

    /// Never true: an empty pair set is refused by [`Prepared::new`].
    pub fn is_empty(&self) -> bool {
        self.pairs.is_empty()
    }

    /// The positive and negative completion tokens of pair `i`.
    pub fn targets(&self, i: usize) -> [&[u32]; 2] {
        self.pairs[i].completions.each_ref().map(|(_, ids)| ids.as_slice())
    }

    /// Runs pair `i` from layer ℓ to the top under `steering` (acting at layers ≥ ℓ), recording
    /// `record` over the completions' tokens.
    pub fn run(&self, llama: &Llama, i: usize, steering: &Steering, record: &[(usize, Site)]) -> Result<PairRun> {
        let (rows, recorded) = self.run_to(llama, i, steering, record, llama.config.n_layers)?;
        Ok(PairRun { rows: rows.expect("the top layer was run"), recorded })
    }

    /// Runs pair `i` from ℓ through `end` (exclusive); the predicting rows only if `end` is the top.
    fn run_to(
        &self, llama: &Llama, i: usize, steering: &Steering, record: &[(usize, Site)], end: usize,
    ) -> Result<RunRows> {
        for &(layer, site) in record {
            if layer < self.layer || layer >= end {
                return Err(Error::Invalid(alloc::format!(
                    "cannot read layer {layer} ({site}): the pairs are prepared at layer {} and run to layer {}",
                    self.layer,
                    end.saturating_sub(1)
                )));
            }
        }
        let pair = &self.pairs[i];
        let top = end == llama.config.n_layers;
        let recording = record.iter().fold(steering.clone(), |s, &(l, site)| s.recording(l, site));
        let mut upper = Cache::new();
        let (x, _) = llama.run_layers(pair.prompt.clone(), self.layer..end, &mut upper, steering)?;
        let last = if top {
            let h = llama.final_norm(&x)?;
            let n = h.dim(0)?;
            Some(h.i(n - 1..n)?)
        } else {
            None
        };
        let run = |(x_in, ids): &(Tensor, Vec<u32>)| -> Result<(Option<Tensor>, Vec<Tensor>)> {
            let (x, rec) = llama.run_layers(x_in.clone(), self.layer..end, &mut upper.clone(), &recording)?;
            let rows = match &last {
                Some(last) if ids.len() == 1 => Some(last.clone()),
                Some(last) => Some(Tensor::cat(&[last, &llama.final_norm(&x.narrow(1, 0, ids.len() - 1)?)?], 0)?),
                None => None,
            };
            Ok((rows, rec))
        };
        let (rp, recp) = run(&pair.completions[0])?;
        let (rn, recn) = run(&pair.completions[1])?;
        let rows = rp.zip(rn).map(|(p, n)| [p, n]);
        Ok((rows, recp.into_iter().zip(recn).map(|(p, n)| [p, n]).collect()))
    }

    /// Every pair's score under `steering` (acting at layers ≥ ℓ), with the activations at
    /// `(ℓ, site)`. Progress: one unit per pair.
    pub fn score(&self, llama: &Llama, steering: &Steering, site: Site, progress: impl Progress) -> Result<Scored> {
        wait(score_all(self, llama, steering, site, progress))
    }

    /// [`Prepared::score`] without steering, computed once per site.
    pub fn unsteered(&self, llama: &Llama, site: Site, progress: impl Progress) -> Result<Rc<Scored>> {
        wait(unsteered(self, llama, site, progress))
    }

    /// Pair `i`'s score under `steering`, and the activation rows at `(ℓ, site)` over both
    /// completions' tokens.
    pub fn score_pair(
        &self, llama: &Llama, i: usize, steering: &Steering, site: Site,
    ) -> Result<(PairScore, Vec<Vec<f32>>)> {
        let run = self.run(llama, i, steering, &[(self.layer, site)])?;
        let [tp, tn] = self.targets(i);
        let score = PairScore::new(nll_of_rows(llama, &run.rows[0], tp)?, nll_of_rows(llama, &run.rows[1], tn)?);
        let [ap, an] = &run.recorded[0];
        let mut rows: Vec<Vec<f32>> = ap.to_vec2()?;
        rows.extend(an.to_vec2::<f32>()?);
        Ok((score, rows))
    }

    /// The activation rows at each of `sites` (layers ≥ ℓ) for pair `i` under `steering`,
    /// running only up to the highest layer read: `[site][completion]`, each `(n, width)`.
    pub fn read(
        &self, llama: &Llama, i: usize, steering: &Steering, sites: &[(usize, Site)],
    ) -> Result<Vec<[Tensor; 2]>> {
        let end = sites.iter().map(|&(l, _)| l + 1).max().unwrap_or(self.layer + 1);
        Ok(self.run_to(llama, i, steering, sites, end)?.1)
    }

    /// Unsteered activations at every one of `sites` in one pass over the pairs, each completion
    /// reduced to one row by `read`. Memory: one row per completion and site, not per token —
    /// every layer and site of SmolLM2 for 64 pairs is ~50 MB. Progress: one unit per pair.
    pub fn read_activations(
        &self, llama: &Llama, sites: &[(usize, Site)], read: Read, mut progress: impl Progress,
    ) -> Result<Activations> {
        if sites.is_empty() {
            return Err(Error::Invalid("no site to read activations at".into()));
        }
        let mut out: Vec<SiteActivations> = sites
            .iter()
            .map(|&(layer, site)| SiteActivations {
                layer,
                site,
                positive: Vec::with_capacity(self.len()),
                negative: Vec::with_capacity(self.len()),
                mean_norm: 0.0,
            })
            .collect();
        let mut norm_sums = alloc::vec![(0f64, 0usize); sites.len()];
        for i in 0..self.len() {
            for ((acc, sums), [p, n]) in
                out.iter_mut().zip(&mut norm_sums).zip(self.read(llama, i, &Steering::none(), sites)?)
            {
                for (t, dst) in [(p, &mut acc.positive), (n, &mut acc.negative)] {
                    let rows: Vec<Vec<f32>> = t.to_vec2()?;
                    sums.0 += rows.iter().map(|r| norm(r) as f64).sum::<f64>();
                    sums.1 += rows.len();
                    dst.push(read.reduce(&rows));
                }
            }
            progress.report(i + 1, self.len())?;
        }
        for (acc, (sum, n)) in out.iter_mut().zip(norm_sums) {
            acc.mean_norm = (sum / n.max(1) as f64) as f32;
        }
        Ok(Activations { read, sites: out })
    }
}

impl ScorePairs for Prepared {
    fn len(&self) -> usize {
        Prepared::len(self)
    }

    fn score_pair<'a>(
        &'a self, llama: &'a Llama, i: usize, steering: &'a Steering, site: Site,
    ) -> Pending<'a, (PairScore, Vec<Vec<f32>>)> {
        Box::pin(core::future::ready(Prepared::score_pair(self, llama, i, steering, site)))
    }

    fn unsteered_cache(&self) -> &UnsteeredCache {
        &self.unsteered
    }
}
