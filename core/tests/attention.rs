//! Integration tests of the attention lab (fast: the whole file runs in seconds in release).

mod common;
use common::max_diff;
use steerscope::attention::construct::{composition_at_least, construct, precision_warning, Precision};
use steerscope::attention::mixer::{AnyMixer, Mixer};
use steerscope::attention::spec::{format_spec, parse_spec, MixerKind};
use steerscope::attention::stack::{MixerMode, Stack, StackShape};
use steerscope::attention::task::{brute_force, TaskSpec};
use steerscope::attention::{softmax, AttnError};
use steerscope::rng::Rng;

// ---------------------------------------------------------------- task

#[test]
fn solver_agrees_with_brute_force() {
    let mut rng = Rng::new(1);
    for steps in 1..=5 {
        for k in [2, 3, 4] {
            for task in [TaskSpec::composition_uniform(steps, k).unwrap(), TaskSpec::lookup(steps, k).unwrap()] {
                for _ in 0..50 {
                    let inst = task.sample(&mut rng);
                    let toks = inst.tokens();
                    assert_eq!(toks.len(), task.prompt_len());
                    assert_eq!(brute_force(&toks, &inst.w), Some(inst.solve()), "{task:?}");
                    assert!((inst.solve() as usize) < task.num_classes());
                }
            }
        }
    }
    // Unequal domains.
    let task = TaskSpec::Composition { steps: 3, m: 3, n: vec![2, 5] };
    task.validate().unwrap();
    assert_eq!(task.prompt_len(), 2 + 3 + 6 + 30);
    for _ in 0..100 {
        let inst = task.sample(&mut rng);
        assert_eq!(brute_force(&inst.tokens(), &inst.w), Some(inst.solve()));
    }
}

#[test]
fn tasks_are_seeded() {
    let task = TaskSpec::composition_uniform(3, 4).unwrap();
    let a = task.sample(&mut Rng::new(7));
    let b = task.sample(&mut Rng::new(7));
    let c = task.sample(&mut Rng::new(8));
    assert_eq!(a, b);
    assert_ne!(a, c);
}

#[test]
fn bad_tasks_are_errors() {
    assert_eq!(TaskSpec::composition_uniform(0, 4), Err(AttnError::InvalidSteps(0)));
    assert!(matches!(TaskSpec::lookup(2, 1), Err(AttnError::DomainTooSmall { .. })));
    assert!(matches!(TaskSpec::composition_uniform(2, 1), Err(AttnError::DomainTooSmall { .. })));
    let bad = TaskSpec::Composition { steps: 3, m: 4, n: vec![2] };
    assert!(matches!(bad.validate(), Err(AttnError::Config(_))));
    let huge = TaskSpec::composition_uniform(12, 1000);
    assert!(matches!(huge, Err(AttnError::TooLong { .. })));
    let msg = TaskSpec::lookup(2, 1).unwrap_err().to_string();
    assert!(msg.contains("`k`") && msg.contains("at least 2"), "{msg}");
}

// ---------------------------------------------------------------- mixers

#[test]
fn chunked_equals_recurrent_for_every_mixer() {
    let (d, n) = (24, 45);
    for (i, kind) in MixerKind::ALL.iter().enumerate() {
        let mut rng = Rng::new(100 + i as u64);
        let m = AnyMixer::random(*kind, d, 2, 8, &mut rng);
        let x = rng.normals(n * d, 1.0);
        let rec = m.forward_recurrent(&x, n).unwrap();
        assert!(rec.iter().all(|z| z.is_finite()));
        let scale = rec.iter().map(|z| z.abs()).fold(1.0, f32::max);
        for chunk in [1, 4, 16, 64] {
            let ch = m.forward_chunked(&x, n, chunk).unwrap();
            let diff = max_diff(&rec, &ch) / scale;
            assert!(diff <= 1e-4, "{kind}: chunk {chunk}: relative diff {diff}");
        }
    }
}

