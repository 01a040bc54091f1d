//! The model against independent references:
//! - candle-transformers' `quantized_llama` on the same GGUF: the same logits, bit for bit (our
//!   forward reproduces its arithmetic op for op, and our Q4_1 kernel is bit-identical to
//!   candle's scalar Q4_1 path);
//! - llama.cpp (values in tests/fixtures/llama_cpp_reference.json, produced by
//!   tests/reference/llama_cpp_reference.py): token ids, next-token top-1, logit correlation and
//!   the largest logit difference, with the bound the two engines' arithmetic allows.
mod common;
use candle_core::{Device, Tensor};
use common::*;
use steerscope::math::stats::pearson;
use steerscope::model::Steering;

fn our_last_logits(ids: &[u32]) -> Vec<f32> {
    last_logits(&model().llama, ids, &Steering::none())
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
        let diff = max_diff(&want, &got);
        println!("{:?}: max |Δlogit| = {diff:e}", &prompt[..prompt.len().min(40)]);
        assert!(want == got, "max |Δlogit| {diff} for {prompt:?}: not the same bits");
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

/// Llama.cpp on the same Q4_1 file: same top-1, correlation ≥ 0.99 and max |Δlogit| ≤ 2 over
/// the sampled logits (the 256 largest and every 64th); measured 1.35 (logits of magnitude ~20).
///
/// Why 2 and not 1e-2: both engines round every matmul's *activations* to 8 bits (Q8_1), so a
/// last-bit difference upstream (summation order, llama.cpp's F16 KV cache, ggml's exp
/// approximation) flips roundings that compound over 30 layers — llama.cpp disagrees with
/// *itself* by 0.90 when only its KV cache goes from F16 to F32 (README), and our own f32 ops
/// (candle's gemm) may sum in another order on another CPU. On the same weights dequantized to
/// F32, where nothing is re-rounded, the engines agree to 3e-5 (`control_vector.rs`, bound
/// 1e-2). A real mistake is far larger: steering one layer off moves the logits by 6.3–12.4
/// (`layer_numbering_matches_llama_cpp`).
#[test]
fn next_token_logits_match_llama_cpp() {
    let r = reference();
    let cases = r["logits"].as_array().unwrap();
    assert!(cases.len() >= 5);
    let mut worst = 0f32;
    for case in cases {
        let ids = ids(&case["ids"]);
        let got = our_last_logits(&ids);
        assert_eq!(argmax(&got) as u64, case["top1"].as_u64().unwrap(), "top-1 for {:?}", case["text"]);
        let sample = common::ids(&case["sample_ids"]);
        let want: Vec<f32> =
            case["sample_values"].as_array().unwrap().iter().map(|v| v.as_f64().unwrap() as f32).collect();
        let ours: Vec<f32> = sample.iter().map(|&i| got[i as usize]).collect();
        let corr = pearson(&ours, &want).unwrap();
        let diff = max_diff(&ours, &want);
        println!(
            "{:?}: corr {corr:.6}, max |Δ| {diff:.4}",
            case["text"].as_str().unwrap().chars().take(30).collect::<String>()
        );
        assert!(corr >= 0.99, "correlation {corr}");
        assert!(diff <= 2.0, "logits differ from llama.cpp by {diff}, more than the engines' rounding explains");
        worst = worst.max(diff);
    }
    println!("max |Δlogit| against llama.cpp over every case: {worst:.4} (bound 2)");
}
