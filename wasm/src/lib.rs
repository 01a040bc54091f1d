//! The browser surface of steerscope: one [`Session`] object, bytes in, plain JS objects out,
//! errors as JS `Error`s whose message names the problem. It runs inside a Web Worker
//! (`web/worker.js`); every call is synchronous there and reports progress through callbacks.
//!
//! All the work is `steerscope` core code — the sweep session
//! ([`steerscope::analysis::session::SweepSession`]) measures, fits and rescales exactly as the
//! CLI does. This file only converts types: strings to enums, JS callbacks to
//! [`steerscope::progress::Progress`], results to JSON.
use candle_core::{Device, Tensor};
use js_sys::Function;
use std::cell::{RefCell, RefMut};
use std::rc::Rc;
use steerscope::analysis::baseline::prompting;
use steerscope::analysis::session::DEFAULT_STRENGTHS;
use steerscope::analysis::session::{Direction, Split, Steered, SweepSession};
use steerscope::analysis::sweep::SweepPoint;
use steerscope::data::{parse_jsonl, Pair};
use steerscope::model::chat::PromptFormat;
use steerscope::model::generate::{cpu_step, generate_reporting, pick, Sampling};
use steerscope::model::pairs::{Activations, PairEngine, Prepared, Read};
use steerscope::model::score::PairTokens;
use steerscope::model::sites::Positions;
use steerscope::model::{Cache, Edit, Model, Site, Steering};
use steerscope::progress::Progress;
use steerscope::steer::control_vector::ControlVector;
use steerscope::steer::methods::Method;
use steerscope::steer::update::Update;
use wasm_bindgen::prelude::*;

/// `initThreadPool(n)` in the threaded build: rayon's pool — which the core's kernels already
/// split their work over — as `n` Web Workers sharing this module's memory.
#[cfg(feature = "threads")]
pub use wasm_bindgen_rayon::init_thread_pool;

#[cfg(feature = "gpu")]
mod gpu;
mod lab;
mod views;

/// How many layers' sweep sessions a [`Session`] keeps (each holds its held-out pairs run up to
/// its layer, their unsteered pass and its points): moving the layer slider back and forth
/// among these reuses all of it. A session at layer ℓ holds ~`n_test · tokens · width` floats
/// per split (≈2 MB for the page's 8 pairs), so this bounds memory at a few tens of MB.
const KEPT_LAYERS: usize = 8;

/// A loaded model and the steering experiment on it.
#[wasm_bindgen]
pub struct Session {
    /// Shared by every session made with [`Session::share`]: one copy of the weights per page.
    model: Rc<Model>,
    /// The running sequence of [`Session::prefill`] / [`Session::step`].
    cache: Cache,
    format: PromptFormat,
    train: Vec<PairTokens>,
    test: Vec<PairTokens>,
    /// The test pairs as text, for the prompting baseline (it changes the system prompt).
    test_pairs: Vec<Pair>,
    /// The training pairs' activations at every layer and site, read in one pass, so that
    /// moving the layer or site needs no forward pass over them.
    activations: Option<Activations>,
    /// The experiment at each recently used layer, the current one first. Shared with a point
    /// being measured on the GPU ([`Session::point_async`]), which holds it while it awaits.
    sweeps: Rc<RefCell<Vec<SweepSession>>>,
    /// Where points are scored when not on the CPU (the GPU, [`Session::use_gpu`]).
    engine: Option<Rc<dyn PairEngine>>,
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

/// A JS callback `(point) => void` receiving each estimate of a point as its pairs land.
fn partial(on_partial: &Function) -> impl FnMut(&SweepPoint) + '_ {
    |p: &SweepPoint| {
        if let Ok(v) = to_js(p) {
            let _ = on_partial.call1(&JsValue::NULL, &v);
        }
    }
}

fn steered_info(s: &Steered, layer: usize) -> Result<JsValue, JsError> {
    to_js(&s.info(layer))
}

#[wasm_bindgen]
impl Session {
    /// Parses and loads a GGUF model from its bytes.
    #[wasm_bindgen(constructor)]
    pub fn new(bytes: &[u8]) -> Result<Session, JsError> {
        // A bug that panics would otherwise surface only as "unreachable": log its message.
        console_error_panic_hook::set_once();
        let model = Model::load(bytes).map_err(js_err)?;
        Ok(Session::over(Rc::new(model)))
    }

