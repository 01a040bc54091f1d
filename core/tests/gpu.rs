//! The GPU backend (feature `gpu`, `cargo test --release -p steerscope --features gpu --test gpu`)
//! against the CPU: each WGSL kernel against a straightforward CPU reference on random shapes,
//! ragged ones included (rows, tokens and keys not multiples of the workgroup tiles); then the
//! real model — logits on several prompts, every site × edit steered with position masks,
//! scoring, chunking, split weights — against `model::Llama`; device loss and refusals.
//!
//! Without a GPU adapter these tests skip with a loud message, unless `STEERSCOPE_REQUIRE_GPU`
//! is set (CI sets it after installing lavapipe), in which case they fail.
#![cfg(feature = "gpu")]
mod common;

use candle_core::{Device, IndexOp, Tensor};
use common::*;
use std::rc::Rc;
use std::sync::OnceLock;
use steerscope::analysis::session::{Direction, Split, SweepSession};
use steerscope::analysis::sweep::SweepPoint;
use steerscope::gguf::{Gguf, TensorType, Writer};
use steerscope::gpu::GpuEngine;
use steerscope::gpu::{
    block_on, AttentionShape, EditRows, Format, Gpu, GpuCache, GpuLlama, GpuOptions, GpuSteering, Input, Ops, Readout,
};
use steerscope::kernels::q4_1::Q4_1Matrix;
use steerscope::model::pairs::PairEngine;
use steerscope::model::score::PairTokens;
use steerscope::model::sites::Positions;
use steerscope::model::{Cache, Edit, Intervention, Llama, Site, Steering};
use steerscope::rng::Rng;
use steerscope::Error;

// ---------------------------------------------------------------- shared fixtures

/// The GPU, or `None` (after a loud message) when there is no adapter and
/// `STEERSCOPE_REQUIRE_GPU` is unset.
fn gpu() -> Option<&'static Gpu> {
    static GPU: OnceLock<Option<Gpu>> = OnceLock::new();
    GPU.get_or_init(|| open(&GpuOptions::default())).as_ref()
}

fn open(options: &GpuOptions) -> Option<Gpu> {
    match block_on(Gpu::new(options)) {
        Ok(g) => {
            eprintln!("GPU adapter: {:?}", g.adapter());
            Some(g)
        }
        Err(Error::NoGpu(why)) if std::env::var_os("STEERSCOPE_REQUIRE_GPU").is_none() => {
            eprintln!(
                "\n*** SKIPPED: no GPU adapter ({why}). Install lavapipe (apt-get install mesa-vulkan-drivers; \
                 tests/setup.sh does) or set STEERSCOPE_REQUIRE_GPU=1 to make this a failure. ***\n"
            );
            None
        }
        Err(e) => panic!("opening the GPU failed: {e}"),
    }
}

fn ops() -> Option<&'static Ops> {
    static OPS: OnceLock<Option<Ops>> = OnceLock::new();
    OPS.get_or_init(|| gpu().map(|g| block_on(Ops::new(g)).expect("compile kernels"))).as_ref()
}

fn gpu_model() -> Option<&'static GpuLlama> {
    static M: OnceLock<Option<GpuLlama>> = OnceLock::new();
    M.get_or_init(|| gpu().map(|g| load_on(g, model_bytes()))).as_ref()
}

fn load_on(gpu: &Gpu, bytes: &[u8]) -> GpuLlama {
    block_on(GpuLlama::load(gpu, &Gguf::parse(bytes).unwrap())).expect("load the model on the GPU")
}

/// The CPU model with every weight dequantized to f32: the same arithmetic as the GPU's
/// (f32 activations times dequantized weights), so the two differ only by float rounding order.
fn cpu_f32() -> &'static Llama {
    static M: OnceLock<Llama> = OnceLock::new();
    M.get_or_init(|| {
        let mut l = Llama::load(&Gguf::parse(model_bytes()).unwrap()).unwrap();
        l.to_f32().unwrap();
        l
    })
}

fn tensor(v: &[f32], shape: &[usize]) -> Tensor {
    Tensor::from_vec(v.to_vec(), shape, &Device::Cpu).unwrap()
}

const EPS: f32 = f32::EPSILON;

// ---------------------------------------------------------------- kernels

/// An `(rows, cols)` matrix in `format`'s GGUF bytes and its dequantized values (candle's
/// quantizer and dequantizer are the reference for Q8_0 and F16, ours for Q4_1).
fn quantized(format: Format, w: &[f32], rows: usize, cols: usize) -> (Vec<u8>, Vec<f32>) {
    use candle_core::quantized::{GgmlDType, QTensor};
    match format {
        Format::Q4_1 => {
            let bytes = Q4_1Matrix::quantize_to_gguf_bytes(w);
            let deq = Q4_1Matrix::from_gguf_bytes(&bytes, rows, cols).unwrap().dequantize();
            (bytes, deq)
        }
        Format::F32 => (w.iter().flat_map(|x| x.to_le_bytes()).collect(), w.to_vec()),
        Format::Q8_0 | Format::F16 => {
            let dtype = if format == Format::Q8_0 { GgmlDType::Q8_0 } else { GgmlDType::F16 };
            let q = QTensor::quantize(&tensor(w, &[rows, cols]), dtype).unwrap();
            let deq = q.dequantize(&Device::Cpu).unwrap().flatten_all().unwrap().to_vec1().unwrap();
            (q.data().unwrap().to_vec(), deq)
        }
    }
}

/// `Y = X·Wᵀ` against f64 sums of the dequantized weights. Bound: a K-term f32 dot product is
/// within K·ε·Σ|w·x| of the exact sum (Higham's γ_K), and the shader's `q·d + m` may round once
/// where the reference rounds twice (one more ε per term).
#[test]
fn kernel_matmul_every_format_on_ragged_shapes() {
    let Some(ops) = ops() else { return };
    let mut rng = Rng::new(1);
    for format in [Format::Q4_1, Format::Q8_0, Format::F32, Format::F16] {
        for &(rows, cols, tokens) in &[(1, 32, 1), (7, 64, 3), (8, 96, 8), (13, 576, 9), (67, 160, 17), (200, 1536, 2)]
        {
            let (bytes, w) = quantized(format, &rng.scaled_vec(rows * cols, 0.5), rows, cols);
            let x = rng.scaled_vec(tokens * cols, 2.0);
            let got = block_on(ops.matmul(format, &bytes, rows, cols, &x)).unwrap();
            for t in 0..tokens {
                for r in 0..rows {
                    let (wr, xt) = (&w[r * cols..(r + 1) * cols], &x[t * cols..(t + 1) * cols]);
                    let exact: f64 = wr.iter().zip(xt).map(|(a, b)| *a as f64 * *b as f64).sum();
                    let mag: f32 = wr.iter().zip(xt).map(|(a, b)| (a * b).abs()).sum();
                    let bound = (cols as f32 + 2.0) * EPS * mag + f32::MIN_POSITIVE;
                    let d = (got[t * rows + r] as f64 - exact).abs() as f32;
                    assert!(d <= bound, "{format:?} ({rows}, {cols}) × {tokens}: row {r} token {t}: |Δ| {d} > {bound}");
                }
            }
        }
    }
}

/// The embedding lookup returns the dequantized rows (bound: one rounding of `q·d + m`).
#[test]
fn kernel_embed_every_format() {
    let Some(ops) = ops() else { return };
    let mut rng = Rng::new(2);
    for format in [Format::Q4_1, Format::Q8_0, Format::F32, Format::F16] {
        let (rows, cols) = (37, 96);
        let (bytes, w) = quantized(format, &rng.scaled_vec(rows * cols, 1.0), rows, cols);
        let ids = [0u32, 36, 5, 5, 17, 1, 30];
        let got = block_on(ops.embed(format, &bytes, rows, cols, &ids)).unwrap();
        for (t, &id) in ids.iter().enumerate() {
            let want = &w[id as usize * cols..(id as usize + 1) * cols];
            for (g, x) in got[t * cols..(t + 1) * cols].iter().zip(want) {
                assert!((g - x).abs() <= EPS * x.abs(), "{format:?} id {id}: {g} vs {x}");
            }
        }
    }
}

