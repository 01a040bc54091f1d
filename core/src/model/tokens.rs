//! Where a steering acts, token by token: for a prompt and a completion, which positions a
//! method read its signal from, which positions the intervention steers (its position mask),
//! and how much each completion token's log-probability moves under the steering.
//!
//! The prompt and the completion are run as two calls on one cache — the prompt first — so
//! the masks `prompt` and `completion` resolve exactly as they do in generation and scoring
//! ([`crate::model::sites::Positions`]).
use crate::error::{Error, Result};
use crate::model::llama::target_logprobs;
use crate::model::pairs::Read;
use crate::model::{Cache, Llama, Steering, Tokenizer};
use alloc::{string::String, vec::Vec};
use candle_core::{IndexOp, Tensor};

/// Which tokens of a pair a method read its signal from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ReadPositions {
    /// Activations averaged over the completion's tokens (DiffMean, PCA).
    CompletionMean,
    /// The activation at the completion's last token.
    LastToken,
    /// The loss of every completion token (trained methods).
    CompletionLoss,
    /// A weighted sum of updates, whose parts may have read different positions.
    Combined,
    /// Not recorded (e.g. a control vector made elsewhere).
    Unknown,
}

impl ReadPositions {
    const ALL: [ReadPositions; 5] = [
        ReadPositions::CompletionMean,
        ReadPositions::LastToken,
        ReadPositions::CompletionLoss,
        ReadPositions::Combined,
        ReadPositions::Unknown,
    ];

    /// `completion-mean`, `last-token`, `completion-loss`, `combined` or `unknown`: the value
    /// of an update file's `read_positions`.
    pub fn name(self) -> &'static str {
        match self {
            ReadPositions::CompletionMean => Read::CompletionMean.name(),
            ReadPositions::LastToken => Read::LastToken.name(),
            ReadPositions::CompletionLoss => "completion-loss",
            ReadPositions::Combined => "combined",
            ReadPositions::Unknown => "unknown",
        }
    }

    /// Per position of `prompt_len` prompt tokens followed by `completion_len` completion
    /// tokens, whether it is read; `None` when unknown (or combined from several updates).
    pub fn mask(self, prompt_len: usize, completion_len: usize) -> Option<Vec<bool>> {
        let total = prompt_len + completion_len;
        let read = |p: usize| match self {
            ReadPositions::CompletionMean | ReadPositions::CompletionLoss => p >= prompt_len,
            ReadPositions::LastToken => completion_len > 0 && p + 1 == total,
            ReadPositions::Combined | ReadPositions::Unknown => false,
        };
        let known = !matches!(self, ReadPositions::Combined | ReadPositions::Unknown);
        known.then(|| (0..total).map(read).collect())
    }
}

impl From<Read> for ReadPositions {
    fn from(read: Read) -> Self {
        match read {
            Read::CompletionMean => ReadPositions::CompletionMean,
            Read::LastToken => ReadPositions::LastToken,
        }
    }
}

impl core::str::FromStr for ReadPositions {
    type Err = Error;
    /// ```
    /// use steerscope::model::tokens::ReadPositions;
    /// assert_eq!("completion-loss".parse::<ReadPositions>().unwrap(), ReadPositions::CompletionLoss);
    /// assert!("middle".parse::<ReadPositions>().unwrap_err().to_string().contains("`middle`"));
    /// ```
    fn from_str(s: &str) -> Result<Self> {
        crate::error::parse_name(&ReadPositions::ALL, ReadPositions::name, s, "read positions")
    }
}

/// The steered positions of a sequence: those any intervention of `steering` covers, the
/// prompt being the first `prompt_len` of `total`.
pub fn steered_mask(steering: &Steering, prompt_len: usize, total: usize) -> Vec<bool> {
    (0..total).map(|p| steering.interventions.iter().any(|iv| iv.positions.covers(p, Some(prompt_len)))).collect()
}

