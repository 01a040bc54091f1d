//! Polarity-paired examples (no_std).
pub mod pairs;
pub use pairs::{parse_jsonl, Pair, ParsedPairs};
