//! The browser surface of steerscope: one [`Session`] object, bytes in, plain JS objects out,
//! errors as JS `Error`s whose message names the problem. It runs inside a Web Worker
//! (`web/worker.js`); every call is synchronous there and reports progress through callbacks.
//!
//! All the work is `steerscope` core code — the sweep session
//! ([`steerscope::analysis::session::SweepSession`]) measures, fits and rescales exactly as the
//! CLI does. This file only converts types: strings to enums, JS callbacks to
//! [`steerscope::progress::Progress`], results to JSON.
use candle_core::{Device, IndexOp, Tensor};
use js_sys::Function;
use steerscope::analysis::baseline::prompting;
use steerscope::analysis::session::{Direction, Split, Steered, SweepSession};
use steerscope::data::{parse_jsonl, Pair};
use steerscope::gguf::Value;
use steerscope::model::chat::PromptFormat;
use steerscope::model::generate::{generate, Sampling};
use steerscope::model::pairs::{Activations, Prepared, Read};
use steerscope::model::score::PairTokens;
use steerscope::model::sites::Positions;
use steerscope::model::{Edit, Model, Site, Steering};
use steerscope::progress::Progress;
use steerscope::steer::control_vector::{ControlVector, Provenance};
use steerscope::steer::methods::Method;
use steerscope::steer::update::Update;
use wasm_bindgen::prelude::*;

mod lab;
mod views;

/// A loaded model and the steering experiment on it.
#[wasm_bindgen]
pub struct Session {
    model: Model,
    /// The running sequence of [`Session::prefill`] / [`Session::step`].
    cache: steerscope::model::Cache,
    format: PromptFormat,
    train: Vec<PairTokens>,
    test: Vec<PairTokens>,
    /// The test pairs as text, for the prompting baseline (it changes the system prompt).
    test_pairs: Vec<Pair>,
    /// The training pairs' activations at every layer and site, read in one pass, so that
    /// moving the layer or site needs no forward pass over them.
    activations: Option<Activations>,
    /// The experiment at the current layer.
    sweep: Option<SweepSession>,
}

fn js_err(e: impl std::fmt::Display) -> JsError {
    JsError::new(&e.to_string())
}

fn to_js<T: serde::Serialize>(v: &T) -> Result<JsValue, JsError> {
    let json = serde_json::to_string(v).map_err(js_err)?;
    js_sys::JSON::parse(&json).map_err(|_| JsError::new("internal: JSON round trip failed"))
}

/// Calls a JS progress callback; a throwing callback must not abort the computation.
fn report(cb: &Function, done: usize, total: usize) {
    let _ = cb.call2(&JsValue::NULL, &JsValue::from(done as u32), &JsValue::from(total as u32));
}

/// A JS callback `(done, total) => stop?` as a [`Progress`]: returning `true` stops the call
/// with "cancelled" (the worker checks whether a newer request superseded this one).
struct JsProgress<'a>(&'a Function);

impl Progress for JsProgress<'_> {
    fn report(&mut self, done: usize, total: usize) -> steerscope::Result<()> {
        let r = self.0.call2(&JsValue::NULL, &JsValue::from(done as u32), &JsValue::from(total as u32));
        if r.ok().is_some_and(|v| v.is_truthy()) {
            Err(steerscope::Error::Cancelled)
        } else {
            Ok(())
        }
    }
}

fn steered_info(s: &Steered, layer: usize) -> serde_json::Value {
    serde_json::json!({"method": s.name, "layer": layer, "site": s.site, "positions": s.positions.name(),
        "reads": s.reads, "effect_norm": s.scale.effect_norm, "mean_hidden_norm": s.scale.residual_norm,
        "to_strength_units": s.scale.to_strength_units()})
}

