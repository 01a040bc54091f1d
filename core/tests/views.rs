//! The numbers behind the page's views (issue 14), each against a straightforward reference on
//! the real model:
//! - the update as a weight change: `‖W‖` against candle's own dequantization of the GGUF
//!   tensor, `‖ΔW‖`, `Σσ²` and `Σσ⁴` against the plainly formed `ΔW` and `ΔW·ΔWᵀ`, the rank of
//!   a LoRA product, the heatmap slice against the matrices;
//! - per-token log-probabilities against one plain forward pass over prompt ++ completion per
//!   steering, for every position mask;
//! - the frontier against separate single-update sessions, and a stopped frontier keeping its
//!   finished points;
//! - the calibration grid from activations read once against the one that reads its own;
//! - a combination of vectors against the weighted sum written out here.
mod common;
use candle_core::{Device, Tensor};
use common::*;
use std::collections::HashMap;
use steerscope::analysis::calibrate::Calibration;
use steerscope::analysis::combine::Term;
use steerscope::analysis::frontier;
use steerscope::analysis::session::{Direction, Split, SweepSession};
use steerscope::model::linear::qtensor;
use steerscope::model::pairs::{Prepared, Read};
use steerscope::model::sites::Positions;
use steerscope::model::tokens::{completion_logprobs, steered_mask, ReadPositions, TokenEffects};
use steerscope::model::{Edit, Intervention, Site, Steering};
use steerscope::progress::Stoppable;
use steerscope::steer::induced::{Detail, Form, WeightChange};
use steerscope::steer::methods::Method;
use steerscope::steer::update::Update;
use steerscope::Error;

const LAYER: usize = 15;

fn tensor(values: Vec<f32>, shape: &[usize]) -> Tensor {
    Tensor::from_vec(values, shape, &Device::Cpu).unwrap()
}

fn normals(n: usize, seed: u64, scale: f32) -> Vec<f32> {
    steerscope::rng::Rng::new(seed).normals(n, scale)
}

/// `W` of `blk.{LAYER}.{name}.weight` dequantized by candle (not by our Q4_1 kernel's code).
fn candle_weight(name: &str) -> Vec<Vec<f32>> {
    let g = steerscope::gguf::Gguf::parse(model_bytes()).unwrap();
    qtensor(&g, &format!("blk.{LAYER}.{name}.weight")).unwrap().dequantize(&Device::Cpu).unwrap().to_vec2().unwrap()
}

fn frobenius(rows: &[Vec<f32>]) -> f64 {
    rows.iter().flatten().map(|&x| (x as f64).powi(2)).sum::<f64>().sqrt()
}

fn rel(a: f64, b: f64) -> f64 {
    (a - b).abs() / b.abs().max(f64::MIN_POSITIVE)
}

#[test]
fn a_vector_is_a_bias_of_w_down_of_rank_zero() {
    let llama = &model().llama;
    let v = normals(576, 1, 0.5);
    let m = -3.0f32;
    let w = WeightChange::of(
        llama,
        LAYER,
        Site::Residual,
        &Edit::AddVector(tensor(v.clone(), &[576])),
        m,
        Detail::default(),
    )
    .unwrap();
    assert_eq!(w.form, Form::Vector);
    assert_eq!((w.rank, w.delta_w_shape, w.delta_b_len), (0, None, Some(576)));
    assert!(w.singular_values.is_empty() && w.stable_rank.is_none() && w.delta_w_norm == 0.0);
    let writer = w.writer.as_ref().unwrap();
    assert_eq!((writer.tensor.as_str(), writer.name, writer.shape), ("blk.15.ffn_down.weight", "W_down", (576, 1536)));
    assert!(w.formula.contains("ΔW = 0, Δb = v"), "{}", w.formula);
    let plain_b = v.iter().map(|&x| (m as f64 * x as f64).powi(2)).sum::<f64>().sqrt();
    // f32 products summed in f64 on both sides: 1e-6 relative.
    assert!(rel(w.delta_b_norm as f64, plain_b) < 1e-6, "{} vs {plain_b}", w.delta_b_norm);
    // Our Q4_1 dequantization against candle's: the same numbers; sums in f64 → 1e-6.
    let norm_w = frobenius(&candle_weight("ffn_down"));
    assert!(rel(w.weight_norm.unwrap() as f64, norm_w) < 1e-6, "{:?} vs {norm_w}", w.weight_norm);
    // The slice's rows are the vector's largest entries, with their values times m.
    let smallest_in = w.slice.rows.iter().map(|&r| v[r].abs()).fold(f32::MAX, f32::min);
    let largest_out = (0..576).filter(|r| !w.slice.rows.contains(r)).map(|r| v[r].abs()).fold(0.0, f32::max);
    assert!(smallest_in >= largest_out);
    for (&r, &b) in w.slice.rows.iter().zip(&w.slice.delta_b) {
        assert_eq!(b, m * v[r]);
    }
    assert!(w.slice.cols.is_empty());
}

