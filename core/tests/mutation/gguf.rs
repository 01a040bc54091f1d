//! Model files: mutated headers, mutated metadata values and tensors (structure-aware), and
//! mutated tensor data — every file that still loads is run: a short prompt through
//! `generate` (the caller-facing API) and one forward pass whose logits must all be finite.
//!
//! NaN and infinity: a weight that is not finite is refused when the model loads, naming the
//! tensor and element (`Gguf::check_finite`); finite weights can still overflow f32 in the
//! forward pass (a norm gain of 1e38), and then `Llama::logits` — which `generate`, scoring
//! and sweeps all go through — returns an error naming the row and token instead of NaN.
use crate::common::fuzz::{self, interesting_f16_bits, interesting_f32, interesting_string, interesting_u64, Format};
use crate::common::tiny::{tiny_llama, tiny_parts, Parts};
use candle_core::IndexOp;
use steerscope::gguf::{Gguf, TensorType, Value};
use steerscope::model::generate::{generate, Sampling};
use steerscope::model::{Cache, Model, Steering};
use steerscope::rng::Rng;

/// Words a model-file error names its problem with.
pub const MODEL_CONTEXT: &[&str] =
    &["GGUF", "tensor `", "metadata", "tokenizer", "token id", "model", "merge", "vocabulary", "logit"];

/// A loaded model, run: a prompt through `generate` and a forward pass over it. `Err` is a
/// clean refusal; anything wrong that comes back as `Ok` fails an assertion.
pub fn exercise(m: &Model, steering: &Steering) -> Result<(), String> {
    let e = |e: steerscope::Error| e.to_string();
    let vocab = m.llama.config.vocab;
    let ids = m.tokenizer.encode("abcab").map_err(e)?;
    assert!(ids.iter().all(|&t| (t as usize) < vocab), "the tokenizer gave ids outside the vocabulary: {ids:?}");
    let g = generate(m, &ids, 2, Sampling::GREEDY, steering, |_| {}).map_err(e)?;
    assert!(g.ids.iter().all(|&t| (t as usize) < vocab), "generated ids outside the vocabulary: {:?}", g.ids);
    let fwd = m.llama.forward(&ids, &mut Cache::new(), steering).map_err(e)?;
    let logits = m.llama.logits(&fwd.hidden).map_err(e)?;
    let values: Vec<f32> = logits.flatten_all().unwrap().to_vec1().unwrap();
    assert_eq!(values.len(), ids.len() * vocab);
    assert!(values.iter().all(|x| x.is_finite()), "logits came back Ok but not finite");
    let last = m.llama.logits(&fwd.hidden.i(ids.len() - 1..ids.len()).unwrap()).map_err(e)?;
    assert_eq!(last.dims(), [1, vocab]);
    Ok(())
}

fn load_and_run(bytes: &[u8]) -> Result<(), String> {
    let m = Model::load(bytes).map_err(|e| e.to_string())?;
    if let Some(why) = must_refuse(&Gguf::parse(bytes).unwrap()) {
        panic!("loaded a file whose {why}");
    }
    exercise(&m, &Steering::none())
}

/// Why a well-formed GGUF must not load, if it must not: an optional key present with the wrong
/// type (a default used in its place would change the model without a word), or an id outside
/// the vocabulary.
fn must_refuse(g: &Gguf) -> Option<String> {
    let vocab = g.get("tokenizer.ggml.tokens").and_then(Value::as_array).map_or(0, |a| a.len());
    type Typed = (&'static str, fn(&Value) -> bool, &'static str);
    let typed: [Typed; 7] = [
        ("tokenizer.ggml.pre", |v| v.as_str().is_some(), "a string"),
        ("tokenizer.chat_template", |v| v.as_str().is_some(), "a string"),
        ("tokenizer.ggml.token_type", |v| v.as_array().is_some(), "an array"),
        ("tokenizer.ggml.add_bos_token", |v| matches!(v, Value::Bool(_)), "a bool"),
        ("tokenizer.ggml.bos_token_id", |v| v.as_u64().is_some(), "an integer"),
        ("llama.rope.freq_base", |v| v.as_f32().is_some(), "a number"),
        ("llama.attention.layer_norm_rms_epsilon", |v| v.as_f32().is_some(), "a number"),
    ];
    for (key, ok, what) in typed {
        if let Some(v) = g.get(key).filter(|v| !ok(v)) {
            return Some(format!("`{key}` is {}, not {what}", v.summary()));
        }
    }
    for key in ["tokenizer.ggml.bos_token_id", "tokenizer.ggml.eos_token_id"] {
        if let Some(id) = g.get(key).and_then(Value::as_u64).filter(|&id| id as usize >= vocab) {
            return Some(format!("`{key}` is {id}, outside the {vocab}-token vocabulary"));
        }
    }
    let types = g.get("tokenizer.ggml.token_type").and_then(Value::as_array).map(|a| a.len());
    if types.is_some_and(|n| n != vocab) {
        return Some(format!("`tokenizer.ggml.token_type` has {types:?} entries for {vocab} tokens"));
    }
    None
}

