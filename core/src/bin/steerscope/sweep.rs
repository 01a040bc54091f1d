//! `steerscope sweep`: fit or train methods on train pairs (or take update files), then sweep
//! strengths on the train and held-out pairs → JSON + an SVG plot (preference, utility and
//! off-manifold score vs strength, and the preference–utility frontier; one line per method).
//!
//! All the science is [`steerscope::analysis::session::SweepSession`]; this file reads files,
//! shows progress bars and writes reports.
use crate::plot::{panels, Line};
use crate::FormatArgs;
use anyhow::{Context, Result};
use std::path::{Path, PathBuf};
use steerscope::analysis::baseline::{prompting, Prompting};
use steerscope::analysis::fluency::{fluency, Fluency};
use steerscope::analysis::session::{Direction, Split, Steered, SweepSession};
use steerscope::analysis::sweep::{Curves, Sweep, SweepPoint};
use steerscope::data::{parse_jsonl, Pair};
use steerscope::model::chat::PromptFormat;
use steerscope::model::generate::{generate, Sampling};
use steerscope::model::score::PairTokens;
use steerscope::model::sites::Positions;
use steerscope::model::{Model, Site};
use steerscope::steer::methods::Method;

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
    /// System prompt of the prompting baseline (default: the concept's `instruction` in the
    /// index.json beside --train, else one built from the first example answer).
    #[arg(long)]
    pub instruction: Option<String>,
    /// Training epochs for the trained methods.
    #[arg(long, default_value_t = 1)]
    pub epochs: usize,
    /// Update files (from `train` or `vector`) to sweep too, each at its own site and layer.
    #[arg(long)]
    pub update: Vec<PathBuf>,
    /// Strengths, comma-separated (10 = half the layer's mean hidden-state norm). The curve model
    /// has 9 parameters: give well over 9 for a meaningful fit.
    #[arg(
        long,
        value_delimiter = ',',
        allow_hyphen_values = true,
        default_value = "-10,-8,-6,-4,-2,-1,0,1,2,4,6,8,10"
    )]
    pub strengths: Vec<f32>,
    /// Use at most this many pairs of each file.
    #[arg(long)]
    pub max_pairs: Option<usize>,
    #[command(flatten)]
    pub format: FormatArgs,
    /// Also write every pair's numbers at every strength (JSON lines: method, layer, site, split,
    /// strength, pair index, L_p and L_n sums and token counts, preference, utility).
    #[arg(long)]
    pub per_pair: Option<PathBuf>,
    /// Output directory (sweep.json, sweep.svg).
    #[arg(long, default_value = "sweep-out")]
    pub out: PathBuf,
    /// Where the pairs are scored: cpu; gpu (in builds with the `gpu` feature); auto (times one
    /// pair on both and keeps the faster). Fitting and training run on the CPU. The choice goes
    /// to stderr and sweep.json.
    #[arg(long, value_enum, default_value_t = crate::backend::Backend::Cpu)]
    pub backend: crate::backend::Backend,
}

/// Reads a JSONL pairs file, keeping at most `max` pairs.
pub fn read_pairs(path: &Path, max: Option<usize>) -> Result<Vec<Pair>> {
    let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let parsed = parse_jsonl(&text).with_context(|| format!("in {}", path.display()))?;
    if let Some(note) = parsed.note() {
        eprintln!("note: {}: {note}", path.display());
    }
    let mut pairs = parsed.pairs;
    pairs.truncate(max.unwrap_or(pairs.len()));
    Ok(pairs)
}

/// Pairs as token ids in `format`.
pub fn tokens(model: &Model, pairs: &[Pair], format: &PromptFormat) -> Result<Vec<PairTokens>> {
    pairs.iter().map(|p| Ok(PairTokens::new(model, p, format)?)).collect()
}

/// The prompting baseline's system prompt: the concept's `instruction` from the `index.json`
/// beside the pairs file, else an example-based one (the first positive completion as a model answer).
pub fn instruction_for(train: &Path, first: &Pair) -> String {
    let from_index = || -> Option<String> {
        let text = std::fs::read_to_string(train.parent()?.join("index.json")).ok()?;
        let name = train.file_name()?.to_str()?;
        steerscope::data::concepts::parse_index(&text).ok()?.into_iter().find(|c| c.train == name)?.instruction
    };
    from_index().unwrap_or_else(|| first.example_instruction())
}

/// A progress callback that drives a bar on stderr.
pub fn bar(pb: &indicatif::ProgressBar) -> impl FnMut(usize, usize) + '_ {
    |done, total| {
        pb.set_length(total as u64);
        pb.set_position(done as u64);
    }
}

