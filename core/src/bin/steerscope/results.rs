//! `steerscope results`: every shipped concept × every method, fitted or trained on the train
//! pairs and swept on held-out pairs → `docs/results.md` (+ one SVG per concept and the raw
//! JSON). The markdown is written from the numbers of that run only; nothing in it is typed by
//! hand, including the sentences that say what the numbers show.
//!
//! A full run takes hours on two cores, so each concept's numbers are written to
//! `OUT/results/<concept>.json` as soon as they are measured, with the settings that made them;
//! `--resume` reads those back instead of measuring again (only when model and settings match),
//! so a stopped run continues where it stopped. The markdown is always written from those files.
use crate::sweep::{
    fit, plot, prompting_baseline, prompting_json, read_pairs, tokens, Run, TextPoint, STRENGTH_UNIT_TEXT,
};
use crate::FormatArgs;
use anyhow::{Context, Result};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use steerscope::analysis::baseline::Prompting;
use steerscope::analysis::calibrate::Recommendation;
use steerscope::analysis::curve::CurveFit;
use steerscope::analysis::point::Point;
use steerscope::analysis::session::{Direction, SweepSession};
use steerscope::analysis::sweep::{Curves, Sweep};
use steerscope::data::concepts::{parse_index, Concept};
use steerscope::math::bootstrap::Interval;
use steerscope::math::stats::spearman;
use steerscope::model::Model;
use steerscope::steer::methods::Method;

#[derive(clap::Args, Debug)]
pub struct ResultsArgs {
    /// The layer every method acts at.
    #[arg(long, default_value_t = 20)]
    pub layer: usize,
    /// Train pairs used to fit or train each method.
    #[arg(long, default_value_t = 64)]
    pub train_pairs: usize,
    /// Train pairs swept for the curve model's train R².
    #[arg(long, default_value_t = 6)]
    pub sweep_train_pairs: usize,
    /// Held-out pairs swept (the shipped concepts have 104).
    #[arg(long, default_value_t = 104)]
    pub test_pairs: usize,
    #[arg(long, default_value_t = 1)]
    pub epochs: usize,
    /// Strengths: the curve model has 9 parameters, so 13 leave it 4 degrees of freedom (with
    /// 3 or more on each side of 0).
    #[arg(
        long,
        value_delimiter = ',',
        allow_hyphen_values = true,
        default_value = "-10,-8,-6,-4,-2,-1,0,1,2,4,6,8,10"
    )]
    pub strengths: Vec<f32>,
    /// Concepts (names in core/data/concepts/index.json); default: all.
    #[arg(long, value_delimiter = ',')]
    pub concepts: Vec<String>,
    /// Methods, comma-separated (default: all of them).
    #[arg(long, value_delimiter = ',')]
    pub methods: Vec<String>,
    /// Layers of the DiffMean calibration grid.
    #[arg(long, value_delimiter = ',', default_value = "6,12,18,24")]
    pub calibrate_layers: Vec<usize>,
    /// Utility drop (log-odds) allowed when reading the frontier and calibrating.
    #[arg(long, default_value_t = 0.5)]
    pub budget: f32,
    #[command(flatten)]
    pub format: FormatArgs,
    /// Directory of the concept datasets.
    #[arg(long, default_value = "core/data/concepts")]
    pub data: PathBuf,
    /// Writes OUT/results.md, OUT/results/*.svg, OUT/results/<concept>.json and
    /// OUT/results/results.json.
    #[arg(long, default_value = "docs")]
    pub out: PathBuf,
    /// Reuse each concept's OUT/results/<concept>.json when it was made with this model and
    /// these settings (a stopped run continues where it stopped).
    #[arg(long)]
    pub resume: bool,
}

