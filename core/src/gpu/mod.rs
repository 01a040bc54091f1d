//! The llama forward pass on the GPU: WGSL kernels through `wgpu` — the browser's WebGPU in
//! wasm32, Vulkan / Metal / DX12 natively — a backend beside [`crate::model::Llama`] that takes
//! the same GGUF file, [`crate::model::Config`], [`crate::model::Steering`] and position masks.
//!
//! Data flow: GGUF bytes ─[`GpuLlama::load`]─▶ weights on the GPU in their quantized layout
//! (Q4_1, Q8_0; F32, F16) ─▶ token ids + [`GpuSteering`] (the steering's tensors uploaded once)
//! ─[`GpuLlama::forward`] / [`GpuLlama::run`]─▶ one command submission per call ─▶ only what the
//! [`Readout`] asks for comes back: next-token logits, log-probabilities of target tokens,
//! recorded site activations. The KV cache ([`GpuCache`]) stays on the GPU.
//!
//! Arithmetic: weights are dequantized in the shader and multiplied with **f32 activations**;
//! the CPU path rounds each matmul's activations to 8 bits (Q8_1 / Q8_0) first. So the GPU
//! matches the CPU model *dequantized to f32* ([`crate::model::Llama::to_f32`]) to float
//! rounding, and the quantized CPU model to within that 8-bit rounding (tests/gpu.rs measures
//! both).
//!
//! Every call is `async` (the browser maps buffers asynchronously); natively [`block_on`] waits.
//! A lost device is [`crate::Error::DeviceLost`], no adapter [`crate::Error::NoGpu`], a limit or
//! validation failure [`crate::Error::Gpu`]: the caller can run the CPU path instead. No clock
//! here: a host that picks the faster backend times calls itself (a few layers' decode is
//! [`GpuLlama::run`] over a layer range, a prefill chunk is a `forward` of `chunk` tokens).
mod attention;
pub mod cache;
pub mod context;
mod elementwise;
pub mod forward;
mod kernels;
mod logprob;
mod matmul;
pub mod model;
mod norm;
pub mod ops;
pub mod pairs;
mod program;
mod rope;
mod steer;
pub mod steering;
pub mod weights;

pub use cache::GpuCache;
pub use context::{AdapterSummary, Gpu, GpuLimits, GpuOptions};
pub use forward::{GpuStream, Input, Output, Readout};
pub use model::GpuLlama;
pub use ops::{AttentionShape, EditRows, Ops};
pub use pairs::{GpuEngine, GpuPairs};
pub use steering::GpuSteering;
pub use weights::Format;

/// Runs a future to completion on this thread (native only; the browser awaits instead).
#[cfg(not(target_arch = "wasm32"))]
pub fn block_on<F: core::future::Future>(future: F) -> F::Output {
    pollster::block_on(future)
}
