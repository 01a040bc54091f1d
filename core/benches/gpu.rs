//! Speed of every backend this machine has: the CPU path and the GPU engine on each adapter wgpu
//! finds — prefill (128 tokens), decode (64 greedy tokens) and one sweep-like scoring pass
//! (each pair's prompt once, both completions scored after it, a vector steering at layer 15).
//! Prints numbers and ratios to the CPU measured in the same process; asserts nothing.
//!
//! `cargo bench -p steerscope --features gpu --bench gpu` (`WGPU_BACKEND=vulkan` picks Vulkan).
//! lavapipe and SwiftShader are *software* adapters: their numbers say nothing about GPU speed.
#[path = "common/machine.rs"]
mod machine;
#[path = "../tests/common/model_path.rs"]
mod model_path;
use candle_core::{Device, IndexOp, Tensor};
use std::time::Instant;
use steerscope::gguf::Gguf;
use steerscope::gpu::{block_on, Gpu, GpuLlama, GpuOptions, GpuSteering};
use steerscope::model::score::PairTokens;
use steerscope::model::{Cache, Edit, Intervention, Model, Site, Steering};

const PROMPT_TOKENS: usize = 128;
const DECODE_TOKENS: usize = 64;
const PAIRS: usize = 8;
const LAYER: usize = 15;

/// One backend's numbers: prefill tok/s, decode tok/s, scoring-pass seconds.
struct Row {
    name: String,
    prefill: f64,
    decode: f64,
    sweep: f64,
}

fn main() {
    let bytes = std::fs::read(model_path::default_model_path()).expect("model missing: run `steerscope fetch-model`");
    let model = Model::load(&bytes).unwrap();
    let text = "The history of the lighthouse begins with fires lit on hilltops to guide ships home. ".repeat(20);
    let ids = model.tokenizer.encode(&text).unwrap()[..PROMPT_TOKENS].to_vec();
    let pairs = pairs(&model);
    let c = &model.llama.config;
    let v = Tensor::from_vec(vec![0.05f32; c.hidden], c.hidden, &Device::Cpu).unwrap();
    let steering = Steering::none().with(Intervention::new(c, LAYER, Site::Residual, Edit::AddVector(v), 4.0).unwrap());
    println!("CPU {}", machine::cpu_flags());
    println!("prefill {PROMPT_TOKENS} tokens, decode {DECODE_TOKENS} greedy tokens, scoring {PAIRS} pairs steered at layer {LAYER}");
    println!("load average before: {}", machine::loadavg());
    let cpu = cpu_row(&model, &ids, &pairs, &steering);
    let mut rows = vec![cpu];
    let gpus = block_on(Gpu::all(&GpuOptions::default())).unwrap();
    if gpus.is_empty() {
        println!("no GPU adapter here: only the CPU backend runs");
    }
    for gpu in gpus {
        let a = gpu.adapter().clone();
        println!(
            "GPU adapter: {} ({}, {}, driver {}){}",
            a.name,
            a.backend,
            a.device_type,
            a.driver,
            if a.software { " — a SOFTWARE adapter: its numbers do not measure GPU speed" } else { "" }
        );
        let t = Instant::now();
        match block_on(GpuLlama::load(&gpu, &Gguf::parse(&bytes).unwrap())) {
            Ok(gm) => {
                println!("  load (upload + kernel compile): {:.2} s", t.elapsed().as_secs_f64());
                rows.push(gpu_row(&gm, &format!("gpu: {} ({})", a.name, a.backend), &ids, &pairs, &steering));
            }
            Err(e) => println!("  cannot run the model there: {e}"),
        }
    }
    println!("{:<40} {:>13} {:>12} {:>14}", "backend", "prefill tok/s", "decode tok/s", "scoring pass s");
    for r in &rows {
        println!("{:<40} {:>13.1} {:>12.1} {:>14.2}", r.name, r.prefill, r.decode, r.sweep);
    }
    for r in &rows[1..] {
        println!(
            "  {} / cpu: prefill {:.2}×  decode {:.2}×  scoring {:.2}× faster",
            r.name,
            r.prefill / rows[0].prefill,
            r.decode / rows[0].decode,
            rows[0].sweep / r.sweep
        );
    }
    println!("load average after: {}", machine::loadavg());
}

