//! A tiny synthetic llama GGUF (random weights, a 40-token byte-level vocabulary), written with
//! our own GGUF writer: small enough to load thousands of times in the mutation test.
use steerscope::gguf::{TensorType, Value, Writer};
use steerscope::kernels::q4_1::Q4_1Matrix;

pub struct Tiny {
    pub hidden: usize,
    pub ffn: usize,
    pub layers: usize,
    pub vocab: usize,
}

pub const TINY: Tiny = Tiny { hidden: 64, ffn: 128, layers: 2, vocab: 40 };

fn random(n: usize, seed: &mut u64, scale: f32) -> Vec<f32> {
    (0..n)
        .map(|_| {
            *seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            ((*seed >> 40) as f32 / (1u64 << 24) as f32 * 2.0 - 1.0) * scale
        })
        .collect()
}

pub fn tiny_llama(arch: &str) -> Vec<u8> {
    let t = TINY;
    let mut seed = 42;
    let mut w = Writer::new();
    let s = |x: &str| Value::String(x.into());
    let mut tokens: Vec<Value> =
        (0..t.vocab - 2).map(|i| s(&((b'a' + (i % 26) as u8) as char).to_string().repeat(1 + i / 26))).collect();
    tokens.push(s("<|im_start|>"));
    tokens.push(s("<|im_end|>"));
    let types: Vec<Value> = (0..t.vocab).map(|i| Value::I32(if i >= t.vocab - 2 { 3 } else { 1 })).collect();
    w.meta("general.architecture", s(arch))
        .meta(&format!("{arch}.block_count"), Value::U32(t.layers as u32))
        .meta(&format!("{arch}.embedding_length"), Value::U32(t.hidden as u32))
        .meta(&format!("{arch}.feed_forward_length"), Value::U32(t.ffn as u32))
        .meta(&format!("{arch}.attention.head_count"), Value::U32(4))
        .meta(&format!("{arch}.attention.head_count_kv"), Value::U32(2))
        .meta(&format!("{arch}.context_length"), Value::U32(64))
        .meta(&format!("{arch}.rope.freq_base"), Value::F32(10000.0))
        .meta("tokenizer.ggml.model", s("gpt2"))
        .meta("tokenizer.ggml.pre", s("smollm"))
        .meta("tokenizer.ggml.tokens", Value::Array(tokens))
        .meta("tokenizer.ggml.token_type", Value::Array(types))
        .meta("tokenizer.ggml.merges", Value::Array(vec![s("a a")]))
        .meta("tokenizer.ggml.eos_token_id", Value::U32(t.vocab as u32 - 1));
    let f32_bytes = |v: Vec<f32>| v.iter().flat_map(|x| x.to_le_bytes()).collect::<Vec<u8>>();
    let mut q4 = |name: &str, rows: usize, cols: usize, w: &mut Writer| {
        let data = Q4_1Matrix::quantize_to_gguf_bytes(&random(rows * cols, &mut seed, 0.3));
        w.tensor(name, &[cols as u64, rows as u64], TensorType::Q4_1, data);
    };
    let kv = t.hidden / 2;
    for i in 0..t.layers {
        q4(&format!("blk.{i}.attn_q.weight"), t.hidden, t.hidden, &mut w);
        q4(&format!("blk.{i}.attn_k.weight"), kv, t.hidden, &mut w);
        q4(&format!("blk.{i}.attn_v.weight"), kv, t.hidden, &mut w);
        q4(&format!("blk.{i}.attn_output.weight"), t.hidden, t.hidden, &mut w);
        q4(&format!("blk.{i}.ffn_gate.weight"), t.ffn, t.hidden, &mut w);
        q4(&format!("blk.{i}.ffn_up.weight"), t.ffn, t.hidden, &mut w);
        q4(&format!("blk.{i}.ffn_down.weight"), t.hidden, t.ffn, &mut w);
        w.tensor(
            &format!("blk.{i}.attn_norm.weight"),
            &[t.hidden as u64],
            TensorType::F32,
            f32_bytes(vec![1.0; t.hidden]),
        );
        w.tensor(
            &format!("blk.{i}.ffn_norm.weight"),
            &[t.hidden as u64],
            TensorType::F32,
            f32_bytes(vec![1.0; t.hidden]),
        );
    }
    let mut seed2 = 7;
    w.tensor(
        "token_embd.weight",
        &[t.hidden as u64, t.vocab as u64],
        TensorType::F32,
        f32_bytes(random(t.vocab * t.hidden, &mut seed2, 1.0)),
    );
    w.tensor("output_norm.weight", &[t.hidden as u64], TensorType::F32, f32_bytes(vec![1.0; t.hidden]));
    w.to_bytes()
}
