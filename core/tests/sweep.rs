//! The sweep session against direct computations on the real model:
//! - prepared pairs (layers below ℓ run once, prompt shared) give the same losses as one plain
//!   forward pass over prompt ++ completion with the log-softmax written out in f64 here;
//! - the all-layer activation pass fits the same vectors and strength unit as fitting at one layer;
//! - a progressive point ends equal to the full point; a cancelled point leaves the session usable,
//!   and a cancelled training leaves it on its last finished update;
//! - single-token completions sweep; bad input is refused before any work.
mod common;
use candle_core::{Device, Tensor};
use common::*;
use std::collections::HashMap;
use steerscope::analysis::session::{Direction, Split, SweepSession};
use steerscope::analysis::sweep::OffManifold;
use steerscope::data::{parse_jsonl, Pair};
use steerscope::model::pairs::{Prepared, Read};
use steerscope::model::score::PairTokens;
use steerscope::model::sites::Positions;
use steerscope::model::{Edit, Intervention, Site, Steering};
use steerscope::progress::Stoppable;
use steerscope::steer::methods::Method;
use steerscope::steer::train::{Objective, TrainSettings, UpdateForm};
use steerscope::steer::update::Update;
use steerscope::Error;

fn pairs_of(file: &str, n: usize) -> Vec<PairTokens> {
    let text = std::fs::read_to_string(format!("{}/data/concepts/{file}", env!("CARGO_MANIFEST_DIR"))).unwrap();
    parse_jsonl(&text).unwrap().pairs[..n]
        .iter()
        .map(|p| PairTokens::new(model(), p, &Default::default()).unwrap())
        .collect()
}

fn pairs(n: usize) -> Vec<PairTokens> {
    pairs_of("sentiment.test.jsonl", n)
}

/// −Σ log p(completion | prompt) by one forward pass over prompt ++ completion.
fn direct_nll(prompt: &[u32], completion: &[u32], steering: &Steering) -> f64 {
    -plain_logprobs(prompt, completion, steering).iter().sum::<f64>()
}

fn vector(seed: usize) -> Tensor {
    let v: Vec<f32> = (0..576).map(|i| (((i * 37 + seed * 11) % 101) as f32 - 50.0) / 25.0).collect();
    Tensor::from_vec(v, 576, &Device::Cpu).unwrap()
}

fn update(layer: usize, v: Tensor) -> Update {
    let meta = HashMap::from([("method".to_string(), "test-vector".to_string())]);
    Update { layer, site: Site::Residual, edit: Edit::AddVector(v), positions: Positions::All, meta }
}

#[test]
fn prepared_losses_and_log_odds_match_direct_computation() {
    let llama = &model().llama;
    let pairs = pairs(3);
    let layer = 15;
    let steering = Steering::none()
        .with(Intervention::new(&llama.config, layer, Site::Residual, Edit::AddVector(vector(0)), 2.0).unwrap());
    for prepared_at in [layer, 0] {
        let prepared = Prepared::new(llama, &pairs, prepared_at, |_, _| {}).unwrap();
        let scored = prepared.score(llama, &steering, Site::Residual, |_, _| {}).unwrap();
        for (f, p) in scored.scores.iter().zip(&pairs) {
            let (lp, ln) =
                (direct_nll(&p.prompt, &p.positive, &steering), direct_nll(&p.prompt, &p.negative, &steering));
            let (lpm, lnm) = (lp / p.positive.len() as f64, ln / p.negative.len() as f64);
            // f32 sums over 20–40 tokens of log-probs of size ~1–10 against f64: 1e-3 relative.
            assert!((f.lp.sum as f64 - lp).abs() <= 1e-3 * lp.max(1.0), "L_p {} vs direct {lp}", f.lp.sum);
            assert!((f.ln.sum as f64 - ln).abs() <= 1e-3 * ln.max(1.0), "L_n {} vs direct {ln}", f.ln.sum);
            assert!((f.pref_odds as f64 - (lnm - lpm)).abs() <= 1e-3, "pref {} vs {}", f.pref_odds, lnm - lpm);
            let mass = (-lpm).exp() + (-lnm).exp();
            match f.util_odds {
                Some(u) => assert!((u as f64 - (mass / (1.0 - mass)).ln()).abs() <= 1e-3),
                None => assert!(mass >= 1.0),
            }
        }
        // One row per completion token at the site.
        let rows: usize = pairs.iter().map(|p| p.positive.len() + p.negative.len()).sum();
        assert_eq!(scored.activations.len(), rows);
    }
}

