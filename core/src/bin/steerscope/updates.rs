//! `steerscope ship-updates`: what the page loads for its first paint instead of computing it —
//! the trained updates it cannot afford to train live (vector / LoRA / local weight × SFT /
//! SPLIT at the page's default layer, one update file each) and the DiffMean layer × strength
//! calibration grid on the page's default pair counts, for every shipped concept.
//!
//! Layout under `--out` (default `core/data/updates/`, served by `web/serve.mjs` at
//! `/data/updates/`): `<concept>/<method>.safetensors`, `<concept>/calibration.json`, and
//! `index.json` listing every file with its size. A file already there for the same model,
//! pairs, layer and settings is kept (the command resumes where it stopped); `--force` retrains.
use crate::sweep::{bar, read_pairs, tokens};
use crate::FormatArgs;
use anyhow::{Context, Result};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use steerscope::analysis::calibrate::Calibration;
use steerscope::data::concepts::{parse_index, Concept};
use steerscope::model::pairs::Prepared;
use steerscope::model::Model;
use steerscope::steer::methods::Method;
use steerscope::steer::train::TrainSettings;

#[derive(clap::Args, Debug)]
pub struct ShipArgs {
    /// The layer the updates act at: the page's default layer.
    #[arg(long, default_value_t = 15)]
    pub layer: usize,
    /// Concepts (names in the concept index); default: all.
    #[arg(long, value_delimiter = ',')]
    pub concepts: Vec<String>,
    /// Trained methods to ship (default: vector, lora and local-weight × sft and split).
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "vector-sft,vector-split,lora-sft,lora-split,local-weight-sft,local-weight-split"
    )]
    pub methods: Vec<String>,
    /// Training epochs.
    #[arg(long, default_value_t = 1)]
    pub epochs: usize,
    /// Train pairs each update is trained on.
    #[arg(long, default_value_t = 64)]
    pub train_pairs: usize,
    /// Layers of the calibration grid.
    #[arg(long, value_delimiter = ',', default_value = "3,6,9,12,15,18,21,24,27")]
    pub calibrate_layers: Vec<usize>,
    /// Strengths of the calibration grid (must include 0): the page's sweep.
    #[arg(long, value_delimiter = ',', allow_hyphen_values = true, default_value = "-10,-5,-2.5,0,2.5,5,10")]
    pub calibrate_strengths: Vec<f32>,
    /// Train pairs the calibration fits DiffMean on: the page's default (`n_train`), so that the
    /// grid shown first is the one the page would compute.
    #[arg(long, default_value_t = 16)]
    pub calibrate_train_pairs: usize,
    /// Held-out pairs the calibration measures on: the page's default (`n_test`).
    #[arg(long, default_value_t = 8)]
    pub calibrate_test_pairs: usize,
    /// Utility budget of the calibration's recommendation (log-odds).
    #[arg(long, default_value_t = 0.5)]
    pub budget: f32,
    /// Skip the calibration grids.
    #[arg(long)]
    pub no_calibration: bool,
    /// Retrain and recompute even where a matching file exists.
    #[arg(long)]
    pub force: bool,
    #[command(flatten)]
    pub format: FormatArgs,
    /// Directory of the concept datasets.
    #[arg(long, default_value = "core/data/concepts")]
    pub data: PathBuf,
    #[arg(long, default_value = "core/data/updates")]
    pub out: PathBuf,
}

/// One shipped file, as `index.json` lists it.
#[derive(serde::Serialize, serde::Deserialize, Clone, Debug)]
struct Shipped {
    concept: String,
    /// The method's name, or `calibration`.
    what: String,
    /// Relative to the index.
    file: String,
    bytes: u64,
    /// Seconds it took to make here (training, or the calibration grid); absent when kept.
    seconds: Option<f32>,
}

pub fn run(args: ShipArgs, model_path: &Path, json: bool) -> Result<()> {
    let index =
        parse_index(&std::fs::read_to_string(args.data.join("index.json")).context("reading the concept index")?)?;
    let methods: Vec<Method> = args.methods.iter().map(|m| m.parse()).collect::<steerscope::Result<_>>()?;
    if let Some(m) = methods.iter().find(|m| !m.is_trained()) {
        anyhow::bail!("`{m}` fits in the page in one pass; ship-updates ships trained methods only");
    }
    crate::check_strengths(&args.calibrate_strengths)?;
    let model = crate::load_model(model_path)?;
    model.llama.config.check_layer(args.layer)?;
    let model_sha = crate::fetch::sha256_file(model_path)?;
    let concepts: Vec<&Concept> =
        index.iter().filter(|c| args.concepts.is_empty() || args.concepts.contains(&c.name)).collect();
    anyhow::ensure!(!concepts.is_empty(), "no concept matched {:?}", args.concepts);
    let mut shipped = Vec::new();
    for concept in concepts {
        eprintln!("== {}", concept.name);
        let dir = args.out.join(&concept.name);
        std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
        shipped.extend(ship_updates(&model, &model_sha, &args, concept, &methods, &dir)?);
        if !args.no_calibration {
            shipped.push(ship_calibration(&model, &args, concept, &dir)?);
        }
    }
    shipped.extend(kept_from_index(&args.out, args.layer, &model_sha, &shipped));
    let total: u64 = shipped.iter().map(|s| s.bytes).sum();
    let report = serde_json::json!({
        "made_by": "steerscope ship-updates",
        "layer": args.layer,
        "model_sha256": model_sha,
        "epochs": args.epochs,
        "train_pairs": args.train_pairs,
        "total_bytes": total,
        "files": shipped,
    });
    std::fs::write(args.out.join("index.json"), serde_json::to_string_pretty(&report)? + "\n")?;
    if json {
        println!("{report}");
    } else {
        for s in &shipped {
            println!("{:>10} bytes  {}/{}", s.bytes, args.out.display(), s.file);
        }
        println!("{total} bytes in all; index in {}/index.json", args.out.display());
    }
    Ok(())
}

