//! Layer-stack spec strings: `F,L:deltanet,L:gla,F`.
//!
//! Grammar: comma-separated layers; `F` is a full (causal softmax) attention layer, `L` plain
//! linear attention and `L:<name>` a named linear-attention variant (`linear`, `retnet`, `gla`,
//! `mamba2`, `deltanet`, `gated_deltanet`/`gdn`). A layer may end in `*N` to repeat it N times
//! (`F,L:gdn*4`). Names are case-insensitive; spaces around layers are ignored.

use alloc::string::{String, ToString};
use alloc::vec::Vec;
use core::fmt;
use serde::{Deserialize, Serialize};

use super::error::{AttnError, Result};

/// Which sequence mixer a layer uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MixerKind {
    /// Causal softmax ("full") attention.
    Softmax,
    /// Linear attention.
    Linear,
    /// RetNet.
    RetNet,
    /// Gated linear attention.
    Gla,
    /// Mamba2 (SSD).
    Mamba2,
    /// DeltaNet.
    DeltaNet,
    /// Gated DeltaNet.
    GatedDeltaNet,
}

impl MixerKind {
    /// Every mixer.
    pub const ALL: [MixerKind; 7] = [
        MixerKind::Softmax,
        MixerKind::Linear,
        MixerKind::RetNet,
        MixerKind::Gla,
        MixerKind::Mamba2,
        MixerKind::DeltaNet,
        MixerKind::GatedDeltaNet,
    ];
    /// The linear-attention (fixed-state RNN) mixers.
    pub const LINEAR: [MixerKind; 6] = [
        MixerKind::Linear,
        MixerKind::RetNet,
        MixerKind::Gla,
        MixerKind::Mamba2,
        MixerKind::DeltaNet,
        MixerKind::GatedDeltaNet,
    ];
    /// Short name used in specs.
    pub fn name(&self) -> &'static str {
        match self {
            MixerKind::Softmax => "softmax",
            MixerKind::Linear => "linear",
            MixerKind::RetNet => "retnet",
            MixerKind::Gla => "gla",
            MixerKind::Mamba2 => "mamba2",
            MixerKind::DeltaNet => "deltanet",
            MixerKind::GatedDeltaNet => "gated_deltanet",
        }
    }
    /// Is this full attention?
    pub fn is_full(&self) -> bool {
        matches!(self, MixerKind::Softmax)
    }
    /// Spec token (`F` or `L:name`).
    pub fn spec_token(&self) -> String {
        if self.is_full() {
            "F".to_string()
        } else {
            alloc::format!("L:{}", self.name())
        }
    }
    /// Parses a linear-variant name.
    pub fn from_linear_name(s: &str) -> Option<Self> {
        let s = s.trim().to_ascii_lowercase().replace('-', "_");
        Some(match s.as_str() {
            "linear" | "la" => MixerKind::Linear,
            "retnet" | "retention" => MixerKind::RetNet,
            "gla" => MixerKind::Gla,
            "mamba2" | "mamba" | "ssd" => MixerKind::Mamba2,
            "deltanet" | "delta" => MixerKind::DeltaNet,
            "gated_deltanet" | "gateddeltanet" | "gdn" => MixerKind::GatedDeltaNet,
            _ => return None,
        })
    }
}

impl fmt::Display for MixerKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Largest stack a spec may describe.
pub const MAX_LAYERS: usize = 64;

/// Parses a spec string into one mixer kind per layer.
pub fn parse_spec(spec: &str) -> Result<Vec<MixerKind>> {
    let mut out = Vec::new();
    if spec.trim().is_empty() {
        return Err(AttnError::InvalidSpec {
            index: 0,
            layer: String::new(),
            reason: "empty spec; expected layers such as `F,L:deltanet,F`".into(),
        });
    }
    for (index, raw) in spec.split(',').enumerate() {
        let layer = raw.trim();
        let bad = |reason: String| AttnError::InvalidSpec { index, layer: layer.to_string(), reason };
        let (body, reps) = match layer.split_once('*') {
            Some((b, r)) => {
                let r: usize =
                    r.trim().parse().map_err(|_| bad(alloc::format!("repeat count `{}` is not a number", r.trim())))?;
                if r == 0 {
                    return Err(bad("repeat count must be at least 1".into()));
                }
                (b.trim(), r)
            }
            None => (layer, 1),
        };
        let kind = match body {
            "" => return Err(bad("empty layer".into())),
            "F" | "f" => MixerKind::Softmax,
            "L" | "l" => MixerKind::Linear,
            _ => match body.split_once(':') {
                Some((head, name)) if head.trim().eq_ignore_ascii_case("L") => {
                    MixerKind::from_linear_name(name).ok_or_else(|| {
                        bad(alloc::format!(
                            "unknown linear-attention variant `{}` (expected one of linear, retnet, gla, mamba2, deltanet, gated_deltanet)",
                            name.trim()
                        ))
                    })?
                }
                _ => {
                    return Err(bad(
                        "expected `F` (full attention), `L` or `L:<variant>`, optionally followed by `*N`"
                            .into(),
                    ))
                }
            },
        };
        for _ in 0..reps {
            out.push(kind);
        }
        if out.len() > MAX_LAYERS {
            return Err(bad(alloc::format!("the stack exceeds {MAX_LAYERS} layers")));
        }
    }
    Ok(out)
}

/// Writes a stack back as a spec string (repeats collapsed with `*N`).
pub fn format_spec(layers: &[MixerKind]) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut i = 0;
    while i < layers.len() {
        let mut j = i + 1;
        while j < layers.len() && layers[j] == layers[i] {
            j += 1;
        }
        let tok = layers[i].spec_token();
        parts.push(if j - i > 1 { alloc::format!("{tok}*{}", j - i) } else { tok });
        i = j;
    }
    parts.join(",")
}
