//! The GPU engine in the browser (feature `gpu`): WebGPU through `steerscope::gpu`, behind
//! promises. Only type conversion here: bytes and ids in, `Float32Array`s out, errors as JS
//! `Error`s whose `name` is `DeviceLost` / `NoGpu` / `GpuError` so a caller can fall back to the
//! CPU [`crate::Session`].
use candle_core::{Device, Tensor};
use steerscope::gguf::Gguf;
use steerscope::gpu::{Gpu, GpuLlama, GpuOptions, GpuSteering, Readout};
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
