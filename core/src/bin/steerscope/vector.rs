//! `steerscope vector`: DiffMean or PCA from polarity pairs → an update file
//! ([`steerscope::steer::update`]) or a llama.cpp control vector.
use crate::FormatArgs;
use anyhow::{Context, Result};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use steerscope::model::pairs::Read;
use steerscope::model::sites::{Operation, Positions};
use steerscope::model::{Edit, Site};
use steerscope::steer::control_vector::{ControlVector, Provenance};
use steerscope::steer::fitted::FittedVector;
use steerscope::steer::methods::Method;
use steerscope::steer::update::Update;

#[derive(clap::Args, Debug)]
pub struct VectorArgs {
    /// Polarity pairs (JSONL: prompt, positive, negative).
    #[arg(long)]
    pub pairs: PathBuf,
    #[arg(long)]
    pub layer: usize,
    #[arg(long, default_value = "residual")]
    pub site: Site,
    /// diffmean or pca (first principal component of the pair differences, signed toward the
    /// positive completions, scaled to the DiffMean norm).
    #[arg(long, default_value = "diffmean")]
    pub method: Method,
    /// What applying the file does with the direction: add, project-out (ablate it; strength 1
    /// removes it fully) or clamp (set the component along it to strength × its norm).
    #[arg(long, default_value = "add")]
    pub operation: Operation,
    /// Which completion positions the vector is read from: completion-mean or last-token.
    #[arg(long, default_value = "completion-mean")]
    pub read: Read,
    /// Which positions applying it steers: all, prompt, completion, from:N (absolute index),
    /// or prompt,completion. Stored in the file; `generate --steer` honours it.
    #[arg(long, default_value = "all", value_parser = Positions::parse)]
    pub steer_positions: Positions,
    /// Use at most this many pairs.
    #[arg(long)]
    pub max_pairs: Option<usize>,
    #[command(flatten)]
    pub format: FormatArgs,
    /// Output file: `.safetensors`, or `.gguf` for a llama.cpp / repeng control vector
    /// (residual site only; `llama-cli --control-vector FILE` applies it at the same layer).
    #[arg(long)]
    pub out: PathBuf,
}

pub fn run(args: VectorArgs, model_path: &Path, json: bool) -> Result<()> {
    anyhow::ensure!(!args.method.is_trained(), "`vector` computes diffmean or pca; use `train` for `{}`", args.method);
    let format = args.format.prompt_format()?;
    let pairs = crate::sweep::read_pairs(&args.pairs, args.max_pairs)?;
    let model = crate::load_model(model_path)?;
    model.llama.config.check_layer(args.layer)?;
    let tokens = crate::sweep::tokens(&model, &pairs, &format)?;
    let pb = crate::progress_bar(tokens.len() as u64, &args.method.name());
    let dm = FittedVector::from_pairs(
        &model.llama,
        &tokens,
        args.method,
        args.layer,
        args.site,
        args.read,
        crate::sweep::bar(&pb),
    )?;
    pb.finish_and_clear();
    let meta = HashMap::from([
        ("method".to_string(), args.method.name()),
        ("objective".into(), "none".into()),
        ("read_positions".into(), args.read.name().into()),
        ("prompt_format".into(), format.describe()),
        ("model_sha256".into(), crate::fetch::sha256_file(model_path)?),
        ("pairs_sha256".into(), crate::fetch::sha256_file(&args.pairs)?),
        ("mean_activation_norm".into(), dm.mean_activation_norm.to_string()),
    ]);
    let v = candle_core::Tensor::from_slice(&dm.vector, dm.vector.len(), &candle_core::Device::Cpu)?;
    let edit = Edit::with_operation(v, args.operation);
    if args.out.extension().is_some_and(|e| e == "gguf") {
        let from = Provenance {
            method: meta.get("method").cloned(),
            model_sha256: meta.get("model_sha256").cloned(),
            dataset_sha256: meta.get("pairs_sha256").cloned(),
        };
        let cv =
            ControlVector::export(&args.method.name(), args.layer, args.site, args.steer_positions, &edit, 1.0, from)?;
        std::fs::write(&args.out, cv.to_gguf_bytes()?).with_context(|| format!("writing {}", args.out.display()))?;
    } else {
        let update = Update { layer: args.layer, site: args.site, edit, positions: args.steer_positions, meta };
        crate::save_update(&update, &args.out)?;
    }
    let summary = serde_json::json!({"out": args.out, "layer": args.layer, "site": args.site, "norm": dm.norm,
        "mean_activation_norm": dm.mean_activation_norm, "pairs": pairs.len()});
    if json {
        println!("{summary}")
    } else {
        println!(
            "wrote {}: |v| = {:.3} (mean activation norm {:.1})",
            args.out.display(),
            dm.norm,
            dm.mean_activation_norm
        )
    }
    Ok(())
}
