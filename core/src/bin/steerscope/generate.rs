//! `steerscope generate`: prompt → streamed text, optionally steered.
use anyhow::{bail, Context, Result};
use candle_core::{Device, Tensor};
use std::io::Write;
use std::path::{Path, PathBuf};

use crate::backend::{run_generate, Backend};
use steerscope::model::generate::Sampling;
use steerscope::model::{Edit, Intervention, Site, Steering};

#[derive(clap::Args, Debug)]
pub struct GenerateArgs {
    /// The user message (wrapped in the model's chat template unless --raw).
    #[arg(long)]
    pub prompt: String,
    /// Use the prompt as plain text, without the chat template.
    #[arg(long)]
    pub raw: bool,
    /// A system message (default: the model's own default, if its template has one).
    #[arg(long)]
    pub system: Option<String>,
    #[arg(long, default_value_t = 64)]
    pub max_tokens: usize,
    /// 0 = greedy.
    #[arg(long, default_value_t = 0.0)]
    pub temperature: f32,
    #[arg(long, default_value_t = 0.95)]
    pub top_p: f32,
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// FILE[:STRENGTH] — apply an update file from `vector` or `train` (DiffMean, PCA, trained
    /// vector, LoRA, local weight) at the site and layer it names, times STRENGTH (default 1).
    /// SITE:LAYER:FILE:STRENGTH puts it elsewhere. Repeatable.
    #[arg(long)]
    pub steer: Vec<String>,
    /// FILE[:STRENGTH] — a llama.cpp / repeng control-vector GGUF, each `direction.N` added at
    /// layer N's residual stream × STRENGTH (default 1), as llama.cpp applies it (repeatable).
    #[arg(long)]
    pub control_vector: Vec<String>,
    /// Where the forward pass runs: cpu; gpu (wgpu: Vulkan / Metal / DX12, in builds with the
    /// `gpu` feature); auto (times the prompt on both and keeps the faster, the CPU when there is
    /// no GPU). The choice goes to stderr, and to the output with --json.
    #[arg(long, value_enum, default_value_t = Backend::Cpu)]
    pub backend: Backend,
}

pub fn run(args: GenerateArgs, model_path: &Path, json: bool) -> Result<()> {
    let model = crate::load_model(model_path)?;
    let mut steering = Steering::none();
    for spec in &args.steer {
        steering = steering.with(parse_steer(spec, &model.llama.config)?);
    }
    for spec in &args.control_vector {
        for iv in control_vector(spec, &model.llama.config)? {
            steering = steering.with(iv);
        }
    }
    if args.prompt.trim().is_empty() {
        return Err(steerscope::Error::EmptyPrompt.into());
    }
    let text = if args.raw { args.prompt.clone() } else { model.chat.prompt(args.system.as_deref(), &args.prompt) };
    let ids = model.tokenizer.encode(&text)?;
    let sampling = Sampling { temperature: args.temperature, top_p: args.top_p, seed: args.seed };
    let mut out = std::io::stdout();
    let on_text = |piece: &str| {
        if !json {
            print!("{piece}");
            out.flush().ok();
        }
    };
    let (gen, choice) =
        run_generate(args.backend, model_path, &model, &ids, args.max_tokens, sampling, &steering, on_text)?;
    if json {
        println!(
            "{}",
            serde_json::json!({"prompt": args.prompt, "text": gen.text, "tokens": gen.ids, "steer": args.steer,
                "backend": choice})
        );
    } else {
        println!();
        crate::backend::report(args.backend, &choice);
    }
    Ok(())
}

/// `[SITE:LAYER:]FILE[:STRENGTH]`; the file name may itself contain colons.
fn parse_steer(spec: &str, config: &steerscope::model::Config) -> Result<Intervention> {
    let mut parts: Vec<&str> = spec.split(':').collect();
    let strength = match parts.last().map(|s| s.parse::<f32>()) {
        Some(Ok(m)) if parts.len() > 1 => {
            parts.pop();
            m
        }
        Some(Err(_)) if parts.len() >= 4 => {
            bail!("--steer `{spec}`: strength `{}` is not a number", parts[parts.len() - 1])
        }
        _ => 1.0,
    };
    let placed = parts.len() >= 3 && parts[1].chars().all(|c| c.is_ascii_digit());
    let file = PathBuf::from(parts[if placed { 2 } else { 0 }..].join(":"));
    let mut artifact = crate::load_update(&file).with_context(|| format!("--steer `{spec}`"))?;
    if placed {
        artifact.site = parts[0].parse()?;
        artifact.layer =
            parts[1].parse().with_context(|| format!("--steer `{spec}`: layer `{}` is not a number", parts[1]))?;
    }
    artifact.intervention(config, strength).with_context(|| format!("--steer `{spec}`"))
}

/// `FILE[:STRENGTH]` → one residual-site intervention per direction in the file.
fn control_vector(spec: &str, config: &steerscope::model::Config) -> Result<Vec<Intervention>> {
    let (file, strength) = match spec.rsplit_once(':') {
        Some((f, m)) if m.parse::<f32>().is_ok() => (f, m.parse::<f32>()?),
        _ => (spec, 1.0),
    };
    let bytes = std::fs::read(file).with_context(|| format!("reading control vector {file}"))?;
    let cv = steerscope::steer::control_vector::ControlVector::from_gguf_bytes(&bytes)
        .with_context(|| format!("control vector {file}"))?;
    cv.check_fits(config.n_layers, config.hidden).with_context(|| format!("control vector {file}"))?;
    cv.directions
        .iter()
        .map(|(layer, v)| {
            let v = Tensor::from_slice(v, v.len(), &Device::Cpu)?;
            Ok(Intervention::new(config, *layer, Site::Residual, Edit::AddVector(v), strength)?)
        })
        .collect()
}