    /// A new session over the same loaded model (no copy of the weights): its own pairs,
    /// updates and points. Two experiments on one page — two `<steer-lab>` elements — each get
    /// one.
    pub fn share(&self) -> Session {
        Session::over(self.model.clone())
    }

    /// The strengths a sweep measures by default (the core's [`DEFAULT_STRENGTHS`]).
    pub fn default_strengths() -> Vec<f32> {
        DEFAULT_STRENGTHS.to_vec()
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
    /// `"none"` = none, else the text). When the training pairs (as formatted) are the ones
    /// already set, every update, the activations and the strength unit are kept and only the
    /// held-out points are dropped (`kept_updates: true`); otherwise everything is dropped.
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
        let test_pairs = test.pairs;
        let train = tokenize(&train.pairs)?;
        let test = tokenize(&test_pairs)?;
        if test.is_empty() {
            return Err(js_err(steerscope::Error::EmptyDataset));
        }
        let keep = !self.train.is_empty() && train == self.train;
        if keep {
            for s in self.sweeps()?.iter_mut() {
                s.set_test(test.clone()).map_err(js_err)?;
            }
        } else {
            self.activations = None;
            self.sweeps()?.clear();
        }
        self.train = train;
        self.test = test;
        self.test_pairs = test_pairs;
        self.format = format;
        to_js(&serde_json::json!({"n_train": self.train.len(), "n_test": self.test.len(),
            "format": self.format.describe(), "kept_updates": keep, "ignored_fields": ignored}))
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
        let mut sweeps = self.sweeps()?;
        let session = self.session_at(&mut sweeps, layer)?;
        let s = session
            .fit(&self.model.llama, method, site, positions, self.activations.as_ref(), epochs, JsProgress(on_progress))
            .map_err(js_err)?;
        steered_info(s, layer)
    }

    /// Makes an update fitted, trained or loaded earlier current again (its points are still
    /// cached): `name` as [`Session::fit`] reported it, at `layer` (default: the current layer;
    /// the layer's session must still be kept, see [`KEPT_LAYERS`]).
    pub fn select(&mut self, name: &str, layer: Option<usize>) -> Result<JsValue, JsError> {
        let mut sweeps = self.sweeps()?;
        if let Some(l) = layer {
            let i = sweeps.iter().position(|s| s.layer() == l).ok_or_else(|| {
                JsError::new(&format!("no update at layer {l} any more (only the last {KEPT_LAYERS} layers are kept)"))
            })?;
            sweeps[..=i].rotate_right(1);
        }
        let session = sweeps.first_mut().ok_or_else(no_update)?;
        let layer = session.layer();
        let s = session.select(name).map_err(js_err)?;
        steered_info(s, layer)
    }

    /// Every update of the current layer's session (a frontier compares them), as `fit` reports each.
    pub fn updates(&self) -> Result<JsValue, JsError> {
        let sweeps = self.sweeps()?;
        let Some(session) = sweeps.first() else { return to_js(&Vec::<()>::new()) };
        to_js(&session.updates().iter().map(|s| s.info(session.layer())).collect::<Vec<_>>())
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
        let mut session = self.session()?;
        let p = session
            .point_progressive(llama, Split::Test, direction, strength, partial(on_partial), JsProgress(on_progress))
            .map_err(js_err)?;
        to_js(&p)
    }

    /// The update's held-out points measured so far, by strength, with the applied check, the
    /// off-manifold reference's rank, the rank correlation of leaving the manifold with losing
    /// utility, and the paper's curves fitted on them.
    pub fn summary(&self) -> Result<JsValue, JsError> {
        let session = self.session()?;
        to_js(&session.summary(Split::Test))
    }

