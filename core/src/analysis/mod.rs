//! Preference/utility analysis: measuring what a steering does on polarity pairs.
//!
//! - [`session`]: the sweep session — fit or load an update, rescale it, measure points with
//!   baselines, check it was applied, fit curves — the one place an experiment runs;
//! - [`sweep`]: what a sweep reports, and the off-manifold reference;
//! - [`point`]: one strength's summary over the pairs, with intervals;
//! - [`curve`]: the paper's curve model; [`manifold`]: the subspace the off-manifold score uses;
//! - [`baseline`]: the random-direction and prompting baselines;
//! - [`calibrate`]: the layer × strength grid and its recommendation; [`fluency`]: text proxies;
//! - [`frontier`]: several methods' sweeps side by side; [`combine`]: weighted sums of a
//!   session's vectors.
#[cfg(feature = "model")]
pub mod baseline;
pub mod calibrate;
#[cfg(feature = "model")]
pub mod combine;
pub mod curve;
pub mod fluency;
#[cfg(feature = "model")]
pub mod frontier;
pub mod manifold;
pub mod point;
#[cfg(feature = "model")]
pub mod session;
#[cfg(feature = "model")]
pub mod sweep;
