//! Shared by the integration tests, so each idea is written once: the real model (fetched by the
//! set-up, `steerscope fetch-model`, run by tests/run.sh — these tests never download anything),
//! the llama.cpp fixtures, the concept pairs, seeded random values from the crate's one RNG, and
//! the comparisons every test makes (max |Δ|, argmax, last-position logits). What needs the
//! `model` feature is in `real_model`; `numbers` is plain Rust, for the tests of the leaf modules.
#![allow(dead_code)]
pub mod counting;
pub mod fuzz;
#[cfg(feature = "model")]
pub mod model_path;
pub mod numbers;
#[cfg(feature = "model")]
pub mod real_model;
#[cfg(feature = "model")]
pub mod tiny;
#[cfg(feature = "model")]
pub use model_path::default_model_path;
// Each test binary uses a different part of these.
#[allow(unused_imports)]
pub use numbers::*;
#[cfg(feature = "model")]
#[allow(unused_imports)]
pub use real_model::*;
