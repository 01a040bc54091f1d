//! # steerscope
//!
//! Run, steer and measure a real language model (any llama-architecture GGUF; SmolLM2-135M by
//! default) and small attention models, natively and inside a web page.
//!
//! Design decision: **the model defines its own seams.** [`model`] exposes named intervention
//! sites (residual stream, attention output, MLP output, MLP intermediate) in every layer; steering
//! methods only produce values to put there. With no intervention the forward pass runs the exact
//! same arithmetic as a plain llama forward, so "steering off" is bit-identical to baseline.
//!
//! Without the default `std` feature the crate is `#![no_std]` + `alloc`: the GGUF reader, the
//! Q4_1 kernels, the log-odds math, pair data and the attention lab build for targets with no
//! operating system. The candle-backed model sits behind the `model` feature (on by default), the
//! command-line tool behind `cli`. No module here reads files, spawns threads or reads a clock:
//! the host (CLI or browser worker) does I/O and timing, so every path also runs in wasm.
#![cfg_attr(not(feature = "std"), no_std)]

extern crate alloc;

pub mod analysis;
pub mod attention;
pub mod data;
pub mod error;
pub mod gguf;
#[cfg(feature = "gpu")]
pub mod gpu;
pub mod kernels;
pub mod math;
#[cfg(feature = "model")]
pub mod model;
pub mod rng;
pub mod steer;

pub use error::{Error, Result};
