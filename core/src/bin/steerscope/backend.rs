//! `--backend cpu|gpu|auto`: where `generate` runs its forward pass, and where `sweep` and
//! `calibrate` score their pairs (the sweep session's [`PairEngine`]). The GPU engine
//! (`steerscope::gpu`, wgpu: Vulkan / Metal / DX12) exists in builds with the `gpu` feature;
//! `auto` times the same probe on both and keeps the faster, and falls back to the CPU — saying
//! why — when there is no adapter or the engine cannot run the model.
use anyhow::Result;
use std::path::Path;
use std::rc::Rc;
use steerscope::model::generate::{generate, Generation, Sampling};
use steerscope::model::pairs::PairEngine;
use steerscope::model::score::PairTokens;
use steerscope::model::{Model, Steering};

#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    /// The CPU path (candle's quantized kernels).
    Cpu,
    /// The GPU engine; an error when there is no adapter or this build has no GPU backend.
    Gpu,
    /// Time a probe on each and keep the faster: the prompt's prefill and one decode step
    /// (`generate`), or scoring one pair (`sweep`, `calibrate`).
    Auto,
}

/// What ran, and why: printed on stderr and in `--json`.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Choice {
    /// `cpu` or `gpu`.
    pub backend: &'static str,
    /// The GPU adapter's name, backend and whether it is a software rasterizer.
    pub adapter: Option<serde_json::Value>,
    /// Probe seconds per backend (`auto` only).
    pub probe_s: Option<serde_json::Value>,
    /// Why the CPU ran although a GPU was asked for or considered.
    pub note: Option<String>,
}

impl Choice {
    fn cpu(note: Option<String>) -> Choice {
        Choice { backend: "cpu", adapter: None, probe_s: None, note }
    }
}

/// Generates on the backend `backend` picks (`auto` probes with the prompt `ids`).
#[allow(clippy::too_many_arguments)]
pub fn run_generate(
    backend: Backend, model_path: &Path, model: &Model, ids: &[u32], max_tokens: usize, sampling: Sampling,
    steering: &Steering, on_text: impl FnMut(&str),
) -> Result<(Generation, Choice)> {
    match backend {
        Backend::Cpu => Ok((generate(model, ids, max_tokens, sampling, steering, on_text)?, Choice::cpu(None))),
        Backend::Gpu | Backend::Auto => {
            gpu::run(backend, model_path, model, ids, max_tokens, sampling, steering, on_text)
        }
    }
}

/// Where a sweep session scores its pairs — `None`: on the CPU — and why (`auto` probes by
/// scoring `probe` at mid-depth on each backend).
pub fn pair_engine(
    backend: Backend, model_path: &Path, model: &Model, probe: &PairTokens,
) -> Result<(Option<Rc<dyn PairEngine>>, Choice)> {
    match backend {
        Backend::Cpu => Ok((None, Choice::cpu(None))),
        Backend::Gpu | Backend::Auto => gpu::pair_engine(backend, model_path, model, probe),
    }
}

/// Says on stderr where a command runs, unless it was simply told `cpu`.
pub fn report(backend: Backend, choice: &Choice) {
    if backend != Backend::Cpu {
        let note = choice.note.as_ref().map_or(String::new(), |n| format!(" ({n})"));
        eprintln!("backend: {}{note}", choice.backend);
    }
}

#[cfg(not(feature = "gpu"))]
mod gpu {
    use super::*;
    use anyhow::bail;

    const WHY: &str = "this steerscope was built without the GPU backend (cargo build --release --features gpu)";

    pub fn pair_engine(
        backend: Backend, _model_path: &Path, _model: &Model, _probe: &PairTokens,
    ) -> Result<(Option<Rc<dyn PairEngine>>, Choice)> {
        if backend == Backend::Gpu {
            bail!("--backend gpu: {WHY}");
        }
        Ok((None, Choice::cpu(Some(WHY.into()))))
    }

    #[allow(clippy::too_many_arguments)]
    pub fn run(
        backend: Backend, _model_path: &Path, model: &Model, ids: &[u32], max_tokens: usize, sampling: Sampling,
        steering: &Steering, on_text: impl FnMut(&str),
    ) -> Result<(Generation, Choice)> {
        if backend == Backend::Gpu {
            bail!("--backend gpu: {WHY}");
        }
        let gen = generate(model, ids, max_tokens, sampling, steering, on_text)?;
        Ok((gen, Choice::cpu(Some(WHY.into()))))
    }
}

