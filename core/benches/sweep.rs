//! A strength sweep at mid-depth (layer 15 of 30): 9 strengths × 32 held-out pairs, scored by
//! the sweep engine (layers below ℓ once, the prompt once per strength for both completions)
//! vs a naive recompute (every strength, every completion: prompt ++ completion from scratch),
//! both in this process on one thread. Prints seconds and the ratio; asserts nothing about time.
//!
//! `RAYON_NUM_THREADS=1 cargo bench -p steerscope --bench sweep`
#[path = "../tests/common/model_path.rs"]
mod model_path;
use candle_core::{Device, IndexOp, Tensor};
use std::time::Instant;
use steerscope::data::parse_jsonl;
use steerscope::model::llama::target_logprobs;
use steerscope::model::pairs::Prepared;
use steerscope::model::score::PairTokens;
use steerscope::model::{Cache, Edit, Intervention, Model, Site, Steering};

const LAYER: usize = 15;

fn main() {
    let bytes = std::fs::read(model_path::default_model_path()).expect("run `steerscope fetch-model`");
    let model = Model::load(&bytes).unwrap();
    let llama = &model.llama;
    let text =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/data/concepts/sentiment.test.jsonl")).unwrap();
    let pairs: Vec<PairTokens> = parse_jsonl(&text)
        .unwrap()
        .pairs
        .iter()
        .map(|p| PairTokens::new(&model, p, &Default::default()).unwrap())
        .collect();
    let strengths: Vec<f32> = (-4..=4).map(|i| i as f32).collect();
    let v = Tensor::from_vec(
        (0..576).map(|i| ((i * 37 % 101) as f32 - 50.0) / 50.0).collect::<Vec<f32>>(),
        576,
        &Device::Cpu,
    )
    .unwrap();
    let steer = |m: f32| {
        Steering::none()
            .with(Intervention::new(&llama.config, LAYER, Site::Residual, Edit::AddVector(v.clone()), m).unwrap())
    };
    println!(
        "{} strengths × {} pairs at layer {LAYER}; threads {}",
        strengths.len(),
        pairs.len(),
        rayon::current_num_threads()
    );

    let t = Instant::now();
    let prepared = Prepared::new(llama, &pairs, LAYER, |_, _| {}).unwrap();
    let mut engine = 0f32;
    for &m in &strengths {
        let scored = prepared.score(llama, &steer(m), Site::Residual, |_, _| {}).unwrap();
        engine += scored.scores.iter().map(|s| s.lp.sum + s.ln.sum).sum::<f32>();
    }
    let fast = t.elapsed().as_secs_f64();

    let t = Instant::now();
    let mut naive = 0f32;
    for &m in &strengths {
        for p in &pairs {
            for c in [&p.positive, &p.negative] {
                let ids: Vec<u32> = p.prompt.iter().chain(c.iter()).copied().collect();
                let fwd = llama.forward(&ids, &mut Cache::new(), &steer(m)).unwrap();
                let rows = fwd.hidden.i(p.prompt.len() - 1..ids.len() - 1).unwrap();
                naive -= target_logprobs(&llama.logits(&rows).unwrap(), c).unwrap().iter().sum::<f32>();
            }
        }
    }
    let slow = t.elapsed().as_secs_f64();
    println!("sweep engine   {fast:8.2} s");
    println!("naive recompute {slow:7.2} s");
    println!("speed-up {:.2}×   (Σ losses {engine:.2} vs {naive:.2})", slow / fast);
}