impl ResultsArgs {
    /// Everything that decides a concept's numbers besides its pairs: a concept's file is reused
    /// only under the same settings.
    fn settings(&self, model_sha: &str) -> Result<serde_json::Value> {
        Ok(serde_json::json!({"model_sha256": model_sha, "layer": self.layer, "train_pairs": self.train_pairs,
            "sweep_train_pairs": self.sweep_train_pairs, "test_pairs": self.test_pairs, "epochs": self.epochs,
            "strengths": self.strengths, "methods": self.methods()?.into_iter().map(Method::name).collect::<Vec<_>>(),
            "calibrate_layers": self.calibrate_layers, "budget": self.budget,
            "format": self.format.prompt_format()?.describe()}))
    }

    fn methods(&self) -> Result<Vec<Method>> {
        if self.methods.is_empty() {
            return Ok(Method::all().to_vec());
        }
        Ok(self.methods.iter().map(|m| m.parse()).collect::<steerscope::Result<_>>()?)
    }
}

/// One swept update as a concept's file holds it (`Run::json`, plus its training time).
#[derive(serde::Deserialize)]
struct MethodResult {
    method: String,
    heldout: Sweep,
    curves: Curves,
    texts: Vec<TextPoint>,
    #[serde(default)]
    train_seconds: Option<f32>,
}

/// The prompting baseline as `prompting_json` writes it.
#[derive(serde::Deserialize)]
#[serde(untagged)]
enum PromptingResult {
    Available(Prompting),
    Unavailable { unavailable: String },
}

impl PromptingResult {
    fn available(&self) -> Option<&Prompting> {
        match self {
            PromptingResult::Available(p) => Some(p),
            PromptingResult::Unavailable { .. } => None,
        }
    }
}

#[derive(serde::Deserialize)]
struct Baselines {
    random: MethodResult,
    prompting: PromptingResult,
}

#[derive(serde::Deserialize)]
struct CalibrationResult {
    recommendation: core::result::Result<Recommendation, String>,
}

/// One concept's numbers, read from its file: what the markdown is written from.
#[derive(serde::Deserialize)]
struct ConceptResult {
    concept: String,
    description: String,
    runs: Vec<MethodResult>,
    baselines: Baselines,
    calibration: CalibrationResult,
}

/// One method's held-out sweep read as a few numbers.
struct Summary {
    name: String,
    /// Spearman(strength, preference) over the sweep.
    pref_rank: Option<f32>,
    /// Utility at 0 minus utility at the most negative / most positive strength.
    util_drop: [Option<f32>; 2],
    /// Largest preference gain over `m = 0` at `m > 0` whose utility stays within the budget.
    gain_in_budget: Option<f32>,
    /// Preference at that strength, with its 95% bootstrap interval over the held-out pairs:
    /// what comparisons between methods use.
    best: Option<(f32, Option<Interval>)>,
    train_seconds: Option<f32>,
}

/// `a` vs `b` at their best strengths within the budget, called a difference only when their
/// 95% intervals separate.
fn verdict(a: &Summary, b: &Summary) -> Option<String> {
    let ((pa, ca), (pb, cb)) = (a.best?, b.best?);
    let show = |p: f32, c: Option<Interval>| match c {
        Some(c) => format!("{p:.2} [{:.2}, {:.2}]", c.lo, c.hi),
        None => format!("{p:.2}"),
    };
    let word = match (ca, cb) {
        (Some(x), Some(y)) if x.lo > y.hi => "beats",
        (Some(x), Some(y)) if y.lo > x.hi => "is beaten by",
        (Some(_), Some(_)) => "is within noise of",
        _ => "cannot be compared (no interval) with",
    };
    Some(format!("{} {word} {} ({} vs {})", a.name, b.name, show(pa, ca), show(pb, cb)))
}

impl Summary {
    fn tradeoff_holds(&self) -> bool {
        self.pref_rank.is_some_and(|r| r >= 0.7) && self.util_drop.iter().all(|d| d.is_some_and(|d| d > 0.0))
    }
}

