//! Shared by the integration tests: the real model, fetched by the set-up (`steerscope
//! fetch-model`, run by tests/run.sh) — these tests never download anything themselves.
#![allow(dead_code)]
pub mod model_path;
pub mod tiny;
pub use model_path::default_model_path;
use std::path::PathBuf;
use std::sync::OnceLock;
use steerscope::model::Model;

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

pub fn reference() -> serde_json::Value {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../tests/fixtures/llama_cpp_reference.json");
    serde_json::from_str(&std::fs::read_to_string(path).expect("fixture")).expect("fixture json")
}

pub fn ids(v: &serde_json::Value) -> Vec<u32> {
    v.as_array().unwrap().iter().map(|x| x.as_u64().unwrap() as u32).collect()
}
