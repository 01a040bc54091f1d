//! Polarity pairs run through the model: the one place where pairs meet the forward pass.
//!
//! [`Prepared`] runs every pair's prompt and completions through the layers below a layer ℓ once;
//! everything that steers at ℓ or above (a strength sweep, training, scoring) then runs only
//! layers `ℓ..`, the prompt once for both completions — steering at ℓ cannot change the layers
//! below it.
use crate::error::{Error, Result};
use crate::math::logodds::PairScore;
use crate::model::score::{nll_of_rows, PairTokens};
use crate::model::{Cache, Llama, Site, Steering};
use alloc::vec::Vec;
use candle_core::{IndexOp, Tensor};
use core::cell::RefCell;

/// Pairs run through the layers below the steered one, shared by every strength.
pub struct Prepared {
    pub layer: usize,
    pairs: Vec<PreparedPair>,
    /// Unsteered scores and site activations, per site, computed on first need: every sweep
    /// over these pairs shares its `m = 0` point and its manifold reference.
    unsteered: RefCell<Vec<(Site, Scored)>>,
}

/// Scores of every pair and the site activations over the completion tokens.
type Scored = (Vec<PairScore>, Vec<Vec<f32>>);

struct PreparedPair {
    /// Residual stream entering layer ℓ: prompt `(1, p, h)` and each completion `(1, n, h)`.
    prompt: Tensor,
    completions: [(Tensor, Vec<u32>); 2],
}

impl Prepared {
    pub fn new(
        llama: &Llama, pairs: &[PairTokens], layer: usize, mut progress: impl FnMut(usize, usize),
    ) -> Result<Self> {
        llama.config.check_layer(layer)?;
        if pairs.is_empty() {
            return Err(Error::EmptyDataset);
        }
        let none = Steering::none();
        let mut out = Vec::with_capacity(pairs.len());
        for (i, p) in pairs.iter().enumerate() {
            let mut lower = Cache::new();
            let prompt = llama.run_layers(llama.embed(&p.prompt, 0)?, 0..layer, &mut lower, &none)?.0;
            let below = |ids: &Vec<u32>| -> Result<(Tensor, Vec<u32>)> {
                let mut c = lower.clone();
                Ok((llama.run_layers(llama.embed(ids, c.pos)?, 0..layer, &mut c, &none)?.0, ids.clone()))
            };
            out.push(PreparedPair { prompt, completions: [below(&p.positive)?, below(&p.negative)?] });
            progress(i + 1, pairs.len());
        }
        Ok(Prepared { layer, pairs: out, unsteered: RefCell::default() })
    }

    pub fn len(&self) -> usize {
        self.pairs.len()
    }

    pub fn is_empty(&self) -> bool {
        self.pairs.is_empty()
    }

    /// The positive and negative completion tokens of pair `i`.
    pub fn targets(&self, i: usize) -> [&[u32]; 2] {
        self.pairs[i].completions.each_ref().map(|(_, ids)| ids.as_slice())
    }

    /// Pair `i` under `steering` (acting at layer ≥ ℓ): for each completion, the final hidden
    /// rows that predict its tokens, and the activations at `(ℓ, site)` for each of `record`
    /// over the completion positions (positive's sites, then negative's). Differentiable when
    /// the steering holds trainable tensors.
    pub fn completion_rows(
        &self, llama: &Llama, i: usize, steering: &Steering, record: &[Site],
    ) -> Result<([Tensor; 2], Vec<Tensor>)> {
        let (pair, n_layers) = (&self.pairs[i], llama.config.n_layers);
        let recording = record.iter().fold(steering.clone(), |s, &site| s.recording(self.layer, site));
        let mut upper = Cache::new();
        let (x, _) = llama.run_layers(pair.prompt.clone(), self.layer..n_layers, &mut upper, steering)?;
        let hp = llama.final_norm(&x)?;
        let last = hp.i(hp.dim(0)? - 1..hp.dim(0)?)?;
        let mut acts = Vec::new();
        let mut rows = |(x_in, ids): &(Tensor, Vec<u32>)| -> Result<Tensor> {
            let n = ids.len();
            if n == 1 {
                return Ok(last.clone());
            }
            let (x, rec) =
                llama.run_layers(x_in.narrow(1, 0, n - 1)?, self.layer..n_layers, &mut upper.clone(), &recording)?;
            acts.extend(rec);
            Ok(Tensor::cat(&[&last, &llama.final_norm(&x)?], 0)?)
        };
        let rows = [rows(&pair.completions[0])?, rows(&pair.completions[1])?];
        Ok((rows, acts))
    }

    /// [`Prepared::score`] without steering, cached per site.
    pub fn unsteered(&self, llama: &Llama, site: Site) -> Result<Scored> {
        if let Some((_, s)) = self.unsteered.borrow().iter().find(|(s, _)| *s == site) {
            return Ok(s.clone());
        }
        let scored = self.score(llama, &Steering::none(), site, |_, _| {})?;
        self.unsteered.borrow_mut().push((site, scored.clone()));
        Ok(scored)
    }

    /// Scores every pair under `steering` (acting at layer ≥ ℓ), returning the scores and the
    /// activations at `(ℓ, site)` over the completion tokens.
    pub fn score(
        &self, llama: &Llama, steering: &Steering, site: Site, mut progress: impl FnMut(usize, usize),
    ) -> Result<(Vec<PairScore>, Vec<Vec<f32>>)> {
        let (mut scores, mut acts) = (Vec::new(), Vec::new());
        for i in 0..self.pairs.len() {
            let ([rp, rn], rec) = self.completion_rows(llama, i, steering, &[site])?;
            for r in rec {
                acts.extend(r.to_vec2::<f32>()?);
            }
            let [tp, tn] = self.targets(i);
            let (lp, ln) = (nll_of_rows(llama, &rp, tp)?, nll_of_rows(llama, &rn, tn)?);
            scores.push(PairScore::new(lp, ln));
            progress(i + 1, self.pairs.len());
        }
        Ok((scores, acts))
    }
}
