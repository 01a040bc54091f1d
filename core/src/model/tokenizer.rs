//! The tokenizer, built from the GGUF's own metadata with the `tokenizers` crate (no
//! tokenizer.json download): BPE from `tokenizer.ggml.tokens` + `tokenizer.ggml.merges`, the
//! pre-tokenizer named by `tokenizer.ggml.pre`, a byte-level decoder, and the control tokens
//! (`token_type == 3`) as special tokens. Checked token-for-token against llama.cpp.
use crate::error::{Error, Result};
use crate::gguf::{Gguf, Value};
use alloc::{format, string::String, vec::Vec};
use tokenizers::models::bpe::BPE;
use tokenizers::pre_tokenizers::{
    byte_level::ByteLevel,
    digits::Digits,
    sequence::Sequence,
    split::{Split, SplitPattern},
};
use tokenizers::{AddedToken, PreTokenizerWrapper, SplitDelimiterBehavior};

/// Llama-3's pre-tokenizer regex (`tokenizer.ggml.pre = llama-bpe`), as in llama.cpp.
const LLAMA3_PATTERN: &str = r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";

/// The GGUF's byte-level BPE tokenizer (the `tokenizers` crate built from `tokenizer.ggml.*`).
pub struct Tokenizer {
    inner: tokenizers::Tokenizer,
    /// End-of-sequence token id.
    pub eos: u32,
    /// Beginning-of-sequence token id, if the vocabulary has one.
    pub bos: Option<u32>,
    /// Whether encoding prepends `bos`.
    pub add_bos: bool,
}

impl Tokenizer {
    /// Builds the tokenizer from `tokenizer.ggml.*` metadata; only `gpt2` (byte-level BPE) is supported, anything else is an error naming it.
    pub fn from_gguf(g: &Gguf) -> Result<Self> {
        let model = g.require_str("tokenizer.ggml.model")?;
        if model != "gpt2" {
            return Err(Error::UnsupportedModel(format!(
                "tokenizer model `{model}`: only byte-level BPE (`gpt2`) tokenizers are supported"
            )));
        }
        let strings = |key: &str| -> Result<Vec<String>> {
            g.require(key)?
                .as_array()
                .and_then(|a| a.iter().map(|v| v.as_str().map(String::from)).collect::<Option<Vec<_>>>())
                .ok_or_else(|| Error::Tokenizer(format!("`{key}` is not an array of strings")))
        };
        let tokens = strings("tokenizer.ggml.tokens")?;
        let merges = strings("tokenizer.ggml.merges")?
            .into_iter()
            .map(|m| match m.split_once(' ') {
                Some((a, b)) => Ok((a.into(), b.into())),
                None => Err(Error::Tokenizer(format!("merge `{m}` has no space"))),
            })
            .collect::<Result<Vec<(String, String)>>>()?;
        let vocab: tokenizers::models::bpe::Vocab =
            tokens.iter().enumerate().map(|(i, t)| (t.clone(), i as u32)).collect();
        let bpe =
            BPE::builder().vocab_and_merges(vocab, merges).build().map_err(|e| Error::Tokenizer(format!("{e}")))?;
        let mut inner = tokenizers::Tokenizer::new(bpe);
        // The optional keys may be absent, but one of the wrong type is an error, not a default:
        // a silently different pre-tokenizer or set of control tokens tokenizes differently.
        let wrong =
            |k: &str, v: &Value, expected: &str| Error::Tokenizer(format!("`{k}` is not {expected}: {}", v.summary()));
        let pre = match g.get("tokenizer.ggml.pre") {
            None => "default",
            Some(v) => v.as_str().ok_or_else(|| wrong("tokenizer.ggml.pre", v, "a string"))?,
        };
        inner.with_pre_tokenizer(Some(pre_tokenizer(pre)?));
        inner.with_decoder(Some(ByteLevel::default()));
        let control: Vec<AddedToken> = match g.get("tokenizer.ggml.token_type") {
            None => Vec::new(),
            Some(v) => {
                let types = v.as_array().ok_or_else(|| wrong("tokenizer.ggml.token_type", v, "an array"))?;
                if types.len() != tokens.len() {
                    return Err(Error::Tokenizer(format!(
                        "`tokenizer.ggml.token_type` has {} entries for {} tokens",
                        types.len(),
                        tokens.len()
                    )));
                }
                types
                    .iter()
                    .zip(&tokens)
                    .filter(|(t, _)| t.as_u64() == Some(3))
                    .map(|(_, s)| AddedToken::from(s.clone(), true))
                    .collect()
            }
        };
        inner.add_special_tokens(&control);
        let id = |k: &str| -> Result<Option<u32>> {
            let Some(v) = g.get(k) else { return Ok(None) };
            match v.as_u64() {
                Some(id) if (id as usize) < tokens.len() => Ok(Some(id as u32)),
                _ => Err(Error::Tokenizer(format!(
                    "`{k}` = {} is not a token id of the vocabulary (0..{})",
                    v.summary(),
                    tokens.len()
                ))),
            }
        };
        let eos = id("tokenizer.ggml.eos_token_id")?
            .ok_or_else(|| Error::MissingMetadata("tokenizer.ggml.eos_token_id".into()))?;
        let bos = id("tokenizer.ggml.bos_token_id")?;
        let add_bos = match g.get("tokenizer.ggml.add_bos_token") {
            None => false,
            Some(Value::Bool(b)) => *b,
            Some(v) => return Err(wrong("tokenizer.ggml.add_bos_token", v, "a bool")),
        };
        if add_bos && bos.is_none() {
            return Err(Error::Tokenizer(
                "`tokenizer.ggml.add_bos_token` is true but the file has no `tokenizer.ggml.bos_token_id`".into(),
            ));
        }
        Ok(Tokenizer { inner, eos, bos, add_bos })
    }

