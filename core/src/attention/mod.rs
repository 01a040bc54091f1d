//! # Attention lab: full vs linear vs hybrid attention on sequential function composition
//!
//! The hierarchy under study (Ye et al., arXiv 2602.01763; task from Chen–Peng–Wu,
//! arXiv 2412.02975): **L+1 full-attention layers solve L-step function composition; L−1 full
//! layers plus many linear-attention layers cannot** (unless width·precision grows polynomially
//! in the prompt length). This module shows it constructively ([`construct`](mod@construct):
//! hand-set weights, exact for L = 1…5 at n ≥ 1000) and empirically ([`train`], [`experiment`]:
//! small trained models).
//!
//! Layout, one concept per file:
//! * [`task`] — the composition and iterated-lookup tasks, a seeded RNG, the exact solver and a
//!   brute-force reference, and the feature encoding of tokens.
//! * [`mixer`] — the [`Mixer`] trait (`forward_recurrent` / `forward_chunked` over an (n, d) buffer)
//!   and shared projections; one file per mixer: [`softmax`], [`linear`], [`retnet`], [`gla`],
//!   [`mamba2`], [`deltanet`], [`gated_deltanet`]; [`chunk`] holds the chunked kernels they share.
//! * [`spec`] — `F,L:deltanet,L:gla,F` spec strings; [`stack`] — the residual layer stack.
//! * [`construct`](mod@construct) — the hand-set (L+1)-layer solution; [`experiment`] — sweeps as data.
//!
//! Design decision: **every recurrence is first a naive token-by-token loop with explicit state**,
//! and every fast (chunked) form is tested against it (≤ 1e-4). The lab is `no_std` + `alloc` (no
//! files, threads or clocks) so the same code runs in the browser; only training, which needs
//! autograd, sits behind the `model` feature (candle).

pub mod chunk;
pub mod construct;
pub mod deltanet;
pub mod error;
pub mod experiment;
pub mod gated_deltanet;
pub mod gla;
pub mod linear;
pub mod mamba2;
pub mod mixer;
pub mod retnet;
pub mod softmax;
pub mod spec;
pub mod stack;
pub mod task;
#[cfg(feature = "model")]
pub mod train;

pub use construct::{construct, default_beta, ConstructReport, Construction, Precision};
pub use error::{AttnError, Result};
pub use mixer::{AnyMixer, Mixer};
pub use spec::{format_spec, parse_spec, MixerKind};
pub use stack::{MixerMode, Stack, StackShape};
pub use task::{Instance, Rng, TaskSpec};
