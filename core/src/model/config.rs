//! Hyperparameters, read from GGUF metadata keys (`llama.*`).
use crate::error::{Error, Result};
use crate::gguf::Gguf;
use alloc::{format, string::String};

/// The shape of a llama-architecture network, read from GGUF metadata.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Config {
    /// `general.name`, for display.
    pub name: String,
    /// Transformer blocks.
    pub n_layers: usize,
    /// Residual stream width.
    pub hidden: usize,
    /// Query heads.
    pub n_heads: usize,
    /// Key/value heads (grouped-query attention when fewer than `n_heads`).
    pub n_kv_heads: usize,
    /// Width of one head.
    pub head_dim: usize,
    /// MLP hidden width.
    pub ffn: usize,
    /// Vocabulary size.
    pub vocab: usize,
    /// Trained context length in tokens.
    pub context: usize,
    /// RoPE frequency base.
    pub rope_base: f32,
    /// Dimensions rotated by RoPE (the head width unless the file says otherwise).
    pub rope_dim: usize,
    /// RMSNorm epsilon.
    pub rms_eps: f64,
}

impl Config {
    /// Reads and checks the `llama.*` keys; a missing or ill-typed key is an error naming it.
    pub fn from_gguf(g: &Gguf) -> Result<Self> {
        let arch = g.require_str("general.architecture")?;
        if arch != "llama" {
            return Err(Error::UnsupportedModel(format!(
                "architecture `{arch}`: only llama-architecture GGUF files can be loaded"
            )));
        }
        let int = |k: &str| -> Result<usize> {
            let v = g.require_u64(&format!("llama.{k}"))?;
            usize::try_from(v)
                .ok()
                .filter(|&v| v > 0 && v < (1 << 24))
                .ok_or_else(|| Error::Invalid(format!("GGUF metadata `llama.{k}` = {v} is out of range")))
        };
        let hidden = int("embedding_length")?;
        let n_heads = int("attention.head_count")?;
        let n_kv_heads = match g.get("llama.attention.head_count_kv") {
            Some(_) => int("attention.head_count_kv")?,
            None => n_heads,
        };
        if hidden % n_heads != 0 || n_heads % n_kv_heads != 0 {
            return Err(Error::UnsupportedModel(format!(
                "{n_heads} heads / {n_kv_heads} KV heads do not divide the width {hidden}"
            )));
        }
        let vocab = g
            .get("tokenizer.ggml.tokens")
            .and_then(|v| v.as_array())
            .map(|a| a.len())
            .ok_or_else(|| Error::MissingMetadata("tokenizer.ggml.tokens".into()))?;
        let rope_dim = match g.get("llama.rope.dimension_count") {
            Some(_) => int("rope.dimension_count")?,
            None => hidden / n_heads,
        };
        // Optional, but a value of the wrong type is an error, not the default.
        let f = |k: &str, default: f32| match g.get(k) {
            None => Ok(default),
            Some(v) => v
                .as_f32()
                .ok_or_else(|| Error::Invalid(format!("GGUF metadata `{k}` is not a number: {}", v.summary()))),
        };
        let rms_eps = f("llama.attention.layer_norm_rms_epsilon", 1e-5)? as f64;
        let rope_base = f("llama.rope.freq_base", 10_000.0)?;
        if !(rms_eps > 0.0 && rms_eps.is_finite()) {
            return Err(Error::Invalid(format!(
                "GGUF metadata `llama.attention.layer_norm_rms_epsilon` = {rms_eps} is not a positive number"
            )));
        }
        if !(rope_base > 0.0 && rope_base.is_finite()) {
            return Err(Error::Invalid(format!(
                "GGUF metadata `llama.rope.freq_base` = {rope_base} is not a positive number"
            )));
        }
        Ok(Config {
            name: g.get("general.name").and_then(|v| v.as_str()).unwrap_or("unnamed").into(),
            n_layers: int("block_count")?,
            hidden,
            n_heads,
            n_kv_heads,
            head_dim: hidden / n_heads,
            ffn: int("feed_forward_length")?,
            vocab,
            context: int("context_length")?,
            rope_base,
            rope_dim,
            rms_eps,
        })
    }

    /// `Ok` if `layer` names a block of this model, else an error naming the layer and the range.
    pub fn check_layer(&self, layer: usize) -> Result<()> {
        if layer >= self.n_layers {
            return Err(Error::LayerOutOfRange { layer, n_layers: self.n_layers });
        }
        Ok(())
    }
}
