//! Experiments as data: a sweep is a list of [`TrainConfig`]s, every result carries its config,
//! and the summary table is computed from results alone.
//!
//! The sweep (issue 5): for L ∈ {2, 3} and growing domain size k (so prompt length n grows),
//! (a) L+1 full layers; (b) L−1 full layers + k_lin ∈ {1, 4} linear layers (linear attention,
//! Mamba2, Gated DeltaNet at every n; all six linear variants with k_lin = 1 at the smallest n);
//! (c) all-linear (L+1 Gated DeltaNet layers). Widths are chosen per architecture so parameter
//! counts match (a) as closely as the width grid allows. ≥ 3 seeds each.

use alloc::collections::BTreeMap;
use alloc::string::String;
use alloc::vec;
use alloc::vec::Vec;
use core::fmt::Write;
use serde::{Deserialize, Serialize};

use super::error::{AttnError, Result};
use super::spec::{format_spec, parse_spec, MixerKind};
use super::task::TaskSpec;

/// Model hyperparameters.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ModelConfig {
    /// Layer spec, e.g. `F,L:gdn,F`.
    pub spec: String,
    /// Residual width d (≤ 128 in the experiments).
    pub d_model: usize,
    /// Heads per mixer.
    pub heads: usize,
    /// Head dim.
    pub head_dim: usize,
    /// MLP hidden width (0: no MLP).
    pub mlp_hidden: usize,
}

/// One training run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainConfig {
    /// Task.
    pub task: TaskSpec,
    /// Model.
    pub model: ModelConfig,
    /// Optimiser steps.
    pub steps: usize,
    /// Batch size.
    pub batch: usize,
    /// Peak learning rate.
    pub lr: f64,
    /// AdamW decoupled weight decay.
    pub weight_decay: f64,
    /// Seed of the initialisation and training data.
    pub seed: u64,
    /// Held-out instances for the final accuracy.
    pub eval_instances: usize,
}

/// Batches in the early-stopping window.
pub const EARLY_STOP_WINDOW: usize = 50;

impl TrainConfig {
    /// A run with the lab's defaults: batch 32, peak learning rate 3e-3, weight decay 0.01,
    /// accuracy on 500 held-out instances.
    pub fn new(task: TaskSpec, model: ModelConfig, steps: usize, seed: u64) -> Self {
        TrainConfig { task, model, steps, batch: 32, lr: 3e-3, weight_decay: 0.01, seed, eval_instances: 500 }
    }
}

/// Outcome of one training run (carries its config).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainResult {
    /// What was trained.
    pub config: TrainConfig,
    /// Prompt length.
    pub n: usize,
    /// Parameter count.
    pub params: usize,
    /// Held-out accuracy.
    pub accuracy: f64,
    /// Mean training loss (answer + intermediate targets) over the last 10% of the steps run.
    pub final_loss: f64,
    /// Optimiser steps actually run: training stops early once the answer is right on
    /// ≥ 99.5% of the last [`EARLY_STOP_WINDOW`] training batches (fresh samples every step,
    /// so this is a held-out estimate).
    #[serde(default)]
    pub steps_run: usize,
    /// Loss sampled 20 times over training.
    pub loss_curve: Vec<f32>,
}

/// Which task a run trained on; tables and plot panels are per task and L.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum TaskKind {
    /// Iterated lookup over one domain \[k\] (no query w).
    #[default]
    Lookup,
    /// The Chen–Peng–Wu composition task (with query w).
    Composition,
}

impl TaskKind {
    /// The kind of `task`.
    pub fn of(task: &TaskSpec) -> Self {
        match task {
            TaskSpec::Lookup { .. } => TaskKind::Lookup,
            TaskSpec::Composition { .. } => TaskKind::Composition,
        }
    }

    /// Heading used in reports.
    pub fn title(self) -> &'static str {
        match self {
            TaskKind::Lookup => "Iterated lookup",
            TaskKind::Composition => "Composition",
        }
    }
}