#[test]
fn one_pass_over_every_layer_fits_what_one_layer_fits() {
    let llama = &model().llama;
    let train = pairs_of("sentiment.train.jsonl", 4);
    let sites: Vec<(usize, Site)> = [6, 15].into_iter().flat_map(|l| Site::ALL.map(|s| (l, s))).collect();
    let all = Prepared::new(llama, &train, 0, |_, _| {})
        .unwrap()
        .read_activations(llama, &sites, Read::CompletionMean, |_, _| {})
        .unwrap();
    for (layer, site) in [(6, Site::Residual), (15, Site::MlpMid), (15, Site::AttnOut)] {
        let one = Prepared::new(llama, &train, layer, |_, _| {}).unwrap();
        let one = one.read_activations(llama, &[(layer, site)], Read::CompletionMean, |_, _| {}).unwrap();
        let (a, b) = (all.at(layer, site).unwrap(), &one.sites[0]);
        // The same operations on the same tensors, in the same order: identical bits.
        assert_eq!(a.positive, b.positive, "layer {layer} {site}");
        assert_eq!(a.negative, b.negative, "layer {layer} {site}");
        assert_eq!(a.mean_norm, b.mean_norm, "layer {layer} {site}");
    }
    // The strength unit from the one-pass activations equals the session's own measurement.
    let test = pairs(2);
    let mut own = SweepSession::new(llama, train.clone(), test.clone(), 15).unwrap();
    let mut shared = SweepSession::new(llama, train, test, 15).unwrap();
    let a = own.fit(llama, Method::DiffMean, Site::Residual, Positions::All, None, 1, |_, _| {}).unwrap().clone();
    let b =
        shared.fit(llama, Method::DiffMean, Site::Residual, Positions::All, Some(&all), 1, |_, _| {}).unwrap().clone();
    assert_eq!(a.scale.residual_norm, b.scale.residual_norm);
    assert_eq!(a.scale.effect_norm, b.scale.effect_norm);
    assert_eq!(
        a.edit.as_weights().unwrap().1.unwrap().to_vec1::<f32>().unwrap(),
        b.edit.as_weights().unwrap().1.unwrap().to_vec1::<f32>().unwrap()
    );
}

#[test]
fn a_session_sweeps_every_strength_and_rejects_bad_input_first() {
    let llama = &model().llama;
    let mut s = SweepSession::new(llama, pairs_of("sentiment.train.jsonl", 2), pairs(2), 10).unwrap();
    s.set_update(llama, &update(10, vector(1)), "v").unwrap();
    let strengths = [-2.0, 0.0, 2.0];
    let sweep = s.sweep(llama, Split::Test, Direction::Update, &strengths, |_, _| {}).unwrap();
    assert_eq!(sweep.points.len(), 3);
    assert!(sweep.manifold_rank > 0);
    // The unsteered point scores 1 by construction (the reference is fitted on its very rows),
    // so it checks nothing. The steered points can be recomputed: at the steered site a steered
    // row is the unsteered row x plus m·v, so each score is the reference's distance of x + m·v
    // over that of x.
    let base = Prepared::new(llama, &pairs(2), 10, |_, _| {}).unwrap().unsteered(llama, Site::Residual, |_, _| {});
    let base = base.unwrap().activations.clone();
    let reference = OffManifold::fit(&base).unwrap().expect("enough rows for a subspace");
    let v = s.steered().unwrap().edit.as_weights().unwrap().1.unwrap().to_vec1::<f32>().unwrap();
    for (&m, point) in strengths.iter().zip(&sweep.points) {
        let shifted: Vec<Vec<f32>> = base.iter().map(|x| x.iter().zip(&v).map(|(x, v)| x + m * v).collect()).collect();
        let (got, want) = (point.off_manifold.unwrap(), reference.score(&shifted).unwrap());
        // The model adds m·v to the MLP branch before the skip connection, this to the sum: the
        // rows could differ by f32 rounding (~1e-7 relative; measured equal), far below this bound.
        assert!((got - want).abs() <= 1e-4 * want, "m = {m}: off-manifold {got}, recomputed {want}");
    }
    // The distance from an affine subspace is convex in m, so the mean of ±m is at least the
    // score at 0, and strictly above it when v has a part outside the subspace (it does: a fixed
    // pattern, not a principal direction of these rows).
    let side = |i: usize| sweep.points[i].off_manifold.unwrap();
    assert!((side(0) + side(2)) / 2.0 > side(1) + 1e-3, "±2 scores {} and {}", side(0), side(2));
    // A NaN strength is refused before any pair is scored: count the progress calls.
    let mut calls = 0;
    let err = s.sweep(llama, Split::Test, Direction::Update, &[0.5, f32::NAN], |_, _| calls += 1).unwrap_err();
    assert!(err.to_string().contains("finite"), "{err}");
    assert_eq!(calls, 0);
    let err =
        s.set_update(llama, &update(10, Tensor::zeros(10, candle_core::DType::F32, &Device::Cpu).unwrap()), "short");
    assert!(err.unwrap_err().to_string().contains("dimension 10"));
    let err = s.set_update(llama, &update(12, vector(1)), "elsewhere").unwrap_err();
    assert!(err.to_string().contains("layer 12"), "{err}");
    assert!(SweepSession::new(llama, pairs(1), pairs(1), 30).is_err());
    assert_eq!(SweepSession::new(llama, vec![], pairs(1), 3).err().unwrap(), Error::EmptyDataset);
}