#[test]
fn a_lora_product_has_rank_four_and_the_plain_products_spectrum() {
    let llama = &model().llama;
    let (a, b) = (normals(4 * 1536, 2, 0.02), normals(576 * 4, 3, 0.1));
    let edit = Edit::LowRank { a: tensor(a.clone(), &[4, 1536]), b: tensor(b.clone(), &[576, 4]) };
    let m = 2.5f32;
    let w = WeightChange::of(llama, LAYER, Site::MlpOut, &edit, m, Detail { top_k: 8, rows: 6, cols: 5 }).unwrap();
    assert_eq!(w.form, Form::LowRank);
    assert_eq!((w.rank, w.singular_values.len(), w.delta_w_shape), (4, 4, Some((576, 1536))));
    assert!(w.formula.contains("ΔW = B·A"), "{}", w.formula);
    // ΔW = m·B·A formed plainly in f64.
    let dw: Vec<Vec<f64>> = (0..576)
        .map(|r| {
            (0..1536)
                .map(|c| m as f64 * (0..4).map(|k| b[r * 4 + k] as f64 * a[k * 1536 + c] as f64).sum::<f64>())
                .collect()
        })
        .collect();
    let frob2: f64 = dw.iter().flatten().map(|x| x * x).sum();
    // Σσ² = ‖ΔW‖_F² and Σσ⁴ = ‖ΔW·ΔWᵀ‖_F² = trace((ΔWᵀΔW)²): two power sums of the
    // eigenvalues of ΔWᵀΔW, computed without any eigensolver. σ in f32: 1e-5 relative.
    let sigma: Vec<f64> = w.singular_values.iter().map(|&s| s as f64).collect();
    assert!(rel(sigma.iter().map(|s| s * s).sum(), frob2) < 1e-5);
    let mut fourth = 0.0;
    for i in 0..576 {
        for j in 0..576 {
            let g: f64 = dw[i].iter().zip(&dw[j]).map(|(x, y)| x * y).sum();
            fourth += g * g;
        }
    }
    assert!(rel(sigma.iter().map(|s| s.powi(4)).sum(), fourth) < 1e-5, "{sigma:?}");
    assert!(rel(w.delta_w_norm as f64, frob2.sqrt()) < 1e-5);
    let norm_w = frobenius(&candle_weight("ffn_down"));
    assert!(rel(w.relative.unwrap() as f64, frob2.sqrt() / norm_w) < 1e-5);
    // The slice holds ΔW and W at its rows and columns.
    let wd = candle_weight("ffn_down");
    for (i, &r) in w.slice.rows.iter().enumerate() {
        for (j, &c) in w.slice.cols.iter().enumerate() {
            assert!((w.slice.delta_w[i][j] as f64 - dw[r][c]).abs() <= 1e-5 * dw[r][c].abs().max(1e-3));
            assert_eq!(w.slice.weight[i][j], wd[r][c]);
        }
    }
    // Strength scales every size, not the rank.
    let half = WeightChange::of(llama, LAYER, Site::MlpOut, &edit, m / 2.0, Detail::default()).unwrap();
    assert_eq!(half.rank, 4);
    assert!(rel(half.delta_w_norm as f64 * 2.0, w.delta_w_norm as f64) < 1e-6);
}

