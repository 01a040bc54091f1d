//! The GPU engine in the browser (feature `gpu`): WebGPU through `steerscope::gpu`, behind
//! promises. Only type conversion here: bytes and ids in, `Float32Array`s out, errors as JS
//! `Error`s whose `name` is `DeviceLost` / `NoGpu` / `GpuError` so a caller can fall back to the
//! CPU [`crate::Session`]. A [`crate::Session`] told to [`Session::use_gpu`] scores its points on
//! the GPU through [`Session::point_async`]: the core's own point loop, awaited.
use crate::{js_err, no_update, partial, to_js, JsProgress, Session};
use candle_core::{Device, Tensor};
use js_sys::Function;
use std::rc::Rc;
use steerscope::analysis::session::{Direction, Split};
use steerscope::gguf::Gguf;
use steerscope::gpu::{Gpu, GpuEngine, GpuLlama, GpuOptions, GpuSteering, Input, Readout};
use steerscope::model::pairs::PairEngine;
use steerscope::model::sites::{Operation, Positions};
use steerscope::model::{Edit, Intervention, Site, Steering};
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::future_to_promise;

/// A JS `Error` whose `name` says which kind of failure it is.
fn gpu_err(e: steerscope::Error) -> JsValue {
    let err = js_sys::Error::new(&e.to_string());
    err.set_name(match e {
        steerscope::Error::DeviceLost(_) => "DeviceLost",
        steerscope::Error::NoGpu(_) => "NoGpu",
        steerscope::Error::Gpu(_) => "GpuError",
        _ => "Error",
    });
    err.into()
}

/// The model on WebGPU.
#[wasm_bindgen]
pub struct GpuSession {
    gpu: Gpu,
    model: GpuLlama,
}

/// One intervention, as the page describes it.
#[wasm_bindgen]
#[derive(Clone)]
pub struct GpuEdit {
    layer: usize,
    site: Site,
    operation: Operation,
    vector: Vec<f32>,
    strength: f32,
    positions: Positions,
}

#[wasm_bindgen]
impl GpuEdit {
    /// `operation` is `add`, `project-out` or `clamp`; `positions` `all`, `prompt`,
    /// `completion` or `from:N`.
    #[wasm_bindgen(constructor)]
    pub fn new(
        layer: usize, site: &str, operation: &str, vector: Vec<f32>, strength: f32, positions: &str,
    ) -> Result<GpuEdit, JsError> {
        let site: Site = site.parse().map_err(|e: steerscope::Error| JsError::new(&e.to_string()))?;
        let operation: Operation = operation.parse().map_err(|e: steerscope::Error| JsError::new(&e.to_string()))?;
        let positions = Positions::parse(positions).map_err(|e| JsError::new(&e.to_string()))?;
        Ok(GpuEdit { layer, site, operation, vector, strength, positions })
    }
}

impl GpuSession {
    fn steering(&self, edit: Option<GpuEdit>) -> Result<GpuSteering, steerscope::Error> {
        let Some(e) = edit else { return Ok(GpuSteering::none()) };
        let v = Tensor::from_vec(e.vector.clone(), e.vector.len(), &Device::Cpu)?;
        let iv =
            Intervention::new(self.model.config(), e.layer, e.site, Edit::with_operation(v, e.operation), e.strength)?
                .at(e.positions);
        GpuSteering::new(&self.model, &Steering::none().with(iv))
    }
}

#[wasm_bindgen]
impl GpuSession {
    /// Opens WebGPU and uploads the model in `bytes` (a GGUF file). Resolves to a session;
    /// rejects with a `NoGpu` error when the browser has no adapter.
    pub fn create(bytes: Vec<u8>) -> js_sys::Promise {
        future_to_promise(async move {
            let gpu = Gpu::new(&GpuOptions::default()).await.map_err(gpu_err)?;
            let gguf = Gguf::parse(&bytes).map_err(gpu_err)?;
            let model = GpuLlama::load(&gpu, &gguf).await.map_err(gpu_err)?;
            Ok(GpuSession { gpu, model }.into())
        })
    }

    /// The adapter: `{name, backend, device_type, driver, software}`.
    pub fn adapter(&self) -> Result<JsValue, JsError> {
        let json = serde_json::to_string(self.gpu.adapter()).map_err(|e| JsError::new(&e.to_string()))?;
        js_sys::JSON::parse(&json).map_err(|_| JsError::new("internal: JSON round trip failed"))
    }

    /// Next-token logits after `ids` (a fresh sequence), steered by `edit` when given.
    pub fn next_logits(&self, ids: Vec<u32>, edit: Option<GpuEdit>) -> js_sys::Promise {
        let (model, steering) = (self.model.clone(), self.steering(edit));
        future_to_promise(async move {
            let logits =
                model.next_logits(&ids, &mut model.cache(), &steering.map_err(gpu_err)?).await.map_err(gpu_err)?;
            Ok(js_sys::Float32Array::from(logits.as_slice()).into())
        })
    }