fn pairs(model: &Model) -> Vec<PairTokens> {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/data/concepts/sentiment.test.jsonl");
    let pairs = steerscope::data::parse_jsonl(&std::fs::read_to_string(path).unwrap()).unwrap();
    pairs.pairs[..PAIRS].iter().map(|p| PairTokens::new(model, p, &Default::default()).unwrap()).collect()
}

fn argmax(v: &[f32]) -> u32 {
    v.iter().enumerate().fold((0, f32::NEG_INFINITY), |b, (i, &x)| if x > b.1 { (i, x) } else { b }).0 as u32
}

/// Prefill of `ids` and [`DECODE_TOKENS`] greedy decode steps, in tokens per second, after a
/// warm-up on 8 tokens (first dispatches, caches); `next` runs tokens and returns the next one.
fn tokens_per_second<C>(ids: &[u32], cache: impl Fn() -> C, next: impl Fn(&[u32], &mut C) -> u32) -> (f64, f64) {
    next(&ids[..8], &mut cache());
    let t = Instant::now();
    let mut c = cache();
    let mut tok = next(ids, &mut c);
    let prefill = ids.len() as f64 / t.elapsed().as_secs_f64();
    let t = Instant::now();
    for _ in 0..DECODE_TOKENS {
        tok = next(&[tok], &mut c);
    }
    (prefill, DECODE_TOKENS as f64 / t.elapsed().as_secs_f64())
}

fn cpu_row(model: &Model, ids: &[u32], pairs: &[PairTokens], steering: &Steering) -> Row {
    let llama = &model.llama;
    let next = |ids: &[u32], cache: &mut Cache| -> u32 {
        let h = llama.forward(ids, cache, &Steering::none()).unwrap().hidden;
        let n = h.dim(0).unwrap();
        argmax(&llama.logits(&h.i(n - 1..n).unwrap()).unwrap().squeeze(0).unwrap().to_vec1::<f32>().unwrap())
    };
    let (prefill, decode) = tokens_per_second(ids, Cache::new, next);
    let t = Instant::now();
    let prepared = steerscope::model::pairs::Prepared::new(llama, pairs, LAYER, |_, _| {}).unwrap();
    prepared.score(llama, steering, Site::Residual, |_, _| {}).unwrap();
    let sweep = t.elapsed().as_secs_f64();
    Row { name: format!("cpu ({} rayon threads)", rayon_threads()), prefill, decode, sweep }
}

fn gpu_row(gm: &GpuLlama, name: &str, ids: &[u32], pairs: &[PairTokens], steering: &Steering) -> Row {
    let none = GpuSteering::none();
    let next = |ids: &[u32], cache: &mut steerscope::gpu::GpuCache| -> u32 {
        argmax(&block_on(gm.next_logits(ids, cache, &none)).unwrap())
    };
    let (prefill, decode) = tokens_per_second(ids, || gm.cache(), next);
    let gs = GpuSteering::new(gm, steering).unwrap();
    let t = Instant::now();
    for p in pairs {
        let mut prefix = gm.cache();
        block_on(gm.forward(&p.prompt, &mut prefix, &gs, &Default::default())).unwrap();
        block_on(gm.completion_logprobs(&prefix, &p.positive, &gs)).unwrap();
        block_on(gm.completion_logprobs(&prefix, &p.negative, &gs)).unwrap();
    }
    let sweep = t.elapsed().as_secs_f64();
    Row { name: name.into(), prefill, decode, sweep }
}

fn rayon_threads() -> usize {
    std::env::var("RAYON_NUM_THREADS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1))
}