/// A matrix split into parts by a low binding limit gives the same bits as one buffer: each
/// output row is the same per-row arithmetic, only in another dispatch.
#[test]
fn kernel_matmul_split_by_limits_is_exact() {
    let Some(ops) = ops() else { return };
    let opts = GpuOptions { max_storage_buffer_binding_size: Some(4096), ..GpuOptions::default() };
    let small = open(&opts).expect("a second device with lower limits");
    assert_eq!(small.limits().max_storage_buffer_binding_size, 4096);
    let small_ops = block_on(Ops::new(&small)).unwrap();
    let mut rng = Rng::new(3);
    let (rows, cols, tokens) = (201, 96, 5); // Q4_1 rows of 60 bytes: 68 per 4 KiB part → 3 parts
    let (bytes, _) = quantized(Format::Q4_1, &rng.scaled_vec(rows * cols, 0.5), rows, cols);
    let x = rng.scaled_vec(tokens * cols, 1.0);
    let whole = block_on(ops.matmul(Format::Q4_1, &bytes, rows, cols, &x)).unwrap();
    let split = block_on(small_ops.matmul(Format::Q4_1, &bytes, rows, cols, &x)).unwrap();
    assert_eq!(whole, split);
    let ids = [0u32, 200, 67, 68, 136];
    assert_eq!(
        block_on(ops.embed(Format::Q4_1, &bytes, rows, cols, &ids)).unwrap(),
        block_on(small_ops.embed(Format::Q4_1, &bytes, rows, cols, &ids)).unwrap()
    );
    // One row over the limit is refused by name.
    let err = block_on(small_ops.matmul(Format::F32, &vec![0u8; 2 * 4096 * 4], 2, 4096, &vec![0.0; 4096]))
        .unwrap_err()
        .to_string();
    assert!(err.contains("max_storage_buffer_binding_size"), "{err}");
}

/// RMSNorm against candle's. Bound: the sum of squares of `width` terms is within width·ε
/// (relative), the square root halves that, and the division and product add 2ε.
#[test]
fn kernel_rmsnorm() {
    let Some(ops) = ops() else { return };
    let mut rng = Rng::new(4);
    for &(rows, width) in &[(1, 64), (5, 100), (70, 576), (3, 1536), (2, 33)] {
        let x = rng.scaled_vec(rows * width, 3.0);
        let w = rng.scaled_vec(width, 1.5);
        let got = block_on(ops.rms_norm(&x, &w, 1e-5)).unwrap();
        let want: Vec<f32> = candle_nn::ops::rms_norm(&tensor(&x, &[rows, width]), &tensor(&w, &[width]), 1e-5)
            .unwrap()
            .flatten_all()
            .unwrap()
            .to_vec1()
            .unwrap();
        for (g, x) in got.iter().zip(&want) {
            assert!(
                (g - x).abs() <= (width as f32 / 2.0 + 3.0) * EPS * x.abs() + 1e-30,
                "({rows}, {width}): {g} vs {x}"
            );
        }
    }
}

/// Interleaved RoPE against candle's `rope_i` with the CPU path's angle tables. Bound: each
/// output is two products and a sum (≤ 3ε of |x0|+|x1|, plus a possible fused multiply-add).
#[test]
fn kernel_rope() {
    let Some(ops) = ops() else { return };
    let mut rng = Rng::new(5);
    for &(tokens, heads, hd, pos0) in &[(1, 3, 64, 0), (5, 9, 64, 17), (13, 2, 32, 1000), (3, 4, 128, 4095)] {
        let base = 100_000.0;
        let q = rng.scaled_vec(tokens * heads * hd, 2.0);
        let got = block_on(ops.rope(&q, heads, hd, pos0, base)).unwrap();
        let theta: Vec<f32> = (0..hd).step_by(2).map(|i| 1f32 / base.powf(i as f32 / hd as f32)).collect();
        let angles: Vec<f32> = (pos0..pos0 + tokens).flat_map(|p| theta.iter().map(move |t| p as f32 * t)).collect();
        let cos = tensor(&angles.iter().map(|a| a.cos()).collect::<Vec<_>>(), &[tokens, hd / 2]);
        let sin = tensor(&angles.iter().map(|a| a.sin()).collect::<Vec<_>>(), &[tokens, hd / 2]);
        let qt = tensor(&q, &[1, tokens, heads, hd]).transpose(1, 2).unwrap().contiguous().unwrap();
        let want: Vec<f32> = candle_nn::rotary_emb::rope_i(&qt, &cos, &sin)
            .unwrap()
            .transpose(1, 2)
            .unwrap()
            .flatten_all()
            .unwrap()
            .to_vec1()
            .unwrap();
        for (i, (g, x)) in got.iter().zip(&want).enumerate() {
            let pair = i / 2 * 2;
            let bound = 4.0 * EPS * (q[pair].abs() + q[pair + 1].abs());
            assert!((g - x).abs() <= bound, "rope ({tokens}, {heads}, {hd}) at {pos0}: {g} vs {x}");
        }
    }
}

/// Attention over a cache (and the cache store that rotates the new keys) against an f64
/// softmax. Bound: scores carry head_dim·ε relative error, which the softmax turns into the
/// same relative error of each weight; the weighted sum over n keys adds n·ε; so
/// |Δ| ≤ (head_dim·|score| + n + 8)·ε·max|v| (with |score| the largest score magnitude).
#[test]
fn kernel_attention_with_cache_store() {
    let Some(ops) = ops() else { return };
    let mut rng = Rng::new(6);
    let base = 10_000.0;
    for &(tokens, heads, kv_heads, hd, pos0) in
        &[(1, 9, 3, 64, 0), (5, 9, 3, 64, 3), (70, 4, 4, 32, 100), (2, 8, 2, 128, 130), (3, 6, 1, 16, 61)]
    {
        let s = AttentionShape { tokens, heads, kv_heads, head_dim: hd, pos0 };
        let kvd = kv_heads * hd;
        let n = pos0 + tokens;
        let q = rng.scaled_vec(tokens * heads * hd, 1.0);
        let mut k = rng.scaled_vec(n * kvd, 1.0);
        let mut v = rng.scaled_vec(n * kvd, 1.0);
        let new_k = rng.scaled_vec(tokens * kvd, 1.0);
        let new_v = rng.scaled_vec(tokens * kvd, 1.0);
        let (got, k_after, v_after) = block_on(ops.attention(s, &q, &k, &v, &new_k, &new_v, base)).unwrap();
        // The reference cache: new rows rotated by the same table (rope is checked on its own).
        let rotated = block_on(ops.rope(&new_k, kv_heads, hd, pos0, base)).unwrap();
        k[pos0 * kvd..].copy_from_slice(&rotated);
        v[pos0 * kvd..].copy_from_slice(&new_v);
        assert_eq!(k_after, k, "cache keys");
        assert_eq!(v_after, v, "cache values");
        let scale = 1.0 / (hd as f64).sqrt();
        for t in 0..tokens {
            for h in 0..heads {
                let kvh = h / (heads / kv_heads);
                let qv = &q[(t * heads + h) * hd..][..hd];
                let keys = pos0 + t + 1;
                let scores: Vec<f64> = (0..keys)
                    .map(|j| (0..hd).map(|d| qv[d] as f64 * k[j * kvd + kvh * hd + d] as f64).sum::<f64>() * scale)
                    .collect();
                let m = scores.iter().copied().fold(f64::NEG_INFINITY, f64::max);
                let sum: f64 = scores.iter().map(|s| (s - m).exp()).sum();
                let top = scores.iter().fold(0f64, |a, s| a.max(s.abs())) as f32;
                let bound = (hd as f32 * top + keys as f32 + 8.0) * EPS;
                for d in 0..hd {
                    let want: f64 =
                        (0..keys).map(|j| (scores[j] - m).exp() / sum * v[j * kvd + kvh * hd + d] as f64).sum();
                    let g = got[(t * heads + h) * hd + d];
                    assert!(
                        (g as f64 - want).abs() <= bound as f64,
                        "attention {s:?}: token {t} head {h} dim {d}: {g} vs {want}"
                    );
                }
            }
        }
    }
}