#[test]
fn chunked_is_stable_on_long_sequences() {
    // Decays compound over long inputs; the chunked forms only exponentiate non-positive sums.
    let (d, n) = (16, 700);
    for kind in [MixerKind::Gla, MixerKind::Mamba2, MixerKind::GatedDeltaNet, MixerKind::RetNet] {
        let mut rng = Rng::new(5);
        let m = AnyMixer::random(kind, d, 2, 8, &mut rng);
        let x = rng.normals(n * d, 1.0);
        let rec = m.forward_recurrent(&x, n).unwrap();
        let ch = m.forward_chunked(&x, n, 64).unwrap();
        let scale = rec.iter().map(|z| z.abs()).fold(1.0, f32::max);
        assert!(max_diff(&rec, &ch) / scale <= 1e-4, "{kind}");
    }
}

#[test]
fn softmax_equals_naive_reference() {
    let mut rng = Rng::new(3);
    for (n, dk) in [(1, 4), (17, 8), (100, 16)] {
        let q = rng.normals(n * dk, 2.0);
        let k = rng.normals(n * dk, 2.0);
        let v = rng.normals(n * 5, 1.0);
        let naive = softmax::naive(&q, &k, &v, n, dk, 5, 0.7);
        let rec = softmax::recurrent(&q, &k, &v, n, dk, 5, 0.7);
        assert!(max_diff(&naive, &rec) <= 1e-5);
        for chunk in [1, 7, 32, 200] {
            let ch = softmax::chunked(&q, &k, &v, n, dk, 5, 0.7, chunk);
            assert!(max_diff(&naive, &ch) <= 1e-5, "chunk {chunk}");
        }
    }
    let m = softmax::SoftmaxAttention::random(12, 3, 4, &mut rng);
    let x = rng.normals(30 * 12, 1.0);
    let a = m.forward_naive(&x, 30).unwrap();
    assert!(max_diff(&a, &m.forward_recurrent(&x, 30).unwrap()) <= 1e-5);
    assert!(max_diff(&a, &m.forward_chunked(&x, 30, 8).unwrap()) <= 1e-5);
}

#[test]
fn mixers_are_causal() {
    let (d, n) = (16, 20);
    for kind in MixerKind::ALL {
        let mut rng = Rng::new(9);
        let m = AnyMixer::random(kind, d, 2, 4, &mut rng);
        let x = rng.normals(n * d, 1.0);
        let mut y = x.clone();
        for z in &mut y[15 * d..] {
            *z += 1.0;
        }
        let a = m.forward_chunked(&x, n, 8).unwrap();
        let b = m.forward_chunked(&y, n, 8).unwrap();
        assert!(max_diff(&a[..15 * d], &b[..15 * d]) == 0.0, "{kind}");
    }
}

#[test]
fn mixer_shape_errors_are_values() {
    let mut rng = Rng::new(1);
    let m = AnyMixer::random(MixerKind::DeltaNet, 8, 1, 4, &mut rng);
    assert!(matches!(m.forward_recurrent(&[0.0; 7], 1), Err(AttnError::Shape(_))));
    assert!(matches!(m.forward_chunked(&[0.0; 8], 1, 0), Err(AttnError::Config(_))));
}

// ---------------------------------------------------------------- spec and stack

#[test]
fn spec_strings_parse_and_round_trip() {
    let s = parse_spec("F, L:deltanet ,L:gla,F").unwrap();
    assert_eq!(s, vec![MixerKind::Softmax, MixerKind::DeltaNet, MixerKind::Gla, MixerKind::Softmax]);
    let s = parse_spec("F,L:gdn*4,L").unwrap();
    assert_eq!(s.len(), 6);
    assert_eq!(format_spec(&s), "F,L:gated_deltanet*4,L:linear");
    assert_eq!(parse_spec(&format_spec(&s)).unwrap(), s);
    for name in ["linear", "retnet", "gla", "mamba2", "deltanet", "gated_deltanet"] {
        assert!(parse_spec(&format!("L:{name}")).is_ok(), "{name}");
    }
}