/// `log p(completion[t] | prompt, completion[..t])` for every `t` under `steering`: the prompt
/// run as one call, the completion (but its last token, which only is predicted) as the next.
pub fn completion_logprobs(llama: &Llama, prompt: &[u32], completion: &[u32], steering: &Steering) -> Result<Vec<f32>> {
    if completion.is_empty() {
        return Err(Error::Invalid("no completion tokens to score".into()));
    }
    // Room for both calls at once (the completion's last token is never run).
    let mut cache = Cache::with_capacity(prompt.len() + completion.len() - 1);
    let p = llama.forward(prompt, &mut cache, steering)?;
    let n = p.hidden.dim(0)?;
    let last = p.hidden.i(n - 1..n)?;
    let rows = if completion.len() == 1 {
        last
    } else {
        let c = llama.forward(&completion[..completion.len() - 1], &mut cache, steering)?;
        Tensor::cat(&[&last, &c.hidden], 0)?
    };
    target_logprobs(&llama.logits(&rows)?, completion)
}

/// The text of each token of `ids`, such that the pieces concatenate to the decoded text: a
/// character split over several byte-level tokens shows on the token that completes it.
pub fn token_pieces(tokenizer: &Tokenizer, ids: &[u32]) -> Result<Vec<String>> {
    let mut pieces = Vec::with_capacity(ids.len());
    let mut shown = String::new();
    for i in 0..ids.len() {
        let text = tokenizer.decode(&ids[..=i])?;
        let complete = !text.ends_with('\u{FFFD}') && text.starts_with(shown.as_str());
        if complete {
            pieces.push(String::from(&text[shown.len()..]));
            shown = text;
        } else {
            pieces.push(String::new());
        }
    }
    Ok(pieces)
}

/// A steering's effect on one prompt and completion, token by token.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct TokenEffects {
    /// Prompt then completion token ids.
    pub ids: Vec<u32>,
    /// The text of each token ([`token_pieces`]).
    pub pieces: Vec<String>,
    /// How many of `ids` are the prompt.
    pub prompt_len: usize,
    /// Per token, whether the method read it (`None`: unknown).
    pub read: Option<Vec<bool>>,
    /// Per token, whether the intervention steers it.
    pub steered: Vec<bool>,
    /// Per completion token, its log-probability without steering.
    pub base_logprobs: Vec<f32>,
    /// Per completion token, its log-probability under the steering.
    pub steered_logprobs: Vec<f32>,
    /// `Σ_t (steered − base)`: how much more likely the steering makes the whole completion.
    pub total_change: f32,
}

impl TokenEffects {
    /// Measures `steering` on `prompt` ++ `completion` against the unsteered model.
    pub fn measure(
        llama: &Llama, tokenizer: &Tokenizer, prompt: &[u32], completion: &[u32], steering: &Steering,
        reads: ReadPositions,
    ) -> Result<Self> {
        let base_logprobs = completion_logprobs(llama, prompt, completion, &Steering::none())?;
        let steered_logprobs = completion_logprobs(llama, prompt, completion, steering)?;
        let ids: Vec<u32> = prompt.iter().chain(completion).copied().collect();
        let total_change = steered_logprobs.iter().zip(&base_logprobs).map(|(s, b)| (s - b) as f64).sum::<f64>();
        Ok(TokenEffects {
            pieces: token_pieces(tokenizer, &ids)?,
            prompt_len: prompt.len(),
            read: reads.mask(prompt.len(), completion.len()),
            steered: steered_mask(steering, prompt.len(), ids.len()),
            ids,
            base_logprobs,
            steered_logprobs,
            total_change: total_change as f32,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn read_masks_cover_the_completion_or_its_last_token() {
        let m = |r: ReadPositions| r.mask(3, 2);
        assert_eq!(m(ReadPositions::CompletionMean).unwrap(), [false, false, false, true, true]);
        assert_eq!(m(ReadPositions::CompletionLoss).unwrap(), [false, false, false, true, true]);
        assert_eq!(m(ReadPositions::LastToken).unwrap(), [false, false, false, false, true]);
        assert_eq!(m(ReadPositions::Unknown), None);
        assert_eq!(m(ReadPositions::Combined), None);
        for r in ReadPositions::ALL {
            assert_eq!(r.name().parse::<ReadPositions>().unwrap(), r);
        }
        let err = "who knows".parse::<ReadPositions>().unwrap_err().to_string();
        assert!(err.contains("`who knows`") && err.contains("completion-loss"), "{err}");
    }
}
