//! Steering methods: each turns polarity pairs into something to add at an intervention site.
pub mod compose;
pub mod control_vector;
#[cfg(feature = "model")]
pub mod diffmean;
#[cfg(feature = "model")]
pub mod methods;
pub mod pca;
#[cfg(feature = "model")]
pub mod strength;
#[cfg(feature = "model")]
pub mod train;
