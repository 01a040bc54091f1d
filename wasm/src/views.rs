//! The page's views of the whole argument (issue 14), on the same [`Session`]: the update as a
//! weight change, the frontier of several methods, leaving the manifold, the calibration grid,
//! where the vector acts token by token, and combining vectors. Science lives in the core
//! (`steer::induced`, `analysis::frontier`, `analysis::calibrate`, `model::tokens`,
//! `analysis::combine`); this file converts types, as `lib.rs` does.
use crate::{js_err, no_update, steered_info, to_js, JsProgress, Session};
use js_sys::Function;
use steerscope::analysis::calibrate::Calibration;
use steerscope::analysis::combine::Term;
use steerscope::analysis::frontier;
use steerscope::analysis::session::{Split, Steered};
use steerscope::model::sites::Positions;
use steerscope::model::Edit;
use steerscope::steer::induced::{Detail, WeightChange};
use steerscope::steer::methods::Method;
use wasm_bindgen::prelude::*;

/// [`Steered::info`] with the update's form (`vector`, `low-rank`, `dense`, or the operation).
fn update_info(s: &Steered, layer: usize) -> Result<serde_json::Value, JsError> {
    let mut info = serde_json::to_value(s.info(layer)).map_err(js_err)?;
    info["form"] = match &s.edit {
        Edit::AddVector(_) => "vector",
        Edit::LowRank { .. } => "low-rank",
        Edit::Dense { .. } => "dense",
        Edit::ProjectOut(_) => "project-out",
        Edit::Clamp(_) => "clamp",
    }
    .into();
    Ok(info)
}

#[wasm_bindgen]
impl Session {
    /// The update called `name` ("" = the current one) as the weight change it induces at
    /// `strength`: which matrix, shape, rank, singular values (up to `top_k`), `‖ΔW‖` next to
    /// `‖W‖`, the formula line, and a `rows × cols` slice of `ΔW`, `W` and `Δb` for a heatmap.
    pub fn weight_change(
        &self, name: &str, strength: f32, top_k: usize, rows: usize, cols: usize,
    ) -> Result<JsValue, JsError> {
        let session = self.session()?;
        let s = if name.is_empty() {
            session.steered().ok_or_else(no_update)?
        } else {
            session
                .updates()
                .iter()
                .find(|u| u.name == name)
                .ok_or_else(|| JsError::new(&format!("no update called `{name}` at layer {}", session.layer())))?
        };
        let detail = Detail { top_k, rows, cols };
        let w =
            WeightChange::of(&self.model.llama, session.layer(), s.site, &s.edit, strength, detail).map_err(js_err)?;
        let mut out = serde_json::to_value(&w).map_err(js_err)?;
        out["name"] = s.name.clone().into();
        out["mean_hidden_norm"] = s.scale.residual_norm.into();
        to_js(&out)
    }

    /// Every update of the current layer as a preference/utility curve over the held-out points
    /// measured so far, with the random direction per site and each curve's off-manifold score
    /// against utility drop (and their rank correlation). No forward pass.
    pub fn frontier(&self) -> Result<JsValue, JsError> {
        let session = self.session()?;
        let mut out = serde_json::to_value(session.frontier(Split::Test)).map_err(js_err)?;
        out["updates"] =
            session.updates().iter().map(|s| update_info(s, session.layer())).collect::<Result<Vec<_>, _>>()?.into();
        to_js(&out)
    }

    /// Measures the updates called `names` (all if empty) at every one of `strengths` on the
    /// held-out pairs — with `random`, the random direction too — and returns
    /// [`Session::frontier`]. Points already measured are reused; the current update stays
    /// current. `on_progress(done, total) => stop?` per pair; stopping keeps finished points.
    pub fn measure_frontier(
        &mut self, names: Vec<String>, strengths: &[f32], random: bool, on_progress: &Function,
    ) -> Result<JsValue, JsError> {
        let llama = &self.model.llama;
        let progress = JsProgress(on_progress);
        // The session is borrowed only while measuring: `frontier` borrows it again.
        frontier::measure(&mut *self.session()?, llama, Split::Test, &names, strengths, random, progress)
            .map_err(js_err)?;
        self.frontier()
    }