    /// Log-probabilities of each `completion` token after `prompt`, steered by `edit` when given.
    pub fn completion_logprobs(
        &self, prompt: Vec<u32>, completion: Vec<u32>, edit: Option<GpuEdit>,
    ) -> js_sys::Promise {
        let (model, steering) = (self.model.clone(), self.steering(edit));
        future_to_promise(async move {
            let steering = steering.map_err(gpu_err)?;
            let mut prefix = model.cache();
            model.forward(&prompt, &mut prefix, &steering, &Readout::default()).await.map_err(gpu_err)?;
            let lp = model.completion_logprobs(&prefix, &completion, &steering).await.map_err(gpu_err)?;
            Ok(js_sys::Float32Array::from(lp.as_slice()).into())
        })
    }

    /// Destroys the device (what a driver reset does): every later call rejects with `DeviceLost`.
    pub fn destroy(&self) {
        self.gpu.destroy();
    }
}

/// The same short work on either engine, for a host that times both and keeps the faster: a
/// prefill of `ids` through layers `0..layers`, then one decode step through them.
fn probe_cpu(session: &Session, ids: &[u32], layers: usize) -> steerscope::Result<()> {
    let llama = &session.model.llama;
    let (mut cache, none) = (steerscope::model::Cache::new(), Steering::none());
    let last = *ids.last().ok_or(steerscope::Error::EmptyPrompt)?;
    llama.run_layers(llama.embed(ids, 0)?, 0..layers, &mut cache, &none)?;
    llama.run_layers(llama.embed(&[last], cache.pos)?, 0..layers, &mut cache, &none)?;
    Ok(())
}

#[wasm_bindgen]
impl GpuSession {
    /// [`Session::probe`] on the GPU: resolves when the GPU has finished.
    pub fn probe(&self, ids: Vec<u32>, layers: usize) -> js_sys::Promise {
        let model = self.model.clone();
        future_to_promise(async move {
            let (mut cache, none) = (model.cache(), GpuSteering::none());
            let last = *ids.last().ok_or_else(|| gpu_err(steerscope::Error::EmptyPrompt))?;
            for input in [&ids[..], &[last]] {
                model
                    .run(Input::Tokens(input), 0..layers, &mut cache, &none, &Readout::default())
                    .await
                    .map_err(gpu_err)?;
            }
            Ok(JsValue::UNDEFINED)
        })
    }
}

#[wasm_bindgen]
impl Session {
    /// Runs the probe (a prefill of `ids` and one decode step through layers `0..layers`) on the
    /// CPU; the host times it against [`GpuSession::probe`].
    pub fn probe(&self, ids: Vec<u32>, layers: usize) -> Result<(), JsError> {
        probe_cpu(self, &ids, layers).map_err(js_err)
    }

    /// Scores points on `gpu` from now on (every layer's session; points measured on the CPU are
    /// forgotten, as their arithmetic differs): [`Session::point_async`] measures them.
    pub fn use_gpu(&mut self, gpu: &GpuSession) -> Result<(), JsError> {
        self.set_engine(Some(Rc::new(GpuEngine(gpu.model.clone()))))
    }

    /// Why the current layer's session left the GPU mid-point (a lost device: it then measured
    /// the point on the CPU), if it did.
    pub fn engine_lost(&self) -> Result<Option<String>, JsError> {
        Ok(self.session()?.engine_lost().map(String::from))
    }

    /// Scores points on the CPU again (after a lost device, say).
    pub fn use_cpu(&mut self) -> Result<(), JsError> {
        self.set_engine(None)
    }

    /// [`Session::point`] as a promise: on the GPU after [`Session::use_gpu`] (the core's point
    /// loop awaiting each pair), else on the CPU at once. After a lost device the session
    /// measures the point on the CPU and [`Session::engine_lost`] says why.
    pub fn point_async(
        &self, strength: f32, random: bool, on_partial: Function, on_progress: Function,
    ) -> js_sys::Promise {
        let (model, sweeps) = (self.model.clone(), self.sweeps.clone());
        let direction = if random { Direction::Random } else { Direction::Update };
        future_to_promise(async move {
            let mut sweeps = sweeps.try_borrow_mut().map_err(|_| JsError::new("busy: a point is being measured"))?;
            let session = sweeps.first_mut().ok_or_else(no_update)?;
            let p = session
                .point_progressive_async(
                    &model.llama,
                    Split::Test,
                    direction,
                    strength,
                    partial(&on_partial),
                    JsProgress(&on_progress),
                )
                .await
                .map_err(gpu_err)?;
            Ok(to_js(&p)?)
        })
    }
}

impl Session {
    fn set_engine(&mut self, engine: Option<Rc<dyn PairEngine>>) -> Result<(), JsError> {
        for s in self.sweeps()?.iter_mut() {
            s.score_on(engine.clone());
        }
        self.engine = engine;
        Ok(())
    }
}
