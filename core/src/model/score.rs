//! Teacher-forced scoring of completions: `L = −Σ log p(completion token | everything before)`.
//! The prompt is run once into a [`Prefix`] and shared by every completion scored after it.
use crate::error::{Error, Result};
use crate::math::logodds::Nll;
use crate::model::llama::{target_logprob_tensor, target_logprobs};
use crate::model::{Cache, Llama, Steering};
use candle_core::{IndexOp, Tensor};

/// A prompt already run through the model: its cache and its last hidden state.
#[derive(Clone)]
pub struct Prefix {
    pub cache: Cache,
    /// `(1, hidden)`: predicts the first completion token.
    pub last_hidden: Tensor,
}

pub fn prefix(llama: &Llama, prompt: &[u32], steering: &Steering) -> Result<Prefix> {
    let mut cache = Cache::new();
    let fwd = llama.forward(prompt, &mut cache, steering)?;
    let n = fwd.hidden.dim(0)?;
    Ok(Prefix { cache, last_hidden: fwd.hidden.i(n - 1..n)? })
}

/// Scores `completion` after `prefix`, with the same steering on the completion positions.
pub fn completion_nll(llama: &Llama, prefix: &Prefix, completion: &[u32], steering: &Steering) -> Result<Nll> {
    if completion.is_empty() {
        return Err(Error::Invalid("cannot score an empty completion".into()));
    }
    let mut cache = prefix.cache.clone();
    // Hidden states that predict each completion token: the prompt's last, then all but the
    // completion's own last.
    let rows = match completion.len() {
        1 => prefix.last_hidden.clone(),
        n => {
            Tensor::cat(&[&prefix.last_hidden, &llama.forward(&completion[..n - 1], &mut cache, steering)?.hidden], 0)?
        }
    };
    nll_of_rows(llama, &rows, completion)
}

/// The loss of `targets` given the hidden states `rows` `(targets.len(), hidden)` that predict
/// them (row `t` predicts `targets[t]`).
pub fn nll_of_rows(llama: &Llama, rows: &Tensor, targets: &[u32]) -> Result<Nll> {
    let lp = target_logprobs(&llama.logits(rows)?, targets)?;
    Ok(Nll { sum: -lp.iter().sum::<f32>(), tokens: targets.len() })
}

/// The per-token mean loss of `targets` given `rows`, as a scalar tensor: what training
/// differentiates.
pub fn mean_nll_tensor(llama: &Llama, rows: &Tensor, targets: &[u32]) -> Result<Tensor> {
    Ok(target_logprob_tensor(&llama.logits(rows)?, targets)?.mean_all()?.neg()?)
}

/// A polarity pair as token ids: the chat-formatted prompt and the two completions.
#[derive(Debug, Clone)]
pub struct PairTokens {
    pub prompt: alloc::vec::Vec<u32>,
    pub positive: alloc::vec::Vec<u32>,
    pub negative: alloc::vec::Vec<u32>,
}

impl PairTokens {
    pub fn new(model: &crate::model::Model, pair: &crate::data::Pair) -> Result<Self> {
        Self::with_system(model, pair, None)
    }

    /// With a system message instead of the template's default one (the prompting baseline).
    pub fn with_system(model: &crate::model::Model, pair: &crate::data::Pair, system: Option<&str>) -> Result<Self> {
        let tok = &model.tokenizer;
        Ok(PairTokens {
            prompt: tok.encode(&model.chat.prompt(system, &pair.prompt))?,
            positive: tok.encode_continuation(&pair.positive)?,
            negative: tok.encode_continuation(&pair.negative)?,
        })
    }
}