/// "Was it even applied?": an update that changes nothing is an error, not a flat line — found
/// when it is set (a zero vector; a LoRA whose B is zero, measured at its site), before a sweep.
#[test]
fn an_update_that_changes_nothing_is_an_error() {
    use candle_core::DType::F32;
    let llama = &model().llama;
    let mut s = SweepSession::new(llama, pairs(2), pairs(2), 10).unwrap();
    let zero = update(10, Tensor::zeros(576, F32, &Device::Cpu).unwrap());
    assert_eq!(s.set_update(llama, &zero, "zero").unwrap_err(), Error::NotApplied);
    let a = Tensor::ones((2, 1536), F32, &Device::Cpu).unwrap();
    let b = Tensor::zeros((576, 2), F32, &Device::Cpu).unwrap();
    let lora = Update { site: Site::MlpOut, edit: Edit::LowRank { a, b }, ..zero };
    assert_eq!(s.set_update(llama, &lora, "zero lora").unwrap_err(), Error::NotApplied);
    assert!(s.steered().is_none());
}

#[test]
fn progressive_points_end_at_the_full_point_and_cancelling_keeps_the_session() {
    let llama = &model().llama;
    let mut s = SweepSession::new(llama, pairs(2), pairs(3), 12).unwrap();
    s.set_update(llama, &update(12, vector(2)), "v").unwrap();
    // Cancel after the first pair of a point: an error, nothing cached.
    let stop = Stoppable { on_progress: |_, _| {}, stop: || true };
    assert_eq!(s.point(llama, Split::Test, Direction::Update, 3.0, stop).unwrap_err(), Error::Cancelled);
    let mut partial = Vec::new();
    let p = s
        .point_progressive(llama, Split::Test, Direction::Update, 3.0, |p| partial.push(p.point.n_pairs), |_, _| {})
        .unwrap();
    assert_eq!(partial, [1, 2, 3], "one estimate per pair");
    // The session's result equals scoring all pairs at once with the same steering.
    let prepared = Prepared::new(llama, &pairs(3), 12, |_, _| {}).unwrap();
    let full =
        prepared.score(llama, &s.steering(llama, Direction::Update, 3.0).unwrap(), Site::Residual, |_, _| {}).unwrap();
    let mean = full.scores.iter().map(|x| x.pref_odds).sum::<f32>() / 3.0;
    assert_eq!(p.point.pref_odds, mean);
    // And a second call is served from the cache, equal.
    let again = s.point(llama, Split::Test, Direction::Update, 3.0, |_, _| {}).unwrap();
    assert_eq!(again.point.pref_odds, p.point.pref_odds);
}

#[test]
fn single_token_completions_sweep() {
    let llama = &model().llama;
    let m = model();
    let pair = |prompt: &str, pos: &str, neg: &str| {
        let p = Pair { prompt: prompt.into(), positive: pos.into(), negative: neg.into() };
        PairTokens::new(m, &p, &Default::default()).unwrap()
    };
    let train = vec![
        pair("Would you skydive without training?", "No", "Yes"),
        pair("Do you check the weather before hiking?", "Yes", "No"),
        pair("Would you leave your door unlocked overnight?", "No", "Yes"),
    ];
    assert!(train.iter().all(|p| p.positive.len() == 1 && p.negative.len() == 1));
    let test = vec![pair("Would you swim in a storm?", "No", "Yes")];
    let mut s = SweepSession::new(llama, train, test, 14).unwrap();
    s.fit(llama, Method::DiffMean, Site::Residual, Positions::All, None, 1, |_, _| {}).unwrap();
    let sweep = s.sweep(llama, Split::Test, Direction::Update, &[-4.0, 0.0, 4.0], |_, _| {}).unwrap();
    assert_eq!(sweep.points.len(), 3);
    // One pair, two single-token completions: two activation rows, too few for a subspace.
    assert_eq!(sweep.manifold_rank, 0);
    assert!(sweep.points.iter().all(|p| p.off_manifold.is_none()));
}

