//! One error type for the whole crate. Every variant names the problem in words a user can act
//! on; the page and the CLI print `Display` as is.
use alloc::string::String;
use core::fmt;

/// The crate's result type.
pub type Result<T, E = Error> = core::result::Result<T, E>;

/// Everything that can go wrong, each variant naming the problem.
#[derive(Debug, Clone, PartialEq)]
pub enum Error {
    /// The file is not a well-formed GGUF: bad magic, truncated, a count or length that does not
    /// fit the file, a tensor whose data lies outside the file.
    Gguf {
        /// Byte offset where the problem was found.
        offset: u64,
        /// What is wrong there.
        problem: String,
    },
    /// Well-formed GGUF, but not a model this crate can run.
    UnsupportedModel(String),
    /// A metadata key the model needs is absent.
    MissingMetadata(String),
    /// A tensor the model needs is absent.
    MissingTensor(String),
    /// A tensor has the wrong shape for the model's configuration.
    TensorShape {
        /// The tensor's name.
        tensor: String,
        /// The shape the configuration implies.
        expected: String,
        /// The shape in the file.
        found: String,
    },
    /// A layer index past the model's last layer.
    LayerOutOfRange {
        /// The index asked for.
        layer: usize,
        /// How many layers the model has.
        n_layers: usize,
    },
    /// A site name that is not one of the four.
    UnknownSite(String),
    /// A steering tensor's width does not match the site.
    VectorDim {
        /// The width the site needs.
        expected: usize,
        /// The width given.
        found: usize,
    },
    /// A strength that is NaN or infinite.
    BadStrength(f32),
    /// Nothing to run the model on.
    EmptyPrompt,
    /// More tokens than the model's context.
    PromptTooLong {
        /// Tokens asked for (cached ones included).
        tokens: usize,
        /// The model's context length.
        context: usize,
    },
    /// A line of a polarity-pair JSONL file.
    Data {
        /// 1-based line number.
        line: usize,
        /// What is wrong on it.
        problem: String,
    },
    /// A set of pairs with no pair in it.
    EmptyDataset,
    /// The tokenizer could not be built or could not encode/decode.
    Tokenizer(String),
    /// The tensor backend (candle) failed; carries its message.
    Backend(String),
    /// Training produced a non-finite number; the parameters are those of the last good step.
    Diverged {
        /// The step that failed (1-based).
        step: usize,
        /// What became non-finite or too large.
        problem: String,
    },
    /// A sweep whose nonzero strengths changed no score: the update was not applied.
    NotApplied,
    /// The host asked a long call to stop (see [`crate::progress`]); nothing it was computing
    /// was kept, and everything it was called on is still usable.
    Cancelled,
    /// Any other bad input, described in words.
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
            Error::NotApplied => write!(
                f,
                "steering was not applied: no nonzero strength changed any score (a zero update, or a site the forward pass never reaches)"
            ),
            Error::Cancelled => write!(f, "cancelled"),
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

/// The member of `all` whose `name` is `value`, else an error naming the value and every
/// choice: how the crate's enums of names parse (`what` names the kind, e.g. "kernel path").
pub fn parse_name<T: Copy, S: AsRef<str>>(all: &[T], name: impl Fn(T) -> S, value: &str, what: &str) -> Result<T> {
    all.iter().copied().find(|&t| name(t).as_ref() == value).ok_or_else(|| {
        let names: alloc::vec::Vec<S> = all.iter().map(|&t| name(t)).collect();
        let names: alloc::vec::Vec<&str> = names.iter().map(AsRef::as_ref).collect();
        Error::Invalid(alloc::format!("unknown {what} `{value}` (expected one of: {})", names.join(", ")))
    })
}