/// Which arm of the hierarchy an architecture belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Arm {
    /// (a) L+1 full layers.
    Full,
    /// (b) L−1 full + some linear layers.
    Hybrid,
    /// (c) only linear layers.
    AllLinear,
}

/// Arm of a spec for L steps.
pub fn arm_of(layers: &[MixerKind]) -> Arm {
    let full = layers.iter().filter(|k| k.is_full()).count();
    if full == layers.len() {
        Arm::Full
    } else if full == 0 {
        Arm::AllLinear
    } else {
        Arm::Hybrid
    }
}

/// A whole sweep.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ExperimentConfig {
    /// Name (`quick` or `full`).
    pub name: String,
    /// The runs, in order.
    pub runs: Vec<TrainConfig>,
}

/// Knobs of [`plan`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PlanOptions {
    /// Quick variant: L = 2 only, smallest domain, one seed, few steps — every architecture once.
    pub quick: bool,
    /// Seeds per setting.
    pub seeds: usize,
    /// Optimiser steps per run.
    pub steps: usize,
    /// Batch size.
    pub batch: usize,
    /// Width of the full-attention reference (a); others are matched to its parameter count.
    pub d_ref: usize,
    /// Domain sizes k per L (`(L, [k…])`).
    pub domains: Vec<(usize, Vec<usize>)>,
    /// Train on the iterated-lookup variant (one domain \[k\], no query w) instead of the
    /// Chen–Peng–Wu composition task.
    pub lookup: bool,
    /// Peak learning rate.
    pub lr: f64,
}

impl PlanOptions {
    /// Defaults of the full sweep (sized for ≤ 60 min on 2 cores, two runs at a time).
    ///
    /// Pilots (single `compose train` runs): with intermediate targets the full-attention
    /// reference solves lookup at k = 16 in ~660 steps (L = 2) and k = 12 in ~850 (L = 3), so
    /// 1,500 steps leave it headroom. The composition task (`lookup: false`) is harder: at L = 2,
    /// k = 4 (n = 22) `F*3` reaches 87% after 1,500 steps and 96% after 3,000.
    pub fn full() -> Self {
        PlanOptions {
            quick: false,
            seeds: 3,
            steps: 1500,
            batch: 32,
            d_ref: 48,
            domains: vec![(2, vec![4, 8, 16]), (3, vec![4, 8, 12])],
            lookup: true,
            lr: 3e-3,
        }
    }
    /// Defaults of the quick (CI) sweep.
    pub fn quick() -> Self {
        PlanOptions {
            quick: true,
            seeds: 1,
            steps: 300,
            batch: 32,
            d_ref: 32,
            domains: vec![(2, vec![3])],
            lookup: true,
            lr: 3e-3,
        }
    }
}

fn hybrid(steps: usize, lin: MixerKind, k: usize) -> Vec<MixerKind> {
    let mut v = vec![MixerKind::Softmax; steps - 1];
    v.extend(core::iter::repeat_n(lin, k));
    v
}

/// The architectures of the sweep for L steps; `all_variants` adds the remaining linear variants.
pub fn architectures(steps: usize, all_variants: bool) -> Vec<Vec<MixerKind>> {
    let mut out = vec![vec![MixerKind::Softmax; steps + 1]];
    for k in [1, 4] {
        for lin in [MixerKind::Linear, MixerKind::Mamba2, MixerKind::GatedDeltaNet] {
            out.push(hybrid(steps, lin, k));
        }
    }
    if all_variants {
        for lin in [MixerKind::RetNet, MixerKind::Gla, MixerKind::DeltaNet] {
            out.push(hybrid(steps, lin, 1));
        }
    }
    out.push(vec![MixerKind::GatedDeltaNet; steps + 1]);
    out
}