#[wasm_bindgen]
impl Session {
    /// Parses and loads a GGUF model from its bytes.
    #[wasm_bindgen(constructor)]
    pub fn new(bytes: &[u8]) -> Result<Session, JsError> {
        // A bug that panics would otherwise surface only as "unreachable": log its message.
        console_error_panic_hook::set_once();
        let model = Model::load(bytes).map_err(js_err)?;
        Ok(Session {
            model,
            cache: Default::default(),
            format: PromptFormat::default(),
            train: Vec::new(),
            test: Vec::new(),
            test_pairs: Vec::new(),
            activations: None,
            sweep: None,
        })
    }

    /// The model's architecture numbers.
    pub fn info(&self) -> Result<JsValue, JsError> {
        let c = &self.model.llama.config;
        to_js(&serde_json::json!({
            "architecture": "llama", "name": c.name, "n_layers": c.n_layers, "hidden_size": c.hidden,
            "vocab_size": c.vocab, "context_length": c.context, "chat_template": self.model.chat.has_template(),
        }))
    }

    /// The methods [`Session::fit`] accepts.
    pub fn methods() -> Vec<String> {
        Method::all().iter().map(|m| m.name()).collect()
    }

    /// The intervention sites of every layer.
    pub fn sites() -> Vec<String> {
        Site::ALL.iter().map(|s| s.name().to_string()).collect()
    }

    /// Polarity pairs (JSONL) for fitting (`train`) and measuring (`test`), with the prompt
    /// format (`chat` or `raw`) and the chat's system turn (`undefined` = the template's own,
    /// `"none"` = none, else the text). Drops everything fitted on the previous pairs.
    pub fn set_pairs(
        &mut self, train_jsonl: &str, test_jsonl: &str, format: &str, system: Option<String>,
    ) -> Result<JsValue, JsError> {
        let format = PromptFormat::parse(format, system.as_deref()).map_err(js_err)?;
        let parse =
            |text: &str, which: &str| parse_jsonl(text).map_err(|e| JsError::new(&format!("{which} pairs: {e}")));
        let (train, test) = (parse(train_jsonl, "train")?, parse(test_jsonl, "test")?);
        let mut ignored = train.ignored_fields.clone();
        ignored.extend(test.ignored_fields.iter().filter(|f| !train.ignored_fields.contains(f)).cloned());
        let tokenize = |pairs: &[Pair]| -> Result<Vec<PairTokens>, JsError> {
            pairs.iter().map(|p| PairTokens::new(&self.model, p, &format)).collect::<Result<_, _>>().map_err(js_err)
        };
        self.train = tokenize(&train.pairs)?;
        self.test = tokenize(&test.pairs)?;
        self.test_pairs = test.pairs;
        self.format = format;
        self.activations = None;
        self.sweep = None;
        to_js(&serde_json::json!({"n_train": self.train.len(), "n_test": self.test.len(),
            "format": self.format.describe(), "ignored_fields": ignored}))
    }

    /// Reads the training pairs' activations at every layer and site in one pass (the cost of
    /// one forward pass over them); afterwards DiffMean and PCA fit at any layer and site
    /// without another. `on_progress(done, total) => stop?` per pair.
    pub fn read_activations(&mut self, on_progress: &Function) -> Result<(), JsError> {
        let llama = &self.model.llama;
        let sites: Vec<(usize, Site)> =
            (0..llama.config.n_layers).flat_map(|l| Site::ALL.into_iter().map(move |s| (l, s))).collect();
        let prepared = Prepared::new(llama, &self.train, 0, |_, _| {}).map_err(js_err)?;
        let acts =
            prepared.read_activations(llama, &sites, Read::CompletionMean, JsProgress(on_progress)).map_err(js_err)?;
        self.activations = Some(acts);
        Ok(())
    }

    /// Whether [`Session::read_activations`] has run on the current pairs.
    pub fn has_activations(&self) -> bool {
        self.activations.is_some()
    }