#[test]
fn a_dense_update_has_full_rank_and_every_singular_value() {
    let llama = &model().llama;
    let dw = normals(576 * 1536, 4, 0.01);
    let bias = normals(576, 5, 0.1);
    let edit = Edit::Dense { w: tensor(dw.clone(), &[576, 1536]), bias: Some(tensor(bias.clone(), &[576])) };
    let start = std::time::Instant::now();
    let w = WeightChange::of(llama, LAYER, Site::MlpOut, &edit, 1.0, Detail { top_k: 600, rows: 4, cols: 4 }).unwrap();
    println!("weight change of a dense 576×1536 update: {:.2} s (load {})", start.elapsed().as_secs_f32(), load());
    assert_eq!(w.form, Form::Dense);
    assert!(w.formula.contains("ΔW dense") && w.formula.contains("Δb"), "{}", w.formula);
    // A Gaussian 576 × 1536 matrix has full rank 576, every singular value listed.
    assert_eq!((w.rank, w.singular_values.len()), (576, 576));
    let frob2: f64 = dw.iter().map(|&x| (x as f64).powi(2)).sum();
    let sigma2: f64 = w.singular_values.iter().map(|&s| (s as f64).powi(2)).sum();
    assert!(rel(sigma2, frob2) < 1e-5, "Σσ² {sigma2} vs ‖ΔW‖² {frob2}");
    assert!(rel(w.singular_energy.unwrap() as f64, 1.0) < 1e-5);
    // Marchenko–Pastur: σ of an n × d Gaussian (entries of s.d. s) lie in s·(√d ± √n).
    let (lo, hi) = (0.01 * (1536f64.sqrt() - 576f64.sqrt()), 0.01 * (1536f64.sqrt() + 576f64.sqrt()));
    assert!(w.singular_values.iter().all(|&s| (s as f64) > 0.9 * lo && (s as f64) < 1.1 * hi), "{lo}..{hi}");
    let norm_w = frobenius(&candle_weight("ffn_down"));
    assert!(rel(w.relative.unwrap() as f64, frob2.sqrt() / norm_w) < 1e-5);
    let plain_b = bias.iter().map(|&x| (x as f64).powi(2)).sum::<f64>().sqrt();
    assert!(rel(w.delta_b_norm as f64, plain_b) < 1e-6);
}

fn load() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
}

#[test]
fn updates_that_are_no_weight_change_say_why() {
    let llama = &model().llama;
    let v = tensor(normals(576, 6, 1.0), &[576]);
    let e = WeightChange::of(llama, LAYER, Site::Residual, &Edit::ProjectOut(v.clone()), 1.0, Detail::default())
        .unwrap_err();
    assert!(e.to_string().contains("no weight update"), "{e}");
    let mid = WeightChange::of(
        llama,
        LAYER,
        Site::MlpMid,
        &Edit::AddVector(tensor(normals(1536, 7, 1.0), &[1536])),
        1.0,
        Detail::default(),
    )
    .unwrap();
    assert!(mid.writer.is_none() && mid.weight_norm.is_none());
    assert!(mid.formula.contains("no affine writer"), "{}", mid.formula);
    let e = WeightChange::of(llama, LAYER, Site::Residual, &Edit::AddVector(v), f32::NAN, Detail::default());
    assert!(e.is_err());
}

