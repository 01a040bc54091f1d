//! The attention lab in the browser: the hand-set construction and small trained models on the
//! composition task — no language model needed. Thin wrappers over `steerscope::attention`;
//! progress goes through callbacks, results come back as the core's own serde structs.
use js_sys::Function;
use steerscope::attention::construct::{construct, Precision};
use steerscope::attention::experiment::{model_of, TrainConfig};
use steerscope::attention::task::{Rng, TaskSpec};
use steerscope::attention::train;
use wasm_bindgen::prelude::*;

use crate::{js_err, report, to_js};

fn task(lookup: bool, steps: usize, k: usize) -> Result<TaskSpec, JsError> {
    TaskSpec::uniform(lookup, steps, k).map_err(js_err)
}

/// One seeded instance: prompt tokens, query w, the chain i₀ … i_L and the prompt length.
#[wasm_bindgen(js_name = labSample)]
pub fn lab_sample(lookup: bool, steps: usize, k: usize, seed: u32) -> Result<JsValue, JsError> {
    let task = task(lookup, steps, k)?;
    let inst = task.sample(&mut Rng::new(seed as u64));
    to_js(&serde_json::json!({ "n": task.prompt_len(), "tokens": inst.tokens(), "w": inst.w, "chain": inst.chain() }))
}

/// Evaluates the hand-set (L+1)-layer construction on `instances` seeded instances; `beta` is a
/// fixed inverse temperature, or undefined for ln n + 2. `on_progress(done, total)`.
#[wasm_bindgen(js_name = labConstruct)]
pub fn lab_construct(
    lookup: bool, steps: usize, k: usize, beta: Option<f32>, instances: usize, on_progress: &Function,
) -> Result<JsValue, JsError> {
    let built = construct(&task(lookup, steps, k)?, beta).map_err(js_err)?;
    let every = (instances / 50).max(1);
    let r = built
        .evaluate(instances, 42, Precision::F32, |done| {
            if done % every == 0 || done == instances {
                report(on_progress, done, instances);
            }
        })
        .map_err(js_err)?;
    to_js(&r)
}

/// Trains one model (layer spec such as `F*3` or `F,L:gdn`, width `d`) as the CLI's
/// `compose train` does; `on_progress(step, total, loss)` after every step. Returns
/// `{run, chance}`: the training result and the accuracy of guessing.
#[wasm_bindgen(js_name = labTrain)]
#[allow(clippy::too_many_arguments)]
pub fn lab_train(
    lookup: bool, steps: usize, k: usize, spec: &str, d: usize, train_steps: usize, seed: u32, on_progress: &Function,
) -> Result<JsValue, JsError> {
    let cfg = TrainConfig::new(task(lookup, steps, k)?, model_of(spec, d), train_steps, seed as u64);
    let (r, _) = train::train(&cfg, |step, loss| {
        let _ = on_progress.call3(
            &JsValue::NULL,
            &JsValue::from(step as u32),
            &JsValue::from(train_steps as u32),
            &JsValue::from(loss),
        );
        true
    })
    .map_err(js_err)?;
    to_js(&serde_json::json!({ "run": r, "chance": 1.0 / cfg.task.num_classes() as f64 }))
}