/// The residual add (exact) and SwiGLU against candle's silu (bound: exp's error of a few ulp
/// growing with |x| on GPUs, then one division and one product).
#[test]
fn kernel_add_and_swiglu() {
    let Some(ops) = ops() else { return };
    let mut rng = Rng::new(7);
    for n in [1, 255, 257, 70_000] {
        let (a, b) = (rng.scaled_vec(n, 8.0), rng.scaled_vec(n, 3.0));
        let sum = block_on(ops.add(&a, &b)).unwrap();
        assert!(sum.iter().zip(a.iter().zip(&b)).all(|(s, (x, y))| *s == x + y), "add over {n}");
        let got = block_on(ops.swiglu(&a, &b)).unwrap();
        let silu: Vec<f32> = tensor(&a, &[n]).silu().unwrap().to_vec1().unwrap();
        for ((g, s), (x, y)) in got.iter().zip(&silu).zip(a.iter().zip(&b)) {
            let want = s * y;
            assert!(
                (g - want).abs() <= (8.0 + 2.0 * x.abs()) * EPS * want.abs() + 1e-30,
                "swiglu({x}, {y}): {g} vs {want}"
            );
        }
    }
}

/// The steering kernels against the edit arithmetic of `model::sites`, with every mask: rows
/// the mask leaves out are untouched (exactly), covered rows match within one or two roundings
/// (a product and a sum, possibly fused), and for project/clamp the width-term dot product.
#[test]
fn kernel_steering_edits_and_masks() {
    let Some(ops) = ops() else { return };
    let mut rng = Rng::new(8);
    let width = 100; // not a multiple of the 64-thread workgroup
    let tokens = 7;
    let masks = [
        (Positions::All, None),
        (Positions::Prompt, None),
        (Positions::Prompt, Some(12)),
        (Positions::Completion, None),
        (Positions::Completion, Some(12)),
        (Positions::From(13), Some(12)),
    ];
    let h = rng.scaled_vec(tokens * width, 2.0);
    let v = rng.scaled_vec(width, 1.0);
    let d = rng.scaled_vec(tokens * width, 1.0);
    let off = rng.scaled_vec(tokens * width, 1.0);
    let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
    let unit: Vec<f32> = v.iter().map(|x| x / norm).collect();
    let m = 1.7f32;
    for (positions, prompt_end) in masks {
        let r = EditRows { width, pos0: 10, positions, prompt_end };
        let covered = |t: usize| positions.covers(10 + t, prompt_end);
        let check = |name: &str, got: &[f32], want: &dyn Fn(usize, usize) -> f32, slack: &dyn Fn(usize) -> f32| {
            for t in 0..tokens {
                for i in 0..width {
                    let (g, x) = (got[t * width + i], h[t * width + i]);
                    if covered(t) {
                        let w = want(t, i);
                        assert!((g - w).abs() <= slack(t) + 2.0 * EPS * w.abs(), "{name} {positions:?}: {g} vs {w}");
                    } else {
                        assert_eq!(g, x, "{name} {positions:?}: row {t} is outside the mask");
                    }
                }
            }
        };
        let got = block_on(ops.steer_add(r, &h, &v, m)).unwrap();
        check("add vector", &got, &|t, i| h[t * width + i] + m * v[i], &|_| 0.0);
        let got = block_on(ops.steer_add(r, &h, &d, m)).unwrap();
        check("add per row", &got, &|t, i| h[t * width + i] + m * d[t * width + i], &|_| 0.0);
        for offset in [None, Some(off.as_slice())] {
            let seen = |t: usize, i: usize| h[t * width + i] + offset.map_or(0.0, |o| o[t * width + i]);
            let along = |t: usize| (0..width).map(|i| seen(t, i) as f64 * unit[i] as f64).sum::<f64>() as f32;
            let dot_err = |t: usize| {
                width as f32 * EPS * (0..width).map(|i| (seen(t, i) * unit[i]).abs()).sum::<f32>() * m.max(1.0)
            };
            let got = block_on(ops.steer_project(r, &h, &unit, offset, m, None)).unwrap();
            check("project-out", &got, &|t, i| h[t * width + i] - m * along(t) * unit[i], &dot_err);
            let to = m * norm;
            let got = block_on(ops.steer_project(r, &h, &unit, offset, m, Some(to))).unwrap();
            check("clamp", &got, &|t, i| h[t * width + i] + (to - along(t)) * unit[i], &dot_err);
        }
    }
}

/// The steering matmul for low-rank factors and dense deltas, any K (ranks 1, 3, …). Bound as
/// for the weight matmul: K·ε·Σ|w·x|, plus the bias's rounding.
#[test]
fn kernel_dense() {
    let Some(ops) = ops() else { return };
    let mut rng = Rng::new(9);
    for &(rows, cols, tokens, bias) in
        &[(576, 1, 3, false), (3, 576, 5, false), (100, 37, 1, true), (1536, 576, 2, true)]
    {
        let w = rng.scaled_vec(rows * cols, 1.0);
        let x = rng.scaled_vec(tokens * cols, 1.0);
        let b = rng.scaled_vec(rows, 1.0);
        let got = block_on(ops.dense(&w, rows, &x, bias.then_some(b.as_slice()))).unwrap();
        for t in 0..tokens {
            for r in 0..rows {
                let terms = (0..cols).map(|k| w[r * cols + k] as f64 * x[t * cols + k] as f64);
                let want = terms.sum::<f64>() + if bias { b[r] as f64 } else { 0.0 };
                let mag: f32 = (0..cols).map(|k| (w[r * cols + k] * x[t * cols + k]).abs()).sum::<f32>() + b[r].abs();
                let bound = (cols as f32 + 2.0) * EPS * mag;
                assert!((got[t * rows + r] as f64 - want).abs() <= bound as f64, "dense ({rows}, {cols})");
            }
        }
    }
}

/// Target log-probabilities against an f64 log-softmax. Bound: the sum of `vocab` exponentials
/// is within vocab·ε (relative), i.e. its log within vocab·ε absolutely, plus exp's own error.
#[test]
fn kernel_log_probs() {
    let Some(ops) = ops() else { return };
    let mut rng = Rng::new(10);
    for &(rows, vocab) in &[(1, 1), (3, 100), (2, 49_152), (5, 257)] {
        let logits = rng.scaled_vec(rows * vocab, 12.0);
        let targets: Vec<u32> = (0..rows).map(|_| rng.below(vocab) as u32).collect();
        let got = block_on(ops.log_probs(&logits, vocab, &targets)).unwrap();
        for r in 0..rows {
            let want = log_softmax(&logits[r * vocab..(r + 1) * vocab])[targets[r] as usize];
            let bound = (vocab as f32 + 16.0) * EPS * (1.0 + want.abs());
            assert!((got[r] - want).abs() <= bound, "log-prob ({rows}, {vocab}): {} vs {want}", got[r]);
        }
    }
}

// ---------------------------------------------------------------- the real model

fn chat(text: &str) -> Vec<u32> {
    let m = model();
    m.tokenizer.encode(&m.chat.prompt(None, text)).unwrap()
}

