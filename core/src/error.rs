//! One error type for the whole crate. Every variant names the problem in words a user can act
//! on; the page and the CLI print `Display` as is.
use alloc::string::String;
use core::fmt;

pub type Result<T, E = Error> = core::result::Result<T, E>;

#[derive(Debug, Clone, PartialEq)]
pub enum Error {
    /// The file is not a well-formed GGUF: bad magic, truncated, a count or length that does not
    /// fit the file, a tensor whose data lies outside the file.
    Gguf {
        offset: u64,
        problem: String,
    },
    /// Well-formed GGUF, but not a model this crate can run.
    UnsupportedModel(String),
    MissingMetadata(String),
    MissingTensor(String),
    TensorShape {
        tensor: String,
        expected: String,
        found: String,
    },
    LayerOutOfRange {
        layer: usize,
        n_layers: usize,
    },
    UnknownSite(String),
    VectorDim {
        expected: usize,
        found: usize,
    },
    BadStrength(f32),
    EmptyPrompt,
    PromptTooLong {
        tokens: usize,
        context: usize,
    },
    /// A line of a polarity-pair JSONL file.
    Data {
        line: usize,
        problem: String,
    },
    EmptyDataset,
    Tokenizer(String),
    /// The tensor backend (candle) failed; carries its message.
    Backend(String),
    /// Training produced a non-finite number; the parameters are those of the last good step.
    Diverged {
        step: usize,
        problem: String,
    },
    Invalid(String),
    /// No GPU adapter could be opened (no WebGPU in this browser, no Vulkan/Metal/DX12 driver):
    /// the CPU path is the one to run.
    NoGpu(String),
    /// The GPU device was lost mid-run (driver reset, `device.destroy()`, the browser reclaiming
    /// it). Nothing computed on it since is trustworthy: redo the computation on the CPU.
    DeviceLost(String),
    /// The GPU refused an operation: a buffer over one of its limits (named), out of memory, or
    /// a validation error.
    Gpu(String),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Gguf { offset, problem } => {
                write!(f, "corrupt or truncated GGUF file (at byte {offset}): {problem}")
            }
            Error::UnsupportedModel(m) => write!(f, "unsupported model: {m}"),
            Error::MissingMetadata(k) => write!(f, "GGUF metadata key `{k}` is missing"),
            Error::MissingTensor(t) => write!(f, "GGUF tensor `{t}` is missing"),
            Error::TensorShape { tensor, expected, found } => {
                write!(f, "tensor `{tensor}` has shape {found}, expected {expected}")
            }
            Error::LayerOutOfRange { layer, n_layers } => write!(
                f,
                "layer {layer} is out of range: the model has {n_layers} layers (0..={})",
                n_layers.saturating_sub(1)
            ),
            Error::UnknownSite(s) => write!(
                f,
                "unknown intervention site `{s}` (expected one of: residual, attn_out, mlp_out, mlp_mid)"
            ),
            Error::VectorDim { expected, found } => {
                write!(f, "steering vector has dimension {found}, the site needs {expected}")
            }
            Error::BadStrength(m) => write!(f, "steering strength must be a finite number, got {m}"),
            Error::EmptyPrompt => write!(f, "the prompt is empty"),
            Error::PromptTooLong { tokens, context } => write!(
                f,
                "the prompt is {tokens} tokens long, more than the model's context of {context}"
            ),
            Error::Data { line, problem } => write!(f, "line {line}: {problem}"),
            Error::EmptyDataset => write!(f, "the dataset has no pairs"),
            Error::Tokenizer(m) => write!(f, "tokenizer: {m}"),
            Error::Backend(m) => write!(f, "tensor backend: {m}"),
            Error::Diverged { step, problem } => write!(
                f,
                "training diverged at step {step} ({problem}); kept the parameters of the last good step — try a lower learning rate or smaller steering factors"
            ),
            Error::Invalid(m) => f.write_str(m),
            Error::NoGpu(m) => write!(f, "no GPU adapter is available ({m})"),
            Error::DeviceLost(m) => write!(f, "the GPU device was lost ({m})"),
            Error::Gpu(m) => write!(f, "GPU: {m}"),
        }
    }
}

impl core::error::Error for Error {}

#[cfg(feature = "model")]
impl From<candle_core::Error> for Error {
    fn from(e: candle_core::Error) -> Self {
        Error::Backend(alloc::format!("{e}"))
    }
}