/// The sweep's points at the most negative strength, at 0 and at the most positive strength.
fn ends(run: &MethodResult) -> [Option<&Point>; 3] {
    let pts = || run.heldout.points.iter().map(|p| &p.point);
    [
        pts().min_by(|a, b| a.strength.total_cmp(&b.strength)),
        pts().find(|p| p.strength == 0.0),
        pts().max_by(|a, b| a.strength.total_cmp(&b.strength)),
    ]
}

/// The method pairs the paper's claims compare: SPLIT against SFT for each form, and the SPLIT
/// vector against DiffMean.
const COMPARISONS: [(&str, &str); 4] = [
    ("vector-split", "vector-sft"),
    ("lora-split", "lora-sft"),
    ("local-weight-split", "local-weight-sft"),
    ("vector-split", "diffmean"),
];

fn summarize(run: &MethodResult, budget: f32) -> Summary {
    let pts: Vec<_> = run.heldout.points.iter().map(|p| &p.point).collect();
    let (m, pref): (Vec<f32>, Vec<f32>) = pts.iter().map(|p| (p.strength, p.pref_odds)).unzip();
    let [lo, zero, hi] = ends(run);
    let u0 = zero.and_then(|z| z.util_odds);
    // The best point within budget: m = 0 itself when no m > 0 gains anything.
    let best_point = zero.map(|z| {
        pts.iter()
            .filter(|p| p.strength > 0.0 && matches!((p.util_odds, u0), (Some(u), Some(u0)) if u >= u0 - budget))
            .copied()
            .fold(z, |a, p| if p.pref_odds > a.pref_odds { p } else { a })
    });
    let gain_in_budget = zero.zip(best_point).map(|(z, b)| b.pref_odds - z.pref_odds);
    Summary {
        name: run.method.clone(),
        pref_rank: spearman(&m, &pref).ok(),
        util_drop: [lo, hi].map(|p| u0.zip(p.and_then(|p| p.util_odds)).map(|(a, b)| a - b)),
        gain_in_budget,
        best: best_point.map(|p| (p.pref_odds, p.pref_odds_ci)),
        train_seconds: run.train_seconds,
    }
}

pub fn run(args: ResultsArgs, model_path: &Path, _json: bool) -> Result<()> {
    let index =
        parse_index(&std::fs::read_to_string(args.data.join("index.json")).context("reading the concept index")?)?;
    let model = crate::load_model(model_path)?;
    model.llama.config.check_layer(args.layer)?;
    let model_sha = crate::fetch::sha256_file(model_path)?;
    let settings = args.settings(&model_sha)?;
    let dir = args.out.join("results");
    std::fs::create_dir_all(&dir)?;
    let mut json = Vec::new();
    for concept in index.iter().filter(|c| args.concepts.is_empty() || args.concepts.contains(&c.name)) {
        let file = dir.join(format!("{}.json", concept.name));
        match args.resume.then(|| kept(&file, &settings)).flatten() {
            Some(done) => {
                eprintln!("== {}: kept from {}", concept.name, file.display());
                json.push(done);
            }
            None => {
                eprintln!("== {}", concept.name);
                let mut done = run_concept(&model, &args, concept, &dir)?;
                done["settings"] = settings.clone();
                std::fs::write(&file, serde_json::to_string_pretty(&done)?)?;
                json.push(done);
            }
        }
    }
    anyhow::ensure!(!json.is_empty(), "no concept matched {:?}", args.concepts);
    std::fs::write(dir.join("results.json"), serde_json::to_string_pretty(&json)?)?;
    let results: Vec<ConceptResult> = json
        .into_iter()
        .map(serde_json::from_value)
        .collect::<Result<_, _>>()
        .context("reading a concept's results")?;
    let absent: Vec<&str> =
        index.iter().map(|c| c.name.as_str()).filter(|n| !results.iter().any(|r| r.concept == *n)).collect();
    std::fs::write(args.out.join("results.md"), markdown(&args, &model_sha, &results, &absent))?;
    println!("wrote {}/results.md, {}/*.svg, {}/*.json", args.out.display(), dir.display(), dir.display());
    Ok(())
}

