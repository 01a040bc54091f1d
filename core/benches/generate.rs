//! Prefill and decode speed of the real model: steerscope vs candle-transformers'
//! `quantized_llama` (in this process: the same weights on candle's Q4_1 kernel) vs llama.cpp
//! (llama-cpp-python, same GGUF, same thread count, run by this bench), at 1 and 2 threads.
//! Prints a table and ratios; asserts nothing about time.
//!
//! `cargo bench -p steerscope --bench generate`            the table (CPU flags, load average)
//! `cargo bench -p steerscope --bench generate -- budget`  the decode step's time budget
//!
//! Environment: `STEERSCOPE_BENCH_NO_LLAMA_CPP=1` skips llama.cpp (when llama-cpp-python is
//! not installed); `STEERSCOPE_BENCH_PATHS=scalar,avx2,…` adds a steerscope row per kernel
//! path (see `steerscope::kernels::Isa`); `STEERSCOPE_KERNEL=<path>` forces one path everywhere.
#[path = "common/machine.rs"]
mod machine;
#[path = "../tests/common/model_path.rs"]
mod model_path;
use candle_core::{Device, IndexOp, Tensor};
use std::process::Command;
use std::time::Instant;
use steerscope::kernels::{self, attention, q4_1::Q8_1Rows, Isa};
use steerscope::model::linear::{self, QLinear};
use steerscope::model::{Cache, Model, Steering};

const PROMPT_TOKENS: usize = 128;
const DECODE_TOKENS: usize = 64;
const REPEATS: usize = 3;
/// Alternating rounds of steerscope and llama.cpp at each thread count.
const ROUNDS: usize = 3;

fn main() {
    if let Ok(which) = std::env::var("STEERSCOPE_BENCH_CHILD") {
        return child(&which);
    }
    if let Ok(name) = std::env::var("STEERSCOPE_KERNEL") {
        force_kernel(&name);
    }
    let model_path = model_path::default_model_path();
    let bytes = std::fs::read(&model_path).expect("model missing: run `steerscope fetch-model`");
    let model = Model::load(&bytes).unwrap();
    let ids = prompt_ids(&model);
    println!("CPU {}", machine::cpu_flags());
    println!("kernel path {} (best on this CPU: {})", kernels::active().name(), Isa::best().name());
    if std::env::args().any(|a| a == "budget") {
        return budget(&model_path, &bytes);
    }
    let ids_file = std::env::temp_dir().join("steerscope-bench-ids.json");
    std::fs::write(&ids_file, serde_json::to_string(&ids).unwrap()).unwrap();
    println!(
        "prompt {PROMPT_TOKENS} tokens, decode {DECODE_TOKENS} greedy tokens, best of {REPEATS}; load average {}",
        machine::loadavg()
    );
    println!(
        "{:<34} {:>7} {:>13} {:>12} {:>15} {:>14}  first tokens",
        "engine", "threads", "prefill tok/s", "decode tok/s", "prefill tok/CPUs", "decode tok/CPUs"
    );
    let paths: Vec<String> =
        std::env::var("STEERSCOPE_BENCH_PATHS").map(|s| s.split(',').map(str::to_string).collect()).unwrap_or_default();
    let llama_cpp = std::env::var_os("STEERSCOPE_BENCH_NO_LLAMA_CPP").is_none();
    for threads in [1, 2] {
        // steerscope and llama.cpp alternate over ROUNDS rounds, each keeping its best: this
        // machine's speed drifts by ±20% over minutes (a shared VM), and one run of each in a
        // row would turn that drift into the ratio.
        let (mut ours, mut theirs) = (Vec::new(), Vec::new());
        for _ in 0..ROUNDS {
            ours.push(run_child("steerscope", threads, None));
            if llama_cpp {
                theirs.push(run_llama_cpp(&model_path, &ids_file, threads));
            }
        }
        let mut rows = vec![Row::best(ours)];
        for p in &paths {
            rows.push(run_child("steerscope", threads, Some(p)));
        }
        rows.push(run_child("candle", threads, None));
        if llama_cpp {
            rows.push(Row::best(theirs));
        }
        for r in &rows {
            println!(
                "{:<34} {:>7} {:>13.1} {:>12.1} {:>15.1} {:>14.1}  {}",
                r.name, threads, r.prefill, r.decode, r.prefill_cpu, r.decode_cpu, r.first
            );
            if let Some((lo, hi)) = r.decode_range {
                println!("  {:<32} decode over {ROUNDS} alternating rounds: {lo:.1}–{hi:.1} tok/s", r.name);
            }
        }
        let ours = &rows[0];
        for other in &rows[1..] {
            println!(
                "  steerscope / {:<20} prefill {:.2}×  decode {:.2}×   (per CPU second: prefill {:.2}×  decode {:.2}×)",
                other.name,
                ours.prefill / other.prefill,
                ours.decode / other.decode,
                ours.prefill_cpu / other.prefill_cpu,
                ours.decode_cpu / other.decode_cpu
            );
        }
        println!("  load average now {}", machine::loadavg());
    }
}