    /// Token ids of `text`; control tokens written in the text (`<|im_start|>`) are recognised.
    pub fn encode(&self, text: &str) -> Result<Vec<u32>> {
        let enc = self.inner.encode_fast(text, false).map_err(|e| Error::Tokenizer(format!("{e}")))?;
        let mut ids = Vec::with_capacity(enc.len() + 1);
        if self.add_bos {
            ids.extend(self.bos);
        }
        ids.extend_from_slice(enc.get_ids());
        Ok(ids)
    }

    /// Token ids of a continuation (never a BOS in front).
    pub fn encode_continuation(&self, text: &str) -> Result<Vec<u32>> {
        let enc = self.inner.encode_fast(text, false).map_err(|e| Error::Tokenizer(format!("{e}")))?;
        Ok(enc.get_ids().to_vec())
    }

    /// The text of `ids`.
    pub fn decode(&self, ids: &[u32]) -> Result<String> {
        self.inner.decode(ids, true).map_err(|e| Error::Tokenizer(format!("{e}")))
    }
}

fn pre_tokenizer(pre: &str) -> Result<Sequence> {
    let byte_level = |regex| PreTokenizerWrapper::ByteLevel(ByteLevel::new(false, true, regex));
    let steps = match pre {
        // SmolLM2: every digit its own pre-token, then GPT-2's byte-level split.
        "smollm" => alloc::vec![PreTokenizerWrapper::Digits(Digits::new(true)), byte_level(true)],
        "default" | "gpt2" | "gpt-2" => alloc::vec![byte_level(true)],
        "llama-bpe" | "llama3" => alloc::vec![
            PreTokenizerWrapper::Split(
                Split::new(SplitPattern::Regex(LLAMA3_PATTERN.into()), SplitDelimiterBehavior::Isolated, false)
                    .map_err(|e| Error::Tokenizer(format!("{e}")))?,
            ),
            byte_level(false),
        ],
        other => {
            return Err(Error::UnsupportedModel(format!(
                "pre-tokenizer `{other}` (supported: smollm, default/gpt2, llama-bpe)"
            )))
        }
    };
    Ok(Sequence::new(steps))
}