/// Parameter count of a model config on a task, without building the model.
pub fn param_count(task: &TaskSpec, m: &ModelConfig) -> Result<usize> {
    let layers = parse_spec(&m.spec)?;
    let d = m.d_model;
    let hd = m.heads * m.head_dim;
    let dense = |i: usize, o: usize, bias: bool| i * o + if bias { o } else { 0 };
    let mut p = dense(task.encoding().dim(), d, false) + d + dense(d, task.num_classes(), true);
    for k in layers {
        let heads_p = 3 * dense(d, hd, false) + dense(hd, d, false);
        let extra = match k {
            MixerKind::Softmax | MixerKind::Linear | MixerKind::RetNet => 0,
            MixerKind::Gla => dense(d, hd, true),
            MixerKind::Mamba2 => dense(d, m.heads, true) + 2 * m.heads,
            MixerKind::DeltaNet => dense(d, m.heads, true),
            MixerKind::GatedDeltaNet => 2 * dense(d, m.heads, true) + m.heads,
        };
        p += heads_p + extra + d;
        if m.mlp_hidden > 0 {
            p += dense(d, m.mlp_hidden, true) + dense(m.mlp_hidden, d, true) + d;
        }
    }
    Ok(p)
}

/// A model config of the standard shape (2 heads, head dim d/2, MLP 2d).
pub fn model_of(spec: &str, d: usize) -> ModelConfig {
    ModelConfig { spec: spec.into(), d_model: d, heads: 2, head_dim: d / 2, mlp_hidden: 2 * d }
}

/// The width (multiple of 8, 16…128) whose parameter count is closest to `target`.
pub fn matched_width(task: &TaskSpec, spec: &str, target: usize) -> Result<usize> {
    let mut best = (usize::MAX, 16);
    for d in (16..=128).step_by(8) {
        let p = param_count(task, &model_of(spec, d))?;
        let gap = p.abs_diff(target);
        if gap < best.0 {
            best = (gap, d);
        }
    }
    Ok(best.1)
}

/// The sweep as data.
pub fn plan(opts: &PlanOptions) -> Result<ExperimentConfig> {
    if opts.seeds == 0 || opts.steps == 0 || opts.batch == 0 {
        return Err(AttnError::Config("seeds, steps and batch must be positive".into()));
    }
    let mut runs = Vec::new();
    for (steps, ks) in &opts.domains {
        if *steps < 2 {
            return Err(AttnError::Config("the hybrid arm needs L ≥ 2 (L − 1 full layers)".into()));
        }
        for (ki, &k) in ks.iter().enumerate() {
            let task = TaskSpec::uniform(opts.lookup, *steps, k)?;
            // All seven mixers at the smallest setting (the cheapest one).
            let all = opts.quick || ki == 0;
            let reference = format_spec(&vec![MixerKind::Softmax; steps + 1]);
            let target = param_count(&task, &model_of(&reference, opts.d_ref))?;
            for arch in architectures(*steps, all) {
                let spec = format_spec(&arch);
                let d = if spec == reference { opts.d_ref } else { matched_width(&task, &spec, target)? };
                for seed in 0..opts.seeds as u64 {
                    runs.push(TrainConfig {
                        batch: opts.batch,
                        lr: opts.lr,
                        eval_instances: if opts.quick { 64 } else { 500 },
                        ..TrainConfig::new(task.clone(), model_of(&spec, d), opts.steps, 1000 * seed + 17)
                    });
                }
            }
        }
    }
    Ok(ExperimentConfig { name: if opts.quick { "quick".into() } else { "full".into() }, runs })
}

/// One row of the summary: an architecture at one prompt length, over seeds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SummaryRow {
    /// The task (older results files hold lookup runs only).
    #[serde(default)]
    pub task: TaskKind,
    /// L.
    pub steps: usize,
    /// Spec string.
    pub spec: String,
    /// Arm.
    pub arm: Arm,
    /// Domain size k.
    pub k: usize,
    /// Prompt length.
    pub n: usize,
    /// Width.
    pub d_model: usize,
    /// Parameters.
    pub params: usize,
    /// Mean accuracy over seeds.
    pub mean: f64,
    /// Min accuracy over seeds.
    pub min: f64,
    /// Max accuracy over seeds.
    pub max: f64,
    /// Accuracy of guessing: 1 / number of possible answers.
    #[serde(default)]
    pub chance: f64,
    /// Seeds.
    pub seeds: usize,
}