/// A training stopped mid-way (the page's stop button, a superseded request) is refused as
/// cancelled and leaves the session on its last finished update — not on a half-trained one.
#[test]
fn cancelled_training_keeps_the_last_finished_update() {
    let llama = &model().llama;
    let mut s = SweepSession::new(llama, pairs(2), pairs(2), 12).unwrap();
    s.set_update(llama, &update(12, vector(2)), "v").unwrap();
    let vector_of = |s: &SweepSession| match &s.steered().unwrap().edit {
        Edit::AddVector(v) => v.to_vec1::<f32>().unwrap(),
        other => panic!("a vector update, got {other:?}"),
    };
    let (name, before) = (s.steered().unwrap().name.clone(), vector_of(&s));
    let mut settings = TrainSettings::new(UpdateForm::Vector, Objective::Sft, 12, Site::Residual);
    settings.batch = 1; // two steps for two pairs: stopped after the first
    let mut steps = 0;
    let stop = Stoppable { on_progress: |done, _| steps = done, stop: || true };
    assert_eq!(s.train(llama, settings, Positions::All, stop).unwrap_err(), Error::Cancelled);
    assert_eq!(steps, 1, "stopped after one of two steps");
    assert_eq!(s.steered().unwrap().name, name);
    assert_eq!(vector_of(&s), before, "the update is the one set before the training");
    // The session goes on: a point is measured with that update.
    assert!(s.point(llama, Split::Test, Direction::Update, 3.0, |_, _| {}).unwrap().point.pref_odds.is_finite());
}

/// The page's interrupt (`set_interrupt`, asked before every layer and the output head): a point
/// stopped inside a forward pass — below the layer, in the unsteered pass or the steered one —
/// returns Cancelled right after the check that said stop (no layer runs after it), keeps
/// nothing half-done, and the point measured afterwards equals one measured without any
/// interruption, bit for bit. A training stopped inside a step keeps the update it had.
#[test]
fn an_interrupt_stops_within_a_layer_and_keeps_the_session() {
    use std::{cell::Cell, rc::Rc};
    use steerscope::progress::set_interrupt;
    let llama = &model().llama;
    let fresh = || {
        let mut s = SweepSession::new(llama, pairs(2), pairs(3), 12).unwrap();
        s.set_update(llama, &update(12, vector(2)), "v").unwrap();
        s
    };
    let interrupt_after = |n: usize| {
        let asked = Rc::new(Cell::new(0usize));
        let a = asked.clone();
        set_interrupt(Some(Box::new(move || {
            a.set(a.get() + 1);
            a.get() >= n
        })));
        asked
    };
    // How many checks a whole point asks (3 pairs below the layer, then the unsteered and the
    // steered passes above it, with their output heads).
    let counted = interrupt_after(usize::MAX);
    fresh().point(llama, Split::Test, Direction::Update, 3.0, |_, _| {}).unwrap();
    let total = counted.get();
    // Asked at every layer: at least once per layer of each pair's positive and negative pass.
    assert!(total >= 3 * 2 * llama.config.n_layers, "only {total} checks in a point");
    let mut s = fresh();
    // Stops in the first pair below the layer, in later pairs, and in the steered passes (each
    // stopped call keeps the pairs it finished, so the next one starts further on).
    for trip in [5, total / 4, total / 4, total / 4] {
        let asked = interrupt_after(trip);
        let e = s.point(llama, Split::Test, Direction::Update, 3.0, |_, _| {});
        set_interrupt(None);
        assert_eq!(e.unwrap_err(), Error::Cancelled, "interrupt after {trip} checks");
        assert_eq!(asked.get(), trip, "the call went on after the interrupt said stop");
    }
    let p = s.point(llama, Split::Test, Direction::Update, 3.0, |_, _| {}).unwrap();
    let q = fresh().point(llama, Split::Test, Direction::Update, 3.0, |_, _| {}).unwrap();
    assert_eq!(serde_json::to_value(&p).unwrap(), serde_json::to_value(&q).unwrap());

    let before = s.steered().unwrap().name.clone();
    let asked = interrupt_after(20);
    let settings = TrainSettings::new(UpdateForm::Vector, Objective::Sft, 12, Site::Residual);
    let e = s.train(llama, settings, Positions::All, |_, _| {});
    set_interrupt(None);
    assert_eq!(e.unwrap_err(), Error::Cancelled);
    assert_eq!(asked.get(), 20);
    assert_eq!(s.steered().unwrap().name, before, "a stopped training keeps the update it had");
}