fn prompts() -> Vec<Vec<u32>> {
    let mut p: Vec<Vec<u32>> = [
        "Describe a rainy afternoon.",
        "What is the capital of France?",
        "Write a haiku about the sea.",
        "Explain photosynthesis to a child in two sentences.",
    ]
    .iter()
    .map(|t| chat(t))
    .collect();
    p.push(model().tokenizer.encode("The quick brown fox jumps over the lazy dog. 12345 ñ 日本語").unwrap());
    p
}

/// Next-token logits after running `chunks` in order on one CPU cache.
fn cpu_logits<T: AsRef<[u32]>>(llama: &Llama, chunks: &[T], steering: &Steering) -> Vec<f32> {
    let mut cache = Cache::new();
    let mut hidden = None;
    for ids in chunks {
        hidden = Some(llama.forward(ids.as_ref(), &mut cache, steering).unwrap().hidden);
    }
    let h = hidden.unwrap();
    let n = h.dim(0).unwrap();
    llama.logits(&h.i(n - 1..n).unwrap()).unwrap().squeeze(0).unwrap().to_vec1().unwrap()
}

/// The same on the GPU.
fn gpu_logits<T: AsRef<[u32]>>(m: &GpuLlama, chunks: &[T], steering: &GpuSteering) -> Vec<f32> {
    let mut cache = m.cache();
    let mut logits = None;
    for ids in chunks {
        logits = Some(block_on(m.next_logits(ids.as_ref(), &mut cache, steering)).unwrap());
    }
    logits.unwrap()
}

/// Bound on |Δlogit| between the GPU and the CPU model dequantized to f32: the same arithmetic
/// in another summation order. Each dot product differs by ~√K·ε relative (random-walk
/// rounding, K ≤ 1536), i.e. ~1e-5 of an activation; 30 layers of residual updates and the
/// attention softmax carry such differences to the logits (|logit| ≲ 30) amplified by the
/// network's sensitivity (measured: ≤ 1.4e-3 on these prompts); 1e-2 leaves room for another
/// device's rounding without admitting a wrong op (a wrong op moves logits by ≥ 0.5).
const F32_BOUND: f32 = 1e-2;

/// Bound on |Δlogit| between the GPU (f32 activations) and the quantized CPU path, which rounds
/// every matmul's input to 8 bits (Q8_1 blocks: a step of max|x|/127 per 32 values, so up to
/// 0.4 % per activation) — 211 matmuls per token, whose rounding compounds through 30 layers.
/// Measured here: the quantized CPU path itself is 0.2–0.6 from its own f32 model on these
/// prompts (the README notes ≈1 between llama.cpp and us for the same reason), and the GPU is
/// the same distance. 1.5 is that measurement with margin; the test also requires the same
/// top-1 token, and the f32 comparison above is the tight one.
const QUANT_BOUND: f32 = 1.5;

/// GPU vs CPU logits on several prompts. Same top-1 as the CPU f32 model always; as the
/// quantized CPU path wherever that path agrees with its own f32 model — where its 8-bit
/// activations flip a near-tie, the GPU sides with the f32 arithmetic, and the test checks the
/// flip is within the quantization bound.
#[test]
fn model_logits_match_cpu_on_prompts() {
    let Some(gm) = gpu_model() else { return };
    logits_match_cpu(gm, prompts());
}

/// The same on five inputs of at most three tokens: the real model's whole forward pass on the
/// shortest inputs (one position's attention, the embedding of rare tokens).
#[test]
fn real_model_short_inputs_match_cpu() {
    let Some(gm) = gpu_model() else { return };
    let texts = ["Hello there", "The sea is", "2 + 2 =", "Bonjour mon", "ñ 日本"];
    let inputs = texts.iter().map(|t| model().tokenizer.encode(t).unwrap().into_iter().take(3).collect()).collect();
    logits_match_cpu(gm, inputs);
}

/// Next-token logits of the GPU against the CPU model dequantized to f32 (F32_BOUND, same top-1)
/// and the quantized CPU path (QUANT_BOUND; same top-1 unless its 8-bit activations flip a
/// near-tie of its own f32 model), on each of `inputs`.
fn logits_match_cpu(gm: &GpuLlama, inputs: Vec<Vec<u32>>) {
    let cpu = &model().llama;
    println!("prompt tokens | GPU−CPU f32 | GPU−CPU Q8 acts | CPU Q8 acts−CPU f32 | top-1 margin | top-1 GPU / CPU Q8");
    for ids in inputs {
        let g = gpu_logits(gm, &[&ids], &GpuSteering::none());
        let f = cpu_logits(cpu_f32(), &[&ids], &Steering::none());
        let q = cpu_logits(cpu, &[&ids], &Steering::none());
        let (df, dq, dcpu) = (max_diff(&g, &f), max_diff(&g, &q), max_diff(&q, &f));
        let (top, top_q) = (argmax(&g), argmax(&q));
        let mut sorted = g.clone();
        sorted.sort_by(|a, b| b.total_cmp(a));
        println!(
            "{:>13} | {df:>11.2e} | {dq:>15.3} | {dcpu:>19.3} | {:>12.3} | {top} / {top_q}",
            ids.len(),
            sorted[0] - sorted[1]
        );
        assert!(df <= F32_BOUND, "GPU vs CPU f32: max |Δlogit| {df} > {F32_BOUND}");
        assert!(dq <= QUANT_BOUND, "GPU vs CPU quantized: max |Δlogit| {dq} > {QUANT_BOUND}");
        assert_eq!(top, argmax(&f), "top-1 differs from the CPU f32 model");
        if top_q == argmax(&f) {
            assert_eq!(top, top_q, "top-1 differs from the quantized CPU model");
        } else {
            let flip = q[top_q] - q[top];
            println!("  the quantized CPU path flips a near-tie of its own f32 model by {flip:.3}");
            assert!(flip <= QUANT_BOUND, "the quantized CPU prefers {top_q} by {flip}");
        }
    }
}

/// The tiny synthetic model (4 heads over 2 KV heads of 16, an F32 tied embedding): another
/// geometry and the F32 weight path, against its CPU f32 model.
#[test]
fn tiny_model_matches_cpu() {
    let Some(g) = gpu() else { return };
    let bytes = tiny::tiny_llama("llama");
    let gm = load_on(g, &bytes);
    let mut cpu = Llama::load(&Gguf::parse(&bytes).unwrap()).unwrap();
    cpu.to_f32().unwrap();
    let ids: Vec<u32> = (0..50).map(|i| (i * 7 % 38) as u32).collect();
    let d = max_diff(
        &gpu_logits(&gm, &[&ids[..30], &ids[30..]], &GpuSteering::none()),
        &cpu_logits(&cpu, &[&ids[..30], &ids[30..]], &Steering::none()),
    );
    println!("tiny model: max |Δlogit| {d:e}");
    assert!(d <= 1e-4, "{d}");
}

/// Chunked prefill (16-token chunks), token-by-token decode and one-shot prefill give the same
/// bits: every kernel computes a row the same way whatever the rows around it.
#[test]
fn chunking_and_decode_are_exact() {
    let Some(gm) = gpu_model() else { return };
    let small = open(&GpuOptions { chunk: 16, ..GpuOptions::default() }).unwrap();
    let chunked = load_on(&small, model_bytes());
    let ids = chat("Tell me a short story about a lighthouse keeper and a storm at sea.");
    assert!(ids.len() > 40);
    let whole = gpu_logits(gm, &[&ids], &GpuSteering::none());
    assert_eq!(gpu_logits(&chunked, &[&ids], &GpuSteering::none()), whole, "16-token chunks");
    let n = ids.len();
    let steps: Vec<&[u32]> = [&ids[..n - 3]].into_iter().chain((n - 3..n).map(|i| &ids[i..i + 1])).collect();
    assert_eq!(gpu_logits(gm, &steps, &GpuSteering::none()), whole, "decode one token at a time");
}

