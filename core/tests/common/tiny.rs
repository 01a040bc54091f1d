//! A tiny synthetic llama GGUF (seeded random weights, a 40-token byte-level vocabulary),
//! written with our own GGUF writer: small enough to load — and run — thousands of times in the
//! mutation tests. [`tiny_parts`] gives its metadata and tensors before writing, so a test can
//! change any of them.
use steerscope::gguf::{TensorType, Value, Writer};
use steerscope::kernels::q4_1::Q4_1Matrix;
use steerscope::rng::Rng;

pub struct Tiny {
    pub hidden: usize,
    pub ffn: usize,
    pub layers: usize,
    pub vocab: usize,
}

pub const TINY: Tiny = Tiny { hidden: 64, ffn: 128, layers: 2, vocab: 40 };

/// A GGUF file before it is written: metadata in order, and tensors as
/// `(name, dims in ggml order, type, data)`.
#[derive(Clone)]
pub struct Parts {
    pub meta: Vec<(String, Value)>,
    pub tensors: Vec<(String, Vec<u64>, TensorType, Vec<u8>)>,
}

impl Parts {
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut w = Writer::new();
        for (k, v) in &self.meta {
            w.meta(k, v.clone());
        }
        for (name, dims, ttype, data) in &self.tensors {
            w.tensor(name, dims, *ttype, data.clone());
        }
        w.to_bytes()
    }
}

fn uniform(rng: &mut Rng, n: usize, scale: f32) -> Vec<f32> {
    (0..n).map(|_| (rng.uniform() * 2.0 - 1.0) * scale).collect()
}

fn f32_bytes(v: &[f32]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}

/// Token `i` of the tiny vocabulary: `a`…`z`, then `aa`…`ll`, then the two ChatML markers.
pub fn token(i: usize) -> String {
    let t = TINY;
    match i {
        i if i == t.vocab - 2 => "<|im_start|>".into(),
        i if i == t.vocab - 1 => "<|im_end|>".into(),
        i => ((b'a' + (i % 26) as u8) as char).to_string().repeat(1 + i / 26),
    }
}

/// The tiny model's metadata and tensors, with `general.architecture = arch`.
pub fn tiny_parts(arch: &str) -> Parts {
    let t = TINY;
    let s = |x: &str| Value::String(x.into());
    let tokens: Vec<Value> = (0..t.vocab).map(|i| s(&token(i))).collect();
    let types: Vec<Value> = (0..t.vocab).map(|i| Value::I32(if i >= t.vocab - 2 { 3 } else { 1 })).collect();
    let meta = vec![
        ("general.architecture".into(), s(arch)),
        (format!("{arch}.block_count"), Value::U32(t.layers as u32)),
        (format!("{arch}.embedding_length"), Value::U32(t.hidden as u32)),
        (format!("{arch}.feed_forward_length"), Value::U32(t.ffn as u32)),
        (format!("{arch}.attention.head_count"), Value::U32(4)),
        (format!("{arch}.attention.head_count_kv"), Value::U32(2)),
        (format!("{arch}.context_length"), Value::U32(64)),
        (format!("{arch}.rope.freq_base"), Value::F32(10000.0)),
        ("tokenizer.ggml.model".into(), s("gpt2")),
        ("tokenizer.ggml.pre".into(), s("smollm")),
        ("tokenizer.ggml.tokens".into(), Value::Array(tokens)),
        ("tokenizer.ggml.token_type".into(), Value::Array(types)),
        ("tokenizer.ggml.merges".into(), Value::Array(vec![s("a a")])),
        ("tokenizer.ggml.eos_token_id".into(), Value::U32(t.vocab as u32 - 1)),
    ];
    let mut rng = Rng::new(42);
    let mut tensors = Vec::new();
    let mut q4 = |name: String, rows: usize, cols: usize, tensors: &mut Vec<_>| {
        let data = Q4_1Matrix::quantize_to_gguf_bytes(&uniform(&mut rng, rows * cols, 0.3));
        tensors.push((name, vec![cols as u64, rows as u64], TensorType::Q4_1, data));
    };
    let ones = f32_bytes(&vec![1.0; t.hidden]);
    let kv = t.hidden / 2;
    for i in 0..t.layers {
        q4(format!("blk.{i}.attn_q.weight"), t.hidden, t.hidden, &mut tensors);
        q4(format!("blk.{i}.attn_k.weight"), kv, t.hidden, &mut tensors);
        q4(format!("blk.{i}.attn_v.weight"), kv, t.hidden, &mut tensors);
        q4(format!("blk.{i}.attn_output.weight"), t.hidden, t.hidden, &mut tensors);
        q4(format!("blk.{i}.ffn_gate.weight"), t.ffn, t.hidden, &mut tensors);
        q4(format!("blk.{i}.ffn_up.weight"), t.ffn, t.hidden, &mut tensors);
        q4(format!("blk.{i}.ffn_down.weight"), t.hidden, t.ffn, &mut tensors);
        for norm in ["attn_norm", "ffn_norm"] {
            tensors.push((format!("blk.{i}.{norm}.weight"), vec![t.hidden as u64], TensorType::F32, ones.clone()));
        }
    }
    let embedding = uniform(&mut Rng::new(7), t.vocab * t.hidden, 1.0);
    tensors.push((
        "token_embd.weight".into(),
        vec![t.hidden as u64, t.vocab as u64],
        TensorType::F32,
        f32_bytes(&embedding),
    ));
    tensors.push(("output_norm.weight".into(), vec![t.hidden as u64], TensorType::F32, ones));
    Parts { meta, tensors }
}

/// The tiny model as GGUF bytes.
pub fn tiny_llama(arch: &str) -> Vec<u8> {
    tiny_parts(arch).to_bytes()
}
