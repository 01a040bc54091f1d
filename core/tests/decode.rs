//! The decode step (one token at a time on the flat KV cache, fused row ops, the team of
//! threads) against the batched forward pass on the real model, its determinism across
//! kernel paths and thread counts, and a generation allocating the KV cache once.
mod common;
use candle_core::{IndexOp, Tensor};
use common::*;
use steerscope::kernels::{self, Isa};
use steerscope::model::generate::{cpu_step, generate_with, sequence_cache, Sampling};
use steerscope::model::{Cache, Edit, Intervention, Model, Site, Steering};

fn last_row_logits(model: &Model, hidden: &Tensor) -> Vec<f32> {
    let n = hidden.dim(0).unwrap();
    model.llama.logits(&hidden.i(n - 1..n).unwrap()).unwrap().squeeze(0).unwrap().to_vec1().unwrap()
}

/// Prefill `prompt`, then feed `extra` one token at a time (the decode step); the logits after
/// each step.
fn decoded(model: &Model, prompt: &[u32], extra: &[u32], steering: &Steering) -> Vec<Vec<f32>> {
    let mut cache = Cache::new();
    model.llama.forward(prompt, &mut cache, steering).unwrap();
    extra
        .iter()
        .map(|&t| last_row_logits(model, &model.llama.forward(&[t], &mut cache, steering).unwrap().hidden))
        .collect()
}

/// The same logits from the batched path: the whole sequence up to each step in one call.
fn batched(model: &Model, prompt: &[u32], extra: &[u32], steering: &Steering) -> Vec<Vec<f32>> {
    (1..=extra.len())
        .map(|n| {
            let ids: Vec<u32> = prompt.iter().chain(&extra[..n]).copied().collect();
            last_row_logits(model, &model.llama.forward(&ids, &mut Cache::new(), steering).unwrap().hidden)
        })
        .collect()
}

fn prompt_and_continuation() -> (Vec<u32>, Vec<u32>) {
    let m = model();
    let prompt = m.tokenizer.encode(&m.chat.prompt(None, "Name three rivers in Europe.")).unwrap();
    let extra = m.tokenizer.encode_continuation("The Danube, the Rhine and the Seine").unwrap();
    (prompt, extra)
}

/// On the model dequantized to f32 nothing rounds activations to 8 bits, so the decode step
/// and the batched path differ only by the attention's summation order: every logit within
/// 1e-3 (logits are O(10); f32 re-association over 30 layers moves them by ~1e-5), steered
/// (a residual vector on the positions after the prompt, a projection at attn_out) and not.
#[test]
fn decode_step_matches_batched_path_on_f32_model() {
    let mut m = Model::load(model_bytes()).unwrap();
    m.llama.to_f32().unwrap();
    let (prompt, extra) = prompt_and_continuation();
    let c = &m.llama.config;
    let steered = Steering::none()
        .with(
            Intervention::new(c, 12, Site::Residual, Edit::AddVector(uniform_tensor(&[576], 4.0, 1)), 1.0)
                .unwrap()
                .at(steerscope::model::sites::Positions::From(prompt.len())),
        )
        .with(Intervention::new(c, 20, Site::AttnOut, Edit::ProjectOut(uniform_tensor(&[576], 1.0, 2)), 1.0).unwrap());
    for steering in [Steering::none(), steered] {
        let (d, b) = (decoded(&m, &prompt, &extra, &steering), batched(&m, &prompt, &extra, &steering));
        for (step, (d, b)) in d.iter().zip(&b).enumerate() {
            let diff = max_diff(d, b);
            assert!(diff <= 1e-3, "{} interventions, step {step}: max |Δlogit| {diff:e}", steering.interventions.len());
        }
    }
}

/// On the quantized model the two paths can round an activation to a neighbouring 8-bit code,
/// which moves logits by up to ~1 (as llama.cpp vs us); the prediction must not change.
#[test]
fn decode_step_predicts_like_batched_path() {
    let m = model();
    let (prompt, extra) = prompt_and_continuation();
    let (d, b) = (decoded(m, &prompt, &extra, &Steering::none()), batched(m, &prompt, &extra, &Steering::none()));
    for (step, (d, b)) in d.iter().zip(&b).enumerate() {
        assert_eq!(argmax(d), argmax(b), "step {step}: top-1 differs (max |Δ| {})", max_diff(d, b));
    }
}

