//! `steerscope calibrate`: a layer × strength grid for one concept (DiffMean or PCA, fitted at
//! each layer) → heatmaps of held-out preference and utility, the frontier, and the
//! recommended (layer, strength) under a utility budget ([`steerscope::analysis::calibrate`]).
//! Strengths are given in the shared unit and reported also as a multiple of the vector as
//! fitted and as a fraction of the layer's mean residual norm.
use crate::backend::{pair_engine, Backend};
use crate::plot::{heatmap, panels, Line};
use crate::sweep::{bar, read_pairs, tokens, STRENGTH_UNIT_TEXT};
use crate::FormatArgs;
use anyhow::Result;
use std::path::{Path, PathBuf};
use std::rc::Rc;
use steerscope::analysis::calibrate::{Calibration, Cell, Recommendation};
use steerscope::model::pairs::PairEngine;
use steerscope::model::Model;
use steerscope::steer::methods::Method;

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
    #[command(flatten)]
    pub format: FormatArgs,
    /// Largest utility drop (log-odds, from the layer's unsteered utility) the recommendation may cost.
    #[arg(long, default_value_t = 0.5, allow_hyphen_values = true)]
    pub budget: f32,
    #[arg(long)]
    pub max_pairs: Option<usize>,
    #[arg(long, default_value = "calibrate-out")]
    pub out: PathBuf,
    /// Where the held-out pairs are scored: cpu; gpu (in builds with the `gpu` feature); auto
    /// (times one pair on both and keeps the faster). The choice goes to stderr and calibrate.json.
    #[arg(long, value_enum, default_value_t = Backend::Cpu)]
    pub backend: Backend,
}

/// The grid, its units, prompt format and positions, and the recommendation (or why there is none).
pub fn report_json(c: &Calibration, format: &str) -> serde_json::Value {
    let mut j = serde_json::to_value(c).expect("plain data");
    j["strength_unit"] = STRENGTH_UNIT_TEXT.into();
    j["format"] = format.into();
    j["positions"] = serde_json::json!({"read": "completion-mean", "steered": "all"});
    j
}

/// Runs the grid of `args` with a progress bar, scoring on `engine` (`None`: the CPU).
pub fn calibrate(model: &Model, args: &CalibrateArgs, engine: Option<&Rc<dyn PairEngine>>) -> Result<Calibration> {
    let method: Method = args.method.parse()?;
    crate::check_strengths(&args.strengths)?;
    let format = args.format.prompt_format()?;
    let train = tokens(model, &read_pairs(&args.train, args.max_pairs)?, &format)?;
    let test = tokens(model, &read_pairs(&args.test, args.max_pairs)?, &format)?;
    let pb = crate::progress_bar(0, "calibrate");
    let (layers, strengths) = (&args.layers, &args.strengths);
    let c = Calibration::run(&model.llama, &train, &test, method, layers, strengths, args.budget, engine, bar(&pb))?;
    pb.finish_and_clear();
    Ok(c)
}

pub fn run(args: CalibrateArgs, model_path: &Path, json: bool) -> Result<()> {
    let model = crate::load_model(model_path)?;
    let probe = tokens(&model, &read_pairs(&args.test, Some(1))?, &args.format.prompt_format()?)?.remove(0);
    let (engine, choice) = pair_engine(args.backend, model_path, &model, &probe)?;
    crate::backend::report(args.backend, &choice);
    let c = calibrate(&model, &args, engine.as_ref())?;
    std::fs::create_dir_all(&args.out)?;
    std::fs::write(args.out.join("calibrate.svg"), plot(&c.cells, &args.layers, &args.strengths)?)?;
    let mut report = report_json(&c, &args.format.prompt_format()?.describe());
    report["train"] = serde_json::json!(args.train);
    report["test"] = serde_json::json!(args.test);
    report["backend"] = serde_json::json!(choice);
    std::fs::write(args.out.join("calibrate.json"), serde_json::to_string_pretty(&report)?)?;
    if json {
        println!("{report}");
    } else {
        println!("wrote {0}/calibrate.svg and {0}/calibrate.json", args.out.display());
    }
    let r = c.recommendation.map_err(anyhow::Error::msg)?;
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
        .map(|&l| {
            let points =
                cells.iter().filter(|c| c.layer == l).filter_map(|c| c.util_odds.map(|u| (c.pref_odds, u))).collect();
            Line::plain(format!("layer {l}"), points)
        })
        .collect();
    let front = panels(&[("frontier", "preference log-odds", "utility log-odds", frontier)])?;
    Ok(crate::plot::side_by_side(&[pref, util, front]))
}