/// Lower buffer limits split the 30 MB embedding / output head into parts and the logits
/// buffer into batches: the same bits. A limit no row fits is refused, naming the limit.
#[test]
fn split_weights_are_exact_and_limits_are_named() {
    let Some(gm) = gpu_model() else { return };
    let ids = chat("Name a color.");
    let targets: Vec<u32> = ids[1..].to_vec();
    let readout = Readout { logits: true, targets, ..Readout::default() };
    let run = |m: &GpuLlama| {
        block_on(m.forward(&ids[..ids.len() - 1], &mut m.cache(), &GpuSteering::none(), &readout)).unwrap()
    };
    let want = run(gm);
    for opts in [
        GpuOptions { max_storage_buffer_binding_size: Some(8 << 20), ..GpuOptions::default() },
        GpuOptions { max_buffer_size: Some(8 << 20), ..GpuOptions::default() },
    ] {
        let g = open(&opts).unwrap();
        let split = run(&load_on(&g, model_bytes()));
        assert_eq!(split.logits, want.logits, "{opts:?}");
        assert_eq!(split.target_logprobs, want.target_logprobs, "{opts:?}");
    }
    let g = open(&GpuOptions { max_storage_buffer_binding_size: Some(1000), ..GpuOptions::default() }).unwrap();
    let err = block_on(GpuLlama::load(&g, &Gguf::parse(model_bytes()).unwrap())).err().expect("refused").to_string();
    println!("{err}");
    assert!(err.contains("max_storage_buffer_binding_size"), "{err}");
}

fn random_tensor(rng: &mut Rng, shape: &[usize], scale: f32) -> Tensor {
    tensor(&rng.scaled_vec(shape.iter().product(), scale), shape)
}

/// The edits of one site: (name, edit, strength), every kind.
fn edits(rng: &mut Rng, c: &steerscope::model::Config, site: Site) -> Vec<(&'static str, Edit, f32)> {
    let (w, src) = (site.width(c), site.source_width(c));
    vec![
        ("add", Edit::AddVector(random_tensor(rng, &[w], 1.0)), 4.0),
        ("project-out", Edit::ProjectOut(random_tensor(rng, &[w], 1.0)), 1.0),
        ("clamp", Edit::Clamp(random_tensor(rng, &[w], 1.0)), 0.5),
        ("low-rank", Edit::LowRank { a: random_tensor(rng, &[4, src], 0.1), b: random_tensor(rng, &[w, 4], 0.1) }, 3.0),
        (
            "dense",
            Edit::Dense { w: random_tensor(rng, &[w, src], 0.03), bias: Some(random_tensor(rng, &[w], 0.5)) },
            2.0,
        ),
    ]
}

/// One steered case over a prompt call then a completion call: the GPU's next-token
/// log-probabilities against each CPU model in `cpus` (with its bound), the steering must move
/// the first CPU model's by more than 10× the GPU's distance to it (so a skipped edit fails), and the site's
/// activations recorded on the GPU during the prompt call match the first CPU model's.
fn steered_case(
    gm: &GpuLlama, cpus: &[(&Llama, f32)], prompt: &[u32], completion: &[u32], iv: Intervention, label: &str,
) {
    // A prompt-only edit at the last layer cannot reach the logits after the completion (no
    // later layer attends to the prompt's edited rows): there the CPU must not move at all.
    let reaches = !(iv.positions == Positions::Prompt && iv.layer + 1 == cpus[0].0.config.n_layers);
    let (layer, site) = (iv.layer, iv.site);
    let steering = Steering::none().with(iv).recording(layer, site);
    let gs = GpuSteering::new(gm, &steering).unwrap();
    let mut cache = gm.cache();
    let first = block_on(gm.forward(prompt, &mut cache, &gs, &Readout::default())).unwrap();
    let g = log_softmax(&block_on(gm.next_logits(completion, &mut cache, &gs)).unwrap());
    let (cpu, _) = cpus[0];
    let base = log_softmax(&cpu_logits(cpu, &[prompt, completion], &Steering::none()));
    let mut line = format!("{label:<36}");
    for (i, &(cpu, bound)) in cpus.iter().enumerate() {
        let want = log_softmax(&cpu_logits(cpu, &[prompt, completion], &steering));
        let d = max_diff(&g, &want);
        line += &format!(" | GPU−CPU{i} {d:.2e}");
        assert!(d <= bound, "{label}: GPU vs CPU model {i}: {d} > {bound}");
        if i == 0 {
            let moved = max_diff(&want, &base);
            line += &format!(" | moved {moved:.3}");
            if reaches {
                // Had the GPU skipped the edit, its distance to the steered CPU would be `moved`.
                assert!(moved > 10.0 * d, "{label}: the edit moved {moved}, not clearly more than GPU−CPU {d}");
            } else {
                assert_eq!(moved, 0.0, "{label}: a prompt-only edit at the last layer moved the completion's logits");
            }
        }
    }
    println!("{line}");
    let want: Vec<f32> = cpu.forward(prompt, &mut Cache::new(), &steering).unwrap().recorded[0]
        .flatten_all()
        .unwrap()
        .to_vec1()
        .unwrap();
    let scale = max_abs(&want).max(1.0);
    let d = max_diff(&first.recorded[0], &want);
    assert!(d <= 1e-4 * scale, "{label}: recorded activations differ by {d} (scale {scale})");
}

/// Every site × every edit (vector, project-out, clamp, low-rank, dense with bias) × every
/// position mask, on the tiny model (f32 weights: the CPU path is the same arithmetic, bound as
/// in `tiny_model_matches_cpu`). The real model runs the representative subset in
/// `steering_on_the_real_model` (each case there costs minutes on a software GPU).
#[test]
fn steering_every_site_edit_and_mask_on_tiny() {
    let Some(g) = gpu() else { return };
    let bytes = tiny::tiny_llama("llama");
    let gm = load_on(g, &bytes);
    let mut cpu = Llama::load(&Gguf::parse(&bytes).unwrap()).unwrap();
    cpu.to_f32().unwrap();
    let c = cpu.config.clone();
    let prompt: Vec<u32> = (0..20).map(|i| (i * 7 % 36) as u32).collect();
    let completion: Vec<u32> = (0..9).map(|i| (i * 5 % 36) as u32).collect();
    let masks = [Positions::All, Positions::Prompt, Positions::Completion, Positions::From(prompt.len() - 4)];
    let mut rng = Rng::new(11);
    for layer in [0, c.n_layers - 1] {
        for site in Site::ALL {
            for (name, edit, strength) in edits(&mut rng, &c, site) {
                for mask in masks {
                    let iv = Intervention::new(&c, layer, site, edit.clone(), strength).unwrap().at(mask);
                    let label = format!("L{layer} {site} {name} {}", mask.name());
                    steered_case(&gm, &[(&cpu, 1e-4)], &prompt, &completion, iv, &label);
                }
            }
        }
    }
}

/// On the real model: every site with a different edit kind (all five kinds covered) and the
/// masks in turn, against the CPU model dequantized to f32 (F32_BOUND) and the quantized CPU
/// path (QUANT_BOUND).
#[test]
fn steering_on_the_real_model() {
    let Some(gm) = gpu_model() else { return };
    let c = &model().llama.config;
    let prompt = chat("Describe a rainy afternoon.");
    let completion = model().tokenizer.encode_continuation("It was grey and quiet,").unwrap();
    let masks = [Positions::Completion, Positions::All, Positions::From(prompt.len() - 4), Positions::Prompt];
    let mut rng = Rng::new(12);
    let cases = [(Site::Residual, 0), (Site::MlpMid, 1), (Site::AttnOut, 2), (Site::MlpOut, 3), (Site::Residual, 4)];
    for (i, &(site, kind)) in cases.iter().enumerate() {
        let (name, edit, strength) = edits(&mut rng, c, site).swap_remove(kind);
        let mask = masks[i % masks.len()];
        let iv = Intervention::new(c, 12, site, edit, strength).unwrap().at(mask);
        let label = format!("L12 {site} {name} {}", mask.name());
        steered_case(gm, &[(cpu_f32(), F32_BOUND), (&model().llama, QUANT_BOUND)], &prompt, &completion, iv, &label);
    }
}

