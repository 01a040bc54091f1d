//! Experiments as data (filled in below).