/// One update swept on the train and the held-out pairs.
pub struct Run {
    /// e.g. `diffmean`, `lora-split`.
    pub steered: Steered,
    pub train: Sweep,
    pub test: Sweep,
    pub curves: Curves,
    /// The curves fitted on the held-out points instead: what the page shows, having only those.
    pub heldout_curves: Curves,
    /// Greedy text for one held-out prompt at each strength, with its fluency proxies.
    pub texts: Vec<TextPoint>,
}

#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct TextPoint {
    pub strength: f32,
    pub text: String,
    #[serde(flatten)]
    pub fluency: Fluency,
}

/// Tokens generated per sweep point for the fluency proxies.
const FLUENCY_TOKENS: usize = 32;

impl Run {
    /// Sweeps the session's `direction` on both splits, fits the curves on the train points,
    /// and generates from `probe` (formatted prompt ids) at each strength.
    pub fn measure(
        model: &Model, session: &mut SweepSession, direction: Direction, strengths: &[f32], probe: &[u32],
    ) -> Result<Self> {
        let llama = &model.llama;
        let steered = session.steered().context("nothing to sweep")?.clone();
        let name = match direction {
            Direction::Update => steered.name.clone(),
            Direction::Random => "random".into(),
        };
        let pb = crate::progress_bar(0, &format!("sweep {name} @{}", session.layer()));
        let train = session.sweep(llama, Split::Train, direction, strengths, bar(&pb))?;
        let test = session.sweep(llama, Split::Test, direction, strengths, bar(&pb))?;
        pb.finish_and_clear();
        let curves = curves_of(&train, &test);
        let heldout_curves = steerscope::analysis::sweep::fit_curves_heldout(&train, &test);
        let texts = strengths
            .iter()
            .map(|&m| {
                let g = generate(
                    model,
                    probe,
                    FLUENCY_TOKENS,
                    Sampling::GREEDY,
                    &session.steering(llama, direction, m)?,
                    |_| {},
                )?;
                Ok(TextPoint { strength: m, fluency: fluency(&g.ids, &g.text), text: g.text })
            })
            .collect::<Result<Vec<_>>>()?;
        let steered = Steered { name, ..steered };
        Ok(Run { steered, train, test, curves, heldout_curves, texts })
    }

    pub fn name(&self) -> &str {
        &self.steered.name
    }

    pub fn json(&self) -> serde_json::Value {
        let s = &self.steered;
        serde_json::json!({"method": s.name, "layer": self.test.layer, "site": s.site, "scale": s.scale,
            "positions": {"read": s.reads, "steered": s.positions.name()},
            "heldout": self.test, "train": self.train, "curves": self.curves,
            "heldout_curves": self.heldout_curves, "texts": self.texts})
    }
}

/// The curves of a direction fitted on its train sweep, R² on both.
fn curves_of(train: &Sweep, test: &Sweep) -> Curves {
    steerscope::analysis::sweep::fit_curves(train, test)
}

/// The prompting baseline on the held-out pairs, or why it is unavailable.
pub fn prompting_baseline(
    model: &Model, pairs: &[Pair], format: &PromptFormat, instruction: &str,
) -> Result<Prompting, String> {
    let pb = crate::progress_bar(pairs.len() as u64, "prompting");
    let p = prompting(model, pairs, format, instruction, bar(&pb)).map_err(|e| e.to_string());
    pb.finish_and_clear();
    p
}

/// The prompting baseline as JSON: the point, or `{"unavailable": why}`.
pub fn prompting_json(p: &Result<Prompting, String>) -> serde_json::Value {
    match p {
        Ok(p) => serde_json::json!({"instruction": p.instruction, "point": p.point}),
        Err(e) => serde_json::json!({"unavailable": e}),
    }
}

/// Fits or trains `method` in the session, with a progress bar.
pub fn fit(
    llama: &steerscope::model::Llama, session: &mut SweepSession, method: Method, site: Site, epochs: usize,
) -> Result<()> {
    let pb = crate::progress_bar(0, &method.name());
    session.fit(llama, method, site, Positions::All, None, epochs, bar(&pb))?;
    pb.finish_and_clear();
    Ok(())
}

