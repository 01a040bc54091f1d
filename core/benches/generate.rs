//! Prefill and decode speed of the real model: steerscope vs candle-transformers'
//! `quantized_llama` (in this process: the same weights on candle's scalar Q4_1 kernel) vs
//! llama.cpp (llama-cpp-python, same GGUF, same thread count, run by this bench), at 1 and 2
//! threads. Prints a table and ratios; asserts nothing about time.
//!
//! `cargo bench -p steerscope --bench generate` (set STEERSCOPE_BENCH_NO_LLAMA_CPP=1 to skip
//! llama.cpp when llama-cpp-python is not installed).
#[path = "../tests/common/model_path.rs"]
mod model_path;
use candle_core::{Device, IndexOp, Tensor};
use std::process::Command;
use std::time::Instant;
use steerscope::model::{Cache, Model, Steering};

const PROMPT_TOKENS: usize = 128;
const DECODE_TOKENS: usize = 64;
const REPEATS: usize = 3;

fn main() {
    if let Ok(which) = std::env::var("STEERSCOPE_BENCH_CHILD") {
        return child(&which);
    }
    let model_path = model_path::default_model_path();
    let bytes = std::fs::read(&model_path).expect("model missing: run `steerscope fetch-model`");
    let model = Model::load(&bytes).unwrap();
    let ids = prompt_ids(&model);
    let ids_file = std::env::temp_dir().join("steerscope-bench-ids.json");
    std::fs::write(&ids_file, serde_json::to_string(&ids).unwrap()).unwrap();
    println!(
        "prompt {PROMPT_TOKENS} tokens, decode {DECODE_TOKENS} greedy tokens, best of {REPEATS}; load average {}",
        loadavg()
    );
    println!("{:<34} {:>7} {:>13} {:>12}", "engine", "threads", "prefill tok/s", "decode tok/s");
    for threads in [1, 2] {
        let mut rows = Vec::new();
        for which in ["steerscope", "candle"] {
            rows.push(run_child(which, threads));
        }
        if std::env::var_os("STEERSCOPE_BENCH_NO_LLAMA_CPP").is_none() {
            rows.push(run_llama_cpp(&model_path, &ids_file, threads));
        }
        for r in &rows {
            println!("{:<34} {:>7} {:>13.1} {:>12.1}", r.0, threads, r.1, r.2);
        }
        let ours = &rows[0];
        for other in &rows[1..] {
            println!(
                "  steerscope / {:<20} prefill {:.2}×  decode {:.2}×",
                other.0,
                ours.1 / other.1,
                ours.2 / other.2
            );
        }
        println!("  load average now {}", loadavg());
    }
}

/// A fixed English text cut to exactly PROMPT_TOKENS tokens.
fn prompt_ids(model: &Model) -> Vec<u32> {
    let text = "The history of the lighthouse begins with fires lit on hilltops to guide ships home. ".repeat(20);
    let ids = model.tokenizer.encode(&text).unwrap();
    ids[..PROMPT_TOKENS].to_vec()
}

fn run_child(which: &str, threads: usize) -> (String, f64, f64) {
    let out = Command::new(std::env::current_exe().unwrap())
        .env("STEERSCOPE_BENCH_CHILD", which)
        .env("RAYON_NUM_THREADS", threads.to_string())
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    parse_row(which, &String::from_utf8_lossy(&out.stdout))
}

fn run_llama_cpp(model: &std::path::Path, ids: &std::path::Path, threads: usize) -> (String, f64, f64) {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../tests/reference/llama_cpp_bench.py");
    let out = Command::new("python3")
        .args([script, "--model", model.to_str().unwrap(), "--threads", &threads.to_string()])
        .args([
            "--ids-file",
            ids.to_str().unwrap(),
            "--decode",
            &DECODE_TOKENS.to_string(),
            "--repeats",
            &REPEATS.to_string(),
        ])
        .output()
        .expect("python3");
    assert!(out.status.success(), "llama.cpp bench failed: {}", String::from_utf8_lossy(&out.stderr));
    let line = String::from_utf8_lossy(&out.stdout);
    parse_row("llama.cpp (llama-cpp-python)", line.lines().last().unwrap())
}

fn parse_row(name: &str, json: &str) -> (String, f64, f64) {
    let v: serde_json::Value = serde_json::from_str(json.trim()).unwrap_or_else(|e| panic!("{e}: {json}"));
    (name.to_string(), v["prefill_tok_s"].as_f64().unwrap(), v["decode_tok_s"].as_f64().unwrap())
}

/// Measures one engine in this (child) process and prints one JSON line.
fn child(which: &str) {
    let bytes = std::fs::read(model_path::default_model_path()).unwrap();
    let model = Model::load(&bytes).unwrap();
    let ids = prompt_ids(&model);
    type Step = Box<dyn FnMut(&[u32], usize) -> Vec<f32>>;
    let mut step: Step = match which {
        "steerscope" => {
            let mut cache = Cache::new();
            Box::new(move |toks: &[u32], pos: usize| {
                if pos == 0 {
                    cache = Cache::new();
                }
                let fwd = model.llama.forward(toks, &mut cache, &Steering::none()).unwrap();
                let n = fwd.hidden.dim(0).unwrap();
                model.llama.logits(&fwd.hidden.i(n - 1..n).unwrap()).unwrap().squeeze(0).unwrap().to_vec1().unwrap()
            })
        }
        _ => {
            use candle_core::quantized::gguf_file;
            let mut file = std::io::Cursor::new(&bytes);
            let content = gguf_file::Content::read(&mut file).unwrap();
            let mut m =
                candle_transformers::models::quantized_llama::ModelWeights::from_gguf(content, &mut file, &Device::Cpu)
                    .unwrap();
            Box::new(move |toks: &[u32], pos: usize| {
                if pos == 0 {
                    m.clear_kv_cache();
                }
                let input = Tensor::new(toks, &Device::Cpu).unwrap().unsqueeze(0).unwrap();
                m.forward(&input, pos).unwrap().squeeze(0).unwrap().to_vec1().unwrap()
            })
        }
    };
    let (mut best_prefill, mut best_decode) = (f64::MAX, f64::MAX);
    let mut first = Vec::new();
    for _ in 0..REPEATS {
        let t = Instant::now();
        let mut logits = step(&ids, 0);
        best_prefill = best_prefill.min(t.elapsed().as_secs_f64());
        let t = Instant::now();
        first.clear();
        for i in 0..DECODE_TOKENS {
            let next = argmax(&logits);
            first.push(next);
            logits = step(&[next], ids.len() + i);
        }
        best_decode = best_decode.min(t.elapsed().as_secs_f64());
    }
    println!(
        "{}",
        serde_json::json!({"prefill_tok_s": ids.len() as f64 / best_prefill, "decode_tok_s": DECODE_TOKENS as f64 / best_decode, "first_tokens": &first[..8]})
    );
}

fn argmax(v: &[f32]) -> u32 {
    v.iter().enumerate().fold((0, f32::MIN), |b, (i, &x)| if x > b.1 { (i, x) } else { b }).0 as u32
}

fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
}
