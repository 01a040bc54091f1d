//! `steerscope vector`: DiffMean from polarity pairs → a safetensors vector file, and the
//! reader `--steer` uses. The file is self-describing: its metadata names the site, layer,
//! method and the sha256 of the model and of the pairs it came from.
use crate::data::parse_jsonl;
use crate::model::score::PairTokens;
use crate::model::Site;
use anyhow::{Context, Result};
use safetensors::{tensor::TensorView, Dtype, SafeTensors};
use std::collections::HashMap;
use std::path::{Path, PathBuf};

#[derive(clap::Args, Debug)]
pub struct VectorArgs {
    /// Polarity pairs (JSONL: prompt, positive, negative).
    #[arg(long)]
    pub pairs: PathBuf,
    #[arg(long)]
    pub layer: usize,
    #[arg(long, default_value = "residual")]
    pub site: Site,
    /// Output file: `.safetensors`, or `.gguf` for a llama.cpp / repeng control vector
    /// (residual site only; `llama-cli --control-vector FILE` applies it at the same layer).
    #[arg(long)]
    pub out: PathBuf,
}

pub fn run(args: VectorArgs, model_path: &Path, json: bool) -> Result<()> {
    let text = std::fs::read_to_string(&args.pairs).with_context(|| format!("reading {}", args.pairs.display()))?;
    let pairs = parse_jsonl(&text).with_context(|| format!("in {}", args.pairs.display()))?;
    let model = super::load_model(model_path)?;
    model.llama.config.check_layer(args.layer)?;
    let tokens = pairs.iter().map(|p| PairTokens::new(&model, p)).collect::<crate::Result<Vec<_>>>()?;
    let pb = super::progress_bar(tokens.len() as u64, "diffmean");
    let dm = crate::steer::diffmean::fit(&model.llama, &tokens, args.layer, args.site, |i, _| pb.set_position(i as u64))?;
    pb.finish_and_clear();
    let meta = HashMap::from([
        ("format".to_string(), "steerscope-vector".to_string()),
        ("method".into(), "diffmean".into()),
        ("site".into(), args.site.name().into()),
        ("layer".into(), args.layer.to_string()),
        ("model_sha256".into(), super::fetch::sha256_file(model_path)?),
        ("pairs_sha256".into(), super::fetch::sha256_file(&args.pairs)?),
        ("mean_activation_norm".into(), dm.mean_activation_norm.to_string()),
    ]);
    if args.out.extension().is_some_and(|e| e == "gguf") {
        write_control_vector(&args.out, args.site, args.layer, &dm.vector, &meta)?;
    } else {
        write_vector(&args.out, &dm.vector, meta)?;
    }
    let summary = serde_json::json!({"out": args.out, "layer": args.layer, "site": args.site, "norm": dm.norm,
        "mean_activation_norm": dm.mean_activation_norm, "pairs": pairs.len()});
    if json { println!("{summary}") } else { println!("wrote {}: |v| = {:.3} (mean activation norm {:.1})", args.out.display(), dm.norm, dm.mean_activation_norm) }
    Ok(())
}

pub fn write_vector(path: &Path, v: &[f32], meta: HashMap<String, String>) -> Result<()> {
    let bytes: Vec<u8> = v.iter().flat_map(|x| x.to_le_bytes()).collect();
    let view = TensorView::new(Dtype::F32, vec![v.len()], &bytes)?;
    safetensors::serialize_to_file([("vector", view)], Some(meta), path)?;
    Ok(())
}

/// A llama.cpp control-vector GGUF holding `v` at `layer`, with our self-describing metadata.
fn write_control_vector(path: &Path, site: Site, layer: usize, v: &[f32], meta: &HashMap<String, String>) -> Result<()> {
    use crate::steer::control_vector::{ControlVector, Meta, LAYER_NUMBERING};
    anyhow::ensure!(site == Site::Residual, "llama.cpp control vectors act on the residual stream; site `{site}` cannot be exported as one");
    let cv = ControlVector {
        directions: vec![(layer, v.to_vec())],
        meta: Meta {
            model_hint: Some("llama".into()),
            operation: Some("add".into()),
            site: Some(site.name().into()),
            layer_numbering: Some(LAYER_NUMBERING.into()),
            norm: Some(crate::steer::vector::norm(v)),
            sign_rule: Some("positive strength moves toward the positive completions".into()),
            method: meta.get("method").cloned(),
            model_sha256: meta.get("model_sha256").cloned(),
            dataset_sha256: meta.get("pairs_sha256").cloned(),
            extra: Vec::new(),
        },
    };
    std::fs::write(path, cv.to_gguf_bytes()?).with_context(|| format!("writing {}", path.display()))?;
    Ok(())
}

/// The `vector` tensor of a steerscope vector file.
pub fn read_vector(path: &Path) -> Result<Vec<f32>> {
    let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    let st = SafeTensors::deserialize(&bytes).with_context(|| format!("{} is not a safetensors file", path.display()))?;
    let t = st.tensor("vector").with_context(|| format!("{} has no tensor named `vector`", path.display()))?;
    anyhow::ensure!(t.dtype() == Dtype::F32 && t.shape().len() == 1, "{}: `vector` must be a 1-D f32 tensor", path.display());
    Ok(t.data().chunks_exact(4).map(|c| f32::from_le_bytes(c.try_into().unwrap())).collect())
}
