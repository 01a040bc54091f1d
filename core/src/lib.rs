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
//! command-line tool behind `cli` (a binary crate, `src/bin/steerscope/`, not part of this API).
//! No module here reads files, spawns threads or reads a clock: the host (CLI or browser worker)
//! does I/O and timing, so every path also runs in wasm.
//!
//! ## A way in
//!
//! Load a GGUF, fit DiffMean on polarity pairs, generate steered text, measure one sweep point
//! (the same flow as `examples/steer.rs`; the attention lab's is `examples/lab.rs`):
//!
//! ```no_run
//! use steerscope::analysis::session::{Direction, Split, SweepSession};
//! use steerscope::data::parse_jsonl;
//! use steerscope::model::{generate::{generate, Sampling}, score::PairTokens, sites::Positions, Model, Site};
//! use steerscope::steer::methods::Method;
//!
//! # fn main() -> steerscope::Result<()> {
//! let bytes = std::fs::read("SmolLM2-135M-Instruct.Q4_1.gguf").expect("run `steerscope fetch-model`");
//! let model = Model::load(&bytes)?; // any llama-architecture GGUF; errors name what is wrong
//! let pairs = parse_jsonl(concat!(
//!     r#"{"prompt": "How was the trip?", "positive": "Wonderful, I loved it!", "negative": "Awful, I hated it."}"#, "\n",
//!     r#"{"prompt": "How is the soup?", "positive": "Delicious and warm!", "negative": "Cold and bland."}"#,
//! ))?
//! .pairs;
//! let format = Default::default(); // the chat template with its default system turn
//! let tokens: Vec<PairTokens> = pairs.iter().map(|p| PairTokens::new(&model, p, &format)).collect::<Result<_, _>>()?;
//!
//! // A session at layer 15: fit DiffMean on the pairs, rescaled so that strength 10 adds half
//! // the layer's mean residual norm.
//! let mut session = SweepSession::new(&model.llama, tokens.clone(), tokens, 15)?;
//! session.fit(&model.llama, Method::DiffMean, Site::Residual, Positions::All, None, 1, |_, _| {})?;
//!
//! // Steered text, and one sweep point: preference, utility, off-manifold score.
//! let steering = session.steering(&model.llama, Direction::Update, 4.0)?;
//! let prompt = model.tokenizer.encode(&model.chat.prompt(None, "Tell me about your weekend."))?;
//! let text = generate(&model, &prompt, 24, Sampling::GREEDY, &steering, |_| {})?.text;
//! let point = session.point(&model.llama, Split::Test, Direction::Update, 4.0, |_, _| {})?;
//! println!("{text}\npreference {:.2}, utility {:?}", point.point.pref_odds, point.point.util_odds);
//! # Ok(())
//! # }
//! ```
//!
//! ## Layers
//!
//! Each module uses only modules of its own layer or one below, never one above, and no two
//! modules import each other in a cycle (`core/tests/layering.rs` reads every `use crate::` and
//! checks both against this list):
//!
//! - layer 0 (leaves): `error`, `rng`, `progress`, `future`, `math`, `gguf`, `kernels`, `data`
//! - layer 1: `model` — GGUF weights, tokenizer, the llama forward and its intervention sites,
//!   and the one prepared-pairs type ([`model::pairs::Prepared`])
//! - layer 2: `steer` — methods, training, strength units, update files
//! - layer 2: `gpu` (feature `gpu`) — the same forward pass and steering as WGSL kernels through wgpu
//! - layer 3: `analysis` — the sweep session, baselines, curve fits, calibration
//! - apart: `attention` — the attention lab, on layer 0 only (it never imports the model)
#![deny(missing_docs)]
#![cfg_attr(not(feature = "std"), no_std)]

extern crate alloc;

pub mod analysis;
pub mod attention;
pub mod data;
pub mod error;
#[cfg(feature = "model")]
pub mod future;
pub mod gguf;
#[cfg(feature = "gpu")]
pub mod gpu;
pub mod kernels;
pub mod math;
#[cfg(feature = "model")]
pub mod model;
pub mod progress;
pub mod rng;
pub mod steer;

pub use error::{Error, Result};
