//! The model against independent references:
//! - candle-transformers' `quantized_llama` on the same GGUF: the same final hidden state, bit
//!   for bit (our forward reproduces its arithmetic op for op, and our Q4_1 kernels are
//!   bit-identical to candle's scalar Q4_1 path) — shown by putting candle's own output head on
//!   it; and our Q8_0 output head within a stated bound of candle's (see the test);
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

/// Bit for bit through the layers, and within 1e-4 at the head. Our Q8_0 head kernel adds each
/// row's blocks in ggml's scalar order (`sumf += sumi·dx·dy`); candle's AVX2 Q8_0 kernel keeps 8
/// partial sums per row with fused multiply-adds (kernels::q8_0's module doc). Over a 576-wide
/// row of 18 blocks the two orders differ by a few f32 roundings of a partial sum ≲ 30 in size:
/// ≤ 18 · 2⁻²⁴ · 30 ≈ 3e-5 in the worst case (measured 1.3e-5). The head feeds nothing else, so
/// the difference never compounds; candle's head on our hidden state must give its logits exactly.
#[test]
fn logits_match_candle_quantized_llama() {
    use candle_core::quantized::{gguf_file, QMatMul};
    use candle_core::{IndexOp, Module};
    use candle_transformers::models::quantized_llama::ModelWeights;
    let mut file = std::io::Cursor::new(model_bytes());
    let content = gguf_file::Content::read(&mut file).unwrap();
    let mut reference = ModelWeights::from_gguf(content, &mut file, &Device::Cpu).unwrap();
    let g = steerscope::gguf::Gguf::parse(model_bytes()).unwrap();
    let head_name = if g.tensor("output.weight").is_ok() { "output.weight" } else { "token_embd.weight" };
    let candle_head = QMatMul::from_qtensor(steerscope::model::linear::qtensor(&g, head_name).unwrap()).unwrap();
    let llama = &model().llama;
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
        let fwd = llama.forward(&ids, &mut steerscope::model::Cache::new(), &Steering::none()).unwrap();
        let n = fwd.hidden.dim(0).unwrap();
        let last = fwd.hidden.i(n - 1..n).unwrap();
        let body: Vec<f32> = candle_head.forward(&last).unwrap().squeeze(0).unwrap().to_vec1().unwrap();
        assert!(
            want == body,
            "max |Δlogit| {} for {prompt:?} with candle's head: not the same bits",
            max_diff(&want, &body)
        );
        let got = our_last_logits(&ids);
        let diff = max_diff(&want, &got);
        println!("{:?}: max |Δlogit| = {diff:e} (our head)", &prompt[..prompt.len().min(40)]);
        assert!(diff <= 1e-4, "max |Δlogit| {diff} for {prompt:?}");
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
