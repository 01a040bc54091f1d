//! The real model, its fixtures and tensors (the `model` feature).
use super::default_model_path;
use super::numbers::uniform;
use candle_core::{Device, IndexOp, Tensor};
use std::path::PathBuf;
use std::sync::OnceLock;
use steerscope::model::score::PairTokens;
use steerscope::model::{Cache, Llama, Model, Steering};
use steerscope::rng::Rng;

pub fn model_path() -> PathBuf {
    let p = default_model_path();
    assert!(p.exists(), "{} is missing: run `steerscope fetch-model` (tests/run.sh does)", p.display());
    p
}

pub fn model_bytes() -> &'static [u8] {
    static BYTES: OnceLock<Vec<u8>> = OnceLock::new();
    BYTES.get_or_init(|| std::fs::read(model_path()).expect("read model"))
}

pub fn model() -> &'static Model {
    static MODEL: OnceLock<Model> = OnceLock::new();
    MODEL.get_or_init(|| Model::load(model_bytes()).expect("load model"))
}

/// The model with every weight dequantized to f32 and run in f32 (see `Llama::to_f32`): the
/// smooth reference for gradients and for comparing two ways of applying a weight update.
pub fn f32_model() -> &'static Model {
    static MODEL: OnceLock<Model> = OnceLock::new();
    MODEL.get_or_init(|| {
        let mut m = Model::load(model_bytes()).expect("load model");
        m.llama.to_f32().expect("dequantize");
        m
    })
}

/// tests/fixtures/`name`, parsed.
pub fn fixture(name: &str) -> serde_json::Value {
    let path = format!("{}/../tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
    serde_json::from_str(&std::fs::read_to_string(&path).expect("fixture")).expect("fixture json")
}

/// llama.cpp's tokens and logits for the default model (tests/reference/llama_cpp_reference.py).
pub fn reference() -> serde_json::Value {
    fixture("llama_cpp_reference.json")
}

pub fn ids(v: &serde_json::Value) -> Vec<u32> {
    v.as_array().unwrap().iter().map(|x| x.as_u64().unwrap() as u32).collect()
}

/// The text of a shipped concept file, core/data/concepts/`file`.
pub fn concept_text(file: &str) -> String {
    std::fs::read_to_string(format!("{}/data/concepts/{file}", env!("CARGO_MANIFEST_DIR"))).expect("concept file")
}

/// The first `n` pairs of a shipped concept file, tokenized for the real model in the default
/// prompt format.
pub fn concept_pairs(file: &str, n: usize) -> Vec<PairTokens> {
    steerscope::data::parse_jsonl(&concept_text(file)).unwrap().pairs[..n]
        .iter()
        .map(|p| PairTokens::new(model(), p, &Default::default()).unwrap())
        .collect()
}

/// Next-token logits after `ids` (a fresh cache).
pub fn last_logits(llama: &Llama, ids: &[u32], steering: &Steering) -> Vec<f32> {
    let fwd = llama.forward(ids, &mut Cache::new(), steering).unwrap();
    let n = fwd.hidden.dim(0).unwrap();
    llama.logits(&fwd.hidden.i(n - 1..n).unwrap()).unwrap().squeeze(0).unwrap().to_vec1().unwrap()
}

/// `log p(completion[t] | prompt, completion[..t])` for every `t`, from one plain forward pass
/// over prompt ++ completion with the log-softmax written out in f64: the reference the scoring
/// paths (sweep points, per-token effects) are checked against.
pub fn plain_logprobs(prompt: &[u32], completion: &[u32], steering: &Steering) -> Vec<f64> {
    let llama = &model().llama;
    let ids: Vec<u32> = prompt.iter().chain(completion).copied().collect();
    let fwd = llama.forward(&ids, &mut Cache::new(), steering).unwrap();
    let logits: Vec<Vec<f32>> = llama.logits(&fwd.hidden).unwrap().to_vec2().unwrap();
    completion
        .iter()
        .enumerate()
        .map(|(i, &t)| super::numbers::log_softmax_f64(&logits[prompt.len() + i - 1])[t as usize])
        .collect()
}

/// A tensor of [`uniform`] values.
pub fn uniform_tensor(shape: &[usize], scale: f32, seed: u64) -> Tensor {
    Tensor::from_vec(uniform(shape.iter().product(), scale, seed), shape, &Device::Cpu).unwrap()
}

/// A tensor of seeded normal values with standard deviation `std`, from the crate's RNG.
pub fn normal_tensor(shape: &[usize], std: f32, seed: u64) -> Tensor {
    let mut rng = Rng::new(seed);
    Tensor::from_vec(rng.normals(shape.iter().product(), std), shape, &Device::Cpu).unwrap()
}