/// Results of a sweep (carry their config).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ExperimentResult {
    /// The sweep.
    pub config: ExperimentConfig,
    /// One result per run, same order.
    pub runs: Vec<TrainResult>,
    /// Aggregates.
    pub summary: Vec<SummaryRow>,
    /// Wall-clock seconds (filled in by the host, which owns the clock).
    pub seconds: f64,
    /// Runs trained at once while `seconds` was measured (0: not recorded).
    #[serde(default)]
    pub jobs: usize,
}

fn domain_k(t: &TaskSpec) -> usize {
    match t {
        TaskSpec::Composition { m, .. } => *m,
        TaskSpec::Lookup { k, .. } => *k,
    }
}

/// Aggregates results over seeds.
pub fn summarize(runs: &[TrainResult]) -> Vec<SummaryRow> {
    let mut groups: BTreeMap<(TaskKind, usize, usize, String), Vec<&TrainResult>> = BTreeMap::new();
    for r in runs {
        groups
            .entry((TaskKind::of(&r.config.task), r.config.task.steps(), r.n, r.config.model.spec.clone()))
            .or_default()
            .push(r);
    }
    let mut rows: Vec<SummaryRow> = groups
        .into_iter()
        .map(|((task, steps, n, spec), rs)| {
            let accs: Vec<f64> = rs.iter().map(|r| r.accuracy).collect();
            let layers = parse_spec(&spec).unwrap_or_default();
            SummaryRow {
                task,
                steps,
                arm: arm_of(&layers),
                spec,
                k: domain_k(&rs[0].config.task),
                n,
                d_model: rs[0].config.model.d_model,
                params: rs[0].params,
                mean: accs.iter().sum::<f64>() / accs.len() as f64,
                min: accs.iter().cloned().fold(f64::INFINITY, f64::min),
                max: accs.iter().cloned().fold(f64::NEG_INFINITY, f64::max),
                chance: 1.0 / rs[0].config.task.num_classes() as f64,
                seeds: accs.len(),
            }
        })
        .collect();
    rows.sort_by(|a, b| (a.task, a.steps, a.arm, &a.spec, a.n).cmp(&(b.task, b.steps, b.arm, &b.spec, b.n)));
    rows
}

/// The summary rows grouped by task and L (one table, one plot panel each), lookup first, L increasing.
pub fn panels(summary: &[SummaryRow]) -> Vec<((TaskKind, usize), Vec<&SummaryRow>)> {
    let mut keys: Vec<(TaskKind, usize)> = summary.iter().map(|r| (r.task, r.steps)).collect();
    keys.sort();
    keys.dedup();
    keys.into_iter().map(|key| (key, summary.iter().filter(|r| (r.task, r.steps) == key).collect())).collect()
}

/// Markdown tables (one per L): rows = architectures, columns = prompt lengths, cells =
/// mean accuracy over seeds (min–max).
pub fn markdown(summary: &[SummaryRow]) -> String {
    let mut out = String::new();
    for ((task, l), rows) in panels(summary) {
        let mut ns: Vec<usize> = rows.iter().map(|r| r.n).collect();
        ns.sort();
        ns.dedup();
        let _ = writeln!(out, "\n**{}, L = {l}** (held-out accuracy, mean over seeds [min–max])\n", task.title());
        let _ = write!(out, "| arm | spec | d | params |");
        for n in &ns {
            let _ = write!(out, " n = {n} |");
        }
        let _ = write!(out, "\n|---|---|---|---|");
        for _ in &ns {
            let _ = write!(out, "---|");
        }
        out.push('\n');
        let mut specs: Vec<(Arm, String)> = rows.iter().map(|r| (r.arm, r.spec.clone())).collect();
        specs.sort();
        specs.dedup();
        for (arm, spec) in specs {
            let first = rows.iter().find(|r| r.spec == spec).unwrap();
            let arm_s = match arm {
                Arm::Full => "(a) full",
                Arm::Hybrid => "(b) hybrid",
                Arm::AllLinear => "(c) all-linear",
            };
            let _ = write!(out, "| {arm_s} | `{spec}` | {} | {} |", first.d_model, first.params);
            for n in &ns {
                match rows.iter().find(|r| r.spec == spec && r.n == *n) {
                    Some(r) => {
                        let _ = write!(out, " {:.0}% [{:.0}–{:.0}] |", 100.0 * r.mean, 100.0 * r.min, 100.0 * r.max);
                    }
                    None => out.push_str(" – |"),
                }
            }
            out.push('\n');
        }
        let _ = write!(out, "| chance | | | |");
        for n in &ns {
            let chance = rows.iter().find(|r| r.n == *n).map_or(0.0, |r| r.chance);
            let _ = write!(out, " {:.0}% |", 100.0 * chance);
        }
        out.push('\n');
    }
    out
}