#[test]
fn per_token_log_probabilities_match_plain_forward_passes_under_every_mask() {
    let m = model();
    let llama = &m.llama;
    let prompt = m.tokenizer.encode(&m.chat.prompt(None, "Tell me about your weekend.")).unwrap();
    let completion = m.tokenizer.encode_continuation("It was a lovely day by the sea, and we swam.").unwrap();
    let (p, n) = (prompt.len(), completion.len());
    let v = tensor(normals(576, 8, 1.0), &[576]);
    let iv = |positions| {
        Steering::none().with(
            Intervention::new(&llama.config, LAYER, Site::Residual, Edit::AddVector(v.clone()), 4.0)
                .unwrap()
                .at(positions),
        )
    };
    let base = completion_logprobs(llama, &prompt, &completion, &Steering::none()).unwrap();
    let plain_base = plain_logprobs(&prompt, &completion, &Steering::none());
    // The mask and the same positions in absolute terms, for a single plain pass (where the
    // whole sequence is one call, so only `all` and `from:N` mean the same thing there).
    let cases = [
        (Positions::All, Positions::All),
        (Positions::Completion, Positions::From(p)),
        (Positions::From(p - 3), Positions::From(p - 3)),
        (Positions::From(p + 2), Positions::From(p + 2)),
    ];
    let mut totals = Vec::new();
    for (mask, absolute) in cases {
        let steered = completion_logprobs(llama, &prompt, &completion, &iv(mask)).unwrap();
        let plain = plain_logprobs(&prompt, &completion, &iv(absolute));
        for t in 0..n {
            // Two calls on a cache vs one call: the same rows through the same kernels, summed
            // in another order inside attention; 1e-3 nats (the sweep tests' bound).
            assert!((steered[t] as f64 - plain[t]).abs() <= 1e-3 * plain[t].abs().max(1.0), "{mask:?} token {t}");
            assert!((base[t] as f64 - plain_base[t]).abs() <= 1e-3 * plain_base[t].abs().max(1.0));
        }
        let fx =
            TokenEffects::measure(llama, &m.tokenizer, &prompt, &completion, &iv(mask), ReadPositions::CompletionMean)
                .unwrap();
        assert_eq!(fx.steered, steered_mask(&iv(mask), p, p + n));
        let want: Vec<bool> = (0..p + n).map(|i| absolute.covers(i, Some(p))).collect();
        assert_eq!(fx.steered, want, "{mask:?}");
        assert_eq!(fx.read.as_deref().unwrap(), &(0..p + n).map(|i| i >= p).collect::<Vec<_>>()[..]);
        assert_eq!(fx.pieces.concat(), m.tokenizer.decode(&fx.ids).unwrap());
        let total: f64 = steered.iter().zip(&base).map(|(s, b)| (s - b) as f64).sum();
        assert!((fx.total_change as f64 - total).abs() <= 1e-4 * total.abs().max(1.0));
        totals.push(fx.total_change);
    }
    // Steering only the prompt moves the completion through attention alone: still a change.
    let prompt_only = TokenEffects::measure(
        llama,
        &m.tokenizer,
        &prompt,
        &completion,
        &iv(Positions::Prompt),
        ReadPositions::Unknown,
    )
    .unwrap();
    assert_eq!(prompt_only.steered, (0..p + n).map(|i| i < p).collect::<Vec<_>>());
    assert!(prompt_only.read.is_none());
    totals.push(prompt_only.total_change);
    // Different masks steer different positions: the completion's total moves differently.
    for (i, a) in totals.iter().enumerate() {
        for b in &totals[i + 1..] {
            assert_ne!(a, b, "masks gave the same total change: {totals:?}");
        }
    }
}

fn small_session(layer: usize) -> SweepSession {
    let llama = &model().llama;
    SweepSession::new(llama, concept_pairs("sentiment.train.jsonl", 3), concept_pairs("sentiment.test.jsonl", 2), layer)
        .unwrap()
}

