//! `steerscope calibrate`: a layer × strength grid for one concept (DiffMean or PCA, fitted at
//! each layer) → heatmaps of held-out preference and utility, the frontier, and the
//! recommended (layer, strength) under a utility budget ([`steerscope::analysis::calibrate`]).
//! Strengths are given in the shared unit and reported also as a multiple of the vector as
//! fitted and as a fraction of the layer's mean residual norm.
use crate::plot::{heatmap, panels, Line};
use crate::sweep::{fit, pairs, prepare};
use anyhow::Result;
use std::path::{Path, PathBuf};
use steerscope::analysis::calibrate::{recommend, Cell, Recommendation};
use steerscope::analysis::sweep::sweep;
use steerscope::model::{Model, Site};
use steerscope::steer::methods::Spec;
use steerscope::steer::strength::UpdateScale;
use steerscope::steer::strength::STRENGTH_UNIT;

#[derive(clap::Args, Debug, Clone)]
pub struct CalibrateArgs {
    /// Pairs the vector is fitted on (JSONL).
    #[arg(long)]
    pub train: PathBuf,
    /// Held-out pairs the grid is measured on (JSONL).
    #[arg(long)]
    pub test: PathBuf,
    #[arg(long, value_delimiter = ',', default_value = "6,9,12,15,18,21,24")]
    pub layers: Vec<usize>,
    /// Strengths (10 = a Δh of half the layer's mean residual norm); must include 0.
    #[arg(long, value_delimiter = ',', allow_hyphen_values = true, default_value = "-6,-3,0,1,2,3,4,6")]
    pub strengths: Vec<f32>,
    /// diffmean or pca.
    #[arg(long, default_value = "diffmean")]
    pub method: String,
    /// Largest utility drop (log-odds, from the layer's unsteered utility) the recommendation may cost.
    #[arg(long, default_value_t = 0.5, allow_hyphen_values = true)]
    pub budget: f32,
    #[arg(long)]
    pub max_pairs: Option<usize>,
    #[arg(long, default_value = "calibrate-out")]
    pub out: PathBuf,
}

/// The grid and what it recommends.
pub struct Calibration {
    pub cells: Vec<Cell>,
    pub recommendation: steerscope::Result<Recommendation>,
    /// The method fitted at every layer and the utility budget the recommendation used.
    pub method: String,
    pub budget: f32,
}

impl Calibration {
    /// The grid, its units and positions, and the recommendation (or why there is none).
    pub fn json(&self) -> serde_json::Value {
        let rec = self.recommendation.as_ref().map_err(|e| e.to_string());
        serde_json::json!({"method": self.method, "budget": self.budget, "strength_unit": crate::sweep::STRENGTH_UNIT_TEXT,
            "positions": {"read": "completion-mean", "steered": "all"}, "cells": self.cells, "recommendation": rec})
    }
}

pub fn calibrate(model: &Model, args: &CalibrateArgs) -> Result<Calibration> {
    let spec: Spec = args.method.parse()?;
    anyhow::ensure!(matches!(spec, Spec::Fitted(_)), "calibrate fits diffmean or pca, not `{}`", args.method);
    anyhow::ensure!(args.strengths.contains(&0.0), "--strengths must include 0 (the unsteered reference)");
    anyhow::ensure!(
        args.budget.is_finite() && args.budget > 0.0,
        "utility budget must be a positive number of log-odds, got {}",
        args.budget
    );
    let llama = &model.llama;
    for &l in &args.layers {
        llama.config.check_layer(l)?;
    }
    let (train, test) = (pairs(model, &args.train, args.max_pairs)?, pairs(model, &args.test, args.max_pairs)?);
    let mut cells = Vec::new();
    for &layer in &args.layers {
        let (prep_train, prep_test) = (prepare(llama, &train, layer, "train")?, prepare(llama, &test, layer, "test")?);
        let edit = fit(llama, spec, &train, &prep_train, Site::Residual, 1)?;
        let (edit, scale) = UpdateScale::rescale(llama, &prep_train, Site::Residual, &edit)?;
        let unit = scale.to_strength_units();
        let pb = crate::progress_bar(args.strengths.len() as u64, &format!("layer {layer}"));
        let s = sweep(llama, &prep_test, Site::Residual, &edit, &args.strengths, |i, _| pb.set_position(i as u64))?;
        pb.finish_and_clear();
        cells.extend(s.points.iter().map(|p| Cell {
            layer,
            strength: p.point.strength,
            raw_multiple: p.point.strength * unit,
            norm_fraction: p.point.strength * STRENGTH_UNIT,
            pref_odds: p.point.pref_odds,
            util_odds: p.point.util_odds,
        }));
    }
    let recommendation = recommend(&cells, args.budget);
    Ok(Calibration { cells, recommendation, method: args.method.clone(), budget: args.budget })
}

pub fn run(args: CalibrateArgs, model_path: &Path, json: bool) -> Result<()> {
    let model = crate::load_model(model_path)?;
    let c = calibrate(&model, &args)?;
    std::fs::create_dir_all(&args.out)?;
    std::fs::write(args.out.join("calibrate.svg"), plot(&c.cells, &args.layers, &args.strengths)?)?;
    let mut report = c.json();
    report["train"] = serde_json::json!(args.train);
    report["test"] = serde_json::json!(args.test);
    std::fs::write(args.out.join("calibrate.json"), serde_json::to_string_pretty(&report)?)?;
    if json {
        println!("{report}");
    } else {
        println!("wrote {0}/calibrate.svg and {0}/calibrate.json", args.out.display());
    }
    let r = c.recommendation?;
    if !json {
        println!("{}", describe(&r, args.budget));
    }
    Ok(())
}

pub fn describe(r: &Recommendation, budget: f32) -> String {
    format!(
        "recommended: layer {}, strength {} (= {:.2} × the fitted vector, Δh = {:.2} × the mean residual norm): preference +{:.2}, utility −{:.2} (budget {budget})",
        r.cell.layer, r.cell.strength, r.cell.raw_multiple, r.cell.norm_fraction, r.pref_gain, r.util_drop
    )
}

/// Heatmaps of preference and utility (layer × strength) and the frontier, one line per layer.
pub fn plot(cells: &[Cell], layers: &[usize], strengths: &[f32]) -> Result<String> {
    let grid = |f: &dyn Fn(&Cell) -> Option<f32>| -> Vec<Vec<Option<f32>>> {
        layers
            .iter()
            .map(|&l| {
                strengths.iter().map(|&m| cells.iter().find(|c| c.layer == l && c.strength == m).and_then(f)).collect()
            })
            .collect()
    };
    let rows: Vec<String> = layers.iter().map(|l| l.to_string()).collect();
    let cols: Vec<String> = strengths.iter().map(|m| m.to_string()).collect();
    let pref = heatmap("preference log-odds", &rows, &cols, &grid(&|c| Some(c.pref_odds)))?;
    let util = heatmap("utility log-odds", &rows, &cols, &grid(&|c| c.util_odds))?;
    let frontier: Vec<Line> = layers
        .iter()
        .map(|&l| Line {
            name: format!("layer {l}"),
            points: cells
                .iter()
                .filter(|c| c.layer == l)
                .filter_map(|c| c.util_odds.map(|u| (c.pref_odds, u)))
                .collect(),
        })
        .collect();
    let front = panels(&[("frontier", "preference log-odds", "utility log-odds", frontier)])?;
    Ok(crate::plot::side_by_side(&[pref, util, front]))
}