/// Scoring: a completion's per-token log-probabilities after a shared prefix cache, against the
/// CPU f32 model; and the sweep path — layers below ℓ once (stream kept on the GPU), layers
/// ℓ.. per strength — giving the same bits as the full forward pass.
#[test]
fn scoring_and_layer_split() {
    let Some(gm) = gpu_model() else { return };
    let c = &model().llama.config;
    let n = c.n_layers;
    let prompt = chat("Tell me about your weekend.");
    let completion = model().tokenizer.encode_continuation("I went hiking with friends.").unwrap();
    let layer = 15;
    let mut rng = Rng::new(12);
    let iv =
        Intervention::new(c, layer, Site::Residual, Edit::AddVector(random_tensor(&mut rng, &[c.hidden], 1.0)), 3.0)
            .unwrap();
    let steering = Steering::none().with(iv);
    let gs = GpuSteering::new(gm, &steering).unwrap();
    // GPU scoring with a shared prefix.
    let mut prefix = gm.cache();
    block_on(gm.forward(&prompt, &mut prefix, &gs, &Readout::default())).unwrap();
    let got = block_on(gm.completion_logprobs(&prefix, &completion, &gs)).unwrap();
    assert_eq!(prefix.pos, prompt.len(), "the prefix is left as it was");
    // CPU f32: rows predicting each completion token.
    let f = cpu_f32();
    let mut cache = Cache::new();
    let hp = f.forward(&prompt, &mut cache, &steering).unwrap().hidden;
    let last = hp.i(hp.dim(0).unwrap() - 1..).unwrap();
    let hc = f.forward(&completion[..completion.len() - 1], &mut cache, &steering).unwrap().hidden;
    let rows = Tensor::cat(&[&last, &hc], 0).unwrap();
    let want = steerscope::model::llama::target_logprobs(&f.logits(&rows).unwrap(), &completion).unwrap();
    let d = max_diff(&got, &want);
    println!("completion log-probs: GPU vs CPU f32 max |Δ| {d:e}");
    assert!(d <= F32_BOUND, "{d}");
    // Head only: the first completion token from the prefix's last state.
    let one = Readout { targets: vec![completion[0]], ..Readout::default() };
    let first = block_on(gm.forward(&[], &mut prefix.clone(), &gs, &one)).unwrap().target_logprobs;
    assert_eq!(first[0], got[0]);

    // The sweep path, as model::pairs::Prepared does it on the CPU.
    let none = GpuSteering::none();
    let keep = Readout { stream: true, ..Readout::default() };
    let mut lower = gm.cache();
    let p_stream =
        block_on(gm.run(Input::Tokens(&prompt), 0..layer, &mut lower, &none, &keep)).unwrap().stream.unwrap();
    let inputs = &completion[..completion.len() - 1];
    let c_stream =
        block_on(gm.run(Input::Tokens(inputs), 0..layer, &mut lower.clone(), &none, &keep)).unwrap().stream.unwrap();
    let mut upper = gm.cache();
    block_on(gm.run(Input::Stream(&p_stream), layer..n, &mut upper, &gs, &Readout::default())).unwrap();
    let scored = Readout { targets: completion.clone(), ..Readout::default() };
    let split = block_on(gm.run(Input::Stream(&c_stream), layer..n, &mut upper.clone(), &gs, &scored)).unwrap();
    assert_eq!(split.target_logprobs, got, "layers split at {layer} vs one pass");
}

/// A lost device is `Error::DeviceLost`, whether it goes mid-run or between calls, and the
/// computation can then finish on the CPU with the same result. On the tiny model, so calls are
/// short and the destroy (from another thread, 30 ms in) lands among them — mid-submission or
/// between two, as the scheduler has it; every call after it must be `DeviceLost`, none may hang.
#[test]
fn device_loss_is_a_typed_error() {
    let Some(_) = gpu() else { return };
    let g = open(&GpuOptions::default()).unwrap();
    let bytes = tiny::tiny_llama("llama");
    let gm = load_on(&g, &bytes);
    let ids: Vec<u32> = (0..40).map(|i| (i * 5 % 38) as u32).collect();
    let before = gpu_logits(&gm, &[&ids], &GpuSteering::none());
    let destroyer = {
        let g = g.clone();
        std::thread::spawn(move || {
            std::thread::sleep(std::time::Duration::from_millis(30));
            g.destroy();
        })
    };
    let mut calls = 0;
    let err = loop {
        calls += 1;
        match block_on(gm.next_logits(&ids, &mut gm.cache(), &GpuSteering::none())) {
            Ok(l) => assert_eq!(l, before, "call {calls} before the loss"),
            Err(e) => break e,
        }
        assert!(calls < 100_000, "the device was destroyed but calls still succeed");
    };
    destroyer.join().unwrap();
    assert!(matches!(err, Error::DeviceLost(_)), "the loss gave another error: {err}");
    println!("lost after {calls} calls: {err}");
    assert!(g.is_lost());
    let after = block_on(gm.next_logits(&ids[..4], &mut gm.cache(), &GpuSteering::none()));
    assert!(matches!(after, Err(Error::DeviceLost(_))), "after the loss: {:?}", after.err());
    // The fallback: the same computation on the CPU, the same logits within float rounding.
    let mut cpu = Llama::load(&Gguf::parse(&bytes).unwrap()).unwrap();
    cpu.to_f32().unwrap();
    let d = max_diff(&cpu_logits(&cpu, &[&ids], &Steering::none()), &before);
    assert!(d <= 1e-4, "{d}");
}

/// A copy of the tiny model with `blk.0.attn_q.weight` stored as Q4_0, a type the GPU does not read.
fn tiny_with_q4_0() -> Vec<u8> {
    let bytes = tiny::tiny_llama("llama");
    let g = Gguf::parse(&bytes).unwrap();
    let mut w = Writer::new();
    for (k, v) in &g.metadata {
        w.meta(k, v.clone());
    }
    for t in &g.tensors {
        if t.name == "blk.0.attn_q.weight" {
            let blocks = (t.n_elements() / 32) as usize;
            w.tensor(&t.name, &t.dims, TensorType::Q4_0, vec![0u8; blocks * 18]);
        } else {
            w.tensor(&t.name, &t.dims, t.ttype, g.data(t).to_vec());
        }
    }
    w.to_bytes()
}

