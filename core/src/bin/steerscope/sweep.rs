//! `steerscope sweep`: fit activation-addition vectors on train pairs, then sweep strengths on
//! held-out pairs → JSON + an SVG plot (preference, utility and off-manifold score vs strength,
//! and the preference–utility frontier; one line per method).
//!
//! Strength unit: [`steerscope::steer::strength::STRENGTH_UNIT`] — every update, vector or weights,
//! is rescaled so that strength 10 adds a `Δh` of half the layer's mean residual-stream norm
//! (the same unit as on the page), which puts all methods on one axis.
use crate::artifact::Artifact;
use crate::plot::{panels, Line};
use anyhow::{Context, Result};
use std::path::{Path, PathBuf};
use steerscope::analysis::fluency::{fluency, Fluency};
use steerscope::analysis::measure::score_pairs;
use steerscope::analysis::point::{summarize, Point};
use steerscope::analysis::sweep::{fit_curves, sweep, Curves, Sweep};
use steerscope::data::{parse_jsonl, Pair};
use steerscope::model::generate::{generate, Sampling};
use steerscope::model::pairs::Prepared;
use steerscope::model::score::PairTokens;
use steerscope::model::{Edit, Intervention, Llama, Model, Site, Steering};
use steerscope::steer::methods::Spec;
use steerscope::steer::strength::{random_direction, UpdateScale};

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
    /// Output directory (sweep.json, sweep.svg).
    #[arg(long, default_value = "sweep-out")]
    pub out: PathBuf,
}

pub fn pairs(model: &Model, path: &Path, max: Option<usize>) -> Result<Vec<PairTokens>> {
    tokens(model, &read_pairs(path, max)?)
}

/// Pairs as token ids, chat-formatted with the template's default system turn.
pub fn tokens(model: &Model, pairs: &[Pair]) -> Result<Vec<PairTokens>> {
    pairs.iter().map(|p| Ok(PairTokens::new(model, p)?)).collect()
}

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

/// The baselines every sweep shows beside its methods.
pub struct Baselines {
    /// A random direction at the same site and layer, rescaled like every method: the noise
    /// floor a method has to clear.
    pub random: Run,
    /// No steering: the concept asked for in the system prompt instead (AxBench's prompting
    /// baseline), scored on the same held-out pairs.
    pub prompting: Point,
    pub instruction: String,
}

impl Baselines {
    pub fn measure(
        model: &Model, site: Site, train: &Prepared, test: &Prepared, test_pairs: &[Pair], instruction: &str,
        strengths: &[f32], probe: &[u32],
    ) -> Result<Self> {
        let llama = &model.llama;
        let random =
            measure(model, "random", site, &random_direction(&llama.config, site)?, train, test, strengths, probe)?;
        let prompted = test_pairs
            .iter()
            .map(|p| Ok(PairTokens::with_system(model, p, Some(instruction))?))
            .collect::<Result<Vec<_>>>()?;
        let pb = crate::progress_bar(prompted.len() as u64, "prompting");
        let scores = score_pairs(llama, &prompted, &Steering::none(), |i, _| pb.set_position(i as u64))?;
        pb.finish_and_clear();
        Ok(Baselines { random, prompting: summarize(0.0, &scores), instruction: instruction.into() })
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::json!({"random": self.random.json(), "prompting": {"instruction": self.instruction, "point": self.prompting}})
    }
}

/// The prompting baseline's system prompt: the concept's `instruction` from the `index.json`
/// beside the pairs file, else an example-based one (the first positive completion as a model answer).
pub fn instruction_for(train: &Path, first: &Pair) -> String {
    let from_index = || -> Option<String> {
        let index: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(train.parent()?.join("index.json")).ok()?).ok()?;
        let name = train.file_name()?.to_str()?;
        index.as_array()?.iter().find(|c| c["train"] == name)?["instruction"].as_str().map(String::from)
    };
    from_index().unwrap_or_else(|| first.example_instruction())
}