/// A concept's file, when it exists and was made with `settings`.
fn kept(file: &Path, settings: &serde_json::Value) -> Option<serde_json::Value> {
    let done: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(file).ok()?).ok()?;
    (done["settings"] == *settings).then_some(done)
}

/// Fits or trains every method on the concept's train pairs, sweeps each on the held-out pairs
/// with both baselines and the calibration grid, writes its plots into `dir`, and answers its
/// numbers as JSON (a [`ConceptResult`]).
fn run_concept(model: &Model, args: &ResultsArgs, concept: &Concept, dir: &Path) -> Result<serde_json::Value> {
    let llama = &model.llama;
    let format = args.format.prompt_format()?;
    let file = |k: &str| args.data.join(if k == "train" { &concept.train } else { &concept.test });
    let train_tokens = tokens(model, &read_pairs(&file("train"), Some(args.train_pairs))?, &format)?;
    let test_pairs = read_pairs(&file("test"), Some(args.test_pairs))?;
    let test_tokens = tokens(model, &test_pairs, &format)?;
    // Fitted on every train pair; the curve model's train R² on the first few (a sweep over all
    // would cost 10× the held-out one), measured on the same update as it is.
    let mut fitting = SweepSession::new(llama, train_tokens.clone(), test_tokens.clone(), args.layer)?;
    let n_sweep = args.sweep_train_pairs.clamp(1, train_tokens.len());
    let mut sweeping = SweepSession::new(llama, train_tokens[..n_sweep].to_vec(), test_tokens.clone(), args.layer)?;
    let probe = &test_tokens[0].prompt;
    let (mut runs, mut json) = (Vec::new(), Vec::new());
    for method in args.methods()? {
        let start = std::time::Instant::now();
        fit(llama, &mut fitting, method, method.default_site(), args.epochs)?;
        let seconds = method.is_trained().then(|| start.elapsed().as_secs_f32());
        sweeping.adopt(llama, fitting.steered().expect("just fitted").clone())?;
        let run = Run::measure(model, &mut sweeping, Direction::Update, &args.strengths, probe)?;
        let mut j = run.json();
        j["train_seconds"] = seconds.into();
        json.push(j);
        runs.push(run);
    }
    // The random direction at the residual site, rescaled like a vector there.
    fit(llama, &mut fitting, Method::DiffMean, steerscope::model::Site::Residual, 1)?;
    sweeping.adopt(llama, fitting.steered().expect("just fitted").clone())?;
    let random = Run::measure(model, &mut sweeping, Direction::Random, &args.strengths, probe)?;
    let instruction =
        concept.instruction.clone().unwrap_or_else(|| crate::sweep::instruction_for(&file("train"), &test_pairs[0]));
    let prompting = prompting_baseline(model, &test_pairs, &format, &instruction);
    let calibration = crate::calibrate::calibrate(
        model,
        &crate::calibrate::CalibrateArgs {
            train: file("train"),
            test: file("test"),
            layers: args.calibrate_layers.clone(),
            strengths: args.strengths.clone(),
            method: "diffmean".into(),
            format: args.format.clone(),
            budget: args.budget,
            max_pairs: Some(args.test_pairs.min(8)),
            out: PathBuf::new(),
            backend: crate::backend::Backend::Cpu,
        },
        None,
    )?;
    let name = &concept.name;
    // The random direction's line drawn last.
    let lines: Vec<&Run> = runs.iter().chain([&random]).collect();
    std::fs::write(dir.join(format!("{name}.svg")), plot(&lines, prompting.as_ref().ok())?)?;
    std::fs::write(
        dir.join(format!("{name}-calibrate.svg")),
        crate::calibrate::plot(&calibration.cells, &args.calibrate_layers, &args.strengths)?,
    )?;
    Ok(serde_json::json!({"concept": name, "description": concept.description, "runs": json,
        "baselines": {"random": random.json(), "prompting": prompting_json(&prompting)},
        "calibration": crate::calibrate::report_json(&calibration, &format.describe())}))
}