    /// Takes points measured earlier for the current update (`random`: for its random direction)
    /// on the held-out pairs — `points` as [`Session::point`] returned them, e.g. kept by the page
    /// across visits under the full key of what produced them — so they are not measured again
    /// and join [`Session::summary`]. Returns how many were new.
    pub fn remember(&mut self, random: bool, points: JsValue) -> Result<usize, JsError> {
        let json = js_sys::JSON::stringify(&points).map_err(|_| JsError::new("points: not JSON"))?;
        let points: Vec<SweepPoint> = serde_json::from_str(&String::from(json))
            .map_err(|e| JsError::new(&format!("points: not sweep points as point() returns them ({e})")))?;
        let mut session = self.session()?;
        let direction = if random { Direction::Random } else { Direction::Update };
        let before = session.points(Split::Test, direction).len();
        for p in points {
            session.remember(Split::Test, direction, p).map_err(js_err)?;
        }
        Ok(session.points(Split::Test, direction).len() - before)
    }

    /// The current update at strength 1 in strength units (what `strength` multiplies), as a
    /// vector — `undefined` for a weight update (LoRA, local weight), which is no one vector.
    pub fn vector(&self) -> Result<Option<Vec<f32>>, JsError> {
        let session = self.session()?;
        match &session.steered().expect("a session holds an update once fitted").edit {
            Edit::AddVector(v) => Ok(Some(v.to_vec1().map_err(js_err)?)),
            _ => Ok(None),
        }
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
        let session = self.session()?;
        let known = |s: &str| (!s.is_empty()).then(|| s.to_string());
        let cv = session.control_vector(strength, known(model_sha256), known(pairs_sha256)).map_err(js_err)?;
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
    /// (0 = base model). `on_token(piece) => stop?` receives each piece of text; returning
    /// `true` stops after that token with "cancelled".
    pub fn generate(
        &self, prompt: &str, max_tokens: usize, strength: f32, on_token: &Function,
    ) -> Result<String, JsError> {
        if prompt.trim().is_empty() {
            return Err(js_err(steerscope::Error::EmptyPrompt));
        }
        let steering = self.steering_at(strength)?;
        let ids = self.model.tokenizer.encode(&self.model.chat.render(&self.format, prompt)).map_err(js_err)?;
        let stop = std::cell::Cell::new(false);
        let on_text = |piece: &str| {
            let r = on_token.call1(&JsValue::NULL, &JsValue::from_str(piece));
            stop.set(r.ok().is_some_and(|v| v.is_truthy()));
        };
        let progress = |_: usize, _: usize| -> steerscope::Result<()> {
            if stop.get() {
                Err(steerscope::Error::Cancelled)
            } else {
                Ok(())
            }
        };
        let out =
            generate_reporting(&self.model, &ids, max_tokens, Sampling::GREEDY, &steering, on_text, Check(progress))
                .map_err(js_err)?;
        Ok(out.text)
    }

    /// Starts a new sequence with `ids` and returns the greedy next token (timed by the host:
    /// the benchmark page measures prefill and decode speed with this and [`Session::step`]).
    /// `max_tokens`, the [`Session::step`] calls to follow, sizes the KV cache once for the
    /// whole sequence; without it the cache grows by doubling (copying every layer's keys and
    /// values) as the steps come.
    pub fn prefill(&mut self, ids: &[u32], max_tokens: Option<u32>) -> Result<u32, JsError> {
        self.cache = Cache::with_capacity(ids.len() + max_tokens.unwrap_or(0) as usize);
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

    /// The logits of a fresh sequence: after prefilling `ids`, then after each of `steps`
    /// greedy decode steps, concatenated (`(steps + 1) · vocab` floats), steered by the
    /// session's update at `strength` (none or 0: the base model). The browser tests compare
    /// two wasm builds' kernels with it, prefill and decode paths both, and the WebGPU engine
    /// against the CPU.
    pub fn trace_logits(&self, ids: &[u32], steps: usize, strength: Option<f32>) -> Result<Vec<f32>, JsError> {
        let (mut cache, steering) =
            (Cache::with_capacity(ids.len() + steps), self.steering_at(strength.unwrap_or(0.0))?);
        let mut step = cpu_step(&self.model.llama, &mut cache, &steering);
        let (mut input, mut out) = (ids.to_vec(), Vec::new());
        for _ in 0..=steps {
            let logits = step(&input).map_err(js_err)?;
            input = vec![greedy(&logits)];
            out.extend(logits);
        }
        Ok(out)
    }
}

impl Session {
    /// The session's update at `strength` as a steering (0: none).
    fn steering_at(&self, strength: f32) -> Result<Steering, JsError> {
        match (self.sweeps()?.first(), strength) {
            (_, 0.0) => Ok(Steering::none()),
            (Some(s), m) => s.steering(&self.model.llama, Direction::Update, m).map_err(js_err),
            (None, _) => Err(JsError::new("no steering update yet: fit one first")),
        }
    }
}

/// The most likely next token.
fn greedy(logits: &[f32]) -> u32 {
    pick(logits, Sampling::GREEDY, &mut steerscope::rng::Rng::new(0))
}

/// Installs `check` — `() => stop?`, the worker's read of the running call's shared flag — as
/// the interrupt every forward pass asks before each layer and the output head (`undefined`
/// removes it): a superseded call stops within one layer's time, not one pair's.
#[wasm_bindgen]
pub fn set_stop_check(check: Option<Function>) {
    steerscope::progress::set_interrupt(check.map(|f| {
        Box::new(move || f.call0(&JsValue::NULL).ok().is_some_and(|v| v.is_truthy())) as Box<dyn Fn() -> bool>
    }));
}

/// The kernel path this build runs (`simd128` or `relaxed-simd`).
#[wasm_bindgen]
pub fn kernel_path() -> String {
    steerscope::kernels::active().name().into()
}

/// The sweep session at `layer`, made the current one (first): kept from earlier if it is among
/// the [`KEPT_LAYERS`] last used, else a new one (its pairs are prepared on first need, so this
/// is free until a point is measured; with activations read, its strength unit comes from them).
fn no_update() -> JsError {
    JsError::new("no steering update yet: fit one first")
}

/// A `(done, total) => Result` closure as a [`Progress`] that can stop the call.
struct Check<F>(F);

impl<F: FnMut(usize, usize) -> steerscope::Result<()>> Progress for Check<F> {
    fn report(&mut self, done: usize, total: usize) -> steerscope::Result<()> {
        (self.0)(done, total)
    }
}

impl Session {
    fn over(model: Rc<Model>) -> Session {
        Session {
            model,
            cache: Default::default(),
            format: PromptFormat::default(),
            train: Vec::new(),
            test: Vec::new(),
            test_pairs: Vec::new(),
            activations: None,
            sweeps: Rc::default(),
            engine: None,
        }
    }

    /// The sweep sessions, unless a point being measured on the GPU holds them.
    fn sweeps(&self) -> Result<RefMut<'_, Vec<SweepSession>>, JsError> {
        self.sweeps.try_borrow_mut().map_err(|_| JsError::new("busy: a point is being measured on the GPU"))
    }

    /// The current layer's sweep session.
    fn session(&self) -> Result<RefMut<'_, SweepSession>, JsError> {
        RefMut::filter_map(self.sweeps()?, |v| v.first_mut()).map_err(|_| no_update())
    }

