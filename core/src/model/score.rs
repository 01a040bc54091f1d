//! Teacher-forced scoring of completions, `L = −Σ log p(completion token | everything before)`,
//! and polarity pairs as token ids. Running pairs through the network is [`crate::model::pairs`].
use crate::error::Result;
use crate::math::logodds::Nll;
use crate::model::chat::PromptFormat;
use crate::model::llama::{target_logprob_tensor, target_logprobs};
use crate::model::Llama;
use candle_core::Tensor;

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

/// A polarity pair as token ids: the formatted prompt and the two completions.
#[derive(Debug, Clone, PartialEq)]
pub struct PairTokens {
    /// The prompt in the chosen [`PromptFormat`].
    pub prompt: alloc::vec::Vec<u32>,
    /// The concept-positive completion.
    pub positive: alloc::vec::Vec<u32>,
    /// The concept-negative completion.
    pub negative: alloc::vec::Vec<u32>,
}

impl PairTokens {
    /// Tokenizes `pair` with its prompt in `format`; completions are encoded as continuations
    /// (no special tokens; their text, leading spaces included, as written in the data).
    pub fn new(model: &crate::model::Model, pair: &crate::data::Pair, format: &PromptFormat) -> Result<Self> {
        let tok = &model.tokenizer;
        Ok(PairTokens {
            prompt: tok.encode(&model.chat.render(format, &pair.prompt))?,
            positive: tok.encode_continuation(&pair.positive)?,
            negative: tok.encode_continuation(&pair.negative)?,
        })
    }
}
