//! `steerscope sweep`: fit activation-addition vectors on train pairs, then sweep strengths on
//! held-out pairs → JSON + an SVG plot (preference, utility and off-manifold score vs strength,
//! and the preference–utility frontier; one line per method).
//!
//! Strength unit: [`crate::steer::vector::STRENGTH_UNIT`] — every update, vector or weights,
//! is rescaled so that strength 10 adds a `Δh` of half the layer's mean residual-stream norm
//! (the same unit as on the page), which puts all methods on one axis.
use super::plot::{panels, Line};
use super::artifact::Artifact;
use crate::analysis::sweep::{fit_curves, sweep, Curves, Prepared, Sweep, UpdateScale};
use crate::data::parse_jsonl;
use crate::model::score::PairTokens;
use crate::model::{Edit, Llama, Model, Site};
use crate::steer::methods::Spec;
use anyhow::{Context, Result};
use std::path::{Path, PathBuf};

#[derive(clap::Args, Debug)]
pub struct SweepArgs {
    /// Pairs the vectors are fitted on (JSONL).
    #[arg(long)]
    pub train: PathBuf,
    /// Held-out pairs the sweep is measured on (JSONL).
    #[arg(long)]
    pub test: PathBuf,
    /// Layers, comma-separated.
    #[arg(long, value_delimiter = ',')]
    pub layer: Vec<usize>,
    /// Default: each method's own (residual for vectors, mlp_out for LoRA / local weight).
    #[arg(long)]
    pub site: Option<Site>,
    /// Methods fitted or trained here on the train pairs, comma-separated: diffmean, pca,
    /// vector-sft, vector-split, lora-sft, lora-split, local-weight-sft, local-weight-split
    /// ("" for none).
    #[arg(long, value_delimiter = ',', default_value = "diffmean,pca")]
    pub method: Vec<String>,
    /// Training epochs for the trained methods.
    #[arg(long, default_value_t = 1)]
    pub epochs: usize,
    /// Update files (from `train` or `vector`) to sweep too, each at its own site and layer.
    #[arg(long)]
    pub update: Vec<PathBuf>,
    /// Strengths, comma-separated (10 = half the layer's mean hidden-state norm). The curve model
    /// has 9 parameters: give well over 9 for a meaningful fit.
    #[arg(long, value_delimiter = ',', allow_hyphen_values = true, default_value = "-10,-8,-6,-4,-2,-1,0,1,2,4,6,8,10")]
    pub strengths: Vec<f32>,
    /// Use at most this many pairs of each file.
    #[arg(long)]
    pub max_pairs: Option<usize>,
    /// Output directory (sweep.json, sweep.svg).
    #[arg(long, default_value = "sweep-out")]
    pub out: PathBuf,
}

pub fn pairs(model: &Model, path: &Path, max: Option<usize>) -> Result<Vec<PairTokens>> {
    let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let pairs = parse_jsonl(&text).with_context(|| format!("in {}", path.display()))?;
    let n = max.unwrap_or(pairs.len()).min(pairs.len());
    Ok(pairs[..n].iter().map(|p| PairTokens::new(model, p)).collect::<crate::Result<_>>()?)
}

/// One update swept on the train and the held-out pairs.
pub struct Run {
    /// e.g. `diffmean`, `lora-split`.
    pub name: String,
    pub scale: UpdateScale,
    pub train: Sweep,
    pub test: Sweep,
    pub curves: Curves,
}

impl Run {
    pub fn json(&self) -> serde_json::Value {
        serde_json::json!({"method": self.name, "layer": self.test.layer, "site": self.test.site, "scale": self.scale,
            "heldout": self.test, "train": self.train, "curves": self.curves})
    }
}

/// Runs `pairs` through the layers below `layer` once (with a progress bar).
pub fn prepare(llama: &Llama, pairs: &[PairTokens], layer: usize, what: &str) -> Result<Prepared> {
    let pb = super::progress_bar(pairs.len() as u64, &format!("{what} < {layer}"));
    let prepared = Prepared::new(llama, pairs, layer, |i, _| pb.set_position(i as u64))?;
    pb.finish_and_clear();
    Ok(prepared)
}

/// A method's update from the train pairs, with a progress bar.
pub fn fit(llama: &Llama, m: Spec, train: &[PairTokens], prepared: &Prepared, site: Site, epochs: usize) -> Result<Edit> {
    let pb = super::progress_bar(0, &m.name());
    let edit = m.update(llama, train, prepared, site, epochs, |i, n| {
        pb.set_length(n as u64);
        pb.set_position(i as u64);
    })?;
    pb.finish_and_clear();
    Ok(edit)
}

/// Puts `edit` in strength units (measured on the train pairs) and sweeps it on both sets.
pub fn measure(
    llama: &Llama, name: &str, site: Site, edit: &Edit, train: &Prepared, test: &Prepared, strengths: &[f32],
) -> Result<Run> {
    let scale = UpdateScale::measure(llama, train, site, edit)?;
    let edit = edit.scaled(scale.to_strength_units() as f64)?;
    let n = strengths.len() as u64;
    let pb = super::progress_bar(2 * n, &format!("sweep {name} @{}", train.layer));
    let train_sweep = sweep(llama, train, site, &edit, strengths, |i, _| pb.set_position(i as u64))?;
    let test_sweep = sweep(llama, test, site, &edit, strengths, |i, _| pb.set_position(n + i as u64))?;
    pb.finish_and_clear();
    let curves = fit_curves(&train_sweep, &test_sweep);
    Ok(Run { name: name.into(), scale, train: train_sweep, test: test_sweep, curves })
}

