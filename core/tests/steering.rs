//! Steering sites on the real model: off == baseline, "steering is a weight update" (a residual
//! vector gives the same bits as the vector folded into the down-projection bias), and every
//! edit form at every site against its direct weight-space counterpart.
mod common;
use candle_core::{DType, Device, IndexOp, Tensor};
use common::*;
use steerscope::model::sites::Operation;
use steerscope::model::{Cache, Edit, Intervention, Model, Site, Steering};

fn last(model: &Model, ids: &[u32], steering: &Steering) -> Vec<f32> {
    last_logits(&model.llama, ids, steering)
}

fn prompt() -> Vec<u32> {
    let m = model();
    m.tokenizer.encode(&m.chat.prompt(None, "Describe a rainy afternoon.")).unwrap()
}

#[test]
fn steering_off_is_bit_identical_to_baseline() {
    let m = model();
    let ids = prompt();
    let base = last(m, &ids, &Steering::none());
    let recording = Steering::none().recording(3, Site::MlpMid).recording(10, Site::Residual);
    assert_eq!(base, last(m, &ids, &recording));
    let zero =
        Intervention::new(&m.llama.config, 10, Site::Residual, Edit::AddVector(uniform_tensor(&[576], 5.0, 1)), 0.0)
            .unwrap();
    assert_eq!(base, last(m, &ids, &Steering::none().with(zero)));
}

#[test]
fn residual_vector_equals_folded_bias() {
    let ids = prompt();
    let (layer, strength) = (12, 3.0);
    let v = uniform_tensor(&[576], 2.0, 2);
    let steered = last(
        model(),
        &ids,
        &Steering::none().with(
            Intervention::new(&model().llama.config, layer, Site::Residual, Edit::AddVector(v.clone()), strength)
                .unwrap(),
        ),
    );
    let mut folded = Model::load(model_bytes()).unwrap();
    folded
        .llama
        .merge(&Intervention::new(&folded.llama.config, layer, Site::Residual, Edit::AddVector(v), strength).unwrap())
        .unwrap();
    let weights = last(&folded, &ids, &Steering::none());
    let base = last(model(), &ids, &Steering::none());
    let d = max_diff(&steered, &weights);
    println!("hook vs folded bias: max |Δ| = {d:e}; vs unsteered {:e}", max_diff(&steered, &base));
    // The hook adds m·v to W_down's output before the skip connection; the fold makes m·v the
    // bias W_down adds there. The same two f32 additions in the same order: the same bits.
    assert!(steered == weights, "hook vs folded bias: max |Δ| {d}, not the same bits");
    assert!(max_diff(&steered, &base) > 1e-2, "the vector must change the output");
}

/// At each site: LowRank(A, B) ≈ Dense(B·A) — `B·(A·u)` and `(B·A)·u` round differently in
/// f32, so within 1e-3 of logits of magnitude ~20 (measured 0: the next quantized matmul rounds
/// both to the same 8-bit activations here, which nothing guarantees) —, Dense(0, v) ==
/// AddVector(v) bit for bit (`u·0 = 0` exactly, then the same `+ v` and `· m`), each changes the
/// logits, and recorded activations have the site's width.
#[test]
fn edit_forms_agree_at_every_site() {
    let m = model();
    let c = &m.llama.config;
    let ids = prompt();
    let base = last(m, &ids, &Steering::none());
    for (i, site) in Site::ALL.into_iter().enumerate() {
        let (w, src) = (site.width(c), site.source_width(c));
        let seed = 10 + i as u64;
        let a = uniform_tensor(&[4, src], 0.01, seed);
        let b = uniform_tensor(&[w, 4], 0.01, seed + 100);
        let dense = b.matmul(&a).unwrap();
        let v = uniform_tensor(&[w], 1.0, seed + 200);
        let run = |edit: Edit| last(m, &ids, &Steering::none().with(Intervention::new(c, 8, site, edit, 1.5).unwrap()));
        let low = run(Edit::LowRank { a, b });
        let full = run(Edit::Dense { w: dense, bias: None });
        println!("{site}: low-rank vs dense {:e}, effect {:e}", max_diff(&low, &full), max_diff(&low, &base));
        assert!(max_diff(&low, &full) <= 1e-3, "{site}: low-rank vs dense {}", max_diff(&low, &full));
        assert!(max_diff(&low, &base) > 1e-3, "{site}: low-rank edit had no effect");
        let add = run(Edit::AddVector(v.clone()));
        let bias = run(Edit::Dense { w: Tensor::zeros((w, src), DType::F32, &Device::Cpu).unwrap(), bias: Some(v) });
        assert!(add == bias, "{site}: vector vs zero weights + bias, max |Δ| {}", max_diff(&add, &bias));
        assert!(max_diff(&add, &base) > 1e-3, "{site}: vector had no effect");
        let rec = m.llama.forward(&ids, &mut Cache::new(), &Steering::none().recording(8, site)).unwrap().recorded;
        assert_eq!(rec[0].dims(), [ids.len(), w]);
    }
}