#[test]
fn the_frontier_is_each_method_as_measured_alone() {
    let llama = &model().llama;
    let strengths = [-4.0, 0.0, 4.0];
    let mut s = small_session(LAYER);
    for method in [Method::DiffMean, Method::Pca] {
        s.fit(llama, method, Site::Residual, Positions::All, None, 1, |_, _| {}).unwrap();
    }
    let f = frontier::measure(&mut s, llama, Split::Test, &[], &strengths, true, |_, _| {}).unwrap();
    assert_eq!(f.current.as_deref(), Some("pca"), "the current update stays current");
    assert_eq!(f.methods.iter().map(|c| c.name.as_str()).collect::<Vec<_>>(), ["diffmean", "pca"]);
    assert_eq!(f.random.len(), 1, "one random direction per site");
    assert_eq!(f.random[0].points.len(), 3);
    for curve in &f.methods {
        // The same method alone in a fresh session: the same points.
        let mut alone = small_session(LAYER);
        let method: Method = curve.name.parse().unwrap();
        alone.fit(llama, method, Site::Residual, Positions::All, None, 1, |_, _| {}).unwrap();
        let sweep = alone.sweep(llama, Split::Test, Direction::Update, &strengths, |_, _| {}).unwrap();
        assert_eq!(curve.points.len(), 3);
        for (a, b) in curve.points.iter().zip(&sweep.points) {
            assert_eq!(
                (a.point.pref_odds, a.point.util_odds),
                (b.point.pref_odds, b.point.util_odds),
                "{}",
                curve.name
            );
            assert_eq!(a.off_manifold, b.off_manifold);
        }
        assert_eq!(curve.manifold_vs_utility_drop, sweep.manifold_vs_utility_drop);
        // The scatter: utility drop from the m = 0 point, next to each point's off-manifold score.
        let u0 = sweep.points[1].point.util_odds.unwrap();
        for (mp, p) in curve.manifold.iter().zip(&sweep.points) {
            assert_eq!(mp.strength, p.point.strength);
            assert_eq!(mp.util_drop, u0 - p.point.util_odds.unwrap());
        }
    }
    // Unknown names are refused before any work.
    let e = frontier::measure(&mut s, llama, Split::Test, &["nope".into()], &strengths, false, |_, _| {});
    assert!(e.unwrap_err().to_string().contains("no update called `nope`"));
}

#[test]
fn a_stopped_frontier_keeps_its_finished_points() {
    let llama = &model().llama;
    let mut s = small_session(LAYER);
    s.fit(llama, Method::DiffMean, Site::Residual, Positions::All, None, 1, |_, _| {}).unwrap();
    // Two test pairs per point: stop once the progress is past the first point's two pairs,
    // inside the second strength's point (counted by the position reported, not by the number
    // of reports: preparing the pairs reports too).
    let done = std::cell::Cell::new(0);
    let stop = Stoppable { on_progress: |d, _| done.set(d), stop: || done.get() > 2 };
    let e = frontier::measure(&mut s, llama, Split::Test, &[], &[-2.0, 2.0], false, stop).unwrap_err();
    assert_eq!(e, Error::Cancelled);
    let f = s.frontier(Split::Test);
    let strengths: Vec<f32> = f.methods[0].points.iter().map(|p| p.point.strength).collect();
    assert_eq!(strengths, [-2.0], "the finished point is kept, the stopped one is not");
    assert_eq!(s.steered().unwrap().name, "diffmean");
    let f = frontier::measure(&mut s, llama, Split::Test, &[], &[-2.0, 2.0], false, |_, _| {}).unwrap();
    assert_eq!(f.methods[0].points.len(), 2);
}

