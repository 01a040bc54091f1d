//! `steerscope sweep`: fit activation-addition vectors on train pairs, then sweep strengths on
//! held-out pairs → JSON + an SVG plot (preference, utility and off-manifold score vs strength,
//! and the preference–utility frontier; one line per method).
//!
//! Strength unit: [`crate::steer::vector::STRENGTH_UNIT`] (10 = half the layer's mean
//! hidden-state norm), the same as on the page.
use super::plot::{panels, Line};
use crate::analysis::sweep::{fit_curves, sweep, Curves, Prepared, Sweep};
use crate::data::parse_jsonl;
use crate::model::score::PairTokens;
use crate::model::{Model, Site};
use crate::steer::diffmean::{fit_method, Method};
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
    #[arg(long, default_value = "residual")]
    pub site: Site,
    /// Methods, comma-separated: diffmean, pca.
    #[arg(long, value_delimiter = ',', default_value = "diffmean,pca")]
    pub method: Vec<String>,
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

fn method(name: &str) -> Result<Method> {
    match name {
        "diffmean" => Ok(Method::DiffMean),
        "pca" => Ok(Method::Pca),
        other => anyhow::bail!("unknown method `{other}` (expected diffmean or pca)"),
    }
}

fn pairs(model: &Model, path: &Path, max: Option<usize>) -> Result<Vec<PairTokens>> {
    let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let pairs = parse_jsonl(&text).with_context(|| format!("in {}", path.display()))?;
    let n = max.unwrap_or(pairs.len()).min(pairs.len());
    Ok(pairs[..n].iter().map(|p| PairTokens::new(model, p)).collect::<crate::Result<_>>()?)
}

/// One method at one layer: its vector, and the sweep on the train and the held-out pairs.
struct Run {
    method: Method,
    raw_norm: f32,
    mean_activation_norm: f32,
    train: Sweep,
    test: Sweep,
    curves: Curves,
}

pub fn run(args: SweepArgs, model_path: &Path, json: bool) -> Result<()> {
    let methods = args.method.iter().map(|m| method(m)).collect::<Result<Vec<_>>>()?;
    let model = super::load_model(model_path)?;
    let llama = &model.llama;
    for &l in &args.layer {
        llama.config.check_layer(l)?;
    }
    let (train, test) = (pairs(&model, &args.train, args.max_pairs)?, pairs(&model, &args.test, args.max_pairs)?);
    let mut runs = Vec::new();
    for &layer in &args.layer {
        let prepare = |p: &[PairTokens], what: &str| -> Result<Prepared> {
            let pb = super::progress_bar(p.len() as u64, &format!("{what} < {layer}"));
            let prepared = Prepared::new(llama, p, layer, |i, _| pb.set_position(i as u64))?;
            pb.finish_and_clear();
            Ok(prepared)
        };
        let (prep_train, prep_test) = (prepare(&train, "train")?, prepare(&test, "test")?);
        for &m in &methods {
            let pb = super::progress_bar(train.len() as u64, &format!("fit {m:?}"));
            let fitted = fit_method(llama, &train, m, layer, args.site, |i, _| pb.set_position(i as u64))?;
            pb.finish_and_clear();
            let v = crate::steer::vector::in_strength_units(&fitted.vector, fitted.mean_activation_norm);
            let pb = super::progress_bar(2 * args.strengths.len() as u64, &format!("sweep {m:?} @{layer}"));
            let train_sweep = sweep(llama, &prep_train, args.site, &v, &args.strengths, |i, _| pb.set_position(i as u64))?;
            let n = args.strengths.len() as u64;
            let test_sweep = sweep(llama, &prep_test, args.site, &v, &args.strengths, |i, _| pb.set_position(n + i as u64))?;
            pb.finish_and_clear();
            let curves = fit_curves(&train_sweep, &test_sweep);
            runs.push(Run { method: m, raw_norm: fitted.norm, mean_activation_norm: fitted.mean_activation_norm, train: train_sweep, test: test_sweep, curves });
        }
    }
    std::fs::create_dir_all(&args.out)?;
    let results: Vec<_> = runs
        .iter()
        .map(|r| serde_json::json!({"method": r.method, "layer": r.test.layer, "raw_vector_norm": r.raw_norm,
            "mean_activation_norm": r.mean_activation_norm, "heldout": r.test, "train": r.train, "curves": r.curves}))
        .collect();
    let report = serde_json::json!({"site": args.site, "train": args.train, "test": args.test,
        "n_train_pairs": train.len(), "n_test_pairs": test.len(),
        "strength_unit": "10 = half the layer's mean hidden-state norm", "results": results});
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

fn print_run(r: &Run) {
    let s = &r.test;
    println!("{:?} at layer {} ({}), held-out pairs:", r.method, s.layer, s.site);
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
fn plot(runs: &[Run]) -> Result<String> {
    let lines = |f: &dyn Fn(&crate::analysis::sweep::SweepPoint) -> Option<(f32, f32)>| -> Vec<Line> {
        runs.iter()
            .map(|r| Line { name: format!("{:?} @{}", r.method, r.test.layer), points: r.test.points.iter().filter_map(f).collect() })
            .collect()
    };
    panels(&[
        ("preference", "strength", "log-odds", lines(&|p| Some((p.point.strength, p.point.pref_odds)))),
        ("utility", "strength", "log-odds", lines(&|p| p.point.util_odds.map(|u| (p.point.strength, u)))),
        ("off-manifold score", "strength", "distance (× unsteered)", lines(&|p| Some((p.point.strength, p.off_manifold)))),
        ("frontier", "preference log-odds", "utility log-odds", lines(&|p| p.point.util_odds.map(|u| (p.point.pref_odds, u)))),
    ])
}