/// Trains every method on the concept's training pairs (prepared once below the layer), unless
/// a matching file is already there.
fn ship_updates(
    model: &Model, model_sha: &str, args: &ShipArgs, concept: &Concept, methods: &[Method], dir: &Path,
) -> Result<Vec<Shipped>> {
    let format = args.format.prompt_format()?;
    let train_path = args.data.join(&concept.train);
    let pairs_sha = crate::fetch::sha256_file(&train_path)?;
    let mut prepared: Option<Prepared> = None;
    let mut out = Vec::new();
    for &method in methods {
        let Method::Trained(form, objective) = method else { unreachable!("checked: trained methods only") };
        let file = dir.join(format!("{method}.safetensors"));
        let mut settings = TrainSettings::new(form, objective, args.layer, method.default_site());
        settings.epochs = args.epochs;
        let meta = HashMap::from([
            ("model_sha256".to_string(), model_sha.to_string()),
            ("pairs_sha256".into(), pairs_sha.clone()),
            ("prompt_format".into(), format.describe()),
            ("train_pairs".into(), args.train_pairs.to_string()),
            ("concept".into(), concept.name.clone()),
        ]);
        let training = serde_json::to_string(&settings)?;
        let seconds = if !args.force && matches(&file, &meta, &training) {
            eprintln!("kept {}", file.display());
            None
        } else {
            if prepared.is_none() {
                let pairs = tokens(model, &read_pairs(&train_path, Some(args.train_pairs))?, &format)?;
                let pb = crate::progress_bar(pairs.len() as u64, &format!("prepare < {}", args.layer));
                prepared = Some(Prepared::new(&model.llama, &pairs, args.layer, |i, _| pb.set_position(i as u64))?);
                pb.finish_and_clear();
            }
            let start = std::time::Instant::now();
            let p = prepared.as_ref().expect("just prepared");
            crate::train::train(&model.llama, p, settings, meta, Some(&file))?;
            Some(start.elapsed().as_secs_f32())
        };
        out.push(shipped(concept, &method.name(), dir, &file, seconds)?);
    }
    Ok(out)
}

/// Whether `file` is an update made with this `meta` and these training settings.
fn matches(file: &Path, meta: &HashMap<String, String>, training: &str) -> bool {
    let Ok(u) = crate::load_update(file) else { return false };
    meta.iter().all(|(k, v)| u.meta.get(k) == Some(v)) && u.meta.get("training").map(String::as_str) == Some(training)
}

/// The DiffMean calibration grid on the page's default pair counts.
fn ship_calibration(model: &Model, args: &ShipArgs, concept: &Concept, dir: &Path) -> Result<Shipped> {
    let format = args.format.prompt_format()?;
    let file = dir.join("calibration.json");
    let train =
        tokens(model, &read_pairs(&args.data.join(&concept.train), Some(args.calibrate_train_pairs))?, &format)?;
    let test = tokens(model, &read_pairs(&args.data.join(&concept.test), Some(args.calibrate_test_pairs))?, &format)?;
    let pb = crate::progress_bar(0, "calibrate");
    let start = std::time::Instant::now();
    let c = Calibration::run(
        &model.llama,
        &train,
        &test,
        Method::DiffMean,
        &args.calibrate_layers,
        &args.calibrate_strengths,
        args.budget,
        None,
        bar(&pb),
    )?;
    pb.finish_and_clear();
    let seconds = start.elapsed().as_secs_f32();
    let mut report = crate::calibrate::report_json(&c, &format.describe());
    report["concept"] = concept.name.clone().into();
    report["n_train"] = train.len().into();
    report["n_test"] = test.len().into();
    report["layers"] = serde_json::json!(args.calibrate_layers);
    report["strengths"] = serde_json::json!(args.calibrate_strengths);
    std::fs::write(&file, serde_json::to_string_pretty(&report)? + "\n")?;
    shipped(concept, "calibration", dir, &file, Some(seconds))
}

/// The entries of an earlier `index.json` in `out` (same layer and model) for concepts this run
/// did not ship, whose files are still there: shipping one concept keeps the others listed.
fn kept_from_index(out: &Path, layer: usize, model_sha: &str, now: &[Shipped]) -> Vec<Shipped> {
    let Ok(text) = std::fs::read_to_string(out.join("index.json")) else { return Vec::new() };
    let Ok(old) = serde_json::from_str::<serde_json::Value>(&text) else { return Vec::new() };
    if old["layer"] != layer || old["model_sha256"] != model_sha {
        return Vec::new();
    }
    let files: Vec<Shipped> = serde_json::from_value(old["files"].clone()).unwrap_or_default();
    files.into_iter().filter(|f| !now.iter().any(|s| s.concept == f.concept) && out.join(&f.file).is_file()).collect()
}

fn shipped(concept: &Concept, what: &str, dir: &Path, file: &Path, seconds: Option<f32>) -> Result<Shipped> {
    let name = file.file_name().expect("a file").to_string_lossy();
    let rel = format!("{}/{name}", dir.file_name().expect("a directory").to_string_lossy());
    Ok(Shipped {
        concept: concept.name.clone(),
        what: what.into(),
        file: rel,
        bytes: std::fs::metadata(file)?.len(),
        seconds,
    })
}