pub fn run(args: SweepArgs, model_path: &Path, json: bool) -> Result<()> {
    let methods =
        args.method.iter().filter(|m| !m.is_empty()).map(|m| m.parse()).collect::<steerscope::Result<Vec<Method>>>()?;
    let format = args.format.prompt_format()?;
    crate::check_strengths(&args.strengths)?;
    let mut paths: Vec<PathBuf> = Vec::new();
    for p in &args.update {
        if !paths.contains(p) {
            paths.push(p.clone()); // the same file twice is swept once
        }
    }
    let updates = paths.iter().map(|p| crate::load_update(p)).collect::<Result<Vec<_>>>()?;
    let model = crate::load_model(model_path)?;
    let llama = &model.llama;
    let mut layers = args.layer.clone();
    for u in &updates {
        if !layers.contains(&u.layer) {
            layers.push(u.layer);
        }
    }
    for &l in &layers {
        llama.config.check_layer(l)?;
    }
    for (u, p) in updates.iter().zip(&paths) {
        u.check(&llama.config).with_context(|| format!("{}", p.display()))?;
    }
    let (train_pairs, test_pairs) = (read_pairs(&args.train, args.max_pairs)?, read_pairs(&args.test, args.max_pairs)?);
    let (train, test) = (tokens(&model, &train_pairs, &format)?, tokens(&model, &test_pairs, &format)?);
    let instruction = args.instruction.clone().unwrap_or_else(|| instruction_for(&args.train, &test_pairs[0]));
    let prompting = prompting_baseline(&model, &test_pairs, &format, &instruction);
    let probe = &test[0].prompt;
    let (mut engine, mut choice) = crate::backend::pair_engine(args.backend, model_path, &model, &test[0])?;
    crate::backend::report(args.backend, &choice);
    let mut runs = Vec::new();
    for &layer in &layers {
        let mut session = SweepSession::new(llama, train.clone(), test.clone(), layer)?;
        session.score_on(engine.clone());
        let mut random = None;
        if args.layer.contains(&layer) {
            for &m in &methods {
                fit(llama, &mut session, m, args.site.unwrap_or(m.default_site()), args.epochs)?;
                runs.push(Run::measure(&model, &mut session, Direction::Update, &args.strengths, probe)?);
                if random.is_none() {
                    random = Some(Run::measure(&model, &mut session, Direction::Random, &args.strengths, probe)?);
                }
            }
        }
        for (u, path) in updates.iter().zip(&paths).filter(|(u, _)| u.layer == layer) {
            session.set_update(llama, u, &path.display().to_string())?;
            runs.push(Run::measure(&model, &mut session, Direction::Update, &args.strengths, probe)?);
            if random.is_none() {
                random = Some(Run::measure(&model, &mut session, Direction::Random, &args.strengths, probe)?);
            }
        }
        runs.extend(random);
        if let Some(why) = session.engine_lost() {
            // The session finished its points on the CPU; the next layers start there.
            choice.note = Some(format!("the GPU device was lost mid-run ({why}); the CPU finished the sweep"));
            engine = None;
        }
    }
    std::fs::create_dir_all(&args.out)?;
    let report = serde_json::json!({"train": args.train, "test": args.test,
        "n_train_pairs": train.len(), "n_test_pairs": test.len(), "format": format.describe(),
        "strength_unit": STRENGTH_UNIT_TEXT, "results": runs.iter().map(Run::json).collect::<Vec<_>>(),
        "baselines": {"prompting": prompting_json(&prompting)}, "backend": choice});
    std::fs::write(args.out.join("sweep.json"), serde_json::to_string_pretty(&report)?)?;
    std::fs::write(args.out.join("sweep.svg"), plot(&runs.iter().collect::<Vec<_>>(), prompting.as_ref().ok())?)?;
    if let Some(path) = &args.per_pair {
        std::fs::write(path, per_pair_lines(&runs)).with_context(|| format!("writing {}", path.display()))?;
    }
    if json {
        println!("{report}");
    } else {
        runs.iter().for_each(print_run);
        match &prompting {
            Ok(p) => println!(
                "prompting baseline (system prompt \"{}\"): pref {:.3}, util {}",
                p.instruction,
                p.point.pref_odds,
                p.point.util_odds.map_or("undefined".into(), |u| format!("{u:.3}"))
            ),
            Err(e) => println!("{e}"),
        }
        println!("wrote {}/sweep.json and sweep.svg", args.out.display());
    }
    Ok(())
}

/// Every pair's numbers of every run, split and strength, one JSON object per line.
fn per_pair_lines(runs: &[Run]) -> String {
    let mut out = String::new();
    for r in runs {
        for (split, sweep) in [("train", &r.train), ("heldout", &r.test)] {
            for p in &sweep.points {
                for row in steerscope::analysis::point::pair_rows(p.point.strength, &p.pairs) {
                    let mut j = serde_json::json!({"method": r.name(), "layer": sweep.layer, "site": sweep.site, "split": split});
                    if let (Some(o), serde_json::Value::Object(extra)) = (j.as_object_mut(), serde_json::json!(row)) {
                        o.extend(extra);
                    }
                    out += &j.to_string();
                    out.push('\n');
                }
            }
        }
    }
    out
}

