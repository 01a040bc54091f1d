//! Trained interventions on the real model:
//! - gradients through the frozen model (composite ops + the frozen layers' backward) agree
//!   with finite differences of the *inference* forward (fused kernels, no autograd) to 1% plus
//!   the finite differences' own round-off uncertainty —
//!   an independent reference for both the differentiable forward and its backward. Checked on
//!   the model dequantized to f32: the quantized forward rounds activations to 8 bits, which
//!   makes it piecewise constant at the scale finite differences need (training on it uses the
//!   f32 gradient, i.e. treats that rounding as the identity — a straight-through estimate);
//! - every method's induced update, applied as weights (merged into `W_down` / `W_o` / a bias),
//!   gives the same logits as the method applied as a hook; LoRA merged = LoRA unmerged (on the
//!   f32 model for weight updates, for the same reason; a vector folded into a bias changes no
//!   rounding, so it is checked on the quantized model, bit for bit);
//! - training moves preference toward the positive completions; a diverging run stops with a
//!   clear error and keeps the last good parameters.
mod common;
use candle_core::{DType, Device, Tensor, Var};
use common::*;
use steerscope::model::pairs::Prepared;
use steerscope::model::score::mean_nll_tensor;
use steerscope::model::{Cache, Edit, Intervention, Model, Site, Steering};
use steerscope::steer::train::{Objective, TrainSettings, Trainer, UpdateForm};
use steerscope::Error;

/// Mean per-token loss of pair 0's positive completion with `edit` at strength 1.
fn loss(prepared: &Prepared, site: Site, edit: Edit) -> Tensor {
    let llama = &f32_model().llama;
    let iv = Intervention::new(&llama.config, prepared.layer(), site, edit, 1.0).unwrap();
    let [rows, _] = prepared.run(llama, 0, &Steering::none().with(iv), &[]).unwrap().rows;
    mean_nll_tensor(llama, &rows, prepared.targets(0)[0]).unwrap()
}

#[test]
fn gradients_match_finite_differences() {
    let llama = &f32_model().llama;
    let c = &llama.config;
    let prepared = Prepared::new(llama, &concept_pairs("sentiment.train.jsonl", 1), 20, |_, _| {}).unwrap();
    // A vector at the residual stream and a dense update of W_down: the gradient reaches the
    // first through every layer above, the second also through the matmul with the MLP input.
    type Case = (Site, Vec<Tensor>, fn(&[Tensor]) -> Edit);
    let cases: [Case; 2] = [
        (Site::Residual, vec![normal_tensor(&[c.hidden], 2.0, 1)], |t| Edit::AddVector(t[0].clone())),
        (Site::MlpOut, vec![normal_tensor(&[c.hidden, c.ffn], 0.02, 2), normal_tensor(&[c.hidden], 0.5, 3)], |t| {
            Edit::Dense { w: t[0].clone(), bias: Some(t[1].clone()) }
        }),
    ];
    for (site, point, make) in cases {
        let vars: Vec<Var> = point.iter().map(|t| Var::from_tensor(t).unwrap()).collect();
        let live: Vec<Tensor> = vars.iter().map(|v| v.as_tensor().clone()).collect();
        let l = loss(&prepared, site, make(&live));
        let plain = loss(&prepared, site, make(&point)).to_scalar::<f32>().unwrap();
        let traced = l.to_scalar::<f32>().unwrap();
        assert!(
            (plain - traced).abs() < 1e-3 * plain.abs().max(1.0),
            "{site}: composite forward {traced} vs fused {plain}"
        );
        let grads = l.backward().unwrap();
        // Directional derivative along a random direction: autograd vs central differences.
        let dirs: Vec<Tensor> =
            point.iter().enumerate().map(|(i, t)| normal_tensor(t.dims(), 1.0, 50 + i as u64)).collect();
        let analytic: f32 = vars
            .iter()
            .zip(&dirs)
            .map(|(v, d)| (grads.get(v).unwrap() * d).unwrap().sum_all().unwrap().to_scalar::<f32>().unwrap())
            .sum();
        // The step: 5% of the point's norm. Smaller steps drown the O(1e-5) loss difference in
        // f32 rounding noise of a 30-layer forward (at 1% the estimate moved by 3% between two
        // equivalent orderings of the same computation); the curvature error at 5% is ~0.1%.
        let eps = 0.05
            * point.iter().map(|t| t.sqr().unwrap().sum_all().unwrap().to_scalar::<f32>().unwrap()).sum::<f32>().sqrt()
            / dirs.iter().map(|t| t.sqr().unwrap().sum_all().unwrap().to_scalar::<f32>().unwrap()).sum::<f32>().sqrt();
        let at = |s: f32| {
            let moved: Vec<Tensor> =
                point.iter().zip(&dirs).map(|(p, d)| (p + (d * s as f64).unwrap()).unwrap()).collect();
            loss(&prepared, site, make(&moved)).to_scalar::<f32>().unwrap() as f64
        };
        // The loss is f32: its round-off (~1e-6 of ~3) is several % of a 1%-step difference for
        // the dense update, so one central difference is noise (measured spread ±3% over step
        // sizes). Instead: a quadratic least-squares fit through steps ±1, ±2, ±3 (symmetric, so
        // its slope is the plain regression slope and the curvature does not bias it), with the
        // slope's standard error from the fit's residuals as the finite differences' own
        // uncertainty.
        let steps: Vec<f64> = [-3.0, -2.0, -1.0, 1.0, 2.0, 3.0].iter().map(|k| k * eps as f64).collect();
        let losses: Vec<f64> = steps.iter().map(|&s| at(s as f32)).collect();
        let n = steps.len() as f64;
        let mean = losses.iter().sum::<f64>() / n;
        let s2: f64 = steps.iter().map(|s| s * s).sum();
        let numeric = steps.iter().zip(&losses).map(|(s, y)| s * (y - mean)).sum::<f64>() / s2;
        let q: Vec<f64> = steps.iter().map(|s| s * s - s2 / n).collect();
        let curve =
            q.iter().zip(&losses).map(|(q, y)| q * (y - mean)).sum::<f64>() / q.iter().map(|q| q * q).sum::<f64>();
        let residual: f64 =
            steps.iter().zip(&q).zip(&losses).map(|((s, q), y)| (y - mean - numeric * s - curve * q).powi(2)).sum();
        let stderr = (residual / (n - 3.0) / s2).sqrt();
        let (numeric, stderr) = (numeric as f32, stderr as f32);
        println!(
            "{site}: directional derivative autograd {analytic:.5} vs finite differences {numeric:.5} ± {stderr:.5}"
        );
        assert!(
            (analytic - numeric).abs() <= 0.01 * numeric.abs() + 3.0 * stderr + 1e-4,
            "{site}: autograd {analytic} vs finite differences {numeric} ± {stderr}"
        );
    }
}