/// Loading costs a small multiple of the file (weights are copied once, Q4_1 re-laid out);
/// running adds the activations of 5 tokens, a constant for this model.
fn model_format(name: &str) -> Format<'_> {
    Format { name, factor: 64, constant: 1 << 20, context: MODEL_CONTEXT }
}

/// Where the tensor data begins: the header is everything before.
fn header_end(bytes: &[u8]) -> usize {
    Gguf::parse(bytes).unwrap().tensors.iter().map(|t| t.start).min().unwrap()
}

/// Mutated headers: flipped bytes, huge counts and lengths, bad offsets, truncations.
#[test]
fn mutated_headers_load_or_fail_cleanly() {
    let base = tiny_llama("llama");
    let end = header_end(&base);
    let t = fuzz::run(
        &model_format("GGUF header"),
        2026,
        |rng| {
            let mut f = base.clone();
            let pos = rng.below(end);
            match rng.below(6) {
                0 => f[pos] ^= 1 << rng.below(8),
                1 => f[pos] = rng.next_u64() as u8,
                2 => {
                    let at = pos.min(f.len() - 8);
                    f[at..at + 8].copy_from_slice(&interesting_u64(rng).to_le_bytes());
                }
                3 => f.truncate(pos),
                4 => {
                    let at = pos & !3;
                    f[at..at + 4].copy_from_slice(&(rng.next_u64() as u32).to_le_bytes());
                }
                _ => fuzz::mutate_bytes(rng, &mut f, 4),
            }
            f
        },
        load_and_run,
    );
    assert!(t.rejected > t.inputs / 2, "the mutations should break most headers");
}

/// Mutated weights: NaN, infinities and huge values in F32 tensors and in Q4_1 block scales,
/// random bytes and runs anywhere in the data; every file that loads runs.
#[test]
fn mutated_tensor_data_loads_and_runs_or_fails_cleanly() {
    let base = tiny_llama("llama");
    let ranges: Vec<(usize, usize, TensorType)> =
        Gguf::parse(&base).unwrap().tensors.iter().map(|t| (t.start, t.len, t.ttype)).collect();
    let t = fuzz::run(
        &model_format("GGUF tensor data"),
        7,
        |rng| {
            let mut f = base.clone();
            for _ in 0..1 + rng.below(3) {
                let (start, len, ttype) = ranges[rng.below(ranges.len())];
                match (rng.below(4), ttype) {
                    (0, TensorType::F32) => {
                        let at = start + 4 * rng.below(len / 4);
                        f[at..at + 4].copy_from_slice(&interesting_f32(rng).to_le_bytes());
                    }
                    (0 | 1, TensorType::Q4_1) => {
                        // d or m of a block (a 20-byte block: f16 d, f16 m, 16 bytes of nibbles).
                        let at = start + 20 * rng.below(len / 20) + 2 * rng.below(2);
                        f[at..at + 2].copy_from_slice(&interesting_f16_bits(rng).to_le_bytes());
                    }
                    (1, _) => {
                        let at = start + 4 * rng.below(len / 4);
                        let x = f32::from_le_bytes(f[at..at + 4].try_into().unwrap()) * 1e30;
                        f[at..at + 4].copy_from_slice(&x.to_le_bytes());
                    }
                    (2, _) => {
                        let at = start + rng.below(len);
                        f[at] ^= 1 << rng.below(8);
                    }
                    _ => {
                        let at = start + rng.below(len);
                        let run = (1 + rng.below(64)).min(start + len - at);
                        let b = [0u8, 0xff, 0x7f, rng.next_u64() as u8][rng.below(4)];
                        f[at..at + run].fill(b);
                    }
                }
            }
            f
        },
        load_and_run,
    );
    assert!(t.accepted > t.inputs / 10, "most weight mutations should still load and run");
    assert!(t.rejected > t.inputs / 10, "non-finite weights should be refused");
}