/// A plain-language reading of a summary, computed from the numbers alone (so the generated docs
/// never carry hand-typed results): per L, each arm's mean accuracy at the shortest and longest
/// prompt, and whether the expected shape — (a) ≥ 90% at every n while (b) and (c) fall at least
/// 20 points below it at the longest n — holds.
pub fn headline(summary: &[SummaryRow]) -> String {
    let mut out = String::new();
    for ((task, l), rows) in panels(summary) {
        let (n_lo, n_hi) = (rows.iter().map(|r| r.n).min().unwrap_or(0), rows.iter().map(|r| r.n).max().unwrap_or(0));
        let arm_at = |arm: Arm, n: usize| -> Option<(f64, f64, f64)> {
            let v: Vec<f64> = rows.iter().filter(|r| r.arm == arm && r.n == n).map(|r| r.mean).collect();
            if v.is_empty() {
                return None;
            }
            let lo = v.iter().cloned().fold(f64::INFINITY, f64::min);
            let hi = v.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
            Some((v.iter().sum::<f64>() / v.len() as f64, lo, hi))
        };
        let span = |a: String, b: String| if n_lo == n_hi { b } else { alloc::format!("{a} → {b}") };
        let _ = write!(
            out,
            "* **{}, L = {l}** (n = {}):",
            task.title(),
            span(alloc::format!("{n_lo}"), alloc::format!("{n_hi}"))
        );
        for (arm, name) in [(Arm::Full, "(a) full"), (Arm::Hybrid, "(b) hybrids"), (Arm::AllLinear, "(c) all-linear")] {
            let f = |x: Option<(f64, f64, f64)>| match x {
                Some((m, lo, hi)) if (hi - lo) > 1e-9 => {
                    alloc::format!("{:.0}% (range {:.0}–{:.0}%)", 100.0 * m, 100.0 * lo, 100.0 * hi)
                }
                Some((m, _, _)) => alloc::format!("{:.0}%", 100.0 * m),
                None => "–".into(),
            };
            let _ = write!(out, " {name} {};", span(f(arm_at(arm, n_lo)), f(arm_at(arm, n_hi))));
        }
        let full_min = rows.iter().filter(|r| r.arm == Arm::Full).map(|r| r.mean).fold(f64::INFINITY, f64::min);
        let full_hi = arm_at(Arm::Full, n_hi).map_or(0.0, |x| x.0);
        let other_hi = [Arm::Hybrid, Arm::AllLinear]
            .iter()
            .filter_map(|&a| arm_at(a, n_hi).map(|x| x.2))
            .fold(f64::NEG_INFINITY, f64::max);
        let verdict = if full_min >= 0.9 && other_hi <= full_hi - 0.2 {
            "the expected hierarchy **is** shown"
        } else if full_min < 0.9 {
            "the expected hierarchy is **not** shown: the full-attention reference (a) itself stays below 90% at some n"
        } else {
            "the expected hierarchy is **not** shown: some hybrid or all-linear model stays within 20 points of (a) at the longest n"
        };
        let _ = writeln!(out, " {verdict}.");
    }
    out
}
