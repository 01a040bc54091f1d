//! Errors of the attention lab. Bad input is a value, never a panic.

use alloc::string::String;
use core::fmt;

/// Everything that can go wrong in the attention lab.
#[derive(Debug, Clone, PartialEq)]
pub enum AttnError {
    /// A layer of a spec string such as `F,L:deltanet,F` could not be parsed.
    InvalidSpec {
        /// 0-based index of the offending layer in the spec.
        index: usize,
        /// The offending layer text.
        layer: String,
        /// Why it is invalid.
        reason: String,
    },
    /// The number of composition steps must be at least 1.
    InvalidSteps(usize),
    /// A domain is too small for the token layout.
    DomainTooSmall {
        /// Which domain (e.g. `m`, `n_2`, `k`).
        what: String,
        /// The value given.
        got: usize,
        /// The smallest allowed value.
        min: usize,
    },
    /// A task or prompt is too long for what the caller allows.
    TooLong {
        /// Prompt length.
        n: usize,
        /// Maximum allowed.
        max: usize,
    },
    /// Buffer shapes do not agree.
    Shape(String),
    /// A configuration value is out of range.
    Config(String),
    /// A NaN or infinity appeared (e.g. during training).
    NonFinite {
        /// Where it appeared.
        what: String,
        /// Training step, if any.
        step: Option<usize>,
    },
}

impl fmt::Display for AttnError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AttnError::InvalidSpec { index, layer, reason } => {
                write!(f, "invalid layer spec at layer {index} (`{layer}`): {reason}")
            }
            AttnError::InvalidSteps(l) => {
                write!(f, "number of composition steps L must be at least 1, got {l}")
            }
            AttnError::DomainTooSmall { what, got, min } => {
                write!(f, "domain `{what}` = {got} is too small for the layout (need at least {min})")
            }
            AttnError::TooLong { n, max } => {
                write!(f, "prompt length {n} exceeds the maximum {max}")
            }
            AttnError::Shape(s) => write!(f, "shape mismatch: {s}"),
            AttnError::Config(s) => write!(f, "invalid configuration: {s}"),
            AttnError::NonFinite { what, step: Some(s) } => {
                write!(f, "non-finite value (NaN/inf) in {what} at training step {s}")
            }
            AttnError::NonFinite { what, step: None } => {
                write!(f, "non-finite value (NaN/inf) in {what}")
            }
        }
    }
}

impl core::error::Error for AttnError {}

/// Result alias of the attention lab.
pub type Result<T> = core::result::Result<T, AttnError>;