/// Project-out and clamp against a direct computation on the recorded unsteered activation:
/// `h − (h·v̂)v̂` and `h + (c − h·v̂)v̂`, in f64 here.
#[test]
fn project_out_and_clamp_match_direct_computation() {
    let m = model();
    let c = &m.llama.config;
    let ids = prompt();
    let layer = 10;
    let v = uniform_tensor(&[c.hidden], 1.0, 7);
    let vv: Vec<f64> = v.to_vec1::<f32>().unwrap().iter().map(|&x| x as f64).collect();
    let norm = vv.iter().map(|x| x * x).sum::<f64>().sqrt();
    let unit: Vec<f64> = vv.iter().map(|x| x / norm).collect();
    let record = |s: Steering| -> Vec<Vec<f32>> {
        m.llama.forward(&ids, &mut Cache::new(), &s.recording(layer, Site::Residual)).unwrap().recorded[0]
            .to_vec2()
            .unwrap()
    };
    let base = record(Steering::none());
    for (op, strength) in [(Operation::ProjectOut, 1.0f32), (Operation::Clamp, 3.0)] {
        let edit = Edit::with_operation(v.clone(), op);
        let got = record(Steering::none().with(Intervention::new(c, layer, Site::Residual, edit, strength).unwrap()));
        let mut worst = 0f64;
        for (h, g) in base.iter().zip(&got) {
            let along: f64 = h.iter().zip(&unit).map(|(&a, b)| a as f64 * b).sum();
            let target = if op == Operation::Clamp { strength as f64 * norm } else { 0.0 };
            let scale = h.iter().fold(1f64, |a, &x| a.max((x as f64).abs()));
            for ((&hi, &gi), ui) in h.iter().zip(g).zip(&unit) {
                worst = worst.max((hi as f64 + (target - along) * ui - gi as f64).abs() / scale);
            }
        }
        println!("{op}: max relative |Δ| vs direct = {worst:e}");
        assert!(worst < 1e-5, "{op}: {worst}");
    }
    let zero = Tensor::zeros(c.hidden, DType::F32, &Device::Cpu).unwrap();
    let err = Intervention::new(c, layer, Site::Residual, Edit::ProjectOut(zero), 1.0).unwrap_err();
    assert!(err.to_string().contains("zero-norm"), "{err}");
    let err = "scale".parse::<Operation>().unwrap_err();
    assert!(err.to_string().contains("unknown operation `scale`"), "{err}");
    let err = Edit::ProjectOut(v).as_weights().unwrap_err();
    assert!(err.to_string().contains("no weight update"), "{err}");
}

