//! Bad input gets a clear error that names the problem — never a panic, a hang or a silent
//! wrong answer. (The mutation test has its own file: it counts allocations process-wide.)
mod common;
use common::tiny::{tiny_llama, tiny_parts, Parts};
use steerscope::gguf::Value;
use steerscope::model::generate::{generate, Sampling};
use steerscope::model::{Cache, Edit, Intervention, Model, Site, Steering};
use steerscope::Error;

fn load_err(bytes: &[u8]) -> String {
    match Model::load(bytes) {
        Ok(_) => panic!("loaded a bad file"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn truncated_real_model_is_reported_at_every_cut() {
    let bytes = common::model_bytes();
    for cut in [0, 3, 4, 8, 20, 1_000, 100_000, 1_000_000, 1_700_000, 10_000_000, 50_000_000, bytes.len() - 1] {
        let msg = load_err(&bytes[..cut]);
        assert!(msg.contains("GGUF") && (msg.contains("truncated") || msg.contains("ends")), "cut {cut}: {msg}");
    }
}

#[test]
fn corrupt_and_wrong_files_are_named() {
    assert!(load_err(b"PK\x03\x04 not a model at all").contains("not a GGUF file"));
    let mut qwen = tiny_llama("qwen2");
    assert!(load_err(&qwen).contains("architecture `qwen2`"));
    // An unsupported tensor type code in the first tensor's info.
    qwen = tiny_llama("llama");
    let name = b"blk.0.attn_q.weight";
    let at = qwen.windows(name.len()).position(|w| w == name).unwrap() + name.len() + 4 + 2 * 8;
    qwen[at..at + 4].copy_from_slice(&16u32.to_le_bytes());
    assert!(load_err(&qwen).contains("unsupported quantization type 16"));
    assert!(Model::load(&tiny_llama("llama")).is_ok());
}

#[test]
fn steering_and_prompt_errors() {
    let model = Model::load(&tiny_llama("llama")).unwrap();
    let c = &model.llama.config;
    let v = |n: usize| {
        Edit::AddVector(candle_core::Tensor::zeros(n, candle_core::DType::F32, &candle_core::Device::Cpu).unwrap())
    };
    let err = |r: Result<Intervention, Error>| r.unwrap_err().to_string();
    assert!(err(Intervention::new(c, 2, Site::Residual, v(64), 1.0)).contains("layer 2 is out of range"));
    assert!(err(Intervention::new(c, 0, Site::Residual, v(63), 1.0)).contains("dimension 63"));
    assert!(err(Intervention::new(c, 0, Site::MlpMid, v(64), 1.0)).contains("needs 128"));
    assert!(err(Intervention::new(c, 0, Site::Residual, v(64), f32::NAN)).contains("finite"));
    assert!(err(Intervention::new(c, 0, Site::Residual, v(64), f32::INFINITY)).contains("finite"));
    assert!("mlp".parse::<Site>().unwrap_err().to_string().contains("unknown intervention site `mlp`"));
    let run = |ids: &[u32]| model.llama.forward(ids, &mut Cache::new(), &Steering::none()).err().map(|e| e.to_string());
    assert_eq!(run(&[]).unwrap(), "the prompt is empty");
    assert!(run(&vec![1; 65]).unwrap().contains("65 tokens long, more than the model's context of 64"));
    assert!(run(&[40]).unwrap().contains("outside the vocabulary"));
    let rec = Steering::none().recording(5, Site::Residual);
    assert!(model.llama.forward(&[1], &mut Cache::new(), &rec).err().unwrap().to_string().contains("out of range"));
}

/// The tiny model with one change to its metadata or tensors, loaded.
fn load_changed(change: impl FnOnce(&mut Parts)) -> Result<Model, String> {
    let mut p = tiny_parts("llama");
    change(&mut p);
    Model::load(&p.to_bytes()).map_err(|e| e.to_string())
}

fn set_meta(p: &mut Parts, key: &str, value: Value) {
    match p.meta.iter_mut().find(|(k, _)| k == key) {
        Some(slot) => slot.1 = value,
        None => p.meta.push((key.into(), value)),
    }
}

fn tensor_data<'a>(p: &'a mut Parts, name: &str) -> &'a mut Vec<u8> {
    &mut p.tensors.iter_mut().find(|t| t.0 == name).unwrap().3
}

/// Regressions found by the mutation tests (core/tests/mutation.rs): a non-finite weight loaded
/// and later gave NaN logits, which greedy generation turned into token 0 without a word.
#[test]
fn non_finite_weights_are_refused_at_load() {
    let err = load_changed(|p| tensor_data(p, "blk.1.ffn_norm.weight")[8..12].copy_from_slice(&f32::NAN.to_le_bytes()))
        .err()
        .unwrap();
    assert!(err.contains("tensor `blk.1.ffn_norm.weight`: element 2 is NaN"), "{err}");
    // A Q4_1 block's minimum (bytes 2..4 of the 20-byte block) set to f16 infinity.
    let err = load_changed(|p| tensor_data(p, "blk.0.attn_k.weight")[22..24].copy_from_slice(&0x7c00u16.to_le_bytes()))
        .err()
        .unwrap();
    assert!(err.contains("tensor `blk.0.attn_k.weight`: a scale of block 1 is inf"), "{err}");
}

/// Regression: finite weights that overflow f32 in the forward pass (norm gains of f32::MAX) gave
/// NaN logits; every caller reads logits through `Llama::logits`, which now says so.
#[test]
fn overflowing_forward_is_an_error_not_nan() {
    let huge: Vec<u8> = (0..64).flat_map(|_| f32::MAX.to_le_bytes()).collect();
    let m = load_changed(|p| *tensor_data(p, "output_norm.weight") = huge).unwrap();
    let ids = m.tokenizer.encode("abc").unwrap();
    let err = generate(&m, &ids, 2, Sampling::GREEDY, &Steering::none(), |_| {}).err().unwrap().to_string();
    assert!(err.contains("non-finite logit") && err.contains("at row 0"), "{err}");
    // The same model with a sane gain runs.
    let fine = load_changed(|_| {}).unwrap();
    assert!(generate(&fine, &ids, 2, Sampling::GREEDY, &Steering::none(), |_| {}).is_ok());
}

/// Regressions: optional metadata of the wrong type silently became its default (another
/// pre-tokenizer, no control tokens, no BOS, plain-text prompts), and a BOS id outside the
/// vocabulary loaded and failed only at the first forward pass.
#[test]
fn optional_metadata_of_the_wrong_type_is_refused() {
    let err = |key: &str, value: Value| load_changed(|p| set_meta(p, key, value)).err().unwrap_or_default();
    let s = |x: &str| Value::String(x.into());
    assert!(err("tokenizer.ggml.pre", Value::U32(1)).contains("`tokenizer.ggml.pre` is not a string"));
    assert!(err("tokenizer.ggml.token_type", s("x")).contains("`tokenizer.ggml.token_type` is not an array"));
    assert!(err("tokenizer.ggml.token_type", Value::Array(vec![Value::I32(1)])).contains("1 entries for 40 tokens"));
    assert!(err("tokenizer.ggml.bos_token_id", Value::U32(40))
        .contains("`tokenizer.ggml.bos_token_id` = 40 is not a token id"));
    assert!(
        err("tokenizer.ggml.eos_token_id", s("2")).contains("`tokenizer.ggml.eos_token_id` = \"2\" is not a token id")
    );
    assert!(err("tokenizer.ggml.add_bos_token", Value::U8(1)).contains("`tokenizer.ggml.add_bos_token` is not a bool"));
    assert!(err("tokenizer.ggml.add_bos_token", Value::Bool(true)).contains("no `tokenizer.ggml.bos_token_id`"));
    assert!(err("tokenizer.chat_template", Value::U32(0)).contains("`tokenizer.chat_template` is not a string"));
    assert!(err("llama.rope.freq_base", s("1e4")).contains("`llama.rope.freq_base` is not a number"));
    assert!(err("llama.attention.layer_norm_rms_epsilon", Value::F32(f32::INFINITY)).contains("not a positive number"));
    // The right types load.
    assert!(load_changed(|p| {
        set_meta(p, "tokenizer.ggml.bos_token_id", Value::U32(38));
        set_meta(p, "tokenizer.ggml.add_bos_token", Value::Bool(true));
        set_meta(p, "tokenizer.chat_template", s("<|im_start|>"));
    })
    .is_ok());
}