fn force_kernel(name: &str) {
    let isa: Isa = name.parse().unwrap_or_else(|e| panic!("STEERSCOPE_KERNEL: {e}"));
    let got = kernels::force(Some(isa));
    assert_eq!(got, isa, "STEERSCOPE_KERNEL={name}: this CPU cannot run it");
}

/// A fixed English text cut to exactly PROMPT_TOKENS tokens.
fn prompt_ids(model: &Model) -> Vec<u32> {
    let text = "The history of the lighthouse begins with fires lit on hilltops to guide ships home. ".repeat(20);
    let ids = model.tokenizer.encode(&text).unwrap();
    ids[..PROMPT_TOKENS].to_vec()
}

struct Row {
    name: String,
    prefill: f64,
    decode: f64,
    /// Tokens per second of the process's CPU time (less disturbed by a loaded machine).
    prefill_cpu: f64,
    decode_cpu: f64,
    first: String,
    /// The slowest and fastest decode over the rounds this row is the best of.
    decode_range: Option<(f64, f64)>,
}

impl Row {
    /// Each number at its best over `rows` (runs of one engine), with the decode spread.
    fn best(rows: Vec<Row>) -> Row {
        let max = |f: fn(&Row) -> f64| rows.iter().map(f).fold(f64::NAN, f64::max);
        let lo = rows.iter().map(|r| r.decode).fold(f64::NAN, f64::min);
        Row {
            name: rows[0].name.clone(),
            prefill: max(|r| r.prefill),
            decode: max(|r| r.decode),
            prefill_cpu: max(|r| r.prefill_cpu),
            decode_cpu: max(|r| r.decode_cpu),
            first: rows[0].first.clone(),
            decode_range: (rows.len() > 1).then(|| (lo, max(|r| r.decode))),
        }
    }
}

fn run_child(which: &str, threads: usize, kernel: Option<&str>) -> Row {
    let mut cmd = Command::new(std::env::current_exe().unwrap());
    cmd.env("STEERSCOPE_BENCH_CHILD", which).env("RAYON_NUM_THREADS", threads.to_string());
    if let Some(k) = kernel {
        cmd.env("STEERSCOPE_KERNEL", k);
    }
    let out = cmd.output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let mut row = parse_row(which, &String::from_utf8_lossy(&out.stdout));
    if let Some(k) = kernel {
        row.name = format!("steerscope [{k}]");
    }
    row
}