#[test]
fn calibration_from_activations_read_once_is_the_same_grid() {
    let llama = &model().llama;
    let (train, test) = (concept_pairs("sentiment.train.jsonl", 3), concept_pairs("sentiment.test.jsonl", 2));
    let (layers, strengths) = ([9, 15], [0.0, 3.0, 6.0]);
    let own =
        Calibration::run(llama, &train, &test, Method::DiffMean, &layers, &strengths, 0.3, None, |_, _| {}).unwrap();
    let sites: Vec<(usize, Site)> = (0..30).flat_map(|l| Site::ALL.map(|s| (l, s))).collect();
    let acts = Prepared::new(llama, &train, 0, |_, _| {})
        .unwrap()
        .read_activations(llama, &sites, Read::CompletionMean, |_, _| {})
        .unwrap();
    let mut seen = Vec::new();
    let shared =
        Calibration::run_with(llama, &acts, &train, &test, Method::DiffMean, &layers, &strengths, 0.3, None, |d, t| {
            seen.push((d, t))
        })
        .unwrap();
    assert_eq!(seen.last(), Some(&(12, 12)), "one unit per held-out pair of each cell: {seen:?}");
    assert_eq!(own.cells.len(), 6);
    for (a, b) in own.cells.iter().zip(&shared.cells) {
        assert_eq!((a.layer, a.strength, a.pref_odds, a.util_odds), (b.layer, b.strength, b.pref_odds, b.util_odds));
    }
    for (c, d) in shared.cells.iter().zip(&shared.changes) {
        let z = shared.cells.iter().find(|z| z.layer == c.layer && z.strength == 0.0).unwrap();
        assert_eq!((d.layer, d.strength), (c.layer, c.strength));
        assert_eq!(d.pref_gain, c.pref_odds - z.pref_odds);
        assert_eq!(d.util_drop, Some(z.util_odds.unwrap() - c.util_odds.unwrap()));
    }
    // Stopping the grid ends it with Cancelled.
    let stop = Stoppable { on_progress: |_, _| {}, stop: || true };
    let e = Calibration::run_with(llama, &acts, &train, &test, Method::DiffMean, &layers, &strengths, 0.3, None, stop);
    assert_eq!(e.unwrap_err(), Error::Cancelled);
}

#[test]
fn a_combination_is_the_weighted_sum_of_unit_vectors_rescaled() {
    let llama = &model().llama;
    let mut s = small_session(LAYER);
    let unit = |s: &SweepSession, name: &str| -> Vec<f32> {
        s.updates().iter().find(|u| u.name == name).unwrap().edit.as_weights().unwrap().1.unwrap().to_vec1().unwrap()
    };
    s.fit(llama, Method::DiffMean, Site::Residual, Positions::All, None, 1, |_, _| {}).unwrap();
    let meta = HashMap::from([("method".to_string(), "noise".to_string())]);
    let noise = Update {
        layer: LAYER,
        site: Site::Residual,
        edit: Edit::AddVector(tensor(normals(576, 9, 1.0), &[576])),
        positions: Positions::All,
        meta,
    };
    s.set_update(llama, &noise, "noise").unwrap();
    let (a, b) = (unit(&s, "diffmean"), unit(&s, "noise"));
    let parts = [Term { name: "diffmean".into(), weight: 0.5 }, Term { name: "noise".into(), weight: 2.0 }];
    let c = s.combine(llama, &parts).unwrap().clone();
    assert_eq!(c.name, "0.5·diffmean + 2·noise");
    assert_eq!(s.steered().unwrap().name, c.name, "the combination is current");
    let sum: Vec<f64> = a.iter().zip(&b).map(|(x, y)| 0.5 * *x as f64 + 2.0 * *y as f64).collect();
    let norm = sum.iter().map(|x| x * x).sum::<f64>().sqrt();
    // Rescaled like every update: strength 1 adds 0.05 × the layer's residual norm.
    let want = 0.05 * c.scale.residual_norm as f64;
    let got: Vec<f32> = c.edit.as_weights().unwrap().1.unwrap().to_vec1().unwrap();
    for (g, x) in got.iter().zip(&sum) {
        assert!((*g as f64 - x / norm * want).abs() <= 1e-5 * want, "{g} vs {}", x / norm * want);
    }
    let table = s.cosines(&["diffmean", "noise"]).unwrap();
    let plain = a.iter().zip(&b).map(|(x, y)| *x as f64 * *y as f64).sum::<f64>()
        / (a.iter().map(|x| (*x as f64).powi(2)).sum::<f64>().sqrt()
            * b.iter().map(|x| (*x as f64).powi(2)).sum::<f64>().sqrt());
    assert!((table.cosine[0][1] as f64 - plain).abs() < 1e-6);
    // One vector is no combination; a weight update is no vector.
    assert!(s.combine(llama, &parts[..1]).unwrap_err().to_string().contains("two or more"));
    let lora = Update {
        layer: LAYER,
        site: Site::MlpOut,
        edit: Edit::LowRank {
            a: tensor(normals(4 * 1536, 10, 0.02), &[4, 1536]),
            b: tensor(normals(576 * 4, 11, 0.1), &[576, 4]),
        },
        positions: Positions::All,
        meta: HashMap::from([("method".to_string(), "lora".to_string())]),
    };
    s.set_update(llama, &lora, "lora").unwrap();
    let e = s.combine(llama, &[parts[0].clone(), Term { name: "lora".into(), weight: 1.0 }]).unwrap_err();
    assert!(e.to_string().contains("`lora` is a weight update"), "{e}");
}

