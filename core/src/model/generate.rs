//! Text generation: prefill the prompt, then one token at a time, greedy or seeded sampling,
//! streaming decoded text as it grows.
use crate::error::{Error, Result};
use crate::model::{Cache, Llama, Model, Steering};
use crate::progress::Progress;
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
    on_text: impl FnMut(&str),
) -> Result<Generation> {
    generate_reporting(model, prompt_ids, max_tokens, sampling, steering, on_text, |_, _| {})
}

/// [`generate`], asking `progress` after each token whether to go on (`(tokens, max_tokens)`):
/// the page stops a generation the moment its prompt or strength changes
/// ([`Error::Cancelled`]; the text so far has already gone to `on_text`).
pub fn generate_reporting(
    model: &Model, prompt_ids: &[u32], max_tokens: usize, sampling: Sampling, steering: &Steering,
    on_text: impl FnMut(&str), progress: impl Progress,
) -> Result<Generation> {
    let mut cache = sequence_cache(model, prompt_ids.len(), max_tokens);
    let step = cpu_step(&model.llama, &mut cache, steering);
    generate_with(model, prompt_ids, max_tokens, sampling, step, on_text, progress)
}

/// The KV cache for one generation: room for the prompt and every token it can feed back,
/// allocated at once — grown by doubling, it would copy every layer's keys and values several
/// times per sequence.
pub fn sequence_cache(model: &Model, prompt_len: usize, max_tokens: usize) -> Cache {
    // The last generated token is only returned, never run.
    Cache::with_capacity(prompt_len + budget(model, prompt_len, max_tokens).saturating_sub(1))
}

/// The CPU engine's step for [`generate_with`]: runs `input` after what `cache` holds, under
/// `steering`, and returns the next-token logits.
pub fn cpu_step<'a>(
    llama: &'a Llama, cache: &'a mut Cache, steering: &'a Steering,
) -> impl FnMut(&[u32]) -> Result<Vec<f32>> + 'a {
    move |input| {
        let fwd = llama.forward(input, cache, steering)?;
        let n = fwd.hidden.dim(0)?;
        Ok(llama.logits(&fwd.hidden.i(n - 1..n)?)?.squeeze(0)?.to_vec1()?)
    }
}

/// Tokens a generation can add: `max_tokens`, or fewer where the model's context ends.
fn budget(model: &Model, prompt_len: usize, max_tokens: usize) -> usize {
    max_tokens.min(model.llama.config.context.saturating_sub(prompt_len))
}

/// [`generate_reporting`] on any backend: `step` runs its input (the prompt first, then each new
/// token) after everything it ran before and returns the next-token logits (the GPU engine's
/// `next_logits` is one). Sampling, stopping and text streaming are the same for every backend.
pub fn generate_with(
    model: &Model, prompt_ids: &[u32], max_tokens: usize, sampling: Sampling,
    mut step: impl FnMut(&[u32]) -> Result<Vec<f32>>, mut on_text: impl FnMut(&str), mut progress: impl Progress,
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
    let mut rng = Rng::new(sampling.seed);
    let mut ids = Vec::new();
    let mut text = String::new();
    let mut input: Vec<u32> = prompt_ids.to_vec();
    let budget = budget(model, prompt_ids.len(), max_tokens);
    for _ in 0..budget {
        let logits = step(&input)?;
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
        progress.report(ids.len(), budget)?;
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