#[cfg(feature = "gpu")]
mod gpu {
    use super::*;
    use anyhow::Context;
    use candle_core::IndexOp;
    use std::time::Instant;
    use steerscope::future::wait;
    use steerscope::gguf::Gguf;
    use steerscope::gpu::{block_on, Gpu, GpuEngine, GpuLlama, GpuOptions, GpuSteering};
    use steerscope::model::generate::generate_with;
    use steerscope::model::pairs::{Prepared, ScorePairs};
    use steerscope::model::Cache;
    use steerscope::model::Site;
    use steerscope::Error;

    /// Opens the GPU and uploads the model.
    fn open(model_path: &Path) -> Result<GpuLlama> {
        let gpu = block_on(Gpu::new(&GpuOptions::default()))?;
        let bytes = std::fs::read(model_path).with_context(|| format!("reading {}", model_path.display()))?;
        let gguf = Gguf::parse(&bytes)?;
        Ok(block_on(GpuLlama::load(&gpu, &gguf))?)
    }

    fn adapter(gm: &GpuLlama) -> serde_json::Value {
        let a = gm.gpu().adapter();
        serde_json::json!({"name": a.name, "backend": a.backend, "device_type": a.device_type, "software": a.software})
    }

    /// Seconds for the prompt's prefill and one decode step on each backend (the GPU's first,
    /// untimed call warms it up).
    fn probe(gm: &GpuLlama, model: &Model, ids: &[u32], steering: &Steering) -> Result<(f64, f64)> {
        let gs = GpuSteering::new(gm, steering)?;
        let next = [ids[ids.len() - 1]];
        block_on(gm.next_logits(&next, &mut gm.cache(), &gs))?;
        let t = Instant::now();
        let mut cache = gm.cache();
        block_on(gm.next_logits(ids, &mut cache, &gs))?;
        block_on(gm.next_logits(&next, &mut cache, &gs))?;
        let gpu_s = t.elapsed().as_secs_f64();
        let llama = &model.llama;
        let t = Instant::now();
        let mut cache = Cache::new();
        for input in [ids, &next] {
            let h = llama.forward(input, &mut cache, steering)?.hidden;
            let n = h.dim(0)?;
            llama.logits(&h.i(n - 1..n)?)?;
        }
        Ok((t.elapsed().as_secs_f64(), gpu_s))
    }

    /// Seconds to prepare `probe` at mid-depth and score it unsteered, on the CPU and on the GPU
    /// (whose first, untimed run warms it up).
    fn probe_pair(gm: &GpuLlama, model: &Model, probe: &PairTokens) -> Result<(f64, f64)> {
        let (llama, engine) = (&model.llama, GpuEngine(gm.clone()));
        let layer = llama.config.n_layers / 2;
        let pairs = std::slice::from_ref(probe);
        let time = |prepare: &dyn Fn() -> steerscope::Result<Box<dyn ScorePairs>>| -> Result<f64> {
            let t = Instant::now();
            wait(prepare()?.score_pair(llama, 0, &Steering::none(), Site::Residual))?;
            Ok(t.elapsed().as_secs_f64())
        };
        let on_gpu = || wait(engine.prepare(llama, pairs, layer, &mut |_, _| {}));
        time(&on_gpu)?;
        let gpu_s = time(&on_gpu)?;
        let cpu_s = time(&|| Ok(Box::new(Prepared::new(llama, pairs, layer, |_, _| {})?)))?;
        Ok((cpu_s, gpu_s))
    }

