//! The sweep engine against direct computations on the real model:
//! - the cached sweep (layers below ℓ run once, prompt shared) gives the same scores as scoring
//!   every pair from scratch;
//! - L_p, L_n and the log-odds equal a plain computation from the full sequence's token
//!   log-probabilities (log-softmax written out in f64 here, not the library's).
mod common;
use candle_core::{Device, Tensor};
use common::*;
use steerscope::analysis::measure::score_pairs;
use steerscope::analysis::sweep::sweep;
use steerscope::data::parse_jsonl;
use steerscope::model::pairs::Prepared;
use steerscope::model::score::PairTokens;
use steerscope::model::{Cache, Edit, Intervention, Site, Steering};

fn pairs(n: usize) -> Vec<PairTokens> {
    let text =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/data/concepts/sentiment.test.jsonl")).unwrap();
    parse_jsonl(&text).unwrap().pairs[..n].iter().map(|p| PairTokens::new(model(), p).unwrap()).collect()
}

/// −Σ log p(completion | prompt) by one forward pass over prompt ++ completion.
fn direct_nll(prompt: &[u32], completion: &[u32], steering: &Steering) -> f64 {
    let llama = &model().llama;
    let ids: Vec<u32> = prompt.iter().chain(completion).copied().collect();
    let fwd = llama.forward(&ids, &mut Cache::new(), steering).unwrap();
    let logits: Vec<Vec<f32>> = llama.logits(&fwd.hidden).unwrap().to_vec2().unwrap();
    completion
        .iter()
        .enumerate()
        .map(|(i, &t)| {
            let row = &logits[prompt.len() + i - 1];
            let max = row.iter().fold(f32::MIN, |a, &b| a.max(b)) as f64;
            let lse = max + row.iter().map(|&x| (x as f64 - max).exp()).sum::<f64>().ln();
            lse - row[t as usize] as f64
        })
        .sum()
}

#[test]
fn cached_sweep_and_log_odds_match_direct_computation() {
    let llama = &model().llama;
    let pairs = pairs(3);
    let layer = 15;
    let v = Tensor::from_vec(
        (0..576).map(|i| ((i * 37 % 101) as f32 - 50.0) / 25.0).collect::<Vec<_>>(),
        576,
        &Device::Cpu,
    )
    .unwrap();
    let steering = Steering::none()
        .with(Intervention::new(&llama.config, layer, Site::Residual, Edit::AddVector(v), 2.0).unwrap());
    let prepared = Prepared::new(llama, &pairs, layer, |_, _| {}).unwrap();
    let (cached, _) = prepared.score(llama, &steering, Site::Residual, |_, _| {}).unwrap();
    let fresh = score_pairs(llama, &pairs, &steering, |_, _| {}).unwrap();
    for ((c, f), p) in cached.iter().zip(&fresh).zip(&pairs) {
        for (a, b) in [(c.lp.sum, f.lp.sum), (c.ln.sum, f.ln.sum)] {
            assert!((a - b).abs() <= 1e-3 * b.abs().max(1.0), "cached {a} vs fresh {b}");
        }
        let (lp, ln) = (direct_nll(&p.prompt, &p.positive, &steering), direct_nll(&p.prompt, &p.negative, &steering));
        let (lpm, lnm) = (lp / p.positive.len() as f64, ln / p.negative.len() as f64);
        assert!((f.lp.sum as f64 - lp).abs() <= 1e-3 * lp.max(1.0), "L_p {} vs direct {lp}", f.lp.sum);
        assert!((f.ln.sum as f64 - ln).abs() <= 1e-3 * ln.max(1.0), "L_n {} vs direct {ln}", f.ln.sum);
        assert!((f.pref_odds as f64 - (lnm - lpm)).abs() <= 1e-3, "pref {} vs {}", f.pref_odds, lnm - lpm);
        let mass = (-lpm).exp() + (-lnm).exp();
        match f.util_odds {
            Some(u) => assert!((u as f64 - (mass / (1.0 - mass)).ln()).abs() <= 1e-3),
            None => assert!(mass >= 1.0),
        }
    }
}

#[test]
fn sweep_reports_every_strength_and_rejects_bad_ones() {
    let llama = &model().llama;
    let pairs = pairs(2);
    let prepared = Prepared::new(llama, &pairs, 10, |_, _| {}).unwrap();
    let v: Vec<f32> = (0..576).map(|i| if i % 7 == 0 { 1.0 } else { 0.0 }).collect();
    let edit = |v: &[f32]| Edit::AddVector(Tensor::from_slice(v, v.len(), &Device::Cpu).unwrap());
    let s = sweep(llama, &prepared, Site::Residual, &edit(&v), &[-2.0, 0.0, 2.0], |_, _| {}).unwrap();
    assert_eq!(s.points.len(), 3);
    assert!((s.points[1].off_manifold - 1.0).abs() < 1e-4, "unsteered off-manifold score is the unit");
    assert!(s.points[0].off_manifold > 1.0 && s.points[2].off_manifold > 1.0);
    let err = sweep(llama, &prepared, Site::Residual, &edit(&v), &[0.0, f32::NAN], |_, _| {}).unwrap_err();
    assert!(err.to_string().contains("finite"), "{err}");
    let err = sweep(llama, &prepared, Site::Residual, &edit(&v[..10]), &[1.0], |_, _| {}).unwrap_err();
    assert!(err.to_string().contains("dimension 10"), "{err}");
    assert!(Prepared::new(llama, &pairs, 30, |_, _| {}).is_err());
    assert!(Prepared::new(llama, &[], 3, |_, _| {}).is_err());
}

/// "Was it even applied?": an update that changes nothing is an error, not a flat line.
#[test]
fn a_sweep_that_changes_nothing_is_an_error() {
    let llama = &model().llama;
    let prepared = Prepared::new(llama, &pairs(2), 10, |_, _| {}).unwrap();
    let zero = Edit::AddVector(Tensor::zeros(576, candle_core::DType::F32, &Device::Cpu).unwrap());
    let err = sweep(llama, &prepared, Site::Residual, &zero, &[-1.0, 0.0, 1.0], |_, _| {}).unwrap_err();
    assert!(err.to_string().contains("not applied"), "{err}");
}