    /// Fits (DiffMean, PCA: from the activations read once, else at this layer) or trains
    /// (vector / LoRA / local weight with SFT or SPLIT, `epochs`) `method` at `(layer, site)`
    /// — `site` "" = the method's own — steering `positions` (all, prompt, completion, from:N),
    /// and puts it in strength units. `on_progress(done, total) => stop?`.
    #[allow(clippy::too_many_arguments)]
    pub fn fit(
        &mut self, method: &str, layer: usize, site: &str, positions: &str, epochs: usize, on_progress: &Function,
    ) -> Result<JsValue, JsError> {
        let method: Method = method.parse().map_err(js_err)?;
        let site: Site = if site.is_empty() { method.default_site() } else { site.parse().map_err(js_err)? };
        let positions = Positions::parse(if positions.is_empty() { "all" } else { positions }).map_err(js_err)?;
        let session = session_at(&mut self.sweep, &self.model, &self.train, &self.test, &self.activations, layer)?;
        let s = session
            .fit(&self.model.llama, method, site, positions, self.activations.as_ref(), epochs, JsProgress(on_progress))
            .map_err(js_err)?;
        to_js(&steered_info(s, layer))
    }

    /// Makes an update fitted, trained or loaded earlier at the current layer current again (its
    /// points are still cached): `name` as [`Session::fit`] reported it.
    pub fn select(&mut self, name: &str) -> Result<JsValue, JsError> {
        let session = self.sweep.as_mut().ok_or_else(|| JsError::new("no steering update yet: fit one first"))?;
        let layer = session.layer();
        let s = session.select(name).map_err(js_err)?;
        to_js(&steered_info(s, layer))
    }

    /// Every update of the current layer's session (a frontier compares them), as `fit` reports each.
    pub fn updates(&self) -> Result<JsValue, JsError> {
        let Some(session) = &self.sweep else { return to_js(&Vec::<()>::new()) };
        to_js(&session.updates().iter().map(|s| steered_info(s, session.layer())).collect::<Vec<_>>())
    }

    /// Makes an update file (safetensors from `steerscope vector` / `train`) the session's update
    /// at its own layer and site.
    pub fn load_update(&mut self, bytes: &[u8], name: &str) -> Result<JsValue, JsError> {
        let update = Update::from_safetensors(bytes).map_err(js_err)?;
        self.set_update(&update, name)
    }

    /// The held-out point at `strength` (10 = a `Δh` of half the layer's mean residual-stream
    /// norm, as in the CLI), of the update or — with `random` — of a random direction of the
    /// same size: preference, utility with intervals, off-manifold score. `on_partial(point)`
    /// receives the estimate after each pair; `on_progress(done, total) => stop?`.
    pub fn point(
        &mut self, strength: f32, random: bool, on_partial: &Function, on_progress: &Function,
    ) -> Result<JsValue, JsError> {
        let direction = if random { Direction::Random } else { Direction::Update };
        let llama = &self.model.llama;
        let session = self.sweep.as_mut().ok_or_else(|| JsError::new("no steering update yet: fit one first"))?;
        let partial = |p: &steerscope::analysis::sweep::SweepPoint| {
            if let Ok(v) = to_js(p) {
                let _ = on_partial.call1(&JsValue::NULL, &v);
            }
        };
        let p = session
            .point_progressive(llama, Split::Test, direction, strength, partial, JsProgress(on_progress))
            .map_err(js_err)?;
        to_js(&p)
    }

    /// The update's held-out points measured so far, by strength, with the applied check, the
    /// off-manifold reference's rank, the rank correlation of leaving the manifold with losing
    /// utility, and the paper's curves fitted on them.
    pub fn summary(&self) -> Result<JsValue, JsError> {
        let session = self.sweep.as_ref().ok_or_else(|| JsError::new("no steering update yet: fit one first"))?;
        let points = session.points(Split::Test, Direction::Update);
        let random = session.points(Split::Test, Direction::Random);
        to_js(&serde_json::json!({
            "points": points, "random": random, "applied": session.applied(Split::Test),
            "manifold_rank": session.manifold_rank(Split::Test),
            "manifold_vs_utility_drop": steerscope::analysis::sweep::manifold_vs_utility_drop(&points),
            "curves": session.curves(Split::Test),
        }))
    }