fn run_llama_cpp(model: &std::path::Path, ids: &std::path::Path, threads: usize) -> Row {
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

fn parse_row(name: &str, json: &str) -> Row {
    let line = json.lines().last().unwrap_or_default();
    let v: serde_json::Value = serde_json::from_str(line.trim()).unwrap_or_else(|e| panic!("{e}: {json}"));
    let name = v["engine"].as_str().map_or(name.to_string(), |e| format!("{name} [{e}]"));
    Row {
        name,
        prefill: v["prefill_tok_s"].as_f64().unwrap(),
        decode: v["decode_tok_s"].as_f64().unwrap(),
        prefill_cpu: v["prefill_cpu_tok_s"].as_f64().unwrap_or(f64::NAN),
        decode_cpu: v["decode_cpu_tok_s"].as_f64().unwrap_or(f64::NAN),
        first: v["first_tokens"].to_string(),
        decode_range: None,
    }
}

/// One engine's step function: `(tokens, position) → last logits`.
type Step = Box<dyn FnMut(&[u32], usize) -> Vec<f32>>;

fn engine(which: &str, model: &'static Model, bytes: &[u8]) -> Step {
    match which {
        "steerscope" => {
            let mut cache = Cache::new();
            Box::new(move |toks: &[u32], pos: usize| {
                if pos == 0 {
                    cache = Cache::with_capacity(PROMPT_TOKENS + DECODE_TOKENS);
                }
                let fwd = model.llama.forward(toks, &mut cache, &Steering::none()).unwrap();
                let n = fwd.hidden.dim(0).unwrap();
                model.llama.logits(&fwd.hidden.i(n - 1..n).unwrap()).unwrap().squeeze(0).unwrap().to_vec1().unwrap()
            })
        }
        _ => {
            use candle_core::quantized::gguf_file;
            let mut file = std::io::Cursor::new(bytes);
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
    }
}

/// Measures one engine in this (child) process and prints one JSON line. With
/// `STEERSCOPE_BENCH_PERF_CTL` set (the budget's profile), it decodes for a while and turns
/// `perf record` on only around the decode loop.
fn child(which: &str) {
    if let Ok(name) = std::env::var("STEERSCOPE_KERNEL") {
        force_kernel(&name);
    }
    let bytes = std::fs::read(model_path::default_model_path()).unwrap();
    let model: &'static Model = Box::leak(Box::new(Model::load(&bytes).unwrap()));
    let ids = prompt_ids(model);
    let mut step = engine(which, model, &bytes);
    if let Ok(ctl) = std::env::var("STEERSCOPE_BENCH_PERF_CTL") {
        return profiled_decode(&mut step, &ids, &ctl);
    }
    let (mut best_prefill, mut best_decode) = (f64::MAX, f64::MAX);
    let (mut cpu_prefill, mut cpu_decode) = (f64::MAX, f64::MAX);
    let mut first = Vec::new();
    for _ in 0..REPEATS {
        let (t, c) = (Instant::now(), cpu_seconds());
        let mut logits = step(&ids, 0);
        best_prefill = best_prefill.min(t.elapsed().as_secs_f64());
        cpu_prefill = cpu_prefill.min(cpu_seconds() - c);
        let (t, c) = (Instant::now(), cpu_seconds());
        first.clear();
        for i in 0..DECODE_TOKENS {
            let next = argmax(&logits);
            first.push(next);
            logits = step(&[next], ids.len() + i);
        }
        best_decode = best_decode.min(t.elapsed().as_secs_f64());
        cpu_decode = cpu_decode.min(cpu_seconds() - c);
    }
    let engine = (which == "steerscope").then(|| kernels::active().name());
    println!(
        "{}",
        serde_json::json!({"engine": engine, "prefill_tok_s": ids.len() as f64 / best_prefill,
            "decode_tok_s": DECODE_TOKENS as f64 / best_decode,
            "prefill_cpu_tok_s": ids.len() as f64 / cpu_prefill, "decode_cpu_tok_s": DECODE_TOKENS as f64 / cpu_decode,
            "first_tokens": &first[..8]})
    );
}

/// Decode steps seen by the profile (the prompt prefilled again every DECODE_TOKENS).
const PROFILED_ROUNDS: usize = 6;

fn profiled_decode(step: &mut Step, ids: &[u32], ctl: &str) {
    use std::io::Write;
    let mut ctl = std::fs::OpenOptions::new().write(true).open(ctl).expect("perf control fifo");
    let (mut decode_s, mut cpu_s) = (0.0, 0.0);
    for _ in 0..PROFILED_ROUNDS {
        let mut logits = step(ids, 0);
        ctl.write_all(b"enable\n").unwrap();
        let (t, c) = (Instant::now(), cpu_seconds());
        for i in 0..DECODE_TOKENS {
            logits = step(&[argmax(&logits)], ids.len() + i);
        }
        decode_s += t.elapsed().as_secs_f64();
        cpu_s += cpu_seconds() - c;
        ctl.write_all(b"disable\n").unwrap();
    }
    let steps = PROFILED_ROUNDS * DECODE_TOKENS;
    println!(
        "{}",
        serde_json::json!({"decode_ms_per_token": decode_s * 1e3 / steps as f64,
        "decode_cpu_ms_per_token": cpu_s * 1e3 / steps as f64, "steps": steps})
    );
}

/// The decode step's time budget: (1) a profile of the real decode loop (`perf record`, the
/// decode steps only) with every sampled function put in a category; (2) the matrix-vector
/// products per weight kind, the output head and the attention timed in isolation, in the
/// decode step's own order over all 30 layers (so the weights stream from memory as they do
/// there), on one thread.
fn budget(model_path: &std::path::Path, bytes: &[u8]) {
    println!("decode step budget, one thread; load average {}", machine::loadavg());
    match perf_profile(model_path) {
        Ok((ms, shares)) => {
            println!("\n(1) profile of the decode loop: {ms:.2} ms of CPU per token ({:.1} tok/s)", 1e3 / ms);
            println!("{:<44} {:>7} {:>9}", "category", "share", "ms/token");
            for (name, share) in shares {
                println!("{name:<44} {:>6.1}% {:>9.3}", share * 100.0, share * ms);
            }
        }
        Err(e) => println!("\n(1) no profile: {e}"),
    }
    isolated_parts(bytes);
    println!("load average now {}", machine::loadavg());
}

/// Runs the steerscope child under `perf record`, enabled only around its decode loops.
/// Returns ms per decode step and the share of samples per category.
/// ms per decode step and each category's share of the samples.
type Profile = (f64, Vec<(&'static str, f64)>);

fn perf_profile(model_path: &std::path::Path) -> Result<Profile, String> {
    let dir = std::env::temp_dir().join(format!("steerscope-budget-{}", std::process::id()));
    std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    let (ctl, ack, data) = (dir.join("ctl"), dir.join("ack"), dir.join("perf.data"));
    for f in [&ctl, &ack] {
        let _ = std::fs::remove_file(f);
        let ok = Command::new("mkfifo").arg(f).status().map_err(|e| e.to_string())?.success();
        if !ok {
            return Err("mkfifo failed".into());
        }
    }
    let _ = model_path;
    let out = Command::new("perf")
        .args(["record", "-F", "2000", "-g", "--delay=-1", "-o"])
        .arg(&data)
        .arg(format!("--control=fifo:{},{}", ctl.display(), ack.display()))
        .arg("--")
        .arg(std::env::current_exe().unwrap())
        .env("STEERSCOPE_BENCH_CHILD", "steerscope")
        .env("STEERSCOPE_BENCH_PERF_CTL", &ctl)
        .env("RAYON_NUM_THREADS", "1")
        .output()
        .map_err(|e| format!("perf not runnable: {e}"))?;
    if !out.status.success() {
        return Err(format!("perf record failed: {}", String::from_utf8_lossy(&out.stderr)));
    }
    let stdout = String::from_utf8_lossy(&out.stdout);
    let v: serde_json::Value =
        serde_json::from_str(stdout.lines().last().unwrap_or_default()).map_err(|e| e.to_string())?;
    // CPU time (one thread): a loaded machine stretches the wall clock, much less the CPU time.
    let ms = v["decode_cpu_ms_per_token"].as_f64().ok_or("no timing")?;
    println!("(wall clock {:.2} ms per token under this load)", v["decode_ms_per_token"].as_f64().unwrap_or(f64::NAN));
    let report = Command::new("perf")
        .args([
            "report",
            "--stdio",
            "--no-children",
            "--sort",
            "symbol",
            "-q",
            "-g",
            "none",
            "--percent-limit",
            "0",
            "-i",
        ])
        .arg(&data)
        .output()
        .map_err(|e| e.to_string())?;
    let text = String::from_utf8_lossy(&report.stdout);
    let mut shares: Vec<(&'static str, f64)> = CATEGORIES.iter().map(|(name, _)| (*name, 0.0)).collect();
    let mut total = 0.0;
    for line in text.lines() {
        let mut parts = line.split_whitespace();
        let Some(pct) = parts.next().and_then(|p| p.trim_end_matches('%').parse::<f64>().ok()) else { continue };
        let symbol = line.split("] ").nth(1).unwrap_or(line);
        let i = CATEGORIES
            .iter()
            .position(|(_, pats)| pats.iter().any(|p| symbol.contains(p)))
            .unwrap_or(CATEGORIES.len() - 1);
        shares[i].1 += pct / 100.0;
        total += pct / 100.0;
    }
    let _ = std::fs::remove_dir_all(&dir);
    if total == 0.0 {
        return Err("perf recorded no samples".into());
    }
    Ok((ms, shares.into_iter().map(|(n, s)| (n, s / total)).filter(|(_, s)| *s > 0.0).collect()))
}

/// Profile categories: a sampled function belongs to the first whose patterns it contains.
const CATEGORIES: &[(&str, &[&str])] = &[
    ("Q4_1 matvec (q, k, v, o, gate, up, down)", &["q4_1::", "vec_dot_q4_1"]),
    ("output head (Q8_0 matvec)", &["q8_0::", "vec_dot_q8_0", "k_quants::matmul"]),
    ("activation quantization (Q8_1 / Q8_0)", &["quantize_into", "from_float", "Q8_1Rows", "half::"]),
    ("attention (scores, softmax, weighted sum)", &["attention::", "gemm", "softmax", "Softmax", "expf", "__exp"]),
    (
        "norms, RoPE, SiLU, residual adds",
        &[
            "rms_norm",
            "RmsNorm",
            "rope",
            "Rotary",
            "silu",
            "Silu",
            "decode_layers",
            "binary_map",
            "unary_map",
            "Affine",
        ],
    ),
    (
        "tensor allocation, copies, op dispatch",
        &[
            "malloc",
            "free",
            "memcpy",
            "memmove",
            "memset",
            "alloc::",
            "candle_core::",
            "core::ptr::drop",
            "Arc",
            "clear_page",
            "page_fault",
            "asm_exc",
        ],
    ),
    ("threads (rayon)", &["rayon", "crossbeam", "sched_yield", "futex"]),
    ("other", &[""]),
];

/// (2): each part timed on its own, in the order the decode step runs them.
fn isolated_parts(bytes: &[u8]) {
    let g = steerscope::gguf::Gguf::parse(bytes).unwrap();
    let c = steerscope::model::Config::from_gguf(&g).unwrap();
    let kv = c.n_kv_heads * c.head_dim;
    let kinds: [(&str, usize, usize); 7] = [
        ("attn_q", c.hidden, c.hidden),
        ("attn_k", kv, c.hidden),
        ("attn_v", kv, c.hidden),
        ("attn_output", c.hidden, c.hidden),
        ("ffn_gate", c.ffn, c.hidden),
        ("ffn_up", c.ffn, c.hidden),
        ("ffn_down", c.hidden, c.ffn),
    ];
    let layers: Vec<Vec<QLinear>> = (0..c.n_layers)
        .map(|i| {
            kinds.iter().map(|(n, o, k)| QLinear::load(&g, &format!("blk.{i}.{n}.weight"), *o, *k).unwrap()).collect()
        })
        .collect();
    let head = QLinear::load(&g, "token_embd.weight", c.vocab, c.hidden).unwrap();
    let heads = attention::Heads { n_heads: c.n_heads, n_kv_heads: c.n_kv_heads, head_dim: c.head_dim };
    let positions = PROMPT_TOKENS + DECODE_TOKENS / 2;
    let wave = |n: usize, s: f32| (0..n).map(|i| ((i as f32 * 0.37 + s).sin()) * 2.0).collect::<Vec<f32>>();
    let caches: Vec<(Vec<f32>, Vec<f32>)> =
        (0..c.n_layers).map(|i| (wave(positions * kv, i as f32), wave(positions * kv, 0.5 + i as f32))).collect();
    let q = wave(c.hidden, 0.1);
    let (mut scores, mut ctx) = (Vec::new(), vec![0f32; c.hidden]);
    let mut out = vec![0f32; c.vocab];
    let mut xq = Q8_1Rows::default();
    // Per round, the time of each part summed over the layers; the minimum over rounds is
    // reported (a shared machine preempts some rounds; the fastest is the least disturbed).
    let (mut t_kind, mut t_quant, mut t_head, mut t_attn) = ([f64::MAX; 7], f64::MAX, f64::MAX, f64::MAX);
    const ROUNDS: usize = 20;
    for _ in 0..ROUNDS {
        let (mut kind, mut quant, mut attn) = ([0f64; 7], 0f64, 0f64);
        for (layer, cache) in layers.iter().zip(&caches) {
            for (k, lin) in layer.iter().enumerate() {
                let x = wave(lin.shape.1, k as f32);
                let t = Instant::now();
                xq.quantize_into(&x, x.len());
                quant += t.elapsed().as_secs_f64();
                let t = Instant::now();
                lin.forward_row(&x, &xq, &mut out[..lin.shape.0], &linear::in_order).unwrap();
                kind[k] += t.elapsed().as_secs_f64();
            }
            let t = Instant::now();
            attention::decode(heads, &q, &cache.0, &cache.1, &mut scores, &mut ctx);
            attn += t.elapsed().as_secs_f64();
        }
        let x = wave(c.hidden, 9.0);
        xq.quantize_into(&x, x.len());
        let t = Instant::now();
        head.forward_row(&x, &xq, &mut out, &linear::in_order).unwrap();
        t_head = t_head.min(t.elapsed().as_secs_f64());
        for (best, t) in t_kind.iter_mut().zip(kind) {
            *best = best.min(t);
        }
        (t_quant, t_attn) = (t_quant.min(quant), t_attn.min(attn));
    }
    let ms = |t: f64| t * 1e3;
    println!("\n(2) parts timed in isolation, ms per token (all {} layers; fastest of {ROUNDS} rounds):", c.n_layers);
    let mut sum = 0.0;
    for ((name, o, k), t) in kinds.iter().zip(t_kind) {
        println!("  matvec {name:<12} ({o:>5} × {k:>5}, Q4_1)  {:>7.3}", ms(t));
        sum += ms(t);
    }
    println!("  matvec total                        {sum:>7.3}");
    println!("  output head ({} × {}, Q8_0)       {:>7.3}", c.vocab, c.hidden, ms(t_head));
    println!("  attention at {positions} positions            {:>7.3}", ms(t_attn));
    println!("  input quantization (7 per layer)    {:>7.3}", ms(t_quant));
}

fn argmax(v: &[f32]) -> u32 {
    v.iter().enumerate().fold((0, f32::MIN), |b, (i, &x)| if x > b.1 { (i, x) } else { b }).0 as u32
}

/// CPU time of this process, all its threads, in seconds.
fn cpu_seconds() -> f64 {
    let mut t = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: a valid clock id and a pointer to a timespec we own.
    unsafe { libc::clock_gettime(libc::CLOCK_PROCESS_CPUTIME_ID, &mut t) };
    t.tv_sec as f64 + t.tv_nsec as f64 * 1e-9
}