    /// The layer × strength calibration grid of `method` (diffmean or pca) on the current pairs:
    /// preference and utility per cell, each as a change from its layer's `m = 0`, and the
    /// recommended cell under `budget`. Uses the activations read once if there are any.
    /// `on_progress(done, total) => stop?` per held-out pair of each cell.
    pub fn calibrate(
        &self, method: &str, layers: &[u32], strengths: &[f32], budget: f32, on_progress: &Function,
    ) -> Result<JsValue, JsError> {
        if self.train.is_empty() {
            return Err(JsError::new("no pairs yet: set_pairs first"));
        }
        let method: Method = method.parse().map_err(js_err)?;
        let layers: Vec<usize> = layers.iter().map(|&l| l as usize).collect();
        let llama = &self.model.llama;
        let progress = JsProgress(on_progress);
        let c = match &self.activations {
            Some(a) => Calibration::run_with(
                llama,
                a,
                &self.train,
                &self.test,
                method,
                &layers,
                strengths,
                budget,
                None,
                progress,
            ),
            None => {
                Calibration::run(llama, &self.train, &self.test, method, &layers, strengths, budget, None, progress)
            }
        }
        .map_err(js_err)?;
        to_js(&c)
    }

    /// Where the current update acts on `prompt` (in the session's prompt format) and a
    /// completion — `completion` as text, or `undefined` for the base model's greedy one of up to
    /// `max_tokens`: per token, whether the method read it, whether `mask` (all, prompt,
    /// completion, from:N; "" = the update's own) steers it, and its log-probability without and
    /// with the update at `strength`.
    pub fn token_effects(
        &self, prompt: &str, completion: Option<String>, strength: f32, mask: &str, max_tokens: usize,
    ) -> Result<JsValue, JsError> {
        let session = self.session()?;
        let s = session.steered().ok_or_else(no_update)?;
        if prompt.trim().is_empty() {
            return Err(js_err(steerscope::Error::EmptyPrompt));
        }
        let model = &self.model;
        let mask = if mask.is_empty() { None } else { Some(Positions::parse(mask).map_err(js_err)?) };
        let prompt_ids = model.tokenizer.encode(&model.chat.render(&self.format, prompt)).map_err(js_err)?;
        let completion_ids =
            completion.map(|text| model.tokenizer.encode_continuation(&text)).transpose().map_err(js_err)?;
        let effects = session
            .token_effects(model, &prompt_ids, completion_ids.as_deref(), strength, mask, max_tokens)
            .map_err(js_err)?;
        let positions = mask.unwrap_or(s.positions);
        let mut out = serde_json::to_value(&effects).map_err(js_err)?;
        out["name"] = s.name.clone().into();
        out["reads"] = s.reads.name().into();
        out["mask"] = positions.name().into();
        out["strength"] = strength.into();
        to_js(&out)
    }

    /// The cosine table of the vectors called `names` (updates of the current layer).
    pub fn cosines(&self, names: Vec<String>) -> Result<JsValue, JsError> {
        let names: Vec<&str> = names.iter().map(String::as_str).collect();
        to_js(&self.session()?.cosines(&names).map_err(js_err)?)
    }

    /// Adds `Σ weights[k]·names[k]` (vectors of the current layer at one site, each in strength
    /// units) as an update, rescaled to strength units, and makes it current; reports it as
    /// [`Session::fit`] does.
    pub fn combine(&mut self, names: Vec<String>, weights: &[f32]) -> Result<JsValue, JsError> {
        if names.len() != weights.len() {
            return Err(JsError::new(&format!("{} weights for {} vectors", weights.len(), names.len())));
        }
        let parts: Vec<Term> = names.into_iter().zip(weights).map(|(name, &weight)| Term { name, weight }).collect();
        let llama = &self.model.llama;
        let mut session = self.session()?;
        let layer = session.layer();
        let s = session.combine(llama, &parts).map_err(js_err)?;
        steered_info(s, layer)
    }
}
