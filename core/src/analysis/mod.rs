//! Preference/utility analysis: the log-odds formulas (a no_std leaf) and, with the model,
//! measuring them on polarity pairs under a steering.
pub mod calibrate;
pub mod curve;
pub mod fluency;
pub mod manifold;
#[cfg(feature = "model")]
pub mod measure;
pub mod point;
#[cfg(feature = "model")]
pub mod sweep;