    /// The session at `layer` among `sweeps`, made current (made on first need, scoring on the
    /// session's engine).
    fn session_at<'a>(&self, sweeps: &'a mut Vec<SweepSession>, layer: usize) -> Result<&'a mut SweepSession, JsError> {
        if self.train.is_empty() {
            return Err(JsError::new("no pairs yet: set_pairs first"));
        }
        match sweeps.iter().position(|s| s.layer() == layer) {
            Some(i) => sweeps[..=i].rotate_right(1),
            None => {
                let llama = &self.model.llama;
                let mut s = SweepSession::new(llama, self.train.clone(), self.test.clone(), layer).map_err(js_err)?;
                if let Some(a) = &self.activations {
                    s.use_activations(a).map_err(js_err)?;
                }
                s.score_on(self.engine.clone());
                sweeps.insert(0, s);
                sweeps.truncate(KEPT_LAYERS);
            }
        }
        Ok(&mut sweeps[0])
    }

    fn set_update(&mut self, update: &Update, name: &str) -> Result<JsValue, JsError> {
        let mut sweeps = self.sweeps()?;
        let session = self.session_at(&mut sweeps, update.layer)?;
        let s = session.set_update(&self.model.llama, update, name).map_err(js_err)?;
        steered_info(s, update.layer)
    }

    fn next_token(&mut self, ids: &[u32]) -> Result<u32, JsError> {
        let none = Steering::none();
        let logits = cpu_step(&self.model.llama, &mut self.cache, &none)(ids).map_err(js_err)?;
        Ok(greedy(&logits))
    }
}