    /// The prompting baseline: no steering, the concept asked for in the system prompt
    /// (`instruction`; "" = the first test pair's answer as an example), on the test pairs.
    pub fn score_prompting(&self, instruction: &str, on_progress: &Function) -> Result<JsValue, JsError> {
        let first = self.test_pairs.first().ok_or_else(|| JsError::new("no test pairs yet"))?;
        let instruction =
            if instruction.trim().is_empty() { first.example_instruction() } else { instruction.to_string() };
        let p = prompting(&self.model, &self.test_pairs, &self.format, &instruction, JsProgress(on_progress))
            .map_err(js_err)?;
        to_js(&p)
    }

    /// The fitted vector at `strength` as a llama.cpp control-vector GGUF (`--control-vector`
    /// reads it; `steerscope generate --control-vector` too), with our metadata: method,
    /// operation, site, layer numbering, norm, sign rule, the strength, and the model and train
    /// pairs sha256 when the host knows them ("" = unknown).
    pub fn control_vector(&self, strength: f32, model_sha256: &str, pairs_sha256: &str) -> Result<Vec<u8>, JsError> {
        let session = self.sweep.as_ref().ok_or_else(|| JsError::new("no steering update yet: fit one first"))?;
        session.steering(&self.model.llama, Direction::Update, strength).map_err(js_err)?; // NaN, ∞
        let s = session.steered().expect("checked by steering()");
        let v = match (&s.edit, s.site, s.positions) {
            (Edit::AddVector(v), Site::Residual, Positions::All) => v,
            _ => {
                return Err(JsError::new(&format!(
                    "llama.cpp control vectors add one vector to the residual stream at every position; {} at {} \
                     ({} positions) is not one (DiffMean, PCA and the trained vector at the residual site are)",
                    s.name,
                    s.site,
                    s.positions.name()
                )))
            }
        };
        if strength == 0.0 {
            return Err(JsError::new("strength 0 would export a zero vector: pick a nonzero strength"));
        }
        let v: Vec<f32> = (v * strength as f64).and_then(|t| t.to_vec1()).map_err(js_err)?;
        let known = |s: &str| (!s.is_empty()).then(|| s.to_string());
        let from = Provenance {
            method: Some(s.name.clone()),
            model_sha256: known(model_sha256),
            dataset_sha256: known(pairs_sha256),
        };
        let mut cv = ControlVector::residual_add(session.layer(), v, from);
        cv.meta.extra.push(("steerscope.strength".into(), Value::F32(strength)));
        cv.to_gguf_bytes().map_err(js_err)
    }

    /// Reads a llama.cpp control-vector GGUF and makes it the session's update, called `name`
    /// ("" = the method the file names): its single direction at the residual site of its layer
    /// (strength units as for any vector).
    pub fn load_control_vector(&mut self, bytes: &[u8], name: &str) -> Result<JsValue, JsError> {
        let cv = ControlVector::from_gguf_bytes(bytes).map_err(js_err)?;
        let c = &self.model.llama.config;
        cv.check_fits(c.n_layers, c.hidden).map_err(js_err)?;
        let [(layer, v)] = cv.directions.as_slice() else {
            return Err(JsError::new(&format!(
                "this control vector has {} directions; the page sweeps one layer at a time",
                cv.directions.len()
            )));
        };
        let edit = Edit::AddVector(Tensor::from_slice(v, v.len(), &Device::Cpu).map_err(js_err)?);
        // The name given wins (a file dropped on the page must not replace the update it was
        // exported from); the file's own method is kept beside it.
        let label = if name.is_empty() { cv.meta.method.as_deref().unwrap_or("control-vector") } else { name };
        let mut meta = Update::meta_for(label, None);
        if let Some(m) = &cv.meta.method {
            meta.insert("source_method".into(), m.clone());
        }
        meta.insert("read_positions".into(), "unknown".into());
        let update = Update { layer: *layer, site: Site::Residual, edit, positions: Positions::All, meta };
        self.set_update(&update, name)
    }