/// The page's token view is the session's update measured by `TokenEffects::measure`: the
/// same steering (the update's own mask unless one is given) and, without a completion, the
/// unsteered model's greedy one (`generate`, an independent path through the decode loop).
#[test]
fn token_effects_of_a_session_are_its_update_measured_alone() {
    let m = model();
    let llama = &m.llama;
    let mut s = small_session(LAYER);
    assert!(s.token_effects(m, &[1, 2], Some(&[3]), 2.0, None, 4).unwrap_err().to_string().contains("fit one first"));
    s.fit(llama, Method::DiffMean, Site::Residual, Positions::Completion, None, 1, |_, _| {}).unwrap();
    // Steering the completion only is no llama.cpp control vector (those steer every position).
    let refused = s.control_vector(2.0, None, None).unwrap_err().to_string();
    assert!(refused.contains("positions `completion`"), "{refused}");
    let prompt = m.tokenizer.encode(&m.chat.render(&Default::default(), "Describe the weather today.")).unwrap();
    assert!(matches!(s.token_effects(m, &[], None, 2.0, None, 4), Err(Error::EmptyPrompt)));
    assert!(s.token_effects(m, &prompt, None, f32::NAN, None, 4).is_err());

    let fx = s.token_effects(m, &prompt, None, 6.0, None, 6).unwrap();
    let greedy = steerscope::model::generate::generate(
        m,
        &prompt,
        6,
        steerscope::model::generate::Sampling::GREEDY,
        &Steering::none(),
        |_| {},
    )
    .unwrap();
    assert_eq!(&fx.ids[..prompt.len()], &prompt[..]);
    assert_eq!(&fx.ids[prompt.len()..], &greedy.ids[..]);
    let own = s.steering(llama, Direction::Update, 6.0).unwrap();
    let alone =
        TokenEffects::measure(llama, &m.tokenizer, &prompt, &greedy.ids, &own, ReadPositions::CompletionMean).unwrap();
    assert_eq!(fx, alone);
    // Another mask steers other positions and gives another total.
    let masked = s.token_effects(m, &prompt, Some(&greedy.ids), 6.0, Some(Positions::Prompt), 6).unwrap();
    assert_eq!(masked.steered, (0..fx.ids.len()).map(|i| i < prompt.len()).collect::<Vec<_>>());
    assert_ne!(masked.total_change, fx.total_change);
}
