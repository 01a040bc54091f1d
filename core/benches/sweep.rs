//! A strength sweep at mid-depth (layer 15 of 30): 9 strengths × 32 held-out pairs, scored by
//! the sweep engine (layers below ℓ once, the prompt once per strength for both completions)
//! vs a naive recompute (every strength, every completion: prompt ++ completion from scratch),
//! both in this process on one thread. Prints seconds and the ratio; asserts nothing about time.
//!
//! Then the cost per token row of one call over layers ℓ.. and the output head, by rows per call:
//! whether scoring several pairs as one batched call would gain (it gains only where the
//! kernels get cheaper per row as rows grow).
//!
//! `RAYON_NUM_THREADS=1 cargo bench -p steerscope --bench sweep` (`-- rows`: the second part only)
#[path = "common/machine.rs"]
mod machine;
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
    println!("CPU {}; load average {}", machine::cpu_flags(), machine::loadavg());
    if std::env::args().any(|a| a == "rows") {
        return rows_per_call(llama, &steer(2.0));
    }
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
    rows_per_call(llama, &steer(2.0));
}

/// ms per token row of layers ℓ.. plus the output head, for calls of 8 to 512 rows (best of 3).
fn rows_per_call(llama: &steerscope::model::Llama, steering: &Steering) {
    let hidden = llama.config.hidden;
    println!("rows per call   ms/row (layers {LAYER}.. + head)   vs 8 rows");
    let mut base: Option<f64> = None;
    for rows in [8usize, 16, 32, 64, 128, 256, 512] {
        let x: Vec<f32> = (0..rows * hidden).map(|i| ((i * 7919 % 1009) as f32 - 504.0) / 504.0).collect();
        let x = Tensor::from_vec(x, (1, rows, hidden), &Device::Cpu).unwrap();
        let best = (0..3)
            .map(|_| {
                let t = Instant::now();
                let (h, _) =
                    llama.run_layers(x.clone(), LAYER..llama.config.n_layers, &mut Cache::new(), steering).unwrap();
                llama.logits(&llama.final_norm(&h).unwrap()).unwrap();
                t.elapsed().as_secs_f64()
            })
            .fold(f64::INFINITY, f64::min);
        let per_row = best * 1e3 / rows as f64;
        let base = *base.get_or_insert(per_row);
        let ratio = format!("{:.2}×", base / per_row);
        println!("{rows:>13}   {per_row:>8.3}   {ratio}");
    }
}
