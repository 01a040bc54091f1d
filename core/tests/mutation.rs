//! Every input format under seeded mutation: model GGUF (headers, metadata and tensors, tensor
//! data — each file that still loads is run), polarity-pair JSONL, the concept index, llama.cpp
//! control vectors and update safetensors. (The page's URL hash: tests/node/hash_mutation.test.mjs.)
//!
//! `STEERSCOPE_MUTATIONS` inputs per format (default 10,000; the README's long run uses
//! 100,000), each under `catch_unwind`, a hang watchdog and the counting allocator — see
//! `common/fuzz.rs` for what a run checks and how to rerun one input. Alone in its test binary
//! so that no other test's allocations are counted; its tests take turns for the same reason.
mod common;
#[path = "mutation/gguf.rs"]
mod gguf;
#[path = "mutation/json.rs"]
mod json;
#[path = "mutation/steering_files.rs"]
mod steering_files;

#[global_allocator]
static GLOBAL: common::counting::Counting = common::counting::Counting;

/// The allocator really counts: a 1 MiB buffer shows up as 1 MiB of growth. (Without this, a
/// broken counter would pass every memory bound above.)
#[test]
fn the_counting_allocator_counts() {
    let _turn = common::fuzz::serial();
    let before = common::counting::start();
    let buffer = std::hint::black_box(vec![1u8; 1 << 20]);
    let grew = common::counting::grown_since(before);
    drop(buffer);
    assert!((1 << 20..(1 << 20) + 4096).contains(&grew), "grew by {grew}");
}