/// One real SPLIT step, so the update is a trained one (LoRA's B starts at zero).
fn trained(form: UpdateForm, site: Site, layer: usize) -> Edit {
    let llama = &model().llama;
    let prepared = Prepared::new(llama, &concept_pairs("formality.train.jsonl", 2), layer, |_, _| {}).unwrap();
    let mut config = TrainSettings::new(form, Objective::split_for(form), layer, site);
    config.batch = 2;
    let mut t = Trainer::new(llama, &prepared, config).unwrap();
    t.step().unwrap();
    t.edit()
}

#[test]
fn every_method_as_weights_equals_as_hook() {
    let layer = 24;
    let dm = steerscope::steer::fitted::FittedVector::from_pairs(
        &model().llama,
        &concept_pairs("formality.train.jsonl", 4),
        steerscope::steer::methods::Method::DiffMean,
        layer,
        Site::Residual,
        Default::default(),
        |_, _| {},
    )
    .unwrap();
    let diffmean = Edit::AddVector(Tensor::from_vec(dm.vector.clone(), dm.vector.len(), &Device::Cpu).unwrap());
    let cases = [
        ("diffmean", Site::Residual, diffmean),
        ("vector", Site::Residual, trained(UpdateForm::Vector, Site::Residual, layer)),
        ("lora", Site::MlpOut, trained(UpdateForm::Lora { rank: 4 }, Site::MlpOut, layer)),
        ("lora", Site::AttnOut, trained(UpdateForm::Lora { rank: 4 }, Site::AttnOut, layer)),
        ("local-weight", Site::MlpOut, trained(UpdateForm::LocalWeight, Site::MlpOut, layer)),
    ];
    for (name, site, edit) in cases {
        let c = &model().llama.config;
        let is_vector = matches!(edit, Edit::AddVector(_));
        // One training step moves LoRA / local weights only a little: a large strength makes
        // their effect big enough for the comparison to mean something (both sides are linear in m).
        let strength = if is_vector { 1.5 } else { 200.0 };
        let hooked = if is_vector { model() } else { f32_model() };
        let mut merged = Model::load(model_bytes()).unwrap();
        if !is_vector {
            merged.llama.to_f32().unwrap();
        }
        let iv = Intervention::new(c, layer, site, edit.clone(), strength).unwrap();
        let run = |m: &Model, s: Steering| {
            let s = s.recording(layer, site);
            let ids = m.tokenizer.encode(&m.chat.prompt(None, "Write one sentence about the sea.")).unwrap();
            let fwd = m.llama.forward(&ids, &mut Cache::new(), &s).unwrap();
            let n = fwd.hidden.dim(0).unwrap();
            let logits: Vec<f32> = m
                .llama
                .logits(&fwd.hidden.narrow(0, n - 1, 1).unwrap())
                .unwrap()
                .flatten_all()
                .unwrap()
                .to_vec1()
                .unwrap();
            (fwd.recorded[0].flatten_all().unwrap().to_vec1::<f32>().unwrap(), logits)
        };
        let (_, base) = run(hooked, Steering::none());
        let (site_hook, as_hook) = run(hooked, Steering::none().with(iv.clone()));
        merged.llama.merge(&iv).unwrap();
        let (site_weights, as_weights) = run(&merged, Steering::none());
        let (ds, d) = (max_diff(&site_hook, &site_weights), max_diff(&as_hook, &as_weights));
        let (ss, ls) = (max_abs(&site_hook), max_abs(&as_hook));
        println!("{name} at {site}: hook vs merged weights: site max |Δ| = {ds:e} (of {ss:.1}); logits max |Δ| = {d:e} (of {ls:.1}); effect {:e}", max_diff(&as_hook, &base));
        if is_vector {
            // A vector folded into W_down's bias: the same additions in the same order.
            assert!(site_hook == site_weights && as_hook == as_weights, "{name} at {site}: not the same bits");
        } else {
            // ΔW·u added to W·u, or (W + ΔW)·u: f32 sums in another order, bounded relative to
            // the largest value compared.
            assert!(ds <= 1e-5 * ss, "{name} at {site}: site activation, hook vs weights {ds}");
            assert!(d <= 1e-5 * ls, "{name} at {site}: logits, hook vs weights {d}");
        }
        assert!(max_diff(&as_hook, &base) > 1e-2, "{name} at {site}: the update changed nothing");
    }
    // A weight update cannot be merged where the writer is not affine.
    let c = &model().llama.config;
    let mut m = Model::load(model_bytes()).unwrap();
    let err = m
        .llama
        .merge(
            &Intervention::new(
                c,
                layer,
                Site::Residual,
                Edit::Dense { w: Tensor::zeros((576, 576), DType::F32, &Device::Cpu).unwrap(), bias: None },
                1.0,
            )
            .unwrap(),
        )
        .unwrap_err();
    assert!(err.to_string().contains("cannot be merged"), "{err}");
}

