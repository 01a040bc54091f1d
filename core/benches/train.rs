//! Training steps per second for each trained form (vector, LoRA, local weight; SPLIT, batch 4,
//! layer 15 of 30), on the quantized model (quantized forward, backward through the weights
//! dequantized once — what `steerscope train` runs) vs the same steps on the model dequantized
//! to f32 (a plain autograd model: candle's matmuls, which also compute the frozen weights'
//! gradients). Also one forward-only scoring pass of the same pairs, the floor for a step.
//! Prints seconds and ratios; asserts nothing.
//!
//! `cargo bench -p steerscope --bench train`
#[path = "common/machine.rs"]
mod machine;
#[path = "../tests/common/model_path.rs"]
mod model_path;
use std::time::Instant;
use steerscope::data::parse_jsonl;
use steerscope::model::pairs::Prepared;
use steerscope::model::score::PairTokens;
use steerscope::model::{Model, Site, Steering};
use steerscope::steer::train::{Objective, TrainSettings, Trainer, UpdateForm};

const LAYER: usize = 15;
const STEPS: usize = 4;

fn steps_per_second(model: &Model, prepared: &Prepared, form: UpdateForm) -> f64 {
    let site = if form == UpdateForm::Vector { Site::Residual } else { Site::MlpOut };
    let mut config = TrainSettings::new(form, Objective::split_for(form), LAYER, site);
    config.epochs = 100; // never the limit here
    let mut t = Trainer::new(&model.llama, prepared, config).unwrap();
    t.step().unwrap(); // warm-up: dequantizes the frozen weights once
    let start = Instant::now();
    for _ in 0..STEPS {
        t.step().unwrap();
    }
    STEPS as f64 / start.elapsed().as_secs_f64()
}

fn main() {
    println!("CPU {}; load average {}", machine::cpu_flags(), machine::loadavg());
    let bytes = std::fs::read(model_path::default_model_path()).expect("run `steerscope fetch-model`");
    let quantized = Model::load(&bytes).unwrap();
    let mut dense = Model::load(&bytes).unwrap();
    dense.llama.to_f32().unwrap();
    let text =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/data/concepts/sentiment.train.jsonl")).unwrap();
    let pairs: Vec<PairTokens> = parse_jsonl(&text).unwrap().pairs[..16]
        .iter()
        .map(|p| PairTokens::new(&quantized, p, &Default::default()).unwrap())
        .collect();
    println!("SPLIT steps of 4 pairs at layer {LAYER}; threads {}", rayon::current_num_threads());
    let prep_q = Prepared::new(&quantized.llama, &pairs, LAYER, |_, _| {}).unwrap();
    let prep_f = Prepared::new(&dense.llama, &pairs, LAYER, |_, _| {}).unwrap();
    let start = Instant::now();
    prep_q.score(&quantized.llama, &Steering::none(), Site::Residual, |_, _| {}).unwrap();
    let forward = (pairs.len() as f64 / 4.0) / start.elapsed().as_secs_f64();
    println!("{:>14} {:>12} {:>12} {:>8}", "form", "quantized/s", "f32/s", "ratio");
    for form in [UpdateForm::Vector, UpdateForm::Lora { rank: 4 }, UpdateForm::LocalWeight] {
        let q = steps_per_second(&quantized, &prep_q, form);
        let f = steps_per_second(&dense, &prep_f, form);
        println!("{:>14} {q:>12.3} {f:>12.3} {:>7.2}×", form.name(), q / f);
    }
    println!("forward-only scoring of 4 pairs: {forward:.3} batches/s (a step's floor)");
}