pub fn run(args: SweepArgs, model_path: &Path, json: bool) -> Result<()> {
    let methods = args.method.iter().filter(|m| !m.is_empty()).map(|m| m.parse()).collect::<crate::Result<Vec<Spec>>>()?;
    let updates = args.update.iter().map(|p| Artifact::load(p)).collect::<Result<Vec<_>>>()?;
    let model = super::load_model(model_path)?;
    let llama = &model.llama;
    let mut layers = args.layer.clone();
    layers.extend(updates.iter().map(|u| u.layer).filter(|l| !args.layer.contains(l)));
    for &l in &layers {
        llama.config.check_layer(l)?;
    }
    let (train, test) = (pairs(&model, &args.train, args.max_pairs)?, pairs(&model, &args.test, args.max_pairs)?);
    let mut runs = Vec::new();
    for &layer in &layers {
        let (prep_train, prep_test) = (prepare(llama, &train, layer, "train")?, prepare(llama, &test, layer, "test")?);
        if args.layer.contains(&layer) {
            for &m in &methods {
                let site = args.site.unwrap_or(m.default_site());
                let edit = fit(llama, m, &train, &prep_train, site, args.epochs)?;
                runs.push(measure(llama, &m.name(), site, &edit, &prep_train, &prep_test, &args.strengths)?);
            }
        }
        for (u, path) in updates.iter().zip(&args.update).filter(|(u, _)| u.layer == layer) {
            let name = u.name().unwrap_or_else(|| path.display().to_string());
            runs.push(measure(llama, &name, u.site, &u.edit, &prep_train, &prep_test, &args.strengths)?);
        }
    }
    std::fs::create_dir_all(&args.out)?;
    let report = serde_json::json!({"train": args.train, "test": args.test,
        "n_train_pairs": train.len(), "n_test_pairs": test.len(),
        "strength_unit": STRENGTH_UNIT_TEXT, "results": runs.iter().map(Run::json).collect::<Vec<_>>()});
    std::fs::write(args.out.join("sweep.json"), serde_json::to_string_pretty(&report)?)?;
    std::fs::write(args.out.join("sweep.svg"), plot(&runs)?)?;
    if json {
        println!("{report}");
    } else {
        runs.iter().for_each(print_run);
        println!("wrote {}/sweep.json and sweep.svg", args.out.display());
    }
    Ok(())
}

/// What strength means, for every report.
pub const STRENGTH_UNIT_TEXT: &str = "10 = an update whose mean |Δh| is half the layer's mean residual-stream norm";

fn print_run(r: &Run) {
    let s = &r.test;
    println!("{} at layer {} ({}), held-out pairs; strength 1 = ×{:.3} of the update as found:", r.name, s.layer, s.site, r.scale.to_strength_units());
    println!("  {:>8} {:>10} {:>10} {:>12}", "strength", "pref", "util", "off-manifold");
    for p in &s.points {
        let util = p.point.util_odds.map_or("undefined".into(), |u| format!("{u:.3}"));
        println!("  {:>8.2} {:>10.3} {:>10} {:>12.3}", p.point.strength, p.point.pref_odds, util, p.off_manifold);
    }
    let r2 = |x: [Option<f32>; 2]| x.map(|v| v.map_or("n/a".to_string(), |v| format!("{v:.3}")));
    let [pt, ph] = r2(r.curves.preference_r2);
    let [ut, uh] = r2(r.curves.utility_r2);
    println!("  curve model R² (train / held-out): preference {pt} / {ph}, utility {ut} / {uh}");
    if let Some(c) = s.manifold_vs_utility_drop {
        println!("  Spearman(off-manifold score, utility drop) = {c:.3}");
    }
}

/// Held-out sweeps, one line per (method, layer).
pub fn plot(runs: &[Run]) -> Result<String> {
    let lines = |f: &dyn Fn(&crate::analysis::sweep::SweepPoint) -> Option<(f32, f32)>| -> Vec<Line> {
        runs.iter()
            .map(|r| Line { name: format!("{} @{}", r.name, r.test.layer), points: r.test.points.iter().filter_map(f).collect() })
            .collect()
    };
    panels(&[
        ("preference", "strength", "log-odds", lines(&|p| Some((p.point.strength, p.point.pref_odds)))),
        ("utility", "strength", "log-odds", lines(&|p| p.point.util_odds.map(|u| (p.point.strength, u)))),
        ("off-manifold score", "strength", "distance (× unsteered)", lines(&|p| Some((p.point.strength, p.off_manifold)))),
        ("frontier", "preference log-odds", "utility log-odds", lines(&|p| p.point.util_odds.map(|u| (p.point.pref_odds, u)))),
    ])
}
