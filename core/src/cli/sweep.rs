//! `steerscope sweep`: fit activation-addition vectors on train pairs, then sweep strengths on
//! held-out pairs → JSON + an SVG plot (preference, utility and off-manifold score vs strength,
//! and the preference–utility frontier; one line per method).
//!
//! Strength unit: [`crate::steer::vector::STRENGTH_UNIT`] (10 = half the layer's mean
//! hidden-state norm), the same as on the page.
use super::plot::{panels, Line};
use crate::analysis::sweep::{sweep, Prepared, Sweep};
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
    #[arg(long)]
    pub layer: usize,
    #[arg(long, default_value = "residual")]
    pub site: Site,
    /// Methods, comma-separated: diffmean, pca.
    #[arg(long, value_delimiter = ',', default_value = "diffmean,pca")]
    pub method: Vec<String>,
    /// Strengths, comma-separated (10 = half the layer's mean hidden-state norm).
    #[arg(long, value_delimiter = ',', allow_hyphen_values = true, default_value = "-10,-7.5,-5,-2.5,0,2.5,5,7.5,10")]
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

pub fn run(args: SweepArgs, model_path: &Path, json: bool) -> Result<()> {
    let methods = args.method.iter().map(|m| method(m)).collect::<Result<Vec<_>>>()?;
    let model = super::load_model(model_path)?;
    let llama = &model.llama;
    llama.config.check_layer(args.layer)?;
    let (train, test) = (pairs(&model, &args.train, args.max_pairs)?, pairs(&model, &args.test, args.max_pairs)?);
    let pb = super::progress_bar(test.len() as u64, "layers < ℓ");
    let prepared = Prepared::new(llama, &test, args.layer, |i, _| pb.set_position(i as u64))?;
    pb.finish_and_clear();
    let mut results = Vec::new();
    for &m in &methods {
        let pb = super::progress_bar(train.len() as u64, &format!("fit {m:?}"));
        let fitted = fit_method(llama, &train, m, args.layer, args.site, |i, _| pb.set_position(i as u64))?;
        pb.finish_and_clear();
        let v = crate::steer::vector::in_strength_units(&fitted.vector, fitted.mean_activation_norm);
        let pb = super::progress_bar(args.strengths.len() as u64, &format!("sweep {m:?}"));
        let s = sweep(llama, &prepared, args.site, &v, &args.strengths, |i, _| pb.set_position(i as u64))?;
        pb.finish_and_clear();
        results.push((m, fitted.norm, fitted.mean_activation_norm, s));
    }
    std::fs::create_dir_all(&args.out)?;
    let report: Vec<_> = results
        .iter()
        .map(|(m, raw_norm, act_norm, s)| serde_json::json!({"method": m, "raw_vector_norm": raw_norm, "mean_activation_norm": act_norm, "sweep": s}))
        .collect();
    let report = serde_json::json!({"layer": args.layer, "site": args.site, "train": args.train, "test": args.test,
        "n_test_pairs": test.len(), "strength_unit": "10 = half the layer's mean hidden-state norm", "results": report});
    std::fs::write(args.out.join("sweep.json"), serde_json::to_string_pretty(&report)?)?;
    std::fs::write(args.out.join("sweep.svg"), plot(&results)?)?;
    if json {
        println!("{report}");
    } else {
        for (m, _, _, s) in &results {
            print_sweep(*m, s);
        }
        println!("wrote {}/sweep.json and sweep.svg", args.out.display());
    }
    Ok(())
}

fn print_sweep(m: Method, s: &Sweep) {
    println!("{m:?} at layer {} ({}):", s.layer, s.site);
    println!("  {:>8} {:>10} {:>10} {:>12}", "strength", "pref", "util", "off-manifold");
    for p in &s.points {
        let util = p.point.util_odds.map_or("undefined".into(), |u| format!("{u:.3}"));
        println!("  {:>8.2} {:>10.3} {:>10} {:>12.3}", p.point.strength, p.point.pref_odds, util, p.off_manifold);
    }
    let r2 = |f: &Result<crate::analysis::curve::CurveFit, String>| f.as_ref().map_or_else(|e| e.clone(), |f| format!("R² {:.3}", f.train_r2));
    println!("  curve model: preference {}, utility {}", r2(&s.preference_fit), r2(&s.utility_fit));
    if let Some(r) = s.manifold_vs_utility_drop {
        println!("  Spearman(off-manifold score, utility drop) = {r:.3}");
    }
}

fn plot(results: &[(Method, f32, f32, Sweep)]) -> Result<String> {
    let lines = |f: &dyn Fn(&crate::analysis::sweep::SweepPoint) -> Option<(f32, f32)>| -> Vec<Line> {
        results.iter().map(|(m, _, _, s)| Line { name: format!("{m:?}"), points: s.points.iter().filter_map(f).collect() }).collect()
    };
    panels(&[
        ("preference", "strength", "log-odds", lines(&|p| Some((p.point.strength, p.point.pref_odds)))),
        ("utility", "strength", "log-odds", lines(&|p| p.point.util_odds.map(|u| (p.point.strength, u)))),
        ("off-manifold score", "strength", "relative residual", lines(&|p| Some((p.point.strength, p.off_manifold)))),
        ("frontier", "preference log-odds", "utility log-odds", lines(&|p| p.point.util_odds.map(|u| (p.point.pref_odds, u)))),
    ])
}