/// Position masks against a per-position computation: steering only the completion equals
/// running the prompt unsteered and the completion steered (and so on for the other masks).
/// And a last-token DiffMean equals the mean of directly recorded last-position activations.
#[test]
fn position_masks_and_read_positions_match_direct_computation() {
    use steerscope::model::sites::Positions;
    let m = model();
    let c = &m.llama.config;
    let prompt = prompt();
    let completion = m.tokenizer.encode_continuation("It was a bright, cold day in April.").unwrap();
    let layer = 10;
    let iv = |p: Positions| {
        Intervention::new(c, layer, Site::Residual, Edit::AddVector(uniform_tensor(&[c.hidden], 3.0, 11)), 4.0)
            .unwrap()
            .at(p)
    };
    let steer = |p: Positions| Steering::none().with(iv(p));
    // Hidden states of every position, running the given chunks in order on one cache.
    let run = |chunks: &[(&[u32], Steering)]| -> Vec<f32> {
        let mut cache = Cache::new();
        let mut out = Vec::new();
        for (ids, s) in chunks {
            out.extend(
                m.llama.forward(ids, &mut cache, s).unwrap().hidden.flatten_all().unwrap().to_vec1::<f32>().unwrap(),
            );
        }
        out
    };
    let none = Steering::none;
    let n = 5;
    let cases = [
        (Positions::Completion, run(&[(&prompt, none()), (&completion, steer(Positions::All))])),
        (Positions::Prompt, run(&[(&prompt, steer(Positions::All)), (&completion, none())])),
        (
            Positions::From(n),
            run(&[(&prompt[..n], none()), (&prompt[n..], steer(Positions::All)), (&completion, steer(Positions::All))]),
        ),
    ];
    let unsteered = run(&[(&prompt, none()), (&completion, none())]);
    for (p, direct) in cases {
        let masked = run(&[(&prompt, steer(p)), (&completion, steer(p))]);
        let worst = max_diff(&masked, &direct);
        println!("{}: masked vs per-position max |Δ| = {worst:e}", p.name());
        assert!(worst < 1e-3, "{}: {worst}", p.name());
        assert!(max_diff(&masked, &unsteered) > 1e-2, "{}: the mask steered nothing", p.name());
    }
    assert_eq!(Positions::parse("prompt,completion").unwrap(), Positions::All);
    let err = Positions::parse("all,prompt").unwrap_err();
    assert!(err.to_string().contains("overlapping position masks"), "{err}");
    assert!(Positions::parse("middle").unwrap_err().to_string().contains("unknown position mask"));

    // Read positions: the last-token DiffMean, recomputed from one full forward per completion.
    use steerscope::model::pairs::Read;
    use steerscope::model::score::PairTokens;
    use steerscope::steer::fitted::FittedVector;
    use steerscope::steer::methods::Method;
    let text =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/data/concepts/formality.test.jsonl")).unwrap();
    let pairs: Vec<PairTokens> = steerscope::data::parse_jsonl(&text).unwrap().pairs[..3]
        .iter()
        .map(|p| PairTokens::new(m, p, &Default::default()).unwrap())
        .collect();
    let fitted =
        FittedVector::from_pairs(&m.llama, &pairs, Method::DiffMean, layer, Site::Residual, Read::LastToken, |_, _| {})
            .unwrap();
    let last = |p: &PairTokens, completion: &[u32]| -> Vec<f32> {
        let ids: Vec<u32> = p.prompt.iter().chain(completion).copied().collect();
        let rec = m
            .llama
            .forward(&ids, &mut Cache::new(), &Steering::none().recording(layer, Site::Residual))
            .unwrap()
            .recorded
            .remove(0);
        rec.i(ids.len() - 1).unwrap().to_vec1().unwrap()
    };
    let mut direct = vec![0f32; c.hidden];
    for p in &pairs {
        for ((d, a), b) in direct.iter_mut().zip(last(p, &p.positive)).zip(last(p, &p.negative)) {
            *d += (a - b) / pairs.len() as f32;
        }
    }
    let scale = direct.iter().fold(0f32, |a, x| a.max(x.abs()));
    let worst = max_diff(&fitted.vector, &direct);
    println!("last-token DiffMean vs direct: max |Δ| = {worst:e} (of {scale:.2})");
    assert!(worst <= 1e-3 * scale, "{worst}");
    assert_eq!(fitted.read, Read::LastToken);
}
