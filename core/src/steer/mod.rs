//! Steering methods: each turns polarity pairs into an update of the weights (or a bias) at one
//! intervention site — `Δh = m·(ΔW·u + Δb)` — and every update is put on one strength axis.
//!
//! - [`methods`]: the methods by name ([`methods::Method`]);
//! - [`fitted`]: DiffMean and PCA, fitted from activations without gradients;
//! - [`train`]: a vector, LoRA or local weight update trained with SFT or SPLIT;
//! - [`strength`]: the shared strength unit and rescaling an update into it;
//! - [`update`]: update files (safetensors), what every method's result is saved as;
//! - [`control_vector`]: llama.cpp's control-vector GGUF; [`compose`]: weighted sums of vectors;
//!   [`pca`]: the principal direction of pair differences;
//! - [`induced`]: an update as the weight change it induces (matrix, rank, singular values).
pub mod compose;
pub mod control_vector;
#[cfg(feature = "model")]
pub mod fitted;
#[cfg(feature = "model")]
pub mod induced;
#[cfg(feature = "model")]
pub mod methods;
pub mod pca;
#[cfg(feature = "model")]
pub mod strength;
#[cfg(feature = "model")]
pub mod train;
#[cfg(feature = "model")]
pub mod update;