/// Records at every site in the decode step: the same activations as the batched path's last
/// row (f32 model, same bound and reason as above).
#[test]
fn decode_step_records_sites() {
    let mut m = Model::load(model_bytes()).unwrap();
    m.llama.to_f32().unwrap();
    let (prompt, extra) = prompt_and_continuation();
    let mut record = Steering::none();
    for site in Site::ALL {
        record = record.recording(7, site);
    }
    let mut cache = Cache::new();
    m.llama.forward(&prompt, &mut cache, &Steering::none()).unwrap();
    let step = m.llama.forward(&extra[..1], &mut cache, &record).unwrap();
    let ids: Vec<u32> = prompt.iter().chain(&extra[..1]).copied().collect();
    let full = m.llama.forward(&ids, &mut Cache::new(), &record).unwrap();
    for (i, site) in Site::ALL.into_iter().enumerate() {
        let a: Vec<f32> = step.recorded[i].i(0).unwrap().to_vec1().unwrap();
        let b: Vec<f32> = full.recorded[i].i(ids.len() - 1).unwrap().to_vec1().unwrap();
        assert_eq!(a.len(), site.width(&m.llama.config));
        assert!(max_diff(&a, &b) <= 1e-3 * max_abs(&b).max(1.0), "{site}");
    }
}

/// Every kernel path gives the same logits bit for bit (the kernels are exact, the attention is
/// the same code on every instruction set), and so does a team of two threads.
#[test]
fn decode_is_the_same_bits_on_every_path_and_thread_count() {
    let m = model();
    let (prompt, extra) = prompt_and_continuation();
    let none = Steering::none();
    let want = decoded(m, &prompt, &extra[..3], &none);
    for isa in Isa::ALL.into_iter().filter(|i| i.available()) {
        assert_eq!(kernels::force(Some(isa)), isa);
        let got = decoded(m, &prompt, &extra[..3], &none);
        kernels::force(None);
        assert!(got == want, "{isa:?} differs");
    }
    let pool = rayon::ThreadPoolBuilder::new().num_threads(2).build().unwrap();
    let got = pool.install(|| decoded(m, &prompt, &extra[..3], &none));
    assert!(got == want, "two threads differ");
}

/// A cache cloned after the prompt serves two continuations, each the same bits as running it
/// on its own, and the original is left untouched (copy on write).
#[test]
fn cloned_cache_continues_independently() {
    let m = model();
    let (prompt, extra) = prompt_and_continuation();
    let none = Steering::none();
    let mut base = Cache::with_capacity(64);
    m.llama.forward(&prompt, &mut base, &none).unwrap();
    let run = |cache: &mut Cache, ids: &[u32]| last_row_logits(m, &m.llama.forward(ids, cache, &none).unwrap().hidden);
    let (mut a, mut b) = (base.clone(), base.clone());
    let la = run(&mut a, &extra[..2]);
    let lb = run(&mut b, &extra[2..3]);
    let lb2 = run(&mut b, &extra[3..4]);
    let fresh = |ids: &[&[u32]]| {
        let mut c = Cache::new();
        m.llama.forward(&prompt, &mut c, &none).unwrap();
        ids.iter().map(|x| run(&mut c, x)).last().unwrap()
    };
    assert!(la == fresh(&[&extra[..2]]));
    assert!(lb2 == fresh(&[&extra[2..3], &extra[3..4]]));
    assert!(lb == fresh(&[&extra[2..3]]));
    assert_eq!((base.pos, a.pos, b.pos), (prompt.len(), prompt.len() + 2, prompt.len() + 2));
    let again = run(&mut base, &extra[..2]);
    assert!(again == la, "the original cache changed under its clones");
}

/// One generation allocates each layer's KV buffers once: [`sequence_cache`] (what `generate`
/// uses) makes room for the prompt and every token fed back. The same generation on a cache
/// made without room grows them as it goes — and picks the same tokens.
#[test]
fn a_generation_allocates_the_kv_cache_once() {
    let m = model();
    let (prompt, _) = prompt_and_continuation();
    let max_tokens = 24;
    let none = Steering::none();
    let run = |mut cache: Cache| {
        let step = cpu_step(&m.llama, &mut cache, &none);
        let g = generate_with(m, &prompt, max_tokens, Sampling::GREEDY, step, |_| {}, |_, _| {}).unwrap();
        (g.ids, cache.allocations())
    };
    let (ids, once) = run(sequence_cache(m, prompt.len(), max_tokens));
    assert!(ids.len() > 1, "the test needs tokens fed back, got {ids:?}");
    assert_eq!(once, m.llama.config.n_layers, "one allocation per layer");
    let (grown_ids, grown) = run(Cache::new());
    assert!(grown > once, "without room the cache grows ({grown} allocations), so the count can fail");
    assert_eq!(grown_ids, ids);
}
