//! `steerscope vector`: DiffMean or PCA from polarity pairs → an update file
//! ([`crate::artifact`]) or a llama.cpp control vector.
use anyhow::{Context, Result};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use steerscope::data::parse_jsonl;
use steerscope::model::Site;

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
    pub method: String,
    /// What applying the file does with the direction: add, project-out (ablate it; strength 1
    /// removes it fully) or clamp (set the component along it to strength × its norm).
    #[arg(long, default_value = "add")]
    pub operation: String,
    /// Which completion positions the vector is read from: completion-mean or last-token.
    #[arg(long, default_value = "completion-mean")]
    pub read: String,
    /// Which positions applying it steers: all, prompt, completion, from:N (absolute index),
    /// or prompt,completion. Stored in the file; `generate --steer` honours it.
    #[arg(long, default_value = "all")]
    pub steer_positions: String,
    /// Output file: `.safetensors`, or `.gguf` for a llama.cpp / repeng control vector
    /// (residual site only; `llama-cli --control-vector FILE` applies it at the same layer).
    #[arg(long)]
    pub out: PathBuf,
}

pub fn run(args: VectorArgs, model_path: &Path, json: bool) -> Result<()> {
    let text = std::fs::read_to_string(&args.pairs).with_context(|| format!("reading {}", args.pairs.display()))?;
    let parsed = parse_jsonl(&text).with_context(|| format!("in {}", args.pairs.display()))?;
    if let Some(note) = parsed.note() {
        eprintln!("note: {}: {note}", args.pairs.display());
    }
    let pairs = parsed.pairs;
    steerscope::model::sites::check_operation(&args.operation)?;
    let read = steerscope::steer::diffmean::Read::parse(&args.read)?;
    let positions = steerscope::model::sites::Positions::parse(&args.steer_positions)?;
    let model = crate::load_model(model_path)?;
    model.llama.config.check_layer(args.layer)?;
    let tokens = crate::sweep::tokens(&model, &pairs)?;
    let method = match args.method.parse()? {
        steerscope::steer::methods::Spec::Fitted(m) => m,
        _ => anyhow::bail!("`vector` computes diffmean or pca; use `train` for `{}`", args.method),
    };
    let pb = crate::progress_bar(tokens.len() as u64, &args.method);
    let dm =
        steerscope::steer::diffmean::fit_method(&model.llama, &tokens, method, args.layer, args.site, read, |i, _| {
            pb.set_position(i as u64)
        })?;
    pb.finish_and_clear();
    let meta = HashMap::from([
        ("method".to_string(), args.method.clone()),
        ("objective".into(), "none".into()),
        ("read_positions".into(), read.name().into()),
        ("model_sha256".into(), crate::fetch::sha256_file(model_path)?),
        ("pairs_sha256".into(), crate::fetch::sha256_file(&args.pairs)?),
        ("mean_activation_norm".into(), dm.mean_activation_norm.to_string()),
    ]);
    if args.out.extension().is_some_and(|e| e == "gguf") {
        anyhow::ensure!(
            args.operation == "add",
            "llama.cpp control vectors can only add; `{}` cannot be exported as one",
            args.operation
        );
        anyhow::ensure!(
            positions == steerscope::model::sites::Positions::All,
            "llama.cpp control vectors steer every position; `{}` cannot be exported as one",
            args.steer_positions
        );
        write_control_vector(&args.out, args.site, args.layer, &dm.vector, &meta)?;
    } else {
        let v = candle_core::Tensor::from_slice(&dm.vector, dm.vector.len(), &candle_core::Device::Cpu)?;
        let edit = steerscope::model::Edit::with_operation(v, &args.operation)?;
        crate::artifact::Artifact { layer: args.layer, site: args.site, edit, positions, meta }.save(&args.out)?;
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

/// A llama.cpp control-vector GGUF holding `v` at `layer`, with our self-describing metadata.
fn write_control_vector(
    path: &Path, site: Site, layer: usize, v: &[f32], meta: &HashMap<String, String>,
) -> Result<()> {
    use steerscope::steer::control_vector::{ControlVector, Provenance};
    anyhow::ensure!(
        site == Site::Residual,
        "llama.cpp control vectors act on the residual stream; site `{site}` cannot be exported as one"
    );
    let from = Provenance {
        method: meta.get("method").cloned(),
        model_sha256: meta.get("model_sha256").cloned(),
        dataset_sha256: meta.get("pairs_sha256").cloned(),
    };
    let cv = ControlVector::residual_add(layer, v.to_vec(), from);
    std::fs::write(path, cv.to_gguf_bytes()?).with_context(|| format!("writing {}", path.display()))?;
    Ok(())
}
