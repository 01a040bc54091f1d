//! Polarity-paired examples and the concept index (no_std).
pub mod concepts;
pub mod pairs;
pub use pairs::{parse_jsonl, Pair, ParsedPairs};