fn num(x: Option<f32>) -> String {
    x.map_or("–".into(), |v| format!("{v:.2}"))
}

/// `absent`: the index's concepts this run left out (said in the header, so a partial run
/// reads as one).
fn markdown(args: &ResultsArgs, model_sha: &str, results: &[ConceptResult], absent: &[&str]) -> String {
    let mut md = String::new();
    let cmd = format!(
        "steerscope results --layer {} --train-pairs {} --sweep-train-pairs {} --test-pairs {} --epochs {} --strengths={} --calibrate-layers {} --budget {}",
        args.layer, args.train_pairs, args.sweep_train_pairs, args.test_pairs, args.epochs,
        args.strengths.iter().map(|s| s.to_string()).collect::<Vec<_>>().join(","),
        args.calibrate_layers.iter().map(|s| s.to_string()).collect::<Vec<_>>().join(","), args.budget
    );
    let cmd = if args.methods.is_empty() { cmd } else { format!("{cmd} --methods {}", args.methods.join(",")) };
    let _ = writeln!(md, "# Steering results on SmolLM2-135M-Instruct\n");
    let _ = writeln!(md, "Generated by `{cmd}` — do not edit by hand; rerun the command.\n");
    let _ = writeln!(md, "- model sha256 `{model_sha}`; every method acts at layer {} (vectors at the residual stream, LoRA rank 4 and local weight on the down projection, `mlp_out`).", args.layer);
    let _ = writeln!(md, "- Fitted / trained on {} train pairs per concept ({} epoch(s), SPLIT weights as in EasyEdit's configs, factors drawn per example, add + subtract examples); swept on {} held-out pairs (and {} train pairs for the curve model's train R²).", args.train_pairs, args.epochs, args.test_pairs, args.sweep_train_pairs);
    if !absent.is_empty() {
        let _ = writeln!(md, "- **Not in this run**: {} (the command above with `--resume` and without `--concepts` adds them, keeping the concepts below).", absent.join(", "));
    }
    let _ = writeln!(md, "- Strength unit: {STRENGTH_UNIT_TEXT}; every method is rescaled to it, so all share one axis and the frontier compares directions at equal intervention size.");
    let _ = writeln!(md, "- Preference = L_n − L_p, utility = log[(e^−L_p + e^−L_n)/(1 − e^−L_p − e^−L_n)] with per-token mean losses (undefined pairs left out of the mean).");
    let _ = writeln!(md, "- *Trade-off holds*: Spearman(strength, preference) ≥ 0.7 and utility below its m = 0 value at both ends. *Gain within budget*: the largest held-out preference gain over m = 0 at m > 0 whose utility drops by at most {}.\n", args.budget);
    // The table's columns name the sweep's ends, whatever strengths were asked for.
    let signed = |m: f32| format!("{m:+}").replace('-', "−");
    let all: Vec<Vec<Summary>> =
        results.iter().map(|c| c.runs.iter().map(|r| summarize(r, args.budget)).collect()).collect();
    let lo = signed(args.strengths.iter().copied().fold(f32::INFINITY, f32::min));
    let hi = signed(args.strengths.iter().copied().fold(f32::NEG_INFINITY, f32::max));
    for (c, summaries) in results.iter().zip(&all) {
        let name = &c.concept;
        let floor = summarize(&c.baselines.random, args.budget);
        let _ = writeln!(md, "## {name}\n\n{}\n\n![{name}](results/{name}.svg)\n", c.description);
        let _ = writeln!(md, "| method | pref {lo} / 0 / {hi} | util {lo} / 0 / {hi} | ρ(m, pref) | util drop at −/+ end | trade-off | gain within budget | R² pref train / held-out | R² util train / held-out | ρ(off-manifold, util drop) | distinct-2 at 0 / {hi} | compression at 0 / {hi} | train s |");
        let _ = writeln!(md, "|---|---|---|---|---|---|---|---|---|---|---|---|---|");
        for (run, s) in c.runs.iter().zip(summaries).chain([(&c.baselines.random, &floor)]) {
            let at_ends = |f: &dyn Fn(&Point) -> Option<f32>| ends(run).map(|p| num(p.and_then(f))).join(" / ");
            // † marks a fit the solver flags as degenerate (a parameter on a bound or not
            // determined by the points): its R² describes a curve that means nothing.
            let r2 = |r: [Option<f32>; 2], fit: &Result<CurveFit, String>| {
                let dagger = if fit.as_ref().is_ok_and(|f| f.degenerate.is_some()) { "†" } else { "" };
                format!("{}{dagger} / {}{dagger}", num(r[0]), num(r[1]))
            };
            let text_at = |f: &dyn Fn(&crate::sweep::TextPoint) -> Option<f32>| {
                let [_, zero, top] =
                    ends(run).map(|p| p.and_then(|p| run.texts.iter().find(|t| t.strength == p.strength)).and_then(f));
                format!("{} / {}", num(zero), num(top))
            };
            let _ = writeln!(
                md,
                "| {} | {} | {} | {} | {} / {} | {} | {} | {} | {} | {} | {} | {} | {} |",
                s.name,
                at_ends(&|p| Some(p.pref_odds)),
                at_ends(&|p| p.util_odds),
                num(s.pref_rank),
                num(s.util_drop[0]),
                num(s.util_drop[1]),
                if s.tradeoff_holds() { "yes" } else { "no" },
                num(s.gain_in_budget),
                r2(run.curves.preference_r2, &run.curves.preference),
                r2(run.curves.utility_r2, &run.curves.utility),
                num(run.heldout.manifold_vs_utility_drop),
                text_at(&|t| t.fluency.distinct_2),
                text_at(&|t| Some(t.fluency.compression_ratio)),
                s.train_seconds.map_or("–".into(), |t| format!("{t:.0}"))
            );
        }
        let flagged: Vec<String> = c
            .runs
            .iter()
            .chain([&c.baselines.random])
            .flat_map(|r| {
                [("preference", &r.curves.preference), ("utility", &r.curves.utility)].into_iter().filter_map(
                    move |(which, fit)| {
                        let why = fit.as_ref().ok()?.degenerate.as_ref()?;
                        Some(format!("{} {which} ({why})", r.method))
                    },
                )
            })
            .collect();
        if !flagged.is_empty() {
            let _ = writeln!(md, "\n† degenerate fits: {}.", flagged.join("; "));
        }
        let prompting = match &c.baselines.prompting {
            PromptingResult::Available(p) => format!(
                "Prompting baseline (no steering, system prompt \"{}\"): preference {}, utility {}.",
                p.instruction,
                num(Some(p.point.pref_odds)),
                num(p.point.util_odds)
            ),
            PromptingResult::Unavailable { unavailable } => format!("{unavailable}."),
        };
        let _ = writeln!(
            md,
            "\nBaselines: *random* is a random direction rescaled like every method (the noise floor). {prompting}\n\n{}\n",
            findings(summaries, &floor)
        );
        let rec = match &c.calibration.recommendation {
            Ok(r) => crate::calibrate::describe(r, args.budget),
            Err(e) => format!("no recommendation: {e}"),
        };
        let _ = writeln!(
            md,
            "Calibration (DiffMean, layers {:?}): {rec}.\n\n![{} calibration](results/{}-calibrate.svg)\n",
            args.calibrate_layers, name, name
        );
        if let Some(t) = c.runs.iter().find(|r| r.method == "vector-split").or(c.runs.first()) {
            let _ = writeln!(md, "Greedy text from the first held-out prompt, {} at each strength:\n", t.method);
            for tp in &t.texts {
                let _ = writeln!(md, "- {:+}: {:?}", tp.strength, tp.text);
            }
            let _ = writeln!(md);
        }
    }
    let _ = writeln!(md, "## What the numbers show\n\n{}", overall(results, &all));
    md
}