    pub fn pair_engine(
        backend: Backend, model_path: &Path, model: &Model, probe: &PairTokens,
    ) -> Result<(Option<Rc<dyn PairEngine>>, Choice)> {
        let gm = match open(model_path) {
            Ok(gm) => gm,
            Err(e) if backend == Backend::Auto => {
                return Ok((None, Choice::cpu(Some(format!("the GPU cannot run it: {e:#}")))));
            }
            Err(e) => return Err(e.context("--backend gpu")),
        };
        let mut choice = Choice { backend: "gpu", adapter: Some(adapter(&gm)), probe_s: None, note: None };
        if backend == Backend::Auto {
            let tokens = probe.prompt.len() + probe.positive.len() + probe.negative.len();
            match probe_pair(&gm, model, probe) {
                Ok((cpu_s, gpu_s)) => {
                    choice.probe_s = Some(serde_json::json!({"cpu": cpu_s, "gpu": gpu_s, "tokens": tokens}));
                    if cpu_s <= gpu_s {
                        choice.backend = "cpu";
                        choice.note = Some(format!("the CPU was faster on the probe ({cpu_s:.3} s vs {gpu_s:.3} s)"));
                        return Ok((None, choice));
                    }
                }
                Err(e) => {
                    choice.backend = "cpu";
                    choice.note = Some(format!("the GPU probe failed: {e:#}"));
                    return Ok((None, choice));
                }
            }
        }
        Ok((Some(Rc::new(GpuEngine(gm))), choice))
    }

    #[allow(clippy::too_many_arguments)]
    pub fn run(
        backend: Backend, model_path: &Path, model: &Model, ids: &[u32], max_tokens: usize, sampling: Sampling,
        steering: &Steering, on_text: impl FnMut(&str),
    ) -> Result<(Generation, Choice)> {
        let gm = match open(model_path) {
            Ok(gm) => gm,
            Err(e) if backend == Backend::Auto => {
                let gen = generate(model, ids, max_tokens, sampling, steering, on_text)?;
                return Ok((gen, Choice::cpu(Some(format!("the GPU cannot run it: {e:#}")))));
            }
            Err(e) => return Err(e.context("--backend gpu")),
        };
        let mut choice = Choice { backend: "gpu", adapter: Some(adapter(&gm)), probe_s: None, note: None };
        if backend == Backend::Auto {
            match probe(&gm, model, ids, steering) {
                Ok((cpu_s, gpu_s)) => {
                    choice.probe_s = Some(serde_json::json!({"cpu": cpu_s, "gpu": gpu_s, "tokens": ids.len() + 1}));
                    if cpu_s <= gpu_s {
                        choice.backend = "cpu";
                        choice.note = Some(format!("the CPU was faster on the probe ({cpu_s:.3} s vs {gpu_s:.3} s)"));
                    }
                }
                Err(e) => {
                    choice.backend = "cpu";
                    choice.note = Some(format!("the GPU probe failed: {e:#}"));
                }
            }
            if choice.backend == "cpu" {
                return Ok((generate(model, ids, max_tokens, sampling, steering, on_text)?, choice));
            }
        }
        let gs = GpuSteering::new(&gm, steering)?;
        let mut cache = gm.cache();
        // Tokens the GPU has run: what the CPU must catch up on if the device is lost.
        let mut seen: Vec<u32> = Vec::new();
        let mut cpu: Option<Cache> = None;
        let mut lost = None;
        let llama = &model.llama;
        let step = |input: &[u32]| -> steerscope::Result<Vec<f32>> {
            let mut input = input.to_vec();
            if cpu.is_none() {
                match block_on(gm.next_logits(&input, &mut cache, &gs)) {
                    Ok(logits) => {
                        seen.extend_from_slice(&input);
                        return Ok(logits);
                    }
                    Err(Error::DeviceLost(why)) => {
                        eprintln!("the GPU device was lost ({why}): finishing on the CPU");
                        lost = Some(why);
                        cpu = Some(Cache::new());
                        input = seen.iter().chain(&input).copied().collect();
                    }
                    Err(e) => return Err(e),
                }
            }
            let cache = cpu.as_mut().expect("the CPU cache exists once the GPU is given up");
            let h = llama.forward(&input, cache, steering)?.hidden;
            let n = h.dim(0)?;
            Ok(llama.logits(&h.i(n - 1..n)?)?.squeeze(0)?.to_vec1()?)
        };
        let gen = generate_with(model, ids, max_tokens, sampling, step, on_text, |_, _| {})?;
        if let Some(why) = lost {
            choice.note = Some(format!("the GPU device was lost mid-run ({why}); the CPU finished the generation"));
        }
        Ok((gen, choice))
    }
}
