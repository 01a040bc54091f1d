//! The browser surface of steerscope: one [`Session`] object, bytes in, plain JS objects out,
//! errors as JS `Error`s whose message names the problem. It runs inside a Web Worker
//! (`web/worker.js`); every call is synchronous there and reports progress through callbacks.
//! All the work is `steerscope` core code — this file only converts types.
use candle_core::IndexOp;
use js_sys::Function;
use steerscope::analysis::measure::score_pairs;
use steerscope::analysis::point::summarize;
use steerscope::data::{parse_jsonl, Pair};
use steerscope::gguf::Value;
use steerscope::model::generate::{generate, Sampling};
use steerscope::model::pairs::Prepared;
use steerscope::model::score::PairTokens;
use steerscope::model::{Edit, Intervention, Model, Site, Steering};
use steerscope::steer::control_vector::{ControlVector, Provenance};
use steerscope::steer::methods::Spec;
use steerscope::steer::strength::{random_direction, UpdateScale};
use wasm_bindgen::prelude::*;

#[cfg(feature = "gpu")]
mod gpu;
mod lab;

#[wasm_bindgen]
pub struct Session {
    model: Model,
    /// The running sequence of [`Session::prefill`] / [`Session::step`].
    cache: steerscope::model::Cache,
    train: Vec<PairTokens>,
    test: Vec<PairTokens>,
    /// The test pairs as text, for the prompting baseline (it changes the system prompt).
    test_pairs: Vec<Pair>,
    /// The fitted or trained update, already in strength units.
    update: Option<Fitted>,
    /// The test pairs run through the layers below the update's layer, shared by every score.
    prepared: Option<Prepared>,
}