#[test]
fn bad_input_is_refused_by_name() {
    let Some(g) = gpu() else { return };
    let bytes = tiny_with_q4_0();
    let err = block_on(GpuLlama::load(g, &Gguf::parse(&bytes).unwrap())).err().expect("refused").to_string();
    assert!(err.contains("Q4_0") && err.contains("blk.0.attn_q.weight"), "{err}");
    let gm = load_on(g, &tiny::tiny_llama("llama"));
    let c = gm.config().clone();
    let none = GpuSteering::none();
    let fwd =
        |ids: &[u32], r: &Readout| block_on(gm.forward(ids, &mut gm.cache(), &none, r)).err().map(|e| e.to_string());
    assert_eq!(fwd(&[], &Readout::default()), Some(Error::EmptyPrompt.to_string()));
    assert!(fwd(&[1, 99], &Readout::default()).unwrap().contains("outside the vocabulary"));
    let long: Vec<u32> = vec![1; c.context + 1];
    assert!(fwd(&long, &Readout::default()).unwrap().contains("more than the model's context"));
    let three = Readout { targets: vec![1, 2, 3], ..Readout::default() };
    assert!(fwd(&[1], &three).unwrap().contains("3 targets for 1 input tokens"));
    let first = Readout { targets: vec![1, 2], ..Readout::default() };
    assert!(fwd(&[1], &first).unwrap().contains("cache whose last call ran every layer"));
    let partial = block_on(gm.run(
        Input::Tokens(&[1, 2]),
        0..1,
        &mut gm.cache(),
        &none,
        &Readout { logits: true, ..Readout::default() },
    ));
    assert!(partial.err().unwrap().to_string().contains("logits need every layer"));
    let rec = GpuSteering::new(&gm, &Steering::none().recording(1, Site::MlpMid)).unwrap();
    let outside = block_on(gm.run(Input::Tokens(&[1, 2]), 0..1, &mut gm.cache(), &rec, &Readout::default()));
    assert!(outside.err().unwrap().to_string().contains("outside the layers run"));
    let bad = Intervention {
        layer: 0,
        site: Site::Residual,
        edit: Edit::AddVector(tensor(&[1.0; 3], &[3])),
        strength: 1.0,
        positions: Positions::All,
    };
    let err = GpuSteering::new(&gm, &Steering::none().with(bad)).err().unwrap();
    assert!(matches!(err, Error::VectorDim { expected: 64, found: 3 }), "{err}");
    let mut s = GpuSteering::none();
    assert!(s.set_strength(0, 1.0).is_err());
    let _: GpuCache = gm.cache();
}

/// `steerscope generate --backend gpu|auto` on the tiny model: the GPU run's greedy tokens are
/// the GPU engine's own (the wiring), the JSON names the backend and the adapter, and `auto`
/// reports both probe times and picks the faster.
#[cfg(feature = "cli")]
#[test]
fn cli_generate_backend() {
    let Some(g) = gpu() else { return };
    let bytes = tiny::tiny_llama("llama");
    let path = std::env::temp_dir().join(format!("steerscope-gpu-cli-{}.gguf", std::process::id()));
    std::fs::write(&path, &bytes).unwrap();
    let run = |backend: &str| -> serde_json::Value {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_steerscope"))
            .args(["--model", path.to_str().unwrap(), "--json", "generate", "--raw", "--prompt", "abcab"])
            .args(["--max-tokens", "6", "--backend", backend])
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        serde_json::from_slice(&out.stdout).unwrap()
    };
    let gpu_run = run("gpu");
    let auto = run("auto");
    std::fs::remove_file(&path).ok();
    println!("{}\n{}", gpu_run["backend"], auto["backend"]);
    assert_eq!(gpu_run["backend"]["backend"], "gpu");
    assert_eq!(gpu_run["backend"]["adapter"]["name"], g.adapter().name.as_str());
    // The same greedy decode through the library.
    let model = steerscope::model::Model::load(&bytes).unwrap();
    let gm = load_on(g, &bytes);
    let mut input = model.tokenizer.encode("abcab").unwrap();
    let mut cache = gm.cache();
    let mut want = Vec::new();
    for _ in 0..6 {
        let next = argmax(&block_on(gm.next_logits(&input, &mut cache, &GpuSteering::none())).unwrap()) as u32;
        if next == model.tokenizer.eos {
            break;
        }
        want.push(next);
        input = vec![next];
    }
    assert_eq!(gpu_run["tokens"], serde_json::json!(want));
    let probe = &auto["backend"]["probe_s"];
    let (cpu_s, gpu_s) = (probe["cpu"].as_f64().unwrap(), probe["gpu"].as_f64().unwrap());
    assert_eq!(auto["backend"]["backend"], if cpu_s <= gpu_s { "cpu" } else { "gpu" });
}

/// The tiny model on the GPU `g` as a sweep session's engine, and on the CPU dequantized to f32
/// (the same arithmetic as the GPU's, up to rounding order).
fn tiny_on_both(g: &Gpu) -> (Rc<dyn PairEngine>, Llama) {
    let bytes = tiny::tiny_llama("llama");
    let mut llama = Llama::load(&Gguf::parse(&bytes).unwrap()).unwrap();
    llama.to_f32().unwrap();
    (Rc::new(GpuEngine(load_on(g, &bytes))), llama)
}

/// Every number of a point: preference, utility, off-manifold score, each pair's two losses.
fn point_numbers(p: &SweepPoint) -> Vec<f32> {
    let mut v = vec![p.point.pref_odds, p.point.util_odds.unwrap_or(f32::NAN), p.off_manifold.unwrap_or(0.0)];
    v.extend(p.pairs.iter().flat_map(|s| [s.lp.sum, s.ln.sum]));
    v
}

/// A sweep session scoring on the GPU (`score_on`, what `sweep --backend gpu` does) against
/// the same session on the CPU, on the tiny model (F32 weights: both paths multiply f32
/// activations, so they differ by float rounding order only, ≤ 1e-4 as its logits): every
/// number of a point — per-pair losses, preference, utility, off-manifold score — at three sites
/// (different widths of the recorded activations), two position masks, layers 1 and 0, the
/// random direction and the shared `m = 0` point.
#[test]
fn tiny_sweep_session_scores_on_the_gpu() {
    use steerscope::steer::methods::Method;
    let Some(g) = gpu() else { return };
    let (engine, llama) = tiny_on_both(g);
    let mut rng = Rng::new(7);
    let mut ids = |n: usize| -> Vec<u32> { (0..n).map(|_| (rng.next_u64() % 38) as u32).collect() };
    let pairs: Vec<PairTokens> =
        (0..6).map(|i| PairTokens { prompt: ids(9 + i), positive: ids(1 + i % 4), negative: ids(2 + i % 3) }).collect();
    let (train, test) = (pairs[..3].to_vec(), pairs[3..].to_vec());
    // Layer 0 too: no layer below it, the GPU's streams are the embeddings.
    let cases = [
        (Site::Residual, Positions::All, 1),
        (Site::MlpMid, Positions::Completion, 1),
        (Site::AttnOut, Positions::All, 0),
    ];
    for (site, positions, layer) in cases {
        let mut session = SweepSession::new(&llama, train.clone(), test.clone(), layer).unwrap();
        session.fit(&llama, Method::DiffMean, site, positions, None, 1, |_, _| {}).unwrap();
        let measure = |session: &mut SweepSession| {
            [(Direction::Update, 0.0), (Direction::Update, 3.0), (Direction::Random, 3.0), (Direction::Update, -6.0)]
                .map(|(d, m)| session.point(&llama, Split::Test, d, m, |_, _| {}).unwrap())
        };
        let cpu = measure(&mut session);
        session.score_on(Some(engine.clone()));
        let on_gpu = measure(&mut session);
        for (c, g) in cpu.iter().zip(&on_gpu) {
            let d = max_diff(&point_numbers(c), &point_numbers(g));
            println!("{site} {positions:?} layer {layer} m = {}: CPU vs GPU point, max |Δ| {d:e}", c.point.strength);
            assert!(d <= 1e-4, "{site} m = {}: {d}", c.point.strength);
            assert_eq!(c.pairs.len(), g.pairs.len());
        }
        // Steering moved the numbers (by far more than the bound), on both engines.
        let moved = (on_gpu[1].point.pref_odds - on_gpu[0].point.pref_odds).abs();
        assert!(moved > 1e-2, "{site}: steering moved the GPU's preference by {moved}");
    }
}

