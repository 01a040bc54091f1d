//! SPLIT in full: one training step's reported loss recomputed by hand from the settings and
//! the per-example record (pair, signed strength, swap) — every term of the objective
//! (`w_pos·L_w + w_neg·L_l + γ·ReLU(τ − (L_l − L_w)) + w_ref·(ReLU(L_w − L_w⁰) + ReLU(L_l − L_l⁰))`)
//! with non-default weights, the losses scored independently through `Prepared::score_pair`
//! (fused kernels, not the training graph), and the schedule's learning rate. On the model
//! dequantized to f32: the quantized forward rounds every matmul's input to 8 bits, so the
//! training graph's composite ops and the scorer's fused ones can flip roundings and differ by
//! ~0.1 nats there; in f32 they agree to ~1e-5.
mod common;
use common::*;
use steerscope::data::parse_jsonl;
use steerscope::model::pairs::Prepared;
use steerscope::model::score::PairTokens;
use steerscope::model::{Intervention, Site, Steering};
use steerscope::steer::train::{Objective, Schedule, TrainSettings, Trainer, UpdateForm};

fn f32_model() -> steerscope::model::Model {
    let mut m = steerscope::model::Model::load(model_bytes()).unwrap();
    m.llama.to_f32().unwrap();
    m
}

#[test]
fn a_split_step_is_its_formula_by_hand() {
    let dense = f32_model();
    let llama = &dense.llama;
    let text =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/data/concepts/sentiment.train.jsonl")).unwrap();
    let pairs: Vec<PairTokens> = parse_jsonl(&text).unwrap().pairs[..4]
        .iter()
        .map(|p| PairTokens::new(model(), p, &Default::default()).unwrap())
        .collect();
    let layer = 18;
    let prepared = Prepared::new(llama, &pairs, layer, |_, _| {}).unwrap();
    let (w_pos, w_neg, gamma, tau, w_ref) = (0.9f32, 0.7, 4.0, 0.3, 0.25);
    let mut settings = TrainSettings::new(
        UpdateForm::Vector,
        Objective::Split { w_pos, w_neg, gamma, tau, w_ref },
        layer,
        Site::Residual,
    );
    settings.batch = 2;
    settings.factors = vec![1.5, 3.0];
    settings.schedule = Schedule::Linear;
    let mut t = Trainer::new(llama, &prepared, settings.clone()).unwrap();
    t.step().unwrap(); // move off the zero vector, so the second step's losses depend on it
    let edit = t.edit(); // a copy: the next step must not change it
    let stats = t.step().unwrap();
    let total = t.total_steps() as f64;
    assert!((stats.learning_rate - settings.learning_rate * (1.0 - 1.0 / total)).abs() < 1e-12, "linear schedule");
    let base = prepared.score(llama, &Steering::none(), Site::Residual, |_, _| {}).unwrap();
    let mut by_hand = 0f32;
    for e in &stats.examples {
        let iv = Intervention::new(&llama.config, layer, Site::Residual, edit.clone(), e.strength).unwrap();
        let (score, _) = prepared.score_pair(llama, e.pair, &Steering::none().with(iv), Site::Residual).unwrap();
        let (lp, ln) = (score.lp.mean(), score.ln.mean());
        let (w, l) = if e.swapped { (ln, lp) } else { (lp, ln) };
        assert_eq!(e.swapped, e.strength < 0.0, "a swapped example steers with −f");
        let b = &base.scores[e.pair];
        let (w0, l0) = if e.swapped { (b.ln.mean(), b.lp.mean()) } else { (b.lp.mean(), b.ln.mean()) };
        // The training graph uses composite (differentiable) ops, the scorer fused kernels: in
        // f32 the same math to ~1e-5 per token-mean loss.
        assert!((e.winner - w).abs() < 1e-3 && (e.loser - l).abs() < 1e-3, "example {e:?}: by hand {w} / {l}");
        by_hand +=
            w_pos * w + w_neg * l + gamma * (tau - (l - w)).max(0.0) + w_ref * ((w - w0).max(0.0) + (l - l0).max(0.0));
    }
    by_hand /= stats.examples.len() as f32;
    println!("step 2: reported loss {}, by hand {by_hand}", stats.loss);
    assert!(
        (stats.loss - by_hand).abs() < 2e-3 * by_hand.abs().max(1.0),
        "reported {} vs by hand {by_hand}",
        stats.loss
    );
}

#[test]
fn settings_out_of_range_are_refused_before_any_work() {
    let base = TrainSettings::new(UpdateForm::Vector, Objective::split_for(UpdateForm::Vector), 10, Site::Residual);
    let bad = |f: &dyn Fn(&mut TrainSettings)| {
        let mut s = base.clone();
        f(&mut s);
        s.check_values().unwrap_err().to_string()
    };
    assert!(bad(&|s| s.learning_rate = 1e30).contains("learning rate"));
    assert!(bad(&|s| s.factors = vec![1.0, f32::NAN]).contains("factors"));
    assert!(bad(&|s| s.factors = vec![0.0]).contains("nonzero"));
    assert!(bad(&|s| s.clip = 0.0).contains("clip"));
    assert!(bad(
        &|s| s.objective = Objective::Split { w_pos: 1.0, w_neg: f32::INFINITY, gamma: 1.0, tau: 0.1, w_ref: 0.0 }
    )
    .contains("w_neg"));
    assert!(base.check_values().is_ok());
}

#[test]
fn an_update_that_outgrows_the_residual_stream_stops_training() {
    let llama = &model().llama;
    let text =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/data/concepts/sentiment.train.jsonl")).unwrap();
    let pairs: Vec<PairTokens> = parse_jsonl(&text).unwrap().pairs[..2]
        .iter()
        .map(|p| PairTokens::new(model(), p, &Default::default()).unwrap())
        .collect();
    let prepared = Prepared::new(llama, &pairs, 20, |_, _| {}).unwrap();
    let mut s = TrainSettings::new(UpdateForm::Vector, Objective::Sft, 20, Site::Residual);
    s.learning_rate = 10.0; // AdamW moves each of 576 coordinates by ~10: |v| ≈ 240 per step
    s.factors = vec![100.0];
    s.batch = 2;
    let mut t = Trainer::new(llama, &prepared, s).unwrap();
    let err = t.step().unwrap_err().to_string();
    assert!(err.contains("residual norm"), "{err}");
    assert_eq!(t.step, 0);
    // The last good parameters are the starting zeros.
    let v = match t.edit() {
        steerscope::model::Edit::AddVector(v) => v.to_vec1::<f32>().unwrap(),
        _ => unreachable!(),
    };
    assert!(v.iter().all(|&x| x == 0.0));
}