struct Fitted {
    /// The method's name, e.g. `diffmean`, `vector-split`.
    method: String,
    layer: usize,
    site: Site,
    edit: Edit,
    /// A random direction at the same site, in the same units: the noise-floor baseline.
    random: Edit,
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
            train: Vec::new(),
            test: Vec::new(),
            test_pairs: Vec::new(),
            update: None,
            prepared: None,
        })
    }

    pub fn info(&self) -> Result<JsValue, JsError> {
        let c = &self.model.llama.config;
        to_js(&serde_json::json!({
            "architecture": "llama", "name": c.name, "n_layers": c.n_layers, "hidden_size": c.hidden,
            "vocab_size": c.vocab, "context_length": c.context,
        }))
    }

    /// Polarity pairs (JSONL) for fitting (`train`) and measuring (`test`).
    pub fn set_pairs(&mut self, train_jsonl: &str, test_jsonl: &str) -> Result<JsValue, JsError> {
        let parse =
            |text: &str, which: &str| parse_jsonl(text).map_err(|e| JsError::new(&format!("{which} pairs: {e}")));
        let tokenize = |pairs: &[Pair]| -> Result<Vec<PairTokens>, JsError> {
            pairs.iter().map(|p| PairTokens::new(&self.model, p)).collect::<Result<_, _>>().map_err(js_err)
        };
        let test_pairs = parse(test_jsonl, "test")?;
        self.train = tokenize(&parse(train_jsonl, "train")?)?;
        self.test = tokenize(&test_pairs)?;
        self.test_pairs = test_pairs;
        self.update = None;
        self.prepared = None;
        to_js(&serde_json::json!({"n_train": self.train.len(), "n_test": self.test.len()}))
    }

    /// The methods [`Session::fit`] accepts.
    pub fn methods() -> Vec<String> {
        steerscope::steer::methods::ALL.iter().map(|m| m.to_string()).collect()
    }

    /// Fits (DiffMean, PCA) or trains (vector / LoRA / local weight with SFT or SPLIT, one
    /// epoch) `method` at `(layer, site)` from the train pairs — `site` "" = the method's own —
    /// puts it in strength units, and runs the test pairs through the layers below it once for
    /// all the scores that follow. Progress counts preparation, then fitting or training steps.
    pub fn fit(&mut self, method: &str, layer: usize, site: &str, on_progress: &Function) -> Result<JsValue, JsError> {
        let spec: Spec = method.parse().map_err(js_err)?;
        let site: Site = if site.is_empty() { spec.default_site() } else { site.parse().map_err(js_err)? };
        let llama = &self.model.llama;
        let (n_train, n_test) = (self.train.len(), self.test.len());
        let train = Prepared::new(llama, &self.train, layer, |d, _| report(on_progress, d, n_train + n_test + 1))
            .map_err(js_err)?;
        let test =
            Prepared::new(llama, &self.test, layer, |d, _| report(on_progress, n_train + d, n_train + n_test + 1))
                .map_err(js_err)?;
        let prepared = n_train + n_test;
        let edit = spec
            .update(llama, &self.train, &train, site, 1, |d, t| report(on_progress, prepared + d, prepared + t))
            .map_err(js_err)?;
        let (edit, scale) = UpdateScale::rescale(llama, &train, site, &edit).map_err(js_err)?;
        let noise = random_direction(&llama.config, site).map_err(js_err)?;
        let (random, _) = UpdateScale::rescale(llama, &train, site, &noise).map_err(js_err)?;
        self.prepared = Some(test);
        self.update = Some(Fitted { method: spec.name(), layer, site, edit, random });
        to_js(
            &serde_json::json!({"method": spec.name(), "layer": layer, "site": site, "effect_norm": scale.effect_norm,
            "mean_hidden_norm": scale.residual_norm}),
        )
    }

    /// Preference and utility log-odds on the test pairs with the update at `strength` (10 = a
    /// `Δh` of half the layer's mean residual-stream norm, as in the CLI) — or, with `random`,
    /// a random direction of the same size instead (the noise floor).
    pub fn score(&self, strength: f32, random: bool, on_progress: &Function) -> Result<JsValue, JsError> {
        let steering = self.steering(strength, random)?;
        let (prepared, fitted) = self
            .prepared
            .as_ref()
            .zip(self.update.as_ref())
            .ok_or_else(|| JsError::new("no steering update yet: fit one first"))?;
        let (scores, _) = prepared
            .score(&self.model.llama, &steering, fitted.site, |d, t| report(on_progress, d, t))
            .map_err(js_err)?;
        to_js(&summarize(strength, &scores))
    }

    /// The prompting baseline: no steering, the concept asked for in the system prompt
    /// (`instruction`; "" = the first test pair's answer as an example), on the test pairs.
    pub fn score_prompting(&self, instruction: &str, on_progress: &Function) -> Result<JsValue, JsError> {
        let first = self.test_pairs.first().ok_or_else(|| JsError::new("no test pairs yet"))?;
        let instruction =
            if instruction.trim().is_empty() { first.example_instruction() } else { instruction.to_string() };
        let prompted = self
            .test_pairs
            .iter()
            .map(|p| PairTokens::with_system(&self.model, p, Some(&instruction)))
            .collect::<Result<Vec<_>, _>>()
            .map_err(js_err)?;
        let scores = score_pairs(&self.model.llama, &prompted, &Steering::none(), |d, t| report(on_progress, d, t))
            .map_err(js_err)?;
        let point = summarize(0.0, &scores);
        to_js(
            &serde_json::json!({"instruction": instruction, "pref_odds": point.pref_odds, "util_odds": point.util_odds}),
        )
    }

    /// The fitted vector at `strength` as a llama.cpp control-vector GGUF (`--control-vector`
    /// reads it; `steerscope generate --control-vector` too), with our metadata: method,
    /// operation, site, layer numbering, norm, sign rule, the strength, and the model and train
    /// pairs sha256 when the host knows them ("" = unknown).
    pub fn control_vector(&self, strength: f32, model_sha256: &str, pairs_sha256: &str) -> Result<Vec<u8>, JsError> {
        let f = self.update.as_ref().ok_or_else(|| JsError::new("no steering update yet: fit one first"))?;
        self.steering(strength, false)?; // the same checks as steering at this strength (NaN, ∞)
        let v = match (&f.edit, f.site) {
            (Edit::AddVector(v), Site::Residual) => v,
            _ => {
                return Err(JsError::new(&format!(
                    "llama.cpp control vectors add one vector to the residual stream; {} at {} is not one \
                     (DiffMean, PCA and the trained vector at the residual site are)",
                    f.method, f.site
                )))
            }
        };
        if strength == 0.0 {
            return Err(JsError::new("strength 0 would export a zero vector: pick a nonzero strength"));
        }
        let v: Vec<f32> = (v * strength as f64).and_then(|t| t.to_vec1()).map_err(js_err)?;
        let known = |s: &str| (!s.is_empty()).then(|| s.to_string());
        let from = Provenance {
            method: Some(f.method.clone()),
            model_sha256: known(model_sha256),
            dataset_sha256: known(pairs_sha256),
        };
        let mut cv = ControlVector::residual_add(f.layer, v, from);
        cv.meta.extra.push(("steerscope.strength".into(), Value::F32(strength)));
        cv.to_gguf_bytes().map_err(js_err)
    }

    /// Greedy continuation of a chat prompt, steered at `strength` (0 = base model).
    pub fn generate(
        &self, prompt: &str, max_tokens: usize, strength: f32, on_token: &Function,
    ) -> Result<String, JsError> {
        if prompt.trim().is_empty() {
            return Err(js_err(steerscope::Error::EmptyPrompt));
        }
        let steering = if strength == 0.0 { Steering::none() } else { self.steering(strength, false)? };
        let ids = self.model.tokenizer.encode(&self.model.chat.prompt(None, prompt)).map_err(js_err)?;
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

    pub fn tokenize(&self, text: &str) -> Result<Vec<u32>, JsError> {
        self.model.tokenizer.encode(text).map_err(js_err)
    }
}

impl Session {
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

    fn steering(&self, strength: f32, random: bool) -> Result<Steering, JsError> {
        let f = self.update.as_ref().ok_or_else(|| JsError::new("no steering update yet: fit one first"))?;
        let edit = if random { f.random.clone() } else { f.edit.clone() };
        let iv = Intervention::new(&self.model.llama.config, f.layer, f.site, edit, strength).map_err(js_err)?;
        Ok(Steering::none().with(iv))
    }
}
