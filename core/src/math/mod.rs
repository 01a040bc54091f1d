//! Shared math, a leaf of the crate (no_std + alloc; imports nothing above `error`): f32
//! vector helpers, statistics and eigensolvers, bootstrap intervals, and the preference/utility
//! log-odds formulas.
pub mod bootstrap;
pub mod logodds;
pub mod stats;
pub mod vector;