/// One structure-aware change to a metadata value: another type, another number, another
/// string, an array emptied or grown, the key dropped or duplicated.
fn mutate_meta(rng: &mut Rng, p: &mut Parts) {
    let i = rng.below(p.meta.len());
    match rng.below(9) {
        0 => {
            p.meta.remove(i);
        }
        1 => {
            let dup = p.meta[i].clone();
            p.meta.insert(rng.below(p.meta.len() + 1), dup);
        }
        2 => p.meta[i].1 = Value::String(interesting_string(rng)),
        3 => {
            let v = interesting_u64(rng);
            p.meta[i].1 =
                [Value::U64(v), Value::U32(v as u32), Value::I32(v as i32), Value::I64(v as i64), Value::U8(v as u8)]
                    [rng.below(5)]
                .clone()
        }
        4 => p.meta[i].1 = Value::F32(interesting_f32(rng)),
        5 => p.meta[i].1 = [Value::Bool(true), Value::Array(vec![]), Value::F64(f64::NAN)][rng.below(3)].clone(),
        6 => p.meta[i].0 = interesting_string(rng),
        7 => {
            if let Value::Array(items) = &mut p.meta[i].1 {
                match rng.below(4) {
                    0 if !items.is_empty() => {
                        items.remove(rng.below(items.len()));
                    }
                    1 if !items.is_empty() => {
                        let at = rng.below(items.len());
                        items[at] = Value::String(interesting_string(rng));
                    }
                    2 if !items.is_empty() => {
                        let at = rng.below(items.len());
                        items[at] = Value::I32(interesting_u64(rng) as i32);
                    }
                    _ => {
                        let extra = items.first().cloned().unwrap_or(Value::U8(0));
                        items.extend(std::iter::repeat_n(extra, 1 + rng.below(300)));
                    }
                }
            }
        }
        _ => {
            // A small number nudged: layer, head and width counts off by one or halved.
            if let Some(v) = p.meta[i].1.as_u64() {
                let w = [v.wrapping_sub(1), v + 1, v / 2, v * 2, 0][rng.below(5)];
                p.meta[i].1 = Value::U32(w as u32);
            }
        }
    }
}

/// One structure-aware change to a tensor: dropped, duplicated, renamed, reshaped, retyped or
/// its data cut short.
fn mutate_tensor(rng: &mut Rng, p: &mut Parts) {
    let i = rng.below(p.tensors.len());
    match rng.below(7) {
        0 => {
            p.tensors.remove(i);
        }
        1 => {
            let dup = p.tensors[i].clone();
            p.tensors.push(dup);
        }
        2 => p.tensors[i].0 = ["blk.9.attn_q.weight", "output.weight", "", "token_embd.weight"][rng.below(4)].into(),
        3 => {
            let dims = &mut p.tensors[i].1;
            let d = rng.below(dims.len());
            dims[d] = [0, 1, 32, dims[d] * 2, dims[d] / 2, interesting_u64(rng)][rng.below(6)];
        }
        4 => {
            let dims = &mut p.tensors[i].1;
            match dims.len() {
                1 => dims.push(1),
                _ => dims.reverse(),
            }
        }
        5 => {
            // Another type over the same bytes: the sizes disagree unless the writer pads.
            p.tensors[i].2 =
                [TensorType::F32, TensorType::F16, TensorType::Q4_1, TensorType::Q8_0, TensorType::BF16][rng.below(5)];
        }
        _ => {
            let data = &mut p.tensors[i].3;
            data.truncate(rng.below(data.len() + 1));
        }
    }
}

/// Metadata and tensors changed as values, then written as a well-formed GGUF: every check
/// after the reader (config, shapes, tokenizer, the forward pass) is reached.
#[test]
fn mutated_metadata_and_tensors_load_and_run_or_fail_cleanly() {
    let base = tiny_parts("llama");
    let t = fuzz::run(
        &model_format("GGUF metadata and tensors"),
        11,
        |rng| {
            let mut p = base.clone();
            for _ in 0..1 + rng.below(2) {
                if rng.below(3) == 0 {
                    mutate_tensor(rng, &mut p)
                } else {
                    mutate_meta(rng, &mut p)
                }
            }
            p.to_bytes()
        },
        load_and_run,
    );
    assert!(t.accepted > 0 && t.rejected > t.inputs / 4, "{} accepted, {} rejected", t.accepted, t.rejected);
}
