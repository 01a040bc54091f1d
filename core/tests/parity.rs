//! The model against independent references:
//! - candle-transformers' `quantized_llama` on the same GGUF (logits, ≤ 1e-4; we in fact get 0),
//! - llama.cpp (values in tests/fixtures/llama_cpp_reference.json, produced by
//!   tests/reference/llama_cpp_reference.py): token ids, next-token top-1 and logit correlation.
mod common;
use candle_core::{Device, IndexOp, Tensor};
use common::*;
use steerscope::model::{Cache, Steering};

fn our_last_logits(ids: &[u32]) -> Vec<f32> {
    let llama = &model().llama;
    let fwd = llama.forward(ids, &mut Cache::new(), &Steering::none()).unwrap();
    let n = fwd.hidden.dim(0).unwrap();
    llama.logits(&fwd.hidden.i(n - 1..n).unwrap()).unwrap().squeeze(0).unwrap().to_vec1().unwrap()
}

#[test]
fn logits_match_candle_quantized_llama() {
    use candle_core::quantized::gguf_file;
    use candle_transformers::models::quantized_llama::ModelWeights;
    let mut file = std::io::Cursor::new(model_bytes());
    let content = gguf_file::Content::read(&mut file).unwrap();
    let mut reference = ModelWeights::from_gguf(content, &mut file, &Device::Cpu).unwrap();
    let tok = &model().tokenizer;
    let chat = &model().chat;
    for prompt in [
        chat.prompt(None, "What is the capital of France?"),
        chat.prompt(Some("You are a pirate."), "Tell me about the sea, in 3 sentences."),
        "fn main() {\n    println!(\"hello 12345\");\n}".to_string(),
    ] {
        let ids = tok.encode(&prompt).unwrap();
        reference.clear_kv_cache();
        let input = Tensor::new(ids.as_slice(), &Device::Cpu).unwrap().unsqueeze(0).unwrap();
        let want: Vec<f32> = reference.forward(&input, 0).unwrap().squeeze(0).unwrap().to_vec1().unwrap();
        let got = our_last_logits(&ids);
        let diff = want.iter().zip(&got).map(|(a, b)| (a - b).abs()).fold(0f32, f32::max);
        println!("{:?}: max |Δlogit| = {diff:e}", &prompt[..prompt.len().min(40)]);
        assert!(diff <= 1e-4, "max abs diff {diff} for {prompt:?}");
    }
}

#[test]
fn token_ids_match_llama_cpp() {
    let r = reference();
    let cases = r["tokenize"].as_array().unwrap();
    assert!(cases.len() >= 20);
    for case in cases {
        let text = case["text"].as_str().unwrap();
        assert_eq!(model().tokenizer.encode(text).unwrap(), ids(&case["ids"]), "text {text:?}");
    }
}

#[test]
fn next_token_logits_match_llama_cpp() {
    let r = reference();
    let cases = r["logits"].as_array().unwrap();
    assert!(cases.len() >= 5);
    for case in cases {
        let ids = ids(&case["ids"]);
        let got = our_last_logits(&ids);
        let top1 = got.iter().enumerate().fold((0, f32::MIN), |b, (i, &v)| if v > b.1 { (i, v) } else { b }).0;
        assert_eq!(top1 as u64, case["top1"].as_u64().unwrap(), "top-1 for {:?}", case["text"]);
        let sample = common::ids(&case["sample_ids"]);
        let want: Vec<f64> = case["sample_values"].as_array().unwrap().iter().map(|v| v.as_f64().unwrap()).collect();
        let ours: Vec<f64> = sample.iter().map(|&i| got[i as usize] as f64).collect();
        let corr = pearson(&ours, &want);
        let maxdiff = ours.iter().zip(&want).map(|(a, b)| (a - b).abs()).fold(0.0, f64::max);
        println!(
            "{:?}: corr {corr:.6}, max |Δ| {maxdiff:.4}",
            case["text"].as_str().unwrap().chars().take(30).collect::<String>()
        );
        assert!(corr >= 0.99, "correlation {corr}");
    }
}

fn pearson(a: &[f64], b: &[f64]) -> f64 {
    let n = a.len() as f64;
    let (ma, mb) = (a.iter().sum::<f64>() / n, b.iter().sum::<f64>() / n);
    let cov: f64 = a.iter().zip(b).map(|(x, y)| (x - ma) * (y - mb)).sum();
    let va: f64 = a.iter().map(|x| (x - ma).powi(2)).sum();
    let vb: f64 = b.iter().map(|y| (y - mb).powi(2)).sum();
    cov / (va * vb).sqrt()
}