    /// Greedy continuation of a chat prompt, steered by the session's update at `strength`
    /// (0 = base model).
    pub fn generate(
        &self, prompt: &str, max_tokens: usize, strength: f32, on_token: &Function,
    ) -> Result<String, JsError> {
        if prompt.trim().is_empty() {
            return Err(js_err(steerscope::Error::EmptyPrompt));
        }
        let steering = match (&self.sweep, strength) {
            (_, 0.0) => Steering::none(),
            (Some(s), m) => s.steering(&self.model.llama, Direction::Update, m).map_err(js_err)?,
            (None, _) => return Err(JsError::new("no steering update yet: fit one first")),
        };
        let ids = self.model.tokenizer.encode(&self.model.chat.render(&self.format, prompt)).map_err(js_err)?;
        let out = generate(&self.model, &ids, max_tokens, Sampling::GREEDY, &steering, |piece| {
            let _ = on_token.call1(&JsValue::NULL, &JsValue::from_str(piece));
        })
        .map_err(js_err)?;
        Ok(out.text)
    }

    /// Starts a new sequence with `ids` and returns the greedy next token (timed by the host:
    /// the benchmark page measures prefill and decode speed with this and [`Session::step`]).
    pub fn prefill(&mut self, ids: &[u32]) -> Result<u32, JsError> {
        self.cache = Default::default();
        self.next_token(ids)
    }

    /// Appends one token to the sequence and returns the greedy next token.
    pub fn step(&mut self, token: u32) -> Result<u32, JsError> {
        self.next_token(&[token])
    }

    /// Token ids of `text` (no chat template).
    pub fn tokenize(&self, text: &str) -> Result<Vec<u32>, JsError> {
        self.model.tokenizer.encode(text).map_err(js_err)
    }
}

/// The sweep session at `layer`, a new one if the layer changed (its pairs are prepared on first
/// need, so this is free until a point is measured; with activations read, its strength unit
/// comes from them).
fn session_at<'a>(
    sweep: &'a mut Option<SweepSession>, model: &Model, train: &[PairTokens], test: &[PairTokens],
    activations: &Option<Activations>, layer: usize,
) -> Result<&'a mut SweepSession, JsError> {
    if train.is_empty() {
        return Err(JsError::new("no pairs yet: set_pairs first"));
    }
    if sweep.as_ref().is_none_or(|s| s.layer() != layer) {
        let mut s = SweepSession::new(&model.llama, train.to_vec(), test.to_vec(), layer).map_err(js_err)?;
        if let Some(a) = activations {
            s.use_activations(a).map_err(js_err)?;
        }
        *sweep = Some(s);
    }
    Ok(sweep.as_mut().expect("just set"))
}

impl Session {
    fn set_update(&mut self, update: &Update, name: &str) -> Result<JsValue, JsError> {
        let session =
            session_at(&mut self.sweep, &self.model, &self.train, &self.test, &self.activations, update.layer)?;
        let s = session.set_update(&self.model.llama, update, name).map_err(js_err)?;
        to_js(&steered_info(s, update.layer))
    }

    fn next_token(&mut self, ids: &[u32]) -> Result<u32, JsError> {
        let llama = &self.model.llama;
        let fwd = llama.forward(ids, &mut self.cache, &Steering::none()).map_err(js_err)?;
        let n = fwd.hidden.dim(0).map_err(js_err)?;
        let logits: Vec<f32> = llama
            .logits(&fwd.hidden.i(n - 1..n).map_err(js_err)?)
            .and_then(|l| Ok(l.squeeze(0)?.to_vec1()?))
            .map_err(js_err)?;
        Ok(steerscope::model::generate::pick(&logits, Sampling::GREEDY, &mut steerscope::rng::Rng::new(0)))
    }
}