#[test]
fn bad_spec_names_the_layer() {
    let e = parse_spec("F,L:deltanet,L:foo,F").unwrap_err();
    assert!(matches!(&e, AttnError::InvalidSpec { index: 2, layer, .. } if layer == "L:foo"));
    let msg = e.to_string();
    assert!(msg.contains("layer 2") && msg.contains("L:foo") && msg.contains("foo"), "{msg}");
    assert!(parse_spec("").is_err());
    assert!(parse_spec("F,,F").unwrap_err().to_string().contains("layer 1"));
    assert!(parse_spec("X").unwrap_err().to_string().contains("`X`"));
    assert!(parse_spec("F*0").is_err());
    assert!(parse_spec("F*x").is_err());
    assert!(parse_spec("F*100").is_err());
}

#[test]
fn hybrid_stack_recurrent_equals_chunked() {
    let task = TaskSpec::composition_uniform(2, 3).unwrap();
    let enc = task.encoding();
    let shape =
        StackShape { d_in: enc.dim(), d_model: 32, heads: 2, head_dim: 8, mlp_hidden: 64, classes: task.num_classes() };
    let mut rng = Rng::new(11);
    let stack = Stack::random("F,L:deltanet,L:gla,L:mamba2,L:gdn,L:retnet,L,F", shape, &mut rng).unwrap();
    let inst = task.sample(&mut rng);
    let x = inst.features(&enc);
    let n = task.prompt_len();
    let a = stack.forward(&x, n, MixerMode::Recurrent).unwrap();
    let b = stack.forward(&x, n, MixerMode::Chunked(4)).unwrap();
    let scale = a.iter().map(|z| z.abs()).fold(1.0, f32::max);
    assert!(max_diff(&a, &b) / scale <= 1e-4);
    // Serializes and comes back identical.
    let json = serde_json::to_string(&stack).unwrap();
    // An independent count: every parameter is a float in a JSON array (weights, gains, decay
    // logs); sizes are integers and fixed hyperparameters (a softmax's scale) lone floats.
    fn weights(v: &serde_json::Value) -> usize {
        match v {
            serde_json::Value::Array(a) => a.iter().map(|x| if x.is_f64() { 1 } else { weights(x) }).sum(),
            serde_json::Value::Object(o) => o.values().map(weights).sum(),
            _ => 0,
        }
    }
    assert_eq!(stack.num_params(), weights(&serde_json::from_str(&json).unwrap()));
    let back: Stack = serde_json::from_str(&json).unwrap();
    assert_eq!(back, stack);
}

// ---------------------------------------------------------------- construction

#[test]
fn construction_is_exact_for_l_1_to_5_at_n_over_1000() {
    for steps in 1..=5 {
        let task = composition_at_least(steps, 1000).unwrap();
        let n = task.prompt_len();
        assert!(n >= 1000);
        let c = construct(&task, None).unwrap();
        assert_eq!(c.stack.blocks.len(), steps + 1);
        let r = c.evaluate(1000, 42 + steps as u64, Precision::F32, |_| {}).unwrap();
        assert_eq!(r.correct, 1000, "L = {steps}, n = {n}: {r:?}");
    }
}

#[test]
fn construction_is_exact_on_short_prompts_and_lookup() {
    for steps in 1..=5 {
        for task in [TaskSpec::composition_uniform(steps, 2).unwrap(), TaskSpec::lookup(steps, 8).unwrap()] {
            let c = construct(&task, None).unwrap();
            let r = c.evaluate(200, 1, Precision::F32, |_| {}).unwrap();
            assert_eq!(r.correct, 200, "{task:?}");
            // The slow generic forward agrees with the last-token path.
            let mut rng = Rng::new(2);
            let inst = task.sample(&mut rng);
            let enc = task.encoding();
            let x = inst.features(&enc);
            let full = c.stack.predict(&x, task.prompt_len(), MixerMode::Chunked(16)).unwrap();
            assert_eq!(full, inst.solve());
        }
    }
}

#[test]
fn fixed_temperature_fails_as_n_grows() {
    // β must grow with ln n: a fixed β = 2 is exact on short prompts (n = 18) and wrong on long
    // ones (n = 202), while β = ln n + 2 is exact on both.
    let short = TaskSpec::lookup(2, 8).unwrap();
    let long = TaskSpec::lookup(2, 100).unwrap();
    let acc =
        |t: &TaskSpec| construct(t, Some(2.0)).unwrap().evaluate(100, 3, Precision::F32, |_| {}).unwrap().accuracy;
    assert!(acc(&short) > 0.9);
    assert!(acc(&long) < 0.5);
}