#[test]
fn training_moves_preference_and_divergence_keeps_last_good() {
    let llama = &model().llama;
    let layer = 20;
    let data = concept_pairs("sentiment.train.jsonl", 8);
    let prepared = Prepared::new(llama, &data, layer, |_, _| {}).unwrap();
    let mut config =
        TrainSettings::new(UpdateForm::Vector, Objective::split_for(UpdateForm::Vector), layer, Site::Residual);
    config.epochs = 3;
    let mut t = Trainer::new(llama, &prepared, config.clone()).unwrap();
    while t.step < t.total_steps() {
        t.step().unwrap();
    }
    let pref = |m: f32| {
        let iv = Intervention::new(&llama.config, layer, Site::Residual, t.edit(), m).unwrap();
        let scores = prepared.score(llama, &Steering::none().with(iv), Site::Residual, |_, _| {}).unwrap().scores;
        scores.iter().map(|s| s.pref_odds).sum::<f32>() / scores.len() as f32
    };
    let (neg, zero, pos) = (pref(-2.0), pref(0.0), pref(2.0));
    println!("trained vector: preference at m = -2, 0, +2: {neg:.3} {zero:.3} {pos:.3}");
    assert!(pos > zero + 0.2 && neg < zero - 0.2, "training did not move preference: {neg} {zero} {pos}");

    // A learning rate and factor so large the update outgrows the residual stream in one step:
    // stop at once, parameters untouched (zero).
    config.factors = vec![1000.0];
    config.learning_rate = 10.0;
    let mut t = Trainer::new(llama, &prepared, config.clone()).unwrap();
    let err = t.step().unwrap_err();
    assert!(matches!(err, Error::Diverged { step: 1, .. }), "{err}");
    assert!(err.to_string().contains("last good"), "{err}");
    let Edit::AddVector(v) = t.edit() else { panic!() };
    assert_eq!(v.abs().unwrap().sum_all().unwrap().to_scalar::<f32>().unwrap(), 0.0);
    // Bad configurations are refused up front.
    let bad = |f: &dyn Fn(&mut TrainSettings)| {
        let mut c = config.clone();
        c.factors = vec![1.0];
        f(&mut c);
        Trainer::new(llama, &prepared, c).err().map(|e| e.to_string()).unwrap_or_default()
    };
    assert!(bad(&|c| c.learning_rate = f64::NAN).contains("learning rate"));
    assert!(bad(&|c| c.factors = vec![f32::NAN]).contains("factors"));
    assert!(bad(&|c| c.factors = vec![1e38]).contains("|f| ≤ 1000"));
    assert!(bad(&|c| c.layer = 99).contains("out of range"));
    assert!(bad(&|c| {
        c.form = UpdateForm::LocalWeight;
        c.site = Site::MlpMid
    })
    .contains("does not support site `mlp_mid`"));
}