/// What strength means, for every report.
pub const STRENGTH_UNIT_TEXT: &str = "10 = an update whose mean |Δh| is half the layer's mean residual-stream norm";

fn opt(x: Option<f32>, digits: usize) -> String {
    x.map_or("–".into(), |v| format!("{v:.digits$}"))
}

fn print_run(r: &Run) {
    let s = &r.test;
    println!(
        "{} at layer {} ({}), held-out pairs; strength 1 = ×{:.3} of the update as found:",
        r.name(),
        s.layer,
        s.site,
        r.steered.scale.to_strength_units()
    );
    println!(
        "  {:>8} {:>10} {:>10} {:>12} {:>10} {:>11}",
        "strength", "pref", "util", "off-manifold", "distinct-2", "compression"
    );
    for (p, t) in s.points.iter().zip(&r.texts) {
        let util = p.point.util_odds.map_or("undefined".into(), |u| format!("{u:.3}"));
        println!(
            "  {:>8.2} {:>10.3} {:>10} {:>12} {:>10} {:>11.3}",
            p.point.strength,
            p.point.pref_odds,
            util,
            opt(p.off_manifold, 3),
            opt(t.fluency.distinct_2, 3),
            t.fluency.compression_ratio
        );
    }
    let r2 = |x: [Option<f32>; 2]| x.map(|v| opt(v, 3));
    let [pt, ph] = r2(r.curves.preference_r2);
    let [ut, uh] = r2(r.curves.utility_r2);
    println!("  curve model R² (train / held-out): preference {pt} / {ph}, utility {ut} / {uh}");
    println!("  off-manifold reference: {} principal directions", s.manifold_rank);
    if let Some(c) = s.manifold_vs_utility_drop {
        println!("  Spearman(off-manifold score, utility drop) = {c:.3}");
    }
}

/// Held-out sweeps, one line per (method, layer), the random direction among them, with the 95%
/// bootstrap interval over pairs as a bar at each point; the prompting baseline as a flat line
/// (it has no strength).
pub fn plot(runs: &[&Run], prompting: Option<&Prompting>) -> Result<String> {
    type Interval = Option<steerscope::math::bootstrap::Interval>;
    let lines = |f: &dyn Fn(&SweepPoint) -> Option<(f32, f32)>, ci: &dyn Fn(&SweepPoint) -> Interval| -> Vec<Line> {
        runs.iter()
            .map(|r| {
                let shown: Vec<&SweepPoint> = r.test.points.iter().filter(|p| f(p).is_some()).collect();
                Line {
                    name: format!("{} @{}", r.name(), r.test.layer),
                    points: shown.iter().filter_map(|p| f(p)).collect(),
                    intervals: shown.iter().map(|p| ci(p).map(|i| (i.lo, i.hi))).collect(),
                }
            })
            .collect()
    };
    let none = |_: &SweepPoint| None;
    let span = runs
        .iter()
        .flat_map(|r| r.test.points.iter().map(|p| p.point.strength))
        .fold((f32::MAX, f32::MIN), |(a, b), m| (a.min(m), b.max(m)));
    let flat = |y: Option<f32>| -> Vec<Line> {
        y.into_iter().map(|y| Line::plain("prompting".into(), vec![(span.0, y), (span.1, y)])).collect()
    };
    let with = |mut l: Vec<Line>, extra: Vec<Line>| {
        l.extend(extra);
        l
    };
    let prompting = prompting.map(|p| &p.point);
    panels(&[
        (
            "preference",
            "strength",
            "log-odds (95% CI over pairs)",
            with(
                lines(&|p| Some((p.point.strength, p.point.pref_odds)), &|p| p.point.pref_odds_ci),
                flat(prompting.map(|p| p.pref_odds)),
            ),
        ),
        (
            "utility",
            "strength",
            "log-odds (95% CI over pairs)",
            with(
                lines(&|p| p.point.util_odds.map(|u| (p.point.strength, u)), &|p| p.point.util_odds_ci),
                flat(prompting.and_then(|p| p.util_odds)),
            ),
        ),
        (
            "off-manifold score",
            "strength",
            "distance (× unsteered)",
            lines(&|p| Some((p.point.strength, p.off_manifold?)), &none),
        ),
        (
            "frontier",
            "preference log-odds",
            "utility log-odds",
            lines(&|p| p.point.util_odds.map(|u| (p.point.pref_odds, u)), &none),
        ),
    ])
}