/// Sentences for one concept, from its summaries.
fn findings(s: &[Summary], floor: &Summary) -> String {
    let mut best: Vec<&Summary> = s.iter().filter(|x| x.gain_in_budget.is_some()).collect();
    best.sort_by(|a, b| b.gain_in_budget.partial_cmp(&a.gain_in_budget).unwrap_or(std::cmp::Ordering::Equal));
    let mut out = String::new();
    if let Some(b) = best.first() {
        let _ = write!(out, "Best gain within the utility budget: **{}** ({}).", b.name, num(b.gain_in_budget));
    }
    let named = |n: &str| s.iter().find(|x| x.name == n);
    for (a, b) in COMPARISONS {
        if let Some(v) = named(a).zip(named(b)).and_then(|(a, b)| verdict(a, b)) {
            let _ = write!(out, " {v}.");
        }
    }
    let above: Vec<&str> =
        s.iter().filter(|x| x.gain_in_budget > floor.gain_in_budget).map(|x| x.name.as_str()).collect();
    let _ = write!(
        out,
        " Above the random direction's gain ({}): {} of {} methods.",
        num(floor.gain_in_budget),
        above.len(),
        s.len()
    );
    let holds: Vec<&str> = s.iter().filter(|x| x.tradeoff_holds()).map(|x| x.name.as_str()).collect();
    let _ = write!(
        out,
        " Trade-off holds for {} of {} methods{}.",
        holds.len(),
        s.len(),
        if holds.is_empty() { String::new() } else { format!(" ({})", holds.join(", ")) }
    );
    out
}

