//! Steering methods: each turns polarity pairs into something to add at an intervention site.
#[cfg(feature = "model")]
pub mod diffmean;
pub mod control_vector;
pub mod pca;
pub mod vector;