/// Every site and every kind of edit (add, project-out, clamp, low-rank, dense) as an update of a
/// sweep session: its point on the GPU equals its point on the CPU (tiny model, F32 weights: the
/// same arithmetic up to rounding order, bound 1e-4 as above), and the edit moved the point.
#[test]
fn tiny_sweep_points_of_every_site_and_edit_match_on_the_gpu() {
    use std::collections::HashMap;
    use steerscope::steer::update::Update;
    let Some(g) = gpu() else { return };
    let (engine, llama) = tiny_on_both(g);
    let pairs: Vec<PairTokens> = (0..4u32)
        .map(|i| PairTokens {
            prompt: (i..i + 9).collect(),
            positive: vec![i + 3, i + 5, i + 1],
            negative: vec![i + 7, i],
        })
        .collect();
    let mut rng = Rng::new(21);
    let mut session = SweepSession::new(&llama, pairs[..2].to_vec(), pairs[2..].to_vec(), 1).unwrap();
    for site in Site::ALL {
        for (name, edit, _) in edits(&mut rng, &llama.config, site) {
            let update = Update { layer: 1, site, edit, positions: Positions::All, meta: HashMap::new() };
            session.set_update(&llama, &update, name).unwrap();
            let mut point = |on: Option<Rc<dyn PairEngine>>, m: f32| {
                session.score_on(on);
                point_numbers(&session.point(&llama, Split::Test, Direction::Update, m, |_, _| {}).unwrap())
            };
            let (cpu, base) = (point(None, 6.0), point(None, 0.0));
            let on_gpu = point(Some(engine.clone()), 6.0);
            let d = max_diff(&cpu, &on_gpu);
            let moved = max_diff(&cpu, &base);
            println!("{site} {name}: CPU vs GPU point max |Δ| {d:e}; the edit moved it by {moved:.3}");
            assert!(d <= 1e-4, "{site} {name}: {d}");
            assert!(moved > 1e-2, "{site} {name}: the edit did not move the point ({moved})");
        }
    }
}

/// A device lost between two points of a session scoring on the GPU: the next point is measured
/// on the CPU — the same bits as a CPU session's — and the session says why it left the GPU.
#[test]
fn tiny_sweep_session_finishes_on_the_cpu_after_a_lost_device() {
    use steerscope::steer::methods::Method;
    let Some(_) = gpu() else { return };
    let own = open(&GpuOptions::default()).unwrap(); // destroyed below: not the shared one
    let (engine, llama) = tiny_on_both(&own);
    let pairs: Vec<PairTokens> = (0..4u32)
        .map(|i| PairTokens { prompt: (i..i + 8).collect(), positive: vec![i + 3, i + 5], negative: vec![i + 7] })
        .collect();
    let session = || {
        let mut s = SweepSession::new(&llama, pairs[..2].to_vec(), pairs[2..].to_vec(), 1).unwrap();
        s.fit(&llama, Method::DiffMean, Site::Residual, Positions::All, None, 1, |_, _| {}).unwrap();
        s
    };
    let mut on_gpu = session();
    on_gpu.score_on(Some(engine));
    on_gpu.point(&llama, Split::Test, Direction::Update, 2.0, |_, _| {}).unwrap();
    assert!(on_gpu.engine_lost().is_none());
    own.destroy();
    let after = on_gpu.point(&llama, Split::Test, Direction::Update, 5.0, |_, _| {}).unwrap();
    let want = session().point(&llama, Split::Test, Direction::Update, 5.0, |_, _| {}).unwrap();
    let lost = on_gpu.engine_lost().expect("the session says it left the GPU");
    println!("after destroy(): {lost}");
    assert!(lost.to_lowercase().contains("lost") || lost.contains("estroy"), "{lost}");
    assert_eq!(format!("{after:?}"), format!("{want:?}"), "the CPU finished the point");
}

/// `steerscope sweep|calibrate --backend gpu|auto` on the tiny model: the JSON names the backend
/// and adapter; the GPU's held-out points are not the CPU's bits (they ran elsewhere) but the
/// same science within the quantized-CPU bound (the CPU rounds activations to 8 bits); `auto`
/// reports both probe times and keeps the faster.
#[cfg(feature = "cli")]
#[test]
fn tiny_cli_sweep_and_calibrate_backend() {
    let Some(g) = gpu() else { return };
    let dir = std::env::temp_dir().join(format!("steerscope-gpu-sweep-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let model = dir.join("tiny.gguf");
    std::fs::write(&model, tiny::tiny_llama("llama")).unwrap();
    let lines = |rows: &[(&str, &str, &str)]| -> String {
        rows.iter()
            .map(|(p, a, b)| format!("{{\"prompt\": \"{p}\", \"positive\": \"{a}\", \"negative\": \"{b}\"}}\n"))
            .collect()
    };
    std::fs::write(
        dir.join("train.jsonl"),
        lines(&[("abcab", "cab", "bca"), ("bcd", "dd", "ab"), ("cade", "ec", "ba")]),
    )
    .unwrap();
    std::fs::write(dir.join("test.jsonl"), lines(&[("dcba", "cab", "bca"), ("eab", "dd", "abc")])).unwrap();
    let run = |command: &str, backend: &str| -> serde_json::Value {
        let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_steerscope"));
        cmd.args(["--model", model.to_str().unwrap(), "--json", command, "--format", "raw", "--backend", backend]);
        cmd.arg("--train").arg(dir.join("train.jsonl")).arg("--test").arg(dir.join("test.jsonl"));
        cmd.arg("--out").arg(dir.join(format!("{command}-{backend}")));
        match command {
            "sweep" => cmd.args(["--layer", "1", "--method", "diffmean", "--strengths=-4,0,4"]),
            _ => cmd.args(["--layers", "0,1", "--strengths=-4,0,4", "--budget", "0.3"]),
        };
        let out = cmd.output().unwrap();
        assert!(out.status.success(), "{command} {backend}: {}", String::from_utf8_lossy(&out.stderr));
        serde_json::from_slice(&out.stdout).unwrap()
    };
    let heldout = |j: &serde_json::Value| -> Vec<f32> {
        let points = j["results"][0]["heldout"]["points"].as_array().unwrap();
        points
            .iter()
            .flat_map(|p| [&p["pref_odds"], &p["util_odds"], &p["off_manifold"]])
            .map(|v| v.as_f64().unwrap() as f32)
            .collect()
    };
    let (cpu, on_gpu, auto) = (run("sweep", "cpu"), run("sweep", "gpu"), run("sweep", "auto"));
    assert_eq!(cpu["backend"]["backend"], "cpu");
    assert_eq!(on_gpu["backend"]["backend"], "gpu");
    assert_eq!(on_gpu["backend"]["adapter"]["name"], g.adapter().name.as_str());
    let (c, gp) = (heldout(&cpu), heldout(&on_gpu));
    let d = max_diff(&c, &gp);
    println!("sweep held-out pref/util: CPU {c:?}\nGPU {gp:?}\nmax |Δ| {d}");
    assert!(c != gp, "the GPU run gave the CPU's bits: it did not run on the GPU");
    assert!(d <= QUANT_BOUND, "{d}");
    let probe = &auto["backend"]["probe_s"];
    let (cpu_s, gpu_s) = (probe["cpu"].as_f64().unwrap(), probe["gpu"].as_f64().unwrap());
    assert_eq!(auto["backend"]["backend"], if cpu_s <= gpu_s { "cpu" } else { "gpu" });
    let (cal_cpu, cal_gpu) = (run("calibrate", "cpu"), run("calibrate", "gpu"));
    assert_eq!(cal_gpu["backend"]["backend"], "gpu");
    let cells = |j: &serde_json::Value| {
        j["cells"].as_array().unwrap().iter().map(|c| c["pref_odds"].as_f64().unwrap() as f32).collect::<Vec<_>>()
    };
    let d = max_diff(&cells(&cal_cpu), &cells(&cal_gpu));
    println!("calibration cells: max |Δ pref| {d}");
    assert!(cells(&cal_cpu).len() == 6 && d <= QUANT_BOUND, "{d}");
    std::fs::remove_dir_all(&dir).ok();
}
