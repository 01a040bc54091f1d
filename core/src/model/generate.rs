//! Text generation: prefill the prompt, then one token at a time, greedy or seeded sampling,
//! streaming decoded text as it grows.
use crate::error::{Error, Result};
use crate::model::{Cache, Model, Steering};
use crate::rng::Rng;
use alloc::{string::String, vec::Vec};
use candle_core::IndexOp;

/// How the next token is picked.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Sampling {
    /// 0 = greedy (argmax).
    pub temperature: f32,
    /// Nucleus: sample from the smallest set of tokens holding this much probability.
    pub top_p: f32,
    /// Seeds the sampler (unused when greedy).
    pub seed: u64,
}

impl Sampling {
    /// Always the most likely token.
    pub const GREEDY: Sampling = Sampling { temperature: 0.0, top_p: 1.0, seed: 0 };
}

/// What [`generate`] produced.
pub struct Generation {
    /// The new token ids (without the prompt).
    pub ids: Vec<u32>,
    /// Their decoded text.
    pub text: String,
    /// Tokens in the prompt.
    pub prompt_tokens: usize,
}

/// Generates up to `max_tokens` after `prompt_ids`, calling `on_text` with each new piece of
/// text. Stops at the end-of-sequence token or the model's context.
pub fn generate(
    model: &Model, prompt_ids: &[u32], max_tokens: usize, sampling: Sampling, steering: &Steering,
    mut on_text: impl FnMut(&str),
) -> Result<Generation> {
    if !(sampling.temperature >= 0.0
        && sampling.temperature.is_finite()
        && sampling.top_p > 0.0
        && sampling.top_p <= 1.0)
    {
        return Err(Error::Invalid(alloc::format!(
            "sampling needs temperature ≥ 0 and 0 < top-p ≤ 1 (got {} and {})",
            sampling.temperature,
            sampling.top_p
        )));
    }
    let llama = &model.llama;
    let mut cache = Cache::new();
    let mut rng = Rng::new(sampling.seed);
    let mut ids = Vec::new();
    let mut text = String::new();
    let mut input: Vec<u32> = prompt_ids.to_vec();
    let budget = max_tokens.min(llama.config.context.saturating_sub(prompt_ids.len()));
    for _ in 0..budget {
        let fwd = llama.forward(&input, &mut cache, steering)?;
        let n = fwd.hidden.dim(0)?;
        let logits: Vec<f32> = llama.logits(&fwd.hidden.i(n - 1..n)?)?.squeeze(0)?.to_vec1()?;
        if let Some(bad) = logits.iter().find(|l| !l.is_finite()) {
            return Err(Error::Invalid(alloc::format!(
                "the model's output is not finite ({bad} among the logits) at generated token {}: the steering is far too strong or the update is broken",
                ids.len() + 1
            )));
        }
        let next = pick(&logits, sampling, &mut rng);
        if next == model.tokenizer.eos {
            break;
        }
        ids.push(next);
        let full = model.tokenizer.decode(&ids)?;
        // Hold back text that ends in the middle of a multi-byte character.
        if !full.ends_with('\u{FFFD}') && full.len() > text.len() && full.starts_with(text.as_str()) {
            on_text(&full[text.len()..]);
            text = full;
        }
        input = alloc::vec![next];
    }
    let text = model.tokenizer.decode(&ids)?;
    Ok(Generation { ids, text, prompt_tokens: prompt_ids.len() })
}

/// Greedy argmax, or temperature + nucleus sampling.
pub fn pick(logits: &[f32], s: Sampling, rng: &mut Rng) -> u32 {
    let argmax = || {
        logits.iter().enumerate().fold((0, f32::NEG_INFINITY), |b, (i, &v)| if v > b.1 { (i, v) } else { b }).0 as u32
    };
    if s.temperature == 0.0 {
        return argmax();
    }
    let max = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let mut probs: Vec<(u32, f32)> =
        logits.iter().enumerate().map(|(i, &l)| (i as u32, ((l - max) / s.temperature).exp())).collect();
    probs.sort_by(|a, b| b.1.total_cmp(&a.1));
    let total: f32 = probs.iter().map(|p| p.1).sum();
    let mut kept = 0.0;
    let cut = probs
        .iter()
        .position(|p| {
            kept += p.1 / total;
            kept >= s.top_p
        })
        .map_or(probs.len(), |i| i + 1);
    let probs = &probs[..cut];
    let mut r = rng.uniform() * probs.iter().map(|p| p.1).sum::<f32>();
    for &(id, p) in probs {
        r -= p;
        if r <= 0.0 {
            return id;
        }
    }
    probs[probs.len() - 1].0
}