/// Counts over all concepts; `all[i]` are the summaries of `results[i]`'s runs.
fn overall(results: &[ConceptResult], all: &[Vec<Summary>]) -> String {
    let holds = all.iter().flatten().filter(|s| s.tradeoff_holds()).count();
    let (mut wins, mut losses, mut ties, mut cases) = (0, 0, Vec::new(), 0);
    for (c, summaries) in results.iter().zip(all) {
        let named = |n: &str| summaries.iter().find(|x| x.name == n);
        for (a, b) in COMPARISONS {
            if let Some(v) = named(a).zip(named(b)).and_then(|(a, b)| verdict(a, b)) {
                cases += 1;
                if v.contains(" beats ") {
                    wins += 1;
                } else if v.contains(" is beaten by ") {
                    losses += 1;
                } else {
                    ties.push(format!("{} ({v})", c.concept));
                }
            }
        }
    }
    let prompt_wins: Vec<&str> = results
        .iter()
        .zip(all)
        .filter(|(c, summaries)| {
            let best = summaries.iter().filter_map(|s| s.gain_in_budget).fold(f32::MIN, f32::max);
            let unsteered = c
                .runs
                .first()
                .and_then(|r| r.heldout.points.iter().find(|p| p.point.strength == 0.0))
                .map(|p| p.point.pref_odds);
            let prompted = c.baselines.prompting.available().map(|p| p.point.pref_odds);
            unsteered.zip(prompted).is_some_and(|(u, p)| p - u > best)
        })
        .map(|(c, _)| c.concept.as_str())
        .collect();
    let mut out = format!(
        "- The prompting baseline gains more preference than the best steering method (within the budget) for {} of {} concepts{}.\n\
         - The trade-off (preference rising with strength, utility falling at both ends) holds in {holds} of {} (concept, method) sweeps.\n\
         - Within a utility-drop budget, comparing held-out preference at each method's best strength with 95% bootstrap intervals over pairs: SPLIT beats its SFT counterpart (or, for the vector, DiffMean) in {wins} of {cases} comparisons, loses in {losses}, and the intervals overlap in the other {}.\n",
        prompt_wins.len(),
        results.len(),
        if prompt_wins.is_empty() { String::new() } else { format!(" ({})", prompt_wins.join(", ")) },
        all.iter().map(Vec::len).sum::<usize>(),
        ties.len()
    );
    if !ties.is_empty() {
        let _ = writeln!(out, "- Within noise: {}.", ties.join("; "));
    }
    out
}
