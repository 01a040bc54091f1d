//! Bad input gets a clear error that names the problem — never a panic, a hang or a silent
//! wrong answer. (The mutation test has its own file: it counts allocations process-wide.)
mod common;
use common::tiny::tiny_llama;
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