#[test]
fn precision_limits_warn() {
    assert!(precision_warning(1000, Precision::F32).is_none());
    assert!(precision_warning(1000, Precision::Bf16).is_some());
    let task = composition_at_least(2, 300).unwrap();
    let r = construct(&task, None).unwrap().evaluate(10, 1, Precision::Bf16, |_| {}).unwrap();
    assert_eq!(r.warnings.len(), 1);
    assert!(construct(&task, Some(f32::NAN)).is_err());
    assert_eq!(Precision::parse("BF16").unwrap(), Precision::Bf16);
    let e = Precision::parse("f8").unwrap_err().to_string();
    assert!(e.contains("unknown precision `f8`"), "{e}");
}

// ---------------------------------------------------------------- experiment plan

#[test]
fn experiment_plan_covers_every_architecture_with_matched_params() {
    use steerscope::attention::experiment::{param_count, plan, PlanOptions};
    let quick = plan(&PlanOptions::quick()).unwrap();
    let mut kinds: Vec<MixerKind> = quick.runs.iter().flat_map(|r| parse_spec(&r.model.spec).unwrap()).collect();
    kinds.sort();
    kinds.dedup();
    assert_eq!(kinds, MixerKind::ALL.to_vec(), "quick runs every mixer");
    let full = plan(&PlanOptions::full()).unwrap();
    for r in &full.runs {
        let p = param_count(&r.task, &r.model).unwrap();
        // The analytic count agrees with the built stack.
        let enc = r.task.encoding();
        let shape = StackShape {
            d_in: enc.dim(),
            d_model: r.model.d_model,
            heads: r.model.heads,
            head_dim: r.model.head_dim,
            mlp_hidden: r.model.mlp_hidden,
            classes: r.task.num_classes(),
        };
        assert_eq!(Stack::random(&r.model.spec, shape, &mut Rng::new(0)).unwrap().num_params(), p);
        assert!(r.model.d_model <= 128);
    }
    for l in [2, 3] {
        let seeds = full
            .runs
            .iter()
            .filter(|r| r.task.steps() == l && r.model.spec == "F*".to_string() + &(l + 1).to_string())
            .count();
        assert!(seeds >= 3 * 2, "L = {l}: reference runs at ≥ 2 lengths × 3 seeds");
    }
}

#[test]
fn headline_is_computed_from_the_summary() {
    use steerscope::attention::experiment::{headline, Arm, SummaryRow, TaskKind};
    let row = |spec: &str, arm, n, mean| SummaryRow {
        task: TaskKind::Lookup,
        steps: 2,
        spec: spec.into(),
        arm,
        k: n,
        n,
        d_model: 48,
        params: 1,
        mean,
        min: mean,
        max: mean,
        chance: 0.1,
        seeds: 3,
    };
    let good = vec![
        row("F*3", Arm::Full, 8, 1.0),
        row("F*3", Arm::Full, 14, 0.99),
        row("F,L:linear", Arm::Hybrid, 8, 1.0),
        row("F,L:linear", Arm::Hybrid, 14, 0.4),
        row("L:gated_deltanet*3", Arm::AllLinear, 14, 0.3),
    ];
    assert!(headline(&good).contains("**is** shown"), "{}", headline(&good));
    let mut bad = good.clone();
    bad[1].mean = 0.5;
    assert!(headline(&bad).contains("**not** shown"));
    // Rows of another task at the same L and n are a panel of their own, with their own verdict.
    let composition: Vec<SummaryRow> =
        bad.iter().map(|r| SummaryRow { task: TaskKind::Composition, ..r.clone() }).collect();
    let both = headline(&[good.clone(), composition].concat());
    let lines: Vec<&str> = both.lines().collect();
    assert_eq!(lines.len(), 2, "{both}");
    assert!(lines[0].starts_with("* **Iterated lookup, L = 2**") && lines[0].contains("**is** shown"), "{both}");
    assert!(lines[1].starts_with("* **Composition, L = 2**") && lines[1].contains("**not** shown"), "{both}");
    assert!(experiment_plan_quick_uses_lookup());
}