/// One update swept on the train and the held-out pairs.
pub struct Run {
    /// e.g. `diffmean`, `lora-split`.
    pub name: String,
    pub scale: UpdateScale,
    pub train: Sweep,
    pub test: Sweep,
    pub curves: Curves,
    /// Which positions the method read its signal from.
    pub reads: String,
    /// Greedy text for one held-out prompt at each strength, with its fluency proxies.
    pub texts: Vec<TextPoint>,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct TextPoint {
    pub strength: f32,
    pub text: String,
    #[serde(flatten)]
    pub fluency: Fluency,
}

/// Tokens generated per sweep point for the fluency proxies.
const FLUENCY_TOKENS: usize = 32;

impl Run {
    /// Records which positions the method read its signal from.
    pub fn reading(mut self, reads: &str) -> Self {
        self.reads = reads.into();
        self
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::json!({"method": self.name, "layer": self.test.layer, "site": self.test.site, "scale": self.scale,
            "positions": {"read": self.reads, "steered": "all"},
            "heldout": self.test, "train": self.train, "curves": self.curves, "texts": self.texts})
    }
}

/// Runs `pairs` through the layers below `layer` once (with a progress bar).
pub fn prepare(llama: &Llama, pairs: &[PairTokens], layer: usize, what: &str) -> Result<Prepared> {
    let pb = crate::progress_bar(pairs.len() as u64, &format!("{what} < {layer}"));
    let prepared = Prepared::new(llama, pairs, layer, |i, _| pb.set_position(i as u64))?;
    pb.finish_and_clear();
    Ok(prepared)
}

/// A method's update from the train pairs, with a progress bar.
pub fn fit(
    llama: &Llama, m: Spec, train: &[PairTokens], prepared: &Prepared, site: Site, epochs: usize,
) -> Result<Edit> {
    let pb = crate::progress_bar(0, &m.name());
    let edit = m.update(llama, train, prepared, site, epochs, |i, n| {
        pb.set_length(n as u64);
        pb.set_position(i as u64);
    })?;
    pb.finish_and_clear();
    Ok(edit)
}

/// Puts `edit` in strength units (measured on the train pairs), sweeps it on both sets, and
/// generates from `probe` (chat-formatted prompt ids) at each strength for the fluency proxies.
pub fn measure(
    model: &Model, name: &str, site: Site, edit: &Edit, train: &Prepared, test: &Prepared, strengths: &[f32],
    probe: &[u32],
) -> Result<Run> {
    let llama = &model.llama;
    let (edit, scale) = UpdateScale::rescale(llama, train, site, edit)?;
    let n = strengths.len() as u64;
    let pb = crate::progress_bar(2 * n, &format!("sweep {name} @{}", train.layer));
    let train_sweep = sweep(llama, train, site, &edit, strengths, |i, _| pb.set_position(i as u64))?;
    let test_sweep = sweep(llama, test, site, &edit, strengths, |i, _| pb.set_position(n + i as u64))?;
    pb.finish_and_clear();
    let curves = fit_curves(&train_sweep, &test_sweep);
    let texts = strengths
        .iter()
        .map(|&m| {
            let steering = Steering::none().with(Intervention::new(&llama.config, test.layer, site, edit.clone(), m)?);
            let g = generate(model, probe, FLUENCY_TOKENS, Sampling::GREEDY, &steering, |_| {})?;
            Ok(TextPoint { strength: m, fluency: fluency(&g.ids, &g.text), text: g.text })
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(Run { name: name.into(), scale, train: train_sweep, test: test_sweep, curves, reads: "n/a".into(), texts })
}

pub fn run(args: SweepArgs, model_path: &Path, json: bool) -> Result<()> {
    let methods =
        args.method.iter().filter(|m| !m.is_empty()).map(|m| m.parse()).collect::<steerscope::Result<Vec<Spec>>>()?;
    let updates = args.update.iter().map(|p| Artifact::load(p)).collect::<Result<Vec<_>>>()?;
    for (u, p) in updates.iter().zip(&args.update) {
        anyhow::ensure!(
            u.positions == Default::default(),
            "sweeps steer every position; {} steers only `{}`",
            p.display(),
            u.positions.name()
        );
    }
    let model = crate::load_model(model_path)?;
    let llama = &model.llama;
    let mut layers = args.layer.clone();
    layers.extend(updates.iter().map(|u| u.layer).filter(|l| !args.layer.contains(l)));
    for &l in &layers {
        llama.config.check_layer(l)?;
    }
    let (train, test_pairs) = (pairs(&model, &args.train, args.max_pairs)?, read_pairs(&args.test, args.max_pairs)?);
    let test = tokens(&model, &test_pairs)?;
    let instruction = args.instruction.clone().unwrap_or_else(|| instruction_for(&args.train, &test_pairs[0]));
    let (mut runs, mut baselines) = (Vec::new(), Vec::new());
    for &layer in &layers {
        let (prep_train, prep_test) = (prepare(llama, &train, layer, "train")?, prepare(llama, &test, layer, "test")?);
        let site = args.site.unwrap_or(Site::Residual);
        baselines.push(Baselines::measure(
            &model,
            site,
            &prep_train,
            &prep_test,
            &test_pairs,
            &instruction,
            &args.strengths,
            &test[0].prompt,
        )?);
        if args.layer.contains(&layer) {
            for &m in &methods {
                let site = args.site.unwrap_or(m.default_site());
                let edit = fit(llama, m, &train, &prep_train, site, args.epochs)?;
                runs.push(
                    measure(&model, &m.name(), site, &edit, &prep_train, &prep_test, &args.strengths, &test[0].prompt)?
                        .reading(m.reads()),
                );
            }
        }
        for (u, path) in updates.iter().zip(&args.update).filter(|(u, _)| u.layer == layer) {
            let name = u.name().unwrap_or_else(|| path.display().to_string());
            let reads = u.meta.get("read_positions").map_or("unknown", |s| s.as_str());
            runs.push(
                measure(&model, &name, u.site, &u.edit, &prep_train, &prep_test, &args.strengths, &test[0].prompt)?
                    .reading(reads),
            );
        }
    }
    std::fs::create_dir_all(&args.out)?;
    let report = serde_json::json!({"train": args.train, "test": args.test,
        "n_train_pairs": train.len(), "n_test_pairs": test.len(),
        "strength_unit": STRENGTH_UNIT_TEXT, "results": runs.iter().map(Run::json).collect::<Vec<_>>(),
        "baselines": baselines.iter().map(Baselines::json).collect::<Vec<_>>()});
    std::fs::write(args.out.join("sweep.json"), serde_json::to_string_pretty(&report)?)?;
    std::fs::write(args.out.join("sweep.svg"), plot(&runs, &baselines)?)?;
    if json {
        println!("{report}");
    } else {
        runs.iter().chain(baselines.iter().map(|b| &b.random)).for_each(print_run);
        let p = &baselines[0].prompting;
        println!(
            "prompting baseline (system prompt \"{instruction}\"): pref {:.3}, util {}",
            p.pref_odds,
            p.util_odds.map_or("undefined".into(), |u| format!("{u:.3}"))
        );
        println!("wrote {}/sweep.json and sweep.svg", args.out.display());
    }
    Ok(())
}

/// What strength means, for every report.
pub const STRENGTH_UNIT_TEXT: &str = "10 = an update whose mean |Δh| is half the layer's mean residual-stream norm";

fn print_run(r: &Run) {
    let s = &r.test;
    println!(
        "{} at layer {} ({}), held-out pairs; strength 1 = ×{:.3} of the update as found:",
        r.name,
        s.layer,
        s.site,
        r.scale.to_strength_units()
    );
    println!(
        "  {:>8} {:>10} {:>10} {:>12} {:>10} {:>11}",
        "strength", "pref", "util", "off-manifold", "distinct-2", "compression"
    );
    for (p, t) in s.points.iter().zip(&r.texts) {
        let util = p.point.util_odds.map_or("undefined".into(), |u| format!("{u:.3}"));
        let d2 = t.fluency.distinct_2.map_or("–".into(), |d| format!("{d:.3}"));
        println!(
            "  {:>8.2} {:>10.3} {:>10} {:>12.3} {:>10} {:>11.3}",
            p.point.strength, p.point.pref_odds, util, p.off_manifold, d2, t.fluency.compression_ratio
        );
    }
    let r2 = |x: [Option<f32>; 2]| x.map(|v| v.map_or("n/a".to_string(), |v| format!("{v:.3}")));
    let [pt, ph] = r2(r.curves.preference_r2);
    let [ut, uh] = r2(r.curves.utility_r2);
    println!("  curve model R² (train / held-out): preference {pt} / {ph}, utility {ut} / {uh}");
    if let Some(c) = s.manifold_vs_utility_drop {
        println!("  Spearman(off-manifold score, utility drop) = {c:.3}");
    }
}

/// Held-out sweeps, one line per (method, layer), the random direction among them; the
/// prompting baseline as a flat line (it has no strength).
pub fn plot(runs: &[Run], baselines: &[Baselines]) -> Result<String> {
    let all: Vec<&Run> = runs.iter().chain(baselines.iter().map(|b| &b.random)).collect();
    let lines = |f: &dyn Fn(&steerscope::analysis::sweep::SweepPoint) -> Option<(f32, f32)>| -> Vec<Line> {
        all.iter()
            .map(|r| Line {
                name: format!("{} @{}", r.name, r.test.layer),
                points: r.test.points.iter().filter_map(f).collect(),
            })
            .collect()
    };
    let span = all
        .iter()
        .flat_map(|r| r.test.points.iter().map(|p| p.point.strength))
        .fold((f32::MAX, f32::MIN), |(a, b), m| (a.min(m), b.max(m)));
    let flat = |y: Option<f32>| -> Vec<Line> {
        y.into_iter()
            .take(1)
            .map(|y| Line { name: "prompting".into(), points: vec![(span.0, y), (span.1, y)] })
            .collect()
    };
    let prompting = baselines.first().map(|b| &b.prompting);
    let with = |mut l: Vec<Line>, extra: Vec<Line>| {
        l.extend(extra);
        l
    };
    panels(&[
        (
            "preference",
            "strength",
            "log-odds",
            with(lines(&|p| Some((p.point.strength, p.point.pref_odds))), flat(prompting.map(|p| p.pref_odds))),
        ),
        (
            "utility",
            "strength",
            "log-odds",
            with(
                lines(&|p| p.point.util_odds.map(|u| (p.point.strength, u))),
                flat(prompting.and_then(|p| p.util_odds)),
            ),
        ),
        (
            "off-manifold score",
            "strength",
            "distance (× unsteered)",
            lines(&|p| Some((p.point.strength, p.off_manifold))),
        ),
        (
            "frontier",
            "preference log-odds",
            "utility log-odds",
            lines(&|p| p.point.util_odds.map(|u| (p.point.pref_odds, u))),
        ),
    ])
}