fn experiment_plan_quick_uses_lookup() -> bool {
    use steerscope::attention::experiment::{plan, PlanOptions};
    plan(&PlanOptions::quick()).unwrap().runs.iter().all(|r| matches!(r.task, TaskSpec::Lookup { .. }))
}

// ---------------------------------------------------------------- training (candle)

#[cfg(feature = "model")]
mod training {
    use super::*;
    use steerscope::attention::experiment::{model_of, TrainConfig};
    use steerscope::attention::train::{batch, init_stack, train, TrainableStack};

    #[test]
    fn candle_forward_equals_plain_stack() {
        // Reference: the plain stack's token-by-token recurrences (themselves checked against
        // naive formulas above). The candle forward uses quadratic and WY-inverse forms; the
        // second task is long enough (n = 66) for seven merge levels in the delta-rule inverse
        // (a Neumann-series inverse was off by 0.3 here on the deep stack).
        let specs = [
            "F",
            "L:linear",
            "L:retnet",
            "L:gla",
            "L:mamba2",
            "L:deltanet",
            "L:gdn",
            "F,L:linear,L:retnet,L:gla,L:mamba2,L:deltanet,L:gdn",
        ];
        for task in [TaskSpec::composition_uniform(2, 3).unwrap(), TaskSpec::lookup(2, 32).unwrap()] {
            let (n, f, c) = (task.prompt_len(), task.encoding().dim(), task.num_classes());
            let (x, _) = batch(&task, &mut Rng::new(1), 3);
            for spec in specs {
                let stack = init_stack(&task, &model_of(spec, 32), 5).unwrap();
                let model = TrainableStack::from_stack(&stack).unwrap();
                let logits = model.logits(&x, 3, n).unwrap();
                for i in 0..3 {
                    let h = stack.forward(&x[i * n * f..(i + 1) * n * f], n, MixerMode::Recurrent).unwrap();
                    let (_, l) = stack.read(&h[(n - 1) * 32..]).unwrap();
                    let diff = max_diff(&l, &logits[i * c..(i + 1) * c]);
                    assert!(diff < 1e-5, "{spec}, n = {n}: candle vs plain stack differ by {diff}");
                }
                // Export round-trips.
                assert_eq!(model.to_stack().unwrap(), stack);
            }
        }
    }

    #[test]
    fn training_reduces_loss_and_nan_is_an_error() {
        let task = TaskSpec::lookup(1, 4).unwrap();
        let cfg = TrainConfig {
            task: task.clone(),
            model: model_of("F,F", 32),
            steps: 60,
            batch: 32,
            lr: 1e-2,
            weight_decay: 0.0,
            seed: 3,
            eval_instances: 100,
        };
        let (r, trained) = train(&cfg, |_, _| true).unwrap();
        assert!(r.loss_curve[0] > r.final_loss as f32, "{:?}", r.loss_curve);
        // One hop over [4] is learnt well before 400 steps: training stops early, and the
        // held-out accuracy confirms the stop was earned.
        let (solved, _) = train(&TrainConfig { steps: 400, ..cfg.clone() }, |_, _| true).unwrap();
        assert!(solved.steps_run < 400 && solved.accuracy >= 0.98, "{} steps, {}", solved.steps_run, solved.accuracy);
        assert_eq!(trained.blocks.len(), 2);
        let bad = TrainConfig { lr: 1e30, steps: 20, ..cfg.clone() };
        match train(&bad, |_, _| true) {
            Err(AttnError::NonFinite { step: Some(_), .. }) => {}
            other => panic!("expected a NaN error, got {:?}", other.map(|r| r.0.accuracy)),
        }
        assert!(matches!(train(&TrainConfig { lr: f64::NAN, ..cfg }, |_, _| true), Err(AttnError::Config(_))));
    }
}
